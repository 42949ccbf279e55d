//! Scope rules and their algebra: which paths a rule claims, when two claims overlap, and when
//! one claim contains another.
//!
//! Why this module exists: every decision of the registry (may this allocation write here? who
//! is in the way?) reduces to two questions about rules, [`rules_overlap`] and
//! [`covers_fully`]. A recursive rule claims `target/**` (the target and everything below
//! it); a non-recursive rule claims the target and its direct children.
//!
//! Race closed here (a logical one): compared as given, `/src/`, `/src/.`, `/x/../src` and
//! `src` would be four different scopes, and two writers could own "different" rules that name
//! the same directory. Every target goes through [`normalize`] when a rule is
//! built (absolute only, `.`/`..`/repeated and trailing slashes removed lexically, no
//! filesystem access, so a symlink swapped in later cannot change an earlier decision), and a
//! stored table whose targets are not in normal form is refused as corrupt.
//! Test: `tests::*` below (the overlap cases plus normalisation).

#[cfg(unix)]
use std::os::unix::ffi::OsStrExt;
#[cfg(target_os = "wasi")]
use std::os::wasi::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sole_error::{Detail, Error, Result};

/// Read < Write: a write grant covers a read request, not the other way round.
/// Test: `tests::covers_fully_cases`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Read,
    Write,
}

impl Permission {
    /// `"read"` or `"write"`, as stored and as JavaScript spells it.
    /// Test: `tests::covers_fully_cases`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
        }
    }
}

/// One claim: `target` (absolute, normalised), its permission and whether it reaches below the
/// target's direct children.
/// Test: `tests::rules_overlap_prefix_relation`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub target: PathBuf,
    pub permission: Permission,
    pub recursive: bool,
}

impl Rule {
    /// Build a rule from a caller's target: normalised, or `EINVAL` when it is not absolute.
    /// Test: `tests::bad_targets_say_what_is_wrong`.
    pub fn new(target: &str, permission: Permission, recursive: bool) -> Result<Rule> {
        Ok(Rule {
            target: normalize(target)?,
            permission,
            recursive,
        })
    }

    /// A write rule on `target` ([`Rule::new`]).
    /// Test: `tests::rules_overlap_prefix_relation`.
    pub fn write(target: &str, recursive: bool) -> Result<Rule> {
        Rule::new(target, Permission::Write, recursive)
    }

    /// A read rule on `target` ([`Rule::new`]).
    /// Test: `tests::covers_fully_cases`.
    pub fn read(target: &str, recursive: bool) -> Result<Rule> {
        Rule::new(target, Permission::Read, recursive)
    }

    /// Does this rule grant writing (the only rules that conflict)?
    /// Test: `tests::covers_fully_cases`.
    pub fn is_write(&self) -> bool {
        self.permission == Permission::Write
    }

    /// The rule as a structured error detail (`err.rule` in JavaScript).
    /// Test: `__test__/scope.spec.ts` (`err.rule` of `ECONFLICT`).
    pub fn detail(&self) -> Detail {
        Detail::Obj(vec![
            (
                "target".into(),
                Detail::Str(self.target.to_string_lossy().into_owned()),
            ),
            (
                "permission".into(),
                Detail::Str(self.permission.as_str().into()),
            ),
            ("recursive".into(), Detail::Bool(self.recursive)),
        ])
    }

    /// `/src (write, recursive)`: the rule as messages spell it.
    /// Test: `__test__/scope.spec.ts` (conflict messages).
    pub fn describe(&self) -> String {
        format!(
            "{} ({}, {})",
            self.target.display(),
            self.permission.as_str(),
            if self.recursive {
                "recursive"
            } else {
                "non-recursive"
            }
        )
    }
}

/// Longest rule target accepted, in bytes (`PATH_MAX` minus its terminating NUL).
/// Test: `tests::bad_targets_say_what_is_wrong`.
pub const MAX_TARGET_BYTES: usize = 4095;

/// Normalise an absolute target lexically: drop empty and `.` components, resolve `..` against
/// the preceding component (`/..` stays `/`). Relative or empty targets, NUL bytes and targets
/// longer than [`MAX_TARGET_BYTES`] are `EINVAL` with `argument: "target"`: a scope must name
/// the same directory whatever the caller's working directory.
/// Test: `tests::normalisation_is_lexical_and_absolute_only`.
pub fn normalize(target: &str) -> Result<PathBuf> {
    normalize_as(target, "target")
}

