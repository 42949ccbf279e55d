// `sole exec --pidfile P -- COMMAND` against real processes: the command keeps sole's pid and
// holds the pidfile (flock(1) and readPidfile from other processes agree), a second instance
// is refused, nothing Node changed leaks into the command (ignored signals, the signal mask,
// close-on-exec or non-blocking stdio, descriptors other than the pidfile's), and the failures
// before the exec (127, 126, held) leave no claim behind. Readiness is a line the command prints.
import test, { type ExecutionContext } from 'ava'
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import * as native from '../index.js'
import * as sole from '../lib/index.js'
import { firstLine } from './fixtures/children.mjs'
import { tmpdir } from './helpers/index.js'
import { run as runProgram, SOLE } from './helpers/operator.js'

const run = (file: string, args: readonly string[]) => runProgram(file, args, { stdin: 'pipe' })
const soleExec = (args: readonly string[], nodeArgs: readonly string[] = []) => run(process.execPath, [...nodeArgs, SOLE, 'exec', ...args])
const flockFree = (p: string) => spawnSync('flock', ['-n', p, 'true']).status === 0

/** `sole exec --pidfile p -- sh -c 'echo $$; read _'`: running until `stop()`. */
async function instance(t: ExecutionContext, p: string) {
  const c = spawn(process.execPath, [SOLE, 'exec', '--pidfile', p, '--', 'sh', '-c', 'echo $$; read _; echo bye'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)))
  t.teardown(() => c.kill('SIGKILL'))
  const printed = Number(await firstLine(c))
  return {
    child: c,
    pid: c.pid!,
    printed,
    stop: async () => {
      c.stdin!.end()
      return exited
    },
  }
}

test("the command keeps sole's pid and holds the pidfile until it exits", async (t) => {
  const p = path.join(tmpdir(t), 'app.pid')
  const i = await instance(t, p)
  t.is(i.printed, i.pid, 'same pid: sole became the command')
  t.is(fs.readFileSync(p, 'utf8'), `${i.printed}\n`)
  t.false(flockFree(p), 'flock(1) is refused while the command runs')
  const s = sole.readPidfile(p)
  t.is(s.state, 'held')
  if (s.state !== 'held') return
  t.is(s.pid, i.pid)
  t.true(s.locked)
  // The identity read from the holder is the exec'd program's, not node's.
  t.truthy(s.identity?.exePath)
  t.not(s.identity?.exePath, fs.realpathSync(process.execPath))
  t.regex(path.basename(s.identity!.exePath!), /sh$/)

  const second = await soleExec(['--pidfile', p, '--', 'sh', '-c', 'echo second'])
  t.is(second.code, 1)
  t.is(second.stdout, '', 'the second instance never runs')
  t.true(second.stderr.startsWith(`sole: already running as PID ${i.pid} (pidfile: ${p})`), second.stderr)
  const json = await soleExec(['--json', '--pidfile', p, 'true'])
  t.is(json.code, 1)
  t.deepEqual(JSON.parse(json.stdout), {
    error: { code: 'EHELD', message: json.stderr.slice('sole: '.length, -1), path: p, pid: i.pid },
  })

  t.is(await i.stop(), 0)
  t.true(flockFree(p), 'the lock ends with the command')
  // The file still names the command's pid: free, and why.
  const after = sole.readPidfile(p)
  t.like(after, { state: 'free', stalePid: i.pid })
  t.true(after.state === 'free' && (after.reason === 'exited' || after.reason === 'not-locked'), JSON.stringify(after))
  const again = await soleExec(['--pidfile', p, 'sh', '-c', 'echo $$'])
  t.is(again.code, 0)
  t.regex(again.stdout, /^\d+\n$/)
})

test('a pidfile held by flock(1): exit 1 naming the holder', async (t) => {
  const p = path.join(tmpdir(t), 'app.pid')
  const h = spawn('flock', [p, 'sh', '-c', 'echo held; read _'], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => h.stdin!.end())
  t.is(await firstLine(h), 'held')
  const r = await soleExec(['--pidfile', p, 'sh', '-c', 'echo ran'])
  t.is(r.code, 1)
  t.is(r.stdout, '')
  t.regex(r.stderr, new RegExp(`^sole: already running as PID ${h.pid} \\(pidfile: ${p}\\)`))
})

/** The `Sig*` lines of /proc/self/status of `command` run directly and run through sole exec. */
async function signalState(t: ExecutionContext, nodeArgs: string[] = []) {
  const p = path.join(tmpdir(t), 'app.pid')
  const grep = ['grep', '-E', '^Sig(Blk|Ign)', '/proc/self/status']
  const viaSole = await soleExec(['--pidfile', p, '--', ...grep], nodeArgs)
  const direct = spawnSync(grep[0], grep.slice(1), { encoding: 'utf8' }).stdout
  return { viaSole, direct }
}

