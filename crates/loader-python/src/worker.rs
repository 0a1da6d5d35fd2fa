//! Worker processes: the host side ([`WorkerInstance`]) and the worker side
//! ([`worker_main`]), talking the [`crate::protocol`].

use crate::convert::exception_message;
use crate::interp;
use crate::module;
use crate::protocol::{read_frame, write_frame, HostMsg, Init, WorkerMsg, PROTOCOL_VERSION};
use crate::session::Session;
use polyplug_core::{
    compute_as_batch, BatchResults, Entity, EntityError, Instance, LoadOption, Outcome, Params,
    PluginError,
};
use pyo3::prelude::*;
use std::io::{BufReader, BufWriter, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Slack added to a batch's time limit before the host kills a worker whose plugin
/// did not stop at the per-entity alarm (stuck in C code that never checks signals).
const KILL_SLACK: Duration = Duration::from_secs(5);

/// Kills a worker whose batch overran its deadline (`--timeout`).
struct Watchdog {
    state: Mutex<DogState>,
    cv: Condvar,
}

#[derive(Default)]
struct DogState {
    deadline: Option<Instant>,
    fired: bool,
    quit: bool,
}

impl Watchdog {
    fn start(child: Arc<Mutex<Child>>) -> Arc<Watchdog> {
        let dog = Arc::new(Watchdog {
            state: Mutex::new(DogState::default()),
            cv: Condvar::new(),
        });
        let d = dog.clone();
        std::thread::spawn(move || {
            let mut s = d.state.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if s.quit {
                    return;
                }
                match s.deadline {
                    None => s = d.cv.wait(s).unwrap_or_else(|e| e.into_inner()),
                    Some(at) => {
                        let now = Instant::now();
                        if now >= at {
                            // Killed while the lock is held: `disarm` cannot return
                            // before this, so the host never reaps a worker and then
                            // kills another process.
                            let _ = child.lock().unwrap_or_else(|e| e.into_inner()).kill();
                            s.fired = true;
                            s.deadline = None;
                        } else {
                            s =
                                d.cv.wait_timeout(s, at - now)
                                    .unwrap_or_else(|e| e.into_inner())
                                    .0;
                        }
                    }
                }
            }
        });
        dog
    }

    fn arm(&self, deadline: Instant) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.deadline = Some(deadline);
        s.fired = false;
        self.cv.notify_all();
    }

    /// Disarms; returns whether the watchdog killed the worker.
    fn disarm(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.deadline = None;
        self.cv.notify_all();
        std::mem::take(&mut s.fired)
    }

    fn quit(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.quit = true;
        self.cv.notify_all();
    }
}

/// One plugin instance in a worker process.
pub struct WorkerInstance {
    child: Arc<Mutex<Child>>,
    timeout: Option<Duration>,
    watchdog: Option<Arc<Watchdog>>,
    to: BufWriter<ChildStdin>,
    from: BufReader<ChildStdout>,
    buf: Vec<u8>,
    path: PathBuf,
    /// Set once the worker died or spoke nonsense: nothing more is sent.
    dead: Option<String>,
}

