// The fuzz runner: one child process that executes a batch of generated calls (`plan.mjs`)
// against the built package and reports every outcome, so that the driver (`driver.mjs`)
// observes a crash instead of suffering it.
//
//   node runner.mjs BATCH_FILE ROOT START_AT
//
// BATCH_FILE: `v8.serialize`d array of calls. ROOT: this runner's own directory (fixtures,
// cwd, runtime dir); every path a call gets is inside it. START_AT: the first call to run (the
// driver restarts a runner after a crash at the call that follows).
//
// Reports are lines `@@FUZZ {json}` written synchronously to fd 2, which the driver points at a
// file: they survive a SIGABRT, and anything else on stderr (a Rust panic message) lands
// between them, next to the call that printed it. Heartbeats go over IPC before every step, so
// the driver can tell a hang (no heartbeat for longer than any step may take) from slowness.
//
// Resources: everything a call obtains is released or closed at its end (reported too, as
// `cleanup …` steps). Signals go only to this runner's own children (see `signalGuard`).
import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import v8 from 'node:v8'
import { fileURLToPath } from 'node:url'

import * as sole from '../../lib/index.js'
import { firstLine, procState, startZombie } from '../fixtures/children.mjs'

/** Does the descriptor tree contain a node for which `pred` holds? (As plan.mjs's; that module is slow to load.) */
function contains(d, pred) {
  if (d === null || typeof d !== 'object') return false
  if (pred(d)) return true
  if (d.$ === 'lit') return false
  return Object.values(d).some((x) => contains(x, pred))
}

const HERE = path.dirname(fileURLToPath(import.meta.url))
// notify()/daemonReady() must never reach a supervisor this test itself runs under.
delete process.env.NOTIFY_SOCKET
const [batchFile, ROOT, startArg] = process.argv.slice(2)
const calls = v8.deserialize(fs.readFileSync(batchFile))
const START_AT = Number(startArg ?? 0)

const rec = (o) => fs.writeSync(2, `@@FUZZ ${JSON.stringify(o)}\n`)
const beat = (o) => {
  try {
    process.send?.(o)
  } catch {
    // The driver went away; the records in the file still tell what happened.
  }
}

/** What a caller's getter or trap throws: a unique non-Error object. */
const SENTINEL = Object.freeze({
  fuzzSentinel: true,
  toString() {
    return 'FUZZ-SENTINEL'
  },
})

// ---------------------------------------------------------------------------------------------
// Fixtures

const fx = (rel) => path.join(ROOT, 'fx', rel)
const CWD = path.join(ROOT, 'cwd')
const CANARY_TEXT = 'canary: a call that writes through a symlink changes this text\n'

/** The identity of a process as sole reports it, read from /proc by hand (not by sole). */
const BOOT_ID = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
function identityOf(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    let exePath = null
    try {
      exePath = fs.readlinkSync(`/proc/${pid}/exe`)
    } catch {
      // A zombie or another user's process: unreadable, as processIdentity reports it.
    }
    return { pid, startTime: Number(fields[19]), bootId: BOOT_ID, exePath, exeDeleted: false, uid: fs.statSync(`/proc/${pid}`).uid, hostname: os.hostname() }
  } catch {
    return { pid }
  }
}

/** Resolve once `cond()` holds, checking on each turn of the event loop (bounded). */
async function until(what, cond) {
  for (let i = 0; i < 200_000 && !cond(); i++) await new Promise((r) => setImmediate(r))
  if (!cond()) throw new Error(`fuzz runner: timed out waiting until ${what}`)
}
const exeBase = (pid) => {
  try {
    return path.basename(fs.readlinkSync(`/proc/${pid}/exe`))
  } catch {
    return ''
  }
}

/** Children this runner may signal (and nobody else): pid → ChildProcess. */
const children = new Map()
const others = [] // ChildProcesses that are not signal targets (flock holders), killed at the end if alive
const cleanups = []

async function spawnSleep(seconds) {
  const c = spawn('sleep', [String(seconds)], { stdio: 'ignore' })
  children.set(c.pid, c)
  c.once('exit', () => undefined)
  // exec has happened once /proc shows sleep (or it is already gone).
  await until('sleep runs', () => exeBase(c.pid) === 'sleep' || c.exitCode !== null || c.signalCode !== null || procState(c.pid) === '')
  return { pid: c.pid, identity: identityOf(c.pid), child: c }
}
const alive = (c) => c.exitCode === null && c.signalCode === null

const live = []
async function liveProc() {
  for (const l of live) if (alive(l.child)) return l
  const l = await spawnSleep(300)
  live.push(l)
  if (live.length > 4) live.shift()
  return l
}

let holder
async function ensureHolder() {
  if (holder && alive(holder.child) && !['Z', 'X', ''].includes(procState(holder.pid))) return holder
  if (holder && alive(holder.child)) {
    const gone = new Promise((r) => holder.child.once('exit', r))
    holder.child.kill('SIGKILL')
    await gone
  }
  const c = spawn(process.execPath, [path.join(HERE, 'holder.mjs'), JSON.stringify(HOLDER_PATHS)], { stdio: ['pipe', 'pipe', 'inherit'] })
  children.set(c.pid, c)
  c.once('exit', () => undefined)
  const line = await firstLine(c)
  if (line !== 'ready') throw new Error(`fuzz holder printed ${line}`)
  holder = { pid: c.pid, identity: identityOf(c.pid), child: c }
  return holder
}

