/**
 * `sole lock`: run a command while holding a lock, with flock(1)'s options and exit codes.
 *
 * Why it is not flock(1): the lock is taken with sole's own lock (O_CLOEXEC, O_NOFOLLOW, a
 * regular file only; a contended wait on a dedicated thread, never libuv's threadpool) and is
 * held in this process only. The command never inherits the descriptor, so a daemon the
 * command leaves behind cannot keep the lock after the command is gone (flock(1) needs `-o`
 * for that), and the lock is released exactly when the command has exited: this process
 * waits for it, then releases, then exits with its status. SIGINT, SIGTERM and SIGHUP sent to
 * this process are forwarded to the command.
 *
 * The other side of that choice, said plainly in the README too: if this process is killed
 * with SIGKILL, the lock is released at once. So the command is made to die with this process
 * (PR_SET_PDEATHSIG = SIGKILL, set through a helper process, see {@link runCommand}); our
 * descriptors are closed and our children signalled during the same exit, in no promised
 * order, so for an instant the lock may be free while the command is being killed.
 *
 * Exit codes are flock(1)'s (util-linux sys-utils/flock.c): the command's status (128+N when
 * a signal N killed it); 1, or `-E N`, on a conflict (`-n`) or timeout (`-w`); 64 (EX_USAGE)
 * for a usage error; 66 (EX_NOINPUT) when the lock file cannot be opened; 73 (EX_CANTCREAT)
 * for a read-only or full filesystem; 71 (EX_OSERR) for out-of-descriptors, memory or locks;
 * 65 (EX_DATAERR) for another locking error; 69 (EX_UNAVAILABLE) when the command cannot be
 * executed. Test: `__test__/cli-lock.spec.ts` (each cross-checked against flock(1)).
 */
import { spawn } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'

import * as native from '../../index.js'
import { lock as takeLock, readPidfile, tryLock, type Lock, type SoleError } from '../index.js'
import { type Command, CliError, describe, optionValue, parse, printJson, seconds } from './common.js'

/** sysexits.h, as flock(1) uses them. */
export const EX_USAGE = 64
export const EX_DATAERR = 65
export const EX_NOINPUT = 66
export const EX_UNAVAILABLE = 69
export const EX_OSERR = 71
export const EX_CANTCREAT = 73

/** Signals sent to `sole lock` that reach the command. */
export const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

const help = `Usage: sole lock [OPTIONS] PATH [--] COMMAND [ARGS…]
       sole lock [OPTIONS] PATH -c 'SHELL COMMAND'

Run COMMAND while holding a lock on PATH (created 0600 if missing), like flock(1). The lock is
held by sole, never by the command: the command does not inherit the descriptor, and the lock
is released the moment the command has exited. SIGINT, SIGTERM and SIGHUP sent to sole are
forwarded to the command. If sole itself is killed with SIGKILL, the lock is released and the
command is killed with it (PR_SET_PDEATHSIG).

Options:
  -s, --shared                  a shared lock (many holders; excludes exclusive ones)
  -x, --exclusive               an exclusive lock (the default)
  -n, --nonblock, --nb          fail at once instead of waiting when the lock is held
  -w, --timeout, --wait SECS    fail after SECS seconds (decimals allowed; 0 means -n)
  -E, --conflict-exit-code N    exit N (0-255) on a conflict or timeout instead of 1
  -c, --command 'CMD'           (right after PATH) run CMD with $SHELL -c (default /bin/sh)
  -q, --quiet                   print nothing on a conflict or timeout (flock(1)'s behaviour)
      --create-dirs             create missing parent directories (mode 0700)
      --json                    errors and conflicts as {"error": {...}} on stdout
  -h, --help                    this text

Exit status (flock(1)'s):
  the command's exit status, or 128+N when signal N killed it
  1   the lock is held (-n) or the timeout ran out (-w); the -E code instead when given
  64  usage error (unknown option, missing PATH or COMMAND, bad -w or -E value)
  65  the lock could not be taken for another reason
  66  the lock file cannot be opened (missing directory, permission, symlink, not a file)
  69  the command cannot be executed (not found, not executable)
  71  out of file descriptors, memory or kernel locks
  73  the lock file cannot be created (read-only or full filesystem)
`

const spec = {
  shared: { short: 's' },
  exclusive: { short: 'x' },
  nonblock: { short: 'n' },
  nb: {},
  nonblocking: {},
  timeout: { short: 'w', value: true },
  wait: { value: true },
  'conflict-exit-code': { short: 'E', value: true },
  quiet: { short: 'q' },
  'create-dirs': {},
  // Internal: the short-lived process `sole lock` spawns to start the command (see runCommand).
  'exec-child-of': { value: true },
}

