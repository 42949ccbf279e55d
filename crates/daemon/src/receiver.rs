//! sole's private sd_notify socket for a daemon it starts: where `spawnDaemon` learns that the
//! daemon is ready (`READY=1`), what it said last (`STATUS=`), or that it failed (`ERRNO=`).
//!
//! Why a private socket: readiness is only worth waiting for if nobody but the daemon can
//! declare it. Three races are closed here, each in [`Receiver::new`] or [`Receiver::drain`]:
//!
//! 1. *A socket someone else prepared.* The socket lives in a fresh directory created with
//!    `mkdir` under a random name: `mkdir` fails if the name exists, so an attacker cannot
//!    have planted the directory (or a symlink in its place), and the directory is 0700 (0710
//!    for the daemon's group when the daemon drops privileges), so nobody else can reach the
//!    socket, replace it, or list it. The parent directory is checked to be one nobody else
//!    can rename entries in (ours, or sticky like /tmp).
//! 2. *Another process says READY=1 first.* Every datagram carries the sender's credentials,
//!    attached and verified by the kernel (`SO_PASSCRED` is on before the socket is bound, so
//!    no datagram can arrive without them); [`Receiver::drain`] drops every datagram whose uid
//!    is not the daemon's, and every datagram without credentials.
//! 3. *A hostile sender's descriptors.* A sender may attach descriptors (`SCM_RIGHTS`); the
//!    kernel installs them in our process when we read the datagram. They are received
//!    `CLOEXEC` (so a concurrent fork+exec of a daemon never inherits one) and closed at once.
//!    A datagram longer than [`DATAGRAM_MAX`] is truncated by the read and ignored whole, as
//!    systemd does, rather than half-parsed.
//!
//! Why this module has `unsafe` (the `sys` module below): rustix's `recvmsg` parses the
//! credentials into `UCred`, whose pid is a `NonZeroI32`; the kernel reports pid 0 for a sender
//! whose pid is not visible in our pid namespace (a process outside a container writing to a
//! socket inside it), and rustix would then build an invalid `NonZeroI32` (undefined behaviour)
//! when the message is parsed or merely dropped. So the datagram is read with `libc::recvmsg`
//! and the control messages are parsed by hand, each step with its safety argument.
//!
//! Tests: `tests::*` below: a round trip with [`crate::notify`], datagrams from
//! `systemd-notify` and python3 (senders nobody here wrote), the uid filter with a real sender
//! running as `nobody`, descriptors sent by a hostile sender (counted in /proc/self/fd, in a
//! child process), oversized datagrams, and the directory's permissions and removal.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use sole_error::{Error, Kind, Result};

pub use crate::notify::DATAGRAM_MAX;

/// The socket's name inside its directory.
const SOCKET_NAME: &str = "notify";

/// The most datagrams one [`Receiver::drain`] reads, so a sender that floods the socket cannot
/// keep the caller in one call forever; the socket stays readable and the caller polls again.
/// (Untested on purpose: the kernel queues only `net.unix.max_dgram_qlen` datagrams, so only a
/// concurrent flood reaches it.)
pub const DRAIN_MAX: usize = 1024;

/// The longest socket path used: `sun_path` holds 108 bytes, and C senders (systemd-notify,
/// libsystemd) need room for the terminating NUL.
const PATH_MAX_BYTES: usize = 107;

/// sole's notify socket for one daemon: a datagram socket bound at [`Receiver::path`] (the
/// `NOTIFY_SOCKET` value to give the daemon), in a directory of its own, both removed on drop.
/// Why: see the module doc. Test: `tests::round_trip_with_notify`.
#[derive(Debug)]
pub struct Receiver {
    socket: OwnedFd,
    /// The private directory, kept open so drop removes the socket in *this* directory even
    /// if a path component was changed meanwhile.
    dir: OwnedFd,
    /// The directory the private one was created in, and the private one's name there.
    parent: OwnedFd,
    name: OsString,
    path: PathBuf,
}

impl Receiver {
    /// A fresh directory `sole-notify-XXXXXXXX` (8 random characters, created with `mkdir`
    /// so it cannot pre-exist) under `$XDG_RUNTIME_DIR` when that is an absolute directory
    /// owned by us and not writable by others, else under [`std::env::temp_dir`] (when
    /// absolute and safe), else `/tmp`; a datagram socket `notify` bound in it with
    /// `SO_PASSCRED` on, `O_NONBLOCK` and `CLOEXEC`. A base whose socket path would not fit
    /// `sun_path` is skipped.
    ///
    /// `owner`: `Some((uid, gid))` when the daemon will run as another user. Then the base must
    /// be searchable by that user (so `$XDG_RUNTIME_DIR`, private to us, is skipped), the
    /// directory stays ours but is group `gid` with mode 0710 (the daemon may enter it, not
    /// change it), and the socket is owned by `uid:gid` with mode 0600: the daemon can send,
    /// nobody else but root can. Changing owners needs root: otherwise `EPERM`, saying so.
    /// Without `owner` (or with our own ids) the directory is 0700 and the socket 0600.
    /// Test: `tests::round_trip_with_notify`, `tests::uid_filter_and_owner`,
    /// `tests::base_directory_choice`.
    pub fn new(owner: Option<(u32, u32)>) -> Result<Receiver> {
        let euid = rustix::process::geteuid().as_raw();
        let egid = rustix::process::getegid().as_raw();
        let owner = owner.filter(|&o| o != (euid, egid));
        let xdg = std::env::var_os("XDG_RUNTIME_DIR");
        let base = choose_base(
            xdg.as_deref(),
            &std::env::temp_dir(),
            owner.map(|o| o.0),
            euid,
        );
        create_in(&base, owner)
    }