const HOLDER_PATHS = {
  held: fx('held.lock'),
  heldShared: fx('shared.lock'),
  heldPid: fx('held.pid'),
  heldDaemonDir: fx('daemon'),
  regHeldLock: path.join(ROOT, 'regheld', 'scope.json.lock'),
  socket: fx('sock'),
}

/** Files that calls may change and that must keep their meaning: restored before each call. */
const fixtures = []
function fixture(rel, kind, extra = {}) {
  fixtures.push({ p: rel.startsWith('/') ? rel : fx(rel), kind, ...extra })
}
function make(f) {
  fs.rmSync(f.p, { recursive: true, force: true })
  fs.mkdirSync(path.dirname(f.p), { recursive: true, mode: 0o700 })
  if (f.kind === 'file') fs.writeFileSync(f.p, f.content ?? '', { mode: 0o600 })
  else if (f.kind === 'dir') fs.mkdirSync(f.p, { mode: f.mode ?? 0o700 })
  else if (f.kind === 'symlink') fs.symlinkSync(f.target, f.p)
  else if (f.kind === 'fifo') execFileSync('mkfifo', [f.p])
  if (f.mode !== undefined) fs.chmodSync(f.p, f.mode)
  f.snap = snap(f.p)
}
/** (Re)create fixtures, setting their identity records in one python3 run. */
function makeAll(list) {
  for (const f of list) make(f)
  const withRecord = list.filter((f) => f.record !== undefined)
  if (withRecord.length === 0) return
  setRecords(withRecord.map((f) => [f.p, f.record]))
  for (const f of withRecord) f.snap = snap(f.p)
}
/** What must not change about a fixture: a directory's identity (its entries may), a file's content too. */
function snap(p) {
  try {
    const s = fs.lstatSync(p, { bigint: true })
    if (s.isDirectory()) return `${s.mode}:${s.ino}`
    return `${s.mode}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`
  } catch {
    return 'missing'
  }
}
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'
/** Set `user.sole.identity` records (python3: Node has no xattr API). Unsupported: left unset. */
function setRecords(list) {
  const script = 'import os,sys,json\nfor p,r in json.loads(sys.argv[1]):\n  try: os.setxattr(p, "user.sole.identity", r.encode("utf-8", "surrogatepass"))\n  except OSError as e: print(p, e, file=sys.stderr)'
  try {
    execFileSync(PYTHON, ['-c', script, JSON.stringify(list)], { stdio: ['ignore', 'ignore', 'ignore'] })
  } catch {
    // No python3 or no user xattrs here: the record fixtures are plain pidfiles then.
  }
}
function restoreFixtures() {
  makeAll(fixtures.filter((f) => snap(f.p) !== f.snap))
}
function checkCanary() {
  let text
  try {
    text = fs.readFileSync(fx('canary'), 'utf8')
  } catch (e) {
    text = `<unreadable: ${e.code}>`
  }
  if (text === CANARY_TEXT) return null
  fs.writeFileSync(fx('canary'), CANARY_TEXT)
  return `the canary behind the symlink fixtures changed: ${JSON.stringify(text.slice(0, 80))}`
}

