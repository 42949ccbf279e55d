/**
 * `sole daemon start|stop|status`: the library's `spawnDaemon`, `stopDaemon` and
 * `daemonStatus` for an operator or an init script.
 *
 * Why a command: a shell script that starts a daemon today writes `cmd & echo $! > pidfile`
 * and hopes: no readiness, a pidfile nobody holds, a daemon that dies in its first second
 * reported as started, and `kill $(cat pidfile)` later hitting whatever has that pid by then.
 * `start` returns only once the daemon said `READY=1` (or failed, with its exit code and the
 * last lines of its stderr), the daemon itself holds its pidfile; `stop` signals only the
 * verified holder of the pidfile (the same code as `sole kill`); `status` answers like
 * `systemctl is-active` (exit 0 running, 1 not).
 *
 * Test: `__test__/cli-daemon.spec.ts`.
 */
import path from 'node:path'

import { type DaemonStatus, type SoleError, type SpawnDaemonOptions, daemonStatus, spawnDaemon, stopDaemon } from '../index.js'
import { type Command, CliError, EXIT_ERROR, EXIT_NO, EXIT_OK, type Parsed, describe, optionValue, parse, printJson, seconds } from './common.js'
import { parseSignal } from './kill.js'

/** `sole daemon start --json`. */
export interface StartReport {
  pid: number
  /** The daemon's last `STATUS=` before `READY=1` (readiness `notify`), or `null`. */
  status: string | null
  /** The pidfile the daemon holds (absolute), or `null` when none was asked for. */
  pidfile: string | null
  readiness: 'notify' | 'exec' | 'none'
}

/** `sole daemon stop --json`. */
export interface StopReport {
  /** The pidfile (absolute). */
  pidfile: string
  /** What the pidfile said before anything was signalled: only `held` is signalled. */
  state: 'held' | 'free' | 'absent' | 'unverified'
  /** The holder; for `unverified`, the pid the file names (never signalled); else `null`. */
  pid: number | null
  /** The polite signal, by name (`SIGTERM`), or its number when it has no name. */
  signal: string
  /** How long the holder had to exit before SIGKILL, in milliseconds. */
  timeoutMs: number
  /**
   * `terminated`: it exited after the signal; `killed`: SIGKILL ended it at the timeout;
   * `not-running`: nothing was running to stop (`state` says why; `held`: it exited before
   * the first signal reached it).
   */
  outcome: 'terminated' | 'killed' | 'not-running'
}

/** `sole daemon status --json`. */
export interface DaemonStatusReport {
  /** The pidfile (absolute). */
  pidfile: string
  state: 'held' | 'free' | 'absent' | 'unverified'
  /** The holder (`held`), the live pid an unverified file names, else `null`. */
  pid: number | null
  /** Milliseconds since the holder started (`held`, when /proc shows it), else `null`. */
  uptimeMs: number | null
  /** When the holder started, ISO 8601 UTC, else `null`. */
  startedAt: string | null
  /** `free`: the pid the file still names, and why it is not the owner; else `null`. */
  stalePid: number | null
  reason: 'exited' | 'pid-reused' | 'previous-boot' | 'not-locked' | null
}

const DEFAULT_STOP_TIMEOUT_MS = 10_000
/** How a shell reports a command ended by SIGINT. */
const EXIT_INTERRUPTED = 130

