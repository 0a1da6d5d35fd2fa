//! The lines of an IDs file, checked to be UTF-8 a block at a time: the reader of a
//! run gives a million IDs a second, and checking each line alone cost more than
//! finding it.

use std::io::{BufRead, Read};

/// How much is read (and checked) at once.
const BLOCK: usize = 256 << 10;

/// One line, with its line break: text, or, in a block that is not all UTF-8, bytes
/// (the line's own check then says whether it is the one at fault).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line<'a> {
    /// `tabs`: whether its block holds a TAB (when not, no line of it does).
    Text {
        line: &'a str,
        tabs: bool,
    },
    Bytes(&'a [u8]),
}

/// Reads lines from `src` in blocks of whole lines: each block read is checked as a
/// whole and copied into a reused `String` (a copy is cheaper than a check per line),
/// and its lines are slices of it. A line cut by the end of a read is gathered into
/// `carry` and checked with the block that ends it.
pub(crate) struct Lines<R> {
    src: std::io::BufReader<R>,
    /// The block being given: `text` when it is UTF-8, `bytes` when it is not.
    text: String,
    bytes: Vec<u8>,
    is_text: bool,
    /// Where each line of the block ends (after its line break), found in one
    /// pass over the block; the next line is `ends[next]`, starting at `at`.
    ends: Vec<usize>,
    next: usize,
    at: usize,
    /// Whether the block holds a TAB.
    tabs: bool,
    carry: Vec<u8>,
}

impl<R: Read> Lines<R> {
    pub(crate) fn new(src: R) -> Lines<R> {
        Lines {
            src: std::io::BufReader::with_capacity(BLOCK, src),
            text: String::new(),
            bytes: Vec::new(),
            is_text: true,
            ends: Vec::new(),
            next: 0,
            at: 0,
            tabs: true,
            carry: Vec::new(),
        }
    }

    /// The next line, `None` at the end of the input.
    pub(crate) fn next_line(&mut self) -> std::io::Result<Option<Line<'_>>> {
        if self.next >= self.ends.len() && !self.fill()? {
            return Ok(None);
        }
        let (start, end) = (self.at, self.ends[self.next]);
        self.next += 1;
        self.at = end;
        Ok(Some(if self.is_text {
            // A line break is ASCII: its neighbours are character boundaries.
            match self.text.get(start..end) {
                Some(line) => Line::Text {
                    line,
                    tabs: self.tabs,
                },
                None => Line::Bytes(&self.text.as_bytes()[start..end]),
            }
        } else {
            Line::Bytes(&self.bytes[start..end])
        }))
    }

    /// Takes the next block of whole lines (what is left at the end of the input);
    /// false when there is none.
    fn fill(&mut self) -> std::io::Result<bool> {
        self.text.clear();
        self.bytes.clear();
        self.ends.clear();
        (self.at, self.next) = (0, 0);
        loop {
            let avail = self.src.fill_buf()?;
            let cut = match memchr::memrchr(b'\n', avail) {
                Some(i) => i + 1,
                // The end of the input: the rest is its last line.
                None if avail.is_empty() => 0,
                None => {
                    // No line ends here: all of it belongs to a line that goes on.
                    self.carry.extend_from_slice(avail);
                    let n = avail.len();
                    self.src.consume(n);
                    continue;
                }
            };
            let block = if self.carry.is_empty() {
                &avail[..cut]
            } else {
                self.carry.extend_from_slice(&avail[..cut]);
                &self.carry[..]
            };
            if block.is_empty() {
                return Ok(false);
            }
            // A block holds whole lines: each ends with a line break but perhaps the
            // input's last.
            self.ends.extend(Newlines::of(block).map(|i| i + 1));
            if !block.ends_with(b"\n") {
                self.ends.push(block.len());
            }
            self.tabs = memchr::memchr(b'\t', block).is_some();
            match std::str::from_utf8(block) {
                Ok(text) => {
                    self.text.push_str(text);
                    self.is_text = true;
                }
                Err(_) => {
                    self.bytes.extend_from_slice(block);
                    self.is_text = false;
                }
            }
            self.carry.clear();
            self.src.consume(cut);
            return Ok(true);
        }
    }
}

/// The places of the line breaks of a buffer, in order, found 64 bytes at a time with
/// word arithmetic into a mask of one bit a byte: with a line of an ID every few dozen
/// bytes, a search per line (`memchr_iter`) costs more in starting than in searching,
/// about 7 ns a line here against 2.5.
pub(crate) struct Newlines<'a> {
    buf: &'a [u8],
    /// The line breaks of the block at `base`, one bit each, not yet given.
    mask: u64,
    base: usize,
    /// Where the next block starts.
    next: usize,
}

impl<'a> Newlines<'a> {
    pub(crate) fn of(buf: &'a [u8]) -> Newlines<'a> {
        Newlines {
            buf,
            mask: 0,
            base: 0,
            next: 0,
        }
    }
}

impl Iterator for Newlines<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            if self.next >= self.buf.len() {
                return None;
            }
            let end = (self.next + 64).min(self.buf.len());
            self.mask = newline_mask(&self.buf[self.next..end]);
            self.base = self.next;
            self.next = end;
        }
        let at = self.base + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(at)
    }
}

