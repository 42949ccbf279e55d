//! Cancellation when another component of the process takes the real-time signal sole wakes
//! waiting threads with: its handler replaced by one with `SA_RESTART` (the kernel then
//! restarts `flock` instead of returning `EINTR`), or by `SIG_IGN` (the signal is discarded).
//! Timeouts and aborts must still settle at once, later waits must still be cancellable, no
//! thread sole started may linger, and no lock may be left behind.
//!
//! Signal dispositions are process-wide, so these tests live in their own test binary and run
//! one at a time (`SERIAL`); each restores every disposition it changed, even when it fails.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sole_lock::open::{open_lock_file, OpenOptions};
use sole_lock::signal::wake_signal_in_use;
use sole_lock::wait::{Reason, Waiter};
use sole_lock::{Lock, Mode};

static SERIAL: Mutex<()> = Mutex::new(());

/// Long enough for a loaded CI machine, short against "forever".
const BOUND: Duration = Duration::from_secs(5);

extern "C" fn foreign_handler(_sig: libc::c_int) {}

/// How another component takes a signal.
#[derive(Clone, Copy)]
enum Takeover {
    /// Its own handler, with `SA_RESTART`.
    Restart,
    /// `SIG_IGN`.
    Ignore,
}

/// Dispositions changed by a test; dropping this puts them back.
struct Taken(Vec<(libc::c_int, libc::sigaction)>);

impl Taken {
    fn new() -> Taken {
        Taken(Vec::new())
    }
    fn take(&mut self, sig: libc::c_int, how: Takeover) {
        // SAFETY: valid sigaction structs; the handler is a no-op safe for any signal.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            match how {
                Takeover::Restart => {
                    sa.sa_sigaction = foreign_handler as *const () as usize;
                    sa.sa_flags = libc::SA_RESTART;
                }
                Takeover::Ignore => sa.sa_sigaction = libc::SIG_IGN,
            }
            libc::sigemptyset(&mut sa.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            assert_eq!(libc::sigaction(sig, &sa, &mut old), 0);
            self.0.push((sig, old));
        }
    }
    /// Take every real-time signal: none is left for sole.
    fn take_all(&mut self, how_for_sole_signal: Takeover) {
        let ours = wake_signal_in_use();
        for sig in libc::SIGRTMIN()..=libc::SIGRTMAX() {
            if Some(sig) == ours {
                self.take(sig, how_for_sole_signal);
            } else {
                self.take(sig, Takeover::Ignore);
            }
        }
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        for (sig, old) in self.0.drain(..).rev() {
            // SAFETY: restoring a disposition read by sigaction itself.
            unsafe { libc::sigaction(sig, &old, std::ptr::null_mut()) };
        }
    }
}

/// A lock held by another thread (so waiting for it is legitimate, not a self-deadlock) until
/// `release` is called.
struct Holder {
    go: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Holder {
    fn hold(p: &Path) -> Holder {
        let p = p.to_path_buf();
        let (held_tx, held_rx) = mpsc::channel();
        let (go, go_rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let l = Lock::try_lock(&p, Mode::Exclusive, &OpenOptions::default())
                .unwrap()
                .expect("free at start");
            held_tx.send(()).unwrap();
            let _ = go_rx.recv();
            drop(l);
        });
        held_rx.recv().unwrap();
        Holder { go, thread }
    }
    fn release(self) {
        self.go.send(()).unwrap();
        self.thread.join().unwrap();
    }
}

fn tmp() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("x.lock");
    (d, p)
}

/// Threads of this process with the given name.
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|c| c.trim_end() == name)
        .count()
}

