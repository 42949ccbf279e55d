#!/usr/bin/env node
// The `sole` command. Everything lives in lib/cli (TypeScript, compiled with the library); this
// file only hands it the arguments, so that `npx sole …` and `node_modules/.bin/sole` run the
// same code as `require('sole')`. If the library itself cannot load (another platform, the
// platform package missing: ENOTSUP / ENOBINDING), that is said the CLI's way, not as a stack.
'use strict'
let cli
try {
  cli = require('../lib/cli/main.js')
} catch (e) {
  const message = (e && e.message) || String(e)
  const code = (e && typeof e.code === 'string' && e.code) || 'EINTERNAL'
  process.stderr.write(`sole: ${message}\n`)
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`)
  process.exit(2)
}
cli.main(process.argv.slice(2))
