//! Entity selection, as `prenacs batch-compute` does it: IDs from a column of a TSV
//! file or file names from a glob pattern, optionally mapped by an idsproc plugin's
//! `compute_id`, minus a skip list; and polyplug's records mode, the records of
//! indexed files. Streamed: IDs are read as the run consumes them.

pub use crate::input_error::InputError;
use crate::lines::{Line, Lines};
pub use crate::skip::{Prehashed, SkipOrigin, SkipSet};
pub use crate::units::{place_of_record, record_label, record_place, StreamUnits, UnitStream};
use polyplug_core::{Entity, Plugin, RecordRef, Shard};
use polyplug_records::Catalog;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    /// `files <globpattern>`: the matching file names, sorted (`**` matches any
    /// number of folders), without those an `--exclude` pattern matches.
    Files {
        /// The pattern.
        pattern: String,
        /// `--exclude` patterns: one without a `/` is matched against each file's
        /// name, one with a `/` against the whole path (`*` stays within a folder,
        /// `**` crosses them).
        exclude: Vec<String>,
        /// The folder a relative pattern is relative to, when not the working one
        /// (a merge reading the files as the run saw them); the names given are
        /// relative to it, as the run's were.
        base: Option<PathBuf>,
    },
    /// `records <format> <file>...`: the records of indexed files, in file order. A
    /// shard of a records run is a byte range of the files, not a hash of the IDs
    /// (see [`polyplug_records::byte_shard`]).
    Records {
        /// The files, their indexes checked or built.
        catalog: Arc<Catalog>,
        /// Repeated record names get `#2`, `#3`, … after the first
        /// (`--allow-duplicate-ids`).
        suffix_repeats: bool,
    },
    /// Units that come with their records from a stream that is expensive to read
    /// again (the rows of a SQL query): read once per run, never looked at in
    /// advance (a stream gives each of its keys once itself).
    Stream(Arc<dyn UnitStream>),
}

impl Source {
    /// What the input is called in messages: the IDs file, the pattern, the files.
    pub fn place(&self) -> String {
        match self {
            Source::Ids { path, .. } => path.display().to_string(),
            Source::Files { pattern, .. } => pattern.clone(),
            Source::Records { catalog, .. } => {
                let files = &catalog.source().files;
                match files.len() {
                    1 => files[0].display().to_string(),
                    n => format!("{} and {} more files", files[0].display(), n - 1),
                }
            }
            Source::Stream(s) => s.place(),
        }
    }
}

/// Reads a skip list: one ID per line, or a TSV file with the IDs in the first column
/// (so a results file is its own skip list). A missing file is an empty list.
pub fn read_skip_list(path: &Path) -> Result<SkipSet, InputError> {
    let mut skip = SkipSet::default();
    read_skip_list_into(path, &mut skip)?;
    skip.freeze();
    Ok(skip)
}

/// Adds the IDs of a skip list to `skip` (see [`read_skip_list`]).
pub fn read_skip_list_into(path: &Path, skip: &mut SkipSet) -> Result<(), InputError> {
    read_id_list(path, |id| skip.insert(id))
}

/// What one line of an IDs file holds (without its newline), by Prenacs' rules:
/// trailing whitespace stripped, then split on TABs, the 1-based `column` taken.
/// The one place these rules live: the run's reader and the repeated-ID check both
/// read lines with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineId<'l> {
    /// Nothing but whitespace: no ID, not an error.
    Blank,
    /// The ID.
    Id(&'l str),
    /// Not UTF-8 text.
    NotUtf8,
    /// Fewer fields than `column`: this many.
    Columns(usize),
    /// The field is empty.
    EmptyColumn,
}

/// Reads one line of an IDs file (see [`LineId`]).
/// The rules are those of `str::trim_end` and `str::split('\t')`; trailing ASCII
/// whitespace is cut as bytes and the fields are found with memchr first, because the
/// run and the repeat check read every line with it.
pub fn line_id(line: &[u8], column: usize) -> LineId<'_> {
    let end = ascii_trimmed(line);
    // The bytes cut are ASCII, so the rest is UTF-8 exactly when the line is.
    match std::str::from_utf8(&line[..end]) {
        Ok(text) => text_line_id(text, column, true),
        Err(_) => LineId::NotUtf8,
    }
}

