//! The parallel engine: a reader feeds batches of entities to N workers, each with its
//! own plugin instance, and the calling thread records their results in input order.

use crate::compute::{compute, retry};
use crate::input::InputError;
use crossbeam_channel::{bounded, Receiver, Sender};
use polyplug_core::{
    BatchResults, Entity, EntityError, Outcome, OutputSpec, Params, Plugin, PluginError,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What became of one entity: computed (values, possibly none, and logs), or failed
/// (the error, with the logs emitted before it). The same type as a loader's
/// `BatchResults` items, so that results move from instance to recorder uncopied.
pub type EntityResult = Result<Outcome, EntityError>;

/// Receives results in input order. Implemented by the TSV writers and, later, stores.
pub trait Recorder {
    /// Records one entity's result.
    fn record(&mut self, entity: &Entity, result: &EntityResult) -> std::io::Result<()>;
    /// Makes everything recorded so far durable (called at the end and periodically).
    fn flush(&mut self) -> std::io::Result<()>;
}

/// Receives the progress of a run, as entities are recorded (the command line draws
/// a bar with it). Called from the thread that called [`run`].
pub trait Progress: Send + Sync {
    /// The run starts, with this many entities in all if known (the runner does not
    /// call it: whoever knows the input does).
    fn start(&self, _total: Option<u64>) {}
    /// `n` more entities were recorded.
    fn advance(&self, n: u64);
    /// The run is over (the bar can be removed).
    fn finish(&self);
    /// Worker `worker` starts computing `n` entities, the first of them `first`.
    fn working(&self, _worker: usize, _first: &str, _n: usize) {}
    /// Worker `worker` has finished its entities.
    fn idle(&self, _worker: usize) {}
    /// An entity failed (recorded as failed, after its retries).
    fn failure(&self, _entity: &str, _message: &str) {}
}

/// How to run.
#[derive(Clone)]
pub struct RunOptions {
    /// Number of workers, each with its own plugin instance.
    pub jobs: usize,
    /// Stop at the first failed entity.
    pub halt_on_error: bool,
    /// Compute a failed entity again up to this many times (on a fresh instance when
    /// the failure cost the instance) before it counts as failed.
    pub retries: u32,
    /// Stop once this many entities failed (after their retries).
    pub max_failures: Option<FailureBudget>,
    /// Told of every batch recorded.
    pub progress: Option<std::sync::Arc<dyn Progress>>,
    /// Set from outside (a signal) to stop feeding entities; what was computed is kept.
    pub stop: Arc<AtomicBool>,
    /// Largest batch handed to a worker at once.
    pub max_batch: usize,
    /// Records mode: where the records are, for the workers whose instances do not
    /// read them themselves ([`polyplug_core::Instance::reads_records`]).
    pub records: Option<Arc<polyplug_core::RecordSource>>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("jobs", &self.jobs)
            .field("halt_on_error", &self.halt_on_error)
            .field("retries", &self.retries)
            .field("max_failures", &self.max_failures)
            .field("progress", &self.progress.is_some())
            .field("stop", &self.stop)
            .field("max_batch", &self.max_batch)
            .field("records", &self.records)
            .finish()
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: 1,
            halt_on_error: false,
            retries: 0,
            max_failures: None,
            progress: None,
            stop: Arc::new(AtomicBool::new(false)),
            max_batch: 4096,
            records: None,
        }
    }
}

/// How many failed entities stop a run (`--max-failures`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailureBudget {
    /// Stop at the N-th failure.
    Count(u64),
    /// Stop once failures reach this share (percent, above 0 and at most 100) of the
    /// entities recorded so far, judged from [`FailureBudget::MIN_SAMPLE`] entities on.
    Share(f64),
}

impl FailureBudget {
    /// Entities recorded before a share is judged.
    pub const MIN_SAMPLE: u64 = 100;

    /// Whether `failed` failures among `seen` recorded entities exhaust the budget.
    pub fn exhausted(&self, failed: u64, seen: u64) -> bool {
        match *self {
            FailureBudget::Count(n) => failed >= n,
            FailureBudget::Share(percent) => {
                seen >= Self::MIN_SAMPLE && failed as f64 >= percent / 100.0 * seen as f64
            }
        }
    }
}

