//! `polyplug new <language> <name>`: every skeleton is checked and run as generated.
//! (Python, Bash and WebAssembly skeletons are tested in `new_pending.rs`, enabled
//! with their loaders.)

use polyplug_e2e::{eqnice, Run, TestDir};
use std::process::Command;

fn cmd(t: &TestDir) -> Command {
    let mut c = t.cmd();
    c.env("POLYPLUG_CACHE", t.join("cache"));
    c
}

/// The rows every skeleton gives for its sample IDs.
const ROWS: &str = "ACGT\t4\t2\nGGCCA\t5\t4\nhello\t5\t0\n";

/// Writes a skeleton, checks it against its definitions, runs it on its sample IDs
/// (in its folder, as its README says) and with a parameter.
fn skeleton_runs(lang: &str, file: &str) {
    let t = TestDir::new();
    let r = Run::of(cmd(&t).args(["new", lang, "my_plugin"])).ok();
    assert!(r.stdout.starts_with("created my_plugin"), "{}", r.stdout);
    let readme = t.read("my_plugin/README.md");
    assert!(
        readme.contains(&format!("polyplug run {file} ids ids.txt")),
        "{readme}"
    );
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
        "-j1",
    ]))
    .ok()
    .stderr_has("finalize: computed 3 entities");
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
    // From a plugins folder, by ID.
    std::fs::create_dir_all(t.join("plugins")).expect("mkdir");
    std::fs::copy(dir.join(file), t.join("plugins").join(file)).expect("copy");
    let r = Run::of(cmd(&t).args([
        "run",
        "my_plugin",
        "ids",
        "my_plugin/ids.txt",
        "-r",
        "report.yaml",
    ]))
    .ok();
    eqnice!(ROWS, r.stdout);
}

#[test]
fn new_rust_skeleton_builds_and_runs() {
    skeleton_runs("rust", "my_plugin.rs");
}

#[test]
fn new_c_skeleton_builds_and_runs() {
    skeleton_runs("c", "my_plugin.c");
}

#[test]
fn new_nim_skeleton_builds_and_runs() {
    skeleton_runs("nim", "my_plugin.nim");
}

#[test]
fn new_refuses_bad_names_and_existing_folders() {
    let t = TestDir::new();
    Run::of(cmd(&t).args(["new", "c", "my-plugin"]))
        .code(2)
        .stderr_has("'my-plugin' cannot be a plugin name: use letters, digits and _");
    Run::of(cmd(&t).args(["new", "c", "p1"])).ok();
    Run::of(cmd(&t).args(["new", "nim", "p1"]))
        .code(2)
        .stderr_has("p1: already exists");
    Run::of(cmd(&t).args(["new", "cobol", "p2"]))
        .code(2)
        .stderr_has("invalid value 'cobol'");
    Run::of(cmd(&t).args(["new", "nim", "p3", "--dir", "elsewhere/p3"])).ok();
    assert!(t.join("elsewhere/p3/p3.nim").is_file());
}
