/*!
polyplug's results store: every value a plugin computes, with where it came from.

A store is a SQLite file (the embedded default, `polyplug.db`) or a PostgreSQL
database (a `postgres://` URL, for shared and multi-machine use). Both backends have
the same tables and the same behaviour; this crate is the only part of polyplug that
knows SQL, and everything backend-specific is in one small private module.

What is kept, and how the pieces fit:

- **Attributes** ([`StoredAttribute`]): the Prenacs attribute definitions (name,
  datatype such as `Float;Integer[3]`, definition, computation group, …), managed with
  [`Store::sync_attributes`] as `prenacs manage-attributes` does.
- **Plugins** ([`PluginRecord`]): one row per (ID, VERSION) with all metadata and the
  plugin file's sha256. The same ID and VERSION with other content is refused
  ([`Store::register_plugin`]) unless the caller asks to replace the record.
- **Computations** ([`Computation`]): one per run or loaded report, with a UUID and every
  report field, plus the shard, the host and the process that wrote it. A computation
  starts as `running` ([`Store::begin_computation`]) and gets its report when it ends
  ([`Store::finish_computation`]).
- **Units and values**: each entity a computation processed is a unit (done with
  values, done without a result, or failed, with its logs); each value is one column
  of one attribute of one unit, typed (integer, float, string, boolean, null, list).
  [`UnitBatch`] encodes them as they come and [`Store::commit`] writes a batch as one
  row, a *block* (the private `block` module documents the encoding): storing a
  million values costs a run little more than writing them to a file.

History is kept: recomputing adds rows and never overwrites. The *current* value of
(entity, attribute) is the one from the latest computation (in start order) in which
that entity was done; [`Store::query`] gives current values or the whole history.

**Resuming is decided by the store.** A computation key is (plugin ID, VERSION,
parameters). [`Store::done_entities`] lists the entities already done for a key (failed
ones are not done), in any computation, finished or killed: a rerun skips them. Since a
unit and its values are committed together, a run killed at any moment leaves each
entity either fully recorded or not at all, and the rerun computes exactly the missing
ones.

```no_run
use polyplug_store::{Location, Store};

let mut store = Store::open(&Location::parse("polyplug.db")?)?;
for run in store.computations()? {
    println!("{} {} {} {}", run.uuid, run.plugin_id, run.plugin_version, run.comp_status);
}
# Ok::<(), polyplug_store::StoreError>(())
```
*/
#![deny(missing_docs)]

mod block;
mod db;
mod query;
mod schema;

pub use db::Backend;
pub use query::{Filter, Record};
pub use schema::SCHEMA_VERSION;

use db::{Cell, Db, Param};
use polyplug_core::{parse_datatype, AttributeDefinitions, PluginMeta, Value};
use std::fmt;
use std::path::PathBuf;

/// A store error: what went wrong, where, and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreError(String);

impl StoreError {
    pub(crate) fn new(message: impl Into<String>) -> StoreError {
        StoreError(message.into())
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<String> for StoreError {
    fn from(message: String) -> StoreError {
        StoreError(message)
    }
}

/// Where a store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user@host:port/db`).
    Postgres(String),
}

impl Location {
    /// The default store: `polyplug.db` in the working directory.
    pub fn default_sqlite() -> Location {
        Location::Sqlite(PathBuf::from("polyplug.db"))
    }

    /// Reads a store URL: `postgres://…` or `postgresql://…` is PostgreSQL;
    /// `sqlite://PATH`, `sqlite:PATH` or a plain path is a SQLite file.
    pub fn parse(url: &str) -> Result<Location, StoreError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(StoreError::new(
                "the store URL is empty; give a SQLite file path or a postgres:// URL",
            ));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Location::Postgres(url.to_string()));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(StoreError::new(format!(
                "store URL '{url}': unknown scheme '{scheme}'; use a SQLite file path \
                 (or sqlite://PATH) or a postgres://user@host:port/database URL"
            )));
        }
        Ok(Location::Sqlite(PathBuf::from(url)))
    }

    /// The location for messages, without a password.
    pub fn display(&self) -> String {
        match self {
            Location::Sqlite(p) => p.display().to_string(),
            Location::Postgres(url) => hide_password(url),
        }
    }
}

