//! Command-line arguments. `run` accepts the arguments of `prenacs batch-compute`.

pub use crate::args_cluster::*;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// polyplug runs compute plugins written in many languages over many entities (IDs,
/// files, records), recording every result with its provenance.
#[derive(Debug, Parser)]
#[command(name = "polyplug", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a plugin over entities: `run <plugin> ids <idsfile> [<col>]` or
    /// `run <plugin> files <globpattern>` (the arguments of prenacs batch-compute).
    Run(Box<RunArgs>),
    /// List the plugins found in ./plugins and POLYPLUG_PATH (or the given folders).
    List(ListArgs),
    /// Show a plugin's metadata and parameters.
    Info(InfoArgs),
    /// Check a plugin against the plugin contract; exits non-zero on any problem.
    Check(CheckArgs),
    /// Compile source plugins (.c, .nim, .rs) into the cache ahead of time.
    Build(BuildArgs),
    /// Write a working plugin skeleton: `new <language> <name>`.
    New(NewArgs),
    /// The plugin SDK inside this binary (C and WebAssembly headers, Nim module, Bash
    /// helper, Rust crates): `sdk path` writes it into the cache and prints the folder,
    /// `sdk export DIR` copies it.
    #[command(subcommand)]
    Sdk(SdkCommand),
    /// Print a shell completion script: `completions bash|zsh|fish|elvish|powershell`
    /// (for bash: `polyplug completions bash > ~/.local/share/bash-completion/completions/polyplug`).
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per command into a folder.
    Man(ManArgs),
    /// Index record files ahead of a run (records mode does it on first use):
    /// `index <format> <file>...`; prints each file's records and index.
    Index(IndexArgs),
    /// Internal: a worker process of a parallel run (`__worker python`), started by
    /// polyplug itself and driven over its stdin/stdout.
    #[command(name = "__worker", hide = true)]
    Worker(WorkerArgs),
    /// Manage the attribute definitions of the store (Prenacs manage-attributes).
    #[command(subcommand)]
    Attrs(AttrsCommand),
    /// Import a Prenacs results file and its computation report into the store.
    Load(LoadArgs),
    /// Print stored values (entities x attributes) with their provenance.
    Query(QueryArgs),
    /// List or show the computations in the store.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Write a stored computation back as a Prenacs results file and report.
    Export(ExportArgs),
    /// Combine the shards of a run folder (`run --run-dir`) into the outputs of one
    /// run: results in input order, each entity once; the logs; one report.
    Merge(MergeArgs),
    /// Run one run as a Slurm job array of shards, merged at the end: submit, status,
    /// resubmit.
    #[command(subcommand)]
    Slurm(SlurmCommand),
    /// Write a run as Kubernetes Jobs: an Indexed Job of shards, and the merge Job.
    #[command(subcommand)]
    K8s(K8sCommand),
}

/// Where the results store is: `--store URL`, else `POLYPLUG_STORE`, else
/// `polyplug.db` in the working directory.
#[derive(Debug, Args)]
pub struct StoreOpt {
    /// Results store: a SQLite file path or a postgres://user@host:port/db URL
    /// (default: $POLYPLUG_STORE, else ./polyplug.db).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AttrsCommand {
    /// Add the attributes of a definitions file (Prenacs YAML) to the store.
    Sync(AttrsSyncArgs),
    /// List the attributes of the store.
    List(StoreOpt),
}

#[derive(Debug, Args)]
pub struct AttrsSyncArgs {
    /// Attribute definitions file (Prenacs attribute_definitions.yaml format).
    pub definitions: PathBuf,
    /// Also update the text fields (definition, unit, remark, ontology terms) of
    /// attributes already in the store.
    #[arg(long)]
    pub update: bool,
    /// Accept datatype or computation_group changes: such attributes are dropped,
    /// with all their stored values, and recreated.
    #[arg(long)]
    pub drop: bool,
    #[command(flatten)]
    pub store: StoreOpt,
}

#[derive(Debug, Subcommand)]
pub enum SdkCommand {
    /// Write the SDK into polyplug's cache folder (once) and print its path.
    Path,
    /// Copy the SDK into DIR.
    Export(SdkExportArgs),
}

