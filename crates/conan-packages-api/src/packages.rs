//! `GET /projects/:id/packages`, `GET /groups/:id/packages`, one package, its files, and the
//! deletes: GitLab's Packages API over the package catalog, where a package is one recipe
//! reference in one project.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use conan_model::{FileKind, RecipeReference};
use conan_store::catalog::{
    COUNT_LIMIT, CatalogFile, CatalogOrder, CatalogPackage, CatalogQuery, CatalogStatus, FileOrder,
    FileQuery,
};
use conan_store::{
    FileId, MetadataStore, PackageRevisionKey, ProjectId, RecipeId, RecipeRevisionKey, SearchScope,
};
use serde_json::{Value, json};

use crate::access::{self, Caller, ProjectAccess, RestState};
use crate::error::RestError;
use crate::params::{Extent, Page, Query, gitlab_time, search_words};

/// Every package type GitLab knows; only `conan` has packages here.
const PACKAGE_TYPES: &[&str] = &[
    "maven",
    "npm",
    "conan",
    "nuget",
    "pypi",
    "composer",
    "generic",
    "golang",
    "debian",
    "rubygems",
    "helm",
    "terraform_module",
    "rpm",
    "ml_model",
];

/// Every package status GitLab knows.
const STATUSES: &[&str] = &[
    "default",
    "hidden",
    "processing",
    "error",
    "pending_destruction",
    "deprecated",
];

/// How many other versions a single package's `versions` lists at most.
const MAX_VERSIONS: u32 = 100;

/// The listing a request asks for, before the projects are known; `None` when its filters
/// select nothing that can exist here (another package type, a status Conan packages never
/// have).
fn listing(query: &Query, group: bool, page: Page) -> Result<Option<CatalogQuery>, RestError> {
    let orders: &[&str] = if group {
        &["created_at", "name", "version", "type", "project_path"]
    } else {
        &["created_at", "name", "version", "type"]
    };
    let order = match query.choice("order_by", orders, "created_at")? {
        "name" => CatalogOrder::Name,
        "version" => CatalogOrder::Version,
        "type" => CatalogOrder::Id,
        "project_path" => CatalogOrder::ProjectPath,
        _ => CatalogOrder::CreatedAt,
    };
    let descending = query.choice("sort", &["asc", "desc"], "asc")? == "desc";
    let package_type = query.choice("package_type", PACKAGE_TYPES, "conan")?;
    let status = match query.choice("status", STATUSES, "default")? {
        "default" => Some(CatalogStatus::Committed),
        "processing" => Some(CatalogStatus::Uploading),
        // Deletes here are immediate: nothing is ever hidden, failed, deprecated or pending.
        _ => None,
    };
    query.flag("include_versionless")?;
    if group {
        query.flag("exclude_subgroups")?;
    }
    let Some(status) = status.filter(|_| package_type == "conan") else {
        return Ok(None);
    };
    Ok(Some(CatalogQuery {
        projects: Vec::new(),
        name_words: query
            .get("package_name")
            .map(search_words)
            .unwrap_or_default(),
        name: None,
        version: query.get("package_version").map(str::to_owned),
        status,
        order,
        descending,
        offset: page.offset(),
        limit: page.per_page,
        count_limit: COUNT_LIMIT,
    }))
}

/// What a listing shows of a package, in GitLab's shape with the Conan fields added.
fn package_json(package: &CatalogPackage, base: &str, may_delete: bool, in_group: bool) -> Value {
    let reference = &package.reference;
    let committed = package.latest_revision.is_some();
    let mut links = serde_json::Map::new();
    if committed {
        links.insert(
            "web_path".to_owned(),
            json!(format!(
                "/{}/-/packages/{}",
                package.project_path, package.id
            )),
        );
    }
    if may_delete {
        links.insert(
            "delete_api_path".to_owned(),
            json!(format!(
                "{base}/api/v4/projects/{}/packages/{}",
                package.project, package.id
            )),
        );
    }
    let mut value = json!({
        "id": package.id.0,
        "name": format!(
            "{}/{}@{}/{}",
            reference.name(),
            reference.version(),
            reference.user().map_or("_", |user| user.as_str()),
            reference.channel().map_or("_", |channel| channel.as_str()),
        ),
        "conan_package_name": reference.name().as_str(),
        "version": reference.version().as_str(),
        "package_type": "conan",
        "status": if committed { "default" } else { "processing" },
        "_links": links,
        "created_at": gitlab_time(package.created_at),
        "last_downloaded_at": package.last_downloaded_at.map(gitlab_time),
        "tags": [],
        "conan_reference": reference.to_string(),
        "conan_recipe_revision": package.latest_revision.as_ref().map(|entry| entry.revision.as_str()),
        "conan_recipe_revision_time": package.latest_revision.as_ref().map(|entry| gitlab_time(entry.time)),
        "conan_recipe_revisions_count": package.revision_count,
        "conan_binaries_count": package.binary_count,
        "size": package.size,
    });
    if in_group && let Some(object) = value.as_object_mut() {
        object.insert("project_id".to_owned(), json!(package.project.0));
        object.insert("project_path".to_owned(), json!(package.project_path));
    }
    value
}

