// fast-check glue for the harness: the schedule generator, the property that runs schedules
// against a strategy within a time budget, known regression schedules, and the failure
// report (seed, replay path, shrunk schedule as a timeline).
//
// The generator is weighted toward the steps that make races happen: blocking waiters
// (the unlink race, docs/races.md R1, needs one), SIGKILLs of owners (the stale reclaim, R2, needs a
// dead owner's file) and barrier races, where 2–6 workers act in the same instant (the
// check-then-act windows of an O_EXCL reclaim are microseconds wide; turns never hit them).
// `reuse` is generated for pidfile strategies only (the others keep the original generator);
// it needs a dead owner's record and nobody holding or waiting, so half of them SIGKILL the
// waiters and the holder themselves first (otherwise a holder is almost always there).
// `gc` (pidfile strategies too) makes a holder drop its claim's object and force GC; the claim
// must survive until the holder is SIGKILLed at the end of the step.
// `pause` (every strategy) SIGSTOPs a holder for 250 ms to MAX_PAUSE_MS (shrinking toward
// short pauses) while idle workers try or block-acquire and the reader reads, then SIGCONTs
// it and has it re-check its sentinel (`touch`): the paused-holder race (docs/races.md R32),
// where a lease or heartbeat lock judges a frozen holder gone and hands the lock over.
// A step names its target by an index into "the workers this step applies to" (idle
// workers for an acquire, holders for a release…) modulo their number, so every generated
// step does something and shrinking keeps schedules meaningful.
import fc from 'fast-check'
import { runSchedule } from './coordinator.mjs'

export { killAllWorkers, LIVENESS_MS, MAX_PAUSED_PER_RUN_MS, runSchedule } from './coordinator.mjs'

const pick = fc.nat({ max: 11 })
const shared = fc.boolean()
/** In a race, two thirds of the acquirers try (check-then-act windows need simultaneous tries). */
const tryMostly = fc.oneof({ weight: 2, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) })

/** The `reuse` step (pidfile strategies only; see coordinator.mjs). */
const reuseArb = fc.record({
  kind: fc.constant('reuse'),
  how: fc.constantFrom('content-only', 'reused-pid', 'foreign-record'),
  kill: fc.boolean(),
})

/** Longest generated pause (ms). A schedule pauses at most MAX_PAUSED_PER_RUN_MS in all. */
export const MAX_PAUSE_MS = 4_000

/** In a pause, three quarters of the acquirers block (a waiter polls through the whole pause). */
const blockMostly = fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) })

/** The `pause` step (every strategy; see coordinator.mjs): who, how long, what others do meanwhile. */
const pauseArb = fc.record({
  kind: fc.constant('pause'),
  pick,
  // Half of them 2–4 s: a pause only breaks a lease when it outlasts the lease's staleness
  // plus the time since its last refresh, and leases are rarely judged stale in under 2 s
  // (proper-lockfile's minimum `stale`); the rest shorter, down to 250 ms (a short lease, a
  // GC-sized stall).
  ms: fc.oneof(
    { weight: 1, arbitrary: fc.integer({ min: 250, max: 999 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1000, max: 2000 }) },
    { weight: 2, arbitrary: fc.integer({ min: 2001, max: MAX_PAUSE_MS }) },
  ),
  // Each acquisition at `at` percent of the pause; blocking ones mostly.
  ops: fc.array(fc.record({ at: fc.integer({ min: 0, max: 100 }), block: blockMostly, shared }), { minLength: 1, maxLength: 3 }),
  read: fc.boolean(),
})

/**
 * One step of a schedule; a race arms up to `maxWorkers` acquirers. With `reuse` (pidfile
 * strategies), pid-reuse steps too; without, the generator is exactly the original one.
 */
