//! `.../-/recipes/<reference>/revisions/<rrev>`: a recipe revision's binaries as a table
//! (package id, settings, options, requires, newest package revision, time, size), filtered by
//! setting values from the query string (`settings.os=Linux&settings.build_type=Release`), a
//! page at a time; and the revision's own files.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use actix_web::{HttpRequest, HttpResponse};
use conan_model::{ConanInfo, PackageId, RecipeReference, Revision};
use conan_store::{FileOwner, FileRecord, PackageEntry, Project, RecipeRevisionKey, RevisionEntry};
use maud::{Markup, html};

use crate::access::{self, Reader};
use crate::error::WebError;
use crate::layout::{self, Position};
use crate::pages::{PER_PAGE, files};
use crate::params::{self, Query};
use crate::urls;

/// The query parameter prefix of a setting filter.
const SETTING: &str = "settings.";

/// The most distinct values a filter offers for one setting.
const MAX_CHOICES: usize = 50;

/// One binary as the table shows it.
struct Binary {
    entry: PackageEntry,
    /// Its parsed `conaninfo.txt`; `None` when it has none or it cannot be parsed (the binary
    /// stays listed, without settings).
    info: Option<ConanInfo>,
    size: u64,
}

/// No settings or options.
static NONE: BTreeMap<String, String> = BTreeMap::new();

impl Binary {
    /// The binary's settings.
    fn settings(&self) -> &BTreeMap<String, String> {
        self.info.as_ref().map_or(&NONE, ConanInfo::settings)
    }

    /// The binary's options.
    fn options(&self) -> &BTreeMap<String, String> {
        self.info.as_ref().map_or(&NONE, ConanInfo::options)
    }

    /// The binary's requirements.
    fn requires(&self) -> &[String] {
        self.info.as_ref().map_or(&[], ConanInfo::requires)
    }
}

/// What the revision page reads in its read scope.
struct RevisionPage {
    project: Project,
    revision: RevisionEntry,
    files: Vec<FileRecord>,
    binaries: Vec<Binary>,
    /// Every setting of any binary, with its values (for the filter's choices).
    choices: BTreeMap<String, BTreeSet<String>>,
    /// How many binaries the revision has, and how many pass the filter.
    count: usize,
    matching: usize,
    position: Position,
    /// Whether the visitor may delete the revision (to offer the link).
    may_delete: bool,
}

/// `GET .../revisions/{rrev}`.
pub(crate) async fn page(request: HttpRequest) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    let path = params::segment(&request, "project")?;
    let reference = params::reference(&request)?;
    let revision = params::revision(&request, "rrev", "recipe revision")?;
    let query = Query::of(&request)?;
    let page = query.page()?;
    let filters = query.with_prefix(SETTING);
    let wanted = (reference.clone(), revision.clone(), filters.clone());
    let (shown, nav) = access::read(&state, access::viewer(&request), move |reader| {
        load(reader, &path, wanted, page)
    })
    .await?;
    if page > 1 && shown.binaries.is_empty() {
        return Err(WebError::NotFound);
    }
    let project = &shown.project;
    let title = format!("{reference}#{revision}");
    let here = urls::recipe_revision(&project.path, &reference, &revision);
    let link = |page: u32| {
        let mut pairs: Vec<(String, String)> = filters
            .iter()
            .map(|(name, value)| (format!("{SETTING}{name}"), value.clone()))
            .collect();
        pairs.push(("page".to_owned(), page.to_string()));
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        format!("{here}{}", urls::query(&pairs))
    };
    let reference_text = reference.to_string();
    let body = html! {
        (layout::breadcrumbs(&[
            (&project.path, urls::project(&project.path)),
            (&reference_text, urls::recipe(&project.path, &reference)),
            (revision.as_str(), here.clone()),
        ]))
        h1 { (reference_text) " " span.muted { "revision" } }
        dl.facts {
            dt { "Revision" } dd { code.hash { (revision.as_str()) } }
            dt { "Time" } dd { (layout::time(shown.revision.time)) }
            dt { "Binaries" } dd { (shown.count) }
        }
        section aria-labelledby="binaries-heading" {
            h2 #binaries-heading { "Binaries" }
            @if shown.count == 0 {
                p.muted { "This revision has no binary yet." }
            } @else {
                (filter_form(&here, &shown.choices, &filters))
                @if !filters.is_empty() {
                    p { (shown.matching) " of " (shown.count) " binaries match. " a href=(here) { "Show all" } }
                }
                (binaries_table(project, &reference, &revision, &shown.binaries))
                (layout::pager(shown.position, &link))
            }
        }
        section aria-labelledby="files-heading" {
            h2 #files-heading { "Recipe files" }
            (files::table(project.id, &reference, &revision, &urls::FileOwner::Recipe, &shown.files))
        }
        @if shown.may_delete {
            p { a.danger href={ (here) "/delete" } { "Delete this recipe revision and its binaries…" } }
        }
    };
    Ok(crate::respond::ok(layout::page(&title, None, &nav, &body)))
}

