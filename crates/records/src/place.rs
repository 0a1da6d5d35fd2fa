//! Where a data file's index is: next to the data (`<file>.fai`, `<file>.ppi`) when
//! that folder is writable, else in the cache folder under a name made from the
//! file's canonical path. Indexes are written to a temporary file in the folder they
//! go to and renamed into place, so that processes building at once never read a
//! half-written index (the last rename wins, and every one is complete).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use xxhash_rust::xxh3::xxh3_64;

/// The index of `data` with extension `ext` next to it: `<data>.<ext>`.
pub(crate) fn beside(data: &Path, ext: &str) -> PathBuf {
    let mut name = OsString::from(data.as_os_str());
    name.push(".");
    name.push(ext);
    PathBuf::from(name)
}

/// The index of `data` with extension `ext` in the cache folder:
/// `<cache_dir>/records/<XXH3-64 of its canonical path, hex>-<file name>.<ext>`.
pub(crate) fn in_cache(cache_dir: &Path, data: &Path, ext: &str) -> PathBuf {
    let canonical = fs::canonicalize(data).unwrap_or_else(|_| data.to_path_buf());
    let hash = xxh3_64(canonical.as_os_str().as_encoded_bytes());
    let file_name = data
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    cache_dir
        .join("records")
        .join(format!("{hash:016x}-{file_name}.{ext}"))
}

/// The folder of `path` (`.` for a bare file name).
pub(crate) fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// An index being written: a temporary file next to where it goes, removed unless
/// [`TempIndex::commit`] renames it into place.
#[derive(Debug)]
pub(crate) struct TempIndex {
    temp: PathBuf,
    dest: PathBuf,
    done: bool,
}

impl TempIndex {
    /// Creates a temporary file for the index `dest` in `dest`'s folder.
    pub(crate) fn create(dest: &Path) -> io::Result<(TempIndex, File)> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let folder = folder_of(dest);
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = folder.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&temp)?;
        Ok((
            TempIndex {
                temp,
                dest: dest.to_path_buf(),
                done: false,
            },
            file,
        ))
    }

    /// Where the index goes.
    pub(crate) fn dest(&self) -> &Path {
        &self.dest
    }

    /// Renames the index into place.
    pub(crate) fn commit(mut self) -> io::Result<PathBuf> {
        fs::rename(&self.temp, &self.dest)?;
        self.done = true;
        Ok(self.dest.clone())
    }
}

impl Drop for TempIndex {
    fn drop(&mut self) {
        if !self.done {
            // Best effort: a leftover temporary file is harmless, only untidy.
            let _ = fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_next_to_the_data_and_in_the_cache() {
        assert_eq!(
            beside(Path::new("d/x.fa"), "fai"),
            PathBuf::from("d/x.fa.fai")
        );
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("x.fa");
        fs::write(&data, b">a\nA\n").unwrap();
        let cached = in_cache(Path::new("/c"), &data, "ppi");
        let name = cached.file_name().unwrap().to_string_lossy().into_owned();
        assert!(cached.starts_with("/c/records"));
        assert!(name.ends_with("-x.fa.ppi") && name.len() == 16 + "-x.fa.ppi".len());
        // Another path to the same file is the same cache entry.
        let other = dir.path().join(".").join("x.fa");
        assert_eq!(in_cache(Path::new("/c"), &other, "ppi"), cached);
        assert_eq!(folder_of(Path::new("x.fa")), PathBuf::from("."));
    }

    #[test]
    fn a_temporary_index_is_renamed_into_place_or_removed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x.ppi");
        let (t, _) = TempIndex::create(&dest).unwrap();
        drop(t);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        let (t, mut f) = TempIndex::create(&dest).unwrap();
        io::Write::write_all(&mut f, b"x").unwrap();
        assert_eq!(t.commit().unwrap(), dest);
        assert_eq!(fs::read(&dest).unwrap(), b"x");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
