// Deliberately broken (docs/races.md R1): a flock pidfile that unlinks itself on release:
// acquire with sole's tryLock / lock on the path, release = unlink, then unlock. B waits on the
// old inode, A unlinks and releases, C creates a new inode: B and C both own.
import fs from 'node:fs'
import { createRequire } from 'node:module'

const sole = createRequire(import.meta.url)('../../../lib/index.js')

export const meta = { shared: false, kernelVisible: false, pidContent: false, file: 'app.pid' }

export default function makeStrategy(target) {
  return {
    tryAcquire: () => sole.tryLock(target),
    acquire: () => sole.lock(target),
    release(l) {
      try {
        fs.unlinkSync(target)
      } catch (err) {
        if (err.code !== 'ENOENT') throw err
      }
      l.release()
    },
  }
}
