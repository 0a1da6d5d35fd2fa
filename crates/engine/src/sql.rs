//! `polyplug run <plugin> sql <url> <query>`: the rows of a SQL query as entities.
//!
//! The query runs once per pass, on a SQLite file (opened read-only) or a PostgreSQL
//! server (through a cursor, so rows stream in pages and memory stays flat); its first
//! column is each row's ID and every column is one of its fields, as text. A row
//! travels with its entity (a held record), so no worker queries the database: what
//! the host read once is what is computed.
//!
//! A key the query gives again is not computed again: its later rows are passed over
//! and counted ([`SqlSource::repeats`]), for the run to say so; the stream cannot be
//! read twice to refuse it before the run as an IDs file is.

use polyplug_core::HeldRecord;
use polyplug_runner::input::{InputError, StreamUnits, UnitStream};
use polyplug_store::Location;
use std::collections::HashSet;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

/// Rows read ahead of the run, at most.
const AHEAD: usize = 4096;
/// Rows of a PostgreSQL cursor fetched at once.
const PAGE: usize = 2000;
/// Repeated keys named in the run's note.
const NAMED: usize = 5;

/// The rows of `query` on the database at `url`.
#[derive(Debug)]
pub struct SqlSource {
    url: String,
    query: String,
    repeats: Arc<Mutex<Repeats>>,
}

/// Keys the query gave more than once (their later rows passed over).
#[derive(Debug, Default, Clone)]
pub struct Repeats {
    /// How many rows were passed over.
    pub count: u64,
    /// The first few keys.
    pub first: Vec<String>,
}

impl SqlSource {
    /// The rows of `query` on the database at `url` (a SQLite path, `sqlite:PATH`,
    /// or a `postgres://` URL).
    pub fn new(url: &str, query: &str) -> SqlSource {
        SqlSource {
            url: url.trim().to_string(),
            query: query.trim().trim_end_matches(';').trim().to_string(),
            repeats: Arc::default(),
        }
    }

    /// The keys the last pass gave more than once.
    pub fn repeats(&self) -> Repeats {
        self.repeats.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn error(&self, why: impl Into<String>) -> InputError {
        InputError::Read {
            path: self.place().into(),
            why: why.into(),
        }
    }
}

/// What the reading thread sends: the column names once, then rows (each value as
/// text, NULL as `None`), or why it stopped.
enum Msg {
    Columns(Vec<String>),
    Row(Vec<Option<String>>),
    Failed(String),
}

impl UnitStream for SqlSource {
    fn place(&self) -> String {
        let db = Location::parse(&self.url).map_or_else(|_| self.url.clone(), |l| l.display());
        format!("the query on {db}")
    }

    fn repeated(&self) -> (u64, Vec<String>) {
        let r = self.repeats();
        (r.count, r.first)
    }

    fn open(&self) -> Result<StreamUnits, InputError> {
        let location = Location::parse(&self.url).map_err(|e| self.error(e.to_string()))?;
        if let Location::Sqlite(path) = &location {
            if !path.is_file() {
                return Err(self.error(format!(
                    "{} is not a SQLite file: give the path of an existing database (or a \
                     postgres:// URL)",
                    path.display()
                )));
            }
        }
        let (tx, rx) = sync_channel(AHEAD);
        let query = self.query.clone();
        std::thread::Builder::new()
            .name("polyplug-sql".into())
            .spawn(move || {
                let failed = match &location {
                    Location::Sqlite(path) => read_sqlite(path, &query, &tx),
                    Location::Postgres(url) => read_postgres(url, &query, &tx),
                };
                if let Err(why) = failed {
                    let _ = tx.send(Msg::Failed(why));
                }
            })
            .map_err(|e| self.error(format!("cannot start reading the query: {e}")))?;
        // The columns, or why the query cannot run, before the run starts.
        let columns = match rx.recv() {
            Ok(Msg::Columns(c)) => c,
            Ok(Msg::Failed(why)) => return Err(self.error(why)),
            _ => return Err(self.error("the query gave nothing, not even its columns")),
        };
        if columns.is_empty() {
            return Err(self.error("the query gives no column: its first column is the ID"));
        }
        if let Ok(mut r) = self.repeats.lock() {
            *r = Repeats::default();
        }
        Ok(Box::new(Rows {
            rx,
            columns,
            seen: HashSet::new(),
            row: 0,
            place: self.place(),
            repeats: self.repeats.clone(),
        }))
    }
}

/// One pass over the rows, as units: the first column is the ID.
struct Rows {
    rx: Receiver<Msg>,
    columns: Vec<String>,
    /// 128-bit hashes of the keys given out: repeats are passed over.
    seen: HashSet<u128>,
    row: u64,
    place: String,
    repeats: Arc<Mutex<Repeats>>,
}

impl Iterator for Rows {
    type Item = Result<(String, HeldRecord), InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let values = match self.rx.recv().ok()? {
                Msg::Row(v) => v,
                Msg::Failed(why) => {
                    return Some(Err(InputError::Read {
                        path: self.place.clone().into(),
                        why: format!("after {} rows: {why}", self.row),
                    }))
                }
                Msg::Columns(_) => continue,
            };
            self.row += 1;
            let id = match values.first() {
                Some(Some(id)) if !id.is_empty() => id.clone(),
                _ => {
                    return Some(Err(InputError::Read {
                        path: self.place.clone().into(),
                        why: format!(
                            "row {}: the first column ({}), the ID, is empty or NULL; select \
                             a key column first",
                            self.row, self.columns[0]
                        ),
                    }))
                }
            };
            if !self.seen.insert(xxhash_rust::xxh3::xxh3_128(id.as_bytes())) {
                if let Ok(mut r) = self.repeats.lock() {
                    r.count += 1;
                    if r.first.len() < NAMED && !r.first.contains(&id) {
                        r.first.push(id);
                    }
                }
                continue;
            }
            return Some(Ok((id, held(&self.columns, values))));
        }
    }
}

