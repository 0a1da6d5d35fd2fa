//! The YAML users write: attribute definitions files and parameter files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyplug_core::{AttributeDefinitions, Params};

fuzz_target!(|text: &str| {
    if let Ok(defs) = AttributeDefinitions::from_yaml_str(text, "defs.yaml") {
        for name in defs.names() {
            assert!(
                defs.get(name).is_some(),
                "listed attribute {name:?} not found"
            );
        }
    }
    if let Ok(entries) = Params::parse_yaml(text, "params.yaml") {
        let mut names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            entries.len(),
            "a parameter given twice was accepted"
        );
    }
});
