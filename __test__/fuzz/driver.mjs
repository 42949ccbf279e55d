// The fuzz test's parent side: generates batches (`plan.mjs`), runs each in a runner child
// process (`runner.mjs`), watches it, and judges every reported outcome. A runner that dies
// (a signal: a Rust panic that aborts, a segfault) or stops making progress (a hang) is
// observed here, recorded against the call it was running, and replaced by a fresh runner that
// continues with the next call.
//
// The property, per call and per step (a method of a returned object, a getter, a cleanup):
// - no process dies by a signal, and the runner never exits on its own;
// - no step runs longer than HANG_MS (10 s) past the bound every step has by construction
//   (STEP_BOUND_MS: waits get a small timeoutMs, a signal that fires, or a child that exits);
// - every throw or rejection is an `Error` whose `code` is documented (`plan.judge`), except the
//   caller's own exception (the sentinel from a getter or trap), which comes out unchanged;
//   `EINTERNAL` counts as a failure;
// - no unhandled rejection or uncaught exception, no panic message on stderr, nothing written
//   through a symlink, no lock granted on a file another process holds exclusively.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import path from 'node:path'
import v8 from 'node:v8'
import { fileURLToPath } from 'node:url'

import { contains, EXCLUSIVELY_HELD, fmtArgs, generate, INTERNAL_APIS, judge } from './plan.mjs'

const RUNNER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'runner.mjs')
export const HANG_MS = 10_000
export const STEP_BOUND_MS = 2_000
const STARTUP_MS = 60_000
/** Runners started for one batch at most (each crash costs one). */
const MAX_ATTEMPTS = 25

/** Runners alive now (→ the directory of their fuzz run), so a teardown can kill its own. */
const running = new Map()

function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL')
  } catch {
    // the group is gone already
  }
}

/** Kill the runners of the fuzz run in `dir` (default: every run), with all they started. */
export function killAll(dir) {
  for (const [c, d] of running) if (dir === undefined || d === dir) killGroup(c)
}

/** Run one runner process on `batchFile` from call `start`; its log text and how it ended. */
async function runOnce(batchFile, root, start, nativePath, dir) {
  fs.mkdirSync(root, { recursive: true, mode: 0o700 })
  const logPath = path.join(root, 'log.txt')
  const fd = fs.openSync(logPath, 'w')
  const env = {
    ...process.env,
    SOLE_RUNTIME_DIR: path.join(root, 'runtime'),
    XDG_RUNTIME_DIR: path.join(root, 'runtime'),
    TMPDIR: path.join(root, 'tmp'),
    RUST_BACKTRACE: '0',
  }
  if (nativePath) env.NAPI_RS_NATIVE_LIBRARY_PATH = nativePath
  else delete env.NAPI_RS_NATIVE_LIBRARY_PATH
  // `ulimit -c 0`: a crash of the runner or a signalled child writes no core file anywhere.
  const child = spawn('/bin/sh', ['-c', 'ulimit -c 0; exec "$0" "$@"', process.execPath, RUNNER, batchFile, root, String(start)], {
    detached: true,
    stdio: ['ignore', 'ignore', fd, 'ipc'],
    env,
  })
  fs.closeSync(fd)
  running.set(child, dir)
  let hung = false
  let timer
  const arm = (ms) => {
    clearTimeout(timer)
    timer = setTimeout(() => {
      hung = true
      killGroup(child)
    }, ms)
  }
  arm(STARTUP_MS)
  child.on('message', () => arm(HANG_MS + STEP_BOUND_MS))
  child.on('error', () => undefined)
  const [code, signal] = await once(child, 'exit')
  clearTimeout(timer)
  killGroup(child)
  running.delete(child)
  return { code, signal, hung, text: fs.readFileSync(logPath, 'utf8') }
}

/** The log's records, with foreign stderr lines attributed to the step that was running. */
function parse(text) {
  const events = []
  let cur = {}
  for (const line of text.split('\n')) {
    let r
    if (line.startsWith('@@FUZZ ')) {
      try {
        r = JSON.parse(line.slice(7))
      } catch {
        r = undefined // torn by a crash mid-write
      }
    }
    if (r) {
      if (r.r === 'prep' || r.r === 'call') cur = { i: r.i }
      if (r.r === 'step') cur = { i: r.i, sp: r.sp, label: r.label }
      events.push(r)
    } else if (line.trim() !== '') {
      events.push({ r: 'stderr', i: cur.i, sp: cur.sp, label: cur.label, text: line })
    }
  }
  return events
}

