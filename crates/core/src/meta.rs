//! Plugin metadata (the Prenacs constants) and its validation.

use crate::Value;
use std::collections::BTreeMap;
use std::fmt;

/// Metadata as a loader read it from a plugin, before validation: constant name
/// (`ID`, `OUTPUT`, …) to value. Loaders fill it in whatever form the language gives
/// (a Python `int` where a string belongs stays an `Int`), so that validation can name
/// every problem.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawMeta {
    /// The constants that the plugin defines.
    pub constants: BTreeMap<String, Value>,
}

impl RawMeta {
    /// Sets a constant.
    pub fn set(&mut self, name: &str, value: Value) {
        self.constants.insert(name.to_string(), value);
    }
}

/// Which parameter datatypes a plugin can declare, and how given values are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// `int`, `integer`, `Integer`.
    Int,
    /// `float`, `Float`, `double`: integers are accepted and converted.
    Float,
    /// `str`, `string`, `String`, `Text`, `path`.
    Str,
    /// `bool`, `boolean`, `Boolean`.
    Bool,
    /// `list`, `List`: a list of any values.
    List,
    /// `any`, or a datatype polyplug does not know: accepted as given.
    Any,
}

impl ParamType {
    /// Parses a declared datatype; unknown names give `None`.
    pub fn parse(name: &str) -> Option<ParamType> {
        let base = name.split(['(', '[']).next().unwrap_or(name).trim();
        Some(match base.to_ascii_lowercase().as_str() {
            "int" | "integer" | "bigint" | "smallint" => ParamType::Int,
            "float" | "double" | "real" | "numeric" => ParamType::Float,
            "str" | "string" | "text" | "path" | "file" | "varchar" => ParamType::Str,
            "bool" | "boolean" => ParamType::Bool,
            "list" | "array" => ParamType::List,
            "any" | "object" => ParamType::Any,
            _ => return None,
        })
    }
}

/// One declared parameter: a PARAMETERS 4-tuple, with its datatype and default parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamDef {
    /// Parameter name.
    pub name: String,
    /// Declared datatype as written.
    pub datatype: String,
    /// Declared datatype as understood.
    pub ty: ParamType,
    /// Default as written.
    pub default_text: String,
    /// Default as a typed value; `None` when the default is empty.
    pub default: Option<Value>,
    /// Documentation.
    pub documentation: String,
}

/// Validated plugin metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginMeta {
    /// `ID`, at most 256 characters.
    pub id: String,
    /// `VERSION`, at most 64 characters.
    pub version: String,
    /// `INPUT`, at most 512 characters.
    pub input: String,
    /// `OUTPUT`: attribute names, in the order values are returned.
    pub output: Vec<String>,
    /// `PARAMETERS`.
    pub parameters: Vec<ParamDef>,
    /// The optional text constants (`METHOD`, `IMPLEMENTATION`, `REQ_SOFTWARE`,
    /// `REQ_HARDWARE`, `ADVICE`) that the plugin defines.
    pub extra: BTreeMap<String, String>,
}

/// Names and length limits of the string constants.
pub const STRING_LIMITS: [(&str, usize, bool); 8] = [
    ("ID", 256, true),
    ("VERSION", 64, true),
    ("INPUT", 512, true),
    ("METHOD", 4096, false),
    ("IMPLEMENTATION", 4096, false),
    ("REQ_SOFTWARE", 4096, false),
    ("REQ_HARDWARE", 4096, false),
    ("ADVICE", 4096, false),
];

/// Every problem found in a plugin's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaProblems(pub Vec<String>);

impl fmt::Display for MetaProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(p)?;
        }
        Ok(())
    }
}

