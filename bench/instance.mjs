// Single-instance benchmark (section `instance` of bench.mjs, or `node bench/instance.mjs`
// alone): the round trip from a second instance's call to the primary's handler and back.
//
// - reference: bench/c/udsrtt.c: a C client's connect + one length-prefixed frame + the reply
//   from a forked C server that answers at once (the floor of any Unix-socket handoff);
// - sole: `requestSingleInstanceSync(name)` in this process against a primary in a child
//   process whose 'second-instance' handler returns a value: the lock try (refused), connect,
//   both SO_PEERCRED checks, the JSON frame, the primary's event loop, its handler, the reply;
// - sole async: `await requestSingleInstance(name)` (the same on a dedicated thread);
// - single-instance 0.0.1 (npm): `new SingleInstance(name).lock()` against a primary that
//   holds it: connect + write "connectionAttempt" + its rejection (it has no reply channel, so
//   it measures less than the others);
// - a second launch end to end: `node -e` that requires sole and calls
//   requestSingleInstanceSync, until it exits with the reply, against `node -e ''` (process
//   start alone). The target: within 2× the C reference plus process start.
// Every method is run interleaved with the others, RUNS times.
import { createRequire } from 'node:module'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const sole = require('../lib/index.js')
const SELF = fileURLToPath(import.meta.url)
const RUNS = Number(process.env.SOLE_BENCH_INSTANCE_RUNS) || 200
const LAUNCHES = Number(process.env.SOLE_BENCH_INSTANCE_LAUNCHES) || 15

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[s.length >> 1]
}
const fmt = (ns) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : `${(ns / 1e3).toFixed(1)} µs`)

/** A primary in a child process: prints "primary" once it is listening for messages. */
const PRIMARY = `
const sole = require(process.argv[1])
const inst = sole.requestSingleInstanceSync(process.argv[2], { dir: process.argv[3] })
if (!inst.primary) { console.log('not-primary'); process.exit(1) }
inst.on('second-instance', (argv) => ({ seen: argv.length }))
setImmediate(() => console.log('primary'))
`

function firstLine(child) {
  return new Promise((resolve, reject) => {
    let buf = ''
    child.stdout.on('data', (d) => {
      buf += d
      const i = buf.indexOf('\n')
      if (i >= 0) resolve(buf.slice(0, i))
    })
    child.once('exit', (c) => reject(new Error(`exited ${c} before a line`)))
  })
}

