//! Where the registry lives: the default location, and the checks on a path a caller names.
//!
//! Why decided here, once: the binding and the crate must agree on which file a registry is
//! (messages name it before it is opened), and a path that can never be valid (empty, a NUL
//! byte, longer than a path can be, a directory where the data file belongs) must be refused
//! before anything is created next to it.
//! Test: `tests::*` below.

use std::path::{Path, PathBuf};

use sole_error::{Error, Kind, Result};

use super::checks::DirPolicy;
use sole_lock::fs::euid;

/// The default registry path: `$SOLE_RUNTIME_DIR/scope.json`, else
/// `$XDG_RUNTIME_DIR/sole/scope.json`, else `<temp dir>/sole-<uid>/scope.json` (created 0700,
/// checked as [`DirPolicy::Private`]).
/// Test: `__test__/scope-args.spec.ts` (a null/undefined path is the default).
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

/// The data file of the registry at the caller's `path` ([`resolve`]d, checked as
/// [`DirPolicy::Given`]), or at the [`default_path`] when there is none.
/// Test: `__test__/scope-args.spec.ts` (open: null/undefined path is the default).
pub fn locate(path: Option<&str>) -> Result<(PathBuf, DirPolicy)> {
    match path {
        Some(p) => Ok((resolve(p)?, DirPolicy::Given)),
        None => default_path(),
    }
}

/// Longest registry path accepted, in bytes (`PATH_MAX` minus its terminating NUL).
/// Test: `tests::bad_paths_are_einval_naming_path`.
pub const MAX_PATH_BYTES: usize = 4095;

/// Resolve a caller's path once: absolute, not empty, no NUL byte, at most
/// [`MAX_PATH_BYTES`]; each refusal is `EINVAL` with `argument: "path"`.
/// Test: `tests::bad_paths_are_einval_naming_path`.
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
/// Test: `tests::a_directory_as_data_path_is_enotreg_whatever_its_parent`.
pub fn refuse_directory(data_path: &Path) -> Result<()> {
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

/// The directory and the file name of the data path (`EINVAL` when it names no file).
/// Test: `tests::a_directory_as_data_path_is_enotreg_whatever_its_parent`.
pub fn split(path: &Path) -> Result<(PathBuf, &std::ffi::OsStr)> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use std::os::unix::fs::PermissionsExt;

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
}
