/**
 * Whether this machine can run sole, and the one place the native addon is loaded.
 *
 * Why: the addon is one `.node` file built for linux x64 with glibc. An installed `sole` finds
 * it in its platform package `sole-linux-x64-gnu` (an optionalDependency npm installs only on
 * a matching machine), a checkout finds it at its root after `npm run build`. napi-rs's
 * generated loader (`../index.js`) does the finding; when it fails, all it says is "Cannot find
 * native binding", which tells neither a user on another platform that sole cannot run there,
 * nor a user who installed with `--omit=optional` what is missing. This module asks first and
 * explains after: it throws `ENOTSUP` (with this machine's platform, architecture and libc) on
 * any other platform, and `ENOBINDING` (with how to fix it) when the platform is supported but
 * the addon is missing or does not load. `./native.ts` imports this module before it re-exports
 * the addon, so no lib module can reach the addon without passing through here. napi-rs's
 * `NAPI_RS_NATIVE_LIBRARY_PATH` (load this .node instead; the API fuzz test's planted-panic
 * build uses it) skips the platform check, and a failure to load it is `ENOBINDING` naming it.
 *
 * Tests: `__test__/install.spec.ts` (a packed and installed package; a preload that makes
 * `process.platform` / `process.arch` / the libc another machine's; an install without the
 * platform package).
 */
import fs from 'node:fs'
import path from 'node:path'

import { Code } from './codes.js'
import type { SoleError } from './errors.js'

/** What sole runs on, as the messages spell it. */
const SUPPORTED = 'linux x64 with glibc'
/** The platform package that carries the addon for {@link SUPPORTED}. */
const PLATFORM_PACKAGE = 'sole-linux-x64-gnu'
/** The package that carries the WebAssembly build (wasm32-wasip1): pure functions only. */
const WASM_PACKAGE = 'sole-wasm32-wasip1'

/** This machine, as far as sole's support is concerned. */
interface Machine {
  platform: string
  arch: string
  /** `'glibc 2.36'`, `'musl'`, `'unknown'`, or `'none'` off Linux. */
  libc: string
  glibc: boolean
}

/**
 * This machine: platform, architecture, and the C library from Node's diagnostic report
 * (`header.glibcVersionRuntime` is set only under glibc). A report costs a few milliseconds, so
 * it is asked for only once loading has failed (or the platform is already known unsupported).
 */
function machine(): Machine {
  const { platform, arch } = process
  if (platform !== 'linux') return { platform, arch, libc: 'none', glibc: false }
  let libc = 'unknown'
  const report = process.report as (NodeJS.ProcessReport & { excludeNetwork?: boolean }) | undefined
  if (report && typeof report.getReport === 'function') {
    // No network section (it can do reverse DNS lookups); the caller's setting is restored.
    const before = report.excludeNetwork
    try {
      if (typeof before === 'boolean') report.excludeNetwork = true
      const r = report.getReport() as { header?: { glibcVersionRuntime?: string }; sharedObjects?: unknown }
      const objects = Array.isArray(r.sharedObjects) ? r.sharedObjects.map(String) : []
      if (r.header?.glibcVersionRuntime) libc = `glibc ${r.header.glibcVersionRuntime}`
      else if (objects.some((f) => f.includes('ld-musl-') || f.includes('libc.musl-'))) libc = 'musl'
    } catch {
      // No report: the libc stays 'unknown', and only the message is less precise.
    } finally {
      if (typeof before === 'boolean') report.excludeNetwork = before
    }
  }
  return { platform, arch, libc, glibc: libc.startsWith('glibc') }
}

function describe(m: Machine): string {
  return `${m.platform} ${m.arch}${m.platform === 'linux' ? ` with ${m.libc === 'unknown' ? 'an unknown libc' : m.libc}` : ''}`
}

function soleError(code: Code, message: string, cause?: unknown, where?: string): SoleError {
  const err = new Error(message, cause === undefined ? undefined : { cause }) as SoleError
  err.code = code
  if (where !== undefined) err.path = where
  return err
}

function unsupported(m: Machine, cause?: unknown): SoleError {
  return soleError(
    Code.ENOTSUP,
    `sole supports only ${SUPPORTED} (Node >= 20); this machine is ${describe(m)}, for which sole has no native addon, so it cannot be used here. (Its WebAssembly build, the package ${WASM_PACKAGE}, loads anywhere but has only the pure functions: rulesOverlap, coversFully, parseIdentityRecord, formatIdentityRecord.)`,
    cause,
  )
}

/** The package's own version (`package.json` sits next to `lib/`, in a checkout and installed). */
function version(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return 'its version'
  }
}

/** Where the platform package is, or `undefined` when it is not installed. */
function platformPackage(): string | undefined {
  try {
    return path.dirname(require.resolve(`${PLATFORM_PACKAGE}/package.json`))
  } catch {
    return undefined
  }
}

