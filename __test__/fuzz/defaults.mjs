// Sizes of a default fuzz run (the spec and the CLI): `runs` batches of `size` calls, `parallel`
// runners at a time. Chosen to keep `__test__/fuzz.spec.ts` well under two minutes on 2 cores.
export const DEFAULTS = { runs: 12, size: 80, parallel: 2 }
