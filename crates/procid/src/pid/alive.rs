//! Whether a pid is a live process: `kill(pid, 0)` and `/proc/PID/stat` (zombies and exiting
//! processes are dead), with a `move_pages` probe and a pidfd cache on Linux. The liveness half
//! of [`super`]; see its doc for the races. Not in the WebAssembly build (no processes there).
//! Test: `super::tests::*`.

use sole_error::Result;

use super::{not_a_pid, Pid};
use crate::proc::Stat;

/// `isAlive` of a JavaScript number: 0, negatives, fractions, NaN and values above 2^31-1 are
/// never alive (no syscall is made for them). Test: `tests::liveness_from_numbers`.
pub fn alive_from_f64(n: f64) -> bool {
    Pid::from_f64(n).is_ok_and(Pid::is_alive)
}

/// `pidAlive` of a JavaScript number: like [`alive_from_f64`], but a number that is not an
/// integer (a fraction, NaN, ±Infinity) is `EINVALIDPID`; integers out of range are not alive.
/// Test: `tests::liveness_from_numbers`.
pub fn alive_from_f64_strict(n: f64) -> Result<bool> {
    if n.fract() != 0.0 {
        return Err(not_a_pid(&n.to_string()));
    }
    Ok(alive_from_f64(n))
}

impl Pid {
    /// Is this a live, non-zombie process?
    ///
    /// Fast path (one syscall, so `isAlive` runs well over a million times a second):
    /// `move_pages(pid, 0, …)` looks the process up (`ESRCH`: no such process), checks that we
    /// may inspect it (`EPERM`), then takes its memory map: a zombie has none and answers
    /// `EINVAL`, a live user process has one and answers 0. Only the answers that do not decide
    /// (`EPERM`: another user's process or a seccomp filter; `EINVAL`: a zombie *or* a kernel
    /// thread; `ENOSYS`) fall back to [`Pid::alive_not_exiting`].
    /// Test: `tests::liveness_of_self_dead_child_zombie_and_bad_pids`, `tests::eperm_is_alive`.
    pub fn is_alive(self) -> bool {
        #[cfg(target_os = "linux")]
        {
            if live_cache::still_alive(self) {
                return true;
            }
            match move_pages_probe(self) {
                Some(true) => {
                    live_cache::seen_alive(self);
                    return true;
                }
                Some(false) => return false,
                None => {}
            }
        }
        self.alive_not_exiting()
    }

    /// The thorough answer, for decisions about lock holders: `kill(pid, 0)` (`EPERM` = alive:
    /// another user's process), then the process state, where a zombie or a process already
    /// tearing down (`PF_EXITING`, which the fast path of [`Pid::is_alive`] still sees as alive
    /// until its memory map is gone) counts as dead. A holder that is exiting releases its
    /// locks within milliseconds; readers wait for it with [`Pid::is_dying`] rather than name
    /// it as the owner. Test: `tests::fast_and_slow_paths_agree`, `tests::eperm_is_alive`.
    pub fn alive_not_exiting(self) -> bool {
        match rustix::process::test_kill_process(self.rustix()) {
            Ok(()) | Err(rustix::io::Errno::PERM) => {}
            Err(_) => return false,
        }
        !gone_or_going(Stat::read(self))
    }

    /// `true` while the process is being torn down: SIGKILLed or exiting (its main thread
    /// exiting or already a zombie), yet still present, so another of its threads may hold its
    /// file table, and with it its locks, for a few milliseconds more. Test: the dying-holder
    /// tests of `sole-pidfile` and `__test__/pidfile.spec.ts`.
    pub fn is_dying(self) -> bool {
        let st = Stat::read(self);
        st.is_some() && gone_or_going(st)
    }
}

/// `move_pages(pid, 0, NULL, NULL, NULL, 0)`: `Some(true)` live with a memory map, `Some(false)`
/// no such process, `None` undecided (see [`Pid::is_alive`]). rustix has no `move_pages` (it is a
/// NUMA call outside its scope), so this is the one raw syscall left in the liveness path.
#[cfg(target_os = "linux")]
fn move_pages_probe(pid: Pid) -> Option<bool> {
    // SAFETY: with count 0 no page arrays are read or written; the call only resolves the
    // process and its mm.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_pages,
            pid.get() as libc::c_long,
            0 as libc::c_ulong,
            std::ptr::null::<*const libc::c_void>(),
            std::ptr::null::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_int,
        )
    };
    if rc == 0 {
        return Some(true);
    }
    if std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
        return Some(false);
    }
    None
}

#[cfg(target_os = "linux")]
mod live_cache;

/// A process that vanished (no stat), is a zombie, or is already exiting.
fn gone_or_going(stat: Option<Stat>) -> bool {
    stat.is_none_or(|s| s.is_gone_or_going())
}
