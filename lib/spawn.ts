/**
 * `spawnDaemon`: start a real daemon (native double fork, the daemon claims its own pidfile)
 * and wait until it is ready, without blocking the event loop.
 *
 * This layer adds only what napi-rs cannot express: the `timeoutMs` timer (default 60 s) and
 * the AbortSignal, both of which end the native wait through `DaemonStart` (the unready
 * daemon is then SIGKILLed, unless `killOnTimeout: false`), and a rejection instead of a throw
 * for bad options. Every option is checked natively (`src/daemon_spawn.rs`), once.
 */
import * as native from './native.js'

import { abortError, Code, type SoleError } from './errors.js'
import { field, longTimer, signalOf, snapshot } from './wait.js'

export type { SpawnDaemonOptions, DaemonStarted } from '../index.js'
type SpawnDaemonOptions = native.SpawnDaemonOptions
type DaemonStarted = native.DaemonStarted

/** The default `timeoutMs` of `spawnDaemon` (systemd's `TimeoutStartSec` default is 90 s). */
const SPAWN_DAEMON_TIMEOUT_MS = 60_000

const KEYS = [
  'command', 'args', 'cwd', 'env', 'pidfile', 'umask', 'stdout', 'stderr', 'user', 'group',
  'readiness', 'timeoutMs', 'killOnTimeout', 'allowNetworkFs', 'signal',
] as const

/**
 * Start `opts.command` as a daemon: a new session, not a session leader, no terminal, stdin
 * from /dev/null, stdout/stderr to files (or /dev/null), cwd `/`, umask 0o027, every other
 * descriptor closed, default signal dispositions and an empty signal mask; the pidfile (if
 * given) claimed by the daemon itself before an optional drop to `user`/`group`.
 *
 * Resolves `{ pid, status }` when the daemon is ready: `READY=1` over sd_notify (readiness
 * `'notify'`, the default: the daemon calls `daemonReady()`, or `systemd-notify --ready`),
 * after a successful exec (`'exec'`), or once its pid is known (`'none'`).
 *
 * Rejects with `EHELD` (the pidfile's holder as `err.pid`), `EDAEMON` (`err.stage`: `'setup'`,
 * `'exec'` or `'startup'`, with `exitCode` or `signal`, `status`, `stderr`), `ETIMEDOUT`
 * (`timeoutMs` passed; the daemon was killed) or `AbortError`; bad options reject `EINVAL`.
 */
export function spawnDaemon(opts: SpawnDaemonOptions): Promise<DaemonStarted> {
  const snap = snapshot(opts, KEYS)
  let start: native.DaemonStart
  let pending: Promise<DaemonStarted>
  let signal: AbortSignal | undefined
  try {
    signal = signalOf(snap)
    if (signal?.aborted) return Promise.reject(abortError(signal))
    const o = snap as Record<string, unknown> | undefined
    if (o !== undefined && typeof o === 'object' && (o.timeoutMs === undefined || o.timeoutMs === null)) o.timeoutMs = SPAWN_DAEMON_TIMEOUT_MS
    start = new native.DaemonStart()
    pending = native.spawnDaemon(snap as SpawnDaemonOptions, start)
  } catch (err) {
    return Promise.reject(err)
  }
  const onAbort = (): void => start.cancel()
  try {
    signal?.addEventListener('abort', onAbort, { once: true })
  } catch (err) {
    start.cancel()
    return pending.then(
      () => Promise.reject(err),
      () => Promise.reject(err),
    )
  }
  // Validated natively: a number in 0..=Number.MAX_SAFE_INTEGER, or absent.
  const stopTimer = longTimer(field(snap, 'timeoutMs') as number, () => start.timeOut())
  const cleanup = (): void => {
    stopTimer()
    try {
      signal?.removeEventListener('abort', onAbort)
    } catch {
      // The caller's signal misbehaves; the start is over either way.
    }
  }
  return pending.then(
    (started) => {
      cleanup()
      return { pid: started.pid, status: started.status ?? null }
    },
    (err: SoleError) => {
      cleanup()
      if (err.code === Code.ECANCELED && signal?.aborted) throw Object.assign(abortError(signal), { pid: err.pid })
      throw err
    },
  )
}
