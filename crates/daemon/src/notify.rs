//! The daemon's side of the sd_notify protocol: tell whoever started this process that it is
//! ready (`READY=1`), what it is doing (`STATUS=…`), that it is stopping or reloading, that it
//! failed (`ERRNO=`), or that it is alive (`WATCHDOG=1`).
//!
//! Why native: the protocol is one datagram on an `AF_UNIX` `SOCK_DGRAM` socket named by
//! `$NOTIFY_SOCKET`, and Node's `dgram` has no Unix datagram sockets; the npm `sd-notify`
//! package needs libsystemd and node-gyp. This module speaks the protocol itself, so the same
//! program works unchanged under systemd `Type=notify`, under `start-stop-daemon
//! --notify-await`, and under sole's own `spawnDaemon` (whose receiver is [`crate::receiver`]).
//!
//! The race it closes: a service manager must know *which process* said `READY=1`, or any
//! process that can reach the socket could declare the service ready (or failed) before the
//! daemon is. The kernel attaches the sender's credentials (`SCM_CREDENTIALS`: pid, uid, gid)
//! to every datagram when the receiver asked for them (`SO_PASSCRED`), and refuses forged
//! ones from an unprivileged sender; we also attach our own explicitly, as `sd_notify` does, so
//! a receiver that looks at the ancillary data always finds them. The receiver then filters
//! by uid (and systemd by cgroup/pid), which only works because the credentials cannot lie.
//!
//! A second hazard is a receiver that stops reading: a Unix datagram socket holds only
//! `net.unix.max_dgram_qlen` (often 10) unread datagrams, and a blocking send to a full queue
//! waits forever, hanging the daemon on a status update. Sends here wait at most
//! [`SEND_TIMEOUT`] (`SO_SNDTIMEO`), then fail with `EAGAIN` saying so.
//!
//! Tests: `tests::*` below: the datagram format, a python3 receiver (an implementation nobody
//! here wrote) checking the text and the credentials, abstract sockets, the environment read
//! in a child process, every error, and a full queue.

use std::ffi::OsStr;
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use rustix::io::Errno;
use rustix::net::{
    sendmsg_addr, sockopt, AddressFamily, SendAncillaryBuffer, SendAncillaryMessage, SendFlags,
    SocketAddrUnix, SocketFlags, SocketType, UCred,
};
use sole_error::{Error, Kind, Result};
use sole_procid::Pid;

/// The largest datagram the protocol carries: systemd reads at most 4096 bytes
/// (`NOTIFY_BUFFER_MAX`) and ignores a longer datagram entirely, so [`format`] refuses to
/// build one and [`crate::receiver`] ignores one.
pub const DATAGRAM_MAX: usize = 4096;

/// How long a send waits for room in a receiver's full queue before failing with `EAGAIN`:
/// long enough for a busy service manager to catch up, short enough that a receiver that
/// stopped reading cannot hang the daemon. Test: `tests::a_full_queue_fails_instead_of_hanging`.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// What one notification says: the fields of `notify({ … })`, each an sd_notify assignment.
/// Why a struct and not free text: every field is validated here (a newline in `status`
/// would inject another assignment, an errno of 70000 is not an errno), so a daemon cannot
/// send a datagram systemd would misread. Test: `tests::format_*`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Fields {
    /// `READY=1`: start-up is finished.
    pub ready: bool,
    /// `STATUS=…`: one line of free text (no newline, no NUL).
    pub status: Option<String>,
    /// `STOPPING=1`: the daemon is shutting down.
    pub stopping: bool,
    /// `RELOADING=1` plus `MONOTONIC_USEC=` (now on `CLOCK_MONOTONIC`, which systemd 253 and
    /// later require to accept the reload), to be followed by `READY=1` when done.
    pub reloading: bool,
    /// `WATCHDOG=1` (a keep-alive ping) or `WATCHDOG=trigger` (fail as if it had timed out).
    pub watchdog: Option<Watchdog>,
    /// `ERRNO=n`: the daemon failed with this errno (0..=4095).
    pub errno: Option<i32>,
    /// `MAINPID=n`: the main process is now this pid (a valid pid).
    pub mainpid: Option<i32>,
    /// `EXTEND_TIMEOUT_USEC=n`: ask for `n` more microseconds before the start, stop or
    /// reload timeout.
    pub extend_timeout_us: Option<u64>,
}

