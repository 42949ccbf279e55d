//! Who a pid really is: the kernel's facts about one process, read so that they all describe
//! the *same* process.
//!
//! Why: a pid is a number the kernel recycles. `(startTime, bootId)` is not: the start time is
//! field 22 of `/proc/PID/stat` (clock ticks since boot, fixed at fork), the boot id changes on
//! every boot, so the pair names one process for the life of the machine (seed 003 repaired:
//! it had no start-time check). The exe path and hash add "is it still the program I think",
//! but every Node program runs the same `node` binary, so they never replace the start time.
//!
//! Race closed here: reading `/proc/PID/stat`, then `/proc/PID/exe`, then the owner, by path,
//! could mix two processes if the pid is reused between the reads. [`identity`] opens the
//! directory `/proc/PID` once and reads everything relative to that fd: the fd is bound to the
//! process it was opened for, so once that process is gone every later read fails (`ESRCH`)
//! instead of answering for a newcomer with the same number.
//! Test: `tests::*` below; `__test__/procid.spec.ts` against real child processes.

use std::ffi::CStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;

use sole_error::{Error, Kind, Result};

use crate::pid::PID_MAX;

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
    static BOOT: OnceLock<std::result::Result<String, String>> = OnceLock::new();
    BOOT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_string())
            .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(|e| {
        Error::new(
            Kind::Os(libc::ENOENT),
            format!("cannot read /proc/sys/kernel/random/boot_id: {e}. sole needs /proc mounted (Linux)."),
        )
    })
}

/// The host's name (uname nodename).
pub fn hostname() -> String {
    // SAFETY: uname fills a caller-owned struct.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::new();
    }
    // SAFETY: nodename is NUL-terminated by the kernel.
    unsafe { CStr::from_ptr(u.nodename.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn not_found(pid: i32) -> Error {
    Error::new(
        Kind::NotFound,
        format!("no live process has pid {pid} (it exited, or never existed): nothing to identify or signal."),
    )
    .with_pid(pid)
}

/// The start time (field 22) and state letter from the text of `/proc/PID/stat`. The fields
/// are parsed after the *last* `)`: the command name may contain spaces and parentheses.
pub fn parse_stat(stat: &[u8]) -> Option<(u64, u8)> {
    let i = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[i + 1..]).ok()?;
    let mut f = rest.split_ascii_whitespace();
    let state = f.next()?.bytes().next()?;
    // Field 3 is the state; field 22 is 19 further on.
    let start = f.nth(18)?.parse().ok()?;
    Some((start, state))
}

/// Open `/proc/PID` as a directory fd bound to that process.
fn open_proc_dir(pid: i32) -> Result<OwnedFd> {
    let path = format!("/proc/{pid}\0");
    // SAFETY: NUL-terminated path; the fd is owned below.
    let fd = unsafe {
        libc::open(
            path.as_ptr().cast(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(not_found(pid));
    }
    // SAFETY: fd is a fresh, owned descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn read_at(dir: &OwnedFd, name: &CStr, buf: &mut Vec<u8>) -> std::io::Result<()> {
    // SAFETY: NUL-terminated name relative to a valid dir fd.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh owned fd.
    let mut f = unsafe { File::from_raw_fd(fd) };
    buf.clear();
    f.read_to_end(buf)?;
    Ok(())
}

/// `(exe path, deleted)` from `readlinkat(dir, "exe")`, `None` when unreadable.
fn exe_at(dir: &OwnedFd) -> Option<(String, bool)> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: buffer of the given length; the result is not NUL-terminated.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            c"exe".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n <= 0 {
        return None;
    }
    buf.truncate(n as usize);
    let s = String::from_utf8_lossy(&buf).into_owned();
    Some(split_deleted(&s))
}

/// The kernel appends " (deleted)" to the exe link of a binary that was replaced or removed.
pub fn split_deleted(link: &str) -> (String, bool) {
    match link.strip_suffix(" (deleted)") {
        Some(p) => (p.to_string(), true),
        None => (link.to_string(), false),
    }
}

/// The start time of `pid` and whether it is a zombie/dead, by path (one read). `None` when
/// there is no such process.
pub fn start_time(pid: i32) -> Option<u64> {
    if !(1..=PID_MAX as i32).contains(&pid) {
        return None;
    }
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat).map(|(t, _)| t)
}

/// Read the identity of the live process `pid`. `ENOTFOUND` when no live process has it (a
/// zombie has exited: it is not found either).
pub fn identity(pid: i32) -> Result<Identity> {
    if !(1..=PID_MAX as i32).contains(&pid) {
        return Err(crate::pid::validate_pid(pid as f64).unwrap_err());
    }
    let dir = open_proc_dir(pid)?;
    let mut buf = Vec::with_capacity(512);
    read_at(&dir, c"stat", &mut buf).map_err(|_| not_found(pid))?;
    let (start_time, state) = parse_stat(&buf).ok_or_else(|| not_found(pid))?;
    if matches!(state, b'Z' | b'X' | b'x') {
        return Err(not_found(pid));
    }
    let exe = exe_at(&dir);
    // SAFETY: fstat on a valid fd into a caller-owned struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(dir.as_raw_fd(), &mut st) } != 0 {
        return Err(not_found(pid));
    }
    let (exe_path, exe_deleted) = match exe {
        Some((p, d)) => (Some(p), d),
        None => (None, false),
    };
    Ok(Identity {
        pid,
        start_time,
        boot_id: boot_id()?,
        exe_path,
        exe_deleted,
        uid: st.st_uid,
        hostname: hostname(),
    })
}

