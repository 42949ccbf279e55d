// Daemon start benchmark (section `daemon` of bench.mjs, or `node bench/daemon.mjs` alone):
// spawn-to-ready latency of a trivial daemon, sole's spawnDaemon against child_process.spawn
// of the same command and against start-stop-daemon --notify-await, as ratios in one run.
//
// Three daemons, each reporting readiness and then waiting for a signal:
// - shell: `sh -c 'systemd-notify --ready; exec sleep 600'` (or `printf R >&3` for the pipe);
// - C: bench/c/notifyd.c compiled into bench/.build/ (READY=1 with its own sendto on an
//   AF_UNIX datagram socket, no libsystemd; or one byte on $READY_FD);
// - Node: `node -e` calling sole's daemonReady() (or writing a byte to fd 3).
// Four ways to start each, interleaved run by run (so load from elsewhere hits all alike):
// - reference: child_process.spawn(cmd, { detached: true }) until the daemon's ready byte
//   arrives on a pipe (fd 3): fork + exec + the program's own start, as sole's 'notify';
// - child_process.spawn(detached) until its 'spawn' event: fork + exec only, nothing about
//   readiness (what `daemonize-process` gives);
// - sole spawnDaemon, readiness 'notify', with a pidfile: prepare, double fork, the daemon's
//   pidfile claim (flock, pid, identity record, fsync), exec, READY=1 on sole's own socket;
// - the same without a pidfile: the difference is the daemon's claim (flock, pid line,
//   identity record, fsync: about 1 ms). (An earlier version also checked the pidfile with
//   readPidfile before the fork; one read of /proc/locks after idle cost 8-13 ms here, because
//   the kernel waits for an RCU grace period, so that check now runs only for readiness 'none'.)
// - start-stop-daemon --start --background --notify-await --pidfile --make-pidfile, until
//   it exits 0 (it forks, writes the pidfile and waits for READY=1 on its own socket).
// Each run's daemon is SIGKILLed and awaited before the next run. Ratios are the medians of
// per-run ratios to the reference of the same daemon.
import { createRequire } from 'node:module'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const sole = require('../lib/index.js')
const SELF = fileURLToPath(import.meta.url)

const RUNS = Number(process.env.SOLE_BENCH_DAEMON_RUNS) || 20

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const fmtMs = (ns) => `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)} ms`
const fmtX = (x) => (x >= 10 ? `${x.toFixed(1)}×` : `${x.toFixed(2)}×`)

function procState(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'latin1')
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3)
  } catch {
    return null
  }
}

/** SIGKILL a daemon that is not our child and wait until it is gone or a zombie. */
async function killDaemon(pid) {
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    return
  }
  const end = Date.now() + 5000
  while (Date.now() < end) {
    const s = procState(pid)
    if (s === null || s === 'Z' || s === 'X') return
    await new Promise((r) => setTimeout(r, 1))
  }
  throw new Error(`daemon ${pid} still runs 5 s after SIGKILL`)
}

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : null
}

/** The daemons: how each runs, or why it cannot here. */
function daemons(buildDir) {
  const out = []
  const sh = '/bin/sh'
  const script = 'if [ -n "$NOTIFY_SOCKET" ]; then systemd-notify --ready; elif [ -n "$READY_FD" ]; then printf R >&3; fi; exec sleep 600'
  out.push({
    kind: 'shell',
    what: '`sh -c \'systemd-notify --ready; exec sleep 600\'`',
    command: sh,
    args: ['-c', script],
    reason: which('systemd-notify') ? null : 'systemd-notify is not installed',
  })
  const cbin = path.join(buildDir, 'notifyd')
  let cReason = null
  try {
    fs.mkdirSync(buildDir, { recursive: true })
    execFileSync(process.env.CC || 'cc', ['-O2', '-Wall', '-o', cbin, path.join(here, 'c', 'notifyd.c')], { stdio: ['ignore', 'ignore', 'pipe'] })
  } catch (err) {
    cReason = `cc failed: ${String(err.stderr || err.message).split('\n')[0].slice(0, 80)}`
  }
  out.push({ kind: 'C', what: '`bench/c/notifyd.c` (sendto READY=1, no libsystemd)', command: cbin, args: [], reason: cReason })
  const lib = path.join(here, '..', 'lib', 'index.js')
  // sole is loaded in every mode, so the reference pays for the same startup.
  const node = `const fs = require('fs'); const sole = require(${JSON.stringify(lib)}); if (process.env.NOTIFY_SOCKET) sole.daemonReady(); else if (process.env.READY_FD) fs.writeSync(3, 'R'); setInterval(() => {}, 1e9)`
  out.push({
    kind: 'Node',
    what: "`node -e` calling sole's `daemonReady()`",
    command: process.execPath,
    args: ['-e', node],
    reason: typeof sole.daemonReady === 'function' ? null : "sole has no daemonReady() in this build",
  })
  return out
}

const envWithout = (extra) => {
  const env = { ...process.env, ...extra }
  delete env.NOTIFY_SOCKET
  return env
}

