//! The `polyplug` host imports a guest calls: typed results, logs, errors, the current
//! input, the parameters and the metadata (the guest ABI, `plugin-sdk/wasm/ABI.md`).

use crate::mem::{bytes, bytes_mut, split, text};
use crate::state::Host;
use polyplug_core::{EntityError, Outcome, Value};
use wasmtime::{AsContextMut, Caller, Linker, Result};

/// Name of the import module of the polyplug guest ABI.
pub(crate) const IMPORT_MODULE: &str = "polyplug";

/// Adds the `polyplug` imports to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<Host>) -> Result<()> {
    let m = IMPORT_MODULE;
    linker.func_wrap(m, "push_null", |mut c: Caller<'_, Host>| {
        c.data_mut().sink.push(Value::Null)
    })?;
    linker.func_wrap(m, "push_bool", |mut c: Caller<'_, Host>, v: i32| {
        c.data_mut().sink.push(Value::Bool(v != 0))
    })?;
    linker.func_wrap(m, "push_int", |mut c: Caller<'_, Host>, v: i64| {
        c.data_mut().sink.push(Value::Int(v))
    })?;
    linker.func_wrap(m, "push_float", |mut c: Caller<'_, Host>, v: f64| {
        c.data_mut().sink.push(Value::Float(v))
    })?;
    linker.func_wrap(
        m,
        "push_str",
        |mut c: Caller<'_, Host>, ptr: u32, len: u32| -> Result<()> {
            let (mem, host) = split(&mut c)?;
            match text(mem, ptr, len)? {
                Ok(s) => host.sink.push(Value::Str(s)),
                Err(e) => host.sink.misuse(format!("push_str: {e}")),
            }
            Ok(())
        },
    )?;
    linker.func_wrap(m, "begin_list", |mut c: Caller<'_, Host>| {
        c.data_mut().sink.begin_list()
    })?;
    linker.func_wrap(m, "end_list", |mut c: Caller<'_, Host>| {
        c.data_mut().sink.end_list()
    })?;
    linker.func_wrap(
        m,
        "log",
        |mut c: Caller<'_, Host>, ptr: u32, len: u32| -> Result<()> {
            let (mem, host) = split(&mut c)?;
            match text(mem, ptr, len)? {
                Ok(s) => host.sink.logs.push(s),
                Err(e) => host.sink.misuse(format!("log: {e}")),
            }
            Ok(())
        },
    )?;
    linker.func_wrap(
        m,
        "error",
        |mut c: Caller<'_, Host>, ptr: u32, len: u32| -> Result<()> {
            let (mem, host) = split(&mut c)?;
            let msg = bytes(mem, ptr, len)?;
            host.sink.error = Some(String::from_utf8_lossy(msg).into_owned());
            Ok(())
        },
    )?;
    // A batch in one call: the next entity (its length; -1 when the batch is done),
    // and the end of its compute, with its status.
    linker.func_wrap(m, "next_entity", next_entity)?;
    linker.func_wrap(m, "end_entity", end_entity)?;
    linker.func_wrap(m, "input_len", |c: Caller<'_, Host>| -> u32 {
        c.data().input.len() as u32
    })?;
    linker.func_wrap(
        m,
        "input_read",
        |mut c: Caller<'_, Host>, ptr: u32| -> Result<()> {
            let (mem, host) = split(&mut c)?;
            bytes_mut(mem, ptr, host.input.len())?.copy_from_slice(&host.input);
            Ok(())
        },
    )?;
    // Records mode: the record's bytes and its fields by name; -1 when there is no
    // record (or no such field).
    linker.func_wrap(m, "record_len", |c: Caller<'_, Host>| -> i32 {
        c.data()
            .record
            .as_ref()
            .map_or(-1, |(b, _)| i32::try_from(b.len()).unwrap_or(i32::MAX))
    })?;
    linker.func_wrap(
        m,
        "record_read",
        |mut c: Caller<'_, Host>, ptr: u32| -> Result<()> {
            let (mem, host) = split(&mut c)?;
            if let Some((b, _)) = &host.record {
                bytes_mut(mem, ptr, b.len())?.copy_from_slice(b);
            }
            Ok(())
        },
    )?;
    linker.func_wrap(m, "fields_len", |c: Caller<'_, Host>| -> i32 {
        c.data().record.as_ref().map_or(-1, |(_, f)| {
            i32::try_from(encoded_len(f)).unwrap_or(i32::MAX)
        })
    })?;
    linker.func_wrap(
        m,
        "fields_read",
        |mut c: Caller<'_, Host>, ptr: u32| -> Result<()> {
            let (mem, host) = split(&mut c)?;
            if let Some((_, fields)) = &host.record {
                let dest = bytes_mut(mem, ptr, encoded_len(fields))?;
                encode_fields(fields, dest);
            }
            Ok(())
        },
    )?;
    linker.func_wrap(m, "params_len", |c: Caller<'_, Host>| -> u32 {
        c.data().params.len() as u32
    })?;
    linker.func_wrap(
        m,
        "params_read",
        |mut c: Caller<'_, Host>, ptr: u32| -> Result<()> {
            let (mem, host) = split(&mut c)?;
            bytes_mut(mem, ptr, host.params.len())?.copy_from_slice(&host.params);
            Ok(())
        },
    )?;
    linker.func_wrap(
        m,
        "meta",
        |mut c: Caller<'_, Host>, kp: u32, kl: u32, vp: u32, vl: u32| -> Result<()> {
            let (mem, host) = split(&mut c)?;
            let key = text(mem, kp, kl)?;
            let value = text(mem, vp, vl)?;
            let Some(meta) = host.meta.as_mut() else {
                return Ok(()); // only meaningful during polyplug_describe
            };
            match (key, value) {
                (Ok(k), Ok(v)) => match k.as_str() {
                    "OUTPUT" => meta.output.push(v),
                    "FUNCTION" => meta.functions.push(v),
                    _ => meta.fields.push((k, v)),
                },
                _ => meta
                    .problems
                    .push("a metadata string is not valid UTF-8".into()),
            }
            Ok(())
        },
    )?;
    linker.func_wrap(
        m,
        "meta_param",
        |mut c: Caller<'_, Host>,
         np: u32,
         nl: u32,
         tp: u32,
         tl: u32,
         dp: u32,
         dl: u32,
         op: u32,
         ol: u32|
         -> Result<()> {
            let (mem, host) = split(&mut c)?;
            let mut fields: [String; 4] = Default::default();
            let mut bad = false;
            for (i, (p, l)) in [(np, nl), (tp, tl), (dp, dl), (op, ol)]
                .into_iter()
                .enumerate()
            {
                match text(mem, p, l)? {
                    Ok(s) => fields[i] = s,
                    Err(_) => bad = true,
                }
            }
            if let Some(meta) = host.meta.as_mut() {
                if bad {
                    meta.problems.push(format!(
                        "parameter {} is not valid UTF-8",
                        meta.params.len() + 1
                    ));
                }
                meta.params.push(fields);
            }
            Ok(())
        },
    )?;
    Ok(())
}

