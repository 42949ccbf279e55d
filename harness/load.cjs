// The one way CommonJS code inside sole (the `sole harness` command, lib/cli/harness.ts) loads
// the ESM harness: a real dynamic import(). Under tsconfig's `"module": "commonjs"`, TypeScript
// rewrites an `import()` written in lib/cli/*.ts into `require()`, which cannot load an ES
// module on Node 20 (ERR_REQUIRE_ESM). This file is plain JavaScript that tsc never compiles,
// so its import() stays Node's own, and the CLI only `require`s it. Not a public entry point.
'use strict'

/** The harness module (harness/index.mjs); rejects with its HarnessSetupError without fast-check. */
exports.importHarness = () => import('./index.mjs')
