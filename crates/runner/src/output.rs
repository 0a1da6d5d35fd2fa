//! Prenacs' output formats: results TSV `<id>\t<v1>\t<v2>…`, logs TSV `<id>\t<message>`.

use crate::run::{EntityResult, Recorder};
use polyplug_core::Entity;
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
                    self.line.push_str(id);
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
            EntityResult::Done(out) => {
                if !out.values.is_empty() {
                    self.line.clear();
                    self.line.push_str(&entity.id);
                    for v in &out.values {
                        self.line.push('\t');
                        let start = self.line.len();
                        v.write_py_str(&mut self.line);
                        if self.line[start..].contains(['\t', '\n', '\r']) {
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
            EntityResult::Failed(e) => {
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
            let e = Entity {
                input: "x y".into(),
                id: "x y".into(),
            };
            let done = EntityResult::Done(Outcome {
                values: vec![
                    Value::Int(800),
                    Value::Float(0.41),
                    Value::Float(1e-5),
                    Value::Str("a\tb".into()),
                ],
                logs: vec!["k\tmsg".into(), "two\nlines".into(), String::new()],
            });
            w.record(&e, &done).unwrap();
            let failed = EntityResult::Failed(EntityError::new("bad\nthing"));
            w.record(&e, &failed).unwrap();
            w.record(&e, &EntityResult::Done(Outcome::default()))
                .unwrap();
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
}
