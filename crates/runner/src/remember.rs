//! Facts about a file remembered while the file stays as it was. First of them the
//! repeated-ID check of an IDs file: users run many plugins, and the same plugin
//! again, over one list of IDs, and the check of a list of millions costs a sizeable
//! part of a fast plugin's run. Then the sha256 of a plugin file (a library of some
//! megabytes costs milliseconds to hash, in every run and in every shard).
//!
//! A fact is one small file in a folder of the cache (`<cache>/repeats/<XXH3-64 of
//! the file's canonical path and the column>` for the check, which remembers only a
//! check of a whole file that found no repeat), holding what identifies the file's
//! contents: its inode, size, modification and status-change times (in nanoseconds;
//! no one can set the latter, and any write changes it) and the XXH3-64 of its first
//! and last 64 KiB; then the fact. Not its device: on a network file system that
//! number differs from one node to the next, and the tasks of a cluster run must find
//! what the submission remembered. Anything different, or unreadable, and the fact is
//! found again. A remembered IDs file answers for every shard of it too. Past 4096
//! files in a folder, the older half is forgotten.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What the check of an IDs file remembers.
const REPEATS: &str = "repeats 1: no repeat in";

/// What identifies a file's contents, as one line of text after `what`: the records'
/// index key ([`polyplug_records::DataKey`]: size, modification time, first and last
/// 64 KiB) with the inode and the status-change time.
fn identity(path: &Path, what: &str) -> Option<String> {
    let file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    let key = polyplug_records::DataKey::of(&file, &meta).ok()?;
    Some(format!(
        "polyplug {what} ino {} size {} mtime {} ctime {}.{:09} head {:016x} tail \
         {:016x}\n",
        meta.ino(),
        key.size,
        key.mtime_ns,
        meta.ctime(),
        meta.ctime_nsec(),
        key.head,
        key.tail
    ))
}

/// Where a fact about `path` is remembered, under `dir`; `key` tells facts of one
/// kind apart (the IDs column).
fn place(dir: &Path, path: &Path, key: &str) -> Option<PathBuf> {
    let canonical = std::fs::canonicalize(path).ok()?;
    let mut bytes = canonical.into_os_string().into_encoded_bytes();
    bytes.extend_from_slice(key.as_bytes());
    Some(dir.join(format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes))))
}

/// A file whose fact is found now: what identified it before, and where the fact goes.
#[derive(Debug)]
pub struct Before {
    what: String,
    identity: String,
    place: PathBuf,
}

/// Whether column `column` of the IDs file at `path` is remembered to hold no
/// repeat; when not, what to remember it by if the check finds none.
pub(crate) fn recall(cache: &Path, path: &Path, column: usize) -> Result<(), Option<Before>> {
    let place = place(cache, path, &format!("\t{column}"));
    recall_at(place, path, REPEATS, str::is_empty).map(|_| ())
}

/// Remembers that the file checked after `before` holds no repeat (see
/// [`remember_fact`]).
pub(crate) fn remember(before: Before, path: &Path) {
    remember_fact(before, path, "");
}

/// The fact `what` (a name and version: `sha256 1:`) remembered in `dir` of the file
/// at `path`, if the file is as it was then and the fact is `valid`; when not, what
/// to remember the fact by once it is found again ([`remember_fact`]), or `None` when
/// it cannot be.
pub fn recall_fact(
    dir: &Path,
    path: &Path,
    what: &str,
    valid: impl Fn(&str) -> bool,
) -> Result<String, Option<Before>> {
    recall_at(place(dir, path, ""), path, what, valid)
}

fn recall_at(
    place: Option<PathBuf>,
    path: &Path,
    what: &str,
    valid: impl Fn(&str) -> bool,
) -> Result<String, Option<Before>> {
    let (Some(identity), Some(place)) = (identity(path, what), place) else {
        return Err(None);
    };
    let mut kept = String::new();
    let read = File::open(&place).and_then(|f| f.take(4096).read_to_string(&mut kept));
    if let (Ok(_), Some(fact)) = (read, kept.strip_prefix(&identity)) {
        let fact = fact.trim_end();
        if valid(fact) {
            return Ok(fact.to_string());
        }
    }
    Err(Some(Before {
        what: what.to_string(),
        identity,
        place,
    }))
}

/// Remembers `fact` of the file found after `before`, if it is still the file it was
/// (a file changed meanwhile is not remembered). Best effort: a cache that cannot be
/// written only means the fact is found again next time.
pub fn remember_fact(before: Before, path: &Path, fact: &str) {
    if identity(path, &before.what).as_ref() != Some(&before.identity) {
        return;
    }
    let Some(dir) = before.place.parent() else {
        return;
    };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) {
        use std::io::Write;
        let text = match fact {
            "" => before.identity.clone(),
            fact => format!("{}{fact}\n", before.identity),
        };
        if tmp.write_all(text.as_bytes()).is_ok() {
            let _ = tmp.persist(&before.place);
        }
    }
    sweep(dir, KEPT);
}

