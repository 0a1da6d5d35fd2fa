/*!
Write polyplug compute plugins in Rust that run as sandboxed WebAssembly.

The API is the one of the native Rust SDK (`polyplug-sdk`): implement [`Plugin`] for
your state type and call [`export_plugin!`] once. The macro exports the functions of
the polyplug WebAssembly guest ABI (`plugin-sdk/wasm/ABI.md`); your code needs no
`unsafe`. Build the crate as a `cdylib` for `wasm32-unknown-unknown` (or
`wasm32-wasi`):

```text
rustc --edition 2021 --crate-type rlib --target wasm32-unknown-unknown -O \
    --crate-name polyplug_wasm --cfg 'feature="std"' plugin-sdk/wasm/rust/src/lib.rs \
    -o build/libpolyplug_wasm.rlib
rustc --edition 2021 --crate-type cdylib --target wasm32-unknown-unknown -O \
    -L build --extern polyplug_wasm=build/libpolyplug_wasm.rlib my_plugin.rs \
    -o my_plugin.wasm
```

or, with cargo and a rustup wasm target, depend on this crate (`features = ["std"]`)
and `cargo build --target wasm32-unknown-unknown --release`.

The crate is `no_std` (it needs `alloc`), so it also serves `no_std` plugins, which
then bring their own allocator and panic handler. With the `std` feature a panic's
message is reported as the entity's error before the instance traps.

# Files

`std::fs` does not work on `wasm32-unknown-unknown`; [`fs::read`] does, on either
target, through the sandbox's WASI functions. In `files` mode the entity's file is
readable; folders granted with `--allow-dir` are readable and can be listed with
[`fs::list`] (and are writable with `DIR:rw`, see [`fs::write`]); any other path
fails with [`fs::FsError::NOT_CAPABLE`].

# Threads

Each polyplug worker has its own instance with its own memory, so the state made by
[`Plugin::initialize`] is used by one thread only.

This crate is compiled by plain `rustc` (1.63 and later) and is not a member of the
host's cargo workspace.
*/
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The guest ABI version this crate implements.
pub const ABI_VERSION: i32 = 1;

#[allow(missing_docs)]
mod imports {
    #[link(wasm_import_module = "polyplug")]
    extern "C" {
        pub fn push_null();
        pub fn push_bool(value: i32);
        pub fn push_int(value: i64);
        pub fn push_float(value: f64);
        pub fn push_str(ptr: *const u8, len: usize);
        pub fn begin_list();
        pub fn end_list();
        pub fn log(ptr: *const u8, len: usize);
        pub fn error(ptr: *const u8, len: usize);
        pub fn next_entity(dest: *mut u8, cap: usize) -> i32;
        pub fn end_entity(status: i32);
        pub fn input_len() -> usize;
        pub fn input_read(dest: *mut u8);
        pub fn record_len() -> i32;
        pub fn record_read(dest: *mut u8);
        pub fn fields_len() -> i32;
        pub fn fields_read(dest: *mut u8);
        pub fn params_len() -> usize;
        pub fn params_read(dest: *mut u8);
        pub fn meta(key: *const u8, key_len: usize, value: *const u8, value_len: usize);
        pub fn meta_param(
            name: *const u8,
            name_len: usize,
            datatype: *const u8,
            datatype_len: usize,
            default: *const u8,
            default_len: usize,
            doc: *const u8,
            doc_len: usize,
        );
    }
}

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

