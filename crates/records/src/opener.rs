//! Opening one data file of a catalog: its compression told, its `.gzi` found or
//! built (BGZF), its ID column resolved, its index found valid or built and written.

use std::fs::{self, File, Metadata};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use polyplug_core::RecordFormat;

use crate::build::{self, BuildStop, Built};
use crate::catalog::{FileInfo, IndexKind, Options};
use crate::data::{self, Compression, Data, Gzi};
use crate::error::{io_message, RecordsError};
use crate::fileio::{mtime_ns, DataKey};
use crate::parts::{self, Split};
use crate::place::{beside, folder_of, in_cache, TempIndex};
use crate::ppi::{PpiIndex, PpiProblem, PpiWriter};
use crate::reader::Columns;
use crate::scan::{human_bytes, thousands, LineScanner};
use crate::table::RowScanner;
use crate::{fai, fasta};

/// The buffer of an index being written: a large `.fai` is tens of megabytes, and
/// each write to it a system call.
const OUT_BUFFER: usize = 1 << 20;

/// What to say about a format refused at its start.
pub(crate) fn format_hint(format: RecordFormat, found: &str) -> String {
    let guess = match found.as_bytes().first() {
        Some(b'>') => RecordFormat::Fasta,
        Some(b'@') => RecordFormat::Fastq,
        Some(b'{') => RecordFormat::Jsonl,
        _ if found.contains('\t') => RecordFormat::Tsv,
        _ if found.contains(',') => RecordFormat::Csv,
        _ => RecordFormat::Lines,
    };
    if guess == format {
        return format!("check that it is a {format} file");
    }
    let name = match guess {
        RecordFormat::Fasta => "FASTA",
        RecordFormat::Fastq => "FASTQ",
        RecordFormat::Lines => "text",
        RecordFormat::Jsonl => "JSON-lines",
        RecordFormat::Csv => "CSV",
        RecordFormat::Tsv => "TSV",
    };
    format!("is this a {name} file? give the format {}", guess.name())
}

/// What [`FileOpener::find`] found in one place.
enum Found {
    Valid(IndexKind, PathBuf),
    Missing,
    Invalid(String),
}

/// A data file being opened: what is known of it so far.
struct Opening {
    data: File,
    meta: Metadata,
    key: DataKey,
    compression: Compression,
    gzi: Option<Gzi>,
    /// The data's length when known before indexing (not for plain gzip).
    data_len: Option<u64>,
    columns: Columns,
}

/// Opens one data file of a catalog.
pub(crate) struct FileOpener<'a> {
    pub path: &'a Path,
    pub display: String,
    pub format: RecordFormat,
    pub cache_dir: &'a Path,
    pub options: Options,
}

