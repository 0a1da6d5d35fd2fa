//! FASTA: indexing a file (a samtools `.fai` when one can describe it, else a `.ppi`).
//! Parsing one record is `fasta_record.rs`.
//!
//! A record is a header line `>name description` and the lines after it up to the
//! next header. Its span starts where the record before it ends (blank lines before
//! its header belong to it) and ends with its last non-blank line, line ending
//! included. Its name is the header's first word (leading whitespace skipped, as
//! samtools does).
//!
//! The index is built in one pass that follows samtools' own `fai_build_core` line by
//! line, so the `.fai` written is the one `samtools faidx` writes, byte for byte. A
//! `.fai` can only describe files samtools accepts and whose record spans its
//! arithmetic reproduces: every line of a sequence as long as the first but the last,
//! no empty sequence (samtools drops such records), no header without a name, one
//! kind of line ending per record. The same pass writes polyplug's `.ppi` as well;
//! the caller keeps the `.fai` when it describes the file and the `.ppi` otherwise.
//! A large plain file is scanned in parts at once ([`Scan`] over each, from a header
//! on) and the parts put together by `parts.rs`, with the same result.
//!
//! Most lines of a record are not read one by one: once its first sequence line gives
//! the width of the others, whole runs of them are checked at once ([`full_lines`]:
//! their line endings where the width puts them, and one count of the graphic bytes
//! of them all, which the compiler vectorizes).

use std::io::{self, Read, Write};

use crate::build::BuildStop;
use crate::fai::seq_end;
use crate::fasta_record::header_name;
use crate::ppi::PpiWriter;
use crate::scan::{excerpt, is_blank, LineScanner};

/// The number of bytes samtools counts as bases (`isgraph`: `!` to `~`). This runs
/// over nearly every byte of a FASTA file, so it is written for the compiler to
/// vectorize: blocks of 240 bytes are counted in a `u8` each (no overflow), with
/// `isgraph` as one signed comparison (`b + 1`, as a signed byte, is over 33 exactly
/// for `!` to `~`), the SIMD instructions every x86-64 has (three per 16 bytes,
/// about twice the speed of the SWAR count below, and ten times a byte loop), with
/// no `unsafe` and no CPU-specific code. The rest is counted eight bytes at a time.
fn count_graph(bytes: &[u8]) -> u64 {
    let (blocks, rest) = bytes.as_chunks::<240>();
    let mut total = 0u64;
    for block in blocks {
        let n = block
            .iter()
            .fold(0u8, |n, &b| n + u8::from(b.wrapping_add(1) as i8 > 33));
        total += u64::from(n);
    }
    total + count_graph_swar(rest)
}

/// [`count_graph`] eight bytes at a time in a `u64` (SWAR): with the high bits
/// cleared (`y`), `y + 0x5f` sets a byte's high bit when it is at least `!` and
/// `y + 0x01` when it is `DEL` or more, without carries between bytes; bytes with
/// their high bit set are not graphic.
fn count_graph_swar(bytes: &[u8]) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const FROM_BANG: u64 = 0x5f5f_5f5f_5f5f_5f5f;
    const FROM_DEL: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let (words, rest) = bytes.as_chunks::<8>();
    let mut total = 0u64;
    // Up to 255 words per round, so that no byte of `lanes` overflows.
    for round in words.chunks(255) {
        let mut lanes = 0u64;
        for word in round {
            let x = u64::from_le_bytes(*word);
            let y = x & LOW7;
            let graph = y.wrapping_add(FROM_BANG) & !y.wrapping_add(FROM_DEL) & !x & HIGH;
            lanes += graph >> 7;
        }
        let pairs = (lanes & 0x00ff_00ff_00ff_00ff) + ((lanes >> 8) & 0x00ff_00ff_00ff_00ff);
        total += pairs.wrapping_mul(0x0001_0001_0001_0001) >> 48;
    }
    total + rest.iter().map(|&b| u64::from(is_graph(b))).sum::<u64>()
}

