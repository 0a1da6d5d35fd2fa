//! `polyplug slurm submit|status|resubmit`: the arguments, checked as `polyplug run`
//! would check them before anything is submitted; the work is polyplug-slurm's.

use crate::args::{Cli, Command, SlurmCommand, SlurmOpts, SlurmResubmitArgs, SlurmSubmitArgs};
use crate::{error, EXIT_FAILED, EXIT_USAGE};
use clap::Parser;
use polyplug_engine::core::{LoadOptions, Uuid};
use polyplug_engine::Input;
use polyplug_slurm::{MergeStatus, Scripts, Submitted};
use std::path::{Path, PathBuf};

/// Runs a `polyplug slurm` command; its exit status.
pub fn slurm(command: SlurmCommand) -> i32 {
    let result = match command {
        SlurmCommand::Submit(a) => submit(a),
        SlurmCommand::Status(a) => polyplug_slurm::status(&a.dir)
            .map(|s| {
                print!("{}", s.table(&a.dir));
                0
            })
            .map_err(|e| e.to_string()),
        SlurmCommand::Resubmit(a) => resubmit(a),
    };
    result.unwrap_or_else(|message| {
        error(message);
        EXIT_USAGE
    })
}

/// The options of `slurm submit` found among the run arguments (after the plugin),
/// and the run arguments without them.
#[derive(Debug, Default)]
struct Split {
    run: Vec<String>,
    shards: Option<String>,
    run_dir: Option<String>,
    run_id: Option<String>,
    max_parallel: Option<String>,
    sbatch_args: Vec<String>,
    dry_run: bool,
    wait: bool,
    /// `-o`, `-l`, `-r` (for the merge).
    merge: Vec<String>,
}

/// Takes the options of `slurm submit` out of the run arguments.
fn split(args: &[String]) -> Result<Split, String> {
    let mut s = Split::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value ({what})")),
            }
        };
        match name {
            "--shards" => s.shards = Some(value("the number of shards")?),
            "--run-dir" => s.run_dir = Some(value("a folder")?),
            "--run-id" => s.run_id = Some(value("an ID")?),
            "--max-parallel" => s.max_parallel = Some(value("a number of tasks")?),
            "--sbatch-arg" => s.sbatch_args.push(value("an sbatch option")?),
            "--dry-run" => s.dry_run = true,
            "--wait" => s.wait = true,
            "-o" | "--out" | "-l" | "--log" | "-r" | "--report" => {
                let short = match name {
                    "-o" | "--out" => "-o",
                    "-l" | "--log" => "-l",
                    _ => "-r",
                };
                s.merge.push(short.into());
                s.merge.push(value("a file")?);
            }
            "--shard" => {
                return Err("slurm submit gives each task its --shard: give --shards N only".into())
            }
            _ => s.run.push(arg.clone()),
        }
    }
    Ok(s)
}

fn submit(a: SlurmSubmitArgs) -> Result<i32, String> {
    let mut s = split(&a.run)?;
    let shards = match (a.shards, &s.shards) {
        (Some(n), _) => n,
        (None, Some(t)) => t.parse().map_err(|_| {
            format!("--shards {t}: give a whole number of shards, e.g. --shards 100")
        })?,
        (None, None) => {
            return Err("slurm submit needs --shards N (the number of array tasks)".into())
        }
    };
    if shards == 0 {
        return Err("--shards 0: give at least 1".into());
    }
    let run_dir = a.run_dir.or(s.run_dir.take().map(PathBuf::from)).ok_or(
        "slurm submit needs --run-dir DIR: a folder every node sees, for the shards' \
                outputs, the scripts and the tasks' output files",
    )?;
    let max_parallel = match (a.slurm.max_parallel, &s.max_parallel) {
        (Some(m), _) => Some(m),
        (None, Some(t)) => Some(t.parse().map_err(|_| {
            format!("--max-parallel {t}: give a whole number of tasks, e.g. --max-parallel 50")
        })?),
        (None, None) => None,
    };
    let run_id = s
        .run_id
        .take()
        .unwrap_or_else(|| Uuid::new_v4().hyphenated().to_string());
    check_run(&s.run, shards, &run_dir)?;
    let absolute = |p: &Path| std::path::absolute(p).map_err(|e| format!("{}: {e}", p.display()));
    let scripts = Scripts {
        program: std::env::current_exe()
            .map_err(|e| format!("cannot tell where polyplug is: {e}"))?,
        run_args: s.run.clone(),
        run_dir: absolute(&run_dir)?,
        workdir: absolute(Path::new("."))?,
        job_name: format!("polyplug-{}", &run_id[..run_id.len().min(8)]),
        run_id,
        shards,
        merge_args: s.merge.clone(),
    };
    let mut sbatch_args = a.slurm.sbatch_arg;
    sbatch_args.extend(s.sbatch_args);
    let spec = polyplug_slurm::SubmitSpec {
        scripts,
        max_parallel,
        sbatch_args,
        dry_run: a.slurm.dry_run || s.dry_run,
        wait: a.slurm.wait || s.wait,
    };
    let done = polyplug_slurm::submit(&spec).map_err(|e| e.to_string())?;
    Ok(tell(&done, &spec.scripts.run_dir, spec.dry_run, spec.wait))
}

