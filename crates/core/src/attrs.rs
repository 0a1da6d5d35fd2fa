//! Attribute definitions (Prenacs `attribute_definitions.yaml`), the datatype grammar,
//! and checking a plugin's results against OUTPUT.

use crate::Value;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// The kind of value a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Integer types (`Integer`, `BigInteger`, `SmallInteger`, …).
    Int,
    /// Floating-point and decimal types (`Float`, `Double`, `Numeric`, …); integers fit.
    Float,
    /// Boolean.
    Bool,
    /// Text types (`String(n)`, `Text`, `Unicode`, `CHAR(n)`, …).
    Text,
    /// Other types (`JSON`, `Date`, `LargeBinary`, …): any value is accepted.
    Any,
}

/// One column of an attribute: an element of its datatype.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnType {
    /// Type name as written (`String`, `Float`).
    pub name: String,
    /// What values fit.
    pub kind: ColumnKind,
    /// For text types with a length argument (`String(12)`): the maximum length.
    pub max_len: Option<usize>,
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.max_len {
            Some(n) => write!(f, "{}({n})", self.name),
            None => f.write_str(&self.name),
        }
    }
}

fn kind_of(type_name: &str) -> Option<ColumnKind> {
    Some(match type_name.to_ascii_lowercase().as_str() {
        "integer" | "biginteger" | "smallinteger" | "int" | "bigint" | "smallint" | "tinyint" => {
            ColumnKind::Int
        }
        "float" | "double" | "double_precision" | "real" | "numeric" | "decimal" => {
            ColumnKind::Float
        }
        "boolean" | "bool" => ColumnKind::Bool,
        "string" | "text" | "unicode" | "unicodetext" | "char" | "varchar" | "nchar"
        | "nvarchar" | "clob" | "enum" => ColumnKind::Text,
        "json" | "date" | "datetime" | "time" | "timestamp" | "interval" | "binary"
        | "varbinary" | "largebinary" | "blob" | "uuid" | "uuid_" | "pickletype" | "array" => {
            ColumnKind::Any
        }
        _ => return None,
    })
}

/// Why a datatype definition does not parse: which element, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct DatatypeError(String);

/// The most columns one attribute may have (an embedding of 4096 floats is 4096).
pub const MAX_COLUMNS: usize = 65_536;

/// Parses a datatype definition: `;`-separated elements `TypeName[(args)][[n]]`, for
/// example `Float;Integer[3]` (four columns) or `String(12)`; at most
/// [`MAX_COLUMNS`] columns in all.
pub fn parse_datatype(def: &str) -> Result<Vec<ColumnType>, DatatypeError> {
    parse_elements(def).map_err(DatatypeError)
}

fn parse_elements(def: &str) -> Result<Vec<ColumnType>, String> {
    let mut cols = Vec::new();
    if def.trim().is_empty() {
        return Err("the datatype is empty".into());
    }
    for elem in def.split(';') {
        let elem = elem.trim();
        let (base, count) = match elem.strip_suffix(']') {
            Some(rest) => {
                let (base, n) = rest
                    .rsplit_once('[')
                    .ok_or_else(|| format!("element '{elem}' has ']' without '['"))?;
                let n: usize = n
                    .trim()
                    .parse()
                    .map_err(|_| format!("element '{elem}': '[{n}]' is not a positive count"))?;
                if n == 0 {
                    return Err(format!("element '{elem}': the count must be at least 1"));
                }
                if n > MAX_COLUMNS - cols.len() {
                    return Err(format!(
                        "element '{elem}': at most {MAX_COLUMNS} columns per attribute"
                    ));
                }
                (base, n)
            }
            None => (elem, 1),
        };
        let (name, args) = match base.strip_suffix(')') {
            Some(rest) => {
                let (name, args) = rest
                    .split_once('(')
                    .ok_or_else(|| format!("element '{elem}' has ')' without '('"))?;
                (name.trim(), Some(args.trim()))
            }
            None => (base.trim(), None),
        };
        if name.is_empty() {
            return Err(format!("element '{elem}' has no type name"));
        }
        let kind = kind_of(name).ok_or_else(|| {
            format!(
                "unknown type '{name}' in element '{elem}'; known types include Integer, \
                 BigInteger, Float, Double, Numeric, Boolean, String(n), Text, JSON, Date, DateTime"
            )
        })?;
        let max_len =
            match (kind, args) {
                (ColumnKind::Text, Some(a)) if !a.is_empty() => {
                    let first = a.split(',').next().unwrap_or("").trim();
                    Some(first.parse::<usize>().map_err(|_| {
                        format!("element '{elem}': length '{first}' is not a number")
                    })?)
                }
                _ => None,
            };
        if cols.len() == MAX_COLUMNS {
            return Err(format!(
                "element '{elem}': at most {MAX_COLUMNS} columns per attribute"
            ));
        }
        for _ in 0..count {
            cols.push(ColumnType {
                name: name.to_string(),
                kind,
                max_len,
            });
        }
    }
    Ok(cols)
}

