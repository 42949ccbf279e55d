// `sole daemon start|stop|status` as an operator runs it: the real command in a child process,
// against real pidfile holders (`soleClaimer`) and real daemons (`fixtures/daemon/
// notify-daemon.mjs`, which says READY=1 with sole's daemonReady()). Exit codes, words and the
// exact `--json` shapes.
import test, { type ExecutionContext } from 'ava'
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import * as sole from '../lib/index.js'
import { rootTest, tmpdir } from './helpers/index.js'
import { ROOT, SOLE, type Schema, errorSchema, exited, json, mismatch, sole as soleCli, soleClaimer } from './helpers/operator.js'

const FIXTURE = path.join(ROOT, '__test__', 'fixtures', 'daemon', 'notify-daemon.mjs')

const nullable = (s: Schema): Schema => ({ anyOf: [s, 'null'] })
const stateSchema: Schema = { oneOf: ['held', 'free', 'absent', 'unverified'] }
const statusSchema: Schema = {
  object: {
    pidfile: 'string',
    state: stateSchema,
    pid: nullable('integer'),
    uptimeMs: nullable('number'),
    startedAt: nullable('string'),
    stalePid: nullable('integer'),
    reason: nullable({ oneOf: ['exited', 'pid-reused', 'previous-boot', 'not-locked'] }),
  },
}
const stopSchema: Schema = {
  object: {
    pidfile: 'string',
    state: stateSchema,
    pid: nullable('integer'),
    signal: 'string',
    timeoutMs: 'integer',
    outcome: { oneOf: ['terminated', 'killed', 'not-running'] },
  },
}
const startSchema: Schema = {
  object: { pid: 'integer', status: nullable('string'), pidfile: nullable('string'), readiness: { oneOf: ['notify', 'exec', 'none'] } },
}

test('help: sole daemon --help shows the three actions; sole --help lists daemon', async (t) => {
  for (const args of [
    ['daemon', '--help'],
    ['daemon', 'start', '-h'],
    ['help', 'daemon'],
  ]) {
    const r = await soleCli(args)
    t.is(r.code, 0, args.join(' '))
    t.regex(r.stdout, /^Usage: sole daemon start \[OPTIONS\] \[--\] COMMAND \[ARGS…\]\n {7}sole daemon stop {3}--pidfile PATH/)
    t.regex(r.stdout, /sole daemon status --pidfile PATH \[--json\]/)
    t.regex(r.stdout, /--readiness MODE/)
    t.regex(r.stdout, /Exit status:/)
  }
  const top = await soleCli(['--help'])
  t.regex(top.stdout, /\n {2}daemon +start a daemon and wait until it is ready, stop it, or show its status\n/)
})

test('usage errors: exit 2, "sole: <message>", nothing started or signalled', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  const c = await soleClaimer(t, p)
  const marker = path.join(dir, 'marker')
  const start = (...opts: string[]) => ['daemon', 'start', ...opts, '--', process.execPath, FIXTURE, 'ready', '--marker', marker, '--delay', '0']
  for (const [args, message] of [
    [['daemon'], /^sole: daemon needs an action: start, stop or status/],
    [['daemon', 'restart'], /^sole: daemon: unknown action 'restart'/],
    [['daemon', 'stop'], /^sole: daemon stop needs --pidfile PATH/],
    [['daemon', 'status'], /^sole: daemon status needs --pidfile PATH/],
    [['daemon', 'status', p], /^sole: daemon status: unexpected argument/],
    [['daemon', 'status', '--pidfile'], /^sole: option --pidfile needs a value/],
    [['daemon', 'status', '--pidfile', p, '--signal', 'TERM'], /^sole: unknown option --signal/],
    [['daemon', 'stop', '--pidfile', p, '--signal', 'FROB'], /^sole: --signal: 'FROB' is not a signal name or number/],
    [['daemon', 'stop', '--pidfile', p, '--timeout', 'soon'], /^sole: --timeout: 'soon' is not a number of seconds/],
    [['daemon', 'start'], /^sole: daemon start needs a COMMAND/],
    [start('--readiness', 'maybe'), /^sole: --readiness: 'maybe' is not one of notify, exec, none/],
    [start('--umask', '999'), /^sole: --umask: '999' is not an octal umask/],
    [start('--umask', '01000'), /^sole: --umask: '01000' is not an octal umask/],
    [start('--env', 'NOEQUALS'), /^sole: --env: 'NOEQUALS' is not NAME=VALUE/],
    [start('--env', '=x'), /^sole: --env: '=x' is not NAME=VALUE/],
    [start('--timeout', '-1'), /^sole: --timeout: '-1' is not a number of seconds/],
    [start('--user', ''), /^sole: --user needs a name or a numeric id/],
    [start('--pidfile', ''), /^sole: --pidfile needs a path/],
  ] as const) {
    const r = await soleCli([...args])
    t.is(r.code, 2, args.join(' '))
    t.regex(r.stderr, message, args.join(' '))
    t.is(r.stdout, '')
  }
  const j = await soleCli(['daemon', 'stop', '--json', '--pidfile', p, '--signal', 'FROB'])
  t.is(j.code, 2)
  t.is(mismatch(json(j), errorSchema), null)
  t.like(json(j), { error: { code: 'EUSAGE' } })
  t.false(fs.existsSync(marker), 'no daemon was started')
  t.is(c.exitCode, null, 'the holder was never signalled')
  t.is(c.signalCode, null)
})

