//! FASTA: one record parsed from its span, as a worker reads it (`Reader::read`), and
//! the rules for a header shared with the index (`fasta.rs`, `fai.rs`).

use crate::scan::{chomp, excerpt, is_blank, is_space};

/// A header's name (samtools' rule: after `>`, leading whitespace skipped, up to the
/// next whitespace) and the rest of the line (the description, untrimmed).
pub(crate) fn header_name(after_gt: &[u8]) -> (&[u8], &[u8]) {
    let line = chomp(after_gt);
    let start = line
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(line.len());
    let rest = &line[start..];
    let end = rest.iter().position(|&b| is_space(b)).unwrap_or(rest.len());
    (&rest[..end], &rest[end..])
}

/// `bytes` without leading and trailing whitespace.
pub(crate) fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// One FASTA record parsed from its span: the offsets of its bytes within the span
/// and its fields, written into the given strings.
pub(crate) struct Parsed<'a> {
    /// The record's bytes: header line to last sequence line, final line ending
    /// dropped.
    pub bytes: &'a [u8],
    /// The header's first word.
    pub name: &'a [u8],
    /// The rest of the header, trimmed.
    pub description: &'a [u8],
}

/// Parses the record in `span` (which may start with blank lines), appending its
/// sequence lines (line endings dropped) to `sequence`. `Err` says what is wrong.
///
/// This runs for every record a worker reads, so the lines are not searched one by
/// one: the first sequence line gives the width of the others, whose line endings
/// are then only checked where they should be, with one count of the line feeds
/// (SIMD, in `memchr`) to prove there is none elsewhere ([`equal_lines`]). The lines
/// after them (the last, shorter one; blank lines) go one by one.
pub(crate) fn parse<'a>(span: &'a [u8], sequence: &mut Vec<u8>) -> Result<Parsed<'a>, String> {
    let line_end =
        |at: usize| memchr::memchr(b'\n', &span[at..]).map_or(span.len(), |i| at + i + 1);
    // Blank lines, then the header.
    let mut at = 0;
    let (start, (name, description)) = loop {
        if at >= span.len() {
            return Err("it has no header line".to_string());
        }
        let e = line_end(at);
        let line = &span[at..e];
        let s = at;
        at = e;
        if line[0] == b'>' {
            break (s, header_name(&line[1..]));
        }
        if !is_blank(line) {
            return Err(format!("it starts with '{}', not a header", excerpt(line)));
        }
    };
    let mut end = at;
    let mut width = 0;
    while at < span.len() {
        if width > 0 {
            let k = equal_lines(&span[at..], width);
            if k > 0 {
                sequence.reserve(k * width);
                for line in span[at..at + k * width].chunks_exact(width) {
                    sequence.extend_from_slice(chomp(line));
                }
                at += k * width;
                end = at;
            }
            width = 0;
            continue;
        }
        let e = line_end(at);
        let line = &span[at..e];
        match line[0] {
            b'>' => return Err("its bytes hold two records".to_string()),
            first if is_space(first) && is_blank(line) => {}
            _ => {
                sequence.extend_from_slice(chomp(line));
                end = e;
                if line.last() == Some(&b'\n') {
                    width = line.len();
                }
            }
        }
        at = e;
    }
    Ok(Parsed {
        bytes: chomp(&span[start..end]),
        name,
        description: trim(description),
    })
}

