// The coordinator: runs one generated schedule against one strategy with real worker
// processes (`worker.mjs`), keeps the ownership record, checks every report against it, and
// writes a readable timeline (one line per step: `t3 w2 acquire(blocking, ex) -> waiting`).
//
// Which race each step is designed to expose:
// - try / block: plain contention; a blocking waiter sits on the lock while later steps
//   release, kill or re-acquire around it (the unlink race, docs/races.md R1, needs exactly a waiter on
//   the old inode and a newcomer).
// - release / kill (SIGKILL) / exit (without releasing): ownership ends in each way a process
//   can end it; a killed owner leaves a stale file and a stale sentinel behind (the O_EXCL
//   stale-reclaim race, docs/races.md R2, needs a dead owner's file and two reclaimers).
// - race: several workers armed on a barrier FIFO and released by one write(2), so that
//   acquisitions (try and blocking, exclusive and shared), a holder's release, a third-party
//   read and a SIGKILL of the holder all happen in the same instant. This is the step that
//   produces real interleavings instead of a sequence of turns.
// - read: a third process calls readPidfile; a `held` pid must be a current owner (or a
//   worker whose blocking acquire is in flight), never a dead process or a non-owner; for
//   flock strategies a settled owner must be seen, and a pidfile must name its owner. An
//   `unverified` pid (a live pid the file names without proof) is not an ownership claim, but
//   it must not be a dead worker. For sole's real strategies a `held` must come from the
//   kernel (`locked: true`) and carry the holder's own identity.
// - reuse (pidfiles, issue 3): after an owner died holding the pidfile (SIGKILL or exit; its
//   pid and identity record remain), and while no worker holds or waits for the lock, the
//   coordinator (holding nothing; with `kill`, after SIGKILLing the waiters and then the
//   holder itself) rewrites the pid record to name a live unrelated process
//   (the run's decoy, a `sleep`), as pid reuse or a tampering tool would leave it:
//   `content-only` rewrites the content in place (same inode, the old xattr stays: its pid no
//   longer matches), `reused-pid` also rewrites the xattr to the decoy's pid with the dead
//   owner's start time and `lock=flock` (exactly how a reused pid looks), `foreign-record`
//   the same without `lock=flock` (another tool's record: judged by start time). The reader
//   then reads at once: it must never call the decoy the owner, nor report `held` at all
//   (nobody holds the lock). Later acquires must claim the file as usual (a `try` with no
//   holder and no waiter must succeed, and the content must then name the new owner).
// - pause (issue 16): a holder is SIGSTOPped for 250 ms .. 4 s (the step's content, not a
//   synchronisation) while idle workers try or block-acquire at chosen points of the pause
//   and the reader may read; then SIGCONT, and the resumed holder `touch`es: it re-checks its
//   sentinel inside what it believes is still its critical section. This is the paused-holder
//   race (docs/races.md R32): a lease or heartbeat lock decides the frozen holder is gone and
//   hands the lock over, and the holder, resumed, writes beside the new owner. A kernel lock
//   keeps a stopped holder's lock (waiters wait, tries are refused, the reader names it). A
//   stopped worker is sent no IPC; SIGCONT is in a finally (teardown SIGKILLs, which a stopped
//   process does not ignore); time spent stopped is not counted by REPLY_MS or LIVENESS_MS.
//   A schedule pauses at most MAX_PAUSED_PER_RUN_MS in all (later pauses are skipped).
// - await: when the record says a waiter could proceed, one must acquire within
//   LIVENESS_MS (a generous liveness bound, never a timing assertion). The end of every run
//   drains: all holders release, and every waiter must get the lock in turn.
//
// Safety is judged twice, neither time trusting the library: by the sentinel each owner
// writes in its critical section (oracle.mjs), and here, by the record built only from the
// workers' own reports. Steps are sequenced by acknowledgements; nothing here sleeps to
// synchronise (a pause's duration is what the step tests, and a stopped process, which cannot
// say it has stopped, is watched in /proc).
import { fork, execFileSync, spawn } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { setTimeout as delay } from 'node:timers/promises'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { procStat } from './oracle.mjs'

const WORKER = fileURLToPath(new URL('./worker.mjs', import.meta.url))
/** A waiter whose lock is free must get it within this bound (liveness, not timing). */
export const LIVENESS_MS = 10_000
/** Safety net for a worker that stops answering at all (time stopped by a pause excluded). */
const REPLY_MS = 20_000
/** At most this much pause time per schedule (later pause steps are skipped): within budget. */
export const MAX_PAUSED_PER_RUN_MS = 4_000
/** The pidfile's identity record (see crates/pidfile: `sole-identity/1 pid= start= boot= [lock=flock]`). */
const RECORD_XATTR = 'user.sole.identity'
/**
 * Read (and, given a 3rd argument, replace) an extended attribute: Node has no xattr API and
 * there is no setfattr binary. Prints `set`, `kept` or `unsupported`, a newline, the old value.
 */
const XATTR_PY = `import errno, os, sys
p, name = sys.argv[1], sys.argv[2]
try:
    old = os.getxattr(p, name).decode('latin-1')
except OSError as e:
    if e.errno not in (errno.ENODATA, errno.EOPNOTSUPP): raise
    old = ''
status = 'kept'
if len(sys.argv) > 3:
    try:
        os.setxattr(p, name, sys.argv[3].encode())
        status = 'set'
    except OSError as e:
        if e.errno != errno.EOPNOTSUPP: raise
        status = 'unsupported'
sys.stdout.write(status + '\\n' + old)
`
/** What readPidfile documents for each reuse variant (a mismatch that is not `held` is only noted). */
const REUSE_DOCUMENTED = {
  'content-only': 'free/not-locked',
  'reused-pid': 'free/not-locked',
  'foreign-record': 'free/pid-reused',
}

