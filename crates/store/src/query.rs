//! Reading values back with their provenance.

use crate::batch::{damaged, read_block, BLOCK_COLUMNS};
use crate::db::Param;
use crate::spill::{self, Sorter, SpillError};
use crate::{Store, StoreError, UnitStatus};
use polyplug_core::{CompStatus, Value};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// Which values [`Store::query`] gives. Empty lists mean "all".
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only these entities.
    pub entities: Vec<String>,
    /// Only these attributes.
    pub attributes: Vec<String>,
    /// Only values computed by this plugin ID.
    pub plugin: Option<String>,
    /// … and this plugin VERSION.
    pub plugin_version: Option<String>,
    /// Only values of this computation (UUID or unique prefix).
    pub computation: Option<String>,
    /// Every stored value (history), not only the current one.
    pub history: bool,
}

/// How much memory a query uses for sorting its answer, by default (64 MiB); beyond
/// it, sorted parts are written to temporary files and merged.
pub const QUERY_MEMORY: usize = crate::spill::DEFAULT_BUDGET;

/// One value of one attribute of one entity, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Entity ID.
    pub entity: String,
    /// Attribute name.
    pub attribute: String,
    /// The attribute's columns (one for most attributes).
    pub values: Vec<Value>,
    /// The computation that stored it.
    pub origin: Rc<Origin>,
}

/// The computation a [`Record`] comes from: shared by all its records.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    /// Computation UUID.
    pub computation: String,
    /// Plugin ID.
    pub plugin_id: String,
    /// Plugin VERSION.
    pub plugin_version: String,
    /// Parameters, canonical JSON.
    pub parameters: String,
    /// Who computed it.
    pub user_id: String,
    /// On which system.
    pub system_id: String,
    /// When the computation started.
    pub time_start: String,
    /// Status of the computation.
    pub comp_status: CompStatus,
    /// The computation's shard (`I/N`), empty when it computed every entity.
    pub shard: String,
    /// The logical run it is part of (`--run-id`), empty when none.
    pub run_id: String,
}

