//! The IDs a run skips (`-s`, the results file, the store's done entities).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

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
#[derive(Debug, Clone)]
pub struct SkipSet {
    keys: (RandomState, RandomState),
    /// Hash | origin bits; once frozen, sorted by hash with one entry per ID.
    items: Vec<u128>,
    /// Whether `items` is sorted, merged and indexed by `dir`.
    frozen: bool,
    /// `dir[t]`: the first index of `items` whose top `bits` bits are at least `t`.
    dir: Vec<u32>,
    bits: u32,
}

impl Default for SkipSet {
    fn default() -> SkipSet {
        SkipSet {
            keys: (RandomState::new(), RandomState::new()),
            items: Vec::new(),
            frozen: true,
            dir: vec![0, 0],
            bits: 0,
        }
    }
}

impl SkipSet {
    /// The ID's hash, its two lowest bits cleared for the origin.
    fn hash(&self, id: &str) -> u128 {
        let a = self.keys.0.hash_one(id);
        let b = self.keys.1.hash_one(id);
        ((u128::from(a) << 64) | u128::from(b)) & !3
    }

    /// Makes room for `n` more IDs (a hint: more or fewer may come).
    pub fn reserve(&mut self, n: u64) {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        // A wrong hint must not cost more than it saves: at most 2^28 at once.
        self.items.reserve(n.min(1 << 28));
    }

    /// Adds an ID of a skip list.
    pub fn insert(&mut self, id: &str) {
        self.insert_from(id, SkipOrigin::List);
    }

    /// Adds an ID found in `origin`. Lookups need [`SkipSet::freeze`] first to be fast.
    pub fn insert_from(&mut self, id: &str, origin: SkipOrigin) {
        let h = self.hash(id);
        self.items.push(h | origin as u128);
        self.frozen = false;
    }

    /// Sorts the hashes, merges the repeats of an ID (keeping where each was found)
    /// and indexes them. Called once every ID is in; adding more unfreezes the set.
    pub fn freeze(&mut self) {
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
    pub fn origin(&self, id: &str) -> Option<SkipOrigin> {
        if self.items.is_empty() {
            return None;
        }
        let h = self.hash(id) >> 2;
        let bits = if self.frozen {
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
        };
        match bits {
            0 => None,
            2 => Some(SkipOrigin::Store),
            _ => Some(SkipOrigin::List),
        }
    }

    /// Number of IDs (freeze first to count each ID once).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
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
mod tests {
    use super::*;

    #[test]
    fn skip_sets_hold_ids_by_hash() {
        let mut s = SkipSet::default();
        assert!(s.is_empty() && !s.contains(""));
        for i in 0..100_000 {
            s.insert(&format!("ID{i}"));
        }
        s.insert("ID7"); // again
        s.extend(["é\tx", ""]);
        // Before freezing, lookups are right (slowly) and repeats are counted.
        assert!(s.contains("ID99999") && !s.contains("ID100000"));
        assert_eq!(s.len(), 100_003);
        s.freeze();
        assert_eq!(s.len(), 100_002);
        assert!((0..100_000).all(|i| s.contains(&format!("ID{i}"))));
        assert!(s.contains("é\tx") && s.contains(""));
        assert!(!(100_000..200_000).any(|i| s.contains(&format!("ID{i}"))));
        assert!(!s.contains("id7") && !s.contains("ID7 "));
    }

    #[test]
    fn skip_sets_know_where_each_id_was_found() {
        let mut s = SkipSet::default();
        s.insert("listed");
        s.insert_from("stored", SkipOrigin::Store);
        s.insert_from("both", SkipOrigin::Store);
        s.insert("both");
        s.insert("both2");
        s.insert_from("both2", SkipOrigin::Store);
        s.insert_from("stored", SkipOrigin::Store); // again
        s.freeze();
        assert_eq!(s.len(), 4);
        assert_eq!(s.origin("listed"), Some(SkipOrigin::List));
        assert_eq!(s.origin("stored"), Some(SkipOrigin::Store));
        assert_eq!(s.origin("both"), Some(SkipOrigin::List));
        assert_eq!(s.origin("both2"), Some(SkipOrigin::List));
        assert_eq!(s.origin("other"), None);
    }

    #[test]
    fn a_frozen_skip_set_answers_as_a_hash_set_does() {
        use std::collections::HashMap;
        // Sizes around the directory's steps, IDs from both origins, repeats, and
        // IDs added after a freeze.
        for n in [0usize, 1, 2, 3, 7, 8, 9, 1000, 4097, 50_000] {
            let mut s = SkipSet::default();
            let mut model: HashMap<String, u8> = HashMap::new();
            s.reserve(n as u64);
            for i in 0..n {
                let id = format!("e{}", (i * 7919) % (n + n / 3 + 1));
                let origin = if i % 3 == 0 {
                    SkipOrigin::Store
                } else {
                    SkipOrigin::List
                };
                s.insert_from(&id, origin);
                *model.entry(id).or_default() |= origin as u8;
            }
            s.freeze();
            s.insert_from("late", SkipOrigin::Store);
            model.insert("late".into(), 2);
            s.freeze();
            assert_eq!(s.len(), model.len(), "n = {n}");
            for i in 0..(2 * n + 10) {
                let id = format!("e{i}");
                let want = match model.get(&id) {
                    None => None,
                    Some(2) => Some(SkipOrigin::Store),
                    Some(_) => Some(SkipOrigin::List),
                };
                assert_eq!(s.origin(&id), want, "n = {n}, {id}");
            }
            assert_eq!(s.origin("late"), Some(SkipOrigin::Store));
        }
    }
}
