//! Prenacs' output formats: results TSV `<id>\t<v1>\t<v2>…`, logs TSV `<id>\t<message>`.

use crate::run::{EntityResult, Recorder};
use polyplug_core::{Entity, Value};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Writes results and logs as `prenacs batch-compute` does, byte for byte: values as
/// Python's `str()` writes them, one row per entity with a result, one log row per
/// message, and a failed entity as a log row `<id>\terror: <message>`.
///
/// Where Prenacs would write a broken row, polyplug keeps the row whole: a TAB or
/// newline inside a string value is written as `\t` or `\n`, and a log message with
/// newlines becomes one log row per line.
pub struct TsvWriter<'a> {
    out: Box<dyn Write + 'a>,
    log: Box<dyn Write + 'a>,
    line: String,
}

impl<'a> TsvWriter<'a> {
    /// A writer to these two outputs (they may be the same file).
    pub fn new(out: Box<dyn Write + 'a>, log: Box<dyn Write + 'a>) -> TsvWriter<'a> {
        TsvWriter {
            out,
            log,
            line: String::new(),
        }
    }

    fn write_logs(&mut self, id: &str, logs: &[String]) -> std::io::Result<()> {
        for message in logs {
            for part in message.split('\n') {
                let part = part.strip_suffix('\r').unwrap_or(part);
                if !part.is_empty() {
                    self.line.clear();
                    push_id(&mut self.line, id);
                    self.line.push('\t');
                    self.line.push_str(part);
                    self.line.push('\n');
                    self.log.write_all(self.line.as_bytes())?;
                }
            }
        }
        Ok(())
    }
}

impl Recorder for TsvWriter<'_> {
    fn record(&mut self, entity: &Entity, result: &EntityResult) -> std::io::Result<()> {
        match result {
            Ok(out) => {
                if !out.values.is_empty() {
                    self.line.clear();
                    push_id(&mut self.line, &entity.id);
                    for v in &out.values {
                        self.line.push('\t');
                        let start = self.line.len();
                        v.write_py_str(&mut self.line);
                        // Only text can hold a TAB or a line break (numbers, None and
                        // booleans cannot).
                        let text = matches!(v, Value::Str(_) | Value::List(_));
                        if text && self.line[start..].contains(['\t', '\n', '\r']) {
                            let escaped = self.line[start..]
                                .replace('\t', "\\t")
                                .replace('\n', "\\n")
                                .replace('\r', "\\r");
                            self.line.truncate(start);
                            self.line.push_str(&escaped);
                        }
                    }
                    self.line.push('\n');
                    self.out.write_all(self.line.as_bytes())?;
                }
                self.write_logs(&entity.id, &out.logs)
            }
            Err(e) => {
                self.write_logs(&entity.id, &e.logs)?;
                let message = e.message.replace(['\n', '\r'], " ");
                self.write_logs(&entity.id, &[format!("error: {message}")])
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        self.log.flush()
    }
}

/// Appends an entity ID to a row. An ID holding a TAB, newline, carriage return or
/// backslash is written escaped (`\t`, `\n`, `\r`, `\\`), so that every row is one
/// line whose first field is the ID; [`unescape_id`] reads it back (a results file
/// is its own skip list). Other IDs are written as they are, as Prenacs writes them.
pub fn push_id(line: &mut String, id: &str) {
    if !needs_escape(id.as_bytes()) {
        line.push_str(id);
        return;
    }
    for c in id.chars() {
        match c {
            '\t' => line.push_str("\\t"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\\' => line.push_str("\\\\"),
            c => line.push(c),
        }
    }
}

/// Whether an ID holds a byte [`push_id`] escapes. Every byte is looked at, without
/// an early exit, 16 at a time (the last few in a zeroed block), so that the loop is
/// vector instructions even for a short ID: most IDs need no escape.
fn needs_escape(id: &[u8]) -> bool {
    #[inline]
    fn any(block: &[u8; 16]) -> bool {
        // Comparisons and ORs of bytes, which become one vector instruction each.
        let mut hits = 0u8;
        for &b in block {
            hits |= u8::from(b == b'\t')
                | u8::from(b == b'\n')
                | u8::from(b == b'\r')
                | u8::from(b == b'\\');
        }
        hits != 0
    }
    let mut blocks = id.chunks_exact(16);
    let mut found = false;
    for block in &mut blocks {
        found |= block.try_into().is_ok_and(any);
    }
    let rest = blocks.remainder();
    let mut last = [0u8; 16];
    last[..rest.len()].copy_from_slice(rest);
    found | any(&last)
}

/// The ID of a row's first field, as [`push_id`] wrote it.
pub fn unescape_id(field: &str) -> std::borrow::Cow<'_, str> {
    if !field.contains('\\') {
        return std::borrow::Cow::Borrowed(field);
    }
    let mut id = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            id.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => id.push('\t'),
            Some('n') => id.push('\n'),
            Some('r') => id.push('\r'),
            Some(other) => {
                // Not an escape polyplug writes (a file of another tool): as it is.
                id.push('\\');
                if other != '\\' {
                    id.push(other);
                }
            }
            None => id.push('\\'),
        }
    }
    std::borrow::Cow::Owned(id)
}

