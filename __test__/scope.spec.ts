// The scope registry through the public API (`lib/scope.ts`): the registry's behaviours,
// storage guarantees, and hostile inputs (each refused with its typed error, files unchanged).
import test, { type ExecutionContext } from 'ava'
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import { ScopeRegistry, rulesOverlap, coversFully, type ScopeRule, type SoleError } from '../lib/index.js'
import { firstLine, startZombie } from './fixtures/children.mjs'
import { rootTest, tmpdir, w } from './helpers/index.js'

const GC_CHILD = fileURLToPath(new URL('./scope/gc-child.mjs', import.meta.url))

function open(t: ExecutionContext): ScopeRegistry {
  return ScopeRegistry.open(path.join(tmpdir(t), 'scope.json'))
}
const r = (target: string, recursive = true): ScopeRule => ({ target, permission: 'read', recursive })
function code(t: ExecutionContext, fn: () => unknown, expected: string): SoleError {
  const e = t.throws(fn) as SoleError
  t.is(e?.code, expected, e?.message)
  return e
}
/** Every file in `dir` with its bytes (and mode/owner), to prove a refusal changed nothing. */
function snapshot(dir: string): string {
  return JSON.stringify(
    fs.readdirSync(dir).sort().map((n) => {
      const st = fs.lstatSync(path.join(dir, n))
      const body = st.isSymbolicLink() ? 'link:' + fs.readlinkSync(path.join(dir, n)) : st.isFile() ? fs.readFileSync(path.join(dir, n)).toString('base64') : 'dir'
      return [n, st.mode, st.uid, body]
    }),
  )
}

test('rulesOverlap and coversFully: the seed cases, normalised', (t) => {
  t.true(rulesOverlap(w('/src'), w('/src/core')))
  t.true(rulesOverlap(w('/src/core'), w('/src')))
  t.false(rulesOverlap(w('/src'), w('/docs')))
  t.false(rulesOverlap(w('/src'), w('/srcfoo')))
  t.false(rulesOverlap(w('/src', false), w('/src/a/b')))
  t.true(rulesOverlap(w('/src', false), w('/src/child', false)))
  t.true(rulesOverlap(w('/x/../src/'), w('/src/./core//')))
  t.true(coversFully(w('/src'), r('/src/a')))
  t.false(coversFully(r('/src'), w('/src/a')))
  t.false(coversFully(w('/src', false), w('/src')))
  code(t, () => rulesOverlap(w('src'), w('/src')), 'EINVAL')
})

test('register detects write conflict, naming competitor and rule', (t) => {
  const reg = open(t)
  reg.register({ name: 'a', scopes: [w('/src')], sessionId: 's1' })
  const e = code(t, () => reg.register({ name: 'b', scopes: [w('/src/core')], sessionId: 's2' }), 'ECONFLICT') as SoleError & { competitor: string; rule: ScopeRule }
  t.is(e.competitor, 'a')
  t.deepEqual(e.rule, w('/src/core'))
  t.is(e.path, reg.path)
  t.true(e.message.includes(reg.path))
  t.deepEqual(reg.list().map((a) => a.name), ['a'])
})

test('duplicate names are rejected', (t) => {
  const reg = open(t)
  reg.register({ name: 'a', scopes: [w('/src')], sessionId: 's' })
  const e = code(t, () => reg.register({ name: 'a', scopes: [w('/docs')], sessionId: 's' }), 'EDUPLICATE') as SoleError & { allocation: string }
  t.is(e.allocation, 'a')
  t.is(e.name, 'Error')
})

