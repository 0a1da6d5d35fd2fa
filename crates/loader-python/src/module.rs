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

use crate::interp;
use polyplug_core::{EntityError, Outcome, Params, RawMeta, Value};
use pyo3::exceptions::PySyntaxError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
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
enum Accepts {
    /// It has `**kwargs` (or its signature cannot be read, as for compiled functions).
    All,
    /// Only these names.
    Only(Vec<String>),
}

impl Accepts {
    fn takes(&self, name: &str) -> bool {
        match self {
            Accepts::All => true,
            Accepts::Only(names) => names.iter().any(|n| n == name),
        }
    }
}

/// A function of the plugin and what it accepts.
#[derive(Debug)]
pub struct Function {
    obj: Py<PyAny>,
    accepts: Accepts,
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
    compute: Option<Function>,
    initialize: Option<Function>,
    finalize: Option<Function>,
    compute_id: Option<Function>,
}

impl PluginModule {
    /// Which of the contract's functions the plugin defines.
    pub fn functions(&self) -> Vec<&'static str> {
        let mut f = Vec::new();
        if self.initialize.is_some() {
            f.push("initialize");
        }
        if self.compute.is_some() {
            f.push("compute");
        }
        if self.finalize.is_some() {
            f.push("finalize");
        }
        if self.compute_id.is_some() {
            f.push("compute_id");
        }
        f
    }

    /// Whether `compute` exists.
    pub fn has_compute(&self) -> bool {
        self.compute.is_some()
    }

    /// Whether `compute_id` exists.
    pub fn has_compute_id(&self) -> bool {
        self.compute_id.is_some()
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
    let inspect = py.import("inspect").ok();
    let spec_of = |f: &Bound<'_, PyAny>| -> Option<ArgSpec> {
        let spec = inspect
            .as_ref()?
            .call_method1("getfullargspec", (f,))
            .ok()?;
        let names = |attr: &str| -> Vec<String> {
            spec.getattr(attr)
                .ok()
                .and_then(|v| v.extract::<Vec<String>>().ok())
                .unwrap_or_default()
        };
        let present = |attr: &str| spec.getattr(attr).is_ok_and(|v| !v.is_none());
        Some(ArgSpec {
            args: names("args"),
            kwonly: names("kwonlyargs"),
            varargs: present("varargs"),
            varkw: present("varkw"),
        })
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

/// What `inspect.getfullargspec` says about a function.
struct ArgSpec {
    args: Vec<String>,
    kwonly: Vec<String>,
    varargs: bool,
    varkw: bool,
}

/// Prenacs check-plugin's signature rules, for functions whose signature Python can
/// read (compiled functions are not analysed, as in Prenacs).
fn signature_problems(
    has_compute: bool,
    compute: Option<&ArgSpec>,
    has_init: bool,
    init: Option<&ArgSpec>,
    has_fin: bool,
    fin: Option<&ArgSpec>,
) -> Vec<String> {
    let mut p = Vec::new();
    if let (true, Some(s)) = (has_compute, compute) {
        if s.varargs {
            p.push("compute() accepts variable positional arguments (*args); it must take the entity only".into());
        }
        if !has_init {
            if s.args.len() != 1 {
                p.push(format!(
                    "compute() must take a single positional argument (the entity), it takes {}: {}",
                    s.args.len(),
                    s.args.join(", ")
                ));
            }
        } else if s.args.len() != 2 || s.args[1] != "state" {
            p.push(format!(
                "compute() must take the entity and `state` (the plugin defines initialize), \
                 it takes: {}; write `def compute(entity, state, **kwargs)`",
                s.args.join(", ")
            ));
        }
        if !s.varkw {
            p.push("compute() does not accept variable keyword arguments; add `**kwargs`".into());
        }
    }
    if let (true, Some(s)) = (has_init, init) {
        if s.varargs || !s.args.is_empty() {
            p.push(format!(
                "initialize() accepts positional arguments ({}); it must take keyword arguments only: \
                 write `def initialize(**kwargs)`",
                s.args.join(", ")
            ));
        }
        if !s.varkw {
            p.push(
                "initialize() does not accept variable keyword arguments; add `**kwargs`".into(),
            );
        }
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

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A constant as a [`Value`]: strings, numbers, booleans, None, lists and tuples.
fn meta_value(v: &Bound<'_, PyAny>) -> Option<Value> {
    if v.is_none() {
        Some(Value::Null)
    } else if let Ok(b) = v.downcast::<PyBool>() {
        Some(Value::Bool(b.is_true()))
    } else if let Ok(s) = v.downcast::<PyString>() {
        s.to_str().ok().map(|s| Value::Str(s.to_string()))
    } else if v.is_instance_of::<PyInt>() {
        v.extract::<i64>().ok().map(Value::Int)
    } else if v.is_instance_of::<PyFloat>() {
        v.extract::<f64>().ok().map(Value::Float)
    } else if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let items: Option<Vec<Value>> = v
            .try_iter()
            .ok()?
            .map(|i| i.ok().and_then(|i| meta_value(&i)))
            .collect();
        items.map(Value::List)
    } else {
        None
    }
}

/// A computed result as a [`Value`], keeping what Python's `str()` writes: `bool`,
/// `int` (and integer-like objects such as numpy integers), `float`, `str` and `None`
/// become typed values, lists of those become lists, and anything else (a tuple, a
/// dict, a `Decimal`, an `int` beyond 64 bits) becomes the string `str()` makes of it.
fn result_value(v: &Bound<'_, PyAny>) -> PyResult<Value> {
    result_value_at(v, 0)
}

fn result_value_at(v: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if v.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = v.downcast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(s) = v.downcast::<PyString>() {
        return Ok(Value::Str(s.to_str()?.to_string()));
    }
    if v.is_instance_of::<PyFloat>() {
        // Subclasses (numpy.float64) print as floats do; their own repr may differ.
        if v.is_exact_instance_of::<PyFloat>() {
            return Ok(Value::Float(v.extract::<f64>()?));
        }
        return Ok(Value::Str(v.str()?.to_string()));
    }
    if v.is_instance_of::<PyInt>() {
        if let Ok(i) = v.extract::<i64>() {
            if v.is_exact_instance_of::<PyInt>() {
                return Ok(Value::Int(i));
            }
        }
        return Ok(Value::Str(v.str()?.to_string()));
    }
    if v.is_exact_instance_of::<PyList>() {
        if depth >= polyplug_core::codec::MAX_DEPTH {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "a result value has lists nested more than {} deep",
                polyplug_core::codec::MAX_DEPTH
            )));
        }
        let mut items = Vec::new();
        let mut simple = true;
        for i in v.try_iter()? {
            let i = i?;
            let iv = result_value_at(&i, depth + 1)?;
            // A nested value that became text would print quoted: keep str() of the list.
            if matches!(iv, Value::Str(_)) && !i.is_exact_instance_of::<PyString>() {
                simple = false;
                break;
            }
            items.push(iv);
        }
        if simple {
            return Ok(Value::List(items));
        }
        return Ok(Value::Str(v.str()?.to_string()));
    }
    if v.hasattr("__index__")? && !v.is_instance_of::<PyTuple>() {
        if let Ok(i) = v.call_method0("__index__").and_then(|i| i.extract::<i64>()) {
            if v.str()?.to_str()? == i.to_string() {
                return Ok(Value::Int(i));
            }
        }
    }
    Ok(Value::Str(v.str()?.to_string()))
}

