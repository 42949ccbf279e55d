//! Pid validation and liveness: the one place that decides whether a number is a pid and
//! whether that pid is a live process.
//!
//! Why: `kill(0, 0)` signals the caller's process group and `kill(-1, 0)` every process the
//! caller may signal, and a pid above `i32::MAX` wraps to a negative `pid_t`: a naive liveness
//! probe on a corrupt pidfile can answer "alive" for a process that does not exist. [`Pid`]
//! is validated once, so no range check is repeated further down.
//! `EPERM` means the process exists but belongs to another user: alive (docs/races.md R21). A
//! zombie answers `kill(pid, 0)` but has closed every fd and holds nothing: dead (R22).
//! Whether a pid is alive is [`alive`]'s (the syscalls); this file is only what a pid is, so it
//! is also in the WebAssembly build, which validates pids (an identity record's) without an OS.
//! Test: `tests::*` below; `__test__/pidfile.spec.ts` for the JavaScript entry points.

use sole_error::{Error, Kind, Result};

/// The largest pid the kernel can hand out (`PID_MAX_LIMIT` is 2^22; `pid_t` is `i32`).
pub const PID_MAX: i64 = i32::MAX as i64;

/// A number validated once as a pid: an integer in 1..=2^31-1, so it is never 0 (the
/// caller's process group for `kill`), never negative (`-1`: every process), and never wraps
/// when handed to the kernel as a `pid_t`. Whether a process has it is another question
/// ([`Pid::is_alive`]). Test: `tests::pids_are_validated_once`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(i32);

impl Pid {
    /// `Some` for 1..=2^31-1, `None` for anything else.
    pub fn new(value: i64) -> Option<Pid> {
        if (1..=PID_MAX).contains(&value) {
            Some(Pid(value as i32))
        } else {
            None
        }
    }

    /// A pid given as a JavaScript number: anything but an integer in 1..=2^31-1 (0,
    /// negatives, NaN, infinities, fractions, 2^31 and above) is `EINVALIDPID`, before any
    /// syscall is made.
    pub fn from_f64(value: f64) -> Result<Pid> {
        if value.is_finite() && value.fract() == 0.0 && value >= 1.0 && value <= PID_MAX as f64 {
            Ok(Pid(value as i32))
        } else {
            Err(not_a_pid(&value.to_string()))
        }
    }

    /// A pid from Rust code (`EINVALIDPID` out of range), shown as the number it was.
    pub fn from_i32(value: i32) -> Result<Pid> {
        Pid::new(i64::from(value)).ok_or_else(|| not_a_pid(&value.to_string()))
    }

    /// The text of a pidfile's first line, or a record's `pid=` field: ASCII digits only
    /// (surrounding whitespace allowed), value 1..=2^31-1. `None` for anything else (empty,
    /// garbage, a sign, 0, overflow).
    pub fn parse(text: &str) -> Option<Pid> {
        let t = text.trim();
        if t.is_empty() || t.len() > 10 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Pid::new(t.parse().ok()?)
    }

    /// The pid as the kernel's `pid_t`.
    pub fn get(self) -> i32 {
        self.0
    }

    /// The same pid for rustix's syscalls (never 0, so never `None`).
    #[cfg(not(target_family = "wasm"))]
    pub(crate) fn rustix(self) -> rustix::process::Pid {
        rustix::process::Pid::from_raw(self.0).expect("a Pid is never 0")
    }
}

