// The API fuzz test's generator (fast-check) and its oracle, shared by the spec
// (`__test__/fuzz.spec.ts`), the driver (`driver.mjs`) and the runner (`runner.mjs`).
//
// A generated call is plain data (a `Call`): the export to call, its arguments as value
// descriptors (`V`), and the methods to call on what it returns (`steps`, recursively). The
// runner turns descriptors into hostile JavaScript values (proxies whose traps throw a unique
// sentinel, revoked proxies, symbols, functions, 1 MB strings, AbortSignals real and fake,
// pids of its own live, dying, reaped and zombie children, paths of held files, FIFOs,
// symlinks, …). Descriptors cross to the runner with `v8.serialize`, so NaN, -0, bigint,
// undefined, Map, Set, Date and typed arrays from `fc.anything()` arrive as they were made.
//
// Safety, decided here and enforced again by the runner: every path argument names a file in
// the runner's own temporary directory (arbitrary strings are mapped into it); pids given to
// calls that send signals are only the runner's own children; a value that could be coerced
// to a real pid (0, -1, true, '1', …) is never a target of a signalling call.
import fc from 'fast-check'
import { createRequire } from 'node:module'

/** The planted panic (`src/planted.rs`, feature `planted-panic`): `tryLock` with this timeoutMs. */
export const PLANTED_TIMEOUT_MS = 4242

// ---------------------------------------------------------------------------------------------
// The oracle

/**
 * Codes a caller may see: every code of sole's one table (`crates/error`, generated into
 * `lib/codes.ts`: sole's own codes and the errno names of OS failures), but `ECANCELED` (the
 * typed layer turns a cancelled wait into Node's `AbortError`, `ABORT_ERR`) and `EINTERNAL` (a
 * caught panic: always a failure of this test).
 */
const { Code } = createRequire(import.meta.url)('../../lib/codes.js')
export const DOCUMENTED_CODES = new Set([
  ...Object.values(Code).filter((c) => c !== Code.ECANCELED && c !== Code.EINTERNAL),
  'ABORT_ERR',
])

/**
 * Judge one outcome reported by the runner. `null`: fine. Otherwise `{ cls, detail }`.
 * `ctx.revoked`: a revoked proxy was among the call's values (its TypeError is the caller's
 * own exception, like a getter's).
 */
export function judge(o, ctx = {}) {
  if (o.k === 'ok') {
    if (ctx.exclusivelyHeld && o.granted) {
      return { cls: 'granted a lock held by another process', detail: `returned ${o.t}` }
    }
    return null
  }
  if (o.k !== 'throw') return null
  if (o.sentinel) return null
  const e = o.err
  if (!e.isError) return { cls: 'non-Error throw', detail: `threw ${e.type}${e.value !== undefined ? ` ${e.value}` : ''}${e.ctor ? ` (${e.ctor})` : ''}` }
  if (e.wrapsSentinel) return { cls: "getter's exception replaced", detail: `${e.ctor} ${fmtCode(e.code)}: ${e.message}` }
  if (ctx.revoked && e.ctor === 'TypeError' && /revoked/i.test(e.message)) return null
  if (e.code === undefined) return { cls: 'Error without code', detail: `${e.ctor}: ${e.message}` }
  if (e.code === 'EINTERNAL') return { cls: 'EINTERNAL', detail: e.message }
  if (!DOCUMENTED_CODES.has(e.code)) return { cls: 'undocumented code', detail: `${fmtCode(e.code)}: ${e.message}` }
  return null
}

const fmtCode = (c) => (typeof c === 'string' ? c : String(c))

// ---------------------------------------------------------------------------------------------
// Value descriptors

const lit = (v) => ({ $: 'lit', v })

export const SPECIAL_NUMBERS = [
  NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, 1.5, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53,
  1e300, Number.MIN_VALUE, Number.MAX_VALUE, -(2 ** 31), PLANTED_TIMEOUT_MS,
]
const SPECIAL_STRINGS = ['', '\0', 'a\0b', '\ud800', 'SIGTERM', '0', '-1', '1e3', 'NaN', '/', '.', '..', 'undefined', '[object Object]', ' ', 'é']

/** A value descriptor of an exotic kind (materialized by the runner). */
const EXOTIC = [
  { $: 'sym' }, { $: 'fn' }, { $: 'throwing' }, { $: 'throwingFn' }, { $: 'revoked' }, { $: 'nullProto' },
  lit(null), lit(undefined), lit(true), lit(false), lit({}), lit([]),
]

const anythingLit = fc
  .anything({
    withBigInt: true, withBoxedValues: true, withDate: true, withMap: true, withSet: true,
    withNullPrototype: true, withObjectString: true, withTypedArray: true, withSparseArray: true,
    maxDepth: 2, maxKeys: 4, stringUnit: 'binary',
  })
  .map(lit)

const hugeArb = fc
  .record({ n: fc.constantFrom(1 << 20, 4097, 256), nul: fc.boolean() })
  .map((o) => ({ $: 'huge', ...o }))

const atom = fc.oneof(
  { weight: 4, arbitrary: anythingLit },
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL_NUMBERS).map(lit) },
  { weight: 1, arbitrary: fc.constantFrom(0n, 1n, -1n, 2n ** 64n).map(lit) },
  { weight: 2, arbitrary: fc.constantFrom(...SPECIAL_STRINGS).map(lit) },
  { weight: 1, arbitrary: hugeArb },
  { weight: 4, arbitrary: fc.constantFrom(...EXOTIC) },
)

