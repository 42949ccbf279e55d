//! napi binding of the scope registry (`sole_scope`): arguments and results cross as JSON
//! strings, parsed and validated by `sole_scope::json`; errors cross through `crate::js_error`.
//! No logic here. All methods are synchronous: an operation holds the registry's flock for
//! microseconds to a few milliseconds, so nothing waits on libuv's threadpool.
//! `lib/scope.ts` is the typed layer (`ScopeRegistry`, guards with `Symbol.dispose`).

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use sole_scope::{json, Guard, Registry};

use crate::js_error;

/// An opened scope registry (use `ScopeRegistry` from the TypeScript layer).
#[napi]
pub struct NativeScopeRegistry {
    inner: Option<Arc<Registry>>,
    path: String,
}

impl NativeScopeRegistry {
    fn reg(&self, env: &Env) -> Result<&Arc<Registry>> {
        self.inner.as_ref().ok_or_else(|| {
            js_error(
                env,
                sole_error::Error::new(
                    sole_error::Kind::Os(libc::EBADF),
                    format!(
                        "the scope registry {} is closed: open it again with ScopeRegistry.open().",
                        self.path
                    ),
                )
                .with_path(std::path::Path::new(&self.path)),
            )
        })
    }
}

#[napi]
impl NativeScopeRegistry {
    /// Close the registry's directory and lock-file descriptors (guards it issued keep their
    /// own reference and can still release). Idempotent; later calls throw `EBADF`.
    #[napi]
    pub fn close(&mut self) {
        self.inner = None;
    }

    /// Open the registry at `path` (default: `$SOLE_RUNTIME_DIR/scope.json`, else
    /// `$XDG_RUNTIME_DIR/sole/scope.json`, else `<tmpdir>/sole-<uid>/scope.json`).
    /// `timeoutMs`: how long an operation waits for another process's operation before
    /// `ETIMEDOUT` (default 10000; `null`/absent: the default).
    #[napi(factory)]
    pub fn open(env: Env, path: Option<String>, timeout_ms: Option<f64>) -> Result<Self> {
        let timeout = match timeout_ms {
            None => sole_scope::store::DEFAULT_LOCK_TIMEOUT,
            Some(ms) => sole_lock::timeout_from_ms(
                ms,
                std::path::Path::new(path.as_deref().unwrap_or("the scope registry")),
            )
            .map_err(|e| js_error(&env, e))?,
        };
        let r =
            Registry::open_with(path.as_deref(), Some(timeout)).map_err(|e| js_error(&env, e))?;
        Ok(NativeScopeRegistry {
            path: r.path().to_string_lossy().into_owned(),
            inner: Some(Arc::new(r)),
        })
    }

