//! `/-/web/projects/<path>/-/settings/cleanup`: the project's cleanup policy (issue 20): the form
//! to change it, a dry run of what the form's policy would remove now (nothing is saved or
//! removed), and the project's last runs. For the project's maintainers and owners in a password
//! session, as the project settings (the API's cleanup policy routes take the same roles).
//!
//! The form is checked by the same code as the API's `PUT` and the CLI
//! ([`CleanupPolicy::updated_with`]): a bad value is a 400 page naming the field, and nothing
//! is saved. Runs are started by the schedule, the API or the CLI; this page does not start one.

use actix_web::{HttpRequest, HttpResponse, web};
use conan_model::RevisionTime;
use conan_store::Project;
use conan_store::cleanup::{
    Cadence, CleanupPolicy, CleanupRun, CleanupTotals, DryRunReport, dry_run,
};
use maud::{Markup, html};
use serde_json::{Map, Value};

use crate::access::{self, Nav, Reader};
use crate::error::WebError;
use crate::layout;
use crate::pages::settings::{self, managed};
use crate::params;
use crate::respond;
use crate::session;
use crate::urls;

/// How many runs the page lists.
const RUNS: usize = 10;
/// How many removals a dry run lists (the totals count them all).
const DRY_RUN_ITEMS: usize = 25;
/// Recipes a dry run reads per snapshot (the runs' default batch).
const DRY_RUN_BATCH: usize = 100;

/// The page's address for the project at `settings_address`.
fn address(settings_address: &str) -> String {
    format!("{settings_address}/cleanup")
}

fn now() -> Result<RevisionTime, WebError> {
    RevisionTime::from_system_time(std::time::SystemTime::now()).map_err(WebError::internal)
}

/// The page's breadcrumbs.
fn trail(project: &Project, here: &str) -> Markup {
    layout::breadcrumbs(&[
        (&project.path, urls::project(&project.path)),
        ("Settings", settings::address(project)),
        ("Cleanup policy", here.to_owned()),
    ])
}

/// The project's saved policy with a form's changes, checked as the API's `PUT` checks them.
fn changed(
    reader: &Reader<'_>,
    project: &Project,
    changes: &Map<String, Value>,
) -> Result<CleanupPolicy, WebError> {
    reader
        .store
        .cleanup_policy(project.id)?
        .policy
        .updated_with(changes)
        .map_err(|error| WebError::bad_request(error.to_string()))
}

/// `GET .../-/settings/cleanup`.
pub(crate) async fn page(request: HttpRequest) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    let path = params::segment(&request, "project")?;
    let ((project, stored, runs), nav) =
        access::read(&state, access::viewer(&request), move |reader| {
            let (project, _) = managed(reader, &path)?;
            let stored = reader.store.cleanup_policy(project.id)?;
            let runs = reader.store.cleanup_runs(project.id, RUNS)?;
            Ok((project, stored, runs))
        })
        .await?;
    let here = address(&settings::address(&project));
    let body = html! {
        (trail(&project, &here))
        h1 { "Cleanup policy" }
        p {
            "Removes old recipe and package revisions by the rules below. The newest recipe "
            "revision of a reference is never removed unless the whole reference is unused, and "
            "packages a protection rule covers are never removed. "
            @match stored.next_run_at {
                Some(at) => { "Next scheduled run: " (layout::time(at)) "." }
                None => { "It does not run by itself now." }
            }
        }
        (policy_form(&nav, &here, &stored.policy)?)
        (runs_table(&runs))
    };
    Ok(respond::ok(layout::page(
        "Cleanup policy",
        None,
        &nav,
        &body,
    )))
}

