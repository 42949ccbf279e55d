/**
 * sole: proven single-owner primitives for Node.js on one host.
 *
 * This file is the thin typed layer over the generated napi-rs binding (`../index.js`). It
 * adds only what napi-rs cannot express: `Symbol.dispose` on the native classes, AbortSignal
 * and timer handling for `lock()`, and a discriminated union for `readPidfile()`. All locking,
 * validation and error codes live in the Rust crates (`crates/lock`, `crates/pidfile`).
 */
import * as native from './native.js'

import { abortError, Code, type SoleError } from './errors.js'
import { field, invalidArgument, longTimer, signalOf, snapshot } from './wait.js'
import { ProcessHandle, type ProcessIdentity } from './procid.js'

export type { SoleError, SoleErrorCode } from './errors.js'
export type { Code } from './errors.js'
export * from './procid.js'
export * from './daemon.js'
export * from './spawn.js'
export * from './instance.js'

/** The options of the lock calls, declared in Rust (`src/lock.rs`) and generated. */
export type { LockOptions, LockSyncOptions, LockAsyncOptions } from '../index.js'
type LockOptions = native.LockOptions
type LockSyncOptions = native.LockSyncOptions
type LockAsyncOptions = native.LockAsyncOptions

/**
 * A held lock. It belongs to its open file description: a second `Lock` on the same file in
 * the same process is excluded like any other process. Keep a reference for as long as you
 * need the lock: a `Lock` from `tryLock`/`lock`/`lockSync` that is garbage-collected is
 * released. The file is never unlinked.
 */
export interface Lock extends Disposable {
  /** Absolute path of the lock file. */
  readonly path: string
  /** `true` for a shared lock. */
  readonly shared: boolean
  /** `true` once `release()` has run. */
  readonly released: boolean
  /**
   * The fencing token of this grant (with `fencing: true`): greater than every token any earlier
   * holder of the file got, across processes, crashes and reboots. `null` without fencing.
   */
  readonly token: bigint | null
  /** Release the lock: explicit unlock, then close. Idempotent. Never unlinks the file. */
  release(): void
  /**
   * Throw `ELOST` when the lock's file was deleted, renamed or replaced while held: the path
   * no longer names the locked file, so another process may hold a lock on a new file there.
   * Call it before writing what the lock protects. Does nothing once released.
   */
  check(): void
  /**
   * Aborts, with the `ELOST` error as its `reason`, soon after the lock's file is deleted,
   * renamed or replaced by anyone (inotify on one watcher thread). The first access starts
   * the watch (or `{ watch: true }` at grant). Never aborts after `release()`.
   */
  readonly lost: AbortSignal
}

/** A claimed pidfile: the claim lasts until `release()` (or dispose, or process exit). */
export type Pidfile = native.NativePidfile & Disposable
/**
 * The `Pidfile` class, for `instanceof` checks only: claims come from `claimPidfile()`,
 * `claimPidfileWhenFree()` and `acquireDaemonLock()`; `new Pidfile()` throws `EINVAL`.
 */
export const Pidfile = function Pidfile(): never {
  throw invalidArgument('constructor', 'Pidfile objects are made by claimPidfile(path), claimPidfileWhenFree(path) or acquireDaemonLock(pathOrDir): call one of those.')
} as unknown as typeof native.NativePidfile
Object.defineProperty(Pidfile, Symbol.hasInstance, { value: (x: unknown) => x instanceof native.NativePidfile })

declare module '../index.js' {
  interface NativeLock {
    /** Same as `release()`: `using lock = tryLock(p)` releases at the end of the block. */
    [Symbol.dispose](): void
    /** See {@link Lock.lost}. */
    readonly lost: AbortSignal
  }
  interface NativePidfile {
    /** Same as `release()`. */
    [Symbol.dispose](): void
    /**
     * Aborts, with the `ELOST` error as its `reason`, soon after the pidfile is deleted,
     * renamed or replaced while claimed. The first access starts the watch (or
     * `{ watch: true }`). Never aborts after `release()`.
     */
    readonly lost: AbortSignal
  }
}

