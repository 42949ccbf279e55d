// `sole kill --pidfile` against real processes: the holder gets the signal and sole exits 0 once
// it is gone; a holder that ignores SIGTERM is SIGKILLed at --timeout; an unverified pidfile
// (another tool's, naming a live pid) is never signalled; nothing held → 1.
import test from 'ava'
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import { firstLine } from './fixtures/children.mjs'
import { deadPid, tmpdir } from './helpers/index.js'
import { errorSchema, exited, flockHolder, json, killReportSchema, mismatch, sole, soleClaimer } from './helpers/operator.js'

test('the holder of a pidfile gets SIGTERM; sole exits 0 once it is gone', async (t) => {
  const p = path.join(tmpdir(t), 'app.pid')
  const c = await soleClaimer(t, p)
  const end = exited(c)
  const r = await sole(['kill', '--json', '--pidfile', p])
  t.is(r.code, 0, r.stderr)
  const doc = json(r)
  t.is(mismatch(doc, killReportSchema), null)
  t.deepEqual(doc, { pidfile: p, state: 'held', pid: c.pid, signal: 'SIGTERM', timeoutMs: 5000, outcome: 'terminated' })
  // sole returned after the exit: the child is gone by now, ended by SIGTERM.
  t.deepEqual(await end, { code: null, signal: 'SIGTERM' })
})

test('--signal by name or number reaches the holder (hup, 2, SIGUSR2)', async (t) => {
  const dir = tmpdir(t)
  for (const [given, expected, name] of [
    ['hup', 'SIGHUP', 'SIGHUP'],
    ['2', 'SIGINT', 'SIGINT'],
    ['SIGUSR2', 'SIGUSR2', 'SIGUSR2'],
  ] as const) {
    const p = path.join(dir, `${given}.pid`)
    const c = await soleClaimer(t, p)
    const end = exited(c)
    const r = await sole(['kill', '--pidfile', p, '--signal', given])
    t.is(r.code, 0, r.stderr)
    t.is(r.stdout, `PID ${c.pid} (holder of ${p}) exited after ${name}\n`)
    t.is((await end).signal, expected)
  }
})

test('a holder that ignores SIGTERM is SIGKILLed at --timeout', async (t) => {
  const p = path.join(tmpdir(t), 'stubborn.pid')
  const c = await soleClaimer(t, p, true)
  let said = ''
  c.stdout!.on('data', (d: Buffer) => (said += d.toString()))
  const end = exited(c)
  const started = Date.now()
  const r = await sole(['kill', '--json', '--pidfile', p, '--timeout', '0.4'])
  const took = Date.now() - started
  t.is(r.code, 0, r.stderr)
  t.like(json(r), { pid: c.pid, outcome: 'killed', timeoutMs: 400 })
  t.deepEqual(await end, { code: null, signal: 'SIGKILL' })
  t.true(took >= 400, `SIGKILL came only after the timeout (${took} ms)`)
  t.regex(said, /ignored SIGTERM/, 'SIGTERM was delivered first')
})

test('an unverified pidfile (another tool wrote a live pid) is never signalled; exit 1', async (t) => {
  const p = path.join(tmpdir(t), 'other.pid')
  const live = spawn('sh', ['-c', 'echo up; exec sleep 300'], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => {
    live.kill('SIGKILL')
  })
  await firstLine(live)
  fs.writeFileSync(p, `${live.pid}\n`)
  const r = await sole(['kill', '--json', '--pidfile', p, '--signal', 'KILL', '--timeout', '0'])
  t.is(r.code, 1)
  t.deepEqual(json(r), { pidfile: p, state: 'unverified', pid: live.pid, signal: 'SIGKILL', timeoutMs: 0, outcome: 'not-signalled' })
  t.regex(r.stderr, new RegExp(`^sole: nothing holds ${p}: it is unverified: it names live PID ${live.pid} .*nothing was signalled\\n$`))
  // It is still running: nothing reached it.
  t.is(live.exitCode, null)
  t.is(live.signalCode, null)
  t.is(spawnSync('kill', ['-0', String(live.pid)]).status, 0)
})

test('nothing holds it (absent, free after a SIGKILLed owner, stale pid): exit 1, nothing signalled', async (t) => {
  const dir = tmpdir(t)
  const absent = path.join(dir, 'absent.pid')
  const a = await sole(['kill', '--pidfile', absent])
  t.is(a.code, 1)
  t.regex(a.stderr, /does not exist; nothing was signalled/)
  t.false(fs.existsSync(absent), 'kill creates nothing')
  const p = path.join(dir, 'app.pid')
  const c = await soleClaimer(t, p)
  c.kill('SIGKILL')
  await exited(c)
  const r = await sole(['kill', '--json', '--pidfile', p])
  t.is(r.code, 1)
  t.like(json(r), { state: 'free', pid: null, outcome: 'not-signalled' })
  const stale = path.join(dir, 'stale.pid')
  fs.writeFileSync(stale, `${deadPid()}\n`)
  t.is((await sole(['kill', '--pidfile', stale])).code, 1)
})

test('a lock file held by flock(1) is killed through its holder (flock itself)', async (t) => {
  const p = path.join(tmpdir(t), 'jobs.lock')
  fs.writeFileSync(p, '')
  const fl = await flockHolder(t, p, ['-x'])
  const end = exited(fl)
  const r = await sole(['kill', '--pidfile', p])
  t.is(r.code, 0, r.stderr)
  t.is((await end).signal, 'SIGTERM')
})

test('usage errors: exit 2, sole: <message>, nothing signalled', async (t) => {
  const p = path.join(tmpdir(t), 'app.pid')
  const c = await soleClaimer(t, p)
  for (const [args, message] of [
    [['kill'], /^sole: kill needs --pidfile PATH/],
    [['kill', '--pidfile', p, '--signal', 'FROB'], /^sole: --signal: 'FROB' is not a signal name or number/],
    [['kill', '--pidfile', p, '--signal', '0'], /^sole: --signal: 0 is not a signal number/],
    [['kill', '--pidfile', p, '--signal', '65'], /^sole: --signal: 65 is not a signal number/],
    [['kill', '--pidfile', p, '--timeout', '-1'], /^sole: --timeout: '-1' is not a number of seconds/],
    [['kill', '--pidfile', p, '--timeout', 'soon'], /^sole: --timeout: 'soon' is not a number of seconds/],
    [['kill', p], /^sole: kill: unexpected argument/],
  ] as const) {
    const r = await sole([...args])
    t.is(r.code, 2, args.join(' '))
    t.regex(r.stderr, message)
  }
  const j = await sole(['kill', '--json', '--pidfile', p, '--signal', 'FROB'])
  t.is(mismatch(json(j), errorSchema), null)
  // A symlink is refused, not followed to the holder's pidfile.
  const link = path.join(path.dirname(p), 'link.pid')
  fs.symlinkSync(p, link)
  const s = await sole(['kill', '--pidfile', link])
  t.is(s.code, 2)
  t.regex(s.stderr, /^sole: .*symlink/)
  t.is(c.exitCode, null, 'the holder was never signalled')
  t.is(c.signalCode, null)
})