/// Checks the run arguments as `polyplug run` would (the syntax, the plugin, the
/// input), so that a mistake is told now, not by every task of the array.
fn check_run(run: &[String], shards: u32, run_dir: &Path) -> Result<(), String> {
    let mut argv = vec!["polyplug".to_string(), "run".into()];
    argv.extend(run.iter().cloned());
    argv.extend([
        "--shard".into(),
        format!("0/{shards}"),
        "--run-dir".into(),
        run_dir.display().to_string(),
    ]);
    let cli = Cli::try_parse_from(&argv).map_err(|e| {
        format!(
            "the run arguments ({}) are not those of polyplug run:\n{}",
            run.join(" "),
            e.render()
        )
    })?;
    let Command::Run(args) = cli.command else {
        return Err("the run arguments do not make a polyplug run".into());
    };
    let spec = crate::run::spec(*args)?;
    let options = LoadOptions {
        jobs: 1,
        python_path: spec.python_path.clone(),
        ..LoadOptions::default()
    };
    polyplug_engine::resolve::resolve(&spec.plugin, &options).map_err(|e| e.to_string())?;
    if let Input::Ids { path, .. } = &spec.input {
        std::fs::File::open(path)
            .map_err(|e| format!("{}: cannot read the IDs file: {e}", path.display()))?;
    }
    Ok(())
}

fn resubmit(a: SlurmResubmitArgs) -> Result<i32, String> {
    let SlurmOpts {
        max_parallel,
        sbatch_arg,
        dry_run,
        wait,
    } = a.slurm;
    let spec = polyplug_slurm::ResubmitSpec {
        dir: a.dir.clone(),
        sbatch_args: sbatch_arg,
        max_parallel,
        dry_run,
        wait,
    };
    let done = polyplug_slurm::resubmit(&spec).map_err(|e| e.to_string())?;
    if done.left > 0 {
        eprintln!(
            "polyplug: {} shards left as they are (done, or still queued)",
            done.left
        );
    }
    Ok(tell(&done, &a.dir, dry_run, wait))
}

/// Prints what was submitted (job IDs on stdout, one per line: `array <job>
/// <shards>`, `merge <job>`); in a dry run, the scripts and the sbatch commands.
fn tell(done: &Submitted, dir: &Path, dry_run: bool, wait: bool) -> i32 {
    if dry_run {
        for script in &done.scripts {
            println!("# {}", script.display());
            print!("{}", std::fs::read_to_string(script).unwrap_or_default());
            println!();
        }
        println!("# what would be submitted (nothing was):");
        for c in &done.commands {
            let words: Vec<String> = c.iter().map(|w| shown(w)).collect();
            println!("{}", words.join(" "));
        }
        return 0;
    }
    for p in &done.parts {
        let shards: Vec<String> = p
            .tasks()
            .iter()
            .map(|t| (t + p.offset).to_string())
            .collect();
        println!("array {} shards {}", p.job_id, compact(&shards));
    }
    println!("merge {}", done.merge_job);
    eprintln!(
        "polyplug: submitted; follow it with: polyplug slurm status {}",
        dir.display()
    );
    if !wait {
        return 0;
    }
    match polyplug_slurm::status(dir) {
        Ok(s) => {
            eprint!("{}", s.table(dir));
            match s.merge.1 {
                MergeStatus::Ended(0) => 0,
                _ => EXIT_FAILED,
            }
        }
        Err(e) => {
            error(e);
            EXIT_FAILED
        }
    }
}

/// A word of a command line as a shell takes it: quoted only when it must be.
fn shown(word: &str) -> String {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"_./:=,%@+-".contains(&b);
    if !word.is_empty() && word.bytes().all(plain) {
        word.to_string()
    } else {
        shlex::try_quote(word).map_or_else(|_| format!("{word:?}"), |q| q.into_owned())
    }
}

/// `0,1,2,3,7` as `0-3,7`.
fn compact(numbers: &[String]) -> String {
    let n: Vec<u32> = numbers.iter().filter_map(|s| s.parse().ok()).collect();
    polyplug_slurm::array_spec(&n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn submit_options_are_taken_out_of_the_run_arguments() {
        let s = split(&words(
            "p.py ids ids.txt -j2 --shards 8 --run-dir=out --sbatch-arg --time=1:00 \
             --sbatch-arg=--mem=2G -o merged.tsv --report=r.yaml --wait --max-parallel 3",
        ))
        .unwrap();
        assert_eq!(s.run, words("p.py ids ids.txt -j2"));
        assert_eq!(s.shards.as_deref(), Some("8"));
        assert_eq!(s.run_dir.as_deref(), Some("out"));
        assert_eq!(s.sbatch_args, words("--time=1:00 --mem=2G"));
        assert_eq!(s.merge, words("-o merged.tsv -r r.yaml"));
        assert_eq!(s.max_parallel.as_deref(), Some("3"));
        assert!(s.wait && !s.dry_run);
        assert!(split(&words("p.py ids x --shard 1/4"))
            .unwrap_err()
            .contains("gives each task its --shard"));
        assert_eq!(
            split(&words("p.py ids x --sbatch-arg")).unwrap_err(),
            "--sbatch-arg needs a value (an sbatch option)"
        );
    }
}
