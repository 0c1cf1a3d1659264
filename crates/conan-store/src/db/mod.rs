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

mod files;
mod identity;
mod lookup;
mod maintenance;
mod packages;
mod recipes;
pub(crate) mod schema;
mod search;

use std::cell::RefCell;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager as _};
use diesel::r2d2::R2D2Connection as _;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::{ReadScope, StoreError};
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

pub use connection::DbConnection;

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

/// Opens connections for the pool, dispatching on the URL's scheme (never guessing).
#[derive(Debug)]
struct ConnectionManager {
    url: DatabaseUrl,
    busy_timeout_ms: u64,
}

/// A connection could not be opened or checked.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ConnectError(String);

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

/// The key of the PostgreSQL advisory lock that start-up work (migrations, bootstrap) holds.
const STARTUP_LOCK_KEY: i64 = 0x636f_6e61_6e72_6567; // "conanreg"

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `work` while `connection` holds the start-up advisory lock, releasing it afterwards
/// whatever `work` returned (the lock also ends with the session if the process dies).
fn with_advisory_lock<T>(
    connection: &mut PgConnection,
    work: impl FnOnce(&mut PgConnection) -> Result<T, BoxError>,
) -> Result<T, BoxError> {
    use diesel::RunQueryDsl as _;
    diesel::sql_query(format!("SELECT pg_advisory_lock({STARTUP_LOCK_KEY})"))
        .execute(connection)?;
    let result = work(connection);
    let unlocked = diesel::sql_query(format!("SELECT pg_advisory_unlock({STARTUP_LOCK_KEY})"))
        .execute(connection);
    let value = result?;
    unlocked?;
    Ok(value)
}

/// The metadata store on SQLite or PostgreSQL.
#[derive(Clone)]
pub struct DieselStore {
    pool: r2d2::Pool<ConnectionManager>,
    backend: &'static str,
    /// Tells this store's (and its clones') open read scope from another store's on the same
    /// thread: the address of this allocation.
    scope_key: Arc<()>,
}

/// A read scope open on this thread (see [`ReadScope`]): the connection holding its snapshot
/// and the store it belongs to.
struct OpenScope {
    key: usize,
    connection: r2d2::PooledConnection<ConnectionManager>,
    /// The identity epoch of the snapshot, once read (it cannot change within one).
    identity_epoch: Option<i64>,
    /// Opened by [`ReadScope::read_scope_now`] on a thread that must not wait (an async
    /// worker): a personal token's last-use update from inside it goes to the blocking pool,
    /// and any other write is a bug (see `transaction`).
    inline: bool,
}

