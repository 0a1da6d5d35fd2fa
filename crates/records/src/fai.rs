//! The samtools FASTA index, `<file>.fai`, as a source of record spans: reading its
//! lines as a stream (parsed as `noodles-fasta` parses them) and deciding whether an
//! existing one describes a data file.
//!
//! A `.fai` line is `name, length, offset, linebases, linewidth`: the sequence of
//! `length` bases starts at byte `offset` (after the header line) and is cut in lines
//! of `linebases` bases taking `linewidth` bytes with their line ending. So the
//! sequence ends at `offset + (length / linebases) * linewidth`, plus, when the last
//! line is shorter, its bases and the line ending (`linewidth - linebases` bytes). A
//! record's span is from where the one before it ends (0 for the first) to there.

use std::fs::File;
use std::io::BufRead;
use std::sync::Arc;

use crate::data::Data;
use crate::fasta_record::header_name;
use crate::fileio::{read_full_at, PreadBuf};
use crate::scan::is_blank;

/// Where a sequence described by a `.fai` line ends (the byte after its last line
/// ending); `None` for impossible values.
pub(crate) fn seq_end(offset: u64, length: u64, bases: u64, width: u64) -> Option<u64> {
    if bases == 0 || width < bases {
        return None;
    }
    let full = (length / bases).checked_mul(width)?;
    let rest = length % bases;
    let last = if rest > 0 { rest + (width - bases) } else { 0 };
    offset.checked_add(full)?.checked_add(last)
}

/// One record as a `.fai` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FaiEntry {
    /// Where its span starts (the end of the record before it).
    pub start: u64,
    /// Where its span ends (its sequence's end, at most the data's end).
    pub end: u64,
    /// Where its sequence starts (after its header line).
    pub seq_offset: u64,
    /// Where its sequence ends by the `.fai`'s arithmetic (past the data's end when
    /// the last line has no line ending).
    pub formula_end: u64,
    /// The length of its line endings (`linewidth - linebases`).
    pub ending: u64,
}

/// The lines of a `.fai`, read one at a time.
pub(crate) struct FaiStream {
    reader: PreadBuf,
    text: Vec<u8>,
    prev_end: u64,
    data_len: u64,
    name: Vec<u8>,
    line: u64,
}

impl FaiStream {
    /// A stream of the `.fai` in `file` (of `len` bytes) for data of `data_len` bytes.
    pub(crate) fn new(file: Arc<File>, len: u64, data_len: u64) -> FaiStream {
        FaiStream {
            reader: PreadBuf::new(file, 0, len, 64 * 1024),
            text: Vec::new(),
            prev_end: 0,
            data_len,
            name: Vec::new(),
            line: 0,
        }
    }

    /// A stream of the records whose spans start at or after `lo`, found by a binary
    /// search over the `.fai`'s bytes (a shard passes over the records before it
    /// without reading their lines).
    pub(crate) fn starting_at(
        file: Arc<File>,
        len: u64,
        data_len: u64,
        lo: u64,
    ) -> Result<FaiStream, String> {
        if lo == 0 {
            return Ok(FaiStream::new(file, len, data_len));
        }
        // The smallest byte position whose next line ends at or after `lo` (or has no
        // next line): the record after that line is the first to start there.
        let (mut a, mut b) = (0, len);
        while a < b {
            let mid = a + (b - a) / 2;
            match line_from(&file, len, mid)? {
                Some((_, _, text)) if parse_line(&text)?.2.min(data_len) < lo => a = mid + 1,
                _ => b = mid,
            }
        }
        let mut stream = FaiStream::new(Arc::clone(&file), len, data_len);
        if let Some((_, next, text)) = line_from(&file, len, a)? {
            stream.reader = PreadBuf::new(file, next, len, 64 * 1024);
            stream.prev_end = parse_line(&text)?.2.min(data_len);
        } else {
            stream.reader = PreadBuf::new(file, len, len, 16);
        }
        Ok(stream)
    }

