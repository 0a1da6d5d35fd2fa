//! Reading ahead on a thread of its own, so that indexing a large file overlaps the
//! copy of its next chunk out of the page cache (or its decompression) with the
//! scanning of the current one: on a FASTA file the copy is about as long as the
//! scan, so overlapping them nearly halves the build.
//!
//! Buffers go round between the two threads and are never copied: the reading thread
//! fills a buffer from [`RESERVE`] on, and the scanner puts the unfinished line of
//! the previous chunk just before that, in the room left free.

use std::io::{self, Read};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

/// The bytes read into each buffer.
pub(crate) const CHUNK: usize = 1 << 20;
/// The room left at the start of each buffer for the end of the previous chunk.
pub(crate) const RESERVE: usize = 64 * 1024;
/// How many buffers go round (one being scanned, the others being filled or full).
const BUFFERS: usize = 3;

/// A filled buffer: the bytes are at `RESERVE..RESERVE + len`; `len` 0 is the end.
type Filled = io::Result<(Vec<u8>, usize)>;

/// A source read ahead by a thread of its own.
pub(crate) struct ReadAhead {
    full: Receiver<Filled>,
    free: Option<Sender<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
    ended: bool,
}

impl ReadAhead {
    /// Starts reading `src` ahead.
    pub(crate) fn new<R: Read + Send + 'static>(mut src: R) -> io::Result<ReadAhead> {
        let (full_tx, full): (SyncSender<Filled>, _) = sync_channel(BUFFERS);
        let (free, free_rx) = channel::<Vec<u8>>();
        for _ in 0..BUFFERS {
            // The receiver is alive: these cannot fail.
            let _ = free.send(Vec::new());
        }
        let thread = std::thread::Builder::new()
            .name("polyplug-read-ahead".to_string())
            .spawn(move || {
                while let Ok(mut buf) = free_rx.recv() {
                    buf.resize(RESERVE + CHUNK, 0);
                    let filled = fill(&mut src, &mut buf[RESERVE..]).map(|n| (buf, n));
                    let last = !matches!(filled, Ok((_, n)) if n > 0);
                    if full_tx.send(filled).is_err() || last {
                        return;
                    }
                }
            })?;
        Ok(ReadAhead {
            full,
            free: Some(free),
            thread: Some(thread),
            ended: false,
        })
    }

    /// The next filled buffer and how many bytes it holds (0: the end).
    pub(crate) fn next(&mut self) -> io::Result<(Vec<u8>, usize)> {
        if self.ended {
            return Ok((Vec::new(), 0));
        }
        match self.full.recv() {
            Ok(Ok((buf, n))) => {
                self.ended = n == 0;
                Ok((buf, n))
            }
            Ok(Err(e)) => {
                self.ended = true;
                Err(e)
            }
            Err(_) => {
                self.ended = true;
                Err(io::Error::other("the reading thread stopped"))
            }
        }
    }

    /// Gives a buffer back to be filled again (one for each buffer received).
    pub(crate) fn give_back(&mut self, buf: Vec<u8>) {
        if let Some(free) = &self.free {
            // The thread may have ended (at the end of the data): nothing to do then.
            let _ = free.send(buf);
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        // Closing the channels ends the thread after its current read.
        self.free = None;
        while self.full.try_recv().is_ok() {}
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads into `buf` until it is full or the source ends.
fn fill<R: Read>(src: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_come_in_order_and_end() {
        let data: Vec<u8> = (0..3 * CHUNK + 5).map(|i| (i % 251) as u8).collect();
        let mut ahead = ReadAhead::new(std::io::Cursor::new(data.clone())).unwrap();
        let mut got = Vec::new();
        loop {
            let (buf, n) = ahead.next().unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[RESERVE..RESERVE + n]);
            ahead.give_back(buf);
        }
        assert_eq!(got, data);
        assert_eq!(ahead.next().unwrap().1, 0);
    }

    #[test]
    fn dropping_it_early_ends_the_thread() {
        let data = vec![7u8; 10 * CHUNK];
        let mut ahead = ReadAhead::new(std::io::Cursor::new(data)).unwrap();
        let (buf, n) = ahead.next().unwrap();
        assert_eq!((n, buf[RESERVE]), (CHUNK, 7));
        drop(ahead);
    }
}