/// A parameter value as a Python object.
fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(f) => PyFloat::new(py, *f).into_any(),
        Value::Str(s) => PyString::new(py, s).into_any(),
        Value::List(items) => {
            let list = PyList::empty(py);
            for i in items {
                list.append(to_py(py, i)?)?;
            }
            list.into_any()
        }
    })
}

/// The message for an exception the plugin raised: `Type: message (file, line N, in
/// function: code)`, with the innermost traceback line that is in the plugin file (or
/// the innermost line at all when none is).
pub fn exception_message(py: Python<'_>, plugin: &Path, err: &PyErr) -> String {
    let value = err.value(py);
    let ty = type_name(value);
    let text = value.str().map(|s| s.to_string()).unwrap_or_default();
    let mut message = if text.is_empty() {
        ty
    } else {
        format!("{ty}: {text}")
    };
    if let Some(place) = innermost_line(py, plugin, err) {
        message.push_str(&format!(" ({place})"));
    }
    message
}

fn innermost_line(py: Python<'_>, plugin: &Path, err: &PyErr) -> Option<String> {
    let tb = err.traceback(py)?;
    let frames = py
        .import("traceback")
        .ok()?
        .call_method1("extract_tb", (tb,))
        .ok()?;
    let mut best: Option<(String, i64, String, String)> = None;
    let plugin = plugin.display().to_string();
    for f in frames.try_iter().ok()? {
        let f = f.ok()?;
        let file: String = f.getattr("filename").ok()?.extract().ok()?;
        let line: i64 = f.getattr("lineno").ok()?.extract().unwrap_or(0);
        let name: String = f.getattr("name").ok()?.extract().unwrap_or_default();
        let code: String = f
            .getattr("line")
            .ok()
            .and_then(|l| l.extract().ok())
            .unwrap_or_default();
        let in_plugin = file == plugin;
        let best_in_plugin = best.as_ref().is_some_and(|b| b.0 == plugin);
        if in_plugin || !best_in_plugin {
            best = Some((file, line, name, code));
        }
    }
    let (file, line, name, code) = best?;
    let file = Path::new(&file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or(file);
    Some(if code.trim().is_empty() {
        format!("{file}, line {line}, in {name}")
    } else {
        format!("{file}, line {line}, in {name}: {}", code.trim())
    })
}

/// The load error for an exception raised while importing the plugin.
fn import_error(py: Python<'_>, path: &Path, err: &PyErr) -> String {
    let value = err.value(py);
    if err.is_instance_of::<PySyntaxError>(py) {
        let get = |a: &str| {
            value
                .getattr(a)
                .ok()
                .filter(|v| !v.is_none())
                .and_then(|v| v.str().ok().map(|s| s.to_string()))
        };
        let file = get("filename").unwrap_or_else(|| path.display().to_string());
        let line = get("lineno").unwrap_or_else(|| "?".into());
        let msg = get("msg").unwrap_or_else(|| "invalid syntax".into());
        let code = get("text")
            .map(|t| t.trim().to_string())
            .unwrap_or_default();
        let where_ = if file == path.display().to_string() {
            format!("line {line}")
        } else {
            format!("{file}, line {line}")
        };
        return format!(
            "{} in {where_}: {msg}{}",
            type_name(value),
            if code.is_empty() {
                String::new()
            } else {
                format!(": {code}")
            }
        );
    }
    let mut m = format!(
        "cannot import the plugin: {}",
        exception_message(py, path, err)
    );
    if type_name(value) == "ModuleNotFoundError" {
        m.push_str("; install the missing package in a virtualenv made with python");
        m.push_str(&interp::built_version());
        m.push_str(" and set VIRTUAL_ENV (or pass --python-path / POLYPLUG_PYTHON_PATH)");
    }
    m
}

/// One instance of the plugin in this interpreter: its state and call arguments.
pub struct Session {
    /// The keyword arguments of compute: the parameters it accepts, and `state`.
    compute_kwargs: Py<PyDict>,
    state: Py<PyAny>,
}

impl Session {
    /// Runs `initialize(**params)` (only the parameters it accepts, unless it takes
    /// `**kwargs`) and prepares the arguments of compute.
    pub fn start(py: Python<'_>, m: &PluginModule, params: &Params) -> Result<Session, String> {
        let kw_for = |f: &Function| -> PyResult<Bound<'_, PyDict>> {
            let d = PyDict::new(py);
            for (k, v) in params.entries() {
                if f.accepts.takes(k) {
                    d.set_item(k, to_py(py, v)?)?;
                }
            }
            Ok(d)
        };
        let state = match &m.initialize {
            Some(init) => {
                let kw = kw_for(init).map_err(|e| e.to_string())?;
                init.obj.bind(py).call((), Some(&kw)).map_err(|e| {
                    format!("initialize failed: {}", exception_message(py, &m.path, &e))
                })?
            }
            None => py.None().into_bound(py),
        };
        let compute_kwargs = match &m.compute {
            Some(c) => {
                let kw = kw_for(c).map_err(|e| e.to_string())?;
                if m.initialize.is_some() {
                    kw.set_item("state", &state).map_err(|e| e.to_string())?;
                }
                kw
            }
            None => PyDict::new(py),
        };
        Ok(Session {
            compute_kwargs: compute_kwargs.unbind(),
            state: state.unbind(),
        })
    }

    /// Computes one entity: `results, *logs = compute(entity, **kwargs)`.
    pub fn compute(
        &self,
        py: Python<'_>,
        m: &PluginModule,
        entity: &str,
        out: &mut Outcome,
    ) -> Result<(), EntityError> {
        let f = m
            .compute
            .as_ref()
            .ok_or_else(|| EntityError::new("the plugin has no compute function"))?;
        let ret = f
            .obj
            .bind(py)
            .call((entity,), Some(self.compute_kwargs.bind(py)))
            .map_err(|e| EntityError::new(exception_message(py, &m.path, &e)))?;
        unpack(&ret, out).map_err(|e| match e {
            Unpack::Shape(s) => EntityError::new(s),
            Unpack::Py(e) => EntityError::new(exception_message(py, &m.path, &e)),
        })
    }

    /// Runs `finalize(state)`. Prenacs ignores what finalize returns; polyplug takes
    /// a string or a list of strings as log messages (None: no logs).
    pub fn finalize(self, py: Python<'_>, m: &PluginModule) -> Result<Vec<String>, String> {
        let mut logs = Vec::new();
        if let Some(f) = &m.finalize {
            let fail =
                |e: PyErr| format!("finalize failed: {}", exception_message(py, &m.path, &e));
            let r = f.obj.bind(py).call1((self.state.bind(py),)).map_err(fail)?;
            if r.is_instance_of::<PyString>() {
                logs.push(r.str().map_err(fail)?.to_string());
            } else if r.is_instance_of::<PyList>() || r.is_instance_of::<PyTuple>() {
                for item in r.try_iter().map_err(fail)? {
                    let item = item.map_err(fail)?;
                    if item.is_truthy().map_err(fail)? {
                        logs.push(item.str().map_err(fail)?.to_string());
                    }
                }
            }
        }
        Ok(logs)
    }
}

