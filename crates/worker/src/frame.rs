//! Frames: how the messages of [`crate::protocol`] are cut on a stream (a little-endian
//! `u32` payload length, then the payload).

use std::io::{self, Read, Write};

/// Largest frame accepted (1 GiB): a larger length means a corrupted stream.
const MAX_FRAME: u32 = 1 << 30;

/// Writes one frame holding `payload`.
pub fn write_frame(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|n| *n <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "message too large"))?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(payload)
}

/// Reads one frame into `buf`; `Ok(false)` at a clean end of stream.
pub fn read_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes announced: the stream is corrupted"),
        ));
    }
    // Memory grows with the bytes that come, not with the length announced: a peer
    // that announces 1 GiB and stops costs what it sent (found by fuzzing).
    buf.clear();
    buf.reserve((len as usize).min(1 << 20));
    let got = r.take(u64::from(len)).read_to_end(buf)?;
    if got < len as usize {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("frame of {len} bytes cut after {got}"),
        ));
    }
    Ok(true)
}
