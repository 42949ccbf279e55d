//! Opening a lock file: the one place that resolves and opens every path sole locks.
//!
//! Why: the fd that carries a lock must never leak into a spawned child (`O_CLOEXEC`: a child
//! that inherits the open file description keeps the lock after its parent dies, races.md #8),
//! must never follow a symlink planted by another user onto a file we would then truncate
//! (`O_NOFOLLOW`, races.md #17), and must be a regular file (a FIFO or device would block or be
//! damaged). Checking "is it a symlink?" with `lstat` before `open` is a TOCTOU; instead the
//! open itself refuses (`ELOOP` under `O_NOFOLLOW`) and `fstat` on the opened fd decides the
//! type, so what we check is exactly what we hold.
//! Test: `tests::refuses_symlink_and_leaves_target`, `tests::refuses_fifo`,
//! `tests::creates_0600_and_dirs_0700`.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{Error, Kind, Result};

/// How to create a lock file that does not exist yet.
#[derive(Debug, Clone, Copy)]
pub struct OpenOptions {
    /// Permission bits of a newly created file (default 0o600). Applied with `fchmod` after
    /// creation so the umask cannot widen or narrow it; an existing file keeps its mode.
    pub mode: u32,
    /// Create missing parent directories with mode 0o700 (default false).
    pub create_dirs: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            mode: 0o600,
            create_dirs: false,
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
    pub(crate) busy: Option<Arc<AtomicBool>>,
}

impl Opened {
    pub(crate) fn new(file: File, st: &libc::stat, path: &Path) -> Self {
        Opened {
            file: Arc::new(file),
            path: Arc::from(path),
            dev: st.st_dev,
            ino: st.st_ino,
            busy: None,
        }
    }
}

impl Opened {
    /// Wrap a file another crate opened and checked itself (the scope registry's lock file,
    /// opened relative to its directory fd), so that [`crate::LockFile::lock_on`] can lock it
    /// with a bounded, cancellable wait.
    pub fn from_file(file: Arc<File>, path: &Path) -> Result<Opened> {
        let st = fstat(&file, path)?;
        Ok(Opened {
            file,
            path: Arc::from(path),
            dev: st.st_dev,
            ino: st.st_ino,
            busy: None,
        })
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        if let Some(b) = self.busy.take() {
            b.store(false, Ordering::Release);
        }
    }
}

fn cstr(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        let shown: String = path.display().to_string().chars().take(200).collect();
        Error::invalid_argument(
            "path",
            format!("path {shown:?} contains a NUL byte: no file can have that name; pass the path without it"),
        )
    })
}

/// Reject empty paths up front: `open("")` would fail with a confusing ENOENT.
fn check_path(path: &Path) -> Result<()> {
    if path.as_os_str().is_empty() {
        return Err(Error::invalid_argument(
            "path",
            "the path is empty: pass the path of a file",
        ));
    }
    Ok(())
}

/// Resolve a caller's path once, at the API boundary: made absolute against the current
/// directory (without touching the filesystem or following links), so every message, every
/// `path` property and every later `chdir` refer to the same file. Empty paths and NUL bytes
/// are refused here. The one place paths are resolved.
pub fn resolve(path: &str) -> Result<std::path::PathBuf> {
    let p = Path::new(path);
    check_path(p)?;
    cstr(p)?;
    std::path::absolute(p).map_err(|e| Error::os(e, "resolve path", p))
}

fn check_mode(mode: u32, path: &Path) -> Result<()> {
    if mode & !0o777 != 0 {
        return Err(Error::invalid_argument(
            "mode",
            format!(
                "mode {mode:#o} for {} is not a set of permission bits: pass a value from 0 to 0o777 (default 0o600)",
                path.display()
            ),
        )
        .with_path(path));
    }
    Ok(())
}

fn map_open_error(err: io::Error, path: &Path) -> Error {
    match err.raw_os_error() {
        Some(libc::ELOOP) => Error::new(
            Kind::Symlink,
            format!(
                "{} is a symbolic link; sole does not follow symlinks for lock files (a link planted by another user could redirect the lock). Remove the link or pass the real path.",
                path.display()
            ),
        )
        .with_path(path),
        Some(libc::EISDIR) => not_regular(path, "a directory"),
        // open(2) of a Unix socket, of a FIFO nobody reads, or of a device with no driver.
        Some(libc::ENXIO) | Some(libc::ENODEV) => {
            not_regular(path, "a socket, a FIFO or a device")
        }
        _ => Error::os(err, "open lock file", path),
    }
}

