//! Signing in and out.
//!
//! `GET /-/web/sign-in` is the form: a user name with a password or a personal access token
//! (deploy tokens cannot sign in). `POST` checks them exactly as a Conan login does, through
//! conan-auth, under the same rate limits (per user name and per client address): wrong
//! credentials are the form again with 401, too many failures a 429 with `Retry-After`. On
//! success the answer sets the session cookie and redirects (303) to the page the visitor came
//! from, a path of this site only. `POST /-/web/sign-out` removes the cookie.

use actix_web::cookie::SameSite;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use conan_auth::{AuthError, Credentials};
use maud::{Markup, html};

use crate::access::{self, Nav};
use crate::error::WebError;
use crate::layout;
use crate::params::Query;
use crate::respond;
use crate::session::{self, CSRF_COOKIE, SESSION_COOKIE};
use crate::urls;

/// The sign-in form, with a message when the last attempt failed.
fn sign_in_form(csrf: &str, next: &str, username: &str, failure: Option<&str>) -> Markup {
    let body = html! {
        h1 { "Sign in" }
        @if let Some(failure) = failure {
            p.error role="alert" { (failure) }
        }
        form.stacked method="post" action=(urls::SIGN_IN) {
            (layout::csrf_field(csrf))
            input type="hidden" name="next" value=(next);
            label for="username" { "User name" }
            input #username type="text" name="username" value=(username) required
                autocomplete="username" maxlength="255" autocapitalize="none";
            label for="password" { "Password or personal access token" }
            input #password type="password" name="password" required
                autocomplete="current-password" maxlength="1024";
            button type="submit" { "Sign in" }
        }
        p.muted {
            "The same credentials as "
            code { "conan remote login" }
            ". A personal access token signs you in with its scopes only."
        }
    };
    layout::page("Sign in", None, &Nav::Unknown, &body)
}

/// The sign-in page and its answer with `status`, setting the form's CSRF cookie when the
/// browser has none yet.
fn form_answer(
    request: &HttpRequest,
    status: StatusCode,
    next: &str,
    username: &str,
    failure: Option<&str>,
) -> Result<HttpResponse, WebError> {
    let state = access::state(request)?;
    let (new_cookie, csrf) = session::sign_in_csrf(request)?;
    let mut response = respond::page(status, sign_in_form(&csrf, next, username, failure));
    if let Some(value) = new_cookie {
        let cookie = session::cookie(&state, request, CSRF_COOKIE, value, SameSite::Strict);
        response.add_cookie(&cookie).map_err(WebError::internal)?;
    }
    Ok(response)
}

/// `GET /-/web/sign-in[?next=<path>]`.
pub(crate) async fn sign_in_page(request: HttpRequest) -> Result<HttpResponse, WebError> {
    let query = Query::of(&request)?;
    let next = session::local_path(query.get("next"));
    form_answer(&request, StatusCode::OK, &next, "", None)
}

/// `POST /-/web/sign-in`: `username`, `password` (or a personal access token), `next`, and the
/// CSRF token.
pub(crate) async fn sign_in(
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    let form = session::form(&body)?;
    let expected = request
        .cookie(CSRF_COOKIE)
        .filter(|cookie| cookie.value().len() >= 32)
        .map(|cookie| session::csrf_token("sign-in", cookie.value()));
    session::check_csrf(&form, expected.as_deref())?;
    let next = session::local_path(form.get("next"));
    let username = form.get("username").unwrap_or_default().trim().to_owned();
    let credentials = Credentials::Basic {
        username: username.clone(),
        password: form.get("password").unwrap_or_default().to_owned(),
    };
    let address = request.peer_addr().map(|peer| peer.ip());
    let auth = state.auth.clone();
    let opened = web::block(move || {
        let principal = auth.authenticate_from(Some(&credentials), address)?;
        auth.open_session(&principal)
    })
    .await?;
    match opened {
        Ok(issued) => {
            let cookie = session::cookie(
                &state,
                &request,
                SESSION_COOKIE,
                issued.cookie,
                SameSite::Lax,
            );
            let mut response = respond::redirect(&next);
            response.add_cookie(&cookie).map_err(WebError::internal)?;
            tracing::info!(user = %username, "web sign-in");
            Ok(response)
        }
        Err(AuthError::InvalidCredentials | AuthError::InvalidToken) => form_answer(
            &request,
            StatusCode::UNAUTHORIZED,
            &next,
            &username,
            Some("Wrong user name, password or token."),
        ),
        Err(AuthError::RateLimited { retry_after_secs }) => {
            let message = format!(
                "Too many failed sign-ins for this user name or from this address. \
                 Try again in {retry_after_secs} seconds."
            );
            let mut response = form_answer(
                &request,
                StatusCode::TOO_MANY_REQUESTS,
                &next,
                &username,
                Some(&message),
            )?;
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(retry_after_secs),
            );
            Ok(response)
        }
        Err(error) => Err(error.into()),
    }
}

/// `POST /-/web/sign-out`: removes the session cookie (after the CSRF check, so no other site
/// can sign a visitor out) and goes home.
pub(crate) async fn sign_out(
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    let form = session::form(&body)?;
    if let Some(cookie) = session::session_cookie(&request) {
        session::check_csrf(&form, Some(&session::session_csrf(&cookie)))?;
    }
    let mut response = respond::redirect("/");
    response
        .add_cookie(&session::removal(&state, &request, SESSION_COOKIE))
        .map_err(WebError::internal)?;
    Ok(response)
}
