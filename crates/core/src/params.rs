//! Parameters given to a run (`--params` YAML), checked against PARAMETERS and defaulted.

use crate::meta::{ParamType, PluginMeta};
use crate::Value;

/// The parameters of a run: every declared parameter that has a value, given or
/// defaulted, in declaration order, already converted to its declared type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    entries: Vec<(String, Value)>,
}

impl Params {
    /// No parameters.
    pub fn empty() -> Params {
        Params::default()
    }

    /// The parameters as (name, value) pairs in declaration order.
    pub fn entries(&self) -> &[(String, Value)] {
        &self.entries
    }

    /// The value of `name`, if it has one.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Checks user-given parameters against the plugin's declarations and fills in the
    /// defaults. `origin` names where the given values came from, for messages.
    ///
    /// An unknown name, or a value of the wrong type, is an error that names the
    /// parameter and lists what is accepted.
    pub fn resolve(
        meta: &PluginMeta,
        given: &[(String, Value)],
        origin: &str,
    ) -> Result<Params, String> {
        for (name, _) in given {
            if meta.parameter(name).is_none() {
                let known: Vec<&str> = meta.parameters.iter().map(|p| p.name.as_str()).collect();
                return Err(if known.is_empty() {
                    format!(
                        "{origin}: unknown parameter '{name}': plugin {} declares no PARAMETERS",
                        meta.id
                    )
                } else {
                    format!(
                        "{origin}: unknown parameter '{name}' for plugin {}; known parameters: {}",
                        meta.id,
                        known.join(", ")
                    )
                });
            }
        }
        let mut entries = Vec::new();
        for def in &meta.parameters {
            let value = match given.iter().rev().find(|(n, _)| n == &def.name) {
                Some((_, v)) => Some(convert(v, def.ty).map_err(|expected| {
                    format!(
                        "{origin}: parameter '{}' must be {expected} (declared datatype '{}'), got {} {}",
                        def.name,
                        def.datatype,
                        v.type_name(),
                        v.to_py_str()
                    )
                })?),
                None => def.default.clone(),
            };
            if let Some(v) = value {
                entries.push((def.name.clone(), v));
            }
        }
        Ok(Params { entries })
    }

    /// Parses the `--params` YAML text: a mapping from parameter names to values. An
    /// empty document means no parameters.
    pub fn parse_yaml(text: &str, origin: &str) -> Result<Vec<(String, Value)>, String> {
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| {
            format!("{origin}: not valid YAML: {e}; consider checking indentation and quoting")
        })?;
        match doc {
            serde_yaml_ng::Value::Null => Ok(Vec::new()),
            serde_yaml_ng::Value::Mapping(map) => {
                let mut out = Vec::new();
                for (k, v) in map {
                    let name = match k {
                        serde_yaml_ng::Value::String(s) => s,
                        other => {
                            return Err(format!(
                                "{origin}: parameter names must be strings, found {other:?}"
                            ))
                        }
                    };
                    let value = yaml_to_value(&v)
                        .map_err(|e| format!("{origin}: parameter '{name}': {e}"))?;
                    out.push((name, value));
                }
                Ok(out)
            }
            _ => Err(format!(
                "{origin}: expected a mapping of parameter names to values (name: value), \
                 found another kind of YAML document"
            )),
        }
    }

    /// A YAML block rendering of the parameters as Python's `yaml.dump` writes a dict
    /// (keys sorted), for reports; `{}` when there are none.
    pub fn to_yaml(&self) -> String {
        if self.entries.is_empty() {
            return "{}\n".to_string();
        }
        let mut sorted: Vec<&(String, Value)> = self.entries.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = String::new();
        for (k, v) in sorted {
            out.push_str(&crate::yaml::scalar_str(k));
            out.push(':');
            crate::yaml::write_block_value(v, 0, &mut out);
        }
        out
    }
}