/// C's `isgraph` in the C locale.
fn is_graph(b: u8) -> bool {
    b.wrapping_sub(b'!') < 94
}

/// How many whole lines at the start of `bytes` are full sequence lines of a record
/// whose lines take `width` bytes holding `bases` bases: a line ending at the right
/// place, no header, and (checked over all of them at once) exactly `bases` bases in
/// each, so nothing else (no other line ending) inside. This is the fast path of
/// [`build`]: a record's lines but its first and last go through it, not one by one.
fn full_lines(bytes: &[u8], width: usize, bases: usize) -> usize {
    let ending = width - bases;
    let mut k = 0;
    for line in bytes.chunks_exact(width) {
        let ok = line[0] != b'>'
            && line[width - 1] == b'\n'
            && (ending == 1 || (ending == 2 && line[width - 2] == b'\r'));
        if !ok {
            break;
        }
        k += 1;
    }
    if k > 0 && count_graph(&bytes[..k * width]) != (k * bases) as u64 {
        // The lines before the first one holding other bytes are full: the next scan
        // starts at that one, so a long record is not counted again line after line.
        return bytes
            .chunks_exact(width)
            .take(k)
            .position(|line| count_graph(line) != bases as u64)
            .unwrap_or(k);
    }
    k
}

/// What a FASTA index build found.
#[derive(Debug)]
pub(crate) struct FastaBuilt {
    /// The number of records.
    pub records: u64,
    /// The data's length.
    pub data_len: u64,
    /// Why a `.fai` cannot describe the file (`None`: the `.fai` written is right).
    pub fai_problem: Option<String>,
}

/// Why a `.fai` cannot describe the file. Its line numbers count from the first line
/// of the scan that found it: a part's, made the file's when the parts are put
/// together (see `parts.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// A line before the first header holds only spaces.
    Spaces(u64),
    /// The header at this line has no name.
    NoName(u64),
    /// The name of the header at this line is not UTF-8.
    NotUtf8(u64),
    /// The record (name, header line) has sequence lines of unequal lengths.
    Unequal(Vec<u8>, u64),
    /// The record has an empty sequence.
    Empty(Vec<u8>, u64),
    /// The record has lines a `.fai`'s arithmetic does not reproduce.
    Undescribable(Vec<u8>, u64),
}

impl Problem {
    /// The problem as said to the user, its lines shifted by `base`.
    pub(crate) fn text(&self, base: u64) -> String {
        let record = |name: &[u8], line: u64| {
            format!(
                "record '{}' (line {})",
                String::from_utf8_lossy(name),
                line + base
            )
        };
        match self {
            Problem::Spaces(line) => format!(
                "line {} holds only spaces, which samtools refuses",
                line + base
            ),
            Problem::NoName(line) => format!("the header at line {} has no name", line + base),
            Problem::NotUtf8(line) => format!(
                "the name of the header at line {} is not UTF-8 text",
                line + base
            ),
            Problem::Unequal(name, line) => format!(
                "{} has sequence lines of unequal lengths",
                record(name, *line)
            ),
            Problem::Empty(name, line) => {
                format!("{} has an empty sequence", record(name, *line))
            }
            Problem::Undescribable(name, line) => format!(
                "{} has lines a .fai cannot describe (spaces or mixed line endings)",
                record(name, *line)
            ),
        }
    }
}

/// Where a scan puts the records it finds.
pub(crate) trait Out {
    /// A record: its span `[start, end)`, its header's line, its name when usable.
    fn record(&mut self, start: u64, end: u64, line: u64, name: Option<&[u8]>) -> io::Result<()>;
    /// The `.fai` numbers of the record last given (length, offset, line bases, line
    /// width).
    fn fai(&mut self, name: &[u8], numbers: [u64; 4]) -> io::Result<()>;
}

