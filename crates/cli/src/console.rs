//! Where the library's notes go on the command line: polyplug's standard error (the
//! live status drawn there is `status.rs`).

use polyplug_engine::core::Console;
use std::io::Write;
use std::sync::Arc;

/// Notes as `polyplug: <note>`, plugin output as it is, details as `# <line>`.
pub struct Stderr;

impl Console for Stderr {
    fn note(&self, note: &str) {
        crate::error(note);
    }

    fn plugin_output(&self, bytes: &[u8]) {
        let _ = std::io::stderr().write_all(bytes);
    }

    fn detail(&self, line: &str) {
        eprintln!("# {line}");
    }
}

/// The console of every command.
pub fn stderr() -> Arc<dyn Console> {
    Arc::new(Stderr)
}
