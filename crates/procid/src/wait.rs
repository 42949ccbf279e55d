//! Waiting for a process to exit, and ending such a wait from another thread.
//!
//! Why: a wait for exit runs on its own thread (the binding's promise), so it needs what it
//! waits on to outlive the handle it came from, and a way to be ended at once when the handle
//! is closed or the caller cancels.
//!
//! Races closed here:
//! - **Close during a wait**: each wait thread holds its own reference to the pidfd
//!   ([`ExitWaiter`]), so `close()` can never make a waiting `poll` watch a recycled fd number.
//!   `close()` ends every pending wait through its [`Cancel`] and joins its thread
//!   ([`Cancel::end_and_join`]), so when it returns the pidfd and every wait's eventfd are closed
//!   and no thread is left: nothing waits for the GC.
//! - **A timeout too long for `poll`**: the wait sleeps in slices from
//!   [`sole_error::timeout::Deadline::poll_ms`] and loops until the deadline has passed, so no
//!   bound (up to `Duration::MAX`) is ever handed to `poll(2)` as an overflowing value.
//!
//! Test: `handle::tests::*` (open, wait, cancel, close, huge timeouts); `__test__/procid.spec.ts`.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags, Timespec};
use sole_error::timeout::Deadline;
use sole_error::{Error, Kind, Result};

use crate::handle::same_process;

/// The pending waits of one owner that must end them all at once: a [`crate::ProcessHandle`]
/// on `close()`, or the binding's napi environment when a worker terminates. Weak references,
/// so a wait that ended holds nothing here and is pruned on the next registration.
/// Test: `handle::tests::close_ends_waits_and_releases_descriptors`; `__test__/procid.spec.ts`
/// ("a worker terminated during waitForExit leaves no wait thread and no descriptor behind").
#[derive(Debug, Default)]
pub struct Waits(Mutex<Vec<Weak<Cancel>>>);

impl Waits {
    /// Register `cancel` so that [`Waits::end_all`] ends it.
    pub fn add(&self, cancel: &Arc<Cancel>) {
        let mut w = self.0.lock().unwrap_or_else(|p| p.into_inner());
        w.retain(|c| c.strong_count() > 0);
        w.push(Arc::downgrade(cancel));
    }

    /// End every wait still pending and join its thread ([`Cancel::end_and_join`]; `closed`:
    /// they end as closed rather than cancelled). The list is taken out under the lock and the
    /// joins run after it is released, so a wait thread that settles meanwhile never blocks on
    /// this lock.
    pub fn end_all(&self, closed: bool) {
        let waits: Vec<Weak<Cancel>> = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for w in waits {
            if let Some(c) = w.upgrade() {
                c.end_and_join(closed);
            }
        }
    }
}
use crate::pid::Pid;

/// Why a wait ended without the process exiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEnd {
    Exited,
    TimedOut,
    Cancelled,
    Closed,
}

impl WaitEnd {
    /// The answer a caller gets for this end of a wait on process `pid` (`waited`: the
    /// timeout in ms as the caller gave it): `Ok` when it exited, else `ETIMEDOUT`,
    /// `ECANCELED` or `EBADF` (the handle was closed), each saying that the process was not
    /// touched. Test: `tests::wait_ends_have_codes`.
    pub fn outcome(self, pid: i32, waited: &str) -> Result<()> {
        let e = match self {
            WaitEnd::Exited => return Ok(()),
            WaitEnd::TimedOut => Error::new(
                Kind::TimedOut,
                format!("process {pid} was still running after {waited} ms: nothing was sent to it; wait longer, or end it with terminate() or kill()."),
            ),
            WaitEnd::Cancelled => Error::new(
                Kind::Cancelled,
                format!("the wait for process {pid} to exit was aborted."),
            ),
            WaitEnd::Closed => Error::new(
                Kind::Os(libc::EBADF),
                format!("the handle on process {pid} was closed while waiting for it to exit: the process was not touched; open a new handle to wait again."),
            ),
        };
        Err(e.with_pid(pid))
    }
}

/// The error for a wait whose thread could not be started.
pub fn no_wait_thread(pid: i32, e: &std::io::Error) -> Error {
    Error::new(
        Kind::Os(e.raw_os_error().unwrap_or(libc::EAGAIN)),
        format!("cannot start a thread to wait for process {pid}: {e}. Too many threads: end other waits (close their handles) and retry."),
    )
    .with_pid(pid)
}