    /// Absolute path of the data file.
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.path.clone()
    }

    #[napi]
    pub fn register(&self, env: Env, opts: String) -> Result<()> {
        let r = self.reg(&env)?;
        json::register_args(&opts, r.path())
            .and_then(|(spec, sid)| r.register(spec, sid))
            .map_err(|e| js_error(&env, e))
    }

    #[napi]
    pub fn delegate(&self, env: Env, spawner: String, opts: String) -> Result<()> {
        let r = self.reg(&env)?;
        json::delegate_args(&opts, r.path())
            .and_then(|spec| r.delegate(&spawner, spec))
            .map_err(|e| js_error(&env, e))
    }

    #[napi]
    pub fn release(&self, env: Env, name: String) -> Result<()> {
        self.reg(&env)?
            .release(&name)
            .map_err(|e| js_error(&env, e))
    }

    /// JSON array of the removed names.
    #[napi]
    pub fn reclaim_stale(&self, env: Env) -> Result<String> {
        self.reg(&env)?
            .reclaim_stale()
            .map(|v| json::to_json(&v))
            .map_err(|e| js_error(&env, e))
    }

    #[napi]
    pub fn adopt(&self, env: Env, name: String, opts: String) -> Result<()> {
        let r = self.reg(&env)?;
        json::adopt_args(&opts, r.path())
            .and_then(|(pid, sid)| r.adopt(&name, pid, sid))
            .map_err(|e| js_error(&env, e))
    }

    /// JSON of the allocation, or `null`.
    #[napi]
    pub fn lookup_session(&self, env: Env, session_id: String) -> Result<String> {
        self.reg(&env)?
            .lookup_session(&session_id)
            .map(|v| json::to_json(&v))
            .map_err(|e| js_error(&env, e))
    }

    /// JSON array of allocations.
    #[napi]
    pub fn list(&self, env: Env) -> Result<String> {
        self.reg(&env)?
            .list()
            .map(|v| json::to_json(&v))
            .map_err(|e| js_error(&env, e))
    }

    /// JSON `{ rules, delegated }`.
    #[napi]
    pub fn effective_write_scope(&self, env: Env, name: String) -> Result<String> {
        self.reg(&env)?
            .effective_write_scope(&name)
            .map(|v| json::to_json(&v))
            .map_err(|e| js_error(&env, e))
    }

    #[napi]
    pub fn within_effective_write(&self, env: Env, name: String, rule: String) -> Result<bool> {
        let r = self.reg(&env)?;
        json::rule(&rule, r.path())
            .and_then(|rule| r.within_effective_write(&name, &rule))
            .map_err(|e| js_error(&env, e))
    }

    #[napi]
    pub fn conflict_owner(
        &self,
        env: Env,
        rule: String,
        exempt: Option<String>,
    ) -> Result<Option<String>> {
        let r = self.reg(&env)?;
        json::rule(&rule, r.path())
            .and_then(|rule| r.conflict_owner(&rule, exempt.as_deref()))
            .map_err(|e| js_error(&env, e))
    }

    #[napi]
    pub fn install_top_level(&self, env: Env, opts: String) -> Result<NativeScopeGuard> {
        let r = self.reg(&env)?;
        json::register_args(&opts, r.path())
            .and_then(|(spec, sid)| r.install_top_level(spec, sid))
            .map(NativeScopeGuard::new)
            .map_err(|e| js_error(&env, e))
    }

    #[napi]
    pub fn adopt_allocation(
        &self,
        env: Env,
        name: String,
        opts: String,
    ) -> Result<NativeScopeGuard> {
        let r = self.reg(&env)?;
        json::adopt_args(&opts, r.path())
            .and_then(|(pid, sid)| r.adopt_allocation(&name, pid, sid))
            .map(NativeScopeGuard::new)
            .map_err(|e| js_error(&env, e))
    }
}

/// Releases its allocation on `release()`, and only then: a guard that is garbage-collected
/// without `release()` leaves the allocation to its process (the registry reclaims it once that
/// process has exited), so a claim is never lost to GC while its owner runs (see
/// `sole_scope::Guard`).
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
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.inner.name().to_string()
    }

    #[napi(getter)]
    pub fn released(&self) -> bool {
        self.inner.released()
    }

    /// Remove the allocation; `false` when it was already gone. Idempotent.
    #[napi]
    pub fn release(&mut self, env: Env) -> Result<bool> {
        self.inner.release().map_err(|e| js_error(&env, e))
    }
}

/// Move a corrupt registry data file aside; returns the new path, or `null` when there was
/// nothing to repair.
// Registered with napi at load time; rustc sees no caller in a `cargo test` build.
#[allow(dead_code)]
#[napi]
pub fn scope_repair(env: Env, path: String) -> Result<Option<String>> {
    Registry::repair(&path)
        .map(|p| p.map(|p| p.to_string_lossy().into_owned()))
        .map_err(|e| js_error(&env, e))
}

// Registered with napi at load time; rustc sees no caller in a `cargo test` build.
#[allow(dead_code)]
#[napi]
pub fn scope_rules_overlap(env: Env, a: String, b: String) -> Result<bool> {
    let (a, b) = (json::pure_rule(&a), json::pure_rule(&b));
    a.and_then(|a| b.map(|b| sole_scope::rules_overlap(&a, &b)))
        .map_err(|e| js_error(&env, e))
}

// Registered with napi at load time; rustc sees no caller in a `cargo test` build.
#[allow(dead_code)]
#[napi]
pub fn scope_covers_fully(env: Env, cover: String, inner: String) -> Result<bool> {
    let (a, b) = (json::pure_rule(&cover), json::pure_rule(&inner));
    a.and_then(|a| b.map(|b| sole_scope::covers_fully(&a, &b)))
        .map_err(|e| js_error(&env, e))
}
