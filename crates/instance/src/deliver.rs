//! The second instance's side of the channel: connect to the primary's socket, check who
//! serves it, send one frame, read one reply frame. Blocking, bounded by a deadline,
//! cancellable: the synchronous API calls it on the caller's thread (it must decide before
//! anything else runs), the asynchronous one on a dedicated thread (never libuv's pool).
//!
//! Races and failures, and how each ends:
//! - **The primary holds the lock but is not listening yet, or is releasing, or crashed**
//!   (its socket file left behind): `connect` fails with `ENOENT` or `ECONNREFUSED`, which is
//!   [`Delivered::NotListening`], never an error and never "alive": the caller waits on the
//!   lock briefly and tries again. The socket file's existence decides nothing.
//! - **The primary dies or releases mid-message**: EOF, `ECONNRESET` or `EPIPE` before a whole
//!   reply is [`Delivered::Gone`]: the message may or may not have been seen, but it was not
//!   acknowledged, and the caller's next step (the lock) tells who is primary now.
//! - **A hung primary** (its event loop blocked): the kernel still completes `connect` (the
//!   listen queue) and buffers the frame, but no reply comes. The wait ends at the caller's
//!   deadline with `ETIMEDOUT` naming the primary's pid (from `SO_PEERCRED`); sole never
//!   kills it. A full listen queue is retried every 5 ms until the deadline.
//! - **A squatter from another user** listening on the path: the server's `SO_PEERCRED` is
//!   checked after `connect` and before the first byte is written; another uid (not root) is
//!   `EINSECURE` and nothing is sent.
//! - **The primary refuses the message** (too large, another user): it writes an error frame
//!   and closes, possibly before reading all of ours. Writing stops as soon as the server has
//!   something to say or is gone, and that error frame is returned as the reply (the
//!   TypeScript layer turns it into the error), instead of an `EPIPE`.
//! - **A reply larger than the caller can hold**: refused from its length prefix (`EMSGSIZE`),
//!   before its body is read.
//! - **SIGPIPE**: every write is `MSG_NOSIGNAL`; a closed peer is an error code, never a
//!   signal that kills the process.
//!
//! Test: `tests::*` below (real sockets, a real process of another user).

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketAddrUnix, SocketFlags, SocketType};
use sole_error::{Error, Kind, Result};

use crate::frame::{decode, encode, Decoded};
use crate::peer::peer_credentials;
use crate::place::MAX_ADDRESS_BYTES;

/// How one delivery ended (errors aside).
/// Test: `tests::*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// The primary answered: the reply frame's body, and the primary's pid (`None` when it
    /// is outside our pid namespace).
    Replied { reply: Vec<u8>, pid: Option<i32> },
    /// Nobody listens at the address (`ENOENT`, `ECONNREFUSED`): the primary is starting,
    /// releasing, or gone; nothing was sent.
    NotListening,
    /// The connection ended before a whole reply (EOF, `ECONNRESET`, `EPIPE`): the primary
    /// died or released mid-message. `pid`: the process that had accepted it.
    Gone { pid: Option<i32> },
}

/// Cancels deliveries from another thread: an eventfd the waits poll, and a flag. Once
/// cancelled, every delivery given this `Stop` ends with `ECANCELED`, now or at its next
/// wait. (The same pattern as `sole_daemon::spawn::Stop`, whose reasons this does not need:
/// the deadline is the delivery's own.)
/// Test: `tests::cancel_ends_a_blocked_delivery`.
#[derive(Debug)]
pub struct Stop {
    fd: OwnedFd,
    cancelled: AtomicBool,
}

impl Stop {
    /// Why: the binding's `InstanceDeliver.cancel()` (an AbortSignal) must end a delivery
    /// blocked on another thread.
    /// What: a fresh, uncancelled stop (an eventfd, `EMFILE` and the like when none can be
    /// made).
    /// Test: `tests::cancel_ends_a_blocked_delivery`.
    pub fn new() -> Result<Stop> {
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).map_err(|e| {
            Error::new(
                Kind::Os(e.raw_os_error()),
                format!("cannot create an eventfd to wait on: {e}. Too many open files?"),
            )
        })?;
        Ok(Stop {
            fd,
            cancelled: AtomicBool::new(false),
        })
    }

    /// Cancel (idempotent): deliveries waiting on this stop end at once with `ECANCELED`.
    /// Test: `tests::cancel_ends_a_blocked_delivery`.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    /// `true` once [`Stop::cancel`] was called.
    /// Test: `tests::cancel_ends_a_blocked_delivery`.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// A full listen queue (`connect` says `EAGAIN`) is retried after this long.
