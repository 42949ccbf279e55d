//! "Is the recorded process still the same one?" — decided here, and only here (pid reuse:
//! docs/races.md R19).
//!
//! Why: sole records who held something (a pidfile's identity record, a scope allocation, an
//! identity passed to `verifyProcess`) as a pid plus, where known, a start time and a boot id.
//! Later it must decide whether that record still names a running process. Deciding it in
//! several places let them drift (one compared boot ids case-sensitively, one counted an
//! unreadable boot id as a match); [`Recorded::check`] is the one rule, and
//! [`Recorded::compare`] the same rule on facts the caller already holds (a pidfd-bound start
//! time, say).
//!
//! The rule, in the order it is applied (the first that holds decides):
//! 1. **Exited**: no live process has the pid. A zombie (`Z`/`X`) has exited: it has closed
//!    every fd and holds nothing, so it counts as exited. When a start time is recorded the
//!    stat is read anyway, and a process already tearing down (`PF_EXITING`) counts as exited
//!    too; without one only the one-syscall probe of [`crate::Pid::is_alive`] is made, which sees
//!    such a process as alive for the microseconds until its memory map is gone. A process
//!    whose stat cannot be read while a start time is recorded (`/proc` mounted `hidepid`)
//!    cannot be shown to be the recorded one, and also counts as exited.
//! 2. **PreviousBoot**: a boot id is recorded and differs from this boot's, compared
//!    case-insensitively (the kernel prints it in lower case; a record written by another tool
//!    may not). An *unreadable* boot id (no `/proc`) cannot prove the record is from this
//!    boot, so it counts as a previous boot: a record is trusted only when proven.
//! 3. **PidReused**: a start time is recorded and the live process started at another time:
//!    the pid was reused by another process.
//! 4. **Alive** otherwise, with the start time read (when one was).
//!
//! Race closed here: the start time and the zombie state come from the same single read of
//! `/proc/PID/stat`, so the process judged alive is the one whose start time was compared.
//! Test: `tests::*` below (each outcome against real processes).

use sole_error::Result;

use crate::identity::boot_id_checked;
use crate::pid::Pid;
use crate::proc::Stat;

/// A recorded identity: a pid, and optionally the start time and boot id that name one
/// process across pid reuse. `None` fields are not checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub pid: Pid,
    pub start_time: Option<u64>,
    pub boot_id: Option<String>,
}

/// What [`Recorded::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The recorded process is running. `start_time` is the one read (when a start time was
    /// recorded, it equals it).
    Alive { start_time: Option<u64> },
    /// No live process has the pid (or only a zombie or an exiting one).
    Exited,
    /// A process has the pid but started at another time than recorded.
    PidReused,
    /// The record is from another boot (or this boot's id cannot be read).
    PreviousBoot,
}

/// What the caller observed of the process that has the pid now, for [`Recorded::compare`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Observed<'a> {
    /// `false`: no live process has the pid.
    pub alive: bool,
    /// Its start time, if read.
    pub start_time: Option<u64>,
    /// This boot's id, if read (`None`: unreadable).
    pub boot_id: Option<&'a str>,
}

impl Recorded {
    /// Decide against the system now (see the module doc for the rule). `Err` only when the
    /// facts could not be read at all because this process is out of descriptors or memory
    /// (`EMFILE`, `ENFILE`, `ENOMEM`): that says nothing about the recorded process, and a
    /// caller that took it for "exited" would reclaim a live owner's claim.
    /// Test: `tests::each_outcome`; `__test__/pidfile.spec.ts` ("out of descriptors").
    pub fn check(&self) -> Result<Check> {
        let stat = match self.start_time {
            // One read gives the liveness, the zombie/exiting state and the start time.
            Some(_) => match Stat::read_checked(self.pid)? {
                Some(s) if !s.is_gone_or_going() && self.pid.is_alive() => Some(s),
                _ => return Ok(Check::Exited),
            },
            None if self.pid.is_alive() => None,
            None => return Ok(Check::Exited),
        };
        let boot = match &self.boot_id {
            Some(_) => boot_id_checked()?,
            None => None,
        };
        Ok(self.compare(Observed {
            alive: true,
            start_time: stat.map(|s| s.start_time),
            boot_id: boot.as_deref(),
        }))
    }

