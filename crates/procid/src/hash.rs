//! SHA-256 of the executable a process runs, cached by file identity.
//!
//! Why: "is it still the program I started" needs more than a path (a binary can be replaced
//! in place by an upgrade), and hashing a 100 MB binary on every check costs a tenth of a
//! second. The hash is computed from `/proc/PID/exe` opened *relative to the process's own
//! `/proc/PID` directory fd* (see `identity`), so it is the bytes that process runs even when
//! the file on disk was deleted or replaced, and never another process's binary after pid
//! reuse. It is cached by `(device, inode, size, mtime)` of the opened file: a rewrite in place
//! changes size or mtime, a replacement changes the inode, so a cache hit is the same bytes.
//! Test: `tests::hash_is_cached_by_file_identity`; `__test__/procid.spec.ts` (EEXEHASH).

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// Cache key: the identity of the file's current contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

/// At most this many binaries are remembered; beyond it the cache starts over (a process
/// checks a handful of distinct binaries, not thousands).
const CACHE_MAX: usize = 256;

static CACHE: Mutex<Option<HashMap<Key, String>>> = Mutex::new(None);

/// How many times a file was actually hashed (for tests and the benchmark).
static HASHED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Number of full hashes computed so far in this process.
pub fn hash_count() -> u64 {
    HASHED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Lowercase hex SHA-256 of an open file, from the cache when its identity is unchanged.
pub fn sha256_of(file: &mut File) -> std::io::Result<String> {
    let m = file.metadata()?;
    let key = Key {
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime: m.mtime(),
        mtime_nsec: m.mtime_nsec(),
    };
    if let Some(h) = CACHE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(|c| c.get(&key))
    {
        return Ok(h.clone());
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    HASHED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut guard = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let cache = guard.get_or_insert_with(HashMap::new);
    if cache.len() >= CACHE_MAX {
        cache.clear();
    }
    cache.insert(key, hex.clone());
    Ok(hex)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn hash_is_cached_by_file_identity() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("bin");
        std::fs::write(&p, b"abc").unwrap();
        let before = hash_count();
        let h1 = sha256_of(&mut File::open(&p).unwrap()).unwrap();
        assert_eq!(
            h1,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let h2 = sha256_of(&mut File::open(&p).unwrap()).unwrap();
        assert_eq!(h1, h2);
        assert_eq!(hash_count() - before, 1, "second hash came from the cache");
        // Rewriting in place changes size: hashed again, new value.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"d")
            .unwrap();
        let h3 = sha256_of(&mut File::open(&p).unwrap()).unwrap();
        assert_ne!(h3, h1);
        assert_eq!(hash_count() - before, 2);
    }
}
