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
//! Test: `tests::*` below; `__test__/pidfile.spec.ts`; the harness's pidfile properties.

use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sole_lock::{holder, open, LockFile, Mode};
pub use sole_lock::{Error, Kind, OpenOptions, Result};
pub use sole_procid::pid::{alive_not_exiting, is_dying, parse_pid, pid_alive, validate_pid};

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
            // Emptied while still locked: no reader or claimer can observe a half state.
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
        match read(path)? {
            State::Held { pid } => return Err(held(path, pid, noun)),
            _ => continue,
        }
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
        .and_then(|_| f.sync_data())
        .map_err(|e| Error::os(e, "write pid to pidfile", path))?;
    Ok(Pidfile {
        lock: Some(lock),
        path: path.to_path_buf(),
        pid,
    })
}

/// What [`read`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No file at the path.
    Absent,
    /// The file exists and no process holds it; `stale_pid` is the pid its content names, if
    /// it names one (a previous owner that did not release cleanly).
    Free { stale_pid: Option<i32> },
    /// A live process holds the claim; `pid` is that process, as the kernel reports it.
    Held { pid: i32 },
}

/// Inspect a pidfile without blocking, locking or modifying it. Test: `tests::read_states`,
/// `tests::read_ignores_stale_content_of_a_held_file`.
pub fn read(path: &Path) -> Result<State> {
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
            return Ok(State::Absent);
        };
        let holders = holder::flock_holders(target.dev, target.ino);
        if holders.is_empty() {
            let stale_pid = match &target.file {
                Some(f) => first_line_pid(&read_head(f, path)?),
                None => None,
            };
            return Ok(State::Free { stale_pid });
        }
        if let Some(h) = holders.iter().find(|h| alive_not_exiting(h.pid as i64)) {
            return Ok(State::Held { pid: h.pid });
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
        assert_eq!(read(&p).unwrap(), State::Free { stale_pid: None });
        let _again = claim(&p, &OpenOptions::default()).unwrap();
    }

    #[test]
    fn read_states() {
        let (_d, p) = tmp();
        assert_eq!(read(&p).unwrap(), State::Absent);
        std::fs::write(&p, "123\n").unwrap();
        assert_eq!(
            read(&p).unwrap(),
            State::Free {
                stale_pid: Some(123)
            }
        );
        for garbage in ["", "abc", "-1\n", "0\n", "99999999999\n", "12 34\n"] {
            std::fs::write(&p, garbage).unwrap();
            assert_eq!(
                read(&p).unwrap(),
                State::Free { stale_pid: None },
                "{garbage:?}"
            );
            assert_eq!(
                std::fs::read_to_string(&p).unwrap(),
                garbage,
                "read must not rewrite"
            );
        }
        let big = "7\n".to_string() + &"x".repeat(1 << 20);
        std::fs::write(&p, &big).unwrap();
        assert_eq!(read(&p).unwrap(), State::Free { stale_pid: Some(7) });
        assert_eq!(std::fs::read_to_string(&p).unwrap().len(), big.len());
        let _g = claim(&p, &OpenOptions::default()).unwrap();
        assert_eq!(
            read(&p).unwrap(),
            State::Held {
                pid: std::process::id() as i32
            }
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
            read(&p).unwrap(),
            State::Held {
                pid: std::process::id() as i32
            }
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
        assert_eq!(read(&p).unwrap(), State::Held { pid: g.pid() });
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
            if let State::Held { pid } = read(&p).unwrap() {
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