test('the command starts with default dispositions and no blocked signal (Node ignores SIGPIPE)', async (t) => {
  // Node itself ignores SIGPIPE and SIGXFSZ: the reset below is needed.
  const nodeIgn = spawnSync(process.execPath, ['-e', "process.stdout.write(require('fs').readFileSync('/proc/self/status','utf8'))"], {
    encoding: 'utf8',
  }).stdout.match(/^SigIgn:\s*([0-9a-f]+)$/m)![1]
  t.not(BigInt(`0x${nodeIgn}`) & (1n << 12n), 0n, 'node ignores SIGPIPE (13)')
  const { viaSole, direct } = await signalState(t)
  t.is(viaSole.code, 0, viaSole.stderr)
  const ign = viaSole.stdout.match(/^SigIgn:\s*([0-9a-f]+)$/m)![1]
  t.is(BigInt(`0x${ign}`) & ((1n << 12n) | (1n << 24n)), 0n, 'SIGPIPE and SIGXFSZ are default')
  // Exactly what a program started directly (by spawn, which resets them) gets.
  t.is(viaSole.stdout, direct)
})

test('the command gets stdio open and blocking, and no descriptor but the pidfile added', async (t) => {
  const d = tmpdir(t)
  const p = path.join(d, 'app.pid')
  // A preload that makes Node take over its stdio (non-blocking pipes), as a CLI that printed
  // something before the exec would.
  const touch = path.join(d, 'touch.cjs')
  fs.writeFileSync(touch, 'process.stdin; process.stdout; process.stderr\n')
  const flagsOf = (text: string) =>
    [...text.matchAll(/^flags:\s*([0-7]+)$/gm)].map((m) => Number.parseInt(m[1], 8))
  const O_NONBLOCK = 0o4000
  const O_CLOEXEC = 0o2000000
  // Without the reset, a preloaded node's stdio is non-blocking and close-on-exec.
  const nodeFlags = flagsOf(
    spawnSync(process.execPath, ['-r', touch, '-e', "for (const f of [0,1,2]) process.stdout.write(require('fs').readFileSync('/proc/self/fdinfo/'+f,'utf8'))"], {
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    }).stdout,
  )
  t.true(nodeFlags.some((f) => (f & O_NONBLOCK) !== 0), 'node made a stdio pipe non-blocking')
  t.true(nodeFlags.some((f) => (f & O_CLOEXEC) !== 0), 'node made a stdio descriptor close-on-exec')

  const r = await soleExec(['--pidfile', p, 'sh', '-c', 'cat /proc/$$/fdinfo/0 /proc/$$/fdinfo/1 /proc/$$/fdinfo/2'], ['-r', touch])
  t.is(r.code, 0, r.stderr)
  const flags = flagsOf(r.stdout)
  t.is(flags.length, 3, 'stdin, stdout and stderr all reached the command')
  for (const f of flags) t.is(f & O_NONBLOCK, 0, 'blocking')

  // Descriptors: what a program started directly gets, plus the pidfile's, nothing else.
  const fds = (text: string) =>
    new Map([...text.matchAll(/ (\d+) -> (.*)$/gm)].map((m) => [Number(m[1]), m[2]] as [number, string]))
  const ls = ['ls', '-l', '/proc/self/fd']
  const direct = fds((await run(ls[0], ls.slice(1))).stdout)
  const viaSole = fds((await soleExec(['--pidfile', p, '--', ...ls], ['-r', touch])).stdout)
  const added = [...viaSole].filter(([fd]) => !direct.has(fd))
  t.deepEqual(
    added.map(([, target]) => target),
    [p],
    `only the pidfile's descriptor is added: ${JSON.stringify([...viaSole])}`,
  )
  for (const fd of [0, 1, 2]) t.true(viaSole.has(fd), `fd ${fd} is open`)
})

