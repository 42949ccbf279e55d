// A child for the "no scope claim lost to garbage collection" test. Run with `node --expose-gc`.
//
// `node --expose-gc gc-child.mjs <registry path> <name>`: takes two guards it does not keep
// (`installTopLevel` of `<name>`, and `adoptAllocation` of `<name>/child` delegated from it),
// drops the registry handle too, then runs `gc()` with a turn of the event loop in between until
// a FinalizationRegistry reports both guards collected (so native finalizers have had their
// turn as well), and a few more rounds after that. It then prints one line
// `{"collected":true|false}` and stays alive (reading stdin) until the test kills it.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { ScopeRegistry } = require('../../lib/index.js')

const [, , file, name] = process.argv
if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc')

let collected = 0
const finalized = new FinalizationRegistry(() => collected++)
;(() => {
  const reg = ScopeRegistry.open(file)
  const w = (target) => ({ target, permission: 'write', recursive: true })
  finalized.register(reg.installTopLevel({ name, scopes: [w(`/gc/${name}`)], sessionId: `${name}-top` }), 'top')
  reg.delegate(name, { name: `${name}/child`, scopes: [w(`/gc/${name}/child`)] })
  finalized.register(reg.adoptAllocation(`${name}/child`, { sessionId: `${name}-child` }), 'child')
})()

const turn = () => new Promise((resolve) => setImmediate(resolve))
for (let i = 0; i < 10_000 && collected < 2; i++) {
  globalThis.gc()
  await turn()
}
// Native finalizers of collected wrappers may be deferred to a later turn: give them several.
for (let i = 0; i < 20; i++) {
  globalThis.gc()
  await turn()
}
process.stdout.write(JSON.stringify({ collected: collected === 2 }) + '\n')
process.stdin.resume()
