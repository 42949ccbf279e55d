/**
 * `sole exec --pidfile PATH -- COMMAND [ARGS…]`: claim the pidfile, then become the command.
 *
 * Why: any program becomes a single-instance program that holds its own pidfile. The claim is
 * sole's (`claimPidfile`: an exclusive flock, `PID\n` written and fsynced, the identity record
 * beside it), and this process then `execve`s the command: same pid, so the file names the
 * command; the claim's descriptor crosses the exec, so the kernel keeps the lock exactly as
 * long as the command (and any child it passes the descriptor to) runs. What Node changed that
 * a new program must not inherit (ignored SIGPIPE/SIGXFSZ, the signal mask, close-on-exec and
 * non-blocking standard streams) is reset first: see `crates/pidfile/src/exec.rs`.
 *
 * The command is looked up in PATH before the pidfile is touched, so "command not found"
 * (127) and "not executable" (126) never claim or empty a pidfile. When `execve` itself fails
 * after the claim, the claim is released (the file emptied) before this process exits 126.
 *
 * Exit codes (only when the command did not start; once it runs, its own): 1 the pidfile is
 * held ("already running as PID N"), 2 a usage error or the pidfile cannot be claimed, 126
 * the command cannot be executed, 127 the command was not found.
 * Test: `__test__/cli-exec.spec.ts`.
 */
import * as native from '../../index.js'
import type { SoleError } from '../errors.js'
import { type Command, CliError, describe, EXIT_ERROR, EXIT_NO, optionValue, parse, printJson } from './common.js'
import { cliWording } from './lock.js'

/** The command was found but could not be executed (as shells exit). */
export const EXIT_CANNOT_EXECUTE = 126
/** The command was not found (as shells exit). */
export const EXIT_NOT_FOUND = 127

const help = `Usage: sole exec --pidfile PATH [--] COMMAND [ARGS…]

Claim the pidfile PATH (created 0600 if missing; "PID\\n" written), then replace sole with
COMMAND: the command keeps sole's pid, so the pidfile names it, and holds the pidfile's lock
until it exits. A second "sole exec" on the same pidfile is refused while it runs.

The command inherits the pidfile's descriptor (and passes it on to children it starts, like
any inherited descriptor: a child that outlives it keeps the pidfile claimed). It starts with
default signal dispositions, no blocked signals, and blocking standard streams.

Options:
  -p, --pidfile PATH    the pidfile to claim (required)
      --create-dirs     create missing parent directories (mode 0700)
      --json            errors as {"error": {"code", "message", "path"?, "pid"?}} on stdout
  -h, --help            this text

Exit status (sole's own, before the command runs; after that, the command's):
  1    the pidfile is held: "already running as PID N (pidfile: PATH)"
  2    usage error, or the pidfile cannot be claimed (missing directory, permission, symlink)
  126  the command cannot be executed (permission, not a regular file, exec failed)
  127  the command was not found
`

export const exec: Command = {
  summary: 'claim a pidfile, then become the command (single instance, same pid)',
  help,
  run(argv) {
    // The command's name is the one positional; everything after it is its arguments.
    const p = parse(argv, { pidfile: { short: 'p', value: true }, 'create-dirs': {} }, { commandAfter: 1 })
    const json = p.options.has('json')
    const path = optionValue(p, 'pidfile')
    if (path === undefined) throw new CliError('--pidfile PATH is required (see sole exec --help)')
    if (p.positionals.length === 0) throw new CliError(`a COMMAND to run holding the pidfile ${path} is required (see sole exec --help)`)
    const command = [p.positionals[0], ...(p.command ?? [])]
    try {
      native.execWithPidfile(path, command, { createDirs: p.options.has('create-dirs') })
    } catch (e) {
      const err = e as SoleError & { stage?: string }
      const message = cliWording(describe(e).message)
      process.stderr.write(`sole: ${message}\n`)
      if (json) {
        const { code } = describe(e)
        const extra = { ...(typeof err.path === 'string' ? { path: err.path } : {}), ...(typeof err.pid === 'number' ? { pid: err.pid } : {}) }
        printJson({ error: { code, message, ...extra } })
      }
      return exitFor(err)
    }
    // execWithPidfile returns only by throwing.
    return EXIT_ERROR
  },
}

/** The exit code for an error of `execWithPidfile`. */
function exitFor(e: SoleError & { stage?: string }): number {
  if (e.code === 'EHELD') return EXIT_NO
  if (e.stage === 'lookup') return e.code === 'ENOENT' ? EXIT_NOT_FOUND : EXIT_CANNOT_EXECUTE
  if (e.stage === 'execve') return EXIT_CANNOT_EXECUTE
  return EXIT_ERROR
}
