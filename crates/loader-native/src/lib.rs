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
    EntityError, Instance, LoadOption, LoadOptions, Outcome, OutputSpec, Params, Plugin,
    PluginError, PluginMeta, RawMeta, Record, Value,
};
use polyplug_worker::{ProcessInstance, WorkerSpec};
use std::ffi::{c_char, c_void, CStr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod callbacks;
#[cfg(target_os = "linux")]
mod elf;
mod worker;

use callbacks::{finish, HostSink, HOST_API};
pub use worker::worker_main;

/// File extensions of native plugin libraries on this platform.
pub const EXTENSIONS: &[&str] = &["so", "dylib"];

/// A plugin loaded from a shared library.
pub struct NativePlugin {
    path: PathBuf,
    meta: PluginMeta,
    desc: &'static abi::PluginDescriptor,
    abi_version: u32,
    /// How its instances' worker processes start; `None`: in this process.
    workers: Option<Arc<WorkerSpec>>,
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

    /// Whether instances run in worker processes (else in this process).
    pub fn isolated(&self) -> bool {
        self.workers.is_some()
    }

    /// Runs the instances in worker processes started as `<program> __worker native`
    /// (see [`worker_main`]), which load the library at `library`.
    fn isolate(mut self, program: PathBuf, library: &Path, options: &LoadOptions) -> Self {
        self.workers = Some(Arc::new(WorkerSpec {
            program,
            kind: "native",
            label: "native worker",
            plugin: library.to_path_buf(),
            python_path: Vec::new(),
            timeout: options.timeout,
            max_memory_mib: options.max_memory_mib,
            records: options.records.clone(),
            debug: options.debug,
            log_dir: options.log_dir.clone(),
            // The worker's own clock stops an overrunning entity (SIGALRM); the host
            // kills a worker that does not even do that, a moment later.
            kill_slack: Duration::from_secs(1),
        }));
        self
    }
}

/// The options a native plugin honours in a worker process (the default): a time
/// limit (the worker is killed when an entity overruns it) and a memory limit (the
/// worker's). It is not sandboxed.
pub const SUPPORTED: &[LoadOption] = &[
    LoadOption::Timeout,
    LoadOption::MaxMemory,
    LoadOption::LogDir,
];

/// The options a native plugin honours in the polyplug process
/// ([`LoadOptions::in_process`]): none; nothing can stop it from outside.
pub const SUPPORTED_IN_PROCESS: &[LoadOption] = &[];

/// Whether the options run native instances in worker processes: unless the run asks
/// for in-process, or the polyplug program is not known.
pub fn isolated(options: &LoadOptions) -> bool {
    options.worker_program.is_some() && !options.in_process
}

/// Loads the native plugin at `path`, refusing the options it cannot honour
/// (see [`SUPPORTED`] and [`SUPPORTED_IN_PROCESS`]).
///
/// Errors name the file and say what to do: an unsupported option, not a loadable
/// library, no `polyplug_plugin` symbol, an unsupported ABI version, a descriptor too
/// small, or metadata problems (all of them listed).
pub fn load(path: &Path, options: &LoadOptions) -> Result<NativePlugin, PluginError> {
    refuse(path, "a native plugin", options)?;
    open_with(path, options)
}

/// Refuses what a native plugin (`kind`, for the message) cannot honour with these
/// options: for loaders built on this one.
pub fn refuse(path: &Path, kind: &str, options: &LoadOptions) -> Result<(), PluginError> {
    let supported = if isolated(options) {
        SUPPORTED
    } else {
        SUPPORTED_IN_PROCESS
    };
    options.refuse_unsupported(path, kind, supported)
}

/// Opens the library at `library` as a native plugin whose instances run as the
/// options say (in worker processes by default), without checking the options
/// ([`refuse`]).
pub fn open_with(library: &Path, options: &LoadOptions) -> Result<NativePlugin, PluginError> {
    let p = open(library)?;
    Ok(match (&options.worker_program, isolated(options)) {
        (Some(program), true) => p.isolate(program.clone(), library, options),
        _ => p,
    })
}

/// Opens the library at `path` as a native plugin running in this process (no
/// options): for the worker side and for loaders built on this one.
pub fn open(path: &Path) -> Result<NativePlugin, PluginError> {
    let err = |m: String| PluginError::new(path, m);
    #[cfg(target_os = "linux")]
    elf::check(path).map_err(|m| {
        err(format!(
            "cannot load as a shared library: {m}; a native plugin is a .so built \
             against polyplug.h or with polyplug-sdk"
        ))
    })?;
    // A name without a folder would be searched for in the system's library path:
    // dlopen is given the file meant.
    let file = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    // SAFETY: loading a library runs its initializers; running the user's plugin code
    // with the user's rights is the documented contract of native plugins.
    let lib = unsafe { libloading::Library::new(&file) }.map_err(|e| {
        // libloading keeps the system's description in the error's source.
        let why = std::error::Error::source(&e).map_or(e.to_string(), |s| s.to_string());
        err(format!(
            "cannot load as a shared library: {why}; a native plugin must be a .so/.dylib \
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
        workers: None,
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
        if let Some(spec) = &self.workers {
            return Ok(Box::new(ProcessInstance::start(spec.clone(), params)?));
        }
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
            fields: Vec::new(),
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
            record: abi::Bytes {
                ptr: std::ptr::null(),
                len: 0,
            },
            fields: std::ptr::null(),
            n_fields: 0,
        }
    }

    /// The call of a compute in records mode: `record`'s bytes and its fields, put
    /// into `fields` (the caller's buffer, reused), which must outlive the call.
    fn record_call(
        &self,
        sink: &mut HostSink,
        record: &Record<'_>,
        fields: &mut Vec<abi::Field>,
    ) -> abi::Call {
        let str_of = |s: &str| abi::Str {
            ptr: s.as_ptr().cast(),
            len: s.len(),
        };
        fields.clear();
        fields.extend(record.fields.iter().map(|(n, v)| abi::Field {
            name: str_of(n),
            value: str_of(v),
        }));
        let mut call = self.call(sink);
        // An empty record is still a record: its pointer is not NULL.
        call.record = abi::Bytes {
            ptr: if record.bytes.is_empty() {
                NOT_NULL.as_ptr()
            } else {
                record.bytes.as_ptr()
            },
            len: record.bytes.len(),
        };
        if !fields.is_empty() {
            call.fields = fields.as_ptr();
            call.n_fields = fields.len();
        }
        call
    }
}

/// What an empty record's bytes point to.
static NOT_NULL: [u8; 1] = [0];

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
    /// The fields of the record being computed, in ABI form (records mode).
    fields: Vec<abi::Field>,
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

    fn compute_record(
        &mut self,
        entity: &str,
        record: &Record<'_>,
        out: &mut Outcome,
    ) -> Result<(), EntityError> {
        let f = self
            .desc
            .compute
            .ok_or_else(|| EntityError::new("the plugin has no compute function"))?;
        self.sink.reset();
        let mut fields = std::mem::take(&mut self.fields);
        let call = self.args.record_call(&mut self.sink, record, &mut fields);
        // SAFETY: `entity`, `record` (which `call.record` and `fields` point into),
        // `fields` and `call` outlive the call; `state` is this instance's, used by
        // this thread only.
        let status = unsafe { f(self.state, entity.as_ptr().cast(), entity.len(), &call) };
        self.fields = fields;
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
        assert_eq!(std::mem::size_of::<abi::Call>(), 72);
        assert_eq!(abi::CALL_V1_SIZE, 40);
        assert_eq!(std::mem::offset_of!(abi::Call, record), abi::CALL_V1_SIZE);
        assert_eq!(std::mem::size_of::<abi::Field>(), 32);
        assert_eq!(std::mem::size_of::<abi::Value>(), 24);
        assert_eq!(std::mem::size_of::<abi::Param>(), 40);
    }
}
