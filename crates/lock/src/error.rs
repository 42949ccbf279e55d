//! The one error type of sole's crates, and the one place that decides each error's `code`.
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

/// What went wrong, independent of wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Another live process holds the lock or pidfile (`EHELD`).
    Held,
    /// A bounded wait ran out (`ETIMEDOUT`).
    TimedOut,
    /// A wait was cancelled by its caller (`ECANCELED`; the TS layer turns it into `AbortError`).
    Cancelled,
    /// A blocking wait would wait for a lock the same thread holds (`EDEADLK`).
    Deadlock,
    /// The path is a symbolic link; sole refuses to follow it (`ESYMLINK`).
    Symlink,
    /// The path exists but is not a regular file (`ENOTREG`).
    NotRegular,
    /// A pid that is not an integer in 1..=2^31-1 (`EINVALIDPID`).
    InvalidPid,
    /// A held lock whose holder cannot be named (`EUNKNOWNHOLDER`): see `holder::find`.
    UnknownHolder,
    /// Any other operating-system failure; the code is the errno name (`EACCES`, `ENOENT`, …).
    Os(i32),
}

/// A failure with everything a caller needs to act on it.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
    message: String,
    path: Option<PathBuf>,
    pid: Option<i32>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            path: None,
            pid: None,
        }
    }

    /// An OS error during `what` on `path`, with advice where the errno has an obvious one.
    pub fn os(err: io::Error, what: &str, path: &Path) -> Self {
        let errno = err.raw_os_error().unwrap_or(libc::EIO);
        let advice = match errno {
            libc::EACCES | libc::EPERM => {
                " Check the permissions of the file and its directory, or choose a path this user owns."
            }
            libc::ENOENT => " A directory on the path does not exist (or does not allow new files): create it, or pass { createDirs: true }.",
            libc::EROFS => " The filesystem is read-only: choose a writable location.",
            libc::ENOSPC | libc::EDQUOT => " The filesystem is full: free space and retry.",
            libc::ENOLCK => " The filesystem does not support flock (NFS without lock support?): use a local path.",
            libc::ENOTDIR => " A component of the path is not a directory.",
            _ => "",
        };
        Error::new(
            Kind::Os(errno),
            format!("{what} {}: {err}.{advice}", path.display()),
        )
        .with_path(path)
    }

    pub fn with_path(mut self, path: &Path) -> Self {
        self.path = Some(path.to_path_buf());
        self
    }

    pub fn with_pid(mut self, pid: i32) -> Self {
        self.pid = Some(pid);
        self
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

    /// The OS errno behind an `Os` error.
    pub fn errno(&self) -> Option<i32> {
        match self.kind {
            Kind::Os(e) => Some(e),
            _ => None,
        }
    }

    /// The stable code string seen by JavaScript as `err.code`. The only place codes are spelled.
    pub fn code(&self) -> String {
        match self.kind {
            Kind::Held => "EHELD".into(),
            Kind::TimedOut => "ETIMEDOUT".into(),
            Kind::Cancelled => "ECANCELED".into(),
            Kind::Deadlock => "EDEADLK".into(),
            Kind::Symlink => "ESYMLINK".into(),
            Kind::NotRegular => "ENOTREG".into(),
            Kind::InvalidPid => "EINVALIDPID".into(),
            Kind::UnknownHolder => "EUNKNOWNHOLDER".into(),
            Kind::Os(errno) => errno_name(errno),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message)
    }
}

impl std::error::Error for Error {}

/// Node's spelling of common errnos (matches `util.getSystemErrorName`), so `err.code` of an
/// I/O failure reads the same as from `fs`.
fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ETXTBSY => "ETXTBSY",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOLCK => "ENOLCK",
        libc::ENOSYS => "ENOSYS",
        libc::ELOOP => "ELOOP",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EDQUOT => "EDQUOT",
        libc::ESTALE => "ESTALE",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ESRCH => "ESRCH",
        _ => return format!("ERRNO{errno}"),
    };
    name.to_string()
}

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