/** Every worker process alive, across runs, so a test teardown can kill them all. */
const alive = new Set()
export function killAllWorkers() {
  for (const c of alive) c.kill('SIGKILL')
  alive.clear()
}

class Failure extends Error {
  constructor(kind, message) {
    super(message)
    this.kind = kind
  }
}

const modeName = (shared) => (shared ? 'sh' : 'ex')
/**
 * Run `p` with a deadline; `onLate` builds the failure when it passes. `paused()` (ms, only
 * ever growing) is the time workers spent deliberately stopped by pause steps: the deadline
 * moves by that much, so a bound never counts time its subject was frozen on purpose.
 */
async function within(ms, p, onLate, paused = () => 0) {
  let timer
  const late = new Promise((_, reject) => {
    const arm = (wait, base) => {
      timer = setTimeout(() => {
        const extra = paused() - base
        if (extra > 0) arm(extra, base + extra)
        else reject(onLate())
      }, wait)
    }
    arm(ms, paused())
  })
  try {
    return await Promise.race([p, late])
  } finally {
    clearTimeout(timer)
  }
}

/** One worker process (one incarnation of a slot). */
class Proc {
  constructor(run, slot, gen) {
    this.run = run
    this.slot = slot
    this.gen = gen
    this.label = slot === 'r' ? 'reader' : `w${slot}${gen ? `#${gen + 1}` : ''}`
    /** idle | waiting | holding | dead */
    this.state = 'idle'
    this.shared = false
    /** A release, kill or exit is in flight: no longer counted as an owner by the record. */
    this.leaving = false
    /** SIGSTOPped by a pause step: sent no IPC until SIGCONT (it could not answer). */
    this.stopped = false
    this.expectExit = false
    this.pending = new Map()
    this.nextId = 1
    this.child = fork(WORKER, [run.url, run.target, run.oracleDir, run.fifoPath], {
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    alive.add(this.child)
    this.exited = new Promise((resolve) => (this.onExited = resolve))
    this.ready = new Promise((resolve, reject) => {
      this.onReady = resolve
      this.onEarlyExit = reject
    })
    this.child.on('message', (m) => this.message(m))
    this.child.on('error', (err) => run.fail('crash', `${this.label}: ${err.message}`))
    this.child.on('exit', (code, signal) => {
      this.onExited()
      alive.delete(this.child)
      this.state = 'dead'
      if (this.pid) run.dead.set(this.pid, this)
      for (const p of this.pending.values()) p.reject(new Failure('crash', `${this.label} exited while a request was in flight`))
      this.pending.clear()
      this.onEarlyExit(new Failure('crash', `${this.label} exited before it was ready`))
      if (!this.expectExit) run.fail('crash', `${this.label} (pid ${this.pid}) exited unexpectedly (code ${code}, signal ${signal})`)
    })
  }

  message(m) {
    if (m.ready) {
      this.pid = m.pid
      this.start = m.start
      this.onReady(this)
    } else if (m.event) {
      this.run.event(this, m)
    } else {
      const p = this.pending.get(m.id)
      if (!p) return
      if (m.phase === 'armed') return p.armed()
      this.pending.delete(m.id)
      p.resolve(m)
    }
  }

  /** Send a command; resolves with its answer. `armed` is called on a barrier ack. */
  request(msg, armed = () => {}) {
    if (this.state === 'dead') return Promise.reject(new Failure('crash', `${this.label} is dead: cannot ${msg.op}`))
    if (this.stopped) return Promise.reject(new Failure('harness', `${this.label} is stopped (SIGSTOP): no request while it is paused (${msg.op})`))
    const id = this.nextId++
    const p = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject, armed }))
    this.child.send({ ...msg, id })
    // Time any worker spent stopped is not counted: a request never waits on the stopped
    // worker itself, but a stopped holder may delay what it waits behind.
    const paused = () => this.run.pausedMs()
    return within(REPLY_MS, p, () => new Failure('hang', `${this.label} did not answer ${msg.op} within ${REPLY_MS / 1000} s`), paused)
  }
}

class Run {
  constructor(strategy, schedule, opts) {
    this.strict = opts.strict === true
    /** The holder being SIGKILLed in the current race, if any. */
    this.victim = null
    // A loaded strategy (harness/strategy.mjs): `{ name, url, meta }`.
    this.strategy = strategy.name
    this.url = strategy.url
    this.meta = strategy.meta
    if (!this.meta || !this.url) throw new Error(`not a loaded strategy: ${JSON.stringify(strategy)} (use loadStrategy)`)
    this.schedule = schedule
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sole-harness-'))
    this.target = path.join(this.dir, this.meta.file)
    this.oracleDir = path.join(this.dir, 'oracle')
    fs.mkdirSync(path.join(this.oracleDir, 'shared'), { recursive: true })
    this.fifoPath = path.join(this.dir, 'barrier')
    execFileSync('mkfifo', ['-m', '600', this.fifoPath])
    // O_RDWR: never blocks, and keeps the FIFO open for the workers' read ends.
    this.fifo = fs.openSync(this.fifoPath, 'r+')
    this.workers = []
    this.reader = null
    this.timeline = []
    this.failure = null
    this.t = 0
    this.dead = new Map() // pid -> Proc of every worker that has exited
    /** The live unrelated process a `reuse` step plants in the pidfile (spawned on first use). */
    this.decoy = null
    this.progress = new EventEmitter()
    this.stats = { steps: 0, acquisitions: 0, kills: 0, races: 0, reads: 0, waits: 0, reuses: 0, gcs: 0, pauses: 0, anomalies: 0 }
    /** Time workers spent deliberately stopped by pause steps: ended pauses, and the current one's start. */
    this.pausedTotal = 0
    this.pausedSince = null
    this.anomalies = []
    /** Pause time this schedule has used (capped at MAX_PAUSED_PER_RUN_MS). */
    this.pausedThisRun = 0
    /** Observations that break no property but differ from the documentation (reported, never failed). */
    this.notes = []
  }

