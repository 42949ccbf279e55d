// Section 11 of `npm run bench`: what the integrity options cost per grant, in one process and
// one run, each case interleaved round by round with the plain call (median of rounds; the
// ratio is the median of per-round ratios): `tryLock` + `release` plain (every open now also
// asks `fstatfs`: the EREMOTEFS check), with `{ fencing: true }` (read, write and fsync the
// token xattr under the lock), with `{ watch: true }` (an inotify watch added and removed), and
// `lock.check()` on a held lock (an fstat and an lstat). The lock file is in a temp directory
// on whatever filesystem that is (the fsync's cost depends on it: the header names it).
import { createRequire } from 'node:module'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const require = createRequire(import.meta.url)
const now = () => process.hrtime.bigint()
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const ns = (v) => (v < 1e3 ? `${v.toFixed(0)} ns` : v < 1e6 ? `${(v / 1e3).toFixed(2)} µs` : `${(v / 1e6).toFixed(2)} ms`)
const ROUNDS = 9

export async function benchIntegrity({ row, log }) {
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
    for (const c of cases) {
      let n = 16
      for (;;) {
        const t = now()
        c.body(n)
        const ms = Number(now() - t) / 1e6
        if (ms > 20) break
        n *= 4
      }
      c.n = n
      c.res = []
    }
    for (let r = 0; r < ROUNDS; r++) {
      for (const c of cases) {
        const t = now()
        c.body(c.n)
        c.res.push(Number(now() - t) / c.n)
      }
    }
    const ref = cases[0]
    for (const c of cases) {
      const x = median(c.res.map((v, i) => v / ref.res[i]))
      row(T, c.label, `${ns(median(c.res))}/op`, c === ref ? '1.00× plain' : `${x.toFixed(2)}× plain`)
    }
    held.release()
    log(`  (lock file in ${dir}; the fencing row is dominated by that filesystem's fsync)`)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
