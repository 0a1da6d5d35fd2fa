//! Every format on small hand-written files: records, names, bytes and fields.

use super::*;
use crate::RecordRef;
use polyplug_core::HeldRecord;

#[test]
fn fasta_records_with_crlf_blank_lines_and_no_final_line_ending() {
    let dirs = Dirs::new();
    let data = b"\n>chr1 first  one \r\nACGT\r\nAC\r\n\r\n>chr2\r\nGGGG\r\nGG";
    let path = dirs.file("genome.fa", data);
    let src = source(RecordFormat::Fasta, &[&path], None);
    let (catalog, notes) = open(&src, &dirs);
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].contains("genome.fa: indexed 2 records (47 bytes) in "),
        "{}",
        notes[0]
    );
    assert!(notes[0].ends_with(&format!("; index written to {}.fai", path.display())));
    assert_eq!(
        std::fs::read_to_string(path.with_extension("fa.fai")).unwrap(),
        "chr1\t6\t20\t4\t6\nchr2\t6\t39\t4\t6\n"
    );
    assert_eq!(
        read_all(&src, &catalog),
        [
            ok(
                "chr1",
                ">chr1 first  one \r\nACGT\r\nAC",
                &[("description", "first  one"), ("sequence", "ACGTAC")]
            ),
            ok(
                "chr2",
                ">chr2\r\nGGGG\r\nGG",
                &[("description", ""), ("sequence", "GGGGGG")]
            ),
        ]
    );
    assert_eq!(catalog.total_bytes(), data.len() as u64);
}

#[test]
fn a_fasta_with_unequal_lines_falls_back_to_polyplugs_index() {
    let dirs = Dirs::new();
    let path = dirs.file("odd.fa", b">a\nACGT\nACGTAA\nA\n>b\n>c x\nTT\n");
    let src = source(RecordFormat::Fasta, &[&path], None);
    let (catalog, notes) = open(&src, &dirs);
    assert!(
        notes[0].ends_with(".ppi (not a samtools .fai: record 'a' (line 1) has sequence lines of unequal lengths, which a .fai cannot describe)"),
        "{}",
        notes[0]
    );
    assert!(!path.with_extension("fa.fai").exists());
    assert!(path.with_extension("fa.ppi").exists());
    assert_eq!(
        read_all(&src, &catalog),
        [
            ok(
                "a",
                ">a\nACGT\nACGTAA\nA",
                &[("description", ""), ("sequence", "ACGTACGTAAA")]
            ),
            ok("b", ">b", &[("description", ""), ("sequence", "")]),
            ok("c", ">c x\nTT", &[("description", "x"), ("sequence", "TT")]),
        ]
    );
}

#[test]
fn a_fasta_header_without_a_name_fails_that_record_only() {
    let dirs = Dirs::new();
    let path = dirs.file("x.fa", b">a\nAC\n>\nGG\n");
    let src = source(RecordFormat::Fasta, &[&path], None);
    let (catalog, _) = open(&src, &dirs);
    let got = read_all(&src, &catalog);
    let shown = path.display();
    assert_eq!(got[1].0, format!("{shown}:3"));
    assert_eq!(
        got[1].1,
        Err(format!(
            "{shown}: the header at line 3 has no name: give every record a name after '>'"
        ))
    );
}

#[test]
fn files_of_another_format_are_refused_with_the_line_and_a_hint() {
    let dirs = Dirs::new();
    let fq = dirs.file("reads.fa", b"\n@r1\nACGT\n+\nIIII\n");
    let e = open_err(&source(RecordFormat::Fasta, &[&fq], None), &dirs);
    assert_eq!(
        e.to_string(),
        format!("{} line 2: expected a FASTA header line starting with '>', found '@r1': is this a FASTQ file? give the format fastq", fq.display())
    );
    let fa = dirs.file("genome.fq", b">chr1\nACGT\n");
    let e = open_err(&source(RecordFormat::Fastq, &[&fa], None), &dirs);
    assert!(e.to_string().ends_with("line 1: expected a FASTQ header line starting with '@', found '>chr1': is this a FASTA file? give the format fasta"), "{e}");
    let text = dirs.file("t.jsonl", b"hello, world\n");
    let e = open_err(&source(RecordFormat::Jsonl, &[&text], None), &dirs);
    assert!(
        matches!(e, RecordsError::NotTheFormat { line: 1, .. }),
        "{e}"
    );
    assert!(
        e.to_string()
            .ends_with("is this a CSV file? give the format csv"),
        "{e}"
    );
}

