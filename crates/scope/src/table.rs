//! The allocation table and every operation on it, in memory, with no I/O.
//!
//! Why a separate, pure layer: the semantics (who may write where, who is blamed for a
//! conflict, where a released allocation's children go) are the part that must match seed 002
//! exactly and be testable without files or processes. [`crate::Registry`] wraps each operation
//! in lock → load → reclaim → operate → save; this module decides the result.
//!
//! Each mutating operation checks everything first and changes the table only when every check
//! passed, so an error leaves the table exactly as it was (the registry still saves what the
//! stale reclaim before it removed). Liveness is a parameter ([`Liveness`]), as in the seed's
//! `reclaim_stale_with`, so unit tests decide staleness without processes.
//!
//! Race closed here: a pid is recycled by the kernel, so "pid alive" does not mean "owner
//! alive" (seed 002 used `kill(pid, 0)` and a recycled pid kept a dead allocation forever).
//! Each allocation records its owner's start time and boot id; [`SystemLiveness`] calls it
//! stale when the pid is dead, or when the process that now has the pid started at another
//! time or in another boot.
//! Test: `tests::*` below (the seed's test list as behaviours, plus reclaim by identity).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sole_error::{Error, Kind, Result};

use crate::rule::{covers_fully, is_normal, rules_overlap, Rule};

/// The on-disk format version this code reads and writes.
pub const VERSION: u32 = 1;

/// One process's (or reserved child's) scope allocation.
///
/// `scopes` is the full set of rules granted; what was delegated to children is not subtracted
/// in storage: the effective write scope is derived (own write rules minus children's write
/// rules), which makes reparenting on release and reclaim a one-field change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Allocation {
    pub name: String,
    pub pid: i32,
    /// Start time of `pid` (clock ticks since boot) when it was recorded; `None` when the pid
    /// was not a live process at that moment.
    pub start_time: Option<u64>,
    /// Boot id when it was recorded.
    pub boot_id: Option<String>,
    pub socket: Option<String>,
    pub scopes: Vec<Rule>,
    pub delegated_from: Option<String>,
    /// `None` while a delegated child is only reserved (not yet adopted).
    pub session_id: Option<String>,
    /// Not stored: the serialised form as last written (see [`Frag`]).
    #[serde(skip)]
    pub frag: Frag,
}

/// The whole table, as stored: `{"version":1,"allocations":[…]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    pub version: u32,
    pub allocations: Vec<Allocation>,
}

/// The JSON of an allocation as last written, with a copy of the allocation it was made from.
/// A write reuses the bytes of every allocation that still compares equal to its copy, so
/// rewriting a table of 10,000 allocations after one change serialises one allocation, not
/// 10,000 (serialising dominated a write). Equality, not invalidation, decides reuse: no
/// mutation site can forget to invalidate. Never stored; ignored by `PartialEq`; a clone
/// starts empty.
#[derive(Default)]
pub struct Frag(std::cell::RefCell<Option<Box<Written>>>);

/// An allocation as it was when serialised, and its JSON.
type Written = (Allocation, Vec<u8>);

impl Clone for Frag {
    fn clone(&self) -> Self {
        Frag::default()
    }
}
impl PartialEq for Frag {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Frag {}
impl std::fmt::Debug for Frag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Frag")
    }
}

/// Decides whether an allocation's owner is still the process that registered it.
pub trait Liveness {
    fn is_live(&mut self, a: &Allocation) -> bool;
}

impl<F: FnMut(&Allocation) -> bool> Liveness for F {
    fn is_live(&mut self, a: &Allocation) -> bool {
        self(a)
    }
}

/// The real probe: pid alive (zombies dead), and where recorded, the same start time and boot.
/// Answers are cached per (pid, start time) for one reclaim pass, so a table of 10,000
/// allocations held by a few processes costs a few `/proc` reads, not 10,000.
#[derive(Default)]
pub struct SystemLiveness {
    seen: HashMap<(i32, Option<u64>), bool>,
    /// This boot's id, read once per pass (`Some(None)`: unreadable).
    boot: Option<Option<String>>,
}

