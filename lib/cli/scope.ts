/**
 * `sole scope list|reclaim|repair`: the scope registry for an operator. `list` reads the data
 * file without opening the registry (opening it reclaims stale allocations, and a listing that
 * changed what it lists could never show a stale one); `reclaim` and `repair` are the
 * library's `ScopeRegistry` operations, reported. The read-only table reader here is also what
 * `sole status` uses for a registry data file.
 */
import path from 'node:path'

import { scopeRegistryPath, scopeSnapshot } from '../../index.js'
import { type Allocation, type ScopeRule, ScopeRegistry } from '../index.js'
import { type Command, CliError, EXIT_ERROR, EXIT_NO, EXIT_OK, optionValue, parse, printJson } from './common.js'

/** One allocation as `sole scope list` (and `sole status`) report it. */
export interface AllocationReport {
  name: string
  pid: number
  /** `true` while the recorded pid, start time and boot id still name a running process. */
  live: boolean
  /** The parent that delegated it, or `null` for a top-level allocation. */
  delegatedFrom: string | null
  /** `null` while a delegated child is only reserved (not adopted yet). */
  sessionId: string | null
  rules: ScopeRule[]
}

/** `sole scope list --json`. */
export interface ScopeListReport {
  registry: string
  /** `false` when the data file does not exist (an empty registry). */
  exists: boolean
  allocations: AllocationReport[]
}

/** `sole scope reclaim --json`. */
export interface ScopeReclaimReport {
  registry: string
  /** The allocations removed because their owner was gone (empty: nothing was stale). */
  reclaimed: string[]
}

/** `sole scope repair --json`. */
export interface ScopeRepairReport {
  registry: string
  /** Where the damaged data file was moved, or `null` when it was absent or valid. */
  movedTo: string | null
}

/**
 * The registry at `registry` (the library's default location when `undefined`) as it is on
 * disk, without creating, locking or changing anything: every allocation, judged live or
 * stale by the rule the registry reclaims by. Decided natively (`scopeSnapshot`: the
 * registry's own codec and liveness rule); `ECORRUPT` for a file the registry would refuse.
 */
export function snapshot(registry: string | undefined): ScopeListReport {
  const s = JSON.parse(scopeSnapshot(registry)) as { path: string; exists: boolean; allocations: (Allocation & { live: boolean })[] }
  return {
    registry: s.path,
    exists: s.exists,
    allocations: s.allocations.map((a) => ({
      name: a.name,
      pid: a.pid,
      live: a.live,
      delegatedFrom: a.delegatedFrom,
      sessionId: a.sessionId,
      rules: a.scopes,
    })),
  }
}

/** `read /x (recursive)` style text for one rule. */
function ruleText(r: ScopeRule): string {
  return `${r.permission} ${r.target}${r.recursive ? '/**' : ''}`
}

const HELP = `Usage: sole scope list    [--registry PATH] [--json]
       sole scope reclaim [--registry PATH] [--json]
       sole scope repair  [--registry PATH] [--json]

The scope registry (a machine-wide table of who may write where; see the README's "Scope
registry"). PATH is the registry's data file; default: $SOLE_RUNTIME_DIR/scope.json, else
$XDG_RUNTIME_DIR/sole/scope.json, else $TMPDIR/sole-<uid>/scope.json (TMPDIR defaults to /tmp).

  list     every allocation: name, pid, live or stale, parent, session and rules. Reads the
           data file only: no lock, no change (a stale allocation is listed as stale; opening
           the registry, as every other operation does, would reclaim it first).
  reclaim  remove the allocations whose owner is gone (its pid exited, or now belongs to a
           process that started at another time or in another boot), and name them. Their
           children pass to their parents.
  repair   move a corrupt data file (one that is not a table sole wrote) aside, as
           PATH.corrupt-<unix ms>-<pid> in the same directory, and print that path; the
           registry starts again from an empty table. A valid or absent file is left alone.

Options:
  --registry PATH  the data file (not its directory)
  --json           one JSON document on stdout (see the README for its shape)
  -h, --help       this text

Exit status:
  0  listed; reclaimed at least one allocation; moved a corrupt file aside
  1  reclaim: nothing was stale; repair: nothing to repair (absent or valid)
  2  an error (corrupt file for list/reclaim, symlink, permissions, usage)
`

