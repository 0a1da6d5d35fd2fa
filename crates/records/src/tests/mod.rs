//! Tests of the crate through its API: every format on hand-written files, the
//! indexes' reuse and invalidation, where they go, shards.

mod formats;
mod gzip;
mod index;
mod parts;
mod reading;
mod shard;

use std::path::{Path, PathBuf};

use crate::catalog::Options;
use crate::{Catalog, Entry, Reader, RecordFormat, RecordSource, RecordsError};

#[test]
fn the_types_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Catalog>();
    send::<crate::Entries>();
    send::<Reader>();
    send_sync::<RecordsError>();
}

/// A small xorshift generator for the randomized tests: `below(n)` gives a number
/// under `n`, the same sequence for the same seed.
pub(crate) fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    }
}

/// A folder for data and one for the cache.
pub(crate) struct Dirs {
    pub data: tempfile::TempDir,
    pub cache: tempfile::TempDir,
}

impl Dirs {
    pub fn new() -> Dirs {
        Dirs {
            data: tempfile::tempdir().unwrap(),
            cache: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes `bytes` to the data file `name`.
    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.data.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

pub(crate) fn source(format: RecordFormat, files: &[&Path], id: Option<&str>) -> RecordSource {
    RecordSource {
        format,
        files: files.iter().map(|p| p.to_path_buf()).collect(),
        id_column: id.map(str::to_string),
    }
}

/// Opens a catalog, giving it with the notes it made.
pub(crate) fn open(source: &RecordSource, dirs: &Dirs) -> (Catalog, Vec<String>) {
    let mut notes = Vec::new();
    let catalog = Catalog::open(source, dirs.cache.path(), &mut |n| {
        notes.push(n.to_string())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    (catalog, notes)
}

/// Opens a catalog with options, giving the result and the notes.
pub(crate) fn open_with(
    source: &RecordSource,
    dirs: &Dirs,
    options: Options,
) -> (Result<Catalog, RecordsError>, Vec<String>) {
    let mut notes = Vec::new();
    let catalog = Catalog::open_with(
        source,
        dirs.cache.path(),
        &mut |n| notes.push(n.to_string()),
        options,
    );
    (catalog, notes)
}

/// Opening's error.
pub(crate) fn open_err(source: &RecordSource, dirs: &Dirs) -> RecordsError {
    match Catalog::open(source, dirs.cache.path(), &mut |_| {}) {
        Ok(_) => panic!("opened"),
        Err(e) => e,
    }
}

pub(crate) fn entries(catalog: &Catalog) -> Vec<Entry> {
    catalog.entries().unwrap().map(Result::unwrap).collect()
}

/// A record as read: its bytes (as text) and its fields.
pub(crate) type Read = Result<(String, Vec<(String, String)>), String>;

/// Every record of the catalog read back, with its name.
pub(crate) fn read_all(source: &RecordSource, catalog: &Catalog) -> Vec<(String, Read)> {
    let mut reader = Reader::open(source);
    entries(catalog)
        .into_iter()
        .map(|e| {
            let read = reader.read(&e.key(), &e.name).map(|r| {
                (
                    String::from_utf8_lossy(r.bytes).into_owned(),
                    r.fields.to_vec(),
                )
            });
            (e.name, read)
        })
        .collect()
}

/// Fields from pairs of text.
pub(crate) fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A record read well.
pub(crate) fn ok(name: &str, bytes: &str, pairs: &[(&str, &str)]) -> (String, Read) {
    (name.to_string(), Ok((bytes.to_string(), fields(pairs))))
}

/// A small random generator (xorshift), so that the cases are the same every run.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}
