//! WebAssembly plugins (wasmtime): the C and Rust guest SDKs, the sandbox, the limits,
//! failure recovery and the compile cache.
//!
//! The example and fixture modules are built once per test process by the documented
//! scripts `examples-plugins/wasm/build.sh` and `tests/fixtures/wasm/build.sh`
//! (clang-14 for wasm32-wasi, Debian's rustc for wasm32-unknown-unknown).

use polyplug_e2e::{eqnice, plugin_lib, repo_root, target_dir, Run, TestDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The folder holding the built `.wasm` examples and fixtures.
fn wasm_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = target_dir().join("wasm-e2e");
        std::fs::create_dir_all(&out).expect("create the wasm output folder");
        // One build at a time: test processes run side by side (cargo nextest).
        let lock = std::fs::File::create(out.join(".build-lock")).expect("create the lock");
        lock.lock().expect("lock the wasm output folder");
        for script in [
            "examples-plugins/wasm/build.sh",
            "tests/fixtures/wasm/build.sh",
        ] {
            let o = Command::new("sh")
                .arg(repo_root().join(script))
                .arg(&out)
                .output()
                .unwrap_or_else(|e| panic!("run {script}: {e}"));
            assert!(
                o.status.success(),
                "{script} failed:\n{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        out
    })
}

/// A built module.
pub(crate) fn wasm(name: &str) -> PathBuf {
    let p = wasm_dir().join(format!("{name}.wasm"));
    assert!(p.is_file(), "{} was not built", p.display());
    p
}

/// `polyplug run` of the WebAssembly fixture `name`, with a private compile cache.
fn run(t: &TestDir, name: &str) -> Command {
    let mut c = cmd(t);
    c.arg("run").arg(wasm(name));
    c
}

/// A polyplug command with a private compile cache.
fn cmd(t: &TestDir) -> Command {
    let mut c = t.cmd();
    c.env("POLYPLUG_CACHE_DIR", t.join("cache"));
    c
}

fn data_pattern() -> PathBuf {
    repo_root().join("examples-plugins/data/*.fas")
}

#[test]
fn fas_stats_wasm_c_and_rust_give_the_native_rows_and_logs() {
    let t = TestDir::new();
    t.write("params.yaml", "min_length: 100\n");
    let mut outputs = Vec::new();
    for plugin in [
        plugin_lib("fas_stats_c"),
        wasm("fas_stats_wasm_c"),
        wasm("fas_stats_wasm_rust"),
    ] {
        let log = t.join(&format!(
            "{}.log",
            plugin.file_name().unwrap().to_string_lossy()
        ));
        let r = Run::of(
            cmd(&t)
                .arg("run")
                .arg(&plugin)
                .arg("files")
                .arg(data_pattern())
                .arg("-j")
                .arg("1")
                .arg("--params")
                .arg(t.join("params.yaml"))
                .arg("-l")
                .arg(&log)
                .arg("-r")
                .arg(t.join("report.yaml")),
        )
        .ok()
        .no_panic();
        let logs = std::fs::read_to_string(&log).expect("log file");
        outputs.push((r.stdout, logs));
    }
    let data = repo_root().join("examples-plugins/data");
    let expected = format!(
        "{d}/ecoli_fragment.fas\t159\t0.5471698113207547\n\
         {d}/phage_lambda_mini.fas\t200\t0.425\n",
        d = data.display()
    );
    eqnice!(expected, outputs[0].0);
    for (rows, logs) in &outputs[1..] {
        eqnice!(outputs[0].0, rows);
        eqnice!(outputs[0].1, logs);
    }
    assert!(
        outputs[1].1.contains("letters, below min_length 100"),
        "{}",
        outputs[1].1
    );
}

#[test]
fn files_mode_reads_paths_relative_to_the_working_directory() {
    let t = TestDir::new();
    let src = repo_root().join("examples-plugins/data/phage_lambda_mini.fas");
    t.write(
        "genomes/lambda.fas",
        std::fs::read(src).expect("example data"),
    );
    for plugin in [wasm("fas_stats_wasm_c"), wasm("fas_stats_wasm_rust")] {
        let r = Run::of(
            cmd(&t)
                .arg("run")
                .arg(&plugin)
                .arg("files")
                .arg("genomes/*.fas")
                .arg("-r")
                .arg(t.join("report.yaml")),
        )
        .ok();
        eqnice!("genomes/lambda.fas\t200\t0.425\n", r.stdout);
    }
}

