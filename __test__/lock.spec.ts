// Lock files through the public API (`lib/index.ts`): tryLock / lock / lockSync / openLockFile,
// against real files, real child processes (`fixtures/agent.mjs`, driven over IPC) and real
// signals. Every "ready" is a reply from the process that did the work, never a sleep.
import test, { type ExecutionContext } from 'ava'
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import * as sole from '../lib/index.js'
import { startAgent } from './fixtures/agent-client.mjs'
import { tmpdir } from './helpers/index.js'

/** Keep track of whether a promise has settled, without awaiting it. */
function track<T>(p: Promise<T>): { settled: boolean } {
  const s = { settled: false }
  p.then(
    () => (s.settled = true),
    () => (s.settled = true),
  )
  return s
}

/** Release every lock a test still holds when it ends (also when an assertion failed). */
function releaseOnTeardown(t: ExecutionContext, l: sole.Lock | null): sole.Lock {
  t.truthy(l, 'expected a lock')
  t.teardown(() => l?.release())
  return l as sole.Lock
}

/** Spawn a real long-lived process from this one; SIGKILLed at teardown. */
async function spawnSleep(t: ExecutionContext): Promise<ChildProcess> {
  const c = spawn('sleep', ['300'], { stdio: 'ignore' })
  t.teardown(() => c.kill('SIGKILL'))
  await new Promise<void>((resolve, reject) => {
    c.once('spawn', resolve)
    c.once('error', reject)
  })
  return c
}

/** Does process `pid` have an open descriptor on the file `file` (same device and inode)? */
function hasFdOn(pid: number, file: string): boolean {
  const want = fs.statSync(file)
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const st = fs.statSync(`/proc/${pid}/fd/${fd}`)
      if (st.ino === want.ino && st.dev === want.dev) return true
    } catch {
      // closed between readdir and stat
    }
  }
  return false
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------------------------
// tryLock

test('tryLock returns a Lock with an absolute path; a second handle in this process gets null', (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'a.lock')
  const rel = path.relative(process.cwd(), p)
  const a = releaseOnTeardown(t, sole.tryLock(rel))
  // Made absolute against the cwd; `..` components are kept (not normalised lexically).
  t.true(path.isAbsolute(a.path), a.path)
  t.is(path.resolve(a.path), p, 'the absolute form of the path given')
  t.is(fs.statSync(a.path).ino, fs.statSync(p).ino)
  t.false(a.shared)
  t.false(a.released)
  t.is(sole.tryLock(p), null, 'exclusive vs exclusive in one process')
  t.is(sole.tryLock(p, { shared: true }), null, 'exclusive excludes shared in one process')
  a.release()
  const b = releaseOnTeardown(t, sole.tryLock(p))
  t.is(b.path, p)
})

test('tryLock returns null while another process holds the lock, and a Lock once it releases', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'b.lock')
  const agent = await startAgent(t)
  const r = await agent.call('tryLock', { path: p })
  t.true(r.ok && r.got, JSON.stringify(r))
  t.is(sole.tryLock(p), null)
  t.is(sole.tryLock(p, { shared: true }), null)
  t.true((await agent.call('release', { handle: r.handle })).ok)
  const mine = releaseOnTeardown(t, sole.tryLock(p))
  const r2 = await agent.call('tryLock', { path: p })
  t.true(r2.ok, JSON.stringify(r2))
  t.false(r2.got, 'our lock excludes the other process')
  mine.release()
  const r3 = await agent.call('tryLock', { path: p, opts: { shared: true } })
  t.true(r3.ok && r3.got, 'released in this process: the other process gets it')
})

test('tryLock throws for failures other than contention (never returns null for them)', (t) => {
  const dir = tmpdir(t)
  const missing = path.join(dir, 'no', 'such', 'dir', 'x.lock')
  const e1 = t.throws(() => sole.tryLock(missing)) as sole.SoleError
  t.is(e1.code, 'ENOENT')
  const e2 = t.throws(() => sole.tryLock(dir)) as sole.SoleError
  t.is(e2.code, 'ENOTREG')
  const e3 = t.throws(() => sole.tryLock('')) as sole.SoleError
  t.is(typeof e3.code, 'string')
})

