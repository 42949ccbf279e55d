//! Pidfds of live pids checked repeatedly, so that checking the same live pid again costs one
//! `poll` (about 200 ns here) instead of `move_pages` (about 560 ns).
//!
//! Why it is correct: a pidfd is bound to the process it was opened for and becomes readable
//! when that process exits (a zombie counts as exited). While it is not readable that process
//! is alive and still owns its pid (a pid is only reused after its process is reaped), so "the
//! pid is alive" holds. Once readable, the entry is dropped and the answer comes from the
//! syscall again, since the pid may belong to a newcomer by then. If the process the pid named
//! died and the pid was reused between our `move_pages` and our `pidfd_open`, the pidfd is the
//! newcomer's, which also owns the pid: still a true answer for "is this pid alive".
//!
//! Cost control: a pid gets a pidfd only the second time in a row it is found alive in its
//! slot, so a one-off scan over many pids opens nothing; at most `SLOTS` pidfds (O_CLOEXEC) are
//! held, replaced as other pids take their slots.
//! Test: `pid::tests::cache_never_outlives_the_process`, the zombie tests in
//! `__test__/procid.spec.ts`.

use std::os::fd::OwnedFd;
use std::sync::Mutex;

use rustix::process::{pidfd_open, PidfdFlags};

use crate::handle::pidfd_readable;
use crate::pid::Pid;

const SLOTS: usize = 32;

struct Slot {
    pid: i32,
    fd: Option<OwnedFd>,
}

static CACHE: Mutex<[Slot; SLOTS]> = Mutex::new([const { Slot { pid: 0, fd: None } }; SLOTS]);

fn slot_of(pid: Pid) -> usize {
    pid.get() as usize % SLOTS
}

/// `true` when the slot holds a pidfd for `pid` whose process has not exited.
pub fn still_alive(pid: Pid) -> bool {
    let mut c = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let slot = &mut c[slot_of(pid)];
    if slot.pid != pid.get() {
        return false;
    }
    let Some(fd) = &slot.fd else { return false };
    if pidfd_readable(fd) == Some(false) {
        return true;
    }
    // Exited (or poll failed): forget it; the caller asks the kernel again.
    slot.fd = None;
    slot.pid = 0;
    false
}

/// `pid` was just found alive by the syscall: remember it, with a pidfd the second time.
pub fn seen_alive(pid: Pid) {
    let mut c = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let slot = &mut c[slot_of(pid)];
    if slot.pid != pid.get() {
        slot.pid = pid.get();
        slot.fd = None;
        return;
    }
    if slot.fd.is_none() {
        // pidfds are always close-on-exec.
        slot.fd = pidfd_open(pid.rustix(), PidfdFlags::empty()).ok();
    }
}
