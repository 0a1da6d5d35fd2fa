//! A Bash compute's answer: the values line and log lines it prints, as any bytes,
//! read with and without column types from definitions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyplug_core::ColumnKind;

const KINDS: [ColumnKind; 5] = [
    ColumnKind::Int,
    ColumnKind::Float,
    ColumnKind::Bool,
    ColumnKind::Text,
    ColumnKind::Any,
];

fuzz_target!(|data: &[u8]| {
    let Some((&k, answer)) = data.split_first() else {
        return;
    };
    let kinds: Vec<ColumnKind> = (0..k % 4)
        .map(|i| KINDS[usize::from(k >> (2 * i)) % 5])
        .collect();
    let typed = (k & 0x80 != 0).then_some(kinds.as_slice());
    if let Ok(out) = polyplug_loader_bash::fuzz_parse_output(answer, typed) {
        for log in &out.logs {
            assert!(!log.contains('\n'), "a log message spans lines: {log:?}");
        }
    }
});
