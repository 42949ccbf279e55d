//! Waiting for a lock on a dedicated thread that can be cancelled.
//!
//! Why: a waiting lock must not sit on libuv's threadpool (4 threads shared with `fs`, `dns`
//! and `crypto`: eight waiting locks would stall every `fs.readFile` in the process), and it
//! must wake the moment the holder releases, without polling. So each wait gets its own thread
//! blocked in `flock(LOCK_EX)`; the kernel wakes it on release.
//!
//! Cancelling a wait (timeout, AbortSignal) does two separate things, so that the first never
//! depends on the second:
//! - **It settles the caller at once**, on the cancelling thread: it takes the waiter's `done`
//!   callback and calls it with the cancellation error (`ECANCELED` for an abort, `ETIMEDOUT`
//!   for a timeout), unless the waiter delivered its result first. From then on nothing the
//!   waiter thread does can reach the caller: a lock it is granted later finds `done` taken
//!   and is released at once. A cancelled wait never leaves its caller waiting and never
//!   leaves a lock behind, whatever becomes of the thread.
//! - **It ends the thread**, so that its descriptor is closed (and a [`crate::Handle`]'s
//!   descriptor is free for the next lock). A thread blocked in `flock` cannot be woken by
//!   closing the fd, so it is sent a private real-time signal, to that thread alone
//!   (`pthread_kill`). sole's handler for it does nothing and is installed without
//!   `SA_RESTART`, so `flock` returns `EINTR` and the thread sees the cancel flag and ends.
//!
//! The signal is `SIGRTMIN+6`, or the next real-time signal up to `SIGRTMAX-6` whose
//! disposition is the default (the first and last six are left to libraries that hard-code
//! them). Its handler is process-wide; claiming and sending it is [`crate::signal`], the one
//! module that needs `libc`. The races:
//! - **Lost wake-up**: the signal may land after the thread checked the flag but before it
//!   entered `flock`. So a small kicker thread re-signals every millisecond until the waiter
//!   reports done (it wakes at once when it does), and gives up after 2 s.
//! - **Signalling a dead thread**: `pthread_kill` on an exited thread is undefined. The waiter
//!   marks itself done under the mutex the kicker holds while signalling, and only exits after,
//!   so every signal targets a running thread.
//! - **Another component takes the signal.** Any code in the process may later install its own
//!   handler on sole's signal: with `SA_RESTART` the kernel restarts `flock` instead of
//!   returning `EINTR`; with `SIG_IGN` the signal is discarded. sole does not fight it (it never
//!   installs its handler over another one). Before each blocking `flock` and before each kick
//!   it reads the disposition (`sigaction(sig, NULL, &old)`); when it is no longer sole's
//!   handler without `SA_RESTART`, sole claims the next real-time signal in the range still at
//!   its default, installs its handler there, and wakes with that one. A waiter unblocks the
//!   signal it is about to be woken with before each blocking `flock`. Threads started from a
//!   thread that blocks no real-time signal (Node clears the signal mask at start-up, so its
//!   JavaScript threads block none) can receive every signal of the range, so a thread
//!   already blocked in `flock` when the handler was replaced is still woken, by the new
//!   signal. sole never unblocks a signal it has not claimed: the host may block one in every thread to read it with `sigwaitinfo` or a
//!   `signalfd`, and unblocking it in our thread would steal it (or, at its default
//!   disposition, terminate the process).
//! - **No signal left.** When every real-time signal of the range belongs to someone else, a
//!   wait does not enter a blocking `flock` it could not leave: it polls with `flock(LOCK_NB)`
//!   every 5 ms, woken at once by cancellation (a condition variable, not a signal), and looks
//!   again for a free signal at most every 100 ms.
//!
//! What remains: a waiter thread that was already inside a blocking `flock` when the handler
//! was taken, and that no other signal of sole's can reach (none is free, or the host blocks
//! it in that thread), stays in `flock` until the holder releases. Its caller was settled when
//! the wait was cancelled, and its kicker gives up after 2 s; when the lock is finally granted
//! the thread releases it at once and ends. Until then it keeps its descriptor, so a
//! [`crate::Handle`] it was lent stays busy (`EBUSY`). The same holds for a handler replaced in
//! the instant between the waiter's check and its `flock`, and for a waiter that, under heavy
//! load, is not scheduled during the whole 2 s between its last look at the cancel flag and
//! its `flock`. (A component that reset sole's signal to the default disposition in the
//! instant between a kick's check and its `pthread_kill` would have the process terminated by
//! that signal, as with any signal a library uses.)
//!
//! A panic on a thread sole starts (waiter, kicker) is caught and settles the caller with
//! `EINTERNAL`: it neither takes the process down nor leaves the caller waiting.
//! Test: `tests::cancel_wakes_a_blocked_waiter`,
//! `tests::a_panic_on_the_waiter_thread_settles_with_einternal`, `lib.rs`
//! `tests::timeout_expires_*`, `tests/signal_taken.rs` (the signal taken by another
//! component, with `SA_RESTART` or `SIG_IGN`, before and during a wait, and every signal
//! taken), and `__test__/lock.spec.ts` (eight waiters do not stall `fs`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::Duration;

