//! A data file's bytes, whatever its compression: plain, BGZF (read by uncompressed
//! byte ranges through its `.gzi`, with noodles-bgzf), or plain gzip (read only from
//! its start). Offsets are always offsets in the uncompressed data.
//!
//! The `.gzi` is the one `bgzip -r` writes: a count, then for every block that holds
//! data but the first, its compressed and uncompressed offsets (u64 little-endian
//! each). It is looked up by a binary search of positional reads, so memory does not
//! grow with the file.

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::Arc;

use noodles_bgzf::VirtualPosition;

use crate::fileio::{read_full_at, AtReader};

/// How a data file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    /// Not at all.
    Plain,
    /// BGZF (blocked gzip, `bgzip`): readable by range through a `.gzi`.
    Bgzf,
    /// gzip that is not BGZF: readable only from the start.
    Gzip,
}

/// The size of a BGZF block header, up to its `BSIZE`.
const HEADER: usize = 18;

/// Whether `header` (the first bytes of a block) is a BGZF block header (noodles-bgzf's
/// rule: gzip, deflate, an extra field holding only the `BC` subfield).
fn is_bgzf_header(header: &[u8]) -> bool {
    header.len() >= HEADER
        && header[0..4] == [0x1f, 0x8b, 8, 4]
        && header[10..12] == [6, 0]
        && header[12..16] == *b"BC\x02\x00"
}

/// How `file` is compressed: gzip by its magic number, BGZF when noodles-bgzf reads its
/// first block.
pub(crate) fn compression_of(file: &File) -> io::Result<Compression> {
    let mut head = [0u8; HEADER];
    let n = read_full_at(file, &mut head, 0)?;
    if n < 2 || head[..2] != [0x1f, 0x8b] {
        return Ok(Compression::Plain);
    }
    if !is_bgzf_header(&head[..n]) {
        return Ok(Compression::Gzip);
    }
    let mut first = noodles_bgzf::io::Reader::new(AtReader::new(file));
    let mut byte = [0u8; 1];
    Ok(match first.read(&mut byte) {
        Ok(_) => Compression::Bgzf,
        Err(_) => Compression::Gzip,
    })
}

/// A reader of the uncompressed data of `file` from its start.
pub(crate) fn stream(file: File, compression: Compression) -> Box<dyn Read + Send> {
    match compression {
        Compression::Plain => Box::new(AtReader::new(file)),
        Compression::Bgzf => Box::new(noodles_bgzf::io::Reader::new(AtReader::new(file))),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::with_capacity(256 * 1024, AtReader::new(file)),
        )),
    }
}

/// The blocks of a BGZF file of `size` bytes from compressed offset `from` (whose
/// uncompressed offset is `upos`): each holding data, as (compressed offset,
/// uncompressed offset); and the uncompressed length of the whole.
pub(crate) fn blocks(
    file: &File,
    size: u64,
    from: u64,
    mut upos: u64,
) -> io::Result<(Vec<(u64, u64)>, u64)> {
    let bad = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("it is not valid BGZF ({what})"),
        )
    };
    let mut out = Vec::new();
    let mut pos = from;
    let mut header = [0u8; HEADER];
    let mut isize = [0u8; 4];
    while pos < size {
        if read_full_at(file, &mut header, pos)? < HEADER || !is_bgzf_header(&header) {
            return Err(bad("a block header is wrong"));
        }
        let block_size = u64::from(u16::from_le_bytes([header[16], header[17]])) + 1;
        if block_size < 26 || pos + block_size > size {
            return Err(bad("a block is truncated"));
        }
        read_full_at(file, &mut isize, pos + block_size - 4)?;
        let len = u64::from(u32::from_le_bytes(isize));
        if len > 0 {
            out.push((pos, upos));
        }
        upos += len;
        pos += block_size;
    }
    Ok((out, upos))
}

/// Writes the `.gzi` of `blocks` (as from [`blocks`] from the file's start) to `out`,
/// with noodles-bgzf's writer.
pub(crate) fn write_gzi<W: Write>(blocks: &[(u64, u64)], out: W) -> io::Result<()> {
    let entries: Vec<(u64, u64)> = blocks.iter().copied().filter(|&(c, _)| c > 0).collect();
    noodles_bgzf::gzi::io::Writer::new(out).write_index(&noodles_bgzf::gzi::Index::from(entries))
}

