//! Compiled plugins (Rust with polyplug-sdk, C with polyplug.h) through the native ABI,
//! and everything `polyplug run` does around them: input selection, skipping and
//! resuming, parameters, failures, outputs and the report.

use polyplug_e2e::{eqnice, plugin_lib, repo_root, Run, TestDir};
use std::process::Stdio;
use std::time::Duration;

/// The `b` column testkit writes with default parameters.
const DEFAULT_B: &str = "k=Some(3) ratio=Some(0.5) flag=Some(false) label=x";

fn testkit() -> std::path::PathBuf {
    plugin_lib("testkit")
}

#[test]
fn fas_stats_rust_and_c_give_identical_rows() {
    let t = TestDir::new();
    let pattern = repo_root().join("examples-plugins/data/*.fas");
    let mut rows = Vec::new();
    for lib in ["fas_stats_rust", "fas_stats_c"] {
        let r = Run::of(
            t.run(plugin_lib(lib))
                .arg("files")
                .arg(&pattern)
                .arg("--defs")
                .arg(repo_root().join("examples-plugins/attribute_definitions.yaml"))
                .arg("-r")
                .arg(t.join("report.yaml")),
        )
        .ok()
        .stderr_has("finalize: processed");
        rows.push(r.stdout);
    }
    eqnice!(rows[0], rows[1]);
    let data = repo_root().join("examples-plugins/data");
    let expected = format!(
        "{d}/at_rich.fas\t34\t0.058823529411764705\n\
         {d}/ecoli_fragment.fas\t159\t0.5471698113207547\n\
         {d}/phage_lambda_mini.fas\t200\t0.425\n",
        d = data.display()
    );
    eqnice!(expected, rows[0]);
}

