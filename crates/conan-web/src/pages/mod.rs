//! The pages and their route table. Every page is a `GET` that reads in one read scope and
//! renders with maud; what a page lists is one page of rows at most. The forms (sign-in,
//! sign-out, tokens) `POST` to addresses of their own, CSRF-checked before anything else.

mod account;
mod admin;
mod backups;
mod blobs;
mod cleanup;
mod delete;
mod files;
mod home;
mod package;
mod project;
mod recipe;
mod remote;
mod revision;
mod search;
mod settings;
mod storage;
mod tokens;

use actix_web::{guard, web};

use crate::assets;
use crate::error::WebError;

/// Rows on one page of any listing.
pub(crate) const PER_PAGE: u32 = 25;

/// One page of `all`, or the 404 page past the end.
pub(crate) fn one_page<T>(
    all: Vec<T>,
    page: u32,
) -> Result<(Vec<T>, crate::layout::Position), WebError> {
    let offset = usize::try_from(crate::params::offset(page, PER_PAGE)).unwrap_or(usize::MAX);
    if page > 1 && offset >= all.len() {
        return Err(WebError::NotFound);
    }
    let position = crate::layout::Position {
        page,
        has_next: all.len() > offset.saturating_add(PER_PAGE as usize),
        total: Some(all.len() as u64),
    };
    Ok((
        all.into_iter()
            .skip(offset)
            .take(PER_PAGE as usize)
            .collect(),
        position,
    ))
}

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
        .service(page_with_form(
            crate::urls::SIGN_IN,
            web::route().to(account::sign_in_page),
            web::post().to(account::sign_in),
        ))
        .service(form(
            crate::urls::SIGN_OUT,
            web::post().to(account::sign_out),
        ))
        .service(page_with_form(
            crate::urls::TOKENS,
            web::route().to(tokens::page),
            web::post().to(tokens::create),
        ))
        .service(form(
            &format!("{}/{{id}}/revoke", crate::urls::TOKENS),
            web::post().to(tokens::revoke),
        ))
        .service(page_with_form(
            &format!("{revision}/packages/{{package_id}}/delete"),
            web::route().to(delete::confirm),
            web::post().to(delete::delete),
        ))
        .service(page_with_form(
            &format!("{revision}/delete"),
            web::route().to(delete::confirm),
            web::post().to(delete::delete),
        ))
        .service(page_with_form(
            &format!("{recipe}/delete"),
            web::route().to(delete::confirm),
            web::post().to(delete::delete),
        ))
        .configure(|config| project_pages(config, &project))
        .service(page_with_form(
            crate::urls::ADMIN_USERS,
            web::route().to(admin::users),
            web::post().to(admin::create_user),
        ))
        .service(form(
            &format!("{}/{{id}}/{{field}}", crate::urls::ADMIN_USERS),
            web::post().to(admin::set_user_flag),
        ))
        .service(page_with_form(
            crate::urls::ADMIN_PROJECTS,
            web::route().to(admin::projects),
            web::post().to(admin::create_project),
        ))
        .service(page(&package, web::route().to(package::page)))
        .service(page(&revision, web::route().to(revision::page)))
        .service(page(&recipe, web::route().to(recipe::page)))
        .service(page(&project, web::route().to(project::page)))
        // Anything else under the interface's prefix is its HTML 404, not the API's JSON one.
        .service(web::resource("/-/web/{tail:.*}").to(not_found));
}

/// A project's own pages under `<project>/-/`: settings, cleanup, storage, source backups.
fn project_pages(config: &mut web::ServiceConfig, project: &str) {
    config
        .service(form(
            &format!("{project}/-/settings/cleanup/dry-run"),
            web::post().to(cleanup::dry_run_page),
        ))
        .service(page_with_form(
            &format!("{project}/-/settings/cleanup"),
            web::route().to(cleanup::page),
            web::post().to(cleanup::save),
        ))
        .service(form(
            &format!("{project}/-/settings/deploy-tokens/{{id}}/revoke"),
            web::post().to(settings::revoke_deploy_token),
        ))
        .service(form(
            &format!("{project}/-/settings/deploy-tokens"),
            web::post().to(settings::create_deploy_token),
        ))
        .service(form(
            &format!("{project}/-/settings/members/remove"),
            web::post().to(settings::remove_member),
        ))
        .service(form(
            &format!("{project}/-/settings/members"),
            web::post().to(settings::set_member),
        ))
        .service(form(
            &format!("{project}/-/settings/visibility"),
            web::post().to(settings::set_visibility),
        ))
        .service(form(
            &format!("{project}/-/settings/remote/clear"),
            web::post().to(remote::clear),
        ))
        .service(form(
            &format!("{project}/-/settings/remote"),
            web::post().to(remote::set),
        ))
        .service(page(
            &format!("{project}/-/storage"),
            web::route().to(storage::page),
        ))
        .service(page(
            &format!("{project}/-/backups"),
            web::route().to(backups::page),
        ))
        .service(page(
            &format!("{project}/-/settings"),
            web::route().to(settings::page),
        ));
}

/// A page's resource: `GET` (and `HEAD`, answered like `GET` without the body) runs `route`
/// (built with `web::route()`, which has no guard of its own); any other method is the 405 page.
fn page(path: &str, route: actix_web::Route) -> actix_web::Resource {
    resource(path, "GET, HEAD").route(route.guard(guard::Any(guard::Get()).or(guard::Head())))
}

/// A page with its form: [`page`]'s `GET` and `HEAD`, and `post` for the form.
fn page_with_form(
    path: &str,
    get: actix_web::Route,
    post: actix_web::Route,
) -> actix_web::Resource {
    resource(path, "GET, HEAD, POST")
        .route(get.guard(guard::Any(guard::Get()).or(guard::Head())))
        .route(post)
}

/// A form's own address: `POST` only.
fn form(path: &str, post: actix_web::Route) -> actix_web::Resource {
    resource(path, "POST").route(post)
}

/// A resource whose other methods are the 405 page, naming those it answers.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<actix_web::HttpResponse, _>(WebError::MethodNotAllowed(allow))
    }))
}

/// The 404 page for an address no page has.
async fn not_found() -> Result<actix_web::HttpResponse, WebError> {
    Err(WebError::NotFound)
}
