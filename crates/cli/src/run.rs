//! `polyplug run`: the arguments of `prenacs batch-compute` turned into a
//! [`RunSpec`], the run itself ([`polyplug_engine::run`]), and its exit status.

use crate::args::{Mode, RunArgs};
use crate::{console, error, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE};
use polyplug_engine::core::DirGrant;
use polyplug_engine::{Input, RunIo, RunSpec, StoreChoice, Verdict};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Runs `polyplug run` and returns the exit status.
pub fn run(args: RunArgs) -> i32 {
    let spec = match spec(args) {
        Ok(s) => s,
        Err(message) => {
            error(message);
            return EXIT_USAGE;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let progress = std::io::stderr()
        .is_terminal()
        .then(|| Arc::new(console::Bar::new()) as Arc<dyn polyplug_engine::runner::Progress>);
    let io = RunIo {
        results: Box::new(std::io::stdout().lock()),
        log: Box::new(std::io::stderr()),
        report: Box::new(std::io::stderr()),
        console: console::stderr(),
        progress,
        stop,
        started: Some(Box::new(move || on_interrupt(flag))),
    };
    match polyplug_engine::run(&spec, io) {
        Ok(outcome) => match outcome.verdict() {
            Verdict::Completed => 0,
            Verdict::Failed => EXIT_FAILED,
            Verdict::BadInput => EXIT_USAGE,
            Verdict::Interrupted => EXIT_INTERRUPTED,
        },
        Err(e) => {
            error(e);
            EXIT_USAGE
        }
    }
}

/// The run the arguments ask for; an argument that makes no sense is an error.
fn spec(args: RunArgs) -> Result<RunSpec, String> {
    let timeout = match args.timeout {
        Some(t) if !(t > 0.0 && t.is_finite()) => {
            return Err(format!("--timeout {t}: give a positive number of seconds"))
        }
        t => t.map(std::time::Duration::from_secs_f64),
    };
    let allow_dirs = args
        .allow_dir
        .iter()
        .map(|a| DirGrant::parse(a).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let input = match args.mode {
        Mode::Ids => Input::Ids {
            path: args.target.into(),
            column: args.col,
        },
        Mode::Files => Input::Files {
            pattern: args.target,
            column: args.col,
        },
    };
    let mut spec = RunSpec::new(args.plugin, input);
    spec.idsproc = args.idsproc;
    spec.skip = args.skip;
    spec.out = args.out;
    spec.log = args.log;
    spec.report = args.report;
    spec.params = args.params;
    spec.defs = args.defs;
    spec.user = args.user;
    spec.system = args.system;
    spec.reason = args.reason.map(crate::args::Reason::engine);
    spec.jobs = if args.serial { Some(1) } else { args.jobs };
    spec.timeout = timeout;
    spec.allow_dirs = allow_dirs;
    spec.wasm_memory_mib = args.wasm_memory;
    spec.fuel = args.fuel;
    spec.python_path = args.python_path;
    spec.halt_on_error = args.halt_on_error;
    spec.store = match (args.no_store, args.store.store) {
        (true, _) => StoreChoice::Off,
        (false, Some(url)) => StoreChoice::Url(url),
        (false, None) => StoreChoice::FromEnv,
    };
    spec.force = args.force;
    spec.replace_plugin_record = args.replace_plugin_record;
    spec.verbose = args.verbose;
    spec.worker_program = std::env::current_exe().ok();
    Ok(spec)
}

/// From now on, Ctrl-C (or SIGTERM) sets `stop` to stop the run; a second one ends the
/// process at once.
fn on_interrupt(stop: Arc<AtomicBool>) {
    let _ = ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            std::process::exit(EXIT_INTERRUPTED);
        }
    });
}
