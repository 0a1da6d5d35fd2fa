//! The end-to-end test harness: a fresh temporary folder per test and a `polyplug`
//! command running the real binary in it.
//!
//! The binary and the compiled example and fixture plugins come from the same target
//! folder as the test executable (`cargo build --workspace` builds them all; the
//! README's test command does that first).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The target profile folder holding the polyplug binary and the plugin libraries.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/e2e-<hash>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable in target/<profile>/deps");
    dir.to_path_buf()
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the repo")
        .to_path_buf()
}

/// Path of the polyplug binary under test.
pub fn polyplug_bin() -> PathBuf {
    let p = target_dir().join("polyplug");
    assert!(
        p.is_file(),
        "{} is missing: run `cargo build --workspace` first",
        p.display()
    );
    p
}

/// The variables Slurm and Kubernetes set for a task, which polyplug reads.
pub const SCHEDULER_VARIABLES: [&str; 9] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_JOB_ID",
    "SLURM_JOB_ID",
    "SLURMD_NODENAME",
    "JOB_COMPLETION_INDEX",
    "HOSTNAME",
];

/// Path of a plugin library built by the workspace (`lib<name>.so`).
pub fn plugin_lib(name: &str) -> PathBuf {
    let p = target_dir().join(format!("lib{name}.so"));
    assert!(
        p.is_file(),
        "{} is missing: run `cargo build --workspace` first",
        p.display()
    );
    p
}

/// A temporary folder for one test, removed at the end.
pub struct TestDir {
    dir: tempfile::TempDir,
}

impl Default for TestDir {
    fn default() -> Self {
        Self::new()
    }
}

impl TestDir {
    /// A new empty folder.
    pub fn new() -> TestDir {
        TestDir {
            dir: tempfile::Builder::new()
                .prefix("polyplug-e2e-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `path` inside the folder.
    pub fn join(&self, path: &str) -> PathBuf {
        self.dir.path().join(path)
    }

    /// Writes a file (creating parent folders) and returns its path.
    pub fn write(&self, path: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create dirs");
        }
        std::fs::write(&p, contents).expect("write file");
        p
    }

    /// Reads a file of the folder as text.
    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    /// A `polyplug` command running in this folder, with a pinned environment.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(polyplug_bin());
        c.current_dir(self.path())
            .env_remove("POLYPLUG_PATH")
            // Most tests rerun plugins and expect them to compute again: no store,
            // unless a test gives one (`--store`, or its own POLYPLUG_STORE).
            .env("POLYPLUG_STORE", "none")
            .env("USER", "tester")
            .env("LOGNAME", "tester")
            .stdin(Stdio::null());
        // A test run inside a scheduler's job must not be taken for one of its tasks.
        for v in SCHEDULER_VARIABLES {
            c.env_remove(v);
        }
        c
    }

    /// `polyplug run <plugin>` in this folder (add the mode and options).
    pub fn run(&self, plugin: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = self.cmd();
        c.arg("run").arg(plugin);
        c
    }

    /// Compiles a C plugin source into `lib<name>.so` in this folder, against
    /// `plugin-sdk/c/polyplug.h`.
    pub fn compile_c(&self, name: &str, source: &str) -> PathBuf {
        let src = self.write(&format!("{name}.c"), source);
        let out = self.join(&format!("lib{name}.so"));
        let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
            .args(["-shared", "-fPIC", "-O1", "-Wall", "-I"])
            .arg(repo_root().join("plugin-sdk/c"))
            .arg(&src)
            .arg("-o")
            .arg(&out)
            .status()
            .expect("run the C compiler (cc)");
        assert!(status.success(), "compiling {} failed", src.display());
        out
    }
}

/// What a command did, with helpers to assert on it.
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Runs the command to completion.
    pub fn of(cmd: &mut Command) -> Run {
        let Output {
            status,
            stdout,
            stderr,
        } = cmd.output().expect("run polyplug");
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// Runs the command to completion within `limit`; a run still going then is
    /// killed and the test fails (a hang must not hang the suite).
    pub fn within(cmd: &mut Command, limit: std::time::Duration) -> Run {
        use std::io::Read;
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run polyplug");
        let drain = |mut r: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut v = Vec::new();
                let _ = r.read_to_end(&mut v);
                String::from_utf8_lossy(&v).into_owned()
            })
        };
        let out = drain(Box::new(child.stdout.take().expect("stdout")));
        let err = drain(Box::new(child.stderr.take().expect("stderr")));
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait for polyplug") {
                break s;
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("polyplug still ran after {limit:?}: killed");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        }
    }

    /// Asserts the exit code, printing everything on failure.
    pub fn code(self, expected: i32) -> Run {
        assert_eq!(
            self.code, expected,
            "exit code {} (expected {expected})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// Asserts success.
    pub fn ok(self) -> Run {
        self.code(0)
    }

    /// Asserts that stderr contains `text`.
    pub fn stderr_has(self, text: &str) -> Run {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}\n--- stderr\n{}\n--- stdout\n{}",
            self.stderr,
            self.stdout
        );
        self
    }

    /// Asserts that stdout contains `text`.
    pub fn stdout_has(self, text: &str) -> Run {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts that stderr shows no Rust panic.
    pub fn no_panic(self) -> Run {
        assert!(
            !self.stderr.contains("panicked at") || self.stderr.contains("plugin panicked"),
            "polyplug itself panicked:\n{}",
            self.stderr
        );
        self
    }
}

/// Compares two texts and prints both in full when they differ.
#[macro_export]
macro_rules! eqnice {
    ($expected:expr, $got:expr) => {{
        let expected: &str = &$expected;
        let got: &str = &$got;
        if expected != got {
            panic!("\n--- expected\n{expected}\n--- got\n{got}\n---");
        }
    }};
}
