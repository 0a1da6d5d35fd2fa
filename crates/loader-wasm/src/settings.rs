//! Which options a WebAssembly plugin accepts, and the checked settings its instances
//! are made with: the one place that reads [`LoadOptions`] for this loader.

use crate::engine;
use polyplug_core::{Console, DirGrant, LoadOption, LoadOptions};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The options a WebAssembly plugin honours: all of them. Every call has a time limit
/// ([`DEFAULT_TIMEOUT`] unless given, none with `--timeout none`), a memory cap ([`DEFAULT_MEMORY_MIB`] unless
/// given) and optional fuel; folders are granted one by one.
pub const SUPPORTED: &[LoadOption] = &[
    LoadOption::Timeout,
    LoadOption::AllowDir,
    LoadOption::WasmMemory,
    LoadOption::Fuel,
    LoadOption::MaxMemory,
    LoadOption::LogDir,
];

pub use polyplug_core::DEFAULT_TIMEOUT;

/// Default memory cap of one instance, in MiB.
pub const DEFAULT_MEMORY_MIB: u64 = 512;

/// Largest memory cap: a wasm32 memory cannot exceed 4 GiB.
pub const MAX_MEMORY_MIB: u64 = 4096;

/// The checked settings instances are made with.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) timeout: Duration,
    /// The timeout is [`DEFAULT_TIMEOUT`], not one the user gave.
    pub(crate) default_timeout: bool,
    pub(crate) max_memory: u64,
    /// The flag that set `max_memory` (`--wasm-memory`, or `--max-memory`).
    pub(crate) memory_flag: &'static str,
    pub(crate) fuel: Option<u64>,
    /// Granted folders, canonical.
    pub(crate) dirs: Vec<DirGrant>,
    pub(crate) entity_files: bool,
    /// Where compiled modules are cached (`<cache root>/wasm`), if anywhere.
    pub(crate) cache: Option<PathBuf>,
    /// Where guest output and notes go.
    pub(crate) console: Arc<dyn Console>,
    /// Traps with the guest's backtrace (`--only`).
    pub(crate) debug: bool,
    /// Each compute's output goes to the entity's files here (`--log-dir`).
    pub(crate) log_dir: Option<PathBuf>,
}

impl Settings {
    /// Checks the options: a memory cap from 1 to [`MAX_MEMORY_MIB`], positive fuel,
    /// granted folders that exist.
    pub(crate) fn check(options: &LoadOptions) -> Result<Settings, String> {
        let memory_mib = options.wasm_memory_mib.unwrap_or(DEFAULT_MEMORY_MIB);
        if memory_mib == 0 || memory_mib > MAX_MEMORY_MIB {
            return Err(format!(
                "{} {memory_mib}: give a number of MiB from 1 to {MAX_MEMORY_MIB}",
                LoadOption::WasmMemory.flag()
            ));
        }
        if options.fuel == Some(0) {
            return Err(format!(
                "{} 0: give a positive amount of fuel",
                LoadOption::Fuel.flag()
            ));
        }
        let flag = LoadOption::AllowDir.flag();
        let mut dirs = Vec::new();
        for grant in &options.allow_dirs {
            let dir = &grant.path;
            let canonical = std::fs::canonicalize(dir)
                .map_err(|e| format!("{flag} {}: {e}; give an existing folder", dir.display()))?;
            if !canonical.is_dir() {
                return Err(format!(
                    "{flag} {}: not a folder; grant the folder that holds the file",
                    dir.display()
                ));
            }
            dirs.push(DirGrant {
                path: canonical,
                writable: grant.writable,
            });
        }
        // `--max-memory` caps an instance too (within what wasm32 can address); the
        // smaller of the two caps holds, and its flag is the one to raise.
        let memory = match options.max_memory_mib.map(|m| m.clamp(1, MAX_MEMORY_MIB)) {
            Some(m) if options.wasm_memory_mib.is_none_or(|w| m < w) => {
                (m, LoadOption::MaxMemory.flag())
            }
            _ => (memory_mib, LoadOption::WasmMemory.flag()),
        };
        Ok(Settings {
            // `--timeout none`: a limit no run reaches (epochs need one).
            timeout: options
                .timeout
                .limit()
                .unwrap_or(Duration::from_secs(u32::MAX.into())),
            default_timeout: options.timeout.is_default(),
            max_memory: memory.0 << 20,
            memory_flag: memory.1,
            fuel: options.fuel,
            dirs,
            entity_files: options.entity_files,
            cache: options.cache_root().ok().map(|r| r.path.join("wasm")),
            console: options.console.clone(),
            debug: options.debug,
            log_dir: options.log_dir.clone(),
        })
    }

    /// Epoch ticks of one call.
    pub(crate) fn deadline_ticks(&self) -> u64 {
        (self.timeout.as_nanos() / engine::EPOCH_TICK.as_nanos()).min(1 << 60) as u64 + 1
    }

    /// The memory cap in MiB.
    pub(crate) fn memory_mib(&self) -> u64 {
        self.max_memory >> 20
    }
}