let reaped
let zombie
async function setup() {
  for (const d of ['fx', 'cwd', 'runtime', 'tmp']) fs.mkdirSync(path.join(ROOT, d), { recursive: true, mode: 0o700 })
  const l = await liveProc()
  await liveProc()
  // Reaped: a process that ran and is gone (its identity was recorded while it lived).
  const r = await spawnSleep(300)
  r.child.kill('SIGKILL')
  await new Promise((res) => (r.child.exitCode !== null || r.child.signalCode !== null ? res() : r.child.once('exit', res)))
  reaped = { pid: r.pid, identity: r.identity }
  children.delete(r.pid)
  // Zombie: exited, never reaped (its parent is a `sleep` that is not a signal target).
  const z = await startZombie({ teardown: (fn) => cleanups.push(fn) })
  zombie = { pid: z.zombie, identity: identityOf(z.zombie) }

  fixture('canary', 'file', { content: CANARY_TEXT })
  fixture('existing', 'file')
  fixture('dir', 'dir')
  fixture('realdir', 'dir')
  fixture('link', 'symlink', { target: fx('canary') })
  fixture('dangling', 'symlink', { target: fx('nowhere') })
  fixture('loop', 'symlink', { target: fx('loop') })
  fixture('linkdir', 'symlink', { target: fx('realdir') })
  fixture('fifo', 'fifo')
  fixture('daemon', 'dir')
  const garbage = {
    empty: '', text: 'abc\n', neg: '-5\n', zero: '0\n', big: '99999999999\n', spaces: ' 42 \n', nuls: '\0\0\0',
    mb: '7'.repeat(1 << 20), live: `${l.pid}\n`, self: `${process.pid}\n`, reaped: `${reaped.pid}\n`, init: '1\n',
    twoLines: '12\n34\n', binary: '\xff\xfe\x00\x01garbage',
  }
  for (const [k, content] of Object.entries(garbage)) fixture(`g-${k}`, 'file', { content })
  const id = l.identity
  const rec1 = (i, start = i.startTime, boot = i.bootId, lock = '') => `sole-identity/1 pid=${i.pid} start=${start} boot=${boot}${lock}`
  const records = {
    flock: [`${id.pid}\n`, rec1(id, id.startTime, id.bootId, ' lock=flock')],
    foreign: [`${id.pid}\n`, rec1(id)],
    reused: [`${id.pid}\n`, rec1(id, 1)],
    boot: [`${id.pid}\n`, rec1(id, id.startTime, '00000000-0000-0000-0000-000000000000')],
    garbage: [`${id.pid}\n`, 'sole-identity/1 pid=abc start=-1 boot=\u0001 lock=flock ==='],
    huge: [`${id.pid}\n`, `sole-identity/1 pid=${id.pid} ${'k=v '.repeat(950)}`],
    self: [`${process.pid}\n`, rec1(identityOf(process.pid))],
  }
  for (const [k, [content, record]] of Object.entries(records)) fixture(`r-${k}`, 'file', { content, record })
  fixture(path.join(ROOT, 'reg'), 'dir')
  fixture(path.join(ROOT, 'regc', 'scope.json'), 'file', { content: 'not json {' })
  fixture(path.join(ROOT, 'regv', 'scope.json'), 'file', { content: '{"version":2,"allocations":[]}' })
  fixture(path.join(ROOT, 'rege', 'scope.json'), 'file', { content: '' })
  fixture(path.join(ROOT, 'insecure'), 'dir', { mode: 0o777 })
  fixture(path.join(ROOT, 'regs', 'scope.json'), 'symlink', { target: fx('canary') })
  fixture(path.join(ROOT, 'regheld'), 'dir')
  fixture(path.join(ROOT, 'regd', 'scope.json'), 'dir')
  fixture(path.join(ROOT, 'regfifo', 'scope.json'), 'fifo')
  makeAll(fixtures)
  await ensureHolder()
}

// ---------------------------------------------------------------------------------------------
// Values

/** Proxies this runner built (never inspected by the safety checks: every trap throws). */
const built = new WeakSet()
const TRAPS = ['get', 'has', 'ownKeys', 'getOwnPropertyDescriptor', 'getPrototypeOf', 'setPrototypeOf', 'defineProperty', 'deleteProperty', 'set', 'isExtensible', 'preventExtensions', 'apply', 'construct']
function throwingProxy(fn) {
  const handler = {}
  for (const t of TRAPS) {
    handler[t] = () => {
      throw SENTINEL
    }
  }
  const p = new Proxy(fn ? function target() {} : {}, handler)
  built.add(p)
  return p
}

/** Per-call state: what the call obtained (released at its end), timers, children. */
let ctx

function makeSignal(k) {
  const later = (fn) => ctx.timers.push(setTimeout(fn, 15))
  const fire = (s, fn) => () => {
    s.aborted = true
    s.reason = 'fake'
    if (typeof fn === 'function') fn.call(s, { type: 'abort' })
    else fn?.handleEvent?.({ type: 'abort' })
  }
  switch (k) {
    case 'aborted':
      return AbortSignal.abort(new Error('fuzz abort'))
    case 'abortSoon': {
      const c = new AbortController()
      later(() => c.abort(new Error('fuzz abort')))
      return c.signal
    }
    case 'never':
      return new AbortController().signal
    case 'fakeShaped':
      return { aborted: false, addEventListener() {}, removeEventListener() {} }
    case 'fakeShapedAborted':
      return { aborted: true, reason: 'fake', addEventListener() {}, removeEventListener() {} }
    case 'fakeFiresSoon': {
      const s = { aborted: false, reason: undefined, removeEventListener() {} }
      s.addEventListener = (_type, fn) => later(fire(s, fn))
      return s
    }
    case 'fakeAddThrows':
      return {
        aborted: false,
        addEventListener() {
          throw SENTINEL
        },
        removeEventListener() {},
      }
    case 'fakeRemoveThrows': {
      const s = {
        aborted: false,
        reason: undefined,
        removeEventListener() {
          throw SENTINEL
        },
      }
      s.addEventListener = (_type, fn) => later(fire(s, fn))
      return s
    }
    case 'fakeAbortedThrows':
      return {
        get aborted() {
          throw SENTINEL
        },
        addEventListener() {},
        removeEventListener() {},
      }
    case 'fakeAbortedNotBool':
      return { aborted: 'yes', addEventListener() {}, removeEventListener() {} }
    case 'notShaped':
      return { onabort: null }
    case 'eventTarget':
      return new EventTarget()
    default:
      throw new Error(`fuzz runner: unknown signal kind ${k}`)
  }
}

