//! The guard of a Bash worker: `polyplug __worker guard <host-pid> <dir> <program>
//! <args>…` starts the worker (bash) as its child, in its own process group, and
//! stays beside it. When the worker ends, the guard ends the same way (its status,
//! or its signal), so the host sees the worker's ending. When the host is gone —
//! killed with SIGKILL, say, while a compute is busy — the guard removes the worker's
//! folder and kills its whole process group: the worker, and every child the plugin
//! started in it. Nothing of a killed run is left running.

use rustix::process::{getpgrp, getppid, kill_process_group, Pid, Signal};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// How often the guard looks at its host.
const POLL: Duration = Duration::from_millis(50);

/// How the guarded worker ended; the guard's process must end the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardEnd {
    /// Exited with this status.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
}

/// Runs the guard (see the module docs) until its worker ends. `args` are what
/// follows `__worker guard`.
pub fn guard_main(args: &[String]) -> Result<GuardEnd, String> {
    let [host, dir, program, rest @ ..] = args else {
        return Err("usage: __worker guard <host-pid> <dir> <program> <args>...".into());
    };
    let host = host
        .parse::<i32>()
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| format!("not a process ID: {host}"))?;
    let dir = PathBuf::from(dir);
    let mut worker = Command::new(program)
        .args(rest)
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    // `--max-memory`: bash, and everything it starts from now on.
    if let Some(mib) = std::env::var(polyplug_worker::MEMORY_VARIABLE)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        if let Err(e) = crate::worker::limit_bash_memory(Pid::from_child(&worker), mib) {
            let _ = worker.kill();
            return Err(format!("cannot limit bash's memory to {mib} MiB: {e}"));
        }
    }
    // The worker holds the pipes to the host now: the guard lets go of its copies,
    // so that the host sees the worker's end of them close when the worker ends.
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = rustix::stdio::dup2_stdin(&null);
        let _ = rustix::stdio::dup2_stdout(&null);
    }
    // A thread watches the host; this one waits for the worker, and ends as soon as
    // it does (a guard that looked every POLL kept the host waiting for the end of
    // every Bash worker, 25 ms on average).
    std::thread::spawn(move || loop {
        std::thread::sleep(POLL);
        if getppid() != Some(host) {
            // The host is gone: the worker's folder, and the whole process group
            // (the guard with it).
            let _ = std::fs::remove_dir_all(&dir);
            let _ = kill_process_group(getpgrp(), Signal::KILL);
        }
    });
    let status = worker
        .wait()
        .map_err(|e| format!("cannot watch {program}: {e}"))?;
    Ok(match (status.code(), status.signal()) {
        (Some(c), _) => GuardEnd::Exited(c),
        (None, Some(s)) => GuardEnd::Signaled(s),
        _ => GuardEnd::Exited(1),
    })
}
