//! The traits every loader implements, and what a computation returns.

use crate::{OutputSpec, Params, PluginMeta, Record, RecordRef, Value};
use std::path::{Path, PathBuf};

/// What one compute call produced: the values in OUTPUT order (empty for "no result")
/// and the log messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Result values.
    pub values: Vec<Value>,
    /// Log messages, suggested form `key<TAB>message`.
    pub logs: Vec<String>,
}

impl Outcome {
    /// Empties the outcome for reuse, keeping its allocations.
    pub fn clear(&mut self) {
        self.values.clear();
        self.logs.clear();
    }
}

/// Why one entity failed. The run records it and goes on.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityError {
    /// What went wrong, in one line where possible.
    pub message: String,
    /// Logs the plugin emitted before failing; they are kept.
    pub logs: Vec<String>,
    /// Whether the plugin instance is unusable afterwards (a crashed worker, a trapped
    /// sandbox): the runner then starts a fresh instance for the next entity.
    pub instance_lost: bool,
    /// Whether the plugin ran out of memory (Python's `MemoryError`): under
    /// `--max-memory`, the message then says that the limit was reached.
    pub out_of_memory: bool,
}

impl EntityError {
    /// A failure with a message and no logs; the instance stays usable.
    pub fn new(message: impl Into<String>) -> EntityError {
        EntityError {
            message: message.into(),
            logs: Vec::new(),
            instance_lost: false,
            out_of_memory: false,
        }
    }
}

/// A failure that concerns the plugin as a whole (loading, initialize, finalize).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PluginError {
    /// The plugin file.
    pub path: PathBuf,
    /// What went wrong, and what to do about it.
    pub message: String,
}

impl PluginError {
    /// An error about the plugin at `path`.
    pub fn new(path: impl Into<PathBuf>, message: impl Into<String>) -> PluginError {
        PluginError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// One entity as it travels through a run: its ID, and what compute receives when that
/// is something else (the file path in `files` mode, the record's name in `records`
/// mode), and in `records` mode where its record is. One allocation when they are
/// the same, as they are for IDs: a run holds millions of entities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// The ID written in the outputs and used for skipping.
    pub id: String,
    /// What compute receives, when it is not the ID.
    other_input: Option<String>,
    /// The record, in `records` mode.
    record: Option<Box<RecordRef>>,
}

impl Entity {
    /// An entity whose ID is what compute receives.
    pub fn same(id: impl Into<String>) -> Entity {
        Entity {
            id: id.into(),
            other_input: None,
            record: None,
        }
    }

    /// An entity whose compute receives `input` (a file path) and whose results are
    /// written under `id`.
    pub fn with_input(input: String, id: String) -> Entity {
        let other_input = (input != id).then_some(input);
        Entity {
            id,
            other_input,
            record: None,
        }
    }

    /// An entity of `records` mode: compute receives `name` (the record's name in
    /// its file; `None` when it is the ID) and the record at `record`; results are
    /// written under `id`.
    pub fn with_record(name: Option<String>, id: String, record: RecordRef) -> Entity {
        let mut e = match name {
            Some(name) => Entity::with_input(name, id),
            None => Entity::same(id),
        };
        e.record = Some(Box::new(record));
        e
    }

    /// What compute receives: the ID, the file path in `files` mode, the record's
    /// name in `records` mode.
    pub fn input(&self) -> &str {
        self.other_input.as_deref().unwrap_or(&self.id)
    }

    /// What compute receives when it is not the ID (a file path, a record's name).
    pub fn other_input(&self) -> Option<&str> {
        self.other_input.as_deref()
    }

