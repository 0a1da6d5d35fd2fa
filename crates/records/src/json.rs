//! JSON lines: a record's ID and its fields, read with serde_json without building a
//! `serde_json::Value` (members come in the order of the line, values keep their
//! JSON text as written: nothing depends on serde_json's `preserve_order`, which
//! would change the key order of every `serde_json::Map` in the binary).

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A record's fields, kept between records so that their strings are reused.
#[derive(Debug, Default)]
pub(crate) struct FieldPool {
    list: Vec<(String, String)>,
    len: usize,
}

impl FieldPool {
    /// Forgets the fields (keeping their strings' memory).
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// A new, empty field at the end.
    pub(crate) fn push(&mut self) -> &mut (String, String) {
        if self.len == self.list.len() {
            self.list.push((String::new(), String::new()));
        }
        let field = &mut self.list[self.len];
        field.0.clear();
        field.1.clear();
        self.len += 1;
        field
    }

    /// Adds the field `name` = `value`.
    pub(crate) fn add(&mut self, name: &str, value: &str) {
        let field = self.push();
        field.0.push_str(name);
        field.1.push_str(value);
    }

    /// Adds the field `name` with the text in `value` without copying it: `value` is
    /// given in exchange the memory of a value the pool no longer needs, emptied.
    pub(crate) fn add_swapped(&mut self, name: &str, value: &mut String) {
        let field = self.push();
        field.0.push_str(name);
        std::mem::swap(&mut field.1, value);
        value.clear();
    }

    /// The fields.
    pub(crate) fn fields(&self) -> &[(String, String)] {
        &self.list[..self.len]
    }
}

/// What an ID member's value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IdValue<'a> {
    /// A string (its text) or a number (its JSON text): a usable ID.
    Text(Cow<'a, str>),
    /// Something else (`null`, a boolean, an array, an object), as JSON.
    Other(&'a str),
}

/// Why a line has no usable ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NoId {
    /// The line is not a JSON object (serde_json's message).
    NotAnObject(String),
    /// The object has no such member.
    Missing,
    /// The member is not a string or a number (its JSON text).
    NotText(String),
}

/// A string read into a `Cow`, borrowed from the line unless it has escapes.
struct CowStr;

impl<'de> DeserializeSeed<'de> for CowStr {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for CowStr {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// The ID a raw value gives.
fn classify(raw: &RawValue) -> Result<IdValue<'_>, serde_json::Error> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => {
            let mut d = serde_json::Deserializer::from_str(text);
            Ok(IdValue::Text(CowStr.deserialize(&mut d)?))
        }
        Some(b'-' | b'0'..=b'9') => Ok(IdValue::Text(Cow::Borrowed(text))),
        _ => Ok(IdValue::Other(text)),
    }
}

/// Finds the first member `member` of the object on `line`.
struct FindMember<'m> {
    member: &'m str,
}

impl<'de> DeserializeSeed<'de> for FindMember<'_> {
    type Value = Option<&'de RawValue>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FindMember<'_> {
    type Value = Option<&'de RawValue>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key_seed(CowStr)? {
            if found.is_none() && key == self.member {
                found = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// `line` without a UTF-8 byte order mark.
fn without_bom(line: &[u8]) -> &[u8] {
    line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(line)
}

/// The ID of the object on `line`: the text of its member `member`.
pub(crate) fn find_id<'a>(line: &'a [u8], member: &str) -> Result<Cow<'a, str>, NoId> {
    let mut d = serde_json::Deserializer::from_slice(without_bom(line));
    let found = FindMember { member }
        .deserialize(&mut d)
        .and_then(|found| d.end().map(|()| found))
        .map_err(|e| NoId::NotAnObject(e.to_string()))?;
    match found.map(classify) {
        None => Err(NoId::Missing),
        Some(Ok(IdValue::Text(t))) => Ok(t),
        Some(Ok(IdValue::Other(t))) => Err(NoId::NotText(t.to_string())),
        Some(Err(e)) => Err(NoId::NotAnObject(e.to_string())),
    }
}

/// Where an object's ID member is among its fields, and whether its value is a
/// string or a number (`Err`: its JSON text); `None` when it has no such member.
pub(crate) type IdField = Option<(usize, Result<(), String>)>;