impl Liveness for SystemLiveness {
    fn is_live(&mut self, a: &Allocation) -> bool {
        if let Some(b) = &a.boot_id {
            let now = self.boot.get_or_insert_with(|| sole_procid::boot_id().ok());
            if now.as_deref() != Some(b.as_str()) {
                // Another boot: every process of that boot is gone.
                return false;
            }
        }
        *self.seen.entry((a.pid, a.start_time)).or_insert_with(|| {
            sole_procid::pid_alive(a.pid as i64)
                && match a.start_time {
                    None => true,
                    Some(t) => sole_procid::identity::start_time(a.pid) == Some(t),
                }
        })
    }
}

/// The identity to record for `pid` now: (start time, boot id).
pub fn capture_identity(pid: i32) -> (Option<u64>, Option<String>) {
    (
        sole_procid::identity::start_time(pid),
        sole_procid::boot_id().ok(),
    )
}

/// What a caller asks for when registering or delegating.
#[derive(Debug, Clone)]
pub struct Request {
    pub name: String,
    pub pid: i32,
    pub start_time: Option<u64>,
    pub boot_id: Option<String>,
    pub socket: Option<String>,
    pub scopes: Vec<Rule>,
}

fn corrupt(file: &Path, why: String) -> Error {
    Error::new(
        Kind::Corrupt,
        format!(
            "{} is not a scope table sole wrote ({why}); it was left unchanged. Inspect it, then call ScopeRegistry.repair({:?}) to move it aside and start from an empty table.",
            file.display(),
            file.display().to_string()
        ),
    )
    .with_path(file)
}

fn duplicate(file: &Path, name: &str) -> Error {
    Error::new(
        Kind::Duplicate,
        format!(
            "an allocation named {name:?} is already registered in {}: choose another name, or release the existing one first.",
            file.display()
        ),
    )
    .with_path(file)
    .with_detail("allocation", name)
}

/// `EUNKNOWN`: no allocation named `name` in `file`.
pub fn unknown(file: &Path, name: &str) -> Error {
    Error::new(
        Kind::Unknown,
        format!(
            "no allocation named {name:?} in {} (never registered, released, or reclaimed after its process died): register it first, or check the name.",
            file.display()
        ),
    )
    .with_path(file)
    .with_detail("allocation", name)
}

fn conflict(file: &Path, competitor: &str, rule: &Rule) -> Error {
    Error::new(
        Kind::Conflict,
        format!(
            "write rule {} overlaps the write scope of allocation {competitor:?} in {}: choose a disjoint target, have {competitor:?} delegate it to you, or wait until it is released.",
            rule.describe(),
            file.display()
        ),
    )
    .with_path(file)
    .with_detail("competitor", competitor)
    .with_detail("rule", rule.detail())
}

fn not_subset(file: &Path, spawner: &str, rule: &Rule) -> Error {
    Error::new(
        Kind::NotSubset,
        format!(
            "rule {} is not inside the effective write scope of spawner {spawner:?} in {} (its own rules minus what its other children hold): request a target inside {spawner:?}'s scope, or release the child that holds it.",
            rule.describe(),
            file.display()
        ),
    )
    .with_path(file)
    .with_detail("spawner", spawner)
    .with_detail("rule", rule.detail())
}

/// `EDUPLICATE` for a session id that the live allocation `holder` already has.
fn duplicate_session(file: &Path, session_id: &str, holder: &str) -> Error {
    Error::new(
        Kind::Duplicate,
        format!(
            "session id {} is already used by allocation {holder:?} in {}: session ids must be unique (lookupSession finds the one allocation writing to a session). Pass another sessionId, or release {holder:?} first.",
            crate::shown(session_id),
            file.display()
        ),
    )
    .with_path(file)
    .with_detail("allocation", holder)
    .with_detail("sessionId", session_id)
}

/// Longest allocation name or session id accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;

/// Most rules one allocation may hold (each costs every later conflict check).
pub const MAX_RULES: usize = 1024;

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
/// Test: `crate::tests::bad_names_are_einval_naming_the_argument`.
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
            crate::shown(value)
        ),
        file,
    ))
}

/// `EINVAL` (`argument: "scopes"`) for more than [`MAX_RULES`] rules in one allocation.
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