/// [`normalize`], naming the target `argument` in errors (`"scopes[0].target"`, `"rule.target"`).
/// Each refusal says what is wrong with the target (a NUL byte is not reported as "not
/// absolute"). Test: `tests::bad_targets_say_what_is_wrong`.
pub fn normalize_as(target: &str, argument: &str) -> Result<PathBuf> {
    normalize_in(target, argument, "")
}

/// [`normalize_as`] with `context` (e.g. `" (scope registry /run/x/scope.json)"`) after the
/// target in messages.
/// Test: `tests::bad_targets_say_what_is_wrong`.
pub fn normalize_in(target: &str, argument: &str, context: &str) -> Result<PathBuf> {
    let why = if target.len() > MAX_TARGET_BYTES {
        format!(
            "is {} bytes long; a target is a path of at most {MAX_TARGET_BYTES} bytes. Pass a real path",
            target.len()
        )
    } else if target.contains('\0') {
        "contains a NUL byte, which no path can contain. Remove it".to_string()
    } else if !target.starts_with('/') {
        "is not an absolute path: rule targets are compared across processes with different working directories, so they must start with '/'. Pass path.resolve(target)".to_string()
    } else {
        String::new()
    };
    if !why.is_empty() {
        let e = Error::invalid_argument(
            argument,
            format!(
                "scope target {argument} {}{context} {why}.",
                crate::check::shown(target)
            ),
        );
        return Err(if target.len() <= MAX_TARGET_BYTES {
            e.with_detail("target", target)
        } else {
            e
        });
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut s = String::with_capacity(target.len());
    for p in &parts {
        s.push('/');
        s.push_str(p);
    }
    if s.is_empty() {
        s.push('/');
    }
    Ok(PathBuf::from(s))
}

/// Is `target` already in the form [`normalize`] produces?
/// Test: `tests::normalisation_is_lexical_and_absolute_only`.
pub fn is_normal(target: &Path) -> bool {
    match target.to_str() {
        // Compare text: `Path` equality ignores a trailing slash.
        Some(s) => normalize(s).is_ok_and(|n| n.as_os_str() == target.as_os_str()),
        None => false,
    }
}

/// `inner` is `outer` or below it. Both are normal (the [`Rule`] invariant: built by
/// [`normalize`], checked by `is_normal` when a table is loaded), so a byte comparison equals
/// a component comparison: `/srcfoo` is not below `/src` because the next byte must be `/`.
/// (`Path::starts_with` walks components and was a tenth of a write at 10,000 allocations.)
fn within(inner: &Path, outer: &Path) -> bool {
    let (i, o) = (inner.as_os_str().as_bytes(), outer.as_os_str().as_bytes());
    if o == b"/" {
        return true;
    }
    i.len() >= o.len() && &i[..o.len()] == o && (i.len() == o.len() || i[o.len()] == b'/')
}

/// `child`'s parent is `parent` (normal paths; `/` has no parent).
fn parent_is(child: &Path, parent: &Path) -> bool {
    let c = child.as_os_str().as_bytes();
    match c.iter().rposition(|&b| b == b'/') {
        Some(_) if c == b"/" => false,
        Some(0) => parent.as_os_str().as_bytes() == b"/",
        Some(i) => &c[..i] == parent.as_os_str().as_bytes(),
        None => false,
    }
}

/// Whether `a` and `b` claim any common concrete path (four cases: recursive or not on each side).
///
/// Recursive rules cover `target/**`; non-recursive rules cover the target itself and its
/// direct children. Targets are normalised and compared by whole components (`/srcfoo` does
/// not start with `/src`).
/// Test: `tests::rules_overlap_non_recursive`.
pub fn rules_overlap(a: &Rule, b: &Rule) -> bool {
    let (at, bt) = (a.target.as_path(), b.target.as_path());
    match (a.recursive, b.recursive) {
        (true, true) => within(at, bt) || within(bt, at),
        // a covers a/**; b covers {b, b/*}.
        (true, false) => within(bt, at) || parent_is(at, bt),
        (false, true) => within(at, bt) || parent_is(bt, at),
        (false, false) => at == bt || parent_is(at, bt) || parent_is(bt, at),
    }
}

/// Does `cover` claim every path `inner` claims, with at least `inner`'s permission?
/// Test: `tests::covers_fully_cases`.
pub fn covers_fully(cover: &Rule, inner: &Rule) -> bool {
    if cover.permission < inner.permission {
        return false;
    }
    if cover.recursive {
        within(&inner.target, &cover.target)
    } else {
        inner.target == cover.target && !inner.recursive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(p: &str, r: bool) -> Rule {
        Rule::write(p, r).unwrap()
    }

    #[test]
    fn byte_comparisons_match_component_comparisons() {
        let paths = [
            "/", "/a", "/ab", "/a/b", "/a/bc", "/a/b/c", "/b", "/a/b/c/d",
        ];
        for x in paths {
            for y in paths {
                let (px, py) = (Path::new(x), Path::new(y));
                assert_eq!(within(px, py), px.starts_with(py), "{x} within {y}");
                assert_eq!(parent_is(px, py), px.parent() == Some(py), "{x} parent {y}");
            }
        }
    }

    #[test]
    fn rules_overlap_prefix_relation() {
        assert!(rules_overlap(&w("/src", true), &w("/src/core", true)));
        assert!(rules_overlap(&w("/src/core", true), &w("/src", true)));
        assert!(!rules_overlap(&w("/src", true), &w("/docs", true)));
        // Component-wise, not string prefix.
        assert!(!rules_overlap(&w("/src", true), &w("/srcfoo", true)));
    }

    #[test]
    fn rules_overlap_non_recursive() {
        assert!(!rules_overlap(&w("/src", false), &w("/src/a/b", true)));
        assert!(rules_overlap(&w("/src", false), &w("/src/child", false)));
        assert!(rules_overlap(&w("/src", false), &w("/src/child", true)));
        assert!(!rules_overlap(&w("/src/a", false), &w("/src/b", false)));
        assert!(!rules_overlap(&w("/src", false), &w("/src/a/b", false)));
        assert!(rules_overlap(&w("/src/a", true), &w("/src", false)));
        assert!(rules_overlap(&w("/src", false), &w("/", true)));
    }

    #[test]
    fn covers_fully_cases() {
        assert!(covers_fully(&w("/src", true), &w("/src/core", false)));
        assert!(covers_fully(&w("/src", true), &w("/src", true)));
        assert!(covers_fully(&w("/src", false), &w("/src", false)));
        assert!(!covers_fully(&w("/src", false), &w("/src", true)));
        assert!(!covers_fully(&w("/src", false), &w("/src/a", false)));
        assert!(covers_fully(
            &w("/src", true),
            &Rule::read("/src/a", true).unwrap()
        ));
        assert!(!covers_fully(
            &Rule::read("/src", true).unwrap(),
            &w("/src/a", true)
        ));
    }

    #[test]
    fn normalisation_is_lexical_and_absolute_only() {
        assert_eq!(normalize("/src/").unwrap(), PathBuf::from("/src"));
        assert_eq!(
            normalize("//src//./core/").unwrap(),
            PathBuf::from("/src/core")
        );
        assert_eq!(normalize("/x/../src").unwrap(), PathBuf::from("/src"));
        assert_eq!(normalize("/../..").unwrap(), PathBuf::from("/"));
        assert_eq!(normalize("/").unwrap(), PathBuf::from("/"));
        for bad in ["src", "", "./src", "a\0b"] {
            let e = normalize(bad).unwrap_err();
            assert_eq!(e.code(), "EINVAL", "{bad:?}");
            assert_eq!(e.details()[0], ("argument", "target".into()));
        }
        // Two spellings of one directory now overlap.
        assert!(rules_overlap(
            &w("/x/../src/", true),
            &w("/src/./core", true)
        ));
        assert!(is_normal(Path::new("/src/core")));
        assert!(!is_normal(Path::new("/src/")));
        assert!(!is_normal(Path::new("src")));
    }

    #[test]
    fn bad_targets_say_what_is_wrong() {
        let e = normalize_as("/src/a\0b", "scopes[1].target").unwrap_err();
        assert_eq!(e.code(), "EINVAL");
        assert_eq!(e.details()[0], ("argument", "scopes[1].target".into()));
        assert!(e.message().contains("NUL byte"), "{}", e.message());
        assert!(!e.message().contains("absolute"), "{}", e.message());
        let long = format!("/{}", "x".repeat(10 << 20));
        let e = normalize_as(&long, "rule.target").unwrap_err();
        assert!(
            e.message().contains("bytes long"),
            "{}",
            &e.message()[..200]
        );
        assert!(
            e.message().len() < 1000,
            "the message does not repeat 10 MB"
        );
        assert!(normalize_as(&format!("/{}", "x".repeat(MAX_TARGET_BYTES - 1)), "t").is_ok());
        let e = normalize_as("rel", "a.target").unwrap_err();
        assert!(e.message().contains("not an absolute path"));
    }
}