/** One AbortController per watched lock or claim, made on first access of `lost`. */
const lostControllers = new WeakMap<object, AbortController>()

interface Watchable {
  readonly released: boolean
  check(): void
}

/**
 * The `lost` signal of `owner`: on first access, ask the native watcher (`watch`) to call
 * back when the file stops being the locked one; the callback asks `check()` for the `ELOST`
 * error and aborts with it. The callback never throws (loss is reported, never thrown from a
 * callback), holds the owner only weakly (a forgotten Lock is still released by GC), and does
 * nothing once the owner was released.
 */
function lostSignal<T extends Watchable>(owner: T, watch: (onLost: () => void) => void): AbortSignal {
  const known = lostControllers.get(owner)
  if (known) return known.signal
  const ctl = new AbortController()
  const ref = new WeakRef(owner)
  const onLost = (): void => {
    try {
      const o = ref.deref()
      if (!o || ctl.signal.aborted || o.released) return
      o.check()
    } catch (err) {
      ctl.abort(err)
    }
  }
  if (!owner.released) watch(onLost)
  lostControllers.set(owner, ctl)
  return ctl.signal
}

Object.defineProperty(native.NativeLock.prototype, 'lost', {
  configurable: true,
  get(this: native.NativeLock): AbortSignal {
    return lostSignal(this, (cb) => this.watch(cb))
  },
})
Object.defineProperty(native.NativePidfile.prototype, 'lost', {
  configurable: true,
  get(this: native.NativePidfile): AbortSignal {
    return lostSignal(this, (cb) => this.watch(cb))
  },
})

/** A claim from the native side, watched at once when it asked for `{ watch: true }`. */
function claimed(p: native.NativePidfile): Pidfile {
  if (p.watchAsked) void p.lost
  return p as Pidfile
}

native.NativeLock.prototype[Symbol.dispose] = function (this: native.NativeLock) {
  this.release()
}
native.NativePidfile.prototype[Symbol.dispose] = function (this: native.NativePidfile) {
  this.release()
}

/**
 * Locks are the one thing sole releases on garbage collection, as Node's `FileHandle` closes
 * on GC: a forgotten `Lock` that stayed held forever would block every other process with no
 * sign of why. It is never silent: a warning (`SOLE_LOCK_GC`) names the path, like
 * FileHandle's. Pidfile claims, daemon locks and scope guards are never released by GC.
 */
const collected = new FinalizationRegistry<{ path: string; what: string; out?: { held: boolean } }>((info) => {
  if (info.out && !info.out.held) return
  process.emitWarning(
    `${info.what} on ${info.path} was garbage-collected without release(), so its lock was released by the garbage collector. Keep a reference for as long as you need the lock, and call release() (or use \`using\`).`,
    { type: 'SoleWarning', code: 'SOLE_LOCK_GC' },
  )
})

const nativeRelease = native.NativeLock.prototype.release
native.NativeLock.prototype.release = function (this: native.NativeLock) {
  collected.unregister(this)
  nativeRelease.call(this)
}

/** A lock on a path: released by GC with a warning if the caller drops it. */
function tracked(l: native.NativeLock | null): Lock | null {
  if (l) collected.register(l, { path: l.path, what: 'A Lock' }, l)
  if (l?.watchAsked) void l.lost
  return l as Lock | null
}

const LOCK_KEYS = ['shared', 'mode', 'createDirs', 'allowNetworkFs', 'fencing', 'watch', 'timeoutMs', 'signal'] as const

/**
 * Take the lock now, or return `null` when another holder (another process, or another
 * handle in this one) has it. Every other failure throws a {@link SoleError}.
 */
export function tryLock(path: string, opts?: LockOptions): Lock | null {
  return tracked(native.tryLock(path, opts))
}

/**
 * Take the lock, waiting on the calling thread. For start-up code: it blocks the event loop.
 * Throws `EDEADLK` instead of hanging when this thread already holds a conflicting lock on
 * the same file, and `ETIMEDOUT` when `timeoutMs` runs out.
 */
export function lockSync(path: string, opts?: LockSyncOptions): Lock {
  return tracked(native.lockSync(path, opts)) as Lock
}

