//! What every worker process does first: watch its host, so that it never outlives
//! it, and move standard output aside, so that plugin code cannot write into the
//! protocol.

use rustix::process::{
    getpgrp, getppid, kill_process_group, setrlimit, Pid, Resource, Rlimit, Signal,
};
use std::time::Duration;

/// The variable through which the host tells a worker its process ID.
pub const HOST_VARIABLE: &str = "POLYPLUG_HOST_PID";

/// The variable through which the host tells a worker its memory limit, in MiB
/// (empty: none).
pub const MEMORY_VARIABLE: &str = "POLYPLUG_MAX_MEMORY_MIB";

/// Limits the memory this worker may allocate from now on to what the host asked for
/// ([`MEMORY_VARIABLE`], `--max-memory`), on top of what it holds already: a limit
/// on the data segment (`RLIMIT_DATA`, which counts the heap and every private
/// writable mapping: what `malloc` and Python allocate, not the mapped program) set
/// to its present size plus the limit. An allocation past it fails (`MemoryError` in
/// Python, a null `malloc`, an abort in Rust) instead of the machine swapping.
pub fn limit_memory() -> Result<(), String> {
    let Some(mib) = std::env::var(MEMORY_VARIABLE)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return Ok(());
    };
    let held = data_size().ok_or_else(|| {
        format!("cannot limit the worker's memory to {mib} MiB: /proc/self/status has no VmData")
    })?;
    let bytes = held.saturating_add(mib.saturating_mul(1 << 20));
    setrlimit(
        Resource::Data,
        Rlimit {
            current: Some(bytes),
            maximum: Some(bytes),
        },
    )
    .map_err(|e| format!("cannot limit the worker's memory to {mib} MiB: {e}"))
}

/// The size of this process's data segment, in bytes (`VmData`).
fn data_size() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmData:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Starts the thread that ends this worker, with everything the plugin started in
/// its process group, when the host is gone (killed with SIGKILL while a compute is
/// busy, say): a worker never outlives its run. The thread touches nothing of the
/// plugin, so a compute stuck in Python or C code does not stop it.
pub fn watch_host() {
    let host = std::env::var(HOST_VARIABLE)
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

/// Moves the worker's standard output (the pipe to the host) to a descriptor of its
/// own, returned, and points file descriptor 1 to standard error: what a plugin (or a
/// program it starts) writes to stdout goes to stderr and cannot corrupt the protocol.
pub fn protocol_output() -> Result<std::fs::File, String> {
    let proto = rustix::io::dup(rustix::stdio::stdout())
        .map_err(|e| format!("cannot set up the protocol pipe: {e}"))?;
    rustix::stdio::dup2_stdout(rustix::stdio::stderr())
        .map_err(|e| format!("cannot point standard output to standard error: {e}"))?;
    Ok(std::fs::File::from(proto))
}
