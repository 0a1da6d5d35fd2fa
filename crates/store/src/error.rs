//! What can go wrong with a store: every error keeps what it is about as fields, and
//! says what to do.

use polyplug_core::codec::CodecError;
use polyplug_core::DefinitionsError;
use std::path::PathBuf;

/// A store error. [`StoreError::In`] names the store; the errors about a plugin file,
/// a schema or a definitions file name those instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// Something went wrong in the store at `store` (its location, without password).
    #[error("store {store}: {source}")]
    In {
        /// The store's location.
        store: String,
        /// What went wrong.
        source: Box<StoreError>,
    },
    /// The database refused a statement or the connection broke.
    #[error("{backend}: {message}")]
    Database {
        /// `SQLite` or `PostgreSQL`.
        backend: &'static str,
        /// The driver's (or server's) message.
        message: String,
    },
    /// An empty store URL.
    #[error("the store URL is empty; give a SQLite file path or a postgres:// URL")]
    EmptyUrl,
    /// A URL of a database polyplug does not support.
    #[error(
        "store URL '{url}': unknown scheme '{scheme}'; use a SQLite file path \
         (or sqlite://PATH) or a postgres://user@host:port/database URL"
    )]
    UnknownScheme {
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// A SQLite file in a folder that does not exist.
    #[error(
        "the folder {} does not exist; create it or give another --store path",
        folder.display()
    )]
    NoFolder {
        /// The folder.
        folder: PathBuf,
    },
    /// A SQLite file that cannot be opened.
    #[error(
        "cannot open: {source}; give a writable file with --store PATH \
         (or POLYPLUG_STORE), or run without a store with --no-store"
    )]
    CannotOpen {
        /// Why.
        source: Box<StoreError>,
    },
    /// A PostgreSQL server that cannot be reached.
    #[error(
        "cannot connect: {source}; check that the server runs and the URL \
         (postgres://user@host:port/database) is right"
    )]
    CannotConnect {
        /// Why.
        source: Box<StoreError>,
    },
    /// A store written by a newer polyplug.
    #[error(
        "{store}: the store has schema version {found}, written by a newer polyplug; this \
         polyplug {} knows versions up to {known}: upgrade polyplug to use this store",
        env!("CARGO_PKG_VERSION")
    )]
    NewerSchema {
        /// The store's location.
        store: String,
        /// Its schema version.
        found: i64,
        /// The newest version this polyplug knows.
        known: i64,
    },
    /// A schema migration that failed (and was rolled back).
    #[error("{store}: schema migration to version {version} failed: {source}")]
    Migration {
        /// The store's location.
        store: String,
        /// The version migrated to.
        version: i64,
        /// Why.
        source: Box<StoreError>,
    },
    /// The same plugin ID and VERSION with other content.
    #[error(
        "{file}: plugin {id} version {version} changed without a version change: the store \
         has it with sha256 {stored_sha256} (from {stored_file}), this file has sha256 \
         {sha256}; increase VERSION in the plugin, or rerun with --replace-plugin-record \
         to overwrite the stored description"
    )]
    PluginChanged {
        /// The plugin file.
        file: String,
        /// Plugin ID.
        id: String,
        /// Plugin VERSION.
        version: String,
        /// The stored content hash.
        stored_sha256: String,
        /// The file the stored description came from.
        stored_file: String,
        /// This file's content hash.
        sha256: String,
    },
    /// Attribute definitions whose datatype or computation group would change.
    #[error("{}", refused_lines(.0))]
    SyncRefused(Vec<RefusedChange>),
    /// An OUTPUT attribute defined with another datatype than in the store.
    #[error(
        "attribute '{name}' has datatype {stored} in the store but {given} in {origin}; make \
         them agree (polyplug attrs sync {origin} --drop replaces the stored definition and \
         deletes its values)"
    )]
    DatatypeConflict {
        /// The attribute.
        name: String,
        /// Its datatype in the store.
        stored: String,
        /// Its datatype in the definitions file.
        given: String,
        /// The definitions file.
        origin: String,
    },
    /// The store's definitions do not parse.
    #[error(transparent)]
    Definitions(#[from] DefinitionsError),
    /// A computation UUID that is already stored.
    #[error(
        "a computation with UUID {uuid} is already in the store; it was loaded or run \
         before (see polyplug runs show {uuid})"
    )]
    DuplicateUuid {
        /// The UUID.
        uuid: String,
    },
    /// Not a UUID (or a prefix of one).
    #[error("'{given}' is not a computation UUID (hex digits and '-'); see polyplug runs list")]
    BadUuid {
        /// What was given.
        given: String,
    },
    /// No computation has this UUID (or prefix).
    #[error("no computation with UUID {given}; see polyplug runs list")]
    NoComputation {
        /// What was given.
        given: String,
    },
    /// Several computations start with this prefix.
    #[error("{count} computations have UUIDs starting with {given}; give more digits")]
    AmbiguousUuid {
        /// The prefix.
        given: String,
        /// How many match.
        count: usize,
    },
    /// A block that cannot be decoded.
    #[error(
        "the stored results of computation {computation} (units from {n0}) cannot be read: \
         {why}; the store was damaged or changed outside polyplug: restore it from a \
         backup, or recompute that computation with --force"
    )]
    Damaged {
        /// The computation's UUID.
        computation: String,
        /// Its first unit in the block.
        n0: i64,
        /// What is wrong with the data.
        why: CodecError,
    },
    /// A catalog row that does not read as what it must be (changed outside polyplug).
    #[error("{0}; the store was changed outside polyplug")]
    Corrupt(String),
    /// A query's answer could not be sorted in temporary files.
    #[error(
        "cannot sort the answer in temporary files: {0}; set TMPDIR to a folder with \
         free space, or narrow the query"
    )]
    Spill(String),
    /// The caller's output failed while it was given stored records.
    #[error("cannot write: {0}")]
    Write(String),
    /// A store to import from disagrees with this one on a plugin or an attribute.
    #[error("{from}: cannot import it: {why}")]
    ImportConflict {
        /// The store imported from.
        from: String,
        /// What disagrees, and what to do.
        why: String,
    },
    /// Something that cannot happen did.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// An attribute definition [`crate::Store::sync_attributes`] refuses to apply: its
/// datatype or computation group would change.
#[derive(Debug, Clone, PartialEq)]
pub struct RefusedChange {
    /// The attribute.
    pub name: String,
    /// `datatype` or `computation_group`.
    pub field: &'static str,
    /// Its value in the store.
    pub stored: Option<String>,
    /// Its value in the definitions file.
    pub given: Option<String>,
    /// The definitions file.
    pub origin: String,
}

fn refused_lines(changes: &[RefusedChange]) -> String {
    changes
        .iter()
        .map(|c| {
            format!(
                "attribute '{}': the {} changed ({} in the store, {} in {}); changing it would \
                 invalidate stored values: rerun with --drop to delete the attribute's values \
                 and recreate it",
                c.name,
                c.field,
                c.stored.as_deref().unwrap_or("none"),
                c.given.as_deref().unwrap_or("none"),
                c.origin
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl StoreError {
    /// The error named by its store, once (an error that names a store, a plugin file
    /// or a schema already is left as it is).
    pub(crate) fn in_store(self, store: &str) -> StoreError {
        match self {
            e @ (StoreError::In { .. }
            | StoreError::NewerSchema { .. }
            | StoreError::Migration { .. }
            | StoreError::PluginChanged { .. }) => e,
            e => StoreError::In {
                store: store.to_string(),
                source: Box::new(e),
            },
        }
    }
}
