//! `ping`, `users/authenticate` and `users/check_credentials` (v1 and v2 alike).

use actix_web::http::header::HeaderValue;
use actix_web::{HttpRequest, HttpResponse};
use conan_auth::AuthError;

use super::CAPABILITIES;
use crate::access::{self, blocking};
use crate::error::ApiError;
use crate::respond::text;

/// `GET v1/ping`, `GET v2/ping`: 200 with the capabilities header.
///
/// It never looks at `Authorization`: a client with a stale token must still learn the
/// capabilities, and Conan 1 even sends Basic credentials here.
pub(super) async fn ping() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            "X-Conan-Server-Capabilities",
            HeaderValue::from_static(CAPABILITIES),
        ))
        .finish()
}

/// `GET users/authenticate`: Basic credentials (a password, a personal access token or a
/// deploy token) or a still-valid bearer token give a fresh Conan token as the whole
/// `text/plain` body.
///
/// Login is instance-wide: the project in the prefix is not consulted, and the token works at
/// every prefix.
pub(super) async fn authenticate(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let state = access::state(&request)?;
    // No credentials, or a header that is not Basic or Bearer: ask for Basic credentials.
    let credentials =
        access::credentials(&request)
            .ok()
            .flatten()
            .ok_or(ApiError::Unauthorized {
                reason: None,
                challenge: true,
            })?;
    let address = access::client_address(&request);
    let auth = state.auth.clone();
    let (_, issued) = blocking(move || {
        auth.login_from(Some(&credentials), address)
            .map_err(|error| match error {
                AuthError::InvalidCredentials | AuthError::InvalidToken => ApiError::Unauthorized {
                    reason: Some("Wrong user or password"),
                    challenge: false,
                },
                error => error.into(),
            })
    })
    .await?;
    Ok(text(issued.token))
}

/// `GET users/check_credentials`: 200 with the caller's name when the credentials are valid,
/// 401 for an anonymous caller or bad credentials (the client then logs in).
pub(super) async fn check_credentials(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let state = access::state(&request)?;
    let principal = access::principal(&state, &request).await?;
    if !principal.is_authenticated() {
        return Err(ApiError::unauthorized());
    }
    Ok(text(principal.name().to_owned()))
}