/// [`line_id`] of a line already known to be text; `tabs` false when it is known to
/// hold no TAB (its one field is then the line).
pub(crate) fn text_line_id(line: &str, column: usize, tabs: bool) -> LineId<'_> {
    let end = ascii_trimmed(line.as_bytes());
    // The bytes cut are ASCII: `end` is a character boundary.
    let mut text = line.get(..end).unwrap_or(line);
    if end > 0 && line.as_bytes()[end - 1] >= 0x80 {
        text = text.trim_end(); // other Unicode whitespace
    }
    if text.is_empty() {
        return LineId::Blank;
    }
    // A TAB is one byte that no multi-byte character contains, so its offsets are
    // character boundaries.
    match field_in(text.as_bytes(), column, tabs) {
        Ok(r) if r.is_empty() => LineId::EmptyColumn,
        Ok(r) => LineId::Id(&text[r]),
        Err(fields) => LineId::Columns(fields),
    }
}

/// What [`line_id`] says of a line, without checking that it is UTF-8: the ID's bytes
/// (the same bytes wherever `line_id` gives an ID), a blank line, or an error line.
/// For the repeated-ID check, which hashes every line of the input before the run
/// (the run's reader checks UTF-8 in its turn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawId<'l> {
    Blank,
    Id(&'l [u8]),
    Error,
}

/// [`line_id`] as bytes, without the UTF-8 check (see [`RawId`]); a line that is not
/// UTF-8 gives the bytes of its field.
/// `tabs` false when the line is known to hold no TAB.
pub(crate) fn raw_line_id(line: &[u8], column: usize, tabs: bool) -> RawId<'_> {
    let end = ascii_trimmed(line);
    if end > 0 && line[end - 1] >= 0x80 {
        // Perhaps Unicode whitespace to cut: the rules of `line_id` itself.
        return match line_id(line, column) {
            LineId::Blank => RawId::Blank,
            LineId::Id(id) => RawId::Id(id.as_bytes()),
            _ => RawId::Error,
        };
    }
    let text = &line[..end];
    if text.is_empty() {
        return RawId::Blank;
    }
    match field_in(text, column, tabs) {
        Ok(r) if !r.is_empty() => RawId::Id(&text[r]),
        _ => RawId::Error,
    }
}

/// The length of `line` without its trailing ASCII whitespace (what
/// `char::is_whitespace` says of ASCII, vertical tab included).
fn ascii_trimmed(line: &[u8]) -> usize {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C) {
        end -= 1;
    }
    end
}

/// [`field_range`], for a line known to hold no TAB when `tabs` is false.
fn field_in(text: &[u8], column: usize, tabs: bool) -> Result<std::ops::Range<usize>, usize> {
    match (tabs, column) {
        (true, _) => field_range(text, column),
        (false, 0 | 1) => Ok(0..text.len()),
        (false, _) => Err(1),
    }
}

/// Where field `column` (1-based; 0 is 1) of a TAB-separated line is, found with
/// memchr; or how many fields the line has, when fewer.
fn field_range(text: &[u8], column: usize) -> Result<std::ops::Range<usize>, usize> {
    let wanted = column.saturating_sub(1);
    let (mut start, mut fields) = (0, 0);
    for tab in memchr::memchr_iter(b'\t', text) {
        if fields == wanted {
            return Ok(start..tab);
        }
        fields += 1;
        start = tab + 1;
    }
    if fields == wanted {
        Ok(start..text.len())
    } else {
        Err(fields + 1)
    }
}

/// Calls `each` with every ID of an ID list (one per line, or the first column of a
/// TSV file, read back as [`crate::output::push_id`] writes IDs; blank lines
/// skipped). A missing file has no IDs.
pub fn read_id_list(path: &Path, mut each: impl FnMut(&str)) -> Result<(), InputError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(InputError::SkipList {
                path: path.to_path_buf(),
                why: e.to_string(),
            })
        }
    };
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| InputError::SkipList {
                path: path.to_path_buf(),
                why: e.to_string(),
            })?;
        if n == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let id = text.trim_end().split('\t').next().unwrap_or("");
        if !id.is_empty() {
            each(&crate::output::unescape_id(id));
        }
    }
    Ok(())
}

/// Counts the units a source will give (lines with an ID, or matching files), for
/// progress bars. Cheap: one pass over the IDs file without decoding.
pub fn count_units(source: &Source) -> Option<u64> {
    match source {
        Source::Ids { path, .. } if !rereadable(path) => None,
        Source::Ids { path, .. } => crate::lines::count_lines(path),
        Source::Files {
            pattern,
            exclude,
            base,
        } => Some(
            crate::files::FileNames::open(pattern, exclude, base.as_deref())
                .ok()?
                .count() as u64,
        ),
        Source::Records { catalog, .. } => Some(catalog.entries().ok()?.count() as u64),
        Source::Stream(_) => None,
    }
}

