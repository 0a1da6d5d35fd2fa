//! Bash plugins (MultiPlug/Prenacs conventions) in persistent and re-sourced workers.
//!
//! Most tests run a plugin in both modes: persistent (the default, one long-lived bash
//! per worker) and re-sourced (`POLYPLUG_PERSISTENT=0` in the environment, which a
//! script that does not set the constant itself picks up).

use polyplug_e2e::{eqnice, plugin_lib, repo_root, Run, TestDir};
use std::process::Command;
use std::time::{Duration, Instant};

/// A `polyplug run` of `plugin` over the IDs in `ids` (written to ids.txt), in the
/// given mode, with results in out.tsv and logs in log.tsv of the test folder.
fn run_ids(t: &TestDir, plugin: &str, ids: &str, persistent: bool, extra: &[&str]) -> Run {
    let _ = std::fs::remove_file(t.join("out.tsv"));
    let _ = std::fs::remove_file(t.join("log.tsv"));
    t.write("ids.txt", ids);
    let mut cmd = t.cmd();
    cmd.args([
        "run", plugin, "ids", "ids.txt", "-o", "out.tsv", "-l", "log.tsv",
    ])
    .args(["-r", "report.yaml"])
    .args(extra);
    mode(&mut cmd, persistent);
    Run::of(&mut cmd).no_panic()
}

fn mode(cmd: &mut Command, persistent: bool) {
    if persistent {
        cmd.env_remove("POLYPLUG_PERSISTENT");
    } else {
        cmd.env("POLYPLUG_PERSISTENT", "0");
    }
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

const HEADER: &str = r#"ID="t"
VERSION="1"
INPUT="an ID"
"#;

/// Echoes what it received, hex-encoded, using the usual MultiPlug keyword loop.
const ECHO: &str = r#"
OUTPUT=( "entity_hex" "label_hex" )
PARAMETERS=( "label\tstr\tplain\ta label" )
_hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
compute() {
  local entity=$1; shift
  local label=""
  for kw in $*; do eval $kw; done
  echo -en "$(_hex "$entity")\t$(_hex "$label")\n"
}
"#;

#[test]
fn hostile_keyword_values_and_entity_ids_arrive_intact_and_are_never_run() {
    let t = TestDir::new();
    t.write("echo.sh", format!("{HEADER}{ECHO}"));
    let label = "a  b; touch pwned_k1 $(touch pwned_k2) `touch pwned_k3` 'q' \"dq\" \\ * ? [x] ~ $HOME {a,b}\nsecond line\ttab é";
    let yaml_label = label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .replace('\t', "\\t");
    t.write("params.yaml", format!("label: \"{yaml_label}\"\n"));
    let ids = [
        "a b",
        "$(touch pwned_e1)",
        "`touch pwned_e2`",
        "x;touch pwned_e3",
        "'q\"",
        "*",
        "-n",
        "~",
        "a\\tb",
        "$HOME",
    ];
    let mut expected = String::new();
    for id in ids {
        // The plugin gets the ID as it is; the results row has it escaped (a
        // backslash is written `\\`, so that the row reads back as this ID).
        let written = id.replace('\\', "\\\\");
        expected.push_str(&format!("{written}\t{}\t{}\n", hex(id), hex(label)));
    }
    for persistent in [true, false] {
        run_ids(
            &t,
            "echo.sh",
            &(ids.join("\n") + "\n"),
            persistent,
            &["--params", "params.yaml", "-j", "2"],
        )
        .ok();
        eqnice!(expected, t.read("out.tsv"));
        let pwned: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("pwned"))
            .collect();
        assert!(pwned.is_empty(), "a value was executed: {pwned:?}");
    }
}

