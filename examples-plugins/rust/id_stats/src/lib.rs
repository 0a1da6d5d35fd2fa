//! id_stats: the trivial plugin of the benchmarks: length and GC count of the ID.
//!
//! Its work is as small as a compute can be, so that a benchmark measures what the
//! host costs per entity. [`stats`] is public so the benchmark's direct loop runs the
//! very same function without the host.

use polyplug_sdk::{export_plugin, Error, Output, Params, Plugin};

/// Stateless plugin.
pub struct IdStats;

/// Length of the ID and number of G/C characters in it (case-insensitive).
pub fn stats(id: &str) -> (usize, usize) {
    let gc = id
        .bytes()
        .filter(|b| matches!(b, b'G' | b'C' | b'g' | b'c'))
        .count();
    (id.len(), gc)
}

impl Plugin for IdStats {
    const ID: &'static str = "id_stats";
    const VERSION: &'static str = "1.0";
    const INPUT: &'static str = "any ID";
    const OUTPUT: &'static [&'static str] = &["length", "gc_count"];
    const HAS_COMPUTE_ID: bool = true;

    fn initialize(_params: &Params) -> Result<Self, Error> {
        Ok(IdStats)
    }

    fn compute(&mut self, entity: &str, _params: &Params, out: &mut Output) -> Result<(), Error> {
        let (len, gc) = stats(entity);
        out.push(len).push(gc);
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
