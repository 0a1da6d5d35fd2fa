//! `polyplug merge <run folder>`: the shards of a run folder combined into the
//! outputs of one run.
//!
//! - **Results** in input order, each entity once: the input is read again, and each
//!   entity's row is taken from the results file of its shard (the shard is a
//!   function of the ID). A shard's rows are mostly in input order already, so the
//!   next row is tried first; a row a rerun appended later (a retried failure) is
//!   found by reading ahead, and rows read ahead wait in memory until their entity
//!   comes. Which rows are left is counted (by the 64-bit [`Shard::hash`] of each
//!   row's ID) only when a shard's next row is not the entity's, so an entity
//!   without a row costs no search. An IDs file is read without a `String` per ID,
//!   and the later appearances of an ID it repeats are passed over (its check
//!   remembered, when a run over the file found it clean).
//! - **Logs**: every shard's log, in shard order.
//! - **Report**: one report whose counts are the sums of the shards', from the first
//!   start to the last end, `completed` when every shard is.

use crate::run_dir::{
    temp_beside, write_atomically, Manifest, ShardOutputs, ShardState, ShardStatus,
};
use crate::{resolve, EngineError};
use polyplug_core::{CompStatus, LoadOptions, Plugin, Report, Shard, Uuid};
use polyplug_runner::input::{Entities, SkipSet, Source};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

#[path = "merge_rows.rs"]
mod rows;
use rows::ShardRows;

/// What to merge, and where to.
#[derive(Debug, Clone)]
pub struct MergeSpec {
    /// The run folder.
    pub dir: PathBuf,
    /// The merged results; default `DIR/results.tsv`.
    pub out: Option<PathBuf>,
    /// The merged logs; default `DIR/log.tsv`.
    pub log: Option<PathBuf>,
    /// The merged report; default `DIR/report.yaml`.
    pub report: Option<PathBuf>,
    /// Merge what the shards have, also when some did not finish.
    pub partial: bool,
    /// The store the shards' own stores (`DIR/shard-I/store.db`) are imported into.
    pub store: crate::StoreChoice,
}

/// What a merge did.
#[derive(Debug)]
pub struct MergeOutcome {
    /// The merged report.
    pub report: Report,
    /// Rows written to the merged results.
    pub rows: u64,
    /// The shards that had not finished (merged anyway with `partial`).
    pub unfinished: Vec<u32>,
    /// Rows of the shards' results whose entity the input no longer has.
    pub strays: u64,
    /// Where the merged results, logs and report are.
    pub outputs: [PathBuf; 3],
    /// The store the shard stores were imported into, and what was copied (`None`
    /// when the store is off or no shard had a store of its own).
    pub imported: Option<(String, polyplug_store::Copied)>,
}

/// Merges the shards of `spec.dir`.
pub fn merge(spec: &MergeSpec) -> Result<MergeOutcome, EngineError> {
    let dir = &spec.dir;
    let manifest = Manifest::read(dir)?;
    let shards: Vec<ShardOutputs> = (0..manifest.shards)
        .map(|i| {
            Shard::new(i.into(), manifest.shards.into())
                .map(|s| ShardOutputs::of(dir, s))
                .map_err(|e| EngineError::RunDir {
                    dir: dir.clone(),
                    why: format!("its manifest is damaged: {e}"),
                })
        })
        .collect::<Result<_, _>>()?;
    let reports = shard_reports(dir, &manifest, &shards)?;
    let states: Vec<ShardStatus> = shards.iter().map(|s| ShardStatus::read(&s.state)).collect();
    // A shard whose entities failed has finished (the failures are listed); one that
    // stopped early, or never ended, has not.
    let unfinished: Vec<u32> = (0..manifest.shards)
        .filter(|i| {
            reports[*i as usize].is_none() || states[*i as usize].state != ShardState::Finished
        })
        .collect();
    if !unfinished.is_empty() && !spec.partial {
        return Err(EngineError::RunDir {
            dir: dir.clone(),
            why: format!(
                "{} of {} shards did not finish ({}): rerun them (polyplug run ... --run-dir \
                 {} --shard I/{}, which computes only what each misses), or merge what there \
                 is with --partial",
                unfinished.len(),
                manifest.shards,
                list(&unfinished, &reports, &states),
                dir.display(),
                manifest.shards
            ),
        });
    }
    let out = spec.out.clone().unwrap_or_else(|| dir.join("results.tsv"));
    let log = spec.log.clone().unwrap_or_else(|| dir.join("log.tsv"));
    let report_path = spec
        .report
        .clone()
        .unwrap_or_else(|| dir.join("report.yaml"));
    let report = merged_report(dir, &manifest, &reports, !unfinished.is_empty())?;
    let (rows, strays) = merge_results(&manifest, &shards, &out)?;
    concatenate(shards.iter().map(|s| &s.log), &log)?;
    write_atomically(&report_path, report.to_yaml().as_bytes())
        .map_err(|e| write_error(&report_path, e))?;
    let imported = import_stores(&shards, &spec.store)?;
    Ok(MergeOutcome {
        report,
        rows,
        unfinished,
        strays,
        outputs: [out, log, report_path],
        imported,
    })
}

