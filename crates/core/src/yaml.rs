//! A small YAML writer in PyYAML's block style, for reports and parameter dumps that
//! Prenacs tools (and any YAML reader) read back to the same values.
//!
//! Reading YAML is done with `serde_yaml_ng`; writing is done here because the output
//! must look like what Prenacs writes (sorted keys, block lists, quoted version
//! strings), which a generic serializer does not promise.

use crate::value::write_py_float;
use crate::Value;

const YAML11_WORDS: [&str; 22] = [
    "null", "Null", "NULL", "~", "true", "True", "TRUE", "false", "False", "FALSE", "yes", "Yes",
    "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
];

/// A string as a YAML scalar: plain when that reads back as the same string in both
/// YAML 1.1 and 1.2, single-quoted when it is one printable line, double-quoted with
/// escapes otherwise.
pub fn scalar_str(s: &str) -> String {
    let plain_chars = |c: char| c.is_alphanumeric() || " _./@+()=-".contains(c);
    let first_ok = s
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '/');
    if first_ok && !s.ends_with(' ') && s.chars().all(plain_chars) && !YAML11_WORDS.contains(&s) {
        return s.to_string();
    }
    let printable_line = s.chars().all(|c| !c.is_control());
    if printable_line {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A scalar value in YAML: `null`, `true`, `3`, `0.5`, or a string as in [`scalar_str`].
pub fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => {
            if f.is_nan() {
                ".nan".into()
            } else if f.is_infinite() {
                if *f > 0.0 { ".inf" } else { "-.inf" }.into()
            } else {
                let mut s = String::new();
                write_py_float(*f, &mut s);
                if !s.contains('.') {
                    // YAML 1.1 needs a dot in a float: 1e-05 is written 1.0e-05.
                    if let Some(pos) = s.find('e') {
                        s.insert_str(pos, ".0");
                    }
                }
                s
            }
        }
        Value::Str(s) => scalar_str(s),
        Value::List(_) => "[]".into(),
    }
}

/// Writes `v` after a `key:` (or `-`) already in `out`, at the given indentation of
/// the key, ending with a newline.
pub fn write_block_value(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::List(items) if !items.is_empty() => {
            out.push('\n');
            for item in items {
                out.push_str(&" ".repeat(indent));
                out.push('-');
                write_sequence_item(item, indent, out);
            }
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn write_sequence_item(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::List(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                if i == 0 {
                    out.push(' ');
                } else {
                    out.push_str(&" ".repeat(indent + 2));
                }
                out.push('-');
                write_sequence_item(item, indent + 2, out);
            }
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

/// Why a YAML value is not a [`Value`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum YamlValueError {
    /// An integer beyond 64 bits.
    #[error("number {0} does not fit a 64-bit integer")]
    TooLarge(String),
    /// A mapping.
    #[error("mappings are not supported as values; use a list")]
    Mapping,
}

/// Converts a YAML value into a [`Value`]; mappings are not values.
pub fn yaml_to_value(v: &serde_yaml_ng::Value) -> Result<Value, YamlValueError> {
    use serde_yaml_ng::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(f) = n.as_f64() {
                Value::Float(f)
            } else {
                return Err(YamlValueError::TooLarge(n.to_string()));
            }
        }
        Y::String(s) => Value::Str(s.clone()),
        Y::Sequence(items) => {
            Value::List(items.iter().map(yaml_to_value).collect::<Result<_, _>>()?)
        }
        Y::Mapping(_) => return Err(YamlValueError::Mapping),
        Y::Tagged(t) => yaml_to_value(&t.value)?,
    })
}

/// The text of `key` in a YAML mapping, as Prenacs reports hold it: a string (also
/// behind a tag such as `!!binary`), or a number or boolean written as text; `None`
/// when it is missing or null.
pub fn mapping_str(map: &serde_yaml_ng::Mapping, key: &str) -> Option<String> {
    use serde_yaml_ng::Value as Y;
    match map.get(key)? {
        Y::String(s) => Some(s.clone()),
        Y::Number(n) => Some(n.to_string()),
        Y::Bool(b) => Some(b.to_string()),
        Y::Tagged(t) => match &t.value {
            Y::String(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The count at `key` in a YAML mapping (a number, or a number written as a string).
pub fn mapping_u64(map: &serde_yaml_ng::Mapping, key: &str) -> Option<u64> {
    use serde_yaml_ng::Value as Y;
    match map.get(key)? {
        Y::Number(n) => n.as_u64(),
        Y::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_only_when_needed() {
        assert_eq!(scalar_str("fas_stats"), "fas_stats");
        assert_eq!(scalar_str("0.1"), "'0.1'");
        assert_eq!(scalar_str("yes"), "'yes'");
        assert_eq!(scalar_str("it's: x"), "'it''s: x'");
        assert_eq!(scalar_str("a\nb"), "\"a\\nb\"");
        assert_eq!(scalar_str(""), "''");
    }

    #[test]
    fn lists_are_block_style() {
        let mut out = String::from("z:");
        write_block_value(
            &Value::List(vec![
                Value::Int(1),
                Value::List(vec![Value::Int(2), Value::Int(3)]),
            ]),
            0,
            &mut out,
        );
        assert_eq!(out, "z:\n- 1\n- - 2\n  - 3\n");
        assert_eq!(scalar(&Value::Float(1e-5)), "1.0e-05");
    }
}
