//! `ProcessHandle`: a reference to one process that cannot drift to another after pid reuse.
//!
//! Why: `kill(pid, sig)` names a process by a number. Between reading that number (from a
//! pidfile, from `ps`) and the `kill`, the process can exit and the kernel can give the number
//! to an unrelated process, which then receives the signal (seed 003 signalled by raw pid).
//! A pidfd (`pidfd_open`, Linux 5.3) is a file descriptor bound to one process: signals sent
//! through it (`pidfd_send_signal`) reach that process or fail with `ESRCH`, never a newcomer,
//! and it becomes readable when the process exits, so a wait for exit is a `poll`, not a loop.
//!
//! Races closed here:
//! - **Open vs reuse**: `open(pid)` opens the pidfd first and only then reads the start time,
//!   confirming with a second `poll` that the process was still alive after the read; the
//!   start time it records is therefore that of the process the fd is bound to.
//!   `verify::verify` compares a recorded identity *after* the pidfd is open, so a handle from
//!   an identity either is that process or is refused.
//! - **Signal after exit**: `signal` checks the pidfd first; a process that has exited gets
//!   `ENOTFOUND` and nothing is sent, and nothing can reach a recycled pid.
//! - **Close during a wait**: each wait thread holds its own reference to the fd, so `close()`
//!   can never make a waiting `poll` watch a recycled fd number; `close()` cancels pending waits.
//!
//! Fallback (no pidfd: kernels before 5.3, or seccomp filters that refuse it): the handle
//! remembers the start time read at open; `is_alive` and `signal` re-check it before acting
//! (a window of microseconds remains between the check and `kill`, stated in the typings), and
//! waiting polls every 10 ms. `kind()` says which one a handle is.
//! Test: `tests::*` below; `__test__/procid.spec.ts`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sole_error::{Error, Kind, Result};

use crate::identity::start_time;
use crate::pid::{pid_alive, PID_MAX};

/// How a handle refers to its process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleKind {
    /// A pidfd: race-free signals and exit notification.
    Pidfd,
    /// No pidfd available: pid + start time re-checked before each action.
    PidStartTime,
}

/// Why a wait ended without the process exiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEnd {
    Exited,
    TimedOut,
    Cancelled,
    Closed,
}

/// Ends a pending wait from another thread: an eventfd the waiting `poll` also watches.
#[derive(Debug)]
pub struct Cancel {
    fd: OwnedFd,
    reason: AtomicU8,
}

impl Cancel {
    pub fn new() -> Result<Arc<Cancel>> {
        // SAFETY: plain eventfd creation.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            return Err(Error::new(
                Kind::Os(e.raw_os_error().unwrap_or(libc::EIO)),
                format!("cannot create an eventfd to wait on: {e}. Too many open files?"),
            ));
        }
        Ok(Arc::new(Cancel {
            // SAFETY: fresh owned fd.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            reason: AtomicU8::new(0),
        }))
    }

    /// End the wait (first reason wins).
    pub fn cancel(&self, closed: bool) {
        let _ = self.reason.compare_exchange(
            0,
            if closed { 2 } else { 1 },
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a local to our eventfd.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    fn end(&self) -> WaitEnd {
        match self.reason.load(Ordering::SeqCst) {
            2 => WaitEnd::Closed,
            _ => WaitEnd::Cancelled,
        }
    }
}

/// A handle on one process. Dropping it closes the pidfd.
#[derive(Debug)]
pub struct ProcessHandle {
    pid: i32,
    /// Decided once at open; `fd` alone cannot say it after `close()`.
    kind: HandleKind,
    fd: Option<Arc<OwnedFd>>,
    start_time: u64,
    closed: bool,
    waits: Mutex<Vec<Weak<Cancel>>>,
}

fn exited(pid: i32) -> Error {
    Error::new(
        Kind::NotFound,
        format!("process {pid} has exited: nothing was sent (a handle never signals another process that reuses the pid)."),
    )
    .with_pid(pid)
}

fn check_range(pid: i32) -> Result<()> {
    if (1..=PID_MAX as i32).contains(&pid) {
        Ok(())
    } else {
        crate::pid::validate_pid(pid as f64).map(|_| ())
    }
}

/// `pidfd_open(pid, 0)`; `Err(errno)` on failure.
fn pidfd_open(pid: i32) -> std::result::Result<OwnedFd, i32> {
    // SAFETY: raw syscall with integer arguments; the fd is owned below. pidfds are always
    // close-on-exec.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_long, 0 as libc::c_long) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO));
    }
    // SAFETY: fresh owned fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Has the process behind `fd` exited (the pidfd is readable)?
fn fd_exited(fd: &OwnedFd) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd on the stack, zero timeout.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents != 0
}

