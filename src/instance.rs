//! Binding of `sole_instance`: the native half of `requestSingleInstance` /
//! `requestSingleInstanceSync`. Type and error conversion only; where an instance lives and
//! how a message is delivered are decided in `crates/instance`, the protocol around them in
//! the TypeScript layer.
//!
//! What crosses here, and why native:
//! - `instancePlace(name, dir?)`: the checked directory, held open (an `InstancePlace`), so
//!   its `address` (a `/proc/self/fd/<dirfd>/…` path when the socket path exceeds
//!   `sun_path`) stays valid for the primary's `net.Server.listen` and for deliveries.
//! - `instanceDeliverSync`: the second instance's delivery on the calling thread; the
//!   synchronous API must decide before anything else runs, so it cannot use Node's `net`.
//! - `instanceDeliver`: the same on a dedicated thread (never libuv's pool: a hung primary
//!   would hold a pool thread for the whole timeout), settled through a promise and ended by
//!   `InstanceDeliver.cancel()` (an AbortSignal in TypeScript) or by the environment's
//!   teardown (a worker terminated).
//! - `peerCredentials(fd)`: `SO_PEERCRED` of a Node socket's descriptor, which Node does not
//!   expose: the primary refuses other users and learns the sender's pid.
//!
//! Every argument is read raw and checked here (`EINVAL` naming it); every export is
//! `catch_unwind` and runs its body under `args::guarded` / `args::no_panic`.
//! Test: `cargo test -p sole-instance` (the crate), and the TypeScript layer's spec files.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use napi::bindgen_prelude::*;
use napi_derive::napi;
use sole_error::{Error as SoleError, Kind};
use sole_instance::{deliver, Delivered, Place, Stop, MAX_BODY_BYTES};

use crate::args::{self, type_name};
use crate::js_error;

/// An instance name's checked directory (held open), lock file and socket (from
/// `instancePlace`). `close()` closes the directory descriptor; `address` is unusable after.
#[napi]
pub struct InstancePlace {
    place: RefCell<Option<Place>>,
    dir: String,
    lock_path: String,
    socket_path: String,
}

#[napi]
impl InstancePlace {
    /// The directory (absolute): the caller's `dir`, or the per-user default.
    #[napi(getter, catch_unwind)]
    pub fn dir(&self) -> String {
        self.dir.clone()
    }
    /// `<dir>/<name>.lock`: the flock that decides who is primary.
    #[napi(getter, catch_unwind)]
    pub fn lock_path(&self) -> String {
        self.lock_path.clone()
    }
    /// `<dir>/<name>.sock` (a name over 64 bytes: `<dir>/<prefix>#<sha256 hex>`).
    #[napi(getter, catch_unwind)]
    pub fn socket_path(&self) -> String {
        self.socket_path.clone()
    }
    /// The path to `listen` on and deliver to: `socketPath` when it fits a Unix socket
    /// address (107 bytes), else `/proc/self/fd/<dirfd>/<file>` (valid in this process until
    /// `close()`). `EBADF` after `close()`.
    #[napi(getter, catch_unwind)]
    pub fn address(&self, env: Env) -> Result<String> {
        match self.place.borrow().as_ref() {
            Some(p) => Ok(p.address().to_string_lossy().into_owned()),
            None => Err(js_error(
                &env,
                SoleError::new(
                    Kind::Os(libc::EBADF),
                    format!(
                        "this InstancePlace for {} was closed, so it has no address any more: call instancePlace() again.",
                        self.socket_path
                    ),
                )
                .with_path(Path::new(&self.socket_path)),
            )),
        }
    }
    /// `true` once `close()` was called.
    #[napi(getter, catch_unwind)]
    pub fn closed(&self) -> bool {
        self.place.borrow().is_none()
    }
    /// Close the directory descriptor (idempotent). Files in the directory are untouched.
    #[napi(catch_unwind)]
    pub fn close(&self) {
        drop(self.place.borrow_mut().take());
    }
}

