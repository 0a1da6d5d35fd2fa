//! Shards: one of N deterministic parts of a run's entities (`--shard I/N`).
//!
//! An entity belongs to shard `XXH3_64(id) mod N`, where `id` is the entity's ID as
//! the outputs write it (after `--idsproc`) in UTF-8 and XXH3 is the 64-bit xxHash
//! with seed 0. The rule depends on nothing but the ID: not on the input's order, the
//! machine, or which other entities there are, so the N shards of an input cover every
//! entity exactly once, a rerun of a shard sees the same entities, and a user can
//! compute the shard of an ID anywhere (in Python: `xxhash.xxh3_64_intdigest(id) % N`).

use std::fmt;

/// Shard `index` of `count` (`0 <= index < count`), written `index/count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

/// Why a shard cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// Not `I/N`.
    #[error("'{0}' is not a shard: write I/N, the 0-based shard I of N (e.g. 3/8)")]
    Syntax(String),
    /// `N` is 0.
    #[error("a run cannot be split into 0 shards: N in I/N is at least 1")]
    NoShards,
    /// `I >= N`.
    #[error("shard {index} of {count} does not exist: shards are numbered 0 to {last}")]
    OutOfRange {
        /// The shard asked for.
        index: u64,
        /// The number of shards.
        count: u64,
        /// The last shard.
        last: u64,
    },
}

impl Shard {
    /// `0/1`: every entity.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// The most shards a run can be split into.
    pub const MAX_COUNT: u32 = 1 << 20;

    /// Shard `index` of `count`.
    pub fn new(index: u64, count: u64) -> Result<Shard, ShardError> {
        if count == 0 {
            return Err(ShardError::NoShards);
        }
        if index >= count {
            return Err(ShardError::OutOfRange {
                index,
                count,
                last: count - 1,
            });
        }
        let (Ok(index), Ok(count)) = (u32::try_from(index), u32::try_from(count)) else {
            return Err(ShardError::Syntax(format!("{index}/{count}")));
        };
        if count > Self::MAX_COUNT {
            return Err(ShardError::Syntax(format!("{index}/{count}")));
        }
        Ok(Shard { index, count })
    }

    /// Parses `I/N`.
    pub fn parse(text: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(text.to_string());
        let (i, n) = text.trim().split_once('/').ok_or_else(syntax)?;
        let i: u64 = i.trim().parse().map_err(|_| syntax())?;
        let n: u64 = n.trim().parse().map_err(|_| syntax())?;
        Shard::new(i, n)
    }

    /// The 0-based index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The number of shards.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The hash the rule is made of: XXH3-64, seed 0, of the ID's UTF-8 bytes.
    pub fn hash(id: &[u8]) -> u64 {
        xxhash_rust::xxh3::xxh3_64(id)
    }

    /// The shard, of `count`, of an ID whose [`Shard::hash`] is `hash`.
    pub fn of_hash(hash: u64, count: u32) -> u32 {
        (hash % u64::from(count.max(1))) as u32
    }

    /// The shard an ID belongs to, of `count`.
    pub fn of(id: &str, count: u32) -> u32 {
        Shard::of_hash(Shard::hash(id.as_bytes()), count)
    }

    /// Whether the entity with this ID is in this shard.
    pub fn contains(&self, id: &str) -> bool {
        self.count == 1 || Shard::of(id, self.count) == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_refuse_what_does_not_exist() {
        assert_eq!(Shard::parse("3/8").unwrap().to_string(), "3/8");
        assert_eq!(Shard::parse(" 0 / 1 ").unwrap(), Shard::new(0, 1).unwrap());
        for bad in ["", "3", "3/", "/8", "a/8", "-1/8", "3/8/9", "1.5/4"] {
            assert!(
                matches!(Shard::parse(bad), Err(ShardError::Syntax(_))),
                "{bad}"
            );
        }
        assert_eq!(Shard::parse("0/0"), Err(ShardError::NoShards));
        let e = Shard::parse("8/8").unwrap_err();
        assert_eq!(
            e.to_string(),
            "shard 8 of 8 does not exist: shards are numbered 0 to 7"
        );
        assert!(Shard::parse("0/99999999999").is_err());
    }

    #[test]
    fn every_id_is_in_exactly_one_shard_and_the_rule_is_fixed() {
        let ids: Vec<String> = (0..20_000).map(|i| format!("genome_{i}")).collect();
        for n in [1u32, 2, 3, 8, 13] {
            let shards: Vec<Shard> = (0..n)
                .map(|i| Shard::new(i.into(), n.into()).unwrap())
                .collect();
            let mut sizes = vec![0usize; n as usize];
            for id in &ids {
                let owners: Vec<&Shard> = shards.iter().filter(|s| s.contains(id)).collect();
                assert_eq!(owners.len(), 1, "{id} in {n} shards");
                sizes[owners[0].index() as usize] += 1;
            }
            // Balanced: each shard within 10 % of its share.
            let share = ids.len() / n as usize;
            for s in sizes {
                assert!(
                    s.abs_diff(share) * 10 <= share,
                    "{s} of {share} ({n} shards)"
                );
            }
        }
        // The documented rule, XXH3-64 with seed 0: fixed values, whatever the machine
        // (the reference values of the xxHash test suite for "" and "a").
        assert_eq!(xxhash_rust::xxh3::xxh3_64(b""), 0x2D06800538D394C2);
        assert_eq!(Shard::of("", 1000), (0x2D06800538D394C2u64 % 1000) as u32);
    }
}
