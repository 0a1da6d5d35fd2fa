//! Per-entity log files in a worker process (`--log-dir`): while one entity is
//! computed, file descriptors 1 and 2 point to that entity's `.out` and `.err` files,
//! so that whatever writes there (the plugin, a C library, a program it starts) lands
//! in them; afterwards they point back to the worker's standard error, and an empty
//! file is removed. A worker computes one entity at a time, so nothing else writes
//! to those descriptors meanwhile.

use polyplug_core::entity_log;
use rustix::fd::OwnedFd;
use std::fs::File;
use std::path::PathBuf;

/// The log files of the entities one worker computes.
pub struct EntityCapture {
    dir: PathBuf,
    /// The worker's standard error, where descriptors 1 and 2 point between entities.
    stderr: OwnedFd,
    /// The files of the entity being computed, and whether they could be opened.
    open: Option<(File, File)>,
}

impl EntityCapture {
    /// Captures into `dir` (created by the host).
    pub fn new(dir: impl Into<PathBuf>) -> Result<EntityCapture, String> {
        let stderr = rustix::io::dup(rustix::stdio::stderr())
            .map_err(|e| format!("cannot keep standard error aside for --log-dir: {e}"))?;
        Ok(EntityCapture {
            dir: dir.into(),
            stderr,
            open: None,
        })
    }

    /// Points descriptors 1 and 2 to `entity`'s log files (emptied first). When they
    /// cannot be created, the entity's output goes to standard error as without
    /// `--log-dir`, and the returned line (for the entity's log) says why.
    pub fn begin(&mut self, entity: &str) -> Option<String> {
        let (out, err) = entity_log::paths(&self.dir, entity);
        let opened = File::create(&out)
            .map_err(|e| (out.clone(), e))
            .and_then(|o| File::create(&err).map(|e| (o, e)).map_err(|e| (err, e)));
        match opened {
            Ok((o, e)) => {
                let _ = rustix::stdio::dup2_stdout(&o);
                let _ = rustix::stdio::dup2_stderr(&e);
                self.open = Some((o, e));
                None
            }
            Err((path, e)) => Some(entity_log::note(&format!(
                "cannot write {}: {e}",
                path.display()
            ))),
        }
    }

    /// Ends `entity`'s capture: flushes the C library's buffered output into its
    /// files (`flush` first flushes the language's own buffers, such as Python's
    /// `sys.stdout`), points descriptors 1 and 2 back to standard error, and removes
    /// the files left empty.
    pub fn end(&mut self, entity: &str, flush: impl FnOnce()) {
        if self.open.take().is_none() {
            return;
        }
        flush();
        flush_c_streams();
        let _ = rustix::stdio::dup2_stdout(&self.stderr);
        let _ = rustix::stdio::dup2_stderr(&self.stderr);
        entity_log::remove_empty(&self.dir, entity);
    }
}

/// Writes out what the C library holds in its output buffers (a plugin's `printf`
/// into a file is buffered until then).
fn flush_c_streams() {
    // SAFETY: `fflush(NULL)` flushes every open output stream of the C library; it
    // takes each stream's lock, and is given no pointer to check.
    unsafe {
        libc::fflush(std::ptr::null_mut());
    }
}
