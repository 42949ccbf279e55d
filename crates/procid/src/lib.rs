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

pub mod handle;
pub mod hash;
pub mod identity;
pub mod pid;
pub mod proc;
pub mod recorded;
pub mod signal;
pub mod verify;
pub mod wait;

pub use handle::{HandleKind, ProcessHandle};
pub use identity::{boot_id, identity, Identity, Record};
pub use pid::{Pid, PID_MAX};
pub use recorded::{Check, Observed, Recorded};
pub use signal::{signal_from_number, signal_name, signal_number, SIGNAL_MAX, TERMINATE_DEFAULT};
pub use verify::{exe_sha256, identify, verify, Expected};
pub use wait::{Cancel, ExitWaiter, WaitEnd, Waits};