/// Records written as they come: to the `.ppi` writer and the `.fai` output.
pub(crate) struct Direct<'a, P: Write, F: Write> {
    pub ppi: &'a mut PpiWriter<P>,
    pub fai: &'a mut F,
    /// Room to make a `.fai` line in.
    pub line: Vec<u8>,
}

impl<P: Write, F: Write> Out for Direct<'_, P, F> {
    fn record(&mut self, start: u64, end: u64, line: u64, name: Option<&[u8]>) -> io::Result<()> {
        self.ppi.push(start, end - start, line, name)
    }

    fn fai(&mut self, name: &[u8], numbers: [u64; 4]) -> io::Result<()> {
        write_fai_line(self.fai, &mut self.line, name, numbers)
    }
}

/// samtools' state within a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sim {
    /// Reading sequence lines (`IN_SEQ`).
    InSeq,
    /// After the last sequence line: only empty lines may come (`OUT_READ`).
    OutRead,
    /// samtools would refuse the file.
    Failed,
}

/// The record being read.
struct Current {
    name: Vec<u8>,
    start: u64,
    line: u64,
    seq_offset: u64,
    /// End of the last non-blank line.
    end: u64,
    /// Whether that line lacks a line ending (the file's last line).
    end_unterminated: bool,
    sim: Sim,
    width: u64,
    bases: u64,
    length: u64,
    read_done: bool,
}

/// One pass over FASTA lines, following samtools' own `fai_build_core` line by line:
/// the whole data, or one part of it (from a header on, see `parts.rs`).
pub(crate) struct Scan {
    cur: Current,
    /// Whether `cur` is a record (not before the first header).
    open: bool,
    /// Where the record before `cur` ended (where `cur`'s span starts).
    pub prev_end: u64,
    /// The records finished.
    pub records: u64,
    /// The first problem found.
    pub problem: Option<Problem>,
    /// The lines read.
    pub lines: u64,
}

impl Scan {
    /// A scan from offset `start` (0, or a header's).
    pub(crate) fn new(start: u64) -> Scan {
        Scan {
            cur: Current {
                name: Vec::new(),
                start: 0,
                line: 0,
                seq_offset: 0,
                end: 0,
                end_unterminated: false,
                sim: Sim::InSeq,
                width: 0,
                bases: 0,
                length: 0,
                read_done: false,
            },
            open: false,
            prev_end: start,
            records: 0,
            problem: None,
            lines: 0,
        }
    }

