//! Attributes: the Prenacs attribute definitions as the store keeps them, synced as
//! `prenacs manage-attributes` does, and the OUTPUT attributes a run records into.

use crate::batch::{damaged, read_block, Layout, BLOCK_COLUMNS};
use crate::db::{Db, Param};
use crate::error::RefusedChange;
use crate::store::opt;
use crate::{block, Store, StoreError};
use polyplug_core::{parse_datatype, AttributeDefinition, AttributeDefinitions};

/// An attribute as the store keeps it. An attribute that a run met before any
/// definition was synced has no datatype.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAttribute {
    /// Name.
    pub name: String,
    /// Datatype definition (`Float;Integer[3]`), if defined.
    pub datatype: Option<String>,
    /// What the attribute means.
    pub definition: Option<String>,
    /// Computation group.
    pub computation_group: Option<String>,
    /// Ontology cross-reference.
    pub ontology_xref: Option<String>,
    /// Related ontology terms.
    pub related_ontology_terms: Option<String>,
    /// Unit of measure.
    pub unit: Option<String>,
    /// Free remark.
    pub remark: Option<String>,
}

/// What [`Store::sync_attributes`] may do besides adding new attributes.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOptions {
    /// Update the text fields (definition, ontology_xref, related_ontology_terms,
    /// unit, remark) of existing attributes.
    pub update: bool,
    /// Drop and recreate attributes whose datatype or computation group changed,
    /// deleting their stored values.
    pub drop: bool,
}

/// What [`Store::sync_attributes`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncSummary {
    /// Attributes added.
    pub added: Vec<String>,
    /// Attributes whose text fields were updated.
    pub updated: Vec<String>,
    /// Attributes dropped and recreated, with the number of values deleted.
    pub recreated: Vec<(String, u64)>,
    /// Attributes with text changes left alone (no `update`).
    pub differing: Vec<String>,
}