#[test]
fn single_value_results_and_logs_with_tabs_keep_their_shape() {
    let t = TestDir::new();
    t.write(
        "len.sh",
        format!(
            r#"{HEADER}
OUTPUT=( "length" )
compute() {{
  local entity=$1
  if [[ $entity == none* ]]; then
    echo -en "\nlength\tnot computed for $entity\nsecond\tlog\twith tabs"
    return
  fi
  echo -en "${{#entity}}\nkey\tmessage with\ttwo tabs\n\nplain log line\n"
}}
"#
        ),
    );
    for persistent in [true, false] {
        run_ids(
            &t,
            "len.sh",
            "abc\nnone1\nabcdefghijkl\n",
            persistent,
            &["-j", "1"],
        )
        .ok();
        eqnice!("abc\t3\nabcdefghijkl\t12\n", t.read("out.tsv"));
        eqnice!(
            "abc\tkey\tmessage with\ttwo tabs\n\
             abc\tplain log line\n\
             none1\tlength\tnot computed for none1\n\
             none1\tsecond\tlog\twith tabs\n\
             abcdefghijkl\tkey\tmessage with\ttwo tabs\n\
             abcdefghijkl\tplain log line\n",
            t.read("log.tsv")
        );
    }
}

#[test]
fn a_failing_compute_fails_its_entity_with_its_stderr_and_the_run_goes_on() {
    let t = TestDir::new();
    t.write(
        "fail.sh",
        format!(
            r#"{HEADER}
OUTPUT=( "length" )
compute() {{
  local entity=$1
  case $entity in
    bad) echo "partial output"; echo "cannot handle $entity" >&2; return 3 ;;
    quit) echo "leaving with exit" >&2; exit 4 ;;
    quit0) echo -e "7\nexit zero is a success"; exit 0 ;;
    strict) set -e; false; echo "not reached" ;;
    selfkill) kill -9 $$ ;;
  esac
  echo "${{#entity}}"
}}
"#
        ),
    );
    for persistent in [true, false] {
        let r = run_ids(
            &t,
            "fail.sh",
            "a\nbad\nbb\nquit\nccc\nquit0\nstrict\nselfkill\ndddd\n",
            persistent,
            &["-j", "1"],
        )
        .code(1)
        .stderr_has("4 failed (see the log)");
        eqnice!(
            "a\t1\nbb\t2\nccc\t3\nquit0\t7\ndddd\t4\n",
            t.read("out.tsv")
        );
        let log = t.read("log.tsv");
        let expected_ended = if persistent {
            "ended its bash worker with status 4 (`exit` or `set -e` in the script); the worker was replaced"
        } else {
            "exited with status 4: leaving with exit"
        };
        let strict_ended = if persistent {
            "strict\terror: compute ended its bash worker with status 1"
        } else {
            "strict\terror: compute exited with status 1"
        };
        // What a failing compute said last is its error's message, logged once.
        for said in ["cannot handle bad", "leaving with exit"] {
            assert_eq!(log.matches(said).count(), 1, "{said}:\n{log}");
        }
        for line in [
            "bad\terror: compute exited with status 3: cannot handle bad\n",
            &format!("quit\terror: compute {expected_ended}\n"),
            "quit0\texit zero is a success\n",
            strict_ended,
            "selfkill\terror: compute was cut short: its bash worker was killed by signal 9; \
             the worker was replaced\n",
        ] {
            assert!(
                log.contains(line),
                "log lacks {line:?}:\n{log}\n{}",
                r.stderr
            );
        }
        let report = t.read("report.yaml");
        assert!(report.contains("comp_status: partial"), "{report}");
        assert!(report.contains("n_failed: 4"), "{report}");
    }
}

#[test]
fn state_file_lifecycle_initialize_compute_finalize() {
    let t = TestDir::new();
    t.write(
        "state.sh",
        format!(
            r#"{HEADER}
OUTPUT=( "length" )
PARAMETERS=( "prefix\tstr\tst\tstate file prefix" )
initialize() {{
  local prefix=st
  for kw in $*; do eval $kw; done
  local f
  f=$(mktemp "$PWD/$prefix.XXXXXX") || return 1
  echo "initialized" >&2
  echo "$f"
}}
compute() {{
  local entity=$1; shift
  local state=""
  for kw in $*; do eval $kw; done
  [[ -f $state ]] || {{ echo "no state file: '$state'" >&2; return 1; }}
  echo "$entity" >> "$state"
  echo "${{#entity}}"
}}
finalize() {{
  local n
  n=$(wc -l < "$1")
  rm -f -- "$1"
  echo "processed $n entities"
}}
"#
        ),
    );
    let ids: String = (0..40).map(|i| format!("id{i}\n")).collect();
    for persistent in [true, false] {
        let r = run_ids(&t, "state.sh", &ids, persistent, &["-j", "2"]).ok();
        assert_eq!(t.read("out.tsv").lines().count(), 40);
        // One state file per worker, each finalized and removed.
        let mut total = 0;
        let mut workers = 0;
        for line in r.stderr.lines() {
            if let Some(rest) = line.strip_prefix("polyplug: t: finalize: processed ") {
                total += rest.trim_end_matches(" entities").parse::<u32>().unwrap();
                workers += 1;
            }
        }
        assert_eq!((workers, total), (2, 40), "{}", r.stderr);
        assert_eq!(r.stderr.matches("t: initialize: initialized").count(), 2);
        let left: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("st."))
            .collect();
        assert!(left.is_empty(), "state files left: {left:?}");
    }
}

