//! The one conversion of a caller's `timeoutMs` into a wait bound, used by every API that takes
//! one (locks, pidfile takeover, process exit waits, the scope registry lock, and any later).
//!
//! Why one place: a timeout crosses three representations that each overflow differently. A
//! JavaScript number may be NaN, ±Infinity, -0 or 1e300; `Duration::from_secs_f64` panics on
//! NaN, negatives and values past `u64::MAX` seconds (a panic on a wait thread aborts the whole
//! Node process); `poll(2)` takes an `int` of milliseconds (past 2^31-1 it wraps negative and
//! waits forever, or not at all); and a JavaScript `setTimeout` fires at once past 2^31-1 ms.
//! The rule decided here: any number of milliseconds in `0..=Number.MAX_SAFE_INTEGER` (`-0`
//! included, fractions allowed) waits that long, however long that is; everything else is
//! `EINVAL` with `argument: "timeoutMs"`. Waits that sleep in the kernel take their slices from
//! [`Deadline::poll_ms`], so no bound is ever handed to a syscall that cannot hold it.
//! Test: `tests::accepts_every_safe_integer`, `tests::refuses_what_is_not_a_timeout`,
//! `tests::poll_slices_never_overflow`.

use std::time::{Duration, Instant};

use crate::{Error, Result};

/// `Number.MAX_SAFE_INTEGER`: the largest timeout accepted (about 285,000 years).
pub const MAX_MS: f64 = 9_007_199_254_740_991.0;

/// Convert `ms` (the caller's `timeoutMs`) into a duration, or `EINVAL` naming `what` the wait
/// is for (e.g. "the lock on /run/x.lock").
pub fn from_ms(ms: f64, what: &str) -> Result<Duration> {
    if (0.0..=MAX_MS).contains(&ms) {
        // ms <= 2^53, so whole seconds fit u64 and the nanoseconds are < 1e9: no panic path.
        let whole = ms.trunc();
        let secs = (whole / 1000.0).trunc();
        let rest_ms = whole - secs * 1000.0;
        let nanos = (rest_ms * 1e6 + (ms - whole) * 1e6).clamp(0.0, 999_999_999.0);
        Ok(Duration::new(secs as u64, nanos as u32))
    } else {
        Err(Error::invalid_argument(
            "timeoutMs",
            format!(
                "timeoutMs {} for {what} is not a number of milliseconds: pass a finite number from 0 to {} (Number.MAX_SAFE_INTEGER), or leave it out for the default.",
                show(ms),
                MAX_MS as u64
            ),
        ))
    }
}

fn show(ms: f64) -> String {
    if ms == 0.0 && ms.is_sign_negative() {
        "-0".into()
    } else {
        format!("{ms}")
    }
}

/// A point in time a wait ends at, or never. Saturates instead of overflowing: a timeout of
/// 285,000 years is a deadline that is never reached, not a panic.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// `None` → never.
    pub fn after(timeout: Option<Duration>) -> Deadline {
        Deadline(timeout.and_then(|t| Instant::now().checked_add(t)))
    }

    /// Time left (`None`: unbounded).
    pub fn remaining(&self) -> Option<Duration> {
        self.0.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// `true` once the deadline has passed.
    pub fn passed(&self) -> bool {
        self.remaining() == Some(Duration::ZERO)
    }

    /// The next `poll(2)` timeout in milliseconds: `-1` for an unbounded wait, else the time
    /// left rounded up, capped at one hour (the caller loops until [`Deadline::passed`]).
    pub fn poll_ms(&self) -> i32 {
        const SLICE_MS: u128 = 3_600_000;
        match self.remaining() {
            None => -1,
            Some(left) => {
                let ms = left.as_nanos().div_ceil(1_000_000);
                ms.min(SLICE_MS) as i32
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_safe_integer() {
        assert_eq!(from_ms(0.0, "x").unwrap(), Duration::ZERO);
        assert_eq!(from_ms(-0.0, "x").unwrap(), Duration::ZERO);
        assert_eq!(from_ms(1.5, "x").unwrap(), Duration::from_micros(1500));
        assert_eq!(
            from_ms(2f64.powi(31), "x").unwrap(),
            Duration::from_millis(1 << 31)
        );
        let max = from_ms(MAX_MS, "x").unwrap();
        assert_eq!(max.as_millis(), MAX_MS as u128);
        // A deadline that far away saturates to "never" instead of panicking.
        assert!(!Deadline::after(Some(max)).passed());
        assert!(Deadline::after(Some(Duration::from_secs(u64::MAX))).poll_ms() != 0);
    }

    #[test]
    fn refuses_what_is_not_a_timeout() {
        for bad in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.0,
            -1e-9,
            MAX_MS + 2.0,
            1e300,
        ] {
            let e = from_ms(bad, "the lock on /x").unwrap_err();
            assert_eq!(e.code(), "EINVAL", "{bad}");
            assert!(e.message().contains("/x"), "{}", e.message());
            assert_eq!(e.details()[0].0, "argument");
        }
    }

    #[test]
    fn poll_slices_never_overflow() {
        assert_eq!(Deadline::after(None).poll_ms(), -1);
        let d = Deadline::after(Some(from_ms(MAX_MS, "x").unwrap()));
        assert_eq!(d.poll_ms(), 3_600_000);
        let d = Deadline::after(Some(Duration::from_micros(10)));
        assert!((0..=1).contains(&d.poll_ms()));
    }
}
