//! Nim plugins and single-file source plugins (.c, .nim, .rs) compiled on first use
//! into the per-user cache. Every test uses its own cache folder (POLYPLUG_CACHE), so
//! the first run of a source in a test always compiles it.

use polyplug_e2e::{eqnice, plugin_lib, repo_root, Run, TestDir};
use std::path::PathBuf;
use std::process::Command;

/// A polyplug command with a private cache inside the test folder.
fn cmd(t: &TestDir) -> Command {
    let mut c = t.cmd();
    c.env("POLYPLUG_CACHE", t.join("cache"))
        .env_remove("POLYPLUG_CC")
        .env_remove("POLYPLUG_NIM")
        .env_remove("POLYPLUG_RUSTC");
    c
}

fn nimkit() -> PathBuf {
    repo_root().join("tests/fixtures/nim/nimkit.nim")
}

const COMPILING: &str = "polyplug: compiling ";

#[test]
fn fas_stats_nim_gives_the_rows_of_rust_and_c() {
    let t = TestDir::new();
    let data = repo_root().join("examples-plugins/data");
    let r = Run::of(
        cmd(&t)
            .arg("run")
            .arg(repo_root().join("examples-plugins/nim/fas_stats.nim"))
            .arg("files")
            .arg(data.join("*.fas"))
            .arg("-r")
            .arg(t.join("report.yaml"))
            .arg("-j2"),
    )
    .ok()
    .stderr_has(COMPILING);
    let expected = format!(
        "{d}/at_rich.fas\t34\t0.058823529411764705\n\
         {d}/ecoli_fragment.fas\t159\t0.5471698113207547\n\
         {d}/phage_lambda_mini.fas\t200\t0.425\n",
        d = data.display()
    );
    eqnice!(expected, r.stdout);
    let report = t.read("report.yaml");
    assert!(report.contains("plugin_id: fas_stats_nim"), "{report}");
    // Byte for byte the rows of the Rust and C plugins.
    for lib in ["fas_stats_rust", "fas_stats_c"] {
        let native = Run::of(
            cmd(&t)
                .arg("run")
                .arg(plugin_lib(lib))
                .arg("files")
                .arg(data.join("*.fas"))
                .arg("-r")
                .arg(t.join("report.yaml")),
        )
        .ok();
        eqnice!(native.stdout, r.stdout);
    }

    // The parameter and the finalize logs, as in the other languages.
    t.write("params.yaml", "min_length: 100\n");
    let r = Run::of(
        cmd(&t)
            .arg("run")
            .arg(repo_root().join("examples-plugins/nim/fas_stats.nim"))
            .arg("files")
            .arg(data.join("*.fas"))
            .arg("--params")
            .arg(t.join("params.yaml"))
            .arg("-l")
            .arg(t.join("log.tsv"))
            .arg("-r")
            .arg(t.join("report.yaml"))
            .arg("--serial"),
    )
    .ok()
    .stderr_has("finalize: processed 3 files, 393 sequence letters");
    assert!(
        !r.stderr.contains(COMPILING),
        "second run recompiled:\n{}",
        r.stderr
    );
    eqnice!(
        format!(
            "{d}/ecoli_fragment.fas\t159\t0.5471698113207547\n\
             {d}/phage_lambda_mini.fas\t200\t0.425\n",
            d = data.display()
        ),
        r.stdout
    );
    eqnice!(
        format!(
            "{}/at_rich.fas\tgenome_size\t34 letters, below min_length 100\n",
            data.display()
        ),
        t.read("log.tsv")
    );
}

