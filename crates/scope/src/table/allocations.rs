//! What an allocation is, and the questions every decision asks of the table: who has this name
//! or session, what may a name still write (its effective write scope), and who really owns a
//! write rule that overlaps a request.
//!
//! Why the effective scope is derived and not stored: an allocation keeps the full set of rules
//! it was granted; what it delegated is found by looking at its children. Reparenting on
//! release or reclaim is then a one-field change (`delegated_from`), and no stored subtraction
//! can drift from the children it was computed from.
//!
//! Race closed here (a logical one): a conflict is blamed on the *deepest* allocation whose
//! write rules overlap, not on the top of its tree, so a caller told "ask X to delegate" is
//! sent to the process that actually holds the scope now.
//! Test: `tests::*` below.

use serde::{Deserialize, Serialize};

use super::Table;
use crate::rule::{covers_fully, rules_overlap, Rule};

/// One process's (or reserved child's) scope allocation, exactly as stored.
///
/// `scopes` is the full set of rules granted; what was delegated to children is not subtracted
/// in storage (see the module doc).
/// Test: `codec::tests::parse_refuses_what_it_did_not_write` (its stored form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Allocation {
    pub name: String,
    pub pid: i32,
    /// Start time of `pid` (clock ticks since boot) when it was recorded; `None` when the pid
    /// was not a live process at that moment.
    pub start_time: Option<u64>,
    /// Boot id when it was recorded.
    pub boot_id: Option<String>,
    pub socket: Option<String>,
    pub scopes: Vec<Rule>,
    pub delegated_from: Option<String>,
    /// `None` while a delegated child is only reserved (not yet adopted).
    pub session_id: Option<String>,
}

/// What a caller asks for when registering or delegating, with the owner's identity already
/// captured ([`super::capture_identity`]).
/// Test: `super::operations::tests::register_detects_write_conflict`.
#[derive(Debug, Clone)]
pub struct Request {
    pub name: String,
    pub pid: i32,
    pub start_time: Option<u64>,
    pub boot_id: Option<String>,
    pub socket: Option<String>,
    pub scopes: Vec<Rule>,
}

impl Allocation {
    /// The allocation `req` becomes: top-level with a session (`register`), or a reserved child
    /// of `delegated_from` without one (`delegate`).
    /// Test: `super::operations::tests::delegate_succeeds_within_parent_scope`.
    pub fn from_request(
        req: Request,
        delegated_from: Option<String>,
        session_id: Option<String>,
    ) -> Allocation {
        Allocation {
            name: req.name,
            pid: req.pid,
            start_time: req.start_time,
            boot_id: req.boot_id,
            socket: req.socket,
            scopes: req.scopes,
            delegated_from,
            session_id,
        }
    }

    fn write_rules(&self) -> impl Iterator<Item = &Rule> {
        self.scopes.iter().filter(|r| r.is_write())
    }
}

impl Table {
    /// The allocation named `name`.
    /// Test: `super::operations::tests::release_reparents_children`.
    pub fn find(&self, name: &str) -> Option<&Allocation> {
        self.allocations.iter().find(|a| a.name == name)
    }

    /// The allocation currently writing to `session_id` (reservations have none).
    /// Test: `operations::tests::adopt_rewrites_pid_and_session`.
    pub fn find_by_session(&self, session_id: &str) -> Option<&Allocation> {
        self.allocations
            .iter()
            .find(|a| a.session_id.as_deref() == Some(session_id))
    }

    fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Allocation> + 'a {
        self.allocations
            .iter()
            .filter(move |a| a.delegated_from.as_deref() == Some(name))
    }

    /// Is `rule` inside `parent`'s effective write scope: covered by its rules (write rules for
    /// a write request), and for a write request not overlapping any child's write rule?
    /// Test: `tests::delegated_scope_returns_to_parent_on_release`.
    pub fn is_within_effective_write(&self, parent: &str, rule: &Rule) -> bool {
        let Some(alloc) = self.find(parent) else {
            return false;
        };
        if !rule.is_write() {
            return alloc.scopes.iter().any(|r| covers_fully(r, rule));
        }
        alloc.write_rules().any(|r| covers_fully(r, rule))
            && !self
                .children(parent)
                .flat_map(Allocation::write_rules)
                .any(|r| rules_overlap(r, rule))
    }

    /// `name`'s own write rules, and the write rules its direct children hold (which are not
    /// part of its effective scope). `None` when there is no such allocation.
    /// Test: `tests::effective_scope_is_own_rules_minus_children`.
    pub fn effective_write_scope(&self, name: &str) -> Option<(Vec<Rule>, Vec<Rule>)> {
        let own = self.find(name)?.write_rules().cloned().collect();
        let out = self
            .children(name)
            .flat_map(Allocation::write_rules)
            .cloned()
            .collect();
        Some((own, out))
    }

    /// The allocation that really owns a write scope overlapping `rule`: the deepest
    /// overlapping node of the first overlapping delegation tree, in table order. `exempt`
    /// (the spawner during delegation) may own it; the search then goes on with the next tree.
    /// Test: `tests::conflict_detection_descends_to_real_owner`.
    pub fn conflict_owner(&self, rule: &Rule, exempt: Option<&str>) -> Option<String> {
        if !rule.is_write() {
            return None;
        }
        self.allocations
            .iter()
            .filter(|a| a.delegated_from.is_none())
            .filter_map(|root| self.owner_in_subtree(root, rule, 0))
            .find(|owner| Some(owner.as_str()) != exempt)
    }

    fn owner_in_subtree(&self, alloc: &Allocation, rule: &Rule, depth: usize) -> Option<String> {
        if !alloc.write_rules().any(|r| rules_overlap(r, rule)) {
            return None;
        }
        // Validated tables have no cycles; the bound is a second guard.
        if depth <= self.allocations.len() {
            for child in self.children(&alloc.name) {
                if let Some(owner) = self.owner_in_subtree(child, rule, depth + 1) {
                    return Some(owner);
                }
            }
        }
        Some(alloc.name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn effective_scope_is_own_rules_minus_children() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        del(&mut t, "a", "b", vec![w("/src/core", true)]).unwrap();
        assert!(!t.is_within_effective_write("a", &w("/src/core", true)));
        assert!(t.is_within_effective_write("a", &w("/src/other", true)));
        let (own, out) = t.effective_write_scope("a").unwrap();
        assert_eq!(own, vec![w("/src", true)]);
        assert_eq!(out, vec![w("/src/core", true)]);
        assert_eq!(t.effective_write_scope("ghost"), None);
        assert!(!t.is_within_effective_write("ghost", &w("/src", true)));
    }

    #[test]
    fn read_rules_do_not_conflict_with_write() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        reg(&mut t, "b", vec![Rule::read("/src", true).unwrap()]).unwrap();
        assert_eq!(t.allocations.len(), 2);
        assert_eq!(
            t.conflict_owner(&Rule::read("/src", true).unwrap(), None),
            None
        );
    }

    #[test]
    fn delegated_scope_returns_to_parent_on_release() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        del(&mut t, "a", "b", vec![w("/src/core", true)]).unwrap();
        assert!(!t.is_within_effective_write("a", &w("/src/core", true)));
        t.release("b", f()).unwrap();
        assert!(t.is_within_effective_write("a", &w("/src/core", true)));
    }

    #[test]
    fn conflict_detection_descends_to_real_owner() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        del(&mut t, "a", "b", vec![w("/src/core", true)]).unwrap();
        let e = reg(&mut t, "x", vec![w("/src/core/x", true)]).unwrap_err();
        assert_eq!(e.code(), "ECONFLICT");
        assert_eq!(e.details()[0], ("competitor", "b".into()));
        assert_eq!(
            t.conflict_owner(&w("/src/other", true), None).as_deref(),
            Some("a")
        );
        assert_eq!(t.conflict_owner(&w("/src/core", true), Some("b")), None);
    }
}
