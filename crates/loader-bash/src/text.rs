//! The text conventions of Bash plugins: how keyword values are written so that
//! `eval $kw` is safe, and how compute's standard output becomes typed values and logs.

use polyplug_core::{write_py_float, ColumnKind, Outcome, Value};

/// Bytes written as they are in a keyword word. None of them is special to the shell
/// in an assignment (`~` is left out: `x=~` would expand), none is whitespace (so
/// `for kw in $*` does not split the word) and none is a glob character.
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_./,:+@%=-".contains(&b)
}

/// Writes one keyword argument, `name=value`, so that `eval` of the word assigns exactly
/// `value` to `name` even after unquoted word splitting and globbing (`for kw in $*; do
/// eval $kw; done`).
///
/// ```
/// use polyplug_loader_bash::keyword_word;
/// assert_eq!(keyword_word("min_length", "100"), "min_length=100");
/// assert_eq!(keyword_word("label", "a b;$(rm x)"), "label=$'a\\x20b\\x3b\\x24\\x28rm\\x20x\\x29'");
/// ```
///
/// A value made only of letters, digits and `_ . / , : + @ % = -` is written as it is
/// (`min_length=100`, `dir=/data/x`); any other value is written in ANSI-C quoting with
/// every other byte as a `\xHH` escape (`label=$'a\x20b\x3b\x20rm\x20-rf'`), which
/// contains no whitespace, no glob character and nothing that `eval` would run.
pub fn keyword_word(name: &str, value: &str) -> String {
    let mut w = String::with_capacity(name.len() + 1 + value.len());
    w.push_str(name);
    w.push('=');
    if value.bytes().all(is_plain) {
        w.push_str(value);
        return w;
    }
    w.push_str("$'");
    for b in value.bytes() {
        if is_plain(b) {
            w.push(b as char);
        } else {
            w.push_str(&format!("\\x{b:02x}"));
        }
    }
    w.push('\'');
    w
}

