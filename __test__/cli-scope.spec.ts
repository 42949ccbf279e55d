// `sole scope list|reclaim|repair` against a real registry in a temp directory, with a live
// owner and a SIGKILLed one. list changes nothing; reclaim names what it removed; repair moves
// a corrupt data file aside and says where.
import test from 'ava'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import * as lib from '../lib/index.js'
import { firstLine } from './fixtures/children.mjs'
import { tmpdir, w } from './helpers/index.js'
import { errorSchema, exited, json, mismatch, scopeListSchema, scopeReclaimSchema, scopeRepairSchema, sole } from './helpers/operator.js'

/** A registry with `alive` (this process) and `gone` (a child that was SIGKILLed). */
async function registry(t: Parameters<typeof tmpdir>[0]): Promise<{ dir: string; data: string; dead: number }> {
  const dir = tmpdir(t)
  const data = path.join(dir, 'scope.json')
  const owner = spawn('sh', ['-c', 'echo up; exec sleep 300'], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => {
    owner.kill('SIGKILL')
  })
  await firstLine(owner)
  {
    using reg = lib.ScopeRegistry.open(data)
    reg.register({ name: 'alive', pid: process.pid, sessionId: 's-alive', scopes: [w(path.join(dir, 'a'))] })
    reg.register({ name: 'gone', pid: owner.pid!, sessionId: 's-gone', scopes: [w(path.join(dir, 'b'))] })
    reg.delegate('gone', { name: 'gone/child', pid: owner.pid!, scopes: [w(path.join(dir, 'b', 'c'))] })
  }
  owner.kill('SIGKILL')
  await exited(owner)
  return { dir, data, dead: owner.pid! }
}

test('list shows live and stale allocations with their rules, and changes nothing', async (t) => {
  const { dir, data, dead } = await registry(t)
  const bytes = fs.readFileSync(data, 'utf8')
  const r = await sole(['scope', 'list', '--json', '--registry', data])
  t.is(r.code, 0, r.stderr)
  const doc = json(r) as { allocations: { name: string; pid: number; live: boolean; delegatedFrom: string | null; sessionId: string | null; rules: unknown[] }[] }
  t.is(mismatch(doc, scopeListSchema), null)
  t.like(doc, { registry: data, exists: true })
  t.deepEqual(
    doc.allocations.map((a) => [a.name, a.pid, a.live, a.delegatedFrom, a.sessionId]),
    [
      ['alive', process.pid, true, null, 's-alive'],
      ['gone', dead, false, null, 's-gone'],
      ['gone/child', dead, false, 'gone', null],
    ],
  )
  t.deepEqual(doc.allocations[0].rules, [w(path.join(dir, 'a'))])
  const text = await sole(['scope', 'list', '--registry', data])
  t.is(text.code, 0)
  t.regex(text.stdout, /3 allocations \(1 live, 2 stale\)/)
  t.regex(text.stdout, new RegExp(`gone  pid ${dead}  stale`))
  t.is(fs.readFileSync(data, 'utf8'), bytes, 'list reclaimed nothing')
  // An absent registry lists as empty, and is not created.
  const none = path.join(dir, 'none', 'scope.json')
  const e = await sole(['scope', 'list', '--json', '--registry', none])
  t.is(e.code, 0)
  t.deepEqual(json(e), { registry: none, exists: false, allocations: [] })
  t.false(fs.existsSync(path.dirname(none)))
})

test('reclaim removes the SIGKILLed owner and its child, names them; a second reclaim exits 1', async (t) => {
  const { data } = await registry(t)
  const r = await sole(['scope', 'reclaim', '--json', '--registry', data])
  t.is(r.code, 0, r.stderr)
  const doc = json(r) as { reclaimed: string[] }
  t.is(mismatch(doc, scopeReclaimSchema), null)
  t.deepEqual(doc.reclaimed.sort(), ['gone', 'gone/child'])
  {
    using reg = lib.ScopeRegistry.open(data)
    t.deepEqual(
      reg.list().map((a) => a.name),
      ['alive'],
    )
  }
  const again = await sole(['scope', 'reclaim', '--registry', data])
  t.is(again.code, 1)
  t.is(again.stdout, `${data}: nothing to reclaim (no allocation is stale)\n`)
  // No registry at all: nothing to reclaim, and nothing created by asking.
  const none = path.join(path.dirname(data), 'none', 'scope.json')
  const n = await sole(['scope', 'reclaim', '--json', '--registry', none])
  t.is(n.code, 1)
  t.deepEqual(json(n), { registry: none, reclaimed: [] })
  t.false(fs.existsSync(path.dirname(none)))
})

