// Arguments of the procid API, decided once in Rust (`src/procid.rs` with `src/args.rs`): every
// export and method with wrong types for every argument and option, `null`/`undefined` options,
// getters that throw (the caller's own exception must come out, the same object), bigints,
// symbols, NaN/±Infinity/-0/2^31/2^53 as pids and timeouts, and live, dead (reaped) and zombie
// processes. Every error must be an `Error` with a documented `code` (never one of napi's own
// conversion errors such as `NumberExpected`), `err.argument` naming the argument for `EINVAL`.
import test, { type ExecutionContext } from 'ava'
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { inspect } from 'node:util'

import * as sole from '../lib/index.js'
import { firstLine, procState, startZombie } from './fixtures/children.mjs'
import { deadPid, rejected, thrown } from './helpers/index.js'

/** Codes the README documents for the procid API. */
const DOCUMENTED = new Set(['EINVAL', 'EINVALIDPID', 'ENOTFOUND', 'EBADF', 'ETIMEDOUT', 'EBOOTID', 'ESTARTTIME', 'EEXEPATH', 'EEXEHASH', 'EPERM', 'EINTERNAL', 'ABORT_ERR'])

/**
 * `err` is a documented sole error with `code` (and `argument` for EINVAL), never napi's own
 * conversion error; the message names `mentions`.
 */
function expectError(t: ExecutionContext, err: unknown, code: string, what: string, extra: { argument?: string; pid?: number; mentions?: string[] } = {}): void {
  const e = err as sole.SoleError & { argument?: string }
  t.true(err instanceof Error, `${what}: ${String(err)} is an Error`)
  if (!(err instanceof Error)) return
  t.true(DOCUMENTED.has(String(e.code)), `${what}: code ${String(e.code)} is documented (${e.message})`)
  t.is(e.code, code, `${what}: ${e.message}`)
  t.notRegex(e.message, /Failed to convert|[A-Z][a-z]+Expected|GenericFailure|InvalidArg/, `${what}: not a napi conversion error`)
  if (extra.argument !== undefined) t.is(e.argument, extra.argument, `${what}: err.argument`)
  if (extra.pid !== undefined) t.is(e.pid, extra.pid, `${what}: err.pid`)
  for (const m of extra.mentions ?? []) t.true(e.message.includes(m), `${what}: message mentions ${m}: ${e.message}`)
}

const show = (v: unknown): string => inspect(v, { breakLength: Infinity })

/** Values that are not numbers at all. */
const NOT_NUMBERS: unknown[] = ['12', '', true, false, {}, [], [12], () => 12, 12n, Symbol('pid'), new Number(12)]
/** Numbers that are not pids. */
const NOT_PIDS: number[] = [0, -0, -1, 1.5, Number.NaN, Infinity, -Infinity, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 - 1, 1e300, Number.MIN_VALUE, Number.EPSILON]
/** Numbers that are not timeouts. */
const NOT_TIMEOUTS: number[] = [Number.NaN, Infinity, -Infinity, -1, -1e-9, 1e300, 2 ** 53, Number.MAX_VALUE]
/** Values that are not options objects (null/undefined mean "defaults"). */
const NOT_OBJECTS: unknown[] = [5, 'opts', true, 12n, Symbol('opts')]

/** A getter that throws `boom`, as a plain getter and as a Proxy trap. */
function throwing(key: string, boom: Error): object[] {
  return [
    Object.defineProperty({}, key, {
      get() {
        throw boom
      },
      enumerable: true,
    }),
    new Proxy(
      {},
      {
        get(_target, k) {
          if (k === key) throw boom
          return undefined
        },
      },
    ),
  ]
}

/** A node child that prints "ready"; writing to its stdin makes it exit 0. */
async function child(t: ExecutionContext): Promise<ChildProcess & { pid: number; exited: Promise<unknown> }> {
  const c = spawn(process.execPath, ['-e', "process.stdin.on('data', () => process.exit(0)); console.log('ready')"], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => c.kill('SIGKILL'))
  const exited = new Promise((r) => c.once('exit', r))
  t.is(await firstLine(c), 'ready')
  return Object.assign(c, { pid: c.pid!, exited })
}

