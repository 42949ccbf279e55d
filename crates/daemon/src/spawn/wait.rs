//! Steps 2 and 5 of the start sequence, on the caller's side: fork, then wait for the one
//! answer (failure report, readiness, the daemon's exit, the caller's timeout or abort), then
//! end and reap the intermediate process.
//!
//! Races closed here:
//! - **Signalling a recycled pid**: the unready daemon is killed through a pidfd opened after
//!   its pid arrived and checked against the status pipe: the intermediate process holds the
//!   daemon's zombie (`WNOWAIT`) until after it wrote `S`, so if no `S` was readable after the
//!   pidfd was opened, the pidfd names the daemon.
//! - **"Exec succeeded" vs "died before exec"**: both close the error pipe's last write end.
//!   EOF with nothing written counts as an exec only while the daemon is still alive (its
//!   pidfd not readable); otherwise the `S` record that follows says how it died.
//! - **A rejected start leaving a daemon behind**: after a timeout, an abort or `ERRNO=`, the
//!   daemon is SIGKILLed and its death awaited (the `S` record) before the promise settles,
//!   so "rejected" means "not running" (unless `killOnTimeout: false`). `ERRNO=` can come
//!   over the notify socket before the intermediate process's `P` record: the pid is awaited
//!   first, or the daemon could not be killed.
//! - **A stopped intermediate process holding the answer forever**: after the start ended
//!   (timeout, abort, `ERRNO=`), the daemon's pid (`P`) and death (`S`) are read from the
//!   intermediate process. If it does not answer within [`INTERMEDIATE_GRACE`] (someone
//!   SIGSTOPped it, or a debugger holds it), it is continued (SIGCONT), and if it still does not
//!   answer, killed (SIGKILL: it is this process's unreaped child, so its pid cannot have been
//!   reused); the pipe's end then ends the wait, so a rejected start always settles.
//! - **Resolving for a dead daemon**: a daemon known to be dead (its `S` record, or its pidfd)
//!   is a startup failure even if it sent `READY=1` first; and a daemon that dies after its
//!   intermediate process was killed (no `S` record will come) is seen through its pidfd,
//!   instead of a busy poll on that readable pidfd until the timeout.
//!
//! The protocol is model-checked in `models/daemon.pml`.
//!
//! Test: `__test__/daemon.spec.ts`.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags};
use rustix::fs::OFlags;
use rustix::io::Errno;
use rustix::process::{Pid as RPid, PidfdFlags, Signal, WaitOptions};
use sole_error::{Error, Kind, Result};
use sole_pidfile::State;

use super::child::{self, Code};
use super::prepare::daemon_error;
use super::sys;
use super::{Prepared, Readiness, Started, Stop, StopReason};
use crate::receiver::Receiver;

/// How long the intermediate process may take to answer once the start has ended, before it
/// is continued (SIGCONT) and then, after as long again, killed (see the module doc).
const INTERMEDIATE_GRACE: Duration = Duration::from_millis(1000);

/// How many of the last lines of the daemon's stderr file a startup failure quotes.
const STDERR_LINES: usize = 10;
/// How many bytes from the end of the stderr file are read for them.
const STDERR_TAIL_BYTES: u64 = 8192;