#[test]
fn persistent_mode_sources_once_per_worker_and_resourced_mode_every_call() {
    let t = TestDir::new();
    t.write(
        "pid.sh",
        format!(
            r#"{HEADER}
OUTPUT=( "pid" "calls" )
echo sourced >> "$PWD/sourced.log"
_calls=0
compute() {{
  _calls=$((_calls + 1))
  echo -e "$BASHPID\t$_calls"
}}
"#
        ),
    );
    let ids: String = (0..20).map(|i| format!("e{i}\n")).collect();
    run_ids(&t, "pid.sh", &ids, true, &["-j", "1"]).ok();
    let out = t.read("out.tsv");
    let pids: std::collections::HashSet<&str> =
        out.lines().map(|l| l.split('\t').nth(1).unwrap()).collect();
    assert_eq!(
        pids.len(),
        1,
        "one bash process computes everything:\n{out}"
    );
    let calls: Vec<&str> = out.lines().map(|l| l.split('\t').nth(2).unwrap()).collect();
    assert_eq!(calls, (1..=20).map(|i| i.to_string()).collect::<Vec<_>>());
    // Sourced once to read the constants and once by the worker.
    eqnice!("sourced\nsourced\n", t.read("sourced.log"));

    std::fs::remove_file(t.join("sourced.log")).unwrap();
    run_ids(&t, "pid.sh", &ids, false, &["-j", "1"]).ok();
    let out = t.read("out.tsv");
    let pids: std::collections::HashSet<&str> =
        out.lines().map(|l| l.split('\t').nth(1).unwrap()).collect();
    assert_eq!(pids.len(), 20, "a fresh subshell per call:\n{out}");
    assert!(out.lines().all(|l| l.ends_with("\t1")), "{out}");
    assert_eq!(t.read("sourced.log").lines().count(), 21);
}

#[test]
fn persistent_and_resourced_modes_give_identical_results_and_logs() {
    let t = TestDir::new();
    let plugin = repo_root().join("examples-plugins/bash/fas_stats.sh");
    let pattern = repo_root().join("examples-plugins/data/*.fas");
    t.write("params.yaml", "min_length: 100\n");
    let mut outputs = Vec::new();
    for persistent in [true, false] {
        let _ = std::fs::remove_file(t.join("out.tsv"));
        let _ = std::fs::remove_file(t.join("log.tsv"));
        let mut cmd = t.cmd();
        cmd.arg("run")
            .arg(&plugin)
            .arg("files")
            .arg(&pattern)
            .args(["--params", "params.yaml", "-o", "out.tsv", "-l", "log.tsv"])
            .args(["-r", "report.yaml", "-j", "2"]);
        mode(&mut cmd, persistent);
        Run::of(&mut cmd).no_panic().ok();
        outputs.push((t.read("out.tsv"), t.read("log.tsv")));
    }
    eqnice!(outputs[0].0, outputs[1].0);
    eqnice!(outputs[0].1, outputs[1].1);
    let d = repo_root().join("examples-plugins/data");
    eqnice!(
        format!(
            "{d}/ecoli_fragment.fas\t159\t0.5471698113207547\n\
             {d}/phage_lambda_mini.fas\t200\t0.425\n",
            d = d.display()
        ),
        outputs[0].0
    );
    eqnice!(
        format!(
            "{}/at_rich.fas\tgenome_size\t34 letters, below min_length 100\n",
            d.display()
        ),
        outputs[0].1
    );
}

