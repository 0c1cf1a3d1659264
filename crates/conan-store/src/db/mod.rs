//! The diesel implementation of the metadata traits: one codebase over SQLite (the embedded
//! default) and PostgreSQL, picked by the database URL's scheme.

/// Runs a query on the connection's own backend: `native!(conn, c => query.first(c))` binds `c`
/// to the `SqliteConnection` or the `PgConnection` inside [`DbConnection`] and runs the body
/// with it.
///
/// Through the `DbConnection` wrapper diesel renders a query's whole SQL text on every run, two
/// or three times (to key its prepared-statement cache, to check that the statement may be
/// cached, while collecting the binds): about a seventh of the server's CPU under a
/// metadata load. On the backend's own connection a query with a static type is keyed by that
/// type and rendered once per connection. The body must compile for both backends, which
/// diesel's query builder does for anything written against the shared schema.
macro_rules! native {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Sqlite($c) => $body,
            $crate::db::DbConnection::Postgresql($c) => $body,
        }
    };
}

mod backups;
mod catalog;
mod cleanup;
mod config;
mod files;
mod identity;
mod lock;
mod lookup;
mod maintenance;
mod packages;
mod pool;
mod protection;
mod recipes;
mod remotes;
mod retry;
pub(crate) mod schema;
mod scope;
mod search;
mod virtuals;

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use diesel::Connection;
use diesel::connection::{AnsiTransactionManager, TransactionManager as _};
use diesel::result::Error as DieselError;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::StoreError;
use conan_model::RevisionTime;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// How many times a transaction that lost a race (unique violation, serialization failure,
/// SQLite busy) is run again before giving up with [`StoreError::Busy`].
const MAX_ATTEMPTS: u32 = 12;

mod connection {
    //! Kept in its own private module: the derive generates undocumented public helper items,
    //! and only the enum is re-exported.

    use diesel::{PgConnection, SqliteConnection};

    /// A connection to either database; queries written once run on both.
    #[derive(diesel::MultiConnection)]
    pub enum DbConnection {
        /// PostgreSQL, for deployments with several nodes.
        Postgresql(PgConnection),
        /// SQLite, the embedded default.
        Sqlite(SqliteConnection),
    }
}

pub use config::{DatabaseConfig, DatabaseUrl, redact_url_password};
pub use connection::DbConnection;
use lock::with_advisory_lock;
use pool::ConnectionManager;
pub(crate) use retry::DbError;
use retry::is_retryable;

/// The metadata store on SQLite or PostgreSQL.
#[derive(Clone)]
pub struct DieselStore {
    pool: r2d2::Pool<ConnectionManager>,
    backend: &'static str,
    /// Tells this store's (and its clones') open read scope from another store's on the same
    /// thread: the address of this allocation.
    scope_key: Arc<()>,
}