#[derive(Debug, Args)]
pub struct SdkExportArgs {
    /// The folder to write the SDK into (created when missing).
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `polyplug.1` and a page per command (`polyplug-run.1`, …) into this
    /// folder instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IndexArgs {
    /// The format: fasta, fastq, lines, jsonl, csv or tsv.
    pub format: String,
    /// The files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// csv, tsv, jsonl: the column (or member) holding the IDs (default: the first).
    #[arg(long, value_name = "NAME")]
    pub id_column: Option<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Results file (`<id>\t<v1>\t<v2>...`) written by prenacs batch-compute or polyplug run.
    pub results: PathBuf,
    /// The computation report (YAML) of that run.
    pub report: PathBuf,
    /// The plugin that computed the results (file or ID).
    pub plugin: String,
    /// Overwrite the stored description of a plugin whose content changed without a
    /// VERSION change.
    #[arg(long)]
    pub replace_plugin_record: bool,
    #[command(flatten)]
    pub store: StoreOpt,
}

/// Output format of `query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Tab-separated, with a header line.
    Tsv,
    /// Comma-separated (RFC 4180), with a header line.
    Csv,
    /// A JSON array of objects, values typed.
    Json,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Only this entity (repeat for more).
    #[arg(short = 'e', long = "entity", value_name = "ID")]
    pub entities: Vec<String>,
    /// Only the entities listed in this file (one per line, or first TSV column).
    #[arg(long, value_name = "FILE")]
    pub entities_file: Option<PathBuf>,
    /// Only this attribute (repeat, or separate with commas).
    #[arg(
        short = 'a',
        long = "attribute",
        value_name = "NAME",
        value_delimiter = ','
    )]
    pub attributes: Vec<String>,
    /// Only values computed by this plugin ID.
    #[arg(long, value_name = "ID")]
    pub plugin: Option<String>,
    /// Only values computed by this plugin VERSION (with --plugin).
    #[arg(long, value_name = "VERSION", requires = "plugin")]
    pub plugin_version: Option<String>,
    /// Only values of this computation (UUID or a unique prefix).
    #[arg(long, value_name = "UUID")]
    pub computation: Option<String>,
    /// Every stored value, oldest first, not only the current one.
    #[arg(long)]
    pub history: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "tsv")]
    pub format: Format,
    /// Memory for sorting the answer, in MiB; a larger answer is sorted in
    /// temporary files (in TMPDIR) and merged.
    #[arg(long, value_name = "MIB",
          default_value_t = (polyplug_engine::store::QUERY_MEMORY >> 20) as u64,
          value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub sort_memory: u64,
    #[command(flatten)]
    pub store: StoreOpt,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List the computations, oldest first (those with every --tag given, of --plugin,
    /// named --name).
    List(RunsListArgs),
    /// Show one computation: its report, plugin and what is stored.
    Show(RunsShowArgs),
    /// The entities whose values differ between two computations, attribute by
    /// attribute (TSV on stdout: entity, attribute, value in A, value in B; counts on
    /// stderr).
    Diff(RunsDiffArgs),
    /// Write one computation into a new archive file, to hand to a colleague: its
    /// report, provenance, tags, plugin record, parameters, attribute definitions,
    /// values and logs (a SQLite file that `query --store FILE` reads too).
    Export(RunsExportArgs),
    /// Load the computation of an archive (from `runs export`) into the store, with
    /// its provenance as it was; an archive whose run the store has is refused.
    Import(RunsImportArgs),
}

#[derive(Debug, Args)]
pub struct RunsExportArgs {
    /// Computation UUID (or a unique prefix).
    pub uuid: String,
    /// The archive to write (a new file; `.ppa` by convention).
    pub file: PathBuf,
    #[command(flatten)]
    pub store: StoreOpt,
}

#[derive(Debug, Args)]
pub struct RunsImportArgs {
    /// The archive, written by `runs export`.
    pub file: PathBuf,
    #[command(flatten)]
    pub store: StoreOpt,
}

#[derive(Debug, Args)]
pub struct RunsListArgs {
    /// Only the runs with this tag (repeatable: all of them).
    #[arg(long, value_name = "KEY=VALUE")]
    pub tag: Vec<String>,
    /// Only the runs of this plugin ID.
    #[arg(long, value_name = "ID")]
    pub plugin: Option<String>,
    /// Only the runs of this name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    #[command(flatten)]
    pub store: StoreOpt,
}

