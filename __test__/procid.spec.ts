// Process identity through the public API (`lib/index.ts` over `crates/procid`): isAlive,
// processIdentity, verifyProcess, ProcessHandle (pidfd), terminateGracefully, and identity in
// pidfiles. Real child processes, real signals, real pid reuse simulated with live processes
// (an identity with the right pid and a wrong start time or boot id).
import test, { type ExecutionContext } from 'ava'
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { once } from 'node:events'
import v8 from 'node:v8'
import vm from 'node:vm'
import { Worker } from 'node:worker_threads'

import * as sole from '../lib/index.js'
import { startAgent } from './fixtures/agent-client.mjs'
import { firstLine, procState, startZombie } from './fixtures/children.mjs'
import { codeOf, deadPid, rootTest, tmpdir } from './helpers/index.js'

/**
 * A node child that prints "ready" once its handlers are installed. `ignoreTerm`: it survives
 * SIGTERM. Writing anything to its stdin makes it exit 0.
 */
async function child(t: ExecutionContext, ignoreTerm = false): Promise<ChildProcess & { pid: number; exited: Promise<unknown> }> {
  const src = `${ignoreTerm ? "process.on('SIGTERM', () => {});" : ''} process.stdin.on('data', () => process.exit(0)); console.log('ready')`
  const c = spawn(process.execPath, ['-e', src], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => c.kill('SIGKILL'))
  const exited = new Promise((r) => c.once('exit', r))
  t.is(await firstLine(c), 'ready')
  return Object.assign(c, { pid: c.pid!, exited })
}

/** The `user.sole.identity` xattr of a file (python3: Node has no xattr API), or null. */
function getRecord(p: string): string | null {
  const out = execFileSync('python3', ['-c', 'import os,sys\ntry: print(os.getxattr(sys.argv[1], "user.sole.identity").decode())\nexcept OSError: print("")', p], { encoding: 'utf8' }).trim()
  return out === '' ? null : out
}
function setRecord(p: string, text: string): void {
  execFileSync('python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], "user.sole.identity", sys.argv[2].encode())', p, text])
}
const recordOf = (id: sole.ProcessIdentity, locked: boolean, startTime = id.startTime, bootId = id.bootId): string =>
  `sole-identity/1 pid=${id.pid} start=${startTime} boot=${bootId}${locked ? ' lock=flock' : ''}`

const BAD_PIDS: unknown[] = [0, -1, 2 ** 31, 2 ** 32, Number.NaN, 1.5, 1e300, Infinity, -Infinity, '12', null, undefined, {}, 12n]

// ---------------------------------------------------------------------------------------------
// isAlive

test('isAlive: self and a live child are alive; a reaped child is not', async (t) => {
  t.true(sole.isAlive(process.pid))
  const c = await child(t)
  t.true(sole.isAlive(c.pid))
  c.kill('SIGKILL')
  await c.exited
  t.false(sole.isAlive(c.pid))
  t.false(sole.isAlive(deadPid()))
})

test('isAlive: a zombie is not alive (kill(pid, 0) says it is)', async (t) => {
  const { zombie } = await startZombie(t)
  t.is(procState(zombie), 'Z')
  t.notThrows(() => process.kill(zombie, 0), 'the kernel still answers kill(0) for a zombie')
  t.false(sole.isAlive(zombie))
  t.is(codeOf(() => sole.processIdentity(zombie)), 'ENOTFOUND')
  t.is(codeOf(() => sole.ProcessHandle.open(zombie)), 'ENOTFOUND')
})

test('isAlive: 0, negatives, 2^31 and above, NaN and fractions are never alive; non-numbers are EINVALIDPID', (t) => {
  for (const v of [0, -1, -process.pid, 2 ** 31, 2 ** 32, 2 ** 32 + process.pid, Number.NaN, 1.5, 1e300, Infinity]) {
    t.false(sole.isAlive(v), String(v))
  }
  for (const v of [String(process.pid), null, undefined, {}, BigInt(process.pid)]) {
    t.is(codeOf(() => sole.isAlive(v as number)), 'EINVALIDPID', String(v))
  }
})

