//! The files of a recipe or package revision: list, download, upload and the checksum-deploy
//! probe. The same handlers serve both, told apart by whether the route has `{prev}`.

use std::sync::Arc;
use std::time::SystemTime;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use conan_model::RevisionTime;
use conan_remote::Tapped;
use conan_store::blob::Sha256Hex;
use conan_store::transfer::{self, Destination, StoredFile};
use conan_store::{FileOwner, FileRecord, UploadId};
use serde::{Deserialize, Serialize};

use crate::access::{ReadTarget, Target, blocking};
use crate::error::ApiError;
use crate::params;
use crate::respond::{json, json_with};
use crate::streaming::{self, forward_body};

/// The header carrying the sha1 the client computed for the body it sends.
const CHECKSUM_SHA1: &str = "X-Checksum-Sha1";
/// The header that turns an empty PUT into a checksum-deploy probe.
const CHECKSUM_DEPLOY: &str = "X-Checksum-Deploy";

/// What the missing things of a route are called in GitLab's messages.
fn names(owner: &FileOwner) -> (&'static str, &'static str) {
    match owner {
        FileOwner::Recipe(_) => ("Recipe files Not Found", "Recipe file Not Found"),
        FileOwner::Package(_) => ("Package files Not Found", "Package file Not Found"),
    }
}

/// The answer of a file list: the paths, each with an empty object reserved for metadata.
#[derive(Debug, Serialize)]
struct FileList {
    files: serde_json::Map<String, serde_json::Value>,
}

/// `GET .../files`: the files of a committed revision; 404 when it does not exist or has no
/// `conanmanifest.txt` yet. At a remote project, a revision not yet held is listed from the
/// upstream as soon as its fetch has the list (the fetch goes on while the client asks for the
/// files).
pub(super) async fn list(target: ReadTarget) -> Result<HttpResponse, ApiError> {
    let ((paths, missing), _) = target
        .read_files(
            |store, target| {
                let owner = target.owner()?;
                let paths = store.files(&owner)?.map(|files| {
                    files
                        .into_iter()
                        .map(|file| file.path.to_string())
                        .collect::<Vec<_>>()
                });
                Ok((paths, names(&owner).0))
            },
            |node, owner, _| async move {
                let listed = node.listing(&owner).await?;
                Ok(listed.map(|paths| {
                    let paths = paths.iter().map(ToString::to_string).collect();
                    (Some(paths), names(&owner).0)
                }))
            },
        )
        .await?;
    let paths = paths.ok_or_else(|| ApiError::not_found(missing))?;
    json(&FileList {
        files: paths
            .into_iter()
            .map(|path| (path, serde_json::Value::Object(serde_json::Map::new())))
            .collect(),
    })
}

/// Where a download's bytes come from.
enum Found {
    /// The store's record of the file (`None`: no such file).
    Stored(Option<FileRecord>),
    /// A remote project's revision being fetched.
    Live(Tapped),
}

/// `GET .../files/{path}`: the file's bytes, streamed, with `Range` support. At a remote project,
/// a file of a revision not yet held streams to the client as it arrives from the upstream
/// while it is stored (a `Range` request waits until the revision is held).
pub(super) async fn download(
    target: ReadTarget,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ranged = request.headers().contains_key(header::RANGE);
    let ((found, missing), target) = target
        .read_files(
            |store, target| {
                let owner = target.owner()?;
                let record = store.file(&owner, &target.path()?)?;
                Ok((Found::Stored(record), names(&owner).1))
            },
            move |node, owner, path| async move {
                let path = path.ok_or_else(|| ApiError::bug("route has no {path}"))?;
                if ranged {
                    node.ensure(&owner).await?;
                    return Ok(None);
                }
                let tapped = node.tap(&owner, &path).await?;
                Ok(tapped.map(|tapped| (Found::Live(tapped), names(&owner).1)))
            },
        )
        .await?;
    target.state.downloads.note(&target.owner()?);
    let range = request
        .headers()
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok());
    let (sha256, size) = match found {
        Found::Stored(record) => {
            let record = record.ok_or_else(|| ApiError::not_found(missing))?;
            (record.digests.sha256, record.digests.size)
        }
        Found::Live(Tapped::Stored(digests)) => (digests.sha256, digests.size),
        Found::Live(Tapped::Bytes(bytes)) => return Ok(streaming::octets(bytes)),
        Found::Live(Tapped::Live { size, body }) => return Ok(streaming::live(size, body)),
    };
    let offload = streaming::Offload::of(&target.state.config);
    streaming::download(target.state.blobs.as_ref(), &sha256, size, range, offload).await
}

/// The answer to an upload, in the spirit of GitLab's package-file row.
#[derive(Debug, Serialize)]
struct UploadedFile {
    project_id: i64,
    file_name: String,
    size: u64,
    /// `null` until a Conan 1 snapshot first needs it: uploads compute sha1 and sha256 only.
    file_md5: Option<String>,
    file_sha1: String,
    file_sha256: Sha256Hex,
    created_at: String,
    updated_at: String,
    status: &'static str,
    recipe_revision: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    conan_package_reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    package_revision: Option<String>,
}