/// The policy form: save, or dry-run what it would remove.
fn policy_form(nav: &Nav, here: &str, policy: &CleanupPolicy) -> Result<Markup, WebError> {
    let Nav::SignedIn { csrf, .. } = nav else {
        return Err(WebError::internal("a manager is not signed in"));
    };
    let number = |value: Option<u32>| value.map(|value| value.to_string()).unwrap_or_default();
    let duplicates = policy.keep_n_duplicated_package_files.as_string();
    Ok(html! {
        form.stacked method="post" action=(here) {
            (layout::csrf_field(csrf))
            div.check {
                input #enabled type="checkbox" name="enabled" value="true" checked[policy.enabled];
                label for="enabled" { "Run by itself on a schedule" }
            }
            label for="cadence" { "How often" }
            select #cadence name="cadence" {
                @for cadence in Cadence::ALL {
                    option value=(cadence) selected[policy.cadence.as_str() == cadence] { (cadence) }
                }
            }
            label for="keep-recipe" { "Keep the newest N recipe revisions of each reference (empty: no such rule)" }
            input #keep-recipe type="number" name="keep_n_recipe_revisions" min="1" max="10000" value=(number(policy.keep_n_recipe_revisions));
            label for="keep-package" { "Keep the newest N package revisions of each binary (empty: no such rule)" }
            input #keep-package type="number" name="keep_n_package_revisions" min="1" max="10000" value=(number(policy.keep_n_package_revisions));
            label for="unused-days" { "Remove what was neither uploaded nor downloaded in the last D days (empty: no such rule)" }
            input #unused-days type="number" name="unused_days" min="1" max="36500" value=(number(policy.unused_days));
            label for="backups-unused-days" { "Remove source backups neither uploaded nor downloaded in the last D days (empty: keep them)" }
            input #backups-unused-days type="number" name="source_backups_unused_days" min="1" max="36500" value=(number(policy.source_backups_unused_days));
            label for="include" { "Only references matching (Conan search patterns, one per line; empty: every reference)" }
            textarea #include name="include" rows="3" { (policy.include.join("\n")) }
            label for="exclude" { "Never references matching (one per line)" }
            textarea #exclude name="exclude" rows="3" { (policy.exclude.join("\n")) }
            label for="duplicates" { "Keep N duplicated package files (GitLab's rule; stored for GitLab scripts, nothing to remove here)" }
            select #duplicates name="keep_n_duplicated_package_files" {
                @for choice in ["all", "1", "10", "20", "30", "40", "50"] {
                    option value=(choice) selected[duplicates == choice] { (choice) }
                }
            }
            div.actions {
                button type="submit" { "Save policy" }
                button type="submit" formaction={ (here) "/dry-run" } { "Dry run: what would it remove now?" }
            }
        }
    })
}

