//! Indexing a large plain FASTA file on several cores: the file is cut into parts,
//! scanned at once, and what they found is put together into exactly the `.fai` and
//! the `.ppi` that one pass over the whole file writes (the tests check, byte for
//! byte).
//!
//! The cuts are at headers, where a record's state starts afresh. Part `k` is given
//! the bytes from `k * part_size` on: it starts at the first header line at or after
//! its first byte (a `>` after a line feed), and ends before the first header line at
//! or after the next part's first byte (or at the data's end). Both ends are found by
//! each part on its own, the same way, so neighbouring parts agree without talking; a
//! part holding no header of its own (a record, or a header, longer than a part) is
//! empty, and the part before it reads on. Only the first part can find data before
//! any header, or only blank lines.
//!
//! What a part cannot know is fixed when the parts are put together, in order: the
//! span of its first record starts where the last record of the parts before it ended
//! (blank lines before a header belong to its record), and its line numbers (of the
//! records, and in the message of its first problem) follow the lines before it. The
//! first problem in file order is the file's.
//!
//! What it costs. The first part writes to the `.ppi` and `.fai` as it goes. The
//! others keep what they write: their `.ppi` entries in a compact form (varints and
//! the name, about 15 bytes a record) and their `.fai` lines as text (about 30 bytes
//! a record), each in a buffer written to a temporary file (next to the index,
//! unlinked at once) whenever it holds [`Split::spill_at`] bytes (1 MiB). Memory is
//! thus bounded whatever the file's size: per part the scanner's buffer (1 MiB) and
//! two spill buffers (1 MiB each, so at most 9 MiB for 3 parts after the first);
//! the temporary files take about 2% of the parts' bytes for 2 KB records (25 MB for
//! 1 GB), written once and read once. Putting the parts together is one pass over
//! those records on the calling thread after the scans (about 50 ns a record: the
//! `.ppi` entries encoded again, the `.fai` text copied), the only part of the build
//! that is not spread over the cores.
//!
//! Each part reads its bytes itself, by positional reads into its own buffer (no
//! reading thread: the copy out of the page cache is spread over the cores too). One
//! part (the sequential scan, with its reading thread, in `fasta.rs`) is used for
//! files under [`PARALLEL_FROM`], compressed files, and one-core machines. On a
//! 2 GB file of 2 KB records and two cores, the build takes 0.30 s where one pass
//! took 0.34 s to 0.45 s, `cat` 0.22 s to 0.27 s.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::build::BuildStop;
use crate::fasta::{built, push_fai_line, Direct, FastaBuilt, Out, Problem, Scan};
use crate::fileio::{get_varint, put_varint, read_full_at};
use crate::place::TempIndex;
use crate::ppi::PpiWriter;
use crate::scan::{LineScanner, SCAN_BUFFER};

/// Files smaller than this are indexed in one pass.
pub(crate) const PARALLEL_FROM: u64 = 64 << 20;
/// The most threads a build uses.
const MAX_THREADS: usize = 4;
/// The bytes of records a part keeps in memory before writing them to a file.
const SPILL_AT: usize = 1 << 20;

/// How a FASTA build is cut into parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split {
    /// Threads scanning parts at once (the calling thread included).
    pub threads: usize,
    /// The bytes given to each part (the last one: the rest).
    pub part_size: u64,
    /// The bytes of records a part keeps in memory before it writes them to a file.
    pub spill_at: usize,
}

impl Split {
    /// The split of a file of `len` bytes on this machine: a part per core (at most
    /// [`MAX_THREADS`]), or one part for a file under [`PARALLEL_FROM`].
    pub(crate) fn for_len(len: u64) -> Split {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_THREADS);
        let part_size = if len < PARALLEL_FROM || threads < 2 {
            u64::MAX
        } else {
            len.div_ceil(threads as u64)
        };
        Split {
            threads,
            part_size,
            spill_at: SPILL_AT,
        }
    }

    /// The number of parts of a file of `len` bytes (each starting at a byte of its
    /// own).
    pub(crate) fn parts(&self, len: u64) -> usize {
        let parts = len.div_ceil(self.part_size.max(1)).clamp(1, len.max(1));
        usize::try_from(parts).unwrap_or(usize::MAX)
    }

    /// The bytes a part reads at a time: [`SCAN_BUFFER`], less for small parts.
    fn buffer(&self) -> usize {
        usize::try_from(self.part_size).map_or(SCAN_BUFFER, |n| n.clamp(4096, SCAN_BUFFER))
    }
}

