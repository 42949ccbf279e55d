//! The one fs-helper module: every `open`, `openat`, `fstat` and `mkdir` sole makes goes
//! through here, so the rules that close its file races are written once.
//!
//! The races, and the rule that closes each:
//! - **A descriptor inherited by a child** (docs/races.md R7): a child forked in the instant before `exec` keeps an
//!   inherited descriptor, and with it any flock on its open file description, after its parent
//!   released or died. Every open here carries `O_CLOEXEC` (there is no way to ask for less).
//! - **A symlink planted by another user** (R9): `lstat` then `open` is a check-then-use race (the
//!   link can appear in between), so the open itself refuses: `O_NOFOLLOW` on the last
//!   component (`ELOOP`, mapped to `ESYMLINK` by [`open_error`]). What was checked is what we
//!   hold, because every later check is an `fstat` of the opened descriptor ([`fstat`]).
//! - **A FIFO, device or tty planted at the path** (R9): `O_NONBLOCK` is the caller's choice (a FIFO
//!   must not hang the open), `O_NOCTTY` is always set (a tty must not become the process's
//!   controlling terminal), and the type is decided by [`FileStat`] from `fstat`, never from
//!   the path.
//! - **A file or directory another user can read or swap**: sole creates files 0600 and
//!   directories 0700 ([`mkdirs`], [`set_mode`] after an `O_EXCL` create so the umask cannot
//!   change it).
//! - **A directory swapped between lookups**: callers that reach several files in one
//!   directory open the directory once ([`open_dir`]) and reach each file with [`openat`] /
//!   [`statat_nofollow`] relative to that descriptor.
//!
//! - **A torn replacement**: a file is replaced by writing a sibling and [`rename_at`] over it
//!   in the same directory descriptor, then [`sync`] of the directory; never truncate-in-place.
//!
//! System calls go through `rustix` (no `unsafe` here); the errno → error mapping is
//! [`open_error`]. Test: `tests::*` below, and `open.rs`'s tests through the lock-file open.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use sole_error::{Error, Kind, Result};

pub use rustix::fs::OFlags as Flags;

/// The flags every open in sole carries: see the module doc.
const ALWAYS: OFlags = OFlags::CLOEXEC
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NOCTTY);

/// Permission bits of every directory sole creates.
pub const DIR_MODE: u32 = 0o700;
/// Permission bits of every file sole creates unless the caller asks otherwise.
pub const FILE_MODE: u32 = 0o600;

/// What `fstat`/`fstatat` says about a file, in fixed-width fields on every architecture
/// (rustix's `Stat` has per-architecture field types). Test: `tests::stat_of_new_file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    pub dev: u64,
    pub ino: u64,
    /// The full `st_mode`: file type and permission bits.
    pub mode: u32,
    pub uid: u32,
    /// How many names the file has; 0 once it was unlinked while open (`crate::lost`).
    pub nlink: u64,
    pub size: i64,
    /// Seconds and nanoseconds.
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl FileStat {
    #[allow(clippy::unnecessary_cast)] // the field types differ per architecture
    fn of(st: &rustix::fs::Stat) -> FileStat {
        FileStat {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            mode: st.st_mode as u32,
            uid: st.st_uid as u32,
            nlink: st.st_nlink as u64,
            size: st.st_size as i64,
            mtime: (st.st_mtime as i64, st.st_mtime_nsec as i64),
            ctime: (st.st_ctime as i64, st.st_ctime_nsec as i64),
        }
    }
    fn file_type(&self) -> FileType {
        FileType::from_raw_mode(self.mode)
    }
    pub fn is_regular(&self) -> bool {
        self.file_type() == FileType::RegularFile
    }
    pub fn is_dir(&self) -> bool {
        self.file_type() == FileType::Directory
    }
    pub fn is_symlink(&self) -> bool {
        self.file_type() == FileType::Symlink
    }
    /// Permission bits (`mode & 0o7777`).
    pub fn perms(&self) -> u32 {
        self.mode & 0o7777
    }
    /// What the file is, for a message: "a FIFO", "a directory", …
    pub fn type_phrase(&self) -> &'static str {
        match self.file_type() {
            FileType::RegularFile => "a regular file",
            FileType::Fifo => "a FIFO",
            FileType::CharacterDevice => "a character device",
            FileType::BlockDevice => "a block device",
            FileType::Socket => "a socket",
            FileType::Directory => "a directory",
            FileType::Symlink => "a symbolic link",
            FileType::Unknown => "not a regular file",
        }
    }
}

