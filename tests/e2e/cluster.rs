//! Scale-out: `--shard I/N` and the shard a scheduler's task gives, recorded with the
//! computation.

use polyplug_e2e::{eqnice, plugin_lib, Run, TestDir};
use std::collections::BTreeMap;

/// `n` IDs, one per line.
fn ids(n: usize) -> String {
    (0..n).map(|i| format!("sample_{i:05}\n")).collect()
}

/// The rows of a results file, sorted.
fn sorted_rows(text: &str) -> Vec<String> {
    let mut rows: Vec<String> = text.lines().map(String::from).collect();
    rows.sort();
    rows
}

/// The rows of `runs list`, as maps from column to value.
fn runs_list(t: &TestDir) -> Vec<BTreeMap<String, String>> {
    let out = Run::of(t.cmd().args(["runs", "list", "--store", "s.db"]))
        .ok()
        .stdout;
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().expect("a header").split('\t').collect();
    lines
        .map(|l| {
            header
                .iter()
                .map(|h| h.to_string())
                .zip(l.split('\t').map(String::from))
                .collect()
        })
        .collect()
}

#[test]
fn shards_cover_every_entity_once_whatever_the_order() {
    let t = TestDir::new();
    t.write("ids.txt", ids(2000));
    let plugin = plugin_lib("id_stats");
    Run::of(
        t.run(&plugin)
            .args(["ids", "ids.txt", "-o", "all.tsv", "-j2"]),
    )
    .ok();
    let mut union = Vec::new();
    let mut sizes = Vec::new();
    for i in 0..4 {
        let out = format!("shard{i}.tsv");
        let shard = format!("{i}/4");
        Run::of(
            t.run(&plugin)
                .args(["ids", "ids.txt", "-o", &out, "--shard", &shard]),
        )
        .ok();
        let rows = sorted_rows(&t.read(&out));
        sizes.push(rows.len());
        union.extend(rows);
    }
    union.sort();
    // Every entity in exactly one shard: the union is the single run's rows.
    assert_eq!(union, sorted_rows(&t.read("all.tsv")));
    for s in &sizes {
        assert!((350..650).contains(s), "shard sizes {sizes:?}");
    }
    // The same shard of the input reversed holds the same entities: a shard depends
    // on the IDs, not on their order.
    let reversed: String = ids(2000).lines().rev().map(|l| format!("{l}\n")).collect();
    t.write("reversed.txt", &reversed);
    Run::of(
        t.run(&plugin)
            .args(["ids", "reversed.txt", "-o", "r2.tsv", "--shard", "2/4"]),
    )
    .ok();
    eqnice!(
        sorted_rows(&t.read("r2.tsv")).join("\n"),
        sorted_rows(&t.read("shard2.tsv")).join("\n")
    );
    // 0/1 and all compute everything.
    for s in ["0/1", "all"] {
        let out = format!("whole-{}.tsv", s.replace('/', "-"));
        Run::of(
            t.run(&plugin)
                .args(["ids", "ids.txt", "-o", &out, "--shard", s]),
        )
        .ok();
        assert_eq!(t.read(&out), t.read("all.tsv"), "--shard {s}");
    }
}

