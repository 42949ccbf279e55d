// Single instance (`lib/instance.ts`) against real processes and real sockets: launches are
// child processes (fixtures/instance/launch.mjs) that print what happened ('primary', 'got …',
// 'secondary …'); every wait is on such a line or on the kernel's view, never on a sleep.
import test from 'ava'
import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'

import * as sole from '../lib/index.js'
import { gots, launch, type Launch, type LaunchConfig, type Line } from './fixtures/instance/launcher.js'
import { rejected, rootTest, thrown, tmpdir } from './helpers/index.js'

/** How long a launch may take to say what it became (node start-up on 2 loaded CPUs). */
const START_MS = 20_000

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A primary launch, once it listens. */
async function primary(t: Parameters<typeof tmpdir>[0], cfg: LaunchConfig): Promise<Launch> {
  const p = launch(t, cfg, ['primary-args'])
  const o = await p.outcome(START_MS)
  if (o.event !== 'primary') throw new Error(`expected a primary, got ${JSON.stringify(o)}; stderr ${p.stderr()}`)
  return p
}

/** A second launch's outcome line. */
async function second(t: Parameters<typeof tmpdir>[0], cfg: LaunchConfig, args: string[], o: Parameters<typeof launch>[3] = {}): Promise<{ l: Launch; out: Line }> {
  const l = launch(t, cfg, args, o)
  const out = await l.outcome(START_MS)
  return { l, out }
}

/** The argv kinds the issue names. */
const HARD_ARGV = ['', ' ', '  two  spaces  ', '--flag=value', '--flag', '=', 'ünïcödé 🦀 日本語 \u200d', '"quoted" \'single\' \\back', '\t\ttab\nnewline', 'x'.repeat(100_000)]
const MANY = Array.from({ length: 1_000 }, (_, i) => `arg-${i}`)

for (const api of ['sync', 'async'] as const) {
  test(`${api}: the first launch is primary; a second gets the reply, and the primary's handler saw exactly its argv, cwd and additionalData, once`, async (t) => {
    const dir = tmpdir(t)
    const cwd = fs.realpathSync(tmpdir(t))
    const p = await primary(t, { name: 'app', dir })
    const data = { opened: ['a.txt', 'ü b.txt'], n: 3, nested: { ok: true, none: null } }
    const { l, out } = await second(t, { name: 'app', dir, api, additionalData: data }, [...HARD_ARGV, ...MANY], { cwd })
    t.is(out.event, 'secondary', JSON.stringify(out).slice(0, 500))
    t.is(out.primaryPid, p.pid)
    t.deepEqual(out.reply, { seenBy: p.pid, n: l.argv.length })
    t.deepEqual(out.argv, l.argv, 'the launch sent its own process.argv')
    const seen = await p.next((x) => x.event === 'got', START_MS)
    t.deepEqual(seen.argv, l.argv, 'argv exactly as given: empty strings, spaces, --flag=value, unicode, 100,000 characters, 1,000 arguments')
    t.is(seen.cwd, cwd)
    t.deepEqual(seen.additionalData, data)
    t.deepEqual(seen.sender, { pid: l.pid, uid: process.geteuid!(), gid: process.getegid!() }, 'the sender as the kernel reports it')
    await l.exited
    t.is(gots(p).length, 1, 'delivered once')
  })
}

test('the reply comes from reply(), a returned value, a Promise, or null for a listener that returns nothing', async (t) => {
  for (const reply of ['reply', 'return', 'promise', 'null'] as const) {
    const dir = tmpdir(t)
    const p = await primary(t, { name: 'r', dir, reply })
    const { out } = await second(t, { name: 'r', dir }, ['x'])
    t.is(out.event, 'secondary', `${reply}: ${JSON.stringify(out)}`)
    const want = { reply: { via: 'reply', seenBy: p.pid }, return: { seenBy: p.pid, n: out.argv ? (out.argv as string[]).length : -1 }, promise: { via: 'promise', seenBy: p.pid }, null: null }[reply]
    t.deepEqual(out.reply, want, reply)
    await p.kill()
  }
})

