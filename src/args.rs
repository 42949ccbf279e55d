//! Arguments from JavaScript, decided once: every export takes its arguments as raw values and
//! converts them here, so a wrong type or value of any argument or option is `EINVAL` with
//! `err.argument` naming it (pids keep `EINVALIDPID`, decided by `sole_procid`), never one of
//! napi's own conversion errors (`StringExpected`, `NumberExpected`, …) that no user can look up.
//!
//! Rules, the same for every call:
//! - Options objects: `undefined` and `null` mean "all defaults"; anything else that is not an
//!   object (a number, a string, a function is allowed as an object) is `EINVAL`. An option
//!   whose value is `undefined` or `null` takes its default.
//! - A getter or Proxy trap that throws: the caller's own exception passes through unchanged
//!   (napi reports it as pending; it is never wrapped or replaced).
//! - Booleans must be booleans (`'yes'` is not true), numbers must be numbers, strings must be
//!   strings; `timeoutMs` goes through the one conversion, `sole_error::timeout::from_ms`.
//!
//! Test: `__test__/args.spec.ts` (every export with wrong types) and `__test__/fuzz.spec.ts`.

use std::path::PathBuf;
use std::time::Duration;

use napi::bindgen_prelude::*;

use crate::js_error;
use sole_error::Error as SoleError;

/// The JavaScript name of a value's type, for messages.
pub(crate) fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "a boolean",
        ValueType::Number => "a number",
        ValueType::String => "a string",
        ValueType::Symbol => "a symbol",
        ValueType::Object => "an object",
        ValueType::Function => "a function",
        ValueType::BigInt => "a bigint",
        _ => "a value of unknown type",
    }
}

/// `EINVAL` for `argument`, which should have been `expected` but is of type `t`.
pub(crate) fn wrong_type(
    env: &Env,
    argument: &str,
    expected: &str,
    t: ValueType,
    context: &str,
) -> napi::Error {
    js_error(
        env,
        SoleError::invalid_argument(
            argument,
            format!(
                "{argument} must be {expected}, got {}{context}.",
                type_name(t)
            ),
        ),
    )
}

/// `true` for an error that only reports an exception already pending in JavaScript (a
/// caller's getter threw): it must pass through untouched.
fn pending(e: &napi::Error) -> bool {
    e.status == Status::PendingException
}

/// A required string argument.
pub(crate) fn string(env: &Env, v: &Unknown, argument: &str) -> Result<String> {
    string_in(env, v, argument, String::new)
}

/// A required string argument whose type error ends with `context()` (e.g. `" (scope registry
/// /x)"`, naming what the call concerns); `context` is only called when the type is wrong, so
/// the usual call builds no message. Test: `__test__/scope-args.spec.ts` (messages name the
/// registry).
pub(crate) fn string_in(
    env: &Env,
    v: &Unknown,
    argument: &str,
    context: impl FnOnce() -> String,
) -> Result<String> {
    match v.get_type()? {
        // SAFETY: the type was checked just above.
        ValueType::String => unsafe { v.cast::<String>() },
        t => Err(wrong_type(env, argument, "a string", t, &context())),
    }
}

/// A path argument: a string, made absolute by the one path rule (`sole_lock::open::resolve`:
/// empty or NUL-containing paths are `EINVAL` naming them).
#[cfg(not(target_family = "wasm"))]
pub(crate) fn path(env: &Env, v: &Unknown, argument: &str) -> Result<PathBuf> {
    let s = string(env, v, argument)?;
    sole_lock::open::resolve(&s).map_err(|e| js_error(env, e))
}

/// An options object (`undefined`/`null`: all defaults).
pub(crate) struct Opts<'e> {
    obj: Option<Object<'e>>,
    /// The file the call concerns, attached to every error as `err.path`.
    path: Option<PathBuf>,
    /// Appended to messages: `" (lock on /x)"`.
    context: String,
}

impl<'e> Opts<'e> {
    pub(crate) fn new(
        env: &Env,
        v: Option<&Unknown<'e>>,
        name: &'static str,
        context: String,
    ) -> Result<Self> {
        let obj = match v {
            None => None,
            Some(v) => match v.get_type()? {
                ValueType::Undefined | ValueType::Null => None,
                // SAFETY: the type was checked just above.
                ValueType::Object | ValueType::Function => Some(unsafe { v.cast::<Object>() }?),
                t => {
                    return Err(wrong_type(
                        env,
                        name,
                        "an object (or undefined for the defaults)",
                        t,
                        &context,
                    ))
                }
            },
        };
        Ok(Opts {
            obj,
            path: None,
            context,
        })
    }

