// Deliberately broken (docs/races.md R2 and R3): create with O_EXCL; when the file exists, read
// the pid and, when it is missing, empty, garbage or dead by `kill(pid, 0)`, "reclaim" by writing
// a temp file and renaming it over. Two reclaimers can both judge the file stale, and a
// reclaimer can judge a claim that is still being written as garbage. Release unlinks. Blocking
// acquire polls (there is nothing to wait on). Exclusive only. (Seed 000 shares one
// `.lock.tmp` among writers; each writer gets its own temp file here, so that the race shows
// as two owners, not as an ENOENT from the losing rename.)
import fs from 'node:fs'
import { setTimeout as delay } from 'node:timers/promises'

export const meta = { shared: false, kernelVisible: false, pidContent: false, file: 'daemon.lock' }

export default function makeStrategy(target) {
  return oexclReclaim(target)
}

function unlinkIfPresent(p) {
  try {
    fs.unlinkSync(p)
  } catch (err) {
    if (err.code !== 'ENOENT') throw err
  }
}

/** Seed 000's acquire_lock, ported as faithfully as JavaScript allows. */
function oexclReclaim(target) {
  const me = process.pid
  const tmp = `${target}.${me}.tmp`
  // The classic pid_alive: kill(pid, 0) → 0 alive, ESRCH dead, EPERM alive (a zombie is "alive").
  const alive = (pid) => {
    try {
      process.kill(pid, 0)
      return true
    } catch (err) {
      return err.code === 'EPERM'
    }
  }
  // The classic read_lock_pid: missing, empty or malformed → none.
  const readPid = () => {
    let text
    try {
      text = fs.readFileSync(target, 'utf8').trim()
    } catch (err) {
      if (err.code === 'ENOENT') return null
      throw err
    }
    return /^\d{1,10}$/.test(text) && Number(text) <= 2 ** 31 - 1 ? Number(text) : null
  }
  const tryAcquire = () => {
    // Phase 1: O_EXCL create, then write the pid.
    try {
      const fd = fs.openSync(target, 'wx')
      try {
        fs.writeSync(fd, `${me}\n`)
      } finally {
        fs.closeSync(fd)
      }
      return { oexcl: true }
    } catch (err) {
      if (err.code !== 'EEXIST') throw err
    }
    // Phase 2: the file exists. Refuse a live pid; otherwise reclaim (temp file + rename).
    const pid = readPid()
    if (pid !== null && pid !== me && alive(pid)) return null
    fs.writeFileSync(tmp, `${me}\n`)
    fs.renameSync(tmp, target)
    return { oexcl: true, reclaimed: pid }
  }
  return {
    tryAcquire,
    async acquire() {
      // Nothing to wait on: retry. The pause is this strategy's own retry interval, not a
      // synchronisation of the harness.
      for (;;) {
        const h = tryAcquire()
        if (h) return h
        await delay(2)
      }
    },
    release: () => unlinkIfPresent(target),
  }
}
