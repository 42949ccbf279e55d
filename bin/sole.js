#!/usr/bin/env node
// The `sole` command. Everything lives in lib/cli (TypeScript, compiled with the library); this
// file only hands it the arguments, so that `npx sole …` and `node_modules/.bin/sole` run the
// same code as `require('sole')`.
'use strict'
require('../lib/cli/main.js').main(process.argv.slice(2))
