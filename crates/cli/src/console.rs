//! Where the library's notes go on the command line: polyplug's standard error, and
//! the progress bar drawn there when it is a terminal.

use polyplug_engine::core::Console;
use polyplug_engine::runner::Progress;
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

/// A progress bar with rate and ETA, on stderr.
pub struct Bar(indicatif::ProgressBar);

impl Bar {
    /// A bar, drawn once the run says how many entities it has.
    pub fn new() -> Bar {
        let pb = indicatif::ProgressBar::hidden();
        pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        Bar(pb)
    }
}

impl Progress for Bar {
    fn start(&self, total: Option<u64>) {
        let template = match total {
            Some(n) => {
                self.0.set_length(n);
                "{bar:40} {pos}/{len} [{elapsed_precise}<{eta_precise}, {per_sec}]"
            }
            None => "{spinner} {pos} [{elapsed_precise}, {per_sec}]",
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            self.0.set_style(style);
        }
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
