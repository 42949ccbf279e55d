//! `sole-scope`: a machine-wide registry of who may write where, with delegation from a parent
//! process to its children (seed 002, yoi `scope_lock.rs`, repaired).
//!
//! Why this crate exists: when cooperating processes (agents, fuzz workers, build steps) write
//! into one tree, two writers in the same directory corrupt each other's work, and a crashed
//! owner must not block the tree forever. The registry is one JSON table of allocations (name,
//! pid and its identity, socket, rules, delegating parent, session). A top-level allocation
//! claims rules no other tree overlaps; a parent delegates part of its effective write scope to
//! a child; releasing (or the death of) an allocation hands its children to its own parent.
//!
//! How each operation runs, and the races it closes:
//! 1. Take the exclusive `flock` on `<data>.lock`, a file that is never renamed or unlinked
//!    ([`store`]): two processes can never interleave read-modify-write cycles, and a SIGKILLed
//!    holder frees the lock at once (the kernel drops it with the last fd).
//! 2. Load the table (reused from memory when the generation in the lock file and the data
//!    file's stamp are unchanged), refusing corrupt, symlinked or foreign files.
//! 3. Reclaim stale allocations (dead pid, or a recycled pid whose start time or boot id
//!    differs), reparenting their children: a crashed owner is cleaned up by the next
//!    operation of *any* process, and a reused pid cannot keep it alive ([`table`]).
//! 4. Apply the operation, checking everything before changing anything ([`table::Table`]).
//! 5. If anything changed, replace the file atomically (temp, fsync, rename, fsync dir) and
//!    report any failure: a save error during reclaim is an error, not swallowed as in the seed.
//!
//! Arguments are checked before the lock is taken, so a refused call writes nothing: names and
//! session ids ([`table::check_name`]), rule targets ([`rule::normalize_as`]), and the owner pid,
//! which must be a running process (`ENOTFOUND` otherwise: an allocation owned by a dead
//! process would be reclaimed by the very next operation, so accepting it would be a lie).
//! Inside the lock, a session id another live allocation has is `EDUPLICATE` (lookups by
//! session depend on session ids being unique).
//!
//! A [`Guard`] releases its allocation only when asked: one dropped without `release()` (in
//! JavaScript: garbage-collected) leaves the allocation to its process, and the stale-pid
//! reclaim frees it once that process has exited. A claim is never lost while its owner runs.
//!
//! All methods are synchronous: the lock is held for the length of one operation (microseconds
//! to a few milliseconds), so the wait is short and never parks libuv's threadpool.
//! Test: the unit tests in each module, `__test__/scope*.spec.ts` (model-based, multi-process,
//! crash injection, hostile inputs).

pub mod json;
pub mod rule;
pub mod store;
pub mod table;

use std::path::Path;
use std::sync::{Arc, Mutex};

use sole_error::Result;

pub use rule::{covers_fully, normalize, rules_overlap, Permission, Rule};
pub use store::DirPolicy;
pub use table::{Allocation, Liveness, SystemLiveness, Table};

use store::{Stamp, Store};
use table::{capture_identity, Request};

/// What a caller asks for: the allocation's name, owner pid (default: this process), socket and
/// rules.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub pid: Option<i32>,
    pub socket: Option<String>,
    pub scopes: Vec<Rule>,
}

struct Cached {
    gen: u64,
    stamp: Option<Stamp>,
    table: Table,
}

type Probe = Box<dyn Fn(&Allocation) -> bool + Send + Sync>;

/// An opened registry. Cheap to keep; holds the directory and lock-file descriptors (never the
/// lock itself between operations) and the last table it read.
pub struct Registry {
    store: Store,
    cache: Mutex<Option<Cached>>,
    probe: Option<Probe>,
}

/// A name's own write rules and the write rules its direct children hold.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EffectiveScope {
    /// The allocation's own write rules.
    pub rules: Vec<Rule>,
    /// Write rules delegated to its children: not part of its effective scope.
    pub delegated: Vec<Rule>,
}

fn pid_or_self(pid: Option<i32>) -> i32 {
    // A pid_t is an i32 on Linux; the conversion cannot fail there (0 never happens: it is
    // this process's own id).
    pid.unwrap_or_else(|| i32::try_from(std::process::id()).unwrap_or(i32::MAX))
}