export async function runInstanceBench() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sole-bench-inst-'))
  const out = {}
  try {
    // C reference.
    const build = path.join(here, '.build')
    fs.mkdirSync(build, { recursive: true })
    const cbin = path.join(build, 'udsrtt')
    let cRef = null
    try {
      execFileSync(process.env.CC || 'cc', ['-O2', '-Wall', '-o', cbin, path.join(here, 'c', 'udsrtt.c')], { stdio: ['ignore', 'ignore', 'pipe'] })
      const [med, p99] = execFileSync(cbin, [path.join(dir, 'c.sock'), String(RUNS * 5)]).toString().trim().split(' ').map(Number)
      cRef = { med, p99 }
    } catch (e) {
      out.cReason = String(e.message).split('\n')[0]
    }
    out.c = cRef

    // sole: a primary child, then sync and async second instances from here, interleaved.
    const lib = path.join(here, '..', 'lib', 'index.js')
    const primary = spawn(process.execPath, ['-e', PRIMARY, lib, 'bench', dir], { stdio: ['ignore', 'pipe', 'inherit'] })
    const said = await firstLine(primary)
    if (said !== 'primary') throw new Error(`the benchmark's primary said ${said}`)
    const sync = []
    const asyn = []
    for (let i = 0; i < RUNS; i++) {
      let t0 = process.hrtime.bigint()
      const a = sole.requestSingleInstanceSync('bench', { dir, argv: ['node', 'app.js', '--open', 'file.txt'] })
      sync.push(Number(process.hrtime.bigint() - t0))
      if (a.primary) throw new Error('the benchmark became primary')
      t0 = process.hrtime.bigint()
      const b = await sole.requestSingleInstance('bench', { dir, argv: ['node', 'app.js', '--open', 'file.txt'] })
      asyn.push(Number(process.hrtime.bigint() - t0))
      if (b.primary) throw new Error('the benchmark became primary')
    }
    out.sync = sync
    out.async = asyn

    // A whole second launch, against node's own start.
    const launch = []
    const bare = []
    const second = `const i = require(process.argv[1]).requestSingleInstanceSync('bench', { dir: process.argv[2] }); process.exit(i.primary ? 1 : 0)`
    for (let i = 0; i < LAUNCHES; i++) {
      let t0 = process.hrtime.bigint()
      const r = spawnSync(process.execPath, ['-e', second, lib, dir])
      launch.push(Number(process.hrtime.bigint() - t0))
      if (r.status !== 0) throw new Error(`a second launch exited ${r.status}: ${r.stderr}`)
      t0 = process.hrtime.bigint()
      spawnSync(process.execPath, ['-e', ''])
      bare.push(Number(process.hrtime.bigint() - t0))
    }
    out.launch = launch
    out.bare = bare
    primary.kill('SIGKILL')

    // single-instance from npm, if it installed: in a child process, which exits when done
    // (its server never closes the connections its clients leave open, so unlock() never ends).
    try {
      require.resolve('single-instance')
      const SI = `
const SingleInstance = require(process.argv[1])
const path = require('path')
;(async () => {
  const socketPath = path.join(process.argv[2], 'si.sock')
  const first = new SingleInstance('bench', { socketPath })
  await first.lock()
  const t = []
  for (let i = 0; i < Number(process.argv[3]); i++) {
    const t0 = process.hrtime.bigint()
    let let_in = false
    await new SingleInstance('bench', { socketPath }).lock().then(() => { let_in = true }, () => undefined)
    if (let_in) { console.log('let-in'); process.exit(1) }
    t.push(Number(process.hrtime.bigint() - t0))
  }
  console.log(JSON.stringify(t))
  process.exit(0)
})()`
      const r = spawnSync(process.execPath, ['-e', SI, require.resolve('single-instance'), dir, String(RUNS)], { encoding: 'utf8', timeout: 120_000 })
      if (r.status !== 0) throw new Error(`single-instance run exited ${r.status}: ${r.stdout}${r.stderr}`)
      out.si = JSON.parse(r.stdout)
    } catch (e) {
      out.siReason = e.code === 'MODULE_NOT_FOUND' ? 'not installed' : String(e.message).split('\n')[0]
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
  return out
}

function rowsOf(r) {
  const rows = []
  const ref = r.c?.med
  const vs = (ns) => (ref ? `${(ns / ref).toFixed(2)}× C` : '')
  const T = '9. single instance: second instance → primary\'s handler → reply'
  if (r.c) rows.push([T, 'C: connect + frame + reply on a Unix socket, forked C server (reference)', `median ${fmt(r.c.med)}, p99 ${fmt(r.c.p99)}`, '1.00×'])
  else rows.push([T, 'C reference', `n/a (${r.cReason})`, ''])
  rows.push([T, 'sole `requestSingleInstanceSync` (lock try, connect, SO_PEERCRED both ways, JSON frame, the primary\'s handler in its event loop, reply)', `median ${fmt(median(r.sync))}`, vs(median(r.sync))])
  rows.push([T, 'sole `await requestSingleInstance` (the same on a dedicated thread)', `median ${fmt(median(r.async))}`, vs(median(r.async))])
  if (r.si) rows.push([T, 'single-instance 0.0.1: `lock()` refused (connect + write; no reply channel, no lock)', `median ${fmt(median(r.si))}`, vs(median(r.si))])
  else rows.push([T, 'single-instance 0.0.1', `n/a (${r.siReason})`, ''])
  const start = median(r.bare)
  const whole = median(r.launch)
  const target = ref ? 2 * ref + start : null
  rows.push([`${T}, whole second launch`, '`node -e ""` (process start alone)', `median ${fmt(start)}`, ''])
  rows.push([`${T}, whole second launch`, '`node -e` requiring sole + `requestSingleInstanceSync` until exit', `median ${fmt(whole)}`, `${fmt(whole - start)} over process start`, target ? `≤ 2× C + process start (${fmt(target)}): ${whole <= target ? 'met' : 'missed'}` : ''])
  return rows
}

export async function benchInstance({ row, log = console.log } = {}) {
  log(`\n## 9. single instance round trip (${RUNS} calls each, interleaved; ${LAUNCHES} whole launches)`)
  const r = await runInstanceBench()
  for (const x of rowsOf(r)) row(...x)
  return r
}

if (process.argv[1] === SELF) {
  const r = await runInstanceBench()
  console.log(`# single instance (${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})\n`)
  console.log('| Test | Implementation | Result | vs reference | Target |\n|---|---|---|---|---|')
  for (const x of rowsOf(r)) console.log(`| ${x.join(' | ')} |`)
}