test('shared locks coexist (across processes) and exclude exclusive ones', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'shared.lock')
  const s1 = releaseOnTeardown(t, sole.tryLock(p, { shared: true }))
  t.true(s1.shared)
  const s2 = releaseOnTeardown(t, sole.tryLock(p, { shared: true }))
  const agent = await startAgent(t)
  const r = await agent.call('tryLock', { path: p, opts: { shared: true } })
  t.true(r.ok && r.got && r.shared, 'another process shares it too')
  t.is(sole.tryLock(p), null, 'shared holders exclude an exclusive request here')
  const rx = await agent.call('tryLock', { path: p })
  t.true(rx.ok)
  t.false(rx.got, 'and in another process')
  s1.release()
  s2.release()
  t.is(sole.tryLock(p), null, 'the other process still holds a shared lock')
  await agent.call('release', { handle: r.handle })
  const x = releaseOnTeardown(t, sole.tryLock(p))
  t.false(x.shared)
  const rs = await agent.call('tryLock', { path: p, opts: { shared: true } })
  t.true(rs.ok)
  t.false(rs.got, 'an exclusive holder excludes shared requests')
})

// ---------------------------------------------------------------------------------------------
// lock()

test('lock() resolves at once when uncontended (before the event loop turns) and holds the lock', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'fast.lock')
  let immediate = false
  setImmediate(() => (immediate = true))
  const l = releaseOnTeardown(t, await sole.lock(p))
  t.false(immediate, 'no thread hop and no event-loop turn for an uncontended lock')
  t.is(l.path, p)
  t.is(sole.tryLock(p), null, 'and it is really held')
})

test('lock() waits while another process holds the lock and wakes when it releases', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'wait.lock')
  const agent = await startAgent(t)
  const r = await agent.call('tryLock', { path: p })
  t.true(r.ok && r.got)
  const pending = sole.lock(p)
  const s = track(pending)
  // A full round trip to the holder, which still holds: the wait must not have been granted.
  t.true((await agent.call('ping')).ok)
  t.false(s.settled, 'lock() must not settle while another process holds the lock')
  t.true((await agent.call('release', { handle: r.handle })).ok)
  const l = releaseOnTeardown(t, await pending)
  t.false(l.released)
  const r2 = await agent.call('tryLock', { path: p })
  t.false(r2.got, 'the woken waiter really holds the lock')
})

test('lock() wakes when the holding process is SIGKILLed', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'killed.lock')
  const agent = await startAgent(t)
  const r = await agent.call('tryLock', { path: p })
  t.true(r.ok && r.got)
  const pending = sole.lock(p)
  const s = track(pending)
  t.true((await agent.call('ping')).ok)
  t.false(s.settled)
  const exit = await agent.kill('SIGKILL')
  t.is(exit.signal, 'SIGKILL')
  const l = releaseOnTeardown(t, await pending)
  t.is(l.path, p)
  t.true(fs.existsSync(p), 'a dead holder does not take the file with it')
})

test('lock() waiting on another handle in this same process wakes when that handle releases', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'self.lock')
  const first = releaseOnTeardown(t, sole.tryLock(p))
  const pending = sole.lock(p)
  const s = track(pending)
  const agent = await startAgent(t)
  t.true((await agent.call('ping')).ok)
  t.false(s.settled, 'still held by our first handle')
  first.release()
  const second = releaseOnTeardown(t, await pending)
  t.is(sole.tryLock(p), null)
  second.release()
  t.truthy(releaseOnTeardown(t, sole.tryLock(p)))
})

test('lock() with timeoutMs rejects ETIMEDOUT with the path and the pid of the holding process', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'timeout.lock')
  const agent = await startAgent(t)
  const r = await agent.call('tryLock', { path: p })
  t.true(r.ok && r.got)
  const err = (await t.throwsAsync(sole.lock(p, { timeoutMs: 30 }))) as sole.SoleError
  t.true(err instanceof Error)
  t.is(err.code, 'ETIMEDOUT')
  t.is(err.path, p)
  t.is(err.pid, agent.pid)
  t.true(err.message.includes(p), err.message)
  // The timed-out wait left nothing behind: once the holder releases, the lock is free.
  await agent.call('release', { handle: r.handle })
  t.truthy(releaseOnTeardown(t, sole.tryLock(p)))
})

