// The spin models of sole's protocols (models/*.pml, README "How it is proven"), checked
// exhaustively on every run: each model must verify (pan explores its whole state space and
// finds no error), each mutant (a broken protocol that real code shipped) must give a
// counterexample trail, and every `code:` tag of a model must name a function that still
// exists, so that a renamed or removed step fails here and the model is brought back in step.
//
// spin and a C compiler come from Debian (`apt-get install spin gcc`; .ci/run installs them).
// Without them the model tests are real skips, except under CI, where they fail: CI must
// never pass without having run the models.
import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'

import { checkModel, codeRefs, defines, describe, manifests, MODELS, staleRefs, toolsMissing } from '../scripts/models.mjs'
import { tmpdir } from './helpers/index.js'

const missing = toolsMissing()
const why = missing.length ? `${missing.join(' and ')} not installed: apt-get install spin gcc` : ''
const all = manifests()

test('every model has a manifest, a paragraph in the README, at least one mutant, and code tags', (t) => {
  const pml = fs.readdirSync(MODELS).filter((f) => f.endsWith('.pml'))
  const readme = fs.readFileSync(path.join(MODELS, '..', 'README.md'), 'utf8')
  const section = readme.split('### Protocol models (spin)')[1]?.split(/\n## /)[0] ?? ''
  t.not(section, '', 'README has no "### Protocol models (spin)" section')
  t.true(pml.length >= 4, `models: ${pml.join(', ')}`)
  for (const f of pml) {
    const m = all.find((x) => x.file === f)
    t.truthy(m, `${f} has no manifest models/${f.replace(/\.pml$/, '.json')}`)
    if (!m) continue
    t.true((m.mutants ?? []).length >= 1, `${f}: no mutant`)
    t.true(section.includes(`(\`models/${f}\``), `${f}: no paragraph in README's Protocol models section`)
    for (const mu of m.mutants ?? []) t.true(section.includes(`\`${mu.name}\``), `${f}: README does not describe mutant ${mu.name}`)
    t.true(codeRefs(fs.readFileSync(path.join(MODELS, f), 'utf8')).length >= 3, `${f}: fewer than 3 code: tags`)
  }
})

for (const m of all) {
  test(`${m.name}: every step's code: tag names a function that exists`, (t) => {
    const stale = staleRefs(path.join(MODELS, m.file))
    t.deepEqual(
      stale.map((s) => `${s.file}#${s.fn}: ${s.why}`),
      [],
      'the model names code that is gone: bring the model in step with the code',
    )
  })
}

test('the code-tag check fails for a function that is gone (it can fail)', (t) => {
  const d = tmpdir(t)
  fs.mkdirSync(path.join(d, 'src'))
  fs.writeFileSync(path.join(d, 'src', 'a.rs'), 'pub(crate) fn claim_as() {}\nfn other() {}\n')
  fs.writeFileSync(path.join(d, 'src', 'b.ts'), 'export function deliver() {}\nclass X {\n  async release(): Promise<void> {}\n}\nconst answer = () => 1\n')
  const model = path.join(d, 'm.pml')
  fs.writeFileSync(
    model,
    [
      '/* code: src/a.rs#claim_as */',
      '/* code: src/a.rs#claim */', // a prefix of a real name is not that name
      '/* code: src/b.ts#deliver */',
      '/* code: src/b.ts#release */',
      '/* code: src/b.ts#answer */',
      '/* code: src/b.ts#handoff */',
      '/* code: src/gone.rs#claim_as */',
    ].join('\n'),
  )
  t.deepEqual(
    staleRefs(model, d).map((s) => `${s.file}#${s.fn}`),
    ['src/a.rs#claim', 'src/b.ts#handoff', 'src/gone.rs#claim_as'],
  )
  t.false(defines('// fn claim_as is described here\n', 'x.rs', 'claim_as_not'))
})

for (const m of all) {
  const run = missing.length && !process.env.CI ? test.skip : test.serial
  run(`${m.name}: ${m.title}: verified exhaustively, and every mutant caught with a trail${why ? ` (skipped: ${why})` : ''}`, (t) => {
    t.timeout(15 * 60_000)
    t.deepEqual(missing, [], why)
    if (missing.length) return
    for (const r of checkModel(m)) {
      t.log(describe(r))
      if (r.kind === 'mutant' && r.trail) t.log(`  ${r.title}\n  counterexample (last lines of spin -t):\n${r.trail.trim().split('\n').slice(-12).join('\n')}`)
      if (r.kind === 'model') {
        t.true(r.ok, `${r.name}: ${r.stage}: ${r.out}`)
        t.is(r.errors, 0, `${r.name} has a counterexample:\n${r.trail ?? r.out}`)
        t.false(r.incomplete, `${r.name}: the search was not exhaustive:\n${r.out}`)
        t.true((r.states ?? 0) > 0)
      } else {
        t.true(r.ok, `${r.name}: ${r.stage}: ${r.out}`)
        t.true((r.errors ?? 0) > 0, `${r.name} (${r.title}) was not caught: the model cannot tell it from the real protocol\n${r.out}`)
        t.truthy(r.trail, `${r.name}: no trail`)
      }
    }
  })
}
