//! A compact binary form of [`Value`]s and of the strings and numbers around them,
//! shared by everything that moves values as bytes: the Python worker protocol and
//! the results store's blocks.
//!
//! Lengths and counts are unsigned LEB128 varints (7 bits per byte, low bits first);
//! a string is its byte length and its UTF-8 bytes; a value is a one-byte kind tag
//! followed by its data:
//!
//! | kind | tag | data |
//! |---|---|---|
//! | null | 0 | none |
//! | bool | 1 | one byte, 0 or 1 |
//! | int | 2 | zigzag varint (small magnitudes take one byte) |
//! | float | 3 | the `f64` bits, 8 bytes little-endian (NaN and infinities exact) |
//! | str | 4 | string |
//! | list | 5 | item count, then the items |
//!
//! [`Decoder`] never panics on damaged input: every read is bounds-checked and a
//! problem is a [`CodecError`] saying what was wrong.

use crate::Value;

const V_NULL: u8 = 0;
const V_BOOL: u8 = 1;
const V_INT: u8 = 2;
const V_FLOAT: u8 = 3;
const V_STR: u8 = 4;
const V_LIST: u8 = 5;

/// Bytes that cannot be decoded: what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub String);

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

/// Deepest nesting of lists a decoder accepts: deeper data is damaged or hostile, and
/// following it would exhaust the stack.
pub const MAX_DEPTH: usize = 64;

fn nested(depth: usize) -> Result<usize, CodecError> {
    if depth >= MAX_DEPTH {
        return Err(CodecError(format!(
            "lists are nested more than {MAX_DEPTH} deep"
        )));
    }
    Ok(depth + 1)
}

/// Appends encoded data to a buffer.
#[derive(Debug)]
pub struct Encoder<'a>(pub &'a mut Vec<u8>);

impl Encoder<'_> {
    /// One byte.
    #[inline]
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    /// An unsigned number as a varint.
    #[inline]
    pub fn var(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    /// A length or count.
    #[inline]
    pub fn length(&mut self, v: usize) {
        self.var(v as u64);
    }

    /// A 64-bit number, 8 bytes little-endian.
    #[inline]
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    /// A string: length, then bytes.
    #[inline]
    pub fn str(&mut self, s: &str) {
        self.length(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }

    /// A list of strings: count, then each string.
    #[inline]
    pub fn strs(&mut self, items: &[String]) {
        self.length(items.len());
        for s in items {
            self.str(s);
        }
    }

    /// A value: kind tag, then data.
    #[inline]
    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.u8(V_NULL),
            Value::Bool(b) => {
                self.u8(V_BOOL);
                self.u8(*b as u8);
            }
            Value::Int(i) => {
                let z = ((*i << 1) ^ (*i >> 63)) as u64;
                if z < 0x80 {
                    // Small integers (counts, lengths: most results), in one write.
                    self.0.extend_from_slice(&[V_INT, z as u8]);
                } else {
                    self.u8(V_INT);
                    self.var(z);
                }
            }
            Value::Float(f) => {
                self.u8(V_FLOAT);
                self.u64(f.to_bits());
            }
            Value::Str(s) => {
                self.u8(V_STR);
                self.str(s);
            }
            Value::List(items) => {
                self.u8(V_LIST);
                self.length(items.len());
                for i in items {
                    self.value(i);
                }
            }
        }
    }
}

