//! One worker's instance of a Bash plugin: its bash process, its keyword arguments and
//! its state, and the compute loop (a batch per request).

use crate::batch::push_request;
use crate::text;
use crate::worker::{shown_output, CallOutput, Ending, Op, Worker};
use crate::Shared;
use polyplug_core::{
    compute_as_batch, BatchResults, ColumnKind, Entity, EntityError, Instance, Outcome, Params,
    PluginError, Record,
};
use std::sync::Arc;

pub(crate) struct BashInstance {
    shared: Arc<Shared>,
    worker: Option<Worker>,
    /// `name=value` words for the declared parameters, quoted for `eval`.
    keywords: Vec<String>,
    /// What initialize printed, when the plugin has initialize.
    state: Option<String>,
    /// The column types the attribute definitions give, when known.
    kinds: Option<Vec<ColumnKind>>,
}

impl BashInstance {
    /// Starts a worker, runs initialize and returns the instance.
    pub(crate) fn start(
        shared: Arc<Shared>,
        params: &Params,
        kinds: Option<Vec<ColumnKind>>,
    ) -> Result<BashInstance, PluginError> {
        let keywords = params
            .entries()
            .iter()
            .map(|(k, v)| text::keyword_word(k, &v.to_py_str()))
            .collect();
        let mut inst = BashInstance {
            shared,
            worker: None,
            keywords,
            state: None,
            kinds,
        };
        // Start the worker now: a script that cannot be sourced stops the run here,
        // with bash's words, instead of failing every entity.
        inst.ensure_worker().map_err(|m| inst.error(m))?;
        if inst.shared.has_initialize {
            let out = inst.call(Op::Initialize, "-")?;
            if !out.ending.success() {
                return Err(inst.error(format!(
                    "initialize {}{}",
                    out.ending
                        .describe(inst.shared.timeout, inst.shared.max_memory_mib),
                    shown_output(&out.stderr)
                )));
            }
            let state = String::from_utf8(out.stdout).map_err(|_| {
                inst.error("initialize printed a state that is not UTF-8 text".to_string())
            })?;
            forward_stderr(&inst.shared, "initialize", &out.stderr);
            let state = state.trim_end_matches(['\n', '\r']).to_string();
            let word = text::keyword_word("state", &state);
            inst.state = Some(state);
            if let Some(w) = inst.worker.as_mut() {
                if w.send_setting(b'S', &word).is_err() {
                    inst.worker = None;
                }
            }
        }
        Ok(inst)
    }

    fn error(&self, message: String) -> PluginError {
        PluginError::new(&self.shared.path, message)
    }

    /// Starts (or replaces) the worker when needed: the script is sourced again and
    /// gets the same keyword arguments and state.
    fn ensure_worker(&mut self) -> Result<(), String> {
        if self.worker.as_ref().is_some_and(Worker::ended) {
            self.worker = None;
        }
        if self.worker.is_none() {
            let (mut w, source_output) = Worker::spawn(
                &self.shared.source_path,
                self.shared.mode,
                self.shared.timeout.limit(),
                self.shared.max_memory_mib,
                &self.shared.console,
                self.shared.guard.as_deref(),
                self.shared.trace,
            )?;
            forward_stderr(&self.shared, "sourcing", &source_output);
            for word in &self.keywords {
                w.send_setting(b'K', word)
                    .map_err(|e| format!("cannot send the parameters to bash: {e}"))?;
            }
            if let Some(state) = &self.state {
                w.send_setting(b'S', &text::keyword_word("state", state))
                    .map_err(|e| format!("cannot send the state to bash: {e}"))?;
            }
            self.worker = Some(w);
        }
        Ok(())
    }

    /// One call that is not a compute (initialize, finalize).
    fn call(&mut self, op: Op, arg: &str) -> Result<CallOutput, PluginError> {
        let timeout = self.shared.timeout.limit();
        self.ensure_worker().map_err(|m| self.error(m))?;
        let Some(w) = self.worker.as_mut() else {
            return Err(self.error("no bash worker".into()));
        };
        let out = w.call(op, arg, timeout);
        if w.ended() {
            self.worker = None;
        }
        Ok(out)
    }
}

impl Instance for BashInstance {
    fn compute(&mut self, entity: &str, out: &mut Outcome) -> Result<(), EntityError> {
        compute_as_batch(self, entity, out)
    }

    fn compute_record(
        &mut self,
        entity: &str,
        record: &Record<'_>,
        out: &mut Outcome,
    ) -> Result<(), EntityError> {
        let timeout = self.shared.timeout.limit();
        self.ensure_worker().map_err(|m| EntityError {
            message: format!("no bash worker: {m}"),
            logs: Vec::new(),
            instance_lost: true,
            out_of_memory: false,
        })?;
        let Some(w) = self.worker.as_mut() else {
            return Err(EntityError::new("no bash worker"));
        };
        let mut req = Vec::new();
        let file = w
            .record_requests(entity, record, &mut req)
            .map_err(|e| EntityError::new(format!("cannot pass the record to bash: {e}")))?;
        push_request(&mut req, Op::Compute.letter(), &file);
        let answer = w
            .run_batch(&req, 1, timeout)
            .pop()
            .ok_or_else(|| EntityError::new("the bash worker gave no answer"))?;
        let id = record.id.unwrap_or(entity);
        let result = finish(&self.shared, self.kinds.as_deref(), id, answer);
        if w.ended() {
            self.worker = None;
        }
        *out = result?;
        Ok(())
    }