export function stepArb(maxWorkers = 6, reuse = false, pauseWeight = 1) {
  return fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('try'), pick, shared }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('block'), pick, shared }) },
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('release'), pick }) },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('kill'),
        pick,
        how: fc.oneof({ weight: 3, arbitrary: fc.constant('SIGKILL') }, { weight: 1, arbitrary: fc.constant('exit') }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('read') }) },
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant('race'),
        pick,
        ops: fc.array(fc.record({ block: tryMostly, shared }), { minLength: 2, maxLength: maxWorkers }),
        release: fc.boolean(),
        kill: fc.boolean(),
        read: fc.boolean(),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('await') }) },
    ...(reuse ? [{ weight: 3, arbitrary: reuseArb }] : []),
    // Issue 8: a holder drops every reference to its claim and forces GC (pidfile strategies).
    ...(reuse ? [{ weight: 2, arbitrary: fc.record({ kind: fc.constant('gc'), pick }) }] : []),
    // Issue 16: a holder frozen (SIGSTOP) for a while, others acquiring meanwhile.
    // A pause costs seconds of wall clock where most steps take milliseconds: see
    // MAX_PAUSED_PER_RUN_MS for the cap per schedule. `pauseWeight`: see PAUSE_WEIGHT.
    { weight: pauseWeight, arbitrary: pauseArb },
  )
}

/**
 * How often pauses are generated, by what the lock is. A lock the kernel holds (`meta.
 * kernelVisible`: a flock) cannot be taken from a stopped holder, so for it a pause only tests
 * that waiters keep waiting, and each costs seconds of the budget: rare. Any other lock (a
 * lease, a heartbeat, an mtime, a pid in a file: every user strategy unless it says otherwise)
 * is exactly what a pause can break, so it gets four times as many.
 */
export const PAUSE_WEIGHT = { kernel: 1, other: 4 }

/** A schedule: how many workers, and what they do. */
export function scheduleArb({ minWorkers = 2, maxWorkers = 6, maxSteps = 40, reuse = false, pauseWeight = 1 } = {}) {
  return fc.record({
    workers: fc.integer({ min: minWorkers, max: maxWorkers }),
    steps: fc.array(stepArb(maxWorkers, reuse, pauseWeight), { minLength: 3, maxLength: maxSteps, size: 'max' }),
  })
}

/**
 * Known races, replayed first (as fast-check `examples`) against the real strategies on
 * every run. Picks index the idle workers / holders in slot order.
 */
