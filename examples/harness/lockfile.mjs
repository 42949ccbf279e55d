// lockfile 1.0.4 (npm's `lockfile` package) with `stale` as a harness strategy: what a user
// of that package writes.
//
// How it locks: open(2) with O_CREAT|O_EXCL (one process creates the file). With `stale`, a
// lock file whose ctime is older than `stale` ms is judged abandoned and unlinked, and the
// caller tries again. Nothing refreshes a held lock: the age is the time since it was taken.
// `wait` and `pollPeriod` make `lock` poll until the lock is free (or stale).
//
// The races this design has, and which harness step reaches each:
// - A lease that ends while its holder lives: any holder, running or not, loses the lock
//   after `stale` ms, since there is no heartbeat; a waiter unlinks the file and creates its
//   own while the holder still believes it owns the lock. A schedule in which a holder keeps
//   the lock for 2 s while someone waits finds it; the pause step (SIGSTOP of a holder) finds
//   it every time it pauses a holder for longer than `stale`.
// - Release unlinks by name: `unlock` unlinks whatever file is there, so a robbed holder's
//   release removes the new owner's lock and lets a third process in beside it.
// - Two reclaimers of one stale lock: `lockSync` (the synchronous API) stats, finds the file
//   stale and unlinks it with no re-check: a second reclaimer's unlink can remove the fresh
//   lock of the first. (`lock`, the asynchronous API, reclaims through a `<file>.STALE`
//   lock and re-checks, which narrows that window.)
//
// Handles: lockfile returns nothing on success, so the handle is a plain object; tryAcquire
// uses `lockSync` (EEXIST, and the ENOENT below, → null), acquire uses `lock` with `wait` (as
// long as it takes) and `pollPeriod`, release uses `unlockSync`, so the worker's "released"
// means the file is gone.
import lockfile from 'lockfile'

/** Locks older than 2 s are judged abandoned (the package has no default: without `stale`, a crashed holder's lock is never reclaimed). */
const STALE = 2000
/** A blocking acquire: poll every 10 ms for as long as it takes. */
const WAIT = { wait: Infinity, pollPeriod: 10 }

export const meta = { shared: false, kernelVisible: false, pidContent: false, file: 'target.lock' }

export default function makeStrategy(target) {
  return {
    tryAcquire() {
      try {
        lockfile.lockSync(target, { stale: STALE })
        return { target }
      } catch (err) {
        if (err.code === 'EEXIST') return null
        // lockSync's stale check stats the file it failed to create: when the holder releases
        // in between, statSync throws ENOENT out of lockSync (found by the harness in a race
        // step). A caller that retries treats it as busy; so does this example.
        if (err.code === 'ENOENT') return null
        throw err
      }
    },
    async acquire() {
      // `lock` with `wait` can still fail with EEXIST: its stale reclaim (through
      // `<file>.STALE`) unlinks the old file and links its own, and another process's create
      // can land in between, so the link fails (found by the harness). A caller that wants
      // to wait tries again; so does this example.
      for (;;) {
        try {
          return await new Promise((resolve, reject) => {
            lockfile.lock(target, { stale: STALE, ...WAIT }, (err) => (err ? reject(err) : resolve({ target })))
          })
        } catch (err) {
          if (err.code !== 'EEXIST') throw err
        }
      }
    },
    release() {
      lockfile.unlockSync(target)
    },
  }
}
