//! Reading a pidfile: who holds it, or why it is free, without blocking, locking (but for
//! the one namespace probe) or writing it.
//!
//! Why: the holder comes from the kernel's lock list, never from the content (between a new
//! owner's `flock` and its `write` the file still names the previous owner); the content and
//! the identity record only explain a file nobody holds.
//!
//! Races closed here, each in its own step of [`read_inner`]:
//! - **A holder that exits and whose pid is reused while we read its identity**
//!   ([`confirm_live_holder`]): the identity is read, then the same pid must still hold the
//!   lock with the same start time; a handle, when asked for, is opened *before* that
//!   confirmation, so it is bound to the process that held the claim.
//! - **A dying holder** (docs/races.md R15; SIGKILLed: its main thread is a zombie while another thread still
//!   closes its files): its lock is about to vanish, so we look again every millisecond for at
//!   most [`DYING_WAIT`] instead of naming a dead process or calling the file free while a claim
//!   would still be refused. A bounded wait for the kernel's teardown, never for a live holder.
//! - **An orphaned lock** (R15; the locker is gone while a child that inherited the descriptor holds
//!   it): nobody we can name; after a few looks that is `EUNKNOWNHOLDER`.
//! - **A record that lies** (R18, [`judge_unlocked`]): "is the recorded writer still the same
//!   process?" is `sole_procid::Recorded::check`, the one rule shared with `verify`.
//!
//! Test: `tests::*` below; `__test__/pidfile.spec.ts`.

use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use sole_error::{is_exhausted, os_advice, Error, Kind, Result};
use sole_lock::{holder, open};
use sole_procid::identity::{identity, start_time, Record};
use sole_procid::{Check, Pid, ProcessHandle, Recorded};

use crate::claim::{locked_by_hidden_holder, outside_namespace_possible};
use crate::record::read_record;
use crate::{StaleReason, State, READ_LIMIT};

/// How long [`read`] waits for a dying holder's lock to vanish.
const DYING_WAIT: Duration = Duration::from_secs(2);

/// A free file that names no pid (empty, garbage, or unreadable to us).
pub(crate) const FREE_EMPTY: State = State::Free {
    stale_pid: None,
    reason: None,
};

/// Inspect a pidfile without blocking, locking or modifying it. Test: `tests::read_states`,
/// `tests::read_ignores_stale_content_of_a_held_file`.
pub fn read(path: &Path) -> Result<State> {
    read_inner(path, false).map(|(s, _)| s)
}

/// [`read`], and for a file held under the lock, a [`ProcessHandle`] (pidfd) on the holder,
/// opened *before* the holder is confirmed: the second look at the kernel's lock list and the
/// start-time check then cover the handle too, so it is bound to the process that held the
/// claim, and signals sent through it can never reach a process that reuses the pid.
/// Test: `tests::read_with_handle_binds_the_holder`; `__test__/procid.spec.ts`.
pub fn read_with_handle(path: &Path) -> Result<(State, Option<ProcessHandle>)> {
    read_inner(path, true)
}