test('a listener that throws: the second instance gets EHANDLER with its message and the primary keeps serving; an unserialisable reply is EINVAL', async (t) => {
  const dir = tmpdir(t)
  const p = await primary(t, { name: 'th', dir, reply: 'throw' })
  const a = await second(t, { name: 'th', dir }, ['one'])
  t.is(a.out.event, 'error')
  t.is(a.out.code, 'EHANDLER')
  t.is(a.out.pid, p.pid)
  t.regex(String(a.out.message), /the handler refuses/)
  const b = await second(t, { name: 'th', dir }, ['two'])
  t.is(b.out.code, 'EHANDLER', 'still serving after a throw')
  t.true(alive(p.pid))
  const dir2 = tmpdir(t)
  const q = await primary(t, { name: 'bi', dir: dir2, reply: 'bigint' })
  const c = await second(t, { name: 'bi', dir: dir2 }, ['x'])
  t.is(c.out.code, 'EINVAL')
  t.regex(String(c.out.message), /JSON cannot carry/)
  t.true(alive(q.pid))
  // A listener that throws something String() cannot convert (no prototype).
  const dir3 = tmpdir(t)
  const r = await primary(t, { name: 'np', dir: dir3, reply: 'throwNull' })
  const d = await second(t, { name: 'np', dir: dir3 }, ['y'])
  t.is(d.out.code, 'EHANDLER')
  t.regex(String(d.out.message), /failed: an object/)
  t.true(alive(r.pid))
})

/** Accepted connections of `pid` on `socketPath` with nothing left unread (ss -x -p). */
function readConnections(pid: number, socketPath: string): number {
  const text = execFileSync('ss', ['-x', '-p', '-H'], { encoding: 'utf8' })
  let n = 0
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/)
    // Netid State Recv-Q Send-Q Local Port Peer Port Process
    if (f[0] === 'u_str' && f[1] === 'ESTAB' && f[2] === '0' && f[4] === socketPath && line.includes(`pid=${pid},`)) n++
  }
  return n
}

test('messages that arrive before a listener is attached are queued and delivered in order, not lost', async (t) => {
  const dir = tmpdir(t)
  const p = await primary(t, { name: 'q', dir, listen: 'later', reply: 'return' })
  const sock = (p.lines[0] as Line & { socketPath: string }).socketPath
  const a = launch(t, { name: 'q', dir }, ['first'])
  const b = launch(t, { name: 'q', dir }, ['second'])
  // Both connections accepted and read by the primary (nothing left in their receive queues),
  // with no listener yet: only the queue holds them now.
  const end = Date.now() + START_MS
  while (readConnections(p.pid, sock) < 2) {
    if (Date.now() > end) t.fail('the primary never read both messages')
    await new Promise((r) => setImmediate(r))
  }
  t.is(gots(p).length, 0)
  p.send('listen')
  const [oa, ob] = await Promise.all([a.outcome(START_MS), b.outcome(START_MS)])
  t.is(oa.event, 'secondary')
  t.is(ob.event, 'secondary')
  t.deepEqual(gots(p).map((g) => (g.argv as string[]).at(-1)).sort(), ['first', 'second'])
})

test('release(): the socket file goes, then the lock; the next launch is primary', async (t) => {
  const dir = tmpdir(t)
  const p = await primary(t, { name: 'rel', dir })
  const sock = path.join(dir, 'rel.sock')
  t.true(fs.lstatSync(sock).isSocket())
  t.is((fs.statSync(sock).mode & 0o777).toString(8), '600', 'only this user may connect')
  p.send('release')
  await p.next((l) => l.event === 'released', START_MS)
  t.false(fs.existsSync(sock), 'the socket file is removed')
  t.true(alive(p.pid), 'the old primary still runs, without the role')
  const { out } = await second(t, { name: 'rel', dir }, [])
  t.is(out.event, 'primary')
})

test('release() while a listener has not answered: the sender gets ECANCELED (delivered, unanswered), not a second delivery', async (t) => {
  const dir = tmpdir(t)
  const p = await primary(t, { name: 'rc', dir, reply: 'never' })
  const s = launch(t, { name: 'rc', dir }, ['pending'])
  await p.next((l) => l.event === 'got', START_MS)
  p.send('release')
  const o = await s.outcome(START_MS)
  t.is(o.event, 'error')
  t.is(o.code, 'ECANCELED')
  t.is(o.pid, p.pid)
  t.regex(String(o.message), /released the role before its listener answered/)
  t.is(gots(p).length, 1)
})

