//! `/projects/:id/packages/cleanup_policy`: the project's cleanup policy, dry runs, runs started
//! now and the record of runs, over conan-store's [`conan_store::cleanup`]. GitLab has the
//! policy in GraphQL only (`keepNDuplicatedPackageFiles`, `nextRunAt`); this REST shape keeps
//! its field names and adds the Conan rules. Maintainers, owners and administrators only, as
//! GitLab's `admin_package`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use conan_store::cleanup::{
    CleanupPolicy, CleanupRun, CleanupRunId, CleanupTotals, PolicyError, RemovedItem, RunTrigger,
    StoredCleanupPolicy,
};
use serde_json::{Map, Value, json};

use crate::access::{self, Caller};
use crate::error::RestError;
use crate::packages::resource;
use crate::params::{Extent, Query, gitlab_time};
use crate::protection::{administer, body_object, json_response, project};

/// The most removals a dry run lists (its totals count them all).
const MAX_DRY_RUN_ITEMS: usize = 1000;
/// How many removals a dry run lists unless `limit` says otherwise.
const DEFAULT_DRY_RUN_ITEMS: usize = 100;
/// How many runs a project's record answers (the store keeps the newest 50).
const RUNS_LISTED: usize = 50;

fn policy_json(stored: &StoredCleanupPolicy) -> Value {
    let mut object = match serde_json::to_value(&stored.policy) {
        Ok(Value::Object(object)) => object,
        _ => Map::new(),
    };
    object.insert(
        "next_run_at".to_owned(),
        stored
            .next_run_at
            .map(gitlab_time)
            .map_or(Value::Null, Value::String),
    );
    object.insert(
        "updated_at".to_owned(),
        stored
            .updated_at
            .map(gitlab_time)
            .map_or(Value::Null, Value::String),
    );
    Value::Object(object)
}

fn totals_json(totals: &CleanupTotals) -> Value {
    serde_json::to_value(totals).unwrap_or(Value::Null)
}

fn item_json(item: &RemovedItem) -> Value {
    json!({
        "kind": item.kind.as_str(),
        "reference": item.reference,
        "reason": item.reason,
        "package_revisions": item.package_revisions,
        "files": item.files,
        "logical_bytes": item.logical_bytes,
        "stored_bytes": item.stored_bytes,
        "removed_at": item.removed_at.map(gitlab_time),
    })
}

fn run_json(run: &CleanupRun) -> Value {
    json!({
        "id": run.id.0,
        "project_id": run.project.0,
        "trigger": run.trigger.as_str(),
        "state": run.state.as_str(),
        "policy": serde_json::to_value(&run.policy).unwrap_or(Value::Null),
        "started_at": gitlab_time(run.started_at),
        "finished_at": run.finished_at.map(gitlab_time),
        "error": run.error,
        "totals": totals_json(&run.totals),
    })
}

/// A refused policy: GitLab's validation 400, naming the field.
fn refused(error: &PolicyError) -> RestError {
    RestError::Param(error.to_string())
}

fn run_id(request: &HttpRequest) -> Result<CleanupRunId, RestError> {
    request
        .match_info()
        .get("run_id")
        .and_then(|value| value.parse().ok())
        .filter(|id| *id > 0)
        .map(CleanupRunId)
        .ok_or_else(|| RestError::malformed_param("run_id"))
}

/// `GET .../cleanup_policy`: the policy (the default, disabled, when never saved).
async fn show(request: HttpRequest) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let key = project(&request)?;
    let caller = Caller::of(&request)?;
    let stored = access::read(&state, caller, move |store, principal| {
        let access = administer(store, principal, &key, false)?;
        Ok(store.cleanup_policy(access.project.id)?)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &policy_json(&stored)))
}

/// `PUT .../cleanup_policy`: sets the fields the body names (`null` clears a rule), keeps the
/// others; answers the saved policy with its next run.
async fn update(request: HttpRequest, body: web::Bytes) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let key = project(&request)?;
    let changes = body_object(&body)?;
    let caller = Caller::of(&request)?;
    let stored = access::run(&state, caller, false, move |store, principal| {
        let access = administer(store, principal, &key, true)?;
        let current = store.cleanup_policy(access.project.id)?;
        let policy = current
            .policy
            .updated_with(&changes)
            .map_err(|error| refused(&error))?;
        Ok(store.set_cleanup_policy(access.project.id, &policy, crate::params::now()?)?)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &policy_json(&stored)))
}

