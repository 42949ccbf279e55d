//! The fields of the options objects and rules, each read and checked on its own: strings,
//! names and session ids, booleans, the pid (`EINVALIDPID`, as for every pid in sole), the
//! socket, and rules with their targets normalised.
//! Test: `super::tests::*`.

use serde_json::{Map, Value};
use sole_error::Result;

use super::value::{field, known, object, with_file, Ctx};
use super::MAX_SOCKET_BYTES;
use crate::check::{check_name, check_rule_count};
use crate::rule::{normalize_in, Permission, Rule};

pub(super) fn string(
    m: &Map<String, Value>,
    key: &str,
    argument: &str,
    ctx: Ctx,
) -> Result<Option<String>> {
    match field(m, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(ctx.wrong(argument, "a string", v)),
    }
}

pub(super) fn required(
    v: Option<String>,
    argument: &str,
    expected: &str,
    ctx: Ctx,
) -> Result<String> {
    v.ok_or_else(|| {
        ctx.err(
            argument,
            format!("{argument} is required: pass {expected}{}.", ctx.registry()),
        )
    })
}

/// A name or session id: a non-empty string without NUL of at most 1,024 bytes.
pub(super) fn name(m: &Map<String, Value>, key: &str, ctx: Ctx) -> Result<String> {
    let s = required(string(m, key, key, ctx)?, key, "a non-empty string", ctx)?;
    check_name(&s, key, ctx.file)?;
    Ok(s)
}

pub(super) fn boolean(m: &Map<String, Value>, key: &str, argument: &str, ctx: Ctx) -> Result<bool> {
    match field(m, key) {
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(ctx.wrong(argument, "true or false", v)),
        None => Err(ctx.err(
            argument,
            format!(
                "{argument} is required: pass true or false{}.",
                ctx.registry()
            ),
        )),
    }
}

/// `socket`: absent/`null`, or a string without NUL of at most [`MAX_SOCKET_BYTES`].
pub(super) fn socket(m: &Map<String, Value>, ctx: Ctx) -> Result<Option<String>> {
    let Some(s) = string(m, "socket", "socket", ctx)? else {
        return Ok(None);
    };
    let why = if s.len() > MAX_SOCKET_BYTES {
        format!("is {} bytes long (at most {MAX_SOCKET_BYTES})", s.len())
    } else if s.contains('\0') {
        "contains a NUL byte".into()
    } else {
        return Ok(Some(s));
    };
    Err(ctx.err(
        "socket",
        format!(
            "socket {} {why}{}: pass the path of the owner's socket, or leave it out.",
            crate::check::shown(&s),
            ctx.registry()
        ),
    ))
}

/// One rule `{ target, permission, recursive }` given as `argument`.
pub(super) fn rule_at(v: &Value, argument: &str, ctx: Ctx) -> Result<Rule> {
    let m = object(v, argument, ctx)?;
    let prefix = format!("{argument}.");
    known(m, &["target", "permission", "recursive"], &prefix, ctx)?;
    let target_arg = format!("{argument}.target");
    let target = required(
        string(m, "target", &target_arg, ctx)?,
        &target_arg,
        "an absolute path",
        ctx,
    )?;
    let target =
        normalize_in(&target, &target_arg, &ctx.registry()).map_err(|e| with_file(e, ctx))?;
    let perm_arg = format!("{argument}.permission");
    let permission = match field(m, "permission") {
        Some(Value::String(s)) if s == "read" => Permission::Read,
        Some(Value::String(s)) if s == "write" => Permission::Write,
        Some(Value::String(s)) => {
            return Err(ctx.err(
                &perm_arg,
                format!(
                    "{perm_arg} {} is neither 'read' nor 'write'{}: pass one of those.",
                    crate::check::shown(s),
                    ctx.registry()
                ),
            ))
        }
        Some(v) => return Err(ctx.wrong(&perm_arg, "'read' or 'write'", v)),
        None => {
            return Err(ctx.err(
                &perm_arg,
                format!(
                    "{perm_arg} is required: pass 'read' or 'write'{}.",
                    ctx.registry()
                ),
            ))
        }
    };
    let recursive = boolean(m, "recursive", &format!("{argument}.recursive"), ctx)?;
    Ok(Rule {
        target,
        permission,
        recursive,
    })
}

/// `scopes`: an array of at most [`crate::check::MAX_RULES`] rules.
pub(super) fn scopes(m: &Map<String, Value>, ctx: Ctx) -> Result<Vec<Rule>> {
    match field(m, "scopes") {
        Some(Value::Array(items)) => {
            check_rule_count(items.len(), ctx.file)?;
            items
                .iter()
                .enumerate()
                .map(|(i, v)| rule_at(v, &format!("scopes[{i}]"), ctx))
                .collect()
        }
        Some(v) => Err(ctx.wrong("scopes", "an array of rules", v)),
        None => Err(ctx.err(
            "scopes",
            format!(
                "scopes is required: pass an array of rules {{ target, permission, recursive }}{}.",
                ctx.registry()
            ),
        )),
    }
}
