//! A guard over one allocation: releases it when asked, and only then.
//!
//! Race closed here: a guard removes its allocation only while it is still the one it took
//! (same pid and session, checked under the registry lock by [`Registry::release_if`]). After
//! the owner died, its allocation was reclaimed and a newcomer registered the same name, an old
//! guard's `release()` leaves the newcomer alone.
//! Test: `crate::registry::tests::guard_does_not_remove_a_newcomer_with_the_same_name`.

use std::sync::Arc;

use sole_error::Result;
use sole_procid::Pid;

use crate::registry::ops::pid_or_self;
use crate::registry::Registry;
use crate::Spec;

impl Registry {
    /// [`Registry::register`], returning a guard that releases the allocation when asked (see
    /// [`Guard`]: dropping it does not).
    /// Test: `crate::registry::tests::a_dropped_guard_keeps_its_allocation`.
    pub fn install_top_level(self: &Arc<Self>, spec: Spec, session_id: String) -> Result<Guard> {
        let (name, pid) = (spec.name.clone(), pid_or_self(spec.pid));
        self.register(spec, session_id.clone())?;
        Ok(Guard::new(self, name, pid, session_id))
    }

    /// [`Registry::adopt`], returning a guard that releases the allocation when asked (see
    /// [`Guard`]: dropping it does not).
    /// Test: `crate::registry::tests::adopt_allocation_rewrites_pid_and_releases_when_asked`.
    pub fn adopt_allocation(
        self: &Arc<Self>,
        name: &str,
        pid: Option<Pid>,
        session_id: String,
    ) -> Result<Guard> {
        let pid = pid_or_self(pid);
        self.adopt(name, Some(pid), session_id.clone())?;
        Ok(Guard::new(self, name.to_string(), pid, session_id))
    }
}

/// Releases its allocation on [`Guard::release`], and only then. It keeps only the registry
/// handle and the allocation's name, pid and session; it does not hold the file lock between
/// operations. It removes the allocation only while it is still the one it took (same pid and
/// session): after a reclaim and a new registration under the same name, the newcomer is left
/// alone.
///
/// Why dropping it does not release: in JavaScript a guard is dropped when it is
/// garbage-collected, which happens whenever the engine likes while the owner is still
/// running. A caller who did not keep the guard would lose its claim at a random moment, and
/// another process could take the scope while the owner still writes there. A dropped guard
/// leaves the allocation to its process; once that process exits, the stale-pid reclaim of the
/// next operation (of any process) frees it.
/// Test: `tests::a_dropped_guard_keeps_its_allocation`, and `__test__/scope.spec.ts` ("a guard
/// dropped without release() keeps its allocation through GC").
pub struct Guard {
    reg: Arc<Registry>,
    name: String,
    pid: Pid,
    session_id: String,
    released: bool,
}

impl Guard {
    pub(crate) fn new(reg: &Arc<Registry>, name: String, pid: Pid, session_id: String) -> Guard {
        Guard {
            reg: reg.clone(),
            name,
            pid,
            session_id,
            released: false,
        }
    }

    /// The allocation's name.
    /// Test: `crate::registry::tests::a_dropped_guard_keeps_its_allocation`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `release()` ran (whatever it found).
    /// Test: `crate::registry::tests::guard_does_not_remove_a_newcomer_with_the_same_name`.
    pub fn released(&self) -> bool {
        self.released
    }

    /// Remove the allocation. Idempotent; `Ok(false)` when it was already gone.
    /// Test: `crate::registry::tests::guard_does_not_remove_a_newcomer_with_the_same_name`.
    pub fn release(&mut self) -> Result<bool> {
        if self.released {
            return Ok(false);
        }
        let r = self
            .reg
            .release_if(&self.name, self.pid, &self.session_id)?;
        self.released = true;
        Ok(r)
    }
}
