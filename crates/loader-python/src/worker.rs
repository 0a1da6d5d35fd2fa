//! Worker processes: the host side ([`WorkerInstance`]) and the worker side
//! ([`worker_main`]), talking the [`crate::protocol`].

use crate::interp;
use crate::module::{self, Session};
use crate::protocol::{read_frame, write_frame, HostMsg, WorkerMsg, PROTOCOL_VERSION};
use polyplug_core::{Entity, EntityError, Instance, Outcome, Params, PluginError};
use pyo3::prelude::*;
use std::io::{BufReader, BufWriter, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// One plugin instance in a worker process.
pub struct WorkerInstance {
    child: Child,
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
        params: &Params,
    ) -> Result<WorkerInstance, PluginError> {
        let err = |m: String| PluginError::new(plugin, m);
        let mut child = Command::new(exe)
            .args(["__worker", "python"])
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
        let mut w = WorkerInstance {
            child,
            to: BufWriter::with_capacity(1 << 16, stdin),
            from: BufReader::with_capacity(1 << 16, stdout),
            buf: Vec::new(),
            path: plugin.to_path_buf(),
            dead: None,
        };
        let init = HostMsg::Init {
            version: PROTOCOL_VERSION,
            plugin: plugin.display().to_string(),
            python_path: python_path
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            params: params.entries().to_vec(),
        };
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
        let pid = self.child.id();
        let status = match self.child.try_wait() {
            Ok(Some(s)) => Some(s),
            _ => {
                // Give a worker that is exiting on its own a moment before killing it.
                std::thread::sleep(std::time::Duration::from_millis(20));
                match self.child.try_wait() {
                    Ok(Some(s)) => Some(s),
                    _ => {
                        let _ = self.child.kill();
                        self.child.wait().ok()
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
        if self.dead.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Instance for WorkerInstance {
    fn compute(&mut self, entity: &str, out: &mut Outcome) -> Result<(), EntityError> {
        let mut results = Vec::with_capacity(1);
        self.compute_batch(
            &[Entity {
                input: entity.to_string(),
                id: entity.to_string(),
            }],
            &mut results,
        );
        match results.pop() {
            Some(Ok(o)) => {
                *out = o;
                Ok(())
            }
            Some(Err(e)) => Err(e),
            None => Err(EntityError::new("the Python worker returned no result")),
        }
    }

    fn compute_batch(
        &mut self,
        entities: &[Entity],
        results: &mut Vec<Result<Outcome, EntityError>>,
    ) {
        HostMsg::encode_batch(entities.iter().map(|e| e.input.as_str()), &mut self.buf);
        let answer = self.send_buf();
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
                let _ = self.child.kill();
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
        let _ = self.child.wait();
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
/// the protocol. Returns the process exit status.
pub fn worker_main() -> i32 {
    match worker_loop() {
        Ok(()) => 0,
        Err(m) => {
            eprintln!("polyplug: python worker: {m}");
            2
        }
    }
}

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
    let (plugin, python_path, params) = match HostMsg::decode(&frame).map_err(|e| e.to_string())? {
        HostMsg::Init {
            plugin,
            python_path,
            params,
            ..
        } => (plugin, python_path, params),
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
        let params = Params::resolve(&meta, &given, "the host's parameters")?;
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
                        results.push(s.compute(py, &module, e, &mut o).map(|()| o));
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
            HostMsg::Init { .. } => return Err("Init sent twice".into()),
        }
    }
}
