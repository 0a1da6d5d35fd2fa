//! IDs that appear more than once in a run's input, found before the run, exactly, in
//! bounded memory: 64-bit keyed hashes of the IDs are gathered (at most [`PART`] at a
//! time, 32 MiB) and the repeated ones found (`collide.rs`), and the few suspects
//! equal hashes name are checked against the IDs themselves.

use crate::collide::{self, Buckets};
use crate::input::{Entities, InputError, LineId, RawId, SkipSet, Source};
use polyplug_core::{Plugin, Shard};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{Read as _, Seek, SeekFrom};
use std::path::Path;

/// How many repeated IDs an error lists.
pub const LISTED: usize = 5;

/// The IDs of an input that appear more than once.
#[derive(Debug, Default)]
pub struct Repeats {
    /// Each repeated ID with the places (line numbers, or 0 for a file of a pattern)
    /// where it appears, the first few IDs in input order.
    pub first: Vec<(String, Vec<u64>)>,
    /// How many distinct IDs appear more than once.
    pub count: usize,
    /// The repeated IDs, for a run that computes each once.
    ids: HashMap<String, bool>,
    /// Records mode: every place of each repeated name, in input order, for a run
    /// that numbers them (`--allow-duplicate-ids`).
    places: HashMap<String, Vec<u64>>,
}

impl Repeats {
    /// Whether no ID appears twice.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The error of a run that does not allow repeats: the first few, with their lines.
    pub fn error(&self, source: &Source) -> InputError {
        let place = source.place();
        let mut listed: Vec<String> = self
            .first
            .iter()
            .map(|(id, places)| {
                let lines: Vec<String> = places.iter().map(u64::to_string).collect();
                match (source, places.first()) {
                    (Source::Records { catalog, .. }, _) => {
                        let at: Vec<String> = places
                            .iter()
                            .map(|p| crate::input::record_label(catalog, *p))
                            .collect();
                        format!("{id:?} ({})", at.join(", "))
                    }
                    (_, Some(0)) => format!("{id:?} ({} files)", places.len()),
                    _ => format!("{id:?} (lines {})", lines.join(", ")),
                }
            })
            .collect();
        if self.count > self.first.len() {
            listed.push(format!("and {} more", self.count - self.first.len()));
        }
        let listed = listed.join(", ");
        match source {
            Source::Records { .. } => InputError::RepeatedRecords {
                place,
                count: self.count,
                listed,
            },
            _ => InputError::Repeated {
                place,
                count: self.count,
                listed,
            },
        }
    }

    /// Records mode: `id` numbered among the appearances of a repeated name when
    /// this one at `place` is not the first (`name#2`, `name#3`, …).
    pub(crate) fn numbered(&self, id: &str, place: u64) -> Option<String> {
        let k = self.places.get(id)?.iter().position(|p| *p == place)?;
        (k > 0).then(|| format!("{id}#{}", k + 1))
    }

    /// Whether `id` is a repeat of an ID already given out (and marks it given out
    /// when it is its first appearance).
    pub fn seen_before(&mut self, id: &str) -> bool {
        match self.ids.get_mut(id) {
            Some(seen) => std::mem::replace(seen, true),
            None => false,
        }
    }
}

/// At most this many hashes are held at once (8 bytes each: 32 MiB); a larger input
/// is looked at in parts, one pass over it per part.
const PART: u64 = 4 << 20;

/// An IDs file larger than this is hashed by several threads, each over its own
/// byte range (the check runs before the run, when the cores are idle).
const PARALLEL_BYTES: u64 = 1 << 20;

/// Finds the IDs of `source` (after `idsproc`) that appear more than once: each ID's
/// 64-bit keyed hash is collected and sorted (in parts of [`PART`] hashes), equal
/// hashes name the suspects, and only when there are any does one more pass check
/// them exactly (so that two IDs sharing a hash are never called repeats). Stops
/// quietly at an input error: the run meets it in its turn. An IDs file that is a
/// pipe is not looked at (the run reads it, once).
///
/// With `shard`, only the IDs of that shard are looked at (the others are another
/// shard's to check), and the shard rule's hash is the key.
pub fn find(
    source: &Source,
    idsproc: Option<&dyn Plugin>,
    shard: Option<Shard>,
) -> Result<Repeats, InputError> {
    check(source, idsproc, shard).map(|(repeats, _)| repeats)
}

