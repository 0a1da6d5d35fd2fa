//! The two Jobs of a sharded run, built from the typed API objects, and their YAML.

use crate::names::{check_claim, check_label_value, check_name};
use crate::{K8sError, Manifest};
use k8s_openapi::api::batch::v1::{
    Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec,
    Volume as PodVolume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

/// The container of the shard pods (the pod failure policy names it).
const SHARD_CONTAINER: &str = "polyplug";
/// The container of the merge pod.
const MERGE_CONTAINER: &str = "polyplug-merge";
/// The pod's name of the volume holding the run folder.
const VOLUME_NAME: &str = "polyplug-run";
/// polyplug's exit status for bad usage, bad input or a plugin that cannot load:
/// running the shard again cannot help.
const USAGE_EXIT: i32 = 2;
/// The `polyplug run` options this crate adds itself.
const OWN_OPTIONS: [&str; 4] = ["--shard", "--shards", "--run-dir", "--run-id"];

/// The POSIX shell script a failed-only (`only`) shard Job runs as
/// `/bin/sh -c RETRY_SCRIPT polyplug-retry <program> run <arguments…>`.
///
/// `$POLYPLUG_SHARD_LIST` holds the shards to rerun (`3 7`) and `$POLYPLUG_SHARDS`
/// the run's number of shards; the pod of completion index *j*
/// (`$JOB_COMPLETION_INDEX`) runs the *j*-th shard of the list, *s*, as
/// `exec "$@" --shard s/N`. The polyplug command line arrives as the script's
/// positional arguments and is only ever expanded as `"$@"`, never put into the
/// script's text, so every argument (spaces, quotes, `$`, `*`) reaches polyplug as
/// it was given. An index with no shard in the list exits 2, which the pod failure
/// policy fails at once.
pub const RETRY_SCRIPT: &str = concat!(
    "set -f; i=0; ",
    "for s in $POLYPLUG_SHARD_LIST; do ",
    "if [ \"$i\" = \"$JOB_COMPLETION_INDEX\" ]; then ",
    "exec \"$@\" --shard \"$s/$POLYPLUG_SHARDS\"; ",
    "fi; ",
    "i=$((i + 1)); ",
    "done; ",
    "echo \"$0: JOB_COMPLETION_INDEX=$JOB_COMPLETION_INDEX has no shard in ",
    "POLYPLUG_SHARD_LIST=$POLYPLUG_SHARD_LIST\" >&2; ",
    "exit 2",
);

/// The name the failed-only script runs as (`$0`, in its error message).
const RETRY_ARG0: &str = "polyplug-retry";

/// The Indexed Job whose pods compute the shards of the run, one shard each.
///
/// Without `only`, the Job has `shards` completions and pod *i* runs
/// `<program> run <run_args…> --shards N --run-dir <run_dir> --run-id <run_id>`:
/// polyplug takes its shard index from `JOB_COMPLETION_INDEX`, which Kubernetes sets
/// in every pod of an Indexed Job, so no shell is needed. The Job is named `<name>`.
///
/// With `only` (rerunning failed shards: Kubernetes cannot rerun only some indexes of
/// a finished Job), the Job is named `<name>-retry`, has one completion per listed
/// shard, and pod *j* runs shard `only[j]` through [`RETRY_SCRIPT`] (the image needs
/// a POSIX `/bin/sh`): the same command line with `--shard only[j]/N` added, which
/// polyplug prefers to `JOB_COMPLETION_INDEX`.
///
/// Each index is retried `backoff_limit_per_index` times (`backoffLimitPerIndex`),
/// `parallelism` pods run at once (all of them when `None`: the cluster queues what
/// does not fit), and the Job stops early once `max_failed_indexes` indexes failed
/// (when `None`, the field is left out: every index runs, and the Job fails at the
/// end if any did). The pod failure policy fails an index at once when polyplug exits
/// 2 (bad usage, bad input, a plugin that cannot load: retrying cannot fix it), and
/// does not count a pod that was preempted, evicted or drained (condition
/// `DisruptionTarget`) against its index's retries. Pods never restart in place
/// (`restartPolicy: Never`, which a pod failure policy requires).
///
/// # Errors
///
/// [`K8sError`] when the manifest is not valid: the name, `shards` 0, a shard of
/// `only` out of range or out of order, `max_failed_indexes` above the number of
/// indexes, and the other checks listed on [`Manifest`].
pub fn shard_job(m: &Manifest) -> Result<Job, K8sError> {
    check(m)?;
    let completions = match &m.only {
        None => m.shards,
        Some(only) => u32::try_from(only.len()).unwrap_or(m.shards),
    };
    if let Some(max) = m.max_failed_indexes.filter(|&max| max > completions) {
        return Err(K8sError::Invalid {
            what: "maximum of failed indexes",
            why: format!(
                "{max} is more than the Job's {completions} indexes (give at most \
                 {completions}, or none to let every index run)"
            ),
        });
    }
    if m.parallelism == Some(0) {
        return Err(K8sError::Invalid {
            what: "parallelism (--parallelism)",
            why: "0 would start no pod: give at least 1".to_owned(),
        });
    }
    let parallelism = m.parallelism.unwrap_or(completions);
    let argv = run_argv(m);
    let (command, env) = match &m.only {
        None => (argv, None),
        Some(only) => (retry_command(argv), Some(retry_env(only, m.shards))),
    };
    let labels = labels(m, "shard");
    let container = container(m, SHARD_CONTAINER, command, env);
    Ok(Job {
        metadata: metadata(shard_job_name(m), &labels),
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".to_owned()),
            completions: Some(int("number of shards", completions)?),
            parallelism: Some(int("parallelism (--parallelism)", parallelism)?),
            backoff_limit_per_index: Some(int(
                "retries of a shard (backoffLimitPerIndex)",
                m.backoff_limit_per_index,
            )?),
            max_failed_indexes: m
                .max_failed_indexes
                .map(|n| int("maximum of failed indexes", n))
                .transpose()?,
            pod_failure_policy: Some(pod_failure_policy()),
            template: template(m, labels, container),
            ..JobSpec::default()
        }),
        status: None,
    })
}

