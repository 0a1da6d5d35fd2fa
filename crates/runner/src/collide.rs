//! The 64-bit hashes that more than one ID has, among a million of them in a few
//! milliseconds: hashes are dealt into [`BUCKETS`] buckets by their top bits as they
//! are made, and each bucket (a few tens of thousands of hashes, from every thread)
//! goes through an open-addressing table small enough to stay in the core's cache.
//! Sorting them instead costs about three times as much here (cache misses, and
//! `log n` comparisons a hash).

use std::collections::HashSet;

/// How many buckets hashes are dealt into (by their top 5 bits, mixed).
pub(crate) const BUCKETS: usize = 32;
const BUCKET_BITS: u32 = BUCKETS.trailing_zeros();

/// Spreads a hash over all 64 bits, one to one (an odd multiplier), so that hashes
/// that share bits (a shard's, which all leave one remainder) still fill every
/// bucket and every part of a table.
fn mix(h: u64) -> u64 {
    h.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Hashes, dealt into buckets.
pub(crate) struct Buckets {
    lists: Vec<Vec<u64>>,
}

impl Buckets {
    /// Room for about `n` hashes, taken now (by the calling thread).
    pub(crate) fn with_room(n: usize) -> Buckets {
        // A bucket gets n/BUCKETS hashes give or take a few hundred; more grows it.
        let each = n / BUCKETS + n / BUCKETS / 16 + 64;
        Buckets {
            lists: (0..BUCKETS).map(|_| Vec::with_capacity(each)).collect(),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, h: u64) {
        self.lists[(mix(h) >> (64 - BUCKET_BITS)) as usize].push(h);
    }

    pub(crate) fn clear(&mut self) {
        self.lists.iter_mut().for_each(Vec::clear);
    }

    /// The most hashes of one bucket of all of `sets` together.
    pub(crate) fn largest(sets: &[Buckets]) -> usize {
        (0..BUCKETS)
            .map(|b| sets.iter().map(|s| s.lists[b].len()).sum::<usize>())
            .max()
            .unwrap_or(0)
    }
}

/// The room of a table for `n` hashes (twice as many slots, at least 16).
pub(crate) fn table_room(n: usize) -> usize {
    (2 * n).max(16).next_power_of_two()
}

/// Adds to `into` the hashes that bucket `b` of all of `sets` together holds more
/// than once, using `table` (of at least [`table_room`] of the bucket's size).
pub(crate) fn repeated_in(
    sets: &[Buckets],
    b: usize,
    table: &mut Vec<u64>,
    into: &mut HashSet<u64>,
) {
    let n: usize = sets.iter().map(|s| s.lists[b].len()).sum();
    let room = table_room(n);
    table.clear();
    table.resize(room, 0);
    let bits = room.trailing_zeros();
    let mask = room - 1;
    // 0 marks an empty slot: the hash 0 is counted aside.
    let mut zeros = 0;
    for &h in sets.iter().flat_map(|s| &s.lists[b]) {
        if h == 0 {
            zeros += 1;
            if zeros == 2 {
                into.insert(0);
            }
            continue;
        }
        // The bits below the bucket's pick the slot.
        let mut i = ((mix(h) << BUCKET_BITS) >> (64 - bits)) as usize;
        loop {
            let there = table[i];
            if there == 0 {
                table[i] = h;
                break;
            }
            if there == h {
                into.insert(h);
                break;
            }
            i = (i + 1) & mask;
        }
    }
}

/// Adds to `into` the hashes that all of `sets` together hold more than once,
/// bucket by bucket.
pub(crate) fn repeated(sets: &[Buckets], into: &mut HashSet<u64>) {
    let mut table = Vec::with_capacity(table_room(Buckets::largest(sets)));
    for b in 0..BUCKETS {
        repeated_in(sets, b, &mut table, into);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(sets: &[Buckets]) -> Vec<u64> {
        let mut into = HashSet::new();
        repeated(sets, &mut into);
        let mut v: Vec<u64> = into.into_iter().collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn finds_the_hashes_held_twice_within_and_across_sets() {
        let mut a = Buckets::with_room(10);
        let mut b = Buckets::with_room(10);
        // Hashes that collide in buckets and slots: multiples of a power of two,
        // which mixing must still spread.
        for h in (1..5000u64).map(|k| k << 40) {
            a.push(h);
        }
        for h in (4990..6000u64).map(|k| k << 40) {
            b.push(h);
        }
        a.push(7 << 40); // twice in one set
        a.push(0);
        b.push(0); // the empty-slot mark, held twice
        b.push(u64::MAX);
        let mut wanted: Vec<u64> = (4990..5000u64).map(|k| k << 40).collect();
        wanted.extend([0, 7 << 40]);
        wanted.sort_unstable();
        assert_eq!(found(&[a, b]), wanted);
    }

    #[test]
    fn hashes_held_once_are_no_repeats() {
        let mut a = Buckets::with_room(0);
        let mut x = 0x1234_5678_9abc_def1u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            a.push(x);
        }
        a.push(0);
        assert!(found(&[a]).is_empty());
    }

    #[test]
    fn a_shards_hashes_fill_every_bucket() {
        // All of one remainder modulo 8, as a shard's are.
        let mut a = Buckets::with_room(0);
        for k in 0..64_000u64 {
            a.push(k.wrapping_mul(0xff51_afd7_ed55_8ccd) / 8 * 8 + 3);
        }
        let sizes: Vec<usize> = a.lists.iter().map(Vec::len).collect();
        assert!(
            sizes.iter().all(|&n| n > 1000 && n < 3000),
            "buckets of 2000 each, give or take: {sizes:?}"
        );
    }
}