/// [`find`], remembering in the folder `cache` that an IDs file (read without
/// `--idsproc`) holds no repeat, for as long as the file stays as it was: another
/// run over it, or over a shard of it, is not checked again (see `remember.rs`).
pub fn find_remembered(
    source: &Source,
    idsproc: Option<&dyn Plugin>,
    shard: Option<Shard>,
    cache: Option<&Path>,
) -> Result<Repeats, InputError> {
    let before = match (source, idsproc, cache) {
        (Source::Ids { path, column }, None, Some(cache)) if crate::input::rereadable(path) => {
            match crate::remember::recall(cache, path, *column) {
                Ok(()) => return Ok(Repeats::default()),
                // A shard's own check says nothing of the other shards' IDs.
                Err(before) => before.filter(|_| shard.is_none()),
            }
        }
        _ => None,
    };
    let (repeats, read) = check(source, idsproc, shard)?;
    // Only a check that read the whole file (or stopped at a line the run refuses,
    // as every run over it will) is remembered: not one a read error cut short.
    if let (Some(before), true, Reach::Whole, Source::Ids { path, .. }) =
        (before, repeats.is_empty(), read, source)
    {
        crate::remember::remember(before, path);
    }
    Ok(repeats)
}

/// How far a scan of a file read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// To its end, or to a line the run refuses (where every run over it stops).
    Whole,
    /// Not: it could not be opened or read (or its reader panicked).
    CutShort,
}

impl Reach {
    fn and(self, other: Reach) -> Reach {
        if self == Reach::Whole {
            other
        } else {
            Reach::CutShort
        }
    }
}

/// [`find`] itself, and how far it read an IDs file.
fn check(
    source: &Source,
    idsproc: Option<&dyn Plugin>,
    shard: Option<Shard>,
) -> Result<(Repeats, Reach), InputError> {
    match source {
        // A pattern gives each file once; a stream (a query) is read once, and
        // gives each of its keys once itself.
        Source::Files { .. } if idsproc.is_none() => return Ok((Repeats::default(), Reach::Whole)),
        Source::Stream(_) => return Ok((Repeats::default(), Reach::Whole)),
        // A pipe can be read only once, by the run.
        Source::Ids { path, .. } if !crate::input::rereadable(path) => {
            return Ok((Repeats::default(), Reach::CutShort))
        }
        _ => {}
    }
    // A shard of records is a byte range: a name may repeat in another shard's
    // range, so every shard looks at every record.
    let shard = shard.filter(|_| !matches!(source, Source::Records { .. }));
    let key = Key::new(shard);
    let (suspects, read) = match (source, idsproc) {
        (Source::Ids { path, column }, None) => suspects_of_file(path, *column, &key),
        _ => (suspects_of_units(source, idsproc, &key)?, Reach::Whole),
    };
    // The hashes are gone: their memory is the run's again.
    crate::give_back();
    if suspects.is_empty() {
        return Ok((Repeats::default(), read));
    }
    // The suspects, exactly, in the order of their first appearance.
    let mut places: HashMap<String, Vec<u64>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let exact = each_id(source, idsproc, |id, line| {
        if key
            .hash(id.as_bytes())
            .is_some_and(|h| suspects.contains(&h))
        {
            let at = places.entry(id.to_string()).or_insert_with(|| {
                order.push(id.to_string());
                Vec::new()
            });
            at.push(line);
        }
    })?;
    let mut repeats = Repeats::default();
    for id in order {
        let at = places.remove(&id).unwrap_or_default();
        if at.len() < 2 {
            continue; // two IDs that share a hash
        }
        repeats.count += 1;
        if repeats.first.len() < LISTED {
            repeats.first.push((id.clone(), at.clone()));
        }
        if matches!(source, Source::Records { .. }) {
            repeats.places.insert(id.clone(), at);
        }
        repeats.ids.insert(id, false);
    }
    Ok((repeats, read.and(exact)))
}

/// The hash of an ID for the check: keyed (so that no input makes many IDs share
/// one), or, for a shard, the shard rule's own hash, `None` for another shard's ID.
enum Key {
    Keyed(foldhash::fast::RandomState),
    Shard(Shard),
}

impl Key {
    fn new(shard: Option<Shard>) -> Key {
        match shard.filter(|s| s.count() > 1) {
            Some(s) => Key::Shard(s),
            None => Key::Keyed(foldhash::fast::RandomState::default()),
        }
    }

    fn hash(&self, id: &[u8]) -> Option<u64> {
        match self {
            Key::Keyed(k) => Some(k.hash_one(id)),
            Key::Shard(s) => {
                let h = Shard::hash(id);
                (Shard::of_hash(h, s.count()) == s.index()).then_some(h)
            }
        }
    }
}

