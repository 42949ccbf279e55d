//! Pidfiles claimed with a kernel-held flock and never unlinked, and the daemon-lock API.
//!
//! Why: a pidfile says "this program is running, as PID N". The classic implementation
//! (create with `O_EXCL`, and if the file exists, treat it as stale when `kill(pid, 0)` fails)
//! is a check-then-act race: two starters can both judge the old pid dead and both "win", and a
//! recycled pid keeps a dead daemon's file "live" forever (docs/races.md R2). Here staleness is not guessed at
//! all: a claim is an exclusive `flock` on the file, held for as long as the [`Pidfile`] guard
//! lives, and the kernel drops it the instant the owner exits, however it exits. The pid written into the file is for humans and other tools
//! (`kill $(cat file)`, systemd `PIDFile=`, start-stop-daemon); the lock is the truth.
//!
//! ## Never unlink a pidfile (docs/races.md R1)
//! Removing the file on exit looks tidy and is catastrophic. Suppose A owns `app.pid`. B starts,
//! opens `app.pid` and blocks in `flock`. A shuts down: it unlinks `app.pid`, then exits, which
//! releases its lock and wakes B. B now holds a lock on an inode that no longer has a name, and
//! writes its pid there. C starts, opens `app.pid`, which creates a *new* inode, locks it without
//! contention and writes its pid. B and C both believe they are the only instance. So
//! [`Pidfile::release`] empties the file and unlocks it, and nothing in sole ever unlinks it. An empty or stale file is harmless: the next claim locks and rewrites it.
//!
//! ## Reading never lies about the holder (docs/races.md R13, R16)
//! Between a new owner's `flock` and its `write`, the file still holds the previous owner's pid.
//! [`read`] therefore never takes the holder's pid from the content: it asks the kernel which process holds the flock on this inode (`sole_lock::holder`), checks
//! that this process is alive and not a zombie, and reports that pid. The content only feeds
//! `stale_pid` for a file nobody holds. Reading takes no lock of its own, so a reader can never
//! make a concurrent claim fail, and it never writes the file.
//!
//! ## Identity beside the pid (docs/races.md R18)
//! The content stays `PID\n` and nothing else, so `kill $(cat file)`, systemd `PIDFile=` and
//! `start-stop-daemon` keep working (a second line would make `kill $(cat file)` fail). The
//! writer's identity (pid, start time, boot id: `sole_procid::Record`) goes into the file's
//! `user.sole.identity` extended attribute, on the same inode, written under the lock before
//! the fsync and removed before the file is emptied on release. A record applies only while
//! its pid equals the file's pid (another tool rewriting the content makes it void), and a file
//! replaced by rename loses it. On a filesystem without user xattrs the record is simply
//! absent; nothing else changes, since for a held file the lock, not the record, is the truth.
//!
//! What the record decides: a file whose record says `lock=flock` (sole wrote it) is free
//! whenever no lock is held, even if its pid now names a live process (pid reuse, or a
//! tampered file). A record without `lock=flock` (another tool following the documented
//! format) is checked against the live process by `sole_procid::Recorded::check`: a start
//! time or boot id that differs means stale. A plain pidfile with no record naming a live process is reported `unverified`:
//! nothing proves that process wrote it.
//!
//! ## Where each decision lives
//! - `claim.rs`: claiming, the refusal wording, the namespace-hidden holder probe, release.
//! - `record.rs`: the identity record (the `user.sole.identity` xattr).
//! - `read.rs`: reading a pidfile, step by step; the judgement of an unlocked file.
//! - `daemon.rs`: the daemon-lock API.
//! - `exec.rs`: replacing this process with a program that keeps the claim (`sole exec`); the
//!   only `unsafe` of this crate (`execve`, `sigaction`, `pthread_sigmask`).
//! - "is the recorded process still the same one?": `sole_procid::Recorded::check`.
//!
//! Test: the unit tests of each module; `__test__/pidfile.spec.ts`, `__test__/procid.spec.ts`;
//! the harness's pidfile properties.

mod claim;
mod daemon;
mod exec;
mod read;
mod record;
#[cfg(test)]
mod test_util;

pub use claim::{claim, claim_from_lock, held_error, Pidfile};
pub use daemon::{acquire_daemon_lock, daemon_lock_path, read_lock_pid, DAEMON_LOCK_FILENAME};
pub use exec::{exec_as_child_of, exec_holding, Program};
pub use read::{read, read_with_handle};
pub use record::RECORD_XATTR;

use sole_procid::identity::Identity;

/// How many bytes of a pidfile are read. A pid line is at most 11 bytes; the rest of a large
/// file is ignored, so a 1 MB file costs one small read and is never rewritten by a reader.
pub const READ_LIMIT: usize = 4096;

/// What [`read`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// No file at the path.
    Absent,
    /// The file exists and no process owns it; `stale_pid` is the pid its content names, if
    /// it names one (a previous owner that did not release cleanly), and `reason` says why
    /// that pid is not the owner.
    Free {
        stale_pid: Option<i32>,
        reason: Option<StaleReason>,
    },
    /// A live process owns the file. `locked`: the kernel reports it holding the flock (sole's
    /// own claims); otherwise an identity record without a lock, verified against the live
    /// process. `identity` was read while the ownership was confirmed: a `ProcessHandle`
    /// opened from it is that process or is refused.
    Held {
        pid: i32,
        identity: Option<Identity>,
        locked: bool,
    },
    /// No lock and no identity record: a plain pidfile (another tool's) naming a live pid.
    /// Nothing proves that this process wrote it (the pid may have been reused).
    Unverified { pid: i32 },
}

/// Why a free pidfile's pid is not its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleReason {
    /// No process has that pid.
    Exited,
    /// A process has the pid but started at another time than recorded.
    PidReused,
    /// The record is from a previous boot.
    PreviousBoot,
    /// sole wrote the file under a lock and no lock is held: the writer is gone, whatever
    /// process has the pid now.
    NotLocked,
}

impl StaleReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StaleReason::Exited => "exited",
            StaleReason::PidReused => "pid-reused",
            StaleReason::PreviousBoot => "previous-boot",
            StaleReason::NotLocked => "not-locked",
        }
    }
}
