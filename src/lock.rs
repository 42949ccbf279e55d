//! Bindings of `sole_lock`: `tryLock`, `lock`, `lockSync`, `openLockFile` and the waits behind
//! them. Type and error conversion only; arguments are decided by `crate::args`.
//!
//! Two lifetimes are decided here, because only the binding sees them:
//! - **A wait outlives nothing it was started for.** Each contended wait is registered with the
//!   JavaScript environment (main thread or worker) that started it; when that environment is
//!   torn down (`worker.terminate()`, process exit) a cleanup hook cancels the wait, so its
//!   thread ends and its descriptor closes at once instead of when some other process releases.
//!   A lock granted to a torn-down environment is released: its promise no longer exists.
//! - **A `LockFile` handle owns the locks it lends** (`src/lock_file.rs`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use sole_lock::wait::{Reason, Waiter};
use sole_lock::{open, Lock, Mode, OpenOptions};

use crate::args::{self, Opts};
use crate::js_error;

// ---- Option objects, declared for the generated typings ---------------------------------------
//
// The exports take their options as raw `Unknown` and read them through `crate::args`, so that a
// wrong type is `EINVAL` naming the option (never napi's own conversion error), and a getter is
// read once. These structs only declare the shapes (`object_from_js = false`,
// `object_to_js = false`: no conversion is generated), so that `index.d.ts` carries them and
// `lib/index.ts` re-exports them instead of hand-writing them.

/// Options of every lock call: `tryLock`, `openLockFile` (and the base of the others).
#[napi(object, object_from_js = false, object_to_js = false)]
#[allow(dead_code)] // a shape for index.d.ts: never built in Rust
pub struct LockOptions {
    /// Take a shared lock (many shared holders, no exclusive one). Default: exclusive.
    pub shared: Option<bool>,
    /// Permission bits of a newly created lock file, 0 to 0o777. Default `0o600`.
    pub mode: Option<u32>,
    /// Create missing parent directories (mode `0o700`). Default `false`.
    pub create_dirs: Option<bool>,
    /// Lock a file on a network filesystem (NFS, SMB/CIFS, FUSE, 9p, …) too, where `flock` may
    /// not be a lock every process sees. Default `false`: such a file is refused with `EREMOTEFS`.
    pub allow_network_fs: Option<bool>,
    /// Hand out a fencing token with the grant (`lock.token`, a bigint greater than every
    /// earlier holder's), stored in the file's `user.sole.fence` xattr and fsynced before the
    /// lock is returned. Exclusive locks only. Default `false`.
    pub fencing: Option<bool>,
    /// Watch the held lock for loss from the start (`lock.lost`, `ELOST`): its file deleted,
    /// renamed or replaced by another process. Default `false`: watched on first access of
    /// `lock.lost`.
    pub watch: Option<bool>,
}

/// Options of `lockSync`.
#[napi(object, object_from_js = false, object_to_js = false)]
#[allow(dead_code)] // a shape for index.d.ts: never built in Rust
pub struct LockSyncOptions {
    /// Take a shared lock (many shared holders, no exclusive one). Default: exclusive.
    pub shared: Option<bool>,
    /// Permission bits of a newly created lock file, 0 to 0o777. Default `0o600`.
    pub mode: Option<u32>,
    /// Create missing parent directories (mode `0o700`). Default `false`.
    pub create_dirs: Option<bool>,
    /// Lock a file on a network filesystem (NFS, SMB/CIFS, FUSE, 9p, …) too, where `flock` may
    /// not be a lock every process sees. Default `false`: such a file is refused with `EREMOTEFS`.
    pub allow_network_fs: Option<bool>,
    /// Hand out a fencing token with the grant (`lock.token`, a bigint greater than every
    /// earlier holder's), stored in the file's `user.sole.fence` xattr and fsynced before the
    /// lock is returned. Exclusive locks only. Default `false`.
    pub fencing: Option<bool>,
    /// Watch the held lock for loss from the start (`lock.lost`, `ELOST`): its file deleted,
    /// renamed or replaced by another process. Default `false`: watched on first access of
    /// `lock.lost`.
    pub watch: Option<bool>,
    /// Give up with `ETIMEDOUT` after this many milliseconds (0 to `Number.MAX_SAFE_INTEGER`).
    /// Default: wait forever.
    pub timeout_ms: Option<f64>,
}

