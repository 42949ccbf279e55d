// The WebAssembly build (wasm32-wasip1) beside the native addon: it loads where napi-rs's loader
// is told to use it (NAPI_RS_FORCE_WASI=error requires it), gives exactly the native answers for
// what WASI can do (the rule algebra, argument checks, errors and their codes), and throws
// ENOTSUP for every OS primitive. Each test runs a real Node process that loads the package as a
// user would (`__test__/fixtures/wasm/child.cjs`), compared with this process's native answers.
// The packed `sole-wasm32-wasip1` package is installed and loaded in __test__/install.spec.ts.
import test, { type ExecutionContext } from 'ava'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'

import { execFileSync } from 'node:child_process'
import { claimPidfile, coversFully, formatIdentityRecord, parseIdentityRecord, processIdentity, rulesOverlap } from '../lib/index.js'
import { tmpdir } from './helpers/index.js'
import { WASM_MISSING_EXPORTS } from '../lib/platform.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CHILD = fileURLToPath(new URL('./fixtures/wasm/child.cjs', import.meta.url))
const BUILT = fs.existsSync(path.join(ROOT, 'sole.wasip1.cjs'))

// Not built here (no Debian rustc-web toolchain: see the README) is a real skip; in CI, where
// `.ci/run` installs that toolchain and the build runs, a missing build is a failure.
const wasmTest = (title: string, fn: (t: ExecutionContext) => Promise<void>): void =>
  BUILT || process.env.CI ? test(title, fn) : test.skip(`${title} (skipped: no WebAssembly build here; npm run build:wasm)`, fn)

interface Child {
  binding: string
  [key: string]: unknown
}

/** Run the child under the WebAssembly build (or `native`), feeding `input` on stdin. */
function child(mode: string, input = '', kind: 'wasm' | 'native' = 'wasm'): Promise<Child> {
  const env = { ...process.env }
  delete env.NAPI_RS_FORCE_WASI
  if (kind === 'wasm') env.NAPI_RS_FORCE_WASI = 'error'
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--no-warnings', CHILD, mode], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => (stdout += d))
    p.stderr.on('data', (d: Buffer) => (stderr += d))
    p.on('error', reject)
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`child ${mode} exited ${code}: ${stderr}`))
      try {
        resolve(JSON.parse(stdout) as Child)
      } catch (e) {
        reject(new Error(`child ${mode} printed no JSON: ${stdout}\n${stderr} (${(e as Error).message})`))
      }
    })
    p.stdin.end(input)
  })
}

type Fn = 'rulesOverlap' | 'coversFully' | 'parseIdentityRecord' | 'formatIdentityRecord'
type Case = [fn: Fn, a: unknown, b?: unknown]
const PURE: Record<Fn, (a: never, b: never) => unknown> = { rulesOverlap, coversFully, parseIdentityRecord, formatIdentityRecord }

function decode(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(decode)
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>
    if (typeof o.$ === 'string' && Object.keys(o).length === 1) {
      if (o.$ === 'nan') return Number.NaN
      if (o.$ === 'undefined') return undefined
      if (o.$ === 'bigint') return 1n
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, decode(x)]))
  }
  return v
}

/** This process's (native) answer, in the child's shape. */
function native([fn, a, b]: Case): Record<string, unknown> {
  const f = PURE[fn]
  try {
    return { ok: f(decode(a) as never, decode(b) as never) }
  } catch (e) {
    const err = e as { code?: string; message?: string; argument?: string }
    return { code: err?.code, message: err?.message, argument: err?.argument, isError: e instanceof Error }
  }
}

