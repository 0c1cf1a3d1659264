//! Errors inside a transaction, and which of diesel's errors mean "run it again" or "the
//! connection is gone".

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::StoreError;

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
    pub(super) fn into_store(self) -> StoreError {
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
pub(super) fn is_retryable(error: &DieselError) -> bool {
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
