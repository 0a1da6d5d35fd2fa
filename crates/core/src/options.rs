//! What a run asks of a loader ([`LoadOptions`]), the names users give those options
//! ([`LoadOption`]), and where loaders send what is meant for the user ([`Console`]).
//!
//! Every loader's `load(path, &LoadOptions)` takes the same options and refuses, with
//! [`LoadOptions::refuse_unsupported`], those it cannot honour: an option given is
//! never silently ignored.

use crate::PluginError;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// An option a user can give a run that only some plugin kinds honour. Its name is
/// the one the user typed, so that refusals and limits name it the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadOption {
    /// A per-call time limit.
    Timeout,
    /// A folder a sandboxed plugin may use.
    AllowDir,
    /// The memory cap of a sandboxed instance.
    WasmMemory,
    /// The instruction budget of a sandboxed call.
    Fuel,
    /// The memory limit of a worker (or of a sandboxed instance).
    MaxMemory,
    /// Per-entity log files of the plugin's output.
    LogDir,
}

impl LoadOption {
    /// The command-line flag that gives the option.
    pub fn flag(self) -> &'static str {
        match self {
            LoadOption::Timeout => "--timeout",
            LoadOption::AllowDir => "--allow-dir",
            LoadOption::WasmMemory => "--wasm-memory",
            LoadOption::Fuel => "--fuel",
            LoadOption::MaxMemory => "--max-memory",
            LoadOption::LogDir => "--log-dir",
        }
    }
}

/// The per-entity time limit of a run without `--timeout`, for every plugin kind that
/// can be stopped (all but a native plugin run `--in-process`): so that nothing hangs
/// for ever unless the user says so (`--timeout none`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The name of the environment variable that sets the default limit (seconds, or
/// `none`) in place of [`DEFAULT_TIMEOUT`]: for a site, or a test.
pub const TIMEOUT_VARIABLE: &str = "POLYPLUG_TIMEOUT";

/// The per-entity time limit a run asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// No `--timeout`: the default limit ([`DEFAULT_TIMEOUT`] unless
    /// [`TIMEOUT_VARIABLE`] says otherwise), wherever a compute can be stopped.
    Default(Duration),
    /// `--timeout none`: no limit.
    Unlimited,
    /// `--timeout SECONDS`.
    Given(Duration),
}

impl Default for Timeout {
    fn default() -> Self {
        Timeout::Default(DEFAULT_TIMEOUT)
    }
}

impl Timeout {
    /// The limit to enforce, if any.
    pub fn limit(self) -> Option<Duration> {
        match self {
            Timeout::Default(d) => Some(d),
            Timeout::Unlimited => None,
            Timeout::Given(d) => Some(d),
        }
    }

    /// Whether the limit is the default one.
    pub fn is_default(self) -> bool {
        matches!(self, Timeout::Default(_))
    }

    /// Whether the user gave a limit (`--timeout SECONDS`).
    pub fn given(self) -> Option<Duration> {
        match self {
            Timeout::Given(d) => Some(d),
            _ => None,
        }
    }

    /// Where the limit comes from, for the message of an entity that overran it.
    pub fn source(self) -> &'static str {
        match self {
            Timeout::Default(_) => {
                "the default limit; give more with --timeout SECONDS, or lift it with --timeout none"
            }
            _ => "--timeout",
        }
    }
}

/// Where loaders send what is meant for the user while a plugin loads or runs. The
/// host decides where it goes (polyplug prints it on its standard error); library
/// code never prints.
pub trait Console: Send + Sync {
    /// A one-line note (a source plugin being compiled, a warning); polyplug shows it
    /// as `polyplug: <note>`.
    fn note(&self, note: &str);
    /// Bytes plugin code wrote for the user: a script's standard error, a sandboxed
    /// guest's standard output and error. Shown as they are.
    fn plugin_output(&self, bytes: &[u8]);
    /// What is being done, one line, for users who asked (`-v`); polyplug shows it as
    /// `# <line>`. The default drops it.
    fn detail(&self, _line: &str) {}
}

/// A console that drops everything (the default of [`LoadOptions`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Console for Silent {
    fn note(&self, _note: &str) {}
    fn plugin_output(&self, _bytes: &[u8]) {}
}

/// A folder granted to sandboxed plugins (`--allow-dir DIR[:rw]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The folder, as given.
    pub path: PathBuf,
    /// Whether writing is allowed too.
    pub writable: bool,
}

impl DirGrant {
    /// Parses `DIR` (read-only), `DIR:ro` or `DIR:rw`.
    pub fn parse(arg: &str) -> Result<DirGrant, DirGrantError> {
        let (dir, writable) = match arg.rsplit_once(':') {
            Some((d, "rw")) => (d, true),
            Some((d, "ro")) => (d, false),
            _ => (arg, false),
        };
        if dir.is_empty() {
            return Err(DirGrantError {
                arg: arg.to_string(),
            });
        }
        Ok(DirGrant {
            path: PathBuf::from(dir),
            writable,
        })
    }
}

