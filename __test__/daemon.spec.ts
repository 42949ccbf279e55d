// spawnDaemon against real daemons: the process it makes is read back through /proc (session,
// terminal, parent, cwd, umask, descriptors, signal masks, ids after a drop), and every way a
// start can end (ready, EHELD, each EDAEMON stage, ETIMEDOUT, abort) is produced by a real
// program. Readiness comes from senders nobody here wrote (systemd-notify, python3's socket
// module) as well as sole's own notify().
import test, { type ExecutionContext } from 'ava'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { Worker } from 'node:worker_threads'

import * as sole from '../lib/index.js'
import { rejected, rootTest, tmpdir } from './helpers/index.js'

type DaemonError = sole.SoleError & { stage?: string; exitCode?: number; signal?: string; status?: string; stderr?: string; command?: string }

/** Kill `pid` when the test ends (a daemon outlives its test otherwise). */
function reap(t: ExecutionContext, pid: number): void {
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  })
}

async function start(t: ExecutionContext, opts: sole.SpawnDaemonOptions): Promise<sole.DaemonStarted> {
  const r = await sole.spawnDaemon(opts)
  reap(t, r.pid)
  return r
}

/** Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, session, tty_nr, …]. */
function stat(pid: number): string[] {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  return s.slice(s.lastIndexOf(')') + 2).split(' ')
}

function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':')
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim()
  }
  return out
}

/** This process and its ancestors: the daemon's parent must be init or one of them (a subreaper). */
function ancestors(): Set<number> {
  const seen = new Set<number>()
  let pid = process.pid
  while (pid > 1 && !seen.has(pid)) {
    seen.add(pid)
    pid = Number(stat(pid)[1])
  }
  seen.add(1)
  return seen
}

/** Wait (without sleeping blindly) until the process is gone: its pidfd says so. */
async function gone(pid: number): Promise<void> {
  let h: sole.ProcessHandle
  try {
    h = sole.ProcessHandle.open(pid)
  } catch {
    return
  }
  try {
    await h.waitForExit({ timeoutMs: 10_000 })
  } finally {
    h.close()
  }
}

test('the daemon is a daemon: own session, not its leader, no terminal, parent init, cwd, umask, stdio, only its pidfile open, no signal blocked or ignored', async (t) => {
  const d = tmpdir(t)
  const pidfile = path.join(d, 'app.pid')
  const out = path.join(d, 'out.log')
  const err = path.join(d, 'err.log')
  fs.writeFileSync(out, 'before\n')
  const r = await start(t, { command: 'sleep', args: ['60'], pidfile, stdout: out, stderr: err, cwd: d, umask: 0o077, readiness: 'exec' })
  t.is(r.status, null)
  const [, ppid, pgrp, session, tty] = stat(r.pid)
  t.true(ancestors().has(Number(ppid)), `parent ${ppid} is init or a subreaper above this process`)
  t.not(Number(ppid), process.pid)
  t.not(Number(session), r.pid, 'not a session leader (second fork)')
  t.not(Number(session), Number(stat(process.pid)[3]), 'a session of its own')
  t.is(pgrp, session)
  t.is(tty, '0', 'no controlling terminal')
  t.is(fs.readlinkSync(`/proc/${r.pid}/cwd`), d)
  t.is(fs.readlinkSync(`/proc/${r.pid}/exe`), fs.realpathSync(execFileSync('sh', ['-c', 'command -v sleep']).toString().trim()))
  const s = status(r.pid)
  t.is(s.Umask, '0077')
  t.is(s.SigBlk, '0000000000000000', 'signal mask cleared')
  t.is(s.SigIgn, '0000000000000000', "Node's ignored SIGPIPE is back to default")
  const fds = Object.fromEntries(fs.readdirSync(`/proc/${r.pid}/fd`).map((f) => [f, fs.readlinkSync(`/proc/${r.pid}/fd/${f}`)]))
  const pidfd = Object.keys(fds).find((f) => fds[f] === pidfile)
  t.truthy(pidfd, 'the pidfile stays open in the daemon')
  t.deepEqual(Object.keys(fds).sort(), ['0', '1', '2', pidfd!].sort(), JSON.stringify(fds))
  t.is(fds['0'], '/dev/null')
  t.is(fds['1'], out)
  t.is(fds['2'], err)
  t.is(fs.readFileSync(out, 'utf8'), 'before\n', 'stdout is appended to, never truncated')
  t.is(fs.statSync(err).mode & 0o777, 0o640, 'a created output file is 0640')
  // The daemon holds its own pidfile: the kernel names it, and the content is its pid.
  t.is(fs.readFileSync(pidfile, 'utf8'), `${r.pid}\n`)
  const st = sole.readPidfile(pidfile)
  t.is(st.state, 'held')
  t.is(st.state === 'held' && st.pid, r.pid)
  t.is(st.state === 'held' && st.locked, true)
})

