//! polyplug's own record index, `<file>.ppi`: where every record of one data file is,
//! written once as the file is scanned and read back as a stream.
//!
//! It is used for every format but FASTA, and for the FASTA files a samtools `.fai`
//! cannot describe (see `fai.rs`). All integers are little-endian; a varint is an
//! unsigned LEB128.
//!
//! ```text
//! header   magic "\x89PPI\r\n\x1a\n" (8 bytes; the PNG trick: text-mode
//!          transfers and truncated copies show)
//!          version u32 (1)
//!          format u8 (RecordFormat::code), reserved u8 (0)
//!          the data file's key: size u64, mtime i64 (ns since the epoch),
//!          XXH3-64 of its first 64 KiB u64, XXH3-64 of its last 64 KiB u64
//!          the ID column it was made for: varint length + UTF-8 ("" for formats
//!          without columns)
//! entries  blocks of up to 4,096 entries; an entry is four varints and a name:
//!            gap   = offset - end of the previous record (0 at first)
//!            len   = the record's length in bytes, line endings included
//!            dline = its 1-based line number - the previous record's (0 at first)
//!            tag   = 0: the record is named `<file>:<line>` (the lines format, and
//!                     rows without a usable ID); n > 0: a name of n - 1 bytes follows
//! table    one 40-byte row per block: the block's position in this file u64, the
//!          end of the record before it u64, that record's line u64, the offset of
//!          its first record u64, XXH3-64 of the block's bytes u64
//! footer   (56 bytes) position of the entries u64, position of the table u64,
//!          number of entries u64, length of the data u64 (the file's size, or its
//!          uncompressed size), XXH3-64 of the header u64, XXH3-64 of the table u64,
//!          magic again
//! ```
//!
//! Opening checks the footer, the header's and the table's hashes and the table's
//! consistency, so a truncated or damaged index is rebuilt, not used; when the
//! entries are small (up to 64 MiB) every block's hash is checked too, and larger
//! indexes have each block checked as it is streamed (so no entry of a damaged block
//! is ever given). The table lets a shard start at the block holding its first
//! record (binary search by positional reads) instead of decoding the entries before
//! it, and memory stays one block whatever the number of records.

use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;

use polyplug_core::RecordFormat;
use xxhash_rust::xxh3::xxh3_64;

use crate::fileio::{get_varint, put_varint, read_full_at, DataKey};

/// The first and last 8 bytes of every `.ppi` file.
pub(crate) const MAGIC: [u8; 8] = *b"\x89PPI\r\n\x1a\n";
/// The version this code writes and reads.
pub(crate) const VERSION: u32 = 1;
/// Entries per block.
const BLOCK: u64 = 4096;
/// Bytes per table row.
const ROW: u64 = 40;
/// Bytes of the footer.
const FOOTER: u64 = 56;
/// Indexes whose entries take up to this many bytes are checked whole when opened.
const CHECK_WHOLE: u64 = 64 * 1024 * 1024;

/// Writes a `.ppi`: [`PpiWriter::push`] every record in order, then
/// [`PpiWriter::finish`].
pub(crate) struct PpiWriter<W: Write> {
    out: W,
    pos: u64,
    entries_pos: u64,
    header_hash: u64,
    block: Vec<u8>,
    in_block: u64,
    count: u64,
    prev_end: u64,
    prev_line: u64,
    row: [u64; 4],
    table: Vec<u8>,
}

impl<W: Write> PpiWriter<W> {
    /// Starts an index of a file of `format` with key `key`, made for `id_column`.
    pub(crate) fn new(
        mut out: W,
        format: RecordFormat,
        key: &DataKey,
        id_column: &str,
    ) -> io::Result<PpiWriter<W>> {
        let mut header = Vec::with_capacity(64 + id_column.len());
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.push(format.code());
        header.push(0);
        header.extend_from_slice(&key.size.to_le_bytes());
        header.extend_from_slice(&key.mtime_ns.to_le_bytes());
        header.extend_from_slice(&key.head.to_le_bytes());
        header.extend_from_slice(&key.tail.to_le_bytes());
        put_varint(&mut header, id_column.len() as u64);
        header.extend_from_slice(id_column.as_bytes());
        out.write_all(&header)?;
        Ok(PpiWriter {
            out,
            pos: header.len() as u64,
            entries_pos: header.len() as u64,
            header_hash: xxh3_64(&header),
            block: Vec::with_capacity(64 * 1024),
            in_block: 0,
            count: 0,
            prev_end: 0,
            prev_line: 0,
            row: [0; 4],
            table: Vec::new(),
        })
    }

