//! Units and values: a run's results are committed in batches ([`UnitBatch`]), each
//! one row of the `block` table (encoded by the `block` module), and read back here
//! for resuming ([`Store::done_entities`]) and exporting ([`Store::result_rows`],
//! [`Store::stored_units`]).

use crate::db::Cell;
use crate::{block, ComputationId, Store, StoreError};
use polyplug_core::Value;

/// Status of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitStatus {
    /// Computed; no result ("empty results list").
    NoResult = 0,
    /// Computed with values.
    Values = 1,
    /// Failed (a rerun retries it).
    Failed = 2,
}

impl UnitStatus {
    /// The status stored as `code` (its discriminant).
    pub(crate) fn from_code(code: i64) -> Option<UnitStatus> {
        match code {
            0 => Some(UnitStatus::NoResult),
            1 => Some(UnitStatus::Values),
            2 => Some(UnitStatus::Failed),
            _ => None,
        }
    }
}

/// Where each value of a result row goes: (attribute, column within it). Built by
/// [`Store::prepare_attributes`] from the plugin's OUTPUT.
#[derive(Debug, Clone)]
pub struct Layout {
    slots: Vec<(i64, i64)>,
    /// Attribute names in OUTPUT order, with their store ids.
    attrs: Vec<(String, i64)>,
}

impl Layout {
    /// Attribute and column of the value at `pos` in a result row. Without a known
    /// column count, extra values continue the last attribute's columns.
    fn place(&self, pos: usize) -> (i64, i64) {
        match self.slots.get(pos) {
            Some(s) => *s,
            None => {
                let (attr, col) = self.slots.last().copied().unwrap_or((0, -1));
                (attr, col + 1 + (pos - self.slots.len()) as i64)
            }
        }
    }
}

impl Layout {
    /// A layout of `slots` (attribute id, column) for the attributes `attrs` (name, id).
    pub(crate) fn new(slots: Vec<(i64, i64)>, attrs: Vec<(String, i64)>) -> Layout {
        Layout { slots, attrs }
    }

    /// The attributes in OUTPUT order with their store ids.
    pub fn attributes(&self) -> impl Iterator<Item = &str> {
        self.attrs.iter().map(|(n, _)| n.as_str())
    }
}

/// Units and values waiting to be committed together, as one block (see the
/// `block` module): encoded as they are pushed, stored as one row.
#[derive(Debug)]
pub struct UnitBatch {
    computation: ComputationId,
    layout: Layout,
    /// Number of the first unit of this batch in its computation.
    n0: i64,
    block: block::Writer,
}

impl UnitBatch {
    /// An empty batch for a computation, placing values by `layout`.
    pub fn new(computation: ComputationId, layout: Layout) -> UnitBatch {
        UnitBatch {
            computation,
            layout,
            n0: 0,
            block: block::Writer::new(),
        }
    }

    /// Adds one entity's outcome: its values in OUTPUT order (empty for no result,
    /// ignored when failed), its logs and, when it failed, the error.
    pub fn push(&mut self, entity: &str, values: &[Value], logs: &[String], error: Option<&str>) {
        let status = if error.is_some() {
            UnitStatus::Failed
        } else if values.is_empty() {
            UnitStatus::NoResult
        } else {
            UnitStatus::Values
        };
        let values = if status == UnitStatus::Values {
            values
        } else {
            &[]
        };
        let logs = match logs {
            [] => None,
            [one] => Some(std::borrow::Cow::Borrowed(one.as_str())),
            many => Some(std::borrow::Cow::Owned(many.join("\n"))),
        };
        let layout = &self.layout;
        self.block.push(
            entity,
            status,
            logs.as_deref(),
            error,
            values.iter().enumerate().map(|(pos, v)| {
                let (attr, col) = layout.place(pos);
                (attr, col, v)
            }),
        );
    }

    /// An empty batch for the same computation whose entities are numbered after
    /// this one's.
    pub fn continued(&self) -> UnitBatch {
        UnitBatch {
            computation: self.computation,
            layout: self.layout.clone(),
            n0: self.n0 + self.block.counts.units,
            block: block::Writer::with_capacity(self.block.data.len()),
        }
    }

    /// Entities waiting.
    pub fn len(&self) -> usize {
        self.block.counts.units as usize
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.block.counts.units == 0
    }
}

impl Store {
    /// Commits a batch of units and values as one block, and empties it. Either all
    /// of it is stored or (on error, or if the process dies) none.
    pub fn commit(&mut self, batch: &mut UnitBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let block = std::mem::replace(&mut batch.block, block::Writer::new());
        let n0 = batch.n0;
        batch.n0 += block.counts.units;
        block::insert(&mut self.db, batch.computation.0, n0, &block).map_err(|e| self.ctx(e))?;
        Ok(())
    }

    /// How many entities [`Store::done_entities`] will give at most for a computation
    /// key (its units not failed, counted from the blocks' headers without decoding
    /// them): what a caller reserves room for.
    pub fn done_count(
        &mut self,
        plugin_id: &str,
        plugin_version: &str,
        params_key: &str,
    ) -> Result<u64, StoreError> {
        let row = self
            .db
            .row(
                "SELECT CAST(COALESCE(SUM(b.n_units - b.n_failed), 0) AS BIGINT) \
                 FROM computation c JOIN block b ON b.computation_id = c.id \
                 WHERE c.plugin_id = $1 AND c.plugin_version = $2 AND c.params_key = $3",
                &[plugin_id.into(), plugin_version.into(), params_key.into()],
            )
            .map_err(|e| self.ctx(e))?;
        Ok(row.map_or(0, |r| u64::try_from(r[0].int()).unwrap_or(0)))
    }

