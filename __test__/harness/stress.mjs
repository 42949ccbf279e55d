// `npm run stress`: the property harness for a long time (SOLE_STRESS_SECONDS, default 300)
// against sole's real strategies, with more workers (up to SOLE_STRESS_WORKERS, default 8) and
// longer schedules than `npm test` runs. The races it hunts are the spec's (two owners,
// a shared holder next to an exclusive one, a read naming a dead process or a non-owner, a
// waiter that never gets a free lock), only rarer: more processes on the barrier and more
// SIGKILLs per schedule widen the windows, and time finds the unlucky interleavings.
// The strategies alternate in slices so both get the whole duration's variety.
//
// Prints a progress line every 10 s; on any violation prints the report (seed, replay path,
// shrunk timeline) and exits 1. Replay a reported counterexample with
//   SOLE_HARNESS_STRATEGY=… SOLE_HARNESS_SEED=… SOLE_HARNESS_PATH=… node __test__/harness/stress.mjs
// Anomalies fail the run by default; SOLE_HARNESS_STRICT=0 only counts them (see coordinator.mjs).
import { checkStrategy, formatReport, killAllWorkers } from '../../harness/schedule.mjs'
import { STRATEGIES as ALL } from './strategies.mjs'

function envNumber(name, fallback, min) {
  const v = process.env[name]
  if (v === undefined || v === '') return fallback
  const n = Number(v)
  if (!Number.isFinite(n) || n < min) {
    console.error(`${name} must be a number >= ${min}, got ${v}`)
    process.exit(2)
  }
  return n
}

const SECONDS = envNumber('SOLE_STRESS_SECONDS', 300, 1)
const MAX_WORKERS = envNumber('SOLE_STRESS_WORKERS', 8, 2)
const MAX_STEPS = 60
const SLICE_MS = Math.min(30_000, Math.max(5_000, (SECONDS * 1000) / 4))
const STRICT = process.env.SOLE_HARNESS_STRICT !== '0'
// SOLE_STRESS_STRATEGIES=broken-oexcl-reclaim (say) shows what a violation looks like here.
const STRATEGIES = (process.env.SOLE_STRESS_STRATEGIES || 'sole-lock,sole-pidfile').split(',')
for (const s of STRATEGIES) {
  if (!(s in ALL)) {
    console.error(`unknown strategy ${s} in SOLE_STRESS_STRATEGIES (known: ${Object.keys(ALL).join(', ')})`)
    process.exit(2)
  }
}
const REPLAY = 'node __test__/harness/stress.mjs'

process.on('exit', killAllWorkers)
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAllWorkers()
    console.error(`stress: interrupted by ${sig}`)
    process.exit(130)
  })
}

const started = Date.now()
const deadline = started + SECONDS * 1000
const totals = Object.fromEntries(STRATEGIES.map((s) => [s, { schedules: 0, steps: 0, acquisitions: 0, kills: 0, races: 0, reads: 0, waits: 0, reuses: 0, gcs: 0, pauses: 0, anomalies: 0 }]))
let lastProgress = started
/** Tolerated anomalies by kind (labels and pids stripped), for the summary. */
const anomalyKinds = new Map()

function progress(force = false) {
  const now = Date.now()
  if (!force && now - lastProgress < 10_000) return
  lastProgress = now
  const s = ((now - started) / 1000).toFixed(0).padStart(4)
  const parts = STRATEGIES.map((name) => {
    const t = totals[name]
    return `${name}: ${t.schedules} schedules, ${t.steps} steps, ${t.acquisitions} acquisitions, ${t.races} races, ${t.kills} kills, ${t.pauses} pauses, ${t.reads} reads, ${t.anomalies} anomalies`
  })
  console.log(`[${s} s / ${SECONDS} s] ${parts.join(' | ')}`)
}

async function replayOne() {
  const strategy = process.env.SOLE_HARNESS_STRATEGY
  const seed = Number(process.env.SOLE_HARNESS_SEED)
  const path = process.env.SOLE_HARNESS_PATH
  if (!(strategy in ALL) || !Number.isInteger(seed) || !path) {
    console.error(`replay needs SOLE_HARNESS_STRATEGY (${Object.keys(ALL).join(', ')}), SOLE_HARNESS_SEED and SOLE_HARNESS_PATH`)
    process.exit(2)
  }
  const r = await checkStrategy(ALL[strategy], { seed, path, maxWorkers: MAX_WORKERS, maxSteps: MAX_STEPS, strict: STRICT, replayCommand: REPLAY })
  console.log(formatReport(r))
  process.exit(r.failed ? 1 : 0)
}

async function main() {
  if (process.env.SOLE_HARNESS_PATH) return replayOne()
  console.log(`stress: ${STRATEGIES.join(' and ')} for ${SECONDS} s, up to ${MAX_WORKERS} workers and ${MAX_STEPS} steps per schedule${STRICT ? ' (strict)' : ''}`)
  let round = 0
  while (Date.now() < deadline) {
    const strategy = STRATEGIES[round % STRATEGIES.length]
    const budgetMs = Math.min(SLICE_MS, deadline - Date.now())
    const r = await checkStrategy(ALL[strategy], {
      budgetMs,
      shrinkBudgetMs: 60_000,
      maxWorkers: MAX_WORKERS,
      maxSteps: MAX_STEPS,
      strict: STRICT,
      replayCommand: REPLAY,
      onRun: (res) => {
        const t = totals[strategy]
        t.schedules++
        for (const k of Object.keys(res.stats)) t[k] = (t[k] ?? 0) + res.stats[k]
        for (const a of res.anomalies) {
          const k = `${strategy}: ${a.replace(/w\d+(#\d+)?|pid \d+/g, '…')}`
          anomalyKinds.set(k, (anomalyKinds.get(k) ?? 0) + 1)
        }
        progress()
      },
    })
    if (r.failed) {
      progress(true)
      console.error(`\nstress: VIOLATION\n${formatReport(r)}`)
      process.exit(1)
    }
    round++
  }
  progress(true)
  console.log(`stress: no violation in ${SECONDS} s`)
  if (anomalyKinds.size) {
    console.log('tolerated anomalies (known library issues, see `tolerate` in coordinator.mjs; SOLE_HARNESS_STRICT=1 fails on them):')
    for (const [k, n] of anomalyKinds) console.log(`  ${n}× ${k}`)
  }
  process.exit(0)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
