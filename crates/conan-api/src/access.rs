//! Who is calling and what they may do: the `Authorization` header to a principal, the request's
//! project, and the permission decision, mapped to the 401/403/404 contract.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::{Method, Version, header};
use actix_web::{FromRequest, HttpRequest, web};
use conan_auth::{Action, Credentials, Decision, Principal, Resolved};
use conan_model::{FilePath, PackageId, RecipeReference, Revision};
use conan_remote::ListKey;
use conan_store::remotes::RemoteSettings;
use conan_store::{
    FileOwner, MetadataStore, PackageRevisionKey, Project, ProjectId, ProjectKey,
    RecipeRevisionKey, RevisionEntry, SearchScope, read_scope, read_scope_now,
};
use futures::future::LocalBoxFuture;
use percent_encoding::percent_decode_str;

use crate::error::ApiError;
use crate::params::{self, Level};
use crate::remote::{Listed, RemoteNode};
use crate::state::AppState;

/// Runs one synchronous storage call on the blocking pool.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    web::block(work).await?
}

/// Runs `work`, which only reads, inside one read scope of the metadata store: whatever it reads
/// (the caller's identity, the project, the answer) comes from one snapshot through one
/// connection checkout and one transaction. See [`ReadScope`](conan_store::ReadScope).
///
/// When the caller is `cheap_to_check` (or already authenticated) and the database is embedded
/// with an idle connection, the read runs right here on the worker: it is a few microseconds of
/// this thread's own work, less than handing it to the blocking pool and back. Otherwise it runs
/// on the blocking pool, so that nothing that waits stalls the worker's other connections:
/// PostgreSQL (whose reads wait for round trips), no idle connection, or Basic credentials (a
/// password costs an argon2 verification). A panic in an inline read becomes a 500, as one on
/// the pool does.
pub(crate) async fn read<T, F>(
    state: &AppState,
    cheap_to_check: bool,
    work: F,
) -> Result<T, ApiError>
where
    F: FnOnce(&dyn MetadataStore) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let store = Arc::clone(&state.metadata);
    let mut job = {
        let store = Arc::clone(&store);
        move || work(store.as_ref())
    };
    if cheap_to_check {
        let inline = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            read_scope_now(store.as_ref(), job)
        }));
        job = match inline {
            Ok(Ok(answer)) => return answer?,
            Ok(Err(unrun)) => unrun,
            Err(_) => return Err(ApiError::bug("a read panicked")),
        };
    }
    blocking(move || read_scope(store.as_ref(), job)?).await
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

/// The client's address for login rate limiting: the TCP peer's. Headers such as
/// `X-Forwarded-For` are never trusted for it, since any client can send them.
pub(crate) fn client_address(request: &HttpRequest) -> Option<IpAddr> {
    request.peer_addr().map(|address| address.ip())
}

/// Authenticates the request's credentials (anonymous without any).
pub(crate) async fn principal(
    state: &AppState,
    request: &HttpRequest,
) -> Result<Principal, ApiError> {
    let credentials = credentials(request)?;
    let address = client_address(request);
    let auth = state.auth.clone();
    blocking(move || Ok(auth.authenticate_from(credentials.as_ref(), address)?)).await
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

impl ProjectRef {
    /// The store's key for the project.
    fn key(&self) -> ProjectKey<'_> {
        match self {
            Self::Id(id) => ProjectKey::Id(*id),
            Self::Path(path) => ProjectKey::Path(path),
        }
    }
}

/// Who is calling: what the blocking pool needs from the request to authenticate it.
struct Caller {
    credentials: Option<Credentials>,
    address: Option<IpAddr>,
}

impl Caller {
    fn of(request: &HttpRequest) -> Result<Self, ApiError> {
        Ok(Self {
            credentials: credentials(request)?,
            address: client_address(request),
        })
    }

    /// Whether checking these credentials is only hashing and lookups: anonymous or a bearer
    /// token, not Basic (whose secret may be a password, verified with argon2).
    fn cheap_to_check(&self) -> bool {
        !matches!(self.credentials, Some(Credentials::Basic { .. }))
    }
}

