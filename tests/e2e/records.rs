//! Records mode (`run <plugin> records <format> <file>...`): every format reaches
//! every plugin kind with its bytes and fields; indexes are made once, reused,
//! invalidated by a change; shards split by bytes and merge back; bad input.

use crate::wasm::wasm;
use polyplug_e2e::{eqnice, plugin_lib, repo_root, Run, TestDir};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The bundled multi-record FASTA of the examples.
fn genomes() -> PathBuf {
    repo_root().join("examples-plugins/data/genomes.fa")
}

fn defs() -> PathBuf {
    repo_root().join("examples-plugins/attribute_definitions.yaml")
}

/// `polyplug` in `t` with its own cache folder (compiled source plugins, indexes of
/// read-only folders).
fn cmd(t: &TestDir) -> Command {
    let mut c = t.cmd();
    c.env("POLYPLUG_CACHE", t.join("cache"));
    c
}

/// fas_stats' rows for each record of a FASTA text, computed here: the header's first
/// word, the sequence letters (whitespace excluded) and the G/C share, as Python
/// writes a float; records without letters have no row.
fn fas_stats_rows(fasta: &str) -> String {
    let mut rows = String::new();
    let flush = |name: &Option<String>, size: u64, gc: u64, rows: &mut String| {
        if let Some(n) = name {
            if size > 0 {
                // As Python writes a float: `0.0`, not `0`.
                let share = gc as f64 / size as f64;
                let share = if share.fract() == 0.0 {
                    format!("{share:.1}")
                } else {
                    format!("{share}")
                };
                rows.push_str(&format!("{n}\t{size}\t{share}\n"));
            }
        }
    };
    let (mut name, mut size, mut gc) = (None, 0u64, 0u64);
    for line in fasta.lines() {
        if let Some(h) = line.strip_prefix('>') {
            flush(&name, size, gc, &mut rows);
            name = Some(h.split_whitespace().next().unwrap_or("").to_string());
            (size, gc) = (0, 0);
            continue;
        }
        for b in line.bytes().filter(|b| !b.is_ascii_whitespace()) {
            size += 1;
            gc += u64::from(matches!(b, b'G' | b'C' | b'g' | b'c'));
        }
    }
    flush(&name, size, gc, &mut rows);
    rows
}

/// The `.fai` samtools writes for a FASTA text whose records have lines of one width.
fn fai_of(fasta: &str) -> String {
    let mut fai = String::new();
    let mut at = 0usize;
    let mut rec: Option<(String, usize, usize, usize)> = None; // name, length, offset, width
    let end = |rec: &Option<(String, usize, usize, usize)>, fai: &mut String| {
        if let Some((n, len, off, w)) = rec {
            fai.push_str(&format!("{n}\t{len}\t{off}\t{w}\t{}\n", w + 1));
        }
    };
    for line in fasta.split_inclusive('\n') {
        let text = line.trim_end_matches('\n');
        if let Some(h) = text.strip_prefix('>') {
            end(&rec, &mut fai);
            let name = h.split_whitespace().next().unwrap_or("").to_string();
            rec = Some((name, 0, at + line.len(), 0));
        } else if let Some((_, len, _, w)) = rec.as_mut() {
            if *w == 0 {
                *w = text.len();
            }
            *len += text.len();
        }
        at += line.len();
    }
    end(&rec, &mut fai);
    fai
}

