//! Is an allocation's owner still the process that registered it? And the reclaim of every
//! allocation whose owner is not.
//!
//! Race closed here: the kernel recycles pids, so "pid alive" does not mean "owner alive" (a
//! check by `kill(pid, 0)` alone would keep a dead owner's allocation forever once its pid went
//! to a newcomer). Each allocation records its owner's start time and boot id when it is
//! written ([`capture_identity`]); whether that record still names a running process is
//! decided by `sole_procid::Recorded::check`, the one rule sole applies to every recorded
//! identity (pidfiles, handles and this registry alike). The registry does not spell its own.
//!
//! Liveness is a parameter ([`Liveness`]) so unit tests decide staleness without processes.
//! The one function that asks the kernel is [`SystemLiveness::decide`].
//! Test: `tests::*` below; `crate::registry::tests::real_probe_reclaims_a_dead_child_process`.

use std::collections::{HashMap, HashSet};

use sole_error::{Error, Result};
use sole_procid::proc::Stat;
use sole_procid::{Check, Pid, Recorded};

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

/// The real probe: `sole_procid`'s one rule ([`SystemLiveness::decide`]). Answers are cached
/// for one reclaim pass, keyed by the whole record (boot id, pid, start time), so a table of
/// 10,000 allocations held by a few processes costs a few `/proc` reads, not 10,000 (the boot
/// id itself is read once per process by `sole_procid`; the cache saves the per-pid `stat`).
/// A pass sees very few distinct boot ids (usually one), so they are compared in a short list
/// rather than hashed: hashing a 36-byte id for each of 10,000 allocations doubled the cost of
/// every registry operation. Test: `tests::system_liveness_rejects_a_recycled_pid`,
/// `tests::one_pass_asks_the_kernel_once_per_owner`.
#[derive(Default)]
pub struct SystemLiveness {
    /// Answers of this pass, per recorded boot id (the first [`FEW_BOOTS`] in a list).
    few: Vec<(Option<String>, Answers)>,
    /// Answers for any further boot ids (a table from many boots: hashed, not scanned).
    more: HashMap<Option<String>, Answers>,
    /// The first allocation this pass could not judge (out of descriptors): kept, and reported.
    error: Option<Error>,
}

/// How many boot ids a pass compares directly before it hashes them.
const FEW_BOOTS: usize = 4;

/// The answers for one recorded boot id, keyed by (pid, recorded start time).
type Answers = HashMap<(i32, Option<u64>), bool>;

impl SystemLiveness {
    /// Live only when `sole_procid::Recorded::check` answers `Alive` for the allocation's
    /// recorded pid, start time and boot id: an exited or zombie owner, a pid now held by a
    /// process that started at another time, or a record from another boot (or one whose boot
    /// cannot be proven) is stale. A pid the kernel could never have handed out (0, negative)
    /// names no process: stale. The rule is procid's, stated once in `sole_procid::recorded`.
    /// Test: `tests::system_liveness_rejects_a_recycled_pid`,
    /// `tests::a_zombie_owner_is_reclaimed`.
    ///
    /// `Err` when the facts cannot be read (this process is out of descriptors or memory):
    /// no verdict, and never "stale", or a live owner's allocation would be reclaimed.
    pub fn decide(a: &Allocation) -> Result<bool> {
        let Some(pid) = Pid::new(i64::from(a.pid)) else {
            return Ok(false);
        };
        let recorded = Recorded {
            pid,
            start_time: a.start_time,
            boot_id: a.boot_id.clone(),
        };
        Ok(matches!(recorded.check()?, Check::Alive { .. }))
    }

    /// The first error of this pass (see [`SystemLiveness::decide`]): an allocation it could
    /// not judge was kept, and the operation must fail rather than act on that table.
    pub fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }

    /// The answers cached for `boot` (created empty on first sight).
    fn answers(&mut self, boot: &Option<String>) -> &mut Answers {
        if let Some(i) = self.few.iter().position(|(b, _)| b == boot) {
            return &mut self.few[i].1;
        }
        if self.few.len() < FEW_BOOTS {
            self.few.push((boot.clone(), Answers::default()));
            return &mut self.few.last_mut().expect("just pushed").1;
        }
        self.more.entry(boot.clone()).or_default()
    }

    /// How many distinct records this pass has decided (for the caching test).
    #[cfg(test)]
    fn decided(&self) -> usize {
        self.few.iter().map(|(_, m)| m.len()).sum::<usize>()
            + self.more.values().map(HashMap::len).sum::<usize>()
    }
}

impl Liveness for SystemLiveness {
    fn is_live(&mut self, a: &Allocation) -> bool {
        let key = (a.pid, a.start_time);
        if let Some(&live) = self.answers(&a.boot_id).get(&key) {
            return live;
        }
        let live = match Self::decide(a) {
            Ok(live) => live,
            Err(e) => {
                // Not cached: unknown is not an answer. Kept for now; the caller fails.
                self.error.get_or_insert(e);
                return true;
            }
        };
        self.answers(&a.boot_id).insert(key, live);
        live
    }
}