    /// The next record (its name is [`FaiStream::name`]); `Err` says what is wrong.
    pub(crate) fn next_entry(&mut self) -> Result<Option<FaiEntry>, String> {
        let read_err =
            |e: std::io::Error| format!("it cannot be read: {}", crate::error::io_message(&e));
        let buf = self.reader.fill_buf().map_err(read_err)?;
        if buf.is_empty() {
            return Ok(None);
        }
        self.line += 1;
        // The common case, parsed where it was read: a line of samtools' own, whole in
        // the reader's buffer.
        let quick =
            memchr::memchr(b'\n', buf).and_then(|i| Some((i + 1, quick_parse(&buf[..=i])?)));
        let (seq_offset, formula_end, ending) = match quick {
            Some((used, (name, seq_offset, formula_end, ending))) => {
                self.name.clear();
                self.name.extend_from_slice(name);
                self.reader.consume(used);
                (seq_offset, formula_end, ending)
            }
            None => {
                self.text.clear();
                self.reader
                    .read_until(b'\n', &mut self.text)
                    .map_err(read_err)?;
                let (name, seq_offset, formula_end, ending) = match quick_parse(&self.text) {
                    Some(parsed) => parsed,
                    None => {
                        let text = std::str::from_utf8(&self.text).map_err(|_| {
                            "it cannot be read: stream did not contain valid UTF-8".to_string()
                        })?;
                        parse_line(text).map_err(|why| format!("its line {} {why}", self.line))?
                    }
                };
                self.name.clear();
                self.name.extend_from_slice(name);
                (seq_offset, formula_end, ending)
            }
        };
        if seq_offset < self.prev_end + self.name.len() as u64 + 2 {
            return Err(format!(
                "its line {} has an offset out of order with the line before",
                self.line
            ));
        }
        let entry = FaiEntry {
            start: self.prev_end,
            end: formula_end.min(self.data_len),
            seq_offset,
            formula_end,
            ending,
        };
        self.prev_end = entry.end;
        Ok(Some(entry))
    }

    /// The name of the record last given.
    pub(crate) fn name(&self) -> &[u8] {
        &self.name
    }
}

/// [`parse_line`] of a line written as samtools writes them (a UTF-8 name, then four
/// numbers of digits only, tab-separated, a line feed or CRLF at the end, nothing
/// else), in one pass over its bytes; `None` for any other line, which
/// [`parse_line`] then reads (and says what is wrong with).
fn quick_parse(line: &[u8]) -> Option<(&[u8], u64, u64, u64)> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let tab = memchr::memchr(b'\t', line)?;
    let name = &line[..tab];
    if !name.is_ascii() && std::str::from_utf8(name).is_err() {
        return None;
    }
    let mut numbers = [0u64; 4];
    let mut fields = line[tab + 1..].split(|&b| b == b'\t');
    for n in &mut numbers {
        let digits = fields.next()?;
        if !(1..=19).contains(&digits.len()) || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        *n = digits
            .iter()
            .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
    }
    let [length, seq_offset, bases, width] = numbers;
    if fields.next().is_some() || bases == 0 || width == 0 {
        return None;
    }
    let formula_end = seq_end(seq_offset, length, bases, width).filter(|&end| end > seq_offset)?;
    Some((name, seq_offset, formula_end, width - bases))
}