export const scope: Command = {
  summary: 'list, reclaim or repair the scope registry',
  help: HELP,
  run(argv) {
    const p = parse(argv, { registry: { value: true } })
    const json = p.options.has('json')
    const [action, ...extra] = p.positionals
    if (action === undefined) throw new CliError('scope needs an action: list, reclaim or repair (see --help)')
    if (extra.length > 0) throw new CliError(`scope ${action}: unexpected argument '${extra[0]}' (see --help)`)
    const given = optionValue(p, 'registry')
    if (given === '') throw new CliError('--registry needs a path (the registry data file)')
    const registry = given === undefined ? undefined : path.resolve(given)
    switch (action) {
      case 'list':
        return list(registry, json)
      case 'reclaim':
        return reclaim(registry, json)
      case 'repair':
        return repair(scopeRegistryPath(registry), json)
      default:
        throw new CliError(`scope: unknown action '${action}' (actions: list, reclaim, repair; see --help)`)
    }
  },
}

function list(given: string | undefined, json: boolean): number {
  const report = snapshot(given)
  const { registry, allocations } = report
  if (json) {
    printJson(report)
    return EXIT_OK
  }
  if (allocations.length === 0) {
    process.stdout.write(`${registry}: no allocations${report.exists ? '' : ' (no data file)'}\n`)
    return EXIT_OK
  }
  const live = allocations.filter((a) => a.live).length
  let out = `${registry}: ${allocations.length} allocation${allocations.length === 1 ? '' : 's'} (${live} live, ${allocations.length - live} stale)\n`
  for (const a of allocations) {
    out += `  ${a.name}  pid ${a.pid}  ${a.live ? 'live' : 'stale'}`
    if (a.delegatedFrom !== null) out += `  delegated from ${a.delegatedFrom}`
    if (a.sessionId === null) out += '  (reserved, not adopted)'
    out += '\n'
    for (const r of a.rules) out += `      ${ruleText(r)}\n`
  }
  process.stdout.write(out)
  return EXIT_OK
}

function reclaim(given: string | undefined, json: boolean): number {
  // Opening the registry reclaims already (every operation does), so judge first what is
  // stale, then name those that the registry removed.
  const { registry, exists, allocations: before } = snapshot(given)
  if (!exists) {
    // No data file: nothing to reclaim, and nothing is created by asking.
    if (json) printJson({ registry, reclaimed: [] } satisfies ScopeReclaimReport)
    else process.stdout.write(`${registry}: nothing to reclaim (no data file)\n`)
    return EXIT_NO
  }
  const reg = ScopeRegistry.open(registry)
  let reclaimed: string[]
  try {
    const explicit = reg.reclaimStale()
    const after = new Set(reg.list().map((a) => a.name))
    const gone = before.filter((a) => !a.live && !after.has(a.name)).map((a) => a.name)
    reclaimed = [...new Set([...gone, ...explicit])]
  } finally {
    reg.close()
  }
  if (json) printJson({ registry, reclaimed } satisfies ScopeReclaimReport)
  else if (reclaimed.length === 0) process.stdout.write(`${registry}: nothing to reclaim (no allocation is stale)\n`)
  else process.stdout.write(`${registry}: reclaimed ${reclaimed.length} stale allocation${reclaimed.length === 1 ? '' : 's'}: ${reclaimed.join(', ')}\n`)
  return reclaimed.length > 0 ? EXIT_OK : EXIT_NO
}

function repair(registry: string, json: boolean): number {
  const movedTo = ScopeRegistry.repair(registry)
  if (json) printJson({ registry, movedTo } satisfies ScopeRepairReport)
  else if (movedTo === null) process.stdout.write(`${registry}: nothing to repair (the data file is absent or a valid table)\n`)
  else process.stdout.write(`${registry}: was corrupt; moved it aside to ${movedTo} (inspect it there); the registry starts from an empty table\n`)
  return movedTo === null ? EXIT_NO : EXIT_OK
}
