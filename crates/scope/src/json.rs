//! JSON in and out for the JavaScript binding: the binding passes strings, this module turns
//! them into the crate's types (or an error naming the argument) and results back into JSON.
//!
//! Why JSON and not napi objects: the values cross as plain data (`null` stays `null`), and
//! every check lives in this crate rather than in generated conversion code. Why by hand over
//! `serde_json::Value` and not with derived structs: a derived parse fails with "invalid type:
//! integer `1`, expected struct SpecIn at line 1 column 1", which names neither the argument
//! nor what to do. Here every wrong type or value is `EINVAL` with `err.argument` naming the
//! exact option (`"name"`, `"scopes[1].target"`, `"rule.permission"`), pids are `EINVALIDPID`
//! (as everywhere in sole), and unknown options are refused by name.
//!
//! What JSON cannot carry: `JSON.stringify` turns NaN and ±Infinity into `null` (a NaN pid
//! would silently become "this process"), drops symbols and functions, and throws a code-less
//! `TypeError` for bigints and cycles. The TypeScript layer (`lib/scope.ts`) therefore replaces
//! each such value with a tag object `{"\u0000sole": kind, "shown": text}` (kinds `bigint`,
//! `symbol`, `function`, `number` for NaN/±Infinity/-0, `cycle`, `deep`, and `boxed` for
//! `new String('x')` and the like, which JSON would unwrap), and this module
//! refuses a tag wherever it appears, naming the option it was given for. So the decision is
//! made here, once, like every other; a caller's own exception from a getter, Proxy trap or
//! `toJSON` never reaches this module and passes through `JSON.stringify` unchanged.
//! Test: `tests::*` below; `__test__/scope-args.spec.ts` (every method, every argument).

use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};
use sole_error::{Error, Result};

use crate::check::{check_name, check_rule_count};
use crate::rule::{normalize_in, Permission, Rule};
use crate::Spec;

/// The key of a tag object standing for a value JSON cannot carry (see the module doc).
/// Test: `tests::inputs_are_checked`, `__test__/scope-args.spec.ts` (bigints, cycles, …).
pub const TAG: &str = "\u{0}sole";

/// Longest `socket` accepted, in bytes (it is stored as given; `PATH_MAX` is generous).
/// Test: `tests::inputs_are_checked`.
pub const MAX_SOCKET_BYTES: usize = 4095;

/// Where an argument error happens: the registry file (named in messages and `err.path`), or
/// none for the pure rule helpers.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    file: Option<&'a Path>,
}

impl Ctx<'_> {
    fn err(&self, argument: &str, message: String) -> Error {
        let e = Error::invalid_argument(argument, message);
        match self.file {
            Some(f) => e.with_path(f),
            None => e,
        }
    }

    fn registry(&self) -> String {
        crate::check::in_registry(self.file)
    }

    /// `{argument} must be {expected}, got {what v is}`.
    fn wrong(&self, argument: &str, expected: &str, v: &Value) -> Error {
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
fn tag(m: &Map<String, Value>) -> Option<(&str, &str)> {
    let kind = m.get(TAG)?.as_str()?;
    Some((kind, m.get("shown").and_then(Value::as_str).unwrap_or("")))
}

/// What a value is, in JavaScript's words, for messages.
fn describe(v: &Value) -> String {
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

fn cut(s: &str) -> String {
    s.chars().take(40).collect()
}

/// The value of `key`, `None` when absent or `null` (JSON has no `undefined`: the TS layer's
/// `undefined` options are absent).
fn field<'v>(m: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    m.get(key).filter(|v| !v.is_null())
}

/// `v` as an options object or rule (not a tag, not an array).
fn object<'v>(v: &'v Value, argument: &str, ctx: Ctx) -> Result<&'v Map<String, Value>> {
    match v {
        Value::Object(m) if tag(m).is_none() => Ok(m),
        _ => Err(ctx.wrong(argument, "an object", v)),
    }
}

/// Refuse keys other than `allowed`, naming the first unknown one (`prefix` + key).
fn known(m: &Map<String, Value>, allowed: &[&str], prefix: &str, ctx: Ctx) -> Result<()> {
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

fn string(m: &Map<String, Value>, key: &str, argument: &str, ctx: Ctx) -> Result<Option<String>> {
    match field(m, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(ctx.wrong(argument, "a string", v)),
    }
}

fn required(v: Option<String>, argument: &str, expected: &str, ctx: Ctx) -> Result<String> {
    v.ok_or_else(|| {
        ctx.err(
            argument,
            format!("{argument} is required: pass {expected}{}.", ctx.registry()),
        )
    })
}

/// A name or session id: a non-empty string without NUL of at most 1,024 bytes.
fn name(m: &Map<String, Value>, key: &str, ctx: Ctx) -> Result<String> {
    let s = required(string(m, key, key, ctx)?, key, "a non-empty string", ctx)?;
    check_name(&s, key, ctx.file)?;
    Ok(s)
}

fn boolean(m: &Map<String, Value>, key: &str, argument: &str, ctx: Ctx) -> Result<bool> {
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

/// `pid`: absent/`null` for this process, else an integer pid; anything else is
/// `EINVALIDPID` (with `argument: "pid"`), as for every pid in sole.
fn pid(m: &Map<String, Value>, ctx: Ctx) -> Result<Option<i32>> {
    let shown = match field(m, "pid") {
        None => return Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) => {
                return sole_procid::validate_pid(f)
                    .map(Some)
                    .map_err(|e| with_file(e.with_detail("argument", "pid"), ctx))
            }
            None => n.to_string(),
        },
        Some(Value::String(s)) => format!("the string {}", crate::check::shown(s)),
        Some(Value::Object(o)) if matches!(tag(o), Some(("number", _))) => {
            tag(o).map_or(String::new(), |(_, s)| cut(s))
        }
        Some(v) => describe(v),
    };
    Err(with_file(
        sole_procid::pid::not_a_pid(&shown).with_detail("argument", "pid"),
        ctx,
    ))
}

