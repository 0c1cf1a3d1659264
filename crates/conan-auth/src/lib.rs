#![doc = include_str!("../README.md")]

pub mod admin;
mod authenticator;
mod cache;
mod config;
mod credentials;
pub mod jwt;
pub mod limiter;
mod lookup;
pub mod password;
pub mod policy;
mod principal;
pub mod session;
pub mod token;
pub mod virtuals;

pub use authenticator::{Authenticator, IssuedToken};
pub use config::AuthConfig;
pub use credentials::Credentials;
pub use policy::{Action, Decision, decide, may_see_statistics, protect};
pub use principal::{Principal, Source};
pub use session::IssuedSession;
pub use token::{Access, Scope};
pub use virtuals::Resolved;

use conan_store::StoreError;

/// Why an identity operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Login credentials (user name and password or token) do not check out, or the
    /// `Authorization` header is malformed. Maps to 401.
    #[error("Wrong user or password")]
    InvalidCredentials,
    /// A bearer token is forged, expired, signed with an unknown key, or derived from a revoked
    /// token or a disabled user. Maps to 401; the reason is deliberately not told.
    #[error("invalid or expired token")]
    InvalidToken,
    /// Input an administrator gave is invalid; the message says how.
    #[error("{0}")]
    Invalid(String),
    /// Something an administrator named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Too many failed logins for the user name or from the client address: the attempt was
    /// refused without checking the credentials. Maps to 429 with `Retry-After`.
    #[error("too many failed login attempts; retry in {retry_after_secs} seconds")]
    RateLimited {
        /// Seconds until the attempt may be made again.
        retry_after_secs: u64,
    },
    /// Something that should never fail did (no randomness, no signing key).
    #[error("{0}")]
    Internal(String),
}
