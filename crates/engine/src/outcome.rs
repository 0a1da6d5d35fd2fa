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
