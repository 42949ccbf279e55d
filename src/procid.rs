//! Bindings of `sole_procid`: identity, verification, liveness, and the arguments every
//! process call takes. Type and error conversion only; every decision about processes is in `crates/procid`.
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
//! Process handles and their exit waits are bound in `process_handle.rs`.
//!
//! Test: `__test__/procid.spec.ts` (behaviour, descriptors, worker teardown) and
//! `__test__/procid-args.spec.ts` (every export with wrong arguments).

use napi::bindgen_prelude::*;
use napi_derive::napi;

use sole_procid::{Expected, Identity};

use crate::args::{self, type_name, Opts};
use crate::js_error;
use crate::process_handle::NativeProcessHandle;

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

pub(crate) use crate::args::pid_arg;

/// A recorded identity (`verifyProcess`, `ProcessHandle.open(identity)`): an object whose
/// `pid` is a pid (else `EINVALIDPID`); `startTime` a safe integer >= 0, `bootId`, `exePath`
/// and `exeSha256` strings (else `EINVAL` naming `identity.<field>`). A `null` or absent field
/// is not checked. Each field is read once, in that order.
pub(crate) fn identity_arg(env: &Env, v: &Unknown) -> Result<Expected> {
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
pub(crate) fn signal_arg(env: &Env, v: &Unknown, pid: Option<i32>, context: &str) -> Result<i32> {
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
pub(crate) fn abort_signal_arg(
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
