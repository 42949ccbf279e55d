//! Bindings of `sole_procid::ProcessHandle`: the JavaScript `ProcessHandle` (signals and exit
//! waits through a pidfd) and the waits behind `waitForExit`. Type and error conversion only;
//! the arguments are decided by `crate::procid`'s readers, every decision about processes is in
//! `crates/procid`.
//!
//! Races closed here, besides those `crates/procid` closes:
//! - **A worker terminated during a wait**: each wait is registered with its napi environment
//!   ([`EnvWaits`]); the environment's cleanup hook ends and joins every pending wait, so no
//!   thread or descriptor outlives a terminated worker, and no thread settles a promise of an
//!   environment that is gone (napi-rs 3 also drops a settle whose environment tore down).
//! - **Descriptors kept until GC**: the JavaScript `ExitWait` holds only a weak reference to its
//!   wait, and `close()` joins the wait threads (`sole_procid::Cancel::end_and_join`), so every
//!   descriptor is released when a wait ends or its handle is closed.
//!
//! Test: `__test__/procid.spec.ts` (behaviour, descriptors, worker teardown) and
//! `__test__/procid-args.spec.ts` (every method with wrong arguments).

use std::sync::{Arc, Mutex, Weak};

use napi::bindgen_prelude::*;
use napi_derive::napi;

use sole_error::Error as SoleError;
use sole_procid::{Cancel, HandleKind, WaitEnd, Waits};

use crate::args::{self, Opts};
use crate::js_error;
use crate::procid::{abort_signal_arg, identity_arg, pid_arg, signal_arg};

// ---------------------------------------------------------------------------------------------
// Waits and their environments

/// The pending waits of one napi environment (the main thread's, or one worker's), so that the
/// environment's cleanup hook can end them: a terminated worker leaves no wait thread and no
/// descriptor behind. Weak references: a wait that ended holds nothing here.
struct EnvWaits {
    env: usize,
    waits: Waits,
}

/// Every environment that has had a wait, keyed by its `napi_env` (unique while it lives; its
/// entry is removed by its cleanup hook, so a later environment at the same address starts
/// afresh).
static ENVIRONMENTS: Mutex<Vec<Arc<EnvWaits>>> = Mutex::new(Vec::new());

/// The wait registry of `env`, registering its cleanup hook the first time. Called before the
/// wait's deferred promise is created, so the hook runs after napi-rs has detached that
/// promise (cleanup hooks run in reverse order) and the ended waits settle nothing.
fn env_waits(env: &Env) -> Result<Arc<EnvWaits>> {
    let key = env.raw() as usize;
    let mut all = ENVIRONMENTS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(w) = all.iter().find(|w| w.env == key) {
        return Ok(w.clone());
    }
    env.add_env_cleanup_hook(key, end_env_waits)?;
    let w = Arc::new(EnvWaits {
        env: key,
        waits: Waits::default(),
    });
    all.push(w.clone());
    Ok(w)
}

/// The cleanup hook of an environment that is going away: end every pending wait and join its
/// thread (each leaves `poll` at once), releasing their descriptors. Never panics into Node.
fn end_env_waits(key: usize) {
    let _ = std::panic::catch_unwind(|| {
        let gone = {
            let mut all = ENVIRONMENTS.lock().unwrap_or_else(|p| p.into_inner());
            let i = all.iter().position(|w| w.env == key);
            i.map(|i| all.swap_remove(i))
        };
        if let Some(env) = gone {
            env.waits.end_all(false);
        }
    });
}

/// What settles a `waitForExit` promise, on the JavaScript thread. One function so that every
/// settle of the promise has the same resolver type; a panic while building the value is
/// `EINTERNAL` (it runs inside a napi callback, where an unwind would abort).
fn settle(
    pid: i32,
    waited: String,
    end: sole_error::Result<WaitEnd>,
) -> impl FnOnce(Env) -> Result<bool> {
    move |env: Env| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            end.and_then(|end| end.outcome(pid, &waited))
                .map(|()| true)
                .map_err(|e| js_error(&env, e.with_pid(pid)))
        }))
        .unwrap_or_else(|p| {
            Err(js_error(
                &env,
                SoleError::internal(&format!("settling the wait for process {pid}"), p.as_ref())
                    .with_pid(pid),
            ))
        })
    }
}

/// Cancels one pending `waitForExit` (the TypeScript layer calls it when its AbortSignal
/// fires). Holds the wait weakly: it never keeps the wait's eventfd open.
#[napi]
pub struct ExitWait {
    cancel: Weak<Cancel>,
    cancelled: bool,
}