/** A pid no process has: a reaped child's. */
/**
 * A child that becomes a zombie when told to (`go()`), so a handle can be opened on it while it
 * is alive: sh starts a background child that waits for a line on fd 4, then execs `sleep`,
 * which never reaps. Resolves once `sleep` runs (the shell can no longer reap).
 */
async function zombieToBe(t: ExecutionContext): Promise<{ pid: number; go: () => Promise<void> }> {
  const c = spawn('sh', ['-c', '(read line <&4; exit 0) & echo $!; exec 4<&-; exec sleep 300'], {
    stdio: ['ignore', 'pipe', 'inherit', 'ignore', 'pipe'],
  })
  t.teardown(() => c.kill('SIGKILL'))
  const pid = Number(await firstLine(c))
  const exe = () => {
    try {
      return path.basename(fs.readlinkSync(`/proc/${c.pid}/exe`))
    } catch {
      return ''
    }
  }
  for (let i = 0; i < 200_000 && exe() !== 'sleep'; i++) await new Promise((r) => setImmediate(r))
  t.is(exe(), 'sleep')
  return {
    pid,
    go: async () => {
      ;(c.stdio[4] as NodeJS.WritableStream).write('go\n')
      for (let i = 0; i < 200_000 && procState(pid) !== 'Z'; i++) await new Promise((r) => setImmediate(r))
      t.is(procState(pid), 'Z')
    },
  }
}

// ---------------------------------------------------------------------------------------------
// isAlive / pidAlive

test('isAlive: numbers never throw (NaN, ±Infinity, -0, 2^31, 2^53 are not alive); anything else is EINVALIDPID', async (t) => {
  for (const v of NOT_PIDS) t.false(sole.isAlive(v), show(v))
  for (const v of [...NOT_NUMBERS, null, undefined]) expectError(t, thrown(() => sole.isAlive(v as number)), 'EINVALIDPID', `isAlive(${show(v)})`)
  t.true(sole.isAlive(process.pid))
  t.false(sole.isAlive(deadPid()))
  const { zombie } = await startZombie(t)
  t.false(sole.isAlive(zombie))
})

test('pidAlive: non-integers and non-numbers are EINVALIDPID; integers out of range are not alive', async (t) => {
  for (const v of [1.5, Number.NaN, Infinity, -Infinity, 1e-300]) expectError(t, thrown(() => sole.pidAlive(v)), 'EINVALIDPID', `pidAlive(${show(v)})`)
  for (const v of [...NOT_NUMBERS, null, undefined]) expectError(t, thrown(() => sole.pidAlive(v as number)), 'EINVALIDPID', `pidAlive(${show(v)})`)
  for (const v of [0, -0, -1, 2 ** 31, 2 ** 53, 1e300]) t.false(sole.pidAlive(v), show(v))
  t.true(sole.pidAlive(process.pid))
  t.false(sole.pidAlive(deadPid()))
  const { zombie } = await startZombie(t)
  t.false(sole.pidAlive(zombie))
})

// ---------------------------------------------------------------------------------------------
// processIdentity

test('processIdentity: bad pids are EINVALIDPID; dead and zombie pids are ENOTFOUND', async (t) => {
  for (const v of [...NOT_PIDS, ...NOT_NUMBERS, null, undefined]) {
    expectError(t, thrown(() => sole.processIdentity(v as number)), 'EINVALIDPID', `processIdentity(${show(v)})`)
  }
  const dead = deadPid()
  expectError(t, thrown(() => sole.processIdentity(dead)), 'ENOTFOUND', 'dead', { pid: dead, mentions: [String(dead)] })
  const { zombie } = await startZombie(t)
  expectError(t, thrown(() => sole.processIdentity(zombie)), 'ENOTFOUND', 'zombie', { pid: zombie })
})

test('processIdentity: options of the wrong type are EINVAL naming them; null/undefined mean the defaults', (t) => {
  const me = process.pid
  for (const o of NOT_OBJECTS) {
    expectError(t, thrown(() => sole.processIdentity(me, o as {})), 'EINVAL', `opts ${show(o)}`, { argument: 'opts' })
  }
  for (const v of ['yes', 1, 0, {}, 12n, Symbol('x'), () => true]) {
    expectError(t, thrown(() => sole.processIdentity(me, { exeSha256: v as boolean })), 'EINVAL', `exeSha256 ${show(v)}`, { argument: 'exeSha256' })
  }
  for (const o of [undefined, null, {}, { exeSha256: undefined }, { exeSha256: null }, { exeSha256: false }]) {
    const id = sole.processIdentity(me, o as {})
    t.is(id.pid, me)
    t.is(id.exeSha256, undefined, show(o))
  }
  t.regex(sole.processIdentity(me, { exeSha256: true }).exeSha256!, /^[0-9a-f]{64}$/)
})