/// Parses a `.fai` line as noodles' reader does (`noodles_fasta::fai::io::Reader`,
/// same rules and messages; a test checks), without its allocations: the name, where
/// the sequence starts, where it ends by the `.fai`'s arithmetic, and the length of
/// its line endings. Streaming a large `.fai` is one call per record.
fn parse_line(text: &str) -> Result<(&[u8], u64, u64, u64), String> {
    if text.is_empty() {
        return Err("is not one .fai line".to_string());
    }
    let line = match text.strip_suffix('\n') {
        Some(line) => line.strip_suffix('\r').unwrap_or(line),
        None => text,
    };
    let bad = |why: &dyn std::fmt::Display| format!("is not a .fai line ({why})");
    if line.is_empty() {
        return Err(bad(&"empty input"));
    }
    let mut fields = line.splitn(5, '\t');
    let name = fields.next().unwrap_or_default();
    let mut number = |missing: &str, nonzero: bool| -> Result<u64, String> {
        let field = fields.next().ok_or_else(|| bad(&missing))?;
        // Digits only, too few to overflow: the common case, without std's parser.
        let digits = field.as_bytes();
        if (1..=19).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) {
            let n = digits
                .iter()
                .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
            if n > 0 || !nonzero {
                return Ok(n);
            }
        }
        if nonzero {
            field
                .parse::<std::num::NonZero<u64>>()
                .map(std::num::NonZero::get)
                .map_err(|e| bad(&e))
        } else {
            field.parse::<u64>().map_err(|e| bad(&e))
        }
    };
    let length = number("missing base count", false)?;
    let seq_offset = number("missing position", false)?;
    let bases = number("missing line base count", true)?;
    let width = number("missing line width", true)?;
    let formula_end = seq_end(seq_offset, length, bases, width)
        .filter(|&end| end > seq_offset)
        .ok_or_else(|| "has impossible line lengths".to_string())?;
    Ok((name.as_bytes(), seq_offset, formula_end, width - bases))
}

/// The first line of a `.fai` (of `len` bytes) starting at or after byte `pos`: where
/// it starts, where the next one starts, and its text; `None` past the last line.
fn line_from(file: &File, len: u64, pos: u64) -> Result<Option<(u64, u64, String)>, String> {
    let read_err =
        |e: std::io::Error| format!("it cannot be read: {}", crate::error::io_message(&e));
    let mut buf = vec![0u8; 4096];
    // Where the line holding byte `pos - 1` ends.
    let mut start = pos;
    if pos > 0 {
        let mut at = pos - 1;
        loop {
            let n = read_full_at(file, &mut buf, at).map_err(read_err)?;
            if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
                start = at + i as u64 + 1;
                break;
            }
            if n < buf.len() {
                return Ok(None);
            }
            at += n as u64;
        }
    }
    if start >= len {
        return Ok(None);
    }
    let mut line = Vec::new();
    let mut at = start;
    loop {
        let n = read_full_at(file, &mut buf, at).map_err(read_err)?;
        match memchr::memchr(b'\n', &buf[..n]) {
            Some(i) => {
                line.extend_from_slice(&buf[..=i]);
                break;
            }
            None if n < buf.len() => {
                line.extend_from_slice(&buf[..n]);
                break;
            }
            None => line.extend_from_slice(&buf[..n]),
        }
        at += n as u64;
    }
    let next = start + line.len() as u64;
    let text = String::from_utf8(line).map_err(|_| "a line is not text".to_string())?;
    Ok(Some((start, next, text)))
}

/// How many headers are read from the data to check a `.fai` (the first, the last and
/// evenly spaced ones between).
const SAMPLES: u64 = 16;
/// The most bytes read to check one record's header, or the data's tail.
const MAX_GAP: u64 = 1 << 20;

