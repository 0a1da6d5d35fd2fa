//! The worker side of a Python worker process ([`worker_main`], run by the hidden
//! `polyplug __worker python`), talking `polyplug_worker::protocol` to the host's
//! `polyplug_worker::ProcessInstance`.

use crate::convert::exception_message;
use crate::interp;
use crate::module;
use crate::session::Session;
use polyplug_core::{EntityError, Outcome, Params};
use polyplug_worker::protocol::{read_frame, write_frame, HostMsg, WorkerMsg};
use pyo3::prelude::*;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The per-entity time limit of a worker: an overrunning compute gets a
/// `TimeoutError` raised inside it by a SIGALRM handler (the worker computes on its
/// main thread, where Python runs signal handlers), and the worker goes on.
///
/// The timer is not set and cleared around every compute (two system calls and two
/// Python calls an entity, which cost a trivial plugin more than its compute): each
/// compute only notes when it started, and the one-shot `ITIMER_REAL` is armed when
/// none is pending. When it rings, the handler compares the running compute's start
/// with the limit: past it, it raises; short of it (the timer was set for an earlier
/// entity), it sets the timer again for the running compute's own deadline; between
/// computes, it leaves it unset. So an overrun is still caught at its own deadline,
/// and the timer rings at most about once per limit while all goes well.
struct Alarm {
    /// When the running compute started, in nanoseconds since `base`, plus one; 0
    /// between computes.
    started: Arc<AtomicU64>,
    /// Whether a timer is pending.
    armed: Arc<AtomicBool>,
    base: Instant,
    limit: Duration,
    /// `signal.setitimer`, called with `ITIMER_REAL` and the seconds.
    setitimer: Py<PyAny>,
}

impl Alarm {
    /// Installs the SIGALRM handler for a limit of `ms` milliseconds (`source` says
    /// where the limit comes from, in the error).
    fn install(py: Python<'_>, ms: u64, source: &'static str) -> PyResult<Alarm> {
        let limit = Duration::from_millis(ms);
        let signal = py.import("signal")?;
        let setitimer = py
            .import("functools")?
            .getattr("partial")?
            .call1((signal.getattr("setitimer")?, signal.getattr("ITIMER_REAL")?))?
            .unbind();
        let alarm = Alarm {
            started: Arc::new(AtomicU64::new(0)),
            armed: Arc::new(AtomicBool::new(false)),
            base: Instant::now(),
            limit,
            setitimer,
        };
        let handler = pyo3::types::PyCFunction::new_closure(py, None, None, {
            let (started, armed, base) = (alarm.started.clone(), alarm.armed.clone(), alarm.base);
            let setitimer = alarm.setitimer.clone_ref(py);
            let message = format!(
                "compute took longer than {} s ({source})",
                ms as f64 / 1000.0
            );
            move |args, _| -> PyResult<()> {
                let at = started.load(Ordering::Relaxed);
                if at == 0 {
                    armed.store(false, Ordering::Relaxed);
                    return Ok(());
                }
                let elapsed = base.elapsed().saturating_sub(Duration::from_nanos(at - 1));
                if elapsed >= limit {
                    armed.store(false, Ordering::Relaxed);
                    return Err(pyo3::exceptions::PyTimeoutError::new_err(message.clone()));
                }
                let rest = (limit - elapsed).as_secs_f64().max(0.001);
                setitimer.call1(args.py(), (rest,))?;
                Ok(())
            }
        })?;
        let alrm = signal.getattr("SIGALRM")?;
        signal.getattr("signal")?.call1((alrm, handler))?;
        Ok(alarm)
    }

    /// A compute starts: notes when, and arms the timer if none is pending.
    fn begin(&self, py: Python<'_>) {
        let ns = self.base.elapsed().as_nanos().min(u64::MAX as u128 - 1) as u64;
        self.started.store(ns + 1, Ordering::Relaxed);
        if !self.armed.swap(true, Ordering::Relaxed) {
            let _ = self.setitimer.call1(py, (self.limit.as_secs_f64(),));
        }
    }

    /// The compute returned.
    fn end(&self) {
        self.started.store(0, Ordering::Relaxed);
    }
}

/// The worker side: what `polyplug __worker python` runs. Reads the protocol on stdin,
/// answers on the stdout it was started with, and points file descriptor 1 to stderr
/// first, so that a plugin (or a program it starts) writing to stdout cannot corrupt
/// the protocol. Returns when the host is done; an error is why the worker cannot go
/// on (the caller shows it and exits non-zero).
pub fn worker_main() -> Result<(), WorkerError> {
    polyplug_worker::watch_host();
    polyplug_worker::limit_memory().map_err(WorkerError)?;
    worker_loop().map_err(WorkerError)
}