    /// Adds the record of `len` bytes at `offset`, whose first line is `line`, named
    /// `name` (`None`: `<file>:<line>`). Records come in file order, not overlapping.
    pub(crate) fn push(
        &mut self,
        offset: u64,
        len: u64,
        line: u64,
        name: Option<&[u8]>,
    ) -> io::Result<()> {
        if self.in_block == 0 {
            self.row = [self.pos, self.prev_end, self.prev_line, offset];
        }
        put_varint(&mut self.block, offset.saturating_sub(self.prev_end));
        put_varint(&mut self.block, len);
        put_varint(&mut self.block, line.saturating_sub(self.prev_line));
        match name {
            None => put_varint(&mut self.block, 0),
            Some(n) => {
                put_varint(&mut self.block, n.len() as u64 + 1);
                self.block.extend_from_slice(n);
            }
        }
        self.prev_end = offset + len;
        self.prev_line = line;
        self.count += 1;
        self.in_block += 1;
        if self.in_block == BLOCK {
            self.flush_block()?;
        }
        Ok(())
    }

    fn flush_block(&mut self) -> io::Result<()> {
        if self.in_block == 0 {
            return Ok(());
        }
        self.out.write_all(&self.block)?;
        for v in self.row {
            self.table.extend_from_slice(&v.to_le_bytes());
        }
        self.table
            .extend_from_slice(&xxh3_64(&self.block).to_le_bytes());
        self.pos += self.block.len() as u64;
        self.block.clear();
        self.in_block = 0;
        Ok(())
    }

    /// Writes the table and the footer (`data_len`: the length of the data the
    /// offsets are in) and gives the writer back with the number of records.
    pub(crate) fn finish(mut self, data_len: u64) -> io::Result<(W, u64)> {
        self.flush_block()?;
        let table_pos = self.pos;
        self.out.write_all(&self.table)?;
        let mut footer = Vec::with_capacity(FOOTER as usize);
        for v in [
            self.entries_pos,
            table_pos,
            self.count,
            data_len,
            self.header_hash,
            xxh3_64(&self.table),
        ] {
            footer.extend_from_slice(&v.to_le_bytes());
        }
        footer.extend_from_slice(&MAGIC);
        self.out.write_all(&footer)?;
        self.out.flush()?;
        Ok((self.out, self.count))
    }
}

/// Why an existing `.ppi` cannot be used.
#[derive(Debug)]
pub(crate) enum PpiProblem {
    /// It is not a `.ppi` at all, or is truncated.
    NotAnIndex,
    /// It was written by another version of polyplug.
    Version(u32),
    /// Its hashes or structure are wrong.
    Damaged(&'static str),
    /// It could not be read.
    Io(io::Error),
}

impl From<io::Error> for PpiProblem {
    fn from(e: io::Error) -> PpiProblem {
        PpiProblem::Io(e)
    }
}

/// One record as the index gives it (its name is [`PpiStream::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawEntry {
    pub offset: u64,
    pub len: u64,
    pub line: u64,
    /// Whether the name is in the index (else it is `<file>:<line>`).
    pub named: bool,
}

