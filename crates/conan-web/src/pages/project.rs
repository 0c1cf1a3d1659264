//! `/-/web/projects/<path>`: a project's packages (a page of them, sortable) and the commands
//! that add it as a Conan remote.

use actix_web::{HttpRequest, HttpResponse};
use conan_store::catalog::{COUNT_LIMIT, CatalogOrder, CatalogPage, CatalogQuery, CatalogStatus};
use conan_store::{Project, ProjectId, SearchScope};
use maud::{Markup, html};

use crate::access;
use crate::error::WebError;
use crate::layout::{self, Position};
use crate::pages::PER_PAGE;
use crate::params::{self, Query};
use crate::urls;

/// The columns a project's packages sort by.
const SORTS: &[&str] = &["name", "version", "created"];

/// The sort directions.
const DIRECTIONS: &[&str] = &["asc", "desc"];

/// `GET /-/web/projects/{project}`.
pub(crate) async fn page(request: HttpRequest) -> Result<HttpResponse, WebError> {
    let state = access::state(&request)?;
    let path = params::segment(&request, "project")?;
    let query = Query::of(&request)?;
    let page = query.page()?;
    let sort = query.choice("sort", SORTS, "name")?;
    let direction = query.choice("direction", DIRECTIONS, "asc")?;
    let order = match sort {
        "version" => CatalogOrder::Version,
        "created" => CatalogOrder::CreatedAt,
        _ => CatalogOrder::Name,
    };
    let ((project, listing, manages, kind), nav) =
        access::read(&state, access::viewer(&request), move |reader| {
            let project = reader.project(&path)?;
            let kind = Kind::of(reader, &project)?;
            let listing = reader.store.catalog_packages(&CatalogQuery {
                projects: vec![project.id],
                name_words: Vec::new(),
                name: None,
                version: None,
                status: CatalogStatus::Committed,
                order,
                descending: direction == "desc",
                offset: params::offset(page, PER_PAGE),
                limit: PER_PAGE,
                count_limit: COUNT_LIMIT,
            })?;
            let manages = crate::pages::settings::powers(reader, &project)?.is_some();
            Ok((project, listing, manages, kind))
        })
        .await?;
    if page > 1 && listing.packages.is_empty() {
        return Err(WebError::NotFound);
    }
    let base = access::base_url(&state, &request);
    let link = |page: u32, sort: &str, direction: &str| {
        format!(
            "{}{}",
            urls::project(&project.path),
            urls::query(&[
                ("sort", sort),
                ("direction", direction),
                ("page", &page.to_string())
            ])
        )
    };
    let position = Position {
        page,
        has_next: listing.has_next,
        total: listing.total,
    };
    let body = html! {
        (layout::breadcrumbs(&[(&project.path, urls::project(&project.path))]))
        h1 { (project.path) }
        p.muted {
            "A " (project.visibility.as_str()) " project."
            " " a href=(crate::pages::storage::address(&project.path)) { "Storage" }
            " · " a href=(crate::pages::backups::address(&project.path)) { "Source backups" }
            @if manages {
                " · " a href=(crate::pages::settings::address(&project)) { "Settings" }
            }
        }
        (kind.describe(manages))
        section aria-labelledby="packages-heading" {
            h2 #packages-heading { "Packages" }
            (packages(&project, &listing, sort, direction, &|sort, direction| link(1, sort, direction)))
            (layout::pager(position, &|page| link(page, sort, direction)))
        }
        (remotes(&base, &project))
    };
    Ok(crate::respond::ok(layout::page(
        &project.path,
        None,
        &nav,
        &body,
    )))
}

/// Whether a project holds its own packages, caches an upstream, or answers from members.
enum Kind {
    /// An ordinary project.
    Ordinary,
    /// A remote project: its upstream's URL and how long its lists are kept.
    Remote { url: String, ttl_secs: u32 },
    /// A virtual project: the paths of the members the visitor may read, in order, and its
    /// deploy member's, if the visitor may read it.
    Virtual {
        members: Vec<String>,
        deploy: Option<String>,
    },
}

impl Kind {
    fn of(reader: &access::Reader<'_>, project: &Project) -> Result<Self, WebError> {
        if let Some(settings) = reader.store.remote(project.id)? {
            return Ok(Self::Remote {
                url: settings.upstream_url,
                ttl_secs: settings.metadata_ttl_secs,
            });
        }
        let Some(layout) = reader.store.virtual_layout(project.id)? else {
            return Ok(Self::Ordinary);
        };
        // Only the members the visitor may read: the others are not theirs to know of.
        let readable = match reader.auth.project_search_scope(reader.viewer, project)? {
            SearchScope::Projects(ids) => ids,
            SearchScope::All => Vec::new(),
        };
        let path = |id: ProjectId| -> Result<Option<String>, WebError> {
            Ok(reader.store.project(id)?.map(|member| member.path))
        };
        let mut members = Vec::with_capacity(readable.len());
        for id in &readable {
            members.extend(path(*id)?);
        }
        let deploy = match layout.deploy {
            Some(id) if readable.contains(&id) => path(id)?,
            _ => None,
        };
        Ok(Self::Virtual { members, deploy })
    }

