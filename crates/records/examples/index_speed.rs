//! Measures how fast a data file is indexed: `index_speed <format> <file>` removes the
//! file's indexes, opens a catalog over it (building them), then opens it again
//! (reusing them) and streams its entries, then reads every record by its key with a
//! `Reader` (three rounds, the time per record). `INDEX_ONLY=1`: the build only.

use std::path::PathBuf;
use std::time::Instant;

use polyplug_records::{Catalog, Reader, RecordFormat, RecordSource};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, format, file] = &args[..] else {
        return Err("usage: index_speed <format> <file>".into());
    };
    let format = RecordFormat::parse(format).ok_or("unknown format")?;
    let path = PathBuf::from(file);
    for ext in ["fai", "ppi"] {
        let _ = std::fs::remove_file(format!("{file}.{ext}"));
    }
    let source = RecordSource {
        format,
        files: vec![path.clone()],
        id_column: None,
    };
    let cache = std::env::temp_dir().join("index_speed_cache");
    let size = std::fs::metadata(&path)?.len() as f64 / 1e6;
    let t = Instant::now();
    let catalog = Catalog::open(&source, &cache, &mut |n| println!("note: {n}"))?;
    let build = t.elapsed().as_secs_f64();
    println!("build: {build:.3} s, {:.0} MB/s", size / build);
    if std::env::var_os("INDEX_ONLY").is_some() {
        return Ok(());
    }
    let t = Instant::now();
    let catalog2 = Catalog::open(&source, &cache, &mut |n| println!("note: {n}"))?;
    println!("reopen: {:.3} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let mut n = 0u64;
    for e in catalog2.entries()? {
        e?;
        n += 1;
    }
    println!("stream {n} entries: {:.3} s", t.elapsed().as_secs_f64());
    // The keys first, so that only the reads are timed.
    let keys: Vec<_> = catalog
        .entries()?
        .map(|e| e.map(|e| (e.key(), e.name)))
        .collect::<Result<_, _>>()?;
    let mut reader = Reader::open(&source);
    for round in 0..3 {
        let t = Instant::now();
        let mut bytes = 0usize;
        for (key, name) in &keys {
            bytes += reader.read(key, name)?.bytes.len();
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "read all ({bytes} bytes), round {round}: {s:.3} s, {:.0} ns per record",
            s * 1e9 / keys.len().max(1) as f64
        );
    }
    Ok(())
}