// Needs root to start an agent as uid 65534.
rootTest('another user sees this process as alive (EPERM), identified, verifiable, but not signallable', async (t) => {
  const agent = await startAgent(t, { uid: 65534, gid: 65534 })
  const r = await agent.call('procid', { pid: process.pid })
  t.true(r.ok, JSON.stringify(r))
  t.true(r.alive, 'EPERM means alive')
  t.is(r.identity.pid, process.pid)
  t.is(r.identity.startTime, sole.processIdentity(process.pid).startTime)
  t.is(r.identity.uid, 0)
  t.is(r.identity.exePath, null, "another user's exe link is unreadable: null, not an error")
  t.is(r.signal0, 'EPERM')
  t.is(r.terminate, 'EPERM')
  t.is(r.hash, 'EACCES')
  t.true(sole.isAlive(process.pid))
})

// ---------------------------------------------------------------------------------------------
// processIdentity

test('processIdentity: the kernel facts of this process', (t) => {
  const id = sole.processIdentity(process.pid)
  t.is(id.pid, process.pid)
  t.true(Number.isSafeInteger(id.startTime) && id.startTime > 0)
  t.is(id.bootId, fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim())
  t.is(id.exePath, fs.realpathSync(process.execPath))
  t.false(id.exeDeleted)
  t.is(id.uid, process.geteuid!())
  t.is(id.hostname, os.hostname())
  t.is(id.exeSha256, undefined, 'the hash is only computed on request')
  // Stable: the same process has the same identity.
  t.deepEqual(sole.processIdentity(process.pid), id)
})

test('processIdentity: exeSha256 is the SHA-256 of the running binary', (t) => {
  const want = createHash('sha256').update(fs.readFileSync(process.execPath)).digest('hex')
  t.is(sole.processIdentity(process.pid, { exeSha256: true }).exeSha256, want)
  t.is(sole.processIdentity(process.pid, { exeSha256: true }).exeSha256, want, 'cached answer')
})

test('processIdentity: a deleted executable is reported with its path and exeDeleted', async (t) => {
  const dir = tmpdir(t)
  const exe = path.join(dir, 'mysleep')
  fs.copyFileSync(fs.realpathSync('/bin/sleep'), exe)
  fs.chmodSync(exe, 0o700)
  const c = spawn(exe, ['300'], { stdio: 'ignore' })
  t.teardown(() => c.kill('SIGKILL'))
  await new Promise((r) => c.once('spawn', r))
  // Wait until the exec has happened (the exe link names our copy).
  for (let i = 0; i < 100_000 && sole.processIdentity(c.pid!).exePath !== exe; i++) await new Promise((r) => setImmediate(r))
  const hash = sole.processIdentity(c.pid!, { exeSha256: true }).exeSha256
  fs.unlinkSync(exe)
  const id = sole.processIdentity(c.pid!, { exeSha256: true })
  t.is(id.exePath, exe, 'without the " (deleted)" suffix')
  t.true(id.exeDeleted)
  t.is(id.exeSha256, hash, 'the bytes the process runs are still hashed')
})

