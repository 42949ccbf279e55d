//! The identity record: the text sole stores beside a pid (in a pidfile's `user.sole.identity`
//! extended attribute) so that a reader can tell the process that wrote it from a later one
//! with the same pid. Parsing and writing it needs no operating system, so this module is also
//! in the WebAssembly build (`parseIdentityRecord` / `formatIdentityRecord` answer the same
//! there). The identity itself is read from /proc by [`crate::identity`].
//! Test: `tests::*` below; `__test__/wasm.spec.ts` (both builds, generated records).

use sole_error::{Error, Result};

use crate::pid::Pid;

/// The text form of an identity recorded beside a pid (sole stores it in the pidfile's
/// `user.sole.identity` extended attribute):
///
/// ```text
/// sole-identity/1 pid=4242 start=123456 boot=0f8c…-… lock=flock
/// ```
///
/// Space-separated `key=value` fields after a version word; unknown keys are ignored so later
/// versions can add fields. `lock=flock` says the writer holds an flock on the file for as
/// long as it owns it, so a reader must treat the file as free whenever no lock is held,
/// whatever process has the pid now. A record without it (written by another tool) is
/// verified against the live process instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub pid: i32,
    pub start_time: u64,
    pub boot_id: String,
    pub locked: bool,
}

pub const RECORD_VERSION: &str = "sole-identity/1";

impl Record {
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = write_record(
            &mut text,
            self.pid,
            self.start_time,
            &self.boot_id,
            self.locked,
        );
        text
    }

    /// Parse a record; `None` for anything that is not a complete version-1 record.
    pub fn parse(text: &str) -> Option<Record> {
        let mut words = text.split_ascii_whitespace();
        if words.next()? != RECORD_VERSION {
            return None;
        }
        let (mut pid, mut start, mut boot, mut locked) = (None, None, None, false);
        for w in words {
            let (k, v) = w.split_once('=')?;
            match k {
                "pid" => pid = Pid::parse(v).map(Pid::get),
                "start" => start = v.parse::<u64>().ok().filter(|s| *s <= MAX_START_TIME),
                "boot" if boot_id_ok(v) => boot = Some(v.to_ascii_lowercase()),
                "lock" => locked = v == "flock",
                _ => {}
            }
        }
        Some(Record {
            pid: pid?,
            start_time: start?,
            boot_id: boot?,
            locked,
        })
    }
}

/// The one writer of the record's text ([`Record::to_text`]), to any `fmt::Write`: a daemon
/// being started writes its own record between `fork` and `execve`, where nothing may
/// allocate, into a buffer on its stack (`sole-daemon`).
pub fn write_record(
    w: &mut impl std::fmt::Write,
    pid: i32,
    start_time: u64,
    boot_id: &str,
    locked: bool,
) -> std::fmt::Result {
    write!(
        w,
        "{RECORD_VERSION} pid={pid} start={start_time} boot={boot_id}{}",
        if locked { " lock=flock" } else { "" }
    )
}

/// The largest start time a record may hold: what a JavaScript number holds exactly (2^53 - 1
/// clock ticks since boot: millions of years at 100 Hz). A larger one is no record sole wrote.
pub const MAX_START_TIME: u64 = (1 << 53) - 1;

/// The longest boot id a record may hold (the kernel's is 36 characters).
pub const MAX_BOOT_ID: usize = 64;

