//! flock-based lock files: exclusive or shared, try / blocking / cancellable, never unlinked.
//!
//! Why this crate exists: Node.js has no advisory file lock, and the npm packages that fill the
//! gap either emulate one with `O_EXCL` files and stale timeouts (a crashed owner blocks
//! everyone until the timeout, and two reclaimers can both win), or use POSIX
//! `fcntl` record locks, which belong to the *process*: a second handle in the same process is
//! silently granted, and closing any fd of the file drops the lock (docs/races.md R6). `flock` locks
//! belong to the open file description instead: two handles in one process exclude each other,
//! and the kernel drops the lock the instant the last fd of the description closes, so a
//! SIGKILLed owner frees the lock at once, with no timeout and no guess about liveness.
//!
//! Races this crate closes, each decided in one place:
//! - **Unlink race** (docs/races.md R1): a lock file is never unlinked, by anything in sole. If A
//!   unlinked on release while B waited on the old inode, a newcomer C would create and lock a
//!   new inode, and B and C would both own "the" lock.
//! - **Inherited locks** (R7): every fd is `O_CLOEXEC` ([`fs`]), and release does an
//!   explicit `LOCK_UN` before `close`, so a child forked in the instant before exec cannot keep
//!   our lock alive after we released it.
//! - **Boolean try-lock** (R5): [`Lock::try_lock`] returns the lock or `None`; it
//!   cannot be mistaken for success.
//! - **Self-deadlock** (R8): a blocking wait on a lock the calling thread itself holds would never
//!   end (flock does not detect deadlock); [`Lock::lock`] refuses it with `EDEADLK` using
//!   the in-process [`registry`].
//! - **Waits that cannot be cancelled** (R10, R11): cancelling a wait settles its caller at once, and the
//!   thread blocked in `flock` is woken by a signal sent to that thread alone ([`wait`]), even
//!   when another component has taken sole's signal; waits never sit on libuv's threadpool.
//!
//! - **A paused holder writing after its lock was taken over**: a grant asked with
//!   `fencing` carries a token greater than every earlier holder's ([`fencing`]), which the
//!   protected resource can check.
//!
//! Test: the unit tests in each module, `tests/` for multi-process behaviour, and the
//! JavaScript suite (`__test__/lock.spec.ts`, the harness).

pub mod fencing;
pub mod fs;
pub mod fstype;
pub mod handle;
pub mod holder;
pub mod lost;
pub mod open;
pub mod registry;
pub mod signal;
pub mod wait;

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Duration;

pub use handle::Handle;
pub use open::OpenOptions;
use rustix::fs::FlockOperation;
use rustix::io::Errno;
use sole_error::{Error, Kind, Result};

/// What kind of lock to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `LOCK_EX`: one holder, no shared holders.
    Exclusive,
    /// `LOCK_SH`: any number of shared holders, no exclusive one.
    Shared,
}

impl Mode {
    /// `Shared` when `shared`, else `Exclusive` (a caller's `shared` option).
    pub fn from_shared(shared: bool) -> Mode {
        if shared {
            Mode::Shared
        } else {
            Mode::Exclusive
        }
    }
    /// The `flock` operation that waits for this mode.
    fn blocking(self) -> FlockOperation {
        match self {
            Mode::Exclusive => FlockOperation::LockExclusive,
            Mode::Shared => FlockOperation::LockShared,
        }
    }
    /// The `flock` operation that takes this mode or fails at once with `EWOULDBLOCK`.
    fn non_blocking(self) -> FlockOperation {
        match self {
            Mode::Exclusive => FlockOperation::NonBlockingLockExclusive,
            Mode::Shared => FlockOperation::NonBlockingLockShared,
        }
    }
    fn word(self) -> &'static str {
        match self {
            Mode::Exclusive => "an exclusive",
            Mode::Shared => "a shared",
        }
    }
}

/// A held flock on a file (the lock itself; an open file that can be locked many times is a
/// [`Handle`]). The lock lasts until [`Lock::release`] or drop; dropping it releases it
/// (explicit `LOCK_UN`, then `close` of the last reference to the descriptor). The file is
/// never unlinked. Test: `tests::try_lock_excludes_second_handle`.
#[must_use = "the lock is released as soon as the Lock is dropped"]
#[derive(Debug)]
pub struct Lock {
    file: Arc<File>,
    path: Arc<Path>,
    mode: Mode,
    dev: u64,
    ino: u64,
    reg: registry::Token,
    /// Set when the lock was taken through a [`Handle`]: cleared on release.
    busy: Option<Arc<AtomicBool>>,
    /// The fencing token of this grant, when it was asked for ([`fencing`]).
    token: Option<u64>,
    /// The loss watch ([`Lock::watch_lost`]), if one was asked for: ends with the lock.
    watch: Option<lost::Watch>,
}

