//! The exactly-once protocol: how a run records into the store and the TSV files so
//! that a kill at any moment, even SIGKILL, loses nothing and duplicates nothing.
//!
//! # Exactly once, also after SIGKILL
//!
//! The store decides what is done. A run records each entity as a *unit* (with its
//! values, or no result, or failed) and commits units in batches; a batch, units and
//! values together, is one row of the store (a block), so after a kill each entity is
//! either fully in the store or not at all. A rerun skips every entity the store has
//! as done for the same (plugin ID, VERSION, parameters), whichever computation did
//! it.
//!
//! The results and log TSV files are written *after* the batch that holds their rows
//! is committed ([`StoreRecorder`] keeps them in memory until its writer thread
//! acknowledges the commit). So a kill can leave the files behind the store, never
//! ahead of it: the rows of at most the batches in flight may be missing (and a cut
//! last row is removed when the file is reopened). The rerun repairs that
//! ([`crate::run_store::RunStore::repair_output`]): a run that was killed (its process
//! is gone, its status still running) is marked killed, and if it appended to the
//! same results file, the rows it committed but did not write are appended from the
//! store before anything is computed. Then the file and the store agree again, each
//! entity once.

use crate::EngineError;
use polyplug_core::Entity;
use polyplug_runner::output::TsvWriter;
use polyplug_runner::{EntityResult, Recorder};
use polyplug_store::{Store, StoreError, UnitBatch};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Write;
use std::rc::Rc;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Units per block at most (a batch is also committed every half second, when the
/// runner flushes).
pub(crate) const BATCH_UNITS: usize = 4_096;

/// Called by the writer thread right after each commit, before the commit is
/// acknowledged, with the number of units committed: the test hook of the protocol
/// (`POLYPLUG_FAULT=abort-after-commit` makes it abort the process there).
pub(crate) type AfterCommit = Arc<dyn Fn(usize) + Send + Sync>;

/// A byte buffer shared between the TSV writer and the recorder that drains it.
#[derive(Clone, Default)]
struct SharedBuf(Rc<RefCell<Vec<u8>>>);

impl SharedBuf {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Records results into the store and, after each commit, into the TSV outputs.
///
/// Batches are committed by a writer thread while the run goes on; the rows of a
/// batch reach the TSV files only once the thread reports its commit, so the files
/// never get ahead of the store.
pub struct StoreRecorder<'w> {
    batch_tx: Option<SyncSender<UnitBatch>>,
    ack_rx: Receiver<Result<(), StoreError>>,
    writer: Option<JoinHandle<()>>,
    batch: UnitBatch,
    /// TSV bytes (results, logs) of the batches sent and not yet committed, in order.
    in_flight: VecDeque<(Vec<u8>, Vec<u8>)>,
    tsv: TsvWriter<'static>,
    out_buf: SharedBuf,
    log_buf: SharedBuf,
    out: Box<dyn Write + 'w>,
    log: Box<dyn Write + 'w>,
}

fn store_io(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl<'w> StoreRecorder<'w> {
    /// Starts the writer thread committing into `store`; results and logs go to `out`
    /// and `log` once committed. `batch` is the computation's first (empty) batch.
    pub(crate) fn start(
        store: Arc<Mutex<Store>>,
        batch: UnitBatch,
        out: Box<dyn Write + 'w>,
        log: Box<dyn Write + 'w>,
        after_commit: Option<AfterCommit>,
    ) -> Result<StoreRecorder<'w>, EngineError> {
        let (batch_tx, batch_rx) = std::sync::mpsc::sync_channel::<UnitBatch>(1);
        let (ack_tx, ack_rx) = std::sync::mpsc::channel::<Result<(), StoreError>>();
        let writer = std::thread::Builder::new()
            .name("polyplug-store".into())
            .spawn(move || {
                for mut batch in batch_rx {
                    let units = batch.len();
                    let mut db = store.lock().unwrap_or_else(|p| p.into_inner());
                    let r = db.commit(&mut batch);
                    drop(db);
                    if let (Ok(()), Some(hook)) = (&r, &after_commit) {
                        hook(units);
                    }
                    if ack_tx.send(r).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| EngineError::Thread(e.to_string()))?;
        let out_buf = SharedBuf::default();
        let log_buf = SharedBuf::default();
        Ok(StoreRecorder {
            batch_tx: Some(batch_tx),
            ack_rx,
            writer: Some(writer),
            batch,
            in_flight: VecDeque::new(),
            tsv: TsvWriter::new(Box::new(out_buf.clone()), Box::new(log_buf.clone())),
            out_buf,
            log_buf,
            out,
            log,
        })
    }

    /// Hands the current batch to the writer thread.
    fn send(&mut self) -> std::io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let next = self.batch.continued();
        let batch = std::mem::replace(&mut self.batch, next);
        self.in_flight
            .push_back((self.out_buf.take(), self.log_buf.take()));
        let tx = self
            .batch_tx
            .as_ref()
            .ok_or_else(|| store_io("the store writer has stopped"))?;
        if tx.send(batch).is_err() {
            // The writer ended: its error is in the acknowledgements.
            return self
                .wait_all()
                .and(Err(store_io("the store writer has stopped")));
        }
        Ok(())
    }

    /// Writes the TSV bytes of one committed batch.
    fn committed(&mut self, ack: Result<(), StoreError>) -> std::io::Result<()> {
        ack.map_err(store_io)?;
        if let Some((out, log)) = self.in_flight.pop_front() {
            self.out.write_all(&out)?;
            self.log.write_all(&log)?;
        }
        Ok(())
    }

    /// Takes the commits reported so far, without waiting.
    fn poll(&mut self) -> std::io::Result<()> {
        while let Ok(ack) = self.ack_rx.try_recv() {
            self.committed(ack)?;
        }
        Ok(())
    }

    /// Waits until every batch sent is committed and written.
    fn wait_all(&mut self) -> std::io::Result<()> {
        while !self.in_flight.is_empty() {
            match self.ack_rx.recv() {
                Ok(ack) => self.committed(ack)?,
                Err(_) => return Err(store_io("the store writer thread ended unexpectedly")),
            }
        }
        self.out.flush()?;
        self.log.flush()
    }
}

impl Recorder for StoreRecorder<'_> {
    fn record(&mut self, entity: &Entity, result: &EntityResult) -> std::io::Result<()> {
        self.tsv.record(entity, result)?;
        match result {
            Ok(o) => self.batch.push(&entity.id, &o.values, &o.logs, None),
            Err(e) => self
                .batch
                .push(&entity.id, &[], &e.logs, Some(e.message.as_str())),
        }
        if self.batch.len() >= BATCH_UNITS {
            self.send()?;
            self.poll()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()?;
        self.wait_all()
    }
}

impl Drop for StoreRecorder<'_> {
    fn drop(&mut self) {
        // Close the channel and let the writer finish what it has.
        self.batch_tx.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}
