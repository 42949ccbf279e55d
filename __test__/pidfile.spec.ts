// Pidfiles and the daemon lock through the public API (`lib/index.ts`): claimPidfile,
// readPidfile, daemonLockPath, acquireDaemonLock, readLockPid, pidAlive. Real files, real
// child processes (`fixtures/agent.mjs` over IPC, `sh`, `flock(1)`), real SIGKILLs.
import test, { type ExecutionContext } from 'ava'
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import * as sole from '../lib/index.js'
import { startAgent } from './fixtures/agent-client.mjs'
import { firstLine, procState, startZombie } from './fixtures/children.mjs'
import { deadPid, isRoot, rootTest, tmpdir } from './helpers/index.js'

function claim(t: ExecutionContext, p: string, opts?: sole.PidfileOptions): sole.Pidfile {
  const g = sole.claimPidfile(p, opts)
  t.teardown(() => g.release())
  return g
}

/** Content, size and mtime (ns) of a file: what "never modifies" compares. */
function snapshot(p: string): { sha256: string; size: number; mtimeNs: bigint; ino: bigint } {
  const st = fs.statSync(p, { bigint: true })
  const sha256 = createHash('sha256').update(fs.readFileSync(p)).digest('hex')
  return { sha256, size: Number(st.size), mtimeNs: st.mtimeNs, ino: st.ino }
}

/** A pid no process has: a reaped child's. */
/**
 * The part of a readPidfile answer these tests compare: held → pid, free → stalePid. (Identity,
 * `locked` and stale reasons are covered in procid.spec.ts.)
 */
function brief(s: unknown): object {
  const v = s as { state: string; pid?: number; stalePid?: number }
  if (v?.state === 'held') return { state: 'held', pid: v.pid }
  if (v?.state === 'free') return v.stalePid === undefined ? { state: 'free' } : { state: 'free', stalePid: v.stalePid }
  return v
}

const killPid = (pid: number): void => {
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

// ---------------------------------------------------------------------------------------------
// claimPidfile

test('claimPidfile writes exactly "PID\\n", readable by `kill $(cat file)`', (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  const g = claim(t, p)
  t.true(g instanceof sole.Pidfile)
  t.is(fs.readFileSync(p, 'utf8'), `${process.pid}\n`)
  t.is(g.pid, process.pid)
  t.is(g.path, p)
  t.false(g.released)
  t.is(fs.statSync(p).mode & 0o7777, 0o600)
  // What shell scripts do with a pidfile.
  const r = spawnSync('sh', ['-c', 'kill -0 "$(cat "$1")" && echo "$(cat "$1")"', 'sh', p], { encoding: 'utf8' })
  t.is(r.status, 0, r.stderr)
  t.is(r.stdout, `${process.pid}\n`)
})

test('claimPidfile overwrites a stale pid left in the file (no leftover bytes)', (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'stale.pid')
  fs.writeFileSync(p, '2147483647\nsome trailing garbage that is longer than a pid line\n')
  claim(t, p)
  t.is(fs.readFileSync(p, 'utf8'), `${process.pid}\n`)
})

test('a second claim from another process fails with EHELD naming this process', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  claim(t, p)
  const agent = await startAgent(t)
  const r = await agent.call('claim', { path: p })
  t.false(r.ok, JSON.stringify(r))
  t.true(r.error.isError, 'an Error instance in the other process')
  t.is(r.error.code, 'EHELD')
  t.is(r.error.pid, process.pid)
  t.is(r.error.path, p)
  t.true(
    r.error.message.startsWith(`already running as PID ${process.pid} (pidfile: ${p})`),
    r.error.message,
  )
  t.is(fs.readFileSync(p, 'utf8'), `${process.pid}\n`, 'the refused claim did not write')
})

test('a claim here fails with EHELD naming the other process that holds the pidfile', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  const agent = await startAgent(t)
  const r = await agent.call('claim', { path: p })
  t.true(r.ok, JSON.stringify(r))
  t.is(r.pid, agent.pid)
  t.is(fs.readFileSync(p, 'utf8'), `${agent.pid}\n`)
  const e = t.throws(() => sole.claimPidfile(p)) as sole.SoleError
  t.true(e instanceof Error)
  t.is(e.code, 'EHELD')
  t.is(e.pid, agent.pid)
  t.is(e.path, p)
  t.true(e.message.startsWith(`already running as PID ${agent.pid} (pidfile: ${p})`), e.message)
  // And in this same process, a second claim is refused too (flock is per open description).
  await agent.call('release', { handle: r.handle })
  claim(t, p)
  const e2 = t.throws(() => sole.claimPidfile(p)) as sole.SoleError
  t.is(e2.code, 'EHELD')
  t.is(e2.pid, process.pid)
})