    /// Calls `each` with the entities already done (with or without a result; not
    /// failed) for a computation key, in any computation: finished, running or killed.
    /// An entity done more than once is given more than once.
    pub fn done_entities(
        &mut self,
        plugin_id: &str,
        plugin_version: &str,
        params_key: &str,
        mut each: impl FnMut(&str),
    ) -> Result<(), StoreError> {
        // A scan read once: a small page cache, the run's own afterwards.
        self.db
            .set_cache_size(crate::db::SQLITE_SCAN_CACHE_KIB)
            .map_err(|e| self.ctx(e))?;
        let scanned = self
            .db
            .each(
                &format!(
                    "SELECT {BLOCK_COLUMNS} FROM computation c \
                     JOIN block b ON b.computation_id = c.id \
                     WHERE c.plugin_id = $1 AND c.plugin_version = $2 AND c.params_key = $3"
                ),
                &[plugin_id.into(), plugin_version.into(), params_key.into()],
                |r| {
                    for u in read_block(r)? {
                        let u = u?;
                        if u.status != UnitStatus::Failed {
                            each(u.entity);
                        }
                    }
                    Ok(())
                },
            )
            .map_err(|e| self.ctx(e));
        let restored = self
            .db
            .set_cache_size(crate::db::SQLITE_CACHE_KIB)
            .map_err(|e| self.ctx(e));
        scanned.and(restored)
    }

    /// The rows of a computation as a Prenacs results file has them: for each entity
    /// done with values, in the order it was recorded, the values in OUTPUT order.
    pub fn result_rows(
        &mut self,
        uuid: &str,
        mut each: impl FnMut(&str, &[Value]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.stored_units(uuid, |u| match u.status {
            UnitStatus::Values if !u.values.is_empty() => each(u.entity, u.values),
            _ => Ok(()),
        })
    }

    /// Every unit of a computation, in the order it was recorded: its entity, status,
    /// values (in OUTPUT order), logs and error.
    pub fn stored_units(
        &mut self,
        uuid: &str,
        mut each: impl FnMut(StoredUnit<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let id = self.computation_id(uuid)?;
        let (c, _) = self.computation(uuid)?;
        let output = self.plugin_output(&c.report.plugin_id, &c.report.plugin_version)?;
        let mut order = std::collections::HashMap::new();
        for r in self.db.rows("SELECT id, name FROM attribute", &[])? {
            if let Some(pos) = output.iter().position(|o| o == r[1].str()) {
                order.insert(r[0].int(), pos as i64);
            }
        }
        self.db
            .each(
                &format!(
                    "SELECT {BLOCK_COLUMNS} FROM block b \
                     JOIN computation c ON c.id = b.computation_id \
                     WHERE b.computation_id = $1 ORDER BY b.n0"
                ),
                &[id.0.into()],
                |r| {
                    for u in read_block(r)? {
                        let u = u?;
                        let mut cells = u.values().map_err(|e| damaged(r, e))?;
                        cells.sort_by_key(|(attr, col, _)| {
                            (order.get(attr).copied().unwrap_or(i64::MAX), *col)
                        });
                        let values: Vec<Value> = cells.into_iter().map(|c| c.2).collect();
                        each(StoredUnit {
                            entity: u.entity,
                            status: u.status,
                            values: &values,
                            logs: u.logs,
                            error: u.error,
                        })?;
                    }
                    Ok(())
                },
            )
            .map_err(|e| self.ctx(e))
    }
}

/// One unit of a stored computation ([`Store::stored_units`]).
#[derive(Debug, Clone, Copy)]
pub struct StoredUnit<'a> {
    /// The entity's ID.
    pub entity: &'a str,
    /// Computed with values, without a result, or failed.
    pub status: UnitStatus,
    /// Its values, in OUTPUT order.
    pub values: &'a [Value],
    /// Its log lines, joined by line breaks.
    pub logs: Option<&'a str>,
    /// Why it failed.
    pub error: Option<&'a str>,
}

/// The columns a block row is read with (`c` the computation, `b` the block), in the
/// order [`read_block`] expects them.
pub(crate) const BLOCK_COLUMNS: &str =
    "c.uuid, b.n0, b.n_units, b.n_no_result, b.n_failed, b.n_values, b.data";

/// The units of a block row read with [`BLOCK_COLUMNS`] first; a unit that cannot be
/// read is an error naming the computation (see [`damaged`]).
pub(crate) fn read_block(
    r: &[Cell],
) -> Result<impl Iterator<Item = Result<block::Unit<'_>, StoreError>>, StoreError> {
    let row = block::Counts {
        units: r[2].int(),
        no_result: r[3].int(),
        failed: r[4].int(),
        values: r[5].int(),
    };
    let units = block::units(r[6].bytes(), r[1].int(), row).map_err(|e| damaged(r, e))?;
    Ok(units.map(move |u| u.map_err(|e| damaged(r, e))))
}

/// A block that cannot be decoded, named by its computation and first unit.
pub(crate) fn damaged(r: &[Cell], why: polyplug_core::codec::CodecError) -> StoreError {
    StoreError::Damaged {
        computation: r[0].str().to_string(),
        n0: r[1].int(),
        why,
    }
}