/// A compute plugin: its metadata as constants, its functions as methods. `Self` is the
/// state of one instance.
pub trait Plugin: Sized + 'static {
    /// Plugin ID (at most 256 characters).
    const ID: &'static str;
    /// Plugin version (at most 64 characters).
    const VERSION: &'static str;
    /// What an entity is (at most 512 characters).
    const INPUT: &'static str;
    /// Names of the output attributes, in the order values are pushed.
    const OUTPUT: &'static [&'static str];
    /// Declared parameters.
    const PARAMETERS: &'static [ParamSpec] = &[];
    /// What the plugin computes.
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

    /// Makes the state of one instance; runs once per worker.
    fn initialize(params: &Params) -> Result<Self, Error>;

    /// Computes one entity: push the values in OUTPUT order (none for "no result")
    /// and any logs. An error fails this entity only.
    fn compute(&mut self, entity: &str, params: &Params, out: &mut Output) -> Result<(), Error>;

    /// Computes one record of records mode (`polyplug run … records <format>
    /// <file>…`): `entity` is the record's name, `record` its bytes and fields. By
    /// default it calls [`Plugin::compute`] with the name.
    fn compute_record(
        &mut self,
        entity: &str,
        record: &Record,
        params: &Params,
        out: &mut Output,
    ) -> Result<(), Error> {
        let _ = record;
        self.compute(entity, params, out)
    }

    /// Runs once per worker after its last compute; may log.
    fn finalize(&mut self, _params: &Params, _out: &mut Output) -> Result<(), Error> {
        Ok(())
    }

    /// The `--idsproc` function: the output ID of an input unit. Set
    /// [`Plugin::HAS_COMPUTE_ID`] when you implement it.
    fn compute_id(_unit: &str) -> Result<String, Error> {
        Err(Error::new("compute_id is not implemented"))
    }
}

/// One record of records mode: its bytes as they are in its file without the final
/// line ending (for FASTA the header line and the sequence lines), and its named
/// fields (CSV/TSV columns, JSONL members; FASTA `description` and `sequence`; FASTQ
/// `description`, `sequence` and `quality`).
#[derive(Debug, Default)]
pub struct Record {
    bytes: Vec<u8>,
    fields: Vec<(String, String)>,
}

impl Record {
    /// The record's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The record's bytes as text, if they are UTF-8.
    pub fn text(&self) -> Option<&str> {
        core::str::from_utf8(&self.bytes).ok()
    }

    /// The value of the field `name`, if the record has one.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The fields, in order, as (name, value).
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// The record of the running compute, if the entity is one.
    fn current() -> Option<Record> {
        // SAFETY: an import without arguments.
        let n = unsafe { imports::record_len() };
        if n < 0 {
            return None;
        }
        let mut bytes = alloc::vec![0u8; n as usize];
        // SAFETY: the host writes exactly `record_len()` bytes into the buffer.
        unsafe { imports::record_read(bytes.as_mut_ptr()) };
        // SAFETY: an import without arguments.
        let m = unsafe { imports::fields_len() };
        let mut fields = Vec::new();
        if m >= 4 {
            let mut blob = alloc::vec![0u8; m as usize];
            // SAFETY: the host writes exactly `fields_len()` bytes into the buffer.
            unsafe { imports::fields_read(blob.as_mut_ptr()) };
            fields = decode_fields(&blob).unwrap_or_default();
        }
        Some(Record { bytes, fields })
    }
}

/// The fields as the host encodes them: a `u32` count, then per field a `u32` name
/// length, the name, a `u32` value length, the value (little-endian).
fn decode_fields(blob: &[u8]) -> Option<Vec<(String, String)>> {
    let mut at = 0usize;
    let u32_at = |at: &mut usize| -> Option<usize> {
        let b = blob.get(*at..*at + 4)?;
        *at += 4;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let count = u32_at(&mut at)?;
    let mut fields = Vec::new();
    for _ in 0..count {
        let n = u32_at(&mut at)?;
        let name = core::str::from_utf8(blob.get(at..at + n)?).ok()?.into();
        at += n;
        let n = u32_at(&mut at)?;
        let value = core::str::from_utf8(blob.get(at..at + n)?).ok()?.into();
        at += n;
        fields.push((name, value));
    }
    Some(fields)
}

/// An error message that fails the entity (or initialize/finalize).
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

impl From<fs::FsError> for Error {
    fn from(e: fs::FsError) -> Error {
        Error(alloc::format!("{}", e))
    }
}

/// A parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// No value.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<ParamValue>),
}

/// The parameters of the run: every declared parameter that has a value (given or
/// defaulted), converted to its declared datatype.
#[derive(Debug, Clone, Default)]
pub struct Params {
    entries: Vec<(String, ParamValue)>,
}

