// Types for `sole/harness` (harness/index.mjs): the strategy contract, the options and the
// report of `checkStrategy`, and the CI outputs. ESM only: `import { checkStrategy } from
// 'sole/harness'` (from CommonJS, `await import('sole/harness')`).
import type { CheckOptions, CheckReport, LoadedStrategy, RunFailure } from './schedule.mjs'

export type {
  CheckOptions,
  CheckReport,
  FailureKind,
  LoadedStrategy,
  RunFailure,
  RunResult,
  RunStats,
  Schedule,
  Step,
  StrategyMeta,
} from './schedule.mjs'

// ---- the contract a strategy module fulfils -------------------------------------------------

/**
 * What `makeStrategy(target)` returns. `H` is whatever the strategy uses as a handle (a lock
 * object, a file descriptor, `true`): the harness only passes it back to `release`.
 */
export interface Strategy<H = unknown> {
  /** Take the lock now, or return `null` (or `undefined`) when it is held. */
  tryAcquire(shared: boolean): H | null | undefined | Promise<H | null | undefined>
  /** Wait until the lock is free, then take it. */
  acquire(shared: boolean): H | Promise<H>
  /** Give the lock up. */
  release(handle: H): unknown
  /**
   * Optional: the strategy's own answer to "who holds the target?", as sole's `readPidfile`
   * answers it (`{ state: 'held', pid }`, `{ state: 'free' }`…). Without it, a third process
   * reads the target with `readPidfile`.
   */
  read?(): unknown
}

/** A strategy module's default export: called once in every worker process, with the target's path. */
export type MakeStrategy<H = unknown> = (target: string) => Strategy<H> | Promise<Strategy<H>>

/** A strategy module's optional `export const meta` (every flag defaults to false). */
export interface StrategyModuleMeta {
  /** The strategy has shared holders (`tryAcquire(true)`); else every request is exclusive. */
  shared?: boolean
  /** The lock is a flock on the target: sole's `readPidfile` must see the holder. */
  kernelVisible?: boolean
  /** The target's content must name the settled owner (pidfile semantics). */
  pidContent?: boolean
  /** The target's file name in the run's directory (default `target.lock`). */
  file?: string
}

// ---- loading and checking -------------------------------------------------------------------

/** A module the harness cannot use as a strategy (`code: 'ESTRATEGY'`). */
export declare class StrategyError extends Error {
  readonly code: 'ESTRATEGY'
}

/** fast-check is not installed, or not version 4 (`code: 'ENOFASTCHECK'`): thrown by the import itself. */
export declare class HarnessSetupError extends Error {
  readonly code: 'ENOFASTCHECK'
}

export declare const FAST_CHECK_MAJOR: 4

/**
 * Import `file` (a path relative to `cwd`, or a `file:` URL) and check it is a strategy.
 * Rejects with a {@link StrategyError} saying what is wrong.
 */
export declare function loadStrategy(file: string, cwd?: string): Promise<LoadedStrategy>

export interface HarnessOptions extends CheckOptions {
  /** Where a relative strategy path is resolved from (default `process.cwd()`). */
  cwd?: string
}

/**
 * Run generated multi-process schedules against a strategy (a module path, `file:` URL, or
 * what {@link loadStrategy} returned) until `budgetMs` is spent; on a violation, shrink it for
 * up to `shrinkBudgetMs`. With `seed` and `path` (and the same generator options), replay that
 * counterexample.
 */
export declare function checkStrategy(strategy: string | URL | LoadedStrategy, opts?: HarnessOptions): Promise<CheckReport>

/** Every worker process still alive, SIGKILLed (a test's teardown). */
export declare function killAllWorkers(): void

// ---- reports --------------------------------------------------------------------------------

/**
 * The report for people: one line on success; on a violation the headline, the seed and
 * path, `replay` (default: the `checkStrategy(…, { seed, path })` call) and the shrunk
 * timeline.
 */
export declare function formatReport(report: CheckReport, opts?: { replay?: string }): string

/** The progress line `sole harness` prints every 10 s (schedules, steps, kills, pauses). */
export declare function progressLine(soFar: Pick<CheckReport, 'strategy' | 'executed' | 'stats' | 'firstFailure'>, elapsedMs: number): string

/** One strategy run in a CI report; `replay` is the line shown for a violation. */
export interface ReportEntry {
  report: CheckReport
  replay?: string
}

/** A JUnit XML document: one `<testsuite>`, one `<testcase>` per run, a `<failure>` for a violation. */
export declare function junitReport(results: ReportEntry[], opts?: { suite?: string; timestamp?: Date }): string

/** TAP 13: a plan, one test point per run, a YAML block (message, seed, path, replay, timeline) for a violation. */
export declare function tapReport(results: ReportEntry[]): string

// ---- replay files ---------------------------------------------------------------------------

export declare const REPLAY_FORMAT: 'sole-harness-replay/1'

/** A replay file that cannot be read or is not one (`code: 'EREPLAY'`). */
export declare class ReplayError extends Error {
  readonly code: 'EREPLAY'
}

/** What a replay file holds. */
export interface ReplayFile {
  format: 'sole-harness-replay/1'
  /** The strategy module's absolute path when the counterexample was found. */
  strategy: string
  seed: number
  path: string
  /** The generator options of that run; a replay must use the same. */
  options: Omit<CheckOptions, 'onRun' | 'seed' | 'path'>
  /** What broke, for people (not used by the replay). */
  failure: RunFailure | null
  timeline: string[]
  written: string
}

/** `DIR/sole-harness-replay-SEED.json` (default DIR: the current directory). */
export declare function defaultReplayPath(seed: number, dir?: string): string

/** Write the replay file of a failed report (`strategyFile`: the module that failed). */
export declare function writeReplay(file: string, run: { strategyFile: string; report: CheckReport; options: ReplayFile['options'] }): ReplayFile

/** Read and check a replay file. */
export declare function readReplay(file: string): ReplayFile
