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

#[cfg(not(target_family = "wasm"))]
mod args;
// Off wasm, `args` reads the registry's options with these; the rule parsing uses them in both.
#[cfg_attr(target_family = "wasm", allow(dead_code))]
mod fields;
#[cfg(test)]
mod tests;
#[cfg_attr(target_family = "wasm", allow(dead_code))]
mod value;

#[cfg(not(target_family = "wasm"))]
pub use args::{adopt_args, delegate_args, register_args};

use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use sole_error::Result;

use crate::rule::Rule;
use fields::rule_at;
use value::Ctx;

/// The key of a tag object standing for a value JSON cannot carry (see the module doc).
/// Test: `tests::inputs_are_checked`, `__test__/scope-args.spec.ts` (bigints, cycles, …).
pub const TAG: &str = "\u{0}sole";

/// Longest `socket` accepted, in bytes (it is stored as given; `PATH_MAX` is generous).
/// Test: `tests::inputs_are_checked`.
pub const MAX_SOCKET_BYTES: usize = 4095;

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
