// Loading a lock strategy: the contract between the harness and the code it checks.
//
// A strategy is a module (ESM or CommonJS) whose default export is `makeStrategy(target)`,
// returning `{ tryAcquire(shared), acquire(shared), release(handle), read?() }` (any may return
// a Promise; `tryAcquire` gives a handle or null, `acquire` waits for one), and optionally
// `export const meta = { shared, kernelVisible, pidContent, file }`:
// - `shared`: the strategy has shared holders (else every request is exclusive);
// - `kernelVisible`: the lock is a flock on the target, so sole's readPidfile must see the
//   holder (a settled owner is reported held, a free lock is not);
// - `pidContent`: the target's content must name the settled owner (pidfile semantics);
// - `file`: the target's file name in the run's directory (default `target.lock`).
// sole's own strategies also set `real` (its primitives: held reads must come from the kernel
// and carry the holder's identity). Everything else defaults to false.
//
// The module is imported once here (for `meta`, and to refuse a module that is not a strategy
// before any worker starts) and once in every worker process (which calls `makeStrategy`).
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

/** A strategy file the harness cannot use: the CLI's exit 2. */
export class StrategyError extends Error {
  constructor(message, cause) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = 'StrategyError'
    this.code = 'ESTRATEGY'
  }
}

const FLAGS = ['shared', 'kernelVisible', 'pidContent', 'real']

/** The strategy function and `meta` of an imported module (ESM default, or CommonJS exports). */
export function strategyOf(mod) {
  const cjs = mod.default !== null && typeof mod.default === 'object' ? mod.default : undefined
  const make = typeof mod.default === 'function' ? mod.default : typeof mod.makeStrategy === 'function' ? mod.makeStrategy : cjs?.makeStrategy ?? cjs?.default
  const meta = mod.meta ?? mod.default?.meta ?? cjs?.meta
  return { make, meta }
}

/**
 * Resolve and import `file` (a path, relative to `cwd`, or a `file:` URL) and check that it is
 * a strategy. Returns `{ name, url, meta }`, what the harness passes around; throws a
 * {@link StrategyError} saying what is wrong.
 */
export async function loadStrategy(file, cwd = process.cwd()) {
  if (typeof file !== 'string' || file === '') throw new StrategyError('a strategy is a path to a module (ESM or CommonJS) whose default export is makeStrategy(target)')
  const url = file.startsWith('file:') ? file : pathToFileURL(path.resolve(cwd, file)).href
  // A missing file is said plainly (the loader's own message names this module as the importer).
  const abs = fileURLToPath(url)
  if (!fs.existsSync(abs)) throw new StrategyError(`cannot load the strategy ${file}: no such file (${abs})`)
  let mod
  try {
    mod = await import(url)
  } catch (err) {
    throw new StrategyError(`cannot load the strategy ${file}: ${err?.message ?? err}`, err)
  }
  const { make, meta = {} } = strategyOf(mod)
  if (typeof make !== 'function') {
    throw new StrategyError(`${file} is not a strategy: its default export must be a function makeStrategy(target) returning { tryAcquire, acquire, release, read? }`)
  }
  if (meta === null || typeof meta !== 'object') throw new StrategyError(`${file}: meta must be an object { shared, kernelVisible, pidContent, file }`)
  for (const k of FLAGS) {
    if (meta[k] !== undefined && typeof meta[k] !== 'boolean') throw new StrategyError(`${file}: meta.${k} must be a boolean, got ${JSON.stringify(meta[k])}`)
  }
  if (meta.file !== undefined && (typeof meta.file !== 'string' || meta.file === '' || meta.file.includes('/') || meta.file === '.' || meta.file === '..')) {
    throw new StrategyError(`${file}: meta.file must be a plain file name (no '/'), got ${JSON.stringify(meta.file)}`)
  }
  const name = path.basename(file.startsWith('file:') ? new URL(file).pathname : file).replace(/\.[cm]?js$/, '')
  return {
    name,
    url,
    meta: Object.fromEntries([...FLAGS.map((k) => [k, meta[k] === true]), ['file', meta.file ?? 'target.lock']]),
  }
}
