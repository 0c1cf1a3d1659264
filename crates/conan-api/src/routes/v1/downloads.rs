//! Conan v1 reads: the snapshots `{file: md5}`, the digests and the download URLs of the newest
//! recipe revision and of a package's newest revision.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse};
use conan_model::{FileKind, FilePath, PackageId, RecipeReference};
use conan_store::transfer::fill_md5;
use conan_store::{FileOwner, FileRecord, MetadataStore, PackageRevisionKey, RecipeRevisionKey};

use super::{FileUrls, Ordered};
use crate::access::{Target, read};
use crate::error::ApiError;
use crate::respond::json;

/// GitLab's 404 for digest and download URLs of a recipe or package without files (it says
/// "recipe" for packages too).
const NO_MANIFEST: &str = "No recipe manifest found";

/// The files a v1 client knows of a revision: everything but `metadata/**`, which Conan 1
/// never heard of.
fn v1_files(files: Option<Vec<FileRecord>>) -> Vec<FileRecord> {
    let mut files = files.unwrap_or_default();
    files.retain(|file| file.path.kind() != FileKind::Metadata);
    files
}

/// The newest committed recipe revision, real or `0`, with its files.
fn latest_recipe(
    store: &dyn MetadataStore,
    target_project: conan_store::ProjectId,
    recipe: &RecipeReference,
) -> Result<Option<(RecipeRevisionKey, Vec<FileRecord>)>, ApiError> {
    let Some(latest) = store.latest_recipe_revision(target_project, recipe)? else {
        return Ok(None);
    };
    let key = RecipeRevisionKey {
        project: target_project,
        recipe: recipe.clone(),
        revision: latest.revision,
    };
    let files = v1_files(store.files(&FileOwner::Recipe(key.clone()))?);
    Ok(Some((key, files)))
}

/// The newest package revision of `package_id` under the newest recipe revision, with its
/// files.
fn latest_package(
    store: &dyn MetadataStore,
    target_project: conan_store::ProjectId,
    recipe: &RecipeReference,
    package_id: &PackageId,
) -> Result<Option<(PackageRevisionKey, Vec<FileRecord>)>, ApiError> {
    let Some(latest) = store.latest_recipe_revision(target_project, recipe)? else {
        return Ok(None);
    };
    let recipe_key = RecipeRevisionKey {
        project: target_project,
        recipe: recipe.clone(),
        revision: latest.revision,
    };
    let Some(package) = store.latest_package_revision(&recipe_key, package_id)? else {
        return Ok(None);
    };
    let key = PackageRevisionKey {
        recipe: recipe_key,
        package_id: package_id.clone(),
        revision: package.revision,
    };
    let files = v1_files(store.files(&FileOwner::Package(key.clone()))?);
    Ok(Some((key, files)))
}

/// Looks up the latest recipe revision of `target` on the blocking pool.
async fn recipe_of(
    target: &Target,
) -> Result<Option<(RecipeRevisionKey, Vec<FileRecord>)>, ApiError> {
    let (project, recipe) = (target.project.id, target.recipe.clone());
    read(&target.state, true, move |store| {
        latest_recipe(store, project, &recipe)
    })
    .await
}

/// Looks up the latest package revision of `target`'s `{pkgid}` on the blocking pool.
async fn package_of(
    target: &Target,
) -> Result<Option<(PackageRevisionKey, Vec<FileRecord>)>, ApiError> {
    let (project, recipe) = (target.project.id, target.recipe.clone());
    let package_id = target.package_id()?;
    read(&target.state, true, move |store| {
        latest_package(store, project, &recipe, &package_id)
    })
    .await
}

/// The snapshot `{file: md5}` of some files. Uploads do not compute md5, so the first snapshot
/// of files stored without one computes it from their blobs and records it.
async fn snapshot(
    target: &Target,
    files: Option<Vec<FileRecord>>,
) -> Result<HttpResponse, ApiError> {
    let mut files = files.unwrap_or_default();
    fill_md5(
        Arc::clone(&target.state.metadata),
        Arc::clone(&target.state.blobs),
        &mut files,
    )
    .await?;
    json(&Ordered(
        files
            .into_iter()
            .map(|file| (file.path.to_string(), file.digests.md5.unwrap_or_default()))
            .collect(),
    ))
}

/// `GET v1/R`: the recipe snapshot `{file: md5}` of the newest revision; `{}` when the recipe
/// is absent (GitLab's answer, which the client reads as absent).
pub(in crate::routes) async fn recipe_snapshot(target: Target) -> Result<HttpResponse, ApiError> {
    let files = recipe_of(&target).await?.map(|(_, files)| files);
    snapshot(&target, files).await
}

/// `GET v1/R/packages/{pkgid}`: the package snapshot; `{}` when absent.
pub(in crate::routes) async fn package_snapshot(target: Target) -> Result<HttpResponse, ApiError> {
    let files = package_of(&target).await?.map(|(_, files)| files);
    snapshot(&target, files).await
}

/// Which files a URL answer lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listing {
    /// `digest`: the manifest only.
    Digest,
    /// `download_urls`: every file.
    All,
}

impl Listing {
    /// Whether `file` is listed.
    fn lists(self, file: &FileRecord) -> bool {
        self == Self::All || file.path.kind() == FileKind::Manifest
    }

    /// `{file: url}` of the listed `files`; 404 `No recipe manifest found` when none is.
    fn answer(
        self,
        files: &[FileRecord],
        url: impl Fn(&FilePath) -> String,
    ) -> Result<HttpResponse, ApiError> {
        let answer: Vec<_> = files
            .iter()
            .filter(|file| self.lists(file))
            .map(|file| (file.path.to_string(), url(&file.path)))
            .collect();
        if answer.is_empty() {
            return Err(ApiError::not_found(NO_MANIFEST));
        }
        json(&Ordered(answer))
    }
}

/// `GET v1/R/digest` and `GET v1/R/download_urls`: `{file: absolute URL}` of the newest recipe
/// revision; 404 `No recipe manifest found` without files.
async fn recipe_urls(
    target: Target,
    request: &HttpRequest,
    listing: Listing,
) -> Result<HttpResponse, ApiError> {
    let urls = FileUrls::new(&target, request);
    let Some((key, files)) = recipe_of(&target).await? else {
        return Err(ApiError::not_found(NO_MANIFEST));
    };
    listing.answer(&files, |path| urls.recipe(&key.revision, path))
}

/// The package counterpart of [`recipe_urls`].
async fn package_urls(
    target: Target,
    request: &HttpRequest,
    listing: Listing,
) -> Result<HttpResponse, ApiError> {
    let urls = FileUrls::new(&target, request);
    let Some((key, files)) = package_of(&target).await? else {
        return Err(ApiError::not_found(NO_MANIFEST));
    };
    listing.answer(&files, |path| {
        urls.package(&key.recipe.revision, &key.package_id, &key.revision, path)
    })
}

/// `GET v1/R/digest`.
pub(in crate::routes) async fn recipe_digest(
    target: Target,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    recipe_urls(target, &request, Listing::Digest).await
}

/// `GET v1/R/download_urls`.
pub(in crate::routes) async fn recipe_download_urls(
    target: Target,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    recipe_urls(target, &request, Listing::All).await
}

/// `GET v1/R/packages/{pkgid}/digest`.
pub(in crate::routes) async fn package_digest(
    target: Target,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    package_urls(target, &request, Listing::Digest).await
}

/// `GET v1/R/packages/{pkgid}/download_urls`.
pub(in crate::routes) async fn package_download_urls(
    target: Target,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    package_urls(target, &request, Listing::All).await
}