test('processIdentity: an exception thrown by an options getter comes out unchanged', (t) => {
  const boom = new Error('boom from a getter')
  for (const o of throwing('exeSha256', boom)) t.is(thrown(() => sole.processIdentity(process.pid, o)), boom)
})

// ---------------------------------------------------------------------------------------------
// verifyProcess / ProcessHandle.open(identity)

const verifiers: Array<[string, (id: unknown) => unknown]> = [
  ['verifyProcess', (id) => sole.verifyProcess(id as sole.ExpectedIdentity).close()],
  ['ProcessHandle.open', (id) => sole.ProcessHandle.open(id as sole.ExpectedIdentity).close()],
]

test('verifyProcess / ProcessHandle.open(identity): a bad or missing pid is EINVALIDPID', (t) => {
  for (const [name, verify] of verifiers) {
    for (const v of [...NOT_PIDS, ...NOT_NUMBERS, null, undefined]) {
      expectError(t, thrown(() => verify({ pid: v })), 'EINVALIDPID', `${name}({ pid: ${show(v)} })`)
    }
    expectError(t, thrown(() => verify({})), 'EINVALIDPID', `${name}({})`)
  }
  // Not an object at all: verifyProcess says the identity has no pid.
  for (const v of [null, undefined, 5.5, 'x', 12n, Symbol('id'), true]) {
    expectError(t, thrown(() => sole.verifyProcess(v as sole.ExpectedIdentity)), 'EINVALIDPID', `verifyProcess(${show(v)})`)
  }
})

test('verifyProcess / ProcessHandle.open(identity): fields of the wrong type are EINVAL naming identity.<field>', (t) => {
  const me = process.pid
  const bad: Array<[string, unknown[]]> = [
    ['startTime', ['1', true, {}, 1n, Symbol('t'), Number.NaN, Infinity, -Infinity, -1, 1.5, 2 ** 53, 1e300]],
    ['bootId', [5, true, {}, 1n, Symbol('b'), ['x']]],
    ['exePath', [1, true, {}, 1n, Symbol('e')]],
    ['exeSha256', [true, 1, {}, 1n, Symbol('h'), 'zz', '0'.repeat(63)]],
  ]
  for (const [name, verify] of verifiers) {
    for (const [field, values] of bad) {
      for (const v of values) {
        expectError(t, thrown(() => verify({ pid: me, [field]: v })), 'EINVAL', `${name}: ${field} ${show(v)}`, { argument: `identity.${field}`, pid: me })
      }
    }
  }
})

test('verifyProcess: null fields are not checked; -0 and 0 are start times (never a live process)', (t) => {
  const me = process.pid
  t.notThrows(() => sole.verifyProcess({ pid: me, startTime: null, bootId: null, exePath: null, exeSha256: null } as unknown as sole.ExpectedIdentity).close())
  t.notThrows(() => sole.verifyProcess({ pid: me, startTime: undefined }).close())
  for (const st of [0, -0]) expectError(t, thrown(() => sole.verifyProcess({ pid: me, startTime: st })), 'ESTARTTIME', `startTime ${show(st)}`, { pid: me })
})

test('verifyProcess / ProcessHandle.open(identity): an exception thrown by a getter comes out unchanged', (t) => {
  const boom = new Error('boom from an identity getter')
  for (const [name, verify] of verifiers) {
    for (const key of ['pid', 'startTime', 'bootId', 'exePath', 'exeSha256']) {
      for (const id of throwing(key, boom)) {
        // Give the other fields valid values so only `key` can fail.
        const target = key === 'pid' ? id : Object.assign(Object.create(id), { pid: process.pid })
        t.is(thrown(() => verify(target)), boom, `${name}: ${key}`)
      }
    }
  }
})