    /// [`Opts::new`] for a call on `path`: every error, including "not an object", carries
    /// `err.path`.
    pub(crate) fn for_path(
        env: &Env,
        v: Option<&Unknown<'e>>,
        path: &std::path::Path,
        context: impl FnOnce() -> String,
    ) -> Result<Self> {
        if let Some(v) = v {
            let t = v.get_type()?;
            if matches!(t, ValueType::Undefined | ValueType::Null) {
                // No options: nothing to read, nothing to allocate (the hot path).
                return Ok(Self::none());
            }
            if !matches!(t, ValueType::Object | ValueType::Function) {
                return Err(js_error(
                    env,
                    SoleError::invalid_argument(
                        "options",
                        format!(
                            "options must be an object (or undefined for the defaults), got {}{}.",
                            type_name(t),
                            context()
                        ),
                    )
                    .with_path(path),
                ));
            }
        }
        match v {
            None => Ok(Self::none()),
            Some(_) => Ok(Self::new(env, v, "options", context())?.at(path)),
        }
    }

    /// `true` when there is no options object (every option takes its default).
    pub(crate) fn is_empty(&self) -> bool {
        self.obj.is_none()
    }

    /// No options object at all.
    pub(crate) fn none() -> Self {
        Opts {
            obj: None,
            path: None,
            context: String::new(),
        }
    }

    /// Attach `path` (as `err.path`) to every error these options produce.
    pub(crate) fn at(mut self, path: &std::path::Path) -> Self {
        self.path = Some(path.to_path_buf());
        self
    }

    fn err(&self, env: &Env, e: SoleError) -> napi::Error {
        match &self.path {
            Some(p) => js_error(env, e.with_path(p)),
            None => js_error(env, e),
        }
    }

    /// The raw value of `key`, `None` for absent, `undefined` or `null`.
    pub(crate) fn get(&self, key: &str) -> Result<Option<(Unknown<'e>, ValueType)>> {
        let Some(o) = &self.obj else { return Ok(None) };
        let v: Unknown = o.get_named_property(key).map_err(|e| {
            if pending(&e) {
                e
            } else {
                napi::Error::new(e.status, e.reason.clone())
            }
        })?;
        match v.get_type()? {
            ValueType::Undefined | ValueType::Null => Ok(None),
            t => Ok(Some((v, t))),
        }
    }

    fn wrong(&self, env: &Env, key: &str, expected: &str, t: ValueType) -> napi::Error {
        self.err(
            env,
            SoleError::invalid_argument(
                key,
                format!(
                    "{key} must be {expected}, got {}{}.",
                    type_name(t),
                    self.context
                ),
            ),
        )
    }

    pub(crate) fn bool(&self, env: &Env, key: &str) -> Result<Option<bool>> {
        match self.get(key)? {
            None => Ok(None),
            // SAFETY: the type was checked.
            Some((v, ValueType::Boolean)) => Ok(Some(unsafe { v.cast::<bool>() }?)),
            Some((_, t)) => Err(self.wrong(env, key, "true or false", t)),
        }
    }

    pub(crate) fn number(&self, env: &Env, key: &str) -> Result<Option<f64>> {
        match self.get(key)? {
            None => Ok(None),
            // SAFETY: the type was checked.
            Some((v, ValueType::Number)) => Ok(Some(unsafe { v.cast::<f64>() }?)),
            Some((_, t)) => Err(self.wrong(env, key, "a number", t)),
        }
    }

    /// `timeoutMs` (or another timeout option) through the one conversion; `what` names the
    /// wait in the message ("the lock on /x").
    pub(crate) fn timeout(&self, env: &Env, key: &str, what: &str) -> Result<Option<Duration>> {
        match self.number(env, key)? {
            None => Ok(None),
            Some(ms) => sole_error::timeout::from_ms(ms, what)
                .map(Some)
                .map_err(|e| self.err(env, e)),
        }
    }

    /// How to open the file (`mode`, `createDirs`, `allowNetworkFs`): the one reading of these
    /// options for locks and pidfiles.
    #[cfg(not(target_family = "wasm"))]
    pub(crate) fn open_options(&self, env: &Env) -> Result<sole_lock::OpenOptions> {
        let d = sole_lock::OpenOptions::default();
        Ok(sole_lock::OpenOptions {
            mode: self.mode(env, "mode", d.mode)?,
            create_dirs: self.bool(env, "createDirs")?.unwrap_or(d.create_dirs),
            allow_network_fs: self
                .bool(env, "allowNetworkFs")?
                .unwrap_or(d.allow_network_fs),
            // Read by the calls that report a token (`Opts::fencing`), never here.
            fencing: false,
        })
    }

