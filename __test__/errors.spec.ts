// The shape of every error sole throws, table-driven over its codes: an `Error` instance with
// a string `code`, the absolute `path` it concerns (also named in the message), the holder's
// `pid` where there is one, and Node's negative `errno` for OS failures. Each row provokes the
// error for real (files, modes, symlinks, FIFOs, other processes, another user).
import test, { type ExecutionContext } from 'ava'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import * as sole from '../lib/index.js'
import { startAgent } from './fixtures/agent-client.mjs'
import { isRoot, rejected, thrown, tmpdir } from './helpers/index.js'

const NOBODY = 65534

/** What a row produced: the error (thrown here, or described by a child process). */
interface Got {
  err: unknown
  /** The error was thrown in another process; `isError` is its `instanceof Error` there. */
  remote?: { isError: boolean }
  path?: string
  pid?: number
  /** Text the message must contain besides the path (e.g. the advice). */
  mentions?: string[]
}

interface Row {
  code: string
  what: string
  make: (t: ExecutionContext, dir: string) => Promise<Got> | Got
}

/** Provoke `op` as an unprivileged user in a child process; returns the described error. */
async function asNobody(t: ExecutionContext, op: string, args: object): Promise<Got['remote'] & { err: any }> {
  const agent = await startAgent(t, { uid: NOBODY, gid: NOBODY })
  const r = await agent.call(op, args)
  t.false(r.ok, `expected ${op} to fail as uid ${NOBODY}: ${JSON.stringify(r)}`)
  return { isError: r.error?.isError === true, err: r.error }
}

/** A directory with mode 0500 owned by the user the attempt runs as (us, or nobody when root). */
function readOnlyDir(dir: string): string {
  const ro = path.join(dir, 'ro')
  fs.mkdirSync(ro)
  if (isRoot) {
    fs.chmodSync(dir, 0o711) // let nobody traverse the mkdtemp directory
    fs.chownSync(ro, NOBODY, NOBODY)
  }
  fs.chmodSync(ro, 0o500)
  return ro
}

