//! Records mode in the engine: the files' indexes, checked or made where they are
//! missing or out of date, in the cache folder when the data's folder is read-only.

use crate::EngineError;
use polyplug_core::{CacheRoot, Console, RecordSource};
use polyplug_records::Catalog;
use polyplug_runner::input::InputError;

/// The records of `source`, their indexes ready; what indexing did is noted on the
/// console.
pub fn catalog(source: &RecordSource, console: &dyn Console) -> Result<Catalog, EngineError> {
    // Indexes go to `<cache>/records/` when the data's folder is read-only.
    let cache = CacheRoot::from_env()
        .map(|c| c.path)
        .unwrap_or_else(|_| std::env::temp_dir().join("polyplug-cache"));
    Catalog::open(source, &cache, &mut |note| console.note(note))
        .map_err(|e| EngineError::Input(InputError::from(e)))
}
