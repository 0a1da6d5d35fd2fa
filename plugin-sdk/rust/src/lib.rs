/*!
Write polyplug compute plugins in Rust.

Implement [`Plugin`] for your state type, call [`export_plugin!`] once, and build the
crate as a `cdylib`. The result is a shared library that `polyplug run` loads directly,
without any `unsafe` in your code: the macro generates the C ABI glue, catches panics
(a panicking compute fails that entity only, never unwinds into the host) and turns
your [`Error`]s into entity errors.

```
use polyplug_sdk::{export_plugin, Error, Output, Params, ParamSpec, Plugin};

/// Counts G and C letters in each ID.
pub struct GcCount {
    computed: u64,
}

impl Plugin for GcCount {
    const ID: &'static str = "gc_count";
    const VERSION: &'static str = "1.0";
    const INPUT: &'static str = "a DNA sequence as the entity ID";
    const OUTPUT: &'static [&'static str] = &["length", "gc_count"];
    const PARAMETERS: &'static [ParamSpec] =
        &[ParamSpec::new("min_length", "int", "0", "IDs shorter than this give no result")];

    fn initialize(_params: &Params) -> Result<Self, Error> {
        Ok(GcCount { computed: 0 })
    }

    fn compute(&mut self, entity: &str, params: &Params, out: &mut Output) -> Result<(), Error> {
        if (entity.len() as i64) < params.int("min_length").unwrap_or(0) {
            out.log("length\tshorter than min_length");
            return Ok(()); // no result for this entity
        }
        let gc = entity.bytes().filter(|b| matches!(b, b'G' | b'C' | b'g' | b'c')).count();
        out.push(entity.len());
        out.push(gc);
        self.computed += 1;
        Ok(())
    }
}

export_plugin!(GcCount);
# fn main() {}
```

In `Cargo.toml`:

```toml
[lib]
crate-type = ["cdylib"]

[dependencies]
polyplug-sdk = "0.1"
```

# Threads

Each polyplug worker creates its own instance with [`Plugin::initialize`] and uses it
from one thread at a time, so `compute` takes `&mut self` and needs no locking. Your type
must be `Send` because a worker may be any thread.
*/
#![deny(missing_docs)]

use polyplug_abi as abi;
use std::ffi::c_char;
use std::fmt;

#[doc(hidden)]
pub mod __private;

/// One declared parameter, as a Prenacs PARAMETERS 4-tuple
/// `(name, datatype, default, documentation)`.
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    /// Parameter name.
    pub name: &'static str,
    /// Datatype: `int`, `float`, `str`, `bool`, `list` or `any`.
    pub datatype: &'static str,
    /// Default written as text (`"3"`, `"true"`); `""` for none.
    pub default: &'static str,
    /// One-line documentation.
    pub documentation: &'static str,
}

impl ParamSpec {
    /// A parameter declaration.
    pub const fn new(
        name: &'static str,
        datatype: &'static str,
        default: &'static str,
        documentation: &'static str,
    ) -> ParamSpec {
        ParamSpec {
            name,
            datatype,
            default,
            documentation,
        }
    }
}