/// Bit `i` set where `block[i]` (at most 64 bytes) is a line break.
#[inline]
fn newline_mask(block: &[u8]) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const NEWLINES: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    let mut mask = 0;
    let (words, rest) = block.as_chunks::<8>();
    for (i, word) in words.iter().enumerate() {
        // A byte of `x` is zero where the byte is a line break; adding 0x7f to its
        // low seven bits sets its top bit unless they are all zero, without a carry
        // into the next byte.
        let x = u64::from_le_bytes(*word) ^ NEWLINES;
        let zero = !(((x & LOW7) + LOW7) | x) & !LOW7;
        // The top bit of each byte, gathered into the low eight bits.
        mask |= ((zero >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) << (i * 8);
    }
    for (i, &b) in rest.iter().enumerate() {
        mask |= u64::from(b == b'\n') << (words.len() * 8 + i);
    }
    mask
}

/// The number of lines of the file at `path` (a last line without a newline counts),
/// or `None` when it cannot be read.
pub(crate) fn count_lines(path: &std::path::Path) -> Option<u64> {
    let mut reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path).ok()?);
    let mut n = 0u64;
    let mut last = b'\n';
    loop {
        let buf = reader.fill_buf().ok()?;
        if buf.is_empty() {
            break;
        }
        n += memchr::memchr_iter(b'\n', buf).count() as u64;
        last = buf[buf.len() - 1];
        let len = buf.len();
        reader.consume(len);
    }
    Some(if last == b'\n' { n } else { n + 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_are_found_wherever_they_are() {
        // Every length up to three blocks, line breaks at every spacing, and bytes
        // that differ from a line break in one bit or that carry into the next.
        for len in 0..200usize {
            for step in 1..70usize {
                let buf: Vec<u8> = (0..len)
                    .map(|i| match i % step {
                        0 => b'\n',
                        1 => 0x0b,
                        2 => 0x8a,
                        3 => 0x00,
                        4 => 0x09,
                        _ => 0xff,
                    })
                    .collect();
                let found: Vec<usize> = Newlines::of(&buf).collect();
                let wanted: Vec<usize> = memchr::memchr_iter(b'\n', &buf).collect();
                assert_eq!(found, wanted, "length {len}, a line break every {step}");
            }
        }
    }

    /// A reader that gives at most `step` bytes a read, so that lines cross reads.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn all(data: &[u8], step: usize) -> Vec<(bool, Vec<u8>)> {
        let mut lines = Lines::new(Trickle { data, step });
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().unwrap() {
            out.push(match line {
                Line::Text { line, tabs } => {
                    // Said of the block: true for every line with a TAB, false for
                    // every line of an input without one.
                    assert!(tabs || !line.contains('\t'));
                    assert!(!tabs || data.contains(&b'\t'));
                    (true, line.as_bytes().to_vec())
                }
                Line::Bytes(b) => (false, b.to_vec()),
            });
        }
        out
    }

    #[test]
    fn every_line_comes_once_whole_with_its_break() {
        let long = "x".repeat(3 * BLOCK + 5);
        let inputs: Vec<String> = vec![
            String::new(),
            "a".into(),
            "a\n".into(),
            "a\nb".into(),
            "\n\n\r\n".into(),
            "é\tü\n日本\n".into(),
            "a\tb\nc\n".repeat(BLOCK / 3),
            format!("{long}\nshort\n{long}"),
            (0..100_000).map(|i| format!("id{i}\n")).collect(),
        ];
        for input in &inputs {
            let expected: Vec<(bool, Vec<u8>)> = input
                .split_inclusive('\n')
                .map(|l| (true, l.as_bytes().to_vec()))
                .collect();
            for step in [1, 3, 4096, usize::MAX] {
                assert_eq!(all(input.as_bytes(), step), expected, "step {step}");
            }
        }
    }

    #[test]
    fn a_block_that_is_not_utf8_gives_bytes_and_the_next_text_again() {
        let mut input = b"good\nbad \xff line\n".to_vec();
        // The next block starts after a whole block of lines.
        let filler: Vec<u8> = (0..BLOCK / 4).flat_map(|_| *b"abc\n").collect();
        input.extend_from_slice(&filler);
        input.extend_from_slice(b"after\n");
        let lines = all(&input, usize::MAX);
        assert_eq!(lines[0], (false, b"good\n".to_vec()));
        assert_eq!(lines[1], (false, b"bad \xff line\n".to_vec()));
        assert_eq!(lines.last(), Some(&(true, b"after\n".to_vec())));
        assert_eq!(lines.len(), 2 + BLOCK / 4 + 1);
        // A character cut by a block's end is whole in the next.
        let mut cut = vec![b'a'; BLOCK - 1];
        cut.extend_from_slice("é\nü".as_bytes());
        let lines = all(&cut, usize::MAX);
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|(text, _)| *text));
    }

    #[test]
    fn a_read_error_is_returned() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        let mut lines = Lines::new(Broken);
        assert!(lines.next_line().is_err());
    }
}