    /// The socket's path: the `NOTIFY_SOCKET` value to give the daemon.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The socket, to poll for readable (`POLLIN`) before calling [`Receiver::drain`].
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Every datagram queued now (up to [`DRAIN_MAX`]), read without blocking and parsed.
    /// Dropped, not returned: datagrams whose `SCM_CREDENTIALS` uid is not `uid`, datagrams
    /// without credentials, datagrams longer than [`DATAGRAM_MAX`] (truncated by the read)
    /// and datagrams whose control data was truncated. Descriptors a sender attached are
    /// closed whatever happens to their datagram. `pid` is 0 for a sender whose pid is not
    /// visible in this pid namespace.
    /// Test: `tests::round_trip_with_notify`, `tests::uid_filter_and_owner`,
    /// `tests::hostile_descriptors_are_closed`.
    pub fn drain(&self, uid: u32) -> Result<Vec<Message>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; DATAGRAM_MAX + 1];
        for _ in 0..DRAIN_MAX {
            let got = match sys::recv_datagram(self.socket.as_fd(), &mut buf) {
                Ok(Some(got)) => got,
                Ok(None) => break,
                Err(e) => {
                    return Err(Error::new(
                        Kind::Os(e.raw_os_error().unwrap_or(libc::EIO)),
                        format!("cannot read the notify socket {}: {e}", self.path.display()),
                    )
                    .with_path(&self.path))
                }
            };
            if got.truncated || got.len > DATAGRAM_MAX || got.control_truncated {
                continue;
            }
            let Some((pid, sender_uid, _gid)) = got.creds else {
                continue;
            };
            if sender_uid != uid {
                continue;
            }
            let mut m = parse(&buf[..got.len]);
            m.pid = pid;
            m.uid = sender_uid;
            out.push(m);
        }
        Ok(out)
    }
}

impl Drop for Receiver {
    /// Unlink the socket and remove the directory, never following a symlink: the socket is
    /// unlinked relative to the directory we created (`unlinkat` never follows the last
    /// component), and the directory is removed only if the entry in its parent is still the
    /// directory we created (same device and inode). Failures are ignored: a directory a
    /// daemon filled is left, never emptied by force.
    fn drop(&mut self) {
        let _ = rustix::fs::unlinkat(&self.dir, SOCKET_NAME, AtFlags::empty());
        let ours = rustix::fs::fstat(&self.dir).ok();
        let entry = rustix::fs::statat(&self.parent, &self.name, AtFlags::SYMLINK_NOFOLLOW).ok();
        if let (Some(a), Some(b)) = (ours, entry) {
            if a.st_dev == b.st_dev && a.st_ino == b.st_ino {
                let _ = rustix::fs::unlinkat(&self.parent, &self.name, AtFlags::REMOVEDIR);
            }
        }
    }
}

/// One notification as received: the sender's credentials and the assignments sole acts on.
/// Test: `tests::parse_*`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Message {
    /// The sender's pid from `SCM_CREDENTIALS` (0: not visible in our pid namespace).
    pub pid: i32,
    /// The sender's uid from `SCM_CREDENTIALS`.
    pub uid: u32,
    /// `READY=1`.
    pub ready: bool,
    /// `STATUS=…`.
    pub status: Option<String>,
    /// `ERRNO=n` (a decimal integer; anything else is ignored).
    pub errno: Option<i32>,
    /// `STOPPING=1`.
    pub stopping: bool,
    /// `RELOADING=1`.
    pub reloading: bool,
    /// `WATCHDOG=1` (a keep-alive; `WATCHDOG=trigger` is not reported here).
    pub watchdog: bool,
    /// `MAINPID=n` (a valid pid; anything else is ignored).
    pub mainpid: Option<i32>,
    /// `EXTEND_TIMEOUT_USEC=n`.
    pub extend_timeout_us: Option<u64>,
}

/// Parse one datagram: newline-separated `KEY=VALUE` assignments, as systemd reads them.
/// Unknown keys, lines without `=`, and values that do not parse are ignored; a later
/// assignment of the same key wins; the flags are set only by their value `1` (`READY=0`
/// says nothing, as for systemd); invalid UTF-8 is replaced (lossy); the text ends at the
/// first NUL byte (C senders' strings end there). A datagram longer than [`DATAGRAM_MAX`]
/// is ignored whole (systemd drops it too): the default `Message`. `pid`/`uid` are left 0
/// (they come from the credentials, see [`Receiver::drain`]).
/// Test: `tests::parse_reads_assignments`, `tests::parse_ignores_what_it_does_not_know`.
pub fn parse(datagram: &[u8]) -> Message {
    let mut m = Message::default();
    if datagram.len() > DATAGRAM_MAX {
        return m;
    }
    let end = datagram
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(datagram.len());
    let text = String::from_utf8_lossy(&datagram[..end]);
    for line in text.split('\n') {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "READY" if value == "1" => m.ready = true,
            "STOPPING" if value == "1" => m.stopping = true,
            "RELOADING" if value == "1" => m.reloading = true,
            "WATCHDOG" if value == "1" => m.watchdog = true,
            "STATUS" => m.status = Some(value.to_string()),
            "ERRNO" => {
                if let Some(n) = decimal(value).and_then(|n| i32::try_from(n).ok()) {
                    m.errno = Some(n);
                }
            }
            "MAINPID" => {
                if let Some(pid) = sole_procid::Pid::parse(value) {
                    m.mainpid = Some(pid.get());
                }
            }
            "EXTEND_TIMEOUT_USEC" => {
                if let Some(n) = decimal(value) {
                    m.extend_timeout_us = Some(n);
                }
            }
            _ => {}
        }
    }
    m
}

