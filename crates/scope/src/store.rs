//! Where the table lives and how it is read and replaced: the only module that touches files.
//!
//! Why this module exists: seed 002 truncated the table and rewrote it in place under a flock
//! on the same file. A crash between truncate and write left an empty or half-written table,
//! which the next process either could not parse forever or read as "no allocations"
//! (races.md #19). Renaming a new file over the flocked one would fix the tear but break the
//! mutual exclusion (the lock stays on the old inode, races.md #5). So:
//!
//! - **One lock, never renamed or unlinked**: `<data>.lock` beside the data file. Every
//!   operation takes an exclusive `flock` on it for its whole read-modify-write.
//! - **Atomic replacement**: the new table goes to `<data>.tmp` (created `O_EXCL`, 0600), is
//!   `fsync`ed, renamed over the data file, and the directory is `fsync`ed. A SIGKILL at any
//!   instant leaves the old table or the new one; a leftover `.tmp` is removed by the next
//!   writer and never read.
//! - **Corrupt is not empty** (races.md #20): a file that does not parse as a table this code
//!   wrote is `ECORRUPT`, never overwritten; [`repair`] moves it aside only when asked. An
//!   absent or all-whitespace file is the empty table (a first run, or a crash before the first
//!   rename).
//! - **Hostile paths**: the directory is opened once and every file is reached with `openat`
//!   relative to that fd, `O_NOFOLLOW|O_CLOEXEC`; a symlinked data or lock file is `ESYMLINK`,
//!   a file owned by another user or writable by group/others is `EINSECURE`, a directory
//!   writable by group or others or owned by another (non-root) user is `EINSECURE` (the same
//!   rule for a path the caller names as for sole's default directory: whoever can write the
//!   directory can swap the table). Refusals happen before anything is written, so the files
//!   stay byte-for-byte as they were.
//! - **A directory is not a data file**: a data path that is itself a directory is `ENOTREG`
//!   saying so, decided before the parent is looked at (a directory in `/tmp` is not reported
//!   as `/tmp`'s permissions).
//! - **No reread when nothing changed** (seed 002 reread and rewrote the whole file on every
//!   operation): the lock file holds a generation counter (8 bytes) that a writer bumps before
//!   its rename. A reader that finds the generation and the data file's inode, size, mtime and
//!   ctime as it last saw them reuses its parsed table. Bumping *before* the rename is what makes
//!   this crash-safe: a writer killed in between only costs others a needless reread.
//!   Operations that change nothing (lookups, a reclaim that finds nobody dead) write nothing.
//!
//! Test: `tests::*` below; `__test__/scope-storage.spec.ts` (crash injection, hostile inputs).

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sole_error::{Error, Kind, Result};

use crate::table::{Codec, Table};

/// The data file's identity as seen by `fstat`; any write through rename changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: i64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(st: &libc::stat) -> Stamp {
        Stamp {
            dev: st.st_dev,
            ino: st.st_ino,
            size: st.st_size,
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
        }
    }
}

/// How strictly the directory is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirPolicy {
    /// A directory the caller named: not writable by group or others, owned by this user or
    /// root (a root-owned directory is as safe as root itself).
    Given,
    /// sole's own per-user directory in the shared temp dir: not a symlink, owned by this
    /// user, not writable by group or others.
    Private,
}

/// An opened registry location: the directory fd, the lock file, and the file names.
#[derive(Debug)]
pub struct Store {
    pub data_path: PathBuf,
    pub lock_path: PathBuf,
    dir: OwnedFd,
    lock: std::sync::Arc<File>,
    /// How long [`Store::lock`] waits for another process's operation (`None`: forever).
    pub lock_timeout: Option<std::time::Duration>,
    data_name: CString,
    tmp_name: CString,
}

fn cstr(s: &std::ffi::OsStr, path: &Path) -> Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| {
        Error::invalid_argument(
            "path",
            format!(
                "path {} contains a NUL byte, which no path can contain: pass a plain path",
                crate::check::shown(&path.to_string_lossy())
            ),
        )
    })
}

fn last_err() -> io::Error {
    io::Error::last_os_error()
}

fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

