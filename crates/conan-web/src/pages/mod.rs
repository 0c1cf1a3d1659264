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

use actix_web::{guard, web};

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
        .service(page("/", web::route().to(home::page)))
        .service(page(crate::urls::SEARCH, web::route().to(search::page)))
        .service(page(
            &format!("{}/{{name}}", assets::PREFIX),
            web::route().to(assets::asset),
        ))
        .service(page(&package, web::route().to(package::page)))
        .service(page(&revision, web::route().to(revision::page)))
        .service(page(&recipe, web::route().to(recipe::page)))
        .service(page(&project, web::route().to(project::page)))
        // Anything else under the interface's prefix is its HTML 404, not the API's JSON one.
        .service(web::resource("/-/web/{tail:.*}").to(not_found));
}

/// A page's resource: `GET` (and `HEAD`, answered like `GET` without the body) runs `route`
/// (built with `web::route()`, which has no guard of its own);
/// any other method is the 405 page.
fn page(path: &str, route: actix_web::Route) -> actix_web::Resource {
    let route = route.guard(guard::Any(guard::Get()).or(guard::Head()));
    web::resource(path)
        .route(route)
        .default_service(web::to(not_allowed))
}

/// The 405 page: every page only reads.
async fn not_allowed() -> Result<actix_web::HttpResponse, WebError> {
    Err(WebError::MethodNotAllowed)
}

/// The 404 page for an address no page has.
async fn not_found() -> Result<actix_web::HttpResponse, WebError> {
    Err(WebError::NotFound)
}