/// A package file in GitLab's shape with the revisions it belongs to.
fn file_json(file: &CatalogFile) -> Value {
    let (package_id, package_revision) = match &file.package {
        Some((id, revision)) => (Some(id.as_str()), Some(revision.as_str())),
        None => (None, None),
    };
    json!({
        "id": file.id.0,
        "package_id": file.recipe.0,
        "created_at": gitlab_time(file.created_at),
        "file_name": file.path.as_str(),
        "size": file.digests.size,
        "file_md5": file.digests.md5,
        "file_sha1": file.digests.sha1,
        "file_sha256": file.digests.sha256.as_str(),
        "conan_file_type": if file.package.is_some() { "package_file" } else { "recipe_file" },
        "conan_recipe_revision": file.recipe_revision.as_str(),
        "conan_package_reference": package_id,
        "conan_package_revision": package_revision,
    })
}

/// A JSON answer.
fn json_response(mut response: actix_web::HttpResponseBuilder, body: &Value) -> HttpResponse {
    response
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(body.to_string())
}

/// A page of a list, with GitLab's pagination headers.
pub(crate) fn paged(
    request: &HttpRequest,
    state: &RestState,
    query: &Query,
    page: Page,
    extent: Extent,
    body: Vec<Value>,
) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    page.headers(&mut response, request, state, query, extent);
    json_response(response, &Value::Array(body))
}

/// A path id such as `:package_id`: an integer, else GitLab's 400 (an id no row can have, such
/// as 0, is simply not found).
fn path_id(request: &HttpRequest, name: &str) -> Result<i64, RestError> {
    request
        .match_info()
        .get(name)
        .and_then(|value| value.parse::<i64>().ok())
        .ok_or_else(|| RestError::malformed_param(name))
}

/// The raw `{id}` of a project or group route.
fn raw_id(request: &HttpRequest) -> &str {
    request.match_info().get("id").unwrap_or_default()
}

/// `GET /projects/:id/packages`.
pub(crate) async fn list_project(request: HttpRequest) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let query = Query::of(&request)?;
    let page = query.page()?;
    let listing = listing(&query, false, page)?;
    let key = access::project_key(raw_id(&request))?;
    let caller = Caller::of(&request)?;
    let base = state.base_url(&request);
    let (extent, body) = access::read(&state, caller, move |store, principal| {
        let access = ProjectAccess::read(store, principal, &key)?;
        let Some(mut listing) = listing else {
            return Ok((Extent::Counted(0), Vec::new()));
        };
        listing.projects = vec![access.project.id];
        let found = store.catalog_packages(&listing)?;
        let may_delete = access.may_delete();
        let body = found
            .packages
            .iter()
            .map(|package| package_json(package, &base, may_delete, false))
            .collect();
        Ok((Extent::of(found.total, found.has_next), body))
    })
    .await?;
    Ok(paged(&request, &state, &query, page, extent, body))
}

