// Loss of a held lock (issue 14, docs/races.md R45): another process deletes, renames or
// replaces the file of a held lock or pidfile. `check()` throws ELOST, `lost` aborts with an
// ELOST reason, and nothing is ever thrown uncaught. Each scenario runs in a child Node
// process (so an uncaught exception or a hang shows as its exit code), which changes the file
// with rm/mv (other processes) and waits for the 'abort' event: no sleeps, no timing.
import test from 'ava'
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import * as sole from '../lib/index.js'
import { tmpdir } from './helpers/index.js'

const LIB = fileURLToPath(new URL('../lib/index.js', import.meta.url))

type Kind = 'lock' | 'watchedLock' | 'lockFile' | 'pidfile'
type Change = 'rm' | 'mv' | 'replace'

/** Run one scenario in a child process; its last line of stdout is a JSON report. */
function scenario(dir: string, kind: Kind, change: Change): Record<string, unknown> {
  const src = `
    const sole = require(${JSON.stringify(LIB)})
    const { execFileSync } = require('node:child_process')
    const fs = require('node:fs')
    let uncaught = null
    process.on('uncaughtException', (e) => { uncaught = String(e && e.stack || e) })
    const p = ${JSON.stringify(path.join(dir, 'held.lock'))}
    const kind = ${JSON.stringify(kind)}
    let held, lf
    if (kind === 'lock') held = sole.tryLock(p)
    else if (kind === 'watchedLock') held = sole.lockSync(p, { watch: true })
    else if (kind === 'lockFile') { lf = sole.openLockFile(p); held = lf.tryLock() }
    else held = sole.claimPidfile(p)
    held.check()
    const signal = held.lost
    const before = signal.aborted
    signal.addEventListener('abort', () => {
      let check = null
      try { held.check() } catch (e) { check = e.code }
      const r = signal.reason
      held.release()
      lf?.close()
      setImmediate(() => {
        console.log(JSON.stringify({ before, check, reasonIsError: r instanceof Error, reasonCode: r && r.code, reasonPath: r && r.path, message: r && r.message, uncaught }))
      })
    }, { once: true })
    const change = ${JSON.stringify(change)}
    if (change === 'rm') execFileSync('rm', [p])
    else if (change === 'mv') execFileSync('mv', [p, p + '.moved'])
    else { fs.writeFileSync(p + '.new', 'other'); execFileSync('mv', [p + '.new', p]) }
    // The watch is unref'd: keep this process alive until the signal fires.
    const keep = setInterval(() => {}, 1000)
    signal.addEventListener('abort', () => clearInterval(keep), { once: true })
  `
  const r = spawnSync(process.execPath, ['-e', src], { encoding: 'utf8', timeout: 60_000 })
  if (r.status !== 0) throw new Error(`child exited ${r.status} ${r.signal ?? ''}: ${r.stderr}`)
  const lines = r.stdout.trim().split('\n')
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>
}

for (const kind of ['lock', 'watchedLock', 'lockFile', 'pidfile'] as const) {
  for (const change of ['rm', 'mv', 'replace'] as const) {
    test(`lost: ${change} of a held ${kind}'s file from another process fires lost and check() throws ELOST`, (t) => {
      const dir = tmpdir(t)
      const r = scenario(dir, kind, change)
      t.is(r.before, false)
      t.is(r.check, 'ELOST')
      t.true(r.reasonIsError)
      t.is(r.reasonCode, 'ELOST')
      t.is(r.reasonPath, path.join(dir, 'held.lock'))
      t.regex(String(r.message), /Another process may now hold a lock on a new file/)
      t.is(r.uncaught, null)
    })
  }
}

