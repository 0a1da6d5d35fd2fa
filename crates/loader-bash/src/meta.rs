//! Reading a script's constants and functions: one bash invocation per plugin.

use crate::text::is_identifier;
use crate::worker::Mode;
use polyplug_core::{PluginMeta, RawMeta, Value};
use rustix::process::{kill_process_group, Pid, Signal};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const READER: &str = include_str!("reader.bash");

/// The constants a plugin may define (the Prenacs ones, and polyplug's mode switch).
const ARRAYS: [&str; 2] = ["OUTPUT", "PARAMETERS"];

/// What reading a script found.
#[derive(Debug)]
pub(crate) struct Scanned {
    pub meta: PluginMeta,
    pub functions: Vec<String>,
    pub mode: Mode,
}

/// One constant as the reader wrote it.
enum Raw {
    Scalar(String),
    Array(Vec<String>),
    Assoc,
}

/// Sources the script once in `bash` and reads its constants and functions. `shown`
/// names the script in messages; `source_path` is how bash finds it.
pub(crate) fn scan(source_path: &Path, shown: &Path, timeout: Duration) -> Result<Scanned, String> {
    let child = Command::new("bash")
        .arg("--noprofile")
        .arg("--norc")
        .arg("-c")
        .arg(READER)
        .arg("bash")
        .arg(source_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| {
            format!("cannot start bash: {e}; Bash plugins run with the `bash` found in PATH")
        })?;
    // A watchdog kills the reader (and what it started) if sourcing hangs.
    let pid = Pid::from_child(&child);
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(timeout) {
            let _ = kill_process_group(pid, Signal::KILL);
            return true;
        }
        false
    });
    let output = child.wait_with_output();
    let _ = done_tx.send(());
    let killed = watchdog.join().unwrap_or(false);
    let output = output.map_err(|e| format!("cannot read the constants through bash: {e}"))?;
    let said = crate::worker::shown_output(&output.stderr);
    if killed {
        return Err(format!(
            "sourcing the script took longer than {}s; a plugin's top level must only define \
             constants and functions (the limit is --timeout, or 60s){said}",
            timeout.as_secs_f64()
        ));
    }
    let fields: Vec<&[u8]> = output.stdout.split(|b| *b == 0).collect();
    let mut constants: Vec<(String, Raw)> = Vec::new();
    let mut functions = Vec::new();
    let mut it = fields.into_iter();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut complete = false;
    while let Some(name) = it.next() {
        match name {
            b"END" => {
                complete = true;
                break;
            }
            b"F" => functions.push(text(it.next().unwrap_or_default())),
            _ => {
                let name = text(name);
                let kind = it.next().unwrap_or_default();
                let n: usize = text(it.next().unwrap_or_default()).parse().unwrap_or(0);
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(text(it.next().unwrap_or_default()));
                }
                let raw = match kind {
                    b"S" => Raw::Scalar(items.pop().unwrap_or_default()),
                    b"A" => Raw::Array(items),
                    _ => Raw::Assoc,
                };
                constants.push((name, raw));
            }
        }
    }
    if !complete {
        return Err(format!(
            "sourcing the script ended bash ({}) before its constants could be read; remove \
             `exit` (and failing commands under `set -e`) from the script's top level{said}",
            output.status
        ));
    }
    build(constants, functions, shown).map_err(|m| format!("{m}{said}"))
}

