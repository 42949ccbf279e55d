// The operator's side of sole's daemons: `daemonStatus` (readPidfile's answer plus the holder's
// uptime) and `stopDaemon` (terminateGracefully on the verified holder only) against real
// processes that claim pidfiles, ignore SIGTERM, get SIGKILLed, or merely have a pid that a
// hand-written pidfile names (never signalled).
import test from 'ava'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import * as sole from '../lib/index.js'
import { firstLine } from './fixtures/children.mjs'
import { deadPid, rejected, thrown, tmpdir } from './helpers/index.js'
import { exited, soleClaimer } from './helpers/operator.js'

/** The boot-time clock's resolution as the kernel reports start times and uptime (10 ms ticks). */
const TICK_MS = 20

test('daemonStatus of a held pidfile: the holder, with an uptime and a start date that are its own', async (t) => {
  const p = path.join(tmpdir(t), 'app.pid')
  const before = Date.now()
  const c = await soleClaimer(t, p)
  const after = Date.now()
  const s = sole.daemonStatus(p)
  if (s.state !== 'held') return t.fail(`state ${s.state}`)
  t.is(s.pid, c.pid)
  t.true(s.locked)
  t.is(s.identity?.pid, c.pid)
  // It started after `before` and has existed at most as long as since then.
  if (s.uptimeMs === null || s.startedAt === null) return t.fail('no uptime for a visible holder')
  t.true(s.uptimeMs >= 0)
  t.true(s.uptimeMs <= Date.now() - before + TICK_MS, `uptime ${s.uptimeMs} ms, spawned ${Date.now() - before} ms ago`)
  const started = Date.parse(s.startedAt)
  t.regex(s.startedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  t.true(started >= before - TICK_MS && started <= after + TICK_MS, `started ${s.startedAt}, spawned between ${new Date(before).toISOString()} and ${new Date(after).toISOString()}`)
  // The uptime advances with real time (measured over a timer, not a synchronisation).
  const t0 = Date.now()
  await new Promise((r) => setTimeout(r, 120))
  const later = sole.daemonStatus(p)
  if (later.state !== 'held' || later.uptimeMs === null) return t.fail()
  const grew = later.uptimeMs - s.uptimeMs
  const elapsed = Date.now() - t0
  // Within the clocks' rounding and the scheduling of a loaded machine; a wrong unit (ticks
  // taken for ms, or CLK_TCK misread) would be off by a factor, not by milliseconds.
  t.true(Math.abs(grew - elapsed) <= 2 * TICK_MS + 10, `uptime grew ${grew} ms over ${elapsed} ms`)
  // openHandle() of readPidfile's answer is kept: it reaches the holder.
  const h = s.openHandle()
  t.is(h.pid, c.pid)
  h.close()
})

test('daemonStatus of an absent, free (owner SIGKILLed) or unverified pidfile: readPidfile answer, no uptime', async (t) => {
  const dir = tmpdir(t)
  t.deepEqual(sole.daemonStatus(path.join(dir, 'none.pid')), { state: 'absent' })
  const p = path.join(dir, 'app.pid')
  const c = await soleClaimer(t, p)
  c.kill('SIGKILL')
  await exited(c)
  // The kernel freed the claim when the owner died: free at once, naming the dead pid.
  t.deepEqual(sole.daemonStatus(p), { state: 'free', stalePid: c.pid, reason: 'exited' })
  const u = path.join(dir, 'plain.pid')
  fs.writeFileSync(u, `${process.pid}\n`)
  t.deepEqual(sole.daemonStatus(u), { state: 'unverified', pid: process.pid })
  const stale = path.join(dir, 'stale.pid')
  const dead = deadPid()
  fs.writeFileSync(stale, `${dead}\n`)
  t.deepEqual(sole.daemonStatus(stale), { state: 'free', stalePid: dead, reason: 'exited' })
})

test('daemonStatus refuses what readPidfile refuses: a symlink, a directory, a bad path', (t) => {
  const dir = tmpdir(t)
  const target = path.join(dir, 'real.pid')
  fs.writeFileSync(target, '')
  fs.symlinkSync(target, path.join(dir, 'link.pid'))
  t.is((thrown(() => sole.daemonStatus(path.join(dir, 'link.pid'))) as sole.SoleError).code, 'ESYMLINK')
  t.is((thrown(() => sole.daemonStatus(dir)) as sole.SoleError).code, 'ENOTREG')
  t.like(thrown(() => sole.daemonStatus(42 as unknown as string)), { code: 'EINVAL', argument: 'pidfile' })
  t.like(thrown(() => sole.daemonStatus('')), { code: 'EINVAL', argument: 'pidfile' })
  t.like(thrown(() => sole.daemonStatus('a\0b')), { code: 'EINVAL', argument: 'pidfile' })
})

test('stopDaemon: the holder gets SIGTERM and the promise resolves once it is gone; the pidfile is free', async (t) => {
  const p = path.join(tmpdir(t), 'app.pid')
  const c = await soleClaimer(t, p)
  const end = exited(c)
  const r = await sole.stopDaemon(p)
  t.deepEqual(r, { pid: c.pid, outcome: 'terminated', found: { state: 'held', pid: c.pid as number, locked: true }, signal: 15, timeoutMs: 10_000 })
  // Resolved after the exit: the child is gone by now, ended by SIGTERM.
  t.deepEqual(await end, { code: null, signal: 'SIGTERM' })
  t.like(sole.readPidfile(p), { state: 'free' })
  // Stopping again: nothing holds it.
  t.like(await sole.stopDaemon(p), { pid: null, outcome: 'not-running', found: { state: 'free' } })
})

test('stopDaemon: another polite signal, by name or number', async (t) => {
  const dir = tmpdir(t)
  for (const [signal, expected] of [
    ['SIGHUP', 'SIGHUP'],
    [2, 'SIGINT'],
  ] as const) {
    const p = path.join(dir, `${expected}.pid`)
    const c = await soleClaimer(t, p)
    const end = exited(c)
    t.like(await sole.stopDaemon(p, { signal }), { pid: c.pid, outcome: 'terminated' })
    t.is((await end).signal, expected)
  }
})

test('stopDaemon: a holder that ignores SIGTERM is SIGKILLed after timeoutMs', async (t) => {
  const p = path.join(tmpdir(t), 'stubborn.pid')
  const c = await soleClaimer(t, p, true)
  let said = ''
  c.stdout!.on('data', (d: Buffer) => (said += d.toString()))
  const end = exited(c)
  const started = Date.now()
  const r = await sole.stopDaemon(p, { timeoutMs: 300 })
  const took = Date.now() - started
  t.like(r, { pid: c.pid, outcome: 'killed', timeoutMs: 300 })
  t.deepEqual(await end, { code: null, signal: 'SIGKILL' })
  t.true(took >= 300, `SIGKILL only after the timeout (${took} ms)`)
  t.regex(said, /ignored SIGTERM/, 'SIGTERM was delivered first')
})

test('stopDaemon: absent and free pidfiles are not-running, nothing created or signalled', async (t) => {
  const dir = tmpdir(t)
  const absent = path.join(dir, 'absent.pid')
  t.deepEqual(await sole.stopDaemon(absent), { pid: null, outcome: 'not-running', found: { state: 'absent' }, signal: 15, timeoutMs: 10_000 })
  t.false(fs.existsSync(absent), 'stopDaemon creates nothing')
  const empty = path.join(dir, 'empty.pid')
  fs.writeFileSync(empty, '')
  t.like(await sole.stopDaemon(empty), { pid: null, outcome: 'not-running', found: { state: 'free' } })
})

test('stopDaemon never signals a pid merely written in a pidfile: the test runner itself, a live child', async (t) => {
  const dir = tmpdir(t)
  // This very process: were it signalled (SIGKILL, no grace), this test could not finish.
  const self = path.join(dir, 'self.pid')
  fs.writeFileSync(self, `${process.pid}\n`)
  const r = await sole.stopDaemon(self, { signal: 'SIGKILL', timeoutMs: 0 })
  t.deepEqual(r, { pid: null, outcome: 'not-running', found: { state: 'unverified', pid: process.pid }, signal: 9, timeoutMs: 0 })
  // A live child named by a hand-written file: still running afterwards, never signalled.
  const live = spawn('sh', ['-c', 'echo up; exec sleep 300'], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => {
    live.kill('SIGKILL')
  })
  t.is(await firstLine(live), 'up')
  const other = path.join(dir, 'other.pid')
  fs.writeFileSync(other, `${live.pid}\n`)
  // timeoutMs 0: a signalled process would get SIGKILL at once, and stopDaemon would resolve
  // only after it exited; isAlive is false for an exited (even unreaped) process.
  t.like(await sole.stopDaemon(other, { timeoutMs: 0 }), { pid: null, outcome: 'not-running', found: { state: 'unverified', pid: live.pid } })
  t.true(sole.isAlive(live.pid as number), 'the child named by the file still runs')
  t.is(live.signalCode, null)
})

test('stopDaemon: bad arguments reject EINVAL naming them (with err.path), before anything is signalled', async (t) => {
  const p = path.join(tmpdir(t), 'app.pid')
  const c = await soleClaimer(t, p)
  const cases: [unknown, unknown, string][] = [
    [42, undefined, 'pidfile'],
    ['', undefined, 'pidfile'],
    [p, 5, 'options'],
    [p, { timeoutMs: -1 }, 'timeoutMs'],
    [p, { timeoutMs: '5' }, 'timeoutMs'],
    [p, { timeoutMs: Number.POSITIVE_INFINITY }, 'timeoutMs'],
    [p, { signal: 'SIGFROB' }, 'signal'],
    [p, { signal: 65 }, 'signal'],
    [p, { signal: true }, 'signal'],
  ]
  for (const [pidfile, opts, argument] of cases) {
    const e = (await rejected(sole.stopDaemon(pidfile as string, opts as sole.StopDaemonOptions))) as sole.SoleError | undefined
    t.is(e?.code, 'EINVAL', `${String(pidfile)} ${JSON.stringify(opts)}`)
    t.is(e?.argument, argument, e?.message)
    if (typeof pidfile === 'string' && pidfile !== '') t.is(e?.path, p, `${argument}: err.path`)
  }
  // A symlink to the holder's pidfile is refused, not followed to the holder.
  const link = path.join(path.dirname(p), 'link.pid')
  fs.symlinkSync(p, link)
  t.is(((await rejected(sole.stopDaemon(link))) as sole.SoleError).code, 'ESYMLINK')
  t.is(c.exitCode, null, 'the holder was never signalled')
  t.is(c.signalCode, null)
  t.like(sole.readPidfile(p), { state: 'held', pid: c.pid })
})

test('once stopDaemon resolves, daemonStatus reports the pidfile free', async (t) => {
  // A holder stopped by stopDaemon is reported gone by daemonStatus at once (the kernel
  // dropped its lock when it exited, before the promise resolved).
  const p = path.join(tmpdir(t), 'app.pid')
  const c = await soleClaimer(t, p)
  t.like(sole.daemonStatus(p), { state: 'held', pid: c.pid })
  await sole.stopDaemon(p, { timeoutMs: 2000 })
  t.like(sole.daemonStatus(p), { state: 'free', stalePid: c.pid })
})

/** Set the `user.sole.identity` record of a file (python3: Node has no xattr API). */
function setRecord(p: string, text: string): void {
  execFileSync('python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], "user.sole.identity", sys.argv[2].encode())', p, text])
}
/** A real skip (never a pass) where python3 is missing. */
const pythonTest = spawnSync('python3', ['-c', '']).status === 0 ? test : test.skip

