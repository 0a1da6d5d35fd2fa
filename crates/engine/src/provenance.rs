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
