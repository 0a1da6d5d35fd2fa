//! The two batch scripts of a run folder, and how shards are cut into arrays.

use crate::SlurmError;
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// How long before its time limit a shard is told to stop (`--signal=B:USR1@…`):
/// it finishes what is under way, records it, and ends as `stopped`, to be
/// resubmitted; the rerun computes only what it misses.
pub const STOP_BEFORE_LIMIT_SECS: u32 = 120;

/// What the scripts run.
#[derive(Debug, Clone)]
pub struct Scripts {
    /// The polyplug program the tasks run (this one, by its absolute path: the
    /// nodes see the same file system).
    pub program: PathBuf,
    /// The arguments of `polyplug run` after `run`, without the shard and the run
    /// folder (the script adds them).
    pub run_args: Vec<String>,
    /// The run folder (absolute).
    pub run_dir: PathBuf,
    /// The working folder of the tasks, where relative paths of the run arguments
    /// are found (absolute).
    pub workdir: PathBuf,
    /// The logical run.
    pub run_id: String,
    /// The number of shards.
    pub shards: u32,
    /// The job name of the array (the merge job's adds `-merge`).
    pub job_name: String,
    /// The arguments of `polyplug merge` after the run folder (`-o`, `-l`, `-r`).
    pub merge_args: Vec<String>,
}

/// A word for the shell, quoted if needed.
fn quote(word: &str) -> Result<Cow<'_, str>, SlurmError> {
    shlex::try_quote(word)
        .map_err(|_| SlurmError::Usage(format!("{word:?}: a NUL byte cannot go into a script")))
}

/// Words joined for the shell.
fn join<'a>(words: impl IntoIterator<Item = &'a str>) -> Result<String, SlurmError> {
    let quoted: Vec<Cow<'_, str>> = words.into_iter().map(quote).collect::<Result<_, _>>()?;
    Ok(quoted.join(" "))
}

fn text(path: &Path) -> Cow<'_, str> {
    path.to_string_lossy()
}

impl Scripts {
    /// `slurm/shard.sh`: one array task, one shard.
    pub fn shard(&self) -> Result<String, SlurmError> {
        let out = crate::slurm_dir(&self.run_dir).join("%A_%a.out");
        let mut command = vec![text(&self.program).into_owned(), "run".into()];
        command.extend(self.run_args.iter().cloned());
        let command = join(command.iter().map(String::as_str))?;
        Ok(format!(
            "#!/bin/bash\n\
             # One shard of polyplug run {run_id} ({n} shards), as a task of a Slurm array.\n\
             # Written by `polyplug slurm submit`; `polyplug slurm status {dir}` shows\n\
             # every shard, `polyplug slurm resubmit {dir}` reruns those that did not finish.\n\
             #SBATCH --job-name={name}\n\
             #SBATCH --output={out}\n\
             #SBATCH --open-mode=append\n\
             #SBATCH --chdir={workdir}\n\
             #SBATCH --signal=B:USR1@{lead}\n\
             set -eu\n\
             # A large array is submitted in parts of at most MaxArraySize tasks: a part's\n\
             # task IDs start at 0, and POLYPLUG_SHARD_OFFSET is where its shards start.\n\
             shard=$(( SLURM_ARRAY_TASK_ID + ${{POLYPLUG_SHARD_OFFSET:-0}} ))\n\
             exec {command} --shard \"$shard/{n}\" --run-dir {dir_q} --run-id {run_id_q}\n",
            run_id = self.run_id,
            n = self.shards,
            dir = text(&self.run_dir),
            name = quote(&self.job_name)?,
            out = quote(&text(&out))?,
            workdir = quote(&text(&self.workdir))?,
            lead = STOP_BEFORE_LIMIT_SECS,
            dir_q = quote(&text(&self.run_dir))?,
            run_id_q = quote(&self.run_id)?,
        ))
    }