    /// Reads the lines of `lines` up to its end, or up to the first header at or after
    /// `stop` (not included), giving the records to `out`.
    pub(crate) fn run<R: Read, O: Out>(
        &mut self,
        lines: &mut LineScanner<R>,
        stop: u64,
        out: &mut O,
    ) -> Result<(), BuildStop> {
        loop {
            let cur = &mut self.cur;
            if self.open && cur.sim == Sim::InSeq && cur.bases > 0 && cur.width - cur.bases <= 2 {
                let (width, bases) = (cur.width as usize, cur.bases as usize);
                let k = full_lines(lines.peek(), width, bases);
                if k > 0 {
                    lines.skip(k * width);
                    self.lines += k as u64;
                    cur.length += (k * bases) as u64;
                    cur.end = lines.offset();
                    cur.end_unterminated = false;
                }
            }
            let Some((offset, line)) = lines.next_line()? else {
                break;
            };
            if line[0] == b'>' {
                if offset >= stop {
                    break;
                }
                self.lines += 1;
                self.finish(out)?;
                let (name, _) = header_name(&line[1..]);
                let end = offset + line.len() as u64;
                let cur = &mut self.cur;
                cur.name.clear();
                cur.name.extend_from_slice(name);
                cur.start = self.prev_end;
                cur.line = self.lines;
                cur.seq_offset = end;
                cur.end = end;
                cur.end_unterminated = line.last() != Some(&b'\n');
                cur.sim = Sim::InSeq;
                cur.width = 0;
                cur.bases = 0;
                cur.length = 0;
                cur.read_done = false;
                self.open = true;
                continue;
            }
            self.lines += 1;
            if !self.open {
                if !is_blank(line) {
                    return Err(BuildStop::NotTheFormat(
                        self.lines,
                        "a FASTA header line starting with '>'",
                        excerpt(line),
                    ));
                }
                if line != b"\n" && line != b"\r\n" && self.problem.is_none() {
                    self.problem = Some(Problem::Spaces(self.lines));
                }
                continue;
            }
            let cur = &mut self.cur;
            if !is_blank(line) {
                cur.end = offset + line.len() as u64;
                cur.end_unterminated = line.last() != Some(&b'\n');
            }
            match cur.sim {
                Sim::InSeq if line[0] == b'\n' => cur.sim = Sim::OutRead,
                Sim::InSeq => {
                    let terminated = line.last() == Some(&b'\n');
                    let ll = line.len() as u64 + u64::from(!terminated);
                    let cl = count_graph(line);
                    cur.length += cl;
                    cur.read_done = true;
                    if cur.width == 0 {
                        cur.width = ll;
                        cur.bases = cl;
                    } else if ll < cur.width {
                        cur.sim = Sim::OutRead;
                    } else if ll > cur.width {
                        cur.sim = Sim::Failed;
                    }
                }
                Sim::OutRead if line == b"\n" || line == b"\r\n" => {}
                Sim::OutRead => cur.sim = Sim::Failed,
                Sim::Failed => {}
            }
        }
        self.finish(out)?;
        Ok(())
    }

    /// Ends the current record: its `.ppi` entry, and its `.fai` line if it can have
    /// one.
    fn finish<O: Out>(&mut self, out: &mut O) -> io::Result<()> {
        if !self.open {
            return Ok(());
        }
        self.open = false;
        let cur = &self.cur;
        let named = crate::build::usable_name(&cur.name);
        out.record(cur.start, cur.end, cur.line, named)?;
        self.prev_end = cur.end;
        self.records += 1;
        if self.problem.is_some() {
            return Ok(());
        }
        let record = || (cur.name.clone(), cur.line);
        let problem = if cur.name.is_empty() {
            Some(Problem::NoName(cur.line))
        } else if named.is_none() {
            Some(Problem::NotUtf8(cur.line))
        } else if cur.sim == Sim::Failed {
            let (name, line) = record();
            Some(Problem::Unequal(name, line))
        } else if !cur.read_done || cur.length == 0 || cur.bases == 0 {
            let (name, line) = record();
            Some(Problem::Empty(name, line))
        } else {
            match seq_end(cur.seq_offset, cur.length, cur.bases, cur.width) {
                Some(end) if end == cur.end => None,
                Some(end)
                    if cur.end_unterminated
                        && end > cur.end
                        && end - cur.end <= cur.width - cur.bases =>
                {
                    None
                }
                _ => {
                    let (name, line) = record();
                    Some(Problem::Undescribable(name, line))
                }
            }
        };
        if problem.is_some() {
            self.problem = problem;
            return Ok(());
        }
        out.fai(
            &cur.name,
            [cur.length, cur.seq_offset, cur.bases, cur.width],
        )
    }
}

/// Indexes the FASTA data of `src` in one pass, writing the `.ppi` entries to `ppi`
/// and the `.fai` lines to `fai_out` (complete only when the result's `fai_problem`
/// is `None`). `parts.rs` does the same over parts of a file at once.
pub(crate) fn build<R: Read, P: Write, F: Write>(
    mut lines: LineScanner<R>,
    ppi: &mut PpiWriter<P>,
    fai_out: &mut F,
) -> Result<FastaBuilt, BuildStop> {
    let mut scan = Scan::new(0);
    let mut out = Direct {
        ppi,
        fai: fai_out,
        line: Vec::new(),
    };
    scan.run(&mut lines, u64::MAX, &mut out)?;
    Ok(built(
        scan.records,
        lines.offset(),
        scan.problem.map(|p| p.text(0)),
    ))
}

