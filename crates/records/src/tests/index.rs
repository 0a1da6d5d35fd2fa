//! The indexes: reuse, invalidation, where they go, and the `.fai` against samtools.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::*;

fn mtime(path: &Path) -> std::time::SystemTime {
    fs::metadata(path).unwrap().modified().unwrap()
}

fn names(catalog: &Catalog) -> Vec<String> {
    entries(catalog).into_iter().map(|e| e.name).collect()
}

#[test]
fn an_index_is_reused_while_the_file_is_unchanged() {
    let dirs = Dirs::new();
    let cases = [
        (RecordFormat::Fasta, "a.fa", &b">a\nAC\n>b\nG\n"[..], "fai"),
        (RecordFormat::Fasta, "u.fa", b">a\nAC\nACG\n", "ppi"),
        (RecordFormat::Csv, "t.csv", b"id\nx\ny\n", "ppi"),
        (RecordFormat::Fastq, "r.fq", b"@r\nA\n+\nI\n", "ppi"),
    ];
    for (format, name, data, ext) in cases {
        let path = dirs.file(name, data);
        let src = source(format, &[&path], None);
        let (first, notes) = open(&src, &dirs);
        assert_eq!(notes.len(), 1, "{notes:?}");
        let index = path.with_extension(format!(
            "{}.{ext}",
            path.extension().unwrap().to_string_lossy()
        ));
        assert_eq!(first.index_paths(), [Some(index.clone())]);
        let made = mtime(&index);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (second, notes) = open(&src, &dirs);
        assert!(notes.is_empty(), "{name}: {notes:?}");
        assert_eq!(mtime(&index), made);
        assert_eq!(entries(&first), entries(&second));
    }
}

#[test]
fn appending_to_a_file_rebuilds_its_index() {
    let dirs = Dirs::new();
    for (format, name, data, more) in [
        (
            RecordFormat::Fasta,
            "a.fa",
            &b">a\nACGT\nAC\n"[..],
            &b">b\nGG\n"[..],
        ),
        (RecordFormat::Lines, "l.txt", b"one\ntwo\n", b"three\n"),
    ] {
        let path = dirs.file(name, data);
        let src = source(format, &[&path], None);
        let (catalog, _) = open(&src, &dirs);
        assert_eq!(
            entries(&catalog).len(),
            data.iter().filter(|&&b| b == b'\n').count()
                / if format == RecordFormat::Fasta { 2 } else { 1 }
        );
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(more)
            .unwrap();
        let (catalog, notes) = open(&src, &dirs);
        assert_eq!(notes.len(), 1);
        let shown = path.display();
        assert!(notes[0].starts_with(&format!("{shown}: ")), "{}", notes[0]);
        assert!(
            notes[0].contains("the file changed since its index")
                || notes[0]
                    .contains("does not describe it (the data has more after its last record)"),
            "{}",
            notes[0]
        );
        assert!(notes[0].contains("; indexed again: "), "{}", notes[0]);
        let want = if format == RecordFormat::Fasta {
            vec!["a".to_string(), "b".to_string()]
        } else {
            vec![
                format!("{shown}:1"),
                format!("{shown}:2"),
                format!("{shown}:3"),
            ]
        };
        assert_eq!(names(&catalog), want);
    }
}

#[test]
fn a_fai_of_another_file_is_not_used() {
    let dirs = Dirs::new();
    let a = dirs.file("a.fa", b">x\nACGT\n>y\nAC\n");
    let b = dirs.file("b.fa", b">p\nACGT\n>q\nAC\n");
    let (_, _) = open(&source(RecordFormat::Fasta, &[&b], None), &dirs);
    fs::copy(b.with_extension("fa.fai"), a.with_extension("fa.fai")).unwrap();
    let (catalog, notes) = open(&source(RecordFormat::Fasta, &[&a], None), &dirs);
    assert!(
        notes[0].contains(
            "does not describe it (the data has no header '>p' where it says); indexed again"
        ),
        "{}",
        notes[0]
    );
    assert_eq!(names(&catalog), ["x", "y"]);
    assert_eq!(
        fs::read_to_string(a.with_extension("fa.fai")).unwrap(),
        "x\t4\t3\t4\t5\ny\t2\t11\t2\t3\n"
    );
}

