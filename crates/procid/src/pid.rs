//! Pid validation and liveness: the one place that decides whether a number is a pid and
//! whether that pid is a live process.
//!
//! Why: `kill(0, 0)` signals the caller's process group and `kill(-1, 0)` every process the
//! caller may signal, and a pid above `i32::MAX` wraps to a negative `pid_t`: a naive liveness
//! probe on a corrupt pidfile can answer "alive" for a process that does not exist (seed 000).
//! `EPERM` means the process exists but belongs to another user: alive (races.md #3). A zombie
//! answers `kill(pid, 0)` but has closed every fd and holds nothing: dead (races.md #13).
//! Test: `tests::*` below; `__test__/pidfile.spec.ts` for the JavaScript entry points.

use sole_error::{Error, Kind, Result};

/// The largest pid the kernel can hand out (`PID_MAX_LIMIT` is 2^22; `pid_t` is `i32`).
pub const PID_MAX: i64 = i32::MAX as i64;

/// Validate a pid given as a JavaScript number: an integer in 1..=2^31-1. Anything else
/// (0, negatives, NaN, infinities, fractions, 2^31 and above) is `EINVALIDPID`, before any
/// syscall is made.
pub fn validate_pid(value: f64) -> Result<i32> {
    if value.is_finite() && value.fract() == 0.0 && value >= 1.0 && value <= PID_MAX as f64 {
        Ok(value as i32)
    } else {
        Err(not_a_pid(&value.to_string()))
    }
}

/// The `EINVALIDPID` error for a value shown as `shown` (a number, or a JavaScript type name
/// such as `string "12"` when the caller did not pass a number at all).
pub fn not_a_pid(shown: &str) -> Error {
    Error::new(
        Kind::InvalidPid,
        format!(
            "{shown} is not a valid pid: a pid is an integer from 1 to 2147483647. Pass the pid of a process (for example process.pid)."
        ),
    )
}

/// Parse the text of a pidfile's first line as a pid: ASCII digits only (surrounding
/// whitespace allowed), value 1..=2^31-1. `None` for anything else (empty, garbage, negative,
/// 0, overflow).
pub fn parse_pid(text: &str) -> Option<i32> {
    let t = text.trim();
    if t.is_empty() || t.len() > 10 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = t.parse().ok()?;
    if (1..=PID_MAX).contains(&v) {
        Some(v as i32)
    } else {
        None
    }
}

/// Is `pid` a live, non-zombie process? Out-of-range pids are never alive and make no syscall.
///
/// Fast path (one syscall, so `isAlive` runs well over a million times a second):
/// `move_pages(pid, 0, …)` looks the process up (`ESRCH`: no such process), checks that we may
/// inspect it (`EPERM`), then takes its memory map: a zombie has none and answers `EINVAL`,
/// a live user process has one and answers 0. Only the answers that do not decide
/// (`EPERM`: another user's process or a seccomp filter; `EINVAL`: a zombie *or* a kernel
/// thread; `ENOSYS`) fall back to `kill(pid, 0)` plus the state letter in `/proc/PID/stat`,
/// where `EPERM` from `kill` means alive (races.md #3) and `Z`/`X` or `PF_EXITING` mean dead.
pub fn pid_alive(pid: i64) -> bool {
    if !(1..=PID_MAX).contains(&pid) {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        if live_cache::still_alive(pid as i32) {
            return true;
        }
        // SAFETY: with count 0 no page arrays are read or written; the call only resolves the
        // process and its mm.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_move_pages,
                pid as libc::c_long,
                0 as libc::c_ulong,
                std::ptr::null::<*const libc::c_void>(),
                std::ptr::null::<libc::c_int>(),
                std::ptr::null_mut::<libc::c_int>(),
                0 as libc::c_int,
            )
        };
        if rc == 0 {
            live_cache::seen_alive(pid as i32);
            return true;
        }
        if std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
            return false;
        }
    }
    pid_alive_slow(pid as i32)
}

