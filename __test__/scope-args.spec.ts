// Arguments of the scope registry, decided once in Rust: every method of `ScopeRegistry`, the
// pure rule helpers and the guards, called with wrong types and values for every argument and
// option. Each must throw an `Error` with `code: 'EINVAL'` and `err.argument` naming the
// argument (pids: `EINVALIDPID`), never one of napi's own conversion errors, never crash or
// hang, and write nothing. `null`/`undefined` options mean the defaults. A caller's own
// exception (a throwing getter, Proxy trap or `toJSON`) comes out as the very same object.
import test, { type ExecutionContext } from 'ava'
import fs from 'node:fs'
import path from 'node:path'

import { ScopeRegistry, rulesOverlap, coversFully, type SoleError } from '../lib/index.js'
import { tmpdir, w } from './helpers/index.js'

type Err = SoleError & { argument?: string }

/** Every file in `dir` with its bytes, to prove a refusal wrote nothing. */
function snapshot(dir: string): string {
  return JSON.stringify(fs.readdirSync(dir).sort().map((n) => [n, fs.readFileSync(path.join(dir, n)).toString('base64')]))
}
/** A registry with a parent 'a' (/src, session 's') and a reserved child 'kid' (/src/kid). */
function seeded(t: ExecutionContext): { dir: string; reg: ScopeRegistry } {
  const dir = tmpdir(t)
  const reg = ScopeRegistry.open(path.join(dir, 'scope.json'))
  reg.register({ name: 'a', scopes: [w('/src')], sessionId: 's' })
  reg.delegate('a', { name: 'kid', scopes: [w('/src/kid')] })
  return { dir, reg }
}

const HUGE = 'n'.repeat(10 * 1024 * 1024)
/** A label for a value in assertion messages. */
function show(v: unknown): string {
  if (typeof v === 'string') return v.length > 20 ? `string(${v.length})` : JSON.stringify(v)
  if (typeof v === 'bigint') return `${v}n`
  if (typeof v === 'symbol' || typeof v === 'function') return typeof v
  if (Object.is(v, -0)) return '-0'
  if (typeof v === 'number') return String(v)
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v
}

/** napi's own conversion errors, which must never reach a user. */
const NAPI = /StringExpected|NumberExpected|ObjectExpected|BooleanExpected|InvalidArg|GenericFailure|Failed to (convert|get)|expect(ed)? .* type/

function refused(t: ExecutionContext, what: string, fn: () => unknown, code: string, argument?: string): Err | undefined {
  let e: Err | undefined
  try {
    fn()
  } catch (x) {
    e = x as Err
  }
  if (!(e instanceof Error)) {
    t.fail(`${what}: expected ${code}${argument ? ` (${argument})` : ''}, got ${e === undefined ? 'no error' : show(e)}`)
    return undefined
  }
  t.is(e.code, code, `${what}: ${e.message}`)
  if (argument !== undefined) t.is(e.argument, argument, `${what}: ${e.message}`)
  t.notRegex(e.message, NAPI, what)
  t.true(e.message.length < 2000, `${what}: the message stays readable (${e.message.length} chars)`)
  return e
}

// Values of the wrong type for each kind of argument.
const notString = [1, 0, NaN, true, {}, [], Symbol('s'), 10n, () => 'x', new String('x')]
const missing = [undefined, null]
const badName = [...missing, ...notString, '', 'a\0b', HUGE]
const notObject = [1, 'x', true, Symbol('o'), 10n, () => ({})]
const badPid = ['12', true, {}, [], Symbol('p'), 12n, () => 12, NaN, Infinity, -Infinity, -0, 0, -1, 1.5, 2 ** 31, 2 ** 53, 1e300]
const badBool = [...missing, 1, 0, 'true', {}, [], Symbol('b'), 1n, () => true, NaN]
const badTarget = [...missing, 1, true, {}, [], Symbol('t'), 1n, () => '/', '', 'rel', './x', '/a\0b', '/' + HUGE]
const badPermission = [...missing, 'own', 'WRITE', 1, true, {}, [], Symbol('p'), 1n, () => 'write']
const badSocket = [1, true, {}, [], Symbol('s'), 1n, () => '/s', '/a\0b', '/' + HUGE]
const badScopes = [...missing, 1, 'x', {}, true, Symbol('s'), 1n, () => []]
const badRuleValue = [null, 1, 'x', [], true, Symbol('r'), 1n, () => ({})]

