'use strict'
// One process of a multi-process benchmark (contention, handoff, crash recovery), driven by
// bench.mjs over stdin/stdout with the same line protocol as `c/flockbench.c worker`:
//   -> "ready"
//   "contend START END" -> loop acquire / ++n / release from START until END (ns, CLOCK_MONOTONIC,
//                          the clock of process.hrtime.bigint())            -> "count N"
//   "hold"    -> acquire                                                    -> "held"
//   "wait"    -> "waiting" once the request is made; on grant               -> "got T"
//   "release" -> T = now, then release (silently)
//   "report"  -> "released T" (T of the last release)
//   "exit"
// Usage: node worker.cjs IMPL PATH
const fs = require('node:fs')
const readline = require('node:readline')

const [implName, file] = process.argv.slice(2)
const now = () => process.hrtime.bigint()
const say = (s) => fs.writeSync(1, `${s}\n`)

// Retry settings for the polling libraries: as eager as they allow (1 ms between attempts).
const PLF_OPTS = { realpath: false, stale: 2000, retries: { forever: true, factor: 1, minTimeout: 1, maxTimeout: 1, randomize: false } }
const LF_OPTS = () => ({ wait: 1e9, pollPeriod: 1, stale: 2000 })

/** Each implementation: acquire() -> token (or a promise of one), release(token) -> void|promise. */
function makeImpl(name) {
  switch (name) {
    case 'sole-async':
    case 'sole-sync':
    case 'sole-path-async': {
      const sole = require('../lib/index.js')
      if (name === 'sole-path-async' || typeof sole.openLockFile !== 'function' || process.env.SOLE_BENCH_NO_HANDLE) {
        return name === 'sole-sync'
          ? { sync: true, acquire: () => sole.lockSync(file), release: (l) => l.release() }
          : { sync: false, acquire: () => sole.lock(file), release: (l) => l.release() }
      }
      const h = sole.openLockFile(file)
      return name === 'sole-sync'
        ? { sync: true, acquire: () => h.lockSync(), release: (l) => l.release() }
        : { sync: false, acquire: () => h.lock(), release: (l) => l.release() }
    }
    case 'fsext-async':
    case 'fsext-sync': {
      const fsext = require('fs-ext')
      const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600)
      const release = () => fsext.flockSync(fd, 'un')
      if (name === 'fsext-sync') return { sync: true, acquire: () => fsext.flockSync(fd, 'ex'), release }
      return {
        sync: false,
        acquire: () => new Promise((resolve, reject) => fsext.flock(fd, 'ex', (err) => (err ? reject(err) : resolve()))),
        release,
      }
    }
    case 'fsnx-async': {
      const fsnx = require('fs-native-extensions')
      const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600)
      return { sync: false, acquire: () => fsnx.waitForLock(fd), release: () => fsnx.unlock(fd) }
    }
    case 'proper-lockfile': {
      const plf = require('proper-lockfile')
      fs.closeSync(fs.openSync(file, 'a'))
      return { sync: false, acquire: () => plf.lock(file, PLF_OPTS), release: (rel) => rel() }
    }
    case 'lockfile': {
      const lf = require('lockfile')
      const p = `${file}.lock`
      return {
        sync: false,
        acquire: () => new Promise((resolve, reject) => lf.lock(p, LF_OPTS(), (err) => (err ? reject(err) : resolve()))),
        release: () => lf.unlockSync(p),
      }
    }
    default:
      throw new Error(`unknown implementation ${name}`)
  }
}

const impl = makeImpl(implName)
let token
let released = 0n

async function contend(start, end) {
  const wait = Number(start - now()) / 1e6 - 2
  if (wait > 0) await new Promise((r) => setTimeout(r, wait))
  while (now() < start) {}
  let n = 0
  if (impl.sync) {
    while (now() < end) {
      const t = impl.acquire()
      n++ // the critical section
      impl.release(t)
    }
  } else {
    while (now() < end) {
      const t = await impl.acquire()
      n++ // the critical section
      const r = impl.release(t)
      if (r && typeof r.then === 'function') await r
    }
  }
  return n
}

async function onLine(line) {
  const [cmd, ...args] = line.trim().split(' ')
  switch (cmd) {
    case 'contend':
      say(`count ${await contend(BigInt(args[0]), BigInt(args[1]))}`)
      break
    case 'hold':
      token = await impl.acquire()
      say('held')
      break
    case 'wait': {
      if (impl.sync) {
        say('waiting')
        token = impl.acquire()
      } else {
        const p = impl.acquire()
        say('waiting')
        token = await p
      }
      say(`got ${now()}`)
      break
    }
    case 'release': {
      // Silent: a message now would wake bench.mjs while the waiter is being woken, and on a
      // small machine the two would compete for a core. The time is fetched with "report".
      const t = now()
      const r = impl.release(token)
      token = undefined
      released = t
      if (r && typeof r.then === 'function') await r
      break
    }
    case 'report':
      say(`released ${released}`)
      break
    case 'exit':
      process.exit(0)
  }
}

const rl = readline.createInterface({ input: process.stdin })
rl.on('line', (line) => {
  onLine(line).catch((err) => {
    fs.writeSync(2, `worker ${implName}: ${err && err.stack ? err.stack : err}\n`)
    process.exit(1)
  })
})
rl.on('close', () => process.exit(0))
say('ready')