#[derive(Debug, Args)]
pub struct RunsDiffArgs {
    /// Computation A (UUID or a unique prefix).
    pub a: String,
    /// Computation B.
    pub b: String,
    #[command(flatten)]
    pub store: StoreOpt,
}

#[derive(Debug, Args)]
pub struct RunsShowArgs {
    /// Computation UUID (or a unique prefix).
    pub uuid: String,
    #[command(flatten)]
    pub store: StoreOpt,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Computation UUID (or a unique prefix).
    pub uuid: String,
    /// Write the results here (default: stdout).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the log here: each entity's stored logs and error, as the run's log
    /// had them (default: not written).
    #[arg(short = 'l', long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Write the computation report here (default: not written).
    #[arg(short = 'r', long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreOpt,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The run folder the shards wrote into (`polyplug run ... --run-dir DIR`).
    pub dir: PathBuf,
    /// Write the merged results here (default: DIR/results.tsv).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the merged logs here (default: DIR/log.tsv).
    #[arg(short = 'l', long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Write the merged report here (default: DIR/report.yaml).
    #[arg(short = 'r', long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Merge what there is when some shards did not finish (the report says
    /// `partial`); default: refuse, naming them.
    #[arg(long)]
    pub partial: bool,
    /// The store the shards' own stores (DIR/shard-I/store.db) are imported into
    /// (default: $POLYPLUG_STORE, else ./polyplug.db).
    #[command(flatten)]
    pub store: StoreOpt,
    /// Do not import the shards' stores.
    #[arg(long, conflicts_with = "store")]
    pub no_store: bool,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The kind of worker: `python`, or `guard` (of a Bash worker).
    pub kind: String,
    /// What the worker needs (a guard: the host's PID, a folder, the command).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Input mode of `run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// IDs from a file: one per line, or a column of a TSV file.
    Ids,
    /// File names matching a glob pattern.
    Files,
    /// The records inside files: `records <format> <file>...` (fasta, fastq, lines,
    /// jsonl, csv, tsv).
    Records,
    /// The rows of a SQL query: `sql <url> <query>` (a SQLite file or a postgres://
    /// URL; the first column is the ID).
    Sql,
}

/// How a run shows its progress (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// A bar on a terminal, plain lines otherwise.
    Auto,
    /// The bar (on a terminal only).
    Bar,
    /// A plain line every --progress-every seconds.
    Plain,
    /// Nothing but the summary line at the end.
    None,
}

/// Reason of a computation, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Reason {
    NewEntities,
    NewAttributes,
    Recompute,
}

impl Reason {
    /// The engine's name for it.
    pub fn engine(self) -> polyplug_engine::Reason {
        match self {
            Reason::NewEntities => polyplug_engine::Reason::NewEntities,
            Reason::NewAttributes => polyplug_engine::Reason::NewAttributes,
            Reason::Recompute => polyplug_engine::Reason::Recompute,
        }
    }
}