/** The WebAssembly build's answers to `cases`, checked equal to the native ones. */
async function sameAnswers(t: ExecutionContext, cases: Case[]): Promise<Record<string, unknown>[]> {
  const got = await child('answers', JSON.stringify(cases))
  t.is(got.binding, 'wasm32-wasip1', 'the child loaded the WebAssembly build')
  const results = got.results as Record<string, unknown>[]
  t.is(results.length, cases.length)
  cases.forEach((c, i) => t.deepEqual(results[i], JSON.parse(JSON.stringify(native(c))), `case ${i}: ${JSON.stringify(c)}`))
  return results
}

const W = (target: unknown, recursive: unknown = true): unknown => ({ target, permission: 'write', recursive })
const R = (target: unknown, recursive: unknown = true): unknown => ({ target, permission: 'read', recursive })

wasmTest('NAPI_RS_FORCE_WASI=error loads the WebAssembly build, and without it the native addon loads', async (t) => {
  const wasm = await child('keys')
  t.is(wasm.binding, 'wasm32-wasip1')
  for (const k of ['binding', 'scopeRulesOverlap', 'scopeCoversFully', 'invalidArgumentError', 'parseIdentityRecord', 'formatIdentityRecord']) t.true((wasm.keys as string[]).includes(k), k)
  const nat = await child('keys', '', 'native')
  t.is(nat.binding, 'native')
})

wasmTest('every export the WebAssembly build lacks is an OS primitive with what it needs, and none is left undefined', async (t) => {
  const wasm = new Set((await child('keys')).keys as string[])
  const nat = (await child('keys', '', 'native')).keys as string[]
  const lacking = nat.filter((k) => !wasm.has(k) && k !== '__napiBindingTarget')
  t.true(lacking.length > 30, `the WebAssembly build has only the pure functions (lacks ${lacking.length})`)
  t.deepEqual(lacking.filter((k) => !WASM_MISSING_EXPORTS.includes(k)), [], 'each missing export is listed in lib/platform.ts WASM_MISSING')
  t.deepEqual(WASM_MISSING_EXPORTS.filter((k) => !nat.includes(k)), [], 'no stale name in WASM_MISSING')
})

wasmTest('the rule algebra and its errors: the seed cases give exactly the native answers', async (t) => {
  const cases: Case[] = [
    ['rulesOverlap', W('/src'), W('/src/core')],
    ['rulesOverlap', W('/src/core'), W('/src')],
    ['rulesOverlap', W('/src'), W('/docs')],
    ['rulesOverlap', W('/src'), W('/srcfoo')],
    ['rulesOverlap', W('/src', false), W('/src/a/b')],
    ['rulesOverlap', W('/src', false), W('/src/child', false)],
    ['rulesOverlap', W('/x/../src/'), W('/src/./core//')],
    ['coversFully', W('/src'), R('/src/a')],
    ['coversFully', R('/src'), W('/src/a')],
    ['coversFully', W('/src', false), W('/src')],
    ['rulesOverlap', W('src'), W('/src')],
    ['rulesOverlap', W('/a'), W('\0/b')],
    ['rulesOverlap', W('/a'), { target: '/b', permission: 'execute', recursive: true }],
    ['coversFully', W('/a'), { target: '/b', permission: 'read' }],
    ['coversFully', { $: 'undefined' }, W('/a')],
    ['coversFully', W('/a'), null],
    ['rulesOverlap', W({ $: 'nan' }), W('/a')],
    ['rulesOverlap', W('/a', { $: 'bigint' }), W('/a')],
    ['rulesOverlap', 7, W('/a')],
    ['rulesOverlap', W('/a'), { target: '/a', permission: 'write', recursive: true, extra: 1 }],
    ['rulesOverlap', W(`/${'x'.repeat(5000)}`), W('/x')],
    ['rulesOverlap', W('/ünï/cødé'), W('/ünï')],
  ]
  const results = await sameAnswers(t, cases)
  t.deepEqual(results.slice(0, 10).map((r) => r.ok), [true, true, false, false, false, true, true, true, false, false])
  for (const r of results.slice(10, 20)) {
    t.is(r.code, 'EINVAL', JSON.stringify(r))
    t.true(r.isError as boolean)
    t.truthy(r.argument)
  }
})