/**
 * Every way to get a rule wrong, as `[label, rule, argument suffix]` (the suffix is appended to
 * the rule's own argument name: `rule`, `scopes[0]`, `a`, …).
 */
function badRules(): Array<[string, unknown, string]> {
  const out: Array<[string, unknown, string]> = []
  for (const v of badRuleValue) out.push([`rule ${show(v)}`, v, ''])
  for (const v of badTarget) out.push([`target ${show(v)}`, { ...w('/x'), target: v }, '.target'])
  for (const v of badPermission) out.push([`permission ${show(v)}`, { ...w('/x'), permission: v }, '.permission'])
  for (const v of badBool) out.push([`recursive ${show(v)}`, { ...w('/x'), recursive: v }, '.recursive'])
  out.push(['unknown key', { ...w('/x'), extra: 1 }, '.extra'])
  return out
}

/** Wrong register()/installTopLevel() options as `[label, opts, code, argument]`. */
function badRegisterOpts(): Array<[string, unknown, string, string]> {
  const ok = { name: 'b', scopes: [w('/b')], sessionId: 'sb' }
  const out: Array<[string, unknown, string, string]> = []
  for (const v of notObject) out.push([`opts ${show(v)}`, v, 'EINVAL', 'opts'])
  out.push(['opts array', [ok], 'EINVAL', 'opts'])
  for (const v of missing) out.push([`opts ${show(v)} (defaults: no name)`, v, 'EINVAL', 'name'])
  for (const v of badName) out.push([`name ${show(v)}`, { ...ok, name: v }, 'EINVAL', 'name'])
  for (const v of badPid) out.push([`pid ${show(v)}`, { ...ok, pid: v }, 'EINVALIDPID', 'pid'])
  for (const v of badSocket) out.push([`socket ${show(v)}`, { ...ok, socket: v }, 'EINVAL', 'socket'])
  for (const v of badScopes) out.push([`scopes ${show(v)}`, { ...ok, scopes: v }, 'EINVAL', 'scopes'])
  out.push(['1,025 rules', { ...ok, scopes: Array.from({ length: 1025 }, (_, i) => w(`/b/${i}`)) }, 'EINVAL', 'scopes'])
  for (const [label, rule, suffix] of badRules()) out.push([`scopes[1] ${label}`, { ...ok, scopes: [w('/b'), rule] }, 'EINVAL', `scopes[1]${suffix}`])
  for (const v of badName) out.push([`sessionId ${show(v)}`, { ...ok, sessionId: v }, 'EINVAL', 'sessionId'])
  out.push(['unknown option', { ...ok, extra: true }, 'EINVAL', 'extra'])
  return out
}

/** Wrong adopt()/adoptAllocation() options. */
function badAdoptOpts(): Array<[string, unknown, string, string]> {
  const ok = { sessionId: 'k' }
  const out: Array<[string, unknown, string, string]> = []
  for (const v of notObject) out.push([`opts ${show(v)}`, v, 'EINVAL', 'opts'])
  for (const v of missing) out.push([`opts ${show(v)} (defaults: no sessionId)`, v, 'EINVAL', 'sessionId'])
  for (const v of badPid) out.push([`pid ${show(v)}`, { ...ok, pid: v }, 'EINVALIDPID', 'pid'])
  for (const v of badName) out.push([`sessionId ${show(v)}`, { ...ok, sessionId: v }, 'EINVAL', 'sessionId'])
  out.push(['unknown option', { ...ok, name: 'x' }, 'EINVAL', 'name'])
  return out
}

/** Run `cases` against a seeded registry; each must be refused and leave the files unchanged. */
function each(t: ExecutionContext, method: string, cases: Array<[string, () => unknown, string, string]>) {
  for (const [label, call, code, argument] of cases) {
    refused(t, `${method}: ${label}`, call, code, argument)
  }
}

