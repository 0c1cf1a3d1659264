//! Who is looking and what they may see, decided by conan-auth exactly as for the API: a
//! project the visitor may not read is the 404 page, like one that does not exist.
//!
//! There is no sign-in yet: every visitor is anonymous and sees public projects only. The
//! pages take the visitor as a [`Principal`] all the same, so sessions only change
//! [`viewer`].

use std::sync::Arc;

use actix_web::{HttpRequest, web};
use conan_auth::{Action, Authenticator, Decision, Principal};
use conan_store::{MetadataStore, Project, ProjectKey, SearchScope, read_scope};

use crate::WebState;
use crate::error::WebError;

/// The application state.
pub(crate) fn state(request: &HttpRequest) -> Result<web::Data<WebState>, WebError> {
    request
        .app_data::<web::Data<WebState>>()
        .cloned()
        .ok_or_else(|| WebError::internal("no web::Data<WebState> registered as app data"))
}

/// The visitor. Always anonymous until sign-in exists: the interface takes no credentials, so
/// a page never shows more than a public project.
pub(crate) fn viewer(_request: &HttpRequest) -> Principal {
    Principal::Anonymous
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

/// Runs a page's reads on the blocking pool, in one read scope (one snapshot for the
/// permission decision and everything shown).
pub(crate) async fn read<T, F>(
    state: &web::Data<WebState>,
    viewer: Principal,
    work: F,
) -> Result<T, WebError>
where
    F: FnOnce(&Reader<'_>) -> Result<T, WebError> + Send + 'static,
    T: Send + 'static,
{
    let state = web::Data::clone(state);
    web::block(move || {
        let store = Arc::clone(&state.metadata);
        let reader = Reader {
            store: store.as_ref(),
            auth: &state.auth,
            viewer: &viewer,
        };
        read_scope(store.as_ref(), || work(&reader))?
    })
    .await?
}
