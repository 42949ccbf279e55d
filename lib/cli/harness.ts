/**
 * `sole harness --strategy FILE [--seconds N] [--workers N] [--seed S] [--replay PATH]
 * [--junit FILE] [--tap]`: check anyone's lock strategy with sole's multi-process property
 * harness, from a shell or a CI job.
 *
 * Why: a team's own locking (a pidfile wrapper, a lock around a shared cache, a leader
 * election on a file) or the lock package it depends on is only as good as the schedules it
 * was tried under. This runs the strategy module (`export default function
 * makeStrategy(target)`, the contract in harness/strategy.mjs) in real worker processes under
 * generated schedules (acquires, releases, SIGKILLs, barrier races, pauses) judged by a
 * sentinel written inside the critical section, and on a violation prints the shrunk
 * timeline, writes a replay file and the one-line command that replays it.
 *
 * The harness is ESM (harness/*.mjs) and this file is compiled to CommonJS, where TypeScript
 * turns `import()` into `require()` (which cannot load an ES module on Node 20): the harness
 * is loaded through harness/load.cjs, plain JavaScript whose `import()` stays Node's own.
 *
 * Exit codes: 0 no violation found; 1 a violation (report, replay file, replay command);
 * 2 a usage error, a strategy module that cannot load or is not a strategy, an unusable
 * replay file, or fast-check missing (it is sole's optional peer dependency); 130/143
 * interrupted by SIGINT/SIGTERM (every worker is killed first).
 * Test: `__test__/cli-harness.spec.ts`.
 */
import { randomInt } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import type { CheckOptions, CheckReport, ReplayFile } from '../../harness/index.mjs'
import { importHarness } from '../../harness/load.cjs'
import { type Command, CliError, EXIT_ERROR, EXIT_NO, EXIT_OK, optionValue, parse, printJson, seconds } from './common.js'

const DEFAULT_SECONDS = 60
const DEFAULT_SHRINK_SECONDS = 15
const DEFAULT_WORKERS = 6
const MAX_WORKERS = 16
const DEFAULT_PROGRESS_SECONDS = 10

const help = `Usage: sole harness --strategy FILE [--seconds N] [--workers N] [--seed S]
                    [--junit FILE] [--tap | --json] [--replay-out PATH]
       sole harness [--strategy FILE] --replay PATH

Check a lock strategy with sole's multi-process property harness: real worker processes
acquire, wait, release, get SIGKILLed, race through a barrier and are paused, in schedules
fast-check generates; a sentinel written inside the critical section judges every run. On a
violation the schedule is shrunk, its timeline printed, and a replay file written.

FILE is a module (ESM or CommonJS) whose default export is makeStrategy(target) returning
{ tryAcquire(shared), acquire(shared), release(handle), read?() }, with an optional
"export const meta = { shared, kernelVisible, pidContent, file }". Needs fast-check 4
installed (npm install --save-dev fast-check@4).

Options:
  -s, --strategy FILE     the strategy module (required unless --replay names it)
      --seconds N         time to generate and run schedules (default ${DEFAULT_SECONDS})
      --shrink-seconds N  extra time to shrink a violation once found (default ${DEFAULT_SHRINK_SECONDS})
  -w, --workers N         at most N worker processes per schedule, 2..${MAX_WORKERS} (default ${DEFAULT_WORKERS})
      --seed S            the generator's seed (an integer; default: a random one, printed):
                          the same schedules in the same order
      --replay PATH       run the counterexample in the replay file PATH again (same
                          strategy, seed, path and options; the timing is not replayed)
      --replay-out PATH   where a violation's replay file is written
                          (default ./sole-harness-replay-SEED.json)
      --junit FILE        also write a JUnit XML report (one testsuite, one testcase)
      --tap               print TAP 13 on stdout (the human report goes to stderr)
      --json              print the result as one JSON document on stdout (report on stderr)
      --progress N        a progress line on stderr every N seconds (default ${DEFAULT_PROGRESS_SECONDS}; 0: none)
  -h, --help              this text

Exit status:
  0    no violation found (or a replay that did not reproduce this time)
  1    a violation: the shrunk timeline, the replay file and "npx sole harness --strategy
       FILE --replay PATH" are printed
  2    usage error, a strategy module that cannot load or is not a strategy, an unusable
       replay file, or fast-check not installed
  130  interrupted (SIGINT; 143 for SIGTERM): the workers are killed first
`

