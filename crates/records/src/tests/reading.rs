//! The reader gives each record the same whatever the order records are read in
//! (in file order it reads windows of many records at once).

use std::fs;

use polyplug_core::RecordRef;

use super::gzip::{bgzf, gzip};
use super::*;

/// A FASTA file of records from a few bytes to several windows long.
fn fasta() -> Vec<u8> {
    let mut rng = Rng(0xdead_beef_1234_5678);
    let mut data = Vec::new();
    for i in 0..300 {
        if rng.below(5) == 0 {
            data.push(b'\n');
        }
        data.extend_from_slice(format!(">r{i} d{i}\n").as_bytes());
        let length = match rng.below(80) {
            0 => 70_000 + rng.below(80_000),
            1..=5 => rng.below(5_000),
            _ => rng.below(300),
        };
        for j in 0..length {
            data.push(b"ACGT"[rng.below(4) as usize]);
            if (j + 1) % 60 == 0 || j + 1 == length {
                data.push(b'\n');
            }
        }
    }
    data
}

/// Reads the records of `keys` in `order` with one reader.
fn read_in(
    source: &RecordSource,
    keys: &[(RecordRef, String)],
    order: impl IntoIterator<Item = usize>,
) -> Vec<(usize, super::Read)> {
    let mut reader = Reader::open(source);
    order
        .into_iter()
        .map(|i| {
            let (key, name) = &keys[i];
            let read = reader.read(key, name).map(|r| {
                (
                    String::from_utf8_lossy(r.bytes).into_owned(),
                    r.fields.to_vec(),
                )
            });
            (i, read)
        })
        .collect()
}

#[test]
fn records_read_in_any_order_are_read_alike() {
    let dirs = Dirs::new();
    let data = fasta();
    let plain = dirs.file("w.fa", &data);
    let blocked = dirs.file("w.fa.bgz", &bgzf(&data));
    let zipped = dirs.file("w.fa.gz", &gzip(&data));
    let src = source(RecordFormat::Fasta, &[&plain], None);
    let (catalog, _) = open(&src, &dirs);
    let plain_keys: Vec<(RecordRef, String)> = entries(&catalog)
        .into_iter()
        .map(|e| (e.key(), e.name))
        .collect();
    let n = plain_keys.len();
    assert_eq!(n, 300);
    // The same records in the three files (the same uncompressed offsets).
    let all = source(RecordFormat::Fasta, &[&plain, &blocked, &zipped], None);
    let mut keys = Vec::new();
    for file in 0..3 {
        for (key, name) in &plain_keys {
            let RecordRef::InFile { offset, len, .. } = key else {
                panic!("held")
            };
            let key = RecordRef::InFile {
                file,
                offset: *offset,
                len: *len,
            };
            keys.push((key, name.clone()));
        }
    }
    // Each record of the plain file alone, by a reader of its own: what every order
    // must give, in every file.
    let alone: Vec<_> = (0..n)
        .map(|i| read_in(&all, &keys, [i]).remove(0).1)
        .collect();
    assert!(alone.iter().all(Result::is_ok));
    let longest = alone.iter().flatten().map(|r| r.0.len()).max();
    assert!(longest > Some(2 * 64 * 1024), "{longest:?}");
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut shuffled: Vec<usize> = (0..keys.len()).collect();
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let orders: Vec<Vec<usize>> = vec![
        (0..keys.len()).collect(),
        (0..keys.len()).rev().collect(),
        (0..keys.len()).step_by(3).collect(),
        (0..keys.len()).step_by(37).collect(),
        // The files taking turns, and records read twice.
        (0..n).flat_map(|i| [i, n + i, 2 * n + i, i]).collect(),
        shuffled,
    ];
    for order in orders {
        for (i, read) in read_in(&all, &keys, order) {
            assert_eq!(read, alone[i % n], "record {i}");
        }
    }
}

#[test]
fn a_window_read_before_the_file_was_cut_short_is_not_read_past() {
    let dirs = Dirs::new();
    let mut data = Vec::new();
    for i in 0..20_000 {
        data.extend_from_slice(format!(">r{i}\nACGTACGT\n").as_bytes());
    }
    let path = dirs.file("cut.fa", &data);
    let src = source(RecordFormat::Fasta, &[&path], None);
    let (catalog, _) = open(&src, &dirs);
    let all = entries(&catalog);
    let mut reader = Reader::open(&src);
    assert!(reader.read(&all[0].key(), &all[0].name).is_ok());
    assert!(reader.read(&all[1].key(), &all[1].name).is_ok());
    fs::write(&path, &data[..data.len() / 2]).unwrap();
    // Records past the window's end and past the new end of the file: changed.
    for i in [19_999, 15_000, 12_000] {
        let e = &all[i];
        let err = reader.read(&e.key(), &e.name).unwrap_err();
        assert!(err.contains(&format!("is not 'r{i}' any more")), "{err}");
    }
}
