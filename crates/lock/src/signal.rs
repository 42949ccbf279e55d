//! The wake signal: the real-time signal sole sends to one waiter thread to end its blocking
//! `flock` (see `wait.rs` for why, and for every race around it: lost wake-ups, signalling a
//! dead thread, another component taking the signal, no signal left).
//!
//! The only `libc` (and `unsafe`) in this crate. rustix has no safe form of what is here: its
//! `sigaction` and `tkill` live in `rustix::runtime`, which is `unsafe` and meant for
//! implementers of libc (a handler installed behind libc's back breaks libc's own signal
//! bookkeeping), and it has no `pthread_kill` or `pthread_sigmask` (a pthread is libc's notion).
//! Every call names the invariant that makes it sound.
//! Test: `tests/signal_taken.rs`, `wait.rs` `tests::cancel_wakes_a_blocked_waiter`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a wait without a signal looks for one that came free.
const RESCAN: Duration = Duration::from_millis(100);

/// A running thread that a wake signal can be sent to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Thread(libc::pthread_t);

impl Thread {
    /// The calling thread.
    pub(crate) fn current() -> Thread {
        // SAFETY: pthread_self has no preconditions.
        Thread(unsafe { libc::pthread_self() })
    }

    /// Send `sig` (one of sole's wake signals, whose handler does nothing) to this thread.
    /// The caller guarantees that the thread has not exited: `pthread_kill` on an exited thread
    /// is undefined (`wait.rs` holds the waiter's "done" mutex while it kills).
    pub(crate) fn kill(self, sig: libc::c_int) {
        // SAFETY: the thread is alive (the caller's guarantee above); `sig` has sole's no-op
        // handler.
        unsafe { libc::pthread_kill(self.0, sig) };
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

extern "C" fn on_wake(_sig: libc::c_int) {}

struct Claim {
    /// The signal sole wakes waiters with, while its disposition is still sole's.
    sig: Option<libc::c_int>,
    /// When a search for a free signal last found none.
    failed_at: Option<Instant>,
}

static CLAIM: Mutex<Claim> = Mutex::new(Claim {
    sig: None,
    failed_at: None,
});

/// The real-time signal sole wakes waiting threads with, claiming one if it has none (or if
/// another component took the one it had), or `None` when no signal can be had (waits then
/// poll). For tests and diagnostics.
pub fn wake_signal_in_use() -> Option<i32> {
    current_signal(true)
}

/// [`wake_signal_in_use`], searching again for a free signal at most every [`RESCAN`].
pub(crate) fn wake_signal() -> Option<libc::c_int> {
    current_signal(false)
}

fn current_signal(search_now: bool) -> Option<libc::c_int> {
    let mut c = lock(&CLAIM);
    if let Some(sig) = c.sig {
        if is_ours(sig) {
            return Some(sig);
        }
        // Another component took it: it is theirs now.
        c.sig = None;
    }
    if !search_now && c.failed_at.is_some_and(|t| t.elapsed() < RESCAN) {
        return None;
    }
    // Leave the first and last few RT signals to libraries that hard-code them.
    for sig in (libc::SIGRTMIN() + 6)..=(libc::SIGRTMAX() - 6) {
        if is_ours(sig) || claim(sig) {
            c.sig = Some(sig);
            c.failed_at = None;
            return Some(sig);
        }
    }
    c.failed_at = Some(Instant::now());
    None
}

fn disposition(sig: libc::c_int) -> Option<libc::sigaction> {
    // SAFETY: an all-zero sigaction is a valid value; with a null new action, sigaction only
    // writes the current disposition into `old`.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        (libc::sigaction(sig, std::ptr::null(), &mut old) == 0).then_some(old)
    }
}

/// Is `sig` handled by sole's handler, in a way that interrupts `flock`?
fn is_ours(sig: libc::c_int) -> bool {
    disposition(sig).is_some_and(|a| {
        a.sa_sigaction == on_wake as *const () as usize
            && a.sa_flags & (libc::SA_RESTART | libc::SA_RESETHAND) == 0
    })
}

/// Install sole's handler on `sig` if nobody else has a disposition on it.
fn claim(sig: libc::c_int) -> bool {
    let free = disposition(sig).is_some_and(|a| a.sa_sigaction == libc::SIG_DFL);
    if !free {
        return false;
    }
    // SAFETY: a zeroed sigaction with an empty mask and a handler that does nothing (so is
    // async-signal-safe).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_wake as *const () as usize;
        sa.sa_flags = 0; // no SA_RESTART: flock must return EINTR
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut()) == 0
    }
}

/// Unblock `sig` in the calling thread only.
pub(crate) fn unblock(sig: libc::c_int) {
    // SAFETY: builds a signal set in a local and changes only this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}