/// Locate an instance name: check it (1 to 200 bytes, no `/` or NUL, not `.`/`..`), create
/// the directory 0700 if missing and check it (`dir`: not group/world writable, ours or
/// root's; default `$XDG_RUNTIME_DIR/sole-instance` or `<tmp>/sole-instance-<euid>`: ours, not
/// a symlink): `EINVAL` (`argument: 'name' | 'dir'`), `EINSECURE`, `ESYMLINK`, `ENOTDIR`.
#[napi(
    catch_unwind,
    ts_args_type = "name: string, dir?: string | null | undefined"
)]
pub fn instance_place(env: Env, name: Unknown, dir: Option<Unknown>) -> Result<InstancePlace> {
    args::guarded(&env, "running instancePlace()", || {
        let name = args::string(&env, &name, "name")?;
        let dir = match args::present(dir)? {
            None => None,
            Some((d, _)) => Some(PathBuf::from(args::string(&env, &d, "dir")?)),
        };
        let place = Place::locate(&name, dir.as_deref()).map_err(|e| js_error(&env, e))?;
        let text = |p: &Path| p.to_string_lossy().into_owned();
        Ok(InstancePlace {
            dir: text(place.dir()),
            lock_path: text(place.lock_path()),
            socket_path: text(place.socket_path()),
            place: RefCell::new(Some(place)),
        })
    })
}

/// How one delivery ended: `'replied'` (with the primary's reply frame body and pid),
/// `'not-listening'` (nobody listens: the primary is starting, releasing or gone; nothing was
/// sent) or `'gone'` (the connection ended before a whole reply: the primary died or released
/// mid-message).
#[napi(object, object_from_js = false)]
pub struct InstanceDelivery {
    #[napi(ts_type = "'replied' | 'not-listening' | 'gone'")]
    pub outcome: String,
    /// The reply frame's body (`'replied'` only).
    #[napi(ts_type = "Buffer | null")]
    pub reply: Either<Buffer, Null>,
    /// The primary's pid (from `SO_PEERCRED`), when connected and visible in this pid
    /// namespace.
    #[napi(ts_type = "number | null")]
    pub pid: Either<i32, Null>,
}

fn delivery(d: Delivered) -> InstanceDelivery {
    let pid = |p: Option<i32>| p.map_or(Either::B(Null), Either::A);
    match d {
        Delivered::Replied { reply, pid: p } => InstanceDelivery {
            outcome: "replied".into(),
            reply: Either::A(reply.into()),
            pid: pid(p),
        },
        Delivered::NotListening => InstanceDelivery {
            outcome: "not-listening".into(),
            reply: Either::B(Null),
            pid: Either::B(Null),
        },
        Delivered::Gone { pid: p } => InstanceDelivery {
            outcome: "gone".into(),
            reply: Either::B(Null),
            pid: pid(p),
        },
    }
}

/// The arguments every delivery takes, checked.
struct DeliverArgs {
    address: PathBuf,
    deadline: Instant,
    max_reply: usize,
}

fn deliver_args(
    env: &Env,
    address: &Unknown,
    timeout_ms: &Unknown,
    max_reply_bytes: &Unknown,
) -> Result<DeliverArgs> {
    let address = args::string(env, address, "address")?;
    if address.is_empty() || address.contains('\0') {
        return Err(js_error(
            env,
            SoleError::invalid_argument(
                "address",
                "address must be a non-empty path without NUL bytes: pass an InstancePlace's address.",
            ),
        ));
    }
    let what = format!("delivering to the primary instance at {address}");
    let timeout = args::timeout(env, number(env, timeout_ms, "timeoutMs")?, &what)?;
    let now = Instant::now();
    // A timeout too far away for the clock is a deadline that is never reached.
    let deadline = now
        .checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(u64::from(u32::MAX))))
        .unwrap_or(now);
    let max = number(env, max_reply_bytes, "maxReplyBytes")?;
    if max.fract() != 0.0 || !(0.0..=MAX_BODY_BYTES as f64).contains(&max) {
        return Err(js_error(
            env,
            SoleError::invalid_argument(
                "maxReplyBytes",
                format!("maxReplyBytes {max} is not a byte count: pass an integer from 0 to {MAX_BODY_BYTES}."),
            ),
        ));
    }
    Ok(DeliverArgs {
        address: PathBuf::from(address),
        deadline,
        max_reply: max as usize,
    })
}