/// `s` as messages show a caller's string: quoted, and cut to its first 60 characters (a
/// 10 MB name must not make a 10 MB message).
pub(crate) fn shown(s: &str) -> String {
    const MAX: usize = 60;
    match s.char_indices().nth(MAX) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &s[..cut], s.len()),
    }
}

/// The identity to record for the owner `pid`, which must be a running process: `ENOTFOUND`
/// naming it otherwise (exited, a zombie, or never existed). Checked before the lock; a pid
/// that dies right after is reclaimed by the next operation like any dead owner.
/// Test: `tests::an_owner_that_is_not_running_is_refused`.
fn live_identity(pid: i32, file: &Path) -> Result<(Option<u64>, Option<String>)> {
    let id = capture_identity(pid);
    if id.0.is_none() || !sole_procid::pid_alive(i64::from(pid)) {
        return Err(sole_error::Error::new(
            sole_error::Kind::NotFound,
            format!(
                "no running process has pid {pid} (it exited, is a zombie, or never existed): an allocation it owned would be reclaimed at once, so nothing was written to {}. Pass the pid of a live process, or leave pid out for this process.",
                file.display()
            ),
        )
        .with_pid(pid)
        .with_path(file));
    }
    Ok(id)
}

impl Registry {
    /// Open the registry at `path`, or at [`store::default_path`]. Loads the table once, so a
    /// corrupt or hostile file is reported here rather than at the first operation.
    pub fn open(path: Option<&str>) -> Result<Registry> {
        Registry::open_with(path, Some(store::DEFAULT_LOCK_TIMEOUT))
    }

    /// [`Registry::open`] with a bound on every wait for the registry lock (the first one is
    /// the initial load); `None` waits forever. Past it, `ETIMEDOUT` names the holder.
    /// Test: `tests::a_stuck_holder_gives_etimedout`, `__test__/scope.spec.ts`.
    pub fn open_with(
        path: Option<&str>,
        lock_timeout: Option<std::time::Duration>,
    ) -> Result<Registry> {
        let (p, policy) = match path {
            Some(p) => (store::resolve(p)?, DirPolicy::Given),
            None => store::default_path()?,
        };
        let mut store = Store::open(&p, policy)?;
        store.lock_timeout = lock_timeout;
        let r = Registry {
            store,
            cache: Mutex::new(None),
            probe: None,
        };
        r.list()?;
        Ok(r)
    }

    /// Replace the liveness probe (tests): `probe(a)` false means `a` is stale.
    pub fn with_liveness(
        mut self,
        probe: impl Fn(&Allocation) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.probe = Some(Box::new(probe));
        self
    }

    /// The data file's absolute path.
    pub fn path(&self) -> &Path {
        &self.store.data_path
    }

    /// Move a corrupt data file at `path` aside under a timestamped name and return that name;
    /// `None` when the file is absent or valid (nothing to repair).
    pub fn repair(path: &str) -> Result<Option<std::path::PathBuf>> {
        let p = store::resolve(path)?;
        let s = Store::open(&p, DirPolicy::Given)?;
        let l = s.lock()?;
        s.repair(&l)
    }

    /// One operation: lock, load, reclaim, `op`, save if anything changed. `op` receives the
    /// names reclaimed and returns its result and whether it changed the table.
    fn run<T>(
        &self,
        op: impl FnOnce(&mut Table, &Path, Vec<String>) -> Result<(T, bool)>,
    ) -> Result<T> {
        let locked = self.store.lock()?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let gen = self.store.generation()?;
        let stamp = self.store.stamp()?;
        let fresh = matches!(&*cache, Some(c) if c.gen == gen && c.stamp == stamp);
        if !fresh {
            *cache = None;
            let (table, stamp) = self.store.read()?;
            *cache = Some(Cached { gen, stamp, table });
        }
        let c = cache.as_mut().expect("loaded above");
        let removed = match &self.probe {
            Some(p) => c.table.reclaim_stale_with(&mut |a: &Allocation| p(a)),
            None => c.table.reclaim_stale_with(&mut SystemLiveness::default()),
        };
        let reclaimed = !removed.is_empty();
        let result = op(&mut c.table, &self.store.data_path, removed);
        let changed = reclaimed || matches!(result, Ok((_, true)));
        if changed {
            match self.store.write(&locked, &c.table) {
                Ok((stamp, gen)) => {
                    c.stamp = Some(stamp);
                    c.gen = gen;
                }
                Err(e) => {
                    // The file still holds the old table: forget ours.
                    *cache = None;
                    return Err(e);
                }
            }
        }
        result.map(|(v, _)| v)
    }