/// Opens a results file for appending, as `-o` does. If a previous run was killed in
/// the middle of a row, the incomplete last row is cut off first (its entity is not in
/// the skip list then, and will be computed again). Returns the file and the number of
/// bytes removed.
pub fn open_for_append(path: &Path) -> std::io::Result<(File, u64)> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    let len = file.metadata()?.len();
    let mut removed = 0;
    if len > 0 {
        // Find the last newline, reading backwards in chunks.
        let mut end = len;
        let mut keep = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        'search: while end > 0 {
            let start = end.saturating_sub(buf.len() as u64);
            let n = (end - start) as usize;
            file.seek(SeekFrom::Start(start))?;
            file.read_exact(&mut buf[..n])?;
            if let Some(pos) = memchr::memrchr(b'\n', &buf[..n]) {
                keep = start + pos as u64 + 1;
                break 'search;
            }
            end = start;
        }
        if keep < len {
            file.set_len(keep)?;
            removed = len - keep;
        }
    }
    Ok((file, removed))
}

/// How many fields a results row of a plugin has: its ID, then its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFields {
    /// Exactly this many (the attribute definitions fix the columns).
    Exactly(usize),
    /// At least this many (one per OUTPUT attribute, an attribute may span more).
    AtLeast(usize),
}

impl std::fmt::Display for RowFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowFields::Exactly(n) => write!(f, "exactly {n}"),
            RowFields::AtLeast(n) => write!(f, "at least {n}"),
        }
    }
}

/// An existing `-o` file that is not a results file of the plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotResults {
    /// Bytes that are not UTF-8 text (or hold NUL).
    #[error(
        "{}: line {line}: not a results file (not text); give another -o file",
        path.display()
    )]
    NotText {
        /// The file.
        path: std::path::PathBuf,
        /// 1-based line.
        line: u64,
    },
    /// A row with another number of fields.
    #[error(
        "{}: line {line}: {found} field(s), a results row of plugin {plugin} has {fields}; \
         is this another plugin's results file? give another -o file",
        path.display()
    )]
    Fields {
        /// The file.
        path: std::path::PathBuf,
        /// 1-based line.
        line: u64,
        /// Fields on the line.
        found: usize,
        /// What the plugin's rows have.
        fields: RowFields,
        /// The plugin ID.
        plugin: String,
    },
    /// The file cannot be read.
    #[error("{}: cannot read the results file: {why}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The system's reason.
        why: String,
    },
}

