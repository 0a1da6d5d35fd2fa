//! What stops a run (or a store command) before or after its entities: each error
//! keeps the file, plugin or option it is about, and prints the message users see.

use polyplug_core::{DefinitionsError, ParamsError, PluginError, ReportError, UndefinedOutputs};
use polyplug_runner::input::InputError;
use polyplug_store::StoreError;
use std::path::PathBuf;

/// Why a run, or a store command, cannot go on. (A failing *entity* is not an error:
/// it is recorded and the run goes on.)
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The plugin argument names no plugin, or several.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// A plugin that cannot load, or whose initialize or finalize failed.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// An idsproc-only plugin given as the plugin to run.
    #[error(
        "{}: plugin {id} has no compute function (it is an idsproc plugin: use it with \
         --idsproc)",
        path.display()
    )]
    NoCompute {
        /// The plugin file.
        path: PathBuf,
        /// Its ID.
        id: String,
    },
    /// An `--idsproc` plugin without `compute_id`.
    #[error("{}: --idsproc plugin {id} has no compute_id function", path.display())]
    NoComputeId {
        /// The plugin file.
        path: PathBuf,
        /// Its ID.
        id: String,
    },
    /// A file the run needs that cannot be read.
    #[error("{}: cannot read the {what}: {why}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What it is (`parameters file`, `attribute definitions`, …).
        what: &'static str,
        /// The system's reason.
        why: String,
    },
    /// The plugin file cannot be read to hash it.
    #[error("{}: cannot read: {why}", path.display())]
    Hash {
        /// The plugin file.
        path: PathBuf,
        /// The system's reason.
        why: String,
    },
    /// The shard of a run cannot be told (`--shard`, `--shards`, the scheduler's
    /// variables).
    #[error("cannot tell which shard to compute: {why}")]
    Shard {
        /// What is wrong, and what to give instead.
        why: String,
    },
    /// A run folder (`--run-dir`, `polyplug merge`) that cannot be used.
    #[error("run folder {}: {why}", dir.display())]
    RunDir {
        /// The folder.
        dir: PathBuf,
        /// What is wrong, and what to do.
        why: String,
    },
    /// Parameters refused.
    #[error(transparent)]
    Params(#[from] ParamsError),
    /// Attribute definitions refused.
    #[error(transparent)]
    Definitions(#[from] DefinitionsError),
    /// OUTPUT attributes missing from the definitions.
    #[error("{}: plugin {id}: {why}", path.display())]
    Undefined {
        /// The plugin file.
        path: PathBuf,
        /// Its ID.
        id: String,
        /// Which attributes.
        why: UndefinedOutputs,
    },
    /// The results store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A store URL that does not parse, with where it was given.
    #[error("{given_by}: {source}")]
    StoreUrl {
        /// `--store` or `POLYPLUG_STORE`.
        given_by: &'static str,
        /// Why.
        source: StoreError,
    },
    /// A command that needs a store while `POLYPLUG_STORE=none`.
    #[error("POLYPLUG_STORE=none turns the store off; give the store with --store URL")]
    StoreOff,
    /// A command that reads a store that does not exist.
    #[error(
        "store {store}: no such file; `polyplug run` creates it, or give the store with \
         --store URL or POLYPLUG_STORE"
    )]
    NoStore {
        /// The store's location.
        store: String,
    },
    /// A column number in files mode.
    #[error("a column number is only accepted in ids mode")]
    ColumnInFilesMode,
    /// An output file that cannot be opened.
    #[error("{}: cannot open the {what} file: {why}", path.display())]
    OpenOutput {
        /// The file.
        path: PathBuf,
        /// `results` or `log`.
        what: &'static str,
        /// The system's reason.
        why: String,
    },
    /// A results file another run is appending to.
    #[error(
        "{}: another polyplug run{} is appending to this file; wait until it ends, or give \
         another -o file",
        path.display(),
        holder.map_or(String::new(), |p| format!(" (process {p})"))
    )]
    Busy {
        /// The results file.
        path: PathBuf,
        /// The process holding its lock, when it can be told.
        holder: Option<u32>,
    },
    /// The same run (plugin, VERSION, parameters, input) is running into the same
    /// store in another process.
    #[error(
        "store {store}: the same run is already going on{}: plugin {plugin} {version} \
         with the same parameters over the same input; wait until it ends, or stop it \
         (runs of other plugins, parameters or inputs share the store freely)",
        running.as_ref().map_or(String::new(), |r| format!(
            " (computation {}, process {} on {}, started {})",
            r.uuid, r.pid, r.host, r.started
        ))
    )]
    AlreadyRunning {
        /// The store.
        store: String,
        /// The plugin ID.
        plugin: String,
        /// Its VERSION.
        version: String,
        /// The other run's computation, when the store tells it.
        running: Option<polyplug_store::RunningComputation>,
    },
    /// A `--skip` file that does not exist.
    #[error("{}: the skip list does not exist", path.display())]
    NoSkipList {
        /// The file.
        path: PathBuf,
    },
    /// An existing `-o` file that is not a results file of the plugin.
    #[error(transparent)]
    NotResults(#[from] polyplug_runner::output::NotResults),
    /// The input (an IDs file, a pattern, the skip list) cannot be read.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A file that cannot be written.
    #[error("{}: cannot write: {why}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        why: String,
    },
    /// `polyplug build` given a plugin that is not a source.
    #[error(
        "{}: not a source plugin, nothing to build: `polyplug build` compiles .c, .nim, .rs \
         files",
        path.display()
    )]
    NotSource {
        /// The plugin file.
        path: PathBuf,
    },
    /// A compiled library that cannot be copied out of the cache.
    #[error("{}: cannot copy the library to {}: {why}", plugin.display(), to.display())]
    Copy {
        /// The source plugin.
        plugin: PathBuf,
        /// Where to.
        to: PathBuf,
        /// The system's reason.
        why: String,
    },
    /// A query's `--entities-file` that is missing or empty.
    #[error("{}: the entities file {why}", path.display())]
    EntitiesFile {
        /// The file.
        path: PathBuf,
        /// `does not exist` or `lists no entity`.
        why: &'static str,
    },
    /// A run archive that cannot be written or read.
    #[error("{}: {why}", path.display())]
    Archive {
        /// The archive file.
        path: PathBuf,
        /// What is wrong, and what to do.
        why: String,
    },
    /// A run archive whose computation the store has already.
    #[error(
        "run {uuid} is in {store} already (imported before, or computed there); nothing \
         was imported"
    )]
    AlreadyImported {
        /// The computation's UUID.
        uuid: String,
        /// The store.
        store: String,
    },
    /// The folder of `--log-dir` that cannot be made or written in.
    #[error("--log-dir {}: {why}; give a folder you can write in", path.display())]
    LogDir {
        /// The folder.
        path: PathBuf,
        /// The system's reason.
        why: String,
    },
    /// A file that cannot be created.
    #[error("{}: cannot create: {why}", path.display())]
    Create {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        why: String,
    },
    /// Exported results that cannot be written.
    #[error("cannot write the results: {0}")]
    WriteResults(String),
    /// The results or logs cannot be written (a full disk, a closed pipe).
    #[error("cannot write the outputs: {0}")]
    Outputs(String),
    /// The report cannot be written.
    #[error("{}: cannot write the report: {why}", path.display())]
    WriteReport {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        why: String,
    },
    /// The store's writer thread cannot start.
    #[error("cannot start the store writer thread: {0}")]
    Thread(String),
    /// A computation report that cannot be read.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// A results file (`polyplug load`) that does not fit its report, its plugin or the
    /// store's definitions.
    #[error(transparent)]
    Import(#[from] ImportError),
}

