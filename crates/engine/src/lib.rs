/*!
A whole polyplug run as a library: a [`RunSpec`] (plain data, the arguments of
`polyplug run`) and a [`RunIo`] (where output goes) in, a [`RunOutcome`] (the report
and what happened) out.

```text
RunSpec ──► run(spec, io) ──► resolve + load the plugin (resolve::KINDS, each loader
                              refusing the LoadOptions it cannot honour)
                              parameters, definitions, the store, the skip set
                              polyplug_runner::run (workers, input order)
                              record: store first, then the TSV files (record.rs)
                              the report ──► RunOutcome { report, summary, .. }
```

[`run`] is a short list of steps (module `run`). The store side of a run and the
exactly-once protocol that makes a SIGKILL safe are modules `run_store` and
[`record`]. The store commands that need more than the store crate live here too:
[`import::load`] (`polyplug load`), [`export::export`] and the run archives of
[`archive`] (`runs export`, `runs import`). Everything a caller needs
from the crates below is re-exported ([`core`], [`runner`], [`store`]), so a
front end depends on this crate alone.

The engine never prints and never exits: results, logs and the report go to the
files of the spec or to the writers of [`RunIo`]; notes, plugin output and (with
`verbose`) what is being done go to its [`Console`]; errors come back as
[`EngineError`]; the caller maps the [`Verdict`] to an exit status.

```
use polyplug_engine::{run, Input, RunIo, RunSpec, StoreChoice, Verdict};
use std::sync::{atomic::{AtomicBool, AtomicUsize}, Arc};

let dir = tempfile::tempdir()?;
let plugin = dir.path().join("len.sh");
std::fs::write(&plugin, "ID=len\nVERSION=1\nINPUT=word\nOUTPUT=( length )\n\
                         compute() { echo \"${#1}\"; }\n")?;
let ids = dir.path().join("ids.txt");
std::fs::write(&ids, "ab\nabc\n")?;

let mut spec = RunSpec::new(plugin.display().to_string(), Input::Ids { path: ids, column: None });
spec.store = StoreChoice::Off;
spec.jobs = Some(1);
let mut results = Vec::new();
let io = RunIo {
    results: Box::new(&mut results),
    log: Box::new(std::io::sink()),
    report: Box::new(std::io::sink()),
    console: Arc::new(polyplug_engine::core::Silent),
    progress: None,
    stop: Arc::new(AtomicBool::new(false)),
    signal: Arc::new(AtomicUsize::new(0)),
    started: None,
};
let outcome = run(&spec, io)?;
assert_eq!(outcome.verdict(), Verdict::Completed);
assert_eq!(outcome.report.n_units, Some(2));
assert_eq!(String::from_utf8(results)?, "ab\t2\nabc\t3\n");
# Ok::<(), Box<dyn std::error::Error>>(())
```
*/
#![deny(missing_docs)]

pub mod archive;
pub mod cluster;
pub mod diff;
mod error;
pub mod export;
pub mod import;
pub mod inspect;
pub mod merge;
mod outcome;
mod outputs;
pub mod plan;
pub mod provenance;
pub mod record;
mod records;
pub mod resolve;
mod run;
pub mod run_dir;
mod run_store;
mod spec;
pub mod sql;
pub mod stores;

pub use cluster::{Placement, Scheduler, ShardChoice};
pub use error::{EngineError, ImportError, ResolveError};
pub use outcome::{RunOutcome, Tally, Verdict};
pub use polyplug_core::Console;
pub use polyplug_loader_source::{export_sdk, sdk_folder};
pub use polyplug_runner::set_give_back;
pub use records::catalog as records_catalog;
pub use run::{check_repeats, definitions_for, run};
pub use spec::{Input, Reason, RunIo, RunSpec, StoreChoice};

/// The plugin model ([`polyplug_core`]), for callers of the engine.
pub use polyplug_core as core;
/// The batch runner ([`polyplug_runner`]): its summary, progress and input types.
pub use polyplug_runner as runner;
/// The results store ([`polyplug_store`]): the store commands' data.
pub use polyplug_store as store;

/// How a `polyplug __worker` process must end.
#[derive(Debug)]
pub enum WorkerEnd {
    /// With this status.
    Exit(i32),
    /// By this signal (the guarded worker was killed by it).
    Signal(i32),
    /// With this error (shown, then a non-zero status).
    Failed(String),
}

/// What a `polyplug __worker <kind> <args>…` process runs: the worker side of a
/// loader that runs instances in processes of their own (`python`, `native`), or the
/// guard of a Bash worker (`guard`). `None` for an unknown kind.
pub fn worker_main(kind: &str, args: &[String]) -> Option<WorkerEnd> {
    if matches!(kind, "python" | "guard") {
        // The host turned transparent huge pages off for its own allocator (see the
        // binary's `small_pages`); a plugin's interpreter, and every program a Bash
        // plugin starts, run with the system's setting, as they would without
        // polyplug. A native plugin's worker keeps them off, like the host it
        // stands for.
        let _ = rustix::thread::disable_transparent_huge_pages(false);
    }
    Some(match kind {
        "python" => match polyplug_loader_python::worker_main() {
            Ok(()) => WorkerEnd::Exit(0),
            Err(e) => WorkerEnd::Failed(e.to_string()),
        },
        "native" => match polyplug_loader_native::worker_main() {
            Ok(()) => WorkerEnd::Exit(0),
            Err(e) => WorkerEnd::Failed(e),
        },
        "guard" => match polyplug_loader_bash::guard_main(args) {
            Ok(polyplug_loader_bash::GuardEnd::Exited(c)) => WorkerEnd::Exit(c),
            Ok(polyplug_loader_bash::GuardEnd::Signaled(s)) => WorkerEnd::Signal(s),
            Err(e) => WorkerEnd::Failed(e),
        },
        _ => return None,
    })
}