impl Params {
    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The integer parameter `name`.
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(ParamValue::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// The number parameter `name` (a float, or an integer converted).
    pub fn float(&self, name: &str) -> Option<f64> {
        match self.get(name) {
            Some(ParamValue::Float(f)) => Some(*f),
            Some(ParamValue::Int(i)) => Some(*i as f64),
            _ => None,
        }
    }

    /// The boolean parameter `name`.
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name) {
            Some(ParamValue::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// The string parameter `name`.
    pub fn str(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(ParamValue::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// Names of the parameters that have a value.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Decodes the host's encoding (`ABI.md`, "Parameters").
    fn decode(blob: &[u8]) -> Option<Params> {
        let mut r = Reader { b: blob };
        let n = r.u32()?;
        let mut entries = Vec::new();
        for _ in 0..n {
            let len = r.u32()? as usize;
            let name = String::from_utf8(r.take(len)?.to_vec()).ok()?;
            entries.push((name, r.value()?));
        }
        Some(Params { entries })
    }
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }
    fn value(&mut self) -> Option<ParamValue> {
        let kind = self.take(1)?[0];
        Some(match kind {
            0 => ParamValue::Null,
            1 => ParamValue::Bool(self.take(1)?[0] != 0),
            2 => ParamValue::Int(self.u64()? as i64),
            3 => ParamValue::Float(f64::from_bits(self.u64()?)),
            4 => {
                let n = self.u32()? as usize;
                ParamValue::Str(String::from_utf8(self.take(n)?.to_vec()).ok()?)
            }
            5 => {
                let n = self.u32()?;
                let mut items = Vec::new();
                for _ in 0..n {
                    items.push(self.value()?);
                }
                ParamValue::List(items)
            }
            _ => return None,
        })
    }
}

/// Receives what a call produces: result values and log messages. The host copies
/// everything at once.
pub struct Output {
    _private: (),
}

/// A value that can be pushed as a result.
pub trait IntoValue {
    /// Pushes `self`.
    fn push_into(self, out: &mut Output);
}

impl Output {
    /// Appends a result value.
    pub fn push<V: IntoValue>(&mut self, value: V) -> &mut Self {
        value.push_into(self);
        self
    }

    /// Appends a null result.
    pub fn push_null(&mut self) -> &mut Self {
        // SAFETY: an import without arguments; the host only records a value.
        unsafe { imports::push_null() };
        self
    }

    /// Adds a log message (suggested form `key<TAB>message`).
    pub fn log(&mut self, message: impl AsRef<str>) -> &mut Self {
        let m = message.as_ref();
        // SAFETY: `m` is `len` readable bytes; the host copies them before returning.
        unsafe { imports::log(m.as_ptr(), m.len()) };
        self
    }
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl IntoValue for $t {
            fn push_into(self, _: &mut Output) {
                // SAFETY: a plain integer argument.
                unsafe { imports::push_int(self as i64) }
            }
        }
    )*};
}
int_value!(i8, i16, i32, i64, u8, u16, u32, usize, isize);

impl IntoValue for u64 {
    fn push_into(self, _: &mut Output) {
        // Values above i64::MAX do not fit the ABI's integer; they saturate.
        let v = if self > i64::MAX as u64 { i64::MAX } else { self as i64 };
        // SAFETY: a plain integer argument.
        unsafe { imports::push_int(v) }
    }
}

impl IntoValue for f64 {
    fn push_into(self, _: &mut Output) {
        // SAFETY: a plain float argument.
        unsafe { imports::push_float(self) }
    }
}

impl IntoValue for f32 {
    fn push_into(self, out: &mut Output) {
        (self as f64).push_into(out)
    }
}

impl IntoValue for bool {
    fn push_into(self, _: &mut Output) {
        // SAFETY: a plain integer argument.
        unsafe { imports::push_bool(self as i32) }
    }
}

impl IntoValue for &str {
    fn push_into(self, _: &mut Output) {
        // SAFETY: `self` is `len` readable bytes, copied by the host.
        unsafe { imports::push_str(self.as_ptr(), self.len()) }
    }
}

impl IntoValue for String {
    fn push_into(self, out: &mut Output) {
        self.as_str().push_into(out)
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
        // SAFETY: imports without arguments.
        unsafe { imports::begin_list() };
        for v in self {
            v.push_into(out);
        }
        // SAFETY: as above; closes the list begun above.
        unsafe { imports::end_list() };
    }
}

/// Reading (and, in `DIR:rw` folders, writing) files and listing folders through the
/// sandbox.
pub mod fs {
    use alloc::string::String;
    use alloc::vec::Vec;
    use core::fmt;

    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    extern "C" {
        fn path_open(
            fd: u32,
            dirflags: u32,
            path: *const u8,
            path_len: usize,
            oflags: u32,
            rights_base: u64,
            rights_inheriting: u64,
            fdflags: u32,
            opened: *mut u32,
        ) -> i32;
        fn fd_read(fd: u32, iovs: *const Iovec, n: usize, nread: *mut usize) -> i32;
        fn fd_write(fd: u32, iovs: *const Iovec, n: usize, nwritten: *mut usize) -> i32;
        fn fd_close(fd: u32) -> i32;
        fn fd_readdir(fd: u32, buf: *mut u8, len: usize, cookie: u64, used: *mut usize) -> i32;
    }

