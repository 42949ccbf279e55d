//! Who is at the other end of a Unix socket: `SO_PEERCRED`, as the kernel recorded it.
//!
//! Why: the socket file is in a directory only we can write, but the process that listens on
//! it, or connects to it, is whoever the kernel says it is, not whoever the file's name
//! suggests. The primary refuses a connection from another user (its handlers would otherwise
//! run with a stranger's argv) and learns the sender's pid; the client refuses a server of
//! another user before it sends a byte (a squatter must not receive our argv). Both read the
//! kernel's record of the peer, which the peer cannot forge.
//! Test: `tests::*` below; `deliver::tests::a_server_of_another_user_gets_nothing`.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use sole_error::{Error, Kind, Result};

use crate::sys;

/// The peer of a connected Unix socket.
/// Test: `tests::a_socketpair_peer_is_this_process`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// Its pid, `None` when the kernel reports 0: a process outside our pid namespace.
    pub pid: Option<i32>,
    pub uid: u32,
    pub gid: u32,
}

impl Peer {
    /// Why: the one rule for "may talk to us", used by both ends.
    /// What: `true` when the peer runs as `euid` or as root (root can reach our files anyway).
    /// Test: `tests::same_user_or_root_is_trusted`.
    pub fn trusted_by(&self, euid: u32) -> bool {
        self.uid == euid || self.uid == 0
    }
}

/// Why: the primary (through the binding, with the fd of a Node socket) and [`crate::deliver`]
/// must read the peer the same way.
/// What: `SO_PEERCRED` of `fd`: `EBADF`, `ENOTSOCK` from the kernel; `ENOTCONN` for a socket
/// that has no peer (not connected, or not a Unix socket: the kernel reports uid -1).
/// Test: `tests::a_socketpair_peer_is_this_process`, `tests::not_a_connected_unix_socket`.
pub fn peer_credentials(fd: BorrowedFd<'_>) -> Result<Peer> {
    peer_credentials_of_raw(fd.as_raw_fd())
}

/// Why: the binding gets a descriptor *number* from JavaScript (`socket._handle.fd`), which
/// it neither owns nor can borrow safely; reading credentials through it is harmless.
/// What: [`peer_credentials`] of the descriptor number `fd` (never closed or kept; a number
/// that names nothing is `EBADF`).
/// Test: `tests::not_a_connected_unix_socket`.
pub fn peer_credentials_of_raw(fd: RawFd) -> Result<Peer> {
    let c = sys::peercred(fd).map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        let why = match errno {
            libc::EBADF => " (no open descriptor has that number)",
            libc::ENOTSOCK => " (the descriptor is not a socket)",
            _ => "",
        };
        Error::new(
            Kind::Os(errno),
            format!("cannot read the peer credentials (SO_PEERCRED) of descriptor {fd}: {e}{why}. Pass the descriptor of a connected Unix socket."),
        )
    })?;
    if c.uid == u32::MAX {
        return Err(Error::new(
            Kind::Os(libc::ENOTCONN),
            format!("descriptor {fd} has no peer credentials: it is not a connected Unix socket. Pass the descriptor of a connected Unix socket."),
        ));
    }
    Ok(Peer {
        pid: (c.pid > 0).then_some(c.pid),
        uid: c.uid,
        gid: c.gid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::{UnixListener, UnixStream};

    #[test]
    fn a_socketpair_peer_is_this_process() {
        let (a, b) = UnixStream::pair().unwrap();
        for s in [&a, &b] {
            let p = peer_credentials(s.as_fd()).unwrap();
            assert_eq!(p.pid, Some(std::process::id() as i32));
            assert_eq!(p.uid, rustix::process::geteuid().as_raw());
            assert_eq!(p.gid, rustix::process::getegid().as_raw());
        }
        // A connected pair through a path: both ends name this process too.
        let d = tempfile::tempdir().unwrap();
        let l = UnixListener::bind(d.path().join("s")).unwrap();
        let c = UnixStream::connect(d.path().join("s")).unwrap();
        let (s, _) = l.accept().unwrap();
        assert_eq!(
            peer_credentials(c.as_fd()).unwrap().pid,
            Some(std::process::id() as i32)
        );
        assert_eq!(
            peer_credentials(s.as_fd()).unwrap().pid,
            Some(std::process::id() as i32)
        );
    }

    #[test]
    fn not_a_connected_unix_socket() {
        let e = peer_credentials_of_raw(-1).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EBADF));
        assert!(e.message().contains("descriptor -1"), "{}", e.message());

        let f = tempfile::tempfile().unwrap();
        let e = peer_credentials(f.as_fd()).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENOTSOCK));
        assert!(e.message().contains("not a socket"), "{}", e.message());

        // A Unix socket never connected has no peer (a listening one reports its own
        // credentials: the kernel records them at listen()).
        let unconnected = rustix::net::socket(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::STREAM,
            None,
        )
        .unwrap();
        let e = peer_credentials(unconnected.as_fd()).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENOTCONN), "{}", e.message());

        let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(t.local_addr().unwrap()).unwrap();
        let e = peer_credentials(c.as_fd()).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENOTCONN), "{}", e.message());
    }

    #[test]
    fn same_user_or_root_is_trusted() {
        let p = |uid| Peer {
            pid: Some(1),
            uid,
            gid: 0,
        };
        assert!(p(1000).trusted_by(1000));
        assert!(p(0).trusted_by(1000));
        assert!(!p(65534).trusted_by(1000));
        assert!(!p(1000).trusted_by(0));
    }
}
