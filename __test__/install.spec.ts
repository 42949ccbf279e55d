// The package as a user gets it: `scripts/pack.mjs` writes the two tarballs into a temp dir,
// and a fresh temp project installs them offline (`--offline`, an unreachable registry and an
// empty npm cache: nothing can come from the network). There, as that project would use it:
// require and import, TypeScript consumers compiled against the shipped typings, the addon in
// four worker threads at once, `npx sole --version`; and the errors on another machine
// (`process.platform` / `process.arch` / the libc made another machine's by a preload) and
// without the platform package (a real install with --omit=optional). One install, shared by
// the tests (serial); everything runs in the temp dir, so where this checkout lives (and who can
// read it) does not matter.
import test from 'ava'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
const PLATFORM_PACKAGE = 'sole-linux-x64-gnu'
const WASM_PACKAGE = 'sole-wasm32-wasip1'
/** Whether this checkout has the WebAssembly build (scripts/build-wasm.mjs), so the pack script packs it. */
const WASM_BUILT = fs.existsSync(path.join(ROOT, 'sole.wasm32-wasip1.wasm'))
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Run a command to its end. The environment drops the `npm_*` variables `npm test` sets, so
 * the outer npm's configuration never reaches the npm under test.
 */
function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)))
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, env: { ...clean, ...env }, maxBuffer: 64 << 20, timeout: 300_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err)
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr })
    })
  })
}

/** Like {@link run}, but a non-zero exit throws with everything the command printed. */
async function ok(cmd: string, args: string[], cwd: string, env?: Record<string, string>): Promise<string> {
  const r = await run(cmd, args, cwd, env)
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.code}\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

/** npm with no registry, no network, a cold cache of its own and no user or global npmrc. */
function offline(tmp: string): string[] {
  for (const f of ['user-npmrc', 'global-npmrc']) fs.writeFileSync(path.join(tmp, f), '')
  return ['--offline', '--registry=http://127.0.0.1:9', `--cache=${path.join(tmp, 'npm-cache')}`, `--userconfig=${path.join(tmp, 'user-npmrc')}`, `--globalconfig=${path.join(tmp, 'global-npmrc')}`, '--audit=false', '--fund=false', '--update-notifier=false']
}

/** A fresh project with `package.json` and the given files; `npm install` of `tarballs`. */
async function project(tmp: string, name: string, tarballs: string[], extra: string[] = []): Promise<string> {
  const dir = path.join(tmp, name)
  fs.mkdirSync(dir)
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }))
  await ok('npm', ['install', ...offline(tmp), ...extra, ...tarballs], dir)
  return dir
}

interface Installed {
  tmp: string
  /** The project with both tarballs installed. */
  full: string
  /** The project installed with --omit=optional: sole without its platform package. */
  bare: string
  tarballs: string[]
  /** `git status --porcelain` of the checkout before and after the pack script, when it is a git checkout. */
  gitStatus?: { before: string; after: string }
}

let installed: Installed | undefined
/** The temp dir of everything below, removed after the tests (also when the setup failed). */
let tmpRoot: string | undefined

test.before(async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sole-install-'))
  tmpRoot = tmp
  const dist = path.join(tmp, 'dist')
  const status = async () => {
    const r = await run('git', ['status', '--porcelain', '--untracked-files=all'], ROOT).catch(() => undefined) // no git: not checked
    return r?.code === 0 ? r.stdout : undefined
  }
  const before = await status()
  const printed = await ok(process.execPath, [path.join(ROOT, 'scripts', 'pack.mjs'), dist], ROOT)
  const after = await status()
  const tarballs = printed.trim().split('\n')
  const main = path.join(dist, `sole-${VERSION}.tgz`)
  const platform = path.join(dist, `${PLATFORM_PACKAGE}-${VERSION}.tgz`)
  const [full, bare] = await Promise.all([
    project(tmp, 'consumer', [main, platform]),
    project(tmp, 'consumer-omit-optional', [main], ['--omit=optional']),
  ])
  installed = { tmp, full, bare, tarballs, gitStatus: before === undefined || after === undefined ? undefined : { before, after } }
})

test.after.always(() => {
  if (tmpRoot) fs.rmSync(tmpRoot, { recursive: true, force: true })
})

function write(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
    fs.writeFileSync(path.join(dir, name), text)
  }
}

