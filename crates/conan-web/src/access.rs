//! Who is looking and what they may see, decided by conan-auth exactly as for the API: a
//! project the visitor may not read is the 404 page, like one that does not exist.
//!
//! A visitor is anonymous unless the browser sends a session cookie that conan-auth still
//! accepts ([`Authenticator::session`]); a cookie it no longer accepts (expired, password
//! changed, user disabled, token revoked) makes the visitor anonymous again.

use std::sync::Arc;

use actix_web::{HttpRequest, web};
use conan_auth::{Action, AuthError, Authenticator, Decision, Principal};
use conan_model::RecipeReference;
use conan_store::{MetadataStore, Project, ProjectKey, SearchScope, read_scope};

use crate::WebState;
use crate::error::WebError;
use crate::session;

/// The application state.
pub(crate) fn state(request: &HttpRequest) -> Result<web::Data<WebState>, WebError> {
    request
        .app_data::<web::Data<WebState>>()
        .cloned()
        .ok_or_else(|| WebError::internal("no web::Data<WebState> registered as app data"))
}

/// Who is looking, before the check: the session cookie the browser sent, if any. It is
/// checked in the page's read scope (see [`read`]).
#[derive(Clone)]
pub(crate) struct Visitor {
    session: Option<String>,
}

/// The visitor of `request`.
pub(crate) fn viewer(request: &HttpRequest) -> Visitor {
    Visitor {
        session: session::session_cookie(request),
    }
}

/// What the page shell shows of the visitor: a sign-in link, or the user's name with the
/// sign-out form.
#[derive(Debug, Clone)]
pub(crate) enum Nav {
    /// Not known (an error page): neither.
    Unknown,
    /// Not signed in.
    Anonymous,
    /// Signed in.
    SignedIn {
        /// The user name.
        name: String,
        /// The CSRF token of the visitor's forms.
        csrf: String,
        /// Whether the visitor is an instance administrator in a password session (to link the
        /// admin area).
        admin: bool,
    },
}

/// The principal behind a visitor's session, and what the shell shows of it.
fn resolve(auth: &Authenticator, visitor: &Visitor) -> Result<(Principal, Nav), WebError> {
    let Some(cookie) = &visitor.session else {
        return Ok((Principal::Anonymous, Nav::Anonymous));
    };
    match auth.session(cookie) {
        Ok(principal) => {
            let admin = matches!(&principal, Principal::User { user, source: conan_auth::Source::Password, .. } if user.is_admin);
            let nav = Nav::SignedIn {
                name: principal.name().to_owned(),
                csrf: session::session_csrf(cookie),
                admin,
            };
            Ok((principal, nav))
        }
        Err(AuthError::InvalidToken) => Ok((Principal::Anonymous, Nav::Anonymous)),
        Err(error) => Err(error.into()),
    }
}

/// The URL clients reach the registry at, without a trailing `/`.
pub(crate) fn base_url(state: &WebState, request: &HttpRequest) -> String {
    if let Some(url) = &state.external_url {
        url.trim_end_matches('/').to_owned()
    } else {
        let info = request.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    }
}

/// What a page's reads run with.
pub(crate) struct Reader<'a> {
    /// The metadata store.
    pub(crate) store: &'a dyn MetadataStore,
    /// The permission decision.
    pub(crate) auth: &'a Authenticator,
    /// The visitor.
    pub(crate) viewer: &'a Principal,
}

impl Reader<'_> {
    /// The project at `path`, if the visitor may read it; the 404 page otherwise, whether it
    /// exists or not.
    pub(crate) fn project(&self, path: &str) -> Result<Project, WebError> {
        match self
            .auth
            .authorize_project(self.viewer, ProjectKey::Path(path), Action::Read)?
        {
            Some((project, Decision::Allow)) => Ok(project),
            _ => Err(WebError::NotFound),
        }
    }

    /// What the API would decide for the visitor doing `action` to `reference` in `project`
    /// (roles, then the project's protection rules).
    pub(crate) fn package_decision(
        &self,
        project: &Project,
        action: Action,
        reference: &RecipeReference,
    ) -> Result<Decision, WebError> {
        Ok(self
            .auth
            .authorize_package(
                self.viewer,
                ProjectKey::Id(project.id),
                action,
                reference.name(),
            )?
            .map_or(Decision::NotFound, |(_, decision)| decision))
    }

    /// Whether the visitor may delete `reference` in `project` (to offer the delete links).
    pub(crate) fn may_delete(
        &self,
        project: &Project,
        reference: &RecipeReference,
    ) -> Result<bool, WebError> {
        Ok(self.package_decision(project, Action::Delete, reference)? == Decision::Allow)
    }

    /// Every project the visitor may read, ordered by path.
    pub(crate) fn projects(&self) -> Result<Vec<Project>, WebError> {
        let scope = self.auth.readable_projects(self.viewer)?;
        let mut projects: Vec<Project> = self
            .store
            .projects()?
            .into_iter()
            .filter(|project| match &scope {
                SearchScope::All => true,
                SearchScope::Projects(ids) => ids.contains(&project.id),
            })
            .collect();
        projects.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(projects)
    }
}

/// Checks the visitor's session, then runs `work` as them; says who they turned out to be.
fn visit<T>(
    state: &WebState,
    visitor: &Visitor,
    work: impl FnOnce(&Reader<'_>) -> Result<T, WebError>,
) -> Result<(T, Nav), WebError> {
    let (viewer, nav) = resolve(&state.auth, visitor)?;
    let done = work(&Reader {
        store: state.metadata.as_ref(),
        auth: &state.auth,
        viewer: &viewer,
    })?;
    Ok((done, nav))
}

/// Runs a page's reads on the blocking pool, in one read scope (one snapshot for the session
/// check, the permission decision and everything shown), and says who the visitor turned out
/// to be.
pub(crate) async fn read<T, F>(
    state: &web::Data<WebState>,
    visitor: Visitor,
    work: F,
) -> Result<(T, Nav), WebError>
where
    F: FnOnce(&Reader<'_>) -> Result<T, WebError> + Send + 'static,
    T: Send + 'static,
{
    let state = web::Data::clone(state);
    web::block(move || {
        let store = Arc::clone(&state.metadata);
        read_scope(store.as_ref(), || visit(&state, &visitor, work))?
    })
    .await?
}

/// Runs a form's change on the blocking pool, outside a read scope (it writes), after checking
/// the visitor's session as [`read`] does; says who the visitor turned out to be.
pub(crate) async fn act<T, F>(
    state: &web::Data<WebState>,
    visitor: Visitor,
    work: F,
) -> Result<(T, Nav), WebError>
where
    F: FnOnce(&Reader<'_>) -> Result<T, WebError> + Send + 'static,
    T: Send + 'static,
{
    let state = web::Data::clone(state);
    web::block(move || visit(&state, &visitor, work)).await?
}