test('processIdentity: a reaped child is ENOTFOUND; bad pids are EINVALIDPID', (t) => {
  const pid = deadPid()
  const e = t.throws(() => sole.processIdentity(pid)) as sole.SoleError
  t.is(e.code, 'ENOTFOUND')
  t.is(e.pid, pid)
  t.regex(e.message, new RegExp(`${pid}`))
  for (const v of BAD_PIDS) {
    t.is(codeOf(() => sole.processIdentity(v as number)), 'EINVALIDPID', String(v))
    t.is(codeOf(() => sole.ProcessHandle.open(v as number)), 'EINVALIDPID', String(v))
    t.is(codeOf(() => sole.verifyProcess({ pid: v as number })), 'EINVALIDPID', String(v))
  }
  t.is(codeOf(() => sole.verifyProcess(null as unknown as sole.ExpectedIdentity)), 'EINVALIDPID')
  // Fields of the wrong type, and a hash that is not one, are EINVAL (a bad argument), never a
  // mismatch code and never napi's conversion error.
  const me = process.pid
  for (const bad of [{ startTime: '1' }, { bootId: 5 }, { exePath: 1 }, { exeSha256: true }, { exeSha256: 'zz' }, { startTime: -1 }, { startTime: 1.5 }]) {
    const e = t.throws(() => sole.verifyProcess({ pid: me, ...bad } as unknown as sole.ExpectedIdentity)) as sole.SoleError
    t.is(e.code, 'EINVAL', JSON.stringify(bad))
    t.is(e.pid, me)
  }
  const h = sole.ProcessHandle.open(me)
  t.is(codeOf(() => h.signal({} as unknown as NodeJS.Signals)), 'EINVAL')
  t.is(codeOf(() => h.signal('SIGNOPE' as NodeJS.Signals)), 'EINVAL')
  h.close()
})

// ---------------------------------------------------------------------------------------------
// verifyProcess

test('verifyProcess: a live identity verifies; each wrong field has its own code with expected/actual', async (t) => {
  const c = await child(t)
  const id = sole.processIdentity(c.pid, { exeSha256: true })
  const h = sole.verifyProcess(id as sole.ExpectedIdentity)
  t.is(h.pid, c.pid)
  t.true(h.isAlive())
  h.close()
  const cases: Array<[Partial<sole.ExpectedIdentity>, string, unknown, unknown]> = [
    [{ bootId: '00000000-0000-0000-0000-000000000000' }, 'EBOOTID', '00000000-0000-0000-0000-000000000000', id.bootId],
    [{ startTime: id.startTime + 1 }, 'ESTARTTIME', id.startTime + 1, id.startTime],
    [{ exePath: '/bin/sh' }, 'EEXEPATH', '/bin/sh', id.exePath],
    [{ exeSha256: '0'.repeat(64) }, 'EEXEHASH', '0'.repeat(64), id.exeSha256],
  ]
  for (const [patch, want, expected, actual] of cases) {
    const e = t.throws(() => sole.verifyProcess({ ...(id as sole.ExpectedIdentity), ...patch })) as sole.SoleError
    t.is(e.code, want)
    t.is(e.pid, c.pid)
    t.deepEqual([e.expected, e.actual], [expected, actual], want)
    t.regex(e.message, /does not match the recorded identity/)
  }
  // Boot id is checked before start time: a record from another boot says so.
  t.is(codeOf(() => sole.verifyProcess({ pid: c.pid, startTime: 1, bootId: 'ffffffff-ffff-ffff-ffff-ffffffffffff' })), 'EBOOTID')
  // Only the given fields are checked; the exe path is compared after canonicalisation.
  t.notThrows(() => sole.verifyProcess({ pid: c.pid }).close())
  const link = path.join(tmpdir(t), 'node-link')
  fs.symlinkSync(process.execPath, link)
  t.notThrows(() => sole.verifyProcess({ pid: c.pid, exePath: link }).close())
})