export const REGRESSIONS = [
  {
    // docs/races.md R1: A holds, B waits on the inode, A releases, C acquires.
    workers: 3,
    steps: [
      { kind: 'try', pick: 0, shared: false },
      { kind: 'block', pick: 0, shared: false },
      { kind: 'release', pick: 0 },
      { kind: 'try', pick: 1, shared: false },
      { kind: 'read' },
      { kind: 'await' },
      { kind: 'try', pick: 1, shared: false },
    ],
  },
  {
    // docs/races.md R2: the owner is SIGKILLed, two starters reclaim at once.
    workers: 3,
    steps: [
      { kind: 'try', pick: 0, shared: false },
      { kind: 'kill', pick: 0, how: 'SIGKILL' },
      { kind: 'read' },
      { kind: 'race', pick: 0, ops: [{ block: false, shared: false }, { block: false, shared: false }, { block: false, shared: false }], release: false, kill: false, read: true },
      { kind: 'read' },
    ],
  },
  {
    // Shared holders, an exclusive waiter, releases and a SIGKILL among the shared holders.
    workers: 4,
    steps: [
      { kind: 'try', pick: 0, shared: true },
      { kind: 'try', pick: 0, shared: true },
      { kind: 'block', pick: 0, shared: false },
      { kind: 'race', pick: 0, ops: [{ block: false, shared: true }], release: true, kill: true, read: true },
      { kind: 'release', pick: 0 },
      { kind: 'await' },
      { kind: 'read' },
    ],
  },
  {
    // issue 3: a SIGKILLed owner's pid record is rewritten to name a live unrelated process,
    // each way; the reader must not call it the owner, and the next claim must succeed.
    workers: 2,
    steps: [
      { kind: 'try', pick: 0, shared: false },
      { kind: 'kill', pick: 0, how: 'SIGKILL' },
      { kind: 'reuse', how: 'content-only', kill: false },
      { kind: 'try', pick: 0, shared: false },
      { kind: 'read' },
      { kind: 'kill', pick: 0, how: 'SIGKILL' },
      { kind: 'reuse', how: 'reused-pid', kill: false },
      { kind: 'read' },
      { kind: 'block', pick: 1, shared: false },
      { kind: 'kill', pick: 0, how: 'exit' },
      { kind: 'reuse', how: 'foreign-record', kill: false },
      { kind: 'try', pick: 0, shared: false },
      { kind: 'read' },
    ],
  },
  {
    // issue 8: a claim whose object is garbage-collected must last until its process exits
    // (single-instance code keeps no reference to its claim); a waiter must not get it.
    workers: 3,
    steps: [
      { kind: 'try', pick: 0, shared: false },
      { kind: 'block', pick: 0, shared: false },
      { kind: 'gc', pick: 0 },
      { kind: 'try', pick: 0, shared: false },
      { kind: 'read' },
      { kind: 'await' },
    ],
  },
  {
    // issue 16 (docs/races.md R32): the holder is frozen for 3 s (longer than the 2 s
    // staleness of the lease examples in examples/harness/, plus their polling: each of them
    // loses its lock in this schedule, every time) while one worker blocks and another tries
    // late; the reader reads during the pause. The resumed holder must still be the only
    // owner; after its release, the waiter gets the lock.
    workers: 3,
    steps: [
      { kind: 'try', pick: 0, shared: false },
      {
        kind: 'pause',
        pick: 0,
        ms: 3000,
        ops: [
          { at: 0, block: true, shared: false },
          { at: 90, block: false, shared: false },
        ],
        read: true,
      },
      { kind: 'release', pick: 0 },
      { kind: 'await' },
      { kind: 'read' },
    ],
  },
]

/** Thrown by the property so fast-check records (and shrinks) a failing schedule. */
class ScheduleFailed extends Error {
  constructor(res) {
    super(`${res.failure.kind}: ${res.failure.message}`)
    this.name = 'ScheduleFailed'
  }
}

/**
 * Check `strategy` with generated schedules until `budgetMs` runs out (or `numRuns`).
 * After the first failure, shrinking gets `shrinkBudgetMs` more. With `seed` (and `path`),
 * replays exactly that schedule, without budgets.
 */