    #[repr(C)]
    struct Iovec {
        buf: *const u8,
        len: usize,
    }

    /// The sandbox's root folder: the one pre-opened directory.
    const ROOT_FD: u32 = 3;
    const RIGHT_FD_READ: u64 = 1 << 1;
    const RIGHT_FD_WRITE: u64 = 1 << 6;
    const RIGHT_FD_READDIR: u64 = 1 << 14;
    const OFLAG_CREAT: u32 = 1;
    const OFLAG_DIRECTORY: u32 = 2;
    const OFLAG_TRUNC: u32 = 8;
    /// Size of a WASI `dirent` before its name.
    const DIRENT: usize = 24;

    /// A WASI error number.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct FsError(pub i32);

    impl FsError {
        /// The path is outside what the run granted.
        pub const NOT_CAPABLE: FsError = FsError(76);
        /// No such file or directory.
        pub const NOT_FOUND: FsError = FsError(44);
        /// Permission denied (for example writing a read-only grant).
        pub const ACCESS: FsError = FsError(2);
    }

    impl fmt::Display for FsError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            // The texts of wasi-libc's strerror, so C and Rust plugins say the same.
            let text = match self.0 {
                76 => "Capabilities insufficient",
                44 => "No such file or directory",
                2 => "Permission denied",
                31 => "Is a directory",
                54 => "Not a directory",
                29 => "I/O error",
                n => return write!(f, "WASI error {}", n),
            };
            f.write_str(text)
        }
    }

    fn open(path: &str, write: bool) -> Result<u32, FsError> {
        let (rights, oflags) = if write {
            (RIGHT_FD_WRITE, OFLAG_CREAT | OFLAG_TRUNC)
        } else {
            (RIGHT_FD_READ, 0)
        };
        open_with(path, rights, oflags)
    }

    fn open_with(path: &str, rights: u64, oflags: u32) -> Result<u32, FsError> {
        let rel = path.trim_start_matches('/');
        let mut fd = 0u32;
        // SAFETY: `rel` is `len` readable bytes and `fd` a valid out-pointer, as
        // path_open requires.
        let e = unsafe { path_open(ROOT_FD, 1, rel.as_ptr(), rel.len(), oflags, rights, 0, 0, &mut fd) };
        if e != 0 {
            return Err(FsError(e));
        }
        Ok(fd)
    }

    /// Reads the whole file at `path` into `buf` (after what it holds).
    pub fn read_into(path: &str, buf: &mut Vec<u8>) -> Result<usize, FsError> {
        let fd = open(path, false)?;
        let start = buf.len();
        let result = loop {
            if buf.capacity() - buf.len() < 8192 {
                buf.reserve(buf.capacity().max(8192));
            }
            let spare = buf.capacity() - buf.len();
            let iov = Iovec {
                // SAFETY: the pointer is one past the initialized part, inside the
                // allocation (capacity > len).
                buf: unsafe { buf.as_mut_ptr().add(buf.len()) },
                len: spare,
            };
            let mut got = 0usize;
            // SAFETY: `iov` describes `spare` writable bytes of `buf`'s allocation.
            let e = unsafe { fd_read(fd, &iov, 1, &mut got) };
            if e != 0 {
                break Err(FsError(e));
            }
            if got == 0 {
                break Ok(buf.len() - start);
            }
            // SAFETY: the host wrote `got` <= `spare` bytes right after `len`.
            unsafe { buf.set_len(buf.len() + got) };
        };
        // SAFETY: `fd` was opened above and is closed once.
        unsafe { fd_close(fd) };
        result
    }

    /// Reads the whole file at `path`.
    pub fn read(path: &str) -> Result<Vec<u8>, FsError> {
        let mut v = Vec::new();
        read_into(path, &mut v)?;
        Ok(v)
    }

    /// The names in the folder at `path` (inside an `--allow-dir` folder), without `.`
    /// and `..`, sorted.
    pub fn list(path: &str) -> Result<Vec<String>, FsError> {
        let fd = open_with(path, RIGHT_FD_READDIR, OFLAG_DIRECTORY)?;
        let mut names = Vec::new();
        let mut buf: Vec<u8> = alloc::vec![0; 4096];
        let mut cookie = 0u64;
        let result = 'read: loop {
            let mut used = 0usize;
            // SAFETY: `buf` is `len` writable bytes and `used` a valid out-pointer.
            let e = unsafe { fd_readdir(fd, buf.as_mut_ptr(), buf.len(), cookie, &mut used) };
            if e != 0 {
                break Err(FsError(e));
            }
            let used = used.min(buf.len());
            let mut at = 0;
            while at + DIRENT <= used {
                let mut next = [0u8; 8];
                next.copy_from_slice(&buf[at..at + 8]);
                let mut len = [0u8; 4];
                len.copy_from_slice(&buf[at + 16..at + 20]);
                let len = u32::from_le_bytes(len) as usize;
                if at + DIRENT + len > used {
                    break; // cut: ask again from this entry
                }
                let name = &buf[at + DIRENT..at + DIRENT + len];
                if name != b"." && name != b".." {
                    names.push(String::from_utf8_lossy(name).into_owned());
                }
                cookie = u64::from_le_bytes(next);
                at += DIRENT + len;
            }
            if used < buf.len() {
                break 'read Ok(());
            }
            if at == 0 {
                // Not even one entry fits: a larger buffer.
                let larger = buf.len() * 2;
                buf.resize(larger, 0);
            }
        };
        // SAFETY: `fd` was opened above and is closed once.
        unsafe { fd_close(fd) };
        result.map(|()| {
            names.sort();
            names
        })
    }

    /// Creates or replaces the file at `path` (inside a `--allow-dir DIR:rw` folder).
    pub fn write(path: &str, data: &[u8]) -> Result<(), FsError> {
        let fd = open(path, true)?;
        let mut rest = data;
        let mut result = Ok(());
        while !rest.is_empty() {
            let iov = Iovec {
                buf: rest.as_ptr(),
                len: rest.len(),
            };
            let mut n = 0usize;
            // SAFETY: `iov` describes `rest`, readable; `n` is a valid out-pointer.
            let e = unsafe { fd_write(fd, &iov, 1, &mut n) };
            if e != 0 {
                result = Err(FsError(e));
                break;
            }
            rest = &rest[n.min(rest.len())..];
        }
        // SAFETY: `fd` was opened above and is closed once.
        unsafe { fd_close(fd) };
        result
    }
}

