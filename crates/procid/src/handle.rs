//! `ProcessHandle`: a reference to one process that cannot drift to another after pid reuse
//! (docs/races.md R20).
//!
//! Why: `kill(pid, sig)` names a process by a number. Between reading that number (from a
//! pidfile, from `ps`) and the `kill`, the process can exit and the kernel can give the number
//! to an unrelated process, which then receives the signal. A pidfd (`pidfd_open`, Linux 5.3)
//! is a file descriptor bound to one process: signals sent through it (`pidfd_send_signal`)
//! reach that process or fail with `ESRCH`, never a newcomer, and it becomes readable when the
//! process exits, so a wait for exit is a `poll`, not a loop (`wait.rs`).
//!
//! Races closed here:
//! - **Open vs reuse**: `open(pid)` opens the pidfd first and only then reads the start time,
//!   confirming with a second `poll` that the process was still alive after the read; the
//!   start time it records is therefore that of the process the fd is bound to.
//!   `verify::verify` compares a recorded identity *after* the pidfd is open, so a handle from
//!   an identity either is that process or is refused.
//! - **Signal after exit**: `signal` checks the pidfd first; a process that has exited gets
//!   `ENOTFOUND` and nothing is sent, and nothing can reach a recycled pid.
//! - **A handle dropped during a wait** (its JavaScript object collected): dropping is not
//!   closing. The pending wait keeps its own reference and ends when the process exits or its
//!   timeout passes; a caller still awaiting it gets the real answer, not a spurious `EBADF`.
//!   Closing ends every wait at once (see `wait.rs`).
//!
//! Fallback (no pidfd: kernels before 5.3, or seccomp filters that refuse it): the handle
//! remembers the start time read at open; `is_alive` and `signal` re-check it before acting
//! (a window of microseconds remains between the check and `kill`, stated in the typings), and
//! waiting polls every 10 ms. `kind()` says which one a handle is.
//! Test: `tests::*` below; `__test__/procid.spec.ts`.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::process::{
    kill_process, pidfd_open, pidfd_send_signal, test_kill_process, PidfdFlags, Signal,
};
use sole_error::{Error, Kind, Result};

use crate::pid::Pid;
use crate::proc::Stat;
use crate::recorded::{Check, Recorded};
#[cfg(test)]
use crate::wait::WaitEnd;
use crate::wait::{Cancel, ExitWaiter, Waits};

/// How a handle refers to its process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleKind {
    /// A pidfd: race-free signals and exit notification.
    Pidfd,
    /// No pidfd available: pid + start time re-checked before each action.
    PidStartTime,
}

/// A handle on one process. Dropping it releases its own reference to the pidfd; pending waits
/// keep theirs (see the module doc); `close()` ends them.
#[derive(Debug)]
pub struct ProcessHandle {
    pid: Pid,
    /// Decided once at open; `fd` alone cannot say it after `close()`.
    kind: HandleKind,
    fd: Option<Arc<OwnedFd>>,
    start_time: u64,
    closed: bool,
    waits: Waits,
}

fn exited(pid: Pid) -> Error {
    Error::new(
        Kind::NotFound,
        format!("process {pid} has exited: nothing was sent (a handle never signals another process that reuses the pid)."),
    )
    .with_pid(pid.get())
}

fn not_running(pid: Pid) -> Error {
    Error::new(
        Kind::NotFound,
        format!("no running process has pid {pid} (it exited, or never existed)."),
    )
    .with_pid(pid.get())
}

/// Is the process `pid` still the one that started at `start_time`? The fallback's check,
/// by the one rule of [`Recorded::check`] (a zombie or exiting process is gone).
pub(crate) fn same_process(pid: Pid, start_time: u64) -> bool {
    let r = Recorded {
        pid,
        start_time: Some(start_time),
        boot_id: None,
    };
    // Unknown (out of descriptors) is not "the same process": nothing is signalled.
    matches!(r.check(), Ok(Check::Alive { .. }))
}

/// Is the pidfd readable (its process has exited)? `None` when `poll` itself failed.
pub(crate) fn pidfd_readable(fd: &OwnedFd) -> Option<bool> {
    let mut p = [PollFd::new(fd, PollFlags::IN)];
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    poll(&mut p, Some(&zero)).ok().map(|n| n > 0)
}

/// Has the process behind `fd` exited (a failed poll says no: the caller reads on)?
fn fd_exited(fd: &OwnedFd) -> bool {
    pidfd_readable(fd) == Some(true)
}

