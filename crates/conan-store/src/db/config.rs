//! Which database a URL names, and the database settings.

use std::fmt;
use std::str::FromStr;

use crate::StoreError;

/// Which database a URL names.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH` or `sqlite:PATH`: a file, created if missing.
    Sqlite(String),
    /// `postgres://...` or `postgresql://...`.
    Postgres(String),
}

impl DatabaseUrl {
    /// Which backend this URL selects, for messages and metrics.
    #[must_use]
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    /// Never prints a PostgreSQL password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{path}"),
            Self::Postgres(url) => write!(f, "{}", redact_url_password(url)),
        }
    }
}

/// Replaces the password of a `scheme://user:password@host/...` URL with `***`.
#[must_use]
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl FromStr for DatabaseUrl {
    type Err = StoreError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(StoreError::Invalid(
                    "database URL `sqlite://` needs a file path, such as sqlite://./data/registry.db"
                        .to_owned(),
                ));
            }
            return Ok(Self::Sqlite(path.to_owned()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
        Err(StoreError::Invalid(format!(
            "unsupported database URL scheme {scheme:?}: use sqlite://PATH or postgres://USER@HOST/DB"
        )))
    }
}

/// Settings of the metadata database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (default `sqlite://./data/registry.db`) or `postgres://...`.
    pub url: String,
    /// The most connections the pool opens.
    pub max_connections: u32,
    /// How long a request waits for a free connection before failing with 503, in milliseconds.
    pub acquire_timeout_ms: u64,
    /// How long SQLite waits on a locked database before reporting busy, in milliseconds.
    pub sqlite_busy_timeout_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://./data/registry.db".to_owned(),
            max_connections: 16,
            acquire_timeout_ms: 5_000,
            sqlite_busy_timeout_ms: 5_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend_by_scheme() {
        assert_eq!(
            "sqlite://./data/registry.db"
                .parse::<DatabaseUrl>()
                .unwrap(),
            DatabaseUrl::Sqlite("./data/registry.db".to_owned())
        );
        assert_eq!(
            "sqlite:/tmp/x.db".parse::<DatabaseUrl>().unwrap(),
            DatabaseUrl::Sqlite("/tmp/x.db".to_owned())
        );
        assert!(matches!(
            "postgres://u@h/db".parse::<DatabaseUrl>().unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert!(matches!(
            "postgresql://u@h/db".parse::<DatabaseUrl>().unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        for bad in [
            "mysql://root@localhost/db",
            "registry.db",
            "",
            "sqlite://",
            "http://x",
        ] {
            let error = bad.parse::<DatabaseUrl>().unwrap_err().to_string();
            assert!(
                error.contains("sqlite://")
                    && (error.contains("unsupported") || error.contains("path")),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url_password("postgres://user:secret@db:5432/registry"),
            "postgres://user:***@db:5432/registry"
        );
        assert_eq!(
            redact_url_password("postgres://user@db/registry"),
            "postgres://user@db/registry"
        );
        let url: DatabaseUrl = "postgres://u:pw@h/db".parse().unwrap();
        assert!(!format!("{url:?}").contains("pw"));
    }

    #[test]
    fn config_defaults_to_embedded_sqlite() {
        let config = DatabaseConfig::default();
        assert!(config.url.starts_with("sqlite://"));
        assert!(config.max_connections > 1);
    }
}