#[test]
fn list_info_and_check_show_wasm_plugins() {
    let t = TestDir::new();
    for name in ["fas_stats_wasm_c", "fas_stats_wasm_rust"] {
        std::fs::copy(wasm(name), t.join(&format!("plugins/{name}.wasm")))
            .or_else(|_| {
                std::fs::create_dir_all(t.join("plugins"))?;
                std::fs::copy(wasm(name), t.join(&format!("plugins/{name}.wasm")))
            })
            .expect("copy plugin");
    }
    let list = Run::of(cmd(&t).arg("list")).ok();
    assert!(list.stdout.contains("fas_stats_wasm_c"), "{}", list.stdout);
    assert!(
        list.stdout.contains("fas_stats_wasm_rust"),
        "{}",
        list.stdout
    );

    let info = Run::of(cmd(&t).arg("info").arg("fas_stats_wasm_rust")).ok();
    assert!(
        info.stdout.contains("ID:             fas_stats_wasm_rust"),
        "{}",
        info.stdout
    );
    assert!(
        info.stdout.contains("LANGUAGE:       wasm"),
        "{}",
        info.stdout
    );
    assert!(
        info.stdout
            .contains("FUNCTIONS:      initialize, compute, finalize"),
        "{}",
        info.stdout
    );
    assert!(info.stdout.contains("min_length"), "{}", info.stdout);

    Run::of(
        cmd(&t)
            .arg("check")
            .arg("fas_stats_wasm_c")
            .arg(repo_root().join("examples-plugins/attribute_definitions.yaml")),
    )
    .ok();
}

#[test]
fn a_wasm_idsproc_computes_the_ids() {
    let t = TestDir::new();
    t.write("units.txt", "dir/acgt.txt\nGGCC.fas\n");
    let id_stats = wasm("id_stats_wasm");
    let r = Run::of(
        cmd(&t)
            .arg("run")
            .arg(&id_stats)
            .arg("ids")
            .arg("units.txt")
            .arg("--idsproc")
            .arg(&id_stats)
            .arg("-r")
            .arg(t.join("report.yaml")),
    )
    .ok();
    eqnice!("ACGT\t4\t2\nGGCC\t4\t4\n", r.stdout);
}

#[test]
fn an_ungranted_path_fails_cleanly_inside_the_guest() {
    let t = TestDir::new();
    t.write(
        "ids.txt",
        "/etc/passwd\n../../../../../../etc/passwd\nclock\nenv\n",
    );
    let r = Run::of(
        cmd(&t)
            .env("HOME", "/root")
            .arg("run")
            .arg(wasm("sandbox_probe"))
            .arg("ids")
            .arg("ids.txt")
            .arg("-r")
            .arg(t.join("report.yaml")),
    )
    .ok()
    .no_panic();
    eqnice!(
        "/etc/passwd\terror: Capabilities insufficient\n\
         ../../../../../../etc/passwd\terror: Capabilities insufficient\n\
         clock\tclock: Capabilities insufficient\n\
         env\tno HOME\n",
        r.stdout
    );

    // Granted, the same path reads.
    let r = Run::of(
        run(&t, "sandbox_probe")
            .arg("ids")
            .arg("ids.txt")
            .arg("--allow-dir")
            .arg("/etc")
            .arg("-r")
            .arg(t.join("report.yaml")),
    )
    .ok();
    assert!(r.stdout.starts_with("/etc/passwd\tread "), "{}", r.stdout);
}

