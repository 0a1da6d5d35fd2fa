//! `polyplug run`: Prenacs' batch-compute, with workers, error isolation and progress.

use crate::args::{Mode, RunArgs};
use crate::{discover, error, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE};
use polyplug_core::{AttributeDefinitions, OutputSpec, Params, Plugin};
use polyplug_runner::input::{self, Entities, Source};
use polyplug_runner::output::{open_for_append, TsvWriter};
use polyplug_runner::report::{error_remarks, CompStatus, Report};
use polyplug_runner::RunOptions;
use sha2::Digest;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Runs `polyplug run` and returns the exit status.
pub fn run(args: RunArgs) -> i32 {
    match run_inner(args) {
        Ok(code) => code,
        Err(message) => {
            error(message);
            EXIT_USAGE
        }
    }
}

fn read_text(path: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the {what}: {e}", path.display()))
}

/// The attribute definitions to check results with: `--defs`, or the
/// `attribute_definitions.yaml` beside the plugin.
pub fn definitions_for(
    plugin_path: &Path,
    explicit: Option<&Path>,
) -> Result<Option<AttributeDefinitions>, String> {
    let path: PathBuf = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let beside = plugin_path
                .parent()
                .unwrap_or(Path::new("."))
                .join("attribute_definitions.yaml");
            if !beside.is_file() {
                return Ok(None);
            }
            beside
        }
    };
    let text = read_text(&path, "attribute definitions")?;
    AttributeDefinitions::from_yaml_str(&text, &path.display().to_string()).map(Some)
}

pub(crate) fn sha256_file(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let digest = sha2::Sha256::digest(&bytes);
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

fn now() -> String {
    chrono::Local::now()
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

pub(crate) fn current_user() -> String {
    // As Python's getpass.getuser(): the environment first, then the system.
    for var in ["LOGNAME", "USER", "LNAME", "USERNAME"] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                return v;
            }
        }
    }
    whoami::username().unwrap_or_else(|_| "unknown".into())
}

fn open_output(path: &Path, what: &str, verbose: bool) -> Result<std::fs::File, String> {
    let (file, removed) = open_for_append(path)
        .map_err(|e| format!("{}: cannot open the {what} file: {e}", path.display()))?;
    if removed > 0 {
        error(format!(
            "{}: removed an incomplete last line ({removed} bytes) left by an interrupted run; \
             its entity will be computed again",
            path.display()
        ));
    } else if verbose {
        eprintln!("# appending {what} to {}", path.display());
    }
    Ok(file)
}

