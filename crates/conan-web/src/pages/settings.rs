//! `/-/web/projects/<path>/-/settings`: a project's members and their roles, its visibility,
//! and its deploy tokens, for the project's maintainers and owners and instance administrators.
//!
//! Who may change what (GitLab's rules, where the API has none of its own yet):
//! - maintainers and owners add members, change roles and remove members, but only an owner
//!   (or an administrator) gives or takes the owner role, and the last owner stays;
//! - maintainers and owners create and revoke deploy tokens;
//! - owners (and administrators) change the visibility.
//!
//! Like the token page, settings take a session signed in with a password: a session opened
//! with a token gets the 403 page. A project the visitor may not read is the 404 page; one they
//! may read but not manage is the 403 page.

use actix_web::{HttpRequest, HttpResponse, web};
use conan_auth::{Principal, Scope, Source, admin};
use conan_model::RevisionTime;
use conan_store::{
    Project, Role, Token, TokenHolder, TokenId, TokenKind, TokenOwner, User, Visibility,
};
use maud::{Markup, html};

use crate::access::{self, Nav, Reader};
use crate::error::WebError;
use crate::layout::{self, Position};
use crate::pages::remote::RemoteView;
use crate::pages::tokens::{self, TokenRequest};
use crate::pages::{PER_PAGE, one_page};
use crate::params::{self, Query};
use crate::respond;
use crate::session;
use crate::urls;

/// What a manager of the project may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Powers {
    /// A maintainer: members below owner, deploy tokens.
    Maintainer,
    /// An owner or an instance administrator: everything.
    Owner,
}

/// The visitor's powers over `project`, if any (for the project page's link too).
pub(crate) fn powers(reader: &Reader<'_>, project: &Project) -> Result<Option<Powers>, WebError> {
    let Principal::User {
        user,
        source: Source::Password,
        ..
    } = reader.viewer
    else {
        return Ok(None);
    };
    if user.is_admin {
        return Ok(Some(Powers::Owner));
    }
    Ok(match reader.store.membership(project.id, user.id)? {
        Some(Role::Owner) => Some(Powers::Owner),
        Some(Role::Maintainer) => Some(Powers::Maintainer),
        _ => None,
    })
}

/// The project at `path` and the visitor's powers over it: the 404 page when they may not read
/// it, the 403 page when they may not manage it.
pub(crate) fn managed(reader: &Reader<'_>, path: &str) -> Result<(Project, Powers), WebError> {
    let project = reader.project(path)?;
    if let Some(powers) = powers(reader, &project)? {
        return Ok((project, powers));
    }
    Err(WebError::Forbidden(
        match reader.viewer {
            Principal::User {
                source: Source::Password,
                ..
            } => "Project settings take the maintainer or owner role in this project.",
            Principal::User { .. } => {
                "Project settings are managed in a session signed in with a password, not a token."
            }
            _ => "Sign in to manage this project.",
        }
        .to_owned(),
    ))
}

/// The settings page's address.
pub(crate) fn address(project: &Project) -> String {
    format!("{}/-/settings", urls::project(&project.path))
}

/// What the settings page shows.
struct Settings {
    project: Project,
    powers: Powers,
    remote: RemoteView,
    members: Vec<(User, Role)>,
    position: Position,
    tokens: Vec<Token>,
    token_count: usize,
}