/// The hashes that more than one ID of an IDs file has. The file is split into byte
/// ranges, one thread each, which hash the IDs of the lines starting in their range
/// into buckets; then each thread finds the repeated hashes of its share of the
/// buckets, over every range's hashes (see `collide.rs`). Hashes beyond the first
/// error line only add suspects, which the exact pass (it stops there) then clears.
fn suspects_of_file(path: &Path, column: usize, key: &Key) -> (HashSet<u64>, Reach) {
    let len = std::fs::metadata(path).map_or(0, |m| m.len());
    // A line of an ID is 8 bytes or more, mostly; a file that may hold more than
    // a part's hashes has its lines counted.
    let lines = if len / 8 > PART {
        crate::lines::count_lines(path).unwrap_or(len / 8)
    } else {
        len / 8
    };
    let parts = lines.div_ceil(PART).max(1);
    let threads = if len > PARALLEL_BYTES {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4)) as u64
    } else {
        1
    };
    let ranges: Vec<std::ops::Range<u64>> = (0..threads)
        .map(|t| len * t / threads..len * (t + 1) / threads)
        .collect();
    let mut suspects = HashSet::new();
    let mut read = Reach::Whole;
    // The hashes' room is taken here, by the calling thread, and kept for every part:
    // memory a hashing thread took would stay with its allocator heap once the
    // thread is gone (mimalloc's, in the binary), and the run after would carry it.
    // (A line is 2 bytes at the least; room not written to is not memory used.)
    let mut buckets: Vec<Buckets> = ranges
        .iter()
        .map(|r| Buckets::with_room(((r.end - r.start) / 2).min(PART / threads) as usize))
        .collect();
    let mut tables: Vec<Vec<u64>> = vec![Vec::new(); threads as usize];
    for part in 0..parts {
        let scanned: Vec<Option<Reach>> = std::thread::scope(|scope| {
            let hashers: Vec<_> = ranges
                .iter()
                .zip(buckets.iter_mut())
                .map(|(range, hashes)| {
                    let range = range.clone();
                    hashes.clear();
                    scope.spawn(move || {
                        // (No division per ID when there is one part, nearly always.)
                        scan_raw(path, column, range, |id| match key.hash(id) {
                            Some(h) if parts == 1 || h % parts == part => hashes.push(h),
                            _ => {}
                        })
                    })
                })
                .collect();
            hashers.into_iter().map(|h| h.join().ok()).collect()
        });
        // A thread that panicked gave no hashes; the run then reads what it can.
        for (hashes, scanned) in buckets.iter_mut().zip(scanned) {
            read = read.and(scanned.unwrap_or(Reach::CutShort));
            if scanned.is_none() {
                hashes.clear();
            }
        }
        // Each thread its share of the buckets, in a table of its own.
        let room = collide::table_room(Buckets::largest(&buckets));
        let found: Vec<Option<HashSet<u64>>> = std::thread::scope(|scope| {
            let buckets = &buckets;
            let finders: Vec<_> = tables
                .iter_mut()
                .enumerate()
                .map(|(t, table)| {
                    table.reserve(room);
                    scope.spawn(move || {
                        let mut found = HashSet::new();
                        for b in (t..collide::BUCKETS).step_by(threads as usize) {
                            collide::repeated_in(buckets, b, table, &mut found);
                        }
                        found
                    })
                })
                .collect();
            finders.into_iter().map(|f| f.join().ok()).collect()
        });
        for found in found {
            match found {
                Some(found) => suspects.extend(found),
                // (A thread that panicked found nothing: the run checks as it goes.)
                None => read = Reach::CutShort,
            }
        }
    }
    (suspects, read)
}

/// The hashes that more than one unit of a pattern or of an idsproc plugin has.
fn suspects_of_units(
    source: &Source,
    idsproc: Option<&dyn Plugin>,
    key: &Key,
) -> Result<HashSet<u64>, InputError> {
    let n = crate::input::count_units(source).unwrap_or(0);
    let parts = n.div_ceil(PART).max(1);
    let mut hashes = [Buckets::with_room(n.min(PART) as usize)];
    let mut suspects = HashSet::new();
    for part in 0..parts {
        hashes[0].clear();
        each_id(source, idsproc, |id, _| match key.hash(id.as_bytes()) {
            Some(h) if h % parts == part => hashes[0].push(h),
            _ => {}
        })?;
        collide::repeated(&hashes, &mut suspects);
    }
    Ok(suspects)
}

