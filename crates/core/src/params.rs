//! Parameters given to a run (`--params` YAML), checked against PARAMETERS and defaulted.

use crate::meta::{ParamType, PluginMeta};
use crate::yaml::{yaml_to_value, YamlValueError};
use crate::Value;

/// Why the parameters given to a run are refused. Each names where they came from
/// (the `--params` file) and the parameter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamsError {
    /// The file is not YAML.
    #[error("{origin}: not valid YAML: {detail}; consider checking indentation and quoting")]
    Yaml {
        /// The parameters file.
        origin: String,
        /// The parser's message.
        detail: String,
    },
    /// A key that is not a string.
    #[error("{origin}: parameter names must be strings, found {found}")]
    Name {
        /// The parameters file.
        origin: String,
        /// The key found.
        found: String,
    },
    /// A value that is not a [`Value`] (a mapping).
    #[error("{origin}: parameter '{name}': {why}")]
    Value {
        /// The parameters file.
        origin: String,
        /// The parameter.
        name: String,
        /// Why.
        why: YamlValueError,
    },
    /// A document that is not a mapping.
    #[error(
        "{origin}: expected a mapping of parameter names to values (name: value), \
         found another kind of YAML document"
    )]
    NotAMapping {
        /// The parameters file.
        origin: String,
    },
    /// A name the plugin does not declare.
    #[error("{origin}: unknown parameter '{name}'{}", known_list(plugin, known))]
    Unknown {
        /// The parameters file.
        origin: String,
        /// The parameter.
        name: String,
        /// The plugin ID.
        plugin: String,
        /// The parameters the plugin declares.
        known: Vec<String>,
    },
    /// A value of another type than declared.
    #[error(
        "{origin}: parameter '{name}' must be {expected} (declared datatype '{datatype}'), \
         got {got_type} {got}"
    )]
    WrongType {
        /// The parameters file.
        origin: String,
        /// The parameter.
        name: String,
        /// What the declared type accepts.
        expected: &'static str,
        /// The declared datatype.
        datatype: String,
        /// The type of the given value.
        got_type: &'static str,
        /// The given value, as Python's `str()` writes it.
        got: String,
    },
}

fn known_list(plugin: &str, known: &[String]) -> String {
    if known.is_empty() {
        format!(": plugin {plugin} declares no PARAMETERS")
    } else {
        format!(
            " for plugin {plugin}; known parameters: {}",
            known.join(", ")
        )
    }
}

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
    ) -> Result<Params, ParamsError> {
        for (name, _) in given {
            if meta.parameter(name).is_none() {
                return Err(ParamsError::Unknown {
                    origin: origin.to_string(),
                    name: name.clone(),
                    plugin: meta.id.clone(),
                    known: meta.parameters.iter().map(|p| p.name.clone()).collect(),
                });
            }
        }
        let mut entries = Vec::new();
        for def in &meta.parameters {
            let value = match given.iter().rev().find(|(n, _)| n == &def.name) {
                Some((_, v)) => {
                    Some(
                        convert(v, def.ty).map_err(|expected| ParamsError::WrongType {
                            origin: origin.to_string(),
                            name: def.name.clone(),
                            expected,
                            datatype: def.datatype.clone(),
                            got_type: v.type_name(),
                            got: v.to_py_str(),
                        })?,
                    )
                }
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
    pub fn parse_yaml(text: &str, origin: &str) -> Result<Vec<(String, Value)>, ParamsError> {
        let origin_s = || origin.to_string();
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).map_err(|e| ParamsError::Yaml {
                origin: origin_s(),
                detail: e.to_string(),
            })?;
        match doc {
            serde_yaml_ng::Value::Null => Ok(Vec::new()),
            serde_yaml_ng::Value::Mapping(map) => {
                let mut out = Vec::new();
                for (k, v) in map {
                    let name = match k {
                        serde_yaml_ng::Value::String(s) => s,
                        other => {
                            return Err(ParamsError::Name {
                                origin: origin_s(),
                                found: format!("{other:?}"),
                            })
                        }
                    };
                    let value = yaml_to_value(&v).map_err(|e| ParamsError::Value {
                        origin: origin_s(),
                        name: name.clone(),
                        why: e,
                    })?;
                    out.push((name, value));
                }
                Ok(out)
            }
            _ => Err(ParamsError::NotAMapping { origin: origin_s() }),
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
        let e = e.to_string();
        assert!(e.contains("unknown parameter 'kk'"), "{e}");
        assert!(e.contains("known parameters: k, ratio, label"), "{e}");
        let given = Params::parse_yaml("k: abc\n", "p.yaml").unwrap();
        let e = Params::resolve(&meta(), &given, "p.yaml").unwrap_err();
        let e = e.to_string();
        assert!(e.contains("parameter 'k' must be an integer"), "{e}");
    }

    #[test]
    fn malformed_yaml_names_the_file() {
        let e = Params::parse_yaml("k: [1, 2\n", "p.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p.yaml: not valid YAML"), "{e}");
        let e = Params::parse_yaml("- 1\n", "p.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected a mapping"), "{e}");
    }
}
