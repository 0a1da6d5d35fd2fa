//! The results store, on both backends: every test runs once with the embedded SQLite
//! default (`./polyplug.db` of the test folder) and once with PostgreSQL (a real server
//! started on loopback for this test binary, one database per test).

use polyplug_e2e::{eqnice, plugin_lib, repo_root, Run, TestDir};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------
// The PostgreSQL server of this test binary.

/// A PostgreSQL cluster in a temporary folder, listening on 127.0.0.1 only. It is
/// started once for the test binary; a watcher process stops it and deletes the folder
/// when the test binary exits.
struct PgServer {
    port: u16,
    bin: PathBuf,
}

fn pg_bin() -> PathBuf {
    if let Ok(p) = std::env::var("POLYPLUG_PG_BIN") {
        return PathBuf::from(p);
    }
    // The newest installed server (Debian: /usr/lib/postgresql/<major>/bin).
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed (/usr/lib/postgresql): apt-get install postgresql")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .expect("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
        .1
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command for a server binary, run as the `postgres` user when the tests run as
/// root (PostgreSQL refuses to run as root).
fn as_server_user(bin: &Path, tool: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn quiet(c: &mut Command) -> &mut Command {
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
}

fn start_pg() -> PgServer {
    let bin = pg_bin();
    let dir = tempfile::Builder::new()
        .prefix("polyplug-pg-")
        .tempdir()
        .expect("temp dir")
        .keep();
    if is_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .expect("chown");
        assert!(
            status.success(),
            "chown {} to postgres failed",
            dir.display()
        );
    }
    let data = dir.join("data");
    let out = as_server_user(&bin, "initdb")
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run initdb");
    assert!(
        out.status.success(),
        "initdb failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
        dir.display()
    );
    let status = quiet(
        as_server_user(&bin, "pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "-l"])
            .arg(dir.join("server.log"))
            .args(["-w", "-t", "60", "start"]),
    )
    .status()
    .expect("run pg_ctl");
    if !status.success() {
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        panic!("pg_ctl start failed:\n{log}");
    }
    // Stop the server and remove its folder when this test binary exits.
    let stop = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {runas}{ctl} -D {data} -m immediate stop; rm -rf {dir}",
        pid = std::process::id(),
        runas = if is_root() { "runuser -u postgres -- " } else { "" },
        ctl = bin.join("pg_ctl").display(),
        data = data.display(),
        dir = dir.display()
    );
    #[expect(
        clippy::zombie_processes,
        reason = "the watcher must outlive this process: it stops the server after it"
    )]
    let _watcher = quiet(Command::new("setsid").args(["sh", "-c", &stop]))
        .spawn()
        .expect("start the server watcher");
    PgServer { port, bin }
}

fn pg() -> &'static PgServer {
    static PG: OnceLock<PgServer> = OnceLock::new();
    PG.get_or_init(start_pg)
}

/// A fresh database on the test server; returns its URL.
pub(crate) fn pg_database() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let server = pg();
    let name = format!(
        "t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let out = Command::new(server.bin.join("createdb"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &server.port.to_string(),
            "-U",
            "postgres",
        ])
        .arg(&name)
        .stdin(Stdio::null())
        .output()
        .expect("run createdb");
    assert!(
        out.status.success(),
        "createdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("postgres://postgres@127.0.0.1:{}/{name}", server.port)
}

// ---------------------------------------------------------------------------------
// One suite, two backends.

/// The store a test uses.
struct Store {
    /// The PostgreSQL URL, or none for the SQLite default `./polyplug.db`.
    url: Option<String>,
}

impl Store {
    fn sqlite() -> Store {
        Store { url: None }
    }

    fn postgres() -> Store {
        Store {
            url: Some(pg_database()),
        }
    }

    /// `polyplug` in the test folder, with this store (PostgreSQL through
    /// `POLYPLUG_STORE`; SQLite by default, without any store option).
    fn cmd(&self, t: &TestDir) -> Command {
        let mut c = t.cmd();
        match &self.url {
            Some(url) => c.env("POLYPLUG_STORE", url),
            None => c.env_remove("POLYPLUG_STORE"),
        };
        c
    }

    /// Runs a script of SQL statements against the store.
    fn script(&self, t: &TestDir, sql: &str) {
        self.run_sql(t, sql, true);
    }

    /// Runs one SQL statement against the store; its rows, `|`-separated.
    fn sql(&self, t: &TestDir, sql: &str) -> String {
        self.run_sql(t, sql, false)
    }

    /// SQL through psql or python3's sqlite3.
    fn run_sql(&self, t: &TestDir, sql: &str, script: bool) -> String {
        let out = match &self.url {
            Some(url) => Command::new(pg().bin.join("psql"))
                .args([
                    "-X",
                    "-A",
                    "-t",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-d",
                    url,
                    "-c",
                    sql,
                ])
                .output()
                .expect("run psql"),
            None => Command::new("python3")
                .args([
                    "-c",
                    "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\n\
                     if sys.argv[3] == 'script': c.executescript(sys.argv[2])\n\
                     else:\n  for r in c.execute(sys.argv[2]): print('|'.join(map(str,r)))\n\
                     c.commit()",
                ])
                .arg(t.join("polyplug.db"))
                .arg(sql)
                .arg(if script { "script" } else { "one" })
                .output()
                .expect("run python3"),
        };
        assert!(
            out.status.success(),
            "SQL failed: {}\n{}",
            if script { "(script)" } else { sql },
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Declares a test that runs on both backends.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(&super::Store::sqlite());
            }
            #[test]
            fn postgres() {
                super::$name(&super::Store::postgres());
            }
        }
    };
}

fn data_glob() -> String {
    repo_root()
        .join("examples-plugins/data/*.fas")
        .display()
        .to_string()
}

