//! `/-/web/projects/<path>/-/storage`: what a project stores: counts of references, revisions,
//! binaries and files, its bytes as clients download them, and its bytes after deduplication.
//! Shown to those the Packages API shows `statistics` to (conan-auth's
//! [`may_see_statistics`](conan_auth::may_see_statistics): administrators, and members from
//! reporter up); a project the visitor may not read is the 404 page, others get the 403 page.
//!
//! The figures are counted over the whole project when the page is asked for (the store's
//! `project_stats`, the same as `/metrics` and the CLI), so this page costs more than the
//! others on a very large project.

use actix_web::{HttpRequest, HttpResponse};
use conan_store::catalog::ProjectStats;
use maud::html;

use crate::access;
use crate::error::WebError;
use crate::layout;
use crate::params;
use crate::respond;
use crate::urls;

/// The storage page's address.
pub(crate) fn address(project_path: &str) -> String {
    format!("{}/-/storage", urls::project(project_path))
}

/// `GET .../-/storage`.
pub(crate) async fn page(request: HttpRequest) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    let path = params::segment(&request, "project")?;
    let ((project, figures), nav) = access::read(&state, access::viewer(&request), move |reader| {
        let project = reader.project(&path)?;
        let role = match reader.viewer.user_id() {
            Some(user) => reader.store.membership(project.id, user)?,
            None => None,
        };
        if !conan_auth::may_see_statistics(reader.viewer, role) {
            return Err(WebError::Forbidden(
                "Storage figures are shown to the project's reporters and above.".to_owned(),
            ));
        }
        let figures = reader.store.project_stats(project.id)?;
        Ok((project, figures))
    })
    .await?;
    let ProjectStats {
        references,
        recipe_revisions,
        binaries,
        package_revisions,
        files,
        logical_bytes,
        source_backups,
        source_backup_bytes,
        stored_bytes,
    } = figures;
    let here = address(&project.path);
    let body = html! {
        (layout::breadcrumbs(&[
            (&project.path, urls::project(&project.path)),
            ("Storage", here.clone()),
        ]))
        h1 { "Storage of " (project.path) }
        dl.facts #storage {
            dt { "References" } dd { (references) }
            dt { "Recipe revisions" } dd { (recipe_revisions) }
            dt { "Binaries" } dd { (binaries) }
            dt { "Package revisions" } dd { (package_revisions) }
            dt { "Files" } dd { (files) }
            dt { "Size" } dd { (layout::size(logical_bytes)) " (every file counted, as clients download them)" }
            dt { "Source backups" } dd { (source_backups) ", " (layout::size(source_backup_bytes)) }
            dt { "Stored" } dd { (layout::size(stored_bytes)) " (packages and source backups after deduplication: each distinct content once)" }
        }
        p.muted { "Content shared with other projects counts in each of them." }
    };
    Ok(respond::ok(layout::page("Storage", None, &nav, &body)))
}