/// A decimal integer of ASCII digits only (no sign, no spaces), as u64.
fn decimal(v: &str) -> Option<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// The directory to create the private directory in (see [`Receiver::new`]): the first of
/// `$XDG_RUNTIME_DIR` (only for a daemon running as us: `owner_uid` is `None`), `tmp`, `/tmp`
/// that is an absolute, safe directory (see [`safe_base`]) and short enough for `sun_path`.
/// Test: `tests::base_directory_choice`.
fn choose_base(xdg: Option<&OsStr>, tmp: &Path, owner_uid: Option<u32>, euid: u32) -> PathBuf {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let (Some(x), None) = (xdg, owner_uid) {
        candidates.push(PathBuf::from(x));
    }
    candidates.push(tmp.to_path_buf());
    for c in candidates {
        let fits = c.as_os_str().len() + "/sole-notify-XXXXXXXX/".len() + SOCKET_NAME.len()
            <= PATH_MAX_BYTES;
        let xdg_rule = xdg == Some(c.as_os_str());
        if c.is_absolute() && fits && safe_base(&c, euid, xdg_rule, owner_uid.is_some()) {
            return c;
        }
    }
    PathBuf::from("/tmp")
}

/// Is `dir` a directory where our private directory cannot be renamed away or replaced by
/// someone else? It must be a directory owned by us or root, and not writable by group or
/// others unless sticky (like /tmp: only an entry's owner may rename it). `ours_only`
/// (`$XDG_RUNTIME_DIR`) also requires it to be owned by us. `for_other_user`: the daemon's
/// user must reach the socket, so every directory on the path must be searchable by others.
fn safe_base(dir: &Path, euid: u32, ours_only: bool, for_other_user: bool) -> bool {
    let Ok(st) = rustix::fs::stat(dir) else {
        return false;
    };
    let mode = st.st_mode;
    if FileType::from_raw_mode(mode) != FileType::Directory {
        return false;
    }
    let owner_ok = st.st_uid == euid || (!ours_only && st.st_uid == 0);
    let sticky = mode & 0o1000 != 0;
    let others_can_write = mode & 0o022 != 0;
    if !owner_ok || (others_can_write && !sticky) {
        return false;
    }
    if for_other_user {
        return dir
            .ancestors()
            .all(|a| rustix::fs::stat(a).is_ok_and(|s| s.st_mode & 0o001 != 0));
    }
    true
}

/// Create the private directory and the socket under `base` (see [`Receiver::new`]).
fn create_in(base: &Path, owner: Option<(u32, u32)>) -> Result<Receiver> {
    let parent = rustix::fs::open(
        base,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        os(
            e,
            "cannot open the directory for the daemon's notify socket",
            base,
        )
    })?;
    // A random name; mkdir fails with EEXIST on a taken one (planted or ours), so retry.
    let mut attempt = 0;
    let name = loop {
        let name = random_name()?;
        match rustix::fs::mkdirat(&parent, &name, Mode::from_raw_mode(0o700)) {
            Ok(()) => break name,
            Err(Errno::EXIST) if attempt < 16 => attempt += 1,
            Err(e) => {
                return Err(os(
                    e,
                    "cannot create the daemon's notify directory",
                    &base.join(&name),
                ))
            }
        }
    };
    let dir_path = base.join(&name);
    let dir = match rustix::fs::openat(
        &parent,
        &name,
        OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(d) => d,
        Err(e) => {
            let _ = rustix::fs::unlinkat(&parent, &name, AtFlags::REMOVEDIR);
            return Err(os(
                e,
                "cannot open the daemon's notify directory",
                &dir_path,
            ));
        }
    };
    let path = dir_path.join(SOCKET_NAME);
    let socket = match rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    ) {
        Ok(s) => s,
        Err(e) => {
            let _ = rustix::fs::unlinkat(&parent, &name, AtFlags::REMOVEDIR);
            return Err(os(e, "cannot create the daemon's notify socket", &path));
        }
    };
    // From here on, drop removes what was created.
    let receiver = Receiver {
        socket,
        dir,
        parent,
        name: OsString::from_vec(name.into_bytes()),
        path,
    };
    receiver.finish(owner)?;
    Ok(receiver)
}

impl Receiver {
    /// Permissions, credentials and bind, in the order that leaves no window: the directory's
    /// mode is set (a umask cannot widen it, but a umask of 0777 would leave it unusable), then
    /// `SO_PASSCRED` *before* `bind`, so no datagram can be queued without credentials.
    fn finish(&self, owner: Option<(u32, u32)>) -> Result<()> {
        let dir_path = self.path.parent().unwrap_or(&self.path);
        let dir_mode = if owner.is_some() { 0o710 } else { 0o700 };
        rustix::fs::fchmod(&self.dir, Mode::from_raw_mode(dir_mode)).map_err(|e| {
            os(
                e,
                "cannot set the mode of the daemon's notify directory",
                dir_path,
            )
        })?;
        if let Some((_, gid)) = owner {
            rustix::fs::fchown(&self.dir, None, Some(gid_of(gid)))
                .map_err(|e| owner_error(e, "directory", dir_path, owner))?;
        }
        rustix::net::sockopt::set_socket_passcred(&self.socket, true).map_err(|e| {
            os(
                e,
                "cannot turn on SO_PASSCRED on the daemon's notify socket",
                &self.path,
            )
        })?;
        let addr = SocketAddrUnix::new(self.path.as_os_str().as_bytes()).map_err(|e| {
            os(
                e,
                "the notify socket path does not fit a Unix socket address",
                &self.path,
            )
        })?;
        rustix::net::bind(&self.socket, &addr)
            .map_err(|e| os(e, "cannot bind the daemon's notify socket", &self.path))?;
        // The socket file: only its owner (us, or the daemon's user) may send. chmod through
        // the directory we created, which nobody else can write, so no symlink can be there.
        rustix::fs::chmodat(
            &self.dir,
            SOCKET_NAME,
            Mode::from_raw_mode(0o600),
            AtFlags::empty(),
        )
        .map_err(|e| {
            os(
                e,
                "cannot set the mode of the daemon's notify socket",
                &self.path,
            )
        })?;
        if let Some((uid, gid)) = owner {
            rustix::fs::chownat(
                &self.dir,
                SOCKET_NAME,
                Some(uid_of(uid)),
                Some(gid_of(gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| owner_error(e, "socket", &self.path, Some((uid, gid))))?;
        }
        Ok(())
    }
}

fn uid_of(uid: u32) -> rustix::fs::Uid {
    rustix::fs::Uid::from_raw(uid)
}

fn gid_of(gid: u32) -> rustix::fs::Gid {
    rustix::fs::Gid::from_raw(gid)
}

/// `sole-notify-` and 8 characters of `[a-z0-9]` from the kernel's random source.
fn random_name() -> Result<String> {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = [0u8; 8];
    let mut filled = 0;
    while filled < bytes.len() {
        match rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(Errno::INTR) => {}
            Err(e) => {
                return Err(Error::new(
                    Kind::Os(e.raw_os_error()),
                    format!(
                        "cannot read random bytes for the daemon's notify directory name: {}",
                        std::io::Error::from(e)
                    ),
                ))
            }
        }
    }
    let suffix: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b % 32)] as char)
        .collect();
    Ok(format!("sole-notify-{suffix}"))
}

