//! `polyplug load`: a Prenacs results file and its report, imported into the store as
//! one computation. The whole file is checked before anything is stored.

use crate::provenance::{host_name, plugin_sha256};
use crate::run_store::register_plugin;
use crate::{resolve, stores, EngineError, ImportError};
use polyplug_core::{ColumnKind, CompStatus, Console, LoadOptions, Params, Report, Value};
use polyplug_store::{params_key, Provenance, UnitBatch};
use std::path::{Path, PathBuf};

/// Units per block when importing.
const BATCH_UNITS: usize = crate::record::BATCH_UNITS;

/// What [`load`] imported.
#[derive(Debug, Clone)]
pub struct Imported {
    /// Entities stored.
    pub entities: usize,
    /// The computation (from the report).
    pub report: Report,
    /// The store's location.
    pub store: String,
}

/// What `polyplug load` is given.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The results file (`<id>\t<v1>\t<v2>…`).
    pub results: PathBuf,
    /// The computation report of that run (YAML).
    pub report: PathBuf,
    /// The plugin that computed them (file or ID).
    pub plugin: String,
    /// Accept a plugin file changed without a VERSION change.
    pub replace_plugin_record: bool,
    /// `--store`.
    pub store: Option<String>,
}

/// Imports a results file and its report into the store: the report's UUID and
/// plugin ID/VERSION are checked, and each field is typed by the store's datatypes
/// (the attributes must be defined there, `polyplug attrs sync`).
pub fn load(
    spec: &LoadSpec,
    console: &std::sync::Arc<dyn Console>,
) -> Result<Imported, EngineError> {
    let options = LoadOptions {
        console: console.clone(),
        ..LoadOptions::default()
    };
    let plugin = resolve::resolve(&spec.plugin, &options)?;
    let meta = plugin.meta().clone();
    let report = read_report(&spec.report, &meta, plugin.path())?;
    let given = Params::parse_yaml(
        &report.parameters,
        &format!("{}: parameters", spec.report.display()),
    )?;
    let results_origin = spec.results.display().to_string();
    let results = std::fs::read_to_string(&spec.results).map_err(|e| EngineError::Read {
        path: spec.results.clone(),
        what: "results file",
        why: e.to_string(),
    })?;
    if results.trim().is_empty() {
        return Err(ImportError::Empty {
            results: results_origin,
        }
        .into());
    }
    let mut store = stores::open_or_create(spec.store.as_deref())?;
    let columns = columns(&mut store, &meta)?;
    let rows = parse_rows(&results, &results_origin, &columns, &meta)?;
    let sha256 = plugin_sha256(plugin.path())?;
    register_plugin(
        &mut store,
        plugin.as_ref(),
        &sha256,
        spec.replace_plugin_record,
        console.as_ref(),
    )?;
    let defs = store.definitions()?;
    let layout = store.prepare_attributes(&meta.output, Some(&defs))?;
    let report = Report {
        plugin_sha256: report.plugin_sha256.clone().or(Some(sha256)),
        host_version: report.host_version.clone().or(Some("prenacs".into())),
        ..report
    };
    let id = store.begin_computation(
        &Report {
            comp_status: CompStatus::Loading,
            ..report.clone()
        },
        &params_key(&given),
        &Provenance {
            shard: None,
            host: Some(host_name()),
            pid: Some(i64::from(std::process::id())),
            out_path: None,
            origin: "load".into(),
            ..Provenance::default()
        },
    )?;
    let n = rows.len();
    let mut batch = UnitBatch::new(id, layout);
    for (entity, values) in rows {
        batch.push(&entity, &values, &[], None);
        if batch.len() >= BATCH_UNITS {
            store.commit(&mut batch)?;
        }
    }
    store.commit(&mut batch)?;
    let report = Report {
        n_units: report.n_units.or(Some(n as u64)),
        n_failed: report.n_failed.or(Some(0)),
        n_skipped: report.n_skipped.or(Some(0)),
        time_end: report.time_end.clone().or(Some(String::new())),
        ..report
    };
    store.finish_computation(id, &report)?;
    Ok(Imported {
        entities: n,
        report,
        store: store.location().to_string(),
    })
}

