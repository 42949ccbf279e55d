//! The locks this process holds, by inode and owning thread: the one place that knows enough
//! to refuse a self-deadlock.
//!
//! Why: `flock` never reports deadlock. A thread that holds an exclusive lock and then makes a
//! blocking, synchronous request for the same file through a second handle waits forever,
//! because the only code that could release the first handle runs on the blocked thread. We
//! record every held lock with the thread that owns it (the JavaScript thread that will call
//! `release()`), and a blocking wait on a conflicting lock held by the same thread fails with
//! `EDEADLK` instead of hanging. Waits whose holder is another thread or process are legitimate
//! and are not refused.
//! Test: `lib.rs` `tests::blocking_lock_deadlock_is_refused`,
//! `tests::shared_on_shared_same_thread_is_not_deadlock`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread::ThreadId;

/// Identifies one registered lock so it can be removed on release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token(u64);

struct Entry {
    dev: u64,
    ino: u64,
    token: Token,
    owner: ThreadId,
    exclusive: bool,
}

static NEXT: AtomicU64 = AtomicU64::new(1);
/// Held locks, flat: a process holds few locks, so a linear scan beats hashing, and a lock
/// cycle on a warm vector allocates nothing (this sits on the try/release hot path).
static HELD: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn with<R>(f: impl FnOnce(&mut Vec<Entry>) -> R) -> R {
    let mut g = HELD.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut g)
}

pub fn register(dev: u64, ino: u64, owner: ThreadId, exclusive: bool) -> Token {
    let token = Token(NEXT.fetch_add(1, Ordering::Relaxed));
    with(|v| {
        v.push(Entry {
            dev,
            ino,
            token,
            owner,
            exclusive,
        })
    });
    token
}

pub fn unregister(token: Token) {
    with(|v| {
        if let Some(i) = v.iter().rposition(|e| e.token == token) {
            v.swap_remove(i);
        }
    });
}

/// Would a blocking request by `owner` for this inode wait on a lock `owner` itself holds?
pub fn would_deadlock(dev: u64, ino: u64, owner: ThreadId, exclusive: bool) -> bool {
    with(|v| {
        v.iter()
            .any(|e| e.dev == dev && e.ino == ino && e.owner == owner && (e.exclusive || exclusive))
    })
}
