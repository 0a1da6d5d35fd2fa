//! `polyplug build`: compile source plugins into the cache ahead of time;
//! `polyplug index`: index record files ahead of a run.

use crate::args::{BuildArgs, IndexArgs};
use crate::{console, error, EXIT_FAILED, EXIT_USAGE};

/// Compiles each plugin (or finds it in the cache), loads it to check it, and prints
/// one line per plugin. Exits non-zero when any failed.
pub fn build(args: BuildArgs) -> i32 {
    if args.out.is_some() && args.plugins.len() != 1 {
        error("--out takes one plugin: give a single plugin with -o/--out");
        return EXIT_USAGE;
    }
    let console = console::stderr();
    let mut failed = 0;
    for arg in &args.plugins {
        match polyplug_engine::inspect::build(arg, args.force, args.out.as_deref(), &console) {
            Ok(b) => {
                println!(
                    "{} {} {}: {} -> {} ({})",
                    if b.built.compiled {
                        "compiled"
                    } else {
                        "up to date"
                    },
                    b.id,
                    b.version,
                    b.source.display(),
                    b.built.library.display(),
                    b.built.compiler
                );
                if let Some(out) = &args.out {
                    println!("copied to {}", out.display());
                }
            }
            Err(e) => {
                failed += 1;
                error(e);
            }
        }
    }
    if failed > 0 {
        EXIT_FAILED
    } else {
        0
    }
}

/// Checks or builds the indexes of record files (notes on stderr) and prints one line
/// per file: the file, its number of records and its index.
pub fn index(args: IndexArgs) -> i32 {
    let Some(format) = polyplug_engine::core::RecordFormat::parse(&args.format) else {
        error(format!(
            "'{}' is not a records format: give one of {}",
            args.format,
            polyplug_engine::core::RecordFormat::ALL
                .map(|f| f.name())
                .join(", ")
        ));
        return EXIT_USAGE;
    };
    let source = polyplug_engine::core::RecordSource {
        format,
        files: args.files.clone(),
        id_column: args.id_column,
    };
    let catalog = match polyplug_engine::records_catalog(&source, &console::Stderr) {
        Ok(c) => c,
        Err(e) => {
            error(e);
            return EXIT_USAGE;
        }
    };
    // From the indexes: nothing of the data is read again.
    let counts = catalog.record_counts();
    for ((file, n), index) in args.files.iter().zip(counts).zip(catalog.index_paths()) {
        let index = index.map_or_else(|| "-".to_string(), |p| p.display().to_string());
        let plural = if n == 1 { "" } else { "s" };
        println!("{}\t{n} record{plural}\t{index}", file.display());
    }
    0
}
