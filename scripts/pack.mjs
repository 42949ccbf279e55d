// `npm run pack [-- OUTDIR]`: build, then write the tarballs an install needs into OUTDIR
// (default dist/ in this checkout):
//   sole-X.Y.Z.tgz                the package: lib/, bin/, the napi loader and the typings, and
//                                 `optionalDependencies` naming the two below (exact version)
//   sole-linux-x64-gnu-X.Y.Z.tgz  the platform package: the release addon (npm/linux-x64-gnu)
//   sole-wasm32-wasip1-X.Y.Z.tgz  the WebAssembly build (npm/wasm32-wasip1): the .wasm and
//                                 napi-rs's loader for it; `cpu: ["wasm32"]`, so npm installs it
//                                 only when asked (`--cpu=wasm32`, or by naming it). Packed when
//                                 the build has it (`npm run build:wasm`, which needs Debian's
//                                 wasm toolchain); otherwise left out, and not named, with a note.
//
// The checkout's package.json does not name the platform package: a developer's `npm install`
// would then fetch whatever the registry has under that name (today nothing; anyone can claim
// it), and napi-rs's own flow adds it only at publish time too (`napi pre-publish`). So both
// packages are assembled in a temporary staging copy, with napi-rs's tooling doing its part
// there (`napi artifacts` puts the .node into the platform package, `napi pre-publish
// --skip-optional-publish --no-gh-release` writes optionalDependencies; neither publishes nor
// needs the network), and npm packs from that copy. The checkout is never modified, and
// nothing depends on where it lives.
//
// `--prepack` (package.json's prepack script) only refuses a plain `npm pack` / `npm publish`
// of the checkout, whose tarball would name no platform package and carry no addon.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
const PLATFORM = 'linux-x64-gnu'
const platformName = `${pkg.name}-${PLATFORM}`
const addon = `${pkg.napi.binaryName}.${PLATFORM}.node`
const WASM = 'wasm32-wasip1'
const wasmName = `${pkg.name}-${WASM}`
const wasmFile = `${pkg.napi.binaryName}.${WASM}.wasm`
/** napi-rs's WebAssembly build output that `napi artifacts` puts into npm/wasm32-wasip1. */
const wasmArtifacts = [wasmFile, ...['.wasip1.cjs', '.wasip1.d.cts', '.wasip1-browser.js', '.wasip1-deferred.js', '.wasip1-deferred.d.ts'].map((s) => `${pkg.napi.binaryName}${s}`)]

function die(message) {
  process.stderr.write(`pack: ${message}\n`)
  process.exit(1)
}

if (process.argv[2] === '--prepack') {
  // npm runs `prepack` before `npm pack` / `npm publish` in the directory being packed, and
  // also as the pre-script of `npm run pack` (this script itself: nothing to refuse then). The
  // staging copy below has optionalDependencies (and is packed with --ignore-scripts anyway);
  // the checkout has not.
  if (process.env.npm_command === 'run' || process.env.npm_command === 'run-script') process.exit(0)
  const here = JSON.parse(fs.readFileSync(path.join(process.cwd(), 'package.json'), 'utf8'))
  if (here.optionalDependencies?.[platformName] !== here.version) {
    die(`a tarball of this checkout would carry no native addon and name no platform package, so require('sole') would fail wherever it is installed. Run \`npm run pack\` instead: it writes ${pkg.name}-${pkg.version}.tgz and ${platformName}-${pkg.version}.tgz into dist/.`)
  }
  process.exit(0)
}

const args = process.argv.slice(2)
if (args.length > 1 || args[0]?.startsWith('-')) die('usage: npm run pack [-- OUTDIR]   (default: dist/ in the checkout)')
const out = path.resolve(args[0] ?? path.join(root, 'dist'))

const napi = path.join(root, 'node_modules', '.bin', 'napi')
// npm and napi print progress on stderr; stdout is kept for the JSON this script reads.
const run = (cmd, argv, cwd) => execFileSync(cmd, argv, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })

/** A refusal inside the staging step: reported like `die`, after the staging copy is removed. */
class Refused extends Error {}

