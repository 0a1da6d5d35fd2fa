//! The datatype grammar of attribute definitions (`Integer`, `String(50)`,
//! `Vector(Float, 3)`, `[Integer, Text]`, …): any text gives columns or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(columns) = polyplug_core::parse_datatype(text) {
        assert!(!columns.is_empty(), "{text:?} parsed to no column");
    }
});
