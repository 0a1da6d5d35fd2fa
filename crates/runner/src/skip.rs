//! The IDs a run skips (`-s`, the results file, the store's done entities).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use crate::input::{Entities, InputError, Source};
use crate::spill::{part, slice_of, FileStamp, LineMarks, Parts, HELD, PARTS};
use polyplug_core::Shard;

/// Where a skipped ID was found: a skip list (`-s`, or the results file `-o`), the
/// store, or both; a run says why it skipped what it skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipOrigin {
    /// A skip list: `-s`, or the results file.
    List = 1,
    /// The store's done entities.
    Store = 2,
}

/// The IDs a run skips, kept as 128-bit hashes rather than strings. The two 64-bit
/// SipHash keys are random per process, so two different IDs share a hash with
/// probability about n²/2¹²⁷ (10⁻²⁴ for ten million IDs: the two lowest bits of each
/// hash say where the ID was found, [`SkipOrigin`]), and no input can be crafted to
/// collide.
///
/// The hashes are collected, then [frozen](SkipSet::freeze) into one sorted array with
/// a directory of its top bits: 16 bytes per ID and at most 4 more for the directory,
/// about a third of a hash set's room, with no doubling on the way when the caller
/// [reserves](SkipSet::reserve) what it will add (a rerun over five million stored
/// entities holds 100 MB instead of 250). A lookup reads the directory and then, on
/// average, one or two hashes: as fast as a hash set.
#[derive(Debug)]
pub struct SkipSet {
    keys: (RandomState, RandomState),
    /// Hash | origin bits; once frozen, sorted by hash with one entry per ID.
    items: Vec<u128>,
    /// Whether `items` is sorted, merged and indexed by `dir`.
    frozen: bool,
    /// `dir[t]`: the first index of `items` whose top `bits` bits are at least `t`.
    dir: Vec<u32>,
    bits: u32,
    /// A [spilling](SkipSet::spilling) set: how many hashes it holds before writing
    /// them to disk.
    held: Option<usize>,
    /// The hashes written to disk, by their top bits.
    spilled: Option<Box<Parts<16>>>,
    /// Once [marked](SkipSet::mark_lines): the origin of each line of the input.
    marks: Option<LineMarks>,
    /// How many distinct IDs a marked set had.
    marked: usize,
    /// The first error of the files a spilling set writes.
    error: Option<String>,
    /// The IDs file the marks belong to, as it was marked.
    stamp: Option<FileStamp>,
}

impl Default for SkipSet {
    fn default() -> SkipSet {
        SkipSet {
            keys: (RandomState::new(), RandomState::new()),
            items: Vec::new(),
            frozen: true,
            dir: vec![0, 0],
            bits: 0,
            held: None,
            spilled: None,
            marks: None,
            marked: 0,
            error: None,
            stamp: None,
        }
    }
}

impl SkipSet {
    /// A set for a run whose input can be read again line by line (an IDs file that
    /// is a regular file, no `--idsproc`): past [`HELD`] IDs it writes their hashes to
    /// unnamed temporary files instead of holding them, and
    /// [`SkipSet::mark_lines`] then marks the input's lines found in it, so that a
    /// rerun over millions of stored entities holds 2 bits per input line rather than
    /// 16 bytes per stored entity.
    pub fn spilling() -> SkipSet {
        SkipSet::spilling_past(HELD)
    }

    /// A spilling set that holds at most `held` IDs (tests give small ones).
    fn spilling_past(held: usize) -> SkipSet {
        SkipSet {
            held: Some(held),
            ..SkipSet::default()
        }
    }

    /// The ID's hash, its two lowest bits cleared for the origin.
    fn hash(&self, id: &str) -> u128 {
        let a = self.keys.0.hash_one(id);
        let b = self.keys.1.hash_one(id);
        ((u128::from(a) << 64) | u128::from(b)) & !3
    }