impl std::fmt::Display for FailureBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureBudget::Count(n) => write!(f, "--max-failures {n}"),
            FailureBudget::Share(p) => write!(f, "--max-failures {p}%"),
        }
    }
}

/// Why a run stopped before its input ended, and at which entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Halt {
    /// The option that stopped it: `--halt-on-error` or `--max-failures`.
    pub by: HaltBy,
    /// The failed entity at which it stopped.
    pub entity: String,
}

/// The option that stopped a run; displayed as the option.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HaltBy {
    /// `--halt-on-error`: the first failure.
    HaltOnError,
    /// `--max-failures`: the budget was spent.
    MaxFailures(FailureBudget),
}

impl std::fmt::Display for HaltBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HaltBy::HaltOnError => f.write_str("--halt-on-error"),
            HaltBy::MaxFailures(b) => b.fmt(f),
        }
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct RunSummary {
    /// Entities computed (with or without a result).
    pub n_units: u64,
    /// Of those, the ones without a result (no values: the plugin said so).
    pub n_no_result: u64,
    /// Entities that failed.
    pub n_failed: u64,
    /// The first failure: entity ID and message.
    pub first_error: Option<(String, String)>,
    /// The first few failures ([`RunSummary::LISTED`]): entity ID and message.
    pub failures: Vec<(String, String)>,
    /// Whether the run stopped early (interrupt, `--halt-on-error`, `--max-failures`).
    pub stopped: bool,
    /// Why a failure stopped the run, when one did.
    pub halt: Option<Halt>,
    /// A problem with the input that stopped the run.
    pub input_error: Option<InputError>,
    /// Log messages of each worker's finalize.
    pub finalize_logs: Vec<String>,
    /// Failures of initialize or finalize.
    pub plugin_errors: Vec<PluginError>,
}

impl RunSummary {
    /// How many failures [`RunSummary::failures`] lists.
    pub const LISTED: usize = 5;
}

struct Batch {
    seq: u64,
    entities: Vec<Entity>,
}

struct DoneBatch {
    seq: u64,
    entities: Vec<Entity>,
    results: BatchResults,
}

/// Where recorded batches go back to, so that their allocations serve again in the
/// thread that made them: the entities to the reader (which frees their IDs and
/// refills the vector), the results to the workers (which compute into the same
/// outcomes). Freeing millions of small allocations in the recording thread, which
/// did not make them, cost more than writing the rows.
struct Recycle {
    entities: Sender<Vec<Entity>>,
    results: Sender<BatchResults>,
}

impl Recycle {
    fn give(&self, batch: DoneBatch) {
        let DoneBatch {
            entities,
            mut results,
            ..
        } = batch;
        results.recycle();
        // Full (the threads have enough) or gone (the run is ending): dropped here.
        let _ = self.results.try_send(results);
        let _ = self.entities.try_send(entities);
    }
}

enum WorkerMsg {
    Done(DoneBatch),
    /// Initialize failed: nothing can be computed.
    Fatal(PluginError),
}

