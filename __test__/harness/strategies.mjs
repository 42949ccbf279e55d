// The strategies sole's own tests run the harness against, one module each in `strategies/`
// (the contract: harness/strategy.mjs). Two are sole's real primitives; four are deliberately
// broken copies of public designs, kept only here in the test tree, to prove the harness has
// the power to catch the races they contain (the proof-of-power tests must find a
// counterexample against each of them, every run).
//
// - `sole-lock`: tryLock / lock / release, exclusive and shared.
// - `sole-pidfile`: claimPidfile / claimPidfileWhenFree. Exclusive only.
// - `broken-oexcl-reclaim` (docs/races.md R2 and R3): O_EXCL create, stale reclaim by rename.
// - `broken-unlink-on-release` (docs/races.md R1): a flock pidfile unlinked on release.
// - `broken-content-reader` (issue 3): sole's claims, read the `kill -0 $(cat pidfile)` way.
// - `broken-lease` (docs/races.md R32): a heartbeat lease (mkdir + mtime), taken over when stale.
import { fileURLToPath } from 'node:url'

import { loadStrategy } from '../../harness/strategy.mjs'

export const NAMES = ['sole-lock', 'sole-pidfile', 'broken-oexcl-reclaim', 'broken-unlink-on-release', 'broken-content-reader', 'broken-lease']

/** Name → `{ name, url, meta }`, loaded through the same loader a user's strategy goes through. */
export const STRATEGIES = Object.fromEntries(
  await Promise.all(NAMES.map(async (n) => [n, await loadStrategy(fileURLToPath(new URL(`./strategies/${n}.mjs`, import.meta.url)))])),
)