/** A strict TypeScript consumer of the shipped typings (no skipLibCheck: they must compile). */
const CONSUMER_TS = `import { tryLock, type Lock, type SoleError, type SoleErrorCode } from 'sole'

const path: string = process.argv[2]
const lock: Lock | null = tryLock(path)
if (lock === null) throw new Error('the lock was not free')
const second: Lock | null = tryLock(lock.path, { shared: false })
const refused: SoleErrorCode = 'ENOTSUP'
const e: SoleError | undefined = undefined
lock.release()
console.log(JSON.stringify({ path: lock.path, held: second !== null, released: lock.released, refused, e: e ?? null }))
`

function tsconfig(module: string, file: string): string {
  return JSON.stringify({
    compilerOptions: {
      module,
      ...(module === 'commonjs' ? { moduleResolution: 'node10' } : {}),
      target: 'es2022',
      strict: true,
      skipLibCheck: false,
      typeRoots: [path.join(ROOT, 'node_modules', '@types')],
      types: ['node'],
      outDir: 'out',
    },
    files: [file],
  })
}

test.serial('the packed tarballs install offline, and the installed sole works from CJS, ESM, TypeScript, worker threads and npx (sole --version, sole status)', async (t) => {
  const { full, tarballs, gitStatus } = installed!
  const wasm = WASM_BUILT ? [`${WASM_PACKAGE}-${VERSION}.tgz`] : []
  t.deepEqual(tarballs.map((f) => path.basename(f)).sort(), [`sole-${VERSION}.tgz`, `${PLATFORM_PACKAGE}-${VERSION}.tgz`, ...wasm].sort())
  // The pack script leaves the checkout as it found it (it works in a staging copy).
  if (gitStatus) t.is(gitStatus.after, gitStatus.before, 'the pack script changed files in the checkout')
  else t.log('not a git checkout: whether the pack script leaves the working tree unchanged is not checked')

  // What was installed: sole and its platform package, nothing else; no runtime dependencies,
  // the platform packages named (exact version) as optional ones (the WebAssembly one, whose
  // cpu is wasm32, is not installed here, and offline npm skips it quietly).
  const modules = fs.readdirSync(path.join(full, 'node_modules')).filter((f) => !f.startsWith('.'))
  t.deepEqual(modules.sort(), ['sole', PLATFORM_PACKAGE])
  const manifest = JSON.parse(fs.readFileSync(path.join(full, 'node_modules', 'sole', 'package.json'), 'utf8'))
  t.is(manifest.dependencies, undefined)
  t.deepEqual(manifest.optionalDependencies, { [PLATFORM_PACKAGE]: VERSION, ...(WASM_BUILT ? { [WASM_PACKAGE]: VERSION } : {}) })
  t.false(fs.existsSync(path.join(full, 'node_modules', 'sole', 'lib', 'index.ts')), 'the TypeScript sources are not shipped')
  t.true(fs.existsSync(path.join(full, 'node_modules', PLATFORM_PACKAGE, 'sole.linux-x64-gnu.node')))
  t.deepEqual(fs.readdirSync(path.join(full, 'node_modules', 'sole')).filter((f) => f.endsWith('.node')), [], 'the addon is in the platform package only')

  write(full, {
    // CommonJS: a real lock on a real file, refused to a second open file description.
    'cjs.cjs': `const sole = require('sole')
const l = sole.tryLock(process.argv[2])
const again = sole.tryLock(process.argv[2])
console.log(JSON.stringify({ path: l.path, again, loadedFrom: require.resolve('sole') }))
l.release()
`,
    // ESM: named imports, and the same names as require() sees (Node's CommonJS named-export
    // detection of the compiled lib/index.js: a name it missed would be absent here).
    'esm.mjs': `import { tryLock } from 'sole'
import * as ns from 'sole'
import { createRequire } from 'node:module'
const cjs = createRequire(import.meta.url)('sole')
const l = tryLock(process.argv[2])
console.log(JSON.stringify({
  path: l.path,
  esm: Object.keys(ns).filter((k) => k !== 'default' && k !== '__esModule').sort(),
  cjs: Object.keys(cjs).filter((k) => k !== '__esModule').sort(),
  same: ns.tryLock === cjs.tryLock,
}))
l.release()
`,
    // Four workers load the addon at once; each is refused the lock the main thread holds and
    // takes and releases a lock of its own.
    'workers.cjs': `const { Worker } = require('node:worker_threads')
const path = require('node:path')
const sole = require('sole')
const dir = process.argv[2]
const shared = sole.tryLock(path.join(dir, 'shared.lock'))
const code = \`
  const { parentPort, workerData } = require('node:worker_threads')
  const sole = require('sole')
  const refused = sole.tryLock(workerData.shared) === null
  const own = sole.tryLock(workerData.own)
  const took = own !== null && own.path === workerData.own
  own.release()
  parentPort.postMessage({ id: workerData.id, refused, took, released: own.released })
\`
const workers = [0, 1, 2, 3].map((id) => new Promise((resolve, reject) => {
  const w = new Worker(code, { eval: true, workerData: { id, shared: shared.path, own: path.join(dir, 'own-' + id + '.lock') } })
  let reply
  w.on('message', (m) => { reply = m })
  w.on('error', reject)
  w.on('exit', (code) => (code === 0 && reply ? resolve(reply) : reject(new Error('worker ' + id + ' exited ' + code))))
}))
Promise.all(workers).then((replies) => {
  shared.release()
  console.log(JSON.stringify(replies))
})
`,
    'ts-nodenext/main.mts': CONSUMER_TS,
    'ts-nodenext/tsconfig.json': tsconfig('nodenext', 'main.mts'),
    'ts-commonjs/main.ts': CONSUMER_TS,
    'ts-commonjs/tsconfig.json': tsconfig('commonjs', 'main.ts'),
  })
  const lockPath = (name: string) => path.join(full, name)

  const cjs = JSON.parse(await ok(process.execPath, ['cjs.cjs', lockPath('cjs.lock')], full))
  t.is(cjs.path, lockPath('cjs.lock'))
  t.is(cjs.again, null, 'a second tryLock on a held lock is refused')
  t.is(cjs.loadedFrom, path.join(full, 'node_modules', 'sole', 'lib', 'index.js'))

  const esm = JSON.parse(await ok(process.execPath, ['esm.mjs', lockPath('esm.lock')], full))
  t.is(esm.path, lockPath('esm.lock'))
  t.true(esm.esm.includes('tryLock'))
  t.deepEqual(esm.esm, esm.cjs, 'ESM named exports are exactly the CommonJS exports')
  t.true(esm.same, 'import and require give the same module instance')

  const [nodenext, commonjs] = await Promise.all([
    ok(process.execPath, [TSC, '-p', 'ts-nodenext'], full).then(() => ok(process.execPath, [path.join('ts-nodenext', 'out', 'main.mjs'), lockPath('ts-nodenext.lock')], full)),
    ok(process.execPath, [TSC, '-p', 'ts-commonjs'], full).then(() => ok(process.execPath, [path.join('ts-commonjs', 'out', 'main.js'), lockPath('ts-commonjs.lock')], full)),
  ])
  for (const [out, name] of [[nodenext, 'ts-nodenext.lock'], [commonjs, 'ts-commonjs.lock']]) {
    t.deepEqual(JSON.parse(out), { path: lockPath(name), held: false, released: true, refused: 'ENOTSUP', e: null })
  }

  const replies = JSON.parse(await ok(process.execPath, ['workers.cjs', full], full)) as { id: number; refused: boolean; took: boolean; released: boolean }[]
  t.deepEqual(
    replies.sort((a, b) => a.id - b.id),
    [0, 1, 2, 3].map((id) => ({ id, refused: true, took: true, released: true })),
  )

  // npx finds the installed bin: offline, there is nothing else it could run.
  const npx = await run('npx', [...offline(installed!.tmp), 'sole', '--version'], full)
  t.is(npx.code, 0, npx.stderr)
  t.is(npx.stdout, `sole ${VERSION}\n`)

  // The installed command does real work: flock(1) holds a file while it runs `npx sole
  // status` on it, which names flock(1) as the holder; an absent path is exit 1.
  const held = path.join(installed!.tmp, 'held.lock')
  const status = await run('flock', ['-n', held, 'npx', ...offline(installed!.tmp), 'sole', '--json', 'status', held], full)
  t.is(status.code, 0, status.stderr)
  const report = JSON.parse(status.stdout) as { paths: { path: string; state: string; holders: { exe: string }[] }[] }
  t.is(report.paths[0].state, 'held', status.stdout)
  t.regex(report.paths[0].holders[0].exe, /\/flock$/, status.stdout)
  const absent = await run('npx', [...offline(installed!.tmp), 'sole', 'status', path.join(installed!.tmp, 'absent')], full)
  t.is(absent.code, 1, absent.stderr)
  t.regex(absent.stdout, /absent/)
})

