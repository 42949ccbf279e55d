/**
 * Single instance: `requestSingleInstance` / `requestSingleInstanceSync`, an Electron-compatible
 * guard (`app.requestSingleInstanceLock()` and its `second-instance` event) for Node and
 * Electron main processes. `crates/instance` (through `src/instance.rs`) does the native part:
 * the per-user directory, the sun_path workaround, peer credentials and the blocking client.
 *
 * Why it exists, and which races it closes. Guards that decide "the primary is alive" from a
 * socket file's existence are wrong after a crash (the file stays; the next launch exits
 * silently or waits on nobody). Here the role is a sole flock lock on `<dir>/<name>.lock`: the
 * kernel releases it when the primary dies, so a stale lock cannot exist. The socket
 * `<dir>/<name>.sock` is only the channel. A second launch loops until its deadline:
 *
 *   tryLock → primary; else deliver → replied (done) | not listening | gone → wait on the lock
 *   for up to {@link RETRY_MS} (it wakes at once when the primary dies or releases) → acquired:
 *   primary; else deliver again.
 *
 * - The primary holds the lock but is not listening yet (between its lock and its listen):
 *   the second sees ENOENT/ECONNREFUSED, waits on the lock, and delivers again.
 * - The primary just died, or releases: its lock is free, so the wait on the lock makes the
 *   second the primary; a connection cut before the reply ("gone") is retried the same way.
 * - A hung primary (its event loop blocked: the kernel still accepts the connection) never
 *   replies: the second gets `ETIMEDOUT` naming its pid at the deadline. sole never kills it.
 * So each launch ends primary or delivered-and-answered, never both: a launch that became
 * primary holds the lock, and no primary ever answers while another holds it.
 *
 * Nothing a second instance sends can crash, kill or block the primary: each connection is
 * checked (SO_PEERCRED: same uid or root, else an `EACCES` frame naming the uid), its frame is
 * bounded by `maxMessageBytes` (a larger length prefix gets an `EMSGSIZE` frame before the body
 * is read), the read is bounded by `timeoutMs`, and a malformed message or a throwing handler
 * gets an error frame. Frames: a 4-byte big-endian length, then UTF-8 JSON.
 *
 * Tests: `__test__/instance.spec.ts` (behaviour against real processes),
 * `__test__/instance-schedules.spec.ts` (generated concurrent launches, kills and releases,
 * with an outside oracle and a broken variant it must catch).
 */
import { EventEmitter } from 'node:events'
import fs from 'node:fs'
import net from 'node:net'
import { performance } from 'node:perf_hooks'

import * as native from './native.js'
import { Code } from './codes.js'
import { abortError, type SoleError } from './errors.js'
import { type Lock, lock, lockSync, tryLock, lockHolders } from './index.js'
import { invalidArgument, shown, signalOf, snapshot } from './wait.js'

/** How long a second instance waits on the lock between two deliveries (ms). */
const RETRY_MS = 25
/** Default `timeoutMs`. */
const DEFAULT_TIMEOUT_MS = 5_000
/** Default `maxMessageBytes`: 1 MiB. */
const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
/** The smallest `maxMessageBytes` (a request with a short argv fits). */
const MIN_MAX_MESSAGE_BYTES = 1024
/** The largest `maxMessageBytes`: what a 4-byte length prefix can say. */
const MAX_MAX_MESSAGE_BYTES = 0xffff_ffff
/** The longest per-connection timeout a Node timer holds (a longer timeoutMs is clamped). */
const MAX_SOCKET_TIMEOUT_MS = 2 ** 31 - 1
/** The frame format's version. */
const VERSION = 1

/**
 * Options of {@link requestSingleInstance} and {@link requestSingleInstanceSync}, read once.
 * Test: `__test__/instance.spec.ts` ("bad options are EINVAL naming the option").
 */