test('verifyProcess: identities of reaped children never verify against whatever has their pid now', async (t) => {
  const ids: sole.ProcessIdentity[] = []
  for (let i = 0; i < 20; i++) {
    const c = spawn('sleep', ['300'], { stdio: 'ignore' })
    await new Promise((r) => c.once('spawn', r))
    ids.push(sole.processIdentity(c.pid!))
    const exited = new Promise((r) => c.once('exit', r))
    c.kill('SIGKILL')
    await exited
  }
  // Churn pids so some of these numbers may be reused by live processes meanwhile.
  const live: ChildProcess[] = []
  for (let i = 0; i < 20; i++) live.push(spawn('sleep', ['300'], { stdio: 'ignore' }))
  t.teardown(() => live.forEach((c) => c.kill('SIGKILL')))
  await Promise.all(live.map((c) => new Promise((r) => c.once('spawn', r))))
  for (const id of ids) {
    const got = codeOf(() => sole.verifyProcess(id as sole.ExpectedIdentity))
    t.true(got === 'ENOTFOUND' || got === 'ESTARTTIME', `${id.pid}: ${got}`)
    t.true(['ENOTFOUND', 'ESTARTTIME'].includes(codeOf(() => sole.ProcessHandle.open(id as sole.ExpectedIdentity))!))
  }
})

test('verifyProcess: pid reuse without waiting for the kernel: right pid, wrong start time or boot id', async (t) => {
  // Two of our own live processes: B's pid with A's start time is what a recycled pid looks like.
  const a = await child(t)
  const b = await child(t)
  const ia = sole.processIdentity(a.pid)
  const ib = sole.processIdentity(b.pid)
  t.not(ia.startTime === ib.startTime && ia.pid === ib.pid, true)
  const forged = { pid: b.pid, startTime: ia.startTime === ib.startTime ? ia.startTime + 1 : ia.startTime, bootId: ia.bootId }
  t.is(codeOf(() => sole.verifyProcess(forged)), 'ESTARTTIME')
  t.is(codeOf(() => sole.ProcessHandle.open(forged)), 'ESTARTTIME')
  t.is(codeOf(() => sole.verifyProcess({ ...ib, bootId: '11111111-2222-3333-4444-555555555555' } as sole.ExpectedIdentity)), 'EBOOTID')
  // terminateGracefully with the forged identity signals nobody.
  await t.throwsAsync(sole.terminateGracefully(forged, { timeoutMs: 100 }), { code: 'ESTARTTIME' })
  t.true(sole.isAlive(b.pid))
})

// ---------------------------------------------------------------------------------------------
// ProcessHandle

test('ProcessHandle: signals reach the process through the pidfd; after exit they fail with ENOTFOUND', async (t) => {
  const c = await child(t)
  const h = sole.ProcessHandle.open(c.pid)
  t.is(h.kind, 'pidfd')
  t.is(h.pid, c.pid)
  t.is(h.startTime, sole.processIdentity(c.pid).startTime)
  t.true(h.isAlive())
  h.signal(0)
  h.terminate()
  await h.waitForExit()
  t.false(h.isAlive())
  await c.exited
  for (const send of [() => h.signal('SIGTERM'), () => h.kill(), () => h.terminate(), () => h.signal(0)]) {
    const e = t.throws(send) as sole.SoleError
    t.is(e.code, 'ENOTFOUND')
    t.is(e.pid, c.pid)
  }
  t.is(codeOf(() => h.signal('SIGNOPE' as NodeJS.Signals)), 'EINVAL')
  h.close()
  t.is(codeOf(() => h.signal(0)), 'EBADF')
  t.true(h.closed)
})

test('ProcessHandle.waitForExit: resolves on exit, rejects on timeout and on abort', async (t) => {
  const c = await child(t)
  const h = sole.ProcessHandle.open(c.pid)
  t.teardown(() => h.close())
  const e = await t.throwsAsync(h.waitForExit({ timeoutMs: 50 }))
  t.is((e as sole.SoleError).code, 'ETIMEDOUT')
  t.is((e as sole.SoleError).pid, c.pid)
  const ac = new AbortController()
  const aborted = h.waitForExit({ signal: ac.signal })
  ac.abort(new Error('stop'))
  const ae = (await t.throwsAsync(aborted)) as sole.SoleError
  t.is(ae.name, 'AbortError')
  t.is(ae.code, 'ABORT_ERR')
  await t.throwsAsync(h.waitForExit({ signal: AbortSignal.abort() }), { name: 'AbortError' })
  t.true(h.isAlive(), 'timeouts and aborts do not touch the process')
  const done = h.waitForExit()
  c.stdin!.write('exit\n')
  await done
  t.false(h.isAlive())
  await h.waitForExit({ timeoutMs: 0 }) // already exited: resolves at once
})

