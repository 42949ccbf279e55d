/**
 * `sole status PATH…`: what each path is (pidfile, lock file, scope registry) and who holds it,
 * for an operator or a script (`sole status /run/app.pid && echo running`).
 *
 * Read-only by construction: the holder comes from the kernel's lock list (`readPidfile`,
 * `lockHolders`: `/proc/locks`), the kind from the content and the `user.sole.identity`
 * attribute read on a read-only descriptor. Nothing here creates, locks, truncates or writes a
 * file, so a claim or `flock -n` racing a status is never refused because of it. (One
 * exception, the library's: inside a child pid namespace, a file with no visible holder is
 * probed with a momentary shared lock to tell "free" from "held outside this namespace".)
 */
import fs from 'node:fs'
import path from 'node:path'

import { type ProcessIdentity, type StaleReason, lockHolders, processIdentity, readPidfile } from '../index.js'
import { type Command, CliError, EXIT_ERROR, EXIT_NO, EXIT_OK, describe, parse, printJson } from './common.js'
import { type AllocationReport, snapshot } from './scope.js'

/**
 * What a path is. `pidfile`: sole's identity record is on it, or its content is one pid
 * (another tool's pidfile). `lock-file`: an empty file (sole's and flock(1)'s lock files are
 * empty; so is a pidfile its owner released). `scope-registry`: a scope table sole wrote.
 * `scope-registry-lock`: `X.lock` beside a scope table `X`. `unknown`: any other content (or
 * unreadable to us), still checked for locks. `directory`, `symlink`, `special` (FIFO, socket,
 * device): refused. `missing`: nothing at the path.
 */
export type FileKind = 'pidfile' | 'lock-file' | 'scope-registry' | 'scope-registry-lock' | 'unknown' | 'directory' | 'symlink' | 'special' | 'missing'

/** A process holding the file's lock. */
export interface HolderReport {
  pid: number
  /** `true` for a shared (`LOCK_SH`) lock; `false` for exclusive, or for a pidfile proven by its record without a lock. */
  shared: boolean
  /** Start time in clock ticks since boot (`/proc/PID/stat` field 22), or `null` if unreadable. */
  startTime: number | null
  /** The same start time as an ISO 8601 date, or `null`. */
  startedAt: string | null
  /** The executable, or `null` when /proc hides it (another user's process without privilege). */
  exe: string | null
  uid: number | null
  /** The user name of `uid` (from /etc/passwd), or `null`. */
  user: string | null
}

interface Base {
  /** The path as given on the command line. */
  path: string
  kind: FileKind
  /** Only on a network filesystem (`NFS`, `FUSE`, …), where flock may not hold: its name. */
  networkFs?: string
}

/** One path's answer; `state` says which fields it has. */
export type PathStatus =
  | (Base & { state: 'absent' })
  | (Base & { state: 'free'; stalePid: number | null; reason: StaleReason | null })
  | (Base & {
      state: 'held'
      /** The holder (the first one, for a shared lock); `null` when the kernel does not show it (`hidden`). */
      pid: number | null
      /** `true`: the kernel lists the lock; `false`: a pidfile proven by its identity record, without a lock. */
      locked: boolean
      /** Every holder (several for a shared lock); empty when `hidden`. */
      holders: HolderReport[]
      /**
       * `outside-pid-namespace`: held by a process this pid namespace cannot see; `unnamed`:
       * locked, but the locker exited (a child that inherited the descriptor holds it). `null`
       * otherwise.
       */
      hidden: 'outside-pid-namespace' | 'unnamed' | null
      /** When the holder wrote this pidfile (its mtime, when the file names the holder), or `null`. */
      since: string | null
    })
  | (Base & { state: 'unverified'; pid: number })
  | (Base & { state: 'registry'; allocations: AllocationReport[] })
  | (Base & { state: 'error'; error: { code: string; message: string } })

/** `sole status --json`: one entry per path, in the order given. */
export interface StatusReport {
  paths: PathStatus[]
}