/// Why a `<plugin>` argument does not name exactly one loadable plugin.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResolveError {
    /// A folder given as a path.
    #[error("{arg}: is a folder, not a plugin file")]
    IsFolder {
        /// The argument.
        arg: String,
    },
    /// A path that does not exist.
    #[error("{arg}: no such file")]
    NoSuchFile {
        /// The argument.
        arg: String,
    },
    /// No plugin with this ID (or file stem) in the plugin folders.
    #[error("{}", not_found(arg, searched, known))]
    NotFound {
        /// The argument.
        arg: String,
        /// The folders searched.
        searched: Vec<String>,
        /// The plugins found there: `ID (path)`.
        known: Vec<String>,
    },
    /// Several plugins match.
    #[error(
        "plugin '{arg}' is ambiguous: {} match; give the path of the one to use: {}",
        candidates.len(),
        candidates.join(", ")
    )]
    Ambiguous {
        /// The argument.
        arg: String,
        /// The matches: `ID VERSION (path)`.
        candidates: Vec<String>,
    },
}

fn not_found(arg: &str, searched: &[String], known: &[String]) -> String {
    if known.is_empty() {
        format!(
            "no plugin '{arg}': it is not a file, and no plugin was found in {}; give a path, \
             or set POLYPLUG_PATH to the folder holding the plugin",
            searched.join(", ")
        )
    } else {
        format!(
            "no plugin '{arg}': it is not a file, and no plugin in {} has that ID; known \
             plugins: {}",
            searched.join(", "),
            known.join(", ")
        )
    }
}

/// Why a results file and its report cannot be imported.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    /// The report is of another plugin (ID or VERSION).
    #[error(
        "{report}: {key} is '{got}' but the plugin {} has '{expected}'; give the plugin \
         that computed these results",
        plugin.display()
    )]
    OtherPlugin {
        /// The report file.
        report: String,
        /// `plugin_id` or `plugin_version`.
        key: &'static str,
        /// What the report says.
        got: String,
        /// What the plugin says.
        expected: String,
        /// The plugin file.
        plugin: PathBuf,
    },
    /// A results file without rows.
    #[error("{results}: the results file is empty")]
    Empty {
        /// The results file.
        results: String,
    },
    /// OUTPUT attributes the store does not define.
    #[error(
        "store {store}: attribute(s) {} of plugin {plugin} are not defined in the store; add \
         them with polyplug attrs sync <definitions.yaml>",
        attributes.join(", ")
    )]
    Undefined {
        /// The store.
        store: String,
        /// The attributes.
        attributes: Vec<String>,
        /// The plugin ID.
        plugin: String,
    },
    /// A row with another number of values than the definitions' columns.
    #[error(
        "{results}: line {line}: entity '{entity}' has {found} value(s), the attribute \
         definitions of {output} need {needed}; is this the results file of plugin {plugin}?"
    )]
    Count {
        /// The results file.
        results: String,
        /// 1-based line.
        line: usize,
        /// The entity.
        entity: String,
        /// Values on the line.
        found: usize,
        /// OUTPUT, comma-separated.
        output: String,
        /// Columns defined.
        needed: usize,
        /// The plugin ID.
        plugin: String,
    },
    /// A field that is not of its column's type.
    #[error("{results}: line {line}: entity '{entity}': {column} needs {expected}, got '{got}'")]
    Field {
        /// The results file.
        results: String,
        /// 1-based line.
        line: usize,
        /// The entity.
        entity: String,
        /// `attribute 'x'` or `column 2 of attribute 'x'`.
        column: String,
        /// What the column takes.
        expected: &'static str,
        /// The field.
        got: String,
    },
}
