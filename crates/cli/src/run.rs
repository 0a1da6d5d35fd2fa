//! `polyplug run`: the arguments of `prenacs batch-compute` turned into a
//! [`RunSpec`], the run itself ([`polyplug_engine::run`]), and its exit status.

use crate::args::{Mode, RunArgs};
use crate::{console, error, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE};
use polyplug_engine::core::{DirGrant, RecordFormat, Shard, Timeout, TIMEOUT_VARIABLE};
use polyplug_engine::runner::FailureBudget;
use polyplug_engine::{Input, RunIo, RunSpec, ShardChoice, StoreChoice, Verdict};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Runs `polyplug run` and returns the exit status.
pub fn run(args: RunArgs) -> i32 {
    let (dry_run, list) = (args.dry_run, args.list);
    let progress = match progress(args.progress, args.progress_every) {
        Ok(p) => p,
        Err(message) => {
            error(message);
            return EXIT_USAGE;
        }
    };
    let spec = match spec(args) {
        Ok(s) => s,
        Err(message) => {
            error(message);
            return EXIT_USAGE;
        }
    };
    if dry_run || list {
        return plan(&spec, dry_run, list);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let signal = Arc::new(AtomicUsize::new(0));
    let (flag, which) = (stop.clone(), signal.clone());
    let results = match results_stream(spec.out.is_none()) {
        Ok(r) => r,
        Err(message) => {
            error(message);
            return EXIT_USAGE;
        }
    };
    let io = RunIo {
        results,
        log: Box::new(std::io::stderr()),
        report: Box::new(std::io::stderr()),
        console: console::stderr(),
        progress,
        stop,
        signal: signal.clone(),
        started: Some(Box::new(move || on_signals(flag, which))),
    };
    let outcome = match polyplug_engine::run(&spec, io) {
        Ok(outcome) => outcome,
        Err(e) => {
            error(e);
            return EXIT_USAGE;
        }
    };
    tell_failures(&outcome, spec.log.as_deref(), !spec.only.is_empty());
    if !outcome.tally.not_found.is_empty() {
        error(format!(
            "--only: not in the input: {}; give IDs of the input (polyplug run ... --list \
             lists them)",
            outcome.tally.not_found.join(", ")
        ));
    }
    // Every run ends with one line saying what it did, terminal or not.
    console::stderr().note(&outcome.summary_line());
    match outcome.verdict() {
        Verdict::Completed if !outcome.tally.not_found.is_empty() => EXIT_FAILED,
        Verdict::Completed => 0,
        Verdict::Failed => EXIT_FAILED,
        Verdict::BadInput => EXIT_USAGE,
        // 128 + the signal, as a shell reports it: 130 for Ctrl-C, 143 for SIGTERM.
        Verdict::Interrupted => match signal.load(Ordering::SeqCst) {
            0 => EXIT_INTERRUPTED,
            code => code as i32,
        },
    }
}

/// The live status `--progress` asks for.
fn progress(
    mode: crate::args::ProgressMode,
    every: f64,
) -> Result<Option<Arc<dyn polyplug_engine::runner::Progress>>, String> {
    use crate::args::ProgressMode;
    if !(every.is_finite() && (0.1..=86_400.0).contains(&every)) {
        return Err(format!(
            "--progress-every {every}: give a number of seconds from 0.1 to 86400"
        ));
    }
    let terminal = std::io::stderr().is_terminal();
    let plain = || -> Arc<dyn polyplug_engine::runner::Progress> {
        Arc::new(crate::status::Plain::new(Duration::from_secs_f64(every)))
    };
    Ok(match mode {
        ProgressMode::None => None,
        ProgressMode::Plain => Some(plain()),
        ProgressMode::Bar | ProgressMode::Auto if terminal => {
            Some(Arc::new(crate::status::Bar::new()))
        }
        ProgressMode::Auto => Some(plain()),
        ProgressMode::Bar => None,
    })
}

/// The first failures of a run, with where the others are.
fn tell_failures(outcome: &polyplug_engine::RunOutcome, log: Option<&std::path::Path>, full: bool) {
    let s = &outcome.summary;
    if s.failures.is_empty() {
        return;
    }
    let all = match log {
        Some(p) => format!("every one in {}", p.display()),
        None => "every one in the log above".to_string(),
    };
    let mut text = format!("failed: {} of {} ({all}):", s.failures.len(), s.n_failed);
    for (id, why) in &s.failures {
        // In full when debugging one entity (a traceback), else its first 160 chars.
        let why: String = match full {
            true => why.replace('\n', "\n    "),
            false => why.chars().take(160).collect(),
        };
        text.push_str(&format!("\n  {id}: {why}"));
    }
    console::stderr().note(&text);
}

/// `--dry-run` (the plan, as YAML, on stdout; on stderr with `--list`) and `--list`
/// (the IDs that would be computed, on stdout).
fn plan(spec: &RunSpec, dry_run: bool, list: bool) -> i32 {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut line = String::new();
    let mut each = |id: &str| {
        if list {
            line.clear();
            polyplug_engine::runner::output::push_id(&mut line, id);
            line.push('\n');
            let _ = out.write_all(line.as_bytes());
        }
    };
    let plan = match polyplug_engine::plan::plan(spec, &console::stderr(), &mut each) {
        Ok(p) => p,
        Err(e) => {
            error(e);
            return EXIT_USAGE;
        }
    };
    let _ = out.flush();
    drop(out);
    match (dry_run, list) {
        (true, false) => print!("{}", plan.to_yaml()),
        (true, true) => eprint!("{}", plan.to_yaml()),
        _ => console::stderr().note(&format!(
            "{}: {} entities would be computed ({} skipped as done); nothing was computed",
            plan.plugin_id,
            plan.to_compute,
            plan.skipped.results_file + plan.skipped.store
        )),
    }
    0
}

/// `--timeout SECONDS` (`none`: no limit); absent, the default limit, which
/// `POLYPLUG_TIMEOUT` may set (seconds, or `none`).
fn timeout(arg: Option<&str>) -> Result<Timeout, String> {
    let Some(text) = arg else {
        let Ok(text) = std::env::var(TIMEOUT_VARIABLE) else {
            return Ok(Timeout::default());
        };
        return match seconds(&text) {
            Ok(Some(d)) => Ok(Timeout::Default(d)),
            Ok(None) => Ok(Timeout::Unlimited),
            Err(fix) => Err(format!("{TIMEOUT_VARIABLE}={text}: {fix}")),
        };
    };
    match seconds(text) {
        Ok(Some(d)) => Ok(Timeout::Given(d)),
        Ok(None) => Ok(Timeout::Unlimited),
        Err(fix) => Err(format!("--timeout {text}: {fix}")),
    }
}

/// `--max-failures N` or `--max-failures P%`.
fn failure_budget(text: &str) -> Result<FailureBudget, String> {
    let refuse = || {
        format!(
            "--max-failures {text}: give a number of entities (at least 1) or a percentage \
             above 0 and at most 100, such as 10 or 5%"
        )
    };
    let text = text.trim();
    if let Some(percent) = text.strip_suffix('%') {
        match percent.trim().parse::<f64>() {
            Ok(p) if p > 0.0 && p <= 100.0 => Ok(FailureBudget::Share(p)),
            _ => Err(refuse()),
        }
    } else {
        match text.parse::<u64>() {
            Ok(n) if n >= 1 => Ok(FailureBudget::Count(n)),
            _ => Err(refuse()),
        }
    }
}

/// A time limit in seconds, or `none` (`Ok(None)`); else what to give instead.
fn seconds(text: &str) -> Result<Option<Duration>, String> {
    if text.trim() == "none" {
        return Ok(None);
    }
    let seconds: Option<f64> = text.trim().parse().ok();
    match seconds.filter(|s| *s > 0.0) {
        Some(s) => Duration::try_from_secs_f64(s).map(Some).map_err(|_| {
            format!(
                "give a positive number of seconds, at most {} (or none)",
                u64::MAX
            )
        }),
        None => Err("give a positive number of seconds (or none)".into()),
    }
}

/// The run the arguments ask for; an argument that makes no sense is an error.
pub(crate) fn spec(mut args: RunArgs) -> Result<RunSpec, String> {
    let timeout = timeout(args.timeout.as_deref())?;
    if args.jobs == Some(0) {
        return Err("--jobs 0: give at least one worker".into());
    }
    let allow_dirs = args
        .allow_dir
        .iter()
        .map(|a| DirGrant::parse(a).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let input = input(&mut args)?;
    let only = only(&args)?;
    let mut spec = RunSpec::new(args.plugin, input);
    spec.allow_duplicate_ids = args.allow_duplicate_ids;
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
    spec.retries = args.retries;
    spec.allow_duplicates = args.allow_duplicates;
    spec.max_memory_mib = match args.max_memory {
        Some(0) => return Err("--max-memory 0: give a positive number of MiB".into()),
        m => m,
    };
    spec.max_failures = args
        .max_failures
        .as_deref()
        .map(failure_budget)
        .transpose()?;
    spec.shard = shard_choice(args.shard.as_deref(), args.shards)?;
    spec.run_id = args.run_id;
    spec.run_dir = args.run_dir;
    spec.store = match (args.no_store, args.store.store) {
        (true, _) => StoreChoice::Off,
        (false, Some(url)) => StoreChoice::Url(url),
        (false, None) => StoreChoice::FromEnv,
    };
    spec.force = args.force;
    spec.replace_plugin_record = args.replace_plugin_record;
    spec.verbose = args.verbose;
    spec.in_process = args.in_process;
    spec.worker_program = std::env::current_exe().ok();
    spec.trace = args.trace;
    spec.log_dir = args.log_dir.clone();
    spec.name = args.name.clone();
    spec.tags = args.tag.iter().map(|t| tag(t)).collect::<Result<_, _>>()?;
    if let Some(ids) = only {
        // In the foreground: one worker, results on stdout, logs on stderr, nothing
        // skipped, nothing stored unless a store is named.
        spec.only = ids;
        spec.jobs = Some(1);
        spec.force = true;
        if !matches!(spec.store, StoreChoice::Url(_)) {
            spec.store = StoreChoice::Off;
        }
    }
    Ok(spec)
}

/// One `--tag KEY=VALUE`.
pub(crate) fn tag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !k.contains(['\n', '\t']) => {
            Ok((k.trim().to_string(), v.to_string()))
        }
        _ => Err(format!(
            "--tag {text}: write KEY=VALUE, e.g. --tag project=phage (the key not empty)"
        )),
    }
}

