//! Who may have written the registry's files: the ownership and permission rules for the
//! directory, the data file and the lock file, and the errors that name a refusal.
//!
//! Why: whoever can write the directory can swap the table, and whoever can write the data file
//! can hand themselves any scope. So a data or lock file must be a regular file owned by this
//! user and not writable by group or others, and the directory must not be writable by group
//! or others and must be owned by this user (or root, for a directory the caller named: a
//! root-owned directory is as safe as root itself). A symlink is never followed (`ESYMLINK`).
//! The same rule applies to a path the caller names as to sole's default directory.
//! Test: `super::tests::refuses_symlinks_and_world_writable_dirs`.

use std::path::Path;

use rustix::io::Errno;
use sole_error::{Error, Kind, Result};
use sole_lock::fs::{euid, not_regular, FileStat};

/// How strictly the directory is checked.
/// Test: `super::tests::refuses_symlinks_and_world_writable_dirs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirPolicy {
    /// A directory the caller named: not writable by group or others, owned by this user or
    /// root (a root-owned directory is as safe as root itself).
    Given,
    /// sole's own per-user directory in the shared temp dir: not a symlink, owned by this
    /// user, not writable by group or others.
    Private,
}

/// `EINSECURE`: `path` `why` (its owner or mode lets another user tamper with it).
/// Test: `super::tests::refuses_symlinks_and_world_writable_dirs`.
pub fn insecure(path: &Path, why: &str) -> Error {
    Error::new(
        Kind::Insecure,
        format!(
            "{} {why}, so another user could tamper with the scope registry; sole refuses to use it. Fix its owner/permissions (chown to this user, chmod go-w) or choose a private directory.",
            path.display()
        ),
    )
    .with_path(path)
}

/// Check an opened regular file (data or lock): regular (`ENOTREG` naming what it is
/// otherwise, worded by `sole_lock::fs`), ours, not group/world writable.
/// Test: `super::tests::refuses_symlinks_and_world_writable_dirs`.
pub fn check_file(st: &FileStat, path: &Path) -> Result<()> {
    if !st.is_regular() {
        return Err(not_regular(path, st.type_phrase()));
    }
    if st.uid != euid() {
        return Err(insecure(
            path,
            &format!("is owned by uid {}, not this user (uid {})", st.uid, euid()),
        ));
    }
    if st.perms() & 0o022 != 0 {
        return Err(insecure(
            path,
            &format!(
                "is writable by group or others (mode {:o})",
                st.perms() & 0o777
            ),
        ));
    }
    Ok(())
}

/// Check the opened registry directory under `policy`.
/// Test: `super::tests::refuses_symlinks_and_world_writable_dirs`.
pub fn check_dir(st: &FileStat, path: &Path, policy: DirPolicy) -> Result<()> {
    if !st.is_dir() {
        return Err(Error::new(
            Kind::Os(Errno::NOTDIR.raw_os_error()),
            format!(
                "{} is not a directory: choose a directory for the scope registry.",
                path.display()
            ),
        )
        .with_path(path));
    }
    let owner_ok = match policy {
        DirPolicy::Given => st.uid == euid() || st.uid == 0,
        DirPolicy::Private => st.uid == euid(),
    };
    if !owner_ok {
        let allowed = match policy {
            DirPolicy::Given => "this user or root",
            DirPolicy::Private => "this user",
        };
        return Err(insecure(
            path,
            &format!("(a directory) is owned by uid {}, not {allowed}", st.uid),
        ));
    }
    let mode = st.perms();
    if mode & 0o022 != 0 {
        return Err(insecure(
            path,
            &format!("(a directory) is writable by group or others (mode {mode:o})"),
        ));
    }
    Ok(())
}