/// The Job that merges the shards' outputs once they are all done: one pod
/// (`completions: 1`, `backoffLimit: 2`) whose container `polyplug-merge` runs
/// `<program> merge <run_dir> <merge_args…>` on the same image and volume. It is
/// named `<name>-merge` (`<name>-retry-merge` with `only`, so that it does not clash
/// with the first run's merge Job).
///
/// Kubernetes has no dependencies between Jobs: create this one once the shard Job
/// is complete, for example
///
/// ```text
/// kubectl create -f shards.yaml
/// kubectl wait --for=condition=complete --timeout=24h job/<name> && kubectl create -f merge.yaml
/// ```
///
/// (`kubectl wait` gives up at the timeout when the shard Job fails instead.) A merge
/// started too early fails clearly: `polyplug merge` refuses a run folder with
/// unfinished shards, naming them.
///
/// # Errors
///
/// [`K8sError`] when the manifest is not valid: the checks of [`shard_job`], but for
/// those of the shard Job's counts (`parallelism`, `max_failed_indexes`).
pub fn merge_job(m: &Manifest) -> Result<Job, K8sError> {
    check(m)?;
    let mut command = vec![m.program.clone(), "merge".to_owned(), m.run_dir.clone()];
    command.extend(m.merge_args.iter().cloned());
    let labels = labels(m, "merge");
    let container = container(m, MERGE_CONTAINER, command, None);
    Ok(Job {
        metadata: metadata(format!("{}-merge", shard_job_name(m)), &labels),
        spec: Some(JobSpec {
            completions: Some(1),
            backoff_limit: Some(2),
            template: template(m, labels, container),
            ..JobSpec::default()
        }),
        status: None,
    })
}

/// The Jobs as one multi-document YAML stream, in the order given, separated by
/// `---` lines; each document starts with `apiVersion: batch/v1` and `kind: Job`.
///
/// `kubectl create -f` creates every Job of a stream at once: write the merge Job
/// to a stream of its own (see [`merge_job`]) unless starting it early is meant.
///
/// # Errors
///
/// [`K8sError::Yaml`] when a Job cannot be serialized.
pub fn to_yaml(jobs: &[Job]) -> Result<String, K8sError> {
    let mut out = String::new();
    for job in jobs {
        if !out.is_empty() {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str("---\n");
        }
        out.push_str(&serde_yaml_ng::to_string(job)?);
    }
    Ok(out)
}

/// The checks every Job of the manifest needs.
fn check(m: &Manifest) -> Result<(), K8sError> {
    check_name(&m.name)?;
    if m.shards == 0 {
        return Err(K8sError::NoShards);
    }
    let required = [
        ("image (--image)", &m.image),
        ("program", &m.program),
        ("run folder (--run-dir)", &m.run_dir),
    ];
    for (what, value) in required {
        if value.trim().is_empty() {
            return Err(K8sError::Invalid {
                what,
                why: "it is empty".to_owned(),
            });
        }
    }
    check_label_value("run ID (--run-id)", &m.run_id)?;
    for arg in &m.run_args {
        let own = OWN_OPTIONS.into_iter().find(|&o| {
            arg == o
                || arg
                    .strip_prefix(o)
                    .is_some_and(|rest| rest.starts_with('='))
        });
        if let Some(own) = own {
            return Err(K8sError::Invalid {
                what: "run arguments",
                why: format!(
                    "{arg:?}: the Jobs give {own} themselves; leave it out of the run \
                     arguments"
                ),
            });
        }
    }
    if let Some(only) = &m.only {
        check_only(only, m.shards)?;
    }
    if let Some(volume) = &m.volume {
        check_claim(&volume.claim)?;
        if !volume.mount_path.starts_with('/') {
            return Err(K8sError::Invalid {
                what: "mount path of the volume",
                why: format!(
                    "{:?} is not an absolute path (it is the pods' working folder too)",
                    volume.mount_path
                ),
            });
        }
    }
    Ok(())
}

