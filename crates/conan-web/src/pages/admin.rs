//! `/-/web/admin/users` and `/-/web/admin/projects`: instance administration, for
//! administrators signed in with a password. Anyone else gets the 404 page, as GitLab answers
//! for its admin area.
//!
//! Users: the list (a page at a time), create one (with a password or none, administrator or
//! not), disable or enable, make or unmake administrator. An administrator cannot disable or
//! unmake themself, so the instance never loses its last administrator by a slip.
//! Projects: the list and create one (path and visibility), checked by the same rules as the
//! admin command line (conan-auth's `admin` module).

use actix_web::{HttpRequest, HttpResponse, web};
use conan_auth::{Principal, Source, admin};
use conan_store::{Project, User, UserId, Visibility};
use maud::{Markup, html};

use crate::access::{self, Nav, Reader};
use crate::error::WebError;
use crate::layout;
use crate::pages::one_page;
use crate::params::{self, Query};
use crate::respond;
use crate::session;
use crate::urls;

/// The administrator behind the visitor, or the 404 page.
fn administrator(reader: &Reader<'_>) -> Result<User, WebError> {
    match reader.viewer {
        Principal::User {
            user,
            source: Source::Password,
            ..
        } if user.is_admin => Ok(user.clone()),
        _ => Err(WebError::NotFound),
    }
}

/// The CSRF token of a signed-in page.
fn csrf(nav: &Nav) -> Result<&str, WebError> {
    match nav {
        Nav::SignedIn { csrf, .. } => Ok(csrf),
        _ => Err(WebError::internal("an administrator is not signed in")),
    }
}

/// The admin area's two links.
fn tabs() -> Markup {
    html! {
        nav.tabs aria-label="Administration" {
            a href=(urls::ADMIN_USERS) { "Users" }
            a href=(urls::ADMIN_PROJECTS) { "Projects" }
        }
    }
}

/// `GET /-/web/admin/users[?page=<n>]`.
pub(crate) async fn users(request: HttpRequest) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    let page = Query::of(&request)?.page()?;
    let ((me, shown, position), nav) =
        access::read(&state, access::viewer(&request), move |reader| {
            let me = administrator(reader)?;
            let mut all = reader.store.users()?;
            all.sort_by(|a, b| a.username.cmp(&b.username));
            let (shown, position) = one_page(all, page)?;
            Ok((me, shown, position))
        })
        .await?;
    let csrf = csrf(&nav)?;
    let body = html! {
        h1 { "Users" }
        (tabs())
        div.table-wrap {
            table {
                thead { tr {
                    th scope="col" { "User" } th scope="col" { "Created" } th scope="col" { "Status" }
                    th scope="col" { "Administrator" } th scope="col" { span.visually-hidden { "Actions" } }
                } }
                tbody {
                    @for user in &shown {
                        tr {
                            td { (user.username) @if user.password_hash.is_none() { " " span.muted { "(tokens only)" } } }
                            td { (layout::time(user.created_at)) }
                            td { @if user.is_active { "active" } @else { "disabled" } }
                            td { @if user.is_admin { "yes" } @else { "no" } }
                            td {
                                @if user.id != me.id {
                                    div.actions {
                                        (toggle(csrf, user.id, "active", !user.is_active,
                                            if user.is_active { "Disable" } else { "Enable" }, &user.username))
                                        (toggle(csrf, user.id, "admin", !user.is_admin,
                                            if user.is_admin { "Remove administrator" } else { "Make administrator" }, &user.username))
                                    }
                                } @else {
                                    span.muted { "you" }
                                }
                            }
                        }
                    }
                }
            }
        }
        (layout::pager(position, &|page| format!("{}{}", urls::ADMIN_USERS, urls::query(&[("page", &page.to_string())]))))
        h2 { "Create a user" }
        form.stacked method="post" action=(urls::ADMIN_USERS) {
            (layout::csrf_field(csrf))
            label for="new-username" { "User name" }
            input #new-username type="text" name="username" required maxlength="255" autocapitalize="none";
            label for="new-password" { "Password (at least 8 characters; empty: tokens only)" }
            input #new-password type="password" name="password" autocomplete="new-password" maxlength="1024";
            div.check {
                input #new-admin type="checkbox" name="admin" value="true";
                label for="new-admin" { "Administrator" }
            }
            button type="submit" { "Create user" }
        }
    };
    Ok(respond::ok(layout::page("Users", None, &nav, &body)))
}

/// A button that sets a user's `field` (`active` or `admin`) to `value`.
fn toggle(
    csrf: &str,
    user: UserId,
    field: &str,
    value: bool,
    text: &str,
    username: &str,
) -> Markup {
    html! {
        form method="post" action={ (urls::ADMIN_USERS) "/" (user) "/" (field) } {
            (layout::csrf_field(csrf))
            input type="hidden" name="value" value=(value);
            button type="submit" aria-label={ (text) ": " (username) } { (text) }
        }
    }
}

