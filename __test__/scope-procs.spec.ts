// The scope registry across real processes: concurrent workers with SIGKILLs (reclaim by the
// next operation of any process), and crash injection into a tight save loop (the file always
// parses to a table some completed operation produced). Readiness and progress come from the
// workers' IPC messages, never from sleeps.
import test, { type ExecutionContext } from 'ava'
import fc from 'fast-check'
import { fork, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import { ScopeRegistry } from '../lib/index.js'
import { violation, type MAlloc } from './scope/model.js'
import { tmpdir, w } from './helpers/index.js'

const WORKER = fileURLToPath(new URL('./scope/worker.mjs', import.meta.url))

interface Worker { child: ChildProcess; pid: number; exited: Promise<unknown>; call(op: string, args?: unknown): Promise<{ ok: boolean; code?: string; result?: unknown }> }

async function start(t: ExecutionContext, file: string, mode = 'serve', tag = '', onMsg?: (m: { done: number }) => void): Promise<Worker> {
  const child = fork(WORKER, [file, mode, tag], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  t.teardown(() => child.kill('SIGKILL'))
  const exited = new Promise((res) => child.once('exit', res))
  const pending = new Map<number, (v: never) => void>()
  let next = 1
  const ready = new Promise<number>((res, rej) => {
    exited.then(() => rej(new Error('worker exited before ready')))
    child.on('message', (m: { ready?: boolean; pid: number; id?: number; done?: number }) => {
      if (m.ready) return res(m.pid)
      if (m.done !== undefined) return onMsg?.(m as { done: number })
      pending.get(m.id!)?.(m as never)
      pending.delete(m.id!)
    })
  })
  const pid = await ready
  const call = (op: string, args?: unknown) =>
    new Promise<{ ok: boolean; code?: string; result?: unknown }>((res, rej) => {
      const id = next++
      pending.set(id, res as never)
      exited.then(() => pending.has(id) && rej(new Error('worker died')))
      child.send({ id, op, args })
    })
  return { child, pid, exited, call }
}

const raw = (file: string): MAlloc[] => (fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { allocations: MAlloc[] }).allocations : [])

test('concurrent workers with SIGKILLs: file parses, invariant holds, the dead are reclaimed by the next operation', async (t) => {
  const file = path.join(tmpdir(t), 'scope.json')
  ScopeRegistry.open(file)
  const N = 4
  const targets = ['/t', '/t/a', '/t/a/x', '/t/b', '/t/b/y', '/u', '/u/c']
  const step = fc.record({ op: fc.constantFrom('register', 'delegate', 'delegate', 'release'), t: fc.nat(targets.length - 1), k: fc.nat(5), kill: fc.nat(9) })
  const rounds = fc.sample(fc.array(step, { minLength: N, maxLength: N }), { numRuns: 25, seed: Number(process.env.SCOPE_PROCS_SEED ?? 42) })
  const workers: Worker[] = await Promise.all(Array.from({ length: N }, () => start(t, file)))
  const killedBefore = new Set<number>()
  let kills = 0
  for (const [r, steps] of rounds.entries()) {
    // Every worker gets one operation at the same time; some are SIGKILLed right after sending
    // (mid-operation or not), but at least one per round survives to do the reclaiming.
    const sends = steps.map((s, i) => {
      const me = workers[i]
      const name = `w${me.pid}-${s.k}`
      const mine = `w${me.pid}-${(s.k + 1) % 6}`
      const args =
        s.op === 'register' ? { name, scopes: [w(targets[s.t])], sessionId: name }
        : s.op === 'delegate' ? { spawner: mine, opts: { name, scopes: [w(targets[s.t] + '/sub' + s.k)] } }
        : { name }
      return me.call(s.op, args).catch(() => null)
    })
    const victims = steps.map((s, i) => s.kill === 0 && i !== r % N)
    for (const [i, v] of victims.entries()) if (v) workers[i].child.kill('SIGKILL')
    await Promise.all(sends.map((p, i) => (victims[i] ? workers[i].exited : p)))
    // Snapshot: it parses and the invariant holds.
    const table = raw(file)
    t.is(violation(table), null)
    // Everyone killed before this round was reclaimed by this round's operations.
    for (const a of table) t.false(killedBefore.has(a.pid), `allocation ${a.name} of pid ${a.pid} killed before round ${r} survived it`)
    for (const [i, v] of victims.entries()) {
      if (!v) continue
      kills++
      killedBefore.add(workers[i].pid)
      workers[i] = await start(t, file)
    }
  }
  t.true(kills > 0, 'the schedule killed someone')
  const reg = ScopeRegistry.open(file)
  t.deepEqual(reg.list().filter((a) => killedBefore.has(a.pid)), [])
})

test('crash injection: SIGKILL in a tight save loop; the file always parses to a table some completed operation produced', async (t) => {
  const total = Number(process.env.SCOPE_CRASH_KILLS ?? 1000)
  const parallel = 3
  const file = path.join(tmpdir(t), 'scope.json')
  const reg = ScopeRegistry.open(file)
  // Ballast owned by this (live) process: a larger file makes a torn write likelier.
  for (let i = 0; i < 200; i++) reg.register({ name: `ballast-${i}`, scopes: [w(`/ballast/${i}`)], sessionId: `b${i}` })
  const ballast = JSON.stringify(reg.list())
  let done = 0
  let n = 0
  const lane = async (lane: number) => {
    while (n < total) {
      const i = n++
      const tag = `L${lane}x${i}`
      // Kill after a pseudo-random number (1..12) of completed operations.
      const after = 1 + ((i * 7919) % 12)
      let wk: Worker | undefined
      const killed = new Promise<void>((res) => {
        start(t, file, 'writer', tag, (m) => {
          if (m.done + 1 >= after && wk) wk.child.kill('SIGKILL')
        }).then((x) => { wk = x; x.exited.then(() => res()) })
      })
      await killed
      // The file parses (open would throw ECORRUPT) and holds the ballast plus at most one
      // of each writer's own names, the state after some completed register or release.
      const table = raw(file)
      const others = table.filter((a) => !a.name.startsWith('ballast-'))
      t.true(others.every((a) => /^L\d+x\d+-\d+$/.test(a.name)), JSON.stringify(others))
      t.true(others.filter((a) => a.name.startsWith(tag + '-')).length <= 1)
      done++
    }
  }
  await Promise.all(Array.from({ length: parallel }, (_, i) => lane(i)))
  t.is(done, total)
  // The next operation reclaims every killed writer; the ballast is intact.
  const after = ScopeRegistry.open(file)
  after.reclaimStale()
  t.is(JSON.stringify(after.list().map(({ name, pid, startTime, bootId, socket, scopes, delegatedFrom, sessionId }) => ({ name, pid, startTime, bootId, socket, scopes, delegatedFrom, sessionId }))), ballast)
  t.false(fs.readdirSync(path.dirname(file)).some((f) => f.includes('corrupt')))
})
