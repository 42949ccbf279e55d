//! How long a daemon has been running: the uptime of the verified holder of its pidfile.
//!
//! Why: `daemonStatus(pidfile)` answers "is it running, as which pid, and since when". Which
//! process holds the pidfile is `sole_pidfile::read`'s answer (the kernel's lock list, the
//! holder confirmed alive); this module turns that holder's start time into an uptime and a
//! start date. Stopping the holder needs no code here: `stopDaemon` (`lib/daemon.ts`) is
//! `readPidfile(path, { handle: true })` then `terminateGracefully` on that handle, the same
//! composition `sole kill` uses, so there is one way to stop "the process in this pidfile".
//!
//! Races closed here:
//! - **The uptime of a process that reused the pid.** Reading `/proc/PID/stat` again by pid
//!   after the pidfile was read could describe a newcomer that got the pid after the holder
//!   exited. So [`uptime`] takes the start time as an argument: the one in the identity that
//!   `sole_pidfile::read` read *while* it confirmed the holder (same pid, still holding the
//!   lock, same start time before and after). It never looks the pid up again.
//! - **Comparing two clocks.** `/proc/PID/stat` field 22 counts clock ticks since boot on the
//!   kernel's boot-time clock (suspend included), and the first field of `/proc/uptime` is the
//!   same clock, so their difference is the real time the process has existed. The wall clock
//!   (which NTP or an operator can step) is used only to *print* a start date, as now minus
//!   the uptime: a clock step moves `started_at`, never `uptime`.
//!
//! Test: `tests::*` below; `__test__/daemon-control.spec.ts` (the status of real processes).

use std::path::Path;
use std::time::{Duration, SystemTime};

use sole_error::{Error, Kind, Result};

/// Where the kernel publishes the time since boot (`CLOCK_BOOTTIME`, seconds with two
/// decimals, then the idle time).
const PROC_UPTIME: &str = "/proc/uptime";

/// How long a process has been running, and when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uptime {
    /// Time since the process started, on the boot-time clock (never negative, unaffected
    /// by wall-clock steps).
    pub uptime: Duration,
    /// The wall-clock date it started: now minus [`Uptime::uptime`].
    pub started_at: SystemTime,
}

/// The kernel's clock ticks per second (`USER_HZ`, what `sysconf(_SC_CLK_TCK)` answers; from
/// the auxiliary vector, so no syscall). The unit of `/proc/PID/stat`'s start time.
/// Test: `tests::clock_ticks_are_sane`.
pub fn clock_ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second()
}