/// `GET /groups/:id/packages`: a group is a path prefix (`team` covers `team/*` and deeper;
/// `exclude_subgroups` keeps its direct projects only). It exists for a caller who may read at
/// least one of its projects; for anyone else it is `404 Group Not Found`.
pub(crate) async fn list_group(request: HttpRequest) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let query = Query::of(&request)?;
    let page = query.page()?;
    let listing = listing(&query, true, page)?;
    let direct_only = query.flag("exclude_subgroups")?;
    let group = percent_encoding::percent_decode_str(raw_id(&request))
        .decode_utf8()
        .map_err(|_| RestError::NotFound("Group Not Found".to_owned()))?
        .trim_matches('/')
        .to_owned();
    let caller = Caller::of(&request)?;
    let base = state.base_url(&request);
    let shared = web::Data::clone(&state);
    let (extent, body) = access::read(&state, caller, move |store, principal| {
        let prefix = format!("{group}/");
        let readable = shared.auth.readable_projects(&principal)?;
        let roles = match principal.user_id() {
            Some(user) => store.user_memberships(user)?,
            None => Vec::new(),
        };
        let projects: Vec<_> = store
            .projects()?
            .into_iter()
            .filter(|project| {
                project
                    .path
                    .strip_prefix(&prefix)
                    .is_some_and(|rest| !(rest.is_empty() || direct_only && rest.contains('/')))
            })
            .filter(|project| match &readable {
                SearchScope::All => true,
                SearchScope::Projects(ids) => ids.contains(&project.id),
            })
            .collect();
        if group.is_empty() || projects.is_empty() {
            return Err(RestError::NotFound("Group Not Found".to_owned()));
        }
        let Some(mut listing) = listing else {
            return Ok((Extent::Counted(0), Vec::new()));
        };
        let deletable: Vec<ProjectId> = projects
            .iter()
            .filter(|project| {
                let role = roles
                    .iter()
                    .find(|(id, _)| *id == project.id)
                    .map(|(_, role)| *role);
                conan_auth::decide(&principal, project, role, conan_auth::Action::Delete)
                    == conan_auth::Decision::Allow
            })
            .map(|project| project.id)
            .collect();
        listing.projects = projects.iter().map(|project| project.id).collect();
        let found = store.catalog_packages(&listing)?;
        let body = found
            .packages
            .iter()
            .map(|package| package_json(package, &base, deletable.contains(&package.project), true))
            .collect();
        Ok((Extent::of(found.total, found.has_next), body))
    })
    .await?;
    Ok(paged(&request, &state, &query, page, extent, body))
}

/// `GET /projects/:id/packages/:package_id`: the package with `versions`, the project's other
/// packages of the same name with another version (user and channel ignored, as GitLab does).
pub(crate) async fn get_package(request: HttpRequest) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let key = access::project_key(raw_id(&request))?;
    let id = RecipeId(path_id(&request, "package_id")?);
    let caller = Caller::of(&request)?;
    let base = state.base_url(&request);
    let body = access::read(&state, caller, move |store, principal| {
        let access = ProjectAccess::read(store, principal, &key)?;
        let package = store
            .catalog_package(access.project.id, id)?
            .filter(|package| package.latest_revision.is_some())
            .ok_or(RestError::RecordNotFound)?;
        let others = store.catalog_packages(&CatalogQuery {
            projects: vec![access.project.id],
            name_words: Vec::new(),
            name: Some(package.reference.name().as_str().to_owned()),
            version: None,
            status: CatalogStatus::Committed,
            order: CatalogOrder::Version,
            descending: false,
            offset: 0,
            limit: MAX_VERSIONS,
            count_limit: COUNT_LIMIT,
        })?;
        let versions: Vec<Value> = others
            .packages
            .iter()
            .filter(|other| other.reference.version() != package.reference.version())
            .map(|other| {
                json!({
                    "id": other.id.0,
                    "version": other.reference.version().as_str(),
                    "created_at": gitlab_time(other.created_at),
                    "tags": [],
                })
            })
            .collect();
        let mut body = package_json(&package, &base, access.may_delete(), false);
        if let Some(object) = body.as_object_mut() {
            object.insert("versions".to_owned(), Value::Array(versions));
        }
        Ok(body)
    })
    .await?;
    Ok(json_response(HttpResponse::Ok(), &body))
}

/// `GET /projects/:id/packages/:package_id/package_files`.
pub(crate) async fn list_files(request: HttpRequest) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let query = Query::of(&request)?;
    let page = query.page()?;
    let order = match query.choice("order_by", &["id", "created_at", "file_name"], "id")? {
        "created_at" => FileOrder::CreatedAt,
        "file_name" => FileOrder::Name,
        _ => FileOrder::Id,
    };
    let descending = query.choice("sort", &["asc", "desc"], "asc")? == "desc";
    let key = access::project_key(raw_id(&request))?;
    let id = RecipeId(path_id(&request, "package_id")?);
    let caller = Caller::of(&request)?;
    let (extent, body) = access::read(&state, caller, move |store, principal| {
        let access = ProjectAccess::read(store, principal, &key)?;
        let found = store
            .catalog_files(
                access.project.id,
                id,
                &FileQuery {
                    order,
                    descending,
                    offset: page.offset(),
                    limit: page.per_page,
                },
            )?
            .ok_or(RestError::RecordNotFound)?;
        Ok((
            Extent::Counted(found.total),
            found.files.iter().map(file_json).collect(),
        ))
    })
    .await?;
    Ok(paged(&request, &state, &query, page, extent, body))
}

