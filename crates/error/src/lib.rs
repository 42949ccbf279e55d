//! `sole-error`: the one error type of sole's crates, and the one place that decides each error's `code`.
//!
//! Why: every error that reaches JavaScript must carry a stable `code` string, the path and
//! pid it concerns, and a message that says what to do. If each crate invented its own codes,
//! two crates would spell the same failure two ways. So every crate returns [`Error`], and
//! [`Error::code`] is the only function that turns a failure into a code string; the binding
//! layer only copies `code`, `path`, `pid`, `errno` and `message` onto a JS `Error`.
//! Test: `error::tests` below, and `__test__/errors.spec.ts` on the JavaScript side.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Declares [`Kind`] and [`Kind::NAMED`] from one list: `Variant => "CODE"`, each with its doc.
macro_rules! kinds {
    ($( $(#[doc = $doc:literal])* $name:ident => $code:literal, )*) => {
        /// What went wrong, independent of wording. Each kind's code is spelled once, in the
        /// `kinds!` list below; the same list generates `lib/codes.ts` ([`codes_ts`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Kind {
            $( $(#[doc = $doc])* $name, )*
            /// Any other operating-system failure; the code is the errno name (`EACCES`,
            /// `ENOENT`, …), as Node's `fs` spells it.
            Os(i32),
        }

        impl Kind {
            /// Every kind with a code of its own, its code, and its doc: the one table of codes.
            pub const NAMED: &'static [(Kind, &'static str, &'static str)] = &[
                $( (Kind::$name, $code, concat!($($doc, "\n",)*)), )*
            ];

            /// This kind's code: its own from the table, or the errno name of [`Kind::Os`].
            pub fn code(self) -> std::borrow::Cow<'static, str> {
                match self {
                    $( Kind::$name => std::borrow::Cow::Borrowed($code), )*
                    Kind::Os(errno) => std::borrow::Cow::Owned(errno_name(errno)),
                }
            }
        }
    };
}

kinds! {
    /// Another live process holds the lock or pidfile (`EHELD`).
    Held => "EHELD",
    /// A bounded wait ran out (`ETIMEDOUT`).
    TimedOut => "ETIMEDOUT",
    /// A wait was cancelled by its caller (`ECANCELED`; the TS layer turns it into `AbortError`).
    Cancelled => "ECANCELED",
    /// A blocking wait would wait for a lock the same thread holds (`EDEADLK`).
    Deadlock => "EDEADLK",
    /// The path is a symbolic link; sole refuses to follow it (`ESYMLINK`).
    Symlink => "ESYMLINK",
    /// The path exists but is not a regular file (`ENOTREG`).
    NotRegular => "ENOTREG",
    /// A pid that is not an integer in 1..=2^31-1 (`EINVALIDPID`).
    InvalidPid => "EINVALIDPID",
    /// A held lock whose holder cannot be named (`EUNKNOWNHOLDER`): the process that
    /// locked it exited while a forked child kept the descriptor (see `sole_lock::holder`).
    UnknownHolder => "EUNKNOWNHOLDER",
    /// No live process has that pid, or the process a handle refers to has exited (`ENOTFOUND`).
    NotFound => "ENOTFOUND",
    /// The recorded identity is from another boot (`EBOOTID`).
    BootId => "EBOOTID",
    /// A process has the pid but started at another time: the pid was reused (`ESTARTTIME`).
    StartTime => "ESTARTTIME",
    /// The process runs another executable than recorded (`EEXEPATH`).
    ExePath => "EEXEPATH",
    /// The process's executable has another SHA-256 than recorded (`EEXEHASH`).
    ExeHash => "EEXEHASH",
    /// A name is already registered (`EDUPLICATE`).
    Duplicate => "EDUPLICATE",
    /// A write rule overlaps one owned by another allocation (`ECONFLICT`).
    Conflict => "ECONFLICT",
    /// A delegated rule is not inside the spawner's effective write scope (`ENOTSUBSET`).
    NotSubset => "ENOTSUBSET",
    /// No allocation has that name (`EUNKNOWN`).
    Unknown => "EUNKNOWN",
    /// A data file that does not parse as what sole wrote (`ECORRUPT`); never overwritten.
    Corrupt => "ECORRUPT",
    /// A file or directory whose owner or permissions would let another user tamper with it
    /// (`EINSECURE`).
    Insecure => "EINSECURE",
    /// An argument or option from the caller that has the wrong type or value (`EINVAL`, with
    /// `argument` naming it). Spelled like the errno so callers that test `EINVAL` keep working.
    InvalidArgument => "EINVAL",
    /// A bug in sole caught before it could take the host process down (`EINTERNAL`): a panic
    /// on a thread sole started, or in a call from JavaScript. Never expected; report it.
    Internal => "EINTERNAL",
    /// A daemon `spawnDaemon` started could not be started, or died or reported failure
    /// before it was ready (`EDAEMON`). `stage` says where: `setup` (the start sequence
    /// before exec: cwd, user, files), `exec` (the program could not be executed) or
    /// `startup` (it ran but exited, was killed, or sent `ERRNO=` before `READY=1`);
    /// `exitCode`/`signal`, `status` (its last `STATUS=`) and `stderr` (the last lines of its
    /// stderr file) say more.
    Daemon => "EDAEMON",
    /// The primary's `second-instance` listener threw while handling a second launch's message
    /// (`EHANDLER`): the second launch gets the listener's message; the primary carries on.
    /// Built by the TypeScript layer (`lib/instance.ts`), never by the crates.
    Handler => "EHANDLER",
    /// `require('sole')` on a machine sole has no native addon for (`ENOTSUP`): only linux
    /// x64 with glibc is supported; and, in the WebAssembly build (wasm32-wasip1), every call
    /// that needs the operating system (locks, pidfiles, processes, the registry, daemons, the
    /// single-instance guard). Thrown by the package's loader (`lib/platform.ts`), never by the
    /// crates; the message names this machine, or what the call needs and why the WebAssembly
    /// build is the one loaded.
    Unsupported => "ENOTSUP",
    /// `require('sole')` on a supported machine whose native addon is not there or does not
    /// load (`ENOBINDING`): the platform package `sole-linux-x64-gnu` was left out (installed
    /// with `--omit=optional`), or a checkout was not built; with the WebAssembly build loaded
    /// in its place, each OS call says so. Also `NAPI_RS_FORCE_WASI=error` without the
    /// WebAssembly build. Thrown by the package's loader (`lib/platform.ts`); the message says
    /// how to fix it, `cause` holds the loader's error.
    NoBinding => "ENOBINDING",
    /// A lock file, pidfile or registry on a filesystem where `flock(2)` is not a lock every
    /// process sees (`EREMOTEFS`): NFS (emulated with byte-range locks, or local to one client
    /// under `nolock`), SMB/CIFS, FUSE, 9p, Ceph and other network or cluster filesystems,
    /// named by `statfs`'s `f_type`. The message names the filesystem and says how to go on
    /// (a local directory, or `{ allowNetworkFs: true }` for a mount known to be sound).
    RemoteFs => "EREMOTEFS",
    /// A held lock was lost (`ELOST`): its file was deleted, renamed or replaced while the lock
    /// was held, so the path no longer names the locked file and another process may now hold a
    /// lock on a new file there. `lock.check()` throws it; `lock.lost` aborts with it.
    Lost => "ELOST",
}

/// A structured value attached to an error (expected/actual identity fields, the competing
/// allocation and rule of a conflict, …); the binding layer turns it into a JS value.
#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    List(Vec<Detail>),
    Obj(Vec<(String, Detail)>),
}

