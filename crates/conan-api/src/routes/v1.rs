//! The Conan v1 API (Conan 1.x clients without revisions): snapshots, digests, download and
//! upload URLs, the legacy package search and the v1 deletes. Its files live under
//! `v1/files/{name}/{version}/{user}/{channel}/{rrev}/export/{file}` and
//! `.../{rrev}/package/{pkgid}/{prev}/{file}`, served by the v2 file handlers.
//!
//! Reads serve the newest committed recipe revision, real or `0`, so a Conan 1 client can
//! install what Conan 2 uploaded. Recipe uploads land in revision `0`, which is mutable: each
//! `upload_urls` answer names a fresh upload (`?upload=<id>` on every URL), and the files of one
//! upload replace the revision's whole content together when its manifest arrives (see
//! [`conan_store::UploadId`]). Package uploads land in package revision `0` of the newest
//! recipe revision, the one the reads serve, so Conan 1 can add binaries to a recipe that
//! Conan 2 uploaded.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use conan_auth::Action;
use conan_model::{ConanInfo, FileKind, FilePath, PackageId, RecipeReference, Revision};
use conan_store::transfer::fill_md5;
use conan_store::{
    FileOwner, FileRecord, MetadataStore, PackageRevisionKey, RecipeRevisionKey, UploadId,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{INSTANCE_PREFIX, PROJECT_PREFIX};
use crate::access::{Target, blocking, read};
use crate::error::ApiError;
use crate::params::Level;
use crate::respond::{deleted, json};

/// What stays unencoded in a file name put in a URL path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// GitLab's 404 for digest and download URLs of a recipe or package without files (it says
/// "recipe" for packages too).
const NO_MANIFEST: &str = "No recipe manifest found";

/// A JSON object whose keys keep their order (file names in the order of the request or of the
/// store), without turning on `serde_json`'s `preserve_order` for the whole workspace.
#[derive(Debug, Default)]
struct Ordered(Vec<(String, String)>);

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The keys of an `upload_urls` body `{file name: size}`, in request order. Anything but a JSON
/// object is refused.
#[derive(Debug)]
struct FileNames(Vec<String>);

impl<'de> Deserialize<'de> for FileNames {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Collects the keys of an object, ignoring the values (GitLab ignores the sizes).
        struct Keys;

        impl<'de> Visitor<'de> for Keys {
            type Value = FileNames;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a JSON object of file names and sizes")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FileNames, A::Error> {
                let mut keys = Vec::new();
                while let Some((key, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                    keys.push(key);
                }
                Ok(FileNames(keys))
            }
        }

        deserializer.deserialize_map(Keys)
    }
}

/// Parses a JSON request body; anything malformed (not UTF-8, not JSON, the wrong shape) is a
/// 400.
fn parse_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|error| ApiError::bad_request(format!("invalid request body: {error}")))
}

/// Builds the absolute `v1/files` URLs of one recipe, under the prefix the request came in by.
struct FileUrls {
    /// `<origin><prefix>/v1/files/<name>/<version>/<user|_>/<channel|_>`.
    base: String,
}

impl FileUrls {
    /// The URLs for `target`: the origin is `external_url` when configured, else the request's
    /// scheme and `Host`; the project prefix names the project by its numeric id.
    fn new(target: &Target, request: &HttpRequest) -> Self {
        let origin = if let Some(url) = target.state.config.external_url.as_deref() {
            url.trim_end_matches('/').to_owned()
        } else {
            let info = request.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        };
        let prefix = match Level::of(request) {
            Level::Project(_) => PROJECT_PREFIX.replace("{id}", &target.project.id.0.to_string()),
            Level::Instance => INSTANCE_PREFIX.to_owned(),
        };
        Self {
            base: format!("{origin}{prefix}/v1/files/{}", target.recipe.url_path()),
        }
    }

    /// A file of a recipe revision.
    fn recipe(&self, revision: &Revision, file: &FilePath) -> String {
        format!("{}/{revision}/export/{}", self.base, encode(file))
    }

