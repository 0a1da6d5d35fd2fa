/*!
Runs Bash compute plugins: scripts following the MultiPlug/Prenacs conventions, hosted
in `bash` worker processes.

A Bash plugin is a script that, when sourced, defines the Prenacs constants as shell
variables (`ID="wc"`, `OUTPUT=( "lines" "words" )`, `PARAMETERS=( "min\tint\t0\tdoc" )`)
and the functions `compute`, optionally `initialize` and `finalize`, and `compute_id`
for an `--idsproc` plugin. [`load`] reads the constants with one bash invocation and
returns a [`BashPlugin`]; each worker of a run then gets its own bash process.

# How a call looks to the script

compute is called as `compute <entity> key=value … [state=<initialize's output>]`;
its standard output is its return: the first line holds the TAB-separated values (an
empty first line: no result for this entity), every further non-empty line is one log
message (TABs kept, `key<TAB>message` stays one log row). A non-zero status fails the
entity, and its stderr goes into the log. initialize prints the state; finalize gets
it as `$1` and its output lines are logged.

Keyword values are written so that the usual `for kw in $*; do eval $kw; done` is safe
(see [`keyword_word`]): plain values as they are (`min_length=100`), anything else in
ANSI-C quoting with every other byte escaped (`label=$'a\x20b'`). Entities are passed
as one argument, never evaluated.

# Persistent and re-sourced workers

By default a worker sources the script once in one long-lived bash process and calls
compute for entity after entity in it (a batch of requests at a time, no process per entity). A
script that sets `POLYPLUG_PERSISTENT=0` is sourced again, in a fresh subshell, for
every call, as MultiPlug does. Either way the framing cannot be corrupted by the
script: requests and answers travel on file descriptors 57 and 58, which are closed
while plugin code runs, stdin is `/dev/null`, and a batch's calls write their stdout
and stderr to two files (in `$TMPDIR`, or `/dev/shm` when it is unset), split by the
host at separator lines the driver adds after each call, which carry a random token. What the script prints while being sourced is shown on
stderr. A call that outlives the timeout has its worker's process group killed (with
its background jobs); the worker is replaced (the script sourced again, with the same
parameters and state, initialize not run again) and the run goes on. So is a worker
whose compute ran `exit` (or failed under `set -e`): the entity gets that status.

The main types: [`load`] gives a [`BashPlugin`] (shared by the run's workers, and
running `compute_id` for `--idsproc`); its instances each own one worker process; the
`driver.bash` and `reader.bash` scripts embedded in this crate are the bash side of
the protocol. Names starting with `__pp_` are reserved for them.

```no_run
use polyplug_core::{LoadOptions, OutputSpec, Params, Plugin, Timeout};
use polyplug_loader_bash::load;
use std::time::Duration;

let options = LoadOptions { timeout: Timeout::Given(Duration::from_secs(5)), ..LoadOptions::default() };
let plugin = load("plugins/wc.sh".as_ref(), &options)?;
let spec = OutputSpec::untyped(&plugin.meta().output);
let mut instance = plugin.instantiate(&Params::empty(), &spec)?;
let mut out = polyplug_core::Outcome::default();
instance.compute("genome.fa", &mut out).ok();
instance.finalize()?;
# Ok::<(), polyplug_core::PluginError>(())
```

Bash plugins run with the user's rights; this crate isolates them from polyplug
(a crash, a hang or an `exit` costs one entity) but does not sandbox them.
*/
#![deny(missing_docs)]

mod batch;
mod guard;
mod instance;
mod meta;
mod text;
mod worker;

