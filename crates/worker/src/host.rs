//! The host side: a plugin instance in a worker process ([`ProcessInstance`]), fed
//! batches over a pipe, killed by a watchdog when it overruns its time limit, and
//! replaced when it dies — so that a crash costs the entity that caused it, and
//! nothing else.

use crate::protocol::{read_frame, write_frame, HostMsg, Init, WorkerMsg};
use crate::watch::{HOST_VARIABLE, MEMORY_VARIABLE};
use crate::watchdog::Watchdog;
use polyplug_core::{
    compute_as_batch, BatchResults, Entity, EntityError, Instance, Outcome, Params, PluginError,
    Timeout,
};
use rustix::process::{kill_process_group, Pid, Signal};
use std::io::{BufReader, BufWriter, Write};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "host_load.rs"]
mod load;
pub use load::LoadedWorker;

/// A batch travels to a worker in this many chunks, several in flight: the worker
/// computes one while the host decodes the results of the one before. (Two rather
/// than four: each chunk costs both processes a wake-up and a pipe transfer, and a
/// trivial plugin's run at `-j1` took about a tenth less time with two.)
const CHUNKS_PER_BATCH: usize = 2;

/// The size asked for each pipe to and from a worker (the kernel's default limit for
/// an unprivileged process, `/proc/sys/fs/pipe-max-size`).
const PIPE_BYTES: usize = 1 << 20;

/// How to start (and restart) the worker processes of one plugin.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// The program that runs `<program> __worker <kind>` (the polyplug binary).
    pub program: PathBuf,
    /// The worker kind (`python`, `native`).
    pub kind: &'static str,
    /// What the worker is called in messages (`Python worker`, `native worker`).
    pub label: &'static str,
    /// The plugin file.
    pub plugin: PathBuf,
    /// Extra import paths (Python workers).
    pub python_path: Vec<PathBuf>,
    /// Per-entity time limit.
    pub timeout: Timeout,
    /// Memory limit of the worker process, in MiB (`--max-memory`).
    pub max_memory_mib: Option<u64>,
    /// Records mode: where the records are; the worker reads them itself.
    pub records: Option<Arc<polyplug_core::RecordSource>>,
    /// Errors with their whole trace (`--only`).
    pub debug: bool,
    /// Each entity's output goes to its files in this folder (`--log-dir`).
    pub log_dir: Option<PathBuf>,
    /// Time added to a batch's limit before the watchdog kills the worker: room for a
    /// worker that stops overrunning entities itself (Python's alarm) to do so.
    pub kill_slack: Duration,
}

/// One running worker process.
struct Process {
    child: Arc<Mutex<Child>>,
    watchdog: Option<Arc<Watchdog>>,
    to: BufWriter<ChildStdin>,
    from: BufReader<ChildStdout>,
    /// Bytes of batch frames at most sent and not yet answered: half the pipe's
    /// capacity, so that the host never blocks writing while the worker blocks
    /// writing its results.
    in_flight_bytes: usize,
}

impl Process {
    /// The worker process, for its caller to end (wait for, or kill): its watchdog is
    /// told to quit first, so that it cannot kill a process being reaped. The pipes
    /// stay open until the caller drops `self`, after the end.
    fn retire(&self) -> Arc<Mutex<Child>> {
        if let Some(d) = &self.watchdog {
            d.quit();
        }
        self.child.clone()
    }
}

/// How a worker was lost during a batch.
struct Death {
    /// `the native worker process (pid 12) died, killed by signal 11`.
    how: String,
    /// The watchdog killed it (the batch overran its time limit).
    timed_out: bool,
    /// The signal that ended the worker, when one did.
    signal: Option<i32>,
    /// No worker could be started to compute the batch at all.
    no_worker: bool,
}

impl Death {
    /// A loss told by `how` alone (no signal, not a failed start).
    fn plain(how: String) -> Death {
        Death {
            how,
            timed_out: false,
            signal: None,
            no_worker: false,
        }
    }
}

