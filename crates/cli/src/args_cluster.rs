//! The arguments of the commands that run a run on a cluster: `slurm submit|status|
//! resubmit` and `k8s manifest`.

use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum K8sCommand {
    /// Write an Indexed Job (one pod per shard) and a merge Job as YAML, from typed
    /// Kubernetes objects: `k8s manifest <plugin> ids <file> [run options] --shards N
    /// --image IMAGE --run-dir DIR`. -o, -l and -r name the merged outputs.
    Manifest(K8sManifestArgs),
}

#[derive(Debug, Args)]
pub struct K8sManifestArgs {
    /// The number of shards (the Job's completions).
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
    /// The container image, with polyplug in it.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// The run folder as the pods see it (on the shared volume).
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<String>,
    /// Pods at once (default: all shards; the cluster queues what does not fit).
    #[arg(long, value_name = "P")]
    pub parallelism: Option<u32>,
    /// Rerun only the shards of this run folder that did not finish (Kubernetes
    /// cannot rerun only the failed indexes of a Job): a Job `<name>-retry`.
    #[arg(long, value_name = "RUN FOLDER")]
    pub failed_only: Option<std::path::PathBuf>,
    /// A PersistentVolumeClaim with the run folder and the inputs, mounted at
    /// --mount in every pod (its working folder).
    #[arg(long, value_name = "CLAIM")]
    pub pvc: Option<String>,
    /// Where the --pvc claim is mounted.
    #[arg(long, value_name = "PATH", default_value = "/data")]
    pub mount: String,
    /// Retries of one shard before its index fails (backoffLimitPerIndex).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub retries_per_shard: u32,
    /// Failed shards after which the whole Job stops (maxFailedIndexes; default:
    /// every shard runs).
    #[arg(long, value_name = "N")]
    pub max_failed_shards: Option<u32>,
    /// The Jobs' base name (default: polyplug-<plugin>-<run ID's first 8>).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The polyplug program in the image.
    #[arg(long, value_name = "PATH", default_value = "polyplug")]
    pub program: String,
    /// Where to write the two YAML files.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out_dir: std::path::PathBuf,
    /// The arguments of `polyplug run`: `<plugin> ids <file> [options]` (the options
    /// above may come among them).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "RUN ARGUMENTS"
    )]
    pub run: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum SlurmCommand {
    /// Submit a run as a Slurm array, one task per shard, and a merge job after it:
    /// `slurm submit <plugin> ids <file> [run options] --shards N --run-dir DIR`.
    /// -o, -l and -r name the merged outputs.
    Submit(SlurmSubmitArgs),
    /// Show each shard of a submitted run: pending, running, done or failed (and
    /// why), with its entity counts; from polyplug's own files first, so it works
    /// without Slurm accounting.
    Status(SlurmStatusArgs),
    /// Submit again only the shards that did not finish (each computes only what it
    /// misses), and a new merge job.
    Resubmit(SlurmResubmitArgs),
}

#[derive(Debug, Args)]
pub struct SlurmSubmitArgs {
    /// The number of shards (array tasks).
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
    /// The run folder: the shards' outputs, the scripts, the tasks' output files
    /// (on a file system every node sees).
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    #[command(flatten)]
    pub slurm: SlurmOpts,
    /// The arguments of `polyplug run`: `<plugin> ids <file> [options]` (the options
    /// above may come among them).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "RUN ARGUMENTS"
    )]
    pub run: Vec<String>,
}

/// The options of `slurm submit` and `slurm resubmit`.
#[derive(Debug, Args, Default)]
pub struct SlurmOpts {
    /// At most M tasks at once (`--array=…%M`).
    #[arg(long, value_name = "M")]
    pub max_parallel: Option<u32>,
    /// An sbatch option for the tasks and the merge job, e.g. --sbatch-arg=--time=2:00:00
    /// (repeatable).
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub sbatch_arg: Vec<String>,
    /// Write and print the scripts and the sbatch commands; submit nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Wait until the merge job ends; exit non-zero unless it merged.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct SlurmStatusArgs {
    /// The run folder given to `slurm submit`.
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct SlurmResubmitArgs {
    /// The run folder given to `slurm submit`.
    pub dir: PathBuf,
    #[command(flatten)]
    pub slurm: SlurmOpts,
}