/// An `--allow-dir` argument without a folder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} {arg:?}: give a folder, optionally followed by :rw (read-write) or :ro",
    LoadOption::AllowDir.flag()
)]
pub struct DirGrantError {
    /// The argument given.
    pub arg: String,
}

/// What a run asks of the loader of its plugin: plain data, filled in by the caller.
/// Each loader reads the fields that concern it and refuses the options it cannot
/// honour ([`LoadOptions::refuse_unsupported`]).
#[derive(Clone)]
pub struct LoadOptions {
    /// Per-call time limit (`--timeout`, or the default).
    pub timeout: Timeout,
    /// Workers of the run (0 or 1: one). A loader may run each worker's instance in a
    /// process of its own when this is above 1.
    pub jobs: usize,
    /// Where Python code is imported from (`--python-path`): folders, or virtualenvs
    /// whose site-packages are used. A search path: loaders without Python ignore it.
    pub python_path: Vec<PathBuf>,
    /// Entities are files (`files` mode): a sandbox lets each compute read its file.
    pub entity_files: bool,
    /// Folders a sandboxed plugin may use (`--allow-dir`).
    pub allow_dirs: Vec<DirGrant>,
    /// Memory cap of one sandboxed instance, in MiB (`--wasm-memory`).
    pub wasm_memory_mib: Option<u64>,
    /// Instruction budget of each sandboxed call (`--fuel`).
    pub fuel: Option<u64>,
    /// Memory limit of each worker process, or of each sandboxed instance, in MiB
    /// (`--max-memory`).
    pub max_memory_mib: Option<u64>,
    /// The program that runs worker processes as `<program> __worker <kind>` (the
    /// polyplug binary); loaders that need worker processes refuse to start without.
    pub worker_program: Option<PathBuf>,
    /// The cache folder for compiled plugins, instead of the one the environment
    /// gives ([`LoadOptions::cache_root`]).
    pub cache_dir: Option<PathBuf>,
    /// Compile source plugins again even when the cache has them.
    pub rebuild: bool,
    /// Run native and Python plugins inside the polyplug process rather than in
    /// worker processes: the fastest, but a crash of the plugin ends the run.
    pub in_process: bool,
    /// Debugging one entity (`--only`): errors come with their whole trace (a Python
    /// traceback, a WebAssembly backtrace).
    pub debug: bool,
    /// Bash plugins run with `set -x` (`--trace`), its trace in the entity's log.
    pub trace: bool,
    /// The records of a `records` mode run: instances that read records themselves
    /// (worker processes, the Bash loader) are told where they are.
    pub records: Option<Arc<crate::RecordSource>>,
    /// Where each entity's plugin output goes (`--log-dir`): files named by
    /// [`crate::entity_log`], instead of the console.
    pub log_dir: Option<PathBuf>,
    /// Where notes and plugin output go.
    pub console: Arc<dyn Console>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            timeout: Timeout::default(),
            jobs: 1,
            python_path: Vec::new(),
            entity_files: false,
            allow_dirs: Vec::new(),
            wasm_memory_mib: None,
            fuel: None,
            max_memory_mib: None,
            worker_program: None,
            cache_dir: None,
            rebuild: false,
            in_process: false,
            debug: false,
            trace: false,
            records: None,
            log_dir: None,
            console: Arc::new(Silent),
        }
    }
}

impl std::fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("timeout", &self.timeout)
            .field("jobs", &self.jobs)
            .field("python_path", &self.python_path)
            .field("entity_files", &self.entity_files)
            .field("allow_dirs", &self.allow_dirs)
            .field("wasm_memory_mib", &self.wasm_memory_mib)
            .field("fuel", &self.fuel)
            .field("worker_program", &self.worker_program)
            .field("cache_dir", &self.cache_dir)
            .field("rebuild", &self.rebuild)
            .field("max_memory_mib", &self.max_memory_mib)
            .field("in_process", &self.in_process)
            .field("log_dir", &self.log_dir)
            .finish_non_exhaustive()
    }
}

/// The sandbox options, in the order their refusal lists them.
const SANDBOX: [LoadOption; 3] = [
    LoadOption::AllowDir,
    LoadOption::WasmMemory,
    LoadOption::Fuel,
];

impl LoadOptions {
    /// The options of [`LoadOption`] that are given.
    pub fn given(&self) -> Vec<LoadOption> {
        let mut v = Vec::new();
        if self.timeout.given().is_some() {
            v.push(LoadOption::Timeout);
        }
        if !self.allow_dirs.is_empty() {
            v.push(LoadOption::AllowDir);
        }
        if self.wasm_memory_mib.is_some() {
            v.push(LoadOption::WasmMemory);
        }
        if self.fuel.is_some() {
            v.push(LoadOption::Fuel);
        }
        if self.max_memory_mib.is_some() {
            v.push(LoadOption::MaxMemory);
        }
        if self.log_dir.is_some() {
            v.push(LoadOption::LogDir);
        }
        v
    }

