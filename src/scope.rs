//! napi binding of the scope registry (`sole_scope`). No logic here: arguments are taken as raw
//! JavaScript values and decided by `crate::args` (types) and `sole_scope` (values, and the
//! options and rules that cross as JSON strings, parsed by `sole_scope::json`); errors cross
//! through `crate::js_error`. `lib/scope.ts` is the typed layer (`ScopeRegistry`, guards with
//! `Symbol.dispose`).
//!
//! Why every parameter is an `Unknown`: with typed parameters napi-rs converts first and
//! throws its own errors (`StringExpected`, "Failed to convert JavaScript value `Number 1`
//! into rust type `String`") that carry no documented `code`. Here a wrong type or value of any
//! argument or option is `EINVAL` with `err.argument` naming it (pids: `EINVALIDPID`), and
//! `undefined`/`null` options are the defaults. A caller's exception from a getter or Proxy
//! trap passes through unchanged.
//!
//! Why every export is `catch_unwind` and runs its body in [`guarded`]: a panic crossing into
//! Node aborts the host process. `catch_unwind` covers napi-rs's generated glue; [`guarded`]
//! turns a panic in the body into `EINTERNAL` (a documented code) rather than napi's
//! code-less `GenericFailure`.
//!
//! All methods are synchronous: an operation holds the registry's flock for microseconds to a
//! few milliseconds, so nothing waits on libuv's threadpool.
//! Test: `__test__/scope-args.spec.ts` (every method, every argument), `__test__/scope.spec.ts`.

mod types;

use std::path::Path;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use sole_scope::{check, json, store, Guard, Registry};

use crate::args::guarded;
use crate::rules::{in_registry, json_arg, opt_string};
use crate::{args, js_error};

/// An opened scope registry (use `ScopeRegistry` from the TypeScript layer).
/// Test: `__test__/scope.spec.ts`.
#[napi]
pub struct NativeScopeRegistry {
    inner: Option<Arc<Registry>>,
    path: String,
}

impl NativeScopeRegistry {
    fn reg(&self, env: &Env) -> Result<&Arc<Registry>> {
        self.inner
            .as_ref()
            .ok_or_else(|| js_error(env, Registry::closed(Path::new(&self.path))))
    }

    /// Run `op` on the open registry inside [`guarded`], converting its error.
    fn with<T>(
        &self,
        env: &Env,
        what: &str,
        op: impl FnOnce(&Arc<Registry>) -> Result<T>,
    ) -> Result<T> {
        guarded(env, what, || op(self.reg(env)?))
    }
}

#[napi]
impl NativeScopeRegistry {
    /// Close the registry's directory and lock-file descriptors (guards it issued keep their
    /// own reference and can still release). Idempotent; later calls throw `EBADF`.
    /// Test: `__test__/scope-args.spec.ts` ("guards: … release and dispose work").
    #[napi(catch_unwind)]
    pub fn close(&mut self) {
        self.inner = None;
    }

