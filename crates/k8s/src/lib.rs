//! Kubernetes Jobs for a sharded polyplug run, built from the typed API objects of
//! [`k8s_openapi`] (never from text templates) and written as YAML: what
//! `polyplug k8s manifest <run arguments> --shards N --image IMAGE` prints.
//!
//! A [`Manifest`] describes the run; two Jobs are made from it:
//!
//! - [`shard_job`]: an Indexed Job of N pods, pod *i* computing shard *i* of the run
//!   into the shared run folder (`polyplug run … --shards N --run-dir DIR --run-id
//!   ID`, the index coming from `JOB_COMPLETION_INDEX`), each index retried on its
//!   own (`backoffLimitPerIndex`), failed at once when polyplug exits 2, and not
//!   charged for pods the cluster disrupted. With [`Manifest::only`] it reruns just
//!   those shards (`--failed-only`), as the Job `<name>-retry`.
//! - [`merge_job`]: one pod running `polyplug merge DIR`, to create once the shard
//!   Job is complete (Kubernetes has no dependencies between Jobs).
//!
//! [`to_yaml`] writes Jobs as one multi-document stream. Every Job and pod carries
//! the labels `app.kubernetes.io/name: polyplug`, `polyplug.run-id: <run ID>` and
//! `polyplug.role: shard` (or `merge`), so `kubectl get pods -l
//! polyplug.run-id=<run ID>` lists the pods of a run.
//!
//! ```
//! use polyplug_k8s::{job_name, merge_job, shard_job, to_yaml, Manifest, Volume};
//!
//! let run_id = "0b9f6c1e-8d4a-4e57-9a43-8f1c2d3e4f50";
//! let m = Manifest {
//!     name: job_name("fas_stats", run_id),
//!     image: "registry.example/polyplug:0.1".into(),
//!     run_args: vec!["fas_stats".into(), "ids".into(), "ids.txt".into()],
//!     run_dir: "runs/fas".into(),
//!     run_id: run_id.into(),
//!     shards: 16,
//!     volume: Some(Volume {
//!         claim: "polyplug-data".into(),
//!         mount_path: "/data".into(),
//!     }),
//!     ..Manifest::default()
//! };
//! let shards = to_yaml(&[shard_job(&m)?])?;
//! let merge = to_yaml(&[merge_job(&m)?])?;
//! assert!(shards.starts_with("apiVersion: batch/v1\nkind: Job\n"));
//! assert!(merge.contains("name: polyplug-fas-stats-0b9f6c1e-merge"));
//! # Ok::<(), polyplug_k8s::K8sError>(())
//! ```
//!
//! The code is split in `jobs` (the Jobs and their YAML), `names` (the names
//! Kubernetes checks, and [`job_name`]) and `error` ([`K8sError`]).
#![deny(missing_docs)]

mod error;
mod jobs;
mod names;

pub use error::K8sError;
pub use jobs::{merge_job, shard_job, to_yaml, RETRY_SCRIPT};
pub use k8s_openapi;
pub use k8s_openapi::api::batch::v1::Job;
pub use names::{job_name, MAX_NAME_LEN};

/// What the Jobs of a sharded run run, and how.
///
/// [`Manifest::default`] fills in the defaults (`program` `polyplug`, two retries per
/// shard, no volume) and leaves the rest empty, which the Job builders refuse:
/// give at least `name`, `image`, `run_args`, `run_dir`, `run_id` and `shards`.
///
/// The builders check that `name` is a DNS-1123 label of at most [`MAX_NAME_LEN`]
/// characters, `shards` is not 0, `image`, `program` and `run_dir` are not empty,
/// `run_id` can be a label value (a UUID can), `run_args` has none of the options
/// added here (`--shard`, `--shards`, `--run-dir`, `--run-id`), `only` is sorted,
/// distinct and within the run, and the volume has a valid claim name and an
/// absolute mount path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Base name of the Jobs, a DNS-1123 label of at most [`MAX_NAME_LEN`] characters
    /// ([`job_name`] makes one): the shard Job is `<name>` (`<name>-retry` with
    /// `only`), the merge Job that name with `-merge` added.
    pub name: String,
    /// The container image, which has `program` in it.
    pub image: String,
    /// The polyplug program in the image: `polyplug` (on the image's `PATH`) by
    /// default, or a path.
    pub program: String,
    /// The arguments of `polyplug run` after `run`: plugin, mode, target and options,
    /// without `--shard`, `--shards`, `--run-dir` and `--run-id` (added here) and
    /// without `-o`, `-l` and `-r` (which `--run-dir` replaces). The options added
    /// come after them, so they should not end in a `--`.
    pub run_args: Vec<String>,
    /// The run folder, as the pods see it (on the shared volume; a relative path is
    /// relative to the volume's mount path, the pods' working folder).
    pub run_dir: String,
    /// The logical run ID every shard records (`--run-id`), also the value of the
    /// `polyplug.run-id` label: at most 63 characters of `A-Z a-z 0-9 - _ .`,
    /// starting and ending with a letter or digit.
    pub run_id: String,
    /// The number of shards, N.
    pub shards: u32,
    /// How many pods run at once (`parallelism`); `None`: all of the Job's pods (the
    /// cluster starts what fits and queues the rest). Kubernetes' own default, 1,
    /// would run the shards one after the other.
    pub parallelism: Option<u32>,
    /// Rerun only these shards (`--failed-only`): sorted, distinct, each below
    /// `shards`. Index *j* of the Job `<name>-retry` runs shard `only[j]` (see
    /// [`RETRY_SCRIPT`]).
    pub only: Option<Vec<u32>>,
    /// How many times a failed shard is run again before its index fails
    /// (`backoffLimitPerIndex`); 2 by default.
    pub backoff_limit_per_index: u32,
    /// After how many failed indexes the whole Job fails, stopping the shards still
    /// to run (`maxFailedIndexes`, at most the Job's number of indexes); `None`
    /// leaves the field out: every index runs, and the Job fails at the end if one
    /// did.
    pub max_failed_indexes: Option<u32>,
    /// A PersistentVolumeClaim holding the run folder and the inputs, mounted at its
    /// `mount_path`, which is also the pods' working folder; `None`: no volume (the
    /// image or the cluster's defaults must provide a shared run folder).
    pub volume: Option<Volume>,
    /// The arguments of `polyplug merge` after the run folder (`["-o",
    /// "results.tsv"]`).
    pub merge_args: Vec<String>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            name: String::new(),
            image: String::new(),
            program: "polyplug".to_owned(),
            run_args: Vec::new(),
            run_dir: String::new(),
            run_id: String::new(),
            shards: 0,
            parallelism: None,
            only: None,
            backoff_limit_per_index: 2,
            max_failed_indexes: None,
            volume: None,
            merge_args: Vec::new(),
        }
    }
}

/// A PersistentVolumeClaim mounted in every pod of the run (as the volume
/// `polyplug-run`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// The claim's name (a DNS-1123 subdomain), in the Jobs' namespace.
    pub claim: String,
    /// Where it is mounted: an absolute path, also the pods' working folder.
    pub mount_path: String,
}
