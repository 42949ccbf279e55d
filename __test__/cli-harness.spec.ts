// `sole harness` as a user runs it: strategy modules written into a temp dir outside the
// repository (importing sole by the checkout's absolute path), run through the real command.
// - A correct strategy (sole's tryLock/lock, a CommonJS module) passes: exit 0, progress
//   lines on stderr, TAP `ok`, a JUnit report without a failure.
// - A broken one (O_EXCL create, "stale" reclaim after kill(pid, 0), unlink on release: the
//   races of docs/races.md R1 and R2, written here) is caught: exit 1, the shrunk timeline and
//   the replay command printed, the replay file written, the JUnit report holding a
//   <failure>; `--replay FILE` runs that counterexample again and reproduces a violation. The
//   schedule replays exactly but the processes' timing does not, so up to a few replays are
//   allowed (each is reported as TAP: `not ok` when it reproduced, `ok` when it did not).
// - A module that does not load, is not a strategy, or has a bad `meta`; usage errors; a bad
//   replay file: exit 2 with `sole: <message>`.
// Budgets are small (seconds): the point is the command's contract, not finding rare races.
import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'

import { tmpdir } from './helpers/index.js'
import { json, ROOT, sole } from './helpers/operator.js'

const SOLE_LIB = path.join(ROOT, 'lib', 'index.js')

/** A correct strategy: sole's lock files, exclusive and shared (CommonJS, as some users write it). */
const CORRECT_CJS = `const sole = require(${JSON.stringify(SOLE_LIB)})
module.exports = function makeStrategy(target) {
  return {
    tryAcquire: (shared) => sole.tryLock(target, { shared }),
    acquire: (shared) => sole.lock(target, { shared }),
    release: (lock) => lock.release(),
  }
}
module.exports.meta = { shared: true, kernelVisible: true }
`

/**
 * A broken strategy: O_EXCL create, reclaim when kill(pid, 0) says the owner is dead (or the
 * file is empty: a claim still being written), unlink on release.
 */
const BROKEN_ESM = `import fs from 'node:fs'
import { setTimeout as delay } from 'node:timers/promises'

export const meta = { file: 'app.lock' }

export default function makeStrategy(target) {
  const alive = (pid) => {
    try {
      process.kill(pid, 0)
      return true
    } catch (e) {
      return e.code === 'EPERM'
    }
  }
  // Both check-then-act windows are widened to 20 ms (real ones are microseconds wide) so
  // that the replay of whichever race the shrinker kept reproduces it nearly every time: the
  // create-then-write window (a second starter reads the new file empty, pid 0, and reclaims
  // it) and the read-then-reclaim window below.
  const wide = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)
  const tryAcquire = () => {
    let fd
    try {
      fd = fs.openSync(target, 'wx')
    } catch (e) {
      if (e.code !== 'EEXIST') throw e
    }
    if (fd !== undefined) {
      wide()
      fs.writeSync(fd, process.pid + '\\n')
      fs.closeSync(fd)
      return true
    }
    let text
    try {
      text = fs.readFileSync(target, 'utf8')
    } catch (e) {
      if (e.code === 'ENOENT') return null // released meanwhile: busy, try again
      throw e
    }
    const pid = Number(text)
    if (pid && alive(pid)) return null
    wide()
    fs.writeFileSync(target, process.pid + '\\n')
    return true
  }
  return {
    tryAcquire,
    async acquire() {
      for (;;) {
        if (tryAcquire()) return true
        await delay(2)
      }
    },
    release: () => fs.rmSync(target, { force: true }),
  }
}
`

function write(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text)
}

/**
 * A minimal XML well-formedness check (no XML parser in the dependencies): one declaration,
 * tags that nest and close, quoted attributes, only the five predefined entities and
 * character references. Returns the elements seen, with their attributes, in document order.
 */