#[test]
fn fastq_records_and_a_truncated_last_one() {
    let dirs = Dirs::new();
    let data = b"@r1 the first\r\nACGT\r\n+\r\nIIII\r\n\n@r2\nAC\n+r2\nI\n@r3\nACG\n+\n";
    let path = dirs.file("reads.fq", data);
    let src = source(RecordFormat::Fastq, &[&path], None);
    let (catalog, notes) = open(&src, &dirs);
    assert!(notes[0].contains("indexed 3 records"), "{}", notes[0]);
    let shown = path.display();
    assert_eq!(
        read_all(&src, &catalog),
        [
            ok(
                "r1",
                "@r1 the first\r\nACGT\r\n+\r\nIIII",
                &[("description", "the first"), ("sequence", "ACGT"), ("quality", "IIII")]
            ),
            ("r2".to_string(), Err(format!("{shown}: record 'r2' is truncated: its quality line has 1 letters, its sequence 2"))),
            ("r3".to_string(), Err(format!("{shown}: record 'r3' is truncated: no quality line"))),
        ]
    );
}

#[test]
fn fastq_records_missing_more_lines_are_named_and_failed() {
    let dirs = Dirs::new();
    let path = dirs.file("reads.fq", b"@r1\nAC\n+\nII\n@r2\nAC");
    let src = source(RecordFormat::Fastq, &[&path], None);
    let (catalog, _) = open(&src, &dirs);
    let got = read_all(&src, &catalog);
    assert_eq!(
        got[1].1,
        Err(format!(
            "{}: record 'r2' is truncated: no '+' line",
            path.display()
        ))
    );
    let e = open_err(
        &source(
            RecordFormat::Fastq,
            &[&dirs.file("b.fq", b"@r1\nAC\n+\nII\nAC\n")],
            None,
        ),
        &dirs,
    );
    assert!(matches!(e, RecordsError::Malformed { line: 5, .. }), "{e}");
}

#[test]
fn lines_are_named_by_the_file_as_given_and_their_number() {
    let dirs = Dirs::new();
    let path = dirs.file("ids.txt", b"alpha\r\n\n  \nbeta gamma\n\tdelta");
    let src = source(RecordFormat::Lines, &[&path], None);
    let (catalog, _) = open(&src, &dirs);
    let shown = path.display();
    assert_eq!(
        read_all(&src, &catalog),
        [
            ok(&format!("{shown}:1"), "alpha", &[]),
            ok(&format!("{shown}:4"), "beta gamma", &[]),
            ok(&format!("{shown}:5"), "\tdelta", &[]),
        ]
    );
    // The same file under another name names its records so.
    let other = dirs.data.path().join(".").join("ids.txt");
    let src = source(RecordFormat::Lines, &[&other], None);
    let (catalog, notes) = open(&src, &dirs);
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(entries(&catalog)[1].name, format!("{}:4", other.display()));
}

