//! `polyplug slurm submit|status|resubmit`: the arguments, checked as `polyplug run`
//! would check them before anything is submitted; the work is polyplug-slurm's.

use crate::args::{SlurmCommand, SlurmOpts, SlurmResubmitArgs, SlurmSubmitArgs};
use crate::{error, EXIT_FAILED, EXIT_USAGE};
use polyplug_engine::core::Uuid;
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

/// The options of `slurm submit` that may come among the run arguments.
const OPTIONS: &[(&str, &str)] = &[
    ("--max-parallel", "a number of tasks"),
    ("--sbatch-arg", "an sbatch option"),
];

fn submit(a: SlurmSubmitArgs) -> Result<i32, String> {
    let s = crate::forward::split(&a.run, OPTIONS)?;
    let shards = match a.shards {
        Some(n) => n,
        None => s
            .number("--shards", "100")?
            .ok_or("slurm submit needs --shards N (the number of array tasks)")?,
    };
    if shards == 0 {
        return Err("--shards 0: give at least 1".into());
    }
    let run_dir = a
        .run_dir
        .or(s.value("--run-dir").map(PathBuf::from))
        .ok_or(
            "slurm submit needs --run-dir DIR: a folder every node sees, for the shards' \
             outputs, the scripts and the tasks' output files",
        )?;
    let max_parallel = match a.slurm.max_parallel {
        Some(m) => Some(m),
        None => s.number("--max-parallel", "50")?,
    };
    let run_id = s
        .value("--run-id")
        .map_or_else(|| Uuid::new_v4().hyphenated().to_string(), String::from);
    crate::forward::check_run(&s.run, shards, &run_dir, true)?;
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
    sbatch_args.extend(s.values.get("--sbatch-arg").cloned().unwrap_or_default());
    let spec = polyplug_slurm::SubmitSpec {
        scripts,
        max_parallel,
        sbatch_args,
        dry_run: a.slurm.dry_run || s.flag("--dry-run"),
    };
    let wait = a.slurm.wait || s.flag("--wait");
    let done = polyplug_slurm::submit(&spec).map_err(|e| e.to_string())?;
    Ok(tell(&done, &spec.scripts.run_dir, spec.dry_run, wait))
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
    // After the job IDs are printed and recorded: a wait that fails leaves them known.
    if let Err(e) = polyplug_slurm::wait_for(&done.merge_job) {
        error(e);
        return EXIT_FAILED;
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
