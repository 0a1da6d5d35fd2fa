//! How a worker computes a batch: records read for the instances that do not read
//! them, and the retries of failed entities.

use crate::run::{check, EntityResult};
use polyplug_core::{BatchResults, Entity, EntityError, OutputSpec, Params, Plugin, PluginError};

/// Computes a batch: by the instance's own `compute_batch`, unless its entities are
/// records the instance does not read itself; then each record is read here (by
/// this worker's `reader`) and computed with `compute_record`. A record that cannot
/// be read (its file changed, it is truncated) fails alone.
pub(crate) fn compute(
    instance: &mut dyn polyplug_core::Instance,
    mut reader: Option<&mut polyplug_records::Reader>,
    entities: &[Entity],
    results: &mut BatchResults,
) {
    let records = entities.first().is_some_and(|e| e.record().is_some());
    if !records || instance.reads_records() {
        return instance.compute_batch(entities, results);
    }
    for e in entities {
        let mut out = results.outcome();
        let read = match (e.record(), reader.as_deref_mut()) {
            (None, _) => None,
            (Some(key), _) if key.held().is_some() => key.held().map(Ok),
            (Some(key), Some(reader)) => Some(reader.read(key, e.input())),
            (Some(_), None) => Some(Err("a record without the files it is in: this is a \
                 polyplug bug"
                .to_string())),
        };
        let r = match read {
            Some(Ok(record)) => instance
                .compute_record(e.input(), &record.as_entity(e.input(), &e.id), &mut out)
                .map(|()| out),
            Some(Err(why)) => Err(EntityError::new(why)),
            None => instance.compute(e.input(), &mut out).map(|()| out),
        };
        results.push(r);
    }
}

/// Computes each failed entity of a batch again, alone, up to `retries` times, on a
/// fresh instance whenever the last failure cost the instance. What each failed
/// attempt said stays in the entity's logs (`attempt 1 of 3 failed: ...`). Returns
/// whether the instance is lost at the end; `Err` when no fresh instance starts.
#[allow(
    clippy::too_many_arguments,
    reason = "the worker loop's state, lent for the retries"
)]
pub(crate) fn retry(
    plugin: &dyn Plugin,
    params: &Params,
    spec: &OutputSpec,
    instance: &mut Box<dyn polyplug_core::Instance>,
    mut lost: bool,
    entities: &[Entity],
    results: &mut [EntityResult],
    retries: u32,
    stopped: &dyn Fn() -> bool,
    mut records: Option<&mut polyplug_records::Reader>,
) -> Result<bool, PluginError> {
    let attempts = retries + 1;
    for (entity, result) in entities.iter().zip(results.iter_mut()) {
        let mut earlier: Vec<String> = Vec::new();
        let mut tried = 1;
        for attempt in 1..attempts {
            let Err(e) = result else { break };
            if stopped() {
                break;
            }
            earlier.append(&mut e.logs);
            earlier.push(format!(
                "attempt {attempt} of {attempts} failed: {}",
                e.message.replace(['\n', '\r'], " ")
            ));
            if std::mem::take(&mut lost) {
                let old = std::mem::replace(instance, plugin.instantiate(params, spec)?);
                let _ = old.finalize();
            }
            let mut again = BatchResults::with_capacity(1);
            compute(
                instance.as_mut(),
                records.as_deref_mut(),
                std::slice::from_ref(entity),
                &mut again,
            );
            lost = check(spec, &mut again);
            tried += 1;
            *result = again.pop().unwrap_or_else(|| {
                Err(EntityError::new(
                    "the plugin's instance gave no result for this entity; this is a \
                     polyplug bug",
                ))
            });
        }
        if !earlier.is_empty() {
            let logs = match result {
                Ok(out) => &mut out.logs,
                Err(e) => {
                    e.message = format!("{} (attempt {tried} of {attempts})", e.message);
                    &mut e.logs
                }
            };
            earlier.append(logs);
            *logs = earlier;
        }
    }
    Ok(lost)
}
