//! Who, where and what computed a result: the user, the host, the time, the plugin
//! file's sha256, this polyplug's version, and whether a process is still alive.

use crate::EngineError;
use sha2::Digest;
use std::path::Path;

/// `polyplug <version>`, the report's `host_version`.
pub fn host_version() -> String {
    format!("polyplug {}", env!("CARGO_PKG_VERSION"))
}

/// The sha256 of a file, lower-case hex. Read in blocks: a plugin library of some
/// megabytes read whole would cost more in fresh memory than in hashing.
pub fn sha256_file(path: &Path) -> Result<String, EngineError> {
    use std::io::Read;
    let error = |e: std::io::Error| EngineError::Hash {
        path: path.to_path_buf(),
        why: e.to_string(),
    };
    let mut file = std::fs::File::open(path).map_err(error)?;
    let mut hasher = sha2::Sha256::new();
    let mut block = vec![0u8; 64 << 10];
    loop {
        match file.read(&mut block) {
            Ok(0) => break,
            Ok(n) => hasher.update(&block[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(error(e)),
        }
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// What the cache remembers of a plugin file ([`plugin_sha256`]).
const SHA256_FACT: &str = "sha256 1:";

/// The sha256 of a plugin file, as [`sha256_file`] gives it, remembered in the cache
/// (`<cache>/sha256`) while the file stays as it was (the same inode, size, times and
/// first and last 64 KiB: see `polyplug_runner::remember`), so that a run, and every
/// shard of one, does not read a library of some megabytes again to name it.
pub fn plugin_sha256(path: &Path) -> Result<String, EngineError> {
    let dir = polyplug_core::CacheRoot::from_env()
        .ok()
        .map(|c| c.path.join("sha256"));
    sha256_remembered(path, dir.as_deref())
}

fn sha256_remembered(path: &Path, dir: Option<&Path>) -> Result<String, EngineError> {
    use polyplug_runner::remember::{recall_fact, remember_fact};
    let Some(dir) = dir else {
        return sha256_file(path);
    };
    let hex = |fact: &str| fact.len() == 64 && fact.bytes().all(|b| b.is_ascii_hexdigit());
    let before = match recall_fact(dir, path, SHA256_FACT, hex) {
        Ok(hex) => return Ok(hex),
        // Not remembered, or a damaged memory: hashed (and remembered) again.
        Err(before) => before,
    };
    let hex = sha256_file(path)?;
    if let Some(before) = before {
        remember_fact(before, path, &hex);
    }
    Ok(hex)
}

/// Local time as the reports write it: `YYYY-MM-DD HH:MM:SS.ffffff`.
pub fn now() -> String {
    chrono::Local::now()
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

/// The current user, as Python's `getpass.getuser()` finds it: the environment
/// first, then the system.
pub fn current_user() -> String {
    for var in ["LOGNAME", "USER", "LNAME", "USERNAME"] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                return v;
            }
        }
    }
    whoami::username().unwrap_or_else(|_| "unknown".into())
}

/// This machine's host name.
pub fn host_name() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// Whether a process of this machine is still running.
pub fn process_alive(pid: i64) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        // Without a cheap check, never declare another run dead.
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_hash_is_remembered_until_the_file_changes() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let cache = dir.path().join("sha256");
        let plugin = dir.path().join("plugin.so");
        std::fs::write(&plugin, b"first contents").expect("written");
        let first = sha256_remembered(&plugin, Some(&cache)).expect("hashed");
        assert_eq!(first, sha256_file(&plugin).expect("hashed"));
        let memo: Vec<_> = std::fs::read_dir(&cache)
            .expect("remembered")
            .flatten()
            .collect();
        assert_eq!(memo.len(), 1, "one file remembered");
        // Remembered: shown by a memory made to lie (the identity kept, another hash).
        let text = std::fs::read_to_string(memo[0].path()).expect("read");
        let forged = text.replace(&first, &"a".repeat(64));
        std::fs::write(memo[0].path(), forged).expect("forged");
        assert_eq!(
            sha256_remembered(&plugin, Some(&cache)).expect("recalled"),
            "a".repeat(64)
        );
        // A damaged memory is not believed, and is mended.
        std::fs::write(memo[0].path(), text.replace(&first, "not a hash")).expect("damaged");
        assert_eq!(
            sha256_remembered(&plugin, Some(&cache)).expect("hashed"),
            first
        );
        assert_eq!(std::fs::read_to_string(memo[0].path()).expect("read"), text);
        // A changed file (same size) is hashed again, and remembered anew.
        std::fs::write(&plugin, b"other contents").expect("rewritten");
        let second = sha256_remembered(&plugin, Some(&cache)).expect("hashed");
        assert_ne!(second, first);
        assert_eq!(second, sha256_file(&plugin).expect("hashed"));
        assert_eq!(
            sha256_remembered(&plugin, Some(&cache)).expect("recalled"),
            second
        );
        // Without a cache folder, every run hashes.
        assert_eq!(sha256_remembered(&plugin, None).expect("hashed"), second);
    }
}
