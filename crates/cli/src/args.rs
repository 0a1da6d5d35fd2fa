//! Command-line arguments. `run` accepts the arguments of `prenacs batch-compute`.

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
}

/// Input mode of `run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// IDs from a file: one per line, or a column of a TSV file.
    Ids,
    /// File names matching a glob pattern.
    Files,
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
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NewEntities => "new_entities",
            Reason::NewAttributes => "new_attributes",
            Reason::Recompute => "recompute",
        }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Plugin file, or plugin ID found in ./plugins and POLYPLUG_PATH.
    pub plugin: String,
    /// `ids` or `files`.
    #[arg(value_enum)]
    pub mode: Mode,
    /// The IDs file (ids mode) or the glob pattern, quoted (files mode).
    pub target: String,
    /// 1-based column of the IDs in a TSV IDs file (ids mode only).
    pub col: Option<usize>,

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
    /// Per-entity time limit in seconds, for plugins whose loader can stop a running
    /// compute (not native plugins, which run inside the polyplug process).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
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
    /// Print what is being done on stderr.
    #[arg(short = 'v', long)]
    pub verbose: bool,
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
