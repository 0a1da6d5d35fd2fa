//! `polyplug slurm submit|status|resubmit` on a real one-node Slurm without
//! accounting (see slurm.rs): a shard killed mid-run and resubmitted, an array split
//! above MaxArraySize (10 here), a task stopped at its time limit and resumed; each
//! merged into exactly the rows of a single-machine run.

use crate::slurm::Cluster;
use polyplug_e2e::{eqnice, Run, TestDir};
use std::process::Command;

/// A polyplug command against the cluster.
fn polyplug(t: &TestDir, cluster: &Cluster) -> Command {
    let mut c = t.cmd();
    c.env("SLURM_CONF", &cluster.conf);
    c
}

/// The status table's line of a shard, split in its columns (the reason whole).
fn status_of(table: &str, shard: u32) -> Vec<String> {
    let line = table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&shard.to_string()))
        .unwrap_or_else(|| panic!("no shard {shard} in:\n{table}"));
    let mut words: Vec<String> = line.split_whitespace().map(String::from).collect();
    let reason = words.split_off(8.min(words.len())).join(" ");
    words.push(reason);
    words
}

#[test]
fn a_killed_shard_is_resubmitted_alone_and_the_split_array_merges_into_the_single_run() {
    let cluster = Cluster::start();
    let t = TestDir::new();
    let ids: String = (0..1200).map(|i| format!("sample_{i:04}\n")).collect();
    t.write("ids.txt", ids);
    // It kills its own `polyplug run` (as the kernel's OOM killer or a failed node
    // would) at one entity, while the marker file exists; the entities just before
    // are slow, so that the shard has recorded some by then.
    t.write(
        "faulty.py",
        "import os, signal, time\nID = 'faulty'\nVERSION = '1.0'\nINPUT = 'an ID'\n\
         OUTPUT = ['length']\n\n\
         def compute(entity, **kwargs):\n\
         \x20   if os.environ['SLOW_FROM'] <= entity < os.environ['KILL_AT']:\n\
         \x20       time.sleep(0.06)\n\
         \x20   if entity == os.environ['KILL_AT'] and os.path.exists(os.environ['MARKER']):\n\
         \x20       os.kill(os.getppid(), signal.SIGKILL)\n\
         \x20       time.sleep(30)\n\
         \x20   return [len(entity)], []\n",
    );
    let marker = t.write("marker", "");
    Run::of(
        t.run("faulty.py")
            .args(["ids", "ids.txt", "-o", "single.tsv"])
            .env("KILL_AT", "-")
            .env("SLOW_FROM", "-")
            .env("MARKER", &marker),
    )
    .ok();
    // An entity in the middle of shard 11, the second task of the second array part.
    Run::of(
        t.run("faulty.py")
            .args(["ids", "ids.txt", "--shard", "11/12", "-o", "eleven.tsv"])
            .env("KILL_AT", "-")
            .env("SLOW_FROM", "-")
            .env("MARKER", &marker),
    )
    .ok();
    let eleven: Vec<String> = t
        .read("eleven.tsv")
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    assert!(eleven.len() > 40, "{}", eleven.len());
    let kill_at = eleven[eleven.len() / 2].clone();
    let slow_from = eleven[eleven.len() / 2 - 20].clone();

    // The scripts, without submitting.
    let dry = Run::of(polyplug(&t, &cluster).args([
        "slurm",
        "submit",
        "faulty.py",
        "ids",
        "ids.txt",
        "-j1",
        "--shards",
        "12",
        "--run-dir",
        "dry",
        "--dry-run",
    ]))
    .ok();
    assert!(
        dry.stdout.contains("--shard \"$shard/12\" --run-dir"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .contains("sbatch --parsable --array=0-9 --export=ALL,POLYPLUG_SHARD_OFFSET=0"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .contains("sbatch --parsable --array=0-1 --export=ALL,POLYPLUG_SHARD_OFFSET=10"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .contains("'--dependency=afterany:<array 1>:<array 2>'"),
        "{}",
        dry.stdout
    );
    assert!(!t.join("dry/slurm/submission.yaml").exists());

    let first = Run::of(
        polyplug(&t, &cluster)
            .args([
                "slurm",
                "submit",
                "faulty.py",
                "ids",
                "ids.txt",
                "-j1",
                "--shards",
                "12",
                "--max-parallel",
                "4",
                "--run-dir",
                "run",
                "-o",
                "merged.tsv",
                "--wait",
            ])
            .env("KILL_AT", &kill_at)
            .env("SLOW_FROM", &slow_from)
            .env("MARKER", &marker),
    )
    .code(1);
    // Two arrays (MaxArraySize is 10) and a merge job.
    let jobs: Vec<&str> = first.stdout.lines().collect();
    assert_eq!(jobs.len(), 3, "{}", first.stdout);
    assert!(
        jobs[0].starts_with("array ") && jobs[0].ends_with(" shards 0-9"),
        "{}",
        first.stdout
    );
    assert!(jobs[1].ends_with(" shards 10-11"), "{}", first.stdout);
    assert!(jobs[2].starts_with("merge "), "{}", first.stdout);
    let status = Run::of(polyplug(&t, &cluster).args(["slurm", "status", "run"]))
        .ok()
        .stdout;
    for shard in 0..11 {
        assert_eq!(status_of(&status, shard)[1], "done", "{status}");
    }
    let failed = status_of(&status, 11);
    assert_eq!(failed[1], "failed", "{status}");
    assert!(failed[8].contains("ended while it ran"), "{status}");
    // The state file counts every 2 s; the shard's results file has every row.
    let recorded = t.read("run/shard-11/results.tsv").lines().count() as u64;
    assert!(
        recorded > 0 && failed[2].parse::<u64>().unwrap() <= recorded,
        "{status}"
    );
    assert!(
        status.contains("11 done, 0 running, 0 pending, 1 failed"),
        "{status}"
    );
    assert!(
        status.contains("failed (exit 2"),
        "the merge refused: {status}"
    );
    assert!(status.contains("polyplug slurm resubmit"), "{status}");
    assert!(!t.join("merged.tsv").exists());

    // Resubmitted alone (the fault gone), it computes only what it misses.
    std::fs::remove_file(&marker).unwrap();
    let again = Run::of(
        polyplug(&t, &cluster)
            .args(["slurm", "resubmit", "run", "--wait"])
            .env("KILL_AT", &kill_at)
            .env("SLOW_FROM", &slow_from)
            .env("MARKER", &marker),
    )
    .ok();
    let jobs: Vec<&str> = again.stdout.lines().collect();
    assert_eq!(jobs.len(), 2, "{}", again.stdout);
    assert!(jobs[0].ends_with(" shards 11"), "{}", again.stdout);
    assert!(
        again.stderr.contains("11 shards left as they are"),
        "{}",
        again.stderr
    );
    let status = Run::of(polyplug(&t, &cluster).args(["slurm", "status", "run"]))
        .ok()
        .stdout;
    let done = status_of(&status, 11);
    assert_eq!(done[1], "done", "{status}");
    let computed: u64 = done[3].parse().unwrap();
    let skipped: u64 = done[5].parse().unwrap();
    assert_eq!(skipped, recorded, "{status}");
    assert_eq!(computed + skipped, eleven.len() as u64, "{status}");
    assert!(
        status.contains("merge: job") && status.contains(", done"),
        "{status}"
    );
    eqnice!(t.read("single.tsv"), t.read("merged.tsv"));
    let record = t.read("run/slurm/submission.yaml");
    assert_eq!(record.matches("offset: 10").count(), 2, "{record}");
}

#[test]
fn a_task_stopped_at_its_time_limit_resumes_where_it_stopped() {
    let cluster = Cluster::start();
    let t = TestDir::new();
    let ids: String = (0..2000).map(|i| format!("g{i:04}\n")).collect();
    t.write("ids.txt", ids);
    // Slow while the marker exists: a shard needs 50 s, more than its 1-minute limit
    // less the 120 s warning.
    t.write(
        "slow.py",
        "import os, time\nID = 'slow'\nVERSION = '1.0'\nINPUT = 'an ID'\nOUTPUT = ['length']\n\n\
         def compute(entity, **kwargs):\n\
         \x20   if os.path.exists(os.environ['MARKER']):\n\
         \x20       time.sleep(0.05)\n\
         \x20   return [len(entity)], []\n",
    );
    let marker = t.write("marker", "");
    Run::of(
        t.run("slow.py")
            .args(["ids", "ids.txt", "-j2", "-o", "single.tsv"])
            .env("MARKER", "/nonexistent"),
    )
    .ok();
    // Each shard with its own store in the run folder.
    let first = Run::of(
        polyplug(&t, &cluster)
            .args([
                "slurm",
                "submit",
                "slow.py",
                "ids",
                "ids.txt",
                "-j1",
                "--shards",
                "2",
                "--run-dir",
                "run",
                "--sbatch-arg=--time=1",
                "--wait",
            ])
            .env_remove("POLYPLUG_STORE")
            .env("MARKER", &marker),
    )
    .code(1);
    let status = Run::of(polyplug(&t, &cluster).args(["slurm", "status", "run"]))
        .ok()
        .stdout;
    let mut recorded = Vec::new();
    for shard in 0..2 {
        let line = status_of(&status, shard);
        assert_eq!(line[1], "failed", "{}\n{status}", first.stderr);
        assert!(line[8].starts_with("time limit"), "{status}");
        recorded.push(line[2].parse::<u64>().unwrap());
    }
    assert!(
        t.read("run/shard-0/state").contains("stopped_by: 'SIGUSR1")
            || status.contains("DUE TO TIME LIMIT")
            || status.contains("time limit"),
        "{status}"
    );
    std::fs::remove_file(&marker).unwrap();
    Run::of(
        polyplug(&t, &cluster)
            .args([
                "slurm",
                "resubmit",
                "run",
                "--sbatch-arg=--time=5",
                "--wait",
            ])
            .env_remove("POLYPLUG_STORE")
            .env("MARKER", &marker),
    )
    .ok();
    let status = Run::of(polyplug(&t, &cluster).args(["slurm", "status", "run"]))
        .ok()
        .stdout;
    for shard in 0..2 {
        let line = status_of(&status, shard);
        assert_eq!(line[1], "done", "{status}");
        assert_eq!(
            line[5].parse::<u64>().unwrap(),
            recorded[shard as usize],
            "skipped: {status}"
        );
    }
    eqnice!(t.read("single.tsv"), t.read("run/results.tsv"));
    let record = t.read("run/slurm/submission.yaml");
    assert!(record.contains("- --time=5"), "{record}");
}

#[test]
fn shards_into_a_shared_postgresql_store_give_every_entity_once_with_its_shard() {
    let cluster = Cluster::start();
    let t = TestDir::new();
    let store = crate::store::pg_database();
    let ids: String = (0..2000).map(|i| format!("genome_{i:04}\n")).collect();
    t.write("ids.txt", ids);
    let plugin = polyplug_e2e::plugin_lib("id_stats");
    Run::of(t.run(&plugin).args(["ids", "ids.txt", "-o", "single.tsv"])).ok();
    let plugin = plugin.display().to_string();
    Run::of(polyplug(&t, &cluster).args([
        "slurm",
        "submit",
        &plugin,
        "ids",
        "ids.txt",
        "-j1",
        "--store",
        &store,
        "--shards",
        "4",
        "--run-id",
        "shared-1",
        "--run-dir",
        "run",
        "-o",
        "merged.tsv",
        "--wait",
    ]))
    .ok();
    eqnice!(t.read("single.tsv"), t.read("merged.tsv"));
    assert!(!t.join("run/shard-0/store.db").exists());
    // Every entity once per attribute, from the computation of its own shard.
    let query = Run::of(t.cmd().args(["query", "--store", &store]))
        .ok()
        .stdout;
    let mut lines = query.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (entity, attribute, shard, run_id) =
        (col("entity"), col("attribute"), col("shard"), col("run_id"));
    let mut seen = std::collections::BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f[run_id], "shared-1", "{line}");
        let key = (f[entity].to_string(), f[attribute].to_string());
        assert!(
            seen.insert(key, f[shard].to_string()).is_none(),
            "twice: {line}"
        );
    }
    assert_eq!(seen.len(), 2000 * 2);
    for i in 0..4 {
        let rows = t.read(&format!("run/shard-{i}/results.tsv"));
        assert!(!rows.is_empty());
        for row in rows.lines() {
            let id = row.split('\t').next().unwrap();
            assert_eq!(
                seen[&(id.to_string(), "length".to_string())],
                format!("{i}/4"),
                "{id}"
            );
        }
    }
}
