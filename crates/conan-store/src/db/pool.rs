//! Opening and checking pooled connections on either database.

use diesel::Connection;
use diesel::r2d2::R2D2Connection as _;
use diesel::{PgConnection, SqliteConnection};

use std::thread;

use diesel::connection::SimpleConnection;

use super::{DatabaseUrl, DbConnection, redact_url_password};

/// Opens connections for the pool, dispatching on the URL's scheme (never guessing).
#[derive(Debug)]
pub(super) struct ConnectionManager {
    /// The database to connect to.
    pub(super) url: DatabaseUrl,
    /// SQLite's `busy_timeout`, set on every new connection.
    pub(super) busy_timeout_ms: u64,
}

/// A connection could not be opened or checked.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct ConnectError(String);

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<DbConnection, ConnectError> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let mut connection = SqliteConnection::establish(path)
                    .map_err(|error| ConnectError(format!("cannot open SQLite {path}: {error}")))?;
                // WAL lets readers run beside the writer; FULL makes every commit durable, since a
                // committed revision must survive a power cut; foreign keys carry the cascades.
                connection
                    .batch_execute(&format!(
                        "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
                         PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
                        self.busy_timeout_ms
                    ))
                    .map_err(|error| ConnectError(format!("cannot configure SQLite: {error}")))?;
                Ok(DbConnection::Sqlite(connection))
            }
            DatabaseUrl::Postgres(url) => PgConnection::establish(url)
                .map(DbConnection::Postgresql)
                .map_err(|error| {
                    ConnectError(format!(
                        "cannot connect to PostgreSQL {}: {error}",
                        redact_url_password(url)
                    ))
                }),
        }
    }

    /// A PostgreSQL connection is checked with a round trip at every checkout, so one whose
    /// server restarted is replaced before a request uses it. An SQLite connection is a file
    /// handle in this process that cannot go away, so checking it would only cost time.
    fn is_valid(&self, connection: &mut DbConnection) -> Result<(), ConnectError> {
        match connection {
            DbConnection::Sqlite(_) => Ok(()),
            DbConnection::Postgresql(_) => connection
                .batch_execute("SELECT 1")
                .map_err(|error| ConnectError(error.to_string())),
        }
    }

    /// A connection left inside a transaction or with its transaction manager in an error state
    /// (the server went away mid-transaction) is dropped instead of going back to the pool; a
    /// connection whose server died between uses fails `is_valid` at the next checkout, and the
    /// pool opens a new one on demand once the server is back.
    fn has_broken(&self, connection: &mut DbConnection) -> bool {
        thread::panicking() || connection.is_broken()
    }
}
