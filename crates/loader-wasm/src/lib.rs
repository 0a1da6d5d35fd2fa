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

[`load`] reads the file, checks it is a core module, compiles it (or loads it from the
on-disk cache), links the `polyplug` and WASI imports, checks the exported ABI version
and reads the metadata, and returns a [`WasmPlugin`]. Each worker's
[`polyplug_core::Instance`] is one wasmtime `Store` and instance made from the plugin's
`InstancePre`; instances come from a pooling allocator, and all share one `Engine`.

# The sandbox, and what a failure costs

Deny by default: no files, network, environment or clock (see the `sandbox` module for
the exact WASI surface). In `files` mode the entity's file is readable during its
compute, and [`WasmConfig::with_allow_dir`] grants folders. Every call runs with a
memory cap, a time limit (epoch interruption; [`DEFAULT_TIMEOUT`] unless the run sets
`--timeout`) and optional fuel. A trap, a timeout, fuel exhaustion or hitting the
memory cap fails *that entity*; the instance is dropped without finalize, and a fresh
one (initialize runs again) is made before the next entity, also within a batch: no
state of a failed call leaks into the next entity. Only when the fresh instance cannot
be made does the error carry `instance_lost`, so that the runner tries once more and
stops the run if that fails.

# The compile cache

Compiling a module with Cranelift takes from milliseconds to seconds, so compiled
modules are kept in `$POLYPLUG_CACHE_DIR/wasm` (else `$XDG_CACHE_HOME/polyplug/wasm`,
else `~/.cache/polyplug/wasm`), one file per module hash and engine configuration. The
cache holds machine code that polyplug runs: it must be as trusted as the polyplug
binary (it is in the user's own folder by default).

```no_run
use polyplug_core::{Params, Plugin};
use std::time::Duration;

let config = polyplug_loader_wasm::WasmConfig::new()
    .with_timeout(Some(Duration::from_secs(5)))
    .with_entity_files(true);
let plugin = polyplug_loader_wasm::load("fas_stats.wasm".as_ref(), &config).unwrap();
let mut instance = plugin.instantiate(&Params::empty()).unwrap();
let mut out = Default::default();
instance.compute("genome.fas", &mut out).unwrap();
```
*/
#![deny(missing_docs)]

mod engine;
mod host;
mod sandbox;

use host::{Host, MetaSink};
use polyplug_core::{
    EntityError, Instance, Outcome, Params, Plugin, PluginError, PluginMeta, RawMeta, Value,
};
use sandbox::{DirGrant, Exit, Sandbox};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::{Engine, ExternType, InstancePre, Linker, Module, Store, Trap, TypedFunc};

/// File extensions of WebAssembly plugins.
pub const EXTENSIONS: &[&str] = &["wasm"];

/// The guest ABI version this host implements (`polyplug_abi_version()` must return it).
pub const ABI_VERSION: u32 = 1;

/// Time limit of one call when the run sets none: a WebAssembly plugin does not run
/// forever unless the user grants it (with a larger `--timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Default memory cap of one instance, in MiB.
pub const DEFAULT_MEMORY_MIB: u64 = 512;

/// Largest memory cap: a wasm32 memory cannot exceed 4 GiB.
pub const MAX_MEMORY_MIB: u64 = 4096;

/// What a run allows a WebAssembly plugin: plain data, denying by default.
#[derive(Debug, Clone)]
pub struct WasmConfig {
    timeout: Option<Duration>,
    memory_mib: u64,
    fuel: Option<u64>,
    allow_dirs: Vec<(PathBuf, bool)>,
    entity_files: bool,
}

impl Default for WasmConfig {
    fn default() -> Self {
        WasmConfig::new()
    }
}

impl WasmConfig {
    /// No time limit, [`DEFAULT_MEMORY_MIB`], no fuel, no files.
    pub fn new() -> WasmConfig {
        WasmConfig {
            timeout: None,
            memory_mib: DEFAULT_MEMORY_MIB,
            fuel: None,
            allow_dirs: Vec::new(),
            entity_files: false,
        }
    }

    /// Time limit of each call (initialize, each compute, finalize); `None` means
    /// [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> WasmConfig {
        self.timeout = timeout;
        self
    }

    /// Memory cap of one instance, in MiB (1 to [`MAX_MEMORY_MIB`]).
    pub fn with_memory_mib(mut self, mib: u64) -> WasmConfig {
        self.memory_mib = mib;
        self
    }

    /// Fuel of each call: about one unit per WebAssembly instruction.
    pub fn with_fuel(mut self, fuel: Option<u64>) -> WasmConfig {
        self.fuel = fuel;
        self
    }

    /// Grants the folder `dir` and everything below it, read-only or read-write.
    pub fn with_allow_dir(mut self, dir: impl Into<PathBuf>, writable: bool) -> WasmConfig {
        self.allow_dirs.push((dir.into(), writable));
        self
    }

    /// Entities are files (`files` mode): each compute may read its entity's file.
    pub fn with_entity_files(mut self, yes: bool) -> WasmConfig {
        self.entity_files = yes;
        self
    }
}