export async function checkStrategy(strategy, opts = {}) {
  const {
    budgetMs = 30_000,
    shrinkBudgetMs = 15_000,
    numRuns = 1_000,
    seed,
    path,
    examples = false,
    maxWorkers = 6,
    maxSteps = 40,
    strict = false,
    replayCommand = 'npx ava __test__/harness.spec.ts',
    onRun = () => {},
  } = opts
  if (!strategy?.meta || !strategy?.url) throw new Error('checkStrategy needs a loaded strategy (loadStrategy(file))')
  const replay = seed !== undefined && path !== undefined
  const started = Date.now()
  const deadline = started + budgetMs
  let shrinkDeadline = Infinity
  const out = { strategy: strategy.name, replayCommand, executed: 0, skippedForBudget: 0, firstFailure: null, last: null, stats: {}, anomalies: [], notes: [] }
  const reuse = strategy.meta.pidContent
  const prop = fc.asyncProperty(scheduleArb({ maxWorkers, maxSteps, reuse, pauseWeight: strategy.meta.kernelVisible ? PAUSE_WEIGHT.kernel : PAUSE_WEIGHT.other }), async (schedule) => {
    const now = Date.now()
    if (!replay && (out.firstFailure ? now > shrinkDeadline : now > deadline)) {
      // Budget spent: not run (counted apart, never reported as a success).
      out.skippedForBudget++
      return true
    }
    if (replay && out.executed >= 1) {
      // A replay is that one schedule: fast-check starts at the recorded path, and should the
      // schedule pass this time (process timing does not replay), it would go on to the next
      // runs or shrink candidates and could report a neighbouring schedule instead. Skipped.
      out.skippedForBudget++
      return true
    }
    const res = await runSchedule(strategy, schedule, { strict })
    out.executed++
    for (const [k, v] of Object.entries(res.stats)) out.stats[k] = (out.stats[k] ?? 0) + v
    out.anomalies.push(...res.anomalies)
    out.notes.push(...res.notes)
    onRun(res, out)
    if (res.failure) {
      if (!out.firstFailure) {
        out.firstFailure = { run: out.executed, steps: res.failure.atStep, kind: res.failure.kind, ms: Date.now() - started }
        shrinkDeadline = Date.now() + shrinkBudgetMs
      }
      out.last = { schedule, ...res }
      throw new ScheduleFailed(res)
    }
    return true
  })
  // Examples come first in fast-check's numbering, so a replay must pass the same ones.
  const withExamples = examples ? { examples: REGRESSIONS.map((s) => [s]) } : {}
  const params = replay
    ? { seed, path, endOnFailure: true, ...withExamples }
    : { numRuns, ...(seed !== undefined ? { seed } : {}), ...withExamples }
  const details = await fc.check(prop, params)
  return {
    ...out,
    failed: details.failed,
    seed: details.seed,
    path: details.counterexamplePath,
    numShrinks: details.numShrinks,
    ms: Date.now() - started,
  }
}

/** The report printed on failure: what broke, how to replay it, and the shrunk timeline. */
export function formatReport(r) {
  if (!r.failed) {
    return `${r.strategy}: ${r.executed} schedules passed in ${(r.ms / 1000).toFixed(1)} s (${Object.entries(r.stats)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')})`
  }
  if (!r.last) return `${r.strategy}: fast-check failed without a failing schedule (seed ${r.seed})`
  const f = r.last.failure
  const replay = `SOLE_HARNESS_STRATEGY=${r.strategy} SOLE_HARNESS_SEED=${r.seed} SOLE_HARNESS_PATH='${r.path}' ${r.replayCommand}`
  const lines = [
    `${r.strategy}: ${f.kind.toUpperCase()} VIOLATION at step t${f.atStep}: ${f.message}`,
    `  first failing schedule: run ${r.firstFailure.run}, step t${r.firstFailure.steps} (${(r.firstFailure.ms / 1000).toFixed(1)} s in); shrunk ${r.numShrinks} times, to a schedule that fails at step t${f.atStep} (later steps never ran)`,
    `  seed: ${r.seed}   path: ${r.path}`,
    `  replay: ${replay}`,
    `  (the schedule replays exactly; the processes' timing does not, so a race may need a few replays)`,
    `  shrunk schedule as run (${r.last.schedule.workers} workers):`,
    ...r.last.timeline.map((l) => `    ${l}`),
  ]
  return lines.join('\n')
}

/** Replay settings from the environment (SOLE_HARNESS_SEED, SOLE_HARNESS_PATH, SOLE_HARNESS_STRATEGY). */
export function replayFromEnv(strategy, env = process.env) {
  const only = env.SOLE_HARNESS_STRATEGY
  if (only && only !== strategy) return {}
  const seed = env.SOLE_HARNESS_SEED === undefined || env.SOLE_HARNESS_SEED === '' ? undefined : Number(env.SOLE_HARNESS_SEED)
  const path = env.SOLE_HARNESS_PATH || undefined
  if (seed !== undefined && !Number.isInteger(seed)) throw new Error(`SOLE_HARNESS_SEED must be an integer, got ${env.SOLE_HARNESS_SEED}`)
  if (path !== undefined && !only) throw new Error('SOLE_HARNESS_PATH needs SOLE_HARNESS_STRATEGY (a path belongs to one strategy)')
  return { seed, path }
}