test('release() empties the file, never unlinks it, is idempotent, and frees the claim', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  const g = sole.claimPidfile(p)
  const ino = fs.statSync(p).ino
  g.release()
  t.true(g.released)
  t.true(fs.existsSync(p), 'never unlinked')
  t.is(fs.statSync(p).ino, ino, 'the same inode')
  t.is(fs.readFileSync(p, 'utf8'), '', 'emptied: no stale pid left behind')
  t.notThrows(() => g.release())
  t.true(g.released)
  t.is(fs.readFileSync(p, 'utf8'), '')
  const agent = await startAgent(t)
  const r = await agent.call('claim', { path: p })
  t.true(r.ok, JSON.stringify(r))
  t.is(fs.readFileSync(p, 'utf8'), `${agent.pid}\n`)
  t.is(fs.statSync(p).ino, ino)
  // The old guard's release must not touch the new owner's claim.
  g.release()
  t.is(fs.readFileSync(p, 'utf8'), `${agent.pid}\n`)
  t.deepEqual(brief(sole.readPidfile(p)), { state: 'held', pid: agent.pid })
})

test('using / Symbol.dispose releases a pidfile claim', (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  {
    using g = sole.claimPidfile(p)
    t.false(g.released)
    t.is((t.throws(() => sole.claimPidfile(p)) as sole.SoleError).code, 'EHELD')
  }
  t.is(fs.readFileSync(p, 'utf8'), '')
  const g2 = sole.claimPidfile(p)
  g2[Symbol.dispose]()
  t.true(g2.released)
  t.true(fs.existsSync(p))
})

test('a SIGKILLed holder frees the claim at once; its pid is reported as stale', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  const agent = await startAgent(t)
  const r = await agent.call('claim', { path: p })
  t.true(r.ok, JSON.stringify(r))
  t.is((t.throws(() => sole.claimPidfile(p)) as sole.SoleError).code, 'EHELD')
  const exit = await agent.kill('SIGKILL')
  t.is(exit.signal, 'SIGKILL')
  t.deepEqual(brief(sole.readPidfile(p)), { state: 'free', stalePid: agent.pid })
  const g = claim(t, p)
  t.is(g.pid, process.pid)
  t.is(fs.readFileSync(p, 'utf8'), `${process.pid}\n`)
})

test('claimPidfile: mode, createDirs, and ENOENT without createDirs', (t) => {
  const dir = tmpdir(t)
  const nested = path.join(dir, 'run', 'app', 'app.pid')
  const e = t.throws(() => sole.claimPidfile(nested)) as sole.SoleError
  t.is(e.code, 'ENOENT')
  t.true(e.message.includes('createDirs'), e.message)
  t.false(fs.existsSync(path.join(dir, 'run')))
  claim(t, nested, { createDirs: true, mode: 0o644 })
  t.is(fs.statSync(path.join(dir, 'run')).mode & 0o7777, 0o700)
  t.is(fs.statSync(path.join(dir, 'run', 'app')).mode & 0o7777, 0o700)
  t.is(fs.statSync(nested).mode & 0o7777, 0o644)
  t.is(fs.readFileSync(nested, 'utf8'), `${process.pid}\n`)
  const bad = t.throws(() => sole.claimPidfile(path.join(dir, 'm.pid'), { mode: 0o10000 })) as sole.SoleError
  t.is(bad.code, 'EINVAL')
})

test('claimPidfile refuses a symlink (ESYMLINK) and neither truncates nor locks its target', async (t) => {
  const dir = tmpdir(t)
  const target = path.join(dir, 'important.conf')
  fs.writeFileSync(target, 'setting = 1\n')
  const old = new Date('2003-04-05T06:07:08Z')
  fs.utimesSync(target, old, old)
  const before = snapshot(target)
  const link = path.join(dir, 'app.pid')
  fs.symlinkSync(target, link)
  for (const f of [() => sole.claimPidfile(link), () => sole.acquireDaemonLock(link)]) {
    const e = t.throws(f) as sole.SoleError
    t.is(e.code, 'ESYMLINK')
    t.is(e.path, link)
  }
  t.deepEqual(snapshot(target), before)
  const agent = await startAgent(t)
  t.true((await agent.call('claim', { path: target })).ok, 'the target is not locked by the refused claims')
})

