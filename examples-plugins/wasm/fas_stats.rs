//! fas_stats in Rust, as a sandboxed WebAssembly plugin: genome size and GC content
//! of a FASTA file, or of one FASTA record (records mode: `compute_record`).
//!
//! The same plugin as `examples-plugins/rust/fas_stats` (a stateful plugin: a read
//! buffer reused by every compute of the worker, a log from finalize), written against
//! the WebAssembly guest crate `polyplug_wasm` instead of `polyplug-sdk`: the API is the
//! same, and the file is read with `polyplug_wasm::fs` (through the sandbox, which in
//! files mode grants the entity's file and nothing else). Its rows are identical to
//! the native ones.
//!
//! Build (examples-plugins/wasm/build.sh does this and the C version) with Debian's
//! rustc and `libstd-rust-dev-wasm32`, or any rustc with the wasm32 target:
//!
//! ```text
//! rustc --edition 2021 --crate-type rlib --target wasm32-unknown-unknown -O \
//!     --crate-name polyplug_wasm --cfg 'feature="std"' \
//!     plugin-sdk/wasm/rust/src/lib.rs -o build/libpolyplug_wasm.rlib
//! rustc --edition 2021 --crate-type cdylib --target wasm32-unknown-unknown -O \
//!     --extern polyplug_wasm=build/libpolyplug_wasm.rlib \
//!     examples-plugins/wasm/fas_stats.rs -o fas_stats_wasm_rust.wasm
//! polyplug run fas_stats_wasm_rust.wasm files 'examples-plugins/data/*.fas'
//! ```

use polyplug_wasm::{export_plugin, fs, Error, Output, ParamSpec, Params, Plugin, Record};

/// One worker's state.
pub struct FasStats {
    /// Reused for every file, so a worker allocates once.
    buffer: Vec<u8>,
    files: u64,
    records: u64,
    letters: u64,
}

impl Plugin for FasStats {
    const ID: &'static str = "fas_stats_wasm_rust";
    const VERSION: &'static str = "1.0";
    const INPUT: &'static str = "path of a FASTA file (one genome, one or more records)";
    const OUTPUT: &'static [&'static str] = &["genome_size", "GC_content"];
    const PARAMETERS: &'static [ParamSpec] = &[ParamSpec::new(
        "min_length",
        "int",
        "0",
        "genomes with fewer sequence letters than this give no result",
    )];
    const METHOD: Option<&'static str> = Some(
        "genome_size counts the letters of all sequence lines (header lines starting \
         with '>' and whitespace excluded); GC_content is the number of G and C letters \
         (case-insensitive) divided by genome_size",
    );
    const IMPLEMENTATION: Option<&'static str> = Some("Rust, polyplug_wasm (WebAssembly)");

    fn initialize(_params: &Params) -> Result<Self, Error> {
        Ok(FasStats {
            buffer: Vec::with_capacity(1 << 16),
            files: 0,
            records: 0,
            letters: 0,
        })
    }

    fn compute(&mut self, entity: &str, params: &Params, out: &mut Output) -> Result<(), Error> {
        self.buffer.clear();
        fs::read_into(entity, &mut self.buffer)
            .map_err(|e| Error::new(format!("cannot read {entity}: {e}")))?;
        self.files += 1;
        let (size, gc) = count(&self.buffer);
        self.stats(size, gc, "file", params, out)
    }

    fn compute_record(
        &mut self,
        _entity: &str,
        record: &Record,
        params: &Params,
        out: &mut Output,
    ) -> Result<(), Error> {
        // The record's bytes: its header line and its sequence lines.
        self.records += 1;
        let (size, gc) = count(record.bytes());
        self.stats(size, gc, "record", params, out)
    }

    fn finalize(&mut self, _params: &Params, out: &mut Output) -> Result<(), Error> {
        let (n, what) = if self.records > 0 && self.files == 0 {
            (self.records, "records")
        } else {
            (self.files, "files")
        };
        out.log(format!(
            "processed {} {}, {} sequence letters",
            n, what, self.letters
        ));
        Ok(())
    }
}

impl FasStats {
    /// The values (or the log saying why there are none) of `size` letters of which
    /// `gc` are G or C, of one file or record.
    fn stats(
        &mut self,
        size: u64,
        gc: u64,
        what: &str,
        params: &Params,
        out: &mut Output,
    ) -> Result<(), Error> {
        self.letters += size;
        let min_length = params.int("min_length").unwrap_or(0);
        if size == 0 {
            out.log(format!("genome_size\tno sequence letters in the {}", what));
            return Ok(());
        }
        if (size as i64) < min_length {
            out.log(format!(
                "genome_size\t{size} letters, below min_length {min_length}"
            ));
            return Ok(());
        }
        out.push(size);
        out.push(gc as f64 / size as f64);
        Ok(())
    }
}

/// Counts sequence letters and G/C letters, skipping header lines and whitespace.
fn count(data: &[u8]) -> (u64, u64) {
    let (mut size, mut gc) = (0u64, 0u64);
    let mut at_line_start = true;
    let mut in_header = false;
    for &b in data {
        if at_line_start {
            in_header = b == b'>';
        }
        at_line_start = b == b'\n';
        if in_header || matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            continue;
        }
        size += 1;
        if matches!(b, b'G' | b'C' | b'g' | b'c') {
            gc += 1;
        }
    }
    (size, gc)
}

export_plugin!(FasStats);

