//! Byte-balanced shards: together exactly the records, each once, contiguous.

use super::*;
use crate::byte_shard;

/// Checks that the shards of every count from 1 to 7 split `entries()` in order.
fn check_shards(catalog: &Catalog) {
    let all = entries(catalog);
    for count in 1..=7u32 {
        let mut joined = Vec::new();
        for index in 0..count {
            let shard: Vec<Entry> = catalog
                .shard_entries(index, count)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            for e in &shard {
                assert_eq!(catalog.shard_of(e.file, e.offset, count), index);
            }
            joined.extend(shard);
        }
        // In order and complete: the shards are contiguous runs of the whole.
        assert_eq!(joined, all, "count {count}");
    }
    assert!(matches!(
        catalog.shard_entries(3, 3),
        Err(RecordsError::NoSuchShard { index: 3, count: 3 })
    ));
}

#[test]
fn shards_of_several_files_cover_every_record_once() {
    let dirs = Dirs::new();
    let mut big = Vec::new();
    for i in 0..30_000 {
        big.extend_from_slice(format!("line {i}\n").as_bytes());
        if i % 7 == 0 {
            big.push(b'\n');
        }
    }
    let a = dirs.file("a.txt", b"x\ny\n");
    let empty = dirs.file("e.txt", b"");
    let b = dirs.file("b.txt", &big);
    let c = dirs.file("c.txt", b"\n\nz\n");
    let src = source(RecordFormat::Lines, &[&a, &empty, &b, &c], None);
    let (catalog, _) = open(&src, &dirs);
    assert_eq!(entries(&catalog).len(), 30_003);
    assert_eq!(catalog.total_bytes(), 4 + big.len() as u64 + 4);
    check_shards(&catalog);
}

#[test]
fn shards_of_a_fasta_read_through_its_fai() {
    let dirs = Dirs::new();
    let mut data = Vec::new();
    for i in 0..500 {
        data.extend_from_slice(format!(">s{i}\n").as_bytes());
        for _ in 0..i % 5 + 1 {
            data.extend_from_slice(b"ACGTACGTAC\n");
        }
    }
    let path = dirs.file("g.fa", &data);
    let (catalog, notes) = open(&source(RecordFormat::Fasta, &[&path], None), &dirs);
    assert!(notes[0].ends_with(".fai"), "{notes:?}");
    check_shards(&catalog);
}

#[test]
fn a_shard_holds_records_by_where_they_start() {
    assert_eq!(byte_shard(0, 100, 4), 0);
    assert_eq!(byte_shard(24, 100, 4), 0);
    assert_eq!(byte_shard(25, 100, 4), 1);
    assert_eq!(byte_shard(99, 100, 4), 3);
    let dirs = Dirs::new();
    // Two records of 10 bytes and one of 80: two shards split at byte 50.
    let path = dirs.file(
        "x.txt",
        format!("{}\n{}\n{}\n", "a".repeat(9), "b".repeat(9), "c".repeat(79)).as_bytes(),
    );
    let (catalog, _) = open(&source(RecordFormat::Lines, &[&path], None), &dirs);
    let shard0: Vec<Entry> = catalog
        .shard_entries(0, 2)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let shard1: Vec<Entry> = catalog
        .shard_entries(1, 2)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!((shard0.len(), shard1.len()), (3, 0));
    let shard2: Vec<Entry> = catalog
        .shard_entries(2, 3)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(shard2.is_empty());
    let shard1: Vec<Entry> = catalog
        .shard_entries(1, 10)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(shard1.iter().map(|e| e.offset).collect::<Vec<_>>(), [10]);
}