/** The ways to start a daemon: each returns the elapsed ns and stops what it started. */
const STARTERS = {
  async reference(d) {
    const t = process.hrtime.bigint()
    const child = spawn(d.command, d.args, { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'pipe'], env: envWithout({ READY_FD: '3' }) })
    const [chunk] = await once(child.stdio[3], 'data')
    const ns = Number(process.hrtime.bigint() - t)
    if (String(chunk)[0] !== 'R') throw new Error(`${d.kind} daemon wrote ${String(chunk)} instead of its ready byte`)
    child.stdio[3].destroy()
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
    return ns
  },
  async spawnEvent(d) {
    const t = process.hrtime.bigint()
    const child = spawn(d.command, d.args, { detached: true, stdio: 'ignore', env: envWithout({}) })
    await once(child, 'spawn')
    const ns = Number(process.hrtime.bigint() - t)
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
    return ns
  },
  async sole(d, dir) {
    const pidfile = path.join(dir, `sole-${d.kind}.pid`)
    const t = process.hrtime.bigint()
    const r = await sole.spawnDaemon({ command: d.command, args: d.args, pidfile, readiness: 'notify', timeoutMs: 10_000 })
    const ns = Number(process.hrtime.bigint() - t)
    await killDaemon(r.pid)
    return ns
  },
  async soleNoPidfile(d) {
    const t = process.hrtime.bigint()
    const r = await sole.spawnDaemon({ command: d.command, args: d.args, readiness: 'notify', timeoutMs: 10_000 })
    const ns = Number(process.hrtime.bigint() - t)
    await killDaemon(r.pid)
    return ns
  },
  async ssd(d, dir) {
    const pidfile = path.join(dir, `ssd-${d.kind}.pid`)
    fs.rmSync(pidfile, { force: true })
    const t = process.hrtime.bigint()
    const child = spawn('start-stop-daemon', ['--start', '--background', '--notify-await', '--notify-timeout', '10', '--pidfile', pidfile, '--make-pidfile', '--startas', d.command, '--', ...d.args], { stdio: ['ignore', 'ignore', 'pipe'], env: envWithout({}) })
    let err = ''
    child.stderr.on('data', (c) => (err += c))
    const [code] = await once(child, 'exit')
    const ns = Number(process.hrtime.bigint() - t)
    const pid = Number.parseInt(fs.readFileSync(pidfile, 'utf8'), 10)
    if (pid > 0) await killDaemon(pid)
    if (code !== 0) throw new Error(`start-stop-daemon exited ${code}: ${err.trim().slice(0, 120)}`)
    return ns
  },
}

const LABELS = {
  reference: 'child_process.spawn(detached) → the daemon\'s ready byte on a pipe (reference: fork, exec, its own start)',
  spawnEvent: 'child_process.spawn(detached) → \'spawn\' event (fork + exec only; knows nothing of readiness)',
  sole: 'sole spawnDaemon, readiness \'notify\', with a pidfile (double fork, the daemon claims its pidfile, READY=1)',
  soleNoPidfile: 'sole spawnDaemon, readiness \'notify\', no pidfile (no claim)',
  ssd: 'start-stop-daemon --start --background --notify-await --make-pidfile → exit 0',
}

/**
 * Measure every daemon × start method, interleaved run by run. Returns rows
 * `{ kind, what, starter, label, ns: number[] | null, ratios: number[] | null, reason }`.
 */
export async function runDaemonBench({ runs = RUNS, buildDir = path.join(here, '.build') } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sole-daemon-bench-'))
  const ssdReason = which('start-stop-daemon') ? null : 'start-stop-daemon is not installed'
  const rows = []
  try {
    for (const d of daemons(buildDir)) {
      const cases = Object.keys(STARTERS).map((starter) => ({
        starter,
        ns: [],
        reason: d.reason ?? (starter === 'ssd' ? ssdReason : null),
      }))
      if (!d.reason) {
        // One warm-up of each (page cache, the addon's first thread), then the runs.
        for (let i = -1; i < runs; i++) {
          for (const c of cases) {
            if (c.reason) continue
            try {
              const ns = await STARTERS[c.starter](d, dir)
              if (i >= 0) c.ns.push(ns)
            } catch (err) {
              c.reason = `failed: ${String(err.message).split('\n')[0].slice(0, 120)}`
            }
          }
        }
      }
      const ref = cases.find((c) => c.starter === 'reference')
      for (const c of cases) {
        const ok = !c.reason && !ref.reason && c.ns.length === ref.ns.length
        rows.push({
          kind: d.kind,
          what: d.what,
          starter: c.starter,
          label: LABELS[c.starter],
          ns: c.reason ? null : c.ns,
          ratios: ok ? c.ns.map((v, i) => v / ref.ns[i]) : null,
          reason: c.reason,
        })
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
  return rows
}

/** A row's result and ratio, as the tables print them. */
export function describeRow(r) {
  if (!r.ns) return { result: `n/a (${r.reason})`, vs: '' }
  const result = `median ${fmtMs(median(r.ns))}, min ${fmtMs(Math.min(...r.ns))}, max ${fmtMs(Math.max(...r.ns))} (${r.ns.length} runs)`
  const vs = r.ratios ? (r.starter === 'reference' ? '1.00×' : `${fmtX(median(r.ratios))} the reference`) : ''
  return { result, vs }
}

/**
 * The section of bench.mjs: measure, then report through its `row` (one table for the whole
 * bench) and `log`.
 */
export async function benchDaemon({ row, log = console.log } = {}) {
  log(`\n## 8. daemon spawn-to-ready (median of ${RUNS} runs; methods interleaved run by run; each daemon killed after its run)`)
  const rows = await runDaemonBench()
  for (const r of rows) {
    const { result, vs } = describeRow(r)
    row(`8. daemon start, ${r.kind} daemon: ${r.what}`, r.label, result, vs)
  }
  return rows
}

export function daemonTable(rows) {
  const lines = ['| Daemon | Start | Spawn-to-ready | vs reference |', '|---|---|---|---|']
  for (const r of rows) {
    const { result, vs } = describeRow(r)
    lines.push(`| ${r.kind}: ${r.what} | ${r.label} | ${result} | ${vs} |`.replace(/\n/g, ' '))
  }
  return lines.join('\n')
}

if (process.argv[1] === SELF) {
  const rows = await runDaemonBench()
  console.log(`# daemon spawn-to-ready (${RUNS} runs each; ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})\n`)
  console.log(daemonTable(rows))
}
