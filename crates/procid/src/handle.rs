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
//!   can never make a waiting `poll` watch a recycled fd number. `close()` cancels every pending
//!   wait and joins its thread ([`Cancel::end_and_join`]), so when it returns the pidfd and
//!   every wait's eventfd are closed and no thread is left: nothing waits for the GC.
//! - **A handle dropped during a wait** (its JavaScript object collected): dropping is not
//!   closing. The pending wait keeps its own reference and ends when the process exits or its
//!   timeout passes; a caller still awaiting it gets the real answer, not a spurious `EBADF`.
//! - **A timeout too long for `poll`**: the wait sleeps in slices from
//!   [`sole_error::timeout::Deadline::poll_ms`] and loops until the deadline has passed, so no
//!   bound (up to `Duration::MAX`) is ever handed to `poll(2)` as an overflowing `int`.
//!
//! Fallback (no pidfd: kernels before 5.3, or seccomp filters that refuse it): the handle
//! remembers the start time read at open; `is_alive` and `signal` re-check it before acting
//! (a window of microseconds remains between the check and `kill`, stated in the typings), and
//! waiting polls every 10 ms. `kind()` says which one a handle is.
//! Test: `tests::*` below; `__test__/procid.spec.ts`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use sole_error::timeout::Deadline;
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

/// Ends a pending wait from another thread: an eventfd the waiting `poll` also watches, and the
/// thread doing the waiting, so that whoever ends the wait can also wait for that thread to let
/// go of its descriptors ([`Cancel::end_and_join`]).
///
/// Ownership: the waiting thread holds the only long-lived strong reference; handles, the
/// binding's per-environment registry and the JavaScript `ExitWait` hold `Weak` ones. So the
/// eventfd is closed as soon as the wait ends, never later at garbage collection.
/// Test: `tests::close_ends_waits_and_releases_descriptors`, `__test__/procid.spec.ts`
/// ("close() releases the pidfd and every pending wait's descriptors at once").
#[derive(Debug)]
pub struct Cancel {
    fd: OwnedFd,
    reason: AtomicU8,
    thread: Mutex<Option<JoinHandle<()>>>,
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
            thread: Mutex::new(None),
        }))
    }

    /// End the wait (first reason wins). Does not wait for the waiting thread.
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

    /// Remember the thread that waits on this canceller, for [`Cancel::end_and_join`].
    pub fn attach_thread(&self, thread: JoinHandle<()>) {
        *self.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(thread);
    }

    /// End the wait and block until its thread has finished, so that every descriptor the
    /// thread held (its pidfd reference, its own reference to this eventfd) is released when
    /// this returns. The wake-up is one eventfd write: the thread leaves `poll` at once.
    /// Never joins the calling thread itself.
    pub fn end_and_join(&self, closed: bool) {
        self.cancel(closed);
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread {
            if t.thread().id() != std::thread::current().id() {
                // A panic on that thread was already turned into an error by its body.
                let _ = t.join();
            }
        }
    }

    fn end(&self) -> WaitEnd {
        match self.reason.load(Ordering::SeqCst) {
            2 => WaitEnd::Closed,
            _ => WaitEnd::Cancelled,
        }
    }
}