/** A word a POSIX shell reads back as itself. */
function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`
}

function integer(text: string, option: string, min: number, max: number): number {
  const n = /^\s*-?\d+\s*$/.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new CliError(`${option}: '${text}' is not an integer from ${min} to ${max} (see --help)`)
  return n
}

/** Errors of the harness's own kinds (a strategy, a replay file, fast-check) are exit 2 with their message. */
function asUsage(e: unknown): never {
  const code = e instanceof Error ? (e as Error & { code?: unknown }).code : undefined
  if (code === 'ESTRATEGY' || code === 'EREPLAY' || code === 'ENOFASTCHECK') throw new CliError((e as Error).message, EXIT_ERROR, code)
  throw e
}

export const harness: Command = {
  summary: 'check a lock strategy under randomized multi-process crash schedules',
  help,
  async run(argv) {
    const p = parse(argv, {
      strategy: { short: 's', value: true },
      seconds: { value: true },
      'shrink-seconds': { value: true },
      workers: { short: 'w', value: true },
      seed: { value: true },
      replay: { value: true },
      'replay-out': { value: true },
      junit: { value: true },
      tap: {},
      progress: { value: true },
    })
    if (p.positionals.length > 0) throw new CliError(`unexpected argument '${p.positionals[0]}' (the strategy is given with --strategy FILE; see --help)`)
    const json = p.options.has('json')
    const tap = p.options.has('tap')
    if (json && tap) throw new CliError('--tap and --json both print on stdout: choose one (see --help)')
    const replayPath = optionValue(p, 'replay')
    if (replayPath !== undefined) {
      for (const o of ['seed', 'seconds', 'shrink-seconds', 'workers', 'replay-out']) {
        if (p.options.has(o)) throw new CliError(`--replay runs the recorded counterexample with its recorded options: --${o} cannot be combined with it (see --help)`)
      }
    }
    const budgetMs = seconds(optionValue(p, 'seconds') ?? `${DEFAULT_SECONDS}`, '--seconds')
    if (budgetMs === 0) throw new CliError('--seconds must be more than 0 (see --help)')
    const shrinkBudgetMs = seconds(optionValue(p, 'shrink-seconds') ?? `${DEFAULT_SHRINK_SECONDS}`, '--shrink-seconds')
    const progressMs = seconds(optionValue(p, 'progress') ?? `${DEFAULT_PROGRESS_SECONDS}`, '--progress')
    const workersText = optionValue(p, 'workers')
    const maxWorkers = workersText === undefined ? DEFAULT_WORKERS : integer(workersText, '--workers', 2, MAX_WORKERS)
    const seedText = optionValue(p, 'seed')
    // fast-check seeds are 32-bit: negative ones are as valid as positive ones.
    // Without --seed, one is drawn here (not by fast-check) so that it is never negative: it
    // names the replay file.
    const seed = seedText === undefined ? randomInt(2 ** 31) : integer(seedText, '--seed', -(2 ** 31), 2 ** 32 - 1)
    const junit = optionValue(p, 'junit')

    const h = await importHarness().catch(asUsage)
    let recorded: ReplayFile | undefined
    if (replayPath !== undefined) {
      try {
        recorded = h.readReplay(replayPath)
      } catch (e) {
        asUsage(e)
      }
    }
    const strategyArg = optionValue(p, 'strategy') ?? recorded?.strategy
    if (strategyArg === undefined) throw new CliError('--strategy FILE is required: the module whose default export is makeStrategy(target) (see --help)')
    if (recorded && path.resolve(strategyArg) !== recorded.strategy) {
      process.stderr.write(`sole harness: replaying a counterexample found with ${recorded.strategy} against ${path.resolve(strategyArg)}\n`)
    }
    const strategy = await h.loadStrategy(strategyArg).catch(asUsage)

    // The generator's options: a replay must use exactly the recorded ones, and the replay
    // file records these. The known races run first (fast-check examples).
    const options: Omit<CheckOptions, 'onRun' | 'seed' | 'path'> = recorded
      ? recorded.options
      : {
          budgetMs,
          shrinkBudgetMs,
          // The budget ends the run; numRuns only has to be out of reach (a schedule takes
          // tens of milliseconds at the least; runs past the budget are skipped unrun).
          numRuns: Math.max(1_000, Math.ceil(budgetMs / 10)),
          examples: true,
          maxWorkers,
        }

    const started = Date.now()
    let soFar: Pick<CheckReport, 'strategy' | 'executed' | 'stats' | 'firstFailure'> = { strategy: strategy.name, executed: 0, stats: {}, firstFailure: null }
    const timer = progressMs > 0 ? setInterval(() => process.stderr.write(`sole harness: ${h.progressLine(soFar, Date.now() - started)}\n`), progressMs) : undefined
    timer?.unref()
    const interrupted = (signal: NodeJS.Signals, code: number) => () => {
      h.killAllWorkers()
      process.stderr.write(`sole harness: ${signal}: every worker killed, no verdict\n`)
      process.exit(code)
    }
    process.once('SIGINT', interrupted('SIGINT', 130))
    process.once('SIGTERM', interrupted('SIGTERM', 143))

    let report: CheckReport
    try {
      report = await h.checkStrategy(strategy, {
        ...options,
        ...(recorded ? { seed: recorded.seed, path: recorded.path } : { seed }),
        onRun: (_res, out) => {
          soFar = out
        },
      })
    } catch (e) {
      asUsage(e)
    } finally {
      if (timer) clearInterval(timer)
      h.killAllWorkers()
    }

    // Where the counterexample is kept, and the one line that replays it.
    let replayFile: string | undefined
    if (report.failed && report.last) {
      if (recorded) replayFile = replayPath
      else {
        const out = optionValue(p, 'replay-out') ?? path.relative(process.cwd(), h.defaultReplayPath(report.seed))
        h.writeReplay(out, { strategyFile: strategyArg, report, options })
        replayFile = out
      }
    }
    const replay = replayFile === undefined ? undefined : `npx sole harness --strategy ${shellWord(strategyArg)} --replay ${shellWord(replayFile)}`

    const human = `${h.formatReport(report, replay === undefined ? {} : { replay })}\n`
    const humanOut = json || tap ? process.stderr : process.stdout
    humanOut.write(human)
    if (recorded && report.failed && report.path !== recorded.path) {
      // fast-check replays *from* a path: when the recorded schedule passes this time, it goes
      // on with the schedules after it (the next runs, or the next shrink candidates).
      humanOut.write(`sole harness: the recorded schedule (path ${recorded.path}) did not fail this time; fast-check went on from it and the violation above is a neighbouring schedule (path ${report.path})\n`)
    }
    if (recorded && !report.failed) {
      humanOut.write(`sole harness: the counterexample did not reproduce this time: the schedule replays exactly, the processes' timing does not; run the replay again\n`)
    }
    if (report.failed && !report.last) humanOut.write('sole harness: fast-check reported a failure without a failing schedule: this is a harness error, please report it\n')
    if (tap) process.stdout.write(h.tapReport([{ report, replay }]))
    if (json) {
      printJson({
        strategy: path.resolve(strategyArg),
        name: report.strategy,
        failed: report.failed,
        seed: report.seed,
        path: report.path,
        executed: report.executed,
        ms: report.ms,
        stats: report.stats,
        failure: report.last?.failure ?? null,
        timeline: report.last?.timeline ?? [],
        replayFile: replayFile ?? null,
        replay: replay ?? null,
      })
    }
    if (junit !== undefined) {
      try {
        fs.writeFileSync(junit, h.junitReport([{ report, replay }]))
      } catch (e) {
        throw new CliError(`cannot write the JUnit report --junit ${junit}: ${(e as Error).message}`)
      }
    }
    if (report.failed && !report.last) return EXIT_ERROR
    return report.failed ? EXIT_NO : EXIT_OK
  },
}
