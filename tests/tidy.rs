//! The invariants of ARCHITECTURE.md, checked (as rust-analyzer's `tidy` does):
//!
//! - every crate under `crates/` and `plugin-sdk/` has a code-map entry, and depends
//!   only on the polyplug crates its entry's **Depends on:** line lists;
//! - `unsafe` code appears only in crates whose **Unsafe:** line allows it, and every
//!   `unsafe fn` (the ABI callbacks included) documents its contract in `# Safety`;
//! - library crates never print: only the `polyplug` binary (`crates/cli`) writes to
//!   the process's stdout and stderr;
//! - no file in `crates/` is over 700 lines, and no function of `crates/cli` is over
//!   80 lines.
//!
//! Each check names the file and line to fix.

use polyplug_e2e::repo_root;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A crate as ARCHITECTURE.md's code map describes it.
#[derive(Debug)]
struct Entry {
    /// The polyplug crates it may depend on.
    depends_on: Vec<String>,
    /// Whether it may contain `unsafe` code.
    unsafe_allowed: bool,
}

/// The code map: crate folder (`crates/core`) to its entry.
fn code_map() -> BTreeMap<String, Entry> {
    let text = std::fs::read_to_string(repo_root().join("ARCHITECTURE.md"))
        .unwrap_or_else(|e| panic!("ARCHITECTURE.md: {e}"));
    let mut map = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut depends_on: Option<Vec<String>> = None;
    let mut unsafe_allowed = None;
    // The **Depends on:** line goes on until a blank line or the next `**` line.
    let mut continued = false;
    let mut close = |name: &Option<String>, d: &mut Option<Vec<String>>, u: &mut Option<bool>| {
        if let Some(name) = name {
            let (Some(d), Some(u)) = (d.take(), u.take()) else {
                panic!(
                    "ARCHITECTURE.md: the code-map entry of {name} needs a `**Depends on:**` and \
                     an `**Unsafe:**` line"
                );
            };
            map.insert(
                name.clone(),
                Entry {
                    depends_on: d,
                    unsafe_allowed: u,
                },
            );
        }
    };
    let crates_in = |text: &str| -> Vec<String> {
        text.split('`')
            .skip(1)
            .step_by(2)
            .filter(|n| n.starts_with("polyplug-"))
            .map(str::to_string)
            .collect()
    };
    for line in text.lines() {
        if continued && !line.trim().is_empty() && !line.starts_with("**") {
            if let Some(d) = depends_on.as_mut() {
                d.extend(crates_in(line));
            }
            continue;
        }
        continued = false;
        if let Some(rest) = line.strip_prefix("### `") {
            close(&current, &mut depends_on, &mut unsafe_allowed);
            // Crate entries only: `crates/…` and `plugin-sdk/…`.
            current = rest
                .split('`')
                .next()
                .filter(|p| p.starts_with("crates/") || p.starts_with("plugin-sdk/"))
                .map(str::to_string);
        } else if line.starts_with("## ") {
            close(&current, &mut depends_on, &mut unsafe_allowed);
            current = None;
        } else if let Some(rest) = line.strip_prefix("**Depends on:**") {
            depends_on = Some(crates_in(rest));
            continued = true;
        } else if let Some(rest) = line.strip_prefix("**Unsafe:**") {
            unsafe_allowed = Some(!rest.trim_start().starts_with("none"));
        }
    }
    close(&current, &mut depends_on, &mut unsafe_allowed);
    map
}

/// The crate folders the code map must cover.
fn crate_dirs() -> Vec<String> {
    let root = repo_root();
    let mut dirs = Vec::new();
    for parent in ["crates", "plugin-sdk"] {
        let Ok(entries) = std::fs::read_dir(root.join(parent)) else {
            continue;
        };
        for e in entries.flatten() {
            if e.path().join("Cargo.toml").is_file() {
                dirs.push(format!("{parent}/{}", e.file_name().to_string_lossy()));
            }
        }
    }
    dirs.push("plugin-sdk/wasm/rust".into());
    dirs.sort();
    dirs
}

/// The polyplug crates a manifest depends on (normal and target-specific
/// dependencies; not dev- or build-dependencies).
fn polyplug_dependencies(manifest: &Path) -> Vec<String> {
    let text =
        std::fs::read_to_string(manifest).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    let mut deps = Vec::new();
    let mut in_deps = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]"
                || (line.starts_with("[target.") && line.ends_with(".dependencies]"));
        } else if in_deps && line.starts_with("polyplug-") {
            if let Some(name) = line.split([' ', '=']).next() {
                deps.push(name.to_string());
            }
        }
    }
    deps
}

