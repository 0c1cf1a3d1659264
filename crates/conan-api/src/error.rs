//! The one mapping from library errors to HTTP statuses and GitLab's structured error bodies.
//!
//! Every error answer is `Content-Type: application/json` with
//! `{"message":"404 Package Not Found","errors":[{"status":404,"message":"Package Not Found"}]}`:
//! GitLab's `message` plus the `errors` array that the Conan client turns into a readable
//! `404: Package Not Found` (it reads that array only when the type is exactly
//! `application/json`).

use std::error::Error as StdError;
use std::fmt;

use actix_web::error::BlockingError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use conan_auth::AuthError;
use conan_model::{ReferenceError, SearchPatternError};
use conan_store::StoreError;
use conan_store::backups::BackupError;
use conan_store::blob::BlobError;
use conan_store::transfer::TransferError;

/// A boxed cause, kept as the `source()` of an [`ApiError`] so logs show the whole chain.
type Source = Box<dyn StdError + Send + Sync + 'static>;

/// The challenge `users/authenticate` sends with a 401 when no Basic credentials came, as the
/// reference server does (the Conan client never reads it; `curl` and browsers do).
const LOGIN_CHALLENGE: &str = "Basic realm=\"Login Required\"";

/// An error answer of the Conan API: a status, GitLab's message, and the cause for the log.
///
/// Built from the library errors through `From` (the single mapping: see the crate README's
/// table) or from the constructors, which handlers use for GitLab's fixed messages.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 400: the request is malformed; the text names the parameter or header.
    #[error("400 Bad request - {message}")]
    BadRequest {
        /// What is wrong, such as `invalid package name "x": ...`.
        message: String,
        /// The parser's error, if any.
        #[source]
        source: Option<Source>,
    },
    /// 401: no usable credentials; logging in may help.
    #[error("401 Unauthorized{}", .reason.map(|reason| format!(" - {reason}")).unwrap_or_default())]
    Unauthorized {
        /// A detail after `401 Unauthorized - `, such as `Wrong user or password`.
        reason: Option<&'static str>,
        /// Whether to send `WWW-Authenticate: Basic realm="Login Required"`.
        challenge: bool,
    },
    /// 403: authenticated, may see the project, may not do this.
    #[error("403 Forbidden")]
    Forbidden,
    /// 403: may upload to the project, but a package protection rule covers this package.
    #[error("403 Forbidden - Package protected.")]
    PackageProtected,
    /// 403: may delete in the project, but a package protection rule covers this package.
    #[error("403 Forbidden - Package is deletion protected.")]
    DeletionProtected,
    /// 404: something does not exist (or may not be seen); `what` is GitLab's text, such as
    /// `Package Not Found`.
    #[error("404 {what}")]
    NotFound {
        /// What is missing.
        what: String,
    },
    /// 403: an upload or a delete through a virtual project that has no deploy member; the
    /// virtual project holds no packages itself, so there is nowhere to write. A 403 and not a
    /// 405, because the Conan client shows a 403's message and retries a 405 in silence.
    #[error(
        "403 Forbidden - this virtual project has no deploy member; upload to a member project, \
         or ask an administrator to set one (`conan-registry virtual deploy`)"
    )]
    NoDeployMember,
    /// 403: an upload to a remote project, which only caches its upstream. A 403 and not a 405
    /// for the reason [`NoDeployMember`](Self::NoDeployMember) gives.
    #[error(
        "403 Forbidden - this is a remote project, a read-only cache of {host}; upload to the \
         upstream instead"
    )]
    RemoteProject {
        /// The upstream's host (never its credentials).
        host: String,
    },
    /// 502 or 504: a remote project's upstream was needed and could not answer (504: it did not
    /// answer in time or cannot be reached; 502: it failed or answered wrongly). The message
    /// names the upstream's host and the reason, never its credentials.
    #[error("{} Upstream Error - the upstream {host} {reason}", if *.timeout { 504 } else { 502 })]
    Upstream {
        /// The upstream's host.
        host: String,
        /// Why, such as `did not answer in time`.
        reason: String,
        /// Whether it is a 504 (timeout, unreachable) rather than a 502.
        timeout: bool,
    },
    /// 409: different content for an immutable file of a committed revision (GitLab has no such
    /// case: it piles up duplicates instead).
    #[error("409 Conflict - {message}")]
    Conflict {
        /// What conflicts.
        message: String,
    },
    /// 411: an upload `PUT` over HTTP/1 with neither `Content-Length` nor chunked encoding,
    /// whose body would silently be empty.
    #[error("411 Length Required - an upload needs a Content-Length header or chunked encoding")]
    LengthRequired,
    /// 416: a `Range` outside the file; answered with `Content-Range: bytes */{size}`.
    #[error("416 Range Not Satisfiable")]
    RangeNotSatisfiable {
        /// The file's size.
        size: u64,
    },
    /// 429: too many failed logins for the user name or from the client address; answered with
    /// `Retry-After`.
    #[error(
        "429 Too Many Requests - too many failed login attempts, retry in {retry_after_secs} seconds"
    )]
    TooManyRequests {
        /// Seconds until a login may be tried again.
        retry_after_secs: u64,
    },
    /// 503: the metadata database is unavailable or too busy; retrying later works. The client
    /// learns which part failed; the cause goes to the log.
    #[error("503 Service Unavailable - {message}")]
    Unavailable {
        /// What failed, for the log.
        message: String,
        /// The cause.
        #[source]
        source: Option<Source>,
    },
    /// 507: the blob store has no space left for an upload; nothing was stored. Not retried by
    /// clients, unlike a 503: an operator has to free or add space first.
    #[error("507 Insufficient Storage - the package file storage is full")]
    InsufficientStorage {
        /// The cause, for the log.
        #[source]
        source: Option<Source>,
    },
    /// 500: a server-side failure; the details go to the log, never to the client.
    #[error("500 Internal Server Error")]
    Internal {
        /// What failed, for the log.
        message: String,
        /// The cause.
        #[source]
        source: Option<Source>,
    },
}

