//! [`Reader`]: the worker side, reading records by key.

use std::fs::File;
use std::path::Path;

use polyplug_core::{CacheRoot, Record, RecordFormat, RecordRef, RecordSource};

use crate::build::{fastq_name, jsonl_first, table_header};
use crate::data::{self, Compression, Data, Gzi};
use crate::error::io_message;
use crate::fasta_record;
use crate::json::{read_fields, FieldPool};
use crate::place::{beside, in_cache};
use crate::scan::{chomp, is_blank};
use crate::table::{parse_row, parser, RowFields};

/// The longest record a key may ask for (a larger one is a damaged key).
const MAX_RECORD: u64 = 1 << 32;

/// What a file's IDs depend on: its header (CSV, TSV) and the ID column's index and
/// name (the member's name for JSONL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Columns {
    /// The header's names (CSV, TSV).
    pub header: Vec<String>,
    /// The ID column's index in the header.
    pub id_index: usize,
    /// The ID column or member's name.
    pub id_name: String,
}

/// One data file as the reader has it open.
struct Opened {
    data: Data,
    display: String,
    columns: Columns,
}

/// How many bytes a reader reads at a time when records are read in file order.
const WINDOW: usize = 64 * 1024;

/// Worker side: reads records by key. A worker process or thread has one; it opens
/// the files when first needed and keeps its buffers from one record to the next.
///
/// Records read in file order (a worker's batch, a shard) are read 64 KiB at a
/// time: a record that starts in, or shortly after, the bytes read for the one
/// before is read with the bytes after it, so that the next ones are there already.
/// One system call for many records instead of one each (about half of reading a
/// 2 KB record). A record read out of order is read alone, exactly its range.
pub struct Reader {
    source: RecordSource,
    files: Vec<Option<Result<Opened, String>>>,
    /// The bytes last read (a record, or a window of records): `window.2` bytes from
    /// byte `window.1` of file `window.0`.
    buf: Vec<u8>,
    window: Option<(u32, u64, usize)>,
    parser: Parser,
}

impl Reader {
    /// A reader of the records of `source`. Files are opened lazily; what a format
    /// needs of a file's start (a CSV/TSV header row, the first JSON-lines object
    /// when no ID member is given) is read when the file is opened. A BGZF file is
    /// read through its `.gzi`, looked for next to it, then in polyplug's cache folder
    /// (built in memory when neither has it).
    pub fn open(source: &RecordSource) -> Reader {
        Reader {
            source: source.clone(),
            files: Vec::new(),
            buf: Vec::new(),
            window: None,
            parser: Parser::new(source.format),
        }
    }

    /// Reads the record at `key` (one positional read of its range, or of the bytes
    /// from there on when records come in file order) and gives its bytes without the final line ending (for FASTA and FASTQ, without the
    /// blank lines before the header) and its fields. `name` is the record's name as
    /// the index gave it: the record read must be that record, else the file changed
    /// since it was indexed. `Err` is a one-line message about this record only.
    /// A [`RecordRef::Held`] record is given as it is.
    pub fn read(&mut self, key: &RecordRef, name: &str) -> Result<Record<'_>, String> {
        let (file, offset, len) = match key {
            RecordRef::Held(held) => {
                self.window = None;
                self.buf.clear();
                self.buf.extend_from_slice(&held.bytes);
                self.parser.pool.clear();
                for (k, v) in &held.fields {
                    self.parser.pool.add(k, v);
                }
                return Ok(Record {
                    bytes: &self.buf,
                    fields: self.parser.pool.fields(),
                    id: None,
                });
            }
            RecordRef::InFile { file, offset, len } => (*file, *offset, *len),
        };
        let format = self.source.format;
        let Reader {
            source,
            files,
            buf,
            window,
            parser,
        } = self;
        let opened = open_file(source, files, file)?;
        let at = Place {
            display: &opened.display,
            offset,
            name,
        };
        if len > MAX_RECORD {
            return Err(at.changed());
        }
        // The lines format checks that the byte before the record ends a line.
        let before = u64::from(format == RecordFormat::Lines && offset > 0);
        let want = (len + before) as usize;
        let lo = offset - before;
        let from = read_window(&mut opened.data, buf, window, file, lo, want)
            .map_err(|e| format!("{}: cannot read it ({})", opened.display, io_message(&e)))?
            .ok_or_else(|| at.changed())?;
        let (first, span) = buf[from..from + want].split_at(before as usize);
        let bytes = parser.parse(span, first.first().copied(), &at, &opened.columns)?;
        Ok(Record {
            bytes,
            fields: parser.pool.fields(),
            id: None,
        })
    }
}