/**
 * The one implementation of an asynchronous lock request, for paths and handles alike: try at
 * once (no thread hop when uncontended; this also validates every option natively), else wait
 * on a native thread that the timer or the signal can cancel. `snap` is the caller's options,
 * read once.
 */
function acquire<T extends { release(): void }>(
  tryNow: () => T | null,
  wait: (w: native.LockWait) => Promise<T>,
  snap: unknown,
): Promise<T> {
  let pending: Promise<T>
  let w: native.LockWait
  let signal: AbortSignal | undefined
  let stopTimer: (() => void) | undefined
  const onAbort = (): void => w.cancel()
  try {
    signal = signalOf(snap)
    if (signal?.aborted) return Promise.reject(abortError(signal))
    const got = tryNow()
    if (got) return Promise.resolve(got)
    w = new native.LockWait()
    pending = wait(w)
  } catch (err) {
    return Promise.reject(err)
  }
  try {
    signal?.addEventListener('abort', onAbort, { once: true })
  } catch (err) {
    // A signal whose addEventListener throws: end the wait we started, then report.
    w.cancel()
    pending.catch(() => undefined)
    return Promise.reject(err)
  }
  const timeoutMs = field(snap, 'timeoutMs')
  // Validated natively by tryNow(): a number in 0..=Number.MAX_SAFE_INTEGER, or absent.
  if (typeof timeoutMs === 'number') stopTimer = longTimer(timeoutMs, () => w.timeOut())
  const cleanup = (): void => {
    stopTimer?.()
    try {
      signal?.removeEventListener('abort', onAbort)
    } catch {
      // The caller's signal object misbehaves; the wait is over either way.
    }
  }
  return pending.then(
    (l) => {
      cleanup()
      if (signal?.aborted) {
        // Granted in the same instant as the abort: an aborted call never returns a lock.
        l.release()
        throw abortError(signal)
      }
      return l
    },
    (err: SoleError) => {
      cleanup()
      if (err.code === Code.ECANCELED && signal?.aborted) throw abortError(signal)
      throw err
    },
  )
}

/**
 * Take the lock, waiting without blocking the event loop. An uncontended lock is taken at
 * once with no thread hop; a contended wait runs on a dedicated thread (never libuv's
 * threadpool) and wakes when the holder releases. Rejects with `ETIMEDOUT` after `timeoutMs`,
 * with `AbortError` when `signal` aborts.
 */
export function lock(path: string, opts?: LockAsyncOptions): Promise<Lock> {
  let snap: unknown
  try {
    snap = snapshot(opts, LOCK_KEYS)
  } catch (err) {
    return Promise.reject(err)
  }
  const nativeOpts = snap as native.LockSyncOptions | undefined
  return acquire(
    () => tracked(native.tryLock(path, nativeOpts)),
    (w) => native.lockAsync(path, nativeOpts, w).then((l) => tracked(l) as Lock),
    snap,
  )
}

/**
 * An open lock file, for code that takes the same lock many times: each `tryLock`/`lock`
 * costs one `flock`, with no open or close. One lock at a time per handle (a second request
 * while a lock is out throws `EBUSY`); two handles exclude each other like two processes.
 */
