//! One instance of a plugin in this interpreter ([`Session`]): `initialize` with the
//! parameters it accepts, `compute` called as Prenacs calls it and its return value
//! unpacked as Prenacs unpacks it, `finalize`; and `compute_id` for `--idsproc`.

use crate::convert::{exception_message, result_value, to_py, type_name};
use crate::module::{Function, PluginModule};
use polyplug_core::{EntityError, Outcome, Params, Record};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

/// What compute receives in records mode: a `str` (the record's name, so that a
/// plugin written for IDs works unchanged) that also has the record's bytes
/// (`.data`), its text (`.text`, decoded as UTF-8 with bad bytes replaced), its fields
/// (`.fields`, a dict of str, in order) and its name again (`.name`).
const RECORD_CLASS: &std::ffi::CStr = c"
class Record(str):
    \"\"\"A record of polyplug's records mode: a str (its name) with .data (bytes),
    .text (str), .fields (dict of str) and .name.\"\"\"
    def __new__(cls, name, data, fields):
        self = str.__new__(cls, name)
        self.name = name
        self.data = data
        self.fields = fields
        return self
    @property
    def text(self):
        return self.data.decode('utf-8', 'replace')
    def __repr__(self):
        return 'Record(%s, %d bytes)' % (str.__repr__(self), len(self.data))
Record.__module__ = 'polyplug'
";

/// One instance of the plugin in this interpreter: its state and call arguments.
pub struct Session {
    /// The keyword arguments of compute: the parameters it accepts, and `state`.
    compute_kwargs: Py<PyDict>,
    state: Py<PyAny>,
    /// The `Record` class (records mode), made when first needed.
    record_class: std::cell::OnceCell<Py<PyAny>>,
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
            record_class: std::cell::OnceCell::new(),
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
        let arg = PyString::new(py, entity).into_any();
        self.call(py, m, f, arg, out)
    }

    /// `results, *logs = compute(arg, **kwargs)`.
    fn call(
        &self,
        py: Python<'_>,
        m: &PluginModule,
        f: &Function,
        arg: Bound<'_, PyAny>,
        out: &mut Outcome,
    ) -> Result<(), EntityError> {
        let ret = f
            .obj
            .bind(py)
            .call((arg,), Some(self.compute_kwargs.bind(py)))
            .map_err(|e| failure(py, &m.path, &e))?;
        unpack(&ret, out).map_err(|e| match e {
            Unpack::Shape(s) => EntityError::new(s),
            Unpack::Py(e) => failure(py, &m.path, &e),
        })
    }

    /// Computes one record: `compute(Record(name, data, fields), **kwargs)`.
    pub fn compute_record(
        &self,
        py: Python<'_>,
        m: &PluginModule,
        name: &str,
        record: &Record<'_>,
        out: &mut Outcome,
    ) -> Result<(), EntityError> {
        let f = m
            .compute
            .as_ref()
            .ok_or_else(|| EntityError::new("the plugin has no compute function"))?;
        let arg = self
            .record_object(py, name, record)
            .map_err(|e| EntityError::new(format!("cannot pass the record to Python: {e}")))?;
        self.call(py, m, f, arg, out)
    }

    /// The `Record` object of one record.
    fn record_object<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        record: &Record<'_>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let class = match self.record_class.get() {
            Some(c) => c.bind(py).clone(),
            None => {
                let globals = PyDict::new(py);
                py.run(RECORD_CLASS, Some(&globals), None)?;
                let c = globals
                    .get_item("Record")?
                    .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err("Record"))?;
                let _ = self.record_class.set(c.clone().unbind());
                c
            }
        };
        let fields = PyDict::new(py);
        for (k, v) in record.fields {
            fields.set_item(k, v)?;
        }
        class.call1((name, PyBytes::new(py, record.bytes), fields))
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
///
/// Tuples and lists (nearly always what compute returns) are read by index: Python's
/// iterator protocol costs an error check at its end, for every entity.
fn unpack(ret: &Bound<'_, PyAny>, out: &mut Outcome) -> Result<(), Unpack> {
    let shape = |what: String| {
        Unpack::Shape(format!(
            "compute returned {what}; it must return (results, logs): a list of values in \
             OUTPUT order, and log messages"
        ))
    };
    if let Ok(t) = ret.downcast_exact::<PyTuple>() {
        let mut parts = t.iter();
        let results = parts
            .next()
            .ok_or_else(|| shape("an empty sequence".into()))?;
        take_values(&results, out, shape)?;
        return parts.try_for_each(|element| take_logs(&element, out));
    }
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
    take_values(&results, out, shape)?;
    for element in parts {
        take_logs(&element?, out)?;
    }
    Ok(())
}

/// The results of compute, as values.
fn take_values(
    results: &Bound<'_, PyAny>,
    out: &mut Outcome,
    shape: impl Fn(String) -> Unpack,
) -> Result<(), Unpack> {
    if results.is_none() {
        return Err(shape("None as results (use [] for no result)".into()));
    }
    if let Ok(list) = results.downcast_exact::<PyList>() {
        for v in list.iter() {
            out.values.push(result_value(&v)?);
        }
    } else if let Ok(tuple) = results.downcast_exact::<PyTuple>() {
        for v in tuple.iter() {
            out.values.push(result_value(&v)?);
        }
    } else {
        let Ok(values) = results.try_iter() else {
            return Err(shape(format!(
                "results of type {}, not a list or tuple",
                type_name(results)
            )));
        };
        for v in values {
            out.values.push(result_value(&v?)?);
        }
    }
    // Prenacs writes no row when the tab-joined str() of the results is empty.
    if out.values.len() == 1 && out.values[0].to_py_str().is_empty() {
        out.values.clear();
    }
    Ok(())
}

/// One of the log parts of what compute returned: a message, or a list of them.
fn take_logs(element: &Bound<'_, PyAny>, out: &mut Outcome) -> Result<(), Unpack> {
    if let Ok(list) = element.downcast::<PyList>() {
        for sub in list.iter() {
            if sub.is_truthy()? {
                out.logs.push(sub.str()?.to_string());
            }
        }
    } else if element.is_truthy()? {
        out.logs.push(element.str()?.to_string());
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

/// The failure of an entity whose compute raised `e`; a `MemoryError` (or a subclass)
/// is marked as running out of memory, by its type, not its text.
fn failure(py: Python<'_>, path: &std::path::Path, e: &pyo3::PyErr) -> EntityError {
    let mut err = EntityError::new(exception_message(py, path, e));
    err.out_of_memory = e.is_instance_of::<pyo3::exceptions::PyMemoryError>(py);
    err
}
