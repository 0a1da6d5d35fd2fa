//! The ABI glue that [`export_plugin!`](crate::export_plugin) instantiates. Not a public
//! API: names and signatures here may change in any release.
//!
//! Every `extern "C"` function here runs the plugin's code under `catch_unwind`, so no
//! panic ever unwinds into the host; a panic becomes an error for that call.

pub use polyplug_abi as abi;

use crate::{Error, Output, Params, Plugin};
use std::ffi::{c_char, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

/// The descriptor and the storage its pointers point into.
pub struct Descriptor {
    desc: abi::PluginDescriptor,
    _strings: Vec<CString>,
    _output: Vec<*const c_char>,
    _params: Vec<abi::ParamDef>,
}

// SAFETY: after construction a `Descriptor` is never mutated; its raw pointers point
// into its own heap buffers (which do not move) and are only read.
unsafe impl Sync for Descriptor {}
// SAFETY: as above.
unsafe impl Send for Descriptor {}

/// Borrows an ABI string as `&str`; `None` when it is not UTF-8.
///
/// # Safety
/// When `s.len > 0`, `s.ptr` must point to `s.len` bytes valid for `'a`.
pub unsafe fn str_from_abi<'a>(s: abi::Str) -> Option<&'a str> {
    if s.len == 0 {
        return Some("");
    }
    if s.ptr.is_null() {
        return None;
    }
    // SAFETY: non-null with `len` bytes valid for 'a (caller's contract).
    let bytes = unsafe { std::slice::from_raw_parts(s.ptr.cast::<u8>(), s.len) };
    std::str::from_utf8(bytes).ok()
}

/// Borrows the entity of a `compute` call as `&str` without checking its UTF-8 again:
/// the ABI guarantees it (the host holds it as a Rust `str`, whose bytes the worker
/// protocol has validated), and this check ran for every entity of a run. `None` for a
/// null pointer with a length.
///
/// # Safety
/// When `len > 0`, `ptr` must point to `len` bytes of UTF-8 valid for `'a`.
unsafe fn entity_from_abi<'a>(ptr: *const c_char, len: usize) -> Option<&'a str> {
    if len == 0 {
        return Some("");
    }
    if ptr.is_null() {
        return None;
    }
    // SAFETY: non-null with `len` bytes valid for 'a (caller's contract).
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    debug_assert!(
        std::str::from_utf8(bytes).is_ok(),
        "the host passed non-UTF-8"
    );
    // SAFETY: UTF-8 by the ABI's contract (`abi::ComputeFn`).
    Some(unsafe { std::str::from_utf8_unchecked(bytes) })
}

fn build<P: Plugin>() -> Descriptor {
    let mut strings = Vec::new();
    // CString::new fails only on interior NUL; such text is cut at the NUL, and the
    // host's validation then reports what is left.
    let mut keep = |s: &str| -> *const c_char {
        let c = CString::new(s).unwrap_or_else(|e| {
            let cut = e.nul_position();
            CString::new(&s[..cut]).unwrap_or_default()
        });
        let p = c.as_ptr();
        strings.push(c);
        p
    };
    let id = keep(P::ID);
    let version = keep(P::VERSION);
    let input = keep(P::INPUT);
    let output: Vec<*const c_char> = P::OUTPUT.iter().map(|o| keep(o)).collect();
    let params: Vec<abi::ParamDef> = P::PARAMETERS
        .iter()
        .map(|p| abi::ParamDef {
            name: keep(p.name),
            datatype: keep(p.datatype),
            default_value: keep(p.default),
            documentation: keep(p.documentation),
        })
        .collect();
    let mut opt = |s: Option<&str>| s.map(&mut keep).unwrap_or(std::ptr::null());
    let method = opt(P::METHOD);
    let implementation = opt(P::IMPLEMENTATION);
    let req_software = opt(P::REQ_SOFTWARE);
    let req_hardware = opt(P::REQ_HARDWARE);
    let advice = opt(P::ADVICE);
    let desc = abi::PluginDescriptor {
        abi_version: abi::ABI_VERSION,
        struct_size: std::mem::size_of::<abi::PluginDescriptor>() as u32,
        id,
        version,
        input,
        output: output.as_ptr(),
        n_output: output.len(),
        parameters: params.as_ptr(),
        n_parameters: params.len(),
        method,
        implementation,
        req_software,
        req_hardware,
        advice,
        initialize: Some(initialize::<P>),
        compute: Some(compute::<P>),
        finalize: Some(finalize::<P>),
        release_state: Some(release_state::<P>),
        compute_id: if P::HAS_COMPUTE_ID {
            Some(compute_id::<P>)
        } else {
            None
        },
    };
    Descriptor {
        desc,
        _strings: strings,
        _output: output,
        _params: params,
    }
}

/// The body of the generated `polyplug_plugin` function.
pub fn entry<P: Plugin>(cell: &'static OnceLock<Descriptor>) -> *const abi::PluginDescriptor {
    match catch_unwind(|| &cell.get_or_init(build::<P>).desc as *const abi::PluginDescriptor) {
        Ok(p) => p,
        Err(_) => std::ptr::null(),
    }
}

/// Splits a host `Call` into the SDK's views.
///
/// # Safety
/// `call` must be the host's call for the running function: non-null, with `params`
/// (`n_params` entries), `api` and `sink` valid until the function returns.
unsafe fn views<'a>(call: *const abi::Call) -> Option<(Params<'a>, Output<'a>)> {
    // SAFETY: caller's contract.
    let call = unsafe { call.as_ref() }?;
    // SAFETY: caller's contract: `api` is the host's static callback table.
    let api = unsafe { call.api.as_ref() }?;
    let raw = if call.n_params == 0 || call.params.is_null() {
        &[][..]
    } else {
        // SAFETY: caller's contract: `n_params` entries at `params`.
        unsafe { std::slice::from_raw_parts(call.params, call.n_params) }
    };
    Some((
        Params { raw },
        Output {
            api,
            sink: call.sink,
        },
    ))
}