  log(line) {
    this.timeline.push(line)
  }

  /** Milliseconds workers have spent deliberately stopped so far (see `within`). */
  pausedMs() {
    return this.pausedTotal + (this.pausedSince === null ? 0 : Date.now() - this.pausedSince)
  }

  /**
   * Log a step's line now and complete it when its answer comes: events that arrive
   * meanwhile (a waiter acquiring) are then listed after the step that caused them.
   */
  line(text) {
    const i = this.timeline.push(`${text} -> …`) - 1
    return (result) => {
      this.timeline[i] = `${text} -> ${result}`
    }
  }

  /**
   * Known library issues that break none of the harness's properties (nobody is named
   * falsely, nobody gets in twice), each tolerated only in the narrow situation where it was
   * diagnosed, counted and reported; anywhere else, or with `strict`
   * (SOLE_HARNESS_STRICT=1), they fail the run. Both come from reading /proc/locks:
   * - EUNKNOWNHOLDER from readPidfile, claimPidfile or claimPidfileWhenFree's first attempt
   *   in the instant the holder is being SIGKILLed: the lock is still listed under the group
   *   leader's pid, the leader is already a zombie, another thread of the dying process still
   *   holds the file table (`anomalyUnknownHolder`: only while a race step SIGKILLs a holder).
   * - readPidfile reporting `free` for a held lock when /proc/locks is longer than one page
   *   and other locks on the system change between the page reads (seq_file positions
   *   shift, an entry is skipped). Tolerated only if an immediate second read does see the
   *   holder (the `read` step reads again at once): a lock really lost would be missed again, and
   *   would also let a second owner in, which the sentinel reports.
   */
  tolerate(note) {
    if (this.strict) {
      this.fail('anomaly', `${note} (strict mode)`)
      return
    }
    this.stats.anomalies++
    this.anomalies.push(note)
  }

  anomalyUnknownHolder(what, err) {
    if (err?.code !== 'EUNKNOWNHOLDER' || !this.victim) return false
    this.tolerate(`${what} threw EUNKNOWNHOLDER while ${this.victim.label} (pid ${this.victim.pid}) was being SIGKILLed`)
    return true
  }

  fail(kind, message) {
    if (this.failure) return
    this.failure = { kind, message, atStep: this.t }
    this.log(`!! ${kind.toUpperCase()}: ${message}`)
    this.progress.emit('failure')
  }

  // ---- the ownership record --------------------------------------------------------------

  holders() {
    return this.workers.filter((w) => w.state === 'holding' && !w.leaving)
  }
  waiters() {
    return this.workers.filter((w) => w.state === 'waiting' && !w.leaving)
  }
  idle() {
    return this.workers.filter((w) => w.state === 'idle' && !w.leaving)
  }
  byPid(pid) {
    return [...this.workers, this.reader].find((w) => w && w.pid === pid && w.state !== 'dead')
  }
  who(pid) {
    const w = this.byPid(pid)
    if (w) return `${w.label} (pid ${pid})`
    if (this.dead.has(pid)) return `${this.dead.get(pid).label} (pid ${pid}, dead)`
    if (this.decoy && pid === this.decoy.pid) return `the decoy (pid ${pid}, an unrelated live process planted by reuse at t${this.decoy.plantedAt})`
    return `pid ${pid}`
  }
  /** Can `w`'s request be granted next to the owners the record knows? */
  compatible(w) {
    const hs = this.holders().filter((h) => h !== w)
    return w.shared ? hs.every((h) => h.shared) : hs.length === 0
  }
  mode(shared) {
    return this.meta.shared && shared
  }

  /** A worker reports that it holds the lock: check it against the record and the sentinel. */
  acquired(w, shared, violation) {
    w.state = 'holding'
    w.shared = shared
    this.stats.acquisitions++
    const others = this.holders().filter((h) => h !== w && (!shared || !h.shared))
    const found = []
    if (violation) found.push(`sentinel: ${w.label} (pid ${w.pid}, ${modeName(shared)}) found ${violation}`)
    if (others.length) {
      const list = others.map((h) => `${h.label} (pid ${h.pid}, ${modeName(h.shared)})`).join(', ')
      found.push(`record: ${w.label} acquired ${modeName(shared)} while ${list} held the lock`)
    }
    if (found.length) this.fail('exclusion', found.join('; '))
  }

  event(w, m) {
    if (m.event === 'acquired' && w.state === 'waiting') {
      this.log(`   ${w.label} acquired (blocking, ${modeName(w.shared)}; waiting since t${w.since})`)
      this.acquired(w, w.shared, m.violation)
      this.progress.emit('acquired', w)
    } else if (m.event === 'error') {
      if (w.state === 'waiting') w.state = 'idle'
      if (this.anomalyUnknownHolder(`${w.label}'s blocking acquire`, m.error)) return this.log(`   ${w.label} blocking acquire -> EUNKNOWNHOLDER (the holder is dying: tolerated anomaly)`)
      this.fail('error', `${w.label}'s blocking acquire failed: ${m.error.code ?? ''} ${m.error.message}`)
    }
  }

  /** Resolve when some waiter reports an acquisition; a liveness failure after LIVENESS_MS. */
  async awaitProgress(why) {
    this.stats.waits++
    let onAcq, onFail
    const p = new Promise((resolve) => {
      onAcq = resolve
      onFail = resolve
      this.progress.once('acquired', onAcq)
      this.progress.once('failure', onFail)
    })
    try {
      // The bound excludes time a holder was deliberately stopped (pauses): a waiter behind a
      // SIGSTOPped holder is not slow, it is waiting as it must.
      await within(LIVENESS_MS, p, () => new Failure('liveness', `no waiter acquired within ${LIVENESS_MS / 1000} s ${why}`), () => this.pausedMs())
    } finally {
      this.progress.off('acquired', onAcq)
      this.progress.off('failure', onFail)
    }
  }

