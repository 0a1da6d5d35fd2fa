//! The example plugins that exist in every language give the same rows: `id_stats`, the
//! benchmarks' trivial plugin (bench/run measures each kind on it), against an
//! independent computation here, and under Prenacs' conventions for Bash and Python.

use crate::wasm::wasm;
use polyplug_e2e::{plugin_lib, repo_root, Run, TestDir};
use std::path::PathBuf;

/// `id_stats` in every language: Rust, C, Nim (compiled on first use), Python, Bash,
/// WebAssembly from Rust and from C.
fn id_stats_everywhere() -> Vec<PathBuf> {
    let examples = repo_root().join("examples-plugins");
    vec![
        plugin_lib("id_stats"),
        plugin_lib("id_stats_c"),
        examples.join("nim/id_stats.nim"),
        examples.join("python/id_stats.py"),
        examples.join("bash/id_stats.sh"),
        wasm("id_stats_wasm"),
        wasm("id_stats_wasm_c"),
    ]
}

#[test]
fn id_stats_gives_the_same_rows_in_every_language() {
    let t = TestDir::new();
    // Upper and lower case G/C, other letters, digits, punctuation and UTF-8 (length
    // counts bytes in every language).
    let ids = [
        "ACGT",
        "gattaca",
        "GCgc_17",
        "id-0001",
        "NNNN",
        "x",
        "cafe\u{e9}",
        "CCCCCCCCCG",
    ];
    t.write("ids.txt", format!("{}\n", ids.join("\n")));
    let expected: String = ids
        .iter()
        .map(|id| {
            let gc = id.chars().filter(|c| "GCgc".contains(*c)).count();
            format!("{id}\t{}\t{gc}\n", id.len())
        })
        .collect();
    for plugin in id_stats_everywhere() {
        for jobs in ["1", "2"] {
            let r = Run::of(
                t.cmd()
                    .env("POLYPLUG_CACHE_DIR", t.join("cache"))
                    .arg("run")
                    .arg(&plugin)
                    .args(["ids", "ids.txt", "--no-store", "-j", jobs]),
            )
            .ok();
            assert_eq!(expected, r.stdout, "{} -j{jobs}", plugin.display());
        }
    }
}
