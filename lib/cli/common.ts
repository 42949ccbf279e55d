/**
 * What every `sole` subcommand shares: one argument parser (flock(1)-style short options,
 * `--long[=value]`, `--` ends options, and for commands that run a program everything after
 * their positionals is the program's argv), one way to print errors (`sole: <message>` on
 * stderr; with `--json`, also `{"error": {...}}` on stdout), and the exit codes.
 *
 * Exit codes shared by every command (a command may define more, documented in its help):
 * 0 success, 1 "no" (not held, conflict, nothing to do), 2 an error or a usage error.
 */
import type { SoleError } from '../errors.js'

export const EXIT_OK = 0
export const EXIT_NO = 1
export const EXIT_ERROR = 2

/** A refusal the command itself decided: printed as `sole: <message>`, exit `exit`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exit: number = EXIT_ERROR,
    readonly code: string = 'EUSAGE',
  ) {
    super(message)
  }
}

/** One option of a command: its long name is the key; `short` its letter; `value` when it takes one. */
export interface OptionSpec {
  short?: string
  value?: boolean
  /** Repeatable (`--registry a --registry b`): every value is kept, in order. */
  many?: boolean
}

export interface Parsed {
  /** Long name → value (`true` for flags; the last value, or all of them with `many`). */
  options: Map<string, string | true | string[]>
  positionals: string[]
  /** The program and its arguments, for commands that run one (`null` when none was given). */
  command: string[] | null
}

export interface ParseRules {
  /**
   * After this many positionals, everything left is the program to run (flock(1)'s
   * `flock FILE COMMAND ARGS…`), with or without a `--` before it. `undefined`: no program;
   * every non-option is a positional.
   */
  commandAfter?: number
  /** The exit code of a usage error (2 unless the command mimics a tool that uses another). */
  usageExit?: number
}

/** Whether the last {@link parse} saw `--json` as sole's own option; `undefined` before any parse. */
let parsedJson: boolean | undefined

/**
 * Whether errors should also be printed as JSON: what the command's parser decided (a
 * `--json` after `--`, or in a program's arguments, is the program's, not sole's); before the
 * command parsed its arguments, any `--json` ahead of a `--`.
 */
export function jsonWanted(argv: readonly string[]): boolean {
  if (parsedJson !== undefined) return parsedJson
  const end = argv.indexOf('--')
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json')
}

/**
 * Parse `argv` against `spec` (plus the global `--json` and `-h/--help`). Throws a
 * {@link CliError} for an unknown option, a missing value or a value given to a flag.
 */
export function parse(argv: readonly string[], spec: Record<string, OptionSpec>, rules: ParseRules = {}): Parsed {
  const all: Record<string, OptionSpec> = { json: {}, help: { short: 'h' }, ...spec }
  const byShort = new Map<string, string>()
  for (const [name, o] of Object.entries(all)) if (o.short) byShort.set(o.short, name)
  const usage = (msg: string) => new CliError(`${msg} (see --help)`, rules.usageExit ?? EXIT_ERROR)
  const options = new Map<string, string | true | string[]>()
  const positionals: string[] = []
  let command: string[] | null = null
  const set = (name: string, value: string | true) => {
    if (all[name].many) {
      const prev = options.get(name)
      options.set(name, [...(Array.isArray(prev) ? prev : []), value as string])
    } else options.set(name, value)
  }
  let i = 0
  const takeValue = (name: string, inline: string | undefined): string => {
    if (inline !== undefined) return inline
    if (i + 1 >= argv.length) throw usage(`option --${name} needs a value`)
    return argv[++i]
  }
  for (; i < argv.length; i++) {
    const arg = argv[i]
    if (rules.commandAfter !== undefined && positionals.length >= rules.commandAfter) {
      command = argv.slice(arg === '--' ? i + 1 : i)
      break
    }
    if (arg === '--') {
      const rest = argv.slice(i + 1)
      if (rules.commandAfter === undefined) positionals.push(...rest)
      else {
        const need = rules.commandAfter - positionals.length
        positionals.push(...rest.slice(0, need))
        command = rest.slice(need)
      }
      break
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      const name = arg.slice(2, eq < 0 ? undefined : eq)
      const inline = eq < 0 ? undefined : arg.slice(eq + 1)
      const o = all[name]
      if (!o) throw usage(`unknown option --${name}`)
      if (o.value) set(name, takeValue(name, inline))
      else if (inline !== undefined) throw usage(`option --${name} takes no value`)
      else set(name, true)
    } else if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const name = byShort.get(arg[j])
        if (!name) throw usage(`unknown option -${arg[j]}`)
        if (all[name].value) {
          set(name, takeValue(name, j + 1 < arg.length ? arg.slice(j + 1) : undefined))
          break
        }
        set(name, true)
      }
    } else positionals.push(arg)
  }
  if (command !== null && command.length === 0) command = null
  parsedJson = options.has('json')
  return { options, positionals, command }
}

/** The value of a single-valued option, or `undefined`. */
export function optionValue(p: Parsed, name: string): string | undefined {
  const v = p.options.get(name)
  if (v === undefined || v === true) return undefined
  return Array.isArray(v) ? v[v.length - 1] : v
}

/**
 * Seconds as flock(1) reads them (`-w 2.5`): a finite, non-negative decimal number. Returns
 * milliseconds, rounded up so that a timeout is never shorter than asked.
 */
export function seconds(text: string, option: string, usageExit = EXIT_ERROR): number {
  const n = /^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(text) ? Number(text) : NaN
  const ms = Math.ceil(n * 1000)
  if (!Number.isFinite(n) || !Number.isSafeInteger(ms)) {
    throw new CliError(`${option}: '${text}' is not a number of seconds (a decimal number >= 0)`, usageExit)
  }
  return ms
}

/** The message of anything thrown, and its code when it has one. */
export function describe(e: unknown): { code: string; message: string; path?: string; pid?: number } {
  if (e instanceof CliError) return { code: e.code, message: e.message }
  const err = e as SoleError
  if (err instanceof Error) {
    return {
      code: typeof err.code === 'string' ? err.code : 'EINTERNAL',
      message: err.message,
      ...(typeof err.path === 'string' ? { path: err.path } : {}),
      ...(typeof err.pid === 'number' ? { pid: err.pid } : {}),
    }
  }
  return { code: 'EINTERNAL', message: String(e) }
}

/**
 * Print an error the one way: `sole: <message>` on stderr, and with `--json` also
 * `{"error": {code, message, path?, pid?}}` on stdout (`path`, `pid`: the library error's own).
 */
export function printError(e: unknown, json: boolean): void {
  const error = describe(e)
  process.stderr.write(`sole: ${error.message}\n`)
  if (json) printJson({ error })
}

/** One JSON document on stdout, one line. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`)
}

/** A subcommand: `run` returns the exit code (or throws, which is exit 2 unless a CliError says otherwise). */
export interface Command {
  /** One line for `sole --help`. */
  summary: string
  /** The full `sole COMMAND --help` text. */
  help: string
  run(argv: readonly string[]): Promise<number> | number
}
