/*!
The native plugin ABI of polyplug: plain `#[repr(C)]` types and constants, no code.

This crate is the single source of truth for the binary interface between the polyplug
host and a compiled plugin (Rust, C, C++, Nim, Zig, …). It is shared by the host side
(`polyplug-loader-native`) and the Rust plugin side (`polyplug-sdk`), the way a protocol
crate is shared by both ends of a wire. The C header `plugin-sdk/c/polyplug.h` mirrors it
field by field; a test in `polyplug-loader-native` checks the two agree on sizes.

# Shape of the interface

A plugin library exports one function, [`ENTRY_SYMBOL`] (`polyplug_plugin`), that
returns a pointer to a static [`PluginDescriptor`]. The descriptor starts with
[`PluginDescriptor::abi_version`] and [`PluginDescriptor::struct_size`], which the host
checks before it reads anything else. Then come the metadata (NUL-terminated UTF-8
strings with static lifetime) and the function pointers.

During a call the plugin receives a [`Call`]: the parameters as typed [`Value`]s, and a
[`HostApi`] table of callbacks through which it pushes its typed results, its log
messages and, on failure, an error message. The host copies whatever is passed to a
callback before the callback returns, so **nothing the plugin allocates is ever owned
by the host** and nothing the host allocates is ever owned by the plugin. The single
exception is the plugin's state pointer returned by `initialize`: it stays the plugin's,
and the host hands it back to `release_state` exactly once.

# Evolution

Both [`PluginDescriptor`] and [`HostApi`] are append-only: later versions may add fields
at the end, never remove or reorder them. Each carries its own `struct_size`, so a newer
host reads only the fields an older plugin has, and a plugin can test whether the host
offers a newer callback before calling it. [`ABI_VERSION`] changes only for an
incompatible change.
*/
#![no_std]
#![deny(missing_docs)]

use core::ffi::{c_char, c_void};

/// The ABI version this crate describes. A host accepts plugins whose
/// `abi_version` is between 1 and this number.
pub const ABI_VERSION: u32 = 1;

/// Name of the exported entry function, NUL-terminated.
pub const ENTRY_SYMBOL: &[u8] = b"polyplug_plugin\0";

/// Return status of a plugin function: success.
pub const STATUS_OK: i32 = 0;
/// Return status of a plugin function: failure; the message was (or should have been)
/// given through [`HostApi::error`].
pub const STATUS_ERROR: i32 = 1;

/// Kind tag of a [`Value`].
pub mod kind {
    /// No value (Python `None`).
    pub const NULL: u32 = 0;
    /// `Value::as_.boolean`, 0 is false and anything else true.
    pub const BOOL: u32 = 1;
    /// `Value::as_.integer`, a signed 64-bit integer.
    pub const INT: u32 = 2;
    /// `Value::as_.real`, an IEEE 754 double.
    pub const FLOAT: u32 = 3;
    /// `Value::as_.string`, UTF-8 bytes with a length.
    pub const STR: u32 = 4;
    /// `Value::as_.list`, an array of values.
    pub const LIST: u32 = 5;
}

/// A borrowed byte string: `len` bytes at `ptr`, UTF-8, not NUL-terminated.
/// `len == 0` means the empty string whatever `ptr` is.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Str {
    /// First byte, or anything (even NULL) when `len` is 0.
    pub ptr: *const c_char,
    /// Number of bytes.
    pub len: usize,
}

/// A borrowed array of values.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct List {
    /// First element, or anything (even NULL) when `len` is 0.
    pub items: *const Value,
    /// Number of elements.
    pub len: usize,
}

/// The payload of a [`Value`]; which field is valid is told by [`Value::kind`].
#[repr(C)]
#[derive(Clone, Copy)]
pub union ValueData {
    /// Valid for [`kind::BOOL`].
    pub boolean: i32,
    /// Valid for [`kind::INT`].
    pub integer: i64,
    /// Valid for [`kind::FLOAT`].
    pub real: f64,
    /// Valid for [`kind::STR`].
    pub string: Str,
    /// Valid for [`kind::LIST`].
    pub list: List,
}

