//! Run arguments forwarded to the tasks of a scheduler (`slurm submit`, `k8s
//! manifest`): the command's own options taken out of them, and the rest checked as
//! `polyplug run` would check it before anything is submitted.

use crate::args::{Cli, Command};
use clap::Parser;
use polyplug_engine::core::LoadOptions;
use polyplug_engine::Input;
use std::collections::BTreeMap;
use std::path::Path;

/// The command's options found among the run arguments, and the run arguments
/// without them.
#[derive(Debug, Default)]
pub struct Split {
    /// What `polyplug run` gets.
    pub run: Vec<String>,
    /// Options with a value (the last one given; `--sbatch-arg` keeps all).
    pub values: BTreeMap<&'static str, Vec<String>>,
    /// Flags given.
    pub flags: Vec<&'static str>,
    /// `-o`, `-l`, `-r` with their files: the merged outputs.
    pub merge: Vec<String>,
}

impl Split {
    /// The last value of an option.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name)?.last().map(String::as_str)
    }

    /// Whether a flag was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }

    /// The value of an option as a number, with an error naming it.
    pub fn number(&self, name: &str, example: &str) -> Result<Option<u32>, String> {
        self.value(name)
            .map(|t| {
                t.parse()
                    .map_err(|_| format!("{name} {t}: give a whole number, e.g. {name} {example}"))
            })
            .transpose()
    }
}

/// Options every forwarding command takes out: the shards and the run folder, which
/// it gives each task itself.
const COMMON: [(&str, &str); 3] = [
    ("--shards", "the number of shards"),
    ("--run-dir", "a folder"),
    ("--run-id", "an ID"),
];

/// Takes the command's options (those of [`COMMON`], `--dry-run`, `--wait` and
/// `extra`, each with a value) and `-o`/`-l`/`-r` out of the run arguments.
pub fn split(args: &[String], extra: &[(&'static str, &str)]) -> Result<Split, String> {
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
        if let Some((option, what)) = COMMON.iter().chain(extra).find(|(o, _)| *o == name) {
            let v = value(what)?;
            s.values.entry(option).or_default().push(v);
            continue;
        }
        match name {
            "--dry-run" => s.flags.push("--dry-run"),
            "--wait" => s.flags.push("--wait"),
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
                return Err("each task is given its own --shard: give --shards N only".into())
            }
            _ => s.run.push(arg.clone()),
        }
    }
    Ok(s)
}

/// Checks the run arguments as `polyplug run` would: the syntax always; with
/// `local`, also the plugin (loaded) and the IDs file (opened), which the tasks will
/// see where this process sees them.
pub fn check_run(run: &[String], shards: u32, run_dir: &Path, local: bool) -> Result<(), String> {
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
    if !local {
        return Ok(());
    }
    let options = LoadOptions {
        jobs: 1,
        python_path: spec.python_path.clone(),
        ..LoadOptions::default()
    };
    polyplug_engine::resolve::resolve(&spec.plugin, &options).map_err(|e| e.to_string())?;
    if let Input::Ids { path, .. } = &spec.input {
        std::fs::File::open(path)
            .map_err(|e| format!("{}: cannot read the IDs file: {e}", path.display()))?;
        // Checked once, here, rather than by every task (which then remember it).
        polyplug_engine::check_repeats(&spec).map_err(|e| e.to_string())?;
    }
    if let Some(records) = spec.input.record_source() {
        // Indexed once, here, rather than by every task at once.
        polyplug_engine::records_catalog(&records, &crate::console::Stderr)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SBATCH: &[(&str, &str)] = &[("--sbatch-arg", "an sbatch option")];

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn the_commands_options_are_taken_out_of_the_run_arguments() {
        let s = split(
            &words(
                "p.py ids ids.txt -j2 --shards 8 --run-dir=out --sbatch-arg --time=1:00 \
                 --sbatch-arg=--mem=2G -o merged.tsv --report=r.yaml --wait --max-parallel 3 \
                 --image=x:1",
            ),
            &[
                ("--image", "an image"),
                ("--max-parallel", "a number"),
                ("--sbatch-arg", "an sbatch option"),
            ],
        )
        .unwrap();
        assert_eq!(s.run, words("p.py ids ids.txt -j2"));
        assert_eq!(s.value("--shards"), Some("8"));
        assert_eq!(s.value("--run-dir"), Some("out"));
        assert_eq!(s.values["--sbatch-arg"], words("--time=1:00 --mem=2G"));
        assert_eq!(s.merge, words("-o merged.tsv -r r.yaml"));
        assert_eq!(s.number("--max-parallel", "50").unwrap(), Some(3));
        assert_eq!(s.value("--image"), Some("x:1"));
        assert!(s.flag("--wait") && !s.flag("--dry-run"));
        let bad = split(&words("p.py ids x --shards many"), &[]).unwrap();
        assert_eq!(
            bad.number("--shards", "100").unwrap_err(),
            "--shards many: give a whole number, e.g. --shards 100"
        );
        assert!(split(&words("p.py ids x --shard 1/4"), &[])
            .unwrap_err()
            .contains("its own --shard"));
        assert_eq!(
            split(&words("p.py ids x --sbatch-arg"), SBATCH).unwrap_err(),
            "--sbatch-arg needs a value (an sbatch option)"
        );
    }
}
