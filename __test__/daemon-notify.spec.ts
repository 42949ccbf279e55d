// The daemon's side of sd_notify (`notify`, `daemonReady`, `watchdogIntervalMs`) against
// supervisors and receivers nobody here wrote: Debian's `start-stop-daemon --notify-await`
// (returns 0 only after READY=1, fails on ERRNO= and when the daemon never gets ready) and
// python3's socket module (SO_PASSCRED: the kernel's word on who sent the datagram). Real
// processes; the daemons are `fixtures/daemon/notify-daemon.mjs`.
import test, { type ExecutionContext } from 'ava'
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import * as sole from '../lib/index.js'
import { thrown, tmpdir } from './helpers/index.js'
import { ROOT, run } from './helpers/operator.js'

const FIXTURE = path.join(ROOT, '__test__', 'fixtures', 'daemon', 'notify-daemon.mjs')
const RECEIVER = path.join(ROOT, '__test__', 'fixtures', 'daemon', 'receiver.py')

const which = (cmd: string): string | null => {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : null
}
const SSD = which('start-stop-daemon')
const PYTHON = which('python3')
const ssdTest = SSD ? test : test.skip
const pyTest = PYTHON ? test : test.skip
if (!SSD) test('start-stop-daemon is not installed: its interoperability tests are skipped', (t) => t.log('install dpkg (Debian) for them'))
if (!PYTHON) test('python3 is not installed: the independent receiver tests are skipped', (t) => t.log('install python3 for them'))

/** Kill a daemon (by the pid it wrote) at teardown, if it runs. */
function reap(t: ExecutionContext, pidOf: () => number | null): void {
  t.teardown(() => {
    const pid = pidOf()
    if (pid === null) return
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Already gone.
    }
  })
}

/** `start-stop-daemon --start --background --notify-await` of the fixture in `mode`. */
function startStopDaemon(pidfile: string, mode: string, extra: string[], notifyTimeoutSecs: number) {
  const args = ['--start', '--background', '--notify-await', '--notify-timeout', String(notifyTimeoutSecs), '--pidfile', pidfile, '--exec', process.execPath, '--', FIXTURE, mode, ...extra]
  // NOTIFY_SOCKET of our own environment (if the test runs under systemd) must not leak in:
  // start-stop-daemon sets its own.
  const env = { ...process.env }
  delete env.NOTIFY_SOCKET
  return run(SSD as string, args, { env })
}

ssdTest('start-stop-daemon --notify-await returns 0 only after the daemon called daemonReady()', async (t) => {
  const dir = tmpdir(t)
  const marker = path.join(dir, 'started')
  const pidfile = path.join(dir, 'app.pid')
  reap(t, () => (fs.existsSync(marker) ? Number(fs.readFileSync(marker, 'utf8')) : null))
  const r = await startStopDaemon(pidfile, 'ready', ['--marker', marker, '--pidfile', pidfile, '--delay', '400'], 20)
  t.is(r.code, 0, r.stderr)
  // The daemon writes the marker 400 ms into its start-up, just before READY=1: a supervisor
  // that returned without waiting would find no marker (and would have taken < 400 ms).
  t.true(fs.existsSync(marker), 'start-stop-daemon returned before the daemon was ready')
  t.true(r.ms >= 400, `returned after ${r.ms} ms`)
  const pid = Number(fs.readFileSync(marker, 'utf8'))
  // It is running, detached (start-stop-daemon's own double fork), and holds its pidfile.
  const held = sole.readPidfile(pidfile)
  t.like(held, { state: 'held', pid })
  // The verified holder is what stopDaemon stops.
  const stopped = await sole.stopDaemon(pidfile, { timeoutMs: 5000 })
  t.like(stopped, { pid, outcome: 'terminated' })
  t.is(sole.readPidfile(pidfile).state, 'free')
})

