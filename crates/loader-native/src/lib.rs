/*!
Loads compiled polyplug plugins through the native C ABI (`polyplug-abi`).

One ABI serves every compiled language: a Rust plugin built with `polyplug-sdk`, a C or
C++ plugin built against `plugin-sdk/c/polyplug.h`, a Nim or Zig plugin doing the same.
[`load`] opens the shared library, finds the entry symbol, checks the ABI version and
the descriptor size *before reading anything else*, copies and validates the metadata,
and returns a [`polyplug_core::Plugin`].

# Safety model

Loading native code is trusting it: a plugin runs with the user's rights in the host
process, and a plugin that corrupts memory can crash the host. What this crate
guarantees is that a plugin *following the ABI* cannot make the host misbehave: every
pointer is null-checked, lengths of 0 mean empty whatever the pointer, strings are
UTF-8-checked, and every buffer the plugin passes is copied before the callback returns.
All `unsafe` of the host is in this crate, each block with the invariant that makes it
sound.

A loaded library is never unloaded: plugins may leave threads or thread-locals behind,
and unloading would turn them into dangling code.
*/
#![deny(missing_docs)]

use polyplug_abi as abi;
use polyplug_core::{
    CallSink, EntityError, Instance, LoadOption, LoadOptions, Outcome, OutputSpec, Params, Plugin,
    PluginError, PluginMeta, RawMeta, Value,
};
use std::ffi::{c_char, c_void, CStr};
use std::path::{Path, PathBuf};

/// File extensions of native plugin libraries on this platform.
pub const EXTENSIONS: &[&str] = &["so", "dylib"];

/// A plugin loaded from a shared library.
pub struct NativePlugin {
    path: PathBuf,
    meta: PluginMeta,
    desc: &'static abi::PluginDescriptor,
    abi_version: u32,
}

impl std::fmt::Debug for NativePlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NativePlugin({})", self.path.display())
    }
}

impl NativePlugin {
    /// The ABI version the plugin was built for.
    pub fn abi_version(&self) -> u32 {
        self.abi_version
    }
}

/// The options a native plugin honours: none of [`LoadOption`]. It runs inside the
/// polyplug process (nothing can stop it from outside) and unsandboxed.
pub const SUPPORTED: &[LoadOption] = &[];

/// Loads the native plugin at `path`, refusing the options it cannot honour
/// (see [`SUPPORTED`]).
///
/// Errors name the file and say what to do: an unsupported option, not a loadable
/// library, no `polyplug_plugin` symbol, an unsupported ABI version, a descriptor too
/// small, or metadata problems (all of them listed).
pub fn load(path: &Path, options: &LoadOptions) -> Result<NativePlugin, PluginError> {
    options.refuse_unsupported(path, "a native plugin", SUPPORTED)?;
    open(path)
}

/// Opens the library at `path` as a native plugin (no options to check): [`load`]
/// without its refusals, for loaders built on this one.
pub fn open(path: &Path) -> Result<NativePlugin, PluginError> {
    let err = |m: String| PluginError::new(path, m);
    // SAFETY: loading a library runs its initializers; running the user's plugin code
    // with the user's rights is the documented contract of native plugins.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| {
        err(format!(
            "cannot load as a shared library: {e}; a native plugin must be a .so/.dylib \
             built against polyplug.h or with polyplug-sdk"
        ))
    })?;
    // The library is never unloaded: leak it so the descriptor and functions stay valid.
    let lib: &'static libloading::Library = Box::leak(Box::new(lib));
    // SAFETY: the symbol, if present, is the ABI entry point of type `EntryFn`
    // (`const pp_plugin *polyplug_plugin(void)`); that is what exporting it promises.
    let entry: libloading::Symbol<'static, abi::EntryFn> = unsafe { lib.get(abi::ENTRY_SYMBOL) }
        .map_err(|_| {
            err(
                "no `polyplug_plugin` symbol: this library is not a polyplug plugin; export it \
                 with POLYPLUG_EXPORT (C) or polyplug_sdk::export_plugin! (Rust)"
                    .into(),
            )
        })?;
    // SAFETY: `entry` has the ABI signature (see above); it takes no arguments.
    let raw = unsafe { entry() };
    if raw.is_null() {
        return Err(err(
            "polyplug_plugin() returned NULL: the plugin failed to describe itself".into(),
        ));
    }
    // Read only the two leading u32 fields before trusting the layout.
    // SAFETY: every ABI version starts with `abi_version` and `struct_size` (u32 each),
    // and `raw` is non-null and points to the plugin's static descriptor.
    let (version, size) = unsafe {
        let head = raw as *const u32;
        (head.read_unaligned(), head.add(1).read_unaligned())
    };
    if version == 0 || version > abi::ABI_VERSION {
        return Err(err(format!(
            "plugin ABI version {version}, this polyplug supports versions 1 to {}; \
             rebuild the plugin against this polyplug's SDK (or upgrade polyplug)",
            abi::ABI_VERSION
        )));
    }
    if (size as usize) < abi::DESCRIPTOR_V1_SIZE {
        return Err(err(format!(
            "descriptor struct_size is {size} bytes, ABI version {version} needs at least {}; \
             the plugin was built against a different polyplug.h, rebuild it",
            abi::DESCRIPTOR_V1_SIZE
        )));
    }
    // SAFETY: version and size checked: the plugin's descriptor has at least all v1
    // fields, and it is static (the library is never unloaded).
    let desc: &'static abi::PluginDescriptor = unsafe { &*raw };
    let meta = read_meta(desc).map_err(err)?;
    if desc.compute.is_none() && desc.compute_id.is_none() {
        return Err(err("defines neither compute nor compute_id".into()));
    }
    Ok(NativePlugin {
        path: path.to_path_buf(),
        meta,
        desc,
        abi_version: version,
    })
}

