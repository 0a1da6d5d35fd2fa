//! The only place that talks to a database driver: one small interface over a SQLite
//! connection and a PostgreSQL client, so that every statement of the store is
//! written once.
//!
//! Statements use `$1`, `$2`, … placeholders (PostgreSQL's); for SQLite they are
//! rewritten to `?1`, `?2`, …, which SQLite reads the same way. Every integer column is
//! 64-bit on both sides (`INTEGER` in SQLite, `BIGINT` in PostgreSQL), floats are
//! doubles and text is text, so one [`Param`] and one [`Cell`] type cover both.

use crate::StoreError;
use std::time::Duration;

/// A statement parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    Null,
    I(i64),
    T(&'a str),
    /// Bytes: a SQLite BLOB, a PostgreSQL BYTEA.
    B(&'a [u8]),
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(s: &'a str) -> Self {
        Param::T(s)
    }
}
impl<'a> From<&'a String> for Param<'a> {
    fn from(s: &'a String) -> Self {
        Param::T(s)
    }
}
impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::I(v)
    }
}
impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(s: Option<&'a str>) -> Self {
        s.map_or(Param::Null, Param::T)
    }
}
impl From<Option<i64>> for Param<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Param::Null, Param::I)
    }
}

/// A result cell.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    I(i64),
    F(f64),
    T(String),
    B(Vec<u8>),
}

impl Cell {
    pub(crate) fn int(&self) -> i64 {
        match self {
            Cell::I(v) => *v,
            Cell::F(v) => *v as i64,
            Cell::T(s) => s.parse().unwrap_or(0),
            Cell::Null | Cell::B(_) => 0,
        }
    }
    pub(crate) fn text(&self) -> Option<String> {
        match self {
            Cell::T(s) => Some(s.clone()),
            Cell::Null | Cell::B(_) => None,
            Cell::I(v) => Some(v.to_string()),
            Cell::F(v) => Some(v.to_string()),
        }
    }
    pub(crate) fn str(&self) -> &str {
        match self {
            Cell::T(s) => s,
            _ => "",
        }
    }
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Cell::B(b) => b,
            Cell::T(s) => s.as_bytes(),
            _ => &[],
        }
    }
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Param::Null => ValueRef::Null,
            Param::I(v) => ValueRef::Integer(*v),
            Param::T(s) => ValueRef::Text(s.as_bytes()),
            Param::B(b) => ValueRef::Blob(b),
        }))
    }
}

impl postgres::types::ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Param::Null => Ok(postgres::types::IsNull::Yes),
            Param::I(v) => v.to_sql(ty, out),
            Param::T(s) => s.to_sql(ty, out),
            Param::B(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_ty: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// The SQLite page cache while a run writes: 64 MiB (negative: KiB, as SQLite reads it).
pub(crate) const SQLITE_CACHE_KIB: i64 = -65536;
/// The page cache for a scan read once from end to end (the done entities): a large
/// cache would only hold pages that are never read again, and count in the peak memory
/// of a rerun over a large store.
pub(crate) const SQLITE_SCAN_CACHE_KIB: i64 = -2048;

/// Which database a store lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

pub(crate) enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Client>),
}

/// Rewrites `$N` placeholders to SQLite's `?N`.
fn sqlite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

fn sq(e: rusqlite::Error) -> StoreError {
    StoreError::Database {
        backend: "SQLite",
        message: e.to_string(),
    }
}

fn pg(e: postgres::Error) -> StoreError {
    // The server's message (with detail and hint) says more than the driver's summary.
    match e.as_db_error() {
        Some(db) => {
            let mut message = db.message().to_string();
            if let Some(d) = db.detail() {
                message.push_str(&format!(" ({d})"));
            }
            StoreError::Database {
                backend: "PostgreSQL",
                message,
            }
        }
        None => StoreError::Database {
            backend: "PostgreSQL",
            message: e.to_string(),
        },
    }
}

