//! The registry's public operations: each checks its arguments before the lock (so a refused
//! call writes nothing), then runs its table operation in [`Registry::run`]'s cycle.
//!
//! Race closed here: the owner pid of `register`, `delegate` and `adopt` must be a running
//! process ([`live_identity`]). An allocation owned by a dead process would be reclaimed by the
//! very next operation, so accepting it would report a claim that does not exist.
//! Test: `super::tests::*`.

use std::path::Path;

use sole_error::{Error, Kind, Result};
use sole_procid::{Check, Pid, Recorded};

use super::Registry;
use crate::check::{check_name, check_rule_count};
use crate::rule::Rule;
use crate::table::operations::unknown;
use crate::table::{capture_identity, Allocation, Request};
use crate::{EffectiveScope, Spec};

/// `pid`, or this process's own pid when none is given.
pub(crate) fn pid_or_self(pid: Option<Pid>) -> Pid {
    // std::process::id() is this process's pid_t: never 0 and never above 2^31-1, so
    // `Pid::new` always accepts it. Any stand-in pid would name another process as the owner,
    // so there is none: were it ever refused, the binding's `guarded` reports EINTERNAL.
    pid.unwrap_or_else(|| {
        Pid::new(i64::from(std::process::id())).expect("this process's pid is a valid pid")
    })
}

/// The identity to record for the owner `pid`, which must be a running process: `ENOTFOUND`
/// naming it otherwise (exited, a zombie, or never existed). "Running" is
/// `sole_procid::Recorded::check` on the identity just read, the same rule the reclaim applies
/// ([`crate::table::SystemLiveness::decide`]), so an owner accepted here is one the next
/// reclaim keeps while it runs. Checked before the lock; a pid that dies right after is
/// reclaimed by the next operation like any dead owner.
/// Test: `super::tests::an_owner_that_is_not_running_is_refused`.
fn live_identity(pid: Pid, file: &Path) -> Result<(Option<u64>, Option<String>)> {
    let (start_time, boot_id) = capture_identity(pid).map_err(|e| e.with_path(file))?;
    let recorded = Recorded {
        pid,
        start_time,
        boot_id,
    };
    // Without a start time there is nothing that names one process across pid reuse.
    if recorded.start_time.is_none()
        || !matches!(
            recorded.check().map_err(|e| e.with_path(file))?,
            Check::Alive { .. }
        )
    {
        return Err(Error::new(
            Kind::NotFound,
            format!(
                "no running process has pid {pid} (it exited, is a zombie, or never existed): an allocation it owned would be reclaimed at once, so nothing was written to {}. Pass the pid of a live process, or leave pid out for this process.",
                file.display()
            ),
        )
        .with_pid(pid.get())
        .with_path(file));
    }
    Ok((recorded.start_time, recorded.boot_id))
}

impl Registry {
    /// Register a top-level allocation (`EINVAL`, `EINVALIDPID`, `ENOTFOUND` for an owner that
    /// is not running; then under the lock `EDUPLICATE` for the name or the session id,
    /// `ECONFLICT`).
    /// Test: `super::tests::save_and_reopen_roundtrip`.
    pub fn register(&self, spec: Spec, session_id: String) -> Result<()> {
        let file = self.path();
        check_name(&spec.name, "name", Some(file))?;
        check_name(&session_id, "sessionId", Some(file))?;
        let req = request(spec, file)?;
        self.run(|t, f, _| t.register(req, session_id, f).map(|()| ((), true)))
    }

    /// Reserve a child allocation inside `spawner`'s effective write scope (`EINVAL`,
    /// `ENOTFOUND` for an owner that is not running, `EDUPLICATE`, `EUNKNOWN`, `ENOTSUBSET`,
    /// `ECONFLICT`).
    /// Test: `super::tests::every_operation_reclaims_with_the_probe_and_saves`.
    pub fn delegate(&self, spawner: &str, spec: Spec) -> Result<()> {
        check_name(spawner, "spawner", Some(self.path()))?;
        let req = request(spec, self.path())?;
        self.run(|t, f, _| t.delegate(spawner, req, f).map(|()| ((), true)))
    }

    /// Remove `name`, reparenting its children (`EUNKNOWN`).
    /// Test: `super::tests::another_handle_sees_changes_through_the_generation`.
    pub fn release(&self, name: &str) -> Result<()> {
        check_name(name, "name", Some(self.path()))?;
        self.run(|t, f, _| t.release(name, f).map(|_| ((), true)))
    }

