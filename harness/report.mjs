// What a harness run leaves behind for people and for CI: the human report (what broke, the
// shrunk timeline, how to replay it), a JUnit XML report and TAP 13 for CI systems, the
// progress line, and the replay file.
//
// Why a replay file: a counterexample is a fast-check seed plus a path into the generator's
// shrink tree, and it only means something with the same strategy and the same generator
// options (workers, steps, whether the known races ran first: they come first in fast-check's
// numbering). The file keeps all of them together, so `sole harness --replay FILE` runs exactly
// that schedule again. The schedule replays exactly; the processes' timing does not, so a race
// that needed two processes in the same microsecond may need a few replays.
//
// Nothing here imports fast-check or starts a process: these are pure functions of a report
// (harness/schedule.mjs's `checkStrategy` result) and a file or two.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** The replay file's format marker (a file without it is refused). */
export const REPLAY_FORMAT = 'sole-harness-replay/1'

/** A replay file the harness cannot use: the CLI's exit 2. */
export class ReplayError extends Error {
  constructor(message, cause) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = 'ReplayError'
    this.code = 'EREPLAY'
  }
}

/** `checkStrategy(...)` as a line of code: the default replay hint of the programmatic API. */
export function apiReplayLine(r) {
  return `checkStrategy(${JSON.stringify(r.strategy)}, { seed: ${r.seed}, path: ${JSON.stringify(r.path)} })`
}

const secs = (ms) => `${(ms / 1000).toFixed(1)} s`

/** `12 steps, 3 kills` from the stats, in the engine's order. */
export function formatStats(stats) {
  return Object.entries(stats ?? {})
    .map(([k, v]) => `${v} ${k}`)
    .join(', ')
}

/** The one-line failure headline: `name: EXCLUSION VIOLATION at step t5: …`. */
export function headline(r) {
  if (!r.failed) return `${r.strategy}: no violation in ${r.executed} schedules`
  if (!r.last) return `${r.strategy}: the harness failed without a failing schedule (seed ${r.seed})`
  const f = r.last.failure
  return `${r.strategy}: ${f.kind.toUpperCase()} VIOLATION at step t${f.atStep}: ${f.message}`
}

/**
 * The report for people. On success, one line with what ran. On a violation: the headline,
 * when it was first found and how far it shrank, the seed and path, `replay` (a command or a
 * line of code; default {@link apiReplayLine}), and the shrunk schedule's timeline as it ran.
 */
export function formatReport(r, opts = {}) {
  if (!r.failed) {
    return `${r.strategy}: ${r.executed} schedules passed in ${secs(r.ms)}, seed ${r.seed} (${formatStats(r.stats)})`
  }
  if (!r.last) return headline(r)
  const f = r.last.failure
  const replay = opts.replay ?? apiReplayLine(r)
  const first = r.firstFailure
  return [
    headline(r),
    first
      ? `  first failing schedule: run ${first.run}, step t${first.steps} (${secs(first.ms)} in); shrunk ${r.numShrinks} times, to a schedule that fails at step t${f.atStep} (later steps never ran)`
      : `  replayed: fails at step t${f.atStep}`,
    `  seed: ${r.seed}   path: ${r.path}`,
    `  replay: ${replay}`,
    `  (the schedule replays exactly; the processes' timing does not, so a race may need a few replays)`,
    `  shrunk schedule as run (${r.last.schedule.workers} workers):`,
    ...r.last.timeline.map((l) => `    ${l}`),
  ].join('\n')
}

/**
 * The progress line (`sole harness` prints one every 10 s on stderr): how long, how many
 * schedules, steps, kills and pauses so far, and whether a violation is being shrunk.
 */
export function progressLine(soFar, elapsedMs) {
  const s = soFar.stats ?? {}
  const state = soFar.firstFailure ? `violation found at ${secs(soFar.firstFailure.ms)}, shrinking` : 'no violation yet'
  return `${soFar.strategy}: ${Math.round(elapsedMs / 1000)} s: ${soFar.executed} schedules, ${s.steps ?? 0} steps, ${s.kills ?? 0} kills, ${s.pauses ?? 0} pauses; ${state}`
}

// ---- JUnit XML ---------------------------------------------------------------------------