/// Poll (bounded) until no waiter or kicker thread of sole is left.
fn assert_threads_end(within: Duration) {
    let start = Instant::now();
    loop {
        let (wait, kick) = (
            threads_named("sole-lock-wait"),
            threads_named("sole-lock-kick"),
        );
        if wait == 0 && kick == 0 {
            return;
        }
        assert!(
            start.elapsed() < within,
            "{wait} waiter and {kick} kicker threads still running after {within:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Poll (bounded) until the lock can be taken: nothing was left behind.
fn assert_free(p: &Path) {
    let start = Instant::now();
    loop {
        if Lock::try_lock(p, Mode::Exclusive, &OpenOptions::default())
            .unwrap()
            .is_some()
        {
            return;
        }
        assert!(start.elapsed() < BOUND, "the lock was left held");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `/proc/locks` shows a blocked flock request (`->`) on `p`: a thread is inside `flock`.
fn flock_waiter_on(p: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(p).unwrap().ino();
    std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .any(|l| {
            l.contains("->")
                && l.split_whitespace()
                    .any(|w| w.ends_with(&format!(":{ino}")))
        })
}

/// `Lock::lock` with a bound, run on another thread so a hang fails the test instead of
/// hanging it.
fn bounded_lock(p: &Path, t: Duration) -> mpsc::Receiver<sole_error::Result<Lock>> {
    let p = p.to_path_buf();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(Lock::lock(
            &p,
            Mode::Exclusive,
            &OpenOptions::default(),
            Some(t),
        ));
    });
    rx
}

fn spawn_waiter(p: &Path) -> (Waiter, mpsc::Receiver<sole_error::Result<Lock>>) {
    let (tx, rx) = mpsc::channel();
    let w = Waiter::spawn(
        open_lock_file(p, &OpenOptions::default()).unwrap(),
        p.to_path_buf(),
        Mode::Exclusive,
        std::thread::current().id(),
        move |r| {
            let _ = tx.send(r);
        },
    );
    (w, rx)
}

fn code(r: sole_error::Result<Lock>) -> String {
    match r {
        Ok(_) => "granted".into(),
        Err(e) => e.code(),
    }
}

/// Start a bounded lock and check it ends with `ETIMEDOUT` soon after its bound.
fn times_out(p: &Path) {
    let start = Instant::now();
    let r = bounded_lock(p, Duration::from_millis(50))
        .recv_timeout(BOUND)
        .expect("a bounded lock returns");
    assert_eq!(code(r), "ETIMEDOUT");
    assert!(start.elapsed() < BOUND);
}

/// Start a waiter, abort it, and check it ends with `ECANCELED` at once.
fn aborts(p: &Path) {
    let (w, rx) = spawn_waiter(p);
    w.cancel(Reason::Abort);
    let r = rx.recv_timeout(BOUND).expect("an aborted wait settles");
    assert_eq!(code(r), "ECANCELED");
}

#[test]
fn restarting_handler_on_our_signal_timeout_still_settles() {
    let _s = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (_d, p) = tmp();
    let sig = wake_signal_in_use().expect("a wake signal");
    let holder = Holder::hold(&p);
    let mut taken = Taken::new();
    taken.take(sig, Takeover::Restart);

    times_out(&p);
    // A later wait (a new waiter) is still cancellable, by timeout and by abort.
    times_out(&p);
    aborts(&p);
    assert_ne!(
        wake_signal_in_use(),
        Some(sig),
        "sole does not fight the other component for its signal"
    );
    assert_threads_end(BOUND);
    holder.release();
    assert_free(&p);
    drop(taken);
}

#[test]
fn ignored_signal_abort_still_settles() {
    let _s = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (_d, p) = tmp();
    let sig = wake_signal_in_use().expect("a wake signal");
    let holder = Holder::hold(&p);
    let mut taken = Taken::new();
    taken.take(sig, Takeover::Ignore);

    aborts(&p);
    aborts(&p);
    times_out(&p);
    assert_threads_end(BOUND);
    holder.release();
    assert_free(&p);
    drop(taken);
}

#[test]
fn handler_replaced_while_waiting_still_settles() {
    let _s = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (_d, p) = tmp();
    let sig = wake_signal_in_use().expect("a wake signal");
    let holder = Holder::hold(&p);
    let (w, rx) = spawn_waiter(&p);
    // Replace the handler only once the waiter is inside a blocking flock.
    let start = Instant::now();
    while !flock_waiter_on(&p) {
        assert!(start.elapsed() < BOUND, "the waiter never blocked in flock");
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut taken = Taken::new();
    taken.take(sig, Takeover::Restart);

    w.cancel(Reason::Abort);
    let r = rx.recv_timeout(BOUND).expect("an aborted wait settles");
    assert_eq!(code(r), "ECANCELED");
    // Another signal reaches the blocked thread: it ends without the holder releasing.
    assert_threads_end(BOUND);
    aborts(&p);
    times_out(&p);
    assert_threads_end(BOUND);
    holder.release();
    assert_free(&p);
    drop(taken);
}

#[test]
fn no_signal_left_waits_poll_and_stay_cancellable() {
    let _s = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (_d, p) = tmp();
    let holder = Holder::hold(&p);
    let mut taken = Taken::new();
    taken.take_all(Takeover::Restart);

    aborts(&p);
    times_out(&p);
    assert_threads_end(BOUND);
    // A wait that is not cancelled still gets the lock when the holder releases.
    let (_w, rx) = spawn_waiter(&p);
    assert!(
        rx.recv_timeout(Duration::from_millis(50)).is_err(),
        "must still wait"
    );
    holder.release();
    let l = rx.recv_timeout(BOUND).expect("granted").expect("granted");
    drop(l);
    assert_threads_end(BOUND);
    assert_free(&p);
    drop(taken);
}

#[test]
fn blocked_when_every_signal_is_taken_caller_settles_lock_not_kept() {
    let _s = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (_d, p) = tmp();
    wake_signal_in_use().expect("a wake signal");
    let holder = Holder::hold(&p);
    let (w, rx) = spawn_waiter(&p);
    let start = Instant::now();
    while !flock_waiter_on(&p) {
        assert!(start.elapsed() < BOUND, "the waiter never blocked in flock");
        std::thread::sleep(Duration::from_millis(1));
    }
    // What cannot be undone: the thread is in a flock that the kernel restarts, and no other
    // signal can reach it.
    let mut taken = Taken::new();
    taken.take_all(Takeover::Restart);

    let start = Instant::now();
    w.cancel(Reason::Abort);
    let r = rx
        .recv_timeout(BOUND)
        .expect("the caller is settled at once");
    assert_eq!(code(r), "ECANCELED");
    assert!(start.elapsed() < Duration::from_secs(1));
    // The kicker gives up (bounded); the waiter stays until the holder releases... (A thread
    // names itself once it runs: first see the kicker, then see it go.)
    let start = Instant::now();
    while threads_named("sole-lock-kick") == 0 {
        assert!(start.elapsed() < BOUND, "no kicker was started");
        std::thread::sleep(Duration::from_millis(1));
    }
    while threads_named("sole-lock-kick") > 0 {
        assert!(start.elapsed() < BOUND, "the kicker never gave up");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(threads_named("sole-lock-wait"), 1);
    // ...and then gets the lock, finds its caller gone, and releases it at once.
    holder.release();
    assert_threads_end(BOUND);
    assert_free(&p);
    drop(taken);
}
