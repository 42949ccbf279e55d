// The oracle that does not trust the lock under test: a sentinel inside each owner's critical
// section. Whatever a strategy claims, an owner that finds another *live* owner's sentinel
// has caught two processes inside the critical section at once.
//
// Layout (in the run's `oracle/` directory):
// - `exclusive`: the exclusive owner's sentinel, content `PID STARTTIME`. It is created with
//   O_EXCL semantics by link(2) from a private temp file that already holds the content, so
//   the name never exists empty (an O_CREAT|O_EXCL file is empty until its write, and an owner
//   SIGKILLed in between would leave a sentinel nobody can attribute).
// - `shared/PID-STARTTIME`: one file per shared holder; the name is the identity.
//
// Races each part is built to expose, and the false alarms each part avoids:
// - Two exclusive owners: the second link(2) fails with EEXIST and finds the first one live.
// - An owner that entered while a holder was frozen (SIGSTOP: a lease lock judged it gone):
//   the entrant finds the frozen holder live (a stopped process is alive), and the holder,
//   resumed, finds its sentinel taken over when it checks (`check`, the worker's `touch`).
// - Exclusive and shared at once: each side writes its own sentinel, then looks for the
//   other's (Dekker order), so whichever enters second sees the first.
// - A dead owner's leftover sentinel (SIGKILLed, or exited without releasing) is not a
//   violation: it is taken over. Taking over is itself race-free: the sentinel is first
//   renamed to a private name (atomic), and only the captured file is judged, so two
//   simultaneous take-overs cannot both remove a fresh claim (the race of an O_EXCL stale reclaim, docs/races.md R2).
// - "Live" is judged from /proc/PID/stat, not kill(pid, 0): a zombie (`Z`), a dead task
//   (`X`), a task that is already exiting (PF_EXITING in `flags`), and a pid reused by
//   another process (start time differs) are all dead (docs/races.md R19, R22). PF_EXITING
//   matters: a SIGKILLed process's flocks go when its *last thread* drops the file table,
//   which can happen while the group leader (whose stat we read) is still in do_exit, so
//   its successor can look in that window and must not see a live owner there.
import fs from 'node:fs'
import path from 'node:path'

const PF_EXITING = 0x4

/** Fields of /proc/PID/stat we need, or null when the process is gone. */
export function procStat(pid) {
  let s
  try {
    s = fs.readFileSync(`/proc/${pid}/stat`, 'latin1')
  } catch {
    return null
  }
  // The command name may contain spaces and ')': fields start after the *last* ')'.
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
  return { state: f[0], flags: Number(f[6]), start: f[19] }
}

/** This process's identity: pid plus start time (field 22, ticks since boot). */
export function selfIdentity() {
  return { pid: process.pid, start: procStat(process.pid).start }
}

/** Is the process `ident` alive, not a zombie, not exiting, and not a reused pid? */
export function isLive(ident) {
  const p = procStat(ident.pid)
  if (!p) return false
  if (p.state === 'Z' || p.state === 'X' || p.state === 'x') return false
  if (p.flags & PF_EXITING) return false
  return p.start === ident.start
}

const parse = (text) => {
  const [pid, start] = text.trim().split(' ')
  return { pid: Number(pid), start }
}
const show = (ident) => `pid ${ident.pid}`

export class Sentinel {
  #me
  #exclusive
  #sharedDir
  #mine
  #tmp
  #captured

  constructor(dir, me) {
    this.#me = me
    this.#exclusive = path.join(dir, 'exclusive')
    this.#sharedDir = path.join(dir, 'shared')
    this.#mine = path.join(this.#sharedDir, `${me.pid}-${me.start}`)
    this.#tmp = path.join(dir, `tmp-${me.pid}-${me.start}`)
    this.#captured = path.join(dir, `captured-${me.pid}-${me.start}`)
  }

  /** Enter the critical section; returns a violation description, or null. */
  enter(shared) {
    return shared ? this.#enterShared() : this.#enterExclusive()
  }

