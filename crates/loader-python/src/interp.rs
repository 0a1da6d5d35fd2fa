//! Starting the embedded interpreter, and the import paths plugins see.
//!
//! polyplug embeds the CPython it was built against (`libpython3.X.so`, found at run
//! time through the rpath the CLI's build script records). The interpreter is started
//! once per process, on first use, with a `PyConfig` rather than `Py_Initialize`, so that
//! a broken installation (no standard library, a wrong `PYTHONHOME`) is an error message
//! instead of an abort. Python's own signal handlers are not installed: Ctrl-C belongs
//! to polyplug, which stops feeding entities and finalizes every worker.
//!
//! Plugins import packages from, in this order: the plugin's own folder, each
//! `--python-path`/`POLYPLUG_PYTHON_PATH` entry, the virtualenv in `VIRTUAL_ENV`, then the
//! interpreter's own `sys.path`. A path entry that is a virtualenv (it has `pyvenv.cfg`)
//! contributes its `site-packages` (with `.pth` files processed); other folders are
//! added as they are. A virtualenv made for another Python version is refused with the
//! version it needs.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyList;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The interpreter pyo3 was built against (`sys.executable` at build time).
const BUILT_EXECUTABLE: &str = env!("POLYPLUG_PYTHON_EXECUTABLE");

static STARTED: OnceLock<Result<(), String>> = OnceLock::new();
static CONFIGURED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Starts the interpreter if it is not running yet. Safe to call from any thread, any
/// number of times; the first outcome is remembered.
pub fn start() -> Result<(), String> {
    STARTED.get_or_init(start_once).clone()
}

fn start_once() -> Result<(), String> {
    // SAFETY: `Py_IsInitialized` may be called at any time.
    if unsafe { ffi::Py_IsInitialized() } != 0 {
        return Ok(());
    }
    // SAFETY: the PyConfig is initialized by `PyConfig_InitPythonConfig` before any
    // field is read or written, cleared once after use, and the interpreter is started
    // at most once (guarded by `STARTED`). After a successful start this thread holds
    // the GIL, which `PyEval_SaveThread` releases so that any thread can take it with
    // `Python::with_gil`.
    let status_message = unsafe {
        let mut config = std::mem::MaybeUninit::<ffi::PyConfig>::uninit();
        ffi::PyConfig_InitPythonConfig(config.as_mut_ptr());
        let mut config = config.assume_init();
        config.install_signal_handlers = 0;
        config.parse_argv = 0;
        // The interpreter polyplug was built against: its standard library is found
        // from it (not from whatever `python3` comes first on PATH), and
        // `sys.executable` is a real Python for plugins that start subprocesses.
        let mut status = ffi::PyStatus {
            _type: ffi::_PyStatus_TYPE::_PyStatus_TYPE_OK,
            func: std::ptr::null(),
            err_msg: std::ptr::null(),
            exitcode: 0,
        };
        if let Ok(exe) = std::ffi::CString::new(BUILT_EXECUTABLE) {
            if !BUILT_EXECUTABLE.is_empty() && Path::new(BUILT_EXECUTABLE).is_file() {
                let program_name = std::ptr::addr_of_mut!(config.program_name);
                status = ffi::PyConfig_SetBytesString(&mut config, program_name, exe.as_ptr());
            }
        }
        if ffi::PyStatus_Exception(status) == 0 {
            status = ffi::Py_InitializeFromConfig(&config);
        }
        ffi::PyConfig_Clear(&mut config);
        if ffi::PyStatus_Exception(status) != 0 {
            let text = |p: *const std::ffi::c_char| {
                if p.is_null() {
                    String::new()
                } else {
                    std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
                }
            };
            Some(format!("{} {}", text(status.func), text(status.err_msg)))
        } else {
            ffi::PyEval_SaveThread();
            None
        }
    };
    if let Some(m) = status_message {
        return Err(format!(
            "cannot start the embedded Python {}: {}; check PYTHONHOME and PYTHONPATH \
             (unset them to use the installation polyplug was built with, in {})",
            built_version(),
            m.trim(),
            env!("POLYPLUG_PYTHON_LIBDIR"),
        ));
    }
    Python::with_gil(|py| {
        // Plugin output on stdout would mix with the results TSV: print() goes to stderr.
        py.run(
            c"import sys\nsys.stdout = sys.stderr\nsys.argv = ['polyplug']\n",
            None,
            None,
        )
        .map_err(|e| format!("cannot set up the embedded Python: {e}"))
    })
}