#[test]
fn jsonl_ids_come_from_the_first_member_or_the_one_given() {
    let dirs = Dirs::new();
    let data = b"{\"name\": \"a\", \"n\": 1, \"tags\": [\"x\"]}\r\n\n{\"n\": 2.50, \"name\": \"b\\u00e9\"}\n[3]\n{\"name\": null}\n{\"n\": 4}";
    let path = dirs.file("data.jsonl", data);
    let shown = path.display();
    let src = source(RecordFormat::Jsonl, &[&path], None);
    let (catalog, _) = open(&src, &dirs);
    assert_eq!(
        read_all(&src, &catalog),
        [
            ok("a", "{\"name\": \"a\", \"n\": 1, \"tags\": [\"x\"]}", &[("name", "a"), ("n", "1"), ("tags", "[\"x\"]")]),
            ok("bé", "{\"n\": 2.50, \"name\": \"b\\u00e9\"}", &[("n", "2.50"), ("name", "bé")]),
            (format!("{shown}:4"), Err(format!("{shown}: line 4 is not a JSON object (invalid type: sequence, expected a JSON object at line 1 column 0)"))),
            (format!("{shown}:5"), Err(format!("{shown}: line 5 has 'name': null, which is not a string or a number"))),
            (format!("{shown}:6"), Err(format!("{shown}: line 6 has no member 'name' to take its ID from"))),
        ]
    );
    let src = source(RecordFormat::Jsonl, &[&path], Some("n"));
    let (catalog, notes) = open(&src, &dirs);
    assert!(notes[0].starts_with(&format!("{shown}: its index {shown}.ppi was made for the ID column 'name', not 'n'; indexed again")), "{notes:?}");
    let names: Vec<String> = entries(&catalog).into_iter().map(|e| e.name).collect();
    assert_eq!(
        names,
        [
            "1".to_string(),
            "2.50".into(),
            format!("{shown}:4"),
            format!("{shown}:5"),
            "4".into()
        ]
    );
    let e = open_err(&source(RecordFormat::Jsonl, &[&path], Some("id")), &dirs);
    assert_eq!(
        e.to_string(),
        format!("{shown}: there is no member 'id' (it has: name, n, tags): give one of them with --id-column")
    );
}

#[test]
fn csv_rows_with_quotes_crlf_and_short_rows() {
    let dirs = Dirs::new();
    let data = b"id,text,n\r\na,\"one, \"\"two\"\"\",1\r\n\r\nb,\"line\r\nbreak\",2\r\nc,3\r\n,x,4\r\nd,y,5";
    let path = dirs.file("table.csv", data);
    let shown = path.display();
    let src = source(RecordFormat::Csv, &[&path], None);
    let (catalog, _) = open(&src, &dirs);
    assert_eq!(
        read_all(&src, &catalog),
        [
            ok(
                "a",
                "a,\"one, \"\"two\"\"\",1",
                &[("id", "a"), ("text", "one, \"two\""), ("n", "1")]
            ),
            ok(
                "b",
                "b,\"line\r\nbreak\",2",
                &[("id", "b"), ("text", "line\r\nbreak"), ("n", "2")]
            ),
            (
                "c".to_string(),
                Err(format!("{shown}: the row 'c' has 2 fields, the header 3"))
            ),
            (
                format!("{shown}:7"),
                Err(format!("{shown}: line 7 has an empty ID in column 'id'"))
            ),
            ok("d", "d,y,5", &[("id", "d"), ("text", "y"), ("n", "5")]),
        ]
    );
    let src = source(RecordFormat::Csv, &[&path], Some("n"));
    let (catalog, _) = open(&src, &dirs);
    let got = read_all(&src, &catalog);
    assert_eq!(
        got[2],
        (
            format!("{shown}:6"),
            Err(format!("{shown}: line 6 has 2 fields, the header 3"))
        )
    );
    assert_eq!(got[3].0, "4");
}

#[test]
fn an_unknown_id_column_lists_the_columns() {
    let dirs = Dirs::new();
    let path = dirs.file("t.tsv", b"id\tname\tsize\nx\ty\t1\n");
    let e = open_err(&source(RecordFormat::Tsv, &[&path], Some("Name")), &dirs);
    assert_eq!(
        e,
        RecordsError::UnknownIdColumn {
            path: path.clone(),
            what: "column",
            column: "Name".to_string(),
            columns: vec!["id".to_string(), "name".to_string(), "size".to_string()],
        }
    );
    assert_eq!(
        e.to_string(),
        format!("{}: there is no column 'Name' (it has: id, name, size): give one of them with --id-column", path.display())
    );
    let e = open_err(&source(RecordFormat::Fasta, &[&path], Some("id")), &dirs);
    assert_eq!(
        e.to_string(),
        "--id-column is for the csv, tsv and jsonl formats, not fasta: remove it"
    );
}

