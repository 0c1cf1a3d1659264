//! Who is calling and what they may see or do, as GitLab's REST API decides it: personal access
//! tokens in `PRIVATE-TOKEN` or `Authorization: Bearer`, the one permission decision of
//! conan-auth, and GitLab's REST answers (a private project is a 404 to outsiders; an anonymous
//! or under-privileged delete is a 403).

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use conan_auth::policy::protect;
use conan_auth::token::PERSONAL_TOKEN_PREFIX;
use conan_auth::{Action, Authenticator, Credentials, Decision, Principal, decide};
use conan_store::cleanup::CleanupRunner;
use conan_store::{MetadataStore, PackageType, Project, ProjectId, ProjectKey, Role, read_scope};
use percent_encoding::percent_decode_str;

use crate::error::RestError;

/// What every handler of the Packages API needs, built once by the binary and registered as
/// `web::Data<RestState>` app data.
#[derive(Clone)]
pub struct RestState {
    /// Recipes, files and identity (synchronous: called on the blocking pool).
    pub metadata: Arc<dyn MetadataStore>,
    /// Authentication and the permission decision.
    pub auth: Authenticator,
    /// The URL clients reach the registry at (`api.external_url`), for `Link` headers and
    /// `_links`; without it, the request's own scheme and host.
    pub external_url: Option<String>,
    /// Carries out cleanup runs started through the API, and dry runs.
    pub cleanup: CleanupRunner,
}

impl std::fmt::Debug for RestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestState")
            .field("external_url", &self.external_url)
            .finish_non_exhaustive()
    }
}

impl RestState {
    /// The URL clients reach the registry at, without a trailing `/`.
    pub(crate) fn base_url(&self, request: &HttpRequest) -> String {
        if let Some(url) = &self.external_url {
            url.trim_end_matches('/').to_owned()
        } else {
            let info = request.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    }
}

/// The application state.
pub(crate) fn state(request: &HttpRequest) -> Result<web::Data<RestState>, RestError> {
    request
        .app_data::<web::Data<RestState>>()
        .cloned()
        .ok_or_else(|| RestError::internal("no web::Data<RestState> registered as app data"))
}

/// The caller's credentials as the request carries them, checked for shape before any lookup.
pub(crate) struct Caller {
    credentials: Option<Credentials>,
    address: Option<IpAddr>,
}

impl Caller {
    /// Reads the credentials GitLab's REST API takes: a personal access token in `PRIVATE-TOKEN`
    /// or `Authorization: Bearer`. Anything else that claims to be a credential is a 401, never
    /// a silent downgrade to anonymous: a deploy token (which GitLab does not take on these
    /// routes either), a Conan JWT, Basic credentials, a CI job token, and a token in the query
    /// string (which would end up in access logs).
    pub(crate) fn of(request: &HttpRequest) -> Result<Self, RestError> {
        let query = request.query_string();
        if query.split('&').any(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            key == "private_token" || key == "job_token" || key == "access_token"
        }) {
            return Err(RestError::Unauthorized);
        }
        let headers = request.headers();
        if headers.contains_key("JOB-TOKEN") || headers.contains_key("Deploy-Token") {
            return Err(RestError::Unauthorized);
        }
        let token = if let Some(value) = headers.get("PRIVATE-TOKEN") {
            Some(value.to_str().map_err(|_| RestError::Unauthorized)?.trim())
        } else if let Some(value) = headers.get(header::AUTHORIZATION) {
            let value = value.to_str().map_err(|_| RestError::Unauthorized)?;
            match Credentials::from_header(value) {
                Ok(Credentials::Bearer(_)) => {
                    value.trim().split_once(' ').map(|(_, rest)| rest.trim())
                }
                _ => return Err(RestError::Unauthorized),
            }
        } else {
            None
        };
        let credentials = match token {
            None => None,
            Some(token) if token.starts_with(PERSONAL_TOKEN_PREFIX) => {
                Some(Credentials::Bearer(token.to_owned()))
            }
            Some(_) => return Err(RestError::Unauthorized),
        };
        Ok(Self {
            credentials,
            address: request.peer_addr().map(|address| address.ip()),
        })
    }

    /// Authenticates the caller (on a blocking thread: a token lookup reads the database).
    pub(crate) fn principal(&self, auth: &Authenticator) -> Result<Principal, RestError> {
        Ok(auth.authenticate_from(self.credentials.as_ref(), self.address)?)
    }
}

/// The project `{id}` names: a numeric id, or the URL-encoded full path.
pub(crate) fn project_key(raw: &str) -> Result<OwnedProjectKey, RestError> {
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| RestError::project_not_found())?;
    if !decoded.is_empty() && decoded.bytes().all(|byte| byte.is_ascii_digit()) {
        let id = decoded
            .parse()
            .map_err(|_| RestError::project_not_found())?;
        Ok(OwnedProjectKey::Id(ProjectId(id)))
    } else {
        Ok(OwnedProjectKey::Path(decoded.into_owned()))
    }
}