const QUEUE_FULL_RETRY: Duration = Duration::from_millis(5);
/// Bytes read per `recv`.
const READ_CHUNK: usize = 64 * 1024;
/// The longest single `poll` (the loop recomputes what is left of the deadline).
const POLL_SLICE: Duration = Duration::from_secs(3600);

/// Why: a second instance must hand its message to the primary and know, before its
/// deadline, whether it was acknowledged; see the module doc for each way it can end.
/// What: connect to `address` (a path of at most 107 bytes: `Place::address`), check the
/// server's `SO_PEERCRED` (our uid or root, else `EINSECURE` naming its uid, nothing sent),
/// write `payload` as one frame, read one reply frame of at most `max_reply` bytes of body
/// (`EMSGSIZE` beyond), all by `deadline` (`ETIMEDOUT` naming the server's pid when known)
/// unless `stop` is cancelled (`ECANCELED`). `ENOENT`/`ECONNREFUSED` on connect:
/// [`Delivered::NotListening`]; EOF/`ECONNRESET`/`EPIPE` before a whole reply:
/// [`Delivered::Gone`].
/// Test: `tests::*`.
pub fn deliver(
    address: &Path,
    payload: &[u8],
    max_reply: usize,
    deadline: Instant,
    stop: Option<&Stop>,
) -> Result<Delivered> {
    let frame = encode(payload)?;
    let addr = unix_address(address)?;
    let sock = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )
    .map_err(|e| Error::os(e.into(), "create a Unix socket to reach", address))?;
    let mut ch = Channel {
        sock,
        address,
        deadline,
        stop,
        pid: None,
    };
    if ch.stopped() {
        return Err(ch.cancelled());
    }
    if !ch.connect(&addr)? {
        return Ok(Delivered::NotListening);
    }
    let peer = peer_credentials(ch.sock.as_fd())?;
    ch.pid = peer.pid;
    let euid = rustix::process::geteuid().as_raw();
    if !peer.trusted_by(euid) {
        return Err(ch.foreign(peer.uid, euid));
    }
    ch.send_all(&frame)?;
    ch.read_reply(max_reply)
}

/// `address` as a `sockaddr_un` path: at most [`MAX_ADDRESS_BYTES`] (`ENAMETOOLONG`).
fn unix_address(address: &Path) -> Result<SocketAddrUnix> {
    let len = address.as_os_str().as_bytes().len();
    let refuse = |errno: i32, why: String| Err(Error::new(Kind::Os(errno), why).with_path(address));
    if len > MAX_ADDRESS_BYTES {
        return refuse(
            libc::ENAMETOOLONG,
            format!(
                "the socket address {} is {len} bytes; a Unix socket address holds at most {MAX_ADDRESS_BYTES}. Use the instance place's address (a /proc/self/fd path for a long one).",
                address.display()
            ),
        );
    }
    SocketAddrUnix::new(address).or_else(|e| {
        refuse(
            e.raw_os_error(),
            format!(
                "{} is not a Unix socket address: {e}. Use the instance place's address.",
                address.display()
            ),
        )
    })
}

/// Which step a wait belongs to, for its timeout message.
#[derive(Clone, Copy)]
enum Phase {
    Connect,
    Exchange,
}

/// One delivery in progress.
struct Channel<'a> {
    sock: OwnedFd,
    address: &'a Path,
    deadline: Instant,
    stop: Option<&'a Stop>,
    /// The server's pid, once connected.
    pid: Option<i32>,
}

