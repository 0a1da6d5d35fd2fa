//! Reliability: what a hostile user or a broken plugin must not be able to do to a run
//! (bad numbers, outputs that cannot be written, signals, IDs that would break a row,
//! plugins that print on stdout, an `-o` file that is not a results file).

use polyplug_e2e::{plugin_lib, polyplug_bin, Run, TestDir};
use std::path::Path;
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

#[test]
fn the_same_run_started_twice_does_not_compute_twice() {
    let t = TestDir::new();
    let ids: String = (0..60).map(|i| format!("sleep{i}\n")).collect();
    t.write("ids.txt", &ids);
    let mut first = t
        .run(testkit())
        .args(["ids", "ids.txt", "-o", "out.tsv", "-j1", "--store", "s.db"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start polyplug");
    std::thread::sleep(Duration::from_millis(700));
    let second = Run::of(
        t.run(testkit())
            .args(["ids", "ids.txt", "-o", "out.tsv", "-j1", "--store", "s.db"]),
    );
    let status = first.wait().expect("wait");
    second.code(2).stderr_has(&format!(
        "out.tsv: another polyplug run (process {}) is appending to this file; wait until it \
         ends, or give another -o file",
        first.id()
    ));
    assert!(status.success());
    assert_eq!(t.read("out.tsv").lines().count(), 60, "each entity once");
}

/// The processes whose working folder is the test's (workers inherit it).
fn processes_in(t: &TestDir) -> Vec<String> {
    let me = std::process::id().to_string();
    let dir = std::fs::canonicalize(t.path()).expect("canonical test dir");
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if !pid.chars().all(|c| c.is_ascii_digit()) || pid == me {
            continue;
        }
        if std::fs::read_link(e.path().join("cwd")).is_ok_and(|cwd| cwd == dir) {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            found.push(format!(
                "{pid}: {}",
                String::from_utf8_lossy(&cmd).replace('\0', " ")
            ));
        }
    }
    found
}

/// Starts a run of `plugin` with two workers busy for ever, kills it with SIGKILL once
/// its workers compute, and checks that nothing of it is left a second later.
fn killed_parent_leaves_nothing(t: &TestDir, plugin: &str) {
    t.write("ids.txt", "a\nb\nc\nd\n");
    let mut child = t
        .run(plugin)
        .args(["ids", "ids.txt", "-o", "out.tsv", "-j2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start polyplug");
    let parent = child.id();
    // Wait until both workers compute (each compute leaves a started-<entity> file).
    let computing = || {
        std::fs::read_dir(t.path())
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("started-"))
                    .count()
            })
            .unwrap_or(0)
    };
    let mut waited = 0;
    while computing() < 2 && waited < 200 {
        std::thread::sleep(Duration::from_millis(50));
        waited += 1;
    }
    assert_eq!(
        computing(),
        2,
        "both workers compute: {:?}",
        processes_in(t)
    );
    let _ = child.kill();
    let _ = child.wait();
    std::thread::sleep(Duration::from_millis(1000));
    let left = processes_in(t);
    assert!(left.is_empty(), "processes left behind: {left:?}");
    let folders: Vec<String> = std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("polyplug-bash-{parent}-")))
                .collect()
        })
        .unwrap_or_default();
    assert!(folders.is_empty(), "folders left behind: {folders:?}");
}

#[test]
fn a_killed_run_leaves_no_python_worker_behind() {
    let t = TestDir::new();
    t.write(
        "busy.py",
        "ID = 'busy'\nVERSION = '1'\nINPUT = 'x'\nOUTPUT = ['n']\n\
         def compute(entity, **kw):\n    open('started-' + entity, 'w').close()\n    while True:\n        pass\n",
    );
    killed_parent_leaves_nothing(&t, "busy.py");
}

#[test]
fn a_killed_run_leaves_no_bash_worker_or_folder_behind() {
    let t = TestDir::new();
    // The compute also starts a child of its own, which must go too.
    t.write(
        "busy.sh",
        "ID=busy\nVERSION=1\nINPUT=x\nOUTPUT=( n )\n\
         compute() { : > \"started-$1\"; sleep 300 & while :; do :; done; }\n",
    );
    killed_parent_leaves_nothing(&t, "busy.sh");
    // The next run sweeps folders that runs killed earlier left (none here, but the
    // sweep must not touch those of live processes: this one's run works).
    t.write(
        "ok.sh",
        "ID=ok\nVERSION=1\nINPUT=x\nOUTPUT=( n )\ncompute() { echo 1; }\n",
    );
    Run::of(t.run("ok.sh").args(["ids", "ids.txt"])).ok();
}

/// A C plugin whose compute does what its entity names: `segv`, `abort`, `exit`,
/// `stack` (overflow), `fpe`, `kill` (itself, SIGKILL), `loop` or `spin` (for ever); any other
/// entity gives its length.
const FAULTS_C: &str = r#"
#include "polyplug.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#pragma GCC diagnostic ignored "-Winfinite-recursion"
static int deep(int n) { volatile char pad[4096]; pad[0] = (char)n; return deep(n + 1) + pad[0]; }
static int32_t compute(void *s, const char *e, size_t len, const pp_call *c) {
    (void)s;
    if (len >= 4 && memcmp(e, "segv", 4) == 0) { *(volatile int *)0 = 1; }
    if (len >= 5 && memcmp(e, "abort", 5) == 0) { abort(); }
    if (len >= 4 && memcmp(e, "exit", 4) == 0) { exit(3); }
    if (len >= 5 && memcmp(e, "stack", 5) == 0) { pp_push_int(c, deep(0)); return PP_OK; }
    if (len >= 3 && memcmp(e, "fpe", 3) == 0) { volatile int a = 7, z = 0; pp_push_int(c, a / z); return PP_OK; }
    if (len >= 4 && memcmp(e, "kill", 4) == 0) { kill(getpid(), SIGKILL); }
    if (len >= 4 && (memcmp(e, "loop", 4) == 0 || memcmp(e, "spin", 4) == 0)) { for (;;) {} }
    pp_push_int(c, (int64_t)len);
    return PP_OK;
}
static const char *const OUT[] = {"n"};
static const pp_plugin P = {
    .abi_version = POLYPLUG_ABI_VERSION, .struct_size = sizeof(pp_plugin),
    .id = "faults", .version = "1", .input = "a fault to commit",
    .output = OUT, .n_output = 1, .compute = compute,
};
POLYPLUG_EXPORT const pp_plugin *polyplug_plugin(void) { return &P; }
"#;