test('ScopeRegistry.open(path, opts): every wrong path and option is EINVAL naming it; null/undefined are the defaults', (t) => {
  const dir = tmpdir(t)
  const file = path.join(dir, 'scope.json')
  const open = ScopeRegistry.open as (...a: unknown[]) => ScopeRegistry
  for (const v of [...notString, '', 'a\0b', '/' + HUGE]) refused(t, `path ${show(v)}`, () => open(v), 'EINVAL', 'path')
  for (const v of [1, 'x', true, Symbol('o'), 10n]) refused(t, `opts ${show(v)}`, () => open(file, v), 'EINVAL', 'opts')
  for (const v of ['1', true, {}, [], Symbol('t'), 1n, () => 1, NaN, Infinity, -Infinity, -1, -1e-9, 2 ** 53, 1e300]) {
    const e = refused(t, `timeoutMs ${show(v)}`, () => open(file, { timeoutMs: v }), 'EINVAL', 'timeoutMs')
    if (typeof v === 'number') t.true(e?.message.includes(file), `the message names the registry: ${e?.message}`)
  }
  t.deepEqual(fs.readdirSync(dir), [], 'nothing created by a refused open')
  // Defaults: no options, null, undefined, {} and null/undefined timeoutMs; -0, 0 and the
  // largest safe integer are waits like any other.
  for (const opts of [undefined, null, {}, { timeoutMs: null }, { timeoutMs: undefined }, { timeoutMs: 0 }, { timeoutMs: -0 }, { timeoutMs: 1.5 }, { timeoutMs: Number.MAX_SAFE_INTEGER }]) {
    const reg = open(file, opts)
    t.is(reg.path, file)
    t.deepEqual(reg.list(), [])
    reg.close()
  }
  // null/undefined path: the default path.
  const prev = process.env.SOLE_RUNTIME_DIR
  process.env.SOLE_RUNTIME_DIR = dir
  try {
    t.is(open(undefined).path, file)
    t.is(open(null, null).path, file)
  } finally {
    if (prev === undefined) delete process.env.SOLE_RUNTIME_DIR
    else process.env.SOLE_RUNTIME_DIR = prev
  }
})

test('ScopeRegistry.repair(path): wrong types and values are EINVAL naming path', (t) => {
  const repair = ScopeRegistry.repair as (p: unknown) => string | null
  for (const v of [...missing, ...notString, '', 'a\0b', '/' + HUGE]) refused(t, `path ${show(v)}`, () => repair(v), 'EINVAL', 'path')
})

test('register and installTopLevel: every wrong option is EINVAL (pids EINVALIDPID) naming it; nothing written', (t) => {
  const { dir, reg } = seeded(t)
  const before = snapshot(dir)
  for (const method of ['register', 'installTopLevel'] as const) {
    const call = (reg[method] as (o: unknown) => unknown).bind(reg)
    each(t, method, badRegisterOpts().map(([label, opts, code, argument]) => [label, () => call(opts), code, argument]))
  }
  t.is(snapshot(dir), before)
  // null/undefined optional fields are the defaults.
  reg.register({ name: 'b', pid: null, socket: undefined, scopes: [w('/b')], sessionId: 'sb' } as never)
  const b = reg.list().find((a) => a.name === 'b')
  t.is(b?.pid, process.pid)
  t.is(b?.socket, null)
})