function parseXml(text: string): { name: string; attrs: Record<string, string>; text: string }[] {
  const decl = /^<\?xml version="1\.0" encoding="UTF-8"\?>\n/
  if (!decl.test(text)) throw new Error('no XML declaration')
  const body = text.replace(decl, '')
  const elements: { name: string; attrs: Record<string, string>; text: string }[] = []
  const stack: { name: string; start: number; index: number }[] = []
  const entity = /&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/
  const tag = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"<]*")*)\s*(\/?)>/g
  let at = 0
  for (let m = tag.exec(body); m !== null; m = tag.exec(body)) {
    const between = body.slice(at, m.index)
    if (between.includes('<') || entity.test(between)) throw new Error(`bad text before <${m[2]}> at ${m.index}: ${JSON.stringify(between.slice(0, 80))}`)
    const [, close, name, attrText, selfClose] = m
    if (close) {
      const open = stack.pop()
      if (!open || open.name !== name) throw new Error(`</${name}> closes <${open?.name}>`)
      elements[open.index].text = body.slice(open.start, m.index)
    } else {
      const attrs: Record<string, string> = {}
      for (const a of attrText.matchAll(/([A-Za-z_][\w.-]*)="([^"]*)"/g)) {
        if (entity.test(a[2])) throw new Error(`bad entity in ${name}@${a[1]}`)
        attrs[a[1]] = a[2]
      }
      elements.push({ name, attrs, text: '' })
      if (!selfClose) stack.push({ name, start: m.index + m[0].length, index: elements.length - 1 })
    }
    at = m.index + m[0].length
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.map((s) => s.name).join('>, <')}>`)
  if (body.slice(at).trim() !== '') throw new Error('text after the root element')
  if (elements[0]?.name !== 'testsuites') throw new Error(`root is <${elements[0]?.name}>`)
  return elements
}

const PROGRESS = /^sole harness: correct: \d+ s: \d+ schedules, \d+ steps, \d+ kills, \d+ pauses; no violation yet$/m

test.serial('a correct strategy (sole tryLock/lock, CommonJS, outside the repository) passes: exit 0, progress on stderr, TAP ok, JUnit without a failure', async (t) => {
  const dir = tmpdir(t, 'sole-cli-harness-')
  write(dir, { 'correct.cjs': CORRECT_CJS })
  const r = await sole(['harness', '--strategy', 'correct.cjs', '--seconds', '6', '--progress', '2', '--seed', '42', '--tap', '--junit', 'report.xml'], { cwd: dir })
  t.is(r.code, 0, r.stderr)
  // stdout is TAP only; the human report and the progress are on stderr.
  const tap = r.stdout.split('\n')
  t.is(tap[0], 'TAP version 13')
  t.is(tap[1], '1..1')
  t.regex(tap[2], /^ok 1 - correct: \d+ schedules, no violation$/)
  t.false(r.stdout.includes('not ok'))
  t.regex(r.stderr, /^correct: \d+ schedules passed in [\d.]+ s, seed 42 \(/m)
  t.regex(r.stderr, PROGRESS, 'a progress line every 2 s')
  t.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('sole-harness-replay')), [], 'no replay file without a violation')

  const xml = parseXml(fs.readFileSync(path.join(dir, 'report.xml'), 'utf8'))
  const suites = xml.filter((e) => e.name === 'testsuite')
  t.is(suites.length, 1)
  t.like(suites[0].attrs, { name: 'sole harness', tests: '1', failures: '0', errors: '0' })
  const cases = xml.filter((e) => e.name === 'testcase')
  t.is(cases.length, 1)
  t.is(cases[0].attrs.name, 'correct')
  t.false(xml.some((e) => e.name === 'failure'))
})

test.serial('--json: one JSON document with the verdict; SIGINT: every worker killed, exit 130', async (t) => {
  const dir = tmpdir(t, 'sole-cli-harness-')
  write(dir, { 'correct.cjs': CORRECT_CJS })
  const r = await sole(['harness', '--strategy', 'correct.cjs', '--seconds', '2', '--seed', '7', '--json', '--progress', '0'], { cwd: dir })
  t.is(r.code, 0, r.stderr)
  const doc = json(r) as Record<string, unknown>
  t.deepEqual(Object.keys(doc).sort(), ['executed', 'failed', 'failure', 'ms', 'name', 'path', 'replay', 'replayFile', 'seed', 'stats', 'strategy', 'timeline'])
  t.like(doc, { strategy: path.join(dir, 'correct.cjs'), name: 'correct', failed: false, seed: 7, failure: null, timeline: [], replayFile: null, replay: null })
  t.true((doc.executed as number) >= 1)
  t.true(((doc.stats as Record<string, number>).steps ?? 0) >= 1)
  t.regex(r.stderr, /^correct: \d+ schedules passed in /m, 'the human report on stderr')

  // Interrupted: the command kills its workers before it exits. Its first progress line says
  // schedules are running; the workers are found by their command line (the strategy's path).
  const { spawn } = await import('node:child_process')
  const c = spawn(process.execPath, [path.join(ROOT, 'bin', 'sole.js'), 'harness', '--strategy', 'correct.cjs', '--seconds', '60', '--progress', '1'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  t.teardown(() => c.kill('SIGKILL'))
  let stderr = ''
  await new Promise<void>((resolve, reject) => {
    c.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
      if (PROGRESS.test(stderr)) resolve()
    })
    c.once('exit', () => reject(new Error(`exited before any progress: ${stderr}`)))
  })
  const exited = new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code)))
  c.kill('SIGINT')
  t.is(await exited, 130, stderr)
  const workers = fs.readdirSync('/proc').filter((p) => {
    if (!/^\d+$/.test(p)) return false
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(path.join(dir, 'correct.cjs'))
    } catch {
      return false // exited meanwhile
    }
  })
  t.deepEqual(workers, [], 'no worker outlives the command')
})

test.serial('a broken strategy (O_EXCL + kill(pid, 0) reclaim, unlink on release) is caught: exit 1, timeline, replay file and command, JUnit failure; --replay reproduces it', async (t) => {
  const dir = tmpdir(t, 'sole-cli-harness-')
  write(dir, { 'broken.mjs': BROKEN_ESM })
  const r = await sole(['harness', '--strategy', 'broken.mjs', '--seconds', '30', '--shrink-seconds', '5', '--workers', '4', '--junit', 'report.xml'], { cwd: dir })
  t.is(r.code, 1, `${r.stdout}\n${r.stderr}`)
  t.log(r.stdout)
  // The report: what broke, the shrunk schedule as it ran (steps t1…), and the replay line.
  t.regex(r.stdout, /^broken: EXCLUSION VIOLATION at step t\d+: sentinel: /m)
  t.regex(r.stdout, /^ {4}t1 /m)
  t.regex(r.stdout, / -> acquired$/m)
  t.regex(r.stdout, /^ {4}!! EXCLUSION: /m)
  const seed = Number(/seed: (-?\d+) {3}path: [\d:]+/.exec(r.stdout)?.[1])
  t.true(Number.isInteger(seed), 'the report names the seed')
  const replayName = `sole-harness-replay-${seed}.json`
  const line = `npx sole harness --strategy broken.mjs --replay ${replayName}`
  t.true(r.stdout.includes(`  replay: ${line}\n`), r.stdout)

  // The replay file: the strategy's absolute path, the seed, the fast-check path, the options.
  const replay = JSON.parse(fs.readFileSync(path.join(dir, replayName), 'utf8'))
  t.is(replay.format, 'sole-harness-replay/1')
  t.is(replay.strategy, path.join(dir, 'broken.mjs'))
  t.is(replay.seed, seed)
  t.regex(replay.path, /^\d+(:\d+)*$/)
  t.like(replay.options, { maxWorkers: 4, examples: true })
  t.is(replay.failure.kind, 'exclusion')

  const xml = parseXml(fs.readFileSync(path.join(dir, 'report.xml'), 'utf8'))
  t.like(xml.find((e) => e.name === 'testsuite')?.attrs, { tests: '1', failures: '1' })
  const failure = xml.find((e) => e.name === 'failure')
  t.truthy(failure, 'a <failure> element')
  t.is(failure!.attrs.type, 'exclusion')
  t.regex(failure!.attrs.message, /^broken: EXCLUSION VIOLATION at step t\d+/)
  t.true(failure!.text.includes('!! EXCLUSION: '), 'the failure carries the timeline')
  t.true(failure!.text.includes(`replay: ${line}`), 'and the replay line')

  // The printed command, run as printed (minus npx: the checkout's bin is not installed here).
  // Timing does not replay, so a few attempts are allowed; each is TAP on stdout.
  let reproduced = 0
  const attempts = []
  for (let i = 0; i < 5 && reproduced === 0; i++) {
    const again = await sole(['harness', '--strategy', 'broken.mjs', '--replay', replayName, '--tap'], { cwd: dir })
    attempts.push(again.code)
    t.true(again.code === 0 || again.code === 1, again.stderr)
    t.true(again.stdout.startsWith('TAP version 13\n1..1\n'), again.stdout)
    if (again.code === 1) {
      reproduced++
      t.regex(again.stdout, /^not ok 1 - broken: exclusion violation$/m)
      t.regex(again.stdout, /^ {2}---\n {2}message: "broken: EXCLUSION VIOLATION at step t\d+: /m)
      const at = /^ {4}seed: (-?\d+)\n {4}path: "([\d:]+)"$/m.exec(again.stdout)
      t.is(Number(at?.[1]), seed, again.stdout)
      // fast-check replays from the path: if that schedule passes this time, it goes on with
      // the next ones, and says so.
      if (at?.[2] !== replay.path) t.regex(again.stderr, /did not fail this time; fast-check went on from it/)
      t.regex(again.stdout, /^ {2}\.\.\.$/m)
    } else {
      t.regex(again.stdout, /^ok 1 - broken: /m)
      t.regex(again.stderr, /did not reproduce this time/)
    }
  }
  t.log(`replays: exit ${attempts.join(', ')}`)
  t.is(reproduced, 1, `the replay never reproduced a violation in ${attempts.length} attempts`)
})

test.serial('a module that does not load, is not a strategy, or has a bad meta: exit 2 with sole: <message>', async (t) => {
  const dir = tmpdir(t, 'sole-cli-harness-')
  write(dir, {
    'no-default.mjs': 'export const helper = () => 1\n',
    'not-a-function.mjs': 'export default { tryAcquire() {} }\n',
    'syntax.mjs': 'export default function (\n',
    'throws.mjs': "throw new Error('boom at import')\n",
    'bad-meta.mjs': "export const meta = { shared: 'yes' }\nexport default () => ({})\n",
  })
  const cases: [string, RegExp][] = [
    ['no-default.mjs', /^sole: no-default\.mjs is not a strategy: its default export must be a function makeStrategy\(target\)/],
    ['not-a-function.mjs', /^sole: not-a-function\.mjs is not a strategy/],
    ['syntax.mjs', /^sole: cannot load the strategy syntax\.mjs: /],
    ['throws.mjs', /^sole: cannot load the strategy throws\.mjs: boom at import/],
    ['bad-meta.mjs', /^sole: bad-meta\.mjs: meta\.shared must be a boolean/],
    ['absent.mjs', /^sole: cannot load the strategy absent\.mjs: no such file \(\/.*\/absent\.mjs\)$/m],
  ]
  for (const [file, message] of cases) {
    const r = await sole(['harness', '--strategy', file, '--seconds', '1'], { cwd: dir })
    t.is(r.code, 2, `${file}: ${r.stderr}`)
    t.regex(r.stderr, message, file)
    t.is(r.stdout, '', file)
  }
  const j = await sole(['harness', '--strategy', 'no-default.mjs', '--json'], { cwd: dir })
  t.is(j.code, 2)
  t.like(json(j), { error: { code: 'ESTRATEGY' } })
  t.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('sole-harness-replay')), [])
})

test.serial('usage errors and unusable replay files: exit 2 with sole: <message>; --help: exit 0', async (t) => {
  const dir = tmpdir(t, 'sole-cli-harness-')
  write(dir, {
    'correct.cjs': CORRECT_CJS,
    'not-replay.json': '{"seed": 1}\n',
    'garbage.json': 'not json\n',
  })
  const cases: [string[], RegExp][] = [
    [[], /^sole: --strategy FILE is required/],
    [['--strategy'], /^sole: option --strategy needs a value/],
    [['correct.cjs'], /^sole: unexpected argument 'correct\.cjs'/],
    [['--strategy', 'correct.cjs', '--seconds', 'soon'], /^sole: --seconds: 'soon' is not a number of seconds/],
    [['--strategy', 'correct.cjs', '--seconds', '0'], /^sole: --seconds must be more than 0/],
    [['--strategy', 'correct.cjs', '--workers', '1'], /^sole: --workers: '1' is not an integer from 2 to 16/],
    [['--strategy', 'correct.cjs', '--seed', '1.5'], /^sole: --seed: '1\.5' is not an integer/],
    [['--strategy', 'correct.cjs', '--tap', '--json'], /^sole: --tap and --json both print on stdout/],
    [['--strategy', 'correct.cjs', '--bogus'], /^sole: unknown option --bogus/],
    [['--strategy', 'correct.cjs', '--replay', 'not-replay.json', '--seed', '3'], /^sole: --replay runs the recorded counterexample with its recorded options: --seed cannot be combined with it/],
    [['--strategy', 'correct.cjs', '--replay', 'absent.json'], /^sole: cannot read the replay file absent\.json: /],
    [['--strategy', 'correct.cjs', '--replay', 'garbage.json'], /^sole: cannot read the replay file garbage\.json: /],
    [['--strategy', 'correct.cjs', '--replay', 'not-replay.json'], /^sole: not-replay\.json is not a sole harness replay file: no "format"/],
  ]
  for (const [args, message] of cases) {
    const r = await sole(['harness', ...args], { cwd: dir })
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    t.regex(r.stderr, message, args.join(' '))
  }
  const help = await sole(['harness', '--help'])
  t.is(help.code, 0)
  for (const o of ['--strategy FILE', '--seconds N', '--workers N', '--seed S', '--replay PATH', '--junit FILE', '--tap', 'Exit status:']) t.true(help.stdout.includes(o), o)
  const top = await sole(['--help'])
  t.regex(top.stdout, /^ {2}harness +check a lock strategy/m)
})