/// Makes the `want` bytes from byte `lo` of file `file` be in `buf` (whose bytes are
/// described by `window`), and gives where they start in it: `None` when the data
/// ends before. They are there already when the record before held them; a record
/// that starts in the window or at most [`WINDOW`] bytes after it is read with the
/// [`WINDOW`] bytes after it (the bytes of the window from it on kept, the data read
/// on from the window's end, so that compressed data is read on, not sought); any
/// other is read alone.
fn read_window(
    data: &mut Data,
    buf: &mut Vec<u8>,
    window: &mut Option<(u32, u64, usize)>,
    file: u32,
    lo: u64,
    want: usize,
) -> std::io::Result<Option<usize>> {
    let hi = lo + want as u64;
    let (kept, read_from, size) = match *window {
        Some((f, start, n)) if f == file && start <= lo => {
            let end = start + n as u64;
            if hi <= end {
                return Ok(Some((lo - start) as usize));
            }
            if lo <= end {
                // The window's bytes from `lo` on go first.
                let skip = (lo - start) as usize;
                buf.copy_within(skip..n, 0);
                (n - skip, end, want.max(WINDOW))
            } else if lo - end <= WINDOW as u64 {
                (0, lo, want.max(WINDOW))
            } else {
                (0, lo, want)
            }
        }
        _ => (0, lo, want),
    };
    // Grown only: resizing down and up again would fill it with zeros each time.
    if buf.len() < size {
        buf.resize(size, 0);
    }
    *window = None;
    let n = kept + data.read_at(&mut buf[kept..size], read_from)?;
    *window = Some((file, lo, n));
    Ok((n >= want).then_some(0))
}

/// Opens file `file` of `source` into `files` (once; a failure is kept and given
/// again).
fn open_file<'f>(
    source: &RecordSource,
    files: &'f mut Vec<Option<Result<Opened, String>>>,
    file: u32,
) -> Result<&'f mut Opened, String> {
    let i = file as usize;
    let Some(path) = source.files.get(i) else {
        return Err(format!(
            "there is no file number {file} in this run (it has {}): the key is not this run's",
            source.files.len()
        ));
    };
    if files.len() <= i {
        files.resize_with(i + 1, || None);
    }
    let slot = files[i].get_or_insert_with(|| open_path(source, path));
    slot.as_mut().map_err(|e| e.clone())
}

/// The `.gzi` of the BGZF file `data` at `path`: next to it, in the cache folder, or
/// made in memory.
fn gzi_of(path: &Path, data: &File) -> std::io::Result<Gzi> {
    let mut places = vec![beside(path, "gzi")];
    if let Ok(root) = CacheRoot::from_env() {
        places.push(in_cache(&root.path, path, "gzi"));
    }
    for place in places {
        if let Ok(gzi) = File::open(place).and_then(Gzi::open) {
            return Ok(gzi);
        }
    }
    let size = data.metadata()?.len();
    Ok(Gzi::in_memory(&data::blocks(data, size, 0, 0)?.0))
}

