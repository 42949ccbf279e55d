// sole's lock files as a harness strategy: the README's ten-line example, run against the
// checkout. A user writes `import { tryLock, lock } from 'sole'`; inside this repository that
// name does not resolve (sole is not installed in its own node_modules), so this file imports
// the checkout's built entry, ../../lib/index.js (`npm run build` first), by relative path.
//
// What it must survive: everything the harness generates (try and blocking acquires,
// exclusive and shared, releases, SIGKILLs and exits of holders, barrier races, pauses of a
// holder). The lock is a flock(2) on the file, so ownership is the kernel's: a dead holder's
// lock is gone with it, a paused holder keeps it however long it is stopped, and nothing is
// ever judged stale. `kernelVisible`: a third process's readPidfile must see the holder.
import { tryLock, lock } from '../../lib/index.js'

export const meta = { shared: true, kernelVisible: true, pidContent: false }

export default function makeStrategy(target) {
  return {
    tryAcquire: (shared) => tryLock(target, { shared }),
    acquire: (shared) => lock(target, { shared }),
    release: (l) => l.release(),
  }
}