fn hide_password(url: &str) -> String {
    // postgres://user:secret@host/db -> postgres://user:***@host/db
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_string(),
    }
}

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

/// A plugin description: (ID, VERSION), metadata and content hash.
#[derive(Debug, Clone)]
pub struct PluginRecord {
    /// Validated metadata.
    pub meta: PluginMeta,
    /// sha256 of the plugin file, hex.
    pub sha256: String,
    /// Language (`native`, `python`, …).
    pub language: String,
    /// The plugin file.
    pub file: String,
}

/// What [`Store::register_plugin`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginRegistration {
    /// The (ID, VERSION) was new.
    New,
    /// Already stored with the same content.
    Known,
    /// Stored with other content, and replaced as asked.
    Replaced,
}

/// The identity of a computation inside a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComputationId(i64);

/// A computation as it starts.
#[derive(Debug, Clone)]
pub struct NewComputation {
    /// UUID, 16 bytes.
    pub uuid: [u8; 16],
    /// Plugin ID.
    pub plugin_id: String,
    /// Plugin VERSION.
    pub plugin_version: String,
    /// Parameters as the report writes them (YAML).
    pub parameters: String,
    /// Parameters in canonical form (see [`params_key`]): part of the computation key.
    pub params_key: String,
    /// Who ran it.
    pub user_id: String,
    /// On which system (the report's `system_id`, which the user may set).
    pub system_id: String,
    /// `new_entities`, `new_attributes`, `recompute`, or none.
    pub reason: Option<String>,
    /// Start time.
    pub time_start: String,
    /// sha256 of the plugin file.
    pub plugin_sha256: String,
    /// `polyplug <version>`.
    pub host_version: String,
    /// `I/N` when the run is one shard of a split run.
    pub shard: Option<String>,
    /// The machine's host name.
    pub host: String,
    /// The process writing it (to tell a killed run from a running one).
    pub pid: i64,
    /// The results TSV the run appends to, if any (canonical path).
    pub out_path: Option<String>,
    /// `run` or `load`.
    pub origin: String,
    /// Status at the start: `running` for a run; a loaded report gives its own.
    pub comp_status: String,
}

/// The end of a computation: the report fields known only then.
#[derive(Debug, Clone)]
pub struct Finish {
    /// End time.
    pub time_end: String,
    /// Entities computed.
    pub n_units: u64,
    /// Entities failed.
    pub n_failed: u64,
    /// Entities skipped.
    pub n_skipped: u64,
    /// `completed`, `partial` or `aborted`.
    pub comp_status: String,
    /// Error remarks (YAML), if any.
    pub remarks: Option<String>,
}

/// A stored computation, with every report field.
#[derive(Debug, Clone, PartialEq)]
pub struct Computation {
    /// UUID, hyphenated lower-case hex.
    pub uuid: String,
    /// Plugin ID.
    pub plugin_id: String,
    /// Plugin VERSION.
    pub plugin_version: String,
    /// Parameters (YAML, as in the report).
    pub parameters: String,
    /// Parameters in canonical JSON.
    pub params_key: String,
    /// User.
    pub user_id: Option<String>,
    /// System.
    pub system_id: Option<String>,
    /// Reason.
    pub reason: Option<String>,
    /// Start time.
    pub time_start: Option<String>,
    /// End time (none while running or after a kill).
    pub time_end: Option<String>,
    /// Entities computed (as reported; see [`UnitCounts`] for what is stored).
    pub n_units: Option<i64>,
    /// Entities failed.
    pub n_failed: Option<i64>,
    /// Entities skipped.
    pub n_skipped: Option<i64>,
    /// `running`, `completed`, `partial`, `aborted` or `killed`.
    pub comp_status: String,
    /// Error remarks.
    pub remarks: Option<String>,
    /// sha256 of the plugin file.
    pub plugin_sha256: Option<String>,
    /// Host program version.
    pub host_version: Option<String>,
    /// Shard `I/N`.
    pub shard: Option<String>,
    /// Host name of the machine.
    pub host: Option<String>,
    /// Process ID.
    pub pid: Option<i64>,
    /// Results TSV the run appended to.
    pub out_path: Option<String>,
    /// `run` or `load`.
    pub origin: String,
}