test('SIGKILL of the primary: its socket file stays behind, and the next launch is primary at once (no stale lock)', async (t) => {
  for (const api of ['sync', 'async'] as const) {
    const dir = tmpdir(t)
    const p = await primary(t, { name: 'k', dir })
    await p.kill()
    t.true(fs.lstatSync(path.join(dir, 'k.sock')).isSocket(), 'a crash leaves the socket file')
    const started = Date.now()
    const { out } = await second(t, { name: 'k', dir, api }, [])
    t.is(out.event, 'primary', api)
    t.log(`${api}: primary ${Date.now() - started} ms after the kill (node start-up included)`)
  }
})

/** Is some process blocked in flock() on `file` (a "->" waiter line of /proc/locks)? */
function flockWaiter(file: string): boolean {
  const st = fs.statSync(file)
  const major = Number((BigInt(st.dev) >> 8n) & 0xfffn)
  const minor = Number((BigInt(st.dev) & 0xffn) | ((BigInt(st.dev) >> 12n) & 0xfff00n))
  const want = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${st.ino}`
  return fs.readFileSync('/proc/locks', 'latin1').split('\n').some((l) => l.includes('->') && l.includes(' FLOCK ') && l.includes(want))
}

test('the lock is held but nobody listens (a primary starting up): the second waits on the lock, becomes primary the instant it is free, and times out naming the holder otherwise', async (t) => {
  const dir = tmpdir(t)
  const lockPath = path.join(dir, 'nl.lock')
  fs.writeFileSync(lockPath, '', { mode: 0o600 })
  // flock(1) holds the lock (flock(2), as sole's) and never listens; -o: its child (sleep)
  // does not keep the descriptor. Its own process group, so both go at once.
  const holder = spawn('flock', ['-o', lockPath, 'sleep', '300'], { stdio: 'ignore', detached: true })
  const killHolder = (): void => {
    try {
      process.kill(-(holder.pid as number), 'SIGKILL')
    } catch {
      // already gone
    }
  }
  t.teardown(killHolder)
  const end = Date.now() + START_MS
  while (!sole.lockHolders(lockPath)?.holders.length) {
    if (Date.now() > end) t.fail('flock never held the lock')
    await new Promise((r) => setImmediate(r))
  }
  const holders = sole.lockHolders(lockPath)!.holders.map((h) => h.pid)
  const e = (await rejected(sole.requestSingleInstance('nl', { dir, timeoutMs: 300 }))) as sole.SoleError
  t.is(e?.code, 'ETIMEDOUT')
  t.true(holders.includes(e.pid as number), `ETIMEDOUT names the holder (${String(e?.pid)} in ${holders.join(', ')})`)
  const pending = sole.requestSingleInstance('nl', { dir, timeoutMs: 20_000 })
  let settled = false
  void pending.then(() => (settled = true), () => (settled = true))
  // Seen waiting in the kernel on the lock (after finding nobody listening), still unsettled.
  while (!flockWaiter(lockPath)) {
    if (Date.now() > end) t.fail('the second never waited on the lock')
    await new Promise((r) => setImmediate(r))
  }
  t.false(settled)
  const killedAt = Date.now()
  killHolder()
  const inst = await pending
  t.teardown(() => inst.release())
  t.true(inst.primary, 'primary once the holder died')
  t.log(`primary ${Date.now() - killedAt} ms after the holder's SIGKILL`)
  inst.on('second-instance', (argv) => argv.at(-1))
  const { out } = await second(t, { name: 'nl', dir }, ['after'])
  t.is(out.event, 'secondary', JSON.stringify(out))
  t.is(out.primaryPid, process.pid)
  t.is(out.reply, 'after')
})

