//! `polyplug merge` imports the shards' own stores (`DIR/shard-I/store.db`) into the
//! user's store, provenance intact, on SQLite and PostgreSQL; twice imports nothing
//! new; a plugin that changed without a VERSION change is refused.

use polyplug_e2e::{Run, TestDir};

const PLUGIN: &str = "ID = 'trivial_py'\nVERSION = '1.0'\nINPUT = 'an ID'\n\
                      OUTPUT = ['length', 'upper']\n\n\
                      def compute(entity, **kwargs):\n    return [len(entity), entity.upper()], []\n";

/// A run folder of 3 shards over 300 IDs, each shard with its own store (no store
/// given), shard 1 run twice (a killed attempt is its own computation).
fn sharded(t: &TestDir) {
    t.write(
        "ids.txt",
        (0..300).map(|i| format!("s{i:03}\n")).collect::<String>(),
    );
    t.write("trivial.py", PLUGIN);
    for i in [0, 1, 2, 1] {
        Run::of(
            t.run("trivial.py")
                .args([
                    "ids",
                    "ids.txt",
                    "-j1",
                    "--run-dir",
                    "rd",
                    "--run-id",
                    "survey-7",
                ])
                .args(["--shard", &format!("{i}/3")])
                .env_remove("POLYPLUG_STORE"),
        )
        .ok();
    }
    assert!(t.join("rd/shard-2/store.db").is_file());
}

/// `polyplug query` of a store as sorted `entity attribute value` lines, and the
/// computations of `runs list` as `shard run_id` lines.
fn contents(t: &TestDir, store: &str) -> (Vec<String>, Vec<String>) {
    let q = Run::of(t.cmd().args(["query", "--store", store]))
        .ok()
        .stdout;
    let mut values: Vec<String> = q
        .lines()
        .skip(1)
        .map(|l| l.split('\t').take(3).collect::<Vec<_>>().join(" "))
        .collect();
    values.sort();
    let list = Run::of(t.cmd().args(["runs", "list", "--store", store]))
        .ok()
        .stdout;
    let mut lines = list.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (shard, run) = (col("shard"), col("run_id"));
    let mut runs: Vec<String> = lines
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            format!("{} {}", f[shard], f[run])
        })
        .collect();
    runs.sort();
    (values, runs)
}

fn merges_into(store: &str) {
    let t = TestDir::new();
    sharded(&t);
    // The store has another plugin's attribute first: its attribute ids differ from
    // the shards' (the blocks are re-encoded on import).
    t.write("other.py", "ID = 'other'\nVERSION = '1'\nINPUT = 'x'\nOUTPUT = ['other_attr']\n\ndef compute(e, **kw):\n    return [1], []\n");
    t.write("one.txt", "x\n");
    Run::of(
        t.run("other.py")
            .args(["ids", "one.txt", "--store", store, "-o", "o.tsv"]),
    )
    .ok();
    Run::of(t.cmd().args(["merge", "rd", "--store", store]))
        .ok()
        .stderr_has(&format!(
            "imported 4 computations of the shards (300 entities) into store {}",
            if store.starts_with("postgres") {
                "postgres://"
            } else {
                store
            }
        ));
    let (values, runs) = contents(&t, store);
    assert_eq!(values.len(), 2 * 300 + 1, "{values:?}");
    assert!(values.contains(&"s042 length 4".to_string()), "{values:?}");
    assert!(
        values.contains(&"s042 upper S042".to_string()),
        "{values:?}"
    );
    assert!(values.contains(&"x other_attr 1".to_string()), "{values:?}");
    assert_eq!(
        runs,
        [
            " ",
            "0/3 survey-7",
            "1/3 survey-7",
            "1/3 survey-7",
            "2/3 survey-7"
        ],
        "{runs:?}"
    );
    // Merged again: nothing new.
    Run::of(t.cmd().args(["merge", "rd", "--store", store]))
        .ok()
        .stderr_has("imported 0 computations of the shards (0 entities)")
        .stderr_has("; 4 it had already");
    assert_eq!(contents(&t, store), (values, runs));
}

#[test]
fn a_merge_imports_the_shard_stores_into_sqlite() {
    merges_into("user.db");
}

#[test]
fn a_merge_imports_the_shard_stores_into_postgresql() {
    merges_into(&crate::store::pg_database());
}

#[test]
fn a_merge_refuses_a_plugin_that_changed_without_a_version_change() {
    let t = TestDir::new();
    sharded(&t);
    // The same ID and VERSION, other code, already in the user's store.
    t.write(
        "trivial.py",
        PLUGIN.replace("entity.upper()", "entity.lower()"),
    );
    Run::of(
        t.run("trivial.py")
            .args(["ids", "ids.txt", "--store", "user.db", "-o", "u.tsv"]),
    )
    .ok();
    Run::of(t.cmd().args(["merge", "rd", "--store", "user.db"]))
        .code(2)
        .stderr_has(
            "rd/shard-0/store.db: cannot import it: plugin trivial_py version 1.0 has sha256",
        )
        .stderr_has("the plugin changed without a VERSION change");
    let (values, _) = contents(&t, "user.db");
    assert_eq!(
        values.len(),
        600,
        "only the user's own run: {}",
        values.len()
    );
    let plain = Run::of(t.cmd().args(["merge", "rd", "--no-store"])).ok();
    assert!(!plain.stderr.contains("imported"), "{}", plain.stderr);
}