impl Table {
    pub fn new() -> Table {
        Table {
            version: VERSION,
            allocations: Vec::new(),
        }
    }

    /// Parse and validate stored bytes. Empty (or only whitespace) is the empty table; anything
    /// else must be exactly what [`Table::to_bytes`] writes, else `ECORRUPT` naming `file`.
    pub fn parse(bytes: &[u8], file: &Path) -> Result<Table> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Table::new());
        }
        // Each allocation is parsed from its own raw JSON, and that JSON becomes its cached
        // fragment: writing it back reproduces exactly the allocation parsed from it, so a
        // process that reread another's table does not reserialise 10,000 allocations.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawTable<'a> {
            version: u32,
            #[serde(borrow)]
            allocations: Vec<&'a serde_json::value::RawValue>,
        }
        let raw: RawTable = match serde_json::from_slice::<RawTable>(bytes) {
            Ok(r) if r.version == VERSION => r,
            // Not what this version writes: look at the version first, so a future format is
            // reported as such rather than as a wrong shape. (Only failures pay for this pass.)
            other => {
                #[derive(Deserialize)]
                struct Header {
                    version: Option<serde_json::Value>,
                }
                let h: Header = serde_json::from_slice(bytes)
                    .map_err(|e| corrupt(file, format!("not a JSON object: {e}")))?;
                match h.version {
                    Some(serde_json::Value::Number(n)) if n.as_u64() == Some(VERSION as u64) => {}
                    Some(v) => {
                        return Err(corrupt(
                            file,
                            format!("unknown version {v}; this sole reads version {VERSION}"),
                        ))
                    }
                    None => return Err(corrupt(file, "no \"version\" field".into())),
                }
                let why = match other {
                    Err(e) => format!("wrong shape: {e}"),
                    Ok(r) => format!("version {} read as {VERSION}", r.version),
                };
                return Err(corrupt(file, why));
            }
        };
        let mut allocations = Vec::with_capacity(raw.allocations.len());
        for (i, r) in raw.allocations.iter().enumerate() {
            let a: Allocation = serde_json::from_str(r.get())
                .map_err(|e| corrupt(file, format!("wrong shape of allocation {i}: {e}")))?;
            *a.frag.0.borrow_mut() = Some(Box::new((a.clone(), r.get().as_bytes().to_vec())));
            allocations.push(a);
        }
        let t = Table {
            version: raw.version,
            allocations,
        };
        t.validate(file)?;
        Ok(t)
    }

    /// The structural invariants every table this code writes satisfies.
    fn validate(&self, file: &Path) -> Result<()> {
        let mut names = HashSet::with_capacity(self.allocations.len());
        for a in &self.allocations {
            if a.name.is_empty() || !names.insert(a.name.as_str()) {
                return Err(corrupt(
                    file,
                    format!("empty or repeated name {:?}", a.name),
                ));
            }
            if a.pid < 1 {
                return Err(corrupt(
                    file,
                    format!("invalid pid {} for {:?}", a.pid, a.name),
                ));
            }
            if let Some(r) = a.scopes.iter().find(|r| !is_normal(&r.target)) {
                return Err(corrupt(
                    file,
                    format!(
                        "target {:?} of {:?} is not a normalised absolute path",
                        r.target, a.name
                    ),
                ));
            }
        }
        let parent: HashMap<&str, Option<&str>> = self
            .allocations
            .iter()
            .map(|a| (a.name.as_str(), a.delegated_from.as_deref()))
            .collect();
        for a in &self.allocations {
            // Every parent exists and the chain ends (no cycle): at most n steps.
            let mut cur = a.delegated_from.as_deref();
            let mut steps = 0;
            while let Some(p) = cur {
                match parent.get(p) {
                    Some(next) => cur = *next,
                    None => {
                        return Err(corrupt(
                            file,
                            format!("{:?} is delegated from unknown {p:?}", a.name),
                        ))
                    }
                }
                steps += 1;
                if steps > self.allocations.len() {
                    return Err(corrupt(
                        file,
                        format!("delegation cycle through {:?}", a.name),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The stored form: compact JSON plus a newline.
    /// Byte for byte what `serde_json::to_vec(self)` + `\n` gives (tested), assembled from
    /// cached per-allocation fragments.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.allocations.len() * 256);
        out.extend_from_slice(
            format!("{{\"version\":{},\"allocations\":[", self.version).as_bytes(),
        );
        for (i, a) in self.allocations.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let mut f = a.frag.0.borrow_mut();
            match &*f {
                Some(c) if c.0 == *a => out.extend_from_slice(&c.1),
                _ => {
                    let bytes = serde_json::to_vec(a).expect("an allocation always serialises");
                    out.extend_from_slice(&bytes);
                    *f = Some(Box::new((a.clone(), bytes)));
                }
            }
        }
        out.extend_from_slice(b"]}\n");
        out
    }

    pub fn find(&self, name: &str) -> Option<&Allocation> {
        self.allocations.iter().find(|a| a.name == name)
    }

    /// The allocation currently writing to `session_id` (reservations have none).
    pub fn find_by_session(&self, session_id: &str) -> Option<&Allocation> {
        self.allocations
            .iter()
            .find(|a| a.session_id.as_deref() == Some(session_id))
    }

    fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Allocation> + 'a {
        self.allocations
            .iter()
            .filter(move |a| a.delegated_from.as_deref() == Some(name))
    }

    /// Is `rule` inside `parent`'s effective write scope: covered by its rules (write rules for
    /// a write request), and for a write request not overlapping any child's write rule?
    pub fn is_within_effective_write(&self, parent: &str, rule: &Rule) -> bool {
        let Some(alloc) = self.find(parent) else {
            return false;
        };
        if !rule.is_write() {
            return alloc.scopes.iter().any(|r| covers_fully(r, rule));
        }
        let covered = alloc
            .scopes
            .iter()
            .filter(|r| r.is_write())
            .any(|r| covers_fully(r, rule));
        covered
            && !self
                .children(parent)
                .flat_map(|c| c.scopes.iter())
                .any(|r| r.is_write() && rules_overlap(r, rule))
    }

    /// `name`'s own write rules, and the write rules its direct children hold (which are not
    /// part of its effective scope). `None` when there is no such allocation.
    pub fn effective_write_scope(&self, name: &str) -> Option<(Vec<Rule>, Vec<Rule>)> {
        let a = self.find(name)?;
        let own = a.scopes.iter().filter(|r| r.is_write()).cloned().collect();
        let out = self
            .children(name)
            .flat_map(|c| c.scopes.iter())
            .filter(|r| r.is_write())
            .cloned()
            .collect();
        Some((own, out))
    }

    /// The allocation that really owns a write scope overlapping `rule`: the deepest
    /// overlapping node of the first overlapping delegation tree, in table order. `exempt`
    /// (the spawner during delegation) may own it; the search then goes on with the next tree.
    pub fn conflict_owner(&self, rule: &Rule, exempt: Option<&str>) -> Option<String> {
        if !rule.is_write() {
            return None;
        }
        for root in self
            .allocations
            .iter()
            .filter(|a| a.delegated_from.is_none())
        {
            if let Some(owner) = self.owner_in_subtree(root, rule, 0) {
                if Some(owner.as_str()) == exempt {
                    continue;
                }
                return Some(owner);
            }
        }
        None
    }

    fn owner_in_subtree(&self, alloc: &Allocation, rule: &Rule, depth: usize) -> Option<String> {
        let here = alloc
            .scopes
            .iter()
            .any(|r| r.is_write() && rules_overlap(r, rule));
        if !here {
            return None;
        }
        // Validated tables have no cycles; the bound is a second guard.
        if depth <= self.allocations.len() {
            for child in self.children(&alloc.name) {
                if let Some(owner) = self.owner_in_subtree(child, rule, depth + 1) {
                    return Some(owner);
                }
            }
        }
        Some(alloc.name.clone())
    }

    /// Register a top-level allocation. Errors: `EDUPLICATE` (the name, then the session id),
    /// `ECONFLICT` (first write rule in request order that overlaps, blamed on the deepest
    /// owner).
    pub fn register(&mut self, req: Request, session_id: String, file: &Path) -> Result<()> {
        check_name(&req.name, "name", Some(file))?;
        if self.find(&req.name).is_some() {
            return Err(duplicate(file, &req.name));
        }
        if let Some(holder) = self.find_by_session(&session_id) {
            return Err(duplicate_session(file, &session_id, &holder.name));
        }
        for rule in req.scopes.iter().filter(|r| r.is_write()) {
            if let Some(competitor) = self.conflict_owner(rule, None) {
                return Err(conflict(file, &competitor, rule));
            }
        }
        self.allocations.push(Allocation {
            name: req.name,
            pid: req.pid,
            start_time: req.start_time,
            boot_id: req.boot_id,
            socket: req.socket,
            scopes: req.scopes,
            delegated_from: None,
            session_id: Some(session_id),
            frag: Frag::default(),
        });
        Ok(())
    }

    /// Reserve a child allocation inside `spawner`'s effective write scope (session `None`
    /// until the child adopts it). Errors, in this order: `EDUPLICATE` (child name),
    /// `EUNKNOWN` (spawner), then per rule `ENOTSUBSET`, `ECONFLICT`.
    pub fn delegate(&mut self, spawner: &str, req: Request, file: &Path) -> Result<()> {
        check_name(&req.name, "name", Some(file))?;
        if self.find(&req.name).is_some() {
            return Err(duplicate(file, &req.name));
        }
        if self.find(spawner).is_none() {
            return Err(unknown(file, spawner));
        }
        for rule in &req.scopes {
            if !self.is_within_effective_write(spawner, rule) {
                return Err(not_subset(file, spawner, rule));
            }
            if rule.is_write() {
                if let Some(competitor) = self.conflict_owner(rule, Some(spawner)) {
                    return Err(conflict(file, &competitor, rule));
                }
            }
        }
        self.allocations.push(Allocation {
            name: req.name,
            pid: req.pid,
            start_time: req.start_time,
            boot_id: req.boot_id,
            socket: req.socket,
            scopes: req.scopes,
            delegated_from: Some(spawner.to_string()),
            session_id: None,
            frag: Frag::default(),
        });
        Ok(())
    }

    /// Remove `name`; its children are reparented to its own parent. `EUNKNOWN` if absent.
    pub fn release(&mut self, name: &str, file: &Path) -> Result<Allocation> {
        let Some(idx) = self.allocations.iter().position(|a| a.name == name) else {
            return Err(unknown(file, name));
        };
        let removed = self.allocations.remove(idx);
        for a in &mut self.allocations {
            if a.delegated_from.as_deref() == Some(name) {
                a.delegated_from.clone_from(&removed.delegated_from);
            }
        }
        Ok(removed)
    }

    /// Give a reserved allocation to the process that will use it: new pid, identity and
    /// session. `EUNKNOWN` if absent, `EDUPLICATE` if another allocation has the session id
    /// (adopting again under its own session id is allowed).
    pub fn adopt(
        &mut self,
        name: &str,
        pid: i32,
        identity: (Option<u64>, Option<String>),
        session_id: String,
        file: &Path,
    ) -> Result<()> {
        if self.find(name).is_none() {
            return Err(unknown(file, name));
        }
        if let Some(holder) = self.find_by_session(&session_id).filter(|h| h.name != name) {
            return Err(duplicate_session(file, &session_id, &holder.name));
        }
        let Some(a) = self.allocations.iter_mut().find(|a| a.name == name) else {
            return Err(unknown(file, name));
        };
        a.pid = pid;
        a.start_time = identity.0;
        a.boot_id = identity.1;
        a.session_id = Some(session_id);
        Ok(())
    }

    /// Remove every allocation `probe` calls stale; each survivor whose parent was removed is
    /// reparented to its nearest surviving ancestor (or becomes top-level). Returns the
    /// removed names in table order. One pass over the table plus one per removed ancestor.
    pub fn reclaim_stale_with(&mut self, probe: &mut dyn Liveness) -> Vec<String> {
        let dead: HashSet<String> = self
            .allocations
            .iter()
            .filter(|a| !probe.is_live(a))
            .map(|a| a.name.clone())
            .collect();
        if dead.is_empty() {
            return Vec::new();
        }
        let parent: HashMap<String, Option<String>> = self
            .allocations
            .iter()
            .map(|a| (a.name.clone(), a.delegated_from.clone()))
            .collect();
        let mut removed = Vec::with_capacity(dead.len());
        let n = self.allocations.len();
        self.allocations.retain(|a| {
            if dead.contains(&a.name) {
                removed.push(a.name.clone());
                false
            } else {
                true
            }
        });
        for a in &mut self.allocations {
            let mut p = a.delegated_from.take();
            let mut steps = 0;
            while let Some(name) = p.as_ref().filter(|x| dead.contains(*x)) {
                p = parent.get(name).cloned().flatten();
                steps += 1;
                if steps > n {
                    p = None;
                    break;
                }
            }
            a.delegated_from = p;
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Rule;

    const F: &str = "/test/scope.json";

    fn f() -> &'static Path {
        Path::new(F)
    }
    fn w(p: &str, r: bool) -> Rule {
        Rule::write(p, r).unwrap()
    }
    fn req(name: &str, pid: i32, scopes: Vec<Rule>) -> Request {
        Request {
            name: name.into(),
            pid,
            start_time: None,
            boot_id: None,
            socket: Some(format!("/tmp/{name}.sock")),
            scopes,
        }
    }
    fn reg(t: &mut Table, name: &str, scopes: Vec<Rule>) -> Result<()> {
        t.register(req(name, 100, scopes), format!("s-{name}"), f())
    }
    fn del(t: &mut Table, spawner: &str, name: &str, scopes: Vec<Rule>) -> Result<()> {
        t.delegate(spawner, req(name, 100, scopes), f())
    }
    /// a (/src) → b (/src/core) → d (/src/core/x)
    fn chain() -> Table {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        del(&mut t, "a", "b", vec![w("/src/core", true)]).unwrap();
        del(&mut t, "b", "d", vec![w("/src/core/x", true)]).unwrap();
        t
    }

    #[test]
    fn cached_fragments_always_match_a_full_serialisation() {
        let full = |t: &Table| [serde_json::to_vec(t).unwrap(), b"\n".to_vec()].concat();
        let mut t = chain();
        assert_eq!(t.to_bytes(), full(&t));
        assert_eq!(t.to_bytes(), full(&t), "second write, all from the cache");
        reg(&mut t, "other", vec![w("/elsewhere", true)]).unwrap();
        assert_eq!(t.to_bytes(), full(&t));
        let name = t.allocations[0].name.clone();
        t.adopt(&name, 4242, (Some(7), None), "new-session".into(), f())
            .unwrap();
        assert_eq!(
            t.to_bytes(),
            full(&t),
            "a changed allocation is serialised again"
        );
        t.release(&name, f()).unwrap();
        assert_eq!(
            t.to_bytes(),
            full(&t),
            "release reparents: children serialised again"
        );
        t.allocations[0].delegated_from = Some("x".into());
        assert_eq!(t.to_bytes(), full(&t), "even a direct field write is seen");
        assert_eq!(Table::new().to_bytes(), full(&Table::new()));
    }

    #[test]
    fn register_detects_write_conflict() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        let e = reg(&mut t, "b", vec![w("/src/core", true)]).unwrap_err();
        assert_eq!(e.code(), "ECONFLICT");
        assert!(e.message().contains(F));
        assert_eq!(e.details()[0].1, "a".into());
        assert_eq!(t.allocations.len(), 1, "a refused request changes nothing");
    }

    #[test]
    fn duplicate_name_rejected() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        let e = reg(&mut t, "a", vec![w("/docs", true)]).unwrap_err();
        assert_eq!(e.code(), "EDUPLICATE");
    }

    #[test]
    fn duplicate_session_rejected_by_register_and_adopt() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap(); // session "s-a"
        let e = t
            .register(req("b", 100, vec![w("/b", true)]), "s-a".into(), f())
            .unwrap_err();
        assert_eq!(e.code(), "EDUPLICATE");
        assert!(e.message().contains("session id"), "{}", e.message());
        del(&mut t, "a", "kid", vec![w("/src/k", true)]).unwrap();
        let e = t
            .adopt("kid", 1, (None, None), "s-a".into(), f())
            .unwrap_err();
        assert_eq!(e.code(), "EDUPLICATE");
        t.adopt("kid", 1, (None, None), "k".into(), f()).unwrap();
        t.adopt("kid", 2, (None, None), "k".into(), f()).unwrap();
        assert_eq!(t.allocations.len(), 2, "refusals changed nothing");
    }

    #[test]
    fn delegate_must_be_subset() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        let e = del(&mut t, "a", "b", vec![w("/docs", true)]).unwrap_err();
        assert_eq!(e.code(), "ENOTSUBSET");
        let e = del(&mut t, "ghost", "b", vec![w("/src", true)]).unwrap_err();
        assert_eq!(e.code(), "EUNKNOWN");
    }

    #[test]
    fn delegate_succeeds_within_parent_scope() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        del(&mut t, "a", "b", vec![w("/src/core", true)]).unwrap();
        assert_eq!(t.allocations.len(), 2);
        assert_eq!(t.find("b").unwrap().session_id, None);
        assert!(!t.is_within_effective_write("a", &w("/src/core", true)));
        assert!(t.is_within_effective_write("a", &w("/src/other", true)));
        let (own, out) = t.effective_write_scope("a").unwrap();
        assert_eq!(own, vec![w("/src", true)]);
        assert_eq!(out, vec![w("/src/core", true)]);
    }

    #[test]
    fn delegate_rejects_sibling_overlap() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        del(&mut t, "a", "b", vec![w("/src/core", true)]).unwrap();
        let e = del(&mut t, "a", "c", vec![w("/src/core/sub", true)]).unwrap_err();
        assert_eq!(e.code(), "ENOTSUBSET");
    }

    #[test]
    fn release_reparents_children() {
        let mut t = chain();
        t.release("b", f()).unwrap();
        assert_eq!(t.find("d").unwrap().delegated_from.as_deref(), Some("a"));
        assert!(t.find("b").is_none());
        assert_eq!(t.release("b", f()).unwrap_err().code(), "EUNKNOWN");
    }

    #[test]
    fn reclaim_stale_reparents_and_removes_dead_entries() {
        let mut t = chain();
        t.allocations[1].pid = 4242;
        let removed = t.reclaim_stale_with(&mut |a: &Allocation| a.pid != 4242);
        assert_eq!(removed, vec!["b".to_string()]);
        assert!(t.find("b").is_none());
        assert_eq!(t.find("d").unwrap().delegated_from.as_deref(), Some("a"));
    }

    #[test]
    fn reclaim_of_a_dead_chain_reparents_to_nearest_live_ancestor() {
        let mut t = chain();
        del(&mut t, "d", "e", vec![w("/src/core/x/y", true)]).unwrap();
        // a and b dead; d survives as top level... no: a dead, b dead, d live → top level.
        t.allocations[0].pid = 1;
        t.allocations[1].pid = 1;
        let removed = t.reclaim_stale_with(&mut |a: &Allocation| a.pid != 1);
        assert_eq!(removed, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(t.find("d").unwrap().delegated_from, None);
        assert_eq!(t.find("e").unwrap().delegated_from.as_deref(), Some("d"));
        // Nothing dead: nothing changes.
        let before = t.clone();
        assert!(t.reclaim_stale_with(&mut |_: &Allocation| true).is_empty());
        assert_eq!(t, before);
    }

    #[test]
    fn system_liveness_rejects_a_recycled_pid() {
        let me = std::process::id() as i32;
        let (st, boot) = capture_identity(me);
        let mut a = Allocation {
            name: "x".into(),
            pid: me,
            start_time: st,
            boot_id: boot.clone(),
            socket: None,
            scopes: vec![],
            delegated_from: None,
            session_id: None,
            frag: Frag::default(),
        };
        assert!(SystemLiveness::default().is_live(&a));
        // Same pid, other start time: the pid now belongs to another process.
        a.start_time = Some(st.unwrap() + 1);
        assert!(!SystemLiveness::default().is_live(&a));
        a.start_time = st;
        a.boot_id = Some("00000000-0000-0000-0000-000000000000".into());
        assert!(!SystemLiveness::default().is_live(&a));
        a.boot_id = boot;
        a.pid = i32::MAX;
        assert!(!SystemLiveness::default().is_live(&a));
    }

    #[test]
    fn read_rules_do_not_conflict_with_write() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        reg(&mut t, "b", vec![Rule::read("/src", true).unwrap()]).unwrap();
        assert_eq!(t.allocations.len(), 2);
        assert_eq!(
            t.conflict_owner(&Rule::read("/src", true).unwrap(), None),
            None
        );
    }

    #[test]
    fn releasing_reopens_scope_for_fresh_registration() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        t.release("a", f()).unwrap();
        reg(&mut t, "b", vec![w("/src", true)]).unwrap();
    }

    #[test]
    fn delegated_scope_returns_to_parent_on_release() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        del(&mut t, "a", "b", vec![w("/src/core", true)]).unwrap();
        assert!(!t.is_within_effective_write("a", &w("/src/core", true)));
        t.release("b", f()).unwrap();
        assert!(t.is_within_effective_write("a", &w("/src/core", true)));
    }

    #[test]
    fn adopt_rewrites_pid_and_session() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        del(&mut t, "a", "child", vec![w("/src/c", true)]).unwrap();
        t.adopt("child", 555, (Some(7), None), "sess".into(), f())
            .unwrap();
        let c = t.find("child").unwrap();
        assert_eq!(
            (c.pid, c.start_time, c.session_id.as_deref()),
            (555, Some(7), Some("sess"))
        );
        assert_eq!(t.find_by_session("sess").unwrap().name, "child");
        assert_eq!(
            t.adopt("ghost", 1, (None, None), "s".into(), f())
                .unwrap_err()
                .code(),
            "EUNKNOWN"
        );
    }

    #[test]
    fn conflict_detection_descends_to_real_owner() {
        let mut t = Table::new();
        reg(&mut t, "a", vec![w("/src", true)]).unwrap();
        del(&mut t, "a", "b", vec![w("/src/core", true)]).unwrap();
        let e = reg(&mut t, "x", vec![w("/src/core/x", true)]).unwrap_err();
        assert_eq!(e.code(), "ECONFLICT");
        assert_eq!(e.details()[0], ("competitor", "b".into()));
        assert_eq!(
            t.conflict_owner(&w("/src/other", true), None).as_deref(),
            Some("a")
        );
        assert_eq!(t.conflict_owner(&w("/src/core", true), Some("b")), None);
    }

    #[test]
    fn parse_refuses_what_it_did_not_write() {
        let ok = chain().to_bytes();
        assert_eq!(
            ok,
            [serde_json::to_vec(&chain()).unwrap(), b"\n".to_vec()].concat()
        );
        assert_eq!(Table::parse(&ok, f()).unwrap(), chain());
        assert_eq!(Table::parse(b"", f()).unwrap(), Table::new());
        assert_eq!(Table::parse(b" \n", f()).unwrap(), Table::new());
        for bad in [
            &b"{"[..],
            b"[]",
            b"{\"version\":2,\"allocations\":[]}",
            b"{\"allocations\":[]}",
            b"{\"version\":1,\"allocations\":{}}",
            b"{\"version\":1,\"allocations\":[],\"x\":1}",
            b"{\"version\":1,\"allocations\":[{\"name\":\"a\",\"pid\":\"1\",\"scopes\":[]}]}",
            b"{\"version\":1,\"allocations\":[{\"name\":\"a\",\"pid\":1,\"scopes\":[{\"target\":\"rel\",\"permission\":\"write\",\"recursive\":true}]}]}",
            b"{\"version\":1,\"allocations\":[{\"name\":\"a\",\"pid\":1,\"scopes\":[],\"delegatedFrom\":\"zz\"}]}",
            b"{\"version\":1,\"allocations\":[{\"name\":\"a\",\"pid\":1,\"scopes\":[],\"delegatedFrom\":\"a\"}]}",
            b"{\"version\":1,\"allocations\":[{\"name\":\"a\",\"pid\":1,\"scopes\":[]},{\"name\":\"a\",\"pid\":1,\"scopes\":[]}]}",
        ] {
            let e = Table::parse(bad, f()).unwrap_err();
            assert_eq!(e.code(), "ECORRUPT", "{}", String::from_utf8_lossy(bad));
            assert!(e.message().contains(F) && e.message().contains("repair"));
        }
    }
}