test('ProcessHandle: close() rejects a pending wait with EBADF; dispose closes', async (t) => {
  const c = await child(t)
  const h = sole.ProcessHandle.open(c.pid)
  const pending = h.waitForExit()
  h.close()
  t.is(((await t.throwsAsync(pending)) as sole.SoleError).code, 'EBADF')
  const h2 = sole.ProcessHandle.open(c.pid)
  h2[Symbol.dispose]()
  t.true(h2.closed)
  t.true(sole.isAlive(c.pid))
})

/** This process's pidfds and eventfds: fd number → link (`anon_inode:[pidfd]`, …). */
function anonFds(): Map<string, string> {
  const out = new Map<string, string>()
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const link = fs.readlinkSync(`/proc/self/fd/${fd}`)
      if (link === 'anon_inode:[pidfd]' || link === 'anon_inode:[eventfd]') out.set(fd, link)
    } catch {
      // the fd readdir itself used, closed by now
    }
  }
  return out
}

/** The kinds of descriptors in `now` that were not in `before`, sorted ("eventfd", "pidfd"). */
function added(before: Map<string, string>, now = anonFds()): string[] {
  return [...now]
    .filter(([fd, link]) => before.get(fd) !== link)
    .map(([, link]) => link.slice('anon_inode:['.length, -1))
    .sort()
}

/** Ids of this process's threads named `sole-exit-*` (the wait threads of waitForExit). */
function exitThreads(): string[] {
  return fs.readdirSync('/proc/self/task').filter((tid) => {
    try {
      return fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').startsWith('sole-exit-')
    } catch {
      return false
    }
  })
}

/** Resolve once `cond()` holds, looking every 10 ms for at most `ms` (then fail with `what`). */
async function within(ms: number, what: string, cond: () => boolean): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

test.serial('ProcessHandle.close() releases the pidfd and every pending wait\'s descriptors at once', async (t) => {
  const c = await child(t)
  const before = anonFds()
  const threads = exitThreads()
  const h = sole.ProcessHandle.open(c.pid)
  t.deepEqual(added(before), ['pidfd'])
  const ac = new AbortController()
  const waits = [h.waitForExit(), h.waitForExit({ timeoutMs: 60_000 }), h.waitForExit({ signal: ac.signal })]
  const ended = waits.map((w) => w.then(() => undefined, (err: sole.SoleError) => err))
  t.deepEqual(added(before), ['eventfd', 'eventfd', 'eventfd', 'pidfd'], 'one eventfd per pending wait')
  // A new thread names itself once it runs: look until it has (bounded).
  await within(5000, 'three wait threads run', () => exitThreads().length === threads.length + 3)
  h.close()
  // At once: no turn of the event loop, no GC.
  t.deepEqual(added(before), [], 'close() released every descriptor')
  t.deepEqual(exitThreads(), threads, 'and the wait threads have ended')
  for (const e of await Promise.all(ended)) {
    t.is(e?.code, 'EBADF')
    t.is(e?.pid, c.pid)
  }
  t.true(sole.isAlive(c.pid), 'closing a handle does nothing to the process')
})

test.serial('ProcessHandle.waitForExit: a wait that ended (timeout, abort, exit) holds no descriptor', async (t) => {
  const c = await child(t)
  const before = anonFds()
  const h = sole.ProcessHandle.open(c.pid)
  await t.throwsAsync(h.waitForExit({ timeoutMs: 1 }), { code: 'ETIMEDOUT' })
  t.deepEqual(added(before), ['pidfd'], 'the timed-out wait kept nothing')
  const ac = new AbortController()
  const aborted = h.waitForExit({ signal: ac.signal })
  ac.abort()
  await t.throwsAsync(aborted, { name: 'AbortError' })
  t.deepEqual(added(before), ['pidfd'], 'the aborted wait kept nothing')
  const exit = h.waitForExit()
  c.stdin!.write('x')
  await exit
  t.deepEqual(added(before), ['pidfd'], 'the finished wait kept nothing')
  h.close()
  t.deepEqual(added(before), [])
})

