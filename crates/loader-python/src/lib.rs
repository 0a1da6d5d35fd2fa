/*!
Runs Python plugins — Prenacs plugins, unchanged — in an embedded CPython.

A Python plugin is a `.py` module with the Prenacs constants (`ID`, `VERSION`, `INPUT`,
`OUTPUT`, `PARAMETERS`, …) and functions (`initialize(**params) -> state`,
`compute(entity, state=…, **params) -> (results, logs)`, `finalize(state)`,
`compute_id(unit)`). [`load`] imports it into the interpreter polyplug embeds (the
CPython it was built against, see [Interpreter](#interpreter) below), validates its metadata
and returns a [`polyplug_core::Plugin`]. Compiled Prenacs plugins — CPython extension
modules written in Nim (nimpy) or Rust (pyo3) — load through the same interpreter
([`is_extension_module`]), with their constant conventions (`py_const_<NAME>` procs,
a `Constants` class).

# Parallelism: worker processes

When [`LoadOptions::worker_program`] names the polyplug binary (and the run does not
ask for the plugin in-process, [`LoadOptions::in_process`]), every
[`polyplug_core::Instance`] is a *worker process* (`polyplug_worker::ProcessInstance`):
the polyplug binary itself started as `polyplug __worker python` ([`worker_main`]),
which embeds its own interpreter, imports the plugin and runs `initialize` once (the
first worker imports the plugin for the host too, and tells it what the plugin is: the
host of such a run starts no interpreter of its own), then
computes the batches of entities the host sends over a pipe
(`polyplug_worker::protocol`) and runs `finalize` at the end. Several jobs do not share
one GIL, and a worker that dies (a segfault in a C extension, `os._exit`, the OOM
killer, `kill -9`) costs only the entity that killed it: the batch is computed again,
an entity at a time, in a replacement worker. In-process, the plugin runs in the
polyplug process itself (the fastest, but a crash ends the run).

A per-entity time limit ([`LoadOptions::timeout`]) also needs worker processes: the
worker's `SIGALRM` timer raises `TimeoutError` inside an overrunning compute (that
entity fails, the worker goes on; the timer is moved from compute to compute only when
it rings, so it costs no system call per entity), and a host-side watchdog kills a
worker stuck in C code that never checks for signals.

# Interpreter

polyplug embeds the CPython pyo3 linked at build time (`PYO3_PYTHON`, else `python3`
on PATH); the CLI records its library folder as the binary's rpath. The interpreter is
started once per process with a `PyConfig` whose program name is that build-time
`python`, so its standard library is found whatever `python3` comes first on PATH, and
a broken installation is an error naming the fix, not an abort. Python's signal
handlers are not installed (Ctrl-C belongs to polyplug). `print()` in a plugin goes to
stderr (stdout carries the results; in a worker, file descriptor 1 itself is pointed
to stderr). Import paths: the plugin's folder, `--python-path` and
`POLYPLUG_PYTHON_PATH` entries, the virtualenv in `VIRTUAL_ENV`; a virtualenv made for
another Python version is refused with the version to use.

# Unsafe

This crate has two `unsafe` blocks, both at the edge of CPython: asking whether the
interpreter is initialized and starting it through the `PyConfig` C API (which pyo3
does not wrap), in `interp`.

```no_run
use polyplug_core::{LoadOptions, Outcome, OutputSpec, Params, Plugin};
use polyplug_loader_python::load;

let plugin = load("plugins/gc.py".as_ref(), &LoadOptions::default()).unwrap();
let spec = OutputSpec::untyped(&plugin.meta().output);
let mut instance = plugin.instantiate(&Params::empty(), &spec).unwrap();
let mut out = Outcome::default();
instance.compute("ACGT", &mut out).unwrap();
instance.finalize().unwrap();
```
*/
#![deny(missing_docs)]

mod convert;
mod describe;
mod interp;
mod module;
mod session;
mod worker;

use describe::Description;
use module::PluginModule;
use polyplug_core::{
    EntityError, Instance, LoadOption, LoadOptions, Outcome, OutputSpec, Params, Plugin,
    PluginError, PluginMeta,
};
use polyplug_worker::{LoadedWorker, ProcessInstance, WorkerSpec};
use pyo3::prelude::*;
use session::Session;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

pub use module::is_extension_module;
pub use worker::{worker_main, WorkerError};

/// File extension of Python plugins.
pub const EXTENSIONS: &[&str] = &["py"];

/// The options a Python plugin honours: a per-entity time limit and a memory limit
/// (enforced in worker processes). Python plugins are not sandboxed.
pub const SUPPORTED: &[LoadOption] = &[
    LoadOption::Timeout,
    LoadOption::MaxMemory,
    LoadOption::LogDir,
];

