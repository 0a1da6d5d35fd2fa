//! Empty on purpose: this package exists so that `cargo build` compiles the C example
//! plugins (see `build.rs`), which land next to the polyplug binary as
//! `target/<profile>/libfas_stats_c.so` and `libid_stats_c.so`.
