//! The errors of the web interface, each rendered as an HTML page with the same security headers
//! as every other page. A 404 never tells whether what was asked for exists: a private project,
//! recipe or file is the same page as one that never existed.

use std::error::Error as StdError;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use conan_auth::AuthError;
use conan_store::StoreError;
use maud::html;

use crate::layout;
use crate::respond;

/// A cause kept for the log.
type Source = Box<dyn StdError + Send + Sync + 'static>;

/// An error answer of the web interface.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// 400: a query parameter or path segment that cannot be understood; the message says which
    /// and why, and is shown on the page (escaped, like everything on a page).
    #[error("{0}")]
    BadRequest(String),
    /// 403: a form whose CSRF token does not match, or an action the visitor may not take on
    /// something they may see; the message says why. Nothing was changed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: nothing there, or nothing the visitor may see; the same page in both cases.
    #[error("not found")]
    NotFound,
    /// 405: a method the address does not answer; it answers the methods named (the `Allow`
    /// header): `GET, HEAD` on pages, `POST` on forms.
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    /// 503: the database is unavailable or busy; the cause goes to the log.
    #[error("service unavailable")]
    Unavailable(#[source] Source),
    /// 500: a server-side failure; the cause goes to the log, never to the page.
    #[error("internal server error")]
    Internal(#[source] Source),
}

impl WebError {
    /// A 400 page saying `message`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    /// A 500 whose cause is `error`.
    pub(crate) fn internal(error: impl Into<Source>) -> Self {
        Self::Internal(error.into())
    }
}

impl fmt::Debug for WebError {
    /// The message with its `source()` chain, for the log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        let mut source = self.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl From<StoreError> for WebError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable { .. } | StoreError::Busy { .. } => {
                Self::Unavailable(Box::new(error))
            }
            StoreError::NotFound(_) => Self::NotFound,
            // A name already taken, a value the store refuses: the message says which.
            StoreError::Conflict(message) | StoreError::Invalid(message) => {
                Self::BadRequest(message)
            }
            error => Self::internal(error),
        }
    }
}

impl From<AuthError> for WebError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Store(error) => error.into(),
            AuthError::Invalid(message) => Self::BadRequest(message),
            AuthError::NotFound(_) => Self::NotFound,
            error => Self::internal(error),
        }
    }
}

impl From<actix_web::error::BlockingError> for WebError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        Self::internal(error)
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = ?self, "web page failed");
        }
        let (title, text) = match self {
            Self::BadRequest(message) => ("Bad request", message.as_str()),
            Self::Forbidden(message) => ("Not allowed", message.as_str()),
            Self::NotFound => (
                "Page not found",
                "There is nothing here, or nothing you may see. \
                 Private projects are not shown to visitors who are not signed in.",
            ),
            Self::MethodNotAllowed(_) => (
                "Method not allowed",
                "This address does not answer that method.",
            ),
            Self::Unavailable(_) => (
                "Service unavailable",
                "The database is busy or unavailable. Try again in a moment.",
            ),
            Self::Internal(_) => (
                "Internal error",
                "Something went wrong on the server. It has been logged.",
            ),
        };
        let body = html! {
            h1 { (title) }
            p { (text) }
            p { a href="/" { "Back to the home page" } }
        };
        let mut response = respond::page(
            status,
            layout::page(title, None, &crate::access::Nav::Unknown, &body),
        );
        if matches!(self, Self::Unavailable(_)) {
            // As the APIs answer: try again in a second.
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from_static("1"),
            );
        }
        if let Self::MethodNotAllowed(allow) = self {
            response.headers_mut().insert(
                actix_web::http::header::ALLOW,
                actix_web::http::header::HeaderValue::from_static(allow),
            );
        }
        response
    }
}