const HELP = `Usage: sole daemon start [OPTIONS] [--] COMMAND [ARGS…]
       sole daemon stop   --pidfile PATH [--signal SIG] [--timeout SECS] [--json]
       sole daemon status --pidfile PATH [--json]

start: run COMMAND as a daemon (double fork, new session, no controlling terminal, stdin
/dev/null, stdout/stderr to files or /dev/null, every other descriptor closed) and return once
it is ready. With --pidfile, the daemon itself claims PATH before it runs COMMAND (an flock
held by the daemon, "PID\\n" written): a second start is refused while it runs, and its exit,
however it happens, frees the pidfile at once.

  --pidfile PATH        the pidfile the daemon holds (refused if another process holds it)
  --cwd DIR             its working directory (default /)
  --user USER           run as USER (a name or a uid; needs root), after the pidfile is opened
  --group GROUP         run as GROUP (a name or a gid; default: USER's primary group)
  --stdout FILE         append its stdout to FILE (created 0640; default /dev/null)
  --stderr FILE         append its stderr to FILE (its last lines are shown if it fails)
  --umask OCT           its umask, octal (default 027)
  --readiness MODE      notify (default): ready when it sends READY=1 over NOTIFY_SOCKET (the
                        sd_notify protocol: sole's daemonReady(), systemd-notify --ready, any
                        sd_notify library); exec: once COMMAND was executed; none: at once
  --timeout SECS        give up waiting for readiness after SECS seconds (default 60); the
                        unready daemon is then killed (SIGKILL)
  --env K=V             set K to V in its environment (repeatable); it otherwise inherits sole's
  --json                {"pid", "status", "pidfile", "readiness"} on stdout

  Prints "started PID (ready: STATUS)". Interrupted (Ctrl-C) before it is ready, the daemon is
  killed and sole exits 130.

stop: stop the daemon that holds PATH: send SIG (default TERM), wait up to SECS seconds (default
10), then SIGKILL and wait until it is gone. Only the verified holder is signalled (the
process the kernel lists as holding the pidfile's lock, through a pidfd opened before it was
confirmed): a free pidfile, or a plain one naming a live pid with no lock and no identity
record, is never signalled. The same as "sole kill", with a daemon's default timeout.

status: is the daemon of PATH running, as which PID, since when. Reads only (never locks,
creates or writes the pidfile).

Options of stop and status:
  --pidfile PATH   the pidfile (required; a symlink is refused)
  --signal SIG     stop's first signal: a name (TERM, SIGTERM, hup, INT…) or a number 1..64
  --timeout SECS   stop: seconds between SIG and SIGKILL (decimal, >= 0)
  --json           one JSON document on stdout: stop {pidfile, state, pid, signal,
                   timeoutMs, outcome}; status {pidfile, state, pid, uptimeMs, startedAt,
                   stalePid, reason}; errors {"error": {code, message, …}}
  -h, --help       this text

Exit status:
  start   0 started (and ready); 1 the pidfile is held: "already running as PID N";
          2 any other failure (it could not be executed, exited or sent ERRNO= before it was
          ready, the timeout, a usage error); 130 interrupted
  stop    0 the holder is gone (exited after SIG, killed at the timeout, or already exited);
          1 nothing held the pidfile (absent, free or unverified); 2 an error
  status  0 running (held); 1 not running (absent, free, or unverified); 2 an error
`

/** The action word (the first argument that is not `--json`) and the rest. */
function split(argv: readonly string[]): { action: string | undefined; rest: string[] } {
  const i = argv.findIndex((a) => a !== '--json')
  if (i < 0) return { action: undefined, rest: [...argv] }
  return { action: argv[i], rest: [...argv.slice(0, i), ...argv.slice(i + 1)] }
}

/** `--pidfile PATH`, required, absolute. */
function pidfileOf(p: Parsed, action: string): string {
  if (p.positionals.length > 0) throw new CliError(`daemon ${action}: unexpected argument '${p.positionals[0]}' (the pidfile is given with --pidfile PATH; see --help)`)
  const given = optionValue(p, 'pidfile')
  if (given === undefined || given === '') throw new CliError(`daemon ${action} needs --pidfile PATH (see --help)`)
  return path.resolve(given)
}

/** A user or group: a number (id) or a name. */
function idOrName(text: string, option: string): string | number {
  if (text === '') throw new CliError(`${option} needs a name or a numeric id`)
  return /^\d+$/.test(text) ? Number(text) : text
}

/** `--umask OCT`: octal digits, at most 0777. */
export function parseUmask(text: string): number {
  if (!/^[0-7]{1,4}$/.test(text) || Number.parseInt(text, 8) > 0o777) {
    throw new CliError(`--umask: '${text}' is not an octal umask (for example 027 or 0077; at most 0777)`)
  }
  return Number.parseInt(text, 8)
}

/** `--env K=V`, repeatable, over sole's own environment. */
function environment(p: Parsed): Record<string, string> | undefined {
  const given = p.options.get('env')
  if (given === undefined) return undefined
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v
  for (const kv of given as string[]) {
    const eq = kv.indexOf('=')
    if (eq <= 0) throw new CliError(`--env: '${kv}' is not NAME=VALUE`)
    env[kv.slice(0, eq)] = kv.slice(eq + 1)
  }
  return env
}

const READINESS = ['notify', 'exec', 'none'] as const

