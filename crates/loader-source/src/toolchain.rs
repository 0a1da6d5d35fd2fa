//! The compilers: which one each language uses, its identity (for the cache key), and
//! the command lines that turn one source file into a plugin library.

use crate::{cache, Language};
use polyplug_core::CacheRoot;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// A compiler found for a language.
#[derive(Debug, Clone)]
pub struct Compiler {
    /// The program and the arguments that come with it (`CC="ccache gcc"`).
    pub program: Vec<String>,
    /// Everything its version command printed: part of the cache key.
    pub identity: String,
    /// One line for messages (`gcc (Debian 12.2.0-14) 12.2.0`).
    pub display: String,
}

impl Compiler {
    /// A command running the compiler.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.program[0]);
        c.args(&self.program[1..]);
        c
    }
}

impl Language {
    /// The environment variables naming the compiler, first match wins, and the default.
    fn compiler_vars(self) -> (&'static [&'static str], &'static str) {
        match self {
            Language::C => (&["POLYPLUG_CC", "CC"], "cc"),
            Language::Nim => (&["POLYPLUG_NIM"], "nim"),
            Language::Rust => (&["POLYPLUG_RUSTC", "RUSTC"], "rustc"),
        }
    }

    fn version_args(self) -> &'static [&'static str] {
        match self {
            Language::C | Language::Nim => &["--version"],
            Language::Rust => &["-vV"],
        }
    }

    fn install_hint(self) -> &'static str {
        match self {
            Language::C => {
                "install a C compiler (Debian/Ubuntu: `apt-get install gcc`; macOS: \
                 `xcode-select --install`), or set CC or POLYPLUG_CC to one"
            }
            Language::Nim => {
                "install Nim 1.6 or later (Debian/Ubuntu: `apt-get install nim`; elsewhere: \
                 https://nim-lang.org/install.html), or set POLYPLUG_NIM to the nim program"
            }
            Language::Rust => {
                "install Rust (https://rustup.rs, or Debian/Ubuntu: `apt-get install rustc`), \
                 or set POLYPLUG_RUSTC to the rustc program"
            }
        }
    }
}

/// Version probes already made in this process, by compiler command line.
type Probes = HashMap<Vec<String>, Result<Compiler, String>>;

/// Finds the compiler of `lang` and asks its version (once per process and program).
pub fn find(lang: Language) -> Result<Compiler, String> {
    let (vars, default) = lang.compiler_vars();
    let mut chosen = None;
    for var in vars {
        if let Ok(v) = std::env::var(var) {
            if !v.trim().is_empty() {
                chosen = Some((v, Some(*var)));
                break;
            }
        }
    }
    let (spec, var) = chosen.unwrap_or((default.to_string(), None));
    let program: Vec<String> = spec.split_whitespace().map(str::to_string).collect();
    static PROBED: Mutex<Option<Probes>> = Mutex::new(None);
    let mut probed = PROBED.lock().unwrap_or_else(|e| e.into_inner());
    let probed = probed.get_or_insert_with(HashMap::new);
    if let Some(found) = probed.get(&program) {
        return found.clone();
    }
    let found = probe(lang, &program, var);
    probed.insert(program, found.clone());
    found
}

fn probe(lang: Language, program: &[String], var: Option<&str>) -> Result<Compiler, String> {
    let from = match var {
        Some(v) => format!(" (from {v})"),
        None => String::new(),
    };
    let shown = program.join(" ");
    let output = Command::new(&program[0])
        .args(&program[1..])
        .args(lang.version_args())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "cannot compile this {} plugin: the {} compiler `{shown}`{from} was not \
                     found; {}",
                    lang.name(),
                    lang.name(),
                    lang.install_hint()
                )
            } else {
                format!(
                    "cannot run the {} compiler `{shown}`{from}: {e}; {}",
                    lang.name(),
                    lang.install_hint()
                )
            }
        })?;
    if !output.status.success() {
        return Err(format!(
            "the {} compiler `{shown}`{from} failed to tell its version ({}): {}; {}",
            lang.name(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            lang.install_hint()
        ));
    }
    let identity = String::from_utf8_lossy(&output.stdout).into_owned();
    let display = identity.lines().next().unwrap_or("").trim().to_string();
    Ok(Compiler {
        program: program.to_vec(),
        identity,
        display: if display.is_empty() { shown } else { display },
    })
}

/// Extra compiler arguments written in the source, on lines
/// `// polyplug-flags: ...` (C, Rust) or `# polyplug-flags: ...` (Nim).
pub fn source_flags(lang: Language, source: &str) -> Vec<String> {
    let marker = match lang {
        Language::C | Language::Rust => "//",
        Language::Nim => "#",
    };
    let mut flags = Vec::new();
    for line in source.lines() {
        let Some(rest) = line.trim_start().strip_prefix(marker) else {
            continue;
        };
        if let Some(f) = rest.trim_start().strip_prefix("polyplug-flags:") {
            flags.extend(f.split_whitespace().map(str::to_string));
        }
    }
    flags
}

/// What a build needs: the source, where the SDK is, where to write.
pub struct Job<'a> {
    /// The plugin source.
    pub source: &'a Path,
    /// A valid identifier made from the file stem (crate name, library name).
    pub name: &'a str,
    /// The SDK folder (see [`crate::sdk::materialize`]).
    pub sdk: &'a Path,
    /// A fresh temporary folder for the compiler's files.
    pub work: &'a Path,
    /// Extra arguments from the source's `polyplug-flags` lines.
    pub flags: &'a [String],
    /// The library to write.
    pub out: &'a Path,
}