/// Whether `v` is a boot id a record may hold: 1 to [`MAX_BOOT_ID`] hex digits and dashes (so
/// it can never carry a space, a `=` or a path). The one rule for [`Record::parse`] and
/// [`Record::checked`].
fn boot_id_ok(v: &str) -> bool {
    !v.is_empty() && v.len() <= MAX_BOOT_ID && v.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

impl Record {
    /// A record from a caller's values (`formatIdentityRecord`), each checked by the rule
    /// [`Record::parse`] applies, so what is written always reads back equal: the pid by
    /// [`Pid::from_f64`] (`EINVALIDPID`), the start time an integer from 0 to
    /// [`MAX_START_TIME`], the boot id hex digits and dashes (lowercased, as parsing does).
    /// Test: `tests::checked_values_round_trip_and_bad_ones_are_refused`.
    pub fn checked(pid: f64, start_time: f64, boot_id: &str, locked: bool) -> Result<Record> {
        let pid = Pid::from_f64(pid).map_err(|e| e.with_detail("argument", "pid"))?;
        if !(start_time.is_finite()
            && start_time.fract() == 0.0
            && start_time >= 0.0
            && start_time <= MAX_START_TIME as f64)
        {
            return Err(Error::invalid_argument(
                "startTime",
                format!("startTime {start_time} is not a start time: pass the integer clock ticks since boot from processIdentity(pid).startTime (0 to {MAX_START_TIME})."),
            ));
        }
        if !boot_id_ok(boot_id) {
            let shown: String = boot_id.chars().take(70).collect();
            return Err(Error::invalid_argument(
                "bootId",
                format!("bootId {shown:?} is not a boot id: pass 1 to {MAX_BOOT_ID} hex digits and dashes, as processIdentity(pid).bootId gives."),
            ));
        }
        Ok(Record {
            pid: pid.get(),
            start_time: start_time as u64,
            boot_id: boot_id.to_ascii_lowercase(),
            locked,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_reject_garbage() {
        let r = Record {
            pid: 42,
            start_time: 99,
            boot_id: "0f8c5e1a-aaaa-bbbb-cccc-0123456789ab".into(),
            locked: true,
        };
        assert_eq!(Record::parse(&r.to_text()), Some(r.clone()));
        let unlocked = Record {
            locked: false,
            ..r.clone()
        };
        assert_eq!(Record::parse(&unlocked.to_text()), Some(unlocked));
        assert_eq!(
            Record::parse("sole-identity/1 pid=42 start=99 boot=ab future=1"),
            Some(Record {
                pid: 42,
                start_time: 99,
                boot_id: "ab".into(),
                locked: false
            })
        );
        for bad in [
            "",
            "sole-identity/2 pid=1 start=1 boot=ab",
            "sole-identity/1 pid=0 start=1 boot=ab",
            "sole-identity/1 pid=1 boot=ab",
            "sole-identity/1 pid=1 start=x boot=ab",
            "sole-identity/1 pid=1 start=1 boot=../../x",
            "sole-identity/1 pid=99999999999 start=1 boot=ab",
            "sole-identity/1 junk",
            "sole-identity/1 pid=1 start=1 boot=",
            "sole-identity/1 pid=1 start=9007199254740992 boot=ab",
        ] {
            assert_eq!(Record::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn checked_values_round_trip_and_bad_ones_are_refused() {
        let r = Record::checked(4242.0, 123456.0, "0F8C-AB", true).unwrap();
        assert_eq!(r.boot_id, "0f8c-ab");
        assert_eq!(Record::parse(&r.to_text()), Some(r.clone()));
        let top = Record::checked(f64::from(i32::MAX), MAX_START_TIME as f64, "a", false).unwrap();
        assert_eq!(Record::parse(&top.to_text()), Some(top));
        for (pid, start, boot, argument) in [
            (0.0, 1.0, "ab", "pid"),
            (1.5, 1.0, "ab", "pid"),
            (f64::NAN, 1.0, "ab", "pid"),
            (1.0, -1.0, "ab", "startTime"),
            (1.0, 0.5, "ab", "startTime"),
            (1.0, 9007199254740992.0, "ab", "startTime"),
            (1.0, f64::INFINITY, "ab", "startTime"),
            (1.0, 1.0, "", "bootId"),
            (1.0, 1.0, "ab cd", "bootId"),
            (1.0, 1.0, "../x", "bootId"),
        ] {
            let e = Record::checked(pid, start, boot, false).unwrap_err();
            let named = e.details().iter().any(|(k, v)| {
                *k == "argument" && matches!(v, sole_error::Detail::Str(s) if s == argument)
            });
            assert!(named, "{pid} {start} {boot:?}: {e:?}");
        }
        assert!(Record::checked(1.0, 1.0, &"a".repeat(65), false).is_err());
    }
}