test('readiness notify: resolves on READY=1 from systemd-notify (an independent sender), with the last STATUS', async (t) => {
  const d = tmpdir(t)
  const marker = path.join(d, 'marker')
  const r = await start(t, {
    command: 'sh',
    args: ['-c', `systemd-notify --status='warming up'; echo ready > ${marker}; systemd-notify --ready --status=serving; exec sleep 60`],
    pidfile: path.join(d, 'a.pid'),
  })
  t.is(r.status, 'serving')
  t.true(fs.existsSync(marker), 'resolved only after the daemon got to READY=1')
})

test('readiness notify: a python3 sender (plain sendto, kernel-attached credentials) is accepted', async (t) => {
  const py = "import os, socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b'STATUS=from python\\nREADY=1', os.environ['NOTIFY_SOCKET'])"
  const r = await start(t, { command: 'sh', args: ['-c', `python3 -c "${py}"; exec sleep 60`] })
  t.is(r.status, 'from python')
})

test('a second spawnDaemon on a held pidfile rejects EHELD naming the first daemon, and starts nothing', async (t) => {
  const d = tmpdir(t)
  const pidfile = path.join(d, 'a.pid')
  const marker = path.join(d, 'second-ran')
  const first = await start(t, { command: 'sleep', args: ['60'], pidfile, readiness: 'exec' })
  const e = (await rejected(sole.spawnDaemon({ command: 'sh', args: ['-c', `touch ${marker}; sleep 60`], pidfile, readiness: 'none' }))) as DaemonError
  t.is(e?.code, 'EHELD')
  t.is(e.pid, first.pid)
  t.true(e.message.includes(`already running as PID ${first.pid}`), e.message)
  t.false(fs.existsSync(marker))
  t.is(fs.readFileSync(pidfile, 'utf8'), `${first.pid}\n`, 'the holder keeps its pidfile')
})

test('racing starts on one pidfile: exactly one daemon wins, every other start rejects EHELD naming it', async (t) => {
  const d = tmpdir(t)
  const pidfile = path.join(d, 'a.pid')
  const results = await Promise.allSettled(
    Array.from({ length: 6 }, () => sole.spawnDaemon({ command: 'sh', args: ['-c', 'systemd-notify --ready; exec sleep 60'], pidfile })),
  )
  const won = results.filter((r): r is PromiseFulfilledResult<sole.DaemonStarted> => r.status === 'fulfilled')
  for (const w of won) reap(t, w.value.pid)
  t.is(won.length, 1, JSON.stringify(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as DaemonError).code))))
  for (const r of results) {
    if (r.status === 'rejected') {
      t.is((r.reason as DaemonError).code, 'EHELD', (r.reason as DaemonError).message)
      t.is((r.reason as DaemonError).pid, won[0].value.pid)
    }
  }
})

