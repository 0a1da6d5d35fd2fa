//! Python (Prenacs) plugins in embedded CPython: in-process at -j1, worker processes
//! at -j N. Fixture plugins are in `tests/fixtures/python/`.

use polyplug_e2e::{eqnice, plugin_lib, repo_root, Run, TestDir};
use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/python").join(name)
}

/// Runs `plugin` over the IDs in `ids` with extra arguments; report to a file.
fn run_ids(t: &TestDir, plugin: &PathBuf, ids: &str, extra: &[&str]) -> Run {
    let idsfile = t.write("ids.txt", ids);
    Run::of(
        t.run(plugin)
            .arg("ids")
            .arg(&idsfile)
            .arg("-r")
            .arg(t.join("report.yaml"))
            .args(extra),
    )
    .no_panic()
}

#[test]
fn fas_stats_python_rows_match_rust_and_c() {
    let t = TestDir::new();
    let pattern = repo_root().join("examples-plugins/data/*.fas");
    let defs = repo_root().join("examples-plugins/attribute_definitions.yaml");
    let run = |plugin: PathBuf, jobs: &str, params: Option<&str>| {
        let mut c = t.cmd();
        c.arg("run")
            .arg(plugin)
            .arg("files")
            .arg(&pattern)
            .arg("--defs")
            .arg(&defs)
            .args(["-j", jobs, "-r"])
            .arg(t.join("report.yaml"))
            .arg("-l")
            .arg(t.join(&format!("log{jobs}.tsv")));
        if let Some(p) = params {
            c.arg("--params").arg(t.write("params.yaml", p));
        }
        Run::of(&mut c).no_panic().ok()
    };
    let py = repo_root().join("examples-plugins/python/fas_stats.py");
    let rust = run(plugin_lib("fas_stats_rust"), "1", None);
    let c = run(plugin_lib("fas_stats_c"), "1", None);
    let py1 = run(py.clone(), "1", None);
    let py2 = run(py.clone(), "2", None);
    eqnice!(rust.stdout, c.stdout);
    eqnice!(rust.stdout, py1.stdout);
    eqnice!(rust.stdout, py2.stdout);
    assert!(
        py1.stderr
            .contains("fas_stats_python: finalize: processed 3 files, 393 sequence letters"),
        "{}",
        py1.stderr
    );
    // The min_length parameter: no result and the same log row in every language.
    let rust = run(plugin_lib("fas_stats_rust"), "1", Some("min_length: 100\n"));
    let rust_log = t.read("log1.tsv");
    let py1 = run(py, "1", Some("min_length: 100\n"));
    eqnice!(rust.stdout, py1.stdout);
    let py_log = t.read("log1.tsv");
    let data = repo_root().join("examples-plugins/data");
    let row = format!(
        "{}/at_rich.fas\tgenome_size\t34 letters, below min_length 100\n",
        data.display()
    );
    assert!(py_log.contains(&row), "{py_log}");
    assert_eq!(rust_log.matches(&row).count(), 1, "{rust_log}");
}

#[test]
fn prenacs_return_shapes_are_accepted_and_written_as_prenacs_does() {
    let t = TestDir::new();
    let ids = "tuple_logs_list\nlist_logs_none\nresults_only\nnested_logs\nlog_string\n\
               empty_results\nempty_string_result\nodd_values\nlists\nfloats\nlist_return\n";
    for jobs in ["1", "2"] {
        let log = format!("log{jobs}.tsv");
        let r = run_ids(&t, &fixture("shapes.py"), ids, &["-j", jobs, "-l", &log]).ok();
        eqnice!(
            "tuple_logs_list\t1\t2.5\n\
             list_logs_none\tTrue\tNone\n\
             results_only\t10\tx\n\
             nested_logs\t1\t2\n\
             log_string\t3\t4\n\
             odd_values\t(1, 2)\t1180591620717411303424\n\
             lists\t[1, 'a', None, 0.5]\t[Thing()]\n\
             floats\t1e-05\t1.0\n\
             list_return\t7\t8\n",
            r.stdout
        );
        eqnice!(
            "tuple_logs_list\tfirst\n\
             tuple_logs_list\tsecond\n\
             nested_logs\t['n1', '', 'n2']\n\
             nested_logs\t['n3']\n\
             nested_logs\textra\n\
             nested_logs\tn4\n\
             nested_logs\t['deep']\n\
             log_string\tjust one\n\
             empty_results\tnothing here\n\
             list_return\tas list\n",
            t.read(&log)
        );
    }
}