test('delegation must be a subset of the effective write scope; siblings cannot overlap', (t) => {
  const reg = open(t)
  reg.register({ name: 'a', scopes: [w('/src')], sessionId: 's' })
  const e = code(t, () => reg.delegate('a', { name: 'b', scopes: [w('/docs')] }), 'ENOTSUBSET') as SoleError & { spawner: string }
  t.is(e.spawner, 'a')
  code(t, () => reg.delegate('ghost', { name: 'b', scopes: [w('/src/x')] }), 'EUNKNOWN')
  reg.delegate('a', { name: 'b', scopes: [w('/src/core')] })
  t.is(reg.list().find((x) => x.name === 'b')?.sessionId, null)
  t.is(reg.list().find((x) => x.name === 'b')?.delegatedFrom, 'a')
  t.false(reg.withinEffectiveWrite('a', w('/src/core')))
  t.true(reg.withinEffectiveWrite('a', w('/src/other')))
  t.deepEqual(reg.effectiveWriteScope('a'), { rules: [w('/src')], delegated: [w('/src/core')] })
  code(t, () => reg.delegate('a', { name: 'c', scopes: [w('/src/core/sub')] }), 'ENOTSUBSET')
  code(t, () => reg.effectiveWriteScope('nope'), 'EUNKNOWN')
})

test('conflicts are blamed on the deepest owner; read rules never conflict', (t) => {
  const reg = open(t)
  reg.register({ name: 'a', scopes: [w('/src')], sessionId: 's' })
  reg.delegate('a', { name: 'b', scopes: [w('/src/core')] })
  const e = code(t, () => reg.register({ name: 'x', scopes: [w('/src/core/x')], sessionId: 'x' }), 'ECONFLICT') as SoleError & { competitor: string }
  t.is(e.competitor, 'b')
  t.is(reg.conflictOwner(w('/src/core/x')), 'b')
  t.is(reg.conflictOwner(w('/src/other')), 'a')
  t.is(reg.conflictOwner(w('/src/core'), 'b'), null)
  t.is(reg.conflictOwner(r('/src')), null)
  reg.register({ name: 'reader', scopes: [r('/src')], sessionId: 'r' })
  t.is(reg.list().length, 3)
})

test('release reparents children and returns delegated scope to the parent', (t) => {
  const reg = open(t)
  reg.register({ name: 'a', scopes: [w('/src')], sessionId: 's' })
  reg.delegate('a', { name: 'b', scopes: [w('/src/core')] })
  reg.delegate('b', { name: 'd', scopes: [w('/src/core/x')] })
  reg.release('b')
  t.is(reg.list().find((x) => x.name === 'd')?.delegatedFrom, 'a')
  t.true(reg.withinEffectiveWrite('a', w('/src/core/y')))
  reg.release('d')
  t.true(reg.withinEffectiveWrite('a', w('/src/core')))
  code(t, () => reg.release('d'), 'EUNKNOWN')
  reg.release('a')
  reg.register({ name: 'fresh', scopes: [w('/src')], sessionId: 'f' })
})

test('a dead process is reclaimed by the next operation, children reparented; a recycled pid does not keep it', async (t) => {
  const reg = open(t)
  const child = spawn('sleep', ['300'], { stdio: 'ignore' })
  t.teardown(() => child.kill('SIGKILL'))
  await new Promise((res) => child.once('spawn', res))
  reg.register({ name: 'a', scopes: [w('/src')], sessionId: 's' })
  reg.delegate('a', { name: 'b', pid: child.pid, scopes: [w('/src/core')] })
  reg.delegate('b', { name: 'd', scopes: [w('/src/core/x')] })
  t.deepEqual(reg.reclaimStale(), [])
  const exited = new Promise((res) => child.once('exit', res))
  child.kill('SIGKILL')
  await exited
  // The next operation of any handle reclaims: a fresh one does.
  const other = ScopeRegistry.open(reg.path)
  t.deepEqual(other.list().map((a) => [a.name, a.delegatedFrom]), [['a', null], ['d', 'a']])
  t.deepEqual(reg.reclaimStale(), [])
  // Recycled pid: same pid (ours, alive) but a recorded start time that is not its own.
  const file = reg.path
  const table = JSON.parse(fs.readFileSync(file, 'utf8'))
  table.allocations[1].startTime += 1
  fs.writeFileSync(file, JSON.stringify(table))
  t.deepEqual(reg.reclaimStale(), ['d'])
})

