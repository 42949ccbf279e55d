//! Step 1 of the start sequence: everything that allocates, looks something up or can fail
//! for a reason the caller can fix, done on the caller's thread before any process exists.
//!
//! Why before the fork: between `fork` and `execve` the child may not allocate (see
//! `child.rs`), and a failure found here costs no process and touches no pidfile ("command not
//! found" never claims or empties anyone's pidfile).
//!
//! Test: `super::tests::*` (what is refused before a fork); `__test__/daemon.spec.ts`.

use std::ffi::{CString, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;
use rustix::pipe::{pipe_with, PipeFlags};
use rustix::thread::Gid;
use sole_error::{Error, Kind, Result};
use sole_lock::{fs, open, OpenOptions};
use sole_pidfile::{Program, State};

use super::child::{ChildPlan, DropPlan, PidfilePlan};
use super::sys::{self, Ptrs};
use super::{Principal, Readiness, SpawnOptions};
use crate::receiver::Receiver;

/// Variables of the caller's own supervisor that must not reach the daemon: inherited, a
/// daemon would report its readiness to the caller's systemd as if it were the caller.
const SUPERVISOR_VARS: &[&str] = &["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// The mode of stdout/stderr files sole creates (group may read the logs).
const LOG_MODE: u32 = 0o640;

/// A start, prepared: run it with [`Prepared::run`] on the thread that should wait.
pub struct Prepared {
    pub(super) plan: ChildPlan,
    pub(super) err_r: OwnedFd,
    pub(super) status_r: OwnedFd,
    pub(super) receiver: Option<Receiver>,
    /// The command as the caller gave it, for messages.
    pub(super) name: String,
    pub(super) pidfile: Option<PathBuf>,
    pub(super) stderr_path: Option<PathBuf>,
    pub(super) readiness: Readiness,
    pub(super) kill_on_timeout: bool,
    /// The daemon's uid: the only sender whose notify messages count.
    pub(super) uid: u32,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("command", &self.name)
            .field("pidfile", &self.pidfile)
            .field("readiness", &self.readiness)
            .finish_non_exhaustive()
    }
}

/// `EDAEMON` at `stage` for the command `name`.
pub(super) fn daemon_error(name: &str, stage: &'static str, message: String) -> Error {
    Error::new(Kind::Daemon, message)
        .with_detail("stage", stage)
        .with_detail("command", name)
}

/// Prepare a start of `opts` (see the module doc). Errors: `EINVAL` (arguments), `EHELD` (the
/// pidfile is held now), `EDAEMON` `stage: setup` (unknown user or group, privileges this
/// caller cannot give) or `stage: exec` (command not found or not executable), and the
/// open errors of the files (`ESYMLINK`, `ENOTREG`, `EACCES`, …).
pub fn prepare(opts: SpawnOptions) -> Result<Prepared> {
    let name = opts.command.to_string_lossy().into_owned();
    if opts.umask > 0o777 {
        return Err(Error::invalid_argument(
            "umask",
            format!(
                "umask {:#o} is not permission bits: pass 0 to 0o777, such as 0o027.",
                opts.umask
            ),
        ));
    }
    let drop = privileges(&name, opts.user.as_ref(), opts.group.as_ref())?;
    let caller_uid = rustix::process::geteuid().as_raw();
    let uid = drop.as_ref().map_or(caller_uid, |d| d.uid);

    let receiver = match opts.readiness {
        Readiness::Notify => Some(Receiver::new(drop.as_ref().map(|d| (d.uid, d.gid)))?),
        _ => None,
    };

    // The environment: the caller's (without its supervisor's variables) or the given one,
    // plus NOTIFY_SOCKET for sole's own receiver.
    let mut env: Vec<(OsString, OsString)> = match opts.env {
        Some(e) => e,
        None => std::env::vars_os()
            .filter(|(k, _)| !SUPERVISOR_VARS.iter().any(|v| k == v))
            .collect(),
    };
    if let Some(r) = &receiver {
        env.retain(|(k, _)| k != "NOTIFY_SOCKET");
        env.push(("NOTIFY_SOCKET".into(), r.path().as_os_str().to_owned()));
    }
    for (k, _) in &env {
        if k.is_empty() || k.as_bytes().contains(&b'=') {
            return Err(Error::invalid_argument(
                "env",
                format!("environment variable name {:?} is empty or contains '=': no program can receive it.", k.to_string_lossy()),
            ));
        }
    }
    let mut argv = vec![opts.command.clone()];
    argv.extend(opts.args.iter().cloned());
    let program = Program::resolve_with_env(&argv, &env).map_err(|e| {
        let errno = e.errno().unwrap_or(libc::ENOENT);
        daemon_error(
            &name,
            "exec",
            format!("cannot start daemon: {}", e.message()),
        )
        .with_errno(errno)
    })?;

    let cwd = std::path::absolute(&opts.cwd).map_err(|e| Error::os(e, "resolve cwd", &opts.cwd))?;
    let pidfile = match &opts.pidfile {
        Some(p) => Some(open_pidfile(
            p,
            opts.readiness == Readiness::None,
            opts.allow_network_fs,
        )?),
        None => None,
    };
    let stdin = above_stdio(
        fs::open(Path::new("/dev/null"), OFlags::RDWR, 0)
            .map_err(|e| Error::os(e, "open", Path::new("/dev/null")))?
            .into(),
    )?;
    let stdout = output(opts.stdout.as_deref(), "stdout")?;
    let stderr = output(opts.stderr.as_deref(), "stderr")?;
    let (err_r, err_w) = pipe()?;
    let (status_r, status_w) = pipe()?;

    // The plan owns its strings; the pointer arrays point into their heap buffers, which do
    // not move when the vectors are moved into the plan.
    let (file, args, envp) = program.exec_parts();
    let (file, args, envp) = (file.clone(), args.to_vec(), envp.to_vec());
    let shell = CString::new("/bin/sh").expect("no NUL");
    let mut shell_args = vec![shell.clone(), file.clone()];
    shell_args.extend(args.iter().skip(1).cloned());
    let (argv_p, envp_p, shell_p) = (Ptrs::new(&args), Ptrs::new(&envp), Ptrs::new(&shell_args));
    let plan = ChildPlan {
        caller: rustix::process::getpid().as_raw_nonzero().get(),
        err_w: above_stdio(err_w)?,
        status_w: above_stdio(status_w)?,
        stdin,
        stdout,
        stderr,
        pidfile: match pidfile {
            Some((fd, path)) => Some(PidfilePlan {
                fd,
                path: c_path(&path)?,
                boot_id: sole_procid::boot_id()?,
            }),
            None => None,
        },
        umask: opts.umask,
        drop,
        cwd: c_path(&cwd)?,
        file,
        argv: argv_p,
        envp: envp_p,
        shell,
        shell_argv: shell_p,
        empty_mask: sys::empty_set(),
        strings: [args, envp, shell_args],
    };
    Ok(Prepared {
        plan,
        err_r,
        status_r,
        receiver,
        name,
        pidfile: opts.pidfile.map(|p| std::path::absolute(&p).unwrap_or(p)),
        stderr_path: opts.stderr,
        readiness: opts.readiness,
        kill_on_timeout: opts.kill_on_timeout,
        uid,
    })
}

fn c_path(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| {
        Error::invalid_argument("path", format!("path {} contains a NUL byte", p.display()))
    })
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    pipe_with(PipeFlags::CLOEXEC).map_err(|e| {
        Error::new(
            Kind::Os(e.raw_os_error()),
            format!("cannot create a pipe to start the daemon: {e}. Too many open files?"),
        )
    })
}

