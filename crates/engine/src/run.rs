//! [`run`]: a whole `polyplug run`, as a short list of steps. Each step is a function
//! below, in the order the run takes them.

use crate::outcome::{comp_status, remarks};
use crate::outputs::{check_writable, open_output, to_stderr, write_report, writer};
use crate::provenance::{current_user, host_name, host_version, now, plugin_sha256};
use crate::record::AfterCommit;
use crate::run_store::RunStore;
use crate::{resolve, stores, EngineError, Input, RunIo, RunOutcome, RunSpec};
use polyplug_core::{
    AttributeDefinitions, CompStatus, Console, LoadOptions, OutputSpec, Params, Plugin, Report,
    Uuid,
};
use polyplug_runner::input::{self, Entities, SkipSet, Source};
use polyplug_runner::output::{check_results_file, RowFields, TsvWriter};
use polyplug_runner::{Recorder, RunOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Runs a plugin over entities as `spec` says: resolves and loads the plugin, checks
/// the parameters and definitions, opens the store (unless off) and the outputs,
/// skips what is done, runs the workers, records every result exactly once (store
/// first, then the TSV files), finalizes and writes the report.
///
/// A failing entity is recorded and the run goes on; the [`RunOutcome`] says how the
/// run ended. An `Err` is what stopped the run before or after its entities (a
/// plugin that cannot load, a missing file, a store that cannot be written); what was
/// computed until then is kept.
pub fn run(spec: &RunSpec, mut io: RunIo<'_>) -> Result<RunOutcome, EngineError> {
    let started_at = std::time::Instant::now();
    let placement = crate::Placement::of_process(spec.shard)?;
    let in_dir;
    let spec = match &spec.run_dir {
        Some(dir) => {
            in_dir = crate::run_dir::in_run_dir(spec, dir, &placement)?;
            &in_dir
        }
        None => spec,
    };
    let console = io.console.clone();
    let plugin = resolve::resolve(&spec.plugin, &load_options(spec, &console))?;
    let params = parameters(spec, plugin.as_ref())?;
    if let Some(report) = spec.report.as_deref().filter(|r| !to_stderr(r)) {
        check_writable(report)?;
    }
    if let Some(dir) = &spec.log_dir {
        crate::outputs::prepare_log_dir(dir)?;
    }
    let sha256 = plugin_sha256(plugin.path())?;
    let mut store = open_store(spec, plugin.as_ref(), &params, &sha256, console.as_ref())?;
    let output = output_spec(spec, plugin.as_ref(), store.as_mut())?;
    let source = source(spec, console.as_ref())?;
    let idsproc = idsproc(spec, &console)?;
    let run_id = match &spec.run_dir {
        Some(dir) => Some(crate::run_dir::settle_manifest(
            spec,
            dir,
            &placement,
            plugin.as_ref(),
            &params,
            &sha256,
            idsproc.as_deref(),
        )?),
        None => spec.run_id.clone(),
    };
    if let Some(out) = &spec.out {
        // Before the file is touched (a cut last line) or read as the skip list.
        check_results_file(out, row_fields(&output, plugin.as_ref()), &plugin.meta().id)?;
    }
    let out_file = open_output(spec.out.as_deref(), "results", spec, console.as_ref())?;
    if let (Some(s), Some(out)) = (&mut store, &spec.out) {
        s.repair_output(out, console.as_ref(), spec.verbose)?;
    }
    if let Some(s) = &mut store {
        s.lock(&input_identity(&source, spec, placement.shard))?;
    }
    // The repeat check first: what it holds is freed before the skip set is built.
    let repeats = repeats(spec, &source, idsproc.as_deref(), placement.shard)?;
    let skip = skip_set(
        spec,
        &source,
        idsproc.is_some(),
        placement.shard,
        |skip| match store.as_mut() {
            Some(s) => s.done_entities(skip),
            None => Ok(()),
        },
    )?;
    if spec.verbose {
        console.detail(&format!(
            "{} IDs are done (in the results file, the skip list or the store)",
            skip.len()
        ));
    }
    let mut entities = Entities::open(&source, idsproc.as_deref(), skip)?
        .once(repeats)
        .shard(placement.shard)?
        .only(&spec.only);
    tell_shard(&placement, console.as_ref());
    let log_file = open_output(spec.log.as_deref(), "log", spec, console.as_ref())?;
    let out = writer(out_file, io.results, 1 << 16);
    let log = writer(log_file, io.log, 8 << 10);
    let mut report = start_report(spec, plugin.as_ref(), &params, sha256);
    if let Some(s) = &mut store {
        s.begin(
            &report,
            &placement,
            run_id.as_deref(),
            (spec.name.as_deref(), &spec.tags),
        )?;
    }
    let state = match spec.run_dir.as_deref() {
        Some(d) => Some(Arc::new(crate::run_dir::StateProgress::start(
            crate::run_dir::ShardOutputs::of(d, placement.shard_or_whole()).state,
            io.progress.take(),
            placement.node.clone().unwrap_or_else(host_name),
        )?)),
        None => None,
    };
    if let Some(s) = &state {
        io.progress = Some(s.clone() as Arc<dyn polyplug_runner::Progress>);
    }
    let mut recorder = recorder(store.as_mut(), out, log)?;
    if let Some(started) = io.started.take() {
        started();
    }
    let opts = run_options(
        spec,
        placement.shard.is_none().then_some(&source),
        &io.progress,
        &io.stop,
        plugin.as_ref(),
        console.as_ref(),
    );
    let summary = polyplug_runner::run(
        plugin.as_ref(),
        &params,
        &output,
        &mut entities,
        recorder.as_mut(),
        &opts,
    )
    .map_err(|e| EngineError::Outputs(e.to_string()))?;
    drop(recorder);
    let interrupted = io.stop.load(std::sync::atomic::Ordering::SeqCst);
    tell_ends(&summary, &plugin.meta().id, console.as_ref());
    finish_report(&mut report, &summary, entities.skipped, interrupted);
    if let Some(s) = &mut store {
        s.finish(&report)?;
    }
    write_report(&report, spec.report.as_deref(), &mut io.report)?;
    if let Some(s) = &state {
        // After the report: a shard is finished once its report says what it did.
        let signal = io.signal.load(std::sync::atomic::Ordering::SeqCst);
        s.end(crate::run_dir::stopped_by(&summary, interrupted, signal))?;
    }
    tell_stream_repeats(&source, console.as_ref());
    if entities.repeated > 0 {
        console.note(&format!(
            "{} repeated appearance{} of IDs skipped: each entity computed once \
             (--allow-duplicates)",
            entities.repeated,
            if entities.repeated == 1 { "" } else { "s" }
        ));
    }
    if let Some(halt) = &summary.halt {
        console.note(&format!(
            "the run was stopped by {} at the failure of {:?} (see the log); what was under \
             way was finished and kept; the entities after it were not computed: rerun to \
             compute them (computed entities are skipped)",
            halt.by, halt.entity
        ));
    }
    let tally = crate::outcome::Tally {
        plugin_id: plugin.meta().id.clone(),
        skipped_in_store: entities.skipped_in_store,
        repeated: entities.repeated,
        skip_list: spec
            .skip
            .as_ref()
            .or(spec.out.as_ref())
            .map(|p| p.display().to_string()),
        store: stores::run_location(&spec.store)
            .ok()
            .flatten()
            .map(|l| l.display()),
        report: spec.report.as_ref().map(|p| p.display().to_string()),
        elapsed: started_at.elapsed(),
        not_found: entities.not_found(),
    };
    Ok(RunOutcome {
        report,
        skipped: entities.skipped,
        summary,
        interrupted,
        tally,
    })
}

/// What the plugin's loader is asked for.
pub(crate) fn load_options(spec: &RunSpec, console: &Arc<dyn Console>) -> LoadOptions {
    LoadOptions {
        timeout: spec.timeout,
        jobs: jobs(spec),
        python_path: spec.python_path.clone(),
        entity_files: matches!(spec.input, Input::Files { .. }),
        allow_dirs: spec.allow_dirs.clone(),
        wasm_memory_mib: spec.wasm_memory_mib,
        fuel: spec.fuel,
        max_memory_mib: spec.max_memory_mib,
        worker_program: spec.worker_program.clone(),
        in_process: spec.in_process,
        records: spec.input.record_source().map(Arc::new),
        debug: !spec.only.is_empty(),
        trace: spec.trace,
        log_dir: spec.log_dir.clone(),
        console: console.clone(),
        ..LoadOptions::default()
    }
}

/// Workers: as asked, else one per core.
pub(crate) fn jobs(spec: &RunSpec) -> usize {
    spec.jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

fn read_text(path: &Path, what: &'static str) -> Result<String, EngineError> {
    std::fs::read_to_string(path).map_err(|e| EngineError::Read {
        path: path.to_path_buf(),
        what,
        why: e.to_string(),
    })
}

/// The parameters: the `--params` file checked against PARAMETERS, defaults filled in.
pub(crate) fn parameters(spec: &RunSpec, plugin: &dyn Plugin) -> Result<Params, EngineError> {
    if !plugin.has_compute() {
        return Err(EngineError::NoCompute {
            path: plugin.path().to_path_buf(),
            id: plugin.meta().id.clone(),
        });
    }
    let (given, origin) = match &spec.params {
        Some(p) => {
            let origin = p.display().to_string();
            let text = read_text(p, "parameters file")?;
            (Params::parse_yaml(&text, &origin)?, origin)
        }
        None => (Vec::new(), "--params".to_string()),
    };
    Ok(Params::resolve(plugin.meta(), &given, &origin)?)
}

/// The results store, unless it is off.
fn open_store(
    spec: &RunSpec,
    plugin: &dyn Plugin,
    params: &Params,
    sha256: &str,
    console: &dyn Console,
) -> Result<Option<RunStore>, EngineError> {
    let Some(location) = stores::run_location(&spec.store)? else {
        return Ok(None);
    };
    let store = RunStore::open(
        &location,
        plugin,
        params,
        sha256,
        spec.replace_plugin_record,
        console,
        spec.verbose,
    )?;
    Ok(Some(store))
}

/// The attribute definitions to check results with: `--defs`, or the
/// `attribute_definitions.yaml` beside the plugin.
pub fn definitions_for(
    plugin_path: &Path,
    explicit: Option<&Path>,
) -> Result<Option<AttributeDefinitions>, EngineError> {
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
    let origin = path.display().to_string();
    Ok(Some(AttributeDefinitions::from_yaml_str(&text, &origin)?))
}

/// How results are checked: against the definitions (`--defs`, beside the plugin, or
/// the store's), else against OUTPUT alone; the store records the OUTPUT attributes.
fn output_spec(
    spec: &RunSpec,
    plugin: &dyn Plugin,
    store: Option<&mut RunStore>,
) -> Result<OutputSpec, EngineError> {
    let meta = plugin.meta();
    let mut defs = definitions_for(plugin.path(), spec.defs.as_deref())?;
    let mut store = store;
    if defs.is_none() {
        defs = store.as_mut().and_then(|s| s.definitions_for(&meta.output));
    }
    let output = match &defs {
        Some(d) => OutputSpec::typed(&meta.output, d).map_err(|why| EngineError::Undefined {
            path: plugin.path().to_path_buf(),
            id: meta.id.clone(),
            why,
        })?,
        None => OutputSpec::untyped(&meta.output),
    };
    if let Some(s) = store {
        s.prepare_attributes(&meta.output, defs.as_ref())?;
    }
    Ok(output)
}

/// Where the units come from; in records mode, the files' indexes are checked (and
/// made where missing or out of date) here.
pub(crate) fn source(spec: &RunSpec, console: &dyn Console) -> Result<Source, EngineError> {
    match &spec.input {
        Input::Ids { path, column } => Ok(Source::Ids {
            path: path.clone(),
            column: column.unwrap_or(1),
        }),
        Input::Files {
            column: Some(_), ..
        } => Err(EngineError::ColumnInFilesMode),
        Input::Files {
            pattern, exclude, ..
        } => Ok(Source::Files {
            pattern: pattern.clone(),
            exclude: exclude.clone(),
            base: None,
        }),
        Input::Records {
            format,
            files,
            id_column,
        } => {
            let records = polyplug_core::RecordSource {
                format: *format,
                files: files.clone(),
                id_column: id_column.clone(),
            };
            Ok(Source::Records {
                catalog: Arc::new(crate::records::catalog(&records, console)?),
                suffix_repeats: spec.allow_duplicate_ids,
            })
        }
        Input::Sql { url, query } => Ok(Source::Stream(Arc::new(crate::sql::SqlSource::new(
            url, query,
        )))),
    }
}

/// The `--idsproc` plugin, which must have `compute_id`.
pub(crate) fn idsproc(
    spec: &RunSpec,
    console: &Arc<dyn Console>,
) -> Result<Option<Box<dyn Plugin>>, EngineError> {
    let Some(arg) = &spec.idsproc else {
        return Ok(None);
    };
    let options = LoadOptions {
        python_path: spec.python_path.clone(),
        console: console.clone(),
        ..LoadOptions::default()
    };
    let plugin = resolve::resolve(arg, &options)?;
    if !plugin.has_compute_id() {
        return Err(EngineError::NoComputeId {
            path: plugin.path().to_path_buf(),
            id: plugin.meta().id.clone(),
        });
    }
    Ok(Some(plugin))
}

/// The fields of one results row of the plugin: its ID and its values.
fn row_fields(output: &OutputSpec, plugin: &dyn Plugin) -> RowFields {
    match output.n_columns() {
        Some(n) => RowFields::Exactly(1 + n),
        None => RowFields::AtLeast(1 + plugin.meta().output.len()),
    }
}

/// What names a run's entities, for its lock: the canonical IDs file and column, or
/// the pattern (absolute), and the `--idsproc` plugin.
fn input_identity(source: &Source, spec: &RunSpec, shard: Option<polyplug_core::Shard>) -> String {
    let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let input = match source {
        Source::Ids { path, column } => format!("ids {} {column}", absolute(path).display()),
        Source::Files {
            pattern, exclude, ..
        } => {
            let cwd = std::env::current_dir().unwrap_or_default();
            format!("files {} exclude {exclude:?}", cwd.join(pattern).display())
        }
        Source::Records { catalog, .. } => {
            let r = catalog.source();
            let files: Vec<String> = r
                .files
                .iter()
                .map(|f| absolute(f).display().to_string())
                .collect();
            format!("records {} {files:?} id {:?}", r.format, r.id_column)
        }
        Source::Stream(s) => match &spec.input {
            Input::Sql { url, query } => format!("sql {url} {query}"),
            _ => s.place(),
        },
    };
    let input = match &spec.idsproc {
        Some(p) => format!("{input} idsproc {}", absolute(Path::new(p)).display()),
        None => input,
    };
    // The shards of one run into a shared store are different runs of the lock.
    match shard {
        Some(s) => format!("{input} shard {s}"),
        None => input,
    }
}

/// The IDs the input gives more than once: an error unless `--allow-duplicates` (or
/// `--allow-duplicate-ids`) lets the run compute each once (or number them).
pub(crate) fn repeats(
    spec: &RunSpec,
    source: &Source,
    idsproc: Option<&dyn Plugin>,
    shard: Option<polyplug_core::Shard>,
) -> Result<polyplug_runner::repeats::Repeats, EngineError> {
    let repeats = polyplug_runner::repeats::find_remembered(
        source,
        idsproc,
        shard,
        repeats_cache().as_deref(),
    )?;
    if !repeats.is_empty() && !spec.allow_duplicates && !spec.allow_duplicate_ids {
        return Err(repeats.error(source).into());
    }
    Ok(repeats)
}

/// Where IDs files found without repeats are remembered: `<cache>/repeats` (none
/// when there is no cache folder: then every run checks).
pub(crate) fn repeats_cache() -> Option<std::path::PathBuf> {
    polyplug_core::CacheRoot::from_env()
        .ok()
        .map(|c| c.path.join("repeats"))
}

/// The repeated-ID check of a run's whole IDs file (every shard's IDs), for a
/// submission of its shards: repeats are an error before anything is submitted
/// rather than in every task, and a file without a repeat is remembered, so that the
/// tasks do not check it again. Nothing to do for other inputs, or with `--idsproc`
/// (the tasks check what it makes).
pub fn check_repeats(spec: &RunSpec) -> Result<(), EngineError> {
    if !matches!(spec.input, Input::Ids { .. }) || spec.idsproc.is_some() {
        return Ok(());
    }
    let source = source(spec, &polyplug_core::Silent)?;
    repeats(spec, &source, None, None).map(drop)
}

/// What to skip: the skip list (`-s`, else the results file, as Prenacs does) and, unless
/// `--force`, what `add_done` adds (the store's done entities). Over an IDs file that
/// can be read again (and no `--idsproc`), a set of more than 512 Ki IDs goes to disk
/// and marks the input's lines instead ([`SkipSet::spilling`]), unless `TMPDIR` is a
/// memory file system: files there would take more memory than the IDs held.
pub(crate) fn skip_set(
    spec: &RunSpec,
    source: &Source,
    idsproc: bool,
    shard: Option<polyplug_core::Shard>,
    add_done: impl FnOnce(&mut SkipSet) -> Result<(), EngineError>,
) -> Result<SkipSet, EngineError> {
    let mut skip = match source {
        Source::Ids { path, .. } if !idsproc && input::rereadable(path) && temp_on_disk() => {
            SkipSet::spilling()
        }
        _ => SkipSet::default(),
    };
    if let Some(p) = spec.skip.as_ref().or(spec.out.as_ref()) {
        if spec.skip.is_some() && !p.exists() {
            return Err(EngineError::NoSkipList { path: p.clone() });
        }
        input::read_skip_list_into(p, &mut skip)?;
    }
    if !spec.force {
        add_done(&mut skip)?;
    }
    skip.mark_lines(source, shard)?;
    Ok(skip)
}

/// Whether temporary files go to a disk: not when `TMPDIR` is a tmpfs or ramfs (whose
/// pages are memory, counted in a job's memory limit).
fn temp_on_disk() -> bool {
    on_disk(&std::env::temp_dir())
}

/// Whether `dir` is on a disk rather than a tmpfs or ramfs. A folder that cannot be
/// asked counts as a disk: writing there then fails with an error that names `TMPDIR`.
fn on_disk(dir: &Path) -> bool {
    const TMPFS_MAGIC: u64 = 0x0102_1994;
    const RAMFS_MAGIC: u64 = 0x8584_58f6;
    match rustix::fs::statfs(dir) {
        #[allow(clippy::unnecessary_cast, reason = "f_type is i64 or u32 by target")]
        Ok(fs) => !matches!(fs.f_type as u64, TMPFS_MAGIC | RAMFS_MAGIC),
        Err(_) => true,
    }
}

/// The report as known at the start.
fn start_report(spec: &RunSpec, plugin: &dyn Plugin, params: &Params, sha256: String) -> Report {
    let meta = plugin.meta();
    Report {
        uuid: Uuid::new_v4(),
        plugin_id: meta.id.clone(),
        plugin_version: meta.version.clone(),
        parameters: params.to_yaml(),
        user_id: Some(spec.user.clone().unwrap_or_else(current_user)),
        system_id: Some(spec.system.clone().unwrap_or_else(host_name)),
        reason: spec.reason.map(|r| r.as_str().to_string()),
        time_start: Some(now()),
        time_end: None,
        n_units: None,
        n_failed: None,
        n_skipped: None,
        comp_status: CompStatus::Running,
        remarks: None,
        plugin_sha256: Some(sha256),
        host_version: Some(host_version()),
    }
}

/// The recorder: into the store then the TSV files, or into the TSV files alone.
fn recorder<'w>(
    store: Option<&mut RunStore>,
    out: Box<dyn Write + 'w>,
    log: Box<dyn Write + 'w>,
) -> Result<Box<dyn Recorder + 'w>, EngineError> {
    Ok(match store {
        Some(s) => Box::new(s.recorder(out, log, fault_hook())?),
        None => Box::new(TsvWriter::new(out, log)),
    })
}

