//! The scope registry's option objects, rules and results, declared in Rust so that
//! `index.d.ts` is generated from them (`lib/scope.ts` re-exports them under the same names).
//!
//! Why declared and never converted: the values cross as JSON strings (`null` stays `null`,
//! every check names the exact option: see `sole_scope::json`), so napi-rs must not read them
//! itself. Each type is for the typings only (`object_from_js = false`, `object_to_js =
//! false`); the exports that use them take raw values.
//! Test: `npx tsc -p tsconfig.json --noEmit` (the TypeScript layer and the specs type-check
//! against them), `__test__/scope-args.spec.ts` (the values they describe).
#![allow(dead_code)] // types for index.d.ts: the values are read through `sole_scope::json`

use napi_derive::napi;

/// `read` < `write`: a write grant covers a read request.
#[napi(string_enum = "lowercase")]
pub enum Permission {
    Read,
    Write,
}

/// One claim. `target` must be absolute; it is normalised lexically (`.`, `..`, repeated and
/// trailing slashes). A recursive rule claims `target/**`; a non-recursive one claims the target
/// and its direct children.
#[napi(object, object_from_js = false, object_to_js = false)]
pub struct ScopeRule {
    pub target: String,
    pub permission: Permission,
    pub recursive: bool,
}

/// One allocation as stored.
#[napi(
    object,
    object_from_js = false,
    object_to_js = false,
    use_nullable = true
)]
pub struct Allocation {
    pub name: String,
    pub pid: u32,
    /// Start time of `pid` (clock ticks since boot) when recorded; `null` if it was not alive.
    pub start_time: Option<f64>,
    pub boot_id: Option<String>,
    pub socket: Option<String>,
    pub scopes: Vec<ScopeRule>,
    /// The parent that delegated this allocation, or `null` for a top-level one.
    pub delegated_from: Option<String>,
    /// `null` while a delegated child is only reserved (until it calls `adopt`).
    pub session_id: Option<String>,
}

/// Options of `register` and `installTopLevel`.
#[napi(object, object_from_js = false, object_to_js = false)]
pub struct RegisterOptions {
    pub name: String,
    /// Owner process. Default: this process.
    pub pid: Option<u32>,
    pub socket: Option<String>,
    pub scopes: Vec<ScopeRule>,
    pub session_id: String,
}

/// Options of `delegate`.
#[napi(object, object_from_js = false, object_to_js = false)]
pub struct DelegateOptions {
    /// The child's name.
    pub name: String,
    /// Placeholder owner until the child adopts it. Default: this process (the spawner).
    pub pid: Option<u32>,
    pub socket: Option<String>,
    pub scopes: Vec<ScopeRule>,
}

/// Options of `adopt` and `adoptAllocation`.
#[napi(object, object_from_js = false, object_to_js = false)]
pub struct AdoptOptions {
    /// The adopting process. Default: this process.
    pub pid: Option<u32>,
    pub session_id: String,
}

/// A name's own write rules, and the write rules its children hold (not part of its scope).
#[napi(object, object_from_js = false, object_to_js = false)]
pub struct EffectiveWriteScope {
    pub rules: Vec<ScopeRule>,
    pub delegated: Vec<ScopeRule>,
}