/// Reads an optional NUL-terminated string of the descriptor.
fn opt_cstr(p: *const c_char, field: &str) -> Result<Option<String>, String> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: non-null descriptor strings are NUL-terminated and static (ABI contract).
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map(|s| Some(s.to_string()))
        .map_err(|_| format!("{field} is not valid UTF-8"))
}

fn read_meta(d: &abi::PluginDescriptor) -> Result<PluginMeta, String> {
    let mut raw = RawMeta::default();
    let mut problems = Vec::new();
    let mut put = |name: &str, p: *const c_char, raw: &mut RawMeta| match opt_cstr(p, name) {
        Ok(Some(s)) => raw.set(name, Value::Str(s)),
        Ok(None) => {}
        Err(e) => problems.push(e),
    };
    put("ID", d.id, &mut raw);
    put("VERSION", d.version, &mut raw);
    put("INPUT", d.input, &mut raw);
    put("METHOD", d.method, &mut raw);
    put("IMPLEMENTATION", d.implementation, &mut raw);
    put("REQ_SOFTWARE", d.req_software, &mut raw);
    put("REQ_HARDWARE", d.req_hardware, &mut raw);
    put("ADVICE", d.advice, &mut raw);
    if !d.output.is_null() || d.n_output > 0 {
        if d.output.is_null() {
            problems.push(format!("OUTPUT is NULL but n_output is {}", d.n_output));
        } else {
            let mut items = Vec::new();
            for i in 0..d.n_output {
                // SAFETY: `output` is non-null and has `n_output` entries (ABI contract).
                let p = unsafe { *d.output.add(i) };
                match opt_cstr(p, &format!("OUTPUT element {}", i + 1)) {
                    Ok(Some(s)) => items.push(Value::Str(s)),
                    Ok(None) => problems.push(format!("OUTPUT element {} is NULL", i + 1)),
                    Err(e) => problems.push(e),
                }
            }
            raw.set("OUTPUT", Value::List(items));
        }
    }
    if d.n_parameters > 0 {
        if d.parameters.is_null() {
            problems.push(format!(
                "parameters is NULL but n_parameters is {}",
                d.n_parameters
            ));
        } else {
            let mut items = Vec::new();
            for i in 0..d.n_parameters {
                // SAFETY: `parameters` is non-null with `n_parameters` entries (ABI contract).
                let pd = unsafe { &*d.parameters.add(i) };
                let mut fields = Vec::new();
                for (label, p) in [
                    ("name", pd.name),
                    ("datatype", pd.datatype),
                    ("default", pd.default_value),
                    ("documentation", pd.documentation),
                ] {
                    match opt_cstr(p, &format!("parameter {} {label}", i + 1)) {
                        Ok(s) => fields.push(Value::Str(s.unwrap_or_default())),
                        Err(e) => problems.push(e),
                    }
                }
                items.push(Value::List(fields));
            }
            raw.set("PARAMETERS", Value::List(items));
        }
    }
    let validated = PluginMeta::validate(&raw);
    if let Err(more) = validated.as_ref() {
        problems.extend(more.0.iter().cloned());
    }
    match validated {
        Ok(meta) if problems.is_empty() => Ok(meta),
        _ => Err(format!("bad metadata:\n  - {}", problems.join("\n  - "))),
    }
}

