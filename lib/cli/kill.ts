/**
 * `sole kill --pidfile PATH`: stop the process that holds a pidfile, never a process that
 * merely has the pid the file names. The holder is the one the kernel lists as holding the
 * pidfile's lock, and the signals go through a pidfd opened *before* that holder was confirmed
 * (`readPidfile(path, { handle: true })`), so between reading the file and the last SIGKILL no
 * recycled pid can be hit. A plain pidfile (no lock, no record) is never signalled: its pid
 * proves nothing. The stopping itself is the library's `stopDaemon` (`lib/daemon.ts`), the one
 * place that does it; this command adds the words and the exit codes.
 */
import os from 'node:os'
import path from 'node:path'

import { stopDaemon } from '../index.js'
import { type Command, CliError, EXIT_NO, EXIT_OK, optionValue, parse, printJson, seconds } from './common.js'

/** `sole kill --json`. */
export interface KillReport {
  /** The pidfile (absolute). */
  pidfile: string
  /** What the pidfile said: only `held` is signalled. */
  state: 'held' | 'free' | 'absent' | 'unverified'
  /** The holder signalled; for `unverified`, the pid the file names (not signalled); else `null`. */
  pid: number | null
  /** The polite signal, by name (`SIGTERM`), or its number when it has no name. */
  signal: string
  /** How long the holder had to exit before SIGKILL, in milliseconds. */
  timeoutMs: number
  /**
   * `terminated`: it exited after the signal; `killed`: it was still running at the timeout
   * and SIGKILL ended it; `exited`: it was gone before the first signal reached it;
   * `not-signalled`: nothing held the pidfile.
   */
  outcome: 'terminated' | 'killed' | 'exited' | 'not-signalled'
}

const DEFAULT_TIMEOUT_MS = 5000

const HELP = `Usage: sole kill --pidfile PATH [--signal SIG] [--timeout SECS] [--json]

Stop the process that holds the pidfile PATH: send SIG (default TERM), wait up to SECS seconds
(default 5) for it to exit, then send SIGKILL and wait until it is gone.

Only the verified holder is signalled: the process the kernel lists as holding the pidfile's
lock (or a pidfile proven by its identity record), through a pidfd opened before that holder
was confirmed, so a pid the kernel has recycled is never hit. A pidfile that nobody holds, or a
plain pidfile naming a live pid with no lock and no record ("unverified": nothing proves that
process wrote it), is not signalled at all.

Options:
  --pidfile PATH   the pidfile (required; a symlink is refused)
  --signal SIG     the first signal: a name (TERM, SIGTERM, hup, INT…) or a number 1..64
  --timeout SECS   seconds to wait after SIG before SIGKILL (decimal, >= 0; 0 sends SIGKILL
                   right after SIG). After SIGKILL, sole waits for the exit without bound
                   (SIGKILL cannot be caught; a process in uninterruptible sleep exits when
                   its I/O ends)
  --json           one JSON document on stdout (see the README for its shape)
  -h, --help       this text

Exit status:
  0  the holder is gone (it exited after SIG, was killed at the timeout, or had already exited)
  1  nothing held the pidfile (absent, free or unverified): nothing was signalled
  2  an error (usage, symlink, permissions: e.g. EPERM for another user's process)
`

/** `--signal`: a name (any case, with or without `SIG`) or a number 1..64, as a signal number. */
export function parseSignal(text: string): { number: number; name: string } {
  const byNumber = new Map<number, string>()
  for (const [name, n] of Object.entries(os.constants.signals)) if (!byNumber.has(n)) byNumber.set(n, name)
  if (/^\d+$/.test(text)) {
    const n = Number(text)
    if (n >= 1 && n <= 64) return { number: n, name: byNumber.get(n) ?? String(n) }
    throw new CliError(`--signal: ${text} is not a signal number (1..64; 0 only checks, use sole status for that)`)
  }
  const upper = text.toUpperCase()
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`
  const n = (os.constants.signals as Record<string, number | undefined>)[name]
  if (n === undefined) throw new CliError(`--signal: '${text}' is not a signal name or number (for example TERM, SIGHUP, INT, 15)`)
  return { number: n, name }
}

export const kill: Command = {
  summary: 'stop the verified holder of a pidfile (TERM, wait, KILL)',
  help: HELP,
  async run(argv) {
    const p = parse(argv, { pidfile: { value: true }, signal: { value: true }, timeout: { value: true } })
    const json = p.options.has('json')
    if (p.positionals.length > 0) throw new CliError(`kill: unexpected argument '${p.positionals[0]}' (the pidfile is given with --pidfile PATH; see --help)`)
    const given = optionValue(p, 'pidfile')
    if (given === undefined || given === '') throw new CliError('kill needs --pidfile PATH (see --help)')
    const sig = parseSignal(optionValue(p, 'signal') ?? 'SIGTERM')
    const t = optionValue(p, 'timeout')
    const timeoutMs = t === undefined ? DEFAULT_TIMEOUT_MS : seconds(t, '--timeout')
    const pidfile = path.resolve(given)

    // The one place that stops "the holder of this pidfile" (lib/daemon.ts): it reads the
    // pidfile with a handle bound to the holder and signals only through that handle.
    const r = await stopDaemon(pidfile, { signal: sig.number, timeoutMs })
    const f = r.found
    if (f.state !== 'held') {
      const pid = f.state === 'unverified' ? f.pid : null
      const why =
        f.state === 'absent'
          ? 'does not exist'
          : f.state === 'free'
            ? `is free${f.stalePid === undefined ? '' : ` (it names PID ${f.stalePid}, which is not its owner: ${f.reason ?? 'unknown'})`}`
            : `is unverified: it names live PID ${f.pid} but holds no lock and no identity record, so nothing proves that process wrote it`
      process.stderr.write(`sole: nothing holds ${pidfile}: it ${why}; nothing was signalled\n`)
      if (json) printJson({ pidfile, state: f.state, pid, signal: sig.name, timeoutMs, outcome: 'not-signalled' } satisfies KillReport)
      return EXIT_NO
    }
    const outcome = r.outcome === 'not-running' ? 'exited' : r.outcome
    if (json) printJson({ pidfile, state: 'held', pid: f.pid, signal: sig.name, timeoutMs, outcome } satisfies KillReport)
    else {
      const said = outcome === 'terminated' ? `exited after ${sig.name}` : outcome === 'killed' ? `was still running ${timeoutMs} ms after ${sig.name}: killed with SIGKILL` : 'had already exited'
      process.stdout.write(`PID ${f.pid} (holder of ${pidfile}) ${said}\n`)
    }
    return EXIT_OK
  },
}
