//! Where an instance name lives: its directory (checked once, kept open), its lock file, its
//! socket file, and the address that reaches the socket.
//!
//! Races and traps closed here:
//! - **A directory another user controls**: whoever can write the directory can plant the
//!   lock file (and hold it: every launch then waits on a stranger) or the socket. The default
//!   directory is created 0700 and must be ours, not a symlink, not group/world writable
//!   (`DirPolicy::Private`); a directory the caller names follows the scope registry's rule
//!   (`DirPolicy::Given`: ours or root's, not group/world writable). The rule itself is the
//!   scope registry's (`sole_scope::store::checks::check_dir`), applied to the opened
//!   descriptor, so a path swapped after the check is not what was checked.
//! - **A socket path longer than `sun_path`**: `bind`/`connect` take at most 107 bytes of path
//!   (108 with no terminating NUL; Node's `listen` needs the NUL), and a deep `$HOME` or a long
//!   name exceeds it. Then both ends use `/proc/self/fd/<dirfd>/<file>`: the kernel resolves
//!   the magic link to the directory this [`Place`] holds open, so the short path names the
//!   same socket, valid in this process while the place lives. ([`Place::address`].)
//! - **A name too long for any address**: a 200-byte name cannot fit even the `/proc` form, so
//!   a name over [`PLAIN_NAME_BYTES`] gets a socket file named by its SHA-256 (a readable
//!   prefix, `#`, 64 hex digits: 65 to 77 bytes, never the file name of a shorter name).
//!
//! Test: `tests::*` below; the long-path round trip in `deliver::tests`.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use sha2::{Digest, Sha256};
use sole_error::{Error, Result};
use sole_lock::fs;
use sole_scope::store::checks::{check_dir, DirPolicy};

/// Longest instance name, in bytes.
pub const MAX_NAME_BYTES: usize = 200;

/// Longest path `bind`/`connect` take with its terminating NUL (`sun_path` is 108 bytes).
pub const MAX_ADDRESS_BYTES: usize = 107;

/// Longest name whose socket file is `<name>.sock`: with `/proc/self/fd/<10 digits>/` in
/// front that is 94 bytes, within [`MAX_ADDRESS_BYTES`]. Longer names are hashed.
pub const PLAIN_NAME_BYTES: usize = 64;

/// Bytes of a long name kept, readable, in front of its hash.
const HASHED_PREFIX_BYTES: usize = 12;

/// What the instance files are used for, as errors name it.
const USED_FOR: &str = "the single-instance lock and socket";

/// An instance name's directory (open), lock file and socket file.
/// Test: `tests::*`.
#[derive(Debug)]
pub struct Place {
    dir: PathBuf,
    lock_path: PathBuf,
    socket_path: PathBuf,
    /// The socket's file name in `dir`.
    socket_file: String,
    /// The checked directory, held open for the `/proc/self/fd` address.
    dir_fd: OwnedFd,
}

impl Place {
    /// Why: both ends of the channel, and the lock, must agree on one directory, checked
    /// before anything is created in it.
    /// What: check `name` (1 to 200 bytes, no `/`, no NUL, not `.` or `..`: `EINVAL` naming
    /// `name`), create the directory 0700 if missing (with missing parents), open it and
    /// check it: `dir` as [`DirPolicy::Given`], or the [`default_dir`] as
    /// [`DirPolicy::Private`] (`ESYMLINK`, `EINSECURE`, `ENOTDIR`). Creates no file in it.
    /// Test: `tests::default_dir_is_private_and_created_0700`, `tests::names_are_checked`,
    /// `tests::refuses_symlinks_open_and_foreign_dirs`.
    pub fn locate(name: &str, dir: Option<&Path>) -> Result<Place> {
        check_name(name)?;
        match dir {
            Some(d) => Place::at(name, given_dir(d)?, DirPolicy::Given),
            None => Place::at(name, default_dir(), DirPolicy::Private),
        }
    }