/// What is stored of one computation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnitCounts {
    /// Entities done with values.
    pub with_values: i64,
    /// Entities done without a result.
    pub without_result: i64,
    /// Entities failed.
    pub failed: i64,
    /// Values.
    pub values: i64,
}

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

/// The canonical form of parameters, part of the computation key: a JSON object with
/// sorted keys.
pub fn params_key(entries: &[(String, Value)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|(k, v)| (k.clone(), value_to_json(v)))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// A value as JSON (non-finite floats become the strings `nan`, `inf`, `-inf`).
pub fn value_to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map_or_else(|| serde_json::Value::from(v.to_py_str()), Into::into),
        Value::Str(s) => serde_json::Value::from(s.as_str()),
        Value::List(items) => serde_json::Value::Array(items.iter().map(value_to_json).collect()),
    }
}

pub(crate) fn json_to_value(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Array(a) => Value::List(a.iter().map(json_to_value).collect()),
        serde_json::Value::Object(_) => Value::Str(j.to_string()),
    }
}

/// The 16 UUID bytes as hyphenated lower-case hex.
pub fn uuid_text(bytes: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn opt(c: &Cell) -> Option<String> {
    c.text()
}

fn opt_int(c: &Cell) -> Option<i64> {
    match c {
        Cell::Null => None,
        c => Some(c.int()),
    }
}

const COMPUTATION_COLUMNS: &str = "uuid, plugin_id, plugin_version, parameters, params_key, \
     user_id, system_id, reason, time_start, time_end, n_units, n_failed, n_skipped, \
     comp_status, remarks, plugin_sha256, host_version, shard, host, pid, out_path, origin, id";

fn computation_from(r: &[Cell]) -> Computation {
    Computation {
        uuid: r[0].text().unwrap_or_default(),
        plugin_id: r[1].text().unwrap_or_default(),
        plugin_version: r[2].text().unwrap_or_default(),
        parameters: r[3].text().unwrap_or_default(),
        params_key: r[4].text().unwrap_or_default(),
        user_id: opt(&r[5]),
        system_id: opt(&r[6]),
        reason: opt(&r[7]),
        time_start: opt(&r[8]),
        time_end: opt(&r[9]),
        n_units: opt_int(&r[10]),
        n_failed: opt_int(&r[11]),
        n_skipped: opt_int(&r[12]),
        comp_status: r[13].text().unwrap_or_default(),
        remarks: opt(&r[14]),
        plugin_sha256: opt(&r[15]),
        host_version: opt(&r[16]),
        shard: opt(&r[17]),
        host: opt(&r[18]),
        pid: opt_int(&r[19]),
        out_path: opt(&r[20]),
        origin: r[21].text().unwrap_or_default(),
    }
}

/// An open store.
pub struct Store {
    db: Db,
    location: String,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Store({})", self.location)
    }
}

impl Store {
    /// Opens (creating if needed) the store and brings its schema up to date.
    pub fn open(location: &Location) -> Result<Store, StoreError> {
        let shown = location.display();
        let ctx = |e: StoreError| StoreError::new(format!("store {shown}: {e}"));
        let mut db = match location {
            Location::Sqlite(path) => {
                if let Some(parent) = path.parent() {
                    if !parent.as_os_str().is_empty() && !parent.is_dir() {
                        return Err(StoreError::new(format!(
                            "store {shown}: the folder {} does not exist; create it or give \
                             another --store path",
                            parent.display()
                        )));
                    }
                }
                Db::open_sqlite(path).map_err(|e| {
                    StoreError::new(format!(
                        "store {shown}: cannot open: {e}; give a writable file with --store PATH \
                         (or POLYPLUG_STORE), or run without a store with --no-store"
                    ))
                })?
            }
            Location::Postgres(url) => Db::open_postgres(url).map_err(|e| {
                StoreError::new(format!(
                    "store {shown}: cannot connect: {e}; check that the server runs and \
                     the URL (postgres://user@host:port/database) is right"
                ))
            })?,
        };
        schema::migrate(&mut db, &shown).map_err(|e| {
            if e.0.starts_with(&shown) {
                e
            } else {
                ctx(e)
            }
        })?;
        Ok(Store {
            db,
            location: shown,
        })
    }

