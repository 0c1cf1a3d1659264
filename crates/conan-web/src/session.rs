//! The browser's side of signing in: the session cookie, the CSRF token of every form, and the
//! form bodies.
//!
//! - The session cookie (`conan_registry_session`) holds what conan-auth's
//!   [`Authenticator::open_session`](conan_auth::Authenticator::open_session) issued: `HttpOnly`,
//!   `SameSite=Lax` (a cross-site `POST` does not carry it), `Path=/`, and `Secure` when the
//!   registry is served over TLS or its `external_url` is `https`.
//! - Every form that changes something carries a CSRF token in a hidden field, checked before
//!   anything else happens. Signed in, the token is a digest of the session cookie, which no
//!   other site can read; before signing in (the sign-in form itself), a digest of a random
//!   `conan_registry_csrf` cookie set with the form. A request whose token does not match
//!   changes nothing and gets the 403 page.
//!
//! Neither the cookie nor the token ever appears in a URL or a log line: forms are `POST`, and
//! answers redirect to plain page addresses.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use conan_auth::token;
use sha2::{Digest as _, Sha256};

use crate::WebState;
use crate::error::WebError;
use crate::params::Query;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "conan_registry_session";
/// The cookie behind the sign-in form's CSRF token.
pub(crate) const CSRF_COOKIE: &str = "conan_registry_csrf";
/// The hidden field holding the CSRF token in every form.
pub(crate) const CSRF_FIELD: &str = "csrf_token";

/// The session cookie of a request, if it sent one (checked later, in a read scope).
pub(crate) fn session_cookie(request: &HttpRequest) -> Option<String> {
    request
        .cookie(SESSION_COOKIE)
        .map(|cookie| cookie.value().to_owned())
        .filter(|value| !value.is_empty())
}

/// The CSRF token bound to a secret cookie value (the session's or the sign-in form's).
pub(crate) fn csrf_token(kind: &str, cookie: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"conan-registry csrf\0")
        .chain_update(kind.as_bytes())
        .chain_update(b"\0")
        .chain_update(cookie.as_bytes())
        .finalize();
    token::hash_secret(&format!("{digest:x}"))[..32].to_owned()
}

/// The CSRF token of a signed-in visitor's forms.
pub(crate) fn session_csrf(session: &str) -> String {
    csrf_token("session", session)
}

/// The CSRF token of the sign-in form: the cookie's value to set (when the browser has none
/// yet) and the token for the form.
pub(crate) fn sign_in_csrf(request: &HttpRequest) -> Result<(Option<String>, String), WebError> {
    match request.cookie(CSRF_COOKIE) {
        Some(cookie) if cookie.value().len() >= 32 => {
            Ok((None, csrf_token("sign-in", cookie.value())))
        }
        _ => {
            let value = token::generate_secret("").map_err(WebError::internal)?;
            let form_token = csrf_token("sign-in", &value);
            Ok((Some(value), form_token))
        }
    }
}

/// Checks a form's CSRF token against `expected`; a mismatch is the 403 page.
pub(crate) fn check_csrf(form: &Query, expected: Option<&str>) -> Result<(), WebError> {
    let given = form.get(CSRF_FIELD).unwrap_or_default();
    match expected {
        Some(expected) if !given.is_empty() && constant_time_eq(given, expected) => Ok(()),
        _ => Err(WebError::Forbidden(
            "This form has expired or was not sent from this site's own page. \
             Nothing was changed: reload the page and try again."
                .to_owned(),
        )),
    }
}

/// Compares two strings in time independent of where they differ.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Whether cookies must be `Secure`: the request came over TLS, or clients are told to use an
/// `https` URL.
fn secure(state: &WebState, request: &HttpRequest) -> bool {
    request.connection_info().scheme() == "https"
        || state
            .external_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https:"))
}

/// A cookie of this interface: `HttpOnly`, `Path=/`, `Secure` where it must be.
pub(crate) fn cookie(
    state: &WebState,
    request: &HttpRequest,
    name: &'static str,
    value: String,
    same_site: SameSite,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(same_site)
        .secure(secure(state, request))
        .finish()
}

/// A cookie that removes `name` from the browser.
pub(crate) fn removal(
    state: &WebState,
    request: &HttpRequest,
    name: &'static str,
) -> Cookie<'static> {
    let mut gone = cookie(state, request, name, String::new(), SameSite::Lax);
    gone.set_max_age(CookieDuration::ZERO);
    gone
}

/// The form of a signed-in visitor's `POST`, after its CSRF token checked out against the
/// session cookie (the 403 page otherwise, before anything else happens).
pub(crate) fn signed_form(request: &HttpRequest, body: &[u8]) -> Result<Query, WebError> {
    let form = form(body)?;
    let expected = session_cookie(request).map(|cookie| session_csrf(&cookie));
    check_csrf(&form, expected.as_deref())?;
    Ok(form)
}

/// A form body (`application/x-www-form-urlencoded`), decoded like a query string: a body that
/// is not one is a 400.
pub(crate) fn form(body: &[u8]) -> Result<Query, WebError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| WebError::bad_request("The form's data is not UTF-8."))?;
    Query::parse(text)
}

/// A local path to go back to after signing in: only a path of this site (`/...`, not `//...`
/// nor `/\...`, which browsers read as another host), else the home page.
pub(crate) fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && path.len() <= 2048
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path(Some("/-/web/projects/a")), "/-/web/projects/a");
        for hostile in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "",
            "/a\nb",
        ] {
            assert_eq!(local_path(Some(hostile)), "/", "{hostile:?}");
        }
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn tokens_depend_on_the_kind_and_the_cookie() {
        assert_ne!(csrf_token("session", "a"), csrf_token("sign-in", "a"));
        assert_ne!(csrf_token("session", "a"), csrf_token("session", "b"));
        assert_eq!(csrf_token("session", "a").len(), 32);
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