impl std::fmt::Display for Pid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The `EINVALIDPID` error for a value shown as `shown` (a number, or a JavaScript type name
/// such as `string "12"` when the caller did not pass a number at all).
pub fn not_a_pid(shown: &str) -> Error {
    Error::new(
        Kind::InvalidPid,
        format!(
            "{shown} is not a valid pid: a pid is an integer from 1 to 2147483647. Pass the pid of a process (for example process.pid)."
        ),
    )
}

/// `EINVALIDPID` for a string passed where a pid was expected (shown, up to 40 characters):
/// a caller passing `"12"` has a bug worth seeing, so it is never parsed.
pub fn string_is_not_a_pid(s: &str) -> Error {
    let shown: String = s.chars().take(40).collect();
    not_a_pid(&format!("the string {shown:?}"))
}

#[cfg(not(target_family = "wasm"))]
mod alive;
#[cfg(not(target_family = "wasm"))]
pub use alive::{alive_from_f64, alive_from_f64_strict};

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Liveness of any number, as the tests ask it: out of range is never alive.
    fn alive(n: i64) -> bool {
        Pid::new(n).is_some_and(Pid::is_alive)
    }

    #[test]
    fn validate_rejects_non_pids() {
        for v in [
            0.0,
            -1.0,
            2147483648.0,
            4294967296.0,
            f64::NAN,
            f64::INFINITY,
            1.5,
            1e300,
        ] {
            assert_eq!(Pid::from_f64(v).unwrap_err().code(), "EINVALIDPID", "{v}");
        }
        assert_eq!(Pid::from_f64(1.0).unwrap().get(), 1);
        assert_eq!(Pid::from_f64(2147483647.0).unwrap().get(), i32::MAX);
    }

    #[test]
    fn pids_are_validated_once() {
        assert_eq!(Pid::new(1).map(Pid::get), Some(1));
        assert_eq!(Pid::new(PID_MAX).map(Pid::get), Some(i32::MAX));
        for bad in [0, -1, PID_MAX + 1, i64::MIN] {
            assert_eq!(Pid::new(bad), None, "{bad}");
        }
        assert_eq!(Pid::from_i32(0).unwrap_err().code(), "EINVALIDPID");
        assert_eq!(Pid::parse(" 7\n"), Pid::new(7));
        assert_eq!(Pid::from_f64(7.0).unwrap().to_string(), "7");
    }

    #[test]
    fn liveness_from_numbers() {
        let me = f64::from(std::process::id());
        assert!(alive_from_f64(me));
        assert!(alive_from_f64_strict(me).unwrap());
        for n in [0.0, -1.0, 2f64.powi(31), 1e300, f64::NEG_INFINITY] {
            assert!(!alive_from_f64(n), "{n}");
        }
        assert!(!alive_from_f64_strict(2f64.powi(31)).unwrap());
        for n in [1.5, f64::NAN, f64::INFINITY] {
            assert!(!alive_from_f64(n), "{n}");
            assert_eq!(alive_from_f64_strict(n).unwrap_err().code(), "EINVALIDPID");
        }
        assert!(string_is_not_a_pid("12")
            .message()
            .contains("the string \"12\""));
    }

    #[test]
    fn parse_accepts_only_plain_pids() {
        assert_eq!(Pid::parse("123\n").map(Pid::get), Some(123));
        assert_eq!(Pid::parse("  42  ").map(Pid::get), Some(42));
        for bad in [
            "",
            "\n",
            "0",
            "-5",
            "+5",
            "abc",
            "12a",
            "2147483648",
            "99999999999999999999",
            "1 2",
        ] {
            assert_eq!(Pid::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn liveness_of_self_dead_child_zombie_and_bad_pids() {
        assert!(alive(std::process::id() as i64));
        assert!(!alive(0));
        assert!(!alive(-1));
        assert!(!alive(i32::MAX as i64 + 1));
        assert!(!alive(u32::MAX as i64));
        // A real child: a zombie until reaped, dead after.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i64;
        // Wait until it has exited but do not reap it: waitid with WNOWAIT.
        wait_exited_unreaped(pid);
        assert!(!alive(pid), "a zombie holds nothing and is not alive");
        child.wait().unwrap();
        assert!(!alive(pid), "a reaped child is dead");
    }

    /// Block until child `pid` has exited, without reaping it (it stays a zombie).
    pub(crate) fn wait_exited_unreaped(pid: i64) {
        use rustix::process::{waitid, WaitId, WaitIdOptions};
        let pid = Pid::new(pid).unwrap().rustix();
        waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        )
        .unwrap();
    }

    #[test]
    fn cache_never_outlives_the_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i64;
        for _ in 0..5 {
            assert!(alive(pid), "checked repeatedly: the cached pidfd answers");
        }
        child.kill().unwrap();
        wait_exited_unreaped(pid);
        assert!(!alive(pid), "a zombie is dead even with a cached pidfd");
        child.wait().unwrap();
        assert!(!alive(pid));
    }

    #[test]
    fn fast_and_slow_paths_agree() {
        let me = Pid::new(i64::from(std::process::id())).unwrap();
        assert!(me.alive_not_exiting());
        assert_eq!(me.is_alive(), me.alive_not_exiting());
        // pid 2 is kthreadd in the root pid namespace: a kernel thread has no mm, so the fast
        // path answers EINVAL and the slow path must still say alive.
        if std::fs::read_to_string("/proc/2/comm")
            .map(|c| c.trim() == "kthreadd")
            .unwrap_or(false)
        {
            assert!(alive(2));
        }
    }

    /// `Pid::is_alive` run by an unprivileged user about a live process of another user: `kill(pid,
    /// 0)` answers `EPERM` there, which must read as alive. Run as root (as CI is), the test runs
    /// itself again as uid 65534 through `setpriv`, from a copy of the test binary that user may
    /// execute, against this (root) process; run as another user, it checks pid 1 directly.
    #[test]
    fn eperm_is_alive() {
        let unprivileged_check = |target: i64| {
            let errno = rustix::process::test_kill_process(Pid::new(target).unwrap().rustix());
            assert_eq!(
                errno,
                Err(rustix::io::Errno::PERM),
                "kill({target}, 0) must be EPERM here"
            );
            assert!(alive(target), "EPERM means alive");
            assert!(Pid::new(target).unwrap().alive_not_exiting());
        };
        if let Ok(target) = std::env::var("SOLE_EPERM_TARGET") {
            return unprivileged_check(target.parse().unwrap());
        }
        if !rustix::process::geteuid().is_root() {
            return unprivileged_check(1);
        }
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let exe = dir.path().join("procid-tests");
        std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&exe)
            .args(["--exact", "pid::tests::eperm_is_alive", "--test-threads=1"])
            .env("SOLE_EPERM_TARGET", std::process::id().to_string())
            .current_dir(dir.path())
            .output()
            .expect("setpriv (util-linux) runs the check as uid 65534");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "the check as uid 65534 failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