/// Authenticates `caller`, finds its project and checks that it may do `action` there (on a
/// blocking thread, inside the request's read scope): 401 for bad credentials or an anonymous
/// caller who must log in, 403 for an authenticated caller without the right, 404 `Project Not
/// Found` for a project that does not exist or that the caller may not see.
///
/// With the route's `recipe`, an upload or a delete is also checked against the project's
/// protection rules (one more query, on write requests only): 403 `Package protected.` or
/// `Package is deletion protected.` when a rule covers the package.
///
/// A virtual project resolves here, once, to the member that answers (conan-auth's
/// [`authorize_resolved`](conan_auth::Authenticator::authorize_resolved) decides which), so
/// every route works on the returned project's id as for an ordinary project; an upload or a
/// delete through a virtual project without a deploy member is a 403 that says so.
///
/// With the project comes its upstream when it is a remote project (from the identity cache).
fn authorize(
    state: &AppState,
    caller: &Caller,
    project_ref: &ProjectRef,
    action: Action,
    recipe: Option<&RecipeReference>,
) -> Result<(Project, Option<RemoteSettings>), ApiError> {
    // The authenticator reads through its own store, the same one as `state.metadata` (the
    // binary hands both one store), so its reads join the read scope open on this thread
    // although no signature says so: the caller, the project and the answer come from one
    // snapshot, with one checkout and one transaction on this hot path. A scope parameter
    // through conan-auth would tie its whole API to the store's scopes for that alone.
    let principal = state
        .auth
        .authenticate_from(caller.credentials.as_ref(), caller.address)?;
    let key = project_ref.key();
    let resolved = state
        .auth
        .authorize_resolved(&principal, key, action, recipe)?
        .ok_or_else(ApiError::project_not_found)?;
    match resolved {
        (Resolved::Project(project, decision), remote) => Ok((allowed(project, decision)?, remote)),
        (Resolved::NoDeployMember(_), _) => Err(ApiError::NoDeployMember),
        _ => Err(ApiError::bug("unknown resolution of a virtual project")),
    }
}

/// The project when `decision` allows, else the error answer the decision maps to.
fn allowed(project: Project, decision: Decision) -> Result<Project, ApiError> {
    match decision {
        Decision::Allow => Ok(project),
        Decision::Unauthorized => Err(ApiError::unauthorized()),
        Decision::Forbidden => Err(ApiError::Forbidden),
        Decision::NotFound => Err(ApiError::project_not_found()),
        Decision::PushProtected => Err(ApiError::PackageProtected),
        Decision::DeleteProtected => Err(ApiError::DeletionProtected),
    }
}

/// Authenticates the request, finds its project and checks that the caller may do `action`
/// there, and to the `recipe`'s package (its protection rules) when given, returning the project
/// (see [`authorize`] for the answers).
pub(crate) async fn grant(
    state: &web::Data<AppState>,
    request: &HttpRequest,
    recipe: Option<&RecipeReference>,
    action: Action,
) -> Result<Project, ApiError> {
    let caller = Caller::of(request)?;
    let project_ref = ProjectRef::of(request, recipe)?;
    let shared = web::Data::clone(state);
    let recipe = recipe.cloned();
    read(state, caller.cheap_to_check(), move |_| {
        let (project, remote) = authorize(&shared, &caller, &project_ref, action, recipe.as_ref())?;
        // A remote project only caches its upstream: nothing is uploaded to it (deletes of
        // what it cached are allowed, as in any project).
        if action == Action::Upload
            && let Some(settings) = remote
        {
            return Err(ApiError::RemoteProject {
                host: host_of(&settings),
            });
        }
        Ok(project)
    })
    .await
}

