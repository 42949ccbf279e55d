//! Bindings of `sole_procid`: identity, verification, liveness and process handles. Type and
//! error conversion only; every decision about processes is in `crates/procid`.
//!
//! Why this module decides every argument itself: napi's `#[napi(object)]` and typed
//! parameters fail with napi's own codes (`NumberExpected`, `ObjectExpected`, …) that no user
//! can look up, and a check in TypeScript is a second place that can disagree with Rust. So
//! every export here takes its arguments as raw values and decides them once, with
//! `crate::args`: a pid is `EINVALIDPID` (decided by `sole_procid`), anything else of the
//! wrong type or value is `EINVAL` with `err.argument` naming it (`'timeoutMs'`, `'signal'`,
//! `'identity.startTime'`, `'opts'`, …), `null`/`undefined` options mean the defaults, and an
//! exception thrown by a caller's getter passes through unchanged. Every export is
//! `catch_unwind`, and the wait threads run their body under `args::no_panic`, so a bug is an
//! `EINTERNAL` error, never an abort of the host process.
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
//! `__test__/procid-args.spec.ts` (every export with wrong arguments).

use std::sync::{Arc, Mutex, Weak};

use napi::bindgen_prelude::*;
use napi_derive::napi;

use sole_error::Error as SoleError;
use sole_procid::{Cancel, Expected, HandleKind, Identity, Pid, WaitEnd};

use crate::args::{self, type_name, Opts};
use crate::js_error;

/// The identity of a process, from the kernel. `startTime` + `bootId` identify it across pid
/// reuse.
#[napi(object)]
#[derive(Clone)]
pub struct ProcessIdentity {
    pub pid: i32,
    /// Clock ticks since boot at which the process started (`/proc/PID/stat` field 22).
    pub start_time: f64,
    /// `/proc/sys/kernel/random/boot_id`.
    pub boot_id: String,
    /// `/proc/PID/exe` without " (deleted)"; `null` when unreadable (another user's process).
    pub exe_path: Either<String, Null>,
    /// `true` when the executable was replaced or deleted after the process started.
    pub exe_deleted: bool,
    /// Effective uid (owner of `/proc/PID`).
    pub uid: u32,
    pub hostname: String,
    /// SHA-256 (hex) of the executable, only when asked for (`{ exeSha256: true }`).
    pub exe_sha256: Option<String>,
}

pub(crate) fn to_js_identity(id: Identity, sha: Option<String>) -> ProcessIdentity {
    ProcessIdentity {
        pid: id.pid,
        // Clock ticks since boot: far below 2^53, exact as a double.
        start_time: id.start_time as f64,
        boot_id: id.boot_id,
        exe_path: match id.exe_path {
            Some(p) => Either::A(p),
            None => Either::B(Null),
        },
        exe_deleted: id.exe_deleted,
        uid: id.uid,
        hostname: id.hostname,
        exe_sha256: sha,
    }
}

// ---------------------------------------------------------------------------------------------
// Option objects, declared here so that their typings are generated into `index.d.ts`
//
// The exports take these as raw values and decide every field themselves (`err.argument`, see
// the module doc), so the structs are never converted (`object_from_js = false`,
// `object_to_js = false`): they exist for the typings, and `lib/procid.ts` re-exports them.

/// `processIdentity` options (`null`/`undefined`: the defaults).
#[napi(object, object_from_js = false, object_to_js = false)]
pub struct ProcessIdentityOptions {
    /// Add the SHA-256 of the executable (`exeSha256`). Must be a boolean.
    #[napi(ts_type = "boolean | null")]
    pub exe_sha256: Option<bool>,
}

/// A recorded identity to check; only the fields given are compared (`null` or absent: not
/// checked). A field of the wrong type is `EINVAL` with `err.argument` such as
/// `'identity.startTime'`; a missing or bad `pid` is `EINVALIDPID`.
#[napi(object, object_from_js = false, object_to_js = false)]
pub struct ExpectedIdentity {
    pub pid: i32,
    #[napi(ts_type = "number | null")]
    pub start_time: Option<f64>,
    #[napi(ts_type = "string | null")]
    pub boot_id: Option<String>,
    /// Compared after canonicalisation (symlinks resolved).
    #[napi(ts_type = "string | null")]
    pub exe_path: Option<String>,
    /// Lowercase or uppercase hex SHA-256 of the executable (64 hex digits, else `EINVAL`).
    #[napi(ts_type = "string | null")]
    pub exe_sha256: Option<String>,
}