/** Anything at all, a little nested: the hostile value of a generic argument. */
export const hostile = fc.oneof(
  { weight: 8, arbitrary: atom },
  { weight: 1, arbitrary: fc.array(atom, { maxLength: 3 }).map((items) => ({ $: 'arr', items })) },
  { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 6 }), atom, { maxKeys: 3 }).map((fields) => ({ $: 'obj', fields })) },
)

/** Hostile values that can never be coerced into a path outside the temporary directory. */
const pathHostile = fc.oneof(
  fc.constantFrom(...SPECIAL_NUMBERS).map(lit),
  fc.constantFrom(0n, -1n, 2n ** 64n).map(lit),
  fc.constantFrom(...EXOTIC),
  fc.constantFrom(lit([1, 2]), lit(new Map()), lit(new Date(0)), lit(new Uint8Array(3))),
)

/**
 * Hostile values that can never be coerced to a real pid (for calls that send signals): no
 * 0, no negatives, no booleans, no null, no numeric strings, no small bigints.
 */
const pidSafeHostile = fc.oneof(
  fc.constantFrom(NaN, Infinity, -Infinity, 0.5, 1.5, 2 ** 31, 2 ** 32, 2 ** 53, 1e300, Number.MAX_VALUE).map(lit),
  fc.constantFrom('abc', 'a\0b', '\ud800', 'SIGTERM', 'pid').map(lit),
  fc.constant(lit(2n ** 64n)),
  fc.constantFrom({ $: 'sym' }, { $: 'fn' }, { $: 'throwing' }, { $: 'throwingFn' }, { $: 'revoked' }, { $: 'nullProto' }, lit(undefined), lit({})),
  hugeArb,
)

/** A field: mostly a sensible value, sometimes anything. */
const v = (good, hostileWeight = 1, goodWeight = 4) =>
  fc.oneof({ weight: goodWeight, arbitrary: good }, { weight: hostileWeight, arbitrary: hostile })

/**
 * An options argument: an object with some of `fields` (each maybe hostile), sometimes with a
 * getter that throws the sentinel on one documented key; or undefined/null; or anything.
 */
function options(fields, { hostileWeight = 2 } = {}) {
  const keys = Object.keys(fields)
  const obj = fc
    .record({
      fields: fc.record(fields, { requiredKeys: [] }),
      throwOn: fc.oneof({ weight: 7, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(...keys) }),
    })
    .map(({ fields: f, throwOn }) => (throwOn === undefined ? { $: 'obj', fields: f } : { $: 'obj', fields: f, throwOn }))
  return fc.oneof(
    { weight: 7, arbitrary: obj },
    { weight: 1, arbitrary: fc.constantFrom(lit(undefined), lit(null)) },
    { weight: hostileWeight, arbitrary: hostile },
  )
}

const bool = v(fc.constantFrom(lit(true), lit(false), lit(undefined), lit(null)))
const timeoutMs = fc.oneof(
  { weight: 1, arbitrary: fc.constant(lit(PLANTED_TIMEOUT_MS)) },
  { weight: 5, arbitrary: fc.constantFrom(0, -0, 1, 5, 20, 50, 0.5, 2 ** 31, 2 ** 53 - 1).map(lit) },
  { weight: 4, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, -1, 1e300, Number.MAX_VALUE, 1e25, 1e22, 1e19, 2 ** 53, '10', 10n, null, undefined).map(lit) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 60 }).map(lit) },
  { weight: 2, arbitrary: hostile },
)
/** Past the one timeoutMs rule (0..=2^53-1), where float-to-duration conversions overflow. */
const BOUNDARY_MS = [2 ** 53, 2 ** 53 + 2, 1e16, 1e19, 9.3e21, 1e22, 1.9e22, 1e25, 1e300, Number.MAX_VALUE]
const timeoutEdge = fc.oneof({ weight: 3, arbitrary: timeoutMs }, { weight: 1, arbitrary: fc.constantFrom(...BOUNDARY_MS).map(lit) })
const mode = v(fc.constantFrom(0o600, 0o644, 0o400, 0, 0o777, 0o7777, 0o10000, -1, 1.5, NaN, 2 ** 32, '0600', null, undefined).map(lit))

/** AbortSignals, real and foreign (see the runner's `makeSignal`). */
export const SIGNAL_KINDS = [
  'aborted', 'abortSoon', 'never', 'fakeShaped', 'fakeShapedAborted', 'fakeFiresSoon', 'fakeAddThrows',
  'fakeRemoveThrows', 'fakeAbortedThrows', 'fakeAbortedNotBool', 'notShaped', 'eventTarget',
]
/** Signals that end a wait soon (or throw before it starts) whatever the implementation does. */
const ENDING_SIGNALS = new Set(['aborted', 'abortSoon', 'fakeShapedAborted', 'fakeFiresSoon'])
const signal = v(fc.constantFrom(...SIGNAL_KINDS).map((k) => ({ $: 'signal', k })), 1, 5)

// ---------------------------------------------------------------------------------------------
// Paths (all inside the runner's directory; see the runner's `resolvePath`)

/** Files another process (the runner's holder child) holds exclusively. */
export const EXCLUSIVELY_HELD = new Set(['held', 'heldPid', 'heldDaemonFile'])
/** Files another process holds (a lock request on them may wait). */
const HELD = new Set(['held', 'heldShared', 'heldPid', 'heldDaemonFile', 'heldDaemonDir'])

export const GARBAGE = ['empty', 'text', 'neg', 'zero', 'big', 'spaces', 'nuls', 'mb', 'live', 'self', 'reaped', 'init', 'twoLines', 'binary']
export const RECORDS = ['flock', 'foreign', 'reused', 'boot', 'garbage', 'huge', 'self']

