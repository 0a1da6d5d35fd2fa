//! id_stats as WebAssembly: the trivial plugin of the benchmarks (length and GC count
//! of the ID), the same as `examples-plugins/rust/id_stats` with the guest crate
//! `polyplug_wasm`. `bench/wasm.sh` runs it next to the native one.
//!
//! Built by `examples-plugins/wasm/build.sh` into `id_stats_wasm.wasm`.

use polyplug_wasm::{export_plugin, Error, Output, Params, Plugin};

/// Stateless plugin.
pub struct IdStats;

impl Plugin for IdStats {
    const ID: &'static str = "id_stats_wasm";
    const VERSION: &'static str = "1.0";
    const INPUT: &'static str = "any ID";
    const OUTPUT: &'static [&'static str] = &["length", "gc_count"];
    const HAS_COMPUTE_ID: bool = true;

    fn initialize(_params: &Params) -> Result<Self, Error> {
        Ok(IdStats)
    }

    fn compute(&mut self, entity: &str, _params: &Params, out: &mut Output) -> Result<(), Error> {
        let gc = entity
            .bytes()
            .filter(|b| matches!(b, b'G' | b'C' | b'g' | b'c'))
            .count();
        out.push(entity.len()).push(gc);
        Ok(())
    }

    /// As an idsproc: the ID upper-cased, without a file extension.
    fn compute_id(unit: &str) -> Result<String, Error> {
        let name = unit.rsplit('/').next().unwrap_or(unit);
        let stem = name.split('.').next().unwrap_or(name);
        Ok(stem.to_uppercase())
    }
}

export_plugin!(IdStats);