/// The two watchdog messages. Test: `tests::format_writes_every_field`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watchdog {
    /// `WATCHDOG=1`: still alive; send more often than [`watchdog_interval`].
    Ping,
    /// `WATCHDOG=trigger`: act as if the watchdog timed out (the manager restarts the service).
    Trigger,
}

/// The datagram text: newline-separated `KEY=VALUE` assignments, sd_notify's format, in a
/// fixed order (`MAINPID`, `STATUS`, `ERRNO`, `EXTEND_TIMEOUT_USEC`, `RELOADING` with
/// `MONOTONIC_USEC`, `STOPPING`, `READY`, `WATCHDOG`), no trailing newline.
/// `EINVAL` (with `argument`) when nothing is set, when `status` has a newline or NUL, when
/// `errno` is outside 0..=4095 or the datagram would exceed [`DATAGRAM_MAX`];
/// `EINVALIDPID` for a `mainpid` that is not a pid.
/// Test: `tests::format_writes_every_field`, `tests::format_refuses_what_systemd_would_misread`.
pub fn format(fields: &Fields) -> Result<String> {
    let mut lines: Vec<String> = Vec::new();
    if let Some(pid) = fields.mainpid {
        lines.push(format!("MAINPID={}", Pid::from_i32(pid)?));
    }
    if let Some(status) = &fields.status {
        if let Some(bad) = status.chars().find(|c| matches!(c, '\n' | '\r' | '\0')) {
            return Err(Error::invalid_argument(
                "status",
                format!(
                    "status must be one line of text, but it contains {bad:?}: sd_notify separates assignments with newlines, so a line break would be read as another assignment. Replace line breaks with spaces, or send each line as its own status."
                ),
            ));
        }
        lines.push(format!("STATUS={status}"));
    }
    if let Some(errno) = fields.errno {
        if !(0..=4095).contains(&errno) {
            return Err(Error::invalid_argument(
                "errno",
                format!("errno must be an integer from 0 to 4095 (an errno number, e.g. 2 for ENOENT), not {errno}."),
            ));
        }
        lines.push(format!("ERRNO={errno}"));
    }
    if let Some(us) = fields.extend_timeout_us {
        lines.push(format!("EXTEND_TIMEOUT_USEC={us}"));
    }
    if fields.reloading {
        lines.push("RELOADING=1".into());
        lines.push(format!("MONOTONIC_USEC={}", monotonic_us()));
    }
    if fields.stopping {
        lines.push("STOPPING=1".into());
    }
    if fields.ready {
        lines.push("READY=1".into());
    }
    match fields.watchdog {
        Some(Watchdog::Ping) => lines.push("WATCHDOG=1".into()),
        Some(Watchdog::Trigger) => lines.push("WATCHDOG=trigger".into()),
        None => {}
    }
    if lines.is_empty() {
        return Err(Error::invalid_argument(
            "fields",
            "nothing to notify: set at least one of ready, status, stopping, reloading, watchdog, errno, mainpid or extendTimeoutUs.",
        ));
    }
    let text = lines.join("\n");
    if text.len() > DATAGRAM_MAX {
        return Err(Error::invalid_argument(
            "status",
            format!(
                "the notification is {} bytes, but an sd_notify datagram is at most {DATAGRAM_MAX} bytes (systemd ignores longer ones): shorten status.",
                text.len()
            ),
        ));
    }
    Ok(text)
}

/// `CLOCK_MONOTONIC` now, in microseconds (systemd's `MONOTONIC_USEC` for `RELOADING=1`).
fn monotonic_us() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (now.tv_sec as u64) * 1_000_000 + (now.tv_nsec as u64) / 1_000
}

/// Send `fields` to `$NOTIFY_SOCKET`, as `sd_notify(0, …)` does. `Ok(false)`, and nothing
/// sent, when `NOTIFY_SOCKET` is unset or empty (the process was not started by a manager that
/// listens), so a daemon can call it unconditionally. The fields are validated first either
/// way, so a bad call fails the same with and without a manager.
///
/// Also `Ok(false)` when nobody listens at `NOTIFY_SOCKET` any more (`ENOENT`: the socket is
/// gone; `ECONNREFUSED`: it is closed): a manager that stopped listening is not the daemon's
/// failure. That is the normal case for a daemon `spawnDaemon` started: sole listens until the
/// daemon is ready, then removes its socket, so a later `notify({ stopping: true })` is
/// delivered to nobody and returns `false` instead of throwing in the daemon's shutdown path.
/// Test: `tests::notify_reads_the_environment` (in a child process),
/// `tests::notify_to_a_gone_listener_is_false`.
pub fn notify(fields: &Fields) -> Result<bool> {
    let text = format(fields)?;
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(socket) if !socket.is_empty() => {
            match send(&socket, text.as_bytes(), "NOTIFY_SOCKET", SEND_TIMEOUT) {
                Ok(()) => Ok(true),
                Err(e) if nobody_listens(&e) => Ok(false),
                Err(e) => Err(e),
            }
        }
        _ => Ok(false),
    }
}