#[test]
fn a_crashing_native_plugin_costs_one_entity_never_the_run() {
    let t = TestDir::new();
    let lib = t.compile_c("faults", FAULTS_C);
    faults_cost_their_entity_only(
        &t,
        &lib,
        &[
            (
                "segv",
                "killed by signal 11 while computing this entity (SIGSEGV",
            ),
            (
                "abort",
                "killed by signal 6 while computing this entity (SIGABRT",
            ),
            ("exit", "exited with status 3 while computing this entity"),
            (
                "stack",
                "killed by signal 6 while computing this entity (SIGABRT: the plugin aborted, \
                 or overflowed its stack)",
            ),
            (
                "fpe",
                "killed by signal 8 while computing this entity (SIGFPE",
            ),
            (
                "kill",
                "killed by signal 9 while computing this entity (SIGKILL",
            ),
            (
                "loop",
                "killed by signal 14 at the time limit: the compute took longer than 2 s \
                 (--timeout); the worker was replaced",
            ),
        ],
    );
}

/// The faults a native plugin can commit, with what the log must say of each.
const NATIVE_FAULTS: [(&str, &str); 5] = [
    (
        "segv",
        "killed by signal 11 while computing this entity (SIGSEGV",
    ),
    (
        "abort",
        "killed by signal 6 while computing this entity (SIGABRT",
    ),
    (
        "stack",
        "(SIGABRT: the plugin aborted, or overflowed its stack)",
    ),
    ("exit", "exited with status 3 while computing this entity"),
    (
        "loop",
        "at the time limit: the compute took longer than 2 s (--timeout)",
    ),
];

#[test]
fn a_crashing_rust_plugin_costs_one_entity_never_the_run() {
    let t = TestDir::new();
    faults_cost_their_entity_only(&t, &plugin_lib("testkit"), &NATIVE_FAULTS);
}

/// A Nim source plugin committing the same faults.
const FAULTS_NIM: &str = r#"import polyplug
import std/strutils

const
  ID* = "nimfaults"
  VERSION* = "1"
  INPUT* = "a fault to commit"
  OUTPUT* = ["n"]

proc c_abort() {.importc: "abort", header: "<stdlib.h>".}

proc deep(n: int): int =
  var pad: array[4096, byte]
  pad[0] = byte(n and 255)
  result = deep(n + 1) + int(pad[0])

proc compute(entity: string, params: Params): Computed =
  if entity.startsWith("segv"):
    let p = cast[ptr int](0)
    p[] = 1
  if entity.startsWith("abort"): c_abort()
  if entity.startsWith("stack"): result.add deep(0)
  if entity.startsWith("exit"): quit(3)
  if entity.startsWith("loop"):
    var i = 0
    while true: inc i
  result.add entity.len

exportPlugin()
"#;

#[test]
fn a_crashing_nim_plugin_costs_one_entity_never_the_run() {
    let t = TestDir::new();
    let nim = t.write("plugins/nimfaults.nim", FAULTS_NIM);
    // Nim's runtime catches SIGSEGV itself, before the guard-page check that tells a
    // stack overflow: the overflow ends as the segmentation fault it is.
    let mut faults = NATIVE_FAULTS;
    faults[2].1 = "killed by signal 11 while computing this entity (SIGSEGV";
    faults_cost_their_entity_only(&t, &nim, &faults);
}

#[test]
fn in_process_keeps_the_plugin_in_polyplug_with_its_risk() {
    let t = TestDir::new();
    let lib = t.compile_c("faults", FAULTS_C);
    t.write("ids.txt", "ok\nsegv\n");
    let r = Run::of(t.run(&lib).args(["ids", "ids.txt", "--in-process"]));
    assert_eq!(r.code, -1, "the segfault ends polyplug itself (a signal)");
    Run::of(
        t.run(&lib)
            .args(["ids", "ids.txt", "--in-process", "--timeout", "1"]),
    )
    .code(2)
    .stderr_has("--timeout cannot stop a native plugin: it runs inside the polyplug process");
}

const ECHO_C: &str = r#"
#include "polyplug.h"
static int32_t compute(void *s, const char *e, size_t len, const pp_call *c) {
    (void)s;
    pp_push_strn(c, e, len);
    pp_push_int(c, (int64_t)len);
    return PP_OK;
}
static const char *const OUT[] = {"echo", "n"};
static const pp_plugin P = {
    .abi_version = POLYPLUG_ABI_VERSION, .struct_size = sizeof(pp_plugin),
    .id = "echo", .version = "1", .input = "anything",
    .output = OUT, .n_output = 2, .compute = compute,
};
POLYPLUG_EXPORT const pp_plugin *polyplug_plugin(void) { return &P; }
"#;

#[test]
fn ids_larger_than_the_worker_pipe_travel_whole() {
    // Batches of 100 KB IDs, echoed back: frames both ways exceed what fits in the
    // pipes to and from a worker. The host keeps the unanswered ones within the
    // pipe's room (or sends one alone), so neither side waits on the other for ever,
    // and every row comes back whole, in order.
    let t = TestDir::new();
    let lib = t.compile_c("echo", ECHO_C);
    let ids: Vec<String> = (0..60)
        .map(|i| {
            format!(
                "{}{i}",
                "GC".repeat(if i % 3 == 0 { 50_000 } else { 4_000 })
            )
        })
        .collect();
    t.write("ids.txt", ids.join("\n") + "\n");
    for jobs in ["1", "2"] {
        let r = Run::within(
            t.run(&lib).args(["ids", "ids.txt", "-j", jobs]),
            Duration::from_secs(60),
        )
        .ok();
        let rows: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(rows.len(), ids.len(), "jobs {jobs}");
        for (row, id) in rows.iter().zip(&ids) {
            let want = format!("{id}\t{id}\t{}", id.len());
            assert!(
                *row == want,
                "jobs {jobs}: a row differs (length {})",
                row.len()
            );
        }
    }
}