/// Parses an `--allow-dir` argument: `DIR` (read-only), `DIR:ro` or `DIR:rw`.
pub fn parse_allow_dir(arg: &str) -> Result<(PathBuf, bool), String> {
    let (dir, writable) = match arg.rsplit_once(':') {
        Some((d, "rw")) => (d, true),
        Some((d, "ro")) => (d, false),
        _ => (arg, false),
    };
    if dir.is_empty() {
        return Err(format!(
            "--allow-dir {arg:?}: give a folder, optionally followed by :rw (read-write) or :ro"
        ));
    }
    Ok((PathBuf::from(dir), writable))
}

/// The checked settings instances are made with.
#[derive(Debug, Clone)]
struct Settings {
    timeout: Duration,
    /// The timeout is [`DEFAULT_TIMEOUT`], not one the user gave.
    default_timeout: bool,
    max_memory: u64,
    fuel: Option<u64>,
    dirs: Vec<DirGrant>,
    entity_files: bool,
}

impl Settings {
    fn check(config: &WasmConfig) -> Result<Settings, String> {
        if config.memory_mib == 0 || config.memory_mib > MAX_MEMORY_MIB {
            return Err(format!(
                "--wasm-memory {}: give a number of MiB from 1 to {MAX_MEMORY_MIB}",
                config.memory_mib
            ));
        }
        if config.fuel == Some(0) {
            return Err("--fuel 0: give a positive amount of fuel".into());
        }
        let mut dirs = Vec::new();
        for (dir, writable) in &config.allow_dirs {
            let canonical = std::fs::canonicalize(dir).map_err(|e| {
                format!(
                    "--allow-dir {}: {e}; give an existing folder",
                    dir.display()
                )
            })?;
            if !canonical.is_dir() {
                return Err(format!(
                    "--allow-dir {}: not a folder; grant the folder that holds the file",
                    dir.display()
                ));
            }
            dirs.push(DirGrant {
                path: canonical,
                writable: *writable,
            });
        }
        Ok(Settings {
            timeout: config.timeout.unwrap_or(DEFAULT_TIMEOUT),
            default_timeout: config.timeout.is_none(),
            max_memory: config.memory_mib << 20,
            fuel: config.fuel,
            dirs,
            entity_files: config.entity_files,
        })
    }

    /// Epoch ticks of one call.
    fn deadline_ticks(&self) -> u64 {
        (self.timeout.as_nanos() / engine::EPOCH_TICK.as_nanos()).min(1 << 60) as u64 + 1
    }

    fn memory_mib(&self) -> u64 {
        self.max_memory >> 20
    }
}

/// A plugin loaded from a `.wasm` module.
pub struct WasmPlugin {
    path: PathBuf,
    meta: PluginMeta,
    functions: Vec<&'static str>,
    engine: Engine,
    pre: InstancePre<Host>,
    settings: Settings,
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
    /// Whether the compiled module came from the on-disk cache (else it was compiled
    /// by this process).
    pub fn from_cache(&self) -> bool {
        self.cached
    }
}

