/*!
polyplug's batch runner: it runs one plugin over many entities, in parallel, and
records every result in input order.

The runner does not know which language a plugin is written in: it sees only the
[`polyplug_core::Plugin`] and [`polyplug_core::Instance`] traits.

- [`input`] selects the entities as `prenacs batch-compute` does (`ids <file> [<col>]`
  or `files <glob>`, `--idsproc`, `--skip`), streamed so memory stays flat.
- [`run()`] starts one worker per job, each with its own plugin instance
  (initialize once, compute per entity, finalize once, also after failures), feeds
  them batches sized to the plugin's speed, checks every result against the
  [`polyplug_core::OutputSpec`], and hands results in input order to a [`Recorder`].
- [`repeats`] finds the IDs an input gives more than once, before the run, in
  memory that does not grow with the input.
- [`ids`] gives an IDs file's IDs by the run's rules without a `String` of each, for work
  that reads an input again after its run (a merge of shards).
- [`output`] is the Prenacs TSV format ([`output::TsvWriter`], one [`Recorder`]).

It does not print: progress goes to a [`Progress`] the caller gives, everything else
comes back in the [`RunSummary`]. The report a run ends with is
[`polyplug_core::Report`], built by the caller from the summary.

A failed entity is recorded and the run goes on; the caller decides the exit status
from the [`RunSummary`].
*/
#![deny(missing_docs)]

mod collide;
mod compute;
mod files;
pub mod ids;
pub mod input;
mod input_error;
mod lines;
pub mod output;
pub mod remember;
pub mod repeats;
mod run;
mod skip;
mod spill;
mod units;

/// What gives the memory that a large, short-lived structure held back to the
/// system, set once by the program ([`set_give_back`]).
static GIVE_BACK: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Sets what gives freed memory back to the system: called after the repeated-ID
/// check, after the skip list and the store were read, and after a skip set has
/// marked the input's lines: the large, short-lived work before a run. An allocator keeps what is freed for reuse (mimalloc, in
/// the binary, for about a second), and the run would carry it as its own: a third
/// of the peak of a rerun over millions of stored entities. Only the first call counts.
pub fn set_give_back(f: fn()) {
    let _ = GIVE_BACK.set(f);
}

/// Gives freed memory back, with what [`set_give_back`] set (nothing if unset).
pub(crate) fn give_back() {
    if let Some(f) = GIVE_BACK.get() {
        f();
    }
}

pub use run::{
    run, EntityResult, FailureBudget, Halt, HaltBy, Progress, Recorder, RunOptions, RunSummary,
};
