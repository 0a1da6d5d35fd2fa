//! The results store on the command line: how `polyplug run` records into it, and the
//! `attrs`, `load`, `query`, `runs` and `export` commands.
//!
//! # Exactly once, also after SIGKILL
//!
//! The store decides what is done. A run records each entity as a *unit* (with its
//! values, or no result, or failed) and commits units in batches; a batch, units and
//! values together, is one row of the store (a block), so after a kill each entity is
//! either fully in the store or not at all. A rerun skips every entity the store has as done for the same
//! (plugin ID, VERSION, parameters), whichever computation did it.
//!
//! The results and log TSV files are written *after* the batch that holds their rows
//! is committed (the recorder keeps them in memory until then). So a kill can leave
//! the files behind the store, never ahead of it: the rows of at most the last batch
//! may be missing (and a cut last row is removed when the file is reopened). The
//! rerun repairs that: a run that was killed (its process is gone, its status still
//! `running`) is marked `killed`, and if it appended to the same results file, the
//! rows it committed but did not write are appended from the store before anything
//! is computed. Then the file and the store agree again, each entity once.

use crate::args::{
    AttrsCommand, AttrsSyncArgs, ExportArgs, Format, LoadArgs, QueryArgs, RunArgs, RunsCommand,
    StoreOpt,
};
use crate::{discover, error, EXIT_USAGE};
use polyplug_core::{AttributeDefinitions, ColumnKind, Entity, Outcome, Params, Plugin, Value};
use polyplug_runner::input::SkipSet;
use polyplug_runner::output::TsvWriter;
use polyplug_runner::report::Report;
use polyplug_runner::{EntityResult, Recorder};
use polyplug_store::{
    params_key, ComputationId, Filter, Finish, Location, NewComputation, PluginRecord,
    PluginRegistration, Record, Store, SyncOptions, UnitBatch,
};
use std::cell::RefCell;
use std::io::Write;
use std::path::Path;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

/// Units per block at most (a batch is also committed every half second).
const BATCH_UNITS: usize = 4_096;

/// The store location: `--store`, else `POLYPLUG_STORE`, else `./polyplug.db`.
pub fn location(opt: &StoreOpt) -> Result<Location, String> {
    match &opt.store {
        Some(url) => Location::parse(url).map_err(|e| format!("--store: {e}")),
        None => match std::env::var("POLYPLUG_STORE") {
            Ok(url) if url.trim() == "none" => Err(
                "POLYPLUG_STORE=none turns the store off; give the store with --store URL".into(),
            ),
            Ok(url) if !url.trim().is_empty() => {
                Location::parse(&url).map_err(|e| format!("POLYPLUG_STORE: {e}"))
            }
            _ => Ok(Location::default_sqlite()),
        },
    }
}

/// Whether `POLYPLUG_STORE=none` turns the store off for `run` (as `--no-store` does),
/// for users and scripts that only want the TSV outputs.
fn store_disabled_by_env() -> bool {
    std::env::var("POLYPLUG_STORE").is_ok_and(|v| v.trim() == "none")
}

/// Opens the store for a command that only reads it: a missing SQLite file is an
/// error, not a new empty store.
fn open_existing(opt: &StoreOpt) -> Result<Store, String> {
    let loc = location(opt)?;
    if !Store::exists(&loc) {
        return Err(format!(
            "store {}: no such file; `polyplug run` creates it, or give the store with \
             --store URL or POLYPLUG_STORE",
            loc.display()
        ));
    }
    Store::open(&loc).map_err(|e| e.to_string())
}

fn open_or_create(opt: &StoreOpt) -> Result<Store, String> {
    Store::open(&location(opt)?).map_err(|e| e.to_string())
}

fn finish(r: Result<(), String>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => {
            error(e);
            EXIT_USAGE
        }
    }
}

fn host_name() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// Whether a process of this machine is still running.
fn process_alive(pid: i64) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        // Without a cheap check, never declare another run dead.
        true
    }
}

// ---------------------------------------------------------------------------------
// polyplug run

/// Records the plugin's description and content hash (`polyplug run` and `load`); says
/// so when `--replace-plugin-record` replaced a different stored one.
fn register_plugin(
    store: &mut Store,
    plugin: &dyn Plugin,
    sha256: &str,
    replace: bool,
) -> Result<(), String> {
    let meta = plugin.meta();
    let registration = store
        .register_plugin(
            &PluginRecord {
                meta: meta.clone(),
                sha256: sha256.to_string(),
                language: plugin.language().to_string(),
                file: plugin.path().display().to_string(),
            },
            replace,
        )
        .map_err(|e| e.to_string())?;
    if registration == PluginRegistration::Replaced {
        error(format!(
            "store {}: replaced the stored description of plugin {} version {} \
             (--replace-plugin-record)",
            store.location(),
            meta.id,
            meta.version
        ));
    }
    Ok(())
}

