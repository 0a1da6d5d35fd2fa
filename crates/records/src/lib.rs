//! Records mode: the records inside files, indexed once and read by byte range.
//!
//! `polyplug run <plugin> records <format> <file>...` computes a plugin over the
//! records inside files: the sequences of a FASTA or FASTQ file, the non-blank lines of
//! a text file, the objects of a JSON-lines file, the rows of a CSV or TSV file. A work
//! unit is a small key ([`RecordRef::InFile`]: file, byte offset, length) and whoever
//! computes it reads the record itself, so nothing large travels through the host.
//!
//! The host opens a [`Catalog`]: every file's record offsets are computed once into an
//! index stored next to the data (or in the cache folder when the data's folder is
//! read-only) and reused by every later run, shard and resume while the file is
//! unchanged. FASTA files get the standard samtools `.fai` (the same bytes
//! `samtools faidx` writes; an existing one is reused when it describes the file);
//! every other file, and a FASTA file a `.fai` cannot describe, gets polyplug's
//! `.ppi` (its format is documented in `ppi.rs`). The catalog streams the records
//! ([`Catalog::entries`]), or one byte-balanced shard's ([`Catalog::shard_entries`],
//! [`byte_shard`]), without holding an index in memory.
//!
//! Workers hold a [`Reader`], which reads a record by its key with one positional
//! read, checks it is still the record the index named, and gives its bytes and
//! fields ([`Record`]).
//!
//! Compressed files: a BGZF file (`bgzip`) is read by uncompressed byte ranges through
//! its `.gzi` (found, or written as `bgzip -r` would), and its index holds
//! uncompressed offsets (a BGZF FASTA gets the `.fai` samtools would write). A plain
//! gzip file cannot be read by range: it is indexed like the others, but
//! [`Catalog::entries`] decompresses it alongside and gives each record itself
//! ([`Entry::held`]), from the start for every shard and resume.
//!
//! The modules: `catalog` and `opener` (a run's files and their indexes), `entries`
//! (streaming, shards), `reader` (by key) and `fasta_record` (a FASTA record
//! parsed), `fai` and `fasta` (the samtools index), `parts` (a large FASTA file
//! indexed on several cores), `ppi` (polyplug's index, its format documented there),
//! `build`, `table` and `json` (the other formats), `data` and `ahead` (compression,
//! reading ahead), `scan`, `place` and `fileio` (lines, where indexes go, positional
//! reads).
//!
//! ```
//! use polyplug_records::{Catalog, Reader, RecordFormat, RecordSource};
//!
//! let dir = tempfile::tempdir()?;
//! let data = dir.path().join("genome.fa");
//! std::fs::write(&data, ">chr1 first\nACGT\nAC\n>chr2\nGG\n")?;
//! let source = RecordSource { format: RecordFormat::Fasta, files: vec![data], id_column: None };
//! let mut notes = Vec::new();
//! let catalog = Catalog::open(&source, dir.path(), &mut |n| notes.push(n.to_string()))?;
//! assert!(notes[0].ends_with("genome.fa.fai"));
//! let mut reader = Reader::open(&source);
//! let mut names = Vec::new();
//! for entry in catalog.entries()? {
//!     let entry = entry?;
//!     let record = reader.read(&entry.key(), &entry.name)?;
//!     names.push((entry.name.clone(), record.field("sequence").unwrap_or("").to_string()));
//! }
//! assert_eq!(names, [("chr1".to_string(), "ACGTAC".to_string()), ("chr2".into(), "GG".into())]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod ahead;
mod build;
mod catalog;
mod data;
mod entries;
mod error;
mod fai;
mod fasta;
mod fasta_record;
mod fileio;
mod json;
mod opener;
mod parts;
mod place;
mod ppi;
mod reader;
mod scan;
mod table;
#[cfg(test)]
mod tests;

pub use catalog::Catalog;
pub use entries::{byte_shard, Entries, Entry};
pub use error::RecordsError;
pub use fileio::DataKey;
pub use polyplug_core::{Record, RecordFormat, RecordRef, RecordSource};
pub use reader::Reader;
