/**
 * What the operator-command specs (`cli-status`, `cli-kill`, `cli-scope`, `cli-lock`, `cli-exec`) share: running the
 * real `sole` command in a child process, holders that say when they hold (a line on stdout,
 * printed only once the lock is taken), and a strict schema check for `--json` output (exact
 * key sets and value types, so a renamed, missing or extra field fails).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import { firstLine } from '../fixtures/children.mjs'
import type { Teardown } from './index.js'

/** The checkout's root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const SOLE = path.join(ROOT, 'bin', 'sole.js')

export interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** Wall time from spawn to close, in milliseconds. */
  ms: number
}

export interface RunOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
  uid?: number
  gid?: number
  /** `'pipe'`: stdin is a pipe closed at once (EOF); default `'ignore'` (/dev/null). */
  stdin?: 'ignore' | 'pipe'
}

/** Run a program to completion with piped stdout/stderr, collecting them. */
export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<Run> {
  const { stdin = 'ignore', ...spawnOpts } = opts
  return new Promise((resolve, reject) => {
    const start = performance.now()
    const c = spawn(file, args, { stdio: [stdin, 'pipe', 'pipe'], ...spawnOpts })
    c.stdin?.end()
    let stdout = ''
    let stderr = ''
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    c.once('error', reject)
    c.once('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: performance.now() - start }))
  })
}

/** Run `sole ARGS…` to completion (stdin /dev/null unless `opts.stdin`), collecting its output. */
export function sole(args: readonly string[], opts: RunOptions = {}): Promise<Run> {
  return run(process.execPath, [SOLE, ...args], opts)
}

/** The one JSON document `sole --json` printed. */
export function json(r: Run): unknown {
  const lines = r.stdout.split('\n').filter((l) => l !== '')
  if (lines.length !== 1) throw new Error(`expected one JSON line on stdout, got ${JSON.stringify(r.stdout)} (stderr ${JSON.stringify(r.stderr)})`)
  return JSON.parse(lines[0])
}

/**
 * A process that holds `file` and has said so: `flock(1)` with `args` (e.g. `['-s']`) running
 * a shell that prints a line only once flock holds the lock. The holder pid the kernel lists is
 * flock's own (`child.pid`). Killing `child` alone leaves its `sleep` holding the inherited
 * description (flock(1) without `-o`); teardown kills both.
 */
export async function flockHolder(t: Teardown, file: string, args: string[] = []): Promise<ChildProcess> {
  // Its own process group, so that teardown ends flock and the command it runs together.
  const c = spawn('flock', [...args, file, 'sh', '-c', 'echo held; exec sleep 300'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true })
  t.teardown(() => {
    try {
      process.kill(-c.pid!, 'SIGKILL')
    } catch {
      // Already gone.
    }
  })
  await firstLine(c)
  return c
}

/**
 * A node process that claims the pidfile `file` with sole and prints `claimed` once it holds
 * it. `ignoreTerm`: it ignores SIGTERM (so only SIGKILL ends it). Killed at teardown.
 */
export async function soleClaimer(t: Teardown, file: string, ignoreTerm = false): Promise<ChildProcess> {
  const lib = path.join(ROOT, 'lib', 'index.js')
  const code = `
    const sole = require(${JSON.stringify(lib)})
    ${ignoreTerm ? "process.on('SIGTERM', () => process.stdout.write('ignored SIGTERM\\n'))" : ''}
    globalThis.claim = sole.claimPidfile(${JSON.stringify(file)})
    process.stdout.write('claimed\\n')
    setInterval(() => {}, 1 << 30)
  `
  const c = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => {
    c.kill('SIGKILL')
  })
  const line = await firstLine(c)
  if (line !== 'claimed') throw new Error(`claimer said ${line}`)
  return c
}

/** Resolve with the exit of `c` (at once if it already exited). */
export function exited(c: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve({ code: c.exitCode, signal: c.signalCode })
  return new Promise((r) => c.once('exit', (code, signal) => r({ code, signal })))
}

/**
 * A schema: a type name (`'string'`, `'number'`, `'integer'`, `'boolean'`, `'null'`), a
 * literal list (`{ oneOf: [...] }`), an alternative (`{ anyOf: [...] }`), an array
 * (`{ array: S }`) or an object with exactly these keys (`{ object: { key: S } }`).
 */
export type Schema =
  | 'string'
  | 'number'
  | 'integer'
  | 'boolean'
  | 'null'
  | { oneOf: readonly unknown[] }
  | { anyOf: readonly Schema[] }
  | { array: Schema }
  | { object: Record<string, Schema> }