/// Converts `v` to the declared type, or returns a description of what was expected.
fn convert(v: &Value, ty: ParamType) -> Result<Value, &'static str> {
    match (ty, v) {
        (_, Value::Null) => Ok(Value::Null),
        (ParamType::Any, v) => Ok(v.clone()),
        (ParamType::Int, Value::Int(_)) => Ok(v.clone()),
        (ParamType::Int, _) => Err("an integer"),
        (ParamType::Float, Value::Float(_)) => Ok(v.clone()),
        (ParamType::Float, Value::Int(i)) => Ok(Value::Float(*i as f64)),
        (ParamType::Float, _) => Err("a number"),
        (ParamType::Str, Value::Str(_)) => Ok(v.clone()),
        (ParamType::Str, _) => Err("a string (quote it in the YAML file)"),
        (ParamType::Bool, Value::Bool(_)) => Ok(v.clone()),
        (ParamType::Bool, _) => Err("a boolean (true or false)"),
        (ParamType::List, Value::List(_)) => Ok(v.clone()),
        (ParamType::List, _) => Err("a list"),
    }
}

/// Converts a YAML value into a [`Value`]; mappings are not values.
pub fn yaml_to_value(v: &serde_yaml_ng::Value) -> Result<Value, String> {
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
                return Err(format!("number {n} does not fit a 64-bit integer"));
            }
        }
        Y::String(s) => Value::Str(s.clone()),
        Y::Sequence(items) => {
            Value::List(items.iter().map(yaml_to_value).collect::<Result<_, _>>()?)
        }
        Y::Mapping(_) => return Err("mappings are not supported as values; use a list".into()),
        Y::Tagged(t) => yaml_to_value(&t.value)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::RawMeta;

    fn meta() -> PluginMeta {
        let s = |x: &str| Value::Str(x.into());
        let mut r = RawMeta::default();
        r.set("ID", s("p"));
        r.set("VERSION", s("1"));
        r.set("INPUT", s("x"));
        r.set("OUTPUT", Value::List(vec![s("a")]));
        r.set(
            "PARAMETERS",
            Value::List(vec![
                Value::List(vec![s("k"), s("int"), s("3"), s("")]),
                Value::List(vec![s("ratio"), s("float"), s("0.5"), s("")]),
                Value::List(vec![s("label"), s("str"), s(""), s("")]),
            ]),
        );
        PluginMeta::validate(&r).unwrap()
    }

    #[test]
    fn defaults_fill_in_and_types_convert() {
        let given = Params::parse_yaml("ratio: 2\n", "p.yaml").unwrap();
        let p = Params::resolve(&meta(), &given, "p.yaml").unwrap();
        assert_eq!(p.get("k"), Some(&Value::Int(3)));
        assert_eq!(p.get("ratio"), Some(&Value::Float(2.0)));
        assert_eq!(p.get("label"), Some(&Value::Str(String::new())));
        assert_eq!(p.to_yaml(), "k: 3\nlabel: ''\nratio: 2.0\n");
    }

    #[test]
    fn unknown_and_mistyped_parameters_are_errors() {
        let given = Params::parse_yaml("kk: 1\n", "p.yaml").unwrap();
        let e = Params::resolve(&meta(), &given, "p.yaml").unwrap_err();
        assert!(e.contains("unknown parameter 'kk'"), "{e}");
        assert!(e.contains("known parameters: k, ratio, label"), "{e}");
        let given = Params::parse_yaml("k: abc\n", "p.yaml").unwrap();
        let e = Params::resolve(&meta(), &given, "p.yaml").unwrap_err();
        assert!(e.contains("parameter 'k' must be an integer"), "{e}");
    }

    #[test]
    fn malformed_yaml_names_the_file() {
        let e = Params::parse_yaml("k: [1, 2\n", "p.yaml").unwrap_err();
        assert!(e.starts_with("p.yaml: not valid YAML"), "{e}");
        let e = Params::parse_yaml("- 1\n", "p.yaml").unwrap_err();
        assert!(e.contains("expected a mapping"), "{e}");
    }
}
