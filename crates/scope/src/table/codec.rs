//! The table's stored bytes: parse and validate what is read, write what is saved, and keep the
//! serialisation of each allocation so a rewrite of a large table is cheap.
//!
//! Why "corrupt is not empty": a table that does not parse as exactly what this code writes is
//! `ECORRUPT` naming the file, never read as "no allocations" (that would hand every scope to
//! the next caller while their owners still write there) and never overwritten; the registry
//! leaves it for `repair`. Only an empty or all-whitespace file is the empty table (a first run,
//! or a crash before the first save).
//!
//! Why a cache ([`Codec`]), and why it lives here and not in [`Allocation`]: serialising
//! dominated a write, and a write after one change must not reserialise 10,000 allocations.
//! The codec keeps, for each allocation it last read or wrote, a copy of the allocation and its
//! JSON; a write reuses the bytes of every allocation that still compares equal to its copy.
//! Equality, not invalidation, decides reuse, so no mutation site can forget to invalidate. The
//! data type stays plain data; the cache belongs to whoever reads and writes the file (the
//! registry keeps one beside its cached table).
//! Test: `tests::*` below.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;
use serde_json::value::RawValue;
use sole_error::{Error, Kind, Result};

use super::{Allocation, Table, VERSION};
use crate::rule::is_normal;

/// `ECORRUPT`: `file` is not a table this code wrote, for the reason `why`.
/// Test: `tests::parse_refuses_what_it_did_not_write`.
pub fn corrupt(file: &Path, why: String) -> Error {
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

/// An allocation as it was when serialised, and its JSON.
struct Written {
    alloc: Allocation,
    json: Vec<u8>,
}

/// Reads and writes tables, remembering each allocation's JSON (see the module doc). One codec
/// follows one sequence of tables (a registry's cached table); a fresh one knows nothing and
/// serialises everything.
/// Test: `tests::cached_fragments_always_match_a_full_serialisation`.
#[derive(Default)]
pub struct Codec {
    /// In the table order of the last read or write (boxed: a write moves pointers, not
    /// allocations).
    written: Vec<Option<Box<Written>>>,
}

/// The envelope `{"version":…,"allocations":[…]}` with each allocation left as raw JSON.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable<'a> {
    version: u32,
    #[serde(borrow)]
    allocations: Vec<&'a RawValue>,
}

impl Codec {
    /// Parse and validate stored bytes (see the module doc); the JSON of each allocation read
    /// becomes its cached serialisation, so writing back a table another process wrote does
    /// not reserialise it.
    /// Test: `tests::cached_fragments_always_match_a_full_serialisation`.
    pub fn decode(&mut self, bytes: &[u8], file: &Path) -> Result<Table> {
        self.written.clear();
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Table::new());
        }
        let raw = envelope(bytes, file)?;
        let mut allocations = Vec::with_capacity(raw.allocations.len());
        for (i, r) in raw.allocations.iter().enumerate() {
            let a: Allocation = serde_json::from_str(r.get())
                .map_err(|e| corrupt(file, format!("wrong shape of allocation {i}: {e}")))?;
            self.written.push(Some(Box::new(Written {
                alloc: a.clone(),
                json: r.get().as_bytes().to_vec(),
            })));
            allocations.push(a);
        }
        let t = Table {
            version: raw.version,
            allocations,
        };
        if let Err(e) = validate(&t, file) {
            self.written.clear();
            return Err(e);
        }
        Ok(t)
    }

    /// The stored form: compact JSON plus a newline, byte for byte what
    /// `serde_json::to_vec(table)` + `\n` gives (tested), assembled from cached fragments.
    ///
    /// Finding an allocation's cached fragment: operations only append allocations or remove
    /// them, so the cache is walked with a cursor in step with the table, skipping forward past
    /// removed entries. An allocation not found ahead of the cursor (new, or a table reordered
    /// by hand) is serialised.
    /// Test: `tests::unchanged_allocations_reuse_their_bytes`.
    pub fn encode(&mut self, t: &Table) -> Vec<u8> {
        let mut old = std::mem::take(&mut self.written);
        let mut out = Vec::with_capacity(64 + t.allocations.len() * 256);
        out.extend_from_slice(format!("{{\"version\":{},\"allocations\":[", t.version).as_bytes());
        let mut cursor = 0;
        for (i, a) in t.allocations.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let hit = old[cursor.min(old.len())..]
                .iter()
                .position(|w| w.as_ref().is_some_and(|w| w.alloc.name == a.name))
                .map(|k| cursor + k);
            let reused = hit.and_then(|k| {
                cursor = k + 1;
                old[k].take().filter(|w| w.alloc == *a)
            });
            let w = reused.unwrap_or_else(|| {
                let json = serde_json::to_vec(a).expect("an allocation always serialises");
                Box::new(Written {
                    alloc: a.clone(),
                    json,
                })
            });
            out.extend_from_slice(&w.json);
            self.written.push(Some(w));
        }
        out.extend_from_slice(b"]}\n");
        out
    }
}