    /// Makes room for `n` more IDs (a hint: more or fewer may come).
    pub fn reserve(&mut self, n: u64) {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        // A wrong hint must not cost more than it saves: at most 2^28 at once, and
        // never more than a spilling set holds.
        let n = n.min(1 << 28).min(self.held.map_or(usize::MAX, |h| h + 1));
        self.items.reserve(n.saturating_sub(self.items.len()));
    }

    /// Adds an ID of a skip list.
    pub fn insert(&mut self, id: &str) {
        self.insert_from(id, SkipOrigin::List);
    }

    /// Adds an ID found in `origin`. Lookups need [`SkipSet::freeze`] first to be fast.
    pub fn insert_from(&mut self, id: &str, origin: SkipOrigin) {
        if self.error.is_some() {
            // The run stops at the error: holding more would only cost memory.
            return;
        }
        let h = self.hash(id);
        self.items.push(h | origin as u128);
        self.frozen = false;
        if self.held.is_some_and(|held| self.items.len() > held) {
            self.spill();
        }
    }

    /// Writes the held hashes to the parts on disk (the first time, creating them).
    fn spill(&mut self) {
        if self.error.is_some() {
            return;
        }
        let written = (|| -> std::io::Result<()> {
            let parts = match &mut self.spilled {
                Some(p) => p,
                None => self.spilled.insert(Box::new(Parts::new()?)),
            };
            for h in self.items.drain(..) {
                parts.put(part(h), &h.to_le_bytes())?;
            }
            Ok(())
        })();
        if let Err(e) = written {
            self.error = Some(format!(
                "cannot write the done IDs' hashes to a temporary file: {e}"
            ));
        }
    }

    /// Reads back into `items` what parts `from..to` hold, the hashes `keep` keeps.
    fn unspill(&mut self, from: usize, to: usize, keep: impl Fn(u128) -> bool) {
        let Some(parts) = &mut self.spilled else {
            return;
        };
        let items = &mut self.items;
        let n: u64 = parts.counts[from..to].iter().sum();
        items.reserve_exact(
            usize::try_from(n)
                .unwrap_or(0)
                .min(self.held.unwrap_or(HELD)),
        );
        for p in from..to {
            let read = parts.each(p, |r| {
                let h = u128::from_le_bytes(*r);
                if keep(h) {
                    items.push(h);
                }
            });
            if let Err(e) = read {
                self.error.get_or_insert(format!(
                    "cannot read back the done IDs' hashes from a temporary file: {e}"
                ));
            }
        }
        self.frozen = false;
    }

    /// The first error of the temporary files of a spilling set: the run cannot know
    /// what it skips, so it must stop.
    pub fn error(&self) -> Option<InputError> {
        self.error.clone().map(|why| InputError::SkipSpill { why })
    }

