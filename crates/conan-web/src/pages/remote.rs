//! The remote project section of a project's settings, for instance administrators only:
//! making a project a read-only cache of an upstream Conan server, changing its upstream, or
//! making it ordinary again (what the admin CLI's `remote set` and `remote clear` do; the
//! settings are made by conan-remote's `upstream_settings`, as the CLI makes them).
//!
//! Administrators only, not project owners: the upstream URL makes the registry send requests
//! (with credentials) wherever it points, inside the network too.

use actix_web::{HttpRequest, HttpResponse, web};
use conan_auth::Principal;
use conan_model::RevisionTime;
use conan_remote::{UpstreamRequest, upstream_settings};
use conan_store::Project;
use conan_store::remotes::{MAX_TTL_SECS, MAX_URL_LEN, RemoteSettings};
use conan_upstream::Credentials;
use maud::{Markup, html};

use crate::access::{self, Reader};
use crate::error::WebError;
use crate::layout;
use crate::pages::settings::change;
use crate::params::Query;

/// What the section shows.
pub(crate) enum RemoteView {
    /// The visitor is not an instance administrator: nothing.
    Hidden,
    /// A virtual project, which cannot be remote.
    Virtual,
    /// The project's upstream, if it is remote.
    Shown(Option<RemoteSettings>),
}

/// Whether the visitor is an instance administrator.
fn is_admin(reader: &Reader<'_>) -> bool {
    matches!(reader.viewer, Principal::User { user, .. } if user.is_admin)
}

impl RemoteView {
    /// What `reader`'s visitor sees of `project`.
    pub(crate) fn of(reader: &Reader<'_>, project: &Project) -> Result<Self, WebError> {
        if !is_admin(reader) {
            return Ok(Self::Hidden);
        }
        if reader.store.virtual_layout(project.id)?.is_some() {
            return Ok(Self::Virtual);
        }
        Ok(Self::Shown(reader.store.remote(project.id)?))
    }

    /// The section.
    pub(crate) fn section(&self, here: &str, csrf: &str) -> Markup {
        let current = match self {
            Self::Hidden => return html! {},
            Self::Virtual => {
                return html! {
                    section aria-labelledby="remote-project-heading" {
                        h2 #remote-project-heading { "Remote project" }
                        p.muted { "A virtual project cannot be a remote project; make one of its members remote." }
                    }
                };
            }
            Self::Shown(current) => current.as_ref(),
        };
        let url = current.map_or("", |settings| settings.upstream_url.as_str());
        let ttl = current.map_or(300, |settings| settings.metadata_ttl_secs);
        let not_found = current.map_or(60, |settings| settings.not_found_ttl_secs);
        let has_credentials = current.is_some_and(|settings| settings.sealed_credentials.is_some());
        html! {
            section aria-labelledby="remote-project-heading" {
                h2 #remote-project-heading { "Remote project" }
                @if current.is_some() {
                    p {
                        "This project is a read-only cache of " code { (url) } ", "
                        @if has_credentials { "with credentials" } @else { "without credentials" } "."
                    }
                } @else {
                    p.muted {
                        "Make this project a read-only cache of an upstream Conan server: reads fetch from it on first use "
                        "and keep what they fetched; uploads are refused. What the project holds now stays."
                    }
                }
                form.stacked method="post" action={ (here) "/remote" } autocomplete="off" {
                    (layout::csrf_field(csrf))
                    label for="remote-url" { "Upstream URL, as " code { "conan remote add" } " takes it" }
                    input #remote-url type="url" name="url" required maxlength=(MAX_URL_LEN) value=(url);
                    label for="remote-ttl" { "Revision lists kept for (seconds)" }
                    input #remote-ttl type="number" name="metadata_ttl_secs" min="1" max=(MAX_TTL_SECS) value=(ttl);
                    label for="remote-not-found" { "An upstream \"not found\" kept for (seconds, 0: not kept)" }
                    input #remote-not-found type="number" name="not_found_ttl_secs" min="0" max=(MAX_TTL_SECS) value=(not_found);
                    label for="remote-user" {
                        "Upstream user (optional"
                        @if has_credentials { "; leave both empty to keep the current credentials" }
                        ")"
                    }
                    input #remote-user type="text" name="user" maxlength="255" autocapitalize="none";
                    label for="remote-password" { "Upstream password or token" }
                    input #remote-password type="password" name="password" maxlength="4096" autocomplete="new-password";
                    @if has_credentials {
                        label.check {
                            input type="checkbox" name="forget_credentials" value="yes";
                            " Forget the current credentials (an anonymous upstream)"
                        }
                    }
                    button type="submit" { @if current.is_some() { "Save upstream" } @else { "Make it a remote project" } }
                }
                @if current.is_some() {
                    form method="post" action={ (here) "/remote/clear" } {
                        (layout::csrf_field(csrf))
                        button.danger type="submit" { "Make it an ordinary project" }
                    }
                }
            }
        }
    }
}

