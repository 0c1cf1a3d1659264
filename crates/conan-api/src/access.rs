//! Who is calling and what they may do: the `Authorization` header to a principal, the request's
//! project, and the permission decision, mapped to the 401/403/404 contract.

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpRequest, web};
use conan_auth::{Action, Credentials, Decision, Principal};
use conan_model::{FilePath, PackageId, RecipeReference, Revision};
use conan_store::{
    FileOwner, PackageRevisionKey, Project, ProjectId, RecipeRevisionKey, SearchScope,
};
use futures::future::LocalBoxFuture;
use percent_encoding::percent_decode_str;

use crate::error::ApiError;
use crate::params::{self, Level};
use crate::state::AppState;

/// Runs one synchronous storage call on the blocking pool.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    web::block(work).await?
}

/// The application state, which the binary registers as `web::Data<AppState>`.
pub(crate) fn state(request: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    request
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::bug("no web::Data<AppState> registered as app data"))
}

/// The request's credentials: `None` without an `Authorization` header; a header that is not
/// well-formed Basic or Bearer is a 401, never a silent downgrade to anonymous.
pub(crate) fn credentials(request: &HttpRequest) -> Result<Option<Credentials>, ApiError> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| ApiError::unauthorized())?;
    Credentials::from_header(text)
        .map(Some)
        .map_err(ApiError::from)
}

/// Authenticates the request's credentials (anonymous without any).
pub(crate) async fn principal(
    state: &AppState,
    request: &HttpRequest,
) -> Result<Principal, ApiError> {
    let credentials = credentials(request)?;
    let auth = state.auth.clone();
    blocking(move || Ok(auth.authenticate(credentials.as_ref())?)).await
}

/// How a request names its project.
enum ProjectRef {
    /// A numeric id (project prefix).
    Id(ProjectId),
    /// A full path: the decoded `{id}` of the project prefix, or the recipe user's path at the
    /// instance prefix.
    Path(String),
}

impl ProjectRef {
    /// The project `request` addresses; `recipe` is needed at the instance prefix.
    fn of(request: &HttpRequest, recipe: Option<&RecipeReference>) -> Result<Self, ApiError> {
        match Level::of(request) {
            Level::Project(raw) => {
                // An `{id}` that does not decode names no project.
                let decoded = percent_decode_str(&raw)
                    .decode_utf8()
                    .map_err(|_| ApiError::project_not_found())?;
                if !decoded.is_empty() && decoded.bytes().all(|byte| byte.is_ascii_digit()) {
                    let id = decoded.parse().map_err(|_| ApiError::project_not_found())?;
                    Ok(Self::Id(ProjectId(id)))
                } else {
                    Ok(Self::Path(decoded.into_owned()))
                }
            }
            Level::Instance => recipe
                .and_then(RecipeReference::user)
                .map(|user| Self::Path(user.project_path()))
                .ok_or_else(|| ApiError::not_found("Not found")),
        }
    }
}

/// Authenticates the request, finds its project and checks that the caller may do `action`
/// there, returning the project: 401 for bad credentials or an anonymous caller who must log in, 403 for an
/// authenticated caller without the right, 404 `Project Not Found` for a project that does not
/// exist or that the caller may not see.
pub(crate) async fn grant(
    state: &AppState,
    request: &HttpRequest,
    recipe: Option<&RecipeReference>,
    action: Action,
) -> Result<Project, ApiError> {
    let credentials = credentials(request)?;
    let project_ref = ProjectRef::of(request, recipe)?;
    let auth = state.auth.clone();
    let store = Arc::clone(&state.metadata);
    blocking(move || {
        let principal = auth.authenticate(credentials.as_ref())?;
        let project = match project_ref {
            ProjectRef::Id(id) => store.project(id)?,
            ProjectRef::Path(path) => store.project_by_path(&path)?,
        }
        .ok_or_else(ApiError::project_not_found)?;
        match auth.authorize(&principal, &project, action)? {
            Decision::Allow => Ok(project),
            Decision::Unauthorized => Err(ApiError::unauthorized()),
            Decision::Forbidden => Err(ApiError::Forbidden),
            Decision::NotFound => Err(ApiError::project_not_found()),
        }
    })
    .await
}

