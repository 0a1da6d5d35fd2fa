//! Computations: one per run or loaded report, with its [`Report`] and where it ran.
//! A run's computation starts as [`CompStatus::Running`] and gets its report when it
//! ends; one whose process is gone becomes [`CompStatus::Killed`].

use crate::db::{Cell, Param};
use crate::store::{opt, opt_int};
use crate::{Backend, Store, StoreError};
use polyplug_core::{CompStatus, Report, Uuid};

/// The identity of a computation inside a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComputationId(pub(crate) i64);

/// Where and how a computation ran: what the store keeps besides its report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Provenance {
    /// `I/N` when the run is one shard of a split run.
    pub shard: Option<String>,
    /// The machine's host name.
    pub host: Option<String>,
    /// The process that wrote it (to tell a killed run from a running one).
    pub pid: Option<i64>,
    /// The results TSV the run appends to, if any (canonical path).
    pub out_path: Option<String>,
    /// `run` or `load`.
    pub origin: String,
    /// The scheduler the run ran under (`slurm`, `kubernetes`), if any.
    pub scheduler: Option<String>,
    /// The scheduler's job: Slurm's array job ID (or job ID), a Kubernetes pod name.
    pub job_id: Option<String>,
    /// The scheduler's task: Slurm's array task ID, a Kubernetes completion index.
    pub task_id: Option<String>,
    /// The logical run the computation is part of: shared by every shard of one
    /// submission (`--run-id`).
    pub run_id: Option<String>,
    /// The run's name (`--name`).
    pub name: Option<String>,
    /// Its tags (`--tag key=value`), in the order given.
    pub tags: Vec<(String, String)>,
}