function resolvePath(d) {
  const i = ctx.i
  const k = d.k
  if (k.startsWith('garbage:')) return fx(`g-${k.slice(8)}`)
  if (k.startsWith('record:')) return fx(`r-${k.slice(7)}`)
  switch (k) {
    case 'free': return fx(`free-${i}`)
    case 'existing': return fx('existing')
    case 'nested': return fx(`nest-${i}/a/b.lock`)
    case 'missingParent': return fx(`missing-${i}/x.lock`)
    case 'held': return HOLDER_PATHS.held
    case 'heldShared': return HOLDER_PATHS.heldShared
    case 'heldPid': return HOLDER_PATHS.heldPid
    case 'heldDaemonDir': return HOLDER_PATHS.heldDaemonDir
    case 'heldDaemonFile': return path.join(HOLDER_PATHS.heldDaemonDir, 'daemon.lock')
    case 'releasedSoon': return fx(`soon-${i}.lock`)
    case 'dir': return fx('dir')
    case 'symlink': return fx('link')
    case 'symlinkDangling': return fx('dangling')
    case 'symlinkLoop': return fx('loop')
    case 'throughSymlinkDir': return fx('linkdir/x.lock')
    case 'fifo': return fx('fifo')
    case 'socket': return HOLDER_PATHS.socket
    case 'underFile': return fx('existing/sub')
    case 'longComponent': return fx('n'.repeat(300))
    case 'longPath': return fx(`${`${'d'.repeat(200)}/`.repeat(25)}f`)
    case 'relative': return `rel-${i}.lock`
    case 'dotdot': return fx('dir/../dd.lock')
    case 'nul': return fx('nul\0x')
    case 'empty': return ''
    case 'huge': return fx('h'.repeat(1 << 20))
    case 'mapped': return fx(`m-${d.s.replace(/\//g, '_')}`)
    case 'reg:main': return path.join(ROOT, 'reg', 'scope.json')
    case 'reg:fresh': return path.join(ROOT, `regf-${i}`, 'scope.json')
    case 'reg:corrupt': return path.join(ROOT, 'regc', 'scope.json')
    case 'reg:foreignVersion': return path.join(ROOT, 'regv', 'scope.json')
    case 'reg:empty': return path.join(ROOT, 'rege', 'scope.json')
    case 'reg:insecureDir': return path.join(ROOT, 'insecure', 'scope.json')
    case 'reg:symlink': return path.join(ROOT, 'regs', 'scope.json')
    case 'reg:held': return path.join(ROOT, 'regheld', 'scope.json')
    case 'reg:dir': return path.join(ROOT, 'regd', 'scope.json')
    case 'reg:fifo': return path.join(ROOT, 'regfifo', 'scope.json')
    default: throw new Error(`fuzz runner: unknown path kind ${k}`)
  }
}

function procInfo(k) {
  switch (k) {
    case 'self': return { pid: process.pid, identity: identityOf(process.pid) }
    case 'parent': return { pid: process.ppid, identity: identityOf(process.ppid) }
    case 'live': return ctx.live
    case 'dying': return ctx.dying
    case 'reaped': return reaped
    case 'zombie': return zombie
    case 'holder': return holder
    case 'pid1': return { pid: 1, identity: identityOf(1) }
    default: throw new Error(`fuzz runner: unknown process kind ${k}`)
  }
}

function resolveProc(d) {
  const p = procInfo(d.k)
  if (d.as === 'pid') return p.pid
  if (d.as === 'handle') {
    const out = prepStep(`prep ProcessHandle.open(${d.k}.pid)`, () => sole.ProcessHandle.open(p.pid))
    if (out.o.k !== 'ok') return null
    track(out.value, 'ProcessHandle')
    return out.value
  }
  const base = { ...p.identity, pid: p.pid }
  let id
  switch (d.as) {
    case 'identity': id = base; break
    case 'identityWrongStart': id = { ...base, startTime: (base.startTime ?? 0) + 1 }; break
    case 'identityWrongBoot': id = { ...base, bootId: '00000000-0000-0000-0000-000000000000' }; break
    case 'identityWrongExe': id = { ...base, exePath: '/nonexistent/fuzz-exe' }; break
    case 'identityBadSha': id = { ...base, exeSha256: '0'.repeat(64) }; break
    case 'identityGarbageSha': id = { ...base, exeSha256: 'zz' }; break
    case 'identityPidOnly': id = { pid: p.pid }; break
    case 'identityNullExe': id = { ...base, exePath: null }; break
    default: throw new Error(`fuzz runner: unknown process form ${d.as}`)
  }
  for (const [key, x] of Object.entries(d.over ?? {})) id[key] = mat(x)
  return id
}