/// A required number argument (`EINVAL` naming it otherwise).
fn number(env: &Env, v: &Unknown, argument: &str) -> Result<f64> {
    match v.get_type()? {
        // SAFETY: the type was checked just above.
        ValueType::Number => unsafe { v.cast::<f64>() },
        t => Err(args::wrong_type(env, argument, "a number", t, "")),
    }
}

/// The payload: a Buffer (`EINVAL` naming `payload` otherwise).
fn payload<'e>(env: &Env, v: &Unknown<'e>) -> Result<BufferSlice<'e>> {
    if v.get_type()? == ValueType::Object && v.is_buffer()? {
        // SAFETY: checked to be a Buffer just above.
        return unsafe { v.cast::<BufferSlice>() };
    }
    Err(args::wrong_type(
        env,
        "payload",
        "a Buffer",
        v.get_type()?,
        "",
    ))
}

/// Deliver `payload` (one frame's body) to the primary listening at `address`, on the calling
/// thread, by `timeoutMs` (`ETIMEDOUT` naming the primary's pid), reading a reply of at most
/// `maxReplyBytes` (`EMSGSIZE`). A server of another user (not root) is `EINSECURE` and is
/// sent nothing.
#[napi(
    catch_unwind,
    ts_args_type = "address: string, payload: Buffer, timeoutMs: number, maxReplyBytes: number"
)]
pub fn instance_deliver_sync(
    env: Env,
    address: Unknown,
    payload_value: Unknown,
    timeout_ms: Unknown,
    max_reply_bytes: Unknown,
) -> Result<InstanceDelivery> {
    args::guarded(&env, "running instanceDeliverSync()", || {
        let body = payload(&env, &payload_value)?;
        let a = deliver_args(&env, &address, &timeout_ms, &max_reply_bytes)?;
        deliver(&a.address, &body, a.max_reply, a.deadline, None)
            .map(delivery)
            .map_err(|e| js_error(&env, e))
    })
}

/// Ends one pending `instanceDeliver` (the TypeScript layer's AbortSignal calls `cancel()`).
#[napi]
pub struct InstanceDeliver {
    stop: Arc<Stop>,
}

#[napi]
impl InstanceDeliver {
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env) -> Result<Self> {
        let stop = Arc::new(Stop::new().map_err(|e| js_error(&env, e))?);
        Ok(InstanceDeliver { stop })
    }
    /// Cancel: the delivery rejects with `ECANCELED` (the TS layer makes it an `AbortError`).
    /// Idempotent; a delivery started with a cancelled control rejects at once.
    #[napi(catch_unwind)]
    pub fn cancel(&self) {
        self.stop.cancel();
    }
}

thread_local! {
    /// This environment's pending deliveries, cancelled when the environment goes away (a
    /// worker terminated): no delivery thread outlives the JavaScript that waits for it.
    static PENDING: RefCell<(bool, Vec<Weak<Stop>>)> = const { RefCell::new((false, Vec::new())) };
}

fn track(env: &Env, stop: &Arc<Stop>) -> Result<()> {
    let hooked = PENDING.with(|p| p.borrow().0);
    if !hooked {
        env.add_env_cleanup_hook((), |_| {
            let stops: Vec<Weak<Stop>> = PENDING.with(|p| std::mem::take(&mut p.borrow_mut().1));
            for s in stops.iter().filter_map(Weak::upgrade) {
                s.cancel();
            }
        })?;
    }
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        p.0 = true;
        p.1.retain(|w| w.strong_count() > 0);
        p.1.push(Arc::downgrade(stop));
    });
    Ok(())
}

