//! Python values and exceptions in polyplug's terms: constants and results as typed
//! [`Value`]s (anything else as its `str()`), parameters as Python objects, and an
//! exception as the one-line message a failed entity or a plugin that cannot load
//! gets.

use crate::interp;
use polyplug_core::Value;
use pyo3::exceptions::PySyntaxError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyList, PyString, PyTuple};
use std::path::Path;

pub(crate) fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A constant as a [`Value`]: strings, numbers, booleans, None, lists and tuples.
pub(crate) fn meta_value(v: &Bound<'_, PyAny>) -> Option<Value> {
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
pub(crate) fn result_value(v: &Bound<'_, PyAny>) -> PyResult<Value> {
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
pub(crate) fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
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
/// Whether errors carry the whole traceback (`--only`): set once per process.
pub(crate) static FULL_TRACEBACK: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The whole traceback of `err`, as Python prints it, when one can be had.
fn full_traceback(py: Python<'_>, err: &PyErr) -> Option<String> {
    let lines = py
        .import("traceback")
        .ok()?
        .call_method1(
            "format_exception",
            (err.get_type(py), err.value(py), err.traceback(py)),
        )
        .ok()?;
    let mut text = String::new();
    for l in lines.try_iter().ok()? {
        text.push_str(&l.ok()?.extract::<String>().ok()?);
    }
    Some(text.trim_end().to_string())
}

pub(crate) fn exception_message(py: Python<'_>, plugin: &Path, err: &PyErr) -> String {
    if FULL_TRACEBACK.load(std::sync::atomic::Ordering::Relaxed) {
        if let Some(tb) = full_traceback(py, err) {
            return tb;
        }
    }
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
pub(crate) fn import_error(py: Python<'_>, path: &Path, err: &PyErr) -> String {
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
}
