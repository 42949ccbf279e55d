//! Where the table lives and how it is read and replaced: the only module that touches files.
//!
//! Why this module exists: a table truncated and rewritten in place under a flock on the same
//! file is torn by a crash between truncate and write: the next process finds an empty or
//! half-written table, which it either cannot parse ever again or reads as "no allocations".
//! Renaming a new file over the flocked one fixes the tear but breaks the mutual exclusion (the
//! lock stays on the old inode). So:
//!
//! - **One lock, never renamed or unlinked**: `<data>.lock` beside the data file. Every
//!   operation takes an exclusive `flock` on it for its whole read-modify-write.
//! - **Atomic replacement**: the new table goes to `<data>.tmp` (created `O_EXCL`, 0600), is
//!   `fsync`ed, renamed over the data file, and the directory is `fsync`ed. A SIGKILL at any
//!   instant leaves the old table or the new one; a leftover `.tmp` is removed by the next
//!   writer and never read.
//! - **Corrupt is not empty**: a file that does not parse as a table this code
//!   wrote is `ECORRUPT`, never overwritten; [`Store::repair`] moves it aside only when asked. An
//!   absent or all-whitespace file is the empty table (a first run, or a crash before the first
//!   rename).
//! - **Hostile paths**: the directory is opened once and every file is reached with `openat`
//!   relative to that fd, `O_NOFOLLOW|O_CLOEXEC`; a symlinked data or lock file is `ESYMLINK`,
//!   a file owned by another user or writable by group/others is `EINSECURE`, a directory
//!   writable by group or others or owned by another (non-root) user is `EINSECURE` (the same
//!   rule for a path the caller names as for sole's default directory: whoever can write the
//!   directory can swap the table). Refusals happen before anything is written, so the files
//!   stay byte-for-byte as they were.
//! - **A directory is not a data file**: a data path that is itself a directory is `ENOTREG`
//!   saying so, decided before the parent is looked at (a directory in `/tmp` is not reported
//!   as `/tmp`'s permissions).
//! - **No reread when nothing changed** (rereading and rewriting the whole file on every
//!   operation dominated its cost): the lock file holds a generation counter (8 bytes) that a writer bumps before
//!   its rename. A reader that finds the generation and the data file's inode, size, mtime and
//!   ctime as it last saw them reuses its parsed table. Bumping *before* the rename is what makes
//!   this crash-safe: a writer killed in between only costs others a needless reread.
//!   Operations that change nothing (lookups, a reclaim that finds nobody dead) write nothing.
//!
//! Split: [`path`] (where the registry lives), [`checks`] (ownership and permission rules),
//! [`fs`] (the registry's directory and error wording); every system call is made through
//! `sole_lock::fs`, sole's one fs-helper module. This file is the store itself.
//! Test: `tests::*` below; `__test__/scope.spec.ts` (storage guarantees, hostile inputs),
//! `__test__/scope-procs.spec.ts` (crash injection).

pub mod checks;
pub mod fs;
pub mod path;

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use sole_error::{Error, Kind, Result};
use sole_lock::fs::{self as sfs, FileStat, Flags, FILE_MODE};

use crate::table::{Codec, Table};
use checks::{check_file, DirPolicy};
use fs::{open_dir, open_error, symlink_error};

/// The data file's identity as seen by `fstat`; any write through rename changes it.
/// Test: `crate::registry::tests::own_writes_do_not_force_a_reread`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: i64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(st: &FileStat) -> Stamp {
        Stamp {
            dev: st.dev,
            ino: st.ino,
            size: st.size,
            mtime: st.mtime,
            ctime: st.ctime,
        }
    }
}

/// An opened registry location: the directory fd, the lock file, and the file names.
/// Test: `tests::open_creates_dir_0700_and_lock_0600_not_data`.
#[derive(Debug)]
pub struct Store {
    pub data_path: PathBuf,
    pub lock_path: PathBuf,
    dir: OwnedFd,
    lock: std::sync::Arc<File>,
    /// How long [`Store::lock`] waits for another process's operation (`None`: forever).
    pub lock_timeout: Option<std::time::Duration>,
    data_name: OsString,
    tmp_name: OsString,
}