#[napi]
impl ExitWait {
    #[napi(constructor, catch_unwind)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        ExitWait {
            cancel: Weak::new(),
            cancelled: false,
        }
    }
    /// End the wait with `ECANCELED` (nothing happens if it already ended).
    #[napi(catch_unwind)]
    pub fn cancel(&mut self) {
        self.cancelled = true;
        if let Some(c) = self.cancel.upgrade() {
            c.cancel(false);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Process handles

/// A process handle (pidfd on Linux): signals and waits reach this process or fail.
#[napi]
pub struct NativeProcessHandle {
    inner: sole_procid::ProcessHandle,
}

impl NativeProcessHandle {
    pub(crate) fn new(inner: sole_procid::ProcessHandle) -> Self {
        NativeProcessHandle { inner }
    }
}

#[napi]
impl NativeProcessHandle {
    /// Open a handle on a live process: `target` is a pid, or an identity object verified on
    /// the process the pidfd is bound to (as `verifyProcess`). Anything else is `EINVALIDPID`.
    #[napi(factory, catch_unwind)]
    pub fn open(
        env: Env,
        #[napi(ts_arg_type = "number | ExpectedIdentity")] target: Unknown,
    ) -> Result<Self> {
        if target.get_type()? == ValueType::Object {
            let e = identity_arg(&env, &target)?;
            return sole_procid::verify(&e)
                .map(Self::new)
                .map_err(|err| js_error(&env, err));
        }
        let pid = pid_arg(&env, &target)?;
        sole_procid::ProcessHandle::open(pid)
            .map(Self::new)
            .map_err(|e| js_error(&env, e))
    }
    #[napi(getter, catch_unwind)]
    pub fn pid(&self) -> i32 {
        self.inner.pid()
    }
    /// Start time (clock ticks since boot) of the process the handle is bound to.
    #[napi(getter, catch_unwind)]
    pub fn start_time(&self) -> f64 {
        // Clock ticks since boot: far below 2^53, exact as a double.
        self.inner.start_time() as f64
    }
    /// `'pidfd'`, or `'pid+starttime'` where the kernel has no pidfd.
    #[napi(getter, catch_unwind, ts_return_type = "'pidfd' | 'pid+starttime'")]
    pub fn kind(&self) -> &'static str {
        match self.inner.kind() {
            HandleKind::Pidfd => "pidfd",
            HandleKind::PidStartTime => "pid+starttime",
        }
    }
    #[napi(catch_unwind)]
    pub fn is_alive(&self) -> bool {
        self.inner.is_alive()
    }
    /// Send a signal (name such as `'SIGTERM'`, or number 0..=64) through the handle. The
    /// argument is decided before the handle's state (`EINVAL` before `EBADF`).
    #[napi(catch_unwind)]
    pub fn signal(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string | number")] signal: Unknown,
    ) -> Result<()> {
        let pid = self.inner.pid();
        let sig = signal_arg(&env, &signal, Some(pid), &format!(" (process {pid})"))?;
        self.inner.signal(sig).map_err(|e| js_error(&env, e))
    }
    /// Start waiting for the process to exit: a promise that resolves `true` when it exits and
    /// rejects `ETIMEDOUT` after `opts.timeoutMs`, `ECANCELED` when `wait.cancel()` is called,
    /// `EBADF` when the handle is closed. `null` (nothing started) when the `AbortSignal`
    /// the TypeScript layer read from `opts.signal` has already fired (`aborted`; a value it
    /// refused as a signal comes as `refused_signal`, reported here in order). Every
    /// argument is decided first (`EINVAL`), then the handle's state (`EBADF`). The wait runs
    /// on a dedicated thread in `poll` (never libuv's threadpool, no polling loop).
    #[napi(catch_unwind, ts_return_type = "Promise<boolean> | null")]
    pub fn wait_for_exit<'env>(
        &self,
        env: &'env Env,
        #[napi(ts_arg_type = "WaitForExitOptions | null | undefined")] opts: Option<Unknown>,
        aborted: Option<bool>,
        #[napi(ts_arg_type = "unknown")] refused_signal: Option<Unknown>,
        wait: &mut ExitWait,
    ) -> Result<Option<Object<'env>>> {
        let pid = self.inner.pid();
        let context = format!(" (waitForExit on process {pid})");
        let opts = Opts::new(env, opts.as_ref(), "opts", context.clone())?;
        let timeout_ms = opts.number(env, "timeoutMs")?;
        let timeout = match timeout_ms {
            None => None,
            Some(ms) => Some(args::timeout(
                env,
                ms,
                &format!("the exit of process {pid}"),
            )?),
        };
        let aborted = abort_signal_arg(env, aborted, refused_signal, &context)?;
        let waiter = self.inner.waiter().map_err(|e| js_error(env, e))?;
        if aborted == Some(true) {
            return Ok(None);
        }
        let waited = timeout_ms.map(|ms| format!("{ms}")).unwrap_or_default();
        let registry = env_waits(env)?;
        let (deferred, promise) = env.create_deferred()?;
        if !self.inner.is_alive() {
            deferred.resolve(settle(pid, waited, Ok(WaitEnd::Exited)));
            return Ok(Some(promise));
        }
        let cancel = self.inner.new_wait().map_err(|e| js_error(env, e))?;
        registry.waits.add(&cancel);
        if wait.cancelled {
            cancel.cancel(false);
        }
        wait.cancel = Arc::downgrade(&cancel);
        // The deferred goes to the thread through this slot, so that it can be taken back and
        // rejected if the thread cannot be started.
        let slot = Arc::new(Mutex::new(Some(deferred)));
        let thread_slot = slot.clone();
        let thread_cancel = cancel.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("sole-exit-{pid}"))
            .spawn(move || {
                let what = format!("waiting for process {pid} to exit");
                let end = args::no_panic(&what, move || {
                    let end = waiter.wait(timeout, &thread_cancel);
                    // Release the pidfd reference and the eventfd before the promise settles.
                    drop(waiter);
                    drop(thread_cancel);
                    Ok(end)
                });
                let deferred = thread_slot.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(d) = deferred {
                    d.resolve(settle(pid, waited, end));
                }
            });
        match spawned {
            Ok(t) => cancel.attach_thread(t),
            Err(e) => {
                let deferred = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(d) = deferred {
                    let err = sole_procid::wait::no_wait_thread(pid, &e);
                    d.resolve(settle(pid, String::new(), Err(err)));
                }
            }
        }
        Ok(Some(promise))
    }
    /// Close the pidfd and end every pending wait (they reject with `EBADF`), joining their
    /// threads: every descriptor is released when this returns. Idempotent.
    #[napi(catch_unwind)]
    pub fn close(&mut self) {
        self.inner.close();
    }
    #[napi(getter, catch_unwind)]
    pub fn closed(&self) -> bool {
        self.inner.is_closed()
    }
}