/// Checks the shards to rerun: at least one, each a shard of the run, increasing.
fn check_only(only: &[u32], shards: u32) -> Result<(), K8sError> {
    if only.is_empty() {
        return Err(K8sError::NoShardsToRerun);
    }
    let mut previous: Option<u32> = None;
    for &shard in only {
        if shard >= shards {
            return Err(K8sError::ShardOutOfRange { shard, shards });
        }
        if let Some(after) = previous.filter(|&after| shard <= after) {
            return Err(K8sError::ShardsNotSorted { shard, after });
        }
        previous = Some(shard);
    }
    Ok(())
}

/// A count as the API's `int32`.
fn int(what: &'static str, value: u32) -> Result<i32, K8sError> {
    i32::try_from(value).map_err(|_| K8sError::Invalid {
        what,
        why: format!("{value} is more than Kubernetes allows ({})", i32::MAX),
    })
}

/// The name of the shard Job: `<name>`, or `<name>-retry` for a failed-only rerun.
fn shard_job_name(m: &Manifest) -> String {
    if m.only.is_some() {
        format!("{}-retry", m.name)
    } else {
        m.name.clone()
    }
}

/// `<program> run <run_args…> --shards N --run-dir <run_dir> --run-id <run_id>`.
fn run_argv(m: &Manifest) -> Vec<String> {
    let mut argv = Vec::with_capacity(m.run_args.len() + 8);
    argv.push(m.program.clone());
    argv.push("run".to_owned());
    argv.extend(m.run_args.iter().cloned());
    argv.extend([
        "--shards".to_owned(),
        m.shards.to_string(),
        "--run-dir".to_owned(),
        m.run_dir.clone(),
        "--run-id".to_owned(),
        m.run_id.clone(),
    ]);
    argv
}

/// `/bin/sh -c RETRY_SCRIPT polyplug-retry <argv…>`.
fn retry_command(argv: Vec<String>) -> Vec<String> {
    let mut command = Vec::with_capacity(argv.len() + 4);
    command.extend([
        "/bin/sh".to_owned(),
        "-c".to_owned(),
        RETRY_SCRIPT.to_owned(),
        RETRY_ARG0.to_owned(),
    ]);
    command.extend(argv);
    command
}

/// `POLYPLUG_SHARD_LIST` (the shards, space-separated) and `POLYPLUG_SHARDS` (N).
fn retry_env(only: &[u32], shards: u32) -> Vec<EnvVar> {
    let list: Vec<String> = only.iter().map(u32::to_string).collect();
    vec![
        env_var("POLYPLUG_SHARD_LIST", list.join(" ")),
        env_var("POLYPLUG_SHARDS", shards.to_string()),
    ]
}

/// An environment variable with a value.
fn env_var(name: &str, value: String) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value),
        value_from: None,
    }
}

/// The labels of a Job and its pods.
fn labels(m: &Manifest, role: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "polyplug".to_owned()),
        ("polyplug.run-id".to_owned(), m.run_id.clone()),
        ("polyplug.role".to_owned(), role.to_owned()),
    ])
}

/// A Job's metadata.
fn metadata(name: String, labels: &BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        labels: Some(labels.clone()),
        ..ObjectMeta::default()
    }
}

/// The one container of a pod.
fn container(
    m: &Manifest,
    name: &str,
    command: Vec<String>,
    env: Option<Vec<EnvVar>>,
) -> Container {
    Container {
        name: name.to_owned(),
        image: Some(m.image.clone()),
        command: Some(command),
        env,
        working_dir: m.volume.as_ref().map(|v| v.mount_path.clone()),
        volume_mounts: m.volume.as_ref().map(|v| {
            vec![VolumeMount {
                name: VOLUME_NAME.to_owned(),
                mount_path: v.mount_path.clone(),
                ..VolumeMount::default()
            }]
        }),
        ..Container::default()
    }
}

/// The pod template of a Job: its labels, the container, the volume.
fn template(
    m: &Manifest,
    labels: BTreeMap<String, String>,
    container: Container,
) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![container],
            restart_policy: Some("Never".to_owned()),
            volumes: m.volume.as_ref().map(|v| {
                vec![PodVolume {
                    name: VOLUME_NAME.to_owned(),
                    persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                        claim_name: v.claim.clone(),
                        read_only: None,
                    }),
                    ..PodVolume::default()
                }]
            }),
            ..PodSpec::default()
        }),
    }
}

/// Fail an index at once when polyplug exits 2; do not count disrupted pods.
fn pod_failure_policy() -> PodFailurePolicy {
    PodFailurePolicy {
        rules: vec![
            PodFailurePolicyRule {
                action: "FailIndex".to_owned(),
                on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                    container_name: Some(SHARD_CONTAINER.to_owned()),
                    operator: "In".to_owned(),
                    values: vec![USAGE_EXIT],
                }),
                on_pod_conditions: None,
            },
            PodFailurePolicyRule {
                action: "Ignore".to_owned(),
                on_exit_codes: None,
                on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                    status: "True".to_owned(),
                    type_: "DisruptionTarget".to_owned(),
                }]),
            },
        ],
    }
}
