/**
 * The scope registry: a machine-wide table of who may write where, with delegation from a
 * parent process to its children. Typed layer over the native binding (`crates/scope` does all
 * the work; options and rules cross as JSON so `null` stays `null`, and every argument is
 * checked in Rust: a wrong type or value is `EINVAL` with `err.argument` naming it, a bad pid
 * `EINVALIDPID`). Every method is synchronous: an operation holds the registry's file lock for
 * microseconds to a few milliseconds.
 */
import * as native from './native.js'
import { invalidArgument } from './wait.js'

// The option objects, rules and results are declared in Rust (`src/scope/types.rs`) and
// generated into index.d.ts; they are re-exported here under their public names.
import type { Allocation, AdoptOptions, DelegateOptions, EffectiveWriteScope, RegisterOptions, ScopeRule } from '../index.js'
import type { SoleErrorCode } from './errors.js'
export type { Permission, ScopeRule, Allocation, RegisterOptions, DelegateOptions, AdoptOptions, EffectiveWriteScope } from '../index.js'

/**
 * Codes of scope registry errors (the same `SoleErrorCode` as every sole error, generated from
 * the one table in `crates/error`; besides OS codes such as `EACCES`, `ENOSPC`):
 * - `EDUPLICATE` (`err.allocation`): the name is already registered; or (with
 *   `err.sessionId`) another live allocation, `err.allocation`, already has the session id.
 * - `ECONFLICT` (`err.competitor`, `err.rule`): a write rule overlaps another allocation's.
 * - `ENOTSUBSET` (`err.spawner`, `err.rule`): a delegated rule is not inside the spawner's
 *   effective write scope.
 * - `EUNKNOWN` (`err.allocation`): no allocation has that name.
 * - `ECORRUPT` (`err.path`): the data file is not a table sole wrote; it is never overwritten.
 * - `ESYMLINK`, `EINSECURE`, `ENOTREG`: a symlinked, foreign-owned or group/world-writable
 *   file or directory (the directory given or the default one), or a data path that is not a
 *   regular file (a directory: pass the data file's path inside it).
 * - `EINVAL` (`err.argument` names the argument or option, e.g. `'name'`,
 *   `'scopes[1].target'`, `'timeoutMs'`): a wrong type, a relative target or one with a NUL
 *   byte, a bad permission, an empty name or one with a NUL byte or over 1,024 bytes, more than
 *   1,024 rules, an unknown option, a bigint, symbol, function or cycle where data belongs.
 * - `EINVALIDPID` (`err.argument === 'pid'`): a pid that is not an integer in 1..2^31-1.
 * - `ENOTFOUND` (`err.pid`): the owner pid given to `register`, `delegate` or `adopt` is not a
 *   running process (its allocation would be reclaimed at once).
 * - `EBADF`: the registry was closed.
 * - `ETIMEDOUT` (`err.pid` of the holder): another process held the registry lock longer than
 *   `timeoutMs` (see {@link ScopeRegistry.open}).
 */
export type ScopeErrorCode = SoleErrorCode

/**
 * Releases its allocation on `release()` or at the end of a `using` block, and only then. A
 * guard that is garbage-collected without `release()` does not release: the allocation stays
 * with its process until that process exits (the next registry operation of any process then
 * reclaims it). So not keeping the guard never loses the claim while its owner runs.
 */
export interface ScopeGuard extends Disposable {
  readonly name: string
  readonly released: boolean
  /** Remove the allocation; `false` when it was already gone. Idempotent. */
  release(): boolean
}

declare module '../index.js' {
  interface NativeScopeGuard {
    [Symbol.dispose](): void
  }
}

native.NativeScopeGuard.prototype[Symbol.dispose] = function (this: native.NativeScopeGuard) {
  this.release()
}

/** Deeper than any options object or rule: past this a value is refused, not recursed into. */
const MAX_DEPTH = 32