/// The `.rs` files under a folder, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name()
                    .is_some_and(|n| n != "target" && n != "templates")
                {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// The code lines of a file with their numbers: comments and string-free line ends
/// kept, `//` comments and doc comments dropped, and everything from a
/// `#[cfg(test)] mod` on left out (test modules come last).
fn code_lines(text: &str) -> Vec<(usize, &str)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]")
            && lines
                .get(i + 1)
                .is_some_and(|n| n.trim_start().starts_with("mod "))
        {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        let code = match line.find("//") {
            // A `//` inside a string (a URL) is not a comment; a line with a quote
            // before `//` is kept whole.
            Some(pos) if !line[..pos].contains('"') => &line[..pos],
            _ => line,
        };
        out.push((i + 1, code));
    }
    out
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repo_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn every_crate_has_a_code_map_entry_and_only_its_dependencies() {
    let map = code_map();
    let mut problems = Vec::new();
    for dir in crate_dirs() {
        let Some(entry) = map.get(&dir) else {
            problems.push(format!(
                "{dir}: no code-map entry in ARCHITECTURE.md (add `### `{dir}`` with its \
                 **Depends on:** and **Unsafe:** lines)"
            ));
            continue;
        };
        for dep in polyplug_dependencies(&repo_root().join(&dir).join("Cargo.toml")) {
            if !entry.depends_on.contains(&dep) {
                problems.push(format!(
                    "{dir}/Cargo.toml: depends on {dep}, which its code-map entry does not \
                     allow (**Depends on:** {:?}); remove the dependency or change the \
                     architecture, in ARCHITECTURE.md first",
                    entry.depends_on
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// Whether a code line holds `unsafe` code: a block, a function definition or an
/// impl (an `unsafe extern "C" fn(..)` *type* is not code).
fn unsafe_code(line: &str) -> bool {
    let mut rest = line;
    while let Some(pos) = rest.find("unsafe") {
        let before = rest[..pos].chars().last();
        let after = &rest[pos + "unsafe".len()..];
        rest = after;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            || after.starts_with(|c: char| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let after = after.trim_start();
        let after = after
            .strip_prefix("extern \"C\"")
            .unwrap_or(after)
            .trim_start();
        if after.starts_with('{') || after.starts_with("impl") {
            return true;
        }
        if let Some(f) = after.strip_prefix("fn") {
            // `fn name(` is a definition; `fn(` a type.
            if f.trim_start()
                .starts_with(|c: char| c.is_alphabetic() || c == '_')
            {
                return true;
            }
        }
    }
    false
}

#[test]
fn unsafe_code_is_only_where_the_code_map_allows_it_and_documented() {
    let map = code_map();
    let mut problems = Vec::new();
    for dir in crate_dirs() {
        let allowed = map.get(&dir).is_some_and(|e| e.unsafe_allowed);
        for file in rust_files(&repo_root().join(&dir)) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            for (n, line) in code_lines(&text) {
                if !unsafe_code(line) {
                    continue;
                }
                if !allowed {
                    problems.push(format!(
                        "{}:{n}: `unsafe` in {dir}, whose code-map entry says **Unsafe:** none",
                        relative(&file)
                    ));
                }
                if line.contains(" fn ") || line.trim_start().starts_with("unsafe fn") {
                    // The doc comment above (attributes in between are skipped).
                    let doc: Vec<&str> = all[..n - 1]
                        .iter()
                        .rev()
                        .map(|l| l.trim_start())
                        .skip_while(|l| l.starts_with("#["))
                        .take_while(|l| l.starts_with("///"))
                        .collect();
                    if !doc.iter().any(|l| l.contains("# Safety")) {
                        problems.push(format!(
                            "{}:{n}: an `unsafe fn` without a `# Safety` section in its doc \
                             comment: say what the caller must uphold",
                            relative(&file)
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn library_crates_do_not_print() {
    const PRINTS: [&str; 9] = [
        "println!",
        "print!",
        "eprintln!",
        "eprint!",
        "dbg!",
        "io::stdout()",
        "io::stderr()",
        "ProgressDrawTarget::stderr",
        "ProgressDrawTarget::stdout",
    ];
    let mut problems = Vec::new();
    for dir in crate_dirs() {
        if dir == "crates/cli" {
            continue;
        }
        for file in rust_files(&repo_root().join(&dir).join("src")) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for (n, line) in code_lines(&text) {
                for p in PRINTS {
                    let hit = line.match_indices(p).any(|(i, _)| {
                        // `eprintln!` contains `println!`: match whole words only.
                        !line[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                    });
                    if hit {
                        problems.push(format!(
                            "{}:{n}: {p} in a library crate: report through a callback \
                             (polyplug_core::Console) or a writer the caller gives",
                            relative(&file)
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn files_and_command_line_functions_stay_short() {
    let mut problems = Vec::new();
    for file in rust_files(&repo_root().join("crates")) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() > 700 {
            problems.push(format!(
                "{}: {} lines, more than 700: split it by concern",
                relative(&file),
                lines.len()
            ));
        }
        if !relative(&file).starts_with("crates/cli/") {
            continue;
        }
        // rustfmt-formatted: a function ends at the first `}` at its own indentation.
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            let is_fn =
                t.starts_with("fn ") || t.starts_with("pub fn ") || t.starts_with("pub(crate) fn ");
            if !is_fn || t.ends_with(';') {
                continue;
            }
            let indent = &line[..line.len() - t.len()];
            let end = lines[i..]
                .iter()
                .position(|l| *l == format!("{indent}}}"))
                .map_or(lines.len() - i, |p| p + 1);
            if end > 80 {
                problems.push(format!(
                    "{}:{}: a function of {end} lines in the command line, more than 80: \
                     move the work into the engine or split it",
                    relative(&file),
                    i + 1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_checks_can_fail() {
    // The detectors above, on lines they must and must not flag.
    assert!(unsafe_code("    let x = unsafe { f() };"));
    assert!(unsafe_code(
        "unsafe extern \"C\" fn push_null(s: *mut Sink) {"
    ));
    assert!(unsafe_code("unsafe impl Send for X {}"));
    assert!(!unsafe_code(
        "    pub push_null: unsafe extern \"C\" fn(sink: *mut Sink),"
    ));
    assert!(!unsafe_code("let not_unsafe_here = 1;"));
    let code = code_lines("a\n// unsafe {\nb // println!\n#[cfg(test)]\nmod tests {\nprintln!()\n");
    assert_eq!(code, vec![(1, "a"), (3, "b ")]);
    let map = code_map();
    assert!(map
        .get("crates/core")
        .is_some_and(|e| e.depends_on.is_empty()));
    assert!(map
        .get("crates/loader-native")
        .is_some_and(|e| e.unsafe_allowed));
    assert!(map.get("crates/runner").is_some_and(|e| !e.unsafe_allowed));
}
