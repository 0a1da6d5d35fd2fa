//! `polyplug slurm status`: each shard's phase, from polyplug's own files first
//! (the shard's state file and report) and the scheduler second (one `squeue`, and
//! `sacct` or the task's output file for why a task ended).

use crate::queue::{self, Queued};
use crate::{SlurmError, Submission};
use polyplug_engine::core::{Report, Shard};
use polyplug_engine::run_dir::{ShardOutputs, ShardState, ShardStatus};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where a shard is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardPhase {
    /// Never submitted (a dry run, or a record without it).
    NotSubmitted,
    /// Waiting in the queue.
    Pending,
    /// Running.
    Running,
    /// Its whole input gone through, its report written.
    Done,
    /// Its task ended before the shard finished: resubmit it.
    Failed,
}

impl ShardPhase {
    /// As the table shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            ShardPhase::NotSubmitted => "not-submitted",
            ShardPhase::Pending => "pending",
            ShardPhase::Running => "running",
            ShardPhase::Done => "done",
            ShardPhase::Failed => "failed",
        }
    }
}

/// One shard's line of the status.
#[derive(Debug, Clone)]
pub struct ShardLine {
    /// Its index.
    pub shard: u32,
    /// Where it is.
    pub phase: ShardPhase,
    /// Entities recorded by its last attempt (its state file).
    pub recorded: u64,
    /// Its report's counts, once it wrote one: computed, failed, skipped.
    pub counts: Option<[u64; 3]>,
    /// Its last array task, `<job>_<task>`.
    pub task: Option<String>,
    /// The node it ran on.
    pub node: String,
    /// Why it is pending, or why it failed.
    pub reason: String,
}

/// The merge job's phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeStatus {
    /// No merge job submitted.
    NotSubmitted,
    /// In the queue: its state and reason (`PENDING Dependency`).
    Queued(String),
    /// Ended: its exit status (0: merged).
    Ended(i32),
    /// Not in the queue and no exit status recorded (cancelled, or killed).
    Gone,
}

/// A run folder's status.
#[derive(Debug, Clone)]
pub struct RunStatus {
    /// The logical run.
    pub run_id: String,
    /// Its submission record.
    pub submission: Submission,
    /// One line per shard.
    pub shards: Vec<ShardLine>,
    /// The last merge job, and its phase.
    pub merge: (String, MergeStatus),
    /// Why the queue could not be asked (then only polyplug's files speak).
    pub queue_error: Option<String>,
}

/// The status of the run folder `dir`, submitted with `polyplug slurm submit`.
pub fn status(dir: &Path) -> Result<RunStatus, SlurmError> {
    let submission = Submission::read(dir)?.ok_or_else(|| SlurmError::RunDir {
        dir: dir.to_path_buf(),
        why: "it was not submitted with polyplug slurm submit (it has no slurm/submission.yaml)"
            .into(),
    })?;
    let merge_name = format!("{}-merge", submission.job_name);
    let (queue, queue_error) = match queue::queued(&[&submission.job_name, &merge_name]) {
        Ok(q) => (q, None),
        Err(e) => (HashMap::new(), Some(e.to_string())),
    };
    let mut shards = Vec::with_capacity(submission.shards as usize);
    for i in 0..submission.shards {
        shards.push(shard_line(
            dir,
            &submission,
            i,
            &queue,
            queue_error.is_some(),
        )?);
    }
    explain_failures(dir, &mut shards);
    let merge = match submission.attempts.last() {
        None => (String::new(), MergeStatus::NotSubmitted),
        Some(a) => (a.merge_job.clone(), merge_status(dir, &a.merge_job, &queue)),
    };
    Ok(RunStatus {
        run_id: submission.run_id.clone(),
        submission,
        shards,
        merge,
        queue_error,
    })
}

