// An independent, deliberately simple model of the scope registry's semantics, for the
// model-based test. It does not share code or structure with `crates/scope`: coverage is
// reasoned about as sets of paths, and normalisation uses Node's `path.posix`.
import path from 'node:path'

export type Perm = 'read' | 'write'
export interface MRule { target: string; permission: Perm; recursive: boolean }
export interface MAlloc { name: string; pid: number; scopes: MRule[]; delegatedFrom: string | null; sessionId: string | null }
export type Outcome = { ok: true; value?: unknown } | { ok: false; code: string; who?: string }

export function norm(t: string): string {
  if (!t.startsWith('/')) throw Object.assign(new Error('relative'), { code: 'EINVAL' })
  const n = path.posix.normalize(t)
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n
}

/** Is `p` one of the paths `r` claims? recursive: t and below; else t and its children. */
function claims(r: MRule, p: string): boolean {
  if (p === r.target) return true
  const under = r.target === '/' ? p.startsWith('/') && p !== '/' : p.startsWith(r.target + '/')
  if (!under) return false
  return r.recursive || path.posix.dirname(p) === r.target
}

/** Two claims share a path iff one of the two targets is claimed by both (see the proof in
 *  the spec's comment): the shared path, if not a target, lies below both targets. */
export function overlap(a: MRule, b: MRule): boolean {
  return (claims(a, b.target) && claims(b, b.target)) || (claims(a, a.target) && claims(b, a.target))
}

/** cover ⊇ inner as path sets, and at least its permission. */
export function covers(cover: MRule, inner: MRule): boolean {
  if (cover.permission === 'read' && inner.permission === 'write') return false
  if (cover.recursive) return claims(cover, inner.target)
  return !inner.recursive && inner.target === cover.target
}

export class Model {
  allocs: MAlloc[] = []
  dead = new Set<number>()

  private get(name: string) { return this.allocs.find((a) => a.name === name) }
  private kids(name: string) { return this.allocs.filter((a) => a.delegatedFrom === name) }

  /** Remove allocations of dead pids; survivors go to their nearest live ancestor. */
  reclaim(): string[] {
    const gone = this.allocs.filter((a) => this.dead.has(a.pid)).map((a) => a.name)
    if (gone.length === 0) return []
    const parentOf = new Map(this.allocs.map((a) => [a.name, a.delegatedFrom]))
    this.allocs = this.allocs.filter((a) => !gone.includes(a.name))
    for (const a of this.allocs) {
      let p = a.delegatedFrom
      while (p !== null && gone.includes(p)) p = parentOf.get(p) ?? null
      a.delegatedFrom = p
    }
    return gone
  }

  private ownerIn(a: MAlloc, rule: MRule): string | null {
    if (!a.scopes.some((r) => r.permission === 'write' && overlap(r, rule))) return null
    for (const k of this.kids(a.name)) {
      const o = this.ownerIn(k, rule)
      if (o !== null) return o
    }
    return a.name
  }

  conflictOwner(rule: MRule, exempt: string | null): string | null {
    if (rule.permission !== 'write') return null
    for (const root of this.allocs.filter((a) => a.delegatedFrom === null)) {
      const o = this.ownerIn(root, rule)
      if (o !== null && o !== exempt) return o
    }
    return null
  }

  within(parent: string, rule: MRule): boolean {
    const p = this.get(parent)
    if (!p) return false
    const mine = p.scopes.filter((r) => rule.permission === 'read' || r.permission === 'write')
    if (!mine.some((r) => covers(r, rule))) return false
    if (rule.permission === 'read') return true
    return !this.kids(parent).some((k) => k.scopes.some((r) => r.permission === 'write' && overlap(r, rule)))
  }

  /** Session ids are unique among live allocations (other than `except`). */
  private sessionTaken(sessionId: string, except: string | null = null): boolean {
    return this.allocs.some((a) => a.sessionId === sessionId && a.name !== except)
  }