  // ---- checks on third-process reads ------------------------------------------------------

  /**
   * Check a third-process read. `inFlight`: workers whose operation may be under way (null
   * for a settled read). With `confirming`, a settled read that misses the holder is not
   * judged here: `missed` is returned and the caller reads again.
   */
  checkRead(r, inFlight, confirming = false) {
    this.stats.reads++
    if (r.result !== 'read') {
      if (this.anomalyUnknownHolder('readPidfile', r.error)) return { text: `EUNKNOWNHOLDER (the holder is dying: tolerated anomaly)` }
      this.fail('read', `readPidfile failed: ${r.error?.code ?? ''} ${r.error?.message}`)
      return { text: 'error' }
    }
    const st = r.state
    const text = describeState(st, (pid) => this.who(pid))
    if (st.state === 'held' && this.decoy && st.pid === this.decoy.pid) {
      this.fail('read', `readPidfile reports ${this.who(st.pid)} as the owner (held, locked: ${st.locked}) although no worker ever let it own anything`)
    } else if (st.state === 'held' && inFlight && [...inFlight].some((w) => w.pid === st.pid)) {
      // Named a worker whose acquire, release or SIGKILL happened in the same instant: fine.
    } else if (st.state === 'held') {
      const w = this.byPid(st.pid)
      if (!w) {
        if (this.dead.has(st.pid)) this.fail('read', `readPidfile named ${this.who(st.pid)}: a dead process`)
        else this.fail('read', `readPidfile named pid ${st.pid}, which is not a worker`)
      } else if (!(w.state === 'holding' || w.state === 'waiting' || inFlight?.has(w))) {
        this.fail('read', `readPidfile named ${w.label}, which neither holds the lock nor waits for it`)
      }
    }
    if (st.state === 'held' && this.meta.real && this.meta.kernelVisible) {
      // sole's own claims: `held` comes from the kernel's flock holder, with its identity.
      const w = this.byPid(st.pid)
      if (st.locked !== true) this.fail('read', `readPidfile says held by ${this.who(st.pid)} without the kernel's lock (locked: ${st.locked})`)
      else if (st.identity && (st.identity.pid !== st.pid || (w?.start !== undefined && String(st.identity.startTime) !== w.start))) {
        this.fail('read', `readPidfile says held by ${this.who(st.pid)} with the identity of pid ${st.identity.pid}, start ${st.identity.startTime} (the worker started at ${w?.start})`)
      } else if (!r.handle) {
        this.fail('read', `readPidfile({ handle: true }) says held by ${this.who(st.pid)} under the lock but gave no handle`)
      } else if (r.handle.pid !== st.pid || (st.identity && r.handle.startTime !== st.identity.startTime)) {
        this.fail('read', `readPidfile({ handle: true }) says held by ${this.who(st.pid)} (start ${st.identity?.startTime}) but its handle is bound to pid ${r.handle.pid}, start ${r.handle.startTime}`)
      }
    }
    if (st.state === 'unverified' && this.dead.has(st.pid) && !this.byPid(st.pid) && !procStat(st.pid)) {
      // A settled read only: the worker died (and was reaped) before the read began.
      if (!inFlight) this.fail('read', `readPidfile says unverified live pid ${this.who(st.pid)}: a dead process`)
    }
    if (inFlight) return { text }
    const hs = this.holders()
    const missed = this.meta.kernelVisible && hs.length > 0 && st.state !== 'held'
    if (missed && confirming) return { text, missed }
    if (missed) {
      this.fail('read', `readPidfile says ${st.state} while ${hs.map((h) => h.label).join(', ')} hold(s) the lock`)
    }
    if (this.meta.pidContent) {
      const c = r.content
      if (hs.length === 1 && c !== hs[0].pid) {
        this.fail('read', `the pidfile names ${typeof c === 'number' ? this.who(c) : JSON.stringify(c)} while ${hs[0].label} (pid ${hs[0].pid}) owns it`)
      } else if (!hs.length && !this.waiters().length && c !== null && !(typeof c === 'number' && (this.dead.has(c) || c === this.decoy?.pid))) {
        this.fail('read', `nobody owns the pidfile but it names ${typeof c === 'number' ? this.who(c) : JSON.stringify(c)}`)
      }
    }
    return { text }
  }

  // ---- processes ---------------------------------------------------------------------------

  async spawn(slot, gen) {
    const w = new Proc(this, slot, gen)
    await within(REPLY_MS, w.ready, () => new Failure('hang', `${w.label} did not start`))
    return w
  }

  /** End `w` (SIGKILL, or a graceful exit without releasing) and start its replacement. */
  async end(w, how, alreadySignalled = false) {
    w.leaving = true
    w.expectExit = true
    w.endedBy = how === 'SIGKILL' ? 'SIGKILLed' : 'exited'
    w.endedAt = this.t
    if (!alreadySignalled) {
      if (how === 'SIGKILL') w.child.kill('SIGKILL')
      else w.child.send({ op: 'exit' })
    }
    await within(REPLY_MS, w.exited, () => new Failure('hang', `${w.label} did not exit after ${how}`))
    this.stats.kills++
    const next = await this.spawn(w.slot, w.gen + 1)
    this.workers[w.slot] = next
    return `${how === 'SIGKILL' ? 'killed' : 'exited'}; ${next.label} = pid ${next.pid}`
  }

  // ---- steps -------------------------------------------------------------------------------

