//! The one system call of this crate that rustix has no safe form for, with its safety
//! argument: `getsockopt(SO_PEERCRED)`.
//!
//! Why not `rustix::net::sockopt::socket_peercred`: its `UCred` holds the pid in a
//! `NonZeroI32`, but the kernel reports pid 0 for a peer whose pid is not visible in our pid
//! namespace (a primary in a container, a second instance outside it), and an unconnected
//! socket; reading that into a `NonZeroI32` would be undefined behaviour. Here the kernel
//! writes a plain `libc::ucred`, in which every bit pattern is valid.

use std::io;
use std::mem::size_of;
use std::os::fd::RawFd;

/// `getsockopt(fd, SOL_SOCKET, SO_PEERCRED)`: the credentials the kernel recorded for the
/// peer of a Unix socket when it connected (or, for a client, when the server called
/// `listen`). `fd` is only read from, never owned or closed: a number that names no open
/// descriptor is `EBADF`, one that is not a socket `ENOTSOCK`.
pub(crate) fn peercred(fd: RawFd) -> io::Result<libc::ucred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` is a plain-integer struct this frame owns and `len` is its exact size, so
    // the kernel writes at most `len` bytes into valid, writable memory (and any bytes it
    // writes form a valid `ucred`). `fd` is passed by value: getsockopt neither closes nor
    // keeps it, so an fd the caller does not own can only make the call fail (EBADF,
    // ENOTSOCK), never affect memory.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cred)
}
