//! The pages and their route table. Every page is a `GET` that reads in one read scope and
//! renders with maud; what a page lists is one page of rows at most.

mod blobs;
mod files;
mod home;
mod package;
mod project;
mod recipe;
mod revision;
mod search;

use actix_web::web;

use crate::assets;
use crate::error::WebError;

/// Rows on one page of any listing.
pub(crate) const PER_PAGE: u32 = 25;

/// A project path in a route: segments that start with a letter, digit or `_` (as conan-auth
/// validates them), so the `-` segment that starts a project's sub-pages can never be part of
/// one.
const PROJECT: &str = "{project:[A-Za-z0-9_][^/]*(?:/[A-Za-z0-9_][^/]*)*}";

/// Registers the pages. The more specific routes come first.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    let project = format!("/-/web/projects/{PROJECT}");
    let recipe = format!("{project}/-/recipes/{{name}}/{{version}}/{{user}}/{{channel}}");
    let revision = format!("{recipe}/revisions/{{rrev}}");
    let package = format!("{revision}/packages/{{package_id}}/revisions/{{prev}}");
    config
        .service(web::resource("/").route(web::get().to(home::page)))
        .service(web::resource(crate::urls::SEARCH).route(web::get().to(search::page)))
        .service(
            web::resource(format!("{}/{{name}}", assets::PREFIX))
                .route(web::get().to(assets::asset)),
        )
        .service(web::resource(package).route(web::get().to(package::page)))
        .service(web::resource(revision).route(web::get().to(revision::page)))
        .service(web::resource(recipe).route(web::get().to(recipe::page)))
        .service(web::resource(project).route(web::get().to(project::page)))
        // Anything else under the interface's prefix is its HTML 404, not the API's JSON one.
        .service(web::resource("/-/web/{tail:.*}").to(not_found));
}

/// The 404 page for an address no page has.
async fn not_found() -> Result<actix_web::HttpResponse, WebError> {
    Err(WebError::NotFound)
}