#[test]
fn files_mode_grants_the_entity_file_and_nothing_else() {
    let t = TestDir::new();
    t.write("d/one.txt", "one\n");
    t.write("d/secret.txt", "secret\n");
    // The probe reads the path named by its entity: in files mode, its own file.
    let r = Run::of(
        run(&t, "sandbox_probe")
            .arg("files")
            .arg("d/one.txt")
            .arg("-r")
            .arg(t.join("report.yaml")),
    )
    .ok();
    eqnice!("d/one.txt\tread 4 bytes\n", r.stdout);
    // Given d/one.sib, the probe reads d/one.txt: a file next to its own, not granted.
    t.write("d/one.sib", "sib\n");
    let r = Run::of(
        run(&t, "sandbox_probe")
            .arg("files")
            .arg("d/*.sib")
            .arg("-r")
            .arg(t.join("report.yaml")),
    )
    .ok();
    eqnice!("d/one.sib\terror: Capabilities insufficient\n", r.stdout);
    // In ids mode the same ID is just a string: its file is not granted.
    t.write("ids.txt", "d/one.txt\nd/secret.txt\n");
    let r = Run::of(
        run(&t, "sandbox_probe")
            .arg("ids")
            .arg("ids.txt")
            .arg("-r")
            .arg(t.join("report.yaml")),
    )
    .ok();
    eqnice!(
        "d/one.txt\terror: Capabilities insufficient\n\
         d/secret.txt\terror: Capabilities insufficient\n",
        r.stdout
    );
}

#[test]
fn allow_dir_is_read_only_unless_rw() {
    let t = TestDir::new();
    std::fs::create_dir_all(t.join("out")).expect("mkdir");
    t.write("ids.txt", "write:out/x.txt\n");
    let run = |extra: &[&str]| {
        let mut c = cmd(&t);
        c.arg("run")
            .arg(wasm("sandbox_probe"))
            .arg("ids")
            .arg("ids.txt")
            .arg("-r")
            .arg(t.join("report.yaml"))
            .args(extra);
        Run::of(&mut c).ok().stdout
    };
    eqnice!(
        "write:out/x.txt\terror: Capabilities insufficient\n",
        run(&[])
    );
    eqnice!(
        "write:out/x.txt\terror: Permission denied\n",
        run(&["--allow-dir", "out"])
    );
    assert!(!t.join("out/x.txt").exists());
    eqnice!(
        "write:out/x.txt\twrote out/x.txt\n",
        run(&["--allow-dir", "out:rw"])
    );
    eqnice!("written by wasm\n", t.read("out/x.txt"));
}

#[test]
fn a_granted_folder_can_be_listed_and_nothing_above_it() {
    let t = TestDir::new();
    t.write("d/b.txt", "bee\n");
    t.write("d/a.txt", "a\n");
    t.write("d/sub/deep.txt", "deeper\n");
    t.write("outside.txt", "secret\n");
    // A link inside the granted folder that leads out of it.
    std::os::unix::fs::symlink(t.join("outside.txt"), t.join("d/link")).expect("symlink");
    t.write(
        "ids.txt",
        "ls:d\nls:d/sub\nls:d/../d/sub\nls:.\nls:/\nls:d/a.txt\n",
    );
    let r = Run::of(
        run(&t, "sandbox_probe")
            .args(["ids", "ids.txt", "--allow-dir", "d", "-r"])
            .arg(t.join("report.yaml")),
    )
    .ok()
    .no_panic();
    // Files opened relative to the open folder are checked like any path: the link
    // out of the folder is listed (it is a name in it) but cannot be opened.
    eqnice!(
        "ls:d\tls a.txt(2) b.txt(4) link(Capabilities insufficient) sub(dir)\n\
         ls:d/sub\tls deep.txt(7)\n\
         ls:d/../d/sub\tls deep.txt(7)\n\
         ls:.\terror: Capabilities insufficient\n\
         ls:/\terror: Capabilities insufficient\n\
         ls:d/a.txt\terror: Not a directory\n",
        r.stdout
    );
    // Nothing leads out of an open folder: not `..`, not an absolute path, not a link
    // to outside however deep the path goes below it, whether that exists or not.
    std::os::unix::fs::symlink("/etc", t.join("d/etc")).expect("symlink");
    t.write(
        "more.txt",
        "up:d\nd/etc/passwd\nd/etc/no/such/file\nd/etc/no-such-file\n",
    );
    let r = Run::of(
        run(&t, "sandbox_probe")
            .args(["ids", "more.txt", "--allow-dir", "d", "-r"])
            .arg(t.join("report.yaml")),
    )
    .ok();
    eqnice!(
        "up:d\tup: Capabilities insufficient; abs: Capabilities insufficient\n\
         d/etc/passwd\terror: Capabilities insufficient\n\
         d/etc/no/such/file\terror: Capabilities insufficient\n\
         d/etc/no-such-file\terror: Capabilities insufficient\n",
        r.stdout
    );
    std::fs::remove_file(t.join("d/etc")).expect("rm");
    // In files mode a folder given as the entity is not listed.
    let r = Run::of(
        run(&t, "sandbox_probe")
            .args(["files", "d/su*", "-r"])
            .arg(t.join("report.yaml")),
    )
    .ok();
    eqnice!("d/sub\terror: Capabilities insufficient\n", r.stdout);
    // Without the grant nothing is listed.
    let r = Run::of(
        run(&t, "sandbox_probe")
            .args(["ids", "ids.txt", "-r"])
            .arg(t.join("report.yaml")),
    )
    .ok();
    assert!(
        r.stdout
            .lines()
            .all(|l| l.ends_with("error: Capabilities insufficient")),
        "{}",
        r.stdout
    );
}