fn open_path(source: &RecordSource, path: &Path) -> Result<Opened, String> {
    let display = path.display().to_string();
    let cannot = |e: &std::io::Error| format!("{display}: cannot read it ({})", io_message(e));
    let file = File::open(path).map_err(|e| cannot(&e))?;
    let compression = data::compression_of(&file).map_err(|e| cannot(&e))?;
    let gzi = match compression {
        Compression::Bgzf => Some(gzi_of(path, &file).map_err(|e| cannot(&e))?),
        _ => None,
    };
    let stream = || -> Result<_, String> {
        let owned = file.try_clone().map_err(|e| cannot(&e))?;
        Ok(data::stream(owned, compression))
    };
    let mut columns = Columns {
        id_name: source.id_column.clone().unwrap_or_default(),
        ..Columns::default()
    };
    match source.format {
        RecordFormat::Csv | RecordFormat::Tsv => {
            let tsv = source.format == RecordFormat::Tsv;
            let header = table_header(stream()?, tsv).map_err(|e| cannot(&e))?;
            if let Some((names, _)) = header {
                columns.id_index = match &source.id_column {
                    Some(c) => names.iter().position(|n| n == c).ok_or_else(|| {
                        format!("{display}: there is no column '{c}' any more: the file changed since it was indexed; run again to index it anew")
                    })?,
                    None => 0,
                };
                columns.id_name = names[columns.id_index].clone();
                columns.header = names;
            }
        }
        RecordFormat::Jsonl if source.id_column.is_none() => {
            let first = jsonl_first(stream()?).map_err(|e| cannot(&e))?;
            if let Some((_, _, Ok(members))) = first {
                columns.id_name = members.into_iter().next().unwrap_or_default();
            }
        }
        _ => {}
    }
    let data = Data::new(file, compression, gzi).map_err(|e| cannot(&e))?;
    Ok(Opened {
        data,
        display,
        columns,
    })
}

/// Parses records of one format from their spans, keeping its buffers from one record
/// to the next (the reader's, and the catalog's for plain gzip files).
pub(crate) struct Parser {
    format: RecordFormat,
    seq: Vec<u8>,
    pool: FieldPool,
    fastq: noodles_fastq::Record,
    csv: csv_core::Reader,
    row: RowFields,
}

impl Parser {
    /// A parser of records of `format`.
    pub(crate) fn new(format: RecordFormat) -> Parser {
        Parser {
            format,
            seq: Vec::new(),
            pool: FieldPool::default(),
            fastq: noodles_fastq::Record::default(),
            csv: parser(format == RecordFormat::Tsv),
            row: RowFields::default(),
        }
    }

    /// The fields of the record last parsed.
    pub(crate) fn fields(&self) -> &[(String, String)] {
        self.pool.fields()
    }

    /// Parses the record `at.name` from its `span` (`before`: the byte before it, for
    /// the lines format) in a file of `columns`; gives its bytes, its fields staying
    /// in the parser. `Err` is the message about this record.
    pub(crate) fn parse<'s>(
        &mut self,
        span: &'s [u8],
        before: Option<u8>,
        at: &Place<'_>,
        columns: &Columns,
    ) -> Result<&'s [u8], String> {
        let Parser {
            format,
            seq,
            pool,
            fastq,
            csv,
            row,
        } = self;
        pool.clear();
        Ok(match format {
            RecordFormat::Lines => {
                let inner = &span[..span.len().saturating_sub(1)];
                if before.is_some_and(|b| b != b'\n')
                    || memchr::memchr(b'\n', inner).is_some()
                    || is_blank(span)
                {
                    return Err(at.changed());
                }
                chomp(span)
            }
            RecordFormat::Fasta => {
                seq.clear();
                let parsed = fasta_record::parse(span, seq).map_err(|_| at.changed())?;
                if parsed.name.is_empty() {
                    return Err(match at.line() {
                        Some(line) => format!("{}: the header at line {line} has no name: give every record a name after '>'", at.display),
                        None => at.changed(),
                    });
                }
                if std::str::from_utf8(parsed.name).is_err() {
                    return Err(match at.line() {
                        Some(line) => format!("{}: the name of the header at line {line} is not UTF-8 text: convert the file to UTF-8", at.display),
                        None => at.changed(),
                    });
                }
                // The name is UTF-8 (checked above): its bytes are the index's.
                if parsed.name != at.name.as_bytes() {
                    return Err(at.changed());
                }
                // The sequence goes into the fields without a copy: its buffer is
                // swapped with the one of a field no longer needed.
                let mut sequence = String::from_utf8(std::mem::take(seq)).map_err(|e| {
                    *seq = e.into_bytes();
                    format!(
                        "{}: the sequence of record '{}' is not text (UTF-8)",
                        at.display, at.name
                    )
                })?;
                pool.add("description", &String::from_utf8_lossy(parsed.description));
                pool.add_swapped("sequence", &mut sequence);
                *seq = sequence.into_bytes();
                parsed.bytes
            }
            RecordFormat::Fastq => read_fastq(span, at, fastq, pool)?,
            RecordFormat::Jsonl => {
                let line = chomp(span);
                if memchr::memchr(b'\n', line).is_some() {
                    return Err(at.changed());
                }
                check_json(line, at, &columns.id_name, pool)?;
                line
            }
            RecordFormat::Csv | RecordFormat::Tsv => {
                if !parse_row(csv, span, row) {
                    return Err(at.changed());
                }
                check_row(row, at, columns, pool)?;
                chomp(span)
            }
        })
    }
}