/// Options of `lock`.
#[napi(object, object_from_js = false, object_to_js = false)]
#[allow(dead_code)] // a shape for index.d.ts: never built in Rust
pub struct LockAsyncOptions {
    /// Take a shared lock (many shared holders, no exclusive one). Default: exclusive.
    pub shared: Option<bool>,
    /// Permission bits of a newly created lock file, 0 to 0o777. Default `0o600`.
    pub mode: Option<u32>,
    /// Create missing parent directories (mode `0o700`). Default `false`.
    pub create_dirs: Option<bool>,
    /// Lock a file on a network filesystem (NFS, SMB/CIFS, FUSE, 9p, …) too, where `flock` may
    /// not be a lock every process sees. Default `false`: such a file is refused with `EREMOTEFS`.
    pub allow_network_fs: Option<bool>,
    /// Hand out a fencing token with the grant (`lock.token`, a bigint greater than every
    /// earlier holder's), stored in the file's `user.sole.fence` xattr and fsynced before the
    /// lock is returned. Exclusive locks only. Default `false`.
    pub fencing: Option<bool>,
    /// Watch the held lock for loss from the start (`lock.lost`, `ELOST`): its file deleted,
    /// renamed or replaced by another process. Default `false`: watched on first access of
    /// `lock.lost`.
    pub watch: Option<bool>,
    /// Give up with `ETIMEDOUT` after this many milliseconds (0 to `Number.MAX_SAFE_INTEGER`).
    /// Default: wait forever.
    pub timeout_ms: Option<f64>,
    /// Abort the wait; the promise rejects with `AbortError` (`code: 'ABORT_ERR'`). Read by
    /// `lib/index.ts` (an AbortSignal is JavaScript's own), never by the native side.
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<()>,
}

/// What a lock call asks for, decided from its arguments.
pub(crate) struct LockArgs {
    pub path: PathBuf,
    pub mode: Mode,
    pub open: OpenOptions,
    pub timeout: Option<Duration>,
    /// `{ watch: true }`: the granted lock is watched for loss at once (by `lib/index.ts`).
    pub watch: bool,
}

/// `(path, options)` of every lock call, in one place: the path first, then each option.
pub(crate) fn lock_args(env: &Env, path: &Unknown, opts: Option<&Unknown>) -> Result<LockArgs> {
    let path = args::path(env, path, "path")?;
    let o = Opts::for_path(env, opts, &path, || sole_lock::option_context(&path))?;
    let (mode, open, timeout) = lock_opts(env, &o, &path)?;
    let watch = !o.is_empty() && o.bool(env, "watch")?.unwrap_or(false);
    Ok(LockArgs {
        path,
        mode,
        open,
        timeout,
        watch,
    })
}

fn lock_opts(env: &Env, o: &Opts, path: &Path) -> Result<(Mode, OpenOptions, Option<Duration>)> {
    let d = OpenOptions::default();
    if o.is_empty() {
        return Ok((Mode::Exclusive, d, None));
    }
    let shared = o.bool(env, "shared")?.unwrap_or(false);
    let mut open = o.open_options(env)?;
    open.fencing = o.fencing(env, shared)?;
    let timeout = o.timeout(env, "timeoutMs", &sole_lock::subject(path))?;
    Ok((Mode::from_shared(shared), open, timeout))
}

/// A held flock on a lock file (the native half of `Lock`). The lock sits in a slot shared
/// with the `LockFile` handle it came from, if any, so that `close()` on the handle can end it.
#[napi]
pub struct NativeLock {
    slot: Arc<Mutex<Option<Lock>>>,
    path: String,
    shared: bool,
    token: Option<u64>,
    /// Asked for `{ watch: true }`: `lib/index.ts` starts the watch at grant.
    watch_asked: bool,
}

impl NativeLock {
    pub(crate) fn new(l: Lock) -> Self {
        Self::in_slot(l, Arc::new(Mutex::new(None)))
    }
    pub(crate) fn in_slot(l: Lock, slot: Arc<Mutex<Option<Lock>>>) -> Self {
        let path = l.path().to_string_lossy().into_owned();
        let shared = l.mode() == Mode::Shared;
        let token = l.token();
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(l);
        NativeLock {
            slot,
            path,
            shared,
            token,
            watch_asked: false,
        }
    }
    pub(crate) fn watching(mut self, asked: bool) -> Self {
        self.watch_asked = asked;
        self
    }
}

/// The threadsafe function of one loss watch: unref'd (a watch never keeps the event loop
/// alive), called without arguments, its result ignored.
pub(crate) type LostCallback =
    napi::threadsafe_function::ThreadsafeFunction<(), (), (), Status, false, true>;