test('status: a held pidfile is "running as PID N since … (up …)", exit 0; --json has its exact shape', async (t) => {
  const p = path.join(tmpdir(t), 'app.pid')
  const c = await soleClaimer(t, p)
  const r = await soleCli(['daemon', 'status', '--pidfile', p])
  t.is(r.code, 0, r.stderr)
  t.regex(r.stdout, new RegExp(`^running as PID ${c.pid} since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(up (\\d+m )?[\\d.]+s\\) \\(holder of ${p}\\)\\n$`))
  const j = await soleCli(['daemon', 'status', '--json', '--pidfile', p])
  t.is(j.code, 0)
  const doc = json(j) as { uptimeMs: number; startedAt: string }
  t.is(mismatch(doc, statusSchema), null)
  t.like(doc, { pidfile: p, state: 'held', pid: c.pid, stalePid: null, reason: null })
  t.true(doc.uptimeMs >= 0 && doc.uptimeMs < 60_000, String(doc.uptimeMs))
  // A relative path is reported absolute.
  const rel = await soleCli(['daemon', 'status', '--json', '--pidfile', path.basename(p)], { cwd: path.dirname(p) })
  t.like(json(rel), { pidfile: p, state: 'held' })
})

test('status: absent, free and unverified pidfiles are "not running", exit 1', async (t) => {
  const dir = tmpdir(t)
  const absent = path.join(dir, 'none.pid')
  const a = await soleCli(['daemon', 'status', '--pidfile', absent])
  t.is(a.code, 1)
  t.is(a.stdout, `not running: ${absent} does not exist\n`)
  t.false(fs.existsSync(absent), 'status creates nothing')
  const p = path.join(dir, 'app.pid')
  const c = await soleClaimer(t, p)
  c.kill('SIGKILL')
  await exited(c)
  const f = await soleCli(['daemon', 'status', '--json', '--pidfile', p])
  t.is(f.code, 1)
  t.is(mismatch(json(f), statusSchema), null)
  t.deepEqual(json(f), { pidfile: p, state: 'free', pid: null, uptimeMs: null, startedAt: null, stalePid: c.pid, reason: 'exited' })
  const u = path.join(dir, 'plain.pid')
  fs.writeFileSync(u, `${process.pid}\n`)
  const v = await soleCli(['daemon', 'status', '--pidfile', u])
  t.is(v.code, 1)
  t.regex(v.stdout, new RegExp(`^not running: ${u} is unverified: it names live PID ${process.pid} `))
})

test('stop: the holder gets SIGTERM, exit 0 once it is gone; --json', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  const c = await soleClaimer(t, p)
  const end = exited(c)
  const r = await soleCli(['daemon', 'stop', '--pidfile', p])
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout, `stopped: PID ${c.pid} (holder of ${p}) exited after SIGTERM\n`)
  t.deepEqual(await end, { code: null, signal: 'SIGTERM' })
  const q = path.join(dir, 'stubborn.pid')
  const s = await soleClaimer(t, q, true)
  const sEnd = exited(s)
  const j = await soleCli(['daemon', 'stop', '--json', '--pidfile', q, '--timeout', '0.3'])
  t.is(j.code, 0, j.stderr)
  t.is(mismatch(json(j), stopSchema), null)
  t.deepEqual(json(j), { pidfile: q, state: 'held', pid: s.pid, signal: 'SIGTERM', timeoutMs: 300, outcome: 'killed' })
  t.is((await sEnd).signal, 'SIGKILL')
})

