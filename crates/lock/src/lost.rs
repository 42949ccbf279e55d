//! Loss of a held lock: its file deleted, renamed or replaced while the lock is held (`ELOST`).
//!
//! Why: a flock belongs to an inode, and a path names an inode only until someone changes the
//! name. When a cleaner (`rm -rf /tmp/*`, systemd-tmpfiles aging, a cleanup script) deletes or
//! renames a held lock file, the next process that opens the path creates a *new* file, locks
//! it, and two processes own "the" lock (docs/races.md R45). sole never unlinks a lock file
//! (R1), but it cannot stop others from doing so. What it can do is say so at once:
//! - [`check`] compares the locked descriptor's `fstat` (device, inode, link count) with an
//!   `lstat` of the path (never following a symlink): the lock is lost when the path is gone,
//!   names another inode, or the locked inode has no name left. `lock.check()` throws it.
//! - [`watch`] reports the loss without being asked: one thread per process
//!   (`sole-lost-watch`, never libuv's pool) reads one inotify instance that watches each
//!   watched lock's inode (`IN_ATTRIB` for an unlink, `IN_MOVE_SELF`, `IN_DELETE_SELF`,
//!   through `/proc/self/fd/N`, so it is the locked inode whatever the path names now) and its
//!   parent directory (`IN_CREATE`, `IN_MOVED_TO`, `IN_DELETE`, …: a file created or moved
//!   over the path). Every event runs [`check`] for the locks it concerns; a lost lock's
//!   callback runs once, on the watcher thread. Nothing is ever thrown from there: the
//!   binding turns the callback into an AbortSignal's abort (`lock.lost`).
//!
//! Test: `tests::*` below (delete, rename, replace, untouched), and `__test__/lost.spec.ts`
//! (other processes change the file of a held lock and of a held pidfile).

use std::collections::HashMap;
use std::fs::File;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use sole_error::{Error, Kind, Result};

/// How the path stopped naming the locked file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// Nothing has the path any more (deleted, or renamed away).
    Gone,
    /// The locked file has no name left, and the path names another file.
    Replaced,
    /// The path names another file; the locked one still has a name elsewhere (renamed).
    Renamed,
}

impl How {
    fn phrase(self) -> &'static str {
        match self {
            How::Gone => "deleted or renamed away (the path no longer exists)",
            How::Replaced => "deleted and replaced (the path now names another file)",
            How::Renamed => "renamed or replaced (the path now names another file)",
        }
    }
}

/// `Ok(None)` while `path` still names the inode `file` is open on; `Ok(Some(how))` once it
/// does not. An `lstat` that fails for another reason than "no such file" is an `Err` (it
/// cannot tell). Test: `tests::delete_rename_replace_are_lost`.
pub fn how_lost(file: &File, path: &Path) -> std::io::Result<Option<How>> {
    let held = crate::fs::fstat(file)?;
    let named = crate::fs::statat_nofollow(rustix::fs::CWD, path.as_os_str())?;
    Ok(match named {
        None => Some(How::Gone),
        Some(n) if n.dev == held.dev && n.ino == held.ino && held.nlink > 0 => None,
        Some(_) if held.nlink == 0 => Some(How::Replaced),
        Some(_) => Some(How::Renamed),
    })
}

/// The `ELOST` error for the lock file `path`.
pub fn lost_error(path: &Path, how: How) -> Error {
    Error::new(
        Kind::Lost,
        format!(
            "the lock on {} was lost: its file was {} while this process held the lock. Another process may now hold a lock on a new file at that path, so stop writing what the lock protects. Keep lock files where cleaners do not reach ($XDG_RUNTIME_DIR or /run, not /tmp).",
            path.display(),
            how.phrase()
        ),
    )
    .with_path(path)
}

/// `Ok(())` while `path` still names the locked inode of `file`, else `ELOST` (or the error
/// of an `lstat` that cannot tell). Test: `tests::delete_rename_replace_are_lost`.
pub fn check(file: &File, path: &Path) -> Result<()> {
    match how_lost(file, path) {
        Ok(None) => Ok(()),
        Ok(Some(how)) => Err(lost_error(path, how)),
        Err(e) => Err(Error::os(e, "stat lock file", path)),
    }
}

/// What a watched lock calls once when it is lost, on the watcher thread.
pub type OnLost = Box<dyn Fn(Error) + Send + Sync>;

