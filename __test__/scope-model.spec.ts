// Model-based test: fast-check `fc.commands` runs random register / delegate / release / adopt /
// reclaim / lookup / kill sequences against the real registry and against the independent
// model in `scope/model.ts`. After every command the outcome (result or error code, competitor,
// spawner) and the listed table must agree, and the registry invariant must hold on the table.
// Liveness is real: owners are this process and two `sleep` children that the Kill command
// SIGKILLs (awaiting their exit) and replaces with fresh ones, so reclaim runs through the real
// identity probe. A fourth pid is always dead (a reaped child, then the last one killed): an
// owner that is not running is refused (ENOTFOUND) by both.
// Replay a failure with SCOPE_MODEL_SEED=<seed> (and the printed path).
import test from 'ava'
import fc from 'fast-check'
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { ScopeRegistry, type ScopeRule, type SoleError } from '../lib/index.js'
import { Model, norm, violation, type MRule, type Outcome } from './scope/model.js'

const NAMES = ['a', 'b', 'c', 'd', 'e']
const TARGETS = ['/', '/s', '/s/a', '/s/a/x', '/s/b', '/s/b/y', '/d', '/d/e']
const SESSIONS = ['s1', 's2', 's3']

/** `pids`: this process, the two kids, and a dead pid. */
interface World { reg: ScopeRegistry; pids: number[]; kids: ChildProcess[]; dir: string }

const spelling = fc.constantFrom((t: string) => t, (t: string) => t + '/', (t: string) => '/.' + t, (t: string) => '/zz/..' + t)
const rule = fc
  .record({ t: fc.constantFrom(...TARGETS), s: spelling, permission: fc.constantFrom<'read' | 'write'>('read', 'write', 'write'), recursive: fc.boolean() })
  .map(({ t, s, permission, recursive }): ScopeRule => ({ target: s(t), permission, recursive }))
const rules = fc.array(rule, { minLength: 1, maxLength: 2 })

function real(fn: () => unknown): Outcome {
  try {
    return { ok: true, value: fn() }
  } catch (e) {
    const err = e as SoleError & { competitor?: string; spawner?: string }
    return { ok: false, code: err.code, who: err.competitor ?? err.spawner }
  }
}
const mrules = (rs: ScopeRule[]): MRule[] => rs.map((r) => ({ ...r, target: norm(r.target) }))

/** What the runs exercised, so a vacuous run (every command refused the same way) fails. */
const tally = new Map<string, number>()
const count = (k: string) => tally.set(k, (tally.get(k) ?? 0) + 1)

abstract class Cmd implements fc.AsyncCommand<Model, World> {
  check() { return true }
  abstract apply(m: Model, w: World): Promise<[Outcome, Outcome]>
  async run(m: Model, w: World) {
    const [want, got] = await this.apply(m, w)
    const norm = (o: Outcome) => (o.ok ? { ok: true, value: o.value ?? null } : { ok: false, code: o.code, who: o.who })
    if (JSON.stringify(norm(want)) !== JSON.stringify(norm(got))) throw new Error(`${this}: model ${JSON.stringify(want)} real ${JSON.stringify(got)}`)
    // A kill does not touch the registry: the next command must do the reclaiming itself.
    if (this instanceof Kill) return
    const listed = w.reg.list().map(({ name, pid, scopes, delegatedFrom, sessionId }) => ({ name, pid, scopes, delegatedFrom, sessionId }))
    m.reclaim() // list() reclaims too
    if (JSON.stringify(listed) !== JSON.stringify(m.allocs)) throw new Error(`${this}: tables differ\nmodel ${JSON.stringify(m.allocs)}\nreal  ${JSON.stringify(listed)}`)
    count(`${this.constructor.name}:${got.ok ? 'ok' : got.code}`)
    if (this instanceof Reclaim && got.ok && (got.value as string[]).length > 0) count('reclaimed')
    if (listed.some((a) => a.delegatedFrom !== null)) count('delegated-present')
    const v = violation(listed)
    if (v) throw new Error(`${this}: invariant broken: ${v}`)
  }
}