wasmTest('property: on generated rules (good and bad), the WebAssembly build answers exactly as the native addon', async (t) => {
  const segment = fc.constantFrom('a', 'b', 'ab', '.', '..', '', 'ü', 'a b', '\0', 'x'.repeat(300))
  const target = fc.oneof(
    { weight: 6, arbitrary: fc.array(segment, { maxLength: 5 }).map((s) => `/${s.join('/')}`) },
    { weight: 1, arbitrary: fc.array(segment, { maxLength: 3 }).map((s) => s.join('/')) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(null, 7, true, { $: 'nan' }, '', '//', '/a/', '/./..') },
  )
  const permission = fc.oneof({ weight: 8, arbitrary: fc.constantFrom<unknown>('read', 'write') }, { weight: 1, arbitrary: fc.constantFrom<unknown>('READ', 'x', 1, null) })
  const recursive = fc.oneof({ weight: 8, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.constantFrom<unknown>('yes', 0, null) })
  const rule = fc.oneof(
    { weight: 10, arbitrary: fc.record({ target, permission, recursive }) },
    { weight: 1, arbitrary: fc.record({ target, permission }) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(null, 1, 'rule', [], { $: 'undefined' }) },
  )
  const kase = fc.tuple(fc.constantFrom<'rulesOverlap' | 'coversFully'>('rulesOverlap', 'coversFully'), rule, rule) as fc.Arbitrary<Case>
  // One child answers a whole batch (a process per case would be slow), so the property is
  // checked over batches; a differing batch is shrunk like any fast-check counterexample.
  let batches = 0
  await fc.assert(
    fc.asyncProperty(fc.array(kase, { minLength: 1, maxLength: 200 }), async (cases) => {
      batches++
      const got = await child('answers', JSON.stringify(cases))
      const results = got.results as unknown[]
      return got.binding === 'wasm32-wasip1' && cases.every((c, i) => JSON.stringify(results[i]) === JSON.stringify(native(c)))
    }),
    { numRuns: 8, endOnFailure: true },
  )
  t.true(batches >= 8)
})

wasmTest('every OS primitive of the package throws ENOTSUP in the WebAssembly build, saying why and what it needs', async (t) => {
  const got = await child('enotsup')
  t.is(got.binding, 'wasm32-wasip1')
  const calls = got.calls as { name: string; code?: string; message?: string; isError?: boolean; returned?: string; sync: boolean; guard?: boolean; threwSync?: boolean }[]
  const exported = (got.exports as string[]).filter((k) => !(k in PURE))
  t.deepEqual(exported.filter((k) => !calls.some((c) => c.name === k || c.name.startsWith(`${k}.`))), [], 'every function export is called')
  for (const c of calls.filter((c) => c.guard)) {
    t.is(c.code, 'EINVAL', `a constructor called directly is an argument error in both builds: ${JSON.stringify(c)}`)
    t.regex(c.message ?? '', /call|made by/, c.name)
  }
  for (const c of calls.filter((c) => !c.guard)) {
    t.is(c.code, 'ENOTSUP', `${c.name}: ${JSON.stringify(c)}`)
    t.true(c.isError, `${c.name} threw an Error`)
    t.regex(c.message ?? '', /WebAssembly build \(wasm32-wasip1\)/, c.name)
    t.regex(c.message ?? '', /NAPI_RS_FORCE_WASI=error asks for it/, c.name)
    t.regex(c.message ?? '', /needs [^,]*(flock|\/proc|fork|socket)/, c.name)
    if (!c.sync) t.falsy(c.threwSync, `${c.name} rejects, it does not throw`)
  }
})

