//! Hashes a skip set writes to disk instead of holding, and the marks it leaves on
//! the lines of the input instead (see [`crate::input::SkipSet::spilling`]).
//!
//! A rerun over millions of stored entities would otherwise hold 16 bytes per done
//! entity. Instead the done hashes go to [`PARTS`] files by their top bits, the
//! input's hashes (with their lines) to as many more, and each group of parts that
//! fits in memory is joined on its own: the done hashes held and sorted, the input's
//! looked up in them, and each input line found done is marked, in 2 bits. What is
//! held is at most about [`HELD`] hashes and the marks, whatever the store's size.
//!
//! The files are unnamed (`O_TMPFILE` where the system has it): nothing is left
//! behind, however the run ends.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

/// At most this many hashes (8 MiB) are held; a spilling set writes more to disk.
pub const HELD: usize = 1 << 19;

/// The number of parts the hashes are written to, by their top [`PART_BITS`] bits.
pub(crate) const PARTS: usize = 1 << PART_BITS;
const PART_BITS: u32 = 6;

/// The part of a hash: its top bits.
pub(crate) fn part(h: u128) -> usize {
    // PART_BITS bits: always a valid index.
    (h >> (128 - PART_BITS)) as usize
}

/// Which of `slices` slices of its part a hash falls in, by the 32 bits below the
/// part's (a part too large to hold at once is joined a slice at a time).
pub(crate) fn slice_of(h: u128, slices: u64) -> u64 {
    // 32 bits, kept whole by the cast.
    let below = (h >> (128 - PART_BITS - 32)) as u32;
    (u64::from(below) * slices) >> 32
}

/// What tells that a file is still the one that was read: its device, inode, length
/// and time of change. Marks by line are only right for the file they were made on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl FileStamp {
    /// The stamp of an open file's metadata.
    pub(crate) fn of(meta: &std::fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }

    /// The stamp of the file at `path`, if it can be read.
    pub(crate) fn of_path(path: &std::path::Path) -> Option<FileStamp> {
        std::fs::metadata(path).ok().map(|m| FileStamp::of(&m))
    }
}

/// [`PARTS`] unnamed temporary files of fixed-size records, written in one go and
/// then read part by part.
pub(crate) struct Parts<const W: usize> {
    files: Vec<BufWriter<File>>,
    /// Records in each part.
    pub(crate) counts: Vec<u64>,
}

impl<const W: usize> std::fmt::Debug for Parts<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("counts", &self.counts)
            .finish()
    }
}

impl<const W: usize> Parts<W> {
    /// Creates the files (in `$TMPDIR`).
    pub(crate) fn new() -> io::Result<Self> {
        let files = (0..PARTS)
            .map(|_| tempfile::tempfile().map(|f| BufWriter::with_capacity(8 << 10, f)))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Parts {
            files,
            counts: vec![0; PARTS],
        })
    }

    /// Appends a record to part `p`.
    pub(crate) fn put(&mut self, p: usize, record: &[u8; W]) -> io::Result<()> {
        self.counts[p] += 1;
        self.files[p].write_all(record)
    }

    /// Each record of part `p`, from its start.
    pub(crate) fn each(&mut self, p: usize, mut f: impl FnMut(&[u8; W])) -> io::Result<()> {
        let w = &mut self.files[p];
        w.flush()?;
        let file = w.get_mut();
        file.seek(SeekFrom::Start(0))?;
        let mut r = BufReader::with_capacity(64 << 10, &*file);
        let mut record = [0u8; W];
        for _ in 0..self.counts[p] {
            r.read_exact(&mut record)?;
            f(&record);
        }
        // Later records go after those read.
        file.seek(SeekFrom::End(0))?;
        Ok(())
    }

    /// Empties part `p`: what it held takes no more room on disk.
    pub(crate) fn clear(&mut self, p: usize) -> io::Result<()> {
        let w = &mut self.files[p];
        w.flush()?;
        let file = w.get_mut();
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        self.counts[p] = 0;
        Ok(())
    }

    /// The parts from `first` whose records add up to at most `limit` (at least one
    /// part): the end of the group.
    pub(crate) fn group(&self, first: usize, limit: usize) -> usize {
        let limit = limit as u64;
        let mut n = self.counts[first];
        let mut end = first + 1;
        while end < PARTS && n + self.counts[end] <= limit {
            n += self.counts[end];
            end += 1;
        }
        end
    }
}

