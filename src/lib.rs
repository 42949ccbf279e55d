//! The napi-rs binding of sole: converts JavaScript values to the crates' types and the crates'
//! errors to JavaScript `Error`s. No logic of its own lives here: locking is `sole_lock`,
//! pidfiles are `sole_pidfile`, and error codes are decided by `sole_lock::Error::code`.
//! `lib/index.ts` adds what napi-rs cannot express (`Symbol.dispose`, AbortSignal, timers).

#![deny(clippy::all)]
// napi registers the exports at load time; a `cargo test` build sees no caller of them.
#![cfg_attr(test, allow(dead_code))]

use napi::bindgen_prelude::*;
use napi::JsValue;

pub mod args;
mod lock;
mod pidfile;
#[cfg(feature = "planted-panic")]
mod planted;
pub mod procid;

mod scope;

/// Turn a sole error into a JavaScript `Error` carrying `code`, `path`, `pid` and `errno`.
/// The one place errors cross into JavaScript.
pub(crate) fn js_error(env: &Env, e: sole_lock::Error) -> napi::Error {
    let build = || -> Result<napi::Error> {
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
        Ok(napi::Error::from(obj.to_unknown()))
    };
    build().unwrap_or_else(|_| napi::Error::new(Status::GenericFailure, e.to_string()))
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