#[test]
fn an_exception_fails_its_entity_with_type_message_and_plugin_line() {
    let t = TestDir::new();
    for jobs in ["1", "2"] {
        let log = format!("log{jobs}.tsv");
        let r = run_ids(
            &t,
            &fixture("failing.py"),
            "ok\nbad1\nparse\nnone\nfine\n",
            &["-j", jobs, "-l", &log],
        )
        .code(1)
        .stderr_has("3 failed (see the log)");
        eqnice!("ok\t2\nfine\t4\n", r.stdout);
        eqnice!(
            "bad1\terror: ValueError: bad entity bad1 (failing.py, line 9, in _check: \
             raise ValueError(f\"bad entity {entity}\"))\n\
             parse\terror: ValueError: invalid literal for int() with base 10: 'not a number' \
             (failing.py, line 15, in compute: return [int(\"not a number\")], [])\n\
             none\terror: compute returned a NoneType that cannot be unpacked; it must return \
             (results, logs): a list of values in OUTPUT order, and log messages\n",
            t.read(&log)
        );
    }
    assert!(t.read("report.yaml").contains("comp_status: partial"));
}

#[test]
fn deeply_nested_lists_fail_their_entity_not_the_run() {
    let t = TestDir::new();
    let plugin = t.write(
        "deep.py",
        "ID = 'deep'\nVERSION = '1'\nINPUT = 'a depth'\nOUTPUT = ['v']\n\
         def compute(entity, **kw):\n    v = 0\n    for _ in range(int(entity)):\n        \
         v = [v]\n    return [v], []\n",
    );
    for jobs in ["1", "2"] {
        let r = run_ids(&t, &plugin, "3\n100000\n64\n", &["-j", jobs])
            .code(1)
            .stderr_has("100000\terror: ")
            .stderr_has("lists nested more than 64 deep");
        assert!(r.stdout.starts_with("3\t[[[0]]]\n"), "{}", r.stdout);
        assert!(r.stdout.contains("\n64\t[[[["), "{}", r.stdout);
    }
}

#[test]
fn load_errors_name_the_file_and_line() {
    let t = TestDir::new();
    let syntax = t.write(
        "broken.py",
        "ID = 'broken'\nVERSION = '1'\ndef compute(x, **kw)\n    return [1], []\n",
    );
    let r = run_ids(&t, &syntax, "a\n", &[]).code(2);
    assert!(
        r.stderr.contains(&format!(
            "polyplug: {}: SyntaxError in line 3: expected ':': def compute(x, **kw)",
            syntax.display()
        )),
        "{}",
        r.stderr
    );
    let missing = t.write("needs.py", "import numpy_that_is_not_there\nID = 'n'\n");
    run_ids(&t, &missing, "a\n", &[]).code(2).stderr_has(
        "cannot import the plugin: ModuleNotFoundError: No module named \
             'numpy_that_is_not_there' (needs.py, line 1, in <module>: import \
             numpy_that_is_not_there); install the missing package in a virtualenv",
    );
    let raising = t.write("raising.py", "ID = 'r'\nx = {}['k']\n");
    run_ids(&t, &raising, "a\n", &[]).code(2).stderr_has(
        "cannot import the plugin: KeyError: 'k' (raising.py, line 2, in <module>: x = {}['k'])",
    );
    let meta = t.write(
        "meta.py",
        "ID = 5\nINPUT = 'x'\nOUTPUT = {'a': 1}\ndef compute(e, **kw):\n    return [], []\n",
    );
    run_ids(&t, &meta, "a\n", &[])
        .code(2)
        .stderr_has("constant OUTPUT has Python type dict")
        .stderr_has("constant ID must be a string, not integer (5)")
        .stderr_has("constant VERSION is missing");
}

