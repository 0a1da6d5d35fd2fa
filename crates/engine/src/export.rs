//! `polyplug export`: a stored computation written back as Prenacs files — its results
//! TSV and its report, as the run that computed them wrote them.

use crate::run_store::done;
use crate::{stores, EngineError};
use polyplug_core::{Entity, Report};
use polyplug_runner::output::TsvWriter;
use polyplug_runner::Recorder;
use std::io::Write;
use std::path::Path;

/// Writes the results of computation `uuid` (or a unique prefix of it) to the file
/// `out` (created, or replaced), else to `default`, and its report to `report` when
/// given. Returns the report.
pub fn export(
    store: Option<&str>,
    uuid: &str,
    out: Option<&Path>,
    default: Box<dyn Write + '_>,
    report: Option<&Path>,
) -> Result<Report, EngineError> {
    let mut store = stores::open_existing(store)?;
    let (c, _) = store.computation(uuid)?;
    let out: Box<dyn Write> = match out {
        Some(p) => Box::new(std::fs::File::create(p).map_err(|e| EngineError::Create {
            path: p.to_path_buf(),
            why: e.to_string(),
        })?),
        None => default,
    };
    let uuid = c.report.uuid.hyphenated().to_string();
    let mut io_err = None;
    {
        let mut w = TsvWriter::new(
            Box::new(std::io::BufWriter::new(out)),
            Box::new(std::io::sink()),
        );
        store.result_rows(&uuid, |entity, values| {
            if io_err.is_none() {
                io_err = w.record(&Entity::same(entity), &done(values)).err();
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
