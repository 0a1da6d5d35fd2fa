//! CSV and TSV: rows read with `csv-core` (the parser of the `csv` crate, used
//! directly because it says exactly how many bytes each row takes and parses into
//! buffers the caller keeps, so reading a row allocates nothing).
//!
//! CSV follows RFC 4180 (quoted fields may hold delimiters, quotes doubled and line
//! ends); TSV splits on tabs with no quoting. The first non-blank row is the header.
//! Lines holding only whitespace between rows are not rows. `\n`, `\r\n` (and a lone
//! `\r`) end a row; a row's span includes its line ending.

use std::io::{self, Read};

use csv_core::{ReadRecordResult, ReaderBuilder};
use memchr::memchr;

use crate::scan::is_blank;

/// A `csv-core` reader for CSV or TSV.
pub(crate) fn parser(tsv: bool) -> csv_core::Reader {
    if tsv {
        ReaderBuilder::new().delimiter(b'\t').quoting(false).build()
    } else {
        ReaderBuilder::new().build()
    }
}

/// A row's fields: the unescaped bytes and where each field ends.
#[derive(Debug, Default)]
pub(crate) struct RowFields {
    out: Vec<u8>,
    ends: Vec<usize>,
    count: usize,
    written: usize,
}

impl RowFields {
    /// The number of fields.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Field `i` (`None` past the last).
    pub(crate) fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.count {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.out[start..self.ends[i]])
    }

    /// Starts a new row.
    fn clear(&mut self, csv: &mut csv_core::Reader) {
        csv.reset();
        self.count = 0;
        self.written = 0;
        if self.out.is_empty() {
            self.out.resize(1024, 0);
            self.ends.resize(64, 0);
        }
    }

    /// Goes on parsing the row with `input` (at the end of the data when `eof`).
    /// Gives where parsing stopped (`Record`: the row is complete) and how many bytes
    /// of `input` it took.
    fn parse(
        &mut self,
        csv: &mut csv_core::Reader,
        input: &[u8],
        eof: bool,
    ) -> (ReadRecordResult, usize) {
        let mut used = 0;
        loop {
            // csv-core takes an empty input as the end of the data.
            let rest = &input[used..];
            if rest.is_empty() && !eof {
                return (ReadRecordResult::InputEmpty, used);
            }
            let (res, nin, nout, nend) = csv.read_record(
                rest,
                &mut self.out[self.written..],
                &mut self.ends[self.count..],
            );
            // `ends` count from the row's first output byte, across calls.
            self.count += nend;
            self.written += nout;
            used += nin;
            match res {
                ReadRecordResult::OutputFull => {
                    let n = self.out.len() * 2;
                    self.out.resize(n, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0);
                }
                ReadRecordResult::InputEmpty if used < input.len() || eof => {}
                res => return (res, used),
            }
        }
    }
}

/// A parsed row: where it is and its fields (in the scanner's [`RowFields`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Row {
    /// The offset of its first byte.
    pub offset: u64,
    /// Its length, line ending included.
    pub len: u64,
    /// The 1-based line it starts on.
    pub line: u64,
}

/// Reads the rows of CSV or TSV data one after the other.
pub(crate) struct RowScanner<R> {
    src: R,
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
    offset: u64,
    line: u64,
    eof: bool,
    /// The last byte taken.
    last: u8,
    csv: csv_core::Reader,
    /// The fields of the row last given.
    pub fields: RowFields,
}

impl<R: Read> RowScanner<R> {
    /// A scanner of `src` from its start, with a first buffer of `capacity` bytes.
    pub(crate) fn new(src: R, tsv: bool, capacity: usize) -> RowScanner<R> {
        RowScanner {
            src,
            buf: vec![0; capacity.max(64)],
            lo: 0,
            hi: 0,
            offset: 0,
            line: 1,
            eof: false,
            last: 0,
            csv: parser(tsv),
            fields: RowFields::default(),
        }
    }

