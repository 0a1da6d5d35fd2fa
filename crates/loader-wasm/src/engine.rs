//! The process-wide wasmtime [`Engine`], its epoch ticker, and the on-disk cache of
//! compiled modules.
//!
//! There is one engine per engine configuration, and a run has one configuration, so
//! in practice one engine per process. The only setting that changes the machine code
//! is fuel metering; the memory cap is applied per store (and bounds the pooling
//! allocator's slots, which does not change the code).

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Mutex, Once, OnceLock};
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Module, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of `--timeout`.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How many instances the pooling allocator can hold at once: workers, the plugin's
/// service instance and re-created instances (wasmtime's default). Each slot only
/// reserves address space.
const POOL_SLOTS: u32 = 1000;

/// What selects an engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EngineKey {
    /// Fuel metering on (`--fuel`).
    pub fuel: bool,
    /// Largest linear memory, in bytes.
    pub max_memory: u64,
    /// Traps carry a backtrace of the guest's frames (`--only`).
    pub backtrace: bool,
}

static ENGINES: OnceLock<Mutex<Vec<(EngineKey, Engine)>>> = OnceLock::new();

/// The engine for `key`, created on first use.
pub(crate) fn engine(key: EngineKey) -> Result<Engine, String> {
    let engines = ENGINES.get_or_init(|| Mutex::new(Vec::new()));
    let mut engines = engines.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, e)) = engines.iter().find(|(k, _)| *k == key) {
        return Ok(e.clone());
    }
    let engine = match Engine::new(&config(key, true)) {
        Ok(e) => e,
        // The pooling allocator reserves address space up front; where that is not
        // allowed (a low `ulimit -v`), allocate on demand instead.
        Err(_) => Engine::new(&config(key, false))
            .map_err(|e| format!("cannot set up the WebAssembly engine: {e}"))?,
    };
    engines.push((key, engine.clone()));
    Ok(engine)
}

fn config(key: EngineKey, pooling: bool) -> Config {
    let mut c = Config::new();
    c.epoch_interruption(true);
    c.consume_fuel(key.fuel);
    c.wasm_backtrace_max_frames(if key.backtrace {
        std::num::NonZeroUsize::new(64)
    } else {
        None
    });
    c.cranelift_opt_level(wasmtime::OptLevel::Speed);
    if pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(POOL_SLOTS)
            .total_memories(POOL_SLOTS)
            .total_tables(POOL_SLOTS)
            .max_memories_per_module(1)
            .table_elements(1 << 16)
            .max_memory_size(key.max_memory as usize);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    c
}

static TICKER: Once = Once::new();

/// Starts the thread that advances the epoch of `engine` every [`EPOCH_TICK`], which
/// the time limits of calls count in. It runs until the process exits. Without the
/// thread a timeout never fires: the first caller gets the error, to say so rather
/// than hang silently.
pub(crate) fn start_ticker(engine: &Engine) -> std::io::Result<()> {
    let mut result = Ok(());
    TICKER.call_once(|| {
        let engine = engine.clone();
        result = std::thread::Builder::new()
            .name("polyplug-wasm-epoch".into())
            .spawn(move || loop {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            })
            .map(drop);
    });
    result
}

/// The cache file name of `bytes` compiled by `engine`: the module's sha256 and a hash
/// of everything in the engine that changes the compiled code (wasmtime version,
/// target, compiler settings, fuel).
pub(crate) fn cache_key(engine: &Engine, bytes: &[u8]) -> String {
    let module = Sha256::digest(bytes);
    // DefaultHasher::new() uses fixed keys: the same engine gives the same hash in
    // every process of this polyplug build.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    env!("CARGO_PKG_VERSION").hash(&mut h);
    let hex: String = module.iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}-{:016x}.cwasm", h.finish())
}

/// Where a module came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Compiled now (and stored in the cache when it is writable).
    Compiled,
    /// Loaded from the cache.
    Cached,
}

/// Compiles `bytes`, or loads the compiled module from the cache folder `dir`.
pub(crate) fn module(
    engine: &Engine,
    bytes: &[u8],
    dir: Option<&Path>,
) -> Result<(Module, Origin), String> {
    let file = dir.map(|d| d.join(cache_key(engine, bytes)));
    if let Some(file) = &file {
        if file.is_file() {
            // SAFETY: `deserialize_file` runs what the file holds as machine code. The
            // file is one polyplug wrote with `Module::serialize` into the user's own
            // cache folder (trusted as much as the polyplug binary, see the crate
            // docs); wasmtime checks its header against this engine and refuses
            // files from another version or configuration, which we then recompile.
            if let Ok(m) = unsafe { Module::deserialize_file(engine, file) } {
                return Ok((m, Origin::Cached));
            }
        }
    }
    let module = Module::new(engine, bytes).map_err(|e| {
        let msg = e.to_string();
        format!("invalid WebAssembly module: {msg}; rebuild it with a wasm32 compiler (see plugin-sdk/wasm/README.md)")
    })?;
    if let (Some(dir), Some(file)) = (dir, &file) {
        store(dir, file, &module);
    }
    Ok((module, Origin::Compiled))
}

/// Writes the compiled module atomically (temporary file, then rename). A cache that
/// cannot be written only costs a recompilation next time, so errors are ignored.
fn store(dir: &Path, file: &Path, module: &Module) {
    let Ok(bytes) = module.serialize() else {
        return;
    };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("module"),
        std::process::id()
    ));
    if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, file).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}