fn not_regular(path: &Path, what: &str) -> Error {
    Error::new(
        Kind::NotRegular,
        format!(
            "{} is {what}, not a regular file; sole only locks regular files. Choose a file path.",
            path.display()
        ),
    )
    .with_path(path)
}

fn mkdirs(dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        mkdirs(parent)?;
    }
    let c = cstr(dir)?;
    // SAFETY: c is a valid NUL-terminated path.
    if unsafe { libc::mkdir(c.as_ptr(), 0o700) } != 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EEXIST) {
            return Err(Error::os(err, "create directory", dir));
        }
    }
    Ok(())
}

fn raw_open(c: &CString, flags: i32, mode: u32) -> io::Result<File> {
    // SAFETY: c is a valid NUL-terminated path; the returned fd is owned by the File.
    let fd = unsafe { libc::open(c.as_ptr(), flags, mode as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Open (creating if needed) `path` for locking: `O_RDWR|O_CLOEXEC|O_NOFOLLOW|O_NONBLOCK`,
/// then `fstat` must show a regular file. Never truncates, never unlinks.
pub fn open_lock_file(path: &Path, opts: &OpenOptions) -> Result<Opened> {
    check_path(path)?;
    check_mode(opts.mode, path)?;
    if opts.create_dirs {
        if let Some(parent) = path.parent() {
            mkdirs(parent)?;
        }
    }
    let c = cstr(path)?;
    // O_NONBLOCK: opening a FIFO planted at the path must not hang; for regular files it has
    // no effect. O_NOCTTY: a tty planted at the path must not become our controlling terminal.
    let base =
        libc::O_RDWR | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
    let mode = opts.mode;
    // Open the existing file first (the common case: one path lookup). Only when it is absent,
    // create it with O_EXCL, so we know that we made it and may set its mode; if another
    // process created it in between (EEXIST), open theirs. Bounded: a path that is created and
    // deleted again and again by someone else is reported rather than retried forever.
    let mut attempt = 0;
    let (file, created) = loop {
        match raw_open(&c, base, 0) {
            Ok(f) => break (f, false),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(map_open_error(e, path)),
        }
        match raw_open(&c, base | libc::O_CREAT | libc::O_EXCL, mode) {
            Ok(f) => break (f, true),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) && attempt < 100 => attempt += 1,
            Err(e) => return Err(map_open_error(e, path)),
        }
    };
    let st = fstat(&file, path)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        let what = match st.st_mode & libc::S_IFMT {
            libc::S_IFIFO => "a FIFO",
            libc::S_IFCHR => "a character device",
            libc::S_IFBLK => "a block device",
            libc::S_IFSOCK => "a socket",
            libc::S_IFDIR => "a directory",
            _ => "not a regular file",
        };
        return Err(not_regular(path, what));
    }
    if created {
        use std::os::fd::AsRawFd;
        // SAFETY: valid fd owned by `file`.
        if unsafe { libc::fchmod(file.as_raw_fd(), mode as libc::mode_t) } != 0 {
            return Err(Error::os(
                io::Error::last_os_error(),
                "set mode of lock file",
                path,
            ));
        }
    }
    Ok(Opened::new(file, &st, path))
}

/// Open an existing file read-only for inspection (no create, no lock), with the same symlink
/// and file-type rules. `Ok(None)` when it does not exist.
pub fn open_for_read(path: &Path) -> Result<Option<Opened>> {
    check_path(path)?;
    let c = cstr(path)?;
    let flags =
        libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
    let file = match raw_open(&c, flags, 0) {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(map_open_error(e, path)),
    };
    let st = fstat(&file, path)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(not_regular(path, "not a regular file"));
    }
    Ok(Some(Opened::new(file, &st, path)))
}

pub(crate) fn fstat(file: &File, path: &Path) -> Result<libc::stat> {
    use std::os::fd::AsRawFd;
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd and a properly sized stat buffer.
    if unsafe { libc::fstat(file.as_raw_fd(), &mut st) } != 0 {
        return Err(Error::os(
            io::Error::last_os_error(),
            "stat lock file",
            path,
        ));
    }
    Ok(st)
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
        let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
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
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let o = open_lock_file(&dir.path().join("x"), &OpenOptions::default()).unwrap();
        let flags = unsafe { libc::fcntl(o.file.as_raw_fd(), libc::F_GETFD) };
        assert!(flags & libc::FD_CLOEXEC != 0);
    }
}