/// At most this many files are remembered; past it, the older half is forgotten.
const KEPT: usize = 4096;

/// Forgets the older half of what `dir` remembers when it holds more than `kept`
/// files (a forgotten file is only checked again).
fn sweep(dir: &Path, kept: usize) {
    // Counted first: the times are read only when some must go.
    if std::fs::read_dir(dir).map_or(0, Iterator::count) <= kept {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    files.sort();
    for (_, path) in &files[..files.len() / 2] {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use crate::input::Source;
    use crate::repeats::find_remembered;
    use polyplug_core::Shard;

    fn ids(path: &std::path::Path) -> Source {
        Source::Ids {
            path: path.to_path_buf(),
            column: 1,
        }
    }

    #[test]
    fn a_clean_file_is_remembered_until_it_changes() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let cache = dir.path().join("cache");
        let path = dir.path().join("ids.txt");
        std::fs::write(&path, "a\nb\nc\n").expect("written");
        let found = find_remembered(&ids(&path), None, None, Some(&cache)).expect("checked");
        assert!(found.is_empty());
        let entries: Vec<_> = std::fs::read_dir(&cache).expect("remembered").collect();
        assert_eq!(entries.len(), 1, "one file remembered");
        // Remembered: the check is not made again (shown by a memory that lies: the
        // entry is made to name a file with a repeat, as it is now).
        std::fs::write(&path, "a\nb\na\n").expect("rewritten, same size");
        let found = find_remembered(&ids(&path), None, None, Some(&cache)).expect("checked");
        assert_eq!(found.count, 1, "a changed file is checked again");
        assert!(
            super::recall(&cache, &path, 1).is_err(),
            "a file with a repeat is not remembered"
        );
        let entry = super::place(&cache, &path, "\t1").expect("a place");
        let identity = super::identity(&path, super::REPEATS).expect("an identity");
        std::fs::write(&entry, identity).expect("a forged memory");
        let found = find_remembered(&ids(&path), None, None, Some(&cache)).expect("recalled");
        assert!(found.is_empty(), "the memory answers");
        // Another column is another memory.
        assert_ne!(super::place(&cache, &path, "\t2"), Some(entry));
        // Without a cache folder, nothing is remembered and every check is made.
        let found = find_remembered(&ids(&path), None, None, None).expect("checked");
        assert_eq!(found.count, 1);
    }

    #[test]
    fn a_remembered_file_answers_for_its_shards_but_a_shard_is_not_remembered() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let cache = dir.path().join("cache");
        let path = dir.path().join("ids.txt");
        let text: String = (0..100).map(|i| format!("id_{i}\n")).collect();
        std::fs::write(&path, &text).expect("written");
        let shard = Shard::new(1, 4).expect("a shard");
        let found = find_remembered(&ids(&path), None, Some(shard), Some(&cache)).expect("ok");
        assert!(found.is_empty());
        assert!(
            !cache.exists(),
            "a shard's check says nothing of the others' IDs"
        );
        find_remembered(&ids(&path), None, None, Some(&cache)).expect("checked");
        let entry = super::place(&cache, &path, "\t1").expect("a place");
        assert!(entry.exists());
        // A repeat (of shard 1's) after the memory was made, with the memory forged
        // to name the file as it is now: the shard trusts the memory.
        let repeated = (0..100)
            .map(|i| format!("id_{i}"))
            .find(|id| shard.contains(id))
            .expect("an ID of shard 1");
        std::fs::write(&path, format!("{text}{repeated}\n")).expect("appended");
        let found = find_remembered(&ids(&path), None, Some(shard), Some(&cache)).expect("ok");
        assert_eq!(found.count, 1, "changed: checked again");
        std::fs::write(
            &entry,
            super::identity(&path, super::REPEATS).expect("identity"),
        )
        .expect("forged");
        let found = find_remembered(&ids(&path), None, Some(shard), Some(&cache)).expect("ok");
        assert!(
            found.is_empty(),
            "the whole file's memory answers for a shard"
        );
    }

    #[test]
    fn past_so_many_files_the_older_half_is_forgotten() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for i in 0..10 {
            let f = dir.path().join(format!("{i:02}"));
            std::fs::write(&f, "x").expect("written");
            let file = std::fs::File::options().write(true).open(&f).expect("open");
            file.set_modified(old + std::time::Duration::from_secs(i))
                .expect("a time");
        }
        super::sweep(dir.path(), 10);
        assert_eq!(std::fs::read_dir(dir.path()).expect("read").count(), 10);
        super::sweep(dir.path(), 9);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["05", "06", "07", "08", "09"], "the newer half stays");
    }
}