/// Where a record is, for messages.
pub(crate) struct Place<'a> {
    /// The file, as given.
    pub display: &'a str,
    /// The record's offset.
    pub offset: u64,
    /// Its name, as the index gives it.
    pub name: &'a str,
}

impl Place<'_> {
    /// The message for a record that is not the one indexed.
    fn changed(&self) -> String {
        format!(
            "{}: the record at byte {} is not '{}' any more: the file changed since it was indexed; run again to index it anew",
            self.display, self.offset, self.name
        )
    }

    /// The line of a record named `<file>:<line>` (one without a usable ID).
    fn line(&self) -> Option<u64> {
        self.name
            .strip_prefix(self.display)?
            .strip_prefix(':')?
            .parse()
            .ok()
    }
}

/// Reads a FASTQ record with noodles-fastq, after checking it has its four lines.
fn read_fastq<'s>(
    span: &'s [u8],
    at: &Place<'_>,
    record: &mut noodles_fastq::Record,
    pool: &mut FieldPool,
) -> Result<&'s [u8], String> {
    // Its lines, blank ones before the header skipped.
    let mut lines: [&[u8]; 4] = [&[]; 4];
    let mut count = 0;
    let mut start = None;
    let mut end = 0;
    let mut pos = 0;
    while pos < span.len() {
        let line_end = memchr::memchr(b'\n', &span[pos..]).map_or(span.len(), |i| pos + i + 1);
        let line = &span[pos..line_end];
        if start.is_none() && is_blank(line) {
            pos = line_end;
            continue;
        }
        if count == 4 {
            return Err(at.changed());
        }
        start.get_or_insert(pos);
        lines[count] = line;
        count += 1;
        end = line_end;
        pos = line_end;
    }
    let Some(start) = start else {
        return Err(at.changed());
    };
    let header = lines[0];
    let name = fastq_name(header.get(1..).unwrap_or_default());
    if header[0] == b'@' && std::str::from_utf8(name).is_err() {
        if let Some(line) = at.line() {
            return Err(format!(
                "{}: the name of the header at line {line} is not UTF-8 text: convert the \
                 file to UTF-8",
                at.display
            ));
        }
    }
    if header[0] != b'@' || String::from_utf8_lossy(name) != at.name {
        return Err(at.changed());
    }
    let name = at.name;
    let truncated = |what: &str| format!("{}: record '{name}' is truncated: {what}", at.display);
    match count {
        1 => return Err(truncated("no sequence line")),
        2 => return Err(truncated("no '+' line")),
        3 => return Err(truncated("no quality line")),
        _ => {}
    }
    noodles_fastq::io::Reader::new(&span[start..end])
        .read_record(record)
        .map_err(|_| at.changed())?;
    let (sequence, quality) = (record.sequence(), record.quality_scores());
    if quality.len() < sequence.len() {
        return Err(truncated(&format!(
            "its quality line has {} letters, its sequence {}",
            quality.len(),
            sequence.len()
        )));
    }
    if quality.len() > sequence.len() {
        return Err(format!(
            "{}: record '{name}' has a quality line of {} letters for a sequence of {}: fix the file",
            at.display,
            quality.len(),
            sequence.len()
        ));
    }
    fn text<'b>(bytes: &'b [u8], what: &str, name: &str, display: &str) -> Result<&'b str, String> {
        std::str::from_utf8(bytes).map_err(|_| {
            format!(
                "{}: the {what} of record '{name}' is not text (UTF-8)",
                display
            )
        })
    }
    let description: &[u8] = record.description();
    pool.add(
        "description",
        &String::from_utf8_lossy(fasta_record::trim(description)),
    );
    pool.add("sequence", text(sequence, "sequence", name, at.display)?);
    pool.add("quality", text(quality, "quality line", name, at.display)?);
    Ok(chomp(&span[start..end]))
}

