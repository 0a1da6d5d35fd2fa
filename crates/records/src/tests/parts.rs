//! A FASTA file indexed in parts at once (`parts.rs`) gives exactly what one pass
//! gives: the same `.fai` bytes, the same `.ppi` bytes, the same problem and error,
//! for random files cut into parts of every size; and the same `.fai` as samtools.

use std::fs;
use std::path::Path;

use super::*;
use crate::build::BuildStop;
use crate::fileio::DataKey;
use crate::parts::Split;
use crate::ppi::PpiWriter;
use crate::scan::LineScanner;
use crate::{fasta, parts};

/// A FASTA file drawn from `rng`, with what makes cutting it hard: CRLF and mixed
/// line endings, blank lines and lines of spaces before and between records, empty
/// sequences, headers without a name, with a name that is not UTF-8, or thousands of
/// bytes long, records of thousands of bases, lines longer or shorter than their
/// record's, spaces inside sequences, a last line without its line ending, and
/// (rarely) data that is not FASTA at all. Half the files have none of what a `.fai`
/// cannot describe.
pub(crate) fn random_fasta(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    let odd = rng.below(2) == 0;
    // 1 in `n` when the file is odd, else never.
    let odd_one_in = |rng: &mut Rng, n: u64| odd && rng.below(n) == 0;
    let crlf = rng.below(4) == 0;
    let (eol, other): (&[u8], &[u8]) = if crlf {
        (b"\r\n", b"\n")
    } else {
        (b"\n", b"\r\n")
    };
    match rng.below(40) {
        0 => out.extend_from_slice(b"@r1\nACGT\n+\nIIII\n"),
        1..=4 => out.extend_from_slice(eol),
        5 if odd => out.extend_from_slice(b"  \n"),
        _ => {}
    }
    for r in 0..1 + rng.below(12) {
        out.push(b'>');
        if rng.below(8) == 0 {
            out.push(b' ');
        }
        if odd_one_in(rng, 20) {
            out.extend_from_slice(b"s\xff\xfe");
        } else if !odd_one_in(rng, 20) {
            out.extend_from_slice(format!("seq{r}").as_bytes());
        }
        match rng.below(6) {
            0 => out.extend_from_slice(b" some description"),
            1 => out.extend_from_slice(&vec![b'h'; rng.below(4000) as usize]),
            2 => out.extend_from_slice(b"\tx"),
            3 => out.extend_from_slice(b" >x"),
            _ => {}
        }
        out.extend_from_slice(eol);
        let width = 1 + rng.below(70);
        let length = match rng.below(10) {
            0 if odd => 0,
            1 | 2 => rng.below(4000),
            _ => rng.below(200),
        };
        let letters: &[u8] = match rng.below(3) {
            0 if odd => b"acgt>",
            0 => b"acgt*",
            _ => b"ACGTN",
        };
        for i in 0..length {
            out.push(letters[rng.below(5) as usize]);
            if (i + 1) % width == 0 || i + 1 == length {
                if odd_one_in(rng, 50) {
                    out.push([b'A', b' ', 0xa7][rng.below(3) as usize]);
                }
                out.extend_from_slice(if odd_one_in(rng, 100) { other } else { eol });
                if odd_one_in(rng, 100) {
                    out.extend_from_slice(eol);
                }
            }
        }
        match rng.below(10) {
            0 => out.extend_from_slice(eol),
            1 => out.extend_from_slice(&[eol, eol].concat()),
            2 if odd => out.extend_from_slice(b" \t\n"),
            _ => {}
        }
    }
    if rng.below(4) == 0 {
        while out.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
            out.pop();
        }
    }
    out
}

/// What a build wrote: its result (records, data length, problem) or its error, the
/// `.fai` text and the `.ppi` bytes.
#[derive(Debug, PartialEq, Eq)]
struct Written {
    result: Result<(u64, u64, Option<String>), String>,
    fai: String,
    ppi: Vec<u8>,
}

