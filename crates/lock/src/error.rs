//! Errors: sole's one error type lives in `sole-error`, shared by every crate so that each
//! code is spelled in exactly one place. Re-exported here so `sole_lock::Error` keeps working.
pub use sole_error::{Detail, Error, Kind, Result};