#[test]
fn fas_stats_over_the_records_of_a_fasta_in_every_language() {
    let t = TestDir::new();
    let text = std::fs::read_to_string(genomes()).expect("the bundled FASTA");
    t.write("genomes.fa", &text);
    let expected = fas_stats_rows(&text);
    assert_eq!(expected.lines().count(), 6, "{expected}");
    // A record without sequence letters has no result, and a log saying so.
    t.write("empty.fa", ">none\n>some\nACGT\n");
    let examples = repo_root().join("examples-plugins");
    let plugins = [
        plugin_lib("fas_stats_rust"),
        plugin_lib("fas_stats_c"),
        examples.join("python/fas_stats.py"),
        examples.join("bash/fas_stats.sh"),
        examples.join("nim/fas_stats.nim"),
        wasm("fas_stats_wasm_c"),
        wasm("fas_stats_wasm_rust"),
    ];
    for (i, plugin) in plugins.iter().enumerate() {
        let log = format!("log{i}.tsv");
        let r = Run::of(
            cmd(&t)
                .arg("run")
                .arg(plugin)
                .args([
                    "records",
                    "fasta",
                    "genomes.fa",
                    "-j1",
                    "-r",
                    "r.yaml",
                    "-l",
                ])
                .arg(&log)
                .arg("--defs")
                .arg(defs()),
        )
        .ok()
        .no_panic();
        eqnice!(expected, r.stdout);
        eqnice!("", t.read(&log));
        assert!(
            r.stderr
                .contains("finalize: processed 6 records, 1085 sequence letters"),
            "{}: {}",
            plugin.display(),
            r.stderr
        );
        // The standard index, written next to the data by the first run only.
        if i == 0 {
            assert!(
                r.stderr.contains("genomes.fa: indexed 6 records"),
                "{}",
                r.stderr
            );
        } else {
            assert!(!r.stderr.contains("indexed"), "{}", r.stderr);
        }
    }
    eqnice!(fai_of(&text), t.read("genomes.fa.fai"));
    for plugin in &plugins {
        let r = Run::of(cmd(&t).arg("run").arg(plugin).args([
            "records", "fasta", "empty.fa", "-r", "r.yaml", "-l", "e.tsv",
        ]))
        .ok();
        eqnice!("some\t4\t0.5\n", r.stdout);
        eqnice!(
            "none\tgenome_size\tno sequence letters in the record\n",
            t.read("e.tsv")
        );
        std::fs::remove_file(t.join("e.tsv")).expect("remove the log");
    }
}

/// One small file of each format, and the row the probe plugins give for each of its
/// records: `<id>\t<bytes of the record>\t<fields as name=value;...>` (a line break
/// inside a value is written `\n`).
fn probe_inputs(t: &TestDir) -> Vec<(&'static str, &'static str, String)> {
    let jsonl = "{\"id\":\"j1\",\"n\":3,\"tags\":[\"a\",\"b\"]}\n\n{\"id\":\"j2\",\"n\":4.5,\"s\":\"x y\"}\n";
    t.write("data.fa", ">r1 first one\nACGT\nAC\n>r2\nGGGG\n");
    t.write("data.fq", "@q1 read one\nACGT\n+\nIIII\n@q2\nGG\n+q2\nHH\n");
    t.write("data.txt", "alpha\n\n  \nbeta gamma\n");
    t.write("data.jsonl", jsonl);
    t.write(
        "data.csv",
        "sample,count,note\ns1,10,\"a, quoted\"\r\ns2,20,\"multi\nline\"\n",
    );
    t.write("data.tsv", "sample\tcount\n\ns1\t10\ns2\t20");
    let j1 = jsonl.lines().next().unwrap_or_default().len();
    let j2 = jsonl.lines().nth(2).unwrap_or_default().len();
    vec![
        (
            "fasta",
            "data.fa",
            "r1\t21\tdescription=first one;sequence=ACGTAC\n\
             r2\t8\tdescription=;sequence=GGGG\n"
                .into(),
        ),
        (
            "fastq",
            "data.fq",
            "q1\t24\tdescription=read one;sequence=ACGT;quality=IIII\n\
             q2\t13\tdescription=;sequence=GG;quality=HH\n"
                .into(),
        ),
        (
            "lines",
            "data.txt",
            "data.txt:1\t5\t\ndata.txt:4\t10\t\n".into(),
        ),
        (
            "jsonl",
            "data.jsonl",
            format!("j1\t{j1}\tid=j1;n=3;tags=[\"a\",\"b\"]\nj2\t{j2}\tid=j2;n=4.5;s=x y\n"),
        ),
        (
            "csv",
            "data.csv",
            "s1\t17\tsample=s1;count=10;note=a, quoted\n\
             s2\t18\tsample=s2;count=20;note=multi\\nline\n"
                .into(),
        ),
        (
            "tsv",
            "data.tsv",
            "s1\t5\tsample=s1;count=10\ns2\t5\tsample=s2;count=20\n".into(),
        ),
    ]
}

pub(crate) const PROBE_PY: &str = "ID = 'record_probe_py'\nVERSION = '1'\nINPUT = 'a record'\n\
OUTPUT = ['n_bytes', 'fields']\n\n\
def compute(r, **kw):\n    \
    assert isinstance(r, str) and r == r.name, r\n    \
    return [len(r.data), ';'.join(f'{k}={v}' for k, v in r.fields.items())], []\n";