/** What `require('sole')` throws in `dir`, on the machine `fake` pretends this one is. */
async function requireError(dir: string, fake: { platform?: string; arch?: string; libc?: 'musl' }): Promise<{ code?: string; message?: string; path?: string; isError?: boolean; loaded?: boolean }> {
  const out = await ok(process.execPath, ['--require', path.join(dir, 'fake-machine.cjs'), 'probe.cjs'], dir, { SOLE_FAKE_MACHINE: JSON.stringify(fake) })
  return JSON.parse(out)
}

test.serial('installed sole on another machine throws ENOTSUP naming it; without a loadable addon, ENOBINDING saying how to fix it', async (t) => {
  const { full, bare } = installed!
  for (const dir of [full, bare]) {
    write(dir, {
      // Another machine, as far as Node can tell: process.platform / process.arch, and for
      // musl the diagnostic report (glibc's version absent, musl's loader mapped).
      'fake-machine.cjs': `const fake = JSON.parse(process.env.SOLE_FAKE_MACHINE)
if (fake.platform) Object.defineProperty(process, 'platform', { value: fake.platform })
if (fake.arch) Object.defineProperty(process, 'arch', { value: fake.arch })
if (fake.libc === 'musl') {
  const real = process.report.getReport.bind(process.report)
  process.report.getReport = () => {
    const r = real()
    delete r.header.glibcVersionRuntime
    r.sharedObjects = ['/lib/ld-musl-x86_64.so.1', ...(r.sharedObjects || []).filter((f) => !/libc\\.so|ld-linux/.test(f))]
    return r
  }
}
`,
      'probe.cjs': `try {
  require('sole')
  console.log(JSON.stringify({ loaded: true }))
} catch (e) {
  console.log(JSON.stringify({ code: e.code, message: e.message, path: e.path, isError: e instanceof Error }))
}
`,
    })
  }

  t.deepEqual(await requireError(full, {}), { loaded: true }, 'the probe loads sole on this machine')
  const cases: [{ platform?: string; arch?: string }, string][] = [
    [{ platform: 'darwin', arch: 'arm64' }, 'darwin arm64'],
    [{ platform: 'win32' }, 'win32 x64'],
    [{ arch: 'arm64' }, 'linux arm64 with glibc'],
  ]
  for (const [fake, machine] of cases) {
    const e = await requireError(full, fake)
    t.is(e.code, 'ENOTSUP', JSON.stringify(e))
    t.true(e.isError)
    t.true(e.message!.includes('supports only linux x64 with glibc'), e.message)
    t.true(e.message!.includes(`this machine is ${machine}`), e.message)
  }

  // Without the platform package: on musl the platform is the unsupported part...
  const musl = await requireError(bare, { libc: 'musl' })
  t.is(musl.code, 'ENOTSUP', JSON.stringify(musl))
  t.true(musl.message!.includes('this machine is linux x64 with musl'), musl.message)
  // ...on this machine, the missing package is, and the message says how to get it.
  t.false(fs.existsSync(path.join(bare, 'node_modules', PLATFORM_PACKAGE)))
  const missing = await requireError(bare, {})
  t.is(missing.code, 'ENOBINDING', JSON.stringify(missing))
  t.true(missing.isError)
  for (const part of [`${PLATFORM_PACKAGE}@${VERSION}`, 'not installed', '--omit=optional', 'npm install --include=optional', `${PLATFORM_PACKAGE}-${VERSION}.tgz`]) {
    t.true(missing.message!.includes(part), `${part} in: ${missing.message}`)
  }
  t.false(missing.message!.includes('Cannot find native binding'))

  // A platform package whose addon does not load (here: not an ELF file): ENOBINDING with the
  // loader's own reason, as message and cause.
  const broken = path.join(bare, 'node_modules', PLATFORM_PACKAGE)
  fs.mkdirSync(broken)
  fs.copyFileSync(path.join(full, 'node_modules', PLATFORM_PACKAGE, 'package.json'), path.join(broken, 'package.json'))
  fs.writeFileSync(path.join(broken, 'sole.linux-x64-gnu.node'), Buffer.alloc(4096))
  const unloadable = await requireError(bare, {})
  t.is(unloadable.code, 'ENOBINDING', JSON.stringify(unloadable))
  t.true(unloadable.message!.includes(`could not load its native addon from ${broken}`), unloadable.message)
  t.true(unloadable.message!.includes('invalid ELF header'), unloadable.message)
  t.is(unloadable.path, broken)
  fs.rmSync(broken, { recursive: true })

  // A checkout that was not built (the compiled lib and a Cargo.toml, no .node): ENOBINDING
  // that says to build it.
  const checkout = path.join(installed!.tmp, 'unbuilt-checkout')
  fs.cpSync(path.join(full, 'node_modules', 'sole'), checkout, { recursive: true })
  fs.writeFileSync(path.join(checkout, 'Cargo.toml'), '')
  const unbuilt = JSON.parse(await ok(process.execPath, ['-e', `try { require(${JSON.stringify(checkout)}) } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, path: e.path })) }`], installed!.tmp))
  t.is(unbuilt.code, 'ENOBINDING', JSON.stringify(unbuilt))
  t.is(unbuilt.path, checkout)
  t.true(unbuilt.message.includes(`not built in this checkout (${checkout}): run \`npm run build\``), unbuilt.message)
})