#[test]
fn nim_plugin_with_state_parameters_and_exceptions() {
    let t = TestDir::new();
    t.write("ids.txt", "a\nraise\nb\ndefect\nnone\nc\n");
    let r = Run::of(cmd(&t).arg("run").arg(nimkit()).args([
        "ids",
        "ids.txt",
        "--serial",
        "-l",
        "log.tsv",
        "-r",
        "report.yaml",
    ]))
    .code(1)
    .no_panic()
    .stderr_has("finalize: calls=6 seen=a,raise,b,defect,none,c");
    // The state counts calls across entities of the worker; failing entities do not
    // stop the run, and the instance goes on.
    eqnice!("a\tid:a\t1.5\nb\tid:b\t4.5\nc\tid:c\t9.0\n", r.stdout);
    let log = t.read("log.tsv");
    let expected_log = "a\tcalls\t1\n\
         raise\terror: ValueError: cannot compute 'raise'\n\
         b\tcalls\t3\n\
         defect\terror: IndexDefect: index 9 not in 0 .. 1\n\
         none\tnote\tno result for none\n\
         c\tcalls\t6\n";
    eqnice!(expected_log, log);
    let report = t.read("report.yaml");
    assert!(report.contains("n_failed: 2"), "{report}");

    // Every parameter type crosses the boundary typed.
    t.write(
        "params.yaml",
        "prefix: \"x-\"\nfactor: 2\nloud: true\nstart: 10\ntags: [red, 7, 1.5]\n",
    );
    t.write("ids2.txt", "a\nparam\n");
    let r = Run::of(cmd(&t).arg("run").arg(nimkit()).args([
        "ids",
        "ids2.txt",
        "--serial",
        "--params",
        "params.yaml",
        "-l",
        "log2.tsv",
        "-r",
        "report.yaml",
    ]))
    .ok();
    eqnice!("a\tX-A\t22.0\nparam\tred+7+1.5\t5\n", r.stdout);

    // Many entities on two host threads: each worker has its own Nim state, and the
    // results come out in input order.
    let ids: String = (0..3000).map(|i| format!("e{i}\n")).collect();
    t.write("many.txt", &ids);
    let r = Run::of(cmd(&t).arg("run").arg(nimkit()).args([
        "ids",
        "many.txt",
        "-j2",
        "-l",
        "log3.tsv",
        "-r",
        "report.yaml",
    ]))
    .ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3000);
    for (i, line) in lines.iter().enumerate() {
        assert!(line.starts_with(&format!("e{i}\tid:e{i}\t")), "{line}");
    }
}

#[test]
fn nim_initialize_exception_is_a_clear_error() {
    let t = TestDir::new();
    t.write("ids.txt", "a\n");
    t.write("params.yaml", "prefix: fail-init\n");
    Run::of(cmd(&t).arg("run").arg(nimkit()).args([
        "ids",
        "ids.txt",
        "--params",
        "params.yaml",
        "-r",
        "report.yaml",
    ]))
    .code(2)
    .no_panic()
    .stderr_has("nimkit.nim: initialize failed: ValueError: initialize refused the prefix");
}

#[test]
fn nim_plugin_found_by_id_in_the_plugins_folder() {
    let t = TestDir::new();
    let src = std::fs::read_to_string(nimkit()).expect("fixture");
    t.write("plugins/nimkit.nim", &src);
    t.write("ids.txt", "a\n");
    let r = Run::of(cmd(&t).args(["run", "nimkit", "ids", "ids.txt", "-r", "report.yaml"])).ok();
    eqnice!("a\tid:a\t1.5\n", r.stdout);
    let r = Run::of(cmd(&t).arg("list")).ok();
    assert!(
        r.stdout.contains("nimkit")
            && r.stdout.contains("nim ")
            && r.stdout.contains("plugins/nimkit.nim"),
        "{}",
        r.stdout
    );
    let r = Run::of(cmd(&t).args(["info", "nimkit"])).ok();
    assert!(
        r.stdout.contains("LANGUAGE:       nim")
            && r.stdout.contains("tags (list, no default)")
            && r.stdout
                .contains("FUNCTIONS:      initialize, compute, finalize"),
        "{}",
        r.stdout
    );
}

const C_V1: &str = r#"#include "polyplug.h"
static const char *OUTPUT[] = {"v"};
static int32_t compute(void *s, const char *e, size_t n, const pp_call *c) {
    (void)s; (void)e; (void)n;
    pp_push_int(c, VALUE);
    return PP_OK;
}
static const pp_plugin P = {
    .abi_version = POLYPLUG_ABI_VERSION, .struct_size = sizeof(pp_plugin),
    .id = "edited", .version = "1", .input = "any", .output = OUTPUT, .n_output = 1,
    .compute = compute,
};
POLYPLUG_EXPORT const pp_plugin *polyplug_plugin(void) { return &P; }
"#;

#[test]
fn edited_source_is_recompiled_and_unchanged_source_is_not() {
    let t = TestDir::new();
    t.write("ids.txt", "x\n");
    let run = |t: &TestDir| {
        Run::of(cmd(t).args(["run", "edited.c", "ids", "ids.txt", "-r", "report.yaml"])).ok()
    };
    t.write("edited.c", format!("#define VALUE 1\n{C_V1}"));
    let r = run(&t).stderr_has(COMPILING);
    eqnice!("x\t1\n", r.stdout);
    let r = run(&t);
    assert!(!r.stderr.contains(COMPILING), "{}", r.stderr);
    eqnice!("x\t1\n", r.stdout);
    t.write("edited.c", format!("#define VALUE 2\n{C_V1}"));
    let r = run(&t).stderr_has(COMPILING);
    eqnice!("x\t2\n", r.stdout);
    // Back to the first version: its library is still in the cache.
    t.write("edited.c", format!("#define VALUE 1\n{C_V1}"));
    let r = run(&t);
    assert!(!r.stderr.contains(COMPILING), "{}", r.stderr);
    eqnice!("x\t1\n", r.stdout);
}

