//! A plugin module inside the interpreter: importing it, reading its constants and
//! functions, and calling them exactly as Prenacs does.
//!
//! Prenacs' calls, which this module reproduces:
//!
//! - `results, *logs = compute(entity, **params)` where `params` holds `state` when the
//!   plugin has `initialize`; each result is written with `str()`, and the row is left
//!   out when the joined results are empty; each element of `logs` that is a list is
//!   flattened one level, and falsy elements are dropped.
//! - `finalize(state)`, `state` being `None` without `initialize`.
//!
//! One deliberate difference: Prenacs calls `initialize(**params["state"])` (a `state`
//! mapping of the parameters file); polyplug calls `initialize(**params)` with the
//! declared PARAMETERS (given or defaulted), as the polyplug contract says. A function
//! that does not accept `**kwargs` is given only the parameters it names, so a Prenacs
//! `def initialize():` keeps working.

use crate::convert::{import_error, meta_value, type_name};
use crate::interp;
use polyplug_core::RawMeta;
use pyo3::prelude::*;
use std::path::{Path, PathBuf};

/// Names of the metadata constants.
const CONSTANTS: [&str; 10] = [
    "ID",
    "VERSION",
    "INPUT",
    "OUTPUT",
    "PARAMETERS",
    "METHOD",
    "IMPLEMENTATION",
    "REQ_SOFTWARE",
    "REQ_HARDWARE",
    "ADVICE",
];

/// Prefix of the procs that carry constants in a Nim (nimpy) Prenacs plugin.
const NIM_CONST_PREFIX: &str = "py_const_";
/// Class that carries constants in a Rust (pyo3) Prenacs plugin.
const RUST_CONST_CLASS: &str = "Constants";

/// Which keyword arguments a function accepts.
#[derive(Debug, Clone)]
pub(crate) enum Accepts {
    /// It has `**kwargs` (or its signature cannot be read, as for compiled functions).
    All,
    /// Only these names.
    Only(Vec<String>),
}

impl Accepts {
    pub(crate) fn takes(&self, name: &str) -> bool {
        match self {
            Accepts::All => true,
            Accepts::Only(names) => names.iter().any(|n| n == name),
        }
    }
}

/// A function of the plugin and what it accepts.
#[derive(Debug)]
pub struct Function {
    /// The function object.
    pub(crate) obj: Py<PyAny>,
    /// Which keyword arguments it takes.
    pub(crate) accepts: Accepts,
}

/// An imported plugin module.
#[derive(Debug)]
pub struct PluginModule {
    /// The plugin file.
    pub path: PathBuf,
    /// `python`, or `python-extension` for a compiled (Nim, Rust) extension module.
    pub language: &'static str,
    /// The constants, as read.
    pub raw: RawMeta,
    /// Problems with the constants that [`RawMeta`] cannot express (a dict as OUTPUT).
    pub const_problems: Vec<String>,
    /// Problems with the function signatures (Prenacs check-plugin's rules).
    pub signature_problems: Vec<String>,
    pub(crate) compute: Option<Function>,
    pub(crate) initialize: Option<Function>,
    pub(crate) finalize: Option<Function>,
    pub(crate) compute_id: Option<Function>,
}

/// The contract's functions a module may define.
pub(crate) const FUNCTIONS: [&str; 4] = ["initialize", "compute", "finalize", "compute_id"];

impl PluginModule {
    /// Which of the contract's functions the plugin defines, in [`FUNCTIONS`] order.
    pub fn functions(&self) -> Vec<&'static str> {
        let defined = [
            &self.initialize,
            &self.compute,
            &self.finalize,
            &self.compute_id,
        ];
        FUNCTIONS
            .into_iter()
            .zip(defined)
            .filter(|(_, f)| f.is_some())
            .map(|(name, _)| name)
            .collect()
    }
}

/// The module name of a plugin file: the stem up to the first dot, so that
/// `kmer.cpython-311-x86_64-linux-gnu.so` is `kmer`.
pub fn module_name(path: &Path) -> String {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("plugin");
    name.split('.').next().unwrap_or(name).to_string()
}

/// Whether a shared library is a CPython extension module named after its file
/// (it exports `PyInit_<name>`): a compiled Prenacs plugin (Nim with nimpy, Rust with
/// pyo3). Reads the file; no code is run.
pub fn is_extension_module(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    let mut needle = format!("PyInit_{}", module_name(path)).into_bytes();
    needle.push(0);
    bytes.windows(needle.len()).any(|w| w == needle.as_slice())
}

