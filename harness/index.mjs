// `sole/harness`: sole's multi-process property harness, for anyone's lock strategy.
//
// Why: a lock that passes its unit tests can still let two processes own it (a stale reclaim
// two processes do at once, a pidfile unlinked under a waiter, a lease that expires while its
// holder is stopped). The harness runs a strategy in real worker processes under schedules
// fast-check generates (acquires, releases, SIGKILLs, barrier races, pauses) and judges it
// with a sentinel written inside the critical section, independent of the strategy; on a
// violation fast-check shrinks the schedule to a short timeline that can be replayed.
//
// This module is the public entry point (package.json `exports["./harness"]`, ESM only, types
// in index.d.mts): `checkStrategy(fileOrLoaded, opts)`, `loadStrategy(file)`, `formatReport`,
// and the CI outputs of report.mjs. The `sole harness` command (lib/cli/harness.ts) is a thin
// shell around the same functions.
//
// fast-check is an optional peer dependency (sole itself has no runtime dependencies): it is
// looked for here, before the engine (harness/schedule.mjs, which imports it) is loaded, so
// that a project without it gets one clear error instead of a module-resolution stack.
import { createRequire } from 'node:module'

import { loadStrategy, StrategyError } from './strategy.mjs'

export { loadStrategy, StrategyError }
export {
  defaultReplayPath,
  formatReport,
  junitReport,
  progressLine,
  readReplay,
  REPLAY_FORMAT,
  ReplayError,
  tapReport,
  writeReplay,
} from './report.mjs'

/** The fast-check major version the generator is written for (the peer dependency's range). */
export const FAST_CHECK_MAJOR = 4

/** fast-check is missing (or of another major version): the CLI's exit 2. */
export class HarnessSetupError extends Error {
  constructor(message, cause) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = 'HarnessSetupError'
    this.code = 'ENOFASTCHECK'
  }
}

const INSTALL = `install it as a devDependency: npm install --save-dev fast-check@${FAST_CHECK_MAJOR}`

/** The installed fast-check's version, resolved from here as the engine will resolve it. */
function fastCheckVersion() {
  const require = createRequire(import.meta.url)
  try {
    return require('fast-check/package.json').version
  } catch (err) {
    if (err?.code === 'MODULE_NOT_FOUND') {
      throw new HarnessSetupError(`the sole harness needs fast-check ${FAST_CHECK_MAJOR}, which is not installed (sole declares it as an optional peer dependency): ${INSTALL}`, err)
    }
    throw err
  }
}

const version = fastCheckVersion()
if (Number.parseInt(version, 10) !== FAST_CHECK_MAJOR) {
  throw new HarnessSetupError(`the sole harness needs fast-check ${FAST_CHECK_MAJOR}, but fast-check ${version} is installed: ${INSTALL}`)
}

const engine = await import('./schedule.mjs')

/** Every worker process still alive (a test's teardown, or the CLI on SIGINT). */
export const killAllWorkers = engine.killAllWorkers

/**
 * Check a lock strategy: `strategy` is a module's path (relative to `opts.cwd`, default the
 * current directory) or `file:` URL, or what {@link loadStrategy} returned. Runs generated
 * schedules until `opts.budgetMs` is spent (or `opts.numRuns` ran), shrinks the first
 * violation for up to `opts.shrinkBudgetMs` more, and resolves with the report (`failed`,
 * `seed`, `path`, the shrunk schedule and its timeline in `last`, the counts in `stats`).
 * With `opts.seed` and `opts.path` (and the same generator options) it replays that one
 * counterexample. Rejects with a {@link StrategyError} when the module is not a strategy.
 */
export async function checkStrategy(strategy, opts = {}) {
  const { cwd, ...rest } = opts
  const loaded = typeof strategy === 'string' || strategy instanceof URL ? await loadStrategy(String(strategy), cwd) : strategy
  if (loaded === null || typeof loaded !== 'object' || typeof loaded.url !== 'string' || loaded.meta === null || typeof loaded.meta !== 'object') {
    throw new StrategyError('checkStrategy needs a strategy module\'s path or what loadStrategy(file) returned')
  }
  return engine.checkStrategy(loaded, rest)
}
