//! The store side of a run: opening it (and closing the computations of killed runs),
//! recording the plugin and its OUTPUT attributes, repairing a results file a killed
//! run left behind, the entities already done, and the computation's start and end.
//! The recording itself is [`crate::record`].

use crate::provenance::{host_name, process_alive};
use crate::record::{AfterCommit, StoreRecorder};
use crate::EngineError;
use polyplug_core::{AttributeDefinitions, Console, Entity, Outcome, Params, Plugin, Report};
use polyplug_runner::input::SkipSet;
use polyplug_runner::output::TsvWriter;
use polyplug_runner::{EntityResult, Recorder};
use polyplug_store::{
    params_key, ComputationId, Layout, Location, PluginRecord, PluginRegistration, Provenance,
    Store, UnitBatch,
};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Records the plugin's description and content hash (`polyplug run` and `load`); says
/// so on the console when `--replace-plugin-record` replaced a different stored one.
pub(crate) fn register_plugin(
    store: &mut Store,
    plugin: &dyn Plugin,
    sha256: &str,
    replace: bool,
    console: &dyn Console,
) -> Result<(), EngineError> {
    let meta = plugin.meta();
    let registration = store.register_plugin(
        &PluginRecord {
            meta: meta.clone(),
            sha256: sha256.to_string(),
            language: plugin.language().to_string(),
            file: plugin.path().display().to_string(),
        },
        replace,
    )?;
    if registration == PluginRegistration::Replaced {
        console.note(&format!(
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
pub(crate) struct RunStore {
    /// Shared with the recorder's writer thread during the run.
    store: Arc<Mutex<Store>>,
    /// The computation key: plugin ID, VERSION, canonical parameters.
    key: (String, String, String),
    layout: Option<Layout>,
    computation: Option<ComputationId>,
    out_path: Option<String>,
    host: String,
    /// The lock file that keeps the same run from starting twice on this host
    /// (SQLite stores; PostgreSQL holds a session lock instead).
    _run_lock: Option<std::fs::File>,
}

impl RunStore {
    /// Opens the store for a run, marks the computations of killed runs, records the
    /// plugin.
    pub(crate) fn open(
        location: &Location,
        plugin: &dyn Plugin,
        params: &Params,
        sha256: &str,
        replace: bool,
        console: &dyn Console,
        verbose: bool,
    ) -> Result<RunStore, EngineError> {
        let mut store = Store::open(location)?;
        if verbose {
            console.detail(&format!("recording into store {}", store.location()));
        }
        let host = host_name();
        let closed = store.close_killed(&host, process_alive)?;
        if verbose {
            for uuid in &closed {
                console.detail(&format!(
                    "computation {uuid} was killed: marked as such in the store"
                ));
            }
        }
        register_plugin(&mut store, plugin, sha256, replace, console)?;
        let meta = plugin.meta();
        Ok(RunStore {
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
            _run_lock: None,
        })
    }

    /// Takes the lock of this run — its computation key and its `input` (what names
    /// the entities: the canonical IDs file and column, the pattern, the `--idsproc`)
    /// in this store — for as long as the run lasts, so that the same run started
    /// twice does not compute everything twice, whatever its `-o`. Taken before the
    /// store is asked what is done. Runs of the same key over other inputs (a lab's
    /// split ID lists) go on side by side.
    pub(crate) fn lock(&mut self, input: &str) -> Result<(), EngineError> {
        let key = format!(
            "{}\u{1f}{}\u{1f}{}\u{1f}{input}",
            self.key.0, self.key.1, self.key.2
        );
        let (backend, location) = {
            let db = self.db();
            (db.backend(), db.location().to_string())
        };
        let busy = match backend {
            polyplug_store::Backend::Postgres => !self.db().try_run_lock(&key)?,
            polyplug_store::Backend::Sqlite => match lock_file(&location, &key) {
                Some(Ok(file)) => {
                    self._run_lock = Some(file);
                    false
                }
                Some(Err(())) => true,
                None => false, // no place for lock files: nothing to guard with
            },
        };
        if !busy {
            return Ok(());
        }
        let running = self
            .db()
            .running_computation(&self.key.0, &self.key.1, &self.key.2)
            .ok()
            .flatten();
        Err(EngineError::AlreadyRunning {
            store: location,
            plugin: self.key.0.clone(),
            version: self.key.1.clone(),
            running,
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave a transaction half-applied
        // (the database rolls it back), so a poisoned lock is still usable.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The definitions the store has for every OUTPUT attribute, when it has them all
    /// (used when no definitions file is given).
    pub(crate) fn definitions_for(&mut self, output: &[String]) -> Option<AttributeDefinitions> {
        let defs = self.db().definitions().ok()?;
        output.iter().all(|a| defs.get(a).is_some()).then_some(defs)
    }

    /// Records the OUTPUT attributes (checked against `defs` when given).
    pub(crate) fn prepare_attributes(
        &mut self,
        output: &[String],
        defs: Option<&AttributeDefinitions>,
    ) -> Result<(), EngineError> {
        let layout = self.db().prepare_attributes(output, defs)?;
        self.layout = Some(layout);
        Ok(())
    }

    /// Before the results file is read as a skip list: appends the rows that killed
    /// runs of the same key committed to the store but did not write to it.
    pub(crate) fn repair_output(
        &mut self,
        out: &Path,
        console: &dyn Console,
        verbose: bool,
    ) -> Result<(), EngineError> {
        let canonical = std::fs::canonicalize(out)
            .unwrap_or_else(|_| out.to_path_buf())
            .display()
            .to_string();
        self.out_path = Some(canonical.clone());
        let (id, version, params) = self.key.clone();
        let killed = self
            .db()
            .killed_with_output(&id, &version, &params, &canonical)?;
        if killed.is_empty() {
            return Ok(());
        }
        let in_file = polyplug_runner::input::read_skip_list(out)?;
        let write_error = |e: std::io::Error| EngineError::Write {
            path: out.to_path_buf(),
            why: e.to_string(),
        };
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(out)
            .map_err(|e| EngineError::OpenOutput {
                path: out.to_path_buf(),
                what: "results",
                why: e.to_string(),
            })?;
        let mut w = TsvWriter::new(
            Box::new(std::io::BufWriter::new(&file)),
            Box::new(std::io::sink()),
        );
        let mut written = 0u64;
        for uuid in &killed {
            let mut io_err = None;
            self.db().result_rows(uuid, |entity, values| {
                if !in_file.contains(entity) {
                    written += 1;
                    if let Err(e) = w.record(&Entity::same(entity), &done(values)) {
                        io_err.get_or_insert(e);
                    }
                }
                Ok(())
            })?;
            if let Some(e) = io_err {
                return Err(write_error(e));
            }
        }
        w.flush().map_err(write_error)?;
        drop(w);
        for uuid in &killed {
            self.db().clear_out_path(uuid)?;
        }
        if written > 0 || verbose {
            console.note(&format!(
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
    pub(crate) fn done_entities(&mut self, skip: &mut SkipSet) -> Result<(), EngineError> {
        let (id, version, params) = &self.key;
        add_done(&mut self.db(), (id, version, params), skip)
    }

    /// Records the start of the computation (its report as known at the start).
    pub(crate) fn begin(
        &mut self,
        report: &Report,
        placement: &crate::Placement,
        run_id: Option<&str>,
        label: (Option<&str>, &[(String, String)]),
    ) -> Result<(), EngineError> {
        let provenance = Provenance {
            shard: placement.shard.map(|s| s.to_string()),
            host: Some(placement.node.clone().unwrap_or_else(|| self.host.clone())),
            pid: Some(i64::from(std::process::id())),
            out_path: self.out_path.clone(),
            origin: "run".into(),
            scheduler: placement.scheduler.map(|s| s.as_str().to_string()),
            job_id: placement.job_id.clone(),
            task_id: placement.task_id.clone(),
            run_id: run_id.map(str::to_string),
            name: label.0.map(str::to_string),
            tags: label.1.to_vec(),
        };
        let params = self.key.2.clone();
        let id = self.db().begin_computation(report, &params, &provenance)?;
        self.computation = Some(id);
        Ok(())
    }

    /// A recorder that commits to the store in a writer thread, then writes the TSV
    /// outputs.
    pub(crate) fn recorder<'w>(
        &mut self,
        out: Box<dyn Write + 'w>,
        log: Box<dyn Write + 'w>,
        after_commit: Option<AfterCommit>,
    ) -> Result<StoreRecorder<'w>, EngineError> {
        let (Some(computation), Some(layout)) = (self.computation, self.layout.clone()) else {
            return Err(EngineError::Store(polyplug_store::StoreError::Internal(
                "the store computation was not started",
            )));
        };
        StoreRecorder::start(
            self.store.clone(),
            UnitBatch::new(computation, layout),
            out,
            log,
            after_commit,
        )
    }

    /// Records the report of the computation.
    pub(crate) fn finish(&mut self, report: &Report) -> Result<(), EngineError> {
        let Some(id) = self.computation else {
            return Ok(());
        };
        Ok(self.db().finish_computation(id, report)?)
    }
}

/// A stored result as the TSV writer takes it.
pub(crate) fn done(values: &[polyplug_core::Value]) -> EntityResult {
    Ok(Outcome {
        values: values.to_vec(),
        logs: Vec::new(),
    })
}

/// Adds to `skip` the entities `store` has as done for a computation key (plugin ID,
/// VERSION, parameters key), with room reserved for them first.
pub(crate) fn add_done(
    store: &mut Store,
    (id, version, params): (&str, &str, &str),
    skip: &mut SkipSet,
) -> Result<(), EngineError> {
    skip.reserve(store.done_count(id, version, params)?);
    Ok(store.done_entities(id, version, params, |e| {
        skip.insert_from(e, polyplug_runner::input::SkipOrigin::Store)
    })?)
}

/// Locks the file that stands for run `key` in the SQLite store at `location`, in a
/// folder of this user's (`$XDG_RUNTIME_DIR/polyplug-locks`, else
/// `/tmp/polyplug-locks-<uid>`): `Some(Ok(file))` holding the lock, `Some(Err(()))`
/// when another process holds it, `None` when no lock file can be made.
fn lock_file(location: &str, key: &str) -> Option<Result<std::fs::File, ()>> {
    use rustix::fs::{flock, FlockOperation};
    use sha2::Digest;
    use std::os::unix::fs::DirBuilderExt;
    let db = std::fs::canonicalize(location).unwrap_or_else(|_| location.into());
    let dir = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => std::path::PathBuf::from(d).join("polyplug-locks"),
        _ => std::env::temp_dir().join(format!(
            "polyplug-locks-{}",
            rustix::process::getuid().as_raw()
        )),
    };
    let _ = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir);
    let mut digest = sha2::Sha256::new();
    digest.update(db.to_string_lossy().as_bytes());
    digest.update([0x1f]);
    digest.update(key.as_bytes());
    let name: String = digest
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{name}.lock")))
        .ok()?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Some(Ok(file)),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Some(Err(())),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    //! The exactly-once protocol on its own: a real SQLite store, a real results file,
    //! and the writer thread's commit hook to look at both at the moment of each
    //! commit, or to die there as a killed run would.
    use super::*;
    use polyplug_core::{
        CompStatus, EntityError, Instance, OutputSpec, PluginError, PluginMeta, RawMeta, Silent,
        Uuid, Value,
    };
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A plugin the store can record (nothing is run).
    struct Fake(PluginMeta, std::path::PathBuf);

    impl Plugin for Fake {
        fn meta(&self) -> &PluginMeta {
            &self.0
        }
        fn language(&self) -> &str {
            "test"
        }
        fn path(&self) -> &Path {
            &self.1
        }
        fn functions(&self) -> Vec<&'static str> {
            vec!["compute"]
        }
        fn instantiate(
            &self,
            _: &Params,
            _: &OutputSpec,
        ) -> Result<Box<dyn Instance>, PluginError> {
            Err(PluginError::new(&self.1, "not runnable"))
        }
        fn has_compute_id(&self) -> bool {
            false
        }
        fn compute_id(&self, _: &str) -> Result<String, EntityError> {
            Err(EntityError::new("no compute_id"))
        }
    }

    fn fake(dir: &Path) -> Fake {
        let mut raw = RawMeta::default();
        raw.set("ID", Value::from("len"));
        raw.set("VERSION", Value::from("1"));
        raw.set("INPUT", Value::from("x"));
        raw.set("OUTPUT", Value::List(vec![Value::from("length")]));
        Fake(
            PluginMeta::validate(&raw).unwrap_or_else(|e| panic!("{e}")),
            dir.join("len.sh"),
        )
    }

    fn report(plugin: &Fake) -> Report {
        let mut r = Report::from_yaml(&format!("uuid: {}\n", Uuid::new_v4()), "test")
            .unwrap_or_else(|e| panic!("{e}"));
        r.plugin_id = plugin.0.id.clone();
        r.plugin_version = plugin.0.version.clone();
        r.comp_status = CompStatus::Running;
        r
    }

    /// A run's store side, started, with its results file.
    fn started(dir: &Path, plugin: &Fake, out: &Path) -> RunStore {
        let location = Location::Sqlite(dir.join("s.db"));
        let mut s = RunStore::open(
            &location,
            plugin,
            &Params::empty(),
            "ab",
            false,
            &Silent,
            false,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        s.prepare_attributes(&plugin.0.output, None)
            .unwrap_or_else(|e| panic!("{e}"));
        s.repair_output(out, &Silent, false)
            .unwrap_or_else(|e| panic!("{e}"));
        s.begin(
            &report(plugin),
            &crate::Placement::default(),
            None,
            (None, &[]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        s
    }

    /// Records `n` entities `e0`, `e1`, … (value: the number) through the store.
    fn record(s: &mut RunStore, out: &Path, n: usize, hook: AfterCommit) -> std::io::Result<()> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out)?;
        let mut r = s
            .recorder(Box::new(file), Box::new(std::io::sink()), Some(hook))
            .unwrap_or_else(|e| panic!("{e}"));
        for i in 0..n {
            let result = Ok(Outcome {
                values: vec![Value::Int(i as i64)],
                logs: Vec::new(),
            });
            r.record(&Entity::same(format!("e{i}")), &result)?;
        }
        r.flush()
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn done(s: &mut RunStore) -> usize {
        let mut skip = SkipSet::default();
        s.done_entities(&mut skip).unwrap_or_else(|e| panic!("{e}"));
        skip.freeze();
        // The hint counts the blocks' units that did not fail: here each entity once.
        let (id, version, params) = s.key.clone();
        let hint = s.db().done_count(&id, &version, &params);
        assert_eq!(hint.unwrap_or_else(|e| panic!("{e}")), skip.len() as u64);
        skip.len()
    }

    #[test]
    fn rows_reach_the_file_only_after_their_batch_is_committed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let out = dir.path().join("out.tsv");
        let plugin = fake(dir.path());
        let mut s = started(dir.path(), &plugin, &out);
        let committed = Arc::new(AtomicUsize::new(0));
        let commits = Arc::new(AtomicUsize::new(0));
        let ahead = Arc::new(Mutex::new(Vec::new()));
        let hook: AfterCommit = {
            let (committed, commits, ahead, out) = (
                committed.clone(),
                commits.clone(),
                ahead.clone(),
                out.clone(),
            );
            Arc::new(move |units| {
                // At this moment the batch is in the store and not acknowledged: the
                // file may hold the rows of earlier batches only.
                let before = committed.fetch_add(units, Ordering::SeqCst);
                let in_file = lines(&out).len();
                if in_file > before {
                    if let Ok(mut a) = ahead.lock() {
                        a.push((before, in_file));
                    }
                }
                commits.fetch_add(1, Ordering::SeqCst);
            })
        };
        let n = 10_000;
        record(&mut s, &out, n, hook).unwrap_or_else(|e| panic!("{e}"));
        let ahead = ahead.lock().map(|a| a.clone()).unwrap_or_default();
        assert!(
            ahead.is_empty(),
            "the file got ahead of the store: {ahead:?}"
        );
        assert!(
            commits.load(Ordering::SeqCst) >= 3,
            "batches of at most 4096"
        );
        let rows = lines(&out);
        assert_eq!(rows.len(), n);
        assert_eq!(rows[4095], "e4095\t4095");
        assert_eq!(done(&mut s), n);
    }

    #[test]
    fn a_run_killed_between_commit_and_append_is_repaired_by_the_next() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let out = dir.path().join("out.tsv");
        let plugin = fake(dir.path());
        let mut s = started(dir.path(), &plugin, &out);
        // The writer dies right after its second commit, as a SIGKILL there would
        // leave things: two batches stored, one written.
        let commits = Arc::new(AtomicUsize::new(0));
        let hook: AfterCommit = {
            let commits = commits.clone();
            Arc::new(move |_| {
                if commits.fetch_add(1, Ordering::SeqCst) == 1 {
                    panic!("killed after a commit");
                }
            })
        };
        let r = record(&mut s, &out, 10_000, hook);
        assert!(r.is_err(), "the recorder must notice its writer is gone");
        drop(s);
        assert_eq!(
            lines(&out).len(),
            4096,
            "only the acknowledged batch is written"
        );

        // The next run: the killed computation is closed (its process is "gone"),
        // then the results file is repaired before it is read as the skip list.
        let mut db = Store::open(&Location::Sqlite(dir.path().join("s.db")))
            .unwrap_or_else(|e| panic!("{e}"));
        let closed = db
            .close_killed(&host_name(), |_| false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(closed.len(), 1);
        drop(db);
        let mut next = started(dir.path(), &plugin, &out);
        let rows = lines(&out);
        assert_eq!(rows.len(), 8192, "the committed rows are appended once");
        let unique: std::collections::HashSet<&String> = rows.iter().collect();
        assert_eq!(unique.len(), rows.len(), "no row twice");
        assert_eq!(done(&mut next), 8192);
        // A second repair finds nothing more to append.
        next.repair_output(&out, &Silent, false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lines(&out).len(), 8192);
    }
}