/// Checks that the `.fai` in `fai_file` (of `fai_len` bytes) describes `data` (of
/// `data_len` bytes): its lines are in order, its last record ends at the data's end
/// (blank lines after it aside), and the headers of a sample of records read from the
/// data have the names it gives, ending where it says the sequences start. Gives the
/// number of records, or what is wrong.
pub(crate) fn check(
    fai_file: &Arc<File>,
    fai_len: u64,
    data: &mut Data,
    data_len: u64,
) -> Result<u64, String> {
    let mut stream = FaiStream::new(Arc::clone(fai_file), fai_len, data_len);
    let mut count = 0u64;
    let mut last: Option<FaiEntry> = None;
    while let Some(entry) = stream.next_entry()? {
        if let Some(prev) = last {
            if prev.formula_end > data_len {
                return Err("a record lies past the end of the data".to_string());
            }
        }
        last = Some(entry);
        count += 1;
    }
    let tail_start = match last {
        Some(l) if l.formula_end > data_len + l.ending => {
            return Err("its last record lies past the end of the data".to_string())
        }
        Some(l) => l.end,
        None => 0,
    };
    let tail = read_span(data, tail_start, data_len)?;
    if !is_blank(&tail) {
        return Err("the data has more after its last record".to_string());
    }
    let mut stream = FaiStream::new(Arc::clone(fai_file), fai_len, data_len);
    let mut next_sample = 0;
    let mut k = 0;
    let mut i = 0;
    while let Some(entry) = stream.next_entry()? {
        if i == next_sample {
            check_header(data, data_len, &entry, stream.name())?;
            k += 1;
            next_sample = if k >= SAMPLES {
                count - 1
            } else {
                (k * (count - 1) / (SAMPLES - 1)).max(i + 1)
            };
        }
        i += 1;
    }
    Ok(count)
}

/// Reads `[start, end)` of `data` (at most [`MAX_GAP`] bytes).
fn read_span(data: &mut Data, start: u64, end: u64) -> Result<Vec<u8>, String> {
    if end < start || end - start > MAX_GAP {
        return Err("its records are too far apart".to_string());
    }
    let mut buf = vec![0; (end - start) as usize];
    let n = data
        .read_at(&mut buf, start)
        .map_err(|e| format!("the data cannot be read: {}", crate::error::io_message(&e)))?;
    if n < buf.len() {
        return Err("the data is shorter than it says".to_string());
    }
    Ok(buf)
}

