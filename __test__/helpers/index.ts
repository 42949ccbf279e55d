/**
 * The setup every spec used to repeat, in one place: a fresh temp directory per test that is
 * removed afterwards, catching what a call throws or rejects with, a pid that no process has,
 * whether this process is root (tests that need it are real skips otherwise, never passes),
 * and the write-rule shorthand of the scope tests.
 *
 * Child processes with a ready line and zombies live in `../fixtures/children.mjs`.
 */
import test from 'ava'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** What a test needs for cleanup (ava's ExecutionContext has it). */
export interface Teardown {
  teardown(fn: () => void | Promise<void>): void
}

/** A fresh directory under the temp dir, removed when the test ends. */
export function tmpdir(t: Teardown, prefix = 'sole-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }))
  return d
}

/** What `f()` throws, or `undefined` when it returns. */
export function thrown(f: () => unknown): unknown {
  try {
    f()
  } catch (e) {
    return e
  }
  return undefined
}

/** What the promise (or the promise `f()` returns) rejects with, or `undefined`. */
export async function rejected(p: Promise<unknown> | (() => Promise<unknown>)): Promise<unknown> {
  try {
    await (typeof p === 'function' ? p() : p)
  } catch (e) {
    return e
  }
  return undefined
}

/** The `code` of what `f()` throws, or `undefined` when it returns. */
export function codeOf(f: () => unknown): string | undefined {
  return (thrown(f) as { code?: string } | undefined)?.code
}

/** A pid no process has: a reaped child's (the kernel reuses it only after wrapping around). */
export function deadPid(): number {
  return spawnSync('true').pid!
}

/** Whether this process runs as root: tests that need root are `test.skip` otherwise. */
export const isRoot = process.geteuid?.() === 0

/** A scope rule: write access to `target` (recursive by default). */
export const w = (target: string, recursive = true) => ({ target, permission: 'write' as const, recursive })

/** `test` as root, a real `test.skip` (reported as skipped, never passed) otherwise. */
export const rootTest = isRoot ? test : test.skip

/**
 * A duration from the environment (a test budget a CI job may raise): `fallback` when unset or
 * empty; anything but a positive number of milliseconds throws, naming the variable.
 */
export function envMs(name: string, fallback: number): number {
  const v = process.env[name]
  if (v === undefined || v === '') return fallback
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number of milliseconds, got ${v}`)
  return n
}