enum Unpack {
    Shape(String),
    Py(PyErr),
}

impl From<PyErr> for Unpack {
    fn from(e: PyErr) -> Self {
        Unpack::Py(e)
    }
}

/// `results, *logs = ret`, then Prenacs' rules for results and logs.
fn unpack(ret: &Bound<'_, PyAny>, out: &mut Outcome) -> Result<(), Unpack> {
    let shape = |what: String| {
        Unpack::Shape(format!(
            "compute returned {what}; it must return (results, logs): a list of values in \
             OUTPUT order, and log messages"
        ))
    };
    let Ok(iter) = ret.try_iter() else {
        return Err(shape(format!(
            "a {} that cannot be unpacked",
            type_name(ret)
        )));
    };
    if ret.is_instance_of::<PyString>() {
        return Err(shape("a string".into()));
    }
    let mut parts = iter;
    let results = match parts.next() {
        Some(r) => r?,
        None => return Err(shape("an empty sequence".into())),
    };
    if results.is_none() {
        return Err(shape("None as results (use [] for no result)".into()));
    }
    let Ok(values) = results.try_iter() else {
        return Err(shape(format!(
            "results of type {}, not a list or tuple",
            type_name(&results)
        )));
    };
    for v in values {
        out.values.push(result_value(&v?)?);
    }
    // Prenacs writes no row when the tab-joined str() of the results is empty.
    if out.values.len() == 1 && out.values[0].to_py_str().is_empty() {
        out.values.clear();
    }
    for element in parts {
        let element = element?;
        if element.is_instance_of::<PyList>() {
            for sub in element.try_iter()? {
                let sub = sub?;
                if sub.is_truthy()? {
                    out.logs.push(sub.str()?.to_string());
                }
            }
        } else if element.is_truthy()? {
            out.logs.push(element.str()?.to_string());
        }
    }
    Ok(())
}

