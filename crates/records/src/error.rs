//! [`RecordsError`]: everything that stops a records run before it starts.

use std::io;
use std::path::{Path, PathBuf};

use polyplug_core::RecordFormat;

/// Everything that stops a records run before it starts. Each message names the file
/// (and the line or the column) and says what to do; each variant keeps that context
/// as fields, so that no caller has to read the message to tell them apart.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordsError {
    /// A records source without files.
    #[error("records mode needs at least one file: give the files after the format")]
    NoFiles,
    /// More files than a [`polyplug_core::RecordRef`] can number.
    #[error("{count} files are more than records mode can take (at most {max}): give fewer files per run")]
    TooManyFiles {
        /// How many were given.
        count: usize,
        /// The most a run can have.
        max: u64,
    },
    /// `--id-column` given for a format without columns.
    #[error("--id-column is for the csv, tsv and jsonl formats, not {format}: remove it")]
    IdColumnNotApplicable {
        /// The format of the run.
        format: RecordFormat,
    },
    /// A data file that cannot be opened, read or examined.
    #[error("{}: cannot read it ({message}): check the path and its permissions", path.display())]
    Read {
        /// The file, as given.
        path: PathBuf,
        /// The system's message.
        message: String,
    },
    /// A folder given as a data file.
    #[error("{}: is a folder, not a file: give the files inside it", path.display())]
    NotAFile {
        /// The folder, as given.
        path: PathBuf,
    },
    /// A file whose first record does not look like the format given.
    #[error("{} line {line}: expected {expected}, found '{found}': {hint}", path.display())]
    NotTheFormat {
        /// The file, as given.
        path: PathBuf,
        /// The 1-based line.
        line: u64,
        /// The format given.
        format: RecordFormat,
        /// What the format needs there.
        expected: String,
        /// The start of what is there.
        found: String,
        /// What to do (e.g. `is this a FASTQ file? give the format fastq`).
        hint: String,
    },
    /// A file of the right format whose structure is broken after its start.
    #[error("{} line {line}: {problem}", path.display())]
    Malformed {
        /// The file, as given.
        path: PathBuf,
        /// The 1-based line.
        line: u64,
        /// What is wrong and what to do.
        problem: String,
    },
    /// An `--id-column` that a file's header (or first object) does not have.
    #[error("{}: there is no {what} '{column}' (it has: {}): give one of them with --id-column", path.display(), list(columns))]
    UnknownIdColumn {
        /// The file, as given.
        path: PathBuf,
        /// `column` (CSV, TSV) or `member` (JSONL).
        what: &'static str,
        /// The column asked for.
        column: String,
        /// The columns (or members of the first object) the file has.
        columns: Vec<String>,
    },
    /// A CSV/TSV file without a usable header, or a JSON-lines file whose first line
    /// gives no default ID member.
    #[error("{} line {line}: {problem}", path.display())]
    NoIdColumn {
        /// The file, as given.
        path: PathBuf,
        /// The 1-based line of the header or first object.
        line: u64,
        /// What is missing and what to do.
        problem: String,
    },
    /// A file that changed while polyplug indexed it.
    #[error("{}: the file changed while it was being indexed: run again when it is complete", path.display())]
    ChangedWhileIndexing {
        /// The file, as given.
        path: PathBuf,
    },
    /// An index that could be written neither next to the data nor in the cache.
    #[error("{}: cannot write its index to {} ({message}): make that folder writable or set the cache folder", path.display(), index.display())]
    WriteIndex {
        /// The data file, as given.
        path: PathBuf,
        /// The index file that could not be written.
        index: PathBuf,
        /// The system's message.
        message: String,
    },
    /// An index found damaged while it was read (it was checked when the run began).
    #[error("{}: the index of {} is damaged ({problem}): delete it and run again", index.display(), path.display())]
    IndexDamaged {
        /// The data file, as given.
        path: PathBuf,
        /// The index file.
        index: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A shard number not below the shard count.
    #[error("shard {index} of {count} does not exist: shards are numbered from 0 to {}", count.saturating_sub(1))]
    NoSuchShard {
        /// The shard asked for.
        index: u32,
        /// The number of shards.
        count: u32,
    },
    /// A file number that the source does not have.
    #[error(
        "there is no file number {file} in this run (it has {count}): this is a bug in the caller"
    )]
    NoSuchFile {
        /// The number asked for.
        file: u32,
        /// How many files the run has.
        count: usize,
    },
}

fn list(columns: &[String]) -> String {
    if columns.is_empty() {
        "no columns".to_string()
    } else {
        columns.join(", ")
    }
}

impl RecordsError {
    /// A [`RecordsError::Read`] of `path` from an I/O error.
    pub(crate) fn read(path: &Path, e: &io::Error) -> RecordsError {
        RecordsError::Read {
            path: path.to_path_buf(),
            message: io_message(e),
        }
    }
}

/// An I/O error's message without Rust's `(os error N)` suffix.
pub(crate) fn io_message(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