/// The administrator-only check of the two forms.
fn admin_only(reader: &Reader<'_>) -> Result<(), WebError> {
    if is_admin(reader) {
        Ok(())
    } else {
        Err(WebError::Forbidden(
            "Only an instance administrator makes a project remote.".to_owned(),
        ))
    }
}

/// A number of seconds from the form.
fn seconds(form: &Query, name: &str) -> Result<u32, WebError> {
    form.get(name)
        .unwrap_or_default()
        .trim()
        .parse()
        .map_err(|_| WebError::bad_request(format!("{name} must be a whole number of seconds")))
}

/// `POST .../-/settings/remote`: `url`, `metadata_ttl_secs`, `not_found_ttl_secs`, and `user`
/// with `password` (both empty: keep the current credentials; `forget_credentials`: none).
pub(crate) async fn set(request: HttpRequest, body: web::Bytes) -> Result<HttpResponse, WebError> {
    let key = access::state(&request)?.credentials_key.clone();
    change(&request, &body, move |reader, form, project, _| {
        admin_only(reader)?;
        if reader.store.virtual_layout(project.id)?.is_some() {
            return Err(WebError::bad_request(
                "A virtual project cannot be a remote project.",
            ));
        }
        let (user, password) = (
            form.get("user").unwrap_or_default().trim(),
            form.get("password").unwrap_or_default(),
        );
        let credentials = match (user.is_empty(), password.is_empty()) {
            (true, true) => None,
            _ => Some(Credentials {
                user: user.to_owned(),
                password: password.to_owned(),
            }),
        };
        let kept = if form.get("forget_credentials").is_some() {
            None
        } else {
            reader
                .store
                .remote(project.id)?
                .and_then(|current| current.sealed_credentials)
        };
        let request = UpstreamRequest {
            url: form.get("url").unwrap_or_default().to_owned(),
            credentials,
            kept,
            metadata_ttl_secs: seconds(form, "metadata_ttl_secs")?,
            not_found_ttl_secs: seconds(form, "not_found_ttl_secs")?,
        };
        let settings = upstream_settings(project.id, request, key.as_deref())
            .map_err(|error| WebError::bad_request(error.to_string()))?;
        let now = RevisionTime::from_system_time(std::time::SystemTime::now())
            .map_err(WebError::internal)?;
        reader.store.set_remote(project.id, &settings, now)?;
        tracing::info!(project = %project.path, upstream = %settings.upstream_url,
            credentials = settings.sealed_credentials.is_some(), "web: remote project set");
        Ok(())
    })
    .await
}

/// `POST .../-/settings/remote/clear`: makes the project ordinary again (what it cached stays).
pub(crate) async fn clear(
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    change(&request, &body, |reader, _, project, _| {
        admin_only(reader)?;
        if reader.store.clear_remote(project.id)? {
            tracing::info!(project = %project.path, "web: remote project cleared");
        }
        Ok(())
    })
    .await
}
