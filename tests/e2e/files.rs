//! `files` mode: `**` recursive patterns and `--exclude`, sorted and streamed, also
//! through a run folder and `polyplug merge`.

use polyplug_e2e::{eqnice, Run, TestDir};

fn tree(t: &TestDir) {
    t.write(
        "size.py",
        "import os\nID = 'size'\nVERSION = '1'\nINPUT = 'a file'\nOUTPUT = ['bytes']\n\n\
         def compute(path, **kwargs):\n    return [os.path.getsize(path)], []\n",
    );
    for f in [
        "data/a.fa",
        "data/z.fa",
        "data/sub/b.fa",
        "data/sub/deep/c.fa",
        "data/sub/c.tmp.fa",
        "data/old/d.fa",
        "data/sub/notes.txt",
    ] {
        t.write(f, f);
    }
}

fn ids(results: &str) -> Vec<&str> {
    results
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect()
}

#[test]
fn recursive_patterns_with_excludes_give_the_files_sorted() {
    let t = TestDir::new();
    tree(&t);
    let all = Run::of(t.run("size.py").args(["files", "data/**/*.fa"]))
        .ok()
        .stdout;
    assert_eq!(
        ids(&all),
        [
            "data/a.fa",
            "data/old/d.fa",
            "data/sub/b.fa",
            "data/sub/c.tmp.fa",
            "data/sub/deep/c.fa",
            "data/z.fa"
        ]
    );
    assert!(all.contains("data/sub/deep/c.fa\t18\n"), "{all}");
    let some = Run::of(t.run("size.py").args([
        "files",
        "data/**/*.fa",
        "--exclude",
        "*.tmp.fa",
        "--exclude=data/old/**",
    ]))
    .ok()
    .stdout;
    assert_eq!(
        ids(&some),
        [
            "data/a.fa",
            "data/sub/b.fa",
            "data/sub/deep/c.fa",
            "data/z.fa"
        ]
    );
    // A path pattern's `*` stays within a folder.
    let deep = Run::of(
        t.run("size.py")
            .args(["files", "data/**/*.fa", "--exclude", "data/*/c*"]),
    )
    .ok()
    .stdout;
    assert_eq!(
        ids(&deep),
        [
            "data/a.fa",
            "data/old/d.fa",
            "data/sub/b.fa",
            "data/sub/deep/c.fa",
            "data/z.fa"
        ]
    );
    Run::of(
        t.run("size.py")
            .args(["files", "data/**/*.fa", "--exclude", "*.fa"]),
    )
    .code(2)
    .stderr_has("'data/**/*.fa'");
    Run::of(
        t.run("size.py")
            .args(["files", "data/**/*.fa", "--exclude", "[z"]),
    )
    .code(2)
    .stderr_has("bad glob pattern '[z'");
    t.write("ids.txt", "x\n");
    Run::of(
        t.run("size.py")
            .args(["ids", "ids.txt", "--exclude", "*.fa"]),
    )
    .code(2)
    .stderr_has("--exclude is for files mode");
}

#[test]
fn files_shards_in_a_run_folder_merge_into_the_single_run() {
    let t = TestDir::new();
    tree(&t);
    let args = ["files", "data/**/*", "--exclude", "*.txt"];
    Run::of(t.run("size.py").args(args).args(["-o", "single.tsv"])).ok();
    for i in 0..3 {
        Run::of(t.run("size.py").args(args).args([
            "--run-dir",
            "rd",
            "--shard",
            &format!("{i}/3"),
        ]))
        .ok();
    }
    assert!(
        t.read("rd/run.yaml").contains("exclude:"),
        "{}",
        t.read("rd/run.yaml")
    );
    Run::of(t.cmd().args(["merge", "rd"])).ok();
    eqnice!(t.read("single.tsv"), t.read("rd/results.tsv"));
}
