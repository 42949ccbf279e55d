// `require('sole/harness')`: the harness is ESM only (its engine is ES modules, and loading it
// checks for fast-check with a top-level await), so CommonJS gets this clear error instead of
// Node's "Package subpath './harness' is not defined by exports". From CommonJS, use
// `const { checkStrategy } = await import('sole/harness')`.
'use strict'

const err = new Error("sole/harness is an ES module: from CommonJS load it with `const { checkStrategy } = await import('sole/harness')` (or run `npx sole harness --strategy FILE`)")
err.code = 'ERR_REQUIRE_ESM'
throw err
