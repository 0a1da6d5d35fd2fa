//! The per-user build cache: where it is, cache keys, lock files and atomic installs.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::path::Path;

/// Lower-case hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A cache key: the sha256 of the parts, each followed by a NUL.
pub fn key(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    h.update(b"polyplug source cache v1\0");
    for p in parts {
        h.update(p);
        h.update([0]);
    }
    hex(&h.finalize())
}

/// Creates a folder and its parents, with an error naming it and `variable`, the
/// environment variable that moves the cache.
pub fn create_dir(dir: &Path, variable: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "cannot create the cache folder {}: {e}; set {variable} to a writable folder",
            dir.display()
        )
    })
}

/// A fresh temporary folder inside `dir` (removed when dropped), on the same file
/// system as the cache so that a rename out of it is atomic.
pub fn temp_dir(dir: &Path) -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(dir)
        .map_err(|e| format!("cannot create a temporary folder in {}: {e}", dir.display()))
}

/// An exclusive lock on a lock file, held until dropped. Two processes building the
/// same cache entry take turns: the second finds the first one's result.
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Waits for and takes the lock at `path` (created if missing).
    pub fn acquire(path: &Path) -> Result<Lock, String> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| format!("cannot open the lock file {}: {e}", path.display()))?;
        #[cfg(unix)]
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
        Ok(Lock { _file: file })
    }
}

/// Moves the finished file `from` to `to` in one atomic step: readers see the old file
/// or the new one, never a half-written one.
pub fn install(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::rename(from, to)
        .map_err(|e| format!("cannot move {} to {}: {e}", from.display(), to.display()))
}
