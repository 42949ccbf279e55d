#!/usr/bin/env node
// Model checking of sole's protocols with spin (models/*.pml; see README "How it is proven").
//
// Each model has a manifest beside it, models/<name>.json:
//   { "title": "...", "file": "<name>.pml",
//     "defines": { "NPROC": 4 },            // -D for spin (and so for the trail replay)
//     "cc": ["-DSAFETY"],                   // extra flags for compiling pan.c
//     "pan": ["-m200000"],                  // extra flags for running pan
//     "ltl": "name" | null,                 // an ltl claim to check (pan -a -N name), else safety
//     "mutants": [ { "name": "...", "what": "the broken protocol, and whose",
//                    "defines": { "MUTANT_X": 1 }, "cc": [...], "pan": [...], "ltl": ... } ] }
// A model passes when pan explores its whole state space (no "max search depth too small",
// no bitstate) and reports `errors: 0`. A mutant passes when pan reports an error and writes
// a trail, which is replayed with `spin -t` to print the counterexample.
//
// Usage: node scripts/models.mjs [--json] [name ...]   (exit 0: all as expected; 1: not; 2: no
// such model; 77: spin is not installed). Library use: import { manifests, checkModel, staleRefs, ... }.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
export const MODELS = path.join(ROOT, 'models')

/** Whether spin and a C compiler are installed (the spec skips, and CI installs them, when not). */
export function toolsMissing() {
  const missing = []
  for (const tool of ['spin', 'cc']) {
    const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' })
    if (r.status !== 0) missing.push(tool)
  }
  return missing
}

/** The manifests in models/, sorted by name. */
export function manifests(dir = MODELS) {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ name: f.slice(0, -5), ...JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) }))
}

const defineFlags = (defines = {}) => Object.entries(defines).map(([k, v]) => `-D${k}=${v}`)

function run(cmd, args, cwd, timeoutMs) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20, timeout: timeoutMs })
  return { status: r.status, signal: r.signal, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, error: r.error }
}

/** Numbers pan prints at the end of a run. */
export function parsePan(out) {
  const num = (re) => {
    const m = out.match(re)
    return m ? Number(m[1]) : null
  }
  return {
    errors: num(/errors: (\d+)/),
    states: num(/(\d+(?:e\+\d+)?) states, stored/),
    transitions: num(/(\d+(?:e\+\d+)?) transitions \(= stored\+matched\)/),
    depth: num(/depth reached (\d+)/),
    // Where the first error was found: the length of the counterexample.
    errorDepth: num(/\(at depth (\d+)\)/),
    seconds: num(/pan: elapsed time ([\d.e+]+) seconds/),
    memoryMb: num(/([\d.]+)\s+total actual memory usage/),
    // Anything that makes the search less than exhaustive.
    incomplete: /max search depth too small|Search not completed|bit-state|BITSTATE|hash-compact/i.test(out),
  }
}

/**
 * Generate, compile and run one verification. Returns pan's numbers, its output, and for a
 * failed one the replayed trail.
 */
