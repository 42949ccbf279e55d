//! Opening a lock file: the one place that resolves and opens every path sole locks.
//!
//! Why: the fd that carries a lock must never leak into a spawned child (`O_CLOEXEC`: a child
//! that inherits the open file description keeps the lock after its parent dies), must never
//! follow a symlink planted by another user onto a file we would then lock or write
//! (`O_NOFOLLOW`), and must be a regular file (a FIFO or device would block or be damaged).
//! Checking "is it a symlink?" with `lstat` before `open` is a TOCTOU; instead the open itself
//! refuses (`ELOOP` under `O_NOFOLLOW`) and `fstat` on the opened fd decides the type, so what
//! we check is exactly what we hold. The system calls and those rules live in [`crate::fs`];
//! this module adds what is particular to lock files: create-if-missing with an exact mode,
//! and the identity (`dev`, `ino`) every lock is registered by.
//! Test: `tests::refuses_symlink_and_leaves_target`, `tests::refuses_fifo_and_directory`,
//! `tests::creates_0600_and_dirs_0700`, `tests::mode_bits_rule`.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustix::io::Errno;
use sole_error::{Error, Result};

use crate::fs::{self, Flags};

/// What lock files are, for the `ESYMLINK` message.
const USED_FOR: &str = "lock files";

/// How to create a lock file that does not exist yet.
#[derive(Debug, Clone, Copy)]
pub struct OpenOptions {
    /// Permission bits of a newly created file (default 0o600). Applied with `fchmod` after
    /// creation so the umask cannot widen or narrow it; an existing file keeps its mode.
    pub mode: u32,
    /// Create missing parent directories with mode 0o700 (default false).
    pub create_dirs: bool,
    /// Lock a file on a network filesystem too (default false: `EREMOTEFS`, see
    /// [`crate::fstype`]).
    pub allow_network_fs: bool,
    /// Hand out a fencing token with each exclusive grant on the file (default false: no
    /// cost; see [`crate::fencing`]).
    pub fencing: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            mode: fs::FILE_MODE,
            create_dirs: false,
            allow_network_fs: false,
            fencing: false,
        }
    }
}

/// An opened lock file and the identity of its inode.
///
/// `file` is shared (`Arc`) so that a [`crate::Handle`] can lend its descriptor to the locks it
/// takes without a `dup` per lock; `busy` is the lending handle's "a lock is out" flag, reset
/// when this value is dropped without becoming a lock, or when the lock is released.
#[derive(Debug)]
pub struct Opened {
    pub file: Arc<File>,
    /// The path it was opened by, shared by every lock taken on it (no copy per lock).
    pub path: Arc<Path>,
    pub dev: u64,
    pub ino: u64,
    /// Locks taken on it hand out fencing tokens ([`OpenOptions::fencing`]).
    pub fencing: bool,
    pub(crate) busy: Option<Arc<AtomicBool>>,
}

impl Opened {
    fn new(file: File, st: &fs::FileStat, path: &Path, fencing: bool) -> Self {
        Opened {
            file: Arc::new(file),
            path: Arc::from(path),
            dev: st.dev,
            ino: st.ino,
            fencing,
            busy: None,
        }
    }

    /// Wrap a file another crate opened and checked itself (the scope registry's lock file,
    /// opened relative to its directory fd), so that [`crate::Lock::lock_on`] can lock it
    /// with a bounded, cancellable wait.
    pub fn from_file(file: Arc<File>, path: &Path) -> Result<Opened> {
        let st = fs::fstat(&*file).map_err(|e| Error::os(e, "stat lock file", path))?;
        Ok(Opened {
            file,
            path: Arc::from(path),
            dev: st.dev,
            ino: st.ino,
            fencing: false,
            busy: None,
        })
    }
}

impl AsFd for Opened {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        if let Some(b) = self.busy.take() {
            b.store(false, Ordering::Release);
        }
    }
}

/// Resolve a caller's path once, at the API boundary: made absolute against the current
/// directory (without touching the filesystem or following links), so every message, every
/// `path` property and every later `chdir` refer to the same file. Empty paths and NUL bytes
/// are refused here. The one place paths are resolved.
pub fn resolve(path: &str) -> Result<std::path::PathBuf> {
    let p = Path::new(path);
    fs::check_path(p)?;
    std::path::absolute(p).map_err(|e| Error::os(e, "resolve path", p))
}

/// The one rule for the permission bits of a new lock file or pidfile (`mode`): an integer
/// from 0 to 0o777; `EINVAL` with `argument: "mode"` otherwise. `m` is the caller's number as
/// JavaScript gave it; `context` is appended to the message (" (lock on /x)").
/// Test: `tests::mode_bits_rule`, `__test__/args.spec.ts`.
pub fn mode_bits(m: f64, context: &str) -> Result<u32> {
    if m.fract() == 0.0 && (0.0..=0o777 as f64).contains(&m) {
        return Ok(m as u32);
    }
    Err(Error::invalid_argument(
        "mode",
        format!(
            "mode {m} is not file permission bits{context}: pass an integer from 0 to 0o777 such as 0o600."
        ),
    ))
}

fn check_mode(mode: u32, path: &Path) -> Result<()> {
    mode_bits(f64::from(mode), &format!(" (for {})", path.display()))
        .map(|_| ())
        .map_err(|e| e.with_path(path))
}