fn defs() -> PathBuf {
    repo_root().join("examples-plugins/attribute_definitions.yaml")
}

/// `run` of fas_stats_rust over the example data, checked against the definitions.
fn run_fas(s: &Store, t: &TestDir) -> Command {
    let mut c = s.cmd(t);
    c.arg("run")
        .arg(plugin_lib("fas_stats_rust"))
        .arg("files")
        .arg(data_glob())
        .arg("--defs")
        .arg(defs())
        .arg("-r")
        .arg(t.join("report.yaml"));
    c
}

/// The TSV body of `polyplug query` (without the header), only the given columns.
fn query_cols(s: &Store, t: &TestDir, args: &[&str], cols: &[&str]) -> String {
    let r = Run::of(s.cmd(t).arg("query").args(args)).ok();
    let mut lines = r.stdout.lines();
    let header: Vec<&str> = lines.next().expect("a header").split('\t').collect();
    let idx: Vec<usize> = cols
        .iter()
        .map(|c| header.iter().position(|h| h == c).expect("column"))
        .collect();
    let mut out = String::new();
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let picked: Vec<&str> = idx.iter().map(|i| f[*i]).collect();
        out.push_str(&picked.join("\t"));
        out.push('\n');
    }
    out
}

/// The `runs list` rows as maps.
fn runs(s: &Store, t: &TestDir) -> Vec<BTreeMap<String, String>> {
    let r = Run::of(s.cmd(t).args(["runs", "list"])).ok();
    let mut lines = r.stdout.lines();
    let header: Vec<String> = lines
        .next()
        .expect("header")
        .split('\t')
        .map(String::from)
        .collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split('\t').map(String::from))
                .collect()
        })
        .collect()
}

fn entity_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

// ---------------------------------------------------------------------------------
// The tests.