    /// The same rule on facts the caller read itself (e.g. the start time a pidfd is bound
    /// to). Test: `tests::compare_applies_the_rule_in_order`.
    pub fn compare(&self, now: Observed<'_>) -> Check {
        if !now.alive {
            return Check::Exited;
        }
        if let Some(want) = &self.boot_id {
            if !now.boot_id.is_some_and(|b| b.eq_ignore_ascii_case(want)) {
                return Check::PreviousBoot;
            }
        }
        match self.start_time {
            Some(want) if now.start_time != Some(want) => {
                if now.start_time.is_none() {
                    Check::Exited
                } else {
                    Check::PidReused
                }
            }
            _ => Check::Alive {
                start_time: now.start_time,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::boot_id;

    fn me() -> Recorded {
        let pid = Pid::new(i64::from(std::process::id())).unwrap();
        Recorded {
            pid,
            start_time: Stat::read(pid).map(|s| s.start_time),
            boot_id: boot_id().ok(),
        }
    }

    #[test]
    fn each_outcome() {
        let good = me();
        assert_eq!(
            good.check().unwrap(),
            Check::Alive {
                start_time: good.start_time
            }
        );
        let bare = Recorded {
            start_time: None,
            boot_id: None,
            ..good.clone()
        };
        assert_eq!(bare.check().unwrap(), Check::Alive { start_time: None });
        let reused = Recorded {
            start_time: good.start_time.map(|t| t + 1),
            ..good.clone()
        };
        assert_eq!(reused.check().unwrap(), Check::PidReused);
        let old_boot = Recorded {
            boot_id: Some("00000000-0000-0000-0000-000000000000".into()),
            ..good.clone()
        };
        assert_eq!(old_boot.check().unwrap(), Check::PreviousBoot);
        let upper = Recorded {
            boot_id: good.boot_id.as_ref().map(|b| b.to_ascii_uppercase()),
            ..good.clone()
        };
        assert!(
            matches!(upper.check().unwrap(), Check::Alive { .. }),
            "case-insensitive"
        );

        // A zombie has exited, with or without a start time.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = Pid::new(i64::from(child.id())).unwrap();
        let start = Stat::read(pid).map(|s| s.start_time);
        crate::pid::tests::wait_exited_unreaped(i64::from(pid.get()));
        let zombie = Recorded {
            pid,
            start_time: start,
            boot_id: boot_id().ok(),
        };
        assert_eq!(
            zombie.check().unwrap(),
            Check::Exited,
            "a zombie (with start time)"
        );
        let zombie_bare = Recorded {
            start_time: None,
            ..zombie.clone()
        };
        assert_eq!(
            zombie_bare.check().unwrap(),
            Check::Exited,
            "a zombie (pid only)"
        );
        // Reaped: exited.
        child.wait().unwrap();
        assert_eq!(zombie.check().unwrap(), Check::Exited, "a reaped child");
        assert_eq!(
            zombie_bare.check().unwrap(),
            Check::Exited,
            "a reaped child (pid only)"
        );
    }

    #[test]
    fn compare_applies_the_rule_in_order() {
        let r = Recorded {
            pid: Pid::new(7).unwrap(),
            start_time: Some(5),
            boot_id: Some("ab".into()),
        };
        let now = |alive, start_time, boot_id| Observed {
            alive,
            start_time,
            boot_id,
        };
        assert_eq!(r.compare(now(false, Some(5), Some("ab"))), Check::Exited);
        assert_eq!(
            r.compare(now(true, Some(6), Some("cd"))),
            Check::PreviousBoot
        );
        assert_eq!(
            r.compare(now(true, Some(5), None)),
            Check::PreviousBoot,
            "an unreadable boot id proves nothing"
        );
        assert_eq!(r.compare(now(true, Some(6), Some("AB"))), Check::PidReused);
        assert_eq!(r.compare(now(true, None, Some("ab"))), Check::Exited);
        assert_eq!(
            r.compare(now(true, Some(5), Some("AB"))),
            Check::Alive {
                start_time: Some(5)
            }
        );
    }
}