  async step(s) {
    const t = `t${this.t}`
    const pick = (list) => (list.length ? list[s.pick % list.length] : null)
    switch (s.kind) {
      case 'try':
      case 'block': {
        const w = pick(this.idle())
        if (!w) return this.log(`${t} ${s.kind}: every worker holds or waits (skipped)`)
        return this.acquire(w, s.kind, s.shared, t)
      }
      case 'release': {
        const w = pick(this.holders())
        if (!w) return this.log(`${t} release: nobody holds the lock (skipped)`)
        w.leaving = true
        const done = this.line(`${t} ${w.label} release(${modeName(w.shared)})`)
        const r = await w.request({ op: 'release' })
        done(r.result)
        return this.outcome(w, w.shared, r)
      }
      case 'kill': {
        const list = [...this.holders(), ...this.waiters(), ...this.idle()]
        const w = pick(list)
        const was = w.state === 'idle' ? 'idle' : `${w.state} ${modeName(w.shared)}`
        const done = this.line(`${t} ${w.label} ${s.how === 'SIGKILL' ? 'SIGKILL' : 'exit'} (was ${was})`)
        return done(await this.end(w, s.how))
      }
      case 'read': {
        const done = this.line(`${t} reader readPidfile`)
        const first = this.checkRead(await this.reader.request({ op: 'read' }), null, true)
        if (!first.missed) return done(first.text)
        // Missed a holder the record knows: read again at once (see `tolerate`).
        const again = this.checkRead(await this.reader.request({ op: 'read' }), null)
        if (!this.failure) {
          this.tolerate(`readPidfile said ${first.text} while ${this.holders().map((h) => h.label).join(', ')} held the lock; an immediate re-read said ${again.text}`)
        }
        return done(`${first.text} (missed the holder); re-read -> ${again.text}`)
      }
      case 'await': {
        const ws = this.waiters()
        const ready = ws.filter((w) => this.compatible(w))
        if (!ready.length) {
          return this.log(`${t} await: ${ws.length ? `no waiter can proceed yet (${ws.map((w) => w.label).join(', ')} wait)` : 'nobody waits'} (skipped)`)
        }
        this.log(`${t} await: the lock is free for ${ready.map((w) => w.label).join(', ')}; one must acquire`)
        return this.awaitProgress(`although the record says ${ready.map((w) => w.label).join(', ')} could proceed`)
      }
      case 'race':
        return this.race(s, t)
      case 'reuse':
        return this.reuse(s, t)
      case 'gc':
        return this.collect(s, t)
      case 'pause':
        return this.pause(s, t)
      default:
        throw new Error(`unknown step ${s.kind}`)
    }
  }

  /** Idle worker `w` tries (`kind` 'try') or starts a blocking acquire ('block'). */
  async acquire(w, kind, wantShared, prefix) {
    const shared = this.mode(wantShared)
    const what = `${w.label} acquire(${kind === 'try' ? 'try' : 'blocking'}, ${modeName(shared)})`
    if (kind === 'block') {
      w.state = 'waiting'
      w.shared = shared
      w.since = this.t
    }
    // Nobody holds or waits (the record is settled): a try must get the lock.
    const free = this.holders().length === 0 && this.waiters().length === 0
    const done = this.line(`${prefix} ${what}`)
    const r = await w.request({ op: kind, shared })
    done(r.result)
    if (kind === 'try' && r.result === 'busy' && free && this.meta.real && this.meta.kernelVisible) {
      const after = this.decoy ? ` (the pid record was rewritten to name the decoy at t${this.decoy.plantedAt})` : ''
      this.fail('liveness', `${w.label}'s try was refused (busy) although no worker holds or waits for the lock${after}`)
    }
    return this.outcome(w, shared, r)
  }

  /**
   * `pause`: SIGSTOP a holder for `s.ms` (a process descheduled, swapped out, or suspended in
   * a debugger or a VM snapshot, as long as a lease's staleness), while idle workers acquire
   * (`s.ops`, each at `at` percent of the pause; try or blocking) and the reader reads (`s.read`,
   * at the end). Then SIGCONT, and the resumed holder "writes": `touch` re-checks its sentinel
   * inside what it believes is still its critical section. A lock that decided the stopped
   * holder was gone and handed the lock over is caught twice, by the sentinel of the owner
   * that entered meanwhile (the stopped holder is alive) and by the resumed holder's own.
   * Kernel locks keep a stopped holder's lock: waiters just wait, tries are refused.
   * The waits inside the step are its content (how long the holder is frozen), not a
   * synchronisation; the SIGCONT is in a finally, so no pause ever leaves a worker stopped.
   */
  async pause(s, t) {
    const holders = this.holders()
    if (!holders.length) return this.log(`${t} pause: nobody holds the lock (skipped)`)
    if (this.pausedThisRun + s.ms > MAX_PAUSED_PER_RUN_MS) {
      return this.log(`${t} pause(${s.ms} ms): this schedule already paused ${this.pausedThisRun} ms of at most ${MAX_PAUSED_PER_RUN_MS} (skipped)`)
    }
    const w = holders[s.pick % holders.length]
    this.stats.pauses++
    this.pausedThisRun += s.ms
    const was = `holding ${modeName(w.shared)}`
    const stopLine = this.line(`${t} ${w.label} SIGSTOP for ${s.ms} ms (${was})`)
    let t0 = Date.now()
    try {
      w.stopped = true
      w.child.kill('SIGSTOP')
      await this.untilStopped(w)
      t0 = Date.now()
      this.pausedSince = t0
      stopLine('stopped')
      const ops = [...s.ops].sort((a, b) => a.at - b.at)
      for (const [i, op] of ops.entries()) {
        if (this.failure) break
        const offset = Math.round((s.ms * op.at) / 100)
        await delay(Math.max(0, t0 + offset - Date.now()))
        if (this.failure) break
        const idle = this.idle()
        const at = `${t} +${Date.now() - t0}ms`
        if (!idle.length) {
          this.log(`${at} ${op.block ? 'block' : 'try'}: every other worker holds or waits (skipped)`)
          continue
        }
        await this.acquire(idle[(s.pick + i) % idle.length], op.block ? 'block' : 'try', op.shared, at)
      }
      if (!this.failure) await delay(Math.max(0, t0 + s.ms - Date.now()))
      if (s.read && !this.failure) {
        const done = this.line(`${t} +${Date.now() - t0}ms reader readPidfile (${w.label} is stopped)`)
        done(this.checkRead(await this.reader.request({ op: 'read' }), null).text)
      }
    } finally {
      if (w.stopped) {
        w.stopped = false
        w.child.kill('SIGCONT')
      }
      if (this.pausedSince !== null) {
        this.pausedTotal += Date.now() - this.pausedSince
        this.pausedSince = null
      }
    }
    if (w.state === 'dead') return this.log(`${t} ${w.label} SIGCONT: it is dead (no touch)`)
    // The resumed holder writes: it still believes it owns the lock.
    const done = this.line(`${t} ${w.label} SIGCONT after ${Date.now() - t0} ms; touch (re-checks its sentinel)`)
    const r = await w.request({ op: 'touch' })
    done(r.result === 'touched' ? (r.violation ? `violation: ${r.violation}` : 'still the owner') : `${r.result} ${r.error?.message ?? ''}`)
    if (r.result !== 'touched') return this.fail('error', `${w.label}'s touch after its pause failed: ${r.error?.code ?? ''} ${r.error?.message}`)
    if (r.violation) this.fail('exclusion', `sentinel: ${w.label} (pid ${w.pid}, resumed after a ${s.ms} ms pause) found ${r.violation}`)
  }