  /** Leave it (before the lock is released); returns a violation description, or null. */
  exit(shared) {
    if (shared) {
      try {
        fs.unlinkSync(this.#mine)
      } catch (err) {
        if (err.code === 'ENOENT') return `my shared sentinel was removed while I held the lock`
        throw err
      }
      return null
    }
    // Take my sentinel back the way a successor would take a dead one over: atomically. If
    // it is gone or not mine, another entrant captured it while I was alive and holding.
    const owner = this.#capture(this.#exclusive)
    if (!owner || owner.pid !== this.#me.pid || owner.start !== this.#me.start) {
      return `my exclusive sentinel was taken over (${owner ? `it named ${show(owner)}` : 'gone'}) while I held the lock`
    }
    return null
  }

  /**
   * Still inside (a holder's write after a pause, without leaving): my sentinel must still be
   * mine, and no live owner of the other kind may have entered. Reads only; a violation
   * description, or null.
   */
  check(shared) {
    if (shared) {
      if (!fs.existsSync(this.#mine)) return `my shared sentinel was removed while I held the lock`
      const owner = this.#read(this.#exclusive)
      return owner && isLive(owner) ? `exclusive sentinel names live owner ${show(owner)}` : null
    }
    const owner = this.#read(this.#exclusive)
    if (!owner || owner.pid !== this.#me.pid || owner.start !== this.#me.start) {
      return `my exclusive sentinel was taken over (${owner ? `it names ${show(owner)}` : 'gone'}) while I held the lock`
    }
    for (const name of fs.readdirSync(this.#sharedDir)) {
      const [pid, start] = name.split('-')
      const ident = { pid: Number(pid), start }
      if (isLive(ident)) return `shared sentinel names live holder ${show(ident)}`
    }
    return null
  }

  #enterExclusive() {
    for (;;) {
      fs.writeFileSync(this.#tmp, `${this.#me.pid} ${this.#me.start}\n`)
      let created = false
      try {
        fs.linkSync(this.#tmp, this.#exclusive)
        created = true
      } catch (err) {
        if (err.code !== 'EEXIST') throw err
      } finally {
        fs.unlinkSync(this.#tmp)
      }
      if (created) break
      const other = this.#capture(this.#exclusive)
      if (other && isLive(other)) return `exclusive sentinel names live owner ${show(other)}`
      // Gone meanwhile, or a dead owner's leftover (now removed): try again.
    }
    for (const name of fs.readdirSync(this.#sharedDir)) {
      const [pid, start] = name.split('-')
      const ident = { pid: Number(pid), start }
      if (isLive(ident)) return `shared sentinel names live holder ${show(ident)}`
      try {
        fs.unlinkSync(path.join(this.#sharedDir, name))
      } catch (err) {
        if (err.code !== 'ENOENT') throw err
      }
    }
    return null
  }

  #enterShared() {
    fs.writeFileSync(this.#mine, '', { flag: 'wx' })
    for (;;) {
      const owner = this.#read(this.#exclusive)
      if (!owner) return null
      if (isLive(owner)) return `exclusive sentinel names live owner ${show(owner)}`
      // A dead exclusive owner's leftover: capture it; a live one captured instead (it
      // appeared after our read) is the same violation.
      const captured = this.#capture(this.#exclusive)
      if (captured && isLive(captured)) return `exclusive sentinel names live owner ${show(captured)}`
    }
  }

  #read(p) {
    try {
      return parse(fs.readFileSync(p, 'utf8'))
    } catch (err) {
      if (err.code === 'ENOENT') return null
      throw err
    }
  }

  /** Atomically move the sentinel at `p` out of the way; whose was it (null if none)? */
  #capture(p) {
    try {
      fs.renameSync(p, this.#captured)
    } catch (err) {
      if (err.code === 'ENOENT') return null
      throw err
    }
    const ident = this.#read(this.#captured)
    fs.unlinkSync(this.#captured)
    return ident
  }
}
