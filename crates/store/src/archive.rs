//! Run archives (`runs export` / `runs import`): a SQLite store holding one
//! computation (with its plugin record and the attributes its values use, copied by
//! [`Store::import_computation`]) and a `polyplug_archive` table that says so — what
//! it holds, which archive format, written when, by which polyplug, from which store.
//! An archive is a store like any other, so `polyplug query --store run.ppa` reads it.

use crate::db::Cell;
use crate::{Backend, Store, StoreError};

/// The archive format this polyplug writes and the newest it reads.
pub const ARCHIVE_FORMAT: i64 = 1;

/// What the `polyplug_archive` table of an archive says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveNote {
    /// [`ARCHIVE_FORMAT`] when it was written.
    pub format: i64,
    /// The UUID of the computation it holds.
    pub uuid: String,
    /// When it was written (RFC 3339, UTC).
    pub created: String,
    /// The polyplug version that wrote it.
    pub polyplug_version: String,
    /// The store it was exported from.
    pub source: String,
}

impl Store {
    /// Marks this store (a new SQLite file holding one computation) as its archive,
    /// and compacts it.
    pub fn mark_archive(&mut self, note: &ArchiveNote) -> Result<(), StoreError> {
        let here = self.location.clone();
        self.db
            .transaction(|db| {
                db.batch(
                    "CREATE TABLE polyplug_archive (format BIGINT NOT NULL, uuid TEXT NOT NULL, \
                     created TEXT NOT NULL, polyplug_version TEXT NOT NULL, source TEXT NOT NULL)",
                )?;
                db.exec(
                    "INSERT INTO polyplug_archive (format, uuid, created, polyplug_version, \
                     source) VALUES ($1, $2, $3, $4, $5)",
                    &[
                        note.format.into(),
                        note.uuid.as_str().into(),
                        note.created.as_str().into(),
                        note.polyplug_version.as_str().into(),
                        note.source.as_str().into(),
                    ],
                )?;
                Ok(())
            })
            .map_err(|e| e.in_store(&here))?;
        // One small self-contained file: no write-ahead log beside it, and pages of
        // 4 KiB (a store's are 64 KiB, for its blocks).
        self.db
            .batch("PRAGMA journal_mode = DELETE; PRAGMA page_size = 4096; VACUUM;")
            .map_err(|e| e.in_store(&here))
    }

    /// What this store's `polyplug_archive` table says, or `None` when it is not an
    /// archive (a PostgreSQL store never is).
    pub fn archive_note(&mut self) -> Result<Option<ArchiveNote>, StoreError> {
        if self.backend() != Backend::Sqlite {
            return Ok(None);
        }
        let table = self.db.row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'polyplug_archive'",
            &[],
        )?;
        if table.is_none() {
            return Ok(None);
        }
        let row = self.db.row(
            "SELECT format, uuid, created, polyplug_version, source FROM polyplug_archive",
            &[],
        )?;
        let text = |c: &Cell| match c {
            Cell::T(t) => t.clone(),
            _ => String::new(),
        };
        Ok(row.map(|r| ArchiveNote {
            format: r[0].int(),
            uuid: text(&r[1]),
            created: text(&r[2]),
            polyplug_version: text(&r[3]),
            source: text(&r[4]),
        }))
    }
}
