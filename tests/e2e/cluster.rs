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
    .stderr_has("hashes to it; --shard all computes every entity");
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

/// A Python plugin whose entity `sample_00007` fails while the file `flaky` exists.
const FLAKY_PY: &str = "import os\nID = 'flaky_len'\nVERSION = '1.0'\nINPUT = 'an ID'\n\
OUTPUT = ['length']\n\ndef compute(entity, **kwargs):\n    \
if entity == 'sample_00007' and os.path.exists('flaky'):\n        \
raise ValueError('not today')\n    return [len(entity) * 2], ['seen ' + entity]\n";

#[test]
fn shards_in_a_run_folder_merge_into_the_single_run() {
    let t = TestDir::new();
    // With IDs that are written escaped (a backslash) among them.
    let escaped: String = (0..20).map(|i| format!("back\\slash_{i}\n")).collect();
    t.write("ids.txt", ids(2980) + &escaped);
    let plugin = plugin_lib("id_stats");
    Run::of(t.run(&plugin).args(["ids", "ids.txt", "-o", "single.tsv"])).ok();
    // Four shards side by side, as the tasks of an array would run.
    let mut children: Vec<_> = (0..4)
        .map(|i| {
            t.run(&plugin)
                .args([
                    "ids",
                    "ids.txt",
                    "--run-dir",
                    "rd",
                    "--shard",
                    &format!("{i}/4"),
                ])
                .args(["--run-id", "survey-1"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in &mut children {
        assert!(c.wait().unwrap().success());
    }
    let manifest = t.read("rd/run.yaml");
    assert!(
        manifest.contains("run_id: survey-1") && manifest.contains("shards: 4"),
        "{manifest}"
    );
    Run::of(t.cmd().args(["merge", "rd"]))
        .ok()
        .stderr_has("merged from 4 of 4 shards of run survey-1: 3000 rows into rd/results.tsv");
    // Byte for byte the rows of the single run, in input order.
    eqnice!(t.read("single.tsv"), t.read("rd/results.tsv"));
    let report = t.read("rd/report.yaml");
    for field in [
        "n_units: 3000\n",
        "n_failed: 0\n",
        "comp_status: completed\n",
    ] {
        assert!(report.contains(field), "{field:?} not in\n{report}");
    }
    // A shard of another run is refused before any work.
    t.write("other.txt", ids(10));
    Run::of(
        t.run(&plugin)
            .args(["ids", "other.txt", "--run-dir", "rd", "--shard", "0/4"]),
    )
    .code(2)
    .stderr_has("run folder rd: it holds another run (id_stats 1.0 over")
    .stderr_has("give this run its own --run-dir");
    Run::of(
        t.run(&plugin)
            .args(["ids", "ids.txt", "--run-dir", "rd", "-o", "x.tsv"]),
    )
    .code(2)
    .stderr_has("cannot be used with");
}

#[test]
fn a_merge_waits_for_every_shard_and_takes_rows_a_rerun_appended() {
    let t = TestDir::new();
    t.write("ids.txt", ids(40));
    let plugin = t.write("flaky_len.py", FLAKY_PY);
    Run::of(
        t.run(&plugin)
            .args(["ids", "ids.txt", "-o", "single.tsv", "-l", "single.log"]),
    )
    .ok();
    let shard_of_7 = (0..3)
        .find(|i| {
            let r = Run::of(t.run(&plugin).args([
                "ids",
                "ids.txt",
                "-o",
                "probe.tsv",
                "--shard",
                &format!("{i}/3"),
            ]))
            .ok();
            drop(r);
            let hit = t.read("probe.tsv").contains("sample_00007\t");
            std::fs::remove_file(t.join("probe.tsv")).unwrap();
            hit
        })
        .expect("sample_00007 in a shard");
    // Every shard but one; the one with sample_00007 fails it.
    let missing = (shard_of_7 + 1) % 3;
    t.write("flaky", "");
    for i in (0..3).filter(|i| *i != missing) {
        let shard = format!("{i}/3");
        let r =
            Run::of(
                t.run(&plugin)
                    .args(["ids", "ids.txt", "--run-dir", "rd", "--shard", &shard]),
            );
        assert_eq!(r.code, if i == shard_of_7 { 1 } else { 0 }, "{}", r.stderr);
    }
    Run::of(t.cmd().args(["merge", "rd"]))
        .code(2)
        .stderr_has(&format!(
            "1 of 3 shards did not finish ({missing} (not started))"
        ))
        .stderr_has("--run-dir rd --shard I/3");
    Run::of(t.cmd().args(["merge", "rd", "--partial"]))
        .ok()
        .stderr_has(&format!("shards [{missing}] had not finished"));
    assert!(t.read("rd/report.yaml").contains("comp_status: partial\n"));
    // The missing shard, and a rerun of the failed entity's shard: its row comes last
    // in that shard's file, and the merge still puts it in input order.
    std::fs::remove_file(t.join("flaky")).unwrap();
    for i in [missing, shard_of_7] {
        let shard = format!("{i}/3");
        Run::of(
            t.run(&plugin)
                .args(["ids", "ids.txt", "--run-dir", "rd", "--shard", &shard]),
        )
        .ok();
    }
    let shard_rows = t.read(&format!("rd/shard-{shard_of_7}/results.tsv"));
    assert!(
        shard_rows
            .lines()
            .last()
            .unwrap()
            .starts_with("sample_00007\t"),
        "{shard_rows}"
    );
    Run::of(t.cmd().args(["merge", "rd"])).ok();
    eqnice!(t.read("single.tsv"), t.read("rd/results.tsv"));
    // Every shard's log is in the merged one.
    let log = t.read("rd/log.tsv");
    for i in 0..40 {
        assert!(
            log.contains(&format!("sample_{i:05}\tseen sample_{i:05}\n")),
            "{i}"
        );
    }
    assert!(
        log.contains("sample_00007\terror: ValueError: not today"),
        "{log}"
    );
    // Outputs given as bare file names land in the working folder.
    Run::of(
        t.cmd()
            .args(["merge", "rd", "-o", "merged.tsv", "-r", "merged.yaml"]),
    )
    .ok();
    eqnice!(t.read("single.tsv"), t.read("merged.tsv"));
    assert!(t.read("merged.yaml").contains("comp_status: completed\n"));
    // A run folder none of whose shards wrote a report: named, and nothing written.
    std::fs::create_dir(t.join("empty")).unwrap();
    std::fs::copy(t.join("rd/run.yaml"), t.join("empty/run.yaml")).unwrap();
    Run::of(t.cmd().args(["merge", "empty", "--partial"]))
        .code(2)
        .stderr_has("run folder empty: no shard wrote a report: there is nothing to merge");
    assert!(!t.join("empty/results.tsv").exists());
    Run::of(t.cmd().args(["merge", "nowhere"]))
        .code(2)
        .stderr_has("run folder nowhere: it has no run.yaml: it is not a run folder");
}

#[test]
fn two_shards_of_one_run_share_a_store_at_once_but_one_shard_runs_once() {
    let t = TestDir::new();
    t.write("ids.txt", ids(200));
    t.write(
        "slow.py",
        "import time\nID = 'slow'\nVERSION = '1'\nINPUT = 'an ID'\nOUTPUT = ['length']\n\n\
         def compute(entity, **kwargs):\n    time.sleep(0.02)\n    return [len(entity)], []\n",
    );
    let start = |shard: &str, out: &str| {
        t.run("slow.py")
            .args([
                "ids", "ids.txt", "-j1", "--store", "s.db", "--shard", shard, "-o", out,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = start("0/2", "a.tsv");
    std::thread::sleep(std::time::Duration::from_millis(700));
    // The same shard again, while the first still runs: refused.
    Run::of(t.run("slow.py").args([
        "ids", "ids.txt", "-j1", "--store", "s.db", "--shard", "0/2", "-o", "c.tsv",
    ]))
    .code(2)
    .stderr_has("the same run is already going on");
    // Another shard of the same run: its own run of the lock.
    let other = Run::of(t.run("slow.py").args([
        "ids", "ids.txt", "-j1", "--store", "s.db", "--shard", "1/2", "-o", "b.tsv",
    ]))
    .ok();
    assert!(
        !other.stderr.contains("already going on"),
        "{}",
        other.stderr
    );
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = t.read("a.tsv").lines().count() + t.read("b.tsv").lines().count();
    assert_eq!(rows, 200);
}