impl From<&str> for Detail {
    fn from(v: &str) -> Self {
        Detail::Str(v.to_string())
    }
}
impl From<String> for Detail {
    fn from(v: String) -> Self {
        Detail::Str(v)
    }
}
impl From<f64> for Detail {
    fn from(v: f64) -> Self {
        Detail::Num(v)
    }
}
impl From<u64> for Detail {
    fn from(v: u64) -> Self {
        Detail::Num(v as f64)
    }
}
impl From<i32> for Detail {
    fn from(v: i32) -> Self {
        Detail::Num(v as f64)
    }
}
impl From<bool> for Detail {
    fn from(v: bool) -> Self {
        Detail::Bool(v)
    }
}
impl<T: Into<Detail>> From<Option<T>> for Detail {
    fn from(v: Option<T>) -> Self {
        v.map_or(Detail::Null, Into::into)
    }
}

/// A failure with everything a caller needs to act on it.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
    message: String,
    path: Option<PathBuf>,
    pid: Option<i32>,
    /// The OS error behind an error of another kind (`EDAEMON` from a failed `chdir`).
    os_errno: Option<i32>,
    details: Vec<(&'static str, Detail)>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            path: None,
            pid: None,
            os_errno: None,
            details: Vec::new(),
        }
    }

    /// An OS error during `what` on `path`, with advice where the errno has an obvious one.
    pub fn os(err: io::Error, what: &str, path: &Path) -> Self {
        let errno = err.raw_os_error().unwrap_or(libc::EIO);
        Error::new(
            Kind::Os(errno),
            format!("{what} {}: {err}.{}", path.display(), os_advice(errno)),
        )
        .with_path(path)
    }

    /// The error for a read about `subject` (a `/proc` file, say) that failed because this
    /// process or the machine is out of descriptors or memory ([`is_exhausted`]); `None` for
    /// any other failure, which the caller judges itself.
    pub fn exhausted(err: &io::Error, subject: &str) -> Option<Self> {
        let errno = err.raw_os_error().filter(|&e| is_exhausted(e))?;
        Some(Error::new(
            Kind::Os(errno),
            format!("cannot read {subject}: {err}.{}", os_advice(errno)),
        ))
    }

    /// A wrong argument: `EINVAL` with `argument` (the parameter or option name as the caller
    /// spells it, e.g. `"timeoutMs"`, `"path"`) copied onto the JavaScript error.
    pub fn invalid_argument(argument: &str, message: impl Into<String>) -> Self {
        Error::new(Kind::InvalidArgument, message).with_detail("argument", argument)
    }

    /// A caught panic: `EINTERNAL`, saying what was being done and that it is sole's bug.
    pub fn internal(what: &str, payload: &(dyn std::any::Any + Send)) -> Self {
        let why = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Error::new(
            Kind::Internal,
            format!("internal error in sole while {what}: {why}. This is a bug in sole: please report it; the process was not harmed."),
        )
    }

    pub fn with_path(mut self, path: &Path) -> Self {
        self.path = Some(path.to_path_buf());
        self
    }

    pub fn with_pid(mut self, pid: i32) -> Self {
        self.pid = Some(pid);
        self
    }

    /// Attach a named structured value (copied onto the JS error as a property).
    pub fn with_detail(mut self, key: &'static str, value: impl Into<Detail>) -> Self {
        self.details.push((key, value.into()));
        self
    }

    /// The structured values attached with [`Error::with_detail`].
    pub fn details(&self) -> &[(&'static str, Detail)] {
        &self.details
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn pid(&self) -> Option<i32> {
        self.pid
    }

    /// Record the OS error behind an error whose kind is not [`Kind::Os`] (`EDAEMON` at
    /// `stage: setup` because `chdir` failed with `ENOENT`): [`Error::errno`] returns it, and
    /// the binding copies it onto the JavaScript error as `errno` (negative, as Node's).
    pub fn with_errno(mut self, errno: i32) -> Self {
        self.os_errno = Some(errno);
        self
    }

    /// The OS errno behind an `Os` error (and `EINVAL` for an invalid argument), or the one
    /// given with [`Error::with_errno`].
    pub fn errno(&self) -> Option<i32> {
        if let Some(e) = self.os_errno {
            return Some(e);
        }
        match self.kind {
            Kind::Os(e) => Some(e),
            Kind::InvalidArgument => Some(libc::EINVAL),
            _ => None,
        }
    }

    /// The stable code string seen by JavaScript as `err.code`: the kind's own code from the
    /// `kinds!` table, or the errno name. The only place codes are spelled.
    pub fn code(&self) -> String {
        self.kind.code().into_owned()
    }
}

pub mod timeout;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message)
    }
}