/// Slack added to a batch's time limit before the host kills a worker whose plugin
/// did not stop at the per-entity alarm (stuck in C code that never checks signals).
const KILL_SLACK: std::time::Duration = std::time::Duration::from_secs(5);

/// How this plugin's instances run, from the [`LoadOptions`].
#[derive(Debug, Clone)]
struct Settings {
    /// Extra import paths (`--python-path`): folders, or virtualenvs whose
    /// site-packages are added.
    python_path: Vec<PathBuf>,
    /// How to start the worker process of each instance; `None` runs instances in
    /// this process.
    workers: Option<Arc<WorkerSpec>>,
}

impl Settings {
    /// Worker processes unless the run asks for the plugin in-process (or polyplug's
    /// program is not known): a crash of the plugin (or of a C extension) then costs
    /// one entity, several jobs do not share one GIL, and a time limit can be
    /// enforced (an overrunning compute gets a `TimeoutError` from SIGALRM in the
    /// worker; a worker stuck in C code is killed).
    fn from_options(path: &Path, options: &LoadOptions) -> Result<Settings, String> {
        let program = options
            .worker_program
            .clone()
            .filter(|_| !options.in_process);
        if program.is_none() {
            if options.log_dir.is_some() {
                return Err(
                    "--log-dir cannot capture the output, entity by entity, of a \
                            Python plugin inside the polyplug process: remove --log-dir, or \
                            run the plugin in a worker process (without --in-process)"
                        .into(),
                );
            }
            // Nothing can stop or limit a plugin inside this process.
            let flags: Vec<&str> = options
                .given()
                .into_iter()
                .filter(|o| [LoadOption::Timeout, LoadOption::MaxMemory].contains(o))
                .map(LoadOption::flag)
                .collect();
            if !flags.is_empty() {
                return Err(format!(
                    "{} cannot stop or limit a Python plugin inside the polyplug process: \
                     remove {}, or run the plugin in a worker process (without --in-process)",
                    flags.join(" and "),
                    if flags.len() > 1 { "them" } else { "it" }
                ));
            }
        }
        let workers = program.map(|program| {
            Arc::new(WorkerSpec {
                program,
                kind: "python",
                label: "Python worker",
                plugin: path.to_path_buf(),
                python_path: options.python_path.clone(),
                timeout: options.timeout,
                max_memory_mib: options.max_memory_mib,
                records: options.records.clone(),
                debug: options.debug,
                log_dir: options.log_dir.clone(),
                kill_slack: KILL_SLACK,
            })
        });
        Ok(Settings {
            python_path: options.python_path.clone(),
            workers,
        })
    }
}

/// A loaded Python plugin.
///
/// When its instances are worker processes, the plugin is imported by the first
/// worker, which says what it is (its constants, functions and their problems) and
/// is kept for the first instance: the host starts no interpreter of its own (a run
/// of one ID took 108 ms with two interpreters, the host's and its worker's). The
/// host imports the module itself only for what runs in it: in-process instances,
/// and `compute_id`.
pub struct PythonPlugin {
    what: Description,
    meta: PluginMeta,
    settings: Settings,
    /// The module imported in this process, once something needs it here.
    here: OnceLock<Result<Arc<PluginModule>, String>>,
    /// The worker that imported the plugin for the host, until the first instance.
    first: Mutex<Option<LoadedWorker>>,
}

impl std::fmt::Debug for PythonPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PythonPlugin({})", self.what.path.display())
    }
}