test('lock() aborted through its signal rejects AbortError and leaves no lock held', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'abort.lock')
  const agent = await startAgent(t)
  const r = await agent.call('tryLock', { path: p })
  t.true(r.ok && r.got)
  const ac = new AbortController()
  const pending = sole.lock(p, { signal: ac.signal })
  const s = track(pending)
  t.true((await agent.call('ping')).ok)
  t.false(s.settled)
  const reason = new Error('stop waiting')
  ac.abort(reason)
  const err = (await t.throwsAsync(pending)) as sole.SoleError
  t.true(err instanceof Error)
  t.is(err.name, 'AbortError')
  t.is(err.code, 'ABORT_ERR')
  t.is((err as Error & { cause?: unknown }).cause, reason)
  // Release in the holder; the cancelled wait must not grab the lock behind our back.
  t.true((await agent.call('release', { handle: r.handle })).ok)
  const mine = releaseOnTeardown(t, sole.tryLock(p))
  mine.release()
  const r2 = await agent.call('tryLock', { path: p })
  t.true(r2.ok && r2.got, 'another process can take it: the aborted wait holds nothing')
})

test('lock() with an already-aborted signal rejects at once and does not take a free lock', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'preabort.lock')
  const ac = new AbortController()
  ac.abort()
  const err = (await t.throwsAsync(sole.lock(p, { signal: ac.signal }))) as sole.SoleError
  t.is(err.name, 'AbortError')
  t.is(err.code, 'ABORT_ERR')
  const agent = await startAgent(t)
  const r = await agent.call('tryLock', { path: p })
  t.true(r.ok && r.got, 'the free lock was not taken by the aborted call')
  // And against a held lock, too.
  const err2 = (await t.throwsAsync(sole.lock(p, { signal: ac.signal }))) as sole.SoleError
  t.is(err2.code, 'ABORT_ERR')
})

test('eight waiting lock() calls do not starve fs.promises.readFile (no libuv threadpool)', async (t) => {
  t.timeout(60_000, 'a wait on the libuv threadpool would stall readFile forever')
  const dir = tmpdir(t)
  const p = path.join(dir, 'pool.lock')
  const agent = await startAgent(t)
  const r = await agent.call('tryLock', { path: p })
  t.true(r.ok && r.got)
  const waits = Array.from({ length: 8 }, () => sole.lock(p, { shared: true }))
  const states = waits.map(track)
  const data = path.join(dir, 'data.txt')
  fs.writeFileSync(data, 'hello')
  // More concurrent threadpool jobs than the pool has threads.
  const reads = await Promise.all(Array.from({ length: 8 }, () => fs.promises.readFile(data, 'utf8')))
  t.deepEqual(reads, Array(8).fill('hello'))
  t.true(
    states.every((s) => !s.settled),
    'the waits were really waiting while readFile ran',
  )
  t.true((await agent.call('release', { handle: r.handle })).ok)
  const locks = await Promise.all(waits)
  for (const l of locks) releaseOnTeardown(t, l)
  t.true(locks.every((l) => l.shared && !l.released))
})

// ---------------------------------------------------------------------------------------------
// lockSync