ssdTest('ERRNO= makes start-stop-daemon fail at once ("program failed to initialize")', async (t) => {
  const pidfile = path.join(tmpdir(t), 'app.pid')
  // A long notify timeout: the failure must come from ERRNO=, not from waiting it out.
  const r = await startStopDaemon(pidfile, 'errno', [], 30)
  t.not(r.code, 0)
  t.regex(r.stderr, /failed to initialize \(Input\/output error\)/, 'ERRNO=5 is EIO')
  t.true(r.ms < 20_000, `failed after ${r.ms} ms, not at the timeout`)
})

ssdTest('a daemon that exits before it is ready never makes start-stop-daemon succeed', async (t) => {
  const pidfile = path.join(tmpdir(t), 'app.pid')
  // start-stop-daemon does not watch the daemon's exit: it fails when its notify wait ends.
  const r = await startStopDaemon(pidfile, 'exit3', [], 1)
  t.not(r.code, 0)
  t.regex(r.stderr, /timed out waiting for a notification/)
})

/**
 * A python3 receiver bound at `address` (resolves once it printed "bound"); `messages`: the
 * `count` datagrams it then receives.
 */
async function receiver(t: ExecutionContext, address: string, count: number) {
  const py = spawn(PYTHON as string, [RECEIVER, address, String(count)], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => {
    py.kill('SIGKILL')
  })
  const lines: string[] = []
  let buf = ''
  const done = new Promise<{ text: string; cred: { pid: number; uid: number; gid: number } | null }[]>((resolve, reject) => {
    py.once('exit', (code) => {
      if (code !== 0) reject(new Error(`receiver exited ${code}`))
      else resolve(lines.slice(1).map((l) => JSON.parse(l)))
    })
  })
  const bound = new Promise<void>((resolve, reject) => {
    py.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d
      let i
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, i))
        buf = buf.slice(i + 1)
        if (lines.length === 1) {
          if (lines[0] === 'bound') resolve()
          else reject(new Error(`receiver said ${lines[0]}`))
        }
      }
    })
    py.once('exit', () => reject(new Error('receiver exited before it was bound')))
  })
  done.catch(() => undefined) // awaited by the test through `messages`; never unhandled
  await bound
  return { messages: done }
}

/** Run `code` in a fresh node (sole loaded as `sole`) with `env`; its stdout. */
async function inNode(code: string, env: Record<string, string | undefined>) {
  const full = { ...process.env, ...env }
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete full[k]
  const r = await run(process.execPath, ['-e', `const sole = require(${JSON.stringify(path.join(ROOT, 'lib', 'index.js'))});\n${code}`], { env: full as NodeJS.ProcessEnv })
  if (r.code !== 0) throw new Error(`node exited ${r.code}: ${r.stderr}`)
  return r.stdout
}

for (const [name, address] of [
  ['a socket path', (dir: string) => path.join(dir, 'notify')],
  ['an abstract socket (@name)', () => `@sole-test-${process.pid}-${Date.now()}`],
] as const) {
  pyTest(`python3's receiver on ${name} gets READY=1 and STATUS=, sent with the sender's pid`, async (t) => {
    const addr = address(tmpdir(t))
    const { messages } = await receiver(t, addr, 2)
    const out = await inNode(
      `const a = sole.notify({ ready: true, status: 'serving on :8080' })
       const b = sole.notify({ watchdog: 'trigger', extendTimeoutUs: 5000000, mainpid: process.pid, stopping: true, errno: 0 })
       console.log(JSON.stringify({ pid: process.pid, uid: process.getuid(), a, b }))`,
      { NOTIFY_SOCKET: addr },
    )
    const sender = JSON.parse(out) as { pid: number; uid: number; a: boolean; b: boolean }
    t.true(sender.a && sender.b, 'notify() says it sent')
    const [first, second] = await messages
    t.deepEqual(first.text.split('\n').filter(Boolean).sort(), ['READY=1', 'STATUS=serving on :8080'])
    t.deepEqual(
      second.text.split('\n').filter(Boolean).sort(),
      ['ERRNO=0', 'EXTEND_TIMEOUT_USEC=5000000', `MAINPID=${sender.pid}`, 'STOPPING=1', 'WATCHDOG=trigger'],
    )
    // The kernel's credentials, not anything the sender wrote: its pid and uid.
    t.like(first.cred, { pid: sender.pid, uid: sender.uid })
    t.like(second.cred, { pid: sender.pid, uid: sender.uid })
  })
}