test('a daemon that exits 3 before READY: EDAEMON stage startup, exit code 3, its last stderr lines and status', async (t) => {
  const d = tmpdir(t)
  const err = path.join(d, 'err.log')
  const pidfile = path.join(d, 'a.pid')
  const e = (await rejected(
    sole.spawnDaemon({
      command: 'sh',
      args: ['-c', "systemd-notify --status='loading config'; echo 'config: no such key: port' >&2; exit 3"],
      stderr: err,
      pidfile,
    }),
  )) as DaemonError
  t.is(e?.code, 'EDAEMON')
  t.is(e.stage, 'startup')
  t.is(e.exitCode, 3)
  t.is(e.status, 'loading config')
  t.is(e.stderr, 'config: no such key: port')
  t.true(e.message.includes('exited with code 3 before it was ready'), e.message)
  t.true(e.message.includes('config: no such key: port'), e.message)
  t.is(typeof e.pid, 'number')
  t.is(sole.readPidfile(pidfile).state, 'free', 'its pidfile is free again')
})

test('a daemon killed by a signal before READY: EDAEMON stage startup with the signal name', async (t) => {
  const e = (await rejected(sole.spawnDaemon({ command: 'sh', args: ['-c', 'kill -KILL $$'] }))) as DaemonError
  t.is(e?.code, 'EDAEMON')
  t.is(e.stage, 'startup')
  t.is(e.signal, 'SIGKILL')
  t.is(e.exitCode, undefined)
})

test('ERRNO= before READY rejects EDAEMON startup with that errno, and the daemon is gone', async (t) => {
  const e = (await rejected(sole.spawnDaemon({ command: 'sh', args: ['-c', 'systemd-notify ERRNO=5; exec sleep 60'] }))) as DaemonError
  t.is(e?.code, 'EDAEMON')
  t.is(e.stage, 'startup')
  t.is(e.errno, -5)
  t.true(e.message.includes('ERRNO=5'), e.message)
  t.false(sole.pidAlive(e.pid!))
})

test('intermediate process killed, then the daemon dies before READY: EDAEMON startup at once (not a busy wait until ETIMEDOUT), pidfile free', async (t) => {
  // The process between the caller and the daemon reports the daemon's exit; killed, it
  // reports nothing, and the start must learn of the death from the daemon's pidfd.
  const d = tmpdir(t)
  const ids = path.join(d, 'ids')
  const go = path.join(d, 'go')
  const pidfile = path.join(d, 'a.pid')
  execFileSync('mkfifo', [go])
  const p = sole.spawnDaemon({
    command: 'sh',
    args: ['-c', `echo "$$ $PPID" > ${ids}.tmp && mv ${ids}.tmp ${ids}; read x < ${go}; exit 7`],
    pidfile,
    timeoutMs: 60_000,
  })
  await waitForFile(ids)
  const [daemon, intermediate] = fs.readFileSync(ids, 'utf8').trim().split(' ').map(Number)
  reap(t, daemon)
  t.not(intermediate, process.pid, 'the daemon is not a child of the caller')
  process.kill(intermediate, 'SIGKILL')
  await gone(intermediate)
  t.true(sole.pidAlive(daemon), 'the daemon outlives its intermediate process')
  fs.writeFileSync(go, 'x\n')
  const began = Date.now()
  const e = (await rejected(p)) as DaemonError
  t.is(e?.code, 'EDAEMON', e?.message)
  t.is(e.stage, 'startup')
  t.is(e.pid, daemon)
  t.true(e.message.includes('how is unknown'), e.message)
  t.true(Date.now() - began < 30_000, 'settled when the daemon died, not at the timeout')
  t.false(sole.pidAlive(daemon))
  t.is(sole.readPidfile(pidfile).state, 'free')
})

