//! The allocation table and every operation on it, in memory, with no I/O.
//!
//! Why a separate, pure layer: the semantics (who may write where, who is blamed for a
//! conflict, where a released allocation's children go) must be testable without files or
//! processes. [`crate::Registry`] wraps each operation in lock → load → reclaim → operate →
//! save; this module decides the result. It is split along its seams, one decision per file:
//!
//! - [`allocations`]: what an allocation is, and the questions asked of the table (who has this
//!   name or session, what is a name's effective write scope, who owns a conflicting rule).
//! - [`operations`]: register, delegate, release, adopt, and the refusals each can give. Each
//!   checks everything first and changes the table only when every check passed, so an error
//!   leaves the table exactly as it was.
//! - [`liveness`]: whether an allocation's owner is still the process that registered it, and
//!   the reclaim of those that are not.
//! - [`codec`]: the stored bytes, their validation (`ECORRUPT`), and the serialisation cache
//!   that keeps a rewrite of a large table cheap.
//!
//! Test: the unit tests of each submodule.

pub mod allocations;
pub mod codec;
pub mod liveness;
pub mod operations;

use serde::{Deserialize, Serialize};

pub use allocations::{Allocation, Request};
pub use codec::Codec;
pub use liveness::{capture_identity, Liveness, SystemLiveness};

/// The on-disk format version this code reads and writes.
/// Test: `codec::tests::parse_refuses_what_it_did_not_write`.
pub const VERSION: u32 = 1;

/// The whole table, as stored: `{"version":1,"allocations":[…]}`.
/// Test: `codec::tests::parse_refuses_what_it_did_not_write` (its stored form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    pub version: u32,
    pub allocations: Vec<Allocation>,
}

impl Table {
    /// The empty table of the current [`VERSION`].
    /// Test: `codec::tests::parse_refuses_what_it_did_not_write`.
    pub fn new() -> Table {
        Table {
            version: VERSION,
            allocations: Vec::new(),
        }
    }
}

/// Builders shared by the submodules' tests: a request, a registration, a delegation, and the
/// chain `a (/src) → b (/src/core) → d (/src/core/x)`.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::Path;

    use sole_error::Result;

    use super::{Request, Table};
    use crate::rule::Rule;

    pub const F: &str = "/test/scope.json";

    pub fn f() -> &'static Path {
        Path::new(F)
    }
    pub fn w(p: &str, r: bool) -> Rule {
        Rule::write(p, r).unwrap()
    }
    pub fn req(name: &str, pid: i32, scopes: Vec<Rule>) -> Request {
        Request {
            name: name.into(),
            pid,
            start_time: None,
            boot_id: None,
            socket: Some(format!("/tmp/{name}.sock")),
            scopes,
        }
    }
    pub fn reg(t: &mut Table, name: &str, scopes: Vec<Rule>) -> Result<()> {
        t.register(req(name, 100, scopes), format!("s-{name}"), f())
    }
    pub fn del(t: &mut Table, spawner: &str, name: &str, scopes: Vec<Rule>) -> Result<()> {
        t.delegate(spawner, req(name, 100, scopes), f())
    }
    pub fn chain() -> Table {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        del(&mut t, "a", "b", vec![w("/src/core", true)]).unwrap();
        del(&mut t, "b", "d", vec![w("/src/core/x", true)]).unwrap();
        t
    }
}
