/**
 * Process identity, liveness and process handles: the typed layer over `src/procid.rs`
 * (`crates/procid` does the work). Adds `Symbol.dispose`, AbortSignal for `waitForExit`, and
 * `terminateGracefully`.
 */
import * as native from '../index.js'
import { abortError, type SoleError } from './errors.js'

/**
 * Is `pid` a live process? `0`, negatives, non-integers, NaN and values above 2^31-1 are never
 * alive (no syscall is made); a value that is not a number throws `EINVALIDPID`; a process of
 * another user (EPERM) is alive; a zombie is not.
 * One syscall for a live pid (`move_pages`; a pid found alive twice in a row gets a cached
 * pidfd, at most 32, and is then checked with one `poll`). Use it for display only:
 * ownership comes from the lock, and identity from {@link processIdentity}.
 */
export const isAlive: (pid: number) => boolean = native.isAlive

/**
 * Same as {@link isAlive}, except that a non-integer throws `EINVALIDPID` (kept from 0.1).
 */
export function pidAlive(pid: number): boolean {
  return native.pidAlive(pid)
}

/**
 * The identity of a process: `startTime` (clock ticks since boot, `/proc/PID/stat` field 22)
 * and `bootId` together name one process for the life of the machine, across pid reuse.
 * `exePath` is `null` when unreadable (another user's process without privilege).
 */
export type ProcessIdentity = native.ProcessIdentity

/** A recorded identity to check; only the fields given are compared. */
export interface ExpectedIdentity {
  pid: number
  startTime?: number
  bootId?: string
  /** Compared after canonicalisation (symlinks resolved); `null` or absent: not checked. */
  exePath?: string | null
  /** Lowercase or uppercase hex SHA-256 of the executable. */
  exeSha256?: string
}

/**
 * Read the identity of the live process `pid` from the kernel. All fields come from the same
 * process even if the pid is reused meanwhile (they are read through one `/proc/PID` fd).
 * `{ exeSha256: true }` adds the executable's SHA-256, cached by (device, inode, size, mtime):
 * checking the same binary twice hashes it once. Throws `EINVALIDPID` for anything that is
 * not an integer pid in 1..2^31-1, `ENOTFOUND` when no live process has the pid.
 */
export function processIdentity(pid: number, opts?: { exeSha256?: boolean }): ProcessIdentity {
  return native.processIdentity(pid, opts)
}

/** `waitForExit` options. */
export interface WaitForExitOptions {
  /** Reject with `ETIMEDOUT` if the process still runs after this many milliseconds. */
  timeoutMs?: number
  /** Abort the wait: rejects with `AbortError` (`code: 'ABORT_ERR'`). */
  signal?: AbortSignal
}

/**
 * A handle on one process. On Linux it is a pidfd (`kind === 'pidfd'`): signals go through it
 * (`pidfd_send_signal`) and reach this process or fail with `ENOTFOUND`, never a process that
 * reused the pid; `waitForExit` is woken by the kernel when the process exits (no polling, no
 * libuv threadpool thread). Where the kernel has no pidfd (Linux < 5.3, or a seccomp filter
 * refusing it), `kind === 'pid+starttime'`: the start time is re-checked before each signal,
 * which leaves a window of microseconds between check and `kill`, and `waitForExit` looks every
 * 10 ms. Close it with `close()` or `using`.
 */
export class ProcessHandle implements Disposable {
  readonly #h: native.NativeProcessHandle

  private constructor(h: native.NativeProcessHandle) {
    this.#h = h
  }

  /** @internal */
  static fromNative(h: native.NativeProcessHandle): ProcessHandle {
    return new ProcessHandle(h)
  }

  /**
   * Open a handle on a live process. Given a pid: `ENOTFOUND` when none has it. Given an
   * identity: the pidfd is opened first and the identity verified on the process it is bound
   * to (as {@link verifyProcess}), closing the reuse window between check and open.
   */
  static open(target: number | ExpectedIdentity): ProcessHandle {
    if (typeof target !== 'object' || target === null) return new ProcessHandle(native.NativeProcessHandle.open(target))
    return new ProcessHandle(native.NativeProcessHandle.openIdentity(identityArg(target)))
  }