const PROBE_SH: &str = r#"ID=record_probe_sh
VERSION=1
INPUT="a record"
OUTPUT=( n_bytes fields )
compute() {
  local f=$1 n joined="" k v
  [[ -n $POLYPLUG_RECORD_ID ]] || return 3
  n=$(wc -c < "$f")
  for k in "${POLYPLUG_FIELD_NAMES[@]}"; do
    v=${POLYPLUG_FIELDS[$k]}
    joined+="${joined:+;}$k=${v//$'\n'/\\n}"
  done
  printf '%s\t%s\n' "$n" "$joined"
}
"#;

pub(crate) const PROBE_C: &str = r#"#include <stdlib.h>
#include <string.h>
#include "polyplug.h"
static int32_t compute(void *st, const char *e, size_t len, const pp_call *call) {
    (void)st; (void)e; (void)len;
    size_t n;
    const uint8_t *record = pp_record(call, &n);
    if (!record) return pp_error(call, "not a record");
    char joined[4096];
    size_t at = 0;
    for (size_t i = 0; i < call->n_fields; i++) {
        const pp_field *f = &call->fields[i];
        if (i > 0) joined[at++] = ';';
        memcpy(joined + at, f->name.ptr, f->name.len); at += f->name.len;
        joined[at++] = '=';
        memcpy(joined + at, f->value.ptr, f->value.len); at += f->value.len;
    }
    pp_push_int(call, (int64_t)n);
    pp_push_strn(call, joined, at);
    return PP_OK;
}
static const char *outputs[] = {"n_bytes", "fields"};
static const pp_plugin plugin = {
    .abi_version = POLYPLUG_ABI_VERSION, .struct_size = sizeof(pp_plugin),
    .id = "record_probe_c", .version = "1", .input = "a record",
    .output = outputs, .n_output = 2, .compute = compute,
};
POLYPLUG_EXPORT const pp_plugin *polyplug_plugin(void) { return &plugin; }
"#;

const PROBE_RS: &str = r#"use polyplug_sdk::{export_plugin, Error, Output, Params, Plugin, Record};
pub struct Probe;
impl Plugin for Probe {
    const ID: &'static str = "record_probe_rs";
    const VERSION: &'static str = "1";
    const INPUT: &'static str = "a record";
    const OUTPUT: &'static [&'static str] = &["n_bytes", "fields"];
    fn initialize(_p: &Params) -> Result<Self, Error> { Ok(Probe) }
    fn compute(&mut self, _e: &str, _p: &Params, _o: &mut Output) -> Result<(), Error> {
        Err(Error::new("not a record"))
    }
    fn compute_record(&mut self, _e: &str, r: &Record<'_>, _p: &Params, out: &mut Output)
        -> Result<(), Error> {
        let joined: Vec<String> = r.fields().map(|(k, v)| format!("{k}={v}")).collect();
        out.push(r.bytes().len() as i64);
        out.push(joined.join(";").as_str());
        Ok(())
    }
}
export_plugin!(Probe);
"#;

const PROBE_NIM: &str = r#"import polyplug
const
  ID* = "record_probe_nim"
  VERSION* = "1"
  INPUT* = "a record"
  OUTPUT* = ["n_bytes", "fields"]
proc compute(entity: string, params: Params): Computed =
  if not params.hasRecord: raise newException(ValueError, "not a record")
  var joined = ""
  for (k, v) in params.fields:
    if joined.len > 0: joined.add ';'
    joined.add k & "=" & v
  result.add params.record.len
  result.add joined
exportPlugin()
"#;

