/**
 * `sole`: the command line over the library, for operators (who holds this lock? stop the
 * daemon in this pidfile, never a recycled pid) and shell scripts (run a command under a lock,
 * make any program single-instance). Each subcommand lives in its own file and is listed in
 * {@link commands}; this file dispatches, prints `--help`/`--version`, and turns whatever a
 * command throws into `sole: <message>` and an exit code (lib/cli/common.ts).
 */
import fs from 'node:fs'
import path from 'node:path'

import { type Command, CliError, EXIT_ERROR, EXIT_OK, jsonWanted, printError, printJson } from './common.js'
import { daemon } from './daemon.js'
import { exec } from './exec.js'
import { harness } from './harness.js'
import { kill } from './kill.js'
import { lock } from './lock.js'
import { scope } from './scope.js'
import { status } from './status.js'

/** Every subcommand, in the order `sole --help` lists them. */
export const commands: Record<string, Command> = { status, lock, exec, kill, daemon, scope, harness }

/** The installed package's version (`sole --version`). */
export function version(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
  return pkg.version
}

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length))
  const list = Object.entries(commands)
    .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
    .join('\n')
  return `Usage: sole COMMAND [OPTIONS] [ARGS…]

Single-owner primitives from the shell: lock files, pidfiles, the scope registry.

Commands:
${list}

Every command takes --json (one JSON document on stdout) and -h/--help.
Errors are printed as "sole: <message>" on stderr.

Options:
  -h, --help     this text; "sole COMMAND --help" for a command's options and exit codes
  -V, --version  print the version ("sole X.Y.Z"; with --json, {"version": "X.Y.Z"})
`
}

/** Run `sole` with `argv` (without node and the script) and exit with the command's code. */
export async function main(argv: readonly string[]): Promise<never> {
  let code: number
  try {
    code = await dispatch(argv, argv[0] === '--json')
  } catch (e) {
    printError(e, jsonWanted(argv))
    code = e instanceof CliError ? e.exit : EXIT_ERROR
  }
  process.exit(code)
}

async function dispatch(argv: readonly string[], json: boolean): Promise<number> {
  // `sole --json COMMAND …` is `sole COMMAND --json …`.
  const [first, ...rest] = argv[0] === '--json' && argv.length > 1 ? [argv[1], '--json', ...argv.slice(2)] : argv
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined
    if (topic !== undefined) return dispatch([topic, '--help'], json)
    process.stdout.write(usage())
    return first === undefined ? EXIT_ERROR : EXIT_OK
  }
  if (first === '-V' || first === '--version') {
    if (json) printJson({ version: version() })
    else process.stdout.write(`sole ${version()}\n`)
    return EXIT_OK
  }
  const command = Object.hasOwn(commands, first) ? commands[first] : undefined
  if (!command) throw new CliError(`unknown command '${first}' (commands: ${Object.keys(commands).join(', ')}; see sole --help)`)
  if (wantsHelp(rest)) {
    process.stdout.write(command.help)
    return EXIT_OK
  }
  return command.run(rest)
}

/** `-h`/`--help` before any `--` (after it, they belong to the program a command runs). */
function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false
    if (a === '-h' || a === '--help') return true
  }
  return false
}