pyTest('daemonReady() sends exactly READY=1', async (t) => {
  const addr = path.join(tmpdir(t), 'notify')
  const { messages } = await receiver(t, addr, 1)
  const out = await inNode('console.log(sole.daemonReady())', { NOTIFY_SOCKET: addr })
  t.is(out, 'true\n')
  const [m] = await messages
  t.deepEqual(m.text.split('\n').filter(Boolean), ['READY=1'])
})

test('NOTIFY_SOCKET unset or empty: notify() and daemonReady() return false and send nothing', async (t) => {
  t.is(await inNode("console.log(sole.notify({ ready: true, status: 'x' }), sole.daemonReady())", { NOTIFY_SOCKET: undefined }), 'false false\n')
  t.is(await inNode('console.log(sole.notify({ ready: true }), sole.daemonReady())', { NOTIFY_SOCKET: '' }), 'false false\n')
})

test('a NOTIFY_SOCKET nobody listens on any more (removed, or closed): false, not an error', async (t) => {
  // spawnDaemon removes its socket once the daemon is ready: a later notify({ stopping: true })
  // in the daemon's shutdown path must not throw.
  const dir = tmpdir(t)
  const gone = path.join(dir, 'removed')
  t.is(await inNode('console.log(sole.notify({ stopping: true }))', { NOTIFY_SOCKET: gone }), 'false\n')
  // A socket file whose receiver exited (ECONNREFUSED): python binds it, then exits.
  if (PYTHON) {
    const closed = path.join(dir, 'closed')
    const py = await run(PYTHON, ['-c', `import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(${JSON.stringify(closed)})`])
    t.is(py.code, 0, py.stderr)
    t.true(fs.existsSync(closed))
    t.is(await inNode('console.log(sole.notify({ stopping: true }))', { NOTIFY_SOCKET: closed }), 'false\n')
  }
  // A path that cannot name a socket (a plain file used as a directory) is still an error,
  // naming it: that is a misconfiguration, not a listener that went away.
  const file = path.join(dir, 'plain-file')
  fs.writeFileSync(file, '')
  const bad = path.join(file, 'notify')
  const out = await inNode(
    `try { console.log(JSON.stringify({ returned: sole.notify({ ready: true }) })) } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`,
    { NOTIFY_SOCKET: bad },
  )
  const e = JSON.parse(out) as { code?: string; message?: string; returned?: boolean }
  t.is(e.code, 'ENOTDIR', out)
  t.true(e.message?.includes(bad), e.message)
})

test('watchdogIntervalMs(): WATCHDOG_USEC in ms, only for this process (WATCHDOG_PID)', async (t) => {
  const ask = (env: Record<string, string | undefined>) => inNode('console.log(JSON.stringify(sole.watchdogIntervalMs()))', { WATCHDOG_USEC: undefined, WATCHDOG_PID: undefined, ...env })
  t.is(await ask({}), 'null\n')
  t.is(await ask({ WATCHDOG_USEC: '500000' }), '500\n')
  t.is(await ask({ WATCHDOG_USEC: '1500' }), '1.5\n')
  // Meant for another process (a parent that exec'd us, say): not ours to honour.
  t.is(await ask({ WATCHDOG_USEC: '500000', WATCHDOG_PID: '1' }), 'null\n')
  t.is(await ask({ WATCHDOG_USEC: 'soon' }), 'null\n')
  // WATCHDOG_PID naming this very process (set by the process itself: its pid is not known
  // before it starts; Node's process.env writes the real environment).
  const self = await inNode('process.env.WATCHDOG_PID = String(process.pid); console.log(JSON.stringify(sole.watchdogIntervalMs()))', { WATCHDOG_USEC: '250000', WATCHDOG_PID: undefined })
  t.is(self, '250\n')
})