#[test]
fn every_format_reaches_every_plugin_kind() {
    let t = TestDir::new();
    let inputs = probe_inputs(&t);
    let probes = [
        t.write("probe.py", PROBE_PY),
        t.write("probe.sh", PROBE_SH),
        t.compile_c("probe_c", PROBE_C),
        t.write("probe_rs.rs", PROBE_RS),
        t.write("probe_nim.nim", PROBE_NIM),
        wasm("record_probe"),
    ];
    for probe in &probes {
        for (format, file, expected) in &inputs {
            for jobs in ["-j1", "-j2"] {
                let r = Run::of(
                    cmd(&t)
                        .arg("run")
                        .arg(probe)
                        .args(["records", format, file, jobs, "-r", "r.yaml"]),
                )
                .no_panic();
                assert_eq!(
                    r.code,
                    0,
                    "{} {format} {jobs}: {}",
                    probe.display(),
                    r.stderr
                );
                eqnice!(expected, r.stdout);
            }
        }
    }
    // Python in the polyplug process (--in-process) gets the same records.
    for (format, file, expected) in &inputs {
        let r = Run::of(cmd(&t).args([
            "run",
            "probe.py",
            "records",
            format,
            file,
            "--in-process",
            "-j1",
            "-r",
            "r.yaml",
        ]))
        .ok();
        eqnice!(expected, r.stdout);
    }
}

/// The probe over `data.fa` with `-o out.tsv`, its run's stderr.
fn probe_run(t: &TestDir, file: &str, format: &str) -> Run {
    Run::of(cmd(t).args([
        "run", "probe.py", "records", format, file, "-o", "out.tsv", "-r", "r.yaml",
    ]))
    .ok()
}

fn mtime(p: &Path) -> std::time::SystemTime {
    std::fs::metadata(p)
        .and_then(|m| m.modified())
        .expect("index mtime")
}

#[test]
fn an_index_is_reused_invalidated_by_a_change_and_never_taken_from_another_file() {
    let t = TestDir::new();
    t.write("probe.py", PROBE_PY);
    t.write("data.fa", ">a\nAC\n>b\nGG\n");
    t.write("table.csv", "id,x\nr1,1\nr2,2\n");
    let first = probe_run(&t, "data.fa", "fasta");
    assert!(
        first.stderr.contains("data.fa: indexed 2 records"),
        "{}",
        first.stderr
    );
    let fai = t.join("data.fa.fai");
    let made = mtime(&fai);
    // The next run reuses it: nothing indexed, nothing computed again.
    let again = probe_run(&t, "data.fa", "fasta");
    assert!(!again.stderr.contains("indexed"), "{}", again.stderr);
    assert_eq!(mtime(&fai), made);
    assert!(
        t.read("r.yaml").contains("n_skipped: 2"),
        "{}",
        t.read("r.yaml")
    );
    // A changed file: indexed again; only the new record is computed.
    std::thread::sleep(std::time::Duration::from_millis(20));
    t.write("data.fa", ">a\nAC\n>b\nGG\n>c\nTTTA\n");
    let changed = probe_run(&t, "data.fa", "fasta");
    assert!(
        changed.stderr.contains(
            "data.fa: the file changed since its index data.fa.fai was made; indexed again: 3 \
             records"
        ),
        "{}",
        changed.stderr
    );
    eqnice!(
        "a\t5\tdescription=;sequence=AC\nb\t5\tdescription=;sequence=GG\n\
         c\t7\tdescription=;sequence=TTTA\n",
        t.read("out.tsv")
    );
    // The index of another FASTA, put in place of this one's, is not used.
    t.write("other.fa", ">zz\nACGTACGTAAAA\n>yy\nC\n");
    Run::of(cmd(&t).args([
        "run", "probe.py", "records", "fasta", "other.fa", "-r", "r.yaml",
    ]))
    .ok();
    std::fs::copy(t.join("other.fa.fai"), &fai).expect("copy an index");
    let fresh = Run::of(cmd(&t).args([
        "run", "probe.py", "records", "fasta", "data.fa", "-r", "r.yaml",
    ]))
    .ok();
    eqnice!(
        "a\t5\tdescription=;sequence=AC\nb\t5\tdescription=;sequence=GG\n\
         c\t7\tdescription=;sequence=TTTA\n",
        fresh.stdout
    );
    assert!(fresh.stderr.contains("3 records ("), "{}", fresh.stderr);
    // polyplug's own index (other formats) the same way.
    let csv = probe_run(&t, "table.csv", "csv");
    assert!(
        csv.stderr.contains("table.csv: indexed 2 records"),
        "{}",
        csv.stderr
    );
    assert!(t.join("table.csv.ppi").is_file());
    let csv = probe_run(&t, "table.csv", "csv");
    assert!(!csv.stderr.contains("indexed"), "{}", csv.stderr);
    t.write("table.csv", "id,x\nr1,1\nr2,2\nr3,3\n");
    let csv = probe_run(&t, "table.csv", "csv");
    assert!(csv.stderr.contains("3 records ("), "{}", csv.stderr);
    // Another ID column is another index.
    let by_x = Run::of(cmd(&t).args([
        "run",
        "probe.py",
        "records",
        "csv",
        "table.csv",
        "--id-column",
        "x",
        "-r",
        "r.yaml",
    ]))
    .ok();
    eqnice!(
        "1\t4\tid=r1;x=1\n2\t4\tid=r2;x=2\n3\t4\tid=r3;x=3\n",
        by_x.stdout
    );
}

