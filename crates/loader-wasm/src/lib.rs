/*!
Runs WebAssembly polyplug plugins in a wasmtime sandbox.

A `.wasm` plugin is a *core* WebAssembly module (no component model) built with the
guest SDK in `plugin-sdk/wasm/` (C with `polyplug_wasm.h`, Rust with the
`polyplug_wasm` crate, or any language that follows `plugin-sdk/wasm/ABI.md`). It is
the native ABI of `polyplug-abi` carried over to a sandbox: the module exports
`polyplug_abi_version`, `polyplug_describe`, `polyplug_initialize`, `polyplug_compute`,
`polyplug_finalize` (and optionally `polyplug_compute_id`), and pushes its typed
results, logs and errors through host imports of the `polyplug` module.

# How it fits together

[`load`] (module `load`) reads the file, checks it is a core module, compiles it (or
loads it from the on-disk cache, module `engine`), links the `polyplug` imports
(module `host`) and the WASI ones (module `wasi`, over the `sandbox` of each
instance), checks the exported ABI version and reads the metadata, and returns a
[`WasmPlugin`]. Which options it accepts and how they are checked is module
`settings` ([`SUPPORTED`]). Each worker's [`polyplug_core::Instance`] (module
`instance`) is one wasmtime `Store` and instance (module `live`, with the one way calls
are made and their failures named) made from the plugin's `InstancePre`; instances come
from a pooling allocator, and all share one `Engine`. Guest memory is read and written
only through module `mem`, which checks every pointer.

# The sandbox, and what a failure costs

Deny by default: no files, network, environment or clock (see the `sandbox` module for
the exact WASI surface). In `files` mode the entity's file is readable during its
compute, and [`LoadOptions::allow_dirs`] grants folders. Every call runs with a
memory cap, a time limit (epoch interruption; [`DEFAULT_TIMEOUT`] unless the run sets
`--timeout`) and optional fuel. A trap, a timeout, fuel exhaustion or hitting the
memory cap fails *that entity*; the instance is dropped without finalize, and a fresh
one (initialize runs again) is made before the next entity, also within a batch: no
state of a failed call leaks into the next entity. Only when the fresh instance cannot
be made does the error carry `instance_lost`, so that the runner tries once more and
stops the run if that fails.

# The compile cache

Compiling a module with Cranelift takes from milliseconds to seconds, so compiled
modules are kept in `<cache root>/wasm` (the root is `$POLYPLUG_CACHE_DIR`, see
[`polyplug_core::CacheRoot`]), one file per module hash and engine configuration. The
cache holds machine code that polyplug runs: it must be as trusted as the polyplug
binary (it is in the user's own folder by default).

```no_run
use polyplug_core::{LoadOptions, OutputSpec, Params, Plugin, Timeout};
use std::time::Duration;

let options = LoadOptions {
    timeout: Timeout::Given(Duration::from_secs(5)),
    entity_files: true,
    ..LoadOptions::default()
};
let plugin = polyplug_loader_wasm::load("fas_stats.wasm".as_ref(), &options).unwrap();
let spec = OutputSpec::untyped(&plugin.meta().output);
let mut instance = plugin.instantiate(&Params::empty(), &spec).unwrap();
let mut out = Default::default();
instance.compute("genome.fas", &mut out).unwrap();
```
*/
#![deny(missing_docs)]

mod engine;
mod host;
mod instance;
mod live;
mod load;
mod mem;
mod sandbox;
mod settings;
mod state;
mod wasi;

use instance::Factory;
use live::{Export, Live};
use polyplug_core::{
    EntityError, Instance, OutputSpec, Params, Plugin, PluginError, PluginMeta, Value,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use load::load;
pub use settings::{DEFAULT_MEMORY_MIB, DEFAULT_TIMEOUT, MAX_MEMORY_MIB, SUPPORTED};

/// File extensions of WebAssembly plugins.
pub const EXTENSIONS: &[&str] = &["wasm"];

/// The guest ABI version this host implements (`polyplug_abi_version()` must return it).
pub const ABI_VERSION: u32 = 1;

/// A plugin loaded from a `.wasm` module.
pub struct WasmPlugin {
    path: PathBuf,
    meta: PluginMeta,
    functions: Vec<&'static str>,
    factory: Factory,
    cached: bool,
    /// The instance that answered `describe`, kept for `compute_id`.
    service: Mutex<Option<Live>>,
}

impl std::fmt::Debug for WasmPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WasmPlugin({})", self.path.display())
    }
}

impl WasmPlugin {
    fn new(
        path: &Path,
        meta: PluginMeta,
        functions: Vec<&'static str>,
        factory: Factory,
        cached: bool,
        service: Live,
    ) -> WasmPlugin {
        WasmPlugin {
            path: path.to_path_buf(),
            meta,
            functions,
            factory,
            cached,
            service: Mutex::new(Some(service)),
        }
    }

    /// Whether the compiled module came from the on-disk cache (else it was compiled
    /// by this process).
    pub fn from_cache(&self) -> bool {
        self.cached
    }
}

impl Plugin for WasmPlugin {
    fn meta(&self) -> &PluginMeta {
        &self.meta
    }

    fn language(&self) -> &str {
        "wasm"
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn has_compute(&self) -> bool {
        self.functions.contains(&"compute")
    }

    fn functions(&self) -> Vec<&'static str> {
        self.functions.clone()
    }

    fn instantiate(
        &self,
        params: &Params,
        _spec: &OutputSpec,
    ) -> Result<Box<dyn Instance>, PluginError> {
        Ok(Box::new(self.factory.instance(params, &self.functions)?))
    }

    fn has_compute_id(&self) -> bool {
        self.functions.contains(&"compute_id")
    }

    fn compute_id(&self, unit: &str) -> Result<String, EntityError> {
        let mut guard = self.service.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let live = self
                .factory
                .start(Arc::from(host::encode_params(&[])))
                .map_err(|e| EntityError::new(format!("cannot start the module: {e}")))?;
            *guard = Some(live);
        }
        let Some(live) = guard.as_mut() else {
            return Err(EntityError::new("no instance"));
        };
        if live.compute_id.is_none() {
            return Err(EntityError::new("the plugin has no compute_id function"));
        }
        {
            let host = live.store.data_mut();
            host.sink.reset();
            host.input.clear();
            host.input.extend_from_slice(unit.as_bytes());
        }
        if let Err(e) = live.call(Export::ComputeId, &self.factory.settings) {
            if e.lost {
                *guard = None;
            }
            return Err(EntityError {
                message: e.message,
                logs: e.logs,
                instance_lost: false,
                out_of_memory: false,
            });
        }
        match live.store.data().sink.values.as_slice() {
            [Value::Str(s)] => Ok(s.clone()),
            other => Err(EntityError::new(format!(
                "compute_id must push exactly one string, it pushed {} value(s)",
                other.len()
            ))),
        }
    }
}