/// One attribute definition, as in Prenacs' definitions file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeDefinition {
    /// Datatype definition (see [`parse_datatype`]).
    pub datatype: String,
    /// What the attribute means.
    #[serde(default)]
    pub definition: Option<String>,
    /// Attributes computed together share a group.
    #[serde(default)]
    pub computation_group: Option<String>,
    /// Ontology cross-reference.
    #[serde(default)]
    pub ontology_xref: Option<String>,
    /// Related ontology terms.
    #[serde(default)]
    pub related_ontology_terms: Option<String>,
    /// Unit of measure.
    #[serde(default)]
    pub unit: Option<String>,
    /// Free remark.
    #[serde(default)]
    pub remark: Option<String>,
}

/// Why an attribute definitions file is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DefinitionsError {
    /// Not a YAML mapping of attribute names to definitions.
    #[error(
        "{origin}: not a valid attribute definitions file: {detail}; each attribute needs \
         a mapping with at least 'datatype' (keys allowed: datatype, definition, \
         computation_group, ontology_xref, related_ontology_terms, unit, remark)"
    )]
    Yaml {
        /// The definitions file.
        origin: String,
        /// The parser's message.
        detail: String,
    },
    /// Datatypes that do not parse: (attribute, datatype, why), every one of them.
    #[error("{}", datatype_lines(origin, problems))]
    Datatypes {
        /// The definitions file.
        origin: String,
        /// Each bad attribute, its datatype and why.
        problems: Vec<(String, String, DatatypeError)>,
    },
}

fn datatype_lines(origin: &str, problems: &[(String, String, DatatypeError)]) -> String {
    problems
        .iter()
        .map(|(name, datatype, e)| {
            format!("{origin}: attribute '{name}': datatype '{datatype}': {e}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// OUTPUT attributes missing from the attribute definitions.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "OUTPUT attribute(s) {} not defined in {origin}; add them there or fix the names",
    attributes.join(", ")
)]
pub struct UndefinedOutputs {
    /// The attributes not defined.
    pub attributes: Vec<String>,
    /// The definitions file.
    pub origin: String,
}

/// Why one entity's values do not match OUTPUT and the attribute definitions.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResultMismatch {
    /// Fewer values than OUTPUT attributes (no definitions known).
    #[error(
        "returned {given} value(s) for {wanted} OUTPUT attribute(s): no value for {}",
        missing.iter().map(|m| format!("'{m}'")).collect::<Vec<_>>().join(", ")
    )]
    Missing {
        /// Values returned.
        given: usize,
        /// OUTPUT attributes.
        wanted: usize,
        /// The attributes without a value.
        missing: Vec<String>,
    },
    /// Another number of values than the definitions' columns.
    #[error(
        "returned {given} value(s), the attribute definitions need exactly {wanted} ({layout})"
    )]
    Count {
        /// Values returned.
        given: usize,
        /// Columns defined.
        wanted: usize,
        /// The columns of each attribute (`size: Integer, pair: Float;String(3)`).
        layout: String,
    },
    /// A value of another type than its column.
    #[error("{} needs {ty}, got {got_type} {got}{why}", column_name(attribute, *column))]
    Type {
        /// The attribute.
        attribute: String,
        /// For an attribute of several columns: (column, number of columns), 1-based.
        column: Option<(usize, usize)>,
        /// The column's type.
        ty: String,
        /// The type of the value.
        got_type: &'static str,
        /// The value, shortened.
        got: String,
        /// More on why it does not fit (a text too long), or empty.
        why: String,
    },
}

fn column_name(attribute: &str, column: Option<(usize, usize)>) -> String {
    match column {
        Some((c, n)) => format!("column {c} of {n} of attribute '{attribute}'"),
        None => format!("attribute '{attribute}'"),
    }
}

/// A parsed attribute definitions file: name to definition and columns.
#[derive(Debug, Clone, Default)]
pub struct AttributeDefinitions {
    defs: BTreeMap<String, (AttributeDefinition, Vec<ColumnType>)>,
    /// Where the definitions were read from, for messages.
    pub origin: String,
}

