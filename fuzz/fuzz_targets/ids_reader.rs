//! The IDs/TSV reader: an IDs file (any bytes, any column) read as a run reads it,
//! by the repeated-ID check and as a skip list, and the ID escaping of results files.
//! The repeat check must agree exactly with what the reader gives; every escaped ID
//! must read back as itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyplug_runner::input::{read_id_list, Entities, SkipSet, Source};
use polyplug_runner::output::{push_id, unescape_id};
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Some((&col, text)) = data.split_first() else {
        return;
    };
    let dir = tempfile::tempdir_in(shm()).expect("a temporary folder");
    let path = dir.path().join("ids.txt");
    std::fs::write(&path, text).expect("write the IDs");
    let source = Source::Ids {
        path: path.clone(),
        column: usize::from(col % 4),
    };

    let ids: Vec<String> = match Entities::open(&source, None, SkipSet::default()) {
        Ok(entities) => entities.map_while(Result::ok).map(|e| e.id).collect(),
        Err(_) => return,
    };
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in &ids {
        assert!(!id.is_empty(), "an empty ID was given out");
        assert!(
            !id.contains('\n'),
            "an ID with a newline was given out: {id:?}"
        );
        *counts.entry(id).or_default() += 1;
        let mut line = String::new();
        push_id(&mut line, id);
        assert!(
            !line.contains(['\t', '\n', '\r']),
            "escaped ID {line:?} breaks a row"
        );
        assert_eq!(
            unescape_id(&line),
            id.as_str(),
            "escaped ID does not read back"
        );
    }
    let repeated = counts.values().filter(|c| **c > 1).count();
    let found = polyplug_runner::repeats::find(&source, None, None).expect("the repeat check");
    assert_eq!(found.count, repeated, "repeat check and reader disagree");

    // The same bytes as a skip list (a results file is its own skip list).
    let mut n = 0usize;
    read_id_list(&path, |id| {
        assert!(!id.is_empty());
        n += 1;
    })
    .expect("a readable skip list");
});

/// Temporary files in memory when the machine has /dev/shm.
fn shm() -> &'static str {
    if std::path::Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    }
}