use rustix::fs::FlockOperation;
use rustix::io::Errno;
use sole_error::timeout::Deadline;

use crate::open::Opened;
use crate::signal;
use crate::{Lock, Mode};
use sole_error::{Error, Kind, Result};

/// How often a wait without a signal of its own retries `flock(LOCK_NB)`.
const POLL: Duration = Duration::from_millis(5);
/// How often the kicker re-signals a cancelled waiter, and for how long before giving up.
const KICK_EVERY: Duration = Duration::from_millis(1);
const KICK_FOR: Duration = Duration::from_secs(2);

/// Why a wait was cancelled; decides the error it ends with.
#[derive(Debug, Clone, Copy)]
pub enum Reason {
    Timeout(Duration),
    Abort,
}

type Done = Box<dyn FnOnce(Result<Lock>) + Send>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The waiter thread as the kicker sees it.
struct Thread {
    /// Set (under this mutex) once the waiter is out of `flock` for good; it exits only after.
    done: bool,
    /// Its pthread, once it runs.
    id: Option<signal::Thread>,
}

struct State {
    /// 0: running; 1: cancelled by abort; 2: cancelled by timeout.
    cancel: AtomicU8,
    timeout: Mutex<Option<Duration>>,
    thread: Mutex<Thread>,
    /// Notified (under `thread`) on cancellation and when the waiter is done: wakes a polling
    /// waiter and the kicker.
    changed: Condvar,
    /// The caller's callback, taken by whoever settles first: the waiter or the canceller.
    done: Mutex<Option<Done>>,
    path: PathBuf,
    mode: Mode,
}

impl State {
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst) != 0
    }

    fn cancel_error(&self) -> Error {
        if self.cancel.load(Ordering::SeqCst) == 1 {
            return Error::new(
                Kind::Cancelled,
                format!("the wait for a lock on {} was aborted", self.path.display()),
            )
            .with_path(&self.path);
        }
        let t = lock(&self.timeout).unwrap_or_default();
        crate::timed_out(&self.path, self.mode, t)
    }

    /// Hand the caller `outcome()` unless it was settled already (then `outcome` is dropped
    /// unrun).
    fn settle(&self, outcome: impl FnOnce() -> Result<Lock>) {
        let f = lock(&self.done).take();
        if let Some(f) = f {
            f(outcome());
        }
    }

    fn mark_done(&self) {
        lock(&self.thread).done = true;
        self.changed.notify_all();
    }
}

/// Marks the waiter done when dropped, even by a panic.
struct MarkDone<'a>(&'a State);

impl Drop for MarkDone<'_> {
    fn drop(&mut self) {
        self.0.mark_done();
    }
}

/// A wait in progress. Dropping it does not cancel it.
pub struct Waiter {
    state: Arc<State>,
}