#[doc(hidden)]
pub mod __private {
    //! The export glue behind [`export_plugin!`](crate::export_plugin).
    use super::*;
    use core::cell::UnsafeCell;

    /// A global of the guest instance. An instance runs one call at a time on one
    /// thread and the host never re-enters it, so a call has the global to itself.
    pub struct Global<T>(UnsafeCell<T>);

    // SAFETY: a polyplug guest instance is single-threaded (the host refuses shared
    // memories and runs one export at a time), so no two threads ever see a Global.
    unsafe impl<T> Sync for Global<T> {}

    impl<T> Global<T> {
        /// A global holding `value`.
        pub const fn new(value: T) -> Global<T> {
            Global(UnsafeCell::new(value))
        }

        /// The value, exclusively.
        ///
        /// # Safety
        /// Call it at most once per export call and do not keep the reference past
        /// the call (the export glue does exactly that).
        #[allow(clippy::mut_from_ref)]
        pub unsafe fn get(&self) -> &mut T {
            // SAFETY: exclusive by the caller's contract and single-threadedness.
            unsafe { &mut *self.0.get() }
        }
    }

    static PARAMS: Global<Option<Params>> = Global::new(None);
    static INPUT: Global<Vec<u8>> = Global::new(Vec::new());

    fn meta(key: &str, value: &str) {
        // SAFETY: both strings are readable for their lengths; the host copies them.
        unsafe { imports::meta(key.as_ptr(), key.len(), value.as_ptr(), value.len()) }
    }