test('delegate(spawner, opts): wrong spawner, wrong options (and a sessionId) are EINVAL naming them; nothing written', (t) => {
  const { dir, reg } = seeded(t)
  const before = snapshot(dir)
  const delegate = reg.delegate.bind(reg) as (s: unknown, o: unknown) => void
  const ok = { name: 'b', scopes: [w('/src/b')] }
  each(t, 'delegate', [
    ...badName.map((v): [string, () => unknown, string, string] => [`spawner ${show(v)}`, () => delegate(v, ok), 'EINVAL', 'spawner']),
    ...badRegisterOpts()
      .filter(([label]) => !label.startsWith('sessionId'))
      .map(([label, opts, code, argument]): [string, () => unknown, string, string] => {
        // The same option table, without the sessionId a delegation must not have.
        const o = opts !== null && typeof opts === 'object' && !Array.isArray(opts) ? { ...(opts as object), sessionId: undefined } : opts
        return [label, () => delegate('a', o), code, argument]
      }),
    ...badRules().map(([label, rule, suffix]): [string, () => unknown, string, string] => [`scopes[0] ${label}`, () => delegate('a', { ...ok, scopes: [rule] }), 'EINVAL', `scopes[0]${suffix}`]),
    ['a sessionId', () => delegate('a', { ...ok, sessionId: 'x' }), 'EINVAL', 'sessionId'],
  ])
  t.is(snapshot(dir), before)
  delegate('a', { ...ok, sessionId: null, pid: undefined, socket: null })
  t.is(reg.list().find((a) => a.name === 'b')?.delegatedFrom, 'a')
})

test('adopt and adoptAllocation: wrong name and options are EINVAL (pids EINVALIDPID) naming them; nothing written', (t) => {
  const { dir, reg } = seeded(t)
  const before = snapshot(dir)
  for (const method of ['adopt', 'adoptAllocation'] as const) {
    const call = (reg[method] as (n: unknown, o: unknown) => unknown).bind(reg)
    each(t, method, [
      ...badName.map((v): [string, () => unknown, string, string] => [`name ${show(v)}`, () => call(v, { sessionId: 'k' }), 'EINVAL', 'name']),
      ...badAdoptOpts().map(([label, opts, code, argument]): [string, () => unknown, string, string] => [label, () => call('kid', opts), code, argument]),
    ])
  }
  t.is(snapshot(dir), before)
  reg.adopt('kid', { sessionId: 'k', pid: null } as never)
  t.is(reg.lookupSession('k')?.pid, process.pid)
})

test('release, lookupSession, effectiveWriteScope: wrong names are EINVAL naming them', (t) => {
  const { dir, reg } = seeded(t)
  const before = snapshot(dir)
  const release = reg.release.bind(reg) as (n: unknown) => void
  const lookup = reg.lookupSession.bind(reg) as (n: unknown) => unknown
  const scope = reg.effectiveWriteScope.bind(reg) as (n: unknown) => unknown
  for (const v of badName) {
    refused(t, `release ${show(v)}`, () => release(v), 'EINVAL', 'name')
    refused(t, `lookupSession ${show(v)}`, () => lookup(v), 'EINVAL', 'sessionId')
    refused(t, `effectiveWriteScope ${show(v)}`, () => scope(v), 'EINVAL', 'name')
  }
  t.is(snapshot(dir), before)
  // Extra arguments of argument-less methods are ignored.
  t.deepEqual((reg.reclaimStale as (...a: unknown[]) => string[])(1, 'x', Symbol('x')), [])
  t.is((reg.list as (...a: unknown[]) => unknown[])(1n, {}).length, 2)
})

test('withinEffectiveWrite(name, rule) and conflictOwner(rule, exempt): every wrong argument is EINVAL naming it', (t) => {
  const { dir, reg } = seeded(t)
  const before = snapshot(dir)
  const within = reg.withinEffectiveWrite.bind(reg) as (n: unknown, r: unknown) => boolean
  const owner = reg.conflictOwner.bind(reg) as (r: unknown, e?: unknown) => string | null
  for (const v of badName) refused(t, `withinEffectiveWrite name ${show(v)}`, () => within(v, w('/src/x')), 'EINVAL', 'name')
  for (const [label, rule, suffix] of badRules()) {
    refused(t, `withinEffectiveWrite ${label}`, () => within('a', rule), 'EINVAL', `rule${suffix}`)
    refused(t, `conflictOwner ${label}`, () => owner(rule), 'EINVAL', `rule${suffix}`)
  }
  for (const v of [...notString, '', 'a\0b', HUGE]) refused(t, `conflictOwner exempt ${show(v)}`, () => owner(w('/src/x'), v), 'EINVAL', 'exempt')
  t.is(snapshot(dir), before)
  t.is(owner(w('/src/x'), null), 'a')
  t.is(owner(w('/src/x'), undefined), 'a')
})