test('adopt rewrites pid and session; lookupSession finds it; guards release (and only their own)', (t) => {
  const reg = open(t)
  reg.register({ name: 'p', scopes: [w('/src')], sessionId: 'ps' })
  reg.delegate('p', { name: 'child', scopes: [w('/src/c')] })
  t.is(reg.lookupSession('cs'), null)
  const g = reg.adoptAllocation('child', { sessionId: 'cs' })
  const a = reg.lookupSession('cs')
  t.is(a?.name, 'child')
  t.is(a?.pid, process.pid)
  t.is(typeof a?.startTime, 'number')
  t.true(g.release())
  t.false(g.release())
  t.true(g.released)
  t.is(reg.lookupSession('cs'), null)
  code(t, () => reg.adoptAllocation('ghost', { sessionId: 'x' }), 'EUNKNOWN')
  {
    using _g = reg.installTopLevel({ name: 'top', scopes: [w('/top')], sessionId: 't' })
    t.truthy(reg.list().find((x) => x.name === 'top'))
  }
  t.falsy(reg.list().find((x) => x.name === 'top'))
  const g2 = reg.installTopLevel({ name: 'n', scopes: [w('/n')], sessionId: 'n1' })
  reg.release('n')
  reg.register({ name: 'n', scopes: [w('/n')], sessionId: 'n2' })
  t.false(g2.release(), 'the guard leaves a newcomer with the same name alone')
  t.is(reg.lookupSession('n2')?.name, 'n')
})

test('the table survives reopening; files are 0600 in a 0700 directory; version field present', (t) => {
  const d = path.join(tmpdir(t), 'nested', 'dir')
  const reg = ScopeRegistry.open(path.join(d, 'scope.json'))
  reg.register({ name: 'a', socket: '/run/a.sock', scopes: [w('/src')], sessionId: 's' })
  t.is(fs.statSync(d).mode & 0o777, 0o700)
  t.is(fs.statSync(reg.path).mode & 0o777, 0o600)
  t.is(fs.statSync(reg.path + '.lock').mode & 0o777, 0o600)
  const raw = JSON.parse(fs.readFileSync(reg.path, 'utf8'))
  t.is(raw.version, 1)
  t.deepEqual(ScopeRegistry.open(reg.path).list(), reg.list())
  t.is(reg.list()[0].socket, '/run/a.sock')
})

test('default path: $SOLE_RUNTIME_DIR/scope.json', (t) => {
  const d = tmpdir(t)
  const prev = process.env.SOLE_RUNTIME_DIR
  process.env.SOLE_RUNTIME_DIR = d
  t.teardown(() => (prev === undefined ? delete process.env.SOLE_RUNTIME_DIR : (process.env.SOLE_RUNTIME_DIR = prev)))
  t.is(ScopeRegistry.open().path, path.join(d, 'scope.json'))
})

test('empty and absent data files are the empty table', (t) => {
  const d = tmpdir(t)
  const p = path.join(d, 'scope.json')
  fs.writeFileSync(p, '', { mode: 0o600 })
  t.deepEqual(ScopeRegistry.open(p).list(), [])
  fs.writeFileSync(p, '  \n')
  t.deepEqual(ScopeRegistry.open(p).list(), [])
})

// --- hostile inputs: typed error, files byte-for-byte unchanged ---

function seeded(t: ExecutionContext): { dir: string; file: string; reg: ScopeRegistry } {
  const dir = tmpdir(t)
  const file = path.join(dir, 'scope.json')
  const reg = ScopeRegistry.open(file)
  reg.register({ name: 'a', scopes: [w('/src')], sessionId: 's' })
  return { dir, file, reg }
}