impl Db {
    pub(crate) fn open_sqlite(path: &std::path::Path) -> Result<Db, StoreError> {
        let conn = rusqlite::Connection::open(path).map_err(sq)?;
        // Large pages for a new file (no effect on an existing one): a block of a few
        // thousand units is one row of about 100 KiB, which then spans two pages
        // instead of thirty.
        conn.pragma_update(None, "page_size", 65536).map_err(sq)?;
        // Checkpoint the WAL every 4 MiB, from the writer thread while the run goes
        // on, rather than all of it (with its fsync) when the store is closed.
        let page: i64 = conn
            .pragma_query_value(None, "page_size", |r| r.get(0))
            .map_err(sq)?;
        conn.pragma_update(None, "wal_autocheckpoint", (4 << 20) / page.max(512))
            .map_err(sq)?;
        // Concurrent writers wait for each other instead of failing.
        conn.busy_timeout(Duration::from_secs(600)).map_err(sq)?;
        // WAL: readers never block the writer; NORMAL sync survives a killed process
        // (a power loss may lose the last commits, never corrupt the file).
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sq)?;
        // The catalog tables declare foreign keys; check them as PostgreSQL does.
        conn.pragma_update(None, "foreign_keys", "ON").map_err(sq)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sq)?;
        // A 64 MiB page cache and statement journals in memory: a batch of thousands of
        // rows otherwise spills pages to disk and re-reads index pages (perf: most of a
        // stored run's time went to pread/write of the page cache and sub-journals).
        conn.pragma_update(None, "cache_size", SQLITE_CACHE_KIB)
            .map_err(sq)?;
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(sq)?;
        Ok(Db::Sqlite(conn))
    }

    pub(crate) fn open_postgres(url: &str) -> Result<Db, StoreError> {
        let client = postgres::Client::connect(url, postgres::NoTls).map_err(pg)?;
        let mut db = Db::Postgres(Box::new(client));
        // A commit returns before its WAL is flushed to disk: a server crash may lose
        // the last fraction of a second of commits (never a part of one), which a
        // rerun recomputes; a killed polyplug loses nothing the server acknowledged.
        db.batch("SET client_min_messages = warning; SET synchronous_commit = off")?;
        Ok(db)
    }

    /// Sets SQLite's page cache size (KiB when negative); nothing on PostgreSQL.
    pub(crate) fn set_cache_size(&mut self, kib: i64) -> Result<(), StoreError> {
        match self {
            Db::Sqlite(conn) => conn.pragma_update(None, "cache_size", kib).map_err(sq),
            _ => Ok(()),
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs statements without parameters (DDL, transaction control).
    pub(crate) fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        match self {
            Db::Sqlite(c) => c.execute_batch(sql).map_err(sq),
            Db::Postgres(c) => c.batch_execute(sql).map_err(pg),
        }
    }

    /// Starts a write transaction. In SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead of one
    /// failing when it upgrades a read lock.
    pub(crate) fn begin(&mut self) -> Result<(), StoreError> {
        match self {
            Db::Sqlite(c) => c.execute_batch("BEGIN IMMEDIATE").map_err(sq),
            Db::Postgres(c) => c.batch_execute("BEGIN").map_err(pg),
        }
    }

    /// Inside a transaction: serializes it with every other such transaction on the
    /// store, for read-then-insert steps (plugin and attribute records). SQLite's
    /// `BEGIN IMMEDIATE` does that already; PostgreSQL takes an advisory lock held
    /// until the transaction ends.
    pub(crate) fn lock_catalog(&mut self) -> Result<(), StoreError> {
        match self {
            Db::Sqlite(_) => Ok(()),
            Db::Postgres(c) => c
                .batch_execute("SELECT pg_advisory_xact_lock(7057550512)")
                .map_err(pg),
        }
    }

    pub(crate) fn commit(&mut self) -> Result<(), StoreError> {
        self.batch("COMMIT")
    }

    pub(crate) fn rollback(&mut self) {
        let _ = self.batch("ROLLBACK");
    }

    /// Runs `f` in a write transaction: committed if it succeeds, rolled back if not.
    pub(crate) fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Db) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.begin()?;
        match f(self) {
            Ok(v) => {
                self.commit()?;
                Ok(v)
            }
            Err(e) => {
                self.rollback();
                Err(e)
            }
        }
    }

    /// Executes one statement; returns the number of rows changed.
    pub(crate) fn exec(&mut self, sql: &str, params: &[Param]) -> Result<u64, StoreError> {
        match self {
            Db::Sqlite(c) => {
                let mut st = c.prepare_cached(&sqlite_sql(sql)).map_err(sq)?;
                st.execute(rusqlite::params_from_iter(params.iter()))
                    .map(|n| n as u64)
                    .map_err(sq)
            }
            Db::Postgres(c) => {
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|p| p as &(dyn postgres::types::ToSql + Sync))
                    .collect();
                c.execute(sql, &refs).map_err(pg)
            }
        }
    }

    /// Runs a query and calls `each` with every row, streamed.
    pub(crate) fn each(
        &mut self,
        sql: &str,
        params: &[Param],
        mut each: impl FnMut(&[Cell]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut row_buf = Vec::new();
        match self {
            Db::Sqlite(c) => {
                let mut st = c.prepare_cached(&sqlite_sql(sql)).map_err(sq)?;
                let n = st.column_count();
                let mut rows = st
                    .query(rusqlite::params_from_iter(params.iter()))
                    .map_err(sq)?;
                // A blob is copied into the room of the row before's blob, if any:
                // a scan of a large store's blocks (200 KB each) then takes that
                // room once, instead of once per row for the allocator to keep a
                // while.
                let mut blobs: Vec<Vec<u8>> = Vec::new();
                while let Some(row) = rows.next().map_err(sq)? {
                    blobs.extend(row_buf.drain(..).filter_map(|c| match c {
                        Cell::B(b) => Some(b),
                        _ => None,
                    }));
                    for i in 0..n {
                        use rusqlite::types::ValueRef;
                        row_buf.push(match row.get_ref(i).map_err(sq)? {
                            ValueRef::Null => Cell::Null,
                            ValueRef::Integer(v) => Cell::I(v),
                            ValueRef::Real(v) => Cell::F(v),
                            ValueRef::Text(t) => Cell::T(String::from_utf8_lossy(t).into_owned()),
                            ValueRef::Blob(b) => {
                                let mut room = blobs.pop().unwrap_or_default();
                                room.clear();
                                room.extend_from_slice(b);
                                Cell::B(room)
                            }
                        });
                    }
                    each(&row_buf)?;
                }
                Ok(())
            }
            Db::Postgres(c) => {
                use postgres::fallible_iterator::FallibleIterator;
                use postgres::types::Type;
                let mut rows = c.query_raw(sql, params.iter()).map_err(pg)?;
                while let Some(row) = rows.next().map_err(pg)? {
                    row_buf.clear();
                    for (i, col) in row.columns().iter().enumerate() {
                        let t = col.type_();
                        let cell = if *t == Type::INT8 {
                            row.try_get::<_, Option<i64>>(i).map(|v| v.map(Cell::I))
                        } else if *t == Type::INT4 {
                            row.try_get::<_, Option<i32>>(i)
                                .map(|v| v.map(|v| Cell::I(v.into())))
                        } else if *t == Type::INT2 {
                            row.try_get::<_, Option<i16>>(i)
                                .map(|v| v.map(|v| Cell::I(v.into())))
                        } else if *t == Type::FLOAT8 {
                            row.try_get::<_, Option<f64>>(i).map(|v| v.map(Cell::F))
                        } else if *t == Type::BYTEA {
                            row.try_get::<_, Option<Vec<u8>>>(i).map(|v| v.map(Cell::B))
                        } else if *t == Type::BOOL {
                            row.try_get::<_, Option<bool>>(i)
                                .map(|v| v.map(|v| Cell::I(v.into())))
                        } else {
                            row.try_get::<_, Option<String>>(i).map(|v| v.map(Cell::T))
                        };
                        row_buf.push(cell.map_err(pg)?.unwrap_or(Cell::Null));
                    }
                    each(&row_buf)?;
                }
                Ok(())
            }
        }
    }

    /// All rows of a query.
    pub(crate) fn rows(
        &mut self,
        sql: &str,
        params: &[Param],
    ) -> Result<Vec<Vec<Cell>>, StoreError> {
        let mut out = Vec::new();
        self.each(sql, params, |r| {
            out.push(r.to_vec());
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row of a query, if any.
    pub(crate) fn row(
        &mut self,
        sql: &str,
        params: &[Param],
    ) -> Result<Option<Vec<Cell>>, StoreError> {
        Ok(self.rows(sql, params)?.into_iter().next())
    }
}