fn shard_line(
    dir: &Path,
    submission: &Submission,
    i: u32,
    queue: &HashMap<(String, Option<u32>), Queued>,
    no_queue: bool,
) -> Result<ShardLine, SlurmError> {
    let shard = Shard::new(i.into(), submission.shards.into()).map_err(|e| SlurmError::RunDir {
        dir: dir.to_path_buf(),
        why: format!("its submission record is damaged: {e}"),
    })?;
    let outputs = ShardOutputs::of(dir, shard);
    let state = ShardStatus::read(&outputs.state);
    let counts = read_report(&outputs.report).map(|r| {
        [
            r.n_units.unwrap_or(0),
            r.n_failed.unwrap_or(0),
            r.n_skipped.unwrap_or(0),
        ]
    });
    let task = submission.task_of(i);
    let mut line = ShardLine {
        shard: i,
        phase: ShardPhase::NotSubmitted,
        recorded: state.recorded,
        counts,
        task: task.map(|(job, t, _)| format!("{job}_{t}")),
        node: state.host.clone().unwrap_or_default(),
        reason: String::new(),
    };
    let queued = task.and_then(|(job, t, _)| queue.get(&(job.to_string(), Some(t))));
    let finished = state.state == ShardState::Finished && counts.is_some();
    line.phase = match (queued, task) {
        (Some(q), _) if q.state == "PENDING" => {
            line.reason = q.reason.clone();
            ShardPhase::Pending
        }
        (Some(q), _) => {
            if !q.node.is_empty() {
                line.node = q.node.clone();
            }
            if q.state != "RUNNING" {
                line.reason = q.state.clone();
            }
            ShardPhase::Running
        }
        _ if finished => ShardPhase::Done,
        (None, None) => ShardPhase::NotSubmitted,
        (None, Some(_)) if no_queue && state.state == ShardState::Running => {
            line.reason = "the queue did not answer: running, as its state file says".into();
            ShardPhase::Running
        }
        (None, Some(_)) => {
            line.reason = match (state.state, &state.stopped_by) {
                (ShardState::Stopped, Some(by)) => format!("stopped: {by}"),
                (ShardState::Stopped, None) => "stopped before the end of its input".into(),
                (ShardState::Running, _) => format!(
                    "its task ended while it ran (killed: out of memory, a node failure or \
                     scancel), last recorded {}",
                    state.updated.as_deref().unwrap_or("?")
                ),
                (ShardState::NotStarted, _) => "its task ended before the shard started".into(),
                (ShardState::Finished, _) => "finished, but wrote no report".into(),
            };
            ShardPhase::Failed
        }
    };
    Ok(line)
}

fn read_report(path: &Path) -> Option<Report> {
    let text = std::fs::read_to_string(path).ok()?;
    Report::from_yaml(&text, &path.display().to_string()).ok()
}

/// The output file of an array task.
fn task_output(dir: &Path, task: &str) -> PathBuf {
    crate::slurm_dir(dir).join(format!("{task}.out"))
}

/// What the scheduler knows of why failed tasks ended: `sacct` when the cluster
/// keeps accounting, else what slurmstepd wrote into the task's output file.
fn explain_failures(dir: &Path, shards: &mut [ShardLine]) {
    let failed: Vec<&str> = shards
        .iter()
        .filter(|l| l.phase == ShardPhase::Failed)
        .filter_map(|l| l.task.as_deref())
        .collect();
    let accounted = queue::accounted(&failed);
    for line in shards.iter_mut().filter(|l| l.phase == ShardPhase::Failed) {
        let Some(task) = line.task.clone() else {
            continue;
        };
        let out = std::fs::read_to_string(task_output(dir, &task)).unwrap_or_default();
        let said = accounted
            .get(&task)
            .and_then(|s| scheduler_reason(s))
            .or_else(|| output_reason(&out));
        if let Some(why) = said {
            line.reason = format!("{why}; {}", line.reason);
        } else if line.reason.starts_with("stopped: SIGUSR1") {
            line.reason = format!("time limit; {}", line.reason);
        }
        // What polyplug itself said last (an error that stopped the shard).
        if let Some(last) = out.lines().rev().find(|l| l.starts_with("polyplug: ")) {
            line.reason = format!("{}: {last}", line.reason);
        }
    }
}

/// A reason from sacct's State.
fn scheduler_reason(state: &str) -> Option<&'static str> {
    let s = state.split_whitespace().next()?;
    Some(match s {
        "TIMEOUT" => "time limit",
        "OUT_OF_MEMORY" => "out of memory",
        "NODE_FAIL" => "node failure",
        "PREEMPTED" => "preempted",
        "CANCELLED" => "cancelled",
        "BOOT_FAIL" => "boot failure",
        "DEADLINE" => "deadline",
        _ => return None,
    })
}

/// A reason from what slurmstepd wrote into a task's output.
pub(crate) fn output_reason(out: &str) -> Option<&'static str> {
    let markers: [(&str, &str); 6] = [
        ("DUE TO TIME LIMIT", "time limit"),
        ("oom-kill", "out of memory"),
        ("oom_kill", "out of memory"),
        ("DUE TO NODE FAILURE", "node failure"),
        ("DUE TO PREEMPTION", "preempted"),
        ("CANCELLED AT", "cancelled"),
    ];
    let last = markers
        .iter()
        .filter_map(|(m, why)| out.rfind(m).map(|at| (at, *why)))
        .max_by_key(|(at, _)| *at)?;
    Some(last.1)
}

