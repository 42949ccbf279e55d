//! The checks a caller's names and rule lists pass before anything is locked or written, and
//! how a caller's string is shown in a message.
//!
//! Why before the lock: a refused call must write nothing and wait for nobody, so every value
//! that can be judged on its own (a name, a session id, the number of rules) is judged here,
//! and only the decisions that need the table (taken names, conflicts) happen under the lock.
//! Why the limits: a name or rule list is stored and compared on every later operation of every
//! process, so one caller's 10 MB name or 100,000 rules would slow the whole machine's registry.
//! Test: `crate::registry::tests::bad_names_are_einval_naming_the_argument`.

use std::path::Path;

use sole_error::{Error, Result};

/// Longest allocation name or session id accepted, in bytes.
/// Test: `crate::registry::tests::bad_names_are_einval_naming_the_argument`.
pub const MAX_NAME_BYTES: usize = 1024;

/// Most rules one allocation may hold (each costs every later conflict check).
/// Test: `crate::registry::tests::bad_names_are_einval_naming_the_argument`.
pub const MAX_RULES: usize = 1024;

/// `s` as messages show a caller's string: quoted, and cut to its first 60 characters (a
/// 10 MB name must not make a 10 MB message).
/// Test: `crate::registry::tests::bad_names_are_einval_naming_the_argument` (message length).
pub fn shown(s: &str) -> String {
    const MAX: usize = 60;
    match s.char_indices().nth(MAX) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &s[..cut], s.len()),
    }
}

/// `" (scope registry /path)"`: what every argument message appends when the call concerns a
/// registry (`None`: the pure rule helpers, nothing appended).
/// Test: `crate::json::tests` (messages name the registry), `__test__/scope-args.spec.ts`.
pub fn in_registry(file: Option<&Path>) -> String {
    file.map_or(String::new(), |f| {
        format!(" (scope registry {})", f.display())
    })
}

fn bad_argument(argument: &str, message: String, file: Option<&Path>) -> Error {
    let e = Error::invalid_argument(argument, message);
    match file {
        Some(f) => e.with_path(f),
        None => e,
    }
}

/// `EINVAL` naming `argument` (`"name"`, `"sessionId"`, `"spawner"`, …) for a name or session
/// id that can never be valid: empty, containing a NUL byte, or longer than
/// [`MAX_NAME_BYTES`]. `file` is the registry, for the message.
/// Test: `crate::registry::tests::bad_names_are_einval_naming_the_argument`.
pub fn check_name(value: &str, argument: &str, file: Option<&Path>) -> Result<()> {
    let why = if value.is_empty() {
        "is empty".to_string()
    } else if value.contains('\0') {
        "contains a NUL byte".to_string()
    } else if value.len() > MAX_NAME_BYTES {
        format!("is longer than {MAX_NAME_BYTES} bytes")
    } else {
        return Ok(());
    };
    let registry = file.map_or(String::new(), |f| format!(" (registry {})", f.display()));
    Err(bad_argument(
        argument,
        format!(
            "{argument} {} {why}{registry}: names and session ids are non-empty strings of at most {MAX_NAME_BYTES} bytes without NUL bytes. Pass one unique on this host.",
            shown(value)
        ),
        file,
    ))
}

/// `EINVAL` (`argument: "scopes"`) for more than [`MAX_RULES`] rules in one allocation.
/// Test: `crate::registry::tests::bad_names_are_einval_naming_the_argument`.
pub fn check_rule_count(n: usize, file: Option<&Path>) -> Result<()> {
    if n <= MAX_RULES {
        return Ok(());
    }
    Err(bad_argument(
        "scopes",
        format!("scopes has {n} rules; an allocation holds at most {MAX_RULES}. Claim a common parent directory with one recursive rule instead."),
        file,
    ))
}