const PATH_KINDS = [
  'free', 'free', 'free', 'existing', 'nested', 'missingParent',
  'held', 'held', 'heldShared', 'heldPid', 'heldPid', 'heldDaemonDir', 'heldDaemonFile', 'releasedSoon',
  'dir', 'symlink', 'symlinkDangling', 'symlinkLoop', 'throughSymlinkDir', 'fifo', 'socket', 'underFile',
  'longComponent', 'longPath', 'relative', 'dotdot', 'nul', 'empty', 'huge',
  ...GARBAGE.map((g) => `garbage:${g}`),
  ...RECORDS.map((r) => `record:${r}`),
]

const mapped = fc.string({ unit: 'binary', maxLength: 40 }).map((s) => ({ $: 'path', k: 'mapped', s }))
export const pathArb = fc.oneof(
  { weight: 14, arbitrary: fc.constantFrom(...PATH_KINDS).map((k) => ({ $: 'path', k })) },
  { weight: 2, arbitrary: mapped },
  { weight: 2, arbitrary: pathHostile },
)

const REGISTRY_KINDS = ['reg:main', 'reg:main', 'reg:main', 'reg:main', 'reg:main', 'reg:main', 'reg:fresh', 'reg:fresh', 'reg:corrupt', 'reg:foreignVersion', 'reg:empty', 'reg:insecureDir', 'reg:symlink', 'reg:held', 'reg:dir', 'reg:fifo', 'missingParent', 'dir', 'nul', 'empty', 'huge', 'relative']
const registryPath = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom(...REGISTRY_KINDS).map((k) => ({ $: 'path', k })) },
  { weight: 1, arbitrary: mapped },
  { weight: 1, arbitrary: fc.constant(lit(undefined)) },
  { weight: 1, arbitrary: pathHostile },
)

// ---------------------------------------------------------------------------------------------
// Processes (see the runner's `resolveProc`)

/** Processes of any kind: for calls that only look (isAlive, processIdentity, open a handle). */
const PROC_KINDS = ['self', 'parent', 'live', 'live', 'dying', 'reaped', 'zombie', 'holder', 'pid1']
/** The runner's own children and processes that are gone: the only targets of signals. */
const SIGNALLABLE = ['live', 'live', 'dying', 'reaped', 'zombie']
const IDENTITY_AS = ['identity', 'identityWrongStart', 'identityWrongBoot', 'identityWrongExe', 'identityBadSha', 'identityGarbageSha', 'identityPidOnly', 'identityNullExe']
const identityOver = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.record({ startTime: hostile }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.record({ bootId: hostile, exePath: hostile, exeSha256: hostile }, { requiredKeys: [] }) },
)
function proc(kinds, as) {
  return fc
    .record({ k: fc.constantFrom(...kinds), as: fc.constantFrom(...as), over: identityOver })
    .map(({ k, as: a, over }) => (over && a.startsWith('identity') ? { $: 'proc', k, as: a, over } : { $: 'proc', k, as: a }))
}
const pidOf = (kinds) => proc(kinds, ['pid'])
const anyProcTarget = proc(PROC_KINDS, ['pid', 'pid', 'handle', ...IDENTITY_AS])

/** A pid for calls that only look: our processes, special numbers, any integer, anything. */
const pidLook = fc.oneof(
  { weight: 4, arbitrary: pidOf(PROC_KINDS) },
  { weight: 2, arbitrary: fc.constantFrom(...SPECIAL_NUMBERS).map(lit) },
  { weight: 1, arbitrary: fc.integer({ min: -(2 ** 31), max: 2 ** 31 }).map(lit) },
  { weight: 2, arbitrary: hostile },
)
/** A pid for processIdentity / ProcessHandle.open: ours or invalid (no random live processes). */
const pidNarrow = fc.oneof(
  { weight: 5, arbitrary: pidOf(PROC_KINDS) },
  { weight: 2, arbitrary: fc.constantFrom(...SPECIAL_NUMBERS).map(lit) },
  { weight: 2, arbitrary: hostile },
)

// ---------------------------------------------------------------------------------------------
// Steps: methods of the objects the exports return

const step = (m, args = fc.constant([]), steps = fc.constant(undefined)) =>
  fc.tuple(args, steps).map(([a, s]) => (s && s.length ? { m, args: a, steps: s } : { m, args: a }))
const steps = (...arbs) => fc.array(fc.oneof(...arbs), { maxLength: 4 })
const one = (a) => a.map((x) => [x])

const lockSteps = steps(step('release'), step('release', one(hostile)), step('dispose'), step('check'), step('check', one(hostile)), step('lost'))
const lfLockOpts = options({ shared: bool, timeoutMs })
const lfLockAsyncOpts = options({ shared: bool, timeoutMs, signal })
const lockFileSteps = fc.array(fc.oneof(
  step('tryLock', one(lfLockOpts), lockSteps),
  step('lockSync', one(lfLockOpts), lockSteps),
  step('lock', one(lfLockAsyncOpts), lockSteps),
  step('close'),
  step('dispose'),
), { maxLength: 6 })
const pidfileSteps = steps(step('release'), step('release', one(hostile)), step('dispose'), step('check'), step('check', one(hostile)), step('lost'))

