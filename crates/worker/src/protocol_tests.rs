//! Tests of the worker protocol.
use super::*;
use std::io;

fn roundtrip_host(m: HostMsg) {
    let mut buf = Vec::new();
    m.encode(&mut buf);
    let mut framed = Vec::new();
    write_frame(&mut framed, &buf).unwrap();
    let mut back = Vec::new();
    assert!(read_frame(&mut framed.as_slice(), &mut back).unwrap());
    assert_eq!(HostMsg::decode(&back).unwrap(), m);
}

fn roundtrip_worker(m: WorkerMsg) {
    let mut buf = Vec::new();
    m.encode(&mut buf);
    assert_eq!(WorkerMsg::decode(&buf).unwrap(), m);
}

#[test]
fn a_frame_cut_short_costs_what_was_sent() {
    let mut stream: Vec<u8> = (1u32 << 30).to_le_bytes().to_vec();
    stream.extend_from_slice(b"abc");
    let mut buf = Vec::new();
    let e = read_frame(&mut stream.as_slice(), &mut buf).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    assert!(e.to_string().contains("cut after 3"), "{e}");
    assert!(
        buf.capacity() <= 2 << 20,
        "{} bytes allocated",
        buf.capacity()
    );
    let mut whole = Vec::new();
    write_frame(&mut whole, b"hello").unwrap();
    write_frame(&mut whole, b"").unwrap();
    let mut r = whole.as_slice();
    assert!(read_frame(&mut r, &mut buf).unwrap());
    assert_eq!(buf, b"hello");
    assert!(read_frame(&mut r, &mut buf).unwrap());
    assert!(buf.is_empty());
    assert!(!read_frame(&mut r, &mut buf).unwrap());
}

#[test]
fn messages_survive_a_roundtrip() {
    roundtrip_host(HostMsg::Load(Load {
        version: PROTOCOL_VERSION,
        plugin: "/p/é x.py".into(),
        python_path: vec!["/venv".into(), "lib".into()],
        debug: true,
    }));
    roundtrip_worker(WorkerMsg::Loaded(Value::List(vec![
        Value::List(vec![Value::Str("ID".into()), Value::Str("t".into())]),
        Value::Str("python".into()),
        Value::List(vec![]),
    ])));
    roundtrip_host(HostMsg::Init(Init {
        version: PROTOCOL_VERSION,
        plugin: "/p/x.py".into(),
        python_path: vec!["/venv".into()],
        timeout_ms: 1500,
        default_timeout: true,
        params: vec![
            ("k".into(), Value::Int(-3)),
            (
                "l".into(),
                Value::List(vec![Value::Float(0.5), Value::Null, Value::Bool(true)]),
            ),
            ("s".into(), Value::Str("é\t".into())),
        ],
        records: None,
        debug: false,
        log_dir: None,
    }));
    roundtrip_host(HostMsg::Init(Init {
        version: PROTOCOL_VERSION,
        plugin: "/p/x.so".into(),
        python_path: vec![],
        timeout_ms: 0,
        default_timeout: false,
        params: vec![],
        records: Some(RecordSource {
            format: RecordFormat::Csv,
            files: vec!["a.csv".into(), "b é.csv".into()],
            id_column: Some("sample".into()),
        }),
        debug: true,
        log_dir: Some("logs/é".into()),
    }));
    roundtrip_host(HostMsg::Batch(vec![
        Unit::same("a"),
        Unit::same(""),
        Unit {
            input: "c".into(),
            id: Some("c-id".into()),
        },
    ]));
    roundtrip_host(HostMsg::Records(vec![
        (
            Unit::same("chr1"),
            RecordRef::InFile {
                file: 3,
                offset: 1 << 40,
                len: 77,
            },
        ),
        (
            Unit {
                input: "row".into(),
                id: Some("row#2".into()),
            },
            RecordRef::Held(HeldRecord {
                bytes: b"a\x00\xff".to_vec(),
                fields: vec![("k".into(), "v".into())],
            }),
        ),
    ]));
    roundtrip_host(HostMsg::Finalize);
    roundtrip_worker(WorkerMsg::Ready);
    roundtrip_worker(WorkerMsg::InitFailed("boom".into()));
    roundtrip_worker(WorkerMsg::Results(vec![
        Ok(Outcome {
            values: vec![Value::Int(1), Value::Str("x".into())],
            logs: vec!["l".into()],
        }),
        Err(EntityError {
            message: "E: m".into(),
            logs: vec!["before".into()],
            instance_lost: false,
            out_of_memory: false,
        }),
        Err(EntityError {
            message: "MemoryError: big".into(),
            logs: vec![],
            instance_lost: false,
            out_of_memory: true,
        }),
    ]));
    roundtrip_worker(WorkerMsg::Finalized(Ok(vec!["done".into()])));
    roundtrip_worker(WorkerMsg::Finalized(Err("bad".into())));
}

#[test]
fn batches_encode_from_borrowed_inputs() {
    let mut a = Vec::new();
    let entities = [
        Entity::same("x"),
        Entity::with_input("/data/yz.fa".into(), "yz".into()),
    ];
    HostMsg::encode_batch(&entities, &mut a);
    let mut b = Vec::new();
    HostMsg::Batch(vec![
        Unit::same("x"),
        Unit {
            input: "/data/yz.fa".into(),
            id: Some("yz".into()),
        },
    ])
    .encode(&mut b);
    assert_eq!(a, b);
    let mut seen = Vec::new();
    assert!(HostMsg::each_batch_entity(&a, |e, id| seen.push((e, id))).unwrap());
    assert_eq!(seen, [("x", "x"), ("/data/yz.fa", "yz")]);
}