#[test]
fn a_read_only_data_folder_gets_its_index_in_the_cache() {
    let t = TestDir::new();
    // A folder every user may enter, with data only its owner may change.
    let open = t.join("open");
    std::fs::create_dir_all(open.join("data")).expect("folders");
    std::fs::write(open.join("data/ro.fa"), ">a\nACGT\n>b\nGG\n").expect("data");
    std::fs::write(open.join("probe.py"), PROBE_PY).expect("probe");
    std::fs::create_dir_all(open.join("cache")).expect("cache");
    let chmod = |p: &Path, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    chmod(t.path(), 0o755);
    chmod(&open, 0o755);
    chmod(&open.join("data"), 0o555);
    chmod(&open.join("cache"), 0o777);
    let root = crate::store::is_root();
    let mut c = if root {
        // root writes anywhere: the run is made by an ordinary user.
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--"])
            .arg(polyplug_e2e::polyplug_bin());
        c
    } else {
        Command::new(polyplug_e2e::polyplug_bin())
    };
    c.current_dir(&open)
        .env("POLYPLUG_STORE", "none")
        .env("POLYPLUG_CACHE", open.join("cache"))
        .env("HOME", open.join("cache"))
        .args(["run", "probe.py", "records", "fasta", "data/ro.fa", "-j1"]);
    let r = Run::of(&mut c).ok();
    eqnice!(
        "a\t7\tdescription=;sequence=ACGT\nb\t5\tdescription=;sequence=GG\n",
        r.stdout
    );
    assert!(!open.join("data/ro.fa.fai").exists());
    let cached: Vec<String> = walk(&open.join("cache"))
        .into_iter()
        .filter(|p| p.ends_with(".fai"))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}\n{}", r.stderr);
    assert!(r.stderr.contains("indexed 2 records"), "{}", r.stderr);
    // The next run finds it there.
    let again = Run::of(&mut c).ok();
    assert!(!again.stderr.contains("indexed"), "{}", again.stderr);
    chmod(&open.join("data"), 0o755);
}

fn walk(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            found.extend(walk(&p));
        } else {
            found.push(p.display().to_string());
        }
    }
    found
}

/// A FASTA of `n` records of varied sizes.
fn many_records(n: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(">rec{i} number {i}\n"));
        let len = 1 + (i * 37) % 170;
        let seq: String = (0..len).map(|k| b"ACGTTGCA"[(i + k) % 8] as char).collect();
        for chunk in seq.as_bytes().chunks(60) {
            text.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            text.push('\n');
        }
    }
    text
}