  get pid(): number {
    return this.#h.pid
  }
  /** Start time (clock ticks since boot) of the process the handle is bound to. */
  get startTime(): number {
    return this.#h.startTime
  }
  get kind(): 'pidfd' | 'pid+starttime' {
    return this.#h.kind
  }
  get closed(): boolean {
    return this.#h.closed
  }
  /** `false` once the process has exited (or the handle is closed). */
  isAlive(): boolean {
    return this.#h.isAlive()
  }
  /**
   * Send a signal by name (`'SIGTERM'`) or number. `ENOTFOUND` when the process has exited
   * (nothing is sent), `EPERM` for another user's process, `EBADF` on a closed handle.
   */
  signal(sig: NodeJS.Signals | number): void {
    if (typeof sig !== 'string' && typeof sig !== 'number') {
      throw invalidArgument(`a signal is a name such as 'SIGTERM' or a number, got ${typeof sig} (process ${this.#h.pid}).`, this.#h.pid)
    }
    this.#h.signal(sig)
  }
  /** `signal('SIGTERM')`. */
  terminate(): void {
    this.#h.signal('SIGTERM')
  }
  /** `signal('SIGKILL')`. */
  kill(): void {
    this.#h.signal('SIGKILL')
  }
  /**
   * Resolve when the process exits (at once if it already has). Rejects with `ETIMEDOUT`
   * after `timeoutMs`, `AbortError` on `signal`, `EBADF` if the handle is closed meanwhile.
   */
  waitForExit(opts: WaitForExitOptions = {}): Promise<void> {
    const { timeoutMs, signal } = opts
    if (signal?.aborted) return Promise.reject(abortError(signal))
    if (!this.#h.isAlive() && !this.#h.closed) return Promise.resolve()
    const wait = new native.ExitWait()
    const p = this.#h.waitForExit(timeoutMs, wait)
    if (!signal) return p.then(() => undefined)
    const onAbort = () => wait.cancel()
    signal.addEventListener('abort', onAbort, { once: true })
    return p.then(
      () => {
        signal.removeEventListener('abort', onAbort)
      },
      (err: SoleError) => {
        signal.removeEventListener('abort', onAbort)
        throw err.code === 'ECANCELED' ? abortError(signal) : err
      },
    )
  }
  /** Close the pidfd. Pending waits reject with `EBADF`. Idempotent. */
  close(): void {
    this.#h.close()
  }
  [Symbol.dispose](): void {
    this.#h.close()
  }
}

/**
 * Verify a recorded identity against the process that has its pid now. Returns a
 * {@link ProcessHandle} bound to that process, or throws a {@link SoleError} whose `code` names
 * the first part that disagrees: `EINVALIDPID`, `ENOTFOUND`, `EBOOTID` (recorded in a previous
 * boot), `ESTARTTIME` (the pid was reused), `EEXEPATH`, `EEXEHASH`; the error carries
 * `expected` and `actual`. Only fields present in `expected` are checked.
 */
export function verifyProcess(expected: ExpectedIdentity): ProcessHandle {
  return ProcessHandle.fromNative(native.verifyProcess(identityArg(expected)))
}

/** A `SoleError` with code `EINVAL` for an argument of the wrong type. */
function invalidArgument(message: string, pid?: unknown): SoleError {
  const err = new Error(message) as SoleError
  err.code = 'EINVAL'
  if (typeof pid === 'number') err.pid = pid
  return err
}

/**
 * Reject a non-object or a `pid` that is not a pid with `EINVALIDPID` (decided natively), a
 * field of the wrong type with `EINVAL` (instead of napi's conversion error); a `null` field
 * (as `processIdentity` reports an unreadable exePath) means "not checked".
 */
function identityArg(e: unknown): native.ExpectedIdentity {
  if (typeof e !== 'object' || e === null) native.validatePid(e)
  const id = e as Record<string, unknown>
  native.validatePid(id.pid)
  const out: native.ExpectedIdentity = { pid: id.pid as number }
  const want = (key: keyof ExpectedIdentity, type: 'number' | 'string'): void => {
    const v = id[key]
    if (v === undefined || v === null) return
    if (typeof v !== type) {
      throw invalidArgument(`identity.${key} must be a ${type} (as processIdentity() returns it), got ${typeof v}: fix the recorded identity of pid ${String(id.pid)}.`, id.pid)
    }
    ;(out as unknown as Record<string, unknown>)[key] = v
  }
  want('startTime', 'number')
  want('bootId', 'string')
  want('exePath', 'string')
  want('exeSha256', 'string')
  return out
}

/** How `terminateGracefully` ended. */
export interface TerminateResult {
  pid: number
  /**
   * `'not-running'`: it had already exited (nothing was sent); `'terminated'`: it exited
   * within `timeoutMs` of SIGTERM; `'killed'`: it was still running and got SIGKILL.
   */
  outcome: 'not-running' | 'terminated' | 'killed'
}

/** `terminateGracefully` options. */
export interface TerminateOptions {
  /** How long to wait after SIGTERM before SIGKILL. Default 5000 ms. */
  timeoutMs?: number
  /** The polite signal. Default `'SIGTERM'`. */
  signal?: NodeJS.Signals
}

/**
 * SIGTERM (or `opts.signal`), wait up to `timeoutMs`, then SIGKILL and wait for the exit.
 * Every signal goes through one process handle, so none can reach a process that reused the
 * pid. `target`: a pid, an identity (verified first: a mismatch throws its code), or an open
 * handle (left open). A pid or identity that names no running process resolves
 * `'not-running'`.
 */
export async function terminateGracefully(
  target: number | ExpectedIdentity | ProcessHandle,
  opts: TerminateOptions = {},
): Promise<TerminateResult> {
  const timeoutMs = opts.timeoutMs ?? 5000
  let handle: ProcessHandle
  const own = !(target instanceof ProcessHandle)
  if (target instanceof ProcessHandle) {
    handle = target
  } else {
    try {
      handle = ProcessHandle.open(target)
    } catch (err) {
      if ((err as SoleError).code === 'ENOTFOUND') {
        return { pid: typeof target === 'number' ? target : target.pid, outcome: 'not-running' }
      }
      throw err
    }
  }
  const pid = handle.pid
  try {
    try {
      handle.signal(opts.signal ?? 'SIGTERM')
    } catch (err) {
      if ((err as SoleError).code === 'ENOTFOUND') return { pid, outcome: 'not-running' }
      throw err
    }
    try {
      await handle.waitForExit({ timeoutMs })
      return { pid, outcome: 'terminated' }
    } catch (err) {
      if ((err as SoleError).code !== 'ETIMEDOUT') throw err
    }
    try {
      handle.kill()
    } catch (err) {
      // Exited between the timeout and SIGKILL: it ended on its own.
      if ((err as SoleError).code === 'ENOTFOUND') return { pid, outcome: 'terminated' }
      throw err
    }
    await handle.waitForExit()
    return { pid, outcome: 'killed' }
  } finally {
    if (own) handle.close()
  }
}
