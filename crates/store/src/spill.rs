//! Sorting the units a query found by entity in bounded memory.
//!
//! A query's answer can be larger than memory: 10,000,000 stored values decoded and
//! sorted at once took 1.8 GB. [`Sorter`] keeps at most `budget` bytes of units; when
//! it holds more, it sorts them and writes them to an anonymous temporary file (a
//! *run*, in `TMPDIR`), and at the end merges the sorted runs. So a query holds about
//! `budget` bytes plus one unit per run, whatever the size of its answer, and when the
//! answer fits the budget nothing is written at all.
//!
//! Runs are encoded with the store's own codec (see `polyplug_core::codec`), each unit
//! as a 4-byte length and its frame, and read back with the same checks as blocks.

use polyplug_core::codec::{CodecError, Decoder, Encoder};
use polyplug_core::Value;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

/// How many bytes of units a query keeps in memory before it writes a sorted run.
pub(crate) const DEFAULT_BUDGET: usize = 64 << 20;

/// At most this many runs are kept open: when there are more, they are merged into
/// one (so a huge answer needs few file descriptors, and reads each unit about
/// log₁₂₈ of the number of runs times).
const MAX_RUNS: usize = 128;

/// The matching values of one stored unit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Unit {
    /// The first 8 bytes of `entity`, big-endian, zero-padded: most comparisons end
    /// here without following the pointer.
    prefix: u64,
    pub entity: String,
    /// Computation id.
    pub cid: i64,
    /// Unit number in its computation.
    pub n: i64,
    /// (attribute rank, column, value).
    pub values: Vec<(u32, u32, Value)>,
}

impl Unit {
    pub fn new(entity: String, cid: i64, n: i64, values: Vec<(u32, u32, Value)>) -> Unit {
        let mut p = [0u8; 8];
        let head = &entity.as_bytes()[..entity.len().min(8)];
        p[..head.len()].copy_from_slice(head);
        Unit {
            prefix: u64::from_be_bytes(p),
            entity,
            cid,
            n,
            values,
        }
    }

    /// Sort order: entity (bytes), computation, unit number; unique per unit.
    fn order(&self, other: &Unit) -> Ordering {
        self.prefix
            .cmp(&other.prefix)
            .then_with(|| self.entity.as_bytes().cmp(other.entity.as_bytes()))
            .then(self.cid.cmp(&other.cid))
            .then(self.n.cmp(&other.n))
    }

    /// About how much memory the unit holds.
    fn size(&self) -> usize {
        std::mem::size_of::<Unit>()
            + self.entity.len()
            + self
                .values
                .iter()
                .map(|(_, _, v)| std::mem::size_of::<(u32, u32, Value)>() + heap(v))
                .sum::<usize>()
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        buf.clear();
        buf.extend_from_slice(&[0; 4]);
        let mut e = Encoder(buf);
        e.str(&self.entity);
        e.u64(self.cid as u64);
        e.u64(self.n as u64);
        e.length(self.values.len());
        for (attr, col, v) in &self.values {
            e.var(u64::from(*attr));
            e.var(u64::from(*col));
            e.value(v);
        }
        let len = (buf.len() - 4) as u32;
        buf[..4].copy_from_slice(&len.to_le_bytes());
    }

    fn decode(frame: &[u8]) -> Result<Unit, CodecError> {
        let mut d = Decoder::new(frame);
        let entity = d.str()?;
        let cid = d.u64()? as i64;
        let n = d.u64()? as i64;
        let count = d.length()?;
        let mut values = Vec::with_capacity(count.min(1 << 12));
        for _ in 0..count {
            let attr = small(d.var()?)?;
            let col = small(d.var()?)?;
            values.push((attr, col, d.value()?));
        }
        d.end()?;
        Ok(Unit::new(entity, cid, n, values))
    }
}

/// A run's frame decoded, for the fuzz targets.
pub(crate) fn fuzz_decode(frame: &[u8]) -> Result<(), CodecError> {
    let (mut once, mut twice) = (Vec::new(), Vec::new());
    Unit::decode(frame)?.encode(&mut once);
    Unit::decode(&once[4..])?.encode(&mut twice);
    assert_eq!(once, twice, "a frame must read back as it was written");
    Ok(())
}