#[test]
fn fas_stats_bash_gives_the_rows_of_rust_and_c() {
    let t = TestDir::new();
    let pattern = repo_root().join("examples-plugins/data/*.fas");
    let defs = repo_root().join("examples-plugins/attribute_definitions.yaml");
    let mut rows = Vec::new();
    for plugin in [
        plugin_lib("fas_stats_rust"),
        plugin_lib("fas_stats_c"),
        repo_root().join("examples-plugins/bash/fas_stats.sh"),
    ] {
        let r = Run::of(
            t.run(&plugin)
                .arg("files")
                .arg(&pattern)
                .arg("--defs")
                .arg(&defs)
                .arg("-r")
                .arg(t.join("report.yaml")),
        )
        .no_panic()
        .ok();
        rows.push(r.stdout);
    }
    eqnice!(rows[0], rows[2]);
    eqnice!(rows[1], rows[2]);
    let r = Run::of(
        t.run(repo_root().join("examples-plugins/bash/fas_stats.sh"))
            .arg("files")
            .arg(&pattern)
            .args(["-j", "1", "-r", "report.yaml"]),
    )
    .ok()
    .stderr_has("polyplug: fas_stats_bash: finalize: processed 3 files, 393 sequence letters");
    assert!(
        t.read("report.yaml").contains("plugin_id: fas_stats_bash"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_hanging_compute_is_killed_at_the_timeout_and_the_run_goes_on() {
    let t = TestDir::new();
    t.write(
        "hang.sh",
        format!(
            r#"{HEADER}
OUTPUT=( "length" )
compute() {{
  local entity=$1
  if [[ $entity == hang* ]]; then
    sleep 300 &
    echo "going to sleep" >&2
    sleep 300
  fi
  echo "${{#entity}}"
}}
"#
        ),
    );
    for persistent in [true, false] {
        let started = Instant::now();
        run_ids(
            &t,
            "hang.sh",
            "a\nhang1\nbb\nccc\nhang2\ndddd\n",
            persistent,
            &["-j", "1", "--timeout", "1"],
        )
        .code(1)
        .stderr_has("2 failed (see the log)");
        let took = started.elapsed();
        assert!(took < Duration::from_secs(20), "took {took:?}");
        eqnice!("a\t1\nbb\t2\nccc\t3\ndddd\t4\n", t.read("out.tsv"));
        let log = t.read("log.tsv");
        for line in [
            "hang1\tgoing to sleep\n",
            "hang1\terror: compute timed out after 1s (--timeout); its bash worker was killed and replaced\n",
            "hang2\terror: compute timed out after 1s",
        ] {
            assert!(log.contains(line), "log lacks {line:?}:\n{log}");
        }
    }
}

#[test]
fn output_at_source_time_and_from_background_jobs_cannot_corrupt_results() {
    let t = TestDir::new();
    t.write(
        "noisy.sh",
        format!(
            r#"{HEADER}
OUTPUT=( "length" "tag" )
echo "loading the noisy plugin"
printf 'no newline at the end'
( sleep 0.3; echo "late noise from a top-level background job" ) &
compute() {{
  local entity=$1
  ( sleep 0.3; echo "stray output of a background job of $entity" ) &
  echo -e "${{#entity}}\tok"
}}
"#
        ),
    );
    let ids: String = (0..30).map(|i| format!("entity{i}\n")).collect();
    let expected: String = (0..30)
        .map(|i| {
            let id = format!("entity{i}");
            format!("{id}\t{}\tok\n", id.len())
        })
        .collect();
    for persistent in [true, false] {
        let r = run_ids(&t, "noisy.sh", &ids, persistent, &["-j", "2"]).ok();
        eqnice!(expected, t.read("out.tsv"));
        let log = t.read("log.tsv");
        assert!(!log.contains("stray"), "{log}");
        if persistent {
            assert!(
                r.stderr.contains("t: sourcing: loading the noisy plugin"),
                "{}",
                r.stderr
            );
        }
    }
}

#[test]
fn bash_plugins_work_with_list_info_and_check() {
    let t = TestDir::new();
    let example =
        std::fs::read_to_string(repo_root().join("examples-plugins/bash/fas_stats.sh")).unwrap();
    t.write("plugins/fas_stats.sh", &example);
    t.write(
        "plugins/broken.sh",
        "ID=\"broken\"\nVERSION=\"1\"\nINPUT=\"x\"\nOUTPUT=\"a\"\nPARAMETERS=( \"n int 0 doc\" )\ncompute() { echo 1; }\n",
    );
    let r = Run::of(t.cmd().arg("list")).code(1);
    let row = r
        .stdout
        .lines()
        .find(|l| l.starts_with("fas_stats_bash"))
        .unwrap_or_else(|| panic!("no row:\n{}", r.stdout));
    assert!(row.contains("bash"), "{row}");
    assert!(row.contains("genome_size,GC_content"), "{row}");
    assert!(
        r.stderr.contains("plugins/broken.sh: bad Bash plugin"),
        "{}",
        r.stderr
    );

    Run::of(t.cmd().args(["info", "fas_stats_bash"]))
        .ok()
        .stdout_has("LANGUAGE:       bash")
        .stdout_has("min_length (int, default 0): genomes with fewer sequence letters")
        .stdout_has("FUNCTIONS:      initialize, compute, finalize");

    let defs = repo_root().join("examples-plugins/attribute_definitions.yaml");
    Run::of(t.cmd().args(["check", "plugins/fas_stats.sh"]).arg(&defs))
        .ok()
        .stdout_has("ok: fas_stats_bash 1.0 (bash, plugins/fas_stats.sh)");

    let r = Run::of(t.cmd().args(["check", "plugins/broken.sh"])).code(1);
    for text in [
        "plugins/broken.sh: bad Bash plugin",
        "OUTPUT must be a bash array, as in OUTPUT=( \"lines\" \"words\" )",
        "PARAMETERS element 1 (\"n int 0 doc\") has 1 field(s); write the name, datatype, \
         default and documentation separated by \\t",
    ] {
        assert!(r.stdout.contains(text), "lacks {text:?}:\n{}", r.stdout);
    }
}

#[test]
fn broken_scripts_get_one_clear_error_naming_the_file() {
    let t = TestDir::new();
    t.write(
        "syntax.sh",
        format!("{HEADER}OUTPUT=( \"a\" )\ncompute() {{\n  if then\n}}\n"),
    );
    t.write(
        "exits.sh",
        format!("{HEADER}OUTPUT=( \"a\" )\necho \"need samtools\" >&2\nexit 1\ncompute() {{ echo 1; }}\n"),
    );
    t.write(
        "badparam.sh",
        format!("{HEADER}OUTPUT=( \"a\" )\nPARAMETERS=( \"min-len\\tint\\t0\\tdoc\" )\ncompute() {{ echo 1; }}\n"),
    );
    t.write("ids.txt", "a\n");
    for (file, texts) in [
        (
            "syntax.sh",
            vec![
                "syntax.sh: bad Bash plugin",
                "defines neither compute nor compute_id",
                "bash said:",
                "syntax error",
            ],
        ),
        (
            "exits.sh",
            vec![
                "exits.sh: sourcing the script ended bash (exit status: 1) before its constants could be read",
                "need samtools",
            ],
        ),
        (
            "badparam.sh",
            vec!["parameter name 'min-len' cannot be a Bash variable"],
        ),
    ] {
        let r = Run::of(t.cmd().args(["run", file, "ids", "ids.txt"])).code(2);
        for text in texts {
            assert!(r.stderr.contains(text), "{file}: lacks {text:?}:\n{}", r.stderr);
        }
        assert_eq!(
            r.stderr.matches("polyplug:").count(),
            1,
            "one error:\n{}",
            r.stderr
        );
    }
}

#[test]
fn a_bash_idsproc_plugin_needs_only_compute_id() {
    let t = TestDir::new();
    t.write(
        "stem.sh",
        "compute_id() {\n  local f=${1##*/}\n  echo \"${f%.fas}\"\n}\n",
    );
    let pattern = repo_root().join("examples-plugins/data/*.fas");
    for persistent in [true, false] {
        let mut cmd = t.cmd();
        cmd.arg("run")
            .arg(repo_root().join("examples-plugins/bash/fas_stats.sh"))
            .arg("files")
            .arg(&pattern)
            .args(["--idsproc", "stem.sh", "-r", "report.yaml"]);
        mode(&mut cmd, persistent);
        let r = Run::of(&mut cmd).no_panic().ok();
        eqnice!(
            "at_rich\t34\t0.058823529411764705\n\
             ecoli_fragment\t159\t0.5471698113207547\n\
             phage_lambda_mini\t200\t0.425\n",
            r.stdout
        );
    }
    Run::of(t.cmd().args(["info", "stem.sh"]))
        .ok()
        .stdout_has("ID:             stem")
        .stdout_has("FUNCTIONS:      compute_id");
    Run::of(t.cmd().args(["run", "stem.sh", "ids", "stem.sh"]))
        .code(2)
        .stderr_has("it is an idsproc plugin: use it with --idsproc");
}

#[test]
fn values_are_typed_by_the_attribute_definitions() {
    let t = TestDir::new();
    t.write(
        "typed.sh",
        format!(
            r#"{HEADER}
OUTPUT=( "name" "count" "ratio" )
compute() {{
  case $1 in
    good) echo -e "42\t007\t1.50" ;;
    plain) echo -e "x\t3\t0.25" ;;
    bad) echo -e "y\tmany\t0.5" ;;
  esac
}}
"#
        ),
    );
    t.write(
        "defs.yaml",
        "name:\n  datatype: String(10)\ncount:\n  datatype: Integer\nratio:\n  datatype: Float\n",
    );
    run_ids(
        &t,
        "typed.sh",
        "good\nplain\nbad\n",
        true,
        &["--defs", "defs.yaml"],
    )
    .code(1);
    // A text column keeps "42" as text; Integer and Float columns take any spelling.
    eqnice!("good\t42\t7\t1.5\nplain\tx\t3\t0.25\n", t.read("out.tsv"));
    eqnice!(
        "bad\terror: attribute 'count' needs Integer, got string 'many'\n",
        t.read("log.tsv")
    );
    // Without definitions, every field is written exactly as printed.
    run_ids(&t, "typed.sh", "good\nplain\n", true, &[]).ok();
    eqnice!(
        "good\t42\t007\t1.50\nplain\tx\t3\t0.25\n",
        t.read("out.tsv")
    );
}

