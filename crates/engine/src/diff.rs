//! `polyplug runs diff A B`: the entities whose values differ between two stored
//! computations (two versions of a plugin, two parameter sets), attribute by attribute.
//!
//! The values of A are held in memory (their text, keyed by entity and attribute);
//! B's are streamed past them in the store's order (by entity, then attribute), so
//! the differences come out sorted.

use crate::EngineError;
use polyplug_store::{Filter, Store, QUERY_MEMORY};
use std::collections::{BTreeMap, HashMap};

/// How one entity's attribute differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The entity.
    pub entity: String,
    /// The attribute.
    pub attribute: String,
    /// Its value in A (`None`: A has none).
    pub a: Option<String>,
    /// Its value in B (`None`: B has none).
    pub b: Option<String>,
}

/// Per attribute: values the same, changed, only in A, only in B.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// The same in both.
    pub same: u64,
    /// In both, different.
    pub changed: u64,
    /// Only A has a value.
    pub only_a: u64,
    /// Only B has a value.
    pub only_b: u64,
}

/// The differences of `b` from `a` (UUIDs or unique prefixes): each change (given to
/// `each` as it is found) and the counts per attribute. Values are compared as the
/// results file writes them (`;` between the columns of a multi-column attribute).
pub fn diff(
    store: &mut Store,
    a: &str,
    b: &str,
    each: &mut dyn FnMut(&Change),
) -> Result<BTreeMap<String, Counts>, EngineError> {
    let filter = |uuid: &str| Filter {
        computation: Some(uuid.to_string()),
        history: true,
        ..Filter::default()
    };
    let text = |values: &[polyplug_core::Value]| {
        values
            .iter()
            .map(|v| v.to_py_str())
            .collect::<Vec<_>>()
            .join(";")
    };
    let mut left: HashMap<(String, String), String> = HashMap::new();
    store.query(&filter(a), QUERY_MEMORY, |r| {
        left.insert((r.entity.clone(), r.attribute.clone()), text(&r.values));
        Ok(())
    })?;
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    store.query(&filter(b), QUERY_MEMORY, |r| {
        let value = text(&r.values);
        let c = counts.entry(r.attribute.clone()).or_default();
        match left.remove(&(r.entity.clone(), r.attribute.clone())) {
            Some(old) if old == value => c.same += 1,
            old => {
                if old.is_some() {
                    c.changed += 1;
                } else {
                    c.only_b += 1;
                }
                each(&Change {
                    entity: r.entity.clone(),
                    attribute: r.attribute.clone(),
                    a: old,
                    b: Some(value),
                });
            }
        }
        Ok(())
    })?;
    let mut rest: Vec<((String, String), String)> = left.into_iter().collect();
    rest.sort();
    for ((entity, attribute), value) in rest {
        counts.entry(attribute.clone()).or_default().only_a += 1;
        each(&Change {
            entity,
            attribute,
            a: Some(value),
            b: None,
        });
    }
    Ok(counts)
}