#[test]
fn a_rust_guest_lists_a_granted_folder() {
    let t = TestDir::new();
    for i in 0..300 {
        // Enough names that the listing takes several fd_readdir calls.
        t.write(&format!("d/file-with-a-longish-name-{i:03}.txt"), "x");
    }
    t.write("d/sub/x.txt", "x");
    t.write("ids.txt", "d\nd/sub\n.\nd/sub/x.txt\nnope\n");
    let r = Run::of(
        run(&t, "lister")
            .args(["ids", "ids.txt", "--allow-dir", "d", "-r"])
            .arg(t.join("report.yaml")),
    )
    .ok()
    .no_panic();
    let mut names: Vec<String> = (0..300)
        .map(|i| format!("file-with-a-longish-name-{i:03}.txt"))
        .collect();
    names.push("sub".into());
    eqnice!(
        format!(
            "d\t{}\nd/sub\tx.txt\n.\terror: Capabilities insufficient\n\
             d/sub/x.txt\terror: Not a directory\nnope\terror: Capabilities insufficient\n",
            names.join(",")
        ),
        r.stdout
    );
}

#[test]
fn allow_dir_must_be_an_existing_folder() {
    let t = TestDir::new();
    t.write("ids.txt", "a\n");
    Run::of(
        run(&t, "sandbox_probe")
            .arg("ids")
            .arg("ids.txt")
            .arg("--allow-dir")
            .arg("no/such/dir"),
    )
    .code(2)
    .stderr_has("--allow-dir no/such/dir: No such file or directory")
    .stderr_has("give an existing folder");
}

#[test]
fn sandbox_options_are_refused_for_native_plugins() {
    let t = TestDir::new();
    t.write("ids.txt", "a\n");
    Run::of(
        cmd(&t)
            .arg("run")
            .arg(plugin_lib("id_stats"))
            .arg("ids")
            .arg("ids.txt")
            .arg("--allow-dir")
            .arg("."),
    )
    .code(2)
    .stderr_has("--allow-dir only apply to WebAssembly plugins");
}

/// Runs the misbehaving fixture over `ids` with `extra` options, one worker.
fn misbehave(t: &TestDir, ids: &str, extra: &[&str]) -> (Run, String) {
    t.write("ids.txt", ids);
    let log = t.join("log.tsv");
    let _ = std::fs::remove_file(&log);
    let mut c = cmd(t);
    c.arg("run")
        .arg(wasm("misbehave"))
        .arg("ids")
        .arg("ids.txt")
        .arg("-j")
        .arg("1")
        .arg("-l")
        .arg(&log)
        .arg("-r")
        .arg(t.join("report.yaml"))
        .args(extra);
    let r = Run::of(&mut c).no_panic();
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    (r, logs)
}

#[test]
fn lists_nested_too_deep_fail_their_entity_only() {
    let t = TestDir::new();
    let (r, logs) = misbehave(&t, "a\nnest\nb\n", &[]);
    r.code(1).stderr_has("1 failed (see the log)");
    assert!(
        logs.contains("nest\terror: begin_list: lists nested more than 64 deep"),
        "{logs}"
    );
}