impl FileOpener<'_> {
    fn read_err(&self, e: &io::Error) -> RecordsError {
        RecordsError::read(self.path, e)
    }

    /// Opens the file: an empty file needs no index; others get a valid one.
    pub(crate) fn open(
        &self,
        id_column: Option<&str>,
        note: &mut dyn FnMut(&str),
    ) -> Result<FileInfo, RecordsError> {
        let meta = fs::metadata(self.path).map_err(|e| self.read_err(&e))?;
        if meta.is_dir() {
            return Err(RecordsError::NotAFile {
                path: self.path.to_path_buf(),
            });
        }
        let data = File::open(self.path).map_err(|e| self.read_err(&e))?;
        let mut info = FileInfo {
            path: self.path.to_path_buf(),
            display: self.display.clone(),
            start: 0,
            data_len: 0,
            index: IndexKind::Empty,
            index_path: PathBuf::new(),
            compression: Compression::Plain,
            gzi: None,
            columns: Columns::default(),
        };
        if meta.len() == 0 {
            note(&format!(
                "{}: the file is empty: it has no records",
                self.display
            ));
            return Ok(info);
        }
        let key = DataKey::of(&data, &meta).map_err(|e| self.read_err(&e))?;
        let compression = data::compression_of(&data).map_err(|e| self.read_err(&e))?;
        let (gzi, data_len) = match compression {
            Compression::Plain => (None, Some(meta.len())),
            Compression::Bgzf => {
                let (gzi, len) = self.gzi(&data, &meta, note)?;
                (Some(gzi), Some(len))
            }
            Compression::Gzip => {
                note(&format!(
                    "{}: it is gzip but not BGZF, so it cannot be read by range: every shard and resume reads it from the start (recompress it with bgzip for random access)",
                    self.display
                ));
                (None, None)
            }
        };
        let columns = self.columns(&data, compression, id_column)?;
        let mut o = Opening {
            data,
            meta,
            key,
            compression,
            gzi,
            data_len,
            columns,
        };
        let with_fai = self.format == RecordFormat::Fasta && compression != Compression::Gzip;
        let exts: &[&str] = if with_fai { &["fai", "ppi"] } else { &["ppi"] };
        let mut reason = None;
        let mut found = None;
        'places: for in_cache_dir in [false, true] {
            for ext in exts {
                let candidate = self.index_path(in_cache_dir, ext);
                match self.find(&candidate, ext, &o) {
                    Found::Valid(index, path) => {
                        found = Some((index, path));
                        break 'places;
                    }
                    Found::Missing => {}
                    Found::Invalid(why) => {
                        reason.get_or_insert(why);
                    }
                }
            }
        }
        let (index, index_path) = match found {
            Some(found) => found,
            None => self.build(&mut o, with_fai, reason, note)?,
        };
        info.data_len = match &index {
            IndexKind::Ppi(ppi) => ppi.data_len,
            _ => o.data_len.unwrap_or_default(),
        };
        (info.index, info.index_path) = (index, index_path);
        (info.compression, info.gzi, info.columns) = (o.compression, o.gzi, o.columns);
        Ok(info)
    }

    fn index_path(&self, in_cache_dir: bool, ext: &str) -> PathBuf {
        if in_cache_dir {
            in_cache(self.cache_dir, self.path, ext)
        } else {
            beside(self.path, ext)
        }
    }

    /// The `.gzi` of a BGZF file (found valid, or built as `bgzip -r` would) and the
    /// uncompressed length.
    fn gzi(
        &self,
        data: &File,
        meta: &Metadata,
        note: &mut dyn FnMut(&str),
    ) -> Result<(Gzi, u64), RecordsError> {
        for in_cache_dir in [false, true] {
            if let Some(found) = find_gzi(&self.index_path(in_cache_dir, "gzi"), data, meta) {
                return Ok(found);
            }
        }
        let bad = |e: io::Error| RecordsError::Malformed {
            path: self.path.to_path_buf(),
            line: 1,
            problem: format!("{}: check the file, or decompress it", io_message(&e)),
        };
        let (blocks, len) = data::blocks(data, meta.len(), 0, 0).map_err(bad)?;
        let (temp, file) = self
            .temps(&["gzi"])?
            .into_iter()
            .next()
            .ok_or(RecordsError::NoFiles)?;
        let dest = temp.dest().to_path_buf();
        let write_err = |e: &io::Error| self.write_err(&dest, e);
        let mut out = BufWriter::new(file);
        data::write_gzi(&blocks, &mut out).map_err(|e| write_err(&e))?;
        let file = out.into_inner().map_err(|e| write_err(e.error()))?;
        let written = temp.commit().map_err(|e| write_err(&e))?;
        note(&format!(
            "{}: block index written to {}",
            self.display,
            written.display()
        ));
        Ok((Gzi::open(file).map_err(|e| write_err(&e))?, len))
    }

    /// Resolves the ID column (CSV, TSV) or member (JSONL); "" for other formats.
    fn columns(
        &self,
        data: &File,
        compression: Compression,
        given: Option<&str>,
    ) -> Result<Columns, RecordsError> {
        let given_name = given.unwrap_or_default().to_string();
        let unknown = |what, columns: Vec<String>| RecordsError::UnknownIdColumn {
            path: self.path.to_path_buf(),
            what,
            column: given_name.clone(),
            columns,
        };
        let stream = || -> Result<_, RecordsError> {
            let owned = data.try_clone().map_err(|e| self.read_err(&e))?;
            Ok(data::stream(owned, compression))
        };
        let mut columns = Columns {
            id_name: given_name.clone(),
            ..Columns::default()
        };
        match self.format {
            RecordFormat::Csv | RecordFormat::Tsv => {
                let tsv = self.format == RecordFormat::Tsv;
                let header = build::table_header(stream()?, tsv).map_err(|e| self.read_err(&e))?;
                let Some((names, _)) = header else {
                    return Ok(columns);
                };
                columns.id_index = match given {
                    Some(c) => names
                        .iter()
                        .position(|n| n == c)
                        .ok_or_else(|| unknown("column", names.clone()))?,
                    None => 0,
                };
                columns.id_name = names[columns.id_index].clone();
                columns.header = names;
            }
            RecordFormat::Jsonl => {
                let first = build::jsonl_first(stream()?).map_err(|e| self.read_err(&e))?;
                let Some((line, found, members)) = first else {
                    return Ok(columns);
                };
                let members = members.map_err(|why| RecordsError::NotTheFormat {
                    path: self.path.to_path_buf(),
                    line,
                    format: self.format,
                    expected: format!("a JSON object ({why})"),
                    hint: format_hint(self.format, &found),
                    found,
                })?;
                match given {
                    Some(c) if members.iter().any(|m| m == c) => {}
                    Some(_) => return Err(unknown("member", members)),
                    None => {
                        columns.id_name = members.into_iter().next().ok_or_else(|| {
                            RecordsError::NoIdColumn {
                                path: self.path.to_path_buf(),
                                line,
                                problem: "the first object has no members to take the IDs from: give the ID member with --id-column".to_string(),
                            }
                        })?;
                    }
                }
            }
            _ => {}
        }
        Ok(columns)
    }

    /// Looks at the index `candidate`: valid for this data, missing, or why not.
    fn find(&self, candidate: &Path, ext: &str, o: &Opening) -> Found {
        let shown = candidate.display();
        let file = match File::open(candidate) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Found::Missing,
            Err(e) => {
                return Found::Invalid(format!(
                    "its index {shown} cannot be read ({})",
                    io_message(&e)
                ))
            }
        };
        let changed = || format!("the file changed since its index {shown} was made");
        if ext == "fai" {
            let Ok(fai_meta) = file.metadata() else {
                return Found::Invalid(format!("its index {shown} cannot be read"));
            };
            if mtime_ns(&fai_meta) < mtime_ns(&o.meta) {
                return Found::Invalid(changed());
            }
            let file = Arc::new(file);
            let checked = o
                .data
                .try_clone()
                .and_then(|d| Data::new(d, o.compression, o.gzi.clone()))
                .map_err(|e| io_message(&e))
                .and_then(|mut d| {
                    fai::check(
                        &file,
                        fai_meta.len(),
                        &mut d,
                        o.data_len.unwrap_or_default(),
                    )
                });
            return match checked {
                Ok(records) => Found::Valid(
                    IndexKind::Fai {
                        file,
                        len: fai_meta.len(),
                        records,
                    },
                    candidate.to_path_buf(),
                ),
                Err(why) => {
                    Found::Invalid(format!("its index {shown} does not describe it ({why})"))
                }
            };
        }
        let index = match PpiIndex::open(file) {
            Ok(index) => index,
            Err(p) => {
                return Found::Invalid(match p {
                    PpiProblem::NotAnIndex => {
                        format!("its index {shown} is not a polyplug index, or is truncated")
                    }
                    PpiProblem::Version(v) => {
                        format!("its index {shown} is of another version of polyplug ({v})")
                    }
                    PpiProblem::Damaged(what) => format!("its index {shown} is damaged ({what})"),
                    PpiProblem::Io(e) => {
                        format!("its index {shown} cannot be read ({})", io_message(&e))
                    }
                })
            }
        };
        if index.format != self.format.code() {
            return Found::Invalid(format!("its index {shown} was made for another format"));
        }
        if index.key != o.key || o.data_len.is_some_and(|len| len != index.data_len) {
            return Found::Invalid(changed());
        }
        if index.id_column != o.columns.id_name {
            return Found::Invalid(format!(
                "its index {shown} was made for the ID column '{}', not '{}'",
                index.id_column, o.columns.id_name
            ));
        }
        Found::Valid(IndexKind::Ppi(index), candidate.to_path_buf())
    }

    /// Creates the temporary files of a new index next to the data, or in the cache
    /// when the data's folder cannot be written (or says no).
    fn temps(&self, exts: &[&'static str]) -> Result<Vec<(TempIndex, File)>, RecordsError> {
        if (self.options.dir_writable)(&folder_of(self.path)) {
            if let Ok(temps) = self.create_temps(false, exts) {
                return Ok(temps);
            }
        }
        self.create_temps(true, exts)
            .map_err(|(dest, e)| self.write_err(&dest, &e))
    }

    fn create_temps(
        &self,
        in_cache_dir: bool,
        exts: &[&'static str],
    ) -> Result<Vec<(TempIndex, File)>, (PathBuf, io::Error)> {
        let mut temps = Vec::with_capacity(exts.len());
        for ext in exts {
            let dest = self.index_path(in_cache_dir, ext);
            if in_cache_dir {
                fs::create_dir_all(folder_of(&dest)).map_err(|e| (dest.clone(), e))?;
            }
            temps.push(TempIndex::create(&dest).map_err(|e| (dest, e))?);
        }
        Ok(temps)
    }

    fn write_err(&self, index: &Path, e: &io::Error) -> RecordsError {
        RecordsError::WriteIndex {
            path: self.path.to_path_buf(),
            index: index.to_path_buf(),
            message: io_message(e),
        }
    }

    fn stop_err(&self, stop: BuildStop) -> RecordsError {
        match stop {
            BuildStop::Io(e) => self.read_err(&e),
            BuildStop::NotTheFormat(line, expected, found) => RecordsError::NotTheFormat {
                path: self.path.to_path_buf(),
                line,
                format: self.format,
                expected: expected.to_string(),
                hint: format_hint(self.format, &found),
                found,
            },
            BuildStop::Malformed(line, problem) => RecordsError::Malformed {
                path: self.path.to_path_buf(),
                line,
                problem,
            },
        }
    }

    /// Builds the index of the data, writes it and tells `note`.
    fn build(
        &self,
        o: &mut Opening,
        with_fai: bool,
        reason: Option<String>,
        note: &mut dyn FnMut(&str),
    ) -> Result<(IndexKind, PathBuf), RecordsError> {
        let started = Instant::now();
        let exts: &[&'static str] = if with_fai { &["ppi", "fai"] } else { &["ppi"] };
        let mut temps = self.temps(exts)?.into_iter();
        let (ppi_temp, ppi_file) = temps.next().ok_or(RecordsError::NoFiles)?;
        let ppi_dest = ppi_temp.dest().to_path_buf();
        let write_err = |e: &io::Error| self.write_err(&ppi_dest, e);
        let id_name = &o.columns.id_name;
        let mut ppi = PpiWriter::new(
            BufWriter::with_capacity(OUT_BUFFER, ppi_file),
            self.format,
            &o.key,
            id_name,
        )
        .map_err(|e| write_err(&e))?;
        let owned = o.data.try_clone().map_err(|e| self.read_err(&e))?;
        let src = data::stream(owned, o.compression);
        let size = o.meta.len();
        let scan = |src| LineScanner::ahead(src, size).map_err(|e| self.read_err(&e));
        let mut fai_temp = None;
        let mut fai_problem = None;
        let built = match self.format {
            RecordFormat::Fasta => {
                let (temp, file) = match temps.next() {
                    Some((temp, file)) => {
                        (Some(temp), Some(BufWriter::with_capacity(OUT_BUFFER, file)))
                    }
                    None => (None, None),
                };
                let mut out: Box<dyn Write> = match file {
                    Some(out) => Box::new(out),
                    None => Box::new(io::sink()),
                };
                let split = self.options.split.unwrap_or_else(|| Split::for_len(size));
                let b = if o.compression == Compression::Plain && split.parts(size) > 1 {
                    parts::build(&o.data, size, split, &ppi_dest, &mut ppi, &mut out)
                } else {
                    fasta::build(scan(src)?, &mut ppi, &mut out)
                }
                .map_err(|s| self.stop_err(s))?;
                out.flush().map_err(|e| write_err(&e))?;
                drop(out);
                fai_temp = temp;
                fai_problem = b.fai_problem;
                Ok(Built {
                    records: b.records,
                    data_len: b.data_len,
                })
            }
            RecordFormat::Fastq => build::fastq(scan(src)?, &mut ppi),
            RecordFormat::Lines => build::lines(scan(src)?, &mut ppi),
            RecordFormat::Jsonl => build::jsonl(scan(src)?, &mut ppi, id_name),
            RecordFormat::Csv | RecordFormat::Tsv => {
                let tsv = self.format == RecordFormat::Tsv;
                let rows = RowScanner::new(src, tsv, crate::scan::SCAN_BUFFER);
                build::table(rows, &mut ppi, o.columns.id_index)
            }
        }
        .map_err(|s| self.stop_err(s))?;
        let (ppi_out, _) = ppi.finish(built.data_len).map_err(|e| write_err(&e))?;
        let now = fs::metadata(self.path).map_err(|e| self.read_err(&e))?;
        if now.len() != o.meta.len()
            || mtime_ns(&now) != mtime_ns(&o.meta)
            || o.data_len.is_some_and(|len| len != built.data_len)
        {
            return Err(RecordsError::ChangedWhileIndexing {
                path: self.path.to_path_buf(),
            });
        }
        o.data_len = Some(built.data_len);
        let (index, written) = match fai_temp {
            Some(temp) if fai_problem.is_none() => {
                let dest = temp.commit().map_err(|e| write_err(&e))?;
                let file = File::open(&dest).map_err(|e| write_err(&e))?;
                let len = file.metadata().map_err(|e| write_err(&e))?.len();
                (
                    IndexKind::Fai {
                        file: Arc::new(file),
                        len,
                        records: built.records,
                    },
                    dest,
                )
            }
            _ => {
                let file = ppi_out.into_inner().map_err(|e| write_err(e.error()))?;
                let index = PpiIndex::open(file).map_err(|p| {
                    write_err(&match p {
                        PpiProblem::Io(e) => e,
                        _ => io::Error::other("it did not read back"),
                    })
                })?;
                let dest = ppi_temp.commit().map_err(|e| write_err(&e))?;
                (IndexKind::Ppi(index), dest)
            }
        };
        let mut text = format!("{}: ", self.display);
        match reason {
            Some(reason) => text.push_str(&format!("{reason}; indexed again: ")),
            None => text.push_str("indexed "),
        }
        text.push_str(&format!(
            "{} record{} ({}) in {:.2} s; index written to {}",
            thousands(built.records),
            if built.records == 1 { "" } else { "s" },
            human_bytes(size),
            started.elapsed().as_secs_f64(),
            written.display()
        ));
        if let (true, Some(problem)) = (with_fai, fai_problem) {
            text.push_str(&format!(
                " (not a samtools .fai: {problem}, which a .fai cannot describe)"
            ));
        }
        note(&text);
        Ok((index, written))
    }
}

/// A `.gzi` at `path` that is valid for `data` (not older, consistent with its size),
/// with the uncompressed length it gives.
fn find_gzi(path: &Path, data: &File, meta: &Metadata) -> Option<(Gzi, u64)> {
    let file = File::open(path).ok()?;
    let gzi_meta = file.metadata().ok()?;
    if mtime_ns(&gzi_meta) < mtime_ns(meta) {
        return None;
    }
    let gzi = Gzi::open(file).ok()?;
    gzi.check(meta.len()).ok()?;
    let (c, u) = gzi.last().ok()?;
    // The blocks after the last one listed (normally that one and the end marker).
    let (_, len) = data::blocks(data, meta.len(), c, u).ok()?;
    Some((gzi, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_the_likely_format() {
        let hint = format_hint(RecordFormat::Fasta, "@r1 x");
        assert_eq!(hint, "is this a FASTQ file? give the format fastq");
        assert_eq!(
            format_hint(RecordFormat::Jsonl, "id,name"),
            "is this a CSV file? give the format csv"
        );
        assert_eq!(
            format_hint(RecordFormat::Lines, "x"),
            "check that it is a lines file"
        );
    }
}
