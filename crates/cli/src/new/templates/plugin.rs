//! {{name}}: a polyplug plugin in Rust, one file that polyplug compiles on first use
//! (offline: polyplug ships the polyplug_sdk crate and builds it with your rustc).
//!
//! For every ID it returns the length of the ID and its number of G and C letters.
//! IDs shorter than the parameter min_length give no result and a log message. Each
//! worker keeps a count of what it computed in its state and logs it in finalize. A
//! returned `Error` or a panic fails that entity only.
//!
//! Run it (in this folder):
//!     polyplug run {{name}}.rs ids ids.txt

use polyplug_sdk::{export_plugin, Error, Output, ParamSpec, Params, Plugin};

/// One worker's state.
pub struct State {
    computed: u64,
}

impl Plugin for State {
    const ID: &'static str = "{{name}}";
    const VERSION: &'static str = "0.1.0";
    const INPUT: &'static str = "any ID (one line of the IDs file)";
    const OUTPUT: &'static [&'static str] = &["length", "gc_count"];
    const PARAMETERS: &'static [ParamSpec] = &[ParamSpec::new(
        "min_length",
        "int",
        "0",
        "IDs shorter than this give no result",
    )];
    const METHOD: Option<&'static str> =
        Some("length: number of bytes of the ID; gc_count: number of G and C letters");
    const IMPLEMENTATION: Option<&'static str> = Some("Rust, polyplug-sdk");

    fn initialize(_params: &Params) -> Result<Self, Error> {
        Ok(State { computed: 0 })
    }

    fn compute(&mut self, entity: &str, params: &Params, out: &mut Output) -> Result<(), Error> {
        let min_length = params.int("min_length").unwrap_or(0);
        if (entity.len() as i64) < min_length {
            // No value: no result for this entity; the log is kept.
            out.log(format!(
                "length\t{} characters, below min_length {min_length}",
                entity.len()
            ));
            return Ok(());
        }
        let gc = entity
            .bytes()
            .filter(|b| matches!(b, b'G' | b'C' | b'g' | b'c'))
            .count();
        out.push(entity.len() as i64); // values in OUTPUT order
        out.push(gc as i64);
        self.computed += 1;
        Ok(())
    }

    fn finalize(&mut self, _params: &Params, out: &mut Output) -> Result<(), Error> {
        out.log(format!("computed {} entities", self.computed));
        Ok(())
    }
}

export_plugin!(State);