/**
 * `value` as JSON for the native layer, with what JSON cannot carry replaced by a tag object
 * `{ "\u0000sole": kind, shown }` that the Rust side refuses, naming the option it was given for
 * (see `crates/scope/src/json/`): bigints (`JSON.stringify` would throw a code-less
 * TypeError), symbols and functions (silently dropped), NaN, ±Infinity and -0 (`null` and `0`:
 * a NaN pid would become "this process"), cycles (a code-less TypeError), absurd nesting, and
 * boxed primitives such as `new String('x')` (refused like everywhere else a string is due).
 * `undefined`/`null` pass through: the native side reads them as "all defaults". A caller's
 * own exception from a getter, Proxy trap or `toJSON` propagates unchanged: this replacer
 * never catches.
 */
function j(value: unknown): string | null | undefined {
  if (value === undefined || value === null) return value
  // The objects being serialised, from the root wrapper down to the current holder.
  const stack: unknown[] = []
  return JSON.stringify(value, function (this: unknown, _key: string, v: unknown): unknown {
    if (stack.length === 0) stack.push(this)
    else while (stack.length > 1 && stack[stack.length - 1] !== this) stack.pop()
    let out = v
    switch (typeof v) {
      case 'bigint':
        out = tag('bigint', `${v}n`)
        break
      case 'symbol':
        out = tag('symbol', v.toString())
        break
      case 'function':
        out = tag('function', '')
        break
      case 'number':
        if (!Number.isFinite(v) || Object.is(v, -0)) out = tag('number', Object.is(v, -0) ? '-0' : String(v))
        break
      case 'object':
        if (v === null) break
        if (stack.includes(v)) out = tag('cycle', '')
        else if (stack.length > MAX_DEPTH) out = tag('deep', '')
        else if (v instanceof String || v instanceof Number || v instanceof Boolean || v instanceof BigInt) out = tag('boxed', v.constructor.name)
        break
    }
    if (typeof out === 'object' && out !== null) stack.push(out)
    return out
  })
}

function tag(kind: string, shown: string): object {
  return { '\u0000sole': kind, shown }
}

/**
 * A machine-wide registry of write scopes. Every operation first reclaims allocations whose
 * process died (or whose pid now belongs to another process), so a crashed owner is cleaned up
 * by the next operation of any process.
 */
export class ScopeRegistry implements Disposable {
  readonly #n: native.NativeScopeRegistry

  private constructor(n: native.NativeScopeRegistry) {
    if (!(n instanceof native.NativeScopeRegistry)) {
      throw invalidArgument('constructor', 'ScopeRegistry objects are made by ScopeRegistry.open(path?, { timeoutMs? }): call that instead of new ScopeRegistry().')
    }
    this.#n = n
  }

  /**
   * Open the registry whose data file is `path`. Default: `$SOLE_RUNTIME_DIR/scope.json`, else
   * `$XDG_RUNTIME_DIR/sole/scope.json`, else `<os.tmpdir()>/sole-<uid>/scope.json` (created
   * 0700 and verified). The table is loaded once, so a corrupt or hostile file throws here.
   *
   * Every method is synchronous and first takes the registry's lock. `timeoutMs` (default
   * 10000; any number of milliseconds from 0 to `Number.MAX_SAFE_INTEGER`) bounds the wait for
   * another process's operation: a holder stuck that long (stopped, hung, hostile) gives
   * `ETIMEDOUT` naming its pid instead of a frozen event loop. `undefined`/`null` options are
   * the defaults. A path that is a directory is `ENOTREG`; a directory writable by group or
   * others is `EINSECURE`.
   */
  static open(path?: string | null, opts?: { timeoutMs?: number | null; allowNetworkFs?: boolean | null } | null): ScopeRegistry {
    return new ScopeRegistry(native.NativeScopeRegistry.open(path, opts))
  }

  /**
   * Move a corrupt data file aside as `<path>.corrupt-<ms>-<pid>` and return that path;
   * `null` when the file is absent or valid (nothing to repair).
   */
  static repair(path: string): string | null {
    return native.scopeRepair(path) ?? null
  }

  /** Absolute path of the data file. */
  get path(): string {
    return this.#n.path
  }

