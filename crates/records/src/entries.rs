//! [`Entries`]: a catalog's records streamed from the indexes, all or one shard's;
//! [`byte_shard`], the rule that gives each record its shard.

use std::sync::Arc;

use std::io::Read;

use polyplug_core::{HeldRecord, RecordRef};

use crate::catalog::{FileInfo, IndexKind};
use crate::data::{self, Compression};
use crate::error::RecordsError;
use crate::fai::FaiStream;
use crate::ppi::PpiStream;
use crate::reader::{Parser, Place};

/// The byte-balanced shard rule: a record whose first byte is at global offset `g`
/// (the sizes of the files before its file, plus its offset) belongs to shard
/// `floor(g * count / total_bytes)`. Shards are contiguous runs of records holding
/// about the same number of bytes, and every record is in exactly one. (0 when
/// `total_bytes` or `count` is 0.)
pub fn byte_shard(global_offset: u64, total_bytes: u64, count: u32) -> u32 {
    if total_bytes == 0 || count == 0 {
        return 0;
    }
    let shard = u128::from(global_offset) * u128::from(count) / u128::from(total_bytes);
    shard.min(u128::from(count - 1)) as u32
}

/// The global offsets `[lo, hi)` whose records are shard `index` of `count`: `lo` is
/// the least `g` with `byte_shard(g) >= index`, that is `ceil(index * total / count)`.
pub(crate) fn shard_bounds(index: u32, count: u32, total: u64) -> (u64, u64) {
    let bound = |k: u32| -> u64 {
        if k >= count {
            return u64::MAX;
        }
        let n = u128::from(k) * u128::from(total);
        n.div_ceil(u128::from(count)) as u64
    };
    (bound(index), bound(index + 1))
}

/// One record of a catalog: its name (as the index gives it) and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The record's name: its ID (FASTA/FASTQ: the header's first word; CSV/TSV/JSONL:
    /// the ID column's value) or `<file>:<line>` (the lines format, and records
    /// without a usable ID, which reading then fails with the reason).
    pub name: String,
    /// Index into the source's files.
    pub file: u32,
    /// First byte of the record (for FASTA and FASTQ, blank lines before its header
    /// included).
    pub offset: u64,
    /// Its length in bytes, line endings included.
    pub len: u64,
    /// The record itself, when its file cannot be read by range (plain gzip): read
    /// while streaming, so that workers need not decompress the file again. `None`
    /// for records read by range (and for a gzip record that does not parse, which
    /// the worker reads again to say why).
    pub held: Option<HeldRecord>,
}

impl Entry {
    /// The key a worker reads the record by: [`RecordRef::Held`] when the entry
    /// holds its record, else [`RecordRef::InFile`].
    pub fn key(&self) -> RecordRef {
        match &self.held {
            Some(held) => RecordRef::Held(held.clone()),
            None => RecordRef::InFile {
                file: self.file,
                offset: self.offset,
                len: self.len,
            },
        }
    }
}

/// A plain gzip file's data, decompressed alongside its index's entries.
struct Unzipped {
    src: Box<dyn Read + Send>,
    /// The uncompressed offset of the next byte of `src`.
    at: u64,
    /// The byte before it.
    last: Option<u8>,
    buf: Vec<u8>,
    /// Room for the bytes passed over.
    skip: Vec<u8>,
    parser: Parser,
}

impl Unzipped {
    /// Reads the record at `offset` (at or after the data read so far) into `buf`,
    /// with the byte before it.
    fn read(&mut self, offset: u64, len: u64) -> std::io::Result<Option<u8>> {
        // On the heap: a large array on the stack made every entry of every stream
        // probe its pages (a fifth of streaming a `.fai`).
        let chunk = &mut self.skip;
        chunk.resize(64 * 1024, 0);
        while self.at < offset {
            let want = (offset - self.at).min(chunk.len() as u64) as usize;
            let n = self.src.read(&mut chunk[..want])?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.at += n as u64;
            self.last = Some(chunk[n - 1]);
        }
        let before = self.last;
        self.buf.resize(len as usize, 0);
        self.src.read_exact(&mut self.buf)?;
        self.at += len;
        self.last = self.buf.last().copied().or(before);
        Ok(before)
    }
}

/// The stream of one file's index.
enum Stream {
    Fai(FaiStream),
    Ppi(PpiStream, Option<Box<Unzipped>>),
}

/// Records streamed from the indexes, file after file: an
/// `Iterator<Item = Result<Entry, RecordsError>>` that ends after its first error.
pub struct Entries {
    files: Arc<[FileInfo]>,
    next_file: usize,
    current: Option<(usize, Stream)>,
    lo: u64,
    hi: u64,
    done: bool,
}

impl Entries {
    /// The records of `files` whose global offsets are in `[lo, hi)`.
    pub(crate) fn new(files: Arc<[FileInfo]>, lo: u64, hi: u64) -> Entries {
        Entries {
            files,
            next_file: 0,
            current: None,
            lo,
            hi,
            done: false,
        }
    }