/// A watch on one held lock: dropping it stops the watch (its callback is not called after
/// the drop returns, except by a call already running on the watcher thread).
#[derive(Debug)]
pub struct Watch {
    id: u64,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Ok(w) = watcher() {
            w.remove(self.id);
        }
    }
}

struct Entry {
    file: Arc<File>,
    path: Arc<Path>,
    wds: [i32; 2],
    on_lost: Arc<OnLost>,
    fired: bool,
}

#[derive(Default)]
struct State {
    next: u64,
    entries: HashMap<u64, Entry>,
    /// Watch descriptor → how many entries use it (the same inode gives the same descriptor).
    wd_users: HashMap<i32, usize>,
}

struct Watcher {
    fd: OwnedFd,
    state: Mutex<State>,
}

const FILE_EVENTS: WatchFlags = WatchFlags::ATTRIB
    .union(WatchFlags::MOVE_SELF)
    .union(WatchFlags::DELETE_SELF);
const DIR_EVENTS: WatchFlags = WatchFlags::CREATE
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::DELETE)
    .union(WatchFlags::MOVE_SELF)
    .union(WatchFlags::DELETE_SELF);

/// The process's one watcher, started on first use.
fn watcher() -> std::io::Result<&'static Watcher> {
    static W: OnceLock<std::result::Result<&'static Watcher, i32>> = OnceLock::new();
    let w = W.get_or_init(|| {
        let fd = inotify::init(CreateFlags::CLOEXEC).map_err(|e| e.raw_os_error())?;
        let w: &'static Watcher = Box::leak(Box::new(Watcher {
            fd,
            state: Mutex::new(State::default()),
        }));
        std::thread::Builder::new()
            .name("sole-lost-watch".into())
            .spawn(move || w.run())
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EAGAIN))?;
        Ok(w)
    });
    w.map_err(std::io::Error::from_raw_os_error)
}

impl Watcher {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self) {
        let mut buf = vec![MaybeUninit::<u8>::uninit(); 16 * 1024];
        let mut reader = inotify::Reader::new(&self.fd, &mut buf);
        loop {
            let mut wds: Vec<i32> = Vec::new();
            let mut all = false;
            // Take every event already read in one pass, then check once per descriptor.
            loop {
                match reader.next() {
                    Ok(ev) => {
                        if ev.events().contains(ReadFlags::QUEUE_OVERFLOW) {
                            all = true;
                        } else if !ev.events().contains(ReadFlags::IGNORED) {
                            wds.push(ev.wd());
                        }
                    }
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(_) => {
                        // Unreadable inotify descriptor: nothing can be watched any more.
                        // Locks can still be checked with check(); leave the thread.
                        return;
                    }
                }
                if reader.is_buffer_empty() {
                    break;
                }
            }
            self.recheck(&wds, all);
        }
    }

    /// Check the entries that use one of `wds` (every entry when `all`), and call the
    /// callbacks of those newly lost, outside the state lock.
    fn recheck(&self, wds: &[i32], all: bool) {
        let mut lost: Vec<(Arc<OnLost>, Error)> = Vec::new();
        {
            let mut st = self.state();
            for e in st.entries.values_mut() {
                if e.fired || !(all || e.wds.iter().any(|w| wds.contains(w))) {
                    continue;
                }
                if let Ok(Some(how)) = how_lost(&e.file, &e.path) {
                    e.fired = true;
                    lost.push((e.on_lost.clone(), lost_error(&e.path, how)));
                }
            }
        }
        for (f, err) in lost {
            f(err);
        }
    }

    fn add(&self, file: Arc<File>, path: Arc<Path>, on_lost: OnLost) -> Result<u64> {
        let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
        let fwd = inotify::add_watch(&self.fd, proc_path.as_str(), FILE_EVENTS)
            .map_err(|e| Error::os(e.into(), "watch lock file (inotify)", &path))?;
        let dir = path.parent().unwrap_or(Path::new("/"));
        let dwd = match inotify::add_watch(&self.fd, dir, DIR_EVENTS | WatchFlags::ONLYDIR) {
            Ok(w) => w,
            Err(e) => {
                let mut st = self.state();
                self.release_wd(&mut st, fwd, 0);
                return Err(Error::os(
                    e.into(),
                    "watch lock file's directory (inotify)",
                    &path,
                ));
            }
        };
        let mut st = self.state();
        st.next += 1;
        let id = st.next;
        *st.wd_users.entry(fwd).or_default() += 1;
        *st.wd_users.entry(dwd).or_default() += 1;
        st.entries.insert(
            id,
            Entry {
                file,
                path,
                wds: [fwd, dwd],
                on_lost: Arc::new(on_lost),
                fired: false,
            },
        );
        Ok(id)
    }

    /// Drop one use of `wd` (`users` already counted); remove the kernel watch when unused.
    fn release_wd(&self, st: &mut State, wd: i32, users: usize) {
        let left = match st.wd_users.get_mut(&wd) {
            Some(n) if users > 0 => {
                *n -= 1;
                *n
            }
            Some(n) => *n,
            None => 0,
        };
        if left == 0 {
            st.wd_users.remove(&wd);
            let _ = inotify::remove_watch(&self.fd, wd);
        }
    }

    fn remove(&self, id: u64) {
        let mut st = self.state();
        if let Some(e) = st.entries.remove(&id) {
            for wd in e.wds {
                self.release_wd(&mut st, wd, 1);
            }
        }
    }
}