/// A send error that only means "no listener at that address" (see [`notify`]).
fn nobody_listens(e: &Error) -> bool {
    matches!(e.errno(), Some(libc::ENOENT) | Some(libc::ECONNREFUSED))
}

/// Send `fields` to the socket `socket`: an absolute filesystem path, or `@name` for the
/// abstract socket `name` (the two forms `NOTIFY_SOCKET` takes). Errors name the socket and
/// say what to do. Test: `tests::python_receives_text_and_credentials`,
/// `tests::abstract_sockets`, `tests::errors_name_the_socket`.
pub fn notify_to(socket: &OsStr, fields: &Fields) -> Result<()> {
    let text = format(fields)?;
    send(socket, text.as_bytes(), "socket", SEND_TIMEOUT)
}

/// The address of a `NOTIFY_SOCKET` value; `argument` names where it came from in errors.
fn address(socket: &OsStr, argument: &str) -> Result<SocketAddrUnix> {
    let bytes = socket.as_bytes();
    let shown = socket.to_string_lossy();
    let invalid = |why: &str| {
        Error::invalid_argument(argument, format!("NOTIFY_SOCKET={shown}: {why}"))
            .with_path(Path::new(socket))
    };
    if let Some(name) = bytes.strip_prefix(b"@") {
        if name.is_empty() {
            return Err(invalid("an abstract socket needs a name after '@'."));
        }
        return SocketAddrUnix::new_abstract_name(name).map_err(|_| {
            invalid("the abstract socket name is longer than 107 bytes, the limit of a Unix socket address.")
        });
    }
    if bytes.starts_with(b"vsock:") {
        return Err(invalid("vsock notify sockets (a service manager outside a virtual machine) are not supported; only Unix socket paths and @abstract names are."));
    }
    if !bytes.starts_with(b"/") {
        return Err(invalid("the socket must be an absolute path or an @abstract name; a relative path would depend on the current directory."));
    }
    SocketAddrUnix::new(bytes).map_err(|_| {
        invalid(&format!(
            "the path is {} bytes, longer than the 108 bytes a Unix socket address holds: use a shorter path.",
            bytes.len()
        ))
    })
}

