//! The run experience: the one summary line every run ends with (what was computed,
//! without a result, failed, skipped and why, the time, where the report is), and the
//! report printed only when asked.

use polyplug_e2e::{eqnice, plugin_lib, Run, TestDir};

fn testkit() -> std::path::PathBuf {
    plugin_lib("testkit")
}

/// The last line of stderr, the summary.
fn summary(r: &Run) -> &str {
    r.stderr.lines().last().unwrap_or_default()
}

#[test]
fn every_run_ends_with_one_line_saying_what_it_did() {
    let t = TestDir::new();
    t.write("ids.txt", "a\nb\nnone1\nfail1\nc\n");
    let store = t.join("s.db");
    let store = store.to_str().unwrap_or_default();
    let run = |out: &str, extra: &[&str]| {
        Run::of(
            t.run(testkit())
                .args([
                    "ids", "ids.txt", "-o", out, "--store", store, "-l", "log.tsv",
                ])
                .args(extra),
        )
    };
    let first = run("out.tsv", &[]).code(1);
    let line = summary(&first);
    assert!(
        line.starts_with(
            "polyplug: testkit: 4 computed (1 without a result), 1 failed (see the log) in "
        ),
        "{line}"
    );
    assert!(
        line.contains(" entities/s); report in the store (polyplug runs show "),
        "{line}"
    );
    // Without -r the report is not printed: the summary is the only line (and the
    // failure's own note).
    assert!(!first.stderr.contains("comp_status"), "{}", first.stderr);
    // Rerun into the same results file: what it holds and what the store has are
    // skipped, each counted with its reason; the failure is computed again.
    let again = run("out.tsv", &[]).code(1);
    let line = summary(&again);
    assert!(
        line.starts_with(
            "polyplug: testkit: 0 computed, 1 failed (see the log), 4 skipped as done (3 in \
             out.tsv, 1 in the store "
        ),
        "{line}"
    );
    assert!(
        line.contains(": --force computes them again) in "),
        "{line}"
    );
    // A new results file, everything done: said plainly, naming the store and --force.
    t.write("ids2.txt", "a\nb\nnone1\n");
    let done = Run::of(t.run(testkit()).args([
        "ids", "ids2.txt", "-o", "new.tsv", "--store", store, "-r", "r.yaml",
    ]))
    .ok();
    eqnice!("", t.read("new.tsv"));
    let line = summary(&done);
    assert!(
        line.starts_with(&format!(
            "polyplug: testkit: nothing computed: all 3 entities are done (3 in the store \
             {store}: --force computes them again) in "
        )),
        "{line}"
    );
    assert!(line.ends_with("; report in r.yaml"), "{line}");
    assert_eq!(done.stderr.lines().count(), 1, "{}", done.stderr);
    let report = t.read("r.yaml");
    assert!(report.contains("n_skipped: 3\nn_units: 0\n"), "{report}");
    // -v says how many are done, and the summary how many were skipped: the same.
    let verbose = Run::of(t.run(testkit()).args([
        "ids", "ids2.txt", "-o", "new.tsv", "--store", store, "-v", "-l", "l.tsv",
    ]))
    .ok()
    .stderr_has("4 IDs are done (in the results file, the skip list or the store)");
    assert!(
        summary(&verbose).contains("all 3 entities are done"),
        "{}",
        verbose.stderr
    );
    // An empty input says so.
    t.write("empty.txt", "");
    let empty = Run::of(
        t.run(testkit())
            .args(["ids", "empty.txt", "--no-store", "-l", "l.tsv"]),
    )
    .ok();
    assert!(
        summary(&empty)
            .starts_with("polyplug: testkit: nothing computed: the input has no entities in "),
        "{}",
        empty.stderr
    );
    assert!(summary(&empty).ends_with("; no report (-r FILE writes one)"));
}