const PANIC = /panicked at|fatal runtime error|FATAL ERROR|Assertion failed|Segmentation fault|stack overflow/

/** The call, with the chain of steps that led to step `sp`, for humans. */
export function describeCall(call, sp, label) {
  let s = `${call.api}(${fmtArgs(call.args)})`
  if (!sp) return s
  if (sp.startsWith('c')) return `${s} … ${label ?? 'cleanup'}`
  if (sp.startsWith('p')) return `${label} (preparing the arguments of ${s})`
  const parts = sp.slice(2).split('.')
  let node = call
  for (const part of parts) {
    if (/^\d+$/.test(part)) {
      node = node?.steps?.[Number(part)]
      if (!node) break
      s += ` → .${node.m === 'dispose' ? '[Symbol.dispose]' : node.m}${node.m === 'handle' ? '' : `(${fmtArgs(node.args)})`}`
    } else {
      s += ` → .${part}`
    }
  }
  return s
}

function normalize(msg) {
  return String(msg ?? '')
    .replace(/`[^`]*`/g, '`…`')
    .replace(/"[^"]*"/g, '"…"')
    .replace(/'[^']*'/g, "'…'")
    .replace(/\/[^\s:,)]*/g, '/…')
    .replace(/\d+(\.\d+)?/g, 'N')
    .slice(0, 90)
}

const LOCKING = new Set(['tryLock', 'lockSync', 'lock', 'claimPidfile', 'claimPidfileWhenFree', 'acquireDaemonLock'])

/**
 * Judge a runner's log: failures (one per failing step) and the call it was running when it
 * ended, if it did not finish.
 */
function judgeLog(batch, b, res, meta) {
  const events = parse(res.text)
  const failures = []
  const executed = new Set()
  const skipped = []
  const stderrAt = new Map()
  let ready = false
  let done = false
  let cur = {}
  const fail = (i, sp, label, cls, detail) => {
    const call = batch[i]
    failures.push({
      seed: meta.seed,
      batch: b,
      call: i,
      api: call ? call.api : '(runner)',
      sp: sp ?? '',
      label: label ?? (call ? call.api : '(runner)'),
      cls,
      detail,
      text: call ? describeCall(call, sp, label) : '(between calls)',
      stderr: '',
    })
  }
  for (const e of events) {
    if (e.r === 'ready') ready = true
    else if (e.r === 'done') done = true
    else if (e.r === 'prep' || e.r === 'call') cur = { i: e.i }
    else if (e.r === 'step') cur = { i: e.i, sp: e.sp, label: e.label }
    else if (e.r === 'end') {
      executed.add(e.i)
      cur = {}
    } else if (e.r === 'skip') skipped.push(e)
    else if (e.r === 'out') {
      const call = batch[e.i]
      const first = call.args[0]
      const verdict = judge(e.o, {
        revoked: contains(call, (x) => x.$ === 'revoked'),
        exclusivelyHeld: e.sp === '' && LOCKING.has(call.api) && first?.$ === 'path' && EXCLUSIVELY_HELD.has(first.k),
      })
      if (verdict) fail(e.i, e.sp, e.label, verdict.cls, verdict.detail)
    } else if (e.r === 'unhandled' || e.r === 'uncaught') {
      const v = judge(e.o) ?? { detail: e.o.sentinel ? 'the sentinel' : `${e.o.err?.ctor} ${e.o.err?.code ?? ''}: ${e.o.err?.message}` }
      fail(e.i, e.sp, undefined, e.r === 'unhandled' ? 'unhandled rejection' : 'uncaught exception', `${v.detail} (raised while this call ran, at or after the step ${e.label ?? '?'}; a rejection can come from an earlier call)`)
    } else if (e.r === 'canary') fail(e.i, '', undefined, 'wrote through a symlink', e.msg)
    else if (e.r === 'leak') fail(e.i, '', undefined, 'wait outlived its call', e.msg)
    else if (e.r === 'fatal') fail(e.i, '', '(fuzz runner)', 'fuzz runner error (a bug of the test, not of sole)', e.msg)
    else if (e.r === 'stderr') {
      const key = `${e.i}|${e.sp ?? ''}`
      stderrAt.set(key, [...(stderrAt.get(key) ?? []), e.text])
    }
  }
  let endedAt
  if (!done) {
    endedAt = cur.i
    const how = res.hung
      ? { cls: 'hang', detail: `no progress for ${(HANG_MS + STEP_BOUND_MS) / 1000} s (every step is bounded by ${STEP_BOUND_MS / 1000} s by construction)` }
      : res.signal
        ? { cls: `killed by ${res.signal}`, detail: 'the process died by a signal (a Rust panic that aborts, or a crash)' }
        : { cls: `runner exited with code ${res.code}`, detail: 'the runner ended without finishing its batch' }
    if (!ready) fail(undefined, '', '(runner setup)', `runner setup failed: ${how.cls}`, how.detail)
    else fail(cur.i, cur.sp, cur.label, how.cls, how.detail)
  }
  // Attach stderr to the failing step; a panic message where nothing failed is a failure too.
  for (const f of failures) {
    const lines = stderrAt.get(`${f.call}|${f.sp}`) ?? (f.call === undefined ? [...stderrAt.values()].flat().slice(-12) : [])
    f.stderr = lines.filter((l) => !/^\s+\d+: |^\s+at |^note: /.test(l)).slice(0, 6).join('\n')
  }
  for (const [key, lines] of stderrAt) {
    const [i, sp] = key.split('|')
    const idx = i === 'undefined' ? undefined : Number(i)
    if (!lines.some((l) => PANIC.test(l))) continue
    if (failures.some((f) => f.call === idx && f.sp === sp)) continue
    fail(idx, sp, undefined, 'panic message on stderr', 'a Rust panic was printed (and caught) while this step ran')
    failures[failures.length - 1].stderr = lines.slice(0, 6).join('\n')
  }
  return { failures, executed, skipped, endedAt, ready }
}

let runnerCount = 0

/** Run one batch to its end, replacing the runner after each crash or hang. */
async function runBatch(batch, b, opts) {
  const batchFile = path.join(opts.dir, `batch-${b}-${++runnerCount}.bin`)
  fs.writeFileSync(batchFile, v8.serialize(batch))
  const out = { failures: [], executed: 0, skipped: 0, runners: 0, byApi: {} }
  let start = 0
  for (let attempt = 0; start < batch.length; attempt++) {
    if (attempt >= MAX_ATTEMPTS) {
      out.failures.push({ seed: opts.seed, batch: b, call: start, api: '(runner)', sp: '', label: '(runner)', cls: 'too many crashes', detail: `gave up on batch ${b} after ${MAX_ATTEMPTS} runners`, text: '', stderr: '' })
      break
    }
    const res = await runOnce(batchFile, path.join(opts.dir, `r${++runnerCount}-b${b}`), start, opts.nativePath, opts.dir)
    out.runners++
    const j = judgeLog(batch, b, res, opts)
    out.failures.push(...j.failures)
    out.skipped += j.skipped.length
    for (const i of j.executed) {
      out.executed++
      out.byApi[batch[i].api] = (out.byApi[batch[i].api] ?? 0) + 1
    }
    if (!j.ready) break
    if (j.endedAt === undefined) {
      if (res.code === 0 && !res.signal && !res.hung) break
      // Ended between calls: continue after the last call that ended.
      start = Math.max(start, ...[...j.executed].map((i) => i + 1))
      continue
    }
    out.executed++
    out.byApi[batch[j.endedAt].api] = (out.byApi[batch[j.endedAt].api] ?? 0) + 1
    start = j.endedAt + 1
  }
  return out
}

/** Failures that are the same bug: same step, same class, same code, same message shape. */
export function groupKey(f) {
  if (INTERNAL_APIS.has(f.api)) return `${f.api}|${f.cls}`
  // Raised asynchronously: its message depends on which of its causes came first.
  if (f.cls === 'unhandled rejection' || f.cls === 'uncaught exception') return `${f.api}|${f.cls}`
  return `${f.label}|${f.cls}|${normalize(f.detail)}`
}

/**
 * Run the fuzz test. `batches`: the generated batches to run (default: `runs` batches of
 * `size` calls from `seed`). Stops starting batches after `budgetMs` (reported as truncated).
 */
export async function fuzz(opts) {
  const t0 = Date.now()
  const batches = opts.batches ?? generate(opts.seed, opts.runs, opts.size)
  const stats = { batches: batches.length, calls: batches.reduce((n, b) => n + b.length, 0), executed: 0, skipped: 0, runners: 0, byApi: {}, truncated: false, elapsedMs: 0 }
  const failures = []
  let next = 0
  const worker = async () => {
    while (next < batches.length) {
      if (opts.budgetMs !== undefined && Date.now() - t0 > opts.budgetMs) {
        stats.truncated = true
        return
      }
      const b = next++
      const r = await runBatch(batches[b], b, opts)
      failures.push(...r.failures)
      stats.executed += r.executed
      stats.skipped += r.skipped
      stats.runners += r.runners
      for (const [api, n] of Object.entries(r.byApi)) stats.byApi[api] = (stats.byApi[api] ?? 0) + n
      opts.onBatch?.(b, r)
    }
  }
  await Promise.all(Array.from({ length: opts.parallel ?? 2 }, worker))
  stats.elapsedMs = Date.now() - t0
  failures.sort((a, b) => a.batch - b.batch || (a.call ?? -1) - (b.call ?? -1))
  return { failures, stats, batches }
}

/**
 * Re-run the first failing call of each group alone, in a fresh runner: does it fail the same
 * way without the calls before it? Sets `alone` on the group's first failure.
 */
export async function confirmAlone(groups, batches, opts, budgetMs = 20_000) {
  let n = 0
  const end = Date.now() + budgetMs
  for (const g of groups) {
    const f = g.failures[0]
    if (Date.now() > end || f.call === undefined || f.cls === 'hang') continue
    n++
    const call = batches[f.batch][f.call]
    const r = await runBatch([call], `alone-${n}`, opts)
    f.alone = r.failures.some((x) => groupKey({ ...x, api: call.api }) === g.key)
  }
}

/** Failures grouped by `groupKey`, in order of first appearance. */
export function group(failures) {
  const m = new Map()
  for (const f of failures) {
    const k = groupKey(f)
    if (!m.has(k)) m.set(k, { key: k, failures: [] })
    m.get(k).failures.push(f)
  }
  return [...m.values()]
}

/** The failure report: one entry per group, with a replayable example. */
export function report(groups, { seed, runs, size, stats, what = 'API fuzz' }) {
  const lines = []
  const n = groups.reduce((s, g) => s + g.failures.length, 0)
  lines.push(`${what}: ${groups.length} distinct failure(s) (${n} failing steps) in ${stats.executed} calls; seed ${seed}, ${runs} batch(es) × ${size} calls.`)
  lines.push(`Replay: SOLE_FUZZ_SEED=${seed}${runs !== undefined ? ` SOLE_FUZZ_RUNS=${runs}` : ''} npx ava __test__/fuzz.spec.ts   (one call: node __test__/fuzz/cli.mjs --seed ${seed} --runs ${runs} --size ${size} --only BATCH:CALL)`)
  groups.forEach((g, k) => {
    const f = g.failures[0]
    const where = f.call === undefined ? `batch ${f.batch}` : `batch ${f.batch} call ${f.call}`
    const alone = f.alone === undefined ? '' : f.alone ? ', reproduces alone' : ', does not reproduce alone'
    lines.push('')
    const what = INTERNAL_APIS.has(f.api) ? `${f.api} (internal constructor) and the methods of what it returns` : f.label
    lines.push(`${k + 1}. [${f.cls}] ${what}: ${g.failures.length} step(s) (first: ${where}${alone})`)
    lines.push(`   call:    ${f.text}`)
    lines.push(`   outcome: ${f.detail}`)
    if (f.stderr) lines.push(`   stderr:  ${f.stderr.split('\n').join('\n            ')}`)
  })
  return lines.join('\n')
}