test('intermediate process stopped (SIGSTOP) and the daemon never ready: the timeout still settles (ETIMEDOUT, within its grace), the daemon is killed, its pidfile free, the intermediate reaped', async (t) => {
  // After a timeout the daemon's death is read from the intermediate process; a stopped one
  // used to hold that answer for ever (the promise never settled). It is now continued
  // (SIGCONT) after a grace of 1 s, and killed if it still does not answer.
  const d = tmpdir(t)
  const ids = path.join(d, 'ids')
  const pidfile = path.join(d, 'a.pid')
  const timeoutMs = 1500
  const p = sole.spawnDaemon({ command: 'sh', args: ['-c', `echo "$$ $PPID" > ${ids}.tmp && mv ${ids}.tmp ${ids}; exec sleep 60`], pidfile, timeoutMs })
  await waitForFile(ids)
  const [daemon, intermediate] = fs.readFileSync(ids, 'utf8').trim().split(' ').map(Number)
  reap(t, daemon)
  t.teardown(() => {
    try {
      process.kill(intermediate, 'SIGCONT')
    } catch {
      // already gone
    }
  })
  process.kill(intermediate, 'SIGSTOP')
  const began = Date.now()
  const settled = await Promise.race([rejected(p), new Promise((r) => setTimeout(() => r('never settled'), 20_000).unref())])
  t.not(settled, 'never settled', 'the rejected start settles although its intermediate process is stopped')
  const e = settled as DaemonError
  t.is(e?.code, 'ETIMEDOUT', e?.message)
  t.is(e.pid, daemon)
  t.true(e.message.includes('it was killed (SIGKILL)'), e.message)
  t.true(Date.now() - began < timeoutMs + 5_000, `settled ${Date.now() - began} ms after the stop`)
  t.false(sole.pidAlive(daemon), 'the daemon is gone when the promise settles')
  t.is(sole.readPidfile(pidfile).state, 'free')
  t.false(sole.pidAlive(intermediate), 'the intermediate process was reaped')
})

test('a daemon that never becomes ready: ETIMEDOUT, and it is gone (SIGKILLed) and its pidfile free when the promise settles', async (t) => {
  const d = tmpdir(t)
  const pidfile = path.join(d, 'a.pid')
  const e = (await rejected(sole.spawnDaemon({ command: 'sleep', args: ['60'], pidfile, timeoutMs: 300 }))) as DaemonError
  t.is(e?.code, 'ETIMEDOUT')
  t.true(e.message.includes('did not report ready (READY=1) within 300 ms'), e.message)
  t.false(sole.pidAlive(e.pid!), 'killed before the rejection')
  t.is(sole.readPidfile(pidfile).state, 'free')
})

test('killOnTimeout: false leaves the unready daemon running', async (t) => {
  const e = (await rejected(sole.spawnDaemon({ command: 'sleep', args: ['60'], timeoutMs: 200, killOnTimeout: false }))) as DaemonError
  t.is(e?.code, 'ETIMEDOUT')
  reap(t, e.pid!)
  t.true(sole.pidAlive(e.pid!))
  t.true(e.message.includes('left running'), e.message)
})

test('an AbortSignal ends the start with AbortError and kills the unready daemon', async (t) => {
  const ac = new AbortController()
  const p = sole.spawnDaemon({ command: 'sh', args: ['-c', 'systemd-notify --status=started; exec sleep 60'], signal: ac.signal })
  setTimeout(() => ac.abort(new Error('user gave up')), 200)
  const e = (await rejected(p)) as DaemonError & { cause?: Error }
  t.is(e?.name, 'AbortError')
  t.is(e.cause?.message, 'user gave up')
  t.false(sole.pidAlive(e.pid!))
  const already = (await rejected(sole.spawnDaemon({ command: 'sleep', args: ['60'], signal: AbortSignal.abort() }))) as Error
  t.is(already?.name, 'AbortError', 'an aborted signal starts nothing')
})

test('SIGKILL of a daemon frees its pidfile at once, and a new start takes it', async (t) => {
  const d = tmpdir(t)
  const pidfile = path.join(d, 'a.pid')
  const first = await start(t, { command: 'sh', args: ['-c', 'systemd-notify --ready; exec sleep 60'], pidfile })
  process.kill(first.pid, 'SIGKILL')
  await gone(first.pid)
  const st = sole.readPidfile(pidfile)
  t.is(st.state, 'free')
  const second = await start(t, { command: 'sh', args: ['-c', 'systemd-notify --ready; exec sleep 60'], pidfile })
  t.not(second.pid, first.pid)
  const now = sole.readPidfile(pidfile)
  t.is(now.state === 'held' && now.pid, second.pid)
})