fn build(
    constants: Vec<(String, Raw)>,
    functions: Vec<String>,
    shown: &Path,
) -> Result<Scanned, String> {
    let mut raw = RawMeta::default();
    let mut problems = Vec::new();
    let mut mode = Mode::Persistent;
    for (name, value) in constants {
        match (name.as_str(), value) {
            ("POLYPLUG_PERSISTENT", Raw::Scalar(v)) => {
                match v.trim().to_ascii_lowercase().as_str() {
                    "" | "1" | "true" | "yes" | "on" => mode = Mode::Persistent,
                    "0" | "false" | "no" | "off" => mode = Mode::Resourced,
                    other => problems.push(format!(
                        "POLYPLUG_PERSISTENT is '{other}'; set it to 1 (one long-lived bash per \
                         worker, the default) or 0 (source the script again for every call)"
                    )),
                }
            }
            ("POLYPLUG_PERSISTENT", _) => {
                problems.push("POLYPLUG_PERSISTENT must be a plain variable (0 or 1)".into())
            }
            (_, Raw::Assoc) => problems.push(format!(
                "{name} is an associative array; write {}",
                example(&name)
            )),
            ("PARAMETERS", Raw::Array(items)) => {
                let mut list = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let fields: Vec<Value> = item.split('\t').map(Value::from).collect();
                    if fields.len() != 4 {
                        problems.push(format!(
                            "PARAMETERS element {} (\"{}\") has {} field(s); write the name, \
                             datatype, default and documentation separated by \\t, as in {}",
                            i + 1,
                            item.replace('\t', "\\t"),
                            fields.len(),
                            example("PARAMETERS")
                        ));
                        continue;
                    }
                    if let Some(Value::Str(pname)) = fields.first() {
                        if !is_identifier(pname) {
                            problems.push(format!(
                                "parameter name '{pname}' cannot be a Bash variable (compute \
                                 receives it as {pname}=value for eval); use letters, digits \
                                 and _, not starting with a digit"
                            ));
                        } else if pname == "state" && functions.iter().any(|f| f == "initialize") {
                            problems.push(
                                "parameter name 'state' is taken: compute receives initialize's \
                                 output as state=value; rename the parameter"
                                    .into(),
                            );
                        }
                    }
                    list.push(Value::List(fields));
                }
                raw.set("PARAMETERS", Value::List(list));
            }
            (n, Raw::Scalar(v)) if ARRAYS.contains(&n) => {
                problems.push(format!("{n} must be a bash array, as in {}", example(n)));
                if n == "OUTPUT" {
                    raw.set(n, Value::List(vec![Value::Str(v)]));
                }
            }
            (_, Raw::Array(items)) => raw.set(
                &name,
                Value::List(items.into_iter().map(Value::Str).collect()),
            ),
            (_, Raw::Scalar(v)) => raw.set(&name, Value::Str(v)),
        }
    }
    let has = |f: &str| functions.iter().any(|g| g == f);
    if !has("compute") && !has("compute_id") {
        problems.push(
            "defines neither compute nor compute_id; define `compute() { ... }` (or \
             `compute_id() { ... }` for an --idsproc plugin)"
                .into(),
        );
    }
    // As in Prenacs, an idsproc plugin needs only compute_id: give it the constants
    // it does not define.
    if !has("compute") && has("compute_id") {
        let stem = shown
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "idsproc".into());
        for (k, v) in [
            ("ID", Value::Str(stem)),
            ("VERSION", Value::from("0")),
            ("INPUT", Value::from("input unit names (an idsproc plugin)")),
            ("OUTPUT", Value::List(vec![Value::from("id")])),
        ] {
            raw.constants.entry(k.to_string()).or_insert(v);
        }
    }
    let validated = PluginMeta::validate(&raw);
    if let Err(more) = &validated {
        problems.extend(more.0.iter().cloned());
    }
    match validated {
        Ok(meta) if problems.is_empty() => Ok(Scanned {
            meta,
            functions,
            mode,
        }),
        _ => Err(format!("bad Bash plugin:\n  - {}", problems.join("\n  - "))),
    }
}

fn example(name: &str) -> &'static str {
    match name {
        "OUTPUT" => "OUTPUT=( \"lines\" \"words\" )",
        "PARAMETERS" => "PARAMETERS=( \"min_length\\tint\\t0\\tshorter inputs give no result\" )",
        _ => "a plain variable, as in ID=\"my_plugin\"",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Raw {
        Raw::Scalar(v.into())
    }

    fn base() -> Vec<(String, Raw)> {
        vec![
            ("ID".into(), s("p")),
            ("VERSION".into(), s("1")),
            ("INPUT".into(), s("x")),
            ("OUTPUT".into(), Raw::Array(vec!["a".into(), "b".into()])),
        ]
    }

    fn compute() -> Vec<String> {
        vec!["compute".into()]
    }

    #[test]
    fn parameters_split_on_tabs_and_mode_defaults_to_persistent() {
        let mut c = base();
        c.push((
            "PARAMETERS".into(),
            Raw::Array(vec!["n\tint\t3\tthe n".into()]),
        ));
        let got = build(c, compute(), Path::new("p.sh")).unwrap();
        assert_eq!(got.meta.output, vec!["a".to_string(), "b".into()]);
        assert_eq!(got.meta.parameters[0].name, "n");
        assert_eq!(got.meta.parameters[0].default, Some(Value::Int(3)));
        assert_eq!(got.mode, Mode::Persistent);
    }

    #[test]
    fn the_mode_constant_is_checked() {
        let mut c = base();
        c.push(("POLYPLUG_PERSISTENT".into(), s("0")));
        let got = build(c, compute(), Path::new("p.sh")).unwrap();
        assert_eq!(got.mode, Mode::Resourced);
        let mut c = base();
        c.push(("POLYPLUG_PERSISTENT".into(), s("maybe")));
        let e = build(c, compute(), Path::new("p.sh")).unwrap_err();
        assert!(e.contains("POLYPLUG_PERSISTENT is 'maybe'"), "{e}");
    }

    #[test]
    fn every_problem_is_listed_once() {
        let c = vec![
            ("ID".into(), s("p")),
            ("OUTPUT".into(), s("a")),
            ("PARAMETERS".into(), Raw::Array(vec!["x y".into()])),
            ("METHOD".into(), Raw::Assoc),
        ];
        let e = build(c, Vec::new(), Path::new("p.sh")).unwrap_err();
        for text in [
            "OUTPUT must be a bash array",
            "PARAMETERS element 1 (\"x y\") has 1 field(s)",
            "METHOD is an associative array",
            "defines neither compute nor compute_id",
            "constant VERSION is missing",
            "constant INPUT is missing",
        ] {
            assert_eq!(e.matches(text).count(), 1, "{text}: {e}");
        }
        assert!(!e.contains("constant OUTPUT is missing"), "{e}");
    }

    #[test]
    fn an_idsproc_script_needs_only_compute_id() {
        let got = build(
            Vec::new(),
            vec!["compute_id".into()],
            Path::new("dir/stem.sh"),
        )
        .unwrap();
        assert_eq!(got.meta.id, "stem");
        assert_eq!(got.meta.version, "0");
    }
}
