//! A shard's results file read forward as the merge needs its rows (see the
//! [parent module](super)).

use crate::EngineError;
use polyplug_core::Shard;
use polyplug_runner::input::Prehashed;
use polyplug_runner::output::unescape_id;
use std::collections::HashMap;
use std::fs::File;
use std::hash::BuildHasherDefault;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// One shard's results file, read forward as the merge needs its rows.
///
/// A shard's rows are in the order of its entities in the input, but for the rows
/// of a rerun (retried failures, appended at the end) and the entities that have no
/// row (failed, or repeats of an ID already given its row). So the next row is
/// tried first; only when it is another entity's does the merge look further: the
/// rows not taken yet are then counted by the [`Shard::hash`] of their ID (once per
/// shard, from where the reading is), and an entity none of them has costs no
/// search. Rows read past wait in memory until their entity comes.
pub(super) struct ShardRows {
    lines: Option<RowReader>,
    path: PathBuf,
    /// Where in the file the row in `buf` starts (when `peeked`), else where the
    /// next row starts.
    at: u64,
    /// Where the row after `buf` starts.
    next_at: u64,
    /// The rows not taken yet, counted by the hash of their ID; made at the first
    /// entity whose row is not the next one. Two IDs that share a hash cost a search
    /// of the file, never a wrong row: rows are matched by ID.
    left: Option<HashMap<u64, u32, BuildHasherDefault<Prehashed>>>,
    /// The row being read: where it is in `lines`' buffer.
    row: std::ops::Range<usize>,
    /// `row` is the next row, not yet taken.
    peeked: bool,
    /// Rows read past, waiting for their entity: by ID.
    ahead: HashMap<String, String>,
}

/// How much of a shard's results is read at once.
pub(super) const READ: usize = 256 << 10;