/// Imports the plugin at `path` (its folder first on `sys.path`) and reads its
/// constants and functions. The error names the file, the line and the fix.
pub fn import(
    py: Python<'_>,
    path: &Path,
    python_path: &[PathBuf],
) -> Result<PluginModule, String> {
    interp::add_paths(py, &interp::path_entries(python_path))?;
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let name = module_name(&path);
    let is_ext = path.extension().and_then(|e| e.to_str()) != Some("py");
    let dir = path
        .parent()
        .unwrap_or(Path::new("/"))
        .display()
        .to_string();
    let module = (|| -> PyResult<Bound<'_, PyAny>> {
        let sys = py.import("sys")?;
        let sys_path = sys.getattr("path")?;
        if !sys_path.contains(&dir)? {
            sys_path.call_method1("insert", (0, &dir))?;
        }
        let util = py.import("importlib.util")?;
        let spec = util.call_method1(
            "spec_from_file_location",
            (&name, path.display().to_string()),
        )?;
        if spec.is_none() {
            return Err(pyo3::exceptions::PyImportError::new_err(
                "Python cannot import a file of this kind",
            ));
        }
        let module = util.call_method1("module_from_spec", (&spec,))?;
        let modules = sys.getattr("modules")?;
        let registered = !modules.contains(&name)?;
        if registered {
            // Registered so that pickle, dataclasses and friends find the module.
            modules.set_item(&name, &module)?;
        }
        let loaded = spec
            .getattr("loader")?
            .call_method1("exec_module", (&module,));
        if let Err(e) = loaded {
            if registered {
                let _ = modules.del_item(&name);
            }
            return Err(e);
        }
        Ok(module)
    })()
    .map_err(|e| import_error(py, &path, &e))?;

    let mut raw = RawMeta::default();
    let mut const_problems = Vec::new();
    let mut constants: Vec<(String, Bound<'_, PyAny>)> = Vec::new();
    for c in CONSTANTS {
        if let Ok(v) = module.getattr(c) {
            constants.push((c.to_string(), v));
        }
    }
    if is_ext {
        // Nim (nimpy): `py_const_<NAME>()` procs; Rust (pyo3): a `Constants` class.
        if let Ok(names) = module.dir() {
            for n in names.iter() {
                let Ok(n) = n.extract::<String>() else {
                    continue;
                };
                if let Some(c) = n.strip_prefix(NIM_CONST_PREFIX) {
                    match module.getattr(n.as_str()).and_then(|f| f.call0()) {
                        Ok(v) => constants.push((c.to_string(), v)),
                        Err(e) => const_problems.push(format!("{n}() failed: {e}")),
                    }
                }
            }
        }
        if let Ok(cls) = module.getattr(RUST_CONST_CLASS) {
            for c in CONSTANTS {
                if let Ok(v) = cls.getattr(c) {
                    constants.push((c.to_string(), v));
                }
            }
        }
    }
    for (c, v) in constants {
        match meta_value(&v) {
            Some(value) => raw.set(&c, value),
            None => const_problems.push(format!(
                "constant {c} has Python type {}, which is not a string, number or list",
                type_name(&v)
            )),
        }
    }

    let func = |n: &str| -> Option<Bound<'_, PyAny>> {
        module.getattr(n).ok().filter(|f| f.is_callable())
    };
    // `inspect` (5 ms to import) only for what is not a plain function.
    let inspect = std::cell::OnceCell::new();
    let spec_of = |f: &Bound<'_, PyAny>| -> Option<ArgSpec> {
        if let Some(spec) = plain_function_spec(f) {
            return Some(spec);
        }
        let inspect = inspect.get_or_init(|| py.import("inspect").ok()).as_ref()?;
        inspect_spec(inspect, f)
    };
    let make = |f: Option<Bound<'_, PyAny>>| -> (Option<Function>, Option<ArgSpec>) {
        match f {
            None => (None, None),
            Some(f) => {
                let spec = spec_of(&f);
                let accepts = match &spec {
                    Some(s) if !s.varkw => {
                        Accepts::Only(s.args.iter().chain(&s.kwonly).cloned().collect())
                    }
                    _ => Accepts::All,
                };
                (
                    Some(Function {
                        obj: f.unbind(),
                        accepts,
                    }),
                    spec,
                )
            }
        }
    };
    let (compute, compute_spec) = make(func("compute"));
    let (initialize, init_spec) = make(func("initialize"));
    let (finalize, fin_spec) = make(func("finalize"));
    let (compute_id, _) = make(func("compute_id"));
    let signature_problems = signature_problems(
        compute.is_some(),
        compute_spec.as_ref(),
        initialize.is_some(),
        init_spec.as_ref(),
        finalize.is_some(),
        fin_spec.as_ref(),
        &declared_parameters(&raw),
    );
    Ok(PluginModule {
        path,
        language: if is_ext { "python-extension" } else { "python" },
        raw,
        const_problems,
        signature_problems,
        compute,
        initialize,
        finalize,
        compute_id,
    })
}