/// Turn `on_lost` into the watcher's callback: a non-blocking call into JavaScript, which
/// asks `check()` for the error itself (built there by the one error mapper). Nothing is
/// thrown here; a call after the environment ended is dropped.
/// Test: `__test__/lost.spec.ts`.
pub(crate) fn lost_callback(on_lost: Function<(), ()>) -> Result<sole_lock::lost::OnLost> {
    let tsfn: LostCallback = on_lost
        .build_threadsafe_function::<()>()
        .callee_handled::<false>()
        .weak::<true>()
        .build()?;
    Ok(Box::new(move |_e| {
        let _ = tsfn.call(
            (),
            napi::threadsafe_function::ThreadsafeFunctionCallMode::NonBlocking,
        );
    }))
}

#[napi]
impl NativeLock {
    /// Absolute path of the lock file.
    #[napi(getter, catch_unwind)]
    pub fn path(&self) -> String {
        self.path.clone()
    }
    /// `true` for a shared lock.
    #[napi(getter, catch_unwind)]
    pub fn shared(&self) -> bool {
        self.shared
    }
    /// This grant's fencing token (with `fencing: true`), else `null`.
    #[napi(getter, catch_unwind)]
    pub fn token(&self) -> Option<BigInt> {
        self.token.map(BigInt::from)
    }
    /// `true` once the lock has ended (`release()`, or `close()` of its `LockFile`).
    #[napi(getter, catch_unwind)]
    pub fn released(&self) -> bool {
        self.slot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }
    /// `true` when the lock was asked for with `{ watch: true }` (read by `lib/index.ts`).
    #[napi(getter, catch_unwind)]
    pub fn watch_asked(&self) -> bool {
        self.watch_asked
    }
    /// Throw `ELOST` when the lock's file was deleted, renamed or replaced while held (the
    /// path no longer names the locked file). A released lock has nothing to lose: no-op.
    #[napi(catch_unwind)]
    pub fn check(&self, env: Env) -> Result<()> {
        let g = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        match g.as_ref() {
            Some(l) => l.check().map_err(|e| js_error(&env, e)),
            None => Ok(()),
        }
    }
    /// Watch the held lock for loss: `onLost` is called (once, later, never synchronously
    /// from here) when its file is deleted, renamed or replaced. Used by `lib/index.ts`'s
    /// `lock.lost`. No-op once released or already watched; the watch ends with the lock.
    #[napi(catch_unwind, ts_args_type = "onLost: () => void")]
    pub fn watch(&self, env: Env, on_lost: Function<(), ()>) -> Result<()> {
        let mut g = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        match g.as_mut() {
            Some(l) if !l.is_watched() => {
                let cb = lost_callback(on_lost)?;
                l.watch_lost(cb).map_err(|e| js_error(&env, e))
            }
            _ => Ok(()),
        }
    }
    /// Release the lock (explicit unlock, then close). Idempotent. Never unlinks the file.
    #[napi(catch_unwind)]
    pub fn release(&self, env: Env) -> Result<()> {
        let l = self.slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        match l {
            Some(l) => l.release().map_err(|e| js_error(&env, e)),
            None => Ok(()),
        }
    }
}

/// Try once, without waiting: the lock, or `null` when another holder has it.
/// (`timeoutMs` is checked too: `lock()` tries here first.)
#[napi(
    catch_unwind,
    ts_args_type = "path: string, opts?: LockSyncOptions | undefined | null"
)]
pub fn try_lock(env: Env, path: Unknown, opts: Option<Unknown>) -> Result<Option<NativeLock>> {
    args::guarded(&env, "running tryLock()", || {
        let a = lock_args(&env, &path, opts.as_ref())?;
        #[cfg(feature = "planted-panic")]
        crate::planted::maybe_panic(&a);
        Lock::try_lock(&a.path, a.mode, &a.open)
            .map(|r| r.map(|l| NativeLock::new(l).watching(a.watch)))
            .map_err(|e| js_error(&env, e))
    })
}

/// Wait on the calling thread (start-up code only).
#[napi(
    catch_unwind,
    ts_args_type = "path: string, opts?: LockSyncOptions | undefined | null"
)]
pub fn lock_sync(env: Env, path: Unknown, opts: Option<Unknown>) -> Result<NativeLock> {
    args::guarded(&env, "running lockSync()", || {
        let a = lock_args(&env, &path, opts.as_ref())?;
        Lock::lock(&a.path, a.mode, &a.open, a.timeout)
            .map(|l| NativeLock::new(l).watching(a.watch))
            .map_err(|e| js_error(&env, e))
    })
}

