// The fuzz runner's "other process": holds the runner's `held*` fixtures for as long as it
// lives (an exclusive lock, a shared lock, a claimed pidfile, a daemon lock, the lock of a
// scope registry) and listens on a unix socket fixture. Prints "ready" once everything is
// held; exits when its stdin closes (its runner ended) or when it is killed.
import fs from 'node:fs'
import net from 'node:net'

import * as sole from '../../lib/index.js'

const p = JSON.parse(process.argv[2])
const keep = [
  sole.tryLock(p.held),
  sole.tryLock(p.heldShared, { shared: true }),
  sole.claimPidfile(p.heldPid),
  sole.acquireDaemonLock(p.heldDaemonDir),
  sole.tryLock(p.regHeldLock),
]
if (keep.some((k) => !k)) {
  process.stderr.write('fuzz holder: a fixture was already held by someone else\n')
  process.exit(3)
}
fs.rmSync(p.socket, { force: true })
const server = net.createServer()
server.listen(p.socket, () => process.stdout.write('ready\n'))
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
// Referenced until exit, so no garbage collection can release them.
globalThis.__held = keep
