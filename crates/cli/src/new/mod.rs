//! `polyplug new <language> <name>`: a working plugin skeleton in a new folder.
//!
//! Every skeleton is the same small plugin (length and G/C count of each ID, a
//! `min_length` parameter, a per-worker state) so that it shows the language's
//! conventions and runs as generated: the folder holds the plugin, a README with the
//! build and run commands, `ids.txt` (sample entities) and `attribute_definitions.yaml`
//! (found by `polyplug run` beside the plugin).

use crate::args::{Language, NewArgs};
use crate::{error, EXIT_USAGE};
use std::path::{Path, PathBuf};

const IDS: &str = "ACGT\nGGCCA\nhello\n";

const DEFINITIONS: &str = "\
# Attribute definitions (Prenacs format): every OUTPUT attribute of the plugin.
length:
  datatype: Integer
  definition: number of characters (bytes) of the entity ID
gc_count:
  datatype: Integer
  definition: number of G and C characters (case-insensitive) in the entity ID
";

/// The plugin file (relative to the folder) and its template.
fn plugin_file(lang: Language, name: &str) -> (String, String) {
    match lang {
        Language::Rust => (
            format!("{name}.rs"),
            include_str!("templates/plugin.rs").into(),
        ),
        Language::C => (
            format!("{name}.c"),
            c_template(
                include_str!("templates/plugin_c_intro.c"),
                "polyplug.h",
                "C, polyplug.h",
            ),
        ),
        Language::Nim => (
            format!("{name}.nim"),
            include_str!("templates/plugin.nim").into(),
        ),
        Language::Python => (
            format!("{name}.py"),
            include_str!("templates/plugin.py").into(),
        ),
        Language::Bash => (
            format!("{name}.sh"),
            include_str!("templates/plugin.sh").into(),
        ),
        // The same C code: including polyplug_wasm.h makes it a WebAssembly guest.
        Language::Wasm => (
            format!("src/{name}.c"),
            c_template(
                include_str!("templates/plugin_wasm_intro.c"),
                "polyplug_wasm.h",
                "C, polyplug_wasm.h (WebAssembly)",
            ),
        ),
    }
}

/// The C skeleton's code after its introduction comment, for one SDK header.
fn c_template(intro: &str, sdk_header: &str, implementation: &str) -> String {
    intro.to_string()
        + &include_str!("templates/plugin_c_code.c")
            .replace("{{sdk_header}}", sdk_header)
            .replace("{{implementation}}", implementation)
}

fn readme(lang: Language, name: &str, file: &str) -> String {
    let (title, build) = match lang {
        Language::Rust => (
            "Rust",
            format!(
                "Nothing to build by hand: polyplug compiles `{file}` with your `rustc` on first \
                 use and caches the library (offline; polyplug ships the polyplug-sdk crate). \
                 Compile ahead of time with `polyplug build {file}`. A plugin that needs other \
                 crates is a cargo project instead (`crate-type = [\"cdylib\"]`, dependency \
                 `polyplug-sdk`) whose `.so` you run."
            ),
        ),
        Language::C => (
            "C",
            format!(
                "Nothing to build by hand: polyplug compiles `{file}` with `cc` (or `$CC`) on \
                 first use and caches the library. Compile ahead of time with \
                 `polyplug build {file}`; extra compiler flags go on a line \
                 `// polyplug-flags: -lz` in the source."
            ),
        ),
        Language::Nim => (
            "Nim",
            format!(
                "Nothing to build by hand: polyplug compiles `{file}` with `nim` (1.6 or 2) on \
                 first use and caches the library. Compile ahead of time with \
                 `polyplug build {file}`."
            ),
        ),
        Language::Python => (
            "Python",
            "Nothing to build: polyplug runs the module as it is (so does Prenacs).".to_string(),
        ),
        Language::Bash => (
            "Bash",
            "Nothing to build: polyplug runs the script as it is (so do MultiPlug and Prenacs)."
                .to_string(),
        ),
        Language::Wasm => (
            "WebAssembly (C guest)",
            format!(
                "Build `{name}.wasm` from `{file}` with clang's wasm32-wasi target (Debian: \
                 `apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32`):\n\n    \
                 sh build.sh\n\n\
                 which runs `clang-14 --target=wasm32-wasi -mexec-model=reactor -O2 \
                 -I $SDK/c -I $SDK/wasm {file} -o {name}.wasm`, `$SDK` being the folder \
                 `polyplug sdk path` prints (the SDK inside polyplug; `POLYPLUG_SDK` \
                 chooses another)."
            ),
        ),
    };
    let run_file = match lang {
        Language::Wasm => format!("{name}.wasm"),
        Language::Rust if file == "src/lib.rs" => format!("target/release/lib{name}.so"),
        _ => file.to_string(),
    };
    let build = if file == "src/lib.rs" {
        "A cargo crate: the polyplug SDK is a path dependency (the copy `polyplug sdk path` \
         writes into polyplug's cache), so it builds offline. Add the crates you need to \
         `Cargo.toml`, then:\n\n    cargo build --release\n\n\
         The plugin is `target/release/lib{name}.so`; see the SDK's README \
         (`$(polyplug sdk path)/rust/polyplug-sdk/README.md`) for a complete plugin."
            .replace("{name}", name)
    } else {
        build
    };
    format!(
        "# {name}\n\n\
         A polyplug plugin in {title}: for every ID, its length and its number of G and C \
         letters; IDs shorter than the parameter `min_length` give no result.\n\n\
         {build}\n\n\
         Run it on the sample IDs (in this folder):\n\n    polyplug run {run_file} ids ids.txt\n\n\
         Check it against the attribute definitions:\n\n    polyplug check {run_file} attribute_definitions.yaml\n\n\
         To run it by ID from anywhere, copy `{run_file}` into `./plugins/` or a folder listed in \
         `POLYPLUG_PATH`, then `polyplug run {name} ids <idsfile>`.\n"
    )
}