/// Refuse a path the kernel could never open: an empty one (`open("")` is a confusing
/// `ENOENT`) or one with a NUL byte. `EINVAL` with `argument: "path"`.
pub fn check_path(path: &Path) -> Result<()> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.is_empty() {
        return Err(Error::invalid_argument(
            "path",
            "the path is empty: pass the path of a file",
        ));
    }
    if bytes.contains(&0) {
        let shown: String = path.display().to_string().chars().take(200).collect();
        return Err(Error::invalid_argument(
            "path",
            format!("path {shown:?} contains a NUL byte: no file can have that name; pass the path without it"),
        ));
    }
    Ok(())
}

/// `open(path, flags | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, mode)`. `mode` only matters with
/// `O_CREAT` (and the umask narrows it: see [`set_mode`]).
pub fn open(path: &Path, flags: OFlags, mode: u32) -> io::Result<File> {
    let fd = rustix::fs::open(path, flags | ALWAYS, Mode::from_raw_mode(mode))?;
    Ok(File::from(fd))
}

/// [`open`] relative to a directory descriptor: `name` is looked up in `dir` only (the caller
/// passes a single component; `O_NOFOLLOW` covers the last one).
pub fn openat(dir: impl AsFd, name: &OsStr, flags: OFlags, mode: u32) -> io::Result<File> {
    let fd = rustix::fs::openat(dir, name, flags | ALWAYS, Mode::from_raw_mode(mode))?;
    Ok(File::from(fd))
}

/// Open a directory for `openat`: `O_RDONLY|O_DIRECTORY|O_CLOEXEC`, plus `O_NOFOLLOW` unless
/// `follow` (a directory the caller named may be reached through a link; sole's own private
/// directory may not). A symlink under `O_NOFOLLOW` fails with `ELOOP` or `ENOTDIR`.
pub fn open_dir(path: &Path, follow: bool) -> io::Result<OwnedFd> {
    let mut flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    Ok(rustix::fs::open(path, flags, Mode::empty())?)
}

