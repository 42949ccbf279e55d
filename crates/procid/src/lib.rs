//! `sole-procid`: who a pid really is, and signals that cannot hit a recycled pid.
//!
//! Why this crate exists: a pid is a number the kernel recycles. Every tool that reads a pid
//! from a file and then acts on it ("is it running?", `kill`) can hit an unrelated process
//! that got the same number. This crate is the one place that decides what a pid is
//! ([`pid::Pid`]), whether it is alive ([`Pid::is_alive`]), how `/proc/PID` is read
//! ([`proc`]: the one stat parser, reads relative to one directory fd), who it is
//! ([`identity::identity`]: start time + boot id survive pid reuse), whether a recorded
//! identity still names the same process ([`recorded::Recorded::check`]: the one rule for
//! boot ids and zombies), whether an identity passed in matches, with an error per field
//! ([`verify::verify`]), and how to signal or wait for a process without a reuse window
//! ([`handle::ProcessHandle`]: a pidfd, bound to one process for its lifetime).
//! Test: the unit tests in each module and `__test__/procid.spec.ts`.

//!
//! The WebAssembly build (`target_family = "wasm"`) has only what needs no operating system:
//! [`pid`] (what a pid is) and [`record`] (the identity record's text). Every module that reads
//! /proc or makes a syscall, and this crate's `rustix` and `libc`, are native-only.

#[cfg(not(target_family = "wasm"))]
pub mod handle;
#[cfg(not(target_family = "wasm"))]
pub mod hash;
#[cfg(not(target_family = "wasm"))]
pub mod identity;
pub mod pid;
#[cfg(not(target_family = "wasm"))]
pub mod proc;
pub mod record;
#[cfg(not(target_family = "wasm"))]
pub mod recorded;
#[cfg(not(target_family = "wasm"))]
pub mod signal;
#[cfg(not(target_family = "wasm"))]
pub mod verify;
#[cfg(not(target_family = "wasm"))]
pub mod wait;

#[cfg(not(target_family = "wasm"))]
pub use handle::{HandleKind, ProcessHandle};
#[cfg(not(target_family = "wasm"))]
pub use identity::{boot_id, identity, Identity};
pub use pid::{Pid, PID_MAX};
pub use record::Record;
#[cfg(not(target_family = "wasm"))]
pub use recorded::{Check, Observed, Recorded};
#[cfg(not(target_family = "wasm"))]
pub use signal::{signal_from_number, signal_name, signal_number, SIGNAL_MAX, TERMINATE_DEFAULT};
#[cfg(not(target_family = "wasm"))]
pub use verify::{exe_sha256, identify, verify, Expected};
#[cfg(not(target_family = "wasm"))]
pub use wait::{Cancel, ExitWaiter, WaitEnd, Waits};