const corruptions: Array<[string, string]> = [
  ['torn JSON', '{"version":1,"allocations":[{"name":"a"'],
  ['not an object', '[1,2,3]'],
  ['wrong types', '{"version":1,"allocations":[{"name":"a","pid":"12","scopes":[]}]}'],
  ['unknown version', '{"version":99,"allocations":[]}'],
  ['relative target on disk', '{"version":1,"allocations":[{"name":"a","pid":1,"scopes":[{"target":"src","permission":"write","recursive":true}]}]}'],
  ['dangling parent', '{"version":1,"allocations":[{"name":"a","pid":1,"scopes":[],"delegatedFrom":"x"}]}'],
]
for (const [what, body] of corruptions) {
  test(`corrupt data file (${what}) → ECORRUPT, never overwritten; repair moves it aside`, (t) => {
    const { dir, file, reg } = seeded(t)
    fs.writeFileSync(file, body)
    const before = snapshot(dir)
    const e = code(t, () => reg.register({ name: 'b', scopes: [w('/b')], sessionId: 'b' }), 'ECORRUPT')
    t.is(e.path, file)
    t.true(e.message.includes('repair'))
    code(t, () => reg.list(), 'ECORRUPT')
    code(t, () => reg.reclaimStale(), 'ECORRUPT')
    code(t, () => ScopeRegistry.open(file), 'ECORRUPT')
    t.is(snapshot(dir), before)
    const aside = ScopeRegistry.repair(file)
    t.truthy(aside)
    t.true(path.basename(aside!).startsWith('scope.json.corrupt-'))
    t.is(fs.readFileSync(aside!, 'utf8'), body)
    t.deepEqual(reg.list(), [])
    t.is(ScopeRegistry.repair(file), null, 'nothing left to repair')
  })
}

test('repair leaves a valid table alone', (t) => {
  const { dir, file } = seeded(t)
  const before = snapshot(dir)
  t.is(ScopeRegistry.repair(file), null)
  t.is(snapshot(dir), before)
})

test('symlinked data file or lock file → ESYMLINK, link and target unchanged', (t) => {
  for (const which of ['scope.json', 'scope.json.lock']) {
    const dir = tmpdir(t)
    const target = path.join(dir, 'precious')
    fs.writeFileSync(target, 'keep me')
    fs.symlinkSync(target, path.join(dir, which))
    const before = snapshot(dir)
    code(t, () => ScopeRegistry.open(path.join(dir, 'scope.json')), 'ESYMLINK')
    code(t, () => ScopeRegistry.repair(path.join(dir, 'scope.json')), 'ESYMLINK')
    t.is(snapshot(dir), before)
  }
  // Swapped in after open: the next operation refuses it.
  const { dir, file, reg } = seeded(t)
  fs.renameSync(file, path.join(dir, 'real'))
  fs.symlinkSync(path.join(dir, 'real'), file)
  const before = snapshot(dir)
  code(t, () => reg.register({ name: 'b', scopes: [w('/b')], sessionId: 'b' }), 'ESYMLINK')
  t.is(snapshot(dir), before)
})

test('world-writable directory → EINSECURE, nothing created', (t) => {
  const dir = tmpdir(t)
  fs.chmodSync(dir, 0o777)
  code(t, () => ScopeRegistry.open(path.join(dir, 'scope.json')), 'EINSECURE')
  t.deepEqual(fs.readdirSync(dir), [])
})

test('group/world-writable data file → EINSECURE, unchanged', (t) => {
  const { dir, file, reg } = seeded(t)
  fs.chmodSync(file, 0o666)
  const before = snapshot(dir)
  code(t, () => reg.register({ name: 'b', scopes: [w('/b')], sessionId: 'b' }), 'EINSECURE')
  code(t, () => ScopeRegistry.open(file), 'EINSECURE')
  t.is(snapshot(dir), before)
})