#[test]
fn the_report_goes_to_stderr_only_when_asked() {
    let t = TestDir::new();
    t.write("ids.txt", "a\nb\n");
    let r = Run::of(t.run(testkit()).args([
        "ids",
        "ids.txt",
        "--no-store",
        "-l",
        "log.tsv",
        "-r",
        "-",
    ]))
    .ok();
    assert!(
        r.stderr.starts_with("comp_status: completed\n"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("\nn_units: 2\n"), "{}", r.stderr);
    assert!(summary(&r).ends_with("; report above"), "{}", r.stderr);
    assert!(
        r.stdout.starts_with("a\t1\t") && r.stdout.contains("\nb\t1\t"),
        "{}",
        r.stdout
    );
    let quiet = Run::of(
        t.run(testkit())
            .args(["ids", "ids.txt", "--no-store", "-l", "log.tsv"]),
    )
    .ok();
    assert_eq!(quiet.stderr.lines().count(), 1, "{}", quiet.stderr);
}

#[test]
fn completions_and_man_pages_come_from_the_command_definitions() {
    let t = TestDir::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let r = Run::of(t.cmd().args(["completions", shell])).ok();
        for word in [
            "run",
            "records",
            "id-column",
            "allow-duplicate-ids",
            "merge",
        ] {
            assert!(r.stdout.contains(word), "{shell} completions lack {word}");
        }
        assert!(
            !r.stdout.contains("__worker"),
            "{shell}: a hidden command shows"
        );
    }
    Run::of(t.cmd().args(["completions", "tcsh"]))
        .code(2)
        .stderr_has("invalid value 'tcsh'");
    let page = Run::of(t.cmd().arg("man")).ok().stdout;
    assert!(page.starts_with(".ie \\n(.g .ds Aq"), "{page}");
    assert!(page.contains(".TH polyplug 1"), "{page}");
    assert!(page.contains("polyplug\\-run(1)"), "{page}");
    Run::of(t.cmd().args(["man", "--dir", "man"]))
        .ok()
        .stdout_has("man pages written to man");
    let run_page = t.read("man/polyplug-run.1");
    assert!(run_page.contains("\\-\\-id\\-column"), "{run_page}");
    assert!(!t.join("man/polyplug-__worker.1").exists());
}

#[test]
fn a_dry_run_says_what_a_run_would_do_and_does_nothing() {
    let t = TestDir::new();
    t.write("ids.txt", "a\nb\nc\nd\nb2\n");
    t.write("out.tsv", "a\t1\tx\n");
    let store = t.join("s.db");
    let store = store.to_str().unwrap_or_default();
    // d is done in the store (an earlier run into another results file).
    t.write("d.txt", "d\n");
    Run::of(t.run(testkit()).args([
        "ids", "d.txt", "-o", "d.tsv", "--store", store, "-l", "l.tsv",
    ]))
    .ok();
    let before = std::fs::metadata(t.join("s.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    let plan = Run::of(t.run(testkit()).args([
        "ids",
        "ids.txt",
        "-o",
        "out.tsv",
        "--store",
        store,
        "--dry-run",
        "-j1",
    ]))
    .ok();
    for line in [
        "plugin_id: testkit\n",
        "kind: native\n",
        "input: ids ids.txt\n",
        "shard: all\n",
        "workers: 1\n",
        "entities: 5\n",
        "skipped:\n  results_file: 1\n  store: 1\n  repeats: 0\n",
        "to_compute: 3\n",
    ] {
        assert!(
            plan.stdout.contains(line),
            "plan lacks {line:?}:\n{}",
            plan.stdout
        );
    }
    assert!(plan.stdout.contains("sha256: "), "{}", plan.stdout);
    // Nothing written: the results file, the store, no report.
    eqnice!("a\t1\tx\n", t.read("out.tsv"));
    assert_eq!(
        std::fs::metadata(t.join("s.db"))
            .map(|m| m.len())
            .unwrap_or(0),
        before
    );
    // --list: exactly the entities the run then computes, in order.
    let list = Run::of(t.run(testkit()).args([
        "ids", "ids.txt", "-o", "out.tsv", "--store", store, "--list",
    ]))
    .ok()
    .stderr_has("testkit: 3 entities would be computed (2 skipped as done); nothing was computed");
    eqnice!("b\nc\nb2\n", list.stdout);
    Run::of(t.run(testkit()).args([
        "ids", "ids.txt", "-o", "out.tsv", "--store", store, "-l", "l.tsv",
    ]))
    .ok();
    let out = t.read("out.tsv");
    let computed: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split('\t').next().unwrap_or(""))
        .collect();
    assert_eq!(computed, ["b", "c", "b2"]);
    // A shard's plan, and a new store is not created by a dry run.
    let shard = Run::of(t.run(testkit()).args([
        "ids",
        "ids.txt",
        "--shard",
        "1/2",
        "--store",
        "none.db",
        "--dry-run",
    ]))
    .ok();
    assert!(shard.stdout.contains("shard: 1/2\n"), "{}", shard.stdout);
    assert!(!t.join("none.db").exists());
    // Bad input is refused as a run would refuse it.
    t.write("dup.txt", "x\nx\n");
    Run::of(
        t.run(testkit())
            .args(["ids", "dup.txt", "--dry-run", "--no-store"]),
    )
    .code(2)
    .stderr_has("1 ID appears more than once");
}