/// Checks that blank lines, then a header naming `name` and ending with a line ending,
/// fill the bytes from `entry.start` to `entry.seq_offset`, and that the sequence ends
/// with a line ending or at the data's end (`data_len`).
fn check_header(
    data: &mut Data,
    data_len: u64,
    entry: &FaiEntry,
    name: &[u8],
) -> Result<(), String> {
    let gap = read_span(data, entry.start, entry.seq_offset)?;
    let wrong = || {
        format!(
            "the data has no header '>{}' where it says",
            String::from_utf8_lossy(name)
        )
    };
    let body = gap.strip_suffix(b"\n").ok_or_else(wrong)?;
    let header_start = memchr::memrchr(b'\n', body).map_or(0, |i| i + 1);
    let header = &body[header_start..];
    if !is_blank(&gap[..header_start]) || header.first() != Some(&b'>') {
        return Err(wrong());
    }
    if header_name(&header[1..]).0 != name {
        return Err(wrong());
    }
    // A last line without a line ending may fill the place of one with bytes a .fai
    // does not count (samtools counts only visible ASCII): found by fuzzing.
    if entry.end == entry.formula_end && entry.end < data_len {
        let last = read_span(data, entry.end - 1, entry.end)?;
        if last != b"\n" {
            return Err(format!(
                "the sequence of '{}' does not end where it says",
                String::from_utf8_lossy(name)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn fai_of(text: &str) -> (Arc<File>, u64) {
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(text.as_bytes()).unwrap();
        (Arc::new(tmp), text.len() as u64)
    }

    fn data_of(bytes: &[u8]) -> Data {
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(bytes).unwrap();
        Data::Plain(tmp)
    }

    /// The line parsed by noodles, as `parse_line` did before it parsed them itself.
    fn noodles_parse(text: &str) -> Result<(Vec<u8>, u64, u64, u64), String> {
        use noodles_fasta::fai;
        let index = fai::io::Reader::new(text.as_bytes())
            .read_index()
            .map_err(|e| format!("is not a .fai line ({e})"))?;
        let [record] = index.as_ref() else {
            return Err("is not one .fai line".to_string());
        };
        let (bases, width) = (record.line_base_count().get(), record.line_width().get());
        let seq_offset = record.position();
        let formula_end = seq_end(seq_offset, record.length(), bases, width)
            .filter(|&end| end > seq_offset)
            .ok_or_else(|| "has impossible line lengths".to_string())?;
        Ok((
            record.name().to_vec(),
            seq_offset,
            formula_end,
            width - bases,
        ))
    }

    #[test]
    fn fai_lines_are_parsed_as_noodles_parses_them() {
        let fields = [
            "",
            "a",
            "chr1",
            "é x",
            "0",
            "1",
            "7",
            "60",
            "61",
            "+5",
            "-1",
            " 5",
            "5 ",
            "1\r",
            "18446744073709551615",
            "18446744073709551616",
            "x",
            "1\t2",
        ];
        let endings = ["", "\n", "\r\n", "\r", "\r\r\n"];
        let mut rng = crate::tests::xorshift(0x1234_5678_9abc_def1);
        let mut next = |n: usize| rng(n as u64) as usize;
        let mut lines = vec![
            "\n".to_string(),
            "a\t6\t3\t4\t5\n".to_string(),
            "a\t6\t3\t4\t5\t\n".to_string(),
            "a\t6\t3\t5\t4\n".to_string(),
            "a\t0\t3\t4\t5\n".to_string(),
            "a\t6\t3\t4\n".to_string(),
        ];
        for _ in 0..5000 {
            let count = 1 + next(6);
            let mut line: Vec<&str> = Vec::new();
            for i in 0..count {
                line.push(if i == 0 || next(3) == 0 {
                    fields[next(fields.len())]
                } else {
                    fields[4 + next(5)]
                });
            }
            lines.push(line.join("\t") + endings[next(endings.len())]);
        }
        let (mut ok, mut quick) = (0, 0);
        for text in &lines {
            let ours = parse_line(text).map(|(n, a, b, c)| (n.to_vec(), a, b, c));
            assert_eq!(ours, noodles_parse(text), "{text:?}");
            if let Some((n, a, b, c)) = quick_parse(text.as_bytes()) {
                assert_eq!(Ok((n.to_vec(), a, b, c)), ours, "{text:?}");
                quick += 1;
            }
            ok += usize::from(ours.is_ok());
        }
        assert!(ok > 50 && quick > 20, "{ok} lines parsed, {quick} quickly");
    }

    #[test]
    fn a_long_fai_streams_as_its_lines_parse() {
        // Lines across the reader's buffer's ends, some only `parse_line` reads.
        let mut text = String::new();
        let mut offset = 0u64;
        let mut want = Vec::new();
        for i in 0..6000u64 {
            let name = format!("r{i}{}", "x".repeat((i % 50) as usize));
            offset += name.len() as u64 + 2 + i % 3;
            let line = match i % 7 {
                0 => format!("{name}\t+10\t{offset}\t4\t5\r\n"),
                1 => format!("{name}\t10\t{offset}\t4\t5\r\n"),
                _ => format!("{name}\t10\t{offset}\t4\t5\n"),
            };
            let (n, seq_offset, end, ending) = parse_line(&line).unwrap();
            want.push((n.to_vec(), seq_offset, end, ending));
            text.push_str(&line);
            offset = end;
        }
        assert!(text.len() > 3 * 64 * 1024);
        let (fai, len) = fai_of(&text);
        let mut s = FaiStream::new(fai, len, offset);
        let mut got = Vec::new();
        while let Some(e) = s.next_entry().unwrap() {
            got.push((s.name().to_vec(), e.seq_offset, e.formula_end, e.ending));
        }
        assert_eq!(got, want);
    }

    #[test]
    fn sequence_ends_follow_the_fai_arithmetic() {
        assert_eq!(seq_end(3, 6, 4, 5), Some(3 + 5 + 3));
        assert_eq!(seq_end(3, 8, 4, 5), Some(3 + 10));
        assert_eq!(seq_end(6, 6, 4, 6), Some(6 + 6 + 4));
        assert_eq!(seq_end(0, 1, 0, 1), None);
        assert_eq!(seq_end(0, 1, 2, 1), None);
    }

    #[test]
    fn a_fai_that_describes_the_data_is_accepted() {
        let data = b"\n>a desc\nACGT\nAC\n\n>b\nAAA";
        let (fai, len) = fai_of("a\t6\t9\t4\t5\n\tb\t3\t21\t3\t4\n");
        // A .fai line with a leading tab is not this file's: refused.
        assert!(check(&fai, len, &mut data_of(data), data.len() as u64).is_err());
        let (fai, len) = fai_of("a\t6\t9\t4\t5\nb\t3\t21\t3\t4\n");
        assert_eq!(
            check(&fai, len, &mut data_of(data), data.len() as u64),
            Ok(2)
        );
        let mut s = FaiStream::new(fai, len, data.len() as u64);
        let a = s.next_entry().unwrap().unwrap();
        assert_eq!((a.start, a.end, s.name()), (0, 17, &b"a"[..]));
        let b = s.next_entry().unwrap().unwrap();
        assert_eq!(
            (b.start, b.end, b.formula_end, s.name()),
            (17, 24, 25, &b"b"[..])
        );
        assert_eq!(s.next_entry().unwrap(), None);
    }

    #[test]
    fn a_stream_can_start_at_any_offset() {
        let mut data = Vec::new();
        let mut text = String::new();
        for i in 0..40u64 {
            let header = format!(">r{i}\n");
            let length = 1 + i % 7;
            let offset = data.len() + header.len();
            data.extend_from_slice(header.as_bytes());
            data.extend_from_slice(&vec![b'A'; length as usize]);
            data.push(b'\n');
            text.push_str(&format!(
                "r{i}\t{length}\t{offset}\t{length}\t{}\n",
                length + 1
            ));
        }
        let (fai, len) = fai_of(&text);
        let n = data.len() as u64;
        let mut all = Vec::new();
        let mut s = FaiStream::new(Arc::clone(&fai), len, n);
        while let Some(e) = s.next_entry().unwrap() {
            all.push((e, s.name().to_vec()));
        }
        assert_eq!(all.len(), 40);
        for lo in 0..=n + 1 {
            let mut s = FaiStream::starting_at(Arc::clone(&fai), len, n, lo).unwrap();
            let got = s.next_entry().unwrap().map(|e| (e, s.name().to_vec()));
            let want = all.iter().find(|(e, _)| e.start >= lo).cloned();
            assert_eq!(got, want, "lo {lo}");
        }
    }

    #[test]
    fn a_fai_of_other_data_is_refused() {
        let data = b">a\nACGT\nAC\n>b\nAAA\n";
        let n = data.len() as u64;
        let refused = |text: &str| check(&fai_of(text).0, text.len() as u64, &mut data_of(data), n);
        assert_eq!(refused("a\t6\t3\t4\t5\nb\t3\t14\t3\t4\n"), Ok(2));
        // Another name, another offset, a record missing at the end, a record too many.
        assert!(refused("a\t6\t3\t4\t5\nc\t3\t14\t3\t4\n").is_err());
        assert!(refused("a\t6\t3\t4\t5\nb\t3\t15\t3\t4\n").is_err());
        assert!(refused("a\t6\t3\t4\t5\n").is_err());
        assert!(refused("a\t6\t3\t4\t5\nb\t3\t14\t3\t4\nc\t1\t30\t1\t2\n").is_err());
        assert!(refused("a\t6\t3\t4\t5\nb\t3\t14\t3\n").is_err());
        assert!(refused("not a fai\n").is_err());
    }
}
