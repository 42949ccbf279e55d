/**
 * The errors sole throws: their codes, their shape, and the one that the TypeScript layer builds
 * itself (AbortError, Node's own). Every other error is built natively (`crates/error`), and
 * every code is spelled there: {@link Code} is generated from that table (`lib/codes.ts`).
 */
import { Code } from './codes.js'

export { Code }
/**
 * Stable `code` values of errors thrown by sole. Other I/O failures carry the errno name as
 * Node's `fs` spells it (`EACCES`, `ENOENT`, `EROFS`, …).
 * - `EHELD`: another live process holds the pidfile/lock; `err.pid` names it.
 * - `ETIMEDOUT`: `timeoutMs` ran out; `err.pid` names the holder when it can be seen.
 * - `EDEADLK`: a synchronous wait for a lock this same thread holds (it could never end).
 * - `ESYMLINK`: the path is a symbolic link; sole never follows one.
 * - `ENOTREG`: the path is a directory, FIFO, device or socket.
 * - `EINVALIDPID`: not an integer pid in 1..2^31-1.
 * - `EUNKNOWNHOLDER`: locked by a process that exited while a forked child kept the descriptor.
 * - `EBUSY`: a {@link LockFile} handle already has a lock out (release it, or open another).
 * - `EINVAL`: an argument or option of the wrong type or value; `err.argument` names it
 *   (`'path'`, `'mode'`, `'timeoutMs'`, `'shared'`, `'options'`, `'signal'`, …). Every
 *   `timeoutMs` is a number of milliseconds in 0..`Number.MAX_SAFE_INTEGER`.
 * - `EINTERNAL`: a bug in sole caught before it could harm the process; please report it.
 * - `ENOTFOUND`: no running process has the pid, or the handle's process has exited (nothing
 *   was signalled).
 * - `EBOOTID`, `ESTARTTIME`, `EEXEPATH`, `EEXEHASH`: a recorded identity does not match the
 *   process that has the pid now (another boot; pid reused; another executable; another
 *   binary). The error carries `expected` and `actual`.
 * - `ENOTSUP`: `require('sole')` on a platform sole has no addon for (only linux x64 glibc).
 * - `ENOBINDING`: the addon is missing or does not load on a supported machine (the platform
 *   package was omitted or is damaged, or a checkout is not built); the message says how to fix.
 * - `ECANCELED`: never seen from the promise APIs (they turn it into `AbortError`).
 * - `ABORT_ERR` (with `name === 'AbortError'`): `lock()`, `claimPidfileWhenFree()` or
 *   `waitForExit()` was aborted through its `signal`; `cause` is the signal's reason.
 */
export type SoleErrorCode = Code | 'ABORT_ERR' | (string & {})

/** Every error sole throws is an `Error` with these properties. */
export interface SoleError extends Error {
  code: SoleErrorCode
  /** The absolute path concerned, where there is one. */
  path?: string
  /** The pid concerned (the holder, for `EHELD` and `ETIMEDOUT`). */
  pid?: number
  /** Negative errno, for OS failures (as in Node's `fs` errors). */
  errno?: number
  /** `EINVAL`: the name of the argument or option that was refused. */
  argument?: string
  /** Identity mismatches (`EBOOTID`, `ESTARTTIME`, …): the recorded value. */
  expected?: string | number
  /** Identity mismatches: the value found on the running process. */
  actual?: string | number
}


/** The `AbortError` of an aborted wait (`code: 'ABORT_ERR'`, `cause`: the signal's reason). */
export function abortError(signal: AbortSignal): SoleError {
  const err = new Error('The operation was aborted', { cause: signal.reason }) as SoleError
  err.name = 'AbortError'
  err.code = 'ABORT_ERR'
  return err
}