fn merge_status(
    dir: &Path,
    job: &str,
    queue: &HashMap<(String, Option<u32>), Queued>,
) -> MergeStatus {
    if job.is_empty() {
        return MergeStatus::NotSubmitted;
    }
    if let Some(q) = queue.get(&(job.to_string(), None)) {
        return MergeStatus::Queued(format!("{} {}", q.state, q.reason).trim().to_string());
    }
    let exit = crate::slurm_dir(dir).join(format!("merge-{job}.exit"));
    match std::fs::read_to_string(exit)
        .ok()
        .and_then(|t| t.trim().parse().ok())
    {
        Some(code) => MergeStatus::Ended(code),
        None => MergeStatus::Gone,
    }
}

impl RunStatus {
    /// The table `polyplug slurm status` prints, with a summary and what to do.
    pub fn table(&self, dir: &Path) -> String {
        let mut rows = vec![[
            "shard".to_string(),
            "state".into(),
            "recorded".into(),
            "computed".into(),
            "failed".into(),
            "skipped".into(),
            "task".into(),
            "node".into(),
            "reason".into(),
        ]];
        for l in &self.shards {
            let count = |i: usize| l.counts.map_or("-".to_string(), |c| c[i].to_string());
            rows.push([
                l.shard.to_string(),
                l.phase.as_str().into(),
                l.recorded.to_string(),
                count(0),
                count(1),
                count(2),
                l.task.clone().unwrap_or_else(|| "-".into()),
                if l.node.is_empty() {
                    "-".into()
                } else {
                    l.node.clone()
                },
                l.reason.clone(),
            ]);
        }
        let widths: Vec<usize> = (0..9)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = format!(
            "run {} in {}: {} shards\n",
            self.run_id,
            dir.display(),
            self.shards.len()
        );
        for r in &rows {
            let mut line = String::new();
            for (c, cell) in r.iter().enumerate() {
                if c == 8 {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        let count = |p: ShardPhase| self.shards.iter().filter(|l| l.phase == p).count();
        out.push_str(&format!(
            "{} done, {} running, {} pending, {} failed, {} not submitted\n",
            count(ShardPhase::Done),
            count(ShardPhase::Running),
            count(ShardPhase::Pending),
            count(ShardPhase::Failed),
            count(ShardPhase::NotSubmitted)
        ));
        let (job, merge) = &self.merge;
        out.push_str(&match merge {
            MergeStatus::NotSubmitted => "merge: not submitted\n".to_string(),
            MergeStatus::Queued(s) => format!("merge: job {job}, {s}\n"),
            MergeStatus::Ended(0) => format!("merge: job {job}, done\n"),
            MergeStatus::Ended(code) => format!(
                "merge: job {job}, failed (exit {code}; see {})\n",
                crate::slurm_dir(dir)
                    .join(format!("merge-{job}.out"))
                    .display()
            ),
            MergeStatus::Gone => {
                format!("merge: job {job}, ended without an exit status (cancelled?)\n")
            }
        });
        if let Some(e) = &self.queue_error {
            out.push_str(&format!(
                "the queue did not answer ({e}): this is from polyplug's files only\n"
            ));
        }
        if count(ShardPhase::Failed) + count(ShardPhase::NotSubmitted) > 0 {
            out.push_str(&format!(
                "resubmit the shards that did not finish (each computes only what it misses): \
                 polyplug slurm resubmit {} [--sbatch-arg=--time=…]\n",
                dir.display()
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurmstepd_messages_name_the_reason() {
        assert_eq!(
            output_reason("x\nslurmstepd: error: *** JOB 12 ON vm CANCELLED AT 2026-12-02T10:00:00 DUE TO TIME LIMIT ***\n"),
            Some("time limit")
        );
        assert_eq!(
            output_reason("slurmstepd: error: Detected 1 oom-kill event(s) in StepId=12.batch.\n"),
            Some("out of memory")
        );
        assert_eq!(
            output_reason(
                "*** JOB 12 ON vm CANCELLED AT 2026-12-02T10:00:00 DUE TO NODE FAILURE ***"
            ),
            Some("node failure")
        );
        assert_eq!(
            output_reason("*** JOB 12 ON vm CANCELLED AT 2026 ***"),
            Some("cancelled")
        );
        assert_eq!(output_reason("polyplug: computing shard 1/4\n"), None);
        assert_eq!(scheduler_reason("CANCELLED by 0"), Some("cancelled"));
        assert_eq!(scheduler_reason("OUT_OF_MEMORY"), Some("out of memory"));
        assert_eq!(scheduler_reason("COMPLETED"), None);
    }
}