impl Store {
    /// All attributes, sorted by name.
    pub fn attributes(&mut self) -> Result<Vec<StoredAttribute>, StoreError> {
        let rows = self.db.rows(
            "SELECT name, datatype, definition, computation_group, ontology_xref, \
             related_ontology_terms, unit, remark FROM attribute ORDER BY name",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| StoredAttribute {
                name: r[0].text().unwrap_or_default(),
                datatype: opt(&r[1]),
                definition: opt(&r[2]),
                computation_group: opt(&r[3]),
                ontology_xref: opt(&r[4]),
                related_ontology_terms: opt(&r[5]),
                unit: opt(&r[6]),
                remark: opt(&r[7]),
            })
            .collect())
    }

    /// The stored attributes that have a datatype, as attribute definitions (to check
    /// results against when no definitions file is given).
    pub fn definitions(&mut self) -> Result<AttributeDefinitions, StoreError> {
        let mut map = serde_json::Map::new();
        for a in self.attributes()? {
            let Some(datatype) = &a.datatype else {
                continue;
            };
            let mut d = serde_json::Map::new();
            d.insert("datatype".into(), datatype.as_str().into());
            for (k, v) in [
                ("definition", &a.definition),
                ("computation_group", &a.computation_group),
                ("ontology_xref", &a.ontology_xref),
                ("related_ontology_terms", &a.related_ontology_terms),
                ("unit", &a.unit),
                ("remark", &a.remark),
            ] {
                if let Some(v) = v {
                    d.insert(k.into(), v.as_str().into());
                }
            }
            map.insert(a.name.clone(), serde_json::Value::Object(d));
        }
        // JSON is YAML: the definitions parser reads it as a definitions file.
        let text = serde_json::Value::Object(map).to_string();
        Ok(AttributeDefinitions::from_yaml_str(
            &text,
            &format!("store {}", self.location),
        )?)
    }

    /// Applies a definitions file as `prenacs manage-attributes` does: new attributes
    /// are added; for existing ones a datatype or computation group change is refused
    /// unless `drop` (which deletes the attribute's values and recreates it), and text
    /// fields change only with `update`. All or nothing: on error nothing changes.
    pub fn sync_attributes(
        &mut self,
        defs: &AttributeDefinitions,
        opts: SyncOptions,
    ) -> Result<SyncSummary, StoreError> {
        let existing: std::collections::BTreeMap<String, StoredAttribute> = self
            .attributes()?
            .into_iter()
            .map(|a| (a.name.clone(), a))
            .collect();
        let mut summary = SyncSummary::default();
        let mut refused = Vec::new();
        let mut plan: Vec<(&str, &AttributeDefinition, Action)> = Vec::new();
        for name in defs.names() {
            let Some((d, _)) = defs.get(name) else {
                continue;
            };
            match plan_one(existing.get(name), d, opts) {
                Ok(Some(action)) => plan.push((name, d, action)),
                Ok(None) => {}
                Err(Some((field, stored, given))) => refused.push(RefusedChange {
                    name: name.to_string(),
                    field,
                    stored,
                    given,
                    origin: defs.origin.clone(),
                }),
                Err(None) => summary.differing.push(name.to_string()),
            }
        }
        if !refused.is_empty() {
            return Err(StoreError::SyncRefused(refused));
        }
        let loc = self.location.clone();
        self.db
            .transaction(|db| {
                db.lock_catalog()?;
                for (name, d, action) in &plan {
                    let dropped = apply(db, name, d, *action)?;
                    match action {
                        Action::Recreate => summary.recreated.push((name.to_string(), dropped)),
                        Action::Add | Action::Define => summary.added.push(name.to_string()),
                        Action::Update => summary.updated.push(name.to_string()),
                    }
                }
                Ok(())
            })
            .map_err(|e| e.in_store(&loc))?;
        Ok(summary)
    }

    /// Makes sure every OUTPUT attribute exists (an attribute not defined yet is added
    /// without a datatype; `attrs sync` can define it later) and returns where each
    /// value of a result row goes. With `defs`, an attribute must not have another
    /// datatype in the store than there.
    pub fn prepare_attributes(
        &mut self,
        output: &[String],
        defs: Option<&AttributeDefinitions>,
    ) -> Result<Layout, StoreError> {
        let loc = self.location.clone();
        let attrs = self
            .db
            .transaction(|db| {
                db.lock_catalog()?;
                let mut attrs = Vec::new();
                for name in output {
                    let given = defs.and_then(|d| d.get(name)).map(|(d, _)| d);
                    let row = db.row(
                        "SELECT id, datatype FROM attribute WHERE name = $1",
                        &[name.into()],
                    )?;
                    let (id, datatype) = match row {
                        Some(r) => (r[0].int(), opt(&r[1])),
                        None => {
                            db.exec(
                                "INSERT INTO attribute (name, datatype, computation_group, \
                                 definition, unit) VALUES ($1, $2, $3, $4, $5)",
                                &[
                                    name.into(),
                                    given.map(|d| d.datatype.as_str()).into(),
                                    given.and_then(|d| d.computation_group.as_deref()).into(),
                                    given.and_then(|d| d.definition.as_deref()).into(),
                                    given.and_then(|d| d.unit.as_deref()).into(),
                                ],
                            )?;
                            let r = db
                                .row("SELECT id FROM attribute WHERE name = $1", &[name.into()])?
                                .ok_or(StoreError::Internal("attribute insert lost"))?;
                            (r[0].int(), given.map(|d| d.datatype.clone()))
                        }
                    };
                    if let (Some(g), Some(stored)) = (given, &datatype) {
                        if &g.datatype != stored {
                            return Err(StoreError::DatatypeConflict {
                                name: name.clone(),
                                stored: stored.clone(),
                                given: g.datatype.clone(),
                                origin: defs.map_or(String::new(), |d| d.origin.clone()),
                            });
                        }
                    }
                    if datatype.is_none() {
                        if let Some(g) = given {
                            db.exec(
                                "UPDATE attribute SET datatype = $1 WHERE id = $2",
                                &[g.datatype.as_str().into(), id.into()],
                            )?;
                        }
                    }
                    let datatype = given.map(|g| g.datatype.clone()).or(datatype);
                    attrs.push((name.clone(), id, datatype));
                }
                Ok(attrs)
            })
            .map_err(|e| e.in_store(&loc))?;
        let mut slots = Vec::new();
        for (_, id, datatype) in &attrs {
            let n = datatype
                .as_deref()
                .and_then(|d| parse_datatype(d).ok())
                .map(|c| c.len());
            for col in 0..n.unwrap_or(1) {
                slots.push((*id, col as i64));
            }
        }
        Ok(Layout::new(
            slots,
            attrs.into_iter().map(|(n, id, _)| (n, id)).collect(),
        ))
    }
}

/// What syncing does to one attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Not in the store: added.
    Add,
    /// Met by a run before it was defined: takes the definition.
    Define,
    /// Text fields changed, with `update`.
    Update,
    /// Datatype or computation group changed, with `drop`: values deleted.
    Recreate,
}

