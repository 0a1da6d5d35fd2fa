//! The worker protocol: how the host and a worker process (Python or native) talk over the
//! worker's stdin and a private copy of its stdout.
//!
//! Every message is one *frame*: a little-endian `u32` payload length, then the
//! payload, whose first byte is the message tag. Entities travel in batches: one
//! [`HostMsg::Batch`] frame carries many entities and one [`WorkerMsg::Results`] frame
//! carries all their outcomes, so the cost of a pipe round trip is paid per batch.
//! The host may send several Batch frames before it reads their Results (a worker
//! answers each in turn); it keeps the unanswered ones within half the pipe's
//! capacity, so neither side can block the other.
//!
//! ```text
//! host                              worker (`polyplug __worker python|native`)
//! [Load{version, plugin, paths}     ->                 (optional: the host learns
//!                                   <- Loaded{what} | InitFailed  the plugin from
//!                                                                 its first worker)]
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
//! Values, strings and numbers are encoded with [`polyplug_core::codec`] (a one-byte
//! kind tag per value; strings and lists carry a varint length). This module does no
//! I/O beyond reading and writing frames on the streams it is given, and knows nothing
//! about the language the worker runs.

pub use crate::frame::{read_frame, write_frame};
use polyplug_core::codec::{CodecError, Decoder, Encoder as Enc};
use polyplug_core::{
    BatchResults, Entity, EntityError, HeldRecord, Outcome, RecordFormat, RecordRef, RecordSource,
    Value,
};

/// Version of this protocol; host and worker are the same binary, but a mismatch
/// (an old worker binary on the path) is refused clearly rather than misread.
pub const PROTOCOL_VERSION: u32 = 6;

const T_INIT: u8 = 1;
const T_BATCH: u8 = 2;
const T_FINALIZE: u8 = 3;
const T_RECORDS: u8 = 4;
const T_LOAD: u8 = 5;
const T_READY: u8 = 11;
const T_INIT_FAILED: u8 = 12;
const T_RESULTS: u8 = 13;
const T_FINALIZED: u8 = 14;
const T_LOADED: u8 = 15;

/// What a worker needs to start: the first message of the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Init {
    /// [`PROTOCOL_VERSION`] of the host.
    pub version: u32,
    /// The plugin file.
    pub plugin: String,
    /// Extra import paths (`--python-path`; Python workers only).
    pub python_path: Vec<String>,
    /// Per-entity time limit in milliseconds; 0 for none.
    pub timeout_ms: u64,
    /// The limit is the default one, not the user's `--timeout` (for messages).
    pub default_timeout: bool,
    /// The run's parameters.
    pub params: Vec<(String, Value)>,
    /// Records mode: where the records are (the worker reads them itself).
    pub records: Option<RecordSource>,
    /// Errors with their whole trace (`--only`).
    pub debug: bool,
    /// Each entity's output goes to its files in this folder (`--log-dir`).
    pub log_dir: Option<String>,
}

/// What a worker needs to load a plugin before the host knows its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// [`PROTOCOL_VERSION`] of the host.
    pub version: u32,
    /// The plugin file.
    pub plugin: String,
    /// Extra import paths (`--python-path`; Python workers only).
    pub python_path: Vec<String>,
    /// Errors with their whole trace.
    pub debug: bool,
}

/// A message from the host to a worker.
#[derive(Debug, Clone, PartialEq)]
pub enum HostMsg {
    /// Load the plugin and say what it is ([`WorkerMsg::Loaded`]); an `Init` for the
    /// same plugin follows, which then only runs `initialize`.
    Load(Load),
    /// Load the plugin (unless a `Load` did) and run its `initialize`.
    Init(Init),
    /// Compute these entities, in order.
    Batch(Vec<Unit>),
    /// Compute these records, in order: each record's name and where it is.
    Records(Vec<(Unit, RecordRef)>),
    /// Run `finalize` and exit.
    Finalize,
}