/// The host of a remote project's upstream, for messages.
fn host_of(settings: &RemoteSettings) -> String {
    conan_upstream::Url::parse(&settings.upstream_url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_else(|| "the upstream".to_owned())
}

/// Runs a search: finds the projects it covers (at the project prefix that project, after
/// checking that the caller may read it; at the instance prefix every project the caller may
/// read) and runs `work` over them, in one blocking call and one read scope.
pub(crate) async fn search<T, F>(
    state: &web::Data<AppState>,
    request: &HttpRequest,
    work: F,
) -> Result<T, ApiError>
where
    F: FnOnce(&dyn MetadataStore, &SearchScope) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let caller = Caller::of(request)?;
    let project_ref = match Level::of(request) {
        Level::Project(_) => Some(ProjectRef::of(request, None)?),
        Level::Instance => None,
    };
    let shared = web::Data::clone(state);
    read(state, caller.cheap_to_check(), move |store| {
        let scope = if let Some(project_ref) = project_ref {
            // The project itself, never resolved to a member: a virtual project's URL
            // searches the members the caller may read.
            let principal = shared
                .auth
                .authenticate_from(caller.credentials.as_ref(), caller.address)?;
            let (project, decision) = shared
                .auth
                .authorize_project(&principal, project_ref.key(), Action::Read)?
                .ok_or_else(ApiError::project_not_found)?;
            let project = allowed(project, decision)?;
            shared.auth.project_search_scope(&principal, &project)?
        } else {
            let principal = shared
                .auth
                .authenticate_from(caller.credentials.as_ref(), caller.address)?;
            shared.auth.readable_projects(&principal)?
        };
        work(store, &scope)
    })
    .await
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

/// Refuses a path whose percent-decoded bytes are not UTF-8 (`%C0%AF`, `%FF`), naming no
/// parameter: the router decodes such bytes lossily, to U+FFFD, before the parameters reach
/// [`params`], so an upload would otherwise store a file under a name the client never sent.
/// The project prefix's `{id}` is left to [`ProjectRef::of`], for which such a value simply
/// names no project.
pub(crate) fn require_utf8_path(request: &HttpRequest) -> Result<(), ApiError> {
    let raw = request.uri().path();
    let checked = match Level::of(request) {
        // "", "api", "v4", "projects", "{id}", then the rest.
        Level::Project(_) => raw.splitn(6, '/').nth(5).unwrap_or_default(),
        Level::Instance => raw,
    };
    if percent_decode_str(checked).decode_utf8().is_err() {
        return Err(ApiError::bad_request(
            "invalid request path: its percent-decoded bytes are not UTF-8",
        ));
    }
    Ok(())
}

/// Refuses an HTTP/1 upload that announces no body length: without `Content-Length` or chunked
/// encoding its body is empty by definition, and storing an empty file for it would hide a
/// broken client. A checksum-deploy probe is exempt: its body is never read. HTTP/2 frames
/// bodies itself.
pub(crate) fn require_length(request: &HttpRequest) -> Result<(), ApiError> {
    let headers = request.headers();
    let http1 = matches!(
        request.version(),
        Version::HTTP_09 | Version::HTTP_10 | Version::HTTP_11
    );
    let probe = headers
        .get("X-Checksum-Deploy")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"));
    if http1
        && !probe
        && !headers.contains_key(header::CONTENT_LENGTH)
        && !headers.contains_key(header::TRANSFER_ENCODING)
    {
        return Err(ApiError::LengthRequired);
    }
    Ok(())
}

/// The path parameters a route under `R` has, parsed, in path order: a malformed request is a
/// 400 whoever sends it.
struct Params {
    recipe: RecipeReference,
    recipe_revision: Option<Revision>,
    package_id: Option<PackageId>,
    package_revision: Option<Revision>,
    path: Option<FilePath>,
}

impl Params {
    fn of(request: &HttpRequest) -> Result<Self, ApiError> {
        require_utf8_path(request)?;
        Ok(Self {
            recipe: params::recipe(request)?,
            recipe_revision: params::revision(request, params::RECIPE_REVISION, "recipe revision")?,
            package_id: params::package_id(request)?,
            package_revision: params::revision(
                request,
                params::PACKAGE_REVISION,
                "package revision",
            )?,
            path: params::file_path(request)?,
        })
    }
}

/// A request under `R = conans/{name}/{version}/{user}/{channel}`: every path parameter the
/// route has, parsed, and the caller authorized for the action its method asks for.
///
/// As an extractor it runs before the handler, so a handler only ever sees valid parameters
/// and a caller who may act. Routes that only read use [`ReadTarget`] instead, which
/// authorizes in the same blocking call as the read.
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
    fn new(state: web::Data<AppState>, project: Project, params: Params) -> Self {
        Self {
            state,
            project,
            recipe: params.recipe,
            recipe_revision: params.recipe_revision,
            package_id: params.package_id,
            package_revision: params.package_revision,
            path: params.path,
        }
    }

    /// Extracts the target, authorizing the action the request's method implies.
    async fn extract(request: HttpRequest) -> Result<Self, ApiError> {
        let action = action_of(request.method());
        let target = Self::authorized(&request, action).await?;
        if action == Action::Upload {
            require_length(&request)?;
        }
        Ok(target)
    }

    /// Parses every path parameter of `request` and authorizes the caller for `action`: for
    /// routes whose method does not tell (the Conan v1 `POST`s).
    pub(crate) async fn authorized(
        request: &HttpRequest,
        action: Action,
    ) -> Result<Self, ApiError> {
        let state = state(request)?;
        let params = Params::of(request)?;
        let project = grant(&state, request, Some(&params.recipe), action).await?;
        Ok(Self::new(state, project, params))
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

    /// The upstream list a revision list route reads: the package's revisions when the route
    /// has `{pkgid}`, else the recipe's.
    fn list_key(&self) -> Result<ListKey, ApiError> {
        Ok(match &self.package_id {
            Some(package_id) => {
                let key = self.recipe_key()?;
                ListKey::Package(key.recipe, key.revision, package_id.clone())
            }
            None => ListKey::Recipe(self.recipe.clone()),
        })
    }

    /// The revisions the project holds for the list `key` names.
    fn local_list(
        &self,
        store: &dyn MetadataStore,
        key: &ListKey,
    ) -> Result<Vec<RevisionEntry>, ApiError> {
        Ok(match key {
            ListKey::Recipe(recipe) => store.recipe_revisions(self.project.id, recipe)?,
            ListKey::Package(..) => {
                store.package_revisions(&self.recipe_key()?, &self.package_id()?)?
            }
        })
    }

    /// Reads what the (already authorized) project holds: `work` on the blocking pool, in a
    /// read scope of its own; what it returned, and the target back.
    pub(crate) async fn read_held<T, F>(self, work: F) -> Result<(T, Self), ApiError>
    where
        F: FnOnce(&dyn MetadataStore, &Self) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let state = web::Data::clone(&self.state);
        read(&state, true, move |store| {
            let answer = work(store, &self)?;
            Ok((answer, self))
        })
        .await
    }

    /// The file path `{path}` of the route.
    pub(crate) fn path(&self) -> Result<FilePath, ApiError> {
        self.path
            .clone()
            .ok_or_else(|| ApiError::bug("route has no {path}"))
    }
}