    /// The upload URL of a file of a recipe revision, as part of `upload`.
    fn recipe_upload(&self, revision: &Revision, file: &FilePath, upload: &UploadId) -> String {
        format!("{}?upload={upload}", self.recipe(revision, file))
    }

    /// A file of a package revision.
    fn package(
        &self,
        revision: &Revision,
        package_id: &PackageId,
        package_revision: &Revision,
        file: &FilePath,
    ) -> String {
        format!(
            "{}/{revision}/package/{package_id}/{package_revision}/{}",
            self.base,
            encode(file)
        )
    }
}

/// A file path with each segment percent-encoded.
fn encode(file: &FilePath) -> String {
    file.segments()
        .map(|segment| utf8_percent_encode(segment, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

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
pub(super) async fn recipe_snapshot(target: Target) -> Result<HttpResponse, ApiError> {
    let files = recipe_of(&target).await?.map(|(_, files)| files);
    snapshot(&target, files).await
}

/// `GET v1/R/packages/{pkgid}`: the package snapshot; `{}` when absent.
pub(super) async fn package_snapshot(target: Target) -> Result<HttpResponse, ApiError> {
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
    let answer: Vec<_> = files
        .iter()
        .filter(|file| listing.lists(file))
        .map(|file| {
            (
                file.path.to_string(),
                urls.recipe(&key.revision, &file.path),
            )
        })
        .collect();
    if answer.is_empty() {
        return Err(ApiError::not_found(NO_MANIFEST));
    }
    json(&Ordered(answer))
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
    let answer: Vec<_> = files
        .iter()
        .filter(|file| listing.lists(file))
        .map(|file| {
            let url = urls.package(
                &key.recipe.revision,
                &key.package_id,
                &key.revision,
                &file.path,
            );
            (file.path.to_string(), url)
        })
        .collect();
    if answer.is_empty() {
        return Err(ApiError::not_found(NO_MANIFEST));
    }
    json(&Ordered(answer))
}

/// `GET v1/R/digest`.
pub(super) async fn recipe_digest(
    target: Target,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    recipe_urls(target, &request, Listing::Digest).await
}

/// `GET v1/R/download_urls`.
pub(super) async fn recipe_download_urls(
    target: Target,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    recipe_urls(target, &request, Listing::All).await
}

/// `GET v1/R/packages/{pkgid}/digest`.
pub(super) async fn package_digest(
    target: Target,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    package_urls(target, &request, Listing::Digest).await
}

/// `GET v1/R/packages/{pkgid}/download_urls`.
pub(super) async fn package_download_urls(
    target: Target,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    package_urls(target, &request, Listing::All).await
}

/// The file names of an `upload_urls` body that `known` accepts, parsed, in request order.
/// Names that are not valid paths or not of a known kind are left out, as GitLab does.
fn known_files(body: &[u8], known: fn(FileKind) -> bool) -> Result<Vec<FilePath>, ApiError> {
    let FileNames(names) = parse_body(body)?;
    Ok(names
        .iter()
        .filter_map(|name| name.parse::<FilePath>().ok())
        .filter(|path| {
            let kind = path.kind();
            !matches!(kind, FileKind::Other | FileKind::Metadata) && known(kind)
        })
        .collect())
}

/// `POST v1/R/upload_urls` with `{file: size}`: `{file: absolute upload URL}` under recipe
/// revision `0`, for the known recipe files only, in request order, each naming one fresh
/// upload. Needs the upload permission (GitLab asks for read only; the URLs are for uploading).
pub(super) async fn recipe_upload_urls(
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let target = Target::authorized(&request, Action::Upload).await?;
    let files = known_files(&body, FileKind::belongs_to_recipe)?;
    let urls = FileUrls::new(&target, &request);
    let (zero, upload) = (Revision::zero(), UploadId::generate());
    json(&Ordered(
        files
            .iter()
            .map(|file| (file.to_string(), urls.recipe_upload(&zero, file, &upload)))
            .collect(),
    ))
}

/// `POST v1/R/packages/{pkgid}/upload_urls`: the same for package files, under package
/// revision `0` of the newest recipe revision (real or `0`: the one the v1 reads serve, and the
/// one a Conan 1 client compared its recipe with before skipping it); 404 `Recipe not found`
/// when the recipe has no committed revision.
pub(super) async fn package_upload_urls(
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let target = Target::authorized(&request, Action::Upload).await?;
    let files = known_files(&body, FileKind::belongs_to_package)?;
    let package_id = target.package_id()?;
    let (project, recipe) = (target.project.id, target.recipe.clone());
    let store = Arc::clone(&target.state.metadata);
    let latest = blocking(move || Ok(store.latest_recipe_revision(project, &recipe)?))
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Recipe not found: '{}': upload the recipe before its packages",
                target.recipe
            ))
        })?;
    let urls = FileUrls::new(&target, &request);
    let (zero, upload) = (Revision::zero(), UploadId::generate());
    json(&Ordered(
        files
            .iter()
            .map(|file| {
                let url = urls.package(&latest.revision, &package_id, &zero, file);
                (file.to_string(), format!("{url}?upload={upload}"))
            })
            .collect(),
    ))
}

