//! `/-/web/user/tokens`: the signed-in user's personal access tokens: the list (a page at a
//! time, newest first), the form to create one (name, scopes, expiry), and a revoke button on
//! each active one.
//!
//! A new token's secret is shown once, in the answer to the form (`no-store`), never in a URL
//! or a log line. Managing tokens takes a password session: a session opened with a personal
//! access token cannot mint or revoke tokens (a `read_api` token must not make itself an `api`
//! one); it gets the 403 page.

use std::time::{Duration, SystemTime};

use actix_web::{HttpRequest, HttpResponse, web};
use conan_auth::{Principal, Scope, Source, admin};
use conan_model::RevisionTime;
use conan_store::{Token, TokenHolder, TokenId, TokenKind, TokenOwner, User};
use maud::{Markup, html};

use crate::access::{self, Nav, Reader};
use crate::error::WebError;
use crate::layout;
use crate::pages::one_page;
use crate::params::{self, Query};
use crate::respond;
use crate::session;
use crate::urls;

/// The longest name a token may have.
const MAX_NAME: usize = 100;

/// The expiry choices of the form, in days; the first is the default. `never` is the last.
const EXPIRY_DAYS: [u64; 4] = [30, 7, 90, 365];

/// What each scope lets a token do, for the form.
fn scope_help(scope: Scope) -> &'static str {
    match scope {
        Scope::Api => "everything you may do, through every API",
        Scope::ReadApi => "read only, through every API",
        Scope::ReadPackageRegistry => "download packages",
        Scope::WritePackageRegistry => "upload, download and delete packages",
    }
}

/// The user a token-managing request acts for: a password session. Anonymous visitors are sent
/// to sign in (`Ok(None)`); other sessions get the 403 page.
fn password_user(reader: &Reader<'_>) -> Result<Option<User>, WebError> {
    match reader.viewer {
        Principal::User {
            user,
            source: Source::Password,
            ..
        } => Ok(Some(user.clone())),
        Principal::Anonymous => Ok(None),
        _ => Err(WebError::Forbidden(
            "Tokens are managed in a session signed in with your password, not with a token."
                .to_owned(),
        )),
    }
}

/// The sign-in page, coming back here afterwards.
fn to_sign_in() -> HttpResponse {
    respond::redirect(&format!(
        "{}{}",
        urls::SIGN_IN,
        urls::query(&[("next", urls::TOKENS)])
    ))
}

/// A token's state for the list.
pub(crate) fn status(token: &Token, now: RevisionTime) -> &'static str {
    if token.revoked_at.is_some() {
        "revoked"
    } else if token.expires_at.is_some_and(|at| at <= now) {
        "expired"
    } else {
        "active"
    }
}

fn now() -> Result<RevisionTime, WebError> {
    RevisionTime::from_system_time(SystemTime::now()).map_err(WebError::internal)
}