/// A [`ProjectKey`] that owns its path, to move onto a blocking thread.
#[derive(Debug, Clone)]
pub(crate) enum OwnedProjectKey {
    /// A numeric id.
    Id(ProjectId),
    /// A full path.
    Path(String),
}

impl OwnedProjectKey {
    fn key(&self) -> ProjectKey<'_> {
        match self {
            Self::Id(id) => ProjectKey::Id(*id),
            Self::Path(path) => ProjectKey::Path(path),
        }
    }
}

/// A caller allowed to read a project, with what the other decisions need.
pub(crate) struct ProjectAccess {
    /// The caller.
    pub(crate) principal: Principal,
    /// The project.
    pub(crate) project: Project,
    /// The caller's role in it.
    pub(crate) role: Option<Role>,
}

impl ProjectAccess {
    /// Finds the project and checks that the caller may read it: a project that does not exist
    /// or that the caller may not see is `404 Project Not Found`, whoever asks.
    pub(crate) fn read(
        store: &dyn MetadataStore,
        principal: Principal,
        key: &OwnedProjectKey,
    ) -> Result<Self, RestError> {
        let (project, role) = store
            .project_and_role(key.key(), principal.user_id())?
            .ok_or_else(RestError::project_not_found)?;
        match decide(&principal, &project, role, Action::Read) {
            Decision::Allow => Ok(Self {
                principal,
                project,
                role,
            }),
            Decision::Forbidden | Decision::PushProtected | Decision::DeleteProtected => {
                Err(RestError::Forbidden(None))
            }
            Decision::Unauthorized | Decision::NotFound => Err(RestError::project_not_found()),
        }
    }

    /// Whether the caller may see the project's statistics: reporters and above, and instance
    /// admins, as GitLab.
    pub(crate) fn may_see_statistics(&self) -> bool {
        conan_auth::may_see_statistics(&self.principal, self.role)
    }

    /// Whether the caller may delete the project's packages (for `_links.delete_api_path`).
    pub(crate) fn may_delete(&self) -> bool {
        decide(&self.principal, &self.project, self.role, Action::Delete) == Decision::Allow
    }

    /// Checks that the caller may delete the project's packages: 403 otherwise (GitLab's answer
    /// to an anonymous caller, a Developer, or a token without the `api` scope).
    pub(crate) fn require_delete(&self) -> Result<(), RestError> {
        match decide(&self.principal, &self.project, self.role, Action::Delete) {
            Decision::Allow => Ok(()),
            Decision::NotFound => Err(RestError::project_not_found()),
            Decision::PushProtected | Decision::DeleteProtected => Err(deletion_protected()),
            Decision::Forbidden | Decision::Unauthorized => {
                let role_allows = match &self.principal {
                    Principal::User { user, .. } => {
                        user.is_admin || self.role.is_some_and(|role| role >= Role::Maintainer)
                    }
                    _ => false,
                };
                if role_allows {
                    Err(RestError::InsufficientScope)
                } else {
                    Err(RestError::Forbidden(None))
                }
            }
        }
    }
}

/// GitLab's answer to a delete that a protection rule forbids.
fn deletion_protected() -> RestError {
    RestError::Forbidden(Some("Package is deletion protected.".to_owned()))
}

impl ProjectAccess {
    /// Checks that the caller may delete the Conan package (recipe) `name`: the role and scope
    /// of [`require_delete`](Self::require_delete), then the project's protection rules that
    /// match the name, as the Conan API's deletes apply them.
    pub(crate) fn require_delete_package(
        &self,
        store: &dyn MetadataStore,
        name: &conan_model::Name,
    ) -> Result<(), RestError> {
        self.require_delete()?;
        let rules =
            store.matching_protection_rules(self.project.id, PackageType::Conan, name.as_str())?;
        match protect(&self.principal, self.role, Action::Delete, &rules) {
            Decision::Allow => Ok(()),
            _ => Err(deletion_protected()),
        }
    }
}

/// Runs `work` on the blocking pool with the caller authenticated: for a route that only
/// reads, inside one read scope of the metadata store (one snapshot for the caller's identity,
/// the project and the answer); for one that writes, without (each store call is its own
/// transaction).
pub(crate) async fn run<T, F>(
    state: &web::Data<RestState>,
    caller: Caller,
    reads_only: bool,
    work: F,
) -> Result<T, RestError>
where
    F: FnOnce(&dyn MetadataStore, Principal) -> Result<T, RestError> + Send + 'static,
    T: Send + 'static,
{
    let state = web::Data::clone(state);
    web::block(move || {
        let store = Arc::clone(&state.metadata);
        let work = || work(store.as_ref(), caller.principal(&state.auth)?);
        if reads_only {
            read_scope(store.as_ref(), work)?
        } else {
            work()
        }
    })
    .await?
}

/// [`run`] for a route that only reads.
pub(crate) async fn read<T, F>(
    state: &web::Data<RestState>,
    caller: Caller,
    work: F,
) -> Result<T, RestError>
where
    F: FnOnce(&dyn MetadataStore, Principal) -> Result<T, RestError> + Send + 'static,
    T: Send + 'static,
{
    run(state, caller, true, work).await
}