impl AttributeDefinitions {
    /// Parses the YAML text of a definitions file; `origin` names it in errors. Every
    /// bad datatype is reported, with the attribute it belongs to.
    pub fn from_yaml_str(
        text: &str,
        origin: &str,
    ) -> Result<AttributeDefinitions, DefinitionsError> {
        let raw: BTreeMap<String, AttributeDefinition> =
            serde_yaml_ng::from_str(text).map_err(|e| DefinitionsError::Yaml {
                origin: origin.to_string(),
                detail: e.to_string(),
            })?;
        let mut defs = BTreeMap::new();
        let mut problems = Vec::new();
        for (name, def) in raw {
            match parse_datatype(&def.datatype) {
                Ok(cols) => {
                    defs.insert(name, (def, cols));
                }
                Err(e) => problems.push((name, def.datatype, e)),
            }
        }
        if !problems.is_empty() {
            return Err(DefinitionsError::Datatypes {
                origin: origin.to_string(),
                problems,
            });
        }
        Ok(AttributeDefinitions {
            defs,
            origin: origin.to_string(),
        })
    }

    /// The definition and columns of `name`.
    pub fn get(&self, name: &str) -> Option<(&AttributeDefinition, &[ColumnType])> {
        self.defs.get(name).map(|(d, c)| (d, c.as_slice()))
    }

    /// All attribute names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.defs.keys().map(String::as_str)
    }
}

/// How a plugin's results are checked: built from OUTPUT and, when known, the
/// attribute definitions.
#[derive(Debug, Clone)]
pub struct OutputSpec {
    output: Vec<String>,
    /// With definitions: (attribute, column index within it, number of columns, type).
    columns: Option<Vec<(usize, usize, usize, ColumnType)>>,
}

impl OutputSpec {
    /// A spec without definitions: at least one value per OUTPUT attribute, any type.
    pub fn untyped(output: &[String]) -> OutputSpec {
        OutputSpec {
            output: output.to_vec(),
            columns: None,
        }
    }

    /// A spec with definitions. Every OUTPUT attribute must be defined.
    pub fn typed(
        output: &[String],
        defs: &AttributeDefinitions,
    ) -> Result<OutputSpec, UndefinedOutputs> {
        let mut columns = Vec::new();
        let missing: Vec<String> = output
            .iter()
            .filter(|a| defs.get(a).is_none())
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(UndefinedOutputs {
                attributes: missing,
                origin: defs.origin.clone(),
            });
        }
        for (ai, a) in output.iter().enumerate() {
            let (_, cols) = defs.get(a).unwrap_or_else(|| unreachable!("checked above"));
            for (ci, c) in cols.iter().enumerate() {
                columns.push((ai, ci, cols.len(), c.clone()));
            }
        }
        Ok(OutputSpec {
            output: output.to_vec(),
            columns: Some(columns),
        })
    }

    /// The number of result columns, when definitions fix it.
    pub fn n_columns(&self) -> Option<usize> {
        self.columns.as_ref().map(Vec::len)
    }

    /// The kind of the result column at `index` (0-based), when definitions fix it.
    pub fn column_kind(&self, index: usize) -> Option<ColumnKind> {
        self.columns.as_ref()?.get(index).map(|c| c.3.kind)
    }

    /// Checks one entity's values. An empty list is valid ("no result").
    pub fn check(&self, values: &[Value]) -> Result<(), ResultMismatch> {
        if values.is_empty() {
            return Ok(());
        }
        match &self.columns {
            None => {
                if values.len() < self.output.len() {
                    return Err(ResultMismatch::Missing {
                        given: values.len(),
                        wanted: self.output.len(),
                        missing: self.output[values.len()..].to_vec(),
                    });
                }
                Ok(())
            }
            Some(cols) => {
                if values.len() != cols.len() {
                    let layout: Vec<String> = self
                        .output
                        .iter()
                        .enumerate()
                        .map(|(ai, a)| {
                            let types: Vec<String> = cols
                                .iter()
                                .filter(|c| c.0 == ai)
                                .map(|c| c.3.to_string())
                                .collect();
                            format!("{a}: {}", types.join(";"))
                        })
                        .collect();
                    return Err(ResultMismatch::Count {
                        given: values.len(),
                        wanted: cols.len(),
                        layout: layout.join(", "),
                    });
                }
                for (v, (ai, ci, n, ty)) in values.iter().zip(cols) {
                    if let Err(why) = fits(v, ty) {
                        return Err(ResultMismatch::Type {
                            attribute: self.output[*ai].clone(),
                            column: (*n > 1).then_some((ci + 1, *n)),
                            ty: ty.to_string(),
                            got_type: v.type_name(),
                            got: short(v),
                            why,
                        });
                    }
                }
                Ok(())
            }
        }
    }
}

