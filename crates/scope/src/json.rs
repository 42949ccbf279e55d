//! JSON in and out for the JavaScript binding: the binding passes strings, this module turns
//! them into the crate's types (or `EINVAL` saying what is wrong) and results back into JSON.
//!
//! Why JSON and not napi objects: the values cross as plain data (`null` stays `null`, unknown
//! keys and wrong types are refused here with a message naming the registry file), and every
//! validation lives in this crate rather than in generated conversion code.
//! Test: `tests::*` below; `__test__/scope.spec.ts` for the JavaScript side.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sole_error::{Error, Kind, Result};

use crate::rule::{Permission, Rule};
use crate::Spec;

fn invalid(file: &Path, what: &str, why: impl std::fmt::Display) -> Error {
    Error::new(
        Kind::Os(libc::EINVAL),
        format!(
            "invalid {what} for the scope registry {}: {why}. Fix the argument.",
            file.display()
        ),
    )
    .with_path(file)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleIn {
    target: String,
    permission: String,
    recursive: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecIn {
    name: String,
    pid: Option<f64>,
    socket: Option<String>,
    scopes: Vec<RuleIn>,
    session_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AdoptIn {
    pid: Option<f64>,
    session_id: String,
}

fn parse<'a, T: Deserialize<'a>>(json: &'a str, file: &Path, what: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| invalid(file, what, e))
}

fn rule_of(r: RuleIn) -> Result<Rule> {
    let permission = match r.permission.as_str() {
        "read" => Permission::Read,
        "write" => Permission::Write,
        other => {
            return Err(Error::new(
                Kind::Os(libc::EINVAL),
                format!("permission {other:?} is neither 'read' nor 'write': pass one of those."),
            ))
        }
    };
    Rule::new(&r.target, permission, r.recursive)
}

fn pid_of(pid: Option<f64>) -> Result<Option<i32>> {
    pid.map(sole_procid::validate_pid).transpose()
}

fn spec_of(s: SpecIn) -> Result<Spec> {
    Ok(Spec {
        name: s.name,
        pid: pid_of(s.pid)?,
        socket: s.socket,
        scopes: s.scopes.into_iter().map(rule_of).collect::<Result<_>>()?,
    })
}

/// `{ name, pid?, socket?, scopes, sessionId }` for register / installTopLevel.
pub fn register_args(json: &str, file: &Path) -> Result<(Spec, String)> {
    let s: SpecIn = parse(json, file, "register() options")?;
    let Some(session) = s.session_id.clone() else {
        return Err(invalid(
            file,
            "register() options",
            "sessionId (a string) is required",
        ));
    };
    Ok((spec_of(s)?, session))
}

/// `{ name, pid?, socket?, scopes }` for delegate.
pub fn delegate_args(json: &str, file: &Path) -> Result<Spec> {
    let s: SpecIn = parse(json, file, "delegate() options")?;
    if s.session_id.is_some() {
        return Err(invalid(
            file,
            "delegate() options",
            "a delegated child has no sessionId until it calls adopt()",
        ));
    }
    spec_of(s)
}

/// `{ pid?, sessionId }` for adopt / adoptAllocation.
pub fn adopt_args(json: &str, file: &Path) -> Result<(Option<i32>, String)> {
    let a: AdoptIn = parse(json, file, "adopt() options")?;
    Ok((pid_of(a.pid)?, a.session_id))
}

/// `{ target, permission, recursive }`.
pub fn rule(json: &str, file: &Path) -> Result<Rule> {
    rule_of(parse(json, file, "rule")?)
}

/// A rule for the pure helpers (no registry file to name).
pub fn pure_rule(json: &str) -> Result<Rule> {
    rule(json, Path::new("(no registry: pure helper)"))
}

/// Any result as JSON.
pub fn to_json<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked() {
        let f = Path::new("/r/scope.json");
        let (s, sid) = register_args(
            r#"{"name":"a","scopes":[{"target":"/x/../src/","permission":"write","recursive":true}],"sessionId":"s"}"#,
            f,
        )
        .unwrap();
        assert_eq!(s.scopes[0].target, Path::new("/src"));
        assert_eq!((s.pid, sid.as_str()), (None, "s"));
        for bad in [
            r#"{"name":"a","scopes":[]}"#,
            r#"{"name":1,"scopes":[],"sessionId":"s"}"#,
            r#"{"name":"a","scopes":[],"sessionId":"s","extra":1}"#,
            r#"{"name":"a","scopes":[{"target":"src","permission":"write","recursive":true}],"sessionId":"s"}"#,
            r#"{"name":"a","scopes":[{"target":"/src","permission":"own","recursive":true}],"sessionId":"s"}"#,
        ] {
            let e = register_args(bad, f).unwrap_err();
            assert_eq!(e.code(), "EINVAL", "{bad}");
        }
        assert_eq!(
            register_args(r#"{"name":"a","pid":0,"scopes":[],"sessionId":"s"}"#, f)
                .unwrap_err()
                .code(),
            "EINVALIDPID"
        );
        assert_eq!(
            adopt_args(r#"{"pid":12,"sessionId":"s"}"#, f).unwrap(),
            (Some(12), "s".into())
        );
    }
}
