//! The calls of the start sequence that have no safe wrapper in rustix (it keeps `fork`,
//! `execve` and the signal calls in its `unsafe` runtime module, and has no `close_range` or
//! user database), each with its safety argument. Everything else the sequence does goes
//! through rustix, whose Linux backend makes raw system calls: no allocation, no lock, so
//! those calls are async-signal-safe in a forked child.

use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;
use std::ptr;

/// The highest signal number Linux has (`SIGRTMAX` is 64 on every architecture sole builds
/// for); numbers the C library reserves make `sigaction` fail and are skipped.
const LAST_SIGNAL: libc::c_int = 64;

/// What `fork` returned.
pub(super) enum Forked {
    Parent(i32),
    Child,
}

/// `fork()`. Only [`super::child`] code runs in the child, and it makes only async-signal-safe
/// calls until `execve` or `_exit` (the parent is multi-threaded: another thread may have held
/// the allocator's lock at the instant of the fork, and the child would wait for it forever).
pub(super) fn fork() -> std::io::Result<Forked> {
    // SAFETY: the child side of every caller runs only async-signal-safe code (see above) and
    // ends in `execve` or `_exit`; it never returns into Rust code that could allocate or
    // unwind.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// `_exit(code)`: leave a forked child without running atexit handlers or destructors (they
/// belong to the parent's state).
pub(super) fn exit(code: i32) -> ! {
    // SAFETY: `_exit` is async-signal-safe and takes no pointers.
    unsafe { libc::_exit(code) }
}

/// Block every signal in the calling thread; returns the previous mask for [`set_mask`].
/// Around `fork`: a signal delivered to the child before it reset its dispositions would run
/// the parent's (Node's) handler inside the child.
pub(super) fn block_all() -> libc::sigset_t {
    let mut all = MaybeUninit::<libc::sigset_t>::zeroed();
    let mut old = MaybeUninit::<libc::sigset_t>::zeroed();
    // SAFETY: both sets are storage this frame owns; sigfillset initialises `all`;
    // pthread_sigmask writes the old mask into `old` (it cannot fail with valid arguments, and
    // `old` is zeroed, a valid empty set, if it did).
    unsafe {
        libc::sigfillset(all.as_mut_ptr());
        libc::pthread_sigmask(libc::SIG_SETMASK, all.as_ptr(), old.as_mut_ptr());
        old.assume_init()
    }
}

/// Set the calling thread's signal mask (async-signal-safe).
pub(super) fn set_mask(mask: &libc::sigset_t) {
    // SAFETY: `mask` is an initialised sigset_t; no old mask is requested.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, mask, ptr::null_mut()) };
}

/// An empty signal set (built before the fork; `sigemptyset` is async-signal-safe anyway).
pub(super) fn empty_set() -> libc::sigset_t {
    let mut s = MaybeUninit::<libc::sigset_t>::zeroed();
    // SAFETY: `s` is storage this frame owns; sigemptyset initialises it.
    unsafe {
        libc::sigemptyset(s.as_mut_ptr());
        s.assume_init()
    }
}

/// Set every signal's disposition to `SIG_DFL` (async-signal-safe: `sigaction` with no
/// handler). `execve` resets handled signals itself but keeps ignored ones ignored, and Node
/// ignores `SIGPIPE`: a daemon must start with the defaults.
pub(super) fn default_dispositions() {
    for sig in 1..=LAST_SIGNAL {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        let mut act = MaybeUninit::<libc::sigaction>::zeroed();
        // SAFETY: `act` is zeroed storage this frame owns; its mask is emptied and only the
        // handler is set, so sigaction reads a fully initialised struct. Reserved numbers fail
        // with EINVAL, which is ignored.
        unsafe {
            libc::sigemptyset(&mut (*act.as_mut_ptr()).sa_mask);
            (*act.as_mut_ptr()).sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, act.as_ptr(), ptr::null_mut());
        }
    }
}