// Needs root to chown files to another user.
rootTest('files or directory owned by another user → EINSECURE, unchanged', (t) => {
  for (const which of ['scope.json', 'scope.json.lock']) {
    const { dir, file, reg } = seeded(t)
    fs.chownSync(path.join(dir, which), 65534, 65534)
    const before = snapshot(dir)
    if (which === 'scope.json') code(t, () => reg.register({ name: 'b', scopes: [w('/b')], sessionId: 'b' }), 'EINSECURE')
    code(t, () => ScopeRegistry.open(file), 'EINSECURE')
    t.is(snapshot(dir), before)
  }
  const dir = tmpdir(t)
  fs.chownSync(dir, 65534, 65534)
  code(t, () => ScopeRegistry.open(path.join(dir, 'scope.json')), 'EINSECURE')
  t.deepEqual(fs.readdirSync(dir), [])
})

test('bad arguments → EINVAL / EINVALIDPID, file unchanged', (t) => {
  const { dir, reg } = seeded(t)
  const before = snapshot(dir)
  code(t, () => reg.register({ name: 'b', scopes: [w('relative/path')], sessionId: 'b' }), 'EINVAL')
  code(t, () => reg.delegate('a', { name: 'b', scopes: [w('src/x')] }), 'EINVAL')
  code(t, () => reg.register({ name: 'b', scopes: [{ target: '/b', permission: 'own' as 'write', recursive: true }], sessionId: 'b' }), 'EINVAL')
  code(t, () => reg.register({ name: '', scopes: [w('/b')], sessionId: 'b' }), 'EINVAL')
  code(t, () => reg.register({ name: 'b', scopes: [w('/b')] } as never), 'EINVAL')
  code(t, () => reg.register({ name: 'b', pid: 0, scopes: [w('/b')], sessionId: 'b' }), 'EINVALIDPID')
  code(t, () => reg.conflictOwner(w('rel')), 'EINVAL')
  code(t, () => ScopeRegistry.open(''), 'EINVAL')
  t.is(snapshot(dir), before)
})

test('a process stuck holding the registry lock gives ETIMEDOUT naming it, never a frozen loop', async (t) => {
  const file = path.join(tmpdir(t), 'scope.json')
  const reg = ScopeRegistry.open(file, { timeoutMs: 100 })
  reg.register({ name: 'a', scopes: [w('/a')], sessionId: 'sa' })
  // flock(1) holds the lock file (-o: its sleep does not inherit the descriptor), as a stopped
  // or hung registry user would.
  const holder = spawn('flock', ['-o', '-x', `${file}.lock`, 'sleep', '300'], { stdio: 'ignore' })
  t.teardown(() => holder.kill('SIGKILL'))
  // Ready when the kernel shows flock(1) holding it.
  const { readPidfile } = await import('../lib/index.js')
  for (let i = 0; i < 200_000; i++) {
    const s = readPidfile(`${file}.lock`)
    if (s.state === 'held' && s.pid === holder.pid) break
    await new Promise((r) => setImmediate(r))
  }
  const before = snapshot(path.dirname(file))
  const e = code(t, () => reg.register({ name: 'b', scopes: [w('/b')], sessionId: 'sb' }), 'ETIMEDOUT')
  t.is(e.pid, holder.pid)
  t.is(e.path, `${file}.lock`)
  t.is(snapshot(path.dirname(file)), before, 'nothing written')
  code(t, () => ScopeRegistry.open(file, { timeoutMs: -1 }), 'EINVAL')
  const gone = new Promise((r) => holder.once('exit', r))
  holder.kill('SIGKILL')
  await gone
  reg.register({ name: 'b', scopes: [w('/b')], sessionId: 'sb' })
  t.deepEqual(reg.list().map((a) => a.name), ['a', 'b'])
})

