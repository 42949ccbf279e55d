//! Is an allocation's owner still the process that registered it? And the reclaim of every
//! allocation whose owner is not.
//!
//! Race closed here: the kernel recycles pids, so "pid alive" does not mean "owner alive" (a
//! check by `kill(pid, 0)` alone would keep a dead owner's allocation forever once its pid went
//! to a newcomer). Each allocation records its owner's start time and boot id when it is
//! written ([`capture_identity`]); [`SystemLiveness`] calls it stale when the pid is dead, or
//! when the process that now has the pid started at another time or in another boot.
//!
//! Liveness is a parameter ([`Liveness`]) so unit tests decide staleness without processes.
//! The one function that asks the kernel is [`SystemLiveness::decide`].
//! Test: `tests::*` below; `crate::registry::tests::real_probe_reclaims_a_dead_child_process`.

use std::collections::{HashMap, HashSet};

use super::{Allocation, Table};

/// Decides whether an allocation's owner is still the process that registered it.
/// Test: `tests::reclaim_stale_reparents_and_removes_dead_entries` (a closure as the probe).
pub trait Liveness {
    fn is_live(&mut self, a: &Allocation) -> bool;
}

impl<F: FnMut(&Allocation) -> bool> Liveness for F {
    fn is_live(&mut self, a: &Allocation) -> bool {
        self(a)
    }
}

/// The real probe, asking the kernel through `sole_procid` (see [`SystemLiveness::decide`] for
/// the rule). Answers are cached per (pid, start time) for one reclaim pass, so a table of
/// 10,000 allocations held by a few processes costs a few `/proc` reads, not 10,000.
/// Test: `tests::system_liveness_rejects_a_recycled_pid`.
#[derive(Default)]
pub struct SystemLiveness {
    /// Answers for allocations of this boot, keyed by (pid, recorded start time).
    seen: HashMap<(i32, Option<u64>), bool>,
    /// This boot's id, read once per pass (`Some(None)`: unreadable).
    boot: Option<Option<String>>,
}

impl SystemLiveness {
    /// The rule, applied in this order (the first that holds decides):
    /// 1. A boot id was recorded and differs from this boot's (or this boot's is unreadable):
    ///    **stale**; every process of another boot is gone.
    /// 2. The pid is not a live process (`sole_procid::pid_alive`; a zombie counts as dead,
    ///    since it has exited and holds nothing): **stale**.
    /// 3. A start time was recorded and the process that has the pid now started at another
    ///    time (`sole_procid::identity::start_time`, clock ticks since boot; unreadable counts
    ///    as different): **stale**; the pid was recycled.
    /// 4. Otherwise (including no recorded start time): **live**.
    ///
    /// `now_boot` is this boot's id. This is the one place the registry decides "is the
    /// recorded process still the same one"; it will become `sole_procid`'s single check.
    /// Test: `tests::system_liveness_rejects_a_recycled_pid`.
    pub fn decide(a: &Allocation, now_boot: Option<&str>) -> bool {
        if let Some(b) = &a.boot_id {
            if now_boot != Some(b.as_str()) {
                return false;
            }
        }
        sole_procid::pid_alive(i64::from(a.pid))
            && match a.start_time {
                None => true,
                Some(t) => sole_procid::identity::start_time(a.pid) == Some(t),
            }
    }
}

impl Liveness for SystemLiveness {
    fn is_live(&mut self, a: &Allocation) -> bool {
        // This boot's id is read only when an allocation recorded one.
        let now_boot = match &a.boot_id {
            Some(_) => self
                .boot
                .get_or_insert_with(|| sole_procid::boot_id().ok())
                .as_deref(),
            None => None,
        };
        if a.boot_id.is_some() && now_boot != a.boot_id.as_deref() {
            // Another boot: decided without a syscall, so not worth caching.
            return Self::decide(a, now_boot);
        }
        // This boot (or none recorded): the answer depends only on (pid, start time).
        *self
            .seen
            .entry((a.pid, a.start_time))
            .or_insert_with(|| Self::decide(a, now_boot))
    }
}

/// The identity to record for `pid` now: (start time, boot id).
/// Test: `tests::system_liveness_rejects_a_recycled_pid`.
pub fn capture_identity(pid: i32) -> (Option<u64>, Option<String>) {
    (
        sole_procid::identity::start_time(pid),
        sole_procid::boot_id().ok(),
    )
}

