// `sole lock` against real processes: util-linux flock(1) as the reference (same arguments →
// same exit codes, exclusion in both directions, shared vs exclusive, -w timeouts), the
// descriptor the command does (not) inherit, signals forwarded to the command, and a lock that
// is released only once the command has exited. Readiness is always a line the child prints.
import test, { type ExecutionContext } from 'ava'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import * as lib from '../lib/index.js'
import { firstLine } from './fixtures/children.mjs'
import { tmpdir } from './helpers/index.js'
import { run, SOLE, sole as soleCli } from './helpers/operator.js'

const sole = (args: readonly string[], opts?: { cwd?: string }) => soleCli(['lock', ...args], opts)
const flock = (args: readonly string[], opts?: { cwd?: string }) => run('flock', args, opts)

/** A process holding `p` (flock(1) or `sole lock`) until the test ends or `release()`. */
async function holder(t: ExecutionContext, tool: 'flock' | 'sole', p: string, flags: string[] = []) {
  const cmd = ['sh', '-c', 'echo held; read _']
  const c: ChildProcess =
    tool === 'flock'
      ? spawn('flock', [...flags, p, ...cmd], { stdio: ['pipe', 'pipe', 'inherit'] })
      : spawn(process.execPath, [SOLE, 'lock', ...flags, p, ...cmd], { stdio: ['pipe', 'pipe', 'inherit'] })
  const exited = new Promise<void>((r) => c.once('exit', () => r()))
  const release = async () => {
    c.stdin!.end()
    await exited
  }
  t.teardown(release)
  t.is(await firstLine(c), 'held')
  return { pid: c.pid!, release }
}

test('same arguments, same exit codes as flock(1) when nobody holds the lock', async (t) => {
  const d = tmpdir(t)
  const p = path.join(d, 'l')
  const cases: string[][] = [
    [p, 'true'],
    [p, 'sh', '-c', 'exit 7'],
    [p, 'sh', '-c', 'kill -KILL $$'],
    [p, 'sh', '-c', 'kill -TERM $$'],
    [p, '-c', 'exit 3'],
    ['-s', p, 'true'],
    ['-x', p, 'true'],
    ['-n', p, 'true'],
    ['-w', '1.5', p, 'true'],
    ['-E', '9', p, 'true'],
    [p, 'sole-no-such-command-xyz'],
    [path.join(d, 'missing-dir', 'l'), 'true'],
    // Usage errors: flock(1) exits 64 (EX_USAGE).
    [],
    [p],
    ['-E', '256', p, 'true'],
    ['-E', '-1', p, 'true'],
    ['-E', 'x', p, 'true'],
    ['-w', 'abc', p, 'true'],
    ['--no-such-option', p, 'true'],
    [p, '-c'],
    [p, '-c', 'true', 'extra'],
  ]
  for (const args of cases) {
    const [a, b] = await Promise.all([sole(args), flock(args)])
    t.is(a.code, b.code, `sole lock ${args.join(' ')}: ${a.stderr}`)
  }
  // The codes themselves, as the README documents them.
  t.is((await sole([p, 'sh', '-c', 'kill -KILL $$'])).code, 137)
  t.is((await sole([p, 'sole-no-such-command-xyz'])).code, 69)
  t.is((await sole([path.join(d, 'missing-dir', 'l'), 'true'])).code, 66)
  t.is((await sole(['-E', '256', p, 'true'])).code, 64)
})

for (const tool of ['flock', 'sole'] as const) {
  test(`held exclusively by ${tool}: sole lock and flock(1) are both refused, with the same codes`, async (t) => {
    const p = path.join(tmpdir(t), 'l')
    const h = await holder(t, tool, p)
    for (const args of [
      ['-n', p, 'true'],
      ['-s', '-n', p, 'true'],
      ['-n', '-E', '42', p, 'true'],
      ['-w', '0', p, 'true'],
      ['-w', '0.2', '-E', '0', p, 'true'],
    ]) {
      const [a, b] = await Promise.all([sole(args), flock(args)])
      t.is(a.code, b.code, `sole lock ${args.join(' ')}`)
      t.not(a.stdout, 'ran', 'the command never runs without the lock')
    }
    const refused = await sole(['-n', p, 'sh', '-c', 'echo ran'])
    t.is(refused.code, 1)
    t.is(refused.stdout, '')
    // The message names the holder: flock(1) itself, or the `sole lock` process.
    t.regex(refused.stderr, new RegExp(`^sole: ${p} is locked by PID ${h.pid}; an exclusive lock was not granted`))
    const quiet = await sole(['-n', '-q', p, 'true'])
    t.deepEqual([quiet.code, quiet.stderr], [1, ''])
    const json = await sole(['--json', '-n', '-E', '5', p, 'true'])
    t.is(json.code, 5)
    t.deepEqual(JSON.parse(json.stdout), {
      error: { code: 'EHELD', message: json.stderr.slice('sole: '.length, -1), path: p, pid: h.pid },
    })
  })

  test(`held shared by ${tool}: shared requests are granted, exclusive ones refused (both tools)`, async (t) => {
    const p = path.join(tmpdir(t), 'l')
    await holder(t, tool, p, ['-s'])
    const shared = ['-s', '-n', p, 'sh', '-c', 'echo ran']
    const [a, b] = await Promise.all([sole(shared), flock(shared)])
    t.deepEqual([a.code, a.stdout], [0, 'ran\n'])
    t.deepEqual([b.code, b.stdout], [0, 'ran\n'])
    const exclusive = ['-n', p, 'true']
    const [c, e] = await Promise.all([sole(exclusive), flock(exclusive)])
    t.deepEqual([c.code, e.code], [1, 1])
  })
}