    /// Register a top-level allocation (`EINVAL`, `EINVALIDPID`, `ENOTFOUND` for an owner that
    /// is not running; then under the lock `EDUPLICATE` for the name or the session id,
    /// `ECONFLICT`).
    pub fn register(&self, spec: Spec, session_id: String) -> Result<()> {
        let file = self.path();
        table::check_name(&spec.name, "name", Some(file))?;
        table::check_name(&session_id, "sessionId", Some(file))?;
        let req = request(spec, file)?;
        self.run(|t, f, _| t.register(req, session_id, f).map(|()| ((), true)))
    }

    /// Reserve a child allocation inside `spawner`'s effective write scope (`EINVAL`,
    /// `ENOTFOUND` for an owner that is not running, `EDUPLICATE`, `EUNKNOWN`, `ENOTSUBSET`,
    /// `ECONFLICT`).
    pub fn delegate(&self, spawner: &str, spec: Spec) -> Result<()> {
        table::check_name(spawner, "spawner", Some(self.path()))?;
        let req = request(spec, self.path())?;
        self.run(|t, f, _| t.delegate(spawner, req, f).map(|()| ((), true)))
    }

    /// Remove `name`, reparenting its children (`EUNKNOWN`).
    pub fn release(&self, name: &str) -> Result<()> {
        table::check_name(name, "name", Some(self.path()))?;
        self.run(|t, f, _| t.release(name, f).map(|_| ((), true)))
    }

    /// Remove `name` only if it is still the allocation a guard took (same pid and session):
    /// `false` when it is gone or has been replaced (a guard never removes someone else's).
    pub fn release_if(&self, name: &str, pid: i32, session_id: &str) -> Result<bool> {
        self.run(|t, f, _| {
            let same = t
                .find(name)
                .is_some_and(|a| a.pid == pid && a.session_id.as_deref() == Some(session_id));
            if same {
                t.release(name, f)?;
            }
            Ok((same, same))
        })
    }

    /// Remove stale allocations now; returns their names.
    pub fn reclaim_stale(&self) -> Result<Vec<String>> {
        self.run(|_, _, removed| Ok((removed, false)))
    }

    /// Give the reserved allocation `name` to `pid` (default: this process) with `session_id`
    /// (`EINVAL`, `ENOTFOUND` for a pid that is not running, `EUNKNOWN`, `EDUPLICATE` for a
    /// session id another allocation has).
    pub fn adopt(&self, name: &str, pid: Option<i32>, session_id: String) -> Result<()> {
        let file = self.path();
        table::check_name(name, "name", Some(file))?;
        table::check_name(&session_id, "sessionId", Some(file))?;
        let pid = pid_or_self(pid);
        let id = live_identity(pid, file)?;
        self.run(|t, f, _| t.adopt(name, pid, id, session_id, f).map(|()| ((), true)))
    }

    /// The allocation writing to `session_id`, if any.
    pub fn lookup_session(&self, session_id: &str) -> Result<Option<Allocation>> {
        table::check_name(session_id, "sessionId", Some(self.path()))?;
        self.run(|t, _, _| Ok((t.find_by_session(session_id).cloned(), false)))
    }

    /// Every live allocation, in registration order.
    pub fn list(&self) -> Result<Vec<Allocation>> {
        self.run(|t, _, _| Ok((t.allocations.clone(), false)))
    }

    /// `name`'s own write rules and what its children hold (`EUNKNOWN`).
    pub fn effective_write_scope(&self, name: &str) -> Result<EffectiveScope> {
        table::check_name(name, "name", Some(self.path()))?;
        self.run(|t, f, _| match t.effective_write_scope(name) {
            Some((rules, delegated)) => Ok((EffectiveScope { rules, delegated }, false)),
            None => Err(table::unknown(f, name)),
        })
    }