    /// The offset after the last row given (at the end: the data's length).
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    fn refill(&mut self) -> io::Result<()> {
        if self.lo > 0 {
            self.buf.copy_within(self.lo..self.hi, 0);
            self.hi -= self.lo;
            self.lo = 0;
        }
        if self.hi == self.buf.len() {
            let n = self.buf.len() * 2;
            self.buf.resize(n, 0);
        }
        loop {
            match self.src.read(&mut self.buf[self.hi..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.hi += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn advance(&mut self, n: usize) {
        let taken = &self.buf[self.lo..self.lo + n];
        self.line += memchr::memchr_iter(b'\n', taken).count() as u64;
        if let Some(&b) = taken.last() {
            self.last = b;
        }
        self.lo += n;
        self.offset += n as u64;
    }

    /// Skips blank lines; `Ok(false)` at the end of the data.
    fn skip_blank_lines(&mut self) -> io::Result<bool> {
        loop {
            match memchr(b'\n', &self.buf[self.lo..self.hi]) {
                Some(i) if is_blank(&self.buf[self.lo..self.lo + i]) => self.advance(i + 1),
                Some(_) => return Ok(true),
                None if self.eof => {
                    let rest = self.hi - self.lo;
                    if is_blank(&self.buf[self.lo..self.hi]) {
                        self.advance(rest);
                        return Ok(false);
                    }
                    return Ok(true);
                }
                None => self.refill()?,
            }
        }
    }

    /// The next row (its fields in [`RowScanner::fields`]), `None` at the end.
    pub(crate) fn next_row(&mut self) -> io::Result<Option<Row>> {
        if !self.skip_blank_lines()? {
            return Ok(None);
        }
        let (offset, line) = (self.offset, self.line);
        self.fields.clear(&mut self.csv);
        loop {
            let input = &self.buf[self.lo..self.hi];
            let (res, used) = self.fields.parse(&mut self.csv, input, self.eof);
            self.advance(used);
            match res {
                ReadRecordResult::Record => {
                    // csv-core ends a row at the `\r` of `\r\n`: take the `\n` too.
                    if self.last == b'\r' {
                        if self.lo == self.hi && !self.eof {
                            self.refill()?;
                        }
                        if self.lo < self.hi && self.buf[self.lo] == b'\n' {
                            self.advance(1);
                        }
                    }
                    let len = self.offset - offset;
                    return Ok(Some(Row { offset, len, line }));
                }
                ReadRecordResult::End => return Ok(None),
                _ => self.refill()?,
            }
        }
    }
}

/// Parses the one row in `bytes` (its span, line ending dropped or not) into
/// `fields`; `false` when `bytes` holds more than one row.
pub(crate) fn parse_row(csv: &mut csv_core::Reader, bytes: &[u8], fields: &mut RowFields) -> bool {
    fields.clear(csv);
    let (res, used) = fields.parse(csv, bytes, true);
    let rest = &bytes[used..];
    res == ReadRecordResult::Record && (rest.is_empty() || rest == b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(data: &[u8], tsv: bool, capacity: usize) -> Vec<(Row, Vec<String>)> {
        let mut s = RowScanner::new(data, tsv, capacity);
        let mut out = Vec::new();
        while let Some(row) = s.next_row().unwrap() {
            let fields = (0..s.fields.len())
                .map(|i| String::from_utf8(s.fields.get(i).unwrap().to_vec()).unwrap())
                .collect();
            out.push((row, fields));
        }
        assert_eq!(s.offset(), data.len() as u64);
        out
    }

    fn r(offset: u64, len: u64, line: u64) -> Row {
        Row { offset, len, line }
    }

    #[test]
    fn csv_rows_with_quotes_blank_lines_and_crlf() {
        let data = b"id,text\r\n\r\na,\"x, \"\"y\"\"\"\r\n  \nb,\"two\nlines\"\nc,last";
        for capacity in [64, 4096] {
            let got = rows(data, false, capacity);
            assert_eq!(got.len(), 4);
            assert_eq!(got[0], (r(0, 9, 1), vec!["id".into(), "text".into()]));
            assert_eq!(got[1], (r(11, 14, 3), vec!["a".into(), "x, \"y\"".into()]));
            assert_eq!(
                got[2],
                (r(28, 14, 5), vec!["b".into(), "two\nlines".into()])
            );
            assert_eq!(got[3], (r(42, 6, 7), vec!["c".into(), "last".into()]));
        }
    }

    #[test]
    fn tsv_rows_have_no_quoting() {
        let got = rows(b"id\tv\n\"a\t\"b\n", true, 64);
        assert_eq!(got[1].1, vec!["\"a".to_string(), "\"b".to_string()]);
    }

    #[test]
    fn one_row_parses_alone() {
        let mut csv = parser(false);
        let mut fields = RowFields::default();
        assert!(parse_row(&mut csv, b"a,\"b\nc\",d", &mut fields));
        assert_eq!(fields.len(), 3);
        assert_eq!(fields.get(1), Some(&b"b\nc"[..]));
        assert!(parse_row(&mut csv, b"a,b\r\n", &mut fields));
        assert_eq!((fields.len(), fields.get(1)), (2, Some(&b"b"[..])));
        assert!(!parse_row(&mut csv, b"a,b\nc,d", &mut fields));
    }
}
