//! Guest memory as the host functions see it: every pointer and length a guest passes
//! is checked against its linear memory, and one out of bounds is a trap (which fails
//! the entity and replaces the instance).

use crate::state::Host;
use wasmtime::{Caller, Error, Result};

/// The guest memory and the host data of a call, borrowed together.
pub(crate) fn split<'a>(caller: &'a mut Caller<'_, Host>) -> Result<(&'a mut [u8], &'a mut Host)> {
    let memory = caller
        .data()
        .memory
        .ok_or_else(|| Error::msg("the module exports no `memory`"))?;
    Ok(memory.data_and_store_mut(caller))
}

/// `len` bytes at `ptr` in guest memory, or a trap.
pub(crate) fn bytes(mem: &[u8], ptr: u32, len: u32) -> Result<&[u8]> {
    let start = ptr as usize;
    let end = start.saturating_add(len as usize);
    mem.get(start..end).ok_or_else(|| {
        Error::msg(format!(
            "the plugin passed {len} bytes at {ptr:#x}, outside its memory ({} bytes)",
            mem.len()
        ))
    })
}

/// `len` writable bytes at `ptr` in guest memory, or a trap.
pub(crate) fn bytes_mut(mem: &mut [u8], ptr: u32, len: usize) -> Result<&mut [u8]> {
    let size = mem.len();
    let start = ptr as usize;
    let end = start.saturating_add(len);
    mem.get_mut(start..end).ok_or_else(|| {
        Error::msg(format!(
            "the plugin asked for {len} bytes at {ptr:#x}, outside its memory ({size} bytes)"
        ))
    })
}

/// A UTF-8 string in guest memory; invalid UTF-8 is reported through `Err(String)`.
pub(crate) fn text(mem: &[u8], ptr: u32, len: u32) -> Result<std::result::Result<String, String>> {
    let b = bytes(mem, ptr, len)?;
    Ok(String::from_utf8(b.to_vec()).map_err(|_| "a string is not valid UTF-8".to_string()))
}

/// Writes a little-endian `u32` at `ptr`, or traps.
pub(crate) fn put_u32(mem: &mut [u8], ptr: u32, v: u32) -> Result<()> {
    bytes_mut(mem, ptr, 4)?.copy_from_slice(&v.to_le_bytes());
    Ok(())
}

/// Writes a little-endian `u64` at `ptr`, or traps.
pub(crate) fn put_u64(mem: &mut [u8], ptr: u32, v: u64) -> Result<()> {
    bytes_mut(mem, ptr, 8)?.copy_from_slice(&v.to_le_bytes());
    Ok(())
}

/// Reads a little-endian `u32` at `ptr`, or traps.
pub(crate) fn get_u32(mem: &[u8], ptr: u32) -> Result<u32> {
    let b = bytes(mem, ptr, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The `(ptr, len)` pairs of a WASI iovec array.
pub(crate) fn iovecs(mem: &[u8], iovs: u32, n: u32) -> Result<Vec<(u32, u32)>> {
    let mut v = Vec::with_capacity(n as usize);
    for i in 0..n {
        let at = iovs.wrapping_add(i.wrapping_mul(8));
        v.push((get_u32(mem, at)?, get_u32(mem, at.wrapping_add(4))?));
    }
    Ok(v)
}
