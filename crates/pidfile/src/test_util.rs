//! Helpers shared by this crate's unit tests: a temporary pidfile path, a pid no process
//! has, and direct access to the identity record.

use std::path::{Path, PathBuf};

use crate::record::{read_record, set_record_text};
use crate::State;

/// (held pid, stale pid) of a state.
pub fn held_or_stale(s: &State) -> (Option<i32>, Option<i32>) {
    match s {
        State::Held { pid, .. } => (Some(*pid), None),
        State::Free { stale_pid, .. } => (None, *stale_pid),
        _ => (None, None),
    }
}

/// A pid that no process has: a reaped child's.
pub fn dead_pid() -> i32 {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    c.wait().unwrap();
    c.id() as i32
}

pub fn xattr(p: &Path) -> Option<String> {
    read_record(&std::fs::File::open(p).unwrap()).map(|r| r.to_text())
}

pub fn set_xattr(p: &Path, text: &str) {
    set_record_text(&std::fs::File::open(p).unwrap(), text)
        .expect("user xattrs must work on the test filesystem");
}

pub fn tmp() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("app.pid");
    (d, p)
}

/// Another process holding an exclusive flock on `p`: util-linux `flock(1)` with `-o` (its
/// `sleep` child does not inherit the descriptor, so the holder the kernel lists is `flock`).
pub fn flock_holder(p: &Path) -> std::process::Child {
    std::process::Command::new("flock")
        .args(["-o", "-x"])
        .arg(p)
        .args(["sleep", "30"])
        .spawn()
        .expect("flock(1) from util-linux")
}
