//! `DIR/slurm/submission.yaml`: what was submitted, attempt after attempt, so that
//! `status` knows which job ran which shard without asking Slurm's accounting.

use crate::SlurmError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The record's file name, in `DIR/slurm/`.
pub const SUBMISSION: &str = "submission.yaml";

/// Every submission of one run folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// The logical run (`--run-id` of every shard).
    pub run_id: String,
    /// The number of shards.
    pub shards: u32,
    /// The job name of the array tasks (the merge job's is this with `-merge`):
    /// `squeue --name` finds the run's jobs by it.
    pub job_name: String,
    /// The cluster's `MaxArraySize` when first submitted.
    pub max_array_size: u32,
    /// `--max-parallel`, for resubmissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<u32>,
    /// `--sbatch-arg`s of the first submission, given again on resubmission.
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// The first submission, then each resubmission.
    pub attempts: Vec<Attempt>,
}

/// One `submit` or `resubmit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When (RFC 3339, UTC).
    pub submitted: String,
    /// The array jobs.
    pub parts: Vec<Part>,
    /// The merge job.
    pub merge_job: String,
    /// The `--sbatch-arg`s added by this resubmission.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sbatch_args: Vec<String>,
}

/// One array job: its tasks are shards `offset + task ID`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Slurm's job ID of the array.
    pub job_id: String,
    /// Added to `SLURM_ARRAY_TASK_ID` to give the shard.
    pub offset: u32,
    /// The array's task IDs (`--array`), e.g. `0-9` or `2,5`.
    pub array: String,
}

impl Part {
    /// The task IDs of the array.
    pub fn tasks(&self) -> Vec<u32> {
        let mut tasks = Vec::new();
        for piece in self.array.split(',') {
            match piece.split_once('-') {
                Some((a, b)) => {
                    if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                        tasks.extend(a..=b);
                    }
                }
                None => tasks.extend(piece.parse::<u32>().ok()),
            }
        }
        tasks
    }
}

impl Submission {
    /// Reads `DIR/slurm/submission.yaml`; `None` when the run folder has none.
    pub fn read(dir: &Path) -> Result<Option<Submission>, SlurmError> {
        let path = crate::slurm_dir(dir).join(SUBMISSION);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(SlurmError::File {
                    path,
                    why: e.to_string(),
                })
            }
        };
        serde_yaml_ng::from_str(&text)
            .map(Some)
            .map_err(|e| SlurmError::File {
                path,
                why: format!("damaged: {e}"),
            })
    }

    /// Writes it (replacing the file at once).
    pub fn write(&self, dir: &Path) -> Result<(), SlurmError> {
        let path = crate::slurm_dir(dir).join(SUBMISSION);
        let fail = |why: String| SlurmError::File {
            path: path.clone(),
            why,
        };
        let text = serde_yaml_ng::to_string(self).map_err(|e| fail(e.to_string()))?;
        let tmp = path.with_extension("yaml.tmp");
        std::fs::write(&tmp, text).map_err(|e| fail(e.to_string()))?;
        std::fs::rename(&tmp, &path).map_err(|e| fail(e.to_string()))
    }

    /// The last submitted array task of `shard`: its job ID and task ID.
    pub fn task_of(&self, shard: u32) -> Option<(&str, u32, &Attempt)> {
        self.attempts.iter().rev().find_map(|a| {
            a.parts.iter().find_map(|p| {
                let task = shard.checked_sub(p.offset)?;
                p.tasks()
                    .contains(&task)
                    .then_some((p.job_id.as_str(), task, a))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_lists_its_tasks_and_a_shard_finds_its_last_task() {
        let part = |job: &str, offset, array: &str| Part {
            job_id: job.into(),
            offset,
            array: array.into(),
        };
        assert_eq!(
            part("1", 0, "0-3,7,9-10").tasks(),
            vec![0, 1, 2, 3, 7, 9, 10]
        );
        let s = Submission {
            run_id: "r".into(),
            shards: 12,
            job_name: "polyplug-r".into(),
            max_array_size: 10,
            max_parallel: None,
            sbatch_args: vec![],
            attempts: vec![
                Attempt {
                    submitted: "t1".into(),
                    parts: vec![part("10", 0, "0-9"), part("11", 10, "0-1")],
                    merge_job: "12".into(),
                    sbatch_args: vec![],
                },
                Attempt {
                    submitted: "t2".into(),
                    parts: vec![part("20", 10, "1")],
                    merge_job: "21".into(),
                    sbatch_args: vec![],
                },
            ],
        };
        assert_eq!(s.task_of(3).map(|t| (t.0, t.1)), Some(("10", 3)));
        assert_eq!(s.task_of(10).map(|t| (t.0, t.1)), Some(("11", 0)));
        assert_eq!(s.task_of(11).map(|t| (t.0, t.1)), Some(("20", 1)));
        assert_eq!(s.task_of(12), None);
    }
}
