// The native half of the single-instance guard, against Node's own `net` server (what the
// primary runs) and real second-instance processes: instancePlace (checks, the /proc/self/fd
// address Node can listen on), instanceDeliverSync from another process, instanceDeliver on
// its own thread in this one (timeout naming the primary's pid, cancel), peerCredentials of a
// Node socket, and every argument's EINVAL. The protocol above it (lock, JSON, queueing) is
// the TypeScript layer's and tested there.
import test from 'ava'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { Worker } from 'node:worker_threads'

import * as native from '../index.js'
import { codeOf, rejected, thrown, tmpdir } from './helpers/index.js'

type Framed = { socket: net.Socket; body: Buffer }

/** A Node `net` server at `address` that hands each whole request frame to `onFrame`. */
async function serve(address: string, onFrame: (f: Framed) => void): Promise<net.Server> {
  const server = net.createServer((socket) => {
    let buf = Buffer.alloc(0)
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk])
      if (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        onFrame({ socket, body: buf.subarray(4, 4 + buf.readUInt32BE(0)) })
      }
    })
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(address, resolve)
  })
  return server
}

const frame = (body: Buffer) => {
  const h = Buffer.alloc(4)
  h.writeUInt32BE(body.length)
  return Buffer.concat([h, body])
}

const close = (s: net.Server) => new Promise<void>((r) => s.close(() => r()))

test('instancePlace: paths in the directory, created 0700; close() ends the address', (t) => {
  const d = path.join(tmpdir(t), 'sub')
  const p = native.instancePlace('com.example.app', d)
  t.is(p.dir, d)
  t.is(p.lockPath, path.join(d, 'com.example.app.lock'))
  t.is(p.socketPath, path.join(d, 'com.example.app.sock'))
  t.is(p.address, p.socketPath)
  t.is(fs.statSync(d).mode & 0o777, 0o700)
  t.false(p.closed)
  p.close()
  p.close()
  t.true(p.closed)
  t.is(codeOf(() => p.address), 'EBADF')
  t.is(p.socketPath, path.join(d, 'com.example.app.sock'))
})

test('instancePlace: bad names and directories are refused, naming what', (t) => {
  const d = tmpdir(t)
  for (const bad of ['', 'a/b', '..', 'a\0b', 'x'.repeat(201)]) {
    const e = thrown(() => native.instancePlace(bad, d)) as { code: string; argument: string }
    t.is(e.code, 'EINVAL', JSON.stringify(bad))
    t.is(e.argument, 'name')
  }
  for (const bad of [1, null, undefined, {}] as unknown[]) {
    const e = thrown(() => native.instancePlace(bad as string, d)) as { code: string; argument: string }
    t.is(e.code, 'EINVAL')
    t.is(e.argument, 'name')
  }
  t.is((thrown(() => native.instancePlace('a', 7 as unknown as string)) as { argument: string }).argument, 'dir')
  const open = path.join(d, 'open')
  fs.mkdirSync(open)
  fs.chmodSync(open, 0o777)
  const e = thrown(() => native.instancePlace('a', open)) as { code: string; path: string; message: string }
  t.is(e.code, 'EINSECURE')
  t.is(e.path, open)
  t.notRegex(e.message, /scope/)
  t.deepEqual(fs.readdirSync(open), [])
})