impl PluginMeta {
    /// Validates raw metadata: presence, type and length of every constant, the
    /// PARAMETERS tuples and their defaults. Returns every problem found, not only the
    /// first.
    pub fn validate(raw: &RawMeta) -> Result<PluginMeta, MetaProblems> {
        let mut problems = Vec::new();
        let mut strings: BTreeMap<&str, String> = BTreeMap::new();
        for (name, limit, required) in STRING_LIMITS {
            match raw.constants.get(name) {
                None | Some(Value::Null) => {
                    if required {
                        problems.push(format!("constant {name} is missing; define it as a string"));
                    }
                }
                Some(Value::Str(s)) => {
                    let n = s.chars().count();
                    if n > limit {
                        problems.push(format!(
                            "constant {name} is {n} characters long, at most {limit} are allowed"
                        ));
                    } else if required && s.trim().is_empty() {
                        problems.push(format!("constant {name} is empty"));
                    } else {
                        strings.insert(name, s.clone());
                    }
                }
                Some(other) => problems.push(format!(
                    "constant {name} must be a string, not {} ({})",
                    other.type_name(),
                    other.to_py_str()
                )),
            }
        }

        let mut output = Vec::new();
        match raw.constants.get("OUTPUT") {
            None | Some(Value::Null) => problems
                .push("constant OUTPUT is missing; define it as a list of attribute names".into()),
            Some(Value::List(items)) => {
                if items.is_empty() {
                    problems.push(
                        "constant OUTPUT is an empty list; name at least one attribute".into(),
                    );
                }
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::Str(s) if !s.is_empty() => {
                            if output.contains(s) {
                                problems.push(format!("OUTPUT names attribute '{s}' twice"));
                            }
                            output.push(s.clone())
                        }
                        other => problems.push(format!(
                            "OUTPUT element {} must be a non-empty string, not {} ({})",
                            i + 1,
                            other.type_name(),
                            other.to_py_str()
                        )),
                    }
                }
            }
            Some(other) => problems.push(format!(
                "constant OUTPUT must be a list of strings, not {}",
                other.type_name()
            )),
        }

        let mut parameters: Vec<ParamDef> = Vec::new();
        match raw.constants.get("PARAMETERS") {
            None | Some(Value::Null) => {}
            Some(Value::List(items)) => {
                for (i, item) in items.iter().enumerate() {
                    match parse_param_def(item) {
                        Ok(def) => {
                            if parameters.iter().any(|p| p.name == def.name) {
                                problems.push(format!("PARAMETERS declares '{}' twice", def.name));
                            }
                            parameters.push(def)
                        }
                        Err(e) => problems.push(format!("PARAMETERS element {}: {e}", i + 1)),
                    }
                }
            }
            Some(other) => problems.push(format!(
                "constant PARAMETERS must be a list of (name, datatype, default, documentation), not {}",
                other.type_name()
            )),
        }

        if !problems.is_empty() {
            return Err(MetaProblems(problems));
        }
        let take = |strings: &mut BTreeMap<&str, String>, k| strings.remove(k).unwrap_or_default();
        let id = take(&mut strings, "ID");
        let version = take(&mut strings, "VERSION");
        let input = take(&mut strings, "INPUT");
        let extra = strings
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        Ok(PluginMeta {
            id,
            version,
            input,
            output,
            parameters,
            extra,
        })
    }

    /// The declared parameter called `name`.
    pub fn parameter(&self, name: &str) -> Option<&ParamDef> {
        self.parameters.iter().find(|p| p.name == name)
    }
}

