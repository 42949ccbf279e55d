// Deliberately broken (issue 16, docs/races.md R32): a lease lock in the style of
// proper-lockfile. The lock is a directory created with mkdir(2) (atomic: one creator wins);
// its holder refreshes the directory's mtime from a heartbeat timer, and a lock whose mtime is
// older than STALE_MS is judged abandoned, removed and taken over. Blocking acquire polls.
// Exclusive only.
//
// Its one flaw is the design's: a holder that is frozen (SIGSTOP, a long GC or swap, a VM
// suspended) longer than STALE_MS stops refreshing, is judged gone, and loses the lock to a
// second owner while it still believes it owns it; resumed, it "writes" beside that owner (and
// its heartbeat refreshes the new owner's directory as if it were its own). Without pauses it
// is correct: the stale take-over is serialized under a kernel lock on a side file and
// re-checked there (two reclaimers cannot both remove a fresh lock), and a SIGKILLed holder's
// directory goes stale and is taken over, as it should be.
import fs from 'node:fs'
import { createRequire } from 'node:module'
import { setTimeout as delay } from 'node:timers/promises'

const sole = createRequire(import.meta.url)('../../../lib/index.js')

export const meta = { shared: false, kernelVisible: false, pidContent: false, file: 'resource.lock' }

/** A lease older than this is abandoned (proper-lockfile: `stale`, 10 s by default, 2 s at least). */
export const STALE_MS = 1000
/** The heartbeat refreshes the lease this often (proper-lockfile: `update`, stale / 2). */
const UPDATE_MS = STALE_MS / 4
/** A blocking acquire's retry interval: the strategy's own polling, not a harness sync. */
const RETRY_MS = 25

export default function makeStrategy(target) {
  const guard = `${target}.reclaim`

  const take = () => {
    fs.mkdirSync(target)
    const timer = setInterval(() => {
      const now = new Date()
      try {
        // Blind refresh (the flaw's second half): whoever's directory is there now.
        fs.utimesSync(target, now, now)
      } catch (err) {
        if (err.code !== 'ENOENT') throw err
      }
    }, UPDATE_MS)
    return { timer }
  }

  const stale = () => {
    try {
      return Date.now() - fs.statSync(target).mtimeMs > STALE_MS
    } catch (err) {
      if (err.code === 'ENOENT') return false
      throw err
    }
  }

  const tryAcquire = () => {
    try {
      return take()
    } catch (err) {
      if (err.code !== 'EEXIST') throw err
    }
    if (!stale()) return null
    // Take over an abandoned lease, one reclaimer at a time, judging it again under the guard.
    const g = sole.tryLock(guard)
    if (!g) return null
    try {
      if (!stale()) return null
      fs.rmSync(target, { recursive: true, force: true })
      try {
        return take()
      } catch (err) {
        // A plain mkdir got in between: it owns the lock.
        if (err.code === 'EEXIST') return null
        throw err
      }
    } finally {
      g.release()
    }
  }

  return {
    tryAcquire,
    // The third-process view: a lease names no process (proper-lockfile's `check` only says
    // locked or not), so this reader claims no owner: `leased` (with the lease's age) or
    // `absent`. The harness's sentinel, not this reader, judges ownership.
    read() {
      try {
        return { state: 'leased', ageMs: Math.round(Date.now() - fs.statSync(target).mtimeMs) }
      } catch (err) {
        if (err.code === 'ENOENT') return { state: 'absent' }
        throw err
      }
    },
    async acquire() {
      for (;;) {
        const h = tryAcquire()
        if (h) return h
        await delay(RETRY_MS)
      }
    },
    release(h) {
      clearInterval(h.timer)
      fs.rmSync(target, { recursive: true, force: true })
    },
  }
}