test('lockSync refuses with EDEADLK instead of hanging on a conflicting lock held by this thread', (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'deadlk.lock')
  const cases: Array<[string, boolean, boolean]> = [
    ['exclusive held, exclusive wanted', false, false],
    ['shared held, exclusive wanted', true, false],
    ['exclusive held, shared wanted', false, true],
  ]
  for (const [what, heldShared, wantShared] of cases) {
    const held = sole.tryLock(p, { shared: heldShared })
    t.truthy(held, what)
    try {
      const e = t.throws(() => sole.lockSync(p, { shared: wantShared }), undefined, what) as sole.SoleError
      t.is(e?.code, 'EDEADLK', what)
      t.is(e?.path, p, what)
      t.true(e?.message.includes(p), what)
      const e2 = t.throws(() => sole.lockSync(p, { shared: wantShared, timeoutMs: 60_000 }), undefined, what) as sole.SoleError
      t.is(e2?.code, 'EDEADLK', `${what}, with timeoutMs`)
      t.false(held!.released, 'the lock we hold is untouched')
      t.is(sole.tryLock(p, { shared: false }), null, 'and still held')
    } finally {
      held?.release()
    }
  }
  // Once released, lockSync takes it.
  const l = sole.lockSync(p)
  t.false(l.released)
  l.release()
})

test('lockSync shared on a shared lock held by this thread succeeds', (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'shsh.lock')
  const a = releaseOnTeardown(t, sole.tryLock(p, { shared: true }))
  const b = releaseOnTeardown(t, sole.lockSync(p, { shared: true }))
  t.true(a.shared && b.shared)
  t.is(sole.tryLock(p), null)
})

test('lockSync with timeoutMs against another process rejects ETIMEDOUT naming the holder', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'synctimeout.lock')
  const agent = await startAgent(t)
  const r = await agent.call('tryLock', { path: p })
  t.true(r.ok && r.got)
  const e = t.throws(() => sole.lockSync(p, { timeoutMs: 30 })) as sole.SoleError
  t.true(e instanceof Error)
  t.is(e.code, 'ETIMEDOUT')
  t.is(e.path, p)
  t.is(e.pid, agent.pid)
  t.true(e.message.includes(p), e.message)
  await agent.call('release', { handle: r.handle })
  const l = releaseOnTeardown(t, sole.lockSync(p, { timeoutMs: 30 }))
  t.false(l.released, 'the timed-out wait left nothing behind')
})

test('lockSync waits for another process and returns once that process dies', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'syncwait.lock')
  const agent = await startAgent(t)
  const r = await agent.call('tryLock', { path: p })
  t.true(r.ok && r.got)
  // The event loop is blocked during lockSync, so the release must come from outside it:
  // SIGKILL the holder, then wait synchronously (a bounded wait, so a bug fails instead of hanging).
  agent.child.kill('SIGKILL')
  const l = releaseOnTeardown(t, sole.lockSync(p, { timeoutMs: 60_000 }))
  t.is(l.path, p)
  t.false(l.released)
})

// ---------------------------------------------------------------------------------------------
// release, dispose, never unlinked

test('release() is idempotent, flips released, and never unlinks or truncates the file', (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'rel.lock')
  fs.writeFileSync(p, 'keep these bytes')
  const ino = fs.statSync(p).ino
  const l = sole.tryLock(p)!
  t.truthy(l)
  t.false(l.released)
  l.release()
  t.true(l.released)
  t.notThrows(() => l.release())
  t.true(l.released)
  t.is(fs.statSync(p).ino, ino, 'same file, never unlinked or replaced')
  t.is(fs.readFileSync(p, 'utf8'), 'keep these bytes', 'a lock never writes its file')
  const again = releaseOnTeardown(t, sole.tryLock(p))
  t.truthy(again, 'released for real')
})

test('using / Symbol.dispose releases the lock', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'dispose.lock')
  let seen: sole.Lock | undefined
  {
    using l = sole.tryLock(p)!
    seen = l
    t.is(sole.tryLock(p), null, 'held inside the block')
  }
  t.true(seen!.released, 'released at the end of the block')
  const l2 = sole.lockSync(p)
  t.is(typeof l2[Symbol.dispose], 'function')
  l2[Symbol.dispose]()
  t.true(l2.released)
  {
    using l3 = await sole.lock(p)
    t.false(l3.released)
    t.is(sole.tryLock(p), null)
  }
  const again = releaseOnTeardown(t, sole.tryLock(p))
  again[Symbol.dispose]()
  t.true(again.released)
  t.true(fs.existsSync(p))
})

