//! `polyplug k8s manifest`: the Jobs it writes, read back as YAML, and their pods'
//! commands run as Kubernetes would run them (each with its JOB_COMPLETION_INDEX),
//! merged into exactly the rows of a single run; `--failed-only` for a shard that
//! did not finish.

use polyplug_e2e::{eqnice, Run, TestDir};
use serde_yaml_ng::Value;
use std::process::Command;

fn job(t: &TestDir, file: &str) -> Value {
    serde_yaml_ng::from_str(&t.read(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn at<'v>(v: &'v Value, path: &str) -> &'v Value {
    path.split('.')
        .fold(v, |v, key| match key.parse::<usize>() {
            Ok(i) => &v[i],
            Err(_) => &v[key],
        })
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("not a list: {v:?}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Runs a pod's container command in the test folder, as its completion index: the
/// word `polyplug` (the program, or the first of the retry script's `"$@"`) is the
/// binary under test; the environment is the harness's, the Job's env and the index.
fn run_pod(t: &TestDir, job: &Value, index: u32) -> Run {
    let container = at(job, "spec.template.spec.containers.0");
    let argv: Vec<String> = strings(&container["command"])
        .into_iter()
        .map(|a| {
            if a == "polyplug" {
                polyplug_e2e::polyplug_bin().display().to_string()
            } else {
                a
            }
        })
        .collect();
    let pinned = t.cmd();
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    for (k, v) in pinned.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    for e in container["env"].as_sequence().into_iter().flatten() {
        cmd.env(e["name"].as_str().unwrap(), e["value"].as_str().unwrap());
    }
    cmd.current_dir(t.path())
        .env("JOB_COMPLETION_INDEX", index.to_string());
    Run::of(&mut cmd)
}

#[test]
fn an_indexed_job_of_shards_and_its_merge_give_the_single_run() {
    let t = TestDir::new();
    let ids: String = (0..600).map(|i| format!("doc_{i:03}\n")).collect();
    t.write("ids.txt", ids);
    t.write(
        "trivial.py",
        "ID = 'trivial_py'\nVERSION = '1.0'\nINPUT = 'an ID'\nOUTPUT = ['length']\n\n\
         def compute(entity, **kwargs):\n    return [len(entity)], []\n",
    );
    Run::of(
        t.run("trivial.py")
            .args(["ids", "ids.txt", "-o", "single.tsv"]),
    )
    .ok();
    let out = Run::of(t.cmd().args([
        "k8s",
        "manifest",
        "trivial.py",
        "ids",
        "ids.txt",
        "-j1",
        "--shards",
        "4",
        "--image",
        "registry.example/polyplug:1",
        "--run-dir",
        "run",
        "--pvc",
        "lab-data",
        "-o",
        "merged.tsv",
        "--max-failed-shards",
        "2",
    ]))
    .ok();
    let name = out
        .stdout
        .lines()
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .trim_end_matches(".yaml")
        .to_string();
    assert!(name.starts_with("polyplug-trivial-"), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("kubectl wait --for=condition=complete --timeout=24h job/{name} && kubectl create -f ./{name}-merge.yaml")), "{}", out.stdout);
    let shards = job(&t, &format!("{name}.yaml"));
    assert_eq!(shards["apiVersion"].as_str(), Some("batch/v1"));
    assert_eq!(shards["kind"].as_str(), Some("Job"));
    let spec = &shards["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    assert_eq!(spec["completions"].as_u64(), Some(4));
    assert_eq!(spec["parallelism"].as_u64(), Some(4));
    assert_eq!(spec["backoffLimitPerIndex"].as_u64(), Some(2));
    assert_eq!(spec["maxFailedIndexes"].as_u64(), Some(2));
    assert_eq!(
        at(spec, "podFailurePolicy.rules.0.action").as_str(),
        Some("FailIndex")
    );
    assert_eq!(
        at(spec, "podFailurePolicy.rules.0.onExitCodes.values.0").as_u64(),
        Some(2)
    );
    assert_eq!(
        at(spec, "podFailurePolicy.rules.1.action").as_str(),
        Some("Ignore")
    );
    assert_eq!(
        at(spec, "podFailurePolicy.rules.1.onPodConditions.0.type").as_str(),
        Some("DisruptionTarget")
    );
    assert_eq!(
        at(spec, "template.spec.restartPolicy").as_str(),
        Some("Never")
    );
    assert_eq!(
        at(
            spec,
            "template.spec.volumes.0.persistentVolumeClaim.claimName"
        )
        .as_str(),
        Some("lab-data")
    );
    assert_eq!(
        at(spec, "template.spec.containers.0.workingDir").as_str(),
        Some("/data")
    );
    assert_eq!(
        at(spec, "template.spec.containers.0.image").as_str(),
        Some("registry.example/polyplug:1")
    );
    let command = strings(at(spec, "template.spec.containers.0.command"));
    assert_eq!(
        command[..6],
        ["polyplug", "run", "trivial.py", "ids", "ids.txt", "-j1"]
    );
    assert_eq!(command[6..10], ["--shards", "4", "--run-dir", "run"]);
    let run_id = command[11].clone();
    assert_eq!(
        shards["metadata"]["labels"]["polyplug.run-id"].as_str(),
        Some(run_id.as_str())
    );

    // Kubernetes runs pod i with JOB_COMPLETION_INDEX=i; shard 2's pod never ends.
    for i in [0, 1, 3] {
        let pod = run_pod(&t, &shards, i).ok();
        assert!(
            pod.stderr.contains(&format!(
                "computing shard {i}/4 (from JOB_COMPLETION_INDEX)"
            )),
            "{}",
            pod.stderr
        );
    }
    let merge = job(&t, &format!("{name}-merge.yaml"));
    assert_eq!(
        strings(at(&merge, "spec.template.spec.containers.0.command")),
        ["polyplug", "merge", "run", "-o", "merged.tsv"]
    );
    let early = run_pod(&t, &merge, 0).code(2);
    assert!(
        early
            .stderr
            .contains("1 of 4 shards did not finish (2 (not started))"),
        "{}",
        early.stderr
    );

    // Only shard 2, as the Job <name>-retry (index 0 runs shard 2).
    let retry = Run::of(t.cmd().args([
        "k8s",
        "manifest",
        "trivial.py",
        "ids",
        "ids.txt",
        "-j1",
        "--image",
        "registry.example/polyplug:1",
        "--run-dir",
        "run",
        "--pvc",
        "lab-data",
        "-o",
        "merged.tsv",
        "--failed-only",
        "run",
    ]))
    .ok();
    assert!(
        retry.stdout.contains(&format!("{name}-retry.yaml")),
        "{}",
        retry.stdout
    );
    let again = job(&t, &format!("{name}-retry.yaml"));
    assert_eq!(at(&again, "spec.completions").as_u64(), Some(1));
    assert_eq!(
        at(&again, "spec.template.spec.containers.0.env.0.value").as_str(),
        Some("2")
    );
    assert!(!t.join("run/shard-2/state").exists());
    run_pod(&t, &again, 0).ok();
    assert!(t.read("run/shard-2/state").starts_with("state: finished\n"));
    let merge = job(&t, &format!("{name}-retry-merge.yaml"));
    run_pod(&t, &merge, 0).ok();
    eqnice!(t.read("single.tsv"), t.read("merged.tsv"));
    let none = Run::of(t.cmd().args([
        "k8s",
        "manifest",
        "trivial.py",
        "ids",
        "ids.txt",
        "--image",
        "i",
        "--run-dir",
        "run",
        "--failed-only",
        "run",
    ]))
    .code(2);
    assert!(
        none.stderr
            .contains("every shard of run finished: nothing to rerun"),
        "{}",
        none.stderr
    );
    let bad = Run::of(t.cmd().args([
        "k8s",
        "manifest",
        "trivial.py",
        "ids",
        "ids.txt",
        "--shards",
        "4",
        "--image",
        "i",
        "--run-dir",
        "run",
        "--name",
        "Bad_Name",
    ]))
    .code(2);
    assert!(
        bad.stderr.contains("not a valid Kubernetes name"),
        "{}",
        bad.stderr
    );
}
