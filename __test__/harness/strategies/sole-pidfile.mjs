// sole's pidfiles: claimPidfile (EHELD = busy) and, for the blocking acquire,
// claimPidfileWhenFree: the library's own "wait for the holder to go away, then claim" call
// (a hand-made claim after `await lock(path)` would test our glue, not sole's claim path).
// Exclusive only.
import { createRequire } from 'node:module'

const sole = createRequire(import.meta.url)('../../../lib/index.js')

export const meta = { shared: false, kernelVisible: true, pidContent: true, real: true, file: 'app.pid' }

/** Shared with broken-content-reader, which claims the same way. */
export function pidfileClaims(target) {
  return {
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
}

export default pidfileClaims
