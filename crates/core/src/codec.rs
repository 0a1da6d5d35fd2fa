//! A compact binary form of [`Value`]s and of the strings and numbers around them,
//! shared by everything that moves values as bytes: the Python worker protocol and
//! the results store's blocks.
//!
//! Integers are little-endian with a fixed width; a string is a `u32` byte length and
//! its UTF-8 bytes; a value is a one-byte kind tag followed by its data:
//!
//! | kind | tag | data |
//! |---|---|---|
//! | null | 0 | none |
//! | bool | 1 | one byte, 0 or 1 |
//! | int | 2 | `i64` |
//! | float | 3 | the `f64` bits (NaN and infinities kept exactly) |
//! | str | 4 | string |
//! | list | 5 | `u32` item count, then the items |
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

/// Appends encoded data to a buffer.
#[derive(Debug)]
pub struct Encoder<'a>(pub &'a mut Vec<u8>);

impl Encoder<'_> {
    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    /// A length or count, as `u32` (saturating: callers keep their data below 4 GiB).
    pub fn u32(&mut self, v: usize) {
        self.0
            .extend_from_slice(&(v.min(u32::MAX as usize) as u32).to_le_bytes());
    }

    /// A 64-bit number.
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    /// A string: length, then bytes.
    pub fn str(&mut self, s: &str) {
        self.u32(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }

    /// A list of strings: count, then each string.
    pub fn strs(&mut self, items: &[String]) {
        self.u32(items.len());
        for s in items {
            self.str(s);
        }
    }

    /// A value: kind tag, then data.
    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.u8(V_NULL),
            Value::Bool(b) => {
                self.u8(V_BOOL);
                self.u8(*b as u8);
            }
            Value::Int(i) => {
                self.u8(V_INT);
                self.u64(*i as u64);
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
                self.u32(items.len());
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
    pub fn new(data: &'a [u8]) -> Decoder<'a> {
        Decoder { data, pos: 0 }
    }

    /// The next `n` bytes.
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
    pub fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }

    /// A `u32` length or count.
    pub fn u32(&mut self) -> Result<usize, CodecError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    /// A 64-bit number.
    pub fn u64(&mut self) -> Result<u64, CodecError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A string, borrowed from the data.
    pub fn str_ref(&mut self) -> Result<&'a str, CodecError> {
        let n = self.u32()?;
        let b = self.take(n)?;
        std::str::from_utf8(b).map_err(|_| CodecError("a string is not UTF-8".into()))
    }

    /// A string.
    pub fn str(&mut self) -> Result<String, CodecError> {
        self.str_ref().map(str::to_string)
    }

    /// A list of strings.
    pub fn strs(&mut self) -> Result<Vec<String>, CodecError> {
        let n = self.u32()?;
        let mut v = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            v.push(self.str()?);
        }
        Ok(v)
    }

    /// A value.
    pub fn value(&mut self) -> Result<Value, CodecError> {
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
            t => return Err(CodecError(format!("unknown value kind {t}"))),
        })
    }

    /// Whether everything was read.
    pub fn at_end(&self) -> bool {
        self.pos == self.data.len()
    }

    /// An error unless everything was read.
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

    fn kinds() -> Vec<Value> {
        vec![
            Value::Null,
            Value::Bool(true),
            Value::Bool(false),
            Value::Int(i64::MIN),
            Value::Int(-3),
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
        let mut d = Decoder::new(&[V_STR, 0xff, 0xff, 0xff, 0xff, b'a']);
        assert_eq!(d.value().unwrap_err().0, "the data ends early");
        assert_eq!(
            Decoder::new(&[9]).value().unwrap_err().0,
            "unknown value kind 9"
        );
        assert!(Decoder::new(&[V_STR, 1, 0, 0, 0, 0xff]).value().is_err());
        let mut d = Decoder::new(&[V_NULL, 7]);
        d.value().unwrap();
        assert_eq!(d.end().unwrap_err().0, "1 unexpected bytes after the end");
    }
}
