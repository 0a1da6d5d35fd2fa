//! One bash worker process, and the host side of `driver.bash`'s protocol.
//!
//! The worker runs in its own process group, so that a timeout kills the shell with
//! everything it started, and a Ctrl-C at the terminal reaches polyplug only (which
//! then finalizes its workers properly).

use polyplug_core::{Console, Timeout};
use polyplug_worker::MEMORY_VARIABLE;
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::process::{kill_process_group, prlimit, Pid, Resource, Rlimit, Signal};
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::batch::{progress, push_request, split_outputs, Token};

const DRIVER: &str = include_str!("driver.bash");

/// How often a waiting host checks whether its worker is still alive, when the answer
/// pipe gives no sign (a background job of the plugin may hold the pipe open).
const LIVENESS_CHECK: Duration = Duration::from_millis(100);

/// How the script is sourced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Once per worker, then compute after compute in the same shell.
    Persistent,
    /// Again for every call, in a fresh subshell (MultiPlug's way).
    Resourced,
}

/// The functions the driver can call, with the request letter of each.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Compute,
    Initialize,
    /// `finalize <state>`.
    FinalizeState,
    /// `finalize` without a state (the plugin has no initialize).
    Finalize,
    ComputeId,
}

impl Op {
    pub(crate) fn letter(self) -> u8 {
        match self {
            Op::Compute => b'C',
            Op::Initialize => b'I',
            Op::FinalizeState => b'F',
            Op::Finalize => b'f',
            Op::ComputeId => b'D',
        }
    }
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The function returned this status.
    Returned(i32),
    /// The shell itself ended during the call (`exit`, or `set -e` and a failing
    /// command, in a persistent worker); the worker is gone.
    ShellEnded(ExitStatus),
    /// No answer in time: the worker's process group was killed.
    TimedOut,
}

impl Ending {
    /// Whether the call succeeded (status 0, also when it was `exit 0`).
    pub(crate) fn success(self) -> bool {
        match self {
            Ending::Returned(s) => s == 0,
            Ending::ShellEnded(s) => s.success(),
            Ending::TimedOut => false,
        }
    }

    /// What went wrong, for messages: `exited with status 3`.
    pub(crate) fn describe(self, timeout: Timeout, max_memory_mib: Option<u64>) -> String {
        use std::os::unix::process::ExitStatusExt;
        let memory = max_memory_mib.map_or(String::new(), |m| {
            format!(
                ", or bash ran out of memory (each worker is limited to {m} MiB by --max-memory)"
            )
        });
        match self {
            Ending::Returned(s) => format!("exited with status {s}"),
            Ending::ShellEnded(s) => match (s.code(), s.signal()) {
                (Some(c), _) => format!(
                    "ended its bash worker with status {c} (`exit` or `set -e` in the script\
                     {memory}); the worker was replaced"
                ),
                (None, Some(sig)) => format!(
                    "was cut short: its bash worker was killed by signal {sig}{memory}; the \
                     worker was replaced"
                ),
                _ => "was cut short: its bash worker ended; the worker was replaced".to_string(),
            },
            Ending::TimedOut => format!(
                "timed out after {}s ({}); its bash worker was killed and replaced",
                timeout.limit().map_or(0.0, |t| t.as_secs_f64()),
                timeout.source()
            ),
        }
    }
}

/// What one call produced.
#[derive(Debug)]
pub(crate) struct CallOutput {
    pub ending: Ending,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why no answer came.
#[derive(Debug)]
pub(crate) enum Lost {
    /// The shell ended (its status).
    Ended(ExitStatus),
    /// The deadline passed; the worker was killed.
    TimedOut,
    /// The pipe failed or the answer made no sense.
    Broken(String),
}

/// A running bash worker.
pub(crate) struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    /// Answer bytes read but not yet parsed.
    buf: Vec<u8>,
    /// This process's folder for the batches' request and output files.
    dir: PathBuf,
    token: String,
    separators: Token,
    /// Calls answered so far; the driver numbers calls from 1.
    answered: u64,
    /// Batches sent so far (each names its files).
    batches: u64,
    /// Whether the process has ended (and was waited for).
    ended: bool,
    /// Where stray output of code run before the driver goes.
    console: Arc<dyn Console>,
}