#[test]
fn a_fai_older_than_its_data_is_not_used() {
    let dirs = Dirs::new();
    let a = dirs.file("a.fa", b">x\nACGT\n");
    fs::write(a.with_extension("fa.fai"), "x\t4\t3\t4\t5\n").unwrap();
    let old = fs::File::options()
        .write(true)
        .open(a.with_extension("fa.fai"))
        .unwrap();
    old.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
    let (_, notes) = open(&source(RecordFormat::Fasta, &[&a], None), &dirs);
    assert!(
        notes[0].contains("the file changed since its index"),
        "{notes:?}"
    );
}

#[test]
fn a_damaged_or_truncated_ppi_is_rebuilt() {
    let dirs = Dirs::new();
    let mut data = Vec::new();
    for i in 0..10_000 {
        data.extend_from_slice(format!("{{\"id\": \"r{i}\"}}\n").as_bytes());
    }
    let path = dirs.file("d.jsonl", &data);
    let src = source(RecordFormat::Jsonl, &[&path], None);
    let (catalog, _) = open(&src, &dirs);
    let want = entries(&catalog);
    let ppi = path.with_extension("jsonl.ppi");
    let bytes = fs::read(&ppi).unwrap();
    fs::write(&ppi, &bytes[..bytes.len() - 3]).unwrap();
    let (catalog, notes) = open(&src, &dirs);
    assert!(
        notes[0].contains("is not a polyplug index, or is truncated; indexed again"),
        "{notes:?}"
    );
    assert_eq!(entries(&catalog), want);
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 1;
    fs::write(&ppi, &flipped).unwrap();
    let (catalog, notes) = open(&src, &dirs);
    assert!(
        notes[0].contains("is damaged (an entry block's hash is wrong); indexed again"),
        "{notes:?}"
    );
    assert_eq!(entries(&catalog), want);
}

