//! Bindings of `sole_lock::Handle`: the JavaScript `LockFile` (an open lock file that can be
//! locked many times; the Rust `sole_lock::Lock` is one held lock). Type and error conversion
//! only; arguments are decided by `crate::args`.
//!
//! The lifetime decided here, because only the binding sees it: **a `LockFile` handle owns the
//! locks it lends.** `close()` releases the lock taken through it (fast path or waited),
//! cancels a pending wait on it (`EBADF`), and closes the descriptor: one behaviour however the
//! lock was taken, as closing the last descriptor of a flock does in the kernel.
//! Test: `__test__/lock.spec.ts` ("close() releases …"), `__test__/args.spec.ts`.

use std::cell::RefCell;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use napi::bindgen_prelude::*;
use napi_derive::napi;

use sole_lock::wait::{Reason, Waiter};
use sole_lock::{Lock, Mode, OpenOptions};

use crate::args::{self, Opts};
use crate::js_error;
use crate::lock::{lock_args, spawn_wait, LockArgs, LockWait, NativeLock};

/// An open lock file that can be locked and released many times without reopening. One
/// lock at a time per handle (`EBUSY` otherwise); two handles exclude each other.
///
/// The fast path keeps the granted lock inside the handle (`tryLockHeld`/`releaseHeld`) so a
/// lock cycle allocates no native object; `lib/index.ts` gives the caller a plain `Lock`.
#[napi]
pub struct NativeLockFile {
    inner: Option<sole_lock::Handle>,
    // `&self` methods with a RefCell: napi-rs tracks `&mut self` borrows per call, which costs
    // more than the flock itself on this hot path.
    held: RefCell<Option<Lock>>,
    /// The lock from a waited `lockAsync` on this handle: owned by its `NativeLock` (so GC of
    /// that object releases it, like any `Lock`), reachable here so that `close()` ends it.
    waited: RefCell<Weak<Mutex<Option<Lock>>>>,
    /// The pending wait on this handle, if any (cancelled by `close()`).
    pending: RefCell<Option<Arc<Waiter>>>,
    closed: Arc<AtomicBool>,
    path: String,
}

impl NativeLockFile {
    fn handle(&self, env: &Env) -> Result<&sole_lock::Handle> {
        self.inner
            .as_ref()
            .ok_or_else(|| js_error(env, sole_lock::Handle::closed_error(Path::new(&self.path))))
    }
    fn opts<'e>(&self, env: &Env, opts: Option<&Unknown<'e>>) -> Result<Opts<'e>> {
        let p = Path::new(&self.path);
        Opts::for_path(env, opts, p, || sole_lock::option_context(p))
    }
}