test('lost: a lock that was never lost never fires, and check() passes', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'x.lock')
  const l = sole.tryLock(p, { watch: true })!
  const signal = l.lost
  fs.writeFileSync(p, 'written by this process')
  execFileSync('touch', [p])
  execFileSync('chmod', ['600', p])
  fs.writeFileSync(path.join(dir, 'sibling'), '')
  execFileSync('mv', [path.join(dir, 'sibling'), path.join(dir, 'sibling2')])
  // A sentinel: a second watched lock in the same directory, lost after those changes. Once its
  // loss is delivered, the watcher has handled every earlier event of the directory, and the
  // first lock's signal (still held, so it would have been delivered) has not fired.
  const q = path.join(dir, 'sentinel.lock')
  const m = sole.tryLock(q, { watch: true })!
  const fired = new Promise((resolve) => m.lost.addEventListener('abort', resolve, { once: true }))
  execFileSync('rm', [q])
  await fired
  t.false(signal.aborted, 'benign changes (write, touch, chmod, a sibling created and renamed) are no loss')
  l.check()
  m.release()
  l.release()
  l.check() // released: nothing to lose
  t.false(signal.aborted)
  t.is(l.lost, signal)
})

test('lost: releasing stops the watch (deleting after release never fires)', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'x.lock')
  const l = sole.tryLock(p)!
  const signal = l.lost
  l.release()
  execFileSync('rm', [p])
  // A second, watched lock on another file in the same directory: its loss is seen, so the
  // watcher has processed the directory's events by then, the first lock's deletion included.
  const q = path.join(dir, 'y.lock')
  const m = sole.tryLock(q)!
  const fired = new Promise((resolve) => m.lost.addEventListener('abort', resolve, { once: true }))
  execFileSync('rm', [q])
  await fired
  t.false(signal.aborted)
  t.throws(() => m.check(), { code: 'ELOST' })
  m.release()
  t.notThrows(() => l.check())
})

test('lost: a pidfile claimed with { watch: true } is watched from the claim', async (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'app.pid')
  const pf = sole.claimPidfile(p, { watch: true })
  const fired = new Promise<unknown>((resolve) => pf.lost.addEventListener('abort', () => resolve(pf.lost.reason), { once: true }))
  execFileSync('mv', [p, path.join(dir, 'elsewhere.pid')])
  const reason = (await fired) as sole.SoleError
  t.is(reason.code, 'ELOST')
  t.throws(() => pf.check(), { code: 'ELOST' })
  pf.release()
})

test('lost: watch must be a boolean', (t) => {
  const dir = tmpdir(t)
  t.throws(() => sole.tryLock(path.join(dir, 'x'), { watch: 'yes' as unknown as boolean }), { code: 'EINVAL' })
  t.throws(() => sole.claimPidfile(path.join(dir, 'p'), { watch: 1 as unknown as boolean }), { code: 'EINVAL' })
})

test('lost: the scope registry refuses every operation with ELOST once its lock file was deleted or replaced, and writes nothing; opened again, it works', (t) => {
  const dir = tmpdir(t)
  const data = path.join(dir, 'scope.json')
  const reg = sole.ScopeRegistry.open(data)
  t.teardown(() => reg.close())
  reg.register({ name: 'a', scopes: [{ target: '/srv/a', permission: 'write', recursive: true }], sessionId: 's-a' })
  const before = fs.readFileSync(data)
  // A cleaner deletes the lock file (another process: rm).
  execFileSync('rm', [`${data}.lock`])
  for (const op of [() => reg.list(), () => reg.register({ name: 'b', scopes: [{ target: '/srv/b', permission: 'write', recursive: true }], sessionId: 's-b' })]) {
    const e = t.throws(op) as sole.SoleError
    t.is(e?.code, 'ELOST', e?.message)
    t.is(e.path, `${data}.lock`)
  }
  t.deepEqual(fs.readFileSync(data), before, 'nothing written')
  // Replaced by a new file (mv over): still lost.
  fs.writeFileSync(`${data}.lock.new`, '')
  execFileSync('mv', [`${data}.lock.new`, `${data}.lock`])
  t.is((t.throws(() => reg.list()) as sole.SoleError)?.code, 'ELOST')
  const again = sole.ScopeRegistry.open(data)
  t.deepEqual(again.list().map((a) => a.name), ['a'])
  again.close()
})