// Needs root to plant a directory owned by another user.
rootTest('default path under the temp dir: created 0700; a planted directory or symlink is refused', (t) => {
  const base = tmpdir(t)
  fs.chmodSync(base, 0o1777) // like /tmp: anyone may create entries in it
  const mine = path.join(base, `sole-${process.geteuid!()}`)
  // A fresh process with only TMPDIR pointing at `base` (no runtime dirs) opens the default.
  const openDefault = (): { code?: string; path?: string } => {
    const src = `const { ScopeRegistry } = require(${JSON.stringify(path.resolve('lib/index.js'))}); try { console.log(JSON.stringify({ path: ScopeRegistry.open().path })) } catch (e) { console.log(JSON.stringify({ code: e.code })) }`
    const env = { ...process.env, TMPDIR: base }
    delete env.SOLE_RUNTIME_DIR
    delete env.XDG_RUNTIME_DIR
    const r = spawnSync(process.execPath, ['-e', src], { env, encoding: 'utf8' })
    return JSON.parse(r.stdout)
  }
  fs.mkdirSync(mine)
  fs.chownSync(mine, 65534, 65534)
  t.deepEqual(openDefault(), { code: 'EINSECURE' })
  t.deepEqual(fs.readdirSync(mine), [], 'nothing created inside')
  fs.rmdirSync(mine)
  fs.symlinkSync('/etc', mine)
  t.deepEqual(openDefault(), { code: 'ESYMLINK' })
  fs.unlinkSync(mine)
  t.deepEqual(openDefault(), { path: path.join(mine, 'scope.json') })
  t.is(fs.statSync(mine).mode & 0o777, 0o700)
})

/** A tiny tmpfs of our own at a fresh mount point, or null where this process may not mount. */
function mountTmpfs(): string | null {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'sole-scope-full-'))
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=128k,mode=0700', 'tmpfs', mnt]).status === 0) return mnt
  fs.rmSync(mnt, { recursive: true, force: true })
  return null
}
// Mounting needs root (CAP_SYS_ADMIN): probed once, before the test is declared, so that where
// it is missing the test is a real skip.
const canMount = ((): boolean => {
  const mnt = mountTmpfs()
  if (mnt) {
    spawnSync('umount', [mnt])
    fs.rmSync(mnt, { recursive: true, force: true })
  }
  return mnt !== null
})()
const mountTest = canMount ? test : test.skip

mountTest('a full filesystem (ENOSPC) fails the operation and loses nothing: the previous table stays', (t) => {
  // Elsewhere this guarantee rests on the temp+rename design and the crash-injection test.
  const mnt = mountTmpfs()
  if (!mnt) return t.fail('mounting a tmpfs worked a moment ago and fails now')
  // One teardown, in order: unmount, then remove the mount point.
  t.teardown(() => {
    spawnSync('umount', ['-l', mnt]) // lazy: the registries' fds close on GC
    fs.rmSync(mnt, { recursive: true, force: true })
  })
  const file = path.join(mnt, 'scope.json')
  const reg = ScopeRegistry.open(file)
  const pad = 'x'.repeat(200)
  let n = 0
  let err: SoleError | undefined
  for (; n < 10_000; n++) {
    try {
      reg.register({ name: `n${n}${pad}`, scopes: [w(`/t/${n}`)], sessionId: `s${n}` })
    } catch (e) {
      err = e as SoleError
      break
    }
  }
  t.is(err?.code, 'ENOSPC')
  t.is(err?.path, file)
  t.regex(err!.message, /full/)
  // Every completed registration is still there, in this handle and from a fresh one.
  t.is(reg.list().length, n)
  const again = ScopeRegistry.open(file)
  t.is(again.list().length, n)
  // Freeing space (a release) works, and the next registration succeeds.
  again.release(`n0${pad}`)
  again.register({ name: 'after', scopes: [w('/after')], sessionId: 'a' })
  t.true(again.list().some((a) => a.name === 'after'))
  reg.close()
  again[Symbol.dispose]()
  t.is((t.throws(() => again.list()) as SoleError).code, 'EBADF')
})

// --- no claim lost to garbage collection ---