fn run_records_values_with_provenance(s: &Store) {
    let t = TestDir::new();
    Run::of(&mut run_fas(s, &t)).ok();
    if s.url.is_none() {
        assert!(
            t.join("polyplug.db").is_file(),
            "the default store is ./polyplug.db"
        );
    }
    let rows = query_cols(
        s,
        &t,
        &[],
        &[
            "entity",
            "attribute",
            "value",
            "plugin_id",
            "plugin_version",
            "user_id",
        ],
    );
    let rows: String = rows
        .lines()
        .map(|l| {
            let (e, rest) = l.split_once('\t').unwrap();
            format!("{}\t{rest}\n", entity_name(e))
        })
        .collect();
    eqnice!(
        "at_rich.fas\tGC_content\t0.058823529411764705\tfas_stats_rust\t1.0\ttester\n\
         at_rich.fas\tgenome_size\t34\tfas_stats_rust\t1.0\ttester\n\
         ecoli_fragment.fas\tGC_content\t0.5471698113207547\tfas_stats_rust\t1.0\ttester\n\
         ecoli_fragment.fas\tgenome_size\t159\tfas_stats_rust\t1.0\ttester\n\
         phage_lambda_mini.fas\tGC_content\t0.425\tfas_stats_rust\t1.0\ttester\n\
         phage_lambda_mini.fas\tgenome_size\t200\tfas_stats_rust\t1.0\ttester\n",
        rows
    );
    // The computation has the report's fields, the plugin's hash and the host.
    let list = runs(s, &t);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["comp_status"], "completed");
    assert_eq!(list[0]["n_units"], "3");
    assert_eq!(list[0]["origin"], "run");
    let uuid = list[0]["uuid"].clone();
    let report = t.read("report.yaml");
    let sha = report
        .lines()
        .find_map(|l| l.strip_prefix("plugin_sha256: "))
        .unwrap()
        .to_string();
    let show = Run::of(s.cmd(&t).args(["runs", "show", &uuid[..8]])).ok();
    for expected in [
        uuid.clone(),
        format!("plugin_sha256: {sha}"),
        "comp_status: completed".to_string(),
        "n_units: 3\n".to_string(),
        "user_id: tester".to_string(),
        "entities_with_values: 3".to_string(),
        "values: 6".to_string(),
    ] {
        assert!(
            show.stdout.contains(&expected),
            "lacks {expected}:\n{}",
            show.stdout
        );
    }
    // JSON keeps the types.
    let json =
        Run::of(
            s.cmd(&t)
                .args(["query", "--format", "json", "-a", "genome_size,GC_content"]),
        )
        .ok()
        .stdout;
    assert!(json.contains(r#""attribute":"genome_size","#), "{json}");
    assert!(json.contains(r#""value":34}"#), "{json}");
    assert!(json.contains(r#""value":0.425}"#), "{json}");
    // CSV has a header and one row per value.
    let csv = Run::of(
        s.cmd(&t)
            .args(["query", "--format", "csv", "-a", "genome_size"]),
    )
    .ok()
    .stdout;
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(
        csv.starts_with("entity,attribute,value,computation,"),
        "{csv}"
    );
    // The attributes came from the definitions file.
    let attrs = Run::of(s.cmd(&t).args(["attrs", "list"])).ok().stdout;
    assert!(
        attrs.contains("genome_size\tInteger\tfas_stats\tbp\t"),
        "{attrs}"
    );
}
both!(run_records_values_with_provenance);

fn rerun_skips_done_entities_and_force_adds_history(s: &Store) {
    let t = TestDir::new();
    Run::of(&mut run_fas(s, &t)).ok();
    let r = Run::of(&mut run_fas(s, &t)).ok();
    eqnice!("", r.stdout);
    let report = t.read("report.yaml");
    assert!(
        report.contains("n_skipped: 3\n") && report.contains("n_units: 0\n"),
        "{report}"
    );
    // Other parameters are another computation key: computed again.
    t.write("p.yaml", "min_length: 100\n");
    let r = Run::of(run_fas(s, &t).arg("--params").arg(t.join("p.yaml"))).ok();
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout); // at_rich is below 100
                                                             // --force recomputes; the new values are current, the old ones stay in history.
    let r = Run::of(run_fas(s, &t).arg("--force")).ok();
    assert_eq!(r.stdout.lines().count(), 3);
    let list = runs(s, &t);
    assert_eq!(list.len(), 4);
    let last = &list[3]["uuid"];
    let current = query_cols(s, &t, &["-a", "genome_size"], &["computation"]);
    eqnice!(format!("{last}\n{last}\n{last}\n"), current);
    let history = query_cols(
        s,
        &t,
        &[
            "-a",
            "genome_size",
            "--history",
            "-e",
            &format!(
                "{}/examples-plugins/data/at_rich.fas",
                repo_root().display()
            ),
        ],
        &["computation", "value"],
    );
    eqnice!(format!("{}\t34\n{last}\t34\n", list[0]["uuid"]), history);
    let by_plugin = query_cols(s, &t, &["--computation", &list[2]["uuid"]], &["attribute"]);
    assert_eq!(by_plugin.lines().count(), 4, "{by_plugin}");
}
both!(rerun_skips_done_entities_and_force_adds_history);

/// More done IDs than a run holds (half a million): their hashes go to temporary
/// files and the input's lines are marked instead. Whatever the skip list or the store
/// has is skipped, the rest computed, in input order, and the counts say where each
/// skipped entity was found.
fn a_rerun_over_more_done_ids_than_held_skips_by_line(s: &Store) {
    let t = TestDir::new();
    let plugin = plugin_lib("id_stats");
    let stored: String = (0..300).map(|k| format!("st{k}\n")).collect();
    t.write("stored.txt", &stored);
    Run::of(
        s.cmd(&t)
            .arg("run")
            .arg(&plugin)
            .args(["ids", "stored.txt"]),
    )
    .ok();
    // 600,000 listed IDs, then the 300 stored and 200 new ones among them, a blank
    // line, a second column and a listed ID given again.
    let (mut input, mut listed, mut new) = (String::new(), String::new(), Vec::new());
    for i in 0..600_000 {
        listed.push_str(&format!("id{i}\n"));
        input.push_str(&format!("id{i}\n"));
        if i % 2_000 == 7 {
            let k = i / 2_000;
            input.push_str(&format!("st{k}\tx\n\nnew{k}\n"));
            if k < 200 {
                new.push(format!("new{k}"));
            } else {
                listed.push_str(&format!("new{k}\n"));
            }
        }
    }
    input.push_str("id5\n");
    t.write("input.txt", &input);
    t.write("more.txt", format!("{input}more\n"));
    t.write("listed.txt", &listed);
    // A rerun over `ids` with the listed IDs skipped, and this TMPDIR.
    let rerun = |ids: &str, tmp: &Path| {
        Run::of(
            s.cmd(&t)
                .env("TMPDIR", tmp)
                .arg("run")
                .arg(&plugin)
                .args(["ids", ids, "-s", "listed.txt", "--allow-duplicates"])
                .args(["-r", "report.yaml"]),
        )
    };
    let r = rerun("input.txt", t.path()).ok();
    let ids: Vec<&str> = r
        .stdout
        .lines()
        .filter_map(|l| l.split('\t').next())
        .collect();
    assert_eq!(ids, new, "computed");
    let report = t.read("report.yaml");
    assert!(
        report.contains("n_units: 200\n") && report.contains("n_skipped: 600401\n"),
        "{report}"
    );
    assert!(r.stderr.contains("300 in the store"), "{}", r.stderr);
    // Again: the new ones are in the store now, and nothing is left.
    let r = rerun("input.txt", t.path()).ok();
    eqnice!("", r.stdout);
    assert!(r.stderr.contains("500 in the store"), "{}", r.stderr);
    let report = t.read("report.yaml");
    assert!(report.contains("n_skipped: 600601\n"), "{report}");
    // Nowhere to write the hashes (TMPDIR under a file): one clear error, and
    // nothing computed.
    let r = rerun("more.txt", &t.join("listed.txt/tmp"))
        .code(2)
        .stderr_has("cannot write the done IDs' hashes to a temporary file")
        .stderr_has("set TMPDIR to a folder with room")
        .no_panic();
    eqnice!("", r.stdout);
}
both!(a_rerun_over_more_done_ids_than_held_skips_by_line);

fn failed_and_no_result_entities(s: &Store) {
    let t = TestDir::new();
    t.write("ids.txt", "aa\nfail1\nnone1\nlist1\n");
    let run = || {
        let mut c = s.cmd(&t);
        c.arg("run").arg(plugin_lib("testkit")).args([
            "ids",
            "ids.txt",
            "-o",
            "out.tsv",
            "-l",
            "log.tsv",
            "-r",
            "report.yaml",
        ]);
        c
    };
    Run::of(&mut run())
        .code(1)
        .stderr_has("1 failed (see the log)");
    eqnice!(
        "aa\t2\tk=Some(3) ratio=Some(0.5) flag=Some(false) label=x\nlist1\t1\t[1.5, None]\n",
        t.read("out.tsv")
    );
    // The failed entity is retried by the rerun; the others are done (also "none1").
    let r = Run::of(&mut run()).code(1);
    let report = t.read("report.yaml");
    assert!(report.contains("n_skipped: 3\n"), "{report}\n{}", r.stderr);
    let show = Run::of(s.cmd(&t).args(["runs", "show", &runs(s, &t)[0]["uuid"]]))
        .ok()
        .stdout;
    assert!(show.contains("entities_without_result: 1"), "{show}");
    assert!(show.contains("entities_failed: 1"), "{show}");
    // A list value keeps its type.
    let json = Run::of(
        s.cmd(&t)
            .args(["query", "--format", "json", "-e", "list1", "-a", "b"]),
    )
    .ok()
    .stdout;
    assert!(json.contains(r#""value":[1.5,null]"#), "{json}");
}
both!(failed_and_no_result_entities);

fn no_store_records_nothing(s: &Store) {
    let t = TestDir::new();
    let r = Run::of(run_fas(s, &t).arg("--no-store")).ok();
    assert_eq!(r.stdout.lines().count(), 3);
    match &s.url {
        None => assert!(!t.join("polyplug.db").exists()),
        Some(_) => {
            Run::of(s.cmd(&t).args(["attrs", "list"])).ok();
            assert!(runs(s, &t).is_empty());
        }
    }
    // Without --no-store, a second run computes again (nothing was stored).
    let r = Run::of(&mut run_fas(s, &t)).ok();
    assert_eq!(r.stdout.lines().count(), 3);
}
both!(no_store_records_nothing);

fn plugin_changed_without_version_change(s: &Store) {
    let t = TestDir::new();
    let lib = t.join("libtestkit.so");
    std::fs::copy(plugin_lib("testkit"), &lib).unwrap();
    t.write("ids.txt", "aa\n");
    let run = |extra: &[&str]| {
        let mut c = s.cmd(&t);
        c.arg("run").arg(&lib).args(["ids", "ids.txt"]).args(extra);
        Run::of(&mut c)
    };
    run(&[]).ok();
    // Same ID and VERSION, other bytes (a trailing byte does not stop dlopen).
    let mut bytes = std::fs::read(&lib).unwrap();
    bytes.push(0);
    std::fs::write(&lib, bytes).unwrap();
    run(&["--force"])
        .code(2)
        .stderr_has("plugin testkit version 0.1 changed without a version change")
        .stderr_has("--replace-plugin-record");
    run(&["--force", "--replace-plugin-record"]).ok();
    run(&["--force"]).ok();
}
both!(plugin_changed_without_version_change);

fn attrs_sync_update_and_drop(s: &Store) {
    let t = TestDir::new();
    t.write(
        "d.yaml",
        "size:\n  datatype: Integer\n  unit: bp\n  computation_group: g\n",
    );
    let r = Run::of(s.cmd(&t).args(["attrs", "sync", "d.yaml"])).ok();
    eqnice!("added: size\n", r.stdout);
    let r = Run::of(s.cmd(&t).args(["attrs", "sync", "d.yaml"])).ok();
    assert!(r.stdout.contains("up to date"), "{}", r.stdout);
    // A text change needs --update.
    t.write(
        "d.yaml",
        "size:\n  datatype: Integer\n  unit: kb\n  computation_group: g\n",
    );
    Run::of(s.cmd(&t).args(["attrs", "sync", "d.yaml"]))
        .ok()
        .stderr_has("rerun with --update");
    let r = Run::of(s.cmd(&t).args(["attrs", "sync", "d.yaml", "--update"])).ok();
    eqnice!("updated: size\n", r.stdout);
    let list = Run::of(s.cmd(&t).args(["attrs", "list"])).ok().stdout;
    assert!(list.contains("size\tInteger\tg\tkb\t"), "{list}");
    // Load values, then a datatype change is refused unless --drop, which deletes them.
    t.write("ids.txt", "x\n");
    let lib = plugin_lib("id_stats");
    t.write(
        "d2.yaml",
        "length:\n  datatype: Integer\ngc_count:\n  datatype: Integer\n",
    );
    Run::of(s.cmd(&t).args(["attrs", "sync", "d2.yaml"])).ok();
    Run::of(s.cmd(&t).arg("run").arg(&lib).args(["ids", "ids.txt"])).ok();
    t.write(
        "d2.yaml",
        "length:\n  datatype: Float\ngc_count:\n  datatype: Integer\n",
    );
    Run::of(s.cmd(&t).args(["attrs", "sync", "d2.yaml"]))
        .code(2)
        .stderr_has(
            "attribute 'length': the datatype changed (Integer in the store, Float in d2.yaml)",
        )
        .stderr_has("--drop");
    let r = Run::of(s.cmd(&t).args(["attrs", "sync", "d2.yaml", "--drop"])).ok();
    eqnice!(
        "dropped and recreated: length (1 values deleted)\n",
        r.stdout
    );
    let q = query_cols(s, &t, &[], &["attribute", "value"]);
    eqnice!("gc_count\t0\n", q);
    // A bad definitions file names itself.
    t.write("bad.yaml", "x:\n  datatype: Flaot\n");
    Run::of(s.cmd(&t).args(["attrs", "sync", "bad.yaml"]))
        .code(2)
        .stderr_has("bad.yaml: attribute 'x': datatype 'Flaot'");
}
both!(attrs_sync_update_and_drop);

/// A Prenacs report as prenacs batch-compute writes it.
const PRENACS_REPORT: &str = "comp_status: completed
n_units: 3
parameters: '{}

  '
plugin_id: fas_stats_rust
plugin_version: '1.0'
reason: new_entities
system_id: labhost
time_end: '2022-03-01 10:00:05.000001'
time_start: '2022-03-01 10:00:00.000001'
user_id: giorgio
uuid: !!binary |
  EjRWeJq83vABI0VniavN7w==
";

fn load_imports_prenacs_results(s: &Store) {
    let t = TestDir::new();
    t.write("report.yaml", PRENACS_REPORT);
    t.write("results.tsv", "g1\t100\t0.5\ng2\t7\t1.0\ng3\t12\t1e-05\n");
    let lib = plugin_lib("fas_stats_rust");
    let load = || {
        let mut c = s.cmd(&t);
        c.args(["load", "results.tsv", "report.yaml"]).arg(&lib);
        Run::of(&mut c)
    };
    // The attributes must be defined first.
    load()
        .code(2)
        .stderr_has("not defined in the store")
        .stderr_has("polyplug attrs sync");
    Run::of(s.cmd(&t).arg("attrs").arg("sync").arg(defs())).ok();
    load()
        .ok()
        .stdout_has("loaded 3 entities of computation 12345678-9abc-def0-0123-456789abcdef");
    let q = query_cols(
        s,
        &t,
        &["-e", "g3"],
        &["attribute", "value", "user_id", "system_id", "computation"],
    );
    eqnice!(
        "GC_content\t1e-05\tgiorgio\tlabhost\t12345678-9abc-def0-0123-456789abcdef\n\
         genome_size\t12\tgiorgio\tlabhost\t12345678-9abc-def0-0123-456789abcdef\n",
        q
    );
    let json = Run::of(s.cmd(&t).args(["query", "--format", "json", "-e", "g2"]))
        .ok()
        .stdout;
    assert!(
        json.contains(r#""value":1.0"#) && json.contains(r#""value":7"#),
        "{json}"
    );
    // Loading the same report twice is refused.
    load().code(2).stderr_has("already in the store");
    // Bad rows are reported with their line, and nothing is stored.
    t.write("report.yaml", PRENACS_REPORT.replace("EjRW", "AAAA"));
    t.write("results.tsv", "g1\t100\t0.5\ng2\tlots\t1.0\n");
    load().code(2).stderr_has(
        "results.tsv: line 2: entity 'g2': attribute 'genome_size' needs an integer, got 'lots'",
    );
    t.write("results.tsv", "g1\t100\n");
    load()
        .code(2)
        .stderr_has("results.tsv: line 1: entity 'g1' has 1 value(s)");
    // The report must be of this plugin.
    t.write(
        "report.yaml",
        PRENACS_REPORT.replace("plugin_id: fas_stats_rust", "plugin_id: other"),
    );
    load().code(2).stderr_has("plugin_id is 'other'");
    assert_eq!(runs(s, &t).len(), 1);
}
both!(load_imports_prenacs_results);

fn export_round_trips_through_load(s: &Store) {
    let t = TestDir::new();
    Run::of(run_fas(s, &t).arg("-o").arg(t.join("out.tsv"))).ok();
    let uuid = runs(s, &t)[0]["uuid"].clone();
    Run::of(
        s.cmd(&t)
            .args(["export", &uuid, "-o", "exported.tsv", "-r", "exported.yaml"]),
    )
    .ok();
    eqnice!(t.read("out.tsv"), t.read("exported.tsv"));
    // Into another store (a SQLite file given with --store), with the same values.
    Run::of(
        t.cmd()
            .args(["attrs", "sync", "--store", "other.db"])
            .arg(defs()),
    )
    .ok();
    Run::of(
        t.cmd()
            .args([
                "load",
                "exported.tsv",
                "exported.yaml",
                "--store",
                "other.db",
            ])
            .arg(plugin_lib("fas_stats_rust")),
    )
    .ok();
    let a = query_cols(s, &t, &[], &["entity", "attribute", "value", "computation"]);
    let b = Run::of(t.cmd().args(["query", "--store", "sqlite:other.db"]))
        .ok()
        .stdout;
    let b: String = b
        .lines()
        .skip(1)
        .map(|l| l.split('\t').take(4).collect::<Vec<_>>().join("\t") + "\n")
        .collect();
    eqnice!(a, b);
}
both!(export_round_trips_through_load);

fn sigkill_and_rerun_compute_each_entity_once(s: &Store) {
    let t = TestDir::new();
    killed_twice_then_rerun(s, &t, &plugin_lib("testkit"));
}
both!(sigkill_and_rerun_compute_each_entity_once);

/// A Python plugin that takes a while per entity and gives its attribute `a`.
const SLOW_PY: &str = "import time\nID = 'slow_a'\nVERSION = '1.0'\nINPUT = 'an ID'\n\
OUTPUT = ['a']\n\ndef compute(entity, **kwargs):\n    time.sleep(0.03)\n    \
return [len(entity)], []\n";

/// The same in Bash.
const SLOW_SH: &str = "ID=\"slow_a_bash\"\nVERSION=\"1.0\"\nINPUT=\"an ID\"\n\
OUTPUT=( \"a\" )\ncompute() { sleep 0.03; echo \"${#1}\"; }\n";

fn sigkill_and_rerun_python_each_entity_once(s: &Store) {
    let t = TestDir::new();
    killed_twice_then_rerun(s, &t, &t.write("slow_a.py", SLOW_PY));
}
both!(sigkill_and_rerun_python_each_entity_once);

fn sigkill_and_rerun_bash_each_entity_once(s: &Store) {
    let t = TestDir::new();
    killed_twice_then_rerun(s, &t, &t.write("slow_a.sh", SLOW_SH));
}
both!(sigkill_and_rerun_bash_each_entity_once);

fn sigkill_and_rerun_wasm_each_entity_once(s: &Store) {
    let t = TestDir::new();
    killed_twice_then_rerun(s, &t, &crate::wasm::wasm("slow_a"));
}
both!(sigkill_and_rerun_wasm_each_entity_once);

/// Runs `plugin` (attribute `a`) over 240 IDs at -j4, killed with SIGKILL twice (after
/// its first row, after 60), then to the end: every entity once in `-o` and in the
/// store, and the killed runs recorded as killed.
fn killed_twice_then_rerun(s: &Store, t: &TestDir, plugin: &Path) {
    let n = 240;
    let ids: String = (0..n).map(|i| format!("sleep{i:04}\n")).collect();
    t.write("ids.txt", &ids);
    let run = || {
        let mut c = s.cmd(t);
        c.arg("run").arg(plugin).args([
            "ids", "ids.txt", "-o", "out.tsv", "-l", "log.tsv", "-j", "4",
        ]);
        c
    };
    // Kill twice, at different moments (just after a run's first row, and after 60
    // rows in all), then finish. Each run is killed only once it wrote a row of its
    // own: so it has begun its computation, however slowly the machine starts it.
    let rows_now = || {
        std::fs::read_to_string(t.join("out.tsv"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    for wait_rows in [1, 60] {
        let before = rows_now();
        let mut child = run()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        loop {
            let rows = rows_now();
            if (rows > before && rows >= wait_rows) || start.elapsed() > Duration::from_secs(60) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(150));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let rows_before = t.read("out.tsv").lines().count();
    assert!(rows_before < n, "the run finished before it was killed");
    Run::of(&mut run()).ok();
    // Each entity once in the results file...
    let out = t.read("out.tsv");
    let mut ids: Vec<&str> = out.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(ids.len(), n, "rows in out.tsv");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicated rows in out.tsv");
    // ... and once in the store, over all computations of the key.
    let history = query_cols(s, t, &["--history", "-a", "a"], &["entity"]);
    assert_eq!(history.lines().count(), n, "values of 'a' in the store");
    let mut entities: Vec<&str> = history.lines().collect();
    entities.sort();
    entities.dedup();
    assert_eq!(entities.len(), n, "entities with a value of 'a'");
    let units = s.sql(t, "SELECT SUM(n_units - n_no_result - n_failed) FROM block");
    eqnice!(format!("{n}\n"), units);
    let list = runs(s, t);
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["comp_status"], "killed");
    assert_eq!(list[1]["comp_status"], "killed");
    assert_eq!(list[2]["comp_status"], "completed");
}

fn killed_after_commit_before_writing_the_file(s: &Store) {
    // A fault hook makes the run abort right after its first commit, before the
    // results file gets those rows: the rerun must append them from the store.
    let t = TestDir::new();
    t.write("ids.txt", "aa\nbbb\ncccc\n");
    let run = || {
        let mut c = s.cmd(&t);
        c.arg("run")
            .arg(plugin_lib("testkit"))
            .args(["ids", "ids.txt", "-o", "out.tsv"]);
        c
    };
    let r = Run::of(run().env("POLYPLUG_FAULT", "abort-after-commit"));
    assert_ne!(r.code, 0);
    eqnice!("", t.read("out.tsv"));
    let r = Run::of(&mut run()).ok();
    assert!(r.stderr.contains("appended 3 row(s)"), "{}", r.stderr);
    let out = t.read("out.tsv");
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.starts_with("aa\t2\t"), "{out}");
    assert_eq!(runs(s, &t)[1]["n_skipped"], "3");
}
both!(killed_after_commit_before_writing_the_file);

fn two_concurrent_writers_both_succeed(s: &Store) {
    let t = TestDir::new();
    let n = 30_000;
    let a: String = (0..n).map(|i| format!("A{i}\n")).collect();
    let b: String = (0..n).map(|i| format!("B{i}\n")).collect();
    t.write("a.txt", a);
    t.write("b.txt", b);
    // Create the store first, as a lab would; the two runs then race on writing.
    Run::of(s.cmd(&t).arg("attrs").arg("sync").arg(defs())).ok();
    let spawn = |ids: &str| {
        s.cmd(&t)
            .arg("run")
            .arg(plugin_lib("id_stats"))
            .args(["ids", ids, "-o", &format!("{ids}.out"), "-j", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let ca = spawn("a.txt");
    let cb = spawn("b.txt");
    for c in [ca, cb] {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a concurrent run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let count = s.sql(&t, "SELECT SUM(n_values) FROM block");
    eqnice!(format!("{}\n", 4 * n), count);
    let list = runs(s, &t);
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|r| r["comp_status"] == "completed"));
}
both!(two_concurrent_writers_both_succeed);

fn store_errors_are_explained(s: &Store) {
    let t = TestDir::new();
    // Read-only commands do not create a SQLite store.
    Run::of(t.cmd().args(["runs", "list", "--store", "none.db"]))
        .code(2)
        .stderr_has("store none.db: no such file");
    Run::of(
        t.run(plugin_lib("id_stats"))
            .args(["ids", "x.txt", "--store", "no/such/dir/s.db"]),
    )
    .code(2)
    .stderr_has("store no/such/dir/s.db: the folder no/such/dir does not exist");
    Run::of(t.cmd().args(["query", "--store", "mysql://h/db"]))
        .code(2)
        .stderr_has("unknown scheme 'mysql'");
    Run::of(&mut run_fas(s, &t)).ok();
    Run::of(s.cmd(&t).args(["runs", "show", "zz"]))
        .code(2)
        .stderr_has("'zz' is not a computation UUID");
    Run::of(s.cmd(&t).args(["runs", "show", "0000000"]))
        .code(2)
        .stderr_has("no computation with UUID 0000000");
    // A block whose row counts disagree with its data is not trusted to skip
    // anything: the rerun stops with an explanation instead of computing twice.
    s.sql(&t, "UPDATE block SET n_failed = n_units");
    Run::of(&mut run_fas(s, &t))
        .code(2)
        .stderr_has("cannot be read: the block's row counts 0 without result, 3 failed")
        .no_panic();
    s.sql(&t, "UPDATE block SET n_failed = 0");
    Run::of(&mut run_fas(s, &t)).ok();
    // A damaged block is reported with its computation and what to do; nothing
    // is guessed.
    s.sql(&t, "UPDATE block SET data = substr(data, 1, 12)");
    let uuid = runs(s, &t)[0]["uuid"].clone();
    for args in [&["query"][..], &["export", &uuid]] {
        Run::of(s.cmd(&t).args(args))
            .code(2)
            .stderr_has(&format!("the stored results of computation {uuid}"))
            .stderr_has("cannot be read: the data ends early")
            .stderr_has("recompute that computation with --force")
            .no_panic();
    }
    // A store written by a newer polyplug is refused, not misread.
    s.sql(&t, "UPDATE polyplug_schema SET version = 99");
    Run::of(s.cmd(&t).args(["runs", "list"]))
        .code(2)
        .stderr_has("schema version 99, written by a newer polyplug")
        .stderr_has("upgrade polyplug");
}
both!(store_errors_are_explained);

fn schema_1_store_migrates(s: &Store) {
    // tests/fixtures/store-v1: a store written by polyplug 0.1.0 (schema 1, one row
    // per unit and per value) with every value kind, a failure, a unit without result,
    // a --params run and a --force recomputation, and what that polyplug printed for it.
    let t = TestDir::new();
    let fx = repo_root().join("tests/fixtures/store-v1");
    let read = |f: &str| std::fs::read_to_string(fx.join(f)).unwrap();
    let backend = if s.url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    s.script(&t, &read(&format!("{backend}.sql")));
    // The first command migrates the store; everything reads back as it did.
    let list = Run::of(s.cmd(&t).args(["runs", "list"])).ok().stdout;
    // The columns that polyplug had, as it printed them; the later ones (where on a
    // cluster a computation ran) are empty but for the host.
    let (old, later): (String, Vec<String>) = list
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[..13].join("\t") + "\n", f[13..].join("\t"))
        })
        .unzip();
    eqnice!(read("expected/runs-list.tsv"), old);
    assert_eq!(
        later[0],
        "run_id\tscheduler\tjob_id\ttask_id\thost\tname\ttags"
    );
    assert!(
        later[1..].iter().all(|l| l == "\t\t\t\tvm\t\t"),
        "{later:?}"
    );
    eqnice!("4\n", s.sql(&t, "SELECT version FROM polyplug_schema"));
    for (i, line) in list.lines().skip(1).enumerate() {
        let uuid = line.split('\t').next().unwrap();
        let show = Run::of(s.cmd(&t).args(["runs", "show", uuid])).ok().stdout;
        let later = [
            "run_id: null\n",
            "name: null\n",
            "tags: null\n",
            "scheduler: null\n",
            "job_id: null\n",
            "task_id: null\n",
        ];
        let mut old = show.clone();
        for l in later {
            assert!(show.contains(l), "{l:?} not in\n{show}");
            old = old.replacen(l, "", 1);
        }
        eqnice!(read(&format!("expected/runs-show-{}.yaml", i + 1)), old);
    }
    // Without the columns later versions added (shard, run_id), empty for these.
    let query = |args: &[&str]| {
        let out = Run::of(s.cmd(&t).arg("query").args(args)).ok().stdout;
        let json = out.starts_with('[');
        let sep = if args.contains(&"csv") { ',' } else { '\t' };
        let lines: Vec<String> = out
            .lines()
            .enumerate()
            .map(|(i, l)| {
                if json {
                    return l
                        .replace(r#""run_id":"","#, "")
                        .replace(r#""shard":"","#, "");
                }
                let cut = l.rsplitn(3, sep).collect::<Vec<_>>();
                let later = if i == 0 {
                    ["run_id", "shard"]
                } else {
                    ["", ""]
                };
                assert_eq!(cut[..2], later, "{l}");
                cut[2].to_string()
            })
            .collect();
        lines.join("\n") + "\n"
    };
    eqnice!(read("expected/query-history.tsv"), query(&["--history"]));
    eqnice!(
        read("expected/query-current.json"),
        query(&["--format", "json"])
    );
    eqnice!(
        read("expected/query-floats.csv"),
        query(&[
            "-e",
            "nan",
            "-e",
            "inf",
            "-e",
            "ninf",
            "-a",
            "k_float,k_pair",
            "--format",
            "csv"
        ])
    );
    let export = Run::of(s.cmd(&t).args(["export", "95b41eaa"])).ok().stdout;
    eqnice!(read("expected/export-2.tsv"), export);
    // The schema-1 tables are gone, their rows are in blocks.
    eqnice!(
        "18|2|2|112\n",
        s.sql(
            &t,
            "SELECT SUM(n_units), SUM(n_no_result), SUM(n_failed), SUM(n_values) FROM block"
        )
    );
    // The migrated store resumes: rerunning the first run's key retries only the
    // entity that failed.
    let r = Run::of(
        s.cmd(&t)
            .arg("run")
            .arg(fx.join("kinds.py"))
            .arg("ids")
            .arg(fx.join("ids.txt"))
            .args(["-o", "out.tsv", "-r", "r.yaml"]),
    )
    .code(1);
    assert!(r.stderr.contains("1 failed (see the log)"), "{}", r.stderr);
    eqnice!("", t.read("out.tsv"));
    let list = runs(s, &t);
    assert_eq!(list.len(), 4);
    assert_eq!(list[3]["n_skipped"], "7");
}
both!(schema_1_store_migrates);

#[test]
fn postgres_server_unreachable_is_explained() {
    let t = TestDir::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    Run::of(
        t.cmd()
            .args(["runs", "list", "--store"])
            .arg(format!("postgres://nobody:secret@127.0.0.1:{port}/x")),
    )
    .code(2)
    .stderr_has(&format!(
        "store postgres://nobody:***@127.0.0.1:{port}/x: cannot connect"
    ))
    .no_panic();
}

/// The same run started twice into one store (other `-o` files, or none): the second
/// is refused while the first runs, naming it; another plugin, or the same one over
/// other IDs, runs beside it; once the first ends (or is killed), the second runs and
/// computes only the rest.
fn the_same_computation_runs_once_at_a_time(s: &Store) {
    let t = TestDir::new();
    let slow = repo_root().join("tests/fixtures/python/slow.py");
    let ids: Vec<String> = (0..8).map(|i| format!("0.3{i:02}")).collect();
    t.write("ids.txt", ids.join("\n") + "\n");
    let start = |out: &str| {
        let mut c = s.cmd(&t);
        c.arg("run")
            .arg(&slow)
            .args(["ids", "ids.txt", "-j1", "-o", out])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(t.join(&format!("{out}.err"))).expect("stderr file"));
        c.spawn().expect("start polyplug")
    };
    // Computations running now (none while the store does not exist yet).
    let running = || {
        let o = s
            .cmd(&t)
            .args(["runs", "list"])
            .output()
            .expect("runs list");
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.split('\t').any(|f| f == "running"))
            .count()
    };
    let wait_running = || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while running() != 1 {
            assert!(
                Instant::now() < deadline,
                "not one run running: {} running\n{}\n{}",
                running(),
                std::fs::read_to_string(t.join("a.tsv.err")).unwrap_or_default(),
                String::from_utf8_lossy(
                    &s.cmd(&t)
                        .args(["runs", "list"])
                        .output()
                        .expect("runs")
                        .stdout
                )
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut first = start("a.tsv");
    wait_running();
    let pid = first.id();
    let again = || {
        let mut c = s.cmd(&t);
        c.arg("run")
            .arg(&slow)
            .args(["ids", "ids.txt", "-j1", "-o", "b.tsv"]);
        c
    };
    Run::of(&mut again())
        .code(2)
        .stderr_has("the same run is already going on (computation ")
        .stderr_has(&format!(", process {pid} on "))
        .stderr_has(
            "plugin slow 1 with the same parameters over the same input; wait until it ends",
        );
    // The same computation over other IDs (a split list) runs beside it.
    t.write("other-ids.txt", "0.011\n");
    Run::of(
        s.cmd(&t)
            .arg("run")
            .arg(&slow)
            .args(["ids", "other-ids.txt"]),
    )
    .ok();
    // Another plugin (here the same file under another ID) is not held up.
    let other = t.write(
        "other.py",
        std::fs::read_to_string(&slow)
            .expect("read slow.py")
            .replace("ID = \"slow\"", "ID = \"other\""),
    );
    t.write("quick.txt", "0.01\n");
    Run::of(s.cmd(&t).arg("run").arg(&other).args(["ids", "quick.txt"])).ok();
    assert!(first.wait().expect("wait").success());
    // Once it is done, the same run computes nothing again.
    Run::of(&mut again()).ok();
    assert_eq!(
        t.read("b.tsv"),
        "",
        "everything was computed by the first run"
    );
    // A run killed with SIGKILL does not hold the next one up.
    let more: Vec<String> = (0..8).map(|i| format!("0.2{i:02}")).collect();
    t.write("ids.txt", more.join("\n") + "\n");
    let mut killed = start("c.tsv");
    wait_running();
    let _ = killed.kill();
    let _ = killed.wait();
    Run::of(&mut again()).ok();
    let out = t.read("b.tsv");
    assert!(!out.is_empty(), "the rest was computed");
}
both!(the_same_computation_runs_once_at_a_time);

/// A query's answer larger than its sort memory is sorted in temporary files and
/// merged: the same rows, in the same order, as when it fits; and a TMPDIR that
/// cannot take them is one clear error (which also shows that the files were used).
fn query_sorts_a_large_answer_in_bounded_memory(s: &Store) {
    let t = TestDir::new();
    let n = 20_000;
    // Not in entity order; many IDs share their first 8 bytes.
    let ids: String = (0..n)
        .map(|i| format!("sample-{:05}\n", (i * 7919) % n))
        .collect();
    t.write("ids.txt", &ids);
    let run = |extra: &[&str]| {
        Run::of(
            s.cmd(&t)
                .arg("run")
                .arg(plugin_lib("id_stats"))
                .args(["ids", "ids.txt"])
                .args(extra),
        )
        .ok();
    };
    run(&[]);
    run(&["--force"]);
    let query = |args: &[&str]| Run::of(s.cmd(&t).arg("query").args(args)).ok().stdout;
    for args in [&[][..], &["--history"], &["-a", "length"]] {
        let fits = query(args);
        let spilled = query(&[args, &["--sort-memory", "1"]].concat());
        assert!(fits == spilled, "query {args:?}: spilled answer differs");
        let rows: Vec<&str> = fits.lines().skip(1).collect();
        let per_entity = match args {
            [] => 2,
            ["--history"] => 4,
            _ => 1,
        };
        assert_eq!(rows.len(), per_entity * n, "query {args:?}");
        let keys: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| {
                let mut f = r.split('\t');
                (f.next().unwrap(), f.next().unwrap())
            })
            .collect();
        assert!(
            keys.windows(2).all(|w| w[0] <= w[1]),
            "query {args:?}: not sorted"
        );
    }
    // The current values are the second computation's.
    let last = &runs(s, &t)[1]["uuid"];
    let current = query_cols(s, &t, &["--sort-memory", "1"], &["computation"]);
    assert!(
        current.lines().all(|c| c == last),
        "not all current values from {last}"
    );

    let gone = t.join("no-such-tmp");
    let r = Run::of(
        s.cmd(&t)
            .env("TMPDIR", &gone)
            .args(["query", "--sort-memory", "1"]),
    )
    .code(2);
    assert!(
        r.stderr
            .contains("cannot sort the answer in temporary files")
            && r.stderr.contains("set TMPDIR"),
        "{}",
        r.stderr
    );
    // An answer that fits needs no temporary file.
    Run::of(
        s.cmd(&t)
            .env("TMPDIR", &gone)
            .args(["query", "-a", "length"]),
    )
    .ok();
}
both!(query_sorts_a_large_answer_in_bounded_memory);

/// Runs `sql` with psql on the database at `url` of the test server.
pub(crate) fn psql(url: &str, sql: &str) {
    let server = pg();
    let out = Command::new(server.bin.join("psql"))
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