/// Languages `polyplug new` writes skeletons for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Language {
    /// One `.rs` file using polyplug-sdk, compiled by polyplug on first use.
    Rust,
    /// One `.c` file using polyplug.h, compiled by polyplug on first use.
    C,
    /// One `.nim` file using polyplug.nim, compiled by polyplug on first use.
    Nim,
    /// A Prenacs-style Python module.
    Python,
    /// A MultiPlug/Prenacs-style Bash script.
    Bash,
    /// A WebAssembly module written in C (built with clang --target=wasm32-wasi).
    Wasm,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Plugin file, or plugin ID found in ./plugins and POLYPLUG_PATH.
    pub plugin: String,
    /// `ids`, `files`, `records` or `sql`.
    #[arg(value_enum)]
    pub mode: Mode,
    /// The IDs file (ids mode), the glob pattern, quoted (files mode), the format
    /// (records mode: fasta, fastq, lines, jsonl, csv, tsv), or the database (sql
    /// mode: a SQLite file or a postgres:// URL).
    pub target: String,
    /// ids mode: the 1-based column of the IDs in a TSV IDs file; records mode: the
    /// files; sql mode: the query.
    #[arg(value_name = "COL | FILE | QUERY")]
    pub rest: Vec<String>,
    /// Records mode (csv, tsv, jsonl): the column (or JSON member) holding each
    /// record's ID (default: the first).
    #[arg(long, value_name = "NAME")]
    pub id_column: Option<String>,
    /// Records mode: a record name that appears more than once is numbered after its
    /// first appearance (`name#2`, `name#3`, …) instead of refusing the input.
    #[arg(long)]
    pub allow_duplicate_ids: bool,
    /// Print what the run would do (the plugin, its parameters, how many entities,
    /// how many would be skipped and why, the shard) as YAML; compute nothing, write
    /// no output and nothing into the store.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the IDs of the entities the run would compute, one per line; compute
    /// nothing (with --dry-run, the plan goes to stderr).
    #[arg(long)]
    pub list: bool,
    /// A name for the run, stored with its computation (`runs list --name`).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// A tag for the run, stored with its computation (repeatable; `runs list --tag`).
    #[arg(long, value_name = "KEY=VALUE")]
    pub tag: Vec<String>,
    /// Compute only this entity (repeat for more), in the foreground, to debug it: one
    /// worker, its output shown as it comes, errors in full (a Python traceback, a
    /// WebAssembly backtrace), results on stdout, nothing skipped and nothing stored
    /// (unless --store is given).
    #[arg(long, value_name = "ID")]
    pub only: Vec<String>,
    /// Bash plugins: trace each compute with `set -x` (shown with its errors).
    #[arg(long)]
    pub trace: bool,
    /// Write what the plugin prints while computing each entity into DIR/<entity>.out
    /// (standard output) and DIR/<entity>.err (standard error) instead of polyplug's
    /// stderr; empty ones are not written. Names that are not plain (a `/`, a space, a
    /// leading `.`, over 200 bytes) get `_` for each such character and `~<hash>`.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// The live status on stderr: a bar (with the entities running longest and the
    /// last failure), a plain line every --progress-every seconds, or none; auto: a
    /// bar on a terminal, plain lines otherwise.
    #[arg(long, value_enum, default_value = "auto", value_name = "HOW")]
    pub progress: ProgressMode,
    /// Seconds between two plain progress lines.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub progress_every: f64,

    /// Files mode: leave out the files this pattern matches (repeatable): a pattern
    /// without a `/` is matched against each file's name (`--exclude '*.tmp'`), one
    /// with a `/` against the whole path (`--exclude 'data/old/**'`).
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Plugin providing compute_id(unit) -> ID, to edit the IDs used in the results
    /// and for skipping (and, in ids mode, passed to compute).
    #[arg(long, value_name = "PLUGIN")]
    pub idsproc: Option<String>,
    /// Skip units whose ID is in this file (one ID per line, or TSV with IDs first).
    #[arg(short = 's', long, value_name = "FILE")]
    pub skip: Option<PathBuf>,
    /// Append results to this file (default: stdout); an existing file is also the
    /// skip list unless --skip is given.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Append logs to this file (default: stderr).
    #[arg(short = 'l', long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Write the computation report to this file (default: stderr).
    #[arg(short = 'r', long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// YAML file with the plugin's parameters (name: value).
    #[arg(long, value_name = "FILE")]
    pub params: Option<PathBuf>,
    /// Attribute definitions (Prenacs YAML) to check results against (default:
    /// attribute_definitions.yaml beside the plugin, if there is one).
    #[arg(long, value_name = "FILE")]
    pub defs: Option<PathBuf>,
    /// user_id for the report (default: the current user).
    #[arg(long)]
    pub user: Option<String>,
    /// system_id for the report (default: the host name).
    #[arg(long)]
    pub system: Option<String>,
    /// reason field for the report.
    #[arg(long, value_enum)]
    pub reason: Option<Reason>,
    /// Run in one worker (same as -j1).
    #[arg(long)]
    pub serial: bool,
    /// Number of workers (default: the number of cores).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Per-entity time limit in seconds, or `none` for no limit (default 600, or
    /// POLYPLUG_TIMEOUT): an entity that overruns it fails and the run goes on.
    /// Refused for native and Python plugins with --in-process, which nothing can stop.
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    pub timeout: Option<String>,
    /// Let WebAssembly plugins read the folder DIR (DIR:rw: also write). Repeatable.
    #[arg(long, value_name = "DIR[:rw]")]
    pub allow_dir: Vec<String>,
    /// Memory cap of each WebAssembly instance, in MiB (default 512).
    #[arg(long, value_name = "MIB")]
    pub wasm_memory: Option<u64>,
    /// Fuel of each WebAssembly call (about one unit per instruction): a
    /// deterministic limit on work, next to --timeout.
    #[arg(long, value_name = "UNITS")]
    pub fuel: Option<u64>,
    /// Stop at the first entity that fails (default: record it and go on).
    #[arg(long)]
    pub halt_on_error: bool,
    /// Compute an ID the input gives more than once only once (default: refuse such
    /// an input before any work, listing the repeats).
    #[arg(long)]
    pub allow_duplicates: bool,
    /// Memory limit of each worker process, in MiB (native, Python and Bash plugins;
    /// the instance cap of WebAssembly ones): an allocation past it fails its entity
    /// as out of memory instead of the machine swapping.
    #[arg(long, value_name = "MIB")]
    pub max_memory: Option<u64>,
    /// Compute a failed entity again up to N times before it counts as failed (on a
    /// fresh plugin instance after a crash); the log keeps every attempt.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retries: u32,
    /// Stop once N entities failed, or P% of those computed so far (judged from 100
    /// entities on); the rest is left for a rerun.
    #[arg(long, value_name = "N|P%", allow_hyphen_values = true)]
    pub max_failures: Option<String>,
    /// Compute only shard I of N (0-based): the entities whose ID hashes to I
    /// (XXH3-64 of the ID, mod N), whatever their order; the N shards cover every
    /// entity once. Default: the Slurm array task (SLURM_ARRAY_TASK_ID of
    /// SLURM_ARRAY_TASK_COUNT) when run as one; `all` computes every entity.
    #[arg(long, value_name = "I/N|all")]
    pub shard: Option<String>,
    /// The number of shards when the scheduler gives only the index (a Kubernetes
    /// Indexed Job's JOB_COMPLETION_INDEX, or a Slurm array split in parts).
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
    /// Write the outputs into the run folder DIR, in DIR/shard-I/ (results.tsv,
    /// log.tsv, report.yaml, and store.db when no --store is given), for `polyplug
    /// merge DIR`; DIR/run.yaml records what the run is, so that shards of another
    /// run are refused. Replaces -o, -l and -r.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["out", "log", "report"])]
    pub run_dir: Option<PathBuf>,
    /// The logical run this computation is part of, recorded with it: the same for
    /// every shard of one submission (`polyplug slurm submit` sets it).
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// Run native and Python plugins inside the polyplug process instead of worker
    /// processes: the fastest path, but a crash of the plugin (a segfault, an abort,
    /// exit) ends the run, and --timeout cannot stop them.
    #[arg(long)]
    pub in_process: bool,
    /// Print what is being done on stderr.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Python plugins: a folder to import packages from, or a virtualenv whose
    /// site-packages to use (repeatable; also POLYPLUG_PYTHON_PATH; VIRTUAL_ENV is
    /// always used).
    #[arg(long, value_name = "DIR")]
    pub python_path: Vec<std::path::PathBuf>,
    #[command(flatten)]
    pub store: StoreOpt,
    /// Do not record the results in the store.
    #[arg(long, conflicts_with = "store")]
    pub no_store: bool,
    /// Compute entities the store already has from the same plugin ID, VERSION and
    /// parameters (the new values become current; the old ones stay in the history).
    #[arg(long)]
    pub force: bool,
    /// Overwrite the stored description of a plugin whose content changed without a
    /// VERSION change.
    #[arg(long)]
    pub replace_plugin_record: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Folders to search instead of ./plugins and POLYPLUG_PATH.
    pub dirs: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Plugin file or ID.
    pub plugin: String,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Plugin file or ID.
    pub plugin: String,
    /// Attribute definitions file: every OUTPUT attribute must be defined there.
    pub definitions: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Source plugin files (.c, .nim, .rs), or plugin IDs.
    #[arg(required = true)]
    pub plugins: Vec<String>,
    /// Recompile even when the cache holds a library for this source and compiler.
    #[arg(long)]
    pub force: bool,
    /// Also copy the compiled library to this file (one plugin only).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's language.
    #[arg(value_enum)]
    pub language: Language,
    /// The plugin's name: its ID and file name (letters, digits and _, not starting
    /// with a digit).
    pub name: String,
    /// Folder to create (default: ./<name>); it must not exist yet.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// rust: a cargo crate (Cargo.toml, src/lib.rs) with the SDK as a path
    /// dependency, instead of a single source file.
    #[arg(long)]
    pub cargo: bool,
}
