// `sole status` against real holders: flock(1) exclusive and shared, sole in another process,
// a SIGKILLed owner, another tool's pidfile, a scope registry, and paths that are not files.
// Every --json answer is checked against the documented schema; status must never modify a
// file nor make a concurrent claim or `flock -n` fail.
import test from 'ava'
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import * as lib from '../lib/index.js'
import { firstLine } from './fixtures/children.mjs'
import { deadPid, isRoot, tmpdir, w } from './helpers/index.js'
import { ROOT, exited, flockHolder, json, mismatch, sole, soleClaimer, statusReportSchema } from './helpers/operator.js'

/** `sole status --json PATHS…`: the exit code and the schema-checked entries. */
async function status(t: { is(a: unknown, b: unknown, m?: string): void }, paths: string[], extra: { uid?: number; gid?: number } = {}) {
  const r = await sole(['status', '--json', ...paths], extra)
  const doc = json(r) as { paths: Record<string, unknown>[] }
  t.is(mismatch(doc, statusReportSchema), null, 'the --json output matches its schema')
  return { code: r.code, paths: doc.paths, stderr: r.stderr }
}

test('a file held by flock(1): held by flock, exclusive, its executable and user named; exit 0', async (t) => {
  const p = path.join(tmpdir(t), 'jobs.lock')
  fs.writeFileSync(p, '')
  const fl = await flockHolder(t, p, ['-x'])
  const s = await status(t, [p])
  t.is(s.code, 0)
  const e = s.paths[0] as { kind: string; state: string; pid: number; locked: boolean; holders: { pid: number; shared: boolean; exe: string; uid: number; user: string; startedAt: string }[] }
  t.like(e, { kind: 'lock-file', state: 'held', pid: fl.pid, locked: true })
  t.is(e.holders.length, 1)
  t.like(e.holders[0], { pid: fl.pid, shared: false, uid: process.getuid!() })
  t.is(path.basename(e.holders[0].exe), 'flock')
  // The start time is flock's own: within a minute of now, never in the future by more than a tick.
  const started = Date.parse(e.holders[0].startedAt)
  t.true(Math.abs(Date.now() - started) < 60_000, e.holders[0].startedAt)
  const text = await sole(['status', p])
  t.is(text.code, 0)
  t.regex(text.stdout, new RegExp(`held by PID ${fl.pid}\\b`))
  t.regex(text.stdout, /\/flock\b/)
})

test('a file shared by two flock -s holders lists both, shared; exit 0', async (t) => {
  const p = path.join(tmpdir(t), 'db.lock')
  fs.writeFileSync(p, '')
  const a = await flockHolder(t, p, ['-s'])
  const b = await flockHolder(t, p, ['-s'])
  const s = await status(t, [p])
  t.is(s.code, 0)
  const e = s.paths[0] as { state: string; holders: { pid: number; shared: boolean }[] }
  t.is(e.state, 'held')
  t.deepEqual(
    e.holders.map((h) => [h.pid, h.shared]).sort(),
    [
      [a.pid, true],
      [b.pid, true],
    ].sort(),
  )
  // One of them leaves (flock and its command): only the other is listed (never a dead pid).
  const gone = exited(a)
  process.kill(-a.pid!, 'SIGKILL')
  await gone
  const after = (await status(t, [p])).paths[0] as { holders: { pid: number }[] }
  t.deepEqual(
    after.holders.map((h) => h.pid),
    [b.pid],
  )
  const text = await sole(['status', p])
  t.regex(text.stdout, new RegExp(`held \\(shared\\) by PID ${b.pid}\\n`))
})

test('a lock kept by an orphan (flock(1) SIGKILLed, its command holds the description): held, unnamed, never the dead pid', async (t) => {
  const p = path.join(tmpdir(t), 'orphan.lock')
  fs.writeFileSync(p, '')
  const fl = await flockHolder(t, p, ['-x'])
  const end = exited(fl)
  fl.kill('SIGKILL')
  await end
  const s = await status(t, [p])
  t.is(s.code, 0)
  t.deepEqual(s.paths[0], { path: p, kind: 'lock-file', state: 'held', pid: null, locked: true, holders: [], hidden: 'unnamed', since: null })
  const text = await sole(['status', p])
  t.regex(text.stdout, /held, but the process that locked it has exited/)
  t.notRegex(text.stdout, new RegExp(`\\b${fl.pid}\\b`))
})

test('a pidfile claimed by sole in another process: pidfile, held by that process, since its claim', async (t) => {
  const p = path.join(tmpdir(t), 'app.pid')
  const before = Date.now()
  const c = await soleClaimer(t, p)
  const s = await status(t, [p])
  t.is(s.code, 0)
  const e = s.paths[0] as { kind: string; state: string; pid: number; locked: boolean; since: string; holders: { pid: number; exe: string }[] }
  t.like(e, { kind: 'pidfile', state: 'held', pid: c.pid, locked: true })
  t.is(e.holders[0].exe, fs.realpathSync(process.execPath))
  // `since` is when the claim wrote the file: after this test started, not in the future.
  const since = Date.parse(e.since)
  t.true(since >= before - 1000 && since <= Date.now() + 1000, e.since)
})

