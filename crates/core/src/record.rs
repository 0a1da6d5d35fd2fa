//! Records mode (`polyplug run <plugin> records <format> <file>...`): the entities are
//! records inside files (the sequences of a FASTA file, the rows of a CSV file, the
//! lines of a JSON-lines file). This module holds the plain data every crate shares:
//! the formats, where a run's records are ([`RecordSource`]), where one record is
//! ([`RecordRef`]: a byte range of a file, so that a worker reads the record itself and
//! nothing large travels through the host) and a record as a compute receives it
//! ([`Record`]). Finding, indexing and reading records is `polyplug-records`' job.

use std::fmt;
use std::path::PathBuf;

/// A format of records mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordFormat {
    /// FASTA: a record is a `>name description` header line and the sequence lines
    /// after it. ID: the header's first word.
    Fasta,
    /// FASTQ: a record is four lines (`@name description`, sequence, `+`, quality).
    /// ID: the header's first word.
    Fastq,
    /// Plain text: a record is a line that is not blank. ID: `<file>:<line number>`.
    Lines,
    /// JSON lines: a record is a line holding a JSON object. ID: its `--id-column`
    /// member (default: the first member of the file's first object).
    Jsonl,
    /// Comma-separated values with a header row (RFC 4180 quoting). ID: the
    /// `--id-column` column (default: the first).
    Csv,
    /// Tab-separated values with a header row (no quoting). ID: the `--id-column`
    /// column (default: the first).
    Tsv,
}

impl RecordFormat {
    /// Every format, in the order the documentation lists them.
    pub const ALL: [RecordFormat; 6] = [
        RecordFormat::Fasta,
        RecordFormat::Fastq,
        RecordFormat::Lines,
        RecordFormat::Jsonl,
        RecordFormat::Csv,
        RecordFormat::Tsv,
    ];

    /// The name on the command line (`fasta`, `fastq`, `lines`, `jsonl`, `csv`, `tsv`).
    pub fn name(self) -> &'static str {
        match self {
            RecordFormat::Fasta => "fasta",
            RecordFormat::Fastq => "fastq",
            RecordFormat::Lines => "lines",
            RecordFormat::Jsonl => "jsonl",
            RecordFormat::Csv => "csv",
            RecordFormat::Tsv => "tsv",
        }
    }

    /// The format named `name` (case-insensitive; `fa` and `fq` too).
    pub fn parse(name: &str) -> Option<RecordFormat> {
        let lower = name.to_ascii_lowercase();
        Some(match lower.as_str() {
            "fasta" | "fa" => RecordFormat::Fasta,
            "fastq" | "fq" => RecordFormat::Fastq,
            "lines" | "text" => RecordFormat::Lines,
            "jsonl" | "ndjson" => RecordFormat::Jsonl,
            "csv" => RecordFormat::Csv,
            "tsv" => RecordFormat::Tsv,
            _ => return None,
        })
    }

    /// Whether records have named fields from a header or an object (CSV, TSV, JSONL),
    /// so that `--id-column` means something.
    pub fn has_columns(self) -> bool {
        matches!(
            self,
            RecordFormat::Csv | RecordFormat::Tsv | RecordFormat::Jsonl
        )
    }

    /// The number of the code that names the format in the worker protocol and in
    /// polyplug's index files.
    pub fn code(self) -> u8 {
        match self {
            RecordFormat::Fasta => 1,
            RecordFormat::Fastq => 2,
            RecordFormat::Lines => 3,
            RecordFormat::Jsonl => 4,
            RecordFormat::Csv => 5,
            RecordFormat::Tsv => 6,
        }
    }

    /// The format of a [`RecordFormat::code`].
    pub fn from_code(code: u8) -> Option<RecordFormat> {
        RecordFormat::ALL.into_iter().find(|f| f.code() == code)
    }
}

impl fmt::Display for RecordFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the records of a run are: the format, the files in the order given, and the
/// column that gives the ID. Plain data: worker processes are sent it, and read the
/// records they are given by [`RecordRef`] themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSource {
    /// The format of every file.
    pub format: RecordFormat,
    /// The files, as given (the `lines` format's IDs name them so).
    pub files: Vec<PathBuf>,
    /// The column (CSV, TSV) or member (JSONL) holding the ID; `None`: the first.
    pub id_column: Option<String>,
}

/// Where one record is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordRef {
    /// `len` bytes at `offset` of file `file` of the run's [`RecordSource`]: read by
    /// whoever computes it.
    InFile {
        /// Index into [`RecordSource::files`].
        file: u32,
        /// First byte of the record (for FASTA and FASTQ, where its header line
        /// starts, or blank lines before it).
        offset: u64,
        /// Its length in bytes, line endings included.
        len: u64,
    },
    /// A record the host holds itself (a row of a SQL query).
    Held(HeldRecord),
}

impl RecordRef {
    /// The record itself when the host holds it ([`RecordRef::Held`]); a record in a
    /// file has to be read.
    pub fn held(&self) -> Option<Record<'_>> {
        match self {
            RecordRef::Held(h) => Some(Record {
                bytes: &h.bytes,
                fields: &h.fields,
                id: None,
            }),
            RecordRef::InFile { .. } => None,
        }
    }
}

/// A record the host holds: its bytes and its fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldRecord {
    /// The record's bytes.
    pub bytes: Vec<u8>,
    /// Its fields, by name, in order.
    pub fields: Vec<(String, String)>,
}

/// One record as a compute receives it, borrowed for the call: its bytes as they are
/// in the file, without the final line ending (for FASTA, the header line and the
/// sequence lines; for the line formats, the line), and its fields by name, in order
/// (CSV, TSV: the header's columns; JSONL: the object's members, strings as their
/// text and other values as JSON; FASTA: `description` and `sequence`, the sequence
/// lines joined; FASTQ: `description`, `sequence` and `quality`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// The record's bytes.
    pub bytes: &'a [u8],
    /// Its fields.
    pub fields: &'a [(String, String)],
    /// The entity's ID when it is not the record's name (a repeated name, numbered
    /// `name#2`): what its `--log-dir` files are named after. Set by whoever knows
    /// the entity (the runner, a worker process).
    pub id: Option<&'a str>,
}

impl<'a> Record<'a> {
    /// The record, as the entity whose ID is `id` (when it is not `name`).
    pub fn as_entity(self, name: &str, id: &'a str) -> Record<'a> {
        Record {
            id: (id != name).then_some(id),
            ..self
        }
    }

    /// The value of the field `name`, if the record has one.
    pub fn field(&self, name: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip_by_name_and_code() {
        for f in RecordFormat::ALL {
            assert_eq!(RecordFormat::parse(f.name()), Some(f));
            assert_eq!(RecordFormat::parse(&f.name().to_uppercase()), Some(f));
            assert_eq!(RecordFormat::from_code(f.code()), Some(f));
        }
        assert_eq!(RecordFormat::parse("fa"), Some(RecordFormat::Fasta));
        assert_eq!(RecordFormat::parse("xml"), None);
        assert_eq!(RecordFormat::from_code(0), None);
    }

    #[test]
    fn fields_are_found_by_name() {
        let fields = vec![
            ("id".to_string(), "a".to_string()),
            ("n".to_string(), "3".to_string()),
        ];
        let r = Record {
            bytes: b"a,3",
            fields: &fields,
            id: None,
        };
        assert_eq!(r.field("n"), Some("3"));
        assert_eq!(r.field("x"), None);
    }
}