impl Prepared {
    /// Fork and wait (see the module doc). Blocks the calling thread until the daemon is ready
    /// (per its [`Readiness`]), failed, or `stop` ended the start. The caller must keep this
    /// thread alive until it returns: the intermediate process dies with it
    /// (`PR_SET_PDEATHSIG`).
    pub fn run(self, stop: &Stop) -> Result<Started> {
        let Prepared {
            plan,
            err_r,
            status_r,
            receiver,
            name,
            pidfile,
            stderr_path,
            readiness,
            kill_on_timeout,
            uid,
        } = self;
        // Every signal blocked across the fork (see `sys::block_all`).
        let old = sys::block_all();
        let forked = sys::fork();
        if let Ok(sys::Forked::Child) = forked {
            child::intermediate(&plan);
        }
        sys::set_mask(&old);
        let inter = match forked {
            Ok(sys::Forked::Parent(pid)) => pid,
            Ok(sys::Forked::Child) => unreachable!("the child never returns"),
            Err(e) => {
                return Err(daemon_error(
                    &name,
                    "setup",
                    format!("cannot start daemon {name}: fork failed: {e}. Too many processes, or out of memory?"),
                )
                .with_errno(e.raw_os_error().unwrap_or(0)))
            }
        };
        // The children's descriptors (pipe write ends, stdio files, the pidfile) are closed in
        // this process now: its copy of the pidfile must not keep the daemon's lock alive, and
        // its copy of the error pipe must not hide the EOF that says "exec succeeded".
        drop(plan);
        for fd in [&err_r, &status_r] {
            let _ = rustix::fs::fcntl_setfl(fd, OFlags::NONBLOCK);
        }
        let mut w = Watch {
            inter: RPid::from_raw(inter),
            nudged: 0,
            name,
            pidfile,
            stderr_path,
            err_r,
            status_r,
            receiver,
            uid,
            err_buf: Vec::new(),
            err_eof: false,
            st_buf: Vec::new(),
            st_eof: false,
            pid: None,
            pidfd: None,
            exit: None,
            status: None,
            ready: false,
            errno: None,
        };
        let result = w.wait(readiness, kill_on_timeout, stop);
        // End the intermediate process (its job is done: the daemon is ready, or dead, or
        // left running by `killOnTimeout: false`) and reap it.
        if let Some(p) = RPid::from_raw(inter) {
            let _ = rustix::process::kill_process(p, Signal::KILL);
            while let Err(Errno::INTR) = rustix::process::waitpid(Some(p), WaitOptions::empty()) {}
        }
        result
    }
}

/// How the daemon ended, from the `S` record.
#[derive(Debug, Clone, Copy)]
enum Exit {
    Code(i32),
    Signal(i32),
}

struct Watch {
    /// The intermediate process: this process's child, not reaped before the wait returns.
    inter: Option<RPid>,
    /// How often the intermediate process was nudged for not answering (1: SIGCONT, 2: SIGKILL).
    nudged: u8,
    name: String,
    pidfile: Option<std::path::PathBuf>,
    stderr_path: Option<std::path::PathBuf>,
    err_r: OwnedFd,
    status_r: OwnedFd,
    receiver: Option<Receiver>,
    uid: u32,
    err_buf: Vec<u8>,
    err_eof: bool,
    st_buf: Vec<u8>,
    st_eof: bool,
    pid: Option<i32>,
    pidfd: Option<OwnedFd>,
    exit: Option<Exit>,
    status: Option<String>,
    ready: bool,
    errno: Option<i32>,
}

/// Read what is available from a non-blocking pipe into `buf`; `true` at end of file.
fn drain(fd: &OwnedFd, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    loop {
        match rustix::io::read(fd, &mut chunk) {
            Ok(0) => return true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return false,
            Err(_) => return true,
        }
    }
}