/// A 2-bit mark per input line (1-based): 0 not found, else the origin bits.
#[derive(Debug, Default)]
pub(crate) struct LineMarks {
    bytes: Vec<u8>,
}

impl LineMarks {
    /// Marks for lines 1 to `lines`.
    pub(crate) fn new(lines: u64) -> LineMarks {
        let n = usize::try_from(lines / 4 + 1).unwrap_or(usize::MAX);
        LineMarks { bytes: vec![0; n] }
    }

    /// Adds the origin `bits` (1 to 3) to `line`'s mark.
    pub(crate) fn set(&mut self, line: u64, bits: u8) {
        if let Some(b) = usize::try_from(line / 4)
            .ok()
            .and_then(|i| self.bytes.get_mut(i))
        {
            *b |= (bits & 3) << ((line % 4) * 2);
        }
    }

    /// `line`'s mark (0 for a line never marked, also past the end).
    pub(crate) fn get(&self, line: u64) -> u8 {
        usize::try_from(line / 4)
            .ok()
            .and_then(|i| self.bytes.get(i))
            .map_or(0, |b| (b >> ((line % 4) * 2)) & 3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_give_back_what_was_put_in_each_part() {
        let mut parts = Parts::<3>::new().expect("temporary files");
        for i in 0..10_000u32 {
            let p = (i as usize * 7) % PARTS;
            parts
                .put(p, &[(i % 251) as u8, (i >> 8) as u8, p as u8])
                .unwrap();
        }
        let mut seen = 0;
        for p in 0..PARTS {
            let mut n = 0;
            parts
                .each(p, |r| {
                    assert_eq!(r[2] as usize, p);
                    n += 1;
                })
                .unwrap();
            assert_eq!(n, parts.counts[p]);
            seen += n;
        }
        assert_eq!(seen, 10_000);
        // Read again, and written to after a read: nothing lost, nothing twice.
        parts.put(5, &[0, 0, 5]).unwrap();
        let mut n = 0;
        parts.each(5, |_| n += 1).unwrap();
        assert_eq!(n, parts.counts[5]);
        // Groups cover every part once and keep to the limit where a part allows.
        let (mut first, mut covered) = (0, 0);
        while first < PARTS {
            let end = parts.group(first, 1000);
            let n: u64 = parts.counts[first..end].iter().sum();
            assert!(end == first + 1 || n <= 1000, "{first}..{end}: {n}");
            covered += end - first;
            first = end;
        }
        assert_eq!(covered, PARTS);
    }

    #[test]
    fn a_cleared_part_is_empty_and_takes_records_again() {
        let mut parts = Parts::<2>::new().expect("temporary files");
        for i in 0..1000u16 {
            parts.put(3, &i.to_le_bytes()).unwrap();
        }
        parts.clear(3).unwrap();
        assert_eq!(parts.counts[3], 0);
        parts.put(3, &7u16.to_le_bytes()).unwrap();
        let mut got = Vec::new();
        parts.each(3, |r| got.push(u16::from_le_bytes(*r))).unwrap();
        assert_eq!(got, [7]);
    }

    #[test]
    fn slices_split_a_part_evenly_and_keep_to_their_range() {
        let mut counts = [0u64; 5];
        let mut h: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834;
        for _ in 0..50_000 {
            h = h
                .wrapping_mul(0x2545_f491_4f6c_dd1d)
                .wrapping_add(0x1405_7b7e_f767_814f);
            let s = slice_of(h, 5);
            assert!(s < 5);
            counts[s as usize] += 1;
        }
        assert!(
            counts.iter().all(|c| (9_000..11_000).contains(c)),
            "{counts:?}"
        );
        assert_eq!(slice_of(u128::MAX, 1), 0);
        assert_eq!(slice_of(u128::MAX, 7), 6);
    }

    #[test]
    fn line_marks_keep_two_bits_per_line() {
        let mut m = LineMarks::new(10);
        m.set(1, 1);
        m.set(4, 2);
        m.set(4, 1);
        m.set(7, 2);
        m.set(1_000, 1); // past the end: ignored
        let got: Vec<u8> = (0..=11).map(|l| m.get(l)).collect();
        assert_eq!(got, [0, 1, 0, 0, 3, 0, 0, 2, 0, 0, 0, 0]);
        assert_eq!(m.get(u64::MAX), 0);
    }
}