/// One entity of a batch, as the worker gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// What compute receives (a record's name in records mode).
    pub input: String,
    /// The entity's ID when it is not `input` (with `--idsproc`, or a repeated record
    /// name numbered `name#2`): its `--log-dir` files are named after it.
    pub id: Option<String>,
}

impl Unit {
    /// An entity whose ID is what compute receives.
    pub fn same(input: impl Into<String>) -> Unit {
        Unit {
            input: input.into(),
            id: None,
        }
    }

    /// The entity's ID.
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or(&self.input)
    }
}

/// A message from a worker to the host.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerMsg {
    /// The plugin is loaded and initialized.
    Ready,
    /// Loading or `initialize` failed.
    InitFailed(String),
    /// The plugin is loaded (not initialized): what the worker's loader says of it
    /// (its metadata, in a form that loader defines).
    Loaded(Value),
    /// The outcome of each entity of the oldest unanswered batch, in order.
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

impl From<CodecError> for ProtocolError {
    fn from(e: CodecError) -> ProtocolError {
        ProtocolError(e.0)
    }
}

impl HostMsg {
    /// Encodes the message as a frame payload into `buf` (cleared first).
    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.clear();
        let mut e = Enc(buf);
        match self {
            HostMsg::Load(load) => {
                e.u8(T_LOAD);
                e.0.extend_from_slice(&load.version.to_le_bytes());
                e.str(&load.plugin);
                e.strs(&load.python_path);
                e.u8(load.debug as u8);
            }
            HostMsg::Init(init) => {
                e.u8(T_INIT);
                // Fixed width, whatever the codec: any version of the worker reads it.
                e.0.extend_from_slice(&init.version.to_le_bytes());
                e.str(&init.plugin);
                e.strs(&init.python_path);
                e.u64(init.timeout_ms);
                e.u8(init.default_timeout as u8);
                e.length(init.params.len());
                for (k, v) in &init.params {
                    e.str(k);
                    e.value(v);
                }
                match &init.records {
                    None => e.u8(0),
                    Some(r) => {
                        e.u8(r.format.code());
                        e.length(r.files.len());
                        for f in &r.files {
                            e.str(&f.to_string_lossy());
                        }
                        match &r.id_column {
                            None => e.u8(0),
                            Some(c) => {
                                e.u8(1);
                                e.str(c);
                            }
                        }
                    }
                }
                e.u8(u8::from(init.debug));
                match &init.log_dir {
                    None => e.u8(0),
                    Some(d) => {
                        e.u8(1);
                        e.str(d);
                    }
                }
            }
            HostMsg::Batch(entities) => {
                e.u8(T_BATCH);
                e.length(entities.len());
                for u in entities {
                    encode_unit(&mut e, &u.input, u.id.as_deref());
                }
            }
            HostMsg::Records(records) => {
                e.u8(T_RECORDS);
                e.length(records.len());
                for (u, r) in records {
                    encode_unit(&mut e, &u.input, u.id.as_deref());
                    encode_record(&mut e, r);
                }
            }
            HostMsg::Finalize => e.u8(T_FINALIZE),
        }
    }

    /// Encodes a batch of records-mode entities (each with its record) straight from
    /// the entities: their names (and IDs) and where their records are.
    pub fn encode_record_batch(entities: &[Entity], buf: &mut Vec<u8>) {
        buf.clear();
        let mut e = Enc(buf);
        e.u8(T_RECORDS);
        e.length(entities.len());
        for x in entities {
            encode_entity(&mut e, x);
            match x.record() {
                Some(r) => encode_record(&mut e, r),
                // Not a record: an empty held one (a host never mixes them).
                None => encode_record(&mut e, &RecordRef::Held(HeldRecord::default())),
            }
        }
    }

    /// Encodes a batch straight from the entities (no copies).
    pub fn encode_batch(entities: &[Entity], buf: &mut Vec<u8>) {
        buf.clear();
        let mut e = Enc(buf);
        e.u8(T_BATCH);
        e.length(entities.len());
        for x in entities {
            encode_entity(&mut e, x);
        }
    }

    /// Decodes a frame payload.
    pub fn decode(data: &[u8]) -> Result<HostMsg, ProtocolError> {
        let mut d = Decoder::new(data);
        let msg = match d.u8()? {
            T_LOAD => {
                let version = check_version(&mut d)?;
                HostMsg::Load(Load {
                    version,
                    plugin: d.str()?,
                    python_path: d.strs()?,
                    debug: d.u8()? != 0,
                })
            }
            T_INIT => {
                let version = check_version(&mut d)?;
                let plugin = d.str()?;
                let python_path = d.strs()?;
                let timeout_ms = d.u64()?;
                let default_timeout = d.u8()? != 0;
                let n = d.length()?;
                let mut params = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let k = d.str()?;
                    params.push((k, d.value()?));
                }
                let records = match d.u8()? {
                    0 => None,
                    code => {
                        let format = RecordFormat::from_code(code).ok_or_else(|| {
                            ProtocolError(format!("unknown record format {code}"))
                        })?;
                        let files = d.strs()?.into_iter().map(Into::into).collect();
                        let id_column = match d.u8()? {
                            0 => None,
                            _ => Some(d.str()?),
                        };
                        Some(RecordSource {
                            format,
                            files,
                            id_column,
                        })
                    }
                };
                let debug = d.u8()? != 0;
                let log_dir = match d.u8()? {
                    0 => None,
                    _ => Some(d.str()?),
                };
                HostMsg::Init(Init {
                    version,
                    plugin,
                    python_path,
                    timeout_ms,
                    default_timeout,
                    params,
                    records,
                    debug,
                    log_dir,
                })
            }
            T_BATCH => {
                let n = d.length()?;
                let mut entities = Vec::with_capacity(n.min(1 << 16));
                for _ in 0..n {
                    entities.push(decode_unit(&mut d)?);
                }
                HostMsg::Batch(entities)
            }
            T_RECORDS => {
                let n = d.length()?;
                let mut records = Vec::with_capacity(n.min(1 << 16));
                for _ in 0..n {
                    let unit = decode_unit(&mut d)?;
                    records.push((unit, decode_record(&mut d)?));
                }
                HostMsg::Records(records)
            }
            T_FINALIZE => HostMsg::Finalize,
            t => return Err(ProtocolError(format!("unknown host message {t}"))),
        };
        d.end()?;
        Ok(msg)
    }
}