test('stop: a pidfile nobody holds, or naming a live pid without a lock, is never signalled: exit 1', async (t) => {
  const dir = tmpdir(t)
  const u = path.join(dir, 'plain.pid')
  // The test runner's own pid, with SIGKILL and no grace: were it signalled, this test would die.
  fs.writeFileSync(u, `${process.pid}\n`)
  const r = await soleCli(['daemon', 'stop', '--json', '--pidfile', u, '--signal', 'KILL', '--timeout', '0'])
  t.is(r.code, 1)
  t.deepEqual(json(r), { pidfile: u, state: 'unverified', pid: process.pid, signal: 'SIGKILL', timeoutMs: 0, outcome: 'not-running' })
  t.regex(r.stderr, /^sole: not running: .* is unverified: .*nothing was signalled\n$/)
  const absent = path.join(dir, 'none.pid')
  const a = await soleCli(['daemon', 'stop', '--pidfile', absent])
  t.is(a.code, 1)
  t.is(a.stderr, `sole: not running: ${absent} does not exist; nothing was signalled\n`)
})

/** Stop whatever holds `pidfile` at teardown (a daemon a test started). */
function stopAtEnd(t: ExecutionContext, pidfile: string): void {
  t.teardown(async () => {
    await sole.stopDaemon(pidfile, { signal: 'SIGKILL', timeoutMs: 0 }).catch(() => undefined)
  })
}

// The start tests need `spawnDaemon` (lib/spawn.ts).

test('start: returns once the daemon said READY=1, prints "started PID (ready: STATUS)"; the daemon holds its pidfile', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  const marker = path.join(dir, 'marker')
  stopAtEnd(t, p)
  const r = await soleCli(['daemon', 'start', '--pidfile', p, '--', process.execPath, FIXTURE, 'ready', '--marker', marker, '--delay', '300'])
  t.is(r.code, 0, r.stderr)
  // The marker is written 300 ms into start-up, just before READY=1.
  t.true(fs.existsSync(marker), 'sole daemon start returned before the daemon was ready')
  const pid = Number(fs.readFileSync(marker, 'utf8'))
  t.is(r.stdout, `started ${pid} (ready: serving as ${pid})\n`)
  t.like(sole.readPidfile(p), { state: 'held', pid })
  // A second start is refused while it runs, naming it: exit 1.
  const again = await soleCli(['daemon', 'start', '--pidfile', p, '--', process.execPath, FIXTURE, 'ready', '--delay', '0'])
  t.is(again.code, 1, again.stderr)
  t.regex(again.stderr, new RegExp(`^sole: .*already running as PID ${pid} .*Stop it first \\(sole daemon stop --pidfile ${p}\\)`))
  const st = await soleCli(['daemon', 'status', '--pidfile', p])
  t.is(st.code, 0)
  t.regex(st.stdout, new RegExp(`^running as PID ${pid} `))
  const stop = await soleCli(['daemon', 'stop', '--pidfile', p])
  t.is(stop.code, 0, stop.stderr)
  t.is(stop.stdout, `stopped: PID ${pid} (holder of ${p}) exited after SIGTERM\n`)
  t.false(sole.isAlive(pid))
})

test('start --json: {pid, status, pidfile, readiness}', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  stopAtEnd(t, p)
  const r = await soleCli(['daemon', 'start', '--json', '--pidfile', p, '--', process.execPath, FIXTURE, 'ready', '--delay', '0'])
  t.is(r.code, 0, r.stderr)
  const doc = json(r) as { pid: number }
  t.is(mismatch(doc, startSchema), null)
  t.deepEqual(doc, { pid: doc.pid, status: `serving as ${doc.pid}`, pidfile: p, readiness: 'notify' })
})

test('start: a daemon that exits 3 before it is ready: exit 2, the exit code and its last stderr line', async (t) => {
  const dir = tmpdir(t)
  const err = path.join(dir, 'daemon.err')
  const r = await soleCli(['daemon', 'start', '--json', '--stderr', err, '--pidfile', path.join(dir, 'app.pid'), '--', process.execPath, FIXTURE, 'exit3'])
  t.is(r.code, 2)
  t.regex(r.stderr, /^sole: .*3/)
  const doc = json(r) as { error: { code: string; stage: string; exitCode: number; stderr: string } }
  t.like(doc.error, { code: 'EDAEMON', stage: 'startup', exitCode: 3 })
  t.regex(String(doc.error.stderr), /fatal: no config/)
})