#[test]
fn plain_progress_lines_and_the_failures_at_the_end() {
    let t = TestDir::new();
    let ids: String =
        (0..16).map(|i| format!("sleep{i}\n")).collect::<String>() + "fail1\nfail2\nok\n";
    t.write("ids.txt", ids);
    let with_progress = |mode: &str| {
        Run::of(t.run(testkit()).args([
            "ids",
            "ids.txt",
            "-j1",
            "--no-store",
            "-l",
            "log.tsv",
            "--progress",
            mode,
            "--progress-every",
            "0.2",
        ]))
        .code(1)
    };
    let r = with_progress("plain");
    let progress: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("polyplug: progress: "))
        .collect();
    assert!(progress.len() >= 2, "{}", r.stderr);
    assert!(
        progress
            .iter()
            .any(|l| l.contains("/19 done, ") && l.contains("/s")),
        "{}",
        r.stderr
    );
    assert!(
        progress.iter().any(|l| l.contains("; running: sleep")),
        "{}",
        r.stderr
    );
    // The failures, listed before the summary line, with where all of them are.
    assert!(
        r.stderr.contains(
            "polyplug: failed: 2 of 2 (every one in log.tsv):\n  fail1: asked to fail on fail1\n  \
             fail2: asked to fail on fail2\n"
        ),
        "{}",
        r.stderr
    );
    let quiet = with_progress("none");
    assert!(!quiet.stderr.contains("progress:"), "{}", quiet.stderr);
    Run::of(
        t.run(testkit())
            .args(["ids", "ids.txt", "--progress-every", "0"]),
    )
    .code(2)
    .stderr_has("--progress-every 0: give a number of seconds from 0.1 to 86400");
}

