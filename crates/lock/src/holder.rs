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
//! Test: `tests::finds_own_lock_by_inode`, and the harness's third-process reads.

/// One flock on the inode we asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    /// The pid that took the lock, as seen from our pid namespace (0 or -1 if not visible).
    pub pid: i32,
    /// `true` for `LOCK_EX`, `false` for `LOCK_SH`.
    pub exclusive: bool,
}

/// The granted flocks on (`dev`, `ino`), in the kernel's order. Waiters (`->` lines) are
/// skipped. An unreadable `/proc/locks` yields an empty list.
///
/// `/proc/locks` is generated one page per `read(2)`: within a page the list is a consistent
/// snapshot, but between pages other processes' locks can come and go, the kernel's position
/// shifts and an entry can be skipped. A file that fits in one read is exact; for a longer
/// one, an answer of "no holder" is confirmed by reading again (a held lock is missed only if
/// every read skips it), and a holder seen once is believed.
#[cfg(target_os = "linux")]
pub fn flock_holders(dev: u64, ino: u64) -> Vec<Holder> {
    for _ in 0..5 {
        let Some((text, reads)) = read_proc_locks() else {
            return Vec::new();
        };
        let found = parse_proc_locks(&text, dev, ino);
        if !found.is_empty() || reads <= 1 {
            return found;
        }
    }
    Vec::new()
}

/// The text of `/proc/locks` and how many non-empty `read(2)` calls it took.
#[cfg(target_os = "linux")]
fn read_proc_locks() -> Option<(String, usize)> {
    use std::io::Read;
    let mut f = std::fs::File::open("/proc/locks").ok()?;
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
            Err(_) => return None,
        }
    }
    Some((String::from_utf8_lossy(&out).into_owned(), reads))
}

#[cfg(not(target_os = "linux"))]
pub fn flock_holders(_dev: u64, _ino: u64) -> Vec<Holder> {
    Vec::new()
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
}