    /// Whether a SQLite store file exists (a read-only command refuses to create one).
    pub fn exists(location: &Location) -> bool {
        match location {
            Location::Sqlite(p) => p.is_file(),
            Location::Postgres(_) => true,
        }
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// The location, for messages (no password).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The schema version of the store.
    pub fn schema_version(&mut self) -> Result<i64, StoreError> {
        schema::version(&mut self.db)
    }

    /// Names the store in an error, once (an error that already names it, from a
    /// caller's callback say, is left as it is).
    fn ctx(&self, e: StoreError) -> StoreError {
        let prefix = format!("store {}: ", self.location);
        if e.0.starts_with(&prefix) {
            return e;
        }
        StoreError::new(format!("{prefix}{e}"))
    }

    // ---- attributes ----

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
        AttributeDefinitions::from_yaml_str(&text, &format!("store {}", self.location))
            .map_err(StoreError::new)
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
        let mut plan: Vec<(&str, &polyplug_core::AttributeDefinition, &'static str)> = Vec::new();
        for name in defs.names() {
            let Some((d, _)) = defs.get(name) else {
                continue;
            };
            match existing.get(name) {
                None => plan.push((name, d, "add")),
                Some(old) => {
                    let datatype_changed =
                        old.datatype.is_some() && old.datatype.as_deref() != Some(&d.datatype);
                    let group_changed = old.datatype.is_some()
                        && old.computation_group.as_deref() != d.computation_group.as_deref();
                    if datatype_changed || group_changed {
                        if opts.drop {
                            plan.push((name, d, "recreate"));
                        } else {
                            let (field, a, b) = if datatype_changed {
                                ("datatype", old.datatype.clone(), Some(d.datatype.clone()))
                            } else {
                                (
                                    "computation_group",
                                    old.computation_group.clone(),
                                    d.computation_group.clone(),
                                )
                            };
                            refused.push(format!(
                                "attribute '{name}': the {field} changed ({} in the store, {} in \
                                 {}); changing it would invalidate stored values: rerun with \
                                 --drop to delete the attribute's values and recreate it",
                                a.as_deref().unwrap_or("none"),
                                b.as_deref().unwrap_or("none"),
                                defs.origin
                            ));
                        }
                        continue;
                    }
                    if old.datatype.is_none() {
                        // Met by a run before being defined: take the definition.
                        plan.push((name, d, "define"));
                        continue;
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
                    if texts_differ {
                        if opts.update {
                            plan.push((name, d, "update"));
                        } else {
                            summary.differing.push(name.to_string());
                        }
                    }
                }
            }
        }
        if !refused.is_empty() {
            return Err(StoreError::new(refused.join("\n")));
        }
        let loc = self.location.clone();
        self.db
            .transaction(|db| {
                db.lock_catalog()?;
                for (name, d, action) in &plan {
                    let texts = [
                        d.definition.as_deref(),
                        d.ontology_xref.as_deref(),
                        d.related_ontology_terms.as_deref(),
                        d.unit.as_deref(),
                        d.remark.as_deref(),
                    ];
                    match *action {
                        "recreate" => {
                            let id = db
                                .row(
                                    "SELECT id FROM attribute WHERE name = $1",
                                    &[(*name).into()],
                                )?
                                .map_or(0, |r| r[0].int());
                            let n = drop_values(db, id)?;
                            update_attr(
                                db,
                                name,
                                d.datatype.as_str(),
                                d.computation_group.as_deref(),
                                &texts,
                            )?;
                            summary.recreated.push((name.to_string(), n));
                        }
                        "add" => {
                            db.exec(
                                "INSERT INTO attribute (name, datatype, computation_group, \
                                 definition, ontology_xref, related_ontology_terms, unit, remark) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                                &[
                                    (*name).into(),
                                    d.datatype.as_str().into(),
                                    d.computation_group.as_deref().into(),
                                    texts[0].into(),
                                    texts[1].into(),
                                    texts[2].into(),
                                    texts[3].into(),
                                    texts[4].into(),
                                ],
                            )?;
                            summary.added.push(name.to_string());
                        }
                        _ => {
                            update_attr(
                                db,
                                name,
                                d.datatype.as_str(),
                                d.computation_group.as_deref(),
                                &texts,
                            )?;
                            if *action == "define" {
                                summary.added.push(name.to_string());
                            } else {
                                summary.updated.push(name.to_string());
                            }
                        }
                    }
                }
                Ok(())
            })
            .map_err(|e| StoreError::new(format!("store {loc}: {e}")))?;
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
                                .ok_or_else(|| StoreError::new("attribute insert lost"))?;
                            (r[0].int(), given.map(|d| d.datatype.clone()))
                        }
                    };
                    if let (Some(g), Some(stored)) = (given, &datatype) {
                        if &g.datatype != stored {
                            return Err(StoreError::new(format!(
                                "attribute '{name}' has datatype {stored} in the store but {} in \
                                 {}; make them agree (polyplug attrs sync {} --drop replaces the \
                                 stored definition and deletes its values)",
                                g.datatype,
                                defs.map_or("", |d| d.origin.as_str()),
                                defs.map_or("", |d| d.origin.as_str()),
                            )));
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
            .map_err(|e| StoreError::new(format!("store {loc}: {e}")))?;
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
        Ok(Layout {
            slots,
            attrs: attrs.into_iter().map(|(n, id, _)| (n, id)).collect(),
        })
    }

    // ---- plugins ----

    /// Records a plugin description. The same (ID, VERSION) with another sha256 is
    /// refused ("plugin changed without a version change") unless `replace`.
    pub fn register_plugin(
        &mut self,
        p: &PluginRecord,
        replace: bool,
    ) -> Result<PluginRegistration, StoreError> {
        let m = &p.meta;
        let output = serde_json::Value::from(m.output.clone()).to_string();
        let parameters = serde_json::Value::Array(
            m.parameters
                .iter()
                .map(|d| serde_json::json!([d.name, d.datatype, d.default_text, d.documentation]))
                .collect(),
        )
        .to_string();
        let extra = |k: &str| m.extra.get(k).map(String::as_str);
        let now = now_text();
        let loc = self.location.clone();
        self.db
            .transaction(|db| {
                db.lock_catalog()?;
                let old = db.row(
                    "SELECT sha256, file FROM plugin WHERE plugin_id = $1 AND version = $2",
                    &[m.id.as_str().into(), m.version.as_str().into()],
                )?;
                let outcome = match old {
                    Some(r) if r[0].str() == p.sha256 => return Ok(PluginRegistration::Known),
                    Some(r) if !replace => {
                        return Err(StoreError::new(format!(
                            "{}: plugin {} version {} changed without a version change: the \
                             store has it with sha256 {} (from {}), this file has sha256 {}; \
                             increase VERSION in the plugin, or rerun with \
                             --replace-plugin-record to overwrite the stored description",
                            p.file,
                            m.id,
                            m.version,
                            r[0].str(),
                            r[1].str(),
                            p.sha256
                        )))
                    }
                    Some(_) => PluginRegistration::Replaced,
                    None => PluginRegistration::New,
                };
                // Replacing updates the row in place: computations refer to it.
                let sql = if outcome == PluginRegistration::Replaced {
                    "UPDATE plugin SET sha256 = $3, language = $4, file = $5, input = $6, \
                     output = $7, parameters = $8, method = $9, implementation = $10, \
                     req_software = $11, req_hardware = $12, advice = $13, registered = $14 \
                     WHERE plugin_id = $1 AND version = $2"
                } else {
                    "INSERT INTO plugin (plugin_id, version, sha256, language, file, input, \
                     output, parameters, method, implementation, req_software, req_hardware, \
                     advice, registered) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
                     $12, $13, $14)"
                };
                db.exec(
                    sql,
                    &[
                        m.id.as_str().into(),
                        m.version.as_str().into(),
                        p.sha256.as_str().into(),
                        p.language.as_str().into(),
                        p.file.as_str().into(),
                        m.input.as_str().into(),
                        output.as_str().into(),
                        parameters.as_str().into(),
                        extra("METHOD").into(),
                        extra("IMPLEMENTATION").into(),
                        extra("REQ_SOFTWARE").into(),
                        extra("REQ_HARDWARE").into(),
                        extra("ADVICE").into(),
                        now.as_str().into(),
                    ],
                )?;
                Ok(outcome)
            })
            .map_err(|e| {
                if e.0.contains("changed without a version change") {
                    e
                } else {
                    StoreError::new(format!("store {loc}: {e}"))
                }
            })
    }

