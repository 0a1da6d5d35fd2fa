//! The worker side of a native worker process ([`worker_main`], run by the hidden
//! `polyplug __worker native`): it loads the library, initializes one instance, and
//! computes the batches the host's `polyplug_worker::ProcessInstance` sends. Whatever
//! the plugin does to this process (a segfault, an abort, `exit`) the host survives,
//! and fails only the entity it was computing.

use crate::open;
use polyplug_core::{Instance, Outcome, OutputSpec, Params, Plugin};
use polyplug_worker::protocol::{read_frame, write_frame, HostMsg, ResultsWriter, WorkerMsg};
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What `polyplug __worker native` runs. Reads the protocol on stdin, answers on the
/// stdout it was started with (file descriptor 1 itself is pointed to stderr first,
/// so the plugin's prints cannot corrupt the protocol), and ends with the host.
pub fn worker_main() -> Result<(), String> {
    polyplug_worker::watch_host();
    polyplug_worker::limit_memory()?;
    let mut out = BufWriter::with_capacity(1 << 16, polyplug_worker::protocol_output()?);
    let mut input = BufReader::with_capacity(1 << 16, std::io::stdin().lock());
    let mut frame = Vec::new();
    let mut reply = Vec::new();
    let mut send = |out: &mut BufWriter<std::fs::File>, msg: &WorkerMsg| {
        msg.encode(&mut reply);
        write_frame(out, &reply)
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot answer the host: {e}"))
    };
    if !read_frame(&mut input, &mut frame).map_err(|e| e.to_string())? {
        return Ok(());
    }
    let init = match HostMsg::decode(&frame).map_err(|e| e.to_string())? {
        HostMsg::Init(init) => init,
        _ => return Err("the host did not start with Init".into()),
    };
    let mut records = init.records.as_ref().map(polyplug_records::Reader::open);
    let mut instance = match start(Path::new(&init.plugin), init.params) {
        Ok(i) => i,
        Err(m) => return send(&mut out, &WorkerMsg::InitFailed(m)),
    };
    let clock = (init.timeout_ms > 0).then(|| EntityClock::start(init.timeout_ms));
    let mut capture = init
        .log_dir
        .as_ref()
        .map(polyplug_worker::EntityCapture::new)
        .transpose()?;
    send(&mut out, &WorkerMsg::Ready)?;
    let mut outcome = Outcome::default();
    let mut results = Vec::new();
    loop {
        if !read_frame(&mut input, &mut frame).map_err(|e| e.to_string())? {
            // The host went away: finalize anyway, as after an interrupt.
            let _ = instance.finalize();
            return Ok(());
        }
        // The fast path: entities borrowed from the frame, each outcome encoded as
        // soon as it is computed.
        let n = HostMsg::batch_len(&frame).unwrap_or(0);
        let mut w = ResultsWriter::start(&mut results, n);
        let batch = HostMsg::each_batch_entity(&frame, |entity, id| {
            outcome.clear();
            let unlogged = capture.as_mut().and_then(|c| c.begin(id));
            if let Some(c) = &clock {
                c.begin();
            }
            let r = instance.compute(entity, &mut outcome);
            if let Some(c) = &clock {
                c.end();
            }
            if let Some(c) = capture.as_mut() {
                c.end(id, || {});
            }
            let r = polyplug_core::entity_log::with_note(r, &mut outcome, unlogged);
            match r {
                Ok(()) => w.push_ok(&outcome),
                Err(e) => w.push_err(&e),
            }
        })
        .map_err(|e| e.to_string())?;
        // Records mode: each record read here, from its file, by its place.
        let batch = batch
            || HostMsg::each_batch_record(&frame, |name, id, key| {
                outcome.clear();
                let read = match (key.held(), records.as_mut()) {
                    (Some(held), _) => Some(Ok(held)),
                    (None, Some(r)) => Some(r.read(key, name)),
                    (None, None) => None,
                };
                let r = match read {
                    Some(Ok(record)) => {
                        let record = record.as_entity(name, id);
                        let unlogged = capture.as_mut().and_then(|c| c.begin(id));
                        if let Some(c) = &clock {
                            c.begin();
                        }
                        let r = instance.compute_record(name, &record, &mut outcome);
                        if let Some(c) = &clock {
                            c.end();
                        }
                        if let Some(c) = capture.as_mut() {
                            c.end(id, || {});
                        }
                        polyplug_core::entity_log::with_note(r, &mut outcome, unlogged)
                    }
                    Some(Err(why)) => Err(polyplug_core::EntityError::new(why)),
                    None => Err(polyplug_core::EntityError::new(
                        "the host sent records without saying where they are; this is a \
                         polyplug bug",
                    )),
                };
                match r {
                    Ok(()) => w.push_ok(&outcome),
                    Err(e) => w.push_err(&e),
                }
            })
            .map_err(|e| e.to_string())?;
        if batch {
            write_frame(&mut out, &results)
                .and_then(|()| out.flush())
                .map_err(|e| format!("cannot answer the host: {e}"))?;
            continue;
        }
        match HostMsg::decode(&frame).map_err(|e| e.to_string())? {
            HostMsg::Batch(_) | HostMsg::Records(_) => return Err("a batch not read as one".into()),
            HostMsg::Finalize => {
                let r = instance.finalize().map_err(|e| e.message);
                return send(&mut out, &WorkerMsg::Finalized(r));
            }
            HostMsg::Init(_) | HostMsg::Load(_) => return Err("Init or Load sent twice".into()),
        }
    }
}