test('a guard dropped without release() keeps its allocation through GC until its process exits', async (t) => {
  const file = path.join(tmpdir(t), 'scope.json')
  const reg = ScopeRegistry.open(file)
  // The child takes an installTopLevel and an adoptAllocation guard without keeping them (nor
  // the registry), and collects garbage until both guard objects are finalized.
  const child = spawn(process.execPath, ['--expose-gc', GC_CHILD, file, 'gc-owner'], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => child.kill('SIGKILL'))
  const exited = new Promise((res) => child.once('exit', res))
  t.deepEqual(JSON.parse(await firstLine(child)), { collected: true }, 'both guard objects were garbage-collected')
  // Still claimed while the owner runs: another process cannot take the scope.
  t.deepEqual(reg.list().map((a) => [a.name, a.pid, a.sessionId]), [
    ['gc-owner', child.pid, 'gc-owner-top'],
    ['gc-owner/child', child.pid, 'gc-owner-child'],
  ])
  code(t, () => reg.register({ name: 'thief', scopes: [w('/gc/gc-owner/x')], sessionId: 'thief' }), 'ECONFLICT')
  // Once the owner is gone, the registry's stale-pid reclaim frees both.
  child.kill('SIGKILL')
  await exited
  t.deepEqual(reg.reclaimStale(), ['gc-owner', 'gc-owner/child'])
  reg.register({ name: 'next', scopes: [w('/gc/gc-owner/x')], sessionId: 'next' })
})

// --- errors that say what is wrong ---

test('a directory as the data path → ENOTREG naming it, even inside a world-writable parent; nothing created', (t) => {
  const parent = tmpdir(t)
  fs.chmodSync(parent, 0o1777) // like /tmp: the parent alone would be EINSECURE
  const d = path.join(parent, 'registry')
  fs.mkdirSync(d, { mode: 0o700 })
  for (const p of [d, d + '/', d + '/.']) {
    const e = code(t, () => ScopeRegistry.open(p), 'ENOTREG')
    t.is(e.path, d)
    t.true(e.message.includes(d) && /is a directory/.test(e.message), e.message)
    t.true(e.message.includes(path.join(d, 'scope.json')), 'suggests a data file inside it')
    code(t, () => ScopeRegistry.repair(p), 'ENOTREG')
  }
  t.deepEqual(fs.readdirSync(parent), ['registry'])
  t.deepEqual(fs.readdirSync(d), [])
  // A safe parent: the same answer.
  const safe = path.join(tmpdir(t), 'reg')
  fs.mkdirSync(safe)
  t.is(code(t, () => ScopeRegistry.open(safe), 'ENOTREG').path, safe)
  code(t, () => ScopeRegistry.open('/'), 'ENOTREG')
})

test('a rule target with a NUL byte → EINVAL saying so, with err.argument', (t) => {
  const { dir, reg } = seeded(t)
  const before = snapshot(dir)
  const e = code(t, () => reg.register({ name: 'b', scopes: [w('/ok'), w('/src/a\0b')], sessionId: 'b' }), 'EINVAL') as SoleError & { argument?: string }
  t.is(e.argument, 'scopes[1].target')
  t.regex(e.message, /NUL byte/)
  t.notRegex(e.message, /not an absolute path/)
  t.is((t.throws(() => reg.conflictOwner(w('/x\0'))) as SoleError & { argument?: string }).argument, 'rule.target')
  t.is((t.throws(() => rulesOverlap(w('/a'), w('\0/b'))) as SoleError & { argument?: string }).argument, 'b.target')
  t.is(snapshot(dir), before)
})

test('a group-writable directory given explicitly (or as SOLE_RUNTIME_DIR) → EINSECURE, nothing created', (t) => {
  for (const mode of [0o770, 0o775, 0o730]) {
    const dir = tmpdir(t)
    fs.chmodSync(dir, mode)
    const e = code(t, () => ScopeRegistry.open(path.join(dir, 'scope.json')), 'EINSECURE')
    t.is(e.path, dir)
    t.regex(e.message, /group/)
    t.deepEqual(fs.readdirSync(dir), [])
  }
  const dir = tmpdir(t)
  fs.chmodSync(dir, 0o770)
  const prev = process.env.SOLE_RUNTIME_DIR
  process.env.SOLE_RUNTIME_DIR = dir
  t.teardown(() => (prev === undefined ? delete process.env.SOLE_RUNTIME_DIR : (process.env.SOLE_RUNTIME_DIR = prev)))
  code(t, () => ScopeRegistry.open(), 'EINSECURE')
  t.deepEqual(fs.readdirSync(dir), [])
})