pythonTest('stopDaemon: a holder proven by its identity record (no lock) is stopped; a forged start time is not', async (t) => {
  const dir = tmpdir(t)
  const live = spawn('sh', ['-c', 'echo up; exec sleep 300'], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => {
    live.kill('SIGKILL')
  })
  t.is(await firstLine(live), 'up')
  const id = sole.processIdentity(live.pid as number)
  // Another tool's pidfile with a record of the wrong start time: the pid was "reused".
  const forged = path.join(dir, 'forged.pid')
  fs.writeFileSync(forged, `${id.pid}\n`)
  setRecord(forged, `sole-identity/1 pid=${id.pid} start=${id.startTime + 1} boot=${id.bootId}`)
  t.like(await sole.stopDaemon(forged, { timeoutMs: 0 }), { pid: null, outcome: 'not-running', found: { state: 'free', stalePid: id.pid, reason: 'pid-reused' } })
  t.true(sole.isAlive(id.pid), 'a forged record reaches nobody')
  // The true record (without lock=flock: written by a tool that holds no lock): held, unlocked.
  const p = path.join(dir, 'app.pid')
  fs.writeFileSync(p, `${id.pid}\n`)
  setRecord(p, `sole-identity/1 pid=${id.pid} start=${id.startTime} boot=${id.bootId}`)
  t.like(sole.daemonStatus(p), { state: 'held', pid: id.pid, locked: false })
  const end = exited(live)
  t.like(await sole.stopDaemon(p), { pid: id.pid, outcome: 'terminated', found: { state: 'held', pid: id.pid, locked: false } })
  t.is((await end).signal, 'SIGTERM')
})

test('stopDaemon refuses a pidfile held by the calling process itself (EINVAL), and sends nothing', async (t) => {
  const d = tmpdir(t)
  const p = path.join(d, 'self.pid')
  using claim = sole.claimPidfile(p)
  t.false(claim.released)
  let terms = 0
  const onTerm = (): void => {
    terms++
  }
  process.on('SIGTERM', onTerm)
  t.teardown(() => process.off('SIGTERM', onTerm))
  const e = (await rejected(sole.stopDaemon(p))) as sole.SoleError & { argument?: string }
  t.is(e?.code, 'EINVAL')
  t.is(e.argument, 'pidfile')
  t.true(e.message.includes(`held by this process itself (PID ${process.pid})`), e.message)
  t.is(terms, 0)
  t.is(sole.readPidfile(p).state, 'held')
})