/// An opened `.gzi` (or, when none can be found, the block list in memory).
#[derive(Debug, Clone)]
pub(crate) struct Gzi {
    file: Option<Arc<File>>,
    memory: Arc<[(u64, u64)]>,
    count: u64,
}

impl Gzi {
    /// Opens the `.gzi` in `file` (checking its size against its count).
    pub(crate) fn open(file: File) -> io::Result<Gzi> {
        let len = file.metadata()?.len();
        let mut count = [0u8; 8];
        if read_full_at(&file, &mut count, 0)? < 8 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "it is truncated",
            ));
        }
        let count = u64::from_le_bytes(count);
        if count.checked_mul(16).and_then(|n| n.checked_add(8)) != Some(len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "its size does not match its count",
            ));
        }
        Ok(Gzi {
            file: Some(Arc::new(file)),
            memory: Arc::new([]),
            count,
        })
    }

    /// The blocks of [`blocks`] (from the file's start) as a `.gzi` in memory.
    pub(crate) fn in_memory(blocks: &[(u64, u64)]) -> Gzi {
        let memory: Arc<[(u64, u64)]> = blocks.iter().copied().filter(|&(c, _)| c > 0).collect();
        Gzi {
            file: None,
            count: memory.len() as u64,
            memory,
        }
    }

    /// Entry `i` (0: the implicit first block at 0, 0).
    fn entry(&self, i: u64) -> io::Result<(u64, u64)> {
        if i == 0 {
            return Ok((0, 0));
        }
        let Some(file) = &self.file else {
            return Ok(self.memory[(i - 1) as usize]);
        };
        let mut b = [0u8; 16];
        read_full_at(file, &mut b, 8 + (i - 1) * 16)?;
        let c = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let u = u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
        Ok((c, u))
    }

    /// The last block start it lists (compressed, uncompressed).
    pub(crate) fn last(&self) -> io::Result<(u64, u64)> {
        self.entry(self.count)
    }

    /// Checks that its entries increase and lie inside a file of `size` bytes,
    /// sampling at most 64 of them.
    pub(crate) fn check(&self, size: u64) -> Result<(), String> {
        let step = (self.count / 64).max(1);
        let mut prev = (0, 0);
        let mut i = step.min(self.count);
        while i <= self.count && self.count > 0 {
            let e = self.entry(i).map_err(|e| e.to_string())?;
            if e.0 <= prev.0 || e.1 <= prev.1 || e.0 >= size {
                return Err("its entries are out of order".to_string());
            }
            prev = e;
            if i == self.count {
                break;
            }
            i = (i + step).min(self.count);
        }
        Ok(())
    }

    /// The virtual position of uncompressed offset `pos`: the last block starting at
    /// or before it, found by binary search.
    fn query(&self, pos: u64) -> io::Result<VirtualPosition> {
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if self.entry(mid)?.1 <= pos {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let (c, u) = self.entry(lo)?;
        let within = u16::try_from(pos - u).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "the .gzi does not match the data",
            )
        })?;
        VirtualPosition::try_from((c, within)).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "the .gzi does not match the data",
            )
        })
    }
}

/// A data file opened for reading by uncompressed byte ranges.
pub(crate) enum Data {
    /// A plain file, read by positional reads.
    Plain(File),
    /// A BGZF file and its `.gzi`, and the uncompressed offset the reader is at (so
    /// that reading records in order does not decompress a block again for each).
    Bgzf(noodles_bgzf::io::Reader<File>, Gzi, Option<u64>),
    /// A gzip file, decompressed from its start; reads must go forward to be cheap
    /// (one going back starts over).
    Gzip {
        file: File,
        stream: Box<dyn Read + Send>,
        at: u64,
    },
}

