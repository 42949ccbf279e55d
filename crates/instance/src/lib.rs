//! `sole-instance`: the native half of sole's single-instance guard (`requestSingleInstance`):
//! where an instance name lives, and the client a second launch uses to hand its message to
//! the running primary.
//!
//! Why this crate exists: "is the primary alive?" must never be decided from a file's
//! existence. npm's `single-instance` and its kin test whether a socket file exists, which a
//! crash leaves behind, so after one crash the app refuses to start, or two instances run. In
//! sole, ownership is a flock on `<dir>/<name>.lock` (the kernel drops it with the process:
//! crash = release), and the socket is only the *channel* to the owner. What remains to get
//! right lives here:
//!
//! - **A directory another user controls** ([`place`]): whoever can write the directory can
//!   plant the lock file or the socket. The default directory is private (0700, ours, not a
//!   symlink); a directory the caller names is checked by the scope registry's rule
//!   (`EINSECURE`, `ESYMLINK`).
//! - **A socket path longer than `sun_path`** ([`place::Place::address`]): `bind`/`connect`
//!   take at most 107 bytes of path. A longer `<dir>/<name>.sock` is reached as
//!   `/proc/self/fd/<dirfd>/<file>` through a directory descriptor the [`Place`] keeps open: a
//!   short path that names the same socket, in the process that holds the descriptor.
//! - **A squatter from another user** ([`deliver`]): the client checks the server's
//!   `SO_PEERCRED` before it sends a byte (uid must be ours or root, else `EINSECURE`): a
//!   second launch's argv never reaches another user's process.
//! - **A primary that is starting, releasing, dead or hung** ([`deliver`]): each is a distinct
//!   outcome ([`Delivered::NotListening`], [`Delivered::Gone`], `ETIMEDOUT` naming its pid), so
//!   the caller's loop (try the lock, deliver, wait on the lock briefly, again) ends with the
//!   message acknowledged or the caller primary, never both and never neither. A hung primary
//!   is never killed: the wait is bounded by the caller's deadline and can be cancelled.
//! - **A reply too large to hold** ([`deliver`]): bounded by the caller (`EMSGSIZE`).
//!
//! The frames are `[u32 big-endian length][body]` ([`frame`]); the bodies (JSON) are the
//! TypeScript layer's. The server side is Node's `net` server (the primary's handlers run in
//! JavaScript), which reads the client's credentials with [`peer_credentials`].
//! Test: the unit tests in each module (real sockets, real processes).

pub mod deliver;
pub mod frame;
pub mod peer;
pub mod place;
mod sys;

pub use deliver::{deliver, Delivered, Stop};
pub use frame::{decode, encode, Decoded, HEADER_BYTES, MAX_BODY_BYTES};
pub use peer::{peer_credentials, peer_credentials_of_raw, Peer};
pub use place::{Place, MAX_ADDRESS_BYTES, MAX_NAME_BYTES};
