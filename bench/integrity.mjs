// Section 11 of `npm run bench`: what the integrity options cost per grant, in one process and
// one run, each case interleaved round by round with the plain call (median of rounds; the
// ratio is the median of per-round ratios; bench.mjs's `interleaved` and `report`):
// `tryLock` + `release` plain (every open now also
// asks `fstatfs`: the EREMOTEFS check), with `{ fencing: true }` (read, write and fsync the
// token xattr under the lock), with `{ watch: true }` (an inotify watch added and removed), and
// `lock.check()` on a held lock (an fstat and an lstat). The lock file is in a temp directory
// on whatever filesystem that is (the fsync's cost depends on it: the header names it).
import { createRequire } from 'node:module'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const require = createRequire(import.meta.url)

export async function benchIntegrity({ log, interleaved, report }) {
  const sole = require('../lib/index.js')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sole-bench-integrity-'))
  const T = '11. integrity options, per grant (tryLock + release)'
  try {
    const p = path.join(dir, 'x.lock')
    const held = sole.tryLock(path.join(dir, 'held.lock'))
    const cases = [
      { label: 'plain `tryLock(path)` + `release()` (includes the EREMOTEFS fstatfs)', body: (n) => { for (let i = 0; i < n; i++) sole.tryLock(p).release() } },
      { label: '`{ fencing: true }`: token read, written and fsynced under the lock', body: (n) => { for (let i = 0; i < n; i++) sole.tryLock(p, { fencing: true }).release() } },
      { label: '`{ watch: true }`: an inotify watch added at grant, removed at release', body: (n) => { for (let i = 0; i < n; i++) sole.tryLock(p, { watch: true }).release() } },
      { label: '`lock.check()` on a held lock', body: (n) => { for (let i = 0; i < n; i++) held.check() } },
    ]
    await interleaved(cases)
    report(T, cases, {}, { refName: 'plain' })
    held.release()
    log(`  (lock file in ${dir}; the fencing row is dominated by that filesystem's fsync)`)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