impl HostMsg {
    /// The number of entities of a Batch (or Records) frame, if it is one.
    pub fn batch_len(data: &[u8]) -> Option<usize> {
        let mut d = Decoder::new(data);
        matches!(d.u8().ok()?, T_BATCH | T_RECORDS)
            .then(|| d.length().ok())
            .flatten()
    }

    /// Calls `each` with each record of a Records frame: its name and ID (borrowed
    /// from the frame; the ID is the name unless they differ) and where it is.
    /// `Ok(false)` when the frame is not a Records frame.
    pub fn each_batch_record<'a>(
        data: &'a [u8],
        mut each: impl FnMut(&'a str, &'a str, &RecordRef),
    ) -> Result<bool, ProtocolError> {
        let mut d = Decoder::new(data);
        if d.u8()? != T_RECORDS {
            return Ok(false);
        }
        for _ in 0..d.length()? {
            let (name, id) = unit_ref(&mut d, None)?;
            let record = decode_record(&mut d)?;
            each(name, id, &record);
        }
        d.end()?;
        Ok(true)
    }

    /// Calls `each` with the entities of a Batch frame and their IDs (the entity
    /// unless they differ), borrowed from the frame (no copies): the worker's fast
    /// path. `Ok(false)` when the frame is not a Batch (decode it with
    /// [`HostMsg::decode`] then).
    pub fn each_batch_entity<'a>(
        data: &'a [u8],
        mut each: impl FnMut(&'a str, &'a str),
    ) -> Result<bool, ProtocolError> {
        let mut d = Decoder::new(data);
        if d.u8()? != T_BATCH {
            return Ok(false);
        }
        // The whole frame checked at once (its lengths are ASCII bytes unless a string
        // is 128 bytes or longer): one pass over the batch instead of one per string.
        let text = std::str::from_utf8(data).ok();
        let mut rest = d.length()?;
        while rest > 0 {
            if let Some(text) = text {
                // The common case in one tight loop: a string shorter than 128 bytes
                // (a one-byte length), and the ID the same (an empty one). Any other
                // entity is read the general way, then this loop goes on.
                let mut pos = d.position();
                while rest > 0 {
                    let Some(&len) = data.get(pos) else { break };
                    let start = pos + 1;
                    let end = start + usize::from(len);
                    if len >= 0x80 || data.get(end) != Some(&0) {
                        break;
                    }
                    let Some(input) = text.get(start..end) else {
                        break;
                    };
                    each(input, input);
                    pos = end + 1;
                    rest -= 1;
                }
                d.skip_to(pos);
                if rest == 0 {
                    break;
                }
            }
            let (input, id) = unit_ref(&mut d, text)?;
            each(input, id);
            rest -= 1;
        }
        d.end()?;
        Ok(true)
    }
}