export interface LockRequest {
  path: string
  shared: boolean
  /** `0`: do not wait (`-n`, `-w 0`); `undefined`: wait forever. */
  timeoutMs?: number
  conflictExit: number
  quiet: boolean
  json: boolean
  createDirs: boolean
  command: string[]
  /** Internal (`--exec-child-of PID`): this process only starts the command for `sole lock` PID. */
  childOf?: number
}

/** Read `sole lock`'s arguments (usage errors exit 64, as flock(1)'s). */
export function request(argv: readonly string[]): LockRequest {
  const usage = (msg: string) => new CliError(`${msg} (see sole lock --help)`, EX_USAGE)
  const p = parse(argv, spec, { commandAfter: 1, usageExit: EX_USAGE })
  const has = (...names: string[]) => names.some((n) => p.options.has(n))
  if (has('shared') && has('exclusive')) throw usage('-s/--shared and -x/--exclusive contradict each other: give one')
  const path = p.positionals[0]
  if (path === undefined) throw usage('a lock file PATH is required')
  let command = p.command
  if (command === null) throw usage(`a COMMAND to run under the lock on ${path} is required`)
  if (command[0] === '-c' || command[0] === '--command') {
    if (command.length !== 2) throw usage(`${command[0]} takes exactly one argument, the shell command (quote it)`)
    const shell = process.env.SHELL ? process.env.SHELL : '/bin/sh'
    command = [shell, '-c', command[1]]
  }
  const timeoutText = optionValue(p, 'timeout') ?? optionValue(p, 'wait')
  let timeoutMs = timeoutText === undefined ? undefined : seconds(timeoutText, '-w/--timeout', EX_USAGE)
  if (has('nonblock', 'nb', 'nonblocking')) timeoutMs = 0
  const e = optionValue(p, 'conflict-exit-code')
  let conflictExit = 1
  if (e !== undefined) {
    if (!/^\s*[+-]?\d+\s*$/.test(e)) throw usage(`-E/--conflict-exit-code: '${e}' is not a number`)
    conflictExit = Number(e)
    if (conflictExit < 0 || conflictExit > 255) throw usage(`-E/--conflict-exit-code: ${e} is out of range (expected 0 to 255)`)
  }
  return {
    path,
    shared: has('shared'),
    timeoutMs,
    conflictExit,
    quiet: has('quiet'),
    json: has('json'),
    createDirs: has('create-dirs'),
    command,
    ...childOf(optionValue(p, 'exec-child-of')),
  }
}

function childOf(v: string | undefined): { childOf?: number } {
  if (v === undefined) return {}
  const pid = Number(v)
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(pid) || pid < 1) throw new CliError(`--exec-child-of: '${v}' is not a pid`, EX_USAGE)
  return { childOf: pid }
}

/** flock(1)'s exit code for a failure to open or lock the file. */
export function exitForLockError(code: string): number {
  switch (code) {
    case 'EMFILE':
    case 'ENFILE':
    case 'ENOMEM':
    case 'ENOLCK':
      return EX_OSERR
    case 'EROFS':
    case 'ENOSPC':
    case 'EDQUOT':
      return EX_CANTCREAT
    case 'ENOENT':
    case 'EACCES':
    case 'EPERM':
    case 'ENOTDIR':
    case 'EISDIR':
    case 'ELOOP':
    case 'ENAMETOOLONG':
    case 'ESYMLINK':
    case 'ENOTREG':
    case 'EINSECURE':
    case 'EINVAL':
    case 'ENXIO':
    case 'ENODEV':
      return EX_NOINPUT
    default:
      return EX_DATAERR
  }
}

/** The library's advice names its option (`{ createDirs: true }`); here it is a flag. */
export function cliWording(message: string): string {
  return message.replace('pass { createDirs: true }', 'pass --create-dirs')
}

/** Who holds `path`, for the conflict message (best effort: the holder may be gone by now). */
function holderOf(path: string): number | undefined {
  try {
    const s = readPidfile(path)
    return s.state === 'held' ? s.pid : undefined
  } catch {
    return undefined
  }
}

/** A conflict or timeout: message (unless `-q`), exit with the conflict code. */
function refused(r: LockRequest, code: 'EHELD' | 'ETIMEDOUT'): number {
  if (r.quiet) return r.conflictExit
  const pid = holderOf(r.path)
  const by = pid === undefined ? 'another process' : `PID ${pid}`
  const kind = r.shared ? 'a shared' : 'an exclusive'
  const message =
    code === 'EHELD'
      ? `${r.path} is locked by ${by}; ${kind} lock was not granted (-n). Run without -n (or with -w SECS) to wait.`
      : `timed out after ${(r.timeoutMs ?? 0) / 1000}s waiting for ${kind} lock on ${r.path}, held by ${by}.`
  process.stderr.write(`sole: ${message}\n`)
  if (r.json) printJson({ error: { code, message, path: r.path, ...(pid === undefined ? {} : { pid }) } })
  return r.conflictExit
}

