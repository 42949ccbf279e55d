/**
 * What napi-rs cannot express for waits, in one place: reading a caller's options once,
 * AbortSignals, and timers longer than a JavaScript timer can hold.
 *
 * - Options are read once ({@link snapshot}): the native side validates the very values this
 *   layer then uses for its timer and signal, so a getter that answers differently on each
 *   read cannot make the two disagree. A getter's own exception passes through unchanged.
 * - A `signal` must look like an AbortSignal (`aborted`, `addEventListener`,
 *   `removeEventListener`); anything else is `EINVAL` with `err.argument === 'signal'`. A
 *   signal from another realm that has that shape works.
 * - `setTimeout` fires at once for delays past 2^31-1 ms; {@link longTimer} chains timers so a
 *   `timeoutMs` up to `Number.MAX_SAFE_INTEGER` (the bound the native side accepts) waits that
 *   long.
 */
import * as native from './native.js'

import type { SoleError } from './errors.js'

/**
 * A plain copy of `opts` holding only `keys`, each read once. `undefined`/`null` → `undefined`;
 * a value that is not an object is passed on as it is, for the native side to refuse with
 * `EINVAL`.
 */
export function snapshot(opts: unknown, keys: readonly string[]): unknown {
  if (opts === undefined || opts === null) return undefined
  if (typeof opts !== 'object' && typeof opts !== 'function') return opts
  const src = opts as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const k of keys) out[k] = src[k]
  return out
}

/** The field `key` of a snapshot (or `undefined`). */
export function field(snap: unknown, key: string): unknown {
  return typeof snap === 'object' && snap !== null ? (snap as Record<string, unknown>)[key] : undefined
}

/** An `EINVAL` error naming `argument`, built natively by the one error mapper. */
export function invalidArgument(argument: string, message: string): SoleError {
  return native.invalidArgumentError(argument, message) as SoleError
}

/**
 * A value as text for an error message, never throwing: `String(v)` throws for an object
 * without a prototype (`Object.create(null)`), a throwing `toString`, or a revoked Proxy, and
 * a message about bad input must not become a `TypeError` without a code (the API fuzz test,
 * `__test__/fuzz.spec.ts`, found that in `requestSingleInstance`).
 */
export function shown(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || typeof v === 'symbol' || v === undefined || v === null) return String(v)
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)
  try {
    if (v instanceof Error) return String(v.message)
  } catch {
    // a Proxy whose getPrototypeOf or message getter throws: described by its type below
  }
  return typeof v === 'object' ? 'an object' : 'a function'
}

/** The `signal` option: `undefined`, or something shaped like an AbortSignal. */
export function signalOf(snap: unknown): AbortSignal | undefined {
  const s = field(snap, 'signal')
  if (s === undefined || s === null) return undefined
  const o = s as Partial<AbortSignal>
  if (
    (typeof s === 'object' || typeof s === 'function') &&
    typeof o.aborted === 'boolean' &&
    typeof o.addEventListener === 'function' &&
    typeof o.removeEventListener === 'function'
  ) {
    return s as AbortSignal
  }
  throw invalidArgument('signal', `signal must be an AbortSignal (for example AbortSignal.timeout(ms) or new AbortController().signal), got ${typeof s}.`)
}

/** The longest delay one `setTimeout` holds. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** Call `fn` after `ms` milliseconds, for any `ms` up to `Number.MAX_SAFE_INTEGER`; returns a canceller. */
export function longTimer(ms: number, fn: () => void): () => void {
  let left = ms
  let handle: ReturnType<typeof setTimeout>
  const arm = (): void => {
    const step = Math.min(left, MAX_TIMER_MS)
    left -= step
    handle = setTimeout(left > 0 ? arm : fn, step)
  }
  arm()
  return () => clearTimeout(handle)
}