/// Finds the project and the recipe for a delete, checking that the caller may delete there.
fn deletable(
    store: &dyn MetadataStore,
    access: &ProjectAccess,
    id: RecipeId,
) -> Result<RecipeReference, RestError> {
    access.require_delete()?;
    // Only displayable (committed) packages, as GitLab's finder: a recipe still uploading is
    // not found here, and must not be removed under its uploader by a delete that answers 404.
    let package = store
        .catalog_package(access.project.id, id)?
        .filter(|package| package.latest_revision.is_some())
        .ok_or(RestError::RecordNotFound)?;
    access.require_delete_package(store, package.reference.name())?;
    Ok(package.reference)
}

/// `DELETE /projects/:id/packages/:package_id`: removes the recipe with every revision, binary
/// and file, as the Conan API's recipe delete does (blobs go with the next collection).
pub(crate) async fn delete_package(request: HttpRequest) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let key = access::project_key(raw_id(&request))?;
    let id = RecipeId(path_id(&request, "package_id")?);
    let caller = Caller::of(&request)?;
    access::run(&state, caller, false, move |store, principal| {
        let access = ProjectAccess::read(store, principal, &key)?;
        let reference = deletable(store, &access, id)?;
        if !store.delete_recipe(access.project.id, &reference)? {
            return Err(RestError::RecordNotFound);
        }
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /projects/:id/packages/:package_id/package_files/:package_file_id`: removes one
/// file. A manifest takes its revision with it (a recipe revision's its binaries too), as the
/// Conan API's revision deletes do: a revision without its manifest does not exist.
pub(crate) async fn delete_file(request: HttpRequest) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let key = access::project_key(raw_id(&request))?;
    let id = RecipeId(path_id(&request, "package_id")?);
    let file_id = FileId(path_id(&request, "package_file_id")?);
    let caller = Caller::of(&request)?;
    access::run(&state, caller, false, move |store, principal| {
        let access = ProjectAccess::read(store, principal, &key)?;
        let reference = deletable(store, &access, id)?;
        let file_missing = || RestError::NotFound("Not Found".to_owned());
        let file = store
            .catalog_file(access.project.id, id, file_id)?
            .ok_or_else(file_missing)?;
        let recipe = RecipeRevisionKey {
            project: access.project.id,
            recipe: reference,
            revision: file.recipe_revision.clone(),
        };
        let deleted = match (file.path.kind(), file.package) {
            (FileKind::Manifest, None) => store.delete_recipe_revision(&recipe)?,
            (FileKind::Manifest, Some((package_id, revision))) => {
                store.delete_package_revision(&PackageRevisionKey {
                    recipe,
                    package_id,
                    revision,
                })?
            }
            _ => store.delete_catalog_file(access.project.id, id, file_id)?,
        };
        if deleted { Ok(()) } else { Err(file_missing()) }
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Another method on a route of this API: Grape's 405, as JSON like every answer here.
async fn not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(r#"{"error":"405 Not Allowed"}"#)
}

/// A resource of this API, answering other methods with [`not_allowed`].
pub(crate) fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(not_allowed))
}

/// The routes of this module, under `/api/v4`.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    const PROJECT: &str = "/api/v4/projects/{id}/packages";
    const PACKAGE: &str = "/api/v4/projects/{id}/packages/{package_id:[0-9]+}";
    config
        .service(resource(PROJECT).route(web::get().to(list_project)))
        .service(
            resource(PACKAGE)
                .route(web::get().to(get_package))
                .route(web::delete().to(delete_package)),
        )
        .service(resource(&format!("{PACKAGE}/package_files")).route(web::get().to(list_files)))
        .service(
            resource(&format!("{PACKAGE}/package_files/{{package_file_id}}"))
                .route(web::delete().to(delete_file)),
        )
        .service(resource("/api/v4/groups/{id}/packages").route(web::get().to(list_group)));
}
