//! The code that runs between `fork` and `execve`: the intermediate process and the daemon.
//!
//! Why here, and why so plain: the caller is multi-threaded (Node's V8 and libuv threads). A
//! forked child has one thread, but inherits every lock another thread held at the instant of
//! the fork, the allocator's included; so until `execve` (or `_exit`) the child may only make
//! async-signal-safe calls. Everything that allocates (paths, argv, envp, the supplementary
//! group list, the record's boot id) was prepared by `super::prepare` before the first fork.
//! This module only makes raw system calls (rustix's Linux backend, and `super::sys`), formats
//! into buffers on its stack, and never returns: every path ends in `execve` or `_exit`.
//!
//! The pipe protocol (to the caller, on the CLOEXEC error pipe): one code byte ([`Code`]),
//! then the message: the OS error number (4 bytes, little-endian) and the failed step as UTF-8
//! text. It is written in one `write` (under `PIPE_BUF`, so atomic). End of file with nothing
//! written means `execve` succeeded: the pipe's last write end closed with the exec.
//!
//! The status pipe (from the intermediate process only): `P` + the daemon's pid (4 bytes),
//! then, if the daemon exits while the intermediate process still runs, `S` + how: `E` + exit
//! code or `K` + signal number (4 bytes).
//!
//! Test: `__test__/daemon.spec.ts` (the daemon's state read from /proc: session, tty, cwd,
//! umask, descriptors, signal masks, ids after a drop; each failure's stage and message).

use std::ffi::CString;
use std::fmt::Write as _;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{FlockOperation, Mode, OFlags, XattrFlags};
use rustix::io::{Errno, FdFlags};
use rustix::process::{Pid as RPid, Signal, WaitId, WaitIdOptions};
use rustix::thread::{Gid, Uid};

use super::sys::{self, Ptrs};

/// The code byte of a failure report (sysexits-style numbers, as the classic daemonizers use;
/// they are also the child's exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Code {
    /// A step of the start sequence failed (`EX_OSERR`): stage `setup`.
    Setup = 71,
    /// The user or group could not be taken (`EX_NOPERM`): stage `setup`.
    Privileges = 77,
    /// The pidfile is held by another process (`EX_TEMPFAIL`): `EHELD`.
    Held = 75,
    /// `execve` failed: stage `exec` (126, as shells report "found but cannot execute").
    Exec = 126,
}

impl Code {
    pub(super) fn from_byte(b: u8) -> Option<Code> {
        [Code::Setup, Code::Privileges, Code::Held, Code::Exec]
            .into_iter()
            .find(|c| *c as u8 == b)
    }
}

/// The status pipe's record tags.
pub(super) const TAG_PID: u8 = b'P';
pub(super) const TAG_STATUS: u8 = b'S';
pub(super) const HOW_EXITED: u8 = b'E';
pub(super) const HOW_KILLED: u8 = b'K';

/// The pidfile as the daemon claims it.
pub(super) struct PidfilePlan {
    /// Opened (and checked: regular file, no symlink) by the caller, CLOEXEC.
    pub fd: OwnedFd,
    /// The absolute path, to check that it still names the locked file.
    pub path: CString,
    /// This boot's id, for the identity record.
    pub boot_id: String,
}

/// The privilege drop: supplementary groups, then gid, then uid (each before the next loses
/// the right to set it).
pub(super) struct DropPlan {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<Gid>,
}

/// Everything the children need, prepared before the first fork.
pub(super) struct ChildPlan {
    /// The caller's pid: the intermediate process exits if its parent is already gone.
    pub caller: i32,
    pub err_w: OwnedFd,
    pub status_w: OwnedFd,
    /// `/dev/null` for stdin, and the stdout/stderr files (or `/dev/null`), all CLOEXEC and
    /// numbered 3 or above so that `dup2` onto 0–2 can never overwrite one of them.
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    pub pidfile: Option<PidfilePlan>,
    pub umask: u32,
    pub drop: Option<DropPlan>,
    pub cwd: CString,
    pub file: CString,
    pub argv: Ptrs,
    pub envp: Ptrs,
    /// `/bin/sh FILE ARGS…`, for a file the kernel cannot execute (`ENOEXEC`), as `execvp`.
    pub shell: CString,
    pub shell_argv: Ptrs,
    /// The mask the daemon execs with (empty).
    pub empty_mask: libc::sigset_t,
    /// The strings `argv`, `envp` and `shell_argv` point into (kept alive with them).
    #[allow(dead_code)] // owned only, never read: the pointers above point into it
    pub strings: [Vec<CString>; 3],
}

