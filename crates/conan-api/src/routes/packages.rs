//! Binary packages of a recipe revision: package search, package revisions and the deletes.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse};
use conan_model::{ConanInfo, FullReference, PackageInfo};
use conan_remote::ListKey;
use conan_store::{MetadataStore, PackageEntry, RecipeRevisionKey};
use conan_upstream::UpstreamPackage;
use serde::{Deserialize, Serialize};

use super::recipes::latest_visible;
use crate::access::{ReadTarget, Target, blocking};
use crate::error::ApiError;
use crate::params;
use crate::remote::{Listed, RemoteNode};
use crate::respond::{RevisionJson, deleted, json, visible, warn_stale};

/// The query string of a package search.
#[derive(Debug, Deserialize)]
struct PackageSearchQuery {
    /// `True`/`False` as Python writes booleans; anything but `false` (any case) means true.
    list_only: Option<String>,
}

/// One package of a package search.
#[derive(Debug, Default, Serialize)]
struct PackageSearchEntry {
    /// The raw `conaninfo.txt` of the package's latest revision, which is all Conan 2 reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    /// GitLab's parsed `settings`, `options`, `requires` and, for Conan 1 binaries only,
    /// `recipe_hash` (whose presence makes Conan 2 skip the entry, as it should).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    info: Option<PackageInfo>,
}

impl PackageSearchEntry {
    fn of(package: PackageEntry) -> Self {
        package
            .conaninfo
            .map_or_else(Self::default, Self::of_conaninfo)
    }

    fn of_conaninfo(content: String) -> Self {
        // A conaninfo.txt that does not parse is still served raw: the client parses it itself.
        let info = ConanInfo::parse(&content).ok().map(|info| info.summary());
        Self {
            content: Some(content),
            info,
        }
    }

    /// The entry of a binary as the upstream's package search gave it.
    fn upstream(package: UpstreamPackage) -> Self {
        match package.conaninfo {
            Some(content) => Self::of_conaninfo(content),
            None => Self {
                content: None,
                info: package.info,
            },
        }
    }
}

/// A package search's answer by package id: `{pkgid: entry}`.
type Found = BTreeMap<String, PackageSearchEntry>;

/// The packages the project holds, as the search answers them.
fn found(packages: Vec<PackageEntry>) -> Found {
    packages
        .into_iter()
        .map(|package| {
            (
                package.package_id.to_string(),
                PackageSearchEntry::of(package),
            )
        })
        .collect()
}

/// The answer: `found`, or with `list_only`, `{pkgid: {}}`.
fn search_answer(found: Found, list_only: bool, stale: bool) -> Result<HttpResponse, ApiError> {
    let found = if list_only {
        found
            .into_keys()
            .map(|id| (id, PackageSearchEntry::default()))
            .collect()
    } else {
        found
    };
    Ok(warn_stale(json(&found)?, stale))
}

/// Whether the request asks for ids only.
fn list_only(request: &HttpRequest) -> Result<bool, ApiError> {
    let query: PackageSearchQuery = params::query(request)?;
    Ok(query
        .list_only
        .as_deref()
        .is_some_and(|value| !value.eq_ignore_ascii_case("false")))
}

/// The packages of a recipe revision; 404 only when the recipe itself is unknown (an unknown or
/// empty revision is `{}`, which the client reads as "no binaries").
fn packages_of(
    store: &dyn MetadataStore,
    key: &RecipeRevisionKey,
) -> Result<Vec<PackageEntry>, ApiError> {
    let packages = store.packages(key)?;
    if packages.is_empty() && !recipe_known(store, key)? {
        return Err(ApiError::not_found("Package Not Found"));
    }
    Ok(packages)
}

/// Whether the project holds a revision of `key`'s recipe.
fn recipe_known(store: &dyn MetadataStore, key: &RecipeRevisionKey) -> Result<bool, ApiError> {
    Ok(store
        .latest_recipe_revision(key.project, &key.recipe)?
        .is_some())
}

/// A remote project's package search of `key`: the upstream's binaries (through the node's
/// cache) merged with those the project holds, the upstream's entry first for an id both have
/// (it is of the upstream's latest package revision). With the upstream unavailable and
/// nothing cached, what the project holds, stale; a recipe neither has is a 404.
async fn with_upstream(
    node: &RemoteNode,
    target: Target,
    key: RecipeRevisionKey,
) -> Result<(Found, bool), ApiError> {
    let listed = node.packages(&key.recipe, &key.revision).await?;
    let ((held, known), _) = target
        .read_held(move |store, _| {
            let held = store.packages(&key)?;
            let known = !held.is_empty() || recipe_known(store, &key)?;
            Ok((held, known))
        })
        .await?;
    let mut found = found(held);
    match listed {
        Listed::Upstream(Some(packages), stale) => {
            for package in packages {
                found.insert(
                    package.package_id.to_string(),
                    PackageSearchEntry::upstream(package),
                );
            }
            Ok((found, stale))
        }
        Listed::Upstream(None, stale) if known => Ok((found, stale)),
        Listed::Upstream(None, _) => Err(ApiError::not_found("Package Not Found")),
        Listed::Unavailable(_) if known => {
            tracing::warn!(upstream = %node.host,
                "remote project's upstream unavailable and nothing cached: serving the binaries held");
            Ok((found, true))
        }
        Listed::Unavailable(error) => Err(error),
    }
}

/// `GET R/revisions/{rrev}/search[?list_only=True]`: the binaries of a recipe revision, each
/// with the `conaninfo.txt` of its latest revision. At a remote project, merged with the
/// upstream's.
pub(super) async fn search(
    target: ReadTarget,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let list_only = list_only(&request)?;
    let (found, stale) = target
        .read_or_remote(
            |store, target| Ok(found(packages_of(store, &target.recipe_key()?)?)),
            |node, target| async move {
                let key = target.recipe_key()?;
                with_upstream(&node, target, key).await
            },
        )
        .await?;
    search_answer(found, list_only, stale)
}

