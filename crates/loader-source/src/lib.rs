/*!
Source plugins: a single `.c`, `.nim` or `.rs` file is compiled on first use into a
per-user cache, then loaded through the native ABI (`polyplug-loader-native`).

A scientist drops `kmer.nim` into `plugins/` and runs it; there is no build step to
remember and no CPython in between (MultiPlug compiled Nim and Rust plugins into Python
extension modules; polyplug compiles them into native plugins).

# How a build is found or made

[`build`] turns a source file into a library path:

1. The language comes from the extension ([`Language`]); its compiler from the
   environment (`POLYPLUG_CC`/`CC`/`cc`, `POLYPLUG_NIM`/`nim`,
   `POLYPLUG_RUSTC`/`RUSTC`/`rustc`). A missing compiler is an error saying what to
   install.
2. The *cache key* is the sha256 of the source bytes, the compiler's full version
   output, the SDK version ([`sdk_version`]: polyplug's version plus a hash of the
   embedded SDK files), the fixed compiler arguments, the file stem and the platform.
   Any change to one of them means another library: an edited source is recompiled,
   an unchanged one is loaded from the cache in milliseconds.
3. The cache is `<cache root>/build`, the root being `POLYPLUG_CACHE_DIR` (or
   `POLYPLUG_CACHE`), else `$XDG_CACHE_HOME/polyplug`, else `~/.cache/polyplug`
   ([`polyplug_core::CacheRoot`]). A build takes a lock file for its key (a
   second process waits, then finds the library), compiles into a temporary folder
   and renames the library into place, so no process ever loads a half-written file.
4. The SDK the source includes (`polyplug.h`, `polyplug.nim`, the Rust SDK sources) is
   embedded in the polyplug binary and written into the cache, so an installed
   polyplug needs no source tree. For Rust, the SDK is first compiled into rlibs by the
   user's own `rustc` (an rlib links only with the compiler that made it), once per
   rustc version; the plugin is then one `rustc --crate-type cdylib --extern
   polyplug_sdk=...` call, offline, without cargo.

A compile error carries the compiler's own message (which names the source file and
line) and the source path.

[`load`] builds, then loads the library with `polyplug_loader_native::load` and wraps
it in a [`SourcePlugin`] whose path is the *source* file: reports hash the source, and
an `attribute_definitions.yaml` beside the source is found as for any plugin.

# Example

```no_run
use polyplug_core::{LoadOptions, Plugin};
let plugin = polyplug_loader_source::load("plugins/kmer.nim".as_ref(), &LoadOptions::default())?;
assert_eq!(plugin.meta().id, "kmer");
assert!(plugin.library().is_file());
# Ok::<(), polyplug_core::PluginError>(())
```
*/
#![deny(missing_docs)]

mod cache;
mod sdk;
mod toolchain;

use polyplug_core::{
    EntityError, Instance, LoadOptions, OutputSpec, Params, Plugin, PluginError, PluginMeta,
};
use polyplug_loader_native::NativePlugin;
use std::path::{Path, PathBuf};

/// File extensions of source plugins.
pub const EXTENSIONS: &[&str] = &["c", "nim", "rs"];

/// The language of a source plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// A `.c` file including `polyplug.h`.
    C,
    /// A `.nim` file importing `polyplug`.
    Nim,
    /// A `.rs` file using `polyplug_sdk`.
    Rust,
}

impl Language {
    /// The language of a file, by extension.
    pub fn of(path: &Path) -> Option<Language> {
        match path.extension()?.to_str()? {
            "c" => Some(Language::C),
            "nim" => Some(Language::Nim),
            "rs" => Some(Language::Rust),
            _ => None,
        }
    }

    /// Lower-case name, as shown by `polyplug list`.
    pub fn name(self) -> &'static str {
        match self {
            Language::C => "c",
            Language::Nim => "nim",
            Language::Rust => "rust",
        }
    }
}