test('register / delegate / adopt (and the guard forms) with a pid that is not a running process → ENOTFOUND naming it, nothing written', async (t) => {
  const { dir, reg } = seeded(t)
  reg.delegate('a', { name: 'kid', scopes: [w('/src/kid')] })
  // A reaped child: its pid names no process.
  const gone = spawn('true', { stdio: 'ignore' })
  const reaped = await new Promise<number>((res) => gone.once('exit', () => res(gone.pid!)))
  // A zombie: exited, never reaped (dead too).
  const { zombie } = await startZombie(t)
  const before = snapshot(dir)
  for (const pid of [reaped, zombie]) {
    const calls: Array<() => unknown> = [
      () => reg.register({ name: 'b', pid, scopes: [w('/b')], sessionId: 'b' }),
      () => reg.installTopLevel({ name: 'b', pid, scopes: [w('/b')], sessionId: 'b' }),
      () => reg.delegate('a', { name: 'b', pid, scopes: [w('/src/b')] }),
      () => reg.adopt('kid', { pid, sessionId: 'k' }),
      () => reg.adoptAllocation('kid', { pid, sessionId: 'k' }),
    ]
    for (const call of calls) {
      const e = code(t, call, 'ENOTFOUND')
      t.is(e.pid, pid)
      t.true(e.message.includes(String(pid)), e.message)
    }
  }
  t.is(snapshot(dir), before)
  t.deepEqual(reg.list().map((a) => [a.name, a.pid, a.sessionId]), [['a', process.pid, 's'], ['kid', process.pid, null]])
})

test('a session id another live allocation has → EDUPLICATE saying it is the session id', async (t) => {
  const { dir, reg } = seeded(t) // 'a' has session 's'
  reg.delegate('a', { name: 'kid', scopes: [w('/src/kid')] })
  const before = snapshot(dir)
  const calls: Array<() => unknown> = [
    () => reg.register({ name: 'b', scopes: [w('/b')], sessionId: 's' }),
    () => reg.installTopLevel({ name: 'b', scopes: [w('/b')], sessionId: 's' }),
    () => reg.adopt('kid', { sessionId: 's' }),
    () => reg.adoptAllocation('kid', { sessionId: 's' }),
  ]
  for (const call of calls) {
    const e = code(t, call, 'EDUPLICATE') as SoleError & { allocation?: string; sessionId?: string }
    t.regex(e.message, /session id "s"/)
    t.is(e.sessionId, 's')
    t.is(e.allocation, 'a', 'names the allocation that has it')
    t.is(e.path, reg.path)
  }
  t.is(snapshot(dir), before)
  t.is(reg.lookupSession('s')?.name, 'a')
  // Adopting again under its own session is not a duplicate.
  reg.adopt('kid', { sessionId: 'k' })
  reg.adopt('kid', { sessionId: 'k' })
  t.is(reg.lookupSession('k')?.name, 'kid')
  // A session whose owner died is free again (reclaimed first).
  const child = spawn('sleep', ['300'], { stdio: 'ignore' })
  t.teardown(() => child.kill('SIGKILL'))
  await new Promise((res) => child.once('spawn', res))
  reg.register({ name: 'mortal', pid: child.pid, scopes: [w('/m')], sessionId: 'm' })
  code(t, () => reg.register({ name: 'heir', scopes: [w('/h')], sessionId: 'm' }), 'EDUPLICATE')
  const exited = new Promise((res) => child.once('exit', res))
  child.kill('SIGKILL')
  await exited
  reg.register({ name: 'heir', scopes: [w('/h')], sessionId: 'm' })
  t.is(reg.lookupSession('m')?.name, 'heir')
})