/// Close every descriptor from `first` to `last` (`close_range`, Linux 5.9). Returns the errno
/// when the kernel lacks it.
pub(super) fn close_range(first: u32, last: u32) -> Result<(), i32> {
    if first > last {
        return Ok(());
    }
    // SAFETY: a raw system call with integer arguments; the descriptors it closes belong to
    // this forked child, which never uses them (the plan's own are outside the ranges).
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// Mark every descriptor from `first` to `last` close-on-exec (`close_range` with
/// `CLOSE_RANGE_CLOEXEC`, Linux 5.11). Returns the errno when the kernel lacks it.
pub(super) fn cloexec_range(first: u32, last: u32) -> Result<(), i32> {
    if first > last {
        return Ok(());
    }
    // SAFETY: a raw system call with integer arguments; it only changes descriptor flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            last,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// `execve(file, argv, envp)` with pointer arrays prepared before the fork. Returns the errno
/// when it fails (it never returns otherwise).
pub(super) fn execve(file: &CStr, argv: &Ptrs, envp: &Ptrs) -> i32 {
    // SAFETY: `file` is a valid C string; both arrays are null-terminated and point into
    // CStrings that outlive the call (the plan owns them); execve does not keep them.
    unsafe { libc::execve(file.as_ptr(), argv.0.as_ptr(), envp.0.as_ptr()) };
    errno()
}

/// The calling thread's errno (async-signal-safe: a thread-local read).
pub(super) fn errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno storage, valid for reads.
    unsafe { *libc::__errno_location() }
}

/// A null-terminated array of pointers into CStrings, built before the fork.
pub(super) struct Ptrs(Vec<*const libc::c_char>);

// The pointers point into CStrings owned by the same plan, which moves to the spawning thread
// with them and outlives every use.
unsafe impl Send for Ptrs {}

impl Ptrs {
    pub(super) fn new(strings: &[CString]) -> Ptrs {
        Ptrs(
            strings
                .iter()
                .map(|s| s.as_ptr())
                .chain(std::iter::once(ptr::null()))
                .collect(),
        )
    }
}

/// A user from the user database: its uid, primary gid, name (for `getgrouplist`).
pub(super) struct User {
    pub uid: u32,
    pub gid: u32,
    pub name: CString,
}

/// Call a reentrant user/group database function (`getpwnam_r`, `getgrnam_r`, …) with a buffer
/// that grows on `ERANGE`, up to 16 MiB: `Ok(None)` for "no such entry", `Err(errno)` when the
/// database cannot be read. `call(buf)` returns the function's result code and, on success,
/// what it found.
fn lookup<T>(
    mut call: impl FnMut(&mut [u8]) -> (libc::c_int, Option<T>),
) -> Result<Option<T>, i32> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match call(&mut buf) {
            (libc::ERANGE, _) if buf.len() < 1 << 24 => buf.resize(buf.len() * 4, 0),
            (0, found) => return Ok(found),
            (r, _) => return Err(r),
        }
    }
}

/// Look up a user by name or by number (`getpwnam_r` / `getpwuid_r`). `Ok(None)` when there
/// is no such user; `Err(errno)` when the database cannot be read.
pub(super) fn user(name: Option<&CStr>, uid: u32) -> Result<Option<User>, i32> {
    lookup(|buf| {
        let mut pw = MaybeUninit::<libc::passwd>::zeroed();
        let mut out: *mut libc::passwd = ptr::null_mut();
        // SAFETY: `pw`, `buf` and `out` are valid storage, `buf.len()` is its size; the
        // returned strings point into `buf`, read before this closure returns.
        let r = unsafe {
            match name {
                Some(n) => libc::getpwnam_r(
                    n.as_ptr(),
                    pw.as_mut_ptr(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut out,
                ),
                None => libc::getpwuid_r(
                    uid,
                    pw.as_mut_ptr(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut out,
                ),
            }
        };
        if r != 0 || out.is_null() {
            return (r, None);
        }
        // SAFETY: the call returned 0 and a non-null `out`: `pw` is initialised and its
        // `pw_name` is a C string inside `buf`.
        let pw = unsafe { pw.assume_init() };
        let name = unsafe { CStr::from_ptr(pw.pw_name) }.to_owned();
        (
            0,
            Some(User {
                uid: pw.pw_uid,
                gid: pw.pw_gid,
                name,
            }),
        )
    })
}

/// A group's id by name (`getgrnam_r`). `Ok(None)` when there is no such group.
pub(super) fn group(name: &CStr) -> Result<Option<u32>, i32> {
    lookup(|buf| {
        let mut gr = MaybeUninit::<libc::group>::zeroed();
        let mut out: *mut libc::group = ptr::null_mut();
        // SAFETY: as in `user`: valid storage, `buf.len()` its size.
        let r = unsafe {
            libc::getgrnam_r(
                name.as_ptr(),
                gr.as_mut_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut out,
            )
        };
        if r != 0 || out.is_null() {
            return (r, None);
        }
        // SAFETY: the call returned 0 and a non-null `out`: `gr` is initialised.
        (0, Some(unsafe { gr.assume_init() }.gr_gid))
    })
}

/// The supplementary groups of `user` (`getgrouplist`, which includes `gid`).
pub(super) fn group_list(user: &CStr, gid: u32) -> Vec<u32> {
    let mut n: libc::c_int = 32;
    loop {
        let mut groups = vec![0 as libc::gid_t; n as usize];
        let mut count = n;
        // SAFETY: `groups` has room for `count` entries; getgrouplist writes at most that many
        // and sets `count` to the number it has (or needs, when it returns -1).
        let r = unsafe { libc::getgrouplist(user.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
        if r >= 0 {
            groups.truncate(count.max(0) as usize);
            return groups;
        }
        if count <= n || n >= 65536 {
            return vec![gid];
        }
        n = count;
    }
}

/// Close a descriptor a forked child inherited, leaving the `OwnedFd` that names it alone (the
/// child never returns, so that `OwnedFd` is never dropped there).
pub(super) fn close(fd: &std::os::fd::OwnedFd) {
    use std::os::fd::AsRawFd;
    // SAFETY: closes the number once in this process; the owning value is never dropped here
    // (the child ends in `execve` or `_exit`).
    unsafe { libc::close(fd.as_raw_fd()) };
}