/// Calls `f` with each ID of the source and its line (0 for a file of a pattern), up
/// to the first input error; says how far it read an IDs file. An IDs file without
/// `--idsproc` is scanned as bytes ([`scan`]).
fn each_id(
    source: &Source,
    idsproc: Option<&dyn Plugin>,
    mut f: impl FnMut(&str, u64),
) -> Result<Reach, InputError> {
    if let (Source::Ids { path, column }, None) = (source, idsproc) {
        return Ok(scan(path, *column, 0..u64::MAX, f));
    }
    let mut entities = Entities::open(source, idsproc, SkipSet::default())?;
    while let Some(Ok(e)) = entities.next() {
        f(&e.id, entities.place());
    }
    Ok(Reach::Whole)
}

/// Calls `f` with the ID of each line of the IDs file at `path` that starts at a
/// byte offset in `range`, and the line's number counted from the range's first
/// line, with the rules of [`Entities`] ([`crate::input::line_id`]), up to the first
/// line that is an input error, without an allocation per ID. A file that cannot
/// be read has no IDs here: the run says why.
fn scan(
    path: &Path,
    column: usize,
    range: std::ops::Range<u64>,
    mut f: impl FnMut(&str, u64),
) -> Reach {
    scan_lines(path, range, |line, no, _| {
        match crate::input::line_id(line, column) {
            LineId::Blank => true,
            LineId::Id(id) => {
                f(id, no);
                true
            }
            _ => false,
        }
    })
}

/// [`scan`] with the ID's bytes, not checked to be UTF-8 ([`crate::input::raw_line_id`]):
/// for hashing every ID, where a line that is not UTF-8 only adds a suspect, which the
/// exact pass (it stops there) clears.
fn scan_raw(
    path: &Path,
    column: usize,
    range: std::ops::Range<u64>,
    mut f: impl FnMut(&[u8]),
) -> Reach {
    scan_lines(
        path,
        range,
        |line, _, tabs| match crate::input::raw_line_id(line, column, tabs) {
            RawId::Blank => true,
            RawId::Id(id) => {
                f(id);
                true
            }
            RawId::Error => false,
        },
    )
}

/// Calls `f` with each line of the file at `path` that starts at a byte offset in
/// `range`, its number counted from the range's first line and whether the buffer it
/// was read in holds a TAB (when not, neither does the line), while `f` says to go on;
/// says whether it read the range (or stopped where `f` said) or was cut short.
fn scan_lines(
    path: &Path,
    range: std::ops::Range<u64>,
    mut f: impl FnMut(&[u8], u64, bool) -> bool,
) -> Reach {
    let Ok(mut file) = File::open(path) else {
        return Reach::CutShort;
    };
    // A range that starts inside a line leaves that line to the range before: the
    // reading starts one byte early and drops everything up to the first newline.
    let mut at = range.start.saturating_sub(1); // the file offset of buf[0]
    let mut partial = range.start > 0;
    if partial && file.seek(SeekFrom::Start(at)).is_err() {
        return Reach::CutShort;
    }
    let mut no = 0u64;
    // Whole lines of a large buffer, found with memchr; a line cut by the end of
    // the buffer is moved to its start.
    let mut buf = vec![0u8; 1 << 20];
    let mut kept = 0;
    loop {
        if kept == buf.len() {
            buf.resize(buf.len() * 2, 0); // a line longer than the buffer
        }
        let read = match file.read(&mut buf[kept..]) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return Reach::CutShort,
        };
        let end = kept + read;
        let mut start = 0;
        let last = read == 0;
        let tabs = memchr::memchr(b'\t', &buf[..end]).is_some();
        // The line breaks of the buffer, found in one pass.
        let mut breaks = crate::lines::Newlines::of(&buf[..end]);
        loop {
            let begins = at + start as u64;
            let line = match breaks.next() {
                Some(i) => {
                    let l = start..i;
                    start = i + 1;
                    l
                }
                None if last && start < end => {
                    let l = start..end;
                    start = end;
                    l
                }
                None => break,
            };
            if std::mem::take(&mut partial) {
                continue;
            }
            if begins >= range.end {
                return Reach::Whole;
            }
            no += 1;
            // An error line ends the check: the run meets it in its turn.
            if !f(&buf[line], no, tabs) {
                return Reach::Whole;
            }
        }
        if last {
            return Reach::Whole;
        }
        buf.copy_within(start..end, 0);
        at += start as u64;
        kept = end - start;
    }
}

#[cfg(test)]
#[path = "repeats_tests.rs"]
mod tests;
