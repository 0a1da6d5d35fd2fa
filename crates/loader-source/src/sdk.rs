//! The plugin SDKs, embedded in the binary and written into the cache when a compiler
//! needs them, so an installed polyplug compiles source plugins without the source tree.

use crate::cache;
use polyplug_core::CacheRoot;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::OnceLock;

/// Every SDK file, by its path inside the SDK folder: what a source plugin is compiled
/// against, and what `polyplug sdk path` / `polyplug sdk export` give a user who has
/// only the binary (the C and WebAssembly headers, the Nim module, the Bash helper,
/// the Rust SDK and WebAssembly guest crates as cargo crates).
pub(crate) const FILES: &[(&str, &str)] = &[
    ("README.md", SDK_README),
    (
        "c/polyplug.h",
        include_str!("../../../plugin-sdk/c/polyplug.h"),
    ),
    (
        "nim/polyplug.nim",
        include_str!("../../../plugin-sdk/nim/polyplug.nim"),
    ),
    (
        "nim/README.md",
        include_str!("../../../plugin-sdk/nim/README.md"),
    ),
    (
        "bash/polyplug.sh",
        include_str!("../../../plugin-sdk/bash/polyplug.sh"),
    ),
    (
        "wasm/polyplug_wasm.h",
        include_str!("../../../plugin-sdk/wasm/polyplug_wasm.h"),
    ),
    (
        "wasm/ABI.md",
        include_str!("../../../plugin-sdk/wasm/ABI.md"),
    ),
    (
        "wasm/README.md",
        include_str!("../../../plugin-sdk/wasm/README.md"),
    ),
    (
        "wasm/rust/Cargo.toml",
        include_str!("../../../plugin-sdk/wasm/rust/Cargo.toml"),
    ),
    (
        "wasm/rust/src/lib.rs",
        include_str!("../../../plugin-sdk/wasm/rust/src/lib.rs"),
    ),
    ("rust/polyplug-abi/Cargo.toml", ABI_CARGO),
    (
        "rust/polyplug-abi/src/lib.rs",
        include_str!("../../abi/src/lib.rs"),
    ),
    ("rust/polyplug-sdk/Cargo.toml", SDK_CARGO),
    (
        "rust/polyplug-sdk/README.md",
        include_str!("../../../plugin-sdk/rust/README.md"),
    ),
    (
        "rust/polyplug-sdk/src/lib.rs",
        include_str!("../../../plugin-sdk/rust/src/lib.rs"),
    ),
    (
        "rust/polyplug-sdk/src/__private.rs",
        include_str!("../../../plugin-sdk/rust/src/__private.rs"),
    ),
];

/// The Rust ABI crate as a cargo crate of its own (outside polyplug's workspace).
const ABI_CARGO: &str = concat!(
    "[package]\nname = \"polyplug-abi\"\nversion = \"",
    env!("CARGO_PKG_VERSION"),
    "\"\nedition = \"2021\"\nlicense = \"MIT OR Apache-2.0\"\n\
     description = \"The versioned C ABI shared by the polyplug host and compiled plugins\"\n\n\
     # A workspace of its own: it is used as a path dependency from anywhere.\n[workspace]\n"
);

/// The Rust SDK as a cargo crate, depending on the ABI crate beside it.
const SDK_CARGO: &str = concat!(
    "[package]\nname = \"polyplug-sdk\"\nversion = \"",
    env!("CARGO_PKG_VERSION"),
    "\"\nedition = \"2021\"\nlicense = \"MIT OR Apache-2.0\"\n\
     description = \"Write polyplug compute plugins in Rust\"\n\n\
     [dependencies]\npolyplug-abi = { path = \"../polyplug-abi\" }\n\n\
     # A workspace of its own: it is used as a path dependency from anywhere.\n[workspace]\n"
);

/// What the SDK folder holds.
const SDK_README: &str = "# The polyplug plugin SDK\n\n\
Written by `polyplug sdk path` (into polyplug's cache) or `polyplug sdk export DIR`,\n\
from the SDK inside the polyplug binary: nothing here needs polyplug's source tree.\n\n\
- `c/polyplug.h`: the native ABI for C, C++, Zig and anything that speaks C\n\
  (`cc -shared -fPIC -O2 -I <this folder>/c plugin.c -o libplugin.so`).\n\
- `rust/polyplug-sdk/`: the Rust SDK as a cargo crate (depend on it with\n\
  `polyplug-sdk = { path = \"<this folder>/rust/polyplug-sdk\" }`, build a `cdylib`);\n\
  `polyplug new rust --cargo NAME` writes such a crate.\n\
- `nim/polyplug.nim`: the Nim module (`nim c --app:lib --path:<this folder>/nim ...`).\n\
- `wasm/polyplug_wasm.h` (with `c/polyplug.h`): WebAssembly guests in C\n\
  (`clang-14 --target=wasm32-wasi -mexec-model=reactor -I <this folder>/c\n\
  -I <this folder>/wasm ...`); `wasm/rust/`: the WebAssembly guest crate for Rust;\n\
  `wasm/ABI.md`: the guest ABI.\n\
- `bash/polyplug.sh`: optional helpers for Bash plugins (copy it beside your plugin as\n\
  `polyplug.bash`).\n";

/// The SDK version: the polyplug version and a hash of the embedded SDK files, so an
/// edited SDK invalidates cached plugins even without a version bump.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut h = Sha256::new();
        for (name, text) in FILES {
            h.update(name.as_bytes());
            h.update([0]);
            h.update(text.as_bytes());
            h.update([0]);
        }
        format!(
            "{}+{}",
            env!("CARGO_PKG_VERSION"),
            &cache::hex(&h.finalize())[..12]
        )
    })
}

/// The SDK folder inside the cache, written on first use: `<cache>/sdk/<version>/`
/// with every file of [`FILES`].
pub fn materialize(root: &CacheRoot) -> Result<PathBuf, String> {
    let dir = root.path.join("sdk").join(version());
    if dir.join(".complete").is_file() {
        return Ok(dir);
    }
    let parent = root.path.join("sdk");
    cache::create_dir(&parent, root.variable)?;
    // Written in a temporary folder, then renamed into place: a concurrent process sees
    // either no SDK folder or a complete one.
    let tmp = cache::temp_dir(&parent)?;
    for (name, text) in FILES {
        let path = tmp.path().join(name);
        if let Some(p) = path.parent() {
            cache::create_dir(p, root.variable)?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    std::fs::write(tmp.path().join(".complete"), version())
        .map_err(|e| format!("cannot write in {}: {e}", tmp.path().display()))?;
    match std::fs::rename(tmp.path(), &dir) {
        Ok(()) => {
            // Renamed away: nothing left for the TempDir to remove.
            let _ = tmp.keep();
            Ok(dir)
        }
        // Another process installed it first; ours is dropped.
        Err(_) if dir.join(".complete").is_file() => Ok(dir),
        Err(e) => Err(format!("cannot create {}: {e}", dir.display())),
    }
}

/// Writes the SDK into `dir` (created; files already there are replaced).
pub fn export(dir: &std::path::Path) -> Result<(), String> {
    for (name, text) in FILES {
        let path = dir.join(name);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p)
                .map_err(|e| format!("cannot create {}: {e}", p.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}
