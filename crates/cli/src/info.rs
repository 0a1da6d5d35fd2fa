//! `polyplug list`, `info` and `check`.

use crate::args::{CheckArgs, InfoArgs, ListArgs};
use crate::{console, error, EXIT_FAILED, EXIT_USAGE};
use polyplug_engine::core::LoadOptions;
use polyplug_engine::{inspect, resolve};

/// The load options of `list`, `info` and `check`: the defaults, notes on stderr.
fn options() -> LoadOptions {
    LoadOptions {
        console: console::stderr(),
        ..LoadOptions::default()
    }
}

/// `polyplug list`: one row per plugin found: ID, VERSION, language, OUTPUT, path.
pub fn list(args: ListArgs) -> i32 {
    let dirs = if args.dirs.is_empty() {
        resolve::plugin_dirs()
    } else {
        args.dirs
    };
    let options = options();
    let mut broken = 0;
    let mut rows = vec![[
        "ID".to_string(),
        "VERSION".to_string(),
        "LANGUAGE".to_string(),
        "OUTPUT".to_string(),
        "PATH".to_string(),
    ]];
    for file in resolve::plugin_files(&dirs) {
        match resolve::load(&file, &options) {
            Ok(p) => rows.push([
                p.meta().id.clone(),
                p.meta().version.clone(),
                p.language().to_string(),
                p.meta().output.join(","),
                file.display().to_string(),
            ]),
            Err(e) => {
                broken += 1;
                error(e);
            }
        }
    }
    let mut widths = [0usize; 5];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in &rows {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(widths).enumerate() {
            if i == 4 {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}  "));
            }
        }
        println!("{}", line.trim_end());
    }
    if broken > 0 {
        EXIT_FAILED
    } else {
        0
    }
}

/// `polyplug info`: all metadata and parameters of one plugin.
pub fn info(args: InfoArgs) -> i32 {
    let plugin = match resolve::resolve(&args.plugin, &options()) {
        Ok(p) => p,
        Err(e) => {
            error(e);
            return EXIT_USAGE;
        }
    };
    let m = plugin.meta();
    let defs = polyplug_engine::definitions_for(plugin.path(), None)
        .ok()
        .flatten();
    println!("ID:             {}", m.id);
    println!("VERSION:        {}", m.version);
    println!("LANGUAGE:       {}", plugin.language());
    println!("PATH:           {}", plugin.path().display());
    println!("INPUT:          {}", m.input);
    println!("OUTPUT:");
    for o in &m.output {
        match defs.as_ref().and_then(|d| d.get(o)) {
            Some((def, _)) => println!(
                "  {o} ({}){}",
                def.datatype,
                def.definition
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ),
            None => println!("  {o}"),
        }
    }
    if m.parameters.is_empty() {
        println!("PARAMETERS:     none");
    } else {
        println!("PARAMETERS:");
        for p in &m.parameters {
            let default = if p.default_text.is_empty() {
                "no default".to_string()
            } else {
                format!("default {}", p.default_text)
            };
            println!(
                "  {} ({}, {default}): {}",
                p.name, p.datatype, p.documentation
            );
        }
    }
    for (k, v) in &m.extra {
        println!("{:<15} {v}", format!("{k}:"));
    }
    println!("FUNCTIONS:      {}", plugin.functions().join(", "));
    0
}

/// `polyplug check`: every problem of a plugin, then the exit status (non-zero on any).
pub fn check(args: CheckArgs) -> i32 {
    let plugin = match resolve::resolve(&args.plugin, &options()) {
        Ok(p) => p,
        Err(e) => {
            println!("error: {e}");
            return EXIT_FAILED;
        }
    };
    let mut problems = inspect::contract_problems(plugin.as_ref());
    let m = plugin.meta();
    match &args.definitions {
        Some(path) => problems.extend(inspect::definition_problems(m, path)),
        None => println!("info: no attribute definitions file given, OUTPUT names not checked"),
    }
    if problems.is_empty() {
        println!(
            "ok: {} {} ({}, {}) follows the plugin contract",
            m.id,
            m.version,
            plugin.language(),
            plugin.path().display()
        );
        0
    } else {
        for p in &problems {
            println!("error: {p}");
        }
        println!(
            "{} problem(s) found in {}",
            problems.len(),
            plugin.path().display()
        );
        EXIT_FAILED
    }
}