    /// What the project page says of it; a remote project's upstream URL only to those who
    /// manage the project (readers learn its host).
    fn describe(&self, manages: bool) -> Markup {
        match self {
            Self::Ordinary => html! {},
            Self::Remote { url, ttl_secs } => html! {
                p.notice {
                    "A remote project: a read-only cache of "
                    @if manages { code { (url) } } @else { code { (host_of(url)) } }
                    ". Packages are fetched from it on first use and kept; uploads are refused. "
                    "Revision lists are asked again after " (ttl_secs) " s. "
                    "The packages below are the ones cached so far."
                }
            },
            Self::Virtual { members, deploy } => html! {
                p.notice {
                    "A virtual project: it holds no packages itself and answers each reference from the "
                    "first of its members (local projects before remote ones) that has it. "
                    @if members.is_empty() {
                        "You may read none of its members."
                    } @else {
                        "Members you may read, in order: "
                        @for (index, member) in members.iter().enumerate() {
                            @if index > 0 { ", " }
                            a href=(urls::project(member)) { (member) }
                        }
                        ". "
                    }
                    @if let Some(deploy) = deploy {
                        "Uploads go to " a href=(urls::project(deploy)) { (deploy) } "."
                    }
                }
            },
        }
    }
}

/// The host of an upstream URL (`https://host:port/path` gives `host:port`).
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

/// The table of a page of packages, with sortable column headers.
fn packages(
    project: &Project,
    listing: &CatalogPage,
    sort: &str,
    direction: &str,
    sorted: &dyn Fn(&str, &str) -> String,
) -> Markup {
    // A header links to its column sorted ascending, or descending when it is already.
    let header = |column: &str, label: &str| {
        let active = sort == column;
        let next = if active && direction == "asc" {
            "desc"
        } else {
            "asc"
        };
        let state = match (active, direction) {
            (true, "asc") => "ascending",
            (true, _) => "descending",
            _ => "none",
        };
        html! {
            th scope="col" aria-sort=(state) { a href=(sorted(column, next)) { (label) } }
        }
    };
    html! {
        @if listing.packages.is_empty() {
            p.muted { "No package has been uploaded to this project yet." }
        } @else {
            div.table-wrap {
                table {
                    thead {
                        tr {
                            (header("name", "Name"))
                            (header("version", "Version"))
                            th scope="col" { "User/channel" }
                            (header("created", "Added"))
                            th scope="col" { "Latest revision" }
                            th.num scope="col" { "Binaries" }
                            th.num scope="col" { "Size" }
                        }
                    }
                    tbody {
                        @for package in &listing.packages {
                            @let reference = &package.reference;
                            tr {
                                td { a href=(urls::recipe(&project.path, reference)) { (reference.name().as_str()) } }
                                td { (reference.version().as_str()) }
                                td {
                                    @match (reference.user(), reference.channel()) {
                                        (Some(user), Some(channel)) => { (user.as_str()) "/" (channel.as_str()) }
                                        (Some(user), None) => { (user.as_str()) }
                                        _ => { span.muted { "—" } }
                                    }
                                }
                                td { (layout::time(package.created_at)) }
                                td {
                                    @if let Some(latest) = &package.latest_revision {
                                        (layout::time(latest.time))
                                    }
                                }
                                td.num { (package.binary_count) }
                                td.num { (layout::size(package.size)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The Conan remote name suggested for a project: its path with `/` as `-`.
pub(crate) fn remote_name(project: &Project) -> String {
    project.path.replace('/', "-")
}

/// The commands that add the project, and the instance, as Conan remotes.
fn remotes(base: &str, project: &Project) -> Markup {
    let name = remote_name(project);
    let instance_user = project.path.replace('/', "+");
    html! {
        section aria-labelledby="remote-heading" {
            h2 #remote-heading { "Use it with Conan" }
            p {
                "Add the project as a remote. Reading a public project needs no login; uploading, "
                "and reading a project that is not public, needs a personal access token."
            }
            (layout::commands("The project's remote", &[
                format!("conan remote add {name} {}", urls::project_remote(base, project)),
                format!("conan remote login {name} YOUR_USERNAME -p YOUR_ACCESS_TOKEN"),
            ]))
            p {
                "Or use the instance remote, which serves every project: there a recipe's user names its project, "
                "with " code { "/" } " written as " code { "+" } " (" code { "name/version@" (instance_user) "/channel" } ")."
            }
            (layout::commands("The instance remote", &[
                format!("conan remote add conan-registry {}", urls::instance_remote(base)),
                "conan remote login conan-registry YOUR_USERNAME -p YOUR_ACCESS_TOKEN".to_owned(),
            ]))
        }
    }
}