const DEFAULT_LIMIT: &str =
    "the default limit; give more with --timeout SECONDS, or lift it with --timeout none";

#[test]
fn nothing_hangs_for_ever_by_default() {
    // The default per-entity limit (600 s) is set to 1 s here with POLYPLUG_TIMEOUT,
    // as a site would: a compute that never returns fails at it, in every kind of
    // plugin that can be stopped, and the run goes on.
    let t = TestDir::new();
    let native = t.compile_c("faults", FAULTS_C);
    let python = polyplug_e2e::repo_root().join("tests/fixtures/python/slow.py");
    let bash = t.write(
        "hang.sh",
        "ID=hang\nVERSION=1\nINPUT=x\nOUTPUT=( n )\ncompute() {\n  \
         [[ $1 == spin ]] && while :; do :; done\n  echo 1\n}\n",
    );
    t.write("ids.txt", "0.1\nspin\n0.2\n");
    for (plugin, says) in [
        (
            &native,
            "killed by signal 14 at the time limit: the compute took longer than 1 s",
        ),
        (&python, "TimeoutError: compute took longer than 1 s"),
        (&bash, "compute timed out after 1s"),
    ] {
        let log = t.join("log.tsv");
        let _ = std::fs::remove_file(&log);
        let r = Run::within(
            t.run(plugin)
                .args(["ids", "ids.txt", "-j1", "-l"])
                .arg(&log)
                .env("POLYPLUG_TIMEOUT", "1"),
            Duration::from_secs(60),
        )
        .code(1)
        .stderr_has("1 failed (see the log)");
        assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
        let log = t.read("log.tsv");
        let line = log
            .lines()
            .find(|l| l.starts_with("spin\terror: "))
            .unwrap_or_else(|| panic!("{}: no error for spin:\n{log}", plugin.display()));
        assert!(
            line.contains(says) && line.contains(DEFAULT_LIMIT),
            "{line}"
        );
    }
    // `--timeout none` lifts it: a compute of 1.5 s finishes.
    t.write("ids.txt", "1.5\n");
    let r = Run::of(
        t.run(&python)
            .args(["ids", "ids.txt", "--timeout", "none"])
            .env("POLYPLUG_TIMEOUT", "1"),
    )
    .ok();
    assert_eq!(r.stdout, "1.5\t1.5\n");
    // A default that makes no sense is an error before any work.
    Run::of(
        t.run(&python)
            .args(["ids", "ids.txt"])
            .env("POLYPLUG_TIMEOUT", "soon"),
    )
    .code(2)
    .stderr_has("POLYPLUG_TIMEOUT=soon: give a positive number of seconds (or none)");
}