    /// Makes a [spilling](SkipSet::spilling) set ready for a run over `source`
    /// (an IDs file read again here, `shard` alone when given, without `--idsproc`):
    /// each group of parts that fits in memory is read back, and the input's lines
    /// whose IDs it holds are marked; the lookups of the run are then by line
    /// ([`SkipSet::origin_at`]). A set that holds all its IDs is only frozen.
    ///
    /// The input is read as the run reads it (see [`Entities`]); a read error is an
    /// error, a bad line stops the marking quietly (the run stops there in its turn).
    /// The marks belong to the file as it was: [`Entities::open`] refuses it once it
    /// changed ([`InputError::IdsChanged`]).
    pub fn mark_lines(&mut self, source: &Source, shard: Option<Shard>) -> Result<(), InputError> {
        // What reading the skip list and the store took is free again.
        crate::give_back();
        // Only an IDs file's entities have lines of their own: any other source gets
        // the held set back (correct, in the memory of its IDs).
        let path = match source {
            Source::Ids { path, .. } if self.spilled.is_some() && self.marks.is_none() => path,
            _ => {
                self.freeze();
                return self.error().map_or(Ok(()), Err);
            }
        };
        self.spill();
        if let Some(e) = self.error() {
            return Err(e);
        }
        let io = |e: std::io::Error| InputError::SkipSpill {
            why: format!("cannot write the input's hashes to a temporary file: {e}"),
        };
        // The input's hashes and lines, by the same parts, from a file that must not
        // change until the run has it open (FileStamp).
        let stamp = FileStamp::of_path(path);
        let mut input = Parts::<24>::new().map_err(io)?;
        let mut entities = Entities::open(source, None, SkipSet::default())?.shard(shard)?;
        let mut lines = 0;
        loop {
            match entities.next() {
                Some(Ok(e)) => {
                    let (h, line) = (self.hash(&e.id), entities.line());
                    let mut record = [0u8; 24];
                    record[..16].copy_from_slice(&h.to_le_bytes());
                    record[16..].copy_from_slice(&line.to_le_bytes());
                    input.put(part(h), &record).map_err(io)?;
                    lines = line;
                }
                // A file that cannot be read is an error now; a bad line stops the
                // marking quietly, and the run at the same line.
                Some(Err(e @ InputError::Read { .. })) => return Err(e),
                Some(Err(_)) | None => break,
            }
        }
        drop(entities);
        if stamp.is_none() || stamp != FileStamp::of_path(path) {
            return Err(InputError::IdsChanged { path: path.clone() });
        }
        let mut marks = LineMarks::new(lines);
        let held = self.held.unwrap_or(HELD);
        let mut from = 0;
        while from < PARTS {
            let Some(done) = self.spilled.as_ref() else {
                break;
            };
            let to = done.group(from, held);
            // A part larger than what is held (past 64 times that many IDs) is joined
            // in slices, by the hash bits below the part's.
            let slices = done.counts[from..to]
                .iter()
                .sum::<u64>()
                .div_ceil(held.max(1) as u64)
                .max(1);
            for slice in 0..slices {
                self.items.clear();
                self.unspill(from, to, |h| slice_of(h, slices) == slice);
                self.freeze_held();
                self.marked += self.items.len();
                for p in from..to {
                    input
                        .each(p, |r| {
                            let h = u128::from_le_bytes(r[..16].try_into().unwrap_or_default());
                            if slice_of(h, slices) != slice {
                                return;
                            }
                            let line = u64::from_le_bytes(r[16..].try_into().unwrap_or_default());
                            let bits = self.bits_of(h >> 2);
                            if bits != 0 {
                                marks.set(line, bits as u8);
                            }
                        })
                        .map_err(io)?;
                }
            }
            // What is joined takes no more room on disk.
            for p in from..to {
                input.clear(p).map_err(io)?;
                if let Some(done) = self.spilled.as_mut() {
                    done.clear(p).map_err(io)?;
                }
            }
            from = to;
        }
        if let Some(e) = self.error() {
            return Err(e);
        }
        self.items = Vec::new();
        self.dir = vec![0, 0];
        self.bits = 0;
        self.spilled = None;
        self.marks = Some(marks);
        self.stamp = stamp;
        drop(input);
        crate::give_back();
        Ok(())
    }