fn os(e: Errno, what: &str, path: &Path) -> Error {
    Error::os(std::io::Error::from(e), what, path)
}

fn owner_error(e: Errno, what: &str, path: &Path, owner: Option<(u32, u32)>) -> Error {
    let (uid, gid) = owner.unwrap_or_default();
    if e == Errno::PERM {
        return Error::new(
            Kind::Os(libc::EPERM),
            format!(
                "cannot give the daemon's notify {what} {} to uid {uid} gid {gid}: only root can start a daemon as another user (the user/group options). Run as root, or leave user and group unset.",
                path.display()
            ),
        )
        .with_path(path);
    }
    os(
        e,
        &format!("cannot give the daemon's notify {what} to uid {uid} gid {gid}:"),
        path,
    )
}

/// The one `recvmsg` of this crate, and the only `unsafe` of this module (why: see the module
/// doc). Each call states why it is sound.
mod sys {
    use std::io;
    use std::mem::{size_of, MaybeUninit};
    use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

    /// The most descriptors one datagram can carry (the kernel's `SCM_MAX_FD`): the control
    /// buffer has room for all of them after the credentials, so the kernel never has to
    /// truncate the control data of a well-formed datagram.
    const SCM_MAX_FD: usize = 253;

    /// Control buffer: `CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(SCM_MAX_FD * sizeof(int))`
    /// is 32 + 1032 bytes on 64-bit Linux; 2048 bytes of `u64` is aligned for `cmsghdr` and
    /// larger than both on every Linux ABI.
    const CONTROL_WORDS: usize = 256;
    const _: () = assert!(
        CONTROL_WORDS * size_of::<u64>()
            >= 2 * size_of::<libc::cmsghdr>() + 16 + SCM_MAX_FD * size_of::<libc::c_int>() + 8
    );

    /// What one `recvmsg` delivered.
    #[derive(Debug)]
    pub struct Received {
        /// The datagram's full length (`MSG_TRUNC` makes the kernel report it even when it
        /// did not fit the buffer).
        pub len: usize,
        /// The datagram did not fit the buffer.
        pub truncated: bool,
        /// The control data did not fit (`MSG_CTRUNC`).
        pub control_truncated: bool,
        /// `SCM_CREDENTIALS`: pid, uid, gid.
        pub creds: Option<(i32, u32, u32)>,
    }