    /// Is `rule` inside `name`'s effective write scope (what it could delegate now)?
    pub fn within_effective_write(&self, name: &str, rule: &Rule) -> Result<bool> {
        table::check_name(name, "name", Some(self.path()))?;
        self.run(|t, f, _| match t.find(name) {
            Some(_) => Ok((t.is_within_effective_write(name, rule), false)),
            None => Err(table::unknown(f, name)),
        })
    }

    /// The allocation that owns a write scope overlapping `rule` (deepest in its delegation
    /// tree), ignoring `exempt`; `None` for read rules or when nobody does.
    pub fn conflict_owner(&self, rule: &Rule, exempt: Option<&str>) -> Result<Option<String>> {
        if let Some(e) = exempt {
            table::check_name(e, "exempt", Some(self.path()))?;
        }
        self.run(|t, _, _| Ok((t.conflict_owner(rule, exempt), false)))
    }

    /// [`Registry::register`], returning a guard that releases the allocation when asked (see
    /// [`Guard`]: dropping it does not).
    pub fn install_top_level(self: &Arc<Self>, spec: Spec, session_id: String) -> Result<Guard> {
        let (name, pid) = (spec.name.clone(), pid_or_self(spec.pid));
        self.register(spec, session_id.clone())?;
        Ok(Guard::new(self, name, pid, session_id))
    }

    /// [`Registry::adopt`], returning a guard that releases the allocation when asked (see
    /// [`Guard`]: dropping it does not).
    pub fn adopt_allocation(
        self: &Arc<Self>,
        name: &str,
        pid: Option<i32>,
        session_id: String,
    ) -> Result<Guard> {
        let pid = pid_or_self(pid);
        self.adopt(name, Some(pid), session_id.clone())?;
        Ok(Guard::new(self, name.to_string(), pid, session_id))
    }
}

/// Check a caller's spec (name, number of rules, owner running) and record the owner's identity.
fn request(spec: Spec, file: &Path) -> Result<Request> {
    table::check_name(&spec.name, "name", Some(file))?;
    table::check_rule_count(spec.scopes.len(), Some(file))?;
    let pid = pid_or_self(spec.pid);
    let (start_time, boot_id) = live_identity(pid, file)?;
    Ok(Request {
        name: spec.name,
        pid,
        start_time,
        boot_id,
        socket: spec.socket,
        scopes: spec.scopes,
    })
}

/// Releases its allocation on [`Guard::release`], and only then. It keeps only the registry
/// handle and the allocation's name, pid and session; it does not hold the file lock between
/// operations. It removes the allocation only while it is still the one it took (same pid and
/// session): after a reclaim and a new registration under the same name, the newcomer is left
/// alone.
///
/// Why dropping it does not release: in JavaScript a guard is dropped when it is
/// garbage-collected, which happens whenever the engine likes while the owner is still
/// running. A caller who did not keep the guard would lose its claim at a random moment, and
/// another process could take the scope while the owner still writes there. A dropped guard
/// leaves the allocation to its process; once that process exits, the stale-pid reclaim of the
/// next operation (of any process) frees it.
/// Test: `tests::a_dropped_guard_keeps_its_allocation`, and `__test__/scope.spec.ts` ("a guard
/// dropped without release() keeps its allocation through GC").
pub struct Guard {
    reg: Arc<Registry>,
    name: String,
    pid: i32,
    session_id: String,
    released: bool,
}

impl Guard {
    fn new(reg: &Arc<Registry>, name: String, pid: i32, session_id: String) -> Guard {
        Guard {
            reg: reg.clone(),
            name,
            pid,
            session_id,
            released: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn released(&self) -> bool {
        self.released
    }

    /// Remove the allocation. Idempotent; `Ok(false)` when it was already gone.
    pub fn release(&mut self) -> Result<bool> {
        if self.released {
            return Ok(false);
        }
        let r = self
            .reg
            .release_if(&self.name, self.pid, &self.session_id)?;
        self.released = true;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI32, Ordering};

    fn open() -> (tempfile::TempDir, Arc<Registry>) {
        let d = tempfile::tempdir().unwrap();
        let r = Registry::open(Some(d.path().join("scope.json").to_str().unwrap())).unwrap();
        (d, Arc::new(r))
    }
    fn spec(name: &str, scopes: Vec<Rule>) -> Spec {
        Spec {
            name: name.into(),
            pid: None,
            socket: None,
            scopes,
        }
    }
    fn w(p: &str) -> Rule {
        Rule::write(p, true).unwrap()
    }

    #[test]
    fn save_and_reopen_roundtrip() {
        let (d, r) = open();
        r.register(spec("a", vec![w("/src")]), "s".into()).unwrap();
        let again = Registry::open(Some(d.path().join("scope.json").to_str().unwrap())).unwrap();
        let l = again.list().unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].name, "a");
        assert_eq!(l[0].pid, std::process::id() as i32);
        assert!(l[0].start_time.is_some() && l[0].boot_id.is_some());
    }