test('verifyProcess / ProcessHandle.open: dead and zombie pids are ENOTFOUND', async (t) => {
  const dead = deadPid()
  const { zombie } = await startZombie(t)
  for (const [name, verify] of verifiers) {
    expectError(t, thrown(() => verify({ pid: dead })), 'ENOTFOUND', `${name} dead`, { pid: dead })
    expectError(t, thrown(() => verify({ pid: zombie })), 'ENOTFOUND', `${name} zombie`, { pid: zombie })
  }
  expectError(t, thrown(() => sole.ProcessHandle.open(dead)), 'ENOTFOUND', 'open dead', { pid: dead })
  expectError(t, thrown(() => sole.ProcessHandle.open(zombie)), 'ENOTFOUND', 'open zombie', { pid: zombie })
})

// ---------------------------------------------------------------------------------------------
// ProcessHandle.open(pid)

test('ProcessHandle.open: bad pids (and values that are neither a pid nor an identity) are EINVALIDPID', (t) => {
  for (const v of [...NOT_PIDS, ...NOT_NUMBERS.filter((v) => typeof v !== 'object'), null, undefined]) {
    expectError(t, thrown(() => sole.ProcessHandle.open(v as number)), 'EINVALIDPID', `open(${show(v)})`)
  }
})

// ---------------------------------------------------------------------------------------------
// ProcessHandle.signal / terminate / kill

test('signal: a value that is not a signal is EINVAL naming "signal" and the pid; nothing is sent', async (t) => {
  const c = await child(t)
  const h = sole.ProcessHandle.open(c.pid)
  t.teardown(() => h.close())
  const bad: unknown[] = [null, undefined, {}, [], true, 12n, Symbol('SIGTERM'), () => 15, Number.NaN, Infinity, -Infinity, -1, 1.5, 65, 2 ** 31, 2 ** 53, 1e300, 'SIGNOPE', '', 'SIG', '15.5', new String('SIGTERM')]
  for (const v of bad) {
    expectError(t, thrown(() => h.signal(v as NodeJS.Signals)), 'EINVAL', `signal(${show(v)})`, { argument: 'signal', pid: c.pid })
  }
  t.true(h.isAlive(), 'nothing was sent')
  // 0 and -0 only check; names and numbers reach the process.
  for (const s of [0, -0, 'SIGCONT', 'CONT', 18]) t.notThrows(() => h.signal(s as NodeJS.Signals), show(s))
  t.true(h.isAlive())
})

test('signal / terminate / kill: a zombie and a reaped process are ENOTFOUND; a closed handle is EBADF', async (t) => {
  const z = await zombieToBe(t)
  const hz = sole.ProcessHandle.open(z.pid)
  t.teardown(() => hz.close())
  t.true(hz.isAlive())
  await z.go()
  t.false(hz.isAlive(), 'a zombie has exited')
  await hz.waitForExit({ timeoutMs: 10_000 })
  for (const send of [() => hz.signal(0), () => hz.terminate(), () => hz.kill()]) expectError(t, thrown(send), 'ENOTFOUND', 'zombie', { pid: z.pid })
  const c = await child(t)
  const h = sole.ProcessHandle.open(c.pid)
  c.stdin!.write('x')
  await c.exited
  t.false(h.isAlive())
  for (const send of [() => h.signal('SIGTERM'), () => h.terminate(), () => h.kill()]) expectError(t, thrown(send), 'ENOTFOUND', 'reaped', { pid: c.pid })
  h.close()
  h.close()
  t.true(h.closed)
  t.false(h.isAlive())
  for (const send of [() => h.signal(0), () => h.terminate(), () => h.kill()]) expectError(t, thrown(send), 'EBADF', 'closed', { pid: c.pid })
  // The argument is decided before the handle's state.
  expectError(t, thrown(() => h.signal(Symbol('x') as unknown as NodeJS.Signals)), 'EINVAL', 'closed, bad signal', { argument: 'signal' })
  t.is(h.pid, c.pid)
  t.is(h.kind, 'pidfd')
  t.true(Number.isSafeInteger(h.startTime))
})

// ---------------------------------------------------------------------------------------------
// ProcessHandle.waitForExit