/// A handle on one process. Dropping it releases its own reference to the pidfd; pending waits
/// keep theirs (see the module doc); `close()` ends them.
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
            Some(libc::EINVAL) => Err(Error::invalid_argument(
                "signal",
                format!("{sig} is not a signal this kernel knows (process {}): use a name such as 'SIGTERM'.", self.pid),
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

    /// Close the pidfd and end every pending wait (they end with [`WaitEnd::Closed`]), joining
    /// their threads: when this returns, the pidfd and every wait's eventfd are closed.
    /// Idempotent.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let waits: Vec<Weak<Cancel>> = self
            .waits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for w in waits {
            if let Some(c) = w.upgrade() {
                c.end_and_join(true);
            }
        }
        self.fd = None;
    }

    /// A weak reference to the pidfd, to check in tests that it was closed.
    #[cfg(test)]
    fn pidfd_weak(&self) -> Option<Weak<OwnedFd>> {
        self.fd.as_ref().map(Arc::downgrade)
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
    /// one `poll` on the pidfd and the canceller's eventfd: no polling loop, no wakeups (a
    /// timeout longer than an hour sleeps in one-hour slices, see [`Deadline::poll_ms`]). Any
    /// `timeout` is safe, `Duration::MAX` included: a deadline past the end of the clock is
    /// "never". Test: `tests::huge_timeouts_never_overflow`.
    pub fn wait(&self, timeout: Option<Duration>, cancel: &Cancel) -> WaitEnd {
        let deadline = Deadline::after(timeout);
        loop {
            // -1: unbounded; else 0..=3_600_000 ms, rounded up so a wait never ends early.
            let slice_ms = deadline.poll_ms();
            let (fd, tick) = match &self.fd {
                Some(fd) => (fd.as_raw_fd(), slice_ms),
                None => {
                    if !(pid_alive(i64::from(self.pid))
                        && start_time(self.pid) == Some(self.start_time))
                    {
                        return WaitEnd::Exited;
                    }
                    // Fallback: no exit notification, look every 10 ms.
                    let t = if slice_ms < 0 { 10 } else { slice_ms.min(10) };
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
            if deadline.passed() {
                return WaitEnd::TimedOut;
            }
        }
    }
}

/// The largest signal number Linux has (`SIGRTMAX`).
pub const SIGNAL_MAX: i32 = 64;

/// A signal given by name (`"SIGTERM"`, `"TERM"`) or as a decimal string, as its number. The one
/// place signal names are decided; anything else is `EINVAL` with `argument: "signal"`.
/// Test: `tests::bad_pids_and_signal_names`.
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
            Ok(v) if (0..=SIGNAL_MAX).contains(&v) => v,
            _ => {
                let shown: String = name.chars().take(40).collect();
                return Err(Error::invalid_argument(
                    "signal",
                    format!("{shown:?} is not a signal: use a name such as 'SIGTERM' or a number from 0 to {SIGNAL_MAX}."),
                ));
            }
        },
    };
    Ok(sig)
}

/// A signal given as a JavaScript number: an integer in `0..=64` (`-0` is 0; 0 only checks that
/// the process exists). NaN, infinities, fractions and anything out of range are `EINVAL` with
/// `argument: "signal"`, before any conversion. Test: `tests::bad_pids_and_signal_names`.
pub fn signal_from_number(n: f64) -> Result<i32> {
    if n.fract() == 0.0 && (0.0..=f64::from(SIGNAL_MAX)).contains(&n) {
        // In 0..=64 and integral: exact.
        Ok(n as i32)
    } else {
        Err(Error::invalid_argument(
            "signal",
            format!("{n} is not a signal number: use an integer from 0 to {SIGNAL_MAX}, or a name such as 'SIGTERM'."),
        ))
    }
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
            let e = signal_number(bad).unwrap_err();
            assert_eq!(e.code(), "EINVAL", "{bad}");
            assert_eq!(e.details()[0], ("argument", "signal".into()), "{bad}");
        }
        assert_eq!(signal_from_number(15.0).unwrap(), 15);
        assert_eq!(signal_from_number(-0.0).unwrap(), 0);
        assert_eq!(signal_from_number(64.0).unwrap(), 64);
        for bad in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.0,
            1.5,
            65.0,
            2f64.powi(31),
            2f64.powi(53),
            1e300,
        ] {
            let e = signal_from_number(bad).unwrap_err();
            assert_eq!(e.code(), "EINVAL", "{bad}");
            assert_eq!(e.details()[0], ("argument", "signal".into()), "{bad}");
        }
    }

    /// Before the deadline saturated, `Instant::now() + Duration::MAX` panicked on the wait
    /// thread (and a panic there aborts Node).
    #[test]
    fn huge_timeouts_never_overflow() {
        let mut c = sleeper();
        let h = ProcessHandle::open(c.id() as i32).unwrap();
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
        let mut h = ProcessHandle::open(c.id() as i32).unwrap();
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
        let h = ProcessHandle::open(c.id() as i32).unwrap();
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