/// `GET /-/web/admin/projects[?page=<n>]`.
pub(crate) async fn projects(request: HttpRequest) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    let page = Query::of(&request)?.page()?;
    let ((shown, position), nav) = access::read(&state, access::viewer(&request), move |reader| {
        administrator(reader)?;
        let mut all = reader.store.projects()?;
        all.sort_by(|a, b| a.path.cmp(&b.path));
        one_page(all, page)
    })
    .await?;
    let csrf = csrf(&nav)?;
    let body = html! {
        h1 { "Projects" }
        (tabs())
        div.table-wrap {
            table {
                thead { tr { th scope="col" { "Project" } th scope="col" { "Id" } th scope="col" { "Visibility" } } }
                tbody {
                    @for project in &shown {
                        tr {
                            td { a href=(urls::project(&project.path)) { (project.path) } }
                            td.num { (project.id) }
                            td { (project.visibility) }
                        }
                    }
                }
            }
        }
        (layout::pager(position, &|page| format!("{}{}", urls::ADMIN_PROJECTS, urls::query(&[("page", &page.to_string())]))))
        h2 { "Create a project" }
        form.stacked method="post" action=(urls::ADMIN_PROJECTS) {
            (layout::csrf_field(csrf))
            label for="new-path" { "Path (for example team/libs)" }
            input #new-path type="text" name="path" required maxlength="255" autocapitalize="none";
            label for="new-visibility" { "Visibility" }
            select #new-visibility name="visibility" {
                @for choice in Visibility::ALL {
                    option value=(choice) selected[*choice == Visibility::Private] { (choice) }
                }
            }
            button type="submit" { "Create project" }
        }
    };
    Ok(respond::ok(layout::page("Projects", None, &nav, &body)))
}

/// Runs an administrator's change: the CSRF token first, then (on the blocking pool) that the
/// visitor is an administrator, then `work`; then to the page `work` names.
async fn change<F>(request: &HttpRequest, body: &[u8], work: F) -> Result<HttpResponse, WebError>
where
    F: FnOnce(&Reader<'_>, &Query, &User) -> Result<String, WebError> + Send + 'static,
{
    let state = access::state(request)?;
    let form = session::signed_form(request, body)?;
    let (next, _) = access::act(&state, access::viewer(request), move |reader| {
        let me = administrator(reader)?;
        work(reader, &form, &me)
    })
    .await?;
    Ok(respond::redirect(&next))
}

/// `POST /-/web/admin/users`: `username`, `password` (optional), `admin` (`true` when checked).
pub(crate) async fn create_user(
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    change(&request, &body, |reader, form, me| {
        let username = form.get("username").unwrap_or_default().trim();
        let password = form.get("password").filter(|password| !password.is_empty());
        let is_admin = form.get("admin") == Some("true");
        let user = admin::create_user(reader.store, username, password, is_admin)?;
        tracing::info!(by = %me.username, user = %user.username, admin = is_admin, "web: user created");
        Ok(urls::ADMIN_USERS.to_owned())
    })
    .await
}

/// `POST /-/web/admin/users/{id}/{field}` with `value`: `active` disables or enables a user,
/// `admin` makes or unmakes an administrator; never the visitor themself.
pub(crate) async fn set_user_flag(
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let id = params::segment(&request, "id")?
        .parse::<i64>()
        .map(UserId)
        .map_err(|_| WebError::NotFound)?;
    let field = params::segment(&request, "field")?;
    change(&request, &body, move |reader, form, me| {
        let value = match form.get("value") {
            Some("true") => true,
            Some("false") => false,
            _ => return Err(WebError::bad_request("The value must be true or false.")),
        };
        if id == me.id {
            return Err(WebError::bad_request(
                "Administrators cannot disable themselves or remove their own administrator role.",
            ));
        }
        let found = match field.as_str() {
            "active" => reader.store.set_user_active(id, value)?,
            "admin" => reader.store.set_user_admin(id, value)?,
            _ => return Err(WebError::NotFound),
        };
        if !found {
            return Err(WebError::NotFound);
        }
        tracing::info!(by = %me.username, user = id.0, field = %field, value, "web: user changed");
        Ok(urls::ADMIN_USERS.to_owned())
    })
    .await
}

/// `POST /-/web/admin/projects`: `path` and `visibility`; then the new project's page.
pub(crate) async fn create_project(
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    change(&request, &body, |reader, form, me| {
        let visibility: Visibility =
            form.get("visibility").unwrap_or_default().parse().map_err(
                |error: conan_store::StoreError| WebError::bad_request(error.to_string()),
            )?;
        let path = form.get("path").unwrap_or_default().trim();
        let project: Project = admin::create_project(reader.store, path, visibility)?;
        tracing::info!(by = %me.username, project = %project.path, "web: project created");
        Ok(urls::project(&project.path))
    })
    .await
}
