//! End-to-end tests: each drives the real `polyplug` binary on real plugins in a fresh
//! temporary folder. One test target, one module per topic.

mod native;
mod wasm;
