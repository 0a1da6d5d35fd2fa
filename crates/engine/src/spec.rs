//! What a run is asked to do ([`RunSpec`], plain data, the arguments of `polyplug run`)
//! and what it is given to talk to the world with ([`RunIo`]).

use polyplug_core::{Console, DirGrant, Timeout};
use polyplug_runner::{FailureBudget, Progress};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;

/// Where the entities of a run come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// `ids <idsfile> [<col>]`: one ID per line, or column `column` (1-based) of a TSV.
    Ids {
        /// The IDs file.
        path: PathBuf,
        /// The 1-based column; `None` is the first.
        column: Option<usize>,
    },
    /// `files <globpattern>`: the matching files, sorted by name.
    Files {
        /// The pattern.
        pattern: String,
        /// A column given in files mode: refused, with a clear error.
        column: Option<usize>,
        /// `--exclude` patterns (see `polyplug_runner::input::Source::Files`).
        exclude: Vec<String>,
    },
    /// `records <format> <file>...`: the records inside the files.
    Records {
        /// The format of every file.
        format: polyplug_core::RecordFormat,
        /// The files, in order.
        files: Vec<PathBuf>,
        /// The column (CSV, TSV) or member (JSONL) of the IDs (`--id-column`);
        /// `None`: the first.
        id_column: Option<String>,
    },
    /// `sql <url> <query>`: the rows of a query; the first column is the ID.
    Sql {
        /// A SQLite file (`sqlite:PATH` or a path) or a `postgres://` URL.
        url: String,
        /// The query.
        query: String,
    },
}

impl Input {
    /// Where the records of records mode are.
    pub fn record_source(&self) -> Option<polyplug_core::RecordSource> {
        match self {
            Input::Records {
                format,
                files,
                id_column,
            } => Some(polyplug_core::RecordSource {
                format: *format,
                files: files.clone(),
                id_column: id_column.clone(),
            }),
            _ => None,
        }
    }
}

/// Which results store a run records into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StoreChoice {
    /// `POLYPLUG_STORE` if set (`none` turns the store off), else `./polyplug.db`.
    #[default]
    FromEnv,
    /// This URL (`--store`): a SQLite path or a `postgres://` URL.
    Url(String),
    /// No store (`--no-store`).
    Off,
}

/// The `reason` of a computation, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// `new_entities`.
    NewEntities,
    /// `new_attributes`.
    NewAttributes,
    /// `recompute`.
    Recompute,
}

impl Reason {
    /// The name written in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NewEntities => "new_entities",
            Reason::NewAttributes => "new_attributes",
            Reason::Recompute => "recompute",
        }
    }
}