    /// The stored OUTPUT list of a plugin version.
    pub fn plugin_output(
        &mut self,
        plugin_id: &str,
        version: &str,
    ) -> Result<Vec<String>, StoreError> {
        let r = self.db.row(
            "SELECT output FROM plugin WHERE plugin_id = $1 AND version = $2",
            &[plugin_id.into(), version.into()],
        )?;
        Ok(r.and_then(|r| serde_json::from_str(r[0].str()).ok())
            .unwrap_or_default())
    }

    // ---- computations ----

    /// Records the start of a computation (status `running`, or the given one).
    pub fn begin_computation(&mut self, c: &NewComputation) -> Result<ComputationId, StoreError> {
        let uuid = uuid_text(&c.uuid);
        let r = self
            .db
            .transaction(|db| {
                db.lock_catalog()?;
                if db
                    .row(
                        "SELECT id FROM computation WHERE uuid = $1",
                        &[uuid.as_str().into()],
                    )?
                    .is_some()
                {
                    return Err(StoreError::new(format!(
                        "a computation with UUID {uuid} is already in the store; it was loaded \
                         or run before (see polyplug runs show {uuid})"
                    )));
                }
                db.row(
                    "INSERT INTO computation (uuid, plugin_id, plugin_version, parameters, \
                     params_key, user_id, system_id, reason, time_start, comp_status, \
                     plugin_sha256, host_version, shard, host, pid, out_path, origin) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
                     RETURNING id",
                    &[
                        uuid.as_str().into(),
                        c.plugin_id.as_str().into(),
                        c.plugin_version.as_str().into(),
                        c.parameters.as_str().into(),
                        c.params_key.as_str().into(),
                        c.user_id.as_str().into(),
                        c.system_id.as_str().into(),
                        c.reason.as_deref().into(),
                        c.time_start.as_str().into(),
                        c.comp_status.as_str().into(),
                        c.plugin_sha256.as_str().into(),
                        c.host_version.as_str().into(),
                        c.shard.as_deref().into(),
                        c.host.as_str().into(),
                        c.pid.into(),
                        c.out_path.as_deref().into(),
                        c.origin.as_str().into(),
                    ],
                )
            })
            .map_err(|e| self.ctx(e))?;
        r.map(|r| ComputationId(r[0].int()))
            .ok_or_else(|| self.ctx(StoreError::new("the computation was not recorded")))
    }