    fn report(e: &Error) -> i32 {
        let m = e.message();
        // SAFETY: `m` is readable for its length; the host copies it.
        unsafe { imports::error(m.as_ptr(), m.len()) };
        1
    }

    fn params() -> &'static Params {
        // SAFETY: called by the glue of one export call; the returned shared reference
        // is only read, and PARAMS is written only here, once, before it is handed out.
        let slot = unsafe { PARAMS.get() };
        if slot.is_none() {
            // SAFETY: imports with a valid destination of `params_len()` bytes.
            let n = unsafe { imports::params_len() };
            let mut blob = alloc::vec![0u8; n];
            unsafe { imports::params_read(blob.as_mut_ptr()) };
            *slot = Some(Params::decode(&blob).unwrap_or_default());
        }
        match slot {
            Some(p) => p,
            None => unreachable!(),
        }
    }

    /// The current input as text. Invalid UTF-8 is an error.
    fn input() -> Result<&'static str, Error> {
        // SAFETY: called once per export call, which alone uses INPUT.
        let buf = unsafe { INPUT.get() };
        // SAFETY: the host writes exactly `input_len()` bytes into the buffer sized
        // for them.
        let n = unsafe { imports::input_len() };
        buf.clear();
        buf.resize(n, 0);
        unsafe { imports::input_read(buf.as_mut_ptr()) };
        core::str::from_utf8(buf).map_err(|_| Error::new("the entity is not valid UTF-8"))
    }

    #[cfg(feature = "std")]
    fn install_panic_hook() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            std::panic::set_hook(alloc::boxed::Box::new(|info| {
                let m = alloc::format!("plugin panicked: {}", info);
                // SAFETY: `m` is readable for its length; the host copies it.
                unsafe { imports::error(m.as_ptr(), m.len()) };
            }));
        });
    }

    #[cfg(not(feature = "std"))]
    fn install_panic_hook() {}

    pub fn describe<P: Plugin>() -> i32 {
        meta("ID", P::ID);
        meta("VERSION", P::VERSION);
        meta("INPUT", P::INPUT);
        for (k, v) in [
            ("METHOD", P::METHOD),
            ("IMPLEMENTATION", P::IMPLEMENTATION),
            ("REQ_SOFTWARE", P::REQ_SOFTWARE),
            ("REQ_HARDWARE", P::REQ_HARDWARE),
            ("ADVICE", P::ADVICE),
        ] {
            if let Some(v) = v {
                meta(k, v);
            }
        }
        for o in P::OUTPUT {
            meta("OUTPUT", o);
        }
        for p in P::PARAMETERS {
            // SAFETY: eight (pointer, length) pairs of static strings; copied.
            unsafe {
                imports::meta_param(
                    p.name.as_ptr(),
                    p.name.len(),
                    p.datatype.as_ptr(),
                    p.datatype.len(),
                    p.default.as_ptr(),
                    p.default.len(),
                    p.documentation.as_ptr(),
                    p.documentation.len(),
                )
            }
        }
        meta("FUNCTION", "initialize");
        meta("FUNCTION", "compute");
        meta("FUNCTION", "finalize");
        if P::HAS_COMPUTE_ID {
            meta("FUNCTION", "compute_id");
        }
        0
    }

    pub fn initialize<P: Plugin>(state: &mut Option<P>) -> i32 {
        install_panic_hook();
        match P::initialize(params()) {
            Ok(s) => {
                *state = Some(s);
                0
            }
            Err(e) => report(&e),
        }
    }

    pub fn compute<P: Plugin>(state: &mut Option<P>) -> i32 {
        install_panic_hook();
        let s = match state {
            Some(s) => s,
            None => return report(&Error::new("compute called before initialize")),
        };
        let entity = match input() {
            Ok(e) => e,
            Err(e) => return report(&e),
        };
        let out = &mut Output { _private: () };
        let r = match Record::current() {
            Some(record) => s.compute_record(entity, &record, params(), out),
            None => s.compute(entity, params(), out),
        };
        match r {
            Ok(()) => 0,
            Err(e) => report(&e),
        }
    }

    /// A batch in one call: each entity the host gives is computed as
    /// [`compute`] computes it (without a record: a batch has none) and ended with
    /// its status.
    pub fn compute_batch<P: Plugin>(state: &mut Option<P>) -> i32 {
        install_panic_hook();
        let s = match state {
            Some(s) => s,
            None => return report(&Error::new("compute called before initialize")),
        };
        // SAFETY: called once per export call, which alone uses INPUT.
        let buf = unsafe { INPUT.get() };
        loop {
            buf.clear();
            // SAFETY: the host writes the entity into the buffer's room only when it
            // fits there (`capacity` bytes), and says how long it is.
            let n = unsafe { imports::next_entity(buf.as_mut_ptr(), buf.capacity()) };
            if n < 0 {
                return 0;
            }
            let n = n as usize;
            if n <= buf.capacity() {
                // SAFETY: the host wrote these `n` bytes.
                unsafe { buf.set_len(n) };
            } else {
                buf.resize(n, 0);
                // SAFETY: the buffer holds `input_len()` = `n` bytes.
                unsafe { imports::input_read(buf.as_mut_ptr()) };
            }
            let status = match core::str::from_utf8(buf) {
                Ok(entity) => match s.compute(entity, params(), &mut Output { _private: () }) {
                    Ok(()) => 0,
                    Err(e) => report(&e),
                },
                Err(_) => report(&Error::new("the entity is not valid UTF-8")),
            };
            // SAFETY: a host import without pointers.
            unsafe { imports::end_entity(status) };
        }
    }

    pub fn finalize<P: Plugin>(state: &mut Option<P>) -> i32 {
        let r = match state.as_mut() {
            Some(s) => match s.finalize(params(), &mut Output { _private: () }) {
                Ok(()) => 0,
                Err(e) => report(&e),
            },
            None => 0,
        };
        *state = None;
        r
    }

    pub fn compute_id<P: Plugin>() -> i32 {
        install_panic_hook();
        let unit = match input() {
            Ok(u) => u,
            Err(e) => return report(&e),
        };
        match P::compute_id(unit) {
            Ok(id) => {
                id.as_str().push_into(&mut Output { _private: () });
                0
            }
            Err(e) => report(&e),
        }
    }
}