/// Pidfds of live pids checked repeatedly, so that checking the same live pid again costs one
/// `poll` (about 200 ns here) instead of `move_pages` (about 560 ns).
///
/// Why it is correct: a pidfd is bound to the process it was opened for and becomes readable
/// when that process exits (a zombie counts as exited). While it is not readable that process
/// is alive and still owns its pid (a pid is only reused after its process is reaped), so "the
/// pid is alive" holds. Once readable, the entry is dropped and the answer comes from the
/// syscall again, since the pid may belong to a newcomer by then. If the process the pid named
/// died and the pid was reused between our `move_pages` and our `pidfd_open`, the pidfd is the
/// newcomer's, which also owns the pid: still a true answer for "is this pid alive".
///
/// Cost control: a pid gets a pidfd only the second time in a row it is found alive in its
/// slot, so a one-off scan over many pids opens nothing; at most `SLOTS` pidfds (O_CLOEXEC) are
/// held, replaced as other pids take their slots.
/// Test: `tests::cache_never_outlives_the_process`, the zombie tests in `__test__/procid.spec.ts`.
#[cfg(target_os = "linux")]
mod live_cache {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::sync::Mutex;

    const SLOTS: usize = 32;

    struct Slot {
        pid: i32,
        fd: Option<OwnedFd>,
    }

    static CACHE: Mutex<[Slot; SLOTS]> = Mutex::new([const { Slot { pid: 0, fd: None } }; SLOTS]);

    fn slot_of(pid: i32) -> usize {
        pid as usize % SLOTS
    }

    /// `true` when the slot holds a pidfd for `pid` whose process has not exited.
    pub fn still_alive(pid: i32) -> bool {
        let mut c = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        let slot = &mut c[slot_of(pid)];
        if slot.pid != pid {
            return false;
        }
        let Some(fd) = &slot.fd else { return false };
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd on the stack, zero timeout.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        if n == 0 {
            return true;
        }
        // Exited (or poll failed): forget it; the caller asks the kernel again.
        slot.fd = None;
        slot.pid = 0;
        false
    }

    /// `pid` was just found alive by the syscall: remember it, with a pidfd the second time.
    pub fn seen_alive(pid: i32) {
        let mut c = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        let slot = &mut c[slot_of(pid)];
        if slot.pid != pid {
            slot.pid = pid;
            slot.fd = None;
            return;
        }
        if slot.fd.is_some() {
            return;
        }
        // SAFETY: raw syscall with integer arguments; pidfds are close-on-exec.
        let fd =
            unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_long, 0 as libc::c_long) };
        if fd >= 0 {
            // SAFETY: fresh owned fd.
            slot.fd = Some(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
    }
}

/// The thorough answer, for decisions about lock holders: `kill(pid, 0)` (EPERM = alive),
/// then the process state, where a process already tearing down (`PF_EXITING`, which the fast
/// path of [`pid_alive`] still sees as alive until its memory map is gone) counts as dead.
/// A holder that is exiting releases its locks within milliseconds; readers wait for it with
/// [`is_dying`] rather than name it as the owner.
pub fn alive_not_exiting(pid: i64) -> bool {
    (1..=PID_MAX).contains(&pid) && pid_alive_slow(pid as i32)
}

/// The portable answer: `kill(pid, 0)` (EPERM = alive), then the process state.
fn pid_alive_slow(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    if rc != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EPERM) {
        return false;
    }
    !is_zombie(pid)
}

/// What `/proc/PID/stat` says of a process's main thread: its one-letter state, and whether
/// the kernel has started tearing it down (`PF_EXITING` in the flags field). `None` if it does
/// not exist.
#[cfg(target_os = "linux")]
fn proc_state(pid: i32) -> Option<(u8, bool)> {
    const PF_EXITING: u64 = 0x4;
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    // The fields follow the *last* ')': the command name may contain spaces and parentheses.
    let i = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[i + 1..]).ok()?;
    let mut f = rest.split_ascii_whitespace();
    let state = f.next()?.bytes().next()?;
    // state ppid pgrp session tty_nr tpgid flags
    let flags: u64 = f.nth(5).and_then(|v| v.parse().ok()).unwrap_or(0);
    Some((state, flags & PF_EXITING != 0))
}

