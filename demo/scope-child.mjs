// A demo child for the scope registry part of demo.mjs: registers the write scope it is given
// and reports over IPC, then waits (it is SIGKILLed by the demo, never released).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { ScopeRegistry } = require('../lib/index.js')
const [file, name, target] = process.argv.slice(2)
try {
  const reg = ScopeRegistry.open(file)
  reg.register({ name, scopes: [{ target, permission: 'write', recursive: true }], sessionId: `${name}-${process.pid}` })
  process.send({ ev: 'registered', pid: process.pid })
} catch (err) {
  process.send({ ev: 'refused', pid: process.pid, code: err.code, message: err.message })
}
process.on('disconnect', () => process.exit(0))
