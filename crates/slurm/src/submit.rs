//! `polyplug slurm submit` and `polyplug slurm resubmit`.

use crate::record::{Attempt, Part, Submission};
use crate::script::{array_spec, parts, Scripts};
use crate::status::{status, MergeStatus, ShardPhase};
use crate::{queue, SlurmError};
use std::path::{Path, PathBuf};

/// What to submit.
#[derive(Debug, Clone)]
pub struct SubmitSpec {
    /// The scripts' contents.
    pub scripts: Scripts,
    /// At most this many tasks at once (`--array=…%M`; per array part when the run is
    /// split in parts).
    pub max_parallel: Option<u32>,
    /// More `sbatch` options (`--time=…`, `--mem=…`, `--partition=…`), for the array
    /// and the merge job alike.
    pub sbatch_args: Vec<String>,
    /// Write the scripts and say what would be submitted, but submit nothing.
    pub dry_run: bool,
}

/// What was (or, in a dry run, would be) submitted.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The array jobs (job IDs `<array 1>`… in a dry run).
    pub parts: Vec<Part>,
    /// The merge job.
    pub merge_job: String,
    /// The scripts written: `slurm/shard.sh`, `slurm/merge.sh`.
    pub scripts: [PathBuf; 2],
    /// The `sbatch` command lines, in order.
    pub commands: Vec<Vec<String>>,
    /// Shards left out of a resubmission because they are done or still queued.
    pub left: usize,
}

/// Writes the scripts into `DIR/slurm/`, submits the array of shards and the merge
/// job after it, and records them in `DIR/slurm/submission.yaml`.
pub fn submit(spec: &SubmitSpec) -> Result<Submitted, SlurmError> {
    let s = &spec.scripts;
    let dir = &s.run_dir;
    if s.shards == 0 {
        return Err(SlurmError::Usage("--shards must be at least 1".into()));
    }
    if let Some(there) = Submission::read(dir)? {
        return Err(SlurmError::RunDir {
            dir: dir.clone(),
            why: format!(
                "it holds run {}, submitted already: see polyplug slurm status {d}, rerun what \
                 did not finish with polyplug slurm resubmit {d}, or give this run another \
                 --run-dir",
                there.run_id,
                d = dir.display()
            ),
        });
    }
    if dir.join(polyplug_engine::run_dir::MANIFEST).exists() {
        return Err(SlurmError::RunDir {
            dir: dir.clone(),
            why: "shards have run in it already (it has a run.yaml): give this run its own \
                  --run-dir"
                .into(),
        });
    }
    let scripts = write_scripts(s)?;
    let max_array_size = if spec.dry_run {
        queue::max_array_size().unwrap_or(1001)
    } else {
        queue::max_array_size()?
    };
    let mut submission = Submission {
        run_id: s.run_id.clone(),
        shards: s.shards,
        job_name: s.job_name.clone(),
        max_array_size,
        max_parallel: spec.max_parallel,
        sbatch_args: spec.sbatch_args.clone(),
        attempts: Vec::new(),
    };
    let all: Vec<u32> = (0..s.shards).collect();
    let how = Sending {
        shards: &all,
        sbatch_args: &spec.sbatch_args,
        also: &[],
        max_parallel: spec.max_parallel,
        dry_run: spec.dry_run,
    };
    let mut done = send(dir, &mut submission, how, scripts)?;
    done.left = 0;
    Ok(done)
}

/// What to resubmit.
#[derive(Debug, Clone)]
pub struct ResubmitSpec {
    /// The run folder.
    pub dir: PathBuf,
    /// More `sbatch` options, after those of the first submission (so they win):
    /// `--time=…` or `--mem=…` for shards that ran out of either.
    pub sbatch_args: Vec<String>,
    /// A new `--max-parallel` (default: the first submission's).
    pub max_parallel: Option<u32>,
    /// Say what would be resubmitted; submit nothing.
    pub dry_run: bool,
}

/// Submits again the shards of `spec.dir` that did not finish and are not queued
/// (each rerun computes only what its shard misses), and a merge job after them and
/// after any task still queued; the pending merge job of before is cancelled.
pub fn resubmit(spec: &ResubmitSpec) -> Result<Submitted, SlurmError> {
    let dir = &spec.dir;
    let st = status(dir)?;
    if let Some(e) = &st.queue_error {
        return Err(SlurmError::Command {
            program: "squeue".into(),
            why: format!("{e}: without the queue, polyplug cannot tell which shards still run"),
        });
    }
    let again: Vec<u32> = st
        .shards
        .iter()
        .filter(|l| matches!(l.phase, ShardPhase::Failed | ShardPhase::NotSubmitted))
        .map(|l| l.shard)
        .collect();
    if again.is_empty() {
        return Err(SlurmError::RunDir {
            dir: dir.clone(),
            why: "no shard to resubmit: every shard is done or still queued (polyplug slurm \
                  status shows them)"
                .into(),
        });
    }
    // Array jobs with tasks still queued: the new merge waits for them too.
    let mut waiting: Vec<String> = st
        .shards
        .iter()
        .filter(|l| matches!(l.phase, ShardPhase::Pending | ShardPhase::Running))
        .filter_map(|l| l.task.as_deref()?.split('_').next().map(String::from))
        .collect();
    waiting.sort();
    waiting.dedup();
    let mut submission = st.submission.clone();
    let scripts = [
        crate::slurm_dir(dir).join("shard.sh"),
        crate::slurm_dir(dir).join("merge.sh"),
    ];
    for s in &scripts {
        if !s.is_file() {
            return Err(SlurmError::File {
                path: s.clone(),
                why: "missing: the run folder's scripts were removed; submit the run anew".into(),
            });
        }
    }
    if let (MergeStatus::Queued(_), false) = (&st.merge.1, spec.dry_run) {
        queue::scancel(&st.merge.0)?;
    }
    let mut args = submission.sbatch_args.clone();
    args.extend(spec.sbatch_args.iter().cloned());
    let max_parallel = spec.max_parallel.or(submission.max_parallel);
    let how = Sending {
        shards: &again,
        sbatch_args: &args,
        also: &waiting,
        max_parallel,
        dry_run: spec.dry_run,
    };
    let mut done = send(dir, &mut submission, how, scripts)?;
    if let Some(a) = submission.attempts.last_mut() {
        a.sbatch_args = spec.sbatch_args.clone();
    }
    if !spec.dry_run {
        submission.write(dir)?;
    }
    done.left = st.shards.len() - again.len();
    Ok(done)
}