/// The exports of the guest ABI.
const EXPORT_VERSION: &str = "polyplug_abi_version";
const EXPORT_DESCRIBE: &str = "polyplug_describe";
/// The functions a plugin may declare, and the export each needs.
const FUNCTIONS: &[(&str, &str)] = &[
    ("initialize", "polyplug_initialize"),
    ("compute", "polyplug_compute"),
    ("finalize", "polyplug_finalize"),
    ("compute_id", "polyplug_compute_id"),
];
/// The `polyplug` imports this host offers.
const HOST_IMPORTS: &[&str] = &[
    "push_null",
    "push_bool",
    "push_int",
    "push_float",
    "push_str",
    "begin_list",
    "end_list",
    "log",
    "error",
    "input_len",
    "input_read",
    "params_len",
    "params_read",
    "meta",
    "meta_param",
];

/// Loads the WebAssembly plugin at `path`.
///
/// Errors name the file and say what to do: not a WebAssembly module, a component
/// instead of a core module, a module that is not a polyplug plugin, an unsupported
/// ABI version, unknown imports, or metadata problems (all of them listed).
pub fn load(path: &Path, config: &WasmConfig) -> Result<WasmPlugin, PluginError> {
    let err = |m: String| PluginError::new(path, m);
    let settings = Settings::check(config).map_err(err)?;
    let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
    if bytes.len() < 8 || &bytes[0..4] != b"\0asm" {
        return Err(err(
            "not a WebAssembly module (it does not start with \\0asm); a .wasm plugin is a \
             core module built with plugin-sdk/wasm (see plugin-sdk/wasm/README.md)"
                .into(),
        ));
    }
    if bytes[4..8] != [1, 0, 0, 0] {
        return Err(err(
            "a WebAssembly component, not a core module; polyplug runs core modules: \
             build for wasm32-wasi (preview 1) or wasm32-unknown-unknown"
                .into(),
        ));
    }
    let engine = engine::engine(engine::EngineKey {
        fuel: settings.fuel.is_some(),
        max_memory: settings.max_memory,
    })
    .map_err(err)?;
    engine::start_ticker(&engine);
    let (module, origin) = engine::module(&engine, &bytes).map_err(err)?;
    check_shape(&module).map_err(err)?;
    let mut linker = Linker::new(&engine);
    host::add_to_linker(&mut linker)
        .and_then(|()| sandbox::add_to_linker(&mut linker, &module))
        .map_err(|e| err(format!("cannot link the host functions: {e}")))?;
    let pre = linker.instantiate_pre(&module).map_err(|e| {
        err(format!(
            "cannot link: {e}; the plugin imports a function polyplug does not offer with \
             that signature, rebuild it against this polyplug's plugin-sdk/wasm"
        ))
    })?;
    let mut live = start(
        &engine,
        &pre,
        &settings,
        Arc::from(host::encode_params(&[])),
    )
    .map_err(|e| err(format!("cannot start the module: {e}")))?;
    let version = live
        .store_call_version()
        .map_err(|e| err(format!("polyplug_abi_version() failed: {e}")))?;
    if version != ABI_VERSION as i32 {
        return Err(err(format!(
            "plugin WebAssembly ABI version {version}, this polyplug supports version \
             {ABI_VERSION}; rebuild the plugin against this polyplug's plugin-sdk/wasm \
             (or use the polyplug it was built for)"
        )));
    }
    let (meta, functions) = describe(&mut live, &settings).map_err(err)?;
    Ok(WasmPlugin {
        path: path.to_path_buf(),
        meta,
        functions,
        engine,
        pre,
        settings,
        cached: origin == engine::Origin::Cached,
        service: Mutex::new(Some(live)),
    })
}

