// Types for load.cjs (the CLI's dynamic import of the ESM harness).
export declare function importHarness(): Promise<typeof import('./index.mjs')>