fn with_file(e: Error, ctx: Ctx) -> Error {
    match ctx.file {
        Some(f) => e.with_path(f),
        None => e,
    }
}

/// `socket`: absent/`null`, or a string without NUL of at most [`MAX_SOCKET_BYTES`].
fn socket(m: &Map<String, Value>, ctx: Ctx) -> Result<Option<String>> {
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
fn rule_at(v: &Value, argument: &str, ctx: Ctx) -> Result<Rule> {
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
fn scopes(m: &Map<String, Value>, ctx: Ctx) -> Result<Vec<Rule>> {
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

/// Parse the options `json` of `argument`; `None` (JavaScript `undefined`/`null`) is `{}`,
/// i.e. every option at its default.
fn options(json: Option<&str>, argument: &str, ctx: Ctx) -> Result<Map<String, Value>> {
    match json {
        None => Ok(Map::new()),
        Some(j) => object(&parse(j, argument, ctx)?, argument, ctx).cloned(),
    }
}

fn parse(json: &str, argument: &str, ctx: Ctx) -> Result<Value> {
    serde_json::from_str(json).map_err(|e| {
        ctx.err(
            argument,
            format!(
                "{argument} is not valid JSON ({e}){}: call through ScopeRegistry, which serialises it.",
                ctx.registry()
            ),
        )
    })
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
    let ctx = Ctx { file: Some(file) };
    let m = options(json, "opts", ctx)?;
    known(
        &m,
        &["name", "pid", "socket", "scopes", "sessionId"],
        "",
        ctx,
    )?;
    let s = spec(&m, ctx)?;
    Ok((s, name(&m, "sessionId", ctx)?))
}

/// `{ name, pid?, socket?, scopes }` for delegate (a `sessionId` is refused: a delegated child
/// has none until it adopts).
/// Test: `tests::inputs_are_checked`.
pub fn delegate_args(json: Option<&str>, file: &Path) -> Result<Spec> {
    let ctx = Ctx { file: Some(file) };
    let m = options(json, "opts", ctx)?;
    known(
        &m,
        &["name", "pid", "socket", "scopes", "sessionId"],
        "",
        ctx,
    )?;
    let s = spec(&m, ctx)?;
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
pub fn adopt_args(json: Option<&str>, file: &Path) -> Result<(Option<i32>, String)> {
    let ctx = Ctx { file: Some(file) };
    let m = options(json, "opts", ctx)?;
    known(&m, &["pid", "sessionId"], "", ctx)?;
    Ok((pid(&m, ctx)?, name(&m, "sessionId", ctx)?))
}

/// A rule argument `{ target, permission, recursive }` named `argument` (`"rule"`), of the
/// registry `file` (`None`: a pure helper, no registry).
/// Test: `tests::rules_name_their_argument_and_pure_ones_have_no_path`.
pub fn rule(json: Option<&str>, argument: &str, file: Option<&Path>) -> Result<Rule> {
    let ctx = Ctx { file };
    match json {
        None => Err(ctx.wrong(
            argument,
            "a rule { target, permission, recursive }",
            &Value::Null,
        )),
        Some(j) => rule_at(&parse(j, argument, ctx)?, argument, ctx),
    }
}

/// Any result as JSON.
/// Test: `__test__/scope.spec.ts` (every result read back).
pub fn to_json<T: Serialize + ?Sized>(v: &T) -> String {
    // Plain data (strings, numbers, booleans, vectors, options) always serialises; should that
    // ever change, an empty JSON `null` is a visible failure rather than a panic.
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(e: &Error) -> String {
        match e.details().iter().find(|(k, _)| *k == "argument") {
            Some((_, sole_error::Detail::Str(s))) => s.clone(),
            _ => String::new(),
        }
    }

    #[test]
    fn inputs_are_checked() {
        let f = Path::new("/r/scope.json");
        let (s, sid) = register_args(
            Some(r#"{"name":"a","scopes":[{"target":"/x/../src/","permission":"write","recursive":true}],"sessionId":"s"}"#),
            f,
        )
        .unwrap();
        assert_eq!(s.scopes[0].target, Path::new("/src"));
        assert_eq!((s.pid, sid.as_str()), (None, "s"));
        let rule = |t: &str| format!(r#"{{"target":{t},"permission":"write","recursive":true}}"#);
        for (bad, argument) in [
            (r#"{"name":"a","scopes":[]}"#.to_string(), "sessionId"),
            (r#"{"name":1,"scopes":[],"sessionId":"s"}"#.into(), "name"),
            (r#"{"name":"","scopes":[],"sessionId":"s"}"#.into(), "name"),
            (r#"{"name":"a","scopes":[],"sessionId":"s","extra":1}"#.into(), "extra"),
            (format!(r#"{{"name":"a","scopes":[{}],"sessionId":"s"}}"#, rule(r#""src""#)), "scopes[0].target"),
            (format!(r#"{{"name":"a","scopes":[{},{}],"sessionId":"s"}}"#, rule(r#""/a""#), rule(r#""/a\u0000b""#)), "scopes[1].target"),
            (r#"{"name":"a","scopes":[{"target":"/src","permission":"own","recursive":true}],"sessionId":"s"}"#.into(), "scopes[0].permission"),
            (r#"{"name":"a","scopes":[{"target":"/src","permission":"read","recursive":1}],"sessionId":"s"}"#.into(), "scopes[0].recursive"),
            (r#"{"name":"a","scopes":[{"target":"/src","permission":"read","recursive":true,"x":1}],"sessionId":"s"}"#.into(), "scopes[0].x"),
            (r#"{"name":"a","scopes":{},"sessionId":"s"}"#.into(), "scopes"),
            (r#"{"name":"a","socket":7,"scopes":[],"sessionId":"s"}"#.into(), "socket"),
            (r#"{"name":{"\u0000sole":"bigint","shown":"12n"},"scopes":[],"sessionId":"s"}"#.into(), "name"),
            (r#"[1]"#.into(), "opts"),
            (r#"5"#.into(), "opts"),
            (r#"{"\u0000sole":"symbol","shown":"Symbol(x)"}"#.into(), "opts"),
            (r#"not json"#.into(), "opts"),
        ] {
            let e = register_args(Some(&bad), f).unwrap_err();
            assert_eq!(e.code(), "EINVAL", "{bad}");
            assert_eq!(arg(&e), argument, "{bad}: {}", e.message());
            assert!(e.message().contains("/r/scope.json"), "{}", e.message());
            assert_eq!(e.path(), Some(f));
        }
        let e = register_args(None, f).unwrap_err();
        assert_eq!(
            arg(&e),
            "name",
            "undefined options: the defaults, and name is required"
        );
        let e = register_args(
            Some(r#"{"name":{"\u0000sole":"bigint","shown":"12n"},"scopes":[],"sessionId":"s"}"#),
            f,
        )
        .unwrap_err();
        assert!(e.message().contains("bigint (12n)"), "{}", e.message());
        for pid in [
            "0",
            "-1",
            "1.5",
            "2147483648",
            "9007199254740992",
            "\"12\"",
            "true",
            "[]",
            r#"{"\u0000sole":"number","shown":"NaN"}"#,
            r#"{"\u0000sole":"bigint","shown":"12n"}"#,
        ] {
            let e = register_args(
                Some(&format!(
                    r#"{{"name":"a","pid":{pid},"scopes":[],"sessionId":"s"}}"#
                )),
                f,
            )
            .unwrap_err();
            assert_eq!(e.code(), "EINVALIDPID", "{pid}");
            assert_eq!(arg(&e), "pid");
        }
        assert_eq!(
            adopt_args(Some(r#"{"pid":12,"sessionId":"s","x":null}"#), f)
                .unwrap_err()
                .code(),
            "EINVAL",
            "unknown keys are refused even when null"
        );
        assert_eq!(
            adopt_args(Some(r#"{"pid":12,"sessionId":"s"}"#), f).unwrap(),
            (Some(12), "s".into())
        );
        assert_eq!(
            adopt_args(Some(r#"{"pid":null,"sessionId":"s"}"#), f).unwrap(),
            (None, "s".into())
        );
        let e = delegate_args(Some(r#"{"name":"c","scopes":[],"sessionId":"x"}"#), f).unwrap_err();
        assert_eq!(arg(&e), "sessionId");
        assert!(delegate_args(Some(r#"{"name":"c","scopes":[],"sessionId":null}"#), f).is_ok());
    }

    #[test]
    fn rules_name_their_argument_and_pure_ones_have_no_path() {
        let e = rule(
            Some(r#"{"target":"/a\u0000","permission":"write","recursive":true}"#),
            "b",
            None,
        )
        .unwrap_err();
        assert_eq!(arg(&e), "b.target");
        assert!(e.message().contains("NUL"));
        assert_eq!(e.path(), None);
        let e = rule(None, "rule", Some(Path::new("/r/s.json"))).unwrap_err();
        assert_eq!(arg(&e), "rule");
        assert_eq!(e.path(), Some(Path::new("/r/s.json")));
        let e = rule(Some(r#"{"\u0000sole":"cycle"}"#), "rule", None).unwrap_err();
        assert!(e.message().contains("cycle"), "{}", e.message());
    }
}