/// `fd` renumbered to 3 or above (CLOEXEC) if it is 0, 1 or 2 (possible when the caller runs
/// with a standard stream closed), so the daemon's `dup2` onto 0–2 cannot clobber it.
fn above_stdio(fd: OwnedFd) -> Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    rustix::io::fcntl_dupfd_cloexec(fd.as_fd(), 3).map_err(|e| {
        Error::new(
            Kind::Os(e.raw_os_error()),
            format!("cannot renumber a descriptor for the daemon: {e}"),
        )
    })
}

/// The pidfile, opened with sole's rules (no symlink, regular file, 0600 when created, CLOEXEC).
/// With `precheck` (readiness `none`, which resolves before the daemon's claim is known), a
/// pidfile a live process holds now is refused at once with `EHELD`; otherwise the daemon's
/// own `flock` decides and reports (the check reads `/proc/locks`, which can cost milliseconds,
/// so the common path does not pay it).
fn open_pidfile(path: &Path, precheck: bool, allow_network_fs: bool) -> Result<(OwnedFd, PathBuf)> {
    let path = std::path::absolute(path).map_err(|e| Error::os(e, "resolve pidfile", path))?;
    let o = OpenOptions {
        allow_network_fs,
        ..OpenOptions::default()
    };
    let opened = open::open_lock_file(&path, &o).map_err(|e| {
        if e.errno() == Some(libc::ENOENT) {
            // The generic advice names a createDirs option spawnDaemon does not have.
            Error::new(
                Kind::Os(libc::ENOENT),
                format!(
                    "cannot open the pidfile {}: its directory does not exist. Create it first (spawnDaemon does not create directories).",
                    path.display()
                ),
            )
            .with_path(&path)
        } else {
            e
        }
    })?;
    if precheck {
        if let Ok(State::Held {
            pid, locked: true, ..
        }) = sole_pidfile::read(&path)
        {
            return Err(sole_pidfile::held_error(&path, pid));
        }
    }
    let file = opened.file.clone();
    drop(opened);
    let file = std::sync::Arc::try_unwrap(file).map_err(|_| {
        Error::new(
            Kind::Internal,
            format!("the pidfile {} is shared unexpectedly", path.display()),
        )
    })?;
    Ok((above_stdio(file.into())?, path))
}

