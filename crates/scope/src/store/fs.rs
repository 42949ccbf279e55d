//! The registry's directory, opened once, and the one place the store names what its files are
//! used for in errors. Every system call goes through `sole_lock::fs`, sole's one fs-helper
//! module (`O_CLOEXEC|O_NOFOLLOW|O_NOCTTY` on every open, files 0600, directories 0700, `*at`
//! calls relative to one directory fd, no `unsafe`); this file adds only what is the
//! registry's own: its directory policy and its error wording.
//!
//! Why relative to one directory fd: the directory is checked once ([`super::checks`]) and
//! every later open, stat, rename and unlink happens in *that* directory, so a directory
//! renamed or swapped for a symlink after the check cannot redirect the registry's files. A
//! symlink planted as the data or lock file fails with `ELOOP` (`ESYMLINK`) instead of being
//! followed, and no fd leaks into a child process.
//! Test: `super::tests::refuses_symlinks_and_world_writable_dirs`.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::io::Errno;
use sole_error::{Error, Result};
use sole_lock::fs;

use super::checks::{check_dir, DirPolicy};

/// What the registry's files are used for, as `sole_lock::fs`'s errors name it ("sole does
/// not follow symlinks for the scope registry").
pub const USED_FOR: &str = "the scope registry";

/// `ESYMLINK` for a registry file or directory that is a symbolic link.
/// Test: `super::tests::refuses_symlinks_and_world_writable_dirs`.
pub fn symlink_error(path: &Path) -> Error {
    fs::symlink_error(path, USED_FOR)
}

/// A failed open of a registry file (`doing`: "open registry lock file"), mapped by
/// `sole_lock::fs::open_error` (`ELOOP` under `O_NOFOLLOW`: `ESYMLINK`; a directory, socket,
/// FIFO or device: `ENOTREG`; anything else the OS error).
/// Test: `super::tests::refuses_symlinks_and_world_writable_dirs`.
pub fn open_error(err: io::Error, doing: &str, path: &Path) -> Error {
    fs::open_error(err, doing, path, USED_FOR)
}

/// Create (0700, with missing parents) and open the registry's directory, then check it under
/// `policy`. With [`DirPolicy::Private`] the directory itself must not be a symlink
/// (`ESYMLINK`); a directory the caller named may be reached through one. Scope's own wrapper
/// because the refusals name the registry and the checks are the registry's
/// ([`check_dir`]).
/// Test: `super::tests::open_creates_dir_0700_and_lock_0600_not_data`.
pub fn open_dir(dir: &Path, policy: DirPolicy) -> Result<OwnedFd> {
    fs::mkdirs(dir)?;
    let fd = fs::open_dir(dir, policy != DirPolicy::Private).map_err(|e| {
        // O_NOFOLLOW|O_DIRECTORY on a symlink fails with ELOOP or ENOTDIR: say which it is.
        let is_link = std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink());
        match fs::errno(&e) {
            Some(Errno::LOOP) => symlink_error(dir),
            Some(Errno::NOTDIR) if is_link => symlink_error(dir),
            _ => Error::os(e, "open registry directory", dir),
        }
    })?;
    let st = fs::fstat(&fd).map_err(|e| Error::os(e, "stat registry directory", dir))?;
    check_dir(&st, dir, policy)?;
    Ok(fd)
}