#[test]
fn tsv_fields_are_not_quoted_and_header_only_files_have_no_records() {
    let dirs = Dirs::new();
    let path = dirs.file("t.tsv", b"name\tid\n\"x\t\"y, z\r\n");
    let src = source(RecordFormat::Tsv, &[&path], Some("id"));
    let (catalog, _) = open(&src, &dirs);
    assert_eq!(
        read_all(&src, &catalog),
        [ok(
            "\"y, z",
            "\"x\t\"y, z",
            &[("name", "\"x"), ("id", "\"y, z")]
        )]
    );
    let header_only = dirs.file("h.csv", b"id,v\r\n\r\n");
    let src = source(RecordFormat::Csv, &[&header_only], Some("v"));
    let (catalog, notes) = open(&src, &dirs);
    assert!(entries(&catalog).is_empty());
    assert!(notes[0].contains("indexed 0 records"), "{notes:?}");
}

#[test]
fn empty_files_have_no_records_and_no_index() {
    let dirs = Dirs::new();
    let empty = dirs.file("e.csv", b"");
    let blank = dirs.file("b.csv", b"\n\n");
    let src = source(RecordFormat::Csv, &[&empty, &blank], Some("id"));
    let (catalog, notes) = open(&src, &dirs);
    assert!(entries(&catalog).is_empty());
    assert_eq!(
        notes[0],
        format!("{}: the file is empty: it has no records", empty.display())
    );
    assert_eq!(catalog.index_paths()[0], None);
    assert_eq!(catalog.total_bytes(), 2);
}

#[test]
fn held_records_are_given_as_they_are() {
    let src = source(RecordFormat::Csv, &[], None);
    let mut reader = Reader::open(&src);
    let held = HeldRecord {
        bytes: b"a,b".to_vec(),
        fields: fields(&[("x", "a"), ("y", "b")]),
    };
    let r = reader.read(&RecordRef::Held(held.clone()), "a").unwrap();
    assert_eq!((r.bytes, r.fields), (&held.bytes[..], &held.fields[..]));
}

#[test]
fn line_of_counts_lines_up_to_an_offset() {
    let dirs = Dirs::new();
    let path = dirs.file("x.txt", b"a\nb\r\n\nc\n");
    let (catalog, _) = open(&source(RecordFormat::Lines, &[&path], None), &dirs);
    let lines: Vec<u64> = [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&o| catalog.line_of(0, o).unwrap())
        .collect();
    assert_eq!(lines, [1, 1, 2, 3, 4, 4]);
    assert!(matches!(
        catalog.line_of(1, 0),
        Err(RecordsError::NoSuchFile { file: 1, count: 1 })
    ));
}

#[test]
fn a_name_that_is_not_utf8_fails_its_record_and_the_index_is_kept() {
    // Found by fuzzing: the .fai held the raw name, could not be read back, and was
    // rebuilt by every run.
    for (format, file, data) in [
        (
            RecordFormat::Fasta,
            "bad.fa",
            &b">ok\nAC\n>T%\xff\xffq\nA\n>z\nG\n"[..],
        ),
        (
            RecordFormat::Fastq,
            "bad.fq",
            &b"@ok\nAC\n+\nII\n@T%\xff\nA\n+\nI\n@z\nG\n+\nI\n"[..],
        ),
    ] {
        let dirs = Dirs::new();
        let path = dirs.file(file, data);
        let src = source(format, &[&path], None);
        let (catalog, notes) = open(&src, &dirs);
        assert_eq!(notes.len(), 1, "{notes:?}");
        let read = read_all(&src, &catalog);
        let names: Vec<&str> = read.iter().map(|(n, _)| n.as_str()).collect();
        let odd = format!(
            "{}:{}",
            path.display(),
            if format == RecordFormat::Fasta { 3 } else { 5 }
        );
        assert_eq!(names, ["ok", odd.as_str(), "z"]);
        let why = read[1]
            .1
            .as_ref()
            .expect_err("the record without a UTF-8 name");
        assert!(why.contains("is not UTF-8 text"), "{why}");
        assert!(read[0].1.is_ok() && read[2].1.is_ok(), "{read:?}");
        let (_, again) = open(&src, &dirs);
        assert!(again.is_empty(), "indexed again: {again:?}");
    }
}
