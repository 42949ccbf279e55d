// Concurrent schedules on ONE pidfile: fast-check generates waves of operations started in
// the same few milliseconds (spawnDaemon with several readiness modes and daemon behaviours,
// a graceful stop of the verified holder, a SIGKILL of the current holder), runs them against
// real processes, and checks from OUTSIDE sole that:
// - at most one daemon of the pidfile runs at any instant (the oracle below);
// - every spawnDaemon resolves (and with readiness 'notify' or 'exec' its pid then holds the
//   pidfile per readPidfile, unless a concurrent stop/kill of the same wave already ended it)
//   or rejects with a documented code: EHELD (err.pid is a daemon of this run), EDAEMON
//   (err.stage 'setup' | 'exec' | 'startup'; a daemon that exits 3 before READY=1 reports
//   exitCode 3), ETIMEDOUT (and the unready daemon is gone); nothing else, and no call hangs
//   (each is raced against its timeout plus a margin);
// - a stopDaemon resolves 'terminated' | 'killed' | 'not-running' and the pid it names is dead;
//   after a SIGKILL of the holder has been seen (pidfd), the pidfile is no longer held by it,
//   at once; after the schedule, every daemon killed, the pidfile is free at once.
//
// The oracle ("at most one daemon at any instant"), and why it is sound. It must not trust
// the lock under test, so it is a second, independent flock that each daemon takes itself:
// the fixture (fixtures/daemon-sched/daemon.py, python, knows nothing of sole) locks
// `probe` (a separate file of the run) as the first thing it does after exec, and logs
// `start PID` to an O_APPEND oracle log. If the probe is held, it asks the kernel who holds
// it (/proc/locks, by device and inode) and judges each holder from /proc/PID/stat: a live
// holder (not a zombie, not dead, not PF_EXITING) means two daemons of one pidfile run at
// once: it logs `overlap PID OTHER`. A holder that is exiting or gone is not a violation:
// a SIGKILLed daemon drops its descriptors one by one in do_exit, its pidfile's (which let
// the next daemon start) possibly before its probe's, and PF_EXITING is set before either.
// - No false alarm: for sole, a second daemon can only exec after its own flock on the
//   pidfile succeeded, i.e. after the previous daemon's descriptor was closed, which happens
//   only in do_exit (the fixture never forks a child that could keep the pidfile open:
//   python closes every inherited descriptor in subprocess children), so the previous one is
//   exiting or gone when the next one probes. The kernel, not timing, decides both.
// - What it can miss: two daemons whose lives overlap but where one dies before the other
//   probes (the probe comes ~30 ms after exec). It under-reports; it never invents.
// - Proof of power: the same schedules against a "broken spawner" (what daemonize-process
//   users do: read the pidfile, refuse if `kill(pid, 0)` says alive, else
//   child_process.spawn(detached) and write the pid, no lock) must be caught, by the
//   daemons' own oracle, within its budget.
//
// Budget: SOLE_DAEMON_SCHED_BUDGET_MS (default 20 s) of generated schedules for sole, after
// fixed examples; the broken spawner gets BROKEN_BUDGET_MS to be caught (usually the first
// run) plus SHRINK_BUDGET_MS to shrink. Replay a failure of sole's property:
// SOLE_DAEMON_SCHED_SEED + SOLE_DAEMON_SCHED_PATH (the report prints the command).
import test from 'ava'
import { spawn as spawnChild, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import fc from 'fast-check'

import * as sole from '../lib/index.js'
import { envMs } from './helpers/index.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const FIXTURE = path.join(HERE, 'fixtures', 'daemon-sched', 'daemon.py')
/** The distribution's python when there is one (a pyenv shim costs 150 ms per start). */
const PYTHON = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => fs.existsSync(p)) ?? 'python3'
const HAVE_PYTHON = spawnSync(PYTHON, ['-c', 'import fcntl, socket'], { stdio: 'ignore' }).status === 0
const HAVE_SYSTEMD_NOTIFY = spawnSync('systemd-notify', ['--help'], { stdio: 'ignore' }).status === 0

const SOLE_BUDGET_MS = envMs('SOLE_DAEMON_SCHED_BUDGET_MS', 20_000)
const BROKEN_BUDGET_MS = 15_000
const SHRINK_BUDGET_MS = 6_000
/** spawnDaemon's timeoutMs: generous (python under load on 2 shared CPUs), or short for 'never'. */
const SPAWN_TIMEOUT_MS = 5_000
const NEVER_TIMEOUT_MS = 400
const STOP_TIMEOUT_MS = 2_000
/** A call that has not settled this long after its own timeout is a hang. */
const HANG_MARGIN_MS = 5_000

