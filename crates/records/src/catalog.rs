//! [`Catalog`]: the records of a run, host side. Opening one makes sure every file has
//! a valid index (reused when valid, built and written otherwise) and reads what the
//! IDs depend on (a table's header, a JSON-lines file's first object).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polyplug_core::RecordSource;

use crate::byte_shard;
use crate::data::{self, Compression, Gzi};
use crate::entries::{shard_bounds, Entries};
use crate::error::RecordsError;
use crate::opener::FileOpener;
use crate::parts::Split;
use crate::ppi::PpiIndex;
use crate::reader::Columns;

/// How a data file's records are found.
#[derive(Debug)]
pub(crate) enum IndexKind {
    /// An empty file: no records, no index.
    Empty,
    /// A samtools `.fai` (FASTA), checked: its file, its length, its records.
    Fai {
        file: Arc<File>,
        len: u64,
        records: u64,
    },
    /// polyplug's `.ppi`, checked.
    Ppi(PpiIndex),
}

/// One data file of a catalog.
#[derive(Debug)]
pub(crate) struct FileInfo {
    /// The file, as given.
    pub path: PathBuf,
    /// How it is named in IDs and messages.
    pub display: String,
    /// The global offset of its first byte (the sizes of the files before it).
    pub start: u64,
    /// The length of its data.
    pub data_len: u64,
    /// Its index.
    pub index: IndexKind,
    /// Where its index is.
    pub index_path: PathBuf,
    /// How it is compressed.
    pub compression: Compression,
    /// Its `.gzi` (BGZF).
    pub gzi: Option<Gzi>,
    /// Its header and ID column (CSV, TSV) or ID member (JSONL).
    pub columns: Columns,
}

/// Choices tests can make about opening.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Whether indexes may be written in a data file's folder (always tried for real
    /// too: a folder this says yes to may still refuse).
    pub dir_writable: fn(&Path) -> bool,
    /// How a plain FASTA file is cut into parts indexed at once (`None`: as suits its
    /// size and this machine, [`Split::for_len`]).
    pub split: Option<Split>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            dir_writable: |_| true,
            split: None,
        }
    }
}

/// The records of a run, host side: each file's index checked or built. Records are
/// streamed from the indexes ([`Catalog::entries`], [`Catalog::shard_entries`]), so
/// memory does not grow with their number.
#[derive(Debug)]
pub struct Catalog {
    source: RecordSource,
    files: Arc<[FileInfo]>,
    total: u64,
}

impl Catalog {
    /// Makes sure every file of `source` has a valid index, reusing it when it is
    /// valid and building (and writing) it otherwise; reads the CSV/TSV header (or the
    /// first JSON-lines object) and checks that `id_column` exists. Indexes go next to
    /// the data, or under `cache_dir` when the data's folder is not writable. `note`
    /// receives one-line notes for the user (what was indexed, why again).
    pub fn open(
        source: &RecordSource,
        cache_dir: &Path,
        note: &mut dyn FnMut(&str),
    ) -> Result<Catalog, RecordsError> {
        Catalog::open_with(source, cache_dir, note, Options::default())
    }

    /// [`Catalog::open`] with [`Options`].
    pub(crate) fn open_with(
        source: &RecordSource,
        cache_dir: &Path,
        note: &mut dyn FnMut(&str),
        options: Options,
    ) -> Result<Catalog, RecordsError> {
        if source.files.is_empty() {
            return Err(RecordsError::NoFiles);
        }
        if u32::try_from(source.files.len()).is_err() {
            return Err(RecordsError::TooManyFiles {
                count: source.files.len(),
                max: u64::from(u32::MAX),
            });
        }
        if source.id_column.is_some() && !source.format.has_columns() {
            return Err(RecordsError::IdColumnNotApplicable {
                format: source.format,
            });
        }
        let mut files = Vec::with_capacity(source.files.len());
        let mut start = 0u64;
        for path in &source.files {
            let opener = FileOpener {
                path,
                display: path.display().to_string(),
                format: source.format,
                cache_dir,
                options,
            };
            let mut info = opener.open(source.id_column.as_deref(), note)?;
            info.start = start;
            start += info.data_len;
            files.push(info);
        }
        Ok(Catalog {
            source: source.clone(),
            files: files.into(),
            total: start,
        })
    }

    /// The sum of the files' data lengths (for byte-balanced shards).
    pub fn total_bytes(&self) -> u64 {
        self.total
    }

    /// Where each file's index is (`None` for an empty file, which needs none), in
    /// the order of the files.
    pub fn index_paths(&self) -> Vec<Option<PathBuf>> {
        self.files
            .iter()
            .map(|f| (!matches!(f.index, IndexKind::Empty)).then(|| f.index_path.clone()))
            .collect()
    }

    /// The number of records of each file, in the order of the files, from their
    /// indexes (known once they are checked or built: nothing more is read).
    pub fn record_counts(&self) -> Vec<u64> {
        self.files
            .iter()
            .map(|f| match &f.index {
                IndexKind::Empty => 0,
                IndexKind::Fai { records, .. } => *records,
                IndexKind::Ppi(index) => index.count,
            })
            .collect()
    }

    /// The records of every file, in order (file by file, in the order given),
    /// streamed from the indexes.
    pub fn entries(&self) -> Result<Entries, RecordsError> {
        Ok(Entries::new(Arc::clone(&self.files), 0, u64::MAX))
    }

    /// Only the records of byte-balanced shard `index` of `count` (see
    /// [`byte_shard`]), also streamed: files before the shard are passed over, and
    /// within a file a `.ppi` is entered at the block holding the shard's first
    /// record.
    pub fn shard_entries(&self, index: u32, count: u32) -> Result<Entries, RecordsError> {
        if index >= count {
            return Err(RecordsError::NoSuchShard { index, count });
        }
        let (lo, hi) = shard_bounds(index, count, self.total);
        Ok(Entries::new(Arc::clone(&self.files), lo, hi))
    }

    /// The shard of `count` that the record at `offset` of file `file` belongs to
    /// (an [`Entry`](crate::Entry)'s `file` and `offset`, held records' too): [`byte_shard`] of its
    /// global offset (the data lengths of the files before its file, plus `offset`).
    pub fn shard_of(&self, file: u32, offset: u64, count: u32) -> u32 {
        let start = self.files.get(file as usize).map_or(0, |f| f.start);
        byte_shard(start + offset, self.total, count)
    }

    /// The records source this catalog was opened for.
    pub fn source(&self) -> &RecordSource {
        &self.source
    }

    /// The 1-based line number at which byte `offset` of file `file` is (for
    /// messages, such as those about repeated names; reads the file up to there).
    pub fn line_of(&self, file: u32, offset: u64) -> Result<u64, RecordsError> {
        let info = self
            .files
            .get(file as usize)
            .ok_or(RecordsError::NoSuchFile {
                file,
                count: self.files.len(),
            })?;
        let read_err = |e: &std::io::Error| RecordsError::read(&info.path, e);
        let data = File::open(&info.path).map_err(|e| read_err(&e))?;
        let mut src = data::stream(data, info.compression).take(offset);
        let mut buf = vec![0u8; 1 << 20];
        let mut lines = 1u64;
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_err(&e)),
            };
            lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        }
        Ok(lines)
    }
}