/// The start time of the process the pidfd `fd` is bound to: read by number, then confirmed
/// by a second poll that the pidfd's process was still alive after the read (a pid is only
/// reused after its process is reaped).
fn start_time_of(pid: Pid, fd: &OwnedFd) -> Result<u64> {
    if fd_exited(fd) {
        return Err(not_running(pid));
    }
    let st = Stat::read_checked(pid)?
        .filter(|s| !s.is_zombie())
        .ok_or_else(|| not_running(pid))?;
    if fd_exited(fd) {
        return Err(not_running(pid));
    }
    Ok(st.start_time)
}

/// Send `sig` through the pidfd, or by pid in the fallback. rustix's `Signal` cannot hold 0
/// (the existence check) and holds the real-time signals only through an `unsafe`
/// constructor, so those go through `libc` (the only `unsafe` here).
fn send(pid: Pid, fd: Option<&OwnedFd>, sig: i32) -> std::result::Result<(), Errno> {
    match (fd, Signal::from_named_raw(sig)) {
        (Some(fd), Some(s)) => pidfd_send_signal(fd, s),
        (None, Some(s)) => kill_process(pid.rustix(), s),
        (None, None) if sig == 0 => test_kill_process(pid.rustix()),
        (fd, None) => {
            use std::os::fd::AsRawFd;
            let rc = match fd {
                // SAFETY: pidfd_send_signal with a null siginfo sends like kill(2); the fd is
                // borrowed for the call.
                Some(fd) => unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        fd.as_raw_fd() as libc::c_long,
                        sig as libc::c_long,
                        std::ptr::null::<libc::siginfo_t>(),
                        0 as libc::c_long,
                    )
                },
                // SAFETY: plain kill with a validated pid (never 0 or negative).
                None => unsafe { libc::kill(pid.get(), sig) as libc::c_long },
            };
            if rc == 0 {
                Ok(())
            } else {
                Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO))
            }
        }
    }
}

impl ProcessHandle {
    /// Open a handle on the live process `pid`: `ENOTFOUND` if none (or a zombie).
    /// Test: `tests::open_signal_wait_and_exit`.
    pub fn open(pid: Pid) -> Result<ProcessHandle> {
        match pidfd_open(pid.rustix(), PidfdFlags::empty()) {
            Ok(fd) => {
                let st = start_time_of(pid, &fd)?;
                Ok(ProcessHandle {
                    pid,
                    kind: HandleKind::Pidfd,
                    fd: Some(Arc::new(fd)),
                    start_time: st,
                    closed: false,
                    waits: Waits::default(),
                })
            }
            Err(Errno::SRCH) => Err(not_running(pid)),
            // pidfd_open refuses a thread id that is not its process's leader (EINVAL on older
            // kernels, ENOENT on newer ones).
            Err(Errno::INVAL) | Err(Errno::NOENT) => Err(Error::new(
                Kind::NotFound,
                format!("{pid} is a thread of another process, not a process: pass the process id (the thread group leader, /proc/{pid}/status Tgid)."),
            )
            .with_pid(pid.get())),
            Err(Errno::NOSYS) | Err(Errno::PERM) => Self::open_without_pidfd(pid),
            Err(errno) => Err(Error::new(
                Kind::Os(errno.raw_os_error()),
                format!(
                    "cannot open a pidfd for process {pid}: {}. Close unused file descriptors and retry.",
                    std::io::Error::from(errno)
                ),
            )
            .with_pid(pid.get())),
        }
    }

    /// The fallback used when the kernel has no pidfd (also reachable for tests).
    pub fn open_without_pidfd(pid: Pid) -> Result<ProcessHandle> {
        let st = Stat::read(pid).ok_or_else(|| not_running(pid))?;
        if !same_process(pid, st.start_time) {
            return Err(not_running(pid));
        }
        Ok(ProcessHandle {
            pid,
            kind: HandleKind::PidStartTime,
            fd: None,
            start_time: st.start_time,
            closed: false,
            waits: Waits::default(),
        })
    }

    pub fn pid(&self) -> i32 {
        self.pid.get()
    }

    /// The pid as a validated [`Pid`].
    pub fn id(&self) -> Pid {
        self.pid
    }

    /// Start time (clock ticks since boot) of the process this handle is bound to.
    pub fn start_time(&self) -> u64 {
        self.start_time
    }