/** Characters XML 1.0 cannot carry at all (controls other than tab, newline, return). */
// eslint-disable-next-line no-control-regex
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g
const xml = (s) =>
  String(s)
    .replace(NOT_XML, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')

/**
 * A JUnit XML report (the Ant/Jenkins schema that CI systems read): `<testsuites>` holding one
 * `<testsuite name="sole harness">`, one `<testcase>` per strategy run (`results`: `{ report,
 * replay? }`), with a `<failure message type>` carrying the full report (timeline and replay
 * line) for a violation, and the counts in `<system-out>`.
 */
export function junitReport(results, { suite = 'sole harness', timestamp = new Date() } = {}) {
  const failures = results.filter(({ report }) => report.failed).length
  const time = results.reduce((t, { report }) => t + report.ms, 0) / 1000
  const stamp = timestamp.toISOString().replace(/\.\d+Z$/, '')
  const cases = results.map(({ report: r, replay }) => {
    const head = `    <testcase classname="sole.harness" name="${xml(r.strategy)}" time="${(r.ms / 1000).toFixed(3)}">`
    const out = `      <system-out>${xml(`${r.executed} schedules (${formatStats(r.stats)}); seed ${r.seed}`)}</system-out>`
    if (!r.failed) return [head, out, '    </testcase>'].join('\n')
    const kind = r.last?.failure.kind ?? 'harness'
    return [head, `      <failure message="${xml(headline(r))}" type="${xml(kind)}">${xml(formatReport(r, { replay }))}</failure>`, out, '    </testcase>'].join('\n')
  })
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xml(suite)}" tests="${results.length}" failures="${failures}" errors="0" time="${time.toFixed(3)}">`,
    `  <testsuite name="${xml(suite)}" tests="${results.length}" failures="${failures}" errors="0" skipped="0" time="${time.toFixed(3)}" timestamp="${stamp}" hostname="${xml(os.hostname())}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n')
}

// ---- TAP 13 ------------------------------------------------------------------------------

/** A YAML scalar on one line, always double-quoted (JSON strings are valid YAML). */
const yamlString = (s) => JSON.stringify(String(s))

/**
 * TAP 13: the version line, the plan, one test point per strategy run (`ok N - name` or
 * `not ok N - name`) and, for a violation, a YAML block (`  ---` … `  ...`) with the message,
 * seed, path, replay line and the timeline.
 */
export function tapReport(results) {
  const lines = ['TAP version 13', `1..${results.length}`]
  results.forEach(({ report: r, replay }, i) => {
    if (!r.failed) {
      lines.push(`ok ${i + 1} - ${r.strategy}: ${r.executed} schedules, no violation`)
      lines.push(`# ${formatStats(r.stats)}`)
      return
    }
    lines.push(`not ok ${i + 1} - ${r.strategy}: ${r.last ? `${r.last.failure.kind} violation` : 'harness failure'}`)
    lines.push('  ---')
    lines.push(`  message: ${yamlString(headline(r))}`)
    lines.push('  severity: fail')
    lines.push('  data:')
    lines.push(`    seed: ${r.seed}`)
    lines.push(`    path: ${yamlString(r.path ?? '')}`)
    lines.push(`    replay: ${yamlString(replay ?? apiReplayLine(r))}`)
    if (r.last) {
      lines.push('    timeline:')
      for (const l of r.last.timeline) lines.push(`      - ${yamlString(l)}`)
    }
    lines.push('  ...')
  })
  return `${lines.join('\n')}\n`
}

// ---- replay files ------------------------------------------------------------------------

/** Where `sole harness` writes a counterexample by default: `sole-harness-replay-SEED.json` in `dir`. */
export function defaultReplayPath(seed, dir = process.cwd()) {
  return path.join(dir, `sole-harness-replay-${seed}.json`)
}

/**
 * Write the replay file of a failed report: the strategy (absolute path), seed, path, the
 * generator `options` the run used (they must match for the path to mean the same schedule),
 * and, for people, the failure and the timeline. Written to a temp file and renamed.
 */
export function writeReplay(file, { strategyFile, report, options }) {
  if (!report.failed || report.path === null) throw new ReplayError('only a failed run has a counterexample to replay')
  const doc = {
    format: REPLAY_FORMAT,
    strategy: path.resolve(strategyFile),
    seed: report.seed,
    path: report.path,
    options,
    failure: report.last?.failure ?? null,
    timeline: report.last?.timeline ?? [],
    written: new Date().toISOString(),
  }
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, `${JSON.stringify(doc, null, 2)}\n`)
  fs.renameSync(tmp, file)
  return doc
}

/** Read and check a replay file; throws a {@link ReplayError} saying what is wrong. */
export function readReplay(file) {
  let doc
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (err) {
    throw new ReplayError(`cannot read the replay file ${file}: ${err?.message ?? err}`, err)
  }
  const bad = (what) => new ReplayError(`${file} is not a sole harness replay file: ${what}`)
  if (doc === null || typeof doc !== 'object' || doc.format !== REPLAY_FORMAT) throw bad(`no "format": "${REPLAY_FORMAT}"`)
  if (typeof doc.strategy !== 'string' || doc.strategy === '') throw bad('"strategy" must be the strategy file\'s path')
  if (!Number.isInteger(doc.seed)) throw bad('"seed" must be an integer')
  if (typeof doc.path !== 'string' || !/^\d+(:\d+)*$/.test(doc.path)) throw bad('"path" must be a fast-check path (digits separated by ":")')
  if (doc.options === null || typeof doc.options !== 'object' || Array.isArray(doc.options)) throw bad('"options" must be an object')
  return doc
}
