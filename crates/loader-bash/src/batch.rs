//! A batch's files, the host side: its requests ([`push_request`]), and the output
//! files its calls share, split at the separator lines `driver.bash` writes after
//! each call (`\n<token> <n> <status> <EPOCHREALTIME>\n` in stdout, `\n<token> <n>\n`
//! in stderr once it is not empty).

use crate::worker::{CallOutput, Ending};
use std::time::Duration;

/// Adds one request, an operation and its argument, each NUL-terminated, to `req`.
pub(crate) fn push_request(req: &mut Vec<u8>, op: u8, arg: &str) {
    req.push(op);
    req.push(0);
    req.extend_from_slice(arg.as_bytes());
    req.push(0);
}

/// A worker's token, and the searcher of its separators (built once per worker).
pub(crate) struct Token {
    finder: memchr::memmem::Finder<'static>,
}

impl Token {
    pub(crate) fn new(token: &str) -> Token {
        Token {
            finder: memchr::memmem::Finder::new(token.as_bytes()).into_owned(),
        }
    }

    fn len(&self) -> usize {
        self.finder.needle().len()
    }

    /// Where the next separator `\n<token> ` starts in `bytes`, from `from`.
    fn separator(&self, bytes: &[u8], from: usize) -> Option<usize> {
        let mut at = from;
        loop {
            let i = at + self.finder.find(&bytes[at..])?;
            let end = i + self.len();
            if i > 0 && bytes[i - 1] == b'\n' && bytes.get(end) == Some(&b' ') {
                return Some(i - 1);
            }
            at = i + 1;
        }
    }

    /// Each separator line of `bytes`, in order: where it starts (its leading
    /// newline), its fields, and where what follows it starts.
    fn lines<'a>(
        &'a self,
        bytes: &'a [u8],
    ) -> impl Iterator<Item = (usize, Vec<&'a str>, usize)> + 'a {
        let mut at = 0;
        std::iter::from_fn(move || {
            let i = self.separator(bytes, at)?;
            let (fields, next) = self.fields(bytes, i);
            at = next;
            Some((i, fields, next))
        })
    }

    /// The fields of the separator line starting at `at` (its leading newline) and
    /// where what follows it starts.
    fn fields<'a>(&self, bytes: &'a [u8], at: usize) -> (Vec<&'a str>, usize) {
        let start = at + 1 + self.len() + 1;
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |k| start + k);
        let fields = std::str::from_utf8(&bytes[start..end])
            .unwrap_or("")
            .split(' ')
            .collect();
        (fields, (end + 1).min(bytes.len()))
    }
}

/// How many calls a batch's stdout file says are done, and when the last one ended.
pub(crate) fn progress(token: &Token, stdout: &[u8]) -> (u64, Option<std::time::SystemTime>) {
    let (mut done, mut last) = (0, None);
    for (_, fields, next) in token.lines(stdout) {
        if stdout[..next].last() != Some(&b'\n') {
            break; // a separator still being written: its call is not known done
        }
        done += 1;
        last = fields.get(2).and_then(|t| epoch_time(t));
    }
    (done, last)
}

/// `EPOCHREALTIME` (seconds, a decimal point or comma, microseconds) as a time.
pub(crate) fn epoch_time(text: &str) -> Option<std::time::SystemTime> {
    let (secs, fraction) = text.split_once(['.', ',']).unwrap_or((text, ""));
    let digits = fraction.get(..fraction.len().min(9))?;
    let nanos = if digits.is_empty() {
        0
    } else {
        digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32)
    };
    let d = Duration::new(secs.parse().ok()?, nanos);
    std::time::UNIX_EPOCH.checked_add(d)
}

/// A batch's output files split at the driver's separators.
pub(crate) struct Split {
    /// Each finished call (numbered from `first + 1`): its status and what it wrote.
    pub calls: Vec<CallOutput>,
    /// What follows the last separator of each file: what the call that was running
    /// wrote, when the worker ended in it.
    pub rest: (Vec<u8>, Vec<u8>),
}