    /// Read one datagram into `buf` without blocking: `Ok(None)` when none is queued.
    /// Descriptors attached by the sender are closed before returning.
    pub fn recv_datagram(socket: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<Received>> {
        let mut control = [0u64; CONTROL_WORDS];
        let control_bytes = control.len() * size_of::<u64>();
        loop {
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            // SAFETY: an all-zero msghdr is valid (null name, no iovecs, no control).
            let mut msg: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = control_bytes as _;
            // SAFETY: `msg` points at one iovec covering `buf` (writable, `buf.len()` bytes)
            // and at `control` (writable, `control_bytes` bytes, aligned for cmsghdr); both
            // outlive the call. The kernel writes at most those lengths and updates
            // `msg_controllen`/`msg_flags`. MSG_CMSG_CLOEXEC: received descriptors are
            // close-on-exec from the start.
            let n = unsafe {
                libc::recvmsg(
                    socket.as_raw_fd(),
                    &mut msg,
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC | libc::MSG_CMSG_CLOEXEC,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) => return Ok(None),
                    _ => return Err(err),
                }
            }
            let mut got = Received {
                len: n as usize,
                truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
                control_truncated: msg.msg_flags & libc::MSG_CTRUNC != 0,
                creds: None,
            };
            // SAFETY: `msg` is the header the kernel just filled: `msg_control` points at
            // `control` and `msg_controllen` is the length the kernel wrote (never more than
            // the buffer). CMSG_FIRSTHDR/CMSG_NXTHDR only return headers that lie wholly
            // within that length (or null), so every `*cmsg` read is inside `control`.
            let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
            while !cmsg.is_null() {
                // SAFETY: non-null headers from CMSG_FIRSTHDR/NXTHDR are inside `control`
                // and aligned (see above).
                let header = unsafe { &*cmsg };
                // SAFETY: CMSG_LEN only computes a length.
                let data_len = (header.cmsg_len as usize)
                    .saturating_sub(unsafe { libc::CMSG_LEN(0) } as usize);
                // SAFETY: CMSG_DATA of a header inside `control` points just past it; the
                // kernel wrote `data_len` bytes there (cmsg_len counts them), within
                // `msg_controllen`.
                let data = unsafe { libc::CMSG_DATA(cmsg) };
                if header.cmsg_level == libc::SOL_SOCKET && header.cmsg_type == libc::SCM_RIGHTS {
                    let count = data_len / size_of::<libc::c_int>();
                    for i in 0..count {
                        // SAFETY: `i < count` descriptors of `data_len` bytes; unaligned read.
                        let fd = unsafe { data.cast::<libc::c_int>().add(i).read_unaligned() };
                        if fd >= 0 {
                            // SAFETY: the kernel just installed `fd` in our table for this
                            // message; nothing else knows it, so we own it: closing it on drop
                            // closes nobody else's descriptor.
                            drop(unsafe { OwnedFd::from_raw_fd(fd) });
                        }
                    }
                } else if header.cmsg_level == libc::SOL_SOCKET
                    && header.cmsg_type == libc::SCM_CREDENTIALS
                    && data_len >= size_of::<libc::ucred>()
                {
                    // SAFETY: `data_len >= sizeof(ucred)` bytes were written by the kernel;
                    // ucred is plain integers (any bit pattern, pid 0 included, is valid);
                    // unaligned read.
                    let c = unsafe { data.cast::<libc::ucred>().read_unaligned() };
                    got.creds = Some((c.pid, c.uid, c.gid));
                }
                // SAFETY: as for CMSG_FIRSTHDR: returns the next header inside the written
                // control data, or null.
                cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
            }
            return Ok(Some(got));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{notify_to, Fields};
    use crate::test_util::python;
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::process::{Command, Stdio};

    fn me() -> (i32, u32) {
        (
            std::process::id() as i32,
            rustix::process::getuid().as_raw(),
        )
    }

    /// Wait (poll, no sleep) until the socket is readable; panics after 10 s.
    fn readable(r: &Receiver) {
        let mut fds = [rustix::event::PollFd::new(
            &r.socket,
            rustix::event::PollFlags::IN,
        )];
        let timeout = rustix::event::Timespec {
            tv_sec: 10,
            tv_nsec: 0,
        };
        let n = rustix::event::poll(&mut fds, Some(&timeout)).unwrap();
        assert_eq!(n, 1, "no datagram within 10 s");
    }

    #[test]
    fn round_trip_with_notify() {
        let r = Receiver::new(None).unwrap();
        let path = r.path().to_path_buf();
        let dir = path.parent().unwrap().to_path_buf();
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        assert!(
            name.starts_with("sole-notify-") && name.len() == "sole-notify-".len() + 8,
            "{name}"
        );
        assert!(path.as_os_str().len() <= PATH_MAX_BYTES);
        let dmeta = std::fs::symlink_metadata(&dir).unwrap();
        assert_eq!(dmeta.permissions().mode() & 0o7777, 0o700);
        assert_eq!(dmeta.uid(), rustix::process::geteuid().as_raw());
        let smeta = std::fs::symlink_metadata(&path).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_socket(
            &smeta.file_type()
        ));
        assert_eq!(smeta.permissions().mode() & 0o777, 0o600);
        // The socket is non-blocking and close-on-exec.
        let fl = rustix::io::fcntl_getfd(r.as_fd()).unwrap();
        assert!(fl.contains(rustix::io::FdFlags::CLOEXEC));
        assert!(rustix::fs::fcntl_getfl(r.as_fd())
            .unwrap()
            .contains(OFlags::NONBLOCK));

        assert!(
            r.drain(me().1).unwrap().is_empty(),
            "nothing queued yet: drain does not block"
        );
        notify_to(
            path.as_os_str(),
            &Fields {
                ready: true,
                status: Some("listening".into()),
                ..Fields::default()
            },
        )
        .unwrap();
        notify_to(
            path.as_os_str(),
            &Fields {
                status: Some("second".into()),
                errno: Some(5),
                ..Fields::default()
            },
        )
        .unwrap();
        readable(&r);
        let got = r.drain(me().1).unwrap();
        let (pid, uid) = me();
        assert_eq!(
            got,
            vec![
                Message {
                    pid,
                    uid,
                    ready: true,
                    status: Some("listening".into()),
                    ..Message::default()
                },
                Message {
                    pid,
                    uid,
                    status: Some("second".into()),
                    errno: Some(5),
                    ..Message::default()
                },
            ]
        );
        drop(r);
        assert!(
            !path.exists() && !dir.exists(),
            "drop removes the socket and its directory"
        );
    }

    #[test]
    fn systemd_notify_is_accepted() {
        // systemd-notify (systemd 252) sends READY=1/STATUS, then BARRIER=1 with the write end
        // of a pipe and waits until the receiver closes that descriptor (sd_notify_barrier);
        // it fails with "Connection timed out" unless drain closes received descriptors. So
        // its success also shows that drain closes what a sender attaches.
        let r = Receiver::new(None).unwrap();
        let child = Command::new("systemd-notify")
            .args(["--ready", "--status=started by systemd-notify"])
            .env("NOTIFY_SOCKET", r.path())
            .stderr(Stdio::piped())
            .spawn()
            .expect("systemd-notify (an independent sd_notify sender) is installed");
        let mut got = Vec::new();
        while got.len() < 2 {
            readable(&r);
            got.extend(r.drain(me().1).unwrap());
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "systemd-notify: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(got[0].ready, "{got:?}");
        assert_eq!(got[0].status.as_deref(), Some("started by systemd-notify"));
        assert_eq!(got[0].uid, me().1);
        assert!(got[0].pid > 0);
        // The barrier datagram says nothing sole acts on.
        assert_eq!(
            got[1],
            Message {
                pid: got[1].pid,
                uid: me().1,
                ..Message::default()
            }
        );
    }

    /// python3 with a script; stdin/stdout piped.
    fn python_child(script: &str, args: &[&str], as_nobody: bool) -> std::process::Child {
        let mut cmd = if as_nobody {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--",
                python(),
            ]);
            c
        } else {
            Command::new(python())
        };
        cmd.args(["-c", script])
            .args(args)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        cmd.spawn().expect("python3 runs")
    }

