//! Compressed data: BGZF read by range through its `.gzi`, plain gzip streamed.

use std::fs;
use std::io::Write;

use super::*;

/// `data` compressed as BGZF by noodles-bgzf (as `bgzip` does: 64 KiB blocks and the
/// end marker).
pub(crate) fn bgzf(data: &[u8]) -> Vec<u8> {
    let mut w = noodles_bgzf::io::Writer::new(Vec::new());
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

fn fasta() -> Vec<u8> {
    let mut data = Vec::new();
    for i in 0..3000 {
        data.extend_from_slice(format!(">s{i} number {i}\n").as_bytes());
        for _ in 0..i % 9 + 1 {
            data.extend_from_slice(
                b"ACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGT\n",
            );
        }
        data.extend_from_slice(b"ACG\n");
    }
    data
}

fn fastq() -> Vec<u8> {
    let mut data = Vec::new();
    for i in 0..5000 {
        data.extend_from_slice(format!("@r{i} d\nACGTACGTAC\n+\nIIIIIIIIII\n").as_bytes());
    }
    data.extend_from_slice(b"@last\nACGT\n+\n");
    data
}

/// Records read back, by name.
type Reads = Vec<(String, Read)>;

/// The records of a plain file and of a compressed copy, read back.
fn both(
    format: RecordFormat,
    plain: &[u8],
    packed: &[u8],
    name: &str,
) -> (Reads, Reads, Vec<String>, Dirs) {
    let dirs = Dirs::new();
    let a = dirs.file(name, plain);
    let b = dirs.file(&format!("{name}.gz"), packed);
    let (ca, _) = open(&source(format, &[&a], None), &dirs);
    let src_b = source(format, &[&b], None);
    let (cb, notes) = open(&src_b, &dirs);
    let mut ra = read_all(&source(format, &[&a], None), &ca);
    let rb = read_all(&src_b, &cb);
    // Names and messages of positional records name their file.
    let (shown_a, shown_b) = (a.display().to_string(), b.display().to_string());
    for (name, read) in &mut ra {
        *name = name.replace(&shown_a, &shown_b);
        if let Err(e) = read {
            *e = e.replace(&shown_a, &shown_b);
        }
    }
    assert_eq!(cb.total_bytes(), plain.len() as u64);
    (ra, rb, notes, dirs)
}

#[test]
fn a_bgzf_fasta_gets_a_gzi_and_a_fai_and_reads_as_the_plain_one() {
    let plain = fasta();
    let (ra, rb, notes, dirs) = both(RecordFormat::Fasta, &plain, &bgzf(&plain), "g.fa");
    assert_eq!(ra.len(), 3000);
    assert_eq!(ra, rb);
    let gz = dirs.data.path().join("g.fa.gz");
    assert_eq!(
        notes[0],
        format!(
            "{}: block index written to {}.gzi",
            gz.display(),
            gz.display()
        )
    );
    assert!(
        notes[1].ends_with(&format!("index written to {}.fai", gz.display())),
        "{notes:?}"
    );
    // The same .fai as for the plain file, and found again.
    let fai = fs::read_to_string(dirs.data.path().join("g.fa.gz.fai")).unwrap();
    assert_eq!(
        fai,
        fs::read_to_string(dirs.data.path().join("g.fa.fai")).unwrap()
    );
    let (_, again) = open(&source(RecordFormat::Fasta, &[&gz], None), &dirs);
    assert!(again.is_empty(), "{again:?}");
    // What bgzip and samtools write (tests/run-all.sh installs them: tabix, samtools).
    let copy = dirs.cache.path().join("copy.fa.gz");
    fs::copy(&gz, &copy).unwrap();
    let bgzip = std::process::Command::new("bgzip")
        .arg("-r")
        .arg(&copy)
        .status()
        .expect("run bgzip (Debian package tabix; tests/run-all.sh installs it)");
    assert!(bgzip.success());
    assert_eq!(
        fs::read(gz.with_extension("gz.gzi")).unwrap(),
        fs::read(copy.with_extension("gz.gzi")).unwrap()
    );
    let samtools = std::process::Command::new("samtools")
        .arg("faidx")
        .arg(&copy)
        .status()
        .expect("run samtools (tests/run-all.sh installs it)");
    assert!(samtools.success());
    assert_eq!(
        fai,
        fs::read_to_string(copy.with_extension("gz.fai")).unwrap()
    );
}

#[test]
fn bgzf_fastq_and_csv_read_as_the_plain_ones() {
    let plain = fastq();
    let (ra, rb, _, _) = both(RecordFormat::Fastq, &plain, &bgzf(&plain), "r.fq");
    assert_eq!(ra.len(), 5001);
    assert!(rb[5000]
        .1
        .as_ref()
        .is_err_and(|e| e.ends_with("record 'last' is truncated: no quality line")));
    assert_eq!(ra, rb);
    let mut table = b"id,v\r\n".to_vec();
    for i in 0..20_000 {
        table.extend_from_slice(format!("k{i},\"{i}\n{i}\"\r\n").as_bytes());
    }
    let (ra, rb, _, _) = both(RecordFormat::Csv, &table, &bgzf(&table), "t.csv");
    assert_eq!(ra.len(), 20_000);
    assert_eq!(ra, rb);
}

#[test]
fn a_plain_gzip_file_is_streamed_as_held_records() {
    let plain = fastq();
    let (ra, rb, notes, dirs) = both(RecordFormat::Fastq, &plain, &gzip(&plain), "r.fq");
    assert_eq!(ra, rb);
    let gz = dirs.data.path().join("r.fq.gz");
    assert_eq!(
        notes[0],
        format!("{}: it is gzip but not BGZF, so it cannot be read by range: every shard and resume reads it from the start (recompress it with bgzip for random access)", gz.display())
    );
    let src = source(RecordFormat::Fastq, &[&gz], None);
    let (catalog, notes) = open(&src, &dirs);
    assert_eq!(notes.len(), 1, "the index is reused: {notes:?}");
    let all = entries(&catalog);
    assert!(all[..5000].iter().all(|e| e.held.is_some()));
    assert_eq!(
        all[0].key(),
        crate::RecordRef::Held(polyplug_core::HeldRecord {
            bytes: b"@r0 d\nACGTACGTAC\n+\nIIIIIIIIII".to_vec(),
            fields: fields(&[
                ("description", "d"),
                ("sequence", "ACGTACGTAC"),
                ("quality", "IIIIIIIIII")
            ]),
        })
    );
    // The record that does not parse is read again by the worker, which says why.
    assert_eq!(all[5000].held, None);
    // Shards stream from the start, each its own records.
    for count in [1, 3] {
        let mut joined = Vec::new();
        for index in 0..count {
            joined.extend(
                catalog
                    .shard_entries(index, count)
                    .unwrap()
                    .map(Result::unwrap),
            );
        }
        assert_eq!(joined, all);
    }
    assert_eq!(catalog.line_of(0, 40).unwrap(), 6);
}

#[test]
fn plain_gzip_lines_and_jsonl() {
    let text = b"a\n\nb\r\nc";
    let (ra, rb, _, _) = both(RecordFormat::Lines, text, &gzip(text), "x.txt");
    assert_eq!(ra, rb);
    assert_eq!(ra.len(), 3);
    let json = b"{\"id\": \"a\", \"v\": [1]}\n[2]\n{\"id\": 3}\n";
    let (ra, rb, _, _) = both(RecordFormat::Jsonl, json, &gzip(json), "x.jsonl");
    assert_eq!(ra, rb);
    assert!(rb[1].1.is_err());
    let plain = fasta();
    let (ra, rb, notes, dirs) = both(RecordFormat::Fasta, &plain, &gzip(&plain), "g.fa");
    assert_eq!(ra, rb);
    // samtools cannot use a .fai with plain gzip: polyplug's own index it is.
    assert!(notes[1].ends_with("g.fa.gz.ppi"), "{notes:?}");
    assert!(!dirs.data.path().join("g.fa.gz.fai").exists());
}
