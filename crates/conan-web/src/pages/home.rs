//! `/`: the search box, the projects the visitor may read (a page of them), and the packages
//! added most recently to those projects.

use actix_web::{HttpRequest, HttpResponse};
use conan_store::Project;
use conan_store::catalog::{CatalogOrder, CatalogPackage, CatalogQuery, CatalogStatus};
use maud::html;

use crate::access;
use crate::error::WebError;
use crate::layout::{self, Position};
use crate::pages::PER_PAGE;
use crate::params::{self, Query};
use crate::urls;

/// How many recently added packages the home page shows.
const RECENT: u32 = 10;

/// What the home page shows.
struct Home {
    projects: Vec<Project>,
    position: Position,
    recent: Vec<CatalogPackage>,
}

/// `GET /`.
pub(crate) async fn page(request: HttpRequest) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    let query = Query::of(&request)?;
    let page = query.page()?;
    let (home, nav) = access::read(&state, access::viewer(&request), move |reader| {
        let projects = reader.projects()?;
        let recent = if projects.is_empty() {
            Vec::new()
        } else {
            reader
                .store
                .catalog_packages(&CatalogQuery {
                    projects: projects.iter().map(|project| project.id).collect(),
                    name_words: Vec::new(),
                    name: None,
                    version: None,
                    status: CatalogStatus::Committed,
                    order: CatalogOrder::CreatedAt,
                    descending: true,
                    offset: 0,
                    limit: RECENT,
                    count_limit: 0,
                })?
                .packages
        };
        let total = projects.len() as u64;
        let offset = params::offset(page, PER_PAGE);
        let shown: Vec<Project> = projects
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(PER_PAGE as usize)
            .collect();
        Ok(Home {
            position: Position {
                page,
                has_next: offset + (shown.len() as u64) < total,
                total: Some(total),
            },
            projects: shown,
            recent,
        })
    })
    .await?;
    if page > 1 && home.projects.is_empty() {
        return Err(WebError::NotFound);
    }
    let body = html! {
        h1 { "Conan packages" }
        p {
            "Browse the projects below, or search every recipe you may see with a Conan pattern such as "
            code { "zlib/*" } " or " code { "*@team+libs/stable" } "."
        }
        section aria-labelledby="projects-heading" {
            h2 #projects-heading { "Projects" }
            @if home.projects.is_empty() {
                p.muted { "No project is visible to you." }
            } @else {
                ul.plain {
                    @for project in &home.projects {
                        li {
                            a href=(urls::project(&project.path)) { (project.path) }
                            " "
                            span.muted { (project.visibility.as_str()) }
                        }
                    }
                }
                (layout::pager(home.position, &|page| format!("/{}", urls::query(&[("page", &page.to_string())]))))
            }
        }
        section aria-labelledby="recent-heading" {
            h2 #recent-heading { "Recently added packages" }
            @if home.recent.is_empty() {
                p.muted { "No package yet." }
            } @else {
                div.table-wrap {
                    table {
                        thead {
                            tr {
                                th scope="col" { "Reference" }
                                th scope="col" { "Project" }
                                th scope="col" { "Latest revision" }
                            }
                        }
                        tbody {
                            @for package in &home.recent {
                                tr {
                                    td {
                                        a href=(urls::recipe(&package.project_path, &package.reference)) {
                                            (package.reference.to_string())
                                        }
                                    }
                                    td { a href=(urls::project(&package.project_path)) { (package.project_path) } }
                                    td {
                                        @if let Some(latest) = &package.latest_revision {
                                            (layout::time(latest.time))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(crate::respond::ok(layout::page("Home", None, &nav, &body)))
}