    const PY_SEND: &str = r#"
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
print(os.getpid(), flush=True)
for text in sys.argv[2:]:
    sys.stdin.readline()
    try:
        s.sendto(text.encode(), sys.argv[1])
        print("sent", flush=True)
    except OSError as e:
        print("error", e.errno, flush=True)
"#;

    fn line(out: &mut BufReader<std::process::ChildStdout>) -> String {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        l.trim().to_string()
    }

    #[test]
    fn python_plain_datagram_gets_kernel_credentials() {
        // No credentials attached by the sender: the kernel adds them because SO_PASSCRED is on.
        let r = Receiver::new(None).unwrap();
        let mut child = python_child(
            PY_SEND,
            &[r.path().to_str().unwrap(), "READY=1\nSTATUS=py"],
            false,
        );
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let pid: i32 = line(&mut out).parse().unwrap();
        writeln!(child.stdin.as_mut().unwrap()).unwrap();
        assert_eq!(line(&mut out), "sent");
        readable(&r);
        let got = r.drain(me().1).unwrap();
        assert_eq!(
            got,
            vec![Message {
                pid,
                uid: me().1,
                ready: true,
                status: Some("py".into()),
                ..Message::default()
            }]
        );
        child.wait().unwrap();
    }

    #[test]
    fn uid_filter_and_owner() {
        let (_, my_uid) = me();
        // Any user: a datagram from my uid is dropped by a filter for another uid.
        let r = Receiver::new(None).unwrap();
        notify_to(
            r.path().as_os_str(),
            &Fields {
                ready: true,
                ..Fields::default()
            },
        )
        .unwrap();
        readable(&r);
        assert!(
            r.drain(my_uid.wrapping_add(1)).unwrap().is_empty(),
            "another uid's READY=1 is dropped"
        );
        assert!(
            r.drain(my_uid).unwrap().is_empty(),
            "and consumed, not left queued"
        );

        if !rustix::process::geteuid().is_root() {
            eprintln!("uid_filter_and_owner: not root: the sender running as nobody and the chown are not checked");
            return;
        }
        // A real sender running as nobody (65534), to a socket made for it.
        let r = Receiver::new(Some((65534, 65534))).unwrap();
        let dir = r.path().parent().unwrap();
        let dmeta = std::fs::metadata(dir).unwrap();
        assert_eq!(
            (dmeta.uid(), dmeta.gid(), dmeta.mode() & 0o7777),
            (0, 65534, 0o710)
        );
        let smeta = std::fs::symlink_metadata(r.path()).unwrap();
        assert_eq!(
            (smeta.uid(), smeta.gid(), smeta.mode() & 0o777),
            (65534, 65534, 0o600)
        );
        let mut child = python_child(
            PY_SEND,
            &[
                r.path().to_str().unwrap(),
                "READY=1\nSTATUS=one",
                "READY=1\nSTATUS=two",
            ],
            true,
        );
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let pid: i32 = line(&mut out).parse().unwrap();
        let stdin = child.stdin.as_mut().unwrap();
        writeln!(stdin).unwrap();
        assert_eq!(line(&mut out), "sent");
        readable(&r);
        assert!(
            r.drain(0).unwrap().is_empty(),
            "nobody's READY=1 is dropped by root's filter"
        );
        writeln!(stdin).unwrap();
        assert_eq!(line(&mut out), "sent");
        readable(&r);
        let got = r.drain(65534).unwrap();
        assert_eq!(
            got,
            vec![Message {
                pid,
                uid: 65534,
                ready: true,
                status: Some("two".into()),
                ..Message::default()
            }]
        );
        child.wait().unwrap();

        // A socket made for us only: nobody cannot even send.
        let mine = Receiver::new(None).unwrap();
        let mut child = python_child(PY_SEND, &[mine.path().to_str().unwrap(), "READY=1"], true);
        let mut out = BufReader::new(child.stdout.take().unwrap());
        line(&mut out);
        writeln!(child.stdin.as_mut().unwrap()).unwrap();
        assert_eq!(line(&mut out), format!("error {}", libc::EACCES));
        child.wait().unwrap();
    }

