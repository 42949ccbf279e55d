/**
 * The daemon's own side (`notify`, `daemonReady`, `watchdogIntervalMs`) and the operator's
 * side (`stopDaemon`, `daemonStatus`) of sole's daemons: the typed layer over `src/daemon.rs`
 * (`crates/daemon` does the work). Every argument is decided natively, once; this layer
 * composes the existing primitives.
 *
 * Race closed here: "stop the daemon in this pidfile" done as `kill $(cat pidfile)` signals
 * whatever process has that number now: after the daemon died, a recycled pid names an
 * unrelated process. {@link stopDaemon} signals only the *verified holder*: the process the
 * kernel lists as holding the pidfile's lock, through a pidfd opened before that holder was
 * confirmed (`readPidfile(path, { handle: true })`), so from the read to the last SIGKILL no
 * recycled pid can be hit. It is the one place that does this; `sole kill` and
 * `sole daemon stop` call it.
 *
 * Tests: `__test__/daemon-notify.spec.ts`, `__test__/daemon-control.spec.ts`.
 */
import * as native from './native.js'
import { Code } from './codes.js'
import type { SoleError } from './errors.js'
import { type PidfileState, type StaleReason, readPidfile } from './index.js'
import { type ProcessHandle, terminateGracefully } from './procid.js'
import { invalidArgument, snapshot } from './wait.js'

/** What {@link notify} sends (declared in `src/daemon.rs`, typings generated). */
export type NotifyFields = native.NotifyFields
/** {@link stopDaemon}'s options (declared in `src/daemon.rs`). */
export type StopDaemonOptions = native.StopDaemonOptions

/**
 * Send one sd_notify datagram to `$NOTIFY_SOCKET` (a path, or `@name` for an abstract
 * socket) with this process's credentials: what systemd `Type=notify`,
 * `start-stop-daemon --notify-await` and `spawnDaemon` listen for. Returns `false`, and
 * sends nothing, when `NOTIFY_SOCKET` is unset (no supervisor listens): call it
 * unconditionally. The fields are checked either way: an unknown key or a wrong type throws
 * `EINVAL` naming it (`err.argument`), a newline in `status` or an `errno` outside 0..4095
 * `EINVAL`, a bad `mainpid` `EINVALIDPID`. Also `false` when nobody listens at
 * `NOTIFY_SOCKET` any more (the socket is gone or closed: `spawnDaemon` stops listening once
 * the daemon is ready); any other send failure throws its OS error naming the socket.
 *
 * ```ts
 * notify({ status: 'loading cache' })
 * notify({ ready: true, status: 'serving on :8080' })
 * notify({ errno: 5, status: 'cannot open the database' }) // start-up failed
 * ```
 */
export function notify(fields: NotifyFields): boolean {
  return native.notify(fields)
}

/**
 * `notify({ ready: true })`: start-up is finished. `false` when `NOTIFY_SOCKET` is unset. The
 * same program works unchanged under systemd `Type=notify`, `start-stop-daemon --background
 * --notify-await` and `spawnDaemon({ readiness: 'notify' })`.
 */
export function daemonReady(): boolean {
  return native.daemonReady()
}

/**
 * The watchdog interval the supervisor asked for (`WATCHDOG_USEC`, honoured when
 * `WATCHDOG_PID` is unset or names this process), in milliseconds; `null` when none. Send
 * `notify({ watchdog: true })` more often than that (systemd suggests every half interval).
 */
export function watchdogIntervalMs(): number | null {
  return native.watchdogIntervalMs() ?? null
}

/**
 * What {@link daemonStatus} found: {@link readPidfile}'s answer, and for a held pidfile how
 * long its holder has been running. `uptimeMs` and `startedAt` are `null` only when `/proc`
 * hides the holder from this user (`hidepid`), so its start time is unknown.
 */
export type DaemonStatus =
  | Exclude<PidfileState, { state: 'held' }>
  | (Extract<PidfileState, { state: 'held' }> & {
      /**
       * Milliseconds since the holder started, on the boot-time clock (its start time, read
       * while it was confirmed as the holder, against `/proc/uptime`; 10 ms resolution).
       * Unaffected by wall-clock steps.
       */
      uptimeMs: number | null
      /** When the holder started (ISO 8601, UTC): now minus `uptimeMs`. */
      startedAt: string | null
    })

/**
 * Is the daemon of `pidfile` running, as which pid, and for how long? {@link readPidfile}'s
 * answer (`held`, `free`, `absent`, `unverified`; never blocks, locks or writes), plus, when
 * held, `uptimeMs` and `startedAt` of the *holder* (computed from the start time read while
 * the holder was confirmed, so never a recycled pid's). Throws what `readPidfile` throws
 * (`ESYMLINK`, `ENOTREG`, `EUNKNOWNHOLDER`); a `pidfile` that is not a path is `EINVAL` with
 * `err.argument === 'pidfile'`.
 */