test('start: a daemon that never gets ready: exit 2 (ETIMEDOUT) at --timeout, and it is gone', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  stopAtEnd(t, p)
  const started = Date.now()
  const r = await soleCli(['daemon', 'start', '--json', '--pidfile', p, '--timeout', '0.5', '--', process.execPath, FIXTURE, 'never'])
  t.is(r.code, 2)
  t.true(Date.now() - started >= 500)
  t.regex(r.stderr, /^sole: /)
  t.like(json(r), { error: { code: 'ETIMEDOUT' } })
  t.regex(r.stderr, /raise --timeout/, 'the advice names the flag')
  // The daemon ran (it claimed the pidfile) and was SIGKILLed, as systemd does at
  // TimeoutStartSec: nothing holds the pidfile any more.
  t.true(fs.existsSync(p), 'the daemon created its pidfile')
  t.like(sole.readPidfile(p), { state: 'free' })
})

test('start: a command that cannot be executed: exit 2, naming it', async (t) => {
  const dir = tmpdir(t)
  const missing = path.join(dir, 'no-such-program')
  const r = await soleCli(['daemon', 'start', '--json', '--', missing])
  t.is(r.code, 2)
  t.true(r.stderr.includes(missing), r.stderr)
  t.like(json(r), { error: { code: 'EDAEMON', stage: 'exec' } })
})

test('start: --cwd, --env and --umask reach the daemon; --stdout collects its output', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  const out = path.join(dir, 'daemon.out')
  stopAtEnd(t, p)
  const lib = JSON.stringify(path.join(ROOT, 'lib', 'index.js'))
  const code = `console.log(JSON.stringify({ greeting: process.env.GREETING, cwd: process.cwd(), umask: process.umask() })); require(${lib}).daemonReady(); setInterval(() => {}, 1 << 30)`
  const r = await soleCli(['daemon', 'start', '--pidfile', p, '--cwd', dir, '--env', 'GREETING=hello=world', '--umask', '077', '--stdout', out, '--', process.execPath, '-e', code])
  t.is(r.code, 0, r.stderr)
  // Written before READY=1, so it is in the file when start returned.
  t.deepEqual(JSON.parse(fs.readFileSync(out, 'utf8')), { greeting: 'hello=world', cwd: dir, umask: 0o077 })
})

test('start --readiness exec: returns once the command runs; "started PID (executed)"', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  stopAtEnd(t, p)
  const r = await soleCli(['daemon', 'start', '--readiness', 'exec', '--pidfile', p, '--', 'sleep', '300'])
  t.is(r.code, 0, r.stderr)
  const m = /^started (\d+) \(executed\)\n$/.exec(r.stdout)
  if (!m) return t.fail(r.stdout)
  const pid = Number(m[1])
  t.like(sole.readPidfile(p), { state: 'held', pid })
  t.is(path.basename(fs.readlinkSync(`/proc/${pid}/exe`)), 'sleep')
})

test('start interrupted (SIGINT) before the daemon is ready: the daemon is killed, exit 130', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  const fifo = path.join(dir, 'running')
  t.is(spawnSync('mkfifo', [fifo]).status, 0)
  stopAtEnd(t, p)
  const c = spawn(process.execPath, [SOLE, 'daemon', 'start', '--pidfile', p, '--', process.execPath, FIXTURE, 'never', '--marker', fifo], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    c.kill('SIGKILL')
  })
  let stderr = ''
  c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  // The daemon writes its pid into the FIFO once it runs (and holds its pidfile).
  const pid = Number(await fs.promises.readFile(fifo, 'utf8'))
  t.like(sole.readPidfile(p), { state: 'held', pid })
  c.kill('SIGINT')
  const end = await exited(c)
  t.deepEqual(end, { code: 130, signal: null })
  t.regex(stderr, /^sole: interrupted by SIGINT before .* was ready: it was killed\n$/)
  t.false(sole.isAlive(pid), 'the unready daemon is gone')
  t.like(sole.readPidfile(p), { state: 'free' })
})

rootTest('start --user nobody --group 65534 (a name, a number): the daemon runs as them, its pidfile still claimed (root only)', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  stopAtEnd(t, p)
  // The pidfile is opened before the drop: a 0700 root directory is fine.
  const r = await soleCli(['daemon', 'start', '--json', '--pidfile', p, '--user', 'nobody', '--group', '65534', '--', process.execPath, FIXTURE, 'ready', '--delay', '0'])
  t.is(r.code, 0, r.stderr)
  const { pid } = json(r) as { pid: number }
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  t.regex(status, /^Uid:\t65534\t65534\t65534\t65534$/m)
  t.regex(status, /^Gid:\t65534\t65534\t65534\t65534$/m)
  t.like(sole.readPidfile(p), { state: 'held', pid })
  const unknown = await soleCli(['daemon', 'start', '--user', 'no-such-user-here', '--', 'sleep', '1'])
  t.is(unknown.code, 2)
  t.regex(unknown.stderr, /no-such-user-here/)
})