    /// `fencing` (a boolean; `EINVAL` naming it together with `shared: true`, whose many holders
    /// cannot be ordered by one token).
    #[cfg(not(target_family = "wasm"))]
    pub(crate) fn fencing(&self, env: &Env, shared: bool) -> Result<bool> {
        let f = self.bool(env, "fencing")?.unwrap_or(false);
        if f && shared {
            return Err(self.err(
                env,
                SoleError::invalid_argument(
                    "fencing",
                    format!(
                        "fencing needs an exclusive lock: a shared lock has many holders and one token cannot order them{}. Drop shared or fencing.",
                        self.context
                    ),
                ),
            ));
        }
        Ok(f)
    }

    /// File permission bits (`mode`), by the one rule (`sole_lock::open::mode_bits`).
    #[cfg(not(target_family = "wasm"))]
    pub(crate) fn mode(&self, env: &Env, key: &str, default: u32) -> Result<u32> {
        match self.number(env, key)? {
            None => Ok(default),
            Some(m) => sole_lock::open::mode_bits(m, &self.context).map_err(|e| self.err(env, e)),
        }
    }
}

/// A bare `timeoutMs` number through the one conversion.
pub(crate) fn timeout(env: &Env, ms: f64, what: &str) -> Result<Duration> {
    sole_error::timeout::from_ms(ms, what).map_err(|e| js_error(env, e))
}

/// An optional argument that is not an options object: `undefined`/`null` → `None`.
pub(crate) fn present<'e>(v: Option<Unknown<'e>>) -> Result<Option<(Unknown<'e>, ValueType)>> {
    match v {
        None => Ok(None),
        Some(v) => match v.get_type()? {
            ValueType::Undefined | ValueType::Null => Ok(None),
            t => Ok(Some((v, t))),
        },
    }
}

/// Run an export's body; a panic in it becomes `EINTERNAL` naming `what` instead of unwinding
/// into napi-rs (whose `catch_unwind` would report a code-less `GenericFailure`). Every export
/// that can fail runs its body through this.
pub(crate) fn guarded<T>(env: &Env, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|p| Err(js_error(env, SoleError::internal(what, p.as_ref()))))
}

/// Run `f`, turning a panic into `EINTERNAL` instead of an abort of the host process. For the
/// bodies of threads sole starts (napi's `catch_unwind` covers the calls from JavaScript).
pub(crate) fn no_panic<T>(
    what: &str,
    f: impl FnOnce() -> sole_error::Result<T>,
) -> sole_error::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|p| Err(SoleError::internal(what, p.as_ref())))
}

/// A required array of strings (`EINVAL` naming `argument` for anything else).
pub(crate) fn string_array(
    env: &Env,
    v: &Unknown,
    argument: &str,
) -> Result<Vec<std::ffi::OsString>> {
    let not_array = || {
        js_error(
            env,
            sole_error::Error::invalid_argument(
                argument,
                format!("{argument} must be an array of strings"),
            ),
        )
    };
    if v.get_type()? != ValueType::Object || !v.is_array()? {
        return Err(not_array());
    }
    // SAFETY: checked to be an array just above.
    let arr = unsafe { v.cast::<Array>() }?;
    (0..arr.len())
        .map(|i| {
            let item = arr.get::<Unknown>(i)?.ok_or_else(not_array)?;
            string(env, &item, argument).map(Into::into)
        })
        .collect()
}

/// A pid argument of any JavaScript type: the pid, or `EINVALIDPID` (a non-number too, so
/// every bad pid reads the same and none is one of napi's conversion errors).
pub(crate) fn pid_arg(env: &Env, v: &Unknown) -> Result<sole_procid::Pid> {
    match v.get_type()? {
        ValueType::Number => {
            // SAFETY: the type was checked just above.
            let n = unsafe { v.cast::<f64>() }?;
            sole_procid::Pid::from_f64(n).map_err(|e| js_error(env, e))
        }
        ValueType::String => {
            // SAFETY: the type was checked just above.
            let s: String = unsafe { v.cast::<String>() }?;
            Err(js_error(env, sole_procid::pid::string_is_not_a_pid(&s)))
        }
        t => Err(js_error(env, sole_procid::pid::not_a_pid(type_name(t)))),
    }
}
