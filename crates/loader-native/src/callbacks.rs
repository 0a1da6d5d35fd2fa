//! The host API a native plugin calls back during a call (`push_*`, `log`, `error`):
//! each callback checks what the plugin passes and copies it into the call's
//! [`CallSink`] before returning.

use polyplug_abi as abi;
use polyplug_core::{CallSink, EntityError, Value};
use std::ffi::c_char;

/// What a plugin pushes during one call; the `Sink` behind the ABI's opaque pointer.
pub(crate) type HostSink = CallSink;

/// Turns the state of `sink` after a call that returned `status` into its result.
pub(crate) fn finish(sink: &mut HostSink, status: i32) -> Result<(), EntityError> {
    match sink.failure(status) {
        None => Ok(()),
        Some(message) => Err(EntityError {
            message,
            logs: std::mem::take(&mut sink.logs),
            instance_lost: false,
            out_of_memory: false,
        }),
    }
}

/// Reads `len` bytes at `ptr` as UTF-8.
///
/// # Safety
/// When `len > 0`, `ptr` must point to `len` readable bytes.
unsafe fn read_str(ptr: *const c_char, len: usize) -> Result<String, String> {
    if len == 0 {
        return Ok(String::new());
    }
    if ptr.is_null() {
        return Err(format!("a string of {len} bytes was passed as NULL"));
    }
    // SAFETY: non-null, `len` readable bytes (caller's contract).
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    String::from_utf8(bytes.to_vec()).map_err(|_| "a string is not valid UTF-8".to_string())
}

/// Recovers the host sink of a callback.
///
/// # Safety
/// `sink` must be the pointer the host put into the `Call` of the running call.
unsafe fn sink<'a>(sink: *mut abi::Sink) -> Option<&'a mut HostSink> {
    // SAFETY: the host's `Call.sink` always points to a live `HostSink` (caller's
    // contract), used by this thread only during the call.
    unsafe { sink.cast::<HostSink>().as_mut() }
}

// The host API's callbacks. Each one is `unsafe extern "C"`: the plugin calls it
// through `HostApi` with the `Call.sink` of the running call.

/// `push_null`: appends a null value to the current result.
///
/// # Safety
/// `s` must be the `Call.sink` of the call that is running on this thread.
unsafe extern "C" fn push_null(s: *mut abi::Sink) {
    // SAFETY: callbacks receive the sink of the running call (ABI contract).
    if let Some(s) = unsafe { sink(s) } {
        s.push(Value::Null)
    }
}

/// `push_bool`: appends a boolean (non-zero is true).
///
/// # Safety
/// As for [`push_null`].
unsafe extern "C" fn push_bool(s: *mut abi::Sink, v: i32) {
    // SAFETY: as in `push_null`.
    if let Some(s) = unsafe { sink(s) } {
        s.push(Value::Bool(v != 0))
    }
}

/// `push_int`: appends an integer.
///
/// # Safety
/// As for [`push_null`].
unsafe extern "C" fn push_int(s: *mut abi::Sink, v: i64) {
    // SAFETY: as in `push_null`.
    if let Some(s) = unsafe { sink(s) } {
        s.push(Value::Int(v))
    }
}

/// `push_float`: appends a float.
///
/// # Safety
/// As for [`push_null`].
unsafe extern "C" fn push_float(s: *mut abi::Sink, v: f64) {
    // SAFETY: as in `push_null`.
    if let Some(s) = unsafe { sink(s) } {
        s.push(Value::Float(v))
    }
}

/// `push_str`: appends the UTF-8 string of `len` bytes at `p` (copied).
///
/// # Safety
/// As for [`push_null`], and when `len > 0`, `p` must point to `len` readable bytes
/// for the duration of the call.
unsafe extern "C" fn push_str(s: *mut abi::Sink, p: *const c_char, len: usize) {
    // SAFETY: as in `push_null`.
    if let Some(s) = unsafe { sink(s) } {
        // SAFETY: `p` has `len` readable bytes (this function's contract).
        match unsafe { read_str(p, len) } {
            Ok(v) => s.push(Value::Str(v)),
            Err(e) => s.misuse(format!("push_str: {e}")),
        }
    }
}

/// `begin_list`: starts a list; the values pushed until `end_list` are its items.
///
/// # Safety
/// As for [`push_null`].
unsafe extern "C" fn begin_list(s: *mut abi::Sink) {
    // SAFETY: as in `push_null`.
    if let Some(s) = unsafe { sink(s) } {
        s.begin_list()
    }
}

/// `end_list`: ends the innermost open list.
///
/// # Safety
/// As for [`push_null`].
unsafe extern "C" fn end_list(s: *mut abi::Sink) {
    // SAFETY: as in `push_null`.
    if let Some(s) = unsafe { sink(s) } {
        s.end_list()
    }
}

/// `log`: adds the log message of `len` bytes at `p` (copied).
///
/// # Safety
/// As for [`push_str`].
unsafe extern "C" fn log(s: *mut abi::Sink, p: *const c_char, len: usize) {
    // SAFETY: as in `push_null`.
    if let Some(s) = unsafe { sink(s) } {
        // SAFETY: `p` has `len` readable bytes (this function's contract).
        match unsafe { read_str(p, len) } {
            Ok(v) => s.logs.push(v),
            Err(e) => s.misuse(format!("log: {e}")),
        }
    }
}

/// `error`: sets the error message of the call (`len` bytes at `p`, copied); the call
/// then fails its entity.
///
/// # Safety
/// As for [`push_str`].
unsafe extern "C" fn error(s: *mut abi::Sink, p: *const c_char, len: usize) {
    // SAFETY: as in `push_null`.
    if let Some(s) = unsafe { sink(s) } {
        // SAFETY: `p` has `len` readable bytes (this function's contract).
        let message = unsafe { read_str(p, len) };
        s.error = Some(message.unwrap_or_else(|e| format!("(error message: {e})")));
    }
}

pub(crate) static HOST_API: abi::HostApi = abi::HostApi {
    struct_size: std::mem::size_of::<abi::HostApi>() as u32,
    push_null,
    push_bool,
    push_int,
    push_float,
    push_str,
    begin_list,
    end_list,
    log,
    error,
};