    /// [`Place::locate`] in `dir`, checked under `policy` (`name` already checked).
    fn at(name: &str, dir: PathBuf, policy: DirPolicy) -> Result<Place> {
        let dir_fd = open_dir(&dir, policy)?;
        let socket_file = socket_file_name(name);
        Ok(Place {
            lock_path: dir.join(format!("{name}.lock")),
            socket_path: dir.join(&socket_file),
            socket_file,
            dir,
            dir_fd,
        })
    }

    /// The directory (absolute, as given or defaulted).
    /// Test: `tests::paths_are_in_the_directory`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/<name>.lock`: the flock that decides who is primary (taken by the caller with
    /// sole's lock; this crate creates no file).
    /// Test: `tests::paths_are_in_the_directory`.
    pub fn lock_path(&self) -> &Path {
        &self.lock_path
    }

    /// `<dir>/<name>.sock` (for a name over [`PLAIN_NAME_BYTES`], `<dir>/<prefix>#<sha256>`).
    /// Test: `tests::paths_are_in_the_directory`, `tests::long_names_get_a_hashed_socket_file`.
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// The socket's file name in [`Place::dir`] (for calls relative to [`Place::dir_fd`]).
    /// Test: `tests::long_names_get_a_hashed_socket_file`.
    pub fn socket_file(&self) -> &OsStr {
        OsStr::new(&self.socket_file)
    }

    /// The checked directory's descriptor (what [`Place::address`] goes through; opened
    /// `O_RDONLY|O_DIRECTORY|O_CLOEXEC` by `sole_lock::fs`, the one place sole opens files).
    /// Test: `tests::long_directories_use_the_proc_address`.
    pub fn dir_fd(&self) -> BorrowedFd<'_> {
        self.dir_fd.as_fd()
    }

    /// Why: `bind` (the primary, Node's `listen`) and `connect` ([`crate::deliver`]) take at
    /// most [`MAX_ADDRESS_BYTES`] of path.
    /// What: [`Place::socket_path`] when it fits; else `/proc/self/fd/<dirfd>/<file>`, which
    /// names the same socket in this process while this place lives (do not pass it to
    /// another process, and do not use it after the place is dropped).
    /// Test: `tests::long_directories_use_the_proc_address`,
    /// `deliver::tests::round_trip_through_a_long_directory`.
    pub fn address(&self) -> PathBuf {
        if self.socket_path.as_os_str().len() <= MAX_ADDRESS_BYTES {
            return self.socket_path.clone();
        }
        PathBuf::from(format!(
            "/proc/self/fd/{}/{}",
            self.dir_fd.as_raw_fd(),
            self.socket_file
        ))
    }
}

/// Why: the name becomes two file names in a shared directory; a `/`, `..` or NUL in it would
/// escape the directory or fail obscurely in the kernel.
/// What: `EINVAL` (argument `name`) unless 1 to [`MAX_NAME_BYTES`] bytes, without `/` or
/// NUL, not `.` or `..`.
/// Test: `tests::names_are_checked`.
pub fn check_name(name: &str) -> Result<()> {
    let why = if name.is_empty() {
        "is empty"
    } else if name.len() > MAX_NAME_BYTES {
        "is longer than 200 bytes"
    } else if name.contains('/') {
        "contains '/'"
    } else if name.contains('\0') {
        "contains a NUL byte"
    } else if name == "." || name == ".." {
        "is a directory name"
    } else {
        return Ok(());
    };
    let shown: String = name.chars().take(60).collect();
    let more = if shown.len() < name.len() { "…" } else { "" };
    Err(Error::invalid_argument(
        "name",
        format!(
            "the instance name {shown:?}{more} {why}: pass 1 to 200 bytes without '/' or NUL, such as your app's id (\"com.example.app\")."
        ),
    ))
}

