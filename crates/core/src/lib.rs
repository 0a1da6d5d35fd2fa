/*!
polyplug's plugin model, the same for every language.

polyplug runs *compute plugins* over many *entities*. Whatever the language a plugin is
written in, a loader turns its file into a [`Plugin`]: validated [`PluginMeta`] (the
Prenacs constants `ID`, `VERSION`, `INPUT`, `OUTPUT`, `PARAMETERS`, …) and a way to start
[`Instance`]s, one per worker, each running `initialize` once, `compute` per entity and
`finalize` once. A compute returns an [`Outcome`] of typed [`Value`]s and log messages, or
an [`EntityError`] that fails that entity only.

This crate also owns what is checked about those values: [`Params`] given to a run are
checked against PARAMETERS and defaulted, and results are checked against OUTPUT and,
when known, the [`AttributeDefinitions`] (datatype grammar `Float;Integer[3]`), by an
[`OutputSpec`].

It also holds the vocabulary every other crate shares: [`LoadOptions`] (what a run
asks of a loader; each loader refuses what it cannot honour) and [`Console`] (where
loaders send notes and plugin output, since library code never prints), and the
computation [`Report`] with its [`CompStatus`] (written by runs and `export`, read by
`load`, kept by the store).

It depends on no other polyplug crate and does no I/O beyond reading the environment
for the cache folder ([`CacheRoot`]) and writing the per-entity log files of
`--log-dir` ([`entity_log`]): loaders, the runner, the store and the engine
build on it.

```
use polyplug_core::{PluginMeta, RawMeta, Value, OutputSpec};

let mut raw = RawMeta::default();
raw.set("ID", Value::from("gc"));
raw.set("VERSION", Value::from("1.0"));
raw.set("INPUT", Value::from("a DNA sequence"));
raw.set("OUTPUT", Value::List(vec![Value::from("gc_count")]));
let meta = PluginMeta::validate(&raw).unwrap();
let spec = OutputSpec::untyped(&meta.output);
assert!(spec.check(&[Value::Int(3)]).is_ok());
assert!(spec.check(&[]).is_ok()); // no result for this entity
```
*/
#![deny(missing_docs)]

mod attrs;
pub mod codec;
pub mod entity_log;
mod meta;
mod options;
mod params;
mod plugin;
mod record;
pub mod report;
mod shard;
mod sink;
mod value;
pub mod yaml;

pub use attrs::{
    parse_datatype, AttributeDefinition, AttributeDefinitions, ColumnKind, ColumnType,
    DatatypeError, DefinitionsError, OutputSpec, ResultMismatch, UndefinedOutputs,
};
pub use meta::{MetaProblems, ParamDef, ParamType, PluginMeta, RawMeta, STRING_LIMITS};
pub use options::{
    CacheRoot, CacheRootError, Console, DirGrant, DirGrantError, LoadOption, LoadOptions, Silent,
    Timeout, CACHE_VARIABLE, DEFAULT_TIMEOUT, TIMEOUT_VARIABLE,
};
pub use params::{Params, ParamsError};
pub use plugin::{
    compute_as_batch, BatchResults, Entity, EntityError, Instance, Outcome, Plugin, PluginError,
};
pub use record::{HeldRecord, Record, RecordFormat, RecordRef, RecordSource};
pub use report::{CompStatus, Report, ReportError};
pub use shard::{Shard, ShardError};
pub use sink::CallSink;
pub use uuid::Uuid;
pub use value::{write_py_float, Value};
pub use yaml::yaml_to_value;