#[test]
fn edited_nim_source_is_recompiled() {
    let t = TestDir::new();
    t.write("ids.txt", "x\n");
    let nim = |v: &str| {
        format!(
            "import polyplug\nconst\n  ID* = \"ed\"\n  VERSION* = \"1\"\n  INPUT* = \"any\"\n  \
             OUTPUT* = [\"v\"]\nproc compute(entity: string, params: Params): Computed =\n  \
             result.add {v}\nexportPlugin()\n"
        )
    };
    t.write("ed.nim", nim("\"first\""));
    let r = Run::of(cmd(&t).args(["run", "ed.nim", "ids", "ids.txt", "-r", "r.yaml"]))
        .ok()
        .stderr_has(COMPILING);
    eqnice!("x\tfirst\n", r.stdout);
    t.write("ed.nim", nim("\"second\""));
    let r = Run::of(cmd(&t).args(["run", "ed.nim", "ids", "ids.txt", "-r", "r.yaml"]))
        .ok()
        .stderr_has(COMPILING);
    eqnice!("x\tsecond\n", r.stdout);
}

#[test]
fn c_syntax_error_shows_the_compiler_message_and_the_source() {
    let t = TestDir::new();
    t.write("ids.txt", "x\n");
    t.write(
        "broken.c",
        "#include \"polyplug.h\"\nint f(void) { return 1 }\n",
    );
    let r = Run::of(cmd(&t).args(["run", "broken.c", "ids", "ids.txt"]))
        .code(2)
        .no_panic()
        .stderr_has("polyplug: broken.c: compile error (c plugin broken.c")
        // gcc's and clang's own message, with the line.
        .stderr_has("broken.c:2:");
    assert!(r.stderr.contains("error"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}

#[test]
fn nim_syntax_error_shows_the_compiler_message_and_the_source() {
    let t = TestDir::new();
    t.write("ids.txt", "x\n");
    t.write(
        "bad.nim",
        "import polyplug\nconst ID* = \"bad\"\nproc compute(entity: string = \n",
    );
    Run::of(cmd(&t).args(["check", "bad.nim"]))
        .code(1)
        .no_panic()
        .stdout_has("error: bad.nim: compile error (nim plugin bad.nim")
        .stdout_has("bad.nim(4, 1) Error: invalid indentation");
    // A missing constant is reported by the Nim compiler at the exportPlugin line.
    t.write(
        "noout.nim",
        "import polyplug\nconst\n  ID* = \"x\"\n  VERSION* = \"1\"\n  INPUT* = \"any\"\n\
         proc compute(entity: string, params: Params): Computed = discard\nexportPlugin()\n",
    );
    Run::of(cmd(&t).args(["run", "noout.nim", "ids", "ids.txt"]))
        .code(2)
        .stderr_has("noout.nim(7, ")
        .stderr_has("OUTPUT");
}

#[test]
fn missing_compilers_say_what_to_install() {
    let t = TestDir::new();
    t.write("ids.txt", "x\n");
    t.write("p.c", format!("#define VALUE 1\n{C_V1}"));
    t.write("p.nim", "import polyplug\n");
    t.write("p.rs", "fn main() {}\n");
    Run::of(
        cmd(&t)
            .env("CC", "/nonexistent/bin/cc")
            .args(["run", "p.c", "ids", "ids.txt"]),
    )
    .code(2)
    .no_panic()
    .stderr_has("p.c: cannot compile this c plugin: the c compiler `/nonexistent/bin/cc` (from CC) was not found")
    .stderr_has("apt-get install gcc");
    Run::of(
        cmd(&t)
            .env("POLYPLUG_NIM", "/nonexistent/nim")
            .args(["build", "p.nim"]),
    )
    .code(1)
    .stderr_has("p.nim: cannot compile this nim plugin: the nim compiler `/nonexistent/nim` (from POLYPLUG_NIM) was not found")
    .stderr_has("apt-get install nim");
    // No compiler on PATH at all.
    Run::of(
        cmd(&t)
            .env("PATH", t.join("empty-bin"))
            .env_remove("CC")
            .env_remove("RUSTC")
            .args(["check", "p.rs"]),
    )
    .code(1)
    .stdout_has("the rust compiler `rustc` was not found")
    .stdout_has("https://rustup.rs");
}

#[test]
fn build_compiles_ahead_of_time_and_run_reuses_it() {
    let t = TestDir::new();
    t.write("ids.txt", "a\n");
    let r = Run::of(cmd(&t).arg("build").arg(nimkit()))
        .ok()
        .stderr_has(COMPILING);
    assert!(
        r.stdout.starts_with("compiled nimkit 2.5: ") && r.stdout.contains("/cache/build/lib"),
        "{}",
        r.stdout
    );
    let r = Run::of(cmd(&t).arg("build").arg(nimkit())).ok();
    assert!(
        r.stdout.starts_with("up to date nimkit 2.5: "),
        "{}",
        r.stdout
    );
    assert!(!r.stderr.contains(COMPILING), "{}", r.stderr);
    let r = Run::of(
        cmd(&t)
            .arg("run")
            .arg(nimkit())
            .args(["ids", "ids.txt", "-r", "report.yaml"]),
    )
    .ok();
    assert!(!r.stderr.contains(COMPILING), "{}", r.stderr);
    eqnice!("a\tid:a\t1.5\n", r.stdout);
    // --force recompiles; -o copies the library, which then loads as a native plugin.
    let r = Run::of(
        cmd(&t)
            .args(["build", "--force", "-o", "libnimkit.so"])
            .arg(nimkit()),
    )
    .ok()
    .stderr_has(COMPILING);
    assert!(
        r.stdout.starts_with("compiled nimkit 2.5: "),
        "{}",
        r.stdout
    );
    let r = Run::of(cmd(&t).args(["run", "./libnimkit.so", "ids", "ids.txt", "-r", "r.yaml"])).ok();
    eqnice!("a\tid:a\t1.5\n", r.stdout);
    // Nothing to build for a library.
    Run::of(cmd(&t).args(["build", "libnimkit.so"]))
        .code(1)
        .stderr_has("libnimkit.so: not a source plugin, nothing to build");
    // The SDK sources were written into the cache from the binary.
    let sdk = std::fs::read_dir(t.join("cache/sdk"))
        .expect("sdk folder")
        .filter_map(|e| e.ok())
        .find(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .expect("one sdk version")
        .path();
    assert!(sdk.join("c/polyplug.h").is_file());
    assert!(sdk.join("nim/polyplug.nim").is_file());
}

#[test]
fn concurrent_builds_of_one_source_share_the_cache() {
    let t = TestDir::new();
    t.write("ids.txt", "x\n");
    t.write("same.c", format!("#define VALUE 7\n{C_V1}"));
    let children: Vec<_> = (0..4)
        .map(|_| {
            cmd(&t)
                .args(["build", "same.c"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn polyplug")
        })
        .collect();
    let mut compiled = 0;
    for c in children {
        let out = c.wait_with_output().expect("wait");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if stdout.starts_with("compiled ") {
            compiled += 1;
        } else {
            assert!(stdout.starts_with("up to date "), "{stdout}");
        }
    }
    // The lock lets one process compile; the others wait and reuse its library.
    assert_eq!(compiled, 1);
    let leftovers: Vec<_> = std::fs::read_dir(t.join("cache/build"))
        .expect("build folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let r = Run::of(cmd(&t).args(["run", "same.c", "ids", "ids.txt", "-r", "r.yaml"])).ok();
    eqnice!("x\t7\n", r.stdout);
}

#[test]
fn single_file_rust_plugin_compiles_offline_with_rustc() {
    let t = TestDir::new();
    t.write("ids.txt", "abc\npanic\n");
    t.write(
        "lenrs.rs",
        r#"use polyplug_sdk::{export_plugin, Error, Output, Params, Plugin};
pub struct Len;
impl Plugin for Len {
    const ID: &'static str = "lenrs";
    const VERSION: &'static str = "1";
    const INPUT: &'static str = "any";
    const OUTPUT: &'static [&'static str] = &["length"];
    fn initialize(_p: &Params) -> Result<Self, Error> { Ok(Len) }
    fn compute(&mut self, e: &str, _p: &Params, out: &mut Output) -> Result<(), Error> {
        if e == "panic" { panic!("no panics across the boundary"); }
        out.push(e.len() as i64);
        Ok(())
    }
}
export_plugin!(Len);
"#,
    );
    let r = Run::of(cmd(&t).args([
        "run", "lenrs.rs", "ids", "ids.txt", "-l", "log.tsv", "-r", "r.yaml",
    ]))
    .code(1)
    .stderr_has(COMPILING);
    eqnice!("abc\t3\n", r.stdout);
    assert!(
        t.read("log.tsv").starts_with("panic\terror: "),
        "{}",
        t.read("log.tsv")
    );
    // A Rust compile error names the file and line, as rustc does.
    t.write(
        "bad.rs",
        "use polyplug_sdk::Plugin;\nfn f() -> u8 { \"x\" }\n",
    );
    Run::of(cmd(&t).args(["build", "bad.rs"]))
        .code(1)
        .stderr_has("bad.rs: compile error (rust plugin bad.rs")
        .stderr_has("bad.rs:2:")
        .stderr_has("can use std and polyplug_sdk only");
}

#[test]
fn timeout_is_refused_for_compiled_sources_run_in_process() {
    // In a worker process (the default) a time limit works; in the polyplug process,
    // nothing can stop the plugin.
    let t = TestDir::new();
    t.write("ids.txt", "x\n");
    t.write("p.c", format!("#define VALUE 1\n{C_V1}"));
    Run::of(cmd(&t).args(["run", "p.c", "ids", "ids.txt", "--timeout", "5"])).ok();
    Run::of(cmd(&t).args([
        "run",
        "p.c",
        "ids",
        "ids.txt",
        "--timeout",
        "5",
        "--in-process",
    ]))
    .code(2)
    .stderr_has("--timeout cannot stop a compiled plugin");
}

#[test]
fn cache_folder_follows_xdg_then_home() {
    let t = TestDir::new();
    t.write("ids.txt", "x\n");
    t.write("p.c", format!("#define VALUE 3\n{C_V1}"));
    let r = Run::of(
        t.cmd()
            .env_remove("POLYPLUG_CACHE")
            .env("XDG_CACHE_HOME", t.join("xdg"))
            .args(["build", "p.c"]),
    )
    .ok();
    assert!(
        r.stdout
            .contains(&format!("{}/xdg/polyplug/build/libp-", t.path().display())),
        "{}",
        r.stdout
    );
    let r = Run::of(
        t.cmd()
            .env_remove("POLYPLUG_CACHE")
            .env_remove("XDG_CACHE_HOME")
            .env("HOME", t.join("home"))
            .args(["build", "p.c"]),
    )
    .ok();
    assert!(
        r.stdout.contains(&format!(
            "{}/home/.cache/polyplug/build/libp-",
            t.path().display()
        )),
        "{}",
        r.stdout
    );
    // An unwritable cache is an error naming the folder and the fix.
    t.write("file-not-folder", "");
    Run::of(
        t.cmd()
            .env("POLYPLUG_CACHE", t.join("file-not-folder"))
            .args(["run", "p.c", "ids", "ids.txt"]),
    )
    .code(2)
    .stderr_has("cannot create the cache folder")
    .stderr_has("set POLYPLUG_CACHE to a writable folder");
}

#[test]
fn sandbox_options_are_refused_for_compiled_sources() {
    // A source plugin is a native plugin once compiled: no sandbox to grant folders
    // in or to cap. The option is refused before anything is compiled.
    let t = TestDir::new();
    t.write("ids.txt", "x\n");
    t.write("p.c", format!("#define VALUE 1\n{C_V1}"));
    for extra in [
        &["--allow-dir", "."][..],
        &["--fuel", "1000"],
        &["--wasm-memory", "64"],
    ] {
        Run::of(cmd(&t).args(["run", "p.c", "ids", "ids.txt"]).args(extra))
            .code(2)
            .stderr_has(&format!(
                "p.c: {} only apply to WebAssembly plugins",
                extra[0]
            ))
            .stderr_has("a compiled plugin runs unsandboxed with your rights; remove them");
    }
    assert!(!t.join("cache/build").exists(), "nothing was compiled");
}

#[test]
fn every_cache_lives_under_polyplug_cache_dir() {
    // One variable for every cache (POLYPLUG_CACHE, the older name, still works: the
    // other tests of this file use it).
    let t = TestDir::new();
    t.write("p.c", format!("#define VALUE 3\n{C_V1}"));
    let r = Run::of(
        cmd(&t)
            .env_remove("POLYPLUG_CACHE")
            .env("POLYPLUG_CACHE_DIR", t.join("one"))
            .args(["build", "p.c"]),
    )
    .ok();
    assert!(
        r.stdout
            .contains(&format!("{}/one/build/libp-", t.path().display())),
        "{}",
        r.stdout
    );
    // The new name wins over the old one, and a bad one names itself in the fix.
    t.write("file-not-folder", "");
    Run::of(
        cmd(&t)
            .env("POLYPLUG_CACHE_DIR", t.join("file-not-folder"))
            .args(["build", "--force", "p.c"]),
    )
    .code(1)
    .stderr_has("set POLYPLUG_CACHE_DIR to a writable folder");
}