const HELP = `Usage: sole status [--json] PATH…

For each PATH: what it is and who holds it. Never creates, locks, truncates or writes a file.

What it is (decided on the file's own bytes, never following a symlink):
  pidfile              sole's identity record (xattr user.sole.identity) is on it, or its
                       content is one pid (another tool's pidfile)
  lock-file            an empty file (lock files of sole and flock(1) are empty, and so is a
                       pidfile its owner released)
  scope-registry       a scope table sole wrote; its allocations are listed, live or stale
  scope-registry-lock  X.lock beside a scope table X
  unknown              other content, or a file we may not read; its locks are still shown
  directory, symlink, special (FIFO, socket, device): refused (exit 2)

State:
  absent      no such file
  free        nobody holds it; a pid it still names and why that pid is not the owner
              (exited, pid-reused, previous-boot, not-locked)
  held        by PID: the process the kernel lists as holding the lock, alive (never a dead
              pid), with its start time, executable and user; every holder of a shared lock;
              or "outside this pid namespace" when the kernel hides the holder
  unverified  a plain pidfile naming a live pid, with no lock and no record: nothing proves
              that process wrote it
  registry    a scope registry data file

Options:
  --json      one JSON document on stdout (see the README for its shape)
  -h, --help  this text

Exit status (like systemctl is-active):
  0  every PATH is held (a scope registry counts as held)
  1  some PATH is free, absent or unverified (and none had an error)
  2  an error for some PATH (reported for that path; the others are still shown), or a usage error
`

export const status: Command = {
  summary: 'what a lock file, pidfile or scope registry is and who holds it',
  help: HELP,
  run(argv) {
    const p = parse(argv, {})
    const json = p.options.has('json')
    if (p.positionals.length === 0) throw new CliError('status needs at least one PATH (see --help)')
    const paths = p.positionals.map(statusOf)
    if (json) printJson({ paths } satisfies StatusReport)
    else process.stdout.write(paths.map(text).join(''))
    for (const s of paths) if (s.state === 'error') process.stderr.write(`sole: ${s.error.message}\n`)
    if (paths.some((s) => s.state === 'error')) return EXIT_ERROR
    if (paths.some((s) => s.state !== 'held' && s.state !== 'registry')) return EXIT_NO
    return EXIT_OK
  },
}

/** Bytes read to decide what a file is (a pidfile's pid, a table's first bytes). */
const HEAD_BYTES = 4096

/** The status of one path, never throwing: a failure is that path's `error` state. */
export function statusOf(given: string): PathStatus {
  let kind: FileKind = 'missing'
  try {
    if (given === '' || given.includes('\0')) throw new CliError(`'${given.replace(/\0/g, '\\0')}' is not a path`, EXIT_ERROR, 'EINVAL')
    let st: fs.Stats
    try {
      st = fs.lstatSync(given)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { path: given, kind, state: 'absent' }
      throw e
    }
    if (st.isSymbolicLink()) {
      kind = 'symlink'
      throw new CliError(`${given} is a symlink; sole never follows one (a planted link must not redirect it): name the file itself`, EXIT_ERROR, 'ESYMLINK')
    }
    if (st.isDirectory()) {
      kind = 'directory'
      throw new CliError(`${given} is a directory, not a lock file or pidfile: name the file in it (for a daemon directory, ${path.join(given, 'daemon.lock')})`, EXIT_ERROR, 'ENOTREG')
    }
    if (!st.isFile()) {
      kind = 'special'
      throw new CliError(`${given} is not a regular file (a FIFO, socket or device); sole only uses regular files`, EXIT_ERROR, 'ENOTREG')
    }
    const head = readHead(given)
    const listing = lockHolders(given)
    if (listing === null) return { path: given, kind, state: 'absent' }
    kind = kindOf(given, head, listing.identityRecord ?? null)
    if (kind === 'scope-registry') {
      const table = snapshot(path.resolve(given))
      if (!table.exists) return { path: given, kind: 'missing', state: 'absent' }
      return { path: given, kind, state: 'registry', allocations: table.allocations }
    }
    return lockState(given, kind, listing.holders)
  } catch (e) {
    const { code, message } = describe(e)
    const shown = (e as NodeJS.ErrnoException).syscall ? `${given}: ${message}` : message
    return { path: given, kind, state: 'error', error: { code, message: shown } }
  }
}