// ---- Contended waits -------------------------------------------------------------------------

/// One pending wait as the environment's cleanup hook sees it.
struct Pending {
    waiter: Arc<Waiter>,
}

struct PendingWaits {
    next: u64,
    waits: HashMap<u64, Pending>,
    hooked: bool,
}

thread_local! {
    /// The pending waits started by this thread's JavaScript environment (one per thread:
    /// the main thread or a worker). Settled waits remove themselves on this same thread.
    static PENDING: RefCell<PendingWaits> = RefCell::new(PendingWaits {
        next: 0,
        waits: HashMap::new(),
        hooked: false,
    });
}

/// Register a wait with this environment; installs the cleanup hook on first use.
fn track(env: &Env, waiter: Arc<Waiter>) -> Result<u64> {
    let need_hook = PENDING.with(|p| !p.borrow().hooked);
    if need_hook {
        env.add_env_cleanup_hook((), |_| {
            // The environment is going away: nothing can receive these locks any more.
            let waits: Vec<Pending> = PENDING.with(|p| {
                let mut p = p.borrow_mut();
                p.hooked = false;
                p.waits.drain().map(|(_, w)| w).collect()
            });
            for w in waits {
                w.waiter.cancel(Reason::Abort);
            }
        })?;
        PENDING.with(|p| p.borrow_mut().hooked = true);
    }
    Ok(PENDING.with(|p| {
        let mut p = p.borrow_mut();
        p.next += 1;
        let id = p.next;
        p.waits.insert(id, Pending { waiter });
        id
    }))
}

fn untrack(id: u64) {
    PENDING.with(|p| p.borrow_mut().waits.remove(&id));
}

/// Handle to cancel one asynchronous wait started by `lockAsync`/`claimPidfileAsync`.
#[napi]
pub struct LockWait {
    pub(crate) waiter: Option<Arc<Waiter>>,
    /// Cancelled before the waiter existed.
    early: Option<Reason>,
    /// The wait's bound, for the `ETIMEDOUT` message when the timer fires.
    timeout: Duration,
}

#[napi]
impl LockWait {
    #[napi(constructor, catch_unwind)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        LockWait {
            waiter: None,
            early: None,
            timeout: Duration::ZERO,
        }
    }
    /// Abort the wait: it ends with `ECANCELED` (the TS layer makes that an `AbortError`).
    #[napi(catch_unwind)]
    pub fn cancel(&mut self) {
        self.end(Reason::Abort);
    }
    /// The caller's `timeoutMs` ran out: the wait ends with `ETIMEDOUT`.
    #[napi(catch_unwind)]
    pub fn time_out(&mut self) {
        self.end(Reason::Timeout(self.timeout));
    }
}

impl LockWait {
    fn end(&mut self, reason: Reason) {
        match &self.waiter {
            Some(w) => w.cancel(reason),
            None => self.early = Some(reason),
        }
    }
}

/// Wait for `opened` on a dedicated thread and settle a promise from it with what `finish`
/// makes of the lock (run on the waiting thread, still under the lock). `closed`: the
/// `LockFile` handle the wait was started on, if any; a wait that ends after that handle
/// closed rejects with `EBADF` and gives the lock back.
pub(crate) fn spawn_wait<'env, T: ToNapiValue + 'static>(
    env: &'env Env,
    opened: open::Opened,
    a: &LockArgs,
    wait: &mut LockWait,
    closed: Option<Arc<AtomicBool>>,
    finish: impl FnOnce(Lock) -> sole_error::Result<T> + Send + 'static,
) -> Result<Object<'env>> {
    let (deferred, promise) = env.create_deferred()?;
    let path = a.path.clone();
    let id_slot: Arc<Mutex<u64>> = Arc::new(Mutex::new(0));
    let id_for_done = id_slot.clone();
    let waiter = Arc::new(Waiter::spawn(
        opened,
        a.path.clone(),
        a.mode,
        std::thread::current().id(),
        move |r| {
            let done = args::no_panic("finishing a lock wait", || {
                let r = r.and_then(finish);
                match (&closed, r) {
                    (Some(c), r) if c.load(Ordering::Acquire) => {
                        drop(r); // a granted lock is given back at once
                        Err(sole_lock::Handle::closed_error(&path))
                    }
                    (_, r) => r,
                }
            });
            deferred.resolve(move |env| {
                // On the JavaScript thread, after `spawn_wait` returned: the id is set.
                untrack(*id_for_done.lock().unwrap_or_else(|p| p.into_inner()));
                done.map_err(|e| js_error(&env, e))
            })
        },
    ));
    *id_slot.lock().unwrap_or_else(|p| p.into_inner()) = track(env, waiter.clone())?;
    wait.timeout = a.timeout.unwrap_or_default();
    if let Some(reason) = wait.early.take() {
        waiter.cancel(reason);
    }
    wait.waiter = Some(waiter);
    Ok(promise)
}