fn fstat_fd(fd: i32, path: &Path, what: &str) -> Result<libc::stat> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd and a properly sized buffer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(Error::os(last_err(), what, path));
    }
    Ok(st)
}

fn symlink_error(path: &Path) -> Error {
    Error::new(
        Kind::Symlink,
        format!(
            "{} is a symbolic link; sole does not follow symlinks for the scope registry (a link planted by another user could redirect it). Remove the link or pass the real path.",
            path.display()
        ),
    )
    .with_path(path)
}

fn insecure(path: &Path, why: &str) -> Error {
    Error::new(
        Kind::Insecure,
        format!(
            "{} {why}, so another user could tamper with the scope registry; sole refuses to use it. Fix its owner/permissions (chown to this user, chmod go-w) or choose a private directory.",
            path.display()
        ),
    )
    .with_path(path)
}

/// Check an opened regular file (data or lock): regular, ours, not group/world writable.
fn check_file(st: &libc::stat, path: &Path) -> Result<()> {
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Error::new(
            Kind::NotRegular,
            format!(
                "{} is not a regular file; the scope registry only uses regular files. Remove it or choose another path.",
                path.display()
            ),
        )
        .with_path(path));
    }
    if st.st_uid != euid() {
        return Err(insecure(
            path,
            &format!(
                "is owned by uid {}, not this user (uid {})",
                st.st_uid,
                euid()
            ),
        ));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(insecure(
            path,
            &format!(
                "is writable by group or others (mode {:o})",
                st.st_mode & 0o777
            ),
        ));
    }
    Ok(())
}