/// Whether the IDs file at `path` can be read more than once: a regular file, not a
/// pipe (`<(cut -f1 table.tsv)`) or a terminal, which a first reading would empty.
pub fn rereadable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// An iterator over the entities of a run, in input order.
pub struct Entities<'a> {
    units: Units,
    idsproc: Option<&'a dyn Plugin>,
    skip: SkipSet,
    /// Number of units skipped because their ID was in the skip set.
    pub skipped: u64,
    /// Of those, the ones only the store had (not the skip list or results file).
    pub skipped_in_store: u64,
    files_mode: bool,
    failed: bool,
    /// The line of the last unit given out (0 in files mode).
    last_line: u64,
    /// Repeated IDs to give out once (`--allow-duplicates`).
    repeats: Option<crate::repeats::Repeats>,
    /// Number of units skipped because their ID was given out before.
    pub repeated: u64,
    /// The shard whose entities are given out (`--shard`); the others are passed over.
    shard: Option<Shard>,
    /// Records mode: the place ([`record_place`]) of the last unit given out.
    last_place: u64,
    /// Records mode: repeated names are suffixed rather than refused or given once.
    suffix_repeats: bool,
    /// `--only`: the IDs to give out (the others are passed over), and whether each
    /// was met.
    only: Option<std::collections::HashMap<String, bool>>,
}

enum Units {
    Lines {
        lines: Lines<File>,
        path: PathBuf,
        column: usize,
        line_no: u64,
    },
    Files(crate::files::FileNames),
    Records {
        catalog: Arc<Catalog>,
        entries: polyplug_records::Entries,
    },
    Stream(StreamUnits),
}

/// One unit: the text idsproc and compute see, its line (0 in files mode, the
/// [`record_place`] in records mode) and, in records mode, where its record is.
type Unit = (String, u64, Option<RecordRef>);

