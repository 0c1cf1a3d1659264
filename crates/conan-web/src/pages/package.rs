//! `.../revisions/<rrev>/packages/<package id>/revisions/<prev>`: one package revision, the
//! settings, options and requirements its `conaninfo.txt` records, its files with sizes,
//! checksums and download links, and the package's other revisions (a page of them).

use actix_web::{HttpRequest, HttpResponse};
use conan_model::{ConanInfo, PackageId, RecipeReference, Revision};
use conan_store::{
    FileOwner, FileRecord, PackageRevisionKey, Project, RecipeRevisionKey, RevisionEntry,
};
use maud::{Markup, html};

use crate::access::{self, Reader};
use crate::error::WebError;
use crate::layout::{self, Position};
use crate::pages::{PER_PAGE, blobs, files};
use crate::params::{self, Query};
use crate::urls;

/// The most of a `conaninfo.txt` that is read (real ones are well under 1 KiB).
const MAX_CONANINFO_BYTES: usize = 64 * 1024;

/// What the package revision page reads in its read scope.
struct PackagePage {
    project: Project,
    revision: RevisionEntry,
    files: Vec<FileRecord>,
    /// A page of the package's revisions, newest first.
    revisions: Vec<RevisionEntry>,
    position: Position,
    /// Whether the visitor may delete the binary (to offer the link).
    may_delete: bool,
}

/// `GET .../packages/{package_id}/revisions/{prev}`.
pub(crate) async fn page(request: HttpRequest) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    let path = params::segment(&request, "project")?;
    let reference = params::reference(&request)?;
    let recipe_revision = params::revision(&request, "rrev", "recipe revision")?;
    let package_id = params::package_id(&request)?;
    let revision = params::revision(&request, "prev", "package revision")?;
    let query = Query::of(&request)?;
    let page = query.page()?;
    let wanted = (
        reference.clone(),
        recipe_revision.clone(),
        package_id.clone(),
        revision.clone(),
    );
    let (shown, nav) = access::read(&state, access::viewer(&request), move |reader| {
        load(reader, &path, wanted, page)
    })
    .await?;
    if page > 1 && shown.revisions.is_empty() {
        return Err(WebError::NotFound);
    }
    let conaninfo = match shown
        .files
        .iter()
        .find(|file| file.path.as_str() == "conaninfo.txt")
    {
        Some(file) => blobs::read_text(&state.blobs, &file.digests, MAX_CONANINFO_BYTES)
            .await
            .and_then(|text| ConanInfo::parse(&text).ok()),
        None => None,
    };
    let project = &shown.project;
    let reference_text = reference.to_string();
    let title = format!("{reference}#{recipe_revision}:{package_id}#{revision}");
    let here = urls::package_revision(
        &project.path,
        &reference,
        &recipe_revision,
        &package_id,
        &revision,
    );
    let owner = urls::FileOwner::Package(&package_id, &revision);
    let body = html! {
        (layout::breadcrumbs(&[
            (&project.path, urls::project(&project.path)),
            (&reference_text, urls::recipe(&project.path, &reference)),
            (recipe_revision.as_str(), urls::recipe_revision(&project.path, &reference, &recipe_revision)),
            (package_id.as_str(), here.clone()),
        ]))
        h1 { (reference_text) " " span.muted { "binary" } }
        dl.facts {
            dt { "Package id" } dd { code.hash { (package_id.as_str()) } }
            dt { "Package revision" } dd { code.hash { (revision.as_str()) } }
            dt { "Time" } dd { (layout::time(shown.revision.time)) }
            dt { "Size" } dd { (layout::size(files::total_size(&shown.files))) }
            dt { "Install" } dd { code { "conan install --requires=" (reference_text) } }
        }
        (info(conaninfo.as_ref()))
        section aria-labelledby="files-heading" {
            h2 #files-heading { "Files" }
            (files::table(project.id, &reference, &recipe_revision, &owner, &shown.files))
        }
        section aria-labelledby="revisions-heading" {
            h2 #revisions-heading { "Revisions of this binary" }
            ul.plain {
                @for entry in &shown.revisions {
                    li {
                        @if entry.revision == revision {
                            code.hash { (entry.revision.as_str()) } " (this one), "
                        } @else {
                            a href=(urls::package_revision(&project.path, &reference, &recipe_revision, &package_id, &entry.revision)) {
                                code.hash { (entry.revision.as_str()) }
                            }
                            ", "
                        }
                        (layout::time(entry.time))
                    }
                }
            }
            (layout::pager(shown.position, &|page| format!("{here}{}", urls::query(&[("page", &page.to_string())]))))
        }
        @if shown.may_delete {
            p {
                a.danger href={ (urls::binary(&project.path, &reference, &recipe_revision, &package_id)) "/delete" } {
                    "Delete this binary (every package revision)…"
                }
            }
        }
    };
    Ok(crate::respond::ok(layout::page(&title, None, &nav, &body)))
}

/// Reads what the page shows, in its read scope.
fn load(
    reader: &Reader<'_>,
    path: &str,
    wanted: (RecipeReference, Revision, PackageId, Revision),
    page: u32,
) -> Result<PackagePage, WebError> {
    let (reference, recipe_revision, package_id, revision) = wanted;
    let project = reader.project(path)?;
    let reference_of_page = reference.clone();
    let key = PackageRevisionKey {
        recipe: RecipeRevisionKey {
            project: project.id,
            recipe: reference,
            revision: recipe_revision,
        },
        package_id,
        revision,
    };
    let entry = reader
        .store
        .package_revision(&key)?
        .ok_or(WebError::NotFound)?;
    let all = reader
        .store
        .package_revisions(&key.recipe, &key.package_id)?;
    let files = reader
        .store
        .files(&FileOwner::Package(key))?
        .ok_or(WebError::NotFound)?;
    let offset = usize::try_from(params::offset(page, PER_PAGE)).unwrap_or(usize::MAX);
    let revisions: Vec<RevisionEntry> = all
        .iter()
        .skip(offset)
        .take(PER_PAGE as usize)
        .cloned()
        .collect();
    let may_delete = reader.may_delete(&project, &reference_of_page)?;
    Ok(PackagePage {
        may_delete,
        project,
        revision: entry,
        files,
        position: Position {
            page,
            has_next: all.len() > offset.saturating_add(PER_PAGE as usize),
            total: Some(all.len() as u64),
        },
        revisions,
    })
}

/// What `conaninfo.txt` records: settings, options and requirements.
fn info(conaninfo: Option<&ConanInfo>) -> Markup {
    html! {
        section aria-labelledby="info-heading" {
            h2 #info-heading { "Configuration" }
            @match conaninfo {
                Some(info) => {
                    dl.facts {
                        dt { "Settings" }
                        dd { @for (name, value) in info.settings() { code { (name) "=" (value) } br; } }
                        dt { "Options" }
                        dd { @for (name, value) in info.options() { code { (name) "=" (value) } br; } }
                        dt { "Requires" }
                        dd { @for require in info.requires() { code { (require) } br; } }
                    }
                }
                None => { p.muted { "This binary has no readable conaninfo.txt." } }
            }
        }
    }
}