impl Waiter {
    /// Start waiting for `mode` on `opened` in a new thread; `done` runs exactly once, with the
    /// lock (registered to `owner`) or the error: on that thread, or on the thread that
    /// cancels the wait (see [`Waiter::cancel`]).
    pub fn spawn(
        opened: Opened,
        path: PathBuf,
        mode: Mode,
        owner: ThreadId,
        done: impl FnOnce(Result<Lock>) + Send + 'static,
    ) -> Waiter {
        let state = Arc::new(State {
            cancel: AtomicU8::new(0),
            timeout: Mutex::new(None),
            thread: Mutex::new(Thread {
                done: false,
                id: None,
            }),
            changed: Condvar::new(),
            done: Mutex::new(Some(Box::new(done))),
            path,
            mode,
        });
        let st = state.clone();
        let spawned = std::thread::Builder::new()
            .name("sole-lock-wait".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                let deliver = {
                    let _done = MarkDone(&st);
                    let outcome = catch_unwind(AssertUnwindSafe(|| {
                        lock(&st.thread).id = Some(signal::Thread::current());
                        run(&st, opened, owner)
                    }));
                    // Decided before reporting done: a lock nobody takes any more (the caller
                    // was settled by a cancellation) is released here, so that once the
                    // thread is done its descriptor is free.
                    let f = lock(&st.done).take();
                    match f {
                        Some(f) => Some((f, outcome)),
                        None => {
                            drop(outcome);
                            None
                        }
                    }
                };
                if let Some((f, outcome)) = deliver {
                    let r = match outcome {
                        Ok(Some(r)) => r,
                        Ok(None) => Err(st.cancel_error()),
                        Err(payload) => Err(Error::internal(
                            &format!("waiting for the lock on {}", st.path.display()),
                            &*payload,
                        )
                        .with_path(&st.path)),
                    };
                    // A panic in the caller's own callback ends this thread, not the process.
                    let _ = catch_unwind(AssertUnwindSafe(|| f(r)));
                }
            });
        if let Err(e) = spawned {
            state.mark_done();
            state.settle(|| {
                Err(Error::os(
                    e,
                    "start a thread to wait for the lock on",
                    &state.path,
                ))
            });
        }
        Waiter { state }
    }

    /// Cancel the wait. Idempotent; a wait that already got its lock is not affected.
    ///
    /// The caller is settled before this returns: `done` runs here with the cancellation error,
    /// unless the waiter took it first (it then runs on the waiter's thread, with the lock or
    /// the error the waiter already has, without waiting for anything). The waiter thread is
    /// then woken to end (see the module doc).
    pub fn cancel(&self, reason: Reason) {
        let code = match reason {
            Reason::Abort => 1,
            Reason::Timeout(t) => {
                *lock(&self.state.timeout) = Some(t);
                2
            }
        };
        let st = &self.state;
        if st
            .cancel
            .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return;
        }
        // Signal the thread first, so it is already on its way out, then settle the caller.
        let ended = {
            let g = lock(&st.thread);
            st.changed.notify_all();
            kick(&g)
        };
        st.settle(|| Err(st.cancel_error()));
        if ended {
            return;
        }
        // If no kicker can be started, the thread is in the state "what remains" describes.
        let st = self.state.clone();
        let _ = std::thread::Builder::new()
            .name("sole-lock-kick".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| keep_kicking(&st))) {
                    st.settle(|| {
                        Err(
                            Error::internal("waking a cancelled wait for a lock", &*payload)
                                .with_path(&st.path),
                        )
                    });
                }
            });
    }

    /// Wait up to `within` for the waiter thread to end; `true` if it has.
    pub(crate) fn wait_ended(&self, within: Duration) -> bool {
        let deadline = Deadline::after(Some(within));
        let mut g = lock(&self.state.thread);
        while !g.done {
            match deadline.remaining() {
                Some(left) if !left.is_zero() => {
                    g = self
                        .state
                        .changed
                        .wait_timeout(g, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                _ => return false,
            }
        }
        true
    }
}

/// Signal the waiter (with sole's current wake signal, if any) unless it is done. Returns
/// `true` once it is done. The caller holds `st.thread`, which the waiter must take to report
/// done: the thread signalled is alive.
fn kick(g: &Thread) -> bool {
    if g.done {
        return true;
    }
    if let (Some(t), Some(sig)) = (g.id, signal::wake_signal()) {
        // `t` has not reported done, and cannot while we hold the lock, so it has not exited
        // (see the module doc): the one precondition of `Thread::kill`.
        t.kill(sig);
    }
    false
}

/// Re-signal every millisecond until the waiter is done (waking at once when it is), for at
/// most [`KICK_FOR`]: past that no signal of ours can reach it, and its caller was settled.
fn keep_kicking(st: &State) {
    let deadline = Deadline::after(Some(KICK_FOR));
    let mut g = lock(&st.thread);
    while !kick(&g) {
        match deadline.remaining() {
            Some(left) if !left.is_zero() => {
                g = st
                    .changed
                    .wait_timeout(g, left.min(KICK_EVERY))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            _ => return,
        }
    }
}

/// Wait for the lock: `Some` outcome, or `None` once the wait was cancelled.
fn run(st: &State, opened: Opened, owner: ThreadId) -> Option<Result<Lock>> {
    #[cfg(test)]
    if st.path.ends_with("panic-in-waiter") {
        panic!("injected by a test");
    }
    loop {
        if st.cancelled() {
            return None;
        }
        // Block in flock only while a signal of ours can end it; otherwise poll.
        let polling = match signal::wake_signal() {
            Some(sig) => {
                signal::unblock(sig);
                false
            }
            None => true,
        };
        let op = if polling {
            st.mode.non_blocking()
        } else {
            st.mode.blocking()
        };
        match rustix::fs::flock(&opened, op) {
            Ok(()) => {
                if st.cancelled() {
                    // Granted after cancellation: give it back at once (the caller was settled).
                    let _ = rustix::fs::flock(&opened, FlockOperation::Unlock);
                    return None;
                }
                return Some(Lock::from_locked(opened, st.mode, owner));
            }
            Err(Errno::INTR) => {}
            Err(Errno::WOULDBLOCK) if polling => {
                let g = lock(&st.thread);
                if !st.cancelled() {
                    let _ = st.changed.wait_timeout(g, POLL);
                }
            }
            Err(e) => return Some(Err(Error::os(e.into(), "flock", &st.path))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::open::{open_lock_file, OpenOptions};

    #[test]
    fn cancel_wakes_a_blocked_waiter() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x");
        let o = OpenOptions::default();
        let held = Lock::try_lock(&p, Mode::Exclusive, &o).unwrap().unwrap();
        for _ in 0..50 {
            let (tx, rx) = std::sync::mpsc::channel();
            let w = Waiter::spawn(
                open_lock_file(&p, &o).unwrap(),
                p.clone(),
                Mode::Exclusive,
                std::thread::current().id(),
                move |r| tx.send(r).unwrap(),
            );
            w.cancel(Reason::Abort);
            let r = rx
                .recv_timeout(Duration::from_secs(5))
                .expect("waiter woke");
            assert_eq!(r.unwrap_err().code(), "ECANCELED");
        }
        drop(held);
        // And a wait that is not cancelled gets the lock when it is released.
        let held = Lock::try_lock(&p, Mode::Exclusive, &o).unwrap().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let _w = Waiter::spawn(
            open_lock_file(&p, &o).unwrap(),
            p.clone(),
            Mode::Exclusive,
            std::thread::current().id(),
            move |r| tx.send(r).unwrap(),
        );
        assert!(
            rx.recv_timeout(Duration::from_millis(50)).is_err(),
            "must still wait"
        );
        drop(held);
        let l = rx.recv_timeout(Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!(l.mode(), Mode::Exclusive);
    }

    #[test]
    fn a_panic_on_the_waiter_thread_settles_with_einternal() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("panic-in-waiter");
        let (tx, rx) = std::sync::mpsc::channel();
        let _w = Waiter::spawn(
            open_lock_file(&p, &OpenOptions::default()).unwrap(),
            p.clone(),
            Mode::Exclusive,
            std::thread::current().id(),
            move |r| tx.send(r).unwrap(),
        );
        let e = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("settled")
            .unwrap_err();
        assert_eq!(e.code(), "EINTERNAL");
        assert!(
            e.message().contains("injected by a test"),
            "{}",
            e.message()
        );
    }
}