#[test]
fn state_is_kept_per_worker_and_finalize_runs_once_per_worker_after_failures() {
    let t = TestDir::new();
    let params = t.write(
        "p.yaml",
        format!("marker: {}\n", t.join("m1.txt").display()),
    );
    let ids: String = (1..=6).map(|i| format!("e{i}\n")).collect::<String>() + "fail\ne7\n";
    let r = run_ids(
        &t,
        &fixture("stateful.py"),
        &ids,
        &["-j1", "--params", params.to_str().unwrap_or_default()],
    )
    .code(1);
    eqnice!(
        "e1\t1\ne2\t2\ne3\t3\ne4\t4\ne5\t5\ne6\t6\ne7\t7\n",
        r.stdout
    );
    // print() in a plugin goes to stderr, never into the results.
    assert!(r.stderr.contains("noise on stdout e1"), "{}", r.stderr);
    let m = t.read("m1.txt");
    assert_eq!(m.lines().count(), 1, "{m}");
    assert!(m.ends_with(" after 7\n"), "{m}");

    // Two workers: each has its own state and is finalized once; the counts add up.
    let params = t.write(
        "p2.yaml",
        format!("marker: {}\nstep: 10\n", t.join("m2.txt").display()),
    );
    let ids: String = (1..=400).map(|i| format!("e{i}\n")).collect::<String>() + "fail\n";
    let r = run_ids(
        &t,
        &fixture("stateful.py"),
        &ids,
        &["-j2", "--params", params.to_str().unwrap_or_default()],
    )
    .code(1);
    assert_eq!(r.stdout.lines().count(), 400);
    assert!(!r.stdout.contains("noise"));
    let m = t.read("m2.txt");
    assert_eq!(m.lines().count(), 2, "{m}");
    let total: u64 = m
        .lines()
        .map(|l| {
            l.rsplit(' ')
                .next()
                .unwrap_or("0")
                .parse::<u64>()
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(total, 4000, "{m}");
}

#[test]
fn initialize_gets_the_parameters_it_accepts() {
    // A Prenacs `def initialize():` with PARAMETERS still works; compute gets `k`.
    let t = TestDir::new();
    let r = run_ids(&t, &fixture("noargs_init.py"), "a\nb\n", &["-j1"]).ok();
    eqnice!("a\t3\t1\nb\t3\t2\n", r.stdout);
    let p = t.write("p.yaml", "k: 5\n");
    let r = run_ids(
        &t,
        &fixture("noargs_init.py"),
        "a\n",
        &["-j2", "--params", p.to_str().unwrap_or_default()],
    )
    .ok();
    eqnice!("a\t5\t1\n", r.stdout);
}

#[test]
fn serial_and_two_workers_give_byte_identical_results() {
    let t = TestDir::new();
    let ids: String = (0..5000)
        .map(|i| format!("ID{i:05}{}\n", ["GC", "AT", "GGCC", ""][i % 4]))
        .collect();
    let one = run_ids(&t, &fixture("ids.py"), &ids, &["-j1"]).ok();
    let serial = run_ids(&t, &fixture("ids.py"), &ids, &["--serial"]).ok();
    let two = run_ids(&t, &fixture("ids.py"), &ids, &["-j2"]).ok();
    assert_eq!(one.stdout.lines().count(), 5000);
    eqnice!(one.stdout, serial.stdout);
    eqnice!(one.stdout, two.stdout);
}

#[test]
fn a_killed_worker_fails_only_its_entities_and_is_replaced() {
    let t = TestDir::new();
    let params = t.write("p.yaml", format!("marker: {}\n", t.join("m.txt").display()));
    let mut ids: Vec<String> = (1..=300).map(|i| format!("e{i}")).collect();
    ids[149] = "die".into();
    let r = run_ids(
        &t,
        &fixture("stateful.py"),
        &(ids.join("\n") + "\n"),
        &[
            "-j2",
            "--params",
            params.to_str().unwrap_or_default(),
            "-l",
            "log.tsv",
        ],
    )
    .code(1);
    let log = t.read("log.tsv");
    let died: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("error: the Python worker process (pid "))
        .collect();
    // Only the entity that killed its worker fails: the rest of its batch was computed
    // again, an entity at a time, in a replacement worker.
    assert_eq!(died.len(), 1, "{log}");
    assert!(
        died[0].starts_with("die\t"),
        "the killing entity must fail: {log}"
    );
    assert!(
        died[0].contains(
            "died, killed by signal 9 while computing this entity (SIGKILL: killed from \
             outside, or by the kernel for memory); the worker was replaced"
        ),
        "{log}"
    );
    assert_eq!(r.stdout.lines().count(), 299, "{log}");
    assert!(!r.stdout.lines().any(|l| l.starts_with("die\t")));
    let report = t.read("report.yaml");
    assert!(report.contains("comp_status: partial"), "{report}");
    // The surviving worker is finalized once, and so is the replacement when the
    // run had entities left for it (while a replacement starts, the other worker
    // may take all that is left); the killed one is not.
    let m = t.read("m.txt");
    let pids: std::collections::HashSet<&str> =
        m.lines().filter_map(|l| l.split(' ').nth(1)).collect();
    assert!(
        (1..=2).contains(&m.lines().count()) && pids.len() == m.lines().count(),
        "{m}"
    );
}

#[test]
fn packages_come_from_the_virtualenv() {
    let t = TestDir::new();
    let venv = t.join("venv");
    let status = Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .expect("run python3 -m venv");
    assert!(status.success());
    let site = venv.join("lib/python3.11/site-packages");
    assert!(
        site.is_dir(),
        "python3 must be Python 3.11, as polyplug embeds"
    );
    // An installed package, and one reached through a .pth file (processed as
    // site.addsitedir does).
    t.write(
        "venv/lib/python3.11/site-packages/polyplug_testpkg/__init__.py",
        "def shout(s):\n    return s.upper() + '!'\n",
    );
    let plugin = fixture("uses_pkg.py");
    let ok = |jobs: &str| {
        let r = Run::of(
            t.cmd()
                .env("VIRTUAL_ENV", &venv)
                .arg("run")
                .arg(&plugin)
                .arg("ids")
                .arg(t.write("ids.txt", "abc\n"))
                .args(["-j", jobs, "-r"])
                .arg(t.join("r.yaml")),
        )
        .no_panic()
        .ok();
        eqnice!("abc\tABC!\n", r.stdout);
    };
    ok("1");
    ok("2");
    // Without the virtualenv the import fails with the fix.
    run_ids(&t, &plugin, "abc\n", &[])
        .code(2)
        .stderr_has("No module named 'polyplug_testpkg'")
        .stderr_has("set VIRTUAL_ENV (or pass --python-path");
    // --python-path with a plain folder.
    t.write(
        "libs/polyplug_testpkg/__init__.py",
        "def shout(s):\n    return s + '?'\n",
    );
    let r = run_ids(
        &t,
        &plugin,
        "abc\n",
        &[
            "--python-path",
            t.join("libs").to_str().unwrap_or_default(),
            "-j2",
        ],
    )
    .ok();
    eqnice!("abc\tabc?\n", r.stdout);
    // A virtualenv of another Python version is refused with the version to use.
    let other = t.join("venv39");
    t.write(
        "venv39/pyvenv.cfg",
        "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.9.2\n",
    );
    Run::of(
        t.cmd()
            .env("VIRTUAL_ENV", &other)
            .arg("info")
            .arg(&plugin),
    )
    .no_panic()
    .code(2)
    .stderr_has("this virtualenv was made for Python 3.9, but polyplug embeds Python 3.11; recreate it with `python3.11 -m venv");
}

#[test]
fn check_accepts_exactly_the_signatures_run_can_call() {
    let t = TestDir::new();
    let r = Run::of(t.cmd().arg("check").arg(fixture("badsig.py")))
        .no_panic()
        .code(1);
    for problem in [
        "error: compute() accepts variable positional arguments (*args)",
        "error: compute() cannot receive the state initialize returns; write `def compute(entity, state, **kwargs)`",
        "error: initialize() takes k, which is neither a declared parameter nor has a default: a run cannot fill it",
        "error: finalize() must take a single positional argument (the state), it takes 2",
        "error: finalize() accepts variable keyword arguments",
    ] {
        assert!(r.stdout.contains(problem), "missing {problem:?}:\n{}", r.stdout);
    }
    // Named arguments with a default, or naming a declared parameter, are what a run
    // passes by keyword: check and run agree on them.
    for (plugin, row) in [
        ("noargs_init.py", "x\t3\t1\n"),
        ("named_params.py", "x\t3\t2\n"),
    ] {
        Run::of(t.cmd().arg("check").arg(fixture(plugin)))
            .no_panic()
            .ok()
            .stdout_has("ok: ");
        t.write("x.txt", "x\n");
        let r = Run::of(t.run(fixture(plugin)).args(["ids", "x.txt", "-j1"])).ok();
        eqnice!(row, r.stdout);
    }
    Run::of(
        t.cmd()
            .arg("check")
            .arg(repo_root().join("examples-plugins/python/fas_stats.py"))
            .arg(repo_root().join("examples-plugins/attribute_definitions.yaml")),
    )
    .no_panic()
    .ok()
    .stdout_has("ok: fas_stats_python 1.0 (python, ");
}

#[test]
fn list_and_info_show_python_plugins() {
    let t = TestDir::new();
    std::fs::create_dir_all(t.join("plugins")).expect("mkdir");
    std::fs::copy(
        repo_root().join("examples-plugins/python/fas_stats.py"),
        t.join("plugins/fas_stats.py"),
    )
    .expect("copy");
    Run::of(t.cmd().arg("list")).ok().stdout_has(
        "fas_stats_python  1.0      python    genome_size,GC_content  plugins/fas_stats.py",
    );
    Run::of(t.cmd().arg("info").arg("fas_stats_python"))
        .ok()
        .stdout_has("LANGUAGE:       python")
        .stdout_has("min_length (int, default 0)")
        .stdout_has("FUNCTIONS:      initialize, compute, finalize");
}

#[test]
fn idsproc_uses_compute_id() {
    let t = TestDir::new();
    let r = run_ids(
        &t,
        &fixture("ids.py"),
        "ab\ngc\n",
        &[
            "--idsproc",
            fixture("idsproc.py").to_str().unwrap_or_default(),
        ],
    )
    .ok();
    eqnice!("AB_X\t4\t0\nGC_X\t4\t2\n", r.stdout);
}

#[test]
fn a_compiled_rust_prenacs_plugin_runs_in_the_embedded_python() {
    // tests/fixtures/python-ext-rust: a pyo3 #[pymodule] with a `Constants` class, as
    // Prenacs' Rust plugins are; maturin would name it pp_ext_rust.so.
    let t = TestDir::new();
    let ext = t.join("pp_ext_rust.so");
    std::fs::copy(plugin_lib("pp_ext_rust"), &ext).expect("copy the extension module");
    for jobs in ["1", "2"] {
        let log = format!("log{jobs}.tsv");
        let r = run_ids(&t, &ext, "GATTACA\nboom\nCC\n", &["-j", jobs, "-l", &log]).code(1);
        eqnice!("GATTACA\t7\t2\nCC\t2\t2\n", r.stdout);
        eqnice!("boom\terror: ValueError: boom from Rust\n", t.read(&log));
    }
    Run::of(t.cmd().arg("info").arg(&ext))
        .ok()
        .stdout_has("ID:             ext_rust")
        .stdout_has("LANGUAGE:       python-extension")
        .stdout_has("FUNCTIONS:      compute");
}

#[test]
fn a_compiled_nim_style_prenacs_plugin_gets_its_py_const_constants() {
    // tests/fixtures/python-ext-c/nimlike.c: an extension module with the nimpy
    // convention (constants as py_const_<NAME> functions), compiled against the
    // headers of the Python polyplug embeds.
    let t = TestDir::new();
    let include = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['include'])",
        ])
        .output()
        .expect("run python3");
    let include = String::from_utf8_lossy(&include.stdout).trim().to_string();
    let ext = t.join("nimlike.so");
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-shared", "-fPIC", "-I", &include])
        .arg(repo_root().join("tests/fixtures/python-ext-c/nimlike.c"))
        .arg("-o")
        .arg(&ext)
        .status()
        .expect("run the C compiler (cc)");
    assert!(status.success(), "compiling nimlike.c failed");
    for jobs in ["1", "2"] {
        let log = format!("log{jobs}.tsv");
        let r = run_ids(&t, &ext, "abc\nde\n", &["-j", jobs, "-l", &log]).ok();
        eqnice!("abc\t3\nde\t2\n", r.stdout);
        eqnice!("abc\tfrom C\nde\tfrom C\n", t.read(&log));
    }
    Run::of(t.cmd().arg("info").arg(&ext))
        .ok()
        .stdout_has("ID:             nimlike")
        .stdout_has("VERSION:        0.3");
}