/// The last runs.
fn runs_table(runs: &[CleanupRun]) -> Markup {
    html! {
        section aria-labelledby="runs-heading" {
            h2 #runs-heading { "Last runs" }
            @if runs.is_empty() {
                p.muted { "No run yet." }
            } @else {
                div.table-wrap {
                    table {
                        thead { tr {
                            th scope="col" { "Started" } th scope="col" { "By" } th scope="col" { "State" }
                            th.num scope="col" { "Recipe revisions" } th.num scope="col" { "Package revisions" }
                            th.num scope="col" { "Source backups" } th.num scope="col" { "Freed" }
                        } }
                        tbody {
                            @for run in runs {
                                tr {
                                    td { (layout::time(run.started_at)) }
                                    td { (run.trigger.as_str()) }
                                    td { (run.state.as_str()) @if let Some(error) = &run.error { ": " (error) } }
                                    td.num { (run.totals.recipe_revisions) }
                                    td.num { (run.totals.package_revisions) }
                                    td.num { (run.totals.source_backups) }
                                    td.num { (layout::size(run.totals.stored_bytes)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The changes a policy form makes, as the API's `PUT` body would say them.
fn changes(form: &params::Query) -> Result<Map<String, Value>, WebError> {
    let mut changes = Map::new();
    changes.insert(
        "enabled".into(),
        Value::Bool(form.get("enabled") == Some("true")),
    );
    for field in ["cadence", "keep_n_duplicated_package_files"] {
        if let Some(value) = form.get(field) {
            changes.insert(field.into(), Value::String(value.to_owned()));
        }
    }
    for field in [
        "keep_n_recipe_revisions",
        "keep_n_package_revisions",
        "unused_days",
        "source_backups_unused_days",
    ] {
        let value = match form.get(field).map(str::trim).unwrap_or_default() {
            "" => Value::Null,
            text => Value::from(text.parse::<u32>().map_err(|_| {
                WebError::bad_request(format!("{field} must be a whole number, or empty."))
            })?),
        };
        changes.insert(field.into(), value);
    }
    for field in ["include", "exclude"] {
        let patterns: Vec<Value> = form
            .get(field)
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(|line| Value::String(line.to_owned()))
            .collect();
        changes.insert(field.into(), Value::Array(patterns));
    }
    Ok(changes)
}

/// `POST .../-/settings/cleanup`: saves the form's policy, then back to the page.
pub(crate) async fn save(request: HttpRequest, body: web::Bytes) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    let form = session::signed_form(&request, &body)?;
    let changes = changes(&form)?;
    let path = params::segment(&request, "project")?;
    let at = now()?;
    let (next, _) = access::act(&state, access::viewer(&request), move |reader| {
        let (project, _) = managed(reader, &path)?;
        let policy = changed(reader, &project, &changes)?;
        reader.store.set_cleanup_policy(project.id, &policy, at)?;
        tracing::info!(project = %project.path, user = reader.viewer.name(), "web: cleanup policy saved");
        Ok(address(&settings::address(&project)))
    })
    .await?;
    Ok(respond::redirect(&next))
}

/// `POST .../-/settings/cleanup/dry-run`: what the form's policy would remove now; saves and
/// removes nothing.
pub(crate) async fn dry_run_page(
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    let form = session::signed_form(&request, &body)?;
    let changes = changes(&form)?;
    let path = params::segment(&request, "project")?;
    let at = now()?;
    let ((project, policy, report), nav) =
        access::act(&state, access::viewer(&request), move |reader| {
            let (project, _) = managed(reader, &path)?;
            let policy = changed(reader, &project, &changes)?;
            let report = dry_run(
                reader.store,
                project.id,
                &policy,
                at,
                DRY_RUN_BATCH,
                DRY_RUN_ITEMS,
            )?;
            Ok((project, policy, report))
        })
        .await?;
    let here = address(&settings::address(&project));
    let body = html! {
        (trail(&project, &here))
        h1 { "Dry run" }
        p { "What this policy would remove now. Nothing was saved or removed." }
        (report_markup(&report))
        h2 { "The policy tried" }
        (policy_form(&nav, &here, &policy)?)
    };
    Ok(respond::ok(layout::page("Dry run", None, &nav, &body)))
}

/// A dry run's totals and first removals.
fn report_markup(report: &DryRunReport) -> Markup {
    let CleanupTotals {
        recipes_examined,
        skipped_protected,
        recipe_revisions,
        package_revisions,
        source_backups,
        files,
        logical_bytes,
        stored_bytes,
    } = report.totals;
    html! {
        dl.facts #dry-run-totals {
            dt { "Recipes examined" } dd { (recipes_examined) }
            dt { "Skipped (protected)" } dd { (skipped_protected) }
            dt { "Recipe revisions" } dd { (recipe_revisions) }
            dt { "Package revisions" } dd { (package_revisions) }
            dt { "Source backups" } dd { (source_backups) }
            dt { "Files" } dd { (files) }
            dt { "Bytes" } dd { (layout::size(logical_bytes)) }
            dt { "Bytes freed after deduplication" } dd { (layout::size(stored_bytes)) }
        }
        @if !report.items.is_empty() {
            div.table-wrap {
                table {
                    caption.muted {
                        @if report.truncated { "The first " (report.items.len()) " removals" } @else { "Every removal" }
                    }
                    thead { tr {
                        th scope="col" { "What" } th scope="col" { "Why" }
                        th.num scope="col" { "Package revisions" } th.num scope="col" { "Size" }
                    } }
                    tbody {
                        @for item in &report.items {
                            tr {
                                td { code.hash { (item.reference) } }
                                td { (item.reason) }
                                td.num { (item.package_revisions) }
                                td.num { (layout::size(item.logical_bytes)) }
                            }
                        }
                    }
                }
            }
        }
    }
}