fn run_inner(args: RunArgs) -> Result<i32, String> {
    let timeout = match args.timeout {
        Some(t) if !(t > 0.0 && t.is_finite()) => {
            return Err(format!("--timeout {t}: give a positive number of seconds"))
        }
        t => t.map(std::time::Duration::from_secs_f64),
    };
    let jobs = if args.serial {
        1
    } else {
        args.jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    };
    let allow_dirs = args
        .allow_dir
        .iter()
        .map(|a| polyplug_loader_wasm::parse_allow_dir(a))
        .collect::<Result<Vec<_>, _>>()?;
    let config = discover::LoadConfig {
        timeout,
        jobs,
        python_path: args.python_path.clone(),
        entity_files: matches!(args.mode, Mode::Files),
        allow_dirs,
        wasm_memory_mib: args.wasm_memory,
        fuel: args.fuel,
    };
    let plugin = discover::resolve(&args.plugin, &config)?;
    let meta = plugin.meta().clone();
    if !plugin.has_compute() {
        return Err(format!(
            "{}: plugin {} has no compute function (it is an idsproc plugin: use it with --idsproc)",
            plugin.path().display(),
            meta.id
        ));
    }

    // Parameters, definitions, the output check.
    let given = match &args.params {
        Some(p) => Params::parse_yaml(&read_text(p, "parameters file")?, &p.display().to_string())?,
        None => Vec::new(),
    };
    let origin = args
        .params
        .as_ref()
        .map_or("--params".to_string(), |p| p.display().to_string());
    let params = Params::resolve(&meta, &given, &origin)?;
    let plugin_sha256 = sha256_file(plugin.path())?;
    // The results store (unless --no-store): it also knows what is already done.
    let mut store = crate::store::RunStore::open(&args, plugin.as_ref(), &params, &plugin_sha256)?;
    let mut defs = definitions_for(plugin.path(), args.defs.as_deref())?;
    if defs.is_none() {
        defs = store.as_mut().and_then(|s| s.definitions_for(&meta.output));
    }
    let spec = match &defs {
        Some(defs) => OutputSpec::typed(&meta.output, defs)
            .map_err(|e| format!("{}: plugin {}: {e}", plugin.path().display(), meta.id))?,
        None => OutputSpec::untyped(&meta.output),
    };
    plugin.expect_output(&spec);
    if let Some(s) = &mut store {
        s.prepare_attributes(&meta.output, defs.as_ref())?;
    }

    // Input selection.
    let source = match args.mode {
        Mode::Ids => Source::Ids {
            path: PathBuf::from(&args.target),
            column: args.col.unwrap_or(1),
        },
        Mode::Files => {
            if args.col.is_some() {
                return Err("a column number is only accepted in ids mode".into());
            }
            Source::Files {
                pattern: args.target.clone(),
            }
        }
    };
    let idsproc: Option<Box<dyn Plugin>> = match &args.idsproc {
        Some(p) => {
            let ip = discover::resolve(
                p,
                &discover::LoadConfig {
                    python_path: args.python_path.clone(),
                    ..discover::LoadConfig::default()
                },
            )?;
            if !ip.has_compute_id() {
                return Err(format!(
                    "{}: --idsproc plugin {} has no compute_id function",
                    ip.path().display(),
                    ip.meta().id
                ));
            }
            Some(ip)
        }
        None => None,
    };
    // As Prenacs: an existing out file is also the skip list, unless --skip is given.
    let skip_path = args.skip.clone().or_else(|| args.out.clone());
    let out_file = match &args.out {
        Some(p) => Some(open_output(p, "results", args.verbose)?),
        None => None,
    };
    if let (Some(s), Some(out)) = (&mut store, &args.out) {
        s.repair_output(out, args.verbose)?;
    }
    let mut skip = match &skip_path {
        Some(p) => {
            if args.skip.is_some() && !p.exists() {
                return Err(format!("{}: the skip list does not exist", p.display()));
            }
            input::read_skip_list(p).map_err(|e| e.0)?
        }
        None => input::SkipSet::default(),
    };
    if let (Some(s), false) = (&mut store, args.force) {
        s.done_entities(&mut skip)?;
    }
    if args.verbose {
        eprintln!("# skipping up to {} units already done", skip.len());
    }
    let mut entities = Entities::open(&source, idsproc.as_deref(), skip).map_err(|e| e.0)?;

    // Outputs.
    let log_file = match &args.log {
        Some(p) => Some(open_output(p, "log", args.verbose)?),
        None => None,
    };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let out: Box<dyn Write> = match out_file {
        Some(f) => Box::new(std::io::BufWriter::with_capacity(1 << 16, f)),
        None => Box::new(std::io::BufWriter::with_capacity(1 << 16, stdout.lock())),
    };
    let log: Box<dyn Write> = match log_file {
        Some(f) => Box::new(std::io::BufWriter::with_capacity(1 << 16, f)),
        None => Box::new(std::io::BufWriter::new(stderr.lock())),
    };
    // Report fields known before the run.
    let uuid = *uuid::Uuid::new_v4().as_bytes();
    let time_start = now();
    let user_id = args.user.clone().unwrap_or_else(current_user);
    let system_id = args
        .system
        .clone()
        .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned());
    if let Some(s) = &mut store {
        s.begin(
            uuid,
            &params.to_yaml(),
            &user_id,
            &system_id,
            args.reason.map(|r| r.as_str()),
            &time_start,
            &plugin_sha256,
        )?;
    }
    let mut tsv;
    let mut stored;
    let writer: &mut dyn polyplug_runner::Recorder = match &mut store {
        Some(s) => {
            stored = s.recorder(out, log)?;
            &mut stored
        }
        None => {
            tsv = TsvWriter::new(out, log);
            &mut tsv
        }
    };

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second interrupt ends the process at once.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(EXIT_INTERRUPTED);
            }
        });
    }
    let progress = std::io::stderr()
        .is_terminal()
        .then(|| input::count_units(&source));
    if args.verbose {
        eprintln!(
            "# running {} {} with {jobs} worker(s)",
            meta.id, meta.version
        );
        if plugin.language().starts_with("python") {
            match polyplug_loader_python::describe_interpreter() {
                Ok(d) => eprintln!("# {d}"),
                Err(e) => eprintln!("# {e}"),
            }
        }
    }
    let opts = RunOptions {
        jobs,
        halt_on_error: args.halt_on_error,
        progress,
        stop: stop.clone(),
        ..RunOptions::default()
    };
    let result = polyplug_runner::run(
        plugin.as_ref(),
        &params,
        &spec,
        &mut entities,
        writer,
        &opts,
    );
    let summary = result.map_err(|e| format!("cannot write the outputs: {e}"))?;
    let interrupted = stop.load(Ordering::SeqCst);

    for line in &summary.finalize_logs {
        for part in line.lines() {
            eprintln!("polyplug: {}: finalize: {part}", meta.id);
        }
    }
    for e in &summary.plugin_errors {
        error(e);
    }
    if let Some(e) = &summary.input_error {
        error(e);
    }

    // The report.
    let failed = summary.n_failed > 0
        || summary.stopped
        || summary.input_error.is_some()
        || !summary.plugin_errors.is_empty();
    let comp_status = if !failed {
        CompStatus::Completed
    } else if summary.n_units == 0
        && (summary.stopped || summary.input_error.is_some() || !summary.plugin_errors.is_empty())
    {
        CompStatus::Aborted
    } else {
        CompStatus::Partial
    };
    let remarks = if let Some(e) = &summary.input_error {
        Some(error_remarks("", "InputError", &e.0, summary.n_failed))
    } else if let Some(e) = summary.plugin_errors.first() {
        Some(error_remarks(
            "",
            "PluginError",
            &e.message,
            summary.n_failed,
        ))
    } else if let Some((id, message)) = &summary.first_error {
        Some(error_remarks(id, "EntityError", message, summary.n_failed))
    } else if interrupted {
        Some(error_remarks(
            "",
            "Interrupted",
            "the run was interrupted",
            summary.n_failed,
        ))
    } else {
        None
    };
    let report = Report {
        plugin_id: meta.id.clone(),
        plugin_version: meta.version.clone(),
        parameters: params.to_yaml(),
        user_id,
        system_id,
        reason: args.reason.map(|r| r.as_str().to_string()),
        uuid,
        time_start,
        time_end: now(),
        n_units: summary.n_units,
        n_failed: summary.n_failed,
        n_skipped: entities.skipped,
        comp_status,
        remarks,
        plugin_sha256,
        host_version: format!("polyplug {}", env!("CARGO_PKG_VERSION")),
    };
    if let Some(s) = &mut store {
        s.finish(&report)?;
    }
    let yaml = report.to_yaml();
    match &args.report {
        Some(p) => std::fs::write(p, yaml)
            .map_err(|e| format!("{}: cannot write the report: {e}", p.display()))?,
        None => {
            let _ = std::io::stderr().write_all(yaml.as_bytes());
        }
    }

    if summary.n_failed > 0 {
        error(format!(
            "{} of {} entities failed (see the log); rerun to retry them: computed entities are skipped",
            summary.n_failed,
            summary.n_failed + summary.n_units
        ));
    }
    Ok(if interrupted {
        EXIT_INTERRUPTED
    } else if summary.input_error.is_some()
        || !summary.plugin_errors.is_empty() && summary.n_units == 0
    {
        EXIT_USAGE
    } else if failed {
        EXIT_FAILED
    } else {
        0
    })
}
