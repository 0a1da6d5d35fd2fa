//! Building a `.ppi` for the line formats (FASTQ, lines, JSON lines) and the tables
//! (CSV, TSV), and reading what the catalog needs of a file before that: a table's
//! header, a JSON-lines file's first object. FASTA is `fasta.rs`.

use std::io::{self, Read, Write};

use crate::json::{self, FieldPool};
use crate::ppi::PpiWriter;
use crate::scan::{excerpt, is_blank, LineScanner};
use crate::table::RowScanner;

/// Why building stopped.
#[derive(Debug)]
pub(crate) enum BuildStop {
    /// Reading the data or writing the index failed.
    Io(io::Error),
    /// The data does not start as the format does: the line, what was expected, what
    /// is there.
    NotTheFormat(u64, &'static str, String),
    /// The data's structure is broken further on: the line and what is wrong.
    Malformed(u64, String),
}

impl From<io::Error> for BuildStop {
    fn from(e: io::Error) -> BuildStop {
        BuildStop::Io(e)
    }
}

/// What a build found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Built {
    /// The number of records.
    pub records: u64,
    /// The data's length.
    pub data_len: u64,
}

/// A FASTQ header's name (noodles-fastq's rule: after `@`, up to the first space or
/// tab).
/// A record's name as its ID, when it can be one: not empty, and UTF-8 text (an ID
/// of the outputs is text). A record without one is named `<file>:<line>` by the
/// index and failed, with the reason, when it is read.
pub(crate) fn usable_name(name: &[u8]) -> Option<&[u8]> {
    (!name.is_empty() && std::str::from_utf8(name).is_ok()).then_some(name)
}

pub(crate) fn fastq_name(after_at: &[u8]) -> &[u8] {
    let line = crate::scan::chomp(after_at);
    let end = line
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(line.len());
    &line[..end]
}

/// Indexes FASTQ: records of four lines (`@name`, sequence, `+`, quality), blank lines
/// between them belonging to the next. A last record missing lines is listed (reading
/// it fails); a broken structure before the end stops the build.
pub(crate) fn fastq<R: Read, W: Write>(
    mut lines: LineScanner<R>,
    ppi: &mut PpiWriter<W>,
) -> Result<Built, BuildStop> {
    let mut records = 0;
    let mut line_no = 0;
    let mut prev_end = 0;
    // The record being read: its header line, name, and how many lines it has.
    let mut cur: Option<(u64, Vec<u8>, u32)> = None;
    while let Some((offset, line)) = lines.next_line()? {
        line_no += 1;
        let end = offset + line.len() as u64;
        let Some((header_line, name, got)) = cur.as_mut() else {
            if is_blank(line) {
                continue;
            }
            if line[0] != b'@' {
                if records == 0 {
                    return Err(BuildStop::NotTheFormat(
                        line_no,
                        "a FASTQ header line starting with '@'",
                        excerpt(line),
                    ));
                }
                return Err(BuildStop::Malformed(
                    line_no,
                    format!(
                        "expected the header of a record (a line starting with '@'), found '{}': a FASTQ record is four lines (header, sequence, '+', quality); fix the file",
                        excerpt(line)
                    ),
                ));
            }
            cur = Some((line_no, fastq_name(&line[1..]).to_vec(), 1));
            continue;
        };
        *got += 1;
        if *got == 3 && line.first() != Some(&b'+') {
            return Err(BuildStop::Malformed(
                line_no,
                format!(
                    "expected the '+' line of record '{}' (line {header_line}), found '{}': a FASTQ record is four lines (header, sequence, '+', quality); fix the file",
                    String::from_utf8_lossy(name),
                    excerpt(line)
                ),
            ));
        }
        if *got == 4 {
            let named = usable_name(name);
            ppi.push(prev_end, end - prev_end, *header_line, named)?;
            prev_end = end;
            records += 1;
            cur = None;
        }
    }
    let data_len = lines.offset();
    if let Some((header_line, name, _)) = cur {
        // A truncated last record: listed, so that reading it says so.
        let named = usable_name(&name);
        ppi.push(prev_end, data_len - prev_end, header_line, named)?;
        records += 1;
    }
    Ok(Built { records, data_len })
}