#[test]
fn a_script_the_worker_cannot_source_stops_the_run_with_bash_s_words() {
    let t = TestDir::new();
    // Sourced fine once (to read the constants), then it exits: the worker fails.
    t.write(
        "late.sh",
        format!(
            "{HEADER}OUTPUT=( \"a\" )\nif [[ -e flag ]]; then echo \"cannot start: flag is set\" >&2; exit 3; fi\n\
             touch flag\ncompute() {{ echo 1; }}\n"
        ),
    );
    let r = run_ids(&t, "late.sh", "a\nb\n", true, &["-j", "1"])
        .code(2)
        .stderr_has(
            "late.sh: sourcing the script ended bash (exit status: 3), so no worker can run it",
        )
        .stderr_has("cannot start: flag is set");
    assert_eq!(t.read("out.tsv"), "", "{}", r.stderr);
    assert!(t.read("report.yaml").contains("comp_status: aborted"));
}

#[test]
fn the_bash_sdk_helpers_pass_values_and_frame_results_safely() {
    let t = TestDir::new();
    let sdk = repo_root().join("plugin-sdk/bash/polyplug.sh");
    t.write(
        "sdk.sh",
        format!(
            r#"{HEADER}
source "{sdk}"
OUTPUT=( "length" "label_hex" "ratio" )
PARAMETERS=( "label\tstr\tplain\ta label" "min\tint\t0\tminimum length" )
compute() {{
  local entity=$1; shift
  local label="" min=0
  pp_kwargs "$@"
  if (( ${{#entity}} < min )); then pp_no_result "length" "${{#entity}} is below $min"; return; fi
  if [[ $entity == tab ]]; then pp_result "a	b" "x" "y"; return; fi
  local ratio
  pp_py_float -v ratio 1 "${{#entity}}"
  pp_result "${{#entity}}" "$(printf '%s' "$label" | od -An -tx1 | tr -d ' \n')" "$ratio"
  pp_log "note" "computed
on two lines"
}}
"#,
            sdk = sdk.display()
        ),
    );
    let label = "x $(touch pwned) `touch pwned` ; *";
    t.write("params.yaml", format!("label: '{label}'\nmin: 3\n"));
    run_ids(
        &t,
        "sdk.sh",
        "abcd\nab\ntab\nabcdefgh\n",
        true,
        &["--params", "params.yaml"],
    )
    .code(1);
    eqnice!(
        format!(
            "abcd\t4\t{h}\t0.25\nabcdefgh\t8\t{h}\t0.125\n",
            h = hex(label)
        ),
        t.read("out.tsv")
    );
    let log = t.read("log.tsv");
    for line in [
        "abcd\tnote\tcomputed on two lines\n",
        "ab\tlength\t2 is below 3\n",
        "tab\terror: compute exited with status 1: pp_result: value $'a\\tb' holds a TAB or a newline\n",
    ] {
        assert!(log.contains(line), "log lacks {line:?}:\n{log}");
    }
    assert!(!t.join("pwned").exists());
}

#[test]
fn pp_py_float_writes_floats_as_python_and_starts_awk_once_per_worker() {
    let t = TestDir::new();
    let sdk = repo_root().join("plugin-sdk/bash/polyplug.sh");
    t.write(
        "ratio.sh",
        format!(
            r#"{HEADER}
source "{sdk}"
OUTPUT=( "ratio" )
compute() {{
  local f
  pp_py_float -v f "${{1%%_*}}" "${{1#*_}}" || return 1
  pp_result "$f"
  pp_log "awk" "$_PP_FLOAT_PID"
}}
"#,
            sdk = sdk.display()
        ),
    );
    // What Python's str() writes for each quotient (checked with CPython 3.11).
    let cases = [
        ("17_40", "0.425"),
        ("1_3", "0.3333333333333333"),
        ("1_100000", "1e-05"),
        ("12345678901234567_1", "1.2345678901234568e+16"),
        ("2_1", "2.0"),
        ("0_5", "0.0"),
        ("1_10000", "0.0001"),
        ("-3_7", "-0.42857142857142855"),
        ("99999999999999984_10", "9999999999999998.0"),
        ("1_3e20", "3.3333333333333333e-21"),
    ];
    let ids: String = cases.iter().map(|(id, _)| format!("{id}\n")).collect();
    let expected: String = cases.iter().map(|(id, v)| format!("{id}\t{v}\n")).collect();
    run_ids(&t, "ratio.sh", &(ids + "1_0\n"), true, &["-j1"]).code(1);
    eqnice!(expected, t.read("out.tsv"));
    let log = t.read("log.tsv");
    assert!(
        log.contains("1_0\terror: compute exited with status 1: pp_py_float: division by zero"),
        "{log}"
    );
    // One awk for the worker's whole life: the same process answered every call.
    let pids: Vec<&str> = log
        .lines()
        .filter(|l| l.split('\t').nth(1) == Some("awk"))
        .filter_map(|l| l.split('\t').nth(2))
        .collect();
    assert_eq!(pids.len(), cases.len(), "{log}");
    assert!(pids.iter().all(|p| *p == pids[0]), "{log}");
}

#[test]
fn sandbox_options_are_refused_for_bash_plugins() {
    // Before: silently ignored. A Bash plugin runs with the user's rights.
    let t = TestDir::new();
    t.write(
        "p.sh",
        format!("{HEADER}OUTPUT=( \"a\" )\ncompute() {{ echo 1; }}\n"),
    );
    for persistent in [true, false] {
        let r = run_ids(&t, "p.sh", "a\n", persistent, &["--allow-dir", "."]);
        r.code(2)
            .stderr_has("p.sh: --allow-dir only apply to WebAssembly plugins")
            .stderr_has("a Bash plugin runs unsandboxed with your rights");
        assert!(!t.join("out.tsv").exists(), "nothing ran");
    }
}

#[test]
fn each_call_of_a_batch_gets_its_own_output_stderr_and_time_limit() {
    // A batch's calls share two output files, split at the driver's separators: what
    // each compute printed (with a trailing newline or without), what it said on
    // stderr (some say nothing, some several lines), a compute that closes or moves
    // its stdout, and the time limit of each call, however long the calls before it
    // in the batch took together.
    let t = TestDir::new();
    t.write(
        "mixed.sh",
        format!(
            r#"{HEADER}
OUTPUT=( "n" )
compute() {{
  local e=$1 n=${{1#*_}}
  case $e in
    quiet_*) echo "$n" ;;
    noeol_*) printf '%s' "$n" ;;
    talk_*) echo "note on $e" >&2; echo "second note" >&2; echo "$n" ;;
    moved_*) exec >/dev/null; echo lost; return 5 ;;
    closed_*) exec 1>&- 2>&-; return 6 ;;
    nap_*) sleep 0.3; echo "$n" ;;
    hang_*) sleep 30 ;;
  esac
}}
"#
        ),
    );
    let mut ids = String::new();
    let mut rows = String::new();
    for i in 0..300 {
        let kind = ["quiet", "noeol", "talk", "quiet", "moved", "closed"][i % 6];
        ids.push_str(&format!("{kind}_{i}\n"));
        if !matches!(kind, "moved" | "closed") {
            rows.push_str(&format!("{kind}_{i}\t{i}\n"));
        }
    }
    for i in 300..306 {
        ids.push_str(&format!("nap_{i}\n"));
        rows.push_str(&format!("nap_{i}\t{i}\n"));
    }
    ids.push_str("hang_306\nquiet_307\n");
    rows.push_str("quiet_307\t307\n");
    for persistent in [true, false] {
        let r = run_ids(
            &t,
            "mixed.sh",
            &ids,
            persistent,
            &["-j", "1", "--timeout", "1"],
        )
        .code(1);
        eqnice!(rows, t.read("out.tsv"));
        // What a compute that succeeds says on stderr is shown, named by its entity.
        for i in (2..300).step_by(6) {
            let said = format!("t: talk_{i}: note on talk_{i}\nt: talk_{i}: second note\n");
            assert!(r.stderr.contains(&said), "{said}in\n{}", r.stderr);
        }
        assert_eq!(r.stderr.matches("note on").count(), 50, "{}", r.stderr);
        let log = t.read("log.tsv");
        for i in (4..300).step_by(6) {
            assert!(
                log.contains(&format!("moved_{i}\terror: compute exited with status 5\n")),
                "{log}"
            );
            let closed = i + 1;
            assert!(
                log.contains(&format!(
                    "closed_{closed}\terror: compute exited with status 6\n"
                )),
                "{log}"
            );
        }
        assert!(
            log.contains("hang_306\terror: compute timed out after 1s (--timeout)"),
            "{log}"
        );
        assert_eq!(log.lines().count(), 50 + 50 + 1, "{log}");
    }
}

