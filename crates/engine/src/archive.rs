//! `polyplug runs export <run> <file>` and `polyplug runs import <file>`: one stored
//! computation handed to a colleague whole — its report and provenance (UUID, user,
//! host, times, shard, run ID, name, tags), its plugin record (metadata and file
//! sha256), parameters, the attribute definitions its values use, and every entity's
//! values, logs and error.
//!
//! An archive is a SQLite store holding that computation alone, marked as an archive
//! (`polyplug_store::ArchiveNote`: format, UUID, when, which polyplug, from where):
//! self-describing (`polyplug query --store run.ppa` reads it), versioned (the
//! archive format and the store schema), and loaded by the same copy that merges
//! shard stores. Importing refuses a UUID the store has already, so a run never
//! loads twice.

use crate::{stores, EngineError};
use polyplug_store::{ArchiveNote, Location, Store, ARCHIVE_FORMAT};
use std::path::{Path, PathBuf};

/// What an export or an import moved.
#[derive(Debug, Clone)]
pub struct Moved {
    /// The computation's UUID.
    pub uuid: String,
    /// Its plugin ID and VERSION.
    pub plugin: (String, String),
    /// Entities recorded in it.
    pub units: i64,
    /// The store it went into (an import) or came from (an export).
    pub store: String,
}

/// Writes computation `run` (a UUID or a unique prefix) of the store into a new
/// archive `file`, refusing to replace a file. The archive is written beside it under
/// a temporary name and renamed, so a file of that name is always whole.
pub fn export(store: Option<&str>, run: &str, file: &Path) -> Result<Moved, EngineError> {
    if file.exists() {
        return Err(EngineError::Archive {
            path: file.to_path_buf(),
            why: "exists already; give a new file name (an archive is never replaced)".into(),
        });
    }
    let mut source = stores::open_existing(store)?;
    let (c, _) = source.computation(run)?;
    let uuid = c.report.uuid.hyphenated().to_string();
    let part = part_name(file);
    let _ = std::fs::remove_file(&part);
    let written = (|| -> Result<i64, EngineError> {
        let mut archive = Store::open(&Location::Sqlite(part.clone()))?;
        let copied = archive.import_computation(&mut source, &uuid)?;
        archive.mark_archive(&ArchiveNote {
            format: ARCHIVE_FORMAT,
            uuid: uuid.clone(),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            polyplug_version: env!("CARGO_PKG_VERSION").to_string(),
            source: source.location().to_string(),
        })?;
        Ok(copied.units)
    })();
    let units = match written.and_then(|units| {
        std::fs::rename(&part, file)
            .map(|()| units)
            .map_err(|e| EngineError::Archive {
                path: file.to_path_buf(),
                why: format!("cannot write it: {e}"),
            })
    }) {
        Ok(units) => units,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    Ok(Moved {
        uuid,
        plugin: (c.report.plugin_id, c.report.plugin_version),
        units,
        store: source.location().to_string(),
    })
}

/// Loads the computation of archive `file` into the store (created if needed), with
/// its provenance as it was; refuses an archive whose computation the store has
/// already, and anything that is not an archive. The archive itself is never
/// written: it is read from a private copy.
pub fn import(store: Option<&str>, file: &Path) -> Result<Moved, EngineError> {
    let not = |why: String| EngineError::Archive {
        path: file.to_path_buf(),
        why,
    };
    let mut head = [0u8; 16];
    let read = std::fs::File::open(file).and_then(|mut f| {
        use std::io::Read;
        f.read_exact(&mut head)
    });
    match read {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(not("no such file".into()));
        }
        Err(e) if e.kind() != std::io::ErrorKind::UnexpectedEof => {
            return Err(not(format!("cannot read it: {e}")));
        }
        _ => {}
    }
    if &head != b"SQLite format 3\0" {
        return Err(not(
            "not a polyplug run archive (`polyplug runs export <run> <file>` writes them)".into(),
        ));
    }
    let copy = tempfile::Builder::new()
        .prefix("polyplug-archive-")
        .tempdir()
        .map_err(|e| not(format!("cannot make a temporary copy: {e}")))?;
    let private = copy.path().join("archive.db");
    std::fs::copy(file, &private).map_err(|e| not(format!("cannot read it: {e}")))?;
    let mut archive = Store::open(&Location::Sqlite(private)).map_err(|e| not(e.to_string()))?;
    let note = archive.archive_note()?.ok_or_else(|| {
        not(
            "a polyplug store, not a run archive: import its runs with `polyplug merge`, \
             or query it with --store; `polyplug runs export <run> <file>` writes archives"
                .into(),
        )
    })?;
    if note.format > ARCHIVE_FORMAT {
        return Err(not(format!(
            "archive format {} (written by polyplug {}), this polyplug reads up to {}: \
             import it with a newer polyplug",
            note.format, note.polyplug_version, ARCHIVE_FORMAT
        )));
    }
    let (c, _) = archive
        .computation(&note.uuid)
        .map_err(|e| not(format!("damaged: {e}")))?;
    let mut target = stores::open_or_create(store)?;
    let copied = target.import_computation(&mut archive, &note.uuid)?;
    if copied.already > 0 {
        return Err(EngineError::AlreadyImported {
            uuid: note.uuid,
            store: target.location().to_string(),
        });
    }
    Ok(Moved {
        uuid: note.uuid,
        plugin: (c.report.plugin_id, c.report.plugin_version),
        units: copied.units,
        store: target.location().to_string(),
    })
}

/// `.<name>.part-<pid>` beside `file`.
fn part_name(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map_or_else(|| "archive".into(), |n| n.to_string_lossy().into_owned());
    file.with_file_name(format!(".{name}.part-{}", std::process::id()))
}
