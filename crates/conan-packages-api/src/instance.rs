//! `GET /user`, `GET /version` and `GET /projects/:id`: what python-gitlab's `auth()`,
//! `version()` and a non-lazy `projects.get()` ask for before the package calls.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use conan_auth::Principal;
use conan_store::catalog::ProjectStats;
use serde_json::{Value, json};

use crate::access::{self, Caller, ProjectAccess};
use crate::error::RestError;
use crate::packages::resource;
use crate::params::Query;

/// The GitLab API level this crate implements, which `GET /version` reports so that scripts
/// checking for protection rules (GitLab 17.11 for Conan) take the right path.
pub const GITLAB_API_LEVEL: &str = "17.11.0";

fn json_ok(body: &Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(body.to_string())
}

/// `GET /user`: the signed-in user; 401 for anonymous callers.
async fn current_user(request: HttpRequest) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let caller = Caller::of(&request)?;
    let base = state.base_url(&request);
    let body = access::read(&state, caller, move |_, principal| match principal {
        Principal::User { user, .. } => Ok(json!({
            "id": user.id.0,
            "username": user.username,
            "name": user.username,
            "state": if user.is_active { "active" } else { "blocked" },
            "is_admin": user.is_admin,
            "avatar_url": null,
            "web_url": format!("{base}/{}", user.username),
        })),
        Principal::Anonymous | Principal::DeployToken { .. } => Err(RestError::Unauthorized),
    })
    .await?;
    Ok(json_ok(&body))
}

/// `GET /version`: the GitLab API level implemented, and this registry's version as the
/// revision; 401 for anonymous callers, as GitLab answers.
async fn version(request: HttpRequest) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let caller = Caller::of(&request)?;
    access::read(&state, caller, |_, principal| {
        if principal.is_authenticated() {
            Ok(())
        } else {
            Err(RestError::Unauthorized)
        }
    })
    .await?;
    Ok(json_ok(&json!({
        "version": GITLAB_API_LEVEL,
        "revision": concat!("conan-registry ", env!("CARGO_PKG_VERSION")),
        "enterprise": false,
    })))
}

/// `GET /projects/:id`: the project as far as package scripts use it; with `statistics=true`,
/// for reporters and above (as GitLab), what it stores.
async fn project(request: HttpRequest) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let key = access::project_key(request.match_info().get("id").unwrap_or_default())?;
    let statistics = Query::of(&request)?.flag("statistics")?;
    let caller = Caller::of(&request)?;
    let base = state.base_url(&request);
    let body = access::read(&state, caller, move |store, principal| {
        let access = ProjectAccess::read(store, principal, &key)?;
        let statistics = if statistics && access.may_see_statistics() {
            Some(statistics_json(&store.project_stats(access.project.id)?))
        } else {
            None
        };
        let project = access.project;
        let name = project
            .path
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let namespace = project
            .path
            .rsplit_once('/')
            .map(|(namespace, _)| namespace.to_owned());
        let mut body = json!({
            "id": project.id.0,
            "name": name,
            "path": name,
            "path_with_namespace": project.path,
            "name_with_namespace": project.path.replace('/', " / "),
            "namespace": namespace.map(|path| json!({"path": path.clone(), "full_path": path})),
            "visibility": project.visibility.as_str(),
            "created_at": crate::params::gitlab_time(project.created_at),
            "web_url": format!("{base}/{}", project.path),
            "packages_enabled": true,
        });
        if let Some(statistics) = statistics {
            body["statistics"] = statistics;
        }
        Ok(body)
    })
    .await?;
    Ok(json_ok(&body))
}

/// GitLab's `statistics` object as far as packages go (`packages_size`, and `storage_size`:
/// the packages and the source backups, all a project holds here), with the Conan counts and
/// the bytes after deduplication (packages and backups) added.
fn statistics_json(stats: &ProjectStats) -> Value {
    json!({
        "packages_size": stats.logical_bytes,
        "storage_size": stats.logical_bytes + stats.source_backup_bytes,
        "conan_source_backups_count": stats.source_backups,
        "conan_source_backups_size": stats.source_backup_bytes,
        "conan_stored_size": stats.stored_bytes,
        "conan_references_count": stats.references,
        "conan_recipe_revisions_count": stats.recipe_revisions,
        "conan_binaries_count": stats.binaries,
        "conan_package_revisions_count": stats.package_revisions,
        "conan_files_count": stats.files,
    })
}

/// The routes of this module, under `/api/v4`.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    config
        .service(resource("/api/v4/user").route(web::get().to(current_user)))
        .service(resource("/api/v4/version").route(web::get().to(version)))
        .service(resource("/api/v4/projects/{id}").route(web::get().to(project)));
}
