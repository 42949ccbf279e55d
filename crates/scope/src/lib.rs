//! `sole-scope`: a machine-wide registry of who may write where, with delegation from a parent
//! process to its children.
//!
//! Why this crate exists: when cooperating processes (agents, fuzz workers, build steps) write
//! into one tree, two writers in the same directory corrupt each other's work, and a crashed
//! owner must not block the tree forever. The registry is one JSON table of allocations (name,
//! pid and its identity, socket, rules, delegating parent, session). A top-level allocation
//! claims rules no other tree overlaps; a parent delegates part of its effective write scope to
//! a child; releasing (or the death of) an allocation hands its children to its own parent.
//!
//! How each operation runs, and the races it closes:
//! 1. Take the exclusive `flock` on `<data>.lock`, a file that is never renamed or unlinked
//!    ([`store`]): two processes can never interleave read-modify-write cycles, and a SIGKILLed
//!    holder frees the lock at once (the kernel drops it with the last fd).
//! 2. Load the table (reused from memory when the generation in the lock file and the data
//!    file's stamp are unchanged), refusing corrupt, symlinked or foreign files.
//! 3. Reclaim stale allocations (dead pid, or a recycled pid whose start time or boot id
//!    differs), reparenting their children: a crashed owner is cleaned up by the next
//!    operation of *any* process, and a reused pid cannot keep it alive ([`table::liveness`]).
//! 4. Apply the operation, checking everything before changing anything
//!    ([`table::operations`]).
//! 5. If anything changed, replace the file atomically (temp, fsync, rename, fsync dir) and
//!    report any failure: a save error during reclaim is an error, never swallowed.
//!
//! Arguments are checked before the lock is taken, so a refused call writes nothing: names and
//! session ids ([`check::check_name`]), rule targets ([`rule::normalize_as`]), and the owner pid,
//! which must be a running process (`ENOTFOUND` otherwise: an allocation owned by a dead
//! process would be reclaimed by the very next operation, so accepting it would be a lie).
//! Inside the lock, a session id another live allocation has is `EDUPLICATE` (lookups by
//! session depend on session ids being unique).
//!
//! The cycle is [`registry`]'s; the files are [`store`]'s; the stored bytes [`table::codec`]'s.
//!
//! A [`Guard`] releases its allocation only when asked: one dropped without `release()` (in
//! JavaScript: garbage-collected) leaves the allocation to its process, and the stale-pid
//! reclaim frees it once that process has exited. A claim is never lost while its owner runs.
//!
//! All methods are synchronous: the lock is held for the length of one operation (microseconds
//! to a few milliseconds), so the wait is short and never parks libuv's threadpool.
//! Test: the unit tests in each module, `__test__/scope*.spec.ts` (model-based, multi-process,
//! crash injection, hostile inputs).
//!
//! What builds for WebAssembly (`target_family = "wasm"`): only the pure part, [`rule`] (the
//! rule algebra), [`check`] and [`json`]'s rule parsing. Everything that needs files, `flock`
//! or `/proc` (the registry, its store and table, guards, the options that carry a pid) is
//! compiled only off wasm, and so are this crate's dependencies on `sole-procid` and
//! `sole-lock`. The binding's WebAssembly build exposes `rulesOverlap` and `coversFully` from
//! here and refuses every registry call with `ENOTSUP` (`lib/platform.ts`).
//! Test: `__test__/wasm.spec.ts`.

pub mod check;
#[cfg(not(target_family = "wasm"))]
mod guard;
pub mod json;
#[cfg(not(target_family = "wasm"))]
pub mod registry;
pub mod rule;
#[cfg(not(target_family = "wasm"))]
pub mod store;
#[cfg(not(target_family = "wasm"))]
pub mod table;

#[cfg(not(target_family = "wasm"))]
pub use guard::Guard;
#[cfg(not(target_family = "wasm"))]
pub use registry::Registry;
pub use rule::{covers_fully, normalize, rules_overlap, Permission, Rule};
#[cfg(not(target_family = "wasm"))]
pub use store::checks::DirPolicy;
#[cfg(not(target_family = "wasm"))]
pub use table::{Allocation, Liveness, SystemLiveness, Table};

/// What a caller asks for: the allocation's name, owner pid (default: this process), socket and
/// rules. Checked by [`Registry::register`] / [`Registry::delegate`] before the lock.
/// Test: `registry::tests::bad_names_are_einval_naming_the_argument`.
#[cfg(not(target_family = "wasm"))]
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub pid: Option<sole_procid::Pid>,
    pub socket: Option<String>,
    pub scopes: Vec<Rule>,
}

/// A name's own write rules and the write rules its direct children hold.
/// Test: `table::allocations::tests::effective_scope_is_own_rules_minus_children`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EffectiveScope {
    /// The allocation's own write rules.
    pub rules: Vec<Rule>,
    /// Write rules delegated to its children: not part of its effective scope.
    pub delegated: Vec<Rule>,
}
