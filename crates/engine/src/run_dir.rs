//! A run folder (`--run-dir DIR`): where the shards of one run, without a shared
//! store, write their outputs side by side, for `polyplug merge` to combine.
//!
//! ```text
//! DIR/run.yaml              the manifest: what the run is (plugin, input, shards)
//! DIR/shard-<I>/results.tsv each shard's outputs, as -o, -l and -r would write them
//! DIR/shard-<I>/log.tsv
//! DIR/shard-<I>/report.yaml
//! DIR/shard-<I>/store.db    its store, when no --store (or POLYPLUG_STORE) is given
//! ```
//!
//! The first shard to start writes the manifest (atomically: a shard that loses the
//! race reads the winner's); every other shard checks that it runs the same plugin
//! over the same input in as many shards, so that one folder never mixes two runs.

use crate::{EngineError, Input, RunSpec};
use polyplug_core::{Params, Plugin, Shard, Uuid};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The manifest's file name.
pub const MANIFEST: &str = "run.yaml";

/// What a sharded run is: `DIR/run.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The logical run, shared by every shard (`--run-id`, else made by the first).
    pub run_id: String,
    /// The number of shards.
    pub shards: u32,
    /// The plugin file.
    pub plugin: PathBuf,
    /// Its ID, VERSION and sha256.
    pub plugin_id: String,
    /// Its VERSION.
    pub plugin_version: String,
    /// Its sha256.
    pub plugin_sha256: String,
    /// The parameters, as the report writes them.
    pub parameters: String,
    /// `ids` or `files`.
    pub mode: String,
    /// The IDs file (absolute), or the glob pattern (absolute).
    pub input: String,
    /// The IDs file's 1-based column.
    pub column: Option<usize>,
    /// The `--idsproc` plugin file.
    pub idsproc: Option<PathBuf>,
    /// The `--exclude` patterns of files mode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Files mode: the pattern as given and the folder it was given in, so that a
    /// merge finds the files under the names the shards gave them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given: Option<(String, PathBuf)>,
    /// Records mode: the format, the files and how records are named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<ManifestRecords>,
    /// `sql` mode: the query (the URL is `input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// What a records-mode run reads: `records:` in `DIR/run.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRecords {
    /// The format's name (`fasta`, `csv`, …).
    pub format: String,
    /// The files, absolute.
    pub files: Vec<PathBuf>,
    /// The files as given (the `lines` format names its records by them).
    pub given: Vec<PathBuf>,
    /// `--id-column`.
    pub id_column: Option<String>,
    /// `--allow-duplicate-ids`: repeated names are numbered.
    pub numbered_repeats: bool,
}

impl ManifestRecords {
    /// The records as the run read them (the files absolute).
    pub fn source(&self) -> Option<polyplug_core::RecordSource> {
        Some(polyplug_core::RecordSource {
            format: polyplug_core::RecordFormat::parse(&self.format)?,
            files: self.files.clone(),
            id_column: self.id_column.clone(),
        })
    }
}

impl Manifest {
    /// Whether `other` is the same run (all but the run ID may not differ).
    fn same_run_as(&self, other: &Manifest) -> bool {
        // Shards started from other folders are the same run if the files are.
        let plain = |m: &Manifest| Manifest {
            run_id: String::new(),
            given: None,
            records: m.records.clone().map(|r| ManifestRecords {
                given: Vec::new(),
                ..r
            }),
            ..m.clone()
        };
        plain(self) == plain(other)
    }

