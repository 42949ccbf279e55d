// Types for oracle.mjs (the critical-section sentinel), for the TypeScript spec.
export interface Identity {
  pid: number
  start: string
}
export declare function procStat(pid: number): { state: string; flags: number; start: string } | null
export declare function selfIdentity(): Identity
export declare function isLive(ident: Identity): boolean
export declare class Sentinel {
  constructor(dir: string, me: Identity)
  enter(shared: boolean): string | null
  exit(shared: boolean): string | null
  /** Still inside (a holder's write after a pause): reads only. */
  check(shared: boolean): string | null
}
