//! [`InputError`]: what stops a run at its input, naming the file and line.

use std::path::PathBuf;

/// A problem with the input that stops the run: it names the file and line (or the
/// pattern, or the unit) and what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    /// A skip list (or an ID list) that cannot be read.
    #[error("{}: cannot read the skip list: {why}", path.display())]
    SkipList {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        why: String,
    },
    /// The temporary files a rerun over many done IDs writes cannot be written or read.
    #[error(
        "{why}; a run over more than half a million done IDs writes their hashes to \
         temporary files: set TMPDIR to a folder with room (about 40 bytes per ID and \
         input line)"
    )]
    SkipSpill {
        /// What failed, with the system's reason.
        why: String,
    },
    /// The IDs file was changed between the marking of its done lines and the run.
    #[error(
        "{}: the IDs file changed while the run was starting (after its lines were \
         matched with the done IDs): run again once nothing writes to it",
        path.display()
    )]
    IdsChanged {
        /// The file.
        path: PathBuf,
    },
    /// IDs given more than once, found before the run.
    #[error(
        "{place}: {count} ID{plural} appear{verb} more than once: {listed}; polyplug computes \
         each entity once: remove the repeats (sort -u, say), or give --allow-duplicates to \
         compute each of them once",
        plural = if *count == 1 { "" } else { "s" },
        verb = if *count == 1 { "s" } else { "" }
    )]
    Repeated {
        /// The IDs file, or the pattern.
        place: String,
        /// How many distinct IDs repeat.
        count: usize,
        /// The first few, with their lines.
        listed: String,
    },
    /// Record names given more than once, found before the run (records mode).
    #[error(
        "{place}: {count} ID{plural} appear{verb} more than once: {listed}; give each record \
         a name of its own, or give --allow-duplicate-ids to number the repeats (name#2, \
         name#3, ...)",
        plural = if *count == 1 { "" } else { "s" },
        verb = if *count == 1 { "s" } else { "" }
    )]
    RepeatedRecords {
        /// The file, or the files.
        place: String,
        /// How many distinct names repeat.
        count: usize,
        /// The first few, with their files and lines.
        listed: String,
    },
    /// Column 0 asked for.
    #[error("the ID column is 1-based: use 1 for the first column")]
    ColumnZero,
    /// The IDs file cannot be opened.
    #[error("{}: cannot open the IDs file: {why}", path.display())]
    OpenIds {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        why: String,
    },
    /// A file that cannot be read (an IDs file, a folder a pattern walks).
    #[error("{}: {why}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        why: String,
    },
    /// A glob pattern that does not parse.
    #[error(
        "bad glob pattern '{pattern}': {why}; quote the pattern so the shell does not \
         expand it"
    )]
    Pattern {
        /// The pattern.
        pattern: String,
        /// Why.
        why: String,
    },
    /// A pattern that matches no file.
    #[error(
        "no file matches '{pattern}'; check the pattern and quote it so the shell does not \
         expand it"
    )]
    NoMatch {
        /// The pattern.
        pattern: String,
    },
    /// A matching file whose name is not UTF-8.
    #[error("{}: file name is not valid UTF-8; rename the file", path.display())]
    FileName {
        /// The file.
        path: PathBuf,
    },
    /// A line of the IDs file that is not UTF-8.
    #[error("{}: line {line}: not valid UTF-8; convert the file to UTF-8", path.display())]
    Utf8 {
        /// The IDs file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
    },
    /// A line without the ID column.
    #[error(
        "{}: line {line}: has {found} column(s), column {column} was asked for; check the \
         <col> argument",
        path.display()
    )]
    Columns {
        /// The IDs file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Columns the line has.
        found: usize,
        /// The column asked for.
        column: usize,
    },
    /// A line whose ID column is empty.
    #[error("{}: line {line}: column {column} is empty", path.display())]
    EmptyColumn {
        /// The IDs file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The column.
        column: usize,
    },
    /// The `--idsproc` plugin failed on a unit.
    #[error("{place}: idsproc {} failed on '{unit}': {why}", plugin.display())]
    Idsproc {
        /// Where the unit is: `<file>: line <n>`, or the file name in files mode.
        place: String,
        /// The idsproc plugin.
        plugin: PathBuf,
        /// The unit.
        unit: String,
        /// Its error.
        why: String,
    },
    /// The thread reading the input ended by a panic.
    #[error("the input reader crashed")]
    ReaderCrashed,
    /// The records of records mode cannot be listed (an index that cannot be read).
    #[error(transparent)]
    Records(#[from] polyplug_records::RecordsError),
}