impl PythonPlugin {
    /// The module imported in this process (imported now if it was not).
    fn here(&self) -> Result<&Arc<PluginModule>, String> {
        self.here
            .get_or_init(|| {
                interp::start()?;
                Python::with_gil(|py| {
                    module::import(py, &self.what.path, &self.settings.python_path)
                })
                .map(Arc::new)
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// Loads the Python plugin (or compiled extension module) at `path`.
///
/// Errors name the file and say what to do: a missing or broken Python, a syntax
/// error (with its line), an import error (with the missing package), or every
/// metadata problem.
pub fn load(path: &Path, options: &LoadOptions) -> Result<PythonPlugin, PluginError> {
    let err = |m: String| PluginError::new(path, m);
    options.refuse_unsupported(path, "a Python plugin", SUPPORTED)?;
    let settings = Settings::from_options(path, options).map_err(err)?;
    if options.debug {
        convert::FULL_TRACEBACK.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let (what, here, first) = match &settings.workers {
        Some(spec) => {
            let (worker, what) = ProcessInstance::load(spec.clone())?;
            let what = Description::from_value(what).map_err(err)?;
            (what, OnceLock::new(), Some(worker))
        }
        None => {
            interp::start().map_err(err)?;
            let module = Python::with_gil(|py| module::import(py, path, &settings.python_path))
                .map_err(err)?;
            let what = Description::of(&module);
            (what, OnceLock::from(Ok(Arc::new(module))), None)
        }
    };
    let mut problems = what.const_problems.clone();
    let meta = match PluginMeta::validate(&what.raw) {
        Ok(m) => Some(m),
        Err(p) => {
            problems.extend(p.0);
            None
        }
    };
    if !what.has("compute") && !what.has("compute_id") {
        problems.push(
            "defines neither compute nor compute_id; define `def compute(entity, **kwargs)`".into(),
        );
    }
    match meta {
        Some(meta) if problems.is_empty() => Ok(PythonPlugin {
            what,
            meta,
            settings,
            here,
            first: Mutex::new(first),
        }),
        _ => Err(err(format!(
            "bad metadata:\n  - {}",
            problems.join("\n  - ")
        ))),
    }
}

/// A one-line description of the embedded interpreter (version, prefix, `sys.path`),
/// for `--verbose`, or why it cannot start; starts the interpreter if needed.
pub fn describe_interpreter() -> String {
    match interp::start() {
        Ok(()) => Python::with_gil(interp::describe),
        Err(why) => why,
    }
}

impl Plugin for PythonPlugin {
    /// A batch goes to a worker process and back in chunks, each a round trip with
    /// its wake-ups, which cost a trivial Python compute more than the compute:
    /// longer batches than the default make that small (a time limit still applies
    /// to each entity).
    fn batch_time(&self) -> std::time::Duration {
        std::time::Duration::from_millis(10)
    }

    fn meta(&self) -> &PluginMeta {
        &self.meta
    }

    fn language(&self) -> &str {
        self.what.language
    }

    fn path(&self) -> &Path {
        &self.what.path
    }

    fn has_compute(&self) -> bool {
        self.what.has("compute")
    }

    fn functions(&self) -> Vec<&'static str> {
        self.what.functions.clone()
    }

    fn contract_problems(&self) -> Vec<String> {
        self.what.signature_problems.clone()
    }

    fn instantiate(
        &self,
        params: &Params,
        _spec: &OutputSpec,
    ) -> Result<Box<dyn Instance>, PluginError> {
        let err = |m: String| PluginError::new(&self.what.path, m);
        match &self.settings.workers {
            Some(spec) => {
                let first = self.first.lock().unwrap_or_else(|e| e.into_inner()).take();
                Ok(Box::new(match first {
                    Some(worker) => worker.start(params)?,
                    None => ProcessInstance::start(spec.clone(), params)?,
                }))
            }
            None => {
                let module = self.here().map_err(err)?;
                let session =
                    Python::with_gil(|py| Session::start(py, module, params)).map_err(err)?;
                Ok(Box::new(InProcess {
                    module: module.clone(),
                    session: Some(session),
                }))
            }
        }
    }

    fn has_compute_id(&self) -> bool {
        self.what.has("compute_id")
    }

    fn compute_id(&self, unit: &str) -> Result<String, EntityError> {
        let module = self.here().map_err(EntityError::new)?;
        Python::with_gil(|py| session::compute_id(py, module, unit))
    }
}

/// An instance running in this process.
struct InProcess {
    module: Arc<PluginModule>,
    session: Option<Session>,
}

impl Instance for InProcess {
    fn compute(&mut self, entity: &str, out: &mut Outcome) -> Result<(), EntityError> {
        let session = self
            .session
            .as_ref()
            .ok_or_else(|| EntityError::new("the instance was finalized"))?;
        Python::with_gil(|py| session.compute(py, &self.module, entity, out))
    }

    fn compute_record(
        &mut self,
        entity: &str,
        record: &polyplug_core::Record<'_>,
        out: &mut Outcome,
    ) -> Result<(), EntityError> {
        let session = self
            .session
            .as_ref()
            .ok_or_else(|| EntityError::new("the instance was finalized"))?;
        Python::with_gil(|py| session.compute_record(py, &self.module, entity, record, out))
    }

    fn compute_batch(
        &mut self,
        entities: &[polyplug_core::Entity],
        results: &mut polyplug_core::BatchResults,
    ) {
        let Some(session) = self.session.as_ref() else {
            for _ in entities {
                results.push(Err(EntityError::new("the instance was finalized")));
            }
            return;
        };
        // One GIL acquisition per batch.
        Python::with_gil(|py| {
            for e in entities {
                let mut out = results.outcome();
                let r = session
                    .compute(py, &self.module, e.input(), &mut out)
                    .map(|()| out);
                results.push(r);
            }
        })
    }

    fn finalize(mut self: Box<Self>) -> Result<Vec<String>, PluginError> {
        match self.session.take() {
            Some(s) => Python::with_gil(|py| s.finalize(py, &self.module))
                .map_err(|m| PluginError::new(&self.module.path, m)),
            None => Ok(Vec::new()),
        }
    }
}
