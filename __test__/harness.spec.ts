// The multi-process property harness (`harness/`): fast-check generates schedules of 2–6 real
// worker processes that acquire (try and blocking, exclusive and shared), release, wait,
// read the pidfile from a third process, get SIGKILLed, and race through a barrier; the
// coordinator checks every report against its ownership record and each owner checks a
// sentinel inside its critical section (see harness/coordinator.mjs and harness/oracle.mjs).
//
// - sole-lock and sole-pidfile must pass their budget: at most one exclusive owner (shared
//   holders never overlap an exclusive one), at most one pidfile claimant, readPidfile never
//   names a dead process or a non-owner, and a waiter gets the lock after a release or a
//   SIGKILL (within a generous liveness bound). Known races run first as examples.
// - Pid reuse (issue 3): the `reuse` step rewrites a dead owner's pid record (content, and
//   the `user.sole.identity` record, in three hostile ways) to name a live unrelated process;
//   readPidfile must never report it as the owner, nor `held` while nobody holds the lock,
//   and the next claim must succeed as usual. Reads that differ from the documented state
//   without breaking a property are logged as notes.
// - Proof of power: the same harness, same generator, against two deliberately broken
//   strategies (O_EXCL + kill(0) stale reclaim, docs/races.md R2; unlink-on-release, R1) must find
//   the mutual-exclusion violation within the budget, every run, seen by the sentinel. A third,
//   broken-content-reader (sole's claims, but a `kill -0 $(cat pidfile)` reader), must be
//   caught by the reuse step calling the unrelated process the owner.
// - Pauses (issue 16): every strategy's schedules SIGSTOP holders for up to 4 s while others
//   acquire, then SIGCONT them and have them re-check their sentinel (`touch`). sole's kernel
//   locks keep a stopped holder's lock (waiters wait); broken-lease, a heartbeat lease in the
//   style of proper-lockfile, hands the lock to a second owner and must be caught, with a pause
//   in its shrunk timeline (docs/races.md R32).
// - The oracle itself: "live" means alive, not a zombie or exiting, with the same start time.
//
// On failure the report gives the seed, the replay path and the shrunk schedule as a timeline.
// Environment: SOLE_HARNESS_STRATEGY + SOLE_HARNESS_SEED + SOLE_HARNESS_PATH replay one
// counterexample; SOLE_HARNESS_BUDGET_MS changes the real strategies' budget;
// Anomalies (the two /proc/locks read issues, now fixed in the library) fail the run;
// SOLE_HARNESS_STRICT=0 only counts them.
import test from 'ava'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {
  checkStrategy,
  formatReport,
  killAllWorkers,
  replayFromEnv,
  REGRESSIONS,
  runSchedule,
  type CheckReport,
} from '../harness/schedule.mjs'
import { isLive, procStat, selfIdentity, Sentinel, type Identity } from '../harness/oracle.mjs'
import { STRATEGIES, type StrategyName } from './harness/strategies.mjs'
import { envMs } from './helpers/index.js'

/** Time the real strategies get (each), and the budget the broken ones must be caught in. */
const REAL_BUDGET_MS = envMs('SOLE_HARNESS_BUDGET_MS', 35_000)
const BROKEN_BUDGET_MS = 30_000
const SHRINK_BUDGET_MS = 10_000
const STRICT = process.env.SOLE_HARNESS_STRICT !== '0'