/// `POST .../cleanup_policy/dry_run`: what the saved policy, with the fields the body names
/// changed (nothing is saved), would remove now. `limit` (1 to 1000, default 100) bounds the
/// listed removals; the totals count them all.
async fn dry_run(request: HttpRequest, body: web::Bytes) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let key = project(&request)?;
    let changes = body_object(&body)?;
    let query = Query::of(&request)?;
    let limit = match query.get("limit") {
        None => DEFAULT_DRY_RUN_ITEMS,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_DRY_RUN_ITEMS).contains(limit))
            .ok_or_else(|| RestError::invalid_param("limit"))?,
    };
    let caller = Caller::of(&request)?;
    let runner = state.cleanup.clone();
    let report = access::run(&state, caller, false, move |store, principal| {
        let access = administer(store, principal, &key, false)?;
        let current = store.cleanup_policy(access.project.id)?;
        let policy: CleanupPolicy = current
            .policy
            .updated_with(&changes)
            .map_err(|error| refused(&error))?;
        let report = runner.dry_run(access.project.id, &policy, limit)?;
        Ok((policy, report))
    })
    .await?;
    let (policy, report) = report;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "policy": serde_json::to_value(&policy).unwrap_or(Value::Null),
            "totals": totals_json(&report.totals),
            "items": report.items.iter().map(item_json).collect::<Vec<_>>(),
            "truncated": report.truncated,
        }),
    ))
}

/// `POST .../cleanup_policy/runs`: starts a run of the saved policy now on this node: 202 with
/// the run (follow it at `.../runs/:run_id`), 409 when one is running.
async fn start(request: HttpRequest) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let key = project(&request)?;
    let caller = Caller::of(&request)?;
    let runner = state.cleanup.clone();
    let run = access::run(&state, caller, false, move |store, principal| {
        let access = administer(store, principal, &key, true)?;
        let policy = store.cleanup_policy(access.project.id)?;
        if !policy.policy.has_rules() {
            return Err(RestError::BadRequest(
                "the cleanup policy has no rule: set keep_n_recipe_revisions, \
                 keep_n_package_revisions, unused_days or source_backups_unused_days first"
                    .to_owned(),
            ));
        }
        runner
            .claim_now(access.project.id, RunTrigger::Api)?
            .ok_or_else(|| {
                RestError::Conflict("a cleanup run of this project is already running".to_owned())
            })
    })
    .await?;
    // The run outlives the request (the observer logs its outcome); a node that stops mid-run
    // leaves it to be resumed.
    state
        .cleanup
        .start(run.clone())
        .map_err(RestError::internal)?;
    Ok(json_response(StatusCode::ACCEPTED, &run_json(&run)))
}

/// `GET .../cleanup_policy/runs`: the project's newest runs, newest first.
async fn list_runs(request: HttpRequest) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let key = project(&request)?;
    let caller = Caller::of(&request)?;
    let runs = access::read(&state, caller, move |store, principal| {
        let access = administer(store, principal, &key, false)?;
        Ok(store.cleanup_runs(access.project.id, RUNS_LISTED)?)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &Value::Array(runs.iter().map(run_json).collect()),
    ))
}

/// `GET .../cleanup_policy/runs/:run_id`: one run with its totals.
async fn show_run(request: HttpRequest) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let key = project(&request)?;
    let id = run_id(&request)?;
    let caller = Caller::of(&request)?;
    let run = access::read(&state, caller, move |store, principal| {
        let access = administer(store, principal, &key, false)?;
        store
            .cleanup_run(access.project.id, id)?
            .ok_or(RestError::RecordNotFound)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &run_json(&run)))
}

/// `GET .../cleanup_policy/runs/:run_id/removals`: what the run removed, in order, paginated
/// as GitLab's lists (`page`, `per_page`).
async fn removals(request: HttpRequest) -> Result<HttpResponse, RestError> {
    let state = access::state(&request)?;
    let key = project(&request)?;
    let id = run_id(&request)?;
    let query = Query::of(&request)?;
    let page = query.page()?;
    let caller = Caller::of(&request)?;
    let items = access::read(&state, caller, move |store, principal| {
        let access = administer(store, principal, &key, false)?;
        store
            .cleanup_run(access.project.id, id)?
            .ok_or(RestError::RecordNotFound)?;
        let per_page = usize::try_from(page.per_page).unwrap_or(usize::MAX);
        Ok(store.cleanup_removals(id, page.offset(), per_page.saturating_add(1))?)
    })
    .await?;
    let per_page = usize::try_from(page.per_page).unwrap_or(usize::MAX);
    let has_next = items.len() > per_page;
    let mut response = HttpResponse::Ok();
    page.headers(
        &mut response,
        &request,
        &state,
        &query,
        Extent::Uncounted { has_next },
    );
    Ok(response
        .insert_header((actix_web::http::header::CONTENT_TYPE, "application/json"))
        .body(Value::Array(items.iter().take(per_page).map(item_json).collect()).to_string()))
}

/// The routes of this module, under `/api/v4`.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    const POLICY: &str = "/api/v4/projects/{id}/packages/cleanup_policy";
    config
        .service(
            resource(POLICY)
                .route(web::get().to(show))
                .route(web::put().to(update)),
        )
        .service(resource(&format!("{POLICY}/dry_run")).route(web::post().to(dry_run)))
        .service(
            resource(&format!("{POLICY}/runs"))
                .route(web::get().to(list_runs))
                .route(web::post().to(start)),
        )
        .service(resource(&format!("{POLICY}/runs/{{run_id}}")).route(web::get().to(show_run)))
        .service(
            resource(&format!("{POLICY}/runs/{{run_id}}/removals")).route(web::get().to(removals)),
        );
}