/// Whether `name` can be a plugin ID and a file stem in every language (a C, Nim and
/// Rust identifier).
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 200
}

/// Runs `polyplug new` and returns the exit status.
pub fn new(args: NewArgs) -> i32 {
    match write(&args) {
        Ok(dir) => {
            let file = match args.cargo {
                true => "src/lib.rs".to_string(),
                false => plugin_file(args.language, &args.name).0,
            };
            println!(
                "created {} ({} plugin {}); see {}",
                dir.display(),
                format!("{:?}", args.language).to_lowercase(),
                dir.join(file).display(),
                dir.join("README.md").display()
            );
            0
        }
        Err(e) => {
            error(e);
            EXIT_USAGE
        }
    }
}

fn write(args: &NewArgs) -> Result<PathBuf, String> {
    let name = &args.name;
    if !valid_name(name) {
        return Err(format!(
            "'{name}' cannot be a plugin name: use letters, digits and _, starting with a \
             letter (it becomes the plugin ID and a C, Nim and Rust identifier), e.g. gc_count"
        ));
    }
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() {
        return Err(format!(
            "{}: already exists; choose another name or --dir, or remove it",
            dir.display()
        ));
    }
    if args.cargo && args.language != Language::Rust {
        return Err(
            "--cargo is for rust: `polyplug new rust --cargo NAME` writes a cargo \
                    crate"
                .into(),
        );
    }
    let (file, template) = match args.cargo {
        true => (
            "src/lib.rs".to_string(),
            cargo_lib(&plugin_file(args.language, name).1),
        ),
        false => plugin_file(args.language, name),
    };
    let mut files = vec![
        (file.clone(), template.replace("{{name}}", name)),
        ("README.md".to_string(), readme(args.language, name, &file)),
        ("ids.txt".to_string(), IDS.to_string()),
        (
            "attribute_definitions.yaml".to_string(),
            DEFINITIONS.to_string(),
        ),
    ];
    if args.cargo {
        files.push(("Cargo.toml".to_string(), cargo_toml(name)?));
    }
    for (rel, text) in &files {
        write_file(&dir.join(rel), text)?;
    }
    let mut executable = Vec::new();
    if args.language == Language::Wasm {
        let script = dir.join("build.sh");
        write_file(
            &script,
            &include_str!("templates/build_wasm.sh").replace("{{name}}", name),
        )?;
        executable.push(script);
    }
    if args.language == Language::Bash {
        executable.push(dir.join(&file));
    }
    for p in &executable {
        make_executable(p)?;
    }
    Ok(dir)
}

/// The Rust skeleton as the `src/lib.rs` of a cargo crate: its introduction says how
/// a crate is built and run.
fn cargo_lib(single_file: &str) -> String {
    let code: String = single_file
        .lines()
        .skip_while(|l| l.starts_with("//!"))
        .map(|l| format!("{l}\n"))
        .collect();
    "//! {{name}}: a polyplug plugin in Rust, a cargo crate with the polyplug SDK as a path\n\
     //! dependency.\n//!\n\
     //! For every ID it returns the length of the ID and its number of G and C letters.\n\
     //! IDs shorter than the parameter min_length give no result and a log message. Each\n\
     //! worker keeps a count of what it computed in its state and logs it in finalize. A\n\
     //! returned `Error` or a panic fails that entity only.\n//!\n\
     //! Build and run it (in this folder):\n\
     //!     cargo build --release\n\
     //!     polyplug run target/release/lib{{name}}.so ids ids.txt\n"
        .to_string()
        + &code
}

/// The `Cargo.toml` of `polyplug new rust --cargo`: a `cdylib` with the SDK (written
/// into polyplug's cache) as a path dependency.
fn cargo_toml(name: &str) -> Result<String, String> {
    let sdk = polyplug_engine::sdk_folder(&polyplug_engine::core::LoadOptions::default())?;
    let sdk = sdk.join("rust/polyplug-sdk");
    Ok(format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [lib]\n# A shared library: the plugin polyplug loads.\ncrate-type = [\"cdylib\"]\n\n\
         [dependencies]\n# The SDK inside polyplug (`polyplug sdk path`).\n\
         polyplug-sdk = {{ path = {sdk:?} }}\n\n\
         # A workspace of its own, wherever it is put.\n[workspace]\n",
        sdk = sdk.display().to_string()
    ))
}

fn make_executable(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("{}: cannot make it executable: {e}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("{}: cannot create: {e}", parent.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_identifiers() {
        assert!(valid_name("gc_count"));
        assert!(valid_name("_x1"));
        assert!(!valid_name("1x"));
        assert!(!valid_name("my-plugin"));
        assert!(!valid_name(""));
    }
}