/// Reads encoded data, checking every length against what is there.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// Reads `data` from its start.
    #[inline]
    pub fn new(data: &'a [u8]) -> Decoder<'a> {
        Decoder { data, pos: 0 }
    }

    /// The next `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.data.len())
            .ok_or_else(|| CodecError("the data ends early".into()))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// One byte.
    #[inline]
    pub fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }

    /// An unsigned varint.
    #[inline]
    pub fn var(&mut self) -> Result<u64, CodecError> {
        // Most numbers (lengths, counts, small values) fit in one byte.
        match self.data.get(self.pos) {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                Ok(u64::from(b))
            }
            _ => self.var_long(),
        }
    }

    fn var_long(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                break; // bits beyond the 64th
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CodecError("a number is longer than 64 bits".into()))
    }

    /// A length or count.
    #[inline]
    pub fn length(&mut self) -> Result<usize, CodecError> {
        usize::try_from(self.var()?).map_err(|_| CodecError("a length is too large".into()))
    }

    /// A 64-bit number, 8 bytes little-endian.
    #[inline]
    pub fn u64(&mut self) -> Result<u64, CodecError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A string, borrowed from the data.
    #[inline]
    pub fn str_ref(&mut self) -> Result<&'a str, CodecError> {
        self.str_in(None)
    }

    /// A string borrowed from the data, as [`Decoder::str_ref`] gives it, where
    /// `text` is the whole data already checked to be UTF-8 (`None` when it is not):
    /// a string then costs a check of its two ends instead of one of all its bytes.
    #[inline]
    pub fn str_in(&mut self, text: Option<&'a str>) -> Result<&'a str, CodecError> {
        let n = self.length()?;
        let start = self.pos;
        let b = self.take(n)?;
        match text.and_then(|t| t.get(start..start + n)) {
            Some(s) => Ok(s),
            None => std::str::from_utf8(b).map_err(|_| CodecError("a string is not UTF-8".into())),
        }
    }

    /// A string.
    #[inline]
    pub fn str(&mut self) -> Result<String, CodecError> {
        self.str_ref().map(str::to_string)
    }

    /// A list of strings.
    #[inline]
    pub fn strs(&mut self) -> Result<Vec<String>, CodecError> {
        let mut v = Vec::new();
        self.strs_into(&mut v)?;
        Ok(v)
    }

    /// A list of strings, pushed onto `out` (whose allocation serves again).
    #[inline]
    pub fn strs_into(&mut self, out: &mut Vec<String>) -> Result<(), CodecError> {
        let n = self.length()?;
        out.reserve(n.min(1 << 16));
        for _ in 0..n {
            out.push(self.str()?);
        }
        Ok(())
    }

    /// `n` values, pushed onto `out`; scalars are written in place (the fast path of
    /// results that cross a pipe by the million).
    pub fn values_into(&mut self, n: usize, out: &mut Vec<Value>) -> Result<(), CodecError> {
        out.reserve(n.min(1024));
        for _ in 0..n {
            let Some(&tag) = self.data.get(self.pos) else {
                return Err(CodecError("the data ends early".into()));
            };
            match tag {
                V_INT => {
                    self.pos += 1;
                    let z = self.var()?;
                    out.push(Value::Int((z >> 1) as i64 ^ -((z & 1) as i64)));
                }
                V_FLOAT => {
                    self.pos += 1;
                    out.push(Value::Float(f64::from_bits(self.u64()?)));
                }
                _ => out.push(self.value_at(0)?),
            }
        }
        Ok(())
    }

    /// A value.
    #[inline]
    pub fn value(&mut self) -> Result<Value, CodecError> {
        self.value_at(0)
    }

    fn value_at(&mut self, depth: usize) -> Result<Value, CodecError> {
        Ok(match self.u8()? {
            V_NULL => Value::Null,
            V_BOOL => Value::Bool(self.u8()? != 0),
            V_INT => {
                let z = self.var()?;
                Value::Int((z >> 1) as i64 ^ -((z & 1) as i64))
            }
            V_FLOAT => Value::Float(f64::from_bits(self.u64()?)),
            V_STR => Value::Str(self.str()?),
            V_LIST => {
                let depth = nested(depth)?;
                let n = self.length()?;
                let mut v = Vec::with_capacity(n.min(1 << 16));
                for _ in 0..n {
                    v.push(self.value_at(depth)?);
                }
                Value::List(v)
            }
            t => return Err(CodecError(format!("unknown value kind {t}"))),
        })
    }

    /// Steps over a value without building it.
    #[inline]
    pub fn skip_value(&mut self) -> Result<(), CodecError> {
        self.skip_value_at(0)
    }

    fn skip_value_at(&mut self, depth: usize) -> Result<(), CodecError> {
        match self.u8()? {
            V_NULL => {}
            V_BOOL => {
                self.u8()?;
            }
            V_INT => {
                self.var()?;
            }
            V_FLOAT => {
                self.take(8)?;
            }
            V_STR => {
                let n = self.length()?;
                self.take(n)?;
            }
            V_LIST => {
                let depth = nested(depth)?;
                for _ in 0..self.length()? {
                    self.skip_value_at(depth)?;
                }
            }
            t => return Err(CodecError(format!("unknown value kind {t}"))),
        }
        Ok(())
    }

    /// Where the next read starts, in bytes from the start of the data.
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Goes on reading at `pos` (at most the end of the data), for a caller that read
    /// some bytes on its own from [`Decoder::position`].
    #[inline]
    pub fn skip_to(&mut self, pos: usize) {
        self.pos = pos.min(self.data.len());
    }

    /// Whether everything was read.
    #[inline]
    pub fn at_end(&self) -> bool {
        self.pos == self.data.len()
    }

    /// An error unless everything was read.
    #[inline]
    pub fn end(&self) -> Result<(), CodecError> {
        if self.at_end() {
            Ok(())
        } else {
            Err(CodecError(format!(
                "{} unexpected bytes after the end",
                self.data.len() - self.pos
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_integers_encode_alike_through_either_path() {
        for i in [0i64, 1, -1, 63, -64, 64, -65, 1 << 40, i64::MIN, i64::MAX] {
            let mut buf = Vec::new();
            Encoder(&mut buf).value(&Value::Int(i));
            assert_eq!(buf.len() == 2, (-64..64).contains(&i), "{i}");
            assert_eq!(Decoder::new(&buf).value(), Ok(Value::Int(i)));
        }
    }

    fn kinds() -> Vec<Value> {
        vec![
            Value::Null,
            Value::Bool(true),
            Value::Bool(false),
            Value::Int(i64::MIN),
            Value::Int(i64::MAX),
            Value::Int(-3),
            Value::Int(0),
            Value::Int(300),
            Value::Float(0.1),
            Value::Float(f64::NEG_INFINITY),
            Value::Str("a\tb\nç".into()),
            Value::List(vec![
                Value::Int(1),
                Value::List(vec![Value::Str("x".into())]),
                Value::Null,
            ]),
        ]
    }

    #[test]
    fn values_round_trip() {
        let mut buf = Vec::new();
        let mut e = Encoder(&mut buf);
        for v in kinds() {
            e.value(&v);
        }
        e.value(&Value::Float(f64::NAN));
        e.strs(&["p".into(), String::new()]);
        let mut skip = Decoder::new(&buf);
        for _ in 0..kinds().len() + 1 {
            skip.skip_value().unwrap();
        }
        assert_eq!(skip.strs().unwrap().len(), 2);
        skip.end().unwrap();
        let mut d = Decoder::new(&buf);
        for v in kinds() {
            assert_eq!(d.value().unwrap(), v);
        }
        assert!(matches!(d.value().unwrap(), Value::Float(f) if f.is_nan()));
        assert_eq!(d.strs().unwrap(), vec!["p".to_string(), String::new()]);
        d.end().unwrap();
    }

    #[test]
    fn damaged_data_is_an_error_not_a_panic() {
        let mut buf = Vec::new();
        Encoder(&mut buf).value(&Value::List(vec![Value::Str("hello".into())]));
        // Every truncation fails cleanly.
        for cut in 0..buf.len() {
            let mut d = Decoder::new(&buf[..cut]);
            assert!(d.value().is_err(), "cut at {cut}");
        }
        // A huge announced length does not allocate or read past the end.
        let mut d = Decoder::new(&[V_STR, 0xff, 0xff, 0xff, 0x0f, b'a']);
        assert_eq!(d.value().unwrap_err().0, "the data ends early");
        let mut d = Decoder::new(&[
            V_INT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ]);
        assert_eq!(d.value().unwrap_err().0, "a number is longer than 64 bits");
        // Small numbers are small.
        let mut buf = Vec::new();
        Encoder(&mut buf).value(&Value::Int(-3));
        assert_eq!(buf, [V_INT, 5]);
        assert_eq!(
            Decoder::new(&[9]).value().unwrap_err().0,
            "unknown value kind 9"
        );
        assert!(Decoder::new(&[V_STR, 1, 0xff]).value().is_err());
        // Ten bytes are enough for any u64; bits beyond it are refused.
        let mut max = vec![V_INT];
        max.extend([0xff; 9]);
        max.push(0x01);
        assert!(Decoder::new(&max).value().is_ok());
        *max.last_mut().unwrap() = 0x7f;
        assert_eq!(
            Decoder::new(&max).value().unwrap_err().0,
            "a number is longer than 64 bits"
        );
        // Deep nesting is an error, not a stack overflow.
        let deep: Vec<u8> = std::iter::repeat_n([V_LIST, 1], 100_000)
            .flatten()
            .collect();
        assert_eq!(
            Decoder::new(&deep).value().unwrap_err().0,
            "lists are nested more than 64 deep"
        );
        assert!(Decoder::new(&deep).skip_value().is_err());
        let mut d = Decoder::new(&[V_NULL, 7]);
        d.value().unwrap();
        assert_eq!(d.end().unwrap_err().0, "1 unexpected bytes after the end");
    }
}
