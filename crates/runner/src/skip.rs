//! The IDs a run skips (`-s`, the results file, the store's done entities).

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// Where a skipped ID was found: a skip list (`-s`, or the results file `-o`), the
/// store, or both; a run says why it skipped what it skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipOrigin {
    /// A skip list: `-s`, or the results file.
    List = 1,
    /// The store's done entities.
    Store = 2,
}

/// The IDs a run skips, kept as 128-bit hashes rather than strings: a rerun over ten
/// million entities holds about 200 MB instead of gigabytes. The two 64-bit SipHash
/// keys are random per process, so two different IDs share a hash with probability
/// about n²/2¹²⁷ (10⁻²⁴ for ten million IDs: the two lowest bits of each hash say
/// where the ID was found, [`SkipOrigin`]), and no input can be crafted to collide.
#[derive(Debug, Clone)]
pub struct SkipSet {
    keys: (RandomState, RandomState),
    hashes: HashSet<u128, BuildHasherDefault<Prehashed>>,
}

impl Default for SkipSet {
    fn default() -> SkipSet {
        SkipSet {
            keys: (RandomState::new(), RandomState::new()),
            hashes: HashSet::default(),
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

    /// Adds an ID of a skip list.
    pub fn insert(&mut self, id: &str) {
        self.insert_from(id, SkipOrigin::List);
    }

    /// Adds an ID found in `origin`.
    pub fn insert_from(&mut self, id: &str, origin: SkipOrigin) {
        let h = self.hash(id);
        let bit = origin as u128;
        let other = 3 ^ bit;
        if self.hashes.contains(&(h | bit)) || self.hashes.contains(&(h | 3)) {
            return;
        }
        if self.hashes.remove(&(h | other)) {
            self.hashes.insert(h | 3);
        } else {
            self.hashes.insert(h | bit);
        }
    }

    /// Whether the ID is in the set.
    pub fn contains(&self, id: &str) -> bool {
        self.origin(id).is_some()
    }

    /// Where the ID was found: a skip list (first, also when the store has it too),
    /// else the store; `None` when it is not in the set.
    pub fn origin(&self, id: &str) -> Option<SkipOrigin> {
        if self.hashes.is_empty() {
            return None;
        }
        let h = self.hash(id);
        if self.hashes.contains(&(h | 1)) || self.hashes.contains(&(h | 3)) {
            Some(SkipOrigin::List)
        } else if self.hashes.contains(&(h | 2)) {
            Some(SkipOrigin::Store)
        } else {
            None
        }
    }

    /// Number of IDs.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
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
    fn write_u128(&mut self, v: u128) {
        // The low bits say where an ID was found: the high half is the hash.
        self.0 = (v >> 64) as u64;
    }
}