    #[test]
    fn another_handle_sees_changes_through_the_generation() {
        let (d, r) = open();
        let p = d.path().join("scope.json");
        let r2 = Registry::open(Some(p.to_str().unwrap())).unwrap();
        r.register(spec("a", vec![w("/src")]), "s".into()).unwrap();
        assert_eq!(r2.list().unwrap().len(), 1);
        r2.release("a").unwrap();
        assert!(r.list().unwrap().is_empty());
        r.register(spec("b", vec![w("/src")]), "s".into()).unwrap();
    }

    #[test]
    fn own_writes_do_not_force_a_reread() {
        let (d, r) = open();
        r.register(spec("a", vec![w("/src")]), "s".into()).unwrap();
        // Replace the file behind the registry's back with the same bytes but keep the
        // generation: a handle that trusted a stale stamp would not notice; ours must reuse
        // its cache only when the stamp matches what it wrote.
        let c = r.cache.lock().unwrap();
        let cached = c.as_ref().unwrap();
        assert_eq!(Some(cached.stamp.unwrap()), r.store.stamp().unwrap());
        assert_eq!(cached.gen, r.store.generation().unwrap());
        drop(c);
        let _ = d;
    }

    #[test]
    fn a_stuck_holder_gives_etimedout() {
        let (_d, r) = open();
        // Another open file description holds the registry lock (as a stopped process would).
        let holder = sole_lock::LockFile::lock(
            &r.store.lock_path,
            sole_lock::Mode::Exclusive,
            &sole_lock::OpenOptions::default(),
            None,
        );
        // Same thread: the registry refuses to wait for a lock this thread holds.
        let e = r.list().unwrap_err();
        assert_eq!(e.code(), "EDEADLK");
        drop(holder);
        let path = r.store.lock_path.clone();
        let t = std::thread::spawn(move || {
            let l = sole_lock::LockFile::lock(
                &path,
                sole_lock::Mode::Exclusive,
                &sole_lock::OpenOptions::default(),
                None,
            )
            .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(l);
        });
        // Wait until the other thread holds it (the kernel says so), then time out.
        while sole_lock::LockFile::try_lock(
            &r.store.lock_path,
            sole_lock::Mode::Exclusive,
            &sole_lock::OpenOptions::default(),
        )
        .unwrap()
        .is_some()
        {
            std::thread::yield_now();
        }
        // A second handle with a short bound: its initial load already waits and times out.
        let data = r.path().to_str().unwrap().to_string();
        let e = Registry::open_with(Some(&data), Some(std::time::Duration::from_millis(20)))
            .err()
            .expect("the lock is held");
        assert_eq!(e.code(), "ETIMEDOUT");
        t.join().unwrap();
        assert!(r.list().is_ok(), "free again: the next operation proceeds");
    }

    #[test]
    fn a_dropped_guard_keeps_its_allocation() {
        let (_d, r) = open();
        let g = r
            .install_top_level(spec("a", vec![w("/src")]), "s".into())
            .unwrap();
        drop(g);
        r.delegate("a", spec("child", vec![w("/src/c")])).unwrap();
        drop(r.adopt_allocation("child", None, "cs".into()).unwrap());
        let names: Vec<_> = r.list().unwrap().into_iter().map(|a| a.name).collect();
        assert_eq!(
            names,
            ["a", "child"],
            "still owned by this (running) process"
        );
        // Released when asked.
        let mut g = Guard::new(&r, "child".into(), std::process::id() as i32, "cs".into());
        assert!(g.release().unwrap());
    }

