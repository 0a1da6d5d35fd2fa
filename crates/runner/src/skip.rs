//! The IDs a run skips (`-s`, the results file, the store's done entities).

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// The IDs a run skips, kept as 128-bit hashes rather than strings: a rerun over ten
/// million entities holds about 200 MB instead of gigabytes. The two 64-bit SipHash
/// keys are random per process, so two different IDs share a hash with probability
/// about n²/2¹²⁹ (10⁻²⁵ for ten million IDs), and no input can be crafted to collide.
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
    fn hash(&self, id: &str) -> u128 {
        let a = self.keys.0.hash_one(id);
        let b = self.keys.1.hash_one(id);
        (u128::from(a) << 64) | u128::from(b)
    }

    /// Adds an ID.
    pub fn insert(&mut self, id: &str) {
        let h = self.hash(id);
        self.hashes.insert(h);
    }

    /// Whether the ID is in the set.
    pub fn contains(&self, id: &str) -> bool {
        !self.hashes.is_empty() && self.hashes.contains(&self.hash(id))
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
        self.0 = v as u64;
    }
}
