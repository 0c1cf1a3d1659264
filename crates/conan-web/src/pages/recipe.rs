//! `/-/web/projects/<path>/-/recipes/<name>/<version>/<user>/<channel>`: a recipe, what its
//! newest `conanfile.py` declares (read as literals, never run), every revision (a page of
//! them) with time and size, and how to consume it.

use actix_web::{HttpRequest, HttpResponse};
use conan_model::{FilePath, RecipeReference};
use conan_store::{FileOwner, FileRecord, Project, RecipeRevisionKey, RevisionEntry};
use maud::{Markup, html};

use crate::access;
use crate::conanfile::{MAX_CONANFILE_BYTES, RecipeMetadata, read_metadata};
use crate::error::WebError;
use crate::layout::{self, Position};
use crate::pages::project::remote_name;
use crate::pages::{PER_PAGE, blobs, files};
use crate::params::{self, Query};
use crate::urls;

/// What the recipe page reads in its read scope.
struct Recipe {
    project: Project,
    /// The page of revisions, newest first, each with its total file size.
    revisions: Vec<(RevisionEntry, u64)>,
    position: Position,
    /// The newest revision's `conanfile.py`, to read its attributes from.
    conanfile: Option<FileRecord>,
    /// Whether the visitor may delete the package (to offer the link).
    may_delete: bool,
}

/// `GET .../-/recipes/{name}/{version}/{user}/{channel}`.
pub(crate) async fn page(request: HttpRequest) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    let path = params::segment(&request, "project")?;
    let reference = params::reference(&request)?;
    let query = Query::of(&request)?;
    let page = query.page()?;
    let wanted = reference.clone();
    let (recipe, nav) = access::read(&state, access::viewer(&request), move |reader| {
        let project = reader.project(&path)?;
        let all = reader.store.recipe_revisions(project.id, &wanted)?;
        let Some(latest) = all.first() else {
            return Err(WebError::NotFound);
        };
        let key = |entry: &RevisionEntry| RecipeRevisionKey {
            project: project.id,
            recipe: wanted.clone(),
            revision: entry.revision.clone(),
        };
        let conanfile_path: FilePath = "conanfile.py"
            .parse()
            .map_err(|_| WebError::internal("conanfile.py is not a file path"))?;
        let conanfile = reader
            .store
            .file(&FileOwner::Recipe(key(latest)), &conanfile_path)?;
        let offset = usize::try_from(params::offset(page, PER_PAGE)).unwrap_or(usize::MAX);
        let mut revisions = Vec::new();
        for entry in all.iter().skip(offset).take(PER_PAGE as usize) {
            let size = reader
                .store
                .files(&FileOwner::Recipe(key(entry)))?
                .map_or(0, |files| files::total_size(&files));
            revisions.push((entry.clone(), size));
        }
        let position = Position {
            page,
            has_next: all.len() > offset.saturating_add(PER_PAGE as usize),
            total: Some(all.len() as u64),
        };
        let may_delete = reader.may_delete(&project, &wanted)?;
        Ok(Recipe {
            project,
            revisions,
            position,
            conanfile,
            may_delete,
        })
    })
    .await?;
    if recipe.revisions.is_empty() {
        return Err(WebError::NotFound);
    }
    let metadata = match &recipe.conanfile {
        Some(file) => blobs::read_text(&state.blobs, &file.digests, MAX_CONANFILE_BYTES)
            .await
            .map(|source| read_metadata(&source)),
        None => None,
    };
    let title = reference.to_string();
    let project = &recipe.project;
    let here = urls::recipe(&project.path, &reference);
    let body = html! {
        (layout::breadcrumbs(&[
            (&project.path, urls::project(&project.path)),
            (&title, here.clone()),
        ]))
        h1 { (title) }
        (declared(metadata.as_ref()))
        (consume(project, &reference))
        (revisions(project, &reference, &recipe, &here))
        @if recipe.may_delete {
            p { a.danger href={ (here) "/delete" } { "Delete this package (every revision)…" } }
        }
    };
    Ok(crate::respond::ok(layout::page(&title, None, &nav, &body)))
}

/// The page of recipe revisions, with time and size, and the pager.
fn revisions(
    project: &Project,
    reference: &RecipeReference,
    recipe: &Recipe,
    here: &str,
) -> Markup {
    html! {
    section aria-labelledby="revisions-heading" {
        h2 #revisions-heading { "Recipe revisions" }
        div.table-wrap {
            table {
                thead {
                    tr {
                        th scope="col" { "Revision" }
                        th scope="col" { "Time" }
                        th.num scope="col" { "Size" }
                    }
                }
                tbody {
                    @for (entry, size) in &recipe.revisions {
                        tr {
                            td {
                                a href=(urls::recipe_revision(&project.path, reference, &entry.revision)) {
                                    code.hash { (entry.revision.as_str()) }
                                }
                            }
                            td { (layout::time(entry.time)) }
                            td.num { (layout::size(*size)) }
                        }
                    }
                }
            }
        }
        (layout::pager(recipe.position, &|page| format!("{here}{}", urls::query(&[("page", &page.to_string())]))))
    }
    }
}

/// What the newest `conanfile.py` declares, as far as it could be read.
fn declared(metadata: Option<&RecipeMetadata>) -> Markup {
    html! {
        section aria-labelledby="about-heading" {
            h2 #about-heading { "About" }
            @match metadata {
                Some(metadata) if !metadata.is_empty() => {
                    dl.facts {
                        @if let Some(description) = &metadata.description {
                            dt { "Description" } dd { (description) }
                        }
                        @if !metadata.license.is_empty() {
                            dt { "License" } dd { (metadata.license.join(", ")) }
                        }
                        @if let Some(homepage) = &metadata.homepage {
                            dt { "Homepage" } dd { (link(homepage)) }
                        }
                        @if let Some(url) = &metadata.url {
                            dt { "Recipe source" } dd { (link(url)) }
                        }
                        @if let Some(author) = &metadata.author {
                            dt { "Author" } dd { (author) }
                        }
                        @if !metadata.topics.is_empty() {
                            dt { "Topics" } dd { (metadata.topics.join(", ")) }
                        }
                    }
                    p.muted { "Read from the newest revision's conanfile.py where it assigns plain strings; the file is never run." }
                }
                _ => {
                    p.muted { "The newest revision's conanfile.py declares no description, license, homepage, author or topics as plain strings." }
                }
            }
        }
    }
}

/// A URL from a recipe: a link only when it is `http:` or `https:` (never `javascript:` and
/// the like), plain text otherwise.
fn link(url: &str) -> Markup {
    let lower = url.trim_start().to_ascii_lowercase();
    html! {
        @if lower.starts_with("https://") || lower.starts_with("http://") {
            a href=(url) rel="nofollow noopener noreferrer" { (url) }
        } @else {
            (url)
        }
    }
}

/// How to consume the recipe from this project's remote.
fn consume(project: &Project, reference: &RecipeReference) -> Markup {
    let remote = remote_name(project);
    html! {
        section aria-labelledby="use-heading" {
            h2 #use-heading { "Use it" }
            p {
                "With the project added as the remote " code { (remote) } " ("
                a href=(urls::project(&project.path)) { "see the project page" } "):"
            }
            (layout::commands("Install", &[format!("conan install --requires={reference} -r {remote}")]))
            (layout::commands("In a conanfile.txt", &["[requires]".to_owned(), reference.to_string()]))
        }
    }
}