/// The fixed-width protocol version at the start of Load and Init, checked.
fn check_version(d: &mut Decoder<'_>) -> Result<u32, ProtocolError> {
    let v = d.take(4)?;
    let version = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
    if version != PROTOCOL_VERSION {
        return Err(ProtocolError(format!(
            "the host speaks protocol version {version}, this worker {PROTOCOL_VERSION}"
        )));
    }
    Ok(version)
}

/// An entity of a batch: what compute receives, then its ID, empty when it is the
/// same (nearly always: one byte).
fn encode_unit(e: &mut Enc<'_>, input: &str, id: Option<&str>) {
    e.str(input);
    e.str(id.filter(|id| *id != input).unwrap_or(""));
}

fn encode_entity(e: &mut Enc<'_>, x: &Entity) {
    match x.other_input() {
        Some(input) => encode_unit(e, input, Some(&x.id)),
        // The ID is what compute receives: no comparison of the two needed.
        None => {
            e.str(&x.id);
            e.u8(0);
        }
    }
}

/// An entity of a batch and its ID, borrowed from the frame (`text`: the frame, when
/// it is UTF-8 as a whole; see [`Decoder::str_in`]).
fn unit_ref<'a>(
    d: &mut Decoder<'a>,
    text: Option<&'a str>,
) -> Result<(&'a str, &'a str), ProtocolError> {
    let input = d.str_in(text)?;
    let id = d.str_in(text)?;
    Ok((input, if id.is_empty() { input } else { id }))
}

fn decode_unit(d: &mut Decoder<'_>) -> Result<Unit, ProtocolError> {
    let (input, id) = unit_ref(d, None)?;
    Ok(Unit {
        input: input.to_string(),
        id: (id != input).then(|| id.to_string()),
    })
}

/// A record's place: tag 0, then file, offset and length; or tag 1, a held record's
/// bytes and its fields (name, value) pairs.
fn encode_record(e: &mut Enc<'_>, r: &RecordRef) {
    match r {
        RecordRef::InFile { file, offset, len } => {
            e.u8(0);
            e.var(u64::from(*file));
            e.var(*offset);
            e.var(*len);
        }
        RecordRef::Held(h) => {
            e.u8(1);
            e.length(h.bytes.len());
            e.0.extend_from_slice(&h.bytes);
            e.length(h.fields.len());
            for (k, v) in &h.fields {
                e.str(k);
                e.str(v);
            }
        }
    }
}

fn decode_record(d: &mut Decoder<'_>) -> Result<RecordRef, ProtocolError> {
    Ok(match d.u8()? {
        0 => RecordRef::InFile {
            file: u32::try_from(d.var()?)
                .map_err(|_| ProtocolError("a record's file number is out of range".into()))?,
            offset: d.var()?,
            len: d.var()?,
        },
        1 => {
            let n = d.length()?;
            let bytes = d.take(n)?.to_vec();
            let n = d.length()?;
            let mut fields = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                let k = d.str()?;
                fields.push((k, d.str()?));
            }
            RecordRef::Held(HeldRecord { bytes, fields })
        }
        t => return Err(ProtocolError(format!("unknown record tag {t}"))),
    })
}