fn written(
    result: Result<fasta::FastaBuilt, BuildStop>,
    ppi: PpiWriter<Vec<u8>>,
    fai: Vec<u8>,
) -> Written {
    let fai = String::from_utf8_lossy(&fai).into_owned();
    match result {
        Ok(b) => Written {
            result: Ok((b.records, b.data_len, b.fai_problem)),
            fai,
            ppi: ppi.finish(b.data_len).unwrap().0,
        },
        Err(e) => Written {
            result: Err(format!("{e:?}")),
            fai: String::new(),
            ppi: Vec::new(),
        },
    }
}

fn ppi_writer() -> PpiWriter<Vec<u8>> {
    let key = DataKey {
        size: 1,
        mtime_ns: 2,
        head: 3,
        tail: 4,
    };
    PpiWriter::new(Vec::new(), RecordFormat::Fasta, &key, "").unwrap()
}

/// The one-pass build of `data`.
fn sequential(data: &[u8]) -> Written {
    let (mut ppi, mut fai) = (ppi_writer(), Vec::new());
    let result = fasta::build(LineScanner::new(data), &mut ppi, &mut fai);
    written(result, ppi, fai)
}

/// The build of the file at `path` in parts, its temporary files next to `near`.
fn in_parts(path: &Path, split: Split, near: &Path) -> Written {
    let file = fs::File::open(path).unwrap();
    let len = file.metadata().unwrap().len();
    let (mut ppi, mut fai) = (ppi_writer(), Vec::new());
    let result = parts::build(&file, len, split, near, &mut ppi, &mut fai);
    written(result, ppi, fai)
}

#[test]
fn a_file_indexed_in_parts_gives_the_one_pass_index() {
    let dir = tempfile::tempdir().unwrap();
    let spills = tempfile::tempdir().unwrap();
    let near = spills.path().join("x.fa.ppi");
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut with_fai, mut without, mut refused, mut many) = (0, 0, 0, 0);
    for case in 0..300 {
        let data = random_fasta(&mut rng);
        let path = dir.path().join(format!("c{case}.fa"));
        fs::write(&path, &data).unwrap();
        let want = sequential(&data);
        match &want.result {
            Ok((_, _, None)) => with_fai += 1,
            Ok(_) => without += 1,
            Err(_) => refused += 1,
        }
        let len = data.len() as u64;
        for _ in 0..4 {
            let part_size = match rng.below(3) {
                0 => 1 + rng.below(if len < 3000 { 40 } else { 400 }),
                1 => 1 + rng.below(len.max(1)),
                _ => len.div_ceil(1 + rng.below(4)).max(1),
            };
            let spill_at = [0, 1 + rng.below(300) as usize, 1 << 20][rng.below(3) as usize];
            let split = Split {
                threads: 1 + rng.below(3) as usize,
                part_size,
                spill_at,
            };
            if split.parts(len) > 20 {
                many += 1;
            }
            let got = in_parts(&path, split, &near);
            assert_eq!(
                got,
                want,
                "case {case}, {split:?}:\n{}",
                String::from_utf8_lossy(&data)
            );
        }
        // The parts' temporary files are gone.
        assert_eq!(fs::read_dir(spills.path()).unwrap().count(), 0);
    }
    assert!(
        with_fai > 60 && without > 60 && refused > 1 && many > 300,
        "{with_fai} with a .fai, {without} without, {refused} refused, {many} cut in many parts"
    );
}

#[test]
fn records_and_headers_longer_than_a_part_are_one_record() {
    let mut data = b"\n\n>a ".to_vec();
    data.extend_from_slice(&[b'h'; 5000]);
    data.extend_from_slice(b"\n");
    for _ in 0..300 {
        data.extend_from_slice(b"ACGTACGTAC\n");
    }
    data.extend_from_slice(b"ACG\n\n>b\nAA\n>c\r\nAC\r\nA\r\n>\xffname\nAC\nA");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.fa");
    fs::write(&path, &data).unwrap();
    let want = sequential(&data);
    assert_eq!(
        want.result,
        Ok((
            4,
            data.len() as u64,
            Some("the name of the header at line 311 is not UTF-8 text".to_string())
        ))
    );
    for part_size in [1, 2, 3, 7, 100, 1000, 4999, 5003, 8000] {
        let split = Split {
            threads: 3,
            part_size,
            spill_at: 10,
        };
        let got = in_parts(&path, split, &dir.path().join("x.ppi"));
        assert_eq!(got, want, "parts of {part_size}");
    }
}

