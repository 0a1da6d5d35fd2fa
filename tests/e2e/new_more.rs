//! `polyplug new` skeletons of the Python, Bash and WebAssembly loaders, each checked
//! and run as generated, like the Rust, C and Nim ones in `new.rs`.

use polyplug_e2e::{eqnice, repo_root, Run, TestDir};
use std::process::Command;

fn cmd(t: &TestDir) -> Command {
    let mut c = t.cmd();
    c.env("POLYPLUG_CACHE", t.join("cache"));
    c
}

/// The rows every skeleton gives for its sample IDs.
const ROWS: &str = "ACGT\t4\t2\nGGCCA\t5\t4\nhello\t5\t0\n";

/// Writes a skeleton, runs `prepare` in its folder (a build step, if any), checks it
/// against its definitions and runs it on its sample IDs, then with a parameter.
fn skeleton_runs(lang: &str, file: &str, prepare: impl FnOnce(&TestDir)) -> TestDir {
    let t = TestDir::new();
    let r = Run::of(cmd(&t).args(["new", lang, "my_plugin"])).ok();
    assert!(r.stdout.starts_with("created my_plugin"), "{}", r.stdout);
    let readme = t.read("my_plugin/README.md");
    assert!(
        readme.contains(&format!("polyplug run {file} ids ids.txt")),
        "{readme}"
    );
    prepare(&t);
    let dir = t.join("my_plugin");
    Run::of(
        cmd(&t)
            .current_dir(&dir)
            .args(["check", file, "attribute_definitions.yaml"]),
    )
    .ok()
    .stdout_has("ok: my_plugin 0.1.0");
    let r = Run::of(cmd(&t).current_dir(&dir).args([
        "run",
        file,
        "ids",
        "ids.txt",
        "-r",
        "report.yaml",
    ]))
    .ok();
    eqnice!(ROWS, r.stdout);
    t.write("my_plugin/params.yaml", "min_length: 5\n");
    let r = Run::of(cmd(&t).current_dir(&dir).args([
        "run",
        file,
        "ids",
        "ids.txt",
        "--params",
        "params.yaml",
        "-l",
        "log.tsv",
        "-r",
        "report.yaml",
    ]))
    .ok();
    eqnice!("GGCCA\t5\t4\nhello\t5\t0\n", r.stdout);
    eqnice!(
        "ACGT\tlength\t4 characters, below min_length 5\n",
        t.read("my_plugin/log.tsv")
    );
    t
}

#[test]
fn new_python_skeleton_runs() {
    skeleton_runs("python", "my_plugin.py", |_| {});
}

#[test]
fn new_bash_skeleton_runs() {
    let t = skeleton_runs("bash", "my_plugin.sh", |_| {});
    // initialize's state file is removed by finalize.
    let r = Run::of(cmd(&t).current_dir(t.join("my_plugin")).args([
        "run",
        "my_plugin.sh",
        "ids",
        "ids.txt",
        "-j2",
        "-r",
        "report.yaml",
    ]))
    .ok();
    eqnice!(ROWS, r.stdout);
}

#[test]
fn new_wasm_skeleton_builds_and_runs() {
    skeleton_runs("wasm", "my_plugin.wasm", |t| {
        let status = Command::new("sh")
            .arg(t.join("my_plugin/build.sh"))
            .env("POLYPLUG_SDK", repo_root().join("plugin-sdk"))
            .status()
            .expect("run sh build.sh");
        assert!(status.success(), "build.sh failed");
        assert!(t.join("my_plugin/my_plugin.wasm").is_file());
    });
}
