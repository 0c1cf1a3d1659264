//! `/-/web/projects/<path>/-/backups`: the project's source backups (Conan's
//! `core.sources:download_urls` and `upload_url`), a page of 25 at a time in sha256 order:
//! each file's sha256 (a link to the file), size, the references its summary names, and when it
//! was stored and last used (what a cleanup policy's `source_backups_unused_days` goes by).
//! Shown to everyone who may read the project, as its packages are; the settings Conan needs to
//! use the store are at the end.

use actix_web::{HttpRequest, HttpResponse};
use conan_store::Project;
use conan_store::backups::SourceBackup;
use maud::{Markup, html};

use crate::access;
use crate::error::WebError;
use crate::layout::{self, Position};
use crate::params::{self, Query};
use crate::urls;

/// Backups a page.
const PER_PAGE: u32 = 25;
/// The most references shown for one backup (its summary may name many).
const MAX_REFERENCES: usize = 5;

/// The backups page's address.
pub(crate) fn address(project_path: &str) -> String {
    format!("{}/-/backups", urls::project(project_path))
}

/// The URL Conan's `core.sources:download_urls` and `upload_url` take for the project (with
/// the trailing `/` Conan appends file names to).
fn store_url(base: &str, project: &Project) -> String {
    format!("{}/backups/", urls::project_remote(base, project))
}

/// The references a summary names (`{"references": {"zlib/1.3": [urls...]}}`), sorted;
/// nothing when it has none or is not of that shape.
fn references(summary: Option<&str>) -> Vec<String> {
    let Some(Ok(serde_json::Value::Object(object))) =
        summary.map(serde_json::from_str::<serde_json::Value>)
    else {
        return Vec::new();
    };
    match object.get("references") {
        Some(serde_json::Value::Object(references)) => references.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// `GET .../-/backups`.
pub(crate) async fn page(request: HttpRequest) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    let path = params::segment(&request, "project")?;
    let page = Query::of(&request)?.page()?;
    let ((project, mut backups), nav) =
        access::read(&state, access::viewer(&request), move |reader| {
            let project = reader.project(&path)?;
            // One more than a page tells whether another follows.
            let backups = reader.store.backups(
                project.id,
                params::offset(page, PER_PAGE),
                PER_PAGE as usize + 1,
            )?;
            Ok((project, backups))
        })
        .await?;
    if page > 1 && backups.is_empty() {
        return Err(WebError::NotFound);
    }
    let has_next = backups.len() > PER_PAGE as usize;
    backups.truncate(PER_PAGE as usize);
    let base = access::base_url(&state, &request);
    let here = address(&project.path);
    let link = |page: u32| format!("{here}{}", urls::query(&[("page", &page.to_string())]));
    let position = Position {
        page,
        has_next,
        total: None,
    };
    let url = store_url(&base, &project);
    let body = html! {
        (layout::breadcrumbs(&[
            (&project.path, urls::project(&project.path)),
            ("Source backups", here.clone()),
        ]))
        h1 { "Source backups of " (project.path) }
        p {
            "Copies of the third-party sources recipes download, kept by their sha256 so that "
            "builds from source still work when the original URLs are gone."
        }
        @if backups.is_empty() {
            p.muted #no-backups { "No source backup yet." }
        } @else {
            (table(&url, &backups))
            (layout::pager(position, &link))
        }
        section aria-labelledby="use-heading" {
            h2 #use-heading { "Use it with Conan" }
            p {
                "In " code { "global.conf" } ", with the credentials in "
                code { "source_credentials.json" } " (a personal access token, or a deploy token to upload):"
            }
            (layout::commands("Conan's source backup settings", &[
                format!("core.sources:download_urls=[\"{url}\", \"origin\"]"),
                format!("core.sources:upload_url={url}"),
            ]))
        }
    };
    Ok(crate::respond::ok(layout::page(
        "Source backups",
        None,
        &nav,
        &body,
    )))
}

/// The table of a page of backups.
fn table(url: &str, backups: &[SourceBackup]) -> Markup {
    html! {
        div.table-wrap {
            table #backups {
                thead { tr {
                    th scope="col" { "sha256" } th scope="col" { "Used by" }
                    th.num scope="col" { "Size" } th scope="col" { "Stored" } th scope="col" { "Last used" }
                } }
                tbody {
                    @for backup in backups {
                        @let names = references(backup.summary.as_deref());
                        tr {
                            td {
                                @if backup.size.is_some() {
                                    a href={ (url) (backup.sha256) } { code.hash { (backup.sha256) } }
                                } @else {
                                    code.hash { (backup.sha256) } " " span.muted { "(summary only)" }
                                }
                            }
                            td {
                                @for (index, name) in names.iter().take(MAX_REFERENCES).enumerate() {
                                    @if index > 0 { ", " }
                                    code { (name) }
                                }
                                @if names.len() > MAX_REFERENCES {
                                    " and " (names.len() - MAX_REFERENCES) " more"
                                }
                            }
                            td.num {
                                @if let Some(size) = backup.size { (layout::size(size)) } @else { span.muted { "—" } }
                            }
                            td { (layout::time(backup.created_at)) }
                            td { (layout::time(backup.last_used_at)) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::references;

    #[test]
    fn references_come_from_the_summary_when_it_has_them() {
        assert_eq!(
            references(Some(
                r#"{"references": {"zlib/1.3": ["https://x"], "b/1": []}}"#
            )),
            ["b/1", "zlib/1.3"]
        );
        for summary in [
            None,
            Some("[]"),
            Some("{}"),
            Some(r#"{"references": []}"#),
            Some("{"),
        ] {
            assert!(references(summary).is_empty(), "{summary:?}");
        }
    }
}
