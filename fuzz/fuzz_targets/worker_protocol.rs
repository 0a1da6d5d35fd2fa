//! The host/worker protocol: frames read from a stream, and every message decoder on
//! any bytes (a worker is a separate process whose bytes the host must not trust, and
//! the other way round). A batch encoded from entities decodes to the same entities.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyplug_core::Entity;
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

    // Round trip of a batch made of the input's lines: `input<TAB>id`, or an entity
    // whose ID is what compute receives (IDs are never empty).
    let text = String::from_utf8_lossy(data);
    let units: Vec<(&str, &str)> = text
        .split('\n')
        .map(|l| match l.split_once('\t') {
            Some((input, id)) if !id.is_empty() => (input, id),
            _ => (l, l),
        })
        .collect();
    let entities: Vec<Entity> = units
        .iter()
        .map(|(input, id)| Entity::with_input(input.to_string(), id.to_string()))
        .collect();
    let mut buf = Vec::new();
    HostMsg::encode_batch(&entities, &mut buf);
    assert_eq!(HostMsg::batch_len(&buf), Some(entities.len()));
    let mut back = Vec::new();
    assert_eq!(
        HostMsg::each_batch_entity(&buf, |e, id| back.push((e, id))),
        Ok(true)
    );
    assert_eq!(back, units, "a batch did not read back");
});

fn decode(payload: &[u8]) {
    let _ = HostMsg::decode(payload);
    let _ = HostMsg::batch_len(payload);
    let _ = HostMsg::each_batch_entity(payload, |_, _| {});
    let _ = HostMsg::each_batch_record(payload, |_, _, _| {});
    let _ = WorkerMsg::decode(payload);
    let mut results = polyplug_core::BatchResults::new();
    if let Ok(Some(n)) = WorkerMsg::results_into(payload, &mut results) {
        assert_eq!(n, results.len());
    }
}