/// One package of the legacy package search, as the Conan 1.66 reference server answers it.
#[derive(Debug, Default, Serialize)]
struct LegacyEntry {
    /// The raw `conaninfo.txt`, when one was stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    /// The `[settings]` entries.
    settings: BTreeMap<String, String>,
    /// The `[options]` entries.
    options: BTreeMap<String, String>,
    /// The `[full_requires]` lines.
    full_requires: Vec<String>,
    /// The `[recipe_hash]`, `null` for Conan 2 binaries.
    recipe_hash: Option<String>,
}

impl LegacyEntry {
    /// The entry of a package whose latest revision has `conaninfo`; a `conaninfo.txt` that does
    /// not parse is served raw with empty parsed keys.
    fn of(conaninfo: Option<String>) -> Self {
        let Some(content) = conaninfo else {
            return Self::default();
        };
        let mut entry = Self::default();
        if let Ok(info) = ConanInfo::parse(&content) {
            entry.settings = info.settings().clone();
            entry.options = info.options().clone();
            entry.full_requires = info.full_requires().to_vec();
            entry.recipe_hash = info.recipe_hash().map(str::to_owned);
        }
        entry.content = Some(content);
        entry
    }
}

/// `GET v1/R/search`: `{pkgid: {content, settings, options, full_requires, recipe_hash}}` over
/// the packages of the newest recipe revision; 404 for an unknown recipe. `q` is ignored: the
/// Conan 1.66 client never sends it and filters locally.
pub(super) async fn package_search(target: Target) -> Result<HttpResponse, ApiError> {
    let (project, recipe) = (target.project.id, target.recipe.clone());
    let packages = read(&target.state, true, move |store| {
        let latest = store
            .latest_recipe_revision(project, &recipe)?
            .ok_or_else(|| ApiError::not_found("Package Not Found"))?;
        Ok(store.packages(&RecipeRevisionKey {
            project,
            recipe,
            revision: latest.revision,
        })?)
    })
    .await?;
    let answer: BTreeMap<String, LegacyEntry> = packages
        .into_iter()
        .map(|package| {
            (
                package.package_id.to_string(),
                LegacyEntry::of(package.conaninfo),
            )
        })
        .collect();
    json(&answer)
}

/// The answer of `DELETE v1/R`: the deleted package, in the spirit of GitLab's package JSON.
#[derive(Debug, Serialize)]
struct DeletedRecipe {
    project_id: i64,
    package_type: &'static str,
    name: String,
    version: String,
    conan_user: Option<String>,
    conan_channel: Option<String>,
    reference: String,
}

/// `DELETE v1/R`: the whole recipe, every revision and package; 200 with the deleted recipe,
/// 404 `Package Not Found` when there is none (GitLab answers 500).
pub(super) async fn delete_recipe(target: Target) -> Result<HttpResponse, ApiError> {
    let store = Arc::clone(&target.state.metadata);
    let (project, recipe) = (target.project.id, target.recipe.clone());
    if !blocking(move || Ok(store.delete_recipe(project, &recipe)?)).await? {
        return Err(ApiError::not_found("Package Not Found"));
    }
    let recipe = &target.recipe;
    json(&DeletedRecipe {
        project_id: target.project.id.0,
        package_type: "conan",
        name: recipe.name().to_string(),
        version: recipe.version().to_string(),
        conan_user: recipe.user().map(ToString::to_string),
        conan_channel: recipe.channel().map(ToString::to_string),
        reference: recipe.to_string(),
    })
}