/// `waitForExit` options (`null`/`undefined`: the defaults).
#[napi(object, object_from_js = false, object_to_js = false)]
pub struct WaitForExitOptions {
    /// Reject with `ETIMEDOUT` if the process still runs after this many milliseconds: any
    /// number from 0 to `Number.MAX_SAFE_INTEGER` waits that long; anything else is `EINVAL`
    /// with `err.argument === 'timeoutMs'`. Absent: no bound.
    #[napi(ts_type = "number | null")]
    pub timeout_ms: Option<f64>,
    /// Abort the wait: rejects with `AbortError` (`code: 'ABORT_ERR'`). (Its Rust type is a
    /// placeholder: an AbortSignal is read by the TypeScript layer.)
    #[napi(ts_type = "AbortSignal | null")]
    pub signal: Option<()>,
}

/// `terminateGracefully` options (`null`/`undefined`: the defaults).
#[napi(object, object_from_js = false, object_to_js = false)]
pub struct TerminateOptions {
    /// How long to wait after SIGTERM before SIGKILL: 0 to `Number.MAX_SAFE_INTEGER`. Default
    /// 5000 ms.
    #[napi(ts_type = "number | null")]
    pub timeout_ms: Option<f64>,
    /// The polite signal, by name or number. Default `'SIGTERM'`.
    #[napi(ts_type = "NodeJS.Signals | number | null")]
    pub signal: Option<String>,
}

/// How `terminateGracefully` ended (built by the TypeScript layer).
#[napi(object, object_from_js = false, object_to_js = false)]
pub struct TerminateResult {
    pub pid: i32,
    /// `'not-running'`: it had already exited (nothing was sent); `'terminated'`: it exited
    /// within `timeoutMs` of SIGTERM; `'killed'`: it was still running and got SIGKILL.
    #[napi(ts_type = "'not-running' | 'terminated' | 'killed'")]
    pub outcome: String,
}

// ---------------------------------------------------------------------------------------------
// Arguments

/// A pid argument of any JavaScript type: the pid, or `EINVALIDPID` (a non-number too, so
/// every bad pid reads the same and none is one of napi's conversion errors).
fn pid_arg(env: &Env, v: &Unknown) -> Result<Pid> {
    match v.get_type()? {
        ValueType::Number => {
            // SAFETY: the type was checked just above.
            let n = unsafe { v.cast::<f64>() }?;
            Pid::from_f64(n).map_err(|e| js_error(env, e))
        }
        ValueType::String => {
            // SAFETY: the type was checked just above.
            let s: String = unsafe { v.cast::<String>() }?;
            Err(js_error(env, sole_procid::pid::string_is_not_a_pid(&s)))
        }
        t => Err(js_error(env, sole_procid::pid::not_a_pid(type_name(t)))),
    }
}

/// A recorded identity (`verifyProcess`, `ProcessHandle.open(identity)`): an object whose
/// `pid` is a pid (else `EINVALIDPID`); `startTime` a safe integer >= 0, `bootId`, `exePath`
/// and `exeSha256` strings (else `EINVAL` naming `identity.<field>`). A `null` or absent field
/// is not checked. Each field is read once, in that order.
fn identity_arg(env: &Env, v: &Unknown) -> Result<Expected> {
    let t = v.get_type()?;
    if t != ValueType::Object {
        return Err(js_error(env, Expected::not_an_object(type_name(t))));
    }
    let o = Opts::new(env, Some(v), "identity", String::new())?;
    let pid = match o.get("pid")? {
        Some((p, _)) => pid_arg(env, &p)?.get(),
        None => return Err(js_error(env, Expected::no_pid())),
    };
    let wrong = |field: &str, expected: &str, t: ValueType| {
        js_error(
            env,
            Expected::wrong_field(field, expected, type_name(t), pid),
        )
    };
    let start_time = match o.get("startTime")? {
        None => None,
        Some((v, ValueType::Number)) => {
            // SAFETY: the type was checked.
            let n = unsafe { v.cast::<f64>() }?;
            Some(Expected::start_time_from_f64(n, pid).map_err(|e| js_error(env, e))?)
        }
        Some((_, t)) => return Err(wrong("startTime", "a number", t)),
    };
    let string = |field: &str| -> Result<Option<String>> {
        match o.get(field)? {
            None => Ok(None),
            // SAFETY: the type was checked.
            Some((v, ValueType::String)) => Ok(Some(unsafe { v.cast::<String>() }?)),
            Some((_, t)) => Err(wrong(field, "a string", t)),
        }
    };
    let boot_id = string("bootId")?;
    let exe_path = string("exePath")?;
    let exe_sha256 = string("exeSha256")?;
    Ok(Expected {
        pid,
        start_time,
        boot_id,
        exe_path,
        exe_sha256,
    })
}

