//! Blocks: how units and their values are kept.
//!
//! A run commits its results in batches, and each batch is one row of the `block`
//! table: the computation, the number `n0` of its first unit (units are numbered in
//! the order a computation records them, without gaps inside a block), per-status
//! counts, and `data`, the units themselves in this binary form (`var` is an unsigned
//! LEB128 varint; strings and values as [`polyplug_core::codec`] writes them):
//!
//! ```text
//! data   = FORMAT:u8 unit*
//! unit   = entity:str tag:u8 [logs:str if tag&4] [error:str if tag&8] values
//!          (tag&3: 0 no result, 1 values, 2 failed)
//! values = count:var (attribute_id:var col:var value)*
//! ```
//!
//! One row per batch instead of one per value makes storing a result nearly free
//! (the SQLite store costs a run a fraction of its time; see `bench/store.sh`), at the
//! price that the database cannot look inside a block: readers decode blocks in
//! Rust (a reader that needs only the entities steps over the values without
//! building them). Varints keep a block small: a unit of `id_stats` (an ID and two
//! small integers) takes about 28 bytes. A block that cannot be decoded is reported,
//! never guessed at.

use crate::db::{Db, Param};
use crate::{StoreError, UnitStatus};
use polyplug_core::codec::{CodecError, Decoder, Encoder};
use polyplug_core::Value;

/// Version of the block encoding, the first byte of `data`.
const FORMAT: u8 = 1;

const HAS_LOGS: u8 = 4;
const HAS_ERROR: u8 = 8;

/// Per-status counts of a block, kept in its row so that counting never decodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub units: i64,
    pub no_result: i64,
    pub failed: i64,
    pub values: i64,
}

impl Counts {
    /// Counts one unit.
    fn add(&mut self, status: UnitStatus, values: usize) {
        self.units += 1;
        self.values += values as i64;
        match status {
            UnitStatus::NoResult => self.no_result += 1,
            UnitStatus::Failed => self.failed += 1,
            UnitStatus::Values => {}
        }
    }
}

/// A block being written.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    pub data: Vec<u8>,
    pub counts: Counts,
}

impl Writer {
    pub fn new() -> Writer {
        Writer::with_capacity(1)
    }

    pub fn with_capacity(bytes: usize) -> Writer {
        let mut data = Vec::with_capacity(bytes.max(1));
        data.push(FORMAT);
        Writer {
            data,
            counts: Counts::default(),
        }
    }

    /// A block's data and counts as read from its row (to store it elsewhere as it is).
    pub fn raw(data: Vec<u8>, counts: Counts) -> Writer {
        Writer { data, counts }
    }

    /// Appends one unit with its values (attribute id, column, value).
    pub fn push<'v>(
        &mut self,
        entity: &str,
        status: UnitStatus,
        logs: Option<&str>,
        error: Option<&str>,
        values: impl ExactSizeIterator<Item = (i64, i64, &'v Value)>,
    ) {
        let mut e = Encoder(&mut self.data);
        e.str(entity);
        let mut tag = status as u8;
        if logs.is_some() {
            tag |= HAS_LOGS;
        }
        if error.is_some() {
            tag |= HAS_ERROR;
        }
        e.u8(tag);
        if let Some(l) = logs {
            e.str(l);
        }
        if let Some(x) = error {
            e.str(x);
        }
        let count = values.len();
        e.length(count);
        for (attr, col, v) in values {
            e.var(attr as u64);
            e.var(col as u64);
            e.value(v);
        }
        self.counts.add(status, count);
    }
}

/// Stores a block: the units of computation `computation` numbered from `n0`.
pub(crate) fn insert(db: &mut Db, computation: i64, n0: i64, w: &Writer) -> Result<(), StoreError> {
    let c = w.counts;
    db.exec(
        "INSERT INTO block (computation_id, n0, n_units, n_no_result, n_failed, n_values, \
         data) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            Param::I(computation),
            Param::I(n0),
            Param::I(c.units),
            Param::I(c.no_result),
            Param::I(c.failed),
            Param::I(c.values),
            Param::B(&w.data),
        ],
    )?;
    Ok(())
}