impl<'a> Entities<'a> {
    /// Opens a source. Errors (a missing IDs file, a bad glob pattern, a pattern that
    /// matches nothing) are reported here, before the run starts.
    pub fn open(
        source: &Source,
        idsproc: Option<&'a dyn Plugin>,
        mut skip: SkipSet,
    ) -> Result<Entities<'a>, InputError> {
        skip.freeze();
        if let Some(e) = skip.error() {
            return Err(e);
        }
        let units = match source {
            Source::Ids { path, column } => {
                if *column == 0 {
                    return Err(InputError::ColumnZero);
                }
                let file = File::open(path).map_err(|e| InputError::OpenIds {
                    path: path.clone(),
                    why: e.to_string(),
                })?;
                skip.check_marked(&file, path)?;
                Units::Lines {
                    lines: Lines::new(file),
                    path: path.clone(),
                    column: *column,
                    line_no: 0,
                }
            }
            Source::Files {
                pattern,
                exclude,
                base,
            } => Units::Files(crate::files::FileNames::open(
                pattern,
                exclude,
                base.as_deref(),
            )?),
            Source::Records { catalog, .. } => Units::Records {
                catalog: catalog.clone(),
                entries: catalog.entries()?,
            },
            Source::Stream(s) => Units::Stream(s.open()?),
        };
        Ok(Entities {
            units,
            idsproc,
            skip,
            skipped: 0,
            skipped_in_store: 0,
            files_mode: !matches!(source, Source::Ids { .. }),
            failed: false,
            last_line: 0,
            repeats: None,
            repeated: 0,
            shard: None,
            last_place: 0,
            only: None,
            suffix_repeats: matches!(
                source,
                Source::Records {
                    suffix_repeats: true,
                    ..
                }
            ),
        })
    }

    /// Gives each of the `repeats` IDs out once: their later appearances are skipped
    /// and counted in [`Entities::repeated`].
    pub fn once(mut self, repeats: crate::repeats::Repeats) -> Self {
        self.repeats = (!repeats.is_empty()).then_some(repeats);
        self
    }

    /// Gives out only the entities of `shard` (by ID, see [`Shard`]; in records mode
    /// by byte range, see [`polyplug_records::byte_shard`]); the others are passed
    /// over, and counted nowhere (they are not skipped: another shard has them).
    pub fn shard(mut self, shard: Option<Shard>) -> Result<Self, InputError> {
        let shard = shard.filter(|s| s.count() > 1);
        if let (Some(s), Units::Records { catalog, entries }) = (shard, &mut self.units) {
            // The shard's byte range only: the others are never read.
            *entries = catalog.shard_entries(s.index(), s.count())?;
            return Ok(self);
        }
        self.shard = shard;
        Ok(self)
    }

    /// Gives out only the entities with these IDs (`--only`); the others are passed
    /// over and counted nowhere. No IDs: every entity.
    pub fn only(mut self, ids: &[String]) -> Self {
        if !ids.is_empty() {
            self.only = Some(ids.iter().map(|id| (id.clone(), false)).collect());
        }
        self
    }

    /// The `--only` IDs not met (so far: all of them once the input is read).
    pub fn not_found(&self) -> Vec<String> {
        let mut missing: Vec<String> = self
            .only
            .iter()
            .flatten()
            .filter(|(_, met)| !**met)
            .map(|(id, _)| id.clone())
            .collect();
        missing.sort();
        missing
    }

    /// The line of the IDs file the last entity came from (0 in files mode).
    pub fn line(&self) -> u64 {
        self.last_line
    }

    /// Where the last entity came from: its line in ids mode, 0 in files mode, its
    /// [`record_place`] in records mode.
    pub fn place(&self) -> u64 {
        match self.units {
            Units::Records { .. } => self.last_place,
            _ => self.last_line,
        }
    }

    /// The next unit, its line number (0 in files mode, the place in records mode)
    /// and its record.
    fn next_unit(&mut self) -> Option<Result<Unit, InputError>> {
        let shard = self.shard.filter(|_| self.idsproc.is_none());
        match &mut self.units {
            Units::Files(it) => it.next().map(|r| r.map(|s| (s, 0, None))),
            Units::Stream(rows) => rows
                .next()
                .map(|r| r.map(|(name, held)| (name, 0, Some(RecordRef::Held(held))))),
            Units::Records { entries, .. } => entries.next().map(|r| match r {
                Ok(e) => {
                    let place = record_place(e.file, e.offset);
                    let key = e.key();
                    Ok((e.name, place, Some(key)))
                }
                Err(e) => Err(InputError::Records(e)),
            }),
            Units::Lines {
                lines,
                path,
                column,
                line_no,
            } => loop {
                let line = match lines.next_line() {
                    Ok(Some(line)) => line,
                    Ok(None) => return None,
                    Err(e) => {
                        return Some(Err(InputError::Read {
                            path: path.clone(),
                            why: e.to_string(),
                        }))
                    }
                };
                *line_no += 1;
                // Another shard's ID, one a line (no TAB in the block, column 1): passed
                // over at once, its ID being the line without its trailing ASCII
                // whitespace (as `text_line_id` finds it).
                if let (Some(s), Line::Text { line, tabs: false }, 0 | 1) = (shard, &line, *column)
                {
                    let end = ascii_trimmed(line.as_bytes());
                    if end > 0
                        && line.as_bytes()[end - 1] < 0x80
                        && !s.contains(line.get(..end).unwrap_or(line))
                    {
                        continue;
                    }
                }
                let id = match line {
                    Line::Text { line, tabs } => text_line_id(line, *column, tabs),
                    Line::Bytes(bytes) => line_id(bytes, *column),
                };
                let unit = match crate::ids::line_unit(id, path, *line_no, *column) {
                    // Another shard's ID is passed over here, before it is copied
                    // (the shard of an ID edited by --idsproc is known only after).
                    Some(Ok(f)) if shard.is_some_and(|s| !s.contains(f)) => None,
                    unit => unit.map(|u| u.map(str::to_string)),
                };
                match unit {
                    None => continue,
                    Some(u) => return Some(u.map(|id| (id, *line_no, None))),
                }
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
            let (unit, line_no, record) = match self.next_unit()? {
                Ok(u) => u,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            };
            // In files mode compute gets the file name, in records mode the record's
            // name; in ids mode the (processed) ID.
            let (id, input) = match self.idsproc {
                Some(p) => match p.compute_id(&unit) {
                    Ok(id) => (id, self.files_mode.then_some(unit)),
                    Err(e) => {
                        self.failed = true;
                        let place = match &self.units {
                            Units::Lines { path, .. } => {
                                format!("{}: line {line_no}", path.display())
                            }
                            Units::Files(_) => unit.clone(),
                            Units::Records { catalog, .. } => record_label(catalog, line_no),
                            Units::Stream(_) => unit.clone(),
                        };
                        return Some(Err(InputError::Idsproc {
                            place,
                            plugin: p.path().to_path_buf(),
                            unit: unit.clone(),
                            why: e.message,
                        }));
                    }
                },
                None => (unit, None),
            };
            if record.is_some() {
                self.last_place = line_no;
            } else {
                self.last_line = line_no;
            }
            if self.shard.is_some_and(|s| !s.contains(&id)) {
                continue;
            }
            // A repeated record name is given its number among the record's
            // appearances (`#2`, …), a rule of the places alone, so that every shard
            // names it alike.
            let (id, input) = match (&self.repeats, self.suffix_repeats) {
                (Some(r), true) => match r.numbered(&id, line_no) {
                    Some(numbered) => (numbered, Some(input.unwrap_or(id))),
                    None => (id, input),
                },
                _ => (id, input),
            };
            if let Some(only) = &mut self.only {
                match only.get_mut(&id) {
                    Some(met) => *met = true,
                    None => continue,
                }
            }
            if let Some(origin) = self.skip.origin_at(&id, line_no) {
                self.skipped += 1;
                if origin == SkipOrigin::Store {
                    self.skipped_in_store += 1;
                }
                continue;
            }
            if let (Some(r), false) = (&mut self.repeats, self.suffix_repeats) {
                if r.seen_before(&id) {
                    self.repeated += 1;
                    continue;
                }
            }
            return Some(Ok(match (input, record) {
                (input, Some(record)) => Entity::with_record(input, id, record),
                (Some(input), None) => Entity::with_input(input, id),
                (None, None) => Entity::same(id),
            }));
        }
    }
}