/// `instanceDeliverSync` on a dedicated thread: a promise of the same result, rejected
/// with `ECANCELED` by `control.cancel()`. Argument errors are thrown here (the TypeScript
/// layer turns them into a rejection).
#[napi(
    catch_unwind,
    ts_args_type = "address: string, payload: Buffer, timeoutMs: number, maxReplyBytes: number, control: InstanceDeliver",
    ts_return_type = "Promise<InstanceDelivery>"
)]
pub fn instance_deliver<'e>(
    env: &'e Env,
    address: Unknown<'e>,
    payload_value: Unknown<'e>,
    timeout_ms: Unknown<'e>,
    max_reply_bytes: Unknown<'e>,
    control: &InstanceDeliver,
) -> Result<Object<'e>> {
    args::guarded(env, "running instanceDeliver()", || {
        let body = payload(env, &payload_value)?.to_vec();
        let a = deliver_args(env, &address, &timeout_ms, &max_reply_bytes)?;
        let (deferred, promise) = env.create_deferred()?;
        let stop = control.stop.clone();
        track(env, &stop)?;
        let slot = Arc::new(std::sync::Mutex::new(Some(deferred)));
        let thread_slot = slot.clone();
        let spawned = std::thread::Builder::new()
            .name("sole-instance-deliver".into())
            .spawn(move || {
                let r = args::no_panic("delivering to the primary instance", || {
                    deliver(&a.address, &body, a.max_reply, a.deadline, Some(&stop))
                });
                if let Some(d) = thread_slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    d.resolve(settle_with(r));
                }
            });
        if let Err(e) = spawned {
            if let Some(d) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let err = SoleError::new(
                    Kind::Os(e.raw_os_error().unwrap_or(libc::EAGAIN)),
                    format!("cannot start a thread to deliver to the primary instance: {e}. Too many threads?"),
                );
                d.resolve(settle_with(Err(err)));
            }
        }
        Ok(promise)
    })
}

/// The one resolver of a delivery's promise (one closure type for every path).
fn settle_with(
    r: sole_error::Result<Delivered>,
) -> impl FnOnce(Env) -> Result<InstanceDelivery> + Send + 'static {
    move |env| r.map(delivery).map_err(|e| js_error(&env, e))
}

/// The credentials of a connected Unix socket's peer.
#[napi(object, object_from_js = false)]
pub struct PeerCredentials {
    /// Its pid; `null` when it is outside this pid namespace (the kernel reports 0).
    #[napi(ts_type = "number | null")]
    pub pid: Either<i32, Null>,
    pub uid: u32,
    pub gid: u32,
}

/// `SO_PEERCRED` of the descriptor `fd` (a Node socket's `socket._handle.fd`): who connected
/// (for the primary) or who listens (for a client). `EINVAL` (`argument: 'fd'`) for anything
/// but an integer from 0 to 2^31-1; `EBADF`, `ENOTSOCK` from the kernel; `ENOTCONN` for a
/// socket with no Unix peer.
#[napi(catch_unwind, ts_args_type = "fd: number")]
pub fn peer_credentials(env: Env, fd: Unknown) -> Result<PeerCredentials> {
    args::guarded(&env, "running peerCredentials()", || {
        let n = match fd.get_type()? {
            // SAFETY: the type was checked just above.
            ValueType::Number => unsafe { fd.cast::<f64>() }?,
            t => {
                return Err(js_error(
                    &env,
                    SoleError::invalid_argument(
                        "fd",
                        format!("fd must be a file descriptor number, got {}.", type_name(t)),
                    ),
                ))
            }
        };
        if n.fract() != 0.0 || !(0.0..=f64::from(i32::MAX)).contains(&n) {
            return Err(js_error(
                &env,
                SoleError::invalid_argument(
                    "fd",
                    format!("fd {n} is not a file descriptor: pass an integer from 0 to 2147483647 (a socket's _handle.fd)."),
                ),
            ));
        }
        let p = sole_instance::peer_credentials_of_raw(n as i32).map_err(|e| js_error(&env, e))?;
        Ok(PeerCredentials {
            pid: p.pid.map_or(Either::B(Null), Either::A),
            uid: p.uid,
            gid: p.gid,
        })
    })
}