/// An opened, checked `.ppi`.
#[derive(Debug, Clone)]
pub(crate) struct PpiIndex {
    file: Arc<File>,
    pub format: u8,
    pub key: DataKey,
    pub id_column: String,
    pub count: u64,
    pub data_len: u64,
    table_pos: u64,
    blocks: u64,
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

impl PpiIndex {
    /// Opens and checks the index in `file`.
    pub(crate) fn open(file: File) -> Result<PpiIndex, PpiProblem> {
        let size = file.metadata()?.len();
        if size < FOOTER + 47 {
            return Err(PpiProblem::NotAnIndex);
        }
        let mut footer = [0u8; FOOTER as usize];
        read_full_at(&file, &mut footer, size - FOOTER)?;
        let mut head = [0u8; 12];
        read_full_at(&file, &mut head, 0)?;
        if head[..8] != MAGIC || footer[48..] != MAGIC {
            return Err(PpiProblem::NotAnIndex);
        }
        let version = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
        if version != VERSION {
            return Err(PpiProblem::Version(version));
        }
        let f = |i: usize| u64_at(&footer, i * 8);
        let (entries_pos, table_pos, count, data_len) = (f(0), f(1), f(2), f(3));
        let (header_hash, table_hash) = (f(4), f(5));
        if entries_pos < 47 || entries_pos > table_pos || table_pos > size - FOOTER {
            return Err(PpiProblem::Damaged("its footer is wrong"));
        }
        let table_len = size - FOOTER - table_pos;
        let blocks = count.div_ceil(BLOCK);
        if table_len != blocks * ROW || entries_pos > 1 << 20 {
            return Err(PpiProblem::Damaged("its table does not match its entries"));
        }
        let mut header = vec![0u8; entries_pos as usize];
        read_full_at(&file, &mut header, 0)?;
        if xxh3_64(&header) != header_hash {
            return Err(PpiProblem::Damaged("its header's hash is wrong"));
        }
        let key = DataKey {
            size: u64_at(&header, 14),
            mtime_ns: u64_at(&header, 22) as i64,
            head: u64_at(&header, 30),
            tail: u64_at(&header, 38),
        };
        let mut pos = 46;
        let id_len = get_varint(&header, &mut pos).ok_or(PpiProblem::Damaged("bad header"))?;
        let id_end = pos.saturating_add(id_len as usize);
        if id_end != header.len() {
            return Err(PpiProblem::Damaged("its header is wrong"));
        }
        let id_column = String::from_utf8(header[pos..id_end].to_vec())
            .map_err(|_| PpiProblem::Damaged("its ID column is not UTF-8"))?;
        let index = PpiIndex {
            file: Arc::new(file),
            format: header[12],
            key,
            id_column,
            count,
            data_len,
            table_pos,
            blocks,
        };
        index.check_table(table_hash)?;
        if table_pos - entries_pos <= CHECK_WHOLE {
            index.check_blocks()?;
        }
        Ok(index)
    }

    /// Checks the table's hash and that its rows are in order and inside the file.
    fn check_table(&self, hash: u64) -> Result<(), PpiProblem> {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        let mut buf = vec![0u8; (ROW * 1024) as usize];
        let mut at = 0;
        let mut last = [0u64; 4];
        while at < self.blocks {
            let rows = (self.blocks - at).min(1024);
            let bytes = &mut buf[..(rows * ROW) as usize];
            if read_full_at(&self.file, bytes, self.table_pos + at * ROW)? < bytes.len() {
                return Err(PpiProblem::NotAnIndex);
            }
            hasher.update(bytes);
            for r in 0..rows as usize {
                let row = [0, 1, 2, 3].map(|i| u64_at(bytes, r * ROW as usize + i * 8));
                let first = at == 0 && r == 0;
                if row[0] >= self.table_pos
                    || (!first && (row[0] <= last[0] || row[1] < last[1] || row[3] < last[3]))
                    || row[3] < row[1]
                {
                    return Err(PpiProblem::Damaged("its table is out of order"));
                }
                last = row;
            }
            at += rows;
        }
        if hasher.digest() != hash {
            return Err(PpiProblem::Damaged("its table's hash is wrong"));
        }
        Ok(())
    }

    /// Reads every block and checks its hash.
    fn check_blocks(&self) -> Result<(), PpiProblem> {
        let mut buf = Vec::new();
        for b in 0..self.blocks {
            self.read_block(b, &mut buf)?;
        }
        Ok(())
    }

