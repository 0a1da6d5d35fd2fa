//! What a run did: its [`RunOutcome`] (the report and the runner's summary), the
//! status and remarks the report gets, and the [`Verdict`] a caller maps to an exit
//! status.

use polyplug_core::report::error_remarks;
use polyplug_core::yaml::scalar_str;
use polyplug_core::{CompStatus, Report};
use polyplug_runner::RunSummary;

/// How a run ended, for the caller's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every entity computed.
    Completed,
    /// Some entities failed, or `--halt-on-error` stopped the run.
    Failed,
    /// The input could not be read to the end, or the plugin could not start at all.
    BadInput,
    /// Stopped from outside (an interrupt).
    Interrupted,
}

/// What a run did.
#[derive(Debug)]
pub struct RunOutcome {
    /// The computation report (also written to `-r` or [`crate::RunIo::report`], and
    /// kept by the store).
    pub report: Report,
    /// The runner's counts, errors and finalize logs.
    pub summary: RunSummary,
    /// Entities skipped because they were done.
    pub skipped: u64,
    /// Whether the run was stopped from outside.
    pub interrupted: bool,
    /// What the run's summary line says besides the counts.
    pub tally: Tally,
}

/// What the summary line of a run names besides the runner's counts.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// The plugin's ID.
    pub plugin_id: String,
    /// Of the skipped entities, those only the store had.
    pub skipped_in_store: u64,
    /// Repeated appearances of IDs passed over (`--allow-duplicates`).
    pub repeated: u64,
    /// The skip list (`-s`) or results file (`-o`) the other skipped ones were in.
    pub skip_list: Option<String>,
    /// The store, for messages (`None`: no store).
    pub store: Option<String>,
    /// Where the report went: a file, `-` for stderr, `None` when not written.
    pub report: Option<String>,
    /// From the start of the run to its end.
    pub elapsed: std::time::Duration,
    /// The `--only` IDs the input does not have.
    pub not_found: Vec<String>,
}

impl RunOutcome {
    /// The one line a run ends with, on stderr, whatever happened: what was computed,
    /// without a result, failed and skipped (and why: the results file, the store,
    /// and `--force`), the time and rate, and where the report is.
    pub fn summary_line(&self) -> String {
        let s = &self.summary;
        let t = &self.tally;
        let done = s.n_units + s.n_failed;
        let secs = t.elapsed.as_secs_f64();
        let mut parts: Vec<String> = Vec::new();
        if done == 0 && self.skipped > 0 && !s.stopped && s.input_error.is_none() {
            parts.push(format!(
                "nothing computed: all {} entities are done ({})",
                self.skipped,
                self.skip_reasons()
            ));
        } else if done == 0 && self.skipped == 0 && !s.stopped && s.input_error.is_none() {
            parts.push("nothing computed: the input has no entities".to_string());
        } else {
            let mut computed = format!("{} computed", s.n_units);
            if s.n_no_result > 0 {
                computed.push_str(&format!(" ({} without a result)", s.n_no_result));
            }
            parts.push(computed);
            if s.n_failed > 0 {
                parts.push(format!("{} failed (see the log)", s.n_failed));
            }
            if self.skipped > 0 {
                parts.push(format!(
                    "{} skipped as done ({})",
                    self.skipped,
                    self.skip_reasons()
                ));
            }
            if t.repeated > 0 {
                parts.push(format!("{} repeats passed over", t.repeated));
            }
        }
        let mut line = format!("{}: {}", t.plugin_id, parts.join(", "));
        line.push_str(&format!(" in {secs:.1} s"));
        if done > 0 && secs > 0.0 {
            line.push_str(&format!(" ({} entities/s)", rate(done as f64 / secs)));
        }
        line.push_str(&match t.report.as_deref() {
            Some("-") => "; report above".to_string(),
            Some(path) => format!("; report in {path}"),
            None if t.store.is_some() => format!(
                "; report in the store (polyplug runs show {})",
                &self.report.uuid.hyphenated().to_string()[..8]
            ),
            None => "; no report (-r FILE writes one)".to_string(),
        });
        line
    }

    /// Why entities were skipped: the results file or skip list, the store.
    fn skip_reasons(&self) -> String {
        let t = &self.tally;
        let in_list = self.skipped - t.skipped_in_store;
        let mut why = Vec::new();
        if in_list > 0 {
            why.push(format!(
                "{in_list} in {}",
                t.skip_list.as_deref().unwrap_or("the skip list")
            ));
        }
        if t.skipped_in_store > 0 {
            why.push(format!(
                "{} in the store {}: --force computes them again",
                t.skipped_in_store,
                t.store.as_deref().unwrap_or("")
            ));
        }
        why.join(", ")
    }
}

