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
    /// Number of workers of the run (0 or 1: in-process). Python plugins run one
    /// worker process per job when this is above 1.
    pub jobs: usize,
    /// Python import paths (`--python-path`).
    pub python_path: Vec<PathBuf>,
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
                || polyplug_loader_bash::EXTENSIONS.contains(&e)
                || polyplug_loader_source::EXTENSIONS.contains(&e)
                || polyplug_loader_python::EXTENSIONS.contains(&e)
                || polyplug_loader_wasm::EXTENSIONS.contains(&e)
        })
}

/// How source plugins are built: the cache from the environment, and a note on stderr
/// when a source is compiled (it takes seconds, once).
pub fn source_options() -> polyplug_loader_source::SourceOptions {
    polyplug_loader_source::SourceOptions::default()
        .with_notify(std::sync::Arc::new(|note: &str| crate::error(note)))
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
            match polyplug_loader_native::load(path) {
                Ok(p) => Ok(Box::new(p)),
                // A compiled Prenacs plugin (Nim with nimpy, Rust with pyo3) is a CPython
                // extension module: it runs in the embedded Python.
                Err(_) if polyplug_loader_python::is_extension_module(path) => Ok(Box::new(
                    polyplug_loader_python::load(path, &python_config(config))?,
                )),
                Err(e) => Err(e),
            }
        }
        // Bash scripts (MultiPlug/Prenacs conventions): bash worker processes.
        e if polyplug_loader_bash::EXTENSIONS.contains(&e) => {
            Ok(Box::new(polyplug_loader_bash::load(
                path,
                &polyplug_loader_bash::BashOptions::default().with_timeout(config.timeout),
            )?))
        }
        // Single-file C, Nim and Rust sources: compiled on first use into the user's
        // cache, then loaded as above.
        e if polyplug_loader_source::EXTENSIONS.contains(&e) => {
            if config.timeout.is_some() {
                return Err(PluginError::new(
                    path,
                    "--timeout cannot stop a compiled plugin: it runs inside the polyplug \
                     process; remove --timeout (it applies to Bash, Python and WebAssembly plugins)",
                ));
            }
            Ok(Box::new(polyplug_loader_source::load(
                path,
                &source_options(),
            )?))
        }
        // Python (Prenacs) plugins: embedded CPython; worker processes for -j N > 1.
        // --timeout runs them in worker processes even at -j1: only a process can be
        // interrupted (SIGALRM) or killed.
        e if polyplug_loader_python::EXTENSIONS.contains(&e) => Ok(Box::new(
            polyplug_loader_python::load(path, &python_config(config))?,
        )),
        // WebAssembly modules: wasmtime, sandboxed, with memory and time limits.
        e if polyplug_loader_wasm::EXTENSIONS.contains(&e) => {
            Ok(Box::new(polyplug_loader_wasm::load(path, &config.wasm())?))
        }
        _ => Err(PluginError::new(
            path,
            "unknown plugin kind: expected a native library (.so, .dylib), a Python module \
             (.py), a Bash script (.sh), a WebAssembly module (.wasm), or a C, Nim or Rust \
             source (.c, .nim, .rs)",
        )),
    }
}

/// The Python loader's settings: worker processes (this very binary, in its hidden
/// `__worker python` mode) when the run has more than one job or a time limit.
fn python_config(config: &LoadConfig) -> polyplug_loader_python::PythonConfig {
    let c = polyplug_loader_python::PythonConfig::default()
        .with_python_path(config.python_path.clone())
        .with_timeout(config.timeout);
    match (
        config.jobs > 1 || config.timeout.is_some(),
        std::env::current_exe(),
    ) {
        (true, Ok(exe)) => c.with_workers(exe),
        _ => c,
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
    // A bare name that is also a folder (`polyplug new` makes `./<name>/`) is an ID.
    let bare_folder = path.is_dir() && !arg.contains('/');
    if path.exists() && !bare_folder {
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