fn small(v: u64) -> Result<u32, CodecError> {
    u32::try_from(v).map_err(|_| CodecError(format!("number {v} out of range")))
}

/// The heap memory of a value.
fn heap(v: &Value) -> usize {
    match v {
        Value::Str(s) => s.len(),
        Value::List(items) => items
            .iter()
            .map(|i| std::mem::size_of::<Value>() + heap(i))
            .sum(),
        _ => 0,
    }
}

/// What can go wrong with the sort's temporary files.
#[derive(Debug)]
pub(crate) enum SpillError {
    /// Writing or reading a run failed.
    Io(std::io::Error),
    /// A run read back is not what was written.
    Codec(CodecError),
}

impl From<std::io::Error> for SpillError {
    fn from(e: std::io::Error) -> SpillError {
        SpillError::Io(e)
    }
}

/// Collects units and gives them back sorted (see the module's documentation).
pub(crate) struct Sorter {
    units: Vec<Unit>,
    bytes: usize,
    budget: usize,
    runs: Vec<File>,
    buf: Vec<u8>,
}

impl Sorter {
    pub fn new(budget: usize) -> Sorter {
        Sorter {
            units: Vec::new(),
            bytes: 0,
            budget: budget.max(1),
            runs: Vec::new(),
            buf: Vec::new(),
        }
    }

    pub fn push(&mut self, unit: Unit) -> Result<(), SpillError> {
        self.bytes += unit.size();
        self.units.push(unit);
        if self.bytes >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// How many runs were written so far.
    #[cfg(test)]
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    fn spill(&mut self) -> Result<(), SpillError> {
        self.units.sort_unstable_by(Unit::order);
        let units = std::mem::take(&mut self.units);
        let run = write_run(units.into_iter().map(Ok), &mut self.buf)?;
        self.runs.push(run);
        self.bytes = 0;
        if self.runs.len() >= MAX_RUNS {
            let merged = merge(std::mem::take(&mut self.runs))?;
            let run = write_run(merged, &mut self.buf)?;
            self.runs.push(run);
        }
        Ok(())
    }

    /// Every unit pushed, sorted by entity, computation and unit number.
    pub fn sorted(mut self) -> Result<Sorted, SpillError> {
        if self.runs.is_empty() {
            self.units.sort_unstable_by(Unit::order);
            return Ok(Sorted::Memory(self.units.into_iter()));
        }
        if !self.units.is_empty() {
            self.spill()?;
        }
        merge(self.runs)
    }
}

/// Writes sorted units to a new run, ready to be read from its start.
fn write_run(
    units: impl Iterator<Item = Result<Unit, SpillError>>,
    buf: &mut Vec<u8>,
) -> Result<File, SpillError> {
    let mut w = BufWriter::with_capacity(1 << 16, tempfile::tempfile()?);
    for u in units {
        u?.encode(buf);
        w.write_all(buf)?;
    }
    let mut f = w.into_inner().map_err(|e| e.into_error())?;
    f.seek(SeekFrom::Start(0))?;
    Ok(f)
}

/// The units of sorted runs, merged in order.
fn merge(files: Vec<File>) -> Result<Sorted, SpillError> {
    let mut runs: Vec<Run> = files
        .into_iter()
        .map(|f| Run {
            r: BufReader::with_capacity(1 << 16, f),
            frame: Vec::new(),
        })
        .collect();
    let mut heap = BinaryHeap::with_capacity(runs.len());
    for (i, run) in runs.iter_mut().enumerate() {
        if let Some(unit) = run.next()? {
            heap.push(Head { unit, run: i });
        }
    }
    Ok(Sorted::Merge { runs, heap })
}

/// A sorted run being read back.
pub(crate) struct Run {
    r: BufReader<File>,
    frame: Vec<u8>,
}

impl Run {
    fn next(&mut self) -> Result<Option<Unit>, SpillError> {
        let mut len = [0u8; 4];
        match self.r.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        self.frame.resize(u32::from_le_bytes(len) as usize, 0);
        self.r.read_exact(&mut self.frame)?;
        Unit::decode(&self.frame)
            .map(Some)
            .map_err(SpillError::Codec)
    }
}

/// The smallest unit of one run; the heap's top is the smallest of all.
pub(crate) struct Head {
    unit: Unit,
    run: usize,
}

impl PartialEq for Head {
    fn eq(&self, other: &Head) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Head) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    fn cmp(&self, other: &Head) -> Ordering {
        // BinaryHeap is a max-heap: reversed, so that the smallest unit is on top.
        other.unit.order(&self.unit)
    }
}