/// `POLYPLUG_FAULT=abort-after-commit`: the process dies right after a commit, before
/// the batch's rows reach the files (for the tests of the kill-and-rerun repair).
fn fault_hook() -> Option<AfterCommit> {
    std::env::var("POLYPLUG_FAULT")
        .is_ok_and(|v| v == "abort-after-commit")
        .then(|| Arc::new(|_units: usize| std::process::abort()) as AfterCommit)
}

/// The runner's options; says what is being run (`-v`) and starts the progress.
fn run_options(
    spec: &RunSpec,
    source: Option<&Source>,
    progress: &Option<Arc<dyn polyplug_runner::Progress>>,
    stop: &Arc<std::sync::atomic::AtomicBool>,
    plugin: &dyn Plugin,
    console: &dyn Console,
) -> RunOptions {
    let jobs = jobs(spec);
    if spec.verbose {
        let meta = plugin.meta();
        console.detail(&format!(
            "running {} {} with {jobs} worker(s)",
            meta.id, meta.version
        ));
        if plugin.language().starts_with("python") {
            console.detail(&polyplug_loader_python::describe_interpreter());
        }
    }
    if let Some(p) = progress {
        // A shard's share of the input is not known before it is read.
        p.start(source.and_then(input::count_units));
    }
    RunOptions {
        jobs,
        records: spec.input.record_source().map(Arc::new),
        halt_on_error: spec.halt_on_error,
        retries: spec.retries,
        max_failures: spec.max_failures,
        progress: progress.clone(),
        stop: stop.clone(),
        ..RunOptions::default()
    }
}