/// Ends a pending wait from another thread: an eventfd the waiting `poll` also watches, and the
/// thread doing the waiting, so that whoever ends the wait can also wait for that thread to let
/// go of its descriptors ([`Cancel::end_and_join`]).
///
/// Ownership: the waiting thread holds the only long-lived strong reference; handles, the
/// binding's per-environment registry and the JavaScript `ExitWait` hold `Weak` ones. So the
/// eventfd is closed as soon as the wait ends, never later at garbage collection.
/// Test: `handle::tests::close_ends_waits_and_releases_descriptors`, `__test__/procid.spec.ts`
/// ("close() releases the pidfd and every pending wait's descriptors at once").
#[derive(Debug)]
pub struct Cancel {
    fd: OwnedFd,
    reason: AtomicU8,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Cancel {
    pub fn new() -> Result<Arc<Cancel>> {
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).map_err(|e| {
            let e = std::io::Error::from(e);
            Error::new(
                Kind::Os(e.raw_os_error().unwrap_or(libc::EIO)),
                format!("cannot create an eventfd to wait on: {e}. Too many open files?"),
            )
        })?;
        Ok(Arc::new(Cancel {
            fd,
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
        // Adds 1 to the eventfd's counter: it becomes readable and the waiting `poll` returns.
        // A full counter (never, at one write per wait) would only mean it is readable already.
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
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

    pub(crate) fn end(&self) -> WaitEnd {
        match self.reason.load(Ordering::SeqCst) {
            2 => WaitEnd::Closed,
            _ => WaitEnd::Cancelled,
        }
    }
}

/// What a wait thread needs: its own reference to the pidfd.
#[derive(Debug)]
pub struct ExitWaiter {
    pub(crate) pid: Pid,
    pub(crate) fd: Option<Arc<OwnedFd>>,
    pub(crate) start_time: u64,
}

impl ExitWaiter {
    pub fn pid(&self) -> i32 {
        self.pid.get()
    }

    /// Block until the process exits, `timeout` passes, or `cancel` fires. With a pidfd this is
    /// one `poll` on the pidfd and the canceller's eventfd: no polling loop, no wakeups (a
    /// timeout longer than an hour sleeps in one-hour slices, see [`Deadline::poll_ms`]). Any
    /// `timeout` is safe, `Duration::MAX` included: a deadline past the end of the clock is
    /// "never". Test: `handle::tests::huge_timeouts_never_overflow`.
    pub fn wait(&self, timeout: Option<Duration>, cancel: &Cancel) -> WaitEnd {
        let deadline = Deadline::after(timeout);
        loop {
            // -1: unbounded; else 0..=3_600_000 ms, rounded up so a wait never ends early.
            let slice_ms = deadline.poll_ms();
            let tick = match &self.fd {
                Some(_) => slice_ms,
                None => {
                    if !same_process(self.pid, self.start_time) {
                        return WaitEnd::Exited;
                    }
                    // Fallback: no exit notification, look every 10 ms.
                    if slice_ms < 0 {
                        10
                    } else {
                        slice_ms.min(10)
                    }
                }
            };
            let timeout = (tick >= 0).then(|| Timespec {
                tv_sec: i64::from(tick / 1000),
                tv_nsec: i64::from(tick % 1000) * 1_000_000,
            });
            let mut fds = Vec::with_capacity(2);
            fds.push(PollFd::new(&cancel.fd, PollFlags::IN));
            if let Some(fd) = &self.fd {
                fds.push(PollFd::new(&**fd, PollFlags::IN));
            }
            if poll(&mut fds, timeout.as_ref()).is_err() {
                continue; // EINTR: recompute the remaining time and poll again
            }
            if !fds[0].revents().is_empty() {
                return cancel.end();
            }
            if fds.get(1).is_some_and(|p| !p.revents().is_empty()) {
                return WaitEnd::Exited;
            }
            if deadline.passed() {
                return WaitEnd::TimedOut;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_ends_have_codes() {
        assert!(WaitEnd::Exited.outcome(7, "5").is_ok());
        for (end, code) in [
            (WaitEnd::TimedOut, "ETIMEDOUT"),
            (WaitEnd::Cancelled, "ECANCELED"),
            (WaitEnd::Closed, "EBADF"),
        ] {
            let e = end.outcome(7, "5").unwrap_err();
            assert_eq!(e.code(), code);
            assert_eq!(e.pid(), Some(7));
        }
        let e = no_wait_thread(7, &std::io::Error::from_raw_os_error(libc::EAGAIN));
        assert_eq!(e.pid(), Some(7));
    }
}