test('a hung primary (event loop blocked): the second instance gets ETIMEDOUT naming its pid, and it is not killed', async (t) => {
  const dir = tmpdir(t)
  const p = await primary(t, { name: 'h', dir })
  p.send('hang')
  await p.next((l) => l.event === 'hanging', START_MS)
  for (const api of ['sync', 'async'] as const) {
    const started = Date.now()
    const { out } = await second(t, { name: 'h', dir, api, timeoutMs: 600 }, ['x'])
    t.is(out.event, 'error')
    t.is(out.code, 'ETIMEDOUT', JSON.stringify(out))
    t.is(out.pid, p.pid)
    t.regex(String(out.message), new RegExp(`PID ${p.pid}`))
    t.regex(String(out.message), /never kills/)
    t.log(`${api}: ETIMEDOUT after ${Date.now() - started} ms (timeoutMs 600, plus node start-up)`)
  }
  t.true(alive(p.pid), 'the hung primary still runs')
  t.notRegex(fs.readFileSync(`/proc/${p.pid}/stat`, 'latin1'), /\) [ZX] /)
})

test('oversized messages: refused by the sender itself (EMSGSIZE, nothing sent) and by the primary, which keeps serving', async (t) => {
  const dir = tmpdir(t)
  const p = await primary(t, { name: 'big', dir, maxMessageBytes: 4096 })
  // The sender's own bound: 2 MiB of additionalData over its default 1 MiB.
  const a = await second(t, { name: 'big', dir, dataBytes: 2 * 1024 * 1024 }, [])
  t.is(a.out.code, 'EMSGSIZE')
  t.regex(String(a.out.message), /nothing was sent/)
  // The primary's bound: 10 kB under the sender's 1 MiB, over the primary's 4096.
  const b = await second(t, { name: 'big', dir, dataBytes: 10_000 }, [])
  t.is(b.out.code, 'EMSGSIZE')
  t.is(b.out.pid, p.pid)
  t.regex(String(b.out.message), /primary's maxMessageBytes \(4096\)/)
  t.is(gots(p).length, 0, 'no oversized message reached the handler')
  const c = await second(t, { name: 'big', dir }, ['small'])
  t.is(c.out.event, 'secondary', 'the primary keeps serving')
  t.is(gots(p).length, 1)
})

/** Connect to `sock`, write `bytes`, and collect the reply frame (or null at EOF). */
function raw(sock: string, bytes: Buffer): Promise<{ ok?: boolean; code?: string; message?: string } | null> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock)
    let buf = Buffer.alloc(0)
    c.on('error', reject)
    c.on('connect', () => c.write(bytes))
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d])
    })
    c.on('close', () => resolve(buf.length >= 4 ? JSON.parse(buf.subarray(4, 4 + buf.readUInt32BE(0)).toString()) : null))
  })
}

test('nothing a client sends crashes or blocks the primary: a 4 GiB length prefix, bad JSON, a wrong shape, a truncated frame', async (t) => {
  const dir = tmpdir(t)
  // timeoutMs bounds each connection from its accept; this (busy) test process must get its
  // write in before that, so not too short.
  const p = await primary(t, { name: 'fz', dir, timeoutMs: 2_000 })
  const sock = path.join(dir, 'fz.sock')
  const len = (n: number): Buffer => {
    const b = Buffer.alloc(4)
    b.writeUInt32BE(n, 0)
    return b
  }
  t.like(await raw(sock, len(0xffff_ffff)), { ok: false, code: 'EMSGSIZE' })
  t.like(await raw(sock, Buffer.concat([len(5), Buffer.from('{nope')])), { ok: false, code: 'EINVAL' })
  const shape = Buffer.from(JSON.stringify({ v: 1, argv: [1, 2], cwd: '/' }))
  t.like(await raw(sock, Buffer.concat([len(shape.length), shape])), { ok: false, code: 'EINVAL' })
  // Half a frame, then silence: the primary drops it after its timeoutMs.
  t.is(await raw(sock, Buffer.concat([len(100), Buffer.from('{"v":1')])), null)
  const { out } = await second(t, { name: 'fz', dir }, ['after'])
  t.is(out.event, 'secondary', 'still serving')
  t.is(gots(p).length, 1)
})