    pub fn kind(&self) -> HandleKind {
        self.kind
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn closed_error(&self) -> Error {
        Error::new(
            Kind::Os(libc::EBADF),
            format!(
                "the handle on process {} is closed: open a new one with ProcessHandle.open().",
                self.pid
            ),
        )
        .with_pid(self.pid.get())
    }

    /// Is the process still running? `false` after it exited (or when the handle is closed).
    pub fn is_alive(&self) -> bool {
        if self.closed {
            return false;
        }
        match &self.fd {
            Some(fd) => !fd_exited(fd),
            None => same_process(self.pid, self.start_time),
        }
    }

    /// Send signal `sig` (0 only checks) to the process, through the pidfd.
    pub fn signal(&self, sig: i32) -> Result<()> {
        if self.closed {
            return Err(self.closed_error());
        }
        if !self.is_alive() {
            return Err(exited(self.pid));
        }
        let pid = self.pid;
        match send(pid, self.fd.as_deref(), sig) {
            Ok(()) => Ok(()),
            Err(Errno::SRCH) => Err(exited(pid)),
            Err(Errno::INVAL) => Err(Error::invalid_argument(
                "signal",
                format!("{sig} is not a signal this kernel knows (process {pid}): use a name such as 'SIGTERM'."),
            )
            .with_pid(pid.get())),
            Err(errno) => Err(Error::new(
                Kind::Os(errno.raw_os_error()),
                format!(
                    "cannot signal process {pid}: {}. {}",
                    std::io::Error::from(errno),
                    if errno == Errno::PERM {
                        "It belongs to another user: run as that user or with privilege."
                    } else {
                        ""
                    }
                ),
            )
            .with_pid(pid.get())),
        }
    }

    /// A canceller registered with this handle, so that `close()` ends the wait.
    pub fn new_wait(&self) -> Result<Arc<Cancel>> {
        if self.closed {
            return Err(self.closed_error());
        }
        let c = Cancel::new()?;
        self.waits.add(&c);
        Ok(c)
    }

    /// A waiter that can run on another thread (it owns what it needs).
    pub fn waiter(&self) -> Result<ExitWaiter> {
        if self.closed {
            return Err(self.closed_error());
        }
        Ok(ExitWaiter {
            pid: self.pid,
            fd: self.fd.clone(),
            start_time: self.start_time,
        })
    }

    /// Close the pidfd and end every pending wait (they end with [`WaitEnd::Closed`]), joining
    /// their threads: when this returns, the pidfd and every wait's eventfd are closed.
    /// Idempotent.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.waits.end_all(true);
        self.fd = None;
    }

