//! Tests of the skip set, held and spilled.

use super::*;

#[test]
fn skip_sets_hold_ids_by_hash() {
    let mut s = SkipSet::default();
    assert!(s.is_empty() && !s.contains(""));
    for i in 0..100_000 {
        s.insert(&format!("ID{i}"));
    }
    s.insert("ID7"); // again
    s.extend(["é\tx", ""]);
    // Before freezing, lookups are right (slowly) and repeats are counted.
    assert!(s.contains("ID99999") && !s.contains("ID100000"));
    assert_eq!(s.len(), 100_003);
    s.freeze();
    assert_eq!(s.len(), 100_002);
    assert!((0..100_000).all(|i| s.contains(&format!("ID{i}"))));
    assert!(s.contains("é\tx") && s.contains(""));
    assert!(!(100_000..200_000).any(|i| s.contains(&format!("ID{i}"))));
    assert!(!s.contains("id7") && !s.contains("ID7 "));
}

#[test]
fn skip_sets_know_where_each_id_was_found() {
    let mut s = SkipSet::default();
    s.insert("listed");
    s.insert_from("stored", SkipOrigin::Store);
    s.insert_from("both", SkipOrigin::Store);
    s.insert("both");
    s.insert("both2");
    s.insert_from("both2", SkipOrigin::Store);
    s.insert_from("stored", SkipOrigin::Store); // again
    s.freeze();
    assert_eq!(s.len(), 4);
    assert_eq!(s.origin("listed"), Some(SkipOrigin::List));
    assert_eq!(s.origin("stored"), Some(SkipOrigin::Store));
    assert_eq!(s.origin("both"), Some(SkipOrigin::List));
    assert_eq!(s.origin("both2"), Some(SkipOrigin::List));
    assert_eq!(s.origin("other"), None);
}

#[test]
fn a_frozen_skip_set_answers_as_a_hash_set_does() {
    use std::collections::HashMap;
    // Sizes around the directory's steps, IDs from both origins, repeats, and
    // IDs added after a freeze.
    for n in [0usize, 1, 2, 3, 7, 8, 9, 1000, 4097, 50_000] {
        let mut s = SkipSet::default();
        let mut model: HashMap<String, u8> = HashMap::new();
        s.reserve(n as u64);
        for i in 0..n {
            let id = format!("e{}", (i * 7919) % (n + n / 3 + 1));
            let origin = if i % 3 == 0 {
                SkipOrigin::Store
            } else {
                SkipOrigin::List
            };
            s.insert_from(&id, origin);
            *model.entry(id).or_default() |= origin as u8;
        }
        s.freeze();
        s.insert_from("late", SkipOrigin::Store);
        model.insert("late".into(), 2);
        s.freeze();
        assert_eq!(s.len(), model.len(), "n = {n}");
        for i in 0..(2 * n + 10) {
            let id = format!("e{i}");
            let want = match model.get(&id) {
                None => None,
                Some(2) => Some(SkipOrigin::Store),
                Some(_) => Some(SkipOrigin::List),
            };
            assert_eq!(s.origin(&id), want, "n = {n}, {id}");
        }
        assert_eq!(s.origin("late"), Some(SkipOrigin::Store));
    }
}

/// An IDs file of `n` lines: ID `e{i}` on line `i + 1`, every 7th line blank,
/// every 5th with a second column, and a repeat of line 1 at the end.
fn ids_file(n: usize) -> (tempfile::NamedTempFile, Vec<Option<String>>) {
    use std::io::Write;
    let mut f = tempfile::NamedTempFile::new().expect("temporary file");
    let mut lines = Vec::new();
    for i in 0..n {
        let (text, id) = match i % 7 {
            6 => ("  ".to_string(), None),
            _ if i % 5 == 0 => (format!("e{i}\tx"), Some(format!("e{i}"))),
            _ => (format!("e{i}"), Some(format!("e{i}"))),
        };
        writeln!(f, "{text}").expect("write");
        lines.push(id);
    }
    writeln!(f, "e0").expect("write");
    lines.push(Some("e0".into()));
    f.flush().expect("flush");
    (f, lines)
}

