//! The four operations that change the table (register, delegate, release, adopt) and the
//! refusals each can give (`EDUPLICATE`, `EUNKNOWN`, `ECONFLICT`, `ENOTSUBSET`).
//!
//! Why every check comes before any change: the registry saves the table after an operation
//! whenever the stale reclaim before it removed something, so an operation that had half
//! changed the table before refusing would have that half saved. Here each operation decides
//! everything first and then makes one change (a push, a remove plus a reparent, or one
//! allocation's fields), so a refusal leaves the table exactly as it was.
//!
//! Race closed here (a logical one): session ids are unique. `lookupSession` answers "which
//! allocation writes to this session", so two live allocations with one session id would make
//! the answer depend on table order; both `register` and `adopt` refuse a session id another
//! allocation holds.
//! Test: `tests::*` below.

use std::path::Path;

use sole_error::{Error, Kind, Result};

use super::{Allocation, Request, Table};
use crate::check::{check_name, shown};
use crate::rule::Rule;

/// `EDUPLICATE`: an allocation named `name` is already in `file`.
/// Test: `tests::duplicate_name_rejected`.
pub fn duplicate(file: &Path, name: &str) -> Error {
    Error::new(
        Kind::Duplicate,
        format!(
            "an allocation named {name:?} is already registered in {}: choose another name, or release the existing one first.",
            file.display()
        ),
    )
    .with_path(file)
    .with_detail("allocation", name)
}

/// `EUNKNOWN`: no allocation named `name` in `file`.
/// Test: `tests::release_reparents_children`, `tests::delegate_must_be_subset`.
pub fn unknown(file: &Path, name: &str) -> Error {
    Error::new(
        Kind::Unknown,
        format!(
            "no allocation named {name:?} in {} (never registered, released, or reclaimed after its process died): register it first, or check the name.",
            file.display()
        ),
    )
    .with_path(file)
    .with_detail("allocation", name)
}

/// `ECONFLICT`: `rule` overlaps the write scope of `competitor`.
/// Test: `tests::register_detects_write_conflict`.
pub fn conflict(file: &Path, competitor: &str, rule: &Rule) -> Error {
    Error::new(
        Kind::Conflict,
        format!(
            "write rule {} overlaps the write scope of allocation {competitor:?} in {}: choose a disjoint target, have {competitor:?} delegate it to you, or wait until it is released.",
            rule.describe(),
            file.display()
        ),
    )
    .with_path(file)
    .with_detail("competitor", competitor)
    .with_detail("rule", rule.detail())
}

/// `ENOTSUBSET`: `rule` is not inside `spawner`'s effective write scope.
/// Test: `tests::delegate_must_be_subset`, `tests::delegate_rejects_sibling_overlap`.
pub fn not_subset(file: &Path, spawner: &str, rule: &Rule) -> Error {
    Error::new(
        Kind::NotSubset,
        format!(
            "rule {} is not inside the effective write scope of spawner {spawner:?} in {} (its own rules minus what its other children hold): request a target inside {spawner:?}'s scope, or release the child that holds it.",
            rule.describe(),
            file.display()
        ),
    )
    .with_path(file)
    .with_detail("spawner", spawner)
    .with_detail("rule", rule.detail())
}

/// `EDUPLICATE` for a session id that the live allocation `holder` already has.
/// Test: `tests::duplicate_session_rejected_by_register_and_adopt`.
pub fn duplicate_session(file: &Path, session_id: &str, holder: &str) -> Error {
    Error::new(
        Kind::Duplicate,
        format!(
            "session id {} is already used by allocation {holder:?} in {}: session ids must be unique (lookupSession finds the one allocation writing to a session). Pass another sessionId, or release {holder:?} first.",
            shown(session_id),
            file.display()
        ),
    )
    .with_path(file)
    .with_detail("allocation", holder)
    .with_detail("sessionId", session_id)
}