/** The first way `v` breaks `s`, or `null` when it conforms. */
export function mismatch(v: unknown, s: Schema, at = '$'): string | null {
  if (typeof s === 'string') {
    const ok =
      s === 'null' ? v === null : s === 'integer' ? Number.isInteger(v) : s === 'number' ? typeof v === 'number' && Number.isFinite(v) : typeof v === s
    return ok ? null : `${at}: ${JSON.stringify(v)} is not ${s}`
  }
  if ('oneOf' in s) return s.oneOf.includes(v) ? null : `${at}: ${JSON.stringify(v)} is not one of ${JSON.stringify(s.oneOf)}`
  if ('anyOf' in s) {
    const why = s.anyOf.map((x) => mismatch(v, x, at))
    return why.includes(null) ? null : why.join(' / ')
  }
  if ('array' in s) {
    if (!Array.isArray(v)) return `${at}: not an array`
    for (let i = 0; i < v.length; i++) {
      const m = mismatch(v[i], s.array, `${at}[${i}]`)
      if (m) return m
    }
    return null
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return `${at}: not an object`
  const want = Object.keys(s.object).sort()
  const got = Object.keys(v).sort()
  if (want.join(',') !== got.join(',')) return `${at}: keys ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`
  for (const k of want) {
    const m = mismatch((v as Record<string, unknown>)[k], s.object[k], `${at}.${k}`)
    if (m) return m
  }
  return null
}

const nullable = (s: Schema): Schema => ({ anyOf: [s, 'null'] })
const kind: Schema = { oneOf: ['pidfile', 'lock-file', 'scope-registry', 'scope-registry-lock', 'unknown', 'directory', 'symlink', 'special', 'missing'] }
const holder: Schema = {
  object: { pid: 'integer', shared: 'boolean', startTime: nullable('integer'), startedAt: nullable('string'), exe: nullable('string'), uid: nullable('integer'), user: nullable('string') },
}
const rule: Schema = { object: { target: 'string', permission: { oneOf: ['read', 'write'] }, recursive: 'boolean' } }
export const allocationSchema: Schema = {
  object: { name: 'string', pid: 'integer', live: 'boolean', delegatedFrom: nullable('string'), sessionId: nullable('string'), rules: { array: rule } },
}

/** `PathStatus` of lib/cli/status.ts: one object schema per state. */
export const pathStatusSchema: Schema = {
  anyOf: [
    { object: { path: 'string', kind, state: { oneOf: ['absent'] } } },
    { object: { path: 'string', kind, state: { oneOf: ['free'] }, stalePid: nullable('integer'), reason: nullable({ oneOf: ['exited', 'pid-reused', 'previous-boot', 'not-locked'] }) } },
    {
      object: {
        path: 'string',
        kind,
        state: { oneOf: ['held'] },
        pid: nullable('integer'),
        locked: 'boolean',
        holders: { array: holder },
        hidden: nullable({ oneOf: ['outside-pid-namespace', 'unnamed'] }),
        since: nullable('string'),
      },
    },
    { object: { path: 'string', kind, state: { oneOf: ['unverified'] }, pid: 'integer' } },
    { object: { path: 'string', kind, state: { oneOf: ['registry'] }, allocations: { array: allocationSchema } } },
    { object: { path: 'string', kind, state: { oneOf: ['error'] }, error: { object: { code: 'string', message: 'string' } } } },
  ],
}

export const statusReportSchema: Schema = { object: { paths: { array: pathStatusSchema } } }

export const killReportSchema: Schema = {
  object: {
    pidfile: 'string',
    state: { oneOf: ['held', 'free', 'absent', 'unverified'] },
    pid: nullable('integer'),
    signal: 'string',
    timeoutMs: 'integer',
    outcome: { oneOf: ['terminated', 'killed', 'exited', 'not-signalled'] },
  },
}

export const scopeListSchema: Schema = { object: { registry: 'string', exists: 'boolean', allocations: { array: allocationSchema } } }
export const scopeReclaimSchema: Schema = { object: { registry: 'string', reclaimed: { array: 'string' } } }
export const scopeRepairSchema: Schema = { object: { registry: 'string', movedTo: nullable('string') } }
export const errorSchema: Schema = {
  // `path` and `pid` appear when the library's error has them (see lib/cli/common.ts printError).
  object: {
    error: {
      anyOf: [
        { object: { code: 'string', message: 'string' } },
        { object: { code: 'string', message: 'string', path: 'string' } },
        { object: { code: 'string', message: 'string', pid: 'integer' } },
        { object: { code: 'string', message: 'string', path: 'string', pid: 'integer' } },
      ],
    },
  },
}
