// Scope registry benchmark: register+release round trip and conflict check with 10 / 1,000 /
// 10,000 live allocations, alone and with a second process contending on the same registry.
// `node bench/scope.mjs` prints a markdown table; `runScopeBench()` returns the rows.
// Target (issue 4): under 5 ms per operation at 10,000 allocations, cost growing no faster
// than linearly with the table.
import { createRequire } from 'node:module'
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const require = createRequire(import.meta.url)
const { ScopeRegistry } = require('../lib/index.js')
const SELF = fileURLToPath(import.meta.url)

const w = (target) => ({ target, permission: 'write', recursive: true })

function fill(reg, n) {
  for (let i = reg.list().length; i < n; i++) reg.register({ name: `live-${i}`, scopes: [w(`/bench/live/${i}`)], sessionId: `s${i}` })
}

function measure(fn, minMs = 400, minIters = 20) {
  for (let i = 0; i < 3; i++) fn(i) // warm up
  let iters = 0
  const t0 = process.hrtime.bigint()
  let el = 0
  while (iters < minIters || el < minMs * 1e6) {
    fn(iters++)
    el = Number(process.hrtime.bigint() - t0)
  }
  return el / iters / 1e6 // ms per iteration
}

/** Child mode: contend on the registry (register+release in a loop) until told to stop. */
if (process.argv[2] === 'contend') {
  const reg = ScopeRegistry.open(process.argv[3])
  let stop = false
  process.on('message', () => (stop = true))
  process.send('ready')
  let i = 0
  const loop = () => {
    for (let k = 0; k < 5 && !stop; k++, i++) {
      reg.register({ name: `rival-${i}`, scopes: [w(`/bench/rival/${i}`)], sessionId: `r${i}` })
      reg.release(`rival-${i}`)
    }
    if (stop) process.exit(0)
    setImmediate(loop)
  }
  loop()
}

export async function runScopeBench({ sizes = [10, 1000, 10000] } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sole-scope-bench-'))
  const file = path.join(dir, 'scope.json')
  const reg = ScopeRegistry.open(file)
  const rows = []
  try {
    for (const n of sizes) {
      fill(reg, n)
      const bytes = fs.statSync(file).size
      const rt = () => measure((i) => {
        reg.register({ name: `bench-${i}`, scopes: [w(`/bench/new/${i}`)], sessionId: `b${i}` })
        reg.release(`bench-${i}`)
      })
      const cc = () => measure((i) => reg.conflictOwner(w(`/bench/live/${i % n}/x`)))
      const solo = { rt: rt(), cc: cc() }
      const rival = fork(SELF, ['contend', file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      await new Promise((res) => rival.once('message', res))
      const duo = { rt: rt(), cc: cc() }
      const gone = new Promise((res) => rival.once('exit', res))
      rival.send('stop')
      await gone
      rows.push({ allocations: n, fileKB: Math.round(bytes / 1024), roundTripMs: solo.rt, conflictMs: solo.cc, contendedRoundTripMs: duo.rt, contendedConflictMs: duo.cc })
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
  return rows
}

export function scopeTable(rows) {
  const f = (x) => x.toFixed(3)
  const lines = [
    '| live allocations | file | register+release (ms) | conflict check (ms) | register+release, 2 procs (ms) | conflict check, 2 procs (ms) |',
    '|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.allocations} | ${r.fileKB} KB | ${f(r.roundTripMs)} | ${f(r.conflictMs)} | ${f(r.contendedRoundTripMs)} | ${f(r.contendedConflictMs)} |`),
  ]
  return lines.join('\n')
}

if (process.argv[1] === SELF && process.argv[2] !== 'contend') {
  const rows = await runScopeBench()
  console.log(`Scope registry, ${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? ''}, node ${process.version}, dir ${os.tmpdir()}\n`)
  console.log(scopeTable(rows))
}