/// Imports the shards' own stores into the merge's store, each in one transaction;
/// a computation the store has already (a merge done twice) is not copied again.
fn import_stores(
    shards: &[ShardOutputs],
    store: &crate::StoreChoice,
) -> Result<Option<(String, polyplug_store::Copied)>, EngineError> {
    let own: Vec<&Path> = shards
        .iter()
        .map(|s| s.store.as_path())
        .filter(|p| p.is_file())
        .collect();
    if own.is_empty() {
        return Ok(None);
    }
    let Some(location) = crate::stores::run_location(store)? else {
        return Ok(None);
    };
    let mut target = polyplug_store::Store::open(&location)?;
    let mut total = polyplug_store::Copied::default();
    for path in own {
        let mut shard =
            polyplug_store::Store::open(&polyplug_store::Location::Sqlite(path.into()))?;
        let copied = target.import_store(&mut shard)?;
        total.computations += copied.computations;
        total.already += copied.already;
        total.units += copied.units;
    }
    Ok(Some((location.display(), total)))
}

/// The shards named in a message: `2 (not started), 5 (stopped)`.
fn list(shards: &[u32], reports: &[Option<Report>], states: &[ShardStatus]) -> String {
    shards
        .iter()
        .map(|i| {
            let status = &states[*i as usize];
            let why = match (status.state, &reports[*i as usize]) {
                (ShardState::NotStarted, _) => "not started".to_string(),
                (ShardState::Running, _) => format!(
                    "running or killed: process {} on {}",
                    status.pid.unwrap_or(0),
                    status.host.as_deref().unwrap_or("?")
                ),
                (ShardState::Stopped, _) => match &status.stopped_by {
                    Some(by) => format!("stopped before the end of its input: {by}"),
                    None => "stopped before the end of its input".into(),
                },
                (ShardState::Finished, None) => "no report".into(),
                (ShardState::Finished, Some(_)) => "finished".into(),
            };
            format!("{i} ({why})")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each shard's report, if it wrote one; a report of another plugin (ID, VERSION or
/// file) is an error.
fn shard_reports(
    dir: &Path,
    manifest: &Manifest,
    shards: &[ShardOutputs],
) -> Result<Vec<Option<Report>>, EngineError> {
    let mut reports = Vec::new();
    for s in shards {
        let text = match std::fs::read_to_string(&s.report) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                reports.push(None);
                continue;
            }
            Err(e) => {
                return Err(EngineError::RunDir {
                    dir: dir.to_path_buf(),
                    why: format!("cannot read {}: {e}", s.report.display()),
                })
            }
        };
        let origin = s.report.display().to_string();
        let r = Report::from_yaml(&text, &origin)?;
        let same = r.plugin_id == manifest.plugin_id
            && r.plugin_version == manifest.plugin_version
            && r.plugin_sha256.as_deref() == Some(manifest.plugin_sha256.as_str());
        if !same {
            return Err(EngineError::RunDir {
                dir: dir.to_path_buf(),
                why: format!(
                    "{origin} is a report of {} {}, not of this run's {} {}",
                    r.plugin_id, r.plugin_version, manifest.plugin_id, manifest.plugin_version
                ),
            });
        }
        reports.push(Some(r));
    }
    Ok(reports)
}

/// Writes the shards' rows in input order into `out`; returns the rows written and
/// the rows of no input entity.
fn merge_results(
    manifest: &Manifest,
    shards: &[ShardOutputs],
    out: &Path,
) -> Result<(u64, u64), EngineError> {
    if let Some(records) = &manifest.records {
        return merge_records(manifest, records, shards, out);
    }
    let source = match manifest.mode.as_str() {
        "files" => match &manifest.given {
            Some((pattern, dir)) => Source::Files {
                pattern: pattern.clone(),
                exclude: manifest.exclude.clone(),
                base: Some(dir.clone()),
            },
            None => Source::Files {
                pattern: manifest.input.clone(),
                exclude: manifest.exclude.clone(),
                base: None,
            },
        },
        "sql" => Source::Stream(std::sync::Arc::new(crate::sql::SqlSource::new(
            &manifest.input,
            manifest.query.as_deref().unwrap_or_default(),
        ))),
        _ => Source::Ids {
            path: PathBuf::from(&manifest.input),
            column: manifest.column.unwrap_or(1),
        },
    };
    write_rows(manifest, &source, shards, out, &mut |entity| {
        // One hash gives both the shard and the key of the shard's row set.
        let hash = Shard::hash(entity.id.as_bytes());
        (Shard::of_hash(hash, manifest.shards) as usize, hash)
    })
}

/// The rows of the shards' results in the order of `source`'s entities, into `out`:
/// `place` gives each entity's shard and the [`Shard::hash`] of its ID (and may edit
/// the ID first). Returns the rows written and the rows of no input entity.
fn write_rows(
    manifest: &Manifest,
    source: &Source,
    shards: &[ShardOutputs],
    out: &Path,
    place: &mut dyn FnMut(&mut polyplug_core::Entity) -> (usize, u64),
) -> Result<(u64, u64), EngineError> {
    let idsproc: Option<Box<dyn Plugin>> = match &manifest.idsproc {
        Some(p) => Some(resolve::resolve(
            &p.display().to_string(),
            &LoadOptions::default(),
        )?),
        None => None,
    };
    let mut readers = shards
        .iter()
        .map(|s| ShardRows::open(&s.results))
        .collect::<Result<Vec<_>, _>>()?;
    let mut tmp = temp_beside(out).map_err(|e| write_error(out, e))?;
    let mut rows = 0u64;
    {
        let mut w = BufWriter::with_capacity(1 << 18, tmp.as_file_mut());
        match (source, &idsproc) {
            // The IDs as the run read them, without a `String` of each; a repeat's
            // later appearances are passed over, as the run passed them over (the
            // check is remembered for an IDs file a run over it found clean).
            (Source::Ids { path, column }, None) => {
                let mut repeats = polyplug_runner::repeats::find_remembered(
                    source,
                    None,
                    None,
                    crate::run::repeats_cache().as_deref(),
                )?;
                rows::each_hashed_id(path, *column, |id, hash| {
                    if !repeats.is_empty() && repeats.seen_before(id) {
                        return Ok(());
                    }
                    let shard = Shard::of_hash(hash, manifest.shards) as usize;
                    rows += u64::from(readers[shard].take_into(id, hash, &mut w)?);
                    Ok(())
                })?;
            }
            _ => {
                let repeats = polyplug_runner::repeats::find(source, idsproc.as_deref(), None)?;
                let entities =
                    Entities::open(source, idsproc.as_deref(), SkipSet::default())?.once(repeats);
                for entity in entities {
                    let mut entity = entity?;
                    let (shard, hash) = place(&mut entity);
                    rows += u64::from(readers[shard].take_into(&entity.id, hash, &mut w)?);
                }
            }
        }
        w.flush().map_err(|e| write_error(out, e))?;
    }
    tmp.persist(out).map_err(|e| write_error(out, e.error))?;
    let strays = readers.iter_mut().map(ShardRows::strays).sum();
    Ok((rows, strays))
}

/// [`merge_results`] of a records-mode run: the entities are the records of the
/// files, and each one's shard is the byte range its record starts in.
fn merge_records(
    manifest: &Manifest,
    records: &crate::run_dir::ManifestRecords,
    shards: &[ShardOutputs],
    out: &Path,
) -> Result<(u64, u64), EngineError> {
    let source = records.source().ok_or_else(|| EngineError::RunDir {
        dir: out.to_path_buf(),
        why: format!("its manifest names an unknown format {:?}", records.format),
    })?;
    let catalog = std::sync::Arc::new(crate::records::catalog(&source, &polyplug_core::Silent)?);
    let source = Source::Records {
        catalog: catalog.clone(),
        suffix_repeats: records.numbered_repeats,
    };
    let lines = source_is_lines(&catalog);
    write_rows(manifest, &source, shards, out, &mut |entity| {
        let shard = match entity.record() {
            Some(polyplug_core::RecordRef::InFile { file, offset, .. }) => {
                catalog.shard_of(*file, *offset, manifest.shards) as usize
            }
            _ => 0,
        };
        // The lines format names records by the files as the run was given them.
        if lines {
            entity.id = as_given(&entity.id, records);
        }
        (shard, Shard::hash(entity.id.as_bytes()))
    })
}

fn source_is_lines(catalog: &polyplug_records::Catalog) -> bool {
    catalog.source().format == polyplug_core::RecordFormat::Lines
}

/// A `lines` record's ID (`<absolute file>:<line>`) with the file as it was given.
fn as_given(id: &str, records: &crate::run_dir::ManifestRecords) -> String {
    for (abs, given) in records.files.iter().zip(&records.given) {
        let abs = abs.to_string_lossy();
        if let Some(rest) = id.strip_prefix(abs.as_ref()) {
            if rest.starts_with(':') {
                return format!("{}{rest}", given.display());
            }
        }
    }
    id.to_string()
}

/// `files` concatenated into `out`, in order (a missing file adds nothing).
fn concatenate<'p>(
    files: impl Iterator<Item = &'p PathBuf>,
    out: &Path,
) -> Result<(), EngineError> {
    let mut tmp = temp_beside(out).map_err(|e| write_error(out, e))?;
    for f in files {
        match File::open(f) {
            Ok(mut r) => {
                std::io::copy(&mut r, tmp.as_file_mut()).map_err(|e| write_error(out, e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(EngineError::Read {
                    path: f.clone(),
                    what: "shard's log",
                    why: e.to_string(),
                })
            }
        }
    }
    tmp.persist(out).map_err(|e| write_error(out, e.error))?;
    Ok(())
}

/// The report of the whole run, from the shards'.
fn merged_report(
    dir: &Path,
    manifest: &Manifest,
    reports: &[Option<Report>],
    partial: bool,
) -> Result<Report, EngineError> {
    let done: Vec<&Report> = reports.iter().flatten().collect();
    let Some(first) = done.first() else {
        return Err(EngineError::RunDir {
            dir: dir.to_path_buf(),
            why: "no shard wrote a report: there is nothing to merge".into(),
        });
    };
    let sum = |f: fn(&Report) -> Option<u64>| Some(done.iter().filter_map(|r| f(r)).sum());
    Ok(Report {
        uuid: Uuid::new_v4(),
        time_start: done.iter().filter_map(|r| r.time_start.clone()).min(),
        time_end: done.iter().filter_map(|r| r.time_end.clone()).max(),
        n_units: sum(|r| r.n_units),
        n_failed: sum(|r| r.n_failed),
        n_skipped: sum(|r| r.n_skipped),
        comp_status: if partial {
            CompStatus::Partial
        } else {
            CompStatus::Completed
        },
        remarks: Some(format!(
            "merged from {} of {} shards of run {}",
            done.len(),
            manifest.shards,
            manifest.run_id
        )),
        ..(*first).clone()
    })
}

fn write_error(path: &Path, e: std::io::Error) -> EngineError {
    EngineError::Create {
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