const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'sole-pack-'))
try {
  execFileSync(process.execPath, [path.join(root, 'scripts', 'ensure-built.mjs')], { cwd: root, stdio: 'inherit' })
  if (!fs.existsSync(path.join(root, addon))) throw new Refused(`the build wrote no ${addon} in ${root}`)
  const withWasm = wasmArtifacts.every((f) => fs.existsSync(path.join(root, f)))
  if (!withWasm) process.stderr.write(`pack: no WebAssembly build in ${root} (npm run build:wasm needs Debian's rustc-web, rust-web-src, wasi-libc and lld): ${wasmName} is not packed, and sole does not name it\n`)

  const main = path.join(stage, 'pkg')
  const artifacts = path.join(stage, 'artifacts')
  const packed = path.join(stage, 'tarballs')
  fs.mkdirSync(artifacts)
  fs.mkdirSync(packed)

  // The main package's files, exactly as npm selects them from the checkout (`files`, plus
  // package.json and README.md), copied into the staging copy.
  const [listing] = JSON.parse(run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], root))
  for (const { path: rel } of listing.files) {
    fs.mkdirSync(path.dirname(path.join(main, rel)), { recursive: true })
    fs.copyFileSync(path.join(root, rel), path.join(main, rel))
  }
  // The platform packages' folders, without any build output a previous run may have left
  // there (only their package.json, README and napi's .wasm typings are in the checkout).
  const ours = (src) => fs.statSync(src).isDirectory() || /(^|\/)(package\.json|README\.md|[^/]*\.wasm\.d\.ts)$/.test(src)
  fs.cpSync(path.join(root, 'npm'), path.join(main, 'npm'), { recursive: true, filter: ours })
  if (!withWasm) fs.rmSync(path.join(main, 'npm', WASM), { recursive: true })
  for (const f of [addon, ...(withWasm ? wasmArtifacts : [])]) fs.copyFileSync(path.join(root, f), path.join(artifacts, f))

  // napi-rs's tooling: the addon into npm/linux-x64-gnu/ (and the WebAssembly build into
  // npm/wasm32-wasip1/), then optionalDependencies (exact version) into package.json. Offline:
  // no publish, no GitHub release. Without the wasm build, napi.targets names only the native
  // target in the staging copy.
  if (!withWasm) {
    const staged = JSON.parse(fs.readFileSync(path.join(main, 'package.json'), 'utf8'))
    staged.napi.targets = staged.napi.targets.filter((t) => !t.startsWith('wasm32'))
    fs.writeFileSync(path.join(main, 'package.json'), `${JSON.stringify(staged, null, 2)}\n`)
  }
  run(napi, ['artifacts', '--cwd', main, '--output-dir', artifacts, '--npm-dir', 'npm'], main)
  run(napi, ['pre-publish', '--cwd', main, '--npm-dir', 'npm', '--skip-optional-publish', '--no-gh-release'], main)

  // The shipped manifest keeps no scripts and no test-runner settings: they are for the
  // checkout's build and tests, whose files are not in the package.
  const manifest = JSON.parse(fs.readFileSync(path.join(main, 'package.json'), 'utf8'))
  delete manifest.scripts
  delete manifest.ava
  for (const name of [platformName, ...(withWasm ? [wasmName] : [])]) {
    if (manifest.optionalDependencies?.[name] !== pkg.version) throw new Refused(`napi pre-publish did not name ${name}@${pkg.version} in optionalDependencies`)
  }
  if (!withWasm && manifest.optionalDependencies?.[wasmName] !== undefined) throw new Refused(`${wasmName} is named but was not built`)
  if (manifest.dependencies && Object.keys(manifest.dependencies).length > 0) throw new Refused('the package must have no runtime dependencies')
  fs.writeFileSync(path.join(main, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  // napi artifacts also copies the addon (and the .wasm, and its loader as browser.js) to the root.
  for (const f of [addon, wasmFile, 'browser.js']) fs.rmSync(path.join(main, f), { force: true })

  // Packed and checked in the staging copy; only tarballs that passed reach OUTDIR.
  const done = []
  for (const [dir, mustHave, mustNotHave] of [
    [path.join(main, 'npm', PLATFORM), [addon, 'package.json'], []],
    ...(withWasm ? [[path.join(main, 'npm', WASM), [...wasmArtifacts, 'package.json'], [addon]]] : []),
    [main, ['lib/index.js', 'lib/index.d.ts', 'bin/sole.js', 'index.js', 'index.d.ts', 'harness/index.mjs', 'harness/index.d.mts', 'harness/worker.mjs', 'LICENSE'], [addon, wasmFile]],
  ]) {
    const [result] = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', packed], dir))
    const files = result.files.map((f) => f.path)
    const lacking = mustHave.filter((f) => !files.includes(f))
    if (lacking.length > 0) throw new Refused(`${result.filename} lacks ${lacking.join(', ')}`)
    const extra = files.filter((f) => mustNotHave.includes(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')))
    if (extra.length > 0) throw new Refused(`${result.filename} must not contain ${extra.join(', ')}`)
    done.push(result.filename)
  }
  fs.mkdirSync(out, { recursive: true })
  for (const name of done) {
    fs.copyFileSync(path.join(packed, name), path.join(out, name))
    process.stdout.write(`${path.join(out, name)}\n`)
  }
} catch (e) {
  // A failed command has already printed its own error (stderr is inherited).
  process.exitCode = 1
  process.stderr.write(`pack: ${e instanceof Refused ? e.message : e.message.split('\n')[0]}\n`)
} finally {
  fs.rmSync(stage, { recursive: true, force: true })
}
