//! Conan v1 uploads: the upload URLs of recipe and package files (each answer naming one fresh
//! upload into revision `0`) and `remove_files`, which the client sends after an upload.

use std::fmt;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use conan_auth::Action;
use conan_model::{FileKind, FilePath, Revision};
use conan_store::UploadId;
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

use super::{FileUrls, Ordered, for_upload, parse_body};
use crate::access::{Target, blocking};
use crate::error::ApiError;
use crate::respond::{deleted, json};

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
pub(in crate::routes) async fn recipe_upload_urls(
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
            .map(|file| {
                (
                    file.to_string(),
                    for_upload(&urls.recipe(&zero, file), &upload),
                )
            })
            .collect(),
    ))
}

/// `POST v1/R/packages/{pkgid}/upload_urls`: the same for package files, under package
/// revision `0` of the newest recipe revision (real or `0`: the one the v1 reads serve, and the
/// one a Conan 1 client compared its recipe with before skipping it); 404 `Recipe not found`
/// when the recipe has no committed revision.
pub(in crate::routes) async fn package_upload_urls(
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
                (file.to_string(), for_upload(&url, &upload))
            })
            .collect(),
    ))
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
pub(in crate::routes) async fn remove_files(
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
}