/** The WebAssembly package's runtime dependencies, packed from this checkout's node_modules (offline). */
async function wasmRuntimeTarballs(tmp: string): Promise<string[]> {
  const dir = path.join(tmp, 'wasm-runtime')
  fs.mkdirSync(dir, { recursive: true })
  const names = ['@napi-rs/wasm-runtime', '@emnapi/core', '@emnapi/runtime', '@emnapi/wasi-threads', '@tybys/wasm-util', 'tslib']
  for (const n of names) await ok('npm', ['pack', ...offline(tmp), '--ignore-scripts', '--pack-destination', dir, path.join(ROOT, 'node_modules', n)], tmp)
  return fs.readdirSync(dir).map((f) => path.join(dir, f))
}

const WASM_PROBE = `const sole = require('sole')
const out = { binding: require('sole/package.json').name }
const rule = (target, permission) => ({ target, permission, recursive: true })
out.overlap = sole.rulesOverlap(rule('/srv/a', 'write'), rule('/srv/a/b', 'read'))
out.covers = sole.coversFully(rule('/srv', 'read'), rule('/srv/a', 'write'))
try { sole.rulesOverlap(rule('srv', 'write'), rule('/a', 'read')) } catch (e) { out.invalid = { code: e.code, argument: e.argument } }
try { sole.tryLock(process.argv[2]); out.locked = true } catch (e) { out.tryLock = { code: e.code, message: e.message } }
console.log(JSON.stringify(out))
`