/// The report, checked against the plugin; the fields a Prenacs report may lack
/// are filled in as a Prenacs import has them.
fn read_report(
    path: &Path,
    meta: &polyplug_core::PluginMeta,
    plugin: &Path,
) -> Result<Report, EngineError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| EngineError::Read {
        path: path.to_path_buf(),
        what: "computation report",
        why: e.to_string(),
    })?;
    // The plugin first: a report of another plugin is that, whatever else is wrong.
    let map = Report::mapping(&text, &origin)?;
    for (key, expected) in [("plugin_id", &meta.id), ("plugin_version", &meta.version)] {
        let got = polyplug_core::yaml::mapping_str(&map, key).unwrap_or_default();
        if &got != expected {
            return Err(ImportError::OtherPlugin {
                report: origin,
                key,
                got,
                expected: expected.clone(),
                plugin: plugin.to_path_buf(),
            }
            .into());
        }
    }
    let report = Report::from_mapping(&map, &origin)?;
    Ok(Report {
        user_id: report.user_id.clone().or(Some(String::new())),
        system_id: report.system_id.clone().or(Some(String::new())),
        time_start: report.time_start.clone().or(Some(String::new())),
        ..report
    })
}

/// The kind of every result column, named for messages, from the store's
/// definitions of the OUTPUT attributes (which must all be defined).
fn columns(
    store: &mut polyplug_store::Store,
    meta: &polyplug_core::PluginMeta,
) -> Result<Vec<(String, ColumnKind)>, EngineError> {
    let defs = store.definitions()?;
    let undefined: Vec<String> = meta
        .output
        .iter()
        .filter(|o| defs.get(o).is_none())
        .cloned()
        .collect();
    if !undefined.is_empty() {
        return Err(ImportError::Undefined {
            store: store.location().to_string(),
            attributes: undefined,
            plugin: meta.id.clone(),
        }
        .into());
    }
    let mut kinds = Vec::new();
    for o in &meta.output {
        if let Some((_, cols)) = defs.get(o) {
            for (i, c) in cols.iter().enumerate() {
                let name = if cols.len() > 1 {
                    format!("column {} of attribute '{o}'", i + 1)
                } else {
                    format!("attribute '{o}'")
                };
                kinds.push((name, c.kind));
            }
        }
    }
    Ok(kinds)
}

/// Every row of the results file, typed; the first bad one is an error naming the
/// line and the entity.
fn parse_rows(
    results: &str,
    origin: &str,
    columns: &[(String, ColumnKind)],
    meta: &polyplug_core::PluginMeta,
) -> Result<Vec<(String, Vec<Value>)>, ImportError> {
    let mut rows = Vec::new();
    for (i, line) in results.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let mut fields = line.split('\t');
        let id = polyplug_runner::output::unescape_id(fields.next().unwrap_or("")).into_owned();
        let fields: Vec<&str> = fields.collect();
        if fields.len() != columns.len() {
            return Err(ImportError::Count {
                results: origin.to_string(),
                line: i + 1,
                entity: id,
                found: fields.len(),
                output: meta.output.join(", "),
                needed: columns.len(),
                plugin: meta.id.clone(),
            });
        }
        let mut values = Vec::with_capacity(fields.len());
        for (f, (name, kind)) in fields.iter().zip(columns) {
            values.push(
                parse_field(f, *kind).map_err(|expected| ImportError::Field {
                    results: origin.to_string(),
                    line: i + 1,
                    entity: id.clone(),
                    column: name.clone(),
                    expected,
                    got: f.to_string(),
                })?,
            );
        }
        rows.push((id, values));
    }
    Ok(rows)
}

/// Converts one results-file field to a value of the column's kind.
fn parse_field(text: &str, kind: ColumnKind) -> Result<Value, &'static str> {
    if text == "None" {
        return Ok(Value::Null);
    }
    let as_bool = |t: &str| match t {
        "True" | "true" => Some(Value::Bool(true)),
        "False" | "false" => Some(Value::Bool(false)),
        _ => None,
    };
    match kind {
        ColumnKind::Int => text.parse().map(Value::Int).map_err(|_| "an integer"),
        ColumnKind::Float => text.parse().map(Value::Float).map_err(|_| "a number"),
        ColumnKind::Bool => as_bool(text).ok_or("True or False"),
        ColumnKind::Text => Ok(Value::Str(text.to_string())),
        ColumnKind::Any => Ok(text
            .parse()
            .map(Value::Int)
            .or_else(|_| text.parse().map(Value::Float))
            .ok()
            .or_else(|| as_bool(text))
            .unwrap_or_else(|| Value::Str(text.to_string()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_typed_by_their_column() {
        assert_eq!(parse_field("3", ColumnKind::Int), Ok(Value::Int(3)));
        assert_eq!(parse_field("None", ColumnKind::Int), Ok(Value::Null));
        assert_eq!(parse_field("x", ColumnKind::Float), Err("a number"));
        assert_eq!(parse_field("True", ColumnKind::Any), Ok(Value::Bool(true)));
        assert_eq!(parse_field("0.5", ColumnKind::Any), Ok(Value::Float(0.5)));
        assert_eq!(
            parse_field("a b", ColumnKind::Any),
            Ok(Value::Str("a b".into()))
        );
    }
}
