// Nothing is released silently by garbage collection: pidfile claims and daemon locks last
// until release() or process exit even when the caller keeps no reference; a Lock (or a
// LockFile holding one) that is collected is released WITH a warning naming the path.
// Each case runs in a child started with --expose-gc that drops its reference and collects.
import test from 'ava'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import * as sole from '../lib/index.js'
import { firstLine } from './fixtures/children.mjs'
import { tmpdir } from './helpers/index.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const child = path.join(here, 'fixtures', 'gc-child.mjs')

type Report = { pid: number; warnings: { name: string; code?: string; message: string }[] }

async function collectIn(t: { teardown(fn: () => void): void }, kind: string, p: string) {
  const c = spawn(process.execPath, ['--expose-gc', child, kind, p], { stdio: ['ignore', 'pipe', 'ignore'] })
  t.teardown(() => c.kill('SIGKILL'))
  const report = JSON.parse(await firstLine(c)) as Report
  return { c, report }
}

for (const kind of ['pidfile', 'daemon'] as const) {
  test(`a ${kind} claim whose object is garbage-collected lasts until process exit`, async (t) => {
    const p = path.join(tmpdir(t), `${kind}.pid`)
    const { c, report } = await collectIn(t, kind, p)
    t.deepEqual(report.warnings, [], 'a claim is not released, so nothing to warn about')
    const s = sole.readPidfile(p)
    t.is(s.state, 'held', 'still held after GC')
    t.is(s.state === 'held' && s.pid, c.pid)
    const e = t.throws(() => sole.claimPidfile(p)) as sole.SoleError
    t.is(e.code, 'EHELD', 'a second instance is refused')
    t.is(e.pid, c.pid)
    // Process exit ends it.
    const exited = new Promise((r) => c.once('exit', r))
    c.kill('SIGKILL')
    await exited
    using mine = sole.claimPidfile(p)
    t.false(mine.released)
  })
}

test('a Lock that is garbage-collected is released with a SOLE_LOCK_GC warning naming the path', async (t) => {
  const p = path.join(tmpdir(t), 'x.lock')
  const { report } = await collectIn(t, 'lock', p)
  const w = report.warnings.find((x) => x.code === 'SOLE_LOCK_GC')
  t.truthy(w, JSON.stringify(report.warnings))
  t.true(w!.message.includes(p), w!.message)
  const l = sole.tryLock(p)
  t.truthy(l, 'the lock was released by GC')
  l?.release()
})

test('a LockFile collected while a lock is out releases it with a warning; an idle one stays silent', async (t) => {
  const d = tmpdir(t)
  const held = path.join(d, 'held.lock')
  const { report } = await collectIn(t, 'lockfile-held', held)
  const w = report.warnings.find((x) => x.code === 'SOLE_LOCK_GC')
  t.truthy(w, JSON.stringify(report.warnings))
  t.true(w!.message.includes(held))
  const l = sole.tryLock(held)
  t.truthy(l)
  l?.release()
  const idle = path.join(d, 'idle.lock')
  const r2 = await collectIn(t, 'lockfile', idle)
  t.deepEqual(r2.report.warnings, [])
})