    /// Remove `name` only if it is still the allocation a guard took (same pid and session):
    /// `false` when it is gone or has been replaced (a guard never removes someone else's).
    /// Test: `super::tests::guard_does_not_remove_a_newcomer_with_the_same_name`.
    pub fn release_if(&self, name: &str, pid: Pid, session_id: &str) -> Result<bool> {
        self.run(|t, f, _| {
            let same = t
                .find(name)
                .is_some_and(|a| a.pid == pid.get() && a.session_id.as_deref() == Some(session_id));
            if same {
                t.release(name, f)?;
            }
            Ok((same, same))
        })
    }

    /// Remove stale allocations now; returns their names.
    /// Test: `super::tests::real_probe_reclaims_a_dead_child_process`.
    pub fn reclaim_stale(&self) -> Result<Vec<String>> {
        self.run(|_, _, removed| Ok((removed, false)))
    }

    /// Give the reserved allocation `name` to `pid` (default: this process) with `session_id`
    /// (`EINVAL`, `ENOTFOUND` for a pid that is not running, `EUNKNOWN`, `EDUPLICATE` for a
    /// session id another allocation has).
    /// Test: `super::tests::a_session_id_in_use_is_refused`.
    pub fn adopt(&self, name: &str, pid: Option<Pid>, session_id: String) -> Result<()> {
        let file = self.path();
        check_name(name, "name", Some(file))?;
        check_name(&session_id, "sessionId", Some(file))?;
        let pid = pid_or_self(pid);
        let id = live_identity(pid, file)?;
        self.run(|t, f, _| {
            t.adopt(name, pid.get(), id, session_id, f)
                .map(|()| ((), true))
        })
    }

    /// The allocation writing to `session_id`, if any.
    /// Test: `super::tests::adopt_allocation_rewrites_pid_and_releases_when_asked`.
    pub fn lookup_session(&self, session_id: &str) -> Result<Option<Allocation>> {
        check_name(session_id, "sessionId", Some(self.path()))?;
        self.run(|t, _, _| Ok((t.find_by_session(session_id).cloned(), false)))
    }

    /// Every live allocation, in registration order.
    /// Test: `super::tests::save_and_reopen_roundtrip`.
    pub fn list(&self) -> Result<Vec<Allocation>> {
        self.run(|t, _, _| Ok((t.allocations.clone(), false)))
    }

    /// `name`'s own write rules and what its children hold (`EUNKNOWN`).
    /// Test: `__test__/scope.spec.ts`, `crate::table::allocations::tests::effective_scope_is_own_rules_minus_children`.
    pub fn effective_write_scope(&self, name: &str) -> Result<EffectiveScope> {
        check_name(name, "name", Some(self.path()))?;
        self.run(|t, f, _| match t.effective_write_scope(name) {
            Some((rules, delegated)) => Ok((EffectiveScope { rules, delegated }, false)),
            None => Err(unknown(f, name)),
        })
    }

    /// Is `rule` inside `name`'s effective write scope (what it could delegate now)?
    /// Test: `__test__/scope.spec.ts`, `crate::table::allocations::tests::delegated_scope_returns_to_parent_on_release`.
    pub fn within_effective_write(&self, name: &str, rule: &Rule) -> Result<bool> {
        check_name(name, "name", Some(self.path()))?;
        self.run(|t, f, _| match t.find(name) {
            Some(_) => Ok((t.is_within_effective_write(name, rule), false)),
            None => Err(unknown(f, name)),
        })
    }

    /// The allocation that owns a write scope overlapping `rule` (deepest in its delegation
    /// tree), ignoring `exempt`; `None` for read rules or when nobody does.
    /// Test: `__test__/scope.spec.ts`, `crate::table::allocations::tests::conflict_detection_descends_to_real_owner`.
    pub fn conflict_owner(&self, rule: &Rule, exempt: Option<&str>) -> Result<Option<String>> {
        if let Some(e) = exempt {
            check_name(e, "exempt", Some(self.path()))?;
        }
        self.run(|t, _, _| Ok((t.conflict_owner(rule, exempt), false)))
    }
}

/// Check a caller's spec (name, number of rules, owner running) and record the owner's identity.
fn request(spec: Spec, file: &Path) -> Result<Request> {
    check_name(&spec.name, "name", Some(file))?;
    check_rule_count(spec.scopes.len(), Some(file))?;
    let pid = pid_or_self(spec.pid);
    let (start_time, boot_id) = live_identity(pid, file)?;
    Ok(Request {
        name: spec.name,
        pid: pid.get(),
        start_time,
        boot_id,
        socket: spec.socket,
        scopes: spec.scopes,
    })
}
