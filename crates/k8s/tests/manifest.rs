//! The Jobs of a sharded run, field by field; their YAML, read back as typed Jobs;
//! the failed-only form, its script run by `/bin/sh`; the errors.

use k8s_openapi::api::batch::v1::{
    Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, PersistentVolumeClaimVolumeSource, PodSpec, Volume as PodVolume, VolumeMount,
};
use k8s_openapi::serde::Deserialize;
use polyplug_k8s::{
    job_name, merge_job, shard_job, to_yaml, Manifest, Volume, MAX_NAME_LEN, RETRY_SCRIPT,
};
use std::collections::BTreeMap;

const RUN_ID: &str = "1a2b3c4d-5e6f-4a5b-8c7d-0123456789ab";
const IMAGE: &str = "registry.example/polyplug:0.1";
/// An argument a shell would mangle if it were ever put into a script's text.
const TRICKY: &str = r#"it's a "quoted" arg;  two spaces, $(no) `no` $HOME and *"#;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn manifest() -> Manifest {
    Manifest {
        name: "polyplug-fas-stats-1a2b3c4d".into(),
        image: IMAGE.into(),
        run_args: strings(&["fas_stats", "ids", "ids.txt", "--user", TRICKY]),
        run_dir: "runs/fas".into(),
        run_id: RUN_ID.into(),
        shards: 8,
        volume: Some(Volume {
            claim: "polyplug-data".into(),
            mount_path: "/data".into(),
        }),
        merge_args: strings(&["-o", "results.tsv"]),
        ..Manifest::default()
    }
}

/// The command line of every shard of `manifest()`.
fn run_argv() -> Vec<String> {
    let mut argv = strings(&[
        "polyplug",
        "run",
        "fas_stats",
        "ids",
        "ids.txt",
        "--user",
        TRICKY,
    ]);
    argv.extend(strings(&[
        "--shards",
        "8",
        "--run-dir",
        "runs/fas",
        "--run-id",
        RUN_ID,
    ]));
    argv
}

fn labels(role: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "polyplug".to_owned()),
        ("polyplug.run-id".to_owned(), RUN_ID.to_owned()),
        ("polyplug.role".to_owned(), role.to_owned()),
    ])
}

fn spec(job: &Job) -> &JobSpec {
    job.spec.as_ref().expect("a Job spec")
}

fn pod(job: &Job) -> &PodSpec {
    spec(job).template.spec.as_ref().expect("a pod spec")
}

fn container(job: &Job) -> &Container {
    let pod = pod(job);
    assert_eq!(pod.containers.len(), 1, "{pod:?}");
    &pod.containers[0]
}

fn pod_labels(job: &Job) -> Option<BTreeMap<String, String>> {
    spec(job)
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
}

fn expected_policy() -> PodFailurePolicy {
    PodFailurePolicy {
        rules: vec![
            PodFailurePolicyRule {
                action: "FailIndex".into(),
                on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                    container_name: Some("polyplug".into()),
                    operator: "In".into(),
                    values: vec![2],
                }),
                on_pod_conditions: None,
            },
            PodFailurePolicyRule {
                action: "Ignore".into(),
                on_exit_codes: None,
                on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                    type_: "DisruptionTarget".into(),
                    status: "True".into(),
                }]),
            },
        ],
    }
}

/// The volume and its mount, as `manifest()` has them.
fn assert_volume(job: &Job) {
    assert_eq!(
        pod(job).volumes,
        Some(vec![PodVolume {
            name: "polyplug-run".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: "polyplug-data".into(),
                read_only: None,
            }),
            ..PodVolume::default()
        }])
    );
    let c = container(job);
    assert_eq!(c.working_dir.as_deref(), Some("/data"));
    assert_eq!(
        c.volume_mounts,
        Some(vec![VolumeMount {
            name: "polyplug-run".into(),
            mount_path: "/data".into(),
            ..VolumeMount::default()
        }])
    );
}