/// Exports the guest ABI for the plugin type `$t`. Call it once, at the crate root.
#[macro_export]
macro_rules! export_plugin {
    ($t:ty) => {
        static __POLYPLUG_STATE: $crate::__private::Global<Option<$t>> =
            $crate::__private::Global::new(None);

        #[no_mangle]
        pub extern "C" fn polyplug_abi_version() -> i32 {
            $crate::ABI_VERSION
        }

        #[no_mangle]
        pub extern "C" fn polyplug_describe() -> i32 {
            $crate::__private::describe::<$t>()
        }

        #[no_mangle]
        pub extern "C" fn polyplug_initialize() -> i32 {
            // SAFETY: one export call at a time, never re-entered: the only reference.
            $crate::__private::initialize::<$t>(unsafe { __POLYPLUG_STATE.get() })
        }

        #[no_mangle]
        pub extern "C" fn polyplug_compute() -> i32 {
            // SAFETY: as in polyplug_initialize.
            $crate::__private::compute::<$t>(unsafe { __POLYPLUG_STATE.get() })
        }

        #[no_mangle]
        pub extern "C" fn polyplug_compute_batch() -> i32 {
            // SAFETY: as in polyplug_initialize.
            $crate::__private::compute_batch::<$t>(unsafe { __POLYPLUG_STATE.get() })
        }

        #[no_mangle]
        pub extern "C" fn polyplug_finalize() -> i32 {
            // SAFETY: as in polyplug_initialize.
            $crate::__private::finalize::<$t>(unsafe { __POLYPLUG_STATE.get() })
        }

        #[no_mangle]
        pub extern "C" fn polyplug_compute_id() -> i32 {
            $crate::__private::compute_id::<$t>()
        }
    };
}