// ---------------------------------------------------------------------------------------------
// readPidfile

test('readPidfile: absent, and it does not create the file', (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'none.pid')
  t.deepEqual(brief(sole.readPidfile(p)), { state: 'absent' })
  t.false(fs.existsSync(p))
  t.deepEqual(sole.readPidfile(path.join(dir, 'no', 'dir.pid')), { state: 'absent' })
})

test('readPidfile: free without stalePid after a clean release in another process', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  const agent = await startAgent(t)
  const r = await agent.call('claim', { path: p })
  t.true(r.ok)
  t.deepEqual(brief(sole.readPidfile(p)), { state: 'held', pid: agent.pid })
  await agent.call('release', { handle: r.handle })
  const s = sole.readPidfile(p)
  t.deepEqual(s, { state: 'free' })
  t.false('stalePid' in s)
})

test('readPidfile: held names the live holder from another process (and readers do not block)', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  const agent = await startAgent(t)
  t.true((await agent.call('claim', { path: p })).ok)
  t.deepEqual(brief(sole.readPidfile(p)), { state: 'held', pid: agent.pid })
  // The other process reads its own claim the same way.
  const r = await agent.call('readPidfile', { path: p })
  t.deepEqual(brief(r.state), { state: 'held', pid: agent.pid })
  // Reading took no lock: the holder is still the only owner and a claim here is refused.
  t.is((t.throws(() => sole.claimPidfile(p)) as sole.SoleError).pid, agent.pid)
})

test('readPidfile: held names the process holding the lock, never the stale pid in the file', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  // A pid that is alive (ours) is the most misleading content a reader could trust.
  for (const bogus of [`${process.pid}\n`, '1\n', '999999\n']) {
    fs.writeFileSync(p, bogus)
    const agent = await startAgent(t)
    // The child locks with tryLock and writes nothing: the window between a new owner's
    // flock and its write of the pid.
    const r = await agent.call('tryLock', { path: p })
    t.true(r.ok && r.got)
    t.is(fs.readFileSync(p, 'utf8'), bogus)
    t.deepEqual(brief(sole.readPidfile(p)), { state: 'held', pid: agent.pid }, `content ${JSON.stringify(bogus)}`)
    await agent.kill('SIGKILL')
  }
})

test('readPidfile: a shared lock held by another process counts as held', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  const agent = await startAgent(t)
  t.true((await agent.call('tryLock', { path: p, opts: { shared: true } })).got)
  t.deepEqual(brief(sole.readPidfile(p)), { state: 'held', pid: agent.pid })
  t.is((t.throws(() => sole.claimPidfile(p)) as sole.SoleError).code, 'EHELD')
})

test('readPidfile never modifies the file (content and mtime), whatever it contains', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  const big = Buffer.alloc(1 << 20, 'x')
  const dead = deadPid()
  const cases: Array<[string, string | Buffer, object]> = [
    ['empty', '', { state: 'free' }],
    ['garbage', 'not a pid\n', { state: 'free' }],
    ['negative', '-42\n', { state: 'free' }],
    ['zero', '0\n', { state: 'free' }],
    ['overflowing', '99999999999\n', { state: 'free' }],
    ['2^31', '2147483648\n', { state: 'free' }],
    ['two numbers', '12 34\n', { state: 'free' }],
    ['no newline', `${dead}`, { state: 'free', stalePid: dead }],
    ['1 MB of x', big, { state: 'free' }],
    ['pid then 1 MB', Buffer.concat([Buffer.from(`${dead}\n`), big]), { state: 'free', stalePid: dead }],
  ]
  const old = new Date('2004-05-06T07:08:09Z')
  for (const [what, content, want] of cases) {
    fs.writeFileSync(p, content)
    fs.chmodSync(p, 0o644)
    fs.utimesSync(p, old, old)
    const before = snapshot(p)
    t.deepEqual(brief(sole.readPidfile(p)), want, what)
    t.deepEqual(snapshot(p), before, `${what}: unchanged`)
    t.is(fs.statSync(p).mode & 0o7777, 0o644, `${what}: mode unchanged`)
  }
  // And while held by another process, reading neither waits nor writes.
  fs.writeFileSync(p, 'leftover\n')
  fs.utimesSync(p, old, old)
  const agent = await startAgent(t)
  t.true((await agent.call('tryLock', { path: p })).got)
  const before = snapshot(p)
  t.deepEqual(brief(sole.readPidfile(p)), { state: 'held', pid: agent.pid })
  t.deepEqual(snapshot(p), before)
})

