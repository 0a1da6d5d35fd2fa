//! Finding plugins: by path, or by ID in the plugin folders; and choosing the loader.
//!
//! The loader is chosen by file extension, in one `match` (see [`load`]).

use polyplug_core::{Plugin, PluginError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What loaders need to know from the command line and the environment. Each loader
/// takes the fields that concern it.
#[derive(Debug, Clone, Default)]
pub struct LoadConfig {
    /// Per-entity time limit (`--timeout`).
    pub timeout: Option<Duration>,
    /// Entities are files (`files` mode): sandboxes grant each compute its file.
    pub entity_files: bool,
    /// Folders a sandboxed plugin may read (`--allow-dir DIR`), or also write
    /// (`DIR:rw`): (folder, writable).
    pub allow_dirs: Vec<(PathBuf, bool)>,
    /// Memory cap of one WebAssembly instance in MiB (`--wasm-memory`).
    pub wasm_memory_mib: Option<u64>,
    /// Fuel of each WebAssembly call (`--fuel`).
    pub fuel: Option<u64>,
}

impl LoadConfig {
    /// The sandbox options given, for loaders that cannot honour them.
    fn sandbox_options(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if !self.allow_dirs.is_empty() {
            v.push("--allow-dir");
        }
        if self.wasm_memory_mib.is_some() {
            v.push("--wasm-memory");
        }
        if self.fuel.is_some() {
            v.push("--fuel");
        }
        v
    }

    fn wasm(&self) -> polyplug_loader_wasm::WasmConfig {
        let mut c = polyplug_loader_wasm::WasmConfig::new()
            .with_timeout(self.timeout)
            .with_fuel(self.fuel)
            .with_entity_files(self.entity_files);
        if let Some(mib) = self.wasm_memory_mib {
            c = c.with_memory_mib(mib);
        }
        for (dir, writable) in &self.allow_dirs {
            c = c.with_allow_dir(dir, *writable);
        }
        c
    }
}

/// The plugin folders: `./plugins`, then each entry of `POLYPLUG_PATH`.
pub fn plugin_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("plugins")];
    if let Some(path) = std::env::var_os("POLYPLUG_PATH") {
        dirs.extend(std::env::split_paths(&path).filter(|p| !p.as_os_str().is_empty()));
    }
    dirs
}

/// Whether a file looks like a plugin some loader handles.
pub fn is_plugin_file(path: &Path) -> bool {
    path.is_file()
        && path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            polyplug_loader_native::EXTENSIONS.contains(&e)
                || polyplug_loader_wasm::EXTENSIONS.contains(&e)
        })
}

/// Loads a plugin file with the loader for its extension.
pub fn load(path: &Path, config: &LoadConfig) -> Result<Box<dyn Plugin>, PluginError> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        // Compiled plugins (Rust, C, C++, Nim, Zig): the native C ABI, in-process.
        e if polyplug_loader_native::EXTENSIONS.contains(&e) => {
            if config.timeout.is_some() {
                return Err(PluginError::new(
                    path,
                    "--timeout cannot stop a native plugin: it runs inside the polyplug \
                     process; remove --timeout (it applies to Bash, Python and WebAssembly plugins)",
                ));
            }
            let sandbox = config.sandbox_options();
            if !sandbox.is_empty() {
                return Err(PluginError::new(
                    path,
                    format!(
                        "{} only apply to WebAssembly plugins: a native plugin runs \
                         unsandboxed with your rights; remove them",
                        sandbox.join(", ")
                    ),
                ));
            }
            Ok(Box::new(polyplug_loader_native::load(path)?))
        }
        // WebAssembly modules: wasmtime, sandboxed, with memory and time limits.
        e if polyplug_loader_wasm::EXTENSIONS.contains(&e) => {
            Ok(Box::new(polyplug_loader_wasm::load(path, &config.wasm())?))
        }
        _ => Err(PluginError::new(
            path,
            "unknown plugin kind: expected a native library (.so, .dylib) or a \
             WebAssembly module (.wasm)",
        )),
    }
}

/// The plugin files in `dirs`, sorted within each folder.
pub fn plugin_files(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut here: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_plugin_file(p))
            .collect();
        here.sort();
        files.extend(here);
    }
    files
}

/// Resolves a `<plugin>` argument: an existing file is loaded as it is; otherwise the
/// argument is a plugin ID (or a file stem) looked up in the plugin folders. An
/// unknown or ambiguous ID is an error that lists the candidates.
pub fn resolve(arg: &str, config: &LoadConfig) -> Result<Box<dyn Plugin>, String> {
    let path = Path::new(arg);
    if path.exists() {
        if path.is_dir() {
            return Err(format!("{arg}: is a folder, not a plugin file"));
        }
        return load(path, config).map_err(|e| e.to_string());
    }
    if arg.contains('/') {
        return Err(format!("{arg}: no such file"));
    }
    let dirs = plugin_dirs();
    let mut by_id = Vec::new();
    let mut by_stem = Vec::new();
    let mut known = Vec::new();
    for file in plugin_files(&dirs) {
        let Ok(plugin) = load(&file, config) else {
            continue;
        };
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let stem = stem.strip_prefix("lib").unwrap_or(stem);
        known.push(format!("{} ({})", plugin.meta().id, file.display()));
        if plugin.meta().id == arg {
            by_id.push(plugin);
        } else if stem == arg {
            by_stem.push(plugin);
        }
    }
    let found = if by_id.is_empty() { by_stem } else { by_id };
    match found.len() {
        1 => Ok(found
            .into_iter()
            .next()
            .unwrap_or_else(|| unreachable!("one element"))),
        0 => {
            let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            Err(if known.is_empty() {
                format!(
                    "no plugin '{arg}': it is not a file, and no plugin was found in {}; \
                     give a path, or set POLYPLUG_PATH to the folder holding the plugin",
                    searched.join(", ")
                )
            } else {
                format!(
                    "no plugin '{arg}': it is not a file, and no plugin in {} has that ID; \
                     known plugins: {}",
                    searched.join(", "),
                    known.join(", ")
                )
            })
        }
        _ => {
            let candidates: Vec<String> = found
                .iter()
                .map(|p| {
                    format!(
                        "{} {} ({})",
                        p.meta().id,
                        p.meta().version,
                        p.path().display()
                    )
                })
                .collect();
            Err(format!(
                "plugin '{arg}' is ambiguous: {} match; give the path of the one to use: {}",
                candidates.len(),
                candidates.join(", ")
            ))
        }
    }
}