/// Why a worker process cannot go on: the host's messages cannot be read or answered,
/// or the plugin cannot be loaded in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerError(pub String);

impl std::fmt::Display for WorkerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WorkerError {}

fn worker_loop() -> Result<(), String> {
    let send = |out: &mut BufWriter<std::fs::File>, msg: &WorkerMsg, buf: &mut Vec<u8>| {
        msg.encode(buf);
        write_frame(out, buf)
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot answer the host: {e}"))
    };
    let mut input = BufReader::with_capacity(1 << 16, std::io::stdin().lock());
    let mut frame = Vec::new();
    let mut reply = Vec::new();
    if !read_frame(&mut input, &mut frame).map_err(|e| e.to_string())? {
        return Ok(());
    }
    let mut out = BufWriter::with_capacity(1 << 16, polyplug_worker::protocol_output()?);
    // A Load first: the plugin is imported and described to the host, which then
    // sends the Init of the run's parameters.
    let (init, loaded) = match HostMsg::decode(&frame).map_err(|e| e.to_string())? {
        HostMsg::Init(init) => (init, None),
        HostMsg::Load(load) => {
            if load.debug {
                crate::convert::FULL_TRACEBACK.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            let paths: Vec<PathBuf> = load.python_path.iter().map(PathBuf::from).collect();
            let imported = interp::start().and_then(|()| {
                Python::with_gil(|py| module::import(py, &PathBuf::from(&load.plugin), &paths))
            });
            let module = match imported {
                Ok(m) => m,
                Err(m) => return send(&mut out, &WorkerMsg::InitFailed(m), &mut reply),
            };
            let what = crate::describe::Description::of(&module).to_value();
            send(&mut out, &WorkerMsg::Loaded(what), &mut reply)?;
            if !read_frame(&mut input, &mut frame).map_err(|e| e.to_string())? {
                return Ok(()); // the host needed no instance
            }
            match HostMsg::decode(&frame).map_err(|e| e.to_string())? {
                HostMsg::Init(init) if init.plugin == load.plugin => (init, Some(module)),
                _ => return Err("the host did not follow Load with the Init of its plugin".into()),
            }
        }
        _ => return Err("the host did not start with Load or Init".into()),
    };
    if init.debug {
        crate::convert::FULL_TRACEBACK.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let (plugin, python_path, timeout_ms, default_timeout, params, records) = (
        init.plugin,
        init.python_path,
        init.timeout_ms,
        init.default_timeout,
        init.params,
        init.records,
    );
    let mut capture = init
        .log_dir
        .as_ref()
        .map(polyplug_worker::EntityCapture::new)
        .transpose()?;
    let mut records = records.as_ref().map(polyplug_records::Reader::open);
    interp::start()?;
    if capture.is_some() {
        // print() writes to file descriptor 1 again (it goes to stderr otherwise), so
        // that each entity's prints land in its .out file.
        Python::with_gil(|py| py.run(c"import sys\nsys.stdout = sys.__stdout__\n", None, None))
            .map_err(|e| format!("cannot set up --log-dir: {e}"))?;
    }

    let python_path: Vec<PathBuf> = python_path.into_iter().map(PathBuf::from).collect();
    let plugin_path = PathBuf::from(&plugin);
    let started = Python::with_gil(|py| -> Result<_, String> {
        let m = match loaded {
            Some(m) => m,
            None => module::import(py, &plugin_path, &python_path)?,
        };
        let meta = polyplug_core::PluginMeta::validate(&m.raw).map_err(|p| p.to_string())?;
        let given: Vec<(String, polyplug_core::Value)> = params;
        let params =
            Params::resolve(&meta, &given, "the host's parameters").map_err(|e| e.to_string())?;
        let s = Session::start(py, &m, &params)?;
        Ok((m, s))
    });
    let (module, session) = match started {
        Ok(x) => x,
        Err(m) => {
            send(&mut out, &WorkerMsg::InitFailed(m), &mut reply)?;
            return Ok(());
        }
    };
    let alarm = match timeout_ms {
        0 => None,
        ms => Some(
            Python::with_gil(|py| {
                let source = match default_timeout {
                    true => polyplug_core::Timeout::default().source(),
                    false => "--timeout",
                };
                Alarm::install(py, ms, source)
            })
            .map_err(|e| format!("cannot set up --timeout: {e}"))?,
        ),
    };
    send(&mut out, &WorkerMsg::Ready, &mut reply)?;
    let mut session = Some(session);
    let mut results = Vec::new();
    loop {
        if !read_frame(&mut input, &mut frame).map_err(|e| e.to_string())? {
            // The host went away: finalize anyway, as after an interrupt.
            if let Some(s) = session.take() {
                let _ = Python::with_gil(|py| s.finalize(py, &module));
            }
            return Ok(());
        }
        results.clear();
        // One entity: computed, its output captured (--log-dir).
        let mut one = |py: Python<'_>,
                       s: &Session,
                       input: &str,
                       id: &str,
                       key: Option<&polyplug_core::RecordRef>| {
            let mut o = Outcome::default();
            let unlogged = capture.as_mut().and_then(|c| c.begin(id));
            let r = compute_unit(py, s, &module, input, key, records.as_mut(), &alarm, &mut o);
            if let Some(c) = capture.as_mut() {
                c.end(id, || flush_python_streams(py));
            }
            let r = polyplug_core::entity_log::with_note(r, &mut o, unlogged);
            r.map(|()| o)
        };
        // The fast path: the entities of a batch borrowed from the frame.
        let batch = match session.as_ref() {
            Some(s) => Python::with_gil(|py| {
                HostMsg::each_batch_entity(&frame, |input, id| {
                    results.push(one(py, s, input, id, None));
                })
            })
            .map_err(|e| e.to_string())?,
            None => false,
        };
        if !batch {
            let units: Vec<Unit> = match HostMsg::decode(&frame).map_err(|e| e.to_string())? {
                HostMsg::Batch(entities) => entities.into_iter().map(|e| (e, None)).collect(),
                HostMsg::Records(records) => {
                    records.into_iter().map(|(n, r)| (n, Some(r))).collect()
                }
                other => {
                    let answer = finish(other, &mut session, &module)?;
                    return send(&mut out, &answer, &mut reply);
                }
            };
            let Some(s) = session.as_ref() else {
                return Err("a batch after finalize".into());
            };
            Python::with_gil(|py| {
                for (u, key) in &units {
                    results.push(one(py, s, &u.input, u.id(), key.as_ref()));
                }
            });
        }
        send(
            &mut out,
            &WorkerMsg::Results(std::mem::take(&mut results)),
            &mut reply,
        )?;
    }
}

/// Writes out what Python holds in `sys.stdout` and `sys.stderr` (buffered when they
/// are files), before the entity's log files are closed.
fn flush_python_streams(py: Python<'_>) {
    if let Ok(sys) = py.import("sys") {
        for stream in ["stdout", "stderr"] {
            if let Ok(s) = sys.getattr(stream) {
                let _ = s.call_method0("flush");
            }
        }
    }
}

/// One entity of a batch (what compute receives, and its ID), and its record in
/// records mode.
type Unit = (
    polyplug_worker::protocol::Unit,
    Option<polyplug_core::RecordRef>,
);

/// Computes one entity under the time limit (`alarm`); in records mode its record is
/// read here, by its place.
#[allow(
    clippy::too_many_arguments,
    reason = "the worker loop's state, lent for one entity"
)]
fn compute_unit(
    py: Python<'_>,
    s: &Session,
    module: &module::PluginModule,
    entity: &str,
    key: Option<&polyplug_core::RecordRef>,
    records: Option<&mut polyplug_records::Reader>,
    alarm: &Option<Alarm>,
    o: &mut Outcome,
) -> Result<(), EntityError> {
    let record = match (key, records) {
        (None, _) => None,
        (Some(k), _) if k.held().is_some() => k.held().map(Ok),
        (Some(k), Some(reader)) => Some(reader.read(k, entity)),
        (Some(_), None) => Some(Err("the host sent records without saying where they are; \
                                     this is a polyplug bug"
            .to_string())),
    };
    let call = |o: &mut Outcome| match &record {
        None => s.compute(py, module, entity, o),
        Some(Ok(r)) => s.compute_record(py, module, entity, r, o),
        Some(Err(why)) => Err(EntityError::new(why.clone())),
    };
    let Some(alarm) = alarm else {
        return call(o);
    };
    alarm.begin(py);
    let r = call(o);
    // An alarm that rang after compute returned belongs to this entity, not to the
    // next one.
    let checked = py.check_signals();
    alarm.end();
    match checked {
        Err(err) => Err(EntityError::new(exception_message(py, &module.path, &err))),
        Ok(()) => r,
    }
}

/// The answer to a message other than a batch: Finalize ends the worker.
fn finish(
    msg: HostMsg,
    session: &mut Option<Session>,
    module: &module::PluginModule,
) -> Result<WorkerMsg, String> {
    match msg {
        HostMsg::Finalize => {
            let r = match session.take() {
                Some(s) => Python::with_gil(|py| s.finalize(py, module)),
                None => Ok(Vec::new()),
            };
            Ok(WorkerMsg::Finalized(r))
        }
        HostMsg::Init(_) | HostMsg::Load(_) => Err("Init or Load sent twice".into()),
        HostMsg::Batch(_) | HostMsg::Records(_) => Err("a batch not read as one".into()),
    }
}
