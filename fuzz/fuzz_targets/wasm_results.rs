//! The result ABI of WebAssembly guests (and native libraries): any sequence of
//! push_*, begin_list, end_list, log, error and a returned status. A call that ends
//! without a failure has balanced lists and bounded nesting.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use polyplug_core::CallSink;
use polyplug_core::Value;

#[derive(Debug, Arbitrary)]
enum Call {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    BadStr,
    BeginList,
    EndList,
    Log(String),
    Error(String),
    Reset,
}

fuzz_target!(|input: (Vec<Call>, i32)| {
    let (calls, status) = input;
    let mut sink = CallSink::default();
    let mut depth: i64 = 0;
    let mut max_depth = 0;
    let mut balanced = true;
    for call in calls {
        match call {
            Call::Null => sink.push(Value::Null),
            Call::Bool(b) => sink.push(Value::Bool(b)),
            Call::Int(i) => sink.push(Value::Int(i)),
            Call::Float(f) => sink.push(Value::Float(f)),
            Call::Str(s) => sink.push(Value::Str(s)),
            Call::BadStr => sink.misuse("push_str: invalid UTF-8".into()),
            Call::BeginList => {
                sink.begin_list();
                depth += 1;
                max_depth = max_depth.max(depth);
            }
            Call::EndList => {
                sink.end_list();
                depth -= 1;
                if depth < 0 {
                    balanced = false;
                    depth = 0;
                }
            }
            Call::Log(s) => sink.logs.push(s),
            Call::Error(e) => sink.error = Some(e),
            Call::Reset => {
                sink.reset();
                depth = 0;
                max_depth = 0;
                balanced = true;
            }
        }
    }
    if sink.failure(status).is_none() {
        assert_eq!(status, 0);
        assert!(balanced && depth == 0, "unbalanced lists accepted");
        assert!(
            max_depth <= polyplug_core::codec::MAX_DEPTH as i64,
            "nesting too deep accepted"
        );
        for v in &sink.values {
            let mut buf = Vec::new();
            polyplug_core::codec::Encoder(&mut buf).value(v);
            let back = polyplug_core::codec::Decoder::new(&buf)
                .value()
                .expect("decodes");
            let mut again = Vec::new();
            polyplug_core::codec::Encoder(&mut again).value(&back);
            assert_eq!(
                buf, again,
                "a pushed value does not round-trip through the codec"
            );
        }
    }
});