test('a directory path long enough that <dir>/<name>.sock exceeds sun_path (108 bytes) works', async (t) => {
  let dir = tmpdir(t)
  while (dir.length < 150) dir = path.join(dir, 'a-long-directory-name')
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  const p = await primary(t, { name: 'long-name-app', dir })
  t.true(path.join(dir, 'long-name-app.sock').length > 108)
  t.true(fs.lstatSync(path.join(dir, 'long-name-app.sock')).isSocket(), 'the socket is where it belongs')
  for (const api of ['sync', 'async'] as const) {
    const { out } = await second(t, { name: 'long-name-app', dir, api }, [api])
    t.is(out.event, 'secondary', api)
    t.is(out.primaryPid, p.pid)
  }
})

test('the default directory: $XDG_RUNTIME_DIR/sole-instance, 0700', async (t) => {
  const xdg = tmpdir(t)
  fs.chmodSync(xdg, 0o700)
  const env = { XDG_RUNTIME_DIR: xdg }
  const p = launch(t, { name: 'def' }, [], { env })
  const o = await p.outcome(START_MS)
  t.is(o.event, 'primary')
  t.is(o.lockPath, path.join(xdg, 'sole-instance', 'def.lock'))
  t.is((fs.statSync(path.join(xdg, 'sole-instance')).mode & 0o777).toString(8), '700')
  const s = launch(t, { name: 'def' }, [], { env })
  t.is((await s.outcome(START_MS)).event, 'secondary')
})

test('worker_threads: the addon loads there; a primary and a second instance in workers', async (t) => {
  const dir = tmpdir(t)
  const p = launch(t, { name: 'w', dir, worker: true }, ['p'])
  t.is((await p.outcome(START_MS)).event, 'primary')
  for (const api of ['sync', 'async'] as const) {
    const s = launch(t, { name: 'w', dir, api, worker: true }, [api])
    const o = await s.outcome(START_MS)
    t.is(o.event, 'secondary', JSON.stringify(o))
    t.is(o.primaryPid, p.pid)
  }
})

test('in one process: an async request reaches this thread\'s primary; a Sync one is EDEADLK at once', async (t) => {
  const dir = tmpdir(t)
  const p = sole.requestSingleInstanceSync('self', { dir })
  t.teardown(() => p.release())
  t.true(p.primary)
  t.is(p.primaryPid, null)
  const seen: unknown[] = []
  p.on('second-instance', (argv, cwd, data) => {
    seen.push({ argv, cwd, data })
    return 'hello'
  })
  const s = await sole.requestSingleInstance('self', { dir, argv: ['a', ''], cwd: '/x', additionalData: [1] })
  t.false(s.primary)
  t.is(s.primaryPid, process.pid)
  t.is(s.reply, 'hello')
  t.deepEqual(seen, [{ argv: ['a', ''], cwd: '/x', data: [1] }])
  const started = Date.now()
  const e = thrown(() => sole.requestSingleInstanceSync('self', { dir })) as sole.SoleError
  t.is(e?.code, 'EDEADLK')
  t.true(Date.now() - started < 1_000, 'refused at once, not after the timeout')
  p[Symbol.dispose]()
  t.true(p.released)
  p.release() // idempotent
  const again = sole.requestSingleInstanceSync('self', { dir })
  t.true(again.primary, 'after release, the next request is primary')
  again.release()
})

test('an aborted async request rejects with AbortError and holds nothing', async (t) => {
  const dir = tmpdir(t)
  const p = await primary(t, { name: 'ab', dir })
  p.send('hang')
  await p.next((l) => l.event === 'hanging', START_MS)
  const ac = new AbortController()
  const pending = sole.requestSingleInstance('ab', { dir, signal: ac.signal, timeoutMs: 60_000 })
  setImmediate(() => ac.abort())
  const e = (await rejected(pending)) as sole.SoleError
  t.is(e?.name, 'AbortError')
  t.is(e?.code, 'ABORT_ERR')
})