fn parse_param_def(item: &Value) -> Result<ParamDef, String> {
    let fields = match item {
        Value::List(fields) => fields,
        other => {
            return Err(format!(
                "must be a (name, datatype, default, documentation) tuple, not {}",
                other.type_name()
            ))
        }
    };
    if fields.len() != 4 {
        return Err(format!(
            "has {} fields, 4 are needed: (name, datatype, default, documentation)",
            fields.len()
        ));
    }
    let mut texts = Vec::with_capacity(4);
    for (label, field) in ["name", "datatype", "default", "documentation"]
        .iter()
        .zip(fields)
    {
        match field {
            Value::Str(s) => texts.push(s.clone()),
            other => {
                return Err(format!(
                    "its {label} must be a string, not {} ({})",
                    other.type_name(),
                    other.to_py_str()
                ))
            }
        }
    }
    let name = texts[0].clone();
    if name.is_empty() {
        return Err("its name is empty".into());
    }
    let ty = ParamType::parse(&texts[1]).unwrap_or(ParamType::Any);
    let default = parse_default(&texts[2], ty)
        .map_err(|e| format!("parameter '{name}': default '{}' {e}", texts[2]))?;
    Ok(ParamDef {
        name,
        datatype: texts[1].clone(),
        ty,
        default_text: texts[2].clone(),
        default,
        documentation: texts[3].clone(),
    })
}

/// Parses a default written as text into a value of the declared type. An empty
/// default (or `None`/`null` for a non-string type) means "no default".
fn parse_default(text: &str, ty: ParamType) -> Result<Option<Value>, String> {
    let t = text.trim();
    if ty != ParamType::Str && (t.is_empty() || t == "None" || t == "null" || t == "~") {
        return Ok(None);
    }
    Ok(Some(match ty {
        ParamType::Str => Value::Str(text.to_string()),
        ParamType::Int => Value::Int(t.parse().map_err(|_| "is not an integer")?),
        ParamType::Float => Value::Float(t.parse().map_err(|_| "is not a number")?),
        ParamType::Bool => match t.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Value::Bool(true),
            "false" | "no" | "0" => Value::Bool(false),
            _ => return Err("is not a boolean (true or false)".into()),
        },
        ParamType::List | ParamType::Any => {
            let v: serde_yaml_ng::Value =
                serde_yaml_ng::from_str(t).map_err(|e| format!("is not valid YAML: {e}"))?;
            let v = crate::yaml::yaml_to_value(&v).map_err(|e| format!("is not usable: {e}"))?;
            if ty == ParamType::List && !matches!(v, Value::List(_)) {
                return Err("is not a list (write it as [a, b])".into());
            }
            v
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(entries: &[(&str, Value)]) -> RawMeta {
        let mut r = RawMeta::default();
        for (k, v) in entries {
            r.set(k, v.clone());
        }
        r
    }

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    #[test]
    fn valid_metadata_passes() {
        let m = PluginMeta::validate(&raw(&[
            ("ID", s("p")),
            ("VERSION", s("1")),
            ("INPUT", s("x")),
            ("OUTPUT", Value::List(vec![s("a"), s("b")])),
            (
                "PARAMETERS",
                Value::List(vec![Value::List(vec![s("k"), s("int"), s("3"), s("doc")])]),
            ),
            ("METHOD", s("m")),
        ]))
        .unwrap();
        assert_eq!(m.output, vec!["a", "b"]);
        assert_eq!(m.parameters[0].default, Some(Value::Int(3)));
        assert_eq!(m.extra.get("METHOD").map(String::as_str), Some("m"));
    }

    #[test]
    fn every_problem_is_listed() {
        let err = PluginMeta::validate(&raw(&[
            ("ID", s(&"x".repeat(257))),
            ("VERSION", Value::Int(3)),
            ("OUTPUT", Value::List(vec![s("a"), Value::Int(1)])),
            (
                "PARAMETERS",
                Value::List(vec![Value::List(vec![
                    s("k"),
                    s("int"),
                    s("three"),
                    s("doc"),
                ])]),
            ),
        ]))
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("ID is 257 characters long, at most 256"),
            "{text}"
        );
        assert!(
            text.contains("VERSION must be a string, not integer"),
            "{text}"
        );
        assert!(text.contains("INPUT is missing"), "{text}");
        assert!(text.contains("OUTPUT element 2"), "{text}");
        assert!(text.contains("default 'three' is not an integer"), "{text}");
        assert_eq!(err.0.len(), 5);
    }
}
