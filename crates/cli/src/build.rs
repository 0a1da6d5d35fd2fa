//! `polyplug build`: compile source plugins into the cache ahead of time.

use crate::args::BuildArgs;
use crate::{discover, error, EXIT_FAILED, EXIT_USAGE};
use polyplug_core::Plugin;
use std::path::{Path, PathBuf};

/// Compiles each plugin (or finds it in the cache), loads it to check it, and prints
/// one line per plugin. Exits non-zero when any failed.
pub fn build(args: BuildArgs) -> i32 {
    if args.out.is_some() && args.plugins.len() != 1 {
        error("--out takes one plugin: give a single plugin with -o/--out");
        return EXIT_USAGE;
    }
    let opts = discover::source_options().with_force(args.force);
    let mut failed = 0;
    for arg in &args.plugins {
        match build_one(arg, &opts, args.out.as_deref()) {
            Ok(line) => println!("{line}"),
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

fn build_one(
    arg: &str,
    opts: &polyplug_loader_source::SourceOptions,
    out: Option<&Path>,
) -> Result<String, String> {
    let path = source_path(arg)?;
    let plugin = polyplug_loader_source::load(&path, opts).map_err(|e| e.to_string())?;
    let built = plugin.built();
    let mut line = format!(
        "{} {} {}: {} -> {} ({})",
        if built.compiled {
            "compiled"
        } else {
            "up to date"
        },
        plugin.meta().id,
        plugin.meta().version,
        path.display(),
        built.library.display(),
        built.compiler
    );
    if let Some(out) = out {
        std::fs::copy(&built.library, out).map_err(|e| {
            format!(
                "{}: cannot copy the library to {}: {e}",
                path.display(),
                out.display()
            )
        })?;
        line.push_str(&format!("\ncopied to {}", out.display()));
    }
    Ok(line)
}

/// The source file of a `build` argument: a path, or the ID of a source plugin found
/// in the plugin folders.
fn source_path(arg: &str) -> Result<PathBuf, String> {
    let path = Path::new(arg);
    let path = if path.exists() {
        path.to_path_buf()
    } else {
        discover::resolve(arg, &discover::LoadConfig::default())?
            .path()
            .to_path_buf()
    };
    if polyplug_loader_source::Language::of(&path).is_none() {
        return Err(format!(
            "{}: not a source plugin, nothing to build: `polyplug build` compiles .{} files",
            path.display(),
            polyplug_loader_source::EXTENSIONS.join(", .")
        ));
    }
    Ok(path)
}