impl Store {
    /// `EREMOTEFS` when the registry's lock file is on a network filesystem and the caller did
    /// not allow that (`sole_lock::fstype`). Test: `__test__/integrity.spec.ts`.
    pub fn check_filesystem(&self, allow_network_fs: bool) -> Result<()> {
        sole_lock::fstype::check(self.lock.as_ref(), &self.lock_path, allow_network_fs)
    }

    /// Open the directory (creating it 0700 if missing) and the lock file (0600), checking both.
    /// The data file is not created here; an existing one is checked before anything is
    /// created, so a refused location is left as it was.
    /// Test: `tests::open_creates_dir_0700_and_lock_0600_not_data`.
    pub fn open(data_path: &Path, policy: DirPolicy) -> Result<Store> {
        path::refuse_directory(data_path)?;
        let (dir_path, name) = path::split(data_path)?;
        let dir = open_dir(&dir_path, policy)?;
        let data_name = name.to_os_string();
        let mut lock_name = name.to_os_string();
        lock_name.push(".lock");
        let mut tmp_name = name.to_os_string();
        tmp_name.push(".tmp");
        let lock_path = dir_path.join(&lock_name);
        // Check an existing data file first: nothing is created next to a hostile one.
        match sfs::statat_nofollow(&dir, &data_name) {
            Ok(Some(st)) if st.is_symlink() => return Err(symlink_error(data_path)),
            Ok(Some(st)) => check_file(&st, data_path)?,
            Ok(None) => {}
            Err(e) => return Err(Error::os(e, "stat registry data file", data_path)),
        }
        let flags = Flags::RDWR | Flags::CREATE | Flags::NONBLOCK;
        let lock = sfs::openat(&dir, &lock_name, flags, FILE_MODE)
            .map_err(|e| open_error(e, "open registry lock file", &lock_path))?;
        let st = sfs::fstat(&lock).map_err(|e| Error::os(e, "stat lock file", &lock_path))?;
        check_file(&st, &lock_path)?;
        Ok(Store {
            data_path: data_path.to_path_buf(),
            lock_path,
            dir,
            lock: std::sync::Arc::new(lock),
            lock_timeout: Some(DEFAULT_LOCK_TIMEOUT),
            data_name,
            tmp_name,
        })
    }

