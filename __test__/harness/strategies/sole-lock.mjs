// sole's lock files: tryLock / lock / release, exclusive and shared.
import { createRequire } from 'node:module'

const sole = createRequire(import.meta.url)('../../../lib/index.js')

export const meta = { shared: true, kernelVisible: true, pidContent: false, real: true, file: 'target.lock' }

export default function makeStrategy(target) {
  return {
    tryAcquire: (shared) => sole.tryLock(target, { shared }),
    acquire: (shared) => sole.lock(target, { shared }),
    release: (l) => l.release(),
  }
}