    fn compute_batch(&mut self, entities: &[Entity], results: &mut BatchResults) {
        let timeout = self.shared.timeout.limit();
        let mut next = 0; // the entity whose answer comes next
        let mut req = Vec::new();
        while next < entities.len() {
            if let Err(m) = self.ensure_worker() {
                for _ in next..entities.len() {
                    results.push(Err(EntityError {
                        message: format!("no bash worker: {m}"),
                        logs: Vec::new(),
                        instance_lost: true,
                        out_of_memory: false,
                    }));
                }
                return;
            }
            let shared = &self.shared;
            let kinds = self.kinds.as_deref();
            let Some(w) = self.worker.as_mut() else {
                continue;
            };
            // The rest of the batch in one go; when the worker ends in a call, the
            // calls after it go to its replacement.
            req.clear();
            for e in &entities[next..] {
                push_request(&mut req, Op::Compute.letter(), e.input());
            }
            for out in w.run_batch(&req, entities.len() - next, timeout) {
                results.push(finish(shared, kinds, &entities[next].id, out));
                next += 1;
            }
        }
    }

    fn finalize(mut self: Box<Self>) -> Result<Vec<String>, PluginError> {
        let mut result = Ok(Vec::new());
        if self.shared.has_finalize {
            let out = match self.state.clone() {
                Some(state) => self.call(Op::FinalizeState, &state),
                None => self.call(Op::Finalize, "-"),
            };
            result = match out {
                Ok(out) if out.ending.success() => {
                    forward_stderr(&self.shared, "finalize", &out.stderr);
                    Ok(text::lines(&out.stdout))
                }
                Ok(out) => Err(self.error(format!(
                    "finalize {}{}",
                    out.ending
                        .describe(self.shared.timeout, self.shared.max_memory_mib),
                    shown_output(&out.stderr)
                ))),
                Err(e) => Err(e),
            };
        }
        if let Some(w) = self.worker.take() {
            w.shutdown();
        }
        result
    }
}

/// Shows what a call wrote to stderr (on the console), each line prefixed with the
/// plugin ID and what was called (the entity, `initialize`, …).
pub(crate) fn forward_stderr(shared: &Shared, what: &str, stderr: &[u8]) {
    if stderr.is_empty() {
        return;
    }
    let mut shown = Vec::new();
    for line in text::lines(stderr) {
        shown.extend_from_slice(format!("{}: {what}: {line}\n", shared.id).as_bytes());
    }
    shared.console.plugin_output(&shown);
}

/// Turns the output of the compute of the entity whose ID is `entity` into its
/// result; under `--log-dir`, its stderr goes to the entity's `.err` file.
fn finish(
    shared: &Shared,
    kinds: Option<&[ColumnKind]>,
    entity: &str,
    out: CallOutput,
) -> Result<Outcome, EntityError> {
    let unlogged = shared
        .log_dir
        .as_ref()
        .and_then(|dir| polyplug_core::entity_log::write_or_note(dir, entity, b"", &out.stderr));
    let mut result = interpret(shared, kinds, entity, out);
    if let Some(note) = unlogged {
        match &mut result {
            Ok(o) => o.logs.push(note),
            Err(e) => e.logs.push(note),
        }
    }
    result
}

/// What one compute's output says: its values, or why it failed.
fn interpret(
    shared: &Shared,
    kinds: Option<&[ColumnKind]>,
    entity: &str,
    out: CallOutput,
) -> Result<Outcome, EntityError> {
    if out.ending.success() {
        let mut outcome = Outcome::default();
        text::parse_output(&out.stdout, kinds, &mut outcome).map_err(|m| EntityError {
            message: m,
            logs: text::lines(&out.stderr),
            instance_lost: false,
            out_of_memory: false,
        })?;
        if shared.log_dir.is_none() {
            forward_stderr(shared, entity, &out.stderr);
        }
        return Ok(outcome);
    }
    let mut logs = text::lines(&out.stderr);
    let mut message = format!(
        "compute {}",
        out.ending.describe(shared.timeout, shared.max_memory_mib)
    );
    // The last line stderr said is the error's message: it is not logged twice (with
    // --trace, the last line that is not a trace line: those start with `+`).
    if let Ending::Returned(_) = out.ending {
        let said = logs
            .iter()
            .rposition(|l| !(shared.trace && l.starts_with('+')));
        if let Some(i) = said {
            let last = logs.remove(i);
            message.push_str(": ");
            message.push_str(&last);
        }
    }
    Err(EntityError {
        message,
        logs,
        instance_lost: false,
        out_of_memory: false,
    })
}
