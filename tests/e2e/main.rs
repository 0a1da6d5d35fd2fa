//! End-to-end tests: each drives the real `polyplug` binary on real plugins in a fresh
//! temporary folder. One test target, one module per topic.

mod bash;
mod cluster;
mod examples;
mod experience;
mod files;
mod k8s;
mod log_dir;
mod merge_store;
mod native;
mod new;
mod new_more;
mod python;
mod records;
mod reliability;
mod runs_archive;
mod slurm;
mod slurm_errors;
mod slurm_submit;
mod source;
mod sql;
mod store;
mod wasm;
mod wasm_batch;