    /// Records the end of a computation: the report fields known only then.
    pub fn finish_computation(&mut self, id: ComputationId, f: &Finish) -> Result<(), StoreError> {
        self.db
            .exec(
                "UPDATE computation SET time_end = $1, n_units = $2, n_failed = $3, \
                 n_skipped = $4, comp_status = $5, remarks = $6 WHERE id = $7",
                &[
                    f.time_end.as_str().into(),
                    Param::I(f.n_units as i64),
                    Param::I(f.n_failed as i64),
                    Param::I(f.n_skipped as i64),
                    f.comp_status.as_str().into(),
                    f.remarks.as_deref().into(),
                    id.0.into(),
                ],
            )
            .map_err(|e| self.ctx(e))?;
        Ok(())
    }

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
        self.db
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
            .map_err(|e| self.ctx(e))
    }

    /// Marks as `killed` the computations of this host still `running` whose process
    /// is gone (`alive(pid)` is false): they were killed before writing their report.
    /// Returns their UUIDs.
    pub fn close_killed(
        &mut self,
        host: &str,
        alive: impl Fn(i64) -> bool,
    ) -> Result<Vec<String>, StoreError> {
        let rows = self
            .db
            .rows(
                "SELECT id, uuid, pid FROM computation WHERE comp_status = 'running' AND host = $1",
                &[host.into()],
            )
            .map_err(|e| self.ctx(e))?;
        let mut closed = Vec::new();
        for r in rows {
            if alive(r[2].int()) {
                continue;
            }
            let id = r[0].int();
            let c = self.unit_counts(id)?;
            let (n, f) = (c.with_values + c.without_result, c.failed);
            self.db
                .exec(
                    "UPDATE computation SET comp_status = 'killed', n_units = $1, n_failed = $2, \
                     remarks = $3 WHERE id = $4 AND comp_status = 'running'",
                    &[
                        n.into(),
                        f.into(),
                        "error_class: Killed\nerror_message: the process ended without \
                         writing its report; what it committed is kept and a rerun skips it\n"
                            .into(),
                        id.into(),
                    ],
                )
                .map_err(|e| self.ctx(e))?;
            closed.push(r[1].text().unwrap_or_default());
        }
        Ok(closed)
    }

    /// Computations of a key that appended to `out_path` and were killed: their
    /// committed rows may be missing from that file (the store commits first, then the
    /// file is written).
    pub fn killed_with_output(
        &mut self,
        plugin_id: &str,
        plugin_version: &str,
        params_key: &str,
        out_path: &str,
    ) -> Result<Vec<String>, StoreError> {
        let rows = self.db.rows(
            "SELECT uuid FROM computation WHERE plugin_id = $1 AND plugin_version = $2 AND \
             params_key = $3 AND out_path = $4 AND comp_status = 'killed' ORDER BY id",
            &[
                plugin_id.into(),
                plugin_version.into(),
                params_key.into(),
                out_path.into(),
            ],
        )?;
        Ok(rows.iter().filter_map(|r| r[0].text()).collect())
    }

    /// Forgets that a killed computation appended to a results file (after the file
    /// was repaired), so it is not checked again.
    pub fn clear_out_path(&mut self, uuid: &str) -> Result<(), StoreError> {
        self.db
            .exec(
                "UPDATE computation SET out_path = NULL WHERE uuid = $1",
                &[uuid.into()],
            )
            .map_err(|e| self.ctx(e))?;
        Ok(())
    }

    /// All computations, oldest first.
    pub fn computations(&mut self) -> Result<Vec<Computation>, StoreError> {
        let rows = self
            .db
            .rows(
                &format!("SELECT {COMPUTATION_COLUMNS} FROM computation ORDER BY id"),
                &[],
            )
            .map_err(|e| self.ctx(e))?;
        Ok(rows.iter().map(|r| computation_from(r)).collect())
    }

    /// The computation with this UUID, or the only one whose UUID starts with it.
    pub fn computation(&mut self, uuid: &str) -> Result<(Computation, UnitCounts), StoreError> {
        let id = self.computation_id(uuid)?;
        let r = self
            .db
            .row(
                &format!("SELECT {COMPUTATION_COLUMNS} FROM computation WHERE id = $1"),
                &[id.0.into()],
            )?
            .ok_or_else(|| self.ctx(StoreError::new(format!("no computation {uuid}"))))?;
        let counts = self.unit_counts(id.0)?;
        Ok((computation_from(&r), counts))
    }

    /// What is stored of a computation, from its blocks' counts.
    fn unit_counts(&mut self, id: i64) -> Result<UnitCounts, StoreError> {
        let r = self
            .db
            .row(
                "SELECT CAST(COALESCE(SUM(n_units), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(n_no_result), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(n_failed), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(n_values), 0) AS BIGINT) \
                 FROM block WHERE computation_id = $1",
                &[id.into()],
            )
            .map_err(|e| self.ctx(e))?
            .unwrap_or_default();
        let get = |i: usize| r.get(i).map_or(0, Cell::int);
        Ok(UnitCounts {
            with_values: get(0) - get(1) - get(2),
            without_result: get(1),
            failed: get(2),
            values: get(3),
        })
    }

    pub(crate) fn computation_id(&mut self, uuid: &str) -> Result<ComputationId, StoreError> {
        let prefix = uuid.trim().to_ascii_lowercase();
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(StoreError::new(format!(
                "'{uuid}' is not a computation UUID (hex digits and '-'); see polyplug runs list"
            )));
        }
        let pattern = format!("{prefix}%");
        let rows = self
            .db
            .rows(
                "SELECT id, uuid FROM computation WHERE uuid LIKE $1 ORDER BY id",
                &[pattern.as_str().into()],
            )
            .map_err(|e| self.ctx(e))?;
        match rows.len() {
            0 => Err(self.ctx(StoreError::new(format!(
                "no computation with UUID {uuid}; see polyplug runs list"
            )))),
            1 => Ok(ComputationId(rows[0][0].int())),
            n => Err(self.ctx(StoreError::new(format!(
                "{n} computations have UUIDs starting with {uuid}; give more digits"
            )))),
        }
    }

    /// The rows of a computation as a Prenacs results file has them: for each entity
    /// done with values, in the order it was recorded, the values in OUTPUT order.
    pub fn result_rows(
        &mut self,
        uuid: &str,
        mut each: impl FnMut(&str, &[Value]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let id = self.computation_id(uuid)?;
        let (c, _) = self.computation(uuid)?;
        let output = self.plugin_output(&c.plugin_id, &c.plugin_version)?;
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
                        if u.status != UnitStatus::Values {
                            continue;
                        }
                        let mut cells = u.values().map_err(|e| damaged(r, e))?;
                        cells.sort_by_key(|(attr, col, _)| {
                            (order.get(attr).copied().unwrap_or(i64::MAX), *col)
                        });
                        let values: Vec<Value> = cells.into_iter().map(|c| c.2).collect();
                        if !values.is_empty() {
                            each(u.entity, &values)?;
                        }
                    }
                    Ok(())
                },
            )
            .map_err(|e| self.ctx(e))
    }
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