/// Whether `name` can be a Bash variable (and so a keyword for `eval`).
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Splits compute's standard output: the first line holds the TAB-separated values
/// (empty: no result), every further non-empty line is one log message, TABs kept.
/// `kinds` are the column types the attribute definitions give, when known.
pub(crate) fn parse_output(
    stdout: &[u8],
    kinds: Option<&[ColumnKind]>,
    out: &mut Outcome,
) -> Result<(), String> {
    let text = std::str::from_utf8(stdout).map_err(|e| {
        let line = stdout[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        format!(
            "compute printed bytes that are not UTF-8 on line {line} of its output; \
             polyplug reads results and logs as UTF-8 text"
        )
    })?;
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or("");
    if !first.is_empty() {
        for (i, field) in first.split('\t').enumerate() {
            let kind = kinds.and_then(|k| k.get(i)).copied();
            out.values.push(typed(field, kind));
        }
    }
    for line in lines {
        if !line.is_empty() {
            out.logs.push(line.to_string());
        }
    }
    Ok(())
}

/// The non-empty lines of a text, for stderr and finalize output.
pub(crate) fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Gives a result field its type.
///
/// Without attribute definitions (or for text columns) the field keeps its exact text:
/// it becomes an integer or a float only when Python's `str` would print that number
/// back as the same text (`42`, `-3`, `0.25`, `1e-05`, not `007`, `1.50` or `.5`), and a
/// boolean for `True`/`False`, so the results row is the same bytes Prenacs writes.
/// A column the definitions declare numeric or boolean accepts any spelling of a
/// number (`007`, `1.50`, `+3`) or a boolean (`true`, `1`, …) and holds that value.
pub(crate) fn typed(field: &str, kind: Option<ColumnKind>) -> Value {
    let s = || Value::Str(field.to_string());
    match kind {
        Some(ColumnKind::Text) | Some(ColumnKind::Any) => s(),
        Some(ColumnKind::Int) => field.parse::<i64>().map_or_else(|_| s(), Value::Int),
        Some(ColumnKind::Float) => match field.parse::<i64>() {
            Ok(i) if i.to_string() == field => Value::Int(i),
            _ => match field.parse::<f64>() {
                Ok(f) if field.bytes().any(|b| b.is_ascii_digit()) => Value::Float(f),
                _ => s(),
            },
        },
        Some(ColumnKind::Bool) => match field {
            "True" | "true" | "1" => Value::Bool(true),
            "False" | "false" | "0" => Value::Bool(false),
            _ => s(),
        },
        None => {
            if let Some(v) = canonical_number(field) {
                v
            } else {
                match field {
                    "True" => Value::Bool(true),
                    "False" => Value::Bool(false),
                    _ => s(),
                }
            }
        }
    }
}

/// The number `field` is, when Python's `str` prints that number as `field` again.
fn canonical_number(field: &str) -> Option<Value> {
    let first = *field.as_bytes().first()?;
    if !(first.is_ascii_digit() || first == b'-') {
        return None;
    }
    if let Ok(i) = field.parse::<i64>() {
        return (i.to_string() == field).then_some(Value::Int(i));
    }
    let f = field.parse::<f64>().ok()?;
    let mut back = String::new();
    write_py_float(f, &mut back);
    (back == field).then_some(Value::Float(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_stay_plain_and_others_are_escaped() {
        assert_eq!(keyword_word("k", "100"), "k=100");
        assert_eq!(keyword_word("dir", "/data/x-1.fa"), "dir=/data/x-1.fa");
        assert_eq!(keyword_word("k", ""), "k=");
        assert_eq!(
            keyword_word("k", "a b;$(x)`y`'\"\n*~"),
            "k=$'a\\x20b\\x3b\\x24\\x28x\\x29\\x60y\\x60\\x27\\x22\\x0a\\x2a\\x7e'"
        );
        assert_eq!(keyword_word("k", "é"), "k=$'\\xc3\\xa9'");
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("min_length"));
        assert!(is_identifier("_x1"));
        assert!(!is_identifier("1x"));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier(""));
    }

    #[test]
    fn output_lines_become_values_and_logs() {
        let mut o = Outcome::default();
        parse_output(b"12\t0.5\tabc\nkey\tmessage\n\nplain\n", None, &mut o).unwrap();
        assert_eq!(
            o.values,
            vec![Value::Int(12), Value::Float(0.5), Value::Str("abc".into())]
        );
        assert_eq!(o.logs, vec!["key\tmessage".to_string(), "plain".into()]);
        let mut o = Outcome::default();
        parse_output(b"\nonly a log", None, &mut o).unwrap();
        assert!(o.values.is_empty());
        assert_eq!(o.logs, vec!["only a log".to_string()]);
        let mut o = Outcome::default();
        parse_output(b"", None, &mut o).unwrap();
        assert_eq!(o, Outcome::default());
        let e = parse_output(b"ok\n\xff\n", None, &mut Outcome::default()).unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn fields_are_typed_only_when_the_text_would_not_change() {
        for (text, v) in [
            ("42", Value::Int(42)),
            ("-3", Value::Int(-3)),
            ("0.25", Value::Float(0.25)),
            ("1e-05", Value::Float(1e-5)),
            ("1.0", Value::Float(1.0)),
            ("True", Value::Bool(true)),
        ] {
            assert_eq!(typed(text, None), v, "{text}");
            assert_eq!(typed(text, None).to_py_str(), text);
        }
        for text in [
            "007", "1.50", ".5", "+3", "-0", "nan", "inf", "1e5", "abc", "", "None",
        ] {
            assert_eq!(typed(text, None), Value::Str(text.into()), "{text}");
        }
        assert_eq!(
            typed("99999999999999999999", None),
            Value::Str("99999999999999999999".into())
        );
    }

    #[test]
    fn defined_columns_take_any_spelling_of_their_type() {
        assert_eq!(typed("007", Some(ColumnKind::Int)), Value::Int(7));
        assert_eq!(typed("1.50", Some(ColumnKind::Float)), Value::Float(1.5));
        assert_eq!(typed("3", Some(ColumnKind::Float)), Value::Int(3));
        assert_eq!(
            typed("abc", Some(ColumnKind::Float)),
            Value::Str("abc".into())
        );
        assert_eq!(typed("42", Some(ColumnKind::Text)), Value::Str("42".into()));
        assert_eq!(typed("true", Some(ColumnKind::Bool)), Value::Bool(true));
        assert_eq!(
            typed("2.5", Some(ColumnKind::Int)),
            Value::Str("2.5".into())
        );
    }
}
