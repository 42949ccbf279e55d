// Arguments of the lock and pidfile APIs, decided once in Rust: a wrong type or value of any
// argument or option is EINVAL with `err.argument` naming it (pids: EINVALIDPID), never one of
// napi's own conversion errors; null/undefined options mean the defaults; a caller's own
// exception from a getter passes through unchanged; every timeoutMs goes through one rule
// (0..=Number.MAX_SAFE_INTEGER waits that long, anything else is EINVAL) and none can abort the
// process or fire early. Also: LockFile.close() with a lock out, and worker teardown.
import test, { type ExecutionContext } from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import { Worker } from 'node:worker_threads'

import * as sole from '../lib/index.js'
import { tmpdir } from './helpers/index.js'

type Err = Error & { code?: string; argument?: string; path?: string; pid?: number }

function invalid(t: ExecutionContext, f: () => unknown, argument: string, what: string): Err {
  const e = t.throws(f, undefined, what) as Err
  t.true(e instanceof Error, what)
  t.is(e.code, 'EINVAL', `${what}: ${e.message}`)
  t.is(e.argument, argument, `${what}: ${e.message}`)
  return e
}

async function invalidAsync(t: ExecutionContext, p: Promise<unknown>, argument: string, what: string): Promise<Err> {
  const e = (await t.throwsAsync(p, undefined, what)) as Err
  t.is(e.code, 'EINVAL', `${what}: ${e.message}`)
  t.is(e.argument, argument, `${what}: ${e.message}`)
  return e
}

const notStrings: unknown[] = [42, true, {}, [], null, undefined, Symbol('s'), 10n, () => 'x']

test('a path that is not a string is EINVAL naming it, for every call that takes one', async (t) => {
  const calls: [string, (v: any) => unknown][] = [
    ['tryLock', (v) => sole.tryLock(v)],
    ['lockSync', (v) => sole.lockSync(v)],
    ['openLockFile', (v) => sole.openLockFile(v)],
    ['claimPidfile', (v) => sole.claimPidfile(v)],
    ['acquireDaemonLock', (v) => sole.acquireDaemonLock(v)],
    ['readPidfile', (v) => sole.readPidfile(v)],
    ['readLockPid', (v) => sole.readLockPid(v)],
  ]
  for (const [name, f] of calls) {
    for (const v of notStrings) invalid(t, () => f(v), 'path', `${name}(${typeof v})`)
    invalid(t, () => f(''), 'path', `${name}('')`)
    const e = invalid(t, () => f('/tmp/a\0b'), 'path', `${name}(NUL)`)
    t.regex(e.message, /NUL/)
  }
  for (const v of notStrings) invalid(t, () => sole.daemonLockPath(v as string), 'dir', `daemonLockPath(${typeof v})`)
  await invalidAsync(t, sole.lock(42 as unknown as string), 'path', 'lock(42)')
  await invalidAsync(t, sole.claimPidfileWhenFree({} as unknown as string), 'path', 'claimPidfileWhenFree({})')
})

test('options of the wrong type are EINVAL naming the option and the path; null/undefined mean the defaults', async (t) => {
  const d = tmpdir(t)
  const p = path.join(d, 'o.lock')
  const bad: [object | unknown, string][] = [
    [{ shared: 'yes' }, 'shared'],
    [{ shared: 1 }, 'shared'],
    [{ mode: {} }, 'mode'],
    [{ mode: '0600' }, 'mode'],
    [{ mode: 1.5 }, 'mode'],
    [{ mode: -1 }, 'mode'],
    [{ mode: 2 ** 40 }, 'mode'],
    [{ createDirs: 'no' }, 'createDirs'],
    [{ timeoutMs: '10' }, 'timeoutMs'],
    [{ timeoutMs: 10n }, 'timeoutMs'],
    [5, 'options'],
    ['x', 'options'],
    [Symbol('o'), 'options'],
  ]
  for (const [o, argument] of bad) {
    const what = `${String(typeof o === 'symbol' ? 'symbol' : JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)))}`
    const e = invalid(t, () => sole.tryLock(p, o as sole.LockOptions), argument, `tryLock ${what}`)
    t.is(e.path, p, `tryLock ${what} names the path`)
    invalid(t, () => sole.lockSync(p, o as sole.LockOptions), argument, `lockSync ${what}`)
    await invalidAsync(t, sole.lock(p, o as sole.LockOptions), argument, `lock ${what}`)
    if (argument !== 'shared' && argument !== 'timeoutMs') {
      invalid(t, () => sole.openLockFile(p, o as sole.LockOptions), argument, `openLockFile ${what}`)
      invalid(t, () => sole.claimPidfile(p, o as sole.PidfileOptions), argument, `claimPidfile ${what}`)
    }
  }
  t.false(fs.existsSync(p), 'nothing was created by a refused call')
  for (const o of [null, undefined, {}, { shared: null, mode: undefined, timeoutMs: null }]) {
    const l = sole.tryLock(p, o as sole.LockOptions)
    t.truthy(l)
    l?.release()
    ;(await sole.lock(p, o as sole.LockAsyncOptions)).release()
    sole.lockSync(p, o as sole.LockSyncOptions).release()
    sole.openLockFile(p, o as sole.LockOptions).close()
    sole.claimPidfile(path.join(d, 'o.pid'), o as sole.PidfileOptions).release()
  }
  invalid(t, () => sole.readPidfile(p, { handle: 'yes' } as unknown as { handle: boolean }), 'handle', 'readPidfile handle')
  await invalidAsync(t, sole.lock(p, { signal: 'abort' } as unknown as sole.LockAsyncOptions), 'signal', 'lock signal string')
  await invalidAsync(t, sole.lock(p, { signal: {} } as unknown as sole.LockAsyncOptions), 'signal', 'lock signal {}')
})