/** Signals that stop a process (it then never exits by itself). */
const STOP_SIGNALS = new Set(['SIGSTOP', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 19, 20, 21, 22])
const SIGNALS = ['SIGTERM', 'SIGKILL', 'SIGSTOP', 'SIGCONT', 'SIGHUP', 'SIGUSR1', 'SIGCHLD', 'TERM', 'sigterm', ' SIGTERM ', 'SIGFOO', '', '9', 0, 9, 15, 19, 18, 64, 65, -1, 1.5, NaN, Infinity, 2 ** 31, 2 ** 53]
const sigArb = v(fc.constantFrom(...SIGNALS).map(lit), 1, 3)
const waitOpts = options({ timeoutMs: timeoutEdge, signal })
const handleSteps = fc.array(
  fc.oneof(
    { weight: 2, arbitrary: step('isAlive') },
    { weight: 2, arbitrary: step('signal', one(sigArb)) },
    { weight: 1, arbitrary: step('terminate') },
    { weight: 1, arbitrary: step('kill') },
    { weight: 5, arbitrary: step('waitForExit', fc.oneof({ weight: 1, arbitrary: fc.constant([]) }, { weight: 6, arbitrary: one(waitOpts) })) },
    { weight: 1, arbitrary: step('close') },
    { weight: 1, arbitrary: step('dispose') },
  ),
  { maxLength: 5 },
)
const pidfileStateSteps = steps(step('openHandle', fc.constant([]), handleSteps), step('handle', fc.constant([]), handleSteps))

const NAMES = ['a', 'b', 'a/b', 'build', 'build/src', 'x', '']
const name = v(fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...NAMES) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) }).map(lit))
const TARGETS = ['/work/repo', '/work/repo/src', '/a', '/a/b', '/', '/a/../b', '//x//y/', '/a/./b/.', 'rel', '', '/\0', '/é']
const target = v(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...TARGETS) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) }).map(lit))
const permission = v(fc.constantFrom('read', 'write', 'write', 'Write', '').map(lit))
const rule = options({ target, permission, recursive: bool })
const scopes = v(fc.array(rule, { maxLength: 3 }).map((items) => ({ $: 'arr', items })))
const scopePid = v(pidOf(PROC_KINDS), 1, 2)
const sessionId = v(fc.constantFrom('s1', 's2', 'build-1', '').map(lit))
const socket = v(fc.constantFrom('/run/x.sock', '').map(lit))
const registerOpts = options({ name, pid: scopePid, socket, scopes, sessionId })
const delegateOpts = options({ name, pid: scopePid, socket, scopes })
const adoptOpts = options({ pid: scopePid, sessionId })
const guardSteps = steps(step('release'), step('dispose'))
const registrySteps = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: step('register', one(registerOpts)) },
    { weight: 2, arbitrary: step('delegate', fc.tuple(name, delegateOpts)) },
    { weight: 2, arbitrary: step('release', one(name)) },
    { weight: 1, arbitrary: step('reclaimStale') },
    { weight: 2, arbitrary: step('adopt', fc.tuple(name, adoptOpts)) },
    { weight: 1, arbitrary: step('lookupSession', one(sessionId)) },
    { weight: 1, arbitrary: step('list') },
    { weight: 1, arbitrary: step('effectiveWriteScope', one(name)) },
    { weight: 1, arbitrary: step('withinEffectiveWrite', fc.tuple(name, rule)) },
    { weight: 1, arbitrary: step('conflictOwner', fc.oneof(one(rule), fc.tuple(rule, name))) },
    { weight: 2, arbitrary: step('installTopLevel', one(registerOpts), guardSteps) },
    { weight: 2, arbitrary: step('adoptAllocation', fc.tuple(name, adoptOpts), guardSteps) },
    { weight: 1, arbitrary: step('close') },
    { weight: 1, arbitrary: step('dispose') },
  ),
  { maxLength: 8 },
)

// ---------------------------------------------------------------------------------------------
// Calls

const lockOpts = options({ shared: bool, mode, createDirs: bool, watch: bool, timeoutMs })
const lockAsyncOpts = options({ shared: bool, mode, createDirs: bool, watch: bool, timeoutMs, signal })
const pidfileOpts = options({ mode, createDirs: bool, watch: bool })
const pidfileWaitOpts = options({ mode, createDirs: bool, watch: bool, timeoutMs, signal })
const readOpts = options({ handle: bool })
const identityOpts = options({ exeSha256: v(fc.constantFrom(lit(true), lit(false)), 1, 2) })
const tgSignal = v(fc.constantFrom('SIGTERM', 'SIGKILL', 'SIGINT', 'SIGCONT', 'SIGCHLD', 'SIGSTOP', 'SIGFOO', 'TERM', '').map(lit), 1, 4)
const tgOpts = options({ timeoutMs: timeoutEdge, signal: tgSignal })
const tgTarget = fc.oneof(
  { weight: 6, arbitrary: proc(SIGNALLABLE, ['pid', 'handle', ...IDENTITY_AS]) },
  { weight: 2, arbitrary: pidSafeHostile },
)

