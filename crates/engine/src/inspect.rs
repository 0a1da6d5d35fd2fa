//! What `polyplug check` and `polyplug build` do with a plugin besides running it:
//! every departure from the plugin contract, and compiling a source plugin ahead of
//! time.

use crate::{resolve, EngineError};
use polyplug_core::{AttributeDefinitions, Console, LoadOptions, ParamType, Plugin, PluginMeta};
use polyplug_loader_source as source;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Every problem of a plugin that loaded: its contract problems (a Python signature
/// Prenacs' check-plugin rejects), parameter datatypes polyplug cannot check, and no
/// function to call.
pub fn contract_problems(plugin: &dyn Plugin) -> Vec<String> {
    let mut problems = plugin.contract_problems();
    for p in &plugin.meta().parameters {
        if ParamType::parse(&p.datatype).is_none() {
            problems.push(format!(
                "parameter '{}' has datatype '{}', which polyplug cannot check; use int, \
                 float, str, bool, list or any",
                p.name, p.datatype
            ));
        }
    }
    if !plugin.has_compute() && !plugin.has_compute_id() {
        problems.push("the plugin defines neither compute nor compute_id".into());
    }
    problems
}

/// The problems of the plugin's OUTPUT against a definitions file: the file cannot be
/// read or parsed, or an attribute is not defined there.
pub fn definition_problems(meta: &PluginMeta, path: &Path) -> Vec<String> {
    let defs = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))
        .and_then(|text| {
            AttributeDefinitions::from_yaml_str(&text, &path.display().to_string())
                .map_err(|e| e.to_string())
        });
    match defs {
        Ok(defs) => meta
            .output
            .iter()
            .filter(|o| defs.get(o).is_none())
            .map(|o| {
                format!(
                    "OUTPUT attribute '{o}' is not defined in {}",
                    path.display()
                )
            })
            .collect(),
        Err(e) => vec![e],
    }
}

/// What [`build`] did.
#[derive(Debug, Clone)]
pub struct BuildReport {
    /// Plugin ID.
    pub id: String,
    /// Plugin VERSION.
    pub version: String,
    /// The source file.
    pub source: PathBuf,
    /// The library and how it was obtained.
    pub built: source::Built,
}

/// Compiles a source plugin (a `.c`, `.nim` or `.rs` path, or the ID of one in the
/// plugin folders) into the cache, or finds it there (again with `force`), loads it to
/// check it, and copies the library to `copy_to` when given.
pub fn build(
    arg: &str,
    force: bool,
    copy_to: Option<&Path>,
    console: &Arc<dyn Console>,
) -> Result<BuildReport, EngineError> {
    let options = LoadOptions {
        rebuild: force,
        console: console.clone(),
        ..LoadOptions::default()
    };
    let path = Path::new(arg);
    let path = if path.exists() {
        path.to_path_buf()
    } else {
        let defaults = LoadOptions {
            console: console.clone(),
            ..LoadOptions::default()
        };
        resolve::resolve(arg, &defaults)?.path().to_path_buf()
    };
    if source::Language::of(&path).is_none() {
        return Err(EngineError::NotSource { path });
    }
    let plugin = source::load(&path, &options)?;
    if let Some(out) = copy_to {
        std::fs::copy(plugin.library(), out).map_err(|e| EngineError::Copy {
            plugin: path.clone(),
            to: out.to_path_buf(),
            why: e.to_string(),
        })?;
    }
    Ok(BuildReport {
        id: plugin.meta().id.clone(),
        version: plugin.meta().version.clone(),
        source: path,
        built: plugin.built().clone(),
    })
}