/// Tags as stored: one `key=value` per line.
pub fn tags_text(tags: &[(String, String)]) -> Option<String> {
    (!tags.is_empty()).then(|| {
        tags.iter()
            .map(|(k, v)| format!("{k}={}", v.replace('\n', " ")))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// Tags from their stored text.
pub fn parse_tags(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A stored computation: its report, its computation key's parameters and its
/// provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct Computation {
    /// Every report field.
    pub report: Report,
    /// Parameters in canonical JSON (see [`crate::params_key`]): part of the
    /// computation key.
    pub params_key: String,
    /// Where it ran.
    pub provenance: Provenance,
}

/// What is stored of one computation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnitCounts {
    /// Entities done with values.
    pub with_values: i64,
    /// Entities done without a result.
    pub without_result: i64,
    /// Entities failed.
    pub failed: i64,
    /// Values.
    pub values: i64,
}

const COMPUTATION_COLUMNS: &str = "uuid, plugin_id, plugin_version, parameters, params_key, \
     user_id, system_id, reason, time_start, time_end, n_units, n_failed, n_skipped, \
     comp_status, remarks, plugin_sha256, host_version, shard, host, pid, out_path, origin, id, \
     scheduler, job_id, task_id, run_id, name, tags";

/// A count column as the report has it.
fn count(c: &Cell) -> Option<u64> {
    opt_int(c).map(|v| u64::try_from(v).unwrap_or(0))
}

/// A computation row read with [`COMPUTATION_COLUMNS`].
fn computation_from(r: &[Cell]) -> Result<Computation, StoreError> {
    let uuid_text = r[0].text().unwrap_or_default();
    let uuid = Uuid::try_parse(&uuid_text).map_err(|_| {
        StoreError::Corrupt(format!("computation UUID '{uuid_text}' is not a UUID"))
    })?;
    let comp_status = CompStatus::from_stored(&r[13].text().unwrap_or_default());
    Ok(Computation {
        report: Report {
            uuid,
            plugin_id: r[1].text().unwrap_or_default(),
            plugin_version: r[2].text().unwrap_or_default(),
            parameters: r[3].text().unwrap_or_default(),
            user_id: opt(&r[5]),
            system_id: opt(&r[6]),
            reason: opt(&r[7]),
            time_start: opt(&r[8]),
            time_end: opt(&r[9]),
            n_units: count(&r[10]),
            n_failed: count(&r[11]),
            n_skipped: count(&r[12]),
            comp_status,
            remarks: opt(&r[14]),
            plugin_sha256: opt(&r[15]),
            host_version: opt(&r[16]),
        },
        params_key: r[4].text().unwrap_or_default(),
        provenance: Provenance {
            shard: opt(&r[17]),
            host: opt(&r[18]),
            pid: opt_int(&r[19]),
            out_path: opt(&r[20]),
            origin: r[21].text().unwrap_or_default(),
            scheduler: opt(&r[23]),
            job_id: opt(&r[24]),
            task_id: opt(&r[25]),
            run_id: opt(&r[26]),
            name: opt(&r[27]),
            tags: parse_tags(&r[28].text().unwrap_or_default()),
        },
    })
}

/// The remarks of a computation closed as killed.
const KILLED_REMARKS: &str = "error_class: Killed\nerror_message: the process ended without \
                              writing its report; what it committed is kept and a rerun \
                              skips it\n";

impl Store {
    /// Records the start of a computation: its report as known at the start (status
    /// [`CompStatus::Running`] for a run, [`CompStatus::Loading`] for a loaded report),
    /// the canonical parameters of its key and where it runs.
    pub fn begin_computation(
        &mut self,
        report: &Report,
        params_key: &str,
        provenance: &Provenance,
    ) -> Result<ComputationId, StoreError> {
        let uuid = report.uuid.hyphenated().to_string();
        let (r, p) = (report, provenance);
        let row = self
            .db
            .transaction(|db| {
                db.lock_catalog()?;
                if db
                    .row(
                        "SELECT id FROM computation WHERE uuid = $1",
                        &[uuid.as_str().into()],
                    )?
                    .is_some()
                {
                    return Err(StoreError::DuplicateUuid { uuid: uuid.clone() });
                }
                db.row(
                    "INSERT INTO computation (uuid, plugin_id, plugin_version, parameters, \
                     params_key, user_id, system_id, reason, time_start, comp_status, \
                     plugin_sha256, host_version, shard, host, pid, out_path, origin, \
                     scheduler, job_id, task_id, run_id, name, tags) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
                     $18, $19, $20, $21, $22, $23) RETURNING id",
                    &[
                        uuid.as_str().into(),
                        r.plugin_id.as_str().into(),
                        r.plugin_version.as_str().into(),
                        r.parameters.as_str().into(),
                        params_key.into(),
                        r.user_id.as_deref().into(),
                        r.system_id.as_deref().into(),
                        r.reason.as_deref().into(),
                        r.time_start.as_deref().into(),
                        r.comp_status.as_str().into(),
                        r.plugin_sha256.as_deref().into(),
                        r.host_version.as_deref().into(),
                        p.shard.as_deref().into(),
                        p.host.as_deref().into(),
                        p.pid.into(),
                        p.out_path.as_deref().into(),
                        p.origin.as_str().into(),
                        p.scheduler.as_deref().into(),
                        p.job_id.as_deref().into(),
                        p.task_id.as_deref().into(),
                        p.run_id.as_deref().into(),
                        p.name.as_deref().into(),
                        tags_text(&p.tags).as_deref().into(),
                    ],
                )
            })
            .map_err(|e| self.ctx(e))?;
        row.map(|r| ComputationId(r[0].int()))
            .ok_or_else(|| self.ctx(StoreError::Internal("the computation was not recorded")))
    }

    /// Records the end of a computation: the report fields known only then
    /// (`time_end`, the counts, `comp_status`, `remarks`).
    pub fn finish_computation(
        &mut self,
        id: ComputationId,
        report: &Report,
    ) -> Result<(), StoreError> {
        let n = |v: Option<u64>| Param::I(v.unwrap_or(0) as i64);
        self.db
            .exec(
                "UPDATE computation SET time_end = $1, n_units = $2, n_failed = $3, \
                 n_skipped = $4, comp_status = $5, remarks = $6 WHERE id = $7",
                &[
                    report.time_end.as_deref().into(),
                    n(report.n_units),
                    n(report.n_failed),
                    n(report.n_skipped),
                    report.comp_status.as_str().into(),
                    report.remarks.as_deref().into(),
                    id.0.into(),
                ],
            )
            .map_err(|e| self.ctx(e))?;
        Ok(())
    }

    /// Marks as [`CompStatus::Killed`] the computations of this host still running
    /// whose process is gone (`alive(pid)` is false): they were killed before writing
    /// their report. Returns their UUIDs.
    pub fn close_killed(
        &mut self,
        host: &str,
        alive: impl Fn(i64) -> bool,
    ) -> Result<Vec<String>, StoreError> {
        let running = CompStatus::Running.as_str();
        let rows = self
            .db
            .rows(
                "SELECT id, uuid, pid FROM computation WHERE comp_status = $1 AND host = $2",
                &[running.into(), host.into()],
            )
            .map_err(|e| self.ctx(e))?;
        let mut closed = Vec::new();
        for r in rows {
            if alive(r[2].int()) {
                continue;
            }
            let id = r[0].int();
            let c = self.unit_counts(id)?;
            let (n, f) = (c.with_values + c.without_result, c.failed);
            self.db
                .exec(
                    "UPDATE computation SET comp_status = $1, n_units = $2, n_failed = $3, \
                     remarks = $4 WHERE id = $5 AND comp_status = $6",
                    &[
                        CompStatus::Killed.as_str().into(),
                        n.into(),
                        f.into(),
                        KILLED_REMARKS.into(),
                        id.into(),
                        running.into(),
                    ],
                )
                .map_err(|e| self.ctx(e))?;
            closed.push(r[1].text().unwrap_or_default());
        }
        Ok(closed)
    }

    /// Computations of a key that appended to `out_path` and were killed: their
    /// committed rows may be missing from that file (the store commits first, then the
    /// file is written).
    pub fn killed_with_output(
        &mut self,
        plugin_id: &str,
        plugin_version: &str,
        params_key: &str,
        out_path: &str,
    ) -> Result<Vec<String>, StoreError> {
        let rows = self.db.rows(
            "SELECT uuid FROM computation WHERE plugin_id = $1 AND plugin_version = $2 AND \
             params_key = $3 AND out_path = $4 AND comp_status = $5 ORDER BY id",
            &[
                plugin_id.into(),
                plugin_version.into(),
                params_key.into(),
                out_path.into(),
                CompStatus::Killed.as_str().into(),
            ],
        )?;
        Ok(rows.iter().filter_map(|r| r[0].text()).collect())
    }

    /// Forgets that a killed computation appended to a results file (after the file
    /// was repaired), so it is not checked again.
    pub fn clear_out_path(&mut self, uuid: &str) -> Result<(), StoreError> {
        self.db
            .exec(
                "UPDATE computation SET out_path = NULL WHERE uuid = $1",
                &[uuid.into()],
            )
            .map_err(|e| self.ctx(e))?;
        Ok(())
    }

    /// All computations, oldest first.
    pub fn computations(&mut self) -> Result<Vec<Computation>, StoreError> {
        let rows = self
            .db
            .rows(
                &format!("SELECT {COMPUTATION_COLUMNS} FROM computation ORDER BY id"),
                &[],
            )
            .map_err(|e| self.ctx(e))?;
        rows.iter()
            .map(|r| computation_from(r).map_err(|e| self.ctx(e)))
            .collect()
    }

    /// The computation with this UUID, or the only one whose UUID starts with it.
    pub fn computation(&mut self, uuid: &str) -> Result<(Computation, UnitCounts), StoreError> {
        let id = self.computation_id(uuid)?;
        let r = self
            .db
            .row(
                &format!("SELECT {COMPUTATION_COLUMNS} FROM computation WHERE id = $1"),
                &[id.0.into()],
            )?
            .ok_or_else(|| self.ctx(StoreError::Internal("the computation disappeared")))?;
        let counts = self.unit_counts(id.0)?;
        Ok((computation_from(&r).map_err(|e| self.ctx(e))?, counts))
    }

    /// What is stored of a computation, from its blocks' counts.
    fn unit_counts(&mut self, id: i64) -> Result<UnitCounts, StoreError> {
        let r = self
            .db
            .row(
                "SELECT CAST(COALESCE(SUM(n_units), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(n_no_result), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(n_failed), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(n_values), 0) AS BIGINT) \
                 FROM block WHERE computation_id = $1",
                &[id.into()],
            )
            .map_err(|e| self.ctx(e))?
            .unwrap_or_default();
        let get = |i: usize| r.get(i).map_or(0, Cell::int);
        Ok(UnitCounts {
            with_values: get(0) - get(1) - get(2),
            without_result: get(1),
            failed: get(2),
            values: get(3),
        })
    }

    /// The computation whose UUID is `uuid`, or starts with it.
    pub(crate) fn computation_id(&mut self, uuid: &str) -> Result<ComputationId, StoreError> {
        let prefix = uuid.trim().to_ascii_lowercase();
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(StoreError::BadUuid {
                given: uuid.to_string(),
            });
        }
        let pattern = format!("{prefix}%");
        let rows = self
            .db
            .rows(
                "SELECT id, uuid FROM computation WHERE uuid LIKE $1 ORDER BY id",
                &[pattern.as_str().into()],
            )
            .map_err(|e| self.ctx(e))?;
        match rows.len() {
            0 => Err(self.ctx(StoreError::NoComputation {
                given: uuid.to_string(),
            })),
            1 => Ok(ComputationId(rows[0][0].int())),
            count => Err(self.ctx(StoreError::AmbiguousUuid {
                given: uuid.to_string(),
                count,
            })),
        }
    }
}
/// A computation running now, as the store knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningComputation {
    /// Its UUID.
    pub uuid: String,
    /// Its host.
    pub host: String,
    /// Its process.
    pub pid: i64,
    /// When it started.
    pub started: String,
}

