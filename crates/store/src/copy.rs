//! [`Store::import_store`]: the computations of another store copied into this one,
//! with their plugin records, attributes and blocks, provenance intact (UUID, shard,
//! scheduler, job, task, host, run ID, report fields). What `polyplug merge` does
//! with the stores of a run folder's shards.
//!
//! A computation this store already has (by UUID) is left as it is, so importing
//! the same store twice copies nothing the second time. Attributes are matched by
//! name (their ids differ between stores, so blocks are re-encoded with this store's
//! ids when they must be); plugin records by ID and VERSION, and must have the same
//! sha256.

use crate::block::{self, Counts, Writer};
use crate::db::{Cell, Db, Param};
use crate::{Store, StoreError};
use std::collections::HashMap;

/// What an import copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    /// Computations copied.
    pub computations: usize,
    /// Computations this store had already (same UUID), left alone.
    pub already: usize,
    /// Units (entities recorded) copied.
    pub units: i64,
}

/// The columns of a computation row, but its id.
const COMPUTATION: &str = "uuid, plugin_id, plugin_version, parameters, params_key, user_id, \
     system_id, reason, time_start, time_end, n_units, n_failed, n_skipped, comp_status, \
     remarks, plugin_sha256, host_version, shard, host, pid, out_path, origin, scheduler, \
     job_id, task_id, run_id, name, tags";
const PLUGIN: &str = "plugin_id, version, sha256, language, file, input, output, parameters, \
     method, implementation, req_software, req_hardware, advice, registered";
const ATTRIBUTE: &str = "name, datatype, definition, computation_group, ontology_xref, \
     related_ontology_terms, unit, remark";

fn param(c: &Cell) -> Result<Param<'_>, StoreError> {
    Ok(match c {
        Cell::Null => Param::Null,
        Cell::I(v) => Param::I(*v),
        Cell::T(t) => Param::T(t),
        Cell::B(b) => Param::B(b),
        Cell::F(_) => return Err(StoreError::Internal("a float in a catalog row")),
    })
}

/// `$1, $2, …, $n`.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn columns(list: &str) -> usize {
    list.split(',').count()
}

impl Store {
    /// Copies every computation of `from` that this store lacks, in one transaction:
    /// nothing is copied if anything disagrees (a plugin changed without a VERSION
    /// change, an attribute with another datatype).
    pub fn import_store(&mut self, from: &mut Store) -> Result<Copied, StoreError> {
        self.copy(from, None)
    }

    /// Copies computation `uuid` (a whole UUID) of `from` into this store, with its
    /// plugin record and the attributes its values use, in one transaction. What
    /// `runs export` (into an archive) and `runs import` (out of one) do. A UUID this
    /// store has already is refused (`Copied::already` is 1 and nothing is copied).
    pub fn import_computation(
        &mut self,
        from: &mut Store,
        uuid: &str,
    ) -> Result<Copied, StoreError> {
        self.copy(from, Some(uuid))
    }

    fn copy(&mut self, from: &mut Store, only: Option<&str>) -> Result<Copied, StoreError> {
        let origin = from.location.clone();
        let computations = match only {
            None => from.db.rows(
                &format!("SELECT id, {COMPUTATION} FROM computation ORDER BY id"),
                &[],
            )?,
            Some(uuid) => from.db.rows(
                &format!("SELECT id, {COMPUTATION} FROM computation WHERE uuid = $1"),
                &[uuid.into()],
            )?,
        };
        let (attributes, plugins) = match (only, computations.first()) {
            (None, _) => (
                from.db
                    .rows(&format!("SELECT id, {ATTRIBUTE} FROM attribute"), &[])?,
                from.db.rows(&format!("SELECT {PLUGIN} FROM plugin"), &[])?,
            ),
            (Some(_), Some(c)) => {
                let used = used_attributes(&mut from.db, c[0].int())?;
                let mut attributes = from
                    .db
                    .rows(&format!("SELECT id, {ATTRIBUTE} FROM attribute"), &[])?;
                attributes.retain(|a| used.contains(&a[0].int()));
                let plugins = from.db.rows(
                    &format!("SELECT {PLUGIN} FROM plugin WHERE plugin_id = $1 AND version = $2"),
                    &[param(&c[2])?, param(&c[3])?],
                )?;
                (attributes, plugins)
            }
            (Some(_), None) => return Ok(Copied::default()),
        };
        let conflict = |why: String| StoreError::ImportConflict {
            from: origin.clone(),
            why,
        };
        let here = self.location.clone();
        let source = &mut from.db;
        self.db
            .transaction(|db| {
                db.lock_catalog()?;
                let mut copied = Copied::default();
                if only.is_some() {
                    for c in &computations {
                        if has(db, &c[1])? {
                            copied.already += 1;
                            return Ok(copied);
                        }
                    }
                }
                let ids = attribute_ids(db, &attributes, &here, &conflict)?;
                for p in &plugins {
                    plugin(db, p, &here, &conflict)?;
                }
                for c in &computations {
                    if has(db, &c[1])? {
                        copied.already += 1;
                        continue;
                    }
                    let values: Vec<Param> = c[1..].iter().map(param).collect::<Result<_, _>>()?;
                    let id = db
                        .row(
                            &format!(
                                "INSERT INTO computation ({COMPUTATION}) VALUES ({}) RETURNING id",
                                placeholders(columns(COMPUTATION))
                            ),
                            &values,
                        )?
                        .ok_or(StoreError::Internal("computation insert lost"))?[0]
                        .int();
                    copied.units += blocks(source, db, c[0].int(), id, &ids)?;
                    copied.computations += 1;
                }
                Ok(copied)
            })
            .map_err(|e| e.in_store(&here))
    }
}