  /**
   * Close the registry's directory and lock-file descriptors now rather than at garbage
   * collection. Guards it issued can still release. Idempotent; other methods then throw
   * `EBADF`. Allocations are not touched: they live in the file until released or reclaimed.
   */
  close(): void {
    this.#n.close()
  }

  /** Same as `close()`: `using reg = ScopeRegistry.open(...)`. */
  [Symbol.dispose](): void {
    this.#n.close()
  }

  /**
   * Register a top-level allocation. `pid` must be a running process (`ENOTFOUND`), the name
   * and the session id unused (`EDUPLICATE`). Throws `EDUPLICATE`, `ECONFLICT`.
   */
  register(opts: RegisterOptions): void {
    this.#n.register(j(opts))
  }

  /**
   * Reserve a child allocation inside `spawner`'s effective write scope; the child calls
   * `adopt` (or `adoptAllocation`) once it runs. Throws `EDUPLICATE`, `EUNKNOWN`,
   * `ENOTSUBSET`, `ECONFLICT`.
   */
  delegate(spawner: string, opts: DelegateOptions): void {
    this.#n.delegate(spawner, j(opts))
  }

  /** Remove an allocation; its children pass to its parent. Throws `EUNKNOWN`. */
  release(name: string): void {
    this.#n.release(name)
  }

  /** Remove stale allocations now; returns their names. */
  reclaimStale(): string[] {
    return JSON.parse(this.#n.reclaimStale()) as string[]
  }

  /**
   * Take over a reserved allocation: new pid (default this process; must be running, else
   * `ENOTFOUND`) and session (unused by any other allocation, else `EDUPLICATE`).
   */
  adopt(name: string, opts: AdoptOptions): void {
    this.#n.adopt(name, j(opts))
  }

  /** The allocation currently writing to `sessionId`, or `null`. */
  lookupSession(sessionId: string): Allocation | null {
    return JSON.parse(this.#n.lookupSession(sessionId)) as Allocation | null
  }

  /** Every live allocation, in registration order. */
  list(): Allocation[] {
    return JSON.parse(this.#n.list()) as Allocation[]
  }

  /** `name`'s own write rules and the write rules its children hold. Throws `EUNKNOWN`. */
  effectiveWriteScope(name: string): EffectiveWriteScope {
    return JSON.parse(this.#n.effectiveWriteScope(name)) as EffectiveWriteScope
  }

  /** Could `name` delegate `rule` now (inside its effective write scope)? Throws `EUNKNOWN`. */
  withinEffectiveWrite(name: string, rule: ScopeRule): boolean {
    return this.#n.withinEffectiveWrite(name, j(rule))
  }

  /**
   * The allocation that owns a write scope overlapping `rule` (the deepest in its delegation
   * tree), ignoring `exempt`; `null` for read rules or when nobody does.
   */
  conflictOwner(rule: ScopeRule, exempt?: string): string | null {
    return this.#n.conflictOwner(j(rule), exempt) ?? null
  }

  /**
   * `register`, returning a guard that releases the allocation on `release()` / `using`. A
   * guard that is garbage-collected without `release()` keeps the allocation until this
   * process (the owner) exits.
   */
  installTopLevel(opts: RegisterOptions): ScopeGuard {
    return this.#n.installTopLevel(j(opts)) as ScopeGuard
  }

  /** `adopt`, returning a guard, as {@link ScopeRegistry.installTopLevel}. */
  adoptAllocation(name: string, opts: AdoptOptions): ScopeGuard {
    return this.#n.adoptAllocation(name, j(opts)) as ScopeGuard
  }
}

/** Do `a` and `b` claim a common path? */
export function rulesOverlap(a: ScopeRule, b: ScopeRule): boolean {
  return native.scopeRulesOverlap(j(a), j(b))
}

/** Does `cover` claim every path `inner` claims, with at least its permission? */
export function coversFully(cover: ScopeRule, inner: ScopeRule): boolean {
  return native.scopeCoversFully(j(cover), j(inner))
}
