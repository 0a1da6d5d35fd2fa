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

use crate::EngineError;
use polyplug_core::Shard;
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
}

impl Manifest {
    /// Whether `other` is the same run (all but the run ID may not differ).
    fn same_run_as(&self, other: &Manifest) -> bool {
        Manifest {
            run_id: String::new(),
            ..self.clone()
        } == Manifest {
            run_id: String::new(),
            ..other.clone()
        }
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

/// What the state file of a shard says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardState {
    /// No state file: the shard never started (or another polyplug wrote the folder).
    NotStarted,
    /// Running, or killed while running: `running <pid> <host>`.
    Running(String),
    /// Its whole input gone through.
    Finished,
    /// Stopped before the end of its input.
    Stopped,
}

impl ShardState {
    /// Reads a shard's state file.
    pub fn read(path: &Path) -> ShardState {
        match std::fs::read_to_string(path) {
            Err(_) => ShardState::NotStarted,
            Ok(t) => match t.trim() {
                "finished" => ShardState::Finished,
                "stopped" => ShardState::Stopped,
                other => ShardState::Running(other.trim_start_matches("running").trim().into()),
            },
        }
    }

    /// Writes a shard's state file (replacing it at once: a reader never sees half).
    pub fn write(path: &Path, text: &str) -> Result<(), EngineError> {
        write_atomically(path, format!("{text}\n").as_bytes()).map_err(|e| EngineError::Create {
            path: path.to_path_buf(),
            why: e.to_string(),
        })
    }
}
