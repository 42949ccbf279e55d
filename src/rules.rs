//! The scope registry's rule algebra for JavaScript (`rulesOverlap`, `coversFully`) and the
//! conversion of the arguments that cross as JSON, shared with the registry's binding
//! (`crate::scope`). Pure functions of their arguments, so this module is in both builds of the
//! binding: the native addon and the WebAssembly one (wasm32-wasip1), which must give exactly
//! the same answers and errors (`__test__/wasm.spec.ts` compares them on generated rules).

use std::path::Path;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use sole_scope::{check, json};

use crate::args::guarded;
use crate::{args, js_error};

/// The suffix every argument message of a call on the registry `file` ends with
/// (`check::in_registry`), built only when a message is.
pub(crate) fn in_registry(file: Option<&Path>) -> impl FnOnce() -> String + '_ {
    move || check::in_registry(file)
}

/// An argument that crosses as JSON (options, rules): `None` for `undefined`/`null`, the string
/// otherwise; any other type is `EINVAL` naming `argument` (only a direct caller of the native
/// class can pass one: `lib/scope.ts` always serialises).
pub(crate) fn json_arg(
    env: &Env,
    v: &Unknown,
    argument: &str,
    file: Option<&Path>,
) -> Result<Option<String>> {
    opt_string(env, Some(*v), argument, file)
}

/// An optional string argument (`undefined`/`null`: `None`, by `args::present`).
pub(crate) fn opt_string(
    env: &Env,
    v: Option<Unknown>,
    argument: &str,
    file: Option<&Path>,
) -> Result<Option<String>> {
    match args::present(v)? {
        None => Ok(None),
        Some((v, _)) => args::string_in(env, &v, argument, in_registry(file)).map(Some),
    }
}

/// Two rules given as JSON, named `an` and `bn` in errors.
fn two_rules(
    env: &Env,
    (a, an): (&Unknown, &str),
    (b, bn): (&Unknown, &str),
) -> Result<(sole_scope::Rule, sole_scope::Rule)> {
    let a = json_arg(env, a, an, None)?;
    let b = json_arg(env, b, bn, None)?;
    let a = json::rule(a.as_deref(), an, None).map_err(|e| js_error(env, e))?;
    let b = json::rule(b.as_deref(), bn, None).map_err(|e| js_error(env, e))?;
    Ok((a, b))
}

/// Do the rules `a` and `b` (JSON) claim a common path?
/// Test: `__test__/scope.spec.ts`, `__test__/scope-args.spec.ts`.
// Registered with napi at load time; rustc sees no caller in a `cargo test` build.
#[allow(dead_code)]
#[napi(catch_unwind)]
pub fn scope_rules_overlap(
    env: Env,
    #[napi(ts_arg_type = "string | undefined | null")] a: Unknown,
    #[napi(ts_arg_type = "string | undefined | null")] b: Unknown,
) -> Result<bool> {
    guarded(&env, "comparing scope rules", || {
        let (a, b) = two_rules(&env, (&a, "a"), (&b, "b"))?;
        Ok(sole_scope::rules_overlap(&a, &b))
    })
}

/// Does `cover` (JSON) claim every path `inner` claims, with at least its permission?
/// Test: `__test__/scope.spec.ts`, `__test__/scope-args.spec.ts`.
// Registered with napi at load time; rustc sees no caller in a `cargo test` build.
#[allow(dead_code)]
#[napi(catch_unwind)]
pub fn scope_covers_fully(
    env: Env,
    #[napi(ts_arg_type = "string | undefined | null")] cover: Unknown,
    #[napi(ts_arg_type = "string | undefined | null")] inner: Unknown,
) -> Result<bool> {
    guarded(&env, "comparing scope rules", || {
        let (a, b) = two_rules(&env, (&cover, "cover"), (&inner, "inner"))?;
        Ok(sole_scope::covers_fully(&a, &b))
    })
}