#[test]
fn what_a_plugin_starts_ends_with_its_worker() {
    // A Python plugin leaves a `sleep` behind when its worker crashes, when its
    // compute overruns the time limit (in Python, and stuck in C, where the worker is
    // killed), and when its worker ends normally: none of them outlives the run (each
    // lived in the worker's process group).
    let t = TestDir::new();
    t.write(
        "spawner.py",
        r#"import hashlib, os, subprocess, time
ID = 'spawner'
VERSION = '1'
INPUT = 'x'
OUTPUT = ['n']
def initialize(**kw):
    subprocess.Popen(['sleep', '301'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def compute(entity, **kw):
    subprocess.Popen(['sleep', '302'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if entity == 'crash':
        os._exit(3)
    if entity == 'hang':
        time.sleep(1000)
    if entity == 'stuck':
        hashlib.pbkdf2_hmac('sha256', b'x', b's', 10**9)
    return [1], []
"#,
    );
    t.write("ids.txt", "a\ncrash\nb\nhang\nc\nstuck\nd\n");
    let r = Run::within(
        t.run("spawner.py")
            .args(["ids", "ids.txt", "-j1", "--timeout", "1", "-l", "log.tsv"]),
        Duration::from_secs(60),
    )
    .code(1)
    .stderr_has("3 failed (see the log)");
    assert_eq!(r.stdout, "a\t1\nb\t1\nc\t1\nd\t1\n");
    std::thread::sleep(Duration::from_millis(300));
    let left = processes_in(&t);
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn a_broken_library_says_what_is_wrong_with_it() {
    let t = TestDir::new();
    let good = std::fs::read(t.compile_c("faults", FAULTS_C)).expect("read the library");
    let ids = t.write("ids.txt", "a\n");
    // A library named without a folder is the file in the current folder, not one
    // in the system's library path.
    t.write("libgood.so", &good);
    let r = Run::of(t.run("libgood.so").arg("ids").arg(&ids).arg("--no-store")).ok();
    assert_eq!(r.stdout, "a\t1\n");
    let refused = |name: &str, says: &str| {
        Run::of(t.run(name).arg("ids").arg(&ids))
            .code(2)
            .no_panic()
            .stderr_has(&format!("{name}: cannot load as a shared library: {says}"));
    };
    // Cut anywhere, from inside the ELF header to past every loaded segment (dlopen
    // would map such a file and die of SIGBUS, or say only "file too short").
    let cuts = [10, 64, 1000, good.len() / 2, good.len() - 1];
    for n in cuts {
        t.write(&format!("libcut{n}.so"), &good[..n]);
        refused(
            &format!("libcut{n}.so"),
            &format!("it is truncated: {n} bytes, where "),
        );
    }
    t.write("libtext.so", "#!/bin/sh\necho hello\n");
    refused(
        "libtext.so",
        "it is not a shared library (no ELF header: it starts with \"#!/b\")",
    );
    let mut other = good.clone();
    other[18] = 0xb7; // e_machine: aarch64 (or x86_64 on an aarch64 host)
    if cfg!(target_arch = "aarch64") {
        other[18] = 62;
    }
    t.write("libother.so", &other);
    refused("libother.so", "it is built for ");
    let mut exec = good.clone();
    exec[16] = 2; // e_type: ET_EXEC
    t.write("libexec.so", &exec);
    refused(
        "libexec.so",
        "it is a program, not a shared library: link it with -shared",
    );
    // What only dlopen can tell, it tells: here a library it needs is missing.
    t.compile_c("needed", "int needed(void) { return 1; }\n");
    let user = t.write(
        "user.c",
        "int needed(void);\nint polyplug_plugin(void) { return needed(); }\n",
    );
    let status = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(t.join("libuser.so"))
        .arg(&user)
        .arg("-L")
        .arg(t.path())
        .arg("-lneeded")
        .status()
        .expect("run cc");
    assert!(status.success());
    std::fs::remove_file(t.join("libneeded.so")).expect("remove libneeded.so");
    refused(
        "libuser.so",
        "libneeded.so: cannot open shared object file: No such file or directory",
    );
}

/// A Python plugin whose entities fail as they say: `bad*` always, `flakyN` on its
/// first N attempts (counted in files), `crash1` kills its worker on the first attempt.
const FLAKY_PY: &str = r#"import os
ID = 'flaky'
VERSION = '1'
INPUT = 'x'
OUTPUT = ['n']
def compute(entity, **kw):
    if entity.startswith('bad'):
        raise ValueError('bad entity ' + entity)
    if entity.startswith('flaky'):
        f = 'tries-' + entity
        t = int(open(f).read()) if os.path.exists(f) else 0
        open(f, 'w').write(str(t + 1))
        if t < int(entity[5:]):
            raise RuntimeError('try %d fails' % (t + 1))
    if entity == 'crash1' and not os.path.exists('crashed'):
        open('crashed', 'w').close()
        os._exit(3)
    return [len(entity)], []
"#;

#[test]
fn retries_compute_a_failed_entity_again_and_the_log_keeps_every_attempt() {
    let t = TestDir::new();
    t.write("flaky.py", FLAKY_PY);
    t.write("ids.txt", "a\nflaky2\ncrash1\nbad1\nb\n");
    let r = Run::of(t.run("flaky.py").args([
        "ids",
        "ids.txt",
        "-j1",
        "--retries",
        "2",
        "-l",
        "log.tsv",
        "--no-store",
    ]))
    .code(1)
    .stderr_has("1 failed (see the log)");
    assert_eq!(r.stdout, "a\t1\nflaky2\t6\ncrash1\t6\nb\t1\n");
    let log = t.read("log.tsv");
    for line in [
        "flaky2\tattempt 1 of 3 failed: RuntimeError: try 1 fails",
        "flaky2\tattempt 2 of 3 failed: RuntimeError: try 2 fails",
        "crash1\tattempt 1 of 3 failed: the Python worker process (pid ",
        "bad1\tattempt 1 of 3 failed: ValueError: bad entity bad1",
        "bad1\tattempt 2 of 3 failed: ValueError: bad entity bad1",
        "bad1\terror: ValueError: bad entity bad1",
    ] {
        assert!(log.contains(line), "no {line:?} in the log:\n{log}");
    }
    assert!(log.contains("(attempt 3 of 3)"), "{log}");
    assert!(!log.contains("flaky2\terror"), "{log}");
    assert_eq!(t.read("tries-flaky2"), "3");
    // Without --retries each of them fails once.
    for f in ["tries-flaky2", "crashed"] {
        std::fs::remove_file(t.join(f)).expect("remove the attempt counter");
    }
    let r = Run::of(
        t.run("flaky.py")
            .args(["ids", "ids.txt", "-j1", "--no-store"]),
    )
    .code(1)
    .stderr_has("3 failed (see the log)");
    assert_eq!(r.stdout, "a\t1\nb\t1\n");
    // A native plugin that crashes every time: each attempt in a fresh worker.
    let native = t.compile_c("faults", FAULTS_C);
    t.write("ids.txt", "x\nsegv\ny\n");
    let r = Run::of(t.run(&native).args([
        "ids",
        "ids.txt",
        "--retries",
        "1",
        "-l",
        "log.tsv",
        "--no-store",
    ]))
    .code(1)
    .stderr_has("1 failed (see the log)");
    assert_eq!(r.stdout, "x\t1\ny\t1\n");
    let log = t.read("log.tsv");
    assert!(
        log.contains("segv\tattempt 1 of 2 failed: the native worker process (pid ")
            && log.contains("killed by signal 11 while computing this entity"),
        "{log}"
    );
}

#[test]
fn max_failures_and_halt_on_error_stop_the_run_and_say_where() {
    let t = TestDir::new();
    t.write("flaky.py", FLAKY_PY);
    let mut ids: Vec<String> = (0..10).map(|i| format!("good{i}")).collect();
    ids.extend((1..=5).map(|i| format!("bad{i}")));
    ids.extend((10..400).map(|i| format!("good{i}")));
    t.write("ids.txt", ids.join("\n") + "\n");
    Run::of(t.run("flaky.py").args([
        "ids",
        "ids.txt",
        "-j1",
        "--max-failures",
        "3",
        "-o",
        "out.tsv",
        "-r",
        "r.yaml",
    ]))
    .code(1)
    .stderr_has("the run was stopped by --max-failures 3 at the failure of \"bad3\" (see the log)");
    let report = t.read("r.yaml");
    assert!(
        report.contains("stopped_by: '--max-failures 3'")
            && report.contains("stopped_at: bad3")
            && report.contains("comp_status: partial"),
        "{report}"
    );
    let first = t.read("out.tsv").lines().count();
    assert!(first < 400, "the run went on: {first} rows");
    // A rerun computes the rest, each entity once.
    Run::of(
        t.run("flaky.py")
            .args(["ids", "ids.txt", "-j1", "-o", "out.tsv"]),
    )
    .code(1)
    .stderr_has(" failed (see the log)");
    let out = t.read("out.tsv");
    assert_eq!(out.lines().count(), 400, "{out}");
    // A share: every other entity fails; judged from 100 entities on.
    let ids: Vec<String> = (0..300)
        .map(|i| {
            if i % 2 == 0 {
                format!("bad{i}")
            } else {
                format!("ok{i}")
            }
        })
        .collect();
    t.write("half.txt", ids.join("\n") + "\n");
    Run::of(t.run("flaky.py").args([
        "ids",
        "half.txt",
        "-j1",
        "--max-failures",
        "40%",
        "--no-store",
    ]))
    .code(1)
    .stderr_has("stopped by --max-failures 40% at the failure of \"bad100\"");
    // --halt-on-error says the same of the first failure.
    Run::of(
        t.run("flaky.py")
            .args(["ids", "half.txt", "-j1", "--halt-on-error", "--no-store"]),
    )
    .code(1)
    .stderr_has("the run was stopped by --halt-on-error at the failure of \"bad0\" (see the log)")
    .stderr_has("the entities after it were not computed: rerun to compute them");
    for bad in ["0", "0%", "101%", "x", "-3", "5%%"] {
        Run::of(
            t.run("flaky.py")
                .args(["ids", "half.txt", "--max-failures", bad]),
        )
        .code(2)
        .stderr_has(&format!(
            "--max-failures {bad}: give a number of entities (at least 1) or a percentage"
        ));
    }
}

#[test]
fn max_memory_fails_the_entity_that_allocates_too_much() {
    // Each plugin allocates 2 GiB for `hog` and nothing much otherwise; under
    // --max-memory 100 only `hog` fails, named as out of memory, and the run goes on.
    let t = TestDir::new();
    let python = t.write(
        "hog.py",
        "ID = 'hog'\nVERSION = '1'\nINPUT = 'x'\nOUTPUT = ['n']\n\
         def compute(entity, **kw):\n    if entity == 'hog':\n        x = bytearray(2 << 30)\n\
         \x20   return [1], []\n",
    );
    let native = t.compile_c(
        "hog",
        r#"
#include "polyplug.h"
#include <stdlib.h>
#include <string.h>
static int32_t compute(void *s, const char *e, size_t len, const pp_call *c) {
    (void)s;
    if (len == 3 && memcmp(e, "hog", 3) == 0) {
        char *p = malloc((size_t)2 << 30);
        if (!p) return pp_error(c, "malloc of 2 GiB failed");
        memset(p, 1, (size_t)2 << 30);
        pp_push_int(c, p[12345]);
        free(p);
        return PP_OK;
    }
    pp_push_int(c, 1);
    return PP_OK;
}
static const char *const OUT[] = {"n"};
static const pp_plugin P = {
    .abi_version = POLYPLUG_ABI_VERSION, .struct_size = sizeof(pp_plugin),
    .id = "hog", .version = "1", .input = "x", .output = OUT, .n_output = 1,
    .compute = compute,
};
POLYPLUG_EXPORT const pp_plugin *polyplug_plugin(void) { return &P; }
"#,
    );
    let bash = t.write(
        "hog.sh",
        "ID=hog\nVERSION=1\nINPUT=x\nOUTPUT=( n )\ncompute() {\n  \
         if [[ $1 == hog ]]; then python3 -c 'x = bytearray(2 << 30)' || return 1; fi\n  \
         echo 1\n}\n",
    );
    t.write("ids.txt", "a\nhog\nb\n");
    for (plugin, says) in [
        (
            &python,
            "hog\terror: out of memory: the worker is limited to 100 MiB (--max-memory); \
             MemoryError",
        ),
        (&native, "hog\terror: malloc of 2 GiB failed"),
        (
            &bash,
            "hog\terror: compute exited with status 1: MemoryError",
        ),
    ] {
        let log = t.join("log.tsv");
        let _ = std::fs::remove_file(&log);
        let r = Run::within(
            t.run(plugin)
                .args([
                    "ids",
                    "ids.txt",
                    "-j1",
                    "--no-store",
                    "--max-memory",
                    "100",
                    "-l",
                ])
                .arg(&log),
            Duration::from_secs(60),
        )
        .code(1)
        .stderr_has("1 failed (see the log)");
        assert_eq!(r.stdout, "a\t1\nb\t1\n", "{}", plugin.display());
        let log = t.read("log.tsv");
        assert!(log.contains(says), "{}: {log}", plugin.display());
    }
    // What makes it out of memory is the exception's type, not its text: a plugin's
    // own exception named like it is its own failure.
    let own = t.write(
        "own.py",
        "ID = 'own'\nVERSION = '1'\nINPUT = 'x'\nOUTPUT = ['n']\n\
         class MemoryErrorInMyParser(Exception):\n    pass\n\
         class Big(MemoryError):\n    pass\n\
         def compute(entity, **kw):\n    if entity == 'hog':\n        raise MemoryErrorInMyParser('bad')\n\
         \x20   if entity == 'b':\n        raise Big('too big')\n\
         \x20   return [1], []\n",
    );
    let log = t.join("own.tsv");
    Run::of(
        t.run(&own)
            .args([
                "ids",
                "ids.txt",
                "-j1",
                "--no-store",
                "--max-memory",
                "100",
                "-l",
            ])
            .arg(&log),
    )
    .code(1);
    let log = t.read("own.tsv");
    assert!(
        log.contains("hog\terror: MemoryErrorInMyParser: bad"),
        "{log}"
    );
    assert!(
        log.contains("b\terror: out of memory: the worker is limited to 100 MiB (--max-memory); Big: too big"),
        "{log}"
    );
    // Without the limit the same entity computes (the machine has the memory): the
    // limit, not the plugin, failed it.
    let r = Run::of(t.run(&python).args(["ids", "ids.txt", "-j1", "--no-store"])).ok();
    assert_eq!(r.stdout, "a\t1\nhog\t1\nb\t1\n");
    // Inside the polyplug process nothing can be limited: refused, not ignored.
    for plugin in [&python, &native] {
        Run::of(t.run(plugin).args([
            "ids",
            "ids.txt",
            "--in-process",
            "-j1",
            "--max-memory",
            "100",
        ]))
        .code(2)
        .stderr_has("--max-memory cannot");
    }
    Run::of(t.run(&python).args(["ids", "ids.txt", "--max-memory", "0"]))
        .code(2)
        .stderr_has("--max-memory 0: give a positive number of MiB");
}

#[test]
fn duplicate_ids_are_refused_before_any_work_or_computed_once() {
    let t = TestDir::new();
    let lib = t.compile_c("faults", FAULTS_C);
    let mut ids: Vec<String> = (0..20_000).map(|i| format!("id{i}")).collect();
    ids.push("id7".into());
    ids.push("id19999".into());
    ids.push("id7".into());
    t.write("ids.txt", ids.join("\n") + "\n");
    let r = Run::of(t.run(&lib).args(["ids", "ids.txt", "-o", "out.tsv"]))
        .code(2)
        .stderr_has(
            "ids.txt: 2 IDs appear more than once: \"id7\" (lines 8, 20001, 20003), \
             \"id19999\" (lines 20000, 20002); polyplug computes each entity once: remove \
             the repeats (sort -u, say), or give --allow-duplicates to compute each of them \
             once",
        );
    assert_eq!(r.stdout, "");
    assert!(!t.join("polyplug.db").exists() || !t.read("out.tsv").contains("id"));
    // Many repeats: the first five are listed, and how many more.
    let many: Vec<String> = (0..8)
        .flat_map(|i| [format!("r{i}"), format!("r{i}")])
        .collect();
    t.write("many.txt", many.join("\n") + "\n");
    Run::of(t.run(&lib).args(["ids", "many.txt", "--no-store"]))
        .code(2)
        .stderr_has("many.txt: 8 IDs appear more than once: \"r0\" (lines 1, 2), ")
        .stderr_has("\"r4\" (lines 9, 10), and 3 more;");
    // --allow-duplicates: each computed once, in the order of its first appearance.
    let r = Run::of(t.run(&lib).args([
        "ids",
        "ids.txt",
        "-o",
        "out.tsv",
        "--allow-duplicates",
        "-r",
        "r.yaml",
    ]))
    .ok()
    .stderr_has("3 repeated appearances of IDs skipped: each entity computed once");
    let out = t.read("out.tsv");
    assert_eq!(out.lines().count(), 20_000);
    assert_eq!(out.matches("id7\t").count(), 1, "id7 once");
    assert!(r.stderr.is_empty() || !r.stderr.contains("panicked"));
    // A rerun computes nothing twice.
    Run::of(
        t.run(&lib)
            .args(["ids", "ids.txt", "-o", "out.tsv", "--allow-duplicates"]),
    )
    .ok();
    assert_eq!(t.read("out.tsv").lines().count(), 20_000);
}

/// Runs `plugin` over 200 good IDs with `faults` spread among them, at -j1 and -j2, and
/// checks that every good entity is computed once, in order, and that each fault
/// fails its entity alone with a message that says what happened.
fn faults_cost_their_entity_only(t: &TestDir, plugin: &Path, faults: &[(&str, &str)]) {
    let mut ids: Vec<String> = (0..200).map(|i| format!("ok{i}")).collect();
    for (k, (f, _)) in faults.iter().enumerate() {
        ids.insert(10 + 15 * k, format!("{f}{k}"));
    }
    t.write("ids.txt", ids.join("\n") + "\n");
    for jobs in ["1", "2"] {
        for f in ["out.tsv", "log.tsv", "polyplug.db"] {
            let _ = std::fs::remove_file(t.join(f));
        }
        let r = Run::within(
            t.run(plugin).args([
                "ids",
                "ids.txt",
                "-o",
                "out.tsv",
                "-l",
                "log.tsv",
                "-r",
                "r.yaml",
                "-j",
                jobs,
                "--timeout",
                "2",
                "--max-memory",
                "200",
            ]),
            Duration::from_secs(120),
        )
        .no_panic()
        .code(1)
        .stderr_has(&format!(
            "{} computed, {} failed (see the log)",
            ids.len() - faults.len(),
            faults.len()
        ));
        let out = t.read("out.tsv");
        let rows: Vec<&str> = out
            .lines()
            .map(|l| l.split('\t').next().unwrap_or(""))
            .collect();
        let expected: Vec<String> = (0..200).map(|i| format!("ok{i}")).collect();
        assert_eq!(
            rows, expected,
            "-j{jobs}: every other entity once, in order"
        );
        let report = t.read("r.yaml");
        assert!(
            report.contains("n_units: 200\n")
                && report.contains(&format!("n_failed: {}\n", faults.len())),
            "{report}"
        );
        let log = t.read("log.tsv");
        for (k, (f, says)) in faults.iter().enumerate() {
            let line = log
                .lines()
                .find(|l| l.starts_with(&format!("{f}{k}\terror: ")))
                .unwrap_or_else(|| panic!("-j{jobs}: no error for {f}{k}:\n{log}\n{}", r.stderr));
            assert!(line.contains(says), "-j{jobs}: {line}");
        }
    }
}

#[test]
fn python_faults_cost_their_entity_only() {
    let t = TestDir::new();
    let plugin = t.write(
        "faults.py",
        r#"import ctypes, os, signal, sys
ID = 'pyfaults'
VERSION = '1'
INPUT = 'a fault to commit'
OUTPUT = ['n']
def deep(n):
    return deep(n + 1) + 1
def compute(entity, **kw):
    f = entity.rstrip('0123456789')
    if f == 'segv':
        ctypes.string_at(0)
    if f == 'abort':
        os.abort()
    if f == 'exit':
        os._exit(3)
    if f == 'recursion':
        deep(0)
    if f == 'kill':
        os.kill(os.getpid(), signal.SIGKILL)
    if f == 'loop':
        while True:
            pass
    if f == 'hog':
        x = bytearray(2 << 30)
    if f == 'flood':
        sys.stdout.write('x' * (256 << 10))
        sys.stderr.write('y' * (128 << 10))
        raise ValueError('flooded')
    if f == 'closeout':
        os.close(1)
        raise ValueError('closed stdout')
    if f == 'surrogate':
        return ['not utf-8: \udcff'], []
    return [len(entity)], []
"#,
    );
    faults_cost_their_entity_only(
        &t,
        &plugin,
        &[
            (
                "segv",
                "killed by signal 11 while computing this entity (SIGSEGV",
            ),
            (
                "abort",
                "killed by signal 6 while computing this entity (SIGABRT",
            ),
            ("exit", "exited with status 3 while computing this entity"),
            (
                "recursion",
                "RecursionError: maximum recursion depth exceeded",
            ),
            (
                "kill",
                "killed by signal 9 while computing this entity (SIGKILL",
            ),
            (
                "loop",
                "TimeoutError: compute took longer than 2 s (--timeout)",
            ),
            (
                "hog",
                "out of memory: the worker is limited to 200 MiB (--max-memory)",
            ),
            ("flood", "ValueError: flooded"),
            ("closeout", "ValueError: closed stdout"),
            (
                "surrogate",
                "UnicodeEncodeError: 'utf-8' codec can't encode character",
            ),
        ],
    );
}

#[test]
fn bash_faults_cost_their_entity_only() {
    let t = TestDir::new();
    let plugin = t.write(
        "faults.sh",
        r#"ID=bashfaults
VERSION=1
INPUT="a fault to commit"
OUTPUT=( n )
compute() {
  case ${1%%[0-9]*} in
    segv) kill -SEGV $BASHPID ;;
    exit) exit 3 ;;
    fail) echo "no good" >&2; return 4 ;;
    loop) while :; do :; done ;;
    hog) python3 -c 'x = bytearray(2 << 30)' || return 1 ;;
    flood) head -c 300000 /dev/zero | tr '\0' x; echo; return 5 ;;
    closeout) exec 1>&-; return 6 ;;
    child) sleep 300 & return 7 ;;
    *) echo ${#1} ;;
  esac
}
"#,
    );
    faults_cost_their_entity_only(
        &t,
        &plugin,
        &[
            ("segv", "killed by signal 11"),
            ("exit", "ended its bash worker with status 3"),
            ("fail", "compute exited with status 4"),
            ("loop", "timed out after 2s (--timeout)"),
            ("hog", "MemoryError"),
            ("flood", "compute exited with status 5"),
            ("closeout", "compute exited with status 6"),
            ("child", "compute exited with status 7"),
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let left = processes_in(&t);
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn ids_from_a_pipe_are_read_once_by_the_run() {
    // `ids <(cut -f1 table.tsv)`: a pipe can be read only once, so nothing reads it
    // ahead of the run (neither the repeat check nor the progress count).
    let t = TestDir::new();
    let lib = t.compile_c("faults", FAULTS_C);
    let script = format!(
        "{} run {} ids <(printf 'a\\nbb\\nccc\\n') --no-store",
        polyplug_bin().display(),
        lib.display()
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .current_dir(t.path())
        .env("POLYPLUG_STORE", "none")
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "a\t1\nbb\t2\nccc\t3\n"
    );
}

#[test]
fn odd_inputs_run_or_get_one_clear_error() {
    let t = TestDir::new();
    let lib = t.compile_c("faults", FAULTS_C);
    // CRLF line ends: the IDs are read without the CR, and a rerun recognizes them.
    t.write("crlf.txt", "a1\r\nb2\r\n\r\nc3\r\n");
    let run = |ids: &str| {
        let mut c = t.run(&lib);
        c.args(["ids", ids, "-o", "out.tsv", "--no-store"]);
        c
    };
    Run::of(&mut run("crlf.txt")).ok();
    let out = t.read("out.tsv");
    let ids: Vec<&str> = out.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(ids, ["a1", "b2", "c3"], "{out:?}");
    Run::of(&mut run("crlf.txt")).ok();
    assert_eq!(
        t.read("out.tsv").lines().count(),
        3,
        "the rerun computed again"
    );
    // A 1 MB line is one ID, computed and recognized by a rerun.
    let long = "x".repeat(1 << 20);
    t.write("long.txt", format!("short\n{long}\nend\n"));
    std::fs::remove_file(t.join("out.tsv")).unwrap();
    Run::of(&mut run("long.txt")).ok();
    Run::of(&mut run("long.txt")).ok();
    let out = t.read("out.tsv");
    assert_eq!(out.lines().count(), 3);
    assert!(out
        .lines()
        .nth(1)
        .unwrap()
        .starts_with(&format!("{long}\t")));
    // Found by fuzzing (fuzz/ ids_reader): two lines with an empty ID column were
    // reported as the ID "" appearing twice; the first empty column is the error.
    t.write("empty-col.tsv", "x\t1\n\ta\n\tb\ny\t2\n");
    Run::of(&mut run("empty-col.tsv"))
        .code(2)
        .stderr_has("empty-col.tsv: line 2: column 1 is empty");
    // Not UTF-8: the line is named.
    t.write("latin1.txt", b"ok\ncaf\xe9\n".as_slice());
    Run::of(&mut run("latin1.txt"))
        .code(2)
        .stderr_has("latin1.txt: line 2");
    // An empty list and a glob that matches nothing.
    t.write("empty.txt", "");
    Run::of(&mut run("empty.txt")).ok();
    Run::of(
        t.run(&lib)
            .args(["files", "nothing-here/*.fa", "--no-store"]),
    )
    .code(2)
    .stderr_has("nothing-here/*.fa");
}

/// A C plugin whose initialize or finalize fails or crashes, as `LIFE_FAULT` says.
const LIFE_C: &str = r#"
#include "polyplug.h"
#include <stdlib.h>
#include <string.h>
static const char *fault(void) { const char *f = getenv("LIFE_FAULT"); return f ? f : ""; }
static int32_t initialize(const pp_call *c, void **state) {
    (void)state;
    if (strcmp(fault(), "init-error") == 0) { pp_error(c, "no licence server"); return PP_ERROR; }
    if (strcmp(fault(), "init-segv") == 0) { *(volatile int *)0 = 1; }
    if (strcmp(fault(), "init-exit") == 0) { exit(5); }
    return PP_OK;
}
static int32_t compute(void *s, const char *e, size_t len, const pp_call *c) {
    (void)s; (void)e; pp_push_int(c, (int64_t)len); return PP_OK;
}
static int32_t finalize(void *s, const pp_call *c) {
    (void)s;
    if (strcmp(fault(), "fin-error") == 0) { pp_error(c, "cannot flush the cache"); return PP_ERROR; }
    if (strcmp(fault(), "fin-segv") == 0) { *(volatile int *)0 = 1; }
    return PP_OK;
}
static const char *const OUT[] = {"n"};
static const pp_plugin P = {
    .abi_version = POLYPLUG_ABI_VERSION, .struct_size = sizeof(pp_plugin),
    .id = "life", .version = "1", .input = "x", .output = OUT, .n_output = 1,
    .initialize = initialize, .compute = compute, .finalize = finalize,
};
POLYPLUG_EXPORT const pp_plugin *polyplug_plugin(void) { return &P; }
"#;

const LIFE_PY: &str = "import os\nID = 'life_py'\nVERSION = '1'\nINPUT = 'x'\nOUTPUT = ['n']\n\
def initialize(**kwargs):\n    if os.environ.get('LIFE_FAULT') == 'init-error':\n        \
raise ValueError('no licence server')\n    if os.environ.get('LIFE_FAULT') == 'init-exit':\n        \
os._exit(5)\n    return {}\ndef compute(entity, state, **kwargs):\n    return [len(entity)], []\n\
def finalize(state):\n    if os.environ.get('LIFE_FAULT') == 'fin-error':\n        \
raise RuntimeError('cannot flush the cache')\n    if os.environ.get('LIFE_FAULT') == 'fin-segv':\n        \
import ctypes; ctypes.string_at(0)\n";

const LIFE_SH: &str = "ID=\"life_sh\"\nVERSION=\"1\"\nINPUT=\"x\"\nOUTPUT=( \"n\" )\n\
initialize() { case $LIFE_FAULT in init-error) echo 'no licence server' >&2; return 3;; \
init-exit) exit 5;; esac; }\n\
compute() { echo \"${#1}\"; }\n\
finalize() { case $LIFE_FAULT in fin-error) echo 'cannot flush the cache' >&2; return 4;; \
fin-segv) kill -SEGV $$;; esac; }\n";

/// Initialize failing or crashing stops the run before any entity, with the plugin's
/// message; finalize failing or crashing keeps every computed row, marks the run
/// partial and says why; for C, Python and Bash, at -j1 and -j2.
#[test]
fn a_failing_initialize_or_finalize_is_named_and_keeps_what_was_computed() {
    let t = TestDir::new();
    t.write("ids.txt", "a\nbb\nccc\n");
    let c = t.compile_c("life", LIFE_C);
    let py = t.write("life.py", LIFE_PY);
    let sh = t.write("life.sh", LIFE_SH);
    let cases: [(&Path, &str, &str); 13] = [
        (&c, "init-error", "initialize failed: no licence server"),
        (&c, "init-segv", "killed by signal 11"),
        (&c, "init-exit", "exited with status 5"),
        (&c, "fin-error", "finalize failed: cannot flush the cache"),
        (&c, "fin-segv", "finalize: the native worker process"),
        (
            &py,
            "init-error",
            "initialize failed: ValueError: no licence server",
        ),
        (&py, "init-exit", "exited with status 5"),
        (
            &py,
            "fin-error",
            "finalize failed: RuntimeError: cannot flush the cache",
        ),
        (&py, "fin-segv", "killed by signal 11"),
        (
            &sh,
            "init-error",
            "initialize exited with status 3; bash said:\n    no licence server",
        ),
        (&sh, "init-exit", "status 5"),
        (
            &sh,
            "fin-error",
            "finalize exited with status 4; bash said:\n    cannot flush the cache",
        ),
        (&sh, "fin-segv", "finalize"),
    ];
    for (plugin, fault, message) in cases {
        for jobs in ["1", "2"] {
            let _ = std::fs::remove_file(t.join("out.tsv"));
            let r = Run::of(
                t.run(plugin)
                    .env("LIFE_FAULT", fault)
                    .args([
                        "ids",
                        "ids.txt",
                        "-o",
                        "out.tsv",
                        "-r",
                        "r.yaml",
                        "--no-store",
                    ])
                    .args(["-j", jobs]),
            )
            .no_panic();
            let what = format!("{} {fault} -j{jobs}:\n{}", plugin.display(), r.stderr);
            assert!(r.stderr.contains(message), "{what}");
            let rows = std::fs::read_to_string(t.join("out.tsv")).unwrap_or_default();
            let report = t.read("r.yaml");
            if fault.starts_with("init") {
                assert_eq!(r.code, 2, "{what}");
                assert_eq!(rows, "", "{what}");
                assert!(report.contains("comp_status: aborted"), "{what}\n{report}");
            } else {
                assert_eq!(r.code, 1, "{what}");
                assert_eq!(rows, "a\t1\nbb\t2\nccc\t3\n", "{what}");
                assert!(report.contains("comp_status: partial"), "{what}\n{report}");
            }
        }
    }
}