test.serial('a worker terminated during waitForExit leaves no wait thread and no descriptor behind', async (t) => {
  const c = await child(t)
  const before = anonFds()
  const threads = exitThreads()
  for (const opts of [undefined, { timeoutMs: 2 ** 53 - 1 }]) {
    const w = new Worker(new URL('./fixtures/wait-worker.mjs', import.meta.url), { workerData: { pid: c.pid, opts }, execArgv: [] })
    const [msg] = await once(w, 'message')
    t.is(msg, 'waiting')
    await within(5000, 'the wait thread runs', () => exitThreads().length === threads.length + 1)
    t.true(added(before).includes('pidfd'))
    await w.terminate()
    // Bounded: the teardown hook ends the wait at once; /proc is polled for at most 5 s.
    await within(5000, 'the wait thread and its descriptors are gone', () => exitThreads().length === threads.length && added(before).length === 0)
    t.deepEqual(exitThreads(), threads)
    t.deepEqual(added(before), [])
  }
  t.true(sole.isAlive(c.pid), 'the process was not touched')
})

test.serial('a ProcessHandle collected by GC does not end a wait still pending on it', async (t) => {
  v8.setFlagsFromString('--expose-gc')
  const gc = vm.runInNewContext('gc') as () => void
  const c = await child(t)
  let collected = false
  const registry = new FinalizationRegistry(() => {
    collected = true
  })
  let settled: string | undefined
  const wait = (() => {
    const h = sole.ProcessHandle.open(c.pid)
    registry.register(h, 'handle')
    return h.waitForExit().then(
      () => {
        settled = 'resolved'
      },
      (e: sole.SoleError) => {
        settled = e.code
      },
    )
  })()
  // Collect the handle, then give its native finalizer (run from the event loop) time to run.
  await within(5000, 'the handle was collected', () => {
    gc()
    return collected
  })
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 5))
  t.is(settled, undefined, 'the wait is still pending after the handle was collected')
  c.stdin!.write('x')
  await wait
  t.is(settled, 'resolved')
})

test('ProcessHandle.waitForExit never holds a libuv threadpool thread', async (t) => {
  const kids = await Promise.all(Array.from({ length: 8 }, () => child(t)))
  const handles = kids.map((k) => sole.ProcessHandle.open(k.pid))
  let settled = 0
  const waits = handles.map((h) => h.waitForExit().finally(() => settled++))
  // With 8 waits pending, fs and crypto (both on the 4-thread pool) still complete: 4 of them
  // each (more than the pool has threads), within a bound far above their cost. A starved pool
  // gives 'starved'; the bound is a verdict, not a synchronisation.
  const { pbkdf2 } = await import('node:crypto')
  const work = Promise.all([
    ...Array.from({ length: 4 }, () => fs.promises.readFile(new URL(import.meta.url))),
    ...Array.from({ length: 4 }, () => new Promise<void>((resolve, reject) => pbkdf2('x', 'y', 1, 32, 'sha256', (err) => (err ? reject(err) : resolve())))),
  ]).then(() => 'done')
  let timer: NodeJS.Timeout | undefined
  const starved = new Promise<string>((r) => (timer = setTimeout(() => r('starved'), 20_000)))
  t.is(await Promise.race([work, starved]), 'done')
  clearTimeout(timer)
  t.is(settled, 0, 'the waits are still pending')
  for (const h of handles) h.kill()
  await Promise.all(waits)
  t.is(settled, handles.length)
  handles.forEach((h) => h.close())
})

// ---------------------------------------------------------------------------------------------
// terminateGracefully