/// A refused change: (field, stored, given).
type Refusal = (&'static str, Option<String>, Option<String>);

/// What to do with definition `d` of an attribute stored as `old`: an action, nothing
/// (`Ok(None)`), a refused change (`Err(Some(..))`), or text changes left alone
/// without `update` (`Err(None)`).
fn plan_one(
    old: Option<&StoredAttribute>,
    d: &AttributeDefinition,
    opts: SyncOptions,
) -> Result<Option<Action>, Option<Refusal>> {
    let Some(old) = old else {
        return Ok(Some(Action::Add));
    };
    if old.datatype.is_none() {
        return Ok(Some(Action::Define));
    }
    if old.datatype.as_deref() != Some(&d.datatype) {
        return match opts.drop {
            true => Ok(Some(Action::Recreate)),
            false => Err(Some((
                "datatype",
                old.datatype.clone(),
                Some(d.datatype.clone()),
            ))),
        };
    }
    if old.computation_group.as_deref() != d.computation_group.as_deref() {
        return match opts.drop {
            true => Ok(Some(Action::Recreate)),
            false => Err(Some((
                "computation_group",
                old.computation_group.clone(),
                d.computation_group.clone(),
            ))),
        };
    }
    let texts_differ = [
        (&old.definition, &d.definition),
        (&old.ontology_xref, &d.ontology_xref),
        (&old.related_ontology_terms, &d.related_ontology_terms),
        (&old.unit, &d.unit),
        (&old.remark, &d.remark),
    ]
    .iter()
    .any(|(a, b)| a != b);
    match (texts_differ, opts.update) {
        (false, _) => Ok(None),
        (true, true) => Ok(Some(Action::Update)),
        (true, false) => Err(None),
    }
}

/// Applies one planned action; returns the number of values deleted.
fn apply(
    db: &mut Db,
    name: &str,
    d: &AttributeDefinition,
    action: Action,
) -> Result<u64, StoreError> {
    let texts = [
        d.definition.as_deref(),
        d.ontology_xref.as_deref(),
        d.related_ontology_terms.as_deref(),
        d.unit.as_deref(),
        d.remark.as_deref(),
    ];
    let mut dropped = 0;
    if action == Action::Recreate {
        let id = db
            .row("SELECT id FROM attribute WHERE name = $1", &[name.into()])?
            .map_or(0, |r| r[0].int());
        dropped = drop_values(db, id)?;
    }
    let sql = if action == Action::Add {
        "INSERT INTO attribute (datatype, computation_group, definition, ontology_xref, \
         related_ontology_terms, unit, remark, name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    } else {
        "UPDATE attribute SET datatype = $1, computation_group = $2, definition = $3, \
         ontology_xref = $4, related_ontology_terms = $5, unit = $6, remark = $7 \
         WHERE name = $8"
    };
    db.exec(
        sql,
        &[
            d.datatype.as_str().into(),
            d.computation_group.as_deref().into(),
            texts[0].into(),
            texts[1].into(),
            texts[2].into(),
            texts[3].into(),
            texts[4].into(),
            name.into(),
        ],
    )?;
    Ok(dropped)
}

/// Deletes every stored value of an attribute (rewriting the blocks that hold
/// some); returns how many. Units stay: only their values of that attribute go.
fn drop_values(db: &mut Db, attribute: i64) -> Result<u64, StoreError> {
    let mut removed = 0;
    // One block in memory at a time.
    let keys = db.rows(
        "SELECT computation_id, n0 FROM block ORDER BY computation_id, n0",
        &[],
    )?;
    for key in keys {
        let (cid, n0) = (key[0].int(), key[1].int());
        let Some(r) = db.row(
            &format!(
                "SELECT {BLOCK_COLUMNS} FROM block b JOIN computation c \
                 ON c.id = b.computation_id WHERE b.computation_id = $1 AND b.n0 = $2"
            ),
            &[cid.into(), n0.into()],
        )?
        else {
            continue;
        };
        let mut w = block::Writer::with_capacity(r[6].bytes().len());
        let mut dropped = 0u64;
        for u in read_block(&r)? {
            let u = u?;
            let values = u.values().map_err(|e| damaged(&r, e))?;
            let kept: Vec<_> = values.iter().filter(|v| v.0 != attribute).collect();
            dropped += (values.len() - kept.len()) as u64;
            w.push(
                u.entity,
                u.status,
                u.logs,
                u.error,
                kept.into_iter().map(|(a, col, v)| (*a, *col, v)),
            );
        }
        if dropped > 0 {
            db.exec(
                "UPDATE block SET n_values = $1, data = $2 WHERE computation_id = $3 AND n0 = $4",
                &[
                    Param::I(w.counts.values),
                    Param::B(&w.data),
                    Param::I(cid),
                    Param::I(n0),
                ],
            )?;
            removed += dropped;
        }
    }
    Ok(removed)
}