impl Watch {
    fn wait(
        &mut self,
        readiness: Readiness,
        kill_on_timeout: bool,
        stop: &Stop,
    ) -> Result<Started> {
        loop {
            self.read_all();
            if self.err_eof && !self.err_buf.is_empty() {
                return Err(self.report());
            }
            if let Some(errno) = self.errno {
                // ERRNO= can arrive before the intermediate process's `P` record (the daemon
                // runs as soon as it is forked): without its pid it could not be killed, and
                // a rejected start would leave it running with the pidfile.
                self.await_pid();
                self.kill_and_wait();
                return Err(self
                    .startup_error(&format!(
                        "reported failure ERRNO={errno} ({}) before it was ready",
                        std::io::Error::from_raw_os_error(errno)
                    ))
                    .with_errno(errno));
            }
            if let Some(how) = self.death(stop) {
                // Dead, with a report on the error pipe: that report is the answer even before
                // the pipe's EOF (it is written in one write before the daemon exits; the EOF
                // can lag while another start's freshly forked child still holds a copy of
                // the write end, until it closes the descriptors it inherited). What it wrote
                // or sent just before it died is read once more first.
                self.read_all();
                if !self.err_buf.is_empty() {
                    return Err(self.report());
                }
                // Dead even if it reported ready: the start must not resolve for a daemon that
                // is known not to be running.
                let when = match (self.ready, self.errno) {
                    (_, Some(e)) => format!(
                        "after it reported failure ERRNO={e} ({})",
                        std::io::Error::from_raw_os_error(e)
                    ),
                    (true, None) => "after it reported ready (READY=1), before the start returned; it is not running".to_string(),
                    (false, None) => "before it was ready".to_string(),
                };
                let e = self.startup_error(&format!("{how} {when}"));
                return Err(match self.errno {
                    Some(errno) => e.with_errno(errno),
                    None => e,
                });
            }
            if let Some(pid) = self.pid {
                let started = Started {
                    pid,
                    status: self.status.clone(),
                };
                let exec_done = self.err_eof && self.err_buf.is_empty() && self.alive();
                match readiness {
                    Readiness::None => return Ok(started),
                    Readiness::Exec if exec_done => return Ok(started),
                    Readiness::Notify if self.ready => return Ok(started),
                    _ => {}
                }
            } else if self.st_eof {
                return Err(daemon_error(
                    &self.name,
                    "setup",
                    format!("cannot start daemon {}: the intermediate process ended before it reported the daemon's pid (killed? out of memory?)", self.name),
                ));
            }
            if let Some((reason, waited)) = stop.reason() {
                return Err(self.stopped(reason, waited, kill_on_timeout));
            }
            self.poll(stop);
        }
    }

    /// Block until a pipe, the notify socket, the pidfd or `stop` has something.
    fn poll(&self, stop: &Stop) {
        let none = PollFlags::empty();
        let inn = PollFlags::IN;
        let mut fds = vec![
            PollFd::new(&self.err_r, if self.err_eof { none } else { inn }),
            PollFd::new(&self.status_r, if self.st_eof { none } else { inn }),
            PollFd::new(&stop.fd, inn),
        ];
        if let Some(r) = &self.receiver {
            fds.push(PollFd::from_borrowed_fd(r.as_fd(), inn));
        }
        // After the error pipe's EOF the daemon's death is what is awaited (for the exec
        // readiness): its pidfd becomes readable when it exits.
        if let Some(p) = &self.pidfd {
            if self.err_eof {
                fds.push(PollFd::new(p, inn));
            }
        }
        let _ = poll(&mut fds, None);
    }

    fn read_all(&mut self) {
        // The status pipe first: its `S` is written after both write ends of the error pipe
        // are closed, so once `S` is read, the error pipe read next shows its whole report and
        // EOF. (The other order could see `S` before a report that was already there, and
        // call a refused claim a startup failure.)
        if !self.st_eof {
            self.read_status();
        }
        if !self.err_eof {
            self.err_eof = drain(&self.err_r, &mut self.err_buf);
        }
        if let Some(r) = &self.receiver {
            if let Ok(messages) = r.drain(self.uid) {
                for m in messages {
                    if m.status.is_some() {
                        self.status = m.status.clone();
                    }
                    if let Some(e) = m.errno {
                        self.errno.get_or_insert(e);
                    }
                    if m.ready {
                        self.ready = true;
                    }
                }
            }
        }
    }