/// Checks, before a run appends to it, that an existing `-o` file holds results rows
/// of the plugin: text, every complete line with the plugin's number of fields. (An
/// incomplete last line, left by a killed run, is cut by [`open_for_append`]; it only
/// has to be text.) A missing or empty file is fine.
pub fn check_results_file(path: &Path, fields: RowFields, plugin: &str) -> Result<(), NotResults> {
    use std::io::BufRead;
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(NotResults::Read {
                path: path.to_path_buf(),
                why: e.to_string(),
            })
        }
    };
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| NotResults::Read {
                path: path.to_path_buf(),
                why: e.to_string(),
            })?;
        if n == 0 {
            return Ok(());
        }
        number += 1;
        let complete = line.last() == Some(&b'\n');
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.contains(&0) || std::str::from_utf8(text).is_err() {
            return Err(NotResults::NotText {
                path: path.to_path_buf(),
                line: number,
            });
        }
        if !complete || text.is_empty() {
            continue;
        }
        let found = memchr::memchr_iter(b'\t', text).count() + 1;
        let fits = match fields {
            RowFields::Exactly(k) => found == k,
            RowFields::AtLeast(k) => found >= k,
        };
        if !fits {
            return Err(NotResults::Fields {
                path: path.to_path_buf(),
                line: number,
                found,
                fields,
                plugin: plugin.to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polyplug_core::{EntityError, Outcome, Value};

    #[test]
    fn rows_look_like_prenacs() {
        let mut out = Vec::new();
        let mut log = Vec::new();
        {
            let mut w = TsvWriter::new(Box::new(&mut out), Box::new(&mut log));
            let e = Entity::same("x y");
            let done = Ok(Outcome {
                values: vec![
                    Value::Int(800),
                    Value::Float(0.41),
                    Value::Float(1e-5),
                    Value::Str("a\tb".into()),
                ],
                logs: vec!["k\tmsg".into(), "two\nlines".into(), String::new()],
            });
            w.record(&e, &done).unwrap();
            let failed = Err(EntityError::new("bad\nthing"));
            w.record(&e, &failed).unwrap();
            w.record(&e, &Ok(Outcome::default())).unwrap();
            w.flush().unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "x y\t800\t0.41\t1e-05\ta\\tb\n"
        );
        assert_eq!(
            String::from_utf8(log).unwrap(),
            "x y\tk\tmsg\nx y\ttwo\nx y\tlines\nx y\terror: bad thing\n"
        );
    }

    #[test]
    fn an_incomplete_last_row_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.tsv");
        std::fs::write(&p, "a\t1\nb\t2\nc\t").unwrap();
        let (_, removed) = open_for_append(&p).unwrap();
        assert_eq!(removed, 2);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "a\t1\nb\t2\n");
        std::fs::write(&p, "partial").unwrap();
        let (_, removed) = open_for_append(&p).unwrap();
        assert_eq!(removed, 7);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "");
    }

    #[test]
    fn an_escape_is_needed_wherever_its_byte_is() {
        for len in [0, 1, 15, 16, 17, 31, 32, 33, 40] {
            let plain = vec![b'a'; len];
            assert!(!needs_escape(&plain), "{len}");
            for at in 0..len {
                for special in [b'\t', b'\n', b'\r', b'\\'] {
                    let mut id = plain.clone();
                    id[at] = special;
                    assert!(needs_escape(&id), "{len} {at} {special}");
                }
            }
        }
    }

    #[test]
    fn ids_are_escaped_so_that_rows_stay_whole_and_read_back() {
        for id in [
            "plain", "a\tb", "n\nl", "c\rr", "b\\s", "\\t", "\\", "é\t\\\n",
        ] {
            let mut line = String::new();
            push_id(&mut line, id);
            assert!(!line.contains(['\t', '\n', '\r']), "{line:?}");
            assert_eq!(unescape_id(&line), id, "{line:?}");
        }
        let mut line = String::new();
        push_id(&mut line, "x y");
        assert_eq!(line, "x y", "others as they are");
        assert_eq!(unescape_id("C:\\dir"), "C:\\dir", "unknown escapes stay");
    }

    #[test]
    fn results_files_are_told_from_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.tsv");
        let check = |fields| check_results_file(&p, fields, "gc");
        assert_eq!(check(RowFields::Exactly(3)), Ok(()), "missing is fine");
        std::fs::write(&p, "a\t1\t2\nb\t3\t4\r\n\nc\t").unwrap();
        assert_eq!(check(RowFields::Exactly(3)), Ok(()));
        assert_eq!(check(RowFields::AtLeast(2)), Ok(()));
        let e = check(RowFields::Exactly(2)).unwrap_err().to_string();
        assert!(e.ends_with("line 1: 3 field(s), a results row of plugin gc has exactly 2; is this another plugin's results file? give another -o file"), "{e}");
        std::fs::write(&p, b"a\t1\n\xff\xfe\n").unwrap();
        let e = check(RowFields::AtLeast(2)).unwrap_err().to_string();
        assert!(
            e.ends_with("line 2: not a results file (not text); give another -o file"),
            "{e}"
        );
        std::fs::write(&p, b"a\t1\nb\0").unwrap();
        assert!(
            check(RowFields::AtLeast(2)).is_err(),
            "NUL in the cut last line"
        );
    }
}