#[test]
fn a_read_only_data_folder_puts_the_index_in_the_cache() {
    let dirs = Dirs::new();
    let path = dirs.file("ro.csv", b"id\na\nb\n");
    let folder = dirs.data.path();
    fs::set_permissions(folder, fs::Permissions::from_mode(0o555)).unwrap();
    // As root the folder stays writable: then the folder is said not writable.
    let probe = folder.join("probe");
    let root = fs::write(&probe, b"").is_ok();
    let _ = fs::remove_file(&probe);
    let options = Options {
        dir_writable: if root { |_| false } else { |_| true },
        ..Options::default()
    };
    let src = source(RecordFormat::Csv, &[&path], None);
    let (catalog, notes) = open_with(&src, &dirs, options);
    let catalog = catalog.unwrap();
    let cached = crate::place::in_cache(dirs.cache.path(), &path, "ppi");
    assert!(cached.starts_with(dirs.cache.path().join("records")));
    assert_eq!(catalog.index_paths(), [Some(cached.clone())]);
    assert!(
        notes[0].ends_with(&format!("index written to {}", cached.display())),
        "{notes:?}"
    );
    assert_eq!(fs::read_dir(folder).unwrap().count(), 1);
    assert_eq!(names(&catalog), ["a", "b"]);
    // Found there again, whether the folder is writable or not.
    let (_, notes) = open_with(&src, &dirs, options);
    assert!(notes.is_empty(), "{notes:?}");
    let (_, notes) = open_with(&src, &dirs, Options::default());
    assert!(notes.is_empty(), "{notes:?}");
    fs::set_permissions(folder, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn the_reader_sees_that_a_file_changed() {
    let dirs = Dirs::new();
    let path = dirs.file("g.fa", b">chr1\nACGT\n>chr2\nACGT\n");
    let src = source(RecordFormat::Fasta, &[&path], None);
    let (catalog, _) = open(&src, &dirs);
    let all = entries(&catalog);
    fs::write(&path, b">chrA\nACGT\n>chrB\nACGT\n").unwrap();
    let mut reader = Reader::open(&src);
    let e = &all[1];
    let err = reader.read(&e.key(), &e.name).unwrap_err();
    assert_eq!(
        err,
        format!("{}: the record at byte 11 is not 'chr2' any more: the file changed since it was indexed; run again to index it anew", path.display())
    );
    fs::write(&path, b">chr1\nACGT\n").unwrap();
    let mut reader = Reader::open(&src);
    assert!(reader
        .read(&e.key(), &e.name)
        .unwrap_err()
        .contains("is not 'chr2' any more"));
    let lines = dirs.file("l.txt", b"ab\ncd\n");
    let src = source(RecordFormat::Lines, &[&lines], None);
    let (catalog, _) = open(&src, &dirs);
    let all = entries(&catalog);
    fs::write(&lines, b"abc\nd\n").unwrap();
    let mut reader = Reader::open(&src);
    assert!(reader
        .read(&all[1].key(), &all[1].name)
        .unwrap_err()
        .contains("the file changed since it was indexed"));
    let table = dirs.file("t.csv", b"id,v\nx,1\ny,2\n");
    let src = source(RecordFormat::Csv, &[&table], None);
    let (catalog, _) = open(&src, &dirs);
    let all = entries(&catalog);
    fs::write(&table, b"id,v\nx,1\nz,2\n").unwrap();
    let mut reader = Reader::open(&src);
    assert!(reader.read(&all[0].key(), &all[0].name).is_ok());
    assert!(reader
        .read(&all[1].key(), &all[1].name)
        .unwrap_err()
        .contains("is not 'y' any more"));
}

#[test]
fn processes_opening_at_once_all_get_a_complete_index() {
    let dirs = Dirs::new();
    let mut data = Vec::new();
    for i in 0..20_000 {
        data.extend_from_slice(format!("@r{i}\nACGT\n+\nIIII\n").as_bytes());
    }
    let path = dirs.file("r.fq", &data);
    let src = source(RecordFormat::Fastq, &[&path], None);
    let all: Vec<Vec<Entry>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| entries(&open(&src, &dirs).0)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(all[0].len(), 20_000);
    assert!(all.iter().all(|e| *e == all[0]));
    let leftovers: Vec<_> = fs::read_dir(dirs.data.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
}

/// A FASTA file drawn from `rng`: varied line widths and endings, lowercase, long
/// headers, empty sequences, blank lines, a last line without its ending.
fn random_fasta(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    let crlf = rng.below(4) == 0;
    let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    if rng.below(5) == 0 {
        out.extend_from_slice(eol);
    }
    for r in 0..1 + rng.below(6) {
        out.push(b'>');
        if rng.below(8) == 0 {
            out.push(b' ');
        }
        out.extend_from_slice(format!("seq{r}").as_bytes());
        match rng.below(4) {
            0 => out.extend_from_slice(b" some description"),
            1 => out.extend_from_slice(&vec![b'h'; 5000]),
            2 => out.extend_from_slice(b"\tx"),
            _ => {}
        }
        out.extend_from_slice(eol);
        let width = 1 + rng.below(12);
        let length = if rng.below(10) == 0 { 0 } else { rng.below(60) };
        let letters: &[u8] = if rng.below(2) == 0 {
            b"ACGTN"
        } else {
            b"acgtn"
        };
        for i in 0..length {
            out.push(letters[rng.below(5) as usize]);
            if (i + 1) % width == 0 || i + 1 == length {
                if rng.below(40) == 0 {
                    out.push(b'A');
                }
                out.extend_from_slice(eol);
            }
        }
        if rng.below(6) == 0 {
            out.extend_from_slice(eol);
        }
    }
    if rng.below(4) == 0 {
        while out.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
            out.pop();
        }
    }
    out
}

#[test]
fn the_fai_is_what_samtools_writes() {
    let version = std::process::Command::new("samtools")
        .arg("--version")
        .output()
        .expect("run samtools (tests/run-all.sh installs it)");
    assert!(version.status.success());
    let dirs = Dirs::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut ours, mut theirs) = (0, 0);
    for case in 0..300 {
        let data = random_fasta(&mut rng);
        let path = dirs.file(&format!("c{case}.fa"), &data);
        let copy = dirs.cache.path().join(format!("c{case}.fa"));
        fs::write(&copy, &data).unwrap();
        let samtools = std::process::Command::new("samtools")
            .arg("faidx")
            .arg(&copy)
            .output()
            .unwrap();
        let theirs_fai = fs::read_to_string(copy.with_extension("fa.fai"))
            .ok()
            .filter(|_| samtools.status.success());
        let (catalog, _) = open(&source(RecordFormat::Fasta, &[&path], None), &dirs);
        let records = entries(&catalog).len();
        let ours_fai = fs::read_to_string(path.with_extension("fa.fai")).ok();
        let shown = String::from_utf8_lossy(&data);
        if let Some(ours_fai) = &ours_fai {
            ours += 1;
            assert_eq!(Some(ours_fai), theirs_fai.as_ref(), "case {case}:\n{shown}");
        }
        if let Some(theirs_fai) = &theirs_fai {
            // samtools drops empty sequences, or lists some with 0 bases (noodles, and so
            // polyplug, refuse those): a .ppi is right for both.
            let empty = theirs_fai
                .lines()
                .any(|l| l.split('\t').nth(1) == Some("0"));
            if theirs_fai.lines().count() == records && !empty {
                theirs += 1;
                assert!(
                    ours_fai.is_some(),
                    "case {case}: samtools described it, we did not:\n{shown}"
                );
            }
        }
    }
    assert!(
        ours > 100 && theirs == ours,
        "{ours} .fai written, {theirs} by samtools"
    );
}

#[test]
fn a_last_line_without_its_line_ending_keeps_its_fai() {
    // Found by fuzzing: samtools does not count the non-ASCII byte, so the formula's
    // line ending falls on the last byte of the data, which is not one; the .fai was
    // refused by every later run and rebuilt.
    let dirs = Dirs::new();
    let path = dirs.file("odd.fa", b">a d\nAesc\nACGT\nG\xa7*");
    let src = source(RecordFormat::Fasta, &[&path], None);
    let (_, notes) = open(&src, &dirs);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(
        std::fs::read_to_string(path.with_extension("fa.fai")).unwrap(),
        "a\t10\t5\t4\t5\n"
    );
    let (_, again) = open(&src, &dirs);
    assert!(again.is_empty(), "indexed again: {again:?}");
}

#[test]
fn record_counts_are_known_without_streaming_the_records() {
    let dirs = Dirs::new();
    let fai = dirs.file("a.fa", b">a\nACGT\n>b\nAC\n>c\nA\n");
    let ppi = dirs.file("b.fa", b">a\nACGT\nACGTA\n>b\n");
    let empty = dirs.file("c.fa", b"");
    let src = source(RecordFormat::Fasta, &[&fai, &ppi, &empty], None);
    for round in 0..2 {
        // Built, then found and checked.
        let (catalog, notes) = open(&src, &dirs);
        assert_eq!(notes.len(), if round == 0 { 3 } else { 1 }, "{notes:?}");
        assert_eq!(catalog.record_counts(), [3, 2, 0]);
        let mut counts = [0u64; 3];
        for e in entries(&catalog) {
            counts[e.file as usize] += 1;
        }
        assert_eq!(counts, [3, 2, 0]);
    }
    let lines = dirs.file("l.txt", b"x\n\ny\n");
    let (catalog, _) = open(&source(RecordFormat::Lines, &[&lines], None), &dirs);
    assert_eq!(catalog.record_counts(), [2]);
}