test('lock files are never unlinked, by any path through the API', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'forever.lock')
  const l0 = sole.tryLock(p)!
  const ino = fs.statSync(p).ino
  l0.release()
  sole.lockSync(p).release()
  ;(await sole.lock(p)).release()
  sole.tryLock(p, { shared: true })![Symbol.dispose]()
  const err = (await t.throwsAsync(
    (async () => {
      const h = sole.tryLock(p)!
      try {
        await sole.lock(p, { timeoutMs: 5 })
      } finally {
        h.release()
      }
    })(),
  )) as sole.SoleError
  t.is(err.code, 'ETIMEDOUT')
  const agent = await startAgent(t)
  t.true((await agent.call('tryLock', { path: p })).got)
  await agent.kill('SIGKILL')
  t.true(fs.existsSync(p))
  t.is(fs.statSync(p).ino, ino, 'the same inode after every kind of release, and a killed holder')
})

// ---------------------------------------------------------------------------------------------
// O_CLOEXEC

test('lock fds are O_CLOEXEC: a child spawned while we hold the lock does not keep it', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'cloexec.lock')
  const l = releaseOnTeardown(t, sole.tryLock(p))
  t.true(hasFdOn(process.pid, p), 'sanity: the holder itself has an fd on the lock file')
  const child = await spawnSleep(t)
  t.false(hasFdOn(child.pid!, p), 'the spawned child has no fd on the lock file')
  l.release()
  t.true(alive(child.pid!))
  const agent = await startAgent(t)
  const r = await agent.call('tryLock', { path: p })
  t.true(r.ok && r.got, 'another process takes the lock while the child is still alive')
  t.true(alive(child.pid!))
})

test('a SIGKILLed holder does not leave its lock with a child it spawned', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'orphan.lock')
  const holder = await startAgent(t)
  const r = await holder.call('tryLock', { path: p })
  t.true(r.ok && r.got)
  const s = await holder.call('spawnSleep')
  t.true(s.ok, JSON.stringify(s))
  const sleepPid = s.sleepPid as number
  t.teardown(() => {
    try {
      process.kill(sleepPid, 'SIGKILL')
    } catch {}
  })
  t.true(hasFdOn(holder.pid!, p), 'sanity: the holder has an fd on the lock file')
  t.false(hasFdOn(sleepPid, p), "the holder's child has no fd on the lock file")
  // No release and no LOCK_UN: the holder dies. Only O_CLOEXEC keeps the child out of it.
  await holder.kill('SIGKILL')
  t.true(alive(sleepPid), "the holder's child outlives it")
  const mine = releaseOnTeardown(t, sole.tryLock(p))
  t.is(mine.path, p)
})

// ---------------------------------------------------------------------------------------------
// Creation: modes and directories

test('new lock files are created 0600 whatever the umask; mode is respected; existing files keep theirs', (t) => {
  const dir = tmpdir(t)
  const withUmask = <T>(mask: number, f: () => T): T => {
    const old = process.umask(mask)
    try {
      return f()
    } finally {
      process.umask(old)
    }
  }
  const a = path.join(dir, 'a.lock')
  withUmask(0, () => sole.tryLock(a)!.release())
  t.is(fs.statSync(a).mode & 0o7777, 0o600, 'default 0600 even with umask 0')
  const b = path.join(dir, 'b.lock')
  withUmask(0o077, () => sole.tryLock(b, { mode: 0o644 })!.release())
  t.is(fs.statSync(b).mode & 0o7777, 0o644, 'mode applied exactly, not narrowed by the umask')
  const c = path.join(dir, 'c.lock')
  sole.lockSync(c, { mode: 0o640 }).release()
  t.is(fs.statSync(c).mode & 0o7777, 0o640)
  const d = path.join(dir, 'd.lock')
  fs.writeFileSync(d, '')
  fs.chmodSync(d, 0o604)
  sole.tryLock(d, { mode: 0o600 })!.release()
  t.is(fs.statSync(d).mode & 0o7777, 0o604, 'an existing file keeps its mode')
  t.is(fs.statSync(a).mode & 0o7777, 0o600, 're-opening does not change it either')
})