test('command not found: 127, not executable: 126, and the pidfile is never touched', async (t) => {
  const d = tmpdir(t)
  const p = path.join(d, 'app.pid')
  const nf = await soleExec(['--pidfile', p, 'sole-no-such-command-xyz', 'a'])
  t.is(nf.code, 127)
  t.regex(nf.stderr, /^sole: command not found: sole-no-such-command-xyz \(searched PATH=/)
  const script = path.join(d, 'script.sh')
  fs.writeFileSync(script, '#!/bin/sh\necho ran\n', { mode: 0o644 })
  const ne = await soleExec(['--json', '--pidfile', p, script])
  t.is(ne.code, 126)
  t.regex(ne.stderr, /^sole: cannot execute .*script\.sh.*: permission denied, it has no execute permission/)
  const err = JSON.parse(ne.stdout).error
  t.deepEqual(err, { code: 'EACCES', message: ne.stderr.slice('sole: '.length, -1), path: script })
  t.false(fs.existsSync(p), 'a command that cannot run never claims the pidfile')
  // A runnable script ran the same way (the ENOEXEC fallback to /bin/sh too).
  fs.chmodSync(script, 0o755)
  const ok = await soleExec(['--pidfile', p, script])
  t.deepEqual([ok.code, ok.stdout], [0, 'ran\n'])
  const noShebang = path.join(d, 'plain')
  fs.writeFileSync(noShebang, 'echo plain $1\n', { mode: 0o755 })
  const plain = await soleExec(['--pidfile', p, noShebang, 'arg'])
  t.deepEqual([plain.code, plain.stdout], [0, 'plain arg\n'])
})

test('execve failing after the claim: 126, and the claim is released (file emptied)', async (t) => {
  const d = tmpdir(t)
  const p = path.join(d, 'app.pid')
  const bad = path.join(d, 'bad')
  // Executable, so the lookup accepts it; the kernel refuses it (its interpreter is missing).
  fs.writeFileSync(bad, '#!/nonexistent/interpreter\n', { mode: 0o755 })
  const r = await soleExec(['--pidfile', p, bad])
  t.is(r.code, 126)
  t.regex(r.stderr, new RegExp(`the pidfile ${p} was released\\.`))
  t.is(fs.readFileSync(p, 'utf8'), '', 'released: emptied, never unlinked')
  t.true(flockFree(p))
})

test('usage errors exit 2 with a message; --help exits 0', async (t) => {
  const noPidfile = await soleExec(['true'])
  t.deepEqual([noPidfile.code, noPidfile.stderr], [2, 'sole: --pidfile PATH is required (see sole exec --help)\n'])
  const noCommand = await soleExec(['--pidfile', 'x.pid'])
  t.is(noCommand.code, 2)
  t.regex(noCommand.stderr, /^sole: a COMMAND to run holding the pidfile x\.pid is required/)
  const unknown = await soleExec(['--bogus'])
  t.is(unknown.code, 2)
  const missingDir = await soleExec(['--pidfile', path.join(tmpdir(t), 'no', 'app.pid'), 'true'])
  t.is(missingDir.code, 2)
  t.regex(missingDir.stderr, /pass --create-dirs/)
  // A symlink is never followed to a file we would lock and write (O_NOFOLLOW).
  const d = tmpdir(t)
  const target = path.join(d, 'target')
  fs.writeFileSync(target, 'keep\n')
  fs.symlinkSync(target, path.join(d, 'link.pid'))
  const link = await soleExec(['--pidfile', path.join(d, 'link.pid'), 'sh', '-c', 'echo ran'])
  t.deepEqual([link.code, link.stdout], [2, ''])
  t.regex(link.stderr, /^sole: .*link\.pid.*symbolic link/i)
  t.is(fs.readFileSync(target, 'utf8'), 'keep\n')
  const h = await soleExec(['--help'])
  t.is(h.code, 0)
  for (const s of ['--pidfile', '126', '127', 'already running as PID N']) t.true(h.stdout.includes(s), s)
})

test('the internal exec exports refuse wrong arguments with EINVAL, before touching anything', (t) => {
  // Only wrong calls here: a right one would replace this test process.
  const p = path.join(tmpdir(t), 'app.pid')
  const codeAndArgument = (f: () => unknown) => {
    try {
      f()
    } catch (e) {
      const err = e as { code?: string; argument?: string }
      return [err.code, err.argument]
    }
    return undefined
  }
  const bad = [undefined, 'sh', 42, {}, [1], ['sh', null]]
  for (const command of bad) {
    t.deepEqual(codeAndArgument(() => native.execWithPidfile(p, command as string[])), ['EINVAL', 'command'], String(command))
    t.deepEqual(codeAndArgument(() => native.execAsChildOf(process.ppid, command as string[])), ['EINVAL', 'command'], String(command))
  }
  t.deepEqual(codeAndArgument(() => native.execWithPidfile(p, [])), ['EINVAL', 'command'])
  // A command that cannot be found: even a wrong order of checks could not exec anything.
  const none = ['sole-no-such-command-xyz']
  t.deepEqual(codeAndArgument(() => native.execWithPidfile(42 as unknown as string, none)), ['EINVAL', 'path'])
  t.deepEqual(codeAndArgument(() => native.execWithPidfile(p, none, 'x' as never)), ['EINVAL', 'options'])
  t.is(codeAndArgument(() => native.execAsChildOf('1' as unknown as number, none))?.[0], 'EINVALIDPID')
  t.is(codeAndArgument(() => native.execAsChildOf(0, none))?.[0], 'EINVALIDPID')
  t.false(fs.existsSync(p), 'nothing was claimed')
})