fn check_dir(st: &libc::stat, path: &Path, policy: DirPolicy) -> Result<()> {
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(Error::new(
            Kind::Os(libc::ENOTDIR),
            format!(
                "{} is not a directory: choose a directory for the scope registry.",
                path.display()
            ),
        )
        .with_path(path));
    }
    let me = euid();
    let mode = st.st_mode & 0o7777;
    match policy {
        DirPolicy::Given => {
            if st.st_uid != me && st.st_uid != 0 {
                return Err(insecure(
                    path,
                    &format!(
                        "(a directory) is owned by uid {}, not this user or root",
                        st.st_uid
                    ),
                ));
            }
            if mode & 0o022 != 0 {
                return Err(insecure(
                    path,
                    &format!(
                        "(a directory) is writable by group or others (mode {:o})",
                        mode
                    ),
                ));
            }
        }
        DirPolicy::Private => {
            if st.st_uid != me {
                return Err(insecure(
                    path,
                    &format!("(a directory) is owned by uid {}, not this user", st.st_uid),
                ));
            }
            if mode & 0o022 != 0 {
                return Err(insecure(
                    path,
                    &format!(
                        "(a directory) is writable by group or others (mode {:o})",
                        mode
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn mkdirs(dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        mkdirs(parent)?;
    }
    let c = cstr(dir.as_os_str(), dir)?;
    // SAFETY: valid NUL-terminated path.
    if unsafe { libc::mkdir(c.as_ptr(), 0o700) } != 0 {
        let err = last_err();
        if err.raw_os_error() != Some(libc::EEXIST) {
            return Err(Error::os(err, "create directory", dir));
        }
    }
    Ok(())
}

fn open_dir(dir: &Path, policy: DirPolicy) -> Result<OwnedFd> {
    mkdirs(dir)?;
    let c = cstr(dir.as_os_str(), dir)?;
    let mut flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    if policy == DirPolicy::Private {
        flags |= libc::O_NOFOLLOW;
    }
    // SAFETY: valid path; the fd is owned below.
    let fd = unsafe { libc::open(c.as_ptr(), flags) };
    if fd < 0 {
        let err = last_err();
        // O_NOFOLLOW|O_DIRECTORY on a symlink fails with ELOOP or ENOTDIR: say which it is.
        let is_link = std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink());
        return Err(match err.raw_os_error() {
            Some(libc::ELOOP) => symlink_error(dir),
            Some(libc::ENOTDIR) if is_link => symlink_error(dir),
            _ => Error::os(err, "open registry directory", dir),
        });
    }
    // SAFETY: fresh owned fd.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    check_dir(
        &fstat_fd(fd.as_raw_fd(), dir, "stat registry directory")?,
        dir,
        policy,
    )?;
    Ok(fd)
}

fn openat(dir: &OwnedFd, name: &CString, flags: i32, mode: u32) -> io::Result<File> {
    // SAFETY: valid dir fd and NUL-terminated name; the fd is owned by the File.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NOCTTY,
            mode as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(last_err());
    }
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn fstatat_nofollow(dir: &OwnedFd, name: &CString) -> io::Result<Option<libc::stat>> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd, name and buffer.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        let e = last_err();
        return if e.raw_os_error() == Some(libc::ENOENT) {
            Ok(None)
        } else {
            Err(e)
        };
    }
    Ok(Some(st))
}

/// The default registry path: `$SOLE_RUNTIME_DIR/scope.json`, else
/// `$XDG_RUNTIME_DIR/sole/scope.json`, else `<temp dir>/sole-<uid>/scope.json` (created 0700,
/// checked as [`DirPolicy::Private`]).
pub fn default_path() -> Result<(PathBuf, DirPolicy)> {
    let nonempty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(d) = nonempty("SOLE_RUNTIME_DIR") {
        let d = std::path::absolute(PathBuf::from(&d))
            .map_err(|e| Error::os(e, "resolve SOLE_RUNTIME_DIR", Path::new(&d)))?;
        return Ok((d.join("scope.json"), DirPolicy::Given));
    }
    if let Some(d) = nonempty("XDG_RUNTIME_DIR") {
        let d = PathBuf::from(d);
        if d.is_absolute() {
            return Ok((d.join("sole").join("scope.json"), DirPolicy::Private));
        }
    }
    let d = std::env::temp_dir().join(format!("sole-{}", euid()));
    Ok((d.join("scope.json"), DirPolicy::Private))
}

/// Longest registry path accepted, in bytes (`PATH_MAX` minus its terminating NUL).
pub const MAX_PATH_BYTES: usize = 4095;

/// Resolve a caller's path once: absolute, not empty, no NUL byte, at most
/// [`MAX_PATH_BYTES`]; each refusal is `EINVAL` with `argument: "path"`.
pub fn resolve(path: &str) -> Result<PathBuf> {
    let why = if path.is_empty() {
        "is empty"
    } else if path.len() > MAX_PATH_BYTES {
        "is longer than a path can be (4095 bytes)"
    } else if path.contains('\0') {
        "contains a NUL byte, which no path can contain"
    } else {
        let p = Path::new(path);
        return std::path::absolute(p).map_err(|e| Error::os(e, "resolve path", p));
    };
    Err(Error::invalid_argument(
        "path",
        format!(
            "the scope registry path {} {why}: pass the path of its data file (for example /run/user/1000/sole/scope.json), or nothing for the default.",
            crate::check::shown(path)
        ),
    ))
}

/// `ENOTREG` when `data_path` is a directory (not following a symlink): the caller passed a
/// directory where the data file's path belongs. Decided first, so the answer does not depend
/// on the parent directory's permissions.
fn refuse_directory(data_path: &Path) -> Result<()> {
    let is_dir = std::fs::symlink_metadata(data_path).is_ok_and(|m| m.is_dir());
    if !is_dir {
        return Ok(());
    }
    // Spell it without trailing slashes or `.` components.
    let clean: PathBuf = data_path.components().collect();
    Err(Error::new(
        Kind::NotRegular,
        format!(
            "{} is a directory: the scope registry's path names its data file, not a directory. Pass a file path such as {}, or nothing for the default.",
            clean.display(),
            clean.join("scope.json").display()
        ),
    )
    .with_path(&clean))
}

fn split(path: &Path) -> Result<(PathBuf, &std::ffi::OsStr)> {
    match (path.parent(), path.file_name()) {
        (Some(d), Some(n)) => Ok((d.to_path_buf(), n)),
        _ => Err(Error::invalid_argument(
            "path",
            format!(
                "{} does not name a file: pass the path of the registry's data file.",
                path.display()
            ),
        )
        .with_path(path)),
    }
}

impl Store {
    /// Open the directory (creating it 0700 if missing) and the lock file (0600), checking both.
    /// The data file is not created here; an existing one is checked before anything is
    /// created, so a refused location is left as it was.
    pub fn open(data_path: &Path, policy: DirPolicy) -> Result<Store> {
        refuse_directory(data_path)?;
        let (dir_path, name) = split(data_path)?;
        let dir = open_dir(&dir_path, policy)?;
        let data_name = cstr(name, data_path)?;
        let mut lock_os = name.to_os_string();
        lock_os.push(".lock");
        let mut tmp_os = name.to_os_string();
        tmp_os.push(".tmp");
        let lock_path = dir_path.join(&lock_os);
        let lock_name = cstr(&lock_os, &lock_path)?;
        let tmp_name = cstr(&tmp_os, data_path)?;
        // Check an existing data file first: nothing is created next to a hostile one.
        match fstatat_nofollow(&dir, &data_name) {
            Ok(Some(st)) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                return Err(symlink_error(data_path))
            }
            Ok(Some(st)) => check_file(&st, data_path)?,
            Ok(None) => {}
            Err(e) => return Err(Error::os(e, "stat registry data file", data_path)),
        }
        let lock = openat(
            &dir,
            &lock_name,
            libc::O_RDWR | libc::O_CREAT | libc::O_NONBLOCK,
            0o600,
        )
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => symlink_error(&lock_path),
            _ => Error::os(e, "open registry lock file", &lock_path),
        })?;
        check_file(
            &fstat_fd(lock.as_raw_fd(), &lock_path, "stat lock file")?,
            &lock_path,
        )?;
        Ok(Store {
            data_path: data_path.to_path_buf(),
            lock_path,
            dir,
            lock: std::sync::Arc::new(lock),
            lock_timeout: Some(DEFAULT_LOCK_TIMEOUT),
            data_name,
            tmp_name,
        })
    }

    /// Take the exclusive flock on the lock file, waiting on the calling thread; released when
    /// the returned value is dropped (explicit `LOCK_UN`). Registry operations hold it for
    /// microseconds to a few milliseconds, so waits are short.
    pub fn lock(&self) -> Result<Locked<'_>> {
        // The wait is bounded: operations hold the lock for milliseconds, so a holder that keeps
        // it for `lock_timeout` is stopped (SIGSTOP), stuck or hostile, and the caller gets
        // ETIMEDOUT naming it instead of a frozen event loop. The wait runs on sole_lock's
        // cancellable waiter; EDEADLK if this thread already holds it.
        let opened = sole_lock::open::Opened::from_file(self.lock.clone(), &self.lock_path)?;
        let lock = sole_lock::LockFile::lock_on(
            opened,
            &self.lock_path,
            sole_lock::Mode::Exclusive,
            self.lock_timeout,
        )?;
        Ok(Locked {
            _store: self,
            _lock: lock,
        })
    }

    /// The generation counter in the lock file (0 when the file is new).
    pub fn generation(&self) -> Result<u64> {
        let mut b = [0u8; 8];
        let n = self
            .lock
            .read_at(&mut b, 0)
            .map_err(|e| Error::os(e, "read lock file", &self.lock_path))?;
        Ok(if n == 8 { u64::from_le_bytes(b) } else { 0 })
    }

    fn set_generation(&self, g: u64) -> Result<()> {
        self.lock
            .write_all_at(&g.to_le_bytes(), 0)
            .map_err(|e| Error::os(e, "write lock file", &self.lock_path))
    }

    /// The data file's current stamp (`None`: absent), refusing a symlink.
    pub fn stamp(&self) -> Result<Option<Stamp>> {
        match fstatat_nofollow(&self.dir, &self.data_name) {
            Ok(Some(st)) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                Err(symlink_error(&self.data_path))
            }
            Ok(st) => Ok(st.as_ref().map(Stamp::of)),
            Err(e) => Err(Error::os(e, "stat registry data file", &self.data_path)),
        }
    }

    /// Read and parse the data file: absent = empty table. Returns the table and the stamp of
    /// the file it was read from.
    pub fn read(&self, codec: &mut Codec) -> Result<(Table, Option<Stamp>)> {
        let mut f = match openat(
            &self.dir,
            &self.data_name,
            libc::O_RDONLY | libc::O_NONBLOCK,
            0,
        ) {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok((Table::new(), None)),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(symlink_error(&self.data_path))
            }
            Err(e) => return Err(Error::os(e, "open registry data file", &self.data_path)),
        };
        let st = fstat_fd(f.as_raw_fd(), &self.data_path, "stat registry data file")?;
        check_file(&st, &self.data_path)?;
        let mut buf = Vec::with_capacity(st.st_size.max(0) as usize + 1);
        f.read_to_end(&mut buf)
            .map_err(|e| Error::os(e, "read registry data file", &self.data_path))?;
        Ok((codec.decode(&buf, &self.data_path)?, Some(Stamp::of(&st))))
    }

    /// Replace the table atomically (see the module doc). Returns the new stamp and generation.
    /// Must be called with the lock held.
    pub fn write(
        &self,
        _locked: &Locked<'_>,
        table: &Table,
        codec: &mut Codec,
    ) -> Result<(Stamp, u64)> {
        let bytes = codec.encode(table);
        let p = &self.data_path;
        // A crashed writer's temp file: remove it (never read).
        // SAFETY: valid fd and name.
        unsafe { libc::unlinkat(self.dir.as_raw_fd(), self.tmp_name.as_ptr(), 0) };
        let mut tmp = openat(
            &self.dir,
            &self.tmp_name,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
            0o600,
        )
        .map_err(|e| Error::os(e, "create temporary registry file beside", p))?;
        tmp.write_all(&bytes)
            .map_err(|e| Error::os(e, "write temporary registry file beside", p))?;
        // fdatasync: the data and the size that reads need; the rest of the inode's metadata
        // (times) is not worth a journal commit.
        tmp.sync_data()
            .map_err(|e| Error::os(e, "fsync temporary registry file beside", p))?;
        drop(tmp);
        // Bump the generation before the rename: a crash in between only costs a reread.
        let gen = self.generation()?.wrapping_add(1);
        self.set_generation(gen)?;
        // SAFETY: valid fds and names.
        let rc = unsafe {
            libc::renameat(
                self.dir.as_raw_fd(),
                self.tmp_name.as_ptr(),
                self.dir.as_raw_fd(),
                self.data_name.as_ptr(),
            )
        };
        if rc != 0 {
            return Err(Error::os(last_err(), "rename new table over", p));
        }
        self.sync_dir()?;
        // Stamp after the rename: rename changes the inode's ctime.
        let stamp = self.stamp()?.ok_or_else(|| {
            Error::os(
                io::Error::from_raw_os_error(libc::ENOENT),
                "stat new table",
                p,
            )
        })?;
        Ok((stamp, gen))
    }

    fn sync_dir(&self) -> Result<()> {
        // SAFETY: valid fd.
        if unsafe { libc::fsync(self.dir.as_raw_fd()) } != 0 {
            return Err(Error::os(
                last_err(),
                "fsync the directory of",
                &self.data_path,
            ));
        }
        Ok(())
    }

    /// Move a corrupt data file aside as `<name>.corrupt-<unix ms>-<pid>` (never replacing an
    /// existing file) and return the new path; `None` when there is nothing to repair (absent,
    /// or a valid table). Other refusals (symlink, wrong owner) are returned as errors.
    pub fn repair(&self, _locked: &Locked<'_>) -> Result<Option<PathBuf>> {
        match self.read(&mut Codec::default()) {
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == Kind::Corrupt => {}
            Err(e) => return Err(e),
        }
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let mut aside = self
            .data_path
            .file_name()
            .expect("checked at open")
            .to_os_string();
        aside.push(format!(".corrupt-{ms}-{}", std::process::id()));
        let aside_path = self.data_path.with_file_name(&aside);
        let aside_c = cstr(&aside, &aside_path)?;
        self.set_generation(self.generation()?.wrapping_add(1))?;
        // SAFETY: valid fds and names.
        let rc = unsafe {
            libc::renameat2(
                self.dir.as_raw_fd(),
                self.data_name.as_ptr(),
                self.dir.as_raw_fd(),
                aside_c.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if rc != 0 {
            return Err(Error::os(
                last_err(),
                "move corrupt registry aside:",
                &self.data_path,
            ));
        }
        self.sync_dir()?;
        Ok(Some(aside_path))
    }
}

/// Proof that the store's lock is held; unlocks on drop.
pub struct Locked<'a> {
    _store: &'a Store,
    /// Released (explicit `LOCK_UN`) when the operation's guard is dropped.
    _lock: sole_lock::LockFile,
}