#[test]
fn a_bash_plugin_runs_with_the_system_s_huge_pages_while_the_host_runs_without() {
    // The host turns transparent huge pages off for its own allocator; the programs a
    // plugin runs must not inherit that. compute prints the flag of its own bash and
    // of the host (the parent of the guard that started bash).
    let t = TestDir::new();
    t.write(
        "thp.sh",
        format!(
            "{HEADER}OUTPUT=( \"plugin\" \"host\" )\n\
             thp() {{ awk '/^THP_enabled/ {{ print $2 }}' \"/proc/$1/status\"; }}\n\
             compute() {{\n\
               local host=$(awk '/^PPid/ {{ print $2 }}' /proc/$PPID/status)\n\
               echo -e \"$(thp self)\\t$(thp \"$host\")\"\n\
             }}\n"
        ),
    );
    let own = std::fs::read_to_string("/proc/self/status")
        .expect("/proc/self/status")
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:").map(|v| v.trim().to_string()))
        .expect("the kernel shows THP_enabled in /proc/<pid>/status");
    for persistent in [true, false] {
        run_ids(&t, "thp.sh", "a\n", persistent, &[]).ok();
        eqnice!(
            format!("a\t{own}\t0\n"),
            std::fs::read_to_string(t.join("out.tsv")).expect("out.tsv")
        );
    }
}
