// Run the API fuzz test outside ava (after `npm run build`), e.g. for a long local run or to
// replay one call of a failing run:
//
//   node __test__/fuzz/cli.mjs [--seed N] [--runs N] [--size N] [--parallel N] [--native FILE.node]
//   node __test__/fuzz/cli.mjs --seed N --runs N --size N --only BATCH:CALL   (one call, in a fresh runner)
//   --keep: keep the runners' directories (fixtures and `log.txt`, every outcome) for a look
//
// Exit status 1 when the property failed. The report is the one the spec prints.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { confirmAlone, describeCall, fuzz, group, killAll, report } from './driver.mjs'
import { generate } from './plan.mjs'
import { DEFAULTS } from './defaults.mjs'

const args = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const seed = Number(opt('seed', Math.floor(Math.random() * 2 ** 31)))
const runs = Number(opt('runs', DEFAULTS.runs))
const size = Number(opt('size', DEFAULTS.size))
const parallel = Number(opt('parallel', DEFAULTS.parallel))
const nativePath = opt('native', undefined)
const only = opt('only', undefined)
const keep = args.includes('--keep')

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sole-fuzz-cli-'))
process.on('exit', () => {
  killAll()
  if (keep) console.log(`kept ${dir}`)
  else fs.rmSync(dir, { recursive: true, force: true })
})
process.on('SIGINT', () => process.exit(130))

let batches = generate(seed, runs, size)
if (only) {
  const [b, i] = only.split(':').map(Number)
  const call = batches[b][i]
  console.log(`batch ${b} call ${i}: ${describeCall(call, '', call.api)}`)
  console.log(JSON.stringify(call, (_k, v) => (typeof v === 'bigint' ? `${v}n` : Number.isNaN(v) ? 'NaN' : v), 1).slice(0, 4000))
  batches = [[call]]
}
const { failures, stats } = await fuzz({ seed, runs, size, parallel, dir, nativePath, batches })
const groups = group(failures)
if (!only) await confirmAlone(groups, batches, { seed, dir, nativePath })
console.log(`${stats.executed} calls in ${(stats.elapsedMs / 1000).toFixed(1)} s, ${stats.runners} runner(s), ${stats.skipped} step(s) skipped by the safety guards`)
console.log(`per API: ${Object.entries(stats.byApi).sort().map(([a, n]) => `${a} ${n}`).join(', ')}`)
if (failures.length) {
  console.log(report(groups, { seed, runs, size, stats }))
  process.exitCode = 1
} else {
  console.log(`no failures (seed ${seed})`)
}
