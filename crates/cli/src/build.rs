//! `polyplug build`: compile source plugins into the cache ahead of time.

use crate::args::BuildArgs;
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