test.serial('the WebAssembly package (sole-wasm32-wasip1) installs from its tarball and loads with NAPI_RS_FORCE_WASI=error: the rule algebra answers, OS primitives throw ENOTSUP; without it, NAPI_RS_FORCE_WASI=error is ENOBINDING saying what to install', async (t) => {
  const { tmp, full, tarballs } = installed!
  // Without the WebAssembly package (the full project has only the native one).
  write(full, { 'wasm-probe.cjs': WASM_PROBE })
  const without = await run(process.execPath, ['wasm-probe.cjs', path.join(tmp, 'w0.lock')], full, { NAPI_RS_FORCE_WASI: 'error' })
  t.not(without.code, 0)
  t.regex(without.stderr, /ENOBINDING/)
  t.regex(without.stderr, new RegExp(`asks for sole's WebAssembly build \\(wasm32-wasip1\\), and it did not load.*install the package ${WASM_PACKAGE}@${VERSION}`))
  if (!WASM_BUILT) {
    if (process.env.CI) t.fail('CI builds the WebAssembly package (scripts/build-wasm.mjs), and this checkout has none')
    else t.log(`no WebAssembly build in this checkout (npm run build:wasm): ${WASM_PACKAGE} is not installed here`)
    return
  }
  // Its cpu is wasm32, which npm refuses on x64 for a package named on the command line
  // (EBADPLATFORM): --force installs it, as a user who wants it here would.
  const wasmTarball = tarballs.find((f) => path.basename(f) === `${WASM_PACKAGE}-${VERSION}.tgz`)!
  const main = tarballs.find((f) => path.basename(f) === `sole-${VERSION}.tgz`)!
  const dir = await project(tmp, 'consumer-wasm', [main, wasmTarball, ...(await wasmRuntimeTarballs(tmp))], ['--force'])
  t.true(fs.existsSync(path.join(dir, 'node_modules', WASM_PACKAGE, 'sole.wasm32-wasip1.wasm')))
  t.false(fs.existsSync(path.join(dir, 'node_modules', PLATFORM_PACKAGE)), 'only the WebAssembly build is installed')
  write(dir, { 'wasm-probe.cjs': WASM_PROBE })

  const forced = JSON.parse(await ok(process.execPath, ['--no-warnings', 'wasm-probe.cjs', path.join(tmp, 'w1.lock')], dir, { NAPI_RS_FORCE_WASI: 'error' }))
  t.is(forced.overlap, true)
  t.is(forced.covers, false)
  t.deepEqual(forced.invalid, { code: 'EINVAL', argument: 'a.target' })
  t.is(forced.tryLock?.code, 'ENOTSUP', JSON.stringify(forced))
  t.regex(forced.tryLock.message, /needs flock\(2\).*WebAssembly build \(wasm32-wasip1\).*NAPI_RS_FORCE_WASI=error asks for it/)
  t.false(fs.existsSync(path.join(tmp, 'w1.lock')), 'nothing was created')

  // On this (supported) machine without the native package, napi-rs's loader falls back to the
  // WebAssembly build: the pure functions work, and an OS primitive says the native addon is
  // missing (ENOBINDING, with how to install it), not that the machine is unsupported.
  const fallback = JSON.parse(await ok(process.execPath, ['--no-warnings', 'wasm-probe.cjs', path.join(tmp, 'w2.lock')], dir))
  t.is(fallback.overlap, true)
  t.is(fallback.tryLock?.code, 'ENOBINDING', JSON.stringify(fallback))
  t.regex(fallback.tryLock.message, new RegExp(`${PLATFORM_PACKAGE}@${VERSION}`))

  // On another machine (darwin arm64, by the preload of the test above), where sole has no
  // native addon, the WebAssembly package is what loads: require works, OS primitives are
  // ENOTSUP naming the machine.
  fs.copyFileSync(path.join(full, 'fake-machine.cjs'), path.join(dir, 'fake-machine.cjs'))
  const other = JSON.parse(
    await ok(process.execPath, ['--no-warnings', '--require', path.join(dir, 'fake-machine.cjs'), 'wasm-probe.cjs', path.join(tmp, 'w3.lock')], dir, { SOLE_FAKE_MACHINE: JSON.stringify({ platform: 'darwin', arch: 'arm64' }) }),
  )
  t.is(other.overlap, true)
  t.is(other.tryLock?.code, 'ENOTSUP', JSON.stringify(other))
  t.regex(other.tryLock.message, /sole has no native addon for this machine \(darwin arm64\)/)
})