// ---- schedules ----------------------------------------------------------------------------

/** How the fixture reports readiness (see daemon.py), with the readiness spawnDaemon waits for. */
type Mode = 'notify' | 'systemd-notify' | 'quiet' | 'fail' | 'errno' | 'never'
type Readiness = 'notify' | 'exec' | 'none'
type Op =
  | { kind: 'spawn'; at: number; mode: Mode; readiness: Readiness; delay: number }
  | { kind: 'stop'; at: number }
  | { kind: 'kill'; at: number }
type Schedule = Op[][]

const at = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: 1, max: 80 }) })
const how = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ mode: 'notify' as Mode, readiness: 'notify' as Readiness }) },
  { weight: HAVE_SYSTEMD_NOTIFY ? 2 : 0, arbitrary: fc.constant({ mode: 'systemd-notify' as Mode, readiness: 'notify' as Readiness }) },
  { weight: 2, arbitrary: fc.constant({ mode: 'quiet' as Mode, readiness: 'exec' as Readiness }) },
  { weight: 1, arbitrary: fc.constant({ mode: 'quiet' as Mode, readiness: 'none' as Readiness }) },
  { weight: 1, arbitrary: fc.constant({ mode: 'fail' as Mode, readiness: 'notify' as Readiness }) },
  { weight: 1, arbitrary: fc.constant({ mode: 'errno' as Mode, readiness: 'notify' as Readiness }) },
  { weight: 1, arbitrary: fc.constant({ mode: 'never' as Mode, readiness: 'notify' as Readiness }) },
)
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ at, how, delay: fc.integer({ min: 0, max: 150 }) }).map(({ at, how, delay }) => ({ kind: 'spawn' as const, at, ...how, delay })),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('stop' as const), at }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('kill' as const), at }) },
)
const scheduleArb: fc.Arbitrary<Schedule> = fc.array(fc.array(opArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 4 })

const sp = (mode: Mode = 'notify', readiness: Readiness = 'notify', delay = 0, when = 0): Op => ({ kind: 'spawn', at: when, mode, readiness, delay })
/** Known shapes first (sole's examples): simultaneous starts, kill-and-restart, stop-and-restart. */
const EXAMPLES: Schedule[] = [
  [[sp(), sp(), sp('quiet', 'exec'), sp()]],
  [[sp()], [{ kind: 'kill', at: 0 }, sp('notify', 'notify', 0, 0), sp('notify', 'notify', 0, 0)]],
  [[sp('quiet', 'exec')], [{ kind: 'stop', at: 0 }, sp(), sp('quiet', 'none')]],
  [[sp('fail'), sp('never'), sp('errno')], [sp(), { kind: 'kill', at: 30 }]],
]

function describe(op: Op): string {
  return op.kind === 'spawn' ? `spawn(${op.mode}/${op.readiness}${op.delay ? ` +${op.delay}ms` : ''})` : op.kind
}

// ---- the outside view -----------------------------------------------------------------------

const PF_EXITING = 0x4

function procStat(pid: number): { state: string; ppid: number; flags: number; start: string } | null {
  let s: string
  try {
    s = fs.readFileSync(`/proc/${pid}/stat`, 'latin1')
  } catch {
    return null
  }
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
  return { state: f[0], ppid: Number(f[1]), flags: Number(f[6]), start: f[19] }
}

/** Alive: not gone, not a zombie, not dead, not already exiting. */
function live(pid: number): boolean {
  const p = procStat(pid)
  return p !== null && !['Z', 'X', 'x'].includes(p.state) && !(p.flags & PF_EXITING)
}

/** Gone or a zombie: its descriptors (and so its flocks) are closed. */
function finished(pid: number): boolean {
  const p = procStat(pid)
  return p === null || p.state === 'Z' || p.state === 'X' || p.state === 'x'
}

/** Is `pid` this process's child or grandchild (an unready daemon under its intermediate)? */
function descendant(pid: number): boolean {
  let p = pid
  for (let i = 0; i < 3; i++) {
    const s = procStat(p)
    if (!s) return false
    if (s.ppid === process.pid) return true
    p = s.ppid
  }
  return false
}

/** Every process whose command line names `dir` (the run's daemons, whoever started them). */
function processesOf(dir: string): number[] {
  const out: number[] = []
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      if (fs.readFileSync(`/proc/${e}/cmdline`, 'latin1').split('\0').includes(dir)) out.push(Number(e))
    } catch {
      // gone meanwhile
    }
  }
  return out
}

