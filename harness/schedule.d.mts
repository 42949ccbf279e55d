// Types for schedule.mjs (the harness's fast-check glue), for the TypeScript spec.
import type { Arbitrary } from 'fast-check'

/** What a strategy's `meta` says (harness/strategy.mjs); every flag defaults to false. */
export interface StrategyMeta {
  shared: boolean
  /** sole's own primitives: held reads must come from the kernel, with the holder's identity. */
  real: boolean
  kernelVisible: boolean
  pidContent: boolean
  /** The target's file name in the run's directory (default `target.lock`). */
  file: string
}

/** A strategy module, loaded and checked by `loadStrategy` (harness/strategy.mjs). */
export interface LoadedStrategy {
  /** The module's file name without its extension. */
  name: string
  /** The module's `file:` URL, imported by every worker process. */
  url: string
  meta: StrategyMeta
}

export type Step =
  | { kind: 'try' | 'block'; pick: number; shared: boolean }
  | { kind: 'release'; pick: number }
  | { kind: 'kill'; pick: number; how: 'SIGKILL' | 'exit' }
  | { kind: 'read' }
  | { kind: 'await' }
  /**
   * Pidfiles: rewrite a dead owner's pid record to name a live unrelated process (issue 3).
   * `kill`: SIGKILL the waiters, then the holder, first (the owner dies, then its pid is reused).
   */
  | { kind: 'reuse'; how: 'content-only' | 'reused-pid' | 'foreign-record'; kill: boolean }
  /** Pidfiles (issue 8): a holder drops its claim object and forces GC; then it is SIGKILLed. */
  | { kind: 'gc'; pick: number }
  /**
   * Issue 16: SIGSTOP a holder for `ms` (250 ms .. MAX_PAUSE_MS) while idle workers acquire
   * (each op at `at` percent of the pause: try, or blocking when `block`) and, with `read`, the
   * reader reads at its end; then SIGCONT, and the holder re-checks its sentinel (`touch`).
   * Exposes the paused-holder race: a lease lock hands a frozen holder's lock to another.
   */
  | {
      kind: 'pause'
      pick: number
      ms: number
      ops: { at: number; block: boolean; shared: boolean }[]
      read: boolean
    }
  | {
      kind: 'race'
      pick: number
      ops: { block: boolean; shared: boolean }[]
      release: boolean
      kill: boolean
      read: boolean
    }

export interface Schedule {
  workers: number
  steps: Step[]
}

export type FailureKind = 'exclusion' | 'read' | 'liveness' | 'error' | 'anomaly' | 'crash' | 'hang' | 'harness'

export interface RunFailure {
  kind: FailureKind
  message: string
  /** The step (`tN`) during which the failure was seen. */
  atStep: number
}

export interface RunStats {
  steps: number
  acquisitions: number
  kills: number
  races: number
  reads: number
  waits: number
  /** reuse steps that really rewrote the pid record (not skipped). */
  reuses: number
  /** gc steps that dropped a claim object. */
  gcs: number
  /** pause steps that really stopped a holder (not skipped). */
  pauses: number
  anomalies: number
}

export interface RunResult {
  failure: RunFailure | null
  timeline: string[]
  stats: RunStats
  anomalies: string[]
  /** Observations that break no property but differ from the documentation. */
  notes: string[]
}

export interface CheckOptions {
  /** Wall-clock budget for generating and running schedules (ms). */
  budgetMs?: number
  /** Extra time for shrinking after the first failure (ms). */
  shrinkBudgetMs?: number
  numRuns?: number
  seed?: number
  path?: string
  /** Run the known regression schedules first. */
  examples?: boolean
  maxWorkers?: number
  maxSteps?: number
  /** Fail on tolerated anomalies too (SOLE_HARNESS_STRICT=1). */
  strict?: boolean
  /** How the report tells a reader to replay (default: the ava spec). */
  replayCommand?: string
  onRun?: (res: RunResult, soFar: CheckReport) => void
}

export interface CheckReport {
  strategy: string
  replayCommand: string
  failed: boolean
  seed: number
  path: string | null
  numShrinks: number
  /** Schedules really run (not counting those skipped once the budget was spent). */
  executed: number
  skippedForBudget: number
  firstFailure: { run: number; steps: number; kind: FailureKind; ms: number } | null
  /** The final (shrunk) failing schedule and what happened when it ran. */
  last: (RunResult & { schedule: Schedule }) | null
  stats: Partial<RunStats>
  anomalies: string[]
  notes: string[]
  ms: number
}

/** Run one schedule against `strategy` with real worker processes, and tear them all down. */
export declare function runSchedule(strategy: LoadedStrategy, schedule: Schedule, opts?: { strict?: boolean }): Promise<RunResult>
/** Longest generated pause (ms). */
export declare const MAX_PAUSE_MS: number
/** Most pause time one schedule spends (ms); later pause steps are skipped. */
export declare const MAX_PAUSED_PER_RUN_MS: number
export declare function stepArb(maxWorkers?: number, reuse?: boolean, pauseWeight?: number): Arbitrary<Step>
/** Pause weights: rare for a kernel lock (`kernel`), four times as many for any other (`other`). */
export declare const PAUSE_WEIGHT: { kernel: number; other: number }
export declare function scheduleArb(opts?: { minWorkers?: number; maxWorkers?: number; maxSteps?: number; reuse?: boolean; pauseWeight?: number }): Arbitrary<Schedule>
export declare const REGRESSIONS: Schedule[]
export declare function checkStrategy(strategy: LoadedStrategy, opts?: CheckOptions): Promise<CheckReport>
export declare function formatReport(r: CheckReport): string
export declare function replayFromEnv(strategy: string, env?: Record<string, string | undefined>): { seed?: number; path?: string }
export declare function killAllWorkers(): void
export declare const LIVENESS_MS: number