test('terminateGracefully: terminated, killed when SIGTERM is ignored, not-running for a dead pid', async (t) => {
  const polite = await child(t)
  t.deepEqual(await sole.terminateGracefully(polite.pid, { timeoutMs: 5000 }), { pid: polite.pid, outcome: 'terminated' })
  const stubborn = await child(t, true)
  const r = await sole.terminateGracefully(sole.processIdentity(stubborn.pid) as sole.ExpectedIdentity, { timeoutMs: 100 })
  t.deepEqual(r, { pid: stubborn.pid, outcome: 'killed' })
  t.false(sole.isAlive(stubborn.pid))
  const dead = deadPid()
  t.deepEqual(await sole.terminateGracefully(dead), { pid: dead, outcome: 'not-running' })
  // An open handle is used and left open.
  const third = await child(t)
  const h = sole.ProcessHandle.open(third.pid)
  t.deepEqual(await sole.terminateGracefully(h), { pid: third.pid, outcome: 'terminated' })
  t.false(h.closed)
  t.deepEqual(await sole.terminateGracefully(h), { pid: third.pid, outcome: 'not-running' })
  h.close()
})

// ---------------------------------------------------------------------------------------------
// Identity in pidfiles

test('claimPidfile records the identity in user.sole.identity; content stays "PID\\n"; release removes it', (t) => {
  const p = path.join(tmpdir(t), 'app.pid')
  const g = sole.claimPidfile(p)
  t.is(fs.readFileSync(p, 'utf8'), `${process.pid}\n`)
  t.is(getRecord(p), recordOf(sole.processIdentity(process.pid), true))
  // `kill $(cat file)` still works (kill -0: existence check of ourselves).
  t.is(spawnSync('sh', ['-c', `kill -0 $(cat '${p}')`]).status, 0)
  g.release()
  t.is(getRecord(p), null)
  t.is(fs.readFileSync(p, 'utf8'), '')
})

test('readPidfile: held gives the holder identity and a handle that reaches the holder only', async (t) => {
  const p = path.join(tmpdir(t), 'app.pid')
  const agent = await startAgent(t)
  t.true((await agent.call('claim', { path: p })).ok)
  const s = sole.readPidfile(p)
  if (s.state !== 'held') return t.fail(JSON.stringify(s))
  t.is(s.pid, agent.pid)
  t.true(s.locked)
  t.deepEqual(s.identity, sole.processIdentity(agent.pid))
  const h = s.openHandle()
  t.is(h.pid, agent.pid)
  t.is(h.startTime, s.identity!.startTime)
  await agent.kill('SIGKILL')
  await h.waitForExit({ timeoutMs: 10_000 })
  t.is(codeOf(() => h.terminate()), 'ENOTFOUND')
  h.close()
  // The holder is gone: the handle factory from the old answer refuses rather than reaching
  // whatever has the pid now.
  t.true(['ENOTFOUND', 'ESTARTTIME'].includes(codeOf(() => s.openHandle())!))
  const after = sole.readPidfile(p)
  t.deepEqual(after, { state: 'free', stalePid: agent.pid, reason: 'exited' })
})

test('readPidfile({ handle: true }): a handle opened while the claim was confirmed', async (t) => {
  const p = path.join(tmpdir(t), 'app.pid')
  t.deepEqual(sole.readPidfile(p, { handle: true }), { state: 'absent' })
  const agent = await startAgent(t)
  t.true((await agent.call('claim', { path: p })).ok)
  const s = sole.readPidfile(p, { handle: true })
  if (s.state !== 'held' || !s.handle) return t.fail(JSON.stringify(s))
  const h = s.handle
  t.teardown(() => h.close())
  t.is(h.pid, agent.pid)
  t.is(h.kind, 'pidfd')
  t.is(h.startTime, s.identity!.startTime)
  // Through the handle: SIGKILL reaches the holder, and the claim is free at once.
  h.kill()
  await h.waitForExit({ timeoutMs: 10_000 })
  t.deepEqual(sole.readPidfile(p, { handle: true }), { state: 'free', stalePid: agent.pid, reason: 'exited' })
  t.is(codeOf(() => h.terminate()), 'ENOTFOUND')
})