/// A signal: a name (`'SIGTERM'`, `'TERM'`, a decimal string) or an integer 0..=64. Anything
/// else is `EINVAL` with `argument: 'signal'`; `context` (e.g. " (process 42)") ends the
/// message of a value of the wrong type.
fn signal_arg(env: &Env, v: &Unknown, pid: Option<i32>, context: &str) -> Result<i32> {
    let decided = match v.get_type()? {
        // SAFETY: the type was checked.
        ValueType::String => sole_procid::signal_number(&unsafe { v.cast::<String>() }?),
        // SAFETY: the type was checked.
        ValueType::Number => sole_procid::signal_from_number(unsafe { v.cast::<f64>() }?),
        t => Err(sole_procid::signal::not_a_signal(type_name(t), context)),
    };
    decided.map_err(|e| {
        js_error(
            env,
            match pid {
                Some(pid) => e.with_pid(pid),
                None => e,
            },
        )
    })
}

/// The `signal` option of `waitForExit`, as `lib/wait.ts`'s `signalOf` decided it (the one
/// place that decides what an AbortSignal is): `aborted` is its state when it is one;
/// `refused` is the value it refused (reported here, after the other options, so the order of
/// the checks and the message naming the process stay one). `None` when absent.
fn abort_signal_arg(
    env: &Env,
    aborted: Option<bool>,
    refused: Option<Unknown>,
    context: &str,
) -> Result<Option<bool>> {
    if let Some((_, t)) = args::present(refused)? {
        return Err(args::wrong_type(
            env,
            "signal",
            "an AbortSignal",
            t,
            context,
        ));
    }
    Ok(aborted)
}

// ---------------------------------------------------------------------------------------------
// Liveness and identity

/// Is `pid` a live, non-zombie process? 0, negatives, fractions, NaN and values above 2^31-1
/// are never alive (no syscall is made for them); a value that is not a number at all throws
/// `EINVALIDPID` (a caller passing a string has a bug worth seeing). Hot: one `typeof` check
/// before the number path. Test: `procid-args.spec.ts` "isAlive: …", `procid.spec.ts`.
#[napi(catch_unwind)]
pub fn is_alive(env: Env, #[napi(ts_arg_type = "number")] pid: Unknown) -> Result<bool> {
    match pid.get_type()? {
        // SAFETY: the type was checked.
        ValueType::Number => Ok(sole_procid::pid::alive_from_f64(unsafe {
            pid.cast::<f64>()
        }?)),
        _ => pid_arg(&env, &pid).map(|_| false),
    }
}

/// `pidAlive` of the procid API: like `isAlive`, but a number that is not an integer (a
/// fraction, NaN, ±Infinity) is `EINVALIDPID` too; integers out of range are not alive.
/// Test: `procid-args.spec.ts` "pidAlive: …".
#[napi(catch_unwind)]
pub fn pid_alive(env: Env, #[napi(ts_arg_type = "number")] pid: Unknown) -> Result<bool> {
    match pid.get_type()? {
        // SAFETY: the type was checked.
        ValueType::Number => sole_procid::pid::alive_from_f64_strict(unsafe { pid.cast::<f64>() }?)
            .map_err(|e| js_error(&env, e)),
        _ => pid_arg(&env, &pid).map(|_| false),
    }
}