#[test]
fn data_before_the_first_header_is_refused_as_in_one_pass() {
    let mut data = b"\n\nACGT\n".to_vec();
    for i in 0..200 {
        data.extend_from_slice(format!(">r{i}\nACGT\n").as_bytes());
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.fa");
    fs::write(&path, &data).unwrap();
    let want = sequential(&data);
    assert!(
        matches!(&want.result, Err(e) if e.starts_with("NotTheFormat(3,")),
        "{want:?}"
    );
    for threads in [1, 2, 4] {
        let split = Split {
            threads,
            part_size: 5,
            spill_at: 0,
        };
        assert_eq!(in_parts(&path, split, &dir.path().join("x.ppi")), want);
    }
}

/// The notes of opening `source` with `split`, the time taken left out.
fn notes_of(source: &RecordSource, dirs: &Dirs, split: Split) -> Vec<String> {
    let options = Options {
        split: Some(split),
        ..Options::default()
    };
    let (catalog, notes) = open_with(source, dirs, options);
    catalog.unwrap();
    notes
        .iter()
        .map(|n| match (n.find(" in "), n.find(" s; ")) {
            (Some(a), Some(b)) if a < b => format!("{}{}", &n[..a], &n[b + 2..]),
            _ => n.clone(),
        })
        .collect()
}

#[test]
fn the_catalog_indexes_in_parts_as_samtools_does() {
    let version = std::process::Command::new("samtools")
        .arg("--version")
        .output()
        .expect("run samtools (tests/run-all.sh installs it)");
    assert!(version.status.success());
    let dirs = Dirs::new();
    let mut rng = Rng(0x6a09_e667_f3bc_c908);
    let (mut compared, mut cases) = (0, 0);
    while cases < 150 {
        let data = random_fasta(&mut rng);
        if !data.starts_with(b">") && !data.starts_with(b"\n") {
            continue;
        }
        cases += 1;
        let one = dirs.file(&format!("one{cases}.fa"), &data);
        let cut = dirs.file(&format!("cut{cases}.fa"), &data);
        let whole = Split {
            threads: 1,
            part_size: u64::MAX,
            spill_at: 1 << 20,
        };
        let split = Split {
            threads: 2,
            part_size: 1 + rng.below(data.len() as u64 / 2 + 1),
            spill_at: rng.below(100) as usize,
        };
        let want = notes_of(&source(RecordFormat::Fasta, &[&one], None), &dirs, whole);
        let got = notes_of(&source(RecordFormat::Fasta, &[&cut], None), &dirs, split);
        let shown = String::from_utf8_lossy(&data);
        assert_eq!(
            got,
            want.iter()
                .map(|n| n.replace("one", "cut"))
                .collect::<Vec<_>>(),
            "{split:?}\n{shown}"
        );
        let src = source(RecordFormat::Fasta, &[&cut], None);
        let (catalog, _) = open(&src, &dirs);
        let (one_catalog, _) = open(&source(RecordFormat::Fasta, &[&one], None), &dirs);
        let strip = |entries: Vec<Entry>| -> Vec<(String, u64, u64)> {
            entries
                .into_iter()
                .map(|e| (e.name.replace("one", "cut"), e.offset, e.len))
                .collect()
        };
        assert_eq!(strip(entries(&catalog)), strip(entries(&one_catalog)));
        let ours = fs::read_to_string(cut.with_extension("fa.fai")).ok();
        assert_eq!(ours, fs::read_to_string(one.with_extension("fa.fai")).ok());
        let copy = dirs.cache.path().join(format!("s{cases}.fa"));
        fs::write(&copy, &data).unwrap();
        let samtools = std::process::Command::new("samtools")
            .arg("faidx")
            .arg(&copy)
            .output()
            .unwrap();
        let theirs = fs::read_to_string(copy.with_extension("fa.fai"))
            .ok()
            .filter(|_| samtools.status.success());
        if let Some(ours) = &ours {
            compared += 1;
            assert_eq!(Some(ours), theirs.as_ref(), "{split:?}\n{shown}");
        }
    }
    assert!(compared > 30, "{compared} compared with samtools");
}