/// `PUT .../files/{path}`: stores the raw body (200), or answers a checksum-deploy probe by
/// linking content the server already has (201, or 404 so the client uploads).
///
/// - `X-Checksum-Sha1` is verified: a mismatch is a 400 and nothing is stored.
/// - A `Content-Length` over the limit is a 400 before the body is read; a body that grows past
///   the limit without announcing it is a 400 too, and nothing is kept.
/// - A package file needs its recipe revision committed (404 otherwise); different content for
///   an immutable file of a committed revision is a 409.
/// - `X-Checksum-Deploy: true` makes the request a probe whatever its body: the body is never
///   read, so an empty probe can never store an empty file.
pub(super) async fn upload(
    target: Target,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let destination = Destination {
        owner: target.owner()?,
        path: target.path()?,
        upload: upload_id(&request)?,
        revision_time: None,
    };
    let headers = request.headers();
    let sha1 = checksum_sha1(headers)?;
    let metadata = Arc::clone(&target.state.metadata);
    let blobs = Arc::clone(&target.state.blobs);
    let (status, stored) = if is_deploy_probe(headers) {
        let sha1 = sha1.ok_or_else(no_checksum_storage)?;
        let linked = transfer::link_by_sha1(metadata, blobs, destination.clone(), &sha1).await?;
        (StatusCode::CREATED, linked.ok_or_else(no_checksum_storage)?)
    } else {
        let limit = target.state.config.max_upload_size;
        refuse_announced_oversize(headers, limit)?;
        let into = destination.clone();
        let stored = forward_body(payload, |body| {
            transfer::store_file(metadata, blobs, into, body, limit, sha1.as_deref())
        })
        .await?;
        (StatusCode::OK, stored)
    };
    let Destination { owner, path, .. } = destination;
    json_with(status, &uploaded(&target, owner, path, stored).await?)
}

/// The query of a file PUT.
#[derive(Debug, Deserialize)]
struct UploadQuery {
    /// The Conan 1 upload the file is part of, from the URLs `upload_urls` hands out.
    upload: Option<String>,
}

/// The `upload` query parameter of a file PUT, parsed; a malformed one is a 400 naming it.
fn upload_id(request: &HttpRequest) -> Result<Option<UploadId>, ApiError> {
    let query: UploadQuery = params::query(request)?;
    query
        .upload
        .map(|text| {
            UploadId::parse(&text).map_err(|error| {
                ApiError::bad_request(format!("invalid upload parameter: {error}"))
            })
        })
        .transpose()
}

/// GitLab's message for a probe whose content the server does not have.
fn no_checksum_storage() -> ApiError {
    ApiError::not_found("Non checksum storage Not Found")
}

/// Whether the request is a checksum-deploy probe.
fn is_deploy_probe(headers: &HeaderMap) -> bool {
    headers
        .get(CHECKSUM_DEPLOY)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"))
}

/// The announced sha1, if any: 40 hex digits, else a 400 naming the header.
pub(super) fn checksum_sha1(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(CHECKSUM_SHA1) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text.len() == 40 && text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        Ok(Some(text.to_ascii_lowercase()))
    } else {
        Err(ApiError::bad_request(format!(
            "invalid {CHECKSUM_SHA1} header {:?}: expected 40 hex digits",
            value.to_str().unwrap_or("<not text>")
        )))
    }
}

/// Refuses a body whose announced length is over `limit` before reading it: a 400, as GitLab
/// answers an oversized file.
pub(super) fn refuse_announced_oversize(headers: &HeaderMap, limit: u64) -> Result<(), ApiError> {
    match content_length(headers) {
        Some(length) if length > limit => Err(ApiError::bad_request(format!(
            "file too large: {length} bytes is over the limit of {limit} bytes"
        ))),
        _ => Ok(()),
    }
}

/// The announced body length, if the header is there and readable.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Describes a stored file. Its times and checksums come from the store when the revision is
/// visible (so a re-upload shows when the file first arrived, and the bytes kept when a
/// committed revision kept its first archive or manifest); a file of a revision that is not
/// committed yet is not visible, and it was stored just now.
async fn uploaded(
    target: &Target,
    owner: FileOwner,
    path: conan_model::FilePath,
    stored: StoredFile,
) -> Result<UploadedFile, ApiError> {
    let store = Arc::clone(&target.state.metadata);
    let (lookup_owner, lookup_path) = (owner.clone(), path.clone());
    let record = blocking(move || Ok(store.file(&lookup_owner, &lookup_path)?)).await?;
    let (created_at, updated_at, digests) = if let Some(record) = record {
        (record.created_at, record.updated_at, record.digests)
    } else {
        let now = RevisionTime::from_system_time(SystemTime::now())
            .map_err(|error| ApiError::internal("the clock is out of range", error))?;
        (now, now, stored.digests)
    };
    let (recipe_revision, package) = match &owner {
        FileOwner::Recipe(key) => (key.revision.to_string(), None),
        FileOwner::Package(key) => (
            key.recipe.revision.to_string(),
            Some((key.package_id.to_string(), key.revision.to_string())),
        ),
    };
    let (conan_package_reference, package_revision) = package.unzip();
    Ok(UploadedFile {
        project_id: target.project.id.0,
        file_name: path.to_string(),
        size: digests.size,
        file_md5: digests.md5,
        file_sha1: digests.sha1,
        file_sha256: digests.sha256,
        created_at: created_at.to_string(),
        updated_at: updated_at.to_string(),
        status: "default",
        recipe_revision,
        conan_package_reference,
        package_revision,
    })
}
