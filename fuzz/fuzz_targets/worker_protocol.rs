//! The host/worker protocol: frames read from a stream, and every message decoder on
//! any bytes (a worker is a separate process whose bytes the host must not trust, and
//! the other way round). A batch encoded from entities decodes to the same entities.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyplug_worker::protocol::{read_frame, HostMsg, WorkerMsg};

fuzz_target!(|data: &[u8]| {
    let mut stream = data;
    let mut frame = Vec::new();
    let mut frames = 0;
    while let Ok(true) = read_frame(&mut stream, &mut frame) {
        decode(&frame);
        frames += 1;
        if frames > 64 {
            break;
        }
    }
    decode(data);

    // Round trip of a batch made of the input's lines.
    let text = String::from_utf8_lossy(data);
    let entities: Vec<&str> = text.split('\n').collect();
    let mut buf = Vec::new();
    HostMsg::encode_batch(entities.iter().copied(), &mut buf);
    assert_eq!(HostMsg::batch_len(&buf), Some(entities.len()));
    let mut back = Vec::new();
    assert_eq!(HostMsg::each_batch_entity(&buf, |e| back.push(e)), Ok(true));
    assert_eq!(back, entities, "a batch did not read back");
});

fn decode(payload: &[u8]) {
    let _ = HostMsg::decode(payload);
    let _ = HostMsg::batch_len(payload);
    let _ = HostMsg::each_batch_entity(payload, |_| {});
    let _ = WorkerMsg::decode(payload);
    let mut results = polyplug_core::BatchResults::new();
    if let Ok(Some(n)) = WorkerMsg::results_into(payload, &mut results) {
        assert_eq!(n, results.len());
    }
}