test('bad arguments: EINVAL naming the field (or EINVALIDPID), checked before anything is sent', (t) => {
  const cases: [unknown, string, string][] = [
    [undefined, 'EINVAL', 'fields'],
    [null, 'EINVAL', 'fields'],
    ['READY=1', 'EINVAL', 'fields'],
    [{ redy: true }, 'EINVAL', 'redy'],
    [{ ready: true, extra: 1 }, 'EINVAL', 'extra'],
    [{ ready: 'yes' }, 'EINVAL', 'ready'],
    [{ ready: 1 }, 'EINVAL', 'ready'],
    [{ status: 42 }, 'EINVAL', 'status'],
    [{ status: 'two\nlines' }, 'EINVAL', 'status'],
    [{ stopping: 'true' }, 'EINVAL', 'stopping'],
    [{ reloading: 1 }, 'EINVAL', 'reloading'],
    [{ watchdog: 'ping' }, 'EINVAL', 'watchdog'],
    [{ watchdog: 1 }, 'EINVAL', 'watchdog'],
    [{ errno: 1.5 }, 'EINVAL', 'errno'],
    [{ errno: -1 }, 'EINVAL', 'errno'],
    [{ errno: 4096 }, 'EINVAL', 'errno'],
    [{ errno: '5' }, 'EINVAL', 'errno'],
    [{ extendTimeoutUs: -1 }, 'EINVAL', 'extendTimeoutUs'],
    [{ extendTimeoutUs: 0.5 }, 'EINVAL', 'extendTimeoutUs'],
    [{ extendTimeoutUs: Number.NaN }, 'EINVAL', 'extendTimeoutUs'],
  ]
  for (const [fields, code, argument] of cases) {
    const e = thrown(() => sole.notify(fields as sole.NotifyFields)) as sole.SoleError | undefined
    t.is(e?.code, code, `${JSON.stringify(fields)}`)
    t.is(e?.argument, argument, `${JSON.stringify(fields)}: ${e?.message}`)
  }
  for (const mainpid of [0, -1, 1.5, '42']) {
    const e = thrown(() => sole.notify({ mainpid } as unknown as sole.NotifyFields)) as sole.SoleError | undefined
    t.is(e?.code, 'EINVALIDPID', String(mainpid))
  }
  // A getter that throws: the caller's own exception, unchanged.
  const own = new Error('mine')
  t.is(
    thrown(() =>
      sole.notify({
        get ready(): boolean {
          throw own
        },
      }),
    ),
    own,
  )
  // Valid but nobody listens here (NOTIFY_SOCKET is unset in the test runner): false.
  const saved = process.env.NOTIFY_SOCKET
  delete process.env.NOTIFY_SOCKET
  try {
    t.false(sole.notify({ ready: true, status: 'ok', watchdog: true, errno: 0 }))
    t.false(sole.notify({ ready: false, status: null, watchdog: 'trigger' } as unknown as sole.NotifyFields))
  } finally {
    if (saved !== undefined) process.env.NOTIFY_SOCKET = saved
  }
})

pyTest('a refused field sends nothing, even with a receiver listening', async (t) => {
  const addr = path.join(tmpdir(t), 'notify')
  const { messages } = await receiver(t, addr, 1)
  const out = await inNode(
    `let refused = ''
     try { sole.notify({ ready: true, redy: true }) } catch (e) { refused = e.code + ' ' + e.argument }
     try { sole.notify({ ready: true, status: 'a\\nb' }) } catch (e) { refused += ', ' + e.code + ' ' + e.argument }
     sole.notify({ status: 'the only datagram' })
     console.log(refused)`,
    { NOTIFY_SOCKET: addr },
  )
  t.is(out, 'EINVAL redy, EINVAL status\n')
  // The receiver's one datagram is the valid one: the refused calls sent nothing.
  const [m] = await messages
  t.is(m.text.trim(), 'STATUS=the only datagram')
})
