// Types for plan.mjs (the fuzz test's generator and oracle), for the TypeScript spec.
import type { Arbitrary } from 'fast-check'

/** A value descriptor: what the runner turns into a (hostile) JavaScript value. */
export type V = { $: string; [key: string]: unknown }
/** A method call on the object a call or step returned. */
export interface Step {
  m: string
  args: V[]
  steps?: Step[]
}
/** One generated call of an export. */
export interface Call {
  api: string
  args: V[]
  steps?: Step[]
  salt: number
}
/** The runner's report of one step. */
export type Outcome =
  | { k: 'ok'; t: string; granted: boolean }
  | { k: 'throw'; how: string; sentinel: boolean; err?: Record<string, unknown> }

export declare const PLANTED_TIMEOUT_MS: number
export declare const SOLE_CODES: string[]
export declare const OS_CODES: string[]
export declare const DOCUMENTED_CODES: Set<string>
export declare const EXPORT_OF: Record<string, string>
export declare const API_NAMES: string[]
export declare const INTERNAL_APIS: Set<string>
export declare function judge(o: Outcome, ctx?: { revoked?: boolean; exclusivelyHeld?: boolean }): { cls: string; detail: string } | null
/** Is `call` the input that panics in a `planted-panic` build? */
export declare function isPlanted(call: Call): boolean
export declare function batchArb(size: number): Arbitrary<Call[]>
export declare function generate(seed: number, runs: number, size: number): Call[][]
export declare function fmt(d: V | undefined): string
export declare function fmtArgs(args: V[]): string
export declare function contains(d: unknown, pred: (x: V) => boolean): boolean