/// A unit read from a block; its values are decoded on demand.
#[derive(Debug, Clone)]
pub(crate) struct Unit<'a> {
    /// Number of the unit in its computation.
    pub n: i64,
    pub entity: &'a str,
    pub status: UnitStatus,
    pub logs: Option<&'a str>,
    pub error: Option<&'a str>,
    /// Positioned at the unit's values.
    values: Decoder<'a>,
}

impl<'a> Unit<'a> {
    /// The values: (attribute id, column, value), in the order they were written.
    pub fn values(&self) -> Result<Vec<(i64, i64, Value)>, CodecError> {
        let mut d = self.values.clone();
        let count = d.length()?;
        let mut out = Vec::with_capacity(count.min(1 << 12));
        for _ in 0..count {
            let attr = d.var()? as i64;
            let col = d.var()? as i64;
            out.push((attr, col, d.value()?));
        }
        Ok(out)
    }
}

/// Reads the units of a block's `data`, whose first unit is number `n0`; `row` is
/// what the block's row says it holds. A block whose data disagrees with its row (cut
/// short, or counts that differ) gives an error after its last unit, not a smaller
/// block.
pub(crate) fn units(data: &[u8], n0: i64, row: Counts) -> Result<Units<'_>, CodecError> {
    let mut d = Decoder::new(data);
    let end = n0
        .checked_add(row.units)
        .filter(|_| row.units >= 0)
        .ok_or_else(|| CodecError(format!("the block's row says it holds {} units", row.units)))?;
    match d.u8() {
        Ok(FORMAT) => Ok(Units {
            d,
            n0,
            n: n0,
            end,
            row,
            seen: Counts::default(),
        }),
        Ok(v) => Err(CodecError(format!(
            "block format {v} is unknown to this polyplug (it reads format {FORMAT}); \
             upgrade polyplug"
        ))),
        Err(_) => Err(CodecError("the block is empty".into())),
    }
}

/// The units of a block, in order.
pub(crate) struct Units<'a> {
    d: Decoder<'a>,
    n0: i64,
    n: i64,
    end: i64,
    /// What the row says, and what was read so far.
    row: Counts,
    seen: Counts,
}

impl<'a> Units<'a> {
    fn unit(&mut self) -> Result<Unit<'a>, CodecError> {
        let d = &mut self.d;
        let entity = d.str_ref()?;
        let flags = d.u8()?;
        let status = UnitStatus::from_code(i64::from(flags & 3))
            .ok_or_else(|| CodecError(format!("unknown unit status {}", flags & 3)))?;
        if flags & !(3 | HAS_LOGS | HAS_ERROR) != 0 {
            return Err(CodecError(format!("unknown unit flags {flags:#x}")));
        }
        let logs = if flags & HAS_LOGS != 0 {
            Some(d.str_ref()?)
        } else {
            None
        };
        let error = if flags & HAS_ERROR != 0 {
            Some(d.str_ref()?)
        } else {
            None
        };
        let values = d.clone();
        let count = d.length()?;
        for _ in 0..count {
            d.var()?;
            d.var()?;
            d.skip_value()?;
        }
        self.seen.add(status, count);
        let n = self.n;
        self.n += 1;
        Ok(Unit {
            n,
            entity,
            status,
            logs,
            error,
            values,
        })
    }
}