/// One datagram `text` to `socket`, with our credentials, waiting at most `timeout` for room.
///
/// No `connect`: `sendmsg` with the address, as `sd_notify` does, on a fresh `CLOEXEC` socket
/// (so a concurrent fork+exec never inherits it) that is closed on return.
fn send(socket: &OsStr, text: &[u8], argument: &str, timeout: Duration) -> Result<()> {
    let addr = address(socket, argument)?;
    let shown = socket.to_string_lossy();
    let path = Path::new(socket);
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| {
        os_error(
            e,
            format!("cannot create a socket to notify NOTIFY_SOCKET={shown}"),
            path,
        )
    })?;
    sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, Some(timeout)).map_err(|e| {
        os_error(
            e,
            format!("cannot set the send timeout for NOTIFY_SOCKET={shown}"),
            path,
        )
    })?;

    let ucred = UCred {
        pid: rustix::process::getpid(),
        uid: rustix::process::getuid(),
        gid: rustix::process::getgid(),
    };
    let mut with_creds = true;
    loop {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmCredentials(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if with_creds {
            control.push(SendAncillaryMessage::ScmCredentials(ucred));
        }
        match sendmsg_addr(
            &fd,
            &addr,
            &[IoSlice::new(text)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Ok(n) if n == text.len() => return Ok(()),
            Ok(n) => {
                return Err(Error::new(
                    Kind::Os(libc::EMSGSIZE),
                    format!(
                        "NOTIFY_SOCKET={shown} accepted only {n} of {} bytes of the notification.",
                        text.len()
                    ),
                )
                .with_path(path))
            }
            Err(Errno::INTR) => continue,
            // The kernel refuses explicit credentials it cannot verify (e.g. ids that do not
            // map into a user namespace); sd_notify then sends without them, and so do we: the
            // kernel still attaches the true ones for a receiver with SO_PASSCRED.
            Err(Errno::PERM) if with_creds => with_creds = false,
            Err(e) => return Err(send_error(e, &shown, path, timeout)),
        }
    }
}

/// The error of a failed send, saying what it means for a notify socket and what to do.
fn send_error(e: Errno, shown: &str, path: &Path, timeout: Duration) -> Error {
    let why = match e {
        Errno::CONNREFUSED => format!(
            "nobody is listening at NOTIFY_SOCKET={shown}: the service manager that set it closed the socket (it exited, or stopped listening once this daemon was ready). Unset NOTIFY_SOCKET if this process is not run by a service manager."
        ),
        Errno::NOENT => format!(
            "there is no socket at NOTIFY_SOCKET={shown}: the service manager that set it is gone, or the variable was inherited from another service. Unset NOTIFY_SOCKET if this process is not run by a service manager."
        ),
        Errno::ACCESS | Errno::PERM => format!(
            "this process (uid {}) may not send to NOTIFY_SOCKET={shown}: check the permissions of the socket and its directory (a daemon that drops privileges needs a socket its new user can write).",
            rustix::process::getuid().as_raw()
        ),
        Errno::AGAIN => format!(
            "the receiver at NOTIFY_SOCKET={shown} did not read its queue within {} ms (it is not reading notifications): the notification was not sent.",
            timeout.as_millis()
        ),
        Errno::PROTOTYPE => format!(
            "NOTIFY_SOCKET={shown} is not a datagram socket: sd_notify needs a SOCK_DGRAM socket."
        ),
        Errno::NOTDIR => format!("a component of NOTIFY_SOCKET={shown} is not a directory."),
        _ => format!("cannot notify NOTIFY_SOCKET={shown}"),
    };
    os_error(e, why, path)
}

/// An OS error as sole's [`Error`]: the errno's code, `why` and the OS's wording.
fn os_error(e: Errno, why: String, path: &Path) -> Error {
    let err = std::io::Error::from(e);
    Error::new(Kind::Os(e.raw_os_error()), format!("{why} ({err})")).with_path(path)
}

/// The watchdog interval systemd asks this process to ping within (`WatchdogSec=`): the
/// process should send `WATCHDOG=1` about every half of it. `Some` when `WATCHDOG_USEC` is a
/// positive integer and `WATCHDOG_PID` is unset or this process's pid (a child that inherited
/// its parent's environment is not the one being watched). Test:
/// `tests::watchdog_interval_rules`, `tests::notify_reads_the_environment` (the environment,
/// in a child process).
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_interval_from(
        std::env::var_os("WATCHDOG_USEC").as_deref(),
        std::env::var_os("WATCHDOG_PID").as_deref(),
        rustix::process::getpid().as_raw_nonzero().get(),
    )
}