test('-w: a timeout waits that long, then exits with the conflict code (as flock(1) does)', async (t) => {
  const p = path.join(tmpdir(t), 'l')
  await holder(t, 'flock', p)
  const [a, b] = await Promise.all([sole(['-w', '0.4', p, 'true']), flock(['-w', '0.4', p, 'true'])])
  t.deepEqual([a.code, b.code], [1, 1])
  t.true(a.ms >= 400, `waited ${a.ms} ms`)
  t.regex(a.stderr, /^sole: timed out after 0\.4s waiting for an exclusive lock on .*, held by PID \d+\.\n$/)
  const e = await sole(['-w', '0.1', '-E', '77', '--json', p, 'true'])
  t.is(e.code, 77)
  t.is(JSON.parse(e.stdout).error.code, 'ETIMEDOUT')
})

test('-w: the wait ends when the holder releases, and the command runs after it', async (t) => {
  const d = tmpdir(t)
  const p = path.join(d, 'l')
  const marker = path.join(d, 'marker')
  // The holder writes the marker as its last act under the lock.
  const h = spawn('flock', [p, 'sh', '-c', `echo held; read _; echo released > ${marker}`], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => h.kill('SIGKILL'))
  t.is(await firstLine(h), 'held')
  const waiter = spawn(process.execPath, [SOLE, 'lock', '-w', '60', p, 'cat', marker], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  waiter.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
  const done = new Promise<number | null>((r) => waiter.once('close', (code) => r(code)))
  // The kernel lists the waiter as blocked on this file (`-> FLOCK … PID dev:ino`) before we
  // release: the command below runs only after a real wait.
  await until('sole waits on the lock', () => blockedOn(p).includes(waiter.pid!))
  h.stdin!.end()
  t.deepEqual([await done, out], [0, 'released\n'])
})

/** Pids the kernel lists as waiting for a flock on `p` (`/proc/locks` "->" lines). */
function blockedOn(p: string): number[] {
  const ino = fs.statSync(p).ino
  return fs
    .readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .map((l) => l.match(/^\d+: -> FLOCK\s+\S+\s+\S+\s+(\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)\s/))
    .filter((m): m is RegExpMatchArray => m !== null && Number(m[2]) === ino)
    .map((m) => Number(m[1]))
}

/** Resolve once `cond()` holds, checking on each turn of the event loop (bounded, no sleeps). */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1_000_000 && !cond(); i++) await new Promise((r) => setImmediate(r))
  if (!cond()) throw new Error(`gave up waiting until ${what}`)
}


test('the command does not inherit the lock descriptor (flock(1) without -o does)', async (t) => {
  const d = tmpdir(t)
  const p = path.join(d, 'l')
  const listFds = ['sh', '-c', 'ls -l /proc/$$/fd; true']
  const s = await sole([p, ...listFds])
  t.is(s.code, 0)
  t.true(s.stdout.includes(' 1 -> '), s.stdout)
  t.false(s.stdout.includes(p), s.stdout)
  // The same listing under flock(1) shows the descriptor: the check can fail.
  const f = await flock([p, ...listFds])
  t.true(f.stdout.includes(p), f.stdout)
  const o = await flock(['-o', p, ...listFds])
  t.false(o.stdout.includes(p), o.stdout)
})

test('the lock is held while the command runs and released as soon as it has exited', async (t) => {
  const p = path.join(tmpdir(t), 'l')
  // The command's last act checks the lock from a third process: still held.
  const r = await sole([p, 'sh', '-c', `flock -n ${p} true; echo inside=$?; exit 4`])
  t.deepEqual([r.code, r.stdout], [4, 'inside=1\n'])
  // sole has exited (its exit was observed): the lock is free at once, no waiting.
  t.is(spawnSync('flock', ['-n', p, 'true']).status, 0)
  // A shared lock too.
  const s = await sole(['-s', p, 'sh', '-c', `flock -n ${p} true; echo x=$?; flock -s -n ${p} true; echo s=$?`])
  t.deepEqual([s.code, s.stdout], [0, 'x=1\ns=0\n'])
  t.is(spawnSync('flock', ['-n', p, 'true']).status, 0)
})