    /// Where the entity's record is, in `records` mode.
    pub fn record(&self) -> Option<&RecordRef> {
        self.record.as_deref()
    }
}

/// The results of a batch, one per entity, in order, and a pool of spare outcomes
/// whose allocations the next results reuse.
///
/// A run of a million trivial entities would otherwise allocate (in the thread that
/// computes) and free (in the thread that records) one `Vec` of values per entity;
/// the runner hands each recorded batch's results back instead ([`recycle`]), so the
/// computing thread fills the same outcomes again ([`outcome`]).
///
/// [`recycle`]: BatchResults::recycle
/// [`outcome`]: BatchResults::outcome
#[derive(Debug, Default)]
pub struct BatchResults {
    results: Vec<Result<Outcome, EntityError>>,
    /// Results of an earlier batch whose outcomes serve again ([`BatchResults::outcome`]),
    /// already cleared; failures among them are dropped when met.
    spare: Vec<Result<Outcome, EntityError>>,
}

impl BatchResults {
    /// No results and no spare outcomes.
    pub fn new() -> BatchResults {
        BatchResults::default()
    }

    /// No results, room for `n` without growing.
    pub fn with_capacity(n: usize) -> BatchResults {
        BatchResults {
            results: Vec::with_capacity(n),
            spare: Vec::new(),
        }
    }

    /// An empty outcome to compute into: a spare one (its allocations kept) when
    /// there is one.
    pub fn outcome(&mut self) -> Outcome {
        while let Some(r) = self.spare.pop() {
            if let Ok(out) = r {
                return out;
            }
        }
        Outcome::default()
    }

    /// Appends the result of the next entity.
    pub fn push(&mut self, result: Result<Outcome, EntityError>) {
        self.results.push(result);
    }

    /// Removes the last result.
    pub fn pop(&mut self) -> Option<Result<Outcome, EntityError>> {
        self.results.pop()
    }

    /// Keeps the first `len` results; the outcomes of the others become spare.
    pub fn truncate(&mut self, len: usize) {
        if len < self.results.len() {
            self.spare
                .extend(self.results.drain(len..).map(|r| r.map(cleared)));
        }
    }

    /// Makes room for `n` more results.
    pub fn reserve(&mut self, n: usize) {
        self.results.reserve(n);
    }

    /// Empties the results for the next batch; their outcomes become spare, cleared
    /// and with their allocations kept. Called by the thread that just read them,
    /// while they are in its cache.
    pub fn recycle(&mut self) {
        for out in self.results.iter_mut().flatten() {
            out.clear();
        }
        if self.spare.is_empty() {
            std::mem::swap(&mut self.results, &mut self.spare);
        } else {
            self.spare.append(&mut self.results);
        }
    }

    /// The results, to take away (the spare outcomes stay).
    pub fn take(&mut self) -> Vec<Result<Outcome, EntityError>> {
        std::mem::take(&mut self.results)
    }
}

/// The outcome, emptied (its allocations kept).
fn cleared(mut out: Outcome) -> Outcome {
    out.clear();
    out
}

impl std::ops::Deref for BatchResults {
    type Target = [Result<Outcome, EntityError>];

    fn deref(&self) -> &Self::Target {
        &self.results
    }
}

impl std::ops::DerefMut for BatchResults {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.results
    }
}

/// A loaded plugin, in any language. Shared by all workers of a run.
///
/// A loader turns a file into a `Plugin`; the runner only ever sees this trait, so it
/// knows nothing about languages.
pub trait Plugin: Send + Sync {
    /// Validated metadata.
    fn meta(&self) -> &PluginMeta;

    /// The plugin's language, for `list` and reports (`native`, `python`, …).
    fn language(&self) -> &str;

    /// The file the plugin was loaded from.
    fn path(&self) -> &Path;

    /// About how long a batch of entities handed to one instance should compute:
    /// long enough that what a batch costs besides its computes (a round trip to a
    /// worker process) is small beside them, short enough that the workers share
    /// the entities evenly and a stop takes effect soon.
    fn batch_time(&self) -> std::time::Duration {
        std::time::Duration::from_millis(2)
    }

    /// Whether the plugin has a compute function (an idsproc-only plugin has none).
    fn has_compute(&self) -> bool {
        true
    }

    /// Which optional functions the plugin defines, for `info` and `check`.
    fn functions(&self) -> Vec<&'static str>;

