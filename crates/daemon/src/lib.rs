//! `sole-daemon`: start a real daemon from a multi-threaded program (Node), know when it is
//! ready, stop it safely, ask how it is.
//!
//! Why: a Node program that needs a daemon today gets `spawn(cmd, { detached: true })` and
//! hope: no readiness, no pidfile lock, no error when the daemon dies in its first second,
//! stdio tied to the terminal. This crate does the classic double fork natively (Node cannot
//! fork itself), with only async-signal-safe calls between `fork` and `execve`
//! ([`spawn`]), has the daemon itself claim its pidfile with sole's claim (so its crash frees
//! it at once), and receives the daemon's readiness over the sd_notify protocol ([`receiver`]),
//! the same protocol a daemon uses under systemd `Type=notify` ([`notify`]).
//!
//! Modules:
//! - [`spawn`]: the start sequence (prepare, fork, setsid, fork, claim, drop, exec) and the
//!   caller's wait for readiness.
//! - [`notify`]: the daemon's side of sd_notify (`READY=1`, `STATUS=…`), and the watchdog
//!   interval.
//! - [`receiver`]: the private notify socket sole creates for a daemon it starts.
//! - [`control`]: a daemon's uptime, from the start time read while its pidfile's holder was
//!   confirmed (`daemonStatus`; stopping the verified holder is `stopDaemon` in `lib/daemon.ts`,
//!   composed from `readPidfile` and `terminateGracefully`).

pub mod control;
pub mod notify;
pub mod receiver;
pub mod spawn;
#[cfg(test)]
mod test_util;