/** Take the lock as asked: `null` on a conflict or timeout. */
async function acquire(r: LockRequest): Promise<Lock | null> {
  const opts = { shared: r.shared, createDirs: r.createDirs }
  if (r.timeoutMs === 0) return tryLock(r.path, opts)
  try {
    return await takeLock(r.path, { ...opts, ...(r.timeoutMs === undefined ? {} : { timeoutMs: r.timeoutMs }) })
  } catch (e) {
    if ((e as SoleError).code === 'ETIMEDOUT') return null
    throw e
  }
}

/** This command line, to start the helper process of {@link runCommand}. */
const SOLE_BIN = path.join(__dirname, '..', '..', 'bin', 'sole.js')

/**
 * Run the command; resolve with sole's exit code once it has exited (the lock still held).
 *
 * The command should die with this process even when this process is SIGKILLed (its lock is
 * gone then), which takes PR_SET_PDEATHSIG in the child, between fork and exec: Node's `spawn`
 * has no hook there. So the child spawned is `sole lock --exec-child-of OUR_PID … -- COMMAND`,
 * a short-lived process that asks the kernel for SIGKILL when we exit, checks that we are still
 * its parent, and then execs the command in its own place (same pid, so the signals we
 * forward and the status we wait for are the command's). It costs one more Node start-up.
 */
function runCommand(r: LockRequest): Promise<number> {
  return new Promise((resolve) => {
    const file = r.command[0]
    const helper = ['lock', '--exec-child-of', String(process.pid), ...(r.json ? ['--json'] : []), r.path, '--']
    const child = spawn(process.execPath, [SOLE_BIN, ...helper, ...r.command], { stdio: 'inherit' })
    const forward = (sig: NodeJS.Signals) => () => {
      child.kill(sig)
    }
    const handlers = FORWARDED.map((sig) => [sig, forward(sig)] as const)
    for (const [sig, h] of handlers) process.on(sig, h)
    let done = false
    const finish = (code: number) => {
      if (done) return
      done = true
      for (const [sig, h] of handlers) process.off(sig, h)
      resolve(code)
    }
    child.once('error', (e: NodeJS.ErrnoException) => {
      // The helper never ran (spawn reports execvp's errno): flock(1) exits 69 (71 for ENOMEM).
      const why =
        e.code === 'ENOENT'
          ? 'command not found (give its full path, or fix PATH)'
          : e.code === 'EACCES'
            ? 'permission denied (not an executable file)'
            : `${e.code ?? 'error'}: ${e.message}`
      const message = `failed to execute ${file}: ${why}`
      process.stderr.write(`sole: ${message}\n`)
      if (r.json) printJson({ error: { code: e.code ?? 'EINTERNAL', message } })
      finish(e.code === 'ENOMEM' ? EX_OSERR : EX_UNAVAILABLE)
    })
    child.once('exit', (code, signal) => {
      if (code !== null) finish(code)
      else finish(128 + (signal ? (os.constants.signals[signal] ?? 0) : 0))
    })
  })
}

export const lock: Command = {
  summary: 'run a command while holding a lock file (flock(1)-compatible options and exit codes)',
  help,
  async run(argv) {
    const r = request(argv)
    if (r.childOf !== undefined) return execChild(r)
    let held: Lock | null
    try {
      held = await acquire(r)
    } catch (e) {
      const { code } = describe(e)
      const message = cliWording(describe(e).message)
      process.stderr.write(`sole: ${message}\n`)
      if (r.json) printJson({ error: { code, message, path: r.path } })
      return exitForLockError(code)
    }
    if (!held) return refused(r, r.timeoutMs === 0 ? 'EHELD' : 'ETIMEDOUT')
    try {
      return await runCommand(r)
    } finally {
      // Released only now: the command has exited (or never started).
      held.release()
    }
  },
}

/**
 * The helper process of {@link runCommand}: become the command, set to die with `sole lock`
 * (`execAsChildOf`, internal to this CLI). Returns only when the command could not be
 * executed: flock(1)'s 69 (71 for ENOMEM), with the reason.
 */
function execChild(r: LockRequest): number {
  try {
    native.execAsChildOf(r.childOf!, r.command)
  } catch (e) {
    const { code, message } = describe(e)
    process.stderr.write(`sole: ${message}\n`)
    if (r.json) printJson({ error: { code, message } })
    return code === 'ENOMEM' ? EX_OSERR : EX_UNAVAILABLE
  }
  return EX_UNAVAILABLE
}