/// The projects a search covers: at the project prefix that project (after checking that the
/// caller may read it), at the instance prefix every project the caller may read.
pub(crate) async fn search_scope(
    state: &AppState,
    request: &HttpRequest,
) -> Result<SearchScope, ApiError> {
    match Level::of(request) {
        Level::Project(_) => {
            let project = grant(state, request, None, Action::Read).await?;
            Ok(SearchScope::Projects(vec![project.id]))
        }
        Level::Instance => {
            let credentials = credentials(request)?;
            let auth = state.auth.clone();
            blocking(move || {
                let principal = auth.authenticate(credentials.as_ref())?;
                Ok(auth.readable_projects(&principal)?)
            })
            .await
        }
    }
}

/// The action an HTTP method asks for: reading, uploading (PUT) or deleting.
fn action_of(method: &Method) -> Action {
    if *method == Method::PUT {
        Action::Upload
    } else if *method == Method::DELETE {
        Action::Delete
    } else {
        Action::Read
    }
}

/// A request under `R = conans/{name}/{version}/{user}/{channel}`: every path parameter the
/// route has, parsed, and the caller authorized for the action its method asks for.
///
/// As an extractor it runs before the handler, so a handler only ever sees valid parameters
/// and a caller who may act.
pub(crate) struct Target {
    /// The application state.
    pub(crate) state: web::Data<AppState>,
    /// The project the recipe lives in.
    pub(crate) project: Project,
    /// The recipe.
    pub(crate) recipe: RecipeReference,
    /// `{rrev}`, when the route has it.
    recipe_revision: Option<Revision>,
    /// `{pkgid}`, when the route has it.
    package_id: Option<PackageId>,
    /// `{prev}`, when the route has it.
    package_revision: Option<Revision>,
    /// `{path}`, when the route has it.
    path: Option<FilePath>,
}

impl Target {
    /// Extracts the target, authorizing the action the request's method implies.
    async fn extract(request: HttpRequest) -> Result<Self, ApiError> {
        let action = action_of(request.method());
        Self::authorized(&request, action).await
    }

    /// Parses every path parameter of `request` and authorizes the caller for `action`: for
    /// routes whose method does not tell (the Conan v1 `POST`s).
    pub(crate) async fn authorized(
        request: &HttpRequest,
        action: Action,
    ) -> Result<Self, ApiError> {
        let state = state(request)?;
        // Parameters first, in path order: a malformed request is a 400 whoever sends it.
        let recipe = params::recipe(request)?;
        let recipe_revision =
            params::revision(request, params::RECIPE_REVISION, "recipe revision")?;
        let package_id = params::package_id(request)?;
        let package_revision =
            params::revision(request, params::PACKAGE_REVISION, "package revision")?;
        let path = params::file_path(request)?;
        let project = grant(&state, request, Some(&recipe), action).await?;
        Ok(Self {
            state,
            project,
            recipe,
            recipe_revision,
            package_id,
            package_revision,
            path,
        })
    }

    /// The recipe revision `{rrev}` of the route.
    pub(crate) fn recipe_key(&self) -> Result<RecipeRevisionKey, ApiError> {
        let revision = self
            .recipe_revision
            .clone()
            .ok_or_else(|| ApiError::bug("route has no {rrev}"))?;
        Ok(RecipeRevisionKey {
            project: self.project.id,
            recipe: self.recipe.clone(),
            revision,
        })
    }

    /// The package id `{pkgid}` of the route.
    pub(crate) fn package_id(&self) -> Result<PackageId, ApiError> {
        self.package_id
            .clone()
            .ok_or_else(|| ApiError::bug("route has no {pkgid}"))
    }

    /// The package revision `{rrev}`, `{pkgid}`, `{prev}` of the route.
    pub(crate) fn package_key(&self) -> Result<PackageRevisionKey, ApiError> {
        Ok(PackageRevisionKey {
            recipe: self.recipe_key()?,
            package_id: self.package_id()?,
            revision: self
                .package_revision
                .clone()
                .ok_or_else(|| ApiError::bug("route has no {prev}"))?,
        })
    }

    /// The revision whose files the route addresses: a package revision when the route has
    /// `{prev}`, else the recipe revision.
    pub(crate) fn owner(&self) -> Result<FileOwner, ApiError> {
        if self.package_revision.is_some() {
            Ok(FileOwner::Package(self.package_key()?))
        } else {
            Ok(FileOwner::Recipe(self.recipe_key()?))
        }
    }

    /// The file path `{path}` of the route.
    pub(crate) fn path(&self) -> Result<FilePath, ApiError> {
        self.path
            .clone()
            .ok_or_else(|| ApiError::bug("route has no {path}"))
    }
}

impl FromRequest for Target {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(Self::extract(request))
    }
}