test('readPidfile of a pidfile the reader may not read still names the holder (from the kernel)', async (t) => {
  // A root-owned 0600 pidfile read by a monitoring user: the content is unreadable, the
  // holder is not. When we are root, the reader runs as uid 65534 (root bypasses modes).
  const dir = tmpdir(t)
  const p = path.join(dir, 'daemon.pid')
  const g = claim(t, p)
  fs.chmodSync(p, isRoot ? 0o600 : 0o000)
  if (isRoot) fs.chmodSync(dir, 0o711)
  const read = async (): Promise<unknown> => {
    if (!isRoot) return sole.readPidfile(p)
    const agent = await startAgent(t, { uid: 65534, gid: 65534 })
    const r = await agent.call('readPidfile', { path: p })
    t.true(r.ok, JSON.stringify(r))
    return r.state
  }
  t.deepEqual(brief(await read()), { state: 'held', pid: process.pid })
  g.release()
  t.deepEqual(brief(await read()), { state: 'free' }, 'free; the stale pid cannot be read, so none is claimed')
})

test('readPidfile refuses a symlink (ESYMLINK) and a directory (ENOTREG)', (t) => {
  const dir = tmpdir(t)
  const target = path.join(dir, 'real.pid')
  fs.writeFileSync(target, `${process.pid}\n`)
  const link = path.join(dir, 'link.pid')
  fs.symlinkSync(target, link)
  const e = t.throws(() => sole.readPidfile(link)) as sole.SoleError
  t.is(e.code, 'ESYMLINK')
  t.is(e.path, link)
  const e2 = t.throws(() => sole.readPidfile(dir)) as sole.SoleError
  t.is(e2.code, 'ENOTREG')
  t.is(e2.path, dir)
})

test('a lock kept alive by an orphaned child is never reported free, nor under the dead pid', async (t) => {
  // flock(1) without -o: the command inherits the locked description. When flock(1) dies, the
  // kernel still lists its (dead) pid as the locker while the orphan holds the lock.
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  fs.writeFileSync(p, '')
  const fl = spawn('flock', ['-x', p, 'sh', '-c', 'echo $$; exec sleep 300'], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => fl.kill('SIGKILL'))
  const orphanPid = Number(await firstLine(fl))
  t.teardown(() => killPid(orphanPid))
  t.deepEqual(brief(sole.readPidfile(p)), { state: 'held', pid: fl.pid })
  const exited = new Promise((r) => fl.once('exit', r))
  fl.kill('SIGKILL')
  await exited
  t.false(sole.pidAlive(fl.pid!))
  let seen: unknown
  try {
    seen = brief(sole.readPidfile(p))
  } catch (e) {
    seen = (e as sole.SoleError).code
  }
  t.true(
    seen === 'EUNKNOWNHOLDER' || JSON.stringify(seen) === JSON.stringify({ state: 'held', pid: orphanPid }),
    `readPidfile gave ${JSON.stringify(seen)}`,
  )
  const e = t.throws(() => sole.claimPidfile(p)) as sole.SoleError
  t.true(['EHELD', 'EUNKNOWNHOLDER'].includes(e.code), e.code)
  t.not(e.pid, fl.pid, 'never names the dead locker')
  // Once the orphan dies too, the file is free.
  killPid(orphanPid)
  // Its files are closed before it turns zombie: wait for the kernel to report Z (or the pid to
  // be gone). pidAlive says "dead" earlier, as soon as the dying process has dropped its memory.
  for (let i = 0; i < 100_000 && !['Z', ''].includes(procState(orphanPid)); i++) await new Promise((r) => setImmediate(r))
  t.false(sole.pidAlive(orphanPid))
  const g = claim(t, p)
  t.is(g.pid, process.pid)
})