    /// Open the registry at `path` (`undefined`/`null`: `$SOLE_RUNTIME_DIR/scope.json`, else
    /// `$XDG_RUNTIME_DIR/sole/scope.json`, else `<tmpdir>/sole-<uid>/scope.json`).
    /// `opts.timeoutMs`: how long an operation waits for another process's operation before
    /// `ETIMEDOUT` (default 10000; any number of milliseconds from 0 to
    /// `Number.MAX_SAFE_INTEGER`, through `sole_error::timeout`).
    /// Test: `__test__/scope-args.spec.ts`.
    #[napi(factory, catch_unwind)]
    pub fn open(
        env: Env,
        #[napi(ts_arg_type = "string | undefined | null")] path: Option<Unknown>,
        #[napi(
            ts_arg_type = "{ timeoutMs?: number | null; allowNetworkFs?: boolean | null } | undefined | null"
        )]
        opts: Option<Unknown>,
    ) -> Result<Self> {
        guarded(&env, "opening the scope registry", || {
            let path = opt_string(&env, path, "path", None)?;
            // The data file's path, for messages (and its errors before any option's).
            let (data, _) = store::path::locate(path.as_deref()).map_err(|e| js_error(&env, e))?;
            let opts =
                args::Opts::new(&env, opts.as_ref(), "opts", check::in_registry(Some(&data)))?;
            let timeout = Registry::lock_timeout(opts.number(&env, "timeoutMs")?, &data)
                .map_err(|e| js_error(&env, e))?;
            let allow = opts.bool(&env, "allowNetworkFs")?.unwrap_or(false);
            let r = Registry::open_with(path.as_deref(), Some(timeout), allow)
                .map_err(|e| js_error(&env, e))?;
            Ok(NativeScopeRegistry {
                path: r.path().to_string_lossy().into_owned(),
                inner: Some(Arc::new(r)),
            })
        })
    }

    /// Absolute path of the data file.
    /// Test: `__test__/scope.spec.ts`.
    #[napi(getter, catch_unwind)]
    pub fn path(&self) -> String {
        self.path.clone()
    }

    /// Register a top-level allocation; `opts` is the JSON of `{ name, pid?, socket?, scopes,
    /// sessionId }`.
    /// Test: `__test__/scope.spec.ts`, `__test__/scope-args.spec.ts`.
    #[napi(catch_unwind)]
    pub fn register(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string | undefined | null")] opts: Unknown,
    ) -> Result<()> {
        self.with(&env, "registering a scope allocation", |r| {
            let opts = json_arg(&env, &opts, "opts", Some(r.path()))?;
            json::register_args(opts.as_deref(), r.path())
                .and_then(|(spec, sid)| r.register(spec, sid))
                .map_err(|e| js_error(&env, e))
        })
    }

    /// Reserve a child of `spawner`; `opts` is the JSON of `{ name, pid?, socket?, scopes }`.
    /// Test: `__test__/scope.spec.ts`, `__test__/scope-args.spec.ts`.
    #[napi(catch_unwind)]
    pub fn delegate(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] spawner: Unknown,
        #[napi(ts_arg_type = "string | undefined | null")] opts: Unknown,
    ) -> Result<()> {
        self.with(&env, "delegating a scope allocation", |r| {
            let spawner = args::string_in(&env, &spawner, "spawner", in_registry(Some(r.path())))?;
            let opts = json_arg(&env, &opts, "opts", Some(r.path()))?;
            json::delegate_args(opts.as_deref(), r.path())
                .and_then(|spec| r.delegate(&spawner, spec))
                .map_err(|e| js_error(&env, e))
        })
    }

    /// Remove `name`; its children pass to its parent.
    /// Test: `__test__/scope.spec.ts`, `__test__/scope-args.spec.ts`.
    #[napi(catch_unwind)]
    pub fn release(&self, env: Env, #[napi(ts_arg_type = "string")] name: Unknown) -> Result<()> {
        self.with(&env, "releasing a scope allocation", |r| {
            let name = args::string_in(&env, &name, "name", in_registry(Some(r.path())))?;
            r.release(&name).map_err(|e| js_error(&env, e))
        })
    }

    /// JSON array of the removed names.
    /// Test: `__test__/scope.spec.ts`.
    #[napi(catch_unwind)]
    pub fn reclaim_stale(&self, env: Env) -> Result<String> {
        self.with(&env, "reclaiming stale scope allocations", |r| {
            r.reclaim_stale()
                .map(|v| json::to_json(&v))
                .map_err(|e| js_error(&env, e))
        })
    }

    /// Adopt the reserved `name`; `opts` is the JSON of `{ pid?, sessionId }`.
    /// Test: `__test__/scope.spec.ts`, `__test__/scope-args.spec.ts`.
    #[napi(catch_unwind)]
    pub fn adopt(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] name: Unknown,
        #[napi(ts_arg_type = "string | undefined | null")] opts: Unknown,
    ) -> Result<()> {
        self.with(&env, "adopting a scope allocation", |r| {
            let name = args::string_in(&env, &name, "name", in_registry(Some(r.path())))?;
            let opts = json_arg(&env, &opts, "opts", Some(r.path()))?;
            json::adopt_args(opts.as_deref(), r.path())
                .and_then(|(pid, sid)| r.adopt(&name, pid, sid))
                .map_err(|e| js_error(&env, e))
        })
    }

    /// JSON of the allocation, or `null`.
    /// Test: `__test__/scope.spec.ts`, `__test__/scope-args.spec.ts`.
    #[napi(catch_unwind)]
    pub fn lookup_session(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] session_id: Unknown,
    ) -> Result<String> {
        self.with(&env, "looking up a scope session", |r| {
            let session_id =
                args::string_in(&env, &session_id, "sessionId", in_registry(Some(r.path())))?;
            r.lookup_session(&session_id)
                .map(|v| json::to_json(&v))
                .map_err(|e| js_error(&env, e))
        })
    }

    /// JSON array of allocations.
    /// Test: `__test__/scope.spec.ts`.
    #[napi(catch_unwind)]
    pub fn list(&self, env: Env) -> Result<String> {
        self.with(&env, "listing scope allocations", |r| {
            r.list()
                .map(|v| json::to_json(&v))
                .map_err(|e| js_error(&env, e))
        })
    }

    /// JSON `{ rules, delegated }`.
    /// Test: `__test__/scope.spec.ts`, `__test__/scope-args.spec.ts`.
    #[napi(catch_unwind)]
    pub fn effective_write_scope(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] name: Unknown,
    ) -> Result<String> {
        self.with(&env, "reading an effective write scope", |r| {
            let name = args::string_in(&env, &name, "name", in_registry(Some(r.path())))?;
            r.effective_write_scope(&name)
                .map(|v| json::to_json(&v))
                .map_err(|e| js_error(&env, e))
        })
    }

    /// `rule` is the JSON of `{ target, permission, recursive }`.
    /// Test: `__test__/scope.spec.ts`, `__test__/scope-args.spec.ts`.
    #[napi(catch_unwind)]
    pub fn within_effective_write(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] name: Unknown,
        #[napi(ts_arg_type = "string | undefined | null")] rule: Unknown,
    ) -> Result<bool> {
        self.with(&env, "checking an effective write scope", |r| {
            let name = args::string_in(&env, &name, "name", in_registry(Some(r.path())))?;
            let rule = json_arg(&env, &rule, "rule", Some(r.path()))?;
            json::rule(rule.as_deref(), "rule", Some(r.path()))
                .and_then(|rule| r.within_effective_write(&name, &rule))
                .map_err(|e| js_error(&env, e))
        })
    }

    /// `rule` is the JSON of `{ target, permission, recursive }`; `exempt` a name or
    /// `undefined`/`null`.
    /// Test: `__test__/scope.spec.ts`, `__test__/scope-args.spec.ts`.
    #[napi(catch_unwind)]
    pub fn conflict_owner(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string | undefined | null")] rule: Unknown,
        #[napi(ts_arg_type = "string | undefined | null")] exempt: Option<Unknown>,
    ) -> Result<Option<String>> {
        self.with(&env, "looking up a conflicting scope owner", |r| {
            let rule = json_arg(&env, &rule, "rule", Some(r.path()))?;
            let exempt = opt_string(&env, exempt, "exempt", Some(r.path()))?;
            json::rule(rule.as_deref(), "rule", Some(r.path()))
                .and_then(|rule| r.conflict_owner(&rule, exempt.as_deref()))
                .map_err(|e| js_error(&env, e))
        })
    }

    /// `register`, returning a guard (`opts` as for `register`).
    /// Test: `__test__/scope.spec.ts`, `__test__/scope-args.spec.ts`.
    #[napi(catch_unwind)]
    pub fn install_top_level(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string | undefined | null")] opts: Unknown,
    ) -> Result<NativeScopeGuard> {
        self.with(&env, "registering a scope allocation", |r| {
            let opts = json_arg(&env, &opts, "opts", Some(r.path()))?;
            json::register_args(opts.as_deref(), r.path())
                .and_then(|(spec, sid)| r.install_top_level(spec, sid))
                .map(NativeScopeGuard::new)
                .map_err(|e| js_error(&env, e))
        })
    }

    /// `adopt`, returning a guard (`opts` as for `adopt`).
    /// Test: `__test__/scope.spec.ts`, `__test__/scope-args.spec.ts`.
    #[napi(catch_unwind)]
    pub fn adopt_allocation(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] name: Unknown,
        #[napi(ts_arg_type = "string | undefined | null")] opts: Unknown,
    ) -> Result<NativeScopeGuard> {
        self.with(&env, "adopting a scope allocation", |r| {
            let name = args::string_in(&env, &name, "name", in_registry(Some(r.path())))?;
            let opts = json_arg(&env, &opts, "opts", Some(r.path()))?;
            json::adopt_args(opts.as_deref(), r.path())
                .and_then(|(pid, sid)| r.adopt_allocation(&name, pid, sid))
                .map(NativeScopeGuard::new)
                .map_err(|e| js_error(&env, e))
        })
    }
}