impl ShardRows {
    pub(super) fn open(path: &Path) -> Result<ShardRows, EngineError> {
        let lines = match File::open(path) {
            Ok(f) => Some(RowReader::new(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(read_error(path, e)),
        };
        Ok(ShardRows {
            lines,
            path: path.to_path_buf(),
            at: 0,
            next_at: 0,
            left: None,
            row: 0..0,
            peeked: false,
            ahead: HashMap::new(),
        })
    }

    /// Writes the row of entity `id` (whose [`Shard::hash`] is `hash`) to `out`, if the
    /// file has one not taken yet; says whether.
    pub(super) fn take_into(
        &mut self,
        id: &str,
        hash: u64,
        out: &mut impl Write,
    ) -> Result<bool, EngineError> {
        // The next row first: a shard's rows are mostly in input order.
        if self.peek()? && row_is(self.buf(), id) {
            self.peeked = false;
            self.taken(hash);
            write_row(out, self.buf())?;
            return Ok(true);
        }
        if self.left.is_none() {
            self.count_left()?;
        }
        if !self
            .left
            .as_ref()
            .is_some_and(|left| left.contains_key(&hash))
        {
            return Ok(false);
        }
        if let Some(row) = self.ahead.remove(id) {
            self.taken(hash);
            write_row(out, row.as_bytes())?;
            return Ok(true);
        }
        while self.peek()? {
            self.peeked = false;
            if row_is(self.buf(), id) {
                self.taken(hash);
                write_row(out, self.buf())?;
                return Ok(true);
            }
            // A later entity's row (or a second row of an earlier one: the first won).
            let line = text(self.buf()).into_owned();
            let row = row_id(&line).into_owned();
            self.ahead.entry(row).or_insert(line);
        }
        Ok(false)
    }

    /// One row of the IDs with this hash is taken.
    fn taken(&mut self, hash: u64) {
        if let Some(left) = &mut self.left {
            if let std::collections::hash_map::Entry::Occupied(mut n) = left.entry(hash) {
                *n.get_mut() -= 1;
                if *n.get() == 0 {
                    n.remove();
                }
            }
        }
    }

    /// Counts the rows from the one in `buf` (or the next) to the end of the file,
    /// by the hash of their ID: nothing was read past them yet.
    fn count_left(&mut self) -> Result<(), EngineError> {
        let mut left: HashMap<u64, u32, BuildHasherDefault<Prehashed>> = HashMap::default();
        if self.lines.is_some() {
            let mut f = File::open(&self.path).map_err(|e| read_error(&self.path, e))?;
            f.seek(SeekFrom::Start(self.at))
                .map_err(|e| read_error(&self.path, e))?;
            let mut r = RowReader::new(f);
            while let Some((row, _)) = r.next_row().map_err(|e| read_error(&self.path, e))? {
                *left.entry(row_hash(&r.buf[row])).or_default() += 1;
            }
        }
        self.left = Some(left);
        Ok(())
    }

    /// Whether there is a next row, read into `row` (and kept there until taken).
    fn peek(&mut self) -> Result<bool, EngineError> {
        if self.peeked {
            return Ok(true);
        }
        let Some(r) = &mut self.lines else {
            return Ok(false);
        };
        self.at = self.next_at;
        match r.next_row().map_err(|e| read_error(&self.path, e))? {
            Some((row, len)) => {
                self.row = row;
                self.next_at += len as u64;
                self.peeked = true;
            }
            None => self.peeked = false,
        }
        Ok(self.peeked)
    }

    /// The row in `row`.
    fn buf(&self) -> &[u8] {
        match &self.lines {
            Some(r) => &r.buf[self.row.clone()],
            None => &[],
        }
    }

    /// Rows never taken: of entities the input does not have.
    pub(super) fn strays(&mut self) -> u64 {
        let mut rest = u64::from(std::mem::take(&mut self.peeked));
        if let Some(mut r) = self.lines.take() {
            while r.next_row().ok().flatten().is_some() {
                rest += 1;
            }
        }
        rest + self.ahead.len() as u64
    }
}

/// The rows of a results file, read in large blocks and given as ranges of the
/// block (the memchr crate finds their ends, with vector instructions).
struct RowReader {
    file: File,
    buf: Vec<u8>,
    /// The next row starts at `pos`; the block read holds `buf[..end]`.
    pos: usize,
    end: usize,
    eof: bool,
}

impl RowReader {
    fn new(file: File) -> RowReader {
        RowReader {
            file,
            buf: vec![0; READ],
            pos: 0,
            end: 0,
            eof: false,
        }
    }

    /// The next row (without its line break) and its length in the file (with it);
    /// `None` at the end. The range stays valid until the next call.
    fn next_row(&mut self) -> std::io::Result<Option<(std::ops::Range<usize>, usize)>> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.pos..self.end]) {
                let start = self.pos;
                self.pos += i + 1;
                return Ok(Some((start..start + i, i + 1)));
            }
            if self.eof {
                if self.pos == self.end {
                    return Ok(None);
                }
                // A last row without its line break.
                let start = self.pos;
                self.pos = self.end;
                return Ok(Some((start..self.end, self.end - start)));
            }
            // The rest of the block to the front, and more after it.
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
            if self.end == self.buf.len() {
                // A row longer than the block.
                self.buf.resize(self.buf.len() * 2, 0);
            }
            let n = loop {
                match self.file.read(&mut self.buf[self.end..]) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    r => break r?,
                }
            };
            self.end += n;
            self.eof = n == 0;
        }
    }
}

fn read_error(path: &Path, e: std::io::Error) -> EngineError {
    EngineError::Read {
        path: path.to_path_buf(),
        what: "shard's results",
        why: e.to_string(),
    }
}

/// A line as text (results files are UTF-8; anything else is shown, not lost).
fn text(line: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(line) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) => String::from_utf8_lossy(line),
    }
}

/// Writes one row and its newline.
fn write_row(out: &mut impl Write, row: &[u8]) -> Result<(), EngineError> {
    out.write_all(row)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(|e| EngineError::WriteResults(e.to_string()))
}

/// The first field of a row, as written (escaped).
fn first_field(line: &[u8]) -> &[u8] {
    memchr::memchr(b'\t', line).map_or(line, |i| &line[..i])
}