/// How a worker process ended ([`ProcessInstance::end`]).
struct Ending {
    /// `(pid 12) died, killed by signal 11`.
    text: String,
    /// The signal that ended it.
    signal: Option<i32>,
    /// Its signal or exit status is known.
    known: bool,
}

/// One plugin instance in a worker process. When the worker dies during a batch, the
/// batch's entities are computed again one at a time in a fresh worker, so that only
/// the entity that kills it fails; each crash costs a worker restart (`initialize`
/// runs again in the new one).
pub struct ProcessInstance {
    spec: Arc<WorkerSpec>,
    params: Params,
    /// `None` after a death, until the next batch starts a new worker.
    process: Option<Process>,
    /// The frame received (and the one sent by `exchange`).
    buf: Vec<u8>,
    /// The batch frame being sent.
    out: Vec<u8>,
}

impl ProcessInstance {
    /// Starts a worker, loads the plugin there and runs `initialize`.
    pub fn start(spec: Arc<WorkerSpec>, params: &Params) -> Result<ProcessInstance, PluginError> {
        let mut i = ProcessInstance {
            spec,
            params: params.clone(),
            process: None,
            buf: Vec::new(),
            out: Vec::new(),
        };
        i.spawn()?;
        Ok(i)
    }

    fn error(&self, message: String) -> PluginError {
        PluginError::new(&self.spec.plugin, message)
    }

    /// Starts the worker process and initializes the plugin in it.
    fn spawn(&mut self) -> Result<(), PluginError> {
        self.launch()?;
        self.init()
    }