/// The identity to record for `pid` now: (start time, boot id), the facts
/// `sole_procid::Recorded::check` later compares. `None` where unreadable (no such process,
/// `/proc` not mounted).
/// Test: `tests::system_liveness_rejects_a_recycled_pid`.
/// `Err` when this process is out of descriptors or memory (`EMFILE`, `ENFILE`, `ENOMEM`):
/// that says nothing about `pid`.
pub fn capture_identity(pid: Pid) -> Result<(Option<u64>, Option<String>)> {
    Ok((
        Stat::read_checked(pid)?.map(|s| s.start_time),
        sole_procid::identity::boot_id_checked()?,
    ))
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

    fn me() -> Pid {
        Pid::new(i64::from(std::process::id())).unwrap()
    }

    /// An allocation owned by `pid` with the identity recorded for it now.
    fn owned_by(pid: Pid) -> Allocation {
        let (start_time, boot_id) = capture_identity(pid).unwrap();
        Allocation {
            name: "x".into(),
            pid: pid.get(),
            start_time,
            boot_id,
            socket: None,
            scopes: vec![],
            delegated_from: None,
            session_id: None,
        }
    }

    #[test]
    fn system_liveness_rejects_a_recycled_pid() {
        let mut a = owned_by(me());
        let (st, boot) = (a.start_time, a.boot_id.clone());
        assert!(
            st.is_some() && boot.is_some(),
            "this process's identity is readable"
        );
        assert!(SystemLiveness::default().is_live(&a));
        // Same pid, other start time: the pid now belongs to another process.
        a.start_time = Some(st.unwrap() + 1);
        assert!(!SystemLiveness::default().is_live(&a));
        a.start_time = st;
        a.boot_id = Some("00000000-0000-0000-0000-000000000000".into());
        assert!(!SystemLiveness::default().is_live(&a));
        // The boot id compared as procid compares it: case does not matter.
        a.boot_id = boot.as_ref().map(|b| b.to_ascii_uppercase());
        assert!(SystemLiveness::default().is_live(&a));
        a.boot_id = boot;
        // Pids no process can have: never live, whatever else was recorded.
        for bad in [i32::MAX, 0, -1, i32::MIN] {
            a.pid = bad;
            assert!(!SystemLiveness::default().is_live(&a), "{bad}");
        }
        // No recorded identity: the pid alone decides.
        a.pid = me().get();
        a.start_time = None;
        a.boot_id = None;
        assert!(SystemLiveness::default().is_live(&a));
    }

    #[test]
    fn a_zombie_owner_is_reclaimed() {
        use rustix::process::{waitid, WaitId, WaitIdOptions};
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = Pid::new(i64::from(child.id())).unwrap();
        let a = owned_by(pid);
        // Exited but not reaped: a zombie, which still answers kill(pid, 0).
        let raw = rustix::process::Pid::from_raw(pid.get()).unwrap();
        waitid(
            WaitId::Pid(raw),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        )
        .unwrap();
        let bare = Allocation {
            start_time: None,
            boot_id: None,
            ..a.clone()
        };
        let mut t = Table::new();
        t.allocations.push(a);
        t.allocations.push(Allocation {
            name: "y".into(),
            ..bare
        });
        let removed = t.reclaim_stale_with(&mut SystemLiveness::default());
        assert_eq!(removed, vec!["x".to_string(), "y".to_string()]);
        child.wait().unwrap();
    }

    #[test]
    fn one_pass_asks_the_kernel_once_per_owner() {
        let a = owned_by(me());
        let mut probe = SystemLiveness::default();
        assert!(probe.is_live(&a));
        assert_eq!(probe.decided(), 1);
        assert!(probe.is_live(&Allocation {
            name: "y".into(),
            ..a.clone()
        }));
        assert_eq!(
            probe.decided(),
            1,
            "the second allocation reused the answer"
        );
        // Another boot id is another record: decided on its own, never from this boot's answer.
        assert!(!probe.is_live(&Allocation {
            boot_id: Some("00000000-0000-0000-0000-000000000000".into()),
            ..a.clone()
        }));
        assert_eq!(probe.decided(), 2);
        // Records from many boots (past the short list): each decided once, all stale, and
        // this boot's answer still comes from the cache.
        for round in 0..2 {
            for i in 0..(2 * FEW_BOOTS) {
                assert!(!probe.is_live(&Allocation {
                    boot_id: Some(format!("{i:08}-1111-2222-3333-444444444444")),
                    ..a.clone()
                }));
            }
            assert_eq!(probe.decided(), 2 + 2 * FEW_BOOTS, "round {round}");
        }
        assert!(probe.is_live(&a));
        assert_eq!(probe.decided(), 2 + 2 * FEW_BOOTS);
    }
}