#[test]
fn timeout_interrupts_a_compute_and_kills_a_stuck_worker() {
    let t = TestDir::new();
    for jobs in ["1", "2"] {
        let log = format!("log{jobs}.tsv");
        // The limit is per entity: computes that together outlast it, each within it,
        // succeed (the worker's timer, set for an earlier one, is moved on when it
        // rings), and an overrun after them still fails at its own deadline.
        let r = run_ids(
            &t,
            &fixture("slow.py"),
            "0.30\n0.31\n0.32\n0.33\n0.8\n0.34\n30\nspin\n0.2\n",
            &["--timeout", "1", "-j", jobs, "-l", &log],
        )
        .code(1);
        eqnice!(
            "0.30\t0.30\n0.31\t0.31\n0.32\t0.32\n0.33\t0.33\n0.8\t0.8\n0.34\t0.34\n0.2\t0.2\n",
            r.stdout
        );
        eqnice!(
            "30\terror: TimeoutError: compute took longer than 1 s (--timeout) \
             (slow.py, line 18, in compute: time.sleep(float(entity)))\n\
             spin\terror: TimeoutError: compute took longer than 1 s (--timeout) \
             (slow.py, line 13, in compute: while True:)\n",
            t.read(&log)
        );
    }
    // Stuck in C: the host kills the worker and starts another one.
    let r = run_ids(
        &t,
        &fixture("slow.py"),
        "stuck\n",
        &["--timeout", "1", "-l", "log.tsv"],
    )
    .code(1);
    eqnice!("", r.stdout);
    let log = t.read("log.tsv");
    assert!(
        log.starts_with("stuck\terror: the Python worker process (pid ")
            && log.contains(
                "killed by signal 9: its plugin did not stop at the time limit of 1 s per \
                 entity (--timeout), so polyplug killed it"
            ),
        "{log}"
    );
}

