//! Who holds a flock, asked of the kernel without touching the lock (docs/races.md R13, R14,
//! R16).
//!
//! Why: a refusal must say who holds the lock, and `readPidfile` must never name a process that
//! is dead or is not the holder. Reading the pid from the file's *content* cannot promise that:
//! between a new owner's `flock` and its `write` the file still holds the previous owner's pid.
//! Probing with a non-blocking `flock` of our own cannot either, and worse,
//! it would make a concurrent `claim` fail while our probe holds the lock for a moment.
//!
//! The kernel already knows: `/proc/locks` lists every flock with the pid that took it and the
//! device and inode it is on. Looking our inode up there is a read-only question, so readers
//! never disturb claimers, and the pid it answers is the locker itself, not a value a previous
//! owner left in the file. Our lock fds are `O_CLOEXEC` and locks are taken after any fork, so
//! the locker is the holder; the one exception (a process that forked after locking and then
//! exited, leaving the child holding the description) is detected because the recorded pid is
//! then dead while the lock persists, and is reported as `EUNKNOWNHOLDER` by callers rather
//! than naming a dead pid.
//! [`list_holders`] answers the operator's question (`sole status`): every live holder of a
//! file, shared ones included, with the same read-only lookup.
//! Test: `tests::finds_own_lock_by_inode`, `tests::lists_shared_holders_once_and_alive`, and
//! the harness's third-process reads.

/// One flock on the inode we asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    /// The pid that took the lock, as seen from our pid namespace (0 or -1 if not visible).
    pub pid: i32,
    /// `true` for `LOCK_EX`, `false` for `LOCK_SH`.
    pub exclusive: bool,
}

/// The granted flocks on (`dev`, `ino`), in the kernel's order. Waiters (`->` lines) are
/// skipped. An unreadable `/proc/locks` yields an empty list: for a caller that only names a
/// holder in a message; a caller that decides "free" from an empty list uses
/// [`try_flock_holders`].
#[cfg(target_os = "linux")]
pub fn flock_holders(dev: u64, ino: u64) -> Vec<Holder> {
    try_flock_holders(dev, ino).unwrap_or_default()
}

/// [`flock_holders`], with the error of an unreadable `/proc/locks` (out of descriptors:
/// `EMFILE`; no `/proc`), which must never read as "nobody holds it".
/// Test: `__test__/pidfile.spec.ts` ("out of descriptors"): a read with one descriptor to
/// spare is `EMFILE`, not free.
///
/// `/proc/locks` is generated one page per `read(2)`: within a page the list is a consistent
/// snapshot, but between pages other processes' locks can come and go, the kernel's position
/// shifts and an entry can be skipped. A file that fits in one read is exact; for a longer
/// one, an answer of "no holder" is confirmed by reading again (a held lock is missed only if
/// every read skips it), and a holder seen once is believed.
#[cfg(target_os = "linux")]
pub fn try_flock_holders(dev: u64, ino: u64) -> std::io::Result<Vec<Holder>> {
    for _ in 0..5 {
        let (text, reads) = read_proc_locks()?;
        let found = distinct(parse_proc_locks(&text, dev, ino));
        if !found.is_empty() || reads <= 1 {
            return Ok(found);
        }
    }
    Ok(Vec::new())
}

/// One entry per pid and kind, in first-seen order. A read of `/proc/locks` in several chunks
/// is not a snapshot: when locks come and go between two chunks, the kernel's list can repeat
/// an entry (or skip one: hence [`flock_holders`]' retry). A holder is a process.
/// Test: `tests::repeated_entries_are_one_holder`.
#[cfg(target_os = "linux")]
fn distinct(mut found: Vec<Holder>) -> Vec<Holder> {
    let mut seen = Vec::with_capacity(found.len());
    found.retain(|h| {
        let new = !seen.contains(h);
        if new {
            seen.push(*h);
        }
        new
    });
    found
}

/// The text of `/proc/locks` and how many non-empty `read(2)` calls it took.
#[cfg(target_os = "linux")]
fn read_proc_locks() -> std::io::Result<(String, usize)> {
    use std::io::Read;
    let mut f = std::fs::File::open("/proc/locks")?;
    let mut out = Vec::with_capacity(8192);
    let mut buf = vec![0u8; 64 * 1024];
    let mut reads = 0;
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                reads += 1;
                out.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok((String::from_utf8_lossy(&out).into_owned(), reads))
}