/// Indexes plain text: every line that is not blank is a record named
/// `<file>:<line>`.
pub(crate) fn lines<R: Read, W: Write>(
    mut lines: LineScanner<R>,
    ppi: &mut PpiWriter<W>,
) -> Result<Built, BuildStop> {
    let mut records = 0;
    let mut line_no = 0;
    while let Some((offset, line)) = lines.next_line()? {
        line_no += 1;
        if !is_blank(line) {
            ppi.push(offset, line.len() as u64, line_no, None)?;
            records += 1;
        }
    }
    Ok(Built {
        records,
        data_len: lines.offset(),
    })
}

/// Indexes JSON lines: every line that is not blank is a record, named by its member
/// `member` (a line without a usable one is named `<file>:<line>`).
pub(crate) fn jsonl<R: Read, W: Write>(
    mut lines: LineScanner<R>,
    ppi: &mut PpiWriter<W>,
    member: &str,
) -> Result<Built, BuildStop> {
    let mut records = 0;
    let mut line_no = 0;
    while let Some((offset, line)) = lines.next_line()? {
        line_no += 1;
        if is_blank(line) {
            continue;
        }
        let id = json::find_id(line, member).ok().filter(|id| !id.is_empty());
        ppi.push(
            offset,
            line.len() as u64,
            line_no,
            id.as_deref().map(str::as_bytes),
        )?;
        records += 1;
    }
    Ok(Built {
        records,
        data_len: lines.offset(),
    })
}

/// Indexes CSV or TSV: every row after the header is a record, named by its field
/// `id_index` (a row without that field, or with it empty, is named `<file>:<line>`).
pub(crate) fn table<R: Read, W: Write>(
    mut rows: RowScanner<R>,
    ppi: &mut PpiWriter<W>,
    id_index: usize,
) -> Result<Built, BuildStop> {
    let mut records = 0;
    if rows.next_row()?.is_some() {
        while let Some(row) = rows.next_row()? {
            let id = rows.fields.get(id_index).filter(|id| !id.is_empty());
            let id = id.filter(|id| std::str::from_utf8(id).is_ok());
            ppi.push(row.offset, row.len, row.line, id)?;
            records += 1;
        }
    }
    Ok(Built {
        records,
        data_len: rows.offset(),
    })
}

/// A table's header: its column names (a UTF-8 byte order mark dropped) and its line;
/// `None` when the data has no rows.
pub(crate) fn table_header<R: Read>(src: R, tsv: bool) -> io::Result<Option<(Vec<String>, u64)>> {
    let mut rows = RowScanner::new(src, tsv, 64 * 1024);
    let Some(row) = rows.next_row()? else {
        return Ok(None);
    };
    let names = (0..rows.fields.len())
        .map(|i| {
            let name = rows.fields.get(i).unwrap_or_default();
            let name = if i == 0 {
                name.strip_prefix(b"\xef\xbb\xbf").unwrap_or(name)
            } else {
                name
            };
            String::from_utf8_lossy(name).into_owned()
        })
        .collect();
    Ok(Some((names, row.line)))
}

/// The first JSON-lines record of a file: its line, its start (for messages) and
/// its member names, or why it is not an object; `None` when the file has no line
/// that is not blank.
pub(crate) type FirstObject = (u64, String, Result<Vec<String>, String>);

