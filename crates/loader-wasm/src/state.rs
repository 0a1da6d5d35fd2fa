//! What one wasmtime store (one plugin instance) holds on the host side: the sink of
//! the running call, its input, the parameters, the sandbox and the memory cap.

use crate::sandbox::Sandbox;
use polyplug_core::{BatchResults, Console};
use std::sync::Arc;
use wasmtime::{Memory, ResourceLimiter, Result};

/// A record's bytes and fields, in buffers kept from one compute to the next.
pub(crate) type RecordBuffers = (Vec<u8>, Vec<(String, String)>);

/// Everything one store (one instance) owns on the host side.
pub(crate) struct Host {
    /// The guest's exported `memory`, set right after instantiation.
    pub memory: Option<Memory>,
    /// What the running call pushed.
    pub sink: Sink,
    /// The entity (compute) or unit (compute_id) of the running call.
    pub input: Vec<u8>,
    /// Records mode: the record of the running compute (its bytes and fields), if
    /// it has one.
    pub record: Option<RecordBuffers>,
    /// The parameters, encoded as the guest ABI describes.
    pub params: Arc<[u8]>,
    /// Metadata being collected during `polyplug_describe`.
    pub meta: Option<MetaSink>,
    /// Files, clock, environment: what WASI calls may reach.
    pub sandbox: Sandbox,
    /// The memory cap.
    pub limits: Limits,
    /// Where the guest's standard output and error go.
    pub console: Arc<dyn Console>,
    /// While a compute runs under `--log-dir`: what the guest wrote to its standard
    /// output and standard error, for the entity's files instead of the console.
    pub captured: Option<(Vec<u8>, Vec<u8>)>,
    /// The batch a `polyplug_compute_batch` call works through.
    pub batch: Batch,
}

/// A batch of entities given to the guest in one call (`polyplug_compute_batch`):
/// it takes them one by one (`next_entity`) and ends each with its status
/// (`end_entity`), and each entity's limits start anew when it is taken.
#[derive(Default)]
pub(crate) struct Batch {
    /// The entities' inputs one after the other, and where each ends.
    pub inputs: Vec<u8>,
    pub ends: Vec<usize>,
    /// The next entity to give.
    pub next: usize,
    /// Whether the entity given last is being computed (not yet ended).
    pub open: bool,
    /// The results of the entities ended so far, in order.
    pub results: BatchResults,
    /// What each entity's compute may take: epoch ticks, and fuel.
    pub deadline_ticks: u64,
    pub fuel: Option<u64>,
    /// The failure of an entity that reached the memory cap.
    pub memory_note: String,
}

impl Host {
    pub(crate) fn new(
        params: Arc<[u8]>,
        sandbox: Sandbox,
        max_memory: u64,
        console: Arc<dyn Console>,
    ) -> Host {
        Host {
            memory: None,
            sink: Sink::default(),
            input: Vec::new(),
            record: None,
            params,
            meta: None,
            sandbox,
            limits: Limits {
                max_memory,
                hit: false,
            },
            console,
            captured: None,
            batch: Batch::default(),
        }
    }
}

/// Applies the memory cap and remembers when a guest hit it.
pub(crate) struct Limits {
    /// Largest linear memory in bytes.
    pub max_memory: u64,
    /// A growth was refused since the flag was last cleared.
    pub hit: bool,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool> {
        if desired as u64 > self.max_memory {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// What a guest pushes during one call.
pub(crate) type Sink = polyplug_core::CallSink;

/// Metadata declared by `polyplug_describe`.
#[derive(Default)]
pub(crate) struct MetaSink {
    /// `(key, value)` of the single-valued entries, in order.
    pub fields: Vec<(String, String)>,
    pub output: Vec<String>,
    pub params: Vec<[String; 4]>,
    pub functions: Vec<String>,
    pub problems: Vec<String>,
}