/// Releases its allocation on `release()`, and only then: a guard that is garbage-collected
/// without `release()` leaves the allocation to its process (the registry reclaims it once that
/// process has exited), so a claim is never lost to GC while its owner runs (see
/// `sole_scope::Guard`).
/// Test: `__test__/scope.spec.ts` ("a guard dropped without release() keeps its allocation
/// through GC").
#[napi]
pub struct NativeScopeGuard {
    inner: Guard,
}

impl NativeScopeGuard {
    fn new(g: Guard) -> Self {
        NativeScopeGuard { inner: g }
    }
}

#[napi]
impl NativeScopeGuard {
    /// The allocation's name.
    /// Test: `__test__/scope-args.spec.ts`.
    #[napi(getter, catch_unwind)]
    pub fn name(&self) -> String {
        self.inner.name().to_string()
    }

    /// Whether `release()` ran.
    /// Test: `__test__/scope-args.spec.ts`.
    #[napi(getter, catch_unwind)]
    pub fn released(&self) -> bool {
        self.inner.released()
    }

    /// Remove the allocation; `false` when it was already gone. Idempotent.
    /// Test: `__test__/scope-args.spec.ts` ("guards: … release and dispose work").
    #[napi(catch_unwind)]
    pub fn release(&mut self, env: Env) -> Result<bool> {
        guarded(&env, "releasing a scope guard", || {
            self.inner.release().map_err(|e| js_error(&env, e))
        })
    }
}

