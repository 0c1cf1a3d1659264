//! The errors of the Packages API, with GitLab's status codes and bodies: `{"message": ...}` for
//! what GitLab's helpers answer, `{"error": ...}` for parameter validation (what Grape answers),
//! so python-gitlab shows the same text it would show against GitLab.

use std::error::Error as StdError;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use conan_auth::AuthError;
use conan_store::StoreError;

/// A cause kept for the log.
type Source = Box<dyn StdError + Send + Sync + 'static>;

/// An error answer of the Packages API.
#[derive(thiserror::Error)]
pub enum RestError {
    /// 400 `{"error": "<param> does not have a valid value"}` and the like: a parameter GitLab
    /// validates before anything runs.
    #[error("{0}")]
    Param(String),
    /// 400 `{"message": "400 Bad request - <reason>"}`.
    #[error("400 Bad request - {0}")]
    BadRequest(String),
    /// 401 `{"message": "401 Unauthorized"}`: credentials that do not check out, or none where
    /// the route needs some.
    #[error("401 Unauthorized")]
    Unauthorized,
    /// 403 `{"message": "403 Forbidden"}`, or `403 Forbidden - <reason>`.
    #[error("403 Forbidden{}", .0.as_ref().map(|reason| format!(" - {reason}")).unwrap_or_default())]
    Forbidden(Option<String>),
    /// 403 with the OAuth body GitLab sends when the token's scope does not cover the method.
    #[error("insufficient_scope")]
    InsufficientScope,
    /// 404 `{"message": "404 <what>"}`, such as `404 Project Not Found`.
    #[error("404 {0}")]
    NotFound(String),
    /// 404 `{"message": "404 Not found"}` (lower-case f): what GitLab answers for a record that
    /// does not exist, such as an unknown package id.
    #[error("404 Not found")]
    RecordNotFound,
    /// 409 `{"message": "409 Conflict - <reason>"}`: the store refused a change that conflicts.
    #[error("409 Conflict - {0}")]
    Conflict(String),
    /// 422 `{"message": {"error": "<reason>"}}`: a rule the service refuses, as GitLab's
    /// protection-rule services answer.
    #[error("{0}")]
    Unprocessable(String),
    /// 503: the database is unavailable or busy (the message says which, as the Conan routes
    /// do); the cause goes to the log.
    #[error("503 Service Unavailable - {message}")]
    Unavailable {
        /// What failed.
        message: &'static str,
        /// The cause.
        #[source]
        source: Source,
    },
    /// 500: a server-side failure; the cause goes to the log, never to the client.
    #[error("500 Internal Server Error")]
    Internal(#[source] Source),
}

impl RestError {
    /// `404 Project Not Found`.
    #[must_use]
    pub fn project_not_found() -> Self {
        Self::NotFound("Project Not Found".to_owned())
    }

    /// `400 {"error": "<param> does not have a valid value"}`.
    #[must_use]
    pub fn invalid_param(name: &str) -> Self {
        Self::Param(format!("{name} does not have a valid value"))
    }

    /// `400 {"error": "<param> is invalid"}`: a value of the wrong type (Grape's coercion error).
    #[must_use]
    pub fn malformed_param(name: &str) -> Self {
        Self::Param(format!("{name} is invalid"))
    }

    /// A 500 from a cause.
    pub fn internal(source: impl Into<Source>) -> Self {
        Self::Internal(source.into())
    }
}

impl fmt::Debug for RestError {
    /// The message, then every `source()` in the chain, so a log line says why.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        let mut source = self.source();
        while let Some(cause) = source {
            write!(f, "\n  caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl From<StoreError> for RestError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(_) => Self::RecordNotFound,
            StoreError::Conflict(message) => Self::Conflict(message),
            StoreError::Invalid(message) => Self::BadRequest(message),
            error @ StoreError::Unavailable { .. } => Self::Unavailable {
                message: "the metadata database is unavailable, retry later",
                source: Box::new(error),
            },
            error @ StoreError::Busy { .. } => Self::Unavailable {
                message: "the metadata database is busy, retry later",
                source: Box::new(error),
            },
            error => Self::internal(error),
        }
    }
}

impl From<AuthError> for RestError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidCredentials | AuthError::InvalidToken => Self::Unauthorized,
            AuthError::Store(error) => error.into(),
            AuthError::Invalid(message) => Self::BadRequest(message),
            AuthError::NotFound(what) => Self::NotFound(what),
            error => Self::internal(error),
        }
    }
}

impl From<actix_web::error::BlockingError> for RestError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        Self::internal(error)
    }
}

impl ResponseError for RestError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Param(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::InsufficientScope => StatusCode::FORBIDDEN,
            Self::NotFound(_) | Self::RecordNotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = ?self, "Packages API request failed");
        }
        let body = match self {
            Self::Param(message) => serde_json::json!({ "error": message }),
            Self::InsufficientScope => serde_json::json!({
                "error": "insufficient_scope",
                "error_description":
                    "The request requires higher privileges than provided by the access token.",
                "scope": "api",
            }),
            Self::Unprocessable(message) => serde_json::json!({ "message": { "error": message } }),
            other => serde_json::json!({ "message": other.to_string() }),
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ));
        if matches!(self, Self::Unavailable { .. }) {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        response.body(body.to_string())
    }
}