  /**
   * Until every thread of `w` is stopped (/proc/PID/task/* /stat state `T`): a stopped
   * process cannot say so, and Node has no waitid(WSTOPPED); the kernel's view is polled.
   */
  async untilStopped(w) {
    const deadline = Date.now() + REPLY_MS
    for (;;) {
      let states
      try {
        states = fs.readdirSync(`/proc/${w.pid}/task`).map((tid) => procStat(`${w.pid}/task/${tid}`)?.state)
      } catch (err) {
        if (err.code === 'ENOENT') throw new Failure('crash', `${w.label} (pid ${w.pid}) vanished while being stopped`)
        throw err
      }
      if (states.every((st) => st === 'T' || st === undefined)) return
      if (Date.now() > deadline) throw new Failure('hang', `${w.label} (pid ${w.pid}) did not stop within ${REPLY_MS / 1000} s of SIGSTOP (thread states ${states.join('')})`)
      await delay(1)
    }
  }

  /** Apply a worker's answer to an acquire or release. */
  outcome(w, shared, r) {
    switch (r.result) {
      case 'acquired':
        return this.acquired(w, shared, r.violation)
      case 'busy':
        w.state = 'idle'
        return
      case 'waiting':
        return
      case 'released':
        w.state = 'idle'
        w.leaving = false
        if (r.violation) this.fail('exclusion', `sentinel: ${w.label} (pid ${w.pid}) on release: ${r.violation}`)
        return
      default:
        w.state = w.state === 'waiting' ? 'idle' : w.state
        if (this.anomalyUnknownHolder(`${w.label}'s try`, r.error)) return
        return this.fail('error', `${w.label}: ${r.error?.code ?? ''} ${r.error?.message}`)
    }
  }

  /** The pid the target's content names (first line), null when empty or not a pid. */
  contentPid() {
    let text
    try {
      text = fs.readFileSync(this.target, 'latin1')
    } catch (err) {
      if (err.code === 'ENOENT') return null
      throw err
    }
    const line = text.split('\n')[0].trim()
    return /^[1-9]\d{0,9}$/.test(line) ? Number(line) : null
  }

  /** The run's decoy: one long-lived process that is not a worker (killed at teardown). */
  async ensureDecoy() {
    if (this.decoy) return this.decoy
    const child = spawn('sleep', ['1000'], { stdio: 'ignore' })
    alive.add(child)
    const exited = once(child, 'exit').then(() => alive.delete(child))
    await within(REPLY_MS, once(child, 'spawn'), () => new Failure('hang', 'the decoy (sleep) did not start'))
    const st = procStat(child.pid)
    if (!st) throw new Failure('harness', `the decoy (pid ${child.pid}) has no /proc entry`)
    this.decoy = { child, pid: child.pid, start: st.start, exited, plantedAt: null }
    return this.decoy
  }

  /**
   * issue 3: replace a dead owner's pid record by a live unrelated process's pid, while no
   * worker holds or waits for the lock and the coordinator holds nothing; then read from the
   * third process. See the header for the three variants.
   */
  /**
   * `gc` (issue 8): a holder drops every reference to its claim and forces garbage collection,
   * as single-instance code does (`claimPidfile(p)` with the result unused). The claim must
   * survive: the holder stays in the record and in the sentinel, so a later acquisition by
   * anyone else, or a read that does not name it, fails the run. Having no object left, it
   * can end the claim only by exiting: the step ends by SIGKILLing it, after a reader and an
   * idle worker have looked.
   */
  async collect(s, t) {
    // Locks are released by GC on purpose (with a warning): the step is for claims only.
    if (!this.meta.pidContent) return this.log(`${t} gc: not a pidfile strategy (skipped)`)
    const holders = this.holders()
    if (!holders.length) return this.log(`${t} gc: nobody holds the pidfile (skipped)`)
    const w = holders[s.pick % holders.length]
    const done = this.line(`${t} ${w.label} drops its claim object and forces GC`)
    const r = await w.request({ op: 'gc' })
    done(r.collected ? 'collected' : `${r.result} (object not collected)`)
    if (r.result !== 'collected') return this.fail('gc', `${w.label} could not drop its claim: ${JSON.stringify(r.error ?? r)}`)
    this.stats.gcs++
    await this.step({ kind: 'read' })
    if (this.failure) return
    await this.step({ kind: 'try', pick: s.pick, shared: false })
    if (this.failure) return
    const end = this.line(`${t} ${w.label} SIGKILL (its claim has no object left to release)`)
    end(await this.end(w, 'SIGKILL'))
  }

