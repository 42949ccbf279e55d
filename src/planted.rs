//! A deliberate bug, compiled only with `--features planted-panic`: it exists solely for the API
//! fuzz test's proof of power (`__test__/fuzz.spec.ts` builds a test addon with it and asserts
//! that the fuzz property FAILS). Never enabled in a real build.
//!
//! The planted input is fuzz-reachable: `tryLock(path, { timeoutMs: 4242 })` (and therefore the
//! fast path of `lock(path, { timeoutMs: 4242 })`) panics after its arguments are decided.

use crate::lock::LockArgs;

/// The one `timeoutMs` that panics.
pub(crate) const PLANTED_TIMEOUT_MS: u64 = 4242;

/// Panic when the decided `timeoutMs` is exactly [`PLANTED_TIMEOUT_MS`].
pub(crate) fn maybe_panic(a: &LockArgs) {
    if a.timeout.map(|t| t.as_millis()) == Some(u128::from(PLANTED_TIMEOUT_MS)) {
        panic!(
            "planted panic: tryLock with timeoutMs {PLANTED_TIMEOUT_MS} (fuzz test proof of power)"
        );
    }
}