/// A read-only request under `R`: its path parameters parsed (400 first, as for [`Target`]),
/// its caller not yet authorized. Its reads ([`ReadTarget::read_files`],
/// [`ReadTarget::read_list`], [`ReadTarget::read_or_remote`]) authorize and, for an ordinary
/// project, read in one blocking call and one read scope, which for a metadata route halves the thread hand-offs and
/// transactions a request costs.
pub(crate) struct ReadTarget {
    state: web::Data<AppState>,
    caller: Caller,
    project_ref: ProjectRef,
    params: Params,
}

impl ReadTarget {
    fn extract(request: &HttpRequest) -> Result<Self, ApiError> {
        let state = state(request)?;
        let params = Params::of(request)?;
        Ok(Self {
            state,
            caller: Caller::of(request)?,
            project_ref: ProjectRef::of(request, Some(&params.recipe))?,
            params,
        })
    }
}

/// How far [`ReadTarget::phase`] got: the answer of an ordinary project, or a remote
/// project's target with its settings and the work still to do.
enum Phase<T, F> {
    Done(T, Target),
    Remote(Target, RemoteSettings, F),
}

impl ReadTarget {
    /// Authorizes the caller to read and, for an ordinary project, runs `work` in the same read
    /// scope; a remote project's work is handed back undone, with its settings (which come with
    /// the authorization, from the identity cache).
    async fn phase<T, F>(self, work: F) -> Result<Phase<T, F>, ApiError>
    where
        F: FnOnce(&dyn MetadataStore, &Target) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let Self {
            state,
            caller,
            project_ref,
            params,
        } = self;
        let shared = web::Data::clone(&state);
        read(&state, caller.cheap_to_check(), move |store| {
            let (project, remote) = authorize(
                &shared,
                &caller,
                &project_ref,
                Action::Read,
                Some(&params.recipe),
            )?;
            let target = Target::new(shared, project, params);
            if let Some(settings) = remote {
                return Ok(Phase::Remote(target, settings, work));
            }
            let answer = work(store, &target)?;
            Ok(Phase::Done(answer, target))
        })
        .await
    }

    /// Authorizes the caller to read and runs `work` with the authorized [`Target`] (both on
    /// the blocking pool inside one read scope), for the routes that read a revision's files:
    /// what `work` returned, and the target. At a remote
    /// project, `live` answers first: it gets the project's upstream node, the revision and the
    /// route's `{path}`, and answers from the revision's fetch (started if needed) while the
    /// revision is not committed, or `None` to let `work` read the store as for any project.
    pub(crate) async fn read_files<T, F, G, Fut>(
        self,
        work: F,
        live: G,
    ) -> Result<(T, Target), ApiError>
    where
        F: FnOnce(&dyn MetadataStore, &Target) -> Result<T, ApiError> + Send + 'static,
        G: FnOnce(Arc<RemoteNode>, FileOwner, Option<FilePath>) -> Fut,
        Fut: Future<Output = Result<Option<T>, ApiError>>,
        T: Send + 'static,
    {
        match self.phase(work).await? {
            Phase::Done(answer, target) => Ok((answer, target)),
            Phase::Remote(target, settings, work) => {
                let node = target.state.remotes.node(target.project.id, &settings)?;
                if let Some(answer) = live(node, target.owner()?, target.path.clone()).await? {
                    return Ok((answer, target));
                }
                target.read_held(work).await
            }
        }
    }

    /// For the routes whose answer at a remote project merges the upstream's with what the
    /// project holds (package search): `local` answers for an ordinary project; at a remote
    /// project `remote` gets the project's upstream node and the target, which reads what the
    /// project holds with [`Target::read_held`]. The flag says the answer is stale.
    pub(crate) async fn read_or_remote<T, F, G, Fut>(
        self,
        local: F,
        remote: G,
    ) -> Result<(T, bool), ApiError>
    where
        F: FnOnce(&dyn MetadataStore, &Target) -> Result<T, ApiError> + Send + 'static,
        G: FnOnce(Arc<RemoteNode>, Target) -> Fut,
        Fut: Future<Output = Result<(T, bool), ApiError>>,
        T: Send + 'static,
    {
        match self.phase(local).await? {
            Phase::Done(answer, _) => Ok((answer, false)),
            Phase::Remote(target, settings, _) => {
                let node = target.state.remotes.node(target.project.id, &settings)?;
                remote(node, target).await
            }
        }
    }

    /// For the revision list routes (`latest`, `revisions`, of recipes and packages): `local`
    /// answers for an ordinary project; at a remote project `remote` answers from the
    /// upstream's list (through the cache; an upstream 404 is an empty list). The flag says
    /// the list is stale: the upstream is unavailable and the list is the last one this node
    /// had, or, with nothing cached, the revisions the project holds (none: 502 or 504).
    pub(crate) async fn read_list<T, F, G>(
        self,
        local: F,
        remote: G,
    ) -> Result<(T, Target, bool), ApiError>
    where
        F: FnOnce(&dyn MetadataStore, &Target) -> Result<T, ApiError> + Send + 'static,
        G: FnOnce(Vec<RevisionEntry>, &Target) -> Result<T, ApiError>,
        T: Send + 'static,
    {
        let (target, settings) = match self.phase(local).await? {
            Phase::Done(answer, target) => return Ok((answer, target, false)),
            Phase::Remote(target, settings, _) => (target, settings),
        };
        let node = target.state.remotes.node(target.project.id, &settings)?;
        let key = target.list_key()?;
        match node.list(&key).await? {
            Listed::Upstream(list, stale) => {
                let answer = remote(list.unwrap_or_default(), &target)?;
                Ok((answer, target, stale))
            }
            Listed::Unavailable(error) => {
                let (held, target) = target
                    .read_held(move |store, target| target.local_list(store, &key))
                    .await?;
                if held.is_empty() {
                    return Err(error);
                }
                tracing::warn!(upstream = %node.host,
                    "remote project's upstream unavailable and nothing cached: serving the revisions held");
                let answer = remote(held, &target)?;
                Ok((answer, target, true))
            }
        }
    }
}

impl FromRequest for ReadTarget {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        std::future::ready(Self::extract(request))
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