/// The envelope of a table this version wrote, else `ECORRUPT` saying why: the version is
/// looked at first, so a future format is reported as such rather than as a wrong shape (only
/// failures pay for this second pass).
fn envelope<'a>(bytes: &'a [u8], file: &Path) -> Result<RawTable<'a>> {
    let other = match serde_json::from_slice::<RawTable>(bytes) {
        Ok(r) if r.version == VERSION => return Ok(r),
        other => other,
    };
    #[derive(Deserialize)]
    struct Header {
        version: Option<serde_json::Value>,
    }
    let h: Header = serde_json::from_slice(bytes)
        .map_err(|e| corrupt(file, format!("not a JSON object: {e}")))?;
    match h.version {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(VERSION)) => {}
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
    Err(corrupt(file, why))
}

/// The structural invariants every table this code writes satisfies.
fn validate(t: &Table, file: &Path) -> Result<()> {
    check_each_allocation(t, file)?;
    check_delegation_chains(t, file)
}

/// Names unique and non-empty, pids positive, targets normalised absolute paths.
fn check_each_allocation(t: &Table, file: &Path) -> Result<()> {
    let mut names = HashSet::with_capacity(t.allocations.len());
    for a in &t.allocations {
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
    Ok(())
}

/// Every parent exists and every chain of parents ends (no cycle): at most n steps each.
fn check_delegation_chains(t: &Table, file: &Path) -> Result<()> {
    let parent: std::collections::HashMap<&str, Option<&str>> = t
        .allocations
        .iter()
        .map(|a| (a.name.as_str(), a.delegated_from.as_deref()))
        .collect();
    for a in &t.allocations {
        let mut cur = a.delegated_from.as_deref();
        let mut steps = 0;
        while let Some(p) = cur {
            let Some(next) = parent.get(p) else {
                return Err(corrupt(
                    file,
                    format!("{:?} is delegated from unknown {p:?}", a.name),
                ));
            };
            cur = *next;
            steps += 1;
            if steps > t.allocations.len() {
                return Err(corrupt(
                    file,
                    format!("delegation cycle through {:?}", a.name),
                ));
            }
        }
    }
    Ok(())
}

impl Table {
    /// Parse and validate stored bytes with a fresh [`Codec`] (no cache kept).
    /// Test: `tests::parse_refuses_what_it_did_not_write`.
    pub fn parse(bytes: &[u8], file: &Path) -> Result<Table> {
        Codec::default().decode(bytes, file)
    }

    /// The stored form, serialised in full with a fresh [`Codec`].
    /// Test: `tests::parse_refuses_what_it_did_not_write`.
    pub fn to_bytes(&self) -> Vec<u8> {
        Codec::default().encode(self)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn full(t: &Table) -> Vec<u8> {
        [serde_json::to_vec(t).unwrap(), b"\n".to_vec()].concat()
    }

    #[test]
    fn cached_fragments_always_match_a_full_serialisation() {
        let mut c = Codec::default();
        let mut t = chain();
        assert_eq!(c.encode(&t), full(&t));
        assert_eq!(c.encode(&t), full(&t), "second write, all from the cache");
        reg(&mut t, "other", vec![w("/elsewhere", true)]).unwrap();
        assert_eq!(c.encode(&t), full(&t));
        let name = t.allocations[0].name.clone();
        t.adopt(&name, 4242, (Some(7), None), "new-session".into(), f())
            .unwrap();
        assert_eq!(
            c.encode(&t),
            full(&t),
            "a changed allocation is serialised again"
        );
        t.release(&name, f()).unwrap();
        assert_eq!(
            c.encode(&t),
            full(&t),
            "release reparents: children serialised again"
        );
        t.allocations[0].delegated_from = Some("x".into());
        assert_eq!(c.encode(&t), full(&t), "even a direct field write is seen");
        t.allocations.reverse();
        assert_eq!(c.encode(&t), full(&t), "a reordered table");
        assert_eq!(c.encode(&Table::new()), full(&Table::new()));
        // A decoded table's fragments are the bytes read.
        let bytes = chain().to_bytes();
        let t = c.decode(&bytes, f()).unwrap();
        assert_eq!(c.encode(&t), bytes);
    }

    #[test]
    fn unchanged_allocations_reuse_their_bytes() {
        let mut c = Codec::default();
        let mut t = chain();
        c.encode(&t);
        let before: Vec<*const u8> = c
            .written
            .iter()
            .map(|w| w.as_ref().unwrap().json.as_ptr())
            .collect();
        t.release("a", f()).unwrap(); // b is reparented (changes), d does not
        c.encode(&t);
        let after: Vec<*const u8> = c
            .written
            .iter()
            .map(|w| w.as_ref().unwrap().json.as_ptr())
            .collect();
        assert_ne!(after[0], before[1], "b changed: serialised again");
        assert_eq!(after[1], before[2], "d unchanged: its bytes reused");
    }

    #[test]
    fn parse_refuses_what_it_did_not_write() {
        let ok = chain().to_bytes();
        assert_eq!(ok, full(&chain()));
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
