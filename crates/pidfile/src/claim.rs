//! Claiming a pidfile: take the flock, write the pid and the identity record under it, and
//! hold the claim for as long as the [`Pidfile`] guard lives.
//!
//! Why: the lock is the truth about ownership (see the crate doc), so a claim is "lock, then
//! write under the lock", and a refusal names the holder the kernel reports, never the pid in
//! the file.
//!
//! Races closed here:
//! - **Holder gone between our failed try and the lookup**: a few attempts let that claim
//!   succeed instead of reporting a holder that is gone.
//! - **Half-made claims** (docs/races.md R3): truncate, write and fsync all happen under the lock; if any step
//!   fails the lock is dropped with the error.
//! - **A holder the pid namespace hides** (R17): in a container the kernel's lock list omits holders
//!   outside our pid namespace; [`locked_by_hidden_holder`] asks the lock itself, so such a
//!   file is refused as held rather than claimed twice.
//! - **Release**: the record is removed and the file emptied while still locked, so no reader
//!   or claimer sees a half state, and the file is never unlinked (R1).
//!
//! Test: `tests::*` below; `__test__/pidfile.spec.ts`.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};
use rustix::io::Errno;
use sole_error::{is_exhausted, Error, Kind, Result};
use sole_lock::{Lock, Mode, OpenOptions};

use crate::read::read;
use crate::record::{remove_record, write_record};
use crate::State;

/// Which wording a refusal uses: "pidfile" for [`claim`], "lock file" for the daemon lock.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Noun {
    Pidfile,
    LockFile,
}

impl Noun {
    fn word(self) -> &'static str {
        match self {
            Noun::Pidfile => "pidfile",
            Noun::LockFile => "lock file",
        }
    }
}

/// A claimed pidfile: holds an exclusive flock for as long as it lives.
#[must_use = "the claim ends as soon as the Pidfile guard is dropped"]
#[derive(Debug)]
pub struct Pidfile {
    lock: Option<Lock>,
    path: PathBuf,
    pid: i32,
    token: Option<u64>,
}

impl Pidfile {
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The pid written into the file: this process.
    pub fn pid(&self) -> i32 {
        self.pid
    }
    /// The claim's fencing token, when it was claimed with `fencing` (see
    /// `sole_lock::fencing`; stored in an xattr, so the content stays `PID\n`).
    pub fn token(&self) -> Option<u64> {
        self.token
    }
    /// Is the claim still held (not yet released)?
    pub fn is_held(&self) -> bool {
        self.lock.is_some()
    }

    /// `Ok(())` while held and the path still names the claimed file, or once released;
    /// `ELOST` when the file was deleted, renamed or replaced under the claim
    /// (`sole_lock::lost`). Test: `__test__/lost.spec.ts`.
    pub fn check(&self) -> Result<()> {
        match &self.lock {
            Some(l) => l.check(),
            None => Ok(()),
        }
    }

    /// `true` once [`Pidfile::watch_lost`] started a watch on the held claim.
    pub fn is_watched(&self) -> bool {
        self.lock.as_ref().is_some_and(|l| l.is_watched())
    }

    /// Watch the held claim for loss ([`sole_lock::Lock::watch_lost`]); nothing to watch once
    /// released. The watch ends with the claim. Test: `__test__/lost.spec.ts`.
    pub fn watch_lost(&mut self, on_lost: sole_lock::lost::OnLost) -> Result<()> {
        match &mut self.lock {
            Some(l) => l.watch_lost(on_lost),
            None => Ok(()),
        }
    }

    /// The descriptor that carries the claim's lock, while it is held (for `crate::exec`,
    /// which keeps it open across `execve`).
    pub(crate) fn descriptor(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.lock.as_ref().map(|l| l.file().as_fd())
    }

    /// End the claim: empty the file (so readers see no stale pid), unlock, close. Never
    /// unlinks. Idempotent. Test: `tests::release_empties_and_keeps_file`.
    pub fn release(&mut self) -> Result<()> {
        if let Some(lock) = self.lock.take() {
            // Emptied while still locked: no reader or claimer can observe a half state. The
            // identity record goes first, so a record never outlives the pid it describes.
            remove_record(lock.file());
            let r = lock.file().set_len(0);
            drop(lock);
            r.map_err(|e| Error::os(e, "empty pidfile", &self.path))?;
        }
        Ok(())
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        let _ = self.release();
    }
}

/// Claim `path` for this process. Refusal: `EHELD` with the holder's pid and the message
/// "already running as PID N (pidfile: PATH)". Test: `tests::second_claim_is_refused_with_pid`.
pub fn claim(path: &Path, opts: &OpenOptions) -> Result<Pidfile> {
    claim_as(path, opts, Noun::Pidfile)
}

