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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread::ThreadId;

/// Identifies one registered lock so it can be removed on release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token(u64);

struct Entry {
    token: Token,
    owner: ThreadId,
    exclusive: bool,
}

static NEXT: AtomicU64 = AtomicU64::new(1);
/// Held locks by (device, inode).
type Table = HashMap<(u64, u64), Vec<Entry>>;
static HELD: Mutex<Option<Table>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Table) -> R) -> R {
    let mut g = HELD.lock().unwrap_or_else(|p| p.into_inner());
    f(g.get_or_insert_with(HashMap::new))
}

pub fn register(dev: u64, ino: u64, owner: ThreadId, exclusive: bool) -> Token {
    let token = Token(NEXT.fetch_add(1, Ordering::Relaxed));
    with(|m| {
        m.entry((dev, ino)).or_default().push(Entry {
            token,
            owner,
            exclusive,
        })
    });
    token
}

pub fn unregister(dev: u64, ino: u64, token: Token) {
    with(|m| {
        if let Some(v) = m.get_mut(&(dev, ino)) {
            v.retain(|e| e.token != token);
            if v.is_empty() {
                m.remove(&(dev, ino));
            }
        }
    });
}

/// Would a blocking request by `owner` for this inode wait on a lock `owner` itself holds?
pub fn would_deadlock(dev: u64, ino: u64, owner: ThreadId, exclusive: bool) -> bool {
    with(|m| {
        m.get(&(dev, ino)).is_some_and(|v| {
            v.iter()
                .any(|e| e.owner == owner && (e.exclusive || exclusive))
        })
    })
}