impl std::error::Error for Error {}

/// `ENODATA` (no such extended attribute), which WASI's libc does not define. The WebAssembly
/// build of the binding makes no system calls, so there it only keeps the table whole.
#[cfg(not(target_os = "wasi"))]
const ENODATA: i32 = libc::ENODATA;
#[cfg(target_os = "wasi")]
const ENODATA: i32 = -61;

/// Node's spelling of common errnos (matches `util.getSystemErrorName`), so `err.code` of an
/// I/O failure reads the same as from `fs`. Part of the table `lib/codes.ts` is generated from.
pub const ERRNO_NAMES: &[(i32, &str)] = &[
    (libc::EPERM, "EPERM"),
    (libc::ENOENT, "ENOENT"),
    (libc::EINTR, "EINTR"),
    (libc::EIO, "EIO"),
    (libc::EBADF, "EBADF"),
    (libc::EAGAIN, "EAGAIN"),
    (libc::ENOMEM, "ENOMEM"),
    (libc::EACCES, "EACCES"),
    (libc::EBUSY, "EBUSY"),
    (libc::EEXIST, "EEXIST"),
    (libc::EXDEV, "EXDEV"),
    (libc::ENOTDIR, "ENOTDIR"),
    (libc::EISDIR, "EISDIR"),
    (libc::EINVAL, "EINVAL"),
    (libc::ENFILE, "ENFILE"),
    (libc::EMFILE, "EMFILE"),
    (libc::ETXTBSY, "ETXTBSY"),
    (libc::EFBIG, "EFBIG"),
    (libc::ENOSPC, "ENOSPC"),
    (libc::EROFS, "EROFS"),
    (libc::ENAMETOOLONG, "ENAMETOOLONG"),
    (libc::ENOLCK, "ENOLCK"),
    (libc::ENOSYS, "ENOSYS"),
    (libc::ELOOP, "ELOOP"),
    (libc::EOVERFLOW, "EOVERFLOW"),
    (libc::EDQUOT, "EDQUOT"),
    (libc::ESTALE, "ESTALE"),
    (libc::EOPNOTSUPP, "EOPNOTSUPP"),
    (libc::ESRCH, "ESRCH"),
    (libc::ENXIO, "ENXIO"),
    (libc::ENODEV, "ENODEV"),
    (libc::ECHILD, "ECHILD"),
    (libc::E2BIG, "E2BIG"),
    (libc::ENOEXEC, "ENOEXEC"),
    (libc::EFAULT, "EFAULT"),
    (libc::ENOTTY, "ENOTTY"),
    (libc::ESPIPE, "ESPIPE"),
    (libc::EMLINK, "EMLINK"),
    (libc::ERANGE, "ERANGE"),
    (libc::ENOTEMPTY, "ENOTEMPTY"),
    (ENODATA, "ENODATA"),
    // Sockets (sd_notify, the single-instance channel).
    (libc::EPIPE, "EPIPE"),
    (libc::ENOTSOCK, "ENOTSOCK"),
    (libc::ENOTCONN, "ENOTCONN"),
    (libc::EISCONN, "EISCONN"),
    (libc::EMSGSIZE, "EMSGSIZE"),
    (libc::EPROTOTYPE, "EPROTOTYPE"),
    (libc::EAFNOSUPPORT, "EAFNOSUPPORT"),
    (libc::EADDRINUSE, "EADDRINUSE"),
    (libc::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (libc::ECONNREFUSED, "ECONNREFUSED"),
    (libc::ECONNRESET, "ECONNRESET"),
    (libc::ECONNABORTED, "ECONNABORTED"),
    (libc::ENOBUFS, "ENOBUFS"),
    (libc::EINPROGRESS, "EINPROGRESS"),
    (libc::EALREADY, "EALREADY"),
];

/// Advice for an errno that has an obvious one (a leading space, or empty).
pub fn os_advice(errno: i32) -> &'static str {
    match errno {
        libc::EACCES | libc::EPERM => {
            " Check the permissions of the file and its directory, or choose a path this user owns."
        }
        libc::ENOENT => " A directory on the path does not exist (or does not allow new files): create it, or pass { createDirs: true }.",
        libc::EROFS => " The filesystem is read-only: choose a writable location.",
        libc::ENOSPC | libc::EDQUOT => " The filesystem is full: free space and retry.",
        libc::ENOLCK => " The filesystem does not support flock (NFS without lock support?): use a local path.",
        libc::ENOTDIR => " A component of the path is not a directory.",
        libc::EMFILE | libc::ENFILE => " This process (EMFILE) or the system (ENFILE) is out of file descriptors: close descriptors or raise the limit (ulimit -n), then try again.",
        libc::ENOMEM => " Out of memory: free memory, then try again.",
        _ => "",
    }
}