    /// Take the exclusive flock on the lock file, waiting on the calling thread; released when
    /// the returned value is dropped (explicit `LOCK_UN`). Registry operations hold it for
    /// microseconds to a few milliseconds, so waits are short.
    /// Test: `crate::registry::tests::a_stuck_holder_gives_etimedout`.
    pub fn lock(&self) -> Result<Locked<'_>> {
        // The wait is bounded: operations hold the lock for milliseconds, so a holder that keeps
        // it for `lock_timeout` is stopped (SIGSTOP), stuck or hostile, and the caller gets
        // ETIMEDOUT naming it instead of a frozen event loop. The wait runs on sole_lock's
        // cancellable waiter; EDEADLK if this thread already holds it.
        let opened = sole_lock::open::Opened::from_file(self.lock.clone(), &self.lock_path)?;
        let lock = sole_lock::Lock::lock_on(
            opened,
            &self.lock_path,
            sole_lock::Mode::Exclusive,
            self.lock_timeout,
        )?;
        // A lock file deleted, renamed or replaced since the registry was opened (a cleaner in
        // /tmp): a process that opens the registry now locks a new file, so this lock no longer
        // keeps it out. `ELOST` instead of an operation that another process may interleave
        // with (the lock is released on the way out). Test: `__test__/lost.spec.ts` (registry).
        sole_lock::lost::check(&self.lock, &self.lock_path)?;
        Ok(Locked {
            _store: self,
            _lock: lock,
        })
    }

    /// The generation counter in the lock file (0 when the file is new).
    /// Test: `tests::open_creates_dir_0700_and_lock_0600_not_data`.
    pub fn generation(&self) -> Result<u64> {
        let mut b = [0u8; 8];
        let n = self
            .lock
            .read_at(&mut b, 0)
            .map_err(|e| Error::os(e, "read lock file", &self.lock_path))?;
        Ok(if n == 8 { u64::from_le_bytes(b) } else { 0 })
    }

    fn bump_generation(&self) -> Result<u64> {
        let g = self.generation()?.wrapping_add(1);
        self.lock
            .write_all_at(&g.to_le_bytes(), 0)
            .map_err(|e| Error::os(e, "write lock file", &self.lock_path))?;
        Ok(g)
    }

    /// The data file's current stamp (`None`: absent), refusing a symlink.
    /// Test: `crate::registry::tests::own_writes_do_not_force_a_reread`.
    pub fn stamp(&self) -> Result<Option<Stamp>> {
        match sfs::statat_nofollow(&self.dir, &self.data_name) {
            Ok(Some(st)) if st.is_symlink() => Err(symlink_error(&self.data_path)),
            Ok(st) => Ok(st.as_ref().map(Stamp::of)),
            Err(e) => Err(Error::os(e, "stat registry data file", &self.data_path)),
        }
    }

    /// Read and parse the data file with `codec`: absent = empty table. Returns the table and
    /// the stamp of the file it was read from.
    /// Test: `tests::repair_moves_only_corrupt_files`.
    pub fn read(&self, codec: &mut Codec) -> Result<(Table, Option<Stamp>)> {
        let flags = Flags::RDONLY | Flags::NONBLOCK;
        let mut f = match sfs::openat(&self.dir, &self.data_name, flags, 0) {
            Ok(f) => f,
            Err(e) if sfs::errno(&e) == Some(Errno::NOENT) => return Ok((Table::new(), None)),
            Err(e) => return Err(open_error(e, "open registry data file", &self.data_path)),
        };
        let st =
            sfs::fstat(&f).map_err(|e| Error::os(e, "stat registry data file", &self.data_path))?;
        check_file(&st, &self.data_path)?;
        let mut buf = Vec::with_capacity(usize::try_from(st.size).unwrap_or(0) + 1);
        f.read_to_end(&mut buf)
            .map_err(|e| Error::os(e, "read registry data file", &self.data_path))?;
        Ok((codec.decode(&buf, &self.data_path)?, Some(Stamp::of(&st))))
    }

    /// Replace the table atomically (see the module doc), serialised by `codec`. Returns the
    /// new stamp and generation. Must be called with the lock held.
    /// Test: `tests::open_creates_dir_0700_and_lock_0600_not_data`.
    pub fn write(
        &self,
        _locked: &Locked<'_>,
        table: &Table,
        codec: &mut Codec,
    ) -> Result<(Stamp, u64)> {
        let bytes = codec.encode(table);
        self.write_temp(&bytes)?;
        // Bump the generation before the rename: a crash in between only costs a reread.
        let gen = self.bump_generation()?;
        let p = &self.data_path;
        sfs::rename_at(&self.dir, &self.tmp_name, &self.data_name, false)
            .map_err(|e| Error::os(e, "rename new table over", p))?;
        self.sync_dir()?;
        // Stamp after the rename: rename changes the inode's ctime.
        let stamp = self
            .stamp()?
            .ok_or_else(|| Error::os(Errno::NOENT.into(), "stat new table", p))?;
        Ok((stamp, gen))
    }

    /// Write `bytes` to a fresh `<data>.tmp` (0600, `O_EXCL`) and `fdatasync` it. A crashed
    /// writer's temp file is removed first (it is never read).
    fn write_temp(&self, bytes: &[u8]) -> Result<()> {
        let p = &self.data_path;
        // Absent is the usual case; any other failure shows up as EEXIST just below.
        let _ = sfs::unlink_at(&self.dir, &self.tmp_name);
        let flags = Flags::WRONLY | Flags::CREATE | Flags::EXCL;
        let mut tmp = sfs::openat(&self.dir, &self.tmp_name, flags, FILE_MODE)
            .map_err(|e| Error::os(e, "create temporary registry file beside", p))?;
        tmp.write_all(bytes)
            .map_err(|e| Error::os(e, "write temporary registry file beside", p))?;
        // fdatasync: the data and the size that reads need; the rest of the inode's metadata
        // (times) is not worth a journal commit.
        tmp.sync_data()
            .map_err(|e| Error::os(e, "fsync temporary registry file beside", p))
    }

    fn sync_dir(&self) -> Result<()> {
        sfs::sync(&self.dir).map_err(|e| Error::os(e, "fsync the directory of", &self.data_path))
    }

    /// Move a corrupt data file aside as `<name>.corrupt-<unix ms>-<pid>` (never replacing an
    /// existing file) and return the new path; `None` when there is nothing to repair (absent,
    /// or a valid table). Other refusals (symlink, wrong owner) are returned as errors.
    /// Test: `tests::repair_moves_only_corrupt_files`.
    pub fn repair(&self, _locked: &Locked<'_>) -> Result<Option<PathBuf>> {
        match self.read(&mut Codec::default()) {
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == Kind::Corrupt => {}
            Err(e) => return Err(e),
        }
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let mut aside = self
            .data_path
            .file_name()
            .expect("checked at open")
            .to_os_string();
        aside.push(format!(".corrupt-{ms}-{}", std::process::id()));
        let aside_path = self.data_path.with_file_name(&aside);
        self.bump_generation()?;
        sfs::rename_at(&self.dir, &self.data_name, &aside, true)
            .map_err(|e| Error::os(e, "move corrupt registry aside:", &self.data_path))?;
        self.sync_dir()?;
        Ok(Some(aside_path))
    }
}