/// A stdout/stderr file: appended, created 0640, no symlink; a character device
/// (`/dev/null`, a console) is accepted, any other non-regular file is refused (`ENOTREG`: a
/// FIFO would block the daemon's writes or the open itself). `None`: `/dev/null`.
fn output(path: Option<&Path>, what: &'static str) -> Result<OwnedFd> {
    let Some(path) = path else {
        let null = fs::open(Path::new("/dev/null"), OFlags::WRONLY, 0)
            .map_err(|e| Error::os(e, "open", Path::new("/dev/null")))?;
        return above_stdio(null.into());
    };
    let path = std::path::absolute(path).map_err(|e| Error::os(e, "resolve", path))?;
    fs::check_path(&path)?;
    let used_for = "a daemon's output files";
    let base = OFlags::WRONLY | OFlags::APPEND | OFlags::NONBLOCK;
    let (file, created) = match fs::open(&path, base, 0) {
        Ok(f) => (f, false),
        Err(e) if fs::errno(&e) == Some(rustix::io::Errno::NOENT) => {
            match fs::open(&path, base | OFlags::CREATE | OFlags::EXCL, LOG_MODE) {
                Ok(f) => (f, true),
                Err(e) => {
                    return Err(fs::open_error(
                        e,
                        &format!("open {what} file"),
                        &path,
                        used_for,
                    ))
                }
            }
        }
        Err(e) => {
            return Err(fs::open_error(
                e,
                &format!("open {what} file"),
                &path,
                used_for,
            ))
        }
    };
    let st = fs::fstat(&file).map_err(|e| Error::os(e, "stat", &path))?;
    let char_device = st.mode & libc::S_IFMT == libc::S_IFCHR;
    if !st.is_regular() && !char_device {
        return Err(fs::not_regular(&path, st.type_phrase()).with_detail("argument", what));
    }
    if created {
        fs::set_mode(&file, LOG_MODE).map_err(|e| Error::os(e, "set mode of", &path))?;
    }
    // Blocking again: the daemon's writes must not fail with EAGAIN.
    let _ = rustix::fs::fcntl_setfl(&file, OFlags::APPEND);
    above_stdio(file.into())
}

/// The user and group to run as, resolved now (the child cannot read /etc/passwd): `None`
/// when the daemon keeps the caller's ids.
fn privileges(
    name: &str,
    user: Option<&Principal>,
    group: Option<&Principal>,
) -> Result<Option<DropPlan>> {
    if user.is_none() && group.is_none() {
        return Ok(None);
    }
    let setup = |msg: String| daemon_error(name, "setup", msg);
    let lookup_failed = |what: &str, errno: i32| {
        setup(format!(
            "cannot start daemon {name}: cannot read the {what} database: {}",
            std::io::Error::from_raw_os_error(errno)
        ))
        .with_errno(errno)
    };
    let (uid, primary, user_name) = match user {
        None => (rustix::process::getuid().as_raw(), None, None),
        Some(Principal::Name(n)) => {
            let c = CString::new(n.as_bytes())
                .map_err(|_| Error::invalid_argument("user", "user name contains a NUL byte"))?;
            match sys::user(Some(&c), 0).map_err(|e| lookup_failed("user", e))? {
                Some(u) => (u.uid, Some(u.gid), Some(u.name)),
                None => {
                    return Err(setup(format!(
                        "cannot start daemon {name}: unknown user '{n}' (not in the user database): create it or pass a uid."
                    ))
                    .with_errno(libc::ENOENT))
                }
            }
        }
        Some(Principal::Id(id)) => {
            match sys::user(None, *id).map_err(|e| lookup_failed("user", e))? {
                Some(u) => (u.uid, Some(u.gid), Some(u.name)),
                None => (*id, None, None),
            }
        }
    };
    let gid = match group {
        Some(Principal::Name(g)) => {
            let c = CString::new(g.as_bytes())
                .map_err(|_| Error::invalid_argument("group", "group name contains a NUL byte"))?;
            match sys::group(&c).map_err(|e| lookup_failed("group", e))? {
                Some(gid) => gid,
                None => {
                    return Err(setup(format!(
                        "cannot start daemon {name}: unknown group '{g}' (not in the group database): create it or pass a gid."
                    ))
                    .with_errno(libc::ENOENT))
                }
            }
        }
        Some(Principal::Id(id)) => *id,
        None if user.is_some() => primary.unwrap_or(uid),
        None => rustix::process::getgid().as_raw(),
    };
    let groups: Vec<Gid> = match (&user_name, user) {
        (Some(n), Some(_)) => sys::group_list(n, gid),
        _ => vec![gid],
    }
    .into_iter()
    .map(Gid::from_raw)
    .collect();
    let euid = rustix::process::geteuid().as_raw();
    if euid != 0 {
        // Without root, the only "drop" that can work is to the ids this process has already.
        if uid == euid && gid == rustix::process::getegid().as_raw() {
            return Ok(None);
        }
        return Err(setup(format!(
            "cannot start daemon {name} as uid {uid} gid {gid}: only root can start a daemon as another user or group (this process runs as uid {euid})."
        ))
        .with_errno(libc::EPERM));
    }
    Ok(Some(DropPlan { uid, gid, groups }))
}
