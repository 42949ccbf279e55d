//! Waiting for a lock on a dedicated thread that can be cancelled.
//!
//! Why: a waiting lock must not sit on libuv's threadpool (4 threads shared with `fs`, `dns`
//! and `crypto`: eight waiting locks would stall every `fs.readFile` in the process), and it
//! must wake the moment the holder releases, without polling. So each wait gets its own thread
//! blocked in `flock(LOCK_EX)`; the kernel wakes it on release.
//!
//! A thread blocked in `flock` cannot be woken by closing the fd, so cancellation (timeout,
//! AbortSignal) sends a signal to that thread alone (`pthread_kill`) with a no-op handler
//! installed without `SA_RESTART`: `flock` returns `EINTR`, the thread sees the cancel flag and
//! ends. Two races are closed here:
//! - **Lost wake-up**: the signal may land after the thread checked the flag but before it
//!   entered `flock`. The canceller therefore keeps signalling (every millisecond, on a small
//!   kicker thread, so the JavaScript thread never waits) until the waiter reports done.
//! - **Signalling a dead thread**: `pthread_kill` on an exited thread is undefined. The waiter
//!   flips `done` under the same mutex the kicker holds while signalling, and only exits after,
//!   so every signal targets a running thread.
//!
//! If the lock is granted after cancellation was requested, the waiter releases it at once and
//! reports the cancellation: a cancelled wait never leaves a lock behind. If no real-time
//! signal is free for our handler (another library took them all), cancellation still settles
//! the caller at once and the abandoned waiter releases the lock as soon as it gets it.
//! Test: `tests::cancel_wakes_a_blocked_waiter`, `lib.rs` `tests::timeout_expires_*`, and
//! `__test__/lock.spec.ts` (eight waiters do not stall `fs`).

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::Duration;

use crate::error::{Error, Kind, Result};
use crate::open::Opened;
use crate::{LockFile, Mode};

/// Why a wait was cancelled; decides the error it ends with.
#[derive(Debug, Clone, Copy)]
pub enum Reason {
    Timeout(Duration),
    Abort,
}

struct State {
    /// 0: running; 1: cancelled by abort; 2: cancelled by timeout.
    cancel: AtomicU8,
    timeout: Mutex<Option<Duration>>,
    /// `(done, thread)`: the waiter's pthread while it runs; `done` once it may exit.
    thread: Mutex<(bool, Option<libc::pthread_t>)>,
}

/// A wait in progress. Dropping it does not cancel it.
pub struct Waiter {
    state: Arc<State>,
}

extern "C" fn on_wake(_sig: libc::c_int) {}

/// The real-time signal used to interrupt waiters, if one could be claimed.
fn wake_signal() -> Option<libc::c_int> {
    static SIG: OnceLock<Option<libc::c_int>> = OnceLock::new();
    *SIG.get_or_init(|| {
        // Leave the first and last few RT signals to libraries that hard-code them.
        for sig in (libc::SIGRTMIN() + 6)..=(libc::SIGRTMAX() - 6) {
            // SAFETY: querying and setting a signal disposition with valid structs.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
                    continue;
                }
                if old.sa_sigaction != libc::SIG_DFL {
                    continue;
                }
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_wake as *const () as usize;
                sa.sa_flags = 0; // no SA_RESTART: flock must return EINTR
                libc::sigemptyset(&mut sa.sa_mask);
                if libc::sigaction(sig, &sa, std::ptr::null_mut()) == 0 {
                    return Some(sig);
                }
            }
        }
        None
    })
}

/// The real-time signal sole uses to wake waiting threads (claiming one on first use), or
/// `None` when none could be had. For tests and diagnostics.
pub fn wake_signal_in_use() -> Option<i32> {
    wake_signal()
}