    /// Departures from the plugin contract that do not stop the plugin from loading
    /// (a Python function signature Prenacs' check-plugin rejects), for `check`.
    fn contract_problems(&self) -> Vec<String> {
        Vec::new()
    }

    /// Starts one instance (one per worker): runs `initialize` with the parameters.
    /// `spec` says how the instance's results will be checked; loaders whose plugins
    /// return text (Bash) use it to give each value the type its column is defined
    /// with.
    fn instantiate(
        &self,
        params: &Params,
        spec: &OutputSpec,
    ) -> Result<Box<dyn Instance>, PluginError>;

    /// Whether the plugin provides `compute_id` (for `--idsproc`).
    fn has_compute_id(&self) -> bool;

    /// Computes the output ID of one input unit (`--idsproc`).
    fn compute_id(&self, unit: &str) -> Result<String, EntityError>;
}

/// One worker's instance of a plugin: initialized, computing entity after entity,
/// finalized once. Used by one thread at a time.
pub trait Instance: Send {
    /// Computes one entity into `out` (cleared by the caller).
    fn compute(&mut self, entity: &str, out: &mut Outcome) -> Result<(), EntityError>;

    /// Computes one record of `records` mode into `out` (cleared by the caller):
    /// `entity` is the record's name, `record` its bytes and fields, read by the
    /// caller (see [`Instance::reads_records`]).
    fn compute_record(
        &mut self,
        entity: &str,
        record: &Record<'_>,
        out: &mut Outcome,
    ) -> Result<(), EntityError> {
        let _ = (entity, record, out);
        Err(EntityError::new(
            "this kind of plugin cannot be given records; run it in ids or files mode",
        ))
    }

    /// Whether [`Instance::compute_batch`] reads the records of `records` mode itself
    /// (a worker process reads them from the files, by [`RecordRef`]); otherwise the
    /// runner reads each record and calls [`Instance::compute_record`].
    fn reads_records(&self) -> bool {
        false
    }

    /// Computes several entities; loaders that cross a process boundary override it
    /// to send one message per batch. Results are pushed in order.
    fn compute_batch(&mut self, entities: &[Entity], results: &mut BatchResults) {
        for e in entities {
            let mut out = results.outcome();
            let r = self.compute(e.input(), &mut out).map(|()| out);
            results.push(r);
        }
    }

    /// Runs `finalize` and releases the instance. Called once, also after failures.
    /// Returns the log messages finalize emitted.
    fn finalize(self: Box<Self>) -> Result<Vec<String>, PluginError>;
}

/// [`Instance::compute`] for instances whose real work is [`Instance::compute_batch`]
/// (one request per batch to a worker process): computes `entity` as a batch of one.
pub fn compute_as_batch<I: Instance + ?Sized>(
    instance: &mut I,
    entity: &str,
    out: &mut Outcome,
) -> Result<(), EntityError> {
    let mut results = BatchResults::with_capacity(1);
    instance.compute_batch(std::slice::from_ref(&Entity::same(entity)), &mut results);
    match results.pop() {
        Some(Ok(o)) => {
            *out = o;
            Ok(())
        }
        Some(Err(e)) => Err(e),
        None => Err(EntityError::new("the plugin's worker returned no result")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cleared_outcome_keeps_its_room_whatever_its_values_held() {
        for values in [
            vec![
                Value::Int(3),
                Value::Float(0.5),
                Value::Null,
                Value::Bool(true),
            ],
            vec![
                Value::Int(3),
                Value::Str("owned".into()),
                Value::List(vec![Value::Str("nested".into())]),
            ],
        ] {
            let mut out = Outcome {
                values,
                logs: vec!["a log".into()],
            };
            let room = out.values.capacity();
            out.clear();
            assert!(out.values.is_empty() && out.logs.is_empty());
            assert_eq!(out.values.capacity(), room);
            out.values.push(Value::Int(1));
            assert_eq!(out.values, [Value::Int(1)]);
        }
    }
}