    /// Starts the worker process (nothing loaded in it yet).
    fn launch(&mut self) -> Result<(), PluginError> {
        let spec = self.spec.clone();
        let mut child = Command::new(&spec.program)
            .args(["__worker", spec.kind])
            .env(HOST_VARIABLE, std::process::id().to_string())
            .env(
                MEMORY_VARIABLE,
                spec.max_memory_mib.map_or(String::new(), |m| m.to_string()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own process group: a Ctrl-C reaches polyplug only, which then
            // finalizes the workers instead of losing them mid-batch.
            .process_group(0)
            .spawn()
            .map_err(|e| {
                self.error(format!(
                    "cannot start a {} process ({} __worker {}): {e}",
                    spec.label,
                    spec.program.display(),
                    spec.kind
                ))
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(self.error(format!("cannot open the pipes of a {} process", spec.label)));
        };
        // Larger pipes let several chunks travel at once, so that the worker computes
        // while the host encodes and decodes (best effort: a user over the kernel's
        // pipe quota keeps the default size, and chunks then travel one by one).
        for fd in [stdin.as_fd(), stdout.as_fd()] {
            let _ = rustix::pipe::fcntl_setpipe_size(fd, PIPE_BYTES);
        }
        let in_flight_bytes = rustix::pipe::fcntl_getpipe_size(&stdin).map_or(0, |n| n / 2);
        let child = Arc::new(Mutex::new(child));
        self.process = Some(Process {
            in_flight_bytes,
            watchdog: spec.timeout.limit().map(|_| Watchdog::start(child.clone())),
            child,
            to: BufWriter::with_capacity(1 << 16, stdin),
            from: BufReader::with_capacity(1 << 16, stdout),
        });
        Ok(())
    }

    /// Loads the plugin in the launched worker (unless a Load did) and runs its
    /// `initialize` with `params`.
    fn init(&mut self) -> Result<(), PluginError> {
        let spec = self.spec.clone();
        let load = spec.load();
        let init = HostMsg::Init(Init {
            version: load.version,
            plugin: load.plugin,
            python_path: load.python_path,
            timeout_ms: spec
                .timeout
                .limit()
                .map_or(0, |t| t.as_millis().clamp(1, u64::MAX as u128) as u64),
            default_timeout: spec.timeout.is_default(),
            params: self.params.entries().to_vec(),
            records: spec.records.as_deref().cloned(),
            debug: spec.debug,
            log_dir: spec.log_dir.as_ref().map(|d| d.display().to_string()),
        });
        init.encode(&mut self.buf);
        match self.answer_to_start()? {
            WorkerMsg::Ready => Ok(()),
            other => Err(self.out_of_turn(&other, "its start")),
        }
    }

    /// Sends the start message in `buf` (Init, or Load) and reads the answer: an
    /// error in the worker's own words when it could not load or initialize the
    /// plugin, or saying how it died.
    fn answer_to_start(&mut self) -> Result<WorkerMsg, PluginError> {
        match self.exchange(None) {
            Ok(WorkerMsg::InitFailed(m)) => {
                self.end();
                Err(self.error(m))
            }
            Ok(m) => Ok(m),
            Err(d) => Err(self.error(format!(
                "the {} failed to start: {}",
                self.spec.label, d.how
            ))),
        }
    }

    /// Ends a worker that answered `to` with another message than the protocol's.
    fn out_of_turn(&mut self, answer: &WorkerMsg, to: &str) -> PluginError {
        self.end();
        self.error(format!(
            "the {} answered {} to {to}; this is a polyplug bug",
            self.spec.label,
            short(answer)
        ))
    }

    /// Sends the message in `buf` and reads the answer, under a deadline; when the
    /// worker is lost, says how and forgets it.
    fn exchange(&mut self, deadline: Option<Instant>) -> Result<WorkerMsg, Death> {
        let Some(p) = self.process.as_mut() else {
            return Err(Death::plain(format!("the {} is gone", self.spec.label)));
        };
        if let (Some(dog), Some(at)) = (&p.watchdog, deadline) {
            dog.arm(at);
        }
        let sent = write_frame(&mut p.to, &self.buf).and_then(|()| p.to.flush());
        let answer = match sent {
            Ok(()) => self
                .receive()
                .and_then(|()| WorkerMsg::decode(&self.buf).map_err(|e| e.to_string())),
            Err(e) => Err(e.to_string()),
        };
        match answer {
            Ok(m) => {
                if let Some(dog) = self.process.as_ref().and_then(|p| p.watchdog.as_ref()) {
                    dog.disarm();
                }
                Ok(m)
            }
            Err(detail) => Err(self.lost(detail)),
        }
    }

    /// Ends the worker process (killing it if needed) and says how it ended.
    fn end(&mut self) -> Ending {
        let Some(p) = self.process.take() else {
            return Ending {
                text: "was not running".into(),
                signal: None,
                known: false,
            };
        };
        let child = p.retire();
        let mut child = child.lock().unwrap_or_else(|e| e.into_inner());
        let pid = child.id();
        let status = match child.try_wait() {
            Ok(Some(s)) => Some(s),
            _ => {
                // Give a worker that is exiting on its own a moment before killing it.
                std::thread::sleep(Duration::from_millis(20));
                match child.try_wait() {
                    Ok(Some(s)) => Some(s),
                    _ => {
                        kill_group(&mut child);
                        child.wait().ok()
                    }
                }
            }
        };
        // What the plugin started in the worker's group goes with it.
        kill_leftovers(pid);
        let (code, signal) = status.map_or((None, None), |s| (s.code(), s.signal()));
        let text = match (status, code, signal) {
            (_, _, Some(sig)) => format!("(pid {pid}) died, killed by signal {sig}"),
            (_, Some(c), _) => format!("(pid {pid}) exited with status {c}"),
            (Some(_), None, None) => format!("(pid {pid}) ended"),
            (None, ..) => format!("(pid {pid}) was lost"),
        };
        Ending {
            text,
            signal,
            known: code.is_some() || signal.is_some(),
        }
    }

    /// Computes entities in the running worker (starting one if needed), appending
    /// their outcomes to `results`. They travel in chunks, several in flight, so that
    /// the worker computes one while the host decodes the results of another. When the
    /// worker is lost, the outcomes of the chunks it answered are kept and the error
    /// says where the unanswered ones start: the culprit is in the first of them.
    fn try_batch(
        &mut self,
        entities: &[Entity],
        results: &mut BatchResults,
    ) -> Result<(), (Death, usize)> {
        if self.process.is_none() {
            self.spawn().map_err(|e| {
                let how = format!(
                    "no {} could be started again: {}",
                    self.spec.label, e.message
                );
                (
                    Death {
                        no_worker: true,
                        ..Death::plain(how)
                    },
                    0,
                )
            })?;
        }
        if let Some(dog) = self.process.as_ref().and_then(|p| p.watchdog.as_ref()) {
            dog.disarm(); // a kill after the last batch's answers is no one's fault
        }
        let size = entities.len().div_ceil(CHUNKS_PER_BATCH).max(1);
        let mut chunks = entities.chunks(size).peekable();
        // Sent and not yet answered: (entities, bytes) per chunk, oldest first.
        let mut in_flight = std::collections::VecDeque::new();
        let (mut flying_bytes, mut flying_entities, mut answered) = (0, 0, 0);
        let mut encoded = false;
        loop {
            while let Some(chunk) = chunks.peek() {
                if !encoded {
                    if chunk.first().is_some_and(|e| e.record().is_some()) {
                        HostMsg::encode_record_batch(chunk, &mut self.out);
                    } else {
                        HostMsg::encode_batch(chunk, &mut self.out);
                    }
                    encoded = true;
                }
                // A frame is only sent while the pipe has room for every unanswered
                // one, so that this write never waits for a worker that is itself
                // waiting to write results (a lone frame of any size is safe: the
                // worker reads all of it before it answers).
                let budget = self.process.as_ref().map_or(0, |p| p.in_flight_bytes);
                if !in_flight.is_empty() && flying_bytes + self.out.len() > budget {
                    break;
                }
                let n = chunk.len();
                in_flight.push_back((n, self.out.len()));
                flying_bytes += self.out.len();
                flying_entities += n;
                chunks.next();
                encoded = false;
                self.arm(flying_entities);
                if let Err(e) = self.send() {
                    return Err((self.lost(e.to_string()), answered));
                }
            }
            let Some((n, bytes)) = in_flight.pop_front() else {
                return Ok(());
            };
            let got = self.receive();
            flying_bytes -= bytes;
            flying_entities -= n;
            if let Err(detail) = got {
                return Err((self.lost(detail), answered));
            }
            let before = results.len();
            match WorkerMsg::results_into(&self.buf, results) {
                Ok(Some(k)) if k == n => {}
                other => {
                    results.truncate(before);
                    let what = match other {
                        Ok(None) => WorkerMsg::decode(&self.buf).map_or("garbage", |m| short(&m)),
                        Ok(Some(_)) => "results of another size",
                        Err(_) => "garbage",
                    };
                    self.end();
                    let how = format!("the {} answered out of turn ({what})", self.spec.label);
                    return Err((Death::plain(how), answered));
                }
            }
            answered += n;
            self.arm(flying_entities);
        }
    }

    /// Sets the watchdog (when there is a time limit) to the deadline of `entities`
    /// computed from now; none in flight disarms it.
    fn arm(&self, entities: usize) {
        let (Some(p), Some(t)) = (&self.process, self.spec.timeout.limit()) else {
            return;
        };
        if let Some(dog) = &p.watchdog {
            if entities == 0 {
                dog.pause();
            } else {
                let n = entities.min(u32::MAX as usize) as u32;
                dog.arm(Instant::now() + t * n + self.spec.kill_slack);
            }
        }
    }

    /// Writes the frame in `out` to the worker.
    fn send(&mut self) -> std::io::Result<()> {
        let Some(p) = self.process.as_mut() else {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        };
        write_frame(&mut p.to, &self.out).and_then(|()| p.to.flush())
    }

    /// Reads the worker's next frame into `buf`; an empty error is the end of the
    /// stream.
    fn receive(&mut self) -> Result<(), String> {
        let Some(p) = self.process.as_mut() else {
            return Err(String::new());
        };
        match read_frame(&mut p.from, &mut self.buf) {
            Ok(true) => Ok(()),
            Ok(false) => Err(String::new()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The worker was lost during a batch: whether the watchdog killed it, then how.
    fn lost(&mut self, detail: String) -> Death {
        let timed_out = self
            .process
            .as_ref()
            .and_then(|p| p.watchdog.as_ref())
            .is_some_and(|d| d.disarm());
        self.death(detail, timed_out)
    }

    /// The worker was lost: ends it and says how.
    fn death(&mut self, detail: String, timed_out: bool) -> Death {
        let ending = self.end();
        let label = self.spec.label;
        // How the pipe broke says nothing more once the signal or status is known.
        let how = if detail.is_empty() || timed_out || ending.known {
            format!("the {label} process {}", ending.text)
        } else {
            format!("the {label} process {} ({detail})", ending.text)
        };
        Death {
            timed_out,
            signal: ending.signal,
            ..Death::plain(how)
        }
    }

    /// The error of the entity that a worker's death is blamed on; when no worker could
    /// be started to compute it, the instance is lost instead.
    fn blame(&self, death: Death) -> EntityError {
        if self.process.is_none() && death.no_worker {
            return EntityError {
                message: death.how,
                logs: Vec::new(),
                instance_lost: true,
                out_of_memory: false,
            };
        }
        self.culprit(death)
    }

    /// The error of the entity that a worker's death is blamed on.
    fn culprit(&self, death: Death) -> EntityError {
        let limit = self.spec.timeout.limit();
        let seconds = limit.map_or(0.0, |t| t.as_secs_f64());
        let source = self.spec.timeout.source();
        let message = if limit.is_some() && death.signal == Some(14) {
            // The worker's own clock (SIGALRM): this entity overran the limit.
            format!(
                "{} at the time limit: the compute took longer than {seconds} s ({source}); \
                 the worker was replaced",
                death.how,
            )
        } else if death.timed_out {
            format!(
                "{}: its plugin did not stop at the time limit of {seconds} s per entity \
                 ({source}), so polyplug killed it",
                death.how,
            )
        } else {
            format!(
                "{} while computing this entity{}{}; the worker was replaced",
                death.how,
                signal_note(death.signal),
                self.memory_note()
            )
        };
        EntityError::new(message)
    }

    /// For a worker under `--max-memory`: that an allocation past the limit may be
    /// what ended it (a Rust plugin aborts, a C plugin may use a null pointer).
    fn memory_note(&self) -> String {
        self.spec.max_memory_mib.map_or(String::new(), |m| {
            format!(
                " (the worker is limited to {m} MiB by --max-memory: it may have run out \
                 of memory)"
            )
        })
    }

    /// A `MemoryError` (Python) in a worker under `--max-memory` is the limit at work:
    /// the message says so.
    fn explain_memory_errors(&self, results: &mut [Result<Outcome, EntityError>]) {
        let Some(m) = self.spec.max_memory_mib else {
            return;
        };
        for r in results {
            if let Err(e) = r {
                if e.out_of_memory {
                    e.message = format!(
                        "out of memory: the worker is limited to {m} MiB (--max-memory); {}",
                        e.message
                    );
                }
            }
        }
    }
}

/// What a signal that ended a worker means, for the common ones.
fn signal_note(signal: Option<i32>) -> &'static str {
    match signal {
        Some(4) => " (SIGILL: an illegal instruction)",
        Some(6) => " (SIGABRT: the plugin aborted, or overflowed its stack)",
        Some(7) => " (SIGBUS: a bus error)",
        Some(8) => " (SIGFPE: an arithmetic error)",
        Some(9) => " (SIGKILL: killed from outside, or by the kernel for memory)",
        Some(11) => " (SIGSEGV: a segmentation fault)",
        _ => "",
    }
}

impl Drop for ProcessInstance {
    fn drop(&mut self) {
        if let Some(p) = self.process.take() {
            let child = p.retire();
            let mut child = child.lock().unwrap_or_else(|e| e.into_inner());
            kill_group(&mut child);
            let _ = child.wait();
        }
    }
}

impl ProcessInstance {
    /// Computes the batch; when a worker dies, computes again one at a time what it
    /// held, so that only the culprit fails.
    fn compute_all(&mut self, entities: &[Entity], results: &mut BatchResults) {
        let mut rest = entities;
        while !rest.is_empty() {
            let (death, at) = match self.try_batch(rest, results) {
                Ok(()) => return,
                Err(lost) => lost,
            };
            let size = rest.len().div_ceil(CHUNKS_PER_BATCH).max(1);
            let suspects = &rest[at..(at + size).min(rest.len())];
            if suspects.len() == 1 {
                results.push(Err(self.blame(death)));
                self.tidy_logs(&suspects[0]);
            } else {
                // One of them killed the worker: each again, alone, in a fresh worker,
                // so that only the culprit fails.
                for e in suspects {
                    if let Err((death, _)) = self.try_batch(std::slice::from_ref(e), results) {
                        results.push(Err(self.blame(death)));
                        self.tidy_logs(e);
                    }
                }
            }
            rest = &rest[at + suspects.len()..];
        }
    }
}

impl ProcessInstance {
    /// Removes the empty log files (`--log-dir`) of an entity whose worker died: it
    /// had opened them and may have written nothing.
    fn tidy_logs(&self, entity: &Entity) {
        if let Some(dir) = &self.spec.log_dir {
            polyplug_core::entity_log::remove_empty(dir, &entity.id);
        }
    }
}

impl Instance for ProcessInstance {
    fn compute(&mut self, entity: &str, out: &mut Outcome) -> Result<(), EntityError> {
        compute_as_batch(self, entity, out)
    }

    fn reads_records(&self) -> bool {
        true
    }

    fn compute_batch(&mut self, entities: &[Entity], results: &mut BatchResults) {
        let start = results.len();
        self.compute_all(entities, results);
        self.explain_memory_errors(&mut results[start..]);
    }

    fn finalize(mut self: Box<Self>) -> Result<Vec<String>, PluginError> {
        if self.process.is_none() {
            // The last worker died with its entity; its replacement never started, so
            // there is nothing to finalize.
            return Ok(Vec::new());
        }
        HostMsg::Finalize.encode(&mut self.buf);
        let answer = self.exchange(None);
        // The worker exits after answering.
        if let Some(p) = self.process.take() {
            let child = p.retire();
            let mut child = child.lock().unwrap_or_else(|e| e.into_inner());
            let _ = child.wait();
            kill_leftovers(child.id());
        }
        match answer {
            Ok(WorkerMsg::Finalized(Ok(logs))) => Ok(logs),
            Ok(WorkerMsg::Finalized(Err(m))) => Err(self.error(m)),
            Ok(other) => Err(self.error(format!(
                "the {} answered out of turn ({})",
                self.spec.label,
                short(&other)
            ))),
            Err(d) => Err(self.error(format!("finalize: {}", d.how))),
        }
    }
}

/// Kills a worker not yet reaped and everything in its process group (the worker
/// leads its own group, see [`ProcessInstance::spawn`]): what the plugin started dies
/// with it. Before the worker is reaped its ID cannot name another group.
pub(crate) fn kill_group(child: &mut Child) {
    if kill_process_group(Pid::from_child(child), Signal::KILL).is_err() {
        let _ = child.kill();
    }
}

/// Kills what is left of the process group of a worker that has ended and been
/// reaped: processes the plugin started and did not stop. The group's ID stays
/// reserved while any of them lives, so this reaches them or no one.
fn kill_leftovers(pid: u32) {
    if let Some(group) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = kill_process_group(group, Signal::KILL);
    }
}

fn short(m: &WorkerMsg) -> &'static str {
    match m {
        WorkerMsg::Ready => "ready",
        WorkerMsg::InitFailed(_) => "init failed",
        WorkerMsg::Results(_) => "results of another size",
        WorkerMsg::Finalized(_) => "finalized",
        WorkerMsg::Loaded(_) => "loaded",
    }
}
