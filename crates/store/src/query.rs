//! Reading values back with their provenance.

use crate::batch::{damaged, read_block, BLOCK_COLUMNS};
use crate::db::Param;
use crate::{Store, StoreError, UnitStatus};
use polyplug_core::{CompStatus, Value};
use std::collections::{HashMap, HashSet};

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

/// One value of one attribute of one entity, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Entity ID.
    pub entity: String,
    /// Attribute name.
    pub attribute: String,
    /// The attribute's columns (one for most attributes).
    pub values: Vec<Value>,
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
}

impl Store {
    /// Calls `each` with the values that match `filter`, sorted by entity, then
    /// attribute (then computation, with `history`). Without `history`, only the current
    /// value of each (entity, attribute) among the matching ones: the one from the
    /// latest computation (in start order) that has it.
    ///
    /// Values are stored in blocks (see the `block` module): the matching
    /// computations' blocks are read and decoded here, and the matching values are
    /// sorted in memory before they are given out.
    pub fn query(
        &mut self,
        filter: &Filter,
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
             c.user_id, c.system_id, c.time_start, c.comp_status \
             FROM block b JOIN computation c ON c.id = b.computation_id WHERE {}",
            conds.join(" AND ")
        );

        let mut provenance: HashMap<i64, Provenance> = HashMap::new();
        let mut units: Vec<String> = Vec::new();
        let mut found: Vec<Found> = Vec::new();
        self.db
            .each(&sql, &args, |r| {
                let cid = r[7].int();
                if let std::collections::hash_map::Entry::Vacant(slot) = provenance.entry(cid) {
                    let comp_status = CompStatus::from_stored(&r[14].text().unwrap_or_default());
                    slot.insert(Provenance {
                        computation: r[0].text().unwrap_or_default(),
                        plugin_id: r[8].text().unwrap_or_default(),
                        plugin_version: r[9].text().unwrap_or_default(),
                        parameters: r[10].text().unwrap_or_default(),
                        user_id: r[11].text().unwrap_or_default(),
                        system_id: r[12].text().unwrap_or_default(),
                        time_start: r[13].text().unwrap_or_default(),
                        comp_status,
                    });
                }
                for u in read_block(r)? {
                    let u = u?;
                    if u.status != UnitStatus::Values
                        || !(entities.is_empty() || entities.contains(u.entity))
                    {
                        continue;
                    }
                    let mut unit = None;
                    for (attr, col, value) in u.values().map_err(|e| damaged(r, e))? {
                        let Some(attr) = rank.get(&attr) else {
                            continue;
                        };
                        let entity = *unit.get_or_insert_with(|| {
                            units.push(u.entity.to_string());
                            units.len() as u32 - 1
                        });
                        found.push(Found {
                            entity,
                            attr: *attr,
                            cid,
                            n: u.n,
                            col,
                            value,
                        });
                    }
                }
                Ok(())
            })
            .map_err(|e| self.ctx(e))?;
        found.sort_by(|a, b| {
            units[a.entity as usize]
                .cmp(&units[b.entity as usize])
                .then(a.attr.cmp(&b.attr))
                .then(a.cid.cmp(&b.cid))
                .then(a.n.cmp(&b.n))
                .then(a.col.cmp(&b.col))
        });

        let mut grouper = Grouper {
            history: filter.history,
            current: None,
            pending: None,
        };
        for f in found {
            let p = &provenance[&f.cid];
            let (entity, attr) = (f.entity as usize, f.attr as usize);
            grouper.value(&units[entity], &names[attr].0, f, p, &mut each)?;
        }
        grouper.finish(&mut each)
    }
}

/// A matching value: its unit's entity (index), attribute (rank), computation id,
/// unit number and column.
struct Found {
    entity: u32,
    attr: u32,
    cid: i64,
    n: i64,
    col: i64,
    value: Value,
}

/// Where the values of one computation came from.
struct Provenance {
    computation: String,
    plugin_id: String,
    plugin_version: String,
    parameters: String,
    user_id: String,
    system_id: String,
    time_start: String,
    comp_status: CompStatus,
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
    fn value(
        &mut self,
        entity: &str,
        attribute: &str,
        f: Found,
        p: &Provenance,
        each: &mut dyn FnMut(&Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let (cid, n, value) = (f.cid, f.n, f.value);
        if let Some((rec, c, un)) = &mut self.current {
            if rec.entity == entity && rec.attribute == attribute && *c == cid && *un == n {
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
                computation: p.computation.clone(),
                plugin_id: p.plugin_id.clone(),
                plugin_version: p.plugin_version.clone(),
                parameters: p.parameters.clone(),
                user_id: p.user_id.clone(),
                system_id: p.system_id.clone(),
                time_start: p.time_start.clone(),
                comp_status: p.comp_status.clone(),
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