/// Watch the lock held through `file` on `path`: `on_lost` runs once, on the watcher thread,
/// when the path stops naming the locked inode (at once if it already does not). The watch
/// lasts until the returned [`Watch`] is dropped. Test: `tests::watch_fires_on_delete_only`.
pub fn watch(file: Arc<File>, path: Arc<Path>, on_lost: OnLost) -> Result<Watch> {
    let w = watcher().map_err(|e| Error::os(e, "start the lock watcher (inotify)", &path))?;
    let id = w.add(file, path, on_lost)?;
    // Lost before the watch was in place: no event will come for that.
    {
        let mut st = w.state();
        let lost = st.entries.get_mut(&id).and_then(|e| {
            if e.fired {
                return None;
            }
            match how_lost(&e.file, &e.path) {
                Ok(Some(how)) => {
                    e.fired = true;
                    Some((e.on_lost.clone(), lost_error(&e.path, how)))
                }
                _ => None,
            }
        });
        drop(st);
        if let Some((f, err)) = lost {
            f(err);
        }
    }
    Ok(Watch { id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn held(p: &Path) -> crate::Lock {
        crate::Lock::try_lock(p, crate::Mode::Exclusive, &Default::default())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn delete_rename_replace_are_lost() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.lock");
        let l = held(&p);
        l.check().unwrap();
        std::fs::write(&p, b"written through another descriptor").unwrap();
        l.check().unwrap();
        std::fs::remove_file(&p).unwrap();
        assert_eq!(l.check().unwrap_err().code(), "ELOST");
        drop(l);

        let l = held(&p);
        std::fs::rename(&p, d.path().join("y")).unwrap();
        let e = l.check().unwrap_err();
        assert_eq!(e.code(), "ELOST");
        assert_eq!(e.path(), Some(p.as_path()));
        std::fs::write(&p, b"new").unwrap();
        assert_eq!(how_lost(l.file(), &p).unwrap(), Some(How::Renamed));
        drop(l);

        let l = held(&p);
        std::fs::write(d.path().join("z"), b"").unwrap();
        std::fs::rename(d.path().join("z"), &p).unwrap();
        assert_eq!(how_lost(l.file(), &p).unwrap(), Some(How::Replaced));
        assert!(l
            .check()
            .unwrap_err()
            .message()
            .contains("Another process may now hold a lock on a new file"));
    }

    #[test]
    fn watch_fires_on_delete_only() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.lock");
        let (tx, rx) = mpsc::channel();
        let mut l = held(&p);
        let tx2 = tx.clone();
        l.watch_lost(Box::new(move |e| {
            let _ = tx2.send(e.code());
        }))
        .unwrap();
        // A write and a chmod are no loss; a sibling file created is no loss.
        std::fs::write(&p, b"data").unwrap();
        std::fs::write(d.path().join("other"), b"").unwrap();
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        std::fs::remove_file(&p).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "ELOST");
        // Once only.
        std::fs::write(&p, b"").unwrap();
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        drop(l);

        // A released lock's watch never fires.
        let mut l = held(&p);
        l.watch_lost(Box::new(move |e| {
            let _ = tx.send(e.code());
        }))
        .unwrap();
        l.release().unwrap();
        std::fs::remove_file(&p).unwrap();
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    }
}
