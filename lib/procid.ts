/**
 * Process identity, liveness and process handles: the typed layer over `src/procid.rs`
 * (`crates/procid` does the work). Adds `Symbol.dispose`, AbortSignal for `waitForExit`, and
 * `terminateGracefully`. Every argument is decided natively, once: this layer only forwards
 * values (a wrong type or value is `EINVALIDPID` for pids, else `EINVAL` with `err.argument`).
 */
import * as native from './native.js'
import { Code } from './codes.js'
import { abortError, type SoleError } from './errors.js'
import { invalidArgument, signalOf } from './wait.js'

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
 * An identity record, the text sole keeps beside a pid (a pidfile's `user.sole.identity`
 * extended attribute: `sole-identity/1 pid=4242 start=123456 boot=0f8c… lock=flock`): who wrote
 * it and whether its writer holds an flock on the file while it owns it (`locked`).
 */
export type IdentityRecord = native.IdentityRecord

/**
 * The record in `text` (for example the value of `getfattr -n user.sole.identity PIDFILE`), or
 * `null` when it is not a complete version-1 record: then sole's own readers verify the pid
 * against the live process instead. Unknown fields are ignored. Works in the WebAssembly build
 * too (it needs no operating system). `text` must be a string (`EINVAL`).
 */
export function parseIdentityRecord(text: string): IdentityRecord | null {
  return native.parseIdentityRecord(text)
}

/**
 * The text of an identity record, as sole writes it: `pid` a pid (`EINVALIDPID`), `startTime`
 * an integer from 0 to 2^53-1 and `bootId` 1 to 64 hex digits and dashes (lowercased), as
 * {@link processIdentity} gives them, `locked` a boolean (default `false`); anything else is
 * `EINVAL` naming the field. What it writes, {@link parseIdentityRecord} reads back equal.
 */
export function formatIdentityRecord(record: IdentityRecord): string {
  return native.formatIdentityRecord(record)
}

/**
 * The identity of a process: `startTime` (clock ticks since boot, `/proc/PID/stat` field 22)
 * and `bootId` together name one process for the life of the machine, across pid reuse.
 * `exePath` is `null` when unreadable (another user's process without privilege).
 */
export type ProcessIdentity = native.ProcessIdentity

/** A recorded identity to check (declared in `src/procid.rs`, typings generated). */
export type ExpectedIdentity = native.ExpectedIdentity
/** `processIdentity` options (declared in `src/procid.rs`). */
export type ProcessIdentityOptions = native.ProcessIdentityOptions
/** `waitForExit` options (declared in `src/procid.rs`). */
export type WaitForExitOptions = native.WaitForExitOptions
/** `terminateGracefully` options (declared in `src/procid.rs`). */
export type TerminateOptions = native.TerminateOptions
/** How `terminateGracefully` ended (declared in `src/procid.rs`). */
export type TerminateResult = native.TerminateResult

/**
 * Read the identity of the live process `pid` from the kernel. All fields come from the same
 * process even if the pid is reused meanwhile (they are read through one `/proc/PID` fd).
 * `{ exeSha256: true }` adds the executable's SHA-256, cached by (device, inode, size, mtime):
 * checking the same binary twice hashes it once. Throws `EINVALIDPID` for anything that is
 * not an integer pid in 1..2^31-1, `ENOTFOUND` when no live process has the pid.
 */
