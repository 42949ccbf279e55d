//! Replacing this process with another program while it keeps its pidfile claim (`sole exec`).
//!
//! Why: "make any program single-instance" wants the program itself to hold the pidfile: the
//! file must name the program's pid, and the claim must last exactly as long as the program
//! runs. A wrapper that claims and then spawns the program as a child gets neither (the file
//! names the wrapper, and a SIGKILLed wrapper frees the claim while the program runs on). So
//! the claiming process `execve`s the program: same pid, same process (its start time and boot
//! id do not change across `execve`), and the claim's descriptor is kept open across the exec,
//! so the kernel keeps the lock until the program, and every process it hands the descriptor
//! to, has exited.
//!
//! The identity record written by the claim (`sole_procid::Record`: pid, start time, boot id,
//! `lock=flock`) stays true after the exec: it records no executable, and nothing compares
//! one, because the exe is the one fact an exec changes. A reader of the held file gets the
//! holder from the kernel's lock list and reads the holder's identity live, so it names the
//! new program (`__test__/cli-exec.spec.ts` checks `readPidfile` from another process).
//!
//! The same exec, with no descriptor kept, also serves `sole lock` ([`exec_as_child_of`]): the
//! command it runs must die with the `sole lock` process that holds its lock, which takes
//! `PR_SET_PDEATHSIG` between fork and exec, where Node's `spawn` runs no code; so a helper
//! process sets it and execs the command in its own place.
//!
//! Everything that can fail for a reason the user can fix is decided *before* the claim
//! ([`Program::resolve`]: the `PATH` lookup, like `execvp(3)`, and the argument and environment
//! strings), so "command not found" never claims, or empties, anyone's pidfile.
//!
//! What a program must not inherit from Node, reset just before either `execve`:
//! - **`FD_CLOEXEC` on the claim's descriptor**: every descriptor sole opens is close-on-exec
//!   (a lock must never leak into a child by accident); this one is meant to cross, so its
//!   flag, and only its flag among sole's descriptors, is cleared.
//! - **`FD_CLOEXEC` on 0, 1 and 2**: Node marks its standard streams close-on-exec; a program
//!   exec'd with them closed would start with no stdin, stdout or stderr.
//! - **`O_NONBLOCK` on 0, 1 and 2**: libuv puts a pipe or socket it uses as a standard stream in
//!   non-blocking mode. That flag lives on the open file description, so a program that
//!   expects blocking writes would get `EAGAIN` on a full pipe. Node clears it when it exits
//!   normally; an exec does not exit, so it is cleared here.
//! - **Ignored signals**: `execve` resets handled signals to their default, but keeps ignored
//!   ones ignored. Node ignores `SIGPIPE` (a program writing to a closed pipe would get `EPIPE`
//!   forever instead of dying, as `yes | head` relies on) and `SIGXFSZ`; every signal this
//!   process ignores is set back to `SIG_DFL`. (Node itself resets the dispositions it
//!   inherited at start-up, so `nohup sole exec …` cannot pass an ignored `SIGHUP` on: write
//!   `sole exec … -- nohup PROGRAM` instead.)
//! - **The signal mask**: inherited across `execve`; it is emptied so the program starts with
//!   no signal blocked.
//!
//! If `execve` fails anyway (the file changed since it was resolved, `E2BIG`, …) every one of
//! those changes is undone and the claim is released (the file emptied, then unlocked) before
//! the error is returned: the caller is about to exit, and a claim must not name a process
//! that will never run the program.
//!
//! Other threads: `execve` ends every other thread of the process. While the flags above are
//! changed, another thread that spawned a child would pass it the claim's descriptor; the
//! `sole exec` command runs nothing else at that point.
//!
//! `unsafe`: `execve`, `sigaction` and `pthread_sigmask` have no safe wrapper in the crates this
//! workspace uses (rustix keeps them in its `unsafe` `runtime` module), so this module calls
//! `libc` for exactly those three (and `sigemptyset`, to build their arguments), in [`sys`],
//! each call with its safety argument. The crate's other system calls stay in rustix.
//! Test: `tests::*` below (the `PATH` lookup); `__test__/cli-exec.spec.ts` (the exec itself:
//! same pid, the claim held by the program, no descriptor leaked, `SIGPIPE` default, stdio
//! blocking, the claim released when the program exits, 127/126 and no claim on failure);
//! `__test__/cli-lock.spec.ts` (the command killed with a SIGKILLed `sole lock`, a helper whose
//! parent is gone runs nothing).

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Access, AtFlags, OFlags, CWD};
use rustix::io::FdFlags;
use sole_error::{Error, Kind, Result};