/// Out of descriptors or memory (`EMFILE`, `ENFILE`, `ENOMEM`): an errno that says nothing
/// about the file or process asked about, only about this process or machine. A look that
/// fails with one is an error, never a verdict ("free", "exited", "another boot").
/// Test: `__test__/pidfile.spec.ts` ("out of descriptors").
pub fn is_exhausted(errno: i32) -> bool {
    matches!(errno, libc::EMFILE | libc::ENFILE | libc::ENOMEM)
}

fn errno_name(errno: i32) -> String {
    match ERRNO_NAMES.iter().find(|(e, _)| *e == errno) {
        Some((_, name)) => (*name).to_string(),
        None => format!("ERRNO{errno}"),
    }
}

mod codes_ts;
pub use codes_ts::codes_ts;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_strings() {
        assert_eq!(Error::new(Kind::Held, "x").code(), "EHELD");
        assert_eq!(Error::new(Kind::Os(libc::EACCES), "x").code(), "EACCES");
        assert_eq!(Error::new(Kind::Os(4095), "x").code(), "ERRNO4095");
    }

    #[test]
    fn os_errors_name_the_path_and_advise() {
        let e = Error::os(
            io::Error::from_raw_os_error(libc::ENOENT),
            "open lock file",
            Path::new("/nope/x.lock"),
        );
        assert_eq!(e.code(), "ENOENT");
        assert!(e.message().contains("/nope/x.lock"));
        assert!(e.message().contains("createDirs"));
        assert_eq!(e.path(), Some(Path::new("/nope/x.lock")));
    }
}