#[test]
fn shards_split_by_bytes_cover_every_record_once_and_merge_to_the_single_run() {
    let t = TestDir::new();
    let text = many_records(300);
    t.write("many.fa", &text);
    let c_lib = plugin_lib("fas_stats_c");
    let run = |extra: &[&str]| {
        let mut c = cmd(&t);
        c.arg("run")
            .arg(&c_lib)
            .args(["records", "fasta", "many.fa"]);
        if !extra.contains(&"--run-dir") {
            c.args(["-r", "r.yaml"]);
        }
        Run::of(c.args(extra)).ok()
    };
    let single = run(&[]).stdout;
    eqnice!(fas_stats_rows(&text), single);
    for n in [2, 3, 5] {
        let mut parts: Vec<String> = Vec::new();
        let mut sizes = Vec::new();
        for i in 0..n {
            let part = run(&["--shard", &format!("{i}/{n}")]).stdout;
            sizes.push(part.lines().count());
            parts.extend(part.lines().map(String::from));
        }
        // Contiguous byte ranges: the shards' rows, one after the other, are the
        // single run's.
        eqnice!(single, parts.join("\n") + "\n");
        assert!(sizes.iter().all(|s| *s > 300 / n / 2), "{sizes:?}");
    }
    for i in 0..3 {
        run(&["--shard", &format!("{i}/3"), "--run-dir", "rd"]);
    }
    Run::of(cmd(&t).args(["merge", "rd", "-o", "merged.tsv", "--no-store"])).ok();
    eqnice!(single, t.read("merged.tsv"));
    // The lines format names records by the file as given: merged alike.
    t.write("probe.py", PROBE_PY);
    t.write("notes.txt", "one\ntwo\n\nthree\nfour\nfive\n");
    let lines = |extra: &[&str]| {
        let mut c = cmd(&t);
        c.args(["run", "probe.py", "records", "lines", "notes.txt"]);
        if extra.is_empty() {
            c.args(["-r", "r.yaml"]);
        }
        Run::of(c.args(extra)).ok().stdout
    };
    let whole = lines(&[]);
    for i in 0..2 {
        lines(&["--shard", &format!("{i}/2"), "--run-dir", "lines"]);
    }
    Run::of(cmd(&t).args(["merge", "lines", "-o", "lines.tsv", "--no-store"])).ok();
    eqnice!(whole, t.read("lines.tsv"));
    assert!(whole.starts_with("notes.txt:1\t3\t\n"), "{whole}");
}

#[test]
fn a_rerun_skips_what_the_store_has() {
    let t = TestDir::new();
    t.write(
        "genomes.fa",
        std::fs::read(genomes()).expect("the bundled FASTA"),
    );
    let run = || {
        Run::of(cmd(&t).arg("run").arg(plugin_lib("fas_stats_rust")).args([
            "records",
            "fasta",
            "genomes.fa",
            "--store",
            "s.db",
            "-r",
            "r.yaml",
        ]))
        .ok()
    };
    let first = run();
    assert_eq!(first.stdout.lines().count(), 6);
    let again = run();
    eqnice!("", again.stdout);
    let report = t.read("r.yaml");
    assert!(report.contains("n_units: 0"), "{report}");
    assert!(report.contains("n_skipped: 6"), "{report}");
    let q = Run::of(cmd(&t).args(["query", "--store", "s.db", "-a", "genome_size"])).ok();
    assert!(q.stdout.contains("chr1\tgenome_size\t300"), "{}", q.stdout);
}

#[test]
fn repeated_names_are_refused_with_their_lines_or_numbered() {
    let t = TestDir::new();
    t.write("probe.py", PROBE_PY);
    t.write("dup.fa", ">r1 x\nAC\n>r2\nG\n>r1 y\nACGT\n>r1\nT\n");
    let refused = Run::of(cmd(&t).args(["run", "probe.py", "records", "fasta", "dup.fa"]))
        .code(2)
        .stderr_has("dup.fa: 1 ID appears more than once: \"r1\" (dup.fa:1, dup.fa:5, dup.fa:7)")
        .stderr_has("--allow-duplicate-ids");
    eqnice!("", refused.stdout);
    let numbered = Run::of(cmd(&t).args([
        "run",
        "probe.py",
        "records",
        "fasta",
        "dup.fa",
        "--allow-duplicate-ids",
        "-r",
        "r.yaml",
    ]))
    .ok();
    eqnice!(
        "r1\t8\tdescription=x;sequence=AC\nr2\t5\tdescription=;sequence=G\n\
         r1#2\t10\tdescription=y;sequence=ACGT\nr1#3\t5\tdescription=;sequence=T\n",
        numbered.stdout
    );
}