export function verify(file, { defines = {}, cc = [], pan = [], ltl = null, timeoutMs = 600_000 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sole-model-'))
  try {
    const src = path.resolve(MODELS, file)
    const D = defineFlags(defines)
    const gen = run('spin', ['-a', ...D, src], dir, timeoutMs)
    if (gen.status !== 0) return { ok: false, stage: 'spin -a', out: gen.out }
    const ccArgs = ['-O2', '-w', '-o', 'pan', ...(ltl ? [] : ['-DSAFETY']), ...cc, 'pan.c']
    const comp = run('cc', ccArgs, dir, timeoutMs)
    if (comp.status !== 0) return { ok: false, stage: 'cc', out: comp.out }
    const panArgs = [...(ltl ? ['-a', '-N', ltl] : []), ...pan]
    const res = run('./pan', panArgs, dir, timeoutMs)
    if (res.error || res.signal) return { ok: false, stage: 'pan', out: `${res.out}\n${res.error ?? res.signal}` }
    const numbers = parsePan(res.out)
    const trailFile = fs.readdirSync(dir).find((f) => f.endsWith('.trail'))
    let trail = null
    if (trailFile) {
      // Replay the counterexample: -k names the trail pan wrote in the working directory.
      const replay = run('spin', ['-t', '-p', '-k', trailFile, ...D, src], dir, timeoutMs)
      trail = replay.out
    }
    return { ok: true, ...numbers, trail, out: res.out }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** A model's own check and each of its mutants'. `passed` says whether each went as it must. */
export function checkModel(m) {
  const base = { defines: m.defines, cc: m.cc, pan: m.pan, ltl: m.ltl ?? null }
  const model = verify(m.file, base)
  const results = [
    {
      kind: 'model',
      name: m.name,
      title: m.title,
      ...model,
      passed: model.ok && model.errors === 0 && !model.incomplete && model.states > 0,
    },
  ]
  for (const mu of m.mutants ?? []) {
    const r = verify(m.file, {
      defines: { ...m.defines, ...mu.defines },
      cc: mu.cc ?? m.cc,
      pan: mu.pan ?? m.pan,
      ltl: mu.ltl === undefined ? (m.ltl ?? null) : mu.ltl,
    })
    results.push({ kind: 'mutant', name: `${m.name}/${mu.name}`, title: mu.what, ...r, passed: r.ok && r.errors > 0 && r.trail !== null })
  }
  return results
}

/**
 * The `code:` tags of a model: each step names the function it stands for, as
 * `code: <path from the repository root>#<function>`.
 */
export function codeRefs(text) {
  return [...text.matchAll(/code:\s*([\w./-]+)#([\w$]+)/g)].map((m) => ({ file: m[1], fn: m[2] }))
}

/** Whether `fn` is defined in `file` (Rust `fn`, TypeScript/JavaScript function, method or const). */
export function defines(source, file, fn) {
  const n = fn.replace(/\$/g, '\\$')
  if (file.endsWith('.rs')) return new RegExp(`\\bfn\\s+${n}\\b`).test(source)
  return new RegExp(
    `(\\bfunction\\s*\\*?\\s*${n}\\b|\\b(const|let|var)\\s+${n}\\b|^\\s*(export\\s+)?(async\\s+)?(static\\s+)?(get\\s+|set\\s+)?${n}\\s*[(<])`,
    'm',
  ).test(source)
}

/** Tags whose file or function no longer exists: the model no longer matches the code. */
export function staleRefs(modelFile, root = ROOT) {
  const text = fs.readFileSync(modelFile, 'utf8')
  const stale = []
  for (const ref of codeRefs(text)) {
    const p = path.join(root, ref.file)
    if (!fs.existsSync(p)) stale.push({ ...ref, why: `${ref.file} does not exist` })
    else if (!defines(fs.readFileSync(p, 'utf8'), ref.file, ref.fn)) stale.push({ ...ref, why: `${ref.file} defines no ${ref.fn}` })
  }
  return stale
}

/** One line per result, for people. */
export function describe(r) {
  const what = r.kind === 'model' ? 'model ' : 'mutant'
  const caught = r.errorDepth == null ? 'caught (counterexample trail)' : `caught at depth ${r.errorDepth} (counterexample trail)`
  const verdict = r.passed ? (r.kind === 'model' ? 'verified' : caught) : 'UNEXPECTED'
  const nums = r.ok ? `${r.states} states, ${r.transitions} transitions, depth ${r.depth}, ${r.seconds} s, errors ${r.errors}` : `failed at ${r.stage}`
  return `${what} ${r.name}: ${verdict}: ${nums}`
}

async function main(argv) {
  const json = argv.includes('--json')
  const names = argv.filter((a) => !a.startsWith('--'))
  const missing = toolsMissing()
  if (missing.length) {
    console.error(`models: ${missing.join(' and ')} not installed (apt-get install spin gcc); nothing checked`)
    return 77
  }
  const known = manifests()
  const unknown = names.filter((n) => !known.some((m) => m.name === n))
  if (unknown.length) {
    console.error(`models: no model named ${unknown.join(', ')} (models: ${known.map((m) => m.name).join(', ')})`)
    return 2
  }
  const all = known.filter((m) => names.length === 0 || names.includes(m.name))
  const results = []
  for (const m of all) {
    for (const ref of staleRefs(path.join(MODELS, m.file))) {
      results.push({ kind: 'code', name: `${m.name}: ${ref.file}#${ref.fn}`, passed: false, ok: false, stage: ref.why })
    }
    for (const r of checkModel(m)) {
      results.push(r)
      if (!json) {
        console.log(describe(r))
        if (!r.passed) console.log((r.trail ?? r.out ?? '').split('\n').slice(-60).join('\n'))
      }
    }
  }
  if (json) console.log(JSON.stringify(results.map(({ out, ...r }) => r), null, 2))
  return results.every((r) => r.passed) ? 0 : 1
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2))
}
