//! Pidfiles claimed with a kernel-held flock and never unlinked, and the daemon-lock API.
//!
//! Why: a pidfile says "this program is running, as PID N". The classic implementation
//! (create with `O_EXCL`, and if the file exists, treat it as stale when `kill(pid, 0)` fails)
//! is a check-then-act race: two starters can both judge the old pid dead and both "win", and a
//! recycled pid keeps a dead daemon's file "live" forever (seed 000, races.md #2, #11). Here
//! staleness is not guessed at all: a claim is an exclusive `flock` on the file, held for as
//! long as the [`Pidfile`] guard lives, and the kernel drops it the instant the owner exits,
//! however it exits. The pid written into the file is for humans and other tools
//! (`kill $(cat file)`, systemd `PIDFile=`, start-stop-daemon); the lock is the truth.
//!
//! ## Never unlink a pidfile
//! Removing the file on exit looks tidy and is catastrophic. Suppose A owns `app.pid`. B starts,
//! opens `app.pid` and blocks in `flock`. A shuts down: it unlinks `app.pid`, then exits, which
//! releases its lock and wakes B. B now holds a lock on an inode that no longer has a name, and
//! writes its pid there. C starts, opens `app.pid`, which creates a *new* inode, locks it without
//! contention and writes its pid. B and C both believe they are the only instance (seed 001,
//! races.md #1). So [`Pidfile::release`] empties the file and unlocks it, and nothing in sole
//! ever unlinks it. An empty or stale file is harmless: the next claim locks and rewrites it.
//!
//! ## Reading never lies about the holder
//! Between a new owner's `flock` and its `write`, the file still holds the previous owner's pid
//! (seed 001, caveat 2). [`read`] therefore never takes the holder's pid from the content: it
//! asks the kernel which process holds the flock on this inode (`sole_lock::holder`), checks
//! that this process is alive and not a zombie, and reports that pid. The content only feeds
//! `stale_pid` for a file nobody holds. Reading takes no lock of its own, so a reader can never
//! make a concurrent claim fail, and it never writes the file.
//!
//! ## Identity beside the pid
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
//! format) is checked against the live process: a start time or boot id that differs means
//! stale. A plain pidfile with no record naming a live process is reported `unverified`:
//! nothing proves that process wrote it.
//!
//! Test: `tests::*` below; `__test__/pidfile.spec.ts`, `__test__/procid.spec.ts`; the harness's
//! pidfile properties.

use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sole_lock::{holder, open, LockFile, Mode};
pub use sole_lock::{Error, Kind, OpenOptions, Result};
use sole_procid::identity::{identity, start_time, Identity, Record};
pub use sole_procid::pid::{alive_not_exiting, is_dying, parse_pid, pid_alive, validate_pid};
use sole_procid::ProcessHandle;

/// How many bytes of a pidfile are read. A pid line is at most 11 bytes; the rest of a large
/// file is ignored, so a 1 MB file costs one small read and is never rewritten by a reader.
pub const READ_LIMIT: usize = 4096;

/// The file name [`daemon_lock_path`] uses inside a directory.
pub const DAEMON_LOCK_FILENAME: &str = "daemon.lock";

/// Which wording a refusal uses: "pidfile" for [`claim`], "lock file" for the daemon lock.
#[derive(Debug, Clone, Copy)]
enum Noun {
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
    lock: Option<LockFile>,
    path: PathBuf,
    pid: i32,
}

