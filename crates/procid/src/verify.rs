//! Does a recorded identity still describe a running process? Answered with a handle, so that
//! what was verified is what gets signalled.
//!
//! Why: "verify, then act by pid" has a reuse window between the two steps. [`verify`] opens
//! the pidfd *first* and compares the record to the process the pidfd is bound to, then
//! confirms that process is still alive after the reads: a `ProcessHandle` returned from here
//! is the recorded process, and stays bound to it. Each mismatch has its own code, checked in
//! this order: `EINVALIDPID`, `ENOTFOUND`, `EBOOTID` (a record from another boot: its start
//! time means nothing now), `ESTARTTIME` (the pid was reused), `EEXEPATH`, `EEXEHASH`. Only
//! fields present in [`Expected`] are checked. Errors carry `expected` and `actual`.
//! Test: `tests::*` below; `__test__/procid.spec.ts`.

use std::fs::File;

use rustix::fs::{Mode, OFlags};
use sole_error::{Detail, Error, Kind, Result};

use crate::handle::ProcessHandle;
use crate::identity::boot_id;
use crate::pid::Pid;
use crate::proc::split_deleted;
use crate::recorded::{Check, Observed, Recorded};

/// A recorded identity; `None` fields are not checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    pub pid: i32,
    pub start_time: Option<u64>,
    pub boot_id: Option<String>,
    pub exe_path: Option<String>,
    pub exe_sha256: Option<String>,
}

fn mismatch(
    kind: Kind,
    pid: i32,
    what: &str,
    expected: impl Into<Detail> + std::fmt::Display,
    actual: impl Into<Detail> + std::fmt::Display,
    advice: &str,
) -> Error {
    Error::new(
        kind,
        format!("process {pid} does not match the recorded identity: {what} is {actual}, the record says {expected}. {advice}"),
    )
    .with_pid(pid)
    .with_detail("expected", expected)
    .with_detail("actual", actual)
}

/// SHA-256 of the executable of the process `pid` (through `/proc/PID/exe`, so the bytes it
/// runs even if the file was replaced), cached by file identity.
pub fn exe_sha256(pid: Pid) -> Result<String> {
    let fd = rustix::fs::open(
        format!("/proc/{pid}/exe"),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    );
    let fd = match fd {
        Ok(fd) => fd,
        Err(e) if e == rustix::io::Errno::NOENT || e == rustix::io::Errno::SRCH => {
            return Err(Error::new(
                Kind::NotFound,
                format!("no running process has pid {pid}: cannot hash its executable."),
            )
            .with_pid(pid.get()));
        }
        Err(e) => {
            let e = std::io::Error::from(e);
            return Err(Error::new(
                Kind::Os(e.raw_os_error().unwrap_or(libc::EIO)),
                format!("cannot open the executable of process {pid} (/proc/{pid}/exe): {e}. Hashing another user's process needs privilege."),
            )
            .with_pid(pid.get()));
        }
    };
    let mut f = File::from(fd);
    crate::hash::sha256_of(&mut f).map_err(|e| {
        Error::new(
            Kind::Os(e.raw_os_error().unwrap_or(libc::EIO)),
            format!("cannot read the executable of process {pid}: {e}."),
        )
        .with_pid(pid.get())
    })
}

/// The identity of the live process `pid`, with the SHA-256 of its executable when `hash`.
///
/// Race closed here: the hash is read by pid (`/proc/PID/exe`), so after hashing, the start
/// time is read again: if it changed, the pid was reused while we hashed and the hash may be a
/// newcomer's, so this is `ENOTFOUND` rather than a hash attached to the wrong identity.
/// Test: `tests::identify_with_and_without_hash`.
pub fn identify(pid: Pid, hash: bool) -> Result<(crate::Identity, Option<String>)> {
    let id = crate::identity(pid)?;
    if !hash {
        return Ok((id, None));
    }
    let h = exe_sha256(pid)?;
    if crate::identity::start_time(pid) != Some(id.start_time) {
        return Err(Error::new(
            Kind::NotFound,
            format!("process {pid} exited while it was being identified."),
        )
        .with_pid(pid.get()));
    }
    Ok((id, Some(h)))
}

/// The largest start time accepted from JavaScript: `Number.MAX_SAFE_INTEGER`.
const MAX_START_TIME: f64 = 9_007_199_254_740_991.0;

