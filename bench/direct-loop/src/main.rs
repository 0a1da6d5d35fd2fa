//! The limit a host can reach: read IDs, call the plugin's function, write the TSV,
//! in one thread, with no plugin boundary. Usage: `direct-loop <idsfile> <out.tsv>`.

use std::io::{BufRead, BufWriter, Write};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: direct-loop <idsfile> <out.tsv>");
        std::process::exit(2);
    }
    let input = std::io::BufReader::new(std::fs::File::open(&args[1])?);
    let mut out = BufWriter::new(std::fs::File::create(&args[2])?);
    for line in input.lines() {
        let line = line?;
        let id = line.trim_end();
        let (len, gc) = id_stats::stats(id);
        writeln!(out, "{id}\t{len}\t{gc}")?;
    }
    out.flush()
}