#[test]
fn the_shard_job_is_an_indexed_job_of_one_pod_per_shard() {
    let job = shard_job(&manifest()).unwrap();
    assert_eq!(
        job.metadata.name.as_deref(),
        Some("polyplug-fas-stats-1a2b3c4d")
    );
    assert_eq!(job.metadata.labels, Some(labels("shard")));
    assert_eq!(job.metadata.namespace, None);
    assert_eq!(job.status, None);
    let spec = spec(&job);
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!(spec.completions, Some(8));
    assert_eq!(spec.parallelism, Some(8));
    assert_eq!(spec.backoff_limit_per_index, Some(2));
    assert_eq!(spec.max_failed_indexes, None);
    assert_eq!(spec.backoff_limit, None);
    assert_eq!(spec.pod_failure_policy, Some(expected_policy()));
    assert_eq!(pod_labels(&job), Some(labels("shard")));
    assert_eq!(pod(&job).restart_policy.as_deref(), Some("Never"));
    let c = container(&job);
    assert_eq!(c.name, "polyplug");
    assert_eq!(c.image.as_deref(), Some(IMAGE));
    assert_eq!(c.command, Some(run_argv()));
    assert_eq!(c.args, None);
    assert_eq!(c.env, None);
    assert_volume(&job);
}

#[test]
fn the_counts_and_program_given_are_the_ones_written() {
    let m = Manifest {
        program: "/opt/polyplug/bin/polyplug".into(),
        parallelism: Some(3),
        backoff_limit_per_index: 5,
        max_failed_indexes: Some(4),
        volume: None,
        ..manifest()
    };
    let job = shard_job(&m).unwrap();
    let spec = spec(&job);
    assert_eq!(spec.completions, Some(8));
    assert_eq!(spec.parallelism, Some(3));
    assert_eq!(spec.backoff_limit_per_index, Some(5));
    assert_eq!(spec.max_failed_indexes, Some(4));
    let c = container(&job);
    let mut argv = run_argv();
    argv[0] = "/opt/polyplug/bin/polyplug".into();
    assert_eq!(c.command, Some(argv));
    // No volume: no mount, no working folder.
    assert_eq!(c.working_dir, None);
    assert_eq!(c.volume_mounts, None);
    assert_eq!(pod(&job).volumes, None);
    // Every index may fail; one more than there are may not.
    let all = Manifest {
        max_failed_indexes: Some(8),
        ..manifest()
    };
    assert_eq!(spec_of(&all).max_failed_indexes, Some(8));
}

fn spec_of(m: &Manifest) -> JobSpec {
    shard_job(m).unwrap().spec.unwrap()
}

#[test]
fn the_merge_job_merges_the_run_folder_once() {
    let job = merge_job(&manifest()).unwrap();
    assert_eq!(
        job.metadata.name.as_deref(),
        Some("polyplug-fas-stats-1a2b3c4d-merge")
    );
    assert_eq!(job.metadata.labels, Some(labels("merge")));
    let spec = spec(&job);
    assert_eq!(spec.completion_mode, None);
    assert_eq!(spec.completions, Some(1));
    assert_eq!(spec.parallelism, None);
    assert_eq!(spec.backoff_limit, Some(2));
    assert_eq!(spec.backoff_limit_per_index, None);
    assert_eq!(spec.pod_failure_policy, None);
    assert_eq!(pod_labels(&job), Some(labels("merge")));
    assert_eq!(pod(&job).restart_policy.as_deref(), Some("Never"));
    let c = container(&job);
    assert_eq!(c.name, "polyplug-merge");
    assert_eq!(c.image.as_deref(), Some(IMAGE));
    assert_eq!(
        c.command,
        Some(strings(&[
            "polyplug",
            "merge",
            "runs/fas",
            "-o",
            "results.tsv"
        ]))
    );
    assert_eq!(c.env, None);
    assert_volume(&job);
}