/// A typed value borrowed from the host (parameters). Valid only during the call that
/// received it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Value {
    /// One of the constants in [`kind`].
    pub kind: u32,
    /// The payload.
    pub as_: ValueData,
}

/// One parameter given to a call: its name and value, both borrowed from the host.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Param {
    /// Parameter name as declared in the plugin's PARAMETERS.
    pub name: Str,
    /// Its value, already converted to the declared datatype.
    pub value: Value,
}

/// One entry of the plugin's PARAMETERS: four NUL-terminated static strings, as the
/// 4-tuples of a Prenacs plugin.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ParamDef {
    /// Parameter name.
    pub name: *const c_char,
    /// Datatype: `int`, `float`, `str`, `bool`, `list` or `any` (aliases accepted).
    pub datatype: *const c_char,
    /// Default value, written as text (`"3"`, `"0.5"`, `"true"`); NULL or `""` for none.
    pub default_value: *const c_char,
    /// One-line documentation.
    pub documentation: *const c_char,
}

/// Opaque host object that receives what a plugin pushes during one call.
#[repr(C)]
pub struct Sink {
    _private: [u8; 0],
}

/// Callbacks offered by the host during a call. Every callback copies its arguments
/// before returning; the plugin keeps ownership of every buffer it passes.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct HostApi {
    /// `size_of::<HostApi>()` as compiled into the host: a callback exists if its
    /// offset is below this size.
    pub struct_size: u32,
    /// Append a null value to the results.
    pub push_null: unsafe extern "C" fn(sink: *mut Sink),
    /// Append a boolean (0 false, anything else true).
    pub push_bool: unsafe extern "C" fn(sink: *mut Sink, value: i32),
    /// Append an integer.
    pub push_int: unsafe extern "C" fn(sink: *mut Sink, value: i64),
    /// Append a float.
    pub push_float: unsafe extern "C" fn(sink: *mut Sink, value: f64),
    /// Append a string of `len` UTF-8 bytes (invalid UTF-8 fails the entity).
    pub push_str: unsafe extern "C" fn(sink: *mut Sink, ptr: *const c_char, len: usize),
    /// Start a list: following pushes go into it until the matching `end_list`.
    pub begin_list: unsafe extern "C" fn(sink: *mut Sink),
    /// Close the innermost open list.
    pub end_list: unsafe extern "C" fn(sink: *mut Sink),
    /// Add one log message (suggested form `key<TAB>message`).
    pub log: unsafe extern "C" fn(sink: *mut Sink, ptr: *const c_char, len: usize),
    /// Set the error message of this call; the function should then return
    /// [`STATUS_ERROR`]. A later call replaces an earlier message.
    pub error: unsafe extern "C" fn(sink: *mut Sink, ptr: *const c_char, len: usize),
}

/// Borrowed bytes: `len` bytes at `ptr`, not necessarily UTF-8.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Bytes {
    /// First byte; NULL only where the field's documentation gives NULL a meaning.
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

/// One named field of a record (records mode): its name and value, both UTF-8 and
/// borrowed from the host.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// The field's name (a CSV/TSV column, a JSONL member, `sequence`, …).
    pub name: Str,
    /// Its value as text.
    pub value: Str,
}

/// Everything a plugin function receives besides the entity and the state. Borrowed
/// from the host, valid only until the function returns, used by one thread.
///
/// Fields after `sink` were added later: a plugin reads one only when
/// `struct_size` is larger than its offset ([`CALL_V1_SIZE`] is the first size).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Call {
    /// `size_of::<Call>()` as compiled into the host.
    pub struct_size: u32,
    /// Parameters: every declared parameter that has a value (given or defaulted).
    pub params: *const Param,
    /// Number of entries at `params`.
    pub n_params: usize,
    /// The callbacks.
    pub api: *const HostApi,
    /// The receiver to pass to every callback.
    pub sink: *mut Sink,
    /// Records mode (`polyplug run … records <format> <file>…`), during `compute`:
    /// the record's bytes as they are in its file, without the final line ending.
    /// `record.ptr` is NULL when the entity is not a record (ids and files mode, and
    /// every call but `compute`); an empty record has a non-NULL `ptr` and `len` 0.
    pub record: Bytes,
    /// Records mode: the record's fields, in order (see [`Field`]); NULL when none.
    pub fields: *const Field,
    /// Number of entries at `fields`.
    pub n_fields: usize,
}