#[cfg(not(target_os = "linux"))]
fn proc_state(_pid: i32) -> Option<(u8, bool)> {
    Some((b'R', false))
}

fn gone_or_going(state: Option<(u8, bool)>) -> bool {
    match state {
        None => true,
        Some((s, exiting)) => exiting || matches!(s, b'Z' | b'X' | b'x'),
    }
}

/// `true` when the process is a zombie, dead (state `X`), already exiting, or vanished
/// between `kill` and the read: it is not alive and holds nothing for long.
fn is_zombie(pid: i32) -> bool {
    gone_or_going(proc_state(pid))
}

/// `true` while a process is being torn down: SIGKILLed or exiting (its main thread exiting
/// or already a zombie), yet still present, so another of its threads may hold its file table,
/// and with it its locks, for a few milliseconds more.
pub fn is_dying(pid: i64) -> bool {
    if !(1..=PID_MAX).contains(&pid) {
        return false;
    }
    let st = proc_state(pid as i32);
    st.is_some() && gone_or_going(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_rejects_non_pids() {
        for v in [
            0.0,
            -1.0,
            2147483648.0,
            4294967296.0,
            f64::NAN,
            f64::INFINITY,
            1.5,
            1e300,
        ] {
            assert_eq!(validate_pid(v).unwrap_err().code(), "EINVALIDPID", "{v}");
        }
        assert_eq!(validate_pid(1.0).unwrap(), 1);
        assert_eq!(validate_pid(2147483647.0).unwrap(), i32::MAX);
    }

    #[test]
    fn parse_accepts_only_plain_pids() {
        assert_eq!(parse_pid("123\n"), Some(123));
        assert_eq!(parse_pid("  42  "), Some(42));
        for bad in [
            "",
            "\n",
            "0",
            "-5",
            "+5",
            "abc",
            "12a",
            "2147483648",
            "99999999999999999999",
            "1 2",
        ] {
            assert_eq!(parse_pid(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn liveness_of_self_dead_child_zombie_and_bad_pids() {
        assert!(pid_alive(std::process::id() as i64));
        assert!(!pid_alive(0));
        assert!(!pid_alive(-1));
        assert!(!pid_alive(i32::MAX as i64 + 1));
        assert!(!pid_alive(u32::MAX as i64));
        // A real child: a zombie until reaped, dead after.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i64;
        // Wait until it has exited but do not reap it: waitid with WNOWAIT.
        wait_exited_unreaped(pid);
        assert!(!pid_alive(pid), "a zombie holds nothing and is not alive");
        child.wait().unwrap();
        assert!(!pid_alive(pid), "a reaped child is dead");
    }

    /// Block until child `pid` has exited, without reaping it (it stays a zombie).
    fn wait_exited_unreaped(pid: i64) {
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        assert_eq!(rc, 0);
    }

    #[test]
    fn cache_never_outlives_the_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i64;
        for _ in 0..5 {
            assert!(
                pid_alive(pid),
                "checked repeatedly: the cached pidfd answers"
            );
        }
        child.kill().unwrap();
        wait_exited_unreaped(pid);
        assert!(!pid_alive(pid), "a zombie is dead even with a cached pidfd");
        child.wait().unwrap();
        assert!(!pid_alive(pid));
    }

    #[test]
    fn fast_and_slow_paths_agree() {
        let me = std::process::id() as i32;
        assert!(pid_alive_slow(me));
        assert_eq!(pid_alive(me as i64), pid_alive_slow(me));
        // pid 2 is kthreadd in the root pid namespace: a kernel thread has no mm, so the fast
        // path answers EINVAL and the slow path must still say alive.
        if std::fs::read_to_string("/proc/2/comm")
            .map(|c| c.trim() == "kthreadd")
            .unwrap_or(false)
        {
            assert!(pid_alive(2));
        }
    }

    #[test]
    fn eperm_is_alive() {
        // pid 1 belongs to root; when not root, kill answers EPERM, which means alive.
        assert!(pid_alive(1));
    }
}
