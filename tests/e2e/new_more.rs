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
        // The SDK comes from the binary (`polyplug sdk path`): no source tree needed.
        let path = format!(
            "{}:{}",
            polyplug_e2e::target_dir().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let status = Command::new("sh")
            .arg(t.join("my_plugin/build.sh"))
            .env_remove("POLYPLUG_SDK")
            .env("PATH", path)
            .env("POLYPLUG_CACHE", t.join("cache"))
            .status()
            .expect("run sh build.sh");
        assert!(status.success(), "build.sh failed");
        assert!(t.join("my_plugin/my_plugin.wasm").is_file());
    });
}

#[test]
fn the_sdk_comes_out_of_the_binary() {
    let t = TestDir::new();
    let first = Run::of(cmd(&t).args(["sdk", "path"])).ok().stdout;
    let dir = std::path::PathBuf::from(first.trim_end());
    assert!(dir.starts_with(t.join("cache")), "{}", dir.display());
    eqnice!(first, Run::of(cmd(&t).args(["sdk", "path"])).ok().stdout);
    for (inside, source) in [
        ("c/polyplug.h", "plugin-sdk/c/polyplug.h"),
        ("wasm/polyplug_wasm.h", "plugin-sdk/wasm/polyplug_wasm.h"),
        ("wasm/ABI.md", "plugin-sdk/wasm/ABI.md"),
        ("wasm/rust/src/lib.rs", "plugin-sdk/wasm/rust/src/lib.rs"),
        ("nim/polyplug.nim", "plugin-sdk/nim/polyplug.nim"),
        ("bash/polyplug.sh", "plugin-sdk/bash/polyplug.sh"),
        ("rust/polyplug-sdk/src/lib.rs", "plugin-sdk/rust/src/lib.rs"),
        ("rust/polyplug-sdk/README.md", "plugin-sdk/rust/README.md"),
        ("rust/polyplug-abi/src/lib.rs", "crates/abi/src/lib.rs"),
    ] {
        let got = std::fs::read(dir.join(inside)).unwrap_or_default();
        let want = std::fs::read(repo_root().join(source)).expect("the SDK source");
        assert!(got == want, "{inside} differs from {source}");
    }
    // Exported elsewhere, it builds a C plugin by hand.
    Run::of(cmd(&t).args(["sdk", "export", "mysdk"]))
        .ok()
        .stdout_has("the polyplug plugin SDK is in mysdk");
    t.write(
        "len.c",
        "#include \"polyplug.h\"\n#include <string.h>\n\
         static int32_t compute(void *s, const char *e, size_t n, const pp_call *c) {\n\
           (void)s; (void)e; pp_push_int(c, (int64_t)n); return PP_OK; }\n\
         static const char *out[] = {\"length\"};\n\
         static const pp_plugin p = {.abi_version = POLYPLUG_ABI_VERSION, \
           .struct_size = sizeof(pp_plugin), .id = \"len\", .version = \"1\", \
           .input = \"x\", .output = out, .n_output = 1, .compute = compute};\n\
         POLYPLUG_EXPORT const pp_plugin *polyplug_plugin(void) { return &p; }\n",
    );
    let status = Command::new("cc")
        .args([
            "-shared",
            "-fPIC",
            "-O1",
            "-I",
            "mysdk/c",
            "len.c",
            "-o",
            "liblen.so",
        ])
        .current_dir(t.path())
        .status()
        .expect("run cc");
    assert!(status.success());
    t.write("ids.txt", "abc\nde\n");
    let r = Run::of(cmd(&t).args(["run", "./liblen.so", "ids", "ids.txt"])).ok();
    eqnice!("abc\t3\nde\t2\n", r.stdout);
}

#[test]
fn new_rust_cargo_crate_builds_offline_and_runs() {
    let t = TestDir::new();
    Run::of(cmd(&t).args(["new", "rust", "--cargo", "my_crate"]))
        .ok()
        .stdout_has("my_crate/src/lib.rs");
    let toml = t.read("my_crate/Cargo.toml");
    assert!(toml.contains("crate-type = [\"cdylib\"]"), "{toml}");
    assert!(toml.contains("/rust/polyplug-sdk\" }"), "{toml}");
    let status = Command::new("cargo")
        .args(["build", "--release", "--offline", "-q"])
        .current_dir(t.join("my_crate"))
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("run cargo");
    assert!(status.success(), "cargo build of the skeleton failed");
    let r = Run::of(cmd(&t).current_dir(t.join("my_crate")).args([
        "run",
        "target/release/libmy_crate.so",
        "ids",
        "ids.txt",
        "-r",
        "r.yaml",
    ]))
    .ok();
    eqnice!(ROWS, r.stdout);
    Run::of(cmd(&t).args(["new", "c", "--cargo", "x"]))
        .code(2)
        .stderr_has("--cargo is for rust");
}

#[test]
fn the_rust_sdk_readme_plugin_compiles_and_runs() {
    let t = TestDir::new();
    let readme = std::fs::read_to_string(repo_root().join("plugin-sdk/rust/README.md"))
        .expect("the Rust SDK README");
    let code = readme
        .split("```rust\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a rust block");
    t.write("gc_count.rs", code);
    t.write("ids.txt", "ACGTGG\nAT\nGC!\n");
    t.write("p.yaml", "min_length: 3\n");
    let r = Run::of(cmd(&t).args([
        "run",
        "gc_count.rs",
        "ids",
        "ids.txt",
        "--params",
        "p.yaml",
        "-l",
        "log.tsv",
        "-r",
        "r.yaml",
    ]))
    .code(1)
    .stderr_has("gc_count: finalize: computed 1 sequences");
    eqnice!("ACGTGG\t6\t4\n", r.stdout);
    let log = t.read("log.tsv");
    assert!(
        log.contains("AT\tlength\tshorter than min_length 3"),
        "{log}"
    );
    assert!(
        log.contains("GC!\terror: a sequence cannot hold '!'"),
        "{log}"
    );
    t.write("g.fa", ">s1 x\nGGCC\nA\n");
    let r = Run::of(cmd(&t).args(["run", "gc_count.rs", "records", "fasta", "g.fa"])).ok();
    eqnice!("s1\t5\t4\n", r.stdout);
    // The main README's Rust example too.
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README");
    let code = readme
        .split("### In Rust")
        .nth(1)
        .and_then(|s| s.split("```rust\n").nth(1))
        .and_then(|rest| rest.split("```").next())
        .expect("the README's Rust example");
    t.write("readme_gc.rs", code);
    let r = Run::of(cmd(&t).args([
        "run",
        "readme_gc.rs",
        "ids",
        "ids.txt",
        "-l",
        "log2.tsv",
        "-r",
        "r.yaml",
        "-j1",
    ]))
    .code(1)
    .stderr_has("gc_count: finalize: computed 2 IDs");
    eqnice!("ACGTGG\t6\t4\nAT\t2\t0\n", r.stdout);
    assert!(t
        .read("log2.tsv")
        .contains("GC!\terror: an ID cannot hold '!'"));
}
