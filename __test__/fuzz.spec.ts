// The API fuzz test: fast-check drives every export of the package and every method and getter
// of every object they return (Lock, LockFile, Pidfile, ProcessHandle, readPidfile states with
// openHandle()/handle, ScopeRegistry and its guards) with hostile values (fc.anything(), NaN,
// ±Infinity, 2^31, 2^53, -0, 1 MB strings, NUL bytes, proxies whose traps throw a sentinel,
// revoked proxies, bigint, symbols, functions, null/undefined options, arrays, aborted and
// foreign AbortSignals) against held and free files, directories, symlinks, FIFOs, sockets, and
// live, dying, reaped and zombie processes. Generator and oracle: `fuzz/plan.mjs`; the calls
// run in child processes (`fuzz/runner.mjs`) watched by `fuzz/driver.mjs`, so a crash is
// observed, not suffered.
//
// The property, per call and per step: no process dies by a signal (a Rust panic that aborts,
// a segfault), no step hangs (every wait is bounded by construction; 10 s past that bound is a
// hang), every throw/rejection is an Error with a documented `code` (README "Errors"; EINTERNAL
// is a failure) except the caller's own exception from a getter or trap (the sentinel object,
// unchanged), no unhandled rejection, no panic printed, nothing written through a symlink, no
// lock granted on a file another process holds.
//
// Proof of power: the same runner and property against a test build of the addon with a
// planted panic (`--features planted-panic`, `src/planted.rs`) must fail on the planted call.
//
// Environment: SOLE_FUZZ_SEED replays a run (the seed is printed on failure); SOLE_FUZZ_RUNS
// (batches of 80 calls, default 12) runs longer. One call alone, outside ava:
// `node __test__/fuzz/cli.mjs --seed S --runs R --size 80 --only BATCH:CALL`.
import test, { type ExecutionContext } from 'ava'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import { confirmAlone, fuzz, group, killAll, report, type Failure } from './fuzz/driver.mjs'
import { DEFAULTS } from './fuzz/defaults.mjs'
import { API_NAMES, EXPORT_OF, generate, isPlanted, judge, PLANTED_TIMEOUT_MS } from './fuzz/plan.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** The package's exports exactly as `require('sole')` gives them (no ESM interop keys). */
const sole = createRequire(import.meta.url)('../lib/index.js') as Record<string, unknown>