use crate::claim::Pidfile;

/// The search path when `PATH` is unset: glibc's `confstr(_CS_PATH)`, what `execvp(3)` uses.
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// The shell `execvp(3)` hands a file the kernel cannot execute (`ENOEXEC`: a script without a
/// `#!` line).
const SHELL: &str = "/bin/sh";

/// A program ready to be exec'd: resolved through `PATH`, every string already a `CString`,
/// so nothing is left to fail between the claim and the `execve` but the `execve` itself.
#[derive(Debug)]
pub struct Program {
    /// The command as the user typed it (argv\[0\]), for messages.
    name: String,
    /// The file `execve` runs.
    file: CString,
    argv: Vec<CString>,
    env: Vec<CString>,
}

impl Program {
    /// Resolve `argv[0]` like `execvp(3)` (a name with a `/` is a path; otherwise the first
    /// executable regular file of that name in `PATH`, whose empty entries mean the current
    /// directory) and prepare the argument and environment strings (the environment of this
    /// process now). `ENOENT` "command not found: X" when no such file exists, `EACCES` when
    /// the only ones found cannot be executed by this user; both carry `command` (argv\[0\])
    /// and `stage: "lookup"`.
    /// Test: `tests::resolves_like_execvp`, `tests::not_found_and_not_executable`.
    pub fn resolve(argv: &[OsString]) -> Result<Program> {
        let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        Program::resolve_with_env(argv, &env)
    }

    /// [`Program::resolve`] for a program that will run with `env` instead of this process's
    /// environment: `PATH` is looked up in `env` (as `execvp(3)` in the new program would).
    /// Test: `tests::resolves_with_given_env`.
    pub fn resolve_with_env(argv: &[OsString], env: &[(OsString, OsString)]) -> Result<Program> {
        let Some(first) = argv.first() else {
            return Err(Error::invalid_argument(
                "command",
                "no command given: name the program to run after --",
            ));
        };
        let name = first.to_string_lossy().into_owned();
        let args = argv
            .iter()
            .map(|a| c_string(a.as_bytes(), &name))
            .collect::<Result<Vec<_>>>()?;
        let path = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone());
        let env = env
            .iter()
            .map(|(k, v)| {
                let mut kv = k.as_bytes().to_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                c_string(&kv, &name)
            })
            .collect::<Result<Vec<_>>>()?;
        let file = find(first, &name, path)?;
        Ok(Program {
            file: c_string(file.as_os_str().as_bytes(), &name)?,
            name,
            argv: args,
            env,
        })
    }

    /// The file `execve` will run.
    pub fn file(&self) -> &Path {
        Path::new(OsStr::from_bytes(self.file.as_bytes()))
    }

    /// argv\[0\] as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file, the arguments and the `KEY=VALUE` environment strings, ready for `execve`
    /// (for a caller that must not allocate between `fork` and `execve`: `sole-daemon`).
    pub fn exec_parts(&self) -> (&CString, &[CString], &[CString]) {
        (&self.file, &self.argv, &self.env)
    }

    /// The error of an `execve` of this program that failed with `errno` (as `sole exec`
    /// reports it: the file, and what the errno means for a program).
    pub fn exec_error(&self, errno: libc::c_int) -> Error {
        exec_failed(self, errno, ".")
    }
}