export function processIdentity(pid: number, opts?: ProcessIdentityOptions | null): ProcessIdentity {
  return native.processIdentity(pid, opts)
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
    if (!(h instanceof native.NativeProcessHandle)) {
      throw invalidArgument('constructor', 'ProcessHandle objects are made by ProcessHandle.open(pid | identity), verifyProcess(identity) or readPidfile(path, { handle: true }): call one of those.')
    }
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
    return new ProcessHandle(native.NativeProcessHandle.open(target))
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
   * Send a signal by name (`'SIGTERM'`) or number (an integer 0..64; 0 only checks). Anything
   * else is `EINVAL` with `err.argument === 'signal'`. `ENOTFOUND` when the process has exited
   * (nothing is sent), `EPERM` for another user's process, `EBADF` on a closed handle.
   */
  signal(sig: NodeJS.Signals | number): void {
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
   * after `timeoutMs`, `AbortError` on `signal`, `EBADF` if the handle is closed (before or
   * meanwhile), `EINVAL` (with `err.argument`) for an option of the wrong type or value. Every
   * failure is a rejection, never a synchronous throw.
   */
  waitForExit(opts?: WaitForExitOptions | null): Promise<void> {
    try {
      // The one read of `signal` (its listener lives here). `signalOf` is the one place that
      // decides what an AbortSignal is (duck-typed, so one from another realm works); a value
      // it refuses goes to the native side, which reports it after the other options.
      const raw: unknown = opts == null ? undefined : (opts as { signal?: unknown }).signal
      let signal: AbortSignal | undefined
      let refused: unknown
      try {
        signal = signalOf({ signal: raw })
      } catch (err) {
        // Only signalOf's own refusal; a getter's exception passes through unchanged.
        if ((err as { argument?: unknown }).argument !== 'signal') throw err
        refused = raw
      }
      const wait = new native.ExitWait()
      const p = this.#h.waitForExit(opts, signal?.aborted, refused, wait)
      if (p === null) return Promise.reject(abortError(signal as AbortSignal))
      if (signal == null) return p.then(() => undefined)
      const abort = signal as AbortSignal
      const onAbort = () => wait.cancel()
      try {
        abort.addEventListener('abort', onAbort, { once: true })
      } catch (err) {
        // The caller's signal threw: end the wait we started (no orphaned rejection), report.
        p.catch(() => undefined)
        wait.cancel()
        throw err
      }
      return p.then(
        () => {
          abort.removeEventListener('abort', onAbort)
        },
        (err: SoleError) => {
          abort.removeEventListener('abort', onAbort)
          throw err.code === Code.ECANCELED ? abortError(abort) : err
        },
      )
    } catch (err) {
      return Promise.reject(err)
    }
  }
  /**
   * Close the pidfd and end every pending wait (they reject with `EBADF`): when this returns,
   * the pidfd and every wait's descriptors are closed and their threads have ended.
   * Idempotent. Dropping a handle without closing it (garbage collection) does not end its
   * pending waits: they end when the process exits or their timeout passes.
   */
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
  return ProcessHandle.fromNative(native.verifyProcess(expected))
}

/**
 * SIGTERM (or `opts.signal`), wait up to `timeoutMs`, then SIGKILL and wait for the exit.
 * Every signal goes through one process handle, so none can reach a process that reused the
 * pid. `target`: a pid, an identity (verified first: a mismatch throws its code), or an open
 * handle (left open). A pid or identity that names no running process resolves
 * `'not-running'`. The options are decided before anything is opened or signalled: a bad
 * `timeoutMs` or `signal` rejects `EINVAL` and nothing is sent.
 */
export async function terminateGracefully(
  target: number | ExpectedIdentity | ProcessHandle,
  opts?: TerminateOptions | null,
): Promise<TerminateResult> {
  const { timeoutMs, signal } = native.terminateOptions(opts)
  let handle: ProcessHandle
  const own = !(target instanceof ProcessHandle)
  if (target instanceof ProcessHandle) {
    handle = target
  } else {
    try {
      handle = ProcessHandle.open(target)
    } catch (err) {
      // ENOTFOUND always names the pid it looked for.
      if ((err as SoleError).code === Code.ENOTFOUND) return { pid: (err as SoleError).pid as number, outcome: 'not-running' }
      throw err
    }
  }
  const pid = handle.pid
  try {
    try {
      handle.signal(signal)
    } catch (err) {
      if ((err as SoleError).code === Code.ENOTFOUND) return { pid, outcome: 'not-running' }
      throw err
    }
    try {
      await handle.waitForExit({ timeoutMs })
      return { pid, outcome: 'terminated' }
    } catch (err) {
      if ((err as SoleError).code !== Code.ETIMEDOUT) throw err
    }
    try {
      handle.kill()
    } catch (err) {
      // Exited between the timeout and SIGKILL: it ended on its own.
      if ((err as SoleError).code === Code.ENOTFOUND) return { pid, outcome: 'terminated' }
      throw err
    }
    await handle.waitForExit()
    return { pid, outcome: 'killed' }
  } finally {
    if (own) handle.close()
  }
}
