//! Scale-out on a real Slurm. Each test starts its own one-node cluster (Debian's
//! `munge` and `slurm-wlm`, which tests/run-all.sh installs): `munged`, `slurmctld`
//! and `slurmd` in a temporary folder, on free ports of 127.0.0.1, without
//! accounting; and stops them at the end, whatever the test's outcome.

use polyplug_e2e::{eqnice, plugin_lib, polyplug_bin, Run, TestDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A running one-node Slurm cluster.
pub(crate) struct Cluster {
    dir: TestDir,
    pub(crate) conf: PathBuf,
}

/// A free TCP port of 127.0.0.1 (free when asked: the daemons take it soon after).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    l.local_addr().expect("its address").port()
}

/// Runs a program to its end; panics with its output if it fails.
pub(crate) fn must(c: &mut Command) -> String {
    let o = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(
        o.status.success(),
        "{c:?} failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

impl Cluster {
    pub(crate) fn start() -> Cluster {
        let dir = TestDir::new();
        let d = dir.path().to_path_buf();
        for sub in ["munge", "state", "spool", "log"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let munge = d.join("munge");
        let key: Vec<u8> = (0..1024).map(|i| (i * 7919 % 251) as u8).collect();
        std::fs::write(munge.join("munge.key"), key).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&munge, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(
            munge.join("munge.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let socket = munge.join("munge.sock");
        must(
            Command::new("munged")
                .arg("--force")
                .arg(format!("--socket={}", socket.display()))
                .arg(format!("--key-file={}", munge.join("munge.key").display()))
                .arg(format!("--pid-file={}", munge.join("munged.pid").display()))
                .arg(format!("--log-file={}", munge.join("munged.log").display()))
                .arg(format!("--seed-file={}", munge.join("seed").display())),
        );
        let host = must(&mut Command::new("hostname")).trim().to_string();
        let conf = d.join("slurm.conf");
        let p = |s: &str| d.join(s).display().to_string();
        std::fs::write(
            &conf,
            format!(
                "ClusterName=polyplug\n\
                 SlurmctldHost={host}(127.0.0.1)\n\
                 SlurmctldPort={ctld}\n\
                 SlurmdPort={slurmd}\n\
                 AuthType=auth/munge\n\
                 AuthInfo=socket={socket}\n\
                 CredType=cred/munge\n\
                 SlurmUser=root\n\
                 SlurmdUser=root\n\
                 StateSaveLocation={state}\n\
                 SlurmdSpoolDir={spool}\n\
                 SlurmctldPidFile={ctld_pid}\n\
                 SlurmdPidFile={slurmd_pid}\n\
                 SlurmctldLogFile={ctld_log}\n\
                 SlurmdLogFile={slurmd_log}\n\
                 ProctrackType=proctrack/linuxproc\n\
                 TaskPlugin=task/none\n\
                 JobAcctGatherType=jobacct_gather/none\n\
                 AccountingStorageType=accounting_storage/none\n\
                 JobCompType=jobcomp/none\n\
                 SchedulerType=sched/builtin\n\
                 SelectType=select/cons_tres\n\
                 SelectTypeParameters=CR_Core\n\
                 MaxArraySize=10\n\
                 ReturnToService=2\n\
                 MpiDefault=none\n\
                 NodeName={host} NodeAddr=127.0.0.1 CPUs=2 RealMemory=2000 State=UNKNOWN\n\
                 PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP\n",
                ctld = free_port(),
                slurmd = free_port(),
                socket = socket.display(),
                state = p("state"),
                spool = p("spool"),
                ctld_pid = p("slurmctld.pid"),
                slurmd_pid = p("slurmd.pid"),
                ctld_log = p("log/slurmctld.log"),
                slurmd_log = p("log/slurmd.log"),
            ),
        )
        .unwrap();
        let c = Cluster { dir, conf };
        must(c.cmd("slurmctld").arg("-c"));
        must(&mut c.cmd("slurmd"));
        // Until the node is idle.
        let start = Instant::now();
        loop {
            let o = c.cmd("sinfo").args(["-h", "-o", "%T"]).output().unwrap();
            if String::from_utf8_lossy(&o.stdout).trim() == "idle" {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the Slurm node did not become idle:\n{}",
                std::fs::read_to_string(c.dir.join("log/slurmctld.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        c
    }

    /// A Slurm program against this cluster.
    pub(crate) fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    /// Submits `script` from `dir` and waits for the job to end (`sbatch --wait`);
    /// returns the job ID.
    fn run_batch(&self, dir: &Path, script: &Path) -> String {
        let out = must(
            self.cmd("sbatch")
                .current_dir(dir)
                .args(["--parsable", "--wait"])
                .arg(script)
                // What polyplug's tests run with, and nothing of the test's own store.
                .env("POLYPLUG_STORE", "none")
                .env_remove("POLYPLUG_PATH"),
        );
        out.trim().to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for pid_file in ["slurmd.pid", "slurmctld.pid", "munge/munged.pid"] {
            if let Ok(pid) = std::fs::read_to_string(self.dir.join(pid_file)) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
    }
}

#[test]
fn a_slurm_array_of_shards_merges_into_the_single_run() {
    let cluster = Cluster::start();
    let t = TestDir::new();
    let ids: String = (0..10_000).map(|i| format!("genome_{i:05}\n")).collect();
    t.write("ids.txt", ids);
    t.write(
        "trivial.py",
        "ID = 'trivial_py'\nVERSION = '1.0'\nINPUT = 'an ID'\nOUTPUT = ['length']\n\n\
         def compute(entity, **kwargs):\n    return [len(entity)], []\n",
    );
    for (name, plugin) in [
        ("native", plugin_lib("id_stats")),
        ("python", t.join("trivial.py")),
    ] {
        let single = format!("{name}-single.tsv");
        Run::of(t.run(&plugin).args(["ids", "ids.txt", "-o", &single])).ok();
        // Each array task computes its own shard into the run folder, with a store of
        // its own there (no store given), which records where it ran.
        let script = t.write(
            &format!("{name}.sh"),
            format!(
                "#!/bin/sh\n#SBATCH --array=0-3\n#SBATCH --output={name}-%a.out\n\
                 unset POLYPLUG_STORE\n\
                 exec {bin} run {plugin} ids ids.txt --run-dir {name} -j1\n",
                bin = polyplug_bin().display(),
                plugin = plugin.display()
            ),
        );
        let job = cluster.run_batch(t.path(), &script);
        for i in 0..4 {
            let state = t.read(&format!("{name}/shard-{i}/state"));
            assert!(
                state.starts_with("state: finished\n"),
                "{name} {i}: {state}"
            );
            assert!(state.contains("\nhost: "), "{name} {i}: {state}");
            let out = t.read(&format!("{name}-{i}.out"));
            assert!(out.contains(&format!("computing shard {i}/4")), "{out}");
        }
        Run::of(t.cmd().args(["merge", name])).ok();
        // Byte for byte the single run's rows, in input order.
        eqnice!(t.read(&single), t.read(&format!("{name}/results.tsv")));
        let list = Run::of(
            t.cmd()
                .args(["runs", "list", "--store"])
                .arg(t.join(&format!("{name}/shard-2/store.db"))),
        )
        .ok()
        .stdout;
        let (header, row) = list.split_once('\n').unwrap();
        let field = |name: &str| {
            let i = header.split('\t').position(|h| h == name).unwrap();
            row.trim_end().split('\t').nth(i).unwrap_or("").to_string()
        };
        assert_eq!(field("shard"), "2/4");
        assert_eq!(field("scheduler"), "slurm");
        assert_eq!(field("job_id"), job);
        assert_eq!(field("task_id"), "2");
    }
}
