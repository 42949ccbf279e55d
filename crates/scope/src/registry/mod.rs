//! An opened registry, and the one cycle every operation runs: lock, load, reclaim, operate,
//! save.
//!
//! Why one cycle for every operation: the table is shared by every process on the machine, so
//! each operation must see the latest table and leave a complete one. Holding the registry's
//! exclusive `flock` ([`crate::store`]) for the whole read-modify-write means two processes
//! never interleave their cycles; reclaiming stale allocations first means a crashed owner is
//! cleaned up by the next operation of *any* process; saving only when something changed keeps
//! lookups free of writes. A failed save is an error, never swallowed, and forgets the cached
//! table (the file still holds the old one).
//!
//! Why a cached table: rereading and reparsing a 10,000-allocation table on every operation
//! dominated its cost. The table (with its [`Codec`], which remembers each allocation's JSON) is
//! reused while the generation in the lock file and the data file's stamp are what this handle
//! last saw; any other writer changes both.
//! Test: `tests::*` (in `tests.rs`); `__test__/scope*.spec.ts`.

pub(crate) mod ops;
pub mod snapshot;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Mutex;

use sole_error::Result;

use crate::store::checks::DirPolicy;
use crate::store::path;
use crate::store::{self, Stamp, Store};
use crate::table::{Allocation, Codec, SystemLiveness, Table};

/// The table this handle last read or wrote, with what identified the file then.
struct Cached {
    gen: u64,
    stamp: Option<Stamp>,
    table: Table,
    codec: Codec,
}

type Probe = Box<dyn Fn(&Allocation) -> bool + Send + Sync>;

/// An opened registry. Cheap to keep; holds the directory and lock-file descriptors (never the
/// lock itself between operations) and the last table it read.
/// Test: `tests::save_and_reopen_roundtrip`.
pub struct Registry {
    store: Store,
    cache: Mutex<Option<Cached>>,
    probe: Option<Probe>,
    /// How many times this handle read the data file (tests: a cache hit reads nothing).
    #[cfg(test)]
    loads: std::sync::atomic::AtomicU64,
}

impl Registry {
    /// Open the registry at `path`, or at [`path::default_path`]. Loads the table once, so a
    /// corrupt or hostile file is reported here rather than at the first operation.
    pub fn open(path: Option<&str>) -> Result<Registry> {
        Registry::open_with(path, Some(store::DEFAULT_LOCK_TIMEOUT), false)
    }

    /// [`Registry::open`] with a bound on every wait for the registry lock (the first one is
    /// the initial load); `None` waits forever. Past it, `ETIMEDOUT` names the holder. A
    /// registry on a network filesystem is `EREMOTEFS` unless `allow_network_fs`
    /// (`sole_lock::fstype`): its flock would not keep two writers apart.
    /// Test: `tests::a_stuck_holder_gives_etimedout`, `__test__/scope.spec.ts`,
    /// `__test__/integrity.spec.ts`.
    pub fn open_with(
        path: Option<&str>,
        lock_timeout: Option<std::time::Duration>,
        allow_network_fs: bool,
    ) -> Result<Registry> {
        let (p, policy) = path::locate(path)?;
        let mut store = Store::open(&p, policy)?;
        store.check_filesystem(allow_network_fs)?;
        store.lock_timeout = lock_timeout;
        let r = Registry {
            store,
            cache: Mutex::new(None),
            probe: None,
            #[cfg(test)]
            loads: Default::default(),
        };
        r.list()?;
        Ok(r)
    }

    /// The bound on each wait for the lock of the registry `file`, from a caller's `timeoutMs`
    /// (`None`: [`store::DEFAULT_LOCK_TIMEOUT`]); any number of milliseconds from 0 to
    /// `Number.MAX_SAFE_INTEGER`, through the one conversion `sole_error::timeout::from_ms`.
    /// Test: `__test__/scope-args.spec.ts` (every wrong `timeoutMs` is `EINVAL` naming it).
    pub fn lock_timeout(ms: Option<f64>, file: &Path) -> Result<std::time::Duration> {
        match ms {
            None => Ok(store::DEFAULT_LOCK_TIMEOUT),
            Some(ms) => sole_error::timeout::from_ms(
                ms,
                &format!("the lock of the scope registry {}", file.display()),
            ),
        }
    }

    /// `EBADF` for an operation on the registry `file` after it was closed.
    /// Test: `__test__/scope-args.spec.ts` ("after close").
    pub fn closed(file: &Path) -> sole_error::Error {
        sole_error::Error::new(
            sole_error::Kind::Os(rustix::io::Errno::BADF.raw_os_error()),
            format!(
                "the scope registry {} is closed: open it again with ScopeRegistry.open().",
                file.display()
            ),
        )
        .with_path(file)
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
        let p = path::resolve(path)?;
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
        let c = self.load(&mut cache)?;
        let removed = match self.reclaim(&mut c.table) {
            Ok(removed) => removed,
            Err(e) => {
                // The reclaim already removed, in the cached table, what it judged stale, and
                // nothing was written: drop the cache so the next operation reads the file.
                *cache = None;
                return Err(e);
            }
        };
        let reclaimed = !removed.is_empty();
        let result = op(&mut c.table, &self.store.data_path, removed);
        if reclaimed || matches!(result, Ok((_, true))) {
            match self.store.write(&locked, &c.table, &mut c.codec) {
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

    /// The current table (the lock is held): the cached one when the generation and the data
    /// file's stamp are unchanged, else read from the file.
    fn load<'c>(&self, cache: &'c mut Option<Cached>) -> Result<&'c mut Cached> {
        let gen = self.store.generation()?;
        let stamp = self.store.stamp()?;
        if !matches!(cache, Some(c) if c.gen == gen && c.stamp == stamp) {
            *cache = None;
            #[cfg(test)]
            self.loads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut codec = Codec::default();
            let (table, stamp) = self.store.read(&mut codec)?;
            *cache = Some(Cached {
                gen,
                stamp,
                table,
                codec,
            });
        }
        Ok(cache.as_mut().expect("loaded above"))
    }

    /// Remove stale allocations with the test probe, or the real one; their names. An
    /// allocation the real probe could not judge (out of descriptors) fails the operation
    /// before anything is written: a live owner's allocation is never reclaimed on a guess.
    fn reclaim(&self, table: &mut Table) -> Result<Vec<String>> {
        match &self.probe {
            Some(p) => Ok(table.reclaim_stale_with(&mut |a: &Allocation| p(a))),
            None => {
                let mut probe = SystemLiveness::default();
                let removed = table.reclaim_stale_with(&mut probe);
                match probe.take_error() {
                    Some(e) => Err(e.with_path(&self.store.data_path)),
                    None => Ok(removed),
                }
            }
        }
    }
}
