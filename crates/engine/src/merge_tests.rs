//! The merge of shards' rows into input order, on shard files written by hand: rows
//! a rerun appended, entities without a row, repeats, strays, escaped IDs, rows
//! longer than a read.

use super::rows::READ;
use super::*;
use polyplug_runner::output::push_id;

/// A manifest of an IDs run in `shards` shards.
fn manifest(input: &Path, shards: u32, idsproc: Option<PathBuf>) -> Manifest {
    Manifest {
        run_id: "r".into(),
        shards,
        plugin: PathBuf::from("p.so"),
        plugin_id: "p".into(),
        plugin_version: "1".into(),
        plugin_sha256: String::new(),
        parameters: String::new(),
        mode: "ids".into(),
        input: input.display().to_string(),
        column: Some(1),
        idsproc,
        exclude: Vec::new(),
        given: None,
        records: None,
        query: None,
    }
}

/// The row of entity `id`, as a run writes it.
fn row(id: &str) -> String {
    let mut line = String::new();
    push_id(&mut line, id);
    line.push_str(&format!("\t{}\n", id.len()));
    line
}

/// Writes each shard's results (the rows of `ids`, in that order, each to its
/// shard's file) and merges them; gives the merged text and the strays.
fn merged(dir: &Path, input: &str, shard_rows: &[&str], shards: u32) -> (String, u64, u64) {
    let ids = dir.join("ids.txt");
    std::fs::write(&ids, input).expect("the IDs are written");
    let outputs: Vec<ShardOutputs> = (0..shards)
        .map(|i| ShardOutputs::of(dir, Shard::new(i.into(), shards.into()).expect("shard")))
        .collect();
    let mut files = vec![String::new(); shards as usize];
    for id in shard_rows {
        files[Shard::of(id, shards) as usize].push_str(&row(id));
    }
    for (o, text) in outputs.iter().zip(&files) {
        std::fs::create_dir_all(&o.dir).expect("the shard's folder");
        if !text.is_empty() {
            std::fs::write(&o.results, text).expect("the shard's rows");
        }
    }
    let out = dir.join("merged.tsv");
    let source = Source::Ids {
        path: ids,
        column: 1,
    };
    let m = manifest(&source_path(&source), shards, None);
    let (rows, strays) =
        write_rows(&m, &source, &outputs, &out, &mut |_| unreachable!()).expect("the merge");
    (std::fs::read_to_string(&out).expect("merged"), rows, strays)
}

fn source_path(source: &Source) -> PathBuf {
    match source {
        Source::Ids { path, .. } => path.clone(),
        _ => unreachable!(),
    }
}

#[test]
fn rows_come_in_input_order_each_entity_once() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let names: Vec<String> = (0..300).map(|i| format!("id_{i}")).collect();
    let mut input: String = names.iter().map(|n| format!("{n}\n")).collect();
    // Repeats (their row comes at the first appearance only; one with a second
    // field), a blank line, and an ID the shards never computed.
    input.push_str("id_5\n\nid_17\ttab\\back\nnever\nid_299\n");
    let mut rows: Vec<&str> = names.iter().map(String::as_str).collect();
    // id_3 and id_200 failed first and came last, from a rerun; id_7 has no row.
    rows.retain(|r| !matches!(*r, "id_3" | "id_200" | "id_7"));
    rows.extend(["id_200", "id_3", "stray"]);
    for shards in [1, 3, 8] {
        let (text, n, strays) = merged(dir.path(), &input, &rows, shards);
        let want: String = names
            .iter()
            .filter(|n| *n != "id_7")
            .map(|n| row(n))
            .collect();
        assert_eq!(text, want, "{shards} shards");
        assert_eq!(n, 299);
        assert_eq!(strays, 1, "the row of no input entity");
    }
}