// The daemon calls. spawnDaemon only ever runs programs from this closed list (never a string
// the generator made up: a random name could be a real command); stopDaemon only targets
// files no process of the runner's holds (it would stop the runner's holder, or the runner).
const daemonCommand = fc.constantFrom(lit('/bin/true'), lit('sole-no-such-program'), lit(''), lit('relative/x'), lit(5), lit(null), { $: 'throwing' }, { $: 'sym' })
const daemonArgs = v(fc.constantFrom(lit([]), lit(['a', 'b']), lit([1]), lit('x'), lit(['a\0b'])))
const spawnOpts = options({
  command: daemonCommand,
  args: daemonArgs,
  cwd: fc.oneof(pathArb, fc.constant(lit('/'))),
  env: v(fc.constantFrom(lit({}), lit({ A: '1' }), lit({ A: 1 }), lit({ 'A=B': '1' }), lit(['A=1']))),
  pidfile: pathArb,
  stdout: pathArb,
  stderr: pathArb,
  umask: v(fc.constantFrom(0, 0o027, 0o777, 0o1000, -1, 1.5, NaN).map(lit)),
  user: v(fc.constantFrom('nobody', 'sole-no-such-user', '', -1, 65534, 2 ** 32, 1.5).map(lit)),
  group: v(fc.constantFrom('nogroup', 'sole-no-such-group', -1, 65534, 2 ** 32).map(lit)),
  readiness: v(fc.constantFrom('notify', 'exec', 'none', 'later', '').map(lit)),
  timeoutMs,
  killOnTimeout: bool,
  signal,
})
const notifyOpts = options({
  ready: bool,
  status: v(fc.constantFrom('x', 'a\nb', '', 'é', 'x'.repeat(5000)).map(lit)),
  stopping: bool,
  reloading: bool,
  watchdog: v(fc.constantFrom(true, false, 'trigger', 'x').map(lit)),
  errno: v(fc.constantFrom(5, 0, -1, 4096, 1.5).map(lit)),
  mainpid: v(fc.constantFrom(1, 0, -1, 2 ** 31, 1.5).map(lit)),
  extendTimeoutUs: v(fc.constantFrom(1000, -1, 2 ** 64, 1.5).map(lit)),
})
/** Files nobody holds, and files whose content or record names no process of the runner. */
const STOP_KINDS = PATH_KINDS.filter((k) => !HELD.has(k) && k !== 'releasedSoon' && k !== 'record:self' && k !== 'record:flock')
const stopPath = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...STOP_KINDS).map((k) => ({ $: 'path', k })) },
  { weight: 1, arbitrary: pathHostile },
)
const stopOpts = options({ timeoutMs: timeoutEdge, signal: tgSignal })

// The single-instance calls: names from a closed list (valid and not), the directory inside
// the runner's (a file option the runner checks, as spawnDaemon's), small bounds.
const instanceName = v(fc.constantFrom('app', 'a b', 'é', '.', '..', 'a/b', '', 'a\0b', 'x'.repeat(80), 'x'.repeat(201)).map(lit))
const instanceOpts = options({
  argv: v(fc.constantFrom(lit([]), lit(['node', 'app.js', '']), lit([1]), lit('x'), lit(['é', ' a b ']))),
  cwd: v(fc.constantFrom('/', '', 'relative', 'a\0b').map(lit)),
  additionalData: hostile,
  dir: pathArb,
  timeoutMs,
  maxMessageBytes: v(fc.constantFrom(1024, 4096, 1, 0, -1, 1.5, 2 ** 32, NaN).map(lit)),
  signal,
})
const instanceSteps = steps(step('release'), step('release', one(hostile)), step('dispose'))

// Identity records: texts (written records, record-like and arbitrary strings, huge ones) and
// record objects with each field good, wrong or hostile.
const recordText = v(
  fc.oneof(
    fc.constantFrom('sole-identity/1 pid=1 start=1 boot=ab lock=flock', 'sole-identity/1 pid=0 start=1 boot=ab', 'sole-identity/1 start=9007199254740992', '', ' ', 'x'.repeat(100_000)),
    fc.string({ maxLength: 60 }),
  ).map(lit),
)
const recordObj = options({
  pid: pidNarrow,
  startTime: v(fc.constantFrom(0, 1, 2 ** 53 - 1, 2 ** 53, -1, 0.5, NaN, '1').map(lit)),
  bootId: v(fc.constantFrom('ab-cd', 'AB', '', 'a b', 'x'.repeat(65), 'a\0b').map(lit)),
  locked: bool,
})

/** How each export is called: arguments, then steps on its result. */
const API = {
  tryLock: [6, fc.tuple(pathArb, lockOpts), lockSteps],
  lockSync: [4, fc.tuple(pathArb, lockOpts), lockSteps],
  lock: [5, fc.tuple(pathArb, lockAsyncOpts), lockSteps],
  openLockFile: [5, fc.tuple(pathArb, options({ mode, createDirs: bool }, { hostileWeight: 1 })), lockFileSteps],
  claimPidfile: [4, fc.tuple(pathArb, pidfileOpts), pidfileSteps],
  claimPidfileWhenFree: [4, fc.tuple(pathArb, pidfileWaitOpts), pidfileSteps],
  readPidfile: [6, fc.tuple(pathArb, readOpts), pidfileStateSteps],
  daemonLockPath: [1, fc.tuple(fc.oneof(pathArb, hostile))],
  acquireDaemonLock: [3, fc.tuple(pathArb, pidfileOpts), pidfileSteps],
  readLockPid: [3, fc.tuple(pathArb)],
  readFencingToken: [3, fc.tuple(pathArb)],
  lockHolders: [3, fc.tuple(pathArb)],
  isAlive: [2, fc.tuple(pidLook)],
  pidAlive: [2, fc.tuple(pidLook)],
  processIdentity: [3, fc.tuple(pidNarrow, identityOpts)],
  verifyProcess: [3, fc.tuple(fc.oneof({ weight: 4, arbitrary: proc(PROC_KINDS, IDENTITY_AS) }, { weight: 1, arbitrary: hostile })), handleSteps],
  'ProcessHandle.open': [4, fc.tuple(fc.oneof({ weight: 4, arbitrary: anyProcTarget }, { weight: 1, arbitrary: pidNarrow })), handleSteps],
  terminateGracefully: [3, fc.tuple(tgTarget, tgOpts)],
  spawnDaemon: [3, fc.tuple(spawnOpts)],
  notify: [2, fc.tuple(notifyOpts)],
  daemonReady: [1, fc.tuple()],
  watchdogIntervalMs: [1, fc.tuple()],
  daemonStatus: [2, fc.tuple(pathArb)],
  stopDaemon: [2, fc.tuple(stopPath, stopOpts)],
  requestSingleInstanceSync: [2, fc.tuple(instanceName, instanceOpts), instanceSteps],
  requestSingleInstance: [2, fc.tuple(instanceName, instanceOpts), instanceSteps],
  'new SingleInstance': [1, fc.tuple(hostile), instanceSteps],
  'ScopeRegistry.open': [7, fc.tuple(registryPath, options({ timeoutMs }, { hostileWeight: 1 })), registrySteps],
  'ScopeRegistry.repair': [2, fc.tuple(registryPath)],
  rulesOverlap: [2, fc.tuple(rule, rule)],
  coversFully: [2, fc.tuple(rule, rule)],
  parseIdentityRecord: [2, fc.tuple(recordText)],
  formatIdentityRecord: [2, fc.tuple(recordObj)],
  // Constructors of exported classes (documented as internal, but reachable from JavaScript).
  'new LockFile': [1, fc.tuple(hostile), lockFileSteps],
  'new Pidfile': [1, fc.tuple(hostile), pidfileSteps],
  'new ProcessHandle': [1, fc.tuple(hostile), handleSteps],
  'ProcessHandle.fromNative': [1, fc.tuple(hostile), handleSteps],
  'new ScopeRegistry': [1, fc.tuple(hostile), registrySteps],
}