/// A byte buffer on the stack that `write!` can fill without allocating.
struct StackBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackBuf<N> {
    fn new() -> Self {
        StackBuf {
            buf: [0; N],
            len: 0,
        }
    }
    fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(N - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }
    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> std::fmt::Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.len + s.len() > N {
            return Err(std::fmt::Error);
        }
        self.push(s.as_bytes());
        Ok(())
    }
}

/// Report a failure on the error pipe and exit with its code.
fn fail(plan: &ChildPlan, code: Code, errno: i32, step: &[&[u8]]) -> ! {
    let mut msg = StackBuf::<1024>::new();
    msg.push(&[code as u8]);
    msg.push(&errno.to_le_bytes());
    for part in step {
        msg.push(part);
    }
    let _ = rustix::io::write(&plan.err_w, msg.bytes());
    sys::exit(code as i32)
}

fn raw(e: Errno) -> i32 {
    e.raw_os_error()
}

/// The intermediate process (child of the first fork). Closes: "the daemon is the caller's
/// child" (a new session, so no terminal signal and no job control reaches it), "a daemon
/// that is a session leader acquires a terminal by opening one" (the daemon is forked again
/// below, so it is not the leader), and "the daemon died before it was ready and nobody knows
/// its exit code" (this process stays the daemon's parent until the caller has its answer,
/// and reports how the daemon ended).
pub(super) fn intermediate(plan: &ChildPlan) -> ! {
    // Dies with the caller's thread: a caller that crashes mid-start must not leave this copy
    // of its address space behind. If the caller is already gone, the request came too late.
    let _ = rustix::process::set_parent_process_death_signal(Some(Signal::KILL));
    if rustix::process::getppid().map(|p| p.as_raw_nonzero().get()) != Some(plan.caller) {
        sys::exit(1);
    }
    // Every descriptor of the caller's (Node's sockets, pipes, files being written) is closed
    // here, not at the daemon's exec: this process lives until the daemon is ready, and a copy
    // it kept would hold a pipe's EOF back from its reader, a port, or a file open for writing
    // (`ETXTBSY` for whoever executes it) for that long.
    // The same for the caller's standard streams (a pipe to `| cat` would not see EOF): /dev/null.
    if let Err(errno) = close_others(plan) {
        fail(
            plan,
            Code::Setup,
            errno,
            &[b"close inherited descriptors (close_range needs Linux 5.9)"],
        );
    }
    let nulled = rustix::stdio::dup2_stdin(&plan.stdin)
        .and_then(|()| rustix::stdio::dup2_stdout(&plan.stdin))
        .and_then(|()| rustix::stdio::dup2_stderr(&plan.stdin));
    if let Err(e) = nulled {
        fail(plan, Code::Setup, raw(e), &[b"redirect stdio (dup2)"]);
    }
    if let Err(e) = rustix::process::setsid() {
        fail(plan, Code::Setup, raw(e), &[b"setsid"]);
    }
    let daemon = match sys::fork() {
        Err(e) => fail(plan, Code::Setup, e.raw_os_error().unwrap_or(0), &[b"fork"]),
        Ok(sys::Forked::Child) => daemon(plan),
        Ok(sys::Forked::Parent(pid)) => pid,
    };
    let mut rec = [0u8; 5];
    rec[0] = TAG_PID;
    rec[1..].copy_from_slice(&daemon.to_le_bytes());
    let _ = rustix::io::write(&plan.status_w, &rec);
    // This process's copies must not keep the pipe open past the daemon's exec (EOF is the
    // success signal), nor the pidfile's lock past the daemon's death: close them now.
    for fd in [&plan.err_w, &plan.stdin, &plan.stdout, &plan.stderr] {
        sys::close(fd);
    }
    if let Some(p) = &plan.pidfile {
        sys::close(&p.fd);
    }
    // Wait for the daemon's end *without reaping it* (WNOWAIT): its pid stays reserved (a
    // zombie) until this process exits, which is after the caller has read the `S` record, so
    // the caller's pidfd, opened after the `P` record and checked against `S`, can never name
    // a recycled pid.
    let Some(daemon_pid) = RPid::from_raw(daemon) else {
        sys::exit(1)
    };
    let status = loop {
        match rustix::process::waitid(
            WaitId::Pid(daemon_pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        ) {
            Ok(Some(s)) => break s,
            Ok(None) | Err(Errno::INTR) => continue,
            Err(_) => sys::exit(1),
        }
    };
    let (how, value) = match (status.exit_status(), status.terminating_signal()) {
        (Some(code), _) => (HOW_EXITED, code),
        (None, Some(sig)) => (HOW_KILLED, sig),
        (None, None) => (HOW_EXITED, -1),
    };
    let mut rec = [0u8; 6];
    rec[0] = TAG_STATUS;
    rec[1] = how;
    rec[2..].copy_from_slice(&value.to_le_bytes());
    let _ = rustix::io::write(&plan.status_w, &rec);
    sys::exit(0)
}

/// Close every descriptor above 2 except the plan's own (no allocation: the kept numbers are
/// sorted in an array on the stack, and the gaps between them closed).
fn close_others(plan: &ChildPlan) -> Result<(), i32> {
    use std::os::fd::AsRawFd;
    let mut keep = [u32::MAX; 7];
    let fds = [
        Some(&plan.err_w),
        Some(&plan.status_w),
        Some(&plan.stdin),
        Some(&plan.stdout),
        Some(&plan.stderr),
        plan.pidfile.as_ref().map(|p| &p.fd),
    ];
    for (slot, fd) in keep.iter_mut().zip(fds) {
        if let Some(fd) = fd {
            *slot = fd.as_raw_fd() as u32;
        }
    }
    keep.sort_unstable();
    let mut next = 3u32;
    for k in keep {
        if k == u32::MAX {
            break;
        }
        if k >= next {
            sys::close_range(next, k - 1)?;
            next = k + 1;
        }
    }
    sys::close_range(next, u32::MAX)
}

/// The daemon (child of the second fork): set up, claim the pidfile, drop privileges, exec.
/// Each step says which race or inheritance it closes.
fn daemon(plan: &ChildPlan) -> ! {
    // Files it creates get the configured umask, not the caller's.
    rustix::process::umask(Mode::from_raw_mode(plan.umask));

    // stdin from /dev/null, stdout/stderr to their files: nothing of the caller's terminal or
    // pipes stays reachable (a daemon writing to a closed terminal gets SIGHUP/EIO; one
    // holding the caller's stdout pipe keeps the caller's reader waiting for EOF forever).
    let redirected = rustix::stdio::dup2_stdin(&plan.stdin)
        .and_then(|()| rustix::stdio::dup2_stdout(&plan.stdout))
        .and_then(|()| rustix::stdio::dup2_stderr(&plan.stderr));
    if let Err(e) = redirected {
        fail(plan, Code::Setup, raw(e), &[b"redirect stdio (dup2)"]);
    }

    // The pidfile, claimed by the daemon itself, before privileges are dropped (the file may
    // be in a directory only the caller can write).
    if let Some(p) = &plan.pidfile {
        claim(plan, p);
    }

    if let Some(d) = &plan.drop {
        drop_privileges(plan, d);
    }

    // After the drop, so the daemon's user needs the right to enter its directory.
    if let Err(e) = rustix::process::chdir(plan.cwd.as_c_str()) {
        fail(
            plan,
            Code::Setup,
            raw(e),
            &[b"change directory to ", plan.cwd.as_bytes()],
        );
    }

    // Signals: the dispositions Node set (SIGPIPE ignored, handlers) back to the defaults.
    // The mask is still "all blocked" (inherited from the forking thread, so that no signal
    // could run Node's handler in this process): it is emptied just before the exec below.
    sys::default_dispositions();

    // Every inherited descriptor except 0–2 and the pidfile's is closed by the exec: Node's
    // epoll fd, its sockets, other libraries' files and the caller's pipes must not live on in
    // the daemon (a leaked listening socket keeps a port busy; a leaked lock is held forever).
    let keep = plan.pidfile.as_ref().map(|p| {
        use std::os::fd::AsRawFd;
        p.fd.as_raw_fd() as u32
    });
    let marked = match keep {
        Some(k) => {
            sys::cloexec_range(3, k.saturating_sub(1)).and(sys::cloexec_range(k + 1, u32::MAX))
        }
        None => sys::cloexec_range(3, u32::MAX),
    };
    if let Err(errno) = marked {
        fail(
            plan,
            Code::Setup,
            errno,
            &[b"mark inherited descriptors close-on-exec (close_range needs Linux 5.11)"],
        );
    }
    if let Some(p) = &plan.pidfile {
        // The claim's descriptor crosses the exec: the daemon holds its own pidfile.
        if let Err(e) = rustix::io::fcntl_setfd(&p.fd, FdFlags::empty()) {
            fail(
                plan,
                Code::Setup,
                raw(e),
                &[b"keep the pidfile open across exec"],
            );
        }
    }

    sys::set_mask(&plan.empty_mask);
    let errno = sys::execve(plan.file.as_c_str(), &plan.argv, &plan.envp);
    if errno == libc::ENOEXEC {
        // execvp(3): a file without a #! line that the kernel refuses is run by the shell.
        let _ = sys::execve(plan.shell.as_c_str(), &plan.shell_argv, &plan.envp);
    }
    // Block again so that no signal can arrive between here and the report.
    let _ = sys::block_all();
    fail(plan, Code::Exec, errno, &[plan.file.as_bytes()])
}

/// sole's claim, made by the daemon: exclusive flock (never wait: a held pidfile is a
/// refusal), check that the path still names the locked file (a pidfile replaced between the
/// caller's open and this lock would be a lock nobody else can see), then truncate, write
/// `PID\n`, the identity record, and fsync, all under the lock.
fn claim(plan: &ChildPlan, p: &PidfilePlan) {
    match rustix::fs::flock(&p.fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => fail(plan, Code::Held, 0, &[p.path.as_bytes()]),
        Err(e) => fail(
            plan,
            Code::Setup,
            raw(e),
            &[b"lock the pidfile ", p.path.as_bytes()],
        ),
    }
    let same = match (
        rustix::fs::fstat(&p.fd),
        rustix::fs::lstat(p.path.as_c_str()),
    ) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    };
    if !same {
        fail(
            plan,
            Code::Setup,
            libc::ESTALE,
            &[b"claim the pidfile (it was replaced or removed while the daemon locked it; start again) ", p.path.as_bytes()],
        );
    }
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    let mut line = StackBuf::<16>::new();
    let _ = writeln!(line, "{pid}");
    let written = rustix::fs::ftruncate(&p.fd, 0)
        .and_then(|()| rustix::io::pwrite(&p.fd, line.bytes(), 0))
        .map(|_| ());
    if let Err(e) = written {
        fail(
            plan,
            Code::Setup,
            raw(e),
            &[b"write the pidfile ", p.path.as_bytes()],
        );
    }
    // The identity record (best effort, as every claim: a filesystem without user xattrs has
    // none). The start time is this process's own, read from /proc/self/stat.
    if let Some(start) = own_start_time() {
        let mut rec = StackBuf::<256>::new();
        if sole_procid::identity::write_record(&mut rec, pid, start, &p.boot_id, true).is_ok() {
            let _ = rustix::fs::fsetxattr(
                &p.fd,
                sole_pidfile::RECORD_XATTR,
                rec.bytes(),
                XattrFlags::empty(),
            );
        }
    }
    if let Err(e) = rustix::fs::fsync(&p.fd) {
        fail(
            plan,
            Code::Setup,
            raw(e),
            &[b"fsync the pidfile ", p.path.as_bytes()],
        );
    }
}