test('waitForExit: options of the wrong type reject EINVAL naming them (never napi errors, never a sync throw)', async (t) => {
  const c = await child(t)
  const h = sole.ProcessHandle.open(c.pid)
  t.teardown(() => h.close())
  const cases: Array<[unknown, string]> = [
    ...NOT_OBJECTS.map((o): [unknown, string] => [o, 'opts']),
    ...['5', true, {}, [], 5n, Symbol('t'), () => 5, new Number(5)].map((v): [unknown, string] => [{ timeoutMs: v }, 'timeoutMs']),
    ...NOT_TIMEOUTS.map((v): [unknown, string] => [{ timeoutMs: v }, 'timeoutMs']),
    ...['abort', 5, {}, true, 5n, Symbol('s'), () => 5, new EventTarget()].map((v): [unknown, string] => [{ signal: v }, 'signal']),
  ]
  for (const [opts, argument] of cases) {
    let p: Promise<void> | undefined
    t.notThrows(() => {
      p = h.waitForExit(opts as sole.WaitForExitOptions)
    }, `${show(opts)}: rejects, does not throw`)
    expectError(t, await rejected(() => p!), 'EINVAL', `waitForExit(${show(opts)})`, { argument, mentions: [String(c.pid)] })
  }
  // Decided before the handle's state: a closed handle still says which argument is wrong.
  const h2 = sole.ProcessHandle.open(c.pid)
  h2.close()
  expectError(t, await rejected(() => h2.waitForExit({ timeoutMs: -1 })), 'EINVAL', 'closed', { argument: 'timeoutMs' })
  expectError(t, await rejected(() => h2.waitForExit()), 'EBADF', 'closed', { pid: c.pid })
  t.true(h.isAlive(), 'nothing happened to the process')
})

test('waitForExit: 1e300, NaN and ±Infinity never take the process down (they are EINVAL)', async (t) => {
  const c = await child(t)
  const h = sole.ProcessHandle.open(c.pid)
  t.teardown(() => h.close())
  for (const ms of [1e300, Number.NaN, Infinity, -Infinity, -1, Number.MAX_VALUE]) {
    expectError(t, await rejected(() => h.waitForExit({ timeoutMs: ms })), 'EINVAL', `timeoutMs ${ms}`, { argument: 'timeoutMs' })
  }
  t.true(h.isAlive())
})

test('waitForExit: null/undefined options and fields mean the defaults; 0 and -0 time out at once', async (t) => {
  const c = await child(t)
  const h = sole.ProcessHandle.open(c.pid)
  t.teardown(() => h.close())
  for (const ms of [0, -0, 0.5]) {
    expectError(t, await rejected(() => h.waitForExit({ timeoutMs: ms })), 'ETIMEDOUT', `timeoutMs ${show(ms)}`, { pid: c.pid })
  }
  const waits = [h.waitForExit(), h.waitForExit(undefined), h.waitForExit(null as unknown as undefined), h.waitForExit({}), h.waitForExit({ timeoutMs: undefined, signal: undefined }), h.waitForExit({ timeoutMs: null, signal: null } as unknown as sole.WaitForExitOptions)]
  c.stdin!.write('x')
  await Promise.all(waits)
  t.false(h.isAlive(), 'every form of default options waited for the real exit')
})

test('waitForExit: 2^31 and 2^53-1 ms wait that long (still pending), and resolve when the process exits', async (t) => {
  const c = await child(t)
  const h = sole.ProcessHandle.open(c.pid)
  t.teardown(() => h.close())
  let settled = 0
  const waits = [2 ** 31, 2 ** 53 - 1, 2 ** 32 + 0.5].map((ms) =>
    h.waitForExit({ timeoutMs: ms }).finally(() => {
      settled++
    }),
  )
  // Observation window, not synchronisation: a wrapped or truncated bound would end within it.
  await new Promise((r) => setTimeout(r, 300))
  t.is(settled, 0, 'still waiting')
  h.kill()
  await Promise.all(waits)
  t.is(settled, 3)
})

test('waitForExit: an exception thrown by an options getter comes out unchanged (as the rejection)', async (t) => {
  const c = await child(t)
  const h = sole.ProcessHandle.open(c.pid)
  t.teardown(() => h.close())
  const boom = new Error('boom from a waitForExit getter')
  for (const key of ['timeoutMs', 'signal']) {
    for (const o of throwing(key, boom)) t.is(await rejected(() => h.waitForExit(o as sole.WaitForExitOptions)), boom, key)
  }
})