/// The Python version polyplug was built against, as `3.11`.
pub fn built_version() -> String {
    env!("POLYPLUG_PYTHON_VERSION").to_string()
}

/// One line describing the running interpreter, for `--verbose`.
pub fn describe(py: Python<'_>) -> String {
    let sys = py.import("sys");
    let get = |name: &str| -> String {
        sys.as_ref()
            .ok()
            .and_then(|s| s.getattr(name).ok())
            .and_then(|v| v.str().ok().map(|s| s.to_string()))
            .unwrap_or_default()
    };
    format!(
        "Python {} (prefix {}), sys.path {}",
        get("version").split_whitespace().next().unwrap_or(""),
        get("prefix"),
        get("path")
    )
}

/// The import paths from the environment and the command line: `python_path` entries,
/// then `POLYPLUG_PYTHON_PATH` entries, then `VIRTUAL_ENV`.
pub fn path_entries(python_path: &[PathBuf]) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = python_path
        .iter()
        .flat_map(|p| std::env::split_paths(p.as_os_str()).collect::<Vec<_>>())
        .filter(|p| !p.as_os_str().is_empty())
        .collect();
    if let Some(v) = std::env::var_os("POLYPLUG_PYTHON_PATH") {
        entries.extend(std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()));
    }
    if let Some(v) = std::env::var_os("VIRTUAL_ENV") {
        if !v.is_empty() {
            entries.push(PathBuf::from(v));
        }
    }
    entries
}

/// Reads the Python version a virtualenv was made for from its `pyvenv.cfg`.
fn venv_version(cfg: &Path) -> Result<Option<String>, String> {
    let text =
        std::fs::read_to_string(cfg).map_err(|e| format!("{}: cannot read: {e}", cfg.display()))?;
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            let k = k.trim();
            if k == "version" || k == "version_info" {
                let v = v.trim();
                let mm: Vec<&str> = v.split('.').take(2).collect();
                return Ok(Some(mm.join(".")));
            }
        }
    }
    Ok(None)
}

/// Makes the given import paths visible to plugins (once per path and process).
/// Errors name the path and the fix.
pub fn add_paths(py: Python<'_>, entries: &[PathBuf]) -> Result<(), String> {
    let mut configured = CONFIGURED.lock().unwrap_or_else(|e| e.into_inner());
    let mut plain = Vec::new();
    let mut sites = Vec::new();
    let want = built_version();
    for entry in entries {
        if configured.contains(entry) {
            continue;
        }
        if !entry.is_dir() {
            return Err(format!(
                "{}: Python path entry is not a folder; fix --python-path, \
                 POLYPLUG_PYTHON_PATH or VIRTUAL_ENV",
                entry.display()
            ));
        }
        let cfg = entry.join("pyvenv.cfg");
        if cfg.is_file() {
            if let Some(v) = venv_version(&cfg)? {
                if v != want {
                    return Err(format!(
                        "{}: this virtualenv was made for Python {v}, but polyplug embeds \
                         Python {want}; recreate it with `python{want} -m venv {}` and \
                         reinstall its packages there",
                        entry.display(),
                        entry.display()
                    ));
                }
            }
            let site = entry
                .join("lib")
                .join(format!("python{want}"))
                .join("site-packages");
            if !site.is_dir() {
                return Err(format!(
                    "{}: virtualenv without {}; is it a Python {want} virtualenv?",
                    entry.display(),
                    site.display()
                ));
            }
            sites.push(site.display().to_string());
        } else {
            plain.push(entry.display().to_string());
        }
        configured.insert(entry.clone());
    }
    if plain.is_empty() && sites.is_empty() {
        return Ok(());
    }
    let code = c"
def _polyplug_add_paths(plain, sites):
    import sys, site
    before = list(sys.path)
    for s in sites:
        site.addsitedir(s)
    added = [p for p in sys.path if p not in before]
    front = list(plain) + added
    sys.path[:] = front + [p for p in before if p not in front]
";
    let run = || -> PyResult<()> {
        let globals = pyo3::types::PyDict::new(py);
        py.run(code, Some(&globals), None)?;
        let f = globals.get_item("_polyplug_add_paths")?;
        if let Some(f) = f {
            f.call1((PyList::new(py, plain)?, PyList::new(py, sites)?))?;
        }
        Ok(())
    };
    run().map_err(|e| format!("cannot set the Python import paths: {e}"))
}