// ---------------------------------------------------------------------------------------------
// Daemon lock

test('daemonLockPath(dir) is dir/daemon.lock, absolute', (t) => {
  const dir = tmpdir(t)
  t.is(sole.daemonLockPath(dir), path.join(dir, 'daemon.lock'))
  t.true(sole.daemonLockPath(dir).endsWith('daemon.lock'))
  const rel = sole.daemonLockPath('some/rel/dir')
  t.true(path.isAbsolute(rel), rel)
  t.true(rel.endsWith(path.join('some', 'rel', 'dir', 'daemon.lock')), rel)
  t.false(fs.existsSync(path.join(dir, 'daemon.lock')), 'computing the path creates nothing')
})

test('acquireDaemonLock(dir) and (file) claim the lock; another process is refused with "(lock file: "', async (t) => {
  const dir = tmpdir(t)
  const g = sole.acquireDaemonLock(dir)
  t.teardown(() => g.release())
  const lp = path.join(dir, 'daemon.lock')
  t.is(g.path, lp)
  t.is(g.pid, process.pid)
  t.is(fs.readFileSync(lp, 'utf8'), `${process.pid}\n`)
  t.is(sole.readLockPid(lp), process.pid)
  const agent = await startAgent(t)
  for (const target of [dir, lp]) {
    const r = await agent.call('daemon', { path: target })
    t.false(r.ok, JSON.stringify(r))
    t.is(r.error.code, 'EHELD')
    t.is(r.error.pid, process.pid)
    t.is(r.error.path, lp)
    t.true(r.error.message.startsWith(`already running as PID ${process.pid} (lock file: ${lp})`), r.error.message)
  }
  g.release()
  t.true(fs.existsSync(lp))
  t.is(sole.readLockPid(lp), null, 'released: emptied')
  // By file path, from the other process, then refused here.
  const own = path.join(dir, 'custom.lock')
  const r = await agent.call('daemon', { path: own })
  t.true(r.ok, JSON.stringify(r))
  t.is(r.path, own)
  t.is(sole.readLockPid(own), agent.pid as number)
  const e = t.throws(() => sole.acquireDaemonLock(own)) as sole.SoleError
  t.is(e.code, 'EHELD')
  t.is(e.pid, agent.pid)
  t.true(e.message.includes(`(lock file: ${own})`), e.message)
})

// ---------------------------------------------------------------------------------------------
// readLockPid

test('readLockPid: missing, empty or garbage → null; a pid → number; never writes', (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'x.lock')
  t.is(sole.readLockPid(p), null)
  t.false(fs.existsSync(p))
  for (const content of ['', '\n', 'garbage\n', '-1\n', '0\n', '99999999999\n', '12 34\n', 'abc123\n']) {
    fs.writeFileSync(p, content)
    t.is(sole.readLockPid(p), null, JSON.stringify(content))
    t.is(fs.readFileSync(p, 'utf8'), content)
  }
  fs.writeFileSync(p, '4242\n')
  t.is(sole.readLockPid(p), 4242)
  fs.writeFileSync(p, '2147483647')
  t.is(sole.readLockPid(p), 2147483647)
  const q = path.join(dir, 'mine.pid')
  claim(t, q)
  t.is(sole.readLockPid(q), process.pid)
})

test('readLockPid throws with a code for a directory or a symlink', (t) => {
  const dir = tmpdir(t)
  const e = t.throws(() => sole.readLockPid(dir)) as sole.SoleError
  t.true(e instanceof Error)
  t.is(e.code, 'ENOTREG')
  t.is(e.path, dir)
  const target = path.join(dir, 'real.pid')
  fs.writeFileSync(target, '4242\n')
  const link = path.join(dir, 'link.pid')
  fs.symlinkSync(target, link)
  const e2 = t.throws(() => sole.readLockPid(link)) as sole.SoleError
  t.is(e2.code, 'ESYMLINK')
  t.is(e2.path, link)
})

// ---------------------------------------------------------------------------------------------
// pidAlive

test('pidAlive: this process and pid 1 are alive; a reaped child is not', async (t) => {
  t.true(sole.pidAlive(process.pid))
  t.true(sole.pidAlive(1), 'pid 1 exists (EPERM, when not root, also means alive)')
  const c = spawn('true', [], { stdio: 'ignore' })
  t.teardown(() => c.kill('SIGKILL'))
  const pid = c.pid!
  t.true(Number.isInteger(pid))
  await new Promise((r) => c.once('exit', r)) // Node has reaped it by now
  t.false(sole.pidAlive(pid))
})