impl Waiter {
    /// Start waiting for `mode` on `opened` in a new thread; `done` runs on that thread with
    /// the lock (registered to `owner`) or the error.
    pub fn spawn(
        opened: Opened,
        path: PathBuf,
        mode: Mode,
        owner: ThreadId,
        done: impl FnOnce(Result<LockFile>) + Send + 'static,
    ) -> Waiter {
        let sig = wake_signal();
        let state = Arc::new(State {
            cancel: AtomicU8::new(0),
            timeout: Mutex::new(None),
            thread: Mutex::new((false, None)),
        });
        let st = state.clone();
        // `done` must run exactly once, even if the thread cannot be started.
        type Done = Box<dyn FnOnce(Result<LockFile>) + Send>;
        let done: Arc<Mutex<Option<Done>>> = Arc::new(Mutex::new(Some(Box::new(done))));
        let done2 = done.clone();
        let path2 = path.clone();
        let spawned = std::thread::Builder::new()
            .name("sole-lock-wait".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                if let Some(sig) = sig {
                    // SAFETY: unblock our wake signal in this thread only.
                    unsafe {
                        let mut set: libc::sigset_t = std::mem::zeroed();
                        libc::sigemptyset(&mut set);
                        libc::sigaddset(&mut set, sig);
                        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                    }
                }
                st.thread.lock().unwrap_or_else(|p| p.into_inner()).1 =
                    Some(unsafe { libc::pthread_self() });
                let result = run(&st, opened, &path, mode, owner);
                st.thread.lock().unwrap_or_else(|p| p.into_inner()).0 = true;
                if let Some(f) = done2.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    f(result);
                }
            });
        if let Err(e) = spawned {
            state.thread.lock().unwrap_or_else(|p| p.into_inner()).0 = true;
            if let Some(f) = done.lock().unwrap_or_else(|p| p.into_inner()).take() {
                f(Err(Error::os(
                    e,
                    "start a thread to wait for the lock on",
                    &path2,
                )));
            }
        }
        Waiter { state }
    }

    /// Cancel the wait. Idempotent; a wait that already got its lock is not affected.
    pub fn cancel(&self, reason: Reason) {
        let code = match reason {
            Reason::Abort => 1,
            Reason::Timeout(t) => {
                *self.state.timeout.lock().unwrap_or_else(|p| p.into_inner()) = Some(t);
                2
            }
        };
        if self
            .state
            .cancel
            .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return;
        }
        let Some(sig) = wake_signal() else { return };
        let st = self.state.clone();
        // First kick now, on the caller's thread: the common case needs no more.
        if kick(&st, sig) {
            return;
        }
        let _ = std::thread::Builder::new()
            .name("sole-lock-kick".into())
            .stack_size(32 * 1024)
            .spawn(move || {
                while !kick(&st, sig) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
    }
}

/// Signal the waiter if it is still running. Returns `true` once it is done. The first call
/// may race with the waiter entering `flock`, hence the caller's retry loop.
fn kick(st: &State, sig: libc::c_int) -> bool {
    let g = st.thread.lock().unwrap_or_else(|p| p.into_inner());
    if g.0 {
        return true;
    }
    if let Some(t) = g.1 {
        // SAFETY: the thread has not passed `done = true`, so it is alive (see module doc).
        unsafe { libc::pthread_kill(t, sig) };
    }
    false
}

fn cancelled(st: &State, path: &std::path::Path, mode: Mode) -> Option<Error> {
    match st.cancel.load(Ordering::SeqCst) {
        0 => None,
        1 => Some(
            Error::new(
                Kind::Cancelled,
                format!("the wait for a lock on {} was aborted", path.display()),
            )
            .with_path(path),
        ),
        _ => {
            let t = st
                .timeout
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_default();
            Some(crate::timed_out(path, mode, t))
        }
    }
}

fn run(
    st: &State,
    opened: Opened,
    path: &std::path::Path,
    mode: Mode,
    owner: ThreadId,
) -> Result<LockFile> {
    loop {
        if let Some(e) = cancelled(st, path, mode) {
            return Err(e);
        }
        // SAFETY: valid fd owned by `opened.file`.
        let rc = unsafe { libc::flock(opened.file.as_raw_fd(), mode.op()) };
        if rc == 0 {
            if let Some(e) = cancelled(st, path, mode) {
                // Granted after cancellation: give it back at once (dropping unlocks).
                unsafe { libc::flock(opened.file.as_raw_fd(), libc::LOCK_UN) };
                return Err(e);
            }
            return Ok(LockFile::from_locked(opened, mode, owner));
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(Error::os(err, "flock", path));
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
        let held = LockFile::try_lock(&p, Mode::Exclusive, &o)
            .unwrap()
            .unwrap();
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
        let held = LockFile::try_lock(&p, Mode::Exclusive, &o)
            .unwrap()
            .unwrap();
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
}
