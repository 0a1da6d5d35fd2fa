//! A running instance ([`Live`]): one wasmtime store with the guest's functions, and
//! the one way polyplug calls them ([`Live::call`]), under the limits of the settings.

use crate::settings::Settings;
use crate::state::Host;
use crate::wasi::Exit;
use polyplug_core::LoadOption;
use std::sync::Arc;
use wasmtime::{Engine, InstancePre, Store, Trap, TypedFunc};

/// The export every plugin has: its guest ABI version.
pub(crate) const EXPORT_VERSION: &str = "polyplug_abi_version";
/// The export that declares the metadata.
pub(crate) const EXPORT_DESCRIBE: &str = "polyplug_describe";
/// The functions a plugin may declare, and the export each needs.
pub(crate) const FUNCTIONS: &[(&str, &str)] = &[
    ("initialize", "polyplug_initialize"),
    ("compute", "polyplug_compute"),
    ("finalize", "polyplug_finalize"),
    ("compute_id", "polyplug_compute_id"),
];

/// A running instance: its store and the guest functions.
pub(crate) struct Live {
    pub(crate) store: Store<Host>,
    version: TypedFunc<(), i32>,
    describe: TypedFunc<(), i32>,
    pub(crate) initialize: Option<TypedFunc<(), i32>>,
    pub(crate) compute: Option<TypedFunc<(), i32>>,
    pub(crate) finalize: Option<TypedFunc<(), i32>>,
    pub(crate) compute_id: Option<TypedFunc<(), i32>>,
    /// `polyplug_compute_batch`, when the module exports it: a batch in one call.
    pub(crate) compute_batch: Option<TypedFunc<(), i32>>,
}

/// The guest functions polyplug calls.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Export {
    Describe,
    Initialize,
    Compute,
    Finalize,
    ComputeId,
}

/// Why a call failed.
pub(crate) struct CallError {
    pub(crate) message: String,
    pub(crate) logs: Vec<String>,
    /// The instance cannot be used again (trap, timeout, memory cap).
    pub(crate) lost: bool,
}

impl Live {
    /// The guest's ABI version.
    pub(crate) fn abi_version(&mut self) -> Result<i32, String> {
        self.store.set_epoch_deadline(1 << 60);
        let f = self.version.clone();
        f.call(&mut self.store, ()).map_err(|e| e.to_string())
    }

    /// Whether the module exports the function of `name` (`initialize`, …).
    pub(crate) fn exports(&self, name: &str) -> bool {
        match name {
            "initialize" => self.initialize.is_some(),
            "compute" => self.compute.is_some(),
            "finalize" => self.finalize.is_some(),
            _ => self.compute_id.is_some(),
        }
    }

    /// Calls the export `which` under the limits of `settings`, and turns its outcome
    /// into the pushed values and logs, or an error. (The function is borrowed, not
    /// cloned: a clone per entity was a measurable share of a trivial plugin's time.)
    pub(crate) fn call(&mut self, which: Export, settings: &Settings) -> Result<(), CallError> {
        let f = match which {
            Export::Describe => Some(&self.describe),
            Export::Initialize => self.initialize.as_ref(),
            Export::Compute => self.compute.as_ref(),
            Export::Finalize => self.finalize.as_ref(),
            Export::ComputeId => self.compute_id.as_ref(),
        };
        let Some(f) = f else {
            return Err(CallError {
                message: format!("the plugin does not export {which:?}"),
                logs: Vec::new(),
                lost: false,
            });
        };
        let result = invoke(&mut self.store, f, settings);
        let host = self.store.data_mut();
        let logs = |host: &mut Host| std::mem::take(&mut host.sink.logs);
        match result {
            Ok(status) => {
                let lost = host.limits.hit;
                match failure(&mut host.sink, lost, status, || memory_note(settings)) {
                    None => Ok(()),
                    Some(message) => Err(CallError {
                        message,
                        logs: logs(host),
                        lost,
                    }),
                }
            }
            Err(message) => Err(CallError {
                message,
                logs: logs(host),
                lost: true,
            }),
        }
    }
}

/// Calls the guest function `f` under the limits of `settings`: its status, or why it
/// trapped (the memory cap, a timeout, fuel, the trap itself), after which the
/// instance cannot be used again.
fn invoke(
    store: &mut Store<Host>,
    f: &TypedFunc<(), i32>,
    settings: &Settings,
) -> Result<i32, String> {
    store.set_epoch_deadline(settings.deadline_ticks());
    if let Some(fuel) = settings.fuel {
        // Fuel is enabled in the engine whenever `settings.fuel` is set.
        let _ = store.set_fuel(fuel);
    }
    store.data_mut().limits.hit = false;
    let e = match f.call(&mut *store, ()) {
        Ok(status) => return Ok(status),
        Err(e) => e,
    };
    let host = store.data_mut();
    let message = if host.limits.hit {
        memory_note(settings)
    } else {
        trap_message(&e, settings)
    };
    // A message set before the trap (a Rust panic's, through the SDK's hook).
    Err(match host.sink.error.take() {
        Some(m) => format!("{m} ({message})"),
        None => message,
    })
}