test('pidAlive: 0, negatives and values beyond pid_t are never alive', (t) => {
  for (const pid of [0, -1, -process.pid, 2 ** 31, 2 ** 32, 2 ** 32 + process.pid, 2 ** 53]) {
    t.false(sole.pidAlive(pid), String(pid))
  }
})

test('pidAlive: non-integers throw EINVALIDPID', (t) => {
  for (const pid of [Number.NaN, 1.5, process.pid + 0.5]) {
    const e = t.throws(() => sole.pidAlive(pid)) as sole.SoleError
    t.true(e instanceof Error)
    t.is(e.code, 'EINVALIDPID', String(pid))
    t.true(e.message.includes(String(pid)), e.message)
  }
})

test('pidAlive: a zombie (exited, not yet reaped) is not alive', async (t) => {
  const { zombie, parent } = await startZombie(t)
  t.notThrows(() => process.kill(zombie, 0), 'kill(pid, 0) alone would call the zombie alive')
  t.false(sole.pidAlive(zombie), 'a zombie holds nothing and is not alive')
  t.true(sole.pidAlive(parent), 'its (non-reaping) parent is alive')
})

// ---------------------------------------------------------------------------------------------
// claimPidfileWhenFree

test('claimPidfileWhenFree claims a free pidfile at once', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  fs.writeFileSync(p, '999999\n')
  const g = await sole.claimPidfileWhenFree(p)
  t.teardown(() => g.release())
  t.is(g.pid, process.pid)
  t.is(fs.readFileSync(p, 'utf8'), `${process.pid}\n`)
  t.deepEqual(brief(sole.readPidfile(p)), { state: 'held', pid: process.pid })
})

test('claimPidfileWhenFree waits for a live holder and takes over when it is SIGKILLed', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  const agent = await startAgent(t)
  t.true((await agent.call('claim', { path: p })).ok)
  const pending = sole.claimPidfileWhenFree(p)
  let settled = false
  pending.then(
    () => (settled = true),
    () => (settled = true),
  )
  t.true((await agent.call('ping')).ok)
  t.false(settled, 'must wait while the holder lives')
  t.is(fs.readFileSync(p, 'utf8'), `${agent.pid}\n`, 'the waiter writes nothing while waiting')
  await agent.kill('SIGKILL')
  const g = await pending
  t.teardown(() => g.release())
  t.is(fs.readFileSync(p, 'utf8'), `${process.pid}\n`)
  t.deepEqual(brief(sole.readPidfile(p)), { state: 'held', pid: process.pid })
})

test('claimPidfileWhenFree: ETIMEDOUT names the holder; abort leaves no claim behind', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  const holder = await startAgent(t)
  const r = await holder.call('claim', { path: p })
  t.true(r.ok)
  const e = (await t.throwsAsync(sole.claimPidfileWhenFree(p, { timeoutMs: 20 }))) as sole.SoleError
  t.is(e.code, 'ETIMEDOUT')
  t.is(e.pid, holder.pid)
  t.is(e.path, p)
  const ac = new AbortController()
  const pending = sole.claimPidfileWhenFree(p, { signal: ac.signal })
  t.true((await holder.call('ping')).ok)
  ac.abort()
  const a = (await t.throwsAsync(pending)) as sole.SoleError
  t.is(a.name, 'AbortError')
  t.is(a.code, 'ABORT_ERR')
  // The holder releases cleanly: the cancelled waits must not grab (and write) the pidfile.
  await holder.call('release', { handle: r.handle })
  const other = await startAgent(t)
  const r2 = await other.call('claim', { path: p })
  t.true(r2.ok, JSON.stringify(r2))
  t.is(fs.readFileSync(p, 'utf8'), `${other.pid}\n`)
})