/// A row as a held record: its values as one TSV line (a TAB, line break or
/// backslash in a value escaped as in the results), and every column as a field.
fn held(columns: &[String], values: Vec<Option<String>>) -> HeldRecord {
    let mut bytes = Vec::new();
    let mut fields = Vec::with_capacity(columns.len());
    for (i, (name, value)) in columns.iter().zip(values).enumerate() {
        let value = value.unwrap_or_default();
        if i > 0 {
            bytes.push(b'\t');
        }
        for c in value.bytes() {
            match c {
                b'\t' => bytes.extend_from_slice(b"\\t"),
                b'\n' => bytes.extend_from_slice(b"\\n"),
                b'\r' => bytes.extend_from_slice(b"\\r"),
                b'\\' => bytes.extend_from_slice(b"\\\\"),
                c => bytes.push(c),
            }
        }
        fields.push((name.clone(), value));
    }
    HeldRecord { bytes, fields }
}

/// Runs `query` on the SQLite file at `path` (read-only) and sends its columns and
/// rows; stops quietly when the run stops listening.
fn read_sqlite(path: &std::path::Path, query: &str, tx: &SyncSender<Msg>) -> Result<(), String> {
    use rusqlite::types::ValueRef;
    let db = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut stmt = db
        .prepare(query)
        .map_err(|e| format!("the query does not run: {e}"))?;
    let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let n = columns.len();
    if tx.send(Msg::Columns(columns)).is_err() {
        return Ok(());
    }
    let mut rows = stmt
        .query([])
        .map_err(|e| format!("the query does not run: {e}"))?;
    loop {
        let row = match rows.next() {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            let v = row.get_ref(i).map_err(|e| e.to_string())?;
            values.push(match v {
                ValueRef::Null => None,
                ValueRef::Integer(i) => Some(i.to_string()),
                ValueRef::Real(f) => {
                    let mut s = String::new();
                    polyplug_core::write_py_float(f, &mut s);
                    Some(s)
                }
                ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Some(b.iter().map(|x| format!("{x:02x}")).collect()),
            });
        }
        if tx.send(Msg::Row(values)).is_err() {
            return Ok(());
        }
    }
}

/// Runs `query` on the PostgreSQL server at `url` through a cursor, a page of rows at
/// a time, every value as text; stops quietly when the run stops listening.
fn read_postgres(url: &str, query: &str, tx: &SyncSender<Msg>) -> Result<(), String> {
    use postgres::SimpleQueryMessage;
    let shown = Location::Postgres(url.to_string()).display();
    let mut client = postgres::Client::connect(url, postgres::NoTls)
        .map_err(|e| format!("cannot connect to {shown}: {e}"))?;
    let mut tx_db = client
        .transaction()
        .map_err(|e| format!("cannot start a transaction on {shown}: {e}"))?;
    tx_db
        .batch_execute(&format!(
            "DECLARE polyplug_rows NO SCROLL CURSOR FOR {query}"
        ))
        .map_err(|e| format!("the query does not run: {e}"))?;
    let mut sent_columns = false;
    loop {
        let page = tx_db
            .simple_query(&format!("FETCH {PAGE} FROM polyplug_rows"))
            .map_err(|e| e.to_string())?;
        let mut got = 0;
        for m in page {
            match m {
                SimpleQueryMessage::RowDescription(cols) if !sent_columns => {
                    sent_columns = true;
                    let names = cols.iter().map(|c| c.name().to_string()).collect();
                    if tx.send(Msg::Columns(names)).is_err() {
                        return Ok(());
                    }
                }
                SimpleQueryMessage::Row(row) => {
                    got += 1;
                    let values = (0..row.len())
                        .map(|i| row.get(i).map(String::from))
                        .collect();
                    if tx.send(Msg::Row(values)).is_err() {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
        if got == 0 {
            if !sent_columns {
                // No rows and no description: ask the cursor's columns once.
                let stmt = tx_db
                    .prepare(query)
                    .map_err(|e| format!("the query does not run: {e}"))?;
                let names = stmt
                    .columns()
                    .iter()
                    .map(|c| c.name().to_string())
                    .collect();
                let _ = tx.send(Msg::Columns(names));
            }
            return Ok(());
        }
    }
}