/// The fixed arguments of a build, without paths: part of the cache key, so a change
/// in how polyplug compiles invalidates old libraries.
pub fn fixed_args(lang: Language) -> &'static str {
    match lang {
        Language::C => "-shared -fPIC -O2 -Wall -lm",
        Language::Nim => {
            "c --app:lib --noMain --mm:orc --threads:on -d:useMalloc -d:release --hints:off --colors:off"
        }
        Language::Rust => "--edition 2021 --crate-type cdylib -C opt-level=2",
    }
}

/// Compiles a C plugin.
pub fn compile_c(cc: &Compiler, job: &Job) -> Result<(), String> {
    let mut cmd = cc.command();
    cmd.args(["-shared", "-fPIC", "-O2", "-Wall", "-I"])
        .arg(job.sdk.join("c"))
        .arg(job.source)
        .args(job.flags)
        .arg("-o")
        .arg(job.out)
        .arg("-lm");
    run(cmd, Language::C, job.source)
}

/// Compiles a Nim plugin: ORC and threads (polyplug calls from its worker threads),
/// `--noMain` (the SDK's entry runs `NimMain` once), a private nimcache.
pub fn compile_nim(nim: &Compiler, job: &Job) -> Result<(), String> {
    let mut cmd = nim.command();
    cmd.args([
        "c",
        "--app:lib",
        "--noMain",
        "--mm:orc",
        "--threads:on",
        // The C library's allocator: Nim's own, with threads on, takes a lock and
        // returns a chunk to its pool for the sequence of every compute's results.
        "-d:useMalloc",
        "-d:release",
        "--hints:off",
        "--colors:off",
    ])
    .arg(format!(
        "--nimcache:{}",
        job.work.join("nimcache").display()
    ))
    .arg(format!("--path:{}", job.sdk.join("nim").display()))
    .args(job.flags)
    .arg(format!("--out:{}", job.out.display()))
    .arg(job.source);
    run(cmd, Language::Nim, job.source)
}

/// Builds the Rust SDK (`polyplug_abi` and `polyplug_sdk` rlibs) with this rustc into
/// `dir`, unless already there. An rlib only links with the rustc that made it, so the
/// SDK is compiled from its embedded sources by the user's own rustc, once.
pub fn rust_sdk(rustc: &Compiler, sdk: &Path, root: &CacheRoot) -> Result<PathBuf, String> {
    let parent = root.path.join("rust-sdk");
    let key = cache::key(&[
        crate::sdk::version().as_bytes(),
        rustc.identity.as_bytes(),
        fixed_args(Language::Rust).as_bytes(),
    ]);
    let dir = parent.join(&key[..24]);
    if dir.join("libpolyplug_sdk.rlib").is_file() {
        return Ok(dir);
    }
    cache::create_dir(&parent, root.variable)?;
    let _lock = cache::Lock::acquire(&parent.join(format!("{}.lock", &key[..24])))?;
    if dir.join("libpolyplug_sdk.rlib").is_file() {
        return Ok(dir);
    }
    let tmp = cache::temp_dir(&parent)?;
    let abi = sdk.join("rust/polyplug-abi/src/lib.rs");
    let mut cmd = rustc.command();
    cmd.args(["--edition", "2021", "--crate-type", "rlib"])
        .args(["--crate-name", "polyplug_abi", "-C", "opt-level=2"])
        .arg(&abi)
        .arg("--out-dir")
        .arg(tmp.path());
    run(cmd, Language::Rust, &abi).map_err(|e| format!("building the Rust SDK: {e}"))?;
    let lib = sdk.join("rust/polyplug-sdk/src/lib.rs");
    let mut cmd = rustc.command();
    cmd.args(["--edition", "2021", "--crate-type", "rlib"])
        .args(["--crate-name", "polyplug_sdk", "-C", "opt-level=2"])
        .arg(&lib)
        .arg("--extern")
        .arg(format!(
            "polyplug_abi={}",
            tmp.path().join("libpolyplug_abi.rlib").display()
        ))
        .arg("--out-dir")
        .arg(tmp.path());
    run(cmd, Language::Rust, &lib).map_err(|e| format!("building the Rust SDK: {e}"))?;
    cache::install(tmp.path(), &dir)?;
    // Renamed into place: nothing left for the TempDir to remove.
    let _ = tmp.keep();
    Ok(dir)
}

/// Compiles a single-file Rust plugin against the rlibs in `sdk_libs`.
pub fn compile_rust(rustc: &Compiler, sdk_libs: &Path, job: &Job) -> Result<(), String> {
    let mut cmd = rustc.command();
    cmd.args([
        "--edition",
        "2021",
        "--crate-type",
        "cdylib",
        "-C",
        "opt-level=2",
    ])
    .args(["--crate-name", job.name])
    .arg("--extern")
    .arg(format!(
        "polyplug_sdk={}",
        sdk_libs.join("libpolyplug_sdk.rlib").display()
    ))
    .arg("-L")
    .arg(format!("dependency={}", sdk_libs.display()))
    .args(job.flags)
    .arg("-o")
    .arg(job.out)
    .arg(job.source);
    run(cmd, Language::Rust, job.source).map_err(|e| {
        format!(
            "{e}\nnote: a single-file Rust plugin can use std and polyplug_sdk only; for \
             other crates make a cargo project (crate-type cdylib) and run its .so"
        )
    })
}

fn run(mut cmd: Command, lang: Language, source: &Path) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let Output {
        status,
        stdout,
        stderr,
    } = cmd
        .output()
        .map_err(|e| format!("cannot run the {} compiler: {e}", lang.name()))?;
    if status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&stderr).trim_end().to_string();
    let out = String::from_utf8_lossy(&stdout);
    if !out.trim().is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(out.trim_end());
    }
    Err(format!(
        "compile error ({} plugin {}; {status}):\n{text}\n(command: {shown})",
        lang.name(),
        source.display()
    ))
}