    /// Row `b` of the table: position, end and line before, first offset, hash.
    fn row(&self, b: u64) -> io::Result<[u64; 5]> {
        let mut bytes = [0u8; ROW as usize];
        read_full_at(&self.file, &mut bytes, self.table_pos + b * ROW)?;
        Ok([0, 1, 2, 3, 4].map(|i| u64_at(&bytes, i * 8)))
    }

    /// Reads block `b` into `buf`, checking its hash; gives its row.
    fn read_block(&self, b: u64, buf: &mut Vec<u8>) -> Result<[u64; 5], PpiProblem> {
        let row = self.row(b)?;
        let end = if b + 1 < self.blocks {
            self.row(b + 1)?[0]
        } else {
            self.table_pos
        };
        let len = end
            .checked_sub(row[0])
            .ok_or(PpiProblem::Damaged("its table is out of order"))?;
        buf.resize(len as usize, 0);
        if read_full_at(&self.file, buf, row[0])? < buf.len() {
            return Err(PpiProblem::NotAnIndex);
        }
        if xxh3_64(buf) != row[4] {
            return Err(PpiProblem::Damaged("an entry block's hash is wrong"));
        }
        Ok(row)
    }

    /// The format of the data it indexes.
    pub(crate) fn format(&self) -> polyplug_core::RecordFormat {
        polyplug_core::RecordFormat::from_code(self.format)
            .unwrap_or(polyplug_core::RecordFormat::Lines)
    }

    /// A stream of the entries, starting with the block that holds the first record
    /// at or after `offset` (so it may give a few records before `offset` first).
    pub(crate) fn stream_from(&self, offset: u64) -> io::Result<PpiStream> {
        let (mut lo, mut hi) = (0, self.blocks);
        // The last block whose first record starts at or before `offset`.
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.row(mid)?[3] <= offset {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(PpiStream {
            index: self.clone(),
            next_block: lo,
            left_in_block: 0,
            buf: Vec::new(),
            at: 0,
            prev_end: 0,
            prev_line: 0,
            name: Vec::new(),
        })
    }
}

/// The entries of a `.ppi`, block by block.
pub(crate) struct PpiStream {
    index: PpiIndex,
    next_block: u64,
    left_in_block: u64,
    buf: Vec<u8>,
    at: usize,
    prev_end: u64,
    prev_line: u64,
    name: Vec<u8>,
}

impl PpiStream {
    /// The next entry, `Ok(None)` at the end; `Err` names what is damaged.
    pub(crate) fn next_entry(&mut self) -> Result<Option<RawEntry>, String> {
        if self.left_in_block == 0 {
            if self.next_block >= self.index.blocks {
                return Ok(None);
            }
            let b = self.next_block;
            let row = match self.index.read_block(b, &mut self.buf) {
                Ok(row) => row,
                Err(PpiProblem::Io(e)) => return Err(crate::error::io_message(&e)),
                Err(PpiProblem::Damaged(what)) => return Err(what.to_string()),
                Err(_) => return Err("it is truncated".to_string()),
            };
            self.next_block += 1;
            self.left_in_block = (self.index.count - b * BLOCK).min(BLOCK);
            self.at = 0;
            self.prev_end = row[1];
            self.prev_line = row[2];
        }
        let bad = || "an entry cannot be decoded".to_string();
        let (buf, at) = (&self.buf, &mut self.at);
        let gap = get_varint(buf, at).ok_or_else(bad)?;
        let len = get_varint(buf, at).ok_or_else(bad)?;
        let dline = get_varint(buf, at).ok_or_else(bad)?;
        let tag = get_varint(buf, at).ok_or_else(bad)?;
        let offset = self.prev_end.checked_add(gap).ok_or_else(bad)?;
        let end = offset.checked_add(len).ok_or_else(bad)?;
        let line = self.prev_line.checked_add(dline).ok_or_else(bad)?;
        if end > self.index.data_len {
            return Err("an entry lies past the end of the data".to_string());
        }
        self.name.clear();
        if tag > 0 {
            let name_end = at
                .checked_add(tag as usize - 1)
                .filter(|&e| e <= buf.len())
                .ok_or_else(bad)?;
            self.name.extend_from_slice(&buf[*at..name_end]);
            *at = name_end;
        }
        self.prev_end = end;
        self.prev_line = line;
        self.left_in_block -= 1;
        if self.left_in_block == 0 && self.at != self.buf.len() {
            return Err("a block has bytes after its entries".to_string());
        }
        Ok(Some(RawEntry {
            offset,
            len,
            line,
            named: tag > 0,
        }))
    }

