//! Fencing tokens: a number that only increases, handed out with each fenced grant of a lock.
//!
//! Why: a lock tells a holder that nobody else holds it *now*; it cannot stop a holder that was
//! paused (GC, SIGSTOP, swapped out) from writing after everyone else decided it was gone (an
//! operator's `sole kill`, a scope reclaim, a timeout elsewhere) and a new holder was granted the
//! lock. The remedy of Chubby and ZooKeeper: every grant carries a number greater than every
//! number any earlier holder got, the holder passes it along with each write, and the protected
//! resource rejects a write whose token is smaller than one it has already seen. The late writer
//! is then refused by the resource itself, whatever its clock or scheduler did.
//!
//! How: the last token lives in the `user.sole.fence` extended attribute of the locked file
//! itself (decimal text), so a pidfile's content stays `PID\n` and the token follows the inode
//! (never unlinked, R1). Under an exclusive lock, and only there: read it (absent = 0), add 1,
//! write it, `fsync` the descriptor, and only then return the token. So:
//! - two holders cannot read the same value (the read-modify-write happens under the flock);
//! - a holder killed between the write and the `fsync` never returned its token to anyone: the
//!   next holder reads the written value (the kernel keeps it) and goes above it; after a power
//!   loss the write may be gone, but so is the holder that never used it;
//! - a returned token is durable, so a reboot cannot hand it out again.
//!
//! A filesystem without user xattrs (some FUSE and network filesystems; tmpfs before 6.6)
//! cannot keep a token: a fenced grant there fails with `EOPNOTSUPP` naming the path, and the
//! lock is released, rather than handing out a number that would not survive.
//! Test: `tests::*` below, `tests/fencing.rs` (a process SIGKILLed between the write and the
//! fsync), `__test__/fencing.spec.ts`.

use std::fs::File;
use std::path::Path;

use rustix::fs::XattrFlags;
use rustix::io::Errno;
use sole_error::{Error, Kind, Result};

/// The extended attribute that keeps the last token handed out for a file.
pub const FENCE_XATTR: &str = "user.sole.fence";

/// Longest text a token can be (`u64::MAX` has 20 digits).
const MAX_LEN: usize = 32;

fn unsupported(path: &Path, e: Errno) -> Error {
    Error::new(
        Kind::Os(e.raw_os_error()),
        format!(
            "cannot keep a fencing token for {}: its filesystem does not support user extended attributes ({FENCE_XATTR}). Fencing needs user xattrs: put the file on a filesystem that has them (ext4, xfs, btrfs, tmpfs on Linux 6.6+), or lock without {{ fencing: true }}.",
            path.display()
        ),
    )
    .with_path(path)
}

fn corrupt(path: &Path, raw: &[u8]) -> Error {
    Error::new(
        Kind::Corrupt,
        format!(
            "the fencing token of {} ({FENCE_XATTR}) is not a decimal number: {:?}. Something other than sole wrote it; it is left as it is.",
            path.display(),
            String::from_utf8_lossy(raw)
        ),
    )
    .with_path(path)
}

/// The last token stored on `f` (0 when it was never fenced).
fn stored(f: &File, path: &Path) -> Result<u64> {
    let mut buf = [0u8; MAX_LEN];
    match rustix::fs::fgetxattr(f, FENCE_XATTR, &mut buf[..]) {
        Ok(n) => {
            let raw = &buf[..n];
            std::str::from_utf8(raw)
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| corrupt(path, raw))
        }
        Err(Errno::NODATA) => Ok(0),
        Err(Errno::RANGE) => {
            let mut big = vec![0u8; 4096];
            let n = rustix::fs::fgetxattr(f, FENCE_XATTR, &mut big[..])
                .map_err(|e| Error::os(e.into(), "read fencing token", path))?;
            Err(corrupt(path, &big[..n]))
        }
        Err(e) if e == Errno::OPNOTSUPP => Err(unsupported(path, e)),
        Err(e) => Err(Error::os(e.into(), "read fencing token", path)),
    }
}

/// Hand out the next token of the file `f` (on which the caller holds an exclusive flock):
/// read, add 1, write, fsync, return. Test: `tests::tokens_increase_and_survive_reopen`.
pub fn advance(f: &File, path: &Path) -> Result<u64> {
    advance_with(f, path, || {})
}

