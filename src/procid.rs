//! Bindings of `sole_procid`: identity, verification, liveness and process handles. Type and
//! error conversion only; every decision is in `crates/procid`.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use sole_procid::{Expected, HandleKind, Identity, WaitEnd};

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

/// Options of `processIdentity`.
#[napi(object)]
pub struct IdentityOptions {
    /// Also hash the executable (cached by device, inode, size and mtime).
    pub exe_sha256: Option<bool>,
}

fn pid_of(env: &Env, pid: f64) -> Result<i32> {
    sole_procid::validate_pid(pid).map_err(|e| js_error(env, e))
}

/// A pid argument of any JavaScript type: a non-number is `EINVALIDPID` too (not napi's
/// generic conversion error), so every bad pid reads the same.
fn pid_arg(env: &Env, v: &Unknown) -> Result<i32> {
    match v.get_type()? {
        ValueType::Number => pid_of(env, unsafe { v.cast::<f64>() }?),
        ValueType::String => {
            let s: String = unsafe { v.cast::<String>() }?;
            let shown: String = s.chars().take(40).collect();
            Err(js_error(
                env,
                sole_procid::pid::not_a_pid(&format!("the string {shown:?}")),
            ))
        }
        t => Err(js_error(
            env,
            sole_procid::pid::not_a_pid(&format!("a value of type {}", type_name(t))),
        )),
    }
}

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "boolean",
        ValueType::Number => "number",
        ValueType::String => "string",
        ValueType::Symbol => "symbol",
        ValueType::Object => "object",
        ValueType::Function => "function",
        ValueType::BigInt => "bigint",
        _ => "unknown",
    }
}

/// Validate a pid (any JavaScript value): the pid, or `EINVALIDPID`. The TS layer uses it to
/// check the `pid` of identity objects before they are converted.
#[napi]
pub fn validate_pid(env: Env, pid: Unknown) -> Result<i32> {
    pid_arg(&env, &pid)
}

/// Is `pid` a live, non-zombie process? 0, negatives, fractions, NaN and values above 2^31-1
/// are never alive (no syscall is made for them); a value that is not a number at all throws
/// `EINVALIDPID` (a caller passing a string has a bug worth seeing).
#[napi]
pub fn is_alive(env: Env, #[napi(ts_arg_type = "number")] pid: Unknown) -> Result<bool> {
    let n = match pid.get_type()? {
        ValueType::Number => unsafe { pid.cast::<f64>() }?,
        _ => return pid_arg(&env, &pid).map(|_| false),
    };
    Ok(
        if n.is_finite() && n.fract() == 0.0 && (1.0..=sole_procid::PID_MAX as f64).contains(&n) {
            sole_procid::pid_alive(n as i64)
        } else {
            false
        },
    )
}

/// The identity of the live process `pid` (`ENOTFOUND` if none, `EINVALIDPID` for bad input).
#[napi]
pub fn process_identity(
    env: Env,
    #[napi(ts_arg_type = "number")] pid: Unknown,
    opts: Option<IdentityOptions>,
) -> Result<ProcessIdentity> {
    let pid = pid_arg(&env, &pid)?;
    let id = sole_procid::identity(pid).map_err(|e| js_error(&env, e))?;
    let sha = if opts.and_then(|o| o.exe_sha256).unwrap_or(false) {
        let h = sole_procid::exe_sha256(pid).map_err(|e| js_error(&env, e))?;
        // The hash was read by pid: confirm the process is the one identified.
        if sole_procid::identity::start_time(pid) != Some(id.start_time) {
            return Err(js_error(
                &env,
                sole_error::Error::new(
                    sole_error::Kind::NotFound,
                    format!("process {pid} exited while it was being identified."),
                )
                .with_pid(pid),
            ));
        }
        Some(h)
    } else {
        None
    };
    Ok(to_js_identity(id, sha))
}

/// What `verifyProcess` and `ProcessHandle.open(identity)` check; absent fields are not checked.
#[napi(object)]
pub struct ExpectedIdentity {
    pub pid: f64,
    pub start_time: Option<f64>,
    pub boot_id: Option<String>,
    pub exe_path: Option<String>,
    pub exe_sha256: Option<String>,
}

fn expected(env: &Env, e: &ExpectedIdentity) -> Result<Expected> {
    let pid = pid_of(env, e.pid)?;
    let start_time = match e.start_time {
        None => None,
        Some(t) if t.fract() == 0.0 && (0.0..9.007_199_254_740_992e15).contains(&t) => {
            Some(t as u64)
        }
        Some(t) => {
            return Err(js_error(
                env,
                sole_error::Error::new(
                    sole_error::Kind::Os(libc::EINVAL),
                    format!(
                    "startTime {t} is not a start time: pass the integer from processIdentity()."
                ),
                )
                .with_pid(pid),
            ))
        }
    };
    Ok(Expected {
        pid,
        start_time,
        boot_id: e.boot_id.clone(),
        exe_path: e.exe_path.clone(),
        exe_sha256: e.exe_sha256.clone(),
    })
}

/// Verify a recorded identity against the process that has its pid now; a handle on it, or
/// an error whose code names the first field that disagrees.
#[napi]
pub fn verify_process(
    env: Env,
    expected_identity: ExpectedIdentity,
) -> Result<NativeProcessHandle> {
    let e = expected(&env, &expected_identity)?;
    sole_procid::verify(&e)
        .map(NativeProcessHandle::new)
        .map_err(|err| js_error(&env, err))
}

