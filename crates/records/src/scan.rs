//! Reading a data file line by line while indexing it, knowing where each line is.

use std::io::{self, Read};

use memchr::memchr;

use crate::ahead::{ReadAhead, RESERVE};

/// The size of the scanners' buffers: large enough that refills are rare, small
/// enough to stay in the CPU's cache.
pub(crate) const SCAN_BUFFER: usize = 1 << 20;

/// Files larger than this are read ahead on a thread of their own.
pub(crate) const READ_AHEAD_FROM: u64 = 4 << 20;

/// Where a scanner's bytes come from.
enum Source<R> {
    /// Read into the scanner's buffer.
    Direct(R),
    /// Read ahead into buffers of their own, which the scanner takes in turn.
    Ahead(ReadAhead),
}

/// A line scanner over any reader (a file, or a decompressor): each line comes with
/// its offset in the data, its line ending included. Memory is a few buffers, grown
/// only for a line longer than them.
pub(crate) struct LineScanner<R> {
    src: Source<R>,
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
    /// The data offset of `buf[lo]`.
    offset: u64,
    /// Where the search for the next line end resumes (relative to `lo`).
    searched: usize,
    eof: bool,
}

impl<R: Read + Send + 'static> LineScanner<R> {
    /// A scanner of `src` from its first byte that reads ahead on a thread of its own
    /// when `len` (the data's expected length) is large.
    pub(crate) fn ahead(src: R, len: u64) -> io::Result<LineScanner<R>> {
        if len < READ_AHEAD_FROM {
            return Ok(LineScanner::new(src));
        }
        Ok(LineScanner {
            src: Source::Ahead(ReadAhead::new(src)?),
            buf: Vec::new(),
            lo: 0,
            hi: 0,
            offset: 0,
            searched: 0,
            eof: false,
        })
    }
}

impl<R: Read> LineScanner<R> {
    /// A scanner of `src` from its first byte.
    pub(crate) fn new(src: R) -> LineScanner<R> {
        LineScanner::starting_at(src, 0, SCAN_BUFFER)
    }

    /// A scanner of `src` whose first byte is at `offset` in the data (the offsets
    /// it gives are the data's), reading `capacity` bytes at a time.
    pub(crate) fn starting_at(src: R, offset: u64, capacity: usize) -> LineScanner<R> {
        LineScanner {
            src: Source::Direct(src),
            buf: vec![0; capacity.max(16)],
            lo: 0,
            hi: 0,
            offset,
            searched: 0,
            eof: false,
        }
    }

    /// The offset of the next line (after the last one given): at the end, the data's
    /// length.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// The bytes read but not given yet (the start of the next line, or more).
    pub(crate) fn peek(&self) -> &[u8] {
        &self.buf[self.lo..self.hi]
    }

    /// Passes over the next `n` bytes of [`LineScanner::peek`] (whole lines).
    pub(crate) fn skip(&mut self, n: usize) {
        debug_assert!(n <= self.hi - self.lo);
        self.lo += n;
        self.offset += n as u64;
        self.searched = 0;
    }