/// Start waiting for the lock on a dedicated thread (never libuv's pool); the promise
/// settles when the holder releases, or when `wait.cancel()`/`wait.timeOut()` is called.
/// Callers try `tryLock` first: this is only the contended path. (The timer lives in
/// `lib/index.ts`; `timeoutMs` is decided here like everywhere.)
#[napi(
    catch_unwind,
    ts_args_type = "path: string, opts: LockSyncOptions | undefined | null, wait: LockWait",
    ts_return_type = "Promise<NativeLock>"
)]
pub fn lock_async<'env>(
    env: &'env Env,
    path: Unknown,
    opts: Option<Unknown>,
    wait: &mut LockWait,
) -> Result<Object<'env>> {
    args::guarded(env, "running lock()", || {
        let a = lock_args(env, &path, opts.as_ref())?;
        let opened = open::open_lock_file(&a.path, &a.open).map_err(|e| js_error(env, e))?;
        let watch = a.watch;
        spawn_wait(env, opened, &a, wait, None, move |l| {
            Ok(NativeLock::new(l).watching(watch))
        })
    })
}

/// One process holding a flock on a file, as `lockHolders` lists it.
/// Test: `__test__/cli-status.spec.ts` (shared flock(1) holders).
#[napi(object)]
pub struct LockHolder {
    /// The holder's pid: a live process of this pid namespace, never a dead one.
    pub pid: i32,
    /// `true` for a shared (`LOCK_SH`) lock, `false` for an exclusive one.
    pub shared: bool,
}

/// Who holds flocks on a file, and sole's identity record on it (`lockHolders`).
/// Test: `__test__/cli-status.spec.ts` (holders; the record is compared unchanged).
#[napi(object)]
pub struct LockHolders {
    /// Every live holder the kernel lists, each pid once, in the kernel's order.
    pub holders: Vec<LockHolder>,
    /// Locks whose locker is no live process we can see (exited, while a child that
    /// inherited the descriptor keeps the lock).
    pub unnamed: u32,
    /// The `user.sole.identity` extended attribute (`sole-identity/1 pid=…`), or `null`.
    pub identity_record: Option<String>,
}

/// Every live holder of a flock on `path` (shared holders too), from the kernel's lock list,
/// without locking, writing or following a symlink; `null` when the file does not exist.
/// For `sole status`. Test: `__test__/cli-status.spec.ts` (`sole_lock::holder::list_holders`).
#[napi(catch_unwind, ts_args_type = "path: string")]
pub fn lock_holders(env: Env, path: Unknown) -> Result<Option<LockHolders>> {
    args::guarded(&env, "running lockHolders()", || {
        let p = args::path(&env, &path, "path")?;
        let listing = sole_lock::holder::list_holders(&p, sole_pidfile::RECORD_XATTR)
            .map_err(|e| js_error(&env, e))?;
        Ok(listing.map(|l| LockHolders {
            holders: l
                .holders
                .iter()
                .map(|h| LockHolder {
                    pid: h.pid,
                    shared: !h.exclusive,
                })
                .collect(),
            unnamed: u32::try_from(l.unnamed).unwrap_or(u32::MAX),
            identity_record: l.xattr,
        }))
    })
}

/// The last fencing token handed out for `path`, read without locking, writing or following a
/// symlink: `0n` when the file was never fenced, `null` when it does not exist.
/// Test: `__test__/fencing.spec.ts`.
#[napi(catch_unwind, ts_args_type = "path: string")]
pub fn read_fencing_token(env: Env, path: Unknown) -> Result<Option<BigInt>> {
    args::guarded(&env, "running readFencingToken()", || {
        let p = args::path(&env, &path, "path")?;
        sole_lock::fencing::read(&p)
            .map(|t| t.map(BigInt::from))
            .map_err(|e| js_error(&env, e))
    })
}
