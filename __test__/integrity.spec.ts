// Integrity: filesystems where flock is no lock. A real FUSE mount (bindfs of a temp
// directory: FUSE's f_type, 0x65735546, as sshfs or any FUSE filesystem has) is where lock
// files and pidfiles are refused with EREMOTEFS unless the caller passes allowNetworkFs. NFS
// and the other network filesystems are covered by the table and its seam in
// crates/lock/src/fstype.rs (no NFS server here). Mounting needs root and bindfs (`.ci/run`
// installs it); without either the tests are real skips that say why.
import test, { type ExecutionContext } from 'ava'
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import { fileURLToPath } from 'node:url'

import * as sole from '../lib/index.js'
import { isRoot, rejected, thrown, tmpdir } from './helpers/index.js'

const SOLE_BIN = fileURLToPath(new URL('../bin/sole.js', import.meta.url))
const bindfs = spawnSync('bindfs', ['--version']).status === 0
const why = !isRoot ? 'not root (mounting FUSE needs it)' : !bindfs ? 'bindfs is not installed (apt-get install bindfs)' : ''
// Skipped (the title says why) where FUSE cannot be mounted; under CI, where `.ci/run` runs as
// root and installs bindfs, they run and fail if they cannot.
const fuseTest = (title: string, fn: (t: ExecutionContext) => Promise<void>): void =>
  why && !process.env.CI ? test.skip(`${title} (skipped: ${why})`, fn) : test(title, fn)

/** A bindfs mount of a fresh temp directory, unmounted when the test ends. */
function fuseMount(t: ExecutionContext): string {
  const src = tmpdir(t)
  const mnt = tmpdir(t)
  execFileSync('bindfs', [src, mnt])
  t.teardown(() => {
    if (spawnSync('fusermount', ['-u', mnt]).status !== 0) spawnSync('umount', ['-l', mnt])
  })
  const type = execFileSync('stat', ['-f', '-c', '%t', mnt], { encoding: 'utf8' }).trim()
  if (type !== '65735546') throw new Error(`bindfs mount ${mnt} has f_type ${type}, not FUSE's`)
  return mnt
}

function remote(t: ExecutionContext, e: unknown, p: string, what: string): void {
  const err = e as sole.SoleError & { filesystem?: string }
  t.is(err?.code, 'EREMOTEFS', `${what}: ${String(err?.message ?? err)}`)
  t.true(err instanceof Error, what)
  t.is(err.path, p, what)
  t.is(err.filesystem, 'FUSE', what)
  t.regex(err.message, /is on a FUSE filesystem \(statfs f_type 0x65735546\)/, what)
  t.regex(err.message, /allowNetworkFs: true/, what)
}

fuseTest('a lock file, pidfile, scope registry or instance directory on a FUSE mount is refused with EREMOTEFS naming the filesystem, by every call that opens one; nothing is locked', async (t) => {
  const mnt = fuseMount(t)
  const p = path.join(mnt, 'x.lock')
  remote(t, thrown(() => sole.tryLock(p)), p, 'tryLock')
  remote(t, thrown(() => sole.lockSync(p, { timeoutMs: 0 })), p, 'lockSync')
  remote(t, await rejected(sole.lock(p)), p, 'lock')
  remote(t, thrown(() => sole.openLockFile(p)), p, 'openLockFile')
  const pid = path.join(mnt, 'app.pid')
  remote(t, thrown(() => sole.claimPidfile(pid)), pid, 'claimPidfile')
  remote(t, await rejected(sole.claimPidfileWhenFree(pid)), pid, 'claimPidfileWhenFree')
  remote(t, thrown(() => sole.acquireDaemonLock(mnt)), path.join(mnt, 'daemon.lock'), 'acquireDaemonLock')
  const dpid = path.join(mnt, 'daemon.pid')
  const d = (await rejected(sole.spawnDaemon({ command: 'sleep', args: ['60'], pidfile: dpid, readiness: 'none' }))) as sole.SoleError
  remote(t, d, dpid, 'spawnDaemon pidfile')
  remote(t, thrown(() => sole.ScopeRegistry.open(path.join(mnt, 'scope.json'))), path.join(mnt, 'scope.json.lock'), 'ScopeRegistry.open')
  const inst = path.join(mnt, 'inst')
  fs.mkdirSync(inst, { mode: 0o700 })
  const i = thrown(() => sole.requestSingleInstanceSync('app', { dir: inst })) as sole.SoleError
  t.is(i?.code, 'EREMOTEFS', String(i?.message))
  t.is((await rejected(sole.requestSingleInstance('app', { dir: inst })) as sole.SoleError)?.code, 'EREMOTEFS')
  // A file a refused call created is left empty, with the mode asked for; nobody holds it.
  t.is(fs.statSync(p).size, 0)
  t.is(fs.statSync(p).mode & 0o777, 0o600)
  t.is(spawnSync('flock', ['-n', p, 'true']).status, 0, 'flock(1) takes it: sole holds nothing')
  t.is(fs.readFileSync(pid, 'utf8'), '', 'the pidfile was not written')
})