/// Whether `line` is the row of entity `id`. Most IDs are written as they are, and
/// are compared as bytes.
fn row_is(line: &[u8], id: &str) -> bool {
    let field = first_field(line);
    if memchr::memchr(b'\\', field).is_none() {
        return field == id.as_bytes();
    }
    row_id(&text(line)) == id
}

/// The [`Shard::hash`] of a row's entity ID.
fn row_hash(line: &[u8]) -> u64 {
    let field = first_field(line);
    if memchr::memchr(b'\\', field).is_none() {
        return Shard::hash(field);
    }
    Shard::hash(row_id(&text(line)).as_bytes())
}

/// The entity ID of a results row.
fn row_id(line: &str) -> std::borrow::Cow<'_, str> {
    unescape_id(line.split('\t').next().unwrap_or(""))
}

/// IDs read (and hashed) by a helper thread, handed over a batch at a time.
struct IdBatch {
    text: String,
    /// Where each ID ends in `text`, with its [`Shard::hash`].
    ends: Vec<(usize, u64)>,
}

/// IDs in a batch: enough that handing one over costs nothing per ID.
const IDS_PER_BATCH: usize = 8192;

impl IdBatch {
    /// A batch with room for [`IDS_PER_BATCH`] IDs of 32 bytes: room taken once,
    /// not grown (fresh memory is zeroed by the kernel, a page at a time).
    fn new() -> IdBatch {
        IdBatch {
            text: String::with_capacity(IDS_PER_BATCH * 32),
            ends: Vec::with_capacity(IDS_PER_BATCH),
        }
    }
}

/// Calls `f` with each ID of the IDs file (as [`polyplug_runner::ids::each_id`]
/// gives them) and its [`Shard::hash`], in order. The file is read and the IDs
/// hashed on a second thread while `f` runs on this one: a merge's two halves,
/// reading the input and copying the shards' rows, take about as long each.
pub(super) fn each_hashed_id(
    path: &Path,
    column: usize,
    mut f: impl FnMut(&str, u64) -> Result<(), EngineError>,
) -> Result<(), EngineError> {
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<IdBatch>(4);
    let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<IdBatch>(8);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut batch = IdBatch::new();
            let read = polyplug_runner::ids::each_id(path, column, |id| {
                batch.text.push_str(id);
                batch
                    .ends
                    .push((batch.text.len(), Shard::hash(id.as_bytes())));
                if batch.ends.len() == IDS_PER_BATCH {
                    let next = empty_rx.try_recv().unwrap_or_else(|_| IdBatch::new());
                    full_tx
                        .send(std::mem::replace(&mut batch, next))
                        .map_err(|_| Stopped::Dropped)?;
                }
                Ok(())
            });
            // The IDs before an input error are merged first, as they were read.
            if !batch.ends.is_empty() {
                let _ = full_tx.send(batch);
            }
            read
        });
        let mut given = Ok(());
        for mut batch in full_rx.iter() {
            let mut start = 0;
            for &(end, hash) in &batch.ends {
                given = f(&batch.text[start..end], hash);
                if given.is_err() {
                    break;
                }
                start = end;
            }
            if given.is_err() {
                break; // the reader stops at its next hand-over
            }
            batch.text.clear();
            batch.ends.clear();
            let _ = empty_tx.try_send(batch);
        }
        drop(full_rx);
        let read = reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        given?;
        match read {
            Ok(()) | Err(Stopped::Dropped) => Ok(()),
            Err(Stopped::Input(e)) => Err(e.into()),
        }
    })
}

/// Why the reading thread stopped before the end of the input.
enum Stopped {
    /// At a line the run refused (or a read error).
    Input(polyplug_runner::input::InputError),
    /// The other side stopped.
    Dropped,
}

impl From<polyplug_runner::input::InputError> for Stopped {
    fn from(e: polyplug_runner::input::InputError) -> Self {
        Stopped::Input(e)
    }
}