pub(crate) fn claim_as(path: &Path, opts: &OpenOptions, noun: Noun) -> Result<Pidfile> {
    // A holder may release between our failed try and the holder lookup; a few attempts let
    // that claim succeed instead of reporting a holder that is gone.
    for _ in 0..3 {
        if let Some(lock) = Lock::try_lock(path, Mode::Exclusive, opts)? {
            return write_claim(lock, path);
        }
        match read(path) {
            Ok(State::Held {
                pid, locked: true, ..
            }) => return Err(held(path, pid, noun)),
            Err(e) if is_hidden_holder(&e) => return Err(held_outside_namespace(path, noun)),
            // The claim was refused: it is held. Who holds it cannot be read (this process is
            // out of descriptors): still `EHELD`, without a pid.
            Err(e) if e.errno().is_some_and(is_exhausted) => {
                return Err(held_unnamed(path, noun, &e))
            }
            Err(e) => return Err(e),
            Ok(_) => continue,
        }
    }
    if outside_namespace_possible() {
        return Err(held_outside_namespace(path, noun));
    }
    Err(Error::new(
        Kind::Held,
        format!(
            "{} is being claimed and released rapidly by other processes; retry the claim.",
            path.display()
        ),
    )
    .with_path(path))
}

/// `EHELD` for a refused claim whose holder could not be looked up (out of descriptors or
/// memory: `why`). Test: `__test__/pidfile.spec.ts` ("out of descriptors").
fn held_unnamed(path: &Path, noun: Noun, why: &Error) -> Error {
    Error::new(
        Kind::Held,
        format!(
            "{} is held by another process; which one cannot be read here: {} Stop the other process first, or use another {}.",
            path.display(),
            why.message(),
            noun.word()
        ),
    )
    .with_path(path)
}

/// `EHELD` for a lock whose holder the kernel hides from this pid namespace (no pid).
fn held_outside_namespace(path: &Path, noun: Noun) -> Error {
    Error::new(
        Kind::Held,
        format!(
            "{} is held by a process outside this pid namespace (this process runs in a container or sandbox with its own pids, and the kernel does not show the holder's pid here). Stop that process from the host, or use another {}.",
            path.display(),
            noun.word()
        ),
    )
    .with_path(path)
}

/// The [`crate::read`] error for a holder hidden by the pid namespace (see
/// [`locked_by_hidden_holder`]).
fn is_hidden_holder(e: &Error) -> bool {
    e.kind() == Kind::UnknownHolder
        && e.details()
            .iter()
            .any(|(k, v)| *k == "holder" && *v == "outside-pid-namespace".into())
}

/// The inode of the initial pid namespace (`PROC_PID_INIT_INO`, fixed by the kernel).
const INIT_PID_NS_INO: u64 = 0xEFFF_FFFC;

/// `true` when this process runs in a pid namespace other than the initial one, so a lock
/// holder outside it is missing from `/proc/locks` (the kernel lists only holders visible in
/// the reader's pid namespace). Decided once per process.
pub(crate) fn outside_namespace_possible() -> bool {
    static CHILD_NS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CHILD_NS.get_or_init(|| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self/ns/pid").is_ok_and(|m| m.ino() != INIT_PID_NS_INO)
    })
}

/// In a child pid namespace with no visible holder: is the file locked all the same (by a
/// process the kernel hides)? Asked with a shared, non-blocking `flock` on our own read-only
/// description, released at once. This is the one place a read takes a lock, and only where
/// the kernel's list cannot answer: a claim racing it in that instant is refused and retries.
pub(crate) fn locked_by_hidden_holder(f: &std::fs::File) -> bool {
    match flock(f, FlockOperation::NonBlockingLockShared) {
        Ok(()) => {
            // Unlocking our own shared lock cannot fail in a way that matters: the description
            // is closed with the read anyway, which drops the lock.
            let _ = flock(f, FlockOperation::Unlock);
            false
        }
        Err(e) => e == Errno::WOULDBLOCK,
    }
}
/// Turn a lock obtained by waiting (an exclusive `Lock` on the pidfile, e.g. from
/// `sole_lock::wait::Waiter`) into a claim: write and fsync the pid under the lock. This is
/// how a process waits for the previous instance to exit and takes over the instant it does.
/// Test: `tests::waited_lock_becomes_claim`; `__test__/pidfile.spec.ts`.
pub fn claim_from_lock(lock: Lock) -> Result<Pidfile> {
    if lock.mode() != Mode::Exclusive {
        return Err(Error::new(
            Kind::Os(libc::EINVAL),
            format!(
                "a pidfile claim needs an exclusive lock on {}",
                lock.path().display()
            ),
        )
        .with_path(lock.path()));
    }
    let path = lock.path().to_path_buf();
    write_claim(lock, &path)
}