test('missing parents: ENOENT mentioning createDirs, or created 0700 with createDirs: true', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'x', 'y', 'z.lock')
  for (const attempt of [() => sole.tryLock(p), () => sole.lockSync(p), () => sole.lockSync(p, { createDirs: false })]) {
    const e = t.throws(attempt) as sole.SoleError
    t.is(e.code, 'ENOENT')
    t.is(e.path, p)
    t.true(e.message.includes('createDirs'), e.message)
    t.true(e.message.includes(p), e.message)
  }
  const ea = (await t.throwsAsync(sole.lock(p))) as sole.SoleError
  t.is(ea.code, 'ENOENT')
  t.false(fs.existsSync(path.join(dir, 'x')), 'nothing created without createDirs')
  const old = process.umask(0)
  let l: sole.Lock | null
  try {
    l = sole.tryLock(p, { createDirs: true })
  } finally {
    process.umask(old)
  }
  releaseOnTeardown(t, l)
  t.is(fs.statSync(path.join(dir, 'x')).mode & 0o7777, 0o700)
  t.is(fs.statSync(path.join(dir, 'x', 'y')).mode & 0o7777, 0o700)
  t.is(fs.statSync(p).mode & 0o7777, 0o600)
  t.is(fs.statSync(dir).mode & 0o7777, 0o700, 'an existing parent is left alone')
})

// ---------------------------------------------------------------------------------------------
// What may sit at the path

test('a symlink at the path is refused with ESYMLINK and its target is untouched', async (t) => {
  const dir = tmpdir(t)
  const target = path.join(dir, 'precious.txt')
  fs.writeFileSync(target, 'do not touch\n')
  const old = new Date('2001-02-03T04:05:06Z')
  fs.utimesSync(target, old, old)
  fs.chmodSync(target, 0o644)
  const before = fs.statSync(target)
  const link = path.join(dir, 'link.lock')
  fs.symlinkSync(target, link)
  const attempts: Array<() => unknown> = [
    () => sole.tryLock(link),
    () => sole.tryLock(link, { shared: true, mode: 0o600 }),
    () => sole.lockSync(link, { timeoutMs: 10 }),
    () => sole.openLockFile(link),
  ]
  for (const a of attempts) {
    const e = t.throws(a) as sole.SoleError
    t.is(e.code, 'ESYMLINK')
    t.is(e.path, link)
    t.true(e.message.includes(link), e.message)
  }
  const ea = (await t.throwsAsync(sole.lock(link))) as sole.SoleError
  t.is(ea.code, 'ESYMLINK')
  const after = fs.statSync(target)
  t.is(fs.readFileSync(target, 'utf8'), 'do not touch\n')
  t.is(after.mtimeMs, before.mtimeMs)
  t.is(after.mode, before.mode)
  t.is(after.ino, before.ino)
  t.true(fs.lstatSync(link).isSymbolicLink(), 'the link itself is left in place')
  // The target is not locked either: another process takes it at once.
  const agent = await startAgent(t)
  t.true((await agent.call('tryLock', { path: target })).got)
  // A dangling link does not create its target.
  const dangling = path.join(dir, 'dangling.lock')
  const nowhere = path.join(dir, 'nowhere')
  fs.symlinkSync(nowhere, dangling)
  t.is((t.throws(() => sole.tryLock(dangling)) as sole.SoleError).code, 'ESYMLINK')
  t.false(fs.existsSync(nowhere))
})

test('a directory or FIFO at the path is refused with ENOTREG (and a FIFO does not hang)', async (t) => {
  const dir = tmpdir(t)
  const sub = path.join(dir, 'adir')
  fs.mkdirSync(sub)
  const fifo = path.join(dir, 'afifo')
  execFileSync('mkfifo', [fifo])
  t.true(fs.statSync(fifo).isFIFO())
  for (const p of [sub, fifo]) {
    for (const a of [() => sole.tryLock(p), () => sole.lockSync(p), () => sole.tryLock(p, { shared: true })]) {
      const e = t.throws(a) as sole.SoleError
      t.is(e.code, 'ENOTREG', p)
      t.is(e.path, p)
      t.true(e.message.includes(p), e.message)
    }
    const ea = (await t.throwsAsync(sole.lock(p))) as sole.SoleError
    t.is(ea.code, 'ENOTREG')
  }
  t.true(fs.statSync(sub).isDirectory())
  t.true(fs.statSync(fifo).isFIFO())
})

