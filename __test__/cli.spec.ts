// The `sole` command's shared machinery (lib/cli/main.ts, lib/cli/common.ts): the one argument
// parser, --help/--version, errors as "sole: <message>" with exit 2, and --json errors. Each
// command's own behaviour is tested in its own cli-*.spec.ts against real processes.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import { CliError, parse, seconds } from '../lib/cli/common.js'
import { commands } from '../lib/cli/main.js'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const bin = path.join(root, 'bin', 'sole.js')
const version = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version

function sole(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 30_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

test('parse: long, short, grouped and inline values; -- ends options', (t) => {
  const spec = { shared: { short: 's' }, nonblock: { short: 'n' }, timeout: { short: 'w', value: true } }
  let p = parse(['-sn', '-w5', 'a', 'b'], spec)
  t.deepEqual([...p.options], [['shared', true], ['nonblock', true], ['timeout', '5']])
  t.deepEqual(p.positionals, ['a', 'b'])
  t.is(p.command, null)
  p = parse(['--timeout=2.5', '--json', '--', '-n', 'x'], spec)
  t.is(p.options.get('timeout'), '2.5')
  t.is(p.options.get('json'), true)
  t.deepEqual(p.positionals, ['-n', 'x'])
  p = parse(['-w', '7', '-s'], spec)
  t.is(p.options.get('timeout'), '7')
})

test('parse: a command after its positionals keeps its own options, with or without --', (t) => {
  const spec = { nonblock: { short: 'n' } }
  let p = parse(['-n', 'file', 'ls', '-l', '--json'], spec, { commandAfter: 1 })
  t.deepEqual(p.positionals, ['file'])
  t.deepEqual(p.command, ['ls', '-l', '--json'])
  t.is(p.options.get('json'), undefined)
  p = parse(['file', '--', 'ls', '-n'], spec, { commandAfter: 1 })
  t.deepEqual(p.command, ['ls', '-n'])
  p = parse(['-n', '--', 'file', 'echo', '--'], spec, { commandAfter: 1 })
  t.deepEqual(p.positionals, ['file'])
  t.deepEqual(p.command, ['echo', '--'])
  p = parse(['file'], spec, { commandAfter: 1 })
  t.is(p.command, null)
  p = parse(['file', '--'], spec, { commandAfter: 1 })
  t.is(p.command, null)
})

test('parse: unknown options, missing values and values given to flags are usage errors', (t) => {
  const spec = { nonblock: { short: 'n' }, timeout: { short: 'w', value: true } }
  for (const [argv, msg] of [
    [['--nope'], /unknown option --nope/],
    [['-q'], /unknown option -q/],
    [['-nq'], /unknown option -q/],
    [['--timeout'], /--timeout needs a value/],
    [['-w'], /--timeout needs a value/],
    [['--nonblock=1'], /--nonblock takes no value/],
  ] as const) {
    const e = t.throws(() => parse(argv, spec, { usageExit: 64 }), { instanceOf: CliError, message: msg })
    t.is((e as CliError).exit, 64)
  }
})

test('parse: repeatable options keep every value in order', (t) => {
  const p = parse(['--registry', 'a', '--registry=b'], { registry: { value: true, many: true } })
  t.deepEqual(p.options.get('registry'), ['a', 'b'])
})

test('seconds: decimal seconds to milliseconds, rounded up; anything else is refused', (t) => {
  t.is(seconds('0', '-w'), 0)
  t.is(seconds('2.5', '-w'), 2500)
  t.is(seconds('.0001', '-w'), 1)
  t.is(seconds('10', '-w'), 10_000)
  for (const bad of ['', '-1', 'abc', '1e3', 'NaN', 'Infinity', '0x10', '1 2', '9'.repeat(400)]) {
    t.throws(() => seconds(bad, '-w'), { instanceOf: CliError }, JSON.stringify(bad))
  }
})

test('sole --version and --json --version', (t) => {
  let r = sole('--version')
  t.is(r.status, 0)
  t.is(r.stdout, `sole ${version}\n`)
  r = sole('-V')
  t.is(r.stdout, `sole ${version}\n`)
  r = sole('--json', '--version')
  t.deepEqual(JSON.parse(r.stdout), { version })
})

test('sole --help lists every command; no arguments prints it and exits 2', (t) => {
  const r = sole('--help')
  t.is(r.status, 0)
  for (const name of Object.keys(commands)) t.regex(r.stdout, new RegExp(`^  ${name}\\s+\\S`, 'm'))
  const bare = sole()
  t.is(bare.status, 2)
  t.is(bare.stdout, r.stdout)
})

test('every command has a summary and a --help that documents its exit status', (t) => {
  for (const [name, c] of Object.entries(commands)) {
    t.true(c.summary.length > 10 && !/TODO/.test(c.summary), `${name}: summary`)
    t.regex(c.help, new RegExp(`^Usage: sole ${name}`), `${name}: usage line`)
    t.regex(c.help, /Exit status/i, `${name}: exit status documented`)
    const viaFlag = sole(name, '--help')
    t.is(viaFlag.status, 0, name)
    t.is(viaFlag.stdout, c.help, name)
    t.is(sole('help', name).stdout, c.help, name)
  }
})

test('unknown commands and options: "sole: <message>" on stderr, exit 2, JSON error with --json', (t) => {
  let r = sole('frobnicate')
  t.is(r.status, 2)
  t.is(r.stdout, '')
  t.regex(r.stderr, /^sole: unknown command 'frobnicate' \(commands: status, lock, exec, kill, daemon, scope, harness; see sole --help\)\n$/)
  r = sole('--json', 'frobnicate')
  t.is(r.status, 2)
  t.deepEqual(JSON.parse(r.stdout), { error: { code: 'EUSAGE', message: r.stderr.slice('sole: '.length, -1) } })
  for (const name of ['status', 'kill', 'scope', 'exec']) {
    r = sole(name, '--no-such-option')
    t.is(r.status, 2, `${name}: ${r.stderr}`)
    t.regex(r.stderr, /^sole: unknown option --no-such-option/, name)
  }
  r = sole('__proto__')
  t.is(r.status, 2)
  t.regex(r.stderr, /unknown command '__proto__'/)
})

test("--json is sole's own only before the program: after --, an error prints no JSON; a library error carries its path", (t) => {
  let r = sole('frobnicate', '--', '--json')
  t.is(r.status, 2)
  t.is(r.stdout, '')
  const dir = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), 'sole-cli-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const link = path.join(dir, 'link.pid')
  fs.symlinkSync(path.join(dir, 'target.pid'), link)
  r = sole('kill', '--pidfile', link, '--json')
  t.is(r.status, 2, r.stderr)
  const { error } = JSON.parse(r.stdout) as { error: { code: string; message: string; path?: string } }
  t.is(error.code, 'ESYMLINK')
  t.is(error.path, link)
  t.is(`sole: ${error.message}\n`, r.stderr)
})