/// `GET R/search[?list_only=True]`: the same for the latest recipe revision (Conan 1 in
/// revisions mode uses it); at a remote project the upstream's latest, or the latest held
/// when the upstream has none or is unavailable.
pub(super) async fn search_latest(
    target: ReadTarget,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let list_only = list_only(&request)?;
    let (found, stale) = target
        .read_or_remote(
            |store, target| {
                let (project, recipe) = (target.project.id, &target.recipe);
                let latest = latest_visible(store, project, recipe)?
                    .ok_or_else(|| ApiError::not_found("Package Not Found"))?;
                Ok(found(store.packages(&RecipeRevisionKey {
                    project,
                    recipe: recipe.clone(),
                    revision: latest.revision,
                })?))
            },
            |node, target| async move {
                let upstream_latest =
                    match node.list(&ListKey::Recipe(target.recipe.clone())).await? {
                        Listed::Upstream(Some(list), _) => visible(list).into_iter().next(),
                        Listed::Upstream(None, _) | Listed::Unavailable(_) => None,
                    };
                let (latest, target) = match upstream_latest {
                    Some(latest) => (Some(latest), target),
                    None => {
                        target
                            .read_held(|store, target| {
                                latest_visible(store, target.project.id, &target.recipe)
                            })
                            .await?
                    }
                };
                let latest = latest.ok_or_else(|| ApiError::not_found("Package Not Found"))?;
                let key = RecipeRevisionKey {
                    project: target.project.id,
                    recipe: target.recipe.clone(),
                    revision: latest.revision,
                };
                with_upstream(&node, target, key).await
            },
        )
        .await?;
    search_answer(found, list_only, stale)
}

/// `GET .../packages/{pkgid}/latest`: the package's newest committed revision.
pub(super) async fn latest(target: ReadTarget) -> Result<HttpResponse, ApiError> {
    let (latest, _, stale) = target
        .read_list(
            |store, target| {
                let (key, package_id) = (target.recipe_key()?, target.package_id()?);
                match store.latest_package_revision(&key, &package_id)? {
                    // As for recipes: `0` only while no real revision exists.
                    Some(latest) if latest.revision.is_zero() => {
                        Ok(visible(store.package_revisions(&key, &package_id)?)
                            .into_iter()
                            .next())
                    }
                    latest => Ok(latest),
                }
            },
            |list, _| Ok(visible(list).into_iter().next()),
        )
        .await?;
    let latest = latest.ok_or_else(|| ApiError::not_found("Revision Not Found"))?;
    Ok(warn_stale(json(&RevisionJson::from(&latest))?, stale))
}

/// The answer of `GET .../packages/{pkgid}/revisions`.
#[derive(Debug, Serialize)]
struct PackageRevisions {
    /// `name/version[@user[/channel]]#rrev:pkgid`, under GitLab's camel-case key.
    #[serde(rename = "packageReference")]
    package_reference: String,
    /// Newest first.
    revisions: Vec<RevisionJson>,
}

/// `GET .../packages/{pkgid}/revisions`: every committed revision of the package, newest
/// first; 404 when there is none, as for recipe revisions.
pub(super) async fn revisions(target: ReadTarget) -> Result<HttpResponse, ApiError> {
    let (entries, target, stale) = target
        .read_list(
            |store, target| {
                let (key, package_id) = (target.recipe_key()?, target.package_id()?);
                Ok(store.package_revisions(&key, &package_id)?)
            },
            |list, _| Ok(list),
        )
        .await?;
    let (key, package_id) = (target.recipe_key()?, target.package_id()?);
    let reference = FullReference::new(key.recipe, Some(key.revision), Some(package_id), None)?;
    let entries = visible(entries);
    if entries.is_empty() {
        return Err(ApiError::not_found("Revision Not Found"));
    }
    let answer = json(&PackageRevisions {
        package_reference: reference.to_string(),
        revisions: entries.iter().map(RevisionJson::from).collect(),
    })?;
    Ok(warn_stale(answer, stale))
}

/// `DELETE .../packages/{pkgid}/revisions/{prev}`: one package revision; the package goes with
/// its last one.
pub(super) async fn delete_revision(target: Target) -> Result<HttpResponse, ApiError> {
    let key = target.package_key()?;
    let store = Arc::clone(&target.state.metadata);
    answer_delete(blocking(move || Ok(store.delete_package_revision(&key)?)).await?)
}

/// `DELETE .../packages/{pkgid}`: every revision of one package.
pub(super) async fn delete_package(target: Target) -> Result<HttpResponse, ApiError> {
    let key = target.recipe_key()?;
    let package_id = target.package_id()?;
    let store = Arc::clone(&target.state.metadata);
    answer_delete(blocking(move || Ok(store.delete_package(&key, &package_id)?)).await?)
}

/// `DELETE R/revisions/{rrev}/packages`: every package of the recipe revision.
pub(super) async fn delete_all(target: Target) -> Result<HttpResponse, ApiError> {
    let key = target.recipe_key()?;
    let store = Arc::clone(&target.state.metadata);
    answer_delete(blocking(move || Ok(store.delete_packages(&key)?)).await?)
}

/// 200 when something was deleted, else GitLab's `404 Package Revision Not Found`.
fn answer_delete(existed: bool) -> Result<HttpResponse, ApiError> {
    if existed {
        Ok(deleted())
    } else {
        Err(ApiError::not_found("Package Revision Not Found"))
    }
}
