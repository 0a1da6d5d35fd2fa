//! A worker that loads its plugin before the host knows the run's parameters, so
//! that the host learns what the plugin is from it instead of loading the plugin
//! itself (a Python plugin's host then starts no interpreter of its own).

use super::{ProcessInstance, WorkerSpec};
use crate::protocol::{HostMsg, Load, WorkerMsg, PROTOCOL_VERSION};
use polyplug_core::{Params, PluginError, Value};
use std::sync::Arc;

/// A worker process with its plugin loaded and not initialized: the first instance
/// of a run, once the host has checked the parameters ([`LoadedWorker::start`]).
/// Dropped unstarted, the process is killed (no `initialize` ran in it).
pub struct LoadedWorker {
    instance: ProcessInstance,
}

impl ProcessInstance {
    /// Starts a worker and loads the plugin there; returns it with what the worker's
    /// loader says of the plugin ([`WorkerMsg::Loaded`]). A plugin that cannot be
    /// loaded is an error with the worker's own words.
    pub fn load(spec: Arc<WorkerSpec>) -> Result<(LoadedWorker, Value), PluginError> {
        let mut i = ProcessInstance {
            spec: spec.clone(),
            params: Params::empty(),
            process: None,
            buf: Vec::new(),
            out: Vec::new(),
        };
        i.launch()?;
        HostMsg::Load(spec.load()).encode(&mut i.buf);
        match i.answer_to_start()? {
            WorkerMsg::Loaded(what) => Ok((LoadedWorker { instance: i }, what)),
            other => Err(i.out_of_turn(&other, "Load")),
        }
    }
}

impl WorkerSpec {
    /// The Load message of this worker's plugin (its fields start Init too).
    pub(super) fn load(&self) -> Load {
        Load {
            version: PROTOCOL_VERSION,
            plugin: self.plugin.display().to_string(),
            python_path: self
                .python_path
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            debug: self.debug,
        }
    }
}

impl LoadedWorker {
    /// Runs the plugin's `initialize` with `params` in this worker: the instance of
    /// [`ProcessInstance::start`], without starting another process.
    pub fn start(mut self, params: &Params) -> Result<ProcessInstance, PluginError> {
        self.instance.params = params.clone();
        self.instance.init()?;
        Ok(self.instance)
    }
}
