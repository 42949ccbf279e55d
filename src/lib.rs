//! The napi-rs binding of sole: converts JavaScript values to the crates' types and the crates'
//! errors to JavaScript `Error`s. No logic of its own lives here: locking is `sole_lock`,
//! pidfiles are `sole_pidfile`, and error codes are decided by `sole_error::Error::code`.
//! `lib/index.ts` adds what napi-rs cannot express (`Symbol.dispose`, AbortSignal, timers).

#![deny(clippy::all)]
// napi registers the exports at load time; a `cargo test` build sees no caller of them.
#![cfg_attr(test, allow(dead_code))]

use napi::bindgen_prelude::*;
use napi::JsValue;
use napi_derive::napi;

// Off wasm every OS module uses these; the WebAssembly build only the few its pure functions need.
#[cfg_attr(target_family = "wasm", allow(dead_code))]
pub mod args;
mod record;
mod rules;

// The OS primitives: flock, /proc, pidfds, signals, fork, Unix sockets. None of them exists in
// WASI, so the WebAssembly build (wasm32-wasip1) compiles without these modules and without
// the crates behind them (Cargo.toml's target-specific dependencies); its loader answers every
// call to them with `ENOTSUP` (`lib/platform.ts`). Test: `__test__/wasm.spec.ts`.
#[cfg(not(target_family = "wasm"))]
mod daemon;
#[cfg(not(target_family = "wasm"))]
mod daemon_spawn;
#[cfg(not(target_family = "wasm"))]
mod instance;
#[cfg(not(target_family = "wasm"))]
mod lock;
#[cfg(not(target_family = "wasm"))]
mod lock_file;
#[cfg(not(target_family = "wasm"))]
mod pidfile;
#[cfg(all(feature = "planted-panic", not(target_family = "wasm")))]
mod planted;
#[cfg(not(target_family = "wasm"))]
pub mod process_handle;
#[cfg(not(target_family = "wasm"))]
pub mod procid;
#[cfg(not(target_family = "wasm"))]
mod scope;

/// Which build of the binding is loaded: `"native"` (the Linux addon) or `"wasm32-wasip1"`
/// (the WebAssembly one, with only the pure functions). `lib/platform.ts` reads it once to
/// decide whether OS primitives are there or answer `ENOTSUP`.
/// Test: `__test__/wasm.spec.ts`.
#[napi(catch_unwind)]
pub fn binding() -> &'static str {
    if cfg!(target_family = "wasm") {
        "wasm32-wasip1"
    } else {
        "native"
    }
}

/// Turn a sole error into a JavaScript `Error` carrying `code`, `path`, `pid` and `errno`.
/// The one place errors cross into JavaScript (thrown, or returned by [`invalid_argument_error`]).
#[cfg(not(target_family = "wasm"))]
pub(crate) fn js_error(env: &Env, e: sole_error::Error) -> napi::Error {
    match error_object(env, &e) {
        Ok(obj) => napi::Error::from(obj.to_unknown()),
        Err(_) => napi::Error::new(Status::GenericFailure, e.to_string()),
    }
}

/// The WebAssembly build's [`js_error`]: napi-rs keeps no reference to a JavaScript value in a
/// `napi::Error` there (it copies the message and throws a new `Error` with `code:
/// "GenericFailure"`), so the error object is thrown at once and napi-rs, finding the exception
/// pending, leaves it as it is. Only synchronous functions exist in that build, so the error is
/// always thrown by the call that made it. Test: `__test__/wasm.spec.ts` (codes and arguments
/// equal to the native ones).
#[cfg(target_family = "wasm")]
pub(crate) fn js_error(env: &Env, e: sole_error::Error) -> napi::Error {
    match error_object(env, &e).and_then(|obj| env.throw(obj)) {
        Ok(()) => napi::Error::new(Status::PendingException, e.message()),
        Err(_) => napi::Error::new(Status::GenericFailure, e.to_string()),
    }
}

/// The JavaScript `Error` object of `e`: the one error mapper behind [`js_error`].
fn error_object<'e>(env: &'e Env, e: &sole_error::Error) -> Result<Object<'e>> {
    let mut obj = env.create_error(napi::Error::new(Status::GenericFailure, e.message()))?;
    obj.set("code", e.code())?;
    if let Some(p) = e.path() {
        obj.set("path", p.to_string_lossy().into_owned())?;
    }
    if let Some(pid) = e.pid() {
        obj.set("pid", pid)?;
    }
    if let Some(errno) = e.errno() {
        obj.set("errno", -errno)?;
    }
    for (key, value) in e.details() {
        obj.set(*key, detail_value(env, value)?)?;
    }
    Ok(obj)
}

/// The `EINVAL` error (with `argument`) that the TypeScript layer throws for what only it can
/// check (an AbortSignal's shape, a constructor called directly), built by the one error mapper
/// so it has exactly the shape of the native ones. Test: `__test__/args.spec.ts` (`signal`).
#[napi(
    catch_unwind,
    ts_return_type = "Error & { code: 'EINVAL', argument: string }"
)]
pub fn invalid_argument_error(env: &Env, argument: String, message: String) -> Result<Object<'_>> {
    error_object(
        env,
        &sole_error::Error::invalid_argument(&argument, message),
    )
}

/// A structured error detail as a JavaScript value.
fn detail_value<'e>(env: &'e Env, d: &sole_error::Detail) -> Result<Unknown<'e>> {
    use sole_error::Detail;
    Ok(match d {
        Detail::Null => Null.into_unknown(env)?,
        Detail::Bool(b) => b.into_unknown(env)?,
        Detail::Num(n) => n.into_unknown(env)?,
        Detail::Str(s) => s.as_str().into_unknown(env)?,
        Detail::List(items) => {
            let mut arr = env.create_array(items.len() as u32)?;
            for (i, item) in items.iter().enumerate() {
                arr.set(i as u32, detail_value(env, item)?)?;
            }
            arr.to_unknown()
        }
        Detail::Obj(fields) => {
            let mut o = Object::new(env)?;
            for (k, v) in fields {
                o.set(k.as_str(), detail_value(env, v)?)?;
            }
            o.to_unknown()
        }
    })
}