impl Table {
    /// Remove every allocation `probe` calls stale; each survivor whose parent was removed is
    /// reparented to its nearest surviving ancestor (or becomes top-level). Returns the
    /// removed names in table order. One pass over the table plus one per removed ancestor.
    /// Test: `tests::reclaim_of_a_dead_chain_reparents_to_nearest_live_ancestor`.
    pub fn reclaim_stale_with(&mut self, probe: &mut dyn Liveness) -> Vec<String> {
        let dead: HashSet<String> = self
            .allocations
            .iter()
            .filter(|a| !probe.is_live(a))
            .map(|a| a.name.clone())
            .collect();
        if dead.is_empty() {
            return Vec::new();
        }
        let parent: HashMap<String, Option<String>> = self
            .allocations
            .iter()
            .map(|a| (a.name.clone(), a.delegated_from.clone()))
            .collect();
        let removed = self.remove_named(&dead);
        self.reparent_past(&dead, &parent);
        removed
    }

    /// Remove the allocations named in `dead`; their names, in table order.
    fn remove_named(&mut self, dead: &HashSet<String>) -> Vec<String> {
        let mut removed = Vec::with_capacity(dead.len());
        self.allocations.retain(|a| {
            let keep = !dead.contains(&a.name);
            if !keep {
                removed.push(a.name.clone());
            }
            keep
        });
        removed
    }

    /// Point each allocation whose parent is in `dead` at its nearest ancestor not in `dead`
    /// (`parent` is the delegation map from before the removal), or make it top-level.
    fn reparent_past(&mut self, dead: &HashSet<String>, parent: &HashMap<String, Option<String>>) {
        // A validated table has no cycle; the bound (every allocation once) is a second guard.
        let bound = parent.len();
        for a in &mut self.allocations {
            let mut p = a.delegated_from.take();
            let mut steps = 0;
            while let Some(name) = p.as_ref().filter(|x| dead.contains(*x)) {
                p = parent.get(name).cloned().flatten();
                steps += 1;
                if steps > bound {
                    p = None;
                    break;
                }
            }
            a.delegated_from = p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn reclaim_stale_reparents_and_removes_dead_entries() {
        let mut t = chain();
        t.allocations[1].pid = 4242;
        let removed = t.reclaim_stale_with(&mut |a: &Allocation| a.pid != 4242);
        assert_eq!(removed, vec!["b".to_string()]);
        assert!(t.find("b").is_none());
        assert_eq!(t.find("d").unwrap().delegated_from.as_deref(), Some("a"));
    }

    #[test]
    fn reclaim_of_a_dead_chain_reparents_to_nearest_live_ancestor() {
        let mut t = chain();
        del(&mut t, "d", "e", vec![w("/src/core/x/y", true)]).unwrap();
        // a and b dead, d and e live: d becomes top-level, e stays under d.
        t.allocations[0].pid = 1;
        t.allocations[1].pid = 1;
        let removed = t.reclaim_stale_with(&mut |a: &Allocation| a.pid != 1);
        assert_eq!(removed, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(t.find("d").unwrap().delegated_from, None);
        assert_eq!(t.find("e").unwrap().delegated_from.as_deref(), Some("d"));
        // Nothing dead: nothing changes.
        let before = t.clone();
        assert!(t.reclaim_stale_with(&mut |_: &Allocation| true).is_empty());
        assert_eq!(t, before);
    }

    #[test]
    fn system_liveness_rejects_a_recycled_pid() {
        let me = std::process::id() as i32;
        let (st, boot) = capture_identity(me);
        let mut a = Allocation {
            name: "x".into(),
            pid: me,
            start_time: st,
            boot_id: boot.clone(),
            socket: None,
            scopes: vec![],
            delegated_from: None,
            session_id: None,
        };
        assert!(SystemLiveness::default().is_live(&a));
        // Same pid, other start time: the pid now belongs to another process.
        a.start_time = Some(st.unwrap() + 1);
        assert!(!SystemLiveness::default().is_live(&a));
        a.start_time = st;
        a.boot_id = Some("00000000-0000-0000-0000-000000000000".into());
        assert!(!SystemLiveness::default().is_live(&a));
        a.boot_id = boot;
        a.pid = i32::MAX;
        assert!(!SystemLiveness::default().is_live(&a));
        // No recorded identity: the pid alone decides.
        a.pid = me;
        a.start_time = None;
        a.boot_id = None;
        assert!(SystemLiveness::default().is_live(&a));
    }

    #[test]
    fn one_pass_asks_the_kernel_once_per_owner() {
        let me = std::process::id() as i32;
        let (st, boot) = capture_identity(me);
        let a = Allocation {
            name: "x".into(),
            pid: me,
            start_time: st,
            boot_id: boot,
            socket: None,
            scopes: vec![],
            delegated_from: None,
            session_id: None,
        };
        let mut probe = SystemLiveness::default();
        assert!(probe.is_live(&a));
        assert_eq!(probe.seen.len(), 1);
        assert!(probe.is_live(&Allocation {
            name: "y".into(),
            ..a.clone()
        }));
        assert_eq!(
            probe.seen.len(),
            1,
            "the second allocation reused the answer"
        );
    }
}
