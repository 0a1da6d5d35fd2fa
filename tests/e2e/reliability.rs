//! Reliability: what a hostile user or a broken plugin must not be able to do to a run
//! (bad numbers, outputs that cannot be written, signals, IDs that would break a row,
//! plugins that print on stdout, an `-o` file that is not a results file).

use polyplug_e2e::{plugin_lib, Run, TestDir};
use std::process::{Command, Stdio};
use std::time::Duration;

fn testkit() -> std::path::PathBuf {
    plugin_lib("testkit")
}

#[test]
fn numbers_out_of_range_are_clear_errors() {
    let t = TestDir::new();
    t.write("ids.txt", "a\n");
    for (args, says) in [
        (
            &["--timeout", "1e20"][..],
            "--timeout 1e20: give a positive number of seconds",
        ),
        (
            &["--timeout", "0"],
            "--timeout 0: give a positive number of seconds",
        ),
        (
            &["--timeout", "-3"],
            "--timeout -3: give a positive number of seconds",
        ),
        (&["--jobs", "0"], "--jobs 0: give at least one worker"),
        (&["-j", "0"], "--jobs 0: give at least one worker"),
    ] {
        Run::of(
            t.run(t.write(
                "p.sh",
                "ID=p\nVERSION=1\nINPUT=x\nOUTPUT=( a )\ncompute() { echo 1; }\n",
            ))
            .args(["ids", "ids.txt"])
            .args(args),
        )
        .no_panic()
        .code(2)
        .stderr_has(says);
    }
}

#[test]
fn outputs_are_checked_before_any_work() {
    let t = TestDir::new();
    t.write("ids.txt", "a\nb\n");
    std::fs::create_dir(t.join("folder")).expect("mkdir");
    // A report that cannot be written is found before anything is computed.
    Run::of(
        t.run(testkit())
            .args(["ids", "ids.txt", "-o", "out.tsv", "-r", "folder"]),
    )
    .code(2)
    .stderr_has("folder: cannot write the report: it is a folder");
    assert!(
        !t.join("out.tsv").exists() || t.read("out.tsv").is_empty(),
        "nothing computed"
    );
    Run::of(t.run(testkit()).args([
        "ids",
        "ids.txt",
        "-o",
        "out.tsv",
        "-r",
        "no/such/dir/r.yaml",
    ]))
    .code(2)
    .stderr_has("no/such/dir/r.yaml: cannot write the report");
    assert!(
        !t.join("out.tsv").exists() || t.read("out.tsv").is_empty(),
        "nothing computed"
    );
}

#[test]
fn sigterm_stops_the_run_like_ctrl_c_and_exits_143() {
    let t = TestDir::new();
    let ids: String = (0..300).map(|i| format!("sleep{i}\n")).collect();
    t.write("ids.txt", &ids);
    let mut child = t
        .run(testkit())
        .args([
            "ids",
            "ids.txt",
            "-o",
            "out.tsv",
            "-r",
            "report.yaml",
            "-j1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start polyplug");
    std::thread::sleep(Duration::from_millis(600));
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.is_ok_and(|s| s.success()), "kill -TERM");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(143), "SIGTERM exits 143");
    let report = t.read("report.yaml");
    assert!(report.contains("comp_status: partial"), "{report}");
    assert!(report.contains("error_class: Interrupted"), "{report}");
    let rows = t.read("out.tsv").lines().count();
    assert!(rows > 0 && rows < 300, "{rows} rows");
    // The rerun computes the rest, each entity once.
    Run::of(
        t.run(testkit())
            .args(["ids", "ids.txt", "-o", "out.tsv", "-j2"]),
    )
    .ok();
    let mut seen: Vec<String> = t.read("out.tsv").lines().map(str::to_string).collect();
    let n = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!((n, seen.len()), (300, 300));
}

