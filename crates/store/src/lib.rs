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
- **Computations** ([`Computation`]): one per run or loaded report, with its
  [`polyplug_core::Report`] (UUID and every report field) and its [`Provenance`]
  (the shard, the host and the process that wrote it). A computation starts as
  [`polyplug_core::CompStatus::Running`] ([`Store::begin_computation`]) and gets its
  report when it ends ([`Store::finish_computation`]).
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

The code is split by what it keeps: `location` (store URLs), `store` (opening and
migrating, with the private `db` module the only code that touches a driver and
`schema` the versioned migrations), `attributes`, `plugins`, `computations`, `batch`
(committing units and reading them back, over the private `block` encoding), `query`,
`copy` (other stores' computations copied in: merges and run archives), `archive`
([`ArchiveNote`]) and `json`. Errors are [`StoreError`] (module `error`).

```no_run
use polyplug_store::{Location, Store};

let mut store = Store::open(&Location::parse("polyplug.db")?)?;
for run in store.computations()? {
    let r = &run.report;
    assert!(!r.plugin_id.is_empty(), "{} {} {}", r.uuid, r.plugin_version, r.comp_status);
}
# Ok::<(), polyplug_store::StoreError>(())
```
*/
#![deny(missing_docs)]

mod archive;
mod attributes;
mod batch;
mod block;
mod computations;
mod copy;
mod db;
mod error;
mod json;
mod location;
mod plugins;
mod query;
mod schema;
mod spill;
mod store;

pub use archive::{ArchiveNote, ARCHIVE_FORMAT};
pub use attributes::{StoredAttribute, SyncOptions, SyncSummary};
pub use batch::{Layout, StoredUnit, UnitBatch, UnitStatus};
pub use computations::{
    parse_tags, tags_text, Computation, ComputationId, Provenance, RunningComputation, UnitCounts,
};
pub use copy::Copied;
pub use db::Backend;
pub use error::{RefusedChange, StoreError};
pub use json::{params_key, value_to_json};
pub use location::Location;
pub use plugins::{PluginRecord, PluginRegistration};
pub use query::{Filter, Origin, Record, QUERY_MEMORY};
pub use schema::SCHEMA_VERSION;
pub use store::Store;

/// Decodes a block's data as a query does, every unit and value, and a sort run's
/// frame (see `spill`): for the fuzz targets (`fuzz/`), not an API. Gives the number
/// of units read, or the first error.
#[doc(hidden)]
pub fn fuzz_decode_block(data: &[u8], n0: i64, counts: [i64; 4]) -> Result<usize, String> {
    let _ = spill::fuzz_decode(data);
    let row = block::Counts {
        units: counts[0],
        no_result: counts[1],
        failed: counts[2],
        values: counts[3],
    };
    let mut n = 0;
    for u in block::units(data, n0, row).map_err(|e| e.to_string())? {
        let u = u.map_err(|e| e.to_string())?;
        u.values().map_err(|e| e.to_string())?;
        n += 1;
    }
    Ok(n)
}

pub(crate) use json::json_to_value;
