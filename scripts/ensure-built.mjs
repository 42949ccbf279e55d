// Build the release addon, the TypeScript layer and (where its toolchain is) the WebAssembly
// build. cargo and tsc are incremental, so this is cheap when nothing changed; `npm test`,
// `npm run stress` and `npm run bench` call it first so they never run against a stale binary.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const bin = (name) => path.join(root, 'node_modules', '.bin', name)
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' })

// lib/codes.ts from the one table of error codes (crates/error): rewritten only when it changed.
run('cargo', ['run', '--quiet', '-p', 'sole-error', '--example', 'codes_ts'])
run(bin('napi'), ['build', '--platform', '--release'])
run(bin('tsc'), ['-p', 'tsconfig.json'])
// The WebAssembly build beside it, where Debian's offline wasm toolchain is installed (.ci/run
// installs it); without it this says so and the wasm tests skip (scripts/build-wasm.mjs).
run(process.execPath, [path.join(root, 'scripts', 'build-wasm.mjs'), '--if-available'])