async function start(argv: readonly string[]): Promise<number> {
  // COMMAND is the one positional; everything after it is its arguments.
  const p = parse(
    argv,
    {
      pidfile: { value: true },
      cwd: { value: true },
      user: { value: true },
      group: { value: true },
      stdout: { value: true },
      stderr: { value: true },
      umask: { value: true },
      readiness: { value: true },
      timeout: { value: true },
      env: { value: true, many: true },
    },
    { commandAfter: 1 },
  )
  const json = p.options.has('json')
  if (p.positionals.length === 0) throw new CliError('daemon start needs a COMMAND to run (see --help)')
  const readiness = optionValue(p, 'readiness') ?? 'notify'
  if (!(READINESS as readonly string[]).includes(readiness)) throw new CliError(`--readiness: '${readiness}' is not one of notify, exec, none`)
  const opts: SpawnDaemonOptions = { command: p.positionals[0], args: p.command ?? [], readiness: readiness as SpawnDaemonOptions['readiness'] }
  const abs = (name: string): string | undefined => {
    const v = optionValue(p, name)
    if (v === '') throw new CliError(`--${name} needs a path`)
    return v === undefined ? undefined : path.resolve(v)
  }
  const pidfile = abs('pidfile')
  if (pidfile !== undefined) opts.pidfile = pidfile
  const cwd = abs('cwd')
  if (cwd !== undefined) opts.cwd = cwd
  const out = abs('stdout')
  if (out !== undefined) opts.stdout = out
  const err = abs('stderr')
  if (err !== undefined) opts.stderr = err
  const user = optionValue(p, 'user')
  if (user !== undefined) opts.user = idOrName(user, '--user')
  const group = optionValue(p, 'group')
  if (group !== undefined) opts.group = idOrName(group, '--group')
  const umask = optionValue(p, 'umask')
  if (umask !== undefined) opts.umask = parseUmask(umask)
  const timeout = optionValue(p, 'timeout')
  if (timeout !== undefined) opts.timeoutMs = seconds(timeout, '--timeout')
  const env = environment(p)
  if (env !== undefined) opts.env = env

  // Ctrl-C (or a TERM to sole) while waiting: abort, so the unready daemon is killed rather
  // than left running with nobody to report its readiness to.
  const ac = new AbortController()
  let interrupted: NodeJS.Signals | undefined
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted = sig
    ac.abort()
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  opts.signal = ac.signal
  try {
    const started = await spawnDaemon(opts)
    const report: StartReport = { pid: started.pid, status: started.status ?? null, pidfile: pidfile ?? null, readiness: opts.readiness ?? 'notify' }
    if (json) printJson(report)
    else {
      const how = report.readiness === 'notify' ? (report.status === null ? ' (ready)' : ` (ready: ${report.status})`) : report.readiness === 'exec' ? ' (executed)' : ''
      process.stdout.write(`started ${started.pid}${how}\n`)
    }
    return EXIT_OK
  } catch (e) {
    const error = e as SoleError & { stage?: unknown; exitCode?: unknown; signal?: unknown; status?: unknown; stderr?: unknown }
    if (interrupted !== undefined && error.code === 'ABORT_ERR') {
      report(new CliError(`interrupted by ${interrupted} before ${opts.command} was ready: it was killed`, EXIT_INTERRUPTED, 'EINTR'), json)
      return EXIT_INTERRUPTED
    }
    report(e, json, pidfile)
    if (error.code === 'EHELD') return EXIT_NO
    return EXIT_ERROR
  } finally {
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
  }
}

/**
 * The library's advice, in this command's words: its options are flags here, and the holder
 * of a pidfile is stopped with `sole daemon stop`.
 */
export function startWording(message: string, pidfile: string | undefined): string {
  let m = message.replace('raise timeoutMs', 'raise --timeout').replace('(stderr option)', '(--stderr FILE)')
  if (pidfile !== undefined) m = m.replace(/Stop that process first \(kill \d+\)/, `Stop it first (sole daemon stop --pidfile ${pidfile})`)
  return m
}

/**
 * Print a failure of `start` the one way (`sole: <message>`), and with `--json` the error with
 * what `EDAEMON` adds: `stage`, `exitCode`, `signal`, `status`, `stderr`.
 */
function report(e: unknown, json: boolean, pidfile?: string): void {
  const described = describe(e)
  const error = { ...described, message: startWording(described.message, pidfile) }
  process.stderr.write(`sole: ${error.message}\n`)
  if (!json) return
  const extra: Record<string, unknown> = {}
  for (const k of ['stage', 'exitCode', 'signal', 'status', 'stderr'] as const) {
    const v = (e as Record<string, unknown> | null)?.[k]
    if (v !== undefined) extra[k] = v
  }
  printJson({ error: { ...error, ...extra } })
}

