//! Typed values, and their text forms as Prenacs writes them (Python's `str`).

use std::fmt::Write as _;

/// A value computed by a plugin or given as a parameter.
///
/// These are the types every plugin language can produce: Python's `None`, `bool`,
/// `int`, `float`, `str` and lists of these.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value (Python `None`).
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A double-precision float.
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// A list of values.
    List(Vec<Value>),
}

impl Value {
    /// The name of this value's type, for messages (`integer`, `float`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::List(_) => "list",
        }
    }

    /// Appends the value as Python's `str()` writes it: `None`, `True`, `800`, `0.41`,
    /// `1e-05`, strings as they are, lists as `[1, 'a', None]`.
    pub fn write_py_str(&self, out: &mut String) {
        match self {
            Value::Str(s) => out.push_str(s),
            other => other.write_py_repr(out),
        }
    }

    /// Appends the value as Python's `repr()` writes it (strings quoted).
    pub fn write_py_repr(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("None"),
            Value::Bool(true) => out.push_str("True"),
            Value::Bool(false) => out.push_str("False"),
            Value::Int(i) => out.push_str(itoa::Buffer::new().format(*i)),
            Value::Float(f) => write_py_float(*f, out),
            Value::Str(s) => write_py_str_repr(s, out),
            Value::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_py_repr(out);
                }
                out.push(']');
            }
        }
    }

    /// The value as Python's `str()` would print it.
    pub fn to_py_str(&self) -> String {
        let mut s = String::new();
        self.write_py_str(&mut s);
        s
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}

/// Appends `f` as Python's `repr(float)`: the shortest text that reads back to the same
/// number, in fixed notation when the decimal exponent is in `-4..16` and in scientific
/// notation (`1e-05`, `1.5e+16`) otherwise.
pub fn write_py_float(f: f64, out: &mut String) {
    if f.is_nan() {
        out.push_str("nan");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f > 0.0 { "inf" } else { "-inf" });
        return;
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "-1.2345e-7" or "5e0".
    let sci = format!("{f:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if negative {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        if exp >= 0 {
            let int_len = exp + 1;
            if n <= int_len {
                out.push_str(&digits);
                for _ in 0..(int_len - n) {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len as usize]);
                out.push('.');
                out.push_str(&digits[int_len as usize..]);
            }
        } else {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    }
}

/// Appends `s` as Python's `repr(str)`.
fn write_py_str_repr(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f64) -> String {
        let mut s = String::new();
        write_py_float(x, &mut s);
        s
    }

    #[test]
    fn floats_print_like_python() {
        assert_eq!(f(0.41), "0.41");
        assert_eq!(f(1.0), "1.0");
        assert_eq!(f(800.0), "800.0");
        assert_eq!(f(1e-5), "1e-05");
        assert_eq!(f(0.0001), "0.0001");
        assert_eq!(f(1e16), "1e+16");
        assert_eq!(f(1.5e16), "1.5e+16");
        assert_eq!(f(123456789012345.6), "123456789012345.6");
        assert_eq!(f(-0.0), "-0.0");
        assert_eq!(f(0.0), "0.0");
        assert_eq!(f(5.0 / 12.0), "0.4166666666666667");
        assert_eq!(f(-2.5e-7), "-2.5e-07");
        assert_eq!(f(1e100), "1e+100");
        assert_eq!(f(f64::INFINITY), "inf");
    }

    #[test]
    fn values_print_like_python_str() {
        let v = Value::List(vec![
            Value::Int(1),
            Value::Str("a".into()),
            Value::Null,
            Value::Bool(true),
            Value::Str("it's".into()),
            Value::Float(0.5),
        ]);
        assert_eq!(v.to_py_str(), "[1, 'a', None, True, \"it's\", 0.5]");
        assert_eq!(Value::Str("x y".into()).to_py_str(), "x y");
        assert_eq!(Value::Bool(false).to_py_str(), "False");
    }
}
