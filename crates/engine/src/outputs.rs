//! The output files of a run: opened for appending (a killed run's cut last row
//! removed), the results file locked for the run, the report checked writable before
//! any work and written at the end.

use crate::{EngineError, RunSpec};
use polyplug_core::{Console, Report};
use polyplug_runner::output::open_for_append;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Opens an output file for appending; an incomplete last line a killed run left is
/// removed first (its entity is computed again).
pub(crate) fn open_output(
    path: Option<&Path>,
    what: &'static str,
    spec: &RunSpec,
    console: &dyn Console,
) -> Result<Option<File>, EngineError> {
    let Some(path) = path else {
        return Ok(None);
    };
    let (file, removed) = open_for_append(path).map_err(|e| EngineError::OpenOutput {
        path: path.to_path_buf(),
        what,
        why: e.to_string(),
    })?;
    if what == "results" {
        lock_output(&file, path)?;
    }
    if removed > 0 {
        console.note(&format!(
            "{}: removed an incomplete last line ({removed} bytes) left by an interrupted run; \
             its entity will be computed again",
            path.display()
        ));
    } else if spec.verbose {
        console.detail(&format!("appending {what} to {}", path.display()));
    }
    Ok(Some(file))
}

/// Takes the results file for this run: an exclusive lock held until the run ends,
/// so that the same run started twice does not compute everything twice into it.
pub(crate) fn lock_output(file: &File, path: &Path) -> Result<(), EngineError> {
    use rustix::fs::{flock, FlockOperation};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(EngineError::Busy {
            path: path.to_path_buf(),
            holder: lock_holder(file),
        }),
        // A file system without locks: nothing to guard with.
        Err(_) => Ok(()),
    }
}

/// The process holding a lock on `file`, from `/proc/locks` (Linux), if it can be told.
pub(crate) fn lock_holder(file: &File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let md = file.metadata().ok()?;
    let dev = md.dev();
    let key = format!(
        "{:02x}:{:02x}:{}",
        rustix::fs::major(dev),
        rustix::fs::minor(dev),
        md.ino()
    );
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // `1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`
        (f.get(1) == Some(&"FLOCK") && f.get(5) == Some(&key.as_str()))
            .then(|| f.get(4).and_then(|p| p.parse().ok()))
            .flatten()
    })
}

/// A buffered writer to the file if given, else to the caller's writer.
pub(crate) fn writer<'a>(
    file: Option<File>,
    default: Box<dyn Write + 'a>,
    buffer: usize,
) -> Box<dyn Write + 'a> {
    match file {
        Some(f) => Box::new(BufWriter::with_capacity(1 << 16, f)),
        None => Box::new(BufWriter::with_capacity(buffer, default)),
    }
}

/// Whether the report can be written where asked, found before any work (not after
/// hours of computing): not a folder, in a folder that exists, writable.
pub(crate) fn check_writable(path: &Path) -> Result<(), EngineError> {
    let refuse = |why: String| EngineError::WriteReport {
        path: path.to_path_buf(),
        why,
    };
    if path.is_dir() {
        return Err(refuse("it is a folder; give a file name".into()));
    }
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| refuse(e.to_string()))?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Makes the folder of `--log-dir` (and its parents), and checks that files can be
/// written in it, before any work.
pub(crate) fn prepare_log_dir(dir: &Path) -> Result<(), EngineError> {
    let refuse = |why: String| EngineError::LogDir {
        path: dir.to_path_buf(),
        why,
    };
    if dir.exists() && !dir.is_dir() {
        return Err(refuse("it is a file; give a folder".into()));
    }
    std::fs::create_dir_all(dir).map_err(|e| refuse(e.to_string()))?;
    let probe = dir.join(format!(".polyplug-probe-{}", std::process::id()));
    File::create(&probe).map_err(|e| refuse(format!("cannot write in it: {e}")))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Whether a report path means standard error (`-r -`).
pub(crate) fn to_stderr(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Writes the report to `-r FILE`, or to the caller's writer for `-r -`; without
/// `-r` it is not written (the store keeps it, and the summary line says where).
pub(crate) fn write_report(
    report: &Report,
    path: Option<&Path>,
    default: &mut Box<dyn Write + '_>,
) -> Result<(), EngineError> {
    let yaml = report.to_yaml();
    match path {
        Some(p) if to_stderr(p) => {
            let _ = default.write_all(yaml.as_bytes());
            let _ = default.flush();
            Ok(())
        }
        Some(p) => std::fs::write(p, yaml).map_err(|e| EngineError::WriteReport {
            path: p.to_path_buf(),
            why: e.to_string(),
        }),
        None => Ok(()),
    }
}