/// What a build found, from its counts and its first problem.
pub(crate) fn built(records: u64, data_len: u64, problem: Option<String>) -> FastaBuilt {
    let fai_problem = match problem {
        None if records == 0 => Some("it has no records".to_string()),
        problem => problem,
    };
    FastaBuilt {
        records,
        data_len,
        fai_problem,
    }
}

/// Writes one `.fai` line (made in `line`): see [`push_fai_line`].
pub(crate) fn write_fai_line<F: Write>(
    out: &mut F,
    line: &mut Vec<u8>,
    name: &[u8],
    numbers: [u64; 4],
) -> io::Result<()> {
    line.clear();
    push_fai_line(line, name, numbers);
    out.write_all(line)
}

/// Appends one `.fai` line to `out`: the name and the four numbers, tab-separated.
/// It is what `noodles_fasta::fai::io::Writer` writes (a test checks), without its
/// formatting machinery, which took a tenth of a large build.
pub(crate) fn push_fai_line(out: &mut Vec<u8>, name: &[u8], numbers: [u64; 4]) {
    out.extend_from_slice(name);
    let mut digits = itoa::Buffer::new();
    for n in numbers {
        out.push(b'\t');
        out.extend_from_slice(digits.format(n).as_bytes());
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fileio::DataKey;
    use crate::ppi::PpiIndex;
    use polyplug_core::RecordFormat;

    /// Builds `data`, giving the `.fai` text (if it describes the data) and the
    /// `.ppi` entries as (name, start, len).
    pub(crate) fn index(data: &[u8]) -> (Option<String>, Vec<(String, u64, u64)>) {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let key = DataKey {
            size: 0,
            mtime_ns: 0,
            head: 0,
            tail: 0,
        };
        let mut ppi = PpiWriter::new(tmp.reopen().unwrap(), RecordFormat::Fasta, &key, "").unwrap();
        let mut fai_text = Vec::new();
        let built = build(LineScanner::new(data), &mut ppi, &mut fai_text).unwrap();
        ppi.finish(built.data_len).unwrap();
        let index = PpiIndex::open(tmp.reopen().unwrap()).unwrap();
        let mut s = index.stream_from(0).unwrap();
        let mut entries = Vec::new();
        while let Some(e) = s.next_entry().unwrap() {
            let name = String::from_utf8_lossy(s.name()).into_owned();
            entries.push((name, e.offset, e.len));
        }
        let fai = built
            .fai_problem
            .is_none()
            .then(|| String::from_utf8(fai_text).unwrap());
        (fai, entries)
    }

    fn e(name: &str, start: u64, len: u64) -> (String, u64, u64) {
        (name.to_string(), start, len)
    }

    #[test]
    fn fai_lines_are_written_as_noodles_writes_them() {
        use noodles_fasta::fai;
        use std::num::NonZero;
        for (name, numbers) in [("chr1", [248_956_422, 112, 70, 71]), ("x y", [1, 0, 1, 2])] {
            let mut ours = Vec::new();
            write_fai_line(&mut ours, &mut Vec::new(), name.as_bytes(), numbers).unwrap();
            let (Some(bases), Some(width)) = (NonZero::new(numbers[2]), NonZero::new(numbers[3]))
            else {
                panic!("zero");
            };
            let record = fai::Record::new(name, numbers[0], numbers[1], bases, width);
            let mut theirs = Vec::new();
            fai::io::Writer::new(&mut theirs)
                .write_index(&fai::Index::from(vec![record]))
                .unwrap();
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn graphic_bytes_are_counted_as_c_does() {
        let all: Vec<u8> = (0..=255).collect();
        let mut data = Vec::new();
        for i in 0..3000 {
            data.extend_from_slice(&all[i % 256..]);
        }
        let slow = data.iter().filter(|&&b| is_graph(b)).count() as u64;
        assert_eq!(count_graph(&data), slow);
        assert_eq!(count_graph_swar(&data), slow);
        for len in 0..600 {
            let part = &data[len * 7..len * 8];
            let slow = part.iter().filter(|&&b| is_graph(b)).count() as u64;
            assert_eq!(count_graph(part), slow, "{len}");
        }
        for b in 0..=255u8 {
            assert_eq!(b.wrapping_add(1) as i8 > 33, is_graph(b), "{b}");
        }
        assert_eq!(count_graph(b"AC GT\r\n\x7f~!"), 6);
        assert!(is_graph(b'!') && is_graph(b'~') && !is_graph(b' ') && !is_graph(0x7f));
    }

    #[test]
    fn the_fai_is_samtools_own() {
        // Each expected text is what samtools faidx 1.16 writes for the input.
        let cases: [(&[u8], &str); 9] = [
            (
                b">a desc\nACGT\nAC\n>c\nAAA\n",
                "a\t6\t8\t4\t5\nc\t3\t19\t3\t4\n",
            ),
            (b">a\nACGT\nAC", "a\t6\t3\t4\t5\n"),
            (
                b">a x\r\nACGT\r\nAC\r\n>b\r\nA\r\n",
                "a\t6\t6\t4\t6\nb\t1\t20\t1\t3\n",
            ),
            (
                b">a\nACGT\nAC\n\n>b\nAAA\n",
                "a\t6\t3\t4\t5\nb\t3\t15\t3\t4\n",
            ),
            (b">a\nACGT\nAC\n\n\n", "a\t6\t3\t4\t5\n"),
            (b"\n\n>a\nACGT\n", "a\t4\t5\t4\t5\n"),
            (b">a\tdesc\nACGT\n", "a\t4\t8\t4\t5\n"),
            (b">a\nACGT\n  \n>b\nA\n", "a\t4\t3\t4\t5\nb\t1\t14\t1\t2\n"),
            (b">a\nacgtn\nNNNNN\nac\n", "a\t12\t3\t5\t6\n"),
        ];
        for (data, want) in cases {
            let (fai, _) = index(data);
            assert_eq!(
                fai.as_deref(),
                Some(want),
                "{}",
                String::from_utf8_lossy(data)
            );
        }
    }

    #[test]
    fn files_samtools_refuses_or_misreads_get_no_fai() {
        for data in [
            &b">a\nACGT\n>b\n>c\nAAA\n"[..],
            b">a\nACGT\n>b\n",
            b">a\nACGT\nACGTA\nAC\n",
            b">a\nACGT\nAC\nACGT\n",
            b">a\nACGT\r\nACGT\n",
            b">\nACGT\n",
            b"",
            b"\n\n",
        ] {
            let (fai, _) = index(data);
            assert_eq!(fai, None, "{}", String::from_utf8_lossy(data));
        }
    }

    #[test]
    fn spans_run_from_the_previous_record_to_the_last_non_blank_line() {
        let (_, entries) = index(b"\n>a d\nAC\nGT\n\n  \n>b\nA\n>c\n>d\nAA");
        let want = [e("a", 0, 12), e("b", 12, 9), e("c", 21, 3), e("d", 24, 5)];
        assert_eq!(entries, want);
    }

    #[test]
    fn a_file_not_starting_with_a_header_is_refused() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let key = DataKey {
            size: 0,
            mtime_ns: 0,
            head: 0,
            tail: 0,
        };
        let mut ppi = PpiWriter::new(tmp.reopen().unwrap(), RecordFormat::Fasta, &key, "").unwrap();
        let r = build(
            LineScanner::new(&b"\n@r1\nACGT\n"[..]),
            &mut ppi,
            &mut Vec::new(),
        );
        assert!(matches!(r, Err(BuildStop::NotTheFormat(2, _, ref found)) if found == "@r1"));
    }
}
