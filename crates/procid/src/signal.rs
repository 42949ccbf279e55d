//! Signal names and numbers: the one place that decides what a signal argument is.
//!
//! Why: a signal given as a name (`"SIGTERM"`, `"TERM"`), a decimal string or a JavaScript
//! number must become one kernel signal number or an `EINVAL` naming the `signal` argument,
//! before anything is sent: a fraction or `NaN` silently truncated to 0 would turn "kill it"
//! into "check it exists". No race is closed here; the sending is `handle.rs`'s.
//! Test: `tests::signal_names_and_numbers`.

use sole_error::{Error, Result};

/// The polite signal `terminateGracefully` sends by default.
pub const TERMINATE_DEFAULT: i32 = libc::SIGTERM;

/// The largest signal number Linux has (`SIGRTMAX`).
pub const SIGNAL_MAX: i32 = 64;

/// The signal names sole knows, without `SIG`, each with its number: the one table (names
/// listed first for a number are the ones [`signal_name`] gives).
const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// A signal given by name (`"SIGTERM"`, `"TERM"`) or as a decimal string, as its number. The one
/// place signal names are decided; anything else is `EINVAL` with `argument: "signal"`.
/// Test: `tests::signal_names_and_numbers`.
pub fn signal_number(name: &str) -> Result<i32> {
    let n = name.trim();
    let bare = n.strip_prefix("SIG").unwrap_or(n);
    if let Some((_, sig)) = NAMES.iter().find(|(k, _)| *k == bare) {
        return Ok(*sig);
    }
    match n.parse::<i32>() {
        Ok(v) if (0..=SIGNAL_MAX).contains(&v) => Ok(v),
        _ => {
            let shown: String = name.chars().take(40).collect();
            Err(Error::invalid_argument(
                "signal",
                format!("{shown:?} is not a signal: use a name such as 'SIGTERM' or a number from 0 to {SIGNAL_MAX}."),
            ))
        }
    }
}

/// The name of signal `n` (`"SIGTERM"`), or `None` for a number without one (real-time
/// signals). Test: `tests::signal_names_and_numbers`.
pub fn signal_name(n: i32) -> Option<String> {
    NAMES
        .iter()
        .find(|(_, sig)| *sig == n)
        .map(|(k, _)| format!("SIG{k}"))
}

/// `EINVAL` for a signal argument that is neither a name nor a number (`shown`: its type);
/// `context` (e.g. " (process 42)") ends the message. Test: `tests::signal_names_and_numbers`.
pub fn not_a_signal(shown: &str, context: &str) -> Error {
    Error::invalid_argument(
        "signal",
        format!("signal must be a name such as 'SIGTERM' or a number from 0 to {SIGNAL_MAX}, got {shown}{context}."),
    )
}

/// A signal given as a JavaScript number: an integer in `0..=64` (`-0` is 0; 0 only checks that
/// the process exists). NaN, infinities, fractions and anything out of range are `EINVAL` with
/// `argument: "signal"`, before any conversion. Test: `tests::signal_names_and_numbers`.
pub fn signal_from_number(n: f64) -> Result<i32> {
    if n.fract() == 0.0 && (0.0..=f64::from(SIGNAL_MAX)).contains(&n) {
        // In 0..=64 and integral: exact.
        Ok(n as i32)
    } else {
        Err(Error::invalid_argument(
            "signal",
            format!("{n} is not a signal number: use an integer from 0 to {SIGNAL_MAX}, or a name such as 'SIGTERM'."),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_and_numbers() {
        assert_eq!(signal_number("SIGTERM").unwrap(), libc::SIGTERM);
        assert_eq!(signal_number("KILL").unwrap(), libc::SIGKILL);
        assert_eq!(signal_number("0").unwrap(), 0);
        assert_eq!(signal_name(libc::SIGKILL).as_deref(), Some("SIGKILL"));
        assert_eq!(signal_name(libc::SIGABRT).as_deref(), Some("SIGABRT"));
        assert_eq!(signal_name(40), None);
        for bad in ["SIGFOO", "", "65", "-1", "1.5"] {
            let e = signal_number(bad).unwrap_err();
            assert_eq!(e.code(), "EINVAL", "{bad}");
            assert_eq!(e.details()[0], ("argument", "signal".into()), "{bad}");
        }
        let e = not_a_signal("a boolean", " (process 7)");
        assert_eq!(e.details()[0], ("argument", "signal".into()));
        assert!(e.message().ends_with("got a boolean (process 7)."));
        assert_eq!(signal_from_number(15.0).unwrap(), 15);
        assert_eq!(signal_from_number(-0.0).unwrap(), 0);
        assert_eq!(signal_from_number(64.0).unwrap(), 64);
        for bad in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.0,
            1.5,
            65.0,
            2f64.powi(31),
            2f64.powi(53),
            1e300,
        ] {
            let e = signal_from_number(bad).unwrap_err();
            assert_eq!(e.code(), "EINVAL", "{bad}");
            assert_eq!(e.details()[0], ("argument", "signal".into()), "{bad}");
        }
    }
}