/// The columns a block row is read with (`c` the computation, `b` the block), in the
/// order [`read_block`] expects them.
pub(crate) const BLOCK_COLUMNS: &str =
    "c.uuid, b.n0, b.n_units, b.n_no_result, b.n_failed, b.n_values, b.data";

/// The units of a block row read with [`BLOCK_COLUMNS`] first; a unit that cannot be
/// read is an error naming the computation (see [`damaged`]).
fn read_block(
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
fn damaged(r: &[Cell], e: polyplug_core::codec::CodecError) -> StoreError {
    StoreError::new(format!(
        "the stored results of computation {} (units from {}) cannot be read: {e}; the \
         store was damaged or changed outside polyplug: restore it from a backup, or \
         recompute that computation with --force",
        r[0].str(),
        r[1].int()
    ))
}

fn update_attr(
    db: &mut Db,
    name: &str,
    datatype: &str,
    group: Option<&str>,
    texts: &[Option<&str>; 5],
) -> Result<(), StoreError> {
    db.exec(
        "UPDATE attribute SET datatype = $1, computation_group = $2, definition = $3, \
         ontology_xref = $4, related_ontology_terms = $5, unit = $6, remark = $7 \
         WHERE name = $8",
        &[
            datatype.into(),
            group.into(),
            texts[0].into(),
            texts[1].into(),
            texts[2].into(),
            texts[3].into(),
            texts[4].into(),
            name.into(),
        ],
    )?;
    Ok(())
}

/// Local time as the reports write it.
fn now_text() -> String {
    // Seconds since the epoch are enough for a registration stamp; the CLI writes the
    // report times.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{secs}")
}

impl Layout {
    /// The attributes in OUTPUT order with their store ids.
    pub fn attributes(&self) -> impl Iterator<Item = &str> {
        self.attrs.iter().map(|(n, _)| n.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_the_backend() {
        assert_eq!(
            Location::parse("x.db").unwrap(),
            Location::Sqlite("x.db".into())
        );
        assert_eq!(
            Location::parse("sqlite:///tmp/a.db").unwrap(),
            Location::Sqlite("/tmp/a.db".into())
        );
        assert!(matches!(
            Location::parse("postgresql://u@h/db").unwrap(),
            Location::Postgres(_)
        ));
        let e = Location::parse("mysql://h/db").unwrap_err();
        assert!(e.message().contains("unknown scheme 'mysql'"), "{e}");
        assert_eq!(
            Location::parse("postgres://u:pw@h:5/db").unwrap().display(),
            "postgres://u:***@h:5/db"
        );
    }

    #[test]
    fn uuids_are_hyphenated() {
        let b = [
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0, 1, 2, 3, 4, 5, 6, 7,
        ];
        assert_eq!(uuid_text(&b), "12345678-9abc-def0-0001-020304050607");
    }

    #[test]
    fn params_key_is_sorted_json() {
        let k = params_key(&[
            ("b".into(), Value::Int(1)),
            ("a".into(), Value::Str("x".into())),
        ]);
        assert_eq!(k, r#"{"a":"x","b":1}"#);
    }
}