    /// The next line with its offset; the last line may lack a line ending.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<(u64, &[u8])>> {
        loop {
            if let Some(i) = memchr(b'\n', &self.buf[self.lo + self.searched..self.hi]) {
                let start = self.lo;
                let end = self.lo + self.searched + i + 1;
                return Ok(Some(self.take(start, end)));
            }
            self.searched = self.hi - self.lo;
            if self.eof {
                if self.lo == self.hi {
                    return Ok(None);
                }
                let (start, end) = (self.lo, self.hi);
                return Ok(Some(self.take(start, end)));
            }
            self.refill()?;
        }
    }

    fn take(&mut self, start: usize, end: usize) -> (u64, &[u8]) {
        let offset = self.offset;
        self.offset += (end - start) as u64;
        self.lo = end;
        self.searched = 0;
        (offset, &self.buf[start..end])
    }

    /// Moves what is left to the buffer's start (growing it when full) and reads more.
    fn refill(&mut self) -> io::Result<()> {
        let src = match &mut self.src {
            Source::Direct(src) => src,
            Source::Ahead(ahead) => {
                let (mut chunk, n) = ahead.next()?;
                if n == 0 {
                    self.eof = true;
                    return Ok(());
                }
                let carry = self.hi - self.lo;
                if carry <= RESERVE {
                    // The unfinished line goes just before the new bytes.
                    chunk[RESERVE - carry..RESERVE].copy_from_slice(&self.buf[self.lo..self.hi]);
                    let old = std::mem::replace(&mut self.buf, chunk);
                    ahead.give_back(old);
                    self.lo = RESERVE - carry;
                    self.hi = RESERVE + n;
                } else {
                    // A line longer than the room: it grows in the scanner's buffer.
                    self.buf.copy_within(self.lo..self.hi, 0);
                    self.buf.truncate(carry);
                    self.buf.extend_from_slice(&chunk[RESERVE..RESERVE + n]);
                    ahead.give_back(chunk);
                    self.lo = 0;
                    self.hi = self.buf.len();
                }
                return Ok(());
            }
        };
        if self.lo > 0 {
            self.buf.copy_within(self.lo..self.hi, 0);
            self.hi -= self.lo;
            self.lo = 0;
        }
        if self.hi == self.buf.len() {
            let grown = self.buf.len() * 2;
            self.buf.resize(grown, 0);
        }
        loop {
            match src.read(&mut self.buf[self.hi..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.hi += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Whether a line holds only whitespace (blank lines are never records).
pub(crate) fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&b| is_space(b))
}

/// C's `isspace` in the C locale: space, tab, line feed, vertical tab, form feed,
/// carriage return.
pub(crate) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `line` without its line ending (`\n` or `\r\n`).
pub(crate) fn chomp(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The start of `line` for a message: at most 40 characters, line ending dropped.
pub(crate) fn excerpt(line: &[u8]) -> String {
    let line = chomp(line);
    let text = String::from_utf8_lossy(&line[..line.len().min(40)]).into_owned();
    if line.len() > 40 {
        format!("{text}...")
    } else {
        text
    }
}

/// A size for people: `512 bytes`, `2.1 MB`.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1000.0;
    let mut unit = 0;
    while v >= 999.95 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `n` with thousands separators (`1,000`).
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_with_their_offsets_across_refills() {
        let mut data = Vec::new();
        for i in 0..50_000 {
            data.extend_from_slice(format!("line {i}\r\n").as_bytes());
        }
        data.extend_from_slice(&vec![b'x'; 3 * SCAN_BUFFER]);
        let mut s = LineScanner::new(&data[..]);
        let mut offset = 0;
        let mut n = 0;
        while let Some((at, line)) = s.next_line().unwrap() {
            assert_eq!(at, offset);
            assert_eq!(line, &data[offset as usize..offset as usize + line.len()]);
            offset += line.len() as u64;
            n += 1;
        }
        assert_eq!((n, offset, s.offset()), (50_001, data.len() as u64, offset));
    }

    #[test]
    fn lines_read_ahead_are_the_same_even_longer_than_a_chunk() {
        let mut data = Vec::new();
        for i in 0..400_000 {
            data.extend_from_slice(format!("line {i}\n").as_bytes());
            if i % 100_000 == 0 {
                data.extend_from_slice(&vec![b'y'; 3 * crate::ahead::CHUNK + 17]);
                data.push(b'\n');
            }
        }
        let len = data.len() as u64;
        let mut direct = LineScanner::new(std::io::Cursor::new(data.clone()));
        let mut ahead = LineScanner::ahead(std::io::Cursor::new(data), len).unwrap();
        assert!(matches!(ahead.src, Source::Ahead(_)));
        loop {
            let a = direct.next_line().unwrap().map(|(o, l)| (o, l.to_vec()));
            let b = ahead.next_line().unwrap().map(|(o, l)| (o, l.to_vec()));
            assert_eq!(a, b);
            if a.is_none() {
                break;
            }
        }
    }

    #[test]
    fn helpers() {
        assert!(is_blank(b" \t\r\n") && is_blank(b"") && !is_blank(b" x\n"));
        assert_eq!(chomp(b"ab\r\n"), b"ab");
        assert_eq!(chomp(b"ab"), b"ab");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(2_100_000), "2.1 MB");
        assert_eq!(human_bytes(999_990), "1.0 MB");
        assert_eq!(excerpt(&[b'a'; 50]), format!("{}...", "a".repeat(40)));
    }
}
