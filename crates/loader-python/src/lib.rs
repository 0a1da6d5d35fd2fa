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

The GIL lets one Python thread run at a time, so threads would not make a Python
plugin faster. When the run has several jobs (`-j N`, N > 1) and
[`LoadOptions::worker_program`] names the polyplug binary, every
[`polyplug_core::Instance`] is a *worker process*: the polyplug binary itself
started as `polyplug __worker python` ([`worker_main`]), which embeds its own
interpreter, imports the plugin and runs `initialize` once, then computes the batches
of entities the host sends over a pipe ([`protocol`]) and runs `finalize` at the end.
A worker that dies (a segfault in a C extension, the OOM killer, `kill -9`) fails only
the entities of the batch it held; the runner then asks for a new instance, which
starts a replacement worker. Without workers (`-j1`, `--serial`), the plugin runs in
the polyplug process itself.

A per-entity time limit ([`LoadOptions::timeout`]) also needs worker processes: the
worker arms `SIGALRM` around each compute, so an overrun raises `TimeoutError` inside
the plugin (that entity fails, the worker goes on), and a host-side watchdog kills a
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

This crate has three `unsafe` blocks, all at the edge of CPython or of the worker
process: asking whether the interpreter is initialized and starting it through the
`PyConfig` C API (which pyo3 does not wrap), both in `interp`, and taking ownership of
the duplicated protocol file descriptor in a worker.

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
mod interp;
mod module;
pub mod protocol;
mod session;
mod worker;

use module::PluginModule;
use polyplug_core::{
    EntityError, Instance, LoadOption, LoadOptions, Outcome, OutputSpec, Params, Plugin,
    PluginError, PluginMeta,
};
use pyo3::prelude::*;
use session::Session;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use module::is_extension_module;
pub use worker::{worker_main, WorkerError};

/// File extension of Python plugins.
pub const EXTENSIONS: &[&str] = &["py"];

/// The options a Python plugin honours: a per-entity time limit (enforced in worker
/// processes). Python plugins are not sandboxed.
pub const SUPPORTED: &[LoadOption] = &[LoadOption::Timeout];

/// How this plugin's instances run, from the [`LoadOptions`].
#[derive(Debug, Clone)]
struct Settings {
    /// Extra import paths (`--python-path`): folders, or virtualenvs whose
    /// site-packages are added.
    python_path: Vec<PathBuf>,
    /// Run each instance in a worker process started from this program (the polyplug
    /// binary, which must understand `__worker python`); `None` runs instances in this
    /// process.
    workers: Option<PathBuf>,
    /// Per-entity time limit. Only worker processes can enforce it: a compute that
    /// overruns gets a `TimeoutError` (SIGALRM in the worker), and a worker stuck in
    /// C code is killed.
    timeout: Option<std::time::Duration>,
}

impl Settings {
    /// Worker processes when the run has several jobs (the GIL serializes threads) or
    /// a time limit (only a process can be interrupted or killed).
    fn from_options(options: &LoadOptions) -> Result<Settings, String> {
        let wanted = options.jobs > 1 || options.timeout.is_some();
        let workers = options.worker_program.clone().filter(|_| wanted);
        if options.timeout.is_some() && workers.is_none() {
            return Err(
                "a time limit needs worker processes: set LoadOptions::worker_program".into(),
            );
        }
        Ok(Settings {
            python_path: options.python_path.clone(),
            workers,
            timeout: options.timeout,
        })
    }
}

/// A loaded Python plugin.
pub struct PythonPlugin {
    module: Arc<PluginModule>,
    meta: PluginMeta,
    settings: Settings,
}

impl std::fmt::Debug for PythonPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PythonPlugin({})", self.module.path.display())
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
    let settings = Settings::from_options(options).map_err(err)?;
    interp::start().map_err(err)?;
    let module =
        Python::with_gil(|py| module::import(py, path, &settings.python_path)).map_err(err)?;
    let mut problems = module.const_problems.clone();
    let meta = match PluginMeta::validate(&module.raw) {
        Ok(m) => Some(m),
        Err(p) => {
            problems.extend(p.0);
            None
        }
    };
    if !module.has_compute() && !module.has_compute_id() {
        problems.push(
            "defines neither compute nor compute_id; define `def compute(entity, **kwargs)`".into(),
        );
    }
    match meta {
        Some(meta) if problems.is_empty() => Ok(PythonPlugin {
            module: Arc::new(module),
            meta,
            settings,
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
    fn meta(&self) -> &PluginMeta {
        &self.meta
    }

    fn language(&self) -> &str {
        self.module.language
    }

    fn path(&self) -> &Path {
        &self.module.path
    }

    fn has_compute(&self) -> bool {
        self.module.has_compute()
    }

    fn functions(&self) -> Vec<&'static str> {
        self.module.functions()
    }

    fn contract_problems(&self) -> Vec<String> {
        self.module.signature_problems.clone()
    }

    fn instantiate(
        &self,
        params: &Params,
        _spec: &OutputSpec,
    ) -> Result<Box<dyn Instance>, PluginError> {
        match &self.settings.workers {
            Some(exe) => Ok(Box::new(worker::WorkerInstance::start(
                exe,
                &self.module.path,
                &self.settings.python_path,
                self.settings.timeout,
                params,
            )?)),
            None => {
                let session = Python::with_gil(|py| Session::start(py, &self.module, params))
                    .map_err(|m| PluginError::new(&self.module.path, m))?;
                Ok(Box::new(InProcess {
                    module: self.module.clone(),
                    session: Some(session),
                }))
            }
        }
    }

    fn has_compute_id(&self) -> bool {
        self.module.has_compute_id()
    }

    fn compute_id(&self, unit: &str) -> Result<String, EntityError> {
        Python::with_gil(|py| session::compute_id(py, &self.module, unit))
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
                let mut out = Outcome::default();
                let r = session
                    .compute(py, &self.module, &e.input, &mut out)
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
