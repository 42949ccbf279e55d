// Deliberately broken (issue 3): sole-pidfile's claims, but the third-process reader trusts the
// file content the way `kill -0 $(cat app.pid)` scripts do: a live content pid is "held by" it,
// never asking the kernel who holds the lock. Every claim is sole's, so no exclusion is broken
// and every ordinary read names the right owner; only the `reuse` step (a dead owner's pid
// record rewritten to name a live unrelated process) shows it calling that process the owner.
import fs from 'node:fs'
import { createRequire } from 'node:module'

import { pidfileClaims } from './sole-pidfile.mjs'

const sole = createRequire(import.meta.url)('../../../lib/index.js')

export const meta = { shared: false, kernelVisible: true, pidContent: true, file: 'app.pid' }

export default function makeStrategy(target) {
  return { ...pidfileClaims(target), read: () => contentTrustingRead(target) }
}

/** The `kill -0 $(cat pidfile)` reader: a live content pid is the owner. */
function contentTrustingRead(target) {
  const pid = sole.readLockPid(target)
  if (pid === null) return fs.existsSync(target) ? { state: 'free' } : { state: 'absent' }
  return sole.isAlive(pid) ? { state: 'held', pid, locked: false } : { state: 'free', stalePid: pid, reason: 'exited' }
}