test('a SIGKILLed owner: free, naming the stale pid and why; exit 1', async (t) => {
  const p = path.join(tmpdir(t), 'app.pid')
  const c = await soleClaimer(t, p)
  c.kill('SIGKILL')
  await exited(c)
  const s = await status(t, [p])
  t.is(s.code, 1)
  t.deepEqual(s.paths[0], { path: p, kind: 'pidfile', state: 'free', stalePid: c.pid, reason: 'exited' })
  const text = await sole(['status', p])
  t.is(text.code, 1)
  t.regex(text.stdout, new RegExp(`free; names PID ${c.pid}, not its owner \\(it exited\\)`))
})

test('a pidfile written by another tool: a live pid is unverified, a dead one free; exit 1', async (t) => {
  const dir = tmpdir(t)
  const live = spawn('sh', ['-c', 'echo up; exec sleep 300'], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => {
    live.kill('SIGKILL')
  })
  await firstLine(live)
  const plain = path.join(dir, 'other.pid')
  spawnSync('sh', ['-c', `echo ${live.pid} > ${plain}`])
  const dead = path.join(dir, 'dead.pid')
  const gone = deadPid()
  fs.writeFileSync(dead, `${gone}\n`)
  const s = await status(t, [plain, dead])
  t.is(s.code, 1)
  t.deepEqual(s.paths, [
    { path: plain, kind: 'pidfile', state: 'unverified', pid: live.pid },
    { path: dead, kind: 'pidfile', state: 'free', stalePid: gone, reason: 'exited' },
  ])
})

test('absent, directory, symlink, FIFO: each path answered, the others still shown; exit 2 on any error', async (t) => {
  const dir = tmpdir(t)
  const target = path.join(dir, 'target.lock')
  fs.writeFileSync(target, 'content\n')
  const link = path.join(dir, 'link.lock')
  fs.symlinkSync(target, link)
  const fifo = path.join(dir, 'fifo')
  spawnSync('mkfifo', [fifo])
  const absent = path.join(dir, 'absent.pid')
  const s = await status(t, [absent, dir, link, fifo])
  t.is(s.code, 2)
  t.deepEqual(s.paths[0], { path: absent, kind: 'missing', state: 'absent' })
  t.like(s.paths[1], { path: dir, kind: 'directory', state: 'error', error: { code: 'ENOTREG' } })
  t.like(s.paths[2], { path: link, kind: 'symlink', state: 'error', error: { code: 'ESYMLINK' } })
  t.like(s.paths[3], { path: fifo, kind: 'special', state: 'error', error: { code: 'ENOTREG' } })
  // Each error is also on stderr as `sole: <message>` naming the path.
  t.regex(s.stderr, new RegExp(`^sole: ${link} is a symlink; sole never follows one`, 'm'))
  t.regex(s.stderr, new RegExp(`^sole: ${dir} is a directory`, 'm'))
  t.is(fs.readFileSync(target, 'utf8'), 'content\n', 'the symlink target is untouched')
  // Absent alone: 1, and nothing is created.
  const a = await sole(['status', absent])
  t.is(a.code, 1)
  t.is(a.stdout, `${absent}: absent\n`)
  t.false(fs.existsSync(absent))
})

test('usage errors: no path, unknown option; exit 2 with sole: <message>', async (t) => {
  const none = await sole(['status'])
  t.is(none.code, 2)
  t.regex(none.stderr, /^sole: status needs at least one PATH/)
  const bad = await sole(['status', '--frob', 'x'])
  t.is(bad.code, 2)
  t.regex(bad.stderr, /^sole: unknown option --frob/)
  const help = await sole(['status', '--help'])
  t.is(help.code, 0)
  t.regex(help.stdout, /Exit status/)
})

test('status never modifies a file: content, mtime, mode and identity record unchanged', async (t) => {
  const dir = tmpdir(t)
  const held = path.join(dir, 'held.pid')
  await soleClaimer(t, held)
  const stale = path.join(dir, 'stale.pid')
  const c = await soleClaimer(t, stale)
  c.kill('SIGKILL')
  await exited(c)
  const plain = path.join(dir, 'plain.lock')
  fs.writeFileSync(plain, '')
  const snap = (p: string) => {
    const st = fs.statSync(p)
    return { content: fs.readFileSync(p, 'utf8'), mtime: st.mtimeMs, ctime: st.ctimeMs, mode: st.mode, size: st.size, xattr: lib.lockHolders(p)?.identityRecord ?? null }
  }
  const files = [held, stale, plain]
  const before = files.map(snap)
  if (before[0].xattr === null) t.log('no user xattrs on this filesystem: the identity record is absent on both sides')
  else t.regex(before[0].xattr, /^sole-identity\/1 pid=/)
  for (let i = 0; i < 3; i++) await status(t, files)
  t.deepEqual(files.map(snap), before)
  t.deepEqual(fs.readdirSync(dir).sort(), ['held.pid', 'plain.lock', 'stale.pid'], 'nothing created beside them')
})

