//! `polyplug slurm` and `polyplug k8s` refuse what cannot work before anything is
//! submitted or written, each with one error naming what to fix (no Slurm needed:
//! these stop before sbatch).

use polyplug_e2e::{Run, TestDir};

fn setup() -> TestDir {
    let t = TestDir::new();
    t.write("ids.txt", "a\nb\n");
    t.write(
        "p.py",
        "ID = 'p'\nVERSION = '1'\nINPUT = 'x'\nOUTPUT = ['n']\n\
         def compute(entity, **kw):\n    return [1], []\n",
    );
    t
}

fn submit(t: &TestDir, args: &[&str]) -> Run {
    Run::of(t.cmd().args(["slurm", "submit"]).args(args))
}

#[test]
fn slurm_submit_refuses_what_cannot_run() {
    let t = setup();
    submit(&t, &["p.py", "ids", "ids.txt", "--run-dir", "rd"])
        .code(2)
        .stderr_has("slurm submit needs --shards N");
    submit(&t, &["p.py", "ids", "ids.txt", "--shards", "4"])
        .code(2)
        .stderr_has("slurm submit needs --run-dir DIR");
    submit(
        &t,
        &[
            "p.py",
            "ids",
            "ids.txt",
            "--shards",
            "four",
            "--run-dir",
            "rd",
        ],
    )
    .code(2)
    .stderr_has("--shards four: give a whole number, e.g. --shards 100");
    submit(
        &t,
        &["p.py", "ids", "ids.txt", "--shards", "0", "--run-dir", "rd"],
    )
    .code(2)
    .stderr_has("--shards 0: give at least 1");
    submit(
        &t,
        &[
            "p.py",
            "ids",
            "ids.txt",
            "--shard",
            "1/4",
            "--run-dir",
            "rd",
        ],
    )
    .code(2)
    .stderr_has("each task is given its own --shard");
    submit(
        &t,
        &[
            "p.py",
            "ids",
            "ids.txt",
            "--shards",
            "4",
            "--run-dir",
            "rd",
            "--bogus",
        ],
    )
    .code(2)
    .stderr_has("the run arguments (p.py ids ids.txt --bogus) are not those of polyplug run");
    submit(
        &t,
        &[
            "missing.py",
            "ids",
            "ids.txt",
            "--shards",
            "4",
            "--run-dir",
            "rd",
        ],
    )
    .code(2)
    .stderr_has("missing.py");
    submit(
        &t,
        &[
            "p.py",
            "ids",
            "nope.txt",
            "--shards",
            "4",
            "--run-dir",
            "rd",
        ],
    )
    .code(2)
    .stderr_has("nope.txt: cannot read the IDs file");
    // Repeated IDs: found here, over the whole file, not by every task.
    t.write("twice.txt", "a\nb\nc\nb\n");
    submit(
        &t,
        &[
            "p.py",
            "ids",
            "twice.txt",
            "--shards",
            "4",
            "--run-dir",
            "rd",
        ],
    )
    .code(2)
    .stderr_has("\"b\" (lines 2, 4)")
    .stderr_has("--allow-duplicates");
    assert!(!t.join("rd").exists(), "nothing written");
    // A folder where shards ran already is another run's.
    Run::of(
        t.run("p.py")
            .args(["ids", "ids.txt", "--run-dir", "used", "--shard", "0/2"]),
    )
    .ok();
    submit(
        &t,
        &[
            "p.py",
            "ids",
            "ids.txt",
            "--shards",
            "2",
            "--run-dir",
            "used",
            "--dry-run",
        ],
    )
    .code(2)
    .stderr_has("/used: shards have run in it already (it has a run.yaml)");
    // A dry run writes the scripts but records no submission.
    let dry = submit(
        &t,
        &[
            "p.py",
            "ids",
            "ids.txt",
            "--shards",
            "2",
            "--run-dir",
            "dry",
            "--dry-run",
        ],
    )
    .ok();
    assert!(
        dry.stdout
            .contains("# what would be submitted (nothing was):"),
        "{}",
        dry.stdout
    );
    assert!(t.join("dry/slurm/shard.sh").is_file());
    assert!(!t.join("dry/slurm/submission.yaml").exists());
}

#[test]
fn slurm_status_and_resubmit_need_a_submitted_run_folder() {
    let t = setup();
    Run::of(t.cmd().args(["slurm", "status", "rd"]))
        .code(2)
        .stderr_has("run folder rd: it was not submitted with polyplug slurm submit");
    Run::of(
        t.run("p.py")
            .args(["ids", "ids.txt", "--run-dir", "rd", "--shard", "0/2"]),
    )
    .ok();
    Run::of(t.cmd().args(["slurm", "resubmit", "rd"]))
        .code(2)
        .stderr_has(
            "it was not submitted with polyplug slurm submit (it has no slurm/submission.yaml)",
        );
    t.write("rd/slurm/submission.yaml", "run_id: [unclosed\n");
    Run::of(t.cmd().args(["slurm", "status", "rd"]))
        .code(2)
        .stderr_has("rd/slurm/submission.yaml: damaged:");
}

#[test]
fn k8s_manifest_refuses_what_cannot_run() {
    let t = setup();
    let k8s = |args: &[&str]| Run::of(t.cmd().args(["k8s", "manifest"]).args(args));
    k8s(&["p.py", "ids", "ids.txt", "--image", "i", "--run-dir", "rd"])
        .code(2)
        .stderr_has("k8s manifest needs --shards N");
    k8s(&["p.py", "ids", "ids.txt", "--shards", "2", "--run-dir", "rd"])
        .code(2)
        .stderr_has("k8s manifest needs --image IMAGE");
    k8s(&["p.py", "ids", "ids.txt", "--shards", "2", "--image", "i"])
        .code(2)
        .stderr_has("k8s manifest needs --run-dir DIR");
    k8s(&[
        "p.py",
        "ids",
        "ids.txt",
        "--shards",
        "0",
        "--image",
        "i",
        "--run-dir",
        "rd",
    ])
    .code(2)
    .stderr_has("--shards 0");
    k8s(&[
        "p.py",
        "ids",
        "ids.txt",
        "--shards",
        "2",
        "--image",
        "i",
        "--run-dir",
        "rd",
        "--parallelism",
        "0",
    ])
    .code(2)
    .stderr_has("0 would start no pod");
    k8s(&[
        "p.py",
        "ids",
        "ids.txt",
        "--image",
        "i",
        "--run-dir",
        "rd",
        "--failed-only",
        "nowhere",
    ])
    .code(2)
    .stderr_has("run folder nowhere: it has no run.yaml");
    Run::of(
        t.run("p.py")
            .args(["ids", "ids.txt", "--run-dir", "rd", "--shard", "0/2"]),
    )
    .ok();
    k8s(&[
        "p.py",
        "ids",
        "ids.txt",
        "--shards",
        "3",
        "--image",
        "i",
        "--run-dir",
        "rd",
        "--failed-only",
        "rd",
    ])
    .code(2)
    .stderr_has("--shards 3, but the run folder's run has 2 shards");
    assert!(!t.path().read_dir().unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".yaml")));
}