/** Up to {@link HEAD_BYTES} of the file, read-only, never through a symlink; `null` when we may not read it. */
function readHead(file: string): Buffer | null {
  let fd: number
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EACCES') return null
    throw e
  }
  try {
    if (!fs.fstatSync(fd).isFile()) return null
    const buf = Buffer.alloc(HEAD_BYTES)
    const n = fs.readSync(fd, buf, 0, HEAD_BYTES, 0)
    return buf.subarray(0, n)
  } finally {
    fs.closeSync(fd)
  }
}

function kindOf(file: string, head: Buffer | null, record: string | null): FileKind {
  if (record !== null && record.startsWith('sole-identity/')) return 'pidfile'
  if (head === null) return 'unknown'
  const textual = head.toString('utf8')
  if (textual.trimStart().startsWith('{') && looksLikeTable(file)) return 'scope-registry'
  if (/^[ \t]*\d+[ \t]*\n?$/.test(textual)) return 'pidfile'
  if (head.length === 0) return 'lock-file'
  if (file.endsWith('.lock') && looksLikeTable(file.slice(0, -'.lock'.length))) return 'scope-registry-lock'
  return 'unknown'
}

/** Does `file` hold a scope table? Asked of the registry's own reader (read-only, never through a symlink). */
function looksLikeTable(file: string): boolean {
  try {
    return snapshot(path.resolve(file)).exists
  } catch {
    return false
  }
}

/** The state of a lock file or pidfile, from the library's reader plus every shared holder. */
function lockState(file: string, kind: FileKind, listed: { pid: number; shared: boolean }[]): PathStatus {
  let r: ReturnType<typeof readPidfile>
  try {
    r = readPidfile(file)
  } catch (e) {
    const err = e as { code?: string; holder?: string }
    if (err.code !== 'EUNKNOWNHOLDER') throw e
    const hidden = err.holder === 'outside-pid-namespace' ? 'outside-pid-namespace' : 'unnamed'
    return { path: file, kind, state: 'held', pid: null, locked: true, holders: [], hidden, since: null }
  }
  const where = r.state !== 'absent' && r.networkFs !== undefined ? { networkFs: r.networkFs } : {}
  switch (r.state) {
    case 'absent':
      return { path: file, kind: 'missing', state: 'absent' }
    case 'free':
      return { path: file, kind, state: 'free', stalePid: r.stalePid ?? null, reason: r.reason ?? null, ...where }
    case 'unverified':
      return { path: file, kind, state: 'unverified', pid: r.pid, ...where }
    case 'held': {
      const first = listed.find((h) => h.pid === r.pid)
      const holders: HolderReport[] = [holderReport(r.pid, first?.shared ?? false, r.identity ?? null)]
      for (const h of listed) {
        if (h.pid === r.pid) continue
        // Another shared holder: listed only while it still runs (never a dead pid).
        let id: ProcessIdentity
        try {
          id = processIdentity(h.pid)
        } catch {
          continue
        }
        holders.push(holderReport(h.pid, h.shared, id))
      }
      return { path: file, kind, state: 'held', pid: r.pid, locked: r.locked, holders, hidden: null, since: claimedAt(file, r.pid), ...where }
    }
  }
}

/** The pidfile's mtime when its content is the holder's pid (the claim wrote it), else `null`. */
function claimedAt(file: string, pid: number): string | null {
  try {
    const head = readHead(file)
    if (head === null || head.toString('utf8').trim() !== String(pid)) return null
    return fs.lstatSync(file).mtime.toISOString()
  } catch {
    return null
  }
}

function holderReport(pid: number, shared: boolean, id: ProcessIdentity | null): HolderReport {
  const startTime = id ? id.startTime : null
  return { pid, shared, startTime, startedAt: startTime === null ? null : startedAt(startTime), exe: id?.exePath ?? null, uid: id ? id.uid : null, user: id ? userName(id.uid) : null }
}