/// The error of a part stopped because another one failed.
#[derive(Debug)]
struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped: another part of the file failed")
    }
}

impl std::error::Error for Cancelled {}

fn cancelled() -> io::Error {
    io::Error::other(Cancelled)
}

fn is_cancelled(stop: &BuildStop) -> bool {
    matches!(stop, BuildStop::Io(e) if e.get_ref().is_some_and(|inner| inner.is::<Cancelled>()))
}

/// The bytes of a file from `pos` on, by positional reads, until another part fails.
struct PartReader<'a> {
    file: &'a File,
    pos: u64,
    cancel: &'a AtomicBool,
}

impl Read for PartReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(cancelled());
        }
        let n = self.file.read_at(out, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Where the first header line at or after `from` (> 0) starts: the first `>` after
/// a line feed; the data's end when there is none.
fn next_header(file: &File, from: u64, buffer: usize, cancel: &AtomicBool) -> io::Result<u64> {
    let finder = memchr::memmem::Finder::new(b"\n>");
    let mut buf = vec![0u8; buffer.clamp(2, 16 * 1024)];
    let mut at = from - 1;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(cancelled());
        }
        let n = read_full_at(file, &mut buf, at)?;
        if let Some(i) = finder.find(&buf[..n]) {
            return Ok(at + i as u64 + 1);
        }
        if n < buf.len() {
            return Ok(at + n as u64);
        }
        // The last byte again: it may be the line feed before a header.
        at += n as u64 - 1;
    }
}

/// What a part after the first writes, kept for when the parts are put together: its
/// `.ppi` entries (for each record its gap to the record before in the part, its
/// length, its line minus that record's, and its name: 0 for none, n + 1 and n
/// bytes), and its `.fai` lines as text. Each in memory up to `spill_at` bytes, then
/// written to a temporary file in frames (a kind byte, a u64 length, the bytes).
struct Spill<'p> {
    entries: Vec<u8>,
    fai: Vec<u8>,
    spill_at: usize,
    file: Option<File>,
    /// The bytes written to `file`.
    written: u64,
    /// Where to make the temporary file (next to this path).
    near: &'p Path,
    prev_end: u64,
    prev_line: u64,
}

/// The kinds of [`Spill`] frames.
const ENTRIES: u8 = 0;
const FAI: u8 = 1;

impl<'p> Spill<'p> {
    /// A spill for a part of `part_size` bytes.
    fn new(spill_at: usize, part_size: u64, near: &'p Path) -> Spill<'p> {
        // Their room at once (what a part of this size needs, up to `spill_at`): grown
        // by doubling, they were a tenth of the build (fresh memory is zeroed, and in
        // a virtual machine first given by the host).
        let room = usize::try_from(part_size / 16)
            .unwrap_or(usize::MAX)
            .min(spill_at)
            .saturating_add(4096);
        Spill {
            entries: Vec::with_capacity(room),
            fai: Vec::with_capacity(room),
            spill_at,
            file: None,
            written: 0,
            near,
            prev_end: 0,
            prev_line: 0,
        }
    }

    /// Writes the buffer of `kind` to the file once it holds `spill_at` bytes.
    fn maybe_spill(&mut self, kind: u8) -> io::Result<()> {
        let buf = if kind == ENTRIES {
            &mut self.entries
        } else {
            &mut self.fai
        };
        if buf.len() < self.spill_at {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                // Unlinked at once: the file lives as long as its handle.
                let (temp, file) = TempIndex::create(self.near)?;
                drop(temp);
                self.file.insert(file)
            }
        };
        let mut head = [kind; 9];
        head[1..].copy_from_slice(&(buf.len() as u64).to_le_bytes());
        file.write_all(&head)?;
        file.write_all(buf)?;
        self.written += 9 + buf.len() as u64;
        buf.clear();
        Ok(())
    }

