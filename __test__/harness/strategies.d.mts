// Types for strategies.mjs (sole's own test strategies), for the TypeScript spec.
import type { LoadedStrategy } from '../../harness/schedule.mjs'

export type StrategyName = 'sole-lock' | 'sole-pidfile' | 'broken-oexcl-reclaim' | 'broken-unlink-on-release' | 'broken-content-reader' | 'broken-lease'
export declare const NAMES: StrategyName[]
export declare const STRATEGIES: Record<StrategyName, LoadedStrategy>