    /// Checks that `file`, opened by the run, is the IDs file a
    /// [marked](SkipSet::mark_lines) set's marks were made on, unchanged: marks by line
    /// are only right for it.
    pub(crate) fn check_marked(
        &self,
        file: &std::fs::File,
        path: &std::path::Path,
    ) -> Result<(), InputError> {
        match &self.stamp {
            Some(stamp)
                if file.metadata().ok().map(|m| FileStamp::of(&m)).as_ref() != Some(stamp) =>
            {
                Err(InputError::IdsChanged {
                    path: path.to_path_buf(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Sorts the hashes, merges the repeats of an ID (keeping where each was found)
    /// and indexes them. Called once every ID is in; adding more unfreezes the set.
    ///
    /// A spilling set not [marked](SkipSet::mark_lines) reads back all it wrote.
    pub fn freeze(&mut self) {
        if self.spilled.is_some() && self.marks.is_none() {
            self.unspill(0, PARTS, |_| true);
            self.spilled = None;
            self.held = None;
        }
        self.freeze_held();
    }

    /// Sorts, merges and indexes the held hashes.
    fn freeze_held(&mut self) {
        if self.frozen {
            return;
        }
        self.items.sort_unstable();
        let mut kept = 0;
        for i in 0..self.items.len() {
            let v = self.items[i];
            if kept > 0 && self.items[kept - 1] >> 2 == v >> 2 {
                self.items[kept - 1] |= v & 3;
            } else {
                self.items[kept] = v;
                kept += 1;
            }
        }
        self.items.truncate(kept);
        self.items.shrink_to_fit();
        // About one hash per directory entry: floor(log2(n)) bits, at most 32.
        self.bits = if kept < 2 {
            0
        } else {
            (usize::BITS - 1 - kept.leading_zeros()).min(32)
        };
        let mut dir = vec![0u32; (1usize << self.bits) + 1];
        for &v in &self.items {
            dir[self.top(v) + 1] += 1;
        }
        for t in 1..dir.len() {
            dir[t] += dir[t - 1];
        }
        self.dir = dir;
        self.frozen = true;
    }

    fn top(&self, v: u128) -> usize {
        if self.bits == 0 {
            0
        } else {
            // At most 32 bits: fits a usize on every platform polyplug builds for.
            (v >> (128 - self.bits)) as usize
        }
    }

    /// Whether the ID is in the set.
    pub fn contains(&self, id: &str) -> bool {
        self.origin(id).is_some()
    }

    /// Where the ID was found: a skip list (first, also when the store has it too),
    /// else the store; `None` when it is not in the set.
    ///
    /// A [marked](SkipSet::mark_lines) set knows lines, not IDs: ask it with
    /// [`SkipSet::origin_at`].
    pub fn origin(&self, id: &str) -> Option<SkipOrigin> {
        debug_assert!(self.marks.is_none(), "a marked skip set is asked by line");
        if self.items.is_empty() {
            return None;
        }
        origin_of(self.bits_of(self.hash(id) >> 2))
    }

    /// Where the ID at `line` of the input was found: by its mark in a
    /// [marked](SkipSet::mark_lines) set, else by the ID.
    pub fn origin_at(&self, id: &str, line: u64) -> Option<SkipOrigin> {
        match &self.marks {
            Some(m) => origin_of(u128::from(m.get(line))),
            None => self.origin(id),
        }
    }

    /// The origin bits of the hash `h` (shifted right by 2): 0 when it is not held.
    fn bits_of(&self, h: u128) -> u128 {
        if self.frozen {
            let t = self.top(h << 2);
            let (from, to) = (self.dir[t] as usize, self.dir[t + 1] as usize);
            self.items[from..to]
                .iter()
                .take_while(|v| **v >> 2 <= h)
                .filter(|v| **v >> 2 == h)
                .fold(0, |bits, v| bits | (v & 3))
        } else {
            // Not frozen (a caller that added after freezing): correct, but slow.
            self.items
                .iter()
                .filter(|v| **v >> 2 == h)
                .fold(0, |bits, v| bits | (v & 3))
        }
    }

    /// Number of IDs (freeze or mark first to count each ID once).
    pub fn len(&self) -> usize {
        let spilled = self.spilled.as_ref().map_or(0, |p| p.counts.iter().sum());
        self.items.len() + self.marked + usize::try_from(spilled).unwrap_or(usize::MAX)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The origin that origin bits say: a skip list first, also when the store has it too.
fn origin_of(bits: u128) -> Option<SkipOrigin> {
    match bits {
        0 => None,
        2 => Some(SkipOrigin::Store),
        _ => Some(SkipOrigin::List),
    }
}

impl<'s> Extend<&'s str> for SkipSet {
    fn extend<I: IntoIterator<Item = &'s str>>(&mut self, ids: I) {
        for id in ids {
            self.insert(id);
        }
    }
}

/// A hasher for keys that are already uniformly random hashes: it passes them on.
#[derive(Debug, Default)]
pub struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

#[cfg(test)]
#[path = "skip_tests.rs"]
mod tests;
