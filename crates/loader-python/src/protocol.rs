//! The worker protocol: how the host and a Python worker process talk over the
//! worker's stdin and a private copy of its stdout.
//!
//! Every message is one *frame*: a little-endian `u32` payload length, then the
//! payload, whose first byte is the message tag. Entities travel in batches: one
//! [`HostMsg::Batch`] frame carries many entities and one [`WorkerMsg::Results`] frame
//! carries all their outcomes, so the cost of a pipe round trip is paid per batch.
//!
//! ```text
//! host                              worker (`polyplug __worker python`)
//!  Init{version, plugin, paths,     ->
//!       timeout, params}
//!                                   <- Ready | InitFailed{message}
//!  Batch{entities}                  ->
//!                                   <- Results{outcome per entity}
//!  …
//!  Finalize                         ->
//!                                   <- Finalized{logs | message}   (then exits)
//! ```
//!
//! Values are encoded with a one-byte kind tag (null, bool, int, float, str, list)
//! followed by their data; strings and lists carry a `u32` length. This module does no
//! I/O beyond reading and writing frames on the streams it is given, and knows nothing
//! about Python.

use polyplug_core::{EntityError, Outcome, Value};
use std::io::{self, Read, Write};

/// Version of this protocol; host and worker are the same binary, but a mismatch
/// (an old worker binary on the path) is refused clearly rather than misread.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame accepted (1 GiB): a larger length means a corrupted stream.
const MAX_FRAME: u32 = 1 << 30;

const T_INIT: u8 = 1;
const T_BATCH: u8 = 2;
const T_FINALIZE: u8 = 3;
const T_READY: u8 = 11;
const T_INIT_FAILED: u8 = 12;
const T_RESULTS: u8 = 13;
const T_FINALIZED: u8 = 14;

const V_NULL: u8 = 0;
const V_BOOL: u8 = 1;
const V_INT: u8 = 2;
const V_FLOAT: u8 = 3;
const V_STR: u8 = 4;
const V_LIST: u8 = 5;

/// A message from the host to a worker.
#[derive(Debug, Clone, PartialEq)]
pub enum HostMsg {
    /// Load the plugin and run its `initialize`.
    Init {
        /// [`PROTOCOL_VERSION`] of the host.
        version: u32,
        /// The plugin file.
        plugin: String,
        /// Extra import paths (`--python-path`).
        python_path: Vec<String>,
        /// Per-entity time limit in milliseconds; 0 for none.
        timeout_ms: u64,
        /// The run's parameters.
        params: Vec<(String, Value)>,
    },
    /// Compute these entities, in order.
    Batch(Vec<String>),
    /// Run `finalize` and exit.
    Finalize,
}

/// A message from a worker to the host.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerMsg {
    /// The plugin is loaded and initialized.
    Ready,
    /// Loading or `initialize` failed.
    InitFailed(String),
    /// The outcome of each entity of the last batch, in order.
    Results(Vec<Result<Outcome, EntityError>>),
    /// `finalize` ran: its logs, or why it failed.
    Finalized(Result<Vec<String>, String>),
}

/// A frame that cannot be decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "worker protocol error: {}", self.0)
    }
}

/// Writes one frame holding `payload`.
pub fn write_frame(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|n| *n <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "message too large"))?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(payload)
}

/// Reads one frame into `buf`; `Ok(false)` at a clean end of stream.
pub fn read_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes announced: the stream is corrupted"),
        ));
    }
    buf.clear();
    buf.resize(len as usize, 0);
    r.read_exact(buf)?;
    Ok(true)
}

/// Appends encoded data to a buffer.
struct Enc<'a>(&'a mut Vec<u8>);