/// The `EHELD` refusal of a pidfile held by `pid` (the one wording, also used by
/// `sole-daemon` when a daemon finds its pidfile held).
pub fn held_error(path: &Path, pid: i32) -> Error {
    held(path, pid, Noun::Pidfile)
}

fn held(path: &Path, pid: i32, noun: Noun) -> Error {
    Error::new(
        Kind::Held,
        format!(
            "already running as PID {pid} ({}: {}). Stop that process first (kill {pid}), or use another {}. Do not delete the file: it is never removed, and deleting it lets two instances run.",
            noun.word(),
            path.display(),
            noun.word()
        ),
    )
    .with_path(path)
    .with_pid(pid)
}

fn write_claim(lock: Lock, path: &Path) -> Result<Pidfile> {
    let pid = std::process::id() as i32;
    let f = lock.file();
    let line = format!("{pid}\n");
    // Truncate then write at offset 0, then fsync, all under the lock. If any step fails the
    // lock is dropped with the error: a claim is never half made.
    f.set_len(0)
        .and_then(|_| f.write_all_at(line.as_bytes(), 0))
        .map_err(|e| Error::os(e, "write pid to pidfile", path))?;
    write_record(f, pid);
    f.sync_all()
        .map_err(|e| Error::os(e, "write pid to pidfile", path))?;
    Ok(Pidfile {
        token: lock.token(),
        lock: Some(lock),
        path: path.to_path_buf(),
        pid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::FREE_EMPTY;
    use crate::test_util::*;

    #[test]
    fn claim_writes_pid_line() {
        let (_d, p) = tmp();
        let g = claim(&p, &OpenOptions::default()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            format!("{}\n", std::process::id())
        );
        assert_eq!(g.pid() as u32, std::process::id());
    }

    #[test]
    fn second_claim_is_refused_with_pid() {
        let (_d, p) = tmp();
        let _g = claim(&p, &OpenOptions::default()).unwrap();
        let e = claim(&p, &OpenOptions::default()).unwrap_err();
        assert_eq!(e.code(), "EHELD");
        assert_eq!(e.pid(), Some(std::process::id() as i32));
        assert!(e.message().starts_with(&format!(
            "already running as PID {} (pidfile: {})",
            std::process::id(),
            p.display()
        )));
    }

    #[test]
    fn release_empties_and_keeps_file() {
        let (_d, p) = tmp();
        let mut g = claim(&p, &OpenOptions::default()).unwrap();
        g.release().unwrap();
        g.release().unwrap();
        assert!(p.exists());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "");
        assert_eq!(read(&p).unwrap(), FREE_EMPTY);
        assert_eq!(xattr(&p), None, "release removes the identity record");
        let _again = claim(&p, &OpenOptions::default()).unwrap();
    }

    #[test]
    fn waited_lock_becomes_claim() {
        let (_d, p) = tmp();
        std::fs::write(&p, "999\n").unwrap();
        let l = Lock::lock(&p, Mode::Exclusive, &OpenOptions::default(), None).unwrap();
        let g = claim_from_lock(l).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            format!("{}\n", std::process::id())
        );
        assert_eq!(held_or_stale(&read(&p).unwrap()), (Some(g.pid()), None));
    }

    #[test]
    fn dead_owner_frees_the_claim_at_once() {
        // Another process (util-linux flock(1), `-o`: its sleep child does not inherit the fd)
        // holds the file; SIGKILL it and claim at once.
        let (_d, p) = tmp();
        std::fs::write(&p, "").unwrap();
        let mut child = flock_holder(&p);
        // Wait until the child holds it (the kernel tells us), without sleeping blindly.
        let mut held_by = None;
        for _ in 0..5000 {
            if let State::Held { pid, .. } = read(&p).unwrap() {
                held_by = Some(pid);
                break;
            }
            std::thread::yield_now();
        }
        assert!(held_by.is_some());
        assert_eq!(
            claim(&p, &OpenOptions::default()).unwrap_err().code(),
            "EHELD"
        );
        assert_eq!(held_by, Some(child.id() as i32));
        child.kill().unwrap();
        child.wait().unwrap();
        let _g =
            claim(&p, &OpenOptions::default()).expect("a killed holder frees the claim at once");
    }
}