test('a long directory: Node listens on the /proc/self/fd address; a second process delivers (sync)', async (t) => {
  const deep = path.join(tmpdir(t), 'd'.repeat(70), 'e'.repeat(70))
  const place = native.instancePlace('com.example.long', deep)
  t.true(place.socketPath.length > 108)
  t.regex(place.address, /^\/proc\/self\/fd\/\d+\/com\.example\.long\.sock$/)
  const seen: { body: string; pid: number | null }[] = []
  const server = await serve(place.address, ({ socket, body }) => {
    const peer = native.peerCredentials((socket as unknown as { _handle: { fd: number } })._handle.fd)
    seen.push({ body: body.toString(), pid: peer.pid })
    socket.end(frame(Buffer.from(`ack ${body.length}`)))
  })
  t.teardown(() => close(server))
  t.true(fs.statSync(place.socketPath).isSocket())

  // The second instance: another process, with its own place (its own descriptor).
  const script = `
    const native = require(${JSON.stringify(path.resolve('index.js'))})
    const p = native.instancePlace('com.example.long', ${JSON.stringify(deep)})
    const r = native.instanceDeliverSync(p.address, Buffer.from('héllo ' + process.pid), 5000, 1000)
    console.log(JSON.stringify({ outcome: r.outcome, reply: r.reply && r.reply.toString(), pid: r.pid }))
  `
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (c) => (out += c))
  const code = await new Promise((r) => child.on('exit', r))
  t.is(code, 0)
  const r = JSON.parse(out)
  t.deepEqual(r, { outcome: 'replied', reply: `ack ${Buffer.byteLength(`héllo ${child.pid}`)}`, pid: process.pid })
  t.deepEqual(seen, [{ body: `héllo ${child.pid}`, pid: child.pid! }])
})

test('instanceDeliver: a thread of its own, so this process can be client and server at once', async (t) => {
  const place = native.instancePlace('app', tmpdir(t))
  const server = await serve(place.address, ({ socket, body }) => socket.end(frame(Buffer.concat([Buffer.from('re:'), body]))))
  t.teardown(() => close(server))
  const r = await native.instanceDeliver(place.address, Buffer.from('x'), 5000, 100, new native.InstanceDeliver())
  t.is(r.outcome, 'replied')
  t.is(r.reply?.toString(), 're:x')
  t.is(r.pid, process.pid)

  // Nobody listening: nothing to wait for.
  const none = await native.instanceDeliver(path.join(place.dir, 'none.sock'), Buffer.from('x'), 5000, 100, new native.InstanceDeliver())
  t.deepEqual({ ...none }, { outcome: 'not-listening', reply: null, pid: null })
})

test('instanceDeliver: a primary that never answers times out naming its pid; cancel() ends a wait', async (t) => {
  const place = native.instancePlace('app', tmpdir(t))
  const held: net.Socket[] = []
  const server = await serve(place.address, ({ socket }) => held.push(socket))
  t.teardown(() => {
    for (const s of held) s.destroy()
    return close(server)
  })
  const started = Date.now()
  const e = (await rejected(native.instanceDeliver(place.address, Buffer.from('x'), 200, 100, new native.InstanceDeliver()))) as {
    code: string
    pid: number
    message: string
  }
  t.is(e.code, 'ETIMEDOUT')
  t.is(e.pid, process.pid)
  t.regex(e.message, new RegExp(`pid ${process.pid}`))
  t.true(Date.now() - started >= 190)

  const control = new native.InstanceDeliver()
  const pending = native.instanceDeliver(place.address, Buffer.from('x'), 60_000, 100, control)
  control.cancel()
  t.is(((await rejected(pending)) as { code: string }).code, 'ECANCELED')
  // A cancelled control rejects every later delivery at once.
  t.is(((await rejected(native.instanceDeliver(place.address, Buffer.from('x'), 60_000, 100, control))) as { code: string }).code, 'ECANCELED')
})

test('a reply over maxReplyBytes is EMSGSIZE; a primary that closes mid-message is gone', async (t) => {
  const place = native.instancePlace('app', tmpdir(t))
  let mode: 'big' | 'drop' = 'big'
  const server = await serve(place.address, ({ socket }) => {
    if (mode === 'big') socket.end(frame(Buffer.alloc(1000, 'r')))
    else socket.destroy()
  })
  t.teardown(() => close(server))
  const e = (await rejected(native.instanceDeliver(place.address, Buffer.from('x'), 5000, 999, new native.InstanceDeliver()))) as {
    errno: number
    pid: number
  }
  t.is(e.errno, -os.constants.errno.EMSGSIZE)
  t.is(e.pid, process.pid)
  mode = 'drop'
  const r = await native.instanceDeliver(place.address, Buffer.from('x'), 5000, 999, new native.InstanceDeliver())
  t.is(r.outcome, 'gone')
  t.is(r.pid, process.pid)
})