/// The result of [`build`].
#[derive(Debug, Clone)]
pub struct Built {
    /// The compiled library, inside the cache.
    pub library: PathBuf,
    /// Whether this call compiled it (false: found in the cache).
    pub compiled: bool,
    /// The compiler's version line.
    pub compiler: String,
    /// The language.
    pub language: Language,
}

/// The SDK version that is part of every cache key.
pub fn sdk_version() -> &'static str {
    sdk::version()
}

/// The plugin SDK (headers, Nim module, Bash helper, Rust and WebAssembly crates), as
/// the binary carries it, written into the cache folder on first use: its folder.
pub fn sdk_folder(opts: &LoadOptions) -> Result<PathBuf, String> {
    let root = opts.cache_root().map_err(|e| e.to_string())?;
    sdk::materialize(&root)
}

/// Writes the plugin SDK into `dir`.
pub fn export_sdk(dir: &Path) -> Result<(), String> {
    sdk::export(dir)
}

/// A valid identifier from the file stem: crate and library name.
fn ident(path: &Path) -> String {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin");
    let mut s: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

/// Compiles `source` into the cache, or finds it there (again with
/// [`LoadOptions::rebuild`]); notes on [`LoadOptions::console`] that a compilation
/// starts. See the crate documentation.
pub fn build(source: &Path, opts: &LoadOptions) -> Result<Built, PluginError> {
    let err = |m: String| PluginError::new(source, m);
    let lang = Language::of(source).ok_or_else(|| {
        err(format!(
            "not a source plugin: expected one of .{}",
            EXTENSIONS.join(", .")
        ))
    })?;
    let text = std::fs::read(source).map_err(|e| err(format!("cannot read: {e}")))?;
    let compiler = toolchain::find(lang).map_err(err)?;
    let root = opts.cache_root().map_err(|e| err(e.to_string()))?;
    let name = ident(source);
    let flags = toolchain::source_flags(lang, &String::from_utf8_lossy(&text));
    let key = cache::key(&[
        lang.name().as_bytes(),
        name.as_bytes(),
        compiler.identity.as_bytes(),
        sdk::version().as_bytes(),
        toolchain::fixed_args(lang).as_bytes(),
        flags.join("\u{1f}").as_bytes(),
        std::env::consts::OS.as_bytes(),
        std::env::consts::ARCH.as_bytes(),
        &text,
    ]);
    let builds = root.path.join("build");
    let ext = if cfg!(target_os = "macos") {
        "dylib"
    } else {
        "so"
    };
    let stem = format!("{name}-{}", &key[..32]);
    let library = builds.join(format!("lib{stem}.{ext}"));
    let built = |compiled| Built {
        library: library.clone(),
        compiled,
        compiler: compiler.display.clone(),
        language: lang,
    };
    if !opts.rebuild && library.is_file() {
        return Ok(built(false));
    }
    cache::create_dir(&builds, root.variable).map_err(err)?;
    let _lock = cache::Lock::acquire(&builds.join(format!("{stem}.lock"))).map_err(err)?;
    if !opts.rebuild && library.is_file() {
        // Built by another process while we waited for the lock.
        return Ok(built(false));
    }
    let sdk = sdk::materialize(&root).map_err(err)?;
    opts.console.note(&format!(
        "compiling {} with {} (cached in {})",
        source.display(),
        compiler.display,
        builds.display()
    ));
    let work = cache::temp_dir(&builds).map_err(err)?;
    let out = work.path().join(format!("lib{name}.{ext}"));
    let job = toolchain::Job {
        source,
        name: &name,
        sdk: &sdk,
        work: work.path(),
        flags: &flags,
        out: &out,
    };
    match lang {
        Language::C => toolchain::compile_c(&compiler, &job),
        Language::Nim => toolchain::compile_nim(&compiler, &job),
        Language::Rust => toolchain::rust_sdk(&compiler, &sdk, &root)
            .and_then(|libs| toolchain::compile_rust(&compiler, &libs, &job)),
    }
    .map_err(err)?;
    // The compiler read the file itself: install only what was built from the bytes
    // the key was computed from.
    if std::fs::read(source).ok().as_deref() != Some(&text[..]) {
        return Err(err(
            "the file changed while it was being compiled; run again".into(),
        ));
    }
    if !out.is_file() {
        return Err(err(format!(
            "the {} compiler reported success but wrote no library at {}",
            lang.name(),
            out.display()
        )));
    }
    cache::install(&out, &library).map_err(err)?;
    Ok(built(true))
}

/// Builds (or finds) `source` and loads it through the native ABI, refusing the
/// options a compiled plugin cannot honour: once compiled it is a native plugin (see
/// `polyplug_loader_native::SUPPORTED`), in a worker process unless in-process.
pub fn load(source: &Path, opts: &LoadOptions) -> Result<SourcePlugin, PluginError> {
    polyplug_loader_native::refuse(source, "a compiled plugin", opts)?;
    let built = build(source, opts)?;
    let inner = polyplug_loader_native::open_with(&built.library, opts).map_err(|e| {
        PluginError::new(
            source,
            format!(
                "{} (in the library compiled from it, {})",
                e.message,
                built.library.display()
            ),
        )
    })?;
    Ok(SourcePlugin {
        source: source.to_path_buf(),
        built,
        inner,
    })
}

/// A plugin compiled from a source file: a native plugin whose path is the source.
pub struct SourcePlugin {
    source: PathBuf,
    built: Built,
    inner: NativePlugin,
}

impl std::fmt::Debug for SourcePlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SourcePlugin({} -> {})",
            self.source.display(),
            self.built.library.display()
        )
    }
}