  register(name: string, pid: number, scopes: MRule[], sessionId: string): Outcome {
    // The owner must be running: checked before anything else (and before the lock).
    if (this.dead.has(pid)) return { ok: false, code: 'ENOTFOUND' }
    this.reclaim()
    if (this.get(name)) return { ok: false, code: 'EDUPLICATE' }
    if (this.sessionTaken(sessionId)) return { ok: false, code: 'EDUPLICATE' }
    for (const r of scopes) {
      const o = this.conflictOwner(r, null)
      if (o !== null) return { ok: false, code: 'ECONFLICT', who: o }
    }
    this.allocs.push({ name, pid, scopes, delegatedFrom: null, sessionId })
    return { ok: true }
  }

  delegate(spawner: string, name: string, pid: number, scopes: MRule[]): Outcome {
    if (this.dead.has(pid)) return { ok: false, code: 'ENOTFOUND' }
    this.reclaim()
    if (this.get(name)) return { ok: false, code: 'EDUPLICATE' }
    if (!this.get(spawner)) return { ok: false, code: 'EUNKNOWN' }
    for (const r of scopes) {
      if (!this.within(spawner, r)) return { ok: false, code: 'ENOTSUBSET', who: spawner }
      const o = this.conflictOwner(r, spawner)
      if (o !== null) return { ok: false, code: 'ECONFLICT', who: o }
    }
    this.allocs.push({ name, pid, scopes, delegatedFrom: spawner, sessionId: null })
    return { ok: true }
  }

  release(name: string): Outcome {
    this.reclaim()
    const a = this.get(name)
    if (!a) return { ok: false, code: 'EUNKNOWN' }
    this.allocs = this.allocs.filter((x) => x !== a)
    for (const k of this.allocs) if (k.delegatedFrom === name) k.delegatedFrom = a.delegatedFrom
    return { ok: true }
  }

  adopt(name: string, pid: number, sessionId: string): Outcome {
    if (this.dead.has(pid)) return { ok: false, code: 'ENOTFOUND' }
    this.reclaim()
    const a = this.get(name)
    if (!a) return { ok: false, code: 'EUNKNOWN' }
    if (this.sessionTaken(sessionId, name)) return { ok: false, code: 'EDUPLICATE' }
    a.pid = pid
    a.sessionId = sessionId
    return { ok: true }
  }

  lookup(sessionId: string): Outcome {
    this.reclaim()
    return { ok: true, value: this.allocs.find((a) => a.sessionId === sessionId)?.name ?? null }
  }

  reclaimStale(): Outcome {
    return { ok: true, value: this.reclaim() }
  }
}

/**
 * The registry's invariant on any listed table: write rules of two allocations that are not in
 * one delegation chain (neither is an ancestor of the other) never overlap, and every rule of a
 * delegated allocation is covered by one of its parent's rules. Returns a violation or null.
 */
export function violation(allocs: MAlloc[]): string | null {
  const by = new Map(allocs.map((a) => [a.name, a]))
  const ancestors = (a: MAlloc): Set<string> => {
    const s = new Set<string>()
    for (let p = a.delegatedFrom; p !== null && !s.has(p); p = by.get(p)?.delegatedFrom ?? null) s.add(p)
    return s
  }
  for (const a of allocs) {
    if (a.delegatedFrom !== null) {
      const p = by.get(a.delegatedFrom)
      if (!p) return `${a.name}'s parent ${a.delegatedFrom} is missing`
      for (const r of a.scopes) if (!p.scopes.some((pr) => covers(pr, r))) return `${a.name}'s ${r.target} is outside parent ${p.name}`
    }
  }
  for (const a of allocs) {
    const aa = ancestors(a)
    for (const b of allocs) {
      if (a === b || aa.has(b.name) || ancestors(b).has(a.name)) continue
      for (const ra of a.scopes) for (const rb of b.scopes) {
        if (ra.permission === 'write' && rb.permission === 'write' && overlap(ra, rb)) return `${a.name} ${ra.target} overlaps ${b.name} ${rb.target}`
      }
    }
  }
  return null
}