/// Whether this store has the computation of this UUID.
fn has(db: &mut Db, uuid: &Cell) -> Result<bool, StoreError> {
    Ok(db
        .row(
            "SELECT id FROM computation WHERE uuid = $1",
            &[param(uuid)?],
        )?
        .is_some())
}

/// The attribute ids the values of computation `id` use.
fn used_attributes(db: &mut Db, id: i64) -> Result<std::collections::HashSet<i64>, StoreError> {
    let mut used = std::collections::HashSet::new();
    db.each(
        "SELECT n0, n_units, n_no_result, n_failed, n_values, data FROM block \
         WHERE computation_id = $1 ORDER BY n0",
        &[Param::I(id)],
        |r| {
            let counts = Counts {
                units: r[1].int(),
                no_result: r[2].int(),
                failed: r[3].int(),
                values: r[4].int(),
            };
            let damaged = |e: polyplug_core::codec::CodecError| StoreError::Corrupt(e.0);
            for unit in block::units(r[5].bytes(), r[0].int(), counts).map_err(damaged)? {
                for (attribute, _, _) in unit.map_err(damaged)?.values().map_err(damaged)? {
                    used.insert(attribute);
                }
            }
            Ok(())
        },
    )?;
    Ok(used)
}

/// This store's id of every attribute of the other store, by name; attributes it
/// lacks are added.
fn attribute_ids(
    db: &mut Db,
    attributes: &[Vec<Cell>],
    here: &str,
    conflict: &dyn Fn(String) -> StoreError,
) -> Result<HashMap<i64, i64>, StoreError> {
    let mut ids = HashMap::new();
    for a in attributes {
        let name = a[1].str();
        let there = db.row(
            "SELECT id, datatype FROM attribute WHERE name = $1",
            &[name.into()],
        )?;
        let id = match there {
            Some(r) => {
                if a[2] != Cell::Null && r[1] != Cell::Null && r[1] != a[2] {
                    return Err(conflict(format!(
                        "attribute '{name}' has datatype {} there but {} in {here}: make them \
                         agree (polyplug attrs sync … --drop in one of them)",
                        a[2].str(),
                        r[1].str()
                    )));
                }
                r[0].int()
            }
            None => {
                let values: Vec<Param> = a[1..].iter().map(param).collect::<Result<_, _>>()?;
                db.row(
                    &format!(
                        "INSERT INTO attribute ({ATTRIBUTE}) VALUES ({}) RETURNING id",
                        placeholders(columns(ATTRIBUTE))
                    ),
                    &values,
                )?
                .ok_or(StoreError::Internal("attribute insert lost"))?[0]
                    .int()
            }
        };
        ids.insert(a[0].int(), id);
    }
    Ok(ids)
}

/// Adds a plugin record this store lacks; one it has must have the same sha256.
fn plugin(
    db: &mut Db,
    p: &[Cell],
    here: &str,
    conflict: &dyn Fn(String) -> StoreError,
) -> Result<(), StoreError> {
    let there = db.row(
        "SELECT sha256 FROM plugin WHERE plugin_id = $1 AND version = $2",
        &[param(&p[0])?, param(&p[1])?],
    )?;
    match there {
        Some(r) if r[0] != p[2] => Err(conflict(format!(
            "plugin {} version {} has sha256 {} there but {} in {here}: the plugin changed \
             without a VERSION change",
            p[0].str(),
            p[1].str(),
            p[2].str(),
            r[0].str()
        ))),
        Some(_) => Ok(()),
        None => {
            let values: Vec<Param> = p.iter().map(param).collect::<Result<_, _>>()?;
            db.exec(
                &format!(
                    "INSERT INTO plugin ({PLUGIN}) VALUES ({})",
                    placeholders(columns(PLUGIN))
                ),
                &values,
            )?;
            Ok(())
        }
    }
}

/// Copies the blocks of computation `from_id` of `source` as computation `to_id`,
/// re-encoded when attribute ids differ; the number of units.
fn blocks(
    source: &mut Db,
    db: &mut Db,
    from_id: i64,
    to_id: i64,
    ids: &HashMap<i64, i64>,
) -> Result<i64, StoreError> {
    let same = ids.iter().all(|(a, b)| a == b);
    let mut units = 0;
    source.each(
        "SELECT n0, n_units, n_no_result, n_failed, n_values, data FROM block \
         WHERE computation_id = $1 ORDER BY n0",
        &[Param::I(from_id)],
        |r| {
            let n0 = r[0].int();
            let counts = Counts {
                units: r[1].int(),
                no_result: r[2].int(),
                failed: r[3].int(),
                values: r[4].int(),
            };
            units += counts.units;
            let data = r[5].bytes();
            if same {
                return block::insert(db, to_id, n0, &Writer::raw(data.to_vec(), counts));
            }
            let mut w = Writer::with_capacity(data.len());
            let damaged = |e: polyplug_core::codec::CodecError| StoreError::Corrupt(e.0);
            for unit in block::units(data, n0, counts).map_err(damaged)? {
                let unit = unit.map_err(damaged)?;
                let values = unit.values().map_err(damaged)?;
                let mapped: Vec<(i64, i64, &polyplug_core::Value)> = values
                    .iter()
                    .map(|(a, c, v)| (ids.get(a).copied().unwrap_or(*a), *c, v))
                    .collect();
                w.push(
                    unit.entity,
                    unit.status,
                    unit.logs,
                    unit.error,
                    mapped.into_iter(),
                );
            }
            block::insert(db, to_id, n0, &w)
        },
    )?;
    Ok(units)
}
