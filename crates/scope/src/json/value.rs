//! Reading a JSON value and naming what is wrong with it: the context of a call (the registry
//! named in messages and `err.path`), what a value is in JavaScript's words, the tag objects
//! that stand for values JSON cannot carry, and the object-level checks (an object, only known
//! keys, `null` as absent).
//! Test: `super::tests::*`.

use std::path::Path;

use serde_json::{Map, Value};
use sole_error::{Error, Result};

use super::TAG;

/// Where an argument error happens: the registry file (named in messages and `err.path`), or
/// none for the pure rule helpers.
#[derive(Clone, Copy)]
pub(super) struct Ctx<'a> {
    pub(super) file: Option<&'a Path>,
}

impl Ctx<'_> {
    pub(super) fn err(&self, argument: &str, message: String) -> Error {
        let e = Error::invalid_argument(argument, message);
        match self.file {
            Some(f) => e.with_path(f),
            None => e,
        }
    }

    pub(super) fn registry(&self) -> String {
        crate::check::in_registry(self.file)
    }

    /// `{argument} must be {expected}, got {what v is}`.
    pub(super) fn wrong(&self, argument: &str, expected: &str, v: &Value) -> Error {
        self.err(
            argument,
            format!(
                "{argument} must be {expected}, got {}{}. Fix the argument.",
                describe(v),
                self.registry()
            ),
        )
    }
}

/// A tag's kind and text, if `m` is a tag object.
pub(super) fn tag(m: &Map<String, Value>) -> Option<(&str, &str)> {
    let kind = m.get(TAG)?.as_str()?;
    Some((kind, m.get("shown").and_then(Value::as_str).unwrap_or("")))
}

/// What a value is, in JavaScript's words, for messages.
pub(super) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(m) => match tag(m) {
            None => "an object".into(),
            Some(("bigint", shown)) => format!("a bigint ({})", cut(shown)),
            Some(("symbol", shown)) => format!("a symbol ({})", cut(shown)),
            Some(("function", _)) => "a function".into(),
            Some(("number", shown)) => format!("the number {}", cut(shown)),
            Some(("cycle", _)) => "an object that contains itself (a cycle)".into(),
            Some(("deep", _)) => "a value nested too deeply".into(),
            Some(("boxed", shown)) => format!("a {} object (pass the primitive value)", cut(shown)),
            Some(_) => "a value that cannot be passed".into(),
        },
    }
}

pub(super) fn cut(s: &str) -> String {
    s.chars().take(40).collect()
}

/// The value of `key`, `None` when absent or `null` (JSON has no `undefined`: the TS layer's
/// `undefined` options are absent).
pub(super) fn field<'v>(m: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    m.get(key).filter(|v| !v.is_null())
}

/// `v` as an options object or rule (not a tag, not an array).
pub(super) fn object<'v>(v: &'v Value, argument: &str, ctx: Ctx) -> Result<&'v Map<String, Value>> {
    match v {
        Value::Object(m) if tag(m).is_none() => Ok(m),
        _ => Err(ctx.wrong(argument, "an object", v)),
    }
}

/// Refuse keys other than `allowed`, naming the first unknown one (`prefix` + key).
pub(super) fn known(
    m: &Map<String, Value>,
    allowed: &[&str],
    prefix: &str,
    ctx: Ctx,
) -> Result<()> {
    match m.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => {
            let argument = format!("{prefix}{k}");
            Err(ctx.err(
                &argument,
                format!(
                    "unknown option {}{}: the options here are {}. Remove it or check its spelling.",
                    crate::check::shown(&argument),
                    ctx.registry(),
                    allowed.join(", ")
                ),
            ))
        }
    }
}

pub(super) fn with_file(e: Error, ctx: Ctx) -> Error {
    match ctx.file {
        Some(f) => e.with_path(f),
        None => e,
    }
}
