//! The error every storage trait returns.

use std::error::Error as StdError;

/// A boxed error from a backend, kept as the `source()` of a [`StoreError`] so logs show the
/// whole chain while no backend type (diesel, `object_store`) becomes part of this crate's API.
pub type BackendError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Something the operation needs does not exist (for example a package upload whose recipe
    /// revision is not committed). The message names it.
    #[error("{0}")]
    NotFound(String),
    /// The operation contradicts stored state: an immutable file of a committed revision with
    /// different content, or a duplicate project path or user name.
    #[error("{0}")]
    Conflict(String),
    /// Input the store refuses (for example an unknown database URL scheme).
    #[error("{0}")]
    Invalid(String),
    /// The database could not be reached or gave no connection in time. Maps to 503.
    #[error("metadata database unavailable: {message}")]
    Unavailable {
        /// What failed.
        message: String,
        /// The backend's error.
        #[source]
        source: Option<BackendError>,
    },
    /// Concurrent writers kept conflicting past the retry budget. Maps to 503; retrying later works.
    #[error("the metadata database is busy; retry")]
    Busy {
        /// The last conflict.
        #[source]
        source: Option<BackendError>,
    },
    /// Stored data violates an invariant (a row that no longer parses); never the caller's fault.
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
    /// Any other backend failure.
    #[error("metadata database error: {message}")]
    Backend {
        /// What was being done.
        message: String,
        /// The backend's error.
        #[source]
        source: BackendError,
    },
}

impl StoreError {
    /// Whether this is [`StoreError::NotFound`].
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound(_))
    }
}

impl From<conan_model::NamePatternError> for StoreError {
    /// An invalid protection rule pattern is input the store refuses.
    fn from(error: conan_model::NamePatternError) -> Self {
        Self::Invalid(error.to_string())
    }
}