    /// `slurm/merge.sh`: the merge job, after every shard; it records its exit
    /// status beside its output, for `status`.
    pub fn merge(&self) -> Result<String, SlurmError> {
        let slurm = crate::slurm_dir(&self.run_dir);
        let out = slurm.join("merge-%j.out");
        let mut command = vec![
            text(&self.program).into_owned(),
            "merge".into(),
            text(&self.run_dir).into_owned(),
        ];
        command.extend(self.merge_args.iter().cloned());
        let command = join(command.iter().map(String::as_str))?;
        Ok(format!(
            "#!/bin/bash\n\
             # The merge of polyplug run {run_id}: once every array task has ended\n\
             # (--dependency=afterany), the shards' outputs become those of one run.\n\
             # It refuses, naming them, when shards did not finish.\n\
             #SBATCH --job-name={name}-merge\n\
             #SBATCH --output={out}\n\
             #SBATCH --chdir={workdir}\n\
             set +e\n\
             {command}\n\
             code=$?\n\
             echo \"$code\" > {slurm_q}/merge-\"$SLURM_JOB_ID\".exit\n\
             exit \"$code\"\n",
            run_id = self.run_id,
            name = quote(&self.job_name)?,
            out = quote(&text(&out))?,
            workdir = quote(&text(&self.workdir))?,
            slurm_q = quote(&text(&slurm))?,
        ))
    }
}

/// The arrays that run `shards`, at most `max_array_size` tasks each (Slurm refuses
/// task IDs from `MaxArraySize` on): `(offset, task IDs)`, shard = offset + task ID.
pub fn parts(shards: &[u32], max_array_size: u32) -> Vec<(u32, Vec<u32>)> {
    let size = max_array_size.max(1);
    let mut parts: Vec<(u32, Vec<u32>)> = Vec::new();
    for &shard in shards {
        let offset = shard / size * size;
        match parts.last_mut() {
            Some((o, tasks)) if *o == offset => tasks.push(shard - offset),
            _ => parts.push((offset, vec![shard - offset])),
        }
    }
    parts
}

/// Task IDs as `--array` takes them: `0-9`, `2,5,7-8`.
pub fn array_spec(tasks: &[u32]) -> String {
    let mut pieces = Vec::new();
    let mut i = 0;
    while i < tasks.len() {
        let mut j = i;
        while j + 1 < tasks.len() && tasks[j + 1] == tasks[j] + 1 {
            j += 1;
        }
        pieces.push(if i == j {
            tasks[i].to_string()
        } else {
            format!("{}-{}", tasks[i], tasks[j])
        });
        i = j + 1;
    }
    pieces.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_cut_into_arrays_below_max_array_size() {
        let all: Vec<u32> = (0..23).collect();
        let p = parts(&all, 10);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0], (0, (0..10).collect()));
        assert_eq!(p[1], (10, (0..10).collect()));
        assert_eq!(p[2], (20, vec![0, 1, 2]));
        assert_eq!(
            parts(&[3, 11, 12, 19], 10),
            vec![(0, vec![3]), (10, vec![1, 2, 9])]
        );
        assert_eq!(array_spec(&[0, 1, 2, 3]), "0-3");
        assert_eq!(array_spec(&[1, 2, 5, 7, 8, 9]), "1-2,5,7-9");
        assert_eq!(array_spec(&[4]), "4");
    }

    #[test]
    fn the_shard_script_quotes_every_argument() {
        let s = Scripts {
            program: "/opt/poly plug/polyplug".into(),
            run_args: vec![
                "p.py".into(),
                "ids".into(),
                "my ids.txt".into(),
                "--params".into(),
                "it's.yaml".into(),
            ],
            run_dir: "/scratch/run 1".into(),
            workdir: "/home/u".into(),
            run_id: "abc".into(),
            shards: 12,
            job_name: "polyplug-abc".into(),
            merge_args: vec!["-o".into(), "out.tsv".into()],
        };
        let shard = s.shard().unwrap();
        assert!(
            shard.contains(
                "exec '/opt/poly plug/polyplug' run p.py ids 'my ids.txt' --params \"it's.yaml\" \
                 --shard \"$shard/12\" --run-dir '/scratch/run 1' --run-id abc\n"
            ),
            "{shard}"
        );
        assert!(shard.contains("#SBATCH --signal=B:USR1@120\n"), "{shard}");
        assert!(
            shard.contains("#SBATCH --output='/scratch/run 1/slurm/%A_%a.out'\n"),
            "{shard}"
        );
        let merge = s.merge().unwrap();
        assert!(
            merge.contains("'/opt/poly plug/polyplug' merge '/scratch/run 1' -o out.tsv\n"),
            "{merge}"
        );
        assert!(
            merge.contains("#SBATCH --job-name=polyplug-abc-merge\n"),
            "{merge}"
        );
    }
}
