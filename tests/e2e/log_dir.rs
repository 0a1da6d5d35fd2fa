//! `--log-dir DIR`: what a plugin prints while computing each entity lands in
//! `DIR/<entity>.out` and `DIR/<entity>.err`, for every plugin kind, with names made
//! safe, no two entities sharing a file, no empty files, and the log TSV as it was.

use polyplug_e2e::{eqnice, Run, TestDir};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// A native plugin that prints its entity on stdout (without a line ending, so that
/// it stays in the C library's buffer) and on stderr; `quiet` prints nothing and
/// `crash` aborts the worker after printing.
const TALK_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "polyplug.h"
static int32_t compute(void *s, const char *e, size_t n, const pp_call *c) {
    (void)s;
    if (n == 5 && memcmp(e, "quiet", 5) == 0) { pp_push_int(c, 5); return PP_OK; }
    printf("out of %.*s", (int)n, e);
    fprintf(stderr, "err of %.*s\n", (int)n, e);
    if (n == 5 && memcmp(e, "crash", 5) == 0) { fflush(stdout); abort(); }
    pp_push_int(c, (int64_t)n);
    return PP_OK;
}
static const char *const OUT[] = {"n"};
static const pp_plugin P = {
    .abi_version = POLYPLUG_ABI_VERSION, .struct_size = sizeof(pp_plugin),
    .id = "talk", .version = "1", .input = "any text",
    .output = OUT, .n_output = 1, .compute = compute,
};
POLYPLUG_EXPORT const pp_plugin *polyplug_plugin(void) { return &P; }
"#;

/// The same in Python: print() and a program it starts write to stdout.
const TALK_PY: &str = "import os, sys\nID = 'talk'\nVERSION = '1'\nINPUT = 'any text'\n\
OUTPUT = ['n']\n\ndef compute(e, **kw):\n    if e == 'quiet':\n        return [5], []\n    \
print('out of', e)\n    sys.stderr.write('err of ' + e + '\\n')\n    \
os.system('echo child')\n    if e == 'crash':\n        raise ValueError('crashed')\n    \
return [len(e)], []\n";

/// The same in Bash, whose stdout carries the results: only stderr is logged.
const TALK_SH: &str = "ID=talk\nVERSION=1\nINPUT='any text'\nOUTPUT=( n )\ncompute() {\n  \
if [[ $1 == quiet ]]; then echo 5; return; fi\n  echo \"err of $1\" >&2\n  \
if [[ $1 == crash ]]; then echo crashed >&2; return 3; fi\n  echo \"${#1}\"\n}\n";

/// Entities whose names are not plain (a `/`, a leading `.`, a space), one that is
/// what another becomes once made safe (`a_b`), a quiet one, one that fails, and
/// enough plain ones to fill several batches in two workers.
fn ids() -> Vec<String> {
    let mut ids: Vec<String> = ["a/b", "a_b", "..", "x y", "quiet", "crash"]
        .map(String::from)
        .to_vec();
    ids.extend((0..120).map(|i| format!("e{i}")));
    ids
}

/// The file stem of each entity: the contract of the names (XXH3 of the entity).
fn stem(id: &str) -> &str {
    match id {
        "a/b" => "a_b~48f71e9475860604",
        ".." => "_.~482c632370a33f0e",
        "x y" => "x_y~37dbf7ee55357f10",
        _ => id,
    }
}

/// The files in `dir` and what they hold.
fn files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|f| {
            let f = f.unwrap();
            let text = std::fs::read_to_string(f.path()).unwrap();
            (f.file_name().to_string_lossy().into_owned(), text)
        })
        .collect()
}