#[napi]
impl NativeLockFile {
    /// Absolute path of the lock file.
    #[napi(getter, catch_unwind)]
    pub fn path(&self) -> String {
        self.path.clone()
    }
    /// Take the lock now and keep it in the handle: `null` when another holder has it, else
    /// whether it is shared. (Internal: `lib/index.ts` turns this into `Lock | null`.)
    /// `timeoutMs` is checked too (the fast path of `lock()` tries here first).
    #[napi(
        catch_unwind,
        ts_args_type = "opts?: Pick<LockSyncOptions, 'shared' | 'timeoutMs'> | null"
    )]
    pub fn try_lock_held(&self, env: Env, opts: Option<Unknown>) -> Result<Option<bool>> {
        args::guarded(&env, "running LockFile.tryLock()", || {
            let h = self.handle(&env)?;
            let (shared, _) = if opts.is_none() {
                (false, None)
            } else {
                let o = self.opts(&env, opts.as_ref())?;
                let shared = o.bool(&env, "shared")?.unwrap_or(false);
                let t = o.timeout(
                    &env,
                    "timeoutMs",
                    &sole_lock::subject(Path::new(&self.path)),
                )?;
                (shared, t)
            };
            let got = h
                .try_lock(Mode::from_shared(shared))
                .map_err(|e| js_error(&env, e))?;
            let ok = got.is_some();
            *self.held.borrow_mut() = got;
            Ok(ok.then_some(shared))
        })
    }
    /// Take the lock, waiting on the calling thread, and keep it in the handle; returns
    /// whether it is shared.
    #[napi(
        catch_unwind,
        ts_args_type = "opts?: Pick<LockSyncOptions, 'shared' | 'timeoutMs'> | null"
    )]
    pub fn lock_sync_held(&self, env: Env, opts: Option<Unknown>) -> Result<bool> {
        args::guarded(&env, "running LockFile.lockSync()", || {
            let h = self.handle(&env)?;
            let o = self.opts(&env, opts.as_ref())?;
            let shared = o.bool(&env, "shared")?.unwrap_or(false);
            let timeout = o.timeout(
                &env,
                "timeoutMs",
                &sole_lock::subject(Path::new(&self.path)),
            )?;
            let l = h
                .lock(Mode::from_shared(shared), timeout)
                .map_err(|e| js_error(&env, e))?;
            *self.held.borrow_mut() = Some(l);
            Ok(shared)
        })
    }
    /// The fencing token of the lock kept in the handle (a handle opened with `fencing: true`),
    /// else `null`.
    #[napi(getter, catch_unwind)]
    pub fn held_token(&self) -> Option<BigInt> {
        self.held
            .borrow()
            .as_ref()
            .and_then(|l| l.token())
            .map(BigInt::from)
    }
    /// `check()` of the lock kept in the handle: `ELOST` when its file was deleted, renamed or
    /// replaced while held; no-op when none is held.
    #[napi(catch_unwind)]
    pub fn check_held(&self, env: Env) -> Result<()> {
        match self.held.borrow().as_ref() {
            Some(l) => l.check().map_err(|e| js_error(&env, e)),
            None => Ok(()),
        }
    }
    /// Watch the lock kept in the handle for loss (see `NativeLock.watch`); the watch ends
    /// with that lock.
    #[napi(catch_unwind, ts_args_type = "onLost: () => void")]
    pub fn watch_held(&self, env: Env, on_lost: Function<(), ()>) -> Result<()> {
        let mut g = self.held.borrow_mut();
        match g.as_mut() {
            Some(l) if !l.is_watched() => {
                let cb = crate::lock::lost_callback(on_lost)?;
                l.watch_lost(cb).map_err(|e| js_error(&env, e))
            }
            _ => Ok(()),
        }
    }
    /// Release the lock kept in the handle (explicit unlock; the descriptor stays open).
    #[napi(catch_unwind)]
    pub fn release_held(&self) {
        // Taken out first: the Lock's drop runs after the RefCell borrow has ended.
        let l = self.held.borrow_mut().take();
        drop(l);
    }
    /// The contended path of `lock()` on this handle.
    #[napi(
        catch_unwind,
        ts_args_type = "opts: Pick<LockSyncOptions, 'shared' | 'timeoutMs'> | undefined | null, wait: LockWait",
        ts_return_type = "Promise<NativeLock>"
    )]
    pub fn lock_async<'env>(
        &self,
        env: &'env Env,
        opts: Option<Unknown>,
        wait: &mut LockWait,
    ) -> Result<Object<'env>> {
        args::guarded(env, "running LockFile.lock()", || {
            let h = self.handle(env)?;
            let o = self.opts(env, opts.as_ref())?;
            let shared = o.bool(env, "shared")?.unwrap_or(false);
            let timeout =
                o.timeout(env, "timeoutMs", &sole_lock::subject(Path::new(&self.path)))?;
            let opened = h.lend().map_err(|e| js_error(env, e))?;
            let a = LockArgs {
                path: h.path().to_path_buf(),
                mode: Mode::from_shared(shared),
                open: OpenOptions::default(),
                timeout,
                watch: false,
            };
            let slot = Arc::new(Mutex::new(None));
            *self.waited.borrow_mut() = Arc::downgrade(&slot);
            let p = spawn_wait(env, opened, &a, wait, Some(self.closed.clone()), move |l| {
                Ok(NativeLock::in_slot(l, slot))
            })?;
            *self.pending.borrow_mut() = wait.waiter.clone();
            Ok(p)
        })
    }
    /// Close the handle: release the lock taken through it (however it was taken), cancel a
    /// pending wait on it (`EBADF`), close the descriptor. Idempotent.
    #[napi(catch_unwind)]
    pub fn close(&mut self) {
        self.closed.store(true, Ordering::Release);
        if let Some(w) = self.pending.get_mut().take() {
            w.cancel(Reason::Abort);
        }
        self.held.get_mut().take();
        if let Some(slot) = self.waited.get_mut().upgrade() {
            let waited = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
            drop(waited);
        }
        self.inner = None;
    }
    /// `true` once `close()` has run.
    #[napi(getter, catch_unwind)]
    pub fn closed(&self) -> bool {
        self.inner.is_none()
    }
}

/// Open (creating if needed) a lock file for repeated locking.
#[napi(
    catch_unwind,
    ts_args_type = "path: string, opts?: Omit<LockOptions, 'shared'> | undefined | null"
)]
pub fn open_lock_file(env: Env, path: Unknown, opts: Option<Unknown>) -> Result<NativeLockFile> {
    args::guarded(&env, "running openLockFile()", || {
        let a = lock_args(&env, &path, opts.as_ref())?;
        sole_lock::Handle::open(&a.path, &a.open)
            .map(|h| NativeLockFile {
                path: h.path().to_string_lossy().into_owned(),
                inner: Some(h),
                held: RefCell::new(None),
                waited: RefCell::new(Weak::new()),
                pending: RefCell::new(None),
                closed: Arc::new(AtomicBool::new(false)),
            })
            .map_err(|e| js_error(&env, e))
    })
}