impl Table {
    /// Register a top-level allocation. Errors: `EDUPLICATE` (the name, then the session id),
    /// `ECONFLICT` (first write rule in request order that overlaps, blamed on the deepest
    /// owner).
    /// Test: `tests::register_detects_write_conflict`, `tests::duplicate_name_rejected`.
    pub fn register(&mut self, req: Request, session_id: String, file: &Path) -> Result<()> {
        self.check_new_name(&req.name, file)?;
        if let Some(holder) = self.find_by_session(&session_id) {
            return Err(duplicate_session(file, &session_id, &holder.name));
        }
        for rule in req.scopes.iter().filter(|r| r.is_write()) {
            if let Some(competitor) = self.conflict_owner(rule, None) {
                return Err(conflict(file, &competitor, rule));
            }
        }
        self.allocations
            .push(Allocation::from_request(req, None, Some(session_id)));
        Ok(())
    }

    /// Reserve a child allocation inside `spawner`'s effective write scope (session `None`
    /// until the child adopts it). Errors, in this order: `EDUPLICATE` (child name),
    /// `EUNKNOWN` (spawner), then per rule `ENOTSUBSET`, `ECONFLICT`.
    /// Test: `tests::delegate_must_be_subset`, `tests::delegate_rejects_sibling_overlap`.
    pub fn delegate(&mut self, spawner: &str, req: Request, file: &Path) -> Result<()> {
        self.check_new_name(&req.name, file)?;
        if self.find(spawner).is_none() {
            return Err(unknown(file, spawner));
        }
        for rule in &req.scopes {
            if !self.is_within_effective_write(spawner, rule) {
                return Err(not_subset(file, spawner, rule));
            }
            if rule.is_write() {
                if let Some(competitor) = self.conflict_owner(rule, Some(spawner)) {
                    return Err(conflict(file, &competitor, rule));
                }
            }
        }
        self.allocations.push(Allocation::from_request(
            req,
            Some(spawner.to_string()),
            None,
        ));
        Ok(())
    }

    /// Remove `name`; its children are reparented to its own parent. `EUNKNOWN` if absent.
    /// Test: `tests::release_reparents_children`.
    pub fn release(&mut self, name: &str, file: &Path) -> Result<Allocation> {
        let Some(idx) = self.allocations.iter().position(|a| a.name == name) else {
            return Err(unknown(file, name));
        };
        let removed = self.allocations.remove(idx);
        for a in &mut self.allocations {
            if a.delegated_from.as_deref() == Some(name) {
                a.delegated_from.clone_from(&removed.delegated_from);
            }
        }
        Ok(removed)
    }

    /// Give a reserved allocation to the process that will use it: new pid, identity and
    /// session. `EUNKNOWN` if absent, `EDUPLICATE` if another allocation has the session id
    /// (adopting again under its own session id is allowed).
    /// Test: `tests::adopt_rewrites_pid_and_session`,
    /// `tests::duplicate_session_rejected_by_register_and_adopt`.
    pub fn adopt(
        &mut self,
        name: &str,
        pid: i32,
        identity: (Option<u64>, Option<String>),
        session_id: String,
        file: &Path,
    ) -> Result<()> {
        let Some(idx) = self.allocations.iter().position(|a| a.name == name) else {
            return Err(unknown(file, name));
        };
        if let Some(holder) = self.find_by_session(&session_id).filter(|h| h.name != name) {
            return Err(duplicate_session(file, &session_id, &holder.name));
        }
        let a = &mut self.allocations[idx];
        a.pid = pid;
        a.start_time = identity.0;
        a.boot_id = identity.1;
        a.session_id = Some(session_id);
        Ok(())
    }