export function daemonStatus(pidfile: string): DaemonStatus {
  const s = readPidfile(native.daemonPidfile(pidfile))
  if (s.state !== 'held') return s
  if (s.identity === undefined) return { ...s, uptimeMs: null, startedAt: null }
  const u = native.daemonUptime(s.identity.startTime)
  return { ...s, uptimeMs: u.uptimeMs, startedAt: new Date(u.startedAtMs).toISOString() }
}

/** What {@link stopDaemon} read in the pidfile, before anything was signalled. */
export type PidfileFound =
  | { state: 'absent' }
  /** `stalePid`, `reason`: the pid a free file still names, and why it is not the owner. */
  | { state: 'free'; stalePid?: number; reason?: StaleReason }
  | { state: 'held'; pid: number; locked: boolean }
  /** A plain pidfile naming a live `pid` that nothing proves wrote it: never signalled. */
  | { state: 'unverified'; pid: number }

/** How {@link stopDaemon} ended. */
export interface StopDaemonResult {
  /** The verified holder (signalled, or found already gone); `null` when nothing held the pidfile. */
  pid: number | null
  /**
   * `terminated`: the holder exited within `timeoutMs` of the polite signal; `killed`: it was
   * still running then and SIGKILL ended it; `not-running`: nothing was running to stop (the
   * pidfile was absent, free or unverified, or its holder exited before the first signal:
   * `found` says which).
   */
  outcome: 'terminated' | 'killed' | 'not-running'
  /** What the pidfile said. */
  found: PidfileFound
  /** The polite signal's number (15 for `SIGTERM`). */
  signal: number
  /** The grace period used, in milliseconds. */
  timeoutMs: number
}

/** The plain (function-free) form of a pidfile state. */
function found(s: PidfileState): PidfileFound {
  switch (s.state) {
    case 'held':
      return { state: 'held', pid: s.pid, locked: s.locked }
    case 'unverified':
      return { state: 'unverified', pid: s.pid }
    case 'free':
      return { state: 'free', ...(s.stalePid === undefined ? {} : { stalePid: s.stalePid }), ...(s.reason === undefined ? {} : { reason: s.reason }) }
    default:
      return { state: 'absent' }
  }
}

/**
 * Stop the daemon that holds `pidfile`: send `signal` (default `SIGTERM`), wait up to
 * `timeoutMs` (default 10000) for it to exit, then SIGKILL and wait until it is gone.
 *
 * Only the verified holder is signalled, through a pidfd bound to it (see the module doc): a
 * pidfile that is absent, free, or `unverified` (a plain pidfile naming a live pid with no
 * lock and no record: nothing proves that process wrote it) resolves `'not-running'` with
 * nothing signalled, whatever pid it names. A holder proven by its identity record but not
 * locked is reached through a handle verified against that record. The arguments are decided
 * before the pidfile is read: a bad `pidfile`, `timeoutMs` or `signal` rejects `EINVAL`
 * (`err.argument`). `EPERM` for another user's daemon.
 */
export async function stopDaemon(pidfile: string, opts?: StopDaemonOptions | null): Promise<StopDaemonResult> {
  const settings = native.stopDaemonOptions(pidfile, snapshot(opts, ['timeoutMs', 'signal']) as StopDaemonOptions | undefined)
  const { timeoutMs, signal } = settings
  const r = readPidfile(settings.path, { handle: true })
  const seen = found(r)
  const result = (pid: number | null, outcome: StopDaemonResult['outcome']): StopDaemonResult => ({ pid, outcome, found: seen, signal, timeoutMs })
  if (r.state !== 'held') return result(null, 'not-running')
  if (r.pid === process.pid) {
    // Signalling ourselves would end this process (or, with a SIGTERM handler, wait on itself
    // until the timeout and then SIGKILL itself): refused, nothing sent.
    r.handle?.close()
    throw invalidArgument('pidfile', `${settings.path} is held by this process itself (PID ${process.pid}): stopDaemon stops another process. To end this one, release its claim and exit.`)
  }
  // Locked: the pidfd opened before the holder was confirmed. Unlocked but proven by its
  // record: a pidfd verified against that identity (it throws rather than reach another).
  let handle: ProcessHandle
  if (r.handle) handle = r.handle
  else {
    try {
      handle = r.openHandle()
    } catch (err) {
      // The holder exited (or its pid was reused) since the read: nothing to stop.
      const code = (err as SoleError).code
      if (code === Code.ENOTFOUND || code === Code.ESTARTTIME) return result(r.pid, 'not-running')
      throw err
    }
  }
  try {
    const t = await terminateGracefully(handle, { signal, timeoutMs })
    return result(r.pid, t.outcome)
  } finally {
    handle.close()
  }
}
