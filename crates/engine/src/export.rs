//! `polyplug export`: a stored computation written back as Prenacs files — its results
//! TSV, its log and its report, as the run that computed them wrote them.

use crate::{stores, EngineError};
use polyplug_core::{Entity, EntityError, Outcome, Report};
use polyplug_runner::output::TsvWriter;
use polyplug_runner::Recorder;
use polyplug_store::UnitStatus;
use std::io::Write;
use std::path::Path;

/// Where `polyplug export` writes: the results (`out`, else `default`), the log and
/// the report (each when given; files created, or replaced).
pub struct ExportTo<'a> {
    /// The results file.
    pub out: Option<&'a Path>,
    /// Where the results go without `out`.
    pub default: Box<dyn Write + 'a>,
    /// The log file: each entity's stored logs and error, as the run's log had them.
    pub log: Option<&'a Path>,
    /// The report file.
    pub report: Option<&'a Path>,
}

/// Writes computation `uuid` (or a unique prefix of it) where `to` says. Returns the
/// report.
pub fn export(store: Option<&str>, uuid: &str, to: ExportTo<'_>) -> Result<Report, EngineError> {
    let mut store = stores::open_existing(store)?;
    let (c, _) = store.computation(uuid)?;
    let create = |p: &Path| -> Result<Box<dyn Write>, EngineError> {
        Ok(Box::new(std::fs::File::create(p).map_err(|e| {
            EngineError::Create {
                path: p.to_path_buf(),
                why: e.to_string(),
            }
        })?))
    };
    let out: Box<dyn Write> = match to.out {
        Some(p) => create(p)?,
        None => to.default,
    };
    let log: Box<dyn Write> = match to.log {
        Some(p) => Box::new(std::io::BufWriter::new(create(p)?)),
        None => Box::new(std::io::sink()),
    };
    let report = to.report;
    let uuid = c.report.uuid.hyphenated().to_string();
    let mut io_err = None;
    {
        let mut w = TsvWriter::new(Box::new(std::io::BufWriter::new(out)), log);
        store.stored_units(&uuid, |u| {
            let logs = u.logs.map_or_else(Vec::new, |l| {
                l.split('\n').map(str::to_string).collect::<Vec<_>>()
            });
            let result = match u.status {
                UnitStatus::Failed => Err(EntityError {
                    message: u.error.unwrap_or_default().to_string(),
                    logs,
                    instance_lost: false,
                    out_of_memory: false,
                }),
                _ => Ok(Outcome {
                    values: u.values.to_vec(),
                    logs,
                }),
            };
            if io_err.is_none() {
                io_err = w.record(&Entity::same(u.entity), &result).err();
            }
            Ok(())
        })?;
        if io_err.is_none() {
            io_err = w.flush().err();
        }
    }
    if let Some(e) = io_err {
        return Err(EngineError::WriteResults(e.to_string()));
    }
    if let Some(p) = report {
        std::fs::write(p, c.report.to_yaml()).map_err(|e| EngineError::WriteReport {
            path: p.to_path_buf(),
            why: e.to_string(),
        })?;
    }
    Ok(c.report)
}