/// Reads what the page shows, in its read scope.
fn load(
    reader: &Reader<'_>,
    path: &str,
    wanted: (RecipeReference, Revision, Vec<(String, String)>),
    page: u32,
) -> Result<RevisionPage, WebError> {
    let (reference, revision, filters) = wanted;
    let project = reader.project(path)?;
    let key = RecipeRevisionKey {
        project: project.id,
        recipe: reference,
        revision,
    };
    let entry = reader
        .store
        .recipe_revision(&key)?
        .ok_or(WebError::NotFound)?;
    let files = reader
        .store
        .files(&FileOwner::Recipe(key.clone()))?
        .ok_or(WebError::NotFound)?;
    let all = reader.store.packages(&key)?;
    let count = all.len();
    let mut choices: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut matching = Vec::new();
    for entry in all {
        let info = entry
            .conaninfo
            .as_deref()
            .and_then(|text| ConanInfo::parse(text).ok());
        let settings = info.as_ref().map_or(&NONE, ConanInfo::settings);
        for (name, value) in settings {
            let values = choices.entry(name.clone()).or_default();
            if values.len() < MAX_CHOICES {
                values.insert(value.clone());
            }
        }
        let passes = filters
            .iter()
            .all(|(name, value)| settings.get(name) == Some(value));
        if passes {
            matching.push((entry, info));
        }
    }
    let offset = usize::try_from(params::offset(page, PER_PAGE)).unwrap_or(usize::MAX);
    let total = matching.len();
    // Every binary's size in one query, not a file listing per binary.
    let sizes: HashMap<(PackageId, Revision), u64> = reader
        .store
        .package_revision_sizes(&key)?
        .into_iter()
        .map(|(package_id, revision, size)| ((package_id, revision), size))
        .collect();
    let mut binaries = Vec::new();
    for (entry, info) in matching.into_iter().skip(offset).take(PER_PAGE as usize) {
        let size = sizes
            .get(&(entry.package_id.clone(), entry.latest.revision.clone()))
            .copied()
            .unwrap_or_default();
        binaries.push(Binary { entry, info, size });
    }
    let may_delete = reader.may_delete(&project, &key.recipe)?;
    Ok(RevisionPage {
        may_delete,
        project,
        revision: entry,
        files,
        binaries,
        choices,
        count,
        matching: total,
        position: Position {
            page,
            has_next: total > offset.saturating_add(PER_PAGE as usize),
            total: Some(total as u64),
        },
    })
}

/// The filter: one labelled choice per setting the binaries have.
fn filter_form(
    action: &str,
    choices: &BTreeMap<String, BTreeSet<String>>,
    filters: &[(String, String)],
) -> Markup {
    html! {
        @if !choices.is_empty() {
            form.filter method="get" action=(action) aria-label="Filter binaries by setting" {
                @for (index, (name, values)) in choices.iter().enumerate() {
                    @let current = filters.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
                    @let id = format!("setting-{index}");
                    label for=(id) {
                        (name)
                        select #(id) name={ (SETTING) (name) } {
                            option value="" selected[current.is_none()] { "any" }
                            @for value in values {
                                option value=(value) selected[current == Some(value.as_str())] { (value) }
                            }
                        }
                    }
                }
                button type="submit" { "Filter" }
            }
        }
    }
}

/// `key=value` lines of a conaninfo section.
fn pairs(values: &BTreeMap<String, String>) -> Markup {
    html! {
        @for (name, value) in values {
            code { (name) "=" (value) } br;
        }
    }
}

/// The table of a page of binaries.
fn binaries_table(
    project: &Project,
    reference: &RecipeReference,
    revision: &Revision,
    binaries: &[Binary],
) -> Markup {
    html! {
        @if binaries.is_empty() {
            p { "No binary has these settings." }
        } @else {
            div.table-wrap {
                table {
                    thead {
                        tr {
                            th scope="col" { "Package id" }
                            th scope="col" { "Settings" }
                            th scope="col" { "Options" }
                            th scope="col" { "Requires" }
                            th scope="col" { "Latest package revision" }
                            th.num scope="col" { "Size" }
                        }
                    }
                    tbody {
                        @for binary in binaries {
                            @let entry = &binary.entry;
                            tr {
                                td {
                                    a href=(urls::package_revision(&project.path, reference, revision, &entry.package_id, &entry.latest.revision)) {
                                        code.hash { (entry.package_id.as_str()) }
                                    }
                                }
                                td { (pairs(binary.settings())) }
                                td { (pairs(binary.options())) }
                                td {
                                    @for require in binary.requires() {
                                        code { (require) } br;
                                    }
                                }
                                td {
                                    code.hash { (entry.latest.revision.as_str()) } br;
                                    (layout::time(entry.latest.time))
                                }
                                td.num { (layout::size(binary.size)) }
                            }
                        }
                    }
                }
            }
        }
    }
}