/// How many lines at the start of `bytes` are sequence lines of `width` bytes (line
/// ending included), not blank and not headers: each has a line feed at its end,
/// a first byte that is neither `>` nor a space, and (counted over all of them at
/// once) no other line feed.
fn equal_lines(bytes: &[u8], width: usize) -> usize {
    let k = bytes
        .chunks_exact(width)
        .take_while(|line| line[width - 1] == b'\n' && line[0] != b'>' && !is_space(line[0]))
        .count();
    if k > 0 && memchr::memchr_iter(b'\n', &bytes[..k * width]).count() != k {
        // A line feed inside one: the lines before it are of this width.
        return bytes
            .chunks_exact(width)
            .position(|line| memchr::memchr(b'\n', &line[..width - 1]).is_some())
            .unwrap_or(0);
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `parse` as it was, line by line: the reference the fast one must agree with.
    fn parse_line_by_line<'a>(
        span: &'a [u8],
        sequence: &mut Vec<u8>,
    ) -> Result<Parsed<'a>, String> {
        let mut at = 0;
        let mut header: Option<(&[u8], &[u8])> = None;
        let (mut start, mut end) = (0, 0);
        while at < span.len() {
            let line_end = memchr::memchr(b'\n', &span[at..]).map_or(span.len(), |i| at + i + 1);
            let line = &span[at..line_end];
            if line[0] == b'>' {
                if header.is_some() {
                    return Err("its bytes hold two records".to_string());
                }
                header = Some(header_name(&line[1..]));
                start = at;
                end = line_end;
            } else if !is_blank(line) {
                if header.is_none() {
                    return Err(format!("it starts with '{}', not a header", excerpt(line)));
                }
                sequence.extend_from_slice(chomp(line));
                end = line_end;
            }
            at = line_end;
        }
        let Some((name, description)) = header else {
            return Err("it has no header line".to_string());
        };
        Ok(Parsed {
            bytes: chomp(&span[start..end]),
            name,
            description: trim(description),
        })
    }

    #[test]
    fn records_parse_as_they_did_line_by_line() {
        let mut rng = crate::tests::xorshift(0x853c_49e6_748f_ea9b);
        let mut below = |n: usize| rng(n as u64) as usize;
        let pieces: [&[u8]; 12] = [
            b"ACGT",
            b"AC",
            b"\n",
            b"\r\n",
            b" ",
            b"\t",
            b">",
            b"N",
            b"\n\n",
            b"  \n",
            b"\xff",
            b"ACGTACGTACGT",
        ];
        let (mut same, mut ok) = (0, 0);
        for _ in 0..20_000 {
            let mut span = Vec::new();
            if below(4) == 0 {
                span.extend_from_slice(b"\n \n");
            }
            if below(20) > 0 {
                span.extend_from_slice(b">r1 some description\n");
            }
            // Lines of one width, then anything.
            let width = 1 + below(12);
            for _ in 0..below(30) {
                for _ in 0..width {
                    span.push(b"ACGT"[below(4)]);
                }
                span.extend_from_slice(if below(30) == 0 { b"\r\n" } else { b"\n" });
            }
            for _ in 0..below(12) {
                span.extend_from_slice(pieces[below(pieces.len())]);
            }
            let (mut a, mut b) = (b"x".to_vec(), b"x".to_vec());
            let fast = parse(&span, &mut a).map(|p| (p.bytes, p.name, p.description));
            let slow = parse_line_by_line(&span, &mut b).map(|p| (p.bytes, p.name, p.description));
            assert_eq!(fast, slow, "{:?}", String::from_utf8_lossy(&span));
            if fast.is_ok() {
                assert_eq!(a, b, "{:?}", String::from_utf8_lossy(&span));
                ok += 1;
            }
            same += 1;
        }
        assert!(ok > 10_000, "{ok} of {same} parsed");
    }

    #[test]
    fn lines_of_one_width_stop_before_one_that_is_not() {
        assert_eq!(equal_lines(b"ACG\nTTA\nA\nG\nCCC\n", 4), 2);
        assert_eq!(equal_lines(b"ACG\nTTA\n>ab\n", 4), 2);
        assert_eq!(equal_lines(b"ACG\n TA\n", 4), 1);
        assert_eq!(equal_lines(b"ACG\nTTA\nAC", 4), 2);
        assert_eq!(equal_lines(b"A\nG\nTTA\n", 4), 0);
    }

    #[test]
    fn records_parse_with_their_fields() {
        let mut seq = Vec::new();
        let p = parse(b"\n \n>chr1  the first \r\nACGT\r\nAC\r\n", &mut seq).unwrap();
        assert_eq!(p.bytes, b">chr1  the first \r\nACGT\r\nAC");
        assert_eq!((p.name, p.description), (&b"chr1"[..], &b"the first"[..]));
        assert_eq!(seq, b"ACGTAC");
        seq.clear();
        let p = parse(b">x", &mut seq).unwrap();
        assert_eq!(
            (p.bytes, p.name, p.description, seq.len()),
            (&b">x"[..], &b"x"[..], &b""[..], 0)
        );
        assert!(parse(b">a\nAC\n>b\nAC\n", &mut seq).is_err());
        assert!(parse(b"AC\n", &mut seq).is_err());
        assert!(parse(b"\n\n", &mut seq).is_err());
    }
}