impl Channel<'_> {
    fn stopped(&self) -> bool {
        self.stop.is_some_and(Stop::is_cancelled)
    }

    /// Connect; `false` when nobody listens (`ENOENT`, `ECONNREFUSED`).
    fn connect(&self, addr: &SocketAddrUnix) -> Result<bool> {
        loop {
            match rustix::net::connect(&self.sock, addr) {
                Ok(()) => return Ok(true),
                Err(Errno::NOENT) | Err(Errno::CONNREFUSED) => return Ok(false),
                Err(Errno::INTR) => continue,
                // The listen queue is full (a primary that stopped accepting): retry until
                // the deadline, or the queue drains.
                Err(Errno::AGAIN) => self.pause(QUEUE_FULL_RETRY)?,
                // Not what AF_UNIX does today, but what POSIX allows a non-blocking connect.
                Err(Errno::INPROGRESS) => {
                    self.wait(PollFlags::OUT, Phase::Connect)?;
                    return match rustix::net::sockopt::socket_error(&self.sock) {
                        Ok(Ok(())) => Ok(true),
                        Ok(Err(Errno::NOENT)) | Ok(Err(Errno::CONNREFUSED)) => Ok(false),
                        Ok(Err(e)) | Err(e) => Err(self.os(e, "connect to")),
                    };
                }
                Err(e) => return Err(self.os(e, "connect to")),
            }
        }
    }

    /// Write the whole frame, or stop early when the server has something to say (an early
    /// reply: it refused the message) or is gone: either way the reply is read next (and a
    /// server gone without a word is EOF there).
    fn send_all(&self, frame: &[u8]) -> Result<()> {
        let mut off = 0;
        while off < frame.len() {
            let ready = self.wait(PollFlags::OUT | PollFlags::IN, Phase::Exchange)?;
            if ready.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) {
                return Ok(());
            }
            match rustix::net::send(
                &self.sock,
                &frame[off..],
                SendFlags::NOSIGNAL | SendFlags::DONTWAIT,
            ) {
                Ok(n) => off += n,
                Err(Errno::AGAIN) | Err(Errno::INTR) => {}
                // Gone, or refused with a reply already queued for us: read what it said.
                Err(Errno::PIPE) | Err(Errno::CONNRESET) => return Ok(()),
                Err(e) => return Err(self.os(e, "send the message to")),
            }
        }
        Ok(())
    }

    /// Read one reply frame (see [`deliver`]).
    fn read_reply(&self, max_reply: usize) -> Result<Delivered> {
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; READ_CHUNK];
        loop {
            match decode(&buf, max_reply) {
                Decoded::Frame { body, .. } => {
                    return Ok(Delivered::Replied {
                        reply: body.to_vec(),
                        pid: self.pid,
                    })
                }
                Decoded::TooLarge { length } => return Err(self.too_large(length, max_reply)),
                Decoded::Incomplete => {}
            }
            match rustix::net::recv(&self.sock, &mut chunk[..], RecvFlags::DONTWAIT) {
                Ok((0, _)) => return Ok(Delivered::Gone { pid: self.pid }),
                Ok((n, _)) => buf.extend_from_slice(&chunk[..n]),
                Err(Errno::AGAIN) => {
                    self.wait(PollFlags::IN, Phase::Exchange)?;
                }
                Err(Errno::INTR) => {}
                Err(Errno::CONNRESET) | Err(Errno::PIPE) => {
                    return Ok(Delivered::Gone { pid: self.pid })
                }
                Err(e) => return Err(self.os(e, "read the reply from")),
            }
        }
    }

    /// Time left before the deadline, `ECANCELED` / `ETIMEDOUT` when there is none.
    fn left(&self, phase: Phase) -> Result<Duration> {
        if self.stopped() {
            return Err(self.cancelled());
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.timed_out(phase));
        }
        Ok(left.min(POLL_SLICE))
    }

    /// Wait until the socket reports one of `events` (returned), the deadline passes or the
    /// stop is cancelled.
    fn wait(&self, events: PollFlags, phase: Phase) -> Result<PollFlags> {
        loop {
            let slice = self.left(phase)?;
            if let Some(r) = self.poll(Some(events), slice)? {
                return Ok(r);
            }
        }
    }

    /// Sleep `d` (bounded by the deadline), ending early with `ECANCELED` on a cancel.
    fn pause(&self, d: Duration) -> Result<()> {
        let slice = self.left(Phase::Connect)?.min(d);
        self.poll(None, slice)?;
        if self.stopped() {
            return Err(self.cancelled());
        }
        Ok(())
    }

    /// One `poll` of the socket (for `events`, if any) and the stop's eventfd, for at most
    /// `slice`: the socket's events when it has some, `ECANCELED` when the stop fired.
    fn poll(&self, events: Option<PollFlags>, slice: Duration) -> Result<Option<PollFlags>> {
        let timeout = Timespec {
            tv_sec: slice.as_secs() as i64,
            tv_nsec: i64::from(slice.subsec_nanos()),
        };
        let mut fds = Vec::with_capacity(2);
        if let Some(s) = self.stop {
            fds.push(PollFd::new(&s.fd, PollFlags::IN));
        }
        if let Some(ev) = events {
            fds.push(PollFd::new(&self.sock, ev));
        }
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(self.os(e, "wait (poll) on the socket to")),
        }
        let mut socket_events = None;
        for (i, fd) in fds.iter().enumerate() {
            let r = fd.revents();
            if r.is_empty() {
                continue;
            }
            if i == 0 && self.stop.is_some() {
                return Err(self.cancelled());
            }
            socket_events = Some(r);
        }
        Ok(socket_events)
    }

    fn who(&self) -> String {
        match self.pid {
            Some(pid) => format!("the primary instance (pid {pid})"),
            None => "the primary instance".into(),
        }
    }

    fn with_pid(&self, e: Error) -> Error {
        let e = e.with_path(self.address);
        match self.pid {
            Some(pid) => e.with_pid(pid),
            None => e,
        }
    }

    fn cancelled(&self) -> Error {
        self.with_pid(Error::new(
            Kind::Cancelled,
            format!(
                "delivering the message to {} at {} was cancelled.",
                self.who(),
                self.address.display()
            ),
        ))
    }

    fn timed_out(&self, phase: Phase) -> Error {
        let message = match phase {
            Phase::Connect => format!(
                "{} listening at {} did not accept the connection before the deadline: its listen queue stayed full (is it hung?). sole never kills a primary: check that process, or raise timeoutMs.",
                self.who(),
                self.address.display()
            ),
            Phase::Exchange => format!(
                "{} accepted the connection at {} but did not answer before the deadline: its event loop may be blocked. sole never kills a primary: check that process, or raise timeoutMs.",
                self.who(),
                self.address.display()
            ),
        };
        self.with_pid(Error::new(Kind::TimedOut, message))
    }

    fn foreign(&self, uid: u32, euid: u32) -> Error {
        let pid = self.pid.map_or(String::new(), |p| format!(", pid {p}"));
        self.with_pid(
            Error::new(
                Kind::Insecure,
                format!(
                    "the socket {} is served by another user (uid {uid}{pid}), not this user (uid {euid}) or root: it may have been planted to receive this launch's arguments, so nothing was sent. Remove it, or use a directory only this user can write.",
                    self.address.display()
                ),
            )
            .with_detail("uid", uid as f64),
        )
    }

    fn too_large(&self, length: usize, max_reply: usize) -> Error {
        self.with_pid(
            Error::new(
                Kind::Os(libc::EMSGSIZE),
                format!(
                    "{} sent a reply of {length} bytes, more than the {max_reply} bytes allowed (maxReplyBytes); it was not read. Raise the limit or make the reply smaller.",
                    self.who()
                ),
            )
            .with_detail("length", length as f64)
            .with_detail("limit", max_reply as f64),
        )
    }

    fn os(&self, e: Errno, doing: &str) -> Error {
        let e = Error::os(e.into(), doing, self.address);
        match self.pid {
            Some(pid) => e.with_pid(pid),
            None => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::place::Place;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::path::PathBuf;
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::thread::JoinHandle;

    fn me() -> Option<i32> {
        Some(std::process::id() as i32)
    }

    fn soon(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    /// A listener at `<tempdir>/s.sock` whose first connection is handed to `serve` on a
    /// thread.
    fn server(
        serve: impl FnOnce(UnixStream) + Send + 'static,
    ) -> (tempfile::TempDir, PathBuf, JoinHandle<()>) {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("s.sock");
        let l = UnixListener::bind(&path).unwrap();
        let t = std::thread::spawn(move || serve(l.accept().unwrap().0));
        (d, path, t)
    }

    fn read_frame(s: &mut UnixStream) -> Vec<u8> {
        let mut len = [0u8; 4];
        s.read_exact(&mut len).unwrap();
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        s.read_exact(&mut body).unwrap();
        body
    }

    #[test]
    fn round_trip() {
        // 3 MB: more than a socket buffer, so the send loop waits for the server to read.
        let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let expect = payload.clone();
        let (_d, path, t) = server(move |mut s| {
            let body = read_frame(&mut s);
            assert_eq!(body, expect);
            s.write_all(&encode(format!("got {}", body.len()).as_bytes()).unwrap())
                .unwrap();
        });
        let r = deliver(&path, &payload, 100, soon(20_000), None).unwrap();
        assert_eq!(
            r,
            Delivered::Replied {
                reply: b"got 3000000".to_vec(),
                pid: me()
            }
        );
        t.join().unwrap();

        // An empty message and an empty reply are frames too.
        let (_d, path, t) = server(|mut s| {
            assert_eq!(read_frame(&mut s), b"");
            s.write_all(&encode(b"").unwrap()).unwrap();
        });
        let r = deliver(&path, b"", 0, soon(20_000), None).unwrap();
        assert_eq!(
            r,
            Delivered::Replied {
                reply: vec![],
                pid: me()
            }
        );
        t.join().unwrap();
    }

    #[test]
    fn nobody_listening() {
        let d = tempfile::tempdir().unwrap();
        // No file; no directory.
        for p in [d.path().join("none.sock"), d.path().join("no/dir.sock")] {
            assert_eq!(
                deliver(&p, b"x", 10, soon(20_000), None).unwrap(),
                Delivered::NotListening
            );
        }
        // A socket file left behind by a listener that is gone (a crashed primary's).
        let stale = d.path().join("stale.sock");
        drop(UnixListener::bind(&stale).unwrap());
        assert!(std::fs::symlink_metadata(&stale)
            .unwrap()
            .file_type()
            .is_socket());
        // A regular file where the socket belongs.
        let file = d.path().join("file.sock");
        std::fs::write(&file, b"").unwrap();
        for p in [stale, file] {
            let started = Instant::now();
            assert_eq!(
                deliver(&p, b"x", 10, soon(20_000), None).unwrap(),
                Delivered::NotListening
            );
            assert!(started.elapsed() < Duration::from_secs(5));
        }
    }

    #[test]
    fn gone_before_the_reply() {
        // The server read the whole message, then closed without answering.
        let (_d, path, t) = server(|mut s| {
            assert_eq!(read_frame(&mut s), b"hello");
        });
        let r = deliver(&path, b"hello", 10, soon(20_000), None).unwrap();
        assert_eq!(r, Delivered::Gone { pid: me() });
        t.join().unwrap();

        // It closed at once, without reading (a large message: the write meets the close).
        let (_d, path, t) = server(drop);
        let big = vec![1u8; 4 << 20];
        let r = deliver(&path, &big, 10, soon(20_000), None).unwrap();
        assert_eq!(r, Delivered::Gone { pid: me() });
        t.join().unwrap();

        // Half a reply, then EOF.
        let (_d, path, t) = server(|mut s| {
            read_frame(&mut s);
            s.write_all(&encode(b"0123456789").unwrap()[..8]).unwrap();
        });
        let r = deliver(&path, b"x", 100, soon(20_000), None).unwrap();
        assert_eq!(r, Delivered::Gone { pid: me() });
        t.join().unwrap();
    }

    #[test]
    fn a_hung_primary_times_out_naming_its_pid() {
        // A listener that never accepts: the kernel completes the connection and buffers the
        // frame, as for a primary whose event loop is blocked.
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("s.sock");
        let _l = UnixListener::bind(&path).unwrap();
        let started = Instant::now();
        let e = deliver(&path, b"hello", 10, soon(300), None).unwrap_err();
        let waited = started.elapsed();
        assert_eq!(e.code(), "ETIMEDOUT");
        assert_eq!(e.pid(), me());
        assert!(
            e.message().contains(&format!("pid {}", std::process::id())),
            "{}",
            e.message()
        );
        assert!(e.message().contains("sole never kills"), "{}", e.message());
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert!(waited < Duration::from_secs(10), "{waited:?}");

        // One that accepted and read, and never answers: the same.
        let (tx, rx) = mpsc::channel::<()>();
        let (_d2, path, t) = server(move |mut s| {
            read_frame(&mut s);
            let _ = rx.recv(); // hold the connection until the client gave up
        });
        let e = deliver(&path, b"hello", 10, soon(300), None).unwrap_err();
        assert_eq!(e.code(), "ETIMEDOUT");
        assert_eq!(e.pid(), me());
        tx.send(()).unwrap();
        t.join().unwrap();
    }

    #[test]
    fn a_full_listen_queue_is_retried_until_the_deadline() {
        // A listener with a backlog of 0 that never accepts: the kernel queues one
        // connection, and refuses the next with EAGAIN (a non-blocking connect) until the
        // queue drains.
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("s.sock");
        let l = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        rustix::net::bind(&l, &SocketAddrUnix::new(&path).unwrap()).unwrap();
        rustix::net::listen(&l, 0).unwrap();
        let _first = UnixStream::connect(&path).unwrap();
        let started = Instant::now();
        let e = deliver(&path, b"x", 10, soon(200), None).unwrap_err();
        assert_eq!(e.code(), "ETIMEDOUT");
        assert!(e.message().contains("listen queue"), "{}", e.message());
        assert!(started.elapsed() >= Duration::from_millis(200));
        // Cancelled while retrying.
        let stop = Arc::new(Stop::new().unwrap());
        let (s2, p2) = (stop.clone(), path.clone());
        let t = std::thread::spawn(move || deliver(&p2, b"x", 10, soon(60_000), Some(&s2)));
        stop.cancel();
        assert_eq!(t.join().unwrap().unwrap_err().code(), "ECANCELED");
        // Once the queue drains (the first connection is accepted), the next try connects.
        // (Whether it is refused and retries first or not, it connects and waits for a reply.)
        let t = std::thread::spawn(move || deliver(&path, b"x", 10, soon(20_000), None));
        let (first, _) = rustix::net::acceptfrom(&l).unwrap();
        drop(first);
        // The queued delivery now connects; nobody answers it, so it is accepted and closed.
        let (second, _) = rustix::net::acceptfrom(&l).unwrap();
        drop(second);
        assert_eq!(t.join().unwrap().unwrap(), Delivered::Gone { pid: me() });
    }

    #[test]
    fn cancel_ends_a_blocked_delivery() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("s.sock");
        let _l = UnixListener::bind(&path).unwrap();
        let stop = Arc::new(Stop::new().unwrap());
        let s2 = stop.clone();
        let p2 = path.clone();
        // The delivery can only end by the cancel: its deadline is a minute away and nobody
        // answers. Whenever the cancel lands (before or during the wait), it wins.
        let t = std::thread::spawn(move || {
            let started = Instant::now();
            let r = deliver(&p2, b"x", 10, soon(60_000), Some(&s2));
            (r, started.elapsed())
        });
        stop.cancel();
        let (r, took) = t.join().unwrap();
        let e = r.unwrap_err();
        assert_eq!(e.code(), "ECANCELED");
        assert!(took < Duration::from_secs(10), "{took:?}");
        assert!(stop.is_cancelled());

        // A cancelled stop ends every later delivery at once, even one nobody would answer.
        let e = deliver(&path, b"x", 10, soon(60_000), Some(&stop)).unwrap_err();
        assert_eq!(e.code(), "ECANCELED");
        let e = deliver(&d.path().join("none"), b"x", 10, soon(60_000), Some(&stop)).unwrap_err();
        assert_eq!(e.code(), "ECANCELED");
        // An uncancelled stop changes nothing.
        let fresh = Stop::new().unwrap();
        assert_eq!(
            deliver(&d.path().join("none"), b"x", 10, soon(60_000), Some(&fresh)).unwrap(),
            Delivered::NotListening
        );
    }

    #[test]
    fn replies_over_max_reply_are_refused_unread() {
        for (limit, ok) in [(999usize, false), (1000, true)] {
            let (_d, path, t) = server(|mut s| {
                read_frame(&mut s);
                let _ = s.write_all(&encode(&[b'r'; 1000]).unwrap());
            });
            let r = deliver(&path, b"x", limit, soon(20_000), None);
            if ok {
                assert!(
                    matches!(r, Ok(Delivered::Replied { ref reply, .. }) if reply.len() == 1000)
                );
            } else {
                let e = r.unwrap_err();
                assert_eq!(e.kind(), Kind::Os(libc::EMSGSIZE));
                assert_eq!(e.errno(), Some(libc::EMSGSIZE));
                assert_eq!(e.pid(), me());
                assert!(e.message().contains("1000 bytes"), "{}", e.message());
                assert!(e.message().contains("999"), "{}", e.message());
            }
            t.join().unwrap();
        }
    }

    #[test]
    fn a_refusal_sent_before_the_message_is_read_is_the_reply() {
        // The primary reads the length, refuses (too large), answers and closes without
        // reading the body: the client gets that answer, not EPIPE.
        let (_d, path, t) = server(|mut s| {
            let mut len = [0u8; 4];
            s.read_exact(&mut len).unwrap();
            assert_eq!(u32::from_be_bytes(len), 8 << 20);
            s.write_all(&encode(br#"{"v":1,"ok":false,"code":"EMSGSIZE"}"#).unwrap())
                .unwrap();
        });
        let big = vec![0u8; 8 << 20];
        let r = deliver(&path, &big, 1000, soon(20_000), None).unwrap();
        assert_eq!(
            r,
            Delivered::Replied {
                reply: br#"{"v":1,"ok":false,"code":"EMSGSIZE"}"#.to_vec(),
                pid: me()
            }
        );
        t.join().unwrap();
    }

    #[test]
    fn round_trip_through_a_long_directory() {
        let d = tempfile::tempdir().unwrap();
        let deep = d.path().join("a".repeat(70)).join("b".repeat(70));
        let place = Place::locate("com.example.long-path-app", Some(&deep)).unwrap();
        assert!(place.socket_path().as_os_str().len() > 108);
        let address = place.address();
        assert!(
            address.starts_with("/proc/self/fd"),
            "{}",
            address.display()
        );
        // The server binds the short address; the socket appears at the long path.
        let l = UnixListener::bind(&address).unwrap();
        assert!(std::fs::symlink_metadata(place.socket_path())
            .unwrap()
            .file_type()
            .is_socket());
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let body = read_frame(&mut s);
            s.write_all(&encode(&body).unwrap()).unwrap();
        });
        let r = deliver(&address, b"argv", 100, soon(20_000), None).unwrap();
        assert_eq!(
            r,
            Delivered::Replied {
                reply: b"argv".to_vec(),
                pid: me()
            }
        );
        t.join().unwrap();

        // The long path itself is refused, saying what to use.
        let e = deliver(place.socket_path(), b"x", 10, soon(1000), None).unwrap_err();
        assert_eq!(e.code(), "ENAMETOOLONG");
        assert!(e.message().contains("/proc/self/fd"), "{}", e.message());
    }

    #[test]
    fn a_server_of_another_user_gets_nothing() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("a_server_of_another_user_gets_nothing: not root: cannot run a server as uid 65534; not checked");
            return;
        }
        let python = Path::new("/usr/bin/python3");
        let setpriv = Path::new("/usr/bin/setpriv");
        if !python.exists() || !setpriv.exists() {
            eprintln!("a_server_of_another_user_gets_nothing: /usr/bin/python3 or /usr/bin/setpriv missing; not checked");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let path = d.path().join("squat.sock");
        // Listens as nobody, then reports how many bytes its one client sent before EOF.
        let script = "import socket,sys\n\
            s=socket.socket(socket.AF_UNIX,socket.SOCK_STREAM)\n\
            s.bind(sys.argv[1]); s.listen(1)\n\
            print('ready',flush=True)\n\
            c,_=s.accept(); n=0\n\
            while True:\n\
            \x20   b=c.recv(65536)\n\
            \x20   if not b: break\n\
            \x20   n+=len(b)\n\
            print(n,flush=True)\n";
        let mut child = std::process::Command::new(setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(python)
            .args(["-c", script])
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");

        let e = deliver(&path, b"secret argv", 100, soon(20_000), None).unwrap_err();
        assert_eq!(e.code(), "EINSECURE");
        assert_eq!(e.pid(), Some(child.id() as i32));
        assert!(e.message().contains("uid 65534"), "{}", e.message());
        assert!(e.details().contains(&("uid", 65534.0.into())));

        line.clear();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "0", "the squatter received bytes");
        assert!(child.wait().unwrap().success());
    }
}