/// [`watchdog_interval`]'s rule on given values (so it is tested without touching the test
/// process's environment): `usec` decimal digits only, 1..u64::MAX (systemd's infinity is not
/// an interval); `pid` absent, or decimal digits equal to `me`. Test:
/// `tests::watchdog_interval_rules`.
pub fn watchdog_interval_from(
    usec: Option<&OsStr>,
    pid: Option<&OsStr>,
    me: i32,
) -> Option<Duration> {
    let digits = |v: &OsStr| -> Option<u64> {
        let b = v.as_bytes();
        if b.is_empty() || b.len() > 20 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(b).ok()?.parse().ok()
    };
    let us = digits(usec?)?;
    if us == 0 || us == u64::MAX {
        return None;
    }
    if let Some(pid) = pid {
        if digits(pid)? != u64::try_from(me).ok()? {
            return None;
        }
    }
    Some(Duration::from_micros(us))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::python;
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    fn einval_argument(e: &Error) -> Option<String> {
        assert_eq!(e.kind(), Kind::InvalidArgument, "{e:?}");
        e.details()
            .iter()
            .find(|(k, _)| *k == "argument")
            .map(|(_, v)| match v {
                sole_error::Detail::Str(s) => s.clone(),
                other => format!("{other:?}"),
            })
    }

    #[test]
    fn format_writes_every_field() {
        let f = Fields {
            ready: true,
            status: Some("serving on :80 — ünïcode".into()),
            ..Fields::default()
        };
        assert_eq!(
            format(&f).unwrap(),
            "STATUS=serving on :80 — ünïcode\nREADY=1"
        );

        let all = Fields {
            ready: true,
            status: Some("s".into()),
            stopping: true,
            reloading: false,
            watchdog: Some(Watchdog::Trigger),
            errno: Some(2),
            mainpid: Some(4242),
            extend_timeout_us: Some(5_000_000),
        };
        assert_eq!(
            format(&all).unwrap(),
            "MAINPID=4242\nSTATUS=s\nERRNO=2\nEXTEND_TIMEOUT_USEC=5000000\nSTOPPING=1\nREADY=1\nWATCHDOG=trigger"
        );
        let ping = Fields {
            watchdog: Some(Watchdog::Ping),
            ..Fields::default()
        };
        assert_eq!(format(&ping).unwrap(), "WATCHDOG=1");

        // RELOADING=1 carries now on CLOCK_MONOTONIC, in microseconds.
        let before = monotonic_us();
        let text = format(&Fields {
            reloading: true,
            ..Fields::default()
        })
        .unwrap();
        let after = monotonic_us();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("RELOADING=1"));
        let us: u64 = lines
            .next()
            .unwrap()
            .strip_prefix("MONOTONIC_USEC=")
            .unwrap()
            .parse()
            .unwrap();
        assert!(before <= us && us <= after, "{before} <= {us} <= {after}");
        // The same clock as /proc/uptime's (CLOCK_BOOTTIME >= CLOCK_MONOTONIC), in µs not ms.
        let uptime: f64 = std::fs::read_to_string("/proc/uptime")
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (us as f64) <= uptime * 1e6 + 1e6,
            "{us} µs vs uptime {uptime} s"
        );

        // The round trip through the receiver's parser.
        let m = crate::receiver::parse(format(&all).unwrap().as_bytes());
        assert!(m.ready && m.stopping && !m.reloading);
        assert_eq!(
            (m.status.as_deref(), m.errno, m.mainpid, m.extend_timeout_us),
            (Some("s"), Some(2), Some(4242), Some(5_000_000))
        );
    }

    #[test]
    fn format_refuses_what_systemd_would_misread() {
        let e = format(&Fields::default()).unwrap_err();
        assert_eq!(einval_argument(&e).as_deref(), Some("fields"));
        assert!(e.message().contains("nothing to notify"), "{}", e.message());

        for bad in ["two\nlines", "cr\rhere", "nul\0byte", "READY=1\nSTATUS=x"] {
            let e = format(&Fields {
                status: Some(bad.into()),
                ..Fields::default()
            })
            .unwrap_err();
            assert_eq!(einval_argument(&e).as_deref(), Some("status"), "{bad:?}");
        }
        for bad in [-1, 4096, i32::MAX, i32::MIN] {
            let e = format(&Fields {
                errno: Some(bad),
                ..Fields::default()
            })
            .unwrap_err();
            assert_eq!(einval_argument(&e).as_deref(), Some("errno"), "{bad}");
            assert!(e.message().contains(&bad.to_string()));
        }
        for ok in [0, 4095] {
            assert_eq!(
                format(&Fields {
                    errno: Some(ok),
                    ..Fields::default()
                })
                .unwrap(),
                format!("ERRNO={ok}")
            );
        }
        for bad in [0, -1, i32::MIN] {
            let e = format(&Fields {
                mainpid: Some(bad),
                ..Fields::default()
            })
            .unwrap_err();
            assert_eq!(e.kind(), Kind::InvalidPid, "{bad}");
        }
        // The datagram limit: exactly 4096 bytes passes, one more does not.
        let fits = "x".repeat(DATAGRAM_MAX - "STATUS=".len());
        assert_eq!(
            format(&Fields {
                status: Some(fits.clone()),
                ..Fields::default()
            })
            .unwrap()
            .len(),
            DATAGRAM_MAX
        );
        let e = format(&Fields {
            status: Some(fits + "x"),
            ..Fields::default()
        })
        .unwrap_err();
        assert_eq!(einval_argument(&e).as_deref(), Some("status"));
        assert!(e.message().contains("4097 bytes"), "{}", e.message());
    }

    /// A python3 receiver: binds `addr` (a path, or "\0name"), SO_PASSCRED on, prints "bound",
    /// then prints the ucred and the text of one datagram as JSON.
    fn python_receiver(addr: &str) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
        let script = r#"
