//! Starting a daemon: [`prepare`] everything on the caller's thread, then [`Prepared::run`]
//! the double fork and wait for readiness on a thread of the caller's choosing (the binding
//! uses a dedicated one, never libuv's pool).
//!
//! Why native: Node cannot fork itself, and `child_process.spawn(cmd, { detached: true })`
//! gives a child that is not a daemon (the caller's child, stdio tied to the caller, no
//! readiness, no pidfile, nobody told when it dies in its first second).
//!
//! The sequence (each step's race is named where it is done, in `child.rs`):
//! 1. Caller, before any fork ([`prepare`]): resolve the command through `PATH` (of the
//!    daemon's environment), the user and group and the supplementary group list, open
//!    `/dev/null`, the stdout/stderr files (append, created 0640) and the pidfile (sole's
//!    open: no symlink, regular file, CLOEXEC), build argv/envp, the error and status pipes
//!    and, for `readiness: notify`, the private notify socket. Anything wrong here is an
//!    error before a process exists.
//! 2. Fork with every signal blocked in the forking thread (a signal must not run Node's
//!    handler in the child). The caller closes its copies of the child's descriptors at once
//!    (its copy of the pidfile must not keep the daemon's lock alive).
//! 3. Intermediate process: die with the caller (PR_SET_PDEATHSIG), setsid, fork, report the
//!    daemon's pid, then wait for the daemon's end without reaping it and report it.
//! 4. Daemon: umask, stdio, claim the pidfile (flock, `PID\n`, identity record, fsync), drop
//!    privileges (groups, gid, uid), chdir, signal dispositions to default, every other
//!    descriptor close-on-exec, signal mask emptied, `execve`.
//! 5. Caller ([`wait`]): failure reports from the error pipe (`stage: setup | exec`, `EHELD`),
//!    `READY=1` / `STATUS=` / `ERRNO=` from the notify socket, the daemon's exit from the
//!    status pipe (`stage: startup`, with its exit code or signal, last status and last lines
//!    of stderr), or the caller's timeout / abort (the unready daemon is SIGKILLed through a
//!    pidfd, never by a pid that may have been recycled). Then the intermediate process is
//!    ended and reaped.
//!
//! Which way the daemon's early exit code reaches the caller: the intermediate process stays
//! the daemon's parent until the caller has its answer (it waits with `WNOWAIT`, so the
//! daemon's pid cannot be reused while the caller may still signal it), and is SIGKILLed once
//! the daemon is ready; the daemon is then reparented to init (or the nearest subreaper).
//!
//! Test: `tests::*` below; `__test__/daemon.spec.ts` (real daemons read back through /proc).

mod child;
mod prepare;
mod sys;
mod wait;

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use rustix::event::{eventfd, EventfdFlags};
use sole_error::{Error, Kind, Result};

pub use prepare::{prepare, Prepared};

/// When `spawnDaemon` resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// When the daemon sends `READY=1` over sd_notify (the default).
    Notify,
    /// When `execve` of the program succeeded.
    Exec,
    /// As soon as the daemon's pid is known (nothing after that is reported).
    None,
}

/// A user or group, by name or by number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Name(String),
    Id(u32),
}

/// What to start and how. Defaults: `cwd` `/`, `env` the caller's (without `NOTIFY_SOCKET`
/// and `WATCHDOG_*`, which belong to the caller's own supervisor), `umask` 0o027, stdio to
/// `/dev/null`, readiness [`Readiness::Notify`], `kill_on_timeout` true.
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    pub command: OsString,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    pub env: Option<Vec<(OsString, OsString)>>,
    pub pidfile: Option<PathBuf>,
    pub umask: u32,
    pub stdout: Option<PathBuf>,
    pub stderr: Option<PathBuf>,
    pub user: Option<Principal>,
    pub group: Option<Principal>,
    pub readiness: Readiness,
    pub kill_on_timeout: bool,
    /// Claim a pidfile on a network filesystem too (default false: `EREMOTEFS`).
    pub allow_network_fs: bool,
}

impl SpawnOptions {
    pub fn new(command: impl Into<OsString>) -> SpawnOptions {
        SpawnOptions {
            command: command.into(),
            args: Vec::new(),
            cwd: PathBuf::from("/"),
            env: None,
            pidfile: None,
            umask: 0o027,
            stdout: None,
            stderr: None,
            user: None,
            group: None,
            readiness: Readiness::Notify,
            kill_on_timeout: true,
            allow_network_fs: false,
        }
    }
}

/// A daemon that started and is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub pid: i32,
    /// Its last `STATUS=` before (or with) `READY=1`.
    pub status: Option<String>,
}

/// Why a start was ended from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The caller's timeout passed (`ETIMEDOUT`).
    Timeout,
    /// The caller aborted (`ECANCELED`; the TypeScript layer makes it an `AbortError`).
    Abort,
}

/// Ends a pending start from another thread: an eventfd the waiting `poll` watches, and the
/// first reason given. Test: `__test__/daemon.spec.ts` (timeout, abort).
#[derive(Debug)]
pub struct Stop {
    fd: OwnedFd,
    reason: AtomicU8,
    timeout: std::sync::Mutex<Option<Duration>>,
}

