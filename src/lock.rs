//! Bindings of `sole_lock`: `tryLock`, `lock`, `lockSync`, `openLockFile` and the waits behind
//! them. Type and error conversion only.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use sole_lock::{open, LockFile, Mode, OpenOptions};

use crate::{js_error, path_arg};

/// Options shared by `tryLock`, `lock` and `lockSync`.
#[napi(object)]
pub struct LockOptions {
    /// Take a shared (`LOCK_SH`) lock instead of an exclusive one.
    pub shared: Option<bool>,
    /// Permission bits for a newly created lock file (default `0o600`).
    pub mode: Option<u32>,
    /// Create missing parent directories with mode `0o700` (default `false`).
    pub create_dirs: Option<bool>,
    /// Give up after this many milliseconds with `ETIMEDOUT`.
    pub timeout_ms: Option<f64>,
}

fn split(opts: &Option<LockOptions>) -> (Mode, OpenOptions) {
    let d = OpenOptions::default();
    match opts {
        None => (Mode::Exclusive, d),
        Some(o) => (
            if o.shared.unwrap_or(false) {
                Mode::Shared
            } else {
                Mode::Exclusive
            },
            OpenOptions {
                mode: o.mode.unwrap_or(d.mode),
                create_dirs: o.create_dirs.unwrap_or(d.create_dirs),
            },
        ),
    }
}

/// A held flock on a lock file (the native half of `Lock`).
#[napi]
pub struct NativeLock {
    inner: Option<LockFile>,
    path: String,
    shared: bool,
}

impl NativeLock {
    fn new(l: LockFile) -> Self {
        NativeLock {
            path: l.path().to_string_lossy().into_owned(),
            shared: l.mode() == Mode::Shared,
            inner: Some(l),
        }
    }
}

#[napi]
impl NativeLock {
    /// Absolute path of the lock file.
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.path.clone()
    }
    /// `true` for a shared lock.
    #[napi(getter)]
    pub fn shared(&self) -> bool {
        self.shared
    }
    /// `true` once `release()` has run.
    #[napi(getter)]
    pub fn released(&self) -> bool {
        self.inner.is_none()
    }
    /// Release the lock (explicit unlock, then close). Idempotent. Never unlinks the file.
    #[napi]
    pub fn release(&mut self, env: Env) -> Result<()> {
        match self.inner.take() {
            Some(l) => l.release().map_err(|e| js_error(&env, e)),
            None => Ok(()),
        }
    }
}

/// Try once, without waiting: the lock, or `null` when another holder has it.
#[napi]
pub fn try_lock(env: Env, path: String, opts: Option<LockOptions>) -> Result<Option<NativeLock>> {
    let p = path_arg(&env, &path)?;
    let (mode, o) = split(&opts);
    // `lock()` tries here first: a bad timeoutMs is refused even when the lock is free.
    check_timeout(&env, timeout_of(&opts), &p)?;
    LockFile::try_lock(&p, mode, &o)
        .map(|r| r.map(NativeLock::new))
        .map_err(|e| js_error(&env, e))
}

/// Wait on the calling thread (start-up code only).
#[napi]
pub fn lock_sync(env: Env, path: String, opts: Option<LockOptions>) -> Result<NativeLock> {
    let p = path_arg(&env, &path)?;
    let (mode, o) = split(&opts);
    let timeout = check_timeout(&env, timeout_of(&opts), &p)?;
    LockFile::lock(&p, mode, &o, timeout)
        .map(NativeLock::new)
        .map_err(|e| js_error(&env, e))
}

/// Handle to cancel one asynchronous wait started by `lockAsync`.
#[napi]
pub struct LockWait {
    pub(crate) waiter: Option<sole_lock::wait::Waiter>,
    pub(crate) cancelled: Option<sole_lock::wait::Reason>,
}

#[napi]
impl LockWait {
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        LockWait {
            waiter: None,
            cancelled: None,
        }
    }
    /// Cancel the wait: `timeoutMs` given → it ends with `ETIMEDOUT`, otherwise `ECANCELED`.
    #[napi]
    pub fn cancel(&mut self, timeout_ms: Option<f64>) {
        let reason = match timeout_ms {
            // Validated when the wait started; only the message uses it.
            Some(ms) => sole_lock::wait::Reason::Timeout(std::time::Duration::from_secs_f64(
                (ms / 1000.0).clamp(0.0, 1e9),
            )),
            None => sole_lock::wait::Reason::Abort,
        };
        match &self.waiter {
            Some(w) => w.cancel(reason),
            None => self.cancelled = Some(reason),
        }
    }
}

fn check_timeout(
    env: &Env,
    timeout_ms: Option<f64>,
    path: &std::path::Path,
) -> Result<Option<std::time::Duration>> {
    match timeout_ms {
        Some(ms) => sole_lock::timeout_from_ms(ms, path)
            .map(Some)
            .map_err(|e| js_error(env, e)),
        None => Ok(None),
    }
}

fn timeout_of(opts: &Option<LockOptions>) -> Option<f64> {
    opts.as_ref().and_then(|o| o.timeout_ms)
}

