//! The limit of records mode: read every record of a FASTA file with noodles (the
//! library polyplug uses for the format), compute the `id_stats` plugin's function on
//! each record's name and write the TSV, in one thread, with no host. Usage:
//! `records-loop <fasta> <out.tsv>`.

use std::io::{BufWriter, Write};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: records-loop <fasta> <out.tsv>");
        std::process::exit(2);
    }
    let file = std::fs::File::open(&args[1])?;
    let mut reader =
        noodles_fasta::io::Reader::new(std::io::BufReader::with_capacity(1 << 20, file));
    let mut out = BufWriter::new(std::fs::File::create(&args[2])?);
    for record in reader.records() {
        let record = record?;
        let name = String::from_utf8_lossy(record.name());
        let (len, gc) = id_stats::stats(&name);
        writeln!(out, "{name}\t{len}\t{gc}")?;
    }
    out.flush()
}