class Register extends Cmd {
  constructor(readonly n: number, readonly p: number, readonly rs: ScopeRule[], readonly s: number) { super() }
  async apply(m: Model, w: World): Promise<[Outcome, Outcome]> {
    const pid = w.pids[this.p]
    return [m.register(NAMES[this.n], pid, mrules(this.rs), SESSIONS[this.s]), real(() => w.reg.register({ name: NAMES[this.n], pid, scopes: this.rs, sessionId: SESSIONS[this.s] }))]
  }
  toString() { return `register(${NAMES[this.n]}, pid#${this.p}, ${JSON.stringify(this.rs)}, ${SESSIONS[this.s]})` }
}
class Delegate extends Cmd {
  constructor(readonly sp: number, readonly n: number, readonly p: number, readonly rs: ScopeRule[], readonly known = false) { super() }
  /** Most delegations name a spawner that exists, so successful delegation chains get deep. */
  check(m: Model) { return !this.known || m.allocs.some((a) => a.name === NAMES[this.sp]) }
  async apply(m: Model, w: World): Promise<[Outcome, Outcome]> {
    const pid = w.pids[this.p]
    return [m.delegate(NAMES[this.sp], NAMES[this.n], pid, mrules(this.rs)), real(() => w.reg.delegate(NAMES[this.sp], { name: NAMES[this.n], pid, scopes: this.rs }))]
  }
  toString() { return `delegate(${NAMES[this.sp]} → ${NAMES[this.n]}, pid#${this.p}, ${JSON.stringify(this.rs)})` }
}
class Release extends Cmd {
  constructor(readonly n: number) { super() }
  async apply(m: Model, w: World): Promise<[Outcome, Outcome]> {
    return [m.release(NAMES[this.n]), real(() => w.reg.release(NAMES[this.n]))]
  }
  toString() { return `release(${NAMES[this.n]})` }
}
class Adopt extends Cmd {
  constructor(readonly n: number, readonly p: number, readonly s: number) { super() }
  async apply(m: Model, w: World): Promise<[Outcome, Outcome]> {
    const pid = w.pids[this.p]
    return [m.adopt(NAMES[this.n], pid, SESSIONS[this.s]), real(() => w.reg.adopt(NAMES[this.n], { pid, sessionId: SESSIONS[this.s] }))]
  }
  toString() { return `adopt(${NAMES[this.n]}, pid#${this.p}, ${SESSIONS[this.s]})` }
}
class Reclaim extends Cmd {
  async apply(m: Model, w: World): Promise<[Outcome, Outcome]> {
    return [m.reclaimStale(), real(() => w.reg.reclaimStale())]
  }
  toString() { return 'reclaimStale()' }
}
class Lookup extends Cmd {
  constructor(readonly s: number) { super() }
  async apply(m: Model, w: World): Promise<[Outcome, Outcome]> {
    return [m.lookup(SESSIONS[this.s]), real(() => w.reg.lookupSession(SESSIONS[this.s])?.name ?? null)]
  }
  toString() { return `lookupSession(${SESSIONS[this.s]})` }
}
class Kill extends Cmd {
  constructor(readonly k: number) { super() }
  async apply(m: Model, w: World): Promise<[Outcome, Outcome]> {
    const c = w.kids[this.k]
    if (c.exitCode === null && c.signalCode === null) {
      const exited = new Promise((res) => c.once('exit', res))
      c.kill('SIGKILL')
      await exited
    }
    m.dead.add(w.pids[this.k + 1])
    // A fresh process takes the slot, so later commands have a live owner to use (an owner
    // that is not running is refused with ENOTFOUND); the dead pid stays in the model's set.
    const fresh = spawn('sleep', ['300'], { stdio: 'ignore' })
    await new Promise((res) => fresh.once('spawn', res))
    w.kids[this.k] = fresh
    w.pids[3] = w.pids[this.k + 1]
    w.pids[this.k + 1] = fresh.pid!
    return [{ ok: true }, { ok: true }]
  }
  toString() { return `kill(pid#${this.k + 1})` }
}