use polyplug_core::{
    ColumnKind, Console, EntityError, Instance, LoadOption, LoadOptions, OutputSpec, Params,
    Plugin, PluginError, PluginMeta, Timeout,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use worker::{Ending, Mode, Op, Worker};

/// File extensions of Bash plugins.
pub const EXTENSIONS: &[&str] = &["sh"];

/// How long sourcing a script to read its constants may take when no timeout is set.
const DEFAULT_SCAN_TIMEOUT: Duration = Duration::from_secs(60);

/// The options a Bash plugin honours: a time limit on every call (a call that takes
/// longer has its worker killed and replaced, and fails its entity) and a memory
/// limit on each worker (and what it starts). Bash plugins are not sandboxed.
pub const SUPPORTED: &[LoadOption] = &[
    LoadOption::Timeout,
    LoadOption::MaxMemory,
    LoadOption::LogDir,
];

pub use guard::{guard_main, GuardEnd};
pub use text::keyword_word;

/// Reads a Bash compute's answer (its standard output) as the worker does: for the
/// fuzz targets (`fuzz/`), not an API.
#[doc(hidden)]
pub fn fuzz_parse_output(
    stdout: &[u8],
    kinds: Option<&[polyplug_core::ColumnKind]>,
) -> Result<polyplug_core::Outcome, String> {
    let mut out = polyplug_core::Outcome::default();
    text::parse_output(stdout, kinds, &mut out).map(|()| out)
}

/// What the plugin and all its instances share.
struct Shared {
    /// The script as the user named it.
    path: PathBuf,
    /// The script as bash sources it (never looked up in PATH).
    source_path: PathBuf,
    id: String,
    mode: Mode,
    /// The run's time limit (enforced per call: `timeout.limit()`).
    timeout: Timeout,
    /// The memory limit of each worker, in MiB (`--max-memory`).
    max_memory_mib: Option<u64>,
    has_initialize: bool,
    has_finalize: bool,
    /// Where what the script prints on stderr goes.
    console: Arc<dyn Console>,
    /// The polyplug binary, which runs a worker's guard (`__worker guard`).
    guard: Option<PathBuf>,
    /// Computes traced with `set -x` (`--trace`).
    trace: bool,
    /// Each compute's stderr goes to the entity's `.err` file here (`--log-dir`)
    /// rather than to the console.
    log_dir: Option<PathBuf>,
}

/// A loaded Bash plugin.
pub struct BashPlugin {
    shared: Arc<Shared>,
    meta: PluginMeta,
    has_compute: bool,
    has_compute_id: bool,
    /// The worker that computes IDs for `--idsproc`, started on first use.
    ids_worker: Mutex<Option<Worker>>,
}

impl std::fmt::Debug for BashPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BashPlugin({})", self.shared.path.display())
    }
}

impl BashPlugin {
    /// Whether each worker keeps one bash process (`true`, the default) or the script
    /// is sourced again for every call (`POLYPLUG_PERSISTENT=0`).
    pub fn persistent(&self) -> bool {
        self.shared.mode == Mode::Persistent
    }
}

/// Loads the Bash plugin at `path`: sources it once in `bash` to read its constants
/// and functions, and validates them.
///
/// Errors name the file and list every problem, with what bash printed when the
/// script itself is broken (a syntax error, an `exit` at its top level).
pub fn load(path: &Path, options: &LoadOptions) -> Result<BashPlugin, PluginError> {
    let err = |m: String| PluginError::new(path, m);
    options.refuse_unsupported(path, "a Bash plugin", SUPPORTED)?;
    if !path.is_file() {
        return Err(err("no such file".into()));
    }
    // `source name` would search PATH first when the name has no slash.
    let source_path = if path.components().count() == 1 && path.is_relative() {
        Path::new(".").join(path)
    } else {
        path.to_path_buf()
    };
    let scanned = meta::scan(
        &source_path,
        path,
        options.timeout.given().unwrap_or(DEFAULT_SCAN_TIMEOUT),
    )
    .map_err(err)?;
    let has = |f: &str| scanned.functions.iter().any(|g| g == f);
    Ok(BashPlugin {
        shared: Arc::new(Shared {
            path: path.to_path_buf(),
            source_path,
            id: scanned.meta.id.clone(),
            mode: scanned.mode,
            timeout: options.timeout,
            max_memory_mib: options.max_memory_mib,
            has_initialize: has("initialize"),
            has_finalize: has("finalize"),
            console: options.console.clone(),
            guard: options.worker_program.clone(),
            trace: options.trace,
            log_dir: options.log_dir.clone(),
        }),
        has_compute: has("compute"),
        has_compute_id: has("compute_id"),
        meta: scanned.meta,
        ids_worker: Mutex::new(None),
    })
}