    #[test]
    fn non_root_cannot_give_the_socket_away() {
        if rustix::process::geteuid().is_root() {
            // As root the chown succeeds (uid_filter_and_owner); check the non-root refusal in
            // a child running as nobody instead.
            let dir = tempfile::tempdir().unwrap();
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            let exe = dir.path().join("daemon-tests");
            std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
            let out = Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(&exe)
                .args([
                    "--exact",
                    "receiver::tests::non_root_cannot_give_the_socket_away",
                    "--test-threads=1",
                ])
                .env_remove("XDG_RUNTIME_DIR")
                .env_remove("TMPDIR")
                .current_dir("/")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("1 passed"),
                "{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        let uid = rustix::process::geteuid().as_raw();
        let ours = |base: &Path| -> Vec<PathBuf> {
            let mut v: Vec<_> = std::fs::read_dir(base)
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("sole-notify-"))
                .filter(|e| e.metadata().is_ok_and(|m| m.uid() == uid))
                .map(|e| e.path())
                .collect();
            v.sort();
            v
        };
        let base = choose_base(
            std::env::var_os("XDG_RUNTIME_DIR").as_deref(),
            &std::env::temp_dir(),
            Some(0),
            uid,
        );
        let before = ours(&base);
        let e = Receiver::new(Some((0, 0))).unwrap_err();
        assert_eq!(
            ours(&base),
            before,
            "the failed attempt left its directory behind"
        );
        assert_eq!(e.kind(), Kind::Os(libc::EPERM), "{e:?}");
        assert!(
            e.message()
                .contains("only root can start a daemon as another user"),
            "{}",
            e.message()
        );
        // Our own ids are no change of owner.
        let gid = rustix::process::getegid().as_raw();
        let r = Receiver::new(Some((uid, gid))).unwrap();
        let meta = std::fs::metadata(r.path().parent().unwrap()).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o700);
    }

    const PY_HOSTILE: &str = r#"