async function stop(argv: readonly string[]): Promise<number> {
  const p = parse(argv, { pidfile: { value: true }, signal: { value: true }, timeout: { value: true } })
  const json = p.options.has('json')
  const pidfile = pidfileOf(p, 'stop')
  const sig = parseSignal(optionValue(p, 'signal') ?? 'SIGTERM')
  const t = optionValue(p, 'timeout')
  const timeoutMs = t === undefined ? DEFAULT_STOP_TIMEOUT_MS : seconds(t, '--timeout')
  const r = await stopDaemon(pidfile, { signal: sig.number, timeoutMs })
  const f = r.found
  const pid = f.state === 'held' || f.state === 'unverified' ? f.pid : null
  const doc: StopReport = { pidfile, state: f.state, pid, signal: sig.name, timeoutMs, outcome: r.outcome }
  if (f.state !== 'held') {
    process.stderr.write(`sole: not running: ${pidfile} ${notHeld(f)}; nothing was signalled\n`)
    if (json) printJson(doc)
    return EXIT_NO
  }
  if (json) printJson(doc)
  else {
    const said =
      r.outcome === 'terminated'
        ? `exited after ${sig.name}`
        : r.outcome === 'killed'
          ? `was still running ${timeoutMs} ms after ${sig.name}: killed with SIGKILL`
          : 'had already exited'
    process.stdout.write(`stopped: PID ${f.pid} (holder of ${pidfile}) ${said}\n`)
  }
  return EXIT_OK
}

/** Why a pidfile names no running daemon, in words. */
function notHeld(s: Exclude<DaemonStatus, { state: 'held' }>): string {
  switch (s.state) {
    case 'absent':
      return 'does not exist'
    case 'free':
      return `is free${s.stalePid === undefined ? '' : ` (it names PID ${s.stalePid}, which is not its owner: ${s.reason ?? 'unknown'})`}`
    default:
      return `is unverified: it names live PID ${s.pid} but holds no lock and no identity record, so nothing proves that process wrote it`
  }
}

/** `3d 4h 5m 6s`, `5m 6s`, `6s`, `0.25s`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${(ms / 1000).toFixed(2)}s`
  let s = Math.floor(ms / 1000)
  const parts: string[] = []
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (s >= size || parts.length > 0) {
      parts.push(`${Math.floor(s / size)}${unit}`)
      s %= size
    }
  }
  parts.push(`${s}s`)
  return parts.join(' ')
}

function status(argv: readonly string[]): number {
  const p = parse(argv, { pidfile: { value: true } })
  const json = p.options.has('json')
  const pidfile = pidfileOf(p, 'status')
  const s = daemonStatus(pidfile)
  const doc: DaemonStatusReport = {
    pidfile,
    state: s.state,
    pid: s.state === 'held' || s.state === 'unverified' ? s.pid : null,
    uptimeMs: s.state === 'held' ? s.uptimeMs : null,
    startedAt: s.state === 'held' ? s.startedAt : null,
    stalePid: s.state === 'free' ? (s.stalePid ?? null) : null,
    reason: s.state === 'free' ? (s.reason ?? null) : null,
  }
  if (json) printJson(doc)
  if (s.state !== 'held') {
    if (!json) process.stdout.write(`not running: ${pidfile} ${notHeld(s)}\n`)
    return EXIT_NO
  }
  if (!json) {
    const since = s.startedAt === null || s.uptimeMs === null ? '' : ` since ${s.startedAt} (up ${duration(s.uptimeMs)})`
    process.stdout.write(`running as PID ${s.pid}${since} (holder of ${pidfile})\n`)
  }
  return EXIT_OK
}

export const daemon: Command = {
  summary: 'start a daemon and wait until it is ready, stop it, or show its status',
  help: HELP,
  run(argv) {
    const { action, rest } = split(argv)
    switch (action) {
      case 'start':
        return start(rest)
      case 'stop':
        return stop(rest)
      case 'status':
        return status(rest)
      case undefined:
        throw new CliError('daemon needs an action: start, stop or status (see --help)')
      default:
        throw new CliError(`daemon: unknown action '${action}' (actions: start, stop, status; see --help)`)
    }
  },
}