/// `GET /-/web/user/tokens[?page=<n>]`.
pub(crate) async fn page(request: HttpRequest) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    let page = Query::of(&request)?.page()?;
    let (listing, nav) = access::read(&state, access::viewer(&request), move |reader| {
        let Some(user) = password_user(reader)? else {
            return Ok(None);
        };
        let tokens = reader.store.tokens(TokenHolder::User(user.id))?;
        let (shown, position) = one_page(tokens, page)?;
        Ok(Some((shown, position)))
    })
    .await?;
    let (Some((tokens, position)), Nav::SignedIn { csrf, .. }) = (listing, &nav) else {
        return Ok(to_sign_in());
    };
    let now = now()?;
    let body = html! {
        (layout::breadcrumbs(&[("Access tokens", urls::TOKENS.to_owned())]))
        h1 { "Personal access tokens" }
        p {
            "Use a token as the password of "
            code { "conan remote login <remote> <user name> -p <token>" }
            ", or sign in here with it."
        }
        @if tokens.is_empty() {
            p.muted { "You have no tokens yet." }
        } @else {
            div.table-wrap {
                table {
                    caption.muted { "Your tokens, newest first" }
                    thead {
                        tr {
                            th scope="col" { "Name" }
                            th scope="col" { "Scopes" }
                            th scope="col" { "Created" }
                            th scope="col" { "Expires" }
                            th scope="col" { "Last used" }
                            th scope="col" { "Status" }
                            th scope="col" { span.visually-hidden { "Actions" } }
                        }
                    }
                    tbody {
                        @for token in &tokens {
                            tr {
                                td { (token.name) }
                                td { (token.scopes.join(", ")) }
                                td { (layout::time(token.created_at)) }
                                td { @if let Some(at) = token.expires_at { (layout::time(at)) } @else { "never" } }
                                td { @if let Some(at) = token.last_used_at { (layout::time(at)) } @else { "never" } }
                                td { (status(token, now)) }
                                td {
                                    @if status(token, now) == "active" {
                                        form method="post" action={ (urls::TOKENS) "/" (token.id.0) "/revoke" } {
                                            (layout::csrf_field(csrf))
                                            button.danger type="submit" aria-label={ "Revoke " (token.name) } { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (layout::pager(position, &|page| format!("{}{}", urls::TOKENS, urls::query(&[("page", &page.to_string())]))))
        }
        (create_form(csrf))
    };
    Ok(respond::ok(layout::page(
        "Access tokens",
        None,
        &nav,
        &body,
    )))
}

/// The form that creates a token.
fn create_form(csrf: &str) -> Markup {
    html! {
        h2 { "Create a token" }
        form.stacked method="post" action=(urls::TOKENS) {
            (layout::csrf_field(csrf))
            (token_fields(&Scope::ALL))
            button type="submit" { "Create token" }
        }
    }
}

/// The fields of a token form: name, a checkbox per scope of `scopes`, and the expiry.
pub(crate) fn token_fields(scopes: &[Scope]) -> Markup {
    html! {
        label for="token-name" { "Name" }
        input #token-name type="text" name="name" required maxlength=(MAX_NAME);
        fieldset {
            legend { "Scopes" }
            @for scope in scopes {
                div.check {
                    input id={ "scope-" (scope) } type="checkbox" name="scopes" value=(scope);
                    label for={ "scope-" (scope) } { code { (scope) } ": " (scope_help(*scope)) }
                }
            }
        }
        label for="token-expiry" { "Expires" }
        select #token-expiry name="expires_in_days" {
            @for days in EXPIRY_DAYS {
                option value=(days) { "in " (days) " days" }
            }
            option value="never" { "never" }
        }
    }
}

/// What a token form asks for.
pub(crate) struct TokenRequest {
    /// The token's name.
    pub(crate) name: String,
    /// Its scopes, at least one.
    pub(crate) scopes: Vec<Scope>,
    /// When it expires, if ever.
    pub(crate) expires_at: Option<RevisionTime>,
}

/// Reads and checks [`token_fields`]: a bad value is a 400 that says which.
pub(crate) fn token_request(form: &Query) -> Result<TokenRequest, WebError> {
    let name = form.get("name").unwrap_or_default().trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(WebError::bad_request(format!(
            "A token needs a name of 1 to {MAX_NAME} characters, without control characters."
        )));
    }
    let scopes = form
        .all("scopes")
        .map(str::parse::<Scope>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| WebError::bad_request(error.to_string()))?;
    if scopes.is_empty() {
        return Err(WebError::bad_request("Choose at least one scope."));
    }
    let expires_at = match form.get("expires_in_days").unwrap_or("never") {
        "never" => None,
        days => {
            let days: u64 = days
                .parse()
                .ok()
                .filter(|days| (1..=3650).contains(days))
                .ok_or_else(|| {
                    WebError::bad_request(
                        "Expires must be a number of days from 1 to 3650, or never.",
                    )
                })?;
            let at = SystemTime::now() + Duration::from_hours(24 * days);
            Some(RevisionTime::from_system_time(at).map_err(WebError::internal)?)
        }
    };
    Ok(TokenRequest {
        name,
        scopes,
        expires_at,
    })
}

/// The page that shows a new token's secret, once (`no-store`, like every page), with `extra`
/// after it and a link `back` (text, address).
pub(crate) fn created_page(
    nav: &Nav,
    back: (&str, &str),
    created: &admin::CreatedToken,
    extra: &Markup,
) -> HttpResponse {
    let body = html! {
        h1 { "Token created" }
        p { "The new token " strong { (created.token.name) } " (" (created.token.scopes.join(", ")) "):" }
        p { code #new-token.secret { (created.secret) } }
        p role="alert" { strong { "Copy it now: it is not shown again." } }
        (extra)
        p { a href=(back.1) { (back.0) } }
    };
    respond::ok(layout::page("Token created", None, nav, &body))
}

/// `POST /-/web/user/tokens`: `name`, one or more `scopes`, `expires_in_days` (a number of days
/// or `never`), and the CSRF token. Answers the page with the new secret.
pub(crate) async fn create(
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    let form = session::signed_form(&request, &body)?;
    let wanted = token_request(&form)?;
    let (created, nav) = access::act(&state, access::viewer(&request), move |reader| {
        let Some(user) = password_user(reader)? else {
            return Err(WebError::Forbidden("Sign in to create tokens.".to_owned()));
        };
        let created = admin::create_personal_token(
            reader.store,
            user.id,
            &wanted.name,
            &wanted.scopes,
            wanted.expires_at,
        )?;
        Ok(created)
    })
    .await?;
    tracing::info!(
        token = created.token.id.0,
        "web: personal access token created"
    );
    Ok(created_page(
        &nav,
        ("Back to your tokens", urls::TOKENS),
        &created,
        &html! {},
    ))
}

/// `POST /-/web/user/tokens/{id}/revoke`: revokes one of the user's own active tokens.
pub(crate) async fn revoke(
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    session::signed_form(&request, &body)?;
    let id = params::segment(&request, "id")?
        .parse::<i64>()
        .map(TokenId)
        .map_err(|_| WebError::NotFound)?;
    let at = now()?;
    access::act(&state, access::viewer(&request), move |reader| {
        let Some(user) = password_user(reader)? else {
            return Err(WebError::Forbidden("Sign in to revoke tokens.".to_owned()));
        };
        // Someone else's token is the 404 page, like one that does not exist.
        match reader.store.token(TokenKind::Personal, id)? {
            Some(token) if token.owner == TokenOwner::User(user.id) => {
                reader.store.revoke_token(TokenKind::Personal, id, at)?;
                Ok(())
            }
            _ => Err(WebError::NotFound),
        }
    })
    .await?;
    Ok(respond::redirect(urls::TOKENS))
}