impl Plugin for NativePlugin {
    fn meta(&self) -> &PluginMeta {
        &self.meta
    }

    fn language(&self) -> &str {
        "native"
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn has_compute(&self) -> bool {
        self.desc.compute.is_some()
    }

    fn functions(&self) -> Vec<&'static str> {
        let d = self.desc;
        let mut f = Vec::new();
        if d.initialize.is_some() {
            f.push("initialize");
        }
        if d.compute.is_some() {
            f.push("compute");
        }
        if d.finalize.is_some() {
            f.push("finalize");
        }
        if d.compute_id.is_some() {
            f.push("compute_id");
        }
        f
    }

    fn instantiate(
        &self,
        params: &Params,
        _spec: &OutputSpec,
    ) -> Result<Box<dyn Instance>, PluginError> {
        let args = CallArgs::new(params);
        let mut sink = HostSink::default();
        let mut state: *mut c_void = std::ptr::null_mut();
        if let Some(init) = self.desc.initialize {
            let call = args.call(&mut sink);
            // SAFETY: `call` and everything it points to (params, api, sink) live until
            // the call returns; `state` is a valid out-pointer.
            let status = unsafe { init(&call, &mut state) };
            if let Some(e) = sink.status_error(status) {
                return Err(PluginError::new(
                    &self.path,
                    format!("initialize failed: {e}"),
                ));
            }
        }
        Ok(Box::new(NativeInstance {
            desc: self.desc,
            path: self.path.clone(),
            args,
            state,
            sink: HostSink::default(),
        }))
    }

    fn has_compute_id(&self) -> bool {
        self.desc.compute_id.is_some()
    }

    fn compute_id(&self, unit: &str) -> Result<String, EntityError> {
        let f = self
            .desc
            .compute_id
            .ok_or_else(|| EntityError::new("the plugin has no compute_id function"))?;
        let args = CallArgs::new(&Params::empty());
        let mut sink = HostSink::default();
        let call = args.call(&mut sink);
        // SAFETY: `unit` outlives the call; `call` and its pointees live until it returns.
        let status = unsafe { f(unit.as_ptr().cast(), unit.len(), &call) };
        finish(&mut sink, status)?;
        match sink.values.as_slice() {
            [Value::Str(s)] => Ok(s.clone()),
            other => Err(EntityError::new(format!(
                "compute_id must push exactly one string, it pushed {} value(s)",
                other.len()
            ))),
        }
    }
}

/// The parameters of a call in ABI form, with the storage they borrow from.
struct CallArgs {
    /// Owned storage for list items, kept alive as long as `params`.
    _lists: Vec<Vec<abi::Value>>,
    params: Vec<abi::Param>,
    /// Keeps the strings the ABI values point into alive.
    _owned: Params,
}

// SAFETY: the raw pointers in `params` point into `_owned` and `_lists`, which move with
// the struct (their heap buffers do not move) and are never mutated after `new`.
unsafe impl Send for CallArgs {}

impl CallArgs {
    fn new(params: &Params) -> CallArgs {
        let owned = params.clone();
        let mut lists = Vec::new();
        let mut out = Vec::with_capacity(owned.entries().len());
        for (name, value) in owned.entries() {
            out.push(abi::Param {
                name: abi::Str {
                    ptr: name.as_ptr().cast(),
                    len: name.len(),
                },
                value: to_abi(value, &mut lists),
            });
        }
        CallArgs {
            _lists: lists,
            params: out,
            _owned: owned,
        }
    }

    fn call(&self, sink: &mut HostSink) -> abi::Call {
        abi::Call {
            struct_size: std::mem::size_of::<abi::Call>() as u32,
            params: self.params.as_ptr(),
            n_params: self.params.len(),
            api: &HOST_API,
            sink: (sink as *mut HostSink).cast(),
        }
    }
}