test('peerCredentials: a Node socket pair names this process; bad descriptors are refused', async (t) => {
  const place = native.instancePlace('peer', tmpdir(t))
  let accept!: (s: net.Socket) => void
  const accepted = new Promise<net.Socket>((resolve) => (accept = resolve))
  const server = net.createServer((s) => accept(s))
  await new Promise<void>((r) => server.listen(place.address, r))
  t.teardown(() => close(server))
  const client = net.connect(place.address)
  t.teardown(() => client.destroy())
  await new Promise((r) => client.once('connect', r))
  const s = await accepted
  t.teardown(() => s.destroy())
  const fdOf = (x: net.Socket) => (x as unknown as { _handle: { fd: number } })._handle.fd
  for (const sock of [s, client]) {
    t.deepEqual({ ...native.peerCredentials(fdOf(sock)) }, { pid: process.pid, uid: process.geteuid!(), gid: process.getegid!() })
  }
  for (const bad of ['3', 1.5, -1, NaN, 2 ** 31, null] as unknown[]) {
    const e = thrown(() => native.peerCredentials(bad as number)) as { code: string; argument: string }
    t.is(e.code, 'EINVAL', String(bad))
    t.is(e.argument, 'fd')
  }
  t.is(codeOf(() => native.peerCredentials(2 ** 31 - 1)), 'EBADF')
  const f = fs.openSync(path.join(place.dir, 'file'), 'w')
  t.teardown(() => fs.closeSync(f))
  t.is((thrown(() => native.peerCredentials(f)) as { errno: number }).errno, -os.constants.errno.ENOTSOCK)
})

test('deliveries refuse wrong arguments, naming them', (t) => {
  const ok = [path.join(os.tmpdir(), 'none.sock'), Buffer.from('x'), 100, 10] as const
  const cases: [number, unknown, string][] = [
    [0, 7, 'address'],
    [0, '', 'address'],
    [1, 'text', 'payload'],
    [1, [1, 2], 'payload'],
    [2, NaN, 'timeoutMs'],
    [2, -1, 'timeoutMs'],
    [2, '5', 'timeoutMs'],
    [3, -1, 'maxReplyBytes'],
    [3, 1.5, 'maxReplyBytes'],
    [3, 2 ** 32, 'maxReplyBytes'],
  ]
  for (const [i, value, argument] of cases) {
    const a = [...ok] as unknown[]
    a[i] = value
    const e = thrown(() => (native.instanceDeliverSync as (...x: unknown[]) => unknown)(...a)) as { code: string; argument: string }
    t.is(e?.code, 'EINVAL', `${argument} = ${String(value)}`)
    t.is(e.argument, argument)
    const e2 = thrown(() => (native.instanceDeliver as (...x: unknown[]) => unknown)(...a, new native.InstanceDeliver())) as { code: string; argument: string }
    t.is(e2?.code, 'EINVAL')
    t.is(e2.argument, argument)
  }
})

test('a worker terminated during instanceDeliver: its delivery thread is cancelled and lets go of the connection', async (t) => {
  const place = native.instancePlace('worker', tmpdir(t))
  let closed!: () => void
  const connectionClosed = new Promise<void>((r) => (closed = r))
  let arrived!: () => void
  const requestArrived = new Promise<void>((r) => (arrived = r))
  // A primary that takes the request and never answers.
  const server = await serve(place.address, ({ socket }) => {
    socket.once('close', () => closed())
    arrived()
  })
  t.teardown(() => close(server))
  const worker = new Worker(
    `const native = require(${JSON.stringify(path.resolve('index.js'))})
     native.instanceDeliver(${JSON.stringify(place.address)}, Buffer.from('from a worker'), 60000, 100, new native.InstanceDeliver())`,
    { eval: true },
  )
  await requestArrived
  const started = Date.now()
  await worker.terminate()
  await connectionClosed
  t.true(Date.now() - started < 10_000)
})