    /// Opens the stream of the next file holding records in `[lo, hi)`.
    fn next_stream(&mut self) -> Result<bool, RecordsError> {
        while self.next_file < self.files.len() {
            let i = self.next_file;
            self.next_file += 1;
            let f = &self.files[i];
            if f.start >= self.hi {
                self.next_file = self.files.len();
                return Ok(false);
            }
            if f.start + f.data_len <= self.lo {
                continue;
            }
            let local_lo = self.lo.saturating_sub(f.start);
            let stream = match &f.index {
                IndexKind::Empty => continue,
                IndexKind::Fai { file, len, .. } => Stream::Fai(
                    FaiStream::starting_at(Arc::clone(file), *len, f.data_len, local_lo)
                        .map_err(|p| damaged(f, &p))?,
                ),
                IndexKind::Ppi(index) => {
                    let stream = index
                        .stream_from(local_lo)
                        .map_err(|e| damaged(f, &e.to_string()))?;
                    let unzipped = match f.compression {
                        Compression::Gzip => {
                            let file = std::fs::File::open(&f.path)
                                .map_err(|e| RecordsError::read(&f.path, &e))?;
                            Some(Box::new(Unzipped {
                                src: data::stream(file, Compression::Gzip),
                                at: 0,
                                last: None,
                                buf: Vec::new(),
                                skip: Vec::new(),
                                parser: Parser::new(index.format()),
                            }))
                        }
                        _ => None,
                    };
                    Stream::Ppi(stream, unzipped)
                }
            };
            self.current = Some((i, stream));
            return Ok(true);
        }
        Ok(false)
    }

    /// The next entry of the current stream in `[lo, hi)`; `None` when it has no more.
    fn next_in_stream(&mut self) -> Result<Option<Entry>, RecordsError> {
        let Some((i, stream)) = self.current.as_mut() else {
            return Ok(None);
        };
        let f = &self.files[*i];
        loop {
            let (offset, len, name) = match stream {
                Stream::Fai(s) => match s.next_entry().map_err(|p| damaged(f, &p))? {
                    None => return Ok(None),
                    Some(e) => (e.start, e.end - e.start, lossy(s.name())),
                },
                Stream::Ppi(s, _) => match s.next_entry().map_err(|p| damaged(f, &p))? {
                    None => return Ok(None),
                    Some(e) if e.named => (e.offset, e.len, lossy(s.name())),
                    Some(e) => (e.offset, e.len, format!("{}:{}", f.display, e.line)),
                },
            };
            let g = f.start + offset;
            if g < self.lo {
                continue;
            }
            if g >= self.hi {
                return Ok(None);
            }
            let mut entry = Entry {
                name,
                file: *i as u32,
                offset,
                len,
                held: None,
            };
            if let Stream::Ppi(_, Some(unzipped)) = stream {
                let before = unzipped
                    .read(offset, len)
                    .map_err(|e| RecordsError::read(&f.path, &e))?;
                let at = Place {
                    display: &f.display,
                    offset,
                    name: &entry.name,
                };
                let parsed = unzipped
                    .parser
                    .parse(&unzipped.buf, before, &at, &f.columns);
                if let Ok(bytes) = parsed {
                    entry.held = Some(HeldRecord {
                        bytes: bytes.to_vec(),
                        fields: unzipped.parser.fields().to_vec(),
                    });
                }
            }
            return Ok(Some(entry));
        }
    }
}

fn lossy(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

fn damaged(f: &FileInfo, problem: &str) -> RecordsError {
    RecordsError::IndexDamaged {
        path: f.path.clone(),
        index: f.index_path.clone(),
        problem: problem.to_string(),
    }
}

impl Iterator for Entries {
    type Item = Result<Entry, RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            if self.current.is_none() {
                match self.next_stream() {
                    Ok(true) => {}
                    Ok(false) => {
                        self.done = true;
                        return None;
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            }
            match self.next_in_stream() {
                Ok(Some(entry)) => return Some(Ok(entry)),
                Ok(None) => self.current = None,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shard_rule_and_its_bounds_agree() {
        for total in [1u64, 2, 7, 100, 1000, 12345] {
            for count in 1..=9u32 {
                for index in 0..count {
                    let (lo, hi) = shard_bounds(index, count, total);
                    for g in 0..total.min(2000) {
                        let inside = g >= lo && g < hi;
                        assert_eq!(
                            byte_shard(g, total, count) == index,
                            inside,
                            "{g} {total} {count}"
                        );
                    }
                }
            }
        }
        assert_eq!(byte_shard(u64::MAX - 1, u64::MAX, u32::MAX), u32::MAX - 1);
        assert_eq!(byte_shard(5, 0, 3), 0);
    }
}