/// The store side of a run.
pub struct RunStore {
    /// Shared with the recorder's writer thread during the run.
    store: Arc<Mutex<Store>>,
    key: (String, String, String),
    layout: Option<polyplug_store::Layout>,
    computation: Option<ComputationId>,
    out_path: Option<String>,
    host: String,
}

impl RunStore {
    /// Opens the store for `polyplug run` (unless `--no-store`), marks killed runs,
    /// records the plugin and the OUTPUT attributes.
    pub fn open(
        args: &RunArgs,
        plugin: &dyn Plugin,
        params: &Params,
        plugin_sha256: &str,
    ) -> Result<Option<RunStore>, String> {
        if args.no_store || (args.store.store.is_none() && store_disabled_by_env()) {
            return Ok(None);
        }
        let mut store = open_or_create(&args.store)?;
        if args.verbose {
            eprintln!("# recording into store {}", store.location());
        }
        let meta = plugin.meta();
        let host = host_name();
        let closed = store
            .close_killed(&host, process_alive)
            .map_err(|e| e.to_string())?;
        if args.verbose {
            for uuid in &closed {
                eprintln!("# computation {uuid} was killed: marked as such in the store");
            }
        }
        register_plugin(
            &mut store,
            plugin,
            plugin_sha256,
            args.replace_plugin_record,
        )?;
        Ok(Some(RunStore {
            key: (
                meta.id.clone(),
                meta.version.clone(),
                params_key(params.entries()),
            ),
            store: Arc::new(Mutex::new(store)),
            layout: None,
            computation: None,
            out_path: None,
            host,
        }))
    }

    /// The definitions the store has for every OUTPUT attribute, when it has them all
    /// (used when no definitions file is given).
    pub fn definitions_for(&mut self, output: &[String]) -> Option<AttributeDefinitions> {
        let defs = self.db().definitions().ok()?;
        output.iter().all(|a| defs.get(a).is_some()).then_some(defs)
    }

    /// Records the OUTPUT attributes (checked against `defs` when given).
    pub fn prepare_attributes(
        &mut self,
        output: &[String],
        defs: Option<&AttributeDefinitions>,
    ) -> Result<(), String> {
        let layout = self
            .db()
            .prepare_attributes(output, defs)
            .map_err(|e| e.to_string())?;
        self.layout = Some(layout);
        Ok(())
    }

    /// Before the results file is read as a skip list: appends the rows that killed
    /// runs of the same key committed to the store but did not write to it.
    pub fn repair_output(&mut self, out: &Path, verbose: bool) -> Result<(), String> {
        let canonical = std::fs::canonicalize(out)
            .unwrap_or_else(|_| out.to_path_buf())
            .display()
            .to_string();
        self.out_path = Some(canonical.clone());
        let (id, version, params) = self.key.clone();
        let killed = self
            .db()
            .killed_with_output(&id, &version, &params, &canonical)
            .map_err(|e| e.to_string())?;
        if killed.is_empty() {
            return Ok(());
        }
        let in_file = polyplug_runner::input::read_skip_list(out).map_err(|e| e.0)?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(out)
            .map_err(|e| format!("{}: cannot open the results file: {e}", out.display()))?;
        let mut written = 0u64;
        {
            let mut w = TsvWriter::new(
                Box::new(std::io::BufWriter::new(&file)),
                Box::new(std::io::sink()),
            );
            for uuid in &killed {
                let mut io_err = None;
                self.db()
                    .result_rows(uuid, |entity, values| {
                        if !in_file.contains(entity) {
                            let e = Entity {
                                input: entity.to_string(),
                                id: entity.to_string(),
                            };
                            let r = EntityResult::Done(Outcome {
                                values: values.to_vec(),
                                logs: Vec::new(),
                            });
                            if let Err(e) = w.record(&e, &r) {
                                io_err = Some(e);
                            }
                            written += 1;
                        }
                        Ok(())
                    })
                    .map_err(|e| e.to_string())?;
                if let Some(e) = io_err {
                    return Err(format!("{}: cannot write: {e}", out.display()));
                }
            }
            w.flush()
                .map_err(|e| format!("{}: cannot write: {e}", out.display()))?;
        }
        for uuid in &killed {
            self.db().clear_out_path(uuid).map_err(|e| e.to_string())?;
        }
        if written > 0 || verbose {
            error(format!(
                "{}: appended {written} row(s) that the killed run(s) {} had stored but not \
                 written",
                out.display(),
                killed.join(", ")
            ));
        }
        Ok(())
    }

    /// Adds to `skip` the entities the store has as done for this plugin ID, VERSION
    /// and parameters.
    pub fn done_entities(&mut self, skip: &mut SkipSet) -> Result<(), String> {
        let (id, version, params) = &self.key;
        self.db()
            .done_entities(id, version, params, |e| skip.insert(e))
            .map_err(|e| e.to_string())
    }

