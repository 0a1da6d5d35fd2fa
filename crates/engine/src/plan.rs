//! `polyplug run --dry-run` and `--list`: what a run would do — the plugin, its
//! parameters, the entities, how many would be skipped and why, the shard — found the
//! way the run finds them, without computing, writing an output or touching the store
//! (only the store's done entities are read, when the store exists). Records mode
//! still indexes its files, which is what any later run reuses.

use crate::provenance::plugin_sha256;
use crate::run::{idsproc, jobs, load_options, parameters, source};
use crate::{resolve, stores, EngineError, RunSpec};
use polyplug_core::Console;
use polyplug_runner::input::Entities;
use polyplug_store::{params_key, Store};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a run would do (`--dry-run`), written as YAML.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The plugin's ID.
    pub plugin_id: String,
    /// Its VERSION.
    pub plugin_version: String,
    /// Its kind (`native`, `python`, `bash`, `wasm`, …).
    pub kind: String,
    /// The plugin file.
    pub file: String,
    /// Its sha256.
    pub sha256: String,
    /// The parameters, given or defaulted, as the report writes them.
    pub parameters: BTreeMap<String, String>,
    /// The input, as the command line gave it.
    pub input: String,
    /// The shard computed (`all`, or `I/N` and how it was chosen).
    pub shard: String,
    /// Workers.
    pub workers: usize,
    /// Entities of the input (of this shard).
    pub entities: u64,
    /// Of those, the ones a run would skip as done, and where they are done.
    pub skipped: Skipped,
    /// Of those, the ones a run would compute.
    pub to_compute: u64,
    /// The store a run would record into (`None`: no store).
    pub store: Option<String>,
}

/// Why entities would be skipped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Skipped {
    /// In the results file (`-o`) or the skip list (`-s`).
    pub results_file: u64,
    /// In the store only (`--force` computes them again).
    pub store: u64,
    /// Repeated appearances of an ID (`--allow-duplicates`).
    pub repeats: u64,
}

impl Plan {
    /// The plan as YAML.
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_default()
    }
}

/// What `spec` would do; `each` is called with the ID of every entity it would
/// compute, in input order (for `--list`).
pub fn plan(
    spec: &RunSpec,
    console: &Arc<dyn Console>,
    each: &mut dyn FnMut(&str),
) -> Result<Plan, EngineError> {
    let placement = crate::Placement::of_process(spec.shard)?;
    let plugin = resolve::resolve(&spec.plugin, &load_options(spec, console))?;
    let params = parameters(spec, plugin.as_ref())?;
    let sha256 = plugin_sha256(plugin.path())?;
    let source = source(spec, console.as_ref())?;
    let idsproc = idsproc(spec, console)?;
    let repeats = crate::run::repeats(spec, &source, idsproc.as_deref(), placement.shard)?;
    let location = stores::run_location(&spec.store)?;
    let skip = crate::run::skip_set(spec, &source, idsproc.is_some(), placement.shard, |skip| {
        match &location {
            Some(location) if Store::exists(location) => {
                let meta = plugin.meta();
                let key = params_key(params.entries());
                crate::run_store::add_done(
                    &mut Store::open(location)?,
                    (&meta.id, &meta.version, &key),
                    skip,
                )
            }
            _ => Ok(()),
        }
    })?;
    let mut entities = Entities::open(&source, idsproc.as_deref(), skip)?
        .once(repeats)
        .shard(placement.shard)?;
    let mut to_compute = 0u64;
    for entity in entities.by_ref() {
        each(&entity?.id);
        to_compute += 1;
    }
    let meta = plugin.meta();
    let skipped = Skipped {
        results_file: entities.skipped - entities.skipped_in_store,
        store: entities.skipped_in_store,
        repeats: entities.repeated,
    };
    Ok(Plan {
        plugin_id: meta.id.clone(),
        plugin_version: meta.version.clone(),
        kind: plugin.language().to_string(),
        file: plugin.path().display().to_string(),
        sha256,
        parameters: params
            .entries()
            .iter()
            .map(|(k, v)| (k.clone(), v.to_py_str()))
            .collect(),
        input: input_words(spec),
        shard: match (placement.shard, placement.shard_from) {
            (None, _) => "all".to_string(),
            (Some(s), Some(from)) => format!("{s} (from {from})"),
            (Some(s), None) => s.to_string(),
        },
        workers: jobs(spec),
        entities: to_compute + skipped.results_file + skipped.store + skipped.repeats,
        skipped,
        to_compute,
        store: location.map(|l| l.display()),
    })
}

/// The input as the command line gives it.
fn input_words(spec: &RunSpec) -> String {
    match &spec.input {
        crate::Input::Ids { path, column } => match column {
            Some(c) => format!("ids {} {c}", path.display()),
            None => format!("ids {}", path.display()),
        },
        crate::Input::Files { pattern, .. } => format!("files {pattern}"),
        crate::Input::Records { format, files, .. } => format!(
            "records {format} {}",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        ),
        crate::Input::Sql { url, query } => format!(
            "sql {} {query}",
            polyplug_store::Location::parse(url).map_or_else(|_| url.clone(), |l| l.display())
        ),
    }
}
