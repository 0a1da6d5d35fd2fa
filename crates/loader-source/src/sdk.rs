//! The plugin SDKs, embedded in the binary and written into the cache when a compiler
//! needs them, so an installed polyplug compiles source plugins without the source tree.

use crate::cache;
use polyplug_core::CacheRoot;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::OnceLock;

/// Every SDK file a source plugin may need, by its path inside the SDK folder.
pub(crate) const FILES: &[(&str, &str)] = &[
    (
        "c/polyplug.h",
        include_str!("../../../plugin-sdk/c/polyplug.h"),
    ),
    (
        "nim/polyplug.nim",
        include_str!("../../../plugin-sdk/nim/polyplug.nim"),
    ),
    ("rust/abi/lib.rs", include_str!("../../abi/src/lib.rs")),
    (
        "rust/sdk/lib.rs",
        include_str!("../../../plugin-sdk/rust/src/lib.rs"),
    ),
    (
        "rust/sdk/__private.rs",
        include_str!("../../../plugin-sdk/rust/src/__private.rs"),
    ),
];

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
/// with `c/polyplug.h`, `nim/polyplug.nim` and the Rust SDK sources.
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