export interface SingleInstanceOptions {
  /** Sent to the primary with argv (JSON-serialisable; else `EINVAL`). Default: none. */
  additionalData?: unknown
  /** The arguments the primary receives, exactly as given. Default `process.argv`. */
  argv?: string[]
  /** The working directory the primary receives. Default `process.cwd()`. */
  cwd?: string
  /**
   * Where `<name>.lock` and `<name>.sock` live. Default: `$XDG_RUNTIME_DIR/sole-instance`, else
   * `<temp dir>/sole-instance-<euid>`, created 0700. A symlink, a directory of another user
   * (root is allowed for a given one) or a group/world-writable one is refused
   * (`ESYMLINK`, `EINSECURE`).
   */
  dir?: string
  /**
   * How long a second instance tries to reach the primary (ms, 0 to `Number.MAX_SAFE_INTEGER`);
   * for the primary, how long one connection may take to send its message. Default 5000.
   */
  timeoutMs?: number
  /**
   * The largest message (the JSON body of a frame, in bytes), at least 1024. A second
   * instance refuses to send a larger one (`EMSGSIZE`), the primary refuses to read one and
   * keeps serving, and a second instance refuses a larger reply. Default 1 MiB.
   */
  maxMessageBytes?: number
  /**
   * Use an instance directory on a network filesystem (NFS, SMB/CIFS, FUSE, 9p, …) too, where
   * `flock` may not be a lock every process sees. Default `false`: `EREMOTEFS`.
   */
  allowNetworkFs?: boolean
}

/** {@link requestSingleInstance}'s options: those of the Sync call, plus `signal`. */
export interface SingleInstanceAsyncOptions extends SingleInstanceOptions {
  /** Abort the attempt: the promise rejects with `AbortError` (nothing is held after it). */
  signal?: AbortSignal
}

/** Who sent a message, from the kernel (SO_PEERCRED), never from the message itself. */
export interface SecondInstanceSender {
  /** `null` when the sender is outside this pid namespace. */
  pid: number | null
  uid: number
  gid: number
}

/**
 * The `second-instance` listener: Electron's argument order, plus `reply`. Return a value (or
 * a Promise) to answer with it; or declare four parameters, return `undefined` and call
 * `reply(value)` yourself (once; later calls are ignored). A listener with fewer parameters
 * that returns `undefined` answers `null`. A throw (or a rejected Promise) answers an error
 * (`EHANDLER` with its message) to the second instance; the primary carries on.
 */
export type SecondInstanceListener = (
  argv: string[],
  workingDirectory: string,
  additionalData: unknown,
  reply: (value?: unknown) => void,
  sender: SecondInstanceSender,
) => unknown

/** The events of a {@link SingleInstance}, typed. */
export interface SingleInstance {
  on(event: 'second-instance', listener: SecondInstanceListener): this
  on(event: 'error', listener: (err: Error) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  once(event: 'second-instance', listener: SecondInstanceListener): this
  once(event: 'error', listener: (err: Error) => void): this
  once(event: string | symbol, listener: (...args: any[]) => void): this
}

const TOKEN = Symbol('SingleInstance')

/** Lock paths whose primary is this realm's (a Sync delivery to it could never be answered). */
const primaries = new Set<string>()

/** Everything decided from the caller's arguments, once. */
interface Settings {
  name: string
  place: native.InstancePlace
  argv: string[]
  cwd: string
  additionalData: unknown
  timeoutMs: number
  maxMessageBytes: number
  allowNetworkFs: boolean
}

/** One message read from a connection, waiting for (or handed to) a listener. */
interface Message {
  socket: net.Socket
  argv: string[]
  cwd: string
  additionalData: unknown
  sender: SecondInstanceSender
  answered: boolean
}

/**
 * The result of a request: the primary (`primary === true`: listen with
 * `on('second-instance', …)`, give the role up with `release()`), or a second instance
 * (`primaryPid`, `reply`). Events: `second-instance` (see {@link SecondInstanceListener}) and
 * `error` (only when listened to: a listener's throw, an unserialisable reply, a refused
 * connection, a server failure; without an `error` listener these are reported to the second
 * instance only, never thrown in the primary).
 *
 * The primary's server keeps the process alive, as any `net.Server` does, until `release()`
 * (or dispose); the process's exit, however it ends, releases the role.
 *
 * Tests: `__test__/instance.spec.ts` (replies, queueing, release, SIGKILL, hung primary,
 * oversized and malformed messages, another uid), `__test__/instance-schedules.spec.ts`.
 */
export class SingleInstance extends EventEmitter implements Disposable {
  /** `true` for the primary. */
  readonly primary: boolean
  /** The instance name. */
  readonly name: string
  /** A second instance: the pid of the primary that answered (from SO_PEERCRED). `null` for the primary. */
  readonly primaryPid: number | null
  /** A second instance: the primary's reply (parsed JSON). `undefined` for the primary. */
  readonly reply: unknown
  /** The lock file that decides the role. */
  readonly lockPath: string
  /** The socket file the primary listens on. */
  readonly socketPath: string
  #place: native.InstancePlace | null = null
  #lock: Lock | null = null
  #server: net.Server | null = null
  #queue: Message[] = []
  #pending = new Set<Message>()
  #sockets = new Set<net.Socket>()
  #timeoutMs = DEFAULT_TIMEOUT_MS
  #maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES
  #released = false
  #flushQueued = false