impl Enc<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: usize) {
        // Lengths beyond u32 cannot occur: frames are at most 1 GiB.
        self.0
            .extend_from_slice(&(v.min(u32::MAX as usize) as u32).to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn strs(&mut self, items: &[String]) {
        self.u32(items.len());
        for s in items {
            self.str(s);
        }
    }
    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.u8(V_NULL),
            Value::Bool(b) => {
                self.u8(V_BOOL);
                self.u8(*b as u8);
            }
            Value::Int(i) => {
                self.u8(V_INT);
                self.0.extend_from_slice(&i.to_le_bytes());
            }
            Value::Float(f) => {
                self.u8(V_FLOAT);
                self.0.extend_from_slice(&f.to_bits().to_le_bytes());
            }
            Value::Str(s) => {
                self.u8(V_STR);
                self.str(s);
            }
            Value::List(items) => {
                self.u8(V_LIST);
                self.u32(items.len());
                for i in items {
                    self.value(i);
                }
            }
        }
    }
}

/// Reads encoded data from a payload.
struct Dec<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Dec<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.data.len())
            .ok_or_else(|| ProtocolError("message ends early".into()))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<usize, ProtocolError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    fn u64(&mut self) -> Result<u64, ProtocolError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn str(&mut self) -> Result<String, ProtocolError> {
        let n = self.u32()?;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| ProtocolError("a string is not UTF-8".into()))
    }
    fn strs(&mut self) -> Result<Vec<String>, ProtocolError> {
        let n = self.u32()?;
        let mut v = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            v.push(self.str()?);
        }
        Ok(v)
    }
    fn value(&mut self) -> Result<Value, ProtocolError> {
        Ok(match self.u8()? {
            V_NULL => Value::Null,
            V_BOOL => Value::Bool(self.u8()? != 0),
            V_INT => Value::Int(self.u64()? as i64),
            V_FLOAT => Value::Float(f64::from_bits(self.u64()?)),
            V_STR => Value::Str(self.str()?),
            V_LIST => {
                let n = self.u32()?;
                let mut v = Vec::with_capacity(n.min(1 << 16));
                for _ in 0..n {
                    v.push(self.value()?);
                }
                Value::List(v)
            }
            t => return Err(ProtocolError(format!("unknown value kind {t}"))),
        })
    }
    fn end(&self) -> Result<(), ProtocolError> {
        if self.pos == self.data.len() {
            Ok(())
        } else {
            Err(ProtocolError(format!(
                "{} unexpected bytes after the message",
                self.data.len() - self.pos
            )))
        }
    }
}

impl HostMsg {
    /// Encodes the message as a frame payload into `buf` (cleared first).
    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.clear();
        let mut e = Enc(buf);
        match self {
            HostMsg::Init {
                version,
                plugin,
                python_path,
                timeout_ms,
                params,
            } => {
                e.u8(T_INIT);
                e.u32(*version as usize);
                e.str(plugin);
                e.strs(python_path);
                e.0.extend_from_slice(&timeout_ms.to_le_bytes());
                e.u32(params.len());
                for (k, v) in params {
                    e.str(k);
                    e.value(v);
                }
            }
            HostMsg::Batch(entities) => {
                e.u8(T_BATCH);
                e.strs(entities);
            }
            HostMsg::Finalize => e.u8(T_FINALIZE),
        }
    }

    /// Encodes a batch straight from borrowed entity inputs (no copies).
    pub fn encode_batch<'s>(entities: impl ExactSizeIterator<Item = &'s str>, buf: &mut Vec<u8>) {
        buf.clear();
        let mut e = Enc(buf);
        e.u8(T_BATCH);
        e.u32(entities.len());
        for s in entities {
            e.str(s);
        }
    }

    /// Decodes a frame payload.
    pub fn decode(data: &[u8]) -> Result<HostMsg, ProtocolError> {
        let mut d = Dec { data, pos: 0 };
        let msg = match d.u8()? {
            T_INIT => {
                let version = d.u32()? as u32;
                if version != PROTOCOL_VERSION {
                    return Err(ProtocolError(format!(
                        "the host speaks protocol version {version}, this worker {PROTOCOL_VERSION}"
                    )));
                }
                let plugin = d.str()?;
                let python_path = d.strs()?;
                let timeout_ms = d.u64()?;
                let n = d.u32()?;
                let mut params = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let k = d.str()?;
                    params.push((k, d.value()?));
                }
                HostMsg::Init {
                    version,
                    plugin,
                    python_path,
                    timeout_ms,
                    params,
                }
            }
            T_BATCH => HostMsg::Batch(d.strs()?),
            T_FINALIZE => HostMsg::Finalize,
            t => return Err(ProtocolError(format!("unknown host message {t}"))),
        };
        d.end()?;
        Ok(msg)
    }
}

