//! Loading a `.wasm` file: its shape (a core module exporting the guest ABI, importing
//! only what this host offers), its ABI version and its metadata, checked before any
//! entity runs.

use crate::engine;
use crate::instance::Factory;
use crate::live::{self, Export, Live, EXPORT_DESCRIBE, EXPORT_VERSION, FUNCTIONS};
use crate::settings::{Settings, SUPPORTED};
use crate::state::MetaSink;
use crate::{host, wasi, WasmPlugin, ABI_VERSION};
use polyplug_core::{LoadOption, LoadOptions, PluginError, PluginMeta, RawMeta, Value};
use std::path::Path;
use std::sync::Arc;
use wasmtime::{ExternType, Linker, Module};

/// The `polyplug` imports this host offers.
const HOST_IMPORTS: &[&str] = &[
    "push_null",
    "push_bool",
    "push_int",
    "push_float",
    "push_str",
    "begin_list",
    "end_list",
    "log",
    "error",
    "next_entity",
    "end_entity",
    "input_len",
    "input_read",
    "record_len",
    "record_read",
    "fields_len",
    "fields_read",
    "params_len",
    "params_read",
    "meta",
    "meta_param",
];

/// Loads the WebAssembly plugin at `path`.
///
/// Errors name the file and say what to do: not a WebAssembly module, a component
/// instead of a core module, a module that is not a polyplug plugin, an unsupported
/// ABI version, unknown imports, or metadata problems (all of them listed).
pub fn load(path: &Path, options: &LoadOptions) -> Result<WasmPlugin, PluginError> {
    let err = |m: String| PluginError::new(path, m);
    options.refuse_unsupported(path, "a WebAssembly plugin", SUPPORTED)?;
    let settings = Settings::check(options).map_err(err)?;
    let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
    if bytes.len() < 8 || &bytes[0..4] != b"\0asm" {
        return Err(err(
            "not a WebAssembly module (it does not start with \\0asm); a .wasm plugin is a \
             core module built with plugin-sdk/wasm (see plugin-sdk/wasm/README.md)"
                .into(),
        ));
    }
    if bytes[4..8] != [1, 0, 0, 0] {
        return Err(err(
            "a WebAssembly component, not a core module; polyplug runs core modules: \
             build for wasm32-wasi (preview 1) or wasm32-unknown-unknown"
                .into(),
        ));
    }
    let engine = engine::engine(engine::EngineKey {
        fuel: settings.fuel.is_some(),
        max_memory: settings.max_memory,
        backtrace: settings.debug,
    })
    .map_err(err)?;
    if let Err(e) = engine::start_ticker(&engine) {
        settings.console.note(&format!(
            "warning: cannot start the WebAssembly timer thread ({e}); {} will not stop \
             plugins",
            LoadOption::Timeout.flag()
        ));
    }
    let (module, origin) =
        engine::module(&engine, &bytes, settings.cache.as_deref()).map_err(err)?;
    check_shape(&module).map_err(err)?;
    let mut linker = Linker::new(&engine);
    host::add_to_linker(&mut linker)
        .and_then(|()| wasi::add_to_linker(&mut linker, &module))
        .map_err(|e| err(format!("cannot link the host functions: {e}")))?;
    let pre = linker.instantiate_pre(&module).map_err(|e| {
        err(format!(
            "cannot link: {e}; the plugin imports a function polyplug does not offer with \
             that signature, rebuild it against this polyplug's plugin-sdk/wasm"
        ))
    })?;
    let mut live = live::start(
        &engine,
        &pre,
        &settings,
        Arc::from(host::encode_params(&[])),
    )
    .map_err(|e| err(format!("cannot start the module: {e}")))?;
    let version = live
        .abi_version()
        .map_err(|e| err(format!("polyplug_abi_version() failed: {e}")))?;
    if version != ABI_VERSION as i32 {
        return Err(err(format!(
            "plugin WebAssembly ABI version {version}, this polyplug supports version \
             {ABI_VERSION}; rebuild the plugin against this polyplug's plugin-sdk/wasm \
             (or use the polyplug it was built for)"
        )));
    }
    let (meta, functions) = describe(&mut live, &settings).map_err(err)?;
    Ok(WasmPlugin::new(
        path,
        meta,
        functions,
        Factory::new(engine, pre, settings, path),
        origin == engine::Origin::Cached,
        live,
    ))
}