/// What `inspect.getfullargspec` says of `f`, read from its code object when it is a
/// plain Python function (no `__signature__` of its own): the same fields, without
/// importing `inspect`. `None` for anything else.
fn plain_function_spec(f: &Bound<'_, PyAny>) -> Option<ArgSpec> {
    const CO_VARARGS: u32 = 0x04;
    const CO_VARKEYWORDS: u32 = 0x08;
    let py = f.py();
    if !f
        .is_instance(&py.get_type::<pyo3::types::PyFunction>())
        .ok()?
        || f.hasattr("__signature__").unwrap_or(true)
    {
        return None;
    }
    let code = f.getattr("__code__").ok()?;
    let count = |attr: &str| code.getattr(attr).ok()?.extract::<usize>().ok();
    let (positional, kwonly) = (count("co_argcount")?, count("co_kwonlyargcount")?);
    let flags: u32 = code.getattr("co_flags").ok()?.extract().ok()?;
    let names: Vec<String> = code.getattr("co_varnames").ok()?.extract().ok()?;
    let args = names.get(..positional)?.to_vec();
    let kwonly = names.get(positional..positional + kwonly)?.to_vec();
    let defaults = f
        .getattr("__defaults__")
        .ok()
        .filter(|d| !d.is_none())
        .map_or(Some(0), |d| d.len().ok())?;
    let kwonly_defaults = match f.getattr("__kwdefaults__").ok().filter(|d| !d.is_none()) {
        None => Vec::new(),
        Some(d) => d
            .call_method0("keys")
            .ok()?
            .try_iter()
            .ok()?
            .flatten()
            .filter_map(|k| k.extract().ok())
            .collect(),
    };
    Some(ArgSpec {
        args,
        defaults,
        kwonly,
        kwonly_defaults,
        varargs: flags & CO_VARARGS != 0,
        varkw: flags & CO_VARKEYWORDS != 0,
    })
}

/// What `inspect.getfullargspec` says of `f` (`None` when it cannot tell: a compiled
/// function without a signature).
fn inspect_spec(inspect: &Bound<'_, PyModule>, f: &Bound<'_, PyAny>) -> Option<ArgSpec> {
    let spec = inspect.call_method1("getfullargspec", (f,)).ok()?;
    let names = |attr: &str| -> Vec<String> {
        spec.getattr(attr)
            .ok()
            .and_then(|v| v.extract::<Vec<String>>().ok())
            .unwrap_or_default()
    };
    let present = |attr: &str| spec.getattr(attr).is_ok_and(|v| !v.is_none());
    let defaulted = |attr: &str| -> usize {
        spec.getattr(attr)
            .ok()
            .filter(|v| !v.is_none())
            .and_then(|v| v.len().ok())
            .unwrap_or(0)
    };
    let kwonly_defaults: Vec<String> = spec
        .getattr("kwonlydefaults")
        .ok()
        .filter(|v| !v.is_none())
        .and_then(|v| v.call_method0("keys").ok())
        .and_then(|k| k.try_iter().ok())
        .map(|it| it.flatten().filter_map(|k| k.extract().ok()).collect())
        .unwrap_or_default();
    Some(ArgSpec {
        args: names("args"),
        defaults: defaulted("defaults"),
        kwonly: names("kwonlyargs"),
        kwonly_defaults,
        varargs: present("varargs"),
        varkw: present("varkw"),
    })
}