/// Cancels one pending `waitForExit`.
#[napi]
pub struct ExitWait {
    cancel: Option<std::sync::Arc<sole_procid::Cancel>>,
    cancelled: bool,
}

#[napi]
impl ExitWait {
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        ExitWait {
            cancel: None,
            cancelled: false,
        }
    }
    /// End the wait with `ECANCELED`.
    #[napi]
    pub fn cancel(&mut self) {
        self.cancelled = true;
        if let Some(c) = &self.cancel {
            c.cancel(false);
        }
    }
}

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
    /// Open a handle on the live process `pid`.
    #[napi(factory)]
    pub fn open(env: Env, #[napi(ts_arg_type = "number")] pid: Unknown) -> Result<Self> {
        let pid = pid_arg(&env, &pid)?;
        sole_procid::ProcessHandle::open(pid)
            .map(Self::new)
            .map_err(|e| js_error(&env, e))
    }
    /// Open a handle and verify the identity on the process it is bound to.
    #[napi(factory)]
    pub fn open_identity(env: Env, identity: ExpectedIdentity) -> Result<Self> {
        verify_process(env, identity)
    }
    #[napi(getter)]
    pub fn pid(&self) -> i32 {
        self.inner.pid()
    }
    /// Start time (clock ticks since boot) of the process the handle is bound to.
    #[napi(getter)]
    pub fn start_time(&self) -> f64 {
        self.inner.start_time() as f64
    }
    /// `'pidfd'`, or `'pid+starttime'` where the kernel has no pidfd.
    #[napi(getter, ts_return_type = "'pidfd' | 'pid+starttime'")]
    pub fn kind(&self) -> &'static str {
        match self.inner.kind() {
            HandleKind::Pidfd => "pidfd",
            HandleKind::PidStartTime => "pid+starttime",
        }
    }
    #[napi]
    pub fn is_alive(&self) -> bool {
        self.inner.is_alive()
    }
    /// Send a signal (name such as `'SIGTERM'`, or number) through the handle.
    #[napi]
    pub fn signal(&self, env: Env, signal: Either<String, f64>) -> Result<()> {
        let sig = match signal {
            Either::A(name) => sole_procid::signal_number(&name),
            Either::B(n) => sole_procid::signal_number(&n.to_string()),
        }
        .map_err(|e| js_error(&env, e.with_pid(self.inner.pid())))?;
        self.inner.signal(sig).map_err(|e| js_error(&env, e))
    }
    /// Resolve `true` when the process exits; reject `ETIMEDOUT` after `timeoutMs`,
    /// `ECANCELED` when `wait.cancel()` is called, `EBADF` when the handle is closed. Waits on
    /// a dedicated thread in `poll` (never libuv's threadpool, no polling loop).
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn wait_for_exit<'env>(
        &self,
        env: &'env Env,
        timeout_ms: Option<f64>,
        wait: &mut ExitWait,
    ) -> Result<Object<'env>> {
        let pid = self.inner.pid();
        let timeout = match timeout_ms {
            None => None,
            Some(ms) if ms.is_finite() && ms >= 0.0 => {
                Some(std::time::Duration::from_secs_f64(ms / 1000.0))
            }
            Some(ms) => {
                return Err(js_error(
                    env,
                    sole_error::Error::new(
                        sole_error::Kind::Os(libc::EINVAL),
                        format!("timeoutMs must be a finite number >= 0, got {ms}"),
                    )
                    .with_pid(pid),
                ))
            }
        };
        let waiter = self.inner.waiter().map_err(|e| js_error(env, e))?;
        let cancel = self.inner.new_wait().map_err(|e| js_error(env, e))?;
        if wait.cancelled {
            cancel.cancel(false);
        }
        wait.cancel = Some(cancel.clone());
        let (deferred, promise) = env.create_deferred()?;
        let ms = timeout_ms.unwrap_or(0.0);
        std::thread::Builder::new()
            .name(format!("sole-exit-{pid}"))
            .spawn(move || {
                let end = waiter.wait(timeout, &cancel);
                deferred.resolve(move |env| {
                    use sole_error::{Error, Kind};
                    let err = |e: Error| Err(js_error(&env, e.with_pid(pid)));
                    match end {
                        WaitEnd::Exited => Ok(true),
                        WaitEnd::TimedOut => err(Error::new(
                            Kind::TimedOut,
                            format!("process {pid} was still running after {ms} ms."),
                        )),
                        WaitEnd::Cancelled => err(Error::new(
                            Kind::Cancelled,
                            format!("the wait for process {pid} to exit was aborted."),
                        )),
                        WaitEnd::Closed => err(Error::new(
                            Kind::Os(libc::EBADF),
                            format!("the handle on process {pid} was closed while waiting for it to exit."),
                        )),
                    }
                })
            })
            .map_err(|e| Error::from_reason(format!("cannot start a wait thread: {e}")))?;
        Ok(promise)
    }
    /// Close the pidfd; pending waits reject with `EBADF`. Idempotent.
    #[napi]
    pub fn close(&mut self) {
        self.inner.close();
    }
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.inner.is_closed()
    }
}
