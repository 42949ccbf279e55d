// proper-lockfile 4.1.2 as a harness strategy: what a user of that package writes.
//
// How it locks: mkdir(2) of `<file>.lock` (atomic: one process creates the directory), and
// while it holds, a timer touches the directory's mtime every `update` ms. A lock whose mtime
// is older than `stale` ms is judged abandoned: anyone may rmdir it and take it. Its defaults
// are stale 10000 (the minimum it accepts is 2000) and update stale/2; this example uses the
// minimum, stale 2000 and update 1000, so that the harness's budget can reach the race.
//
// The races this design has, and which harness step reaches each:
// - A lease that ends while its holder lives: a holder that cannot run its timer for more than
//   `stale` ms (SIGSTOPped, a long synchronous task, swapped out, a laptop lid) is judged
//   stale; a waiter rmdirs the directory and mkdirs its own while the holder still believes
//   it owns the lock. The pause step (SIGSTOP of a holder, then SIGCONT) is made for this.
//   proper-lockfile notices only afterwards, when the holder's timer runs again and finds an
//   mtime that is not its own: it calls `onCompromised`, whose default throws from the timer
//   (the process dies). By then the other process is already inside: the harness's sentinel
//   has seen both owners live. Here `onCompromised` records the error instead of throwing, so
//   that what the harness reports is the overlap itself, not a worker crash after it.
// - Two reclaimers of one stale lock: both stat the old directory, both find it stale; one
//   rmdirs and mkdirs; the other's rmdir then removes the fresh lock and its mkdir succeeds
//   too (check-then-act on the mtime, no re-check before the rmdir). A SIGKILLed holder's
//   directory becomes stale after 2 s; waiters polling it then race for it.
//
// Handles: tryAcquire uses `lockSync`, proper-lockfile's synchronous API (the same algorithm
// on synchronous fs calls; it allows no retries, and a try needs none), whose release
// function is synchronous too, so the worker's "released" means the directory is gone.
// acquire uses `lock` with retries forever (every 10 ms), as a blocking acquire. A release
// after the lock was compromised is refused by proper-lockfile (ERELEASED: "Lock is already
// released"); it is ignored here, since the lock is not ours to remove any more.
import lockfile from 'proper-lockfile'

/** The minimum stale proper-lockfile accepts, and a touch every second. */
const OPTIONS = { stale: 2000, update: 1000, realpath: false }
/** A blocking acquire: retry forever, every 10 ms (the `retry` package's options). */
const FOREVER = { forever: true, factor: 1, minTimeout: 10, maxTimeout: 10 }

/** What proper-lockfile reported through onCompromised in this process (kept, not thrown). */
export const compromised = []
const onCompromised = (err) => {
  compromised.push(err)
}

// The lock is the directory `resource.lock` next to the file it protects.
export const meta = { shared: false, kernelVisible: false, pidContent: false, file: 'resource' }

const ignoreReleased = (err) => {
  if (err?.code !== 'ERELEASED') throw err
}

export default function makeStrategy(target) {
  return {
    tryAcquire() {
      try {
        return lockfile.lockSync(target, { ...OPTIONS, retries: 0, onCompromised })
      } catch (err) {
        if (err.code === 'ELOCKED') return null
        throw err
      }
    },
    acquire: () => lockfile.lock(target, { ...OPTIONS, retries: FOREVER, onCompromised }),
    release(release) {
      try {
        const done = release()
        return done instanceof Promise ? done.catch(ignoreReleased) : done
      } catch (err) {
        return ignoreReleased(err)
      }
    },
  }
}