/// Checks the exports and imports before anything runs.
fn check_shape(module: &Module) -> Result<(), String> {
    let func_export = |name: &str| -> Result<bool, String> {
        match module.get_export(name) {
            None => Ok(false),
            Some(ExternType::Func(ft)) => {
                if ft.params().len() == 0
                    && ft.results().len() == 1
                    && matches!(ft.results().next(), Some(wasmtime::ValType::I32))
                {
                    Ok(true)
                } else {
                    Err(format!(
                        "export {name} has type {ft}, the guest ABI needs `() -> i32`"
                    ))
                }
            }
            Some(_) => Err(format!("export {name} is not a function")),
        }
    };
    if !func_export(EXPORT_VERSION)? {
        return Err(format!(
            "exports no `{EXPORT_VERSION}` function: this module is not a polyplug plugin; \
             build it with plugin-sdk/wasm (C: #include \"polyplug_wasm.h\"; Rust: \
             polyplug_wasm::export_plugin!)"
        ));
    }
    if !func_export(EXPORT_DESCRIBE)? {
        return Err(format!(
            "exports no `{EXPORT_DESCRIBE}` function; rebuild the plugin with plugin-sdk/wasm"
        ));
    }
    for (_, export) in FUNCTIONS {
        func_export(export)?;
    }
    match module.get_export("memory") {
        Some(ExternType::Memory(_)) => {}
        _ => {
            return Err(
                "exports no `memory`; the guest ABI needs the linear memory exported as \
                 `memory` (the default of clang and rustc)"
                    .into(),
            )
        }
    }
    for import in module.imports() {
        match import.module() {
            host::IMPORT_MODULE if HOST_IMPORTS.contains(&import.name()) => {}
            host::IMPORT_MODULE => {
                return Err(format!(
                    "imports polyplug::{}, which this polyplug does not offer; the plugin \
                     needs a newer polyplug",
                    import.name()
                ))
            }
            wasi::WASI_MODULE => {}
            other => {
                return Err(format!(
                    "imports {other}::{}, which polyplug does not provide: a plugin may \
                     import only from `polyplug` and `wasi_snapshot_preview1`; check that \
                     every function it calls is defined (link without --allow-undefined)",
                    import.name()
                ))
            }
        }
    }
    Ok(())
}

/// Runs `polyplug_describe` and validates what it declared.
fn describe(
    live: &mut Live,
    settings: &Settings,
) -> Result<(PluginMeta, Vec<&'static str>), String> {
    live.store.data_mut().meta = Some(MetaSink::default());
    let called = live.call(Export::Describe, settings);
    let collected = live.store.data_mut().meta.take().unwrap_or_default();
    if let Err(e) = called {
        return Err(format!("polyplug_describe failed: {}", e.message));
    }
    let MetaSink {
        fields,
        output,
        params,
        functions,
        mut problems,
    } = collected;
    let mut raw = RawMeta::default();
    const KEYS: &[&str] = &[
        "ID",
        "VERSION",
        "INPUT",
        "METHOD",
        "IMPLEMENTATION",
        "REQ_SOFTWARE",
        "REQ_HARDWARE",
        "ADVICE",
    ];
    for (k, v) in fields {
        if KEYS.contains(&k.as_str()) {
            raw.set(&k, Value::Str(v));
        } else {
            problems.push(format!(
                "unknown metadata key {k:?}; known keys: {}, OUTPUT, FUNCTION",
                KEYS.join(", ")
            ));
        }
    }
    if !output.is_empty() {
        raw.set(
            "OUTPUT",
            Value::List(output.into_iter().map(Value::Str).collect()),
        );
    }
    if !params.is_empty() {
        raw.set(
            "PARAMETERS",
            Value::List(
                params
                    .into_iter()
                    .map(|p| Value::List(p.into_iter().map(Value::Str).collect()))
                    .collect(),
            ),
        );
    }
    let mut declared = Vec::new();
    for f in functions {
        match FUNCTIONS.iter().find(|(name, _)| *name == f) {
            Some((name, export)) => {
                if !live.exports(name) {
                    problems.push(format!(
                        "declares the function {name} but does not export {export}"
                    ));
                } else if !declared.contains(name) {
                    declared.push(*name);
                }
            }
            None => problems.push(format!(
                "declares an unknown function {f:?} (known: initialize, compute, \
                     finalize, compute_id)"
            )),
        }
    }
    if !declared.contains(&"compute") && !declared.contains(&"compute_id") {
        problems.push("declares neither compute nor compute_id".into());
    }
    let validated = PluginMeta::validate(&raw);
    if let Err(more) = validated.as_ref() {
        problems.extend(more.0.iter().cloned());
    }
    match validated {
        Ok(meta) if problems.is_empty() => Ok((meta, declared)),
        _ => Err(format!("bad metadata:\n  - {}", problems.join("\n  - "))),
    }
}