#[test]
fn a_trap_fails_only_its_entity_and_reinitializes_the_instance() {
    let t = TestDir::new();
    let (r, logs) = misbehave(&t, "a\nb\ntrap\nc\nd\n", &[]);
    let r = r.code(1).stderr_has("1 failed (see the log)");
    // The counter restarts at 1: the instance after the trap was initialized anew.
    eqnice!("a\t1\nb\t2\nc\t1\nd\t2\n", r.stdout);
    assert!(
        logs.contains("trap\terror: the plugin trapped: wasm `unreachable` instruction executed"),
        "{logs}"
    );
    // finalize ran once, on the last instance (the trapped one is not finalized).
    assert!(r.stderr.contains("finalize: computed 2"), "{}", r.stderr);
    assert_eq!(r.stderr.matches("finalize:").count(), 1, "{}", r.stderr);
}

#[test]
fn only_shows_a_trap_with_the_guests_backtrace() {
    let t = TestDir::new();
    t.write("ids.txt", "a\ntrap\n");
    let r = Run::of(
        t.run(wasm("misbehave"))
            .args(["ids", "ids.txt", "--only", "trap"]),
    )
    .code(1);
    assert!(
        r.stderr
            .contains("trap: the plugin trapped: wasm `unreachable` instruction executed\n"),
        "{}",
        r.stderr
    );
    // The frames: the guest's compute function among them.
    assert!(r.stderr.contains("wasm backtrace:"), "{}", r.stderr);
    assert!(r.stderr.contains("compute"), "{}", r.stderr);
}

#[test]
fn an_endless_loop_is_stopped_by_the_timeout() {
    let t = TestDir::new();
    let (r, logs) = misbehave(&t, "a\nloop\nb\n", &["--timeout", "1"]);
    let r = r.code(1);
    eqnice!("a\t1\nb\t1\n", r.stdout);
    assert!(
        logs.contains("loop\terror: timed out after 1 s (--timeout)"),
        "{logs}"
    );
}

#[test]
fn an_endless_loop_is_stopped_by_fuel() {
    let t = TestDir::new();
    let (r, logs) = misbehave(&t, "a\nloop\nb\n", &["--fuel", "5000000"]);
    let r = r.code(1);
    eqnice!("a\t1\nb\t1\n", r.stdout);
    assert!(
        logs.contains("loop\terror: ran out of fuel after 5000000 units (--fuel)"),
        "{logs}"
    );
}

#[test]
fn unbounded_allocation_hits_the_memory_cap() {
    let t = TestDir::new();
    let (r, logs) = misbehave(
        &t,
        "a\nhog\nb\n",
        &["--wasm-memory", "16", "--timeout", "30"],
    );
    let r = r.code(1);
    eqnice!("a\t1\nb\t1\n", r.stdout);
    assert!(
        logs.contains(
            "hog\terror: the plugin reached its memory limit of 16 MiB (raise it with --wasm-memory MIB)"
        ),
        "{logs}"
    );
}

#[test]
fn max_memory_caps_an_instance_too() {
    let t = TestDir::new();
    let (r, logs) = misbehave(&t, "a\nhog\nb\n", &["--max-memory", "16"]);
    let r = r.code(1);
    eqnice!("a\t1\nb\t1\n", r.stdout);
    assert!(
        logs.contains(
            "hog\terror: the plugin reached its memory limit of 16 MiB (raise it with --max-memory MIB)"
        ),
        "{logs}"
    );
}

#[test]
fn exit_and_stack_overflow_fail_their_entity() {
    let t = TestDir::new();
    let (r, logs) = misbehave(&t, "exit\na\ndeep\nb\n", &[]);
    let r = r.code(1).stderr_has("2 failed (see the log)");
    eqnice!("a\t1\nb\t1\n", r.stdout);
    assert!(
        logs.contains("exit\terror: the plugin called exit(3)"),
        "{logs}"
    );
    assert!(
        // C keeps its stack in linear memory: unbounded recursion runs off its start.
        logs.contains("deep\terror: the plugin trapped: out of bounds memory access"),
        "{logs}"
    );
}

#[test]
fn a_rust_panic_reports_its_message_and_the_run_goes_on() {
    let t = TestDir::new();
    t.write("ids.txt", "a\npanic\nb\n");
    let r = Run::of(
        run(&t, "panics")
            .arg("ids")
            .arg("ids.txt")
            .arg("-j")
            .arg("1")
            .arg("-l")
            .arg(t.join("log.tsv"))
            .arg("-r")
            .arg(t.join("report.yaml")),
    )
    .code(1)
    .no_panic();
    eqnice!("a\t1\nb\t1\n", r.stdout);
    let logs = t.read("log.tsv");
    assert!(
        logs.contains("panic\terror: plugin panicked: panicked at 'asked to panic on panic'"),
        "{logs}"
    );
}