    /// Gives the frames kept, in order, to `each` with their kind.
    fn frames(&self, mut each: impl FnMut(u8, &[u8]) -> io::Result<()>) -> io::Result<()> {
        if let Some(file) = &self.file {
            let mut at = 0;
            let mut frame = Vec::new();
            while at < self.written {
                let mut head = [0u8; 9];
                read_full_at(file, &mut head, at)?;
                let mut len = [0u8; 8];
                len.copy_from_slice(&head[1..]);
                let len = u64::from_le_bytes(len);
                frame.resize(usize::try_from(len).map_err(io::Error::other)?, 0);
                if read_full_at(file, &mut frame, at + 9)? < frame.len() {
                    return Err(io::Error::other("a part's records did not read back"));
                }
                each(head[0], &frame)?;
                at += 9 + len;
            }
        }
        each(ENTRIES, &self.entries)?;
        each(FAI, &self.fai)
    }
}

impl Out for Spill<'_> {
    fn record(&mut self, start: u64, end: u64, line: u64, name: Option<&[u8]>) -> io::Result<()> {
        let buf = &mut self.entries;
        put_varint(buf, start.saturating_sub(self.prev_end));
        put_varint(buf, end - start);
        put_varint(buf, line - self.prev_line);
        match name {
            None => put_varint(buf, 0),
            Some(n) => {
                put_varint(buf, n.len() as u64 + 1);
                buf.extend_from_slice(n);
            }
        }
        self.prev_end = end;
        self.prev_line = line;
        self.maybe_spill(ENTRIES)
    }

    fn fai(&mut self, name: &[u8], numbers: [u64; 4]) -> io::Result<()> {
        push_fai_line(&mut self.fai, name, numbers);
        self.maybe_spill(FAI)
    }
}

/// What a part found.
struct PartDone<'p> {
    scan: Scan,
    /// Where its scan ended (the data's end, for the last part).
    end: u64,
    spill: Option<Spill<'p>>,
}

/// Scans part `k` of the file, whose parts start at `k * split.part_size`.
fn scan_part<'p>(
    file: &File,
    k: usize,
    parts: usize,
    split: Split,
    near: &'p Path,
    cancel: &AtomicBool,
) -> Result<PartDone<'p>, BuildStop> {
    let from = k as u64 * split.part_size;
    let start = next_header(file, from, split.buffer(), cancel)?;
    let stop = if k + 1 < parts {
        (k as u64 + 1) * split.part_size
    } else {
        u64::MAX
    };
    let src = PartReader {
        file,
        pos: start,
        cancel,
    };
    let mut lines = LineScanner::starting_at(src, start, split.buffer());
    let mut scan = Scan::new(start);
    let mut spill = Spill::new(split.spill_at, split.part_size, near);
    scan.run(&mut lines, stop, &mut spill)?;
    Ok(PartDone {
        scan,
        end: lines.offset(),
        spill: Some(spill),
    })
}

