//! Temporary, removed at merge: a re-export shim of `sole-error` kept only so that the crates of
//! the other slices (`sole_lock::Error`, …) still compile until they are merged. Use
//! `sole_error` directly.
pub use sole_error::{Detail, Error, Kind, Result};