/// Default bound on the wait for the registry lock.
pub const DEFAULT_LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("reg/scope.json");
        (d, p)
    }

    #[test]
    fn open_creates_dir_0700_and_lock_0600_not_data() {
        let (_d, p) = dir();
        let s = Store::open(&p, DirPolicy::Given).unwrap();
        let mode = |q: &Path| std::fs::metadata(q).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(p.parent().unwrap()), 0o700);
        assert_eq!(mode(&s.lock_path), 0o600);
        assert!(!p.exists());
        let l = s.lock().unwrap();
        assert_eq!(s.read(&mut Codec::default()).unwrap().0, Table::new());
        s.write(&l, &Table::new(), &mut Codec::default()).unwrap();
        assert_eq!(mode(&p), 0o600);
        assert_eq!(s.generation().unwrap(), 1);
    }

    #[test]
    fn refuses_symlinks_and_world_writable_dirs() {
        let (d, p) = dir();
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let target = d.path().join("precious");
        std::fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, &p).unwrap();
        assert_eq!(
            Store::open(&p, DirPolicy::Given).unwrap_err().code(),
            "ESYMLINK"
        );
        std::fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink(&target, p.with_file_name("scope.json.lock")).unwrap();
        assert_eq!(
            Store::open(&p, DirPolicy::Given).unwrap_err().code(),
            "ESYMLINK"
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        for mode in [0o777, 0o770, 0o730, 0o1777] {
            let open_dir = d.path().join(format!("open-{mode:o}"));
            std::fs::create_dir(&open_dir).unwrap();
            std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = Store::open(&open_dir.join("scope.json"), DirPolicy::Given).unwrap_err();
            assert_eq!(e.code(), "EINSECURE", "{mode:o}");
            assert!(e.message().contains("group or others"), "{}", e.message());
            assert!(!open_dir.join("scope.json.lock").exists());
        }
    }

    #[test]
    fn a_directory_as_data_path_is_enotreg_whatever_its_parent() {
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let sub = d.path().join("registry");
        std::fs::create_dir(&sub).unwrap();
        for spelled in [sub.clone(), sub.join(""), sub.join(".")] {
            let e = Store::open(&spelled, DirPolicy::Given).unwrap_err();
            assert_eq!(e.code(), "ENOTREG", "{}", e.message());
            assert_eq!(e.path(), Some(sub.as_path()));
            assert!(e.message().contains("is a directory"));
        }
        assert_eq!(std::fs::read_dir(&sub).unwrap().count(), 0);
    }

    #[test]
    fn bad_paths_are_einval_naming_path() {
        let long = format!("/{}", "x".repeat(10 << 20));
        for bad in ["", "/a\0b", long.as_str()] {
            let e = resolve(bad).unwrap_err();
            assert_eq!(e.code(), "EINVAL");
            assert_eq!(e.details()[0], ("argument", "path".into()));
            assert!(e.message().len() < 1000);
        }
    }

    #[test]
    fn repair_moves_only_corrupt_files() {
        let (_d, p) = dir();
        let s = Store::open(&p, DirPolicy::Given).unwrap();
        let l = s.lock().unwrap();
        assert_eq!(s.repair(&l).unwrap(), None);
        std::fs::write(&p, "{not json").unwrap();
        assert_eq!(
            s.read(&mut Codec::default()).unwrap_err().code(),
            "ECORRUPT"
        );
        let aside = s.repair(&l).unwrap().unwrap();
        assert_eq!(std::fs::read_to_string(&aside).unwrap(), "{not json");
        assert!(!p.exists());
        assert_eq!(s.read(&mut Codec::default()).unwrap().0, Table::new());
    }
}
