//! A read-only look at a registry: what `sole scope list` and `sole status` show an operator.
//!
//! Why not [`Registry::open`](super::Registry::open) and `list()`: opening creates the
//! directory and the lock file, and every operation reclaims stale allocations before it
//! answers, so an operator who asks "who holds what?" would change the machine by asking and
//! would never see the stale entries they came to find. A snapshot creates nothing, takes no
//! lock and writes nothing.
//!
//! Why a read without the lock is still one whole table: the registry replaces its data file
//! only by writing a temporary file, fsyncing it and renaming it over the old one
//! ([`crate::store`]), so any `open` of the data file reaches one complete table that some
//! finished operation wrote, never a half-written one. The answer can be stale a moment later
//! (another process may operate right after), which is the nature of looking, and is said in
//! the CLI's help.
//!
//! Liveness is judged by the very rule the registry reclaims by
//! ([`SystemLiveness::decide`](crate::SystemLiveness::decide)), and the bytes are decoded by
//! the registry's own codec: a file the registry would call corrupt is `ECORRUPT` here too.
//! Test: `tests::snapshot_reads_without_creating_and_judges_liveness`.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use sole_error::{Error, Result};
use sole_lock::fs::{self as sfs, not_regular, Flags};

use crate::store::checks::DirPolicy;
use crate::store::fs::{open_error, symlink_error};
use crate::store::path;
use crate::table::{Allocation, Table};
use crate::SystemLiveness;

/// What a registry's data file held at one instant.
/// Test: `tests::snapshot_reads_without_creating_and_judges_liveness`.
#[derive(Debug)]
pub struct Snapshot {
    /// The data file looked at (the default location when the caller named none).
    pub path: PathBuf,
    /// `false` when there is no data file (or no directory): a registry nobody has written.
    pub exists: bool,
    /// Every allocation in table order, with whether its owner is still the recorded process.
    pub allocations: Vec<(Allocation, bool)>,
}

impl Snapshot {
    /// JSON `{ path, exists, allocations: [{ ...allocation as stored, live }] }`, the form the
    /// binding hands to JavaScript (`scopeSnapshot`).
    /// Test: `__test__/cli-scope.spec.ts` (through `sole scope list --json`).
    pub fn to_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Judged<'a> {
            #[serde(flatten)]
            allocation: &'a Allocation,
            live: bool,
        }
        #[derive(serde::Serialize)]
        struct Out<'a> {
            path: std::borrow::Cow<'a, str>,
            exists: bool,
            allocations: Vec<Judged<'a>>,
        }
        crate::json::to_json(&Out {
            path: self.path.to_string_lossy(),
            exists: self.exists,
            allocations: self
                .allocations
                .iter()
                .map(|(allocation, live)| Judged {
                    allocation,
                    live: *live,
                })
                .collect(),
        })
    }
}

/// Read the registry at `path` (or the default location) without creating, locking or
/// changing anything. Refusals: a symlink as the data file (or as sole's private default
/// directory) is `ESYMLINK`, a directory or special file `ENOTREG`, a table the registry did
/// not write `ECORRUPT`; other failures carry their errno.
/// Test: `tests::snapshot_reads_without_creating_and_judges_liveness`.
pub fn snapshot(path: Option<&str>) -> Result<Snapshot> {
    let (data_path, policy) = path::locate(path)?;
    path::refuse_directory(&data_path)?;
    let absent = |p: &Path| Snapshot {
        path: p.to_path_buf(),
        exists: false,
        allocations: Vec::new(),
    };
    let (dir_path, name) = path::split(&data_path)?;
    let dir = match sfs::open_dir(&dir_path, policy != DirPolicy::Private) {
        Ok(d) => d,
        Err(e) if sfs::errno(&e) == Some(Errno::NOENT) => return Ok(absent(&data_path)),
        Err(e) if sfs::errno(&e) == Some(Errno::LOOP) => return Err(symlink_error(&dir_path)),
        Err(e) => return Err(open_error(e, "open registry directory", &dir_path)),
    };
    let Some(bytes) = read_data(&dir, name, &data_path)? else {
        return Ok(absent(&data_path));
    };
    let table = Table::parse(&bytes, &data_path)?;
    let allocations = table
        .allocations
        .into_iter()
        .map(|a| {
            let live = SystemLiveness::decide(&a).map_err(|e| e.with_path(&data_path))?;
            Ok((a, live))
        })
        .collect::<Result<_>>()?;
    Ok(Snapshot {
        path: data_path,
        exists: true,
        allocations,
    })
}