fn to_abi(v: &Value, lists: &mut Vec<Vec<abi::Value>>) -> abi::Value {
    use abi::{kind, ValueData};
    match v {
        Value::Null => abi::Value {
            kind: kind::NULL,
            as_: ValueData { integer: 0 },
        },
        Value::Bool(b) => abi::Value {
            kind: kind::BOOL,
            as_: ValueData { boolean: *b as i32 },
        },
        Value::Int(i) => abi::Value {
            kind: kind::INT,
            as_: ValueData { integer: *i },
        },
        Value::Float(f) => abi::Value {
            kind: kind::FLOAT,
            as_: ValueData { real: *f },
        },
        Value::Str(s) => abi::Value {
            kind: kind::STR,
            as_: ValueData {
                string: abi::Str {
                    ptr: s.as_ptr().cast(),
                    len: s.len(),
                },
            },
        },
        Value::List(items) => {
            let converted: Vec<abi::Value> = items.iter().map(|i| to_abi(i, lists)).collect();
            let list = abi::List {
                items: converted.as_ptr(),
                len: converted.len(),
            };
            lists.push(converted);
            abi::Value {
                kind: kind::LIST,
                as_: ValueData { list },
            }
        }
    }
}

struct NativeInstance {
    desc: &'static abi::PluginDescriptor,
    path: PathBuf,
    args: CallArgs,
    state: *mut c_void,
    sink: HostSink,
}

// SAFETY: the ABI requires a plugin's functions to accept a state from any thread as
// long as one thread at a time uses it; `Instance` is used by one thread at a time.
unsafe impl Send for NativeInstance {}

impl Instance for NativeInstance {
    fn compute(&mut self, entity: &str, out: &mut Outcome) -> Result<(), EntityError> {
        let f = self
            .desc
            .compute
            .ok_or_else(|| EntityError::new("the plugin has no compute function"))?;
        self.sink.reset();
        let call = self.args.call(&mut self.sink);
        // SAFETY: `entity` and `call` (with its pointees) outlive the call; `state` is
        // the one `initialize` gave this instance, used by this thread only.
        let status = unsafe { f(self.state, entity.as_ptr().cast(), entity.len(), &call) };
        let sink = &mut self.sink;
        finish(sink, status)?;
        std::mem::swap(&mut out.values, &mut sink.values);
        std::mem::swap(&mut out.logs, &mut sink.logs);
        Ok(())
    }

    fn finalize(mut self: Box<Self>) -> Result<Vec<String>, PluginError> {
        let mut result = Ok(Vec::new());
        if let Some(fin) = self.desc.finalize {
            self.sink.reset();
            let call = self.args.call(&mut self.sink);
            // SAFETY: as in `compute`; finalize is called once, before release.
            let status = unsafe { fin(self.state, &call) };
            result = match finish(&mut self.sink, status) {
                Ok(()) => Ok(std::mem::take(&mut self.sink.logs)),
                Err(e) => Err(PluginError::new(
                    &self.path,
                    format!("finalize failed: {}", e.message),
                )),
            };
        }
        if let Some(release) = self.desc.release_state {
            // SAFETY: `state` came from this instance's `initialize` and is released
            // exactly once, here; it is not used afterwards.
            unsafe { release(self.state) };
            self.state = std::ptr::null_mut();
        }
        result
    }
}

/// What a plugin pushes during one call; the `Sink` behind the ABI's opaque pointer.
type HostSink = CallSink;

/// Turns the state of `sink` after a call that returned `status` into its result.
fn finish(sink: &mut HostSink, status: i32) -> Result<(), EntityError> {
    match sink.failure(status) {
        None => Ok(()),
        Some(message) => Err(EntityError {
            message,
            logs: std::mem::take(&mut sink.logs),
            instance_lost: false,
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

static HOST_API: abi::HostApi = abi::HostApi {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_a_clear_error() {
        let e = load(
            Path::new("/nonexistent/libnothing.so"),
            &LoadOptions::default(),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/libnothing.so: cannot load"),
            "{e}"
        );
    }

    #[test]
    fn v1_sizes_match_the_c_header() {
        // The sizes polyplug.h documents for x86_64 and aarch64 (LP64).
        assert_eq!(std::mem::size_of::<abi::PluginDescriptor>(), 144);
        assert_eq!(std::mem::size_of::<abi::HostApi>(), 80);
        assert_eq!(std::mem::size_of::<abi::Call>(), 40);
        assert_eq!(std::mem::size_of::<abi::Value>(), 24);
        assert_eq!(std::mem::size_of::<abi::Param>(), 40);
    }
}