#[test]
fn writes_to_stdout_by_the_plugin_cannot_corrupt_the_worker_protocol() {
    let t = TestDir::new();
    let ids: String = (0..300).map(|i| format!("id{i}\n")).collect();
    let r = run_ids(&t, &fixture("fd1.py"), &ids, &["-j2", "-o", "out.tsv"]).ok();
    let out = t.read("out.tsv");
    assert_eq!(out.lines().count(), 300, "{out}");
    assert!(out.starts_with("id0\t3\nid1\t3\n"), "{out}");
    // In a worker, file descriptor 1 is stderr.
    assert!(r.stderr.contains("raw write to fd 1"), "{}", r.stderr);
    assert!(r.stderr.contains("child process output"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}

#[test]
fn sandbox_options_are_refused_for_python_plugins() {
    // Before: silently ignored. A Python plugin runs with the user's rights.
    let t = TestDir::new();
    let plugin = repo_root().join("examples-plugins/python/fas_stats.py");
    for (extra, flags) in [
        (&["--fuel", "10"][..], "--fuel"),
        (
            &["--allow-dir", ".", "--wasm-memory", "8"],
            "--allow-dir, --wasm-memory",
        ),
    ] {
        run_ids(&t, &plugin, "a\n", extra)
            .code(2)
            .stderr_has(&format!(
                "fas_stats.py: {flags} only apply to WebAssembly plugins"
            ))
            .stderr_has("a Python plugin runs unsandboxed with your rights; remove them");
    }
    assert!(!t.join("report.yaml").exists(), "nothing ran");
}

#[test]
fn a_worker_starts_its_instance_only_when_it_has_entities_to_compute() {
    // Each initialize appends a line to a file: one ID at -j2 is one batch, computed
    // by one worker; the other starts no process and runs no initialize.
    let t = TestDir::new();
    let starts = t.join("starts.txt");
    let plugin = t.write(
        "count_starts.py",
        format!(
            "ID = 'count_starts'\nVERSION = '1'\nINPUT = 'an ID'\nOUTPUT = ['n']\n\
             def initialize(**kwargs):\n    open({starts:?}, 'a').write('started\\n')\n    return None\n\
             def compute(entity, state=None, **kwargs):\n    return [len(entity)], []\n",
            starts = starts.display().to_string()
        ),
    );
    run_ids(&t, &plugin, "a\n", &["-j2", "-o", "out.tsv"]).ok();
    eqnice!(
        "a\t1\n",
        std::fs::read_to_string(t.join("out.tsv")).expect("out.tsv")
    );
    eqnice!(
        "started\n",
        std::fs::read_to_string(&starts).expect("starts.txt")
    );
    // Enough entities for both workers: each starts its instance once.
    std::fs::remove_file(&starts).expect("remove starts.txt");
    let ids: String = (0..20_000).map(|i| format!("id{i}\n")).collect();
    run_ids(&t, &plugin, &ids, &["-j2", "-o", "many.tsv"]).ok();
    eqnice!(
        "started\nstarted\n",
        std::fs::read_to_string(&starts).expect("starts.txt")
    );
}

#[test]
fn the_host_leaves_the_import_to_its_worker_and_imports_itself_only_in_process() {
    // The module appends the importing process's ID to a file; compute gives its own.
    let t = TestDir::new();
    let imports = t.join("imports.txt");
    let plugin = t.write(
        "where.py",
        format!(
            "import os\nopen({imports:?}, 'a').write(f'{{os.getpid()}}\\n')\n\
             ID = 'where'\nVERSION = '1'\nINPUT = 'an ID'\nOUTPUT = ['pid']\n\
             def compute(entity, **kwargs):\n    return [os.getpid()], []\n",
            imports = imports.display().to_string()
        ),
    );
    for mode in [&[][..], &["--in-process"][..]] {
        let _ = std::fs::remove_file(&imports);
        let _ = std::fs::remove_file(t.join("out.tsv"));
        let mut args = vec!["-j1", "-o", "out.tsv"];
        args.extend_from_slice(mode);
        run_ids(&t, &plugin, "a\n", &args).ok();
        let out = std::fs::read_to_string(t.join("out.tsv")).expect("out.tsv");
        let computed_by = out.trim_end().strip_prefix("a\t").expect("a row for a");
        // One import, by the process that computes: the worker, or the host itself.
        eqnice!(
            format!("{computed_by}\n"),
            std::fs::read_to_string(&imports).expect("imports.txt")
        );
    }
}