impl fmt::Debug for DieselStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DieselStore")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl DieselStore {
    /// Connects, checks the database answers, and runs pending migrations. Fails with one
    /// clear message on a bad URL or an unreachable database.
    pub fn open(config: &DatabaseConfig) -> Result<Self, StoreError> {
        let url: DatabaseUrl = config.url.parse()?;
        if let DatabaseUrl::Sqlite(path) = &url
            && let Some(parent) = Path::new(path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|error| {
                StoreError::Invalid(format!(
                    "cannot create the directory of SQLite database {path}: {error}"
                ))
            })?;
        }
        let backend = url.backend();
        let manager = ConnectionManager {
            url,
            busy_timeout_ms: config.sqlite_busy_timeout_ms,
        };
        let pool = r2d2::Pool::builder()
            .max_size(config.max_connections.max(1))
            // Connections open on demand only: a background thread opening one while the process
            // exits races libpq's and OpenSSL's exit handlers (a segfault seen with the CLI).
            .min_idle(Some(0))
            .connection_timeout(Duration::from_millis(config.acquire_timeout_ms.max(1)))
            .build(manager)
            .map_err(|error| StoreError::Unavailable {
                message: error.to_string(),
                source: Some(Box::new(error)),
            })?;
        let store = Self {
            pool,
            backend,
            scope_key: Arc::new(()),
        };
        store.run_migrations()?;
        Ok(store)
    }

    /// Which backend this store uses: `sqlite` or `postgres`.
    #[must_use]
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Connections in use and idle, for metrics.
    #[must_use]
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (
            state.connections - state.idle_connections,
            state.idle_connections,
        )
    }

    /// Checks that the database answers a trivial query on a pooled connection, for a readiness
    /// probe; waits at most the pool's acquire timeout for a connection.
    pub fn ping(&self) -> Result<(), StoreError> {
        use diesel::RunQueryDsl as _;
        let mut connection = self.connection()?;
        diesel::sql_query("SELECT 1")
            .execute(&mut *connection)
            .map(drop)
            .map_err(|error| StoreError::Unavailable {
                message: format!("the database does not answer: {error}"),
                source: Some(Box::new(error)),
            })
    }

    /// Applies every pending migration of this backend's folder. On PostgreSQL, nodes starting
    /// together serialize on an advisory lock, so only one of them migrates.
    pub fn run_migrations(&self) -> Result<(), StoreError> {
        let mut connection = self.connection()?;
        let result = match &mut *connection {
            DbConnection::Sqlite(connection) => connection
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|_| ()),
            DbConnection::Postgresql(connection) => with_advisory_lock(connection, |connection| {
                connection
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|_| ())
            }),
        };
        result.map_err(|error| StoreError::Backend {
            message: "cannot apply migrations".to_owned(),
            source: error,
        })
    }

    /// Runs `work` while holding the database-wide start-up lock (a PostgreSQL advisory lock on
    /// a connection of its own; nothing on SQLite, whose writers serialize anyway), so that
    /// one-time set-up such as the first start's bootstrap runs on one node at a time.
    pub fn exclusive<T>(&self, work: impl FnOnce() -> T) -> Result<T, StoreError> {
        let mut connection = self.connection()?;
        match &mut *connection {
            DbConnection::Sqlite(_) => Ok(work()),
            DbConnection::Postgresql(connection) => with_advisory_lock(connection, |_| Ok(work()))
                .map_err(|error| StoreError::Unavailable {
                    message: "cannot take the start-up lock".to_owned(),
                    source: Some(error),
                }),
        }
    }

    /// Reverts the newest `count` applied migrations, or all of them with `None` (for tests of
    /// the down migrations).
    #[doc(hidden)]
    pub fn revert_migrations(&self, count: Option<usize>) -> Result<(), StoreError> {
        fn revert<C: MigrationHarness<B>, B: diesel::backend::Backend>(
            connection: &mut C,
            migrations: fn() -> EmbeddedMigrations,
            count: Option<usize>,
        ) -> diesel::migration::Result<()> {
            match count {
                None => connection.revert_all_migrations(migrations()).map(drop),
                Some(count) => (0..count)
                    .try_for_each(|_| connection.revert_last_migration(migrations()).map(drop)),
            }
        }
        let mut connection = self.connection()?;
        let result = match &mut *connection {
            DbConnection::Sqlite(connection) => revert(connection, || SQLITE_MIGRATIONS, count),
            DbConnection::Postgresql(connection) => {
                revert(connection, || POSTGRES_MIGRATIONS, count)
            }
        };
        result.map_err(|error| StoreError::Backend {
            message: "cannot revert migrations".to_owned(),
            source: error,
        })
    }

    /// Runs `work` on a pooled connection, outside any transaction (tests and introspection).
    #[doc(hidden)]
    pub fn with_connection<T>(
        &self,
        work: impl FnOnce(&mut DbConnection) -> T,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection()?;
        Ok(work(&mut connection))
    }

    fn connection(&self) -> Result<r2d2::PooledConnection<ConnectionManager>, StoreError> {
        self.pool.get().map_err(|error| StoreError::Unavailable {
            message: format!("no database connection: {error}"),
            source: Some(Box::new(error)),
        })
    }

    /// Runs a writing `work` in a transaction, again when it lost a race with a concurrent
    /// writer. On PostgreSQL it runs at READ COMMITTED: writers serialize on row locks (see
    /// `packages`) and each statement after a lock sees what the previous holder committed.
    fn transaction<T>(
        &self,
        work: impl FnMut(&mut DbConnection) -> Result<T, DbError>,
    ) -> Result<T, StoreError> {
        debug_assert!(
            !self.in_inline_scope(),
            "a write inside an inline read scope would make an async worker wait for the database"
        );
        self.run(false, work)
    }

    /// Runs a reading `work` in a transaction that sees one snapshot throughout (REPEATABLE READ,
    /// READ ONLY on PostgreSQL; SQLite's deferred transactions already do), so a read never mixes
    /// states from before and after a concurrent commit.
    fn read<T>(
        &self,
        work: impl FnMut(&mut DbConnection) -> Result<T, DbError>,
    ) -> Result<T, StoreError> {
        self.run(true, work)
    }

    fn run<T>(
        &self,
        snapshot: bool,
        mut work: impl FnMut(&mut DbConnection) -> Result<T, DbError>,
    ) -> Result<T, StoreError> {
        if snapshot && let Some(result) = self.in_open_scope(&mut work) {
            return result;
        }
        let mut pooled = self.connection()?;
        let connection: &mut DbConnection = &mut pooled;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = in_transaction(connection, snapshot, &mut work);
            match outcome {
                Ok(value) => return Ok(value),
                Err(DbError::Diesel(error)) if is_retryable(&error) => {
                    if attempt >= MAX_ATTEMPTS {
                        return Err(StoreError::Busy {
                            source: Some(Box::new(error)),
                        });
                    }
                    // Back off a little, more each time, so racing writers stop colliding.
                    thread::sleep(Duration::from_millis(u64::from(attempt * attempt)));
                }
                Err(error) => return Err(error.into_store()),
            }
        }
    }
}