impl Lock {
    /// Take the lock now or return `Ok(None)` if another open file description holds a
    /// conflicting lock (another process, or another handle in this one). Every other failure
    /// is an `Err`. Test: `tests::try_lock_excludes_second_handle`.
    pub fn try_lock(path: &Path, mode: Mode, opts: &OpenOptions) -> Result<Option<Lock>> {
        let opened = open::open_lock_file(path, opts)?;
        Ok(Lock::try_on(opened, path, mode, std::thread::current().id())?.ok())
    }

    /// Take the lock on an already opened file, without blocking; on contention the opened
    /// file is handed back (`Err` inside `Ok`) for a blocking wait.
    pub(crate) fn try_on(
        opened: open::Opened,
        path: &Path,
        mode: Mode,
        owner: ThreadId,
    ) -> Result<std::result::Result<Lock, open::Opened>> {
        match rustix::fs::flock(&opened, mode.non_blocking()) {
            Ok(()) => Lock::from_locked(opened, mode, owner).map(Ok),
            Err(Errno::WOULDBLOCK) => Ok(Err(opened)),
            Err(e) => Err(Error::os(e.into(), "flock", path)),
        }
    }

    /// The lock on `opened`, whose flock was just granted; with `fencing`, its token is
    /// handed out (written and fsynced) before the lock is returned, and a failure to do so
    /// releases the lock with the error.
    pub(crate) fn from_locked(
        mut opened: open::Opened,
        mode: Mode,
        owner: ThreadId,
    ) -> Result<Lock> {
        let reg = registry::register(opened.dev, opened.ino, owner, mode == Mode::Exclusive);
        let fencing = opened.fencing;
        let mut l = Lock {
            file: opened.file.clone(),
            path: opened.path.clone(),
            mode,
            dev: opened.dev,
            ino: opened.ino,
            reg,
            busy: opened.busy.take(),
            token: None,
            watch: None,
        };
        if fencing {
            if mode == Mode::Shared {
                // Shared holders could read the same token: a token orders exclusive grants.
                return Err(Error::invalid_argument(
                    "fencing",
                    format!(
                        "fencing tokens need an exclusive lock on {}: a shared lock has many holders at once. Drop shared or fencing.",
                        l.path.display()
                    ),
                )
                .with_path(&l.path));
            }
            l.token = Some(fencing::advance(&l.file, &l.path)?);
        }
        Ok(l)
    }

    /// Take the lock, waiting on the calling thread until it is free or `timeout` passes.
    ///
    /// Refuses with `EDEADLK` (before waiting) when the calling thread itself holds a
    /// conflicting lock on the same file: that wait could never end, because the thread that
    /// would release is the one waiting. An unbounded wait blocks in `flock` directly; a
    /// bounded one waits on a [`wait`] thread and cancels it at the deadline.
    /// Test: `tests::blocking_lock_deadlock_is_refused`, `tests::timeout_expires_and_other_thread_release_wakes`.
    // `Lock::lock` reads as the verb it is (`Lock::try_lock`, `Lock::lock`), and the other
    // crates call it by that name.
    #[allow(clippy::self_named_constructors)]
    pub fn lock(
        path: &Path,
        mode: Mode,
        opts: &OpenOptions,
        timeout: Option<Duration>,
    ) -> Result<Lock> {
        Lock::lock_on(open::open_lock_file(path, opts)?, path, mode, timeout)
    }

