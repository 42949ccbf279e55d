//! Who a pid really is: the kernel's facts about one process, read so that they all describe
//! the *same* process.
//!
//! Why: a pid is a number the kernel recycles. `(startTime, bootId)` is not: the start time is
//! field 22 of `/proc/PID/stat` (clock ticks since boot, fixed at fork), the boot id changes on
//! every boot, so the pair names one process for the life of the machine. The exe path and hash add "is it still the program I think",
//! but every Node program runs the same `node` binary, so they never replace the start time.
//!
//! Race closed here: the facts must all describe one process, so [`identity`] reads them
//! through one [`ProcDir`] (see `proc.rs`): once that process is gone every later read fails
//! instead of answering for a newcomer with the same number.
//! Test: `tests::*` below; `__test__/procid.spec.ts` against real child processes.

use std::sync::OnceLock;

use sole_error::{is_exhausted, Error, Kind, Result};

use crate::pid::Pid;
use crate::proc::{ProcDir, Stat};

/// The identity of one process. `start_time` + `boot_id` identify it across pid reuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub pid: i32,
    /// Clock ticks since boot at which the process started (`/proc/PID/stat` field 22).
    pub start_time: u64,
    /// `/proc/sys/kernel/random/boot_id` of the boot the process runs in.
    pub boot_id: String,
    /// The executable (`/proc/PID/exe`) without the kernel's " (deleted)" suffix; `None` when
    /// the link cannot be read (another user's process without privilege, kernel threads).
    pub exe_path: Option<String>,
    /// `true` when the executable was replaced or removed after the process started.
    pub exe_deleted: bool,
    /// Effective uid (the owner of `/proc/PID`).
    pub uid: u32,
    pub hostname: String,
}

/// This boot's id (read once: it cannot change while this process runs).
pub fn boot_id() -> Result<String> {
    // Only a success is kept: a read that failed for want of a descriptor must not make every
    // later check in this process believe /proc is missing (every record would then count as
    // from a previous boot). Two threads that race here both read the same id; either's kept.
    static BOOT: OnceLock<String> = OnceLock::new();
    if let Some(b) = BOOT.get() {
        return Ok(b.clone());
    }
    const PATH: &str = "/proc/sys/kernel/random/boot_id";
    match std::fs::read_to_string(PATH) {
        Ok(s) => Ok(BOOT.get_or_init(|| s.trim().to_string()).clone()),
        Err(e) => Err(Error::exhausted(&e, PATH).unwrap_or_else(|| {
            Error::new(
                Kind::Os(e.raw_os_error().unwrap_or(libc::ENOENT)),
                format!("cannot read {PATH}: {e}. sole needs /proc mounted (Linux)."),
            )
        })),
    }
}

/// [`boot_id`] for a caller that decides from it: `None` when it cannot be read (no `/proc`),
/// `Err` only when this process is out of descriptors or memory.
pub fn boot_id_checked() -> Result<Option<String>> {
    match boot_id() {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.errno().is_some_and(is_exhausted) => Err(e),
        Err(_) => Ok(None),
    }
}

/// The host's name (uname nodename).
pub fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

fn not_found(pid: Pid) -> Error {
    Error::new(
        Kind::NotFound,
        format!("no live process has pid {pid} (it exited, or never existed): nothing to identify or signal."),
    )
    .with_pid(pid.get())
}

/// `/proc/PID` could not be read because this process is out of descriptors or memory
/// ([`sole_error::is_exhausted`]): that says nothing about whether `pid` lives, so it must not
/// become `ENOTFOUND` (a pidfile reader would call a held file free). `None` for any other
/// failure. Test: `__test__/pidfile.spec.ts` ("out of descriptors").
pub fn exhausted(pid: Pid, e: &std::io::Error) -> Option<Error> {
    Error::exhausted(e, &format!("/proc/{pid} to identify process {pid}"))
        .map(|x| x.with_pid(pid.get()))
}

/// The start time of `pid` by path (one read of `/proc/PID/stat`). `None` when there is no
/// such process. Test: `tests::own_identity_is_consistent`.
pub fn start_time(pid: Pid) -> Option<u64> {
    Stat::read(pid).map(|s| s.start_time)
}

/// Read the identity of the live process `pid`, every fact through one [`ProcDir`].
/// `ENOTFOUND` when no live process has it (a zombie has exited: it is not found either).
/// Test: `tests::own_identity_is_consistent`, `tests::reaped_child_is_not_found`.
pub fn identity(pid: Pid) -> Result<Identity> {
    let dir =
        ProcDir::open(pid).map_err(|e| exhausted(pid, &e).unwrap_or_else(|| not_found(pid)))?;
    let stat = dir.stat_checked()?.ok_or_else(|| not_found(pid))?;
    if stat.is_zombie() {
        return Err(not_found(pid));
    }
    let exe = dir.exe();
    let uid = dir.uid().ok_or_else(|| not_found(pid))?;
    let (exe_path, exe_deleted) = match exe {
        Some((p, d)) => (Some(p), d),
        None => (None, false),
    };
    Ok(Identity {
        pid: pid.get(),
        start_time: stat.start_time,
        boot_id: boot_id()?,
        exe_path,
        exe_deleted,
        uid,
        hostname: hostname(),
    })
}

pub use crate::record::{write_record, Record, RECORD_VERSION};

impl Record {
    /// The record of `id`; `locked`: its writer holds an flock on the file it describes.
    pub fn of(id: &Identity, locked: bool) -> Record {
        Record {
            pid: id.pid,
            start_time: id.start_time,
            boot_id: id.boot_id.clone(),
            locked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_identity_is_consistent() {
        let me = Pid::from_i32(std::process::id() as i32).unwrap();
        let a = identity(me).unwrap();
        let b = identity(me).unwrap();
        assert_eq!(a, b);
        assert_eq!(Some(a.start_time), start_time(me));
        assert_eq!(a.boot_id.len(), 36);
        assert_eq!(
            a.exe_path.as_deref().map(std::path::Path::new),
            std::env::current_exe().ok().as_deref()
        );
        assert_eq!(a.uid, rustix::process::geteuid().as_raw());
    }

    #[test]
    fn reaped_child_is_not_found() {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id() as i32;
        c.wait().unwrap();
        assert_eq!(
            identity(Pid::from_i32(pid).unwrap()).unwrap_err().code(),
            "ENOTFOUND"
        );
    }
}