impl Store {
    /// Calls `each` with the values that match `filter`, sorted by entity, then
    /// attribute (then computation, with `history`). Without `history`, only the current
    /// value of each (entity, attribute) among the matching ones: the one from the
    /// latest computation (in start order) that has it.
    ///
    /// Values are stored in blocks (see the `block` module), in each run's input
    /// order: the matching computations' blocks are read and decoded here, and their
    /// matching units sorted by entity in at most `memory` bytes (more is sorted in
    /// temporary files and merged, see the `spill` module), so that memory stays flat
    /// whatever the size of the answer. Each entity's values are then ordered by
    /// attribute and computation.
    pub fn query(
        &mut self,
        filter: &Filter,
        memory: usize,
        mut each: impl FnMut(&Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let computation = match &filter.computation {
            Some(u) => Some(self.computation_id(u)?.0),
            None => None,
        };
        // Attribute ids to their rank in name order (byte order), for the wanted ones.
        let mut names: Vec<(String, i64)> = self
            .db
            .rows("SELECT name, id FROM attribute", &[])
            .map_err(|e| self.ctx(e))?
            .iter()
            .map(|r| (r[0].text().unwrap_or_default(), r[1].int()))
            .filter(|(n, _)| filter.attributes.is_empty() || filter.attributes.contains(n))
            .collect();
        names.sort();
        let rank: HashMap<i64, u32> = names
            .iter()
            .enumerate()
            .map(|(i, (_, id))| (*id, i as u32))
            .collect();
        let entities: HashSet<&str> = filter.entities.iter().map(String::as_str).collect();

        // Every block of the matching computations is read, whatever its row's counts
        // say: a damaged count is then noticed, never trusted to skip a block.
        let mut conds: Vec<String> = vec!["1 = 1".into()];
        let mut args: Vec<Param> = Vec::new();
        if let Some(p) = &filter.plugin {
            args.push(Param::T(p));
            conds.push(format!("c.plugin_id = ${}", args.len()));
        }
        if let Some(v) = &filter.plugin_version {
            args.push(Param::T(v));
            conds.push(format!("c.plugin_version = ${}", args.len()));
        }
        if let Some(id) = computation {
            args.push(Param::I(id));
            conds.push(format!("c.id = ${}", args.len()));
        }
        let sql = format!(
            "SELECT {BLOCK_COLUMNS}, c.id, c.plugin_id, c.plugin_version, c.params_key, \
             c.user_id, c.system_id, c.time_start, c.comp_status, c.shard, c.run_id \
             FROM block b JOIN computation c ON c.id = b.computation_id WHERE {}",
            conds.join(" AND ")
        );

        let mut origins: HashMap<i64, Rc<Origin>> = HashMap::new();
        let mut sorter = Sorter::new(memory);
        self.db
            .each(&sql, &args, |r| {
                let cid = r[7].int();
                if let std::collections::hash_map::Entry::Vacant(slot) = origins.entry(cid) {
                    let comp_status = CompStatus::from_stored(&r[14].text().unwrap_or_default());
                    slot.insert(Rc::new(Origin {
                        computation: r[0].text().unwrap_or_default(),
                        plugin_id: r[8].text().unwrap_or_default(),
                        plugin_version: r[9].text().unwrap_or_default(),
                        parameters: r[10].text().unwrap_or_default(),
                        user_id: r[11].text().unwrap_or_default(),
                        system_id: r[12].text().unwrap_or_default(),
                        time_start: r[13].text().unwrap_or_default(),
                        comp_status,
                        shard: r[15].text().unwrap_or_default(),
                        run_id: r[16].text().unwrap_or_default(),
                    }));
                }
                for u in read_block(r)? {
                    let u = u?;
                    if u.status != UnitStatus::Values
                        || !(entities.is_empty() || entities.contains(u.entity))
                    {
                        continue;
                    }
                    let values: Vec<(u32, u32, Value)> = u
                        .values()
                        .map_err(|e| damaged(r, e))?
                        .into_iter()
                        .filter_map(|(attr, col, v)| Some((*rank.get(&attr)?, col as u32, v)))
                        .collect();
                    if !values.is_empty() {
                        sorter
                            .push(spill::Unit::new(u.entity.to_string(), cid, u.n, values))
                            .map_err(spilled)?;
                    }
                }
                Ok(())
            })
            .map_err(|e| self.ctx(e))?;

        let mut grouper = Grouper {
            history: filter.history,
            current: None,
            pending: None,
        };
        // The values of one entity, from all its units: (attribute, computation, unit,
        // column, value), then sorted.
        let mut entity = String::new();
        let mut group: Vec<(u32, i64, i64, u32, Value)> = Vec::new();
        let mut flush = |entity: &str,
                         group: &mut Vec<(u32, i64, i64, u32, Value)>,
                         grouper: &mut Grouper|
         -> Result<(), StoreError> {
            group.sort_unstable_by_key(|a| (a.0, a.1, a.2, a.3));
            for (attr, cid, n, _, value) in group.drain(..) {
                let origin = &origins[&cid];
                grouper.value(
                    entity,
                    &names[attr as usize].0,
                    (cid, n),
                    value,
                    origin,
                    &mut each,
                )?;
            }
            Ok(())
        };
        for u in sorter.sorted().map_err(spilled)? {
            let u = u.map_err(spilled)?;
            if u.entity != entity {
                flush(&entity, &mut group, &mut grouper)?;
                entity = u.entity;
            }
            group.extend(
                u.values
                    .into_iter()
                    .map(|(a, col, v)| (a, u.cid, u.n, col, v)),
            );
        }
        flush(&entity, &mut group, &mut grouper)?;
        grouper.finish(&mut each)
    }
}

fn spilled(e: SpillError) -> StoreError {
    StoreError::Spill(match e {
        SpillError::Io(e) => e.to_string(),
        SpillError::Codec(e) => format!("a temporary file read back damaged ({e})"),
    })
}

/// Turns values (one per column, sorted) into records, and keeps only the last
/// record of each (entity, attribute) unless `history`.
struct Grouper {
    history: bool,
    /// The record being assembled, with its (computation id, n).
    current: Option<(Record, i64, i64)>,
    /// Without history: the latest complete record of the current (entity, attribute).
    pending: Option<Record>,
}

impl Grouper {
    /// One value of `entity`'s `attribute` from unit `n` of computation `cid`.
    fn value(
        &mut self,
        entity: &str,
        attribute: &str,
        (cid, n): (i64, i64),
        value: Value,
        origin: &Rc<Origin>,
        each: &mut dyn FnMut(&Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if let Some((rec, c, un)) = &mut self.current {
            if *c == cid && *un == n && rec.attribute == attribute && rec.entity == entity {
                rec.values.push(value);
                return Ok(());
            }
        }
        self.close(each)?;
        self.current = Some((
            Record {
                entity: entity.to_string(),
                attribute: attribute.to_string(),
                values: vec![value],
                origin: origin.clone(),
            },
            cid,
            n,
        ));
        Ok(())
    }

    /// The record being assembled is complete.
    fn close(
        &mut self,
        each: &mut dyn FnMut(&Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let Some((rec, _, _)) = self.current.take() else {
            return Ok(());
        };
        if self.history {
            return each(&rec);
        }
        if let Some(p) = &self.pending {
            if p.entity != rec.entity || p.attribute != rec.attribute {
                each(p)?;
            }
        }
        // Rows come in computation order: a later record replaces the pending one.
        self.pending = Some(rec);
        Ok(())
    }

    fn finish(
        &mut self,
        each: &mut dyn FnMut(&Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.close(each)?;
        if let Some(p) = self.pending.take() {
            each(&p)?;
        }
        Ok(())
    }
}