/// The body of `POST v1/R/packages/delete`.
#[derive(Debug, Deserialize)]
struct PackageIds {
    /// The packages to delete; empty means every package.
    package_ids: Vec<String>,
}

/// `POST v1/R/packages/delete` with `{"package_ids": [...]}`: deletes those packages (every
/// revision) of the newest recipe revision, or all of them for an empty list; 200 (also when
/// some ids had nothing to delete), 404 for an unknown recipe. Needs the delete permission.
pub(super) async fn delete_packages(
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let target = Target::authorized(&request, Action::Delete).await?;
    let PackageIds { package_ids } = parse_body(&body)?;
    let package_ids = package_ids
        .iter()
        .map(|id| id.parse::<PackageId>().map_err(ApiError::invalid))
        .collect::<Result<Vec<_>, _>>()?;
    let store = Arc::clone(&target.state.metadata);
    let (project, recipe) = (target.project.id, target.recipe.clone());
    blocking(move || {
        let latest = store
            .latest_recipe_revision(project, &recipe)?
            .ok_or_else(|| ApiError::not_found("Package Not Found"))?;
        let key = RecipeRevisionKey {
            project,
            recipe,
            revision: latest.revision,
        };
        if package_ids.is_empty() {
            store.delete_packages(&key)?;
        } else {
            for package_id in &package_ids {
                store.delete_package(&key, package_id)?;
            }
        }
        Ok(())
    })
    .await?;
    Ok(deleted())
}

/// The body of `POST v1/R/remove_files`.
#[derive(Debug, Deserialize)]
struct FileList {
    /// The files to remove from the newest recipe revision.
    files: Vec<String>,
}

/// `POST v1/R/remove_files` with `{"files": [...]}`: removes those files from recipe revision
/// `0`, the one Conan 1 uploads to (every other revision is immutable), and answers 200; files it
/// does not hold are ignored. The client sends it right after an upload, for the files its new
/// upload no longer has, which that upload's manifest already removed, so it is normally a
/// no-op. Part of uploading, so it needs the upload permission. An invalid path, or the
/// manifest (a revision without one would be invisible), is a 400 and removes nothing.
pub(super) async fn remove_files(
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let target = Target::authorized(&request, Action::Upload).await?;
    let FileList { files } = parse_body(&body)?;
    let paths = files
        .iter()
        .map(|name| {
            let path = name.parse::<FilePath>().map_err(ApiError::invalid)?;
            if path.commits_revision() {
                return Err(ApiError::bad_request(format!(
                    "{path} cannot be removed: a revision without a manifest is not on the server"
                )));
            }
            Ok(path)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !paths.is_empty() {
        let store = Arc::clone(&target.state.metadata);
        let (project, recipe) = (target.project.id, target.recipe.clone());
        blocking(move || Ok(store.remove_revision_zero_files(project, &recipe, &paths)?)).await?;
    }
    Ok(deleted())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_bodies() {
        let names = |body: &[u8]| {
            known_files(body, FileKind::belongs_to_recipe)
                .map(|files| files.iter().map(ToString::to_string).collect::<Vec<_>>())
        };
        assert_eq!(
            names(
                br#"{"conanmanifest.txt": 1, "x.txt": 2, "conanfile.py": 3, "conaninfo.txt": 4}"#
            )
            .unwrap(),
            ["conanmanifest.txt", "conanfile.py"]
        );
        assert!(names(b"[]").is_err());
        assert!(names(b"garbage").is_err());
        assert!(names(b"\xff\xfe").is_err());
        assert!(names(b"\"text\"").is_err());
    }

    #[test]
    fn file_names_are_encoded() {
        let path: FilePath = "a b.txt".parse().unwrap();
        assert_eq!(encode(&path), "a%20b.txt");
    }
}