/// Largest data file a snapshot reads: far above any table the registry writes (10,000
/// allocations are about 5 MB), so that `sole status` of some huge file that happens to start
/// with `{` answers at once instead of reading gigabytes.
pub const MAX_SNAPSHOT_BYTES: u64 = 256 * 1024 * 1024;

/// The data file's bytes (`None` when absent), opened `O_NOFOLLOW` relative to the directory
/// and checked to be a regular file of at most [`MAX_SNAPSHOT_BYTES`] before it is read.
fn read_data(
    dir: &impl std::os::fd::AsFd,
    name: &OsStr,
    data_path: &Path,
) -> Result<Option<Vec<u8>>> {
    let mut f = match sfs::openat(dir, name, Flags::RDONLY | Flags::NONBLOCK, 0) {
        Ok(f) => f,
        Err(e) if sfs::errno(&e) == Some(Errno::NOENT) => return Ok(None),
        Err(e) if sfs::errno(&e) == Some(Errno::LOOP) => return Err(symlink_error(data_path)),
        Err(e) => return Err(open_error(e, "open registry data file", data_path)),
    };
    let st = sfs::fstat(&f).map_err(|e| Error::os(e, "stat registry data file", data_path))?;
    if !st.is_regular() {
        return Err(not_regular(data_path, st.type_phrase()));
    }
    if u64::try_from(st.size).unwrap_or(0) > MAX_SNAPSHOT_BYTES {
        return Err(crate::table::codec::corrupt(
            data_path,
            format!(
                "it is {} bytes, larger than any table the registry writes",
                st.size
            ),
        ));
    }
    let mut buf = Vec::with_capacity(usize::try_from(st.size).unwrap_or(0) + 1);
    (&mut f)
        .take(MAX_SNAPSHOT_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::os(e, "read registry data file", data_path))?;
    Ok(Some(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    /// A registry with one allocation owned by this (live) process and one whose owner is a
    /// reaped child: the snapshot names both, judges them, and creates nothing where there was
    /// nothing; a corrupt file is `ECORRUPT`, a symlinked data file `ESYMLINK`.
    #[test]
    fn snapshot_reads_without_creating_and_judges_liveness() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("sub").join("scope.json");
        let s = snapshot(Some(data.to_str().unwrap())).unwrap();
        assert!(!s.exists && s.allocations.is_empty());
        assert!(
            !dir.path().join("sub").exists(),
            "a snapshot created the directory"
        );

        let r = Registry::open(Some(data.to_str().unwrap())).unwrap();
        let me = std::process::id() as i32;
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id() as i32;
        child.wait().unwrap();
        let mut t = Table::new();
        for (name, pid) in [("live", me), ("dead", dead)] {
            let (start_time, boot_id) = crate::table::liveness::capture_identity(
                sole_procid::Pid::new(i64::from(me)).unwrap(),
            )
            .unwrap();
            t.allocations.push(Allocation {
                name: name.into(),
                pid,
                start_time,
                boot_id,
                socket: None,
                scopes: Vec::new(),
                delegated_from: None,
                session_id: None,
            });
        }
        std::fs::write(&data, t.to_bytes()).unwrap();
        let before = std::fs::read(&data).unwrap();
        let s = snapshot(Some(data.to_str().unwrap())).unwrap();
        assert!(s.exists);
        let judged: Vec<(&str, bool)> = s
            .allocations
            .iter()
            .map(|(a, live)| (a.name.as_str(), *live))
            .collect();
        assert_eq!(judged, [("live", true), ("dead", false)]);
        assert_eq!(
            std::fs::read(&data).unwrap(),
            before,
            "a snapshot changed the file"
        );
        drop(r);

        std::fs::write(&data, b"{not a table").unwrap();
        let e = snapshot(Some(data.to_str().unwrap())).unwrap_err();
        assert_eq!(e.code(), "ECORRUPT");
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&data, &link).unwrap();
        let e = snapshot(Some(link.to_str().unwrap())).unwrap_err();
        assert_eq!(e.code(), "ESYMLINK");
        let e = snapshot(Some(dir.path().to_str().unwrap())).unwrap_err();
        assert_eq!(e.code(), "ENOTREG");
        // A sparse file larger than the cap: refused from its size, never read.
        let huge = dir.path().join("huge.json");
        std::fs::File::create(&huge)
            .unwrap()
            .set_len(MAX_SNAPSHOT_BYTES + 1)
            .unwrap();
        let e = snapshot(Some(huge.to_str().unwrap())).unwrap_err();
        assert_eq!(e.code(), "ECORRUPT");
        assert!(e.to_string().contains("larger than any table"), "{e}");
    }
}