/// The per-entity time limit of a native worker: nothing can interrupt native code,
/// so a thread of the worker ends the whole process with SIGALRM when one compute
/// overruns; the host reads that signal as "timed out", fails the entity and starts
/// another worker.
///
/// The compute thread reads no clock: it only bumps a counter, odd while a compute
/// runs (a clock read per entity was 3 % of a trivial plugin's run). The watching
/// thread notes when it first saw each odd value and fires when the same one has
/// lasted longer than the limit; it looks every 10 ms (or a quarter of the limit), so
/// a compute is stopped at most one look after its limit.
struct EntityClock {
    /// Computes begun plus computes ended: odd while one runs.
    ticks: Arc<AtomicU64>,
    /// The compute thread's own copy of `ticks` (only it writes them).
    mine: std::cell::Cell<u64>,
}

impl EntityClock {
    fn start(timeout_ms: u64) -> EntityClock {
        let ticks = Arc::new(AtomicU64::new(0));
        let limit = Duration::from_millis(timeout_ms);
        let watched = ticks.clone();
        let _ = std::thread::Builder::new()
            .name("polyplug-entity-clock".into())
            .spawn(move || {
                // The odd value last seen, and when it was first seen.
                let mut running: Option<(u64, Instant)> = None;
                loop {
                    let now = watched.load(Ordering::Acquire);
                    running = match running {
                        _ if now.is_multiple_of(2) => None,
                        Some((seen, since)) if seen == now => {
                            if since.elapsed() > limit {
                                let _ = rustix::process::kill_process(
                                    rustix::process::getpid(),
                                    rustix::process::Signal::ALARM,
                                );
                            }
                            Some((seen, since))
                        }
                        _ => Some((now, Instant::now())),
                    };
                    std::thread::sleep(
                        Duration::from_millis(10).min(limit / 4 + Duration::from_micros(1)),
                    );
                }
            });
        EntityClock {
            ticks,
            mine: std::cell::Cell::new(0),
        }
    }

    fn tick(&self) {
        self.mine.set(self.mine.get() + 1);
        self.ticks.store(self.mine.get(), Ordering::Release);
    }

    fn begin(&self) {
        self.tick();
    }

    fn end(&self) {
        self.tick();
    }
}

/// Loads the library and runs `initialize`.
fn start(
    library: &Path,
    params: Vec<(String, polyplug_core::Value)>,
) -> Result<Box<dyn Instance>, String> {
    let plugin = open(library).map_err(|e| e.message)?;
    let meta = plugin.meta().clone();
    let params =
        Params::resolve(&meta, &params, "the host's parameters").map_err(|e| e.to_string())?;
    plugin
        .instantiate(&params, &OutputSpec::untyped(&meta.output))
        .map_err(|e| e.message)
}