  /** @internal Made by {@link requestSingleInstance} and {@link requestSingleInstanceSync}. */
  constructor(token: unknown, s: Settings, role: { lock: Lock } | { pid: number; reply: unknown }) {
    if (token !== TOKEN) {
      throw invalidArgument('constructor', 'SingleInstance objects are made by requestSingleInstance(name) or requestSingleInstanceSync(name): call one of those.')
    }
    super()
    this.name = s.name
    this.lockPath = s.place.lockPath
    this.socketPath = s.place.socketPath
    if ('lock' in role) {
      this.primary = true
      this.primaryPid = null
      this.reply = undefined
      this.#lock = role.lock
      this.#place = s.place
      this.#timeoutMs = s.timeoutMs
      this.#maxMessageBytes = s.maxMessageBytes
      this.#listen()
      this.on('newListener', (event: string | symbol) => {
        if (event === 'second-instance' && this.#queue.length && !this.#flushQueued) {
          // The listener is added after this event: hand the queue over on the next tick.
          this.#flushQueued = true
          process.nextTick(() => this.#flush())
        }
      })
    } else {
      this.primary = false
      this.primaryPid = role.pid
      this.reply = role.reply
      this.#released = true
      s.place.close()
    }
  }

  /** `true` once `release()` ran (always for a second instance: it holds nothing). */
  get released(): boolean {
    return this.#released
  }

  /**
   * Give up the role: stop listening, remove the socket file (while the lock is still held, so
   * it is never another primary's), answer nothing more (a message not yet handed to a
   * listener is dropped with its connection: its sender retries and reaches the next primary;
   * one handed to a listener that has not answered gets an `ECANCELED` frame), then release
   * the lock. A later launch becomes primary. Idempotent; a second instance holds nothing.
   */
  release(): void {
    if (this.#released) return
    this.#released = true
    primaries.delete(this.lockPath)
    const place = this.#place
    try {
      this.#server?.close()
      for (const m of this.#pending) {
        answer(m, { v: VERSION, ok: false, code: Code.ECANCELED, message: `the primary "${this.name}" (PID ${process.pid}) released the role before its listener answered; the message was delivered to it.` })
      }
      for (const sock of this.#sockets) if (!this.#answering(sock)) sock.destroy()
      this.#queue = []
      this.#pending.clear()
      if (place) unlinkSocket(place.address)
    } finally {
      this.#server = null
      this.#lock?.release()
      this.#lock = null
      place?.close()
      this.#place = null
    }
  }

  [Symbol.dispose](): void {
    this.release()
  }

  /** Is `sock` writing its answer (then it ends by itself)? */
  #answering(sock: net.Socket): boolean {
    return sock.writableEnded
  }

  /** Listen on the socket (synchronous for a Unix socket path in Node). */
  #listen(): void {
    const place = this.#place as native.InstancePlace
    const address = place.address
    // Safe: we hold the lock, so no live primary serves this file.
    unlinkSocket(address)
    const server = net.createServer((sock) => this.#accept(sock))
    server.on('error', (err) => this.#report(err))
    server.listen(address)
    if (!server.listening) {
      server.close()
      throw Object.assign(new Error(`requestSingleInstance: the primary of "${this.name}" could not listen on ${place.socketPath}; remove what is in the way or choose another dir.`), { code: 'EADDRNOTAVAIL', path: place.socketPath }) as SoleError
    }
    // Only this user may connect (the SO_PEERCRED check stays: root may too, and a shared
    // dir's socket may be opened up by someone else).
    fs.chmodSync(address, 0o600)
    this.#server = server
    primaries.add(this.lockPath)
  }

  /** An `error` event when someone listens; otherwise nothing is thrown in the primary. */
  #report(err: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', err)
  }

  #accept(sock: net.Socket): void {
    if (this.#released) {
      sock.destroy()
      return
    }
    sock.on('error', () => undefined) // ECONNRESET, EPIPE: the sender's business
    this.#sockets.add(sock)
    sock.once('close', () => {
      this.#sockets.delete(sock)
      this.#queue = this.#queue.filter((m) => m.socket !== sock)
    })
    let sender: SecondInstanceSender
    try {
      const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd
      const c = native.peerCredentials(fd as number)
      sender = { pid: c.pid, uid: c.uid, gid: c.gid }
    } catch (err) {
      this.#report(err)
      sock.destroy()
      return
    }
    // Every connection is bounded by timeoutMs until its message is read (or drained).
    sock.setTimeout(Math.min(Math.max(this.#timeoutMs, 1), MAX_SOCKET_TIMEOUT_MS), () => sock.destroy())
    const chunks: Buffer[] = []
    let have = 0
    let need = -1
    /** A refusal already sent: the rest of the frame is read and dropped, then the end. */
    let refused = false
    const stop = (): void => {
      sock.off('data', onData)
      sock.setTimeout(0)
    }
    /**
     * Answer an error now, then drain (bounded by the frame's length and timeoutMs) instead
     * of closing on unread data: a sender still writing would get EPIPE/ECONNRESET and take
     * the cut for a dying primary (and retry) instead of reading this answer.
     */
    const refuse = (code: string, message: string): void => {
      refused = true
      chunks.length = 0
      sock.write(frame({ v: VERSION, ok: false, code, message }))
    }
    const euid = process.geteuid?.() ?? -1
    if (sender.uid !== euid && sender.uid !== 0) {
      const from = sender.pid === null ? '' : ` (PID ${sender.pid})`
      const msg = `the primary "${this.name}" (PID ${process.pid}, uid ${euid}) refused a message from uid ${sender.uid}${from}: only the same user or root may deliver. Run the second launch as uid ${euid}.`
      this.#report(Object.assign(new Error(msg), { code: 'EACCES', ...(sender.pid === null ? {} : { pid: sender.pid }) }))
      refuse('EACCES', msg)
    }
    const onData = (d: Buffer): void => {
      if (!refused || need < 0) chunks.push(d)
      have += d.length
      if (need < 0 && have >= 4) {
        need = Buffer.concat(chunks, have).readUInt32BE(0)
        if (!refused && need > this.#maxMessageBytes) {
          refuse('EMSGSIZE', `the message to "${this.name}" is ${need} bytes, more than the primary's maxMessageBytes (${this.#maxMessageBytes}); it was not read. Send less (additionalData, argv) or raise maxMessageBytes on both sides.`)
        }
        if (refused) chunks.length = 0
      }
      if (need >= 0 && have >= 4 + need) {
        stop()
        if (refused) {
          sock.end()
          return
        }
        const all = Buffer.concat(chunks, have)
        if (have > 4 + need) {
          sock.end(frame({ v: VERSION, ok: false, code: Code.EINVAL, message: `the connection to "${this.name}" sent ${have - 4 - need} bytes after its one message; one frame per connection.` }))
          return
        }
        this.#received(sock, all.subarray(4), sender)
      }
    }
    sock.on('data', onData)
  }

  #received(sock: net.Socket, body: Buffer, sender: SecondInstanceSender): void {
    let req: unknown
    try {
      req = JSON.parse(body.toString('utf8'))
    } catch (err) {
      sock.end(frame({ v: VERSION, ok: false, code: Code.EINVAL, message: `the message to "${this.name}" is not JSON: ${(err as Error).message}` }))
      return
    }
    const bad = shapeProblem(req)
    if (bad) {
      sock.end(frame({ v: VERSION, ok: false, code: Code.EINVAL, message: `the message to "${this.name}" is malformed: ${bad}` }))
      return
    }
    const r = req as { argv: string[]; cwd: string; additionalData?: unknown }
    const m: Message = { socket: sock, argv: r.argv, cwd: r.cwd, additionalData: r.additionalData, sender, answered: false }
    if (this.listenerCount('second-instance') > 0 && this.#queue.length === 0) this.#dispatch(m)
    else this.#queue.push(m)
  }

  /** Hand queued messages to the listeners, in arrival order. */
  #flush(): void {
    this.#flushQueued = false
    while (this.#queue.length && this.listenerCount('second-instance') > 0 && !this.#released) {
      const m = this.#queue.shift() as Message
      if (!m.socket.destroyed) this.#dispatch(m)
    }
  }

  /** Call every listener (as `emit` would), and answer once: see {@link SecondInstanceListener}. */
  #dispatch(m: Message): void {
    this.#pending.add(m)
    const settle = (f: object): void => {
      this.#pending.delete(m)
      answer(m, f)
    }
    const ok = (value: unknown): void => {
      if (m.answered) return
      let f: Buffer
      try {
        f = frame({ v: VERSION, ok: true, reply: value === undefined ? null : value })
      } catch (err) {
        const msg = `the primary "${this.name}" replied with a value JSON cannot carry: ${(err as Error).message}`
        this.#report(Object.assign(new Error(msg), { code: Code.EINVAL, argument: 'reply' }))
        settle({ v: VERSION, ok: false, code: Code.EINVAL, message: msg })
        return
      }
      this.#pending.delete(m)
      answerFrame(m, f)
    }
    const fail = (err: unknown): void => {
      this.#report(err)
      const text = typeof err === 'string' ? err : shown(err)
      settle({ v: VERSION, ok: false, code: 'EHANDLER', message: `the second-instance listener of "${this.name}" (PID ${process.pid}) failed: ${text}` })
    }
    const reply = (value?: unknown): void => ok(value)
    let result: unknown
    let waits = false
    try {
      for (const raw of this.rawListeners('second-instance')) {
        const f = raw as ((...a: unknown[]) => unknown) & { listener?: (...a: unknown[]) => unknown }
        const arity = (f.listener ?? f).length
        const out = f.call(this, m.argv.slice(), m.cwd, m.additionalData, reply, { ...m.sender })
        if (out !== undefined && result === undefined) result = out
        if (out === undefined && arity >= 4) waits = true
      }
    } catch (err) {
      fail(err)
      return
    }
    if (result !== undefined) {
      if (isThenable(result)) result.then(ok, fail)
      else ok(result)
    } else if (!waits) ok(null)
  }
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return (typeof x === 'object' || typeof x === 'function') && x !== null && typeof (x as { then?: unknown }).then === 'function'
}

/** A frame: 4-byte big-endian length, then the JSON body. Throws on an unserialisable value. */
function frame(body: object): Buffer {
  const text = JSON.stringify(body)
  const b = Buffer.from(text, 'utf8')
  const out = Buffer.allocUnsafe(4 + b.length)
  out.writeUInt32BE(b.length, 0)
  b.copy(out, 4)
  return out
}

function answer(m: Message, body: object): void {
  answerFrame(m, frame(body))
}

function answerFrame(m: Message, f: Buffer): void {
  if (m.answered) return
  m.answered = true
  if (!m.socket.destroyed) m.socket.end(f)
}

/** Why `req` is not a request frame's body, or `null`. */
function shapeProblem(req: unknown): string | null {
  if (typeof req !== 'object' || req === null || Array.isArray(req)) return 'not an object'
  const r = req as Record<string, unknown>
  if (r.v !== VERSION) return `version ${JSON.stringify(r.v)}, expected ${VERSION}`
  if (!Array.isArray(r.argv) || !r.argv.every((a) => typeof a === 'string')) return 'argv is not an array of strings'
  if (typeof r.cwd !== 'string') return 'cwd is not a string'
  return null
}

/** Remove a socket file left by a dead primary; only a socket (anything else is refused). */
function unlinkSocket(address: string): void {
  let st: fs.Stats
  try {
    st = fs.lstatSync(address)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  if (!st.isSocket()) {
    throw Object.assign(new Error(`${address} exists and is not a socket: requestSingleInstance will not remove it. Move it away, or choose another dir.`), { code: Code.EEXIST, path: address }) as SoleError
  }
  try {
    fs.unlinkSync(address)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}

// ---- the caller's side ------------------------------------------------------------------------

const KEYS = ['additionalData', 'argv', 'cwd', 'dir', 'timeoutMs', 'maxMessageBytes', 'allowNetworkFs'] as const

/** Read and check every option once; opens the place (the directory's checks are native). */
function settings(name: unknown, opts: unknown, keys: readonly string[]): { s: Settings; payload: Buffer; snap: Record<string, unknown> } {
  if (opts !== undefined && opts !== null && typeof opts !== 'object') {
    throw invalidArgument('options', `options must be an object, got ${typeof opts}.`)
  }
  const o = (snapshot(opts, keys) ?? {}) as Record<string, unknown>
  if (typeof name !== 'string') throw invalidArgument('name', `name must be a string (the instance name, e.g. "my-app"), got ${typeof name}.`)
  let argv: string[]
  if (o.argv === undefined) argv = process.argv.slice()
  else if (Array.isArray(o.argv) && o.argv.every((a) => typeof a === 'string')) argv = o.argv.slice()
  else throw invalidArgument('argv', 'argv must be an array of strings (default process.argv).')
  let cwd: string
  if (o.cwd === undefined) cwd = process.cwd()
  else if (typeof o.cwd === 'string') cwd = o.cwd
  else throw invalidArgument('cwd', `cwd must be a string (default process.cwd()), got ${typeof o.cwd}.`)
  if (o.dir !== undefined && typeof o.dir !== 'string') throw invalidArgument('dir', `dir must be a path string, got ${typeof o.dir}.`)
  const timeoutMs = o.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : o.timeoutMs
  if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0 && timeoutMs <= Number.MAX_SAFE_INTEGER)) {
    throw invalidArgument('timeoutMs', `timeoutMs ${shown(timeoutMs)} for requestSingleInstance is not a number of milliseconds: pass a finite number from 0 to ${Number.MAX_SAFE_INTEGER} (Number.MAX_SAFE_INTEGER), or leave it out for the default (${DEFAULT_TIMEOUT_MS}).`)
  }
  const max = o.maxMessageBytes === undefined ? DEFAULT_MAX_MESSAGE_BYTES : o.maxMessageBytes
  if (typeof max !== 'number' || !Number.isInteger(max) || max < MIN_MAX_MESSAGE_BYTES || max > MAX_MAX_MESSAGE_BYTES) {
    throw invalidArgument('maxMessageBytes', `maxMessageBytes must be an integer from ${MIN_MAX_MESSAGE_BYTES} to ${MAX_MAX_MESSAGE_BYTES} (bytes), got ${shown(max)}.`)
  }
  if (o.allowNetworkFs !== undefined && typeof o.allowNetworkFs !== 'boolean') {
    throw invalidArgument('allowNetworkFs', `allowNetworkFs must be true or false, got ${typeof o.allowNetworkFs}.`)
  }
  const allowNetworkFs = o.allowNetworkFs === true
  let body: string | undefined
  try {
    body = JSON.stringify({ v: VERSION, argv, cwd, additionalData: o.additionalData, pid: process.pid })
    if (o.additionalData !== undefined && JSON.stringify(o.additionalData) === undefined) body = undefined
  } catch (err) {
    throw invalidArgument('additionalData', `additionalData must be JSON-serialisable: ${(err as Error).message}`)
  }
  if (body === undefined) throw invalidArgument('additionalData', `additionalData must be JSON-serialisable (a ${typeof o.additionalData} is not).`)
  const place = native.instancePlace(name, (o.dir as string | undefined) ?? null)
  const s: Settings = { name, place, argv, cwd, additionalData: o.additionalData, timeoutMs, maxMessageBytes: max, allowNetworkFs }
  return { s, payload: Buffer.from(body, 'utf8'), snap: o }
}

/** `EMSGSIZE` before anything is sent, when the message is over the bound. */
function checkSize(s: Settings, payload: Buffer): void {
  if (payload.length > s.maxMessageBytes) {
    throw Object.assign(new Error(`the message to "${s.name}" is ${payload.length} bytes, more than maxMessageBytes (${s.maxMessageBytes}); nothing was sent. Send less (additionalData, argv) or raise maxMessageBytes on both sides.`), { code: 'EMSGSIZE', path: s.place.socketPath }) as SoleError
  }
}

/** A delivery the primary answered: the second instance, or the primary's error frame. */
function answered(s: Settings, d: native.InstanceDelivery): SingleInstance {
  const pid = d.pid ?? null
  let body: { ok?: unknown; reply?: unknown; code?: unknown; message?: unknown }
  try {
    body = JSON.parse((d.reply as Buffer).toString('utf8')) as typeof body
    if (typeof body !== 'object' || body === null) throw new Error('not an object')
  } catch (err) {
    s.place.close()
    throw Object.assign(new Error(`the primary of "${s.name}"${pid ? ` (PID ${pid})` : ''} answered something that is not a reply: ${(err as Error).message}`), { code: Code.EINVAL, ...(pid ? { pid } : {}) }) as SoleError
  }
  if (body.ok === true) return new SingleInstance(TOKEN, s, { pid: pid as number, reply: body.reply })
  s.place.close()
  const code = typeof body.code === 'string' ? body.code : Code.EINVAL
  const message = typeof body.message === 'string' ? body.message : `the primary of "${s.name}" refused the message`
  throw Object.assign(new Error(message), { code, ...(pid ? { pid } : {}), path: s.place.socketPath }) as SoleError
}

/** The deadline's `ETIMEDOUT`, naming the primary (SO_PEERCRED, else the lock's holder). */
function timedOut(s: Settings, pid: number | null, cause?: unknown): SoleError {
  if (pid === null) {
    try {
      pid = lockHolders(s.place.lockPath)?.holders[0]?.pid ?? null
    } catch {
      // Best effort: the message says the pid is unknown.
    }
  }
  const who = pid === null ? 'the primary (its pid is not visible here)' : `the primary (PID ${pid})`
  const err = Object.assign(
    new Error(`requestSingleInstance("${s.name}"): ${who} holds ${s.place.lockPath} but did not answer within ${s.timeoutMs} ms (its event loop may be blocked). sole never kills a primary: end it yourself if it is hung, or raise timeoutMs.`, cause === undefined ? undefined : { cause }),
    { code: Code.ETIMEDOUT, path: s.place.lockPath, ...(pid === null ? {} : { pid }) },
  )
  return err as SoleError
}

function becomePrimary(s: Settings, l: Lock): SingleInstance {
  try {
    return new SingleInstance(TOKEN, s, { lock: l })
  } catch (err) {
    l.release()
    s.place.close()
    throw err
  }
}

/** Milliseconds left until `deadline` (performance.now() time), never negative. */
const left = (deadline: number): number => Math.max(0, Math.ceil(deadline - performance.now()))

/**
 * Become the primary of `name`, or hand this launch's argv, cwd and `additionalData` to the
 * running primary and get its reply, deciding before anything else runs (it blocks the
 * calling thread up to `timeoutMs`: Electron's call is synchronous). Throws `ETIMEDOUT`
 * naming the primary's pid when it does not answer in time (it is never killed), `EMSGSIZE`
 * for a message over `maxMessageBytes`, the primary's refusal (`EACCES` for another user,
 * `EHANDLER` when its listener threw), `EDEADLK` when this thread is itself the primary of
 * `name` (it could never answer), `EINVAL` for bad options.
 *
 * Tests: `__test__/instance.spec.ts` (every case above), `__test__/instance-schedules.spec.ts`
 * (concurrent launches: never two primaries, every launch primary or answered once).
 */
export function requestSingleInstanceSync(name: string, opts?: SingleInstanceOptions): SingleInstance {
  const { s, payload } = settings(name, opts, KEYS)
  try {
    const deadline = performance.now() + s.timeoutMs
    let pid: number | null = null
    for (;;) {
      const l = tryLock(s.place.lockPath, { allowNetworkFs: s.allowNetworkFs })
      if (l) return becomePrimary(s, l)
      if (primaries.has(s.place.lockPath)) {
        throw Object.assign(new Error(`requestSingleInstanceSync("${s.name}"): this thread is the primary (it holds ${s.place.lockPath}), so a synchronous delivery to it could never be answered. Use requestSingleInstance (async), or ask from another process or thread.`), { code: Code.EDEADLK, path: s.place.lockPath, pid: process.pid }) as SoleError
      }
      checkSize(s, payload)
      let d: native.InstanceDelivery
      try {
        d = native.instanceDeliverSync(s.place.address, payload, left(deadline), s.maxMessageBytes)
      } catch (err) {
        const e = err as SoleError
        if (e.code === Code.ETIMEDOUT) throw timedOut(s, e.pid ?? pid, err)
        throw err
      }
      if (d.outcome === 'replied') return answered(s, d)
      pid = d.pid ?? pid
      try {
        return becomePrimary(s, lockSync(s.place.lockPath, { timeoutMs: Math.min(RETRY_MS, left(deadline)), allowNetworkFs: s.allowNetworkFs }))
      } catch (err) {
        const e = err as SoleError
        if (e.code !== Code.ETIMEDOUT) throw err
        pid = e.pid ?? pid
      }
      if (left(deadline) === 0) throw timedOut(s, pid)
    }
  } catch (err) {
    s.place.close()
    throw err
  }
}

/**
 * {@link requestSingleInstanceSync} without blocking the event loop: deliveries run on a
 * dedicated native thread (never libuv's pool) and the waits on the lock are `lock()`'s.
 * Rejects as the Sync call throws (no `EDEADLK`: a primary in this thread answers), and with
 * `AbortError` when `signal` aborts.
 *
 * Tests: `__test__/instance.spec.ts` (the same cases, in one process, aborted, the lock held
 * with nobody listening), `__test__/instance-schedules.spec.ts`.
 */
export async function requestSingleInstance(name: string, opts?: SingleInstanceAsyncOptions): Promise<SingleInstance> {
  const { s, payload, snap } = settings(name, opts, [...KEYS, 'signal'])
  try {
    const signal = signalOf(snap)
    const deadline = performance.now() + s.timeoutMs
    let pid: number | null = null
    for (;;) {
      if (signal?.aborted) throw abortError(signal)
      const l = tryLock(s.place.lockPath, { allowNetworkFs: s.allowNetworkFs })
      if (l) return becomePrimary(s, l)
      checkSize(s, payload)
      const control = new native.InstanceDeliver()
      const onAbort = (): void => control.cancel()
      signal?.addEventListener('abort', onAbort, { once: true })
      let d: native.InstanceDelivery
      try {
        d = await native.instanceDeliver(s.place.address, payload, left(deadline), s.maxMessageBytes, control)
      } catch (err) {
        const e = err as SoleError
        if (e.code === Code.ECANCELED && signal?.aborted) throw abortError(signal)
        if (e.code === Code.ETIMEDOUT) throw timedOut(s, e.pid ?? pid, err)
        throw err
      } finally {
        signal?.removeEventListener('abort', onAbort)
      }
      if (d.outcome === 'replied') return answered(s, d)
      pid = d.pid ?? pid
      try {
        const got = await lock(s.place.lockPath, { timeoutMs: Math.min(RETRY_MS, left(deadline)), allowNetworkFs: s.allowNetworkFs, ...(signal ? { signal } : {}) })
        return becomePrimary(s, got)
      } catch (err) {
        const e = err as SoleError
        if (e.code !== Code.ETIMEDOUT) throw err
        pid = e.pid ?? pid
      }
      if (left(deadline) === 0) throw timedOut(s, pid)
    }
  } catch (err) {
    s.place.close()
    throw err
  }
}