/** Which export each generated API name exercises (every export must appear: see the spec). */
export const EXPORT_OF = {
  tryLock: 'tryLock', lockSync: 'lockSync', lock: 'lock', openLockFile: 'openLockFile', claimPidfile: 'claimPidfile',
  claimPidfileWhenFree: 'claimPidfileWhenFree', readPidfile: 'readPidfile', daemonLockPath: 'daemonLockPath',
  acquireDaemonLock: 'acquireDaemonLock', readLockPid: 'readLockPid', readFencingToken: 'readFencingToken', lockHolders: 'lockHolders', isAlive: 'isAlive', pidAlive: 'pidAlive',
  processIdentity: 'processIdentity', verifyProcess: 'verifyProcess', 'ProcessHandle.open': 'ProcessHandle',
  terminateGracefully: 'terminateGracefully', spawnDaemon: 'spawnDaemon', notify: 'notify', daemonReady: 'daemonReady',
  watchdogIntervalMs: 'watchdogIntervalMs', daemonStatus: 'daemonStatus', stopDaemon: 'stopDaemon',
  requestSingleInstanceSync: 'requestSingleInstanceSync', requestSingleInstance: 'requestSingleInstance', 'new SingleInstance': 'SingleInstance', 'ScopeRegistry.open': 'ScopeRegistry', 'ScopeRegistry.repair': 'ScopeRegistry',
  rulesOverlap: 'rulesOverlap', coversFully: 'coversFully', parseIdentityRecord: 'parseIdentityRecord', formatIdentityRecord: 'formatIdentityRecord', 'new LockFile': 'LockFile', 'new Pidfile': 'Pidfile',
  'new ProcessHandle': 'ProcessHandle', 'ProcessHandle.fromNative': 'ProcessHandle', 'new ScopeRegistry': 'ScopeRegistry',
}
export const API_NAMES = Object.keys(API)
export const INTERNAL_APIS = new Set(['new LockFile', 'new Pidfile', 'new ProcessHandle', 'ProcessHandle.fromNative', 'new ScopeRegistry', 'new SingleInstance'])

/** Sometimes drop the last argument, sometimes add one. */
const arity = fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.constant(1) })

const callArb = fc.oneof(
  ...Object.entries(API).map(([api, [weight, args, st]]) => ({
    weight,
    arbitrary: fc
      .record({ args, steps: st ?? fc.constant(undefined), arity, extra: hostile, salt: fc.nat() })
      .map(({ args: a, steps: s, arity: n, extra, salt }) => {
        let list = [...a]
        if (n < 0) list = list.slice(0, -1)
        else if (n > 0 && !['terminateGracefully', 'stopDaemon', 'spawnDaemon', 'requestSingleInstanceSync', 'requestSingleInstance'].includes(api)) list.push(extra)
        const call = { api, args: list, salt }
        if (s && s.length) call.steps = s
        return tame(call)
      }),
  })),
)

/**
 * Is `call` the planted input (`tryLock`/`lock` with `timeoutMs: PLANTED_TIMEOUT_MS`, a string
 * path and options every check accepts, so that the call reaches `src/planted.rs`)?
 */
export function isPlanted(call) {
  if (call.api !== 'tryLock' && call.api !== 'lock') return false
  const [p, o] = call.args
  if (!p || p.$ !== 'path' || p.k === 'nul' || p.k === 'empty' || (p.k === 'mapped' && p.s.includes('\0'))) return false
  if (!o || o.$ !== 'obj' || o.throwOn) return false
  const f = o.fields
  if (litNum(f.timeoutMs) !== PLANTED_TIMEOUT_MS) return false
  const okBool = (x) => x === undefined || (isLit(x) && [true, false, undefined, null].includes(x.v))
  const okMode = (x) => x === undefined || absent(x) || [0o600, 0o644, 0o400, 0, 0o777].includes(litNum(x))
  const okSignal = (x) => x === undefined || absent(x) || (x.$ === 'signal' && ['abortSoon', 'never', 'fakeShaped', 'fakeFiresSoon', 'fakeAddThrows', 'fakeRemoveThrows'].includes(x.k))
  return okBool(f.shared) && okBool(f.createDirs) && okBool(f.watch) && okMode(f.mode) && okSignal(f.signal)
}

/** A batch: what one runner process executes. */
export const batchArb = (size) => fc.array(callArb, { minLength: size, maxLength: size })

/** Generate `runs` batches from `seed`, deterministically. */
export function generate(seed, runs, size) {
  return fc.sample(batchArb(size), { seed, numRuns: runs })
}