/// A run, as `polyplug run` is given it: plain data, every option of
/// `prenacs batch-compute` and polyplug's own. [`RunSpec::new`] fills in the defaults.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// A plugin file, or a plugin ID (or file stem) found in the plugin folders.
    pub plugin: String,
    /// The entities.
    pub input: Input,
    /// A plugin whose `compute_id` gives the IDs (`--idsproc`).
    pub idsproc: Option<String>,
    /// Skip the units whose ID is in this file (`-s`); default: the results file.
    pub skip: Option<PathBuf>,
    /// Append results here (`-o`); default: [`RunIo::results`].
    pub out: Option<PathBuf>,
    /// Append logs here (`-l`); default: [`RunIo::log`].
    pub log: Option<PathBuf>,
    /// Write the report here (`-r`); default: [`RunIo::report`].
    pub report: Option<PathBuf>,
    /// The parameters file (`--params`, YAML).
    pub params: Option<PathBuf>,
    /// Attribute definitions (`--defs`); default: `attribute_definitions.yaml` beside
    /// the plugin, else the store's.
    pub defs: Option<PathBuf>,
    /// `user_id` of the report; default: the current user.
    pub user: Option<String>,
    /// `system_id` of the report; default: the host name.
    pub system: Option<String>,
    /// `reason` of the report.
    pub reason: Option<Reason>,
    /// Workers; `None`: the number of cores.
    pub jobs: Option<usize>,
    /// Per-entity time limit (`--timeout`; by default [`polyplug_core::DEFAULT_TIMEOUT`]
    /// wherever a compute can be stopped).
    pub timeout: Timeout,
    /// Folders a sandboxed plugin may use (`--allow-dir`).
    pub allow_dirs: Vec<DirGrant>,
    /// Memory cap of a sandboxed instance, MiB (`--wasm-memory`).
    pub wasm_memory_mib: Option<u64>,
    /// Fuel of each sandboxed call (`--fuel`).
    pub fuel: Option<u64>,
    /// Where Python plugins import from (`--python-path`).
    pub python_path: Vec<PathBuf>,
    /// Stop at the first failing entity (`--halt-on-error`).
    pub halt_on_error: bool,
    /// Memory limit of each worker process (or WebAssembly instance), in MiB
    /// (`--max-memory`).
    pub max_memory_mib: Option<u64>,
    /// Compute an ID the input gives more than once only once, instead of refusing
    /// the input (`--allow-duplicates`).
    pub allow_duplicates: bool,
    /// The run's name (`--name`), stored with the computation.
    pub name: Option<String>,
    /// Its tags (`--tag key=value`), stored with the computation.
    pub tags: Vec<(String, String)>,
    /// Compute only these entities (`--only`), in the foreground, with errors in full.
    pub only: Vec<String>,
    /// Trace Bash computes with `set -x` (`--trace`).
    pub trace: bool,
    /// Records mode: give a record name that repeats a number after its first
    /// appearance (`name#2`, …) instead of refusing the input
    /// (`--allow-duplicate-ids`).
    pub allow_duplicate_ids: bool,
    /// Compute a failed entity again up to this many times (`--retries`).
    pub retries: u32,
    /// Stop once this many entities failed (`--max-failures`).
    pub max_failures: Option<FailureBudget>,
    /// Which part of the entities to compute (`--shard`, `--shards`, or the
    /// scheduler's task index).
    pub shard: crate::ShardChoice,
    /// The logical run this computation is part of, shared by the shards of one
    /// submission (`--run-id`); recorded with the computation.
    pub run_id: Option<String>,
    /// A run folder (`--run-dir`): the outputs go to its `shard-I/` folder (and the
    /// store too, when none is given), and its manifest says what the run is.
    pub run_dir: Option<PathBuf>,
    /// The results store.
    pub store: StoreChoice,
    /// Recompute what the store has (`--force`).
    pub force: bool,
    /// Accept a plugin file changed without a VERSION change (`--replace-plugin-record`).
    pub replace_plugin_record: bool,
    /// Say what is being done, on the console (`-v`).
    pub verbose: bool,
    /// Run native and Python plugins inside the polyplug process (`--in-process`):
    /// the fastest, but a crash of the plugin ends the run.
    pub in_process: bool,
    /// Each entity's plugin output in its own files in this folder (`--log-dir`):
    /// `<entity>.out` and `<entity>.err`, see `polyplug_core::entity_log`.
    pub log_dir: Option<PathBuf>,
    /// The program that runs worker processes (`<program> __worker python`): the
    /// polyplug binary. Without it, Python plugins run in this process and a time
    /// limit on them is refused.
    pub worker_program: Option<PathBuf>,
}

impl RunSpec {
    /// A run of `plugin` over `input` with every option at its default.
    pub fn new(plugin: impl Into<String>, input: Input) -> RunSpec {
        RunSpec {
            plugin: plugin.into(),
            input,
            idsproc: None,
            skip: None,
            out: None,
            log: None,
            report: None,
            params: None,
            defs: None,
            user: None,
            system: None,
            reason: None,
            jobs: None,
            timeout: Timeout::default(),
            allow_dirs: Vec::new(),
            wasm_memory_mib: None,
            fuel: None,
            python_path: Vec::new(),
            halt_on_error: false,
            max_memory_mib: None,
            allow_duplicates: false,
            allow_duplicate_ids: false,
            name: None,
            tags: Vec::new(),
            only: Vec::new(),
            trace: false,
            retries: 0,
            max_failures: None,
            shard: crate::ShardChoice::FromScheduler,
            run_id: None,
            run_dir: None,
            store: StoreChoice::FromEnv,
            force: false,
            replace_plugin_record: false,
            verbose: false,
            in_process: false,
            log_dir: None,
            worker_program: None,
        }
    }
}

/// What a run talks to the world with: where results, logs and the report go when no
/// file is given, where notes go, how progress is shown and how it is stopped. The
/// engine itself never prints.
pub struct RunIo<'a> {
    /// Results when [`RunSpec::out`] is not given (the command line: stdout).
    pub results: Box<dyn Write + 'a>,
    /// Logs when [`RunSpec::log`] is not given (the command line: stderr).
    pub log: Box<dyn Write + 'a>,
    /// The report when [`RunSpec::report`] is not given (the command line: stderr).
    pub report: Box<dyn Write + 'a>,
    /// Notes (`polyplug: …` on the command line), plugin output, and with
    /// [`RunSpec::verbose`] what is being done.
    pub console: Arc<dyn Console>,
    /// Told of the run's progress (the command line draws a bar on a terminal).
    pub progress: Option<Arc<dyn Progress>>,
    /// Set from outside (a signal) to stop the run: what was computed is kept, the
    /// workers finalize and the report is written.
    pub stop: Arc<AtomicBool>,
    /// The exit status the signal that set [`RunIo::stop`] asks for (128 + its
    /// number; 0: none, or not told), for the state file of a shard in a run folder.
    pub signal: Arc<AtomicUsize>,
    /// Called once, when everything is set up and the entities start being computed:
    /// the command line installs its Ctrl-C handler then (before, an interrupt simply
    /// ends the process, and nothing was recorded).
    pub started: Option<Box<dyn FnOnce() + 'a>>,
}