function missing(cause: unknown): SoleError {
  const root = path.join(__dirname, '..')
  const v = version()
  const override = process.env.NAPI_RS_NATIVE_LIBRARY_PATH
  if (override) {
    // napi's loader requires it from the package root, so a relative path is relative to that.
    const file = override.startsWith('.') ? path.resolve(root, override) : override
    const reason = directError(file, cause)
    return soleError(
      Code.ENOBINDING,
      `sole could not load the native addon NAPI_RS_NATIVE_LIBRARY_PATH names (${file}): ${firstLine(reason)}. Unset NAPI_RS_NATIVE_LIBRARY_PATH to load the installed addon.`,
      reason,
      file,
    )
  }
  const dir = platformPackage()
  if (dir !== undefined) {
    const reason = directError(PLATFORM_PACKAGE, cause)
    return soleError(
      Code.ENOBINDING,
      `sole could not load its native addon from ${dir} (${PLATFORM_PACKAGE}): ${firstLine(reason)}. Reinstall sole and ${PLATFORM_PACKAGE} ${v} (remove node_modules/${PLATFORM_PACKAGE} first).`,
      reason,
      dir,
    )
  }
  if (fs.existsSync(path.join(root, 'Cargo.toml'))) {
    return soleError(
      Code.ENOBINDING,
      `sole's native addon is not built in this checkout (${root}): run \`npm run build\` there (it writes sole.linux-x64-gnu.node).`,
      cause,
      root,
    )
  }
  return soleError(
    Code.ENOBINDING,
    `sole's native addon for ${SUPPORTED} is in the package ${PLATFORM_PACKAGE}@${v}, an optional dependency of sole, and it is not installed (npm leaves it out when installing with --omit=optional, --no-optional or optional=false, and when it cannot fetch it). Install sole again with optional dependencies (npm install --include=optional), or install the tarball ${PLATFORM_PACKAGE}-${v}.tgz that was built with sole-${v}.tgz (npm run pack).`,
    cause,
  )
}

/**
 * napi's error chains every attempt (and its WASI fallback) under "Cannot find native binding":
 * require `what` directly for the one reason that matters (a corrupt file, a glibc older than
 * the addon needs, …). `fallback` when that require works after all.
 */
function directError(what: string, fallback: unknown): unknown {
  try {
    require(what)
  } catch (e) {
    return e
  }
  return fallback
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err)
  return text.split('\n')[0].replace(/\.+$/, '')
}

// ---- the WebAssembly build ---------------------------------------------------------------------

/**
 * What each OS primitive of the native addon needs, for the `ENOTSUP` the WebAssembly build
 * (wasm32-wasip1, package `sole-wasm32-wasip1`) answers with. That build has only the pure
 * functions (the rule algebra, argument checks, errors): WASI has no flock, no /proc, no pidfd,
 * no signals, no fork, no Unix sockets. Every native export the wasm binding lacks is replaced
 * by a function that throws; none loads as a silent no-op. Keyed by the binding's export names;
 * `__test__/wasm.spec.ts` checks that every export missing from the wasm build is listed here.
 */
const WASM_MISSING: readonly (readonly [string, string, readonly string[]])[] = [
  ['Locking a file', 'flock(2) on an open file and /proc/locks to name a holder', ['tryLock', 'lockSync', 'lockAsync', 'LockWait', 'NativeLock', 'NativeLockFile', 'openLockFile', 'readLockPid', 'lockHolders', 'readFencingToken']],
  ['A pidfile', 'flock(2), /proc and the identity record (an xattr)', ['claimPidfile', 'claimPidfileAsync', 'NativePidfile', 'NativePidfileRead', 'readPidfile', 'acquireDaemonLock', 'daemonLockPath', 'daemonPidfile', 'execWithPidfile', 'execAsChildOf']],
  ['Looking at a process', '/proc, pidfds and signals', ['isAlive', 'pidAlive', 'processIdentity', 'verifyProcess', 'NativeProcessHandle', 'ExitWait', 'terminateOptions']],
  ['A daemon', 'fork, exec, signals and a Unix datagram socket', ['spawnDaemon', 'DaemonStart', 'daemonReady', 'notify', 'daemonUptime', 'watchdogIntervalMs', 'stopDaemonOptions']],
  ['The single-instance guard', 'flock(2) and Unix stream sockets with peer credentials', ['instanceDeliver', 'instanceDeliverSync', 'instancePlace', 'InstanceDeliver', 'InstancePlace', 'peerCredentials']],
  ['The scope registry', 'flock(2), files and /proc', ['NativeScopeRegistry', 'NativeScopeGuard', 'scopeRepair', 'scopeSnapshot', 'scopeRegistryPath', 'Permission']],
]