/// Checks the exports and imports before anything runs.
fn check_shape(module: &Module) -> Result<(), String> {
    let func_export = |name: &str| -> Result<bool, String> {
        match module.get_export(name) {
            None => Ok(false),
            Some(ExternType::Func(ft)) => {
                if ft.params().len() == 0
                    && ft.results().len() == 1
                    && matches!(ft.results().next(), Some(wasmtime::ValType::I32))
                {
                    Ok(true)
                } else {
                    Err(format!(
                        "export {name} has type {ft}, the guest ABI needs `() -> i32`"
                    ))
                }
            }
            Some(_) => Err(format!("export {name} is not a function")),
        }
    };
    if !func_export(EXPORT_VERSION)? {
        return Err(format!(
            "exports no `{EXPORT_VERSION}` function: this module is not a polyplug plugin; \
             build it with plugin-sdk/wasm (C: #include \"polyplug_wasm.h\"; Rust: \
             polyplug_wasm::export_plugin!)"
        ));
    }
    if !func_export(EXPORT_DESCRIBE)? {
        return Err(format!(
            "exports no `{EXPORT_DESCRIBE}` function; rebuild the plugin with plugin-sdk/wasm"
        ));
    }
    for (_, export) in FUNCTIONS {
        func_export(export)?;
    }
    match module.get_export("memory") {
        Some(ExternType::Memory(_)) => {}
        _ => {
            return Err(
                "exports no `memory`; the guest ABI needs the linear memory exported as \
                 `memory` (the default of clang and rustc)"
                    .into(),
            )
        }
    }
    for import in module.imports() {
        match import.module() {
            host::IMPORT_MODULE if HOST_IMPORTS.contains(&import.name()) => {}
            host::IMPORT_MODULE => {
                return Err(format!(
                    "imports polyplug::{}, which this polyplug does not offer; the plugin \
                     needs a newer polyplug",
                    import.name()
                ))
            }
            sandbox::WASI_MODULE => {}
            other => {
                return Err(format!(
                    "imports {other}::{}, which polyplug does not provide: a plugin may \
                     import only from `polyplug` and `wasi_snapshot_preview1`; check that \
                     every function it calls is defined (link without --allow-undefined)",
                    import.name()
                ))
            }
        }
    }
    Ok(())
}

/// A running instance: its store and the guest functions.
struct Live {
    store: Store<Host>,
    version: TypedFunc<(), i32>,
    describe: TypedFunc<(), i32>,
    initialize: Option<TypedFunc<(), i32>>,
    compute: Option<TypedFunc<(), i32>>,
    finalize: Option<TypedFunc<(), i32>>,
    compute_id: Option<TypedFunc<(), i32>>,
}

/// The guest functions polyplug calls.
#[derive(Debug, Clone, Copy)]
enum Export {
    Describe,
    Initialize,
    Compute,
    Finalize,
    ComputeId,
}

/// Why a call failed.
struct CallError {
    message: String,
    logs: Vec<String>,
    /// The instance cannot be used again (trap, timeout, memory cap).
    lost: bool,
}

impl Live {
    fn store_call_version(&mut self) -> Result<i32, String> {
        self.store.set_epoch_deadline(1 << 60);
        let f = self.version.clone();
        f.call(&mut self.store, ()).map_err(|e| e.to_string())
    }