static WORKER_SEQ: AtomicU64 = AtomicU64::new(0);

fn random_hex() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u64(WORKER_SEQ.fetch_add(1, Ordering::Relaxed));
    format!("{:016x}", h.finish())
}

/// Where the batches' files go: `TMPDIR` when set, else `/dev/shm` (memory,
/// so that a call costs no disk metadata updates) when usable, else the system's
/// temporary folder.
fn work_base() -> PathBuf {
    if std::env::var_os("TMPDIR").is_none_or(|v| v.is_empty()) {
        let shm = Path::new("/dev/shm");
        if std::fs::metadata(shm).is_ok_and(|m| m.is_dir())
            && rustix::fs::access(shm, rustix::fs::Access::WRITE_OK).is_ok()
        {
            return shm.to_path_buf();
        }
    }
    std::env::temp_dir()
}

/// Removes the work folders that killed runs left in `base` (`polyplug-bash-<pid>-…`
/// of a process that is gone).
fn sweep(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("polyplug-bash-")) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty()
            && pid.chars().all(|c| c.is_ascii_digit())
            && !Path::new("/proc").join(pid).exists()
            && Path::new("/proc/self").exists()
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn make_work_dir() -> Result<PathBuf, String> {
    let base = work_base();
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| sweep(&base));
    let mut last = None;
    for _ in 0..8 {
        let dir = base.join(format!(
            "polyplug-bash-{}-{}",
            std::process::id(),
            random_hex()
        ));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) => last = Some(e),
        }
    }
    Err(format!(
        "cannot create a work folder in {}: {}; set TMPDIR to a writable folder",
        base.display(),
        last.map_or_else(String::new, |e| e.to_string())
    ))
}