fn report(out: &mut Output, e: &str) -> i32 {
    // SAFETY: `sink` belongs to the running call; `e` is valid for the callback.
    unsafe { (out.api.error)(out.sink, e.as_ptr().cast::<c_char>(), e.len()) };
    abi::STATUS_ERROR
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    let what = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    format!("plugin panicked: {what}")
}

/// Runs `f` with the call's views, turning errors and panics into an error status.
///
/// # Safety
/// As for [`views`].
unsafe fn guarded(
    call: *const abi::Call,
    f: impl FnOnce(&Params, &mut Output) -> Result<(), Error>,
) -> i32 {
    // SAFETY: forwarded contract.
    let Some((params, mut out)) = (unsafe { views(call) }) else {
        return abi::STATUS_ERROR;
    };
    match catch_unwind(AssertUnwindSafe(|| f(&params, &mut out))) {
        Ok(Ok(())) => abi::STATUS_OK,
        Ok(Err(e)) => report(&mut out, e.message()),
        Err(p) => report(&mut out, &panic_message(p)),
    }
}

/// The descriptor's `initialize`: runs `P::initialize` and hands its state to the host.
///
/// # Safety
/// `call` must be the host's live call and `state_out` a valid out-pointer (or null,
/// which fails); the host keeps the state it receives and gives it back to the other
/// functions of this plugin only, one thread at a time, and to `release_state` once.
unsafe extern "C" fn initialize<P: Plugin>(
    call: *const abi::Call,
    state_out: *mut *mut c_void,
) -> i32 {
    if state_out.is_null() {
        return abi::STATUS_ERROR;
    }
    // SAFETY: the host passes its live call (ABI contract).
    unsafe {
        guarded(call, |params, _| {
            let state = P::initialize(params)?;
            // SAFETY: `state_out` is a non-null out-pointer given by the host.
            *state_out = Box::into_raw(Box::new(state)).cast();
            Ok(())
        })
    }
}