/** A value descriptor → the value. */
function mat(d) {
  switch (d.$) {
    case 'lit': return d.v
    case 'sym': return Symbol('fuzz')
    case 'fn': return function fuzzFn() {
      return 42
    }
    case 'throwing': return throwingProxy(false)
    case 'throwingFn': return throwingProxy(true)
    case 'revoked': {
      const { proxy, revoke } = Proxy.revocable({}, {})
      revoke()
      built.add(proxy)
      return proxy
    }
    case 'nullProto': return Object.create(null)
    case 'huge': {
      const s = 'x'.repeat(d.n)
      return d.nul ? `${s.slice(0, d.n >> 1)}\0${s.slice((d.n >> 1) + 1)}` : s
    }
    case 'arr': return d.items.map(mat)
    case 'obj': {
      const o = {}
      for (const [k, x] of Object.entries(d.fields)) Object.defineProperty(o, k, { value: mat(x), enumerable: true, writable: true, configurable: true })
      if (d.throwOn) {
        Object.defineProperty(o, d.throwOn, {
          get() {
            throw SENTINEL
          },
          enumerable: true,
          configurable: true,
        })
      }
      return o
    }
    case 'path': return resolvePath(d)
    case 'signal': return makeSignal(d.k)
    case 'proc': return resolveProc(d)
    default: throw new Error(`fuzz runner: unknown value kind ${d.$}`)
  }
}

// ---------------------------------------------------------------------------------------------
// Safety: paths stay in ROOT; signals reach only this runner's children

/** Could this value, used as a path, name anything outside ROOT? (Never passed if so.) */
function pathSafe(v) {
  if (built.has(v) || typeof v === 'symbol') return true
  let s
  try {
    s = typeof v === 'string' ? v : String(v)
  } catch {
    return true // cannot become a string, so cannot become a path
  }
  if (s === '') return true
  const abs = path.resolve(CWD, s.replace(/\0/g, '_'))
  return abs.startsWith(`${ROOT}/`)
}

const mine = (pid) => {
  const c = children.get(pid)
  if (c && alive(c)) return true
  return zombie !== undefined && pid === zombie.pid && procState(pid) === 'Z'
}
/** Signals Node survives as a process (SIGUSR1 would open the inspector): for the holder. */
const HOLDER_SAFE = new Set(['SIGTERM', 'SIGKILL', 'SIGINT', 'SIGHUP', 'SIGSTOP', 'SIGCONT', 'TERM', 'KILL', 0, 1, 2, 9, 15, 18, 19])

/** Why a signal step must not run, or null when it targets one of our children. */
function signalGuard(handle, meta, sig) {
  if (!meta.real) return null // built from a hostile value by an internal constructor: no pidfd behind it
  let pid
  try {
    pid = handle.pid
  } catch {
    return 'the handle has no readable pid'
  }
  if (typeof pid !== 'number' || !mine(pid)) return `pid ${String(pid)} is not one of the runner's children`
  if (holder && pid === holder.pid && (typeof sig === 'string' || typeof sig === 'number') && !HOLDER_SAFE.has(sig)) {
    return `signal ${String(sig)} not sent to the holder (Node would start its inspector or dump core)`
  }
  return null
}

/** Could `v`, coerced the way a buggy validation might, name a process that is not ours? */
function pidValueSafe(v, depth) {
  switch (typeof v) {
    case 'undefined':
    case 'symbol':
    case 'function':
      return true
    case 'boolean':
      return false
    case 'bigint':
      return v > 2n ** 31n
    case 'number':
      if (Number.isInteger(v) && v >= 1 && v <= 2 ** 31 - 1) return mine(v) && !(holder && v === holder.pid)
      return !(v <= 0) || Number.isNaN(v)
    case 'string':
      return Number.isNaN(Number(v))
    default: {
      if (v === null) return false
      if (built.has(v)) return true
      let n = NaN
      try {
        n = Number(v)
      } catch {
        // not coercible: fine
      }
      if (!Number.isNaN(n) && !pidValueSafe(n, depth + 1)) return false
      if (depth > 0) return true
      const d = Object.getOwnPropertyDescriptor(v, 'pid')
      if (!d || !('value' in d)) return true
      if (pidValueSafe(d.value, depth + 1)) return true
      // A recorded identity of our reaped child still verifies its start time first.
      const st = Object.getOwnPropertyDescriptor(v, 'startTime')
      return d.value === reaped.pid && st !== undefined && st.value === reaped.identity.startTime
    }
  }
}
function terminateTargetSafe(v) {
  if (built.has(v)) return true
  if (v instanceof sole.ProcessHandle) return signalGuard(v, { real: true }, 'SIGKILL') === null
  return pidValueSafe(v, 0)
}

// ---------------------------------------------------------------------------------------------
// Calls