impl Worker {
    /// Starts a worker for the script at `source_path` and waits until it is ready
    /// (in persistent mode: until the script is sourced). Returns the worker and what
    /// the script printed while being sourced.
    pub(crate) fn spawn(
        source_path: &Path,
        mode: Mode,
        timeout: Option<Duration>,
        max_memory_mib: Option<u64>,
        console: &Arc<dyn Console>,
        guard: Option<&Path>,
        trace: bool,
    ) -> Result<(Worker, Vec<u8>), String> {
        let dir = make_work_dir()?;
        let token = format!("\u{1}pp{}", random_hex());
        // With a guard (the polyplug binary), nothing of the worker outlives the host.
        let mut command = match guard {
            Some(program) => {
                let mut c = Command::new(program);
                c.args(["__worker", "guard"])
                    .arg(std::process::id().to_string())
                    .arg(&dir)
                    .arg("bash");
                c
            }
            None => Command::new("bash"),
        };
        let spawned = command
            .arg("--noprofile")
            .arg("--norc")
            .arg("-c")
            .arg(DRIVER)
            .arg("bash")
            .arg(source_path)
            .arg(&dir)
            .arg(match mode {
                Mode::Persistent => "p",
                Mode::Resourced => "r",
            })
            .arg(&token)
            .arg(if trace { "x" } else { "-" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // The guard limits bash once it has started it (`--max-memory`).
            .env(
                MEMORY_VARIABLE,
                max_memory_mib.map_or(String::new(), |m| m.to_string()),
            )
            .process_group(0)
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!(
                    "cannot start bash: {e}; Bash plugins run with the `bash` found in PATH"
                ));
            }
        };
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&dir);
            return Err("cannot talk to bash: its pipes were not set up".into());
        };
        if let (Some(mib), None) = (max_memory_mib, guard) {
            // No guard: bash is limited from here, before it computes anything.
            if let Err(e) = limit_bash_memory(Pid::from_child(&child), mib) {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!("cannot limit bash's memory to {mib} MiB: {e}"));
            }
        }
        let mut w = Worker {
            child,
            stdin: Some(stdin),
            stdout,
            buf: Vec::new(),
            dir,
            separators: Token::new(&token),
            token,
            answered: 0,
            batches: 0,
            ended: false,
            console: console.clone(),
        };
        let deadline = timeout.map(|t| Instant::now() + t);
        let ready = w.read_answer(deadline);
        let source_output = std::fs::read(w.dir.join("source")).unwrap_or_default();
        let _ = std::fs::remove_file(w.dir.join("source"));
        match ready {
            Ok(line) if line == "ready" => Ok((w, source_output)),
            Ok(line) => Err(format!("bash worker answered '{line}' instead of 'ready'")),
            Err(Lost::Ended(status)) => Err(format!(
                "sourcing the script ended bash ({status}), so no worker can run it; \
                 remove `exit` (and failing commands under `set -e`) from the script's top level{}",
                shown_output(&source_output)
            )),
            Err(Lost::TimedOut) => Err(format!(
                "sourcing the script took longer than the timeout of {}s",
                timeout.map_or(0.0, |t| t.as_secs_f64())
            )),
            Err(Lost::Broken(m)) => Err(m),
        }
    }

    /// Whether the process has ended; the worker must then be replaced.
    pub(crate) fn ended(&self) -> bool {
        self.ended
    }

    /// Records mode: writes the record's bytes to a file in this worker's folder and
    /// adds its ID and fields to `req` (`R`, then one `V` per field), so that the
    /// next compute gets them; returns the file's path, the argument of that compute.
    pub(crate) fn record_requests(
        &mut self,
        id: &str,
        record: &polyplug_core::Record<'_>,
        req: &mut Vec<u8>,
    ) -> std::io::Result<String> {
        let path = self.dir.join("record");
        std::fs::write(&path, record.bytes)?;
        push_request(req, b'R', id);
        let mut word = String::new();
        for (name, value) in record.fields {
            word.clear();
            word.push_str(name);
            word.push('\u{1f}');
            word.push_str(value);
            push_request(req, b'V', &word);
        }
        Ok(path.to_string_lossy().into_owned())
    }

    /// Sends one request on the pipe; an error means the worker is gone (its end is
    /// then found by waiting for the answer).
    fn send(&mut self, op: u8, arg: &str) -> std::io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::other("the worker's input is closed"))?;
        let mut req = Vec::with_capacity(arg.len() + 3);
        push_request(&mut req, op, arg);
        stdin.write_all(&req)
    }

    /// Sends a keyword word (`K`) or the state word (`S`).
    pub(crate) fn send_setting(&mut self, letter: u8, word: &str) -> std::io::Result<()> {
        self.send(letter, word)
    }

    /// One call: runs it as a batch of one and gives its output.
    pub(crate) fn call(&mut self, op: Op, arg: &str, timeout: Option<Duration>) -> CallOutput {
        let mut req = Vec::with_capacity(arg.len() + 3);
        push_request(&mut req, op.letter(), arg);
        self.run_batch(&req, 1, timeout)
            .pop()
            .unwrap_or_else(|| self.no_output())
    }

    /// Runs the `calls` calls whose requests are in `req` (see [`push_request`]), one
    /// after the other, each within `timeout`, and gives the output of each call that
    /// ran, in order: all of them, or fewer when the worker ended (or was killed at
    /// the time limit) during the last one given, whose ending says how. Never none.
    pub(crate) fn run_batch(
        &mut self,
        req: &[u8],
        calls: usize,
        timeout: Option<Duration>,
    ) -> Vec<CallOutput> {
        self.batches += 1;
        let name = self.batches.to_string();
        let base = self.dir.join(&name);
        let first = self.answered;
        let written = std::fs::write(base.with_extension("req"), req);
        let sent = written.and_then(|()| self.send(b'B', &name));
        // The end of the batch: Ok(()) when every call was answered.
        let end: Result<(), Ending> = match sent {
            Err(e) if !self.ended && self.child.try_wait().ok().flatten().is_none() => {
                self.kill();
                Err(self.broken(format!("cannot pass a batch to the bash worker: {e}")))
            }
            _ => self.await_batch(&base, first, calls as u64, timeout),
        };
        let take = |ext: &str| {
            let p = base.with_extension(ext);
            let bytes = std::fs::read(&p).unwrap_or_default();
            let _ = std::fs::remove_file(&p);
            bytes
        };
        let (stdout, stderr) = (take("o"), take("e"));
        let _ = std::fs::remove_file(base.with_extension("req"));
        let split = split_outputs(&self.separators, first, &stdout, &stderr);
        let mut outs = split.calls;
        outs.truncate(calls);
        self.answered = first + outs.len() as u64;
        if let Err(ending) = end {
            if outs.len() < calls {
                // The call that was running: what it wrote after the last separator.
                outs.push(CallOutput {
                    ending,
                    stdout: split.rest.0,
                    stderr: split.rest.1,
                });
                self.answered += 1;
            }
        }
        if outs.is_empty() {
            outs.push(self.no_output());
        }
        outs
    }

    /// What a call that cannot have run gives: the worker's end.
    fn no_output(&mut self) -> CallOutput {
        if !self.ended {
            self.kill();
        }
        CallOutput {
            ending: Ending::ShellEnded(self.exit_status()),
            stdout: Vec::new(),
            stderr: b"polyplug: the bash worker gave no answer".to_vec(),
        }
    }

    /// The worker must go because its answers make no sense: its ending, with why.
    fn broken(&mut self, why: String) -> Ending {
        self.console.note(&format!("polyplug: {why}"));
        Ending::ShellEnded(self.exit_status())
    }

    /// Waits for the answer to the batch whose files start with `base` (its calls
    /// numbered from `first + 1`), each call within `timeout`: the time limit is
    /// checked when it is due, against the start of the running call (the time of
    /// the last separator in the batch's stdout file), so that waiting costs nothing
    /// per call. Err is how the running call ended.
    fn await_batch(
        &mut self,
        base: &Path,
        first: u64,
        calls: u64,
        timeout: Option<Duration>,
    ) -> Result<(), Ending> {
        let mut deadline = timeout.map(|t| Instant::now() + t);
        let mut seen = 0u64; // calls known done at the last check
        loop {
            match self.read_answer(deadline) {
                Ok(line) => {
                    return match line.parse::<u64>() {
                        Ok(n) if n == first + calls => Ok(()),
                        _ => {
                            self.kill();
                            Err(self
                                .broken(format!("unexpected answer from the bash worker: {line}")))
                        }
                    }
                }
                Err(Lost::TimedOut) => {
                    let Some(t) = timeout else {
                        return Err(Ending::TimedOut); // no limit, no deadline
                    };
                    let stdout = std::fs::read(base.with_extension("o")).unwrap_or_default();
                    let (done, ended_at) = progress(&self.separators, &stdout);
                    if done >= calls {
                        // The answer is on its way.
                        deadline = Some(Instant::now() + LIVENESS_CHECK);
                        continue;
                    }
                    if done > seen {
                        seen = done;
                        // The running call started when the last one ended.
                        let ran = ended_at
                            .and_then(|at| std::time::SystemTime::now().duration_since(at).ok())
                            .unwrap_or_default();
                        if ran < t {
                            deadline = Some(Instant::now() + (t - ran));
                            continue;
                        }
                    }
                    self.kill();
                    return Err(Ending::TimedOut);
                }
                Err(Lost::Ended(status)) => return Err(Ending::ShellEnded(status)),
                Err(Lost::Broken(m)) => {
                    self.kill();
                    return Err(self.broken(m));
                }
            }
        }
    }

    fn exit_status(&mut self) -> ExitStatus {
        use std::os::unix::process::ExitStatusExt;
        match self.child.wait() {
            Ok(s) => {
                self.ended = true;
                s
            }
            Err(_) => ExitStatus::from_raw(1 << 8),
        }
    }

    /// Reads the next answer line (without the token).
    fn read_answer(&mut self, deadline: Option<Instant>) -> Result<String, Lost> {
        let prefix_len = self.token.len() + 1;
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                let line = String::from_utf8_lossy(&line[..pos]).into_owned();
                if line.len() >= prefix_len
                    && line.starts_with(&self.token)
                    && line.as_bytes()[self.token.len()] == b' '
                {
                    return Ok(line[prefix_len..].to_string());
                }
                // Only code that runs before the driver (BASH_ENV) can write here.
                self.console.note(&format!("bash: {line}"));
                continue;
            }
            if self.ended {
                return Err(Lost::Ended(self.exit_status()));
            }
            let wait = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(Lost::TimedOut);
                    }
                    (d - now).min(LIVENESS_CHECK)
                }
                None => LIVENESS_CHECK,
            };
            let ts = Timespec::try_from(wait).unwrap_or(Timespec {
                tv_sec: 0,
                tv_nsec: 100_000_000,
            });
            let mut fds = [PollFd::new(&self.stdout, PollFlags::IN)];
            match poll(&mut fds, Some(&ts)) {
                Ok(0) => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        self.ended = true;
                        // Answers written just before the end are still in the pipe.
                        if !self.drain_available() {
                            return Err(Lost::Ended(status));
                        }
                    }
                }
                Ok(_) => {
                    let mut chunk = [0u8; 4096];
                    match self.stdout.read(&mut chunk) {
                        Ok(0) => {
                            let status = self.exit_status();
                            return Err(Lost::Ended(status));
                        }
                        Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            return Err(Lost::Broken(format!(
                                "cannot read from the bash worker: {e}"
                            )))
                        }
                    }
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    return Err(Lost::Broken(format!(
                        "cannot wait for the bash worker: {e}"
                    )))
                }
            }
        }
    }

    /// After the process ended: reads what is left in the pipe without blocking for
    /// long. Returns whether a complete line arrived.
    fn drain_available(&mut self) -> bool {
        let ts = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        loop {
            let mut fds = [PollFd::new(&self.stdout, PollFlags::IN)];
            match poll(&mut fds, Some(&ts)) {
                Ok(n) if n > 0 => {
                    let mut chunk = [0u8; 4096];
                    match self.stdout.read(&mut chunk) {
                        Ok(k) if k > 0 => self.buf.extend_from_slice(&chunk[..k]),
                        _ => break,
                    }
                }
                _ => break,
            }
        }
        self.buf.contains(&b'\n')
    }

    /// Kills the worker's whole process group (the shell and everything it started),
    /// also when the shell has ended already.
    pub(crate) fn kill(&mut self) {
        let pid = Pid::from_child(&self.child);
        if self.ended {
            // The shell is gone; what the plugin started in its group (a `cmd &`)
            // goes too. The group's ID stays reserved while any of them lives, so
            // this reaches them or no one.
            let _ = kill_process_group(pid, Signal::KILL);
            return;
        }
        if kill_process_group(pid, Signal::KILL).is_err() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        self.ended = true;
    }

    /// Ends the worker normally: closes its input, so the driver leaves its loop, and
    /// waits for it a little before killing it.
    pub(crate) fn shutdown(mut self) {
        self.stdin = None;
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            match self.child.try_wait() {
                Ok(Some(_)) => {
                    self.ended = true;
                    return;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(_) => break,
            }
        }
        self.kill();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stdin = None;
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Output shown in an error message, indented, when there is some.
pub(crate) fn shown_output(bytes: &[u8]) -> String {
    let lines = crate::text::lines(bytes);
    if lines.is_empty() {
        return String::new();
    }
    let tail: Vec<&String> = lines.iter().rev().take(10).collect();
    let mut s = String::from("; bash said:");
    for l in tail.into_iter().rev() {
        s.push_str("\n    ");
        s.push_str(l);
    }
    s
}

/// What bash itself may hold beyond a plugin's `--max-memory` (so does `driver.bash`).
const BASH_ALLOWANCE_MIB: u64 = 16;

/// Limits bash, started as `pid`, and every program it starts from now on (each on
/// its own) to `mib` MiB of data segment (`RLIMIT_DATA`) beyond bash's own few:
/// `--max-memory` for a Bash plugin. Set from outside (by the guard, or the host),
/// since the polyplug binary that starts bash holds far more than bash will.
pub(crate) fn limit_bash_memory(pid: Pid, mib: u64) -> std::io::Result<()> {
    let bytes = (mib + BASH_ALLOWANCE_MIB).saturating_mul(1 << 20);
    let limit = Rlimit {
        current: Some(bytes),
        maximum: Some(bytes),
    };
    prlimit(Some(pid), Resource::Data, limit)?;
    Ok(())
}