/// Runs `plugin` over `entities`, recording each result in input order.
///
/// Every worker initializes its own instance, computes the batches it receives and is
/// finalized at the end, also after failures or a stop. A failing entity is recorded
/// and the run goes on, unless `halt_on_error`.
pub fn run<I>(
    plugin: &dyn Plugin,
    params: &Params,
    spec: &OutputSpec,
    entities: I,
    recorder: &mut dyn Recorder,
    opts: &RunOptions,
) -> std::io::Result<RunSummary>
where
    I: Iterator<Item = Result<Entity, InputError>> + Send,
{
    let jobs = opts.jobs.max(1);
    let window = jobs * 4;
    let batch_ns = plugin.batch_time().as_nanos().clamp(1, u64::MAX as u128) as u64;
    let (work_tx, work_rx) = bounded::<Batch>(window);
    let (done_tx, done_rx) = bounded::<WorkerMsg>(window);
    // One token per batch in flight: bounds memory whatever the speed of each worker.
    let (token_tx, token_rx) = bounded::<()>(window);
    let (used_entities_tx, used_entities_rx) = bounded::<Vec<Entity>>(window);
    let (used_results_tx, used_results_rx) = bounded::<BatchResults>(window);
    let recycle = Recycle {
        entities: used_entities_tx,
        results: used_results_tx,
    };
    for _ in 0..window {
        let _ = token_tx.send(());
    }
    let ns_per_entity = AtomicU64::new(0);
    let stop = &opts.stop;
    let halted = AtomicBool::new(false);
    let mut summary = RunSummary::default();
    let progress = opts.progress.as_deref();

    std::thread::scope(|scope| -> std::io::Result<()> {
        let reader = scope.spawn({
            let ns = &ns_per_entity;
            let halted = &halted;
            move || {
                feed(
                    entities,
                    work_tx,
                    token_rx,
                    used_entities_rx,
                    ns,
                    stop,
                    halted,
                    opts.max_batch,
                    batch_ns,
                )
            }
        });
        let mut workers = Vec::new();
        for worker in 0..jobs {
            let work_rx = work_rx.clone();
            let done_tx = done_tx.clone();
            let spare = used_results_rx.clone();
            let ns = &ns_per_entity;
            let halted = &halted;
            workers.push(scope.spawn(move || {
                work(
                    plugin, params, spec, work_rx, done_tx, spare, ns, stop, halted, opts, worker,
                )
            }));
        }
        drop(work_rx);
        drop(done_tx);
        drop(used_results_rx);

        let mut pending: BTreeMap<u64, DoneBatch> = BTreeMap::new();
        let mut next_seq = 0u64;
        let mut last_flush = Instant::now();
        let mut unflushed = false;
        let mut io_result = Ok(());
        loop {
            // Recorded results reach the files (and the store commits them) within
            // FLUSH_EVERY, also while the next batch is slow: a kill then costs only
            // what was under way.
            let wait = if unflushed && io_result.is_ok() {
                FLUSH_EVERY.saturating_sub(last_flush.elapsed())
            } else {
                Duration::from_secs(3600)
            };
            let msg = match done_rx.recv_timeout(wait) {
                Ok(msg) => Some(msg),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            };
            match msg {
                None => {}
                Some(WorkerMsg::Fatal(e)) => {
                    halted.store(true, Ordering::SeqCst);
                    summary.plugin_errors.push(e);
                }
                Some(WorkerMsg::Done(b)) => {
                    pending.insert(b.seq, b);
                }
            }
            while let Some(batch) = pending.remove(&next_seq) {
                next_seq += 1;
                unflushed = true;
                let _ = token_tx.try_send(());
                if record_batch(
                    &batch,
                    recorder,
                    &mut summary,
                    &mut io_result,
                    Some(opts),
                    progress,
                ) {
                    halted.store(true, Ordering::SeqCst);
                }
                if let Some(p) = progress {
                    p.advance(batch.results.len() as u64);
                }
                recycle.give(batch);
            }
            if unflushed && last_flush.elapsed() >= FLUSH_EVERY && io_result.is_ok() {
                io_result = recorder.flush();
                last_flush = Instant::now();
                unflushed = false;
            }
        }
        // Batches after a hole left by a stop are still recorded: nothing computed is lost.
        for (_, batch) in std::mem::take(&mut pending) {
            record_batch(
                &batch,
                recorder,
                &mut summary,
                &mut io_result,
                None,
                progress,
            );
            if let Some(p) = progress {
                p.advance(batch.results.len() as u64);
            }
        }
        if let Some(p) = progress {
            p.finish();
        }
        match reader.join() {
            Ok(Some(e)) => summary.input_error = Some(e),
            Ok(None) => {}
            Err(_) => summary.input_error = Some(InputError::ReaderCrashed),
        }
        for w in workers {
            match w.join() {
                Ok(Ok(logs)) => summary.finalize_logs.extend(logs),
                Ok(Err(e)) => summary.plugin_errors.push(e),
                Err(_) => summary
                    .plugin_errors
                    .push(PluginError::new(plugin.path(), "a worker crashed")),
            }
        }
        io_result?;
        recorder.flush()
    })?;
    summary.stopped = stop.load(Ordering::SeqCst) || halted.load(Ordering::SeqCst);
    Ok(summary)
}

