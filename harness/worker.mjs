// A harness worker: a real Node process (child_process.fork) that loads sole's built entry
// (`lib/index.js`) and acts on the coordinator's commands over IPC, one lock at a time.
//
// argv: STRATEGY_URL TARGET ORACLE_DIR BARRIER_FIFO (the strategy module: harness/strategy.mjs)
// Commands `{ id, op, ... }`, each answered by `{ id, result, ... }` once it has really
// happened (the coordinator sequences on these acknowledgements, never on sleeps):
// - `try {shared}` → `acquired` | `busy`
// - `block {shared}` → `waiting` at once; later an unsolicited `{ event: 'acquired' }`
// - `release` → `released`
// - `read` → `read` with readPidfile's state (and the content's pid): the third-process view
//   (a strategy with its own `read()` reader, a deliberately broken one, replaces readPidfile)
// - `arm {action}` → `{ phase: 'armed' }`, then the worker blocks in read(2) on the barrier
//   FIFO; the coordinator writes one byte per armed worker in one write(2), and every armed
//   worker performs its action in the same instant (this is how concurrent acquisitions,
//   releases and reads are produced for real), then answers as for the action.
// - `exit` → leaves the critical section (sentinel) and exits without releasing the lock.
// - `touch` → `touched` with the sentinel's verdict: the holder "writes" inside what it believes
//   is still its critical section. Sent after a pause step's SIGSTOP/SIGCONT (never while the
//   worker is stopped): an owner that entered while this one was frozen (a lease lock that
//   judged it gone) is a violation here, whatever the strategy thinks.
// - `gc` → drops every reference to the held claim and forces GC (the worker runs with
//   --expose-gc), then `collected` (with whether the object really was collected). The worker
//   still counts as the holder: only its exit can end that claim now.
// A strategy's calls may return Promises (the contract): each is awaited before answering.
// Every acquisition enters the oracle's sentinel (`oracle.mjs`) before it is reported, and
// every release leaves it first; a violation the sentinel sees travels with the report.
// Races these parts exist for: `arm` puts check-then-act code (an O_EXCL stale reclaim, docs/races.md R2)
// in several processes at the same instant; `block` starts its request *before* it answers
// `waiting`, so a waiter really sits on the current inode while later steps unlink, release
// or SIGKILL around it (the unlink race, R1); `exit` ends an owner without release().
import { createRequire } from 'node:module'
import fs from 'node:fs'
import { strategyOf } from './strategy.mjs'
import { Sentinel, selfIdentity } from './oracle.mjs'

const require = createRequire(import.meta.url)
const sole = require('../lib/index.js')

const [strategyUrl, target, oracleDir, fifoPath] = process.argv.slice(2)
const strategy = await strategyOf(await import(strategyUrl)).make(target)
const me = selfIdentity()
const sentinel = new Sentinel(oracleDir, me)
// Read end only: if the coordinator dies, read(2) returns EOF and we exit.
const fifo = fs.openSync(fifoPath, 'r')

/** The lock this worker holds: `{ handle, shared }` (the handle keeps it from GC). */
let held = null

const describe = (err) => ({ code: err?.code, message: err?.message ?? String(err) })
const send = (msg, cb) => process.send(msg, cb)

function entered(handle, shared) {
  held = { handle, shared }
  return sentinel.enter(shared)
}

/** One command; a strategy's calls may return Promises (the contract), so each is awaited. */
async function perform(id, a) {
  switch (a.op) {
    case 'try': {
      const h = await strategy.tryAcquire(a.shared)
      if (!h) return { result: 'busy' }
      return { result: 'acquired', violation: entered(h, a.shared) }
    }
    case 'block': {
      // Start the request before acknowledging it: "waiting" means the request is in the
      // kernel's (or the strategy's) hands, so later steps really happen around it.
      let pending
      try {
        pending = Promise.resolve(strategy.acquire(a.shared))
      } catch (err) {
        pending = Promise.reject(err)
      }
      pending.then(
        (h) => send({ event: 'acquired', id, violation: entered(h, a.shared) }),
        (err) => send({ event: 'error', id, error: describe(err) }),
      )
      return { result: 'waiting' }
    }
    case 'release': {
      if (!held) return { result: 'error', error: { message: 'release without a lock' } }
      const violation = sentinel.exit(held.shared)
      const { handle } = held
      held = null
      await strategy.release(handle)
      return { result: 'released', violation }
    }
    case 'touch': {
      // After a pause (SIGSTOP/SIGCONT): the holder still believes it owns the lock and
      // "writes", checking inside its critical section that nobody entered meanwhile.
      if (!held) return { result: 'error', error: { message: 'touch without a lock' } }
      return { result: 'touched', violation: sentinel.check(held.shared) }
    }
    case 'read': {
      // sole's reader is asked for a handle too: it must be bound to the holder it names
      // (the coordinator checks its pid and start time). The handle is closed here.
      const state = strategy.read ? await strategy.read() : sole.readPidfile(target, { handle: true })
      let handle
      if (state.handle) {
        handle = { pid: state.handle.pid, startTime: state.handle.startTime }
        state.handle.close()
        delete state.handle
      }
      let content
      try {
        content = sole.readLockPid(target)
      } catch (err) {
        content = describe(err)
      }
      return { result: 'read', state, content, handle }
    }
    default:
      return { result: 'error', error: { message: `unknown op ${a.op}` } }
  }
}

async function answer(id, a) {
  let r
  try {
    r = await perform(id, a)
  } catch (err) {
    r = { result: 'error', error: describe(err) }
  }
  send({ id, ...r })
}

/** The `gc` op: forget the claim object, collect, and let finalizers run (a few turns). */
async function collect(id) {
  if (!held || !held.handle) return send({ id, result: 'error', error: { message: 'gc without a claim object' } })
  const ref = new WeakRef(held.handle)
  held.handle = null
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setImmediate(r))
    globalThis.gc()
  }
  await new Promise((r) => setImmediate(r))
  send({ id, result: 'collected', collected: ref.deref() === undefined })
}

process.on('message', (m) => {
  if (m.op === 'arm') {
    // Acknowledge only once the ack is written, then block the whole process in read(2).
    send({ id: m.id, phase: 'armed' }, () => {
      const n = fs.readSync(fifo, Buffer.alloc(1), 0, 1, null)
      if (n === 0) process.exit(1)
      answer(m.id, m.action)
    })
  } else if (m.op === 'gc') {
    collect(m.id)
  } else if (m.op === 'exit') {
    if (held) sentinel.exit(held.shared)
    process.exit(0)
  } else {
    answer(m.id, m)
  }
})
process.on('disconnect', () => process.exit(1))
send({ ready: true, pid: me.pid, start: me.start })