export class LockFile implements Disposable {
  readonly #h: native.NativeLockFile
  /** Whether a fast-path lock is out (read by the GC warning). */
  readonly #out = { held: false }
  /** The lock from the last contended `lock()`: `close()` ends it, so GC must not warn. */
  #waited: native.NativeLock | undefined
  /** @internal Use {@link openLockFile}. */
  constructor(h: native.NativeLockFile) {
    if (!(h instanceof native.NativeLockFile)) {
      throw invalidArgument('constructor', 'LockFile objects are made by openLockFile(path): call that instead of new LockFile().')
    }
    this.#h = h
    collected.register(this, { path: h.path, what: 'A LockFile holding a lock', out: this.#out }, this)
  }
  #held(shared: boolean): Lock {
    this.#out.held = true
    return new HandleLock(this.#h, shared, this.#out)
  }
  /** Absolute path of the lock file. */
  get path(): string {
    return this.#h.path
  }
  /** `true` once `close()` has run. */
  get closed(): boolean {
    return this.#h.closed
  }
  /** Take the lock now, or `null` when another holder has it. */
  tryLock(opts?: Pick<LockOptions, 'shared'>): Lock | null {
    const shared = this.#h.tryLockHeld(opts)
    return shared === null ? null : this.#held(shared)
  }
  /** Take the lock, waiting on the calling thread (see `lockSync`). */
  lockSync(opts?: Pick<LockSyncOptions, 'shared' | 'timeoutMs'>): Lock {
    return this.#held(this.#h.lockSyncHeld(opts))
  }
  /** Take the lock without blocking the event loop (see `lock`). */
  lock(opts?: Pick<LockAsyncOptions, 'shared' | 'timeoutMs' | 'signal'>): Promise<Lock> {
    let snap: unknown
    try {
      snap = snapshot(opts, ['shared', 'timeoutMs', 'signal'])
    } catch (err) {
      return Promise.reject(err)
    }
    const o = snap as { shared?: boolean; timeoutMs?: number } | undefined
    return acquire(
      () => {
        const shared = this.#h.tryLockHeld(o)
        return shared === null ? null : this.#held(shared)
      },
      (w) =>
        this.#h.lockAsync(o, w).then((l) => {
          this.#waited = l
          return tracked(l) as Lock
        }),
      snap,
    )
  }
  /**
   * Close the handle: the lock taken through it ends (however it was taken: `released` turns
   * `true`), a pending `lock()` on it rejects with `EBADF`, and the descriptor is closed.
   * Idempotent.
   */
  close(): void {
    collected.unregister(this)
    if (this.#waited) collected.unregister(this.#waited)
    this.#waited = undefined
    this.#out.held = false
    this.#h.close()
  }
  [Symbol.dispose](): void {
    this.close()
  }
}

/**
 * A lock granted on a {@link LockFile}'s fast path: a plain object (no native allocation per
 * cycle). The lock itself is kept in the handle; `release()` works once, so a stale `Lock`
 * from an earlier cycle can never release a later one. It ends with its handle's `close()`.
 */
class HandleLock implements Lock {
  readonly #h: native.NativeLockFile
  readonly #out: { held: boolean }
  #released = false
  readonly shared: boolean
  readonly token: bigint | null
  constructor(h: native.NativeLockFile, shared: boolean, out: { held: boolean }) {
    this.#h = h
    this.#out = out
    this.shared = shared
    this.token = h.heldToken ?? null
  }
  get path(): string {
    return this.#h.path
  }
  get released(): boolean {
    return this.#released || this.#h.closed
  }
  release(): void {
    if (this.#released) return
    this.#released = true
    this.#out.held = false
    this.#h.releaseHeld()
  }
  check(): void {
    if (!this.released) this.#h.checkHeld()
  }
  get lost(): AbortSignal {
    return lostSignal(this, (cb) => this.#h.watchHeld(cb))
  }
  [Symbol.dispose](): void {
    this.release()
  }
}

/** Open (creating if needed) a lock file for repeated locking; see {@link LockFile}. */
export function openLockFile(path: string, opts?: Omit<LockOptions, 'shared'>): LockFile {
  return new LockFile(native.openLockFile(path, opts))
}

/** Options for `claimPidfile` and `acquireDaemonLock`. */
export interface PidfileOptions {
  /** Permission bits of a newly created pidfile. Default `0o600`. */
  mode?: number
  /** Create missing parent directories (mode `0o700`). Default `false`. */
  createDirs?: boolean
  /**
   * Claim a pidfile on a network filesystem (NFS, SMB/CIFS, FUSE, 9p, …) too, where `flock` may
   * not be a lock every process sees. Default `false`: such a file is refused with `EREMOTEFS`.
   */
  allowNetworkFs?: boolean
  /**
   * `claimPidfile`/`claimPidfileWhenFree`: hand out a fencing token with the claim
   * (`pidfile.token`), kept in the file's `user.sole.fence` xattr (the content stays `PID\n`)
   * and fsynced before the claim returns. Default `false`. See README, Integrity.
   */
  fencing?: boolean
  /**
   * Watch the claim for loss from the start (`pidfile.lost`, `ELOST`). Default `false`:
   * watched on first access of `pidfile.lost`.
   */
  watch?: boolean
}

/**
 * Claim `path` for this process: an exclusive flock held while the returned guard lives, and
 * `PID\n` written and fsynced. Throws `EHELD` ("already running as PID N (pidfile: PATH)")
 * with `err.pid` when a live process holds it. The file is never unlinked.
 */
export function claimPidfile(path: string, opts?: PidfileOptions): Pidfile {
  return claimed(native.claimPidfile(path, opts))
}

/** Options for `claimPidfileWhenFree`. */
export interface PidfileWaitOptions extends PidfileOptions {
  /** Give up with `ETIMEDOUT` after this many milliseconds. Default: wait forever. */
  timeoutMs?: number
  /** Abort the wait; the promise rejects with `AbortError` (`code: 'ABORT_ERR'`). */
  signal?: AbortSignal
}

/**
 * Claim `path`, waiting while another process holds it: resolves the instant the holder
 * releases or dies (the kernel wakes the waiter; no polling, no stale timeout). The takeover
 * path for a standby instance. Free now → claimed at once with no thread hop.
 */
export function claimPidfileWhenFree(path: string, opts?: PidfileWaitOptions): Promise<Pidfile> {
  let snap: unknown
  try {
    snap = snapshot(opts, ['mode', 'createDirs', 'allowNetworkFs', 'fencing', 'watch', 'timeoutMs', 'signal'])
  } catch (err) {
    return Promise.reject(err)
  }
  const o = snap as native.PidfileOptions | undefined
  return acquire(
    () => {
      try {
        return claimed(native.claimPidfile(path, o))
      } catch (err) {
        // Held, or held by a holder we cannot name: either way, wait for the kernel to free it.
        const code = (err as SoleError).code
        if (code === Code.EHELD || code === Code.EUNKNOWNHOLDER) return null
        throw err
      }
    },
    (w) => native.claimPidfileAsync(path, o, w).then(claimed),
    snap,
  )
}

/** Why a free pidfile's `stalePid` is not its owner. */
export type StaleReason = 'exited' | 'pid-reused' | 'previous-boot' | 'not-locked'

/** What `readPidfile` found. */
/**
 * `networkFs`: present only when the pidfile is on a network filesystem (`'NFS'`, `'FUSE'`,
 * `'CIFS'`, …), where `flock` may not be a lock every process sees: a `held` or `free` answer
 * there is only as good as that filesystem's locks (claims there are refused with `EREMOTEFS`
 * unless `allowNetworkFs`).
 */
export interface PidfileLocation {
  networkFs?: string
}

export type PidfileState =
  | { state: 'absent' }
  /**
   * Nobody owns the file. `stalePid`: the pid it still names, if any; `reason`: why that pid
   * is not the owner (`'exited'`: no such process; `'pid-reused'`: a process has the pid but
   * started at another time than recorded; `'previous-boot'`: recorded before the last boot;
   * `'not-locked'`: sole wrote it and no lock is held, whoever has the pid now).
   */
  | ({ state: 'free'; stalePid?: number; reason?: StaleReason } & PidfileLocation)
  /**
   * A live process owns the file. `locked: true`: the kernel reports it holding the lock
   * (sole's claims). `locked: false`: a pidfile written without a lock whose identity record
   * matched the live process. `identity` was read while ownership was confirmed;
   * `openHandle()` opens a {@link ProcessHandle} and verifies that identity on it, so it
   * either reaches the owner or throws (`ENOTFOUND`, `ESTARTTIME`): it can never signal a
   * process that reused the pid.
   */
  | ({
      state: 'held'
      pid: number
      locked: boolean
      identity?: ProcessIdentity
      openHandle(): ProcessHandle
      /**
       * With `{ handle: true }` and a file held under the lock: a handle on the holder opened
       * *before* the holder was confirmed, so it is bound to the process that held the claim.
       * Yours to close.
       */
      handle?: ProcessHandle
    } & PidfileLocation)
  /**
   * A plain pidfile (no lock, no identity record: another tool's) naming a live pid. Nothing
   * proves that this process wrote it: the pid may have been reused.
   */
  | ({ state: 'unverified'; pid: number } & PidfileLocation)

/**
 * Inspect a pidfile without blocking, locking or modifying it. A `held` pid is the process the
 * kernel reports as holding the lock, checked alive: never a dead process, never a pid left
 * in the file by a previous owner. `stalePid` is the pid a free file still names, if any.
 * `{ handle: true }`: a held (locked) answer also carries `handle`, a {@link ProcessHandle}
 * opened before the holder was confirmed ("signal the daemon in this pidfile" without a reuse
 * window); close it when done.
 */
export function readPidfile(path: string, opts?: { handle?: boolean }): PidfileState {
  const r = native.readPidfile(path, opts)
  const state = pidfileState(r.state)
  const h = r.takeHandle()
  if (h && state.state === 'held') state.handle = ProcessHandle.fromNative(h)
  else h?.close()
  return state
}

function pidfileState(s: native.NativePidfileState): PidfileState {
  const where: PidfileLocation = typeof s.networkFs === 'string' ? { networkFs: s.networkFs } : {}
  if (s.state === 'held') {
    const pid = s.pid as number
    const identity = s.identity ?? undefined
    return {
      state: 'held',
      pid,
      locked: s.locked === true,
      ...(identity ? { identity } : {}),
      openHandle: () => ProcessHandle.open(identity ?? pid),
      ...where,
    }
  }
  if (s.state === 'unverified') return { state: 'unverified', pid: s.pid as number, ...where }
  if (s.state === 'free') {
    const out: { state: 'free'; stalePid?: number; reason?: StaleReason } & PidfileLocation = { state: 'free' }
    if (typeof s.stalePid === 'number') out.stalePid = s.stalePid
    if (typeof s.reason === 'string') out.reason = s.reason as StaleReason
    return { ...out, ...where }
  }
  return { state: 'absent' }
}

/** `dir/daemon.lock` (absolute). */
export function daemonLockPath(dir: string): string {
  return native.daemonLockPath(dir)
}

/**
 * Claim the daemon lock: `pathOrDir` is the lock file, or a directory that gets
 * `daemon.lock`. Same mechanism and guarantees as `claimPidfile`; the refusal reads
 * "already running as PID N (lock file: PATH)".
 */
export function acquireDaemonLock(pathOrDir: string, opts?: PidfileOptions): Pidfile {
  return claimed(native.acquireDaemonLock(pathOrDir, opts))
}

/**
 * The pid recorded in a lock file, without judging whether anyone holds it: missing, empty
 * or garbage → `null`; other I/O failures (permissions, symlink, directory) throw.
 */
export function readLockPid(path: string): number | null {
  return native.readLockPid(path)
}

/**
 * The last fencing token handed out for `path` (by a lock or claim with `fencing: true`), read
 * without locking, writing or following a symlink: `0n` when the file was never fenced (or is on
 * a filesystem without user xattrs), `null` when it does not exist.
 */
export function readFencingToken(path: string): bigint | null {
  return native.readFencingToken(path) ?? null
}


export * from './scope.js'

/** What {@link lockHolders} answers (declared in `src/lock.rs`). */
export type { LockHolder, LockHolders } from '../index.js'

/**
 * Every live process holding a flock on `path`, shared holders included, from the kernel's
 * lock list (`/proc/locks`): never locks, writes or follows a symlink (`ESYMLINK`; a directory
 * or other non-regular file is `ENOTREG`). `null` when the file does not exist. Each pid once;
 * a dead or exiting process is never listed (a lock whose locker exited while a child keeps
 * the descriptor is counted in `unnamed`). `identityRecord`: the file's `user.sole.identity`
 * attribute, or `null`. A holder outside this pid namespace is not visible here (use
 * `readPidfile`, which says so). What `sole status` shows for shared locks.
 */
export function lockHolders(path: string): native.LockHolders | null {
  return native.lockHolders(path)
}