/** Pids the kernel lists as holding a flock on `file` (/proc/locks, by device and inode). */
function flockHolders(file: string): number[] {
  let st: fs.Stats
  try {
    st = fs.statSync(file)
  } catch {
    return []
  }
  // st_dev as the kernel prints it: major and minor in hex (glibc's encoding of dev_t).
  const major = Number((BigInt(st.dev) >> 8n) & 0xfffn)
  const minor = Number((BigInt(st.dev) & 0xffn) | ((BigInt(st.dev) >> 12n) & 0xfff00n))
  const want = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${st.ino}`
  const out: number[] = []
  for (const line of fs.readFileSync('/proc/locks', 'latin1').split('\n')) {
    const f = line.trim().split(/\s+/)
    if (f[1] === 'FLOCK' && f[5] === want) out.push(Number(f[4]))
  }
  return out
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  for (;;) {
    if (cond()) return true
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, 10))
  }
}

interface OracleLog {
  starts: number[]
  overlaps: [number, number][]
  stuck: number[]
}

function readOracle(dir: string): OracleLog {
  const out: OracleLog = { starts: [], overlaps: [], stuck: [] }
  let text = ''
  try {
    text = fs.readFileSync(path.join(dir, 'oracle'), 'utf8')
  } catch {
    return out
  }
  for (const line of text.split('\n')) {
    const [kind, a, b] = line.split(' ')
    if (kind === 'start') out.starts.push(Number(a))
    else if (kind === 'overlap') out.overlaps.push([Number(a), Number(b)])
    else if (kind === 'stuck') out.stuck.push(Number(a))
  }
  return out
}

// ---- spawners ------------------------------------------------------------------------------

interface Run {
  dir: string
  pidfile: string
}
interface Spawner {
  name: string
  /** Whether its pidfile is a lock readPidfile can judge (the pidfile checks apply). */
  locked: boolean
  spawn(run: Run, op: Extract<Op, { kind: 'spawn' }>, timeoutMs: number): Promise<{ pid: number }>
  /** Stop the holder gracefully: the outcome, and the pid it concerned (if any). */
  stop(run: Run): Promise<{ outcome: string; pid?: number }>
  /** SIGKILL the current holder and wait for its end; its pid, or null when nobody held. */
  kill(run: Run, violations: Violation[]): Promise<number | null>
}

function fixtureArgs(run: Run, op: Extract<Op, { kind: 'spawn' }>): string[] {
  return [FIXTURE, run.dir, op.mode, String(op.delay)]
}

const SOLE: Spawner = {
  name: 'sole spawnDaemon',
  locked: true,
  spawn: (run, op, timeoutMs) =>
    sole.spawnDaemon({
      command: PYTHON,
      args: fixtureArgs(run, op),
      pidfile: run.pidfile,
      stderr: path.join(run.dir, 'stderr'),
      readiness: op.readiness,
      timeoutMs,
    }),
  async stop(run) {
    // SIGTERM to the verified holder (never a recycled pid), SIGKILL after the timeout.
    const r = await sole.stopDaemon(run.pidfile, { timeoutMs: STOP_TIMEOUT_MS })
    return { outcome: r.outcome, ...(r.pid === null ? {} : { pid: r.pid }) }
  },
  async kill(run, violations) {
    const s = sole.readPidfile(run.pidfile, { handle: true })
    if (s.state !== 'held' || !s.handle) return null
    const h = s.handle
    try {
      try {
        h.kill()
      } catch (err) {
        if ((err as sole.SoleError).code === 'ENOTFOUND') return s.pid
        throw err
      }
      await h.waitForExit({ timeoutMs: STOP_TIMEOUT_MS })
    } finally {
      h.close()
    }
    // The kernel released its lock with its descriptors, before the pidfd said "exited".
    const after = sole.readPidfile(run.pidfile)
    if (after.state === 'held' && after.pid === s.pid) {
      violations.push({ kind: 'pidfile', message: `pid ${s.pid} was SIGKILLed and has exited, yet readPidfile still names it the holder` })
    }
    // And no other process kept that lock alive: the kernel lists no flock of the dead pid
    // (its lock would outlive it if its open file description had leaked into another
    // process, e.g. a concurrent start's intermediate process).
    if (flockHolders(run.pidfile).includes(s.pid)) {
      violations.push({ kind: 'pidfile', message: `pid ${s.pid} was SIGKILLed and has exited, yet /proc/locks still lists its flock on the pidfile: another process keeps its open file description` })
    }
    return s.pid
  },
}

/** The pid in a plain pidfile, or null. */
function contentPid(p: string): number | null {
  try {
    const n = Number.parseInt(fs.readFileSync(p, 'utf8'), 10)
    return Number.isInteger(n) && n > 0 ? n : null
  } catch {
    return null
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** What daemonize-process users do: check-then-act on a plain pidfile, no lock. */
const BROKEN: Spawner = {
  name: 'broken spawner (child_process.spawn detached + unlocked pidfile)',
  locked: false,
  async spawn(run, op) {
    const old = contentPid(run.pidfile)
    if (old !== null && alive(old)) {
      throw Object.assign(new Error(`already running as PID ${old}`), { code: 'EHELD', pid: old })
    }
    const env = { ...process.env }
    delete env.NOTIFY_SOCKET
    const err = fs.openSync(path.join(run.dir, 'stderr'), 'a')
    try {
      const child = spawnChild(PYTHON, fixtureArgs(run, op), { detached: true, stdio: ['ignore', 'ignore', err], env })
      await once(child, 'spawn')
      child.unref()
      fs.writeFileSync(run.pidfile, `${child.pid}\n`)
      return { pid: child.pid as number }
    } finally {
      fs.closeSync(err)
    }
  },
  async stop(run) {
    const pid = contentPid(run.pidfile)
    if (pid === null || !alive(pid)) return { outcome: 'not-running' }
    process.kill(pid, 'SIGTERM')
    await until(() => finished(pid), STOP_TIMEOUT_MS)
    return { outcome: 'terminated', pid }
  },
  async kill(run) {
    const pid = contentPid(run.pidfile)
    if (pid === null || !alive(pid)) return null
    process.kill(pid, 'SIGKILL')
    await until(() => finished(pid), STOP_TIMEOUT_MS)
    return pid
  },
}

// ---- one schedule ---------------------------------------------------------------------------

interface Violation {
  kind: 'overlap' | 'code' | 'hang' | 'pidfile' | 'stop' | 'cleanup'
  message: string
}
interface Result {
  violations: Violation[]
  timeline: string[]
  stats: Record<string, number>
}

const DOCUMENTED = new Set(['EHELD', 'EDAEMON', 'ETIMEDOUT'])
const STAGES = new Set(['setup', 'exec', 'startup'])

function withHangGuard<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what} did not settle within ${ms} ms`), { code: 'HANG' })), ms)
  })
  return Promise.race([p, guard]).finally(() => clearTimeout(timer))
}