impl ProcessHandle {
    /// Open a handle on the live process `pid`: `ENOTFOUND` if none (or a zombie).
    pub fn open(pid: i32) -> Result<ProcessHandle> {
        check_range(pid)?;
        match pidfd_open(pid) {
            Ok(fd) => {
                if fd_exited(&fd) {
                    return Err(not_running(pid));
                }
                let st = start_time(pid).ok_or_else(|| not_running(pid))?;
                // Still alive after the read: the start time is that of the pidfd's process.
                if fd_exited(&fd) {
                    return Err(not_running(pid));
                }
                Ok(ProcessHandle {
                    pid,
                    kind: HandleKind::Pidfd,
                    fd: Some(Arc::new(fd)),
                    start_time: st,
                    closed: false,
                    waits: Mutex::new(Vec::new()),
                })
            }
            Err(libc::ESRCH) => Err(not_running(pid)),
            // pidfd_open refuses a thread id that is not its process's leader (EINVAL on older
            // kernels, ENOENT on newer ones).
            Err(libc::EINVAL) | Err(libc::ENOENT) => Err(Error::new(
                Kind::NotFound,
                format!("{pid} is a thread of another process, not a process: pass the process id (the thread group leader, /proc/{pid}/status Tgid)."),
            )
            .with_pid(pid)),
            Err(libc::ENOSYS) | Err(libc::EPERM) => Self::open_without_pidfd(pid),
            Err(errno) => Err(Error::new(
                Kind::Os(errno),
                format!(
                    "cannot open a pidfd for process {pid}: {}. Close unused file descriptors and retry.",
                    std::io::Error::from_raw_os_error(errno)
                ),
            )
            .with_pid(pid)),
        }
    }

    /// The fallback used when the kernel has no pidfd (also reachable for tests).
    pub fn open_without_pidfd(pid: i32) -> Result<ProcessHandle> {
        check_range(pid)?;
        let st = start_time(pid).ok_or_else(|| not_running(pid))?;
        if !pid_alive(pid as i64) || start_time(pid) != Some(st) {
            return Err(not_running(pid));
        }
        Ok(ProcessHandle {
            pid,
            kind: HandleKind::PidStartTime,
            fd: None,
            start_time: st,
            closed: false,
            waits: Mutex::new(Vec::new()),
        })
    }

    pub fn pid(&self) -> i32 {
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
        .with_pid(self.pid)
    }

    /// Is the process still running? `false` after it exited (or when the handle is closed).
    pub fn is_alive(&self) -> bool {
        if self.closed {
            return false;
        }
        match &self.fd {
            Some(fd) => !fd_exited(fd),
            None => pid_alive(self.pid as i64) && start_time(self.pid) == Some(self.start_time),
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
        let rc = match &self.fd {
            // SAFETY: pidfd_send_signal with a null siginfo sends like kill(2).
            Some(fd) => unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd() as libc::c_long,
                    sig as libc::c_long,
                    std::ptr::null::<libc::siginfo_t>(),
                    0 as libc::c_long,
                )
            },
            // SAFETY: plain kill; is_alive just re-checked the start time (fallback window).
            None => unsafe { libc::kill(self.pid, sig) as libc::c_long },
        };
        if rc == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ESRCH) => Err(exited(self.pid)),
            Some(libc::EINVAL) => Err(Error::new(
                Kind::Os(libc::EINVAL),
                format!("{sig} is not a signal this kernel knows: use a name such as 'SIGTERM'."),
            )
            .with_pid(self.pid)),
            Some(errno) => Err(Error::new(
                Kind::Os(errno),
                format!(
                    "cannot signal process {}: {e}. {}",
                    self.pid,
                    if errno == libc::EPERM {
                        "It belongs to another user: run as that user or with privilege."
                    } else {
                        ""
                    }
                ),
            )
            .with_pid(self.pid)),
            None => Err(exited(self.pid)),
        }
    }

    /// A canceller registered with this handle, so that `close()` ends the wait.
    pub fn new_wait(&self) -> Result<Arc<Cancel>> {
        if self.closed {
            return Err(self.closed_error());
        }
        let c = Cancel::new()?;
        let mut w = self.waits.lock().unwrap_or_else(|p| p.into_inner());
        w.retain(|x| x.strong_count() > 0);
        w.push(Arc::downgrade(&c));
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

    /// Close the pidfd and cancel pending waits. Idempotent.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.fd = None;
        for w in self
            .waits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            if let Some(c) = w.upgrade() {
                c.cancel(true);
            }
        }
    }
}