/** A strategy as a user writes it in their own project: sole's lock files, imported by name. */
const CORRECT_STRATEGY = `import { tryLock, lock } from 'sole'

export const meta = { shared: true, kernelVisible: true }

export default function makeStrategy(target) {
  return {
    tryAcquire: (shared) => tryLock(target, { shared }),
    acquire: (shared) => lock(target, { shared }),
    release: (l) => l.release(),
  }
}
`

/** The same lock, but the file is unlinked on release (docs/races.md R1: a waiter on the old inode and a newcomer both own). */
const BROKEN_STRATEGY = `import fs from 'node:fs'
import { tryLock, lock } from 'sole'

export default function makeStrategy(target) {
  return {
    tryAcquire: () => tryLock(target),
    acquire: () => lock(target),
    release(l) {
      fs.rmSync(target, { force: true })
      l.release()
    },
  }
}
`

/** A strict TypeScript consumer of `sole/harness` (the shipped .d.mts files must compile and type the report). */
const HARNESS_TS = `import { checkStrategy, formatReport, type CheckReport, type MakeStrategy } from 'sole/harness'

// The contract's type accepts a strategy written against it.
const typed: MakeStrategy<{ release(): void }> = (target: string) => ({
  tryAcquire: () => (target === '' ? null : { release() {} }),
  acquire: async () => ({ release() {} }),
  release: (h) => h.release(),
})
const r: CheckReport = await checkStrategy(process.argv[2], { budgetMs: 8_000, shrinkBudgetMs: 2_000, examples: true })
console.log(JSON.stringify({ failed: r.failed, kind: r.last?.failure?.kind ?? null, seed: r.seed, typed: typeof typed, report: formatReport(r) }))
`