    /// Records the start of the computation.
    #[allow(
        clippy::too_many_arguments,
        reason = "the report fields known at the start"
    )]
    pub fn begin(
        &mut self,
        uuid: [u8; 16],
        parameters: &str,
        user_id: &str,
        system_id: &str,
        reason: Option<&str>,
        time_start: &str,
        plugin_sha256: &str,
    ) -> Result<(), String> {
        let (id, version, params) = self.key.clone();
        let c = NewComputation {
            uuid,
            plugin_id: id,
            plugin_version: version,
            parameters: parameters.to_string(),
            params_key: params,
            user_id: user_id.to_string(),
            system_id: system_id.to_string(),
            reason: reason.map(str::to_string),
            time_start: time_start.to_string(),
            plugin_sha256: plugin_sha256.to_string(),
            host_version: format!("polyplug {}", env!("CARGO_PKG_VERSION")),
            shard: None,
            host: self.host.clone(),
            pid: i64::from(std::process::id()),
            out_path: self.out_path.clone(),
            origin: "run".into(),
            comp_status: "running".into(),
        };
        let id = self.db().begin_computation(&c).map_err(|e| e.to_string())?;
        self.computation = Some(id);
        Ok(())
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave a transaction half-applied
        // (the database rolls it back), so a poisoned lock is still usable.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A recorder that commits to the store in a writer thread, then writes the TSV
    /// outputs.
    pub fn recorder<'w>(
        &mut self,
        out: Box<dyn Write + 'w>,
        log: Box<dyn Write + 'w>,
    ) -> Result<StoreRecorder<'w>, String> {
        let (Some(computation), Some(layout)) = (self.computation, self.layout.clone()) else {
            return Err("internal: the store computation was not started".into());
        };
        // Fault injection for the tests of the kill-and-rerun repair: die right after
        // a commit, before the rows reach the files.
        let abort_after_commit =
            std::env::var("POLYPLUG_FAULT").is_ok_and(|v| v == "abort-after-commit");
        let (batch_tx, batch_rx) = std::sync::mpsc::sync_channel::<UnitBatch>(1);
        let (ack_tx, ack_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let store = self.store.clone();
        let writer = std::thread::Builder::new()
            .name("polyplug-store".into())
            .spawn(move || {
                for mut batch in batch_rx {
                    let mut db = store.lock().unwrap_or_else(|p| p.into_inner());
                    let r = db.commit(&mut batch).map_err(|e| e.to_string());
                    drop(db);
                    if r.is_ok() && abort_after_commit {
                        std::process::abort();
                    }
                    if ack_tx.send(r).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| format!("cannot start the store writer thread: {e}"))?;
        let out_buf = SharedBuf::default();
        let log_buf = SharedBuf::default();
        Ok(StoreRecorder {
            batch_tx: Some(batch_tx),
            ack_rx,
            writer: Some(writer),
            batch: UnitBatch::new(computation, layout),
            in_flight: std::collections::VecDeque::new(),
            tsv: TsvWriter::new(Box::new(out_buf.clone()), Box::new(log_buf.clone())),
            out_buf,
            log_buf,
            out,
            log,
        })
    }

    /// Records the report of the computation.
    pub fn finish(&mut self, report: &Report) -> Result<(), String> {
        let Some(id) = self.computation else {
            return Ok(());
        };
        self.db()
            .finish_computation(
                id,
                &Finish {
                    time_end: report.time_end.clone(),
                    n_units: report.n_units,
                    n_failed: report.n_failed,
                    n_skipped: report.n_skipped,
                    comp_status: report.comp_status.as_str().to_string(),
                    remarks: report.remarks.clone(),
                },
            )
            .map_err(|e| e.to_string())
    }
}

/// A byte buffer shared between the TSV writer and the recorder that drains it.
#[derive(Clone, Default)]
struct SharedBuf(Rc<RefCell<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Records results into the store and, after each commit, into the TSV outputs.
///
/// Batches are committed by a writer thread while the run goes on; the rows of a
/// batch reach the TSV files only once the thread reports its commit, so the files
/// never get ahead of the store.
pub struct StoreRecorder<'w> {
    batch_tx: Option<std::sync::mpsc::SyncSender<UnitBatch>>,
    ack_rx: std::sync::mpsc::Receiver<Result<(), String>>,
    writer: Option<std::thread::JoinHandle<()>>,
    batch: UnitBatch,
    /// TSV bytes (results, logs) of the batches sent and not yet committed, in order.
    in_flight: std::collections::VecDeque<(Vec<u8>, Vec<u8>)>,
    tsv: TsvWriter<'static>,
    out_buf: SharedBuf,
    log_buf: SharedBuf,
    out: Box<dyn Write + 'w>,
    log: Box<dyn Write + 'w>,
}

fn store_io(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl StoreRecorder<'_> {
    /// Hands the current batch to the writer thread.
    fn send(&mut self) -> std::io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let next = self.batch.continued();
        let batch = std::mem::replace(&mut self.batch, next);
        let out = std::mem::take(&mut *self.out_buf.0.borrow_mut());
        let log = std::mem::take(&mut *self.log_buf.0.borrow_mut());
        self.in_flight.push_back((out, log));
        let tx = self
            .batch_tx
            .as_ref()
            .ok_or_else(|| store_io("the store writer has stopped"))?;
        if tx.send(batch).is_err() {
            // The writer ended: its error is in the acknowledgements.
            return self
                .wait_all()
                .and(Err(store_io("the store writer has stopped")));
        }
        Ok(())
    }

    /// Writes the TSV bytes of one committed batch.
    fn committed(&mut self, ack: Result<(), String>) -> std::io::Result<()> {
        ack.map_err(store_io)?;
        if let Some((out, log)) = self.in_flight.pop_front() {
            self.out.write_all(&out)?;
            self.log.write_all(&log)?;
        }
        Ok(())
    }

    /// Takes the commits reported so far, without waiting.
    fn poll(&mut self) -> std::io::Result<()> {
        while let Ok(ack) = self.ack_rx.try_recv() {
            self.committed(ack)?;
        }
        Ok(())
    }

    /// Waits until every batch sent is committed and written.
    fn wait_all(&mut self) -> std::io::Result<()> {
        while !self.in_flight.is_empty() {
            match self.ack_rx.recv() {
                Ok(ack) => self.committed(ack)?,
                Err(_) => return Err(store_io("the store writer thread ended unexpectedly")),
            }
        }
        self.out.flush()?;
        self.log.flush()
    }
}