impl Stop {
    pub fn new() -> Result<Stop> {
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).map_err(|e| {
            Error::new(
                Kind::Os(e.raw_os_error()),
                format!("cannot create an eventfd to wait on: {e}. Too many open files?"),
            )
        })?;
        Ok(Stop {
            fd,
            reason: AtomicU8::new(0),
            timeout: std::sync::Mutex::new(None),
        })
    }

    /// End the start (the first reason wins); `waited` is the timeout, for the message.
    pub fn stop(&self, reason: StopReason, waited: Option<Duration>) {
        let code = match reason {
            StopReason::Timeout => 1,
            StopReason::Abort => 2,
        };
        if self
            .reason
            .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            *self.timeout.lock().unwrap_or_else(|p| p.into_inner()) = waited;
        }
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    fn reason(&self) -> Option<(StopReason, Option<Duration>)> {
        let r = match self.reason.load(Ordering::SeqCst) {
            1 => StopReason::Timeout,
            2 => StopReason::Abort,
            _ => return None,
        };
        Some((r, *self.timeout.lock().unwrap_or_else(|p| p.into_inner())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> SpawnOptions {
        let mut o = SpawnOptions::new("/bin/sh");
        o.args = vec!["-c".into(), script.into()];
        o
    }

    fn kill(pid: i32) {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid).expect("a pid"),
            rustix::process::Signal::KILL,
        );
    }

    #[test]
    fn refused_before_any_fork() {
        let d = tempfile::tempdir().unwrap();
        let mut o = SpawnOptions::new("sole-no-such-command-xyz");
        o.pidfile = Some(d.path().join("a.pid"));
        let e = prepare(o).unwrap_err();
        assert_eq!(e.code(), "EDAEMON");
        assert_eq!(e.errno(), Some(libc::ENOENT));
        assert!(e.details().contains(&("stage", "exec".into())));
        // The command is resolved first: the pidfile was not even created.
        assert!(!d.path().join("a.pid").exists());

        let mut o = sh("true");
        o.pidfile = Some(d.path().join("missing").join("a.pid"));
        let e = prepare(o).unwrap_err();
        assert_eq!(e.code(), "ENOENT");
        assert!(
            e.message().contains("its directory does not exist"),
            "{}",
            e.message()
        );

        let mut o = sh("true");
        o.umask = 0o1000;
        assert_eq!(prepare(o).unwrap_err().code(), "EINVAL");

        let mut o = sh("true");
        o.env = Some(vec![("A=B".into(), "c".into())]);
        assert_eq!(prepare(o).unwrap_err().code(), "EINVAL");

        let mut o = sh("true");
        o.user = Some(Principal::Name("sole-no-such-user-xyz".into()));
        let e = prepare(o).unwrap_err();
        assert_eq!(e.code(), "EDAEMON");
        assert!(e.message().contains("unknown user"), "{}", e.message());
    }

    #[test]
    fn a_held_pidfile_is_refused_before_the_fork_or_by_the_daemon() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.pid");
        let _held = sole_pidfile::claim(&p, &sole_lock::OpenOptions::default()).unwrap();
        // readiness none: refused before any fork (it would resolve before the claim).
        let mut o = sh("true");
        o.pidfile = Some(p.clone());
        o.readiness = Readiness::None;
        let e = prepare(o).unwrap_err();
        assert_eq!(e.code(), "EHELD");
        assert_eq!(e.pid(), Some(std::process::id() as i32));
        // Otherwise the daemon's own flock refuses, and the report names the holder.
        let mut o = sh("true");
        o.pidfile = Some(p.clone());
        let e = prepare(o).unwrap().run(&Stop::new().unwrap()).unwrap_err();
        assert_eq!(e.code(), "EHELD");
        assert_eq!(e.pid(), Some(std::process::id() as i32));
    }

    #[test]
    fn the_daemon_holds_its_pidfile_and_the_record_names_it() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.pid");
        let mut o = SpawnOptions::new("sleep");
        o.args = vec!["60".into()];
        o.pidfile = Some(p.clone());
        o.readiness = Readiness::Exec;
        let started = prepare(o).unwrap().run(&Stop::new().unwrap()).unwrap();
        let content = std::fs::read_to_string(&p).unwrap();
        let state = sole_pidfile::read(&p).unwrap();
        kill(started.pid);
        assert_eq!(content, format!("{}\n", started.pid));
        match state {
            sole_pidfile::State::Held { pid, locked, .. } => {
                assert_eq!(pid, started.pid);
                assert!(locked);
            }
            other => panic!("{other:?}"),
        }
        let mut buf = [0u8; 256];
        if let Ok(n) = rustix::fs::getxattr(&p, sole_pidfile::RECORD_XATTR, &mut buf) {
            let rec = sole_procid::Record::parse(std::str::from_utf8(&buf[..n]).unwrap()).unwrap();
            assert_eq!(rec.pid, started.pid);
            assert!(rec.locked);
            assert_eq!(rec.boot_id, sole_procid::boot_id().unwrap());
        }
    }

    #[test]
    fn a_stop_before_readiness_kills_the_daemon() {
        let stop = Stop::new().unwrap();
        stop.stop(StopReason::Timeout, Some(Duration::from_millis(5)));
        let e = prepare(sh("exec sleep 60"))
            .unwrap()
            .run(&stop)
            .unwrap_err();
        assert_eq!(e.code(), "ETIMEDOUT");
        let pid = e
            .pid()
            .expect("the daemon's pid is known before the stop is seen");
        // Dead (a zombie until init reaps it counts as dead) before the error was returned.
        assert!(!sole_procid::Pid::from_i32(pid).unwrap().is_alive());
    }
}