#[test]
fn fas_stats_parameter_and_unreadable_file() {
    let t = TestDir::new();
    t.write("small.fas", ">s\nACGT\n");
    t.write("big.fas", ">b\nACGTACGTAC\nGG\n");
    t.write("empty.fas", ">nothing here\n");
    t.write("params.yaml", "min_length: 5\n");
    std::fs::create_dir(t.join("dir.fas")).unwrap();
    for lib in ["fas_stats_rust", "fas_stats_c"] {
        let r = Run::of(t.run(plugin_lib(lib)).args([
            "files",
            "*.fas",
            "--params",
            "params.yaml",
            "-r",
            "report.yaml",
        ]))
        .code(1);
        eqnice!("big.fas\t12\t0.5833333333333334\n", r.stdout);
        assert!(
            r.stderr
                .contains("empty.fas\tgenome_size\tno sequence letters in the file"),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr
                .contains("small.fas\tgenome_size\t4 letters, below min_length 5"),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.contains("dir.fas\terror: cannot read dir.fas"),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn ids_from_a_column_of_a_tsv_file() {
    let t = TestDir::new();
    t.write("ids.tsv", "row1\tACGT\textra\nrow2\tGGGCCA  \n\nrow3\tat\n");
    let r =
        Run::of(
            t.run(plugin_lib("id_stats"))
                .args(["ids", "ids.tsv", "2", "-r", "report.yaml"]),
        )
        .ok();
    eqnice!("ACGT\t4\t2\nGGGCCA\t6\t5\nat\t2\t0\n", r.stdout);
}

#[test]
fn a_missing_column_names_the_file_and_line() {
    let t = TestDir::new();
    t.write("ids.tsv", "a\tb\nc\n");
    let r =
        Run::of(
            t.run(plugin_lib("id_stats"))
                .args(["ids", "ids.tsv", "2", "-r", "report.yaml"]),
        )
        .code(2)
        .no_panic()
        .stderr_has("ids.tsv: line 2: has 1 column(s), column 2 was asked for");
    // What came before the bad line is kept.
    eqnice!("b\t1\t0\n", r.stdout);
    assert!(t.read("report.yaml").contains("error_class: InputError"));
}

#[test]
fn missing_ids_file_and_empty_glob_are_clear_errors() {
    let t = TestDir::new();
    Run::of(t.run(plugin_lib("id_stats")).args(["ids", "nope.txt"]))
        .code(2)
        .stderr_has("nope.txt: cannot open the IDs file");
    Run::of(t.run(plugin_lib("id_stats")).args(["files", "*.none"]))
        .code(2)
        .stderr_has("no file matches '*.none'");
}

#[test]
fn idsproc_edits_the_ids_in_both_modes() {
    let t = TestDir::new();
    t.write("in/alpha.fas", ">a\nGGCC\n");
    t.write("in/beta.fas", ">b\nAAAT\n");
    // files mode: compute gets the file name, outputs use the computed ID.
    let r = Run::of(
        t.run(plugin_lib("fas_stats_rust"))
            .args(["files", "in/*.fas", "--idsproc"])
            .arg(plugin_lib("id_stats"))
            .args(["-r", "report.yaml"]),
    )
    .ok();
    eqnice!("ALPHA\t4\t1.0\nBETA\t4\t0.0\n", r.stdout);
    // ids mode: compute gets the processed ID too; the skip list holds processed IDs.
    t.write("ids.txt", "x/gattaca.txt\nx/cc.txt\n");
    t.write("skip.txt", "CC\n");
    let r = Run::of(
        t.run(plugin_lib("id_stats"))
            .args(["ids", "ids.txt", "--idsproc"])
            .arg(plugin_lib("id_stats"))
            .args(["-s", "skip.txt", "-r", "report.yaml"]),
    )
    .ok();
    eqnice!("GATTACA\t7\t2\n", r.stdout);
    assert!(t.read("report.yaml").contains("n_skipped: 1\n"));
    // A plugin without compute_id cannot be an idsproc.
    Run::of(
        t.run(plugin_lib("id_stats"))
            .args(["ids", "ids.txt", "--idsproc"])
            .arg(testkit()),
    )
    .code(2)
    .stderr_has("--idsproc plugin testkit has no compute_id function");
}

#[test]
fn out_file_appends_and_is_the_skip_list() {
    let t = TestDir::new();
    t.write("ids.txt", "aa\nbb\ncc\n");
    t.write("out.tsv", "bb\t2\told row\n");
    // One instance (-j1): its counter numbers the computes.
    Run::of(t.run(testkit()).args([
        "ids", "ids.txt", "-o", "out.tsv", "-l", "log.tsv", "-r", "r.yaml", "-j1",
    ]))
    .ok();
    eqnice!(
        format!("bb\t2\told row\naa\t2\t{DEFAULT_B}\ncc\t2\t{DEFAULT_B}\n"),
        t.read("out.tsv")
    );
    eqnice!("aa\tcount\t1\ncc\tcount\t2\n", t.read("log.tsv"));
    // A second run computes nothing more.
    Run::of(t.run(testkit()).args([
        "ids", "ids.txt", "-o", "out.tsv", "-l", "log.tsv", "-r", "r.yaml", "-j1",
    ]))
    .ok();
    assert_eq!(t.read("out.tsv").lines().count(), 3);
    let report = t.read("r.yaml");
    assert!(
        report.contains("n_units: 0\n") && report.contains("n_skipped: 3\n"),
        "{report}"
    );
}

#[test]
fn an_incomplete_last_row_is_recomputed() {
    let t = TestDir::new();
    t.write("ids.txt", "aa\nbb\ncc\n");
    // A run killed while writing "bb"'s row left half of it.
    t.write("out.tsv", format!("aa\t2\t{DEFAULT_B}\nbb\t2\tk=So"));
    Run::of(
        t.run(testkit())
            .args(["ids", "ids.txt", "-o", "out.tsv", "-r", "r.yaml"]),
    )
    .ok()
    .stderr_has("out.tsv: removed an incomplete last line");
    eqnice!(
        format!("aa\t2\t{DEFAULT_B}\nbb\t2\t{DEFAULT_B}\ncc\t2\t{DEFAULT_B}\n"),
        t.read("out.tsv")
    );
}

/// Starts a run over slow entities, sends `signal` after a while, then reruns until
/// done: every entity must end up exactly once in the results.
fn interrupt_and_resume(signal: &str) {
    let t = TestDir::new();
    let ids: Vec<String> = (0..120).map(|i| format!("sleep{i:03}")).collect();
    t.write("ids.txt", ids.join("\n") + "\n");
    let mut child = t
        .cmd()
        .arg("run")
        .arg(testkit())
        .args(["ids", "ids.txt", "-o", "out.tsv", "-r", "r1.yaml", "-j2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1300));
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(!exit.success(), "the run should have been interrupted");
    let partial = t.read("out.tsv");
    let done_before = partial.lines().count();
    assert!(
        done_before > 0 && done_before < 120,
        "{done_before} rows after the interrupt"
    );
    if signal == "-INT" {
        assert_eq!(exit.code(), Some(130));
        let report = t.read("r1.yaml");
        assert!(report.contains("comp_status: partial"), "{report}");
    }
    Run::of(
        t.run(testkit())
            .args(["ids", "ids.txt", "-o", "out.tsv", "-r", "r2.yaml", "-j2"]),
    )
    .ok();
    let out = t.read("out.tsv");
    let mut got: Vec<&str> = out.lines().map(|l| l.split('\t').next().unwrap()).collect();
    got.sort();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(got, want, "each entity exactly once:\n{out}");
    assert!(t
        .read("r2.yaml")
        .contains(&format!("n_skipped: {done_before}\n")));
}

#[test]
fn interrupt_with_sigint_and_resume() {
    interrupt_and_resume("-INT");
}

#[test]
fn kill_with_sigkill_and_resume() {
    interrupt_and_resume("-KILL");
}

#[test]
fn params_are_typed_and_defaulted() {
    let t = TestDir::new();
    t.write("ids.txt", "e\n");
    t.write("p.yaml", "ratio: 2\nflag: true\nlabel: 'a b: c'\n");
    let r = Run::of(
        t.run(testkit())
            .args(["ids", "ids.txt", "--params", "p.yaml", "-r", "r.yaml"]),
    )
    .ok();
    eqnice!(
        "e\t1\tk=Some(3) ratio=Some(2.0) flag=Some(true) label=a b: c\n",
        r.stdout
    );
    let report = t.read("r.yaml");
    assert!(
        report.contains("parameters: \"fail_initialize: false\\nfinalize_file: ''\\nflag: true\\nk: 3\\nlabel: 'a b: c'\\nratio: 2.0\\n\""),
        "{report}"
    );
}

#[test]
fn unknown_and_mistyped_params_are_refused() {
    let t = TestDir::new();
    t.write("ids.txt", "e\n");
    t.write("unknown.yaml", "kk: 1\n");
    Run::of(t.run(testkit()).args(["ids", "ids.txt", "--params", "unknown.yaml"]))
        .code(2)
        .stderr_has("unknown.yaml: unknown parameter 'kk' for plugin testkit; known parameters: k, ratio, flag, label, finalize_file, fail_initialize");
    t.write("typed.yaml", "k: many\n");
    Run::of(
        t.run(testkit())
            .args(["ids", "ids.txt", "--params", "typed.yaml"]),
    )
    .code(2)
    .stderr_has(
        "typed.yaml: parameter 'k' must be an integer (declared datatype 'int'), got string many",
    );
    t.write("bad.yaml", "k: [1, 2\n");
    Run::of(
        t.run(testkit())
            .args(["ids", "ids.txt", "--params", "bad.yaml"]),
    )
    .code(2)
    .no_panic()
    .stderr_has("bad.yaml: not valid YAML");
    t.write("list.yaml", "- k\n");
    Run::of(
        t.run(testkit())
            .args(["ids", "ids.txt", "--params", "list.yaml"]),
    )
    .code(2)
    .stderr_has("list.yaml: expected a mapping of parameter names to values");
    Run::of(
        t.run(plugin_lib("id_stats"))
            .args(["ids", "ids.txt", "--params", "unknown.yaml"]),
    )
    .code(2)
    .stderr_has("plugin id_stats declares no PARAMETERS");
}

#[test]
fn a_failing_entity_fails_alone() {
    let t = TestDir::new();
    t.write("ids.txt", "aa\nfail_me\nbb\n");
    t.write(
        "p.yaml",
        format!("finalize_file: {}\n", t.join("fin.txt").display()),
    );
    let r = Run::of(t.run(testkit()).args([
        "ids", "ids.txt", "-r", "r.yaml", "-l", "log.tsv", "-j1", "--params", "p.yaml",
    ]))
    .code(1)
    .stderr_has("1 failed (see the log)");
    eqnice!(
        format!("aa\t2\t{DEFAULT_B}\nbb\t2\t{DEFAULT_B}\n"),
        r.stdout
    );
    eqnice!(
        "aa\tcount\t1\nfail_me\tbefore\tfailing\nfail_me\terror: asked to fail on fail_me\nbb\tcount\t3\n",
        t.read("log.tsv")
    );
    let report = t.read("r.yaml");
    assert!(report.contains("comp_status: partial\n"), "{report}");
    assert!(
        report.contains("n_failed: 1\n") && report.contains("n_units: 2\n"),
        "{report}"
    );
    assert!(report.contains("error_input_unit: fail_me"), "{report}");
    // finalize ran once, after the failure.
    eqnice!("finalized after 3\n", t.read("fin.txt"));
}

#[test]
fn a_panicking_plugin_fails_the_entity_not_the_host() {
    let t = TestDir::new();
    t.write("ids.txt", "aa\npanic_now\nbb\n");
    let r = Run::of(
        t.run(testkit())
            .args(["ids", "ids.txt", "-r", "r.yaml", "-l", "log.tsv"]),
    )
    .code(1);
    eqnice!(
        format!("aa\t2\t{DEFAULT_B}\nbb\t2\t{DEFAULT_B}\n"),
        r.stdout
    );
    assert!(t
        .read("log.tsv")
        .contains("panic_now\terror: plugin panicked: asked to panic on panic_now\n"));
}

#[test]
fn halt_on_error_stops_the_run() {
    let t = TestDir::new();
    let mut ids = vec!["aa".to_string(), "fail1".to_string()];
    ids.extend((0..200).map(|i| format!("sleep{i}")));
    t.write("ids.txt", ids.join("\n"));
    let r = Run::of(t.run(testkit()).args([
        "ids",
        "ids.txt",
        "-r",
        "r.yaml",
        "--halt-on-error",
        "-j1",
    ]))
    .code(1);
    assert!(r.stdout.starts_with(&format!("aa\t2\t{DEFAULT_B}\n")));
    assert!(
        r.stdout.lines().count() < 100,
        "the run went on: {} rows",
        r.stdout.lines().count()
    );
    assert!(t.read("r.yaml").contains("error_input_unit: fail1"));
}

#[test]
fn wrong_result_count_or_type_names_the_attribute() {
    let t = TestDir::new();
    t.write(
        "ids.txt",
        "one_value\nstr_value\nlist_value\nnone_value\nok\n",
    );
    let r = Run::of(
        t.run(testkit())
            .args(["ids", "ids.txt", "-r", "r.yaml", "-l", "log.tsv"]),
    )
    .code(1);
    // Without definitions: too few values fail; a string or list is accepted.
    eqnice!(
        format!("str_value\tnot a number\t2\nlist_value\t1\t[1.5, None]\nok\t2\t{DEFAULT_B}\n"),
        r.stdout
    );
    assert!(t.read("log.tsv").contains(
        "one_value\terror: returned 1 value(s) for 2 OUTPUT attribute(s): no value for 'b'\n"
    ));
    assert!(t
        .read("log.tsv")
        .contains("none_value\tnote\tno result here\n"));
    // With definitions: the count and every type are checked.
    t.write(
        "defs.yaml",
        "a:\n  datatype: Integer\nb:\n  datatype: String(60)\n",
    );
    let r = Run::of(t.run(testkit()).args([
        "ids",
        "ids.txt",
        "--defs",
        "defs.yaml",
        "-r",
        "r.yaml",
        "-l",
        "log2.tsv",
    ]))
    .code(1);
    eqnice!(format!("ok\t2\t{DEFAULT_B}\n"), r.stdout);
    let log = t.read("log2.tsv");
    assert!(
        log.contains("str_value\terror: attribute 'a' needs Integer, got string 'not a number'\n"),
        "{log}"
    );
    assert!(
        log.contains("list_value\terror: attribute 'b' needs String(60), got list [1.5, None]\n"),
        "{log}"
    );
    assert!(
        log.contains(
            "one_value\terror: returned 1 value(s), the attribute definitions need exactly 2"
        ),
        "{log}"
    );
    // Definitions that lack an OUTPUT attribute are refused before the run.
    t.write("short.yaml", "a:\n  datatype: Integer\n");
    Run::of(
        t.run(testkit())
            .args(["ids", "ids.txt", "--defs", "short.yaml"]),
    )
    .code(2)
    .stderr_has("OUTPUT attribute(s) b not defined in short.yaml");
    t.write("broken.yaml", "a:\n  datatype: Integr\n");
    Run::of(
        t.run(testkit())
            .args(["ids", "ids.txt", "--defs", "broken.yaml"]),
    )
    .code(2)
    .stderr_has("broken.yaml: attribute 'a': datatype 'Integr': unknown type 'Integr'");
    // Found by fuzzing (fuzz/ datatype): a huge column count used to allocate until
    // the machine ran out of memory.
    t.write(
        "huge.yaml",
        "a:\n  datatype: Float[66666666666666666]\nb:\n  datatype: Integer\n",
    );
    Run::of(
        t.run(testkit())
            .args(["ids", "ids.txt", "--defs", "huge.yaml"]),
    )
    .code(2)
    .stderr_has("datatype 'Float[66666666666666666]': element 'Float[66666666666666666]': at most 65536 columns per attribute");
}

#[test]
fn ids_with_spaces_and_non_ascii_characters() {
    let t = TestDir::new();
    t.write("ids.txt", "x y\ngénome α\n🧬 dna  \n");
    let r = Run::of(t.run(testkit()).args(["ids", "ids.txt", "-r", "r.yaml"])).ok();
    eqnice!(
        format!("x y\t3\t{DEFAULT_B}\ngénome α\t8\t{DEFAULT_B}\n🧬 dna\t5\t{DEFAULT_B}\n"),
        r.stdout
    );
}

#[test]
fn an_empty_id_list_completes_with_nothing() {
    let t = TestDir::new();
    t.write("ids.txt", "");
    let r = Run::of(t.run(testkit()).args(["ids", "ids.txt", "-r", "r.yaml"])).ok();
    eqnice!("", r.stdout);
    let report = t.read("r.yaml");
    assert!(
        report.contains("comp_status: completed\n") && report.contains("n_units: 0\n"),
        "{report}"
    );
}

#[test]
fn j1_and_j2_give_byte_identical_outputs() {
    let t = TestDir::new();
    let ids: Vec<String> = (0..5000)
        .map(|i| match i % 97 {
            0 => format!("fail{i}"),
            1 => format!("none{i}"),
            _ => format!("id{i}GC{}", "G".repeat(i % 13)),
        })
        .collect();
    t.write("ids.txt", ids.join("\n"));
    let mut outs = Vec::new();
    for j in ["-j1", "-j2"] {
        let out = format!("out{j}.tsv");
        let log = format!("log{j}.tsv");
        Run::of(
            t.run(plugin_lib("id_stats"))
                .args(["ids", "ids.txt", "-o", &out, "-r", "r.yaml", j]),
        )
        .ok();
        Run::of(t.run(testkit()).args([
            "ids",
            "ids.txt",
            "-o",
            &format!("tk{out}"),
            "-l",
            &log,
            "-r",
            "r.yaml",
            j,
        ]))
        .code(1);
        outs.push((t.read(&out), t.read(&format!("tk{out}")), t.read(&log)));
    }
    assert_eq!(outs[0].0.lines().count(), 5000);
    eqnice!(outs[0].0, outs[1].0);
    eqnice!(outs[0].1, outs[1].1);
    // Logs hold per-worker counters; their order and error rows must match.
    let strip = |s: &str| -> String {
        s.lines()
            .map(|l| {
                if l.contains("\tcount\t") {
                    l.split('\t').next().unwrap().to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    eqnice!(strip(&outs[0].2), strip(&outs[1].2));
}

#[test]
fn each_worker_initializes_and_finalizes_once() {
    let t = TestDir::new();
    let ids: Vec<String> = (0..40)
        .map(|i| {
            if i == 5 {
                "fail".into()
            } else {
                format!("sleep{i}")
            }
        })
        .collect();
    t.write("ids.txt", ids.join("\n"));
    t.write(
        "p.yaml",
        format!("finalize_file: {}\n", t.join("fin.txt").display()),
    );
    Run::of(t.run(testkit()).args([
        "ids", "ids.txt", "--params", "p.yaml", "-j2", "-r", "r.yaml",
    ]))
    .code(1);
    let fin = t.read("fin.txt");
    assert_eq!(fin.lines().count(), 2, "{fin}");
    let total: u64 = fin
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        total, 40,
        "every entity computed by exactly one worker: {fin}"
    );
}

#[test]
fn a_failing_initialize_stops_the_run_with_its_message() {
    let t = TestDir::new();
    t.write("ids.txt", "a\nb\n");
    t.write("p.yaml", "fail_initialize: true\n");
    let r = Run::of(
        t.run(testkit())
            .args(["ids", "ids.txt", "--params", "p.yaml", "-r", "r.yaml"]),
    )
    .code(2)
    .stderr_has("initialize failed: initialize refused: fail_initialize is set");
    eqnice!("", r.stdout);
    assert!(t.read("r.yaml").contains("comp_status: aborted"));
}

#[test]
fn report_has_prenacs_keys_and_polyplug_additions() {
    let t = TestDir::new();
    t.write("ids.txt", "a\n");
    let r = Run::of(t.run(testkit()).args([
        "ids",
        "ids.txt",
        "--user",
        "ana",
        "--system",
        "node7",
        "--reason",
        "new_entities",
        "-r",
        "-",
    ]))
    .ok();
    let report = &r.stderr;
    for key in [
        "comp_status: completed\n",
        "plugin_id: testkit\n",
        "plugin_version: '0.1'\n",
        "user_id: ana\n",
        "system_id: node7\n",
        "reason: new_entities\n",
        "n_units: 1\n",
        "n_failed: 0\n",
        "n_skipped: 0\n",
        "uuid: !!binary |\n  ",
        "host_version: polyplug ",
        "time_start: '",
        "time_end: '",
        "parameters: ",
    ] {
        assert!(report.contains(key), "report lacks {key:?}:\n{report}");
    }
    let sha = report
        .lines()
        .find(|l| l.starts_with("plugin_sha256: "))
        .unwrap();
    assert_eq!(
        sha.trim_start_matches("plugin_sha256: ")
            .trim_matches('\'')
            .len(),
        64
    );
    Run::of(
        t.run(testkit())
            .args(["ids", "ids.txt", "--reason", "because"]),
    )
    .code(2)
    .stderr_has("invalid value 'because'");
}

const BROKEN_META: &str = r#"
#include "polyplug.h"
static int32_t compute(void *s, const char *e, size_t n, const pp_call *c) { (void)s; (void)e; (void)n; (void)c; return PP_OK; }
static const pp_plugin P = {
    .abi_version = POLYPLUG_ABI_VERSION, .struct_size = sizeof(pp_plugin),
    .id = "IDTOOLONG", .version = "1", .input = NULL,
    .output = NULL, .n_output = 0, .compute = compute,
};
POLYPLUG_EXPORT const pp_plugin *polyplug_plugin(void) { return &P; }
"#;

#[test]
fn bad_metadata_lists_every_problem() {
    let t = TestDir::new();
    let long_id = "x".repeat(300);
    let lib = t.compile_c("broken", &BROKEN_META.replace("IDTOOLONG", &long_id));
    t.write("ids.txt", "a\n");
    let r = Run::of(t.run(&lib).args(["ids", "ids.txt"]))
        .code(2)
        .no_panic()
        .stderr_has("bad metadata:");
    for problem in [
        "constant ID is 300 characters long, at most 256 are allowed",
        "constant INPUT is missing",
        "constant OUTPUT is missing",
    ] {
        assert!(
            r.stderr.contains(problem),
            "missing {problem:?} in {}",
            r.stderr
        );
    }
    let r = Run::of(t.cmd().arg("check").arg(&lib)).code(1);
    assert!(
        r.stdout.contains("constant INPUT is missing"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_library_without_the_entry_symbol_is_refused() {
    let t = TestDir::new();
    let lib = t.compile_c("plain", "int answer(void) { return 42; }\n");
    Run::of(t.run(&lib).args(["ids", "x"]))
        .code(2)
        .no_panic()
        .stderr_has("no `polyplug_plugin` symbol: this library is not a polyplug plugin");
    t.write("notalib.so", "this is text");
    Run::of(t.cmd().arg("info").arg("notalib.so"))
        .code(2)
        .stderr_has("notalib.so: cannot load as a shared library");
}

#[test]
fn lists_nested_too_deep_fail_their_entity_only() {
    let t = TestDir::new();
    let lib = t.compile_c(
        "nest",
        r#"
#include <stdlib.h>
#include "polyplug.h"
static int32_t compute(void *s, const char *e, size_t n, const pp_call *c) {
    (void)s; (void)n;
    long depth = atol(e);
    for (long i = 0; i < depth; i++) pp_begin_list(c);
    pp_push_int(c, depth);
    for (long i = 0; i < depth; i++) pp_end_list(c);
    return PP_OK;
}
static const char *const OUT[] = {"v"};
static const pp_plugin P = {
    .abi_version = POLYPLUG_ABI_VERSION, .struct_size = sizeof(pp_plugin),
    .id = "nest", .version = "1", .input = "a depth",
    .output = OUT, .n_output = 1, .compute = compute,
};
POLYPLUG_EXPORT const pp_plugin *polyplug_plugin(void) { return &P; }
"#,
    );
    t.write("ids.txt", "2\n1000000\n64\n65\n");
    let r = Run::of(t.run(&lib).args(["ids", "ids.txt"]))
        .code(1)
        .no_panic()
        .stderr_has("1000000\terror: begin_list: lists nested more than 64 deep")
        .stderr_has("65\terror: begin_list: lists nested more than 64 deep");
    assert!(r.stdout.starts_with("2\t[[2]]\n64\t[[[["), "{}", r.stdout);
}

#[test]
fn a_wrong_abi_version_or_struct_size_is_refused() {
    let t = TestDir::new();
    let src = BROKEN_META
        .replace("IDTOOLONG", "ok")
        .replace(".input = NULL", ".input = \"x\"");
    let v99 = t.compile_c(
        "v99",
        &src.replace(".abi_version = POLYPLUG_ABI_VERSION", ".abi_version = 99"),
    );
    Run::of(t.cmd().arg("info").arg(&v99)).code(2).stderr_has(
        "plugin ABI version 99, this polyplug supports versions 1 to 1; rebuild the plugin",
    );
    let small = t.compile_c(
        "small",
        &src.replace(".struct_size = sizeof(pp_plugin)", ".struct_size = 16"),
    );
    Run::of(t.cmd().arg("info").arg(&small))
        .code(2)
        .stderr_has("descriptor struct_size is 16 bytes, ABI version 1 needs at least 144");
}

#[test]
fn plugins_are_found_by_id_in_plugin_folders() {
    let t = TestDir::new();
    std::fs::create_dir(t.join("plugins")).unwrap();
    std::fs::copy(plugin_lib("id_stats"), t.join("plugins/libid_stats.so")).unwrap();
    std::fs::create_dir(t.join("more")).unwrap();
    std::fs::copy(testkit(), t.join("more/libtestkit.so")).unwrap();
    t.write("ids.txt", "GC\n");
    let r = Run::of(
        t.cmd()
            .arg("run")
            .args(["id_stats", "ids", "ids.txt", "-r", "r.yaml"]),
    )
    .ok();
    eqnice!("GC\t2\t2\n", r.stdout);
    Run::of(
        t.cmd()
            .env("POLYPLUG_PATH", t.join("more"))
            .arg("run")
            .args(["testkit", "ids", "ids.txt", "-r", "r.yaml"]),
    )
    .ok();
    let r = Run::of(t.cmd().arg("run").args(["nosuch", "ids", "ids.txt"]))
        .code(2)
        .stderr_has("no plugin 'nosuch'");
    assert!(
        r.stderr
            .contains("known plugins: id_stats (plugins/libid_stats.so)"),
        "{}",
        r.stderr
    );
    // Two files with the same ID: ambiguous, with the candidates listed.
    std::fs::copy(plugin_lib("id_stats"), t.join("more/libid_stats_copy.so")).unwrap();
    Run::of(
        t.cmd()
            .env("POLYPLUG_PATH", t.join("more"))
            .arg("run")
            .args(["id_stats", "ids", "ids.txt"]),
    )
    .code(2)
    .stderr_has("plugin 'id_stats' is ambiguous: 2 match");
}

#[test]
fn list_info_and_check() {
    let t = TestDir::new();
    std::fs::create_dir(t.join("plugins")).unwrap();
    std::fs::copy(
        plugin_lib("fas_stats_c"),
        t.join("plugins/libfas_stats_c.so"),
    )
    .unwrap();
    std::fs::copy(
        plugin_lib("fas_stats_rust"),
        t.join("plugins/libfas_stats_rust.so"),
    )
    .unwrap();
    let r = Run::of(t.cmd().arg("list")).ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", r.stdout);
    assert!(lines[0].starts_with("ID"));
    assert!(
        lines[1].starts_with(
            "fas_stats_c     1.0      native    genome_size,GC_content  plugins/libfas_stats_c.so"
        ),
        "{}",
        r.stdout
    );
    let r = Run::of(t.cmd().args(["info", "fas_stats_rust"])).ok();
    for line in [
        "ID:             fas_stats_rust",
        "PARAMETERS:\n  min_length (int, default 0): genomes with fewer sequence letters than this give no result",
        "FUNCTIONS:      initialize, compute, finalize",
        "IMPLEMENTATION: Rust, polyplug-sdk",
    ] {
        assert!(r.stdout.contains(line), "info lacks {line:?}:\n{}", r.stdout);
    }
    let defs = repo_root().join("examples-plugins/attribute_definitions.yaml");
    Run::of(t.cmd().args(["check", "fas_stats_c"]).arg(&defs))
        .ok()
        .stdout_has("ok: fas_stats_c 1.0 (native");
    t.write("defs.yaml", "genome_size:\n  datatype: Integer\n");
    Run::of(t.cmd().args(["check", "fas_stats_c", "defs.yaml"]))
        .code(1)
        .stdout_has("error: OUTPUT attribute 'GC_content' is not defined in defs.yaml");
}

#[test]
fn progress_bar_only_on_a_terminal() {
    let t = TestDir::new();
    // Slow entities (50 ms each), so that the bar is drawn a few times.
    let ids: Vec<String> = (0..20).map(|i| format!("sleep{i}")).collect();
    t.write("ids.txt", ids.join("\n"));
    // `script` runs the command on a pseudo-terminal, as a user's shell would.
    let command = format!(
        "{} run {} ids ids.txt -o out.tsv -l log.tsv -r r.yaml -j2",
        polyplug_e2e::polyplug_bin().display(),
        testkit().display()
    );
    let r = Run::of(
        std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .current_dir(t.path())
            .env("TERM", "xterm"),
    )
    .ok();
    assert!(
        r.stdout.contains("/20 ["),
        "no progress bar on a terminal:\n{}",
        r.stdout
    );
    assert_eq!(t.read("out.tsv").lines().count(), 20);
    // Not a terminal: nothing but the summary line on stderr.
    let r = Run::of(
        t.run(testkit())
            .args(["ids", "ids.txt", "-o", "out2.tsv", "-l", "log2.tsv"]),
    )
    .ok();
    assert!(
        r.stderr.starts_with("polyplug: testkit: 20 computed in ")
            && r.stderr.ends_with("; no report (-r FILE writes one)\n")
            && r.stderr.lines().count() == 1,
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("/20 ["));
}

#[test]
fn the_default_store_resumes_and_polyplug_store_none_turns_it_off() {
    let t = TestDir::new();
    t.write("ids.txt", "aa\nbb\n");
    // POLYPLUG_STORE=none (the harness default): no store file, every run computes.
    Run::of(t.run(testkit()).args(["ids", "ids.txt", "-r", "r.yaml"])).ok();
    assert!(!t.join("polyplug.db").exists());
    // Without it: ./polyplug.db records the run, and a rerun skips what it holds.
    let first = Run::of(
        t.cmd()
            .env_remove("POLYPLUG_STORE")
            .arg("run")
            .arg(testkit())
            .args(["ids", "ids.txt", "-r", "r.yaml"]),
    )
    .ok();
    assert_eq!(first.stdout.lines().count(), 2);
    assert!(t.join("polyplug.db").is_file());
    let again = Run::of(
        t.cmd()
            .env_remove("POLYPLUG_STORE")
            .arg("run")
            .arg(testkit())
            .args(["ids", "ids.txt", "-r", "r.yaml"]),
    )
    .ok();
    eqnice!("", again.stdout);
    assert!(t.read("r.yaml").contains("n_skipped: 2\n"));
    Run::of(t.cmd().args(["runs", "list"]))
        .code(2)
        .stderr_has("POLYPLUG_STORE=none turns the store off");
}