const API = {
  tryLock: (a) => sole.tryLock(...a),
  lockSync: (a) => sole.lockSync(...a),
  lock: (a) => sole.lock(...a),
  openLockFile: (a) => sole.openLockFile(...a),
  claimPidfile: (a) => sole.claimPidfile(...a),
  claimPidfileWhenFree: (a) => sole.claimPidfileWhenFree(...a),
  readPidfile: (a) => sole.readPidfile(...a),
  daemonLockPath: (a) => sole.daemonLockPath(...a),
  acquireDaemonLock: (a) => sole.acquireDaemonLock(...a),
  readLockPid: (a) => sole.readLockPid(...a),
  readFencingToken: (a) => sole.readFencingToken(...a),
  lockHolders: (a) => sole.lockHolders(...a),
  spawnDaemon: (a) => sole.spawnDaemon(...a),
  notify: (a) => sole.notify(...a),
  daemonReady: (a) => sole.daemonReady(...a),
  watchdogIntervalMs: (a) => sole.watchdogIntervalMs(...a),
  daemonStatus: (a) => sole.daemonStatus(...a),
  stopDaemon: (a) => sole.stopDaemon(...a),
  requestSingleInstanceSync: (a) => sole.requestSingleInstanceSync(...a),
  requestSingleInstance: (a) => sole.requestSingleInstance(...a),
  'new SingleInstance': (a) => new sole.SingleInstance(...a),
  isAlive: (a) => sole.isAlive(...a),
  pidAlive: (a) => sole.pidAlive(...a),
  processIdentity: (a) => sole.processIdentity(...a),
  verifyProcess: (a) => sole.verifyProcess(...a),
  'ProcessHandle.open': (a) => sole.ProcessHandle.open(...a),
  terminateGracefully: (a) => sole.terminateGracefully(...a),
  'ScopeRegistry.open': (a) => sole.ScopeRegistry.open(...a),
  'ScopeRegistry.repair': (a) => sole.ScopeRegistry.repair(...a),
  rulesOverlap: (a) => sole.rulesOverlap(...a),
  coversFully: (a) => sole.coversFully(...a),
  parseIdentityRecord: (a) => sole.parseIdentityRecord(...a),
  formatIdentityRecord: (a) => sole.formatIdentityRecord(...a),
  'new LockFile': (a) => new sole.LockFile(...a),
  'new Pidfile': (a) => new sole.Pidfile(...a),
  'new ProcessHandle': (a) => new sole.ProcessHandle(...a),
  'ProcessHandle.fromNative': (a) => sole.ProcessHandle.fromNative(...a),
  'new ScopeRegistry': (a) => new sole.ScopeRegistry(...a),
}
/** APIs whose first argument is a path sole may create, open or rename. */
const PATH_APIS = new Set(['tryLock', 'lockSync', 'lock', 'openLockFile', 'claimPidfile', 'claimPidfileWhenFree', 'readPidfile', 'acquireDaemonLock', 'readLockPid', 'readFencingToken', 'lockHolders', 'ScopeRegistry.open', 'ScopeRegistry.repair', 'daemonStatus', 'stopDaemon'])
/** The path options of spawnDaemon (and `dir` of the single-instance calls): each must name something inside the test directory. */
const SPAWN_PATHS = ['pidfile', 'stdout', 'stderr']
function spawnPathsSafe(o, keys = SPAWN_PATHS) {
  if (o === null || typeof o !== 'object' || built.has(o)) return true
  return keys.every((k) => {
    const d = Object.getOwnPropertyDescriptor(o, k)
    return !d || !('value' in d) || d.value === undefined || d.value === null || pathSafe(d.value)
  })
}
const INTERNAL = new Set(['new LockFile', 'new Pidfile', 'new ProcessHandle', 'ProcessHandle.fromNative', 'new ScopeRegistry', 'new SingleInstance'])
const RESULT = {
  tryLock: 'Lock', lockSync: 'Lock', lock: 'Lock', openLockFile: 'LockFile', claimPidfile: 'Pidfile',
  claimPidfileWhenFree: 'Pidfile', acquireDaemonLock: 'Pidfile', readPidfile: 'PidfileState', verifyProcess: 'ProcessHandle',
  'ProcessHandle.open': 'ProcessHandle', 'ScopeRegistry.open': 'ScopeRegistry', 'new LockFile': 'LockFile',
  'new Pidfile': 'Pidfile', 'new ProcessHandle': 'ProcessHandle', 'ProcessHandle.fromNative': 'ProcessHandle', 'new ScopeRegistry': 'ScopeRegistry',
  requestSingleInstanceSync: 'SingleInstance', requestSingleInstance: 'SingleInstance', 'new SingleInstance': 'SingleInstance',
}
const STEP_RESULT = {
  LockFile: { tryLock: 'Lock', lockSync: 'Lock', lock: 'Lock' },
  PidfileState: { openHandle: 'ProcessHandle', handle: 'ProcessHandle' },
  ScopeRegistry: { installTopLevel: 'ScopeGuard', adoptAllocation: 'ScopeGuard' },
}
const GETTERS = {
  Lock: ['path', 'shared', 'released'],
  LockFile: ['path', 'closed'],
  Pidfile: ['path', 'pid', 'released'],
  PidfileState: ['state', 'pid', 'locked', 'identity', 'stalePid', 'reason', 'handle'],
  ProcessHandle: ['pid', 'startTime', 'kind', 'closed'],
  ScopeRegistry: ['path'],
  ScopeGuard: ['name', 'released'],
  SingleInstance: ['name', 'primary', 'primaryPid', 'reply', 'lockPath', 'socketPath'],
}
const CLEANUP = { Lock: 'release', LockFile: 'close', Pidfile: 'release', ProcessHandle: 'close', ScopeRegistry: 'close', ScopeGuard: 'release', SingleInstance: 'release' }
const SIGNALLING = { signal: null, terminate: 'SIGTERM', kill: 'SIGKILL' }

