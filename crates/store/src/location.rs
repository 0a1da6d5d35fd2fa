//! Where a store is: a SQLite file or a PostgreSQL URL.

use crate::StoreError;
use std::path::PathBuf;

/// Where a store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user@host:port/db`).
    Postgres(String),
}

impl Location {
    /// The default store: `polyplug.db` in the working directory.
    pub fn default_sqlite() -> Location {
        Location::Sqlite(PathBuf::from("polyplug.db"))
    }

    /// Reads a store URL: `postgres://…` or `postgresql://…` is PostgreSQL;
    /// `sqlite://PATH`, `sqlite:PATH` or a plain path is a SQLite file.
    pub fn parse(url: &str) -> Result<Location, StoreError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(StoreError::EmptyUrl);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Location::Postgres(url.to_string()));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(StoreError::UnknownScheme {
                url: url.to_string(),
                scheme: scheme.to_string(),
            });
        }
        Ok(Location::Sqlite(PathBuf::from(url)))
    }

    /// The location for messages, without a password.
    pub fn display(&self) -> String {
        match self {
            Location::Sqlite(p) => p.display().to_string(),
            Location::Postgres(url) => hide_password(url),
        }
    }
}

fn hide_password(url: &str) -> String {
    // postgres://user:secret@host/db -> postgres://user:***@host/db
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_the_backend() {
        assert_eq!(
            Location::parse("x.db").unwrap(),
            Location::Sqlite("x.db".into())
        );
        assert_eq!(
            Location::parse("sqlite:///tmp/a.db").unwrap(),
            Location::Sqlite("/tmp/a.db".into())
        );
        assert!(matches!(
            Location::parse("postgresql://u@h/db").unwrap(),
            Location::Postgres(_)
        ));
        let e = Location::parse("mysql://h/db").unwrap_err();
        assert!(e.to_string().contains("unknown scheme 'mysql'"), "{e}");
        assert_eq!(
            Location::parse("postgres://u:pw@h:5/db").unwrap().display(),
            "postgres://u:***@h:5/db"
        );
    }
}