thread_local! {
    static OPEN_SCOPE: RefCell<Option<OpenScope>> = const { RefCell::new(None) };
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

    /// Whether this store's read scope open on this thread was opened inline, on a thread that
    /// must not wait (see [`ReadScope::read_scope_now`]).
    pub(crate) fn in_inline_scope(&self) -> bool {
        self.with_open_scope(|scope| scope.inline).unwrap_or(false)
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

impl DieselStore {
    fn scope_key(&self) -> usize {
        Arc::as_ptr(&self.scope_key) as usize
    }

    /// Runs `work` on this store's read scope open on this thread, if there is one.
    fn with_open_scope<R>(&self, work: impl FnOnce(&mut OpenScope) -> R) -> Option<R> {
        OPEN_SCOPE.with(|cell| {
            let mut open = cell.try_borrow_mut().ok()?;
            let scope = open
                .as_mut()
                .filter(|scope| scope.key == self.scope_key())?;
            Some(work(scope))
        })
    }

    /// Runs a read on the snapshot of this store's read scope open on this thread, if there is
    /// one. A read there is never retried: in a snapshot a read cannot lose a race.
    fn in_open_scope<T>(
        &self,
        work: &mut impl FnMut(&mut DbConnection) -> Result<T, DbError>,
    ) -> Option<Result<T, StoreError>> {
        self.with_open_scope(|scope| work(&mut scope.connection).map_err(DbError::into_store))
    }

    /// The identity epoch: from this store's read scope open on this thread, read at most once
    /// per scope (a snapshot's epoch cannot change); otherwise read in a transaction of its own.
    pub(crate) fn identity_epoch_once(
        &self,
        load: impl Fn(&mut DbConnection) -> Result<i64, DbError>,
    ) -> Result<i64, StoreError> {
        let scoped = self.with_open_scope(|scope| {
            if let Some(epoch) = scope.identity_epoch {
                return Ok(epoch);
            }
            let epoch = load(&mut scope.connection).map_err(DbError::into_store);
            scope.identity_epoch = epoch.as_ref().ok().copied();
            epoch
        });
        scoped.unwrap_or_else(|| self.read(load))
    }
}

impl ReadScope for DieselStore {
    fn read_scope(&self, work: &mut dyn FnMut()) -> Result<(), StoreError> {
        if self.has_open_scope() {
            work();
            return Ok(());
        }
        let connection = self.connection()?;
        self.open_scope(connection, false, work)
    }

    fn read_scope_now(&self, work: &mut dyn FnMut()) -> Option<Result<(), StoreError>> {
        // A PostgreSQL read waits for round trips to the server; only an embedded database's
        // reads are work this thread does itself.
        if self.backend != "sqlite" {
            return None;
        }
        if self.has_open_scope() {
            work();
            return Some(Ok(()));
        }
        let connection = self.pool.try_get()?;
        Some(self.open_scope(connection, true, work))
    }
}

impl DieselStore {
    /// Whether this store's read scope is open on this thread (or the thread-local is busy,
    /// which only a scope in progress makes it).
    fn has_open_scope(&self) -> bool {
        OPEN_SCOPE.with(|cell| {
            cell.try_borrow().map_or(true, |open| {
                open.as_ref()
                    .is_some_and(|scope| scope.key == self.scope_key())
            })
        })
    }

    /// Opens a read scope on `connection` for `work` and closes it after.
    fn open_scope(
        &self,
        mut connection: r2d2::PooledConnection<ConnectionManager>,
        inline: bool,
        work: &mut dyn FnMut(),
    ) -> Result<(), StoreError> {
        begin(&mut connection, true).map_err(|error| DbError::from(error).into_store())?;
        let outer = OPEN_SCOPE.with(|cell| {
            cell.borrow_mut().replace(OpenScope {
                key: self.scope_key(),
                connection,
                identity_epoch: None,
                inline,
            })
        });
        // Ends the snapshot and puts back what was there (another store's scope) even if
        // `work` panics.
        let _close = CloseScope(outer);
        work();
        Ok(())
    }
}

/// Closes the read scope open on this thread when dropped, restoring the one it replaced.
/// Ending a read-only transaction cannot undo anything read in it; if it fails, the connection
/// is broken and the pool discards it on return.
struct CloseScope(Option<OpenScope>);

impl Drop for CloseScope {
    fn drop(&mut self) {
        type Manager = <DbConnection as Connection>::TransactionManager;
        let outer = self.0.take();
        let closed = OPEN_SCOPE.with(|cell| {
            cell.try_borrow_mut()
                .ok()
                .and_then(|mut open| std::mem::replace(&mut *open, outer))
        });
        if let Some(mut scope) = closed {
            let _ = Manager::commit_transaction(&mut *scope.connection);
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

/// The error inside a transaction: either ours, or diesel's (which may be retried).
#[derive(Debug)]
pub(crate) enum DbError {
    Store(StoreError),
    Diesel(DieselError),
}

impl From<DieselError> for DbError {
    fn from(error: DieselError) -> Self {
        Self::Diesel(error)
    }
}

impl From<StoreError> for DbError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl DbError {
    fn into_store(self) -> StoreError {
        match self {
            Self::Store(error) => error,
            Self::Diesel(error) if is_connection_lost(&error) => StoreError::Unavailable {
                message: "the connection to the database was lost".to_owned(),
                source: Some(Box::new(error)),
            },
            Self::Diesel(error) => StoreError::Backend {
                message: "query failed".to_owned(),
                source: Box::new(error),
            },
        }
    }
}

/// Whether `error` says the database went away (a server stopped or restarted, a network
/// failure) rather than that the query was wrong: such failures are [`StoreError::Unavailable`],
/// answered with 503, and the next request gets a fresh connection.
fn is_connection_lost(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        )
        | DieselError::BrokenTransactionManager => true,
        DieselError::DatabaseError(_, info) => {
            // PostgreSQL's shutdown and restart messages (SQLSTATE 57P01 to 57P03), which can
            // arrive before libpq marks the connection bad.
            let message = info.message();
            message.contains("terminating connection due to administrator command")
                || message.contains("the database system is shutting down")
                || message.contains("the database system is starting up")
                || message.contains("server closed the connection unexpectedly")
        }
        DieselError::RollbackErrorOnCommit {
            rollback_error,
            commit_error,
        } => is_connection_lost(rollback_error) || is_connection_lost(commit_error),
        _ => false,
    }
}

/// Whether a failed transaction lost a race and should simply run again.
fn is_retryable(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation
            | DatabaseErrorKind::SerializationFailure
            | DatabaseErrorKind::ForeignKeyViolation,
            _,
        ) => true,
        DieselError::DatabaseError(_, info) => {
            let message = info.message();
            message.contains("database is locked")
                || message.contains("database table is locked")
                || message.contains("deadlock detected")
        }
        _ => false,
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
