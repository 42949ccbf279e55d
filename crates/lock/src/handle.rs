//! An open lock file that can be locked and released many times without reopening.
//!
//! Why: a program that takes the same lock in a loop (a worker pulling jobs, a CLI guarding
//! each write) should pay for `flock` and nothing else: no `open`, `fstat` and `close` per
//! cycle. A [`Handle`] keeps the descriptor open and lends it to each [`Lock`] it grants.
//!
//! The race it must not open: a flock belongs to the open file description, and a second
//! `flock` on the *same* description does not conflict with the first, it silently converts it.
//! Two locks taken through one handle would therefore both "succeed" and the first release
//! would end both. So a handle lends its descriptor to one lock at a time: while a lock is out,
//! another request on the same handle fails with `EBUSY` instead of being granted. (Two handles
//! are two descriptions and exclude each other like two processes.)
//! Test: `tests::one_lock_at_a_time_per_handle`, `tests::handles_exclude_each_other`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::open::{self, OpenOptions, Opened};
use crate::{Lock, Mode};
use sole_error::{Error, Kind, Result};

#[derive(Debug)]
pub struct Handle {
    opened: Opened,
    path: PathBuf,
    busy: Arc<AtomicBool>,
}

impl Handle {
    /// Open (creating if needed) the lock file, with the same rules as every sole open.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Handle> {
        Ok(Handle {
            opened: open::open_lock_file(path, opts)?,
            path: path.to_path_buf(),
            busy: Arc::new(AtomicBool::new(false)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lend the descriptor to one lock request, or `EBUSY` if a lock is already out.
    pub fn lend(&self) -> Result<Opened> {
        if self.busy.swap(true, Ordering::AcqRel) {
            return Err(Error::new(
                Kind::Os(rustix::io::Errno::BUSY.raw_os_error()),
                format!(
                    "this handle on {} already holds a lock (or is waiting for one); release it first, or open a second handle",
                    self.path.display()
                ),
            )
            .with_path(&self.path));
        }
        Ok(Opened {
            file: self.opened.file.clone(),
            path: self.opened.path.clone(),
            dev: self.opened.dev,
            ino: self.opened.ino,
            fencing: self.opened.fencing,
            busy: Some(self.busy.clone()),
        })
    }

    /// The `EBADF` error of a call on a handle that was closed.
    /// Test: `__test__/lock.spec.ts` ("close() releases …").
    pub fn closed_error(path: &Path) -> Error {
        Error::new(
            Kind::Os(rustix::io::Errno::BADF.raw_os_error()),
            format!(
                "the handle on {} was closed: open a new one with openLockFile()",
                path.display()
            ),
        )
        .with_path(path)
    }

    /// Take the lock now, or `Ok(None)` when another description holds it.
    pub fn try_lock(&self, mode: Mode) -> Result<Option<Lock>> {
        Ok(Lock::try_on(self.lend()?, &self.path, mode, std::thread::current().id())?.ok())
    }

    /// Take the lock, waiting on the calling thread (see [`Lock::lock`]).
    pub fn lock(&self, mode: Mode, timeout: Option<Duration>) -> Result<Lock> {
        Lock::lock_on(self.lend()?, &self.path, mode, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lock_at_a_time_per_handle() {
        let d = tempfile::tempdir().unwrap();
        let h = Handle::open(&d.path().join("x"), &OpenOptions::default()).unwrap();
        for _ in 0..3 {
            let l = h.try_lock(Mode::Exclusive).unwrap().unwrap();
            assert_eq!(h.try_lock(Mode::Exclusive).unwrap_err().code(), "EBUSY");
            drop(l);
        }
    }

    #[test]
    fn handles_exclude_each_other() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x");
        let a = Handle::open(&p, &OpenOptions::default()).unwrap();
        let b = Handle::open(&p, &OpenOptions::default()).unwrap();
        let la = a.try_lock(Mode::Exclusive).unwrap().unwrap();
        assert!(b.try_lock(Mode::Shared).unwrap().is_none());
        // A failed try gives the descriptor back: the handle is usable again.
        assert!(b.try_lock(Mode::Shared).unwrap().is_none());
        // Same thread holds it through `a`: a synchronous wait could never end.
        assert_eq!(
            b.lock(Mode::Exclusive, Some(Duration::from_millis(1)))
                .unwrap_err()
                .code(),
            "EDEADLK"
        );
        drop(la);
        let _lb = b.try_lock(Mode::Exclusive).unwrap().unwrap();
        assert!(Lock::try_lock(&p, Mode::Exclusive, &OpenOptions::default())
            .unwrap()
            .is_none());
    }
}
