//! Compiles each C example plugin into a shared library next to the polyplug binary.
//!
//! The `cc` crate finds the C compiler (honouring `CC`) and its flags; the library is
//! linked with `-shared` and copied to `target/<profile>/lib<name>.so`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// C sources in this folder and the library each becomes.
const PLUGINS: &[(&str, &str)] = &[
    ("fas_stats.c", "libfas_stats_c.so"),
    ("id_stats.c", "libid_stats_c.so"),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    // OUT_DIR is target/<profile>/build/<pkg>-<hash>/out.
    let profile_dir = out_dir
        .ancestors()
        .nth(3)
        .expect("OUT_DIR layout")
        .to_path_buf();
    let include = manifest.join("../../plugin-sdk/c");
    println!(
        "cargo:rerun-if-changed={}",
        include.join("polyplug.h").display()
    );
    for (source, lib) in PLUGINS {
        let src = manifest.join(source);
        println!("cargo:rerun-if-changed={}", src.display());
        build_shared(&src, &include, &out_dir.join(lib));
        std::fs::copy(out_dir.join(lib), profile_dir.join(lib)).expect("copy the plugin library");
    }
}

fn build_shared(src: &Path, include: &Path, out: &Path) {
    let compiler = cc::Build::new().opt_level(2).get_compiler();
    let status = Command::new(compiler.path())
        .args(compiler.args())
        .args([
            "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror", "-std=c11",
        ])
        .arg("-I")
        .arg(include)
        .arg(src)
        .arg("-o")
        .arg(out)
        .status()
        .expect("run the C compiler");
    assert!(status.success(), "compiling {} failed", src.display());
}
