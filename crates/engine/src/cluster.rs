//! Where on a cluster a run is: its shard (`--shard I/N`, or the scheduler's task
//! index), the scheduler and its job and task IDs, read from the variables Slurm and
//! Kubernetes set for a task.
//!
//! - Slurm job arrays: `SLURM_ARRAY_TASK_ID` is the shard, of
//!   `SLURM_ARRAY_TASK_COUNT` (or `SLURM_ARRAY_TASK_MAX - SLURM_ARRAY_TASK_MIN + 1`),
//!   counted from `SLURM_ARRAY_TASK_MIN`; the job is `SLURM_ARRAY_JOB_ID`.
//! - Kubernetes Indexed Jobs: `JOB_COMPLETION_INDEX` is the shard; the number of
//!   shards (the Job's `completions`) is not in the environment, so `--shards N` gives
//!   it. The job is the pod's host name.

use crate::EngineError;
use polyplug_core::Shard;

/// Which part of the entities a run computes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ShardChoice {
    /// From the scheduler's variables when the run is a task of a job array or an
    /// Indexed Job (with `shards`, `--shards N`, as the number of shards); else all.
    #[default]
    FromScheduler,
    /// `--shards N` with the index from the scheduler's variables.
    Shards(u32),
    /// `--shard I/N`.
    Given(Shard),
    /// `--shard all`: every entity, whatever the scheduler says.
    All,
}

/// A scheduler a run can be a task of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduler {
    /// A Slurm job (an array task, or a plain job).
    Slurm,
    /// A pod of a Kubernetes Indexed Job.
    Kubernetes,
}

impl Scheduler {
    /// The name recorded with the computation.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheduler::Slurm => "slurm",
            Scheduler::Kubernetes => "kubernetes",
        }
    }
}

/// Where a run is: what the computation records of the cluster, and its shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// The shard computed; `None` for all entities.
    pub shard: Option<Shard>,
    /// The variables the shard came from, when a scheduler gave it (for the note).
    pub shard_from: Option<&'static str>,
    /// The scheduler the run is a task of.
    pub scheduler: Option<Scheduler>,
    /// Slurm's array job ID (or job ID); the pod's name under Kubernetes.
    pub job_id: Option<String>,
    /// Slurm's array task ID; the completion index under Kubernetes.
    pub task_id: Option<String>,
    /// The node, as the scheduler names it (Slurm's `SLURMD_NODENAME`).
    pub node: Option<String>,
}

impl Placement {
    /// The shard computed, `0/1` for all entities.
    pub fn shard_or_whole(&self) -> Shard {
        self.shard.unwrap_or(Shard::WHOLE)
    }

    /// The placement of this process (its environment) for `choice`.
    pub fn of_process(choice: ShardChoice) -> Result<Placement, EngineError> {
        Placement::from_env(choice, |name| {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        })
    }