#[test]
fn the_yaml_stream_reads_back_as_the_same_jobs() {
    let m = manifest();
    let jobs = vec![shard_job(&m).unwrap(), merge_job(&m).unwrap()];
    let text = to_yaml(&jobs).unwrap();
    assert!(text.contains("apiVersion: batch/v1"), "{text}");
    assert!(text.contains("kind: Job"), "{text}");
    assert_eq!(text.matches("kind: Job").count(), 2, "{text}");
    // The API's field names, not Rust's.
    for field in [
        "completionMode: Indexed",
        "backoffLimitPerIndex: 2",
        "podFailurePolicy:",
        "action: FailIndex",
        "containerName: polyplug",
        "type: DisruptionTarget",
        "restartPolicy: Never",
        "claimName: polyplug-data",
        "mountPath: /data",
        "workingDir: /data",
    ] {
        assert!(text.contains(field), "{field} in\n{text}");
    }
    let docs: Vec<&str> = text.split("\n---\n").collect();
    assert_eq!(docs.len(), 2, "{text}");
    for (doc, job) in docs.iter().zip(&jobs) {
        assert!(
            doc.starts_with("apiVersion: batch/v1\nkind: Job\n"),
            "{doc}"
        );
        let back: Job = serde_yaml_ng::from_str(doc).unwrap();
        assert_eq!(&back, job);
    }
    // serde_yaml_ng's own multi-document reader agrees.
    let read: Vec<Job> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| Job::deserialize(doc).unwrap())
        .collect();
    assert_eq!(read, jobs);
    // One Job, one document.
    let one = to_yaml(&jobs[1..]).unwrap();
    assert!(!one.contains("---"), "{one}");
    assert_eq!(serde_yaml_ng::from_str::<Job>(&one).unwrap(), jobs[1]);
    assert_eq!(to_yaml(&[]).unwrap(), "");
}

#[test]
fn a_document_of_another_kind_is_not_a_job() {
    let pod = "apiVersion: batch/v1\nkind: Pod\nmetadata:\n  name: x\n";
    let e = serde_yaml_ng::from_str::<Job>(pod).unwrap_err().to_string();
    assert!(e.contains("Pod") && e.contains("Job"), "{e}");
    let core = "apiVersion: v1\nkind: Job\nmetadata:\n  name: x\n";
    let e = serde_yaml_ng::from_str::<Job>(core)
        .unwrap_err()
        .to_string();
    assert!(e.contains("batch/v1"), "{e}");
    // The same document as a Job is one.
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: x\n";
    let job = serde_yaml_ng::from_str::<Job>(job).unwrap();
    assert_eq!(job.metadata.name.as_deref(), Some("x"));
}

#[test]
fn failed_only_reruns_the_listed_shards_through_the_script() {
    let m = Manifest {
        only: Some(vec![3, 7]),
        ..manifest()
    };
    let job = shard_job(&m).unwrap();
    assert_eq!(
        job.metadata.name.as_deref(),
        Some("polyplug-fas-stats-1a2b3c4d-retry")
    );
    assert_eq!(job.metadata.labels, Some(labels("shard")));
    let spec = spec(&job);
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!(spec.completions, Some(2));
    assert_eq!(spec.parallelism, Some(2));
    assert_eq!(spec.backoff_limit_per_index, Some(2));
    assert_eq!(spec.pod_failure_policy, Some(expected_policy()));
    let c = container(&job);
    assert_eq!(c.name, "polyplug");
    let mut command = strings(&["/bin/sh", "-c", RETRY_SCRIPT, "polyplug-retry"]);
    command.extend(run_argv());
    assert_eq!(c.command, Some(command));
    assert_eq!(
        c.env,
        Some(vec![
            EnvVar {
                name: "POLYPLUG_SHARD_LIST".into(),
                value: Some("3 7".into()),
                value_from: None,
            },
            EnvVar {
                name: "POLYPLUG_SHARDS".into(),
                value: Some("8".into()),
                value_from: None,
            },
        ])
    );
    // The polyplug command line is never in the script's text.
    assert!(!RETRY_SCRIPT.contains("fas_stats") && !RETRY_SCRIPT.contains(RUN_ID));
    assert_volume(&job);
    // Its merge Job does not clash with the first run's.
    let merge = merge_job(&m).unwrap();
    assert_eq!(
        merge.metadata.name.as_deref(),
        Some("polyplug-fas-stats-1a2b3c4d-retry-merge")
    );
    // At most as many failed indexes as there are indexes.
    let e = shard_job(&Manifest {
        max_failed_indexes: Some(3),
        ..m.clone()
    })
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "invalid maximum of failed indexes: 3 is more than the Job's 2 indexes (give at most \
         2, or none to let every index run)"
    );
}

