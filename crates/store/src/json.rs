//! Values and parameters as JSON: the canonical parameters of a computation key, and
//! the typed values of `polyplug query --format json`.

use polyplug_core::Value;

/// The canonical form of parameters, part of the computation key: a JSON object with
/// sorted keys.
pub fn params_key(entries: &[(String, Value)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|(k, v)| (k.clone(), value_to_json(v)))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// A value as JSON (non-finite floats become the strings `nan`, `inf`, `-inf`).
pub fn value_to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map_or_else(|| serde_json::Value::from(v.to_py_str()), Into::into),
        Value::Str(s) => serde_json::Value::from(s.as_str()),
        Value::List(items) => serde_json::Value::Array(items.iter().map(value_to_json).collect()),
    }
}

pub(crate) fn json_to_value(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Array(a) => Value::List(a.iter().map(json_to_value).collect()),
        serde_json::Value::Object(_) => Value::Str(j.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_key_is_sorted_json() {
        let k = params_key(&[
            ("b".into(), Value::Int(1)),
            ("a".into(), Value::Str("x".into())),
        ]);
        assert_eq!(k, r#"{"a":"x","b":1}"#);
    }
}