impl WorkerMsg {
    /// Encodes the message as a frame payload into `buf` (cleared first).
    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.clear();
        let mut e = Enc(buf);
        match self {
            WorkerMsg::Ready => e.u8(T_READY),
            WorkerMsg::InitFailed(m) => {
                e.u8(T_INIT_FAILED);
                e.str(m);
            }
            WorkerMsg::Results(results) => {
                e.u8(T_RESULTS);
                e.u32(results.len());
                for r in results {
                    match r {
                        Ok(out) => {
                            e.u8(1);
                            e.u32(out.values.len());
                            for v in &out.values {
                                e.value(v);
                            }
                            e.strs(&out.logs);
                        }
                        Err(err) => {
                            e.u8(0);
                            e.str(&err.message);
                            e.strs(&err.logs);
                        }
                    }
                }
            }
            WorkerMsg::Finalized(r) => {
                e.u8(T_FINALIZED);
                match r {
                    Ok(logs) => {
                        e.u8(1);
                        e.strs(logs);
                    }
                    Err(m) => {
                        e.u8(0);
                        e.str(m);
                    }
                }
            }
        }
    }

    /// Decodes a frame payload.
    pub fn decode(data: &[u8]) -> Result<WorkerMsg, ProtocolError> {
        let mut d = Dec { data, pos: 0 };
        let msg = match d.u8()? {
            T_READY => WorkerMsg::Ready,
            T_INIT_FAILED => WorkerMsg::InitFailed(d.str()?),
            T_RESULTS => {
                let n = d.u32()?;
                let mut results = Vec::with_capacity(n.min(1 << 16));
                for _ in 0..n {
                    if d.u8()? == 1 {
                        let nv = d.u32()?;
                        let mut values = Vec::with_capacity(nv.min(1024));
                        for _ in 0..nv {
                            values.push(d.value()?);
                        }
                        let logs = d.strs()?;
                        results.push(Ok(Outcome { values, logs }));
                    } else {
                        let message = d.str()?;
                        let logs = d.strs()?;
                        results.push(Err(EntityError {
                            message,
                            logs,
                            instance_lost: false,
                        }));
                    }
                }
                WorkerMsg::Results(results)
            }
            T_FINALIZED => {
                if d.u8()? == 1 {
                    WorkerMsg::Finalized(Ok(d.strs()?))
                } else {
                    WorkerMsg::Finalized(Err(d.str()?))
                }
            }
            t => return Err(ProtocolError(format!("unknown worker message {t}"))),
        };
        d.end()?;
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn messages_survive_a_roundtrip() {
        roundtrip_host(HostMsg::Init {
            version: PROTOCOL_VERSION,
            plugin: "/p/x.py".into(),
            python_path: vec!["/venv".into()],
            timeout_ms: 1500,
            params: vec![
                ("k".into(), Value::Int(-3)),
                (
                    "l".into(),
                    Value::List(vec![Value::Float(0.5), Value::Null, Value::Bool(true)]),
                ),
                ("s".into(), Value::Str("é\t".into())),
            ],
        });
        roundtrip_host(HostMsg::Batch(vec!["a".into(), String::new(), "c".into()]));
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
            }),
        ]));
        roundtrip_worker(WorkerMsg::Finalized(Ok(vec!["done".into()])));
        roundtrip_worker(WorkerMsg::Finalized(Err("bad".into())));
    }

    #[test]
    fn batches_encode_from_borrowed_inputs() {
        let mut a = Vec::new();
        HostMsg::encode_batch(["x", "yz"].into_iter(), &mut a);
        let mut b = Vec::new();
        HostMsg::Batch(vec!["x".into(), "yz".into()]).encode(&mut b);
        assert_eq!(a, b);
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
            HostMsg::Init {
                version: 99,
                plugin: String::new(),
                python_path: vec![],
                timeout_ms: 0,
                params: vec![],
            }
            .encode(&mut b);
            b
        })
        .unwrap_err();
        assert!(e.0.contains("protocol version 99"), "{e}");
    }
}