/// This process's start time (field 22 of /proc/self/stat), read into a stack buffer.
fn own_start_time() -> Option<u64> {
    let fd = rustix::fs::open(
        c"/proc/self/stat",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let mut buf = [0u8; 2048];
    let mut len = 0;
    while len < buf.len() {
        match rustix::io::read(fd.as_fd(), &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(Errno::INTR) => continue,
            Err(_) => return None,
        }
    }
    sole_procid::proc::Stat::parse(&buf[..len]).map(|s| s.start_time)
}

/// Supplementary groups, then the gid, then the uid; then prove the uid cannot be taken back.
fn drop_privileges(plan: &ChildPlan, d: &DropPlan) {
    if let Err(e) = rustix::thread::set_thread_groups(&d.groups) {
        fail(plan, Code::Privileges, raw(e), &[b"setgroups"]);
    }
    if let Err(e) = rustix::thread::set_thread_gid(Gid::from_raw(d.gid)) {
        fail(plan, Code::Privileges, raw(e), &[b"setgid"]);
    }
    if let Err(e) = rustix::thread::set_thread_uid(Uid::from_raw(d.uid)) {
        fail(plan, Code::Privileges, raw(e), &[b"setuid"]);
    }
    let ok = rustix::process::getuid().as_raw() == d.uid
        && rustix::process::geteuid().as_raw() == d.uid
        && rustix::process::getgid().as_raw() == d.gid
        && rustix::process::getegid().as_raw() == d.gid
        && (d.uid == 0 || rustix::thread::set_thread_uid(Uid::ROOT).is_err());
    if !ok {
        fail(
            plan,
            Code::Privileges,
            libc::EPERM,
            &[b"verify the dropped ids"],
        );
    }
}