/// Why: every launch of the same user must find the same directory without configuration,
/// and it must be one no other user can write.
/// What: `$XDG_RUNTIME_DIR/sole-instance` when `XDG_RUNTIME_DIR` is set and absolute, else
/// `<temp dir>/sole-instance-<euid>` (checked as [`DirPolicy::Private`] by
/// [`Place::locate`]).
/// Test: `tests::default_dir_is_private_and_created_0700`.
pub fn default_dir() -> PathBuf {
    default_dir_from(
        std::env::var_os("XDG_RUNTIME_DIR"),
        &std::env::temp_dir(),
        fs::euid(),
    )
}

/// [`default_dir`] from its inputs (the environment is read once, by the caller).
fn default_dir_from(xdg: Option<std::ffi::OsString>, temp: &Path, euid: u32) -> PathBuf {
    if let Some(d) = xdg.filter(|v| !v.is_empty()) {
        let d = PathBuf::from(d);
        if d.is_absolute() {
            return d.join("sole-instance");
        }
    }
    temp.join(format!("sole-instance-{euid}"))
}

/// Why: a socket file name must fit the `/proc/self/fd` address whatever the name's length.
/// What: `<name>.sock` for a name of at most [`PLAIN_NAME_BYTES`]; else its first bytes (at
/// most 12, whole characters), `#`, and the 64 hex digits of its SHA-256: 65 to 77 bytes, so
/// never the file name of a plain name (at most 69 bytes, ending in `.sock`).
/// Test: `tests::long_names_get_a_hashed_socket_file`.
pub fn socket_file_name(name: &str) -> String {
    if name.len() <= PLAIN_NAME_BYTES {
        return format!("{name}.sock");
    }
    let mut cut = HASHED_PREFIX_BYTES;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let hex: String = Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}#{hex}", &name[..cut])
}

/// A directory the caller named: not empty, no NUL (`EINVAL` naming `dir`), made absolute.
fn given_dir(d: &Path) -> Result<PathBuf> {
    let bytes = d.as_os_str().as_bytes();
    let why = if bytes.is_empty() {
        "is empty"
    } else if bytes.contains(&0) {
        "contains a NUL byte"
    } else {
        return std::path::absolute(d).map_err(|e| Error::os(e, "resolve directory", d));
    };
    Err(Error::invalid_argument(
        "dir",
        format!("the instance directory {:?} {why}: pass the path of a directory only this user can write, or nothing for the default.", d.display().to_string()),
    ))
}

/// Create (0700, with parents), open and check the directory (see [`Place::locate`]). With
/// [`DirPolicy::Private`] the directory itself must not be a symlink (`ESYMLINK`); a
/// directory the caller named may be reached through one.
fn open_dir(dir: &Path, policy: DirPolicy) -> Result<OwnedFd> {
    fs::mkdirs(dir)?;
    let fd = fs::open_dir(dir, policy != DirPolicy::Private).map_err(|e| {
        // O_NOFOLLOW|O_DIRECTORY on a symlink fails with ELOOP or ENOTDIR: say which it is.
        let is_link = std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink());
        match fs::errno(&e) {
            Some(Errno::LOOP) => fs::symlink_error(dir, USED_FOR),
            Some(Errno::NOTDIR) if is_link => fs::symlink_error(dir, USED_FOR),
            _ => Error::os(e, "open instance directory", dir),
        }
    })?;
    let st = fs::fstat(&fd).map_err(|e| Error::os(e, "stat instance directory", dir))?;
    check_dir(&st, dir, policy).map_err(|e| reword(e, dir))?;
    Ok(fd)
}

