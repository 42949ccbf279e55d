//! The identity record: who wrote a pidfile, kept beside the pid in the file's
//! `user.sole.identity` extended attribute (format: `sole_procid::Record`).
//!
//! Why: the content stays `PID\n` for other tools, but after a crash a reader needs more than
//! a pid to tell the writer from a process that got the same number later. The record is
//! written on the same inode, under the claim's lock and before the fsync, and removed before
//! the file is emptied on release, so a record never outlives the pid it describes. Best
//! effort by design: a filesystem without user xattrs simply has no record (see the crate doc
//! for what the record decides, and `read.rs` for where).
//! Test: `crate::read::tests::unlocked_files_are_judged_by_their_identity_record`,
//! `crate::claim::tests::release_empties_and_keeps_file`.

use std::io;

use rustix::fs::XattrFlags;
use sole_error::Result;
use sole_procid::identity::{identity, Identity, Record};

/// The extended attribute holding the writer's identity record.
pub const RECORD_XATTR: &str = "user.sole.identity";

/// Store this process's identity record on the claimed file. Best effort by design: a
/// filesystem without user xattrs (or a full one) leaves the file without a record, which
/// costs readers only the post-crash identity check, never correctness of the claim.
pub(crate) fn write_record(f: &std::fs::File, pid: i32) {
    let Ok(id) = own_identity(pid) else { return };
    let _ = set_record_text(f, &Record::of(&id, true).to_text());
}

/// Set the `user.sole.identity` attribute of an open file to `text`.
pub(crate) fn set_record_text(f: &std::fs::File, text: &str) -> io::Result<()> {
    rustix::fs::fsetxattr(f, RECORD_XATTR, text.as_bytes(), XattrFlags::empty())?;
    Ok(())
}

pub(crate) fn remove_record(f: &std::fs::File) {
    // ENODATA (there is none) is fine: the point is that none is left.
    let _ = rustix::fs::fremovexattr(f, RECORD_XATTR);
}

/// This process's identity, read once per pid (a forked child has another pid).
fn own_identity(pid: i32) -> Result<Identity> {
    static OWN: std::sync::Mutex<Option<Identity>> = std::sync::Mutex::new(None);
    let mut g = OWN.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(id) = g.as_ref().filter(|id| id.pid == pid) {
        return Ok(id.clone());
    }
    let id = identity(sole_procid::Pid::from_i32(pid)?)?;
    *g = Some(id.clone());
    Ok(id)
}

/// The identity record of an open pidfile, if it has a well-formed one.
pub(crate) fn read_record(f: &std::fs::File) -> Option<Record> {
    let mut buf = [0u8; 256];
    // ERANGE (a longer value than any record) or ENODATA: no record.
    let n = rustix::fs::fgetxattr(f, RECORD_XATTR, &mut buf[..]).ok()?;
    if n == 0 {
        return None;
    }
    Record::parse(std::str::from_utf8(&buf[..n]).ok()?)
}