impl Drop for ProcessHandle {
    fn drop(&mut self) {
        self.close();
    }
}

fn not_running(pid: i32) -> Error {
    Error::new(
        Kind::NotFound,
        format!("no running process has pid {pid} (it exited, or never existed)."),
    )
    .with_pid(pid)
}

/// What a wait thread needs: its own reference to the pidfd.
#[derive(Debug)]
pub struct ExitWaiter {
    pid: i32,
    fd: Option<Arc<OwnedFd>>,
    start_time: u64,
}

impl ExitWaiter {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Block until the process exits, `timeout` passes, or `cancel` fires. With a pidfd this is
    /// one `poll` on the pidfd and the canceller's eventfd: no polling loop, no wakeups.
    pub fn wait(&self, timeout: Option<Duration>, cancel: &Cancel) -> WaitEnd {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let remaining_ms = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    // Round up so a wait never ends before its timeout.
                    left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
                }
            };
            let (fd, tick) = match &self.fd {
                Some(fd) => (fd.as_raw_fd(), remaining_ms),
                None => {
                    if !(pid_alive(self.pid as i64)
                        && start_time(self.pid) == Some(self.start_time))
                    {
                        return WaitEnd::Exited;
                    }
                    // Fallback: no exit notification, look every 10 ms.
                    let t = if remaining_ms < 0 {
                        10
                    } else {
                        remaining_ms.min(10)
                    };
                    (-1, t)
                }
            };
            let mut fds = [
                libc::pollfd {
                    fd: cancel.fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: two pollfds on the stack (a negative fd is ignored by poll).
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, tick) };
            if n < 0 {
                continue; // EINTR: recompute the remaining time and poll again
            }
            if fds[0].revents != 0 {
                return cancel.end();
            }
            if fds[1].revents != 0 {
                return WaitEnd::Exited;
            }
            if let Some(d) = deadline {
                if Instant::now() >= d {
                    return WaitEnd::TimedOut;
                }
            }
        }
    }
}

/// A signal given by name (`"SIGTERM"`, `"TERM"`) or number, as its number. The one place
/// signal names are decided.
pub fn signal_number(name: &str) -> Result<i32> {
    let n = name.trim();
    let bare = n.strip_prefix("SIG").unwrap_or(n);
    let sig = match bare {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => match n.parse::<i32>() {
            Ok(v) if (0..=64).contains(&v) => v,
            _ => {
                return Err(Error::new(
                    Kind::Os(libc::EINVAL),
                    format!("{name:?} is not a signal: use a name such as 'SIGTERM' or a number from 0 to 64."),
                ))
            }
        },
    };
    Ok(sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

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
                ProcessHandle::open_without_pidfd(pid).unwrap()
            } else {
                ProcessHandle::open(pid).unwrap()
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
            assert_eq!(ProcessHandle::open(pid).unwrap_err().code(), "ENOTFOUND");
        }
    }

    #[test]
    fn cancel_and_close_end_waits() {
        let mut c = sleeper();
        let mut h = ProcessHandle::open(c.id() as i32).unwrap();
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
            tx.send(unsafe { libc::gettid() }).unwrap();
            let _ = done_rx.recv();
        });
        let tid = rx.recv().unwrap();
        let e = ProcessHandle::open(tid).unwrap_err();
        assert_eq!(e.code(), "ENOTFOUND");
        assert!(e.message().contains("thread"), "{}", e.message());
        done_tx.send(()).unwrap();
        t.join().unwrap();
    }

    #[test]
    fn bad_pids_and_signal_names() {
        for p in [0, -1, i32::MIN] {
            assert_eq!(ProcessHandle::open(p).unwrap_err().code(), "EINVALIDPID");
        }
        assert_eq!(signal_number("SIGTERM").unwrap(), libc::SIGTERM);
        assert_eq!(signal_number("KILL").unwrap(), libc::SIGKILL);
        assert_eq!(signal_number("0").unwrap(), 0);
        for bad in ["SIGFOO", "", "65", "-1", "1.5"] {
            assert_eq!(signal_number(bad).unwrap_err().code(), "EINVAL", "{bad}");
        }
    }
}