/// Puts what a part after the first wrote into `out`: its first record starting at
/// `prev_end`, its lines after `base`; its `.fai` lines only when `with_fai`.
fn replay<P: Write, F: Write>(
    spill: &Spill<'_>,
    prev_end: u64,
    base: u64,
    with_fai: bool,
    out: &mut Direct<'_, P, F>,
) -> io::Result<()> {
    let damaged = || io::Error::other("a part's records did not read back");
    let mut first = true;
    let (mut end, mut line) = (0u64, 0u64);
    spill.frames(|kind, frame| {
        if kind == FAI {
            return if with_fai {
                out.fai.write_all(frame)
            } else {
                Ok(())
            };
        }
        let mut at = 0;
        let varint = |at: &mut usize| get_varint(frame, at).ok_or_else(damaged);
        while at < frame.len() {
            let start = end + varint(&mut at)?;
            let len = varint(&mut at)?;
            line += varint(&mut at)?;
            let name = match varint(&mut at)? {
                0 => None,
                tag => {
                    let n = usize::try_from(tag - 1).map_err(|_| damaged())?;
                    let name = frame.get(at..at + n).ok_or_else(damaged)?;
                    at += n;
                    Some(name)
                }
            };
            end = start + len;
            let span_start = if first { prev_end } else { start };
            first = false;
            out.record(span_start, end, line + base, name)?;
        }
        Ok(())
    })
}

/// Indexes the plain FASTA `file` of `len` bytes as [`crate::fasta::build`] does,
/// scanning its parts (see the module's doc) on up to `split.threads` threads. Parts'
/// temporary files are made next to `near`.
pub(crate) fn build<P: Write, F: Write>(
    file: &File,
    len: u64,
    split: Split,
    near: &Path,
    ppi: &mut PpiWriter<P>,
    fai_out: &mut F,
) -> Result<FastaBuilt, BuildStop> {
    let parts = split.parts(len);
    let threads = split.threads.clamp(1, parts);
    let cancel = AtomicBool::new(false);
    let next = AtomicUsize::new(1);
    let mut out = Direct {
        ppi,
        fai: fai_out,
        line: Vec::new(),
    };
    // The parts after the first, taken in turn by whichever thread is free.
    let work = || {
        let mut done = Vec::new();
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            if k >= parts {
                return done;
            }
            let part = scan_part(file, k, parts, split, near, &cancel);
            if part.is_err() {
                cancel.store(true, Ordering::Relaxed);
            }
            done.push((k, part));
        }
    };
    let (first, mut rest) = std::thread::scope(|s| {
        // A thread that cannot be started leaves its parts to the others.
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .name("polyplug-index".to_string())
                    .spawn_scoped(s, work)
                    .ok()
            })
            .collect();
        // The first part, written as it goes.
        let stop = if parts > 1 { split.part_size } else { u64::MAX };
        let src = PartReader {
            file,
            pos: 0,
            cancel: &cancel,
        };
        let mut lines = LineScanner::starting_at(src, 0, split.buffer());
        let mut scan = Scan::new(0);
        let first = scan.run(&mut lines, stop, &mut out).map(|()| PartDone {
            scan,
            end: lines.offset(),
            spill: None,
        });
        if first.is_err() {
            cancel.store(true, Ordering::Relaxed);
        }
        let mut rest = work();
        for helper in helpers {
            match helper.join() {
                Ok(done) => rest.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        (first, rest)
    });
    rest.sort_by_key(|(k, _)| *k);
    let mut done = Vec::with_capacity(parts);
    done.push(first);
    done.extend(rest.into_iter().map(|(_, part)| part));
    // The first failure in file order (not a part stopped because of another).
    if done.iter().any(Result::is_err) {
        let mut errors: Vec<BuildStop> = done.into_iter().filter_map(Result::err).collect();
        let real = errors.iter().position(|e| !is_cancelled(e)).unwrap_or(0);
        return Err(errors.swap_remove(real));
    }
    let mut prev_end = 0;
    let mut base = 0;
    let mut records = 0;
    let mut problem: Option<String> = None;
    let mut end = 0;
    for part in done.into_iter().flatten() {
        if let Some(spill) = &part.spill {
            replay(spill, prev_end, base, problem.is_none(), &mut out)?;
        }
        if part.scan.records > 0 {
            prev_end = part.scan.prev_end;
        }
        if problem.is_none() {
            problem = part.scan.problem.as_ref().map(|p: &Problem| p.text(base));
        }
        base += part.scan.lines;
        records += part.scan.records;
        end = part.end;
    }
    Ok(built(records, end, problem))
}