/// Move a corrupt registry data file aside; returns the new path, or `null` when there was
/// nothing to repair.
/// Test: `__test__/scope.spec.ts`, `__test__/scope-args.spec.ts`.
// Registered with napi at load time; rustc sees no caller in a `cargo test` build.
#[allow(dead_code)]
#[napi(catch_unwind)]
pub fn scope_repair(
    env: Env,
    #[napi(ts_arg_type = "string")] path: Unknown,
) -> Result<Option<String>> {
    guarded(&env, "repairing a scope registry", || {
        let path = args::string(&env, &path, "path")?;
        Registry::repair(&path)
            .map(|p| p.map(|p| p.to_string_lossy().into_owned()))
            .map_err(|e| js_error(&env, e))
    })
}

/// A read-only look at the registry at `path` (default location when null/undefined): JSON
/// `{ path, exists, allocations: [{ ...allocation, live }] }`. Creates, locks and changes
/// nothing, and shows stale allocations (opening the registry would reclaim them first). For
/// `sole scope list` and `sole status`.
/// Test: `__test__/cli-scope.spec.ts`, `sole_scope::registry::snapshot::tests`.
// Registered with napi at load time; rustc sees no caller in a `cargo test` build.
#[allow(dead_code)]
#[napi(catch_unwind)]
pub fn scope_snapshot(
    env: Env,
    #[napi(ts_arg_type = "string | undefined | null")] path: Option<Unknown>,
) -> Result<String> {
    guarded(&env, "reading a scope registry", || {
        let path = opt_string(&env, path, "path", None)?;
        sole_scope::registry::snapshot::snapshot(path.as_deref())
            .map(|s| s.to_json())
            .map_err(|e| js_error(&env, e))
    })
}

/// The data file a registry call with `path` would use (the default location when
/// null/undefined), decided by the same rule as `ScopeRegistry.open`, without touching the
/// disk. For `sole scope repair` without `--registry`.
/// Test: `__test__/cli-scope.spec.ts` (the default path via `$SOLE_RUNTIME_DIR`).
// Registered with napi at load time; rustc sees no caller in a `cargo test` build.
#[allow(dead_code)]
#[napi(catch_unwind)]
pub fn scope_registry_path(
    env: Env,
    #[napi(ts_arg_type = "string | undefined | null")] path: Option<Unknown>,
) -> Result<String> {
    guarded(&env, "locating a scope registry", || {
        let path = opt_string(&env, path, "path", None)?;
        store::path::locate(path.as_deref())
            .map(|(p, _)| p.to_string_lossy().into_owned())
            .map_err(|e| js_error(&env, e))
    })
}
