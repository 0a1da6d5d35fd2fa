//! What is known of a Python plugin once it is imported, wherever it was imported:
//! in this process, or in the worker process that will compute (which tells the host
//! in its `Loaded` message, so that the host of a run needs no interpreter of its own).

use crate::module::{PluginModule, FUNCTIONS};
use polyplug_core::{RawMeta, Value};
use std::path::PathBuf;

/// What the host checks and shows of an imported plugin module.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Description {
    /// The plugin file, absolute.
    pub path: PathBuf,
    /// `python`, or `python-extension` for a compiled extension module.
    pub language: &'static str,
    /// The constants, as read.
    pub raw: RawMeta,
    /// Problems with the constants that [`RawMeta`] cannot express.
    pub const_problems: Vec<String>,
    /// Problems with the function signatures.
    pub signature_problems: Vec<String>,
    /// Which of the contract's functions the module defines.
    pub functions: Vec<&'static str>,
}

impl Description {
    /// The description of a module imported in this process.
    pub fn of(m: &PluginModule) -> Description {
        Description {
            path: m.path.clone(),
            language: m.language,
            raw: m.raw.clone(),
            const_problems: m.const_problems.clone(),
            signature_problems: m.signature_problems.clone(),
            functions: m.functions(),
        }
    }

    /// As a worker sends it: `[path, language, [[name, value]…], const problems,
    /// signature problems, functions]`.
    pub fn to_value(&self) -> Value {
        let strs = |v: &[String]| Value::List(v.iter().cloned().map(Value::Str).collect());
        Value::List(vec![
            Value::Str(self.path.display().to_string()),
            Value::Str(self.language.to_string()),
            Value::List(
                self.raw
                    .constants
                    .iter()
                    .map(|(k, v)| Value::List(vec![Value::Str(k.clone()), v.clone()]))
                    .collect(),
            ),
            strs(&self.const_problems),
            strs(&self.signature_problems),
            Value::List(
                self.functions
                    .iter()
                    .map(|f| Value::Str(f.to_string()))
                    .collect(),
            ),
        ])
    }

    /// Reads what [`Description::to_value`] wrote; an error says what was malformed
    /// (a worker of another polyplug).
    pub fn from_value(v: Value) -> Result<Description, String> {
        let bad = |what: &str| format!("the Python worker described the plugin badly ({what})");
        let Value::List(parts) = v else {
            return Err(bad("not a list"));
        };
        let [Value::Str(path), Value::Str(language), Value::List(constants), consts, sigs, Value::List(functions)] =
            <[Value; 6]>::try_from(parts).map_err(|_| bad("not six parts"))?
        else {
            return Err(bad("a part of the wrong kind"));
        };
        let language = match language.as_str() {
            "python" => "python",
            "python-extension" => "python-extension",
            _ => return Err(bad("language")),
        };
        let mut raw = RawMeta::default();
        for c in constants {
            let Value::List(pair) = c else {
                return Err(bad("constant"));
            };
            let [Value::Str(name), value] =
                <[Value; 2]>::try_from(pair).map_err(|_| bad("constant"))?
            else {
                return Err(bad("constant name"));
            };
            raw.set(&name, value);
        }
        let strings = |v: Value, what: &str| -> Result<Vec<String>, String> {
            let Value::List(items) = v else {
                return Err(bad(what));
            };
            items
                .into_iter()
                .map(|i| match i {
                    Value::Str(s) => Ok(s),
                    _ => Err(bad(what)),
                })
                .collect()
        };
        let functions = strings(Value::List(functions), "functions")?
            .iter()
            .map(|f| {
                FUNCTIONS
                    .into_iter()
                    .find(|n| n == f)
                    .ok_or_else(|| bad("function name"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Description {
            path: PathBuf::from(path),
            language,
            raw,
            const_problems: strings(consts, "constant problems")?,
            signature_problems: strings(sigs, "signature problems")?,
            functions,
        })
    }

    /// Whether the module defines `name` (one of the contract's functions).
    pub fn has(&self, name: &str) -> bool {
        self.functions.contains(&name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_reads_back_as_it_was_written_and_bad_ones_are_errors() {
        let mut raw = RawMeta::default();
        raw.set("ID", Value::Str("t é".into()));
        raw.set(
            "PARAMETERS",
            Value::List(vec![Value::List(vec![
                Value::Str("k".into()),
                Value::Str("int".into()),
                Value::Int(3),
                Value::Str("doc".into()),
            ])]),
        );
        let d = Description {
            path: PathBuf::from("/p/t.py"),
            language: "python-extension",
            raw,
            const_problems: vec!["a dict as OUTPUT".into()],
            signature_problems: vec![],
            functions: vec!["compute", "compute_id"],
        };
        assert_eq!(Description::from_value(d.to_value()), Ok(d.clone()));
        assert!(d.has("compute_id") && !d.has("initialize"));
        for bad in [
            Value::Int(1),
            Value::List(vec![Value::Str("/p".into())]),
            {
                let Value::List(mut parts) = d.to_value() else {
                    unreachable!()
                };
                parts[1] = Value::Str("cobol".into());
                Value::List(parts)
            },
            {
                let Value::List(mut parts) = d.to_value() else {
                    unreachable!()
                };
                parts[5] = Value::List(vec![Value::Str("main".into())]);
                Value::List(parts)
            },
        ] {
            let e = Description::from_value(bad).unwrap_err();
            assert!(e.contains("described the plugin badly"), "{e}");
        }
    }
}