import os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(253)]
# 3 descriptors, then the kernel's maximum of 253, then an oversized datagram with 3,
# then a valid one: every descriptor must be closed on the receiving side.
s.sendmsg([b"STATUS=three"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, bytes(memoryview(__import__("array").array("i", fds[:3]))))], 0, path)
s.sendmsg([b"STATUS=many"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, bytes(memoryview(__import__("array").array("i", fds))))], 0, path)
s.sendmsg([b"STATUS=" + b"x" * 5000], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, bytes(memoryview(__import__("array").array("i", fds[:3]))))], 0, path)
s.sendto(b"READY=1", path)
print("sent", flush=True)
"#;

    fn fd_count() -> usize {
        std::fs::read_dir("/proc/self/fd").unwrap().count()
    }

    /// The child half of `hostile_descriptors_are_closed`: alone in its process, so
    /// /proc/self/fd changes only by what this test does.
    #[test]
    fn child_hostile_descriptors() {
        if std::env::var_os("SOLE_RECEIVER_CHILD").is_none() {
            return;
        }
        let r = Receiver::new(None).unwrap();
        let mut child = python_child(PY_HOSTILE, &[r.path().to_str().unwrap()], false);
        let mut out = BufReader::new(child.stdout.take().unwrap());
        assert_eq!(line(&mut out), "sent");
        child.wait().unwrap();
        let before = fd_count();
        let mut got = Vec::new();
        while got.iter().all(|m: &Message| !m.ready) {
            readable(&r);
            got.extend(r.drain(me().1).unwrap());
        }
        let after = fd_count();
        let statuses: Vec<_> = got.iter().map(|m| m.status.clone()).collect();
        assert_eq!(
            statuses,
            vec![Some("three".into()), Some("many".into()), None],
            "the 5000-byte datagram is ignored"
        );
        assert_eq!(before, after, "every received descriptor was closed");
        println!("hostile ok: {before} descriptors before and after");
    }

    #[test]
    fn hostile_descriptors_are_closed() {
        if std::env::var_os("SOLE_RECEIVER_CHILD").is_some() {
            return;
        }
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "receiver::tests::child_hostile_descriptors",
                "--test-threads=1",
                "--nocapture",
            ])
            .env("SOLE_RECEIVER_CHILD", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("hostile ok") && stdout.contains("1 passed"),
            "{stdout}"
        );
    }

    #[test]
    fn parse_reads_assignments() {
        let m = parse(b"READY=1\nSTATUS=a=b c\nERRNO=13\nSTOPPING=1\nRELOADING=1\nWATCHDOG=1\nMAINPID=77\nEXTEND_TIMEOUT_USEC=1000000");
        assert_eq!(
            m,
            Message {
                ready: true,
                status: Some("a=b c".into()),
                errno: Some(13),
                stopping: true,
                reloading: true,
                watchdog: true,
                mainpid: Some(77),
                extend_timeout_us: Some(1_000_000),
                ..Message::default()
            }
        );
        // Later assignments win; an empty STATUS is a status.
        assert_eq!(
            parse(b"STATUS=first\nSTATUS=second\n").status.as_deref(),
            Some("second")
        );
        assert_eq!(parse(b"STATUS=").status.as_deref(), Some(""));
        assert_eq!(parse(b"ERRNO=1\nERRNO=2").errno, Some(2));
        // Invalid UTF-8 is replaced, not a reason to drop the datagram.
        assert_eq!(
            parse(b"STATUS=caf\xe9\nREADY=1"),
            Message {
                ready: true,
                status: Some("caf\u{fffd}".into()),
                ..Message::default()
            }
        );
        // The text ends at a NUL byte, as for a C sender.
        assert_eq!(
            parse(b"STATUS=x\0\nREADY=1"),
            Message {
                status: Some("x".into()),
                ..Message::default()
            }
        );
        // The datagram limit: 4096 bytes parse, 4097 are ignored whole.
        let mut fits = b"READY=1\nSTATUS=".to_vec();
        fits.resize(DATAGRAM_MAX, b'y');
        assert!(parse(&fits).ready);
        fits.push(b'y');
        assert_eq!(parse(&fits), Message::default());
    }

    #[test]
    fn parse_ignores_what_it_does_not_know() {
        for d in [
            &b""[..],
            b"\n\n",
            b"READY",
            b"READY=0",
            b"READY=true",
            b"READY=1 ",
            b" READY=1",
            b"ready=1",
            b"WATCHDOG=trigger",
            b"ERRNO=-1",
            b"ERRNO=abc",
            b"ERRNO=99999999999",
            b"MAINPID=0",
            b"MAINPID=-5",
            b"MAINPID=2147483648",
            b"EXTEND_TIMEOUT_USEC=1.5",
            b"FDSTORE=1\nBARRIER=1\nX_CUSTOM=1",
        ] {
            assert_eq!(
                parse(d),
                Message::default(),
                "{:?}",
                String::from_utf8_lossy(d)
            );
        }
        // READY=0 after READY=1 does not take readiness back (systemd acts on READY=1).
        assert!(parse(b"READY=1\nREADY=0").ready);
    }

    #[test]
    fn base_directory_choice() {
        let euid = rustix::process::geteuid().as_raw();
        let mine = tempfile::tempdir().unwrap();
        std::fs::set_permissions(mine.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let tmp = PathBuf::from("/tmp");
        // An XDG_RUNTIME_DIR that is ours and private is used.
        assert_eq!(
            choose_base(Some(mine.path().as_os_str()), &tmp, None, euid),
            mine.path()
        );
        // ...but not for a daemon running as another user, who could not reach it.
        assert_eq!(
            choose_base(Some(mine.path().as_os_str()), &tmp, Some(euid + 1), euid),
            tmp
        );
        // Relative, missing, not ours, group/world-writable without sticky: skipped.
        assert_eq!(
            choose_base(Some(OsStr::new("run/user")), &tmp, None, euid),
            tmp
        );
        assert_eq!(
            choose_base(Some(OsStr::new("/nonexistent/xdg")), &tmp, None, euid),
            tmp
        );
        assert_eq!(
            choose_base(Some(mine.path().as_os_str()), &tmp, None, euid + 1),
            tmp
        );
        let open = tempfile::tempdir().unwrap();
        std::fs::set_permissions(open.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(
            choose_base(Some(open.path().as_os_str()), &tmp, None, euid),
            tmp
        );
        assert_eq!(choose_base(None, open.path(), None, euid), tmp);
        std::fs::set_permissions(open.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(
            choose_base(None, open.path(), None, euid),
            open.path(),
            "sticky like /tmp is safe"
        );
        // A base too long for sun_path (with the directory and socket names) falls back.
        let long = mine.path().join("d".repeat(80));
        std::fs::create_dir(&long).unwrap();
        assert_eq!(choose_base(Some(long.as_os_str()), &tmp, None, euid), tmp);
        // A relative TMPDIR is skipped too.
        assert_eq!(choose_base(None, Path::new("relative"), None, euid), tmp);
    }

    #[test]
    fn drop_never_follows_a_symlink() {
        let victim_dir = tempfile::tempdir().unwrap();
        let victim = victim_dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let r = Receiver::new(None).unwrap();
        let path = r.path().to_path_buf();
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        drop(r);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert!(
            std::fs::symlink_metadata(&path).is_err(),
            "the symlink itself is removed"
        );
        assert!(!path.parent().unwrap().exists());

        // A directory renamed away and replaced: the replacement is not removed.
        let r = Receiver::new(None).unwrap();
        let dir = r.path().parent().unwrap().to_path_buf();
        let moved = victim_dir.path().join("moved");
        std::fs::rename(&dir, &moved).unwrap();
        std::fs::create_dir(&dir).unwrap();
        drop(r);
        assert!(dir.exists(), "a directory we did not create is left alone");
        assert!(
            !moved.join(SOCKET_NAME).exists(),
            "our socket was removed where it really is"
        );
        std::fs::remove_dir(&dir).unwrap();
    }

    /// The child half of `pid_outside_our_namespace_is_zero`: runs as pid 1 of a new pid
    /// namespace, receives one datagram from a sender outside it, prints its pid.
    #[test]
    fn child_pid_namespace() {
        if std::env::var_os("SOLE_RECEIVER_PIDNS").is_none() {
            return;
        }
        let r = Receiver::new(None).unwrap();
        println!("path={}", r.path().display());
        let mut got = Vec::new();
        while got.is_empty() {
            readable(&r);
            got.extend(r.drain(me().1).unwrap());
        }
        println!("pid={} ready={}", got[0].pid, got[0].ready);
    }

    #[test]
    fn pid_outside_our_namespace_is_zero() {
        // The kernel reports pid 0 for a sender whose pid is not visible in the receiver's pid
        // namespace; rustix's UCred cannot hold 0 (NonZeroI32), which is why drain reads the
        // credentials itself. Receiver in a new pid namespace (unshare, root only), sender
        // (this process) outside it.
        if std::env::var_os("SOLE_RECEIVER_PIDNS").is_some() {
            return;
        }
        if !rustix::process::geteuid().is_root() {
            eprintln!("pid_outside_our_namespace_is_zero: not root: a new pid namespace needs root; not checked");
            return;
        }
        let mut child = Command::new("unshare")
            .args(["--pid", "--fork", "--"])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "receiver::tests::child_pid_namespace",
                "--test-threads=1",
                "--nocapture",
            ])
            .env("SOLE_RECEIVER_PIDNS", "1")
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux) runs");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let path = loop {
            let l = line(&mut out);
            assert!(
                !l.is_empty() || child.try_wait().unwrap().is_none(),
                "the child exited early"
            );
            // The harness may print "test … ... " on the same line first.
            if let Some((_, p)) = l.split_once("path=") {
                break PathBuf::from(p);
            }
        };
        notify_to(
            path.as_os_str(),
            &Fields {
                ready: true,
                ..Fields::default()
            },
        )
        .unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        assert!(child.wait().unwrap().success(), "{rest}");
        assert!(rest.contains("pid=0 ready=true"), "{rest}");
    }

    #[test]
    fn many_receivers_never_share_a_directory() {
        let rs: Vec<Receiver> = (0..50).map(|_| Receiver::new(None).unwrap()).collect();
        let mut paths: Vec<_> = rs.iter().map(|r| r.path().to_path_buf()).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), 50);
    }
}