function envInt(name: string): number | undefined {
  const v = process.env[name]
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${v}`)
  return n
}

const SEED = envInt('SOLE_FUZZ_SEED') ?? Math.floor(Math.random() * 2 ** 31)
const RUNS = envInt('SOLE_FUZZ_RUNS') ?? DEFAULTS.runs
const SIZE = DEFAULTS.size
/** A default run stops starting batches after this (only hangs make it that slow). */
const BUDGET_MS = process.env.SOLE_FUZZ_RUNS ? undefined : 80_000

function tmp(t: ExecutionContext, prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.teardown(() => {
    killAll(d)
    fs.rmSync(d, { recursive: true, force: true })
  })
  return d
}

test('the fuzz test drives every export of the package', (t) => {
  const covered = new Set(Object.values(EXPORT_OF))
  t.deepEqual(Object.keys(sole).filter((k) => !covered.has(k)).sort(), [], 'exports the generator never calls')
  t.deepEqual([...covered].filter((k) => !(k in sole)).sort(), [], 'generated calls of exports that no longer exist')
})

test('the oracle: documented codes and the sentinel pass; anything else fails', (t) => {
  const err = (e: Record<string, unknown>) => ({ k: 'throw' as const, how: 'sync', sentinel: false, err: { isError: true, ctor: 'Error', message: 'm', ...e } })
  t.is(judge({ k: 'ok', t: 'NativeLock', granted: true }), null)
  t.is(judge({ k: 'throw', how: 'sync', sentinel: true }), null, "the caller's own exception, unchanged")
  for (const code of ['EINVAL', 'EHELD', 'ABORT_ERR', 'ENOENT', 'ELOOP', 'ENAMETOOLONG', 'ECORRUPT']) t.is(judge(err({ code })), null, code)
  t.is(judge(err({ code: 'EINTERNAL' }))?.cls, 'EINTERNAL')
  t.is(judge(err({ code: 'StringExpected' }))?.cls, 'undocumented code')
  t.is(judge(err({ code: 'ECANCELED' }))?.cls, 'undocumented code', 'documented as never seen by callers')
  t.is(judge(err({ code: undefined, ctor: 'TypeError' }))?.cls, 'Error without code')
  t.is(judge({ k: 'throw', how: 'sync', sentinel: false, err: { isError: false, type: 'string', value: 'x' } })?.cls, 'non-Error throw')
  t.is(judge(err({ code: 'EINVAL', wrapsSentinel: true }))?.cls, "getter's exception replaced")
  const revoked = err({ code: undefined, ctor: 'TypeError', message: "Cannot perform 'get' on a proxy that has been revoked" })
  t.is(judge(revoked, { revoked: true }), null, "a revoked proxy's TypeError is the caller's own")
  t.is(judge(revoked)?.cls, 'Error without code')
  t.is(judge({ k: 'ok', t: 'NativeLock', granted: true }, { exclusivelyHeld: true })?.cls, 'granted a lock held by another process')
})

test('API fuzz: no crash, no hang, only documented errors, for every export and every method of what they return', async (t) => {
  t.timeout(Math.max(180_000, RUNS * 15_000))
  const dir = tmp(t, 'sole-fuzz-')
  const opts = { seed: SEED, runs: RUNS, size: SIZE, parallel: DEFAULTS.parallel, dir, budgetMs: BUDGET_MS }
  const { failures, stats, batches } = await fuzz(opts)
  t.log(`seed ${SEED}: ${stats.executed} of ${stats.calls} calls in ${(stats.elapsedMs / 1000).toFixed(1)} s, ${stats.runners} runner process(es), ${stats.skipped} step(s) skipped by the safety guards${stats.truncated ? ' (stopped at the time budget)' : ''}`)
  if (stats.calls >= API_NAMES.length * 20) {
    const generated = new Set(batches.flat().map((c) => c.api))
    t.deepEqual(API_NAMES.filter((a) => !generated.has(a)), [], 'the generator reaches every API')
  }
  if (failures.length === 0) {
    // Stopped at the time budget only on a very slow machine (hangs are failures): said above.
    if (!stats.truncated) t.is(stats.executed, stats.calls, 'every generated call ran')
    else t.true(stats.executed > 0, 'calls ran before the time budget ended the run')
    return
  }
  const groups = group(failures)
  await confirmAlone(groups, batches, opts)
  t.fail(`\n${report(groups, { seed: SEED, runs: RUNS, size: SIZE, stats })}`)
})

/** Build the addon with the planted panic (debug, its own target dir) and return the library. */
async function buildPlanted(t: ExecutionContext): Promise<string> {
  const t0 = Date.now()
  const targetDir = path.join(ROOT, 'target', 'planted')
  const cargo = spawn('cargo', ['build', '--offline', '--features', 'planted-panic', '-p', 'sole'], {
    cwd: ROOT,
    env: { ...process.env, CARGO_TARGET_DIR: targetDir },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  cargo.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const [code] = await once(cargo, 'exit')
  if (code !== 0) throw new Error(`cargo build --features planted-panic failed (${code}):\n${stderr.slice(-3000)}`)
  t.log(`planted-panic build (debug, ${path.relative(ROOT, targetDir)}): ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  return path.join(targetDir, 'debug', 'libsole.so')
}

test('proof of power: a panic planted in a test build of the addon is caught', async (t) => {
  t.timeout(300_000)
  const dir = tmp(t, 'sole-fuzz-planted-')
  const lib = await buildPlanted(t)
  const addon = path.join(dir, 'planted.node')
  fs.copyFileSync(lib, addon)

  // The first batch of this seed's stream that contains the planted input: generated as usual,
  // only chosen (running every batch until then would cost time and prove nothing more).
  const batches = generate(SEED, 64, SIZE)
  const b = batches.findIndex((batch) => batch.some(isPlanted))
  t.not(b, -1, `the generator reaches tryLock/lock with timeoutMs ${PLANTED_TIMEOUT_MS} within 64 batches (seed ${SEED})`)
  if (b < 0) return
  const batch = batches[b]
  const planted = batch.findIndex(isPlanted)

  const t0 = Date.now()
  const { failures, stats } = await fuzz({ seed: SEED, dir, nativePath: addon, batches: [batch] })
  t.log(`seed ${SEED}, batch ${b} (planted input at call ${planted}): ${stats.executed} calls in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${failures.length} failing step(s)`)
  const caught = (f: Failure): boolean =>
    (f.api === 'tryLock' || f.api === 'lock') && f.sp === '' && `${f.detail}\n${f.stderr}`.includes('planted panic') &&
    /^(EINTERNAL|undocumented code|Error without code|killed by SIG|panic message on stderr)/.test(f.cls)
  const hit = failures.find(caught)
  t.truthy(hit, `the property fails on the planted panic (seed ${SEED}, batch ${b}); failures seen:\n${report(group(failures), { seed: SEED, stats })}`)
  if (hit) t.log(`caught: [${hit.cls}] ${hit.text}: ${hit.detail}`)

  // And it is the plant: the same call passes against the real addon.
  const real = await fuzz({ seed: SEED, dir, batches: [[batch[hit?.call ?? planted]]] })
  t.deepEqual(real.failures.filter((f) => f.sp === ''), [], 'the planted call passes against the real addon')
})