const rows: Row[] = [
  {
    code: 'EHELD',
    what: 'claimPidfile on a pidfile this process already claimed',
    make: (t, dir) => {
      const p = path.join(dir, 'app.pid')
      const g = sole.claimPidfile(p)
      t.teardown(() => g.release())
      return { err: thrown(() => sole.claimPidfile(p)), path: p, pid: process.pid, mentions: ['already running as PID'] }
    },
  },
  {
    code: 'EHELD',
    what: 'acquireDaemonLock held by another process',
    make: async (t, dir) => {
      const agent = await startAgent(t)
      const r = await agent.call('daemon', { path: dir })
      t.true(r.ok, JSON.stringify(r))
      const p = path.join(dir, 'daemon.lock')
      return { err: thrown(() => sole.acquireDaemonLock(dir)), path: p, pid: agent.pid, mentions: ['(lock file: '] }
    },
  },
  {
    code: 'ETIMEDOUT',
    what: 'lock() with timeoutMs on a lock another process holds',
    make: async (t, dir) => {
      const p = path.join(dir, 'busy.lock')
      const agent = await startAgent(t)
      t.true((await agent.call('tryLock', { path: p })).got)
      return { err: await rejected(sole.lock(p, { timeoutMs: 20 })), path: p, pid: agent.pid }
    },
  },
  {
    code: 'ETIMEDOUT',
    what: 'lockSync with timeoutMs on a lock another process holds',
    make: async (t, dir) => {
      const p = path.join(dir, 'busy.lock')
      const agent = await startAgent(t)
      t.true((await agent.call('tryLock', { path: p })).got)
      return { err: thrown(() => sole.lockSync(p, { timeoutMs: 20 })), path: p, pid: agent.pid }
    },
  },
  {
    code: 'EDEADLK',
    what: 'lockSync on a lock this thread holds',
    make: (t, dir) => {
      const p = path.join(dir, 'mine.lock')
      const l = sole.tryLock(p)
      t.teardown(() => l?.release())
      return { err: thrown(() => sole.lockSync(p)), path: p }
    },
  },
  {
    code: 'ESYMLINK',
    what: 'tryLock on a symlink',
    make: (_t, dir) => {
      const p = path.join(dir, 'link.lock')
      fs.writeFileSync(path.join(dir, 'target'), '')
      fs.symlinkSync(path.join(dir, 'target'), p)
      return { err: thrown(() => sole.tryLock(p)), path: p }
    },
  },
  {
    code: 'ESYMLINK',
    what: 'claimPidfile on a dangling symlink',
    make: (_t, dir) => {
      const p = path.join(dir, 'link.pid')
      fs.symlinkSync(path.join(dir, 'nowhere'), p)
      return { err: thrown(() => sole.claimPidfile(p)), path: p }
    },
  },
  {
    code: 'ESYMLINK',
    what: 'readPidfile on a symlink',
    make: (_t, dir) => {
      const p = path.join(dir, 'link.pid')
      fs.writeFileSync(path.join(dir, 'target'), '1\n')
      fs.symlinkSync(path.join(dir, 'target'), p)
      return { err: thrown(() => sole.readPidfile(p)), path: p }
    },
  },
  {
    code: 'ENOTREG',
    what: 'tryLock on a directory',
    make: (_t, dir) => ({ err: thrown(() => sole.tryLock(dir)), path: dir }),
  },
  {
    code: 'ENOTREG',
    what: 'claimPidfile on a FIFO',
    make: (_t, dir) => {
      const p = path.join(dir, 'fifo')
      execFileSync('mkfifo', [p])
      return { err: thrown(() => sole.claimPidfile(p)), path: p }
    },
  },
  {
    code: 'ENOTREG',
    what: 'readLockPid on a directory',
    make: (_t, dir) => ({ err: thrown(() => sole.readLockPid(dir)), path: dir }),
  },
  {
    code: 'EINVALIDPID',
    what: 'pidAlive(1.5)',
    make: () => ({ err: thrown(() => sole.pidAlive(1.5)), mentions: ['1.5'] }),
  },
  {
    code: 'EINVALIDPID',
    what: 'pidAlive(NaN)',
    make: () => ({ err: thrown(() => sole.pidAlive(Number.NaN)), mentions: ['NaN'] }),
  },
  {
    code: 'EACCES',
    what: `tryLock of a new file in a 0500 directory${isRoot ? ' (as uid 65534: root bypasses modes)' : ''}`,
    make: async (t, dir) => {
      const p = path.join(readOnlyDir(dir), 'x.lock')
      if (!isRoot) return { err: thrown(() => sole.tryLock(p)), path: p }
      const { isError, err } = await asNobody(t, 'tryLock', { path: p })
      return { err, remote: { isError }, path: p }
    },
  },
  {
    code: 'EACCES',
    what: `claimPidfile of a new file in a 0500 directory${isRoot ? ' (as uid 65534)' : ''}`,
    make: async (t, dir) => {
      const p = path.join(readOnlyDir(dir), 'app.pid')
      if (!isRoot) return { err: thrown(() => sole.claimPidfile(p)), path: p }
      const { isError, err } = await asNobody(t, 'claim', { path: p })
      return { err, remote: { isError }, path: p }
    },
  },
  {
    code: 'EACCES',
    what: `readLockPid of a file the caller may not read${isRoot ? ' (as uid 65534)' : ''}`,
    make: async (t, dir) => {
      const p = path.join(dir, 'secret.pid')
      fs.writeFileSync(p, '1\n')
      fs.chmodSync(p, isRoot ? 0o600 : 0o000)
      if (isRoot) fs.chmodSync(dir, 0o711)
      if (!isRoot) return { err: thrown(() => sole.readLockPid(p)), path: p }
      const { isError, err } = await asNobody(t, 'readLockPid', { path: p })
      return { err, remote: { isError }, path: p }
    },
  },
  {
    code: 'ENOENT',
    what: 'tryLock under a missing directory',
    make: (_t, dir) => {
      const p = path.join(dir, 'missing', 'x.lock')
      return { err: thrown(() => sole.tryLock(p)), path: p, mentions: ['createDirs'] }
    },
  },
  {
    code: 'ENOENT',
    what: 'claimPidfile under a missing directory',
    make: (_t, dir) => {
      const p = path.join(dir, 'missing', 'app.pid')
      return { err: thrown(() => sole.claimPidfile(p)), path: p, mentions: ['createDirs'] }
    },
  },
  {
    code: 'EINVAL',
    what: 'tryLock with mode 0o10000',
    make: (_t, dir) => {
      const p = path.join(dir, 'm.lock')
      return { err: thrown(() => sole.tryLock(p, { mode: 0o10000 })), path: p }
    },
  },
  {
    code: 'EINVAL',
    what: 'lockSync with timeoutMs -1',
    make: (_t, dir) => {
      const p = path.join(dir, 't.lock')
      return { err: thrown(() => sole.lockSync(p, { timeoutMs: -1 })), path: p }
    },
  },
]

const errnoOf = (code: string): number | undefined => (os.constants.errno as Record<string, number>)[code]

const shape = test.macro({
  async exec(t, row: Row) {
    const dir = tmpdir(t)
    const got = await row.make(t, dir)
    const err = got.err as sole.SoleError
    t.truthy(err, 'the operation must throw')
    if (got.remote) t.true(got.remote.isError, 'instanceof Error (in the process that caught it)')
    else t.true(err instanceof Error, 'instanceof Error')
    t.is(typeof err.code, 'string')
    t.is(err.code, row.code, err.message)
    t.is(typeof err.message, 'string')
    t.true(err.message.length > 0)
    if (got.path !== undefined) {
      t.is(err.path, got.path, 'err.path is the absolute path concerned')
      t.true(err.message.includes(got.path), `message names the path: ${err.message}`)
    }
    if (got.pid !== undefined) t.is(err.pid, got.pid, 'err.pid names the holder')
    for (const m of got.mentions ?? []) t.true(err.message.includes(m), `message mentions ${m}: ${err.message}`)
    const errno = errnoOf(row.code)
    if (errno !== undefined && !['ETIMEDOUT', 'EDEADLK'].includes(row.code)) {
      t.is(err.errno, -errno, "Node's negative errno, as in fs errors")
    }
  },
  title: (_provided, row: Row) => `${row.code}: ${row.what}`,
})

for (const row of rows) test(shape, row)

test('AbortError from lock() is an Error with name AbortError and code ABORT_ERR', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'a.lock')
  const agent = await startAgent(t)
  t.true((await agent.call('tryLock', { path: p })).got)
  const ac = new AbortController()
  const pending = sole.lock(p, { signal: ac.signal })
  ac.abort()
  const err = (await rejected(pending)) as sole.SoleError
  t.true(err instanceof Error)
  t.is(err.name, 'AbortError')
  t.is(err.code, 'ABORT_ERR')
})