/// What makes a recorded identity given by a caller (`verifyProcess`, `ProcessHandle.open`)
/// well formed: the decisions and their wording, on plain values; the binding only reads the
/// fields. Test: `tests::expected_fields_are_decided_here`.
impl Expected {
    /// `EINVALIDPID`: the identity is not an object (`shown`: the JavaScript type).
    pub fn not_an_object(shown: &str) -> Error {
        Error::new(
            Kind::InvalidPid,
            format!("an identity is an object with a pid (as processIdentity() returns it), got {shown}: pass the recorded identity, or a pid."),
        )
    }

    /// `EINVALIDPID`: the identity has no pid.
    pub fn no_pid() -> Error {
        Error::new(
            Kind::InvalidPid,
            "the identity has no pid (undefined or null): pass an identity from processIdentity(), which has one.",
        )
    }

    /// `EINVAL` naming `identity.<field>`: a field of the wrong type (`shown`) in the identity
    /// of process `pid`.
    pub fn wrong_field(field: &str, expected: &str, shown: &str, pid: i32) -> Error {
        Error::invalid_argument(
            &format!("identity.{field}"),
            format!("identity.{field} must be {expected} (as processIdentity() returns it), got {shown}: fix the recorded identity of process {pid}."),
        )
        .with_pid(pid)
    }

    /// `identity.startTime` given as a number: a safe integer >= 0, else `EINVAL`.
    pub fn start_time_from_f64(n: f64, pid: i32) -> Result<u64> {
        if n.fract() == 0.0 && (0.0..=MAX_START_TIME).contains(&n) {
            // A whole number in 0..=2^53-1: exact as u64.
            Ok(n as u64)
        } else {
            Err(Error::invalid_argument(
                "identity.startTime",
                format!("identity.startTime {n} of process {pid} is not a start time: pass the integer from processIdentity()."),
            )
            .with_pid(pid))
        }
    }
}

/// Canonical form of an expected exe path for comparison (the kernel's link is canonical).
fn canonical(p: &str) -> String {
    std::fs::canonicalize(p)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_else(|_| p.to_string())
}