#[cfg(test)]
#[path = "input_shard_tests.rs"]
mod shard_tests;

#[cfg(test)]
mod tests {
    use super::*;

    /// The line rule as first written, with `str` methods only: [`line_id`] must agree
    /// with it on every line.
    fn line_id_by_str(line: &[u8], column: usize) -> LineId<'_> {
        let Ok(text) = std::str::from_utf8(line) else {
            return LineId::NotUtf8;
        };
        let text = text.trim_end();
        if text.is_empty() {
            return LineId::Blank;
        }
        match text.split('\t').nth(column.saturating_sub(1)) {
            Some("") => LineId::EmptyColumn,
            Some(field) => LineId::Id(field),
            None => LineId::Columns(text.split('\t').count()),
        }
    }

    #[test]
    fn line_rule_agrees_with_the_str_methods() {
        // Every line of up to 4 symbols from an alphabet of the cases that matter:
        // TABs, each kind of ASCII and non-ASCII whitespace, multi-byte characters,
        // a lone continuation byte and a cut multi-byte character.
        let alphabet: [&[u8]; 12] = [
            b"a",
            b"\t",
            b" ",
            b"\r",
            b"\x0b",
            b"\x0c",
            "\u{3000}".as_bytes(),
            "\u{a0}".as_bytes(),
            "\u{e9}".as_bytes(),
            b"\x80",
            b"\xe2\x80",
            b"\n",
        ];
        let mut line = Vec::new();
        let mut tried = 0;
        for n in 0..=4u32 {
            for mut k in 0..alphabet.len().pow(n) {
                line.clear();
                for _ in 0..n {
                    line.extend_from_slice(alphabet[k % alphabet.len()]);
                    k /= alphabet.len();
                }
                for column in 0..4 {
                    let id = line_id(&line, column);
                    assert_eq!(
                        id,
                        line_id_by_str(&line, column),
                        "{line:?} column {column}"
                    );
                    // Told that the line holds no TAB, where it holds none.
                    if let (Ok(text), false) = (std::str::from_utf8(&line), line.contains(&b'\t')) {
                        assert_eq!(text_line_id(text, column, false), id, "{line:?}");
                    }
                    // The bytes rule agrees wherever the line is UTF-8.
                    let raw = raw_line_id(&line, column, true);
                    if !line.contains(&b'\t') {
                        assert_eq!(raw_line_id(&line, column, false), raw, "{line:?}");
                    }
                    match id {
                        LineId::Blank => assert_eq!(raw, RawId::Blank, "{line:?}"),
                        LineId::Id(id) => assert_eq!(raw, RawId::Id(id.as_bytes()), "{line:?}"),
                        LineId::NotUtf8 => {}
                        _ => assert_eq!(raw, RawId::Error, "{line:?} column {column}"),
                    }
                    tried += 1;
                }
            }
        }
        assert!(tried > 80_000);
    }

    #[test]
    fn id_lists_take_the_first_column_and_skip_blank_lines() {
        let dir = std::env::temp_dir().join(format!("pp-idlist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("ids.tsv");
        std::fs::write(&f, "a\t1\n\nb\n  \nc\tx\ty\n").unwrap();
        let mut ids = Vec::new();
        read_id_list(&f, |id| ids.push(id.to_string())).unwrap();
        assert_eq!(ids, ["a", "b", "c"]);
        let skip = read_skip_list(&f).unwrap();
        assert!(skip.contains("b") && !skip.contains("1"));
        assert!(read_skip_list(&dir.join("missing")).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