#[cfg(not(target_os = "linux"))]
pub fn flock_holders(_dev: u64, _ino: u64) -> Vec<Holder> {
    Vec::new()
}

#[cfg(not(target_os = "linux"))]
pub fn try_flock_holders(_dev: u64, _ino: u64) -> std::io::Result<Vec<Holder>> {
    Ok(Vec::new())
}

/// Parse `/proc/locks` text. Hand-written rather than taken from the `procfs` crate: procfs
/// reports the blocked waiters of a lock (`->` lines) as if they held it, and a waiter named
/// as the holder is exactly the lie this module exists to prevent.
/// Each granted lock is a line like
/// `3: FLOCK  ADVISORY  WRITE 1234 00:2f:5678 0 EOF`, the device as hex `major:minor`.
pub fn parse_proc_locks(text: &str, dev: u64, ino: u64) -> Vec<Holder> {
    let want = format!(
        "{:02x}:{:02x}:{}",
        rustix::fs::major(dev),
        rustix::fs::minor(dev),
        ino
    );
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // [id:, FLOCK, ADVISORY, WRITE, pid, dev:ino, start, end]; waiters have "->" at [1].
        if f.len() < 6 || f[1] != "FLOCK" || f[5] != want {
            continue;
        }
        let pid = f[4].parse::<i32>().unwrap_or(-1);
        out.push(Holder {
            pid,
            exclusive: f[3] == "WRITE",
        });
    }
    out
}

/// Every live process holding a flock on one file, and what a reader may know of the file
/// without locking it: the answer of [`list_holders`].
/// Test: `tests::lists_shared_holders_once_and_alive`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The live holders the kernel lists, in its order, each pid once (a process holding the
    /// file through two descriptions is listed once, exclusive if either lock is). Never a
    /// dead, zombie or exiting process.
    pub holders: Vec<Holder>,
    /// Locks listed whose locker is not a live process we can see (it exited and a child that
    /// inherited the description holds the lock, or it is exiting this instant).
    pub unnamed: usize,
    /// The value of the extended attribute asked for, read on the open file (never through a
    /// symlink); `None` when absent, unreadable, or the file could not be opened for reading.
    pub xattr: Option<String>,
}