test(`while a start is pending, the process between the caller and the daemon holds none of the caller's descriptors`, async (t) => {
  const d = tmpdir(t)
  const pidOut = path.join(d, 'pid')
  const go = path.join(d, 'go')
  execFileSync('mkfifo', [go])
  // The daemon reports its pid, then waits on a FIFO before it sends READY=1.
  const p = sole.spawnDaemon({ command: 'sh', args: ['-c', `echo $$ > ${pidOut}; read x < ${go}; systemd-notify --ready; exec sleep 60`] })
  await waitForFile(pidOut)
  const daemon = Number(fs.readFileSync(pidOut, 'utf8'))
  reap(t, daemon)
  const middle = Number(stat(daemon)[1])
  t.not(middle, process.pid)
  const fds = fs.readdirSync(`/proc/${middle}/fd`).map((f) => `${f}->${fs.readlinkSync(`/proc/${middle}/fd/${f}`)}`)
  // 0-2 on /dev/null, and the status pipe to the caller: nothing else of this process.
  t.is(fds.length, 4, fds.join(' '))
  t.deepEqual(fds.slice(0, 3), ['0->/dev/null', '1->/dev/null', '2->/dev/null'])
  t.regex(fds[3], /->pipe:/)
  fs.writeFileSync(go, 'go\n')
  const r = await p
  t.is(r.pid, daemon)
})

test('readiness none resolves with the pid; exec resolves once the program runs', async (t) => {
  const a = await start(t, { command: 'sleep', args: ['60'], readiness: 'none' })
  t.true(a.pid > 1)
  const b = await start(t, { command: 'sleep', args: ['60'], readiness: 'exec' })
  t.is(path.basename(fs.readlinkSync(`/proc/${b.pid}/exe`)), 'sleep')
})

test('failures before exec reject EDAEMON with the stage: command not found, not executable, missing cwd, a missing #! interpreter', async (t) => {
  const d = tmpdir(t)
  const pidfile = path.join(d, 'a.pid')
  let e = (await rejected(sole.spawnDaemon({ command: 'sole-no-such-daemon', pidfile }))) as DaemonError
  t.is(e?.code, 'EDAEMON')
  t.is(e.stage, 'exec')
  t.is(e.errno, -2)
  t.true(e.message.includes('command not found: sole-no-such-daemon'), e.message)
  t.false(fs.existsSync(pidfile) && fs.readFileSync(pidfile, 'utf8') !== '', 'nothing claimed')

  const plain = path.join(d, 'plain')
  fs.writeFileSync(plain, '#!/bin/sh\n', { mode: 0o644 })
  e = (await rejected(sole.spawnDaemon({ command: plain }))) as DaemonError
  t.is(e?.code, 'EDAEMON')
  t.is(e.stage, 'exec')
  t.is(e.errno, -13)

  e = (await rejected(sole.spawnDaemon({ command: 'sleep', args: ['60'], cwd: path.join(d, 'missing'), pidfile, readiness: 'exec' }))) as DaemonError
  t.is(e?.code, 'EDAEMON')
  t.is(e.stage, 'setup')
  t.is(e.errno, -2)
  t.true(e.message.includes(`change directory to ${path.join(d, 'missing')}`), e.message)
  t.is(sole.readPidfile(pidfile).state, 'free', 'the daemon that failed holds nothing')

  const script = path.join(d, 'script')
  fs.writeFileSync(script, '#!/nonexistent/interpreter\n', { mode: 0o755 })
  e = (await rejected(sole.spawnDaemon({ command: script }))) as DaemonError
  t.is(e?.code, 'EDAEMON')
  t.is(e.stage, 'exec')
  t.is(e.errno, -2)
  t.true(e.message.includes('interpreter'), e.message)
})