/// `fstat` of an opened descriptor: the one way sole learns a file's type and identity.
pub fn fstat(fd: impl AsFd) -> io::Result<FileStat> {
    Ok(FileStat::of(&rustix::fs::fstat(fd)?))
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`: `None` when absent; a symlink is reported as one
/// (see [`FileStat::is_symlink`]), never followed.
pub fn statat_nofollow(dir: impl AsFd, name: &OsStr) -> io::Result<Option<FileStat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileStat::of(&st))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Set the permission bits of a file sole just created (`fchmod`), so that the umask neither
/// widens nor narrows what the caller asked for.
pub fn set_mode(fd: impl AsFd, mode: u32) -> io::Result<()> {
    Ok(rustix::fs::fchmod(fd, Mode::from_raw_mode(mode))?)
}

/// Create `dir` and its missing parents, each with mode 0700 ([`DIR_MODE`]). An existing
/// directory is left as it is (its permissions are the caller's to check).
/// Test: `open.rs` `tests::creates_0600_and_dirs_0700`.
pub fn mkdirs(dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        mkdirs(parent)?;
    }
    check_path(dir)?;
    match rustix::fs::mkdir(dir, Mode::from_raw_mode(DIR_MODE)) {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(Error::os(e.into(), "create directory", dir)),
    }
}

/// `unlinkat(dir, name)`: remove a file sole owns in `dir` (a crashed writer's temporary
/// file); `Ok(false)` when it was not there. Never used on a lock file (lock files are never
/// unlinked: a waiter on the old inode and a newcomer on a new one would both own "the" lock).
pub fn unlink_at(dir: impl AsFd, name: &OsStr) -> io::Result<bool> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) => Ok(true),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// `renameat(dir, from, dir, to)`, or with `no_replace` `renameat2(…, RENAME_NOREPLACE)` (fails
/// with `EEXIST` instead of replacing `to`). Both names are looked up in `dir` only.
pub fn rename_at(dir: impl AsFd, from: &OsStr, to: &OsStr, no_replace: bool) -> io::Result<()> {
    let d = dir.as_fd();
    if no_replace {
        rustix::fs::renameat_with(d, from, d, to, rustix::fs::RenameFlags::NOREPLACE)?;
    } else {
        rustix::fs::renameat(d, from, d, to)?;
    }
    Ok(())
}

/// `fsync` of a descriptor (a directory after a rename in it, so the rename is durable).
pub fn sync(fd: impl AsFd) -> io::Result<()> {
    Ok(rustix::fs::fsync(fd)?)
}

/// The effective uid of this process (the owner sole expects of the files it uses).
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The errno of an I/O error as rustix spells it, for matching.
pub fn errno(err: &io::Error) -> Option<Errno> {
    Errno::from_io_error(err)
}

/// `ESYMLINK`: `path` is a symbolic link and sole does not follow it for `used_for` ("lock
/// files", "the scope registry").
pub fn symlink_error(path: &Path, used_for: &str) -> Error {
    Error::new(
        Kind::Symlink,
        format!(
            "{} is a symbolic link; sole does not follow symlinks for {used_for} (a link planted by another user could redirect it). Remove the link or pass the real path.",
            path.display()
        ),
    )
    .with_path(path)
}

/// `ENOTREG`: `path` is `what` ("a directory", [`FileStat::type_phrase`]), not a regular file.
pub fn not_regular(path: &Path, what: &str) -> Error {
    Error::new(
        Kind::NotRegular,
        format!(
            "{} is {what}, not a regular file; sole only uses regular files. Choose a file path.",
            path.display()
        ),
    )
    .with_path(path)
}

/// The one errno → error mapping of a failed open of `path` (`doing`: "open lock file"):
/// `ELOOP` under `O_NOFOLLOW` is a symlink (`ESYMLINK`); `EISDIR`, and the `ENXIO`/`ENODEV` that
/// `open` returns for a socket, a FIFO nobody reads or a device with no driver, are `ENOTREG`;
/// anything else is the OS error with its advice.
pub fn open_error(err: io::Error, doing: &str, path: &Path, used_for: &str) -> Error {
    match errno(&err) {
        Some(Errno::LOOP) => symlink_error(path, used_for),
        Some(Errno::ISDIR) => not_regular(path, "a directory"),
        Some(Errno::NXIO) | Some(Errno::NODEV) => not_regular(path, "a socket, a FIFO or a device"),
        _ => Error::os(err, doing, path),
    }
}

/// `fstat` the opened `file` and require a regular file: `ENOTREG` naming what it is otherwise.
pub fn regular(file: impl AsFd, path: &Path, doing: &str) -> Result<FileStat> {
    let st = fstat(file).map_err(|e| Error::os(e, doing, path))?;
    if !st.is_regular() {
        return Err(not_regular(path, st.type_phrase()));
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_of_new_file() {
        let d = tempfile::tempdir().unwrap();
        let dir = open_dir(d.path(), true).unwrap();
        let f = openat(
            &dir,
            OsStr::new("x"),
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL,
            FILE_MODE,
        )
        .unwrap();
        set_mode(&f, FILE_MODE).unwrap();
        let st = fstat(&f).unwrap();
        assert!(st.is_regular());
        assert_eq!(st.perms(), 0o600);
        assert_eq!(st.uid, euid());
        assert_eq!(st.size, 0);
        let at = statat_nofollow(&dir, OsStr::new("x")).unwrap().unwrap();
        assert_eq!((at.dev, at.ino), (st.dev, st.ino));
        assert!(statat_nofollow(&dir, OsStr::new("absent"))
            .unwrap()
            .is_none());
        assert!(fstat(&dir).unwrap().is_dir());
    }

    #[test]
    fn openat_refuses_a_symlink_and_statat_reports_it() {
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(d.path().join("target"), d.path().join("l")).unwrap();
        let dir = open_dir(d.path(), false).unwrap();
        let e = openat(&dir, OsStr::new("l"), OFlags::RDWR | OFlags::CREATE, 0o600).unwrap_err();
        assert_eq!(
            open_error(e, "open", &d.path().join("l"), "tests").code(),
            "ESYMLINK"
        );
        assert!(!d.path().join("target").exists());
        let st = statat_nofollow(&dir, OsStr::new("l")).unwrap().unwrap();
        assert!(st.is_symlink());
        // A directory reached through a link is refused unless the caller follows links.
        std::os::unix::fs::symlink(d.path(), d.path().join("dl")).unwrap();
        assert!(open_dir(&d.path().join("dl"), false).is_err());
        assert!(open_dir(&d.path().join("dl"), true).is_ok());
    }

    #[test]
    fn rename_unlink_sync_stay_in_the_directory() {
        let d = tempfile::tempdir().unwrap();
        let dir = open_dir(d.path(), true).unwrap();
        let (a, b) = (OsStr::new("a"), OsStr::new("b"));
        drop(openat(&dir, a, OFlags::WRONLY | OFlags::CREATE, FILE_MODE).unwrap());
        drop(openat(&dir, b, OFlags::WRONLY | OFlags::CREATE, FILE_MODE).unwrap());
        let e = rename_at(&dir, a, b, true).unwrap_err();
        assert_eq!(errno(&e), Some(Errno::EXIST));
        rename_at(&dir, a, b, false).unwrap();
        sync(&dir).unwrap();
        assert!(!d.path().join("a").exists());
        assert!(unlink_at(&dir, b).unwrap());
        assert!(!unlink_at(&dir, b).unwrap());
    }

    #[test]
    fn paths_with_nul_or_empty_are_einval() {
        for p in ["", "a\0b"] {
            let e = check_path(Path::new(p)).unwrap_err();
            assert_eq!(e.code(), "EINVAL");
            assert_eq!(e.details()[0].0, "argument");
        }
    }
}