test('rulesOverlap and coversFully: every wrong rule is EINVAL naming the argument', (t) => {
  const overlap = rulesOverlap as (a: unknown, b: unknown) => boolean
  const covers = coversFully as (a: unknown, b: unknown) => boolean
  for (const [label, rule, suffix] of badRules()) {
    refused(t, `rulesOverlap a ${label}`, () => overlap(rule, w('/x')), 'EINVAL', `a${suffix}`)
    refused(t, `rulesOverlap b ${label}`, () => overlap(w('/x'), rule), 'EINVAL', `b${suffix}`)
    refused(t, `coversFully cover ${label}`, () => covers(rule, w('/x')), 'EINVAL', `cover${suffix}`)
    refused(t, `coversFully inner ${label}`, () => covers(w('/x'), rule), 'EINVAL', `inner${suffix}`)
  }
})

test('guards: extra arguments are ignored; release and dispose work', (t) => {
  const { reg } = seeded(t)
  const g = reg.installTopLevel({ name: 'g', scopes: [w('/g')], sessionId: 'g' })
  t.is(g.name, 'g')
  t.false(g.released)
  t.true((g.release as (...a: unknown[]) => boolean)(Symbol('x'), 1n, null))
  t.true(g.released)
  t.false(g.release())
  g[Symbol.dispose]()
  reg.adopt('kid', { sessionId: 'k' })
  const a = reg.adoptAllocation('kid', { sessionId: 'k' })
  ;(a[Symbol.dispose] as (...x: unknown[]) => void)({}, 'x')
  t.is(reg.lookupSession('k'), null)
  const close = reg.close.bind(reg) as (...a: unknown[]) => void
  close(1, 2)
  refused(t, 'after close', () => reg.list(), 'EBADF')
})

// --- values JSON cannot carry, and the caller's own exceptions ---

test('bigints, symbols, functions, NaN and cycles in options are EINVAL naming where, never dropped or a TypeError', (t) => {
  const { dir, reg } = seeded(t)
  const before = snapshot(dir)
  const ok = () => ({ name: 'b', scopes: [w('/b')], sessionId: 'sb' }) as Record<string, unknown>
  const register = reg.register.bind(reg) as (o: unknown) => void
  const cases: Array<[string, unknown, string, string, RegExp]> = [
    ['bigint name', { ...ok(), name: 12n }, 'EINVAL', 'name', /bigint/],
    ['bigint socket', { ...ok(), socket: 1n }, 'EINVAL', 'socket', /bigint/],
    ['bigint in a rule', { ...ok(), scopes: [{ ...w('/b'), recursive: 1n }] }, 'EINVAL', 'scopes[0].recursive', /bigint/],
    ['bigint pid', { ...ok(), pid: 4242n }, 'EINVALIDPID', 'pid', /bigint/],
    ['symbol socket (JSON would drop it)', { ...ok(), socket: Symbol('s') }, 'EINVAL', 'socket', /symbol/],
    ['function socket (JSON would drop it)', { ...ok(), socket: () => '/s' }, 'EINVAL', 'socket', /function/],
    ['symbol pid (JSON would drop it: this process)', { ...ok(), pid: Symbol('p') }, 'EINVALIDPID', 'pid', /symbol/],
    ['function in scopes (JSON would write null)', { ...ok(), scopes: [() => w('/b')] }, 'EINVAL', 'scopes[0]', /function/],
    ['NaN pid (JSON would write null: this process)', { ...ok(), pid: NaN }, 'EINVALIDPID', 'pid', /NaN/],
    ['Infinity pid', { ...ok(), pid: Infinity }, 'EINVALIDPID', 'pid', /Infinity/],
    ['-0 pid', { ...ok(), pid: -0 }, 'EINVALIDPID', 'pid', /-0/],
    ['2^53 pid', { ...ok(), pid: 2 ** 53 }, 'EINVALIDPID', 'pid', /9007199254740992/],
    ['the options themselves a bigint', 5n, 'EINVAL', 'opts', /bigint/],
  ]
  const selfish = ok()
  selfish.socket = selfish
  cases.push(['a cycle through socket', selfish, 'EINVAL', 'socket', /cycle|contains itself/])
  const ring = ok()
  const rule: Record<string, unknown> = { ...w('/b') }
  rule.target = { back: [rule] }
  ring.scopes = [rule]
  cases.push(['a cycle inside a rule', ring, 'EINVAL', 'scopes[0].target', /cycle|contains itself|must be a string/])
  let deep: unknown = '/b'
  for (let i = 0; i < 100_000; i++) deep = [deep]
  cases.push(['nested 100,000 deep', { ...ok(), socket: deep }, 'EINVAL', 'socket', /./])
  for (const [label, opts, code, argument, says] of cases) {
    const e = refused(t, label, () => register(opts), code, argument)
    if (e) t.regex(e.message, says, label)
  }
  // What a toJSON returns is checked like any value.
  refused(t, 'toJSON returning a bigint', () => register({ ...ok(), name: { toJSON: () => 7n } }), 'EINVAL', 'name')
  t.is(snapshot(dir), before)
})