impl Store {
    /// Takes the run lock named `key` for as long as this store stays open, where the
    /// store can hold one: PostgreSQL, with a session advisory lock (released when
    /// the run ends or dies, on whatever host). `Ok(false)`: another session holds it.
    /// SQLite has no such lock (`Ok(true)`): the caller locks a file on this host.
    pub fn try_run_lock(&mut self, key: &str) -> Result<bool, StoreError> {
        match self.db.backend() {
            Backend::Sqlite => Ok(true),
            Backend::Postgres => {
                let got = self
                    .db
                    .row(
                        "SELECT pg_try_advisory_lock(hashtextextended($1, 7057550513))::int",
                        &[key.into()],
                    )
                    .map_err(|e| self.ctx(e))?;
                Ok(got.is_some_and(|g| g[0].int() == 1))
            }
        }
    }

    /// The latest computation of this key (plugin, VERSION, canonical parameters)
    /// still running, to name it.
    pub fn running_computation(
        &mut self,
        plugin_id: &str,
        plugin_version: &str,
        params_key: &str,
    ) -> Result<Option<RunningComputation>, StoreError> {
        let row = self
            .db
            .row(
                "SELECT uuid, host, pid, time_start FROM computation WHERE comp_status = $1 \
                 AND origin = 'run' AND plugin_id = $2 AND plugin_version = $3 \
                 AND params_key = $4 ORDER BY id DESC LIMIT 1",
                &[
                    CompStatus::Running.as_str().into(),
                    plugin_id.into(),
                    plugin_version.into(),
                    params_key.into(),
                ],
            )
            .map_err(|e| self.ctx(e))?;
        Ok(row.map(|r| RunningComputation {
            uuid: r[0].text().unwrap_or_default(),
            host: r[1].text().unwrap_or_default(),
            pid: r[2].int(),
            started: r[3].text().unwrap_or_default(),
        }))
    }
}