    /// Refuses every given option that a loader of `kind` plugins (`"a native
    /// plugin"`) does not list in `supported`, with the message that says why and
    /// what to do: a time limit needs a plugin polyplug can stop (one outside its
    /// process), the sandbox options need a sandboxed (WebAssembly) plugin.
    pub fn refuse_unsupported(
        &self,
        path: &Path,
        kind: &str,
        supported: &[LoadOption],
    ) -> Result<(), PluginError> {
        let refused: Vec<LoadOption> = self
            .given()
            .into_iter()
            .filter(|o| !supported.contains(o))
            .collect();
        for (option, cannot) in [
            (LoadOption::Timeout, "stop"),
            (LoadOption::MaxMemory, "limit"),
            (
                LoadOption::LogDir,
                "capture the output, entity by entity, of",
            ),
        ] {
            if refused.contains(&option) {
                let t = option.flag();
                return Err(PluginError::new(
                    path,
                    format!(
                        "{t} cannot {cannot} {kind}: it runs inside the polyplug process; \
                         remove {t}, or run the plugin in a worker process (without \
                         --in-process)"
                    ),
                ));
            }
        }
        let sandbox: Vec<&str> = SANDBOX
            .iter()
            .filter(|o| refused.contains(o))
            .map(|o| o.flag())
            .collect();
        if !sandbox.is_empty() {
            return Err(PluginError::new(
                path,
                format!(
                    "{} only apply to WebAssembly plugins: {kind} runs unsandboxed with your \
                     rights; remove them",
                    sandbox.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// Where compiled plugins are cached (see [`CacheRoot`]).
    pub fn cache_root(&self) -> Result<CacheRoot, CacheRootError> {
        match &self.cache_dir {
            Some(dir) => Ok(CacheRoot {
                path: dir.clone(),
                variable: CACHE_VARIABLE,
            }),
            None => CacheRoot::from_env(),
        }
    }
}

/// The variable that sets the cache folder.
pub const CACHE_VARIABLE: &str = "POLYPLUG_CACHE_DIR";

/// The one folder all of polyplug's caches live in (compiled source plugins,
/// compiled WebAssembly modules, the embedded SDK): `$POLYPLUG_CACHE_DIR` (or
/// `$POLYPLUG_CACHE`, its older name), else `$XDG_CACHE_HOME/polyplug`, else
/// `~/.cache/polyplug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRoot {
    /// The folder.
    pub path: PathBuf,
    /// The variable to set to move it, for messages (the one that set it, if one did).
    pub variable: &'static str,
}

/// No cache folder can be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot find a cache folder for compiled plugins: neither POLYPLUG_CACHE_DIR, \
     XDG_CACHE_HOME nor HOME is set; set POLYPLUG_CACHE_DIR to a writable folder"
)]
pub struct CacheRootError;

impl CacheRoot {
    /// The cache folder the environment gives.
    pub fn from_env() -> Result<CacheRoot, CacheRootError> {
        let non_empty = |var: &str| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        for variable in [CACHE_VARIABLE, "POLYPLUG_CACHE"] {
            if let Some(path) = non_empty(variable) {
                return Ok(CacheRoot { path, variable });
            }
        }
        let path = match (non_empty("XDG_CACHE_HOME"), non_empty("HOME")) {
            (Some(xdg), _) => xdg.join("polyplug"),
            (None, Some(home)) => home.join(".cache").join("polyplug"),
            (None, None) => return Err(CacheRootError),
        };
        Ok(CacheRoot {
            path,
            variable: CACHE_VARIABLE,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn allow_dir_arguments() {
        let g = |path: &str, writable| DirGrant {
            path: PathBuf::from(path),
            writable,
        };
        assert_eq!(DirGrant::parse("data").unwrap(), g("data", false));
        assert_eq!(DirGrant::parse("out:rw").unwrap(), g("out", true));
        assert_eq!(DirGrant::parse("in:ro").unwrap(), g("in", false));
        assert_eq!(DirGrant::parse("a:b").unwrap(), g("a:b", false));
        assert!(DirGrant::parse(":rw").is_err());
    }

    #[test]
    fn unsupported_options_are_refused_by_name() {
        let p = Path::new("p.so");
        // The default limit is not the user's: it applies where it can, silently.
        assert!(LoadOptions::default()
            .refuse_unsupported(p, "a native plugin", &[])
            .is_ok());
        let mut o = LoadOptions {
            timeout: Timeout::Given(Duration::from_secs(1)),
            ..LoadOptions::default()
        };
        let e = o
            .refuse_unsupported(p, "a native plugin", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("p.so: --timeout cannot stop a native plugin"),
            "{e}"
        );
        assert!(o
            .refuse_unsupported(p, "a Bash plugin", &[LoadOption::Timeout])
            .is_ok());
        o.fuel = Some(3);
        o.allow_dirs.push(DirGrant::parse("d").unwrap());
        let e = o
            .refuse_unsupported(p, "a Bash plugin", &[LoadOption::Timeout])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "p.so: --allow-dir, --fuel only apply to WebAssembly plugins: a Bash plugin \
             runs unsandboxed with your rights; remove them"
        );
    }
}
