//! Small I/O pieces shared by the indexes and the reader: buffered positional reads
//! of a shared file handle ([`PreadBuf`]), the key that identifies a data file's
//! contents ([`DataKey`]), and LEB128 varints.

use std::borrow::Borrow;
use std::fs::{File, Metadata};
use std::io::{self, BufRead, Read};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use xxhash_rust::xxh3::xxh3_64;

/// How much of each end of a data file its fingerprint covers.
pub(crate) const FINGERPRINT_SPAN: u64 = 64 * 1024;

/// Reads as much of `buf` as the file has at `offset` (fewer bytes only at its end).
pub(crate) fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// A buffered reader of the bytes `[pos, end)` of a file, by positional reads: many
/// readers can share one handle (an index read by several iterators at once) without
/// sharing a cursor.
pub(crate) struct PreadBuf {
    file: Arc<File>,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
}

impl PreadBuf {
    /// A reader of `[pos, end)` of `file` with a buffer of `capacity` bytes.
    pub(crate) fn new(file: Arc<File>, pos: u64, end: u64, capacity: usize) -> PreadBuf {
        PreadBuf {
            file,
            pos,
            end,
            buf: vec![0; capacity.max(16)],
            lo: 0,
            hi: 0,
        }
    }
}

impl Read for PreadBuf {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for PreadBuf {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.lo == self.hi && self.pos < self.end {
            let want = (self.end - self.pos).min(self.buf.len() as u64) as usize;
            let n = read_full_at(&self.file, &mut self.buf[..want], self.pos)?;
            if n < want {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file is shorter than expected",
                ));
            }
            self.pos += n as u64;
            self.lo = 0;
            self.hi = n;
        }
        Ok(&self.buf[self.lo..self.hi])
    }

    fn consume(&mut self, n: usize) {
        self.lo = (self.lo + n).min(self.hi);
    }
}

/// A reader of a file (owned or borrowed) from its start by positional reads, so that
/// scanning a file does not move the cursor of a handle someone else holds.
pub(crate) struct AtReader<F> {
    file: F,
    pos: u64,
}

impl<F: Borrow<File>> AtReader<F> {
    /// A reader of `file` from its first byte.
    pub(crate) fn new(file: F) -> AtReader<F> {
        AtReader { file, pos: 0 }
    }
}

impl<F: Borrow<File>> Read for AtReader<F> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.file.borrow().read_at(out, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// What identifies a data file's contents without reading it all: its size, its
/// modification time and the XXH3-64 of its first and last 64 KiB. An index made for
/// another key is not used (nor is the runner's memory of an IDs file's repeated-ID
/// check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataKey {
    /// Size in bytes (of the file as stored: compressed for gzip).
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// XXH3-64 of the first 64 KiB (or of the whole file when smaller).
    pub head: u64,
    /// XXH3-64 of the last 64 KiB (or of the whole file when smaller).
    pub tail: u64,
}

impl DataKey {
    /// The key of `file`, whose metadata is `meta`.
    pub fn of(file: &File, meta: &Metadata) -> io::Result<DataKey> {
        let size = meta.len();
        let span = FINGERPRINT_SPAN.min(size) as usize;
        let mut buf = vec![0; span];
        let n = read_full_at(file, &mut buf, 0)?;
        let head = xxh3_64(&buf[..n]);
        let n = read_full_at(file, &mut buf, size - span as u64)?;
        let tail = xxh3_64(&buf[..n]);
        Ok(DataKey {
            size,
            mtime_ns: mtime_ns(meta),
            head,
            tail,
        })
    }
}

/// A file's modification time in nanoseconds since the Unix epoch (negative before).
pub(crate) fn mtime_ns(meta: &Metadata) -> i64 {
    match meta.modified() {
        Ok(t) => match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
        },
        Err(_) => 0,
    }
}

/// Appends `v` as an unsigned LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads an unsigned LEB128 varint at `*pos` of `buf`, advancing `*pos`; `None` when
/// the bytes end first or the value does not fit in 64 bits.
pub(crate) fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    let mut shift = 0;
    loop {
        let b = *buf.get(*pos)?;
        *pos += 1;
        if shift == 63 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_overflow() {
        let mut buf = Vec::new();
        let values = [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX];
        for v in values {
            put_varint(&mut buf, v);
        }
        let mut pos = 0;
        for v in values {
            assert_eq!(get_varint(&buf, &mut pos), Some(v));
        }
        assert_eq!(pos, buf.len());
        assert_eq!(get_varint(&buf, &mut pos), None);
        let mut pos = 0;
        assert_eq!(get_varint(&[0xff; 11], &mut pos), None);
        let mut pos = 0;
        assert_eq!(get_varint(&[0x80, 0x80], &mut pos), None);
    }
}