/// Says which shard is computed when the scheduler chose it: a run that is a task of
/// someone else's job array would otherwise compute a part of its input unawares.
fn tell_shard(placement: &crate::Placement, console: &dyn Console) {
    if let (Some(shard), Some(from)) = (placement.shard, placement.shard_from) {
        console.note(&format!(
            "computing shard {shard} (from {from}): the entities whose ID hashes to it; \
             --shard all computes every entity"
        ));
    }
}

/// Says which keys a query gave more than once (each was computed once).
fn tell_stream_repeats(source: &Source, console: &dyn Console) {
    let Source::Stream(stream) = source else {
        return;
    };
    let (count, first) = stream.repeated();
    if count > 0 {
        console.note(&format!(
            "{}: {count} row{} repeated a key of an earlier row and {} passed over (each key \
             is computed once): {}; make the first column unique",
            stream.place(),
            if count == 1 { "" } else { "s" },
            if count == 1 { "was" } else { "were" },
            first
                .iter()
                .map(|k| format!("{k:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}

/// Tells what the workers said at the end: finalize logs, plugin and input errors.
fn tell_ends(summary: &polyplug_runner::RunSummary, id: &str, console: &dyn Console) {
    for line in &summary.finalize_logs {
        for part in line.lines() {
            console.note(&format!("{id}: finalize: {part}"));
        }
    }
    for e in &summary.plugin_errors {
        console.note(&e.to_string());
    }
    if let Some(e) = &summary.input_error {
        console.note(&e.to_string());
    }
}

/// The report fields known at the end.
fn finish_report(
    report: &mut Report,
    summary: &polyplug_runner::RunSummary,
    skipped: u64,
    interrupted: bool,
) {
    report.time_end = Some(now());
    report.n_units = Some(summary.n_units);
    report.n_failed = Some(summary.n_failed);
    report.n_skipped = Some(skipped);
    report.comp_status = comp_status(summary);
    report.remarks = remarks(summary, interrupted);
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_file_systems_are_not_disks() {
        // /dev/shm is a tmpfs on Linux; the sources are on a disk; an unknown
        // folder counts as a disk (writing there names TMPDIR in its error).
        assert!(!super::on_disk(std::path::Path::new("/dev/shm")));
        assert!(super::on_disk(std::path::Path::new(env!(
            "CARGO_MANIFEST_DIR"
        ))));
        assert!(super::on_disk(std::path::Path::new("/no/such/folder")));
    }
}