#[test]
fn damaged_records_fail_alone_and_line_endings_do_not_matter() {
    let t = TestDir::new();
    t.write("probe.py", PROBE_PY);
    // A FASTQ whose last record is cut short: it fails, the others are computed.
    t.write("cut.fq", "@a\nACGT\n+\nIIII\n@b\nGG\n+\nHH\n@c\nACG\n");
    let r = Run::of(cmd(&t).args([
        "run", "probe.py", "records", "fastq", "cut.fq", "-l", "log.tsv", "-r", "r.yaml",
    ]))
    .code(1);
    eqnice!(
        "a\t14\tdescription=;sequence=ACGT;quality=IIII\nb\t10\tdescription=;sequence=GG;quality=HH\n",
        r.stdout
    );
    let log = t.read("log.tsv");
    assert!(log.starts_with("c\terror: "), "{log}");
    assert!(log.contains("truncated"), "{log}");
    // Windows line endings: the same IDs, bytes and fields as without.
    t.write("crlf.fa", ">r1 d\r\nACGT\r\nAC\r\n>r2\r\n\r\n>r3\r\nG\r\n");
    let r = Run::of(cmd(&t).args([
        "run", "probe.py", "records", "fasta", "crlf.fa", "-r", "r.yaml",
    ]))
    .ok();
    eqnice!(
        "r1\t15\tdescription=d;sequence=ACGTAC\nr2\t3\tdescription=;sequence=\n\
         r3\t6\tdescription=;sequence=G\n",
        r.stdout
    );
    t.write("crlf.tsv", "name\tv\r\nx\t1\r\ny\t2\r\n");
    let r = Run::of(cmd(&t).args([
        "run", "probe.py", "records", "tsv", "crlf.tsv", "-r", "r.yaml",
    ]))
    .ok();
    eqnice!("x\t3\tname=x;v=1\ny\t3\tname=y;v=2\n", r.stdout);
    // A CSV with a header and no rows has no records.
    t.write("empty.csv", "a,b\n");
    let r = Run::of(cmd(&t).args([
        "run",
        "probe.py",
        "records",
        "csv",
        "empty.csv",
        "-r",
        "r.yaml",
    ]))
    .ok();
    eqnice!("", r.stdout);
    assert!(t.read("r.yaml").contains("n_units: 0"));
    // A row without the ID column fails alone.
    t.write("short.csv", "a,b,c\nx,1,2\ny\nz,3,4\n");
    let r = Run::of(cmd(&t).args([
        "run",
        "probe.py",
        "records",
        "csv",
        "short.csv",
        "-l",
        "log.tsv",
        "-r",
        "r.yaml",
    ]))
    .code(1);
    eqnice!("x\t5\ta=x;b=1;c=2\nz\t5\ta=z;b=3;c=4\n", r.stdout);
    let log = t.read("log.tsv");
    assert!(
        log.contains("short.csv: the row 'y' has 1 field, the header 3"),
        "{log}"
    );
}

#[test]
fn a_file_changed_during_the_run_fails_its_records_and_records_nothing_wrong() {
    let t = TestDir::new();
    t.write("data.fa", ">a\nAAAA\n>b\nCCCC\n>c\nGGGG\n");
    // The plugin rewrites the data file while computing the first record.
    t.write(
        "rewrite.py",
        "ID = 'rewrite'\nVERSION = '1'\nINPUT = 'a record'\nOUTPUT = ['seq']\n\n\
         def compute(r, **kw):\n    \
             if r == 'a':\n        \
                 open('data.fa', 'w').write('>x\\nTTTT\\n>y\\nTTTT\\n>z\\nTTTT\\n')\n    \
             return [r.fields['sequence']], []\n",
    );
    let r = Run::of(cmd(&t).args([
        "run",
        "rewrite.py",
        "records",
        "fasta",
        "data.fa",
        "-j1",
        "-o",
        "out.tsv",
        "-l",
        "log.tsv",
        "-r",
        "r.yaml",
    ]))
    .code(1);
    eqnice!("a\tAAAA\n", t.read("out.tsv"));
    let log = t.read("log.tsv");
    for id in ["b", "c"] {
        assert!(
            log.lines()
                .any(|l| l.starts_with(&format!("{id}\terror: ")) && l.contains("changed")),
            "{log}\n{}",
            r.stderr
        );
    }
}

#[test]
fn records_arguments_are_checked_before_any_work() {
    let t = TestDir::new();
    t.write("probe.py", PROBE_PY);
    t.write("t.csv", "name,v\nx,1\n");
    t.write("t.fa", ">a\nAC\n");
    let fails = |args: &[&str], text: &str| {
        let r = Run::of(cmd(&t).args(["run", "probe.py"]).args(args))
            .code(2)
            .stderr_has(text)
            .no_panic();
        eqnice!("", r.stdout);
    };
    fails(
        &["records", "xml", "t.csv"],
        "'xml' is not a records format: give one of fasta, fastq, lines, jsonl, csv, tsv",
    );
    fails(&["records", "csv"], "records mode needs at least one file");
    fails(
        &["records", "csv", "t.csv", "--id-column", "nope"],
        "t.csv: there is no column 'nope' (it has: name, v): give one of them with --id-column",
    );
    fails(
        &["records", "fasta", "t.fa", "--id-column", "x"],
        "--id-column is for the csv, tsv and jsonl formats",
    );
    fails(&["records", "fasta", "missing.fa"], "missing.fa");
    fails(&["records", "fastq", "t.fa"], "t.fa");
    fails(
        &["ids", "t.csv", "--id-column", "x"],
        "--id-column is for records mode",
    );
    fails(&["ids", "t.csv", "1", "2"], "unexpected argument '2'");
}