/// How long recorded results may wait in buffers before they are flushed (and
/// committed to the store).
const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// Records one finished batch and counts its results. Returns whether the run must
/// halt: the outputs cannot be written, or a failure exhausted `--halt-on-error` or
/// `--max-failures` (`opts`; `None` for what is recorded after a stop). After a write
/// error nothing more is written; the error is kept for the caller.
fn record_batch(
    batch: &DoneBatch,
    recorder: &mut dyn Recorder,
    summary: &mut RunSummary,
    io_result: &mut std::io::Result<()>,
    opts: Option<&RunOptions>,
    progress: Option<&dyn Progress>,
) -> bool {
    let mut halt = false;
    for (entity, result) in batch.entities.iter().zip(batch.results.iter()) {
        if io_result.is_ok() {
            if let Err(e) = recorder.record(entity, result) {
                *io_result = Err(e);
                halt = true;
            }
        }
        match result {
            Ok(out) => {
                summary.n_units += 1;
                summary.n_no_result += u64::from(out.values.is_empty());
            }
            Err(e) => {
                summary.n_failed += 1;
                if summary.first_error.is_none() {
                    summary.first_error = Some((entity.id.clone(), e.message.clone()));
                }
                if summary.failures.len() < RunSummary::LISTED {
                    summary
                        .failures
                        .push((entity.id.clone(), e.message.clone()));
                }
                if let Some(p) = progress {
                    p.failure(&entity.id, &e.message);
                }
                let by = opts.and_then(|o| {
                    let seen = summary.n_units + summary.n_failed;
                    match o.max_failures {
                        Some(b) if b.exhausted(summary.n_failed, seen) => {
                            Some(HaltBy::MaxFailures(b))
                        }
                        _ => o.halt_on_error.then_some(HaltBy::HaltOnError),
                    }
                });
                if let (Some(by), None) = (by, &summary.halt) {
                    summary.halt = Some(Halt {
                        by,
                        entity: entity.id.clone(),
                    });
                }
                halt |= by.is_some();
            }
        }
    }
    halt
}