    /// Reads `DIR/run.yaml`.
    pub fn read(dir: &Path) -> Result<Manifest, EngineError> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| EngineError::RunDir {
            dir: dir.to_path_buf(),
            why: if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "it has no {MANIFEST}: it is not a run folder (polyplug run --run-dir \
                     makes one)"
                )
            } else {
                format!("cannot read {}: {e}", path.display())
            },
        })?;
        serde_yaml_ng::from_str(&text).map_err(|e| EngineError::RunDir {
            dir: dir.to_path_buf(),
            why: format!("{} is damaged: {e}", path.display()),
        })
    }

    /// Writes the manifest into `dir`, or checks it against the one there: returns
    /// the manifest of the folder (whose run ID wins).
    pub fn settle(self, dir: &Path) -> Result<Manifest, EngineError> {
        let fail = |why: String| EngineError::RunDir {
            dir: dir.to_path_buf(),
            why,
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create it: {e}")))?;
        let text = serde_yaml_ng::to_string(&self)
            .map_err(|e| fail(format!("cannot write the manifest: {e}")))?;
        let manifest = dir.join(MANIFEST);
        let mut tmp =
            temp_beside(&manifest).map_err(|e| fail(format!("cannot write in it: {e}")))?;
        std::io::Write::write_all(&mut tmp, text.as_bytes())
            .map_err(|e| fail(format!("cannot write in it: {e}")))?;
        // Only the first shard's manifest lands; the others read it.
        if tmp.persist_noclobber(&manifest).is_ok() {
            return Ok(self);
        }
        let there = Manifest::read(dir)?;
        if !there.same_run_as(&self) {
            return Err(fail(format!(
                "it holds another run ({} {} over {} in {} shards): give this run its own \
                 --run-dir",
                there.plugin_id, there.plugin_version, there.input, there.shards
            )));
        }
        Ok(there)
    }
}

/// A temporary file in the folder of `path` (the working directory for a bare file
/// name), to be renamed onto `path` once written: readers see the old file or the
/// new one, never half of one.
pub(crate) fn temp_beside(path: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    tempfile::NamedTempFile::new_in(parent)
}

/// Replaces the file at `path` with `bytes`, at once (see [`temp_beside`]).
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = temp_beside(path)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path).map(drop).map_err(|e| e.error)
}

/// The outputs of one shard of a run folder.
#[derive(Debug, Clone)]
pub struct ShardOutputs {
    /// `shard-I/`, which holds them.
    pub dir: PathBuf,
    /// `shard-I/results.tsv`.
    pub results: PathBuf,
    /// `shard-I/log.tsv`.
    pub log: PathBuf,
    /// `shard-I/report.yaml`.
    pub report: PathBuf,
    /// `shard-I/store.db`.
    pub store: PathBuf,
    /// `shard-I/state`: `running <pid> <host>` while the shard runs, then `finished`
    /// (its whole input gone through) or `stopped` (interrupted, halted, an input or
    /// plugin error).
    pub state: PathBuf,
}

impl ShardOutputs {
    /// The outputs of `shard` in `dir`.
    pub fn of(dir: &Path, shard: Shard) -> ShardOutputs {
        let d = dir.join(format!("shard-{}", shard.index()));
        ShardOutputs {
            results: d.join("results.tsv"),
            log: d.join("log.tsv"),
            report: d.join("report.yaml"),
            store: d.join("store.db"),
            state: d.join("state"),
            dir: d,
        }
    }
}

/// What a shard is doing, as its state file (`shard-I/state`, YAML) says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardState {
    /// No state file: the shard never started (or another polyplug wrote the folder).
    #[default]
    NotStarted,
    /// Running, or killed while running (the process is gone but the file says so).
    Running,
    /// Its whole input gone through.
    Finished,
    /// Stopped before the end of its input (`stopped_by` says why).
    Stopped,
}

/// A shard's state file: written when it starts, every few seconds while it runs
/// (with the count of entities recorded) and when it ends, each time replaced at
/// once. `polyplug slurm status` reads it first and the scheduler second, so that it
/// works without the scheduler's accounting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardStatus {
    /// What the shard is doing.
    pub state: ShardState,
    /// The process computing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The machine it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Entities recorded (computed or failed) by this attempt so far.
    #[serde(default)]
    pub recorded: u64,
    /// When the file was written (UTC, as reports write times).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// Why a stopped shard stopped: the signal, the halt, the input or plugin error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<String>,
}