/// Writes a Results frame one outcome at a time, as they are computed (the worker
/// need not hold the batch's outcomes).
pub struct ResultsWriter<'a>(Enc<'a>);

impl<'a> ResultsWriter<'a> {
    /// Starts the Results of a batch of `n` entities in `buf` (cleared first).
    pub fn start(buf: &'a mut Vec<u8>, n: usize) -> ResultsWriter<'a> {
        buf.clear();
        let mut e = Enc(buf);
        e.u8(T_RESULTS);
        e.length(n);
        ResultsWriter(e)
    }

    /// The outcome of the next entity.
    pub fn push(&mut self, r: &Result<Outcome, EntityError>) {
        match r {
            Ok(out) => self.push_ok(out),
            Err(err) => self.push_err(err),
        }
    }

    /// The values and logs of the next entity.
    pub fn push_ok(&mut self, out: &Outcome) {
        let e = &mut self.0;
        e.u8(1);
        e.length(out.values.len());
        for v in &out.values {
            e.value(v);
        }
        e.strs(&out.logs);
    }

    /// The failure of the next entity.
    pub fn push_err(&mut self, err: &EntityError) {
        let e = &mut self.0;
        // 0: a failure; 2: out of memory.
        e.u8(if err.out_of_memory { 2 } else { 0 });
        e.str(&err.message);
        e.strs(&err.logs);
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
            WorkerMsg::Loaded(what) => {
                e.u8(T_LOADED);
                e.value(what);
            }
            WorkerMsg::Results(results) => {
                let mut w = ResultsWriter::start(buf, results.len());
                for r in results {
                    w.push(r);
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

    /// Decodes a Results frame straight into `results` (appended): the host's fast
    /// path. `Ok(None)` when the frame holds another message (decode it with
    /// [`WorkerMsg::decode`] then); else the number of outcomes appended.
    ///
    /// Each outcome is decoded into one of `results`' spare outcomes when it has
    /// one, so a run's steady state allocates nothing per entity here.
    pub fn results_into(
        data: &[u8],
        results: &mut BatchResults,
    ) -> Result<Option<usize>, ProtocolError> {
        let mut d = Decoder::new(data);
        if d.u8()? != T_RESULTS {
            return Ok(None);
        }
        let n = d.length()?;
        results.reserve(n.min(1 << 16));
        for _ in 0..n {
            let tag = d.u8()?;
            if tag == 1 {
                let nv = d.length()?;
                let mut out = results.outcome();
                d.values_into(nv, &mut out.values)?;
                // Nearly always no logs: one byte, 0.
                if data.get(d.position()) == Some(&0) {
                    d.skip_to(d.position() + 1);
                } else {
                    d.strs_into(&mut out.logs)?;
                }
                results.push(Ok(out));
            } else {
                let message = d.str()?;
                let logs = d.strs()?;
                results.push(Err(EntityError {
                    message,
                    logs,
                    instance_lost: false,
                    out_of_memory: tag == 2,
                }));
            }
        }
        d.end()?;
        Ok(Some(n))
    }

    /// Decodes a frame payload.
    pub fn decode(data: &[u8]) -> Result<WorkerMsg, ProtocolError> {
        let mut d = Decoder::new(data);
        let msg = match d.u8()? {
            T_READY => WorkerMsg::Ready,
            T_INIT_FAILED => WorkerMsg::InitFailed(d.str()?),
            T_LOADED => WorkerMsg::Loaded(d.value()?),
            T_RESULTS => {
                let mut results = BatchResults::new();
                WorkerMsg::results_into(data, &mut results)?;
                return Ok(WorkerMsg::Results(results.take()));
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
#[path = "protocol_tests.rs"]
mod tests;