/// `--only ID...`: refused with the options that write files, which a debugging run
/// does not.
fn only(args: &RunArgs) -> Result<Option<Vec<String>>, String> {
    if args.only.is_empty() {
        return Ok(None);
    }
    for (given, flag) in [
        (args.out.is_some(), "-o/--out"),
        (args.log.is_some(), "-l/--log"),
        (args.skip.is_some(), "-s/--skip"),
        (args.run_dir.is_some(), "--run-dir"),
        (args.log_dir.is_some(), "--log-dir"),
    ] {
        if given {
            return Err(format!(
                "--only computes in the foreground (results on stdout, logs on stderr): \
                 leave out {flag}"
            ));
        }
    }
    Ok(Some(args.only.clone()))
}

/// The entities: the positional arguments after the mode, and the options that
/// belong to one mode only.
fn input(args: &mut RunArgs) -> Result<Input, String> {
    if args.mode != Mode::Files && !args.exclude.is_empty() {
        return Err(
            "--exclude is for files mode (run <plugin> files '<pattern>'): in the other \
             modes, leave the entities out of the input"
                .into(),
        );
    }
    if args.mode != Mode::Records && (args.id_column.is_some() || args.allow_duplicate_ids) {
        return Err(format!(
            "{} is for records mode (run <plugin> records <format> <file>...)",
            if args.id_column.is_some() {
                "--id-column"
            } else {
                "--allow-duplicate-ids"
            }
        ));
    }
    let rest = std::mem::take(&mut args.rest);
    let target = std::mem::take(&mut args.target);
    match args.mode {
        Mode::Ids => Ok(Input::Ids {
            path: target.into(),
            column: column(&rest, args.mode)?,
        }),
        Mode::Files => Ok(Input::Files {
            pattern: target,
            column: column(&rest, args.mode)?,
            exclude: std::mem::take(&mut args.exclude),
        }),
        Mode::Records => records_input(&target, rest, args.id_column.take()),
        Mode::Sql => match rest.as_slice() {
            [query] => Ok(Input::Sql {
                url: target,
                query: query.clone(),
            }),
            [] => Err(
                "sql mode needs a query: run <plugin> sql <url> '<query>' (quote the \
                       query; its first column is the ID)"
                    .into(),
            ),
            [_, extra, ..] => Err(format!(
                "unexpected argument '{extra}': sql mode takes a database and one query \
                 (quote the query)"
            )),
        },
    }
}