test('repair moves a corrupt data file aside and says where; list and reclaim refuse it first', async (t) => {
  const dir = tmpdir(t)
  const data = path.join(dir, 'scope.json')
  {
    using reg = lib.ScopeRegistry.open(data)
    reg.register({ name: 'x', pid: process.pid, sessionId: 's', scopes: [w(path.join(dir, 'x'))] })
  }
  fs.writeFileSync(data, '{"version":1,"allocations":[{"torn', { mode: 0o600 })
  for (const action of ['list', 'reclaim']) {
    const r = await sole(['scope', action, '--json', '--registry', data])
    t.is(r.code, 2, action)
    t.is(mismatch(json(r), errorSchema), null)
    t.like(json(r), { error: { code: 'ECORRUPT' } })
    t.regex(r.stderr, /^sole: .*scope.json is not a scope table sole wrote/)
    t.regex(r.stderr, /repair/)
  }
  const r = await sole(['scope', 'repair', '--json', '--registry', data])
  t.is(r.code, 0, r.stderr)
  const doc = json(r) as { movedTo: string }
  t.is(mismatch(doc, scopeRepairSchema), null)
  t.is(path.dirname(doc.movedTo), dir)
  t.regex(path.basename(doc.movedTo), /^scope\.json\.corrupt-\d+-\d+$/)
  t.is(fs.readFileSync(doc.movedTo, 'utf8'), '{"version":1,"allocations":[{"torn', 'the damaged bytes are kept')
  t.false(fs.existsSync(data))
  const again = await sole(['scope', 'repair', '--registry', data])
  t.is(again.code, 1)
  t.regex(again.stdout, /nothing to repair/)
  const list = await sole(['scope', 'list', '--json', '--registry', data])
  t.is(list.code, 0)
  t.like(json(list), { exists: false, allocations: [] })
})

test('the default registry is the library default ($SOLE_RUNTIME_DIR/scope.json)', async (t) => {
  const dir = tmpdir(t)
  {
    using reg = lib.ScopeRegistry.open(path.join(dir, 'scope.json'))
    reg.register({ name: 'here', pid: process.pid, sessionId: 's', scopes: [w(path.join(dir, 'h'))] })
  }
  const r = await sole(['scope', 'list', '--json'], { env: { ...process.env, SOLE_RUNTIME_DIR: dir } })
  t.is(r.code, 0, r.stderr)
  t.like(json(r), { registry: path.join(dir, 'scope.json'), exists: true })
  t.deepEqual(
    (json(r) as { allocations: { name: string }[] }).allocations.map((a) => a.name),
    ['here'],
  )
})

test('usage errors and refused paths: exit 2, sole: <message>', async (t) => {
  const dir = tmpdir(t)
  const cases: [string[], RegExp][] = [
    [['scope'], /^sole: scope needs an action: list, reclaim or repair/],
    [['scope', 'frob'], /^sole: scope: unknown action 'frob'/],
    [['scope', 'list', 'extra'], /^sole: scope list: unexpected argument 'extra'/],
    [['scope', 'list', '--registry'], /^sole: option --registry needs a value/],
    [['scope', 'list', '--registry', dir], /^sole: .* is a directory: the scope registry.s path names its data file/],
  ]
  for (const [args, message] of cases) {
    const r = await sole(args)
    t.is(r.code, 2, args.join(' '))
    t.regex(r.stderr, message)
  }
  const target = path.join(dir, 'real.json')
  fs.writeFileSync(target, '')
  const link = path.join(dir, 'link.json')
  fs.symlinkSync(target, link)
  const s = await sole(['scope', 'list', '--registry', link])
  t.is(s.code, 2)
  t.regex(s.stderr, /^sole: .*link\.json is a symbolic link; sole does not follow symlinks/)
})