/// Reads entities into batches sized so that each takes about `batch_ns` of compute
/// ([`Plugin::batch_time`], 2 ms unless the plugin's kind says otherwise): one
/// entity at a time for slow plugins (so every worker gets work and a stop takes
/// effect soon), up to `max_batch` for trivial ones (so channel costs vanish). Returns
/// the input error that stopped it.
#[allow(
    clippy::too_many_arguments,
    reason = "internal reader loop, called once"
)]
fn feed<I>(
    entities: I,
    work_tx: Sender<Batch>,
    tokens: Receiver<()>,
    used: Receiver<Vec<Entity>>,
    ns_per_entity: &AtomicU64,
    stop: &AtomicBool,
    halted: &AtomicBool,
    max_batch: usize,
    batch_ns: u64,
) -> Option<InputError>
where
    I: Iterator<Item = Result<Entity, InputError>>,
{
    let mut entities = entities.peekable();
    let mut seq = 0u64;
    let mut last_size = 1usize;
    loop {
        if stop.load(Ordering::SeqCst) || halted.load(Ordering::SeqCst) {
            return None;
        }
        entities.peek()?;
        // Wait for room in the window, but notice a stop while waiting: after a stop
        // the window may never drain (stopped workers leave holes in the order).
        loop {
            match tokens.recv_timeout(std::time::Duration::from_millis(50)) {
                Ok(()) => break,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    if stop.load(Ordering::SeqCst) || halted.load(Ordering::SeqCst) {
                        return None;
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return None,
            }
        }
        let ns = ns_per_entity.load(Ordering::Relaxed);
        // Aim at `batch_ns` of compute per batch, growing at most 2x per batch so that one
        // fast entity does not make the next batch huge; 1 until a batch was timed.
        let target = batch_ns
            .checked_div(ns)
            .map_or(1, |n| n.clamp(1, max_batch as u64) as usize);
        let size = target.min(last_size * 2);
        last_size = size;
        // A recorded batch's vector, emptied here: its IDs are freed by the thread
        // that allocated them.
        let mut batch = match used.try_recv() {
            Ok(mut v) => {
                v.clear();
                v.reserve(size);
                v
            }
            Err(_) => Vec::with_capacity(size),
        };
        let mut error = None;
        while batch.len() < size {
            match entities.next() {
                Some(Ok(e)) => batch.push(e),
                Some(Err(e)) => {
                    error = Some(e);
                    break;
                }
                None => break,
            }
        }
        if !batch.is_empty() {
            if work_tx
                .send(Batch {
                    seq,
                    entities: batch,
                })
                .is_err()
            {
                return error;
            }
            seq += 1;
        }
        if error.is_some() {
            return error;
        }
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "internal worker loop, called once"
)]
fn work(
    plugin: &dyn Plugin,
    params: &Params,
    spec: &OutputSpec,
    work_rx: Receiver<Batch>,
    done_tx: Sender<WorkerMsg>,
    spare: Receiver<BatchResults>,
    ns_per_entity: &AtomicU64,
    stop: &AtomicBool,
    halted: &AtomicBool,
    opts: &RunOptions,
    worker: usize,
) -> Result<Vec<String>, PluginError> {
    // The instance is started when the worker's first batch comes, and again after
    // one is lost: a run of fewer batches than workers starts no instance (no worker
    // process, no interpreter, no `initialize`) that would compute nothing.
    let mut slot: Option<Box<dyn polyplug_core::Instance>> = None;
    let stopped = || stop.load(Ordering::SeqCst) || halted.load(Ordering::SeqCst);
    let mut records = opts.records.as_deref().map(polyplug_records::Reader::open);
    for batch in work_rx.iter() {
        if stopped() {
            continue; // not computed: it will be computed by a rerun
        }
        let instance = match &mut slot {
            Some(i) => i,
            None => match plugin.instantiate(params, spec) {
                Ok(i) => slot.insert(i),
                Err(e) => {
                    let _ = done_tx.send(WorkerMsg::Fatal(e));
                    // Drain the work so the reader is not blocked; nothing is computed.
                    for _ in work_rx.iter() {}
                    return Ok(Vec::new());
                }
            },
        };
        let started = Instant::now();
        if let (Some(p), Some(first)) = (&opts.progress, batch.entities.first()) {
            p.working(worker, &first.id, batch.entities.len());
        }
        // A recorded batch's results, their outcomes to be filled again.
        let mut results = spare.try_recv().unwrap_or_default();
        results.reserve(batch.entities.len());
        compute(
            instance.as_mut(),
            records.as_mut(),
            &batch.entities,
            &mut results,
        );
        let n = batch.entities.len().max(1) as u64;
        ns_per_entity.store(
            (started.elapsed().as_nanos() as u64 / n).max(1),
            Ordering::Relaxed,
        );
        let mut lost = check(spec, &mut results);
        if opts.retries > 0 && results.iter().any(Result::is_err) {
            let again = retry(
                plugin,
                params,
                spec,
                instance,
                lost,
                &batch.entities,
                &mut results,
                opts.retries,
                &stopped,
                records.as_mut(),
            );
            match again {
                Ok(still_lost) => lost = still_lost,
                Err(e) => {
                    let _ = done_tx.send(WorkerMsg::Done(DoneBatch {
                        seq: batch.seq,
                        entities: batch.entities,
                        results,
                    }));
                    let _ = done_tx.send(WorkerMsg::Fatal(e));
                    for _ in work_rx.iter() {}
                    return Ok(Vec::new());
                }
            }
        }
        if let Some(p) = &opts.progress {
            p.idle(worker);
        }
        let failed = results.iter().any(Result::is_err);
        let done = DoneBatch {
            seq: batch.seq,
            entities: batch.entities,
            results,
        };
        if failed && opts.halt_on_error {
            // Stop the other workers now, not when the writer gets to this batch.
            halted.store(true, Ordering::SeqCst);
        }
        if done_tx.send(WorkerMsg::Done(done)).is_err() {
            break;
        }
        if lost {
            // The instance cannot go on (a crashed worker process, a trapped sandbox):
            // the next batch starts a fresh one.
            if let Some(old) = slot.take() {
                let _ = old.finalize();
            }
        }
    }
    match slot {
        Some(i) => i.finalize(),
        None => Ok(Vec::new()),
    }
}

/// Checks the values of each result against the output spec, in place: the outcomes
/// go to the recorder as the instance made them. Returns whether a failure cost the
/// instance.
pub(crate) fn check(spec: &OutputSpec, results: &mut [EntityResult]) -> bool {
    let mut lost = false;
    for r in results {
        match r {
            Ok(out) => {
                if let Err(mismatch) = spec.check(&out.values) {
                    *r = Err(EntityError {
                        message: mismatch.to_string(),
                        logs: std::mem::take(&mut out.logs),
                        instance_lost: false,
                        out_of_memory: false,
                    });
                }
            }
            Err(e) => lost |= e.instance_lost,
        }
    }
    lost
}