/// Opens a transaction on `connection`: a snapshot for reading (`snapshot`) or one for writing.
///
/// On PostgreSQL a snapshot is `REPEATABLE READ, READ ONLY`, named in the `BEGIN` itself so that
/// it costs one round trip, not a `BEGIN` and a `SET TRANSACTION`; SQLite's deferred transactions
/// already read one snapshot. A write on PostgreSQL runs at READ COMMITTED (see
/// [`DieselStore::transaction`]).
///
/// A write on SQLite begins with `BEGIN IMMEDIATE`, which takes the write lock up front:
/// concurrent writers then queue on it for up to `busy_timeout`. A deferred `BEGIN` reads first
/// and upgrades to writing later, and SQLite refuses that upgrade at once with `SQLITE_BUSY`
/// (without waiting, to avoid a deadlock) whenever another writer is active, so a handful of
/// parallel uploads could exhaust the retries and answer 503.
///
/// Both special forms go to the backend connection's own transaction manager, which the
/// multi-connection's manager delegates to, so commit and rollback work as for a plain `BEGIN`.
fn begin(connection: &mut DbConnection, snapshot: bool) -> Result<(), DieselError> {
    type Manager = <DbConnection as Connection>::TransactionManager;
    match connection {
        DbConnection::Postgresql(pg) if snapshot => AnsiTransactionManager::begin_transaction_sql(
            pg,
            "BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        ),
        DbConnection::Sqlite(sqlite) if !snapshot => {
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")
        }
        _ => Manager::begin_transaction(connection),
    }
}

/// Runs `work` in a transaction opened by [`begin`]: the same begin, commit and rollback steps
/// as diesel's `Connection::transaction`.
fn in_transaction<T>(
    connection: &mut DbConnection,
    snapshot: bool,
    work: &mut impl FnMut(&mut DbConnection) -> Result<T, DbError>,
) -> Result<T, DbError> {
    type Manager = <DbConnection as Connection>::TransactionManager;
    begin(connection, snapshot)?;
    match work(connection) {
        Ok(value) => {
            Manager::commit_transaction(connection)?;
            Ok(value)
        }
        Err(error) => match Manager::rollback_transaction(connection) {
            Ok(()) | Err(DieselError::BrokenTransactionManager) => Err(error),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

/// The current time in microseconds since the Unix epoch.
pub(crate) fn now_micros() -> i64 {
    RevisionTime::from_system_time(SystemTime::now()).map_or(0, RevisionTime::unix_micros)
}

/// Converts stored microseconds back to a time; a value out of range is corruption.
pub(crate) fn time_of(micros: i64) -> Result<RevisionTime, DbError> {
    RevisionTime::from_unix_micros(micros)
        .map_err(|error| DbError::Store(StoreError::Corrupt(error.to_string())))
}

/// Parses a stored value back into its domain type; a value that no longer parses is corruption.
pub(crate) fn parse_stored<T>(text: &str) -> Result<T, DbError>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    text.parse()
        .map_err(|error: T::Err| DbError::Store(StoreError::Corrupt(format!("{text:?}: {error}"))))
}