/// The names of the parameters the module's PARAMETERS declares.
fn declared_parameters(raw: &RawMeta) -> Vec<String> {
    let Some(polyplug_core::Value::List(items)) = raw.constants.get("PARAMETERS") else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|i| match i {
            polyplug_core::Value::List(fields) => match fields.first() {
                Some(polyplug_core::Value::Str(name)) => Some(name.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// What `inspect.getfullargspec` says about a function.
#[derive(Debug, PartialEq, Eq)]
struct ArgSpec {
    args: Vec<String>,
    /// How many of the last `args` have a default.
    defaults: usize,
    kwonly: Vec<String>,
    /// The keyword-only arguments with a default.
    kwonly_defaults: Vec<String>,
    varargs: bool,
    varkw: bool,
}

impl ArgSpec {
    /// The arguments after the first `skip` positional ones that a run cannot fill:
    /// no default, and not a declared parameter (a run passes the parameters, and
    /// `state`, by keyword).
    fn unfillable(&self, skip: usize, params: &[String]) -> Vec<String> {
        let first_default = self.args.len().saturating_sub(self.defaults);
        let positional = self
            .args
            .iter()
            .enumerate()
            .skip(skip)
            .filter(|(i, _)| *i < first_default)
            .map(|(_, a)| a);
        let kwonly = self
            .kwonly
            .iter()
            .filter(|a| !self.kwonly_defaults.contains(a));
        positional
            .chain(kwonly)
            .filter(|a| *a != "state" && !params.contains(a))
            .cloned()
            .collect()
    }

    /// Whether the function can receive `name` by keyword.
    fn takes(&self, name: &str) -> bool {
        self.varkw || self.args.iter().chain(&self.kwonly).any(|a| a == name)
    }
}

/// The signature rules, for functions whose signature Python can read (compiled
/// functions are not analysed): the calls a run makes must work. compute gets the
/// entity first, then `state` (when the plugin has initialize) and the parameters it
/// names by keyword (all of them with `**kwargs`); initialize gets the parameters it
/// names by keyword. So neither may take `*args`, and every other argument must have
/// a default or be a declared parameter (`params`).
fn signature_problems(
    has_compute: bool,
    compute: Option<&ArgSpec>,
    has_init: bool,
    init: Option<&ArgSpec>,
    has_fin: bool,
    fin: Option<&ArgSpec>,
    params: &[String],
) -> Vec<String> {
    let mut p = Vec::new();
    let unfillable = |f: &str, names: Vec<String>, p: &mut Vec<String>| {
        if !names.is_empty() {
            p.push(format!(
                "{f}() takes {}, which {} neither a declared parameter nor has a default: a \
                 run cannot fill {}; give {} a default or declare {} in PARAMETERS",
                names.join(", "),
                if names.len() == 1 { "is" } else { "are" },
                if names.len() == 1 { "it" } else { "them" },
                if names.len() == 1 { "it" } else { "them" },
                if names.len() == 1 { "it" } else { "them" },
            ));
        }
    };
    if let (true, Some(s)) = (has_compute, compute) {
        if s.varargs {
            p.push("compute() accepts variable positional arguments (*args); it must take the entity, then keyword arguments".into());
        }
        if s.args.is_empty() {
            p.push("compute() takes no argument: it must take the entity first; write `def compute(entity, **kwargs)`".into());
        }
        if has_init && !s.takes("state") {
            p.push(
                "compute() cannot receive the state initialize returns; write \
                 `def compute(entity, state, **kwargs)`"
                    .into(),
            );
        }
        unfillable("compute", s.unfillable(1, params), &mut p);
    }
    if let (true, Some(s)) = (has_init, init) {
        if s.varargs {
            p.push(
                "initialize() accepts variable positional arguments (*args); it must take \
                 keyword arguments only: write `def initialize(**kwargs)`"
                    .into(),
            );
        }
        unfillable("initialize", s.unfillable(0, params), &mut p);
    }
    if has_fin {
        if !has_init {
            p.push("finalize() is defined but initialize() is not: finalize receives the state initialize returns".into());
        }
        if let Some(s) = fin {
            if s.varargs {
                p.push("finalize() accepts variable positional arguments (*args); it must take the state only".into());
            }
            if s.args.len() != 1 {
                p.push(format!(
                    "finalize() must take a single positional argument (the state), it takes {}",
                    s.args.len()
                ));
            }
            if s.varkw {
                p.push(
                    "finalize() accepts variable keyword arguments; it must take the state only"
                        .into(),
                );
            }
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_rules_are_prenacs_check_plugin_rules() {
        let spec = |args: &[&str], varargs, varkw| ArgSpec {
            args: args.iter().map(|s| s.to_string()).collect(),
            defaults: 0,
            kwonly: Vec::new(),
            kwonly_defaults: Vec::new(),
            varargs,
            varkw,
        };
        let good_compute = spec(&["e", "state"], false, true);
        let good_init = spec(&[], false, true);
        let good_fin = spec(&["s"], false, false);
        assert!(signature_problems(
            true,
            Some(&good_compute),
            true,
            Some(&good_init),
            true,
            Some(&good_fin),
            &[],
        )
        .is_empty());
        let p = signature_problems(
            true,
            Some(&spec(&["e"], false, true)),
            false,
            None,
            true,
            Some(&good_fin),
            &[],
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("finalize() is defined but initialize() is not"));
        // Compiled functions (no signature) are not analysed.
        assert!(signature_problems(true, None, true, None, true, None, &[]).is_empty());
        // Named arguments with defaults, or naming declared parameters, are what a run
        // passes by keyword: `def initialize(k=3, **_)`, `def compute(e, state, k)`.
        let with_default = ArgSpec {
            defaults: 1,
            ..spec(&["k"], false, true)
        };
        let named = spec(&["e", "state", "k"], false, false);
        let k = ["k".to_string()];
        assert!(signature_problems(
            true,
            Some(&named),
            true,
            Some(&with_default),
            false,
            None,
            &k
        )
        .is_empty());
        let p = signature_problems(
            true,
            Some(&named),
            true,
            Some(&with_default),
            false,
            None,
            &[],
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("compute() takes k, which is neither a declared parameter"));
        let p = signature_problems(
            true,
            Some(&spec(&["e"], false, false)),
            true,
            Some(&spec(&["x"], false, false)),
            false,
            None,
            &[],
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("cannot receive the state"), "{p:?}");
        assert!(p[1].starts_with("initialize() takes x"), "{p:?}");
    }

    #[test]
    fn extension_module_names_drop_the_platform_tag() {
        assert_eq!(
            module_name(Path::new("/x/kmer.cpython-311-x86_64-linux-gnu.so")),
            "kmer"
        );
        assert_eq!(module_name(Path::new("gc.py")), "gc");
        assert!(!is_extension_module(Path::new("/nonexistent.so")));
    }

    #[test]
    fn a_plain_function_is_read_as_inspect_reads_it() {
        crate::interp::start().expect("the interpreter starts");
        Python::with_gil(|py| {
            let code = std::ffi::CString::new(
                "import functools\n\
                 def a(e): pass\n\
                 def b(e, state, k=1, *args, j, m=2, **kw): x = 1; return x\n\
                 def c(e, /, s, *, t): pass\n\
                 def d(*args, **kwargs): pass\n\
                 def e(x, y=None): z = [x]; return z\n\
                 def f(): pass\n\
                 @functools.wraps(b)\n\
                 def g(*a, **k): pass\n\
                 def h(e): pass\n\
                 h.__signature__ = None\n\
                 class K:\n    def __call__(self, e): pass\n\
                 k = K()\n\
                 import math\n\
                 hs = [a, b, c, d, e, f, g]\n",
            )
            .expect("no NUL");
            let globals = pyo3::types::PyDict::new(py);
            py.run(&code, Some(&globals), None)
                .expect("the functions are defined");
            let inspect = py.import("inspect").expect("inspect");
            let functions = globals.get_item("hs").expect("get").expect("hs");
            let mut read = 0;
            for f in functions.try_iter().expect("a list").flatten() {
                let fast = plain_function_spec(&f).expect("a plain function");
                assert_eq!(Some(fast), inspect_spec(&inspect, &f), "{f}");
                read += 1;
            }
            assert_eq!(read, 7);
            // Not plain functions: one with a __signature__ of its own, a callable
            // object, a builtin.
            for name in ["h", "k"] {
                let f = globals.get_item(name).expect("get").expect("defined");
                assert!(plain_function_spec(&f).is_none(), "{name}");
            }
            let builtin = py
                .import("math")
                .expect("math")
                .getattr("sqrt")
                .expect("sqrt");
            assert!(plain_function_spec(&builtin).is_none());
        });
    }
}