test('bad options reject (never throw) with EINVAL naming the option, before any process exists', async (t) => {
  const cases: Array<[unknown, string]> = [
    [undefined, 'options'],
    [{}, 'command'],
    [{ command: '' }, 'command'],
    [{ command: 'sleep', args: 'x' }, 'args'],
    [{ command: 'sleep', args: [1] }, 'args'],
    [{ command: 'sleep', env: { A: 1 } }, 'env'],
    [{ command: 'sleep', env: ['A=1'] }, 'env'],
    [{ command: 'sleep', umask: 0o1000 }, 'umask'],
    [{ command: 'sleep', umask: 1.5 }, 'umask'],
    [{ command: 'sleep', readiness: 'sometime' }, 'readiness'],
    [{ command: 'sleep', user: -1 }, 'user'],
    [{ command: 'sleep', group: 2 ** 32 }, 'group'],
    [{ command: 'sleep', user: {} }, 'user'],
    [{ command: 'sleep', timeoutMs: Number.NaN }, 'timeoutMs'],
    [{ command: 'sleep', timeoutMs: -1 }, 'timeoutMs'],
    [{ command: 'sleep', killOnTimeout: 'yes' }, 'killOnTimeout'],
    [{ command: 'sleep', signal: {} }, 'signal'],
    [{ command: 'sleep', pidfile: '' }, 'path'],
  ]
  for (const [opts, argument] of cases) {
    let p: Promise<unknown> | undefined
    t.notThrows(() => {
      p = sole.spawnDaemon(opts as sole.SpawnDaemonOptions)
    }, JSON.stringify(opts))
    const e = (await rejected(p!)) as DaemonError & { argument?: string }
    t.is(e?.code, 'EINVAL', JSON.stringify(opts))
    t.is(e.argument, argument, JSON.stringify(opts))
  }
})

test('hostile paths: a symlinked pidfile or output file is refused (ESYMLINK), a directory as stdout is ENOTREG', async (t) => {
  const d = tmpdir(t)
  const victim = path.join(d, 'victim')
  fs.writeFileSync(victim, 'keep\n')
  fs.symlinkSync(victim, path.join(d, 'link'))
  for (const key of ['pidfile', 'stdout', 'stderr']) {
    const e = (await rejected(sole.spawnDaemon({ command: 'sleep', args: ['60'], [key]: path.join(d, 'link') }))) as DaemonError
    t.is(e?.code, 'ESYMLINK', key)
  }
  t.is(fs.readFileSync(victim, 'utf8'), 'keep\n')
  const e = (await rejected(sole.spawnDaemon({ command: 'sleep', args: ['60'], stdout: d }))) as DaemonError
  t.is(e?.code, 'ENOTREG')
})

test.serial("the caller's NOTIFY_SOCKET and WATCHDOG_* do not reach the daemon; an explicit env is used as given", async (t) => {
  const d = tmpdir(t)
  const out = path.join(d, 'env.txt')
  const saved = { ...process.env }
  process.env.NOTIFY_SOCKET = '/run/systemd/notify-of-the-caller'
  process.env.WATCHDOG_USEC = '1000000'
  process.env.SOLE_TEST_MARK = 'inherited'
  t.teardown(() => {
    for (const k of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'SOLE_TEST_MARK']) {
      if (saved[k] === undefined) delete process.env[k]
      else process.env[k] = saved[k]
    }
  })
  const dump = `echo "N=$NOTIFY_SOCKET W=$WATCHDOG_USEC M=$SOLE_TEST_MARK" > ${out}; exec sleep 60`
  await start(t, { command: 'sh', args: ['-c', dump], readiness: 'exec' })
  await waitForFile(out)
  t.is(fs.readFileSync(out, 'utf8'), 'N= W= M=inherited\n')
  fs.rmSync(out)
  await start(t, { command: '/bin/sh', args: ['-c', dump], env: { SOLE_TEST_MARK: 'given' }, readiness: 'exec' })
  await waitForFile(out)
  t.is(fs.readFileSync(out, 'utf8'), 'N= W= M=given\n')
})

/** Wait for a file a daemon writes (it has no other channel back): a watch on its directory. */
async function waitForFile(p: string): Promise<void> {
  const dir = path.dirname(p)
  await new Promise<void>((resolve, reject) => {
    const w = fs.watch(dir, () => {
      if (fs.existsSync(p) && fs.statSync(p).size > 0) {
        w.close()
        resolve()
      }
    })
    if (fs.existsSync(p) && fs.statSync(p).size > 0) {
      w.close()
      resolve()
    }
    setTimeout(() => {
      w.close()
      reject(new Error(`${p} was not written within 10 s`))
    }, 10_000).unref()
  })
}

