//! One worker's instance of a WebAssembly plugin, and the [`Factory`] that makes (and,
//! after a failed call, re-makes) instances.

use crate::host;
use crate::live::{self, Export, Live};
use crate::settings::Settings;
use crate::state::Host;
use polyplug_core::{
    BatchResults, Entity, EntityError, Instance, Outcome, Params, PluginError, Record,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::{Engine, InstancePre};

/// What it takes to make (and re-make) the instances of one plugin: the compiled,
/// linked module and the checked settings.
#[derive(Clone)]
pub(crate) struct Factory {
    engine: Engine,
    pre: InstancePre<Host>,
    pub(crate) settings: Settings,
    pub(crate) path: PathBuf,
}

impl Factory {
    pub(crate) fn new(
        engine: Engine,
        pre: InstancePre<Host>,
        settings: Settings,
        path: &Path,
    ) -> Factory {
        Factory {
            engine,
            pre,
            settings,
            path: path.to_path_buf(),
        }
    }

    /// A fresh instance with these (encoded) parameters, not initialized.
    pub(crate) fn start(&self, params: Arc<[u8]>) -> Result<Live, String> {
        live::start(&self.engine, &self.pre, &self.settings, params)
    }

    /// A fresh instance, initialized when `initialize`.
    fn make(&self, params: &Arc<[u8]>, initialize: bool) -> Result<Live, String> {
        let mut live = self
            .start(params.clone())
            .map_err(|e| format!("cannot start the module: {e}"))?;
        if initialize && live.initialize.is_some() {
            live.store.data_mut().sink.reset();
            live.call(Export::Initialize, &self.settings)
                .map_err(|e| format!("initialize failed: {}", e.message))?;
        }
        Ok(live)
    }

    /// One worker's instance: started and initialized.
    pub(crate) fn instance(
        &self,
        params: &Params,
        functions: &[&'static str],
    ) -> Result<WasmInstance, PluginError> {
        let params: Arc<[u8]> = Arc::from(host::encode_params(params.entries()));
        let initialize = functions.contains(&"initialize");
        let live = self
            .make(&params, initialize)
            .map_err(|e| PluginError::new(&self.path, e))?;
        Ok(WasmInstance {
            live: Some(live),
            factory: self.clone(),
            params,
            initialize,
            run_finalize: functions.contains(&"finalize"),
        })
    }
}

/// One worker's instance. After a trap, a timeout or the memory cap, the instance is
/// dropped and a fresh one (initialized again) is made before the next entity, so the
/// failure costs that entity only, also within a batch.
pub(crate) struct WasmInstance {
    /// `None` after a failure, until the next compute re-creates it.
    live: Option<Live>,
    factory: Factory,
    /// The parameters, encoded for the guest.
    params: Arc<[u8]>,
    initialize: bool,
    run_finalize: bool,
}

impl WasmInstance {
    /// Computes one entity, with its record in records mode; `id` is its ID (what its
    /// `--log-dir` files are named after).
    fn compute_with(
        &mut self,
        (entity, id): (&str, &str),
        record: Option<&Record<'_>>,
        out: &mut Outcome,
    ) -> Result<(), EntityError> {
        let settings = &self.factory.settings;
        if self.live.is_none() {
            match self.factory.make(&self.params, self.initialize) {
                Ok(l) => self.live = Some(l),
                Err(e) => {
                    // The runner will try once more with a new instance, and stop the
                    // run if that fails too.
                    return Err(EntityError {
                        message: format!("cannot re-create the plugin instance: {e}"),
                        logs: Vec::new(),
                        instance_lost: true,
                        out_of_memory: false,
                    });
                }
            }
        }
        let Some(live) = self.live.as_mut() else {
            return Err(EntityError::new("no plugin instance"));
        };
        if live.compute.is_none() {
            return Err(EntityError::new("the plugin has no compute function"));
        }
        {
            let host = live.store.data_mut();
            host.sink.reset();
            host.input.clear();
            host.input.extend_from_slice(entity.as_bytes());
            // The record's bytes and fields, in buffers kept from one call to the next.
            match record {
                Some(r) => {
                    let (bytes, fields) = host.record.get_or_insert_with(Default::default);
                    bytes.clear();
                    bytes.extend_from_slice(r.bytes);
                    fields.clear();
                    fields.extend(r.fields.iter().cloned());
                }
                None => host.record = None,
            }
            if settings.entity_files {
                host.sandbox.grant_entity(entity);
            }
            if settings.log_dir.is_some() {
                let (o, e) = host.captured.get_or_insert_with(Default::default);
                o.clear();
                e.clear();
            }
        }
        let result = live.call(Export::Compute, settings);
        let host = live.store.data_mut();
        if settings.entity_files {
            host.sandbox.revoke_entity();
        }
        // Under --log-dir: the guest's output into the entity's files (a note in its
        // logs when they cannot be written).
        let unlogged = match (&settings.log_dir, host.captured.take()) {
            (Some(dir), Some((o, e))) => polyplug_core::entity_log::write_or_note(dir, id, &o, &e),
            _ => None,
        };
        let result = match result {
            Ok(()) => {
                std::mem::swap(&mut out.values, &mut host.sink.values);
                std::mem::swap(&mut out.logs, &mut host.sink.logs);
                Ok(())
            }
            Err(e) => {
                if e.lost {
                    // Nothing of the failed instance is reused: no finalize, no state.
                    self.live = None;
                }
                Err(EntityError {
                    message: e.message,
                    logs: e.logs,
                    instance_lost: false,
                    out_of_memory: false,
                })
            }
        };
        polyplug_core::entity_log::with_note(result, out, unlogged)
    }
}

impl WasmInstance {
    /// Whether the instance (re-created first if a failure lost it) takes a batch in
    /// one call: it exports `polyplug_compute_batch` and computes. (When it cannot be
    /// re-created, the entity-by-entity path says why.)
    fn batches(&mut self) -> bool {
        if self.live.is_none() {
            self.live = self.factory.make(&self.params, self.initialize).ok();
        }
        self.live
            .as_ref()
            .is_some_and(|l| l.compute.is_some() && l.compute_batch.is_some())
    }

    /// Gives `rest` to the guest in one `polyplug_compute_batch` call and pushes the
    /// results of the entities it settled, in order: those it ended, and the one a
    /// trap, a timeout or the memory cap stopped (the instance is then dropped, and
    /// the rest of the batch goes to a fresh one). Returns how many it settled: at
    /// least one, so that a call that computes nothing fails its first entity
    /// rather than loop.
    fn compute_in_one_call(&mut self, rest: &[Entity], results: &mut BatchResults) -> usize {
        let settings = &self.factory.settings;
        let Some(live) = self.live.as_mut() else {
            results.push(Err(EntityError::new("no plugin instance")));
            return 1;
        };
        {
            let host = live.store.data_mut();
            // Nothing of an earlier call (an error, a misuse, an open list) is this
            // batch's.
            host.sink.reset();
            let b = &mut host.batch;
            b.inputs.clear();
            b.ends.clear();
            for e in rest {
                b.inputs.extend_from_slice(e.input().as_bytes());
                b.ends.push(b.inputs.len());
            }
            (b.next, b.open) = (0, false);
            b.results = std::mem::take(results);
            b.deadline_ticks = settings.deadline_ticks();
            b.fuel = settings.fuel;
            if b.memory_note.is_empty() {
                b.memory_note = live::memory_note(settings);
            }
        }
        let called = live.call_batch(settings);
        let host = live.store.data_mut();
        *results = std::mem::take(&mut host.batch.results);
        let given = host.batch.next;
        let open = std::mem::take(&mut host.batch.open);
        match called {
            Ok(status) => {
                if open {
                    // The call returned during an entity: it ends with the call's status.
                    let hit = host.limits.hit;
                    results.push(host::settle(host, status));
                    if hit {
                        self.live = None;
                    }
                    return given;
                }
                if given > 0 {
                    // Between two entities: a status there is no entity's.
                    return given;
                }
                // Nothing taken: the first entity fails with what the call says, on a
                // fresh instance next time if it reached the memory cap.
                let hit = host.limits.hit;
                let message =
                    live::failure(&mut host.sink, hit, status, || live::memory_note(settings))
                        .unwrap_or_else(|| {
                            "polyplug_compute_batch returned without computing an entity".into()
                        });
                if hit {
                    self.live = None;
                }
                results.push(Err(EntityError::new(message)));
                1
            }
            Err(message) => {
                let logs = std::mem::take(&mut host.sink.logs);
                // Nothing of the failed instance is reused: no finalize, no state.
                self.live = None;
                if !open && given > 0 {
                    // Between two entities: none to blame.
                    return given;
                }
                results.push(Err(EntityError {
                    message,
                    logs,
                    instance_lost: false,
                    out_of_memory: false,
                }));
                given.max(1)
            }
        }
    }
}

impl Instance for WasmInstance {
    fn compute(&mut self, entity: &str, out: &mut Outcome) -> Result<(), EntityError> {
        self.compute_with((entity, entity), None, out)
    }

    fn compute_record(
        &mut self,
        entity: &str,
        record: &Record<'_>,
        out: &mut Outcome,
    ) -> Result<(), EntityError> {
        self.compute_with((entity, record.id.unwrap_or(entity)), Some(record), out)
    }

    fn compute_batch(&mut self, entities: &[Entity], results: &mut BatchResults) {
        // Nothing to do on the host around each entity (a file to grant, output to
        // capture): the whole batch in one call, when the module can take one.
        let settings = &self.factory.settings;
        let alone = settings.entity_files || settings.log_dir.is_some();
        let mut done = 0;
        while done < entities.len() {
            let rest = &entities[done..];
            if !alone && self.batches() {
                done += self.compute_in_one_call(rest, results);
                continue;
            }
            let e = &rest[0];
            let mut out = results.outcome();
            let r = self.compute_with((e.input(), &e.id), None, &mut out);
            results.push(r.map(|()| out));
            done += 1;
        }
    }

    fn finalize(mut self: Box<Self>) -> Result<Vec<String>, PluginError> {
        let settings = self.factory.settings.clone();
        let path = self.factory.path.clone();
        let Some(live) = self.live.as_mut() else {
            return Ok(Vec::new());
        };
        if !self.run_finalize {
            return Ok(Vec::new());
        }
        if live.finalize.is_none() {
            return Ok(Vec::new());
        }
        live.store.data_mut().sink.reset();
        match live.call(Export::Finalize, &settings) {
            Ok(()) => Ok(std::mem::take(&mut live.store.data_mut().sink.logs)),
            Err(e) => Err(PluginError::new(
                path,
                format!("finalize failed: {}", e.message),
            )),
        }
    }
}