/// [`advance`], running `between` after the write and before the fsync (the seam a test kills
/// a process in; `tests/fencing.rs`).
#[doc(hidden)]
pub fn advance_with(f: &File, path: &Path, between: impl FnOnce()) -> Result<u64> {
    let next = stored(f, path)?.checked_add(1).ok_or_else(|| {
        Error::new(
            Kind::Corrupt,
            format!(
                "the fencing token of {} is at its maximum ({}): no greater one exists",
                path.display(),
                u64::MAX
            ),
        )
        .with_path(path)
    })?;
    match rustix::fs::fsetxattr(
        f,
        FENCE_XATTR,
        next.to_string().as_bytes(),
        XattrFlags::empty(),
    ) {
        Ok(()) => {}
        Err(e) if e == Errno::OPNOTSUPP => return Err(unsupported(path, e)),
        Err(e) => return Err(Error::os(e.into(), "write fencing token", path)),
    }
    between();
    f.sync_all()
        .map_err(|e| Error::os(e, "fsync fencing token", path))?;
    Ok(next)
}

/// The last token handed out for `path`, read without locking: `Ok(None)` when the file does
/// not exist, `Ok(Some(0))` when it was never fenced (or its filesystem has no user xattrs, so
/// it never could be). Never creates, never follows a symlink.
/// Test: `tests::read_without_lock`.
pub fn read(path: &Path) -> Result<Option<u64>> {
    let Some(o) = crate::open::open_for_read(path)? else {
        return Ok(None);
    };
    match stored(&o.file, path) {
        Err(e) if e.errno() == Some(Errno::OPNOTSUPP.raw_os_error()) => Ok(Some(0)),
        r => r.map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Lock, Mode, OpenOptions};

    fn fenced() -> OpenOptions {
        OpenOptions {
            fencing: true,
            ..Default::default()
        }
    }

    #[test]
    fn tokens_increase_and_survive_reopen() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.lock");
        assert_eq!(read(&p).unwrap(), None);
        let mut last = 0;
        for _ in 0..5 {
            let l = Lock::try_lock(&p, Mode::Exclusive, &fenced())
                .unwrap()
                .unwrap();
            let t = l.token().unwrap();
            assert!(t > last, "{t} > {last}");
            last = t;
        }
        assert_eq!(read(&p).unwrap(), Some(last));
        // A lock without fencing neither reads nor moves the token.
        let l = Lock::try_lock(&p, Mode::Exclusive, &OpenOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(l.token(), None);
        drop(l);
        let h = crate::Handle::open(&p, &fenced()).unwrap();
        assert_eq!(
            h.lock(Mode::Exclusive, None).unwrap().token(),
            Some(last + 1)
        );
        assert_eq!(
            h.try_lock(Mode::Exclusive).unwrap().unwrap().token(),
            Some(last + 2)
        );
    }

    #[test]
    fn read_without_lock() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.lock");
        std::fs::write(&p, "").unwrap();
        assert_eq!(read(&p).unwrap(), Some(0));
        let l = Lock::try_lock(&p, Mode::Exclusive, &fenced())
            .unwrap()
            .unwrap();
        // Readable while held.
        assert_eq!(read(&p).unwrap(), l.token());
    }

    #[test]
    fn shared_fencing_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.lock");
        let e = Lock::try_lock(&p, Mode::Shared, &fenced()).unwrap_err();
        assert_eq!(e.code(), "EINVAL");
        // The refused grant was released.
        assert!(Lock::try_lock(&p, Mode::Exclusive, &OpenOptions::default())
            .unwrap()
            .is_some());
    }

    #[test]
    fn corrupt_token_is_refused_and_kept() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.lock");
        let f = File::create(&p).unwrap();
        rustix::fs::fsetxattr(&f, FENCE_XATTR, b"12x", XattrFlags::empty()).unwrap();
        let e = Lock::try_lock(&p, Mode::Exclusive, &fenced()).unwrap_err();
        assert_eq!(e.code(), "ECORRUPT");
        assert_eq!(read(&p).unwrap_err().code(), "ECORRUPT");
        rustix::fs::fsetxattr(
            &f,
            FENCE_XATTR,
            u64::MAX.to_string().as_bytes(),
            XattrFlags::empty(),
        )
        .unwrap();
        assert_eq!(
            Lock::try_lock(&p, Mode::Exclusive, &fenced())
                .unwrap_err()
                .code(),
            "ECORRUPT"
        );
    }
}
