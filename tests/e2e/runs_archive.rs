//! `runs export <run> <file>` and `runs import <file>`: one run handed over whole —
//! into a fresh SQLite store and a fresh PostgreSQL database it gives the same
//! `query`, `runs show`, `runs list`, attribute definitions, results, log and report
//! as the store it came from, and it never loads twice.

use polyplug_e2e::{eqnice, Run, TestDir};

/// A Python plugin with a parameter, logs, an entity without a result and one that
/// fails.
const PLUGIN: &str = "ID = 'lenp'\nVERSION = '1'\nINPUT = 'a word'\nOUTPUT = ['n', 'half']\n\
PARAMETERS = [('k', 'int', '2', 'a factor')]\n\n\
def initialize(k=2, **_):\n    return {'k': k}\n\n\
def compute(e, state=None, **_):\n    if e == 'bad':\n        raise ValueError('bad entity')\n    \
if e == 'none':\n        return [], ['nothing for none']\n    \
return [len(e) * state['k'], len(e) / 2], ['saw ' + e, 'twice ' + e]\n";

const DEFS: &str = "n:\n  datatype: Integer\n  definition: length times k\n\
half:\n  datatype: Float\n  definition: half the length\n";

/// The output of `polyplug <args> --store <store>`, which must succeed.
fn out(t: &TestDir, store: &str, args: &[&str]) -> String {
    Run::of(t.cmd().args(args).args(["--store", store]))
        .ok()
        .stdout
}

/// A store holding one run of [`PLUGIN`] (with its results file and log); its UUID.
fn computed(t: &TestDir) -> String {
    t.write("p.py", PLUGIN);
    t.write("defs.yaml", DEFS);
    t.write("params.yaml", "k: 3\n");
    t.write("ids.txt", "abc\nbad\nnone\nxy\n");
    Run::of(t.run("p.py").args([
        "ids",
        "ids.txt",
        "--store",
        "s.db",
        "--params",
        "params.yaml",
        "--defs",
        "defs.yaml",
        "--name",
        "first",
        "--tag",
        "lab=x",
        "-o",
        "run.tsv",
        "-l",
        "run.log",
    ]))
    .code(1);
    let list = out(t, "s.db", &["runs", "list"]);
    let row = list
        .lines()
        .nth(1)
        .unwrap_or_else(|| panic!("no run in {list}"));
    row.split('\t').next().unwrap_or_default().to_string()
}

#[test]
fn an_exported_run_loads_into_fresh_stores_on_both_backends_as_it_was() {
    let t = TestDir::new();
    let uuid = computed(&t);
    Run::of(
        t.cmd()
            .args(["runs", "export", &uuid[..8], "run.ppa", "--store", "s.db"]),
    )
    .ok()
    .stderr_has(&format!(
        "exported run {uuid} (lenp 1, 4 entities) from s.db to run.ppa"
    ));
    let views: [&[&str]; 4] = [
        &["query", "--history"],
        &["runs", "show", &uuid],
        &["runs", "list"],
        &["attrs", "list"],
    ];
    let source: Vec<String> = views.iter().map(|v| out(&t, "s.db", v)).collect();
    assert!(source[0].contains("\nabc\tn\t9\t"), "{}", source[0]);
    assert!(source[1].contains("tags: lab=x\n"), "{}", source[1]);
    assert!(source[3].contains("length times k"), "{}", source[3]);
    // The archive is a store too.
    eqnice!(source[0], out(&t, "run.ppa", &["query", "--history"]));
    let before = std::fs::read(t.join("run.ppa")).unwrap();
    for store in ["b.db".to_string(), crate::store::pg_database()] {
        Run::of(
            t.cmd()
                .args(["runs", "import", "run.ppa", "--store", &store]),
        )
        .ok()
        .stderr_has(&format!(
            "imported run {uuid} (lenp 1, 4 entities) from run.ppa into"
        ));
        for (view, expected) in views.iter().zip(&source) {
            eqnice!(*expected, out(&t, &store, view));
        }
        // Results, logs and report, as the run wrote them.
        out(
            &t,
            &store,
            &[
                "export", &uuid, "-o", "e.tsv", "-l", "e.log", "-r", "e.yaml",
            ],
        );
        eqnice!(t.read("run.tsv"), t.read("e.tsv"));
        eqnice!(t.read("run.log"), t.read("e.log"));
        out(
            &t,
            "s.db",
            &["export", &uuid, "-o", "s.tsv", "-r", "s.yaml"],
        );
        eqnice!(t.read("s.yaml"), t.read("e.yaml"));
        // Never twice.
        Run::of(
            t.cmd()
                .args(["runs", "import", "run.ppa", "--store", &store]),
        )
        .code(2)
        .no_panic()
        .stderr_has(&format!(
            "run {uuid} is in {store} already (imported before, or computed there); nothing \
                 was imported"
        ));
        eqnice!(source[0], out(&t, &store, &["query", "--history"]));
    }
    // Importing never writes the archive.
    assert_eq!(before, std::fs::read(t.join("run.ppa")).unwrap());
}

#[test]
fn archive_errors_say_what_to_do() {
    let t = TestDir::new();
    let uuid = computed(&t);
    t.write("taken.ppa", "x");
    Run::of(
        t.cmd()
            .args(["runs", "export", &uuid, "taken.ppa", "--store", "s.db"]),
    )
    .code(2)
    .stderr_has("taken.ppa: exists already; give a new file name");
    eqnice!("x", t.read("taken.ppa"));
    Run::of(
        t.cmd()
            .args(["runs", "export", "ffffffff", "x.ppa", "--store", "s.db"]),
    )
    .code(2)
    .no_panic()
    .stderr_has("no computation with UUID ffffffff; see polyplug runs list");
    assert!(!t.join("x.ppa").exists());
    let import = |file: &str| Run::of(t.cmd().args(["runs", "import", file, "--store", "c.db"]));
    import("missing.ppa")
        .code(2)
        .stderr_has("missing.ppa: no such file");
    import("taken.ppa").code(2).stderr_has(
        "taken.ppa: not a polyplug run archive (`polyplug runs export <run> <file>` writes them)",
    );
    import("s.db")
        .code(2)
        .stderr_has("s.db: a polyplug store, not a run archive");
    // A store whose plugin lenp 1 is another file: nothing is imported.
    Run::of(
        t.cmd()
            .args(["runs", "export", &uuid, "run.ppa", "--store", "s.db"]),
    )
    .ok();
    t.write("p.py", PLUGIN.replace("'twice '", "'two times '"));
    Run::of(t.run("p.py").args(["ids", "ids.txt", "--store", "c.db"])).code(1);
    let before = out(&t, "c.db", &["runs", "list"]);
    import("run.ppa")
        .code(2)
        .no_panic()
        .stderr_has("the plugin changed without a VERSION change");
    eqnice!(before, out(&t, "c.db", &["runs", "list"]));
}