function typeDesc(v) {
  if (v === null) return 'null'
  if (typeof v !== 'object' && typeof v !== 'function') return typeof v
  try {
    return v.constructor?.name || 'object'
  } catch {
    return 'object'
  }
}
const okOutcome = (v) => ({ k: 'ok', t: typeDesc(v), granted: v !== null && typeof v === 'object' })
function throwOutcome(e, how) {
  if (e === SENTINEL) return { k: 'throw', how, sentinel: true }
  const err = { type: typeof e, isError: false }
  if (built.has(e)) return { k: 'throw', how, sentinel: false, err: { ...err, value: "one of the fuzz test's own proxies" } }
  try {
    err.isError = e instanceof Error
  } catch {
    // a hostile object: not an Error
  }
  try {
    err.ctor = e?.constructor?.name
  } catch {
    // idem
  }
  try {
    const c = e?.code
    err.code = typeof c === 'string' || c === undefined ? c : `<${typeof c}: ${String(c)}>`
  } catch {
    // idem
  }
  try {
    err.message = String(e?.message ?? '').slice(0, 400)
  } catch {
    err.message = ''
  }
  try {
    if (typeof e?.argument === 'string') err.argument = e.argument
    err.wrapsSentinel = e?.cause === SENTINEL || err.message.includes('FUZZ-SENTINEL')
  } catch {
    // idem
  }
  if (typeof e !== 'object' && typeof e !== 'function') {
    try {
      err.value = String(e).slice(0, 80)
    } catch {
      err.value = typeof e
    }
  }
  return { k: 'throw', how, sentinel: false, err }
}

/** Run one call or method; report its outcome (awaiting a returned promise). */
async function perform(sp, label, fn) {
  rec({ r: 'step', i: ctx.i, sp, label })
  beat({ i: ctx.i, sp })
  ctx.sp = sp
  ctx.label = label
  let how = 'sync'
  let o
  let value
  try {
    value = fn()
    if (value instanceof Promise) {
      how = 'async'
      value = await value
    }
    o = okOutcome(value)
  } catch (e) {
    o = throwOutcome(e, how)
  }
  rec({ r: 'out', i: ctx.i, sp, label, o })
  return { o, value }
}
/** A synchronous preparation call (opening a handle to pass on): reported like a step. */
function prepStep(label, fn) {
  const sp = `p${ctx.prep++}`
  rec({ r: 'step', i: ctx.i, sp, label })
  let o
  let value
  try {
    value = fn()
    o = okOutcome(value)
  } catch (e) {
    o = throwOutcome(e, 'sync')
  }
  rec({ r: 'out', i: ctx.i, sp, label, o })
  return { o, value }
}

function track(obj, kind, meta = { real: true }) {
  if (meta.real && CLEANUP[kind]) ctx.tracked.push([obj, kind])
}

async function explore(obj, kind, sp, meta) {
  for (const g of GETTERS[kind]) {
    const { o, value } = await perform(`${sp}.${g}`, `${kind}.${g}`, () => obj[g])
    if (kind === 'PidfileState' && g === 'handle' && o.k === 'ok' && value && typeof value === 'object') track(value, 'ProcessHandle', meta)
  }
}

async function runSteps(obj, kind, steps, prefix, meta) {
  for (let j = 0; j < (steps?.length ?? 0); j++) {
    const s = steps[j]
    const sp = `${prefix}.${j}`
    const label = `${kind}.${s.m}`
    const args = s.args.map(mat)
    if (kind === 'ProcessHandle' && s.m in SIGNALLING) {
      const why = signalGuard(obj, meta, SIGNALLING[s.m] ?? args[0])
      if (why) {
        rec({ r: 'skip', i: ctx.i, sp, label, why })
        continue
      }
      // Whatever it was sent, the holder is replaced after this call: the next call must
      // never meet a holder that is dying (its locks already gone).
      if (meta.real && holder && obj.pid === holder.pid) ctx.signalledHolder = true
    }
    if (kind === 'PidfileState' && s.m === 'openHandle' && typeof obj.openHandle !== 'function') {
      rec({ r: 'skip', i: ctx.i, sp, label, why: `no openHandle() on a '${String(obj.state)}' state` })
      continue
    }
    const fn = s.m === 'dispose' ? () => obj[Symbol.dispose]() : s.m === 'handle' ? () => obj.handle : s.m === 'lost' ? () => obj.lost : () => obj[s.m](...args)
    const { o, value } = await perform(sp, label, fn)
    const sub = STEP_RESULT[kind]?.[s.m]
    if (sub && o.k === 'ok' && value !== null && typeof value === 'object') {
      track(value, sub, meta)
      await explore(value, sub, sp, meta)
      await runSteps(value, sub, s.steps, sp, meta)
    }
  }
}