    /// Calls the export `which` under the limits of `settings`, and turns its outcome
    /// into the pushed values and logs, or an error. (The function is borrowed, not
    /// cloned: a clone per entity was a measurable share of a trivial plugin's time.)
    fn call(&mut self, which: Export, settings: &Settings) -> Result<(), CallError> {
        let f = match which {
            Export::Describe => Some(&self.describe),
            Export::Initialize => self.initialize.as_ref(),
            Export::Compute => self.compute.as_ref(),
            Export::Finalize => self.finalize.as_ref(),
            Export::ComputeId => self.compute_id.as_ref(),
        };
        let Some(f) = f else {
            return Err(CallError {
                message: format!("the plugin does not export {which:?}"),
                logs: Vec::new(),
                lost: false,
            });
        };
        self.store.set_epoch_deadline(settings.deadline_ticks());
        if let Some(fuel) = settings.fuel {
            // Fuel is enabled in the engine whenever `settings.fuel` is set.
            let _ = self.store.set_fuel(fuel);
        }
        self.store.data_mut().limits.hit = false;
        let result = f.call(&mut self.store, ());
        let host = self.store.data_mut();
        let memory_hit = host.limits.hit;
        let memory_note = || {
            format!(
                "the plugin reached its memory limit of {} MiB (raise it with --wasm-memory \
                 MIB)",
                settings.memory_mib()
            )
        };
        match result {
            Ok(status) => {
                let failure = host.sink.failure(status);
                match (failure, memory_hit) {
                    (None, false) => Ok(()),
                    (Some(m), false) => Err(CallError {
                        message: m,
                        logs: std::mem::take(&mut host.sink.logs),
                        lost: false,
                    }),
                    (m, true) => Err(CallError {
                        message: match m {
                            Some(m) => format!("{m}; {}", memory_note()),
                            None => memory_note(),
                        },
                        logs: std::mem::take(&mut host.sink.logs),
                        lost: true,
                    }),
                }
            }
            Err(e) => {
                let message = if memory_hit {
                    memory_note()
                } else if let Some(exit) = e.downcast_ref::<Exit>() {
                    exit.to_string()
                } else {
                    match e.downcast_ref::<Trap>() {
                        Some(Trap::Interrupt) if settings.default_timeout => format!(
                            "timed out after {} s, the default time limit of a WebAssembly \
                             call; give more with --timeout SECONDS",
                            settings.timeout.as_secs_f64()
                        ),
                        Some(Trap::Interrupt) => format!(
                            "timed out after {} s (--timeout)",
                            settings.timeout.as_secs_f64()
                        ),
                        Some(Trap::OutOfFuel) => format!(
                            "ran out of fuel after {} units (--fuel)",
                            settings.fuel.unwrap_or(0)
                        ),
                        Some(Trap::StackOverflow) => {
                            "stack overflow (deep recursion?) in the plugin".into()
                        }
                        Some(trap) => {
                            let t = trap.to_string();
                            let t = t.strip_prefix("wasm trap: ").unwrap_or(&t);
                            format!("the plugin trapped: {t}")
                        }
                        None => format!("the plugin failed: {e}"),
                    }
                };
                // A message set before the trap (a Rust panic's, through the SDK's hook).
                let message = match host.sink.error.take() {
                    Some(m) => format!("{m} ({message})"),
                    None => message,
                };
                Err(CallError {
                    message,
                    logs: std::mem::take(&mut host.sink.logs),
                    lost: true,
                })
            }
        }
    }
}

/// Instantiates the module in a fresh store and runs the WASI reactor constructor.
fn start(
    engine: &Engine,
    pre: &InstancePre<Host>,
    s: &Settings,
    params: Arc<[u8]>,
) -> Result<Live, String> {
    let mut store = Store::new(
        engine,
        Host::new(params, Sandbox::new(s.dirs.clone()), s.max_memory),
    );
    store.limiter(|h| &mut h.limits);
    store.set_epoch_deadline(s.deadline_ticks());
    if let Some(fuel) = s.fuel {
        let _ = store.set_fuel(fuel);
    }
    let instance = match pre.instantiate(&mut store) {
        Ok(i) => i,
        Err(e) if store.data().limits.hit => {
            return Err(format!(
                "its initial memory is larger than the memory limit of {} MiB; raise it \
                     with --wasm-memory MIB ({e})",
                s.memory_mib()
            ))
        }
        Err(e) => return Err(e.to_string()),
    };
    let memory = instance
        .get_memory(&mut store, "memory")
        .ok_or("exports no `memory`")?;
    store.data_mut().memory = Some(memory);
    if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
        init.call(&mut store, ())
            .map_err(|e| format!("its WASI constructor (_initialize) failed: {e}"))?;
    }
    let mut get = |name: &str| instance.get_typed_func::<(), i32>(&mut store, name).ok();
    let version = get(EXPORT_VERSION).ok_or("no polyplug_abi_version")?;
    let describe = get(EXPORT_DESCRIBE).ok_or("no polyplug_describe")?;
    let initialize = get("polyplug_initialize");
    let compute = get("polyplug_compute");
    let finalize = get("polyplug_finalize");
    let compute_id = get("polyplug_compute_id");
    Ok(Live {
        store,
        version,
        describe,
        initialize,
        compute,
        finalize,
        compute_id,
    })
}

