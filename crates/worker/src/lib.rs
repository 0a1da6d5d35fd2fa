/*!
polyplug's worker processes: a plugin instance running in a process of its own (the
polyplug binary started as `polyplug __worker <kind>`), so that whatever the plugin
does — crash, abort, exit, hang — costs the entity it was computing and nothing else.

- [`protocol`]: the frames host and worker exchange (Load, Init, Batch, Finalize;
  Loaded, Ready, InitFailed, Results, Finalized), values written with
  `polyplug_core::codec`.
- [`ProcessInstance`] (module `host`): the host side, a `polyplug_core::Instance`.
  Batches go to the worker over a pipe; a watchdog kills a worker that overruns its
  time limit; when a worker dies during a batch, the batch's entities are computed
  again one at a time in a fresh worker, so that only the entity that killed it fails,
  with a message naming how (signal, exit status, time limit).
- [`EntityCapture`] (module `capture`): a worker's descriptors 1 and 2 pointed to the
  files of the entity being computed (`--log-dir`).
- [`watch_host`], [`protocol_output`] and [`limit_memory`] (module `watch`): what
  every worker does first — never outlive the host, keep plugin output off the
  protocol pipe, and stay within `--max-memory`.

The loaders own the worker side of their kind (`polyplug_loader_python` for Python,
`polyplug_loader_native` for compiled plugins): this crate knows no language.
*/
#![deny(missing_docs)]

mod capture;
mod frame;
mod host;
pub mod protocol;
mod watch;
mod watchdog;

pub use capture::EntityCapture;
pub use host::{LoadedWorker, ProcessInstance, WorkerSpec};
pub use watch::{limit_memory, protocol_output, watch_host, HOST_VARIABLE, MEMORY_VARIABLE};