/// A rate for people: 3 significant digits.
fn rate(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}")
    } else if r >= 10.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.2}")
    }
}

impl RunOutcome {
    /// How the run ended.
    pub fn verdict(&self) -> Verdict {
        let s = &self.summary;
        if self.interrupted {
            Verdict::Interrupted
        } else if s.input_error.is_some() || !s.plugin_errors.is_empty() && s.n_units == 0 {
            Verdict::BadInput
        } else if failed(s) {
            Verdict::Failed
        } else {
            Verdict::Completed
        }
    }
}

/// Whether anything went wrong.
fn failed(s: &RunSummary) -> bool {
    s.n_failed > 0 || s.stopped || s.input_error.is_some() || !s.plugin_errors.is_empty()
}

/// The report's `comp_status`: `completed`, `aborted` (stopped before computing
/// anything) or `partial`.
pub(crate) fn comp_status(s: &RunSummary) -> CompStatus {
    if !failed(s) {
        CompStatus::Completed
    } else if s.n_units == 0
        && (s.stopped || s.input_error.is_some() || !s.plugin_errors.is_empty())
    {
        CompStatus::Aborted
    } else {
        CompStatus::Partial
    }
}

/// The report's `remarks`: the first thing that went wrong, as Prenacs writes it.
pub(crate) fn remarks(s: &RunSummary, interrupted: bool) -> Option<String> {
    if let Some(e) = &s.input_error {
        Some(error_remarks("", "InputError", &e.to_string(), s.n_failed))
    } else if let Some(e) = s.plugin_errors.first() {
        Some(error_remarks("", "PluginError", &e.message, s.n_failed))
    } else if let Some((id, message)) = &s.first_error {
        let mut r = error_remarks(id, "EntityError", message, s.n_failed);
        if let Some(halt) = &s.halt {
            r.push_str(&format!(
                "stopped_by: {}\nstopped_at: {}\n",
                scalar_str(&halt.by.to_string()),
                scalar_str(&halt.entity)
            ));
        }
        Some(r)
    } else if interrupted {
        Some(error_remarks(
            "",
            "Interrupted",
            "the run was interrupted",
            s.n_failed,
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polyplug_core::PluginError;
    use polyplug_runner::input::InputError;

    fn outcome(summary: RunSummary, interrupted: bool) -> RunOutcome {
        let report = Report::from_yaml("uuid: 07070707-0707-0707-0707-070707070707\n", "r")
            .unwrap_or_else(|e| panic!("{e}"));
        RunOutcome {
            report,
            summary,
            skipped: 0,
            interrupted,
            tally: Tally::default(),
        }
    }

    #[test]
    fn statuses_and_verdicts_follow_the_summary() {
        let done = RunSummary {
            n_units: 3,
            ..RunSummary::default()
        };
        assert_eq!(comp_status(&done), CompStatus::Completed);
        assert_eq!(remarks(&done, false), None);
        assert_eq!(outcome(done, false).verdict(), Verdict::Completed);

        let some_failed = RunSummary {
            n_units: 2,
            n_failed: 1,
            first_error: Some(("x".into(), "bad".into())),
            ..RunSummary::default()
        };
        assert_eq!(comp_status(&some_failed), CompStatus::Partial);
        let r = remarks(&some_failed, false).unwrap_or_default();
        assert!(
            r.starts_with("error_class: EntityError\nerror_input_unit: x\n"),
            "{r}"
        );
        assert_eq!(outcome(some_failed, false).verdict(), Verdict::Failed);

        let no_start = RunSummary {
            plugin_errors: vec![PluginError::new("p.py", "initialize failed")],
            ..RunSummary::default()
        };
        assert_eq!(comp_status(&no_start), CompStatus::Aborted);
        assert_eq!(outcome(no_start, false).verdict(), Verdict::BadInput);

        let bad_line = RunSummary {
            n_units: 5,
            input_error: Some(InputError::ColumnZero),
            ..RunSummary::default()
        };
        assert_eq!(comp_status(&bad_line), CompStatus::Partial);
        assert_eq!(outcome(bad_line, false).verdict(), Verdict::BadInput);

        let stopped = RunSummary {
            n_units: 1,
            stopped: true,
            ..RunSummary::default()
        };
        let r = remarks(&stopped, true).unwrap_or_default();
        assert!(r.contains("Interrupted"), "{r}");
        assert_eq!(outcome(stopped, true).verdict(), Verdict::Interrupted);
    }
}