/// The scope registry's directory rule names the registry in its refusals (`EINSECURE`,
/// `ENOTDIR`, neither with details); the refusal is the same here, so only the name of what
/// is at stake changes.
fn reword(e: Error, dir: &Path) -> Error {
    let message = e.message().replace("the scope registry", USED_FOR);
    Error::new(e.kind(), message).with_path(e.path().unwrap_or(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn names_are_checked() {
        let d = tempfile::tempdir().unwrap();
        let long = "x".repeat(201);
        for bad in ["", "a/b", "/", "a\0b", ".", "..", long.as_str()] {
            let e = Place::locate(bad, Some(d.path())).unwrap_err();
            assert_eq!(e.code(), "EINVAL", "{bad:?}");
            assert_eq!(e.details()[0], ("argument", "name".into()));
            assert!(e.message().len() < 400, "{}", e.message());
        }
        // Nothing was created for a refused name.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
        let ok = "é".repeat(100); // 200 bytes
        for good in [
            "a",
            "com.example.app",
            "...",
            " sp ace ",
            "ü-ñ",
            ok.as_str(),
        ] {
            Place::locate(good, Some(d.path())).unwrap();
        }
        let e = Place::locate("a", Some(Path::new(""))).unwrap_err();
        assert_eq!(e.details()[0], ("argument", "dir".into()));
    }

    #[test]
    fn paths_are_in_the_directory() {
        let d = tempfile::tempdir().unwrap();
        let p = Place::locate("com.example.app", Some(d.path())).unwrap();
        assert_eq!(p.dir(), d.path());
        assert_eq!(p.lock_path(), d.path().join("com.example.app.lock"));
        assert_eq!(p.socket_path(), d.path().join("com.example.app.sock"));
        assert_eq!(p.address(), p.socket_path());
        // A relative directory is made absolute.
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(given_dir(Path::new("./x")).unwrap(), cwd.join("x"));
    }

    #[test]
    fn long_names_get_a_hashed_socket_file() {
        let d = tempfile::tempdir().unwrap();
        let name = "ü".repeat(100); // 200 bytes
        let p = Place::locate(&name, Some(d.path())).unwrap();
        let file = p.socket_file().to_str().unwrap().to_string();
        assert!(file.starts_with("üüüüüü#"), "{file}");
        assert_eq!(file.len(), 12 + 1 + 64);
        assert_eq!(p.lock_path(), d.path().join(format!("{name}.lock")));
        // Stable across calls, distinct for distinct names, and longer than any plain name's.
        assert_eq!(socket_file_name(&name), file);
        let other = format!("{}x", "ü".repeat(99));
        assert_ne!(socket_file_name(&other), file);
        let plain = socket_file_name(&"a".repeat(PLAIN_NAME_BYTES));
        assert!(plain.ends_with(".sock") && plain.len() == PLAIN_NAME_BYTES + 5);
        let hashed = socket_file_name(&"a".repeat(PLAIN_NAME_BYTES + 1));
        assert!(hashed.len() > plain.len() - 5 && !hashed.ends_with(".sock"));
        // "a" * 12 + "#" cut at a char boundary: a 4-byte character straddling byte 12.
        let n = format!("abcdefghijk{}{}", '😀', "z".repeat(60));
        assert!(socket_file_name(&n).starts_with("abcdefghijk#"));
    }

    #[test]
    fn long_directories_use_the_proc_address() {
        let d = tempfile::tempdir().unwrap();
        let deep = d.path().join("d".repeat(60)).join("e".repeat(60));
        let name = "n".repeat(PLAIN_NAME_BYTES);
        let p = Place::locate(&name, Some(&deep)).unwrap();
        assert!(p.socket_path().as_os_str().len() > 108);
        let a = p.address();
        let s = a.to_str().unwrap();
        assert!(s.len() <= MAX_ADDRESS_BYTES, "{s}");
        assert_eq!(
            s,
            format!("/proc/self/fd/{}/{name}.sock", p.dir_fd().as_raw_fd())
        );
        // The short path and the long one name the same directory entry.
        std::fs::write(p.socket_path(), b"x").unwrap();
        assert_eq!(
            std::fs::metadata(&a).unwrap().ino(),
            std::fs::metadata(p.socket_path()).unwrap().ino()
        );
        // The directories were created 0700.
        for dir in [deep.parent().unwrap(), deep.as_path()] {
            assert_eq!(std::fs::metadata(dir).unwrap().mode() & 0o777, 0o700);
        }
        // Even the longest name fits the /proc form.
        let q = Place::locate(&"z".repeat(MAX_NAME_BYTES), Some(&deep)).unwrap();
        assert!(q.address().as_os_str().len() <= MAX_ADDRESS_BYTES);
    }

    #[test]
    fn default_dir_is_private_and_created_0700() {
        let tmp = Path::new("/tmp");
        let run = Some("/run/user/1000".into());
        assert_eq!(
            default_dir_from(run, tmp, 1000),
            Path::new("/run/user/1000/sole-instance")
        );
        // Unset, empty or relative XDG_RUNTIME_DIR: the per-user temp directory.
        for xdg in [None, Some("".into()), Some("relative/run".into())] {
            assert_eq!(
                default_dir_from(xdg, tmp, 1000),
                Path::new("/tmp/sole-instance-1000")
            );
        }

        // What `locate` does with the default directory: DirPolicy::Private.
        let d = tempfile::tempdir().unwrap();
        let private = d.path().join("run").join("sole-instance");
        let p = Place::at("app", private.clone(), DirPolicy::Private).unwrap();
        let m = std::fs::metadata(p.dir()).unwrap();
        assert_eq!(m.mode() & 0o777, 0o700);
        assert_eq!(m.uid(), fs::euid());

        // A group-writable one is refused, naming it, not the scope registry.
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o770)).unwrap();
        let e = Place::at("app", private.clone(), DirPolicy::Private).unwrap_err();
        assert_eq!(e.code(), "EINSECURE");
        assert_eq!(e.path(), Some(private.as_path()));
        assert!(e.message().contains(USED_FOR), "{}", e.message());
        assert!(!e.message().contains("scope"), "{}", e.message());

        // A symlink as the private directory is refused (never followed), even to a good one.
        std::fs::remove_dir(&private).unwrap();
        let elsewhere = d.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &private).unwrap();
        let e = Place::at("app", private.clone(), DirPolicy::Private).unwrap_err();
        assert_eq!(e.code(), "ESYMLINK", "{}", e.message());
        assert!(!e.message().contains("scope"), "{}", e.message());
    }

    #[test]
    fn refuses_symlinks_open_and_foreign_dirs() {
        let d = tempfile::tempdir().unwrap();
        // Group/world writable: refused, and nothing is created in it.
        let open = d.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = Place::locate("app", Some(&open)).unwrap_err();
        assert_eq!(e.code(), "EINSECURE");
        assert!(e.message().contains("mode 777"), "{}", e.message());
        assert_eq!(std::fs::read_dir(&open).unwrap().count(), 0);

        // A directory the caller names may be reached through a symlink (it is theirs to
        // name); the checks apply to what it resolves to.
        let real = d.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        Place::locate("app", Some(&link)).unwrap();
        let link_open = d.path().join("link-open");
        std::os::unix::fs::symlink(&open, &link_open).unwrap();
        assert_eq!(
            Place::locate("app", Some(&link_open)).unwrap_err().code(),
            "EINSECURE"
        );

        // A file where the directory belongs.
        let file = d.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let e = Place::locate("app", Some(&file)).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENOTDIR), "{}", e.message());

        // Owned by another user (root can make one): refused for a given directory unless
        // the owner is root, and a private directory must be our own.
        if !rustix::process::geteuid().is_root() {
            eprintln!("refuses_symlinks_open_and_foreign_dirs: not root: cannot chown a directory to another user; the foreign-owner refusal is not checked");
            return;
        }
        let foreign = d.path().join("foreign");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
        let e = Place::locate("app", Some(&foreign)).unwrap_err();
        assert_eq!(e.code(), "EINSECURE");
        assert!(e.message().contains("uid 65534"), "{}", e.message());
        assert_eq!(e.path(), Some(foreign.as_path()));
    }
}
