//! Which filesystem a lock file is on, and whether `flock(2)` there is a lock at all.
//!
//! Why: `flock` is a lock only where every process that opens the file sees the same lock
//! table. On NFS the kernel emulates it with byte-range locks through the server (NFSv4), or
//! keeps it local to one client (`nolock`), so two hosts may both "hold" it; on SMB/CIFS, FUSE,
//! 9p and the cluster filesystems it depends on a server or a daemon sole cannot see. A lock
//! file there looks held and is not. sole refuses such a file with `EREMOTEFS`, naming the
//! filesystem, unless the caller says the mount is sound (`allowNetworkFs`).
//!
//! The decision is made on the descriptor that will carry the lock (`fstatfs`), so it is about
//! exactly the file locked, not a path that might have been swapped since.
//! Test: `tests::*` below (the table; "NFS" through the `fstatfs` seam), and
//! `__test__/integrity.spec.ts` (a real FUSE mount made with bindfs).

use std::os::fd::AsFd;
use std::path::Path;

use sole_error::{Error, Kind, Result};

/// `statfs` `f_type` magic numbers of filesystems where `flock` is not a host-wide kernel lock,
/// with the name a message gives them (from the kernel's `include/uapi/linux/magic.h` and the
/// filesystems' own sources).
pub const NETWORK_FS: &[(i64, &str)] = &[
    (0x6969, "NFS"),
    (0x517B, "SMB"),
    (0xFE53_4D42, "SMB2"),
    (0xFF53_4D42, "CIFS"),
    (0x6573_5546, "FUSE"),
    (0x0102_1997, "9p"),
    (0x00C3_6400, "Ceph"),
    (0x5346_414F, "AFS"),
    (0x6B41_4653, "kAFS"),
    (0x7375_7245, "Coda"),
    (0x0116_1970, "GFS2"),
    (0x7461_636F, "OCFS2"),
    (0x0BD0_0BD0, "Lustre"),
    (0x4750_4653, "GPFS"),
    (0x2003_0528, "OrangeFS"),
    (0x786F_4256, "VirtualBox shared folder"),
];

/// The name of the network filesystem `f_type` denotes, or `None` for a local one.
/// Test: `tests::table`.
pub fn network_fs_name(f_type: i64) -> Option<&'static str> {
    NETWORK_FS
        .iter()
        .find(|(magic, _)| *magic == f_type)
        .map(|(_, name)| *name)
}

/// The network filesystem `path` is on (its name, as in [`NETWORK_FS`]), for display
/// (`readPidfile`, `sole status`); `None` on a local filesystem or when `statfs` fails.
/// Test: `__test__/integrity.spec.ts`.
pub fn network_fs_of_path(path: &Path) -> Option<String> {
    let t = rustix::fs::statfs(path).ok()?.f_type as i64;
    network_fs_name(t).map(str::to_string)
}

/// `f_type` of the filesystem `file` is on.
fn f_type(file: &impl AsFd) -> rustix::io::Result<i64> {
    Ok(rustix::fs::fstatfs(file)?.f_type as i64)
}

/// Refuse `file` (opened from `path`) with `EREMOTEFS` when it is on a network filesystem and
/// the caller did not allow that. A failing `fstatfs` is not a refusal (the file is open and
/// lockable; the kernel just did not say where it lives).
/// Test: `tests::refuses_network_fs_unless_allowed`.
pub fn check(file: &impl AsFd, path: &Path, allow_network_fs: bool) -> Result<()> {
    check_with(file, path, allow_network_fs, f_type)
}

/// [`check`] with the `fstatfs` behind a seam, so a test can be on "NFS" without a server.
fn check_with<F: AsFd>(
    file: &F,
    path: &Path,
    allow_network_fs: bool,
    f_type: impl FnOnce(&F) -> rustix::io::Result<i64>,
) -> Result<()> {
    if allow_network_fs {
        return Ok(());
    }
    let Ok(t) = f_type(file) else { return Ok(()) };
    match network_fs_name(t) {
        None => Ok(()),
        Some(name) => Err(refused(path, name, t)),
    }
}

/// The `EREMOTEFS` error for `path` on the filesystem `name` (`f_type` `t`).
pub fn refused(path: &Path, name: &str, t: i64) -> Error {
    Error::new(
        Kind::RemoteFs,
        format!(
            "{} is on a {name} filesystem (statfs f_type {t:#x}), where flock(2) is not a lock every process sees (it may be emulated through a server, local to one client, or not enforced), so two processes could both own it. Put lock files and pidfiles on a local filesystem (/run, $XDG_RUNTIME_DIR; not /tmp, which cleaners age), or pass {{ allowNetworkFs: true }} if you know this mount's locks are sound.",
            path.display()
        ),
    )
    .with_path(path)
    .with_detail("filesystem", name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(network_fs_name(0x6969), Some("NFS"));
        assert_eq!(network_fs_name(0x6573_5546), Some("FUSE"));
        // ext4, tmpfs, xfs, btrfs, overlayfs are local.
        for local in [0xEF53, 0x0102_1994, 0x5846_5342, 0x9123_683E, 0x794C_7630] {
            assert_eq!(network_fs_name(local), None, "{local:#x}");
        }
    }

    #[test]
    fn refuses_network_fs_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let f = std::fs::File::create(&p).unwrap();
        check(&f, &p, false).unwrap();
        let nfs = |_: &std::fs::File| Ok(0x6969);
        let e = check_with(&f, &p, false, nfs).unwrap_err();
        assert_eq!(e.code(), "EREMOTEFS");
        assert!(e.message().contains("NFS filesystem"), "{}", e.message());
        assert!(e.message().contains("allowNetworkFs"), "{}", e.message());
        assert_eq!(e.path(), Some(p.as_path()));
        check_with(&f, &p, true, nfs).unwrap();
        // fstatfs failing is not a refusal.
        check_with(&f, &p, false, |_| Err(rustix::io::Errno::NOSYS)).unwrap();
    }
}
