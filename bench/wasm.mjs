// Section 10 of `npm run bench`: `rulesOverlap` in the native addon and in the WebAssembly build
// (wasm32-wasip1, `npm run build:wasm`), as a ratio, in one process and one run. Both bindings
// are loaded side by side (the WebAssembly one from its napi-rs loader, `sole.wasip1.cjs`) and
// called with the same two rules as JSON (what `rulesOverlap` in lib/scope.ts passes them), in
// interleaved rounds: native, wasm, native, wasm, ...; the result of each is the median of its
// rounds, the ratio the median of the per-round ratios (bench.mjs's `interleaved` and
// `report`). The public call (`rulesOverlap` with
// its JSON serialisation, native) is the third row, for what a user's call costs in all.
import { createRequire } from 'node:module'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)

export async function benchWasm({ row, log, interleaved, report, fmtNs }) {
  const T = '10. WebAssembly build: rulesOverlap(a, b)'
  const file = path.join(here, '..', 'sole.wasip1.cjs')
  if (!fs.existsSync(file)) {
    row(T, 'wasm32-wasip1', 'n/a (no WebAssembly build: npm run build:wasm)')
    return
  }
  const sole = require('../lib/index.js')
  const native = require('../index.js')
  // Node prints an ExperimentalWarning for WASI once; the numbers are what matter here.
  const wasm = require(file)
  if (wasm.binding() !== 'wasm32-wasip1' || native.binding() !== 'native') throw new Error('bench/wasm.mjs: the two bindings are not the native and the WebAssembly one')
  const a = { target: '/srv/build/cache', permission: 'write', recursive: true }
  const b = { target: '/srv/build/cache/objects/aa', permission: 'read', recursive: false }
  const ja = JSON.stringify(a)
  const jb = JSON.stringify(b)
  if (wasm.scopeRulesOverlap(ja, jb) !== native.scopeRulesOverlap(ja, jb)) throw new Error('bench/wasm.mjs: the bindings disagree')
  const cases = [
    { label: 'native addon (binding call, rules as JSON)', body: (n) => { for (let i = 0; i < n; i++) native.scopeRulesOverlap(ja, jb) } },
    { label: 'WebAssembly build (binding call, rules as JSON)', body: (n) => { for (let i = 0; i < n; i++) wasm.scopeRulesOverlap(ja, jb) } },
    { label: 'rulesOverlap(a, b), the public call (native, with its JSON serialisation)', body: (n) => { for (let i = 0; i < n; i++) sole.rulesOverlap(a, b) } },
  ]
  await interleaved(cases)
  report(T, cases, {}, { refName: 'native', fmt: (v) => `${fmtNs(v)}/call` })
  log(`  (the WebAssembly build answers only the pure functions; every OS primitive throws ENOTSUP there)`)
}
