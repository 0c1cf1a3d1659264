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
//!
//! One module per job: [`downloads`] (snapshots, digests and download URLs), [`uploads`]
//! (upload URLs and `remove_files`), [`search`] (the legacy package search) and [`deletes`].
//! The URL building and JSON helpers they share live here.

pub(super) mod deletes;
pub(super) mod downloads;
pub(super) mod search;
pub(super) mod uploads;

use actix_web::HttpRequest;
use conan_model::{FilePath, PackageId, Revision};
use conan_store::UploadId;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::{INSTANCE_PREFIX, PROJECT_PREFIX};
use crate::access::Target;
use crate::error::ApiError;
use crate::params::Level;

/// What stays unencoded in a file name put in a URL path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

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

/// `url` as the upload URL of a file that is part of `upload`.
fn for_upload(url: &str, upload: &UploadId) -> String {
    format!("{url}?upload={upload}")
}

/// A file path with each segment percent-encoded.
fn encode(file: &FilePath) -> String {
    file.segments()
        .map(|segment| utf8_percent_encode(segment, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_encoded() {
        let path: FilePath = "a b.txt".parse().unwrap();
        assert_eq!(encode(&path), "a%20b.txt");
    }
}