impl ApiError {
    /// A 400 with `message` and no cause.
    #[must_use]
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
            source: None,
        }
    }

    /// A 400 whose message is a parser's error, which stays its cause.
    pub(crate) fn invalid(error: impl StdError + Send + Sync + 'static) -> Self {
        Self::BadRequest {
            message: error.to_string(),
            source: Some(Box::new(error)),
        }
    }

    /// The plain `401 Unauthorized` of data routes.
    #[must_use]
    pub fn unauthorized() -> Self {
        Self::Unauthorized {
            reason: None,
            challenge: false,
        }
    }

    /// A 404 with GitLab's text, such as `Package Not Found`.
    #[must_use]
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }

    /// `404 Project Not Found`: the project does not exist or the caller may not see it.
    #[must_use]
    pub fn project_not_found() -> Self {
        Self::not_found("Project Not Found")
    }

    /// A 500 with a cause, for the log.
    pub(crate) fn internal(
        message: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        Self::Internal {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A 500 without a cause: an invariant of this crate broke (a route without its parameter).
    pub(crate) fn bug(message: impl Into<String>) -> Self {
        Self::Internal {
            message: message.into(),
            source: None,
        }
    }

    /// The text after the status code, as GitLab's `errors[].message` carries it.
    fn short_message(&self) -> String {
        let full = self.to_string();
        match full.split_once(' ') {
            Some((code, rest)) if code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) => {
                rest.to_owned()
            }
            _ => full,
        }
    }

    /// What failed, for the log of a 5xx (when the status line does not say it already).
    fn log_message(&self) -> Option<&str> {
        match self {
            Self::Internal { message, .. } => Some(message),
            _ => None,
        }
    }
}

impl fmt::Debug for ApiError {
    /// The message, then every `source()` in the chain, so a log line says why.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        if let Some(message) = self.log_message() {
            write!(f, ": {message}")?;
        }
        let mut source = self.source();
        while let Some(cause) = source {
            write!(f, "\n  caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden
            | Self::PackageProtected
            | Self::DeletionProtected
            | Self::NoDeployMember
            | Self::RemoteProject { .. } => StatusCode::FORBIDDEN,
            Self::Upstream { timeout: true, .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::Upstream { .. } => StatusCode::BAD_GATEWAY,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::LengthRequired => StatusCode::LENGTH_REQUIRED,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::InsufficientStorage { .. } => StatusCode::INSUFFICIENT_STORAGE,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = ?self, "Conan API request failed");
        }
        let body = serde_json::json!({
            "message": self.to_string(),
            "errors": [{ "status": status.as_u16(), "message": self.short_message() }],
        });
        let mut response = HttpResponse::build(status);
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ));
        match self {
            Self::Unauthorized {
                challenge: true, ..
            } => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(LOGIN_CHALLENGE),
                ));
            }
            Self::RangeNotSatisfiable { size } => {
                response.insert_header((header::CONTENT_RANGE, format!("bytes */{size}")));
            }
            // The Conan client's transport honours Retry-After on a 503.
            Self::Unavailable { .. } => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            Self::TooManyRequests { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            _ => {}
        }
        response.body(body.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => Self::NotFound { what },
            StoreError::Conflict(message) => Self::Conflict { message },
            StoreError::Invalid(message) => Self::bad_request(message),
            error @ StoreError::Unavailable { .. } => Self::Unavailable {
                message: "the metadata database is unavailable, retry later".to_owned(),
                source: Some(Box::new(error)),
            },
            error @ StoreError::Busy { .. } => Self::Unavailable {
                message: "the metadata database is busy, retry later".to_owned(),
                source: Some(Box::new(error)),
            },
            error => Self::internal("the metadata store failed", error),
        }
    }
}