fn c_string(bytes: &[u8], name: &str) -> Result<CString> {
    CString::new(bytes).map_err(|_| {
        Error::invalid_argument(
            "command",
            format!("an argument or environment variable of {name} contains a NUL byte, which no program can receive"),
        )
    })
}

/// The `execvp(3)` search: the file to run for `command`.
fn find(command: &OsStr, name: &str, path: Option<OsString>) -> Result<PathBuf> {
    if command.is_empty() {
        return Err(not_found(name, "an empty command names no program"));
    }
    if command.as_bytes().contains(&b'/') {
        let p = PathBuf::from(command);
        return match candidate(&p) {
            Candidate::Runnable => Ok(p),
            Candidate::Missing => Err(not_found(name, "no such file")),
            Candidate::NotRunnable(why) => Err(not_executable(name, &p, why)),
        };
    }
    let path = path.unwrap_or_else(|| DEFAULT_PATH.into());
    let mut refused: Option<(PathBuf, &'static str)> = None;
    for dir in path.as_bytes().split(|b| *b == b':') {
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let p = dir.join(command);
        match candidate(&p) {
            Candidate::Runnable => return Ok(p),
            Candidate::Missing => {}
            // execvp(3) remembers EACCES and keeps searching; it reports it only when nothing
            // runnable follows.
            Candidate::NotRunnable(why) => {
                refused.get_or_insert((p, why));
            }
        }
    }
    match refused {
        Some((p, why)) => Err(not_executable(name, &p, why)),
        None => Err(not_found(
            name,
            &format!("searched PATH={}", path.to_string_lossy()),
        )),
    }
}

enum Candidate {
    Runnable,
    Missing,
    NotRunnable(&'static str),
}

/// Can this user `execve` the file at `p`? (A regular file with execute permission for the
/// effective ids; the kernel decides the rest when it runs it.)
fn candidate(p: &Path) -> Candidate {
    match std::fs::metadata(p) {
        Err(_) => Candidate::Missing,
        Ok(m) if !m.is_file() => Candidate::NotRunnable("it is not a regular file"),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => {
            Candidate::NotRunnable("it has no execute permission (chmod +x it)")
        }
        Ok(_) => match rustix::fs::accessat(CWD, p, Access::EXEC_OK, AtFlags::EACCESS) {
            Ok(()) => Candidate::Runnable,
            Err(_) => Candidate::NotRunnable("this user may not execute it"),
        },
    }
}

/// `name`, and the file it resolved to when that says more (`ls (/usr/bin/ls)`).
fn named(name: &str, file: &Path) -> String {
    if Path::new(name) == file {
        name.to_string()
    } else {
        format!("{name} ({})", file.display())
    }
}

fn not_found(name: &str, why: &str) -> Error {
    Error::new(
        Kind::Os(libc::ENOENT),
        format!("command not found: {name} ({why}). Give the program's full path, or fix PATH."),
    )
    .with_detail("command", name)
    .with_detail("stage", "lookup")
}

fn not_executable(name: &str, file: &Path, why: &str) -> Error {
    Error::new(
        Kind::Os(libc::EACCES),
        format!(
            "cannot execute {}: permission denied, {why}.",
            named(name, file)
        ),
    )
    .with_detail("command", name)
    .with_detail("stage", "lookup")
    .with_path(file)
}

/// Replace this process with `program`, keeping `claim` held across the exec (see the module
/// doc for what is reset first). Returns only when `execve` failed: then every change is
/// undone, the claim is released, and the error (`command` set to argv\[0\], `stage:
/// "execve"`; `ENOENT`, `EACCES`,
/// `ENOEXEC` with no shell, `E2BIG`, …) says why. A file without a `#!` line that the kernel
/// refuses (`ENOEXEC`) is run by `/bin/sh`, as `execvp(3)` does.
/// Test: `__test__/cli-exec.spec.ts`.
pub fn exec_holding(mut claim: Pidfile, program: &Program) -> Error {
    let Some(lock_fd) = claim.descriptor() else {
        return Error::new(
            Kind::Os(libc::EBADF),
            format!(
                "the claim on {} was released before the exec",
                claim.path().display()
            ),
        )
        .with_path(claim.path());
    };
    let errno = exec_keeping(Some(lock_fd), program);
    let _ = claim.release();
    exec_failed(
        program,
        errno,
        &format!("; the pidfile {} was released.", claim.path().display()),
    )
}

/// Replace this process with `program` (the same resets as [`exec_holding`], no descriptor
/// kept) after asking the kernel to SIGKILL it when `parent` exits: the command `sole lock`
/// runs dies with the `sole lock` process that holds its lock, even when that process is
/// SIGKILLed (`PR_SET_PDEATHSIG`, kept across `execve`). `sole lock` spawns a short-lived
/// process that calls this, because Node's `spawn` cannot run code between fork and exec.
/// If this process's parent is no longer `parent` (it died before the request took effect),
/// nothing is executed: `ENOTFOUND`. Returns only on failure (`stage: "execve"` for a failed
/// `execve`, as [`exec_holding`]). Test: `__test__/cli-lock.spec.ts` (SIGKILL of sole lock).
pub fn exec_as_child_of(parent: sole_procid::Pid, program: &Program) -> Error {
    use rustix::process::{getppid, set_parent_process_death_signal, Signal};
    if let Err(e) = set_parent_process_death_signal(Some(Signal::KILL)) {
        return Error::new(
            Kind::Os(e.raw_os_error()),
            format!(
                "cannot ask to die with the parent process (PR_SET_PDEATHSIG): {e}; not running {}",
                program.name
            ),
        );
    }
    // The parent may have died between our fork and the request: then it never fires.
    if getppid().map(|p| p.as_raw_nonzero().get()) != Some(parent.get()) {
        return Error::new(
            Kind::NotFound,
            format!(
                "the process that started this one (PID {parent}) has exited; not running {}",
                program.name
            ),
        )
        .with_pid(parent.get());
    }
    let errno = exec_keeping(None, program);
    exec_failed(program, errno, ".")
}

/// The `execve` of `program` with the resets of the module doc, keeping `keep` open across it.
/// Returns the errno of a failed exec, after undoing every change.
fn exec_keeping(keep: Option<BorrowedFd<'_>>, program: &Program) -> libc::c_int {
    let stdio = [
        rustix::stdio::stdin(),
        rustix::stdio::stdout(),
        rustix::stdio::stderr(),
    ];
    let mut undo = Vec::new();
    // The kept descriptor crosses the exec; stdio crosses it, in blocking mode.
    if let Some(fd) = keep {
        if let Ok(flags) = rustix::io::fcntl_getfd(fd) {
            if rustix::io::fcntl_setfd(fd, flags - FdFlags::CLOEXEC).is_ok() {
                undo.push(Undo::FdFlags(fd, flags));
            }
        }
    }
    for fd in stdio {
        if let Ok(flags) = rustix::io::fcntl_getfd(fd) {
            if flags.contains(FdFlags::CLOEXEC)
                && rustix::io::fcntl_setfd(fd, flags - FdFlags::CLOEXEC).is_ok()
            {
                undo.push(Undo::FdFlags(fd, flags));
            }
        }
        if let Ok(flags) = rustix::fs::fcntl_getfl(fd) {
            if flags.contains(OFlags::NONBLOCK)
                && rustix::fs::fcntl_setfl(fd, flags - OFlags::NONBLOCK).is_ok()
            {
                undo.push(Undo::StatusFlags(fd, flags));
            }
        }
    }
    let signals = sys::default_signals();

    let errno = sys::execve(&program.file, &program.argv, &program.env);
    if errno == libc::ENOEXEC {
        // execvp(3): a file the kernel cannot run is handed to the shell.
        let mut argv = vec![CString::new(SHELL).expect("no NUL"), program.file.clone()];
        argv.extend(program.argv.iter().skip(1).cloned());
        // If even the shell cannot run, the file's own error (ENOEXEC) is the one to report.
        let _ = sys::execve(&CString::new(SHELL).expect("no NUL"), &argv, &program.env);
    }

    // The exec failed: put everything back.
    signals.restore();
    for u in undo.into_iter().rev() {
        match u {
            Undo::FdFlags(fd, f) => drop(rustix::io::fcntl_setfd(fd, f)),
            Undo::StatusFlags(fd, f) => drop(rustix::fs::fcntl_setfl(fd, f)),
        }
    }
    errno
}

/// The error of a failed `execve` (`stage: "execve"`); `tail` ends the message.
fn exec_failed(program: &Program, errno: libc::c_int, tail: &str) -> Error {
    let why = match errno {
        libc::ENOENT => {
            "the file, or the interpreter its #! line names, does not exist".to_string()
        }
        libc::EACCES => "permission denied (no execute permission, or a noexec mount)".to_string(),
        _ => rustix::io::Errno::from_raw_os_error(errno).to_string(),
    };
    Error::new(
        Kind::Os(errno),
        format!(
            "cannot execute {}: {why}{tail}",
            named(&program.name, program.file())
        ),
    )
    .with_detail("command", program.name.as_str())
    .with_detail("stage", "execve")
    .with_path(program.file())
}

/// A descriptor flag changed before the exec, to put back if the exec fails.
enum Undo<'a> {
    FdFlags(BorrowedFd<'a>, FdFlags),
    StatusFlags(BorrowedFd<'a>, OFlags),
}

/// The three calls that have no safe wrapper (module doc, `unsafe`).
mod sys {
    use std::ffi::CString;
    use std::mem::MaybeUninit;
    use std::ptr;

    /// The highest signal number Linux has (`SIGRTMAX` is 64 on every architecture sole
    /// builds for); numbers the C library reserves make `sigaction` fail and are skipped.
    const LAST_SIGNAL: libc::c_int = 64;

    /// The signal state before [`default_signals`], to put back if the exec fails.
    pub(super) struct Saved {
        ignored: Vec<libc::c_int>,
        mask: Option<libc::sigset_t>,
    }

    /// Set every ignored signal to its default action and unblock every signal.
    pub(super) fn default_signals() -> Saved {
        let mut ignored = Vec::new();
        for sig in 1..=LAST_SIGNAL {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            let mut old = MaybeUninit::<libc::sigaction>::zeroed();
            // SAFETY: a null `act` only reads the disposition into `old`, a valid, zeroed
            // `sigaction` this frame owns; an invalid or reserved number fails with EINVAL.
            if unsafe { libc::sigaction(sig, ptr::null(), old.as_mut_ptr()) } != 0 {
                continue;
            }
            // SAFETY: sigaction returned 0, so it filled `old`.
            let old = unsafe { old.assume_init() };
            if old.sa_sigaction == libc::SIG_IGN && set(sig, libc::SIG_DFL) {
                ignored.push(sig);
            }
        }
        let mut mask = MaybeUninit::<libc::sigset_t>::zeroed();
        let mut empty = MaybeUninit::<libc::sigset_t>::zeroed();
        // SAFETY: `empty` and `mask` are valid sigset_t storage owned by this frame;
        // sigemptyset initialises `empty`, and pthread_sigmask writes the old mask into `mask`
        // before we read it (only when it returned 0).
        let mask = unsafe {
            libc::sigemptyset(empty.as_mut_ptr());
            (libc::pthread_sigmask(libc::SIG_SETMASK, empty.as_ptr(), mask.as_mut_ptr()) == 0)
                .then(|| mask.assume_init())
        };
        Saved { ignored, mask }
    }

    impl Saved {
        /// Ignore again what was ignored, block again what was blocked.
        pub(super) fn restore(self) {
            for sig in self.ignored {
                set(sig, libc::SIG_IGN);
            }
            if let Some(mask) = self.mask {
                // SAFETY: `mask` is the initialised set pthread_sigmask returned.
                unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &mask, ptr::null_mut()) };
            }
        }
    }

    /// Set `sig`'s disposition to `SIG_DFL` or `SIG_IGN` (no handler, so no function runs in
    /// signal context). `true` on success.
    fn set(sig: libc::c_int, disposition: libc::sighandler_t) -> bool {
        let mut act = MaybeUninit::<libc::sigaction>::zeroed();
        // SAFETY: `act` is zeroed storage we own; we fill its mask with sigemptyset and set
        // only the handler, so sigaction reads a fully initialised struct.
        unsafe {
            libc::sigemptyset(&mut (*act.as_mut_ptr()).sa_mask);
            (*act.as_mut_ptr()).sa_sigaction = disposition;
            libc::sigaction(sig, act.as_ptr(), ptr::null_mut()) == 0
        }
    }

    /// `execve(file, argv, env)`; returns the errno when it fails (it never returns otherwise).
    pub(super) fn execve(file: &CString, argv: &[CString], env: &[CString]) -> libc::c_int {
        let argv_ptrs: Vec<*const libc::c_char> = argv
            .iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(ptr::null()))
            .collect();
        let env_ptrs: Vec<*const libc::c_char> = env
            .iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(ptr::null()))
            .collect();
        // SAFETY: `file` and every pointer in the two null-terminated arrays point into
        // CStrings borrowed for the duration of the call; execve does not keep them.
        unsafe { libc::execve(file.as_ptr(), argv_ptrs.as_ptr(), env_ptrs.as_ptr()) };
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn resolves_like_execvp() {
        // A bare name is found in PATH (sh exists on every system sole supports).
        let p = Program::resolve(&os(&["sh", "-c", "true"])).unwrap();
        assert!(p.file().is_absolute() || p.file().starts_with("."));
        assert!(p.file().ends_with("sh"));
        assert_eq!(p.name(), "sh");
        assert_eq!(p.argv.len(), 3);
        // A name with a slash is taken as a path, not searched.
        let p = Program::resolve(&os(&["/bin/sh"])).unwrap();
        assert_eq!(p.file(), Path::new("/bin/sh"));
    }

    #[test]
    fn resolves_with_given_env() {
        // PATH comes from the given environment, not from this process's.
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("sole-only-here");
        std::fs::write(&f, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        let env = vec![(OsString::from("PATH"), d.path().as_os_str().to_owned())];
        let p = Program::resolve_with_env(&os(&["sole-only-here"]), &env).unwrap();
        assert_eq!(p.file(), f.as_path());
        assert_eq!(p.exec_parts().2.len(), 1, "only the given environment");
        assert!(Program::resolve(&os(&["sole-only-here"])).is_err());
    }

    #[test]
    fn not_found_and_not_executable() {
        let e = Program::resolve(&os(&["sole-no-such-command-xyz"])).unwrap_err();
        assert_eq!(e.code(), "ENOENT");
        assert!(e
            .message()
            .starts_with("command not found: sole-no-such-command-xyz"));
        assert!(e.details().iter().any(|(k, _)| *k == "command"));

        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("script");
        std::fs::write(&f, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Program::resolve(&[f.clone().into_os_string()]).unwrap_err();
        assert_eq!(e.code(), "EACCES");
        assert_eq!(e.path(), Some(f.as_path()));
        // A directory is not a program either.
        let e = Program::resolve(&[d.path().as_os_str().to_owned()]).unwrap_err();
        assert_eq!(e.code(), "EACCES");
        assert_eq!(
            Program::resolve(&[]).unwrap_err().code(),
            "EINVAL",
            "no command"
        );
        assert_eq!(
            Program::resolve(&os(&[""])).unwrap_err().code(),
            "ENOENT",
            "an empty name"
        );
    }
}