test('waitForExit: an aborted signal rejects AbortError without waiting; dead and zombie processes resolve', async (t) => {
  const c = await child(t)
  const h = sole.ProcessHandle.open(c.pid)
  t.teardown(() => h.close())
  const e = (await rejected(() => h.waitForExit({ signal: AbortSignal.abort('why') }))) as sole.SoleError
  t.is(e.name, 'AbortError')
  t.is(e.code, 'ABORT_ERR')
  t.is((e as Error & { cause?: unknown }).cause, 'why')
  c.stdin!.write('x')
  await c.exited
  await h.waitForExit({ timeoutMs: 0 })
  await h.waitForExit({ signal: new AbortController().signal })
  const z = await zombieToBe(t)
  const hz = sole.ProcessHandle.open(z.pid)
  t.teardown(() => hz.close())
  const pending = hz.waitForExit({ timeoutMs: 60_000 })
  await z.go()
  await pending
  await hz.waitForExit()
  t.false(hz.isAlive(), 'the waits resolved on the zombie, which is dead')
})

// ---------------------------------------------------------------------------------------------
// terminateGracefully

test('terminateGracefully: bad options are EINVAL naming them, decided before any signal is sent', async (t) => {
  const c = await child(t)
  const cases: Array<[unknown, string]> = [
    ...NOT_OBJECTS.map((o): [unknown, string] => [o, 'opts']),
    ...['5', true, {}, 5n, Symbol('t')].map((v): [unknown, string] => [{ timeoutMs: v }, 'timeoutMs']),
    ...NOT_TIMEOUTS.map((v): [unknown, string] => [{ timeoutMs: v }, 'timeoutMs']),
    ...['SIGNOPE', '', 1.5, -1, 65, Number.NaN, {}, true, 15n, Symbol('SIGTERM')].map((v): [unknown, string] => [{ signal: v }, 'signal']),
  ]
  for (const [opts, argument] of cases) {
    expectError(t, await rejected(() => sole.terminateGracefully(c.pid, opts as sole.TerminateOptions)), 'EINVAL', `terminateGracefully(pid, ${show(opts)})`, { argument })
    t.is(sole.processIdentity(c.pid).pid, c.pid, `${show(opts)}: nothing was sent`)
  }
  const h = sole.ProcessHandle.open(c.pid)
  t.teardown(() => h.close())
  expectError(t, await rejected(() => sole.terminateGracefully(h, { timeoutMs: Number.NaN })), 'EINVAL', 'handle target', { argument: 'timeoutMs' })
  t.true(h.isAlive(), 'nothing was sent through the handle either')
})

test('terminateGracefully: bad targets; null/undefined options; getters that throw; numeric signals', async (t) => {
  for (const v of [...NOT_PIDS, 'x', null, undefined, 12n, Symbol('p'), true]) {
    expectError(t, await rejected(() => sole.terminateGracefully(v as number)), 'EINVALIDPID', `target ${show(v)}`)
  }
  const boom = new Error('boom from a terminateGracefully getter')
  const c = await child(t)
  for (const key of ['timeoutMs', 'signal']) {
    for (const o of throwing(key, boom)) t.is(await rejected(() => sole.terminateGracefully(c.pid, o as sole.TerminateOptions)), boom, key)
  }
  t.true(procState(c.pid) !== '' && procState(c.pid) !== 'Z', 'nothing was sent')
  t.deepEqual(await sole.terminateGracefully(c.pid, null as unknown as undefined), { pid: c.pid, outcome: 'terminated' })
  const d = await child(t)
  t.deepEqual(await sole.terminateGracefully(d.pid, { timeoutMs: null, signal: undefined } as unknown as sole.TerminateOptions), { pid: d.pid, outcome: 'terminated' })
  const e = await child(t)
  t.deepEqual(await sole.terminateGracefully(e.pid, { signal: 15 }), { pid: e.pid, outcome: 'terminated' })
  const dead = deadPid()
  t.deepEqual(await sole.terminateGracefully(dead, {}), { pid: dead, outcome: 'not-running' })
  const { zombie } = await startZombie(t)
  t.deepEqual(await sole.terminateGracefully(zombie), { pid: zombie, outcome: 'not-running' })
  t.deepEqual(await sole.terminateGracefully({ pid: zombie, startTime: 1 }), { pid: zombie, outcome: 'not-running' })
})