import json, socket, struct, sys
addr = sys.argv[1]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(addr)
print("bound", flush=True)
msg, anc, flags, _ = s.recvmsg(8192, socket.CMSG_SPACE(12))
creds = [struct.unpack("iII", d) for (l, t, d) in anc if l == socket.SOL_SOCKET and t == socket.SCM_CREDENTIALS]
print(json.dumps({"text": msg.decode(), "creds": creds}), flush=True)
"#;
        let mut child = Command::new(python())
            .args(["-c", script, addr])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs (an independent sd_notify receiver)");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "bound", "python3 could not bind {addr}");
        (child, out)
    }

    fn read_json_line(out: &mut BufReader<std::process::ChildStdout>) -> String {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        line
    }

    #[test]
    fn python_receives_text_and_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("notify");
        let (mut child, mut out) = python_receiver(sock.to_str().unwrap());
        notify_to(
            sock.as_os_str(),
            &Fields {
                ready: true,
                status: Some("up".into()),
                ..Fields::default()
            },
        )
        .unwrap();
        let line = read_json_line(&mut out);
        assert!(child.wait().unwrap().success());
        let me = std::process::id();
        let uid = rustix::process::getuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        assert_eq!(
            line.trim(),
            format!(r#"{{"text": "STATUS=up\nREADY=1", "creds": [[{me}, {uid}, {gid}]]}}"#)
        );
    }

    #[test]
    fn abstract_sockets() {
        let name = format!("sole-test-notify-{}-{}", std::process::id(), monotonic_us());
        let (mut child, mut out) = python_receiver(&format!("@{name}"));
        notify_to(
            OsStr::new(&format!("@{name}")),
            &Fields {
                ready: true,
                ..Fields::default()
            },
        )
        .unwrap();
        let line = read_json_line(&mut out);
        assert!(child.wait().unwrap().success());
        assert!(line.contains(r#""text": "READY=1""#), "{line}");
        assert!(
            line.contains(&format!("[[{}, ", std::process::id())),
            "{line}"
        );
        // Nobody has that name any more: refused, naming it.
        let e = notify_to(
            OsStr::new(&format!("@{name}")),
            &Fields {
                ready: true,
                ..Fields::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.kind(), Kind::Os(libc::ECONNREFUSED));
        assert!(
            e.message().contains(&format!("NOTIFY_SOCKET=@{name}")),
            "{}",
            e.message()
        );
    }

    #[test]
    fn errors_name_the_socket() {
        let ready = Fields {
            ready: true,
            ..Fields::default()
        };
        let dir = tempfile::tempdir().unwrap();

        let missing = dir.path().join("missing");
        let e = notify_to(missing.as_os_str(), &ready).unwrap_err();
        assert_eq!(e.kind(), Kind::Os(libc::ENOENT));
        assert_eq!(e.path(), Some(missing.as_path()));
        assert!(
            e.message().contains("there is no socket at NOTIFY_SOCKET="),
            "{}",
            e.message()
        );

        // A socket file whose owner closed it: the path exists, nobody listens.
        let closed = dir.path().join("closed");
        {
            let s = std::os::unix::net::UnixDatagram::bind(&closed).unwrap();
            drop(s);
        }
        let e = notify_to(closed.as_os_str(), &ready).unwrap_err();
        assert_eq!(e.kind(), Kind::Os(libc::ECONNREFUSED));
        assert!(
            e.message().contains("nobody is listening"),
            "{}",
            e.message()
        );

        // A stream socket is not an sd_notify socket.
        let stream = dir.path().join("stream");
        let _l = std::os::unix::net::UnixListener::bind(&stream).unwrap();
        let e = notify_to(stream.as_os_str(), &ready).unwrap_err();
        assert_eq!(e.kind(), Kind::Os(libc::EPROTOTYPE), "{e:?}");

        for (bad, says) in [
            ("relative/notify", "absolute path"),
            ("@", "needs a name"),
            ("vsock:2:1234", "vsock"),
        ] {
            let e = notify_to(OsStr::new(bad), &ready).unwrap_err();
            assert_eq!(einval_argument(&e).as_deref(), Some("socket"), "{bad}");
            assert!(
                e.message().contains(says) && e.message().contains(bad),
                "{}",
                e.message()
            );
        }
        let long = format!("/{}", "x".repeat(120));
        let e = notify_to(OsStr::new(&long), &ready).unwrap_err();
        assert!(e.message().contains("121 bytes"), "{}", e.message());
        let e = notify_to(OsStr::new(&format!("@{}", "x".repeat(120))), &ready).unwrap_err();
        assert!(
            e.message().contains("longer than 107 bytes"),
            "{}",
            e.message()
        );
        // Invalid fields fail before any socket is touched.
        let e = notify_to(missing.as_os_str(), &Fields::default()).unwrap_err();
        assert_eq!(e.kind(), Kind::InvalidArgument);
    }

    #[test]
    fn a_full_queue_fails_instead_of_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("never-read");
        let _receiver = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
        let limit = Duration::from_millis(200);
        let mut sent = 0;
        let err = loop {
            let started = std::time::Instant::now();
            match send(sock.as_os_str(), b"STATUS=flood", "socket", limit) {
                Ok(()) => sent += 1,
                Err(e) => break (e, started.elapsed()),
            }
            assert!(sent < 100_000, "a never-read socket never filled up");
        };
        let (e, waited) = err;
        assert!(sent >= 1, "the first datagrams fit the queue");
        assert_eq!(e.kind(), Kind::Os(libc::EAGAIN), "{e:?}");
        assert!(
            e.message().contains("did not read its queue within 200 ms"),
            "{}",
            e.message()
        );
        assert!(
            waited >= limit && waited < limit * 10,
            "waited {waited:?} for a {limit:?} bound"
        );
    }

    #[test]
    fn watchdog_interval_rules() {
        let o = |s: &'static str| Some(OsStr::new(s));
        assert_eq!(
            watchdog_interval_from(o("30000000"), None, 7),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            watchdog_interval_from(o("1"), o("7"), 7),
            Some(Duration::from_micros(1))
        );
        assert_eq!(
            watchdog_interval_from(o("30000000"), o("8"), 7),
            None,
            "another process's watchdog"
        );
        assert_eq!(watchdog_interval_from(None, o("7"), 7), None);
        for bad in [
            "",
            "0",
            "-5",
            "+5",
            " 5",
            "5s",
            "1e6",
            "18446744073709551615",
            "99999999999999999999999",
        ] {
            assert_eq!(watchdog_interval_from(o(bad), None, 7), None, "{bad:?}");
        }
        for bad in ["", "x", "-7", "07x"] {
            assert_eq!(
                watchdog_interval_from(o("5"), o(bad), 7),
                None,
                "pid {bad:?}"
            );
        }
        assert_eq!(
            watchdog_interval_from(o("18446744073709551614"), None, 7),
            Some(Duration::from_micros(u64::MAX - 1))
        );
    }

    /// Run one test of this binary in a child process with `env` (so the test process's own
    /// environment is never changed while other tests run), returning its stdout.
    fn in_child(test: &str, env: &[(&str, &OsStr)], remove: &[&str]) -> String {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", test, "--test-threads=1", "--nocapture"])
            .env("SOLE_NOTIFY_CHILD", "1");
        for k in remove {
            cmd.env_remove(k);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "child {test} failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("1 passed"),
            "the child ran no test: {stdout}"
        );
        stdout
    }

    /// The child half of `notify_reads_the_environment`: runs only in the child process.
    #[test]
    fn child_reads_environment() {
        if std::env::var_os("SOLE_NOTIFY_CHILD").is_none() {
            return; // not the child: the parent test below runs this in a child process
        }
        let fields = Fields {
            ready: true,
            status: Some("from env".into()),
            ..Fields::default()
        };
        let sent = notify(&fields).unwrap();
        let expect_sent = std::env::var_os("NOTIFY_SOCKET").is_some_and(|s| !s.is_empty());
        assert_eq!(sent, expect_sent);
        assert!(
            notify(&Fields::default()).is_err(),
            "fields are validated with or without a socket"
        );
        println!(
            "child pid={} watchdog={:?}",
            std::process::id(),
            watchdog_interval()
        );
        // WATCHDOG_PID naming this very process: this child is alone, so changing its own
        // environment races with nothing.
        std::env::set_var("WATCHDOG_PID", std::process::id().to_string());
        println!("own-pid watchdog={:?}", watchdog_interval());
    }

    #[test]
    fn notify_reads_the_environment() {
        if std::env::var_os("SOLE_NOTIFY_CHILD").is_some() {
            return;
        }
        let test = "notify::tests::child_reads_environment";
        // Unset and empty NOTIFY_SOCKET: Ok(false), nothing sent; no WATCHDOG_USEC: None.
        let out = in_child(
            test,
            &[],
            &["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"],
        );
        assert!(
            out.contains("watchdog=None") && out.contains("own-pid watchdog=None"),
            "{out}"
        );
        in_child(test, &[("NOTIFY_SOCKET", OsStr::new(""))], &[]);

        // Set: the datagram reaches sole's receiver with the child's pid; WATCHDOG_PID=1 is
        // another process, so the interval is None until WATCHDOG_PID names the child.
        let receiver = crate::receiver::Receiver::new(None).unwrap();
        let out = in_child(
            test,
            &[
                ("NOTIFY_SOCKET", receiver.path().as_os_str()),
                ("WATCHDOG_USEC", OsStr::new("2500000")),
                ("WATCHDOG_PID", OsStr::new("1")),
            ],
            &[],
        );
        assert!(out.contains("watchdog=None"), "{out}");
        assert!(out.contains("own-pid watchdog=Some(2.5s)"), "{out}");
        let pid: i32 = out
            .split("child pid=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let got = receiver.drain(rustix::process::getuid().as_raw()).unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].pid, pid);
        assert!(got[0].ready);
        assert_eq!(got[0].status.as_deref(), Some("from env"));
    }

    #[test]
    fn notify_to_a_gone_listener_is_false() {
        // What notify() does with these errors: a removed socket (ENOENT) and a socket file
        // nobody has open (ECONNREFUSED) mean "nobody listens" (false); others stay errors.
        let fields = Fields {
            stopping: true,
            ..Fields::default()
        };
        let r = crate::receiver::Receiver::new(None).unwrap();
        let path = r.path().to_path_buf();
        drop(r);
        let e = notify_to(path.as_os_str(), &fields).unwrap_err();
        assert!(nobody_listens(&e), "{e:?}");
        let d = tempfile::tempdir().unwrap();
        let closed = d.path().join("closed");
        drop(std::os::unix::net::UnixDatagram::bind(&closed).unwrap());
        let e = notify_to(closed.as_os_str(), &fields).unwrap_err();
        assert!(nobody_listens(&e), "{e:?}");
        let e = notify_to(OsStr::new("relative/path"), &fields).unwrap_err();
        assert!(!nobody_listens(&e), "{e:?}");
    }

    #[test]
    fn start_stop_daemon_accepts_ready() {
        // start-stop-daemon --notify-await is a receiver nobody here wrote: it starts this test
        // binary in the background (the child half below sends READY=1 with notify()) and
        // exits 0 only once it received READY=1; otherwise it times out and fails. It matches
        // by the pidfile only (--startas), as --exec would find this very test process.
        if std::env::var_os("SOLE_NOTIFY_CHILD").is_some() {
            return;
        }
        let ssd = ["/usr/sbin/start-stop-daemon", "/sbin/start-stop-daemon"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("start-stop-daemon (dpkg) is installed: the issue names it as an independent receiver");
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child.pid");
        let out = Command::new(ssd)
            .args([
                "--start",
                "--background",
                "--notify-await",
                "--notify-timeout",
                "20",
            ])
            .arg("--pidfile")
            .arg(&pidfile)
            .arg("--make-pidfile")
            .arg("--startas")
            .arg(std::env::current_exe().unwrap())
            .args([
                "--",
                "--exact",
                "notify::tests::child_ssd_ready",
                "--test-threads=1",
            ])
            .env("SOLE_NOTIFY_CHILD", "ssd")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "start-stop-daemon did not receive READY=1 ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(pid > 1);
    }

    /// The child half of `start_stop_daemon_accepts_ready`.
    #[test]
    fn child_ssd_ready() {
        if std::env::var_os("SOLE_NOTIFY_CHILD").as_deref() != Some(OsStr::new("ssd")) {
            return;
        }
        let sent = notify(&Fields {
            ready: true,
            status: Some("ssd".into()),
            ..Fields::default()
        })
        .unwrap();
        assert!(sent, "start-stop-daemon sets NOTIFY_SOCKET");
    }
}