/**
 * Clock ticks since boot as a date: boot time (`btime` in /proc/stat) plus ticks / USER_HZ.
 * USER_HZ is 100 on every Linux architecture Node.js runs on (the kernel fixes it for /proc,
 * whatever the internal HZ).
 */
function startedAt(ticks: number): string | null {
  const btime = bootTime()
  return btime === null ? null : new Date((btime + ticks / 100) * 1000).toISOString()
}

let btimeCache: number | null | undefined
function bootTime(): number | null {
  if (btimeCache === undefined) {
    const m = /^btime (\d+)$/m.exec(safeRead('/proc/stat') ?? '')
    btimeCache = m ? Number(m[1]) : null
  }
  return btimeCache
}

let users: Map<number, string> | undefined
function userName(uid: number): string | null {
  if (!users) {
    users = new Map()
    for (const line of (safeRead('/etc/passwd') ?? '').split('\n')) {
      const f = line.split(':')
      if (f.length >= 3 && /^\d+$/.test(f[2]) && !users.has(Number(f[2]))) users.set(Number(f[2]), f[0])
    }
  }
  return users.get(uid) ?? null
}

function safeRead(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    return null
  }
}

/** The human form of one path's status (one or more lines), with a warning line for a file on a network filesystem. */
function text(s: PathStatus): string {
  const body = textOf(s)
  return s.networkFs === undefined ? body : `${body}  on a ${s.networkFs} filesystem: flock there may not be a lock every process sees\n`
}

function textOf(s: PathStatus): string {
  const what = s.kind === 'missing' ? '' : ` (${s.kind})`
  switch (s.state) {
    case 'absent':
      return `${s.path}: absent\n`
    case 'free': {
      const stale = s.stalePid === null ? '' : `; names PID ${s.stalePid}, not its owner (${reasonText(s.reason)})`
      return `${s.path}${what}: free${stale}\n`
    }
    case 'unverified':
      return `${s.path}${what}: unverified: names live PID ${s.pid}, but holds no lock and no identity record, so nothing proves that process wrote it\n`
    case 'error':
      return `${s.path}${what}: error ${s.error.code}\n`
    case 'registry': {
      const live = s.allocations.filter((a) => a.live).length
      let out = `${s.path}${what}: ${s.allocations.length} allocation${s.allocations.length === 1 ? '' : 's'} (${live} live, ${s.allocations.length - live} stale)\n`
      for (const a of s.allocations) out += `  ${a.name}  pid ${a.pid}  ${a.live ? 'live' : 'stale'}${a.delegatedFrom === null ? '' : `  delegated from ${a.delegatedFrom}`}\n`
      return out
    }
    case 'held': {
      if (s.hidden === 'outside-pid-namespace') return `${s.path}${what}: held by a process outside this pid namespace (not visible here; look from the host: fuser ${s.path})\n`
      if (s.hidden === 'unnamed') return `${s.path}${what}: held, but the process that locked it has exited (a child that inherited the descriptor holds it; find it with fuser ${s.path})\n`
      const shared = s.holders.length > 1 || s.holders.some((h) => h.shared)
      let out = `${s.path}${what}: held${shared ? ' (shared)' : ''} by PID ${s.holders.map((h) => h.pid).join(', ')}${s.locked ? '' : ' (no lock: proven by its identity record)'}\n`
      for (const h of s.holders) {
        const parts = [`PID ${h.pid}`]
        if (h.exe !== null) parts.push(h.exe)
        if (h.uid !== null) parts.push(`user ${h.user ?? h.uid}`)
        if (h.startedAt !== null) parts.push(`started ${h.startedAt}`)
        out += `  ${parts.join(', ')}\n`
      }
      if (s.since !== null) out += `  holding since ${s.since}\n`
      return out
    }
  }
}

function reasonText(r: StaleReason | null): string {
  switch (r) {
    case 'exited':
      return 'it exited'
    case 'pid-reused':
      return 'the pid now belongs to another process'
    case 'previous-boot':
      return 'written before the last boot'
    case 'not-locked':
      return 'sole wrote it and nobody holds the lock'
    default:
      return 'unknown'
  }
}