  async reuse(s, t) {
    const what = `${t} reuse(${s.how})`
    if (!this.meta.pidContent) return this.log(`${what}: not a pidfile strategy (skipped)`)
    if (s.kill && this.holders().length) {
      // The scenario in one step: the waiters, then the owner, are SIGKILLed first (waiters
      // first, so that nobody takes over and the owner's record is what remains).
      for (const w of [...this.waiters(), ...this.holders()]) {
        const done = this.line(`${t} reuse: ${w.label} SIGKILL first (was ${w.state} ${modeName(w.shared)})`)
        done(await this.end(w, 'SIGKILL'))
      }
    }
    const busy = [...this.holders(), ...this.waiters()]
    if (busy.length) {
      return this.log(`${what}: ${busy.map((w) => `${w.label} ${w.state === 'holding' ? 'holds' : 'waits'}`).join(', ')}: a live worker holds or may take the lock (skipped)`)
    }
    const c = this.contentPid()
    const owner = c === null ? null : this.dead.get(c)
    if (!owner) {
      const names = c === null ? 'no pid (released or never claimed)' : this.who(c)
      return this.log(`${what}: the pidfile names ${names}, not a dead owner (skipped)`)
    }
    const decoy = await this.ensureDecoy()
    this.stats.reuses++
    // The dead owner's start time, as a reused pid would carry it. A decoy started in the same
    // clock tick would make the planted record true: use another tick then (noted).
    let start = owner.start
    let tick = ''
    if (s.how !== 'content-only' && start === decoy.start) {
      start = String(BigInt(start) - 1n)
      tick = `; the decoy started in ${owner.label}'s tick, so the record says start=${start}`
    }
    const record = `sole-identity/1 pid=${decoy.pid} start=${start} boot=${bootId()}${s.how === 'reused-pid' ? ' lock=flock' : ''}`
    // In place: same inode (O_TRUNC, no rename), so the old xattr stays unless replaced.
    fs.writeFileSync(this.target, `${decoy.pid}\n`)
    const args = ['-c', XATTR_PY, this.target, RECORD_XATTR, ...(s.how === 'content-only' ? [] : [record])]
    const out = execFileSync('python3', args, { encoding: 'latin1' })
    const nl = out.indexOf('\n')
    const status = out.slice(0, nl)
    const old = out.slice(nl + 1)
    decoy.plantedAt = this.t
    const oldNote = old ? `old record "${old}"${old.includes(` pid=${owner.pid} `) && old.includes(` start=${owner.start} `) ? '' : ` (not ${owner.label}'s!)`}` : 'no old record'
    const planted =
      s.how === 'content-only' ? 'content only' : status === 'set' ? `record "${record}"` : 'content only (this filesystem has no user xattrs)'
    const done = this.line(
      `${what}: ${owner.label} (pid ${owner.pid}) ${owner.endedBy ?? 'died'} holding it at t${owner.endedAt}; ${oldNote}; planted decoy pid ${decoy.pid} (start ${decoy.start}): ${planted}${tick}; reader readPidfile`,
    )
    const r = await this.reader.request({ op: 'read' })
    const st = r.result === 'read' ? r.state : null
    if (st?.state === 'held') {
      // Nobody holds the lock: any `held` is false, the decoy's the worst (checkRead agrees).
      const whom = st.pid === decoy.pid ? `the decoy (pid ${st.pid}, an unrelated live process)` : this.who(st.pid)
      this.fail('read', `after reuse(${s.how}) readPidfile reports ${whom} as the owner (held, locked: ${st.locked}) although no worker holds the pidfile`)
    }
    const { text } = this.checkRead(r, null)
    if (st && st.state !== 'held') {
      const got = st.state === 'free' ? `free/${st.reason ?? '-'}` : st.state
      const documented = status === 'set' || s.how === 'content-only' ? REUSE_DOCUMENTED[s.how] : 'unverified'
      const ok = got === documented && (st.state === 'absent' || (st.pid ?? st.stalePid) === decoy.pid)
      if (!ok) {
        this.notes.push(`reuse(${s.how}): readPidfile said ${text}; documented: ${documented} naming the decoy`)
        return done(`${text} [documented: ${documented}]`)
      }
    }
    return done(text)
  }

  /** Arm several workers on the barrier, release them with one write(2), collect answers. */
  async race(s, t) {
    const idle = this.idle()
    // Rotate the idle list by `pick` so that any worker can take part.
    const start = idle.length ? s.pick % idle.length : 0
    const rotated = [...idle.slice(start), ...idle.slice(0, start)]
    const acts = rotated.slice(0, s.ops.length).map((w, i) => ({ w, op: s.ops[i].block ? 'block' : 'try', shared: this.mode(s.ops[i].shared) }))
    const holders = this.holders()
    const releaser = s.release && holders.length ? holders[s.pick % holders.length] : null
    if (releaser) acts.push({ w: releaser, op: 'release', shared: releaser.shared })
    if (s.read) acts.push({ w: this.reader, op: 'read' })
    const victims = this.holders().filter((h) => h !== releaser)
    const victim = s.kill && victims.length ? victims[s.pick % victims.length] : null
    if (acts.length + (victim ? 1 : 0) < 2) {
      return this.log(`${t} race: fewer than two participants (skipped)`)
    }
    this.stats.races++
    const inFlight = new Set(acts.map((a) => a.w))
    if (victim) inFlight.add(victim)
    for (const a of acts) {
      if (a.op === 'block') {
        a.w.state = 'waiting'
        a.w.shared = a.shared
        a.w.since = this.t
      }
      if (a.op === 'release') a.w.leaving = true
    }
    if (victim) {
      victim.leaving = true
      victim.expectExit = true
      this.victim = victim
    }
    // Arm: each worker acknowledges, then blocks in read(2) on the FIFO.
    const armed = []
    const answers = acts.map((a) => {
      let onArmed
      armed.push(new Promise((resolve) => (onArmed = resolve)))
      const msg = a.op === 'read' ? { op: 'read' } : { op: a.op, shared: a.shared }
      return a.w.request({ op: 'arm', action: msg }, onArmed)
    })
    // (An answer settles first only if a worker died or hung before arming: that fails.)
    await Promise.all(armed.map((p, i) => Promise.race([p, answers[i]])))
    // Go: one write releases every armed worker; the SIGKILL lands in the same instant.
    fs.writeSync(this.fifo, Buffer.alloc(acts.length))
    if (victim) victim.child.kill('SIGKILL')
    const name = (a) => `${a.w.label} ${a.op === 'read' ? 'readPidfile' : a.op}${a.op === 'try' || a.op === 'block' ? `(${modeName(a.shared)})` : ''}`
    this.log(`${t} race: ${[...acts.map(name), ...(victim ? [`SIGKILL ${victim.label}`] : [])].join(' | ')}  [${acts.length} released by one barrier write]`)
    const lines = acts.map((a) => this.line(`   ${name(a)}`))
    const killed = victim && this.line(`   ${victim.label} SIGKILL (was holding ${modeName(victim.shared)})`)
    const results = await Promise.all(answers)
    acts.forEach((a, i) => {
      const r = results[i]
      if (a.op === 'read') {
        lines[i](this.checkRead(r, inFlight).text)
      } else {
        lines[i](r.result)
        this.outcome(a.w, a.shared, r)
      }
    })
    if (victim) {
      killed(await this.end(victim, 'SIGKILL', true))
      this.victim = null
    }
  }

  /** End of the schedule: release every holder; every waiter must get the lock in turn. */
  async drain() {
    for (let round = 0; round <= this.workers.length + 1 && !this.failure; round++) {
      for (const w of this.holders()) {
        if (this.failure) return
        w.leaving = true
        const done = this.line(`drain ${w.label} release(${modeName(w.shared)})`)
        const r = await w.request({ op: 'release' })
        done(r.result)
        this.outcome(w, w.shared, r)
      }
      const ws = this.waiters()
      if (!ws.length || this.failure) return
      if (this.holders().length) continue // a waiter got in during the releases
      this.log(`drain: the lock is free; waiting for one of ${ws.map((w) => w.label).join(', ')}`)
      await this.awaitProgress(`after every holder released (waiters: ${ws.map((w) => w.label).join(', ')})`)
    }
    if (!this.failure && (this.holders().length || this.waiters().length)) {
      this.fail('liveness', `drain did not finish: ${[...this.holders(), ...this.waiters()].map((w) => `${w.label} ${w.state}`).join(', ')}`)
    }
  }

  async go() {
    const { workers, steps } = this.schedule
    const procs = await Promise.all([...Array.from({ length: workers }, (_, i) => this.spawn(i, 0)), this.spawn('r', 0)])
    this.reader = procs.pop()
    this.workers = procs
    this.log(`start: ${this.strategy}, ${workers} workers (${procs.map((w) => `${w.label} = pid ${w.pid}`).join(', ')}), reader = pid ${this.reader.pid}`)
    for (const s of steps) {
      if (this.failure) break
      this.t++
      this.stats.steps++
      await this.step(s)
    }
    if (!this.failure) await this.drain()
  }

  teardown() {
    for (const w of [...this.workers, this.reader]) {
      if (w && w.state !== 'dead') {
        // SIGKILL also ends a stopped process (SIGTERM would wait for a SIGCONT).
        w.expectExit = true
        w.child.kill('SIGKILL')
      }
    }
    if (this.decoy) this.decoy.child.kill('SIGKILL')
    fs.closeSync(this.fifo)
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}

/** One line for a readPidfile state, naming pids with `who`. */
function describeState(st, who) {
  switch (st.state) {
    case 'held':
      return `held by ${who(st.pid)}${st.locked === false ? ' (locked: false)' : ''}`
    case 'unverified':
      return `unverified (live pid ${who(st.pid)}, no applicable record)`
    case 'free': {
      const why = [st.stalePid ? `stale pid ${who(st.stalePid)}` : null, st.reason].filter(Boolean)
      return why.length ? `free (${why.join(', ')})` : 'free'
    }
    default:
      return st.state
  }
}

let bootIdText
function bootId() {
  bootIdText ??= fs.readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim()
  return bootIdText
}

/**
 * Run one schedule `{ workers, steps }` against `strategy` and tear everything down.
 * @returns {Promise<{ failure: null | { kind: string, message: string, atStep: number }, timeline: string[], stats: object }>}
 */
export async function runSchedule(strategy, schedule, opts = {}) {
  const run = new Run(strategy, schedule, opts)
  try {
    await run.go()
  } catch (err) {
    if (err instanceof Failure) run.fail(err.kind, err.message)
    else run.fail('harness', err?.stack ?? String(err))
  } finally {
    const exits = [...run.workers, run.reader].filter((w) => w && w.state !== 'dead').map((w) => w.exited)
    if (run.decoy) exits.push(run.decoy.exited)
    run.teardown()
    await Promise.all(exits)
  }
  return { failure: run.failure, timeline: run.timeline, stats: run.stats, anomalies: run.anomalies, notes: run.notes }
}