#[test]
fn escaped_ids_and_rows_longer_than_a_read_are_matched() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let long = "L".repeat(3 * READ);
    let ids = ["a\\b", "plain", long.as_str(), "c\\d"];
    let input: String = ids.iter().map(|i| format!("{i}\n")).collect();
    // The rerun's order: the long one last.
    let (text, n, strays) = merged(dir.path(), &input, &["c\\d", "plain", "a\\b", &long], 2);
    let want: String = ids.iter().map(|i| row(i)).collect();
    assert!(text == want, "the rows in input order");
    assert_eq!((n, strays), (4, 0));
}

#[test]
fn a_last_row_without_its_line_break_is_read() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("rows.tsv");
    std::fs::write(&path, "a\t1\nb\t2").expect("written");
    let mut rows = ShardRows::open(&path).expect("opened");
    let mut out = Vec::new();
    assert!(rows.take_into("b", Shard::hash(b"b"), &mut out).expect("b"));
    assert!(rows.take_into("a", Shard::hash(b"a"), &mut out).expect("a"));
    assert!(!rows
        .take_into("a", Shard::hash(b"a"), &mut out)
        .expect("a again"));
    assert_eq!(String::from_utf8(out).expect("text"), "b\t2\na\t1\n");
    assert_eq!(rows.strays(), 0);
    let mut none = ShardRows::open(&dir.path().join("missing.tsv")).expect("no file");
    assert!(!none
        .take_into("a", Shard::hash(b"a"), &mut Vec::new())
        .expect("a"));
}

#[test]
fn the_run_reads_bad_input_lines_as_the_run_did() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let ids = dir.path().join("ids.txt");
    std::fs::write(&ids, b"a\n\xff\nb\n").expect("written");
    let source = Source::Ids {
        path: ids.clone(),
        column: 1,
    };
    let outputs = vec![ShardOutputs::of(
        dir.path(),
        Shard::new(0, 1).expect("shard"),
    )];
    let err = write_rows(
        &manifest(&ids, 1, None),
        &source,
        &outputs,
        &dir.path().join("out.tsv"),
        &mut |_| unreachable!(),
    )
    .expect_err("a line that is not UTF-8");
    assert!(err.to_string().contains("line 2"), "{err}");
}

#[test]
fn ids_read_on_another_thread_come_in_order_and_stop_at_either_side() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("ids.txt");
    // More batches than the hand-over holds: the reader waits for this side.
    let n = 10 * 8192 + 5;
    let mut text: String = (0..n).map(|i| format!("id_{i}\n")).collect();
    std::fs::write(&path, &text).expect("written");
    let mut seen = Vec::new();
    rows::each_hashed_id(&path, 1, |id, hash| {
        assert_eq!(hash, Shard::hash(id.as_bytes()), "{id}");
        seen.push(id.to_string());
        Ok(())
    })
    .expect("read");
    let want: Vec<String> = (0..n).map(|i| format!("id_{i}")).collect();
    assert_eq!(seen, want);
    // A bad line: every ID before it is given, then its error.
    text.push_str("a\tb\n\tx\n");
    std::fs::write(&path, &text).expect("written");
    let mut count = 0;
    let e = rows::each_hashed_id(&path, 1, |_, _| {
        count += 1;
        Ok(())
    })
    .expect_err("an empty first field");
    assert_eq!(count, n + 1);
    assert!(e.to_string().contains(&format!("line {}", n + 2)), "{e}");
    // This side's error stops the reading, and is the answer.
    let mut count = 0;
    let e = rows::each_hashed_id(&path, 1, |_, _| {
        count += 1;
        if count == 10_000 {
            return Err(EngineError::WriteResults("full".into()));
        }
        Ok(())
    })
    .expect_err("stopped");
    assert_eq!(count, 10_000);
    assert!(e.to_string().contains("full"), "{e}");
}

#[test]
fn a_repeated_id_gets_one_row_even_when_its_shard_has_two() {
    // A rerun with `-s` (a skip list other than the results) can append a second row
    // of an ID; the input repeats it (a run with --allow-duplicates).
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (text, n, strays) = merged(dir.path(), "a\nb\na\nc\n", &["a", "b", "c", "a"], 1);
    assert_eq!(text, format!("{}{}{}", row("a"), row("b"), row("c")));
    assert_eq!((n, strays), (3, 1), "the second row is a stray");
}
