//! The IDs of an IDs file read by the run's own rules, without a copy of each: for
//! work that reads an input again after its run (`polyplug merge` puts the shards'
//! rows in the order of these IDs).

use crate::input::{line_id, text_line_id, InputError, LineId};
use crate::lines::{Line, Lines};
use std::fs::File;
use std::path::Path;

/// What a line of an IDs file gives the run: its ID, nothing (a blank line), or the
/// error that stops the run there. `line` is the line's number (1-based).
pub(crate) fn line_unit<'l>(
    id: LineId<'l>,
    path: &Path,
    line: u64,
    column: usize,
) -> Option<Result<&'l str, InputError>> {
    match id {
        LineId::Blank => None, // blank lines hold no ID
        LineId::Id(f) => Some(Ok(f)),
        LineId::NotUtf8 => Some(Err(InputError::Utf8 {
            path: path.to_path_buf(),
            line,
        })),
        LineId::Columns(found) => Some(Err(InputError::Columns {
            path: path.to_path_buf(),
            line,
            found,
            column,
        })),
        LineId::EmptyColumn => Some(Err(InputError::EmptyColumn {
            path: path.to_path_buf(),
            line,
            column,
        })),
    }
}

/// Calls `f` with each ID of column `column` (1-based) of the IDs file at `path`, in
/// order, as a run over `ids <path> <column>` (without `--idsproc`) gives them:
/// blank lines are passed over, and the first line the run would refuse (not UTF-8,
/// too few fields, an empty field) is the error, as it would be the run's. Every ID
/// is given, repeats too.
pub fn each_id<E: From<InputError>>(
    path: &Path,
    column: usize,
    mut f: impl FnMut(&str) -> Result<(), E>,
) -> Result<(), E> {
    if column == 0 {
        return Err(InputError::ColumnZero.into());
    }
    let read_error = |e: std::io::Error| InputError::Read {
        path: path.to_path_buf(),
        why: e.to_string(),
    };
    let file = File::open(path).map_err(|e| InputError::OpenIds {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    let mut lines = Lines::new(file);
    let mut line_no = 0u64;
    while let Some(line) = lines.next_line().map_err(read_error)? {
        line_no += 1;
        let id = match line {
            Line::Text { line, tabs } => text_line_id(line, column, tabs),
            Line::Bytes(bytes) => line_id(bytes, column),
        };
        match line_unit(id, path, line_no, column) {
            None => {}
            Some(Ok(id)) => f(id)?,
            Some(Err(e)) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{Entities, SkipSet, Source};

    fn ids_of(text: &[u8], column: usize) -> Result<Vec<String>, InputError> {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("ids.tsv");
        std::fs::write(&path, text).expect("the test file is written");
        let mut got = Vec::new();
        each_id(&path, column, |id| {
            got.push(id.to_string());
            Ok::<(), InputError>(())
        })?;
        // The run's own reader gives the same IDs, or fails at the same line.
        let source = Source::Ids { path, column };
        let run: Result<Vec<String>, InputError> =
            Entities::open(&source, None, SkipSet::default())?
                .map(|e| e.map(|e| e.id))
                .collect();
        assert_eq!(run.as_ref().ok(), Some(&got), "as the run reads them");
        Ok(got)
    }

    #[test]
    fn gives_the_ids_the_run_gives_repeats_and_all() {
        let ids = ids_of(b"a\tx\n\n  \nb \tz\r\nc\t\xc3\xa9\na\tx\n", 1).expect("read");
        assert_eq!(ids, ["a", "b ", "c", "a"]);
        let second = ids_of(b"a\tx\nb\ty\n", 2).expect("read");
        assert_eq!(second, ["x", "y"]);
    }

    #[test]
    fn stops_at_the_line_the_run_refuses() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("ids.tsv");
        for (text, column, want, before) in [
            (&b"a\nb\n\xff\xfe\nc\n"[..], 1, "line 3", 2),
            (&b"a\tx\nb\n"[..], 2, "line 2", 1),
            (&b"a\tx\n\ty\n"[..], 1, "line 2", 1),
        ] {
            std::fs::write(&path, text).expect("the test file is written");
            let mut seen = 0;
            let e = each_id(&path, column, |_| {
                seen += 1;
                Ok::<(), InputError>(())
            })
            .expect_err("a bad line is an error");
            assert!(e.to_string().contains(want), "{e}");
            assert_eq!(seen, before, "the IDs before it are given");
        }
        let missing = dir.path().join("missing.tsv");
        let e = each_id(&missing, 1, |_| Ok::<(), InputError>(())).expect_err("missing");
        assert!(matches!(e, InputError::OpenIds { .. }), "{e}");
        let e = each_id(&path, 0, |_| Ok::<(), InputError>(())).expect_err("column 0");
        assert!(matches!(e, InputError::ColumnZero), "{e}");
    }
}