/** Names of the binding's OS primitives (the keys of {@link WASM_MISSING}), for the tests. */
export const WASM_MISSING_EXPORTS: readonly string[] = WASM_MISSING.flatMap(([, , names]) => names)

/** `NAPI_RS_FORCE_WASI` as napi-rs's loader reads it: `'true'` prefers, `'error'` requires the WebAssembly build. */
function wasiForced(): string | undefined {
  const v = process.env.NAPI_RS_FORCE_WASI
  return v === 'true' || v === 'error' ? v : process.env.NAPI_RS_WASI_FLAVOR ? 'flavor' : undefined
}

/**
 * Fill the WebAssembly binding's missing exports with functions that throw. `why` says why
 * this build is the one loaded; `native` is the error to throw instead of `ENOTSUP` when this
 * machine is supported and only the native addon failed to load (that is `ENOBINDING`, with
 * the fix). A class stand-in also throws from its static methods (`NativeScopeRegistry.open`).
 */
function fillWasm(binding: Record<string, unknown>, why: string, native: (() => SoleError) | undefined): void {
  const needs = new Map<string, readonly [string, string]>()
  for (const [what, need, names] of WASM_MISSING) for (const n of names) needs.set(n, [what, need])
  for (const key of Object.keys(binding)) {
    if (binding[key] !== undefined) continue
    const [what, need] = needs.get(key) ?? ['This call', 'the operating system']
    const refuse = function (): never {
      if (native) throw native()
      throw soleError(
        Code.ENOTSUP,
        `${what} needs ${need}, which sole's WebAssembly build (wasm32-wasip1) does not have; that build is loaded because ${why}. It has only the pure functions (rulesOverlap, coversFully, parseIdentityRecord, formatIdentityRecord and the argument checks): use sole's native addon (${SUPPORTED}) for this.`,
      )
    }
    const standIn = new Proxy(refuse, {
      get: (t, k, r) => (k in t || typeof k !== 'string' ? Reflect.get(t, k, r) : refuse),
    })
    try {
      binding[key] = standIn
    } catch {
      // A frozen exports object keeps `undefined`: a TypeError, still never a silent no-op.
    }
  }
}

/**
 * Load the addon (napi-rs's `../index.js`, which caches it in `require.cache` for `./native.ts`)
 * or throw `ENOTSUP` / `ENOBINDING`. Runs once per module instance: in each worker thread too.
 * napi-rs's loader falls back to the WebAssembly build (`sole.wasip1.cjs` in a checkout, the
 * package `sole-wasm32-wasip1` when installed) where no native addon loads, and uses it first
 * when `NAPI_RS_FORCE_WASI` is `true` or `error`; then {@link fillWasm} makes every OS
 * primitive throw.
 */
function load(): void {
  const overridden = Boolean(process.env.NAPI_RS_NATIVE_LIBRARY_PATH)
  const supported = overridden || (process.platform === 'linux' && process.arch === 'x64')
  const forced = wasiForced()
  let binding: Record<string, unknown>
  try {
    binding = require('../index.js') as Record<string, unknown>
  } catch (err) {
    if (overridden) throw missing(err)
    if (forced !== undefined) throw wasmMissing(err)
    const m = machine()
    if (!supported) throw unsupported(m, err)
    throw m.glibc || m.libc === 'unknown' ? missing(err) : unsupported(m, err)
  }
  const kind = typeof binding.binding === 'function' ? (binding.binding as () => unknown)() : 'native'
  if (kind === 'native') return
  if (forced !== undefined) {
    fillWasm(binding, `NAPI_RS_FORCE_WASI=${process.env.NAPI_RS_FORCE_WASI ?? ''} asks for it`, undefined)
  } else if (!supported) {
    fillWasm(binding, `sole has no native addon for this machine (${describe(machine())})`, undefined)
  } else {
    const m = machine()
    const native = m.glibc || m.libc === 'unknown' ? () => missing(undefined) : () => unsupported(m)
    fillWasm(binding, 'the native addon did not load', native)
  }
}

/** `ENOBINDING`: `NAPI_RS_FORCE_WASI` asks for the WebAssembly build and it did not load. */
function wasmMissing(cause: unknown): SoleError {
  const root = path.join(__dirname, '..')
  const where = fs.existsSync(path.join(root, 'Cargo.toml'))
    ? `build it in this checkout (${root}) with \`npm run build:wasm\``
    : `install the package ${WASM_PACKAGE}@${version()} (its tarball, from npm run pack, with npm install --force: its cpu is wasm32)`
  return soleError(
    Code.ENOBINDING,
    `NAPI_RS_FORCE_WASI=${process.env.NAPI_RS_FORCE_WASI ?? ''} asks for sole's WebAssembly build (wasm32-wasip1), and it did not load: ${firstLine(cause)}. To use it, ${where}; or unset NAPI_RS_FORCE_WASI to load the native addon.`,
    cause,
  )
}

load()