/// Parse the first field of `/proc/uptime` (`"12345.67 23456.78\n"`) exactly: whole seconds
/// and a decimal fraction, without going through a float. `None` for anything else.
/// Test: `tests::uptime_text_is_parsed_exactly`.
pub fn parse_proc_uptime(text: &str) -> Option<Duration> {
    let first = text.split_ascii_whitespace().next()?;
    let (secs, frac) = first.split_once('.').unwrap_or((first, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    let secs: u64 = secs.parse().ok()?;
    // "67" → 670_000_000 ns: pad the fraction to nine digits.
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    Some(Duration::new(secs, nanos))
}

/// The time since boot, from `/proc/uptime` (the clock `/proc/PID/stat`'s start times count
/// on). Test: `tests::boot_uptime_advances`.
pub fn boot_uptime() -> Result<Duration> {
    let path = Path::new(PROC_UPTIME);
    let text = std::fs::read_to_string(path).map_err(|e| {
        let e = Error::os(e, "cannot read", path);
        let msg = format!("{} sole needs /proc mounted (Linux).", e.message());
        Error::new(e.kind(), msg).with_path(path)
    })?;
    parse_proc_uptime(&text).ok_or_else(|| {
        Error::new(
            Kind::Os(libc::EIO),
            format!(
                "{PROC_UPTIME} does not read as seconds since boot ({:?}): sole cannot compute an uptime on this system.",
                text.trim()
            ),
        )
        .with_path(path)
    })
}

/// A start time in clock ticks since boot, as a duration since boot.
/// Test: `tests::ticks_convert_without_overflow`.
pub fn ticks_to_duration(ticks: u64, per_second: u64) -> Duration {
    let per_second = per_second.max(1);
    let secs = ticks / per_second;
    let rest = ticks % per_second;
    // rest < per_second, so rest * 1e9 / per_second < 1e9 and fits (per_second is small).
    let nanos = (u128::from(rest) * 1_000_000_000 / u128::from(per_second)) as u32;
    Duration::new(secs, nanos)
}

/// The uptime of a process that started at `start_time` clock ticks after boot (field 22 of
/// `/proc/PID/stat`, as recorded in `sole_procid::Identity::start_time`). Pass the start time
/// of the *verified* holder (see the module doc): this never reads the process again.
/// `now_since_boot` is [`boot_uptime`]; separated so the arithmetic is testable.
/// A start time after `now_since_boot` (the two values are rounded to a tick and to 10 ms
/// apart) gives an uptime of zero, never a negative one.
/// Test: `tests::uptime_of_a_process_just_started_is_small`, `tests::uptime_of_boot_time`.
pub fn uptime_at(start_time: u64, now_since_boot: Duration, now: SystemTime) -> Uptime {
    let started = ticks_to_duration(start_time, clock_ticks_per_second());
    let uptime = now_since_boot.saturating_sub(started);
    Uptime {
        uptime,
        started_at: now.checked_sub(uptime).unwrap_or(SystemTime::UNIX_EPOCH),
    }
}

/// [`uptime_at`] now. Errors only when `/proc/uptime` cannot be read.
/// Test: `tests::uptime_of_this_process`; `__test__/daemon-control.spec.ts`.
pub fn uptime(start_time: u64) -> Result<Uptime> {
    let since_boot = boot_uptime()?;
    Ok(uptime_at(start_time, since_boot, SystemTime::now()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sole_procid::{identity, Pid};

    fn me() -> Pid {
        Pid::from_i32(std::process::id() as i32).unwrap()
    }

    #[test]
    fn clock_ticks_are_sane() {
        // USER_HZ is 100 on every Linux architecture sole builds for; accept any plausible.
        let hz = clock_ticks_per_second();
        assert!((1..=10_000).contains(&hz), "{hz}");
    }

    #[test]
    fn uptime_text_is_parsed_exactly() {
        assert_eq!(
            parse_proc_uptime("12345.67 23456.78\n"),
            Some(Duration::new(12345, 670_000_000))
        );
        assert_eq!(parse_proc_uptime("3 4"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_proc_uptime("0.05 0.00"),
            Some(Duration::from_millis(50))
        );
        for bad in [
            "",
            " ",
            "x.5 1",
            "-1.00 2",
            "1.2.3 4",
            "1.x 2",
            ".5 1",
            "1.0123456789 1",
        ] {
            assert_eq!(parse_proc_uptime(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ticks_convert_without_overflow() {
        assert_eq!(ticks_to_duration(250, 100), Duration::from_millis(2500));
        assert_eq!(ticks_to_duration(0, 100), Duration::ZERO);
        assert_eq!(ticks_to_duration(1, 3), Duration::new(0, 333_333_333));
        let big = ticks_to_duration(u64::MAX, 100);
        assert_eq!(big.as_secs(), u64::MAX / 100);
        // A zero rate (never from the kernel) does not divide by zero.
        assert_eq!(ticks_to_duration(7, 0), Duration::from_secs(7));
    }

    #[test]
    fn boot_uptime_advances() {
        let a = boot_uptime().unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let b = boot_uptime().unwrap();
        assert!(b > a, "{a:?} then {b:?}");
    }

    #[test]
    fn uptime_of_boot_time() {
        // A process that started at boot (tick 0) has been up exactly as long as the system.
        let now = SystemTime::now();
        let u = uptime_at(0, Duration::from_secs(3600), now);
        assert_eq!(u.uptime, Duration::from_secs(3600));
        assert_eq!(now.duration_since(u.started_at).unwrap(), u.uptime);
    }

    #[test]
    fn uptime_of_a_process_just_started_is_small() {
        // Start time one tick after "now": rounding, never a negative uptime.
        let hz = clock_ticks_per_second();
        let now = SystemTime::now();
        let u = uptime_at(10 * hz + 1, Duration::from_secs(10), now);
        assert_eq!(u.uptime, Duration::ZERO);
        assert_eq!(u.started_at, now);
    }

    #[test]
    fn uptime_of_this_process() {
        // This test process's own start time, read once: its uptime is at least the time
        // the test runner has spent since then, and below the machine's uptime.
        let start = identity::identity(me()).unwrap().start_time;
        let first = uptime(start).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let second = uptime(start).unwrap();
        assert!(
            second.uptime >= first.uptime + Duration::from_millis(40),
            "{first:?} then {second:?}"
        );
        assert!(second.uptime <= boot_uptime().unwrap());
        // The two start dates agree to within the clocks' rounding (10 ms ticks).
        let (a, b) = (first.started_at, second.started_at);
        let diff = a
            .duration_since(b)
            .or_else(|_| b.duration_since(a))
            .unwrap();
        assert!(diff <= Duration::from_millis(30), "{diff:?}");
    }

    #[test]
    fn uptime_of_a_child_started_now_is_near_zero() {
        // A child started just now: its uptime is small, and grows while it lives.
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pid = Pid::from_i32(child.id() as i32).unwrap();
        let start = identity::identity(pid).unwrap().start_time;
        let u = uptime(start).unwrap();
        assert!(u.uptime < Duration::from_secs(2), "{u:?}");
        let _ = child.kill();
        let _ = child.wait();
    }
}