/// How long [`list_holders`] waits for a dying holder's lock to vanish (as `readPidfile` does).
const DYING_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Who holds flocks on `path` (shared holders too), asked of the kernel's lock list without
/// locking, writing or following a symlink: what `sole status` shows for a file several
/// `flock -s` holders share, where `readPidfile` names one holder. `Ok(None)`: no such file.
/// A file this user may not read is looked up by `lstat` (holders only, no `xattr`).
/// Symlinks, directories and other non-regular files are refused as every open in this crate
/// refuses them (`ESYMLINK`, `ENOTREG`). A holder being SIGKILLed this instant is waited out
/// (at most [`DYING_WAIT`]) rather than listed.
/// Test: `tests::lists_shared_holders_once_and_alive`; `__test__/cli-status.spec.ts`.
pub fn list_holders(path: &std::path::Path, xattr: &str) -> sole_error::Result<Option<Listing>> {
    use std::os::unix::fs::MetadataExt;
    let (dev, ino, file) = match crate::open::open_for_read(path) {
        Ok(None) => return Ok(None),
        Ok(Some(o)) => (o.dev, o.ino, Some(o.file.clone())),
        Err(e) if e.errno() == Some(libc::EACCES) => {
            let m = std::fs::symlink_metadata(path)
                .map_err(|e| sole_error::Error::os(e, "stat lock file", path))?;
            if !m.file_type().is_file() {
                return Err(e);
            }
            (m.dev(), m.ino(), None)
        }
        Err(e) => return Err(e),
    };
    let deadline = std::time::Instant::now() + DYING_WAIT;
    let (holders, unnamed) = loop {
        let mut live: Vec<Holder> = Vec::new();
        let mut unnamed = 0;
        let mut dying = false;
        for h in flock_holders(dev, ino) {
            match sole_procid::Pid::new(i64::from(h.pid)) {
                Some(p) if p.alive_not_exiting() => {
                    match live.iter_mut().find(|x| x.pid == h.pid) {
                        Some(seen) => seen.exclusive |= h.exclusive,
                        None => live.push(h),
                    }
                }
                Some(p) if p.is_dying() => dying = true,
                _ => unnamed += 1,
            }
        }
        if !dying || std::time::Instant::now() >= deadline {
            break (live, unnamed + usize::from(dying));
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    let xattr = file.and_then(|f| {
        let mut buf = [0u8; 4096];
        let n = rustix::fs::fgetxattr(&*f, xattr, &mut buf[..]).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    });
    Ok(Some(Listing {
        holders,
        unnamed,
        xattr,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_granted_flocks_and_skips_waiters() {
        let dev = rustix::fs::makedev(0, 0x2f);
        let text = "1: POSIX  ADVISORY  WRITE 10 00:2f:99 0 EOF\n\
                    2: FLOCK  ADVISORY  WRITE 1234 00:2f:99 0 EOF\n\
                    2: -> FLOCK  ADVISORY  WRITE 1235 00:2f:99 0 EOF\n\
                    3: FLOCK  ADVISORY  READ 77 00:2f:100 0 EOF\n";
        assert_eq!(
            parse_proc_locks(text, dev, 99),
            vec![Holder {
                pid: 1234,
                exclusive: true
            }]
        );
        assert_eq!(
            parse_proc_locks(text, dev, 100),
            vec![Holder {
                pid: 77,
                exclusive: false
            }]
        );
    }

    #[test]
    fn repeated_entries_are_one_holder() {
        let a = Holder {
            pid: 7,
            exclusive: true,
        };
        let b = Holder {
            pid: 8,
            exclusive: false,
        };
        assert_eq!(distinct(vec![a, b, a, b, a]), vec![a, b]);
    }

    #[test]
    fn finds_own_lock_by_inode() {
        let dir = tempfile::tempdir().unwrap();
        let o = crate::open::open_lock_file(&dir.path().join("x"), &Default::default()).unwrap();
        assert!(flock_holders(o.dev, o.ino).is_empty());
        rustix::fs::flock(&o, rustix::fs::FlockOperation::LockExclusive).unwrap();
        assert_eq!(
            flock_holders(o.dev, o.ino),
            vec![Holder {
                pid: std::process::id() as i32,
                exclusive: true
            }]
        );
    }

    #[test]
    fn lists_shared_holders_once_and_alive() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        assert_eq!(list_holders(&p, "user.t").unwrap(), None);
        let a = crate::open::open_lock_file(&p, &Default::default()).unwrap();
        let b = crate::open::open_lock_file(&p, &Default::default()).unwrap();
        let free = list_holders(&p, "user.t").unwrap().unwrap();
        assert!(free.holders.is_empty() && free.unnamed == 0);
        rustix::fs::flock(&a, rustix::fs::FlockOperation::LockShared).unwrap();
        rustix::fs::flock(&b, rustix::fs::FlockOperation::LockShared).unwrap();
        // Two shared locks of this process: one holder, shared.
        let me = std::process::id() as i32;
        let l = list_holders(&p, "user.t").unwrap().unwrap();
        assert_eq!(
            l.holders,
            vec![Holder {
                pid: me,
                exclusive: false
            }]
        );
        // The attribute is read on the open file.
        let xa = match rustix::fs::fsetxattr(&a, "user.t", b"v1", rustix::fs::XattrFlags::empty()) {
            Ok(()) => Some("v1".to_string()),
            Err(_) => None, // a filesystem without user xattrs: none to read either
        };
        assert_eq!(list_holders(&p, "user.t").unwrap().unwrap().xattr, xa);
        assert_eq!(l.xattr, None);
        // Another process's shared lock (flock(1)) is named by its pid.
        rustix::fs::flock(&a, rustix::fs::FlockOperation::Unlock).unwrap();
        rustix::fs::flock(&b, rustix::fs::FlockOperation::Unlock).unwrap();
        let mut child = std::process::Command::new("flock")
            .args(["-s", p.to_str().unwrap(), "sleep", "30"])
            .spawn()
            .unwrap();
        let listed = loop {
            let l = list_holders(&p, "user.t").unwrap().unwrap();
            if !l.holders.is_empty() {
                break l;
            }
            std::thread::yield_now();
        };
        assert_eq!(
            listed.holders,
            vec![Holder {
                pid: child.id() as i32,
                exclusive: false
            }]
        );
        child.kill().unwrap();
        child.wait().unwrap();
        // Its lock died with it: its pid is never listed again (its `sleep` child, which
        // inherited the description, may keep the lock: that one is counted as unnamed).
        let after = list_holders(&p, "user.t").unwrap().unwrap();
        assert!(after.holders.iter().all(|h| h.pid != child.id() as i32));
        assert_eq!(
            list_holders(dir.path(), "user.t").unwrap_err().code(),
            "ENOTREG"
        );
    }
}