    /// The placement for `choice` in an environment read with `var`.
    pub fn from_env(
        choice: ShardChoice,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Placement, EngineError> {
        let mut p = Placement::default();
        let number = |name: &'static str| -> Result<Option<u64>, EngineError> {
            var(name)
                .map(|v| {
                    v.trim().parse::<u64>().map_err(|_| EngineError::Shard {
                        why: format!("{name}={v} is not a number; give the shard with --shard I/N"),
                    })
                })
                .transpose()
        };
        let slurm_task = number("SLURM_ARRAY_TASK_ID")?;
        let slurm_min = match slurm_task {
            Some(_) => number("SLURM_ARRAY_TASK_MIN")?,
            None => None,
        };
        // The task's place in its array (IDs count from the array's first task).
        let slurm_index = slurm_task.map(|t| t.checked_sub(slurm_min.unwrap_or(0)));
        let k8s_index = number("JOB_COMPLETION_INDEX")?;
        if let Some(task) = slurm_task {
            p.scheduler = Some(Scheduler::Slurm);
            p.job_id = var("SLURM_ARRAY_JOB_ID").or_else(|| var("SLURM_JOB_ID"));
            p.task_id = Some(task.to_string());
        } else if let Some(index) = k8s_index {
            p.scheduler = Some(Scheduler::Kubernetes);
            p.job_id = var("HOSTNAME");
            p.task_id = Some(index.to_string());
        } else if var("SLURM_JOB_ID").is_some() {
            p.scheduler = Some(Scheduler::Slurm);
            p.job_id = var("SLURM_JOB_ID");
        }
        p.node = var("SLURMD_NODENAME");
        let shard_error = |e: polyplug_core::ShardError, from: &str| EngineError::Shard {
            why: format!("{from}: {e}"),
        };
        p.shard = match choice {
            ShardChoice::All => None,
            ShardChoice::Given(s) => Some(s),
            ShardChoice::Shards(n) => {
                let (index, from) = match (slurm_index, k8s_index) {
                    (Some(i), _) => (i, "SLURM_ARRAY_TASK_ID"),
                    (None, Some(i)) => (Some(i), "JOB_COMPLETION_INDEX"),
                    (None, None) => {
                        return Err(EngineError::Shard {
                            why: format!(
                                "--shards {n} needs the index of this shard: give --shard \
                                 I/{n} instead, or run as a Slurm array task or a Kubernetes \
                                 Indexed Job pod"
                            ),
                        })
                    }
                };
                p.shard_from = Some(from);
                let index = index.unwrap_or(u64::MAX);
                Some(Shard::new(index, n.into()).map_err(|e| shard_error(e, from))?)
            }
            ShardChoice::FromScheduler => match (slurm_index, k8s_index) {
                (Some(index), _) => {
                    let count = match number("SLURM_ARRAY_TASK_COUNT")? {
                        Some(c) => c,
                        None => match (slurm_min, number("SLURM_ARRAY_TASK_MAX")?) {
                            (Some(lo), Some(hi)) if hi >= lo => hi - lo + 1,
                            _ => {
                                return Err(EngineError::Shard {
                                    why: "SLURM_ARRAY_TASK_ID is set but neither \
                                          SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MIN/MAX: \
                                          give the shard with --shard I/N (or --shard all)"
                                        .into(),
                                })
                            }
                        },
                    };
                    let index = index.unwrap_or(u64::MAX);
                    p.shard_from = Some("SLURM_ARRAY_TASK_ID");
                    Some(
                        Shard::new(index, count)
                            .map_err(|e| shard_error(e, "SLURM_ARRAY_TASK_ID"))?,
                    )
                }
                (None, Some(_)) => {
                    return Err(EngineError::Shard {
                        why: "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but not \
                              the number of shards: add --shards N (the Job's completions), \
                              or --shard all to compute every entity"
                            .into(),
                    })
                }
                (None, None) => None,
            },
        };
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn place(choice: ShardChoice, vars: &[(&str, &str)]) -> Result<Placement, String> {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Placement::from_env(choice, |k| env.get(k).cloned()).map_err(|e| e.to_string())
    }

    fn shard(p: &Placement) -> String {
        p.shard.map_or("all".into(), |s| s.to_string())
    }

    #[test]
    fn slurm_array_tasks_give_their_shard() {
        let p = place(
            ShardChoice::FromScheduler,
            &[
                ("SLURM_ARRAY_TASK_ID", "3"),
                ("SLURM_ARRAY_TASK_COUNT", "8"),
                ("SLURM_ARRAY_JOB_ID", "1234"),
                ("SLURM_JOB_ID", "1237"),
                ("SLURMD_NODENAME", "node7"),
            ],
        )
        .unwrap();
        assert_eq!(shard(&p), "3/8");
        assert_eq!(p.scheduler, Some(Scheduler::Slurm));
        assert_eq!(p.job_id.as_deref(), Some("1234"));
        assert_eq!(p.task_id.as_deref(), Some("3"));
        assert_eq!(p.node.as_deref(), Some("node7"));
        // An array 1-8: counted from its first task.
        let vars = [
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "8"),
        ];
        assert_eq!(
            shard(&place(ShardChoice::FromScheduler, &vars).unwrap()),
            "0/8"
        );
        // --shards overrides the array's size (an array split in parts).
        let p = place(ShardChoice::Shards(20), &[("SLURM_ARRAY_TASK_ID", "12")]).unwrap();
        assert_eq!(shard(&p), "12/20");
        // --shard all and --shard I/N win over the variables.
        let all = place(ShardChoice::All, &vars).unwrap();
        assert_eq!(
            (shard(&all), all.scheduler),
            ("all".into(), Some(Scheduler::Slurm))
        );
        let given = ShardChoice::Given(Shard::new(2, 5).unwrap());
        assert_eq!(shard(&place(given, &vars).unwrap()), "2/5");
    }

    #[test]
    fn kubernetes_needs_the_number_of_shards() {
        let e = place(ShardChoice::FromScheduler, &[("JOB_COMPLETION_INDEX", "4")]).unwrap_err();
        assert!(e.contains("add --shards N"), "{e}");
        let p = place(
            ShardChoice::Shards(6),
            &[("JOB_COMPLETION_INDEX", "4"), ("HOSTNAME", "run-4-x7k")],
        )
        .unwrap();
        assert_eq!(shard(&p), "4/6");
        assert_eq!(p.scheduler, Some(Scheduler::Kubernetes));
        assert_eq!(p.job_id.as_deref(), Some("run-4-x7k"));
    }

    #[test]
    fn no_scheduler_means_every_entity_and_bad_variables_are_errors() {
        let p = place(ShardChoice::FromScheduler, &[]).unwrap();
        assert_eq!((shard(&p), p.scheduler), ("all".into(), None));
        let e = place(ShardChoice::Shards(4), &[]).unwrap_err();
        assert!(e.contains("give --shard I/4 instead"), "{e}");
        let e = place(
            ShardChoice::FromScheduler,
            &[
                ("SLURM_ARRAY_TASK_ID", "x"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
            ],
        )
        .unwrap_err();
        assert!(e.contains("SLURM_ARRAY_TASK_ID=x is not a number"), "{e}");
        let e = place(ShardChoice::FromScheduler, &[("SLURM_ARRAY_TASK_ID", "2")]).unwrap_err();
        assert!(e.contains("neither SLURM_ARRAY_TASK_COUNT"), "{e}");
        let e = place(
            ShardChoice::FromScheduler,
            &[
                ("SLURM_ARRAY_TASK_ID", "9"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
            ],
        )
        .unwrap_err();
        assert!(
            e.contains("SLURM_ARRAY_TASK_ID: shard 9 of 4 does not exist"),
            "{e}"
        );
        // A plain Slurm job (no array) is recorded, and computes everything.
        let p = place(ShardChoice::FromScheduler, &[("SLURM_JOB_ID", "77")]).unwrap();
        assert_eq!((shard(&p), p.job_id.as_deref()), ("all".into(), Some("77")));
    }
}