test.serial("the user's eye: in a project with sole and fast-check@4 installed from tarballs, `npx sole harness` passes a correct strategy (0) and catches a broken one (1); `import { checkStrategy } from 'sole/harness'` works, typed; without fast-check both say to install it", async (t) => {
  const { tmp, tarballs, full } = installed!
  // fast-check (and its one dependency, pure-rand) packed from this checkout's node_modules:
  // the install stays offline.
  const deps = path.join(tmp, 'deps')
  fs.mkdirSync(deps)
  const packed = await ok('npm', ['pack', '--ignore-scripts', '--pack-destination', deps, path.join(ROOT, 'node_modules', 'fast-check'), path.join(ROOT, 'node_modules', 'pure-rand')], tmp)
  const depTarballs = packed.trim().split('\n').map((f) => path.join(deps, f.trim()))
  t.is(depTarballs.length, 2, packed)
  const native = tarballs.filter((f) => !path.basename(f).startsWith(WASM_PACKAGE))
  const dir = await project(tmp, 'consumer-harness', [...native, ...depTarballs], ['--save-dev'])
  write(dir, {
    'correct.mjs': CORRECT_STRATEGY,
    'broken.mjs': BROKEN_STRATEGY,
    'harness.mts': HARNESS_TS,
    'tsconfig.json': tsconfig('nodenext', 'harness.mts'),
  })
  const npx = (args: string[], cwd = dir) => run('npx', [...offline(tmp), 'sole', ...args], cwd)

  const good = await npx(['harness', '--strategy', 'correct.mjs', '--seconds', '4'])
  t.is(good.code, 0, `${good.stdout}\n${good.stderr}`)
  t.regex(good.stdout, /^correct: \d+ schedules passed in /m)

  const bad = await npx(['harness', '--strategy', 'broken.mjs', '--seconds', '15', '--shrink-seconds', '3'])
  t.is(bad.code, 1, `${bad.stdout}\n${bad.stderr}`)
  t.regex(bad.stdout, /^broken: EXCLUSION VIOLATION at step t\d+: sentinel: /m)
  const replay = /^ {2}replay: (npx sole harness --strategy broken\.mjs --replay (sole-harness-replay-\d+\.json))$/m.exec(bad.stdout)
  t.truthy(replay, bad.stdout)
  t.true(fs.existsSync(path.join(dir, replay![2])), 'the replay file is written in the current directory')

  // The programmatic API, from TypeScript compiled against the shipped typings.
  await ok(process.execPath, [TSC, '-p', '.'], dir)
  const api = JSON.parse(await ok(process.execPath, [path.join('out', 'harness.mjs'), './broken.mjs'], dir))
  t.like(api, { failed: true, kind: 'exclusion', typed: 'function' })
  t.regex(api.report, /replay: checkStrategy\("broken", \{ seed: -?\d+, path: "[\d:]+" \}\)/)

  // Without fast-check (the first project: sole only), the command and the import both say
  // what to install; require() says the entry point is ESM.
  t.false(fs.existsSync(path.join(full, 'node_modules', 'fast-check')))
  write(full, { 'correct.mjs': CORRECT_STRATEGY })
  const missing = await npx(['harness', '--strategy', 'correct.mjs', '--seconds', '1'], full)
  t.is(missing.code, 2, missing.stderr)
  t.regex(missing.stderr, /^sole: the sole harness needs fast-check 4, which is not installed .*npm install --save-dev fast-check@4\n$/)
  const imported = JSON.parse(
    await ok(process.execPath, ['--input-type=module', '-e', "import('sole/harness').then(() => console.log('{}'), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })))"], full),
  )
  t.is(imported.code, 'ENOFASTCHECK', JSON.stringify(imported))
  t.true(imported.message.includes('fast-check@4'), imported.message)
  const required = JSON.parse(await ok(process.execPath, ['-e', "try { require('sole/harness') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }"], full))
  t.is(required.code, 'ERR_REQUIRE_ESM')
  t.true(required.message.includes("await import('sole/harness')"), required.message)
})
