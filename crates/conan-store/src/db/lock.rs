//! The PostgreSQL advisory lock that start-up work (migrations, bootstrap) holds.

use diesel::PgConnection;

/// The key of the PostgreSQL advisory lock that start-up work (migrations, bootstrap) holds.
const STARTUP_LOCK_KEY: i64 = 0x636f_6e61_6e72_6567; // "conanreg"

pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `work` while `connection` holds the start-up advisory lock, releasing it afterwards
/// whatever `work` returned (the lock also ends with the session if the process dies).
pub(super) fn with_advisory_lock<T>(
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
