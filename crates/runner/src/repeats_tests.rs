//! The repeated-ID check's parts: the scans of byte ranges, how far a scan read.

use super::*;

#[test]
fn a_scan_says_whether_it_read_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ids.txt");
    std::fs::write(&path, "a\nb\n\tbad\nc\n").expect("write ids");
    let mut seen = 0;
    assert_eq!(scan(&path, 1, 0..u64::MAX, |_, _| seen += 1), Reach::Whole);
    assert_eq!(
        seen, 2,
        "to the line the run refuses: as far as any run reads"
    );
    let nothing = |_: &str, _: u64| {};
    assert_eq!(
        scan(&dir.path().join("gone"), 1, 0..u64::MAX, nothing),
        Reach::CutShort
    );
    // A folder opens, but cannot be read.
    assert_eq!(scan(dir.path(), 1, 0..u64::MAX, nothing), Reach::CutShort);
    let (_, reach) = suspects_of_file(dir.path(), 1, &Key::new(None));
    assert_eq!(reach, Reach::CutShort);
    let (_, reach) = suspects_of_file(&path, 1, &Key::new(None));
    assert_eq!(reach, Reach::Whole);
}

#[test]
fn ranges_split_anywhere_give_each_line_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ids.txt");
    let text = "a\n\nbb\tx\r\n\n\nccc\n d \ne\u{e9}\nf";
    std::fs::write(&path, text).expect("write ids");
    let ids = |range: std::ops::Range<u64>| {
        let mut v = Vec::new();
        scan(&path, 1, range, |id, _| v.push(id.to_string()));
        v
    };
    let all = ids(0..u64::MAX);
    assert_eq!(all, ["a", "bb", "ccc", " d", "e\u{e9}", "f"]);
    let len = text.len() as u64;
    for k in 0..=len {
        for m in k..=len {
            let mut parts = ids(0..k);
            parts.extend(ids(k..m));
            parts.extend(ids(m..len));
            assert_eq!(parts, all, "split at {k} and {m}");
        }
    }
}

#[test]
fn repeats_across_the_threads_ranges_are_found() {
    // Larger than PARALLEL_BYTES: hashed by several threads; repeats within the
    // first range, across ranges, and within the last.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ids.txt");
    let mut text = String::new();
    for i in 0..300_000 {
        text.push_str(&format!("id{i}\n"));
    }
    text.push_str("id3\nid299998\nid150000\n");
    text.push_str("id4\nid4\n");
    std::fs::write(&path, &text).expect("write ids");
    assert!(text.len() as u64 > PARALLEL_BYTES);
    let source = Source::Ids { path, column: 1 };
    let r = find(&source, None, None).expect("read");
    assert_eq!(r.count, 4);
    let firsts: Vec<&str> = r.first.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(firsts, ["id3", "id4", "id150000", "id299998"]);
    assert_eq!(r.first[1].1, vec![5, 300_004, 300_005]);
    // A shard looks at its own IDs only: each repeat is found by its shard alone.
    let mut by_shards = Vec::new();
    for i in 0..3 {
        let shard = Shard::new(i, 3).expect("a shard");
        let r = find(&source, None, Some(shard)).expect("read");
        for (id, lines) in &r.first {
            assert!(shard.contains(id), "{id} is not of shard {shard}");
            by_shards.push((id.clone(), lines.clone()));
        }
    }
    by_shards.sort();
    let mut all = r.first.clone();
    all.sort();
    assert_eq!(by_shards, all);
}

#[test]
fn every_repeat_is_found_and_nothing_else() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ids.txt");
    // Longer than the scan's buffer (lines cut by its end), blank lines, CRLF, a
    // second column, no final newline.
    let mut text = String::from("\n");
    for i in 0..200_000 {
        text.push_str(&format!("id{i}\tx\r\n"));
    }
    text.push_str("id7\nid199999\n\nid7");
    std::fs::write(&path, &text).expect("write ids");
    let source = Source::Ids { path, column: 1 };
    let r = find(&source, None, None).expect("read");
    assert_eq!(r.count, 2);
    assert_eq!(
        r.first,
        vec![
            ("id7".to_string(), vec![9, 200_002, 200_005]),
            ("id199999".to_string(), vec![200_001, 200_003]),
        ]
    );
    // The same lines as the run reads them.
    let mut e = Entities::open(&source, None, SkipSet::default()).expect("open");
    let mut lines = Vec::new();
    while let Some(Ok(x)) = e.next() {
        if x.id == "id7" {
            lines.push(e.line());
        }
    }
    assert_eq!(lines, vec![9, 200_002, 200_005]);
    let r = find(
        &Source::Ids {
            path: dir.path().join("ids.txt"),
            column: 2,
        },
        None,
        None,
    )
    .expect("read");
    assert_eq!(
        r.count, 1,
        "the second column: x (and the lines without one end the scan)"
    );
}