/// A compute plugin. See the crate documentation for a complete example.
pub trait Plugin: Sized + Send + 'static {
    /// Plugin ID (at most 256 characters).
    const ID: &'static str;
    /// Plugin version (at most 64 characters).
    const VERSION: &'static str;
    /// What the plugin takes as input (at most 512 characters).
    const INPUT: &'static str;
    /// Output attribute names, in the order `compute` pushes values.
    const OUTPUT: &'static [&'static str];
    /// Declared parameters.
    const PARAMETERS: &'static [ParamSpec] = &[];
    /// How the values are computed.
    const METHOD: Option<&'static str> = None;
    /// How the method is implemented.
    const IMPLEMENTATION: Option<&'static str> = None;
    /// Software the plugin needs.
    const REQ_SOFTWARE: Option<&'static str> = None;
    /// Hardware the plugin needs.
    const REQ_HARDWARE: Option<&'static str> = None;
    /// Advice for users.
    const ADVICE: Option<&'static str> = None;
    /// Set to `true` when [`Plugin::compute_id`] is implemented (`--idsproc`).
    const HAS_COMPUTE_ID: bool = false;

    /// Creates one worker's state; called once per worker before its first compute.
    fn initialize(params: &Params) -> Result<Self, Error>;

    /// Computes one entity: push the values in OUTPUT order into `out`, and any logs.
    /// Pushing nothing means "no result for this entity".
    fn compute(&mut self, entity: &str, params: &Params, out: &mut Output) -> Result<(), Error>;

    /// Computes one record of records mode (`polyplug run … records <format>
    /// <file>…`): `entity` is the record's name, `record` its bytes and fields. By
    /// default it calls [`Plugin::compute`] with the name, so a plugin written for IDs
    /// runs over records unchanged; implement it to use the record itself.
    fn compute_record(
        &mut self,
        entity: &str,
        record: &Record<'_>,
        params: &Params,
        out: &mut Output,
    ) -> Result<(), Error> {
        let _ = record;
        self.compute(entity, params, out)
    }

    /// Called once per worker after its last compute, also when some entities failed.
    /// The state is dropped afterwards.
    fn finalize(&mut self, _params: &Params, _out: &mut Output) -> Result<(), Error> {
        Ok(())
    }

    /// Computes the output ID of an input unit (`--idsproc`); set
    /// [`Plugin::HAS_COMPUTE_ID`] when you implement it.
    fn compute_id(_unit: &str) -> Result<String, Error> {
        Err(Error::new("compute_id is not implemented"))
    }
}

/// An error that fails the current entity (or initialize/finalize). Any
/// `std::error::Error` converts into it, so `?` works on I/O and parse errors.
pub struct Error(String);

impl Error {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Error {
        Error(message.into())
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(e: E) -> Error {
        Error(e.to_string())
    }
}

/// A parameter value, borrowed from the host for the duration of a call.
#[derive(Clone, Copy)]
pub struct ParamValue<'a> {
    raw: &'a abi::Value,
}

impl<'a> ParamValue<'a> {
    /// The integer, if the value is one.
    pub fn as_int(&self) -> Option<i64> {
        match self.raw.kind {
            // SAFETY: the host sets `kind` to match the initialized union field.
            abi::kind::INT => Some(unsafe { self.raw.as_.integer }),
            _ => None,
        }
    }
    /// The number, if the value is a float or an integer.
    pub fn as_float(&self) -> Option<f64> {
        match self.raw.kind {
            // SAFETY: `kind` tells which union field the host initialized.
            abi::kind::FLOAT => Some(unsafe { self.raw.as_.real }),
            // SAFETY: as above.
            abi::kind::INT => Some(unsafe { self.raw.as_.integer } as f64),
            _ => None,
        }
    }
    /// The boolean, if the value is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self.raw.kind {
            // SAFETY: `kind` tells which union field the host initialized.
            abi::kind::BOOL => Some(unsafe { self.raw.as_.boolean } != 0),
            _ => None,
        }
    }
    /// The string, if the value is one.
    pub fn as_str(&self) -> Option<&'a str> {
        if self.raw.kind != abi::kind::STR {
            return None;
        }
        // SAFETY: `kind` is STR, so `string` is initialized, pointing to `len` bytes of
        // UTF-8 that the host keeps alive during the call.
        unsafe { __private::str_from_abi(self.raw.as_.string) }
    }
    /// The list items, if the value is a list.
    pub fn as_list(&self) -> Option<Vec<ParamValue<'a>>> {
        if self.raw.kind != abi::kind::LIST {
            return None;
        }
        // SAFETY: `kind` is LIST, so `list` is initialized.
        let list = unsafe { self.raw.as_.list };
        if list.len == 0 || list.items.is_null() {
            return Some(Vec::new());
        }
        // SAFETY: the host passes `len` initialized values at `items`, alive during the call.
        let items = unsafe { std::slice::from_raw_parts(list.items, list.len) };
        Some(items.iter().map(|raw| ParamValue { raw }).collect())
    }
    /// Whether the value is null.
    pub fn is_null(&self) -> bool {
        self.raw.kind == abi::kind::NULL
    }
}