/// Why a call that returned `status` failed, from what it pushed (`sink`) and whether
/// it reached the memory cap (`hit`, then with `note`); `None` when it did not.
pub(crate) fn failure(
    sink: &mut crate::state::Sink,
    hit: bool,
    status: i32,
    note: impl FnOnce() -> String,
) -> Option<String> {
    let failure = sink.failure(status);
    if !hit {
        return failure;
    }
    Some(match failure {
        Some(m) => format!("{m}; {}", note()),
        None => note(),
    })
}

impl Live {
    /// Calls `polyplug_compute_batch` over the batch set in the store
    /// (`Host::batch`, see `host::next_entity`): its status, or why it failed (a
    /// trap, a timeout, the memory cap), after which the instance cannot be used again.
    pub(crate) fn call_batch(&mut self, settings: &Settings) -> Result<i32, String> {
        let Some(f) = self.compute_batch.as_ref() else {
            return Err("the plugin does not export polyplug_compute_batch".into());
        };
        invoke(&mut self.store, f, settings)
    }
}

/// What reaching the memory cap means, and how to raise it.
pub(crate) fn memory_note(settings: &Settings) -> String {
    format!(
        "the plugin reached its memory limit of {} MiB (raise it with {} MIB)",
        settings.memory_mib(),
        settings.memory_flag
    )
}

/// Why a call trapped, in the user's terms: the time limit, the fuel, an exit, a
/// stack overflow, or the trap itself.
fn trap_message(e: &wasmtime::Error, settings: &Settings) -> String {
    if let Some(exit) = e.downcast_ref::<Exit>() {
        return exit.to_string();
    }
    let timeout = LoadOption::Timeout.flag();
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) if settings.default_timeout => format!(
            "timed out after {} s ({})",
            settings.timeout.as_secs_f64(),
            polyplug_core::Timeout::default().source()
        ),
        Some(Trap::Interrupt) => format!(
            "timed out after {} s ({timeout})",
            settings.timeout.as_secs_f64()
        ),
        Some(Trap::OutOfFuel) => format!(
            "ran out of fuel after {} units ({})",
            settings.fuel.unwrap_or(0),
            LoadOption::Fuel.flag()
        ),
        Some(Trap::StackOverflow) => "stack overflow (deep recursion?) in the plugin".into(),
        Some(trap) => {
            let t = trap.to_string();
            let t = t.strip_prefix("wasm trap: ").unwrap_or(&t);
            match e.downcast_ref::<wasmtime::WasmBacktrace>() {
                Some(bt) if settings.debug => format!("the plugin trapped: {t}\n{bt}"),
                _ => format!("the plugin trapped: {t}"),
            }
        }
        None => format!("the plugin failed: {e}"),
    }
}

/// Instantiates the module in a fresh store and runs the WASI reactor constructor.
pub(crate) fn start(
    engine: &Engine,
    pre: &InstancePre<Host>,
    s: &Settings,
    params: Arc<[u8]>,
) -> Result<Live, String> {
    let mut store = Store::new(
        engine,
        Host::new(
            params,
            crate::sandbox::Sandbox::new(s.dirs.clone()),
            s.max_memory,
            s.console.clone(),
        ),
    );
    store.limiter(|h| &mut h.limits);
    store.set_epoch_deadline(s.deadline_ticks());
    if let Some(fuel) = s.fuel {
        let _ = store.set_fuel(fuel);
    }
    let instance = match pre.instantiate(&mut store) {
        Ok(i) => i,
        Err(e) if store.data().limits.hit => {
            return Err(format!(
                "its initial memory is larger than the memory limit of {} MiB; raise it \
                     with {} MIB ({e})",
                s.memory_mib(),
                LoadOption::WasmMemory.flag()
            ))
        }
        Err(e) => return Err(e.to_string()),
    };
    let memory = instance
        .get_memory(&mut store, "memory")
        .ok_or("exports no `memory`")?;
    store.data_mut().memory = Some(memory);
    if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
        init.call(&mut store, ())
            .map_err(|e| format!("its WASI constructor (_initialize) failed: {e}"))?;
    }
    let mut get = |name: &str| instance.get_typed_func::<(), i32>(&mut store, name).ok();
    let version = get(EXPORT_VERSION).ok_or("no polyplug_abi_version")?;
    let describe = get(EXPORT_DESCRIBE).ok_or("no polyplug_describe")?;
    let initialize = get("polyplug_initialize");
    let compute = get("polyplug_compute");
    let finalize = get("polyplug_finalize");
    let compute_id = get("polyplug_compute_id");
    let compute_batch = get("polyplug_compute_batch");
    Ok(Live {
        store,
        version,
        describe,
        initialize,
        compute,
        finalize,
        compute_id,
        compute_batch,
    })
}
