//! `polyplug k8s manifest`: the run arguments and options turned into a
//! polyplug-k8s `Manifest`, its two Jobs written as YAML files.

use crate::args::K8sManifestArgs;
use crate::{error, EXIT_USAGE};
use polyplug_engine::core::{Shard, Uuid};
use polyplug_engine::run_dir::{Manifest as RunManifest, ShardOutputs, ShardState, ShardStatus};
use std::path::Path;

/// The options of `k8s manifest` that may come among the run arguments.
const OPTIONS: &[(&str, &str)] = &[
    ("--image", "a container image"),
    ("--parallelism", "a number of pods"),
    ("--failed-only", "a run folder"),
    ("--pvc", "a PersistentVolumeClaim"),
    ("--mount", "a path"),
    ("--name", "a Job name"),
    ("--program", "a path"),
    ("--out-dir", "a folder"),
    ("--retries-per-shard", "a number"),
    ("--max-failed-shards", "a number"),
];

/// Runs `polyplug k8s manifest`; its exit status.
pub fn manifest(a: K8sManifestArgs) -> i32 {
    match write(a) {
        Ok(()) => 0,
        Err(message) => {
            error(message);
            EXIT_USAGE
        }
    }
}

fn write(a: K8sManifestArgs) -> Result<(), String> {
    let s = crate::forward::split(&a.run, OPTIONS)?;
    let text = |given: Option<String>, name: &str| given.or(s.value(name).map(String::from));
    let failed_only = text(
        a.failed_only.map(|p| p.display().to_string()),
        "--failed-only",
    );
    let earlier = failed_only
        .as_deref()
        .map(|d| unfinished(Path::new(d)))
        .transpose()?;
    let shards = match (a.shards.or(s.number("--shards", "100")?), &earlier) {
        (Some(n), Some((m, _))) if n != m.shards => {
            return Err(format!(
                "--shards {n}, but the run folder's run has {} shards: drop --shards",
                m.shards
            ))
        }
        (Some(n), _) => n,
        (None, Some((m, _))) => m.shards,
        (None, None) => return Err("k8s manifest needs --shards N (the Job's completions)".into()),
    };
    let image =
        text(a.image, "--image").ok_or("k8s manifest needs --image IMAGE (with polyplug in it)")?;
    let run_dir = text(a.run_dir, "--run-dir")
        .ok_or("k8s manifest needs --run-dir DIR: the run folder as the pods see it")?;
    let run_id = match (s.value("--run-id"), &earlier) {
        (Some(id), Some((m, _))) if id != m.run_id => {
            return Err(format!(
                "--run-id {id}, but the run folder is run {}: drop --run-id",
                m.run_id
            ))
        }
        (_, Some((m, _))) => m.run_id.clone(),
        (Some(id), None) => id.to_string(),
        (None, None) => Uuid::new_v4().hyphenated().to_string(),
    };
    crate::forward::check_run(&s.run, shards.max(1), Path::new(&run_dir), false)?;
    let plugin = s.run.first().map(String::as_str).unwrap_or("plugin");
    let stem = Path::new(plugin)
        .file_stem()
        .and_then(|x| x.to_str())
        .unwrap_or(plugin);
    let claim = text(a.pvc, "--pvc");
    let m = polyplug_k8s::Manifest {
        name: text(a.name, "--name").unwrap_or_else(|| polyplug_k8s::job_name(stem, &run_id)),
        image,
        program: s.value("--program").map_or(a.program, String::from),
        run_args: s.run.clone(),
        run_dir,
        run_id,
        shards,
        parallelism: a.parallelism.or(s.number("--parallelism", "20")?),
        only: earlier.map(|(_, only)| only),
        backoff_limit_per_index: s
            .number("--retries-per-shard", "2")?
            .unwrap_or(a.retries_per_shard),
        max_failed_indexes: a
            .max_failed_shards
            .or(s.number("--max-failed-shards", "10")?),
        volume: claim.map(|claim| polyplug_k8s::Volume {
            claim,
            mount_path: s.value("--mount").map_or(a.mount, String::from),
        }),
        merge_args: s.merge.clone(),
    };
    let out_dir = s.value("--out-dir").map_or(a.out_dir, Into::into);
    write_jobs(&m, &out_dir)
}

/// Writes the shard Job and the merge Job, each into a file of its own in
/// `out_dir`, and prints the commands that start them.
fn write_jobs(m: &polyplug_k8s::Manifest, out_dir: &Path) -> Result<(), String> {
    let jobs = [polyplug_k8s::shard_job(m), polyplug_k8s::merge_job(m)];
    let mut names = Vec::new();
    for job in jobs {
        let job = job.map_err(|e| e.to_string())?;
        let name = job.metadata.name.clone().unwrap_or_default();
        let yaml = polyplug_k8s::to_yaml(std::slice::from_ref(&job)).map_err(|e| e.to_string())?;
        let path = out_dir.join(format!("{name}.yaml"));
        std::fs::write(&path, yaml)
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
        names.push((name, path));
    }
    let [(shard_job, shard_file), (_, merge_file)] = &names[..] else {
        return Err("the manifest is not two Jobs".into());
    };
    println!("kubectl create -f {}", shard_file.display());
    println!(
        "kubectl wait --for=condition=complete --timeout=24h job/{shard_job} && kubectl create -f {}",
        merge_file.display()
    );
    Ok(())
}

/// The run of a run folder and its shards that did not finish.
fn unfinished(dir: &Path) -> Result<(RunManifest, Vec<u32>), String> {
    let m = RunManifest::read(dir).map_err(|e| e.to_string())?;
    let only: Vec<u32> = (0..m.shards)
        .filter(|&i| {
            let Ok(shard) = Shard::new(i.into(), m.shards.into()) else {
                return true;
            };
            let o = ShardOutputs::of(dir, shard);
            ShardStatus::read(&o.state).state != ShardState::Finished || !o.report.is_file()
        })
        .collect();
    if only.is_empty() {
        return Err(format!(
            "every shard of {} finished: nothing to rerun (create the merge Job)",
            dir.display()
        ));
    }
    Ok((m, only))
}