async function runSchedule(spawner: Spawner, schedule: Schedule): Promise<Result> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sole-dsched-'))
  const run: Run = { dir, pidfile: path.join(dir, 'daemon.pid') }
  const violations: Violation[] = []
  const timeline: string[] = []
  const stats: Record<string, number> = {}
  const count = (k: string): void => {
    stats[k] = (stats[k] ?? 0) + 1
  }
  const t0 = Date.now()
  const note = (s: string): void => {
    timeline.push(`${String(Date.now() - t0).padStart(5)}ms ${s}`)
  }
  /** Pids this run knows as its daemons (resolved, named by errors, in the oracle log). */
  const known = new Set<number>()
  const held: { pid: number; op: string }[] = []
  let opNo = 0

  async function spawnOp(op: Extract<Op, { kind: 'spawn' }>, wave: Op[], name: string): Promise<void> {
    const timeoutMs = op.mode === 'never' ? NEVER_TIMEOUT_MS : SPAWN_TIMEOUT_MS
    // What can end a holder during this wave: a stop or a kill, and a start whose daemon ends
    // before it is ready (it exits, sends ERRNO=, or never becomes ready and is killed at its
    // timeout), having held the pidfile for a moment.
    const endedInWave = wave.some((o) => o.kind !== 'spawn' || ['fail', 'errno', 'never'].includes(o.mode))
    try {
      const r = await withHangGuard(spawner.spawn(run, op, timeoutMs), timeoutMs + HANG_MARGIN_MS, name)
      known.add(r.pid)
      count('resolved')
      note(`${name} -> resolved pid ${r.pid}`)
      if (!spawner.locked) return
      if (op.readiness === 'notify' && ['fail', 'errno', 'never'].includes(op.mode)) {
        violations.push({ kind: 'code', message: `${name} resolved pid ${r.pid}, but its daemon never sends READY=1` })
      }
      if (op.readiness !== 'none') {
        const s = sole.readPidfile(run.pidfile)
        const holds = s.state === 'held' && s.pid === r.pid
        // A stop or kill of the same wave may have ended it already: then it must be dead.
        if (!holds && !(endedInWave && !live(r.pid))) {
          violations.push({ kind: 'pidfile', message: `${name} resolved pid ${r.pid} (readiness ${op.readiness}), but readPidfile says ${JSON.stringify(s.state === 'held' ? { state: s.state, pid: s.pid } : s)} (pid ${r.pid} ${live(r.pid) ? 'alive' : 'dead'})` })
        }
      }
    } catch (e) {
      const err = e as sole.SoleError & { stage?: string; exitCode?: number }
      count(`rejected ${err.code}`)
      note(`${name} -> ${err.code}${err.stage ? ` stage ${err.stage}` : ''}${err.pid ? ` pid ${err.pid}` : ''}${err.exitCode !== undefined ? ` exitCode ${err.exitCode}` : ''}`)
      if (err.code === 'HANG') {
        violations.push({ kind: 'hang', message: err.message })
        return
      }
      if (!DOCUMENTED.has(String(err.code))) {
        violations.push({ kind: 'code', message: `${name} rejected with an undocumented code ${String(err.code)}: ${err.message}` })
        return
      }
      if (typeof err.pid === 'number' && err.code !== 'EHELD') known.add(err.pid)
      if (err.code === 'EHELD') {
        if (typeof err.pid !== 'number') {
          // Documented: the claim was refused, and the holder was gone when the refusal was
          // read ("is free now: start again"). Only a stop or kill of the same wave can end
          // the holder in that instant; otherwise the lock outlived its holder.
          if (!endedInWave) violations.push({ kind: 'code', message: `${name}: EHELD without err.pid, and nothing of this wave ended the holder: ${err.message}` })
        } else {
          held.push({ pid: err.pid, op: name })
          // Its holder is one of this run's daemons: unready ones are still under their
          // intermediate process (our grandchildren); the others are checked at the end.
          if (descendant(err.pid)) known.add(err.pid)
        }
      }
      if (err.code === 'EDAEMON' && !STAGES.has(String(err.stage))) {
        violations.push({ kind: 'code', message: `${name}: EDAEMON with stage ${String(err.stage)}` })
      }
      if (spawner.locked && op.mode === 'fail' && op.readiness === 'notify' && err.code === 'EDAEMON' && err.stage === 'startup' && !endedInWave && err.exitCode !== 3) {
        violations.push({ kind: 'code', message: `${name}: its daemon exited 3 before READY=1, but exitCode is ${String(err.exitCode)}` })
      }
      // The fixture exits only with 3 (mode 'fail') or by a signal: any other exit code is a
      // start sequence failure (75: the pidfile was held) misreported as a startup failure.
      if (err.code === 'EDAEMON' && err.exitCode !== undefined && !(op.mode === 'fail' && err.exitCode === 3)) {
        violations.push({ kind: 'code', message: `${name}: EDAEMON stage ${String(err.stage)} with exitCode ${err.exitCode}, which the daemon never exits with (75 is the pipe code of a held pidfile: that is EHELD)` })
      }
      if (err.code === 'ETIMEDOUT' && typeof err.pid === 'number' && !finished(err.pid)) {
        violations.push({ kind: 'code', message: `${name}: ETIMEDOUT, yet its unready daemon pid ${err.pid} still runs` })
      }
    }
  }

  async function stopOp(name: string): Promise<void> {
    try {
      const r = await withHangGuard(spawner.stop(run), STOP_TIMEOUT_MS + HANG_MARGIN_MS, name)
      count(`stop ${r.outcome}`)
      note(`${name} -> ${r.outcome}${r.pid ? ` pid ${r.pid}` : ''}`)
      if (!['terminated', 'killed', 'not-running'].includes(r.outcome)) {
        violations.push({ kind: 'stop', message: `${name} resolved an unknown outcome ${r.outcome}` })
      } else if (r.outcome !== 'not-running' && typeof r.pid === 'number' && !finished(r.pid)) {
        violations.push({ kind: 'stop', message: `${name} says ${r.outcome}, yet pid ${r.pid} still runs` })
      }
    } catch (e) {
      const err = e as sole.SoleError
      note(`${name} -> rejected ${err.code}`)
      violations.push({ kind: err.code === 'HANG' ? 'hang' : 'stop', message: `${name} rejected (${err.code}): ${err.message}` })
    }
  }

  async function killOp(name: string): Promise<void> {
    try {
      const pid = await withHangGuard(spawner.kill(run, violations), STOP_TIMEOUT_MS + HANG_MARGIN_MS, name)
      count(pid === null ? 'kill: nobody' : 'kill')
      note(`${name} -> ${pid === null ? 'nobody held it' : `SIGKILLed pid ${pid}`}`)
    } catch (e) {
      const err = e as sole.SoleError
      note(`${name} -> rejected ${err.code}`)
      violations.push({ kind: err.code === 'HANG' ? 'hang' : 'stop', message: `${name} rejected (${err.code}): ${err.message}` })
    }
  }

  try {
    for (const [w, wave] of schedule.entries()) {
      await Promise.all(
        wave.map(async (op) => {
          const name = `w${w}#${opNo++} ${describe(op)}`
          if (op.at) await new Promise((r) => setTimeout(r, op.at))
          note(`${name} starts`)
          if (op.kind === 'spawn') return spawnOp(op, wave, name)
          if (op.kind === 'stop') return stopOp(name)
          return killOp(name)
        }),
      )
    }
    // Every daemon still running gets to probe (a start or an overlap line) before the end.
    await until(() => {
      const o = readOracle(dir)
      const seen = new Set([...o.starts, ...o.overlaps.map(([a]) => a), ...o.stuck])
      return processesOf(dir).every((p) => seen.has(p) || !live(p))
    }, 3_000)
  } finally {
    // Kill everything: the holder through its verified handle (then the pidfile must be free
    // at once), then every process of this run.
    if (spawner.locked) {
      const v: Violation[] = []
      const pid = await spawner.kill(run, v).catch((e: Error) => {
        v.push({ kind: 'cleanup', message: `killing the holder failed: ${e.message}` })
        return null
      })
      violations.push(...v)
      if (pid !== null) note(`end: SIGKILLed the holder pid ${pid}`)
    }
    for (const p of processesOf(dir)) {
      try {
        process.kill(p, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    const all = processesOf(dir)
    if (!(await until(() => all.every(finished), 5_000))) {
      violations.push({ kind: 'cleanup', message: `processes of the run still alive after SIGKILL: ${all.filter((p) => !finished(p)).join(', ')}` })
    }
    if (spawner.locked) {
      const s = sole.readPidfile(run.pidfile)
      if (s.state === 'held') violations.push({ kind: 'pidfile', message: `every daemon was killed, yet readPidfile says held by pid ${s.pid}` })
      const left = flockHolders(run.pidfile)
      if (left.length) violations.push({ kind: 'pidfile', message: `every daemon was killed, yet /proc/locks lists a flock on the pidfile (pid ${left.join(', ')})` })
    }
  }

  const o = readOracle(dir)
  for (const p of [...o.starts, ...o.overlaps.map(([a]) => a)]) known.add(p)
  for (const [a, b] of o.overlaps) {
    violations.push({ kind: 'overlap', message: `oracle: daemon pid ${a} found the probe held by live daemon pid ${b}: two daemons of one pidfile ran at once` })
  }
  for (const p of o.stuck) violations.push({ kind: 'overlap', message: `oracle: daemon pid ${p} found the probe held by exiting holders for 5 s` })
  for (const h of held) {
    if (!known.has(h.pid)) violations.push({ kind: 'code', message: `${h.op}: EHELD names pid ${h.pid}, which is none of this run's daemons` })
  }
  stats.daemons = o.starts.length + o.overlaps.length
  note(`oracle: ${o.starts.length} starts, ${o.overlaps.length} overlaps`)
  fs.rmSync(dir, { recursive: true, force: true })
  return { violations, timeline, stats }
}

// ---- the property, within a budget ----------------------------------------------------------

interface Report {
  failed: boolean
  executed: number
  skipped: number
  seed: number
  path: string | null
  first: Violation | null
  last: { schedule: Schedule; result: Result } | null
  stats: Record<string, number>
  ms: number
}

class ScheduleFailed extends Error {}

async function check(spawner: Spawner, o: { budgetMs: number; shrinkBudgetMs: number; examples: boolean; replayable: boolean }): Promise<Report> {
  const seedEnv = process.env.SOLE_DAEMON_SCHED_SEED
  const pathEnv = process.env.SOLE_DAEMON_SCHED_PATH
  const replay = o.replayable && seedEnv !== undefined && seedEnv !== '' && pathEnv !== undefined
  const started = Date.now()
  const deadline = started + o.budgetMs
  let shrinkDeadline = Infinity
  const out: Report = { failed: false, executed: 0, skipped: 0, seed: 0, path: null, first: null, last: null, stats: {}, ms: 0 }
  const prop = fc.asyncProperty(scheduleArb, async (schedule) => {
    const now = Date.now()
    if (replay ? out.executed >= 1 : out.first ? now > shrinkDeadline : now > deadline) {
      out.skipped++ // budget spent: not run, never counted as a pass
      return true
    }
    const result = await runSchedule(spawner, schedule)
    out.executed++
    for (const [k, v] of Object.entries(result.stats)) out.stats[k] = (out.stats[k] ?? 0) + v
    if (result.violations.length) {
      if (!out.first) {
        out.first = result.violations[0]
        shrinkDeadline = Date.now() + o.shrinkBudgetMs
      }
      out.last = { schedule, result }
      throw new ScheduleFailed(result.violations.map((v) => v.message).join('; '))
    }
    return true
  })
  const params = replay
    ? { seed: Number(seedEnv), path: pathEnv, endOnFailure: true }
    : { numRuns: 10_000, ...(o.examples ? { examples: EXAMPLES.map((s) => [s] as [Schedule]) } : {}) }
  const details = await fc.check(prop, params)
  return { ...out, failed: details.failed, seed: details.seed, path: details.counterexamplePath, ms: Date.now() - started }
}

function format(spawner: Spawner, r: Report): string {
  const lines = [
    `${spawner.name}: ${r.executed} schedules in ${r.ms} ms (${r.skipped} skipped for budget), seed ${r.seed}`,
    `  outcomes: ${Object.entries(r.stats).map(([k, v]) => `${k} ${v}`).join(', ')}`,
  ]
  if (r.last) {
    lines.push(
      `  FAILED: ${r.last.result.violations.map((v) => `[${v.kind}] ${v.message}`).join('\n          ')}`,
      `  replay: SOLE_DAEMON_SCHED_SEED=${r.seed} SOLE_DAEMON_SCHED_PATH='${r.path}' npx ava __test__/daemon-schedules.spec.ts`,
      `  shrunk schedule: ${r.last.schedule.map((w) => `[${w.map((op) => `${describe(op)}@${op.at}`).join(', ')}]`).join(' ; ')}`,
      '  timeline:',
      ...r.last.result.timeline.map((l) => `    ${l}`),
    )
  }
  return lines.join('\n')
}

// ---- tests ----------------------------------------------------------------------------------

const pyTest = HAVE_PYTHON ? test.serial : test.serial.skip
if (!HAVE_PYTHON) {
  test('python3 (the daemon fixture) is missing: the schedule tests are skipped', (t) => {
    t.log(`no usable ${PYTHON} (with fcntl and socket): install python3 to run daemon-schedules`)
    t.pass()
  })
}

pyTest('four simultaneous spawnDaemon on one pidfile: exactly one resolves, the others reject EHELD naming it', async (t) => {
  t.timeout(30_000)
  const ops: Op[] = [sp(), sp(HAVE_SYSTEMD_NOTIFY ? 'systemd-notify' : 'notify'), sp('quiet', 'exec'), sp()]
  const r = await runSchedule(SOLE, [ops])
  t.log(r.timeline.join('\n'))
  t.deepEqual(r.violations, [])
  t.is(r.stats.resolved, 1, 'exactly one start won')
  t.is(r.stats['rejected EHELD'], 3, 'the three others were refused')
  const winner = Number(/resolved pid (\d+)/.exec(r.timeline.join('\n'))?.[1])
  const named = [...r.timeline.join('\n').matchAll(/EHELD pid (\d+)/g)].map((m) => Number(m[1]))
  t.deepEqual(named, [winner, winner, winner], 'each refusal names the winner')
  t.is(r.stats.daemons, 1, 'the oracle saw one daemon start')
})

pyTest('sole spawnDaemon: at most one daemon per pidfile, documented outcomes only, under generated concurrent schedules', async (t) => {
  t.timeout(SOLE_BUDGET_MS + SHRINK_BUDGET_MS + 60_000)
  const r = await check(SOLE, { budgetMs: SOLE_BUDGET_MS, shrinkBudgetMs: SHRINK_BUDGET_MS, examples: true, replayable: true })
  t.log(format(SOLE, r))
  t.false(r.failed, `sole broke a property (see the report above)`)
  if (!process.env.SOLE_DAEMON_SCHED_SEED) {
    t.true(r.executed >= EXAMPLES.length + 3, `only ${r.executed} schedules ran in ${SOLE_BUDGET_MS} ms`)
    // The schedules really raced: starts were refused, killed, stopped, and daemons ran.
    t.true((r.stats['rejected EHELD'] ?? 0) >= 1, 'no start was ever refused EHELD')
    t.true((r.stats.kill ?? 0) >= 1, 'no holder was ever SIGKILLed')
    t.true((r.stats['stop terminated'] ?? 0) + (r.stats['stop killed'] ?? 0) >= 1, 'no holder was ever stopped')
    t.true((r.stats.daemons ?? 0) >= EXAMPLES.length, 'fewer daemons started than examples ran')
  }
})

pyTest('proof of power: the same schedules catch a broken spawner (spawn detached + unlocked pidfile) running two daemons at once', async (t) => {
  t.timeout(BROKEN_BUDGET_MS + SHRINK_BUDGET_MS + 60_000)
  const r = await check(BROKEN, { budgetMs: BROKEN_BUDGET_MS, shrinkBudgetMs: SHRINK_BUDGET_MS, examples: false, replayable: false })
  t.log(format(BROKEN, r))
  t.true(r.failed, `no counterexample against the broken spawner in ${r.executed} schedules (${BROKEN_BUDGET_MS} ms)`)
  // Caught by the daemons' own oracle (a live second daemon holding the probe), not by
  // bookkeeping in this process.
  t.is(r.first?.kind, 'overlap')
  t.regex(r.last?.result.violations.find((v) => v.kind === 'overlap')?.message ?? '', /found the probe held by live daemon pid \d+/)
  t.truthy(r.path, 'the report names a replay path')
})

/**
 * Two starts on two pidfiles, called in the same tick: each start's fork may happen on its
 * thread while the other start's prepared descriptors (its error pipe's write end, its
 * pidfile) are still open in this process, so a forked intermediate process inherits them.
 * Kept there, they would make one start wait for the other: "exec succeeded" is the EOF of
 * the error pipe (which the other intermediate keeps open until that start ends), and a
 * SIGKILLed daemon's pidfile lock would live on in the other intermediate process.
 */
test.serial('concurrent starts keep nothing of each other: exec readiness does not wait for the other start, a killed daemon frees its pidfile at once', async (t) => {
  t.timeout(60_000)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sole-dsched-pair-'))
  /** Every daemon started here (A's are killed by their timeout; a failure may leave B's). */
  const started = new Set<number>()
  t.teardown(() => {
    for (const p of started) {
      if (!finished(p)) process.kill(p, 'SIGKILL')
    }
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const NEVER_READY_MS = 1_500
  for (let round = 0; round < 8; round++) {
    const pa = path.join(dir, `a${round}.pid`)
    const pb = path.join(dir, `b${round}.pid`)
    const readiness = round % 2 || !HAVE_SYSTEMD_NOTIFY ? ('exec' as const) : ('notify' as const)
    const startA = (): Promise<unknown> =>
      sole.spawnDaemon({ command: 'sh', args: ['-c', 'exec sleep 30', dir], pidfile: pa, timeoutMs: NEVER_READY_MS })
    const startB = (): Promise<sole.DaemonStarted> =>
      sole.spawnDaemon({ command: 'sh', args: ['-c', `${readiness === 'notify' ? 'systemd-notify --ready; ' : ''}exec sleep 30`, dir], pidfile: pb, readiness, timeoutMs: 10_000 })
    let a: Promise<unknown>
    let b: Promise<sole.DaemonStarted>
    if (round % 4 < 2) {
      a = startA()
      b = startB()
    } else {
      b = startB()
      a = startA()
    }
    const aDone = a.then(
      () => 'a resolved',
      (e: sole.SoleError) => `a ${e.code}`,
    )
    const first = await Promise.race([aDone, b.then(() => 'b')])
    t.is(first, 'b', `round ${round}: start B (readiness ${readiness}) waited for start A's ${NEVER_READY_MS} ms timeout`)
    const bStarted = await b
    started.add(bStarted.pid)
    const s = sole.readPidfile(pb, { handle: true })
    t.true(s.state === 'held' && s.pid === bStarted.pid, `round ${round}: B holds its pidfile`)
    if (s.state === 'held' && s.handle) {
      s.handle.kill()
      await s.handle.waitForExit({ timeoutMs: 5_000 })
      s.handle.close()
    }
    // A is still pending (not ready, not timed out yet) when this is checked.
    const aPending = await Promise.race([aDone, Promise.resolve('pending')])
    const leaked = flockHolders(pb).includes(bStarted.pid)
    t.false(leaked, `round ${round}: B (pid ${bStarted.pid}) exited, yet its flock on ${pb} lives on (A pending: ${aPending === 'pending'})`)
    let claimed: sole.Pidfile | undefined
    t.notThrows(() => {
      claimed = sole.claimPidfile(pb)
    }, `round ${round}: B's pidfile can be claimed at once after B's death`)
    claimed?.release()
    t.is(await aDone, 'a ETIMEDOUT')
  }
})