    /// The `P` and `S` records (see `child.rs`).
    fn parse_status(&mut self) {
        let mut i = 0;
        while i < self.st_buf.len() {
            match self.st_buf[i] {
                child::TAG_PID if self.st_buf.len() >= i + 5 => {
                    let pid =
                        i32::from_le_bytes(self.st_buf[i + 1..i + 5].try_into().expect("4 bytes"));
                    self.pid = Some(pid);
                    // Opened before the next read of the pipe: see the module doc.
                    self.pidfd = RPid::from_raw(pid)
                        .and_then(|p| rustix::process::pidfd_open(p, PidfdFlags::empty()).ok());
                    i += 5;
                }
                child::TAG_STATUS if self.st_buf.len() >= i + 6 => {
                    let value =
                        i32::from_le_bytes(self.st_buf[i + 2..i + 6].try_into().expect("4 bytes"));
                    self.exit = Some(if self.st_buf[i + 1] == child::HOW_KILLED {
                        Exit::Signal(value)
                    } else {
                        Exit::Code(value)
                    });
                    // The daemon is dead: its pidfd must not be used to signal anything.
                    self.pidfd = None;
                    i += 6;
                }
                _ => break,
            }
        }
        self.st_buf.drain(..i);
        if self.pidfd.is_some() && self.exit.is_none() {
            // An `S` written before the pidfd was opened means the pidfd may name another
            // process: read once more now that it is open.
            let mut more = Vec::new();
            if drain(&self.status_r, &mut more) {
                self.st_eof = true;
            }
            if !more.is_empty() {
                self.st_buf.extend_from_slice(&more);
                self.parse_status();
            }
        }
    }

    /// How the daemon died, if it is known to be dead: from the intermediate process's `S`
    /// record, or from its pidfd. A pidfd that says "dead" before the `S` record came waits
    /// for that record (the intermediate process waits on the daemon and writes it at once);
    /// if the intermediate process was killed, no record will come and how it died is unknown.
    /// Without this look at the pidfd, a daemon that died after its intermediate process was
    /// killed left the wait polling a readable pidfd in a busy loop until the timeout.
    /// Test: `__test__/daemon.spec.ts` ("intermediate process killed").
    fn death(&mut self, stop: &Stop) -> Option<String> {
        if self.exit.is_none() {
            if self.pid.is_none() || self.pidfd.is_none() || self.alive() {
                return None;
            }
            while self.exit.is_none() && !self.st_eof && stop.reason().is_none() {
                self.await_status(stop);
            }
        }
        Some(match self.exit {
            Some(Exit::Code(c)) => format!("exited with code {c}"),
            Some(Exit::Signal(s)) => format!(
                "was killed by {}",
                sole_procid::signal_name(s).unwrap_or_else(|| format!("signal {s}"))
            ),
            None => {
                "died (how is unknown: the intermediate process that reports its exit was killed)"
                    .to_string()
            }
        })
    }

    /// Read the status pipe and parse what came.
    fn read_status(&mut self) {
        self.st_eof = drain(&self.status_r, &mut self.st_buf);
        self.parse_status();
    }

    /// Block until the status pipe has something or `stop` fires, then read it.
    fn await_status(&mut self, stop: &Stop) {
        let mut fds = [
            PollFd::new(&self.status_r, PollFlags::IN),
            PollFd::new(&stop.fd, PollFlags::IN),
        ];
        let _ = poll(&mut fds, None);
        self.read_status();
    }

    /// Wait for the intermediate process's next record (or its pipe's end) once the start has
    /// ended, at most [`INTERMEDIATE_GRACE`] at a time: an intermediate process that does not
    /// answer is continued (SIGCONT), then killed, so this never blocks for ever (module doc).
    /// Test: `__test__/daemon.spec.ts` ("intermediate process stopped").
    fn await_intermediate(&mut self) {
        let mut fds = [PollFd::new(&self.status_r, PollFlags::IN)];
        let grace = rustix::event::Timespec {
            tv_sec: INTERMEDIATE_GRACE.as_secs() as _,
            tv_nsec: INTERMEDIATE_GRACE.subsec_nanos() as _,
        };
        if let (Ok(0), Some(inter)) = (poll(&mut fds, Some(&grace)), self.inter) {
            self.nudged += 1;
            let sig = if self.nudged == 1 {
                Signal::CONT
            } else {
                Signal::KILL
            };
            let _ = rustix::process::kill_process(inter, sig);
        }
        self.read_status();
    }