impl Pidfile {
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The pid written into the file: this process.
    pub fn pid(&self) -> i32 {
        self.pid
    }
    /// Is the claim still held (not yet released)?
    pub fn is_held(&self) -> bool {
        self.lock.is_some()
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

fn claim_as(path: &Path, opts: &OpenOptions, noun: Noun) -> Result<Pidfile> {
    // A holder may release between our failed try and the holder lookup; a few attempts let
    // that claim succeed instead of reporting a holder that is gone.
    for _ in 0..3 {
        if let Some(lock) = LockFile::try_lock(path, Mode::Exclusive, opts)? {
            return write_claim(lock, path);
        }
        match read(path) {
            Ok(State::Held {
                pid, locked: true, ..
            }) => return Err(held(path, pid, noun)),
            Err(e) if is_hidden_holder(&e) => return Err(held_outside_namespace(path, noun)),
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

/// The [`read`] error for a holder hidden by the pid namespace (see [`locked_by_hidden_holder`]).
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
fn outside_namespace_possible() -> bool {
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
fn locked_by_hidden_holder(f: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a valid descriptor we own; LOCK_UN on the same one.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    if rc == 0 {
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_UN) };
        return false;
    }
    std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK)
}

/// Turn a lock obtained by waiting (an exclusive `LockFile` on the pidfile, e.g. from
/// `sole_lock::wait::Waiter`) into a claim: write and fsync the pid under the lock. This is
/// how a process waits for the previous instance to exit and takes over the instant it does.
/// Test: `tests::waited_lock_becomes_claim`; `__test__/pidfile.spec.ts`.
pub fn claim_from_lock(lock: LockFile) -> Result<Pidfile> {
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

fn write_claim(lock: LockFile, path: &Path) -> Result<Pidfile> {
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
        lock: Some(lock),
        path: path.to_path_buf(),
        pid,
    })
}

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

/// The extended attribute holding the writer's identity record.
pub const RECORD_XATTR: &str = "user.sole.identity";
const RECORD_XATTR_C: &std::ffi::CStr = c"user.sole.identity";

/// Store this process's identity record on the claimed file. Best effort by design: a
/// filesystem without user xattrs (or a full one) leaves the file without a record, which
/// costs readers only the post-crash identity check, never correctness of the claim.
fn write_record(f: &std::fs::File, pid: i32) {
    let Ok(id) = own_identity(pid) else { return };
    let _ = set_record_text(f, &Record::of(&id, true).to_text());
}

/// Set the `user.sole.identity` attribute of an open file to `text`.
fn set_record_text(f: &std::fs::File, text: &str) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: fsetxattr on an open fd with a buffer of the given length.
    let rc = unsafe {
        libc::fsetxattr(
            f.as_raw_fd(),
            RECORD_XATTR_C.as_ptr(),
            text.as_ptr().cast(),
            text.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn remove_record(f: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: fremovexattr on our open fd; ENODATA when there is none is fine.
    unsafe { libc::fremovexattr(f.as_raw_fd(), RECORD_XATTR_C.as_ptr()) };
}

/// This process's identity, read once per pid (a forked child has another pid).
fn own_identity(pid: i32) -> Result<Identity> {
    static OWN: std::sync::Mutex<Option<Identity>> = std::sync::Mutex::new(None);
    let mut g = OWN.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(id) = g.as_ref().filter(|id| id.pid == pid) {
        return Ok(id.clone());
    }
    let id = identity(pid)?;
    *g = Some(id.clone());
    Ok(id)
}

/// The identity record of an open pidfile, if it has a well-formed one.
fn read_record(f: &std::fs::File) -> Option<Record> {
    use std::os::fd::AsRawFd;
    let mut buf = [0u8; 256];
    // SAFETY: fgetxattr into a stack buffer of the given length.
    let n = unsafe {
        libc::fgetxattr(
            f.as_raw_fd(),
            RECORD_XATTR_C.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n <= 0 {
        return None;
    }
    Record::parse(std::str::from_utf8(&buf[..n as usize]).ok()?)
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

/// Judge an unlocked file from its content pid, its record and its owner (see the module doc).
///
/// - The content's pid is dead: free, `exited`.
/// - Any record with `lock=flock`, whatever pid it names: sole manages this file, and a sole
///   owner always holds the lock, so an unlocked file is free (`not-locked`). This also covers
///   a content rewritten in place to another pid (the record, on the inode, survives it).
/// - A record without `lock=flock` for the content's pid (another tool's) is checked against
///   the live process: boot id, then start time. A match is held (`locked: false`) only when
///   the file belongs to root or to the process's own uid: a record proves no more than its
///   writer is trusted, and this keeps one user from naming another user's process as owner.
/// - Otherwise: `unverified`.
fn judge_unlocked(pid: i32, record: Option<Record>, file_uid: Option<u32>) -> State {
    let free = |reason| State::Free {
        stale_pid: Some(pid),
        reason: Some(reason),
    };
    if !pid_alive(pid as i64) {
        return free(StaleReason::Exited);
    }
    let Some(rec) = record else {
        return State::Unverified { pid };
    };
    if rec.locked {
        return free(StaleReason::NotLocked);
    }
    if rec.pid != pid {
        return State::Unverified { pid };
    }
    match sole_procid::boot_id() {
        Ok(b) if b.eq_ignore_ascii_case(&rec.boot_id) => {}
        _ => return free(StaleReason::PreviousBoot),
    }
    match identity(pid) {
        Ok(id) if id.start_time != rec.start_time => free(StaleReason::PidReused),
        Ok(id) if file_uid == Some(0) || file_uid == Some(id.uid) => State::Held {
            pid,
            identity: Some(id),
            locked: false,
        },
        Ok(_) => State::Unverified { pid },
        Err(_) => free(StaleReason::Exited),
    }
}

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

fn read_inner(path: &Path, open_handle: bool) -> Result<(State, Option<ProcessHandle>)> {
    // The kernel lists a lock under the pid that took it. If no listed pid is alive:
    // - the holder may be *dying* (SIGKILLed: its main thread is a zombie while another thread
    //   still closes its files). Its lock is about to vanish; we look again every millisecond,
    //   for at most DYING_WAIT, instead of naming a dead process or calling the file free while
    //   a claim would still be refused. This is a bounded wait for the kernel's teardown, never
    //   a wait for a live holder.
    // - or the locker is gone while a child that inherited the descriptor holds it: nobody we
    //   can name. After a few looks that is `EUNKNOWNHOLDER`.
    let deadline = std::time::Instant::now() + DYING_WAIT;
    let mut orphan_looks = 0;
    loop {
        let Some(target) = inspect(path)? else {
            return Ok((State::Absent, None));
        };
        let holders = holder::flock_holders(target.dev, target.ino);
        if holders.is_empty() {
            if outside_namespace_possible()
                && target.file.as_deref().is_some_and(locked_by_hidden_holder)
            {
                return Err(Error::new(
                    Kind::UnknownHolder,
                    format!(
                        "{} is held by a process outside this pid namespace: the kernel does not show its pid here, so it cannot be named or signalled from this namespace. Look from the host (`fuser {}`).",
                        path.display(),
                        path.display()
                    ),
                )
                .with_path(path)
                .with_detail("holder", "outside-pid-namespace"));
            }
            let Some(f) = &target.file else {
                return Ok((
                    State::Free {
                        stale_pid: None,
                        reason: None,
                    },
                    None,
                ));
            };
            let state = match first_line_pid(&read_head(f, path)?) {
                None => State::Free {
                    stale_pid: None,
                    reason: None,
                },
                Some(pid) => {
                    use std::os::unix::fs::MetadataExt;
                    let uid = f.metadata().ok().map(|m| m.uid());
                    judge_unlocked(pid, read_record(f), uid)
                }
            };
            return Ok((state, None));
        }
        if let Some(h) = holders.iter().find(|h| alive_not_exiting(h.pid as i64)) {
            // Read the holder's identity, then confirm that the same pid still holds the lock
            // and still has the start time we read: the identity is then that of a process
            // that held the claim (a holder that exited and whose pid was reused in between
            // fails the confirmation and we look again).
            let pid = h.pid;
            // Asked for a handle: open the pidfd now, before the confirmation below.
            let handle = if open_handle {
                match ProcessHandle::open(pid) {
                    Ok(hd) => Some(hd),
                    Err(_) => {
                        std::thread::yield_now();
                        continue;
                    }
                }
            } else {
                None
            };
            match identity(pid) {
                Ok(id) => {
                    let again = holder::flock_holders(target.dev, target.ino);
                    let bound = handle
                        .as_ref()
                        .is_none_or(|hd| hd.start_time() == id.start_time && hd.is_alive());
                    if again.iter().any(|x| x.pid == pid)
                        && start_time(pid) == Some(id.start_time)
                        && bound
                    {
                        return Ok((
                            State::Held {
                                pid,
                                identity: Some(id),
                                locked: true,
                            },
                            handle,
                        ));
                    }
                }
                // /proc hides the process from us (hidepid) but the kernel names it as the
                // live holder: held, identity unknown.
                Err(_)
                    if alive_not_exiting(pid as i64)
                        && handle.as_ref().is_none_or(|hd| hd.is_alive())
                        && holder::flock_holders(target.dev, target.ino)
                            .iter()
                            .any(|x| x.pid == pid) =>
                {
                    return Ok((
                        State::Held {
                            pid,
                            identity: None,
                            locked: true,
                        },
                        handle,
                    ));
                }
                Err(_) => {}
            }
            std::thread::yield_now();
            continue;
        }
        let dying = holders.iter().any(|h| is_dying(h.pid as i64));
        if dying && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
            continue;
        }
        orphan_looks += 1;
        if orphan_looks >= 3 {
            break;
        }
        std::thread::yield_now();
    }
    Err(Error::new(
        Kind::UnknownHolder,
        format!(
            "{} is locked, but the process that locked it has exited or is not visible from this pid namespace (a child that inherited the descriptor may hold it). Find it with `fuser {}`.",
            path.display(),
            path.display()
        ),
    )
    .with_path(path))
}

/// How long [`read`] waits for a dying holder's lock to vanish.
const DYING_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

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

fn read_head(f: &std::fs::File, path: &Path) -> Result<Vec<u8>> {
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

fn first_line_pid(content: &[u8]) -> Option<i32> {
    let line = content.split(|&b| b == b'\n').next()?;
    parse_pid(std::str::from_utf8(line).ok()?)
}

/// `dir/daemon.lock`. Takes a directory so tests never mutate the environment (seed 000).
pub fn daemon_lock_path(dir: &Path) -> PathBuf {
    dir.join(DAEMON_LOCK_FILENAME)
}

/// Claim the daemon lock: `path_or_dir` is the lock file, or a directory that gets
/// `daemon.lock`. Same mechanism as [`claim`]; refusal says "(lock file: PATH)".
pub fn acquire_daemon_lock(path_or_dir: &Path, opts: &OpenOptions) -> Result<Pidfile> {
    let path = match std::fs::symlink_metadata(path_or_dir) {
        Ok(m) if m.is_dir() => daemon_lock_path(path_or_dir),
        _ => path_or_dir.to_path_buf(),
    };
    claim_as(&path, opts, Noun::LockFile)
}

/// The pid recorded in a lock file, without judging whether it is held: missing, empty or
/// garbage → `None`; other I/O failures (permissions, symlink, not a regular file) → `Err`.
pub fn read_lock_pid(path: &Path) -> Result<Option<i32>> {
    let Some(o) = open::open_for_read(path)? else {
        return Ok(None);
    };
    Ok(first_line_pid(&read_head(&o.file, path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FREE_EMPTY: State = State::Free {
        stale_pid: None,
        reason: None,
    };

    /// (held pid, stale pid) of a state.
    fn held_or_stale(s: &State) -> (Option<i32>, Option<i32>) {
        match s {
            State::Held { pid, .. } => (Some(*pid), None),
            State::Free { stale_pid, .. } => (None, *stale_pid),
            _ => (None, None),
        }
    }

    /// A pid that no process has: a reaped child's.
    fn dead_pid() -> i32 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        c.wait().unwrap();
        c.id() as i32
    }

    fn xattr(p: &Path) -> Option<String> {
        read_record(&std::fs::File::open(p).unwrap()).map(|r| r.to_text())
    }

    fn set_xattr(p: &Path, text: &str) {
        set_record_text(&std::fs::File::open(p).unwrap(), text)
            .expect("user xattrs must work on the test filesystem");
    }

    #[test]
    fn unlocked_files_are_judged_by_their_identity_record() {
        let (_d, p) = tmp();
        // A live unrelated process (a child of ours) stands for "whoever has the pid now".
        let mut other = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let opid = other.id() as i32;
        let oid = identity(opid).unwrap();
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
        let mine = identity(std::process::id() as i32).unwrap();
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

    fn tmp() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("app.pid");
        (d, p)
    }

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
                identity: Some(identity(std::process::id() as i32).unwrap()),
                locked: true
            }
        );
        let rec = Record::parse(&xattr(&p).unwrap()).unwrap();
        assert_eq!(
            rec,
            Record::of(&identity(std::process::id() as i32).unwrap(), true)
        );
    }

    #[test]
    fn read_ignores_stale_content_of_a_held_file() {
        // The window of seed 001 caveat 2: locked, content still names someone else.
        let (_d, p) = tmp();
        std::fs::write(&p, "1\n").unwrap();
        let l = LockFile::try_lock(&p, Mode::Exclusive, &OpenOptions::default())
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
    fn waited_lock_becomes_claim() {
        let (_d, p) = tmp();
        std::fs::write(&p, "999\n").unwrap();
        let l = LockFile::lock(&p, Mode::Exclusive, &OpenOptions::default(), None).unwrap();
        let g = claim_from_lock(l).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            format!("{}\n", std::process::id())
        );
        assert_eq!(held_or_stale(&read(&p).unwrap()), (Some(g.pid()), None));
    }

    #[test]
    fn daemon_lock_api() {
        let (d, _p) = tmp();
        assert_eq!(daemon_lock_path(d.path()), d.path().join("daemon.lock"));
        assert_eq!(read_lock_pid(&d.path().join("daemon.lock")).unwrap(), None);
        let g = acquire_daemon_lock(d.path(), &OpenOptions::default()).unwrap();
        assert_eq!(g.path(), d.path().join("daemon.lock"));
        assert_eq!(
            read_lock_pid(g.path()).unwrap(),
            Some(std::process::id() as i32)
        );
        let e = acquire_daemon_lock(&d.path().join("daemon.lock"), &OpenOptions::default())
            .unwrap_err();
        assert!(e.message().contains("(lock file: "), "{}", e.message());
    }

    #[test]
    fn read_with_handle_binds_the_holder() {
        let (_d, p) = tmp();
        std::fs::write(&p, "").unwrap();
        assert!(read_with_handle(&p).unwrap().1.is_none(), "free: no handle");
        let mut child = std::process::Command::new("flock")
            .args(["-o", "-x"])
            .arg(&p)
            .args(["sleep", "30"])
            .spawn()
            .expect("flock(1) from util-linux");
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

    #[test]
    fn dead_owner_frees_the_claim_at_once() {
        // Another process (util-linux flock(1), `-o`: its sleep child does not inherit the fd)
        // holds the file; SIGKILL it and claim at once.
        let (_d, p) = tmp();
        std::fs::write(&p, "").unwrap();
        let mut child = std::process::Command::new("flock")
            .args(["-o", "-x"])
            .arg(&p)
            .args(["sleep", "30"])
            .spawn()
            .expect("flock(1) from util-linux");
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