function anomalyNote(r: CheckReport): string {
  if (!r.anomalies.length) return 'no anomalies'
  const kinds = new Map<string, number>()
  for (const a of r.anomalies) {
    const k = a.replace(/w\d+(#\d+)?|pid \d+/g, '…')
    kinds.set(k, (kinds.get(k) ?? 0) + 1)
  }
  return `${r.anomalies.length} tolerated anomalies (known library issue, fails with SOLE_HARNESS_STRICT=1): ${[...kinds].map(([k, n]) => `${n}× ${k}`).join('; ')}`
}

const REAL: { strategy: StrategyName; what: string }[] = [
  { strategy: 'sole-lock', what: 'tryLock/lock, exclusive and shared' },
  { strategy: 'sole-pidfile', what: 'claimPidfile/claimPidfileWhenFree' },
]

for (const { strategy, what } of REAL) {
  test.serial(`${strategy} (${what}): one owner, honest reads, waiters get the lock, under generated multi-process schedules`, async (t) => {
    t.timeout(REAL_BUDGET_MS + SHRINK_BUDGET_MS + 60_000)
    t.teardown(killAllWorkers)
    const replay = replayFromEnv(strategy)
    const r = await checkStrategy(STRATEGIES[strategy], {
      budgetMs: REAL_BUDGET_MS,
      shrinkBudgetMs: SHRINK_BUDGET_MS,
      examples: true,
      strict: STRICT,
      ...replay,
    })
    if (r.failed) {
      t.log(formatReport(r))
      t.fail(`${strategy} broke a property: see the report above (seed ${r.seed}, path ${r.path})`)
      return
    }
    t.log(formatReport(r))
    t.log(anomalyNote(r))
    if (r.notes.length) t.log(`${r.notes.length} reads differed from the documented state (no property broken): ${[...new Set(r.notes)].join('; ')}`)
    if (replay.path === undefined) {
      // The known races plus a real amount of generated schedules must actually have run
      // (fewer than before pauses: a pause freezes a holder for up to 4 s of the budget;
      // measured 16–22 schedules, 230–330 steps, in 35 s on a loaded 2-CPU machine).
      t.true(r.executed >= REGRESSIONS.length + 8, `only ${r.executed} schedules ran within ${REAL_BUDGET_MS} ms`)
      // The pid-reuse step really rewrote pidfiles (the issue 3 example alone does it 3 times).
      if (strategy === 'sole-pidfile') t.true((r.stats.reuses ?? 0) >= 3, `only ${r.stats.reuses} reuse steps rewrote the pidfile`)
      if (strategy === 'sole-pidfile') t.true((r.stats.gcs ?? 0) >= 1, `only ${r.stats.gcs} gc steps dropped a claim object`)
      // Holders really were frozen (the pause example alone does it once) and kept the lock.
      t.true((r.stats.pauses ?? 0) >= 1, `only ${r.stats.pauses} pause steps stopped a holder`)
    }
  })
}

/**
 * A pause costs seconds, so the generator makes few (see MAX_PAUSED_PER_RUN_MS): broken-lease
 * gets a longer budget (measured: caught after 3–29 s, mean about 14 s, in 20 runs). The test
 * ends at the first catch plus shrinking, so the budget only costs time when it is needed.
 */
const LEASE_BUDGET_MS = 60_000

const BROKEN: { strategy: StrategyName; race: string; pause?: true; budgetMs?: number }[] = [
  { strategy: 'broken-oexcl-reclaim', race: 'an O_EXCL create + kill(pid, 0) stale reclaim' },
  { strategy: 'broken-unlink-on-release', race: 'a flock pidfile that unlinks itself on release' },
  { strategy: 'broken-lease', race: 'a heartbeat lease taken over from a paused holder', pause: true, budgetMs: LEASE_BUDGET_MS },
]

for (const { strategy, race, pause, budgetMs = BROKEN_BUDGET_MS } of BROKEN) {
  test.serial(`proof of power: the harness catches ${strategy} (${race}) within its budget`, async (t) => {
    t.timeout(budgetMs + SHRINK_BUDGET_MS + 60_000)
    t.teardown(killAllWorkers)
    // No examples: the generator alone has to find the race.
    const r = await checkStrategy(STRATEGIES[strategy], {
      budgetMs,
      shrinkBudgetMs: SHRINK_BUDGET_MS,
      examples: false,
      ...replayFromEnv(strategy),
    })
    t.log(formatReport(r))
    t.true(r.failed, `no counterexample against ${strategy} in ${r.executed} schedules (${budgetMs} ms)`)
    const f = r.last?.failure
    t.is(r.firstFailure?.kind, 'exclusion')
    t.is(f?.kind, 'exclusion')
    // Seen by the owners' own sentinel, not only by the coordinator's bookkeeping: it found a
    // live second owner, or its sentinel replaced or removed by another owner while it held.
    t.regex(f?.message ?? '', /sentinel: .*(live (owner|holder)|taken over)/)
    t.true(r.path !== null && r.seed !== undefined, 'the report names a seed and a replay path')
    if (pause) {
      // Only a pause breaks it: the shrunk schedule freezes a holder, and a second owner
      // enters before it is continued (the step line `tN wK SIGSTOP for M ms`).
      // A shrunk schedule may hold several pauses: the one that matters is the last pause
      // before the violation, which must still be in force when the violation is seen.
      const timeline = r.last?.timeline ?? []
      const isStop = (l: string): boolean => /^t\d+ w\S+ SIGSTOP for \d+ ms/.test(l)
      t.true(timeline.some(isStop), 'the shrunk timeline shows a pause step')
      const seen = timeline.findIndex((l) => l.startsWith('!! EXCLUSION'))
      const stop = timeline.reduce((last, l, i) => (i < seen && isStop(l) ? i : last), -1)
      const cont = timeline.findIndex((l, i) => i > stop && / SIGCONT after \d+ ms/.test(l))
      t.true(stop >= 0 && seen > stop && (cont < 0 || seen < cont), 'the violation is seen while the holder is stopped')
      t.true((r.stats.pauses ?? 0) >= 1)
    }
  })
}

test.serial('proof of power: the harness catches broken-content-reader (a reader that trusts a live content pid) through the reuse step', async (t) => {
  t.timeout(BROKEN_BUDGET_MS + SHRINK_BUDGET_MS + 60_000)
  t.teardown(killAllWorkers)
  const strategy: StrategyName = 'broken-content-reader'
  const r = await checkStrategy(STRATEGIES[strategy], {
    budgetMs: BROKEN_BUDGET_MS,
    shrinkBudgetMs: SHRINK_BUDGET_MS,
    examples: false,
    ...replayFromEnv(strategy),
  })
  t.log(formatReport(r))
  t.true(r.failed, `no counterexample against ${strategy} in ${r.executed} schedules (${BROKEN_BUDGET_MS} ms)`)
  const f = r.last?.failure
  t.is(f?.kind, 'read')
  // The claims are sole's: what the harness sees is the reader naming the planted process.
  t.regex(f?.message ?? '', /after reuse\((content-only|reused-pid|foreign-record)\) readPidfile reports the decoy \(pid \d+, an unrelated live process\) as the owner/)
  t.true(r.last?.timeline.some((l) => / reuse\(/.test(l) && /planted decoy pid/.test(l)) ?? false, 'the shrunk timeline shows the rewrite')
  t.true(r.path !== null && r.seed !== undefined, 'the report names a seed and a replay path')
})

// ---- pauses --------------------------------------------------------------------------------

test.serial('pause: a holder frozen past a lease\'s staleness loses the lock; both sentinels see the second owner, and the holder is continued', async (t) => {
  t.timeout(60_000)
  t.teardown(killAllWorkers)
  // w0 holds; frozen for 3 s (three times the lease's staleness); w1 blocks at once.
  const schedule = {
    workers: 2,
    steps: [
      { kind: 'try' as const, pick: 0, shared: false },
      { kind: 'pause' as const, pick: 0, ms: 3000, ops: [{ at: 0, block: true, shared: false }], read: false },
    ],
  }
  const res = await runSchedule(STRATEGIES['broken-lease'], schedule)
  t.log(res.timeline.join('\n'))
  t.is(res.failure?.kind, 'exclusion')
  t.regex(res.failure?.message ?? '', /^sentinel: w1 \(pid \d+, ex\) found exclusive sentinel names live owner pid \d+/)
  t.is(res.stats.pauses, 1)
  // Continued (SIGCONT in the finally), it answered its touch: its own sentinel was taken.
  t.true(res.timeline.some((l) => /^t2 w0 SIGCONT after \d+ ms; touch \(re-checks its sentinel\) -> violation: my exclusive sentinel was taken over/.test(l)))
})

test.serial('pause: sole-lock keeps a frozen holder\'s lock: waiters wait, tries are refused, the reader names it', async (t) => {
  t.timeout(60_000)
  t.teardown(killAllWorkers)
  const schedule = REGRESSIONS.find((s) => s.steps.some((x) => x.kind === 'pause'))!
  const res = await runSchedule(STRATEGIES['sole-lock'], schedule)
  t.log(res.timeline.join('\n'))
  t.is(res.failure, null)
  t.is(res.stats.pauses, 1)
  const text = res.timeline.join('\n')
  t.regex(text, /t2 \+\d+ms w2 acquire\(try, ex\) -> busy/)
  t.regex(text, /reader readPidfile \(w0 is stopped\) -> held by w0/)
  t.regex(text, /w0 SIGCONT after \d+ ms; touch \(re-checks its sentinel\) -> still the owner/)
  t.regex(text, /w1 acquired \(blocking, ex; waiting since t2\)/)
})

// ---- the oracle's own ground truth --------------------------------------------------------

async function started(c: ChildProcess): Promise<Identity> {
  await once(c, 'spawn')
  const st = procStat(c.pid!)
  if (!st) throw new Error(`no /proc entry for ${c.pid}`)
  return { pid: c.pid!, start: st.start }
}

test.serial('oracle: live means alive, not a zombie or exiting, and not a reused pid', async (t) => {
  const me = selfIdentity()
  t.true(isLive(me))
  t.false(isLive({ pid: me.pid, start: `${Number(me.start) + 1}` }), 'same pid, other start time: a reused pid')

  const sleeper = spawn('sleep', ['300'], { stdio: 'ignore' })
  t.teardown(() => sleeper.kill('SIGKILL'))
  const s = await started(sleeper)
  t.true(isLive(s))

  const done = spawn('true', [], { stdio: 'ignore' })
  const d = await started(done)
  await once(done, 'exit') // reaped by Node
  t.false(isLive(d))

  // A child that exits and is never reaped (its parent never waits): a zombie, which
  // kill(pid, 0) still calls alive. The child leaves with _exit(2), so its end of the pipe
  // is closed by the kernel inside do_exit: once the parent reads EOF, the child is exiting
  // (PF_EXITING) or already a zombie, and stays one (nobody reaps it while perl sleeps).
  const perl = spawn(
    'perl',
    ['-MPOSIX', '-e', 'pipe(R, W) or die; my $p = fork() // die; if (!$p) { close R; POSIX::_exit(0) } close W; my $x = <R>; $| = 1; print "$p\\n"; sleep 300'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  t.teardown(() => perl.kill('SIGKILL'))
  const [line] = (await once(perl.stdout!, 'data')) as [Buffer]
  const zpid = Number(line.toString().trim())
  t.true(Number.isInteger(zpid) && zpid > 0)
  t.notThrows(() => process.kill(zpid, 0), 'kill(pid, 0) says a zombie is alive')
  const zst = procStat(zpid)
  t.truthy(zst)
  t.false(isLive({ pid: zpid, start: zst!.start }), `state ${zst!.state}, flags ${zst!.flags}: not live`)
})

test.serial('oracle: a live owner in the sentinel is a violation, a dead owner is taken over', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sole-oracle-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.mkdirSync(path.join(dir, 'shared'))
  const me = selfIdentity()
  const sleeper = spawn('sleep', ['300'], { stdio: 'ignore' })
  t.teardown(() => sleeper.kill('SIGKILL'))
  const other = await started(sleeper)
  const done = spawn('true', [], { stdio: 'ignore' })
  const dead = await started(done)
  await once(done, 'exit')

  // A dead exclusive owner's leftover is taken over, then released cleanly.
  t.is(new Sentinel(dir, dead).enter(false), null)
  t.is(new Sentinel(dir, me).enter(false), null)
  t.is(new Sentinel(dir, me).exit(false), null)

  // A live exclusive owner: exclusive and shared entrants both see it.
  const live = new Sentinel(dir, other)
  t.is(live.enter(false), null)
  t.regex(new Sentinel(dir, me).enter(false) ?? '', /live owner pid \d+/)
  t.is(fs.readdirSync(dir).filter((n) => n !== 'shared').length, 0, 'the captured sentinel is cleaned up')

  t.is(live.enter(false), null)
  t.regex(new Sentinel(dir, me).enter(true) ?? '', /live owner pid \d+/)
  t.is(new Sentinel(dir, me).exit(true), null)

  // A live shared holder excludes an exclusive entrant; a dead one is taken over.
  fs.rmSync(path.join(dir, 'exclusive'), { force: true })
  t.is(new Sentinel(dir, other).enter(true), null)
  t.regex(new Sentinel(dir, me).enter(false) ?? '', /live holder pid \d+/)
  fs.rmSync(path.join(dir, 'exclusive'), { force: true })
  fs.rmSync(path.join(dir, 'shared'), { recursive: true })
  fs.mkdirSync(path.join(dir, 'shared'))
  t.is(new Sentinel(dir, dead).enter(true), null)
  t.is(new Sentinel(dir, me).enter(false), null)
  t.deepEqual(fs.readdirSync(path.join(dir, 'shared')), [])
})