/// Splits a batch's stdout and stderr files (its calls numbered from `first + 1`).
pub(crate) fn split_outputs(token: &Token, first: u64, stdout: &[u8], stderr: &[u8]) -> Split {
    let mut calls = Vec::new();
    let mut at = 0;
    for (i, fields, next) in token.lines(stdout) {
        let status = fields
            .get(1)
            .and_then(|s| s.parse::<i32>().ok())
            .unwrap_or(-1);
        calls.push(CallOutput {
            ending: Ending::Returned(status),
            stdout: stdout[at..i].to_vec(),
            stderr: Vec::new(),
        });
        at = next;
    }
    let rest_out = stdout[at..].to_vec();
    // Stderr: what precedes a separator is the call it names; calls before the first
    // one wrote nothing there.
    let mut at = 0;
    for (i, fields, next) in token.lines(stderr) {
        let n = fields
            .first()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        if let Some(out) = n
            .checked_sub(first + 1)
            .and_then(|k| calls.get_mut(k as usize))
        {
            out.stderr = stderr[at..i].to_vec();
        }
        at = next;
    }
    Split {
        calls,
        rest: (rest_out, stderr[at..].to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOK: &str = "\u{1}ppabc";

    fn tok() -> Token {
        Token::new(TOK)
    }

    #[test]
    fn a_batch_splits_at_its_separators() {
        // Calls 4 to 7 of a worker: output with and without a final newline, empty
        // output, stderr from calls 5 and 7 only (none before the first separator's
        // call), and call 8 cut short after printing a little.
        let stdout = format!(
            "a\n\n{TOK} 4 0 1700000000.250000\nb\n{TOK} 5 3 1700000001.5\n\n\
             {TOK} 6 0 1700000002,000001\nline\n\n\n{TOK} 7 0 1700000003.0\npart"
        );
        let stderr = format!("oops\n\n{TOK} 5\n\n{TOK} 6\nwarn 1\nwarn 2\n\n{TOK} 7\ncut");
        let split = split_outputs(&tok(), 3, stdout.as_bytes(), stderr.as_bytes());
        let got: Vec<(Ending, &[u8], &[u8])> = split
            .calls
            .iter()
            .map(|o| (o.ending, &o.stdout[..], &o.stderr[..]))
            .collect();
        assert_eq!(
            got,
            [
                (Ending::Returned(0), &b"a\n"[..], &b""[..]),
                (Ending::Returned(3), b"b", b"oops\n"),
                (Ending::Returned(0), b"", b""),
                (Ending::Returned(0), b"line\n\n", b"warn 1\nwarn 2\n"),
            ]
        );
        assert_eq!(split.rest, (b"part".to_vec(), b"cut".to_vec()));
        let (done, last) = progress(&tok(), stdout.as_bytes());
        assert_eq!(done, 4);
        assert_eq!(
            last,
            Some(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_003))
        );
        assert_eq!(
            epoch_time("1700000002,000001"),
            Some(std::time::UNIX_EPOCH + Duration::new(1_700_000_002, 1_000))
        );
        assert_eq!(epoch_time(""), None);
        // A separator read while it is being written does not count yet.
        let cut = format!("a\n\n{TOK} 1 0 1700000000.5\nb\n{TOK} 2 0 17");
        assert_eq!(
            progress(&tok(), cut.as_bytes()),
            (
                1,
                Some(std::time::UNIX_EPOCH + Duration::from_millis(1_700_000_000_500))
            )
        );
    }

    #[test]
    fn only_a_whole_separator_line_splits() {
        // The token inside a line, or not followed by a space, is output.
        let stdout = format!("x{TOK} 1 0 1\n{TOK}x\n\n{TOK} 1 0 1.0\n");
        let outs = split_outputs(&tok(), 0, stdout.as_bytes(), b"").calls;
        assert_eq!(outs.len(), 1);
        assert_eq!(
            outs[0].stdout,
            format!("x{TOK} 1 0 1\n{TOK}x\n").into_bytes()
        );
        assert_eq!(
            split_outputs(&tok(), 0, b"no separator", b"").rest,
            (b"no separator".to_vec(), vec![])
        );
    }
}