impl<'a> Iterator for Units<'a> {
    type Item = Result<Unit<'a>, CodecError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.d.at_end() {
            if self.n == self.end {
                if self.seen != self.row {
                    let (row, seen) = (self.row, self.seen);
                    self.row = seen; // reported once
                    return Some(Err(CodecError(format!(
                        "the block's row counts {} without result, {} failed and {} \
                         values, its data {}, {} and {}",
                        row.no_result,
                        row.failed,
                        row.values,
                        seen.no_result,
                        seen.failed,
                        seen.values
                    ))));
                }
                return None;
            }
            let e = CodecError(format!(
                "the block ends after {} units instead of {}",
                self.n - self.n0,
                self.end - self.n0
            ));
            self.end = self.n;
            return Some(Err(e));
        }
        let u = if self.n >= self.end {
            Err(CodecError(
                "the block holds more units than its row says".into(),
            ))
        } else {
            self.unit()
        };
        if u.is_err() {
            // Nothing after a damaged unit can be trusted: stop there.
            self.d = Decoder::new(&[]);
            self.end = self.n;
        }
        Some(u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Writer {
        let mut w = Writer::new();
        let vals = [
            Value::Int(7),
            Value::Str("a\tb".into()),
            Value::Float(f64::NAN),
        ];
        w.push(
            "e1",
            UnitStatus::Values,
            Some("a log\nline two"),
            None,
            vals.iter().enumerate().map(|(i, v)| (3, i as i64, v)),
        );
        w.push("e2", UnitStatus::NoResult, None, None, std::iter::empty());
        w.push(
            "e3",
            UnitStatus::Failed,
            None,
            Some("ValueError: no"),
            std::iter::empty(),
        );
        w
    }

    #[test]
    fn units_round_trip_with_counts() {
        let w = sample();
        assert_eq!(
            w.counts,
            Counts {
                units: 3,
                no_result: 1,
                failed: 1,
                values: 3
            }
        );
        let units: Vec<Unit> = units(&w.data, 10, w.counts)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(units.len(), 3);
        assert_eq!((units[0].n, units[0].entity), (10, "e1"));
        assert_eq!(units[0].logs, Some("a log\nline two"));
        let v = units[0].values().unwrap();
        assert_eq!(v[0], (3, 0, Value::Int(7)));
        assert_eq!(v[1], (3, 1, Value::Str("a\tb".into())));
        assert!(matches!(v[2], (3, 2, Value::Float(f)) if f.is_nan()));
        assert_eq!((units[1].n, units[1].status), (11, UnitStatus::NoResult));
        assert!(units[1].values().unwrap().is_empty());
        assert_eq!(units[2].error, Some("ValueError: no"));
        assert_eq!(units[2].status, UnitStatus::Failed);
    }

    #[test]
    fn damaged_blocks_are_errors() {
        let w = sample();
        // Every cut is noticed: inside a unit, or between units (the row's count).
        for cut in 1..w.data.len() {
            let all: Result<Vec<Unit>, _> = units(&w.data[..cut], 0, w.counts).unwrap().collect();
            let values_ok = all
                .as_ref()
                .map(|us| us.iter().all(|u| u.values().is_ok()))
                .unwrap_or(false);
            assert!(!values_ok, "cut at {cut} not noticed");
        }
        let row = |units, no_result, failed, values| Counts {
            units,
            no_result,
            failed,
            values,
        };
        let read = |c: Counts| units(&w.data, 0, c).and_then(|u| u.collect::<Result<Vec<_>, _>>());
        let short = read(row(4, 1, 1, 3)).err().unwrap();
        assert!(
            short.0.contains("ends after 3 units instead of 4"),
            "{short}"
        );
        let long = read(row(2, 1, 1, 3)).err().unwrap();
        assert!(long.0.contains("more units than its row says"), "{long}");
        // A row whose counts disagree with the data (a done entity counted failed).
        let counts = read(row(3, 1, 2, 3)).err().unwrap();
        assert!(
            counts.0.contains(
                "row counts 1 without result, 2 failed and 3 values, its data 1, 1 and 3"
            ),
            "{counts}"
        );
        assert!(read(row(3, 1, 1, 4)).is_err());
        assert!(read(row(-1, 0, 0, 0)).is_err());
        assert!(units(&w.data, i64::MAX, w.counts).is_err());
        assert!(units(&[], 0, Counts::default()).is_err());
        let e = units(&[9], 0, Counts::default()).err().unwrap();
        assert!(e.0.contains("block format 9"), "{e}");
        let mut bad = w.data.clone();
        bad[1 + 1 + 2] = 7; // e1's tag
        assert!(units(&bad, 0, w.counts).unwrap().next().unwrap().is_err());
    }
}