    /// The name of the entry last given (empty when it is `<file>:<line>`).
    pub(crate) fn name(&self) -> &[u8] {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DataKey {
        DataKey {
            size: 1 << 40,
            mtime_ns: 42,
            head: 7,
            tail: 9,
        }
    }

    /// An entry as written: offset, length, line, name.
    type Written = (u64, u64, u64, Option<Vec<u8>>);

    fn write(n: u64) -> (tempfile::NamedTempFile, Vec<Written>) {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let mut w = PpiWriter::new(tmp.reopen().unwrap(), RecordFormat::Csv, &key(), "id").unwrap();
        let mut want = Vec::new();
        let mut offset = 10;
        for i in 0..n {
            let len = 1 + i % 300;
            let name = (i % 5 != 0).then(|| format!("rec{i}").into_bytes());
            w.push(offset, len, 2 + i * 2, name.as_deref()).unwrap();
            want.push((offset, len, 2 + i * 2, name));
            offset += len + i % 3;
        }
        w.finish(offset).unwrap();
        (tmp, want)
    }

    #[test]
    fn entries_read_back_whole_and_from_any_offset() {
        let (tmp, want) = write(10_000);
        let index = PpiIndex::open(tmp.reopen().unwrap()).unwrap();
        assert_eq!(
            (index.count, index.format),
            (10_000, RecordFormat::Csv.code())
        );
        assert_eq!((index.key, index.id_column.as_str()), (key(), "id"));
        let mut s = index.stream_from(0).unwrap();
        for w in &want {
            let e = s.next_entry().unwrap().unwrap();
            assert_eq!((e.offset, e.len, e.line), (w.0, w.1, w.2));
            assert_eq!(e.named, w.3.is_some());
            assert_eq!(s.name(), w.3.as_deref().unwrap_or(b""));
        }
        assert_eq!(s.next_entry().unwrap(), None);
        // From the middle: the stream starts at or before the asked offset.
        let target = want[7000].0;
        let mut s = index.stream_from(target).unwrap();
        let first = s.next_entry().unwrap().unwrap();
        assert!(first.offset <= target && first.offset + 4096 * 400 > target);
    }

    #[test]
    fn truncated_or_damaged_indexes_are_refused() {
        let (tmp, _) = write(5000);
        let bytes = std::fs::read(tmp.path()).unwrap();
        let check = |b: &[u8]| {
            let t = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(t.path(), b).unwrap();
            PpiIndex::open(t.reopen().unwrap()).err()
        };
        assert!(matches!(
            check(&bytes[..bytes.len() - 1]),
            Some(PpiProblem::NotAnIndex)
        ));
        assert!(check(&bytes[..100]).is_some());
        for at in [9, 20, 60, 200, bytes.len() - 70, bytes.len() - 20] {
            let mut b = bytes.clone();
            b[at] ^= 0x40;
            assert!(check(&b).is_some(), "a flip at {at} went unseen");
        }
        assert!(check(&bytes).is_none());
    }

    #[test]
    fn an_empty_index_has_no_entries() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let w = PpiWriter::new(tmp.reopen().unwrap(), RecordFormat::Lines, &key(), "").unwrap();
        w.finish(0).unwrap();
        let index = PpiIndex::open(tmp.reopen().unwrap()).unwrap();
        assert_eq!(index.count, 0);
        assert_eq!(index.stream_from(0).unwrap().next_entry().unwrap(), None);
    }
}