/// The log without worker process IDs (they differ from run to run).
fn without_pids(log: &str) -> String {
    let mut out = String::new();
    let mut rest = log;
    while let Some(i) = rest.find("(pid ") {
        out.push_str(&rest[..i + 5]);
        rest = rest[i + 5..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

/// Runs `plugin` over [`ids`] with two workers, with `--log-dir logs` or not, and
/// returns the run and its log TSV.
fn talk(t: &TestDir, plugin: &Path, logs: bool) -> (Run, String) {
    let _ = std::fs::remove_file(t.join("log.tsv"));
    let mut c: Command = t.run(plugin);
    c.env("POLYPLUG_CACHE_DIR", t.join("cache"))
        .args(["ids", "ids.txt", "-j2", "-l", "log.tsv"]);
    if logs {
        c.args(["--log-dir", "logs"]);
    }
    let r = Run::of(&mut c).code(1).no_panic();
    let log = t.read("log.tsv");
    (r, log)
}

#[test]
fn each_entity_s_output_goes_to_its_own_files_in_every_kind() {
    let t = TestDir::new();
    t.write("ids.txt", ids().join("\n") + "\n");
    let kinds = [
        ("native", t.compile_c("talk", TALK_C)),
        ("python", t.write("talk.py", TALK_PY)),
        ("bash", t.write("talk.sh", TALK_SH)),
        ("wasm", crate::wasm::wasm("talk")),
    ];
    for (kind, plugin) in kinds {
        let _ = std::fs::remove_dir_all(t.join("logs"));
        let (plain, plain_log) = talk(&t, &plugin, false);
        let (logged, log) = talk(&t, &plugin, true);
        eqnice!(plain.stdout, logged.stdout);
        // The log TSV is the same with --log-dir.
        eqnice!(without_pids(&plain_log), without_pids(&log));
        assert!(log.contains("crash\terror: "), "{kind}: {log}");
        // The output went to the files, not to polyplug's stderr.
        assert!(
            plain.stderr.contains("err of e7"),
            "{kind}: {}",
            plain.stderr
        );
        assert!(
            !logged.stderr.contains("err of"),
            "{kind}: {}",
            logged.stderr
        );
        let mut expected = BTreeMap::new();
        for id in ids().iter().filter(|id| *id != "quiet") {
            let (out, err) = match kind {
                "native" => (format!("out of {id}"), format!("err of {id}\n")),
                "python" => (format!("out of {id}\nchild\n"), format!("err of {id}\n")),
                "bash" if id == "crash" => (String::new(), "err of crash\ncrashed\n".into()),
                "bash" => (String::new(), format!("err of {id}\n")),
                _ => (format!("out of {id}\n"), format!("err of {id}\n")),
            };
            if !out.is_empty() {
                expected.insert(format!("{}.out", stem(id)), out);
            }
            expected.insert(format!("{}.err", stem(id)), err);
        }
        let got = files(&t.join("logs"));
        assert_eq!(expected, got, "{kind}");
    }
}

#[test]
fn a_later_run_replaces_the_files_and_leaves_none_for_a_quiet_entity() {
    let t = TestDir::new();
    t.write("ids.txt", "a\nb\n");
    let plugin = t.write("talk.py", TALK_PY);
    Run::of(
        t.run(&plugin)
            .args(["ids", "ids.txt", "--log-dir", "deep/logs"]),
    )
    .ok();
    eqnice!("out of a\nchild\n", t.read("deep/logs/a.out"));
    // Now quiet on stdout for a, still saying something on stderr: a.out is gone.
    t.write(
        "talk.py",
        TALK_PY
            .replace("print('out of', e)", "pass")
            .replace("os.system('echo child')", "pass"),
    );
    Run::of(
        t.run(&plugin)
            .args(["ids", "ids.txt", "--log-dir", "deep/logs"]),
    )
    .ok();
    let got = files(&t.join("deep/logs"));
    let names: Vec<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(names, ["a.err", "b.err"]);
    eqnice!("err of b\n", got["b.err"]);
    // Records: each record by its name, repeated names numbered.
    t.write("r.fa", ">s1 one\nACGT\n>s2\nGG\n>s1 again\nT\n");
    Run::of(t.run(&plugin).args([
        "records",
        "fasta",
        "r.fa",
        "--allow-duplicate-ids",
        "--log-dir",
        "rec",
    ]))
    .ok();
    let got = files(&t.join("rec"));
    let names: Vec<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(names, ["s1#2.err", "s1.err", "s2.err"]);
    // The second s1 (computed as s1, as the first) has files of its own.
    eqnice!("err of s1\n", got["s1#2.err"]);
    // The same from a plugin computed in polyplug's process (Bash).
    let bash = t.write("talk.sh", TALK_SH);
    Run::of(t.run(&bash).args([
        "records",
        "fasta",
        "r.fa",
        "--allow-duplicate-ids",
        "--log-dir",
        "rec-bash",
    ]))
    .ok();
    let got = files(&t.join("rec-bash"));
    let names: Vec<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(names, ["s1#2.err", "s1.err", "s2.err"]);
}

#[test]
fn log_dir_errors_say_what_to_do() {
    let t = TestDir::new();
    t.write("ids.txt", "a\n");
    let native = t.compile_c("talk", TALK_C);
    let python = t.write("talk.py", TALK_PY);
    for (plugin, kind) in [(&native, "a native plugin"), (&python, "a Python plugin")] {
        Run::of(
            t.run(plugin)
                .args(["ids", "ids.txt", "--log-dir", "logs", "--in-process"]),
        )
        .code(2)
        .no_panic()
        .stderr_has(&format!(
            "--log-dir cannot capture the output, entity by entity, of {kind}"
        ))
        .stderr_has(
            "remove --log-dir, or run the plugin in a worker process (without --in-process)",
        );
    }
    assert!(!t.join("logs").exists());
    Run::of(t.run(&python).args(["ids", "ids.txt", "--log-dir", "logs", "--only", "a"]))
        .code(2)
        .stderr_has("--only computes in the foreground (results on stdout, logs on stderr): leave out --log-dir");
    t.write("afile", "");
    Run::of(
        t.run(&python)
            .args(["ids", "ids.txt", "--log-dir", "afile"]),
    )
    .code(2)
    .no_panic()
    .stderr_has("--log-dir afile: it is a file; give a folder");
    Run::of(
        t.run(&python)
            .args(["ids", "ids.txt", "--log-dir", "afile/logs"]),
    )
    .code(2)
    .no_panic()
    .stderr_has("--log-dir afile/logs: ");
}