/// Wait for `opened` on a dedicated thread and settle a promise from it with what `finish`
/// makes of the lock (run on the waiting thread, still under the lock).
pub(crate) fn spawn_wait<'env, T: ToNapiValue + 'static>(
    env: &'env Env,
    opened: open::Opened,
    path: std::path::PathBuf,
    mode: Mode,
    wait: &mut LockWait,
    finish: impl FnOnce(LockFile) -> sole_lock::Result<T> + Send + 'static,
) -> Result<Object<'env>> {
    let (deferred, promise) = env.create_deferred()?;
    let waiter =
        sole_lock::wait::Waiter::spawn(opened, path, mode, std::thread::current().id(), move |r| {
            let done = r.and_then(finish);
            deferred.resolve(move |env| done.map_err(|e| js_error(&env, e)))
        });
    if let Some(reason) = wait.cancelled.take() {
        waiter.cancel(reason);
    }
    wait.waiter = Some(waiter);
    Ok(promise)
}

/// Start waiting for the lock on a dedicated thread (never libuv's pool); the promise
/// settles when the holder releases, or when `wait.cancel()` is called. Callers try
/// `tryLock` first: this is only the contended path. (`timeoutMs` is validated here; its
/// timer lives in `lib/index.ts`.)
#[napi(ts_return_type = "Promise<NativeLock>")]
pub fn lock_async<'env>(
    env: &'env Env,
    path: String,
    opts: Option<LockOptions>,
    wait: &mut LockWait,
) -> Result<Object<'env>> {
    let p = path_arg(env, &path)?;
    let (mode, o) = split(&opts);
    check_timeout(env, timeout_of(&opts), &p)?;
    let opened = open::open_lock_file(&p, &o).map_err(|e| js_error(env, e))?;
    spawn_wait(env, opened, p, mode, wait, |l| Ok(NativeLock::new(l)))
}

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
    held: std::cell::RefCell<Option<LockFile>>,
    path: String,
}

fn mode_of(shared: bool) -> Mode {
    if shared {
        Mode::Shared
    } else {
        Mode::Exclusive
    }
}

impl NativeLockFile {
    fn handle(&self, env: &Env) -> Result<&sole_lock::Handle> {
        self.inner.as_ref().ok_or_else(|| {
            js_error(
                env,
                sole_lock::Error::new(
                    sole_lock::Kind::Os(libc::EBADF),
                    format!(
                        "the handle on {} is closed: open a new one with openLockFile()",
                        self.path
                    ),
                ),
            )
        })
    }
}

#[napi]
impl NativeLockFile {
    /// Absolute path of the lock file.
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.path.clone()
    }
    /// Take the lock now and keep it in the handle: `true`, or `false` when another holder
    /// has it. (Internal: `lib/index.ts` turns this into `Lock | null`.) `timeoutMs` is only
    /// validated (the fast path of `lock()` tries here first).
    #[napi]
    pub fn try_lock_held(&self, env: Env, shared: bool, timeout_ms: Option<f64>) -> Result<bool> {
        let h = self.handle(&env)?;
        check_timeout(&env, timeout_ms, h.path())?;
        let got = h.try_lock(mode_of(shared)).map_err(|e| js_error(&env, e))?;
        let ok = got.is_some();
        *self.held.borrow_mut() = got;
        Ok(ok)
    }
    /// Take the lock, waiting on the calling thread, and keep it in the handle.
    #[napi]
    pub fn lock_sync_held(&self, env: Env, shared: bool, timeout_ms: Option<f64>) -> Result<()> {
        let h = self.handle(&env)?;
        let timeout = check_timeout(&env, timeout_ms, h.path())?;
        let l = h
            .lock(mode_of(shared), timeout)
            .map_err(|e| js_error(&env, e))?;
        *self.held.borrow_mut() = Some(l);
        Ok(())
    }
    /// Release the lock kept in the handle (explicit unlock; the descriptor stays open).
    #[napi]
    pub fn release_held(&self) {
        // Taken out first: the LockFile's drop runs after the RefCell borrow has ended.
        let l = self.held.borrow_mut().take();
        drop(l);
    }
    /// The contended path of `lock()` on this handle.
    #[napi(ts_return_type = "Promise<NativeLock>")]
    pub fn lock_async<'env>(
        &self,
        env: &'env Env,
        opts: Option<LockOptions>,
        wait: &mut LockWait,
    ) -> Result<Object<'env>> {
        let (mode, _) = split(&opts);
        let h = self.handle(env)?;
        check_timeout(env, timeout_of(&opts), h.path())?;
        let opened = h.lend().map_err(|e| js_error(env, e))?;
        spawn_wait(env, opened, h.path().to_path_buf(), mode, wait, |l| {
            Ok(NativeLock::new(l))
        })
    }
    /// Close the handle and release a lock kept in it. A lock from the contended path of
    /// `lockAsync` stays held until released.
    #[napi]
    pub fn close(&mut self) {
        self.held.get_mut().take();
        self.inner = None;
    }
    /// `true` once `close()` has run.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.inner.is_none()
    }
}

/// Open (creating if needed) a lock file for repeated locking.
#[napi]
pub fn open_lock_file(env: Env, path: String, opts: Option<LockOptions>) -> Result<NativeLockFile> {
    let p = path_arg(&env, &path)?;
    let (_, o) = split(&opts);
    sole_lock::Handle::open(&p, &o)
        .map(|h| NativeLockFile {
            path: h.path().to_string_lossy().into_owned(),
            inner: Some(h),
            held: std::cell::RefCell::new(None),
        })
        .map_err(|e| js_error(&env, e))
}