test("a getter's own exception passes through unchanged", async (t) => {
  const d = tmpdir(t)
  const p = path.join(d, 'g.lock')
  const sentinel = new Error('mine')
  const hostile = new Proxy({}, {
    get() {
      throw sentinel
    },
  })
  const calls: [string, () => unknown][] = [
    ['tryLock', () => sole.tryLock(p, hostile)],
    ['lockSync', () => sole.lockSync(p, hostile)],
    ['openLockFile', () => sole.openLockFile(p, hostile)],
    ['claimPidfile', () => sole.claimPidfile(path.join(d, 'g.pid'), hostile)],
    ['readPidfile', () => sole.readPidfile(p, hostile)],
  ]
  for (const [name, f] of calls) t.is(t.throws(f), sentinel, name)
  t.is(await t.throwsAsync(sole.lock(p, hostile)), sentinel, 'lock')
  t.is(await t.throwsAsync(sole.claimPidfileWhenFree(path.join(d, 'g.pid'), hostile)), sentinel, 'claimPidfileWhenFree')
  using lf = sole.openLockFile(p)
  t.is(t.throws(() => lf.tryLock(hostile)), sentinel, 'LockFile.tryLock')
  t.is(t.throws(() => lf.lockSync(hostile)), sentinel, 'LockFile.lockSync')
  t.is(await t.throwsAsync(lf.lock(hostile)), sentinel, 'LockFile.lock')
  t.truthy(lf.tryLock(), 'a refused call left the handle usable')
})

test('pidAlive: a value that is not an integer is EINVALIDPID, never a napi error', (t) => {
  for (const v of ['x', '1', null, undefined, {}, 1n, Symbol('p'), 1.5, NaN, Infinity]) {
    const e = t.throws(() => sole.pidAlive(v as number)) as Err
    t.is(e.code, 'EINVALIDPID', String(typeof v === 'symbol' ? 'symbol' : v))
  }
  t.false(sole.pidAlive(0))
  t.false(sole.pidAlive(-1))
  t.false(sole.pidAlive(2 ** 53))
  t.true(sole.pidAlive(process.pid))
})

test('timeoutMs: NaN, ±Infinity, negatives and 1e300 are EINVAL, checked before any wait; the process survives', async (t) => {
  const d = tmpdir(t)
  const p = path.join(d, 'held.lock')
  using held = sole.openLockFile(p)
  held.tryLock()
  const pid = path.join(d, 'held.pid')
  using claim = sole.claimPidfile(pid)
  t.false(claim.released)
  for (const ms of [NaN, Infinity, -Infinity, -1, 1e300, 2 ** 53]) {
    const what = `timeoutMs ${ms}`
    const e = await invalidAsync(t, sole.lock(p, { timeoutMs: ms }), 'timeoutMs', `lock ${what}`)
    t.is(e.path, p)
    invalid(t, () => sole.lockSync(p, { timeoutMs: ms }), 'timeoutMs', `lockSync ${what}`)
    await invalidAsync(t, sole.claimPidfileWhenFree(pid, { timeoutMs: ms }), 'timeoutMs', `claimPidfileWhenFree ${what}`)
    using lf = sole.openLockFile(p)
    await invalidAsync(t, lf.lock({ timeoutMs: ms }), 'timeoutMs', `LockFile.lock ${what}`)
    invalid(t, () => lf.lockSync({ timeoutMs: ms }), 'timeoutMs', `LockFile.lockSync ${what}`)
  }
})

/** Still pending after `ms`: a long timeout must not fire early (a JS timer overflows past 2^31-1 ms). */
async function stillPending(p: Promise<unknown>, ms: number): Promise<boolean> {
  const marker = Symbol('pending')
  p.catch(() => undefined)
  return (await Promise.race([p, new Promise((r) => setTimeout(() => r(marker), ms))])) === marker
}