wasmTest('identity records: the WebAssembly build parses and writes them exactly as the native addon, on generated records and texts', async (t) => {
  const hex = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF-'), minLength: 1, maxLength: 70 })
  const record = fc.record(
    {
      pid: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 2 ** 31 - 1 }) }, { weight: 1, arbitrary: fc.constantFrom<unknown>(0, -1, 1.5, 2 ** 31, '12', null, { $: 'nan' }) }),
      startTime: fc.oneof({ weight: 8, arbitrary: fc.maxSafeNat() }, { weight: 1, arbitrary: fc.constantFrom<unknown>(-1, 0.5, 2 ** 53, 'x', { $: 'nan' }) }),
      bootId: fc.oneof({ weight: 8, arbitrary: hex }, { weight: 1, arbitrary: fc.constantFrom<unknown>('', 'a b', '../x', 'g', 7) }),
      locked: fc.oneof({ weight: 8, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.constantFrom<unknown>('yes', 1) }),
    },
    { requiredKeys: [] },
  )
  // Texts: written records, and record-like or arbitrary text around and instead of them.
  const field = fc.oneof(
    fc.constantFrom('pid=1', 'pid=0', 'pid=2147483648', 'start=9007199254740991', 'start=9007199254740992', 'boot=', 'boot=AB-cd', 'lock=flock', 'lock=no', 'x=y', '=', 'junk'),
    fc.tuple(fc.constantFrom('pid', 'start', 'boot', 'lock'), fc.string({ maxLength: 12 })).map(([k, v]) => `${k}=${v}`),
  )
  const text = fc.oneof(
    fc.tuple(fc.constantFrom('sole-identity/1', 'sole-identity/2', ''), fc.array(field, { maxLength: 6 }), fc.constantFrom(' ', '  ', '\t', '\n')).map(([v, fs, sep]) => [v, ...fs].join(sep)),
    fc.string({ maxLength: 80 }),
  )
  await fc.assert(
    fc.asyncProperty(fc.array(record, { maxLength: 60 }), fc.array(text, { maxLength: 60 }), async (records, texts) => {
      const cases: Case[] = [...records.map((r): Case => ['formatIdentityRecord', r]), ...texts.map((x): Case => ['parseIdentityRecord', x])]
      const got = await child('answers', JSON.stringify(cases))
      const results = got.results as unknown[]
      const same = got.binding === 'wasm32-wasip1' && cases.every((c, i) => JSON.stringify(results[i]) === JSON.stringify(native(c)))
      // What is written reads back equal (native; the wasm answers are equal to these).
      const roundTrips = records.every((r) => {
        const out = native(['formatIdentityRecord', r])
        if (typeof out.ok !== 'string') return true
        const back = parseIdentityRecord(out.ok)
        const want = decode(r) as { pid: number; startTime: number; bootId: string; locked?: boolean }
        return back !== null && back.pid === want.pid && back.startTime === want.startTime && back.bootId === want.bootId.toLowerCase() && back.locked === (want.locked ?? false)
      })
      return same && roundTrips
    }),
    { numRuns: 8, endOnFailure: true },
  )
  t.pass()
})

wasmTest('the record of a real claimed pidfile: parsed natively it names this process; the WebAssembly build parses the same text to the same record', async (t) => {
  const p = path.join(tmpdir(t), 'app.pid')
  const claim = claimPidfile(p)
  try {
    const text = execFileSync('python3', ['-c', 'import os,sys\nprint(os.getxattr(sys.argv[1], "user.sole.identity").decode())', p], { encoding: 'utf8' }).trim()
    const rec = parseIdentityRecord(text)
    const me = processIdentity(process.pid)
    t.deepEqual(rec, { pid: process.pid, startTime: me.startTime, bootId: me.bootId, locked: true })
    t.is(formatIdentityRecord(rec!), text, 'written back byte for byte')
    const got = await child('answers', JSON.stringify([['parseIdentityRecord', text]]))
    t.deepEqual((got.results as { ok: unknown }[])[0].ok, rec)
  } finally {
    claim.release()
  }
})
