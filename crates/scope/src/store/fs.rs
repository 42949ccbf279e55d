//! The few file system calls the store makes, through `rustix` (no `unsafe`): open the
//! registry's directory once, then reach every file relative to that directory fd.
//!
//! Why relative to one directory fd: the directory is checked once ([`super::checks`]) and
//! every later open, stat, rename and unlink happens in *that* directory, so a directory
//! renamed or swapped for a symlink after the check cannot redirect the registry's files. Each
//! file is opened `O_NOFOLLOW|O_CLOEXEC|O_NOCTTY`: a symlink planted as the data or lock file
//! fails with `ELOOP` instead of being followed, and no fd leaks into a child process.
//! Test: `super::tests::refuses_symlinks_and_world_writable_dirs`.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags, Stat};
use rustix::io::Errno;
use sole_error::{Error, Result};

use super::checks::{check_dir, symlink_error, DirPolicy};

/// `s` as a C string for the `*at` calls; a NUL byte is `EINVAL` naming `path`.
/// Test: `super::path::tests::bad_paths_are_einval_naming_path`.
pub fn cstr(s: &OsStr, path: &Path) -> Result<CString> {
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

/// This process's effective uid (the owner every registry file must have).
/// Test: `super::tests::refuses_symlinks_and_world_writable_dirs`.
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Create `dir` and its missing parents, each 0700. One that exists already is left as it is
/// (a non-directory there is reported by the open that follows, as `ENOTDIR`).
fn mkdirs(dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
            Err(Error::os(e, "create directory", dir))
        }
        _ => Ok(()),
    }
}

/// Create (0700) and open the registry's directory, then check it under `policy`. With
/// [`DirPolicy::Private`] the directory itself must not be a symlink (`ESYMLINK`).
/// Test: `super::tests::open_creates_dir_0700_and_lock_0600_not_data`.
pub fn open_dir(dir: &Path, policy: DirPolicy) -> Result<OwnedFd> {
    mkdirs(dir)?;
    let mut flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    if policy == DirPolicy::Private {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = rustix::fs::open(dir, flags, Mode::empty()).map_err(|e| {
        // O_NOFOLLOW|O_DIRECTORY on a symlink fails with ELOOP or ENOTDIR: say which it is.
        let is_link = std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink());
        match e {
            Errno::LOOP => symlink_error(dir),
            Errno::NOTDIR if is_link => symlink_error(dir),
            _ => Error::os(e.into(), "open registry directory", dir),
        }
    })?;
    let st =
        rustix::fs::fstat(&fd).map_err(|e| Error::os(e.into(), "stat registry directory", dir))?;
    check_dir(&st, dir, policy)?;
    Ok(fd)
}

/// Open `name` in `dir` with `flags` plus `O_CLOEXEC|O_NOFOLLOW|O_NOCTTY`, creating it with
/// `mode` when `flags` has `O_CREAT`.
/// Test: `super::tests::refuses_symlinks_and_world_writable_dirs`.
pub fn openat(dir: &OwnedFd, name: &CString, flags: OFlags, mode: u32) -> rustix::io::Result<File> {
    let flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NOCTTY;
    let fd = rustix::fs::openat(dir, name.as_c_str(), flags, Mode::from_raw_mode(mode))?;
    Ok(File::from(fd))
}

/// `lstat` of `name` in `dir`; `None` when it does not exist.
/// Test: `super::tests::refuses_symlinks_and_world_writable_dirs`.
pub fn statat_nofollow(dir: &OwnedFd, name: &CString) -> io::Result<Option<Stat>> {
    match rustix::fs::statat(dir, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
