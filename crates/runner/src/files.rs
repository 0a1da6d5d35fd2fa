//! The file names of `files` mode: a glob pattern (`**` for any number of folders),
//! streamed in glob's sorted order, without the `--exclude`d ones.

use crate::input::InputError;
use std::path::{Path, PathBuf};

/// The file names of a pattern, in glob's sorted order, streamed, without the
/// excluded ones; the first is looked for when opened, so that a pattern that
/// matches nothing is an error before the run.
pub(crate) struct FileNames {
    paths: glob::Paths,
    exclude: Vec<(glob::Pattern, bool)>,
    first: Option<Result<String, InputError>>,
    /// Cut from the start of each path (see `Source::Files::base`).
    base: Option<PathBuf>,
}

impl FileNames {
    pub(crate) fn open(
        pattern: &str,
        exclude: &[String],
        base: Option<&Path>,
    ) -> Result<FileNames, InputError> {
        let bad = |pattern: &str, e: glob::PatternError| InputError::Pattern {
            pattern: pattern.to_string(),
            why: e.to_string(),
        };
        let base = base.filter(|_| Path::new(pattern).is_relative());
        let full = match base {
            Some(b) => b.join(pattern).to_string_lossy().into_owned(),
            None => pattern.to_string(),
        };
        let paths = glob::glob(&full).map_err(|e| bad(pattern, e))?;
        let exclude = exclude
            .iter()
            .map(|x| {
                Ok((
                    glob::Pattern::new(x).map_err(|e| bad(x, e))?,
                    x.contains('/'),
                ))
            })
            .collect::<Result<_, InputError>>()?;
        let mut names = FileNames {
            paths,
            exclude,
            first: None,
            base: base.map(Path::to_path_buf),
        };
        names.first = names.next();
        if names.first.is_none() {
            return Err(InputError::NoMatch {
                pattern: pattern.to_string(),
            });
        }
        Ok(names)
    }

    fn excluded(&self, path: &Path) -> bool {
        let options = glob::MatchOptions {
            require_literal_separator: true,
            ..glob::MatchOptions::new()
        };
        self.exclude.iter().any(|(x, whole)| {
            if *whole {
                x.matches_path_with(path, options)
            } else {
                path.file_name()
                    .is_some_and(|n| x.matches_path_with(Path::new(n), options))
            }
        })
    }
}

impl Iterator for FileNames {
    type Item = Result<String, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        loop {
            let next = self.paths.next()?.map(|p| match &self.base {
                Some(b) => p.strip_prefix(b).map(Path::to_path_buf).unwrap_or(p),
                None => p,
            });
            return Some(match next {
                Ok(p) if self.excluded(&p) => continue,
                Ok(p) => p
                    .to_str()
                    .map(str::to_string)
                    .ok_or(InputError::FileName { path: p.clone() }),
                Err(e) => Err(InputError::Read {
                    path: e.path().to_path_buf(),
                    why: e.to_string(),
                }),
            });
        }
    }
}