test('readPidfile: a sole pidfile whose pid now names a live unrelated process is free, never held', async (t) => {
  const p = path.join(tmpdir(t), 'app.pid')
  const agent = await startAgent(t)
  t.true((await agent.call('claim', { path: p })).ok)
  const oldRecord = getRecord(p)!
  t.truthy(oldRecord)
  await agent.kill('SIGKILL')
  const other = await child(t)
  const oid = sole.processIdentity(other.pid)
  // (a) the content rewritten in place to the live pid; the record (on the inode) still names
  // the dead owner with lock=flock: a lock-managed file without a lock is free.
  fs.writeFileSync(p, `${other.pid}\n`)
  t.deepEqual(sole.readPidfile(p), { state: 'free', stalePid: other.pid, reason: 'not-locked' })
  // (b) pid reuse as it looks: right pid, old start time, lock=flock.
  setRecord(p, recordOf(oid, true, oid.startTime + 7))
  t.deepEqual(sole.readPidfile(p), { state: 'free', stalePid: other.pid, reason: 'not-locked' })
  // (c) even with the live process's true identity: sole wrote it under a lock, none is held.
  setRecord(p, recordOf(oid, true))
  t.deepEqual(sole.readPidfile(p), { state: 'free', stalePid: other.pid, reason: 'not-locked' })
  // A claim takes it over normally and rewrites content and record.
  const g = sole.claimPidfile(p)
  t.is(getRecord(p), recordOf(sole.processIdentity(process.pid), true))
  g.release()
})

test('readPidfile: an unlocked pidfile from another tool is judged by its identity record', async (t) => {
  const p = path.join(tmpdir(t), 'other-tool.pid')
  const other = await child(t)
  const oid = sole.processIdentity(other.pid)
  fs.writeFileSync(p, `${other.pid}\n`)
  t.deepEqual(sole.readPidfile(p), { state: 'unverified', pid: other.pid })
  setRecord(p, recordOf(oid, false))
  const held = sole.readPidfile(p)
  if (held.state !== 'held') return t.fail(JSON.stringify(held))
  t.false(held.locked)
  t.deepEqual(held.identity, oid)
  // A record proves no more than its writer is trusted: a file owned by another user than the
  // process (and not by root) cannot name that process as owner.
  if (process.geteuid!() === 0) {
    fs.chownSync(p, 65534, 65534)
    t.deepEqual(sole.readPidfile(p), { state: 'unverified', pid: other.pid })
    fs.chownSync(p, 0, 0)
  }
  setRecord(p, recordOf(oid, false, oid.startTime + 1))
  t.deepEqual(sole.readPidfile(p), { state: 'free', stalePid: other.pid, reason: 'pid-reused' })
  setRecord(p, recordOf(oid, false, oid.startTime, '00000000-0000-0000-0000-000000000000'))
  t.deepEqual(sole.readPidfile(p), { state: 'free', stalePid: other.pid, reason: 'previous-boot' })
  // Garbage records are ignored (plain pidfile semantics), never trusted.
  for (const junk of ['', 'sole-identity/9 pid=1', `sole-identity/1 pid=${other.pid} start=x boot=y`, 'x'.repeat(200)]) {
    setRecord(p, junk)
    t.deepEqual(sole.readPidfile(p), { state: 'unverified', pid: other.pid }, JSON.stringify(junk))
  }
  other.kill('SIGKILL')
  await other.exited
  t.deepEqual(sole.readPidfile(p), { state: 'free', stalePid: other.pid, reason: 'exited' })
  t.is(fs.readFileSync(p, 'utf8'), `${other.pid}\n`, 'reads never write')
})
