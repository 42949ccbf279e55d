//! The daemon-lock API: the same claim as a pidfile, named `daemon.lock` in a directory and
//! worded as a "lock file" in refusals.
//!
//! Why: many programs want "one instance per directory" rather than a pidfile at a path they
//! choose. It is the same mechanism ([`crate::claim`]), so it closes the same races; only the
//! path and the wording differ.
//! Test: `tests::daemon_lock_api`; `__test__/pidfile.spec.ts`.

use std::path::{Path, PathBuf};

use sole_error::Result;
use sole_lock::{open, OpenOptions};

use crate::claim::{claim_as, Noun, Pidfile};
use crate::read::{first_line_pid, read_head};

/// The file name [`daemon_lock_path`] uses inside a directory.
pub const DAEMON_LOCK_FILENAME: &str = "daemon.lock";

/// `dir/daemon.lock`. Takes a directory so tests never mutate the environment.
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
    Ok(first_line_pid(&read_head(&o.file, path)?).map(|p| p.get()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;

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
}
