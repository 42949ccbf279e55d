//! `sole-procid`: who a pid really is, and signals that cannot hit a recycled pid.
//!
//! Why this crate exists: a pid is a number the kernel recycles. Every tool that reads a pid
//! from a file and then acts on it ("is it running?", `kill`) can hit an unrelated process
//! that got the same number. This crate is the one place that decides what a pid is
//! ([`pid::validate_pid`]), whether it is alive ([`pid::pid_alive`]), who it is
//! ([`identity::identity`]: start time + boot id survive pid reuse), whether a recorded
//! identity still matches ([`verify::verify`]), and how to signal or wait for it without a
//! reuse window ([`handle::ProcessHandle`]: a pidfd, bound to one process for its lifetime).
//! It ports seed 003 (running_process `verify_pid.rs`) and repairs it: a start-time check,
//! signals through the pidfd instead of by raw pid, a cached exe hash, " (deleted)" handled.
//! Test: the unit tests in each module and `__test__/procid.spec.ts`.

pub mod handle;
pub mod hash;
pub mod identity;
pub mod pid;
pub mod verify;

pub use handle::{
    signal_from_number, signal_number, Cancel, ExitWaiter, HandleKind, ProcessHandle, WaitEnd,
    SIGNAL_MAX,
};
pub use identity::{boot_id, identity, Identity, Record};
pub use pid::{alive_not_exiting, is_dying, parse_pid, pid_alive, validate_pid, PID_MAX};
pub use verify::{exe_sha256, verify, Expected};