/// Parses a JSON-lines record into `pool` and checks its ID.
fn check_json(
    line: &[u8],
    at: &Place<'_>,
    member: &str,
    pool: &mut FieldPool,
) -> Result<(), String> {
    let positional = at.line();
    let problem = match read_fields(line, member, pool) {
        Err(e) => format!("is not a JSON object ({e})"),
        Ok(Some((i, Ok(())))) => {
            let id = &pool.fields()[i].1;
            if !id.is_empty() && id == at.name {
                return Ok(());
            }
            format!("has an empty '{member}'")
        }
        Ok(Some((_, Err(json)))) => {
            format!("has '{member}': {json}, which is not a string or a number")
        }
        Ok(None) => format!("has no member '{member}' to take its ID from"),
    };
    match positional {
        Some(line) => Err(format!("{}: line {line} {problem}", at.display)),
        None => Err(at.changed()),
    }
}

/// Checks a CSV/TSV row's ID and field count, and puts its fields in `pool`.
fn check_row(
    row: &RowFields,
    at: &Place<'_>,
    opened: &Columns,
    pool: &mut FieldPool,
) -> Result<(), String> {
    let columns = opened.header.len();
    let id = row.get(opened.id_index).filter(|id| !id.is_empty());
    let named = id.is_some_and(|id| std::str::from_utf8(id) == Ok(at.name));
    if !named {
        let Some(line) = at.line() else {
            return Err(at.changed());
        };
        let problem = match id {
            _ if row.len() <= opened.id_index => {
                format!(
                    "has {} field{}, the header {columns}",
                    row.len(),
                    if row.len() == 1 { "" } else { "s" }
                )
            }
            None => format!("has an empty ID in column '{}'", opened.id_name),
            Some(_) => "has an ID that is not text (UTF-8)".to_string(),
        };
        return Err(format!("{}: line {line} {problem}", at.display));
    }
    if row.len() != columns {
        return Err(format!(
            "{}: the row '{}' has {} field{}, the header {columns}",
            at.display,
            at.name,
            row.len(),
            if row.len() == 1 { "" } else { "s" }
        ));
    }
    for (i, column) in opened.header.iter().enumerate() {
        let value = row.get(i).unwrap_or_default();
        let value = std::str::from_utf8(value).map_err(|_| {
            format!(
                "{}: in row '{}', column '{column}' is not text (UTF-8)",
                at.display, at.name
            )
        })?;
        pool.add(column, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn windows_give_the_bytes_asked_for_and_no_others() {
        // No byte of the data is 0xff: the bytes past a window are made 0xff before
        // each read, so that a read that gives any of them shows.
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let len = data.len() as u64;
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&data).unwrap();
        let mut plain = Data::Plain(file);
        let (mut buf, mut window) = (Vec::new(), None);
        let mut below = crate::tests::xorshift(0x9e37_79b9_7f4a_7c15);
        let (mut lo, mut hits) = (0u64, 0);
        for _ in 0..20_000 {
            let want = match below(20) {
                0 => below(200_000),
                _ => 1 + below(3_000),
            } as usize;
            lo = match below(10) {
                0 => below(len),
                1 => lo.saturating_sub(below(5_000)),
                2 => lo + below(100_000),
                _ => lo + below(3_000),
            };
            if lo >= len {
                lo = below(len);
            }
            let mut want = want;
            // Often a record ending about where the window ends.
            if let (Some((0, start, n)), 0) = (window, below(3)) {
                let (start, n): (u64, usize) = (start, n);
                let end = start + n as u64;
                lo = (start + below(n as u64 + 1)).min(len - 1);
                want = ((end + below(4)).max(lo + 3) - 1 - lo) as usize;
            }
            // Another file at times: its window is not this one's.
            let file = u32::from(below(50) == 0);
            if let Some((_, _, n)) = window {
                buf[n..].fill(0xff);
            }
            let was = window;
            let got = read_window(&mut plain, &mut buf, &mut window, file, lo, want).unwrap();
            let end = lo as usize + want;
            match got {
                Some(from) => {
                    assert_eq!(&buf[from..from + want], &data[lo as usize..end]);
                    hits += usize::from(window == was);
                }
                None => assert!(end > data.len()),
            }
        }
        assert!(hits > 5_000, "{hits} read from the window");
    }
}