    /// A name for a new allocation: valid (`EINVAL`) and not taken (`EDUPLICATE`).
    fn check_new_name(&self, name: &str, file: &Path) -> Result<()> {
        check_name(name, "name", Some(file))?;
        match self.find(name) {
            Some(_) => Err(duplicate(file, name)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn register_detects_write_conflict() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        let e = reg(&mut t, "b", vec![w("/src/core", true)]).unwrap_err();
        assert_eq!(e.code(), "ECONFLICT");
        assert!(e.message().contains(F));
        assert_eq!(e.details()[0].1, "a".into());
        assert_eq!(t.allocations.len(), 1, "a refused request changes nothing");
    }

    #[test]
    fn duplicate_name_rejected() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        let e = reg(&mut t, "a", vec![w("/docs", true)]).unwrap_err();
        assert_eq!(e.code(), "EDUPLICATE");
        assert_eq!(e.details()[0], ("allocation", "a".into()));
    }

    #[test]
    fn duplicate_session_rejected_by_register_and_adopt() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap(); // session "s-a"
        let e = t
            .register(req("b", 100, vec![w("/b", true)]), "s-a".into(), f())
            .unwrap_err();
        assert_eq!(e.code(), "EDUPLICATE");
        assert!(e.message().contains("session id"), "{}", e.message());
        del(&mut t, "a", "kid", vec![w("/src/k", true)]).unwrap();
        let e = t
            .adopt("kid", 1, (None, None), "s-a".into(), f())
            .unwrap_err();
        assert_eq!(e.code(), "EDUPLICATE");
        t.adopt("kid", 1, (None, None), "k".into(), f()).unwrap();
        t.adopt("kid", 2, (None, None), "k".into(), f()).unwrap();
        assert_eq!(t.allocations.len(), 2, "refusals changed nothing");
    }

    #[test]
    fn delegate_must_be_subset() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        let e = del(&mut t, "a", "b", vec![w("/docs", true)]).unwrap_err();
        assert_eq!(e.code(), "ENOTSUBSET");
        let e = del(&mut t, "ghost", "b", vec![w("/src", true)]).unwrap_err();
        assert_eq!(e.code(), "EUNKNOWN");
    }

    #[test]
    fn delegate_succeeds_within_parent_scope() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        del(&mut t, "a", "b", vec![w("/src/core", true)]).unwrap();
        assert_eq!(t.allocations.len(), 2);
        let b = t.find("b").unwrap();
        assert_eq!(b.session_id, None);
        assert_eq!(b.delegated_from.as_deref(), Some("a"));
    }

    #[test]
    fn delegate_rejects_sibling_overlap() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        del(&mut t, "a", "b", vec![w("/src/core", true)]).unwrap();
        let e = del(&mut t, "a", "c", vec![w("/src/core/sub", true)]).unwrap_err();
        assert_eq!(e.code(), "ENOTSUBSET");
    }

    #[test]
    fn release_reparents_children() {
        let mut t = chain();
        t.release("b", f()).unwrap();
        assert_eq!(t.find("d").unwrap().delegated_from.as_deref(), Some("a"));
        assert!(t.find("b").is_none());
        assert_eq!(t.release("b", f()).unwrap_err().code(), "EUNKNOWN");
    }

    #[test]
    fn releasing_reopens_scope_for_fresh_registration() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        t.release("a", f()).unwrap();
        reg(&mut t, "b", vec![w("/src", true)]).unwrap();
        assert_eq!(
            t.conflict_owner(&w("/src", true), None).as_deref(),
            Some("b")
        );
    }

    #[test]
    fn adopt_rewrites_pid_and_session() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        del(&mut t, "a", "child", vec![w("/src/c", true)]).unwrap();
        t.adopt("child", 555, (Some(7), None), "sess".into(), f())
            .unwrap();
        let c = t.find("child").unwrap();
        assert_eq!(
            (c.pid, c.start_time, c.session_id.as_deref()),
            (555, Some(7), Some("sess"))
        );
        assert_eq!(t.find_by_session("sess").unwrap().name, "child");
        assert_eq!(
            t.adopt("ghost", 1, (None, None), "s".into(), f())
                .unwrap_err()
                .code(),
            "EUNKNOWN"
        );
        // An unknown name is EUNKNOWN even with a session id someone else holds.
        assert_eq!(
            t.adopt("ghost", 1, (None, None), "sess".into(), f())
                .unwrap_err()
                .code(),
            "EUNKNOWN"
        );
    }
}