#[test]
fn a_slurm_array_task_computes_its_shard_and_records_where_it_ran() {
    let t = TestDir::new();
    t.write("ids.txt", ids(600));
    let plugin = plugin_lib("id_stats");
    Run::of(
        t.run(&plugin)
            .args(["ids", "ids.txt", "-o", "given.tsv", "--shard", "1/3"]),
    )
    .ok();
    let r = Run::of(
        t.run(&plugin)
            .args(["ids", "ids.txt", "-o", "task.tsv", "--store", "s.db"])
            .args(["--run-id", "survey-7"])
            .env("SLURM_ARRAY_TASK_ID", "1")
            .env("SLURM_ARRAY_TASK_COUNT", "3")
            .env("SLURM_ARRAY_JOB_ID", "5550")
            .env("SLURM_JOB_ID", "5551")
            .env("SLURMD_NODENAME", "node-a"),
    )
    .ok()
    .stderr_has("computing shard 1/3 (from SLURM_ARRAY_TASK_ID)")
    .stderr_has("--shard all computes every entity");
    drop(r);
    eqnice!(t.read("given.tsv"), t.read("task.tsv"));
    let runs = runs_list(&t);
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    for (column, value) in [
        ("shard", "1/3"),
        ("run_id", "survey-7"),
        ("scheduler", "slurm"),
        ("job_id", "5550"),
        ("task_id", "1"),
        ("host", "node-a"),
    ] {
        assert_eq!(run[column], value, "{column} in {run:?}");
    }
    // An array counted from 1 (--array=1-3): task 2 is shard 1.
    Run::of(
        t.run(&plugin)
            .args(["ids", "ids.txt", "-o", "from1.tsv"])
            .env("SLURM_ARRAY_TASK_ID", "2")
            .env("SLURM_ARRAY_TASK_MIN", "1")
            .env("SLURM_ARRAY_TASK_MAX", "3"),
    )
    .ok();
    eqnice!(t.read("given.tsv"), t.read("from1.tsv"));
    // A Kubernetes Indexed Job's pod, with the number of shards given.
    Run::of(
        t.run(&plugin)
            .args(["ids", "ids.txt", "-o", "k8s.tsv", "--shards", "3"])
            .env("JOB_COMPLETION_INDEX", "1"),
    )
    .ok()
    .stderr_has("computing shard 1/3 (from JOB_COMPLETION_INDEX)");
    eqnice!(t.read("given.tsv"), t.read("k8s.tsv"));
}

#[test]
fn a_rerun_of_a_shard_computes_only_what_it_misses() {
    let t = TestDir::new();
    t.write("ids.txt", ids(400));
    let plugin = plugin_lib("id_stats");
    let run = |shard: &str, report: &str| {
        Run::of(
            t.run(&plugin)
                .args(["ids", "ids.txt", "--store", "s.db", "-o", "out.tsv"])
                .args(["--shard", shard, "-r", report]),
        )
        .ok();
        let report = t.read(report);
        let field = |name: &str| -> u64 {
            let line = report
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .unwrap_or_else(|| panic!("no {name} in\n{report}"));
            line.parse().unwrap()
        };
        (field("n_units"), field("n_skipped"))
    };
    let (first, _) = run("0/2", "r1.yaml");
    assert!(first > 100 && first < 300, "{first}");
    // Again: nothing of shard 0 is left, and the other shard's entities are not
    // counted as skipped.
    assert_eq!(run("0/2", "r2.yaml"), (0, first));
    let (second, skipped) = run("1/2", "r3.yaml");
    assert_eq!((first + second, skipped), (400, 0));
    // Both shards done: a run of everything has nothing to compute.
    assert_eq!(run("all", "r4.yaml"), (0, 400));
    assert_eq!(t.read("out.tsv").lines().count(), 400);
}

#[test]
fn shards_that_cannot_be_told_are_clear_errors() {
    let t = TestDir::new();
    t.write("ids.txt", ids(10));
    let plugin = plugin_lib("id_stats");
    let refused = |args: &[&str], env: &[(&str, &str)], says: &str| {
        let mut c = t.run(&plugin);
        c.args(["ids", "ids.txt", "-o", "out.tsv"]).args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        Run::of(&mut c).code(2).stderr_has(says);
        assert!(!t.join("out.tsv").exists(), "{args:?}: outputs written");
    };
    refused(
        &["--shard", "4/4"],
        &[],
        "--shard 4/4: shard 4 of 4 does not exist: shards are numbered 0 to 3",
    );
    refused(
        &["--shard", "two"],
        &[],
        "write I/N, the 0-based shard I of N",
    );
    refused(&["--shard", "0/0"], &[], "N in I/N is at least 1");
    refused(
        &["--shard", "1/4", "--shards", "3"],
        &[],
        "--shard 1/4 and --shards 3 disagree",
    );
    refused(&["--shards", "3"], &[], "give --shard I/3 instead");
    refused(&[], &[("JOB_COMPLETION_INDEX", "2")], "add --shards N");
    refused(
        &[],
        &[
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ],
        "SLURM_ARRAY_TASK_ID: shard 7 of 4 does not exist",
    );
}