/// Look up the file's lock holders and decide, looking again while the answer is in flux
/// (see the module doc for each step).
fn read_inner(path: &Path, open_handle: bool) -> Result<(State, Option<ProcessHandle>)> {
    let deadline = Instant::now() + DYING_WAIT;
    let mut orphan_looks = 0;
    loop {
        let Some(target) = inspect(path)? else {
            return Ok((State::Absent, None));
        };
        // An unreadable lock list is an error, never "nobody holds it".
        let holders = holder::try_flock_holders(target.dev, target.ino)
            .map_err(|e| proc_locks_error(path, e))?;
        if holders.is_empty() {
            return judge_free_file(path, &target).map(|s| (s, None));
        }
        let listed = || holders.iter().filter_map(|h| Pid::new(i64::from(h.pid)));
        if let Some(pid) = listed().find(|p| p.alive_not_exiting()) {
            if let Some(found) = confirm_live_holder(&target, pid, open_handle)? {
                return Ok(found);
            }
            if Instant::now() >= deadline {
                return Err(holder_in_flux(path));
            }
            std::thread::yield_now();
            continue;
        }
        if listed().any(Pid::is_dying) && Instant::now() < deadline {
            // Wait for a dying holder's teardown to drop its lock.
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        orphan_looks += 1;
        if orphan_looks >= 3 {
            return Err(unknown_holder(path));
        }
        std::thread::yield_now();
    }
}

/// No lock listed: a holder hidden by the pid namespace, or a free file judged by its content.
fn judge_free_file(path: &Path, target: &Target) -> Result<State> {
    if outside_namespace_possible() && target.file.as_deref().is_some_and(locked_by_hidden_holder) {
        return Err(hidden_holder(path));
    }
    let Some(f) = &target.file else {
        return Ok(FREE_EMPTY);
    };
    Ok(match first_line_pid(&read_head(f, path)?) {
        None => FREE_EMPTY,
        Some(pid) => {
            use std::os::unix::fs::MetadataExt;
            let uid = f.metadata().ok().map(|m| m.uid());
            judge_unlocked(pid, read_record(f), uid)?
        }
    })
}

/// Confirm that the live `pid` the kernel lists holds the lock: read its identity, then check
/// that the same pid still holds the lock and still has the start time we read (and, with a
/// handle, that the handle is bound to that process). `None`: the answer changed under us,
/// look again.
fn confirm_live_holder(
    target: &Target,
    pid: Pid,
    open_handle: bool,
) -> Result<Option<(State, Option<ProcessHandle>)>> {
    // Asked for a handle: open the pidfd now, before the confirmation below. A holder that
    // is gone is a changed answer; any other failure (out of descriptors: EMFILE, ENFILE) is
    // the caller's to see, or the look would be retried for ever.
    let handle = match open_handle {
        true => match ProcessHandle::open(pid) {
            Ok(h) => Some(h),
            Err(e) if e.kind() == Kind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        },
        false => None,
    };
    let still_holds = || {
        holder::flock_holders(target.dev, target.ino)
            .iter()
            .any(|x| x.pid == pid.get())
    };
    let held = |identity| State::Held {
        pid: pid.get(),
        identity,
        locked: true,
    };
    Ok(match identity(pid) {
        // Out of descriptors or memory: not an answer about the holder.
        Err(e) if e.errno().is_some_and(is_exhausted) => return Err(e),
        Ok(id) => {
            let bound = handle
                .as_ref()
                .is_none_or(|hd| hd.start_time() == id.start_time && hd.is_alive());
            (still_holds() && start_time(pid) == Some(id.start_time) && bound)
                .then(|| (held(Some(id)), handle))
        }
        // /proc hides the process from us (hidepid) but the kernel names it as the live
        // holder: held, identity unknown.
        Err(_) => (pid.alive_not_exiting()
            && handle.as_ref().is_none_or(|hd| hd.is_alive())
            && still_holds())
        .then(|| (held(None), handle)),
    })
}

/// `/proc/locks` could not be read (out of descriptors: `EMFILE`; no `/proc` mounted).
fn proc_locks_error(path: &Path, e: io::Error) -> Error {
    let errno = e.raw_os_error().unwrap_or(libc::EIO);
    let advice = match is_exhausted(errno) {
        true => os_advice(errno),
        false => " sole needs /proc mounted (Linux).",
    };
    Error::new(
        Kind::Os(errno),
        format!(
            "cannot read pidfile {}: /proc/locks, the kernel's list of lock holders, cannot be read: {e}.{advice}",
            path.display()
        ),
    )
    .with_path(path)
}

/// `EAGAIN`: the kernel named a different live holder on every look for [`DYING_WAIT`]
/// (claims and releases in a tight loop): an answer would be stale before it returned, and
/// looking on would never end. Test: none can make a holder change for 2 s on every look
/// deterministically; the bound exists so that `read` always returns.
fn holder_in_flux(path: &Path) -> Error {
    Error::new(
        Kind::Os(libc::EAGAIN),
        format!(
            "cannot read pidfile {}: its holder changed on every look for {} s (claimed and released in a tight loop?). Read it again.",
            path.display(),
            DYING_WAIT.as_secs()
        ),
    )
    .with_path(path)
}

/// `EUNKNOWNHOLDER` for a lock no live process we can see holds.
fn unknown_holder(path: &Path) -> Error {
    Error::new(
        Kind::UnknownHolder,
        format!(
            "{} is locked, but the process that locked it has exited or is not visible from this pid namespace (a child that inherited the descriptor may hold it). Find it with `fuser {}`.",
            path.display(),
            path.display()
        ),
    )
    .with_path(path)
}

/// `EUNKNOWNHOLDER` for a holder the pid namespace hides (detail `holder`, which a claim
/// turns into its own refusal).
fn hidden_holder(path: &Path) -> Error {
    Error::new(
        Kind::UnknownHolder,
        format!(
            "{} is held by a process outside this pid namespace: the kernel does not show its pid here, so it cannot be named or signalled from this namespace. Look from the host (`fuser {}`).",
            path.display(),
            path.display()
        ),
    )
    .with_path(path)
    .with_detail("holder", "outside-pid-namespace")
}

/// Judge an unlocked file from its content pid, its record and its owner (see the module doc).
///
/// - The content's pid is dead: free, `exited`.
/// - Any record with `lock=flock`, whatever pid it names: sole manages this file, and a sole
///   owner always holds the lock, so an unlocked file is free (`not-locked`). This also covers
///   a content rewritten in place to another pid (the record, on the inode, survives it).
/// - A record without `lock=flock` for the content's pid (another tool's) is checked against
///   the live process by `Recorded::check` (one rule for boot ids and zombies). A match is held (`locked: false`) only when
///   the file belongs to root or to the process's own uid: a record proves no more than its
///   writer is trusted, and this keeps one user from naming another user's process as owner.
/// - Otherwise: `unverified`.
fn judge_unlocked(pid: Pid, record: Option<Record>, file_uid: Option<u32>) -> Result<State> {
    let free = |reason| State::Free {
        stale_pid: Some(pid.get()),
        reason: Some(reason),
    };
    if !pid.is_alive() {
        return Ok(free(StaleReason::Exited));
    }
    let Some(rec) = record else {
        return Ok(State::Unverified { pid: pid.get() });
    };
    if rec.locked {
        return Ok(free(StaleReason::NotLocked));
    }
    if rec.pid != pid.get() {
        return Ok(State::Unverified { pid: pid.get() });
    }
    let recorded = Recorded {
        pid,
        start_time: Some(rec.start_time),
        boot_id: Some(rec.boot_id),
    };
    // Out of descriptors: no verdict (an error, not "exited").
    Ok(match recorded.check()? {
        Check::Exited => free(StaleReason::Exited),
        Check::PreviousBoot => free(StaleReason::PreviousBoot),
        Check::PidReused => free(StaleReason::PidReused),
        // The uid comes from a fresh identity read; its start time must still be the
        // recorded one (a reuse between the two reads is a reuse).
        Check::Alive { .. } => match identity(pid) {
            Ok(id) if id.start_time != rec.start_time => free(StaleReason::PidReused),
            Ok(id) if file_uid == Some(0) || file_uid == Some(id.uid) => State::Held {
                pid: pid.get(),
                identity: Some(id),
                locked: false,
            },
            Ok(_) => State::Unverified { pid: pid.get() },
            Err(e) if e.errno().is_some_and(is_exhausted) => return Err(e),
            Err(_) => free(StaleReason::Exited),
        },
    })
}

/// The inode to look up, and the open file when we may read it.
struct Target {
    dev: u64,
    ino: u64,
    file: Option<std::sync::Arc<std::fs::File>>,
}

/// Open the pidfile for reading; when its permissions forbid that (a root-owned 0600 pidfile
/// read by a monitoring user), fall back to `lstat`: the holder still comes from the kernel,
/// only `stale_pid` is unknown. Symlinks and non-regular files are refused either way.
fn inspect(path: &Path) -> Result<Option<Target>> {
    use std::os::unix::fs::MetadataExt;
    match open::open_for_read(path) {
        Ok(None) => Ok(None),
        Ok(Some(o)) => Ok(Some(Target {
            dev: o.dev,
            ino: o.ino,
            file: Some(o.file.clone()),
        })),
        Err(e) if e.errno() == Some(libc::EACCES) => {
            let m =
                std::fs::symlink_metadata(path).map_err(|e| Error::os(e, "stat pidfile", path))?;
            if !m.file_type().is_file() {
                return Err(e);
            }
            Ok(Some(Target {
                dev: m.dev(),
                ino: m.ino(),
                file: None,
            }))
        }
        Err(e) => Err(e),
    }
}

pub(crate) fn read_head(f: &std::fs::File, path: &Path) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; READ_LIMIT];
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::os(e, "read pidfile", path)),
        }
    }
    buf.truncate(n);
    Ok(buf)
}