/// The `<col>` of ids mode (files mode takes none: the engine says so).
fn column(rest: &[String], mode: Mode) -> Result<Option<usize>, String> {
    match rest {
        [] => Ok(None),
        [c] => c.parse().map(Some).map_err(|_| {
            format!("'{c}' is not a column number: <col> is the 1-based column of the IDs")
        }),
        [_, extra, ..] if mode == Mode::Ids => Err(format!(
            "unexpected argument '{extra}': ids mode takes one IDs file and an optional column"
        )),
        [_, extra, ..] => Err(format!(
            "unexpected argument '{extra}': files mode takes one pattern (quote it so the \
             shell does not expand it)"
        )),
    }
}

/// `records <format> <file>...` and `--id-column`.
fn records_input(
    format: &str,
    files: Vec<String>,
    id_column: Option<String>,
) -> Result<Input, String> {
    let format = RecordFormat::parse(format).ok_or_else(|| {
        format!(
            "'{format}' is not a records format: give one of {} (run <plugin> records \
             <format> <file>...)",
            RecordFormat::ALL.map(RecordFormat::name).join(", ")
        )
    })?;
    if files.is_empty() {
        return Err(format!(
            "records mode needs at least one file: run <plugin> records {format} <file>..."
        ));
    }
    if id_column.is_some() && !format.has_columns() {
        return Err(format!(
            "--id-column is for the csv, tsv and jsonl formats: {format} records are named \
             by {}",
            if format == RecordFormat::Lines {
                "their file and line"
            } else {
                "their header's first word"
            }
        ));
    }
    Ok(Input::Records {
        format,
        files: files.into_iter().map(Into::into).collect(),
        id_column,
    })
}