/// Proof that the store's lock is held; unlocks on drop.
/// Test: `tests::repair_moves_only_corrupt_files`.
pub struct Locked<'a> {
    _store: &'a Store,
    /// Released (explicit `LOCK_UN`) when the operation's guard is dropped.
    _lock: sole_lock::Lock,
}

/// Default bound on the wait for the registry lock.
/// Test: `crate::registry::tests::a_stuck_holder_gives_etimedout`.
pub const DEFAULT_LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("reg/scope.json");
        (d, p)
    }

    #[test]
    fn open_creates_dir_0700_and_lock_0600_not_data() {
        let (_d, p) = dir();
        let s = Store::open(&p, DirPolicy::Given).unwrap();
        let mode = |q: &Path| std::fs::metadata(q).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(p.parent().unwrap()), 0o700);
        assert_eq!(mode(&s.lock_path), 0o600);
        assert!(!p.exists());
        let l = s.lock().unwrap();
        assert_eq!(s.read(&mut Codec::default()).unwrap().0, Table::new());
        s.write(&l, &Table::new(), &mut Codec::default()).unwrap();
        assert_eq!(mode(&p), 0o600);
        assert_eq!(s.generation().unwrap(), 1);
    }

    #[test]
    fn refuses_symlinks_and_world_writable_dirs() {
        let (d, p) = dir();
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let target = d.path().join("precious");
        std::fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, &p).unwrap();
        assert_eq!(
            Store::open(&p, DirPolicy::Given).unwrap_err().code(),
            "ESYMLINK"
        );
        std::fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink(&target, p.with_file_name("scope.json.lock")).unwrap();
        assert_eq!(
            Store::open(&p, DirPolicy::Given).unwrap_err().code(),
            "ESYMLINK"
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        for mode in [0o777, 0o770, 0o730, 0o1777] {
            let open_dir = d.path().join(format!("open-{mode:o}"));
            std::fs::create_dir(&open_dir).unwrap();
            std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = Store::open(&open_dir.join("scope.json"), DirPolicy::Given).unwrap_err();
            assert_eq!(e.code(), "EINSECURE", "{mode:o}");
            assert!(e.message().contains("group or others"), "{}", e.message());
            assert!(!open_dir.join("scope.json.lock").exists());
        }
    }

    #[test]
    fn repair_moves_only_corrupt_files() {
        let (_d, p) = dir();
        let s = Store::open(&p, DirPolicy::Given).unwrap();
        let l = s.lock().unwrap();
        assert_eq!(s.repair(&l).unwrap(), None);
        std::fs::write(&p, "{not json").unwrap();
        assert_eq!(
            s.read(&mut Codec::default()).unwrap_err().code(),
            "ECORRUPT"
        );
        let aside = s.repair(&l).unwrap().unwrap();
        assert_eq!(std::fs::read_to_string(&aside).unwrap(), "{not json");
        assert!(!p.exists());
        assert_eq!(s.read(&mut Codec::default()).unwrap().0, Table::new());
    }
}
