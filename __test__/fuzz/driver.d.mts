// Types for driver.mjs (the fuzz test's parent side), for the TypeScript spec.
import type { Call } from './plan.mjs'

export interface Failure {
  seed: number
  batch: number | string
  call: number | undefined
  api: string
  sp: string
  label: string
  cls: string
  detail: string
  text: string
  stderr: string
  alone?: boolean
}
export interface Group {
  key: string
  failures: Failure[]
}
export interface Stats {
  batches: number
  calls: number
  executed: number
  skipped: number
  runners: number
  byApi: Record<string, number>
  truncated: boolean
  elapsedMs: number
}
export interface FuzzOptions {
  seed: number
  runs?: number
  size?: number
  parallel?: number
  /** Directory for the runners' fixtures and logs (inside the test's temporary directory). */
  dir: string
  /** An alternative addon (`NAPI_RS_NATIVE_LIBRARY_PATH`). */
  nativePath?: string
  batches?: Call[][]
  budgetMs?: number
}
export declare const HANG_MS: number
export declare const STEP_BOUND_MS: number
export declare function fuzz(opts: FuzzOptions): Promise<{ failures: Failure[]; stats: Stats; batches: Call[][] }>
export declare function group(failures: Failure[]): Group[]
export declare function groupKey(f: Failure): string
export declare function confirmAlone(groups: Group[], batches: Call[][], opts: FuzzOptions, budgetMs?: number): Promise<void>
export declare function report(groups: Group[], o: { seed: number; runs?: number; size?: number; stats: Stats; what?: string }): string
export declare function describeCall(call: Call, sp: string, label?: string): string
/** Kill the runners of the fuzz run in `dir` (default: every run). */
export declare function killAll(dir?: string): void