const commands = [
  fc.tuple(fc.nat(4), fc.nat(3), rules, fc.nat(2)).map(([n, p, rs, s]) => new Register(n, p, rs, s)),
  fc.tuple(fc.nat(4), fc.nat(3), rules, fc.nat(2)).map(([n, p, rs, s]) => new Register(n, p, rs, s)),
  fc.tuple(fc.nat(4), fc.nat(4), fc.nat(3), rules).map(([sp, n, p, rs]) => new Delegate(sp, n, p, rs, true)),
  fc.tuple(fc.nat(4), fc.nat(4), fc.nat(3), rules).map(([sp, n, p, rs]) => new Delegate(sp, n, p, rs, true)),
  fc.tuple(fc.nat(4), fc.nat(4), fc.nat(3), rules).map(([sp, n, p, rs]) => new Delegate(sp, n, p, rs, true)),
  fc.tuple(fc.nat(4), fc.nat(4), fc.nat(3), rules).map(([sp, n, p, rs]) => new Delegate(sp, n, p, rs)),
  fc.nat(4).map((n) => new Release(n)),
  fc.tuple(fc.nat(4), fc.nat(3), fc.nat(2)).map(([n, p, s]) => new Adopt(n, p, s)),
  fc.constant(new Reclaim()),
  fc.nat(2).map((s) => new Lookup(s)),
  fc.nat(1).map((k) => new Kill(k)),
]

test('registry agrees with the model after every command, and the invariant holds', async (t) => {
  const seed = process.env.SCOPE_MODEL_SEED ? Number(process.env.SCOPE_MODEL_SEED) : undefined
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'sole-scope-model-'))
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }))
  let run = 0
  const all: ChildProcess[] = []
  t.teardown(() => all.forEach((c) => c.kill('SIGKILL')))
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: 40, size: 'large' }), async (cmds) => {
      const kids = [0, 1].map(() => spawn('sleep', ['300'], { stdio: 'ignore' }))
      all.push(...kids)
      await Promise.all(kids.map((c) => new Promise((res) => c.once('spawn', res))))
      const gone = spawn('true', { stdio: 'ignore' })
      const dead = await new Promise<number>((res) => gone.once('exit', () => res(gone.pid!)))
      const dir = path.join(base, String(run++))
      const world: World = { reg: ScopeRegistry.open(path.join(dir, 'scope.json')), pids: [process.pid, kids[0].pid!, kids[1].pid!, dead], kids, dir }
      const model = () => {
        const m = new Model()
        m.dead.add(dead)
        return m
      }
      try {
        await fc.asyncModelRun(() => ({ model: model(), real: world }), cmds)
      } finally {
        kids.forEach((c) => c.kill('SIGKILL'))
      }
    }),
    { numRuns: Number(process.env.SCOPE_MODEL_RUNS ?? 150), seed },
  )
  t.log(JSON.stringify(Object.fromEntries([...tally].sort())))
  for (const k of ['Register:ok', 'Register:ECONFLICT', 'Register:EDUPLICATE', 'Register:ENOTFOUND', 'Delegate:ok', 'Delegate:ENOTSUBSET', 'Delegate:EUNKNOWN', 'Release:ok', 'Release:EUNKNOWN', 'Adopt:ok', 'reclaimed', 'delegated-present']) {
    t.true((tally.get(k) ?? 0) > 0, `never exercised: ${k}`)
  }
})

test('the model test can fail: a model that forgets to reparent on release disagrees', async (t) => {
  // Guard against a vacuous comparison: a broken model must be caught.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sole-scope-model-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const reg = ScopeRegistry.open(path.join(dir, 'scope.json'))
  const m = new Model()
  m.release = function (name: string) {
    this.allocs = this.allocs.filter((a) => a.name !== name)
    return { ok: true }
  }
  const w: World = { reg, pids: [process.pid], kids: [], dir }
  const rw = (x: string): ScopeRule[] => [{ target: x, permission: 'write', recursive: true }]
  await new Register(0, 0, rw('/s'), 0).run(m, w)
  await new Delegate(0, 1, 0, rw('/s/a')).run(m, w)
  await new Delegate(1, 2, 0, rw('/s/a/x')).run(m, w)
  await t.throwsAsync(new Release(1).run(m, w), { message: /tables differ/ })
})