/// The units in order: from memory, or merged from the runs.
pub(crate) enum Sorted {
    Memory(std::vec::IntoIter<Unit>),
    Merge {
        runs: Vec<Run>,
        heap: BinaryHeap<Head>,
    },
}

impl Iterator for Sorted {
    type Item = Result<Unit, SpillError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Sorted::Memory(units) => units.next().map(Ok),
            Sorted::Merge { runs, heap } => {
                let Head { unit, run } = heap.pop()?;
                match runs[run].next() {
                    Ok(Some(next)) => heap.push(Head { unit: next, run }),
                    Ok(None) => {}
                    Err(e) => return Some(Err(e)),
                }
                Some(Ok(unit))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(entity: &str, cid: i64, n: i64) -> Unit {
        Unit::new(
            entity.to_string(),
            cid,
            n,
            vec![
                (1, 0, Value::Str(format!("{entity}-{n}"))),
                (0, 0, Value::Int(n)),
                (2, 1, Value::List(vec![Value::Float(0.5), Value::Null])),
            ],
        )
    }

    fn sorted(units: &[Unit], budget: usize) -> (Vec<Unit>, usize) {
        let mut s = Sorter::new(budget);
        for u in units {
            s.push(u.clone()).unwrap();
        }
        let runs = s.runs();
        let out: Result<Vec<Unit>, SpillError> = s.sorted().unwrap().collect();
        (out.unwrap(), runs)
    }

    #[test]
    fn merged_runs_give_the_same_order_as_memory() {
        // Entities that share 8-byte prefixes, differ only after them, are prefixes of
        // each other, and are not ASCII; several units per entity and computation.
        let names = [
            "abcdefgh2",
            "abcdefgh",
            "abcdefgh1",
            "b",
            "",
            "ab",
            "é",
            "abcdefgh\0",
        ];
        let mut units = Vec::new();
        for i in 0..3000i64 {
            let name = format!("{}{}", names[(i * 7 % 8) as usize], i % 13);
            units.push(unit(&name, i % 3, i));
        }
        let (memory, none) = sorted(&units, usize::MAX);
        assert_eq!(none, 0);
        let (merged, runs) = sorted(&units, 10_000);
        assert!(runs > 10, "the budget must force runs: {runs}");
        assert_eq!(merged.len(), units.len());
        assert_eq!(merged, memory);
        let mut expect = units.clone();
        expect.sort_by(|a, b| {
            (a.entity.as_bytes(), a.cid, a.n).cmp(&(b.entity.as_bytes(), b.cid, b.n))
        });
        assert_eq!(merged, expect);
    }

    #[test]
    fn more_runs_than_may_stay_open_are_merged_on_the_way() {
        let units: Vec<Unit> = (0..4000i64)
            .map(|i| unit(&format!("e{}", (i * 7919) % 4000), 1, i))
            .collect();
        let mut s = Sorter::new(1);
        for u in &units {
            s.push(u.clone()).unwrap();
            assert!(s.runs() < MAX_RUNS, "{} runs open", s.runs());
        }
        let merged: Vec<Unit> = s.sorted().unwrap().map(Result::unwrap).collect();
        let (memory, _) = sorted(&units, usize::MAX);
        assert_eq!(merged, memory);
    }

    #[test]
    fn a_damaged_run_is_an_error() {
        assert!(Unit::decode(&[5, b'a']).is_err());
        let mut buf = Vec::new();
        unit("x", 1, 2).encode(&mut buf);
        assert_eq!(Unit::decode(&buf[4..]).unwrap(), unit("x", 1, 2));
        assert!(Unit::decode(&buf[4..buf.len() - 1]).is_err());
    }
}