test('bad options are EINVAL naming the option, before anything is locked or sent', async (t) => {
  const dir = tmpdir(t)
  const cyclic: Record<string, unknown> = {}
  cyclic.self = cyclic
  const cases: [unknown, unknown, string][] = [
    [42, undefined, 'name'],
    ['a/b', { dir }, 'name'],
    ['', { dir }, 'name'],
    ['ok', 'options', 'options'],
    ['ok', { dir, argv: 'a b' }, 'argv'],
    ['ok', { dir, argv: ['a', 1] }, 'argv'],
    ['ok', { dir, cwd: 7 }, 'cwd'],
    ['ok', { dir: 7 }, 'dir'],
    ['ok', { dir, additionalData: 1n }, 'additionalData'],
    ['ok', { dir, additionalData: () => 1 }, 'additionalData'],
    ['ok', { dir, additionalData: cyclic }, 'additionalData'],
    ['ok', { dir, timeoutMs: -1 }, 'timeoutMs'],
    ['ok', { dir, timeoutMs: Number.NaN }, 'timeoutMs'],
    ['ok', { dir, timeoutMs: '5' }, 'timeoutMs'],
    ['ok', { dir, maxMessageBytes: 100 }, 'maxMessageBytes'],
    ['ok', { dir, maxMessageBytes: 2048.5 }, 'maxMessageBytes'],
    // Values String() throws on (found by the API fuzz test): still EINVAL, never a TypeError.
    ['ok', { dir, maxMessageBytes: Object.create(null) }, 'maxMessageBytes'],
    ['ok', { dir, timeoutMs: Object.create(null) }, 'timeoutMs'],
    ['ok', { dir, timeoutMs: { toString: () => { throw new Error('no') } } }, 'timeoutMs'],
  ]
  for (const [name, opts, argument] of cases) {
    const e = thrown(() => sole.requestSingleInstanceSync(name as string, opts as sole.SingleInstanceOptions)) as sole.SoleError
    t.is(e?.code, 'EINVAL', `${String(name)} ${String(argument)}: ${String(e)}`)
    t.is(e?.argument, argument)
    const r = (await rejected(sole.requestSingleInstance(name as string, opts as sole.SingleInstanceOptions))) as sole.SoleError
    t.is(r?.code, 'EINVAL', `async ${argument}`)
    t.is(r?.argument, argument)
  }
  const s = (await rejected(sole.requestSingleInstance('ok', { dir, signal: 'no' as unknown as AbortSignal }))) as sole.SoleError
  t.is(s?.argument, 'signal')
  t.deepEqual(fs.readdirSync(dir), [], 'nothing was created')
  t.is(thrown(() => new (sole.SingleInstance as unknown as new () => unknown)()) instanceof Error, true)
})

rootTest('another user (uid 65534): a private directory refuses it (EACCES); with the files opened up, the primary refuses it naming the uid', async (t) => {
  // The primary's private 0700 directory: the other user cannot even reach the lock.
  const priv = tmpdir(t)
  fs.chmodSync(priv, 0o700)
  await primary(t, { name: 'u', dir: priv })
  const a = await second(t, { name: 'u', dir: priv }, ['x'], { asUid: 65534 })
  t.is(a.out.event, 'error')
  t.is(a.out.code, 'EACCES', JSON.stringify(a.out))
  t.log(`private dir: ${String(a.out.message)}`)
  t.true(String(a.out.message).includes(priv), 'the message names the directory or file it could not reach')
  // A root-owned 0755 directory (accepted for a given dir), whose lock and socket someone
  // opened to everyone: the other user reaches the primary, which checks SO_PEERCRED.
  const shared = tmpdir(t)
  fs.chmodSync(shared, 0o755)
  const p = await primary(t, { name: 'u', dir: shared })
  fs.chmodSync(path.join(shared, 'u.lock'), 0o666)
  fs.chmodSync(path.join(shared, 'u.sock'), 0o666)
  const b = await second(t, { name: 'u', dir: shared }, ['secret'], { asUid: 65534 })
  t.is(b.out.event, 'error')
  t.is(b.out.code, 'EACCES', JSON.stringify(b.out))
  t.is(b.out.pid, p.pid)
  t.regex(String(b.out.message), /uid 65534/)
  t.log(`shared dir: ${String(b.out.message)}`)
  t.is(gots(p).length, 0, 'the message never reached the handler')
  const c = await second(t, { name: 'u', dir: shared }, ['mine'])
  t.is(c.out.event, 'secondary', 'the primary keeps serving its own user')
})