impl From<BlobError> for ApiError {
    fn from(error: BlobError) -> Self {
        match error {
            // GitLab answers an oversized file with a 400 too, which the client does not retry.
            BlobError::TooLarge { .. } => Self::BadRequest {
                message: format!("file too large: {error}"),
                source: Some(Box::new(error)),
            },
            BlobError::Body { .. } => Self::BadRequest {
                message: "the request body could not be read to its end".to_owned(),
                source: Some(Box::new(error)),
            },
            BlobError::RangeNotSatisfiable { size, .. } => Self::RangeNotSatisfiable { size },
            error if is_out_of_space(&error) => Self::InsufficientStorage {
                source: Some(Box::new(error)),
            },
            error if error.is_unreachable() => Self::Unavailable {
                message: "the package file storage is unavailable, retry later".to_owned(),
                source: Some(Box::new(error)),
            },
            // Every other case is the server's: a file row whose blob is missing, a staging
            // object purged too early, a failing backend.
            error => Self::internal("the blob store failed", error),
        }
    }
}

impl From<TransferError> for ApiError {
    fn from(error: TransferError) -> Self {
        match error {
            TransferError::Store(error) => error.into(),
            TransferError::Blob(error) => error.into(),
            error @ TransferError::ChecksumMismatch { .. } => Self::invalid(error),
            error => Self::internal("storing the file failed", error),
        }
    }
}

impl From<BackupError> for ApiError {
    fn from(error: BackupError) -> Self {
        match error {
            BackupError::Transfer(error) => error.into(),
            error @ (BackupError::HashMismatch { .. } | BackupError::InvalidSummary(_)) => {
                Self::invalid(error)
            }
            error => Self::internal("storing the backup failed", error),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidCredentials | AuthError::InvalidToken => Self::unauthorized(),
            AuthError::Invalid(message) => Self::bad_request(message),
            AuthError::NotFound(what) => Self::NotFound { what },
            AuthError::Store(error) => error.into(),
            AuthError::RateLimited { retry_after_secs } => {
                Self::TooManyRequests { retry_after_secs }
            }
            error => Self::internal("authentication failed", error),
        }
    }
}

/// Whether `error` comes from a full disk or an exhausted quota anywhere in its `source()` chain
/// (the file-system backend wraps the operating system's error a few levels deep).
fn is_out_of_space(error: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(cause) = current {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            )
        {
            return true;
        }
        current = cause.source();
    }
    false
}

impl From<ReferenceError> for ApiError {
    fn from(error: ReferenceError) -> Self {
        Self::invalid(error)
    }
}

impl From<SearchPatternError> for ApiError {
    fn from(error: SearchPatternError) -> Self {
        Self::invalid(error)
    }
}

impl From<BlockingError> for ApiError {
    fn from(error: BlockingError) -> Self {
        Self::internal("a blocking storage task did not finish", error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;

    use super::*;

    async fn body_of(error: &ApiError) -> (StatusCode, serde_json::Value, HttpResponse) {
        let response = error.error_response();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body()).await.unwrap();
        let mut rebuilt = HttpResponse::build(status);
        for (name, value) in &headers {
            rebuilt.insert_header((name.clone(), value.clone()));
        }
        (
            status,
            serde_json::from_slice(&bytes).unwrap(),
            rebuilt.finish(),
        )
    }

    #[actix_web::test]
    async fn gitlab_structured_bodies() {
        let (status, body, response) = body_of(&ApiError::not_found("Package Not Found")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body,
            serde_json::json!({
                "message": "404 Package Not Found",
                "errors": [{"status": 404, "message": "Package Not Found"}]
            })
        );
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/json"
        );

        let (_, body, _) = body_of(&ApiError::bad_request("invalid package name")).await;
        assert_eq!(body["message"], "400 Bad request - invalid package name");
        assert_eq!(
            body["errors"][0]["message"],
            "Bad request - invalid package name"
        );

        let (status, body, response) = body_of(&ApiError::Unauthorized {
            reason: Some("Wrong user or password"),
            challenge: true,
        })
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["message"], "401 Unauthorized - Wrong user or password");
        assert_eq!(
            response.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            LOGIN_CHALLENGE
        );