#[test]
fn compressed_files_give_the_same_records() {
    let t = TestDir::new();
    let text = many_records(120);
    t.write("plain.fa", &text);
    let sh = |script: &str| {
        let status = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(t.path())
            .status()
            .expect("run sh");
        assert!(status.success(), "{script}");
    };
    // bgzip is in Debian's tabix (tests/run-all.sh installs it).
    sh("gzip -c plain.fa > gz.fa.gz && bgzip -c plain.fa > bgzf.fa.gz");
    let c_lib = plugin_lib("fas_stats_c");
    let run = |file: &str, extra: &[&str]| {
        Run::of(
            cmd(&t)
                .arg("run")
                .arg(&c_lib)
                .args(["records", "fasta", file, "-r", "r.yaml"])
                .args(extra),
        )
        .ok()
    };
    let expected = fas_stats_rows(&text);
    eqnice!(expected, run("plain.fa", &[]).stdout);
    // BGZF: read by uncompressed range through its .gzi; samtools' .fai.
    let bgzf = run("bgzf.fa.gz", &[]);
    eqnice!(expected, bgzf.stdout);
    assert!(t.join("bgzf.fa.gz.gzi").is_file() && t.join("bgzf.fa.gz.fai").is_file());
    eqnice!(t.read("plain.fa.fai"), t.read("bgzf.fa.gz.fai"));
    let mut parts = String::new();
    for i in 0..3 {
        parts.push_str(&run("bgzf.fa.gz", &["--shard", &format!("{i}/3")]).stdout);
    }
    eqnice!(expected, parts);
    // Plain gzip: streamed from the start, and a note says so.
    let gz = run("gz.fa.gz", &[]);
    eqnice!(expected, gz.stdout);
    assert!(
        gz.stderr
            .contains("it is gzip but not BGZF, so it cannot be read by range"),
        "{}",
        gz.stderr
    );
    let mut parts = String::new();
    for i in 0..2 {
        parts.push_str(&run("gz.fa.gz", &["--shard", &format!("{i}/2")]).stdout);
    }
    eqnice!(expected, parts);
    // A Python plugin in its worker process gets the records of both.
    t.write("probe.py", PROBE_PY);
    let rows = |file: &str| {
        Run::of(cmd(&t).args([
            "run", "probe.py", "records", "fasta", file, "-j2", "-r", "r.yaml",
        ]))
        .ok()
        .stdout
    };
    let plain = rows("plain.fa");
    eqnice!(plain, rows("bgzf.fa.gz"));
    eqnice!(plain, rows("gz.fa.gz"));
}

#[test]
fn the_index_command_indexes_ahead_of_a_run() {
    let t = TestDir::new();
    t.write("a.fa", ">x\nAC\n>y\nG\n");
    t.write("b.csv", "id,v\nr1,1\n");
    let r = Run::of(cmd(&t).args(["index", "fasta", "a.fa"]))
        .ok()
        .stderr_has("a.fa: indexed 2 records");
    eqnice!("a.fa\t2 records\ta.fa.fai\n", r.stdout);
    let again = Run::of(cmd(&t).args(["index", "fasta", "a.fa"])).ok();
    eqnice!("", again.stderr);
    eqnice!(r.stdout, again.stdout);
    let csv = Run::of(cmd(&t).args(["index", "csv", "b.csv", "--id-column", "v"])).ok();
    eqnice!("b.csv\t1 record\tb.csv.ppi\n", csv.stdout);
    Run::of(cmd(&t).args(["index", "xml", "a.fa"]))
        .code(2)
        .stderr_has("'xml' is not a records format");
    Run::of(cmd(&t).args(["index", "fastq", "a.fa"]))
        .code(2)
        .stderr_has("a.fa");
}
