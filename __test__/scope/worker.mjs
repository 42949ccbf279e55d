// A child process that uses the scope registry on behalf of a test.
//
// `node worker.mjs <registry path> serve`: driven over IPC; each request `{ id, op, args }` gets
// one reply `{ id, ok: true, result }` or `{ id, ok: false, code, message }`, sent after the
// operation has really happened (the file is saved). It sends `{ ready: true, pid }` first.
//
// `node worker.mjs <registry path> writer <tag>`: a tight save loop for crash injection.
// Registers `<tag>-<k>` then releases it, forever; after every completed operation it reports
// `{ done: k, op }` so the coordinator knows which tables some completed operation produced,
// and picks its SIGKILL moment from these reports (never from a timer).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { ScopeRegistry } = require('../../lib/index.js')

const [, , path, mode, tag] = process.argv
const reg = ScopeRegistry.open(path)

if (mode === 'writer') {
  process.send({ ready: true, pid: process.pid })
  let k = 0
  const step = () => {
    // A burst of synchronous operations, then yield so IPC messages flush.
    for (let i = 0; i < 4; i++, k++) {
      const name = `${tag}-${k >> 1}`
      if ((k & 1) === 0) {
        reg.register({ name, scopes: [{ target: `/crash/${name}`, permission: 'write', recursive: true }], sessionId: name })
      } else {
        reg.release(name)
      }
      process.send({ done: k })
    }
    setImmediate(step)
  }
  step()
} else {
  const ops = {
    register: (a) => reg.register(a),
    delegate: (a) => reg.delegate(a.spawner, a.opts),
    release: (a) => reg.release(a.name),
    adopt: (a) => reg.adopt(a.name, a.opts),
    reclaimStale: () => reg.reclaimStale(),
    list: () => reg.list(),
  }
  process.on('message', (m) => {
    try {
      const result = ops[m.op](m.args ?? {})
      process.send({ id: m.id, ok: true, result: result ?? null })
    } catch (e) {
      process.send({ id: m.id, ok: false, code: e.code, message: e.message })
    }
  })
  process.send({ ready: true, pid: process.pid })
}