fn short(v: &Value) -> String {
    let mut s = String::new();
    v.write_py_repr(&mut s);
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

fn fits(v: &Value, ty: &ColumnType) -> Result<(), String> {
    match (ty.kind, v) {
        (_, Value::Null) | (ColumnKind::Any, _) => Ok(()),
        (ColumnKind::Int, Value::Int(_)) => Ok(()),
        (ColumnKind::Float, Value::Float(_) | Value::Int(_)) => Ok(()),
        (ColumnKind::Bool, Value::Bool(_)) => Ok(()),
        (ColumnKind::Text, Value::Str(s)) => match ty.max_len {
            Some(max) if s.chars().count() > max => Err(format!(
                " ({} characters, at most {max} fit)",
                s.chars().count()
            )),
            _ => Ok(()),
        },
        _ => Err(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datatype_grammar() {
        let cols = parse_datatype("Float;Integer[3]").unwrap();
        assert_eq!(cols.len(), 4);
        assert_eq!(cols[0].kind, ColumnKind::Float);
        assert_eq!(cols[3].kind, ColumnKind::Int);
        let cols = parse_datatype("String(12)[2];BINARY(16)").unwrap();
        assert_eq!(cols.len(), 3);
        assert_eq!(cols[0].max_len, Some(12));
        assert!(parse_datatype("Flaot")
            .unwrap_err()
            .to_string()
            .contains("unknown type 'Flaot'"));
        assert!(parse_datatype("Integer[x]").is_err());
        // Found by fuzzing: a huge count is refused, not allocated.
        let e = parse_datatype("float[66666666666666666 ]").unwrap_err();
        assert!(e.to_string().contains("at most 65536 columns"), "{e}");
        assert_eq!(parse_datatype("Float[65536]").unwrap().len(), MAX_COLUMNS);
        assert!(parse_datatype("Float[65535];Integer;Text").is_err());
        assert!(parse_datatype("Float[65536];Integer").is_err());
    }

    #[test]
    fn results_are_checked_against_definitions() {
        let defs = AttributeDefinitions::from_yaml_str(
            "size:\n  datatype: Integer\npair:\n  datatype: Float;String(3)\n",
            "defs.yaml",
        )
        .unwrap();
        let out = vec!["size".to_string(), "pair".to_string()];
        let spec = OutputSpec::typed(&out, &defs).unwrap();
        assert_eq!(spec.n_columns(), Some(3));
        assert!(spec
            .check(&[Value::Int(1), Value::Int(2), Value::Str("ab".into())])
            .is_ok());
        let e = spec
            .check(&[Value::Int(1), Value::Float(0.5)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("need exactly 3 (size: Integer, pair: Float;String(3))"),
            "{e}"
        );
        let e = spec
            .check(&[Value::Float(1.5), Value::Int(2), Value::Str("ab".into())])
            .unwrap_err()
            .to_string();
        assert_eq!(e, "attribute 'size' needs Integer, got float 1.5");
        let e = spec
            .check(&[Value::Int(1), Value::Int(2), Value::Str("abcd".into())])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("column 2 of 2 of attribute 'pair' needs String(3)"),
            "{e}"
        );
    }

    #[test]
    fn untyped_accepts_more_values_but_not_fewer() {
        let spec = OutputSpec::untyped(&["a".to_string(), "b".to_string()]);
        assert!(spec.check(&[]).is_ok());
        assert!(spec
            .check(&[Value::Int(1), Value::Int(2), Value::Int(3)])
            .is_ok());
        let e = spec.check(&[Value::Int(1)]).unwrap_err().to_string();
        assert!(e.contains("no value for 'b'"), "{e}");
    }

    #[test]
    fn bad_definitions_files_are_explained() {
        let e = AttributeDefinitions::from_yaml_str("a:\n  datatyp: Integer\n", "d.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("d.yaml: not a valid attribute definitions file"),
            "{e}"
        );
        let e = AttributeDefinitions::from_yaml_str("a:\n  datatype: Nope\n", "d.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("attribute 'a'"), "{e}");
    }
}
