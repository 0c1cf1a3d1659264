//! `/-/web/search?q=<pattern>&page=<n>`: every recipe the visitor may read that matches a Conan
//! search pattern, with the same matcher (and GitLab's limits on patterns) as the API's
//! `conans/search`.

use actix_web::{HttpRequest, HttpResponse};
use conan_model::{CaseSensitivity, SearchPattern};
use conan_store::{ProjectId, SearchScope};
use maud::html;

use crate::access;
use crate::error::WebError;
use crate::layout::{self, Position};
use crate::pages::PER_PAGE;
use crate::params::{self, Query};
use crate::urls;

/// The most matches a search pages through: past them, a narrower pattern is the way on.
pub(crate) const MAX_MATCHES: u64 = 1000;

/// `GET /-/web/search`.
pub(crate) async fn page(request: HttpRequest) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    let query = Query::of(&request)?;
    let page = query.page()?;
    let text = query.get("q").unwrap_or_default().trim().to_owned();
    let pattern = SearchPattern::new(&text, CaseSensitivity::Insensitive)
        .map_err(|error| WebError::bad_request(format!("Invalid search pattern: {error}")))?;
    let offset = params::offset(page, PER_PAGE);
    if offset >= MAX_MATCHES {
        return Err(WebError::bad_request(format!(
            "A search shows its first {MAX_MATCHES} matches; use a narrower pattern to see others."
        )));
    }
    let want = (offset + u64::from(PER_PAGE) + 1).min(MAX_MATCHES);
    let ((rows, matched), nav) = access::read(&state, access::viewer(&request), move |reader| {
        let projects = reader.projects()?;
        let ids: Vec<ProjectId> = projects.iter().map(|project| project.id).collect();
        let found = reader.store.search_recipes(
            &SearchScope::Projects(ids),
            &pattern,
            usize::try_from(want).unwrap_or(usize::MAX),
        )?;
        let matched = found.len() as u64;
        let rows: Vec<(String, conan_model::RecipeReference)> = found
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(PER_PAGE as usize)
            .filter_map(|found| {
                projects
                    .iter()
                    .find(|project| project.id == found.project)
                    .map(|project| (project.path.clone(), found.reference))
            })
            .collect();
        Ok((rows, matched))
    })
    .await?;
    if page > 1 && rows.is_empty() {
        return Err(WebError::NotFound);
    }
    let position = Position {
        page,
        has_next: matched > offset + u64::from(PER_PAGE),
        // Fewer matches than asked for: that is all of them.
        total: (matched < want).then_some(matched),
    };
    let title = if text.is_empty() {
        "Every package".to_owned()
    } else {
        format!("Search: {text}")
    };
    let link_text = text.clone();
    let body = html! {
        h1 { (title) }
        p.muted {
            "Conan patterns: " code { "*" } " matches anything, " code { "?" } " one character; "
            code { "zlib" } " finds every version of zlib. Letters match in either case."
        }
        @if rows.is_empty() {
            p { "No package matches." }
        } @else {
            div.table-wrap {
                table {
                    thead {
                        tr {
                            th scope="col" { "Reference" }
                            th scope="col" { "Project" }
                        }
                    }
                    tbody {
                        @for (project, reference) in &rows {
                            tr {
                                td { a href=(urls::recipe(project, reference)) { (reference.to_string()) } }
                                td { a href=(urls::project(project)) { (project) } }
                            }
                        }
                    }
                }
            }
            (layout::pager(position, &|page| {
                format!("{}{}", urls::SEARCH, urls::query(&[("q", &link_text), ("page", &page.to_string())]))
            }))
            @if matched >= MAX_MATCHES {
                p.muted { "Only the first " (MAX_MATCHES) " matches are shown: narrow the pattern to see others." }
            }
        }
    };
    Ok(crate::respond::ok(layout::page(
        &title,
        Some(&text),
        &nav,
        &body,
    )))
}