/// The parameters of the run: every declared parameter with a value (given with
/// `--params`, or its default), already converted to its declared datatype.
pub struct Params<'a> {
    raw: &'a [abi::Param],
}

impl<'a> Params<'a> {
    /// The value of `name`, if it has one.
    pub fn get(&self, name: &str) -> Option<ParamValue<'a>> {
        self.raw.iter().find_map(|p| {
            // SAFETY: parameter names are valid UTF-8 borrowed for the call.
            let n = unsafe { __private::str_from_abi(p.name) }?;
            (n == name).then_some(ParamValue { raw: &p.value })
        })
    }
    /// The integer parameter `name`.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name)?.as_int()
    }
    /// The number parameter `name`.
    pub fn float(&self, name: &str) -> Option<f64> {
        self.get(name)?.as_float()
    }
    /// The boolean parameter `name`.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.get(name)?.as_bool()
    }
    /// The string parameter `name`.
    pub fn str(&self, name: &str) -> Option<&'a str> {
        self.get(name)?.as_str()
    }
    /// The names of the parameters that have a value.
    pub fn names(&self) -> Vec<&'a str> {
        self.raw
            .iter()
            // SAFETY: parameter names are valid UTF-8 borrowed for the call.
            .filter_map(|p| unsafe { __private::str_from_abi(p.name) })
            .collect()
    }
}

/// One record of records mode, borrowed for the call: its bytes as they are in its
/// file without the final line ending (for FASTA the header line and the sequence
/// lines; for the line formats the line), and its named fields (CSV/TSV columns,
/// JSONL members; FASTA `description` and `sequence`; FASTQ `description`,
/// `sequence` and `quality`).
#[derive(Clone, Copy)]
pub struct Record<'a> {
    bytes: &'a [u8],
    fields: &'a [abi::Field],
}

impl<'a> Record<'a> {
    /// The record's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The record's bytes as text, if they are UTF-8.
    pub fn text(&self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes).ok()
    }

    /// The value of the field `name`, if the record has one.
    pub fn field(&self, name: &str) -> Option<&'a str> {
        self.fields().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The fields, in order, as (name, value).
    pub fn fields(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.fields.iter().filter_map(|f| {
            // SAFETY: the host's fields are UTF-8 and alive during the call ('a).
            let name = unsafe { __private::str_from_abi(f.name) }?;
            // SAFETY: as above.
            let value = unsafe { __private::str_from_abi(f.value) }?;
            Some((name, value))
        })
    }

    #[doc(hidden)]
    pub fn __new(bytes: &'a [u8], fields: &'a [abi::Field]) -> Record<'a> {
        Record { bytes, fields }
    }
}

impl fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("bytes", &self.bytes.len())
            .field("fields", &self.fields().collect::<Vec<_>>())
            .finish()
    }
}

/// A value that can be pushed as a result.
pub trait IntoValue {
    /// Pushes `self` through `out`.
    fn push_into(self, out: &mut Output);
}

/// Where `compute` puts its results and logs. Values are copied to the host at once.
pub struct Output<'a> {
    api: &'a abi::HostApi,
    sink: *mut abi::Sink,
}

