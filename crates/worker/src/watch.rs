//! What every worker process does first: watch its host, so that it never outlives
//! it, and move standard output aside, so that plugin code cannot write into the
//! protocol.

use rustix::process::{getpgrp, getppid, kill_process_group, Pid, Signal};
use std::time::Duration;

/// The variable through which the host tells a worker its process ID.
pub const HOST_VARIABLE: &str = "POLYPLUG_HOST_PID";

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
