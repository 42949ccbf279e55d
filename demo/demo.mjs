// The guarantee, shown with real processes: five processes race for one pidfile, exactly one
// wins, the others are told who holds it and wait; each time the owner is SIGKILLed, exactly
// one waiter takes over, and we print how long that took. Then the scope registry: an
// overlapping write claim is refused with the owner's name, and a SIGKILLed owner's scope is
// reclaimed by the next operation. No step waits on a sleep: every step is driven by a message
// from a process or by the kernel releasing a lock.
import { fork } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const sole = require('../lib/index.js')
const here = path.dirname(fileURLToPath(import.meta.url))
const N = Number(process.env.SOLE_DEMO_PROCESSES ?? 5)

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sole-demo-'))
const pidfile = path.join(dir, 'app.pid')
const children = new Map()
const events = []
let wake = null
const next = (pred) =>
  new Promise((resolve) => {
    const check = () => {
      const i = events.findIndex(pred)
      if (i >= 0) {
        wake = null
        resolve(events.splice(i, 1)[0])
      } else wake = check
    }
    check()
  })

function fail(msg) {
  console.error(`\nDEMO FAILED: ${msg}`)
  for (const c of children.values()) c.kill('SIGKILL')
  process.exit(1)
}

console.log(`sole demo: ${N} processes race for ${pidfile}\n`)
for (let i = 0; i < N; i++) {
  const c = fork(path.join(here, 'contender.mjs'), [pidfile], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  c.on('message', (m) => {
    events.push(m)
    wake?.()
  })
  c.on('exit', (code, sig) => {
    events.push({ ev: 'exit', pid: c.pid, code, sig })
    wake?.()
  })
  children.set(c.pid, c)
}
for (let i = 0; i < N; i++) await next((e) => e.ev === 'ready')

// Start them all at once.
for (const c of children.values()) c.send({ cmd: 'go' })
const outcomes = []
for (let i = 0; i < N; i++) outcomes.push(await next((e) => e.ev === 'won' || e.ev === 'refused'))
const winners = outcomes.filter((e) => e.ev === 'won')
if (winners.length !== 1) fail(`${winners.length} processes won the race`)
let owner = winners[0].pid
console.log(`  PID ${owner}: won the pidfile`)
for (const e of outcomes.filter((e) => e.ev === 'refused')) {
  if (e.holder !== owner) fail(`PID ${e.pid} was told the holder is ${e.holder}, but ${owner} won`)
  console.log(`  PID ${e.pid}: refused — ${e.message.split('. ')[0]}`)
}
const seen = sole.readPidfile(pidfile)
if (seen.state !== 'held' || seen.pid !== owner) fail('readPidfile disagrees with the winner')
console.log(`\n  readPidfile from a third process: held by PID ${seen.pid} (locked: ${seen.locked}, started at tick ${seen.identity?.startTime} of boot ${seen.identity?.bootId.slice(0, 8)}…); file says ${JSON.stringify(fs.readFileSync(pidfile, 'utf8'))}`)
{
  // Signal the owner through a pidfd verified against the identity read under the lock:
  // signal 0 checks that it reaches exactly that process.
  const h = seen.openHandle()
  h.signal(0)
  console.log(`  openHandle(): ${h.kind} bound to PID ${h.pid}; signals sent through it can never reach a process that reuses the pid`)
  h.close()
}

console.log('\nNow the owner is SIGKILLed, again and again; a waiting process takes over each time:\n')
const takeovers = []
for (let round = 1; round < N; round++) {
  const killedAt = process.hrtime.bigint()
  children.get(owner).kill('SIGKILL')
  const t = await next((e) => e.ev === 'tookOver')
  const ms = Number(BigInt(t.at) - killedAt) / 1e6
  takeovers.push(ms)
  const now = sole.readPidfile(pidfile)
  if (now.state !== 'held' || now.pid !== t.pid) fail(`after takeover readPidfile says ${JSON.stringify(now)}, expected PID ${t.pid}`)
  if (sole.isAlive(owner)) fail(`PID ${owner} was SIGKILLed but isAlive says it is alive`)
  console.log(`  round ${round}: PID ${owner} SIGKILLed → PID ${t.pid} owns the pidfile ${ms.toFixed(3)} ms later`)
  owner = t.pid
}

children.get(owner).send({ cmd: 'release' })
await next((e) => e.ev === 'released' && e.pid === owner)
const end = sole.readPidfile(pidfile)
console.log(`\n  PID ${owner} released cleanly: readPidfile → ${JSON.stringify(end)}; the file still exists (${fs.existsSync(pidfile)}) — pidfiles are never unlinked`)
const sorted = [...takeovers].sort((a, b) => a - b)
console.log(`\nExactly one owner at every step. Takeover after SIGKILL: median ${sorted[Math.floor(sorted.length / 2)].toFixed(3)} ms, max ${sorted.at(-1).toFixed(3)} ms (no stale timeout: the kernel frees a dead owner's lock).`)
for (const c of children.values()) c.kill('SIGKILL')

// The scope registry: a writer owns a subtree; an overlapping claim is refused with the owner's
// name; when the owner is SIGKILLed, the next operation of any process reclaims its scope.
console.log('\nScope registry: who may write where\n')
const registry = path.join(dir, 'scope.json')
const scopeChild = (name, target) =>
  new Promise((resolve) => {
    const c = fork(path.join(here, 'scope-child.mjs'), [registry, name, target], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    c.once('message', (m) => resolve({ c, m }))
  })
const a = await scopeChild('builder', path.join(dir, 'tree'))
if (a.m.ev !== 'registered') fail(`builder could not register: ${a.m.message}`)
console.log(`  PID ${a.m.pid} ("builder") owns ${path.join(dir, 'tree')}/**`)
const b = await scopeChild('linter', path.join(dir, 'tree', 'src'))
if (b.m.ev !== 'refused' || b.m.code !== 'ECONFLICT') fail(`an overlapping claim was not refused: ${JSON.stringify(b.m)}`)
console.log(`  PID ${b.m.pid} ("linter") wants ${path.join(dir, 'tree', 'src')}/** → ${b.m.code}: ${b.m.message.split(':')[0]}`)
b.c.kill('SIGKILL')
const reg = sole.ScopeRegistry.open(registry)
if (!reg.list().some((x) => x.name === 'builder')) fail('the live builder is missing from the registry')
const gone = new Promise((r) => a.c.once('exit', r))
a.c.kill('SIGKILL')
await gone
// No reclaim call, no timeout: the next operation of any process cleans up first.
reg.register({ name: 'linter', scopes: [{ target: path.join(dir, 'tree', 'src'), permission: 'write', recursive: true }], sessionId: 'demo' })
const names = reg.list().map((x) => x.name)
if (names.includes('builder')) fail(`the SIGKILLed builder's scope survived: ${JSON.stringify(names)}`)
console.log(`  PID ${a.m.pid} SIGKILLed → the next register() reclaimed "builder" (no live process has its pid and start time) and "linter" now owns ${path.join(dir, 'tree', 'src')}/**`)
reg.release('linter')

// A daemon: started natively (double fork; it claims its own pidfile before exec), ready when
// it says so over sd_notify, refused a second time, SIGKILLed (its pidfile is free at once),
// restarted, and stopped through its verified pidfile holder.
console.log('\nDaemons: started, ready, refused a second time, SIGKILLed, restarted\n')
const daemonPidfile = path.join(dir, 'daemon.pid')
const daemonOpts = { command: process.execPath, args: [path.join(here, 'daemon.cjs')], pidfile: daemonPidfile, stderr: path.join(dir, 'daemon.err') }
let t0 = process.hrtime.bigint()
const d1 = await sole.spawnDaemon(daemonOpts)
console.log(`  spawnDaemon → PID ${d1.pid} ready in ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms (status: "${d1.status}"); parent is PID ${fs.readFileSync(`/proc/${d1.pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]}, its own session, no terminal`)
try {
  await sole.spawnDaemon(daemonOpts)
  fail('a second daemon started on a held pidfile')
} catch (e) {
  if (e.code !== 'EHELD' || e.pid !== d1.pid) fail(`the second start failed the wrong way: ${e.code} ${e.message}`)
  console.log(`  second spawnDaemon → ${e.code}: ${e.message.split('. ')[0]}`)
}
{
  const h = sole.ProcessHandle.open(d1.pid)
  h.kill()
  await h.waitForExit()
  h.close()
}
const afterKill = sole.readPidfile(daemonPidfile)
if (afterKill.state !== 'free') fail(`the SIGKILLed daemon's pidfile is ${afterKill.state}`)
console.log(`  PID ${d1.pid} SIGKILLed → its pidfile is free at once (readPidfile: ${afterKill.state}, reason: ${afterKill.reason})`)
t0 = process.hrtime.bigint()
const d2 = await sole.spawnDaemon(daemonOpts)
console.log(`  restarted → PID ${d2.pid} ready in ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms`)
const stopped = await sole.stopDaemon(daemonPidfile)
console.log(`  stopDaemon → PID ${stopped.pid} ${stopped.outcome} (SIGTERM to the verified holder, never a recycled pid)`)

// Single instance: the first launch of an app is the primary; a second launch hands over its
// argv and gets the primary's answer; SIGKILL the primary and the next launch is primary at once.
console.log('\nSingle instance: a second launch hands its argv to the running one\n')
const instDir = path.join(dir, 'instances')
fs.mkdirSync(instDir, { mode: 0o700 })
const launch = (...args) => {
  const c = fork(path.join(here, 'instance-app.cjs'), [instDir, ...args], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
  const lines = []
  let more = null
  let buf = ''
  c.stdout.on('data', (d) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)))
      buf = buf.slice(i + 1)
      more?.()
    }
  })
  const line = (ev) =>
    new Promise((resolve) => {
      const look = () => {
        const i = lines.findIndex((l) => l.ev === ev)
        if (i >= 0) {
          more = null
          resolve(lines.splice(i, 1)[0])
        } else more = look
      }
      look()
    })
  return { c, line }
}
const p1 = launch()
const first = await p1.line('primary')
console.log(`  launch 1: PID ${first.pid} is the primary`)
const l2 = launch('--open', 'notes.txt', 'ünïcode file.md')
const [second, got] = await Promise.all([l2.line('secondary'), p1.line('got')])
console.log(`  launch 2: PID ${second.pid} handed over ${JSON.stringify(got.argv.slice(3))} (cwd ${got.workingDirectory}); the primary answered: "${second.reply}"`)
{
  const gonePrimary = new Promise((r) => p1.c.once('exit', r))
  p1.c.kill('SIGKILL')
  await gonePrimary
}
const l3 = launch()
const third = await l3.line('primary')
console.log(`  PID ${first.pid} SIGKILLed → launch 3: PID ${third.pid} is the primary at once (no stale lock, no socket file to trust)`)
l3.c.send('release')
await new Promise((r) => l3.c.once('exit', r))

console.log('\nEvery claim had exactly one owner; a dead owner was cleaned up by the next operation, without a timeout.')
fs.rmSync(dir, { recursive: true, force: true })
