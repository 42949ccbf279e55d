// Fencing tokens (issue 14 part 1): a grant with `fencing: true` carries a token greater than
// every earlier holder's, across processes, SIGKILLs and re-opens. Real child processes; an
// oracle log outside sole (O_APPEND, one `token pid` line per grant, written while the lock is
// held) records grant order, and the checker demands strictly increasing tokens in that order.
// The same checker catches a broken strategy (token read before the lock is held).
import test from 'ava'
import fc from 'fast-check'
import { spawn, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import { claimPidfile, lock, lockSync, openLockFile, readFencingToken, tryLock, type SoleError } from '../lib/index.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const SOLE = path.join(ROOT, 'lib', 'index.js')

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sole-fence-'))
}

// A child: `rounds` times, take the lock on argv[2] (sole fenced, or the broken strategy), append
// `token pid` to the log argv[3] while holding it, say "granted" on stdout, release.
const CHILD = `
const fs = require('node:fs')
const sole = require(${JSON.stringify(SOLE)})
const [file, log, rounds, strategy] = process.argv.slice(1) // node -e: argv[0] is node, then our arguments
// Start together: say "ready", then wait for the parent's "go" on stdin.
process.stdout.write('ready\\n')
fs.readSync(0, Buffer.alloc(3))
for (let i = 0; i < Number(rounds); i++) {
  let token, l
  if (strategy === 'sole') {
    l = sole.lockSync(file, { fencing: true })
    token = l.token
  } else {
    // Broken on purpose: the token is read BEFORE the lock is held, written after.
    let last = 0n
    try { last = BigInt(fs.readFileSync(file + '.fence', 'utf8') || '0') } catch {}
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1) // widen the window
    l = sole.lockSync(file)
    token = last + 1n
    fs.writeFileSync(file + '.fence', String(token))
  }
  fs.appendFileSync(log, token + ' ' + process.pid + '\\n')
  process.stdout.write('granted\\n')
  l.release()
}
`

/** Tokens in log order strictly increase (hence never repeat); the violation, or null. */
function violation(log: string): string | null {
  const lines = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : []
  let last = -1n
  for (const line of lines) {
    const t = BigInt(line.split(' ')[0]!)
    if (t <= last) return `token ${t} after ${last} (${lines.length} grants)`
    last = t
  }
  return null
}

interface Child {
  rounds: number
  /** SIGKILL once this many grants were reported (≥ rounds: never), or at once (-1: mid-start). */
  killAfter: number
}

/** Run children concurrently; each is SIGKILLed when its schedule says. Resolves when all ended. */
async function runSchedule(dir: string, children: Child[], strategy: 'sole' | 'broken'): Promise<string> {
  const file = path.join(dir, 'x.lock')
  const log = path.join(dir, 'oracle.log')
  fs.rmSync(log, { force: true })
  const ready: Promise<void>[] = []
  const starts: (() => void)[] = []
  const ended = children.map(
      (c) =>
        new Promise<void>((resolve) => {
          const p = spawn(process.execPath, ['-e', CHILD, file, log, String(c.rounds), strategy], {
            stdio: ['pipe', 'pipe', 'inherit'],
          })
          p.stdin.on('error', () => undefined) // a child killed before "go"
          ready.push(new Promise((r) => { p.stdout.once('data', () => r()); p.on('exit', () => r()) }))
          starts.push(() => p.stdin.end('go\n'))
          let granted = 0
          if (c.killAfter < 0) p.kill('SIGKILL')
          p.stdout.on('data', (b: Buffer) => {
            granted += b.toString().split('granted').length - 1
            if (granted >= c.killAfter && c.killAfter >= 0 && c.killAfter < c.rounds) p.kill('SIGKILL')
          })
          p.on('exit', () => resolve())
        }),
  )
  await Promise.all(ready)
  for (const go of starts) go()
  await Promise.all(ended)
  return log
}

const schedule = fc.array(
  fc.record({ rounds: fc.integer({ min: 1, max: 12 }), killAfter: fc.integer({ min: -1, max: 12 }) }),
  { minLength: 2, maxLength: 5 },
)