    /// [`Lock::lock`] on an already opened file (a path's, a [`Handle`]'s, or another
    /// crate's via [`open::Opened::from_file`]).
    pub fn lock_on(
        opened: open::Opened,
        path: &Path,
        mode: Mode,
        timeout: Option<Duration>,
    ) -> Result<Lock> {
        let me = std::thread::current().id();
        if registry::would_deadlock(opened.dev, opened.ino, me, mode == Mode::Exclusive) {
            return Err(Error::new(
                Kind::Deadlock,
                format!(
                    "waiting for {} lock on {} would deadlock: this thread already holds a conflicting lock on it. Release that lock first, or use tryLock()/lock() instead of lockSync().",
                    mode.word(),
                    path.display()
                ),
            )
            .with_path(path));
        }
        // Fast path: uncontended, no thread.
        let opened = match Lock::try_on(opened, path, mode, me)? {
            Ok(l) => return Ok(l),
            Err(opened) => opened,
        };
        match timeout {
            None => loop {
                match rustix::fs::flock(&opened, mode.blocking()) {
                    Ok(()) => return Lock::from_locked(opened, mode, me),
                    Err(Errno::INTR) => {}
                    Err(e) => return Err(Error::os(e.into(), "flock", path)),
                }
            },
            Some(t) => {
                let lent = opened.busy.is_some();
                let (tx, rx) = std::sync::mpsc::channel();
                let w = wait::Waiter::spawn(opened, path.to_path_buf(), mode, me, move |r| {
                    let _ = tx.send(r);
                });
                match rx.recv_timeout(t) {
                    Ok(r) => r,
                    Err(_) => {
                        // Cancelling settles us before it returns (ETIMEDOUT, or what the
                        // waiter already had): this never waits for the waiter's flock.
                        w.cancel(wait::Reason::Timeout(t));
                        let r = rx.recv().unwrap_or_else(|_| Err(timed_out(path, mode, t)));
                        if lent {
                            // A handle's descriptor stays lent until the waiter thread ends.
                            // It was just woken: give it a moment, so that retrying on the same
                            // handle right away is not refused with EBUSY. Bounded: a waiter
                            // that cannot be woken (wait.rs, "what remains") is not awaited.
                            w.wait_ended(LENT_GRACE);
                        }
                        r
                    }
                }
            }
        }
    }

    /// Release the lock: explicit `LOCK_UN`, then close. Never unlinks the file.
    pub fn release(self) -> Result<()> {
        // Drop does the work; an explicit method documents intent at call sites.
        drop(self);
        Ok(())
    }

    /// `Ok(())` while the lock's path still names the locked file; `ELOST` once it was
    /// deleted, renamed or replaced ([`lost`]). Test: `lost::tests::delete_rename_replace_are_lost`.
    pub fn check(&self) -> Result<()> {
        lost::check(&self.file, &self.path)
    }

    /// Watch for the loss of this lock: `on_lost` runs once, on the watcher thread, when the
    /// path stops naming the locked file ([`lost::watch`]). A second call keeps the first
    /// watch. The watch ends with the lock. Test: `lost::tests::watch_fires_on_delete_only`.
    pub fn watch_lost(&mut self, on_lost: lost::OnLost) -> Result<()> {
        if self.watch.is_none() {
            self.watch = Some(lost::watch(self.file.clone(), self.path.clone(), on_lost)?);
        }
        Ok(())
    }

