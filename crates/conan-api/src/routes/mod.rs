//! The route table, mounted at the project and the instance prefix.

mod backups;
mod files;
mod packages;
mod recipes;
mod search;
mod users;
mod v1;

use actix_web::web;

/// The project prefix, as GitLab has it: `{id}` is a numeric id or the URL-encoded full path
/// (`group%2Fsub%2Fproject`).
pub const PROJECT_PREFIX: &str = "/api/v4/projects/{id}/packages/conan";

/// The instance prefix (beyond GitLab for v2): the project is named by the recipe's user,
/// `my-group+my-project` for `my-group/my-project`.
pub const INSTANCE_PREFIX: &str = "/api/v4/packages/conan";

/// The capabilities `ping` advertises: `revisions` (mandatory for Conan 2) and
/// `checksum_deploy` (uploads first probe for content the server already has).
pub const CAPABILITIES: &str = "revisions,checksum_deploy";

/// Registers every Conan route at both prefixes. The caller registers the [`AppState`] as
/// `web::Data<AppState>` app data.
///
/// [`AppState`]: crate::AppState
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(backup_routes(conan_routes(web::scope(PROJECT_PREFIX))))
        .service(conan_routes(web::scope(INSTANCE_PREFIX)))
        .default_service(web::to(unknown_route));
}

/// A path no route matches: GitLab's JSON 404, like every other error.
async fn unknown_route() -> Result<actix_web::HttpResponse, crate::ApiError> {
    Err(crate::ApiError::not_found("Not found"))
}

/// Conan's source backups, at the project prefix only: nothing in their URLs names a project
/// otherwise.
fn backup_routes(scope: actix_web::Scope) -> actix_web::Scope {
    scope.service(
        web::resource(backups::ROUTE)
            .route(web::get().to(backups::download))
            .route(web::head().to(backups::download))
            .route(web::put().to(backups::upload))
            .route(web::delete().to(backups::delete)),
    )
}

/// The routes under one prefix; `R` is `v2/conans/{name}/{version}/{user}/{channel}`.
///
/// actix tries a scope's routes in order, a regex match for each dynamic one, so the v2 routes
/// of Conan 2 clients come before the v1 routes (no path matches both).
fn conan_routes(scope: actix_web::Scope) -> actix_web::Scope {
    v1_routes(v2_routes(scope))
}

/// The Conan v1 routes; `R` is `v1/conans/{name}/{version}/{user}/{channel}`, and the files
/// live under `v1/files/{name}/{version}/{user}/{channel}/{rrev}`.
fn v1_routes(scope: actix_web::Scope) -> actix_web::Scope {
    const R: &str = "/v1/conans/{name}/{version}/{user}/{channel}";
    const FILES: &str = "/v1/files/{name}/{version}/{user}/{channel}/{rrev}";
    let resource = |path: &str| web::resource(format!("{R}{path}"));
    let package = "/packages/{pkgid}";
    scope
        .service(
            resource("")
                .route(web::get().to(v1::downloads::recipe_snapshot))
                .route(web::delete().to(v1::deletes::delete_recipe)),
        )
        .service(resource("/digest").route(web::get().to(v1::downloads::recipe_digest)))
        .service(
            resource("/download_urls").route(web::get().to(v1::downloads::recipe_download_urls)),
        )
        .service(resource("/upload_urls").route(web::post().to(v1::uploads::recipe_upload_urls)))
        .service(resource("/search").route(web::get().to(v1::search::package_search)))
        .service(resource("/remove_files").route(web::post().to(v1::uploads::remove_files)))
        // Before `packages/{pkgid}`, which would otherwise take `delete` as a package id.
        .service(resource("/packages/delete").route(web::post().to(v1::deletes::delete_packages)))
        .service(resource(package).route(web::get().to(v1::downloads::package_snapshot)))
        .service(
            resource(&format!("{package}/digest"))
                .route(web::get().to(v1::downloads::package_digest)),
        )
        .service(
            resource(&format!("{package}/download_urls"))
                .route(web::get().to(v1::downloads::package_download_urls)),
        )
        .service(
            resource(&format!("{package}/upload_urls"))
                .route(web::post().to(v1::uploads::package_upload_urls)),
        )
        .service(
            web::resource(format!("{FILES}/export/{{path:.*}}"))
                .route(web::get().to(files::download))
                .route(web::put().to(files::upload)),
        )
        .service(
            web::resource(format!("{FILES}/package/{{pkgid}}/{{prev}}/{{path:.*}}"))
                .route(web::get().to(files::download))
                .route(web::put().to(files::upload)),
        )
}

/// The Conan v2 routes (and the shared `ping` and `users`).
fn v2_routes(scope: actix_web::Scope) -> actix_web::Scope {
    const R: &str = "/v2/conans/{name}/{version}/{user}/{channel}";
    let resource = |path: &str| web::resource(format!("{R}{path}"));
    let rrev = "/revisions/{rrev}";
    let package = "/revisions/{rrev}/packages/{pkgid}";
    let prev = "/revisions/{rrev}/packages/{pkgid}/revisions/{prev}";
    scope
        .route("/v1/ping", web::get().to(users::ping))
        .route("/v2/ping", web::get().to(users::ping))
        .route("/v1/users/authenticate", web::get().to(users::authenticate))
        .route("/v2/users/authenticate", web::get().to(users::authenticate))
        .route(
            "/v1/users/check_credentials",
            web::get().to(users::check_credentials),
        )
        .route(
            "/v2/users/check_credentials",
            web::get().to(users::check_credentials),
        )
        .route("/v1/conans/search", web::get().to(search::recipes))
        .route("/v2/conans/search", web::get().to(search::recipes))
        .service(resource("").route(web::delete().to(recipes::delete_recipe)))
        .service(resource("/latest").route(web::get().to(recipes::latest)))
        .service(resource("/revisions").route(web::get().to(recipes::revisions)))
        .service(resource("/search").route(web::get().to(packages::search_latest)))
        .service(resource(rrev).route(web::delete().to(recipes::delete_revision)))
        .service(resource(&format!("{rrev}/files")).route(web::get().to(files::list)))
        .service(
            resource(&format!("{rrev}/files/{{path:.*}}"))
                .route(web::get().to(files::download))
                .route(web::put().to(files::upload)),
        )
        .service(resource(&format!("{rrev}/search")).route(web::get().to(packages::search)))
        .service(
            resource(&format!("{rrev}/packages")).route(web::delete().to(packages::delete_all)),
        )
        .service(resource(package).route(web::delete().to(packages::delete_package)))
        .service(resource(&format!("{package}/latest")).route(web::get().to(packages::latest)))
        .service(
            resource(&format!("{package}/revisions")).route(web::get().to(packages::revisions)),
        )
        .service(resource(prev).route(web::delete().to(packages::delete_revision)))
        .service(resource(&format!("{prev}/files")).route(web::get().to(files::list)))
        .service(
            resource(&format!("{prev}/files/{{path:.*}}"))
                .route(web::get().to(files::download))
                .route(web::put().to(files::upload)),
        )
}