/// Verify `e` against the process that has its pid now; the handle on success.
pub fn verify(e: &Expected) -> Result<ProcessHandle> {
    let pid = e.pid;
    if let Some(h) = &e.exe_sha256 {
        if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            let shown: String = h.chars().take(80).collect();
            return Err(Error::invalid_argument(
                "identity.exeSha256",
                format!("identity.exeSha256 {shown:?} of process {pid} is not a SHA-256: pass the 64 hex digits from processIdentity(pid, {{ exeSha256: true }})."),
            )
            .with_pid(pid));
        }
    }
    let id = Pid::from_i32(pid)?;
    let handle = ProcessHandle::open(id)?;
    // Boot id, then start time: the one rule of `Recorded`, on the pidfd's start time. The
    // boot id is read only when one is expected (unreadable: its own error, as before).
    let now_boot = match &e.boot_id {
        Some(_) => Some(boot_id()?),
        None => None,
    };
    let recorded = Recorded {
        pid: handle.id(),
        start_time: e.start_time,
        boot_id: e.boot_id.clone(),
    };
    let observed = Observed {
        alive: true,
        start_time: Some(handle.start_time()),
        boot_id: now_boot.as_deref(),
    };
    match recorded.compare(observed) {
        Check::Alive { .. } => {}
        Check::PreviousBoot => {
            return Err(mismatch(
                Kind::BootId,
                pid,
                "the boot id",
                e.boot_id.as_deref().unwrap_or_default(),
                now_boot.as_deref().unwrap_or_default(),
                "The record is from a previous boot: the process it names is gone.",
            ));
        }
        Check::PidReused | Check::Exited => {
            return Err(mismatch(
                Kind::StartTime,
                pid,
                "its start time",
                e.start_time.unwrap_or_default(),
                handle.start_time(),
                "The pid was reused by another process: the recorded one has exited.",
            ));
        }
    }
    // The exe checks read `/proc/PID/…` by number: that is the pidfd's process as long as it is
    // alive at the end (a pid is only reused after its process is reaped), which is checked last.
    if let Some(want) = &e.exe_path {
        let actual = std::fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .map(|l| split_deleted(&l.to_string_lossy()).0)
            .unwrap_or_default();
        if canonical(want) != actual {
            return Err(mismatch(
                Kind::ExePath,
                pid,
                "its executable",
                want.as_str(),
                if actual.is_empty() {
                    "unreadable"
                } else {
                    actual.as_str()
                },
                "It runs another program than recorded.",
            ));
        }
    }
    if let Some(want) = &e.exe_sha256 {
        let actual = exe_sha256(id)?;
        if !want.eq_ignore_ascii_case(&actual) {
            return Err(mismatch(
                Kind::ExeHash,
                pid,
                "the SHA-256 of its executable",
                want.as_str(),
                actual.as_str(),
                "Its binary differs from the recorded one (replaced by an upgrade?).",
            ));
        }
    }
    // Every read above was of a process still bound to the pidfd only if it is still alive.
    if !handle.is_alive() {
        return Err(Error::new(
            Kind::NotFound,
            format!("process {pid} exited while it was being verified."),
        )
        .with_pid(pid));
    }
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::identity;

    fn me() -> Expected {
        let pid = std::process::id() as i32;
        let id = identity(Pid::from_i32(pid).unwrap()).unwrap();
        Expected {
            pid,
            start_time: Some(id.start_time),
            boot_id: Some(id.boot_id),
            exe_path: id.exe_path,
            exe_sha256: None,
        }
    }

    #[test]
    fn own_identity_verifies_and_mismatches_have_codes() {
        let good = me();
        assert!(verify(&good).is_ok());
        // Each wrong field has its own code; a hash that is not one is a bad argument (EINVAL),
        // not a mismatch. Every mismatch carries `expected` and `actual`.
        let cases = [
            (
                Expected {
                    start_time: good.start_time.map(|t| t + 1),
                    ..good.clone()
                },
                "ESTARTTIME",
            ),
            (
                Expected {
                    boot_id: Some("00000000-0000-0000-0000-000000000000".into()),
                    ..good.clone()
                },
                "EBOOTID",
            ),
            (
                Expected {
                    exe_path: Some("/bin/sh".into()),
                    ..good.clone()
                },
                "EEXEPATH",
            ),
            (
                Expected {
                    exe_sha256: Some("00".repeat(32)),
                    ..good.clone()
                },
                "EEXEHASH",
            ),
            (
                Expected {
                    exe_sha256: Some("zz".into()),
                    ..good.clone()
                },
                "EINVAL",
            ),
        ];
        for (expected, code) in cases {
            let e = verify(&expected).unwrap_err();
            assert_eq!(e.code(), code);
            if code != "EINVAL" {
                assert!(e.details().iter().any(|(k, _)| *k == "expected"), "{code}");
            }
        }
        // Only the given fields are checked.
        assert!(verify(&Expected {
            pid: good.pid,
            ..Default::default()
        })
        .is_ok());
    }

    #[test]
    fn identify_with_and_without_hash() {
        let pid = Pid::from_i32(std::process::id() as i32).unwrap();
        let (id, none) = identify(pid, false).unwrap();
        assert_eq!(none, None);
        let (again, hash) = identify(pid, true).unwrap();
        assert_eq!(id, again);
        assert_eq!(hash.unwrap().len(), 64);
    }

    #[test]
    fn expected_fields_are_decided_here() {
        assert_eq!(Expected::start_time_from_f64(5.0, 1).unwrap(), 5);
        for bad in [-1.0, 0.5, f64::NAN, f64::INFINITY, 2f64.powi(53)] {
            let e = Expected::start_time_from_f64(bad, 1).unwrap_err();
            assert_eq!(e.code(), "EINVAL", "{bad}");
            assert_eq!(e.details()[0], ("argument", "identity.startTime".into()));
        }
        assert_eq!(Expected::not_an_object("a string").code(), "EINVALIDPID");
        assert_eq!(Expected::no_pid().code(), "EINVALIDPID");
        let e = Expected::wrong_field("bootId", "a string", "a number", 7);
        assert_eq!(e.details()[0], ("argument", "identity.bootId".into()));
        assert_eq!(e.pid(), Some(7));
    }

    #[test]
    fn reaped_child_never_verifies() {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id() as i32;
        let st = crate::identity::start_time(Pid::from_i32(pid).unwrap());
        c.wait().unwrap();
        let e = verify(&Expected {
            pid,
            start_time: st,
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            e.code() == "ENOTFOUND" || e.code() == "ESTARTTIME",
            "{}",
            e.code()
        );
        assert_eq!(
            verify(&Expected {
                pid: 0,
                ..Default::default()
            })
            .unwrap_err()
            .code(),
            "EINVALIDPID"
        );
    }
}
