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

pub mod args;
mod daemon;
mod daemon_spawn;
mod instance;
mod lock;
mod lock_file;
mod pidfile;
#[cfg(feature = "planted-panic")]
mod planted;
pub mod process_handle;
pub mod procid;

mod scope;

/// Turn a sole error into a JavaScript `Error` carrying `code`, `path`, `pid` and `errno`.
/// The one place errors cross into JavaScript (thrown, or returned by [`invalid_argument_error`]).
pub(crate) fn js_error(env: &Env, e: sole_error::Error) -> napi::Error {
    match error_object(env, &e) {
        Ok(obj) => napi::Error::from(obj.to_unknown()),
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