// ---------------------------------------------------------------------------------------------
// Taming: every wait in a call is bounded (a small timeoutMs, a signal that fires, a target
// that exits, or a value the call must refuse), so a call still running 10 s past its own
// bound is a hang, never a wait the arguments asked for.

const SMALL = [0, 1, 10, 40]
const small = (salt) => lit(SMALL[salt % SMALL.length])

const isLit = (x) => x && x.$ === 'lit'
const litNum = (x) => (isLit(x) && typeof x.v === 'number' ? x.v : undefined)
const validTimeout = (x) => {
  const n = litNum(x)
  return n !== undefined && n >= 0 && n <= 2 ** 53 - 1
}
const smallTimeout = (x) => validTimeout(x) && litNum(x) <= 2000
const absent = (x) => x === undefined || (isLit(x) && (x.v === undefined || x.v === null))
/** A non-nullish primitive options value: the call must refuse it (EINVAL) before waiting. */
const refusedPrimitive = (o) => isLit(o) && o.v !== null && o.v !== undefined && typeof o.v !== 'object' && typeof o.v !== 'function'
const throwsAtOnce = (o) => o && (o.$ === 'throwing' || o.$ === 'throwingFn' || o.$ === 'revoked' || o.$ === 'sym' || o.$ === 'huge')

/**
 * Bound the options `o` of a wait: keep it when it cannot wait long, else add a small
 * timeoutMs (`sync`) or, for async calls, an aborting signal when the timeoutMs is a large
 * valid one (so 2^31, 2^53-1 and 4242 still reach the timers).
 */
function bound(o, salt, { sync, keys }) {
  if (throwsAtOnce(o) || refusedPrimitive(o)) return o
  if (o && o.$ === 'obj') {
    if (o.throwOn) return o
    const f = { ...o.fields }
    const t = f.timeoutMs
    if (keys.includes('signal') && f.signal && f.signal.$ === 'signal' && ENDING_SIGNALS.has(f.signal.k)) return o
    if (t !== undefined && !absent(t) && !validTimeout(t)) return o // refused: EINVAL
    if (smallTimeout(t)) return o
    if (!sync && keys.includes('signal') && validTimeout(t)) {
      f.signal = { $: 'signal', k: salt % 2 ? 'abortSoon' : 'fakeFiresSoon' }
      return { $: 'obj', fields: f }
    }
    f.timeoutMs = small(salt)
    return { $: 'obj', fields: f }
  }
  return { $: 'obj', fields: { timeoutMs: small(salt) } }
}

const pathKind = (x) => (x && x.$ === 'path' ? x.k : undefined)
const WAITING = {
  lockSync: { sync: true, keys: ['shared', 'mode', 'createDirs', 'timeoutMs'] },
  lock: { sync: false, keys: ['shared', 'mode', 'createDirs', 'timeoutMs', 'signal'] },
  claimPidfileWhenFree: { sync: false, keys: ['mode', 'createDirs', 'timeoutMs', 'signal'] },
}

function tame(call) {
  const { api, salt } = call
  const a = call.args
  const pk = pathKind(a[0])
  if (WAITING[api] && HELD.has(pk)) a[1] = bound(a[1], salt, WAITING[api])
  if (api === 'openLockFile' && HELD.has(pk) && call.steps) {
    for (const s of call.steps) {
      if (s.m === 'lockSync') s.args[0] = bound(s.args[0], salt, { sync: true, keys: ['shared', 'timeoutMs'] })
      if (s.m === 'lock') s.args[0] = bound(s.args[0], salt, { sync: false, keys: ['shared', 'timeoutMs', 'signal'] })
    }
  }
  if (api === 'ScopeRegistry.open' && pk === 'reg:held') {
    a[1] = bound(a[1], salt, { sync: true, keys: ['timeoutMs'] })
    if (a.length < 2) a[1] = { $: 'obj', fields: { timeoutMs: small(salt) } }
  }
  // spawnDaemon and stopDaemon: a start or a stop never waits long (a program from the list
  // exits at once or is not found; a stop's holder is nobody of the runner's).
  if ((api === 'spawnDaemon' || api === 'stopDaemon') && a[api === 'spawnDaemon' ? 0 : 1]) {
    const i = api === 'spawnDaemon' ? 0 : 1
    const o = a[i]
    if (o.$ === 'obj' && !o.throwOn && !smallTimeout(o.fields.timeoutMs)) a[i] = { $: 'obj', fields: { ...o.fields, timeoutMs: small(salt) } }
  }
  // A second instance never waits long (a primary the runner made itself may not answer).
  if (api === 'requestSingleInstanceSync' || api === 'requestSingleInstance') {
    const o = a[1]
    if (o && o.$ === 'obj' && !o.throwOn && !smallTimeout(o.fields.timeoutMs)) a[1] = { $: 'obj', fields: { ...o.fields, timeoutMs: small(salt) } }
  }
  // A handle's waitForExit: unbounded only on a child that exits by itself.
  const target = a[0] && a[0].$ === 'proc' ? a[0].k : undefined
  const tameHandle = (st) => {
    for (const s of st ?? []) {
      if (s.m === 'waitForExit' && target !== 'dying') {
        // Only an object (bounded) or a value whose every access throws: waitForExit reads its
        // options by destructuring, so any other value would be read as "no timeout".
        const o = bound(s.args[0], salt, { sync: false, keys: ['timeoutMs', 'signal'] })
        const throwing = o.$ === 'throwing' || o.$ === 'throwingFn' || o.$ === 'revoked'
        s.args = [o.$ === 'obj' || throwing ? o : { $: 'obj', fields: { timeoutMs: small(salt) } }]
      }
      tameHandle(s.steps)
    }
  }
  if (['verifyProcess', 'ProcessHandle.open', 'readPidfile', 'new ProcessHandle', 'ProcessHandle.fromNative'].includes(api)) tameHandle(call.steps)
  // A child that "exits by itself" cannot once stopped: never send it a stop signal (a wait on
  // it would then rightly last as long as its bound, which may be unbounded).
  if (target === 'dying') {
    const unstop = (x) => (isLit(x) && STOP_SIGNALS.has(x.v) ? lit('SIGCONT') : x)
    const walk = (st) => {
      for (const s of st ?? []) {
        if (s.m === 'signal' && s.args) s.args = s.args.map(unstop)
        walk(s.steps)
      }
    }
    walk(call.steps)
    if (api === 'terminateGracefully' && a[1] && a[1].$ === 'obj' && a[1].fields && a[1].fields.signal !== undefined) {
      a[1] = { ...a[1], fields: { ...a[1].fields, signal: unstop(a[1].fields.signal) } }
    }
  }
  // terminateGracefully: a live target gets a polite signal that kills it, or a small timeoutMs.
  if (api === 'terminateGracefully' && target !== 'dying') {
    const o = a[1]
    const KILLING = new Set(['SIGTERM', 'SIGKILL', 'SIGINT', 'TERM'])
    if (o && o.$ === 'obj' && !o.throwOn) {
      const f = { ...o.fields }
      const sig = f.signal
      const kills = absent(sig) || (isLit(sig) && KILLING.has(sig.v))
      if (!kills && !smallTimeout(f.timeoutMs) && (absent(f.timeoutMs) || validTimeout(f.timeoutMs))) f.timeoutMs = small(salt)
      a[1] = { $: 'obj', fields: f }
    }
  }
  return call
}

