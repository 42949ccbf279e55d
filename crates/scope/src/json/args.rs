//! The options of the registry's operations (register, delegate, adopt): the part of the JSON
//! module that carries a pid, and so builds only where the registry does (not for wasm).
//! Test: `super::tests::inputs_are_checked`.

use std::path::Path;

use serde_json::{Map, Value};
use sole_error::Result;
use sole_procid::pid::{not_a_pid, string_is_not_a_pid};
use sole_procid::Pid;

use super::fields::{name, scopes, socket};
use super::parse;
use super::value::{cut, describe, field, known, object, tag, with_file, Ctx};
use crate::Spec;

/// Parse the options `json` of `argument`; `None` (JavaScript `undefined`/`null`) is `{}`,
/// i.e. every option at its default.
fn options(json: Option<&str>, argument: &str, ctx: Ctx) -> Result<Map<String, Value>> {
    match json {
        None => Ok(Map::new()),
        Some(j) => object(&parse(j, argument, ctx)?, argument, ctx).cloned(),
    }
}

fn spec(m: &Map<String, Value>, ctx: Ctx) -> Result<Spec> {
    Ok(Spec {
        name: name(m, "name", ctx)?,
        pid: pid(m, ctx)?,
        socket: socket(m, ctx)?,
        scopes: scopes(m, ctx)?,
    })
}

/// `{ name, pid?, socket?, scopes, sessionId }` for register / installTopLevel (`None`: the
/// caller passed `undefined`/`null`, so the required options are missing).
/// Test: `tests::inputs_are_checked`.
pub fn register_args(json: Option<&str>, file: &Path) -> Result<(Spec, String)> {
    let (m, s, ctx) = spec_options(json, file)?;
    Ok((s, name(&m, "sessionId", ctx)?))
}

/// The options object of register / delegate, with only their keys, and the [`Spec`] in it.
fn spec_options<'f>(
    json: Option<&str>,
    file: &'f Path,
) -> Result<(Map<String, Value>, Spec, Ctx<'f>)> {
    let ctx = Ctx { file: Some(file) };
    let m = options(json, "opts", ctx)?;
    known(
        &m,
        &["name", "pid", "socket", "scopes", "sessionId"],
        "",
        ctx,
    )?;
    let s = spec(&m, ctx)?;
    Ok((m, s, ctx))
}

/// `{ name, pid?, socket?, scopes }` for delegate (a `sessionId` is refused: a delegated child
/// has none until it adopts).
/// Test: `tests::inputs_are_checked`.
pub fn delegate_args(json: Option<&str>, file: &Path) -> Result<Spec> {
    let (m, s, ctx) = spec_options(json, file)?;
    if field(&m, "sessionId").is_some() {
        return Err(ctx.err(
            "sessionId",
            format!(
                "a delegated child has no sessionId until it calls adopt(){}: leave sessionId out of delegate().",
                ctx.registry()
            ),
        ));
    }
    Ok(s)
}

/// `{ pid?, sessionId }` for adopt / adoptAllocation.
/// Test: `tests::inputs_are_checked`.
pub fn adopt_args(json: Option<&str>, file: &Path) -> Result<(Option<Pid>, String)> {
    let ctx = Ctx { file: Some(file) };
    let m = options(json, "opts", ctx)?;
    known(&m, &["pid", "sessionId"], "", ctx)?;
    Ok((pid(&m, ctx)?, name(&m, "sessionId", ctx)?))
}

/// `pid`: absent/`null` for this process, else an integer pid; anything else is
/// `EINVALIDPID` (with `argument: "pid"`), decided and worded by `sole_procid` as for every pid
/// in sole: a number by `Pid::from_f64`, a string by `string_is_not_a_pid` (never parsed), any
/// other value (a boolean, a bigint, a NaN or ±Infinity that `JSON.stringify` would have
/// turned into `null`) by `not_a_pid` with the value as JavaScript shows it.
fn pid(m: &Map<String, Value>, ctx: Ctx) -> Result<Option<Pid>> {
    let refused = match field(m, "pid") {
        None => return Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) => match Pid::from_f64(f) {
                Ok(pid) => return Ok(Some(pid)),
                Err(e) => e,
            },
            None => not_a_pid(&n.to_string()),
        },
        Some(Value::String(s)) => string_is_not_a_pid(s),
        Some(Value::Object(o)) if matches!(tag(o), Some(("number", _))) => {
            not_a_pid(&tag(o).map_or(String::new(), |(_, s)| cut(s)))
        }
        Some(v) => not_a_pid(&describe(v)),
    };
    Err(with_file(refused.with_detail("argument", "pid"), ctx))
}