/** A command that reports the signal it gets (and whether the lock was still held then). */
const REPORTER = `
const { spawnSync } = require('node:child_process')
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    const held = spawnSync('flock', ['-n', process.argv[1], 'true']).status === 1
    process.stdout.write('got ' + sig + ' held=' + held + '\\n', () => process.exit(3))
  })
}
process.stdout.write('ready\\n')
setInterval(() => {}, 1 << 30)
`

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  test(`${sig} sent to sole reaches the command; sole exits with the command's status`, async (t) => {
    const p = path.join(tmpdir(t), 'l')
    const c = spawn(process.execPath, [SOLE, 'lock', p, process.execPath, '-e', REPORTER, p], { stdio: ['ignore', 'pipe', 'inherit'] })
    t.teardown(() => c.kill('SIGKILL'))
    const lines: string[] = []
    let buf = ''
    c.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d
      for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) lines.push(buf.slice(0, i))
    })
    t.is(await firstLine(c), 'ready')
    const exited = new Promise<[number | null, string | null]>((r) => c.once('exit', (code, s) => r([code, s])))
    c.kill(sig) // to sole's pid only: the command gets it only if sole forwards it
    t.deepEqual(await exited, [3, null])
    t.deepEqual(lines.slice(1), [`got ${sig} held=true`])
    t.is(spawnSync('flock', ['-n', p, 'true']).status, 0, 'released once the command exited')
  })
}

test('a command killed by a forwarded signal: sole exits 128+N', async (t) => {
  const p = path.join(tmpdir(t), 'l')
  const c = spawn(process.execPath, [SOLE, 'lock', p, 'sh', '-c', 'echo ready; exec sleep 60'], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => c.kill('SIGKILL'))
  t.is(await firstLine(c), 'ready')
  const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)))
  c.kill('SIGTERM')
  t.is(await exited, 143)
})

test('-c runs the string with $SHELL -c, as flock(1) does', async (t) => {
  const p = path.join(tmpdir(t), 'l')
  const args = [p, '-c', 'echo "$0:" one two']
  const [a, b] = await Promise.all([sole(args), flock(args)])
  t.is(a.code, 0)
  t.is(a.stdout, b.stdout)
  t.is((await sole([p, '--command', 'exit 6'])).code, 6)
})

test('--help documents options and exit codes; usage errors say what to do', async (t) => {
  const h = await sole(['--help'])
  t.is(h.code, 0)
  for (const s of ['--nonblock', '--timeout', '--conflict-exit-code', 'Exit status', '128+N', '69']) t.true(h.stdout.includes(s), s)
  const u = await sole(['-n'])
  t.is(u.code, 64)
  t.is(u.stderr, 'sole: a lock file PATH is required (see sole lock --help)\n')
  const j = await sole(['--json', '-s', '-x', 'l', 'true'])
  t.is(j.code, 64)
  t.is(JSON.parse(j.stdout).error.code, 'EUSAGE')
  const dir = tmpdir(t)
  // -w is a plain decimal number (a documented difference: flock(1) reads 1e3 and 0x10 too).
  for (const w of ['1e3', '0x10', '-1', 'inf', 'nan', '']) t.is((await sole(['-w', w, path.join(dir, 'l'), 'true'])).code, 64, w)
  const missing = await sole([path.join(dir, 'no', 'l'), 'true'])
  t.regex(missing.stderr, /pass --create-dirs/)
  const created = await sole(['--create-dirs', path.join(dir, 'no', 'l'), 'true'])
  t.is(created.code, 0)
  t.true(fs.statSync(path.join(dir, 'no', 'l')).isFile())
})

test('SIGKILL of sole lock: the lock is released and the command dies with it (PR_SET_PDEATHSIG)', async (t) => {
  const p = path.join(tmpdir(t), 'l')
  const c = spawn(process.execPath, [SOLE, 'lock', p, 'sh', '-c', 'echo $$; exec sleep 60'], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => c.kill('SIGKILL'))
  const pid = Number(await firstLine(c))
  const h = lib.ProcessHandle.open(pid)
  t.teardown(() => h.close())
  // The command is sole's own child (the helper became it: same pid), running sleep.
  t.regex(fs.readFileSync(`/proc/${pid}/status`, 'utf8'), new RegExp(`^PPid:\\s+${c.pid}$`, 'm'))
  t.true(h.isAlive())
  t.is(spawnSync('flock', ['-n', p, 'true']).status, 1)
  const soleGone = new Promise((r) => c.once('exit', r))
  c.kill('SIGKILL')
  await h.waitForExit({ timeoutMs: 30_000 })
  t.false(h.isAlive(), 'the command is gone with sole')
  // PR_SET_PDEATHSIG fires when the thread that forked the command exits; the lock is dropped
  // when sole's last thread has closed its files, which can come a moment later: wait for
  // sole's exit itself before asking the kernel whether the lock is free.
  await soleGone
  t.is(spawnSync('flock', ['-n', p, 'true']).status, 0)
})

test('the helper runs nothing when sole lock is no longer its parent', async (t) => {
  const p = path.join(tmpdir(t), 'l')
  // Started by the test, not by a sole lock process with pid 1: refused, the command never runs.
  const r = await run(process.execPath, [SOLE, 'lock', '--exec-child-of', '1', p, '--', 'sh', '-c', 'echo ran'])
  t.deepEqual([r.code, r.stdout], [69, ''])
  t.is(r.stderr, 'sole: the process that started this one (PID 1) has exited; not running sh\n')
})