#[test]
fn only_computes_one_entity_in_the_foreground_with_its_whole_error() {
    let t = TestDir::new();
    t.write(
        "p.py",
        "ID = 'p'\nVERSION = '1'\nINPUT = 'x'\nOUTPUT = ['n']\n\n\
         def helper(x):\n    return 1 / x\n\n\
         def compute(e, **kw):\n    print('computing', e)\n    return [helper(len(e) - 3)], []\n",
    );
    t.write("ids.txt", "abc\nabcd\nabcde\n");
    t.write("out.tsv", "abcd\t1.0\n");
    // Done in the results file and in a store: --only computes it anyway, stores
    // nothing, appends nothing.
    let r = Run::of(
        t.run("p.py")
            .args(["ids", "ids.txt", "--only", "abcd", "--only", "abc"]),
    )
    .code(1);
    eqnice!("abcd\t1.0\n", r.stdout);
    assert!(
        r.stderr.contains("computing abc\n") && r.stderr.contains("computing abcd\n"),
        "{}",
        r.stderr
    );
    for part in [
        "Traceback (most recent call last):",
        "in compute\n",
        "in helper\n",
        "ZeroDivisionError: division by zero",
    ] {
        assert!(r.stderr.contains(part), "{part:?}:\n{}", r.stderr);
    }
    eqnice!("abcd\t1.0\n", t.read("out.tsv"));
    assert!(!t.join("polyplug.db").exists());
    Run::of(t.run("p.py").args(["ids", "ids.txt", "--only", "zzz"]))
        .code(1)
        .stderr_has("--only: not in the input: zzz");
    Run::of(
        t.run("p.py")
            .args(["ids", "ids.txt", "--only", "abc", "-o", "x.tsv"]),
    )
    .code(2)
    .stderr_has(
        "--only computes in the foreground (results on stdout, logs on stderr): leave out -o/--out",
    );
    // Bash: --trace shows what the compute ran.
    t.write(
        "b.sh",
        "ID=b\nVERSION=1\nINPUT=x\nOUTPUT=( n )\ncompute() {\n  local x=${#1}\n  \
         if (( x == 3 )); then echo \"no $1\" >&2; return 2; fi\n  echo \"$x\"\n}\n",
    );
    let r = Run::of(
        t.run("b.sh")
            .args(["ids", "ids.txt", "--only", "abc", "--trace"]),
    )
    .code(1);
    assert!(r.stderr.contains("abc\t+ local x=3\n"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("abc\terror: compute exited with status 2: no abc"),
        "{}",
        r.stderr
    );
    let ok = Run::of(
        t.run("b.sh")
            .args(["ids", "ids.txt", "--only", "abcd", "--trace"]),
    )
    .ok();
    eqnice!("abcd\t4\n", ok.stdout);
    assert!(ok.stderr.contains("+ echo 4"), "{}", ok.stderr);
}

#[test]
fn tagged_runs_are_listed_by_tag_and_two_versions_are_compared() {
    let t = TestDir::new();
    let plugin = |version: &str, body: &str| {
        format!(
            "ID = 'len'\nVERSION = '{version}'\nINPUT = 'x'\nOUTPUT = ['n', 'half']\n\n\
             def compute(e, **kw):\n    {body}\n"
        )
    };
    t.write("v1.py", plugin("1", "return [len(e), len(e) // 2], []"));
    t.write(
        "v2.py",
        plugin(
            "2",
            "return ([], []) if e == 'gone' else ([len(e), len(e) / 2], [])",
        ),
    );
    t.write("ids.txt", "ab\nabc\ngone\n");
    t.write("ids2.txt", "ab\nabc\ngone\nnew\n");
    let store = t.join("s.db");
    let store = store.to_str().unwrap_or_default();
    let run = |plugin: &str, ids: &str, extra: &[&str]| {
        Run::of(
            t.run(plugin)
                .args(["ids", ids, "--store", store, "-o", &format!("{plugin}.tsv")])
                .args(extra),
        )
        .ok()
    };
    run(
        "v1.py",
        "ids.txt",
        &[
            "--name",
            "baseline",
            "--tag",
            "project=phage",
            "--tag",
            "stage=1",
        ],
    );
    run(
        "v2.py",
        "ids2.txt",
        &["--tag", "project=phage", "--tag", "stage=2"],
    );
    let list = |extra: &[&str]| {
        Run::of(t.cmd().args(["runs", "list", "--store", store]).args(extra))
            .ok()
            .stdout
    };
    let all = list(&[]);
    assert!(
        all.lines()
            .next()
            .unwrap_or_default()
            .ends_with("\thost\tname\ttags"),
        "{all}"
    );
    assert_eq!(all.lines().count(), 3, "{all}");
    let stage2 = list(&["--tag", "project=phage", "--tag", "stage=2"]);
    assert_eq!(stage2.lines().count(), 2, "{stage2}");
    assert!(
        stage2
            .lines()
            .nth(1)
            .unwrap_or_default()
            .ends_with("\t\tproject=phage,stage=2"),
        "{stage2}"
    );
    let named = list(&["--name", "baseline"]);
    assert_eq!(named.lines().count(), 2, "{named}");
    assert!(
        named.contains("\tbaseline\tproject=phage,stage=1"),
        "{named}"
    );
    assert_eq!(list(&["--plugin", "other"]).lines().count(), 1);
    assert_eq!(list(&["--tag", "project=other"]).lines().count(), 1);
    Run::of(
        t.cmd()
            .args(["runs", "list", "--store", store, "--tag", "novalue"]),
    )
    .code(2)
    .stderr_has("--tag novalue: write KEY=VALUE");
    let uuid = |line: usize| {
        all.lines()
            .nth(line)
            .and_then(|l| l.split('\t').next())
            .unwrap_or_default()
            .to_string()
    };
    let (a, b) = (uuid(1), uuid(2));
    let show = Run::of(t.cmd().args(["runs", "show", &a[..8], "--store", store]))
        .ok()
        .stdout;
    assert!(
        show.contains("name: baseline\n") && show.contains("tags: 'project=phage, stage=1'\n"),
        "{show}"
    );
    // v2 halves with a float, has no result for `gone` and one more entity.
    let diff = Run::of(
        t.cmd()
            .args(["runs", "diff", &a[..8], &b[..8], "--store", store]),
    )
    .ok();
    eqnice!(
        "entity\tattribute\ta\tb\nab\thalf\t1\t1.0\nabc\thalf\t1\t1.5\nnew\thalf\t-\t1.5\nnew\tn\t-\t3\n\
         gone\thalf\t2\t-\ngone\tn\t4\t-\n",
        diff.stdout
    );
    assert!(
        diff.stderr.contains(&format!(
            "half: 2 changed, 1 only in {}, 1 only in {}, 0 the same",
            &a[..8],
            &b[..8]
        )),
        "{}",
        diff.stderr
    );
    assert!(
        diff.stderr.contains(&format!(
            "n: 0 changed, 1 only in {}, 1 only in {}, 2 the same",
            &a[..8],
            &b[..8]
        )),
        "{}",
        diff.stderr
    );
}