impl SourcePlugin {
    /// The compiled library in the cache.
    pub fn library(&self) -> &Path {
        &self.built.library
    }

    /// How the library was obtained.
    pub fn built(&self) -> &Built {
        &self.built
    }
}

impl Plugin for SourcePlugin {
    fn meta(&self) -> &PluginMeta {
        self.inner.meta()
    }

    fn language(&self) -> &str {
        self.built.language.name()
    }

    fn path(&self) -> &Path {
        &self.source
    }

    fn has_compute(&self) -> bool {
        self.inner.has_compute()
    }

    fn functions(&self) -> Vec<&'static str> {
        self.inner.functions()
    }

    fn instantiate(
        &self,
        params: &Params,
        spec: &OutputSpec,
    ) -> Result<Box<dyn Instance>, PluginError> {
        self.inner
            .instantiate(params, spec)
            .map_err(|e| PluginError::new(&self.source, e.message))
    }

    fn has_compute_id(&self) -> bool {
        self.inner.has_compute_id()
    }

    fn compute_id(&self, unit: &str) -> Result<String, EntityError> {
        self.inner.compute_id(unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_from_stems() {
        assert_eq!(ident(Path::new("a/kmer-count.nim")), "kmer_count");
        assert_eq!(ident(Path::new("2x.c")), "_2x");
    }

    #[test]
    fn flags_lines_are_read_per_language() {
        let c = "// polyplug-flags: -lz -O3\nint x;\n  //polyplug-flags: -DX\n";
        assert_eq!(
            toolchain::source_flags(Language::C, c),
            ["-lz", "-O3", "-DX"]
        );
        assert!(toolchain::source_flags(Language::Nim, c).is_empty());
        let nim = "# polyplug-flags: -d:foo\n";
        assert_eq!(toolchain::source_flags(Language::Nim, nim), ["-d:foo"]);
    }

    #[test]
    fn unknown_extension_is_refused() {
        let e = build(Path::new("x.py"), &LoadOptions::default()).unwrap_err();
        assert!(e.to_string().contains("not a source plugin"), "{e}");
    }
}