/// The identity of the live process `pid` (`ENOTFOUND` if none, `EINVALIDPID` for bad input;
/// `opts.exeSha256` must be a boolean). Test: `procid.spec.ts`, `procid-args.spec.ts`.
#[napi(
    catch_unwind,
    ts_args_type = "pid: number, opts?: ProcessIdentityOptions | null"
)]
pub fn process_identity(env: Env, pid: Unknown, opts: Option<Unknown>) -> Result<ProcessIdentity> {
    let pid = pid_arg(&env, &pid)?;
    let opts = Opts::new(
        &env,
        opts.as_ref(),
        "opts",
        format!(" (processIdentity of process {pid})"),
    )?;
    let hash = opts.bool(&env, "exeSha256")?.unwrap_or(false);
    let (id, sha) = sole_procid::identify(pid, hash).map_err(|e| js_error(&env, e))?;
    Ok(to_js_identity(id, sha))
}

/// Verify a recorded identity against the process that has its pid now; a handle on it, or
/// an error whose code names the first field that disagrees (see `sole_procid::verify`).
/// Test: `procid.spec.ts` "verifyProcess: …", `procid-args.spec.ts`.
#[napi(catch_unwind)]
pub fn verify_process(
    env: Env,
    #[napi(ts_arg_type = "ExpectedIdentity")] expected_identity: Unknown,
) -> Result<NativeProcessHandle> {
    let e = identity_arg(&env, &expected_identity)?;
    sole_procid::verify(&e)
        .map(NativeProcessHandle::new)
        .map_err(|err| js_error(&env, err))
}

/// `terminateGracefully`'s options, decided.
#[napi(object)]
pub struct TerminateSettings {
    /// How long to wait after the polite signal (already checked by the one timeout rule).
    pub timeout_ms: f64,
    /// The polite signal's number.
    pub signal: i32,
}

/// Decide `terminateGracefully`'s options before anything is signalled: `timeoutMs` (default
/// 5000) by the one timeout rule, `signal` (default `SIGTERM`) as for `ProcessHandle.signal`.
/// Test: `procid-args.spec.ts` "terminateGracefully: bad options …".
#[napi(catch_unwind, ts_args_type = "opts?: TerminateOptions | null")]
pub fn terminate_options(env: Env, opts: Option<Unknown>) -> Result<TerminateSettings> {
    let context = " (terminateGracefully)";
    let opts = Opts::new(&env, opts.as_ref(), "opts", context.into())?;
    let timeout_ms = match opts.number(&env, "timeoutMs")? {
        None => 5000.0,
        Some(ms) => {
            args::timeout(
                &env,
                ms,
                "the process to exit after terminateGracefully's signal",
            )?;
            ms
        }
    };
    let signal = match opts.get("signal")? {
        None => sole_procid::TERMINATE_DEFAULT,
        Some((v, _)) => signal_arg(&env, &v, None, context)?,
    };
    Ok(TerminateSettings { timeout_ms, signal })
}

// ---------------------------------------------------------------------------------------------
// Waits and their environments

/// The pending waits of one napi environment (the main thread's, or one worker's), so that the
/// environment's cleanup hook can end them: a terminated worker leaves no wait thread and no
/// descriptor behind. Weak references: a wait that ended holds nothing here.
struct EnvWaits {
    env: usize,
    waits: Mutex<Vec<Weak<Cancel>>>,
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
        waits: Mutex::new(Vec::new()),
    });
    all.push(w.clone());
    Ok(w)
}

impl EnvWaits {
    fn add(&self, cancel: &Arc<Cancel>) {
        let mut w = self.waits.lock().unwrap_or_else(|p| p.into_inner());
        w.retain(|c| c.strong_count() > 0);
        w.push(Arc::downgrade(cancel));
    }
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
            let waits: Vec<Weak<Cancel>> = env
                .waits
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain(..)
                .collect();
            for w in waits {
                if let Some(c) = w.upgrade() {
                    c.end_and_join(false);
                }
            }
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
        registry.add(&cancel);
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
