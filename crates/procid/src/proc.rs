//! The one reader of `/proc/PID`: the one `/proc/PID/stat` parser, and a directory fd that
//! every other per-process read is made relative to.
//!
//! Why: the state letter, the `PF_EXITING` flag and the start time all come from one line of
//! `/proc/PID/stat`, and sole needs them in several decisions (liveness, identity, handles,
//! recorded identities). One parser means one answer to "the fields follow the *last* `)`"
//! (the command name may contain spaces and parentheses) and to "which states are gone".
//!
//! Race closed here: reading `/proc/PID/stat`, then `/proc/PID/exe`, then the owner, each by
//! path, could mix two processes if the pid is reused between the reads. [`ProcDir`] opens the
//! directory `/proc/PID` once (as procfs's `Process` does) and reads everything relative to
//! that fd with `openat`/`readlinkat`/`fstat`: the fd is bound to the process it was opened
//! for, so once that process is gone every later read fails (`ESRCH`) instead of answering
//! for a newcomer with the same number. A single read of one file ([`Stat::read`]) needs no
//! directory fd: the kernel fills it from one process.
//! Test: `tests::*` below; `identity::tests`, `pid::tests`.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;

use rustix::fs::{Mode, OFlags};

use sole_error::Result;

use crate::identity::exhausted;
use crate::pid::Pid;

/// `PF_EXITING` in the flags field (9) of `/proc/PID/stat`: the kernel is tearing the process
/// down.
const PF_EXITING: u64 = 0x4;

/// The fields of `/proc/PID/stat` sole uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// The one-letter state (field 3): `R`, `S`, `Z`, …
    pub state: u8,
    /// The kernel's per-process flags (field 9).
    pub flags: u64,
    /// Clock ticks since boot at which the process started (field 22), fixed at fork.
    pub start_time: u64,
}

impl Stat {
    /// Parse the text of `/proc/PID/stat`. The fields are taken after the *last* `)`: the
    /// command name may contain spaces and parentheses. `None` for anything malformed.
    /// Test: `tests::stat_is_parsed_after_the_last_paren`.
    pub fn parse(stat: &[u8]) -> Option<Stat> {
        let i = stat.iter().rposition(|&b| b == b')')?;
        let rest = std::str::from_utf8(&stat[i + 1..]).ok()?;
        let mut f = rest.split_ascii_whitespace();
        let state = f.next()?.bytes().next()?;
        // After the state (field 3): ppid pgrp session tty_nr tpgid, then flags (field 9).
        let flags = f.nth(5)?.parse().ok()?;
        // Field 22 is 13 further on.
        let start_time = f.nth(12)?.parse().ok()?;
        Some(Stat {
            state,
            flags,
            start_time,
        })
    }

    /// `/proc/PID/stat` read by path in one read; `None` when there is no such process (or
    /// `/proc` hides it).
    pub fn read(pid: Pid) -> Option<Stat> {
        Stat::read_checked(pid).ok().flatten()
    }

    /// [`Stat::read`] for a caller that decides from the answer: `None` when there is no such
    /// process (or `/proc` hides it), `Err` when this process is out of descriptors or memory
    /// (the process may well be alive: [`exhausted`]).
    pub fn read_checked(pid: Pid) -> Result<Option<Stat>> {
        match std::fs::read(format!("/proc/{}/stat", pid.get())) {
            Ok(stat) => Ok(Stat::parse(&stat)),
            Err(e) => exhausted(pid, &e).map_or(Ok(None), Err),
        }
    }

    /// A zombie or dead process (`Z`, `X`, `x`): it has exited and holds nothing.
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, b'Z' | b'X' | b'x')
    }

    /// Exited, or being torn down (`PF_EXITING`): it holds nothing for long.
    pub fn is_gone_or_going(&self) -> bool {
        self.is_zombie() || self.flags & PF_EXITING != 0
    }
}

/// An open `/proc/PID` directory, bound to one process (see the module doc).
#[derive(Debug)]
pub struct ProcDir {
    dir: OwnedFd,
    pid: Pid,
}

impl ProcDir {
    /// Open `/proc/PID` (`O_DIRECTORY | O_CLOEXEC`). `Err` when there is no such process.
    pub fn open(pid: Pid) -> std::io::Result<ProcDir> {
        let dir = rustix::fs::open(
            format!("/proc/{}", pid.get()),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(ProcDir { dir, pid })
    }

    /// Read the file `name` of this process (relative to the directory fd).
    fn read(&self, name: &str, buf: &mut Vec<u8>) -> std::io::Result<()> {
        let fd = rustix::fs::openat(
            &self.dir,
            name,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        buf.clear();
        File::from(fd).read_to_end(buf)?;
        Ok(())
    }

    /// This process's `stat`; `None` once it is gone.
    pub fn stat(&self) -> Option<Stat> {
        self.stat_checked().ok().flatten()
    }

    /// [`ProcDir::stat`] as [`Stat::read_checked`] decides: `Err` only when this process is
    /// out of descriptors or memory.
    pub fn stat_checked(&self) -> Result<Option<Stat>> {
        let mut buf = Vec::with_capacity(512);
        match self.read("stat", &mut buf) {
            Ok(()) => Ok(Stat::parse(&buf)),
            Err(e) => exhausted(self.pid, &e).map_or(Ok(None), Err),
        }
    }

    /// `(exe path, deleted)` from `readlinkat(dir, "exe")`; `None` when unreadable (another
    /// user's process without privilege, kernel threads).
    pub fn exe(&self) -> Option<(String, bool)> {
        let link = rustix::fs::readlinkat(&self.dir, "exe", Vec::new()).ok()?;
        Some(split_deleted(&link.to_string_lossy()))
    }

    /// The effective uid of the process (the owner of `/proc/PID`).
    pub fn uid(&self) -> Option<u32> {
        rustix::fs::fstat(&self.dir).ok().map(|st| st.st_uid)
    }
}

/// The kernel appends " (deleted)" to the exe link of a binary that was replaced or removed.
/// Test: `tests::deleted_suffix_is_split`.
pub fn split_deleted(link: &str) -> (String, bool) {
    match link.strip_suffix(" (deleted)") {
        Some(p) => (p.to_string(), true),
        None => (link.to_string(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_parsed_after_the_last_paren() {
        let line = b"42 (a) b) c) S 1 2 3 4 5 4194564 7 8 9 10 11 12 13 14 15 16 17 18 999 20 21\n";
        let s = Stat::parse(line).unwrap();
        assert_eq!((s.state, s.flags, s.start_time), (b'S', 4194564, 999));
        assert!(s.is_gone_or_going(), "PF_EXITING (0x4) is set in 4194564");
        assert_eq!(Stat::parse(b"garbage"), None);
        assert_eq!(Stat::parse(b"1 (x) S 1 2"), None, "truncated");
    }

    #[test]
    fn own_stat_by_path_and_by_dir_agree() {
        let me = Pid::new(i64::from(std::process::id())).unwrap();
        let dir = ProcDir::open(me).unwrap();
        let a = dir.stat().unwrap();
        let b = Stat::read(me).unwrap();
        assert_eq!(a.start_time, b.start_time);
        assert!(!a.is_gone_or_going());
        assert_eq!(dir.uid(), Some(rustix::process::geteuid().as_raw()));
        assert!(dir.exe().is_some());
    }

    #[test]
    fn deleted_suffix_is_split() {
        assert_eq!(
            split_deleted("/usr/bin/node (deleted)"),
            ("/usr/bin/node".to_string(), true)
        );
        assert_eq!(split_deleted("/bin/x"), ("/bin/x".to_string(), false));
    }
}