test('timeoutMs 2^31 and Number.MAX_SAFE_INTEGER wait (no early ETIMEDOUT); the signal still ends them', async (t) => {
  const d = tmpdir(t)
  const p = path.join(d, 'held.lock')
  using held = sole.openLockFile(p)
  held.tryLock()
  const pid = path.join(d, 'held.pid')
  using claim = sole.claimPidfile(pid)
  t.false(claim.released)
  for (const ms of [2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
    const ac = new AbortController()
    const a = sole.lock(p, { timeoutMs: ms, signal: ac.signal })
    const b = sole.claimPidfileWhenFree(pid, { timeoutMs: ms, signal: ac.signal })
    t.true(await stillPending(a, 150), `lock timeoutMs ${ms} still waits`)
    t.true(await stillPending(b, 1), `claimPidfileWhenFree timeoutMs ${ms} still waits`)
    ac.abort()
    t.is(((await t.throwsAsync(a)) as Err).code, 'ABORT_ERR')
    t.is(((await t.throwsAsync(b)) as Err).code, 'ABORT_ERR')
  }
  // -0 and 0 are a zero wait: ETIMEDOUT at once for a held lock.
  for (const ms of [0, -0]) {
    t.is(((await t.throwsAsync(sole.lock(p, { timeoutMs: ms }))) as Err).code, 'ETIMEDOUT')
  }
})

test('LockFile.close() ends the lock however it was taken, and a pending lock() on it rejects with EBADF', async (t) => {
  const d = tmpdir(t)
  const p = path.join(d, 'c.lock')
  // Fast path.
  const a = sole.openLockFile(p)
  const fast = a.tryLock()!
  t.false(fast.released)
  a.close()
  t.true(fast.released, 'the fast-path lock reports released after close()')
  const probe = sole.tryLock(p)
  t.truthy(probe, 'and the file is free')
  // Waited (contended) path: the lock is granted to a wait started while `probe` held it.
  const b = sole.openLockFile(p)
  const waiting = b.lock()
  probe!.release()
  const waited = await waiting
  t.false(waited.released)
  t.is(sole.tryLock(p), null, 'held through the handle')
  b.close()
  t.true(waited.released, 'the waited lock reports released after close()')
  const again = sole.tryLock(p)
  t.truthy(again, 'and the file is free')
  // Pending wait on the handle: close() rejects it with EBADF and leaves nothing held.
  const c = sole.openLockFile(p)
  const pending = c.lock()
  c.close()
  const e = (await t.throwsAsync(pending)) as Err
  t.is(e.code, 'EBADF', e.message)
  t.is(e.path, p)
  again!.release()
  const last = sole.tryLock(p)
  t.truthy(last, 'the cancelled wait left no lock behind')
  last!.release()
  t.notThrows(() => c.close(), 'close() is idempotent')
})

/** Names of this process's threads. */
function threads(): string[] {
  return fs.readdirSync('/proc/self/task').map((id) => {
    try {
      return fs.readFileSync(`/proc/self/task/${id}/comm`, 'utf8').trim()
    } catch {
      return ''
    }
  })
}

async function until(what: string, cond: () => boolean): Promise<void> {
  const end = Date.now() + 5000
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not within 5 s: ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

test.serial('a worker terminated while its lock() and claimPidfileWhenFree() wait leaves no thread and no descriptor', async (t) => {
  const d = tmpdir(t)
  const p = path.join(d, 'w.lock')
  const pid = path.join(d, 'w.pid')
  using held = sole.openLockFile(p)
  held.tryLock()
  using claim = sole.claimPidfile(pid)
  t.false(claim.released)
  const waiters = () => threads().filter((n) => n === 'sole-lock-wait').length
  const fds = () => fs.readdirSync('/proc/self/fd').length
  const before = { waiters: waiters(), fds: fds() }
  const w = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads')
     const sole = require(workerData.lib)
     sole.lock(workerData.p).catch(() => {})
     sole.claimPidfileWhenFree(workerData.pid).catch(() => {})
     parentPort.postMessage('waiting')`,
    { eval: true, workerData: { lib: path.resolve('lib/index.js'), p, pid } },
  )
  await new Promise((r) => w.once('message', r))
  await until('two waiting threads', () => waiters() === before.waiters + 2)
  await w.terminate()
  await until('the waiting threads end', () => waiters() === before.waiters)
  await until('their descriptors close', () => fds() <= before.fds)
  t.is(waiters(), before.waiters)
  t.true(fds() <= before.fds)
})

test('classes exported for instanceof cannot be constructed by hand: EINVAL naming the factory', (t) => {
  const e1 = invalid(t, () => new (sole.Pidfile as unknown as new () => unknown)(), 'constructor', 'new Pidfile()')
  t.regex(e1.message, /claimPidfile/)
  const e2 = invalid(t, () => new (sole.LockFile as unknown as new (x: unknown) => unknown)(5), 'constructor', 'new LockFile(5)')
  t.regex(e2.message, /openLockFile/)
  const d = tmpdir(t)
  using p = sole.claimPidfile(path.join(d, 'i.pid'))
  t.true(p instanceof sole.Pidfile)
  t.false({} instanceof sole.Pidfile)
  using lf = sole.openLockFile(path.join(d, 'i.lock'))
  t.true(lf instanceof sole.LockFile)
})

test('ProcessHandle and ScopeRegistry cannot be constructed by hand either', (t) => {
  invalid(t, () => sole.ProcessHandle.fromNative(5 as never), 'constructor', 'ProcessHandle.fromNative(5)')
  invalid(t, () => new (sole.ScopeRegistry as unknown as new (x: unknown) => unknown)(5), 'constructor', 'new ScopeRegistry(5)')
})
