// `npm run build:wasm`: the WebAssembly build of the binding (wasm32-wasip1), beside the native
// addon: `sole.wasm32-wasip1.wasm` and napi-rs's loader for it, `sole.wasip1.cjs`, in the checkout's
// root, where the generated `index.js` finds them (with `NAPI_RS_FORCE_WASI=error`, or where no
// native addon loads). It has only the pure functions (the rule algebra, argument checks,
// errors); every OS primitive throws ENOTSUP there (`lib/platform.ts`).
//
// Offline, from Debian's packages (rustup here has only the x86_64 standard library and cannot
// download another): `rustc-web` / `cargo-web` (rustc 1.96 in /usr/bin) with `rust-web-src`
// (the standard library's source, compiled for wasm32-wasip1 by `-Zbuild-std`), `wasi-libc`
// (/usr/lib/wasm32-wasi) and `lld` (wasm-ld). `.ci/run` installs them. The native build keeps
// rustup's toolchain; this one runs with /usr/bin first on PATH, in its own target directory
// (target/wasm), so neither invalidates the other's cache. napi-rs's loader and typings come
// from the native build only: this build writes its (smaller) .d.ts into target/wasm, and the
// root index.js / index.d.ts are left as they were.
//
// `--if-available` (what `npm test`'s build step passes): print why and exit 0 when the Debian
// toolchain is not installed, so a machine without it still builds and tests the native addon;
// `__test__/wasm.spec.ts` then skips (and fails in CI, where the toolchain is installed).
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const ifAvailable = process.argv.includes('--if-available')
const TARGET = 'wasm32-wasip1'
const WASI_LIBC = '/usr/lib/wasm32-wasi'
const SYSROOT_LIB = `/usr/lib/rustlib/${TARGET}/lib/self-contained`
const PACKAGES = 'rustc-web cargo-web rust-web-src wasi-libc lld'

function stop(why) {
  if (ifAvailable) {
    process.stdout.write(`build:wasm: skipped, ${why}\n`)
    process.exit(0)
  }
  process.stderr.write(`build:wasm: ${why}\n`)
  process.exit(1)
}

const missing = [
  ['/usr/bin/rustc', 'rustc-web'],
  ['/usr/bin/cargo', 'cargo-web'],
  ['/usr/lib/rustlib/src/rust/library/std', 'rust-web-src'],
  [path.join(WASI_LIBC, 'libc.a'), 'wasi-libc'],
  [path.join(WASI_LIBC, 'crt1-reactor.o'), 'wasi-libc'],
].filter(([file]) => !fs.existsSync(file))
let wasmLd = ['/usr/bin/wasm-ld', '/usr/bin/wasm-ld-14', '/usr/bin/wasm-ld-15', '/usr/bin/wasm-ld-16'].find((f) => fs.existsSync(f))
if (!wasmLd) missing.push(['wasm-ld', 'lld'])
if (missing.length > 0) {
  const pkgs = [...new Set(missing.map(([, p]) => p))].join(' ')
  stop(`the offline WebAssembly toolchain is not installed (missing ${missing.map(([f]) => f).join(', ')}): apt-get install ${PACKAGES} (this needs ${pkgs}).`)
}

// napi-build links the reactor start files from the compiler's sysroot; Debian's rustc-web
// ships the sysroot without them, wasi-libc has them.
for (const f of fs.readdirSync(WASI_LIBC).filter((n) => /^crt1.*\.o$/.test(n))) {
  const to = path.join(SYSROOT_LIB, f)
  if (fs.existsSync(to)) continue
  try {
    fs.mkdirSync(SYSROOT_LIB, { recursive: true })
    fs.copyFileSync(path.join(WASI_LIBC, f), to)
  } catch (e) {
    stop(`${to} is missing and could not be copied from ${WASI_LIBC} (${e.message}): copy ${WASI_LIBC}/crt1*.o into ${SYSROOT_LIB} as root.`)
  }
}

const env = {
  ...process.env,
  PATH: `/usr/bin:${process.env.PATH ?? ''}`,
  RUSTC: '/usr/bin/rustc',
  CARGO: '/usr/bin/cargo',
  RUSTC_BOOTSTRAP: '1',
  CARGO_UNSTABLE_BUILD_STD: 'std,panic_abort',
  RUSTFLAGS: `-C linker=${wasmLd} -C link-self-contained=no -L ${WASI_LIBC}`,
  CARGO_TARGET_DIR: path.join(root, 'target', 'wasm'),
}
// rustup's cargo proxy must not be the one napi runs.
delete env.RUSTUP_TOOLCHAIN
// napi-rs's WebAssembly build removes the root `index.js` it counts as its own (even with
// --no-js); the native build's loader and typings are put back exactly as they were.
const kept = Object.fromEntries(
  ['index.js', 'index.d.ts'].filter((f) => fs.existsSync(path.join(root, f))).map((f) => [f, fs.readFileSync(path.join(root, f))]),
)
const restore = () => {
  for (const [f, bytes] of Object.entries(kept)) {
    const p = path.join(root, f)
    if (!fs.existsSync(p) || !fs.readFileSync(p).equals(bytes)) fs.writeFileSync(p, bytes)
  }
}
process.on('exit', restore)
execFileSync(
  path.join(root, 'node_modules', '.bin', 'napi'),
  ['build', '--platform', '--target', TARGET, '--release', '--no-js', '--dts', path.join('target', 'wasm', 'index.d.ts'), '--target-dir', path.join('target', 'wasm')],
  { cwd: root, env, stdio: 'inherit' },
)
restore()
for (const f of ['sole.wasip1.cjs', 'sole.wasm32-wasip1.wasm']) {
  if (!fs.existsSync(path.join(root, f))) stop(`napi build wrote no ${f} in ${root}`)
}