#[test]
fn batches_read_alike_on_the_fast_path_and_the_general_one() {
    // Entities whose ID is their input take the fast path; the others (an ID of its
    // own) the general one; a batch that mixes them reads as its units, in order.
    let entities = [
        Entity::same("a"),
        Entity::with_input("in".into(), "id".into()),
        Entity::same("b"),
        Entity::same("c"),
        Entity::with_input("x".into(), "y".into()),
        Entity::same("é"),
    ];
    let mut a = Vec::new();
    HostMsg::encode_batch(&entities, &mut a);
    let mut seen = Vec::new();
    assert!(HostMsg::each_batch_entity(&a, |e, id| seen.push((e, id))).unwrap());
    let want = [
        ("a", "a"),
        ("in", "id"),
        ("b", "b"),
        ("c", "c"),
        ("x", "y"),
        ("é", "é"),
    ];
    assert_eq!(seen, want);
    let HostMsg::Batch(units) = HostMsg::decode(&a).unwrap() else {
        panic!("not a batch")
    };
    let general: Vec<(&str, &str)> = units.iter().map(|u| (u.input.as_str(), u.id())).collect();
    assert_eq!(general, want);
    // A byte too many, a batch cut short (on the fast path), a string cut inside a
    // character (on the fast path): errors, never a wrong entity.
    let mut extra = a.clone();
    extra.push(0);
    assert!(HostMsg::each_batch_entity(&extra, |_, _| {}).is_err());
    let cut = &a[..a.len() - 1];
    assert!(HostMsg::each_batch_entity(cut, |_, _| {}).is_err());
    let mut inside = a.clone();
    let n = inside.len();
    assert_eq!(&inside[n - 4..], &[2, 0xc3, 0xa9, 0]);
    inside[n - 4] = 1; // "é" cut after its first byte, then the rest as bytes
    assert!(HostMsg::each_batch_entity(&inside, |_, _| {}).is_err());
}

#[test]
fn batch_strings_are_checked_whether_or_not_the_frame_is_text() {
    // IDs of 128 bytes or more have lengths of two bytes, one of them not ASCII: the
    // frame is no longer UTF-8 as a whole and each string is checked alone.
    for long in [false, true] {
        let wide = "é".repeat(if long { 100 } else { 10 });
        let entities = [Entity::same("a"), Entity::same(&wide), Entity::same("ü")];
        let mut a = Vec::new();
        HostMsg::encode_batch(&entities, &mut a);
        assert_eq!(std::str::from_utf8(&a).is_ok(), !long);
        let mut seen = Vec::new();
        assert!(HostMsg::each_batch_entity(&a, |e, _| seen.push(e.to_string())).unwrap());
        assert_eq!(seen, ["a", wide.as_str(), "ü"]);
        // A string cut inside a character, and bytes that are not UTF-8, are errors.
        let at = a.len() - 2;
        let mut bad = a.clone();
        bad[at] = 0xff;
        assert!(HostMsg::each_batch_entity(&bad, |_, _| {}).is_err());
        let mut cut = a.clone();
        let len_at = a.len() - 4; // the length byte of "ü", 2
        assert_eq!(cut[len_at], 2);
        cut[len_at] = 1;
        cut.truncate(a.len() - 2);
        cut.push(0); // the empty ID that follows
        assert!(HostMsg::each_batch_entity(&cut, |_, _| {}).is_err());
    }
}

#[test]
fn record_batches_encode_from_entities() {
    let key = RecordRef::InFile {
        file: 0,
        offset: 10,
        len: 5,
    };
    let entities = vec![
        Entity::with_record(None, "r1".into(), key.clone()),
        Entity::with_record(Some("r1".into()), "r1#2".into(), key.clone()),
    ];
    let mut a = Vec::new();
    HostMsg::encode_record_batch(&entities, &mut a);
    assert_eq!(HostMsg::batch_len(&a), Some(2));
    let mut seen = Vec::new();
    assert!(HostMsg::each_batch_record(&a, |n, id, r| seen.push((
        n.to_string(),
        id.to_string(),
        r.clone()
    )))
    .unwrap());
    assert_eq!(
        seen,
        vec![
            ("r1".to_string(), "r1".to_string(), key.clone()),
            ("r1".to_string(), "r1#2".to_string(), key)
        ]
    );
    assert!(!HostMsg::each_batch_entity(&a, |_, _| {}).unwrap());
}

#[test]
fn truncated_and_garbage_frames_are_errors() {
    let mut buf = Vec::new();
    WorkerMsg::Results(vec![Ok(Outcome::default())]).encode(&mut buf);
    assert!(WorkerMsg::decode(&buf[..buf.len() - 1]).is_err());
    assert!(WorkerMsg::decode(&[99]).is_err());
    let mut r: &[u8] = &[0xff, 0xff, 0xff, 0xff];
    assert!(read_frame(&mut r, &mut Vec::new()).is_err());
    let mut empty: &[u8] = &[];
    assert!(!read_frame(&mut empty, &mut Vec::new()).unwrap());
    let e = HostMsg::decode(&{
        let mut b = Vec::new();
        HostMsg::Init(Init {
            version: 99,
            plugin: String::new(),
            python_path: vec![],
            timeout_ms: 0,
            default_timeout: false,
            params: vec![],
            records: None,
            debug: false,
            log_dir: None,
        })
        .encode(&mut b);
        b
    })
    .unwrap_err();
    assert!(e.0.contains("protocol version 99"), "{e}");
    let mut b = Vec::new();
    HostMsg::Load(Load {
        version: 98,
        plugin: String::new(),
        python_path: vec![],
        debug: false,
    })
    .encode(&mut b);
    let e = HostMsg::decode(&b).unwrap_err();
    assert!(e.0.contains("protocol version 98"), "{e}");
}