impl Plugin for BashPlugin {
    fn meta(&self) -> &PluginMeta {
        &self.meta
    }

    /// A batch costs its worker a few dozen system calls (its request file, its two
    /// output files, the answer) and a round trip to the host, about what a few
    /// trivial computes cost: longer batches than the default make that small.
    fn batch_time(&self) -> std::time::Duration {
        std::time::Duration::from_millis(20)
    }

    fn language(&self) -> &str {
        "bash"
    }

    fn path(&self) -> &Path {
        &self.shared.path
    }

    fn has_compute(&self) -> bool {
        self.has_compute
    }

    fn functions(&self) -> Vec<&'static str> {
        let mut f = Vec::new();
        if self.shared.has_initialize {
            f.push("initialize");
        }
        if self.has_compute {
            f.push("compute");
        }
        if self.shared.has_finalize {
            f.push("finalize");
        }
        if self.has_compute_id {
            f.push("compute_id");
        }
        f
    }

    fn instantiate(
        &self,
        params: &Params,
        spec: &OutputSpec,
    ) -> Result<Box<dyn Instance>, PluginError> {
        if !self.has_compute {
            return Err(PluginError::new(
                &self.shared.path,
                "the script defines no compute function (it is an idsproc plugin: use it with --idsproc)",
            ));
        }
        // The column types the attribute definitions give: text fields become values
        // of those types.
        let kinds = spec.n_columns().map(|n| {
            (0..n)
                .map(|i| spec.column_kind(i).unwrap_or(ColumnKind::Any))
                .collect()
        });
        Ok(Box::new(instance::BashInstance::start(
            self.shared.clone(),
            params,
            kinds,
        )?))
    }

    fn has_compute_id(&self) -> bool {
        self.has_compute_id
    }

    fn compute_id(&self, unit: &str) -> Result<String, EntityError> {
        if !self.has_compute_id {
            return Err(EntityError::new(
                "the script defines no compute_id function",
            ));
        }
        let mut guard = self
            .ids_worker
            .lock()
            .map_err(|_| EntityError::new("the idsproc worker is unusable after a crash"))?;
        if guard.as_ref().is_some_and(Worker::ended) {
            *guard = None;
        }
        let w = match guard.as_mut() {
            Some(w) => w,
            None => {
                let (w, source_output) = Worker::spawn(
                    &self.shared.source_path,
                    self.shared.mode,
                    self.shared.timeout.limit(),
                    self.shared.max_memory_mib,
                    &self.shared.console,
                    self.shared.guard.as_deref(),
                    false,
                )
                .map_err(EntityError::new)?;
                instance::forward_stderr(&self.shared, "sourcing", &source_output);
                guard.insert(w)
            }
        };
        let out = w.call(Op::ComputeId, unit, self.shared.timeout.limit());
        if w.ended() {
            *guard = None;
        }
        if !out.ending.success() {
            let logs = text::lines(&out.stderr);
            let mut message = format!(
                "compute_id {}",
                out.ending
                    .describe(self.shared.timeout, self.shared.max_memory_mib)
            );
            if let (Ending::Returned(_), Some(last)) = (out.ending, logs.last()) {
                message.push_str(": ");
                message.push_str(last);
            }
            return Err(EntityError {
                message,
                logs,
                instance_lost: false,
                out_of_memory: false,
            });
        }
        let id = String::from_utf8(out.stdout)
            .map_err(|_| EntityError::new("compute_id printed an ID that is not UTF-8 text"))?;
        let id = id.trim_end_matches(['\n', '\r']);
        if id.is_empty() {
            return Err(EntityError::new(
                "compute_id printed nothing; print the ID on standard output",
            ));
        }
        if id.contains(['\n', '\t']) {
            return Err(EntityError::new(format!(
                "compute_id printed more than one line or a TAB ({id:?}); print only the ID"
            )));
        }
        Ok(id.to_string())
    }
}