impl WorkerInstance {
    /// Starts a worker from `exe`, loads the plugin there and runs `initialize`.
    pub fn start(
        exe: &Path,
        plugin: &Path,
        python_path: &[PathBuf],
        timeout: Option<Duration>,
        params: &Params,
    ) -> Result<WorkerInstance, PluginError> {
        let err = |m: String| PluginError::new(plugin, m);
        let mut child = Command::new(exe)
            .args(["__worker", "python"])
            .env(PARENT_VARIABLE, std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own process group: a Ctrl-C reaches polyplug only, which then
            // finalizes the workers instead of losing them mid-batch.
            .process_group(0)
            .spawn()
            .map_err(|e| {
                err(format!(
                    "cannot start a Python worker process ({} __worker python): {e}",
                    exe.display()
                ))
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(err(
                "cannot open the pipes of a Python worker process".into()
            ));
        };
        let child = Arc::new(Mutex::new(child));
        let mut w = WorkerInstance {
            watchdog: timeout.map(|_| Watchdog::start(child.clone())),
            timeout,
            child,
            to: BufWriter::with_capacity(1 << 16, stdin),
            from: BufReader::with_capacity(1 << 16, stdout),
            buf: Vec::new(),
            path: plugin.to_path_buf(),
            dead: None,
        };
        let init = HostMsg::Init(Init {
            version: PROTOCOL_VERSION,
            plugin: plugin.display().to_string(),
            python_path: python_path
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            timeout_ms: timeout.map_or(0, |t| t.as_millis().max(1) as u64),
            params: params.entries().to_vec(),
        });
        match w.exchange(&init) {
            Ok(WorkerMsg::Ready) => Ok(w),
            Ok(WorkerMsg::InitFailed(m)) => {
                w.reap();
                Err(err(m))
            }
            Ok(other) => Err(err(format!(
                "the Python worker answered {other:?} to its start; this is a polyplug bug"
            ))),
            Err(m) => Err(err(format!(
                "the Python worker process failed to start: {m}"
            ))),
        }
    }

    /// Sends a message and reads the answer; on failure the worker is marked dead and
    /// the message says how it ended.
    fn exchange(&mut self, msg: &HostMsg) -> Result<WorkerMsg, String> {
        msg.encode(&mut self.buf);
        self.send_buf()
    }

    fn send_buf(&mut self) -> Result<WorkerMsg, String> {
        if let Some(d) = &self.dead {
            return Err(d.clone());
        }
        let sent = write_frame(&mut self.to, &self.buf).and_then(|()| self.to.flush());
        let answer = match sent {
            Ok(()) => match read_frame(&mut self.from, &mut self.buf) {
                Ok(true) => WorkerMsg::decode(&self.buf).map_err(|e| e.to_string()),
                Ok(false) => Err(String::new()),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        answer.map_err(|detail| {
            let how = self.reap();
            let m = if detail.is_empty() {
                format!("the Python worker process {how}")
            } else {
                format!("the Python worker process {how} ({detail})")
            };
            self.dead = Some(m.clone());
            m
        })
    }

    /// Ends the worker process (killing it if needed) and says how it ended.
    fn reap(&mut self) -> String {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let pid = child.id();
        let status = match child.try_wait() {
            Ok(Some(s)) => Some(s),
            _ => {
                // Give a worker that is exiting on its own a moment before killing it.
                std::thread::sleep(Duration::from_millis(20));
                match child.try_wait() {
                    Ok(Some(s)) => Some(s),
                    _ => {
                        let _ = child.kill();
                        child.wait().ok()
                    }
                }
            }
        };
        match status {
            Some(s) => match (s.code(), s.signal()) {
                (_, Some(sig)) => format!("(pid {pid}) died, killed by signal {sig}"),
                (Some(c), _) => format!("(pid {pid}) exited with status {c}"),
                _ => format!("(pid {pid}) ended"),
            },
            None => format!("(pid {pid}) was lost"),
        }
    }
}

impl Drop for WorkerInstance {
    fn drop(&mut self) {
        if let Some(d) = &self.watchdog {
            d.quit();
        }
        if self.dead.is_none() {
            let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Instance for WorkerInstance {
    fn compute(&mut self, entity: &str, out: &mut Outcome) -> Result<(), EntityError> {
        compute_as_batch(self, entity, out)
    }

    fn compute_batch(&mut self, entities: &[Entity], results: &mut BatchResults) {
        HostMsg::encode_batch(entities.iter().map(|e| e.input.as_str()), &mut self.buf);
        if let (Some(dog), Some(t)) = (&self.watchdog, self.timeout) {
            dog.arm(Instant::now() + t * entities.len().min(u32::MAX as usize) as u32 + KILL_SLACK);
        }
        let mut answer = self.send_buf();
        if let Some(dog) = &self.watchdog {
            if dog.disarm() {
                if let Err(m) = &mut answer {
                    *m = format!(
                        "{m}: its plugin did not stop at {} \
                         ({} s per entity), so polyplug killed it",
                        LoadOption::Timeout.flag(),
                        self.timeout.map_or(0.0, |t| t.as_secs_f64())
                    );
                    self.dead = Some(m.clone());
                }
            }
        }
        let lost = |m: String| EntityError {
            message: format!(
                "{m} while computing a batch of {} entities; they are failed, rerun to retry them",
                entities.len()
            ),
            logs: Vec::new(),
            instance_lost: true,
        };
        match answer {
            Ok(WorkerMsg::Results(r)) if r.len() == entities.len() => results.extend(r),
            Ok(other) => {
                let m = format!("the Python worker answered out of turn ({})", short(&other));
                self.dead = Some(m.clone());
                let _ = self.child.lock().unwrap_or_else(|e| e.into_inner()).kill();
                results.extend(entities.iter().map(|_| Err(lost(m.clone()))));
            }
            Err(m) => results.extend(entities.iter().map(|_| Err(lost(m.clone())))),
        }
    }

    fn finalize(mut self: Box<Self>) -> Result<Vec<String>, PluginError> {
        if let Some(d) = &self.dead {
            return Err(PluginError::new(
                &self.path,
                format!("finalize not run in a worker that ended: {d}"),
            ));
        }
        let answer = self.exchange(&HostMsg::Finalize);
        // The worker exits after answering.
        let _ = self.child.lock().unwrap_or_else(|e| e.into_inner()).wait();
        self.dead = Some("finalized".into());
        match answer {
            Ok(WorkerMsg::Finalized(Ok(logs))) => Ok(logs),
            Ok(WorkerMsg::Finalized(Err(m))) => Err(PluginError::new(&self.path, m)),
            Ok(other) => Err(PluginError::new(
                &self.path,
                format!("the Python worker answered out of turn ({})", short(&other)),
            )),
            Err(m) => Err(PluginError::new(&self.path, format!("finalize: {m}"))),
        }
    }
}

/// Installs a SIGALRM handler raising `TimeoutError` in the running compute, and
/// returns the functions that arm and disarm the per-entity alarm. The worker computes
/// on its main thread, where Python runs signal handlers.
fn alarm(py: Python<'_>, ms: u64) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
    let secs = ms as f64 / 1000.0;
    let code = std::ffi::CString::new(format!(
        "import signal, functools\n\
         def _polyplug_timeout(signum, frame):\n    \
             raise TimeoutError('compute took longer than {secs} s (--timeout)')\n\
         signal.signal(signal.SIGALRM, _polyplug_timeout)\n\
         arm = functools.partial(signal.setitimer, signal.ITIMER_REAL, {secs})\n\
         disarm = functools.partial(signal.setitimer, signal.ITIMER_REAL, 0)\n"
    ))
    .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    let globals = pyo3::types::PyDict::new(py);
    py.run(&code, Some(&globals), None)?;
    let get = |n: &str| -> PyResult<Py<PyAny>> {
        globals
            .get_item(n)?
            .map(|v| v.unbind())
            .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(n.to_string()))
    };
    Ok((get("arm")?, get("disarm")?))
}

fn short(m: &WorkerMsg) -> &'static str {
    match m {
        WorkerMsg::Ready => "ready",
        WorkerMsg::InitFailed(_) => "init failed",
        WorkerMsg::Results(_) => "results of another size",
        WorkerMsg::Finalized(_) => "finalized",
    }
}

/// The worker side: what `polyplug __worker python` runs. Reads the protocol on stdin,
/// answers on the stdout it was started with, and points file descriptor 1 to stderr
/// first, so that a plugin (or a program it starts) writing to stdout cannot corrupt
/// the protocol. Returns when the host is done; an error is why the worker cannot go
/// on (the caller shows it and exits non-zero).
pub fn worker_main() -> Result<(), WorkerError> {
    watch_host();
    worker_loop().map_err(WorkerError)
}

/// The variable through which the host tells a worker its process ID.
const PARENT_VARIABLE: &str = "POLYPLUG_HOST_PID";

/// Starts the thread that ends this worker, with everything the plugin started in
/// its process group, when the host is gone (killed with SIGKILL while a compute is
/// busy, say): a worker never outlives its run. The thread needs no GIL, so a compute
/// stuck in Python or C code does not stop it.
fn watch_host() {
    use rustix::process::{getpgrp, getppid, kill_process_group, Pid, Signal};
    let host = std::env::var(PARENT_VARIABLE)
        .ok()
        .and_then(|p| p.parse::<i32>().ok())
        .and_then(Pid::from_raw)
        .or_else(getppid);
    let Some(host) = host else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("polyplug-host-watch".into())
        .spawn(move || loop {
            if getppid() != Some(host) {
                let _ = kill_process_group(getpgrp(), Signal::KILL);
            }
            std::thread::sleep(Duration::from_millis(50));
        });
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
    let (plugin, python_path, timeout_ms, params) =
        match HostMsg::decode(&frame).map_err(|e| e.to_string())? {
            HostMsg::Init(init) => (init.plugin, init.python_path, init.timeout_ms, init.params),
            _ => return Err("the host did not start with Init".into()),
        };
    interp::start()?;
    let proto_fd: i32 = Python::with_gil(|py| -> PyResult<i32> {
        let os = py.import("os")?;
        let fd: i32 = os.call_method1("dup", (1,))?.extract()?;
        os.call_method1("dup2", (2, 1))?;
        Ok(fd)
    })
    .map_err(|e| format!("cannot set up the protocol pipe: {e}"))?;
    // SAFETY: `proto_fd` was just returned by `os.dup`, is open, and nothing else owns
    // or closes it: the File becomes its only owner.
    let proto = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(proto_fd) };
    let mut out = BufWriter::with_capacity(1 << 16, proto);

    let python_path: Vec<PathBuf> = python_path.into_iter().map(PathBuf::from).collect();
    let plugin_path = PathBuf::from(&plugin);
    let started = Python::with_gil(|py| -> Result<_, String> {
        let m = module::import(py, &plugin_path, &python_path)?;
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
            Python::with_gil(|py| alarm(py, ms))
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
        match HostMsg::decode(&frame).map_err(|e| e.to_string())? {
            HostMsg::Batch(entities) => {
                let Some(s) = session.as_ref() else {
                    return Err("a batch after finalize".into());
                };
                results.clear();
                Python::with_gil(|py| {
                    for e in &entities {
                        let mut o = Outcome::default();
                        let r = match &alarm {
                            None => s.compute(py, &module, e, &mut o),
                            Some((arm, disarm)) => {
                                let _ = arm.bind(py).call0();
                                let r = s.compute(py, &module, e, &mut o);
                                let _ = disarm.bind(py).call0();
                                // An alarm that rang after compute returned belongs to
                                // this entity, not to the next one.
                                match py.check_signals() {
                                    Err(err) => Err(EntityError::new(exception_message(
                                        py,
                                        &module.path,
                                        &err,
                                    ))),
                                    Ok(()) => r,
                                }
                            }
                        };
                        results.push(r.map(|()| o));
                    }
                });
                send(
                    &mut out,
                    &WorkerMsg::Results(std::mem::take(&mut results)),
                    &mut reply,
                )?;
            }
            HostMsg::Finalize => {
                let r = match session.take() {
                    Some(s) => Python::with_gil(|py| s.finalize(py, &module)),
                    None => Ok(Vec::new()),
                };
                send(&mut out, &WorkerMsg::Finalized(r), &mut reply)?;
                return Ok(());
            }
            HostMsg::Init(_) => return Err("Init sent twice".into()),
        }
    }
}