/// The text form of an identity recorded beside a pid (sole stores it in the pidfile's
/// `user.sole.identity` extended attribute):
///
/// ```text
/// sole-identity/1 pid=4242 start=123456 boot=0f8c…-… lock=flock
/// ```
///
/// Space-separated `key=value` fields after a version word; unknown keys are ignored so later
/// versions can add fields. `lock=flock` says the writer holds an flock on the file for as
/// long as it owns it, so a reader must treat the file as free whenever no lock is held,
/// whatever process has the pid now. A record without it (written by another tool) is
/// verified against the live process instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub pid: i32,
    pub start_time: u64,
    pub boot_id: String,
    pub locked: bool,
}

pub const RECORD_VERSION: &str = "sole-identity/1";

impl Record {
    pub fn of(id: &Identity, locked: bool) -> Record {
        Record {
            pid: id.pid,
            start_time: id.start_time,
            boot_id: id.boot_id.clone(),
            locked,
        }
    }

    pub fn to_text(&self) -> String {
        format!(
            "{RECORD_VERSION} pid={} start={} boot={}{}",
            self.pid,
            self.start_time,
            self.boot_id,
            if self.locked { " lock=flock" } else { "" }
        )
    }

    /// Parse a record; `None` for anything that is not a complete version-1 record.
    pub fn parse(text: &str) -> Option<Record> {
        let mut words = text.split_ascii_whitespace();
        if words.next()? != RECORD_VERSION {
            return None;
        }
        let (mut pid, mut start, mut boot, mut locked) = (None, None, None, false);
        for w in words {
            let (k, v) = w.split_once('=')?;
            match k {
                "pid" => pid = crate::pid::parse_pid(v),
                "start" => start = v.parse::<u64>().ok(),
                "boot"
                    if v.len() <= 64 && v.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') =>
                {
                    boot = Some(v.to_ascii_lowercase())
                }
                "lock" => locked = v == "flock",
                _ => {}
            }
        }
        Some(Record {
            pid: pid?,
            start_time: start?,
            boot_id: boot?,
            locked,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_parsed_after_the_last_paren() {
        let line = b"42 (a) b) c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 999 20 21\n";
        assert_eq!(parse_stat(line), Some((999, b'S')));
        assert_eq!(parse_stat(b"garbage"), None);
    }

    #[test]
    fn records_round_trip_and_reject_garbage() {
        let r = Record {
            pid: 42,
            start_time: 99,
            boot_id: "0f8c5e1a-aaaa-bbbb-cccc-0123456789ab".into(),
            locked: true,
        };
        assert_eq!(Record::parse(&r.to_text()), Some(r.clone()));
        let unlocked = Record {
            locked: false,
            ..r.clone()
        };
        assert_eq!(Record::parse(&unlocked.to_text()), Some(unlocked));
        assert_eq!(
            Record::parse("sole-identity/1 pid=42 start=99 boot=ab future=1"),
            Some(Record {
                pid: 42,
                start_time: 99,
                boot_id: "ab".into(),
                locked: false
            })
        );
        for bad in [
            "",
            "sole-identity/2 pid=1 start=1 boot=ab",
            "sole-identity/1 pid=0 start=1 boot=ab",
            "sole-identity/1 pid=1 boot=ab",
            "sole-identity/1 pid=1 start=x boot=ab",
            "sole-identity/1 pid=1 start=1 boot=../../x",
            "sole-identity/1 pid=99999999999 start=1 boot=ab",
            "sole-identity/1 junk",
        ] {
            assert_eq!(Record::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn deleted_suffix_is_split() {
        assert_eq!(
            split_deleted("/usr/bin/node (deleted)"),
            ("/usr/bin/node".to_string(), true)
        );
        assert_eq!(split_deleted("/bin/x"), ("/bin/x".to_string(), false));
    }

    #[test]
    fn own_identity_is_consistent() {
        let me = std::process::id() as i32;
        let a = identity(me).unwrap();
        let b = identity(me).unwrap();
        assert_eq!(a, b);
        assert_eq!(Some(a.start_time), start_time(me));
        assert_eq!(a.boot_id.len(), 36);
        assert_eq!(
            a.exe_path.as_deref().map(std::path::Path::new),
            std::env::current_exe().ok().as_deref()
        );
        assert_eq!(a.uid, unsafe { libc::geteuid() });
    }

    #[test]
    fn reaped_child_is_not_found() {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id() as i32;
        c.wait().unwrap();
        assert_eq!(identity(pid).unwrap_err().code(), "ENOTFOUND");
        assert_eq!(identity(0).unwrap_err().code(), "EINVALIDPID");
    }
}