#[test]
fn a_spilled_skip_set_marks_the_lines_a_held_one_would_skip() {
    use std::collections::HashMap;
    let (file, lines) = ids_file(30_000);
    let source = Source::Ids {
        path: file.path().to_path_buf(),
        column: 1,
    };
    for (held, shard) in [
        (1_000, None),
        // Parts of about 600 IDs, each joined in slices of at most 100.
        (100, None),
        (7_777, None),
        (100_000, None),
        (1_000, Some(Shard::new(1, 3).expect("shard"))),
    ] {
        let mut s = SkipSet::spilling_past(held);
        let mut model: HashMap<String, u8> = HashMap::new();
        // Done IDs in and out of the input, from both origins, some twice.
        s.reserve(40_000);
        for i in (0..45_000).filter(|i| i % 3 != 1) {
            let origin = if i % 4 == 0 {
                SkipOrigin::List
            } else {
                SkipOrigin::Store
            };
            let id = format!("e{i}");
            s.insert_from(&id, origin);
            *model.entry(id).or_default() |= origin as u8;
            if i % 11 == 0 {
                s.insert_from(&format!("e{i}"), SkipOrigin::List);
                *model.entry(format!("e{i}")).or_default() |= 1;
            }
        }
        let spilled = held < 40_000;
        assert_eq!(s.spilled.is_some(), spilled, "held {held}");
        s.mark_lines(&source, shard).expect("marked");
        assert_eq!(s.marks.is_some(), spilled);
        assert_eq!(s.len(), model.len(), "held {held}");
        let mut found = 0;
        for (k, id) in lines.iter().enumerate() {
            let Some(id) = id else { continue };
            if shard.is_some_and(|sh| !sh.contains(id)) {
                continue; // never asked: the run passes it over
            }
            let want = match model.get(id) {
                None => None,
                Some(2) => Some(SkipOrigin::Store),
                Some(_) => Some(SkipOrigin::List),
            };
            found += usize::from(want.is_some());
            assert_eq!(
                s.origin_at(id, k as u64 + 1),
                want,
                "held {held}, line {}",
                k + 1
            );
        }
        assert!(found > 5_000, "{found}");
    }
}

#[test]
fn a_spilled_skip_set_over_files_holds_its_ids_again() {
    let mut s = SkipSet::spilling_past(10);
    for i in 0..100 {
        s.insert_from(&format!("e{i}"), SkipOrigin::Store);
    }
    let files = Source::Files {
        pattern: "*.none".into(),
        exclude: Vec::new(),
        base: None,
    };
    s.mark_lines(&files, None).expect("held");
    assert!(s.marks.is_none() && s.spilled.is_none());
    assert_eq!(s.origin_at("e42", 0), Some(SkipOrigin::Store));
    assert_eq!(s.origin_at("e100", 0), None);
}

#[test]
fn a_spilled_skip_set_not_marked_reads_back_what_it_wrote() {
    let mut s = SkipSet::spilling_past(100);
    for i in 0..5_000 {
        s.insert_from(&format!("e{i}"), SkipOrigin::Store);
    }
    s.insert("e7");
    assert!(s.spilled.is_some());
    assert_eq!(s.len(), 5_001);
    s.freeze();
    assert_eq!(s.len(), 5_000);
    assert!((0..5_000).all(|i| s.contains(&format!("e{i}"))));
    assert_eq!(s.origin("e7"), Some(SkipOrigin::List));
    assert_eq!(s.origin("e8"), Some(SkipOrigin::Store));
    assert!(!s.contains("e5000"));
}

#[test]
fn marking_lines_stops_quietly_at_an_input_error_and_marks_what_came_before() {
    use std::io::Write;
    let mut f = tempfile::NamedTempFile::new().expect("temporary file");
    f.write_all(b"a\nb\n\xff\nc\n").expect("write");
    let source = Source::Ids {
        path: f.path().to_path_buf(),
        column: 1,
    };
    let mut s = SkipSet::spilling_past(1);
    for id in ["a", "b", "c"] {
        s.insert_from(id, SkipOrigin::Store);
    }
    s.mark_lines(&source, None).expect("marked");
    assert_eq!(s.origin_at("a", 1), Some(SkipOrigin::Store));
    assert_eq!(s.origin_at("b", 2), Some(SkipOrigin::Store));
    // After the bad line, nothing is marked: the run stops at line 3 itself.
    assert_eq!(s.origin_at("c", 4), None);
    // A missing input is the run's own error, given here first.
    let gone = Source::Ids {
        path: f.path().with_extension("gone"),
        column: 1,
    };
    let mut s = SkipSet::spilling_past(1);
    s.insert("a");
    s.insert("b");
    assert!(matches!(
        s.mark_lines(&gone, None),
        Err(InputError::OpenIds { .. })
    ));
}

#[test]
fn marks_are_refused_for_an_ids_file_changed_after_the_marking() {
    use std::io::Write;
    let (file, _) = ids_file(3_000);
    let source = Source::Ids {
        path: file.path().to_path_buf(),
        column: 1,
    };
    let marked = || {
        let mut s = SkipSet::spilling_past(10);
        (0..100).for_each(|i| s.insert_from(&format!("e{i}"), SkipOrigin::Store));
        s.mark_lines(&source, None).expect("marked");
        s
    };
    // Unchanged: the run opens it.
    assert!(Entities::open(&source, None, marked()).is_ok());
    // A line added (or the file replaced) after the marking: refused, by name.
    let s = marked();
    std::fs::OpenOptions::new()
        .append(true)
        .open(file.path())
        .and_then(|mut f| f.write_all(b"late\n"))
        .expect("append");
    match Entities::open(&source, None, s) {
        Err(InputError::IdsChanged { path }) => assert_eq!(path, file.path()),
        other => panic!("{:?}", other.err()),
    }
}