/// Reads the [`FirstObject`] of JSON-lines data.
pub(crate) fn jsonl_first<R: Read>(src: R) -> io::Result<Option<FirstObject>> {
    let mut lines = LineScanner::new(src);
    let mut line_no = 0;
    while let Some((_, line)) = lines.next_line()? {
        line_no += 1;
        if is_blank(line) {
            continue;
        }
        let mut pool = FieldPool::default();
        let members = json::read_fields(line, "", &mut pool)
            .map(|_| pool.fields().iter().map(|(k, _)| k.clone()).collect());
        return Ok(Some((line_no, excerpt(line), members)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fileio::DataKey;
    use crate::ppi::PpiIndex;
    use polyplug_core::RecordFormat;

    /// The entries a build gives, as (name or "", offset, len, line).
    fn entries<F>(build: F) -> Vec<(String, u64, u64, u64)>
    where
        F: FnOnce(&mut PpiWriter<std::fs::File>) -> Result<Built, BuildStop>,
    {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let key = DataKey {
            size: 0,
            mtime_ns: 0,
            head: 0,
            tail: 0,
        };
        let mut ppi = PpiWriter::new(tmp.reopen().unwrap(), RecordFormat::Lines, &key, "").unwrap();
        let built = build(&mut ppi).unwrap();
        ppi.finish(built.data_len).unwrap();
        let index = PpiIndex::open(tmp.reopen().unwrap()).unwrap();
        let mut s = index.stream_from(0).unwrap();
        let mut out = Vec::new();
        while let Some(e) = s.next_entry().unwrap() {
            let name = String::from_utf8_lossy(s.name()).into_owned();
            out.push((name, e.offset, e.len, e.line));
        }
        assert_eq!(out.len() as u64, built.records);
        out
    }

    fn e(name: &str, offset: u64, len: u64, line: u64) -> (String, u64, u64, u64) {
        (name.to_string(), offset, len, line)
    }

    #[test]
    fn fastq_records_are_four_lines_and_a_truncated_last_one_is_listed() {
        let data = b"@r1 d\nACGT\n+\nIIII\n\n@r2\r\nAC\r\n+r2\r\nII\r\n@r3\nACGT\n+\n";
        let got = entries(|p| fastq(LineScanner::new(&data[..]), p));
        assert_eq!(
            got,
            [e("r1", 0, 18, 1), e("r2", 18, 19, 6), e("r3", 37, 11, 10)]
        );
        let got = entries(|p| fastq(LineScanner::new(&b"@r1\nAC\n+\nII"[..]), p));
        assert_eq!(got, [e("r1", 0, 11, 1)]);
    }

    #[test]
    fn fastq_that_is_not_fastq_is_refused_with_its_line() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let key = DataKey {
            size: 0,
            mtime_ns: 0,
            head: 0,
            tail: 0,
        };
        let mut ppi = PpiWriter::new(tmp.reopen().unwrap(), RecordFormat::Fastq, &key, "").unwrap();
        let r = fastq(LineScanner::new(&b"\n>r1\nACGT\n"[..]), &mut ppi);
        assert!(matches!(r, Err(BuildStop::NotTheFormat(2, _, ref f)) if f == ">r1"));
        let r = fastq(LineScanner::new(&b"@r1\nAC\nII\n@r2\n"[..]), &mut ppi);
        assert!(
            matches!(r, Err(BuildStop::Malformed(3, ref m)) if m.contains("'+' line of record 'r1'"))
        );
    }

    #[test]
    fn lines_skip_blank_lines() {
        let got = entries(|p| lines(LineScanner::new(&b"a\n\n \t\r\nb\r\nc"[..]), p));
        assert_eq!(got, [e("", 0, 2, 1), e("", 7, 3, 4), e("", 10, 1, 5)]);
    }

    #[test]
    fn jsonl_names_come_from_the_member() {
        let data =
            b"{\"id\": \"a\"}\n\n{\"id\": 2}\n[1]\n{\"x\": 1}\n{\"id\": \"\"}\n{\"id\": null}";
        let got = entries(|p| jsonl(LineScanner::new(&data[..]), p, "id"));
        let names: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(names, ["a", "2", "", "", "", ""]);
        assert_eq!(got[1], e("2", 13, 10, 3));
        let first = jsonl_first(&b"\n{\"k\": 1, \"id\": 2}\n"[..]).unwrap();
        let members = vec!["k".to_string(), "id".to_string()];
        assert_eq!(
            first,
            Some((2, "{\"k\": 1, \"id\": 2}".to_string(), Ok(members)))
        );
        assert!(matches!(
            jsonl_first(&b"oops\n"[..]).unwrap(),
            Some((1, _, Err(_)))
        ));
        assert_eq!(jsonl_first(&b"\n \n"[..]).unwrap(), None);
    }

    #[test]
    fn table_rows_are_named_by_their_id_field() {
        let data = b"\xef\xbb\xbfname,id\r\nx,a\r\ny\r\nz,\r\n\r\nw,\"b\"\r\n";
        let got = entries(|p| table(RowScanner::new(&data[..], false, 64), p, 1));
        assert_eq!(
            got,
            [
                e("a", 12, 5, 2),
                e("", 17, 3, 3),
                e("", 20, 4, 4),
                e("b", 26, 7, 6)
            ]
        );
        let header = table_header(&data[..], false).unwrap();
        assert_eq!(
            header,
            Some((vec!["name".to_string(), "id".to_string()], 1))
        );
        assert!(entries(|p| table(RowScanner::new(&b"id,v\n"[..], false, 64), p, 0)).is_empty());
        assert_eq!(table_header(&b""[..], true).unwrap(), None);
    }
}