fuseTest('readPidfile and sole status name the network filesystem a pidfile is on; on a local one they say nothing of it', async (t) => {
  const mnt = fuseMount(t)
  const pid = path.join(mnt, 'app.pid')
  const c = sole.claimPidfile(pid, { allowNetworkFs: true })
  try {
    const r = sole.readPidfile(pid)
    t.is(r.state, 'held')
    t.is((r as { networkFs?: string }).networkFs, 'FUSE')
    const out = execFileSync(process.execPath, [SOLE_BIN, '--json', 'status', pid], { encoding: 'utf8' })
    t.is(JSON.parse(out).paths[0].networkFs, 'FUSE', out)
    const txt = execFileSync(process.execPath, [SOLE_BIN, 'status', pid], { encoding: 'utf8' })
    t.regex(txt, /on a FUSE filesystem: flock there may not be a lock every process sees/)
  } finally {
    c.release()
  }
  const local = path.join(tmpdir(t), 'app.pid')
  const l = sole.claimPidfile(local)
  t.false('networkFs' in sole.readPidfile(local))
  l.release()
})

fuseTest('allowNetworkFs: true locks, claims, opens the registry and becomes primary on a FUSE mount, and a local path never needed it', async (t) => {
  const mnt = fuseMount(t)
  const p = path.join(mnt, 'x.lock')
  const l = sole.tryLock(p, { allowNetworkFs: true })
  t.truthy(l)
  t.is(spawnSync('flock', ['-n', p, 'true']).status, 1, 'held: flock(1) is refused on the same host')
  l!.release()
  const h = sole.openLockFile(p, { allowNetworkFs: true })
  h.tryLock()!.release()
  h.close()
  const pid = path.join(mnt, 'app.pid')
  const c = sole.claimPidfile(pid, { allowNetworkFs: true })
  t.is(fs.readFileSync(pid, 'utf8'), `${process.pid}\n`)
  c.release()
  ;(await sole.lock(p, { allowNetworkFs: true })).release()
  const dpid = path.join(mnt, 'daemon.pid')
  const started = await sole.spawnDaemon({ command: 'sleep', args: ['60'], pidfile: dpid, readiness: 'exec', allowNetworkFs: true })
  t.teardown(() => {
    try {
      process.kill(started.pid, 'SIGKILL')
    } catch {
      // gone
    }
  })
  t.is(fs.readFileSync(dpid, 'utf8'), `${started.pid}\n`, 'the daemon claimed its pidfile on the mount')
  const reg = sole.ScopeRegistry.open(path.join(mnt, 'scope.json'), { allowNetworkFs: true })
  t.deepEqual(reg.list(), [])
  reg.close()
  const inst = path.join(mnt, 'inst')
  fs.mkdirSync(inst, { mode: 0o700 })
  const primary = sole.requestSingleInstanceSync('app', { dir: inst, allowNetworkFs: true })
  t.true(primary.primary)
  primary.release()
  const local = path.join(tmpdir(t), 'local.lock')
  const ll = sole.tryLock(local)
  t.truthy(ll)
  ll!.release()
})

test('allowNetworkFs must be a boolean (EINVAL naming it)', (t) => {
  const p = path.join(tmpdir(t), 'x.lock')
  const e = thrown(() => sole.tryLock(p, { allowNetworkFs: 'yes' as unknown as boolean })) as sole.SoleError & { argument?: string }
  t.is(e?.code, 'EINVAL')
  t.is(e.argument, 'allowNetworkFs')
  t.false(fs.existsSync(p), 'nothing created')
})