/// The pid on the first line of a pidfile's content, if it names one.
pub(crate) fn first_line_pid(content: &[u8]) -> Option<Pid> {
    let line = content.split(|&b| b == b'\n').next()?;
    Pid::parse(std::str::from_utf8(line).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;
    use crate::{claim, read_lock_pid};
    use sole_lock::{Lock, Mode, OpenOptions};

    #[test]
    fn unlocked_files_are_judged_by_their_identity_record() {
        let (_d, p) = tmp();
        // A live unrelated process (a child of ours) stands for "whoever has the pid now".
        let mut other = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let opid = other.id() as i32;
        let oid = identity(Pid::from_i32(opid).unwrap()).unwrap();
        let stale = |reason| State::Free {
            stale_pid: Some(opid),
            reason: Some(reason),
        };
        std::fs::write(&p, format!("{opid}\n")).unwrap();
        // Plain pidfile, live pid, no record: nothing proves it.
        assert_eq!(read(&p).unwrap(), State::Unverified { pid: opid });
        // sole's own record (lock=flock) and no lock: the writer is gone.
        set_xattr(&p, &Record::of(&oid, true).to_text());
        assert_eq!(read(&p).unwrap(), stale(StaleReason::NotLocked));
        // Another tool's record, matching: held, unlocked.
        set_xattr(&p, &Record::of(&oid, false).to_text());
        assert_eq!(
            read(&p).unwrap(),
            State::Held {
                pid: opid,
                identity: Some(oid.clone()),
                locked: false
            }
        );
        // Wrong start time: the pid was reused.
        let reused = Record {
            start_time: oid.start_time + 1,
            ..Record::of(&oid, false)
        };
        set_xattr(&p, &reused.to_text());
        assert_eq!(read(&p).unwrap(), stale(StaleReason::PidReused));
        // Wrong boot id: a record from a previous boot.
        let old_boot = Record {
            boot_id: "00000000-0000-0000-0000-000000000000".into(),
            ..Record::of(&oid, false)
        };
        set_xattr(&p, &old_boot.to_text());
        assert_eq!(read(&p).unwrap(), stale(StaleReason::PreviousBoot));
        // Another tool's record for another pid than the content's does not apply...
        let mine = identity(Pid::from_i32(std::process::id() as i32).unwrap()).unwrap();
        set_xattr(&p, &Record::of(&mine, false).to_text());
        assert_eq!(read(&p).unwrap(), State::Unverified { pid: opid });
        // ...but sole's own (lock=flock) marks the file as lock-managed whatever pid it names.
        set_xattr(&p, &Record::of(&mine, true).to_text());
        assert_eq!(read(&p).unwrap(), stale(StaleReason::NotLocked));
        other.kill().unwrap();
        other.wait().unwrap();
        assert_eq!(read(&p).unwrap(), stale(StaleReason::Exited));
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            format!("{opid}\n"),
            "reads never write"
        );
    }

    #[test]
    fn read_states() {
        let (_d, p) = tmp();
        assert_eq!(read(&p).unwrap(), State::Absent);
        let dead = dead_pid();
        std::fs::write(&p, format!("{dead}\n")).unwrap();
        assert_eq!(
            read(&p).unwrap(),
            State::Free {
                stale_pid: Some(dead),
                reason: Some(StaleReason::Exited)
            }
        );
        for garbage in ["", "abc", "-1\n", "0\n", "99999999999\n", "12 34\n"] {
            std::fs::write(&p, garbage).unwrap();
            assert_eq!(read(&p).unwrap(), FREE_EMPTY, "{garbage:?}");
            assert_eq!(
                std::fs::read_to_string(&p).unwrap(),
                garbage,
                "read must not rewrite"
            );
        }
        let big = format!("{dead}\n") + &"x".repeat(1 << 20);
        std::fs::write(&p, &big).unwrap();
        assert_eq!(held_or_stale(&read(&p).unwrap()), (None, Some(dead)));
        assert_eq!(std::fs::read_to_string(&p).unwrap().len(), big.len());
        let _g = claim(&p, &OpenOptions::default()).unwrap();
        assert_eq!(
            read(&p).unwrap(),
            State::Held {
                pid: std::process::id() as i32,
                identity: Some(
                    identity(Pid::from_i32(std::process::id() as i32).unwrap()).unwrap()
                ),
                locked: true
            }
        );
        let rec = Record::parse(&xattr(&p).unwrap()).unwrap();
        assert_eq!(
            rec,
            Record::of(
                &identity(Pid::from_i32(std::process::id() as i32).unwrap()).unwrap(),
                true
            )
        );
    }

    #[test]
    fn read_ignores_stale_content_of_a_held_file() {
        // The window between a new owner's flock and its write: locked, content still names
        // someone else.
        let (_d, p) = tmp();
        std::fs::write(&p, "1\n").unwrap();
        let l = Lock::try_lock(&p, Mode::Exclusive, &OpenOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(
            held_or_stale(&read(&p).unwrap()),
            (Some(std::process::id() as i32), None)
        );
        drop(l);
    }

    #[test]
    fn read_refuses_symlink_and_fifo() {
        let (d, p) = tmp();
        std::os::unix::fs::symlink("/etc/passwd", &p).unwrap();
        assert_eq!(read(&p).unwrap_err().code(), "ESYMLINK");
        assert_eq!(read_lock_pid(&p).unwrap_err().code(), "ESYMLINK");
        assert_eq!(read(d.path()).unwrap_err().code(), "ENOTREG");
    }

    #[test]
    fn read_with_handle_binds_the_holder() {
        let (_d, p) = tmp();
        std::fs::write(&p, "").unwrap();
        assert!(read_with_handle(&p).unwrap().1.is_none(), "free: no handle");
        let mut child = flock_holder(&p);
        let (state, handle) = loop {
            let (s, h) = read_with_handle(&p).unwrap();
            if matches!(s, State::Held { .. }) {
                break (s, h);
            }
            std::thread::yield_now();
        };
        let handle = handle.expect("held under the lock: a handle");
        let State::Held { pid, identity, .. } = state else {
            unreachable!()
        };
        assert_eq!(pid, child.id() as i32);
        assert_eq!(handle.pid(), pid);
        assert_eq!(Some(handle.start_time()), identity.map(|i| i.start_time));
        handle.signal(libc::SIGKILL).unwrap();
        child.wait().unwrap();
        assert!(!handle.is_alive());
        assert_eq!(handle.signal(0).unwrap_err().code(), "ENOTFOUND");
    }
}
