// Pluggable ownership strategies for the property harness: what a worker process does to
// acquire and release "the" lock. Two are sole's real primitives; two are deliberately broken
// copies of public designs, kept only here in the test tree, to prove the harness has the
// power to catch the races they contain (the proof-of-power tests must find a counterexample
// against each of them, every run).
//
// - `sole-lock`: tryLock / lock / release, exclusive and shared.
// - `sole-pidfile`: claimPidfile (EHELD = busy) and, for the blocking acquire,
//   claimPidfileWhenFree: the library's own "wait for the holder to go away, then claim"
//   call. We use it rather than `await lock(path)` followed by a hand-written pid, because
//   a hand-made claim would test our glue, not sole's claim path (it writes the pid under
//   the flock it was woken with). Exclusive only.
// - `broken-oexcl-reclaim` (docs/races.md R2 and R3): create with O_EXCL; when the file
//   exists, read the pid and, when it is missing, empty, garbage or dead by `kill(pid, 0)`,
//   "reclaim" by writing a temp file and renaming it over. Two reclaimers can both judge the
//   file stale, and a reclaimer can judge a claim that is still being written as garbage.
//   Release unlinks. Blocking acquire polls (there is nothing to wait on). Exclusive only.
//   (Seed 000 shares one `.lock.tmp` among writers; we give each writer its own temp file so
//   that the race shows as two owners, not as an ENOENT from the losing rename.)
// - `broken-unlink-on-release` (docs/races.md R1): a flock pidfile that unlinks itself
//   on release: acquire with sole's tryLock / lock on the path, release = unlink, then unlock.
//   B waits on the old inode, A unlinks and releases, C creates a new inode: B and C both own.
// - `broken-content-reader` (issue 3): sole-pidfile's claims, but the third-process reader
//   trusts the file content the way `kill -0 $(cat app.pid)` scripts do: a live content pid
//   is "held by" it, never asking the kernel who holds the lock. Every claim is sole's, so
//   no exclusion is broken and every ordinary read names the right owner; only the `reuse`
//   step (a dead owner's pid record rewritten to name a live unrelated process) shows it
//   calling that process the owner. Strategies may define `read()` (the worker's `read`
//   op); without it the worker calls sole's readPidfile.
//
// `STRATEGIES` is plain metadata (no sole import) so that the coordinator can read it;
// `makeStrategy` is called in the worker with the loaded library.
import fs from 'node:fs'
import { setTimeout as delay } from 'node:timers/promises'

/**
 * - `shared`: supports shared holders (else every request is exclusive).
 * - `real`: one of sole's primitives (the broken ones are checked only for safety).
 * - `kernelVisible`: the lock is a flock on the target, so readPidfile must see the holder
 *   (completeness: a settled owner is reported `held`, a free lock is not).
 * - `pidContent`: the file content must name the settled owner (pidfile semantics).
 * - `file`: the target's file name inside the run's directory.
 */
export const STRATEGIES = {
  'sole-lock': { shared: true, real: true, kernelVisible: true, pidContent: false, file: 'target.lock' },
  'sole-pidfile': { shared: false, real: true, kernelVisible: true, pidContent: true, file: 'app.pid' },
  'broken-oexcl-reclaim': { shared: false, real: false, kernelVisible: false, pidContent: false, file: 'daemon.lock' },
  'broken-unlink-on-release': { shared: false, real: false, kernelVisible: false, pidContent: false, file: 'app.pid' },
  'broken-content-reader': { shared: false, real: false, kernelVisible: true, pidContent: true, file: 'app.pid' },
}

/**
 * @returns {{ tryAcquire(shared: boolean): object | null, acquire(shared: boolean): Promise<object>, release(h: object): void, read?(): object }}
 */
export function makeStrategy(name, sole, target) {
  switch (name) {
    case 'sole-lock':
      return {
        tryAcquire: (shared) => sole.tryLock(target, { shared }),
        acquire: (shared) => sole.lock(target, { shared }),
        release: (l) => l.release(),
      }
    case 'sole-pidfile':
    case 'broken-content-reader':
      return {
        ...(name === 'broken-content-reader' ? { read: () => contentTrustingRead(sole, target) } : {}),
        tryAcquire() {
          try {
            return sole.claimPidfile(target)
          } catch (err) {
            if (err.code === 'EHELD') return null
            throw err
          }
        },
        acquire: () => sole.claimPidfileWhenFree(target),
        release: (p) => p.release(),
      }
    case 'broken-oexcl-reclaim':
      return oexclReclaim(target)
    case 'broken-unlink-on-release':
      return {
        tryAcquire: () => sole.tryLock(target),
        acquire: () => sole.lock(target),
        release(l) {
          unlinkIfPresent(target)
          l.release()
        },
      }
    default:
      throw new Error(`unknown strategy ${name}`)
  }
}

/** The `kill -0 $(cat pidfile)` reader: a live content pid is the owner. */
function contentTrustingRead(sole, target) {
  const pid = sole.readLockPid(target)
  if (pid === null) return fs.existsSync(target) ? { state: 'free' } : { state: 'absent' }
  return sole.isAlive(pid) ? { state: 'held', pid, locked: false } : { state: 'free', stalePid: pid, reason: 'exited' }
}

function unlinkIfPresent(p) {
  try {
    fs.unlinkSync(p)
  } catch (err) {
    if (err.code !== 'ENOENT') throw err
  }
}

/** Seed 000's acquire_lock, ported as faithfully as JavaScript allows. */
function oexclReclaim(target) {
  const me = process.pid
  const tmp = `${target}.${me}.tmp`
  // The classic pid_alive: kill(pid, 0) → 0 alive, ESRCH dead, EPERM alive (a zombie is "alive").
  const alive = (pid) => {
    try {
      process.kill(pid, 0)
      return true
    } catch (err) {
      return err.code === 'EPERM'
    }
  }
  // The classic read_lock_pid: missing, empty or malformed → none.
  const readPid = () => {
    let text
    try {
      text = fs.readFileSync(target, 'utf8').trim()
    } catch (err) {
      if (err.code === 'ENOENT') return null
      throw err
    }
    return /^\d{1,10}$/.test(text) && Number(text) <= 2 ** 31 - 1 ? Number(text) : null
  }
  const tryAcquire = () => {
    // Phase 1: O_EXCL create, then write the pid.
    try {
      const fd = fs.openSync(target, 'wx')
      try {
        fs.writeSync(fd, `${me}\n`)
      } finally {
        fs.closeSync(fd)
      }
      return { oexcl: true }
    } catch (err) {
      if (err.code !== 'EEXIST') throw err
    }
    // Phase 2: the file exists. Refuse a live pid; otherwise reclaim (temp file + rename).
    const pid = readPid()
    if (pid !== null && pid !== me && alive(pid)) return null
    fs.writeFileSync(tmp, `${me}\n`)
    fs.renameSync(tmp, target)
    return { oexcl: true, reclaimed: pid }
  }
  return {
    tryAcquire,
    async acquire() {
      // Nothing to wait on: retry. The pause is this strategy's own retry interval, not a
      // synchronisation of the harness.
      for (;;) {
        const h = tryAcquire()
        if (h) return h
        await delay(2)
      }
    },
    release: () => unlinkIfPresent(target),
  }
}