#[test]
fn ids_with_tab_newline_or_backslash_are_escaped_and_read_back() {
    let t = TestDir::new();
    for name in ["plain", "tab\there", "new\nline", "back\\slash", "cr\rhere"] {
        t.write(&format!("in/{name}"), "x");
    }
    let pattern = t.join("in/*").display().to_string();
    let run = || {
        Run::of(t.run(testkit()).args([
            "files", &pattern, "-o", "out.tsv", "-l", "log.tsv", "-r", "r.yaml",
        ]))
    };
    run().ok();
    let out = t.read("out.tsv");
    let dir = t.join("in").display().to_string();
    assert_eq!(out.lines().count(), 5, "one line per entity:\n{out}");
    for escaped in ["tab\\there", "new\\nline", "back\\\\slash", "cr\\rhere"] {
        assert!(
            out.contains(&format!("{dir}/{escaped}\t")),
            "{escaped} missing:\n{out}"
        );
    }
    assert!(
        t.read("log.tsv").lines().all(|l| l.starts_with(&dir)),
        "every log row starts with its entity"
    );
    // The results file is the skip list: nothing is computed again.
    run().ok();
    assert_eq!(t.read("out.tsv").lines().count(), 5);
    assert!(
        t.read("r.yaml").contains("n_skipped: 5"),
        "{}",
        t.read("r.yaml")
    );
}

#[test]
fn what_a_plugin_prints_on_stdout_never_mixes_with_the_results() {
    let t = TestDir::new();
    t.write("ids.txt", "a\nbb\n");
    let lib = t.compile_c(
        "noisy",
        r#"#include "polyplug.h"
#include <stdio.h>
#include <unistd.h>
static int32_t compute(void *s, const char *e, size_t len, const pp_call *c) {
    (void)s; (void)e;
    printf("printed by printf\n"); fflush(stdout);
    if (write(1, "written to fd 1\n", 16) < 0) return PP_ERROR;
    pp_push_int(c, (int64_t)len);
    return PP_OK;
}
static const char *const OUT[] = {"n"};
static const pp_plugin P = {
    .abi_version = POLYPLUG_ABI_VERSION, .struct_size = sizeof(pp_plugin),
    .id = "noisy", .version = "1", .input = "x",
    .output = OUT, .n_output = 1, .compute = compute,
};
POLYPLUG_EXPORT const pp_plugin *polyplug_plugin(void) { return &P; }
"#,
    );
    let r = Run::of(t.run(&lib).args(["ids", "ids.txt", "-r", "r.yaml"])).ok();
    assert_eq!(r.stdout, "a\t1\nbb\t2\n", "stdout holds the results only");
    assert!(r.stderr.contains("printed by printf"), "{}", r.stderr);
    assert!(r.stderr.contains("written to fd 1"), "{}", r.stderr);
}

#[test]
fn an_output_file_that_is_not_a_results_file_is_refused_before_any_work() {
    let t = TestDir::new();
    t.write("ids.txt", "a\nb\n");
    let garbage: Vec<u8> = (0..2000u32).map(|i| (i * 37 % 251) as u8).collect();
    t.write("bin.tsv", &garbage);
    Run::of(t.run(testkit()).args(["ids", "ids.txt", "-o", "bin.tsv"]))
        .code(2)
        .stderr_has("bin.tsv: line 1: not a results file");
    assert_eq!(
        std::fs::read(t.join("bin.tsv")).ok(),
        Some(garbage),
        "left as it was"
    );
    // Rows with fewer fields than OUTPUT are another plugin's (or no) results.
    t.write("other.tsv", "x\ty\tz\nw\n");
    Run::of(t.run(testkit()).args(["ids", "ids.txt", "-o", "other.tsv"]))
        .code(2)
        .stderr_has(
            "other.tsv: line 2: 1 field(s), a results row of plugin testkit has at least 3",
        );
    assert_eq!(t.read("other.tsv"), "x\ty\tz\nw\n");
}