// ---------------------------------------------------------------------------------------------
// Summaries for the failure report

const MAX = 60

function shortStr(s) {
  const esc = JSON.stringify(s.length > MAX ? s.slice(0, MAX) : s)
  return s.length > MAX ? `${esc}…(${s.length} chars)` : esc
}

export function fmtLit(x, depth = 0) {
  if (x === undefined) return 'undefined'
  if (x === null) return 'null'
  if (typeof x === 'number') return Object.is(x, -0) ? '-0' : String(x)
  if (typeof x === 'bigint') return `${x}n`
  if (typeof x === 'string') return shortStr(x)
  if (typeof x === 'boolean') return String(x)
  if (typeof x !== 'object') return typeof x
  if (depth > 1) return '…'
  if (x instanceof Date) return `Date(${Number.isNaN(x.getTime()) ? 'invalid' : x.toISOString()})`
  if (x instanceof Map) return `Map(${x.size})`
  if (x instanceof Set) return `Set(${x.size})`
  if (ArrayBuffer.isView(x)) return `${x.constructor.name}(${x.length})`
  if (x instanceof Number || x instanceof String || x instanceof Boolean) return `new ${x.constructor.name}(${fmtLit(x.valueOf())})`
  if (Array.isArray(x)) return `[${x.slice(0, 4).map((e) => fmtLit(e, depth + 1)).join(', ')}${x.length > 4 ? ', …' : ''}]`
  const keys = Object.keys(x)
  return `{${keys.slice(0, 4).map((k) => `${shortStr(k)}: ${fmtLit(x[k], depth + 1)}`).join(', ')}${keys.length > 4 ? ', …' : ''}}`
}

/** A value descriptor, for humans. */
export function fmt(d) {
  if (d === undefined) return '(absent)'
  switch (d.$) {
    case 'lit': return fmtLit(d.v)
    case 'sym': return 'Symbol()'
    case 'fn': return 'function'
    case 'throwing': return 'Proxy(every trap throws the sentinel)'
    case 'throwingFn': return 'Proxy(function; every trap throws the sentinel)'
    case 'revoked': return 'revoked Proxy'
    case 'nullProto': return 'Object.create(null)'
    case 'huge': return `${d.nul ? 'NUL-containing ' : ''}string of ${d.n} chars`
    case 'arr': return `[${d.items.map(fmt).join(', ')}]`
    case 'obj': {
      const parts = Object.entries(d.fields).map(([k, x]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${fmt(x)}`)
      if (d.throwOn) parts.push(`get ${d.throwOn}() { throw sentinel }`)
      return `{ ${parts.join(', ')} }`
    }
    case 'path': return d.k === 'mapped' ? `path(tmp/m-${shortStr(d.s)})` : `path(${d.k})`
    case 'signal': return `signal(${d.k})`
    case 'proc': return `${d.k}.${d.as}${d.over ? ` with ${Object.entries(d.over).map(([k, x]) => `${k}: ${fmt(x)}`).join(', ')}` : ''}`
    default: return JSON.stringify(d)
  }
}

export const fmtArgs = (args) => args.map(fmt).join(', ')

/** Does the descriptor tree contain a node of kind `$`? */
export function contains(d, pred) {
  if (d === null || typeof d !== 'object') return false
  if (pred(d)) return true
  if (d.$ === 'lit') return false
  return Object.values(d).some((x) => contains(x, pred))
}

/**
 * The step descriptor a runner step path names ('r.2.0': steps[2].steps[0]); `undefined` for
 * the call itself (''), a getter ('r.path') or a cleanup ('c0').
 */
export function stepAt(call, sp) {
  if (!sp || !sp.startsWith('r.')) return undefined
  let node = call
  for (const part of sp.slice(2).split('.')) {
    if (!/^\d+$/.test(part)) return undefined
    node = node?.steps?.[Number(part)]
  }
  return node
}
