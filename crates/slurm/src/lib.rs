//! A sharded polyplug run as a Slurm job array, with Slurm's own mechanisms only:
//! `sbatch` arrays, `--dependency`, `--signal`, `squeue`. No daemon, and no polling
//! loop of polyplug's own but `--wait`'s (one `squeue` for the merge job, at least
//! every 2 s).
//!
//! - [`submit`] writes the run folder's `slurm/` scripts: `shard.sh`, one array task
//!   per shard running `polyplug run … --shard $((SLURM_ARRAY_TASK_ID + offset))/N
//!   --run-dir DIR`, and `merge.sh`, `polyplug merge DIR`; it submits the array (in
//!   parts of at most the cluster's `MaxArraySize` tasks) and the merge job after it
//!   (`--dependency=afterany`), and records the job IDs in `slurm/submission.yaml`.
//! - [`status`] tells per shard whether it is pending, running, done or failed (and
//!   why), from polyplug's own state files first (`shard-I/state`, which a shard
//!   rewrites as it goes) and one `squeue` call second; so it works without Slurm's
//!   accounting, which many clusters turn off. When `sacct` answers, it names the
//!   reason; when not, the task's output file does (slurmstepd writes the time limit,
//!   the out-of-memory kill and the node failure there).
//! - [`resubmit`] submits again only the shards that did not finish (their reruns
//!   compute only what they miss), and a new merge job.
//!
//! It must not depend on the command line: the CLI parses, this crate acts.

mod queue;
mod record;
mod script;
mod status;
mod submit;

pub use queue::wait_for;
pub use record::{Attempt, Part, Submission, SUBMISSION};
pub use script::{array_spec, parts, Scripts};
pub use status::{status, MergeStatus, RunStatus, ShardLine, ShardPhase};
pub use submit::{resubmit, submit, ResubmitSpec, SubmitSpec, Submitted};

use std::path::PathBuf;

/// What went wrong with a submission or a status.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    /// A Slurm program could not be run, or refused.
    #[error("{program}: {why}")]
    Command {
        /// The program and its arguments.
        program: String,
        /// What it said, and what to do.
        why: String,
    },
    /// A file of the run folder could not be read or written.
    #[error("{}: {why}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        why: String,
    },
    /// The run folder is not what the command needs.
    #[error("run folder {}: {why}", dir.display())]
    RunDir {
        /// The folder.
        dir: PathBuf,
        /// What is wrong, and what to do.
        why: String,
    },
    /// An argument that cannot be used.
    #[error("{0}")]
    Usage(String),
}

/// The folder of the run folder that holds the scripts, the submission record and
/// the tasks' output files.
pub fn slurm_dir(run_dir: &std::path::Path) -> PathBuf {
    run_dir.join("slurm")
}