    /// A child process that is running until `kill_and_reap`.
    fn sleeper() -> std::process::Child {
        std::process::Command::new("sleep")
            .arg("300")
            .spawn()
            .unwrap()
    }
    fn kill_and_reap(mut c: std::process::Child) {
        c.kill().unwrap();
        c.wait().unwrap();
    }

    #[test]
    fn an_owner_that_is_not_running_is_refused() {
        let (d, r) = open();
        r.register(spec("p", vec![w("/src")]), "ps".into()).unwrap();
        r.delegate("p", spec("kid", vec![w("/src/k")])).unwrap();
        let c = sleeper();
        let dead = c.id() as i32;
        kill_and_reap(c);
        let before = std::fs::read(d.path().join("scope.json")).unwrap();
        let with = |name: &str, rules| Spec {
            pid: Some(dead),
            ..spec(name, rules)
        };
        let errs = [
            r.register(with("x", vec![w("/x")]), "x".into())
                .unwrap_err(),
            r.delegate("p", with("y", vec![w("/src/y")])).unwrap_err(),
            r.adopt("kid", Some(dead), "k".into()).unwrap_err(),
            r.install_top_level(with("x", vec![w("/x")]), "x".into())
                .err()
                .unwrap(),
        ];
        for e in errs {
            assert_eq!(e.code(), "ENOTFOUND", "{}", e.message());
            assert_eq!(e.pid(), Some(dead));
            assert!(e.message().contains(&dead.to_string()));
        }
        assert_eq!(std::fs::read(d.path().join("scope.json")).unwrap(), before);
    }

    #[test]
    fn a_session_id_in_use_is_refused() {
        let (_d, r) = open();
        r.register(spec("a", vec![w("/a")]), "s".into()).unwrap();
        r.delegate("a", spec("kid", vec![w("/a/k")])).unwrap();
        for e in [
            r.register(spec("b", vec![w("/b")]), "s".into())
                .unwrap_err(),
            r.adopt("kid", None, "s".into()).unwrap_err(),
        ] {
            assert_eq!(e.code(), "EDUPLICATE");
            assert!(e.message().contains("session id \"s\""), "{}", e.message());
            assert!(e.details().contains(&("allocation", "a".into())));
            assert!(e.details().contains(&("sessionId", "s".into())));
        }
        // Its own session again is not a duplicate.
        r.adopt("kid", None, "k".into()).unwrap();
        r.adopt("kid", None, "k".into()).unwrap();
    }

    #[test]
    fn bad_names_are_einval_naming_the_argument() {
        let (_d, r) = open();
        let long = "n".repeat(table::MAX_NAME_BYTES + 1);
        for (bad, arg) in [("", "name"), ("a\0b", "name"), (long.as_str(), "name")] {
            let e = r
                .register(spec(bad, vec![w("/x")]), "s".into())
                .unwrap_err();
            assert_eq!(e.code(), "EINVAL");
            assert_eq!(e.details()[0], ("argument", arg.into()));
            assert!(e.message().len() < 1000);
            assert_eq!(r.release(bad).unwrap_err().code(), "EINVAL");
        }
        let e = r
            .register(spec("a", vec![w("/x")]), String::new())
            .unwrap_err();
        assert_eq!(e.details()[0], ("argument", "sessionId".into()));
        let many = (0..=table::MAX_RULES)
            .map(|i| w(&format!("/m/{i}")))
            .collect();
        let e = r.register(spec("a", many), "s".into()).unwrap_err();
        assert_eq!(e.details()[0], ("argument", "scopes".into()));
        assert!(r.list().unwrap().is_empty());
    }

    #[test]
    fn adopt_allocation_rewrites_pid_and_releases_when_asked() {
        let (_d, r) = open();
        r.register(spec("p", vec![w("/src")]), "ps".into()).unwrap();
        r.delegate("p", spec("child", vec![w("/src/c")])).unwrap();
        let mut g = r.adopt_allocation("child", None, "cs".into()).unwrap();
        let c = r.lookup_session("cs").unwrap().unwrap();
        assert_eq!(c.name, "child");
        g.release().unwrap();
        assert!(r.lookup_session("cs").unwrap().is_none());
        assert_eq!(
            r.adopt_allocation("ghost", None, "x".into())
                .err()
                .unwrap()
                .code(),
            "EUNKNOWN"
        );
    }