async function runCall(call, i) {
  rec({ r: 'prep', i })
  ctx = { i, sp: '', prep: 0, tracked: [], timers: [], live: await liveProc(), dying: undefined }
  await ensureHolder()
  restoreFixtures()
  if (contains(call, (x) => x.$ === 'proc' && x.k === 'dying')) ctx.dying = await spawnSleep(0.3)
  if (contains(call, (x) => x.$ === 'path' && x.k === 'releasedSoon')) {
    const c = spawn('flock', ['-x', fx(`soon-${i}.lock`), 'sh', '-c', 'echo locked; exec sleep 0.15'], { stdio: ['ignore', 'pipe', 'inherit'] })
    others.push(c)
    await firstLine(c)
  }
  rec({ r: 'call', i })
  beat({ i })
  const meta = { real: !INTERNAL.has(call.api) }
  try {
    const args = call.args.map(mat)
    if (PATH_APIS.has(call.api) && !pathSafe(args[0])) {
      rec({ r: 'skip', i, sp: '', label: call.api, why: 'the path could name something outside the test directory' })
    } else if ((call.api === 'requestSingleInstanceSync' || call.api === 'requestSingleInstance') && !spawnPathsSafe(args[1], ['dir'])) {
      rec({ r: 'skip', i, sp: '', label: call.api, why: 'the dir option could name something outside the test directory' })
    } else if (call.api === 'spawnDaemon' && !spawnPathsSafe(args[0])) {
      rec({ r: 'skip', i, sp: '', label: call.api, why: 'a file option could name something outside the test directory' })
    } else if (call.api === 'terminateGracefully' && !terminateTargetSafe(args[0])) {
      rec({ r: 'skip', i, sp: '', label: call.api, why: "the target is not one of the runner's children" })
    } else {
      const { o, value } = await perform('', call.api, () => API[call.api](args))
      const kind = RESULT[call.api]
      if (kind && o.k === 'ok' && value !== null && typeof value === 'object') {
        track(value, kind, meta)
        await explore(value, kind, 'r', meta)
        await runSteps(value, kind, call.steps, 'r', meta)
      }
    }
  } finally {
    let n = 0
    for (const [obj, kind] of ctx.tracked.reverse()) {
      await perform(`c${n++}`, `cleanup ${kind}.${CLEANUP[kind]}()`, () => obj[CLEANUP[kind]]())
    }
    // Everything the call obtained is released: every wait it started must end now, and a
    // rejection nobody handles must surface while this call is still the current one.
    const deadline = Date.now() + LEAK_MS
    while (waitThreads().length > 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r))
    const left = waitThreads()
    if (left.length) rec({ r: 'leak', i, msg: `${left.length} wait thread(s) (${left.join(', ')}) still running after the call ended and released everything it obtained` })
    // (A wait's rejection arrives from its thread through the event loop: give it a few turns.)
    for (let k = 0; k < 10; k++) await new Promise((r) => setImmediate(r))
    await new Promise((r) => setTimeout(r, 0))
    for (const t of ctx.timers) clearTimeout(t)
    if (ctx.signalledHolder && alive(holder.child)) {
      const gone = new Promise((r) => holder.child.once('exit', r))
      holder.child.kill('SIGKILL')
      await gone
    }
    const canary = checkCanary()
    if (canary) rec({ r: 'canary', i, msg: canary })
    rec({ r: 'end', i })
  }
}

/** This process's threads that wait for sole (a lock, a pidfile claim, a process exit). */
function waitThreads() {
  const names = []
  for (const id of fs.readdirSync('/proc/self/task')) {
    try {
      const n = fs.readFileSync(`/proc/self/task/${id}/comm`, 'utf8').trim()
      if (n === 'sole-lock-wait' || n.startsWith('sole-exit-') || n === 'sole-daemon-sta' || n.startsWith('sole-instance')) names.push(n)
    } catch {
      // the thread ended meanwhile
    }
  }
  return names
}
/** How long the waits a call started may take to end once it released everything. */
const LEAK_MS = 5_000

process.on('unhandledRejection', (reason) => {
  rec({ r: 'unhandled', i: ctx?.i, sp: ctx?.sp, label: ctx?.label, o: throwOutcome(reason, 'unhandled rejection') })
})
let ready = false
process.on('uncaughtException', (err) => {
  rec({ r: 'uncaught', i: ctx?.i, sp: ctx?.sp, label: ctx?.label, o: throwOutcome(err, 'uncaught exception') })
  if (!ready) {
    fs.writeSync(2, `fuzz runner: setup failed: ${err?.stack ?? err}\n`)
    finish(70)
  }
})

function finish(code) {
  for (const c of children.values()) if (alive(c)) c.kill('SIGKILL')
  for (const c of others) if (alive(c)) c.kill('SIGKILL')
  for (const fn of cleanups) {
    try {
      fn()
    } catch {
      // best effort: the driver kills the whole process group afterwards
    }
  }
  process.exit(code)
}

try {
  process.chdir(CWD)
} catch {
  // created by setup
}
await setup()
process.chdir(CWD)
ready = true
rec({ r: 'ready', pid: process.pid })
beat({ ready: true })
try {
  for (let i = START_AT; i < calls.length; i++) await runCall(calls[i], i)
} catch (err) {
  // A bug of this runner, not of sole: say so, and stop.
  rec({ r: 'fatal', i: ctx?.i, msg: String(err?.stack ?? err).slice(0, 2000) })
  finish(70)
}
rec({ r: 'done' })
finish(0)