/// The descriptor's `compute`: runs `P::compute` on one entity.
///
/// # Safety
/// `state` must come from this plugin's `initialize` (used by one thread at a time),
/// `entity` point to `len` bytes of UTF-8 alive during the call, and `call` be the host's live
/// call.
unsafe extern "C" fn compute<P: Plugin>(
    state: *mut c_void,
    entity: *const c_char,
    len: usize,
    call: *const abi::Call,
) -> i32 {
    // SAFETY: the host passes its live call (ABI contract).
    unsafe {
        guarded(call, |params, out| {
            // SAFETY: `state` is the Box<P> from `initialize`, used by one thread.
            let state = (state as *mut P)
                .as_mut()
                .ok_or_else(|| Error::new("compute called without state"))?;
            // SAFETY: the entity is `len` bytes of UTF-8 alive during the call.
            let entity = entity_from_abi(entity, len)
                .ok_or_else(|| Error::new("compute called without its entity"))?;
            // SAFETY: the host's live call (ABI contract).
            match record_of(call) {
                Some(record) => state.compute_record(entity, &record, params, out),
                None => state.compute(entity, params, out),
            }
        })
    }
}

/// The record of a records-mode compute, when the host passes one (a host older than
/// the `record` member of `Call` passes none).
///
/// # Safety
/// `call` must be the host's live call; what it points to is borrowed for 'a.
unsafe fn record_of<'a>(call: *const abi::Call) -> Option<crate::Record<'a>> {
    // SAFETY: the host's live call (caller's contract).
    let call = unsafe { call.as_ref() }?;
    if (call.struct_size as usize) < std::mem::size_of::<abi::Call>() || call.record.ptr.is_null() {
        return None;
    }
    // SAFETY: the host passes `len` bytes at a non-null `ptr`, alive during the call.
    let bytes = unsafe { std::slice::from_raw_parts(call.record.ptr, call.record.len) };
    let fields = if call.fields.is_null() || call.n_fields == 0 {
        &[][..]
    } else {
        // SAFETY: `n_fields` fields at a non-null pointer, alive during the call.
        unsafe { std::slice::from_raw_parts(call.fields, call.n_fields) }
    };
    Some(crate::Record::__new(bytes, fields))
}

/// The descriptor's `finalize`: runs `P::finalize`.
///
/// # Safety
/// As for [`compute`]; called once, before `release_state`.
unsafe extern "C" fn finalize<P: Plugin>(state: *mut c_void, call: *const abi::Call) -> i32 {
    // SAFETY: the host passes its live call (ABI contract).
    unsafe {
        guarded(call, |params, out| {
            // SAFETY: `state` is the Box<P> from `initialize`, used by one thread.
            match (state as *mut P).as_mut() {
                Some(s) => s.finalize(params, out),
                None => Ok(()),
            }
        })
    }
}

/// The descriptor's `release_state`: drops the state.
///
/// # Safety
/// `state` must come from this plugin's `initialize` and be released once, and not
/// used afterwards.
unsafe extern "C" fn release_state<P: Plugin>(state: *mut c_void) {
    if state.is_null() {
        return;
    }
    // SAFETY: `state` is the Box<P> from `initialize`, released once by the host.
    let boxed = unsafe { Box::from_raw(state as *mut P) };
    // A panicking Drop must not unwind into the host.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(boxed)));
}

/// The descriptor's `compute_id`: runs `P::compute_id` on one unit.
///
/// # Safety
/// `unit` must point to `len` bytes alive during the call, and `call` be the host's
/// live call.
unsafe extern "C" fn compute_id<P: Plugin>(
    unit: *const c_char,
    len: usize,
    call: *const abi::Call,
) -> i32 {
    // SAFETY: the host passes its live call (ABI contract).
    unsafe {
        guarded(call, |_, out| {
            // SAFETY: the unit is `len` bytes of UTF-8 alive during the call.
            let unit = str_from_abi(abi::Str { ptr: unit, len })
                .ok_or_else(|| Error::new("unit is not valid UTF-8"))?;
            let id = P::compute_id(unit)?;
            out.push(id);
            Ok(())
        })
    }
}
