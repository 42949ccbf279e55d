// docs/races.md names, for each race sole closes, the tests that prove it. A renamed or deleted
// test would leave the catalogue pointing at nothing: every citation must name a test that
// exists (an ava test title in __test__/*.spec.ts, or a Rust test function in crates/).
import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

function filesUnder(dir: string, ext: RegExp): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => ext.test(f) && !f.includes('node_modules'))
    .map((f) => path.join(dir, f))
}

test('every test docs/races.md cites exists', (t) => {
  const titles = new Set<string>()
  for (const f of filesUnder(path.join(ROOT, '__test__'), /\.spec\.ts$/)) {
    const src = fs.readFileSync(f, 'utf8')
    for (const m of src.matchAll(/(?:test|rootTest|mountTest|fuseTest)(?:\.serial)?\(\s*(['`])((?:(?!\1)[^\\]|\\.)*)\1/g)) titles.add(m[2].replace(/\\(.)/g, '$1'))
  }
  const rustTests = new Set<string>()
  for (const f of filesUnder(path.join(ROOT, 'crates'), /\.rs$/)) {
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/#\[test\]\s*(?:#\[[^\]]*\]\s*)*fn ([a-z0-9_]+)/g)) rustTests.add(m[1])
  }
  // Rust integration test files (crates/*/tests/NAME.rs) and the harness's strategies
  // (`__test__/harness/strategies/NAME.mjs`) are cited by name too.
  const named = new Set<string>()
  for (const f of filesUnder(path.join(ROOT, 'crates'), /\/tests\/[a-z_]+\.rs$/)) named.add(path.basename(f, '.rs'))
  for (const f of fs.readdirSync(path.join(ROOT, '__test__/harness/strategies'))) named.add(f.replace(/\.mjs$/, ''))
  const doc = fs.readFileSync(path.join(ROOT, 'docs/races.md'), 'utf8')
  // Citations sit in "*Tests.*" paragraphs, in backticks (a title may wrap across lines).
  const cited: string[] = []
  for (const para of doc.split(/\n(?=\*[A-Z])|\n\n/)) {
    if (!para.startsWith('*Tests.*')) continue
    for (const m of para.replace(/\s*\n\s*/g, ' ').matchAll(/`([^`]+)`/g)) cited.push(m[1])
  }
  t.true(cited.length >= 50, `found ${cited.length} citations`)
  const missing = cited.filter((c) => !(titles.has(c) || rustTests.has(c) || named.has(c)))
  t.deepEqual(missing, [], 'cited tests that no longer exist')
})