    #[test]
    fn guard_does_not_remove_a_newcomer_with_the_same_name() {
        let (_d, r) = open();
        let mut g = r
            .install_top_level(spec("a", vec![w("/src")]), "s1".into())
            .unwrap();
        r.release("a").unwrap();
        r.register(spec("a", vec![w("/src")]), "s2".into()).unwrap();
        assert!(!g.release().unwrap());
        assert_eq!(r.list().unwrap()[0].session_id.as_deref(), Some("s2"));
    }

    #[test]
    fn every_operation_reclaims_with_the_probe_and_saves() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("scope.json");
        static DEAD: AtomicI32 = AtomicI32::new(0);
        let r = Registry::open(Some(p.to_str().unwrap()))
            .unwrap()
            .with_liveness(|a| a.pid != DEAD.load(Ordering::SeqCst));
        // b's owner runs throughout: only the probe calls it dead.
        let owner = sleeper();
        let b_pid = owner.id() as i32;
        r.register(spec("a", vec![w("/src")]), "s".into()).unwrap();
        r.delegate(
            "a",
            Spec {
                pid: Some(b_pid),
                ..spec("b", vec![w("/src/core")])
            },
        )
        .unwrap();
        r.delegate("b", spec("d", vec![w("/src/core/x")])).unwrap();
        DEAD.store(b_pid, Ordering::SeqCst);
        assert!(r.lookup_session("nope").unwrap().is_none());
        // Saved: a fresh handle with the real probe (to which b's owner is alive) sees b gone
        // and d under a.
        let fresh = Registry::open(Some(p.to_str().unwrap())).unwrap();
        let l = fresh.list().unwrap();
        assert_eq!(
            l.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
            ["a", "d"]
        );
        assert_eq!(l[1].delegated_from.as_deref(), Some("a"));
        assert!(r.reclaim_stale().unwrap().is_empty());
        kill_and_reap(owner);
    }

    #[test]
    fn real_probe_reclaims_a_dead_child_process() {
        let (_d, r) = open();
        let child = sleeper();
        let pid = child.id() as i32;
        r.register(spec("me", vec![w("/me")]), "s".into()).unwrap();
        r.register(
            Spec {
                pid: Some(pid),
                ..spec("gone", vec![w("/gone")])
            },
            "g".into(),
        )
        .unwrap();
        kill_and_reap(child);
        assert_eq!(r.reclaim_stale().unwrap(), vec!["gone".to_string()]);
        assert_eq!(r.list().unwrap().len(), 1);
    }

    #[test]
    fn corrupt_file_is_refused_and_left_unchanged_until_repair() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("scope.json");
        std::fs::write(&p, b"{\"version\":1,\"allocations\":[").unwrap();
        let e = Registry::open(Some(p.to_str().unwrap())).err().unwrap();
        assert_eq!(e.code(), "ECORRUPT");
        assert_eq!(
            std::fs::read(&p).unwrap(),
            b"{\"version\":1,\"allocations\":["
        );
        let aside = Registry::repair(p.to_str().unwrap()).unwrap().unwrap();
        assert!(aside.to_str().unwrap().contains("scope.json.corrupt-"));
        let r = Registry::open(Some(p.to_str().unwrap())).unwrap();
        assert!(r.list().unwrap().is_empty());
        assert_eq!(Registry::repair(p.to_str().unwrap()).unwrap(), None);
    }

    #[test]
    fn corrupt_after_open_is_reported_by_the_next_operation() {
        let (d, r) = open();
        r.register(spec("a", vec![w("/src")]), "s".into()).unwrap();
        std::fs::write(d.path().join("scope.json"), b"garbage").unwrap();
        assert_eq!(r.list().unwrap_err().code(), "ECORRUPT");
        assert_eq!(
            r.register(spec("b", vec![w("/b")]), "s".into())
                .unwrap_err()
                .code(),
            "ECORRUPT"
        );
        assert_eq!(
            std::fs::read(d.path().join("scope.json")).unwrap(),
            b"garbage"
        );
    }
}