/// `--shard I/N|all` and `--shards N`.
fn shard_choice(shard: Option<&str>, shards: Option<u32>) -> Result<ShardChoice, String> {
    let given = match shard.map(str::trim) {
        None => None,
        Some("all") => Some(ShardChoice::All),
        Some(text) => Some(ShardChoice::Given(
            Shard::parse(text).map_err(|e| format!("--shard {text}: {e}"))?,
        )),
    };
    match (given, shards) {
        (_, Some(0)) => Err("--shards 0: a run is split into at least 1 shard".into()),
        (None, None) => Ok(ShardChoice::FromScheduler),
        (None, Some(n)) => Ok(ShardChoice::Shards(n)),
        (Some(ShardChoice::Given(s)), Some(n)) if s.count() != n => Err(format!(
            "--shard {s} and --shards {n} disagree on the number of shards: give one of them"
        )),
        (Some(ShardChoice::All), Some(n)) => Err(format!(
            "--shard all and --shards {n} contradict each other: give one of them"
        )),
        (Some(choice), _) => Ok(choice),
    }
}

/// From now on, SIGINT (Ctrl-C), SIGTERM, SIGHUP or SIGUSR1 sets `stop` to stop the
/// run, and `which` to the exit status it asks for (128 + the signal); a second one
/// ends the process at once, with that status. SIGUSR1 is what `polyplug slurm submit`
/// has Slurm send before a task's time limit (`--signal=B:USR1@…`).
fn on_signals(stop: Arc<AtomicBool>, which: Arc<AtomicUsize>) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
    for signal in [SIGINT, SIGTERM, SIGHUP, SIGUSR1] {
        let code = 128 + signal;
        // The order is the one signal-hook documents: the shutdown checks the flag
        // before the flag is set, so the first signal only sets it.
        let _ = signal_hook::flag::register_conditional_shutdown(signal, code, stop.clone());
        let _ = signal_hook::flag::register_usize(signal, which.clone(), code as usize);
        let _ = signal_hook::flag::register(signal, stop.clone());
    }
}

/// Where the results go when no `-o` is given: standard output, which plugin code
/// must not write into. The stream is moved to a descriptor of its own and file
/// descriptor 1 is pointed to standard error, so what a native or in-process plugin
/// prints (even with `write(1, ...)`) goes to stderr and never into the results.
fn results_stream(to_stdout: bool) -> Result<Box<dyn std::io::Write>, String> {
    if !to_stdout {
        return Ok(Box::new(std::io::sink()));
    }
    let results = rustix::io::dup(std::io::stdout())
        .map_err(|e| format!("cannot set up standard output for the results: {e}"))?;
    rustix::stdio::dup2_stdout(std::io::stderr())
        .map_err(|e| format!("cannot point standard output to standard error: {e}"))?;
    Ok(Box::new(std::fs::File::from(results)))
}