#[cfg(unix)]
#[test]
fn the_failed_only_script_runs_its_indexs_shard_with_every_argument_intact() {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    // A stand-in for polyplug that prints its arguments, one per line.
    let dir = std::env::temp_dir().join(format!("polyplug-k8s-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let program = dir.join("print-args");
    std::fs::write(&program, "#!/bin/sh\nprintf '%s\\n' \"$@\"\n").unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let m = Manifest {
        program: program.display().to_string(),
        only: Some(vec![3, 7]),
        ..manifest()
    };
    let job = shard_job(&m).unwrap();
    let c = container(&job);
    let command = c.command.clone().unwrap();
    let env: Vec<(String, String)> = c
        .env
        .clone()
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.value.unwrap()))
        .collect();
    let run = |index: &str| {
        Command::new(&command[0])
            .args(&command[1..])
            .envs(env.clone())
            .env("JOB_COMPLETION_INDEX", index)
            .output()
            .unwrap()
    };
    for (index, shard) in [("0", "3/8"), ("1", "7/8")] {
        let out = run(index);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let args: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        let mut expected = run_argv();
        expected.remove(0);
        expected.extend(strings(&["--shard", shard]));
        assert_eq!(args, expected);
        assert!(args.iter().any(|a| a == TRICKY), "{args:?}");
    }
    // An index with no shard fails, with the status the pod failure policy does not
    // retry.
    let out = run("2");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "polyplug-retry: JOB_COMPLETION_INDEX=2 has no shard in POLYPLUG_SHARD_LIST=3 7"
        ),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The error of building either Job of `m`, which must be the same.
fn error(m: &Manifest) -> String {
    let shard = shard_job(m).unwrap_err().to_string();
    let merge = merge_job(m).unwrap_err().to_string();
    assert_eq!(shard, merge);
    shard
}

#[test]
fn names_that_are_not_dns_labels_are_refused_with_a_fix() {
    let with = |name: &str| {
        error(&Manifest {
            name: name.into(),
            ..manifest()
        })
    };
    assert_eq!(
        with("Fas_Stats"),
        "the Job name \"Fas_Stats\" is not a valid Kubernetes name (a DNS-1123 label): it \
         has the upper-case letter 'F' (names are lower-case); try \"fas-stats\""
    );
    assert_eq!(
        with("fas.stats"),
        "the Job name \"fas.stats\" is not a valid Kubernetes name (a DNS-1123 label): it \
         has '.', and a name has only a-z, 0-9 and '-'; try \"fas-stats\""
    );
    assert_eq!(
        with("-fas-"),
        "the Job name \"-fas-\" is not a valid Kubernetes name (a DNS-1123 label): it \
         starts or ends with '-'; try \"fas\""
    );
    assert!(with("").contains("it is empty; try \"polyplug\""));
    let long = "a".repeat(MAX_NAME_LEN + 1);
    let e = with(&long);
    assert!(e.contains("52 characters long, more than 51"), "{e}");
    assert!(e.contains(&format!("try \"{}\"", "a".repeat(51))), "{e}");
    assert!(shard_job(&Manifest {
        name: "a".repeat(MAX_NAME_LEN),
        ..manifest()
    })
    .is_ok());
}