    /// Wait for the daemon's pid (the intermediate process writes `P` right after the fork),
    /// or for the status pipe's end if the intermediate process died first (or was killed for
    /// not answering: [`Watch::await_intermediate`]).
    fn await_pid(&mut self) {
        while self.pid.is_none() && !self.st_eof {
            self.await_intermediate();
        }
    }

    /// Is the daemon still running (its pidfd not readable)?
    fn alive(&self) -> bool {
        let Some(p) = &self.pidfd else {
            // No pidfd (a kernel without pidfd_open, or out of descriptors): alive until the
            // intermediate process says otherwise.
            return self.exit.is_none();
        };
        let mut fds = [PollFd::new(p, PollFlags::IN)];
        matches!(
            poll(
                &mut fds,
                Some(&rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: 0
                })
            ),
            Ok(0)
        )
    }

    /// SIGKILL the daemon (through its pidfd) and wait for the intermediate process to report
    /// its death.
    fn kill_and_wait(&mut self) {
        match (&self.pidfd, self.pid.and_then(RPid::from_raw)) {
            (Some(p), _) => {
                let _ = rustix::process::pidfd_send_signal(p, Signal::KILL);
            }
            // Without a pidfd, by pid, and only while the intermediate process runs and has
            // not reported an exit: it holds the daemon's zombie until then, so the pid cannot
            // have been reused.
            (None, Some(pid)) if self.exit.is_none() && !self.st_eof => {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
            _ => {}
        }
        while self.exit.is_none() && !self.st_eof && self.pid.is_some() {
            self.await_intermediate();
        }
        // The intermediate process is gone (killed) and reported nothing: the pidfd says when
        // the SIGKILL took effect.
        if self.exit.is_none() {
            if let Some(p) = &self.pidfd {
                let mut fds = [PollFd::new(p, PollFlags::IN)];
                let _ = poll(&mut fds, None);
            }
        }
    }

    fn stopped(&mut self, reason: StopReason, waited: Option<Duration>, kill: bool) -> Error {
        // A stop that comes before the daemon's pid must still reach the daemon: the
        // intermediate process may have forked it already. Its `P` record (or the pipe's end,
        // if it died first) comes at once.
        self.await_pid();
        let who = match self.pid {
            Some(pid) => format!("daemon {} (PID {pid})", self.name),
            None => format!("daemon {}", self.name),
        };
        let unknown;
        let fate = if kill && self.pid.is_some() {
            self.kill_and_wait();
            "; it was killed (SIGKILL)"
        } else if self.pid.is_some() {
            "; it was left running (killOnTimeout: false)"
        } else if self.nudged >= 2 {
            // The intermediate process never said whether it forked the daemon.
            unknown = format!(
                "; its intermediate process did not answer (stopped?) and was killed, so whether the daemon started is unknown{}",
                self.pidfile
                    .as_ref()
                    .map(|p| format!(": readPidfile({}) names it if it runs", p.display()))
                    .unwrap_or_default()
            );
            unknown.as_str()
        } else {
            ""
        };
        let last = self
            .status
            .as_ref()
            .map(|s| format!(" Its last status: {s}."))
            .unwrap_or_default();
        let e = match reason {
            StopReason::Timeout => Error::new(
                Kind::TimedOut,
                format!(
                    "{who} did not report ready (READY=1){}{fate}.{last} Check that it calls daemonReady() (or sd_notify READY=1), or raise timeoutMs.",
                    waited.map(|d| format!(" within {} ms", d.as_millis())).unwrap_or_default()
                ),
            ),
            StopReason::Abort => Error::new(Kind::Cancelled, format!("the start of {who} was aborted{fate}.")),
        };
        let e = e.with_detail("command", self.name.as_str());
        match self.pid {
            Some(pid) => e.with_pid(pid),
            None => e,
        }
    }

    /// The error for a failure the daemon or the intermediate process reported on the pipe.
    fn report(&self) -> Error {
        let code = Code::from_byte(self.err_buf[0]);
        let errno = self
            .err_buf
            .get(1..5)
            .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")))
            .unwrap_or(0);
        let step = String::from_utf8_lossy(self.err_buf.get(5..).unwrap_or_default()).into_owned();
        let os = std::io::Error::from_raw_os_error(errno);
        let name = &self.name;
        let e = match code {
            Some(Code::Held) => {
                let path = Path::new(&step);
                return match sole_pidfile::read(path) {
                    Ok(State::Held { pid, .. }) => sole_pidfile::held_error(path, pid),
                    _ => Error::new(
                        Kind::Held,
                        format!("{step} was held by another process when daemon {name} tried to claim it, and is free now: start again."),
                    )
                    .with_path(path),
                };
            }
            Some(Code::Exec) => daemon_error(
                name,
                "exec",
                format!(
                    "cannot start daemon {name}: cannot execute {step}: {}",
                    match errno {
                        libc::ENOENT => "the file, or the interpreter its #! line names, does not exist".to_string(),
                        libc::EACCES => "permission denied (no execute permission for the daemon's user, or a noexec mount)".to_string(),
                        _ => os.to_string(),
                    }
                ),
            )
            .with_path(Path::new(&step)),
            Some(Code::Privileges) => daemon_error(
                name,
                "setup",
                format!("cannot start daemon {name}: cannot drop privileges ({step}): {os}"),
            ),
            Some(Code::Setup) | None => daemon_error(
                name,
                "setup",
                format!("cannot start daemon {name}: {step}: {os}"),
            ),
        };
        let e = e.with_errno(errno);
        match &self.pidfile {
            Some(p) if step.contains("pidfile") => e.with_path(p),
            _ => e,
        }
    }

    /// `EDAEMON` `stage: startup`: the daemon ran but `what` (exited, was killed, reported
    /// ERRNO=) before READY=1; with its exit, last status and the last lines of its stderr.
    fn startup_error(&self, what: &str) -> Error {
        let pid = self.pid.unwrap_or(0);
        let mut msg = format!("daemon {} (PID {pid}) {what}.", self.name);
        if let Some(s) = &self.status {
            msg.push_str(&format!(" Its last status: {s}."));
        }
        let tail = self.stderr_path.as_deref().and_then(stderr_tail);
        match (&tail, &self.stderr_path) {
            (Some(t), Some(p)) => msg.push_str(&format!(
                " The last lines of its stderr ({}):\n{t}",
                p.display()
            )),
            _ => msg.push_str(" Give it a stderr file (stderr option) to see why."),
        }
        let mut e = daemon_error(&self.name, "startup", msg).with_pid(pid);
        match self.exit {
            Some(Exit::Code(c)) => e = e.with_detail("exitCode", c),
            Some(Exit::Signal(s)) => {
                e = e.with_detail(
                    "signal",
                    sole_procid::signal_name(s).unwrap_or_else(|| s.to_string()),
                )
            }
            None => {}
        }
        if let Some(s) = &self.status {
            e = e.with_detail("status", s.as_str());
        }
        if let Some(t) = tail {
            e = e.with_detail("stderr", t);
        }
        e
    }
}

/// The last [`STDERR_LINES`] non-empty lines of the file at `path` (read from its last
/// [`STDERR_TAIL_BYTES`] bytes), or `None`.
fn stderr_tail(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = sole_lock::fs::open(path, OFlags::RDONLY | OFlags::NONBLOCK, 0).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(STDERR_TAIL_BYTES)))
        .ok()?;
    let mut buf = Vec::new();
    f.take(STDERR_TAIL_BYTES).read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return None;
    }
    Some(lines[lines.len().saturating_sub(STDERR_LINES)..].join("\n"))
}