/// Runs `polyplug_describe` and validates what it declared.
fn describe(
    live: &mut Live,
    settings: &Settings,
) -> Result<(PluginMeta, Vec<&'static str>), String> {
    live.store.data_mut().meta = Some(MetaSink::default());
    let called = live.call(Export::Describe, settings);
    let collected = live.store.data_mut().meta.take().unwrap_or_default();
    if let Err(e) = called {
        return Err(format!("polyplug_describe failed: {}", e.message));
    }
    let MetaSink {
        fields,
        output,
        params,
        functions,
        mut problems,
    } = collected;
    let mut raw = RawMeta::default();
    const KEYS: &[&str] = &[
        "ID",
        "VERSION",
        "INPUT",
        "METHOD",
        "IMPLEMENTATION",
        "REQ_SOFTWARE",
        "REQ_HARDWARE",
        "ADVICE",
    ];
    for (k, v) in fields {
        if KEYS.contains(&k.as_str()) {
            raw.set(&k, Value::Str(v));
        } else {
            problems.push(format!(
                "unknown metadata key {k:?}; known keys: {}, OUTPUT, FUNCTION",
                KEYS.join(", ")
            ));
        }
    }
    if !output.is_empty() {
        raw.set(
            "OUTPUT",
            Value::List(output.into_iter().map(Value::Str).collect()),
        );
    }
    if !params.is_empty() {
        raw.set(
            "PARAMETERS",
            Value::List(
                params
                    .into_iter()
                    .map(|p| Value::List(p.into_iter().map(Value::Str).collect()))
                    .collect(),
            ),
        );
    }
    let mut declared = Vec::new();
    for f in functions {
        match FUNCTIONS.iter().find(|(name, _)| *name == f) {
            Some((name, export)) => {
                let present = match *name {
                    "initialize" => live.initialize.is_some(),
                    "compute" => live.compute.is_some(),
                    "finalize" => live.finalize.is_some(),
                    _ => live.compute_id.is_some(),
                };
                if !present {
                    problems.push(format!(
                        "declares the function {name} but does not export {export}"
                    ));
                } else if !declared.contains(name) {
                    declared.push(*name);
                }
            }
            None => problems.push(format!(
                "declares an unknown function {f:?} (known: initialize, compute, \
                     finalize, compute_id)"
            )),
        }
    }
    if !declared.contains(&"compute") && !declared.contains(&"compute_id") {
        problems.push("declares neither compute nor compute_id".into());
    }
    let validated = PluginMeta::validate(&raw);
    if let Err(more) = validated.as_ref() {
        problems.extend(more.0.iter().cloned());
    }
    match validated {
        Ok(meta) if problems.is_empty() => Ok((meta, declared)),
        _ => Err(format!("bad metadata:\n  - {}", problems.join("\n  - "))),
    }
}