/// Encodes parameters as the guest ABI describes (little-endian): `u32` count, then per
/// parameter `u32` name length, the name, and a value: `u8` kind, then nothing (null),
/// `u8` (bool), `i64` (int), `f64` (float), `u32` length and bytes (str), or `u32`
/// count and values (list).
pub(crate) fn encode_params(entries: &[(String, Value)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for (name, value) in entries {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        encode_value(value, &mut out);
    }
    out
}

fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(0),
        Value::Bool(b) => {
            out.push(1);
            out.push(*b as u8);
        }
        Value::Int(i) => {
            out.push(2);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Float(f) => {
            out.push(3);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Value::Str(s) => {
            out.push(4);
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Value::List(items) => {
            out.push(5);
            out.extend_from_slice(&(items.len() as u32).to_le_bytes());
            for i in items {
                encode_value(i, out);
            }
        }
    }
}

/// The size of a record's fields as `fields_read` writes them: a `u32` count, then
/// for each field a `u32` name length, the name, a `u32` value length, the value
/// (little-endian).
fn encoded_len(fields: &[(String, String)]) -> usize {
    4 + fields
        .iter()
        .map(|(n, v)| 8 + n.len() + v.len())
        .sum::<usize>()
}

/// Writes `fields` into `dest` (exactly [`encoded_len`] bytes).
fn encode_fields(fields: &[(String, String)], dest: &mut [u8]) {
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        dest[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(&(fields.len() as u32).to_le_bytes());
    for (n, v) in fields {
        put(&(n.len() as u32).to_le_bytes());
        put(n.as_bytes());
        put(&(v.len() as u32).to_le_bytes());
        put(v.as_bytes());
    }
}

/// `next_entity(dest, cap)`: makes the batch's next entity the input, with the limits
/// of a compute of its own, and copies it to `dest` when it fits in `cap` bytes (else
/// the guest reads it with `input_read`); its length, or -1 when the batch is done.
fn next_entity(mut c: Caller<'_, Host>, dest: u32, cap: u32) -> Result<i32> {
    let (mem, host) = split(&mut c)?;
    let b = &mut host.batch;
    if b.open {
        wasmtime::bail!("next_entity: the entity before was not ended (end_entity)");
    }
    let Some(&end) = b.ends.get(b.next) else {
        return Ok(-1);
    };
    let start = b.next.checked_sub(1).map_or(0, |i| b.ends[i]);
    let entity = &b.inputs[start..end];
    if entity.len() <= cap as usize {
        bytes_mut(mem, dest, entity.len())?.copy_from_slice(entity);
    }
    host.input.clear();
    host.input.extend_from_slice(entity);
    b.next += 1;
    b.open = true;
    let (ticks, fuel) = (b.deadline_ticks, b.fuel);
    host.sink.reset();
    host.limits.hit = false;
    c.as_context_mut().set_epoch_deadline(ticks);
    if let Some(fuel) = fuel {
        c.as_context_mut().set_fuel(fuel)?;
    }
    Ok(i32::try_from(end - start).unwrap_or(i32::MAX))
}

/// `end_entity(status)`: the result of the entity being computed, from what it
/// pushed and its status. An entity that reached the memory cap ends the call too:
/// the rest of the batch goes to a fresh instance.
fn end_entity(mut c: Caller<'_, Host>, status: i32) -> Result<()> {
    let host = c.data_mut();
    if !std::mem::take(&mut host.batch.open) {
        wasmtime::bail!("end_entity: no entity is being computed (next_entity)");
    }
    let hit = host.limits.hit;
    let result = settle(host, status);
    host.batch.results.push(result);
    if hit {
        wasmtime::bail!("{}", host.batch.memory_note);
    }
    Ok(())
}

/// The result of the batch's entity that ended with `status`: its values and logs,
/// or its failure.
pub(crate) fn settle(host: &mut Host, status: i32) -> std::result::Result<Outcome, EntityError> {
    let note = || host.batch.memory_note.clone();
    match crate::live::failure(&mut host.sink, host.limits.hit, status, note) {
        None => {
            let mut out = host.batch.results.outcome();
            std::mem::swap(&mut out.values, &mut host.sink.values);
            std::mem::swap(&mut out.logs, &mut host.sink.logs);
            Ok(out)
        }
        Some(message) => Err(EntityError {
            message,
            logs: std::mem::take(&mut host.sink.logs),
            instance_lost: false,
            out_of_memory: false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_encoding_is_little_endian_tlv() {
        let e = encode_params(&[("n".into(), Value::Int(3))]);
        assert_eq!(e, [1, 0, 0, 0, 1, 0, 0, 0, b'n', 2, 3, 0, 0, 0, 0, 0, 0, 0]);
    }
}
