//! Records mode: any bytes as a file of each format, indexed and read as a run does.
//! Nothing panics; every record the index lists reads back (or fails alone, with a
//! message); the shards of any count give exactly the records, once each, in order; a
//! second open reuses the index and lists the same records; and a damaged index
//! (any bytes as the `.ppi` of a good file) is never believed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyplug_records::{Catalog, Entry, Reader, RecordFormat, RecordSource};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, text)) = data.split_first() else {
        return;
    };
    let dir = tempfile::tempdir_in(shm()).expect("a temporary folder");
    if sel & 0x80 != 0 {
        damaged_index(dir.path(), text);
        return;
    }
    let format = RecordFormat::ALL[usize::from(sel) % RecordFormat::ALL.len()];
    let path = dir.path().join(format!("data.{}", format.name()));
    std::fs::write(&path, text).expect("write the data");
    let source = RecordSource {
        format,
        files: vec![path],
        id_column: None,
    };
    let cache = dir.path().join("cache");
    let Ok(catalog) = Catalog::open(&source, &cache, &mut |_| {}) else {
        return;
    };
    let entries = all(&catalog);
    let mut reader = Reader::open(&source);
    for e in &entries {
        if let Err(why) = reader.read(&e.key(), &e.name) {
            assert!(!why.is_empty(), "a record failed without a reason");
        }
    }
    for count in 1..=3 {
        let mut parts = Vec::new();
        for index in 0..count {
            let shard = catalog.shard_entries(index, count).expect("a shard");
            parts.extend(shard.map_while(Result::ok));
        }
        assert_eq!(parts, entries, "the shards of {count} are not the records");
    }
    let again = Catalog::open(&source, &cache, &mut |n| {
        assert!(!n.contains("indexed"), "a second open did not reuse the index: {n}")
    })
    .expect("a second open");
    assert_eq!(all(&again), entries, "the reused index lists other records");
});

fn all(catalog: &Catalog) -> Vec<Entry> {
    match catalog.entries() {
        Ok(e) => e.map_while(Result::ok).collect(),
        Err(_) => Vec::new(),
    }
}

/// `bytes` as the index of a good CSV file: it is rebuilt, never believed.
fn damaged_index(dir: &Path, bytes: &[u8]) {
    let path = dir.join("t.csv");
    std::fs::write(&path, "id,v\na,1\nb,2\nc,3\n").expect("write the data");
    std::fs::write(dir.join("t.csv.ppi"), bytes).expect("write the index");
    let source = RecordSource {
        format: RecordFormat::Csv,
        files: vec![path],
        id_column: None,
    };
    let catalog = Catalog::open(&source, &dir.join("cache"), &mut |_| {}).expect("opened");
    let names: Vec<String> = all(&catalog).into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["a", "b", "c"]);
}

fn shm() -> &'static str {
    if Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    }
}