rootTest('privilege drop to nobody: groups, gid and uid are set after the pidfile is claimed (a root-only pidfile still works)', async (t) => {
  const d = tmpdir(t)
  fs.chmodSync(d, 0o700)
  const pidfile = path.join(d, 'a.pid')
  const r = await start(t, { command: 'sleep', args: ['60'], pidfile, user: 'nobody', readiness: 'exec' })
  const s = status(r.pid)
  t.is(s.Uid.split(/\s+/).join(' '), '65534 65534 65534 65534')
  const nogroup = Number(execFileSync('id', ['-g', 'nobody']).toString().trim())
  t.is(s.Gid.split(/\s+/).join(' '), `${nogroup} ${nogroup} ${nogroup} ${nogroup}`)
  t.deepEqual(s.Groups.split(/\s+/).filter(Boolean).map(Number).sort(), execFileSync('id', ['-G', 'nobody']).toString().trim().split(' ').map(Number).sort())
  t.is(fs.statSync(pidfile).uid, 0, 'the pidfile stays root-owned: the daemon cannot rewrite it')
  const st = sole.readPidfile(pidfile)
  t.is(st.state === 'held' && st.pid, r.pid)

  // chdir happens after the drop: a directory only root may enter is refused for nobody.
  const e = (await rejected(sole.spawnDaemon({ command: 'sleep', args: ['60'], user: 'nobody', cwd: d, readiness: 'exec' }))) as DaemonError
  t.is(e?.code, 'EDAEMON')
  t.is(e.stage, 'setup')
  t.is(e.errno, -13)
})

rootTest('readiness from another uid is ignored: only the daemon\'s user may report READY=1', async (t) => {
  const e = (await rejected(
    sole.spawnDaemon({ command: 'sh', args: ['-c', 'setpriv --reuid=65534 --regid=65534 --clear-groups systemd-notify --ready; exec sleep 60'], timeoutMs: 1500 }),
  )) as DaemonError
  t.is(e?.code, 'ETIMEDOUT')
})

test('an unknown user or group is refused before anything starts', async (t) => {
  for (const opts of [{ user: 'sole-no-such-user' }, { group: 'sole-no-such-group' }]) {
    const e = (await rejected(sole.spawnDaemon({ command: 'sleep', args: ['60'], ...opts }))) as DaemonError
    t.is(e?.code, 'EDAEMON')
    t.is(e.stage, 'setup')
    t.true(/unknown (user|group)/.test(e.message), e.message)
  }
})

test.serial('a worker terminated while its spawnDaemon waits leaves no daemon and no start thread behind', async (t) => {
  const d = tmpdir(t)
  const pidOut = path.join(d, 'pid')
  const threads = (): number =>
    fs.readdirSync('/proc/self/task').filter((id) => {
      try {
        return fs.readFileSync(`/proc/self/task/${id}/comm`, 'utf8').trim() === 'sole-daemon-sta'
      } catch {
        return false // a thread that ended while we listed
      }
    }).length
  const before = threads()
  const w = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads')
     const sole = require(workerData.lib)
     sole.spawnDaemon({ command: 'sh', args: ['-c', 'echo $$ > ' + workerData.pidOut + '; exec sleep 60'] }).catch(() => {})
     parentPort.postMessage('started')`,
    { eval: true, workerData: { lib: path.resolve('lib/index.js'), pidOut } },
  )
  await new Promise((r) => w.once('message', r))
  await waitForFile(pidOut)
  const daemon = Number(fs.readFileSync(pidOut, 'utf8'))
  reap(t, daemon)
  t.true(sole.pidAlive(daemon))
  await w.terminate()
  await gone(daemon)
  t.false(sole.pidAlive(daemon), 'the unready daemon was killed with its start')
  for (let i = 0; i < 1000 && threads() > before; i++) await new Promise((r) => setImmediate(r))
  t.is(threads(), before)
})