impl ShardStatus {
    /// Reads a shard's state file; none means not started.
    pub fn read(path: &Path) -> ShardStatus {
        let Ok(text) = std::fs::read_to_string(path) else {
            return ShardStatus::default();
        };
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| ShardStatus {
            state: ShardState::Stopped,
            stopped_by: Some(format!("its state file {} is damaged: {e}", path.display())),
            ..ShardStatus::default()
        })
    }

    /// Writes a shard's state file (replacing it at once: a reader never sees half).
    pub fn write(&self, path: &Path) -> Result<(), EngineError> {
        let text = serde_yaml_ng::to_string(self).map_err(|e| EngineError::Create {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        write_atomically(path, text.as_bytes()).map_err(|e| EngineError::Create {
            path: path.to_path_buf(),
            why: e.to_string(),
        })
    }
}

/// The run's progress, written into the shard's state file every few seconds, and
/// passed on to the caller's progress (a bar).
pub(crate) struct StateProgress {
    /// The caller's.
    pub inner: Option<std::sync::Arc<dyn polyplug_runner::Progress>>,
    /// The state file.
    pub path: PathBuf,
    /// What it says while running.
    pub status: std::sync::Mutex<(ShardStatus, std::time::Instant)>,
}

/// How often a running shard rewrites its state file.
const STATE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

impl StateProgress {
    /// The progress of a shard that starts now: writes `running` into `path`.
    pub fn start(
        path: PathBuf,
        inner: Option<std::sync::Arc<dyn polyplug_runner::Progress>>,
        host: String,
    ) -> Result<StateProgress, EngineError> {
        let status = ShardStatus {
            state: ShardState::Running,
            pid: Some(std::process::id()),
            host: Some(host),
            recorded: 0,
            updated: Some(crate::provenance::now()),
            stopped_by: None,
        };
        status.write(&path)?;
        Ok(StateProgress {
            inner,
            path,
            status: std::sync::Mutex::new((status, std::time::Instant::now())),
        })
    }

    /// Writes the final state: `finished`, or `stopped` by `stopped_by`.
    pub fn end(&self, stopped_by: Option<String>) -> Result<(), EngineError> {
        let mut guard = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let status = &mut guard.0;
        status.state = if stopped_by.is_none() {
            ShardState::Finished
        } else {
            ShardState::Stopped
        };
        status.stopped_by = stopped_by;
        status.updated = Some(crate::provenance::now());
        status.write(&self.path)
    }
}

impl polyplug_runner::Progress for StateProgress {
    fn start(&self, total: Option<u64>) {
        if let Some(p) = &self.inner {
            p.start(total);
        }
    }

    fn advance(&self, n: u64) {
        if let Some(p) = &self.inner {
            p.advance(n);
        }
        let mut guard = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let (status, last) = &mut *guard;
        status.recorded += n;
        if last.elapsed() >= STATE_EVERY {
            *last = std::time::Instant::now();
            status.updated = Some(crate::provenance::now());
            // Progress is a courtesy: a full disk shows in the outputs, not here.
            let _ = status.write(&self.path);
        }
    }

    fn working(&self, worker: usize, first: &str, n: usize) {
        if let Some(p) = &self.inner {
            p.working(worker, first, n);
        }
    }

    fn idle(&self, worker: usize) {
        if let Some(p) = &self.inner {
            p.idle(worker);
        }
    }

    fn failure(&self, entity: &str, message: &str) {
        if let Some(p) = &self.inner {
            p.failure(entity, message);
        }
    }

    fn finish(&self) {
        if let Some(p) = &self.inner {
            p.finish();
        }
    }
}

/// Why a shard stopped before the end of its input (`None`: it did not).
pub(crate) fn stopped_by(
    summary: &polyplug_runner::RunSummary,
    interrupted: bool,
    signal: usize,
) -> Option<String> {
    if interrupted {
        return Some(match signal.checked_sub(128) {
            Some(10) => "SIGUSR1: the scheduler's warning before the time limit".into(),
            Some(15) => "SIGTERM: cancelled, or the time limit reached".into(),
            Some(2) => "SIGINT: interrupted".into(),
            Some(1) => "SIGHUP: the terminal went away".into(),
            Some(n) => format!("signal {n}"),
            None => "interrupted".into(),
        });
    }
    if let Some(halt) = &summary.halt {
        return Some(format!("halted by {} at {:?}", halt.by, halt.entity));
    }
    if let Some(e) = &summary.input_error {
        return Some(format!("an input error: {e}"));
    }
    if let Some(e) = summary.plugin_errors.first() {
        return Some(format!("a plugin error: {e}"));
    }
    summary.stopped.then(|| "stopped".into())
}

/// The run as it is in a run folder: its outputs (and, when no store is given, its
/// store) in the folder of its shard.
pub(crate) fn in_run_dir(
    spec: &RunSpec,
    dir: &Path,
    placement: &crate::Placement,
) -> Result<RunSpec, EngineError> {
    let shard = placement.shard_or_whole();
    let outputs = crate::run_dir::ShardOutputs::of(dir, shard);
    std::fs::create_dir_all(&outputs.dir).map_err(|e| EngineError::RunDir {
        dir: dir.to_path_buf(),
        why: format!("cannot create {}: {e}", outputs.dir.display()),
    })?;
    let mut spec = spec.clone();
    spec.out = Some(outputs.results);
    spec.log = Some(outputs.log);
    spec.report = Some(outputs.report);
    if spec.store == crate::StoreChoice::FromEnv && std::env::var_os("POLYPLUG_STORE").is_none() {
        spec.store = crate::StoreChoice::Url(outputs.store.display().to_string());
    }
    Ok(spec)
}

/// Writes the run folder's manifest, or checks this shard against it; returns the
/// run ID.
pub(crate) fn settle_manifest(
    spec: &RunSpec,
    dir: &Path,
    placement: &crate::Placement,
    plugin: &dyn Plugin,
    params: &Params,
    sha256: &str,
    idsproc: Option<&dyn Plugin>,
) -> Result<String, EngineError> {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (mode, input, column) = match &spec.input {
        Input::Ids { path, column } => ("ids", absolute(path).display().to_string(), *column),
        Input::Files { pattern, .. } => (
            "files",
            absolute(Path::new(pattern)).display().to_string(),
            None,
        ),
        Input::Sql { url, .. } => ("sql", url.clone(), None),
        Input::Records { format, files, .. } => (
            "records",
            format!(
                "{format} {}",
                files
                    .iter()
                    .map(|f| absolute(f).display().to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            None,
        ),
    };
    let meta = plugin.meta();
    let mine = crate::run_dir::Manifest {
        run_id: spec
            .run_id
            .clone()
            .unwrap_or_else(|| Uuid::new_v4().hyphenated().to_string()),
        shards: placement.shard.map_or(1, |s| s.count()),
        plugin: absolute(plugin.path()),
        plugin_id: meta.id.clone(),
        plugin_version: meta.version.clone(),
        plugin_sha256: sha256.to_string(),
        parameters: params.to_yaml(),
        mode: mode.into(),
        input,
        column,
        idsproc: idsproc.map(|p| absolute(p.path())),
        exclude: match &spec.input {
            Input::Files { exclude, .. } => exclude.clone(),
            _ => Vec::new(),
        },
        given: match &spec.input {
            Input::Files { pattern, .. } => std::env::current_dir()
                .ok()
                .map(|cwd| (pattern.clone(), cwd)),
            _ => None,
        },
        query: match &spec.input {
            Input::Sql { query, .. } => Some(query.clone()),
            _ => None,
        },
        records: match &spec.input {
            Input::Records {
                format,
                files,
                id_column,
            } => Some(ManifestRecords {
                format: format.name().to_string(),
                files: files.iter().map(|f| absolute(f)).collect(),
                given: files.clone(),
                id_column: id_column.clone(),
                numbered_repeats: spec.allow_duplicate_ids,
            }),
            _ => None,
        },
    };
    let there = mine.settle(dir)?;
    match &spec.run_id {
        Some(id) if *id != there.run_id => Err(EngineError::RunDir {
            dir: dir.to_path_buf(),
            why: format!(
                "it is run {}, not --run-id {id}: drop --run-id, or give this run its own \
                 --run-dir",
                there.run_id
            ),
        }),
        _ => Ok(there.run_id),
    }
}
