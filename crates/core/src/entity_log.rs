//! Per-entity log files (`--log-dir DIR`): what a plugin wrote to its standard output
//! and standard error while computing one entity, in `DIR/<name>.out` and
//! `DIR/<name>.err`, where `<name>` is [`file_stem`] of the entity. An empty stream
//! leaves no file (and removes the one an earlier run left), so the folder holds the
//! last computation of each entity that said something.

use crate::{EntityError, Outcome};
use std::io;
use std::path::{Path, PathBuf};

/// Longest stem kept as it is, in bytes: room for the hash suffix and `.out` within
/// the 255 bytes a file name may have.
const MAX_STEM: usize = 200;

/// The file name stem of an entity's log files: the entity itself when it is made of
/// letters, digits and `. _ - + , = @ #` only, does not start with `.`, and is at most
/// 200 bytes long; otherwise the entity with every other character (and a leading
/// `.`) replaced by `_`, cut to 200 bytes, and followed by `~` and 16 hexadecimal digits of the XXH3 hash of
/// the entity. Two entities never share a stem: a stem kept as it is has no `~`, and
/// changed ones differ by their hash.
///
/// ```
/// use polyplug_core::entity_log::file_stem;
/// assert_eq!(file_stem("sample_12.fa"), "sample_12.fa");
/// assert!(file_stem("data/a.fa").starts_with("data_a.fa~"));
/// assert_ne!(file_stem("data/a.fa"), file_stem("data_a.fa"));
/// assert!(file_stem("..").starts_with("_.~"));
/// ```
pub fn file_stem(entity: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "._-+,=@#".contains(c);
    let kept = !entity.is_empty()
        && entity.len() <= MAX_STEM
        && !entity.starts_with('.')
        && entity.chars().all(safe);
    if kept {
        return entity.to_string();
    }
    let mut stem = String::with_capacity(entity.len().min(MAX_STEM) + 17);
    for c in entity.chars() {
        if stem.len() >= MAX_STEM {
            break;
        }
        stem.push(if safe(c) { c } else { '_' });
    }
    if stem.starts_with('.') {
        stem.replace_range(..1, "_");
    }
    let hash = xxhash_rust::xxh3::xxh3_64(entity.as_bytes());
    stem.push_str(&format!("~{hash:016x}"));
    stem
}

/// The two log files of `entity` in `dir`: standard output, then standard error.
pub fn paths(dir: &Path, entity: &str) -> (PathBuf, PathBuf) {
    let stem = file_stem(entity);
    (
        dir.join(format!("{stem}.out")),
        dir.join(format!("{stem}.err")),
    )
}

/// Writes what `entity`'s compute wrote to its standard output and standard error
/// into its log files in `dir`; an empty stream removes its file instead. The error
/// names the file.
pub fn write(dir: &Path, entity: &str, stdout: &[u8], stderr: &[u8]) -> Result<(), String> {
    let (out, err) = paths(dir, entity);
    for (path, bytes) in [(out, stdout), (err, stderr)] {
        if bytes.is_empty() {
            remove_empty_or_stale(&path, true)?;
        } else {
            std::fs::write(&path, bytes)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// [`write`], and when the files cannot be written, the line that says so in the
/// entity's logs (see [`with_note`]).
pub fn write_or_note(dir: &Path, entity: &str, stdout: &[u8], stderr: &[u8]) -> Option<String> {
    write(dir, entity, stdout, stderr)
        .err()
        .map(|why| note(&why))
}

/// The line of an entity's logs that says why its output is not in its log files.
pub fn note(why: &str) -> String {
    format!("log\t{why} (--log-dir)")
}

/// Adds `note` (why the entity's output could not go to its log files) to the
/// entity's logs, whether it failed or not.
#[inline]
pub fn with_note(
    r: Result<(), EntityError>,
    outcome: &mut Outcome,
    note: Option<String>,
) -> Result<(), EntityError> {
    let Some(note) = note else {
        return r;
    };
    match r {
        Ok(()) => {
            outcome.logs.push(note);
            Ok(())
        }
        Err(mut e) => {
            e.logs.push(note);
            Err(e)
        }
    }
}

/// Removes `entity`'s log files in `dir` that are empty: after a compute whose output
/// went straight into them (a worker process) and wrote nothing, or died first.
pub fn remove_empty(dir: &Path, entity: &str) {
    let (out, err) = paths(dir, entity);
    for path in [out, err] {
        let _ = remove_empty_or_stale(&path, false);
    }
}

/// Removes the file at `path` when it is empty, or in any case when `stale` (an older
/// run's output for an entity that now wrote nothing); a missing file is fine.
fn remove_empty_or_stale(path: &Path, stale: bool) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if stale || m.len() == 0 => std::fs::remove_file(path)
            .or_else(|e| match e.kind() {
                io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            })
            .map_err(|e| format!("cannot remove {}: {e}", path.display())),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_safe_names_and_never_collide() {
        let long = "x".repeat(300);
        let cases = [
            "a", "a_b", "a/b", "a b", "a\\b", "..", ".", ".hidden", "", "é", "~", "a~b", &long,
        ];
        let stems: Vec<String> = cases.iter().map(|c| file_stem(c)).collect();
        for (c, s) in cases.iter().zip(&stems) {
            assert!(!s.is_empty() && s.len() <= MAX_STEM + 17, "{c:?} -> {s:?}");
            assert!(!s.starts_with('.'), "{c:?} -> {s:?}");
            assert!(!s.contains('/') && !s.contains('\0'), "{c:?} -> {s:?}");
        }
        let mut unique = stems.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), stems.len(), "{stems:?}");
        assert_eq!(file_stem("a_b"), "a_b");
        assert_eq!(file_stem("name#2"), "name#2");
        assert!(file_stem("a/b").starts_with("a_b~"));
        assert!(file_stem(&long).starts_with(&"x".repeat(MAX_STEM)));
    }

    #[test]
    fn empty_streams_leave_no_file_and_remove_an_old_one() {
        let dir = std::env::temp_dir().join(format!("polyplug-elog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write(&dir, "e/1", b"out\n", b"err\n").unwrap();
        let (out, err) = paths(&dir, "e/1");
        assert_eq!(std::fs::read(&out).unwrap(), b"out\n");
        assert_eq!(std::fs::read(&err).unwrap(), b"err\n");
        write(&dir, "e/1", b"", b"again\n").unwrap();
        assert!(!out.exists());
        assert_eq!(std::fs::read(&err).unwrap(), b"again\n");
        std::fs::write(&out, b"").unwrap();
        remove_empty(&dir, "e/1");
        assert!(!out.exists() && err.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