impl Data {
    /// `file` opened for range reads (a BGZF file through `gzi`).
    pub(crate) fn new(file: File, compression: Compression, gzi: Option<Gzi>) -> io::Result<Data> {
        Ok(match (compression, gzi) {
            (Compression::Bgzf, Some(gzi)) => {
                Data::Bgzf(noodles_bgzf::io::Reader::new(file), gzi, None)
            }
            (Compression::Plain, _) => Data::Plain(file),
            _ => {
                let stream = stream(file.try_clone()?, Compression::Gzip);
                Data::Gzip {
                    file,
                    stream,
                    at: 0,
                }
            }
        })
    }

    /// Reads as much of `buf` as the data has at uncompressed `offset`.
    pub(crate) fn read_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        match self {
            Data::Plain(file) => read_full_at(file, buf, offset),
            Data::Bgzf(reader, gzi, at) => {
                // Close ahead: read on through the blocks rather than seek.
                match *at {
                    Some(pos) if pos <= offset && offset - pos < 64 * 1024 => {
                        io::copy(&mut reader.by_ref().take(offset - pos), &mut io::sink())?;
                    }
                    _ => {
                        *at = None;
                        reader.seek(gzi.query(offset)?)?;
                    }
                }
                let n = read_all(reader, buf)?;
                *at = Some(offset + n as u64);
                Ok(n)
            }
            Data::Gzip { file, stream, at } => {
                if offset < *at {
                    *stream = self::stream(file.try_clone()?, Compression::Gzip);
                    *at = 0;
                }
                let skipped = io::copy(&mut stream.take(offset - *at), &mut io::sink())?;
                *at += skipped;
                if *at < offset {
                    return Ok(0);
                }
                let n = read_all(stream, buf)?;
                *at += n as u64;
                Ok(n)
            }
        }
    }
}

/// Reads until `buf` is full or the data ends.
fn read_all<R: Read + ?Sized>(src: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `data` compressed as BGZF in blocks of at most `block` bytes, with the end
    /// marker.
    pub(crate) fn bgzf(data: &[u8]) -> Vec<u8> {
        let mut w = noodles_bgzf::io::Writer::new(Vec::new());
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    fn file_of(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn compressions_are_told_apart() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        assert_eq!(compression_of(&file_of(&data)).unwrap(), Compression::Plain);
        assert_eq!(
            compression_of(&file_of(&bgzf(&data))).unwrap(),
            Compression::Bgzf
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(compression_of(&file_of(&gz)).unwrap(), Compression::Gzip);
        assert_eq!(compression_of(&file_of(b"")).unwrap(), Compression::Plain);
    }

    #[test]
    fn ranges_read_the_same_from_every_kind_of_file() {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let packed = file_of(&bgzf(&data));
        let size = packed.metadata().unwrap().len();
        let (list, len) = blocks(&packed, size, 0, 0).unwrap();
        assert_eq!(len, data.len() as u64);
        assert!(list.len() > 10);
        let mut gzi_bytes = Vec::new();
        write_gzi(&list, &mut gzi_bytes).unwrap();
        assert_eq!(gzi_bytes.len(), 8 + 16 * (list.len() - 1));
        let gzi = Gzi::open(file_of(&gzi_bytes)).unwrap();
        assert_eq!(gzi.check(size), Ok(()));
        assert_eq!(gzi.last().unwrap(), *list.last().unwrap());
        let in_memory = Gzi::in_memory(&list);
        for pos in [0, 1, 65_280, 65_281, 1_000_000, data.len() as u64 - 1] {
            assert_eq!(gzi.query(pos).unwrap(), in_memory.query(pos).unwrap());
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let mut kinds = [
            Data::new(file_of(&data), Compression::Plain, None).unwrap(),
            Data::new(packed, Compression::Bgzf, Some(gzi)).unwrap(),
            Data::new(file_of(&gz.finish().unwrap()), Compression::Gzip, None).unwrap(),
        ];
        for (offset, len) in [
            (0, 10),
            (65_270, 30),
            (1_000_000, 100_000),
            (5, 7),
            (data.len() - 3, 10),
        ] {
            for d in &mut kinds {
                let mut buf = vec![0u8; len];
                let n = d.read_at(&mut buf, offset as u64).unwrap();
                let want = &data[offset..(offset + len).min(data.len())];
                assert_eq!(&buf[..n], want, "{offset}");
            }
        }
    }
}