impl Recorder for StoreRecorder<'_> {
    fn record(&mut self, entity: &Entity, result: &EntityResult) -> std::io::Result<()> {
        self.tsv.record(entity, result)?;
        match result {
            EntityResult::Done(o) => self.batch.push(&entity.id, &o.values, &o.logs, None),
            EntityResult::Failed(e) => {
                self.batch
                    .push(&entity.id, &[], &e.logs, Some(e.message.as_str()))
            }
        }
        if self.batch.len() >= BATCH_UNITS {
            self.send()?;
            self.poll()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()?;
        self.wait_all()
    }
}

impl Drop for StoreRecorder<'_> {
    fn drop(&mut self) {
        // Close the channel and let the writer finish what it has.
        self.batch_tx.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

// ---------------------------------------------------------------------------------
// polyplug attrs

/// `polyplug attrs sync|list`.
pub fn attrs(cmd: AttrsCommand) -> i32 {
    finish(match cmd {
        AttrsCommand::Sync(a) => attrs_sync(a),
        AttrsCommand::List(opt) => attrs_list(&opt),
    })
}

fn attrs_sync(a: AttrsSyncArgs) -> Result<(), String> {
    let text = std::fs::read_to_string(&a.definitions).map_err(|e| {
        format!(
            "{}: cannot read the attribute definitions: {e}",
            a.definitions.display()
        )
    })?;
    let defs = AttributeDefinitions::from_yaml_str(&text, &a.definitions.display().to_string())?;
    let mut store = open_or_create(&a.store)?;
    let s = store
        .sync_attributes(
            &defs,
            SyncOptions {
                update: a.update,
                drop: a.drop,
            },
        )
        .map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let w = |out: &mut dyn Write, what: &str, names: &[String]| {
        if !names.is_empty() {
            let _ = writeln!(out, "{what}: {}", names.join(", "));
        }
    };
    w(&mut out, "added", &s.added);
    w(&mut out, "updated", &s.updated);
    let recreated: Vec<String> = s
        .recreated
        .iter()
        .map(|(n, k)| format!("{n} ({k} values deleted)"))
        .collect();
    w(&mut out, "dropped and recreated", &recreated);
    if !s.differing.is_empty() {
        error(format!(
            "{}: {} attribute(s) differ from the store in their text fields ({}); rerun with \
             --update to apply",
            a.definitions.display(),
            s.differing.len(),
            s.differing.join(", ")
        ));
    }
    if s.added.is_empty() && s.updated.is_empty() && s.recreated.is_empty() {
        let _ = writeln!(
            out,
            "the store is up to date with {}",
            a.definitions.display()
        );
    }
    Ok(())
}

fn attrs_list(opt: &StoreOpt) -> Result<(), String> {
    let mut store = open_existing(opt)?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "name\tdatatype\tcomputation_group\tunit\tdefinition");
    for a in store.attributes().map_err(|e| e.to_string())? {
        let f = |s: &Option<String>| s.as_deref().unwrap_or("").replace(['\t', '\n'], " ");
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            a.name,
            a.datatype.as_deref().unwrap_or("(undefined)"),
            f(&a.computation_group),
            f(&a.unit),
            f(&a.definition)
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// polyplug load

/// `polyplug load <results.tsv> <report.yaml> <plugin>`.
pub fn load(a: LoadArgs) -> i32 {
    finish(load_inner(a))
}

fn yaml_str(map: &serde_yaml_ng::Mapping, key: &str) -> Option<String> {
    match map.get(key)? {
        serde_yaml_ng::Value::String(s) => Some(s.clone()),
        serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
        serde_yaml_ng::Value::Bool(b) => Some(b.to_string()),
        serde_yaml_ng::Value::Null => None,
        serde_yaml_ng::Value::Tagged(t) => match &t.value {
            serde_yaml_ng::Value::String(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn yaml_int(map: &serde_yaml_ng::Mapping, key: &str) -> Option<u64> {
    match map.get(key)? {
        serde_yaml_ng::Value::Number(n) => n.as_u64(),
        serde_yaml_ng::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The UUID of a report: Prenacs writes `!!binary` base64 of 16 bytes; a hyphenated
/// text UUID is accepted too.
fn report_uuid(map: &serde_yaml_ng::Mapping, origin: &str) -> Result<[u8; 16], String> {
    use base64::Engine as _;
    let bad = || {
        format!(
            "{origin}: 'uuid' must be 16 bytes (!!binary base64, as Prenacs writes it) or a \
             text UUID"
        )
    };
    let text =
        yaml_str(map, "uuid").ok_or_else(|| format!("{origin}: the report has no 'uuid'"))?;
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let hex: String = compact.chars().filter(|c| *c != '-').collect();
    let bytes = if hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        (0..16)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad()))
            .collect::<Result<Vec<u8>, String>>()?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| bad())?
    };
    bytes.try_into().map_err(|_| bad())
}

/// Converts one results-file field to a value of the column's kind.
fn parse_field(text: &str, kind: ColumnKind) -> Result<Value, &'static str> {
    if text == "None" {
        return Ok(Value::Null);
    }
    let as_bool = |t: &str| match t {
        "True" | "true" => Some(Value::Bool(true)),
        "False" | "false" => Some(Value::Bool(false)),
        _ => None,
    };
    match kind {
        ColumnKind::Int => text.parse().map(Value::Int).map_err(|_| "an integer"),
        ColumnKind::Float => text.parse().map(Value::Float).map_err(|_| "a number"),
        ColumnKind::Bool => as_bool(text).ok_or("True or False"),
        ColumnKind::Text => Ok(Value::Str(text.to_string())),
        ColumnKind::Any => Ok(text
            .parse()
            .map(Value::Int)
            .or_else(|_| text.parse().map(Value::Float))
            .ok()
            .or_else(|| as_bool(text))
            .unwrap_or_else(|| Value::Str(text.to_string()))),
    }
}

fn load_inner(a: LoadArgs) -> Result<(), String> {
    let plugin = discover::resolve(&a.plugin, &discover::LoadConfig::default())?;
    let meta = plugin.meta().clone();
    let origin = a.report.display().to_string();
    let text = std::fs::read_to_string(&a.report)
        .map_err(|e| format!("{origin}: cannot read the computation report: {e}"))?;
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
        .map_err(|e| format!("{origin}: not a valid computation report (YAML): {e}"))?;
    let serde_yaml_ng::Value::Mapping(report) = doc else {
        return Err(format!(
            "{origin}: not a computation report: expected a mapping with plugin_id, \
             plugin_version, uuid, ..."
        ));
    };
    for (key, expected) in [("plugin_id", &meta.id), ("plugin_version", &meta.version)] {
        let got = yaml_str(&report, key).unwrap_or_default();
        if &got != expected {
            return Err(format!(
                "{origin}: {key} is '{got}' but the plugin {} has '{expected}'; give the plugin \
                 that computed these results",
                plugin.path().display()
            ));
        }
    }
    let uuid = report_uuid(&report, &origin)?;
    let parameters = yaml_str(&report, "parameters").unwrap_or_else(|| "{}\n".into());
    let given = Params::parse_yaml(&parameters, &format!("{origin}: parameters"))?;
    let results_origin = a.results.display().to_string();
    let results = std::fs::read_to_string(&a.results)
        .map_err(|e| format!("{results_origin}: cannot read the results file: {e}"))?;
    if results.trim().is_empty() {
        return Err(format!("{results_origin}: the results file is empty"));
    }

    let mut store = open_or_create(&a.store)?;
    // Every OUTPUT attribute must be defined: its datatype types the text fields.
    let defs = store.definitions().map_err(|e| e.to_string())?;
    let undefined: Vec<&str> = meta
        .output
        .iter()
        .filter(|o| defs.get(o).is_none())
        .map(String::as_str)
        .collect();
    if !undefined.is_empty() {
        return Err(format!(
            "store {}: attribute(s) {} of plugin {} are not defined in the store; add them \
             with polyplug attrs sync <definitions.yaml>",
            store.location(),
            undefined.join(", "),
            meta.id
        ));
    }
    let mut kinds: Vec<(String, ColumnKind)> = Vec::new();
    for o in &meta.output {
        if let Some((_, cols)) = defs.get(o) {
            for (i, c) in cols.iter().enumerate() {
                let name = if cols.len() > 1 {
                    format!("column {} of attribute '{o}'", i + 1)
                } else {
                    format!("attribute '{o}'")
                };
                kinds.push((name, c.kind));
            }
        }
    }
    // Check the whole file before storing anything.
    let mut rows: Vec<(String, Vec<Value>)> = Vec::new();
    for (i, line) in results.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let mut fields = line.split('\t');
        let id = fields.next().unwrap_or("").to_string();
        let fields: Vec<&str> = fields.collect();
        if fields.len() != kinds.len() {
            return Err(format!(
                "{results_origin}: line {}: entity '{id}' has {} value(s), the attribute \
                 definitions of {} need {}; is this the results file of plugin {}?",
                i + 1,
                fields.len(),
                meta.output.join(", "),
                kinds.len(),
                meta.id
            ));
        }
        let mut values = Vec::with_capacity(fields.len());
        for (f, (name, kind)) in fields.iter().zip(&kinds) {
            values.push(parse_field(f, *kind).map_err(|expected| {
                format!(
                    "{results_origin}: line {}: entity '{id}': {name} needs {expected}, got '{f}'",
                    i + 1
                )
            })?);
        }
        rows.push((id, values));
    }

    let sha256 = crate::run::sha256_file(plugin.path())?;
    register_plugin(
        &mut store,
        plugin.as_ref(),
        &sha256,
        a.replace_plugin_record,
    )?;
    let layout = store
        .prepare_attributes(&meta.output, Some(&defs))
        .map_err(|e| e.to_string())?;
    let time_start = yaml_str(&report, "time_start").unwrap_or_default();
    let id = store
        .begin_computation(&NewComputation {
            uuid,
            plugin_id: meta.id.clone(),
            plugin_version: meta.version.clone(),
            parameters: parameters.clone(),
            params_key: params_key(&given),
            user_id: yaml_str(&report, "user_id").unwrap_or_default(),
            system_id: yaml_str(&report, "system_id").unwrap_or_default(),
            reason: yaml_str(&report, "reason"),
            time_start,
            plugin_sha256: yaml_str(&report, "plugin_sha256").unwrap_or(sha256),
            host_version: yaml_str(&report, "host_version").unwrap_or_else(|| "prenacs".into()),
            shard: None,
            host: host_name(),
            pid: i64::from(std::process::id()),
            out_path: None,
            origin: "load".into(),
            comp_status: "loading".into(),
        })
        .map_err(|e| e.to_string())?;
    let n = rows.len();
    let mut batch = UnitBatch::new(id, layout);
    for (entity, values) in rows {
        batch.push(&entity, &values, &[], None);
        if batch.len() >= BATCH_UNITS {
            store.commit(&mut batch).map_err(|e| e.to_string())?;
        }
    }
    store.commit(&mut batch).map_err(|e| e.to_string())?;
    store
        .finish_computation(
            id,
            &Finish {
                time_end: yaml_str(&report, "time_end").unwrap_or_default(),
                n_units: yaml_int(&report, "n_units").unwrap_or(n as u64),
                n_failed: yaml_int(&report, "n_failed").unwrap_or(0),
                n_skipped: yaml_int(&report, "n_skipped").unwrap_or(0),
                comp_status: yaml_str(&report, "comp_status").unwrap_or_else(|| "completed".into()),
                remarks: yaml_str(&report, "remarks"),
            },
        )
        .map_err(|e| e.to_string())?;
    println!(
        "loaded {n} entities of computation {} (plugin {} {}) into store {}",
        polyplug_store::uuid_text(&uuid),
        meta.id,
        meta.version,
        store.location()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------
// polyplug query

/// `polyplug query`.
pub fn query(a: QueryArgs) -> i32 {
    finish(query_inner(a))
}

const QUERY_COLUMNS: [&str; 10] = [
    "entity",
    "attribute",
    "value",
    "computation",
    "plugin_id",
    "plugin_version",
    "parameters",
    "user_id",
    "system_id",
    "time_start",
];

fn record_fields(r: &Record) -> [String; 10] {
    let value = r
        .values
        .iter()
        .map(Value::to_py_str)
        .collect::<Vec<_>>()
        .join(";");
    [
        r.entity.clone(),
        r.attribute.clone(),
        value,
        r.computation.clone(),
        r.plugin_id.clone(),
        r.plugin_version.clone(),
        r.parameters.clone(),
        r.user_id.clone(),
        r.system_id.clone(),
        r.time_start.clone(),
    ]
}

fn tsv_field(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn query_inner(a: QueryArgs) -> Result<(), String> {
    let mut entities = a.entities.clone();
    if let Some(f) = &a.entities_file {
        if !f.is_file() {
            return Err(format!("{}: the entities file does not exist", f.display()));
        }
        let before = entities.len();
        polyplug_runner::input::read_id_list(f, |e| entities.push(e.to_string()))
            .map_err(|e| e.0)?;
        if entities.len() == before {
            return Err(format!(
                "{}: the entities file lists no entity",
                f.display()
            ));
        }
    }
    let filter = Filter {
        entities,
        attributes: a.attributes.clone(),
        plugin: a.plugin.clone(),
        plugin_version: a.plugin_version.clone(),
        computation: a.computation.clone(),
        history: a.history,
    };
    let mut store = open_existing(&a.store)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let io = |e: std::io::Error| polyplug_store_error(format!("cannot write: {e}"));
    let mut first = true;
    match a.format {
        Format::Tsv | Format::Csv => {
            let (sep, field): (&str, fn(&str) -> String) = if a.format == Format::Tsv {
                ("\t", tsv_field)
            } else {
                (",", csv_field)
            };
            let _ = writeln!(out, "{}", QUERY_COLUMNS.join(sep));
            store
                .query(&filter, |r| {
                    let f: Vec<String> = record_fields(r).iter().map(|s| field(s)).collect();
                    writeln!(out, "{}", f.join(sep)).map_err(io)
                })
                .map_err(|e| e.to_string())?;
        }
        Format::Json => {
            let _ = write!(out, "[");
            store
                .query(&filter, |r| {
                    let value = match r.values.as_slice() {
                        [one] => polyplug_store::value_to_json(one),
                        many => serde_json::Value::Array(
                            many.iter().map(polyplug_store::value_to_json).collect(),
                        ),
                    };
                    let parameters: serde_json::Value =
                        serde_json::from_str(&r.parameters).unwrap_or(serde_json::Value::Null);
                    let obj = serde_json::json!({
                        "entity": r.entity,
                        "attribute": r.attribute,
                        "value": value,
                        "computation": r.computation,
                        "plugin_id": r.plugin_id,
                        "plugin_version": r.plugin_version,
                        "parameters": parameters,
                        "user_id": r.user_id,
                        "system_id": r.system_id,
                        "time_start": r.time_start,
                        "comp_status": r.comp_status,
                    });
                    let sep = if first { "\n" } else { ",\n" };
                    first = false;
                    write!(out, "{sep}{obj}").map_err(io)
                })
                .map_err(|e| e.to_string())?;
            let _ = writeln!(out, "{}]", if first { "" } else { "\n" });
        }
    }
    out.flush().map_err(|e| format!("cannot write: {e}"))
}

fn polyplug_store_error(message: String) -> polyplug_store::StoreError {
    polyplug_store::StoreError::from(message)
}

// ---------------------------------------------------------------------------------
// polyplug runs

/// `polyplug runs list|show`.
pub fn runs(cmd: RunsCommand) -> i32 {
    finish(match cmd {
        RunsCommand::List(opt) => runs_list(&opt),
        RunsCommand::Show(a) => runs_show(&a.uuid, &a.store),
    })
}

fn runs_list(opt: &StoreOpt) -> Result<(), String> {
    let mut store = open_existing(opt)?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "uuid\tplugin_id\tplugin_version\tcomp_status\tn_units\tn_failed\tn_skipped\t\
         time_start\ttime_end\tuser_id\tsystem_id\tshard\torigin"
    );
    for c in store.computations().map_err(|e| e.to_string())? {
        let o = |s: &Option<String>| s.clone().unwrap_or_default();
        let n = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            c.uuid,
            c.plugin_id,
            c.plugin_version,
            c.comp_status,
            n(c.n_units),
            n(c.n_failed),
            n(c.n_skipped),
            o(&c.time_start),
            o(&c.time_end),
            o(&c.user_id),
            o(&c.system_id),
            o(&c.shard),
            c.origin
        );
    }
    Ok(())
}

fn runs_show(uuid: &str, opt: &StoreOpt) -> Result<(), String> {
    use polyplug_core::yaml::scalar_str;
    let mut store = open_existing(opt)?;
    let (c, counts) = store.computation(uuid).map_err(|e| e.to_string())?;
    let mut out = String::new();
    // Strings as YAML scalars, numbers as numbers.
    let mut kv = |k: &str, v: Option<String>, number: bool| {
        out.push_str(k);
        out.push_str(": ");
        out.push_str(&match v {
            None => "null".to_string(),
            Some(v) if number => v,
            Some(v) => scalar_str(&v),
        });
        out.push('\n');
    };
    let n = |v: Option<i64>| v.map(|v| v.to_string());
    kv("uuid", Some(c.uuid.clone()), false);
    kv("plugin_id", Some(c.plugin_id.clone()), false);
    kv("plugin_version", Some(c.plugin_version.clone()), false);
    kv("plugin_sha256", c.plugin_sha256.clone(), false);
    kv("parameters", Some(c.parameters.clone()), false);
    kv("comp_status", Some(c.comp_status.clone()), false);
    kv("reason", c.reason.clone(), false);
    kv("user_id", c.user_id.clone(), false);
    kv("system_id", c.system_id.clone(), false);
    kv("host", c.host.clone(), false);
    kv("pid", n(c.pid), true);
    kv("shard", c.shard.clone(), false);
    kv("time_start", c.time_start.clone(), false);
    kv("time_end", c.time_end.clone(), false);
    kv("n_units", n(c.n_units), true);
    kv("n_failed", n(c.n_failed), true);
    kv("n_skipped", n(c.n_skipped), true);
    kv("remarks", c.remarks.clone(), false);
    kv("host_version", c.host_version.clone(), false);
    kv("origin", Some(c.origin.clone()), false);
    kv("out_path", c.out_path.clone(), false);
    out.push_str(&format!(
        "stored:\n  entities_with_values: {}\n  entities_without_result: {}\n  \
         entities_failed: {}\n  values: {}\n",
        counts.with_values, counts.without_result, counts.failed, counts.values
    ));
    print!("{out}");
    Ok(())
}

// ---------------------------------------------------------------------------------
// polyplug export

/// `polyplug export <uuid> [-o results.tsv] [-r report.yaml]`.
pub fn export(a: ExportArgs) -> i32 {
    finish(export_inner(a))
}

fn export_inner(a: ExportArgs) -> Result<(), String> {
    use polyplug_core::yaml::scalar_str;
    let mut store = open_existing(&a.store)?;
    let (c, _) = store.computation(&a.uuid).map_err(|e| e.to_string())?;
    let out: Box<dyn Write> = match &a.out {
        Some(p) => Box::new(
            std::fs::File::create(p).map_err(|e| format!("{}: cannot create: {e}", p.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let mut io_err = None;
    {
        let mut w = TsvWriter::new(
            Box::new(std::io::BufWriter::new(out)),
            Box::new(std::io::sink()),
        );
        store
            .result_rows(&c.uuid, |entity, values| {
                let e = Entity {
                    input: entity.to_string(),
                    id: entity.to_string(),
                };
                let r = EntityResult::Done(Outcome {
                    values: values.to_vec(),
                    logs: Vec::new(),
                });
                if io_err.is_none() {
                    io_err = w.record(&e, &r).err();
                }
                Ok(())
            })
            .map_err(|e| e.to_string())?;
        if io_err.is_none() {
            io_err = w.flush().err();
        }
    }
    if let Some(e) = io_err {
        return Err(format!("cannot write the results: {e}"));
    }
    if let Some(p) = &a.report {
        // The report as `polyplug run` writes it: Prenacs' keys, sorted, plus ours.
        use base64::Engine as _;
        let hex: String = c.uuid.chars().filter(|c| *c != '-').collect();
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
            .collect();
        let uuid = base64::engine::general_purpose::STANDARD.encode(bytes);
        let s = |v: &Option<String>| v.as_deref().map_or("null".into(), scalar_str);
        let n = |v: Option<i64>| v.map_or("null".into(), |v| v.to_string());
        let mut rows: Vec<(&str, String)> = vec![
            ("comp_status", c.comp_status.clone()),
            ("host_version", s(&c.host_version)),
            ("n_failed", n(c.n_failed)),
            ("n_skipped", n(c.n_skipped)),
            ("n_units", n(c.n_units)),
            ("parameters", scalar_str(&c.parameters)),
            ("plugin_id", scalar_str(&c.plugin_id)),
            ("plugin_sha256", s(&c.plugin_sha256)),
            ("plugin_version", scalar_str(&c.plugin_version)),
            ("reason", s(&c.reason)),
            ("system_id", s(&c.system_id)),
            ("time_end", s(&c.time_end)),
            ("time_start", s(&c.time_start)),
            ("user_id", s(&c.user_id)),
            ("uuid", format!("!!binary |\n  {uuid}")),
        ];
        if let Some(r) = &c.remarks {
            rows.push(("remarks", scalar_str(r)));
        }
        rows.sort_by(|a, b| a.0.cmp(b.0));
        let text: String = rows.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
        std::fs::write(p, text)
            .map_err(|e| format!("{}: cannot write the report: {e}", p.display()))?;
    }
    Ok(())
}