    /// `true` once [`Lock::watch_lost`] has started a watch.
    pub fn is_watched(&self) -> bool {
        self.watch.is_some()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn mode(&self) -> Mode {
        self.mode
    }
    pub fn file(&self) -> &File {
        &self.file
    }
    pub fn dev(&self) -> u64 {
        self.dev
    }
    pub fn ino(&self) -> u64 {
        self.ino
    }
    /// This grant's fencing token, when the file was opened with `fencing`.
    pub fn token(&self) -> Option<u64> {
        self.token
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // The watch first: a released lock's loss is never reported.
        drop(self.watch.take());
        // Explicit unlock before close: a child forked by another thread an instant ago shares
        // this description until it execs; LOCK_UN ends the lock for it too. An unlock of a
        // descriptor we hold cannot fail in a way anyone could act on: close follows anyway.
        let _ = rustix::fs::flock(&*self.file, FlockOperation::Unlock);
        registry::unregister(self.reg);
        if let Some(b) = self.busy.take() {
            b.store(false, Ordering::Release);
        }
    }
}

/// How long a timed-out wait on a [`Handle`]'s descriptor gives its woken waiter thread to end.
const LENT_GRACE: Duration = Duration::from_millis(100);

/// How a message names the lock on `path`: "the lock on /x" (the `what` of a caller's
/// `timeoutMs` refused by `sole_error::timeout::from_ms`). Test: `__test__/args.spec.ts`.
pub fn subject(path: &Path) -> String {
    format!("the lock on {}", path.display())
}

/// What a refused option of a lock call on `path` appends to its message: " (lock on /x)".
pub fn option_context(path: &Path) -> String {
    format!(" (lock on {})", path.display())
}

/// The `ETIMEDOUT` error, naming the holder when the kernel can tell (one lookup serves both
/// the message and `pid`).
pub fn timed_out(path: &Path, mode: Mode, t: Duration) -> Error {
    let holder = live_holder_pid(path);
    let phrase = match holder {
        Some(p) if p as u32 == std::process::id() => format!(" (held by this process, PID {p})"),
        Some(p) => format!(" (held by PID {p})"),
        None => String::new(),
    };
    let e = Error::new(
        Kind::TimedOut,
        format!(
            "timed out after {} ms waiting for {} lock on {}{phrase}. Retry later, raise timeoutMs, or stop the holder.",
            t.as_millis(),
            mode.word(),
            path.display(),
        ),
    )
    .with_path(path);
    match holder {
        Some(pid) => e.with_pid(pid),
        None => e,
    }
}

/// The pid of a live process holding a flock on `path`, if any and if visible.
pub fn live_holder_pid(path: &Path) -> Option<i32> {
    let o = open::open_for_read(path).ok()??;
    holder::flock_holders(o.dev, o.ino)
        .into_iter()
        .filter_map(|h| sole_procid::Pid::new(i64::from(h.pid)))
        .find(|p| p.alive_not_exiting())
        .map(sole_procid::Pid::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.lock");
        (d, p)
    }

    #[test]
    fn try_lock_excludes_second_handle() {
        let (_d, p) = tmp();
        let o = OpenOptions::default();
        let a = Lock::try_lock(&p, Mode::Exclusive, &o)
            .unwrap()
            .expect("first");
        assert!(Lock::try_lock(&p, Mode::Exclusive, &o).unwrap().is_none());
        assert!(Lock::try_lock(&p, Mode::Shared, &o).unwrap().is_none());
        a.release().unwrap();
        let s1 = Lock::try_lock(&p, Mode::Shared, &o)
            .unwrap()
            .expect("shared 1");
        let s2 = Lock::try_lock(&p, Mode::Shared, &o)
            .unwrap()
            .expect("shared 2");
        assert!(Lock::try_lock(&p, Mode::Exclusive, &o).unwrap().is_none());
        drop((s1, s2));
        assert!(p.exists(), "lock files are never unlinked");
    }

    #[test]
    fn blocking_lock_deadlock_is_refused() {
        let (_d, p) = tmp();
        let o = OpenOptions::default();
        let _a = Lock::try_lock(&p, Mode::Exclusive, &o).unwrap().unwrap();
        let e = Lock::lock(&p, Mode::Exclusive, &o, None).unwrap_err();
        assert_eq!(e.code(), "EDEADLK");
        let e = Lock::lock(&p, Mode::Shared, &o, Some(Duration::from_millis(10))).unwrap_err();
        assert_eq!(e.code(), "EDEADLK");
    }

    #[test]
    fn shared_on_shared_same_thread_is_not_deadlock() {
        let (_d, p) = tmp();
        let o = OpenOptions::default();
        let _a = Lock::try_lock(&p, Mode::Shared, &o).unwrap().unwrap();
        let _b = Lock::lock(&p, Mode::Shared, &o, None).unwrap();
    }

    #[test]
    fn timeout_expires_and_other_thread_release_wakes() {
        let (_d, p) = tmp();
        let o = OpenOptions::default();
        // Held by another thread: waiting is legitimate.
        let p2 = p.clone();
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let h = std::thread::spawn(move || {
            let l = Lock::try_lock(&p2, Mode::Exclusive, &OpenOptions::default())
                .unwrap()
                .unwrap();
            held_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            drop(l);
        });
        held_rx.recv().unwrap();
        let e = Lock::lock(&p, Mode::Exclusive, &o, Some(Duration::from_millis(30))).unwrap_err();
        assert_eq!(e.code(), "ETIMEDOUT");
        assert!(
            e.message().contains("held by this process"),
            "{}",
            e.message()
        );
        go_tx.send(()).unwrap();
        let l = Lock::lock(&p, Mode::Exclusive, &o, Some(Duration::from_secs(10))).unwrap();
        drop(l);
        h.join().unwrap();
    }
}