#[test]
fn made_job_names_are_valid_and_leave_room_for_the_suffixes() {
    assert_eq!(job_name("Fas_Stats", RUN_ID), "polyplug-fas-stats-1a2b3c4d");
    assert_eq!(
        job_name("org.example.Stats", "ABCDEF12-x"),
        "polyplug-org-example-stats-abcdef12"
    );
    let long = job_name(&"Very_Long_Plugin_Name".repeat(10), RUN_ID);
    assert!(long.len() <= MAX_NAME_LEN, "{long}");
    assert!(long.ends_with("-1a2b3c4d"), "{long}");
    let dashes = "p-".repeat(40);
    for plugin in ["Fas_Stats", "§§§", "x.y.z", dashes.as_str()] {
        let name = job_name(plugin, RUN_ID);
        let m = Manifest {
            name: name.clone(),
            only: Some(vec![1]),
            ..manifest()
        };
        let merge = merge_job(&m).unwrap();
        let merge_name = merge.metadata.name.unwrap();
        assert!(merge_name.len() <= 63, "{merge_name}");
        assert!(shard_job(&m).is_ok(), "{name}");
    }
}

#[test]
fn counts_and_shard_lists_are_checked() {
    assert_eq!(
        error(&Manifest {
            shards: 0,
            ..manifest()
        }),
        "--shards 0: a run is split into at least 1 shard"
    );
    let only = |only: Vec<u32>| {
        error(&Manifest {
            only: Some(only),
            ..manifest()
        })
    };
    assert_eq!(
        only(vec![]),
        "no shard to rerun: the list of shards to rerun (--failed-only) is empty"
    );
    assert_eq!(
        only(vec![2, 8]),
        "shard 8 does not exist: a run of 8 shards has shards 0 to 7"
    );
    assert_eq!(
        only(vec![3, 3]),
        "the shards to rerun must be sorted, each once: shard 3 comes after shard 3"
    );
    assert_eq!(
        only(vec![7, 2]),
        "the shards to rerun must be sorted, each once: shard 2 comes after shard 7"
    );
    let e = shard_job(&Manifest {
        parallelism: Some(0),
        ..manifest()
    })
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "invalid parallelism (--parallelism): 0 would start no pod: give at least 1"
    );
    let e = shard_job(&Manifest {
        max_failed_indexes: Some(9),
        ..manifest()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("9 is more than the Job's 8 indexes"), "{e}");
    let e = shard_job(&Manifest {
        shards: u32::MAX,
        ..manifest()
    })
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "invalid number of shards: 4294967295 is more than Kubernetes allows (2147483647)"
    );
}

#[test]
fn other_values_kubernetes_or_polyplug_would_refuse_are_checked() {
    let e = error(&Manifest {
        run_id: "run/1".into(),
        ..manifest()
    });
    assert_eq!(
        e,
        "invalid run ID (--run-id): \"run/1\" has '/', and a Kubernetes label value has \
         only A-Z, a-z, 0-9, '-', '_' and '.'"
    );
    let e = error(&Manifest {
        run_id: String::new(),
        ..manifest()
    });
    assert_eq!(e, "invalid run ID (--run-id): it is empty");
    let e = error(&Manifest {
        image: String::new(),
        ..manifest()
    });
    assert_eq!(e, "invalid image (--image): it is empty");
    let e = error(&Manifest {
        run_dir: " ".into(),
        ..manifest()
    });
    assert_eq!(e, "invalid run folder (--run-dir): it is empty");
    for own in ["--shards", "--shard=1/8", "--run-dir", "--run-id=x"] {
        let mut m = manifest();
        m.run_args.push(own.into());
        let e = error(&m);
        assert!(e.starts_with("invalid run arguments: "), "{e}");
        assert!(e.contains("leave it out of the run arguments"), "{e}");
    }
    // An option that only starts like one of them is the caller's.
    let mut m = manifest();
    m.run_args.push("--shard-note".into());
    assert!(shard_job(&m).is_ok());
    let volume = |claim: &str, mount_path: &str| {
        error(&Manifest {
            volume: Some(Volume {
                claim: claim.into(),
                mount_path: mount_path.into(),
            }),
            ..manifest()
        })
    };
    assert!(volume("Data", "/data")
        .starts_with("invalid PersistentVolumeClaim name: \"Data\" is not a DNS-1123 subdomain"));
    assert_eq!(
        volume("data", "data"),
        "invalid mount path of the volume: \"data\" is not an absolute path (it is the pods' \
         working folder too)"
    );
}