/// `GET .../-/settings[?page=<n>]` (the page of members).
pub(crate) async fn page(request: HttpRequest) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    let path = params::segment(&request, "project")?;
    let page = Query::of(&request)?.page()?;
    let (shown, nav) = access::read(&state, access::viewer(&request), move |reader| {
        let (project, powers) = managed(reader, &path)?;
        let mut members = reader.store.project_members(project.id)?;
        members.sort_by(|a, b| a.0.username.cmp(&b.0.username));
        let (members, position) = one_page(members, page)?;
        let all_tokens = reader.store.tokens(TokenHolder::Project(project.id))?;
        let token_count = all_tokens.len();
        let tokens = all_tokens.into_iter().take(PER_PAGE as usize).collect();
        let remote = RemoteView::of(reader, &project)?;
        Ok(Settings {
            project,
            powers,
            remote,
            members,
            position,
            tokens,
            token_count,
        })
    })
    .await?;
    let Nav::SignedIn { csrf, .. } = &nav else {
        return Err(WebError::internal("a manager is not signed in"));
    };
    let project = &shown.project;
    let here = address(project);
    let now =
        RevisionTime::from_system_time(std::time::SystemTime::now()).map_err(WebError::internal)?;
    let body = html! {
        (layout::breadcrumbs(&[
            (&project.path, urls::project(&project.path)),
            ("Settings", here.clone()),
        ]))
        h1 { "Settings of " (project.path) }
        p { a href={ (here) "/cleanup" } { "Cleanup policy" } ": remove old revisions by rules, with a dry run first." }
        (members(&shown, &here, csrf))
        (visibility(&shown, &here, csrf))
        (shown.remote.section(&here, csrf))
        section aria-labelledby="deploy-heading" {
            h2 #deploy-heading { "Deploy tokens" }
            p.muted { "A deploy token reads or writes this project's packages only; use its user name and secret with " code { "conan remote login" } "." }
            @if shown.tokens.is_empty() {
                p.muted { "No deploy tokens." }
            } @else {
                div.table-wrap {
                    table {
                        caption.muted { "Newest first" @if shown.token_count > shown.tokens.len() { ": the newest " (shown.tokens.len()) " of " (shown.token_count) } }
                        thead { tr {
                            th scope="col" { "Name" } th scope="col" { "User name" } th scope="col" { "Scopes" }
                            th scope="col" { "Created" } th scope="col" { "Expires" } th scope="col" { "Status" }
                            th scope="col" { span.visually-hidden { "Actions" } }
                        } }
                        tbody {
                            @for token in &shown.tokens {
                                tr {
                                    td { (token.name) }
                                    td { @if let TokenOwner::Project { username, .. } = &token.owner { code { (username) } } }
                                    td { (token.scopes.join(", ")) }
                                    td { (layout::time(token.created_at)) }
                                    td { @if let Some(at) = token.expires_at { (layout::time(at)) } @else { "never" } }
                                    td { (tokens::status(token, now)) }
                                    td {
                                        @if tokens::status(token, now) == "active" {
                                            form method="post" action={ (here) "/deploy-tokens/" (token.id.0) "/revoke" } {
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
            }
            h3 { "Create a deploy token" }
            form.stacked method="post" action={ (here) "/deploy-tokens" } {
                (layout::csrf_field(csrf))
                (tokens::token_fields(&[Scope::ReadPackageRegistry, Scope::WritePackageRegistry]))
                label for="deploy-username" { "User name (optional; generated when empty)" }
                input #deploy-username type="text" name="username" maxlength="255" autocapitalize="none";
                button type="submit" { "Create deploy token" }
            }
        }
    };
    Ok(respond::ok(layout::page("Settings", None, &nav, &body)))
}

/// The members section: the table with a role form and a remove button per member (for those
/// the visitor may change), and the form to add one.
fn members(shown: &Settings, here: &str, csrf: &str) -> Markup {
    let assignable: Vec<Role> = Role::ALL
        .iter()
        .copied()
        .filter(|role| *role != Role::Owner || shown.powers == Powers::Owner)
        .collect();
    let changeable = |role: Role| role != Role::Owner || shown.powers == Powers::Owner;
    html! {
        section aria-labelledby="members-heading" {
            h2 #members-heading { "Members" }
            @if shown.members.is_empty() {
                p.muted { "No members yet." }
            } @else {
                div.table-wrap {
                    table {
                        thead { tr {
                            th scope="col" { "User" } th scope="col" { "Role" }
                            th scope="col" { span.visually-hidden { "Actions" } }
                        } }
                        tbody {
                            @for (user, role) in &shown.members {
                                tr {
                                    td { (user.username) @if !user.is_active { " " span.muted { "(disabled)" } } }
                                    td {
                                        @if changeable(*role) {
                                            form.inline method="post" action={ (here) "/members" } {
                                                (layout::csrf_field(csrf))
                                                input type="hidden" name="username" value=(user.username);
                                                label.visually-hidden for={ "role-" (user.id) } { "Role of " (user.username) }
                                                select id={ "role-" (user.id) } name="role" {
                                                    @for choice in &assignable {
                                                        option value=(choice) selected[choice == role] { (choice) }
                                                    }
                                                }
                                                button type="submit" { "Change" }
                                            }
                                        } @else {
                                            (role)
                                        }
                                    }
                                    td {
                                        @if changeable(*role) {
                                            form method="post" action={ (here) "/members/remove" } {
                                                (layout::csrf_field(csrf))
                                                input type="hidden" name="username" value=(user.username);
                                                button.danger type="submit" aria-label={ "Remove " (user.username) } { "Remove" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                (layout::pager(shown.position, &|page| format!("{here}{}", urls::query(&[("page", &page.to_string())]))))
            }
            h3 { "Add a member" }
            form.stacked method="post" action={ (here) "/members" } {
                (layout::csrf_field(csrf))
                label for="member-username" { "User name" }
                input #member-username type="text" name="username" required maxlength="255" autocapitalize="none";
                label for="member-role" { "Role" }
                select #member-role name="role" {
                    @for choice in &assignable {
                        option value=(choice) selected[*choice == Role::Developer] { (choice) }
                    }
                }
                button type="submit" { "Add member" }
            }
        }
    }
}

/// The visibility section: a form for owners, the value for maintainers.
fn visibility(shown: &Settings, here: &str, csrf: &str) -> Markup {
    html! {
        section aria-labelledby="visibility-heading" {
            h2 #visibility-heading { "Visibility" }
            @if shown.powers == Powers::Owner {
                form.stacked method="post" action={ (here) "/visibility" } {
                    (layout::csrf_field(csrf))
                    label for="visibility" { "Who may read this project's packages" }
                    select #visibility name="visibility" {
                        @for choice in Visibility::ALL {
                            option value=(choice) selected[*choice == shown.project.visibility] {
                                (choice) ": " (match choice {
                                    Visibility::Public => "anyone, signed in or not",
                                    Visibility::Internal => "any signed-in user",
                                    Visibility::Private => "members only",
                                })
                            }
                        }
                    }
                    button type="submit" { "Save visibility" }
                }
            } @else {
                p { "This project is " strong { (shown.project.visibility) } ". Owners change it." }
            }
        }
    }
}

/// A role from a form.
fn role(form: &Query) -> Result<Role, WebError> {
    form.get("role")
        .unwrap_or_default()
        .parse()
        .map_err(|error: conan_store::StoreError| WebError::bad_request(error.to_string()))
}

/// How many owners `project` has.
fn owners(reader: &Reader<'_>, project: &Project) -> Result<usize, WebError> {
    Ok(reader
        .store
        .project_members(project.id)?
        .iter()
        .filter(|(_, role)| *role == Role::Owner)
        .count())
}

/// Runs a settings form's change: checks the CSRF token, then, on the blocking pool, who may
/// manage the project, then `work` (which sees the form, the project and the visitor's
/// powers); then back to the settings page.
pub(crate) async fn change<F>(
    request: &HttpRequest,
    body: &[u8],
    work: F,
) -> Result<HttpResponse, WebError>
where
    F: FnOnce(&Reader<'_>, &Query, &Project, Powers) -> Result<(), WebError> + Send + 'static,
{
    let state = access::state(request)?;
    let form = session::signed_form(request, body)?;
    let path = params::segment(request, "project")?;
    let (next, _) = access::act(&state, access::viewer(request), move |reader| {
        let (project, powers) = managed(reader, &path)?;
        work(reader, &form, &project, powers)?;
        Ok(address(&project))
    })
    .await?;
    Ok(respond::redirect(&next))
}

/// The user a form names in `username`: `missing` when there is none.
fn named_user(reader: &Reader<'_>, form: &Query, missing: WebError) -> Result<User, WebError> {
    let username = form.get("username").unwrap_or_default().trim();
    reader.store.user_by_name(username)?.ok_or(missing)
}

/// The error for removing or demoting the last owner.
fn last_owner() -> WebError {
    WebError::bad_request("This is the project's last owner: make someone else owner first.")
}

/// `POST .../-/settings/members`: `username` and `role`: adds the user, or changes their role.
pub(crate) async fn set_member(
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    change(&request, &body, |reader, form, project, powers| {
        let new_role = role(form)?;
        let user = named_user(
            reader,
            form,
            WebError::bad_request("There is no user by that name."),
        )?;
        let current = reader.store.membership(project.id, user.id)?;
        if (new_role == Role::Owner || current == Some(Role::Owner)) && powers != Powers::Owner {
            return Err(WebError::Forbidden(
                "Only an owner gives or takes the owner role.".to_owned(),
            ));
        }
        if current == Some(Role::Owner) && new_role != Role::Owner && owners(reader, project)? == 1 {
            return Err(last_owner());
        }
        reader.store.set_membership(project.id, user.id, new_role)?;
        tracing::info!(project = %project.path, member = %user.username, role = %new_role, "web: membership set");
        Ok(())
    })
    .await
}

/// `POST .../-/settings/members/remove`: `username`.
pub(crate) async fn remove_member(
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    change(&request, &body, |reader, form, project, powers| {
        let user = named_user(reader, form, WebError::NotFound)?;
        let current = reader
            .store
            .membership(project.id, user.id)?
            .ok_or(WebError::NotFound)?;
        if current == Role::Owner {
            if powers != Powers::Owner {
                return Err(WebError::Forbidden(
                    "Only an owner removes an owner.".to_owned(),
                ));
            }
            if owners(reader, project)? == 1 {
                return Err(last_owner());
            }
        }
        reader.store.remove_membership(project.id, user.id)?;
        tracing::info!(project = %project.path, member = %user.username, "web: member removed");
        Ok(())
    })
    .await
}

/// `POST .../-/settings/visibility`: `visibility`, owners only.
pub(crate) async fn set_visibility(
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    change(&request, &body, |reader, form, project, powers| {
        if powers != Powers::Owner {
            return Err(WebError::Forbidden(
                "Only an owner changes the visibility.".to_owned(),
            ));
        }
        let visibility: Visibility =
            form.get("visibility").unwrap_or_default().parse().map_err(
                |error: conan_store::StoreError| WebError::bad_request(error.to_string()),
            )?;
        reader
            .store
            .set_project_visibility(project.id, visibility)?;
        tracing::info!(project = %project.path, visibility = %visibility, "web: visibility set");
        Ok(())
    })
    .await
}

/// `POST .../-/settings/deploy-tokens`: the token fields and an optional `username`. Answers
/// the page with the new secret.
pub(crate) async fn create_deploy_token(
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    let form = session::signed_form(&request, &body)?;
    let path = params::segment(&request, "project")?;
    let TokenRequest {
        name,
        scopes,
        expires_at,
    } = tokens::token_request(&form)?;
    let username = form
        .get("username")
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned);
    let ((created, project), nav) = access::act(&state, access::viewer(&request), move |reader| {
        let (project, _) = managed(reader, &path)?;
        let created = admin::create_deploy_token(
            reader.store,
            &project,
            username.as_deref(),
            &name,
            &scopes,
            expires_at,
        )
        .map_err(|error| match error {
            conan_auth::AuthError::Store(conan_store::StoreError::Conflict(_)) => {
                WebError::bad_request("That deploy token user name is taken.")
            }
            error => error.into(),
        })?;
        Ok((created, project))
    })
    .await?;
    tracing::info!(project = %project.path, token = created.token.id.0, "web: deploy token created");
    let username = match &created.token.owner {
        TokenOwner::Project { username, .. } => username.clone(),
        TokenOwner::User(_) => String::new(),
    };
    let extra = html! {
        p { "Its user name: " code { (username) } }
    };
    Ok(tokens::created_page(
        &nav,
        ("Back to the settings", &address(&project)),
        &created,
        &extra,
    ))
}

/// `POST .../-/settings/deploy-tokens/{id}/revoke`.
pub(crate) async fn revoke_deploy_token(
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let id = params::segment(&request, "id")?
        .parse::<i64>()
        .map(TokenId)
        .map_err(|_| WebError::NotFound)?;
    let at =
        RevisionTime::from_system_time(std::time::SystemTime::now()).map_err(WebError::internal)?;
    change(&request, &body, move |reader, _, project, _| {
        // Another project's token is the 404 page, like one that does not exist.
        match reader.store.token(TokenKind::Deploy, id)? {
            Some(token) if matches!(token.owner, TokenOwner::Project { project: owner, .. } if owner == project.id) => {
                reader.store.revoke_token(TokenKind::Deploy, id, at)?;
                tracing::info!(project = %project.path, token = id.0, "web: deploy token revoked");
                Ok(())
            }
            _ => Err(WebError::NotFound),
        }
    })
    .await
}