impl WasmPlugin {
    fn start(&self, params: Arc<[u8]>) -> Result<Live, String> {
        start(&self.engine, &self.pre, &self.settings, params)
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

    fn instantiate(&self, params: &Params) -> Result<Box<dyn Instance>, PluginError> {
        let factory = Factory {
            engine: self.engine.clone(),
            pre: self.pre.clone(),
            settings: self.settings.clone(),
            params: Arc::from(host::encode_params(params.entries())),
            initialize: self.functions.contains(&"initialize"),
            path: self.path.clone(),
        };
        let live = factory
            .make()
            .map_err(|e| PluginError::new(&self.path, e))?;
        Ok(Box::new(WasmInstance {
            live: Some(live),
            run_finalize: self.functions.contains(&"finalize"),
            factory,
        }))
    }

    fn has_compute_id(&self) -> bool {
        self.functions.contains(&"compute_id")
    }

    fn compute_id(&self, unit: &str) -> Result<String, EntityError> {
        let mut guard = self.service.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let live = self
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
        if let Err(e) = live.call(Export::ComputeId, &self.settings) {
            if e.lost {
                *guard = None;
            }
            return Err(EntityError {
                message: e.message,
                logs: e.logs,
                instance_lost: false,
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

/// What it takes to make (and re-make) one worker's instance.
struct Factory {
    engine: Engine,
    pre: InstancePre<Host>,
    settings: Settings,
    params: Arc<[u8]>,
    initialize: bool,
    path: PathBuf,
}

impl Factory {
    /// A fresh instance, initialized.
    fn make(&self) -> Result<Live, String> {
        let mut live = start(&self.engine, &self.pre, &self.settings, self.params.clone())
            .map_err(|e| format!("cannot start the module: {e}"))?;
        if self.initialize && live.initialize.is_some() {
            live.store.data_mut().sink.reset();
            live.call(Export::Initialize, &self.settings)
                .map_err(|e| format!("initialize failed: {}", e.message))?;
        }
        Ok(live)
    }
}

/// One worker's instance. After a trap, a timeout or the memory cap, the instance is
/// dropped and a fresh one (initialized again) is made before the next entity, so the
/// failure costs that entity only, also within a batch.
struct WasmInstance {
    /// `None` after a failure, until the next compute re-creates it.
    live: Option<Live>,
    factory: Factory,
    run_finalize: bool,
}

impl Instance for WasmInstance {
    fn compute(&mut self, entity: &str, out: &mut Outcome) -> Result<(), EntityError> {
        let settings = &self.factory.settings;
        if self.live.is_none() {
            match self.factory.make() {
                Ok(l) => self.live = Some(l),
                Err(e) => {
                    // The runner will try once more with a new instance, and stop the
                    // run if that fails too.
                    return Err(EntityError {
                        message: format!("cannot re-create the plugin instance: {e}"),
                        logs: Vec::new(),
                        instance_lost: true,
                    });
                }
            }
        }
        let Some(live) = self.live.as_mut() else {
            return Err(EntityError::new("no plugin instance"));
        };
        if live.compute.is_none() {
            return Err(EntityError::new("the plugin has no compute function"));
        }
        {
            let host = live.store.data_mut();
            host.sink.reset();
            host.input.clear();
            host.input.extend_from_slice(entity.as_bytes());
            if settings.entity_files {
                host.sandbox.grant_entity(entity);
            }
        }
        let result = live.call(Export::Compute, settings);
        let host = live.store.data_mut();
        if settings.entity_files {
            host.sandbox.revoke_entity();
        }
        match result {
            Ok(()) => {
                std::mem::swap(&mut out.values, &mut host.sink.values);
                std::mem::swap(&mut out.logs, &mut host.sink.logs);
                Ok(())
            }
            Err(e) => {
                if e.lost {
                    // Nothing of the failed instance is reused: no finalize, no state.
                    self.live = None;
                }
                Err(EntityError {
                    message: e.message,
                    logs: e.logs,
                    instance_lost: false,
                })
            }
        }
    }

    fn finalize(mut self: Box<Self>) -> Result<Vec<String>, PluginError> {
        let settings = self.factory.settings.clone();
        let path = self.factory.path.clone();
        let Some(live) = self.live.as_mut() else {
            return Ok(Vec::new());
        };
        if !self.run_finalize {
            return Ok(Vec::new());
        }
        if live.finalize.is_none() {
            return Ok(Vec::new());
        }
        live.store.data_mut().sink.reset();
        match live.call(Export::Finalize, &settings) {
            Ok(()) => Ok(std::mem::take(&mut live.store.data_mut().sink.logs)),
            Err(e) => Err(PluginError::new(
                path,
                format!("finalize failed: {}", e.message),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_dir_arguments() {
        assert_eq!(
            parse_allow_dir("data").unwrap(),
            (PathBuf::from("data"), false)
        );
        assert_eq!(
            parse_allow_dir("out:rw").unwrap(),
            (PathBuf::from("out"), true)
        );
        assert_eq!(
            parse_allow_dir("in:ro").unwrap(),
            (PathBuf::from("in"), false)
        );
        assert_eq!(
            parse_allow_dir("a:b").unwrap(),
            (PathBuf::from("a:b"), false)
        );
        assert!(parse_allow_dir(":rw").is_err());
    }
}