    /// A weak reference to the pidfd, to check in tests that it was closed.
    #[cfg(test)]
    fn pidfd_weak(&self) -> Option<std::sync::Weak<OwnedFd>> {
        self.fd.as_ref().map(Arc::downgrade)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid_of(c: &std::process::Child) -> Pid {
        Pid::from_i32(c.id() as i32).unwrap()
    }
    use std::process::{Command, Stdio};
    use std::time::Duration;

    fn sleeper() -> std::process::Child {
        Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    }

    #[test]
    fn open_signal_wait_and_exit() {
        for fallback in [false, true] {
            let mut c = sleeper();
            let pid = c.id() as i32;
            let h = if fallback {
                ProcessHandle::open_without_pidfd(Pid::from_i32(pid).unwrap()).unwrap()
            } else {
                ProcessHandle::open(Pid::from_i32(pid).unwrap()).unwrap()
            };
            assert_eq!(
                h.kind(),
                if fallback {
                    HandleKind::PidStartTime
                } else {
                    HandleKind::Pidfd
                }
            );
            assert!(h.is_alive());
            let w = h.waiter().unwrap();
            let cancel = h.new_wait().unwrap();
            assert_eq!(
                w.wait(Some(Duration::from_millis(30)), &cancel),
                WaitEnd::TimedOut
            );
            let waiting = std::thread::spawn(move || w.wait(None, &cancel));
            h.signal(libc::SIGTERM).unwrap();
            assert_eq!(waiting.join().unwrap(), WaitEnd::Exited);
            assert!(!h.is_alive());
            assert_eq!(h.signal(libc::SIGTERM).unwrap_err().code(), "ENOTFOUND");
            c.wait().unwrap();
            assert_eq!(h.signal(0).unwrap_err().code(), "ENOTFOUND");
            assert_eq!(
                ProcessHandle::open(Pid::from_i32(pid).unwrap())
                    .unwrap_err()
                    .code(),
                "ENOTFOUND"
            );
        }
    }

    #[test]
    fn cancel_and_close_end_waits() {
        let mut c = sleeper();
        let mut h = ProcessHandle::open(pid_of(&c)).unwrap();
        let w = h.waiter().unwrap();
        let cancel = h.new_wait().unwrap();
        let c2 = cancel.clone();
        let t = std::thread::spawn(move || w.wait(None, &c2));
        cancel.cancel(false);
        assert_eq!(t.join().unwrap(), WaitEnd::Cancelled);
        let w = h.waiter().unwrap();
        let cancel = h.new_wait().unwrap();
        let t = std::thread::spawn(move || w.wait(None, &cancel));
        h.close();
        assert_eq!(t.join().unwrap(), WaitEnd::Closed);
        assert_eq!(h.signal(0).unwrap_err().code(), "EBADF");
        c.kill().unwrap();
        c.wait().unwrap();
    }

    #[test]
    fn a_thread_id_is_not_a_process() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tx.send(rustix::thread::gettid().as_raw_nonzero().get())
                .unwrap();
            let _ = done_rx.recv();
        });
        let tid = rx.recv().unwrap();
        let e = ProcessHandle::open(Pid::from_i32(tid).unwrap()).unwrap_err();
        assert_eq!(e.code(), "ENOTFOUND");
        assert!(e.message().contains("thread"), "{}", e.message());
        done_tx.send(()).unwrap();
        t.join().unwrap();
    }

    #[test]
    fn bad_pids_are_refused() {
        for p in [0, -1, i32::MIN] {
            assert_eq!(Pid::from_i32(p).unwrap_err().code(), "EINVALIDPID");
        }
    }

    /// Before the deadline saturated, `Instant::now() + Duration::MAX` panicked on the wait
    /// thread (and a panic there aborts Node).
    #[test]
    fn huge_timeouts_never_overflow() {
        let mut c = sleeper();
        let h = ProcessHandle::open(pid_of(&c)).unwrap();
        let max_ms = sole_error::timeout::from_ms(sole_error::timeout::MAX_MS, "x").unwrap();
        for timeout in [Duration::MAX, Duration::from_secs(u64::MAX / 2), max_ms] {
            let w = h.waiter().unwrap();
            let cancel = h.new_wait().unwrap();
            let c2 = cancel.clone();
            let t = std::thread::spawn(move || w.wait(Some(timeout), &c2));
            // Still waiting after a while (a wrapped bound would have ended it at once).
            std::thread::sleep(Duration::from_millis(50));
            assert!(!t.is_finished(), "{timeout:?}");
            cancel.cancel(false);
            assert_eq!(t.join().unwrap(), WaitEnd::Cancelled, "{timeout:?}");
        }
        c.kill().unwrap();
        c.wait().unwrap();
    }

    #[test]
    fn close_ends_waits_and_releases_descriptors() {
        let mut c = sleeper();
        let mut h = ProcessHandle::open(pid_of(&c)).unwrap();
        let pidfd = h.pidfd_weak().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let mut cancels = Vec::new();
        for _ in 0..3 {
            let w = h.waiter().unwrap();
            let cancel = h.new_wait().unwrap();
            let c2 = cancel.clone();
            let tx = tx.clone();
            let t = std::thread::spawn(move || {
                let end = w.wait(None, &c2);
                drop((w, c2));
                tx.send(end).unwrap();
            });
            cancel.attach_thread(t);
            cancels.push(Arc::downgrade(&cancel));
        }
        h.close();
        // When close() returns, every thread has let go: the eventfds and the pidfd are closed.
        assert!(cancels.iter().all(|c| c.upgrade().is_none()));
        assert!(pidfd.upgrade().is_none());
        for _ in 0..3 {
            assert_eq!(rx.try_recv().unwrap(), WaitEnd::Closed);
        }
        c.kill().unwrap();
        c.wait().unwrap();
    }

    #[test]
    fn dropping_a_handle_does_not_end_its_waits() {
        let mut c = sleeper();
        let h = ProcessHandle::open(pid_of(&c)).unwrap();
        let w = h.waiter().unwrap();
        let cancel = h.new_wait().unwrap();
        let t = std::thread::spawn(move || w.wait(None, &cancel));
        drop(h);
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !t.is_finished(),
            "the wait goes on after the handle is dropped"
        );
        c.kill().unwrap();
        assert_eq!(t.join().unwrap(), WaitEnd::Exited);
        c.wait().unwrap();
    }
}