// A holder outside this pid namespace is invisible in /proc/locks from inside it: reads must
// not call the file free ("exited") and claims must say what is true, not "claimed and
// released rapidly". Needs root for `unshare --pid` (CI runs as root); otherwise a real skip.
const canUnshare = (() => {
  try {
    execFileSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

// Root (as CI runs) must be able to unshare: there the test runs or fails. Only a non-root
// run skips it, since an unprivileged user cannot create the namespace.
rootTest('a holder outside the pid namespace: EUNKNOWNHOLDER on read, EHELD on claim, both saying so', (t) => {
  t.true(canUnshare, 'unshare --pid --fork --mount-proc works as root')
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'sole-ns-'))
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }))
  const p = path.join(d, 'app.pid')
  const claim = sole.claimPidfile(p)
  const inside = (code: string): { code?: string; message?: string; pid?: number; state?: string; stalePid?: number } =>
    JSON.parse(
      execFileSync('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, '-e', code], {
        encoding: 'utf8',
        env: { ...process.env, SOLE_LIB: path.resolve('lib/index.js'), P: p },
      }),
    )
  const report = `const s = require(process.env.SOLE_LIB); const out = (f) => { try { return f() } catch (e) { return { code: e.code, message: e.message, pid: e.pid } } }`
  const read = inside(`${report}; console.log(JSON.stringify(out(() => s.readPidfile(process.env.P))))`)
  t.is(read.code, 'EUNKNOWNHOLDER', JSON.stringify(read))
  t.regex(read.message ?? '', /outside this pid namespace/)
  const claimed = inside(`${report}; console.log(JSON.stringify(out(() => s.claimPidfile(process.env.P))))`)
  t.is(claimed.code, 'EHELD', JSON.stringify(claimed))
  t.regex(claimed.message ?? '', /outside this pid namespace/)
  t.is(claimed.pid, undefined, 'no pid from another namespace is reported')
  claim.release()
  const free = inside(`${report}; console.log(JSON.stringify(out(() => s.readPidfile(process.env.P))))`)
  t.is(free.state, 'free', 'once released, the file reads free from inside too')
})

test('out of descriptors: a read of a held pidfile and a registry operation fail EMFILE, never answer free or reclaim a live owner, a claim is EHELD, and all return', async (t) => {
  t.timeout(150_000)
  // A process at its RLIMIT_NOFILE cannot open /proc/locks or /proc/PID: that says nothing
  // about the holder. sole once read such a file as free ("unverified") with one descriptor
  // left, and looped for ever on a read with a handle with two.
  const d = tmpdir(t)
  const pidfile = path.join(d, 'held.pid')
  const registry = path.join(d, 'scope.json')
  fs.writeFileSync(pidfile, '1\n')
  const holder = spawn('flock', [pidfile, 'sh', '-c', 'echo held; read _'], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => holder.kill('SIGKILL'))
  t.is(await firstLine(holder), 'held')
  const reg = sole.ScopeRegistry.open(registry)
  reg.register({ name: 'owner', scopes: [{ target: '/owner', permission: 'write', recursive: true }], sessionId: 'o' })
  const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'out-of-fds.mjs')
  const r = spawnSync('sh', ['-c', 'ulimit -n 256 && exec "$0" "$@"', process.execPath, child, pidfile, registry, '12'], {
    encoding: 'utf8',
    timeout: 120_000,
  })
  t.is(r.status, 0, `the child did not finish: ${r.signal ?? ''} ${r.stderr}`)
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { free: number; call: string; ok?: boolean; state?: string; code?: string; message?: string })
  t.is(lines.length, 48)
  for (const l of lines) {
    const what = `${l.call} with ${l.free} free descriptor(s)`
    if (l.call === 'claim') {
      // Refused by the kernel whatever else fails: EHELD, with or without the holder's pid.
      t.is(l.code, 'EHELD', `${what}: ${l.code}: ${l.message}`)
      continue
    }
    if (l.ok) t.is(l.state, l.call === 'register' ? 'done' : 'held', what)
    else {
      t.true(l.code === 'EMFILE' || l.code === 'ENFILE', `${what}: ${l.code}: ${l.message}`)
      t.regex(l.message ?? '', /descriptors|ulimit/, what)
    }
  }
  t.true(lines.filter((l) => l.free === 12 && l.call !== 'claim').every((l) => l.ok), 'with enough descriptors every call succeeds')
  t.true(lines.some((l) => !l.ok), 'the child did run out of descriptors')
  t.deepEqual(reg.list().map((a) => a.name), ['owner'], "the live owner's allocation was kept")
  t.is(sole.readPidfile(pidfile).state, 'held')
})