/// Reads every member of an object into a [`FieldPool`]: strings as their text,
/// other values as their JSON text. Gives the index of the first member named
/// `member` and whether its value is a usable ID.
struct ReadFields<'p, 'm> {
    pool: &'p mut FieldPool,
    member: &'m str,
}

impl<'de> DeserializeSeed<'de> for ReadFields<'_, '_> {
    type Value = IdField;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ReadFields<'_, '_> {
    type Value = IdField;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut id = None;
        let mut i = 0;
        while let Some(key) = map.next_key_seed(CowStr)? {
            let raw = map.next_value::<&'de RawValue>()?;
            let value = classify(raw).map_err(serde::de::Error::custom)?;
            let is_id = id.is_none() && key == self.member;
            let field = self.pool.push();
            field.0.push_str(&key);
            match value {
                IdValue::Text(t) => {
                    field.1.push_str(&t);
                    if is_id {
                        id = Some((i, Ok(())));
                    }
                }
                IdValue::Other(t) => {
                    field.1.push_str(t);
                    if is_id {
                        id = Some((i, Err(t.to_string())));
                    }
                }
            }
            i += 1;
        }
        Ok(id)
    }
}

/// Parses the object on `line` into `pool` (cleared first). Gives where its member
/// `member` is (`None`: it has none) and whether that is a string or a number
/// (`Err`: its JSON text); `Err` outside when the line is not a JSON object.
pub(crate) fn read_fields(
    line: &[u8],
    member: &str,
    pool: &mut FieldPool,
) -> Result<IdField, String> {
    pool.clear();
    let mut d = serde_json::Deserializer::from_slice(without_bom(line));
    let id = ReadFields { pool, member }
        .deserialize(&mut d)
        .map_err(|e| e.to_string())?;
    d.end().map_err(|e| e.to_string())?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_strings_text_and_numbers_json() {
        assert_eq!(
            find_id(br#"{"a": 1, "id": "x\"y"}"#, "id"),
            Ok(Cow::Borrowed("x\"y"))
        );
        assert_eq!(
            find_id(br#"{"id": 1.50e3, "id": 2}"#, "id").unwrap(),
            "1.50e3"
        );
        assert_eq!(find_id(br#"{"id": -7}"#, "id").unwrap(), "-7");
        assert_eq!(find_id(b"\xef\xbb\xbf{\"id\": \"b\"}", "id").unwrap(), "b");
        assert_eq!(find_id(br#"{"x": 1}"#, "id"), Err(NoId::Missing));
        assert_eq!(
            find_id(br#"{"id": null}"#, "id"),
            Err(NoId::NotText("null".into()))
        );
        assert_eq!(
            find_id(br#"{"id": [1, 2]}"#, "id"),
            Err(NoId::NotText("[1, 2]".into()))
        );
        assert!(matches!(find_id(b"[1]", "id"), Err(NoId::NotAnObject(_))));
        assert!(matches!(
            find_id(b"{\"id\": 1} x", "id"),
            Err(NoId::NotAnObject(_))
        ));
        assert!(matches!(
            find_id(b"{\"id\": 1", "id"),
            Err(NoId::NotAnObject(_))
        ));
    }

    #[test]
    fn fields_keep_their_order_and_text() {
        let mut pool = FieldPool::default();
        let line = br#"{"z": "a\tb", "id": 12, "n": 1.0, "o": {"b": 1, "a": [true, null]}}"#;
        let id = read_fields(line, "id", &mut pool).unwrap();
        assert_eq!(id, Some((1, Ok(()))));
        let got: Vec<(&str, &str)> = pool
            .fields()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("z", "a\tb"),
                ("id", "12"),
                ("n", "1.0"),
                ("o", r#"{"b": 1, "a": [true, null]}"#)
            ]
        );
        // The pool is reused: fewer fields the second time.
        let id = read_fields(br#"{"id": false}"#, "id", &mut pool).unwrap();
        assert_eq!(id, Some((0, Err("false".to_string()))));
        assert_eq!(pool.fields().len(), 1);
        assert!(read_fields(b"\"text\"", "id", &mut pool).is_err());
        assert_eq!(read_fields(b"{}", "id", &mut pool), Ok(None));
    }
}
