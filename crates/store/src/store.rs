//! An open store ([`Store`]): opening (and migrating) it, and what every other module
//! of this crate builds its `impl Store` on.

use crate::db::{Cell, Db};
use crate::{schema, Backend, Location, StoreError};
use std::fmt;

/// An open store. Its methods are grouped by what they keep: attributes
/// (`attributes.rs`), plugin records (`plugins.rs`), computations
/// (`computations.rs`), committed units and values (`batch.rs`), and queries
/// (`query.rs`).
pub struct Store {
    pub(crate) db: Db,
    pub(crate) location: String,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Store({})", self.location)
    }
}

impl Store {
    /// Opens (creating if needed) the store and brings its schema up to date.
    pub fn open(location: &Location) -> Result<Store, StoreError> {
        let shown = location.display();
        let mut db = match location {
            Location::Sqlite(path) => {
                if let Some(parent) = path.parent() {
                    if !parent.as_os_str().is_empty() && !parent.is_dir() {
                        return Err(StoreError::NoFolder {
                            folder: parent.to_path_buf(),
                        }
                        .in_store(&shown));
                    }
                }
                Db::open_sqlite(path).map_err(|e| {
                    StoreError::CannotOpen {
                        source: Box::new(e),
                    }
                    .in_store(&shown)
                })?
            }
            Location::Postgres(url) => Db::open_postgres(url).map_err(|e| {
                StoreError::CannotConnect {
                    source: Box::new(e),
                }
                .in_store(&shown)
            })?,
        };
        schema::migrate(&mut db, &shown).map_err(|e| e.in_store(&shown))?;
        Ok(Store {
            db,
            location: shown,
        })
    }

    /// Whether a SQLite store file exists (a read-only command refuses to create one).
    pub fn exists(location: &Location) -> bool {
        match location {
            Location::Sqlite(p) => p.is_file(),
            Location::Postgres(_) => true,
        }
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// The location, for messages (no password).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The schema version of the store.
    pub fn schema_version(&mut self) -> Result<i64, StoreError> {
        schema::version(&mut self.db)
    }

    /// Names this store in an error, once.
    pub(crate) fn ctx(&self, e: StoreError) -> StoreError {
        e.in_store(&self.location)
    }
}

/// A nullable text column.
pub(crate) fn opt(c: &Cell) -> Option<String> {
    c.text()
}

/// A nullable integer column.
pub(crate) fn opt_int(c: &Cell) -> Option<i64> {
    match c {
        Cell::Null => None,
        c => Some(c.int()),
    }
}