test('status takes no lock: flock -n and claimPidfile from other processes never fail while it runs', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'race.pid')
  fs.writeFileSync(p, '')
  // A process running status on p in a loop; it says when its first run is done, and stops
  // when its stdin closes.
  const statusJs = path.join(ROOT, 'lib', 'cli', 'status.js')
  const looper = spawn(
    process.execPath,
    ['-e', `const { statusOf } = require(${JSON.stringify(statusJs)}); let n = 0; let stop = false; process.stdin.on('end', () => { stop = true; console.log('runs ' + n) }).resume(); const go = () => { if (stop) return; statusOf(${JSON.stringify(p)}); if (n++ === 0) console.log('looping'); setImmediate(go) }; go()`],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  t.teardown(() => {
    looper.kill('SIGKILL')
  })
  let out = ''
  looper.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
  await new Promise<void>((resolve) => looper.stdout.on('data', () => out.includes('looping') && resolve()))
  let refused = 0
  for (let i = 0; i < 150; i++) {
    if (spawnSync('flock', ['-n', p, 'true']).status !== 0) refused++
    const g = lib.claimPidfile(p)
    g.release()
  }
  looper.stdin.end()
  await exited(looper)
  const runs = Number(/runs (\d+)/.exec(out)?.[1])
  t.log(`${runs} status reads ran during 150 flock -n and 150 claims`)
  t.true(runs > 1, 'status ran concurrently')
  t.is(refused, 0, 'flock -n was never refused')
})

test('a scope registry data file: its allocations, live and stale (a SIGKILLed owner), unchanged', async (t) => {
  const dir = tmpdir(t)
  const data = path.join(dir, 'scope.json')
  const owner = spawn('sh', ['-c', 'echo up; exec sleep 300'], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => {
    owner.kill('SIGKILL')
  })
  await firstLine(owner)
  {
    using reg = lib.ScopeRegistry.open(data)
    reg.register({ name: 'mine', pid: process.pid, sessionId: 's-mine', scopes: [w(path.join(dir, 'a'))] })
    reg.register({ name: 'killed', pid: owner.pid!, sessionId: 's-killed', scopes: [w(path.join(dir, 'b'))] })
  }
  owner.kill('SIGKILL')
  await exited(owner)
  const bytes = fs.readFileSync(data, 'utf8')
  const s = await status(t, [data])
  t.is(s.code, 0, 'a registry counts as held')
  const e = s.paths[0] as { kind: string; state: string; allocations: { name: string; pid: number; live: boolean }[] }
  t.is(e.kind, 'scope-registry')
  t.is(e.state, 'registry')
  t.deepEqual(
    e.allocations.map((a) => [a.name, a.pid, a.live]),
    [
      ['mine', process.pid, true],
      ['killed', owner.pid, false],
    ],
  )
  const lockFile = await status(t, [`${data}.lock`])
  t.is(lockFile.code, 1)
  t.like(lockFile.paths[0], { kind: 'scope-registry-lock', state: 'free' })
  t.is(fs.readFileSync(data, 'utf8'), bytes, 'status reclaimed nothing')
})

// Root-only tests, decided up front so that a machine that cannot run them reports a skip.
/** Can uid 65534 load this checkout (a checkout in a private directory cannot)? */
const nobodyCanRun =
  isRoot && spawnSync(process.execPath, ['-e', `require(${JSON.stringify(path.join(ROOT, 'lib', 'index.js'))})`], { uid: 65534, gid: 65534 }).status === 0
/** Can we make a pid namespace (root, and no seccomp/container refusal)? */
const canUnshare = isRoot && spawnSync('unshare', ['-pf', '--mount-proc', 'true']).status === 0
const nobodyTest = nobodyCanRun ? test : test.skip
const nsTest = canUnshare ? test : test.skip

nobodyTest('a file this user may not read (uid 65534 on a root 0600 file): held from the kernel, kind unknown', async (t) => {
  const dir = tmpdir(t)
  fs.chmodSync(dir, 0o711)
  const p = path.join(dir, 'root.pid')
  fs.writeFileSync(p, '1\n', { mode: 0o600 })
  const fl = await flockHolder(t, p, ['-x'])
  const s = await status(t, [p], { uid: 65534, gid: 65534 })
  t.is(s.code, 0)
  t.like(s.paths[0], { kind: 'unknown', state: 'held', pid: fl.pid })
})

nsTest('a holder outside the pid namespace is reported as such, never as free', async (t) => {
  const p = path.join(tmpdir(t), 'ns.lock')
  fs.writeFileSync(p, '')
  await flockHolder(t, p, ['-x'])
  const r = spawnSync('unshare', ['-pf', '--mount-proc', process.execPath, path.join(ROOT, 'bin', 'sole.js'), 'status', '--json', p])
  const doc = JSON.parse(r.stdout.toString()) as { paths: unknown[] }
  t.is(mismatch(doc, statusReportSchema), null)
  t.is(r.status, 0)
  t.deepEqual(doc.paths[0], { path: p, kind: 'lock-file', state: 'held', pid: null, locked: true, holders: [], hidden: 'outside-pid-namespace', since: null })
})
