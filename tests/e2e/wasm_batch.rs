//! WebAssembly batches in one call (`polyplug_compute_batch`, guest ABI): the host's
//! side of the protocol, and faults in the middle of a batch, which must cost their
//! entity only, as they do one call per entity.

use crate::wasm::wasm;
use polyplug_e2e::{eqnice, Run, TestDir};

/// Runs the fixture `name` over `ids` on one worker (so that the batches grow: 1, 2,
/// 4, 8, … entities), with `extra` options; the run and its log.
fn run(t: &TestDir, name: &str, ids: &str, extra: &[&str]) -> (Run, String) {
    t.write("ids.txt", ids);
    let log = t.join("log.tsv");
    let mut c = t.cmd();
    c.env("POLYPLUG_CACHE_DIR", t.join("cache"))
        .arg("run")
        .arg(wasm(name))
        .args(["ids", "ids.txt", "-j", "1", "-l"])
        .arg(&log)
        .args(extra);
    let r = Run::of(&mut c).no_panic();
    (r, std::fs::read_to_string(&log).unwrap_or_default())
}

#[test]
fn a_batch_in_one_call_holds_the_guest_to_the_protocol() {
    let t = TestDir::new();
    let ids = "a\nb\nfail\nc\nearly\nd\nopen\ne\ntwice\nf\ndouble\ng\n";
    let (r, logs) = run(&t, "batch_misuse", ids, &[]);
    let r = r.code(1).stderr_has("10 computed, 2 failed");
    // 1000 + n: every entity went through the batch export. A guest that returns
    // early is called again for the rest; one that returns during an entity ends it
    // (status 0); a trap costs the instance (the numbers restart), and fails the
    // entity being computed, if any.
    eqnice!(
        "a\t1001\nb\t1002\nc\t1003\nearly\t1004\nd\t1005\nopen\t-1\ne\t1006\nf\t1001\n\
         double\t1002\ng\t1001\n",
        r.stdout
    );
    assert!(logs.contains("fail\terror: failed as asked"), "{logs}");
    assert!(
        logs.contains(
            "twice\terror: the plugin failed: next_entity: the entity before was not ended \
             (end_entity)"
        ),
        "{logs}"
    );
    assert!(!logs.contains("double\terror"), "{logs}");
}

#[test]
fn faults_in_the_middle_of_a_batch_cost_their_entity_only() {
    let t = TestDir::new();
    // Batches of 1, 2, 4, 8 and 16: the trap is the 2nd entity of the 4th batch, the
    // misuse (nest) and the endless loop fall inside the 5th.
    let ids = "a0\na1\na2\na3\na4\na5\na6\na7\ntrap\nb0\nb1\nb2\nb3\nb4\nb5\n\
               c0\nc1\nnest\nc2\nc3\nc4\nloop\nd0\nd1\n";
    let (r, logs) = run(&t, "misbehave", ids, &["--timeout", "1"]);
    let r = r.code(1).stderr_has("3 failed (see the log)");
    // Each instance numbers its entities: a trap or a timeout costs the instance (the
    // rest of the batch goes to a fresh one, initialized anew), a misuse does not.
    eqnice!(
        "a0\t1\na1\t2\na2\t3\na3\t4\na4\t5\na5\t6\na6\t7\na7\t8\n\
         b0\t1\nb1\t2\nb2\t3\nb3\t4\nb4\t5\nb5\t6\n\
         c0\t7\nc1\t8\nc2\t10\nc3\t11\nc4\t12\nd0\t1\nd1\t2\n",
        r.stdout
    );
    for (id, why) in [
        (
            "trap",
            "the plugin trapped: wasm `unreachable` instruction executed",
        ),
        ("nest", "begin_list: lists nested more than 64 deep"),
        ("loop", "timed out after 1 s (--timeout)"),
    ] {
        assert!(
            logs.contains(&format!("{id}\terror: {why}")),
            "{id}: {logs}"
        );
    }
}

#[test]
fn the_memory_cap_and_fuel_hold_for_each_entity_of_a_batch() {
    let t = TestDir::new();
    // hog and loop are the 2nd entity of the 4th batch (1, 2, 4, 8, …).
    let ids = "a0\na1\na2\na3\na4\na5\na6\na7\nhog\nb0\nb1\nb2\nb3\nb4\nb5\n";
    let (r, logs) = run(
        &t,
        "misbehave",
        ids,
        &["--wasm-memory", "16", "--timeout", "30"],
    );
    let r = r.code(1).stderr_has("1 failed (see the log)");
    eqnice!(
        "a0\t1\na1\t2\na2\t3\na3\t4\na4\t5\na5\t6\na6\t7\na7\t8\n\
         b0\t1\nb1\t2\nb2\t3\nb3\t4\nb4\t5\nb5\t6\n",
        r.stdout
    );
    assert!(
        logs.contains(
            "hog\terror: the plugin reached its memory limit of 16 MiB (raise it with \
             --wasm-memory MIB)"
        ),
        "{logs}"
    );
    // Each entity takes a few hundred units of fuel, initialize and finalize under
    // 3,000: a batch of 32 takes more than 3,000 together, and goes through only
    // because every entity starts with the whole allowance.
    let mut ids = ids.replace("hog", "loop");
    let mut rows = String::from(
        "a0\t1\na1\t2\na2\t3\na3\t4\na4\t5\na5\t6\na6\t7\na7\t8\n\
         b0\t1\nb1\t2\nb2\t3\nb3\t4\nb4\t5\nb5\t6\n",
    );
    for i in 0..48 {
        ids.push_str(&format!("c{i}\n"));
        rows.push_str(&format!("c{i}\t{}\n", i + 7));
    }
    let (r, logs) = run(&t, "misbehave", &ids, &["--fuel", "3000"]);
    let r = r.code(1).stderr_has("1 failed (see the log)");
    eqnice!(rows, r.stdout);
    assert!(
        logs.contains("loop\terror: ran out of fuel after 3000 units (--fuel)"),
        "{logs}"
    );
}
