//! `run <plugin> sql <url> <query>`: the rows of a query on SQLite or PostgreSQL as
//! entities, each with its fields; the query read once; shards and merge; errors.

use polyplug_e2e::{eqnice, Run, TestDir};
use std::process::Command;

/// Plugins that show what they got: the record's length and its fields.
use crate::records::{PROBE_C, PROBE_PY};

/// The rows of the test table: the probe's rows for
/// `select id, n, x, note from samples order by id`.
const EXPECTED: &str = "a\t8\tid=a;n=3;x=0.5;note=\n\
b\t19\tid=b;n=10;x=2.25;note=two words\n\
c\t20\tid=c;n=-1;x=1e-05;note=tab\\there\n";

/// A SQLite file `db.sqlite` with the test table (and a repeated key, `b`, in a
/// second table).
fn sqlite_db(t: &TestDir) {
    let script = "import sqlite3, sys\n\
        db = sqlite3.connect(sys.argv[1])\n\
        db.execute('create table samples (id text, n integer, x real, note text)')\n\
        db.executemany('insert into samples values (?, ?, ?, ?)', [\n\
            ('b', 10, 2.25, 'two words'), ('a', 3, 0.5, None), ('c', -1, 1e-05, 'tab\\there')])\n\
        db.execute('create table twice (id text, v integer)')\n\
        db.executemany('insert into twice values (?, ?)', [('k1', 1), ('k2', 2), ('k1', 3), ('', 4)])\n\
        db.commit()\n";
    let status = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(t.join("db.sqlite"))
        .status()
        .expect("run python3");
    assert!(status.success());
}

const QUERY: &str = "select id, n, x, note from samples order by id;";

#[test]
fn the_rows_of_a_sqlite_query_are_the_entities() {
    let t = TestDir::new();
    sqlite_db(&t);
    t.write("probe.py", PROBE_PY);
    let probe_c = t.compile_c("probe_c", PROBE_C);
    for plugin in [t.join("probe.py"), probe_c] {
        for jobs in ["-j1", "-j2"] {
            let r = Run::of(
                t.run(&plugin)
                    .args(["sql", "db.sqlite", QUERY, jobs, "-r", "r.yaml"]),
            )
            .ok()
            .no_panic();
            eqnice!(EXPECTED, r.stdout);
        }
    }
    // In shards into a run folder, merged back in the query's order.
    for i in 0..2 {
        Run::of(t.run("probe.py").args([
            "sql",
            "sqlite:db.sqlite",
            QUERY,
            "--shard",
            &format!("{i}/2"),
            "--run-dir",
            "rd",
        ]))
        .ok();
    }
    Run::of(
        t.cmd()
            .args(["merge", "rd", "-o", "merged.tsv", "--no-store"]),
    )
    .ok();
    eqnice!(EXPECTED, t.read("merged.tsv"));
    // A rerun into the same results file computes nothing again.
    let run = || {
        Run::of(t.run("probe.py").args([
            "sql",
            "db.sqlite",
            QUERY,
            "-o",
            "out.tsv",
            "-r",
            "r.yaml",
        ]))
        .ok()
    };
    run();
    run();
    eqnice!(EXPECTED, t.read("out.tsv"));
    assert!(
        t.read("r.yaml").contains("n_skipped: 3"),
        "{}",
        t.read("r.yaml")
    );
}

#[test]
fn a_repeated_key_is_computed_once_and_named_and_a_null_key_stops_the_run() {
    let t = TestDir::new();
    sqlite_db(&t);
    t.write("probe.py", PROBE_PY);
    let r = Run::of(t.run("probe.py").args([
        "sql",
        "db.sqlite",
        "select id, v from twice where id <> '' order by v",
        "-r",
        "r.yaml",
    ]))
    .ok()
    .stderr_has("1 row repeated a key of an earlier row and was passed over")
    .stderr_has("\"k1\"");
    eqnice!("k1\t4\tid=k1;v=1\nk2\t4\tid=k2;v=2\n", r.stdout);
    let r = Run::of(t.run("probe.py").args([
        "sql",
        "db.sqlite",
        "select id, v from twice order by v",
        "-r",
        "r.yaml",
    ]))
    .stderr_has("row 4: the first column (id), the ID, is empty or NULL")
    .no_panic();
    assert_ne!(r.code, 0);
    assert!(r.stdout.starts_with("k1\t4\tid=k1;v=1\n"), "{}", r.stdout);
}

#[test]
fn sql_errors_are_clear_and_come_before_any_work() {
    let t = TestDir::new();
    sqlite_db(&t);
    t.write("probe.py", PROBE_PY);
    let fails = |args: &[&str], text: &str| {
        let r = Run::of(t.run("probe.py").args(args))
            .code(2)
            .stderr_has(text)
            .no_panic();
        eqnice!("", r.stdout);
    };
    fails(
        &["sql", "missing.db", "select 1"],
        "missing.db is not a SQLite file",
    );
    fails(
        &["sql", "db.sqlite", "select * from nowhere"],
        "the query does not run",
    );
    fails(
        &["sql", "db.sqlite", "select * from nowhere"],
        "no such table: nowhere",
    );
    fails(&["sql", "db.sqlite"], "sql mode needs a query");
    fails(
        &["sql", "db.sqlite", "select 1", "select 2"],
        "unexpected argument 'select 2'",
    );
    fails(&["sql", "mysql://h/db", "select 1"], "mysql");
    assert!(!t.join("missing.db").exists(), "a SQLite file was created");
}

#[test]
fn the_rows_of_a_postgresql_query_are_the_entities() {
    let t = TestDir::new();
    let url = crate::store::pg_database();
    crate::store::psql(
        &url,
        "create table samples (id text, n integer, x double precision, note text); \
         insert into samples values ('b', 10, 2.25, 'two words'), ('a', 3, 0.5, null), \
         ('c', -1, 1e-05, E'tab\\there');",
    );
    // More rows than one page of the cursor.
    crate::store::psql(
        &url,
        "create table many as select 'r' || g as id, g as n from generate_series(1, 4500) g",
    );
    t.write("probe.py", PROBE_PY);
    let probe_c = t.compile_c("probe_c", PROBE_C);
    for plugin in [t.join("probe.py"), probe_c] {
        let r = Run::of(
            t.run(&plugin)
                .args(["sql", &url, QUERY, "-j2", "-r", "r.yaml"]),
        )
        .ok()
        .no_panic();
        eqnice!(EXPECTED, r.stdout);
    }
    let r = Run::of(t.run("probe.py").args([
        "sql",
        &url,
        "select id, n from many order by n",
        "-r",
        "r.yaml",
    ]))
    .ok();
    assert_eq!(r.stdout.lines().count(), 4500);
    assert!(
        r.stdout.ends_with("r4500\t10\tid=r4500;n=4500\n"),
        "{}",
        &r.stdout[..200]
    );
    let r = Run::of(
        t.run("probe.py")
            .args(["sql", &url, "select * from nowhere"]),
    )
    .code(2)
    .stderr_has("the query does not run");
    assert!(!r.stderr.contains("secret"));
}