/// `size_of::<Call>()` of the first version (before `record`): hosts that old pass
/// no record.
pub const CALL_V1_SIZE: usize = 40;

/// `initialize(call, state_out)`: called once per worker before its first compute.
/// On success stores the plugin's state (may be NULL) into `*state_out`.
pub type InitializeFn = unsafe extern "C" fn(call: *const Call, state_out: *mut *mut c_void) -> i32;
/// `compute(state, entity, entity_len, call)`: computes one entity; pushes the values
/// in OUTPUT order and any logs. Pushing no value means "no result for this entity".
/// The entity is always `entity_len` bytes of valid UTF-8 (the host guarantees it; a
/// plugin need not check).
pub type ComputeFn = unsafe extern "C" fn(
    state: *mut c_void,
    entity: *const c_char,
    entity_len: usize,
    call: *const Call,
) -> i32;
/// `finalize(state, call)`: called once per worker after its last compute, also when
/// some entities failed.
pub type FinalizeFn = unsafe extern "C" fn(state: *mut c_void, call: *const Call) -> i32;
/// `release_state(state)`: frees the state; called exactly once per successful
/// `initialize`, after `finalize`.
pub type ReleaseStateFn = unsafe extern "C" fn(state: *mut c_void);
/// `compute_id(id, id_len, call)`: the idsproc function; pushes exactly one string.
pub type ComputeIdFn =
    unsafe extern "C" fn(id: *const c_char, id_len: usize, call: *const Call) -> i32;

/// The static descriptor returned by the entry function.
///
/// Version 1 layout. Strings are NUL-terminated UTF-8 with static lifetime; optional
/// strings and functions are NULL when absent.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PluginDescriptor {
    /// Must be between 1 and the host's [`ABI_VERSION`].
    pub abi_version: u32,
    /// `size_of::<PluginDescriptor>()` as compiled into the plugin.
    pub struct_size: u32,
    /// Plugin ID (≤ 256 characters).
    pub id: *const c_char,
    /// Plugin version (≤ 64 characters).
    pub version: *const c_char,
    /// Description of the input (≤ 512 characters).
    pub input: *const c_char,
    /// Names of the output attributes.
    pub output: *const *const c_char,
    /// Number of entries at `output`.
    pub n_output: usize,
    /// Parameter declarations.
    pub parameters: *const ParamDef,
    /// Number of entries at `parameters`.
    pub n_parameters: usize,
    /// Optional METHOD text.
    pub method: *const c_char,
    /// Optional IMPLEMENTATION text.
    pub implementation: *const c_char,
    /// Optional REQ_SOFTWARE text.
    pub req_software: *const c_char,
    /// Optional REQ_HARDWARE text.
    pub req_hardware: *const c_char,
    /// Optional ADVICE text.
    pub advice: *const c_char,
    /// Optional initialize function.
    pub initialize: Option<InitializeFn>,
    /// The compute function (required unless the plugin is an idsproc-only plugin).
    pub compute: Option<ComputeFn>,
    /// Optional finalize function.
    pub finalize: Option<FinalizeFn>,
    /// Optional state release function (required when initialize returns a state).
    pub release_state: Option<ReleaseStateFn>,
    /// Optional idsproc function.
    pub compute_id: Option<ComputeIdFn>,
}

/// Type of the exported entry function.
pub type EntryFn = unsafe extern "C" fn() -> *const PluginDescriptor;

/// Size of the version-1 descriptor: the smallest `struct_size` a host accepts.
pub const DESCRIPTOR_V1_SIZE: usize = core::mem::size_of::<PluginDescriptor>();

// SAFETY: a descriptor only holds pointers to static, immutable data and to functions;
// the ABI requires plugins to keep both valid and unchanged for the life of the process.
unsafe impl Sync for PluginDescriptor {}
// SAFETY: as above, the pointed-to data is immutable and static.
unsafe impl Send for PluginDescriptor {}
// SAFETY: a `ParamDef` points to static, immutable NUL-terminated strings only.
unsafe impl Sync for ParamDef {}
