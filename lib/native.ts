/**
 * The native addon's exports, for the lib modules: napi-rs's generated binding (`../index.js`),
 * reached only after `./platform.ts` has checked this machine and loaded it (or thrown
 * `ENOTSUP` / `ENOBINDING`, which say what is wrong, instead of napi's "Cannot find native
 * binding"). Every lib module imports the addon from here, never from `../index.js`, so the
 * check cannot be skipped. Imports are evaluated in source order (in tsc's CommonJS output as
 * in ES modules), so `./platform.js` runs first; the re-export then finds the addon already in
 * the module cache.
 *
 * Tests: `__test__/install.spec.ts`.
 */
import './platform.js'

export * from '../index.js'