        let (status, _, response) = body_of(&ApiError::RangeNotSatisfiable { size: 12 }).await;
        assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(
            response.headers().get(header::CONTENT_RANGE).unwrap(),
            "bytes */12"
        );
    }

    #[actix_web::test]
    async fn server_errors_hide_details_and_debug_shows_the_chain() {
        let error = ApiError::from(StoreError::Corrupt("row 7 does not parse".to_owned()));
        let (status, body, _) = body_of(&error).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["message"], "500 Internal Server Error");
        let debug = format!("{error:?}");
        assert!(debug.contains("the metadata store failed"), "{debug}");
        assert!(
            debug.contains("caused by: corrupt metadata: row 7"),
            "{debug}"
        );

        let busy = ApiError::from(StoreError::Busy { source: None });
        let (status, body, response) = body_of(&busy).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
        assert_eq!(
            body["message"],
            "503 Service Unavailable - the metadata database is busy, retry later"
        );

        // The client learns that the database is down, never where it is.
        let down = ApiError::from(AuthError::Store(StoreError::Unavailable {
            message: "cannot connect to postgres://registry:***@db.internal/registry".into(),
            source: None,
        }));
        let (status, body, _) = body_of(&down).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body["message"],
            "503 Service Unavailable - the metadata database is unavailable, retry later"
        );
        assert!(
            format!("{down:?}").contains("db.internal"),
            "the log has it"
        );
    }

    /// A backend error that wraps the operating system's, as `object_store` does.
    #[derive(Debug, thiserror::Error)]
    #[error("Unable to copy data to file: {source}")]
    struct Wrapped {
        source: std::io::Error,
    }

    #[actix_web::test]
    async fn rate_limited_logins_and_full_storage() {
        let (status, body, response) = body_of(
            &AuthError::RateLimited {
                retry_after_secs: 42,
            }
            .into(),
        )
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "42");
        assert_eq!(
            body,
            serde_json::json!({
                "message": "429 Too Many Requests - too many failed login attempts, retry in 42 seconds",
                "errors": [{
                    "status": 429,
                    "message": "Too Many Requests - too many failed login attempts, retry in 42 seconds"
                }]
            })
        );

        let full = BlobError::Backend {
            operation: "write",
            key: "staging/x".into(),
            source: Box::new(Wrapped {
                source: std::io::Error::from_raw_os_error(28),
            }),
        };
        let (status, body, _) = body_of(&TransferError::Blob(full).into()).await;
        assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(
            body["message"],
            "507 Insufficient Storage - the package file storage is full"
        );
        let quota = BlobError::Io {
            action: "fsync",
            path: "/blobs/x".into(),
            source: std::io::ErrorKind::QuotaExceeded.into(),
        };
        assert_eq!(
            ApiError::from(quota).status_code(),
            StatusCode::INSUFFICIENT_STORAGE
        );
        // An unreachable store is an outage: 503 with Retry-After, like the database's.
        let down = BlobError::Backend {
            operation: "put",
            key: "staging/x".into(),
            source: Box::new(Wrapped {
                source: std::io::ErrorKind::ConnectionRefused.into(),
            }),
        };
        let (status, body, response) = body_of(&TransferError::Blob(down).into()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body["message"],
            "503 Service Unavailable - the package file storage is unavailable, retry later"
        );
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
        // Other backend failures stay 500.
        let other = BlobError::Backend {
            operation: "write",
            key: "staging/x".into(),
            source: Box::new(Wrapped {
                source: std::io::ErrorKind::PermissionDenied.into(),
            }),
        };
        assert_eq!(
            ApiError::from(other).status_code(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn library_errors_map_once() {
        let cases: Vec<(ApiError, StatusCode)> = vec![
            (
                StoreError::NotFound("x".into()).into(),
                StatusCode::NOT_FOUND,
            ),
            (
                StoreError::Conflict("x".into()).into(),
                StatusCode::CONFLICT,
            ),
            (
                StoreError::Invalid("x".into()).into(),
                StatusCode::BAD_REQUEST,
            ),
            (
                StoreError::Unavailable {
                    message: "x".into(),
                    source: None,
                }
                .into(),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                BlobError::TooLarge { limit: 1 }.into(),
                StatusCode::BAD_REQUEST,
            ),
            (
                BlobError::RangeNotSatisfiable {
                    start: 5,
                    end: 6,
                    size: 2,
                }
                .into(),
                StatusCode::RANGE_NOT_SATISFIABLE,
            ),
            (
                TransferError::ChecksumMismatch {
                    expected: "a".into(),
                    actual: "b".into(),
                }
                .into(),
                StatusCode::BAD_REQUEST,
            ),
            (
                TransferError::Task("x".into()).into(),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (AuthError::InvalidToken.into(), StatusCode::UNAUTHORIZED),
            (
                AuthError::InvalidCredentials.into(),
                StatusCode::UNAUTHORIZED,
            ),
            (
                AuthError::Internal("x".into()).into(),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                AuthError::RateLimited {
                    retry_after_secs: 1,
                }
                .into(),
                StatusCode::TOO_MANY_REQUESTS,
            ),
            (ApiError::LengthRequired, StatusCode::LENGTH_REQUIRED),
        ];
        for (error, status) in cases {
            assert_eq!(error.status_code(), status, "{error:?}");
        }
    }
}