/// Open (creating if needed) `path` for locking: `O_RDWR|O_NONBLOCK` plus [`fs::open`]'s
/// `O_CLOEXEC|O_NOFOLLOW|O_NOCTTY`, then `fstat` must show a regular file. Never truncates,
/// never unlinks.
pub fn open_lock_file(path: &Path, opts: &OpenOptions) -> Result<Opened> {
    fs::check_path(path)?;
    check_mode(opts.mode, path)?;
    if opts.create_dirs {
        if let Some(parent) = path.parent() {
            fs::mkdirs(parent)?;
        }
    }
    // O_NONBLOCK: opening a FIFO planted at the path must not hang; for regular files it has
    // no effect.
    let base = Flags::RDWR | Flags::NONBLOCK;
    let mode = opts.mode;
    let failed = |e| fs::open_error(e, "open lock file", path, USED_FOR);
    // Open the existing file first (the common case: one path lookup). Only when it is absent,
    // create it with O_EXCL, so we know that we made it and may set its mode; if another
    // process created it in between (EEXIST), open theirs. Bounded: a path that is created and
    // deleted again and again by someone else is reported rather than retried forever.
    let mut attempt = 0;
    let (file, created) = loop {
        match fs::open(path, base, 0) {
            Ok(f) => break (f, false),
            Err(e) if fs::errno(&e) == Some(Errno::NOENT) => {}
            Err(e) => return Err(failed(e)),
        }
        match fs::open(path, base | Flags::CREATE | Flags::EXCL, mode) {
            Ok(f) => break (f, true),
            Err(e) if fs::errno(&e) == Some(Errno::EXIST) && attempt < 100 => attempt += 1,
            Err(e) => return Err(failed(e)),
        }
    };
    let st = fs::regular(&file, path, "stat lock file")?;
    if created {
        fs::set_mode(&file, mode).map_err(|e| Error::os(e, "set mode of lock file", path))?;
    }
    // After the mode is set: a file this call created and then refused is left empty and with
    // the mode asked for (never unlinked: another process may have opened it already).
    crate::fstype::check(&file, path, opts.allow_network_fs)?;
    Ok(Opened::new(file, &st, path, opts.fencing))
}

/// Open an existing file read-only for inspection (no create, no lock), with the same symlink
/// and file-type rules. `Ok(None)` when it does not exist.
pub fn open_for_read(path: &Path) -> Result<Option<Opened>> {
    fs::check_path(path)?;
    let file = match fs::open(path, Flags::RDONLY | Flags::NONBLOCK, 0) {
        Ok(f) => f,
        Err(e) if fs::errno(&e) == Some(Errno::NOENT) => return Ok(None),
        Err(e) => return Err(fs::open_error(e, "open lock file", path, USED_FOR)),
    };
    let st = fs::regular(&file, path, "stat lock file")?;
    Ok(Some(Opened::new(file, &st, path, false)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn creates_0600_and_dirs_0700() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/x.lock");
        let err = open_lock_file(&p, &OpenOptions::default()).unwrap_err();
        assert_eq!(err.code(), "ENOENT");
        let o = open_lock_file(
            &p,
            &OpenOptions {
                create_dirs: true,
                ..Default::default()
            },
        )
        .unwrap();
        drop(o);
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let dmeta = std::fs::metadata(dir.path().join("a/b")).unwrap();
        assert_eq!(dmeta.permissions().mode() & 0o777, 0o700);
    }

    #[test]
    fn refuses_symlink_and_leaves_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep me").unwrap();
        let link = dir.path().join("x.lock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = open_lock_file(&link, &OpenOptions::default()).unwrap_err();
        assert_eq!(err.code(), "ESYMLINK");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        // A dangling link must not create its target either.
        let dangling = dir.path().join("d.lock");
        std::os::unix::fs::symlink(dir.path().join("nothere"), &dangling).unwrap();
        assert_eq!(
            open_lock_file(&dangling, &OpenOptions::default())
                .unwrap_err()
                .code(),
            "ESYMLINK"
        );
        assert!(!dir.path().join("nothere").exists());
    }

    #[test]
    fn refuses_fifo_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("f");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert_eq!(
            open_lock_file(&fifo, &OpenOptions::default())
                .unwrap_err()
                .code(),
            "ENOTREG"
        );
        assert_eq!(
            open_lock_file(dir.path(), &OpenOptions::default())
                .unwrap_err()
                .code(),
            "ENOTREG"
        );
    }

    #[test]
    fn refuses_a_unix_socket() {
        // open(2) of a socket fails with ENXIO: it is "not a regular file", not an OS mystery.
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("s");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        for e in [
            open_lock_file(&sock, &OpenOptions::default()).unwrap_err(),
            open_for_read(&sock).unwrap_err(),
        ] {
            assert_eq!(e.code(), "ENOTREG", "{}", e.message());
            assert!(e.message().contains("socket"), "{}", e.message());
        }
    }

    #[test]
    fn fd_is_cloexec() {
        let dir = tempfile::tempdir().unwrap();
        let o = open_lock_file(&dir.path().join("x"), &OpenOptions::default()).unwrap();
        let flags = rustix::io::fcntl_getfd(&o.file).unwrap();
        assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
    }

    #[test]
    fn mode_bits_rule() {
        assert_eq!(mode_bits(0o644 as f64, "").unwrap(), 0o644);
        assert_eq!(mode_bits(0.0, "").unwrap(), 0);
        for bad in [-1.0, 1.5, 512.0, 2f64.powi(40), f64::NAN, f64::INFINITY] {
            let e = mode_bits(bad, " (lock on /x)").unwrap_err();
            assert_eq!(e.code(), "EINVAL", "{bad}");
            assert_eq!(e.details()[0].1, "mode".into());
        }
        let d = tempfile::tempdir().unwrap();
        let o = OpenOptions {
            mode: 0o1777,
            ..Default::default()
        };
        assert_eq!(
            open_lock_file(&d.path().join("x"), &o).unwrap_err().code(),
            "EINVAL"
        );
    }
}
