//! Which results store a command uses: `--store URL`, else `POLYPLUG_STORE`, else
//! `./polyplug.db`; `POLYPLUG_STORE=none` (or `--no-store`) turns it off for runs.

use crate::{EngineError, StoreChoice};
use polyplug_store::{Location, Store};
use std::path::Path;

/// The value of `POLYPLUG_STORE` that turns the store off.
const OFF: &str = "none";

/// The store location of a command given `--store` (or not).
pub fn location(store: Option<&str>) -> Result<Location, EngineError> {
    let url_error = |given_by| move |source| EngineError::StoreUrl { given_by, source };
    match store {
        Some(url) => Location::parse(url).map_err(url_error("--store")),
        None => match std::env::var("POLYPLUG_STORE") {
            Ok(url) if url.trim() == OFF => Err(EngineError::StoreOff),
            Ok(url) if !url.trim().is_empty() => {
                Location::parse(&url).map_err(url_error("POLYPLUG_STORE"))
            }
            _ => Ok(Location::default_sqlite()),
        },
    }
}

/// The store a run records into, or `None` when it is off.
pub fn run_location(choice: &StoreChoice) -> Result<Option<Location>, EngineError> {
    match choice {
        StoreChoice::Off => Ok(None),
        StoreChoice::Url(url) => location(Some(url)).map(Some),
        StoreChoice::FromEnv => match location(None) {
            Err(EngineError::StoreOff) => Ok(None),
            other => other.map(Some),
        },
    }
}

/// Opens the store for a command that only reads it: a missing SQLite file is an
/// error, not a new empty store.
pub fn open_existing(store: Option<&str>) -> Result<Store, EngineError> {
    let loc = location(store)?;
    if !Store::exists(&loc) {
        return Err(EngineError::NoStore {
            store: loc.display(),
        });
    }
    Ok(Store::open(&loc)?)
}

/// Opens the store, creating it if needed.
pub fn open_or_create(store: Option<&str>) -> Result<Store, EngineError> {
    Ok(Store::open(&location(store)?)?)
}

/// The entities an `--entities-file` lists (one per line, or the first column of a
/// TSV file), for a query; a missing or empty file is an error.
pub fn entities_file(path: &Path) -> Result<Vec<String>, EngineError> {
    if !path.is_file() {
        return Err(EngineError::EntitiesFile {
            path: path.to_path_buf(),
            why: "does not exist",
        });
    }
    let mut entities = Vec::new();
    polyplug_runner::input::read_id_list(path, |e| entities.push(e.to_string()))?;
    if entities.is_empty() {
        return Err(EngineError::EntitiesFile {
            path: path.to_path_buf(),
            why: "lists no entity",
        });
    }
    Ok(entities)
}
