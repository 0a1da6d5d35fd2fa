//! Finding plugins (by path, or by ID in the plugin folders) and loading them: the
//! table of plugin kinds ([`KINDS`]) is the one place that maps a file to its loader.

use crate::ResolveError;
use polyplug_core::{LoadOptions, Plugin, PluginError};
use polyplug_loader_bash as bash;
use polyplug_loader_native as native;
use polyplug_loader_python as python;
use polyplug_loader_source as source;
use polyplug_loader_wasm as wasm;
use std::path::{Path, PathBuf};

/// A loader: a plugin file and the run's options to a loaded plugin.
pub type LoadFn = fn(&Path, &LoadOptions) -> Result<Box<dyn Plugin>, PluginError>;

/// A kind of plugin file: the extensions that select it and how it loads. Each
/// loader refuses the [`LoadOptions`] it cannot honour.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// What it is called in messages.
    pub name: &'static str,
    /// File extensions, without the dot.
    pub extensions: &'static [&'static str],
    /// Loads a file of this kind.
    pub load: LoadFn,
}

/// Every kind of plugin polyplug runs, by file extension.
pub const KINDS: &[Kind] = &[
    // Compiled plugins (Rust, C, C++, Nim, Zig): the native C ABI, in-process.
    Kind {
        name: "native library",
        extensions: native::EXTENSIONS,
        load: load_native,
    },
    // Bash scripts (MultiPlug/Prenacs conventions): bash worker processes.
    Kind {
        name: "Bash script",
        extensions: bash::EXTENSIONS,
        load: load_bash,
    },
    // Single-file C, Nim and Rust sources: compiled on first use into the user's
    // cache, then loaded as native libraries.
    Kind {
        name: "C, Nim or Rust source",
        extensions: source::EXTENSIONS,
        load: load_source,
    },
    // Python (Prenacs) plugins: embedded CPython; worker processes for several jobs
    // or a time limit.
    Kind {
        name: "Python module",
        extensions: python::EXTENSIONS,
        load: load_python,
    },
    // WebAssembly modules: wasmtime, sandboxed, with memory and time limits.
    Kind {
        name: "WebAssembly module",
        extensions: wasm::EXTENSIONS,
        load: load_wasm,
    },
];

fn load_native(path: &Path, options: &LoadOptions) -> Result<Box<dyn Plugin>, PluginError> {
    native::refuse(path, "a native plugin", options)?;
    match native::open_with(path, options) {
        Ok(p) => Ok(Box::new(p)),
        // A compiled Prenacs plugin (Nim with nimpy, Rust with pyo3) is a CPython
        // extension module: it runs in the embedded Python.
        Err(_) if python::is_extension_module(path) => Ok(Box::new(python::load(path, options)?)),
        Err(e) => Err(e),
    }
}

fn load_bash(path: &Path, options: &LoadOptions) -> Result<Box<dyn Plugin>, PluginError> {
    Ok(Box::new(bash::load(path, options)?))
}

fn load_source(path: &Path, options: &LoadOptions) -> Result<Box<dyn Plugin>, PluginError> {
    Ok(Box::new(source::load(path, options)?))
}

fn load_python(path: &Path, options: &LoadOptions) -> Result<Box<dyn Plugin>, PluginError> {
    Ok(Box::new(python::load(path, options)?))
}

fn load_wasm(path: &Path, options: &LoadOptions) -> Result<Box<dyn Plugin>, PluginError> {
    Ok(Box::new(wasm::load(path, options)?))
}

/// The kind of a file, by its extension.
pub fn kind_of(path: &Path) -> Option<&'static Kind> {
    let ext = path.extension()?.to_str()?;
    KINDS.iter().find(|k| k.extensions.contains(&ext))
}

/// Loads a plugin file with the loader of its kind.
pub fn load(path: &Path, options: &LoadOptions) -> Result<Box<dyn Plugin>, PluginError> {
    match kind_of(path) {
        Some(kind) => (kind.load)(path, options),
        None => Err(PluginError::new(
            path,
            "unknown plugin kind: expected a native library (.so, .dylib), a Python module \
             (.py), a Bash script (.sh), a WebAssembly module (.wasm), or a C, Nim or Rust \
             source (.c, .nim, .rs)",
        )),
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
    path.is_file() && kind_of(path).is_some()
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
pub fn resolve(arg: &str, options: &LoadOptions) -> Result<Box<dyn Plugin>, crate::EngineError> {
    let path = Path::new(arg);
    // A bare name that is also a folder (`polyplug new` makes `./<name>/`) is an ID.
    let bare_folder = path.is_dir() && !arg.contains('/');
    if path.exists() && !bare_folder {
        if path.is_dir() {
            return Err(ResolveError::IsFolder { arg: arg.into() }.into());
        }
        return Ok(load(path, options)?);
    }
    if arg.contains('/') {
        return Err(ResolveError::NoSuchFile { arg: arg.into() }.into());
    }
    let dirs = plugin_dirs();
    let mut by_id = Vec::new();
    let mut by_stem = Vec::new();
    let mut known = Vec::new();
    for file in plugin_files(&dirs) {
        let Ok(plugin) = load(&file, options) else {
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
    let mut found = if by_id.is_empty() { by_stem } else { by_id };
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(ResolveError::NotFound {
            arg: arg.into(),
            searched: dirs.iter().map(|d| d.display().to_string()).collect(),
            known,
        }
        .into()),
        _ => Err(ResolveError::Ambiguous {
            arg: arg.into(),
            candidates: found
                .iter()
                .map(|p| {
                    format!(
                        "{} {} ({})",
                        p.meta().id,
                        p.meta().version,
                        p.path().display()
                    )
                })
                .collect(),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_extension_has_one_kind() {
        let mut seen = std::collections::HashSet::new();
        for k in KINDS {
            for e in k.extensions {
                assert!(seen.insert(*e), "extension {e} has two kinds");
            }
        }
        assert_eq!(
            kind_of(Path::new("a/b.wasm")).map(|k| k.name),
            Some("WebAssembly module")
        );
        assert!(kind_of(Path::new("notes.txt")).is_none());
        match load(Path::new("notes.txt"), &LoadOptions::default()) {
            Err(e) => assert!(e.message.starts_with("unknown plugin kind"), "{e}"),
            Ok(p) => panic!("loaded {}", p.meta().id),
        }
    }
}
