//! The Slurm programs polyplug calls: `scontrol show config` (MaxArraySize),
//! `sbatch --parsable`, one `squeue` per status (and a few a second at most while
//! waiting for a merge job), `scancel`, and `sacct` when the cluster keeps accounting.

use crate::SlurmError;
use std::collections::HashMap;
use std::process::Command;

/// Runs a Slurm program; its standard output, or an error with what it said.
fn slurm(program: &str, args: &[String]) -> Result<String, SlurmError> {
    let shown = || format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| SlurmError::Command {
            program: shown(),
            why: if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "not found: run this on a Slurm login node (where {program} is on the PATH)"
                )
            } else {
                e.to_string()
            },
        })?;
    if !out.status.success() {
        return Err(SlurmError::Command {
            program: shown(),
            why: format!(
                "failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The cluster's `MaxArraySize` (Slurm's default, 1001, when it does not say).
pub fn max_array_size() -> Result<u32, SlurmError> {
    let config = slurm("scontrol", &["show".into(), "config".into()])?;
    Ok(config
        .lines()
        .find_map(|l| {
            let (key, value) = l.split_once('=')?;
            (key.trim() == "MaxArraySize").then(|| value.trim().parse().ok())?
        })
        .unwrap_or(1001))
}

/// `sbatch --parsable <args>`: the job ID.
pub fn sbatch(args: &[String]) -> Result<String, SlurmError> {
    let mut all = vec!["--parsable".to_string()];
    all.extend(args.iter().cloned());
    let shown = || format!("sbatch {}", all.join(" "));
    let out = Command::new("sbatch")
        .args(&all)
        .output()
        .map_err(|e| SlurmError::Command {
            program: shown(),
            why: if e.kind() == std::io::ErrorKind::NotFound {
                "not found: run this on a Slurm login node (where sbatch is on the PATH)".into()
            } else {
                e.to_string()
            },
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // `<job ID>` or `<job ID>;<cluster>`.
    let id = stdout
        .lines()
        .next()
        .and_then(|l| l.split(';').next())
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
    match id {
        Some(id) if out.status.success() => Ok(id.into()),
        _ => Err(SlurmError::Command {
            program: shown(),
            why: format!(
                "failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }),
    }
}

/// The states in which a job has ended (`squeue --format=%T`).
const ENDED: [&str; 9] = [
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "OUT_OF_MEMORY",
    "NODE_FAIL",
    "BOOT_FAIL",
    "DEADLINE",
    "PREEMPTED",
];

/// Whether `squeue --jobs=<job> --format=%T` says the job has ended: it lists the
/// job no more (or, for a while, in an end state).
pub fn has_ended(squeue_out: &str) -> bool {
    squeue_out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .all(|state| ENDED.iter().any(|e| state.starts_with(e)))
}

/// Waits until `job` has left the queue: one `squeue` a while, the first after a
/// fifth of a second and then less and less often, at least every two seconds. (An
/// `sbatch --wait` asks after 2 s, then 8, then 32: a merge of a few seconds would
/// be waited for half a minute.) A job the controller has forgotten has ended; any
/// other failure of `squeue` ten times in a row is the error.
pub fn wait_for(job: &str) -> Result<(), SlurmError> {
    // Every state (a SQUEUE_STATES of the user's would hide a pending job).
    let args = [
        "--noheader".to_string(),
        format!("--jobs={job}"),
        "--states=all".into(),
        "--format=%T".into(),
    ];
    let mut pause = std::time::Duration::from_millis(200);
    let mut failures = 0;
    loop {
        std::thread::sleep(pause);
        pause = (pause * 3 / 2).min(std::time::Duration::from_secs(2));
        match slurm("squeue", &args) {
            Ok(out) if has_ended(&out) => return Ok(()),
            Ok(_) => failures = 0,
            Err(SlurmError::Command { why, .. }) if why.contains("Invalid job id") => return Ok(()),
            Err(e) => {
                failures += 1;
                if failures >= 10 {
                    return Err(e);
                }
            }
        }
    }
}

/// `scancel <job>`.
pub fn scancel(job: &str) -> Result<(), SlurmError> {
    slurm("scancel", &[job.to_string()]).map(drop)
}

/// A job or array task as `squeue` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// PENDING, RUNNING, COMPLETING…
    pub state: String,
    /// Why it is pending (`Dependency`, `Resources`, `Priority`…), `None` when running.
    pub reason: String,
    /// The node it runs on.
    pub node: String,
}

/// What the queue holds of the jobs named `names`: `(job ID, array task ID)` (the
/// task `None` for a plain job) to its state. One `squeue` call, by name rather
/// than by job ID (a finished job's ID is an error to squeue once it forgets it).
pub fn queued(names: &[&str]) -> Result<HashMap<(String, Option<u32>), Queued>, SlurmError> {
    let out = slurm(
        "squeue",
        &[
            "--noheader".into(),
            "--array".into(),
            format!("--name={}", names.join(",")),
            "--format=%F|%K|%i|%T|%r|%N".into(),
        ],
    )?;
    let mut jobs = HashMap::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('|').collect();
        let [array_job, task, job, state, reason, node] = f[..] else {
            continue;
        };
        let key = match task.trim().parse::<u32>() {
            Ok(t) => (array_job.trim().to_string(), Some(t)),
            Err(_) => (job.trim().to_string(), None),
        };
        let reason = reason.trim();
        jobs.insert(
            key,
            Queued {
                state: state.trim().to_string(),
                reason: if reason == "None" {
                    String::new()
                } else {
                    reason.into()
                },
                node: node.trim().to_string(),
            },
        );
    }
    Ok(jobs)
}

/// What `sacct` says of the jobs, when the cluster keeps accounting: `"<job>_<task>"`
/// (or `"<job>"`) to its state (`COMPLETED`, `TIMEOUT`, `OUT_OF_MEMORY`,
/// `NODE_FAIL`, `CANCELLED by …`, `FAILED`). Empty without accounting.
pub fn accounted(jobs: &[&str]) -> HashMap<String, String> {
    if jobs.is_empty() {
        return HashMap::new();
    }
    let args = [
        "--noheader".to_string(),
        "--parsable2".into(),
        "--allocations".into(),
        format!("--jobs={}", jobs.join(",")),
        "--format=JobID,State".into(),
    ];
    let Ok(out) = slurm("sacct", &args) else {
        return HashMap::new();
    };
    out.lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(id, state)| (id.trim().to_string(), state.trim().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::has_ended;

    #[test]
    fn a_job_has_ended_when_the_queue_lists_it_no_more_or_in_an_end_state() {
        for out in [
            "",
            "\n",
            "COMPLETED\n",
            "FAILED\n",
            "CANCELLED by 1000\n",
            "TIMEOUT\n",
        ] {
            assert!(has_ended(out), "{out:?}");
        }
        for out in [
            "PENDING\n",
            "RUNNING\n",
            "COMPLETING\n",
            "COMPLETED\nRUNNING\n",
        ] {
            assert!(!has_ended(out), "{out:?}");
        }
    }
}
