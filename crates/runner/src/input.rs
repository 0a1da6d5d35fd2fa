//! Entity selection, as `prenacs batch-compute` does it: IDs from a column of a TSV
//! file or file names from a glob pattern, optionally mapped by an idsproc plugin's
//! `compute_id`, minus a skip list. Streamed: IDs are read as the run consumes them.

use polyplug_core::{Entity, Plugin};
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// A problem with the input that stops the run: it names the file and line.
#[derive(Debug, Clone, PartialEq)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the units of a run come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// `ids <idsfile> [<col>]`: one ID per line, or column `col` (1-based) of a TSV file.
    Ids {
        /// The file.
        path: PathBuf,
        /// 1-based column.
        column: usize,
    },
    /// `files <globpattern>`: the matching file names, sorted.
    Files {
        /// The pattern.
        pattern: String,
    },
}

/// Reads a skip list: one ID per line, or a TSV file with the IDs in the first column
/// (so a results file is its own skip list). A missing file is an empty list.
pub fn read_skip_list(path: &Path) -> Result<HashSet<String>, InputError> {
    let mut skip = HashSet::new();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(skip),
        Err(e) => {
            return Err(InputError(format!(
                "{}: cannot read the skip list: {e}",
                path.display()
            )))
        }
    };
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(|e| {
            InputError(format!(
                "{}: cannot read the skip list: {e}",
                path.display()
            ))
        })?;
        if n == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let id = text.trim_end().split('\t').next().unwrap_or("");
        if !id.is_empty() {
            skip.insert(id.to_string());
        }
    }
    Ok(skip)
}

/// Counts the units a source will give (lines with an ID, or matching files), for
/// progress bars. Cheap: one pass over the IDs file without decoding.
pub fn count_units(source: &Source) -> Option<u64> {
    match source {
        Source::Ids { path, .. } => {
            let mut reader = BufReader::with_capacity(1 << 20, File::open(path).ok()?);
            let mut n = 0u64;
            let mut last = b'\n';
            loop {
                let buf = reader.fill_buf().ok()?;
                if buf.is_empty() {
                    break;
                }
                n += memchr::memchr_iter(b'\n', buf).count() as u64;
                last = buf[buf.len() - 1];
                let len = buf.len();
                reader.consume(len);
            }
            Some(if last == b'\n' { n } else { n + 1 })
        }
        Source::Files { pattern } => Some(glob::glob(pattern).ok()?.count() as u64),
    }
}

/// An iterator over the entities of a run, in input order.
pub struct Entities<'a> {
    units: Units,
    idsproc: Option<&'a dyn Plugin>,
    skip: HashSet<String>,
    /// Number of units skipped because their ID was in the skip list.
    pub skipped: u64,
    files_mode: bool,
    failed: bool,
}

enum Units {
    Lines {
        reader: BufReader<File>,
        path: PathBuf,
        column: usize,
        line_no: u64,
        buf: Vec<u8>,
    },
    Files(std::vec::IntoIter<Result<String, InputError>>),
}

impl<'a> Entities<'a> {
    /// Opens a source. Errors (a missing IDs file, a bad glob pattern, a pattern that
    /// matches nothing) are reported here, before the run starts.
    pub fn open(
        source: &Source,
        idsproc: Option<&'a dyn Plugin>,
        skip: HashSet<String>,
    ) -> Result<Entities<'a>, InputError> {
        let units = match source {
            Source::Ids { path, column } => {
                if *column == 0 {
                    return Err(InputError(
                        "the ID column is 1-based: use 1 for the first column".into(),
                    ));
                }
                let file = File::open(path).map_err(|e| {
                    InputError(format!("{}: cannot open the IDs file: {e}", path.display()))
                })?;
                Units::Lines {
                    reader: BufReader::with_capacity(1 << 16, file),
                    path: path.clone(),
                    column: *column,
                    line_no: 0,
                    buf: Vec::new(),
                }
            }
            Source::Files { pattern } => {
                let paths = glob::glob(pattern).map_err(|e| {
                    InputError(format!("bad glob pattern '{pattern}': {e}; quote the pattern so the shell does not expand it"))
                })?;
                let mut names = Vec::new();
                for p in paths {
                    names.push(match p {
                        Ok(p) => p.to_str().map(str::to_string).ok_or_else(|| {
                            InputError(format!(
                                "{}: file name is not valid UTF-8; rename the file",
                                p.display()
                            ))
                        }),
                        Err(e) => Err(InputError(format!("{}: {e}", e.path().display()))),
                    });
                }
                if names.is_empty() {
                    return Err(InputError(format!(
                        "no file matches '{pattern}'; check the pattern and quote it so the shell does not expand it"
                    )));
                }
                Units::Files(names.into_iter())
            }
        };
        Ok(Entities {
            units,
            idsproc,
            skip,
            skipped: 0,
            files_mode: matches!(source, Source::Files { .. }),
            failed: false,
        })
    }

    /// The next unit and its line number (0 in files mode).
    fn next_unit(&mut self) -> Option<Result<(String, u64), InputError>> {
        match &mut self.units {
            Units::Files(it) => it.next().map(|r| r.map(|s| (s, 0))),
            Units::Lines {
                reader,
                path,
                column,
                line_no,
                buf,
            } => loop {
                buf.clear();
                match reader.read_until(b'\n', buf) {
                    Ok(0) => return None,
                    Ok(_) => {}
                    Err(e) => return Some(Err(InputError(format!("{}: {e}", path.display())))),
                }
                *line_no += 1;
                let text = match std::str::from_utf8(buf) {
                    Ok(t) => t,
                    Err(_) => {
                        return Some(Err(InputError(format!(
                            "{}: line {}: not valid UTF-8; convert the file to UTF-8",
                            path.display(),
                            line_no
                        ))))
                    }
                };
                // Prenacs strips trailing whitespace, then splits on TABs.
                let text = text.trim_end();
                if text.is_empty() {
                    continue; // blank lines hold no ID
                }
                let field = match text.split('\t').nth(*column - 1) {
                    Some(f) => f,
                    None => {
                        return Some(Err(InputError(format!(
                            "{}: line {}: has {} column(s), column {} was asked for; check the <col> argument",
                            path.display(),
                            line_no,
                            text.split('\t').count(),
                            column
                        ))))
                    }
                };
                if field.is_empty() {
                    return Some(Err(InputError(format!(
                        "{}: line {}: column {} is empty",
                        path.display(),
                        line_no,
                        column
                    ))));
                }
                return Some(Ok((field.to_string(), *line_no)));
            },
        }
    }
}

impl Iterator for Entities<'_> {
    type Item = Result<Entity, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            let (unit, line_no) = match self.next_unit()? {
                Ok(u) => u,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            };
            let id = match self.idsproc {
                Some(p) => match p.compute_id(&unit) {
                    Ok(id) => id,
                    Err(e) => {
                        self.failed = true;
                        let place = match &self.units {
                            Units::Lines { path, .. } => {
                                format!("{}: line {line_no}", path.display())
                            }
                            Units::Files(_) => unit.clone(),
                        };
                        return Some(Err(InputError(format!(
                            "{place}: idsproc {} failed on '{unit}': {}",
                            p.path().display(),
                            e.message
                        ))));
                    }
                },
                None => unit.clone(),
            };
            if self.skip.contains(&id) {
                self.skipped += 1;
                continue;
            }
            // In files mode compute gets the file name; in ids mode the (processed) ID.
            let input = if self.files_mode { unit } else { id.clone() };
            return Some(Ok(Entity { input, id }));
        }
    }
}