impl Output<'_> {
    /// Pushes one result value (integers, floats, booleans, strings, `Option`s,
    /// `Vec`s and slices of these).
    pub fn push<V: IntoValue>(&mut self, value: V) -> &mut Self {
        value.push_into(self);
        self
    }
    /// Pushes a null value.
    pub fn push_null(&mut self) -> &mut Self {
        // SAFETY: `sink` is the host's sink for the running call.
        unsafe { (self.api.push_null)(self.sink) };
        self
    }
    /// Adds a log message (suggested form `key\tmessage`).
    pub fn log(&mut self, message: impl AsRef<str>) -> &mut Self {
        let m = message.as_ref();
        // SAFETY: `m` is valid for `len` bytes during the callback, which copies it.
        unsafe { (self.api.log)(self.sink, m.as_ptr().cast::<c_char>(), m.len()) };
        self
    }
    fn push_str(&mut self, s: &str) {
        // SAFETY: `s` is valid for `len` bytes during the callback, which copies it.
        unsafe { (self.api.push_str)(self.sink, s.as_ptr().cast::<c_char>(), s.len()) };
    }
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl IntoValue for $t {
            fn push_into(self, out: &mut Output) {
                // SAFETY: `sink` is the host's sink for the running call.
                unsafe { (out.api.push_int)(out.sink, self as i64) };
            }
        }
    )*};
}
int_value!(i8, i16, i32, i64, u8, u16, u32, usize, isize);

impl IntoValue for u64 {
    fn push_into(self, out: &mut Output) {
        match i64::try_from(self) {
            // SAFETY: `sink` is the host's sink for the running call.
            Ok(v) => unsafe { (out.api.push_int)(out.sink, v) },
            // SAFETY: as above.
            Err(_) => unsafe { (out.api.push_float)(out.sink, self as f64) },
        }
    }
}
impl IntoValue for f64 {
    fn push_into(self, out: &mut Output) {
        // SAFETY: `sink` is the host's sink for the running call.
        unsafe { (out.api.push_float)(out.sink, self) };
    }
}
impl IntoValue for f32 {
    fn push_into(self, out: &mut Output) {
        (self as f64).push_into(out)
    }
}
impl IntoValue for bool {
    fn push_into(self, out: &mut Output) {
        // SAFETY: `sink` is the host's sink for the running call.
        unsafe { (out.api.push_bool)(out.sink, self as i32) };
    }
}
impl IntoValue for &str {
    fn push_into(self, out: &mut Output) {
        out.push_str(self)
    }
}
impl IntoValue for String {
    fn push_into(self, out: &mut Output) {
        out.push_str(&self)
    }
}
impl IntoValue for &String {
    fn push_into(self, out: &mut Output) {
        out.push_str(self)
    }
}
impl<T: IntoValue> IntoValue for Option<T> {
    fn push_into(self, out: &mut Output) {
        match self {
            Some(v) => v.push_into(out),
            None => {
                out.push_null();
            }
        }
    }
}
impl<T: IntoValue> IntoValue for Vec<T> {
    fn push_into(self, out: &mut Output) {
        // SAFETY: `sink` is the host's sink for the running call.
        unsafe { (out.api.begin_list)(out.sink) };
        for v in self {
            v.push_into(out);
        }
        // SAFETY: as above; closes the list opened above.
        unsafe { (out.api.end_list)(out.sink) };
    }
}
impl<T: IntoValue + Clone> IntoValue for &[T] {
    fn push_into(self, out: &mut Output) {
        self.to_vec().push_into(out)
    }
}

/// Exports a type implementing [`Plugin`] as the library's polyplug plugin. Call it
/// once per `cdylib`.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        /// The polyplug entry point (generated by `polyplug_sdk::export_plugin!`).
        #[no_mangle]
        pub extern "C" fn polyplug_plugin() -> *const $crate::__private::abi::PluginDescriptor {
            static DESCRIPTOR: ::std::sync::OnceLock<$crate::__private::Descriptor> =
                ::std::sync::OnceLock::new();
            $crate::__private::entry::<$plugin>(&DESCRIPTOR)
        }
    };
}