test('tokens increase across grants, handles, processes, a SIGKILLed holder and re-opening', async (t) => {
  const dir = tmp()
  const p = path.join(dir, 'a.lock')
  t.is(readFencingToken(p), null)
  fs.writeFileSync(p, '')
  t.is(readFencingToken(p), 0n)
  const a = tryLock(p, { fencing: true })!
  t.is(a.token, 1n)
  t.is(readFencingToken(p), 1n)
  a.release()
  const plain = lockSync(p)
  t.is(plain.token, null)
  plain.release()
  t.is(readFencingToken(p), 1n, 'a lock without fencing does not move the token')
  const b = await lock(p, { fencing: true })
  t.is(b.token, 2n)
  b.release()
  const h = openLockFile(p, { fencing: true })
  const c = h.lockSync()
  t.is(c.token, 3n)
  c.release()
  h.close()
  // Another process.
  const out = execFileSync(process.execPath, ['-e', `const l=require(${JSON.stringify(SOLE)}).lockSync(process.argv[1],{fencing:true});console.log(String(l.token))`, p])
  t.is(out.toString().trim(), '4')
  // A holder SIGKILLed while it holds the lock: the next token is still greater.
  const holder = spawn(process.execPath, ['-e', `const l=require(${JSON.stringify(SOLE)}).lockSync(process.argv[1],{fencing:true});console.log(String(l.token));setInterval(()=>{},1e6)`, p], { stdio: ['ignore', 'pipe', 'inherit'] })
  const got = await new Promise<string>((r) => holder.stdout.once('data', (d: Buffer) => r(d.toString().trim())))
  t.is(got, '5')
  const exited = new Promise((r) => holder.on('exit', r))
  holder.kill('SIGKILL')
  await exited
  const d = await lock(p, { fencing: true })
  t.is(d.token, 6n)
  d.release()
  // A pidfile keeps `PID\n` as its content; the token is kept with the file.
  const pf = path.join(dir, 'x.pid')
  const claim = claimPidfile(pf, { fencing: true })
  t.is(claim.token, 1n)
  t.is(fs.readFileSync(pf, 'utf8'), `${process.pid}\n`)
  claim.release()
  t.is(claimPidfile(pf, { fencing: true }).token, 2n)
})

test('fencing with a shared lock, and readFencingToken with bad arguments, are EINVAL naming the argument', (t) => {
  const dir = tmp()
  const p = path.join(dir, 'a.lock')
  const e1 = t.throws(() => tryLock(p, { shared: true, fencing: true })) as SoleError
  t.is(e1.code, 'EINVAL')
  t.is(e1.argument, 'fencing')
  const e2 = t.throws(() => tryLock(p, { fencing: 'yes' as unknown as boolean })) as SoleError
  t.is(e2.code, 'EINVAL')
  t.is(e2.argument, 'fencing')
  for (const bad of [undefined, 3, '', 'a\0b']) {
    const e = t.throws(() => readFencingToken(bad as string)) as SoleError
    t.is(e.code, 'EINVAL')
    t.is(e.argument, 'path')
  }
  fs.symlinkSync(p, path.join(dir, 'link'))
  t.is((t.throws(() => readFencingToken(path.join(dir, 'link'))) as SoleError).code, 'ESYMLINK')
})

test('property: with fencing, tokens in grant order strictly increase under random SIGKILL schedules', async (t) => {
  const dir = tmp()
  let grants = 0
  await fc.assert(
    fc.asyncProperty(schedule, async (children) => {
      const log = await runSchedule(dir, children, 'sole')
      const v = violation(log)
      if (v) throw new Error(v)
      grants += fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0
    }),
    { numRuns: 15 },
  )
  // Not vacuous: the schedules granted locks (most children live for several rounds).
  t.true(grants > 0)
  t.log(`${grants} fenced grants checked; last token ${readFencingToken(path.join(dir, 'x.lock'))}`)
})

test('the checker catches a broken strategy (token read before the lock is held)', async (t) => {
  const dir = tmp()
  const r = await fc.check(
    fc.asyncProperty(schedule, async (children) => {
      fs.rmSync(path.join(dir, 'x.lock.fence'), { force: true })
      const log = await runSchedule(dir, children.map((c) => ({ ...c, rounds: 12, killAfter: 99 })), 'broken')
      const v = violation(log)
      if (v) throw new Error(v)
    }),
    { numRuns: 15 },
  )
  t.true(r.failed, 'the broken strategy must be caught')
  t.log(`caught: ${String(r.errorInstance)}`)
})