test("a caller's own exception from a getter, a Proxy trap or toJSON comes out as the same object", (t) => {
  const { dir, reg } = seeded(t)
  const before = snapshot(dir)
  const mine = (): object => ({ mine: Symbol('unique') })
  const same = (label: string, fn: (boom: object) => unknown) => {
    const boom = mine()
    const got = t.throws(() => fn(boom), { any: true }, label)
    t.is(got as unknown, boom, `${label}: the very object thrown`)
  }
  const getter = (boom: object, key: string, base: object) =>
    Object.defineProperty({ ...base }, key, { enumerable: true, get() { throw boom } })
  const trap = (boom: object) => new Proxy({}, { get() { throw boom }, ownKeys() { throw boom }, getOwnPropertyDescriptor() { throw boom } })
  const ok = { name: 'b', scopes: [w('/b')], sessionId: 'sb' }
  const open = ScopeRegistry.open as (...a: unknown[]) => unknown
  const file = reg.path
  // Native options objects (read property by property in Rust).
  same('open: getter on timeoutMs', (b) => open(file, getter(b, 'timeoutMs', {})))
  same('open: Proxy options', (b) => open(file, trap(b)))
  // JSON-carried options and rules.
  for (const m of ['register', 'installTopLevel'] as const) {
    const call = (reg[m] as (o: unknown) => unknown).bind(reg)
    same(`${m}: getter on name`, (b) => call(getter(b, 'name', ok)))
    same(`${m}: getter inside a rule`, (b) => call({ ...ok, scopes: [getter(b, 'target', w('/b'))] }))
    same(`${m}: Proxy options`, (b) => call(trap(b)))
    same(`${m}: toJSON throws`, (b) => call({ ...ok, socket: { toJSON() { throw b } } }))
  }
  same('delegate: Proxy options', (b) => reg.delegate('a', trap(b) as never))
  for (const m of ['adopt', 'adoptAllocation'] as const) {
    const call = (reg[m] as (n: string, o: unknown) => unknown).bind(reg)
    same(`${m}: getter on sessionId`, (b) => call('kid', getter(b, 'sessionId', {})))
    same(`${m}: Proxy options`, (b) => call('kid', trap(b)))
  }
  same('withinEffectiveWrite: Proxy rule', (b) => reg.withinEffectiveWrite('a', trap(b) as never))
  same('conflictOwner: getter on permission', (b) => reg.conflictOwner(getter(b, 'permission', w('/x')) as never))
  same('rulesOverlap: Proxy rule', (b) => rulesOverlap(w('/x'), trap(b) as never))
  same('coversFully: toJSON throws', (b) => coversFully({ toJSON() { throw b } } as never, w('/x')))
  // A thrown primitive too.
  const thrown = t.throws(() => reg.register({ ...ok, get name(): string { throw 'plain string' } }), { any: true })
  t.is(thrown as unknown, 'plain string')
  t.is(snapshot(dir), before)
  t.deepEqual(reg.list().map((a) => a.name), ['a', 'kid'])
})