/// Writes `slurm/shard.sh` and `slurm/merge.sh` (executable).
fn write_scripts(s: &Scripts) -> Result<[PathBuf; 2], SlurmError> {
    let slurm = crate::slurm_dir(&s.run_dir);
    std::fs::create_dir_all(&slurm).map_err(|e| SlurmError::File {
        path: slurm.clone(),
        why: format!("cannot create it: {e}"),
    })?;
    let paths = [slurm.join("shard.sh"), slurm.join("merge.sh")];
    for (path, text) in paths.iter().zip([s.shard()?, s.merge()?]) {
        write_script(path, &text)?;
    }
    Ok(paths)
}

fn write_script(path: &Path, text: &str) -> Result<(), SlurmError> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |e: std::io::Error| SlurmError::File {
        path: path.to_path_buf(),
        why: e.to_string(),
    };
    std::fs::write(path, text).map_err(fail)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(fail)
}

/// One submission's choices.
struct Sending<'a> {
    /// The shards to run.
    shards: &'a [u32],
    /// The sbatch options of the array and the merge job.
    sbatch_args: &'a [String],
    /// Jobs the merge job waits for besides the new arrays.
    also: &'a [String],
    max_parallel: Option<u32>,
    dry_run: bool,
}

/// Submits the shards (in array parts) and a merge job after them and after the jobs
/// `also`; appends the attempt to `submission` and writes it.
fn send(
    dir: &Path,
    submission: &mut Submission,
    how: Sending<'_>,
    scripts: [PathBuf; 2],
) -> Result<Submitted, SlurmError> {
    let Sending {
        shards,
        sbatch_args,
        also,
        max_parallel,
        dry_run,
    } = how;
    let mut commands = Vec::new();
    let mut jobs = Vec::new();
    let mut sent = Vec::new();
    for (n, (offset, tasks)) in parts(shards, submission.max_array_size)
        .into_iter()
        .enumerate()
    {
        let mut array = array_spec(&tasks);
        let spec = array.clone();
        if let Some(m) = max_parallel {
            array.push_str(&format!("%{m}"));
        }
        let mut args = vec![
            format!("--array={array}"),
            format!("--export=ALL,POLYPLUG_SHARD_OFFSET={offset}"),
        ];
        args.extend(sbatch_args.iter().cloned());
        args.push(scripts[0].display().to_string());
        let job = if dry_run {
            format!("<array {}>", n + 1)
        } else {
            queue::sbatch(&args)?
        };
        commands.push(sbatch_line(&args));
        jobs.push(job.clone());
        sent.push(Part {
            job_id: job,
            offset,
            array: spec,
        });
    }
    let after: Vec<&str> = jobs.iter().chain(also).map(String::as_str).collect();
    let mut args = vec![format!("--dependency=afterany:{}", after.join(":"))];
    args.extend(sbatch_args.iter().cloned());
    args.push(scripts[1].display().to_string());
    let mut attempt = Attempt {
        submitted: polyplug_engine::provenance::now(),
        parts: sent.clone(),
        merge_job: String::new(),
        sbatch_args: Vec::new(),
    };
    let merge_job = if dry_run {
        "<merge>".to_string()
    } else {
        // The array is recorded before the merge is submitted (status finds the
        // merge by its name meanwhile).
        submission.attempts.push(attempt.clone());
        submission.write(dir)?;
        submission.attempts.pop();
        queue::sbatch(&args)?
    };
    commands.push(sbatch_line(&args));
    attempt.merge_job = merge_job.clone();
    submission.attempts.push(attempt);
    if !dry_run {
        submission.write(dir)?;
    }
    Ok(Submitted {
        parts: sent,
        merge_job,
        scripts,
        commands,
        left: 0,
    })
}

fn sbatch_line(args: &[String]) -> Vec<String> {
    let mut line = vec!["sbatch".to_string(), "--parsable".into()];
    line.extend(args.iter().cloned());
    line
}