/// Runs `compute_id(unit)` and returns `str()` of its result.
pub fn compute_id(py: Python<'_>, m: &PluginModule, unit: &str) -> Result<String, EntityError> {
    let f = m
        .compute_id
        .as_ref()
        .ok_or_else(|| EntityError::new("the plugin has no compute_id function"))?;
    let r = f.obj.bind(py).call1((unit,)).map_err(|e| {
        EntityError::new(format!(
            "compute_id: {}",
            exception_message(py, &m.path, &e)
        ))
    })?;
    r.str().map(|s| s.to_string()).map_err(|e| {
        EntityError::new(format!(
            "compute_id: {}",
            exception_message(py, &m.path, &e)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(expr: &str) -> Value {
        interp::start().unwrap();
        Python::with_gil(|py| {
            let code = std::ffi::CString::new(expr).unwrap();
            let v = py.eval(&code, None, None).unwrap();
            result_value(&v).unwrap()
        })
    }

    #[test]
    fn results_become_typed_values_that_print_as_python_str() {
        assert_eq!(conv("3"), Value::Int(3));
        assert_eq!(conv("True"), Value::Bool(true));
        assert_eq!(conv("0.1"), Value::Float(0.1));
        assert_eq!(conv("None"), Value::Null);
        assert_eq!(conv("'x'"), Value::Str("x".into()));
        assert_eq!(
            conv("[1, 'a', None]"),
            Value::List(vec![Value::Int(1), Value::Str("a".into()), Value::Null])
        );
        for (expr, text) in [
            ("(1, 'a')", "(1, 'a')"),
            ("2**64", "18446744073709551616"),
            ("[(1,)]", "[(1,)]"),
            ("{'k': 1}", "{'k': 1}"),
            ("__import__('decimal').Decimal('1.50')", "1.50"),
            ("__import__('fractions').Fraction(1, 3)", "1/3"),
        ] {
            let v = conv(expr);
            assert_eq!(v.to_py_str(), text, "{expr}");
        }
    }

    #[test]
    fn signature_rules_are_prenacs_check_plugin_rules() {
        let spec = |args: &[&str], varargs, varkw| ArgSpec {
            args: args.iter().map(|s| s.to_string()).collect(),
            kwonly: Vec::new(),
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
            Some(&good_fin)
        )
        .is_empty());
        let p = signature_problems(
            true,
            Some(&spec(&["e"], false, true)),
            false,
            None,
            true,
            Some(&good_fin),
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("finalize() is defined but initialize() is not"));
        // Compiled functions (no signature) are not analysed.
        assert!(signature_problems(true, None, true, None, true, None).is_empty());
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
}
