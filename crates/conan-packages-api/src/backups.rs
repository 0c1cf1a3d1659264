//! `GET /api/v4/projects/:id/packages/source_backups`: a project's Conan source backups (what
//! the Conan routes store for `core.sources:upload_url`), beyond GitLab, paginated like its
//! package lists.

use actix_web::{HttpRequest, HttpResponse, web};
use conan_store::backups::SourceBackup;
use serde_json::{Value, json};

use crate::access::{self, Caller, ProjectAccess};
use crate::error::RestError;
use crate::packages::{paged, resource};
use crate::params::{Extent, Query, gitlab_time};
use crate::protection::project;

/// One backup as the listing shows it.
fn backup_json(backup: &SourceBackup) -> Value {
    json!({
        "project_id": backup.project.0,
        "file_sha256": backup.sha256.as_str(),
        // `null` while only the summary has arrived (the client sends it first).
        "size": backup.size,
        "summary": backup.summary.as_deref().and_then(|text| serde_json::from_str::<Value>(text).ok()),
        "created_at": gitlab_time(backup.created_at),
        "updated_at": gitlab_time(backup.updated_at),
        "last_used_at": gitlab_time(backup.last_used_at),
    })
}

/// Lists the project's backups in sha256 order, for anyone who may read the project.
async fn list(request: HttpRequest) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let key = project(&request)?;
    let query = Query::of(&request)?;
    let page = query.page()?;
    let caller = Caller::of(&request)?;
    let per_page = usize::try_from(page.per_page).unwrap_or(usize::MAX);
    let mut backups = access::read(&state, caller, move |store, principal| {
        let access = ProjectAccess::read(store, principal, &key)?;
        // One more than the page tells whether another page follows.
        Ok(store.backups(access.project.id, page.offset(), per_page.saturating_add(1))?)
    })
    .await?;
    let has_next = backups.len() > per_page;
    backups.truncate(per_page);
    Ok(paged(
        &request,
        &state,
        &query,
        page,
        Extent::Uncounted { has_next },
        backups.iter().map(backup_json).collect(),
    ))
}

/// The routes of this module, under `/api/v4`.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    config.service(
        resource("/api/v4/projects/{id}/packages/source_backups").route(web::get().to(list)),
    );
}