// ---------------------------------------------------------------------------------------------
// Argument validation

test('an invalid mode is refused with EINVAL and creates nothing', (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'mode.lock')
  for (const mode of [0o10000, 0o1000, 0o4755, -1]) {
    const e = t.throws(() => sole.tryLock(p, { mode })) as sole.SoleError
    t.is(e.code, 'EINVAL', `mode ${mode.toString(8)}`)
    t.is(e.path, p)
    const e2 = t.throws(() => sole.lockSync(p, { mode })) as sole.SoleError
    t.is(e2.code, 'EINVAL')
  }
  t.false(fs.existsSync(p))
})

test('an invalid timeoutMs is refused with EINVAL by lockSync, and by a contended lock()', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'to.lock')
  for (const timeoutMs of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
    const e = t.throws(() => sole.lockSync(p, { timeoutMs })) as sole.SoleError
    t.true(e instanceof Error)
    t.is(e.code, 'EINVAL', `lockSync timeoutMs ${timeoutMs}`)
  }
  const held = releaseOnTeardown(t, sole.tryLock(p))
  for (const timeoutMs of [Number.NaN, -1]) {
    const e = (await t.throwsAsync(sole.lock(p, { timeoutMs }))) as sole.SoleError
    t.is(e.code, 'EINVAL', `contended lock() timeoutMs ${timeoutMs}`)
  }
  held.release()
})

test('an invalid timeoutMs is refused by lock() even when the lock is free', async (t) => {
  // Validation must not depend on whether someone else happens to hold the lock.
  const dir = tmpdir(t)
  const p = path.join(dir, 'to-free.lock')
  for (const timeoutMs of [Number.NaN, -1]) {
    const got = await sole.lock(p, { timeoutMs }).then(
      (l) => {
        l.release()
        return 'resolved with a lock'
      },
      (e: sole.SoleError) => e.code,
    )
    t.is(got, 'EINVAL', `uncontended lock() with timeoutMs ${timeoutMs}`)
  }
})

// ---------------------------------------------------------------------------------------------
// openLockFile handles

test('openLockFile handles exclude each other and other processes; one lock per handle', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'handle.lock')
  const h1 = sole.openLockFile(p)
  const h2 = sole.openLockFile(p)
  t.teardown(() => {
    h1.close()
    h2.close()
  })
  t.is(h1.path, p)
  const a = h1.tryLock()!
  t.truthy(a)
  t.is((t.throws(() => h1.tryLock()) as sole.SoleError).code, 'EBUSY', 'one lock at a time per handle')
  t.is(h2.tryLock({ shared: true }), null, 'two handles exclude each other')
  t.is(sole.tryLock(p), null)
  const agent = await startAgent(t)
  t.false((await agent.call('tryLock', { path: p })).got)
  a.release()
  a.release()
  const a2 = h1.tryLock()!
  t.truthy(a2, 'the handle is reusable after release')
  a.release() // a stale Lock from an earlier cycle must not release the handle's next lock
  t.false(a2.released)
  t.is(h2.tryLock(), null, 'the second cycle is still held after the stale release')
  a2.release()
  const b = h2.tryLock()!
  t.truthy(b)
  t.is(h1.tryLock(), null)
  t.false((await agent.call('tryLock', { path: p })).got)
  b.release()
  const r = await agent.call('tryLock', { path: p })
  t.true(r.got)
  const pending = h1.lock()
  const s = track(pending)
  t.true((await agent.call('ping')).ok)
  t.false(s.settled)
  await agent.call('release', { handle: r.handle })
  const c = await pending
  t.teardown(() => c.release())
  t.false((await agent.call('tryLock', { path: p })).got)
})