#[test]
fn a_wrong_abi_version_is_refused_at_load() {
    let t = TestDir::new();
    let r = Run::of(cmd(&t).arg("info").arg(wasm("wrong_abi"))).code(2);
    let r = r.stderr_has("plugin WebAssembly ABI version 99, this polyplug supports version 1");
    r.stderr_has("rebuild the plugin against this polyplug's plugin-sdk/wasm");
}

#[test]
fn a_file_that_is_not_webassembly_is_refused() {
    let t = TestDir::new();
    let fake = t.write("fake.wasm", "#!/bin/sh\necho hello\n");
    Run::of(cmd(&t).arg("check").arg(&fake))
        .code(1)
        .stdout_has("fake.wasm: not a WebAssembly module (it does not start with \\0asm)");
    // Right magic, broken body.
    let broken = t.write("broken.wasm", b"\0asm\x01\0\0\0\x01\xff\xff");
    Run::of(cmd(&t).arg("info").arg(&broken))
        .code(2)
        .stderr_has("broken.wasm: invalid WebAssembly module");
    // A plain wasm module that is no polyplug plugin.
    let plain = t.write("plain.wasm", b"\0asm\x01\0\0\0");
    Run::of(cmd(&t).arg("info").arg(&plain)).code(2).stderr_has(
        "exports no `polyplug_abi_version` function: this module is not a polyplug plugin",
    );
}

#[test]
fn the_compile_cache_is_reused() {
    let t = TestDir::new();
    let info = |plugin: &Path| Run::of(cmd(&t).arg("info").arg(plugin)).ok().stdout;
    let c_mod = wasm("fas_stats_wasm_c");
    let rust_mod = wasm("fas_stats_wasm_rust");
    assert!(info(&c_mod).contains("fas_stats_wasm_c"));
    assert!(info(&rust_mod).contains("fas_stats_wasm_rust"));
    let cache = t.join("cache/wasm");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&cache)
        .expect("the cache folder was created")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    assert_eq!(files.len(), 2, "{files:?}");
    let (c_file, rust_file) = (&files[0], &files[1]);
    // Put the C module's compiled code under the Rust module's key: if the second
    // load of the Rust module reads the cache instead of compiling, it runs the C code.
    std::fs::copy(c_file, rust_file).expect("swap cache entries");
    assert!(info(&rust_mod).contains("ID:             fas_stats_wasm_c"));
    // A cache entry that is not a compiled module is ignored and replaced.
    std::fs::write(rust_file, b"garbage").expect("corrupt");
    assert!(info(&rust_mod).contains("ID:             fas_stats_wasm_rust"));
    assert!(std::fs::metadata(rust_file).expect("rewritten").len() > 1000);
}

#[test]
fn several_workers_each_have_an_instance() {
    let t = TestDir::new();
    let ids: String = (0..200).map(|i| format!("id{i}\n")).collect();
    t.write("ids.txt", &ids);
    let r = Run::of(
        run(&t, "id_stats_wasm")
            .arg("ids")
            .arg("ids.txt")
            .arg("-j")
            .arg("2")
            .arg("-r")
            .arg(t.join("report.yaml")),
    )
    .ok();
    let expected: String = (0..200)
        .map(|i| format!("id{i}\t{}\t0\n", format!("id{i}").len()))
        .collect();
    eqnice!(expected, r.stdout);
}

#[test]
fn the_compile_cache_follows_the_older_cache_variable_too() {
    // POLYPLUG_CACHE (the source plugins' variable before there was one for every
    // cache) also places the WebAssembly cache, under wasm/.
    let t = TestDir::new();
    t.write("ids.txt", "ACGT\n");
    Run::of(
        t.run(wasm("id_stats_wasm"))
            .env_remove("POLYPLUG_CACHE_DIR")
            .env("POLYPLUG_CACHE", t.join("old"))
            .args(["ids", "ids.txt"]),
    )
    .ok();
    let cached = std::fs::read_dir(t.join("old/wasm"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(cached, 1, "one compiled module in $POLYPLUG_CACHE/wasm");
}
