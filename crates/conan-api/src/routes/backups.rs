//! Conan's source backups (`core.sources:download_urls` and `core.sources:upload_url`) at
//! `{PROJECT_PREFIX}/backups/{file}`, where `file` is `<sha256>` (the source file) or
//! `<sha256>.json` (its summary). What the Conan 2 client does, from its code
//! (`caching_file_downloader.py`, `UploadAPI.upload_backup_sources`):
//!
//! - a download GETs `<url><sha256>` and then `<url><sha256>.json`; a 404 on either is "not in
//!   this backup" and the client tries its next origin, a 401 or 403 stops it;
//! - an upload PUTs the summary first (always: it changes as more references use the file),
//!   then HEADs the file and PUTs it only when that is not a 2xx;
//! - credentials come from `source_credentials.json`: a `token` as `Authorization: Bearer`,
//!   `user` and `password` as Basic, so personal access tokens, deploy tokens (Basic with their
//!   user name) and passwords all work, with the same decisions as package routes: read to
//!   download (anonymous on public projects), upload to store, delete (maintainers) to remove.

use std::sync::Arc;

use actix_web::body::SizedStream;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::BytesMut;
use conan_auth::Action;
use conan_model::RevisionTime;
use conan_store::backups::{
    self, BackupFile, BackupPart, MAX_SUMMARY_BYTES, SourceBackup, store_backup_file,
};
use conan_store::blob::Sha256Hex;
use conan_store::{Project, ProjectId};
use futures::StreamExt;
use serde::Serialize;

use super::files::{checksum_sha1, refuse_announced_oversize};
use crate::access::{self, blocking, grant, require_length, require_utf8_path};
use crate::error::ApiError;
use crate::respond::{deleted, json_with};
use crate::state::AppState;
use crate::streaming::{self, forward_body};

/// The route of a backup file under the project prefix.
pub(super) const ROUTE: &str = "/backups/{file}";

/// GitLab-style message for a backup file the project does not have.
const MISSING: &str = "Backup file Not Found";

/// The backup file the route names, parsed: a 400 naming it, whoever asks.
fn backup_file(request: &HttpRequest) -> Result<BackupFile, ApiError> {
    require_utf8_path(request)?;
    let name = request.match_info().get("file").unwrap_or_default();
    name.parse().map_err(ApiError::invalid)
}

/// Parses the name, then authenticates and authorizes the caller for `action` in the project.
async fn authorized(
    request: &HttpRequest,
    action: Action,
) -> Result<(web::Data<AppState>, Project, BackupFile), ApiError> {
    let file = backup_file(request)?;
    let state = access::state(request)?;
    let project = grant(&state, request, None, action).await?;
    Ok((state, project, file))
}

/// The project's backup of `sha256`, if any.
async fn find(
    state: &AppState,
    project: ProjectId,
    sha256: Sha256Hex,
) -> Result<Option<SourceBackup>, ApiError> {
    let store = Arc::clone(&state.metadata);
    blocking(move || Ok(store.backup(project, &sha256)?)).await
}

/// `GET` and `HEAD .../backups/{file}`: the source file (streamed, with `Range` support) or
/// its summary (`application/json`); 404 when the project has not got that part.
pub(super) async fn download(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let (state, project, file) = authorized(&request, Action::Read).await?;
    let backup = find(&state, project.id, file.sha256.clone())
        .await?
        .ok_or_else(|| ApiError::not_found(MISSING))?;
    let head = request.method() == Method::HEAD;
    match file.part {
        BackupPart::Content => {
            let size = backup.size.ok_or_else(|| ApiError::not_found(MISSING))?;
            if head {
                return Ok(described("application/octet-stream", size));
            }
            record_use(&state, &backup);
            let range = request
                .headers()
                .get(header::RANGE)
                .and_then(|value| value.to_str().ok());
            let offload = streaming::Offload::of(&state.config);
            streaming::download(state.blobs.as_ref(), &file.sha256, size, range, offload).await
        }
        BackupPart::Summary => {
            let summary = backup.summary.ok_or_else(|| ApiError::not_found(MISSING))?;
            if head {
                return Ok(described("application/json", summary.len() as u64));
            }
            Ok(HttpResponse::Ok()
                .insert_header((
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ))
                .body(summary))
        }
    }
}

/// Records that `backup` was used now (its source file is being downloaded) when the last
/// record is older than [`backups::USE_RECORD_INTERVAL_SECS`], in the background: cleanup
/// policies expire unused backups by it, and a failure costs the download nothing (the next
/// download records it).
fn record_use(state: &AppState, backup: &SourceBackup) {
    let Ok(now) = RevisionTime::from_system_time(std::time::SystemTime::now()) else {
        return;
    };
    if !backup.use_is_stale(now) {
        return;
    }
    let store = Arc::clone(&state.metadata);
    let (project, sha256) = (backup.project, backup.sha256.clone());
    tokio::task::spawn_blocking(move || {
        if let Err(error) = store.record_backup_use(project, &sha256, now) {
            tracing::warn!(%error, %sha256, "could not record the use of a source backup");
        }
    });
}

/// A `HEAD` answer: the type and length a `GET` would have, and no body.
fn described(content_type: &'static str, size: u64) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .insert_header((header::ACCEPT_RANGES, HeaderValue::from_static("bytes")))
        .body(SizedStream::new(
            size,
            futures::stream::empty::<Result<bytes::Bytes, ApiError>>(),
        ))
}

/// The answer to a stored backup file.
#[derive(Debug, Serialize)]
struct StoredBackup {
    project_id: i64,
    file_name: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_sha1: Option<String>,
    file_sha256: Sha256Hex,
}

/// `PUT .../backups/{file}`: stores the source file (its body must hash to the sha256 of its
/// name) or replaces its summary (JSON of at most 64 KiB); either must match `X-Checksum-Sha1`
/// when sent.
/// 201 when the project did not have it, 200 when it did (the file is then unchanged: same
/// name, same bytes). Anything refused is a 400 and stores nothing.
pub(super) async fn upload(
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (state, project, file) = authorized(&request, Action::Upload).await?;
    require_length(&request)?;
    let headers = request.headers();
    let sha1 = checksum_sha1(headers)?;
    let (created, size, sha1) = match file.part {
        BackupPart::Content => {
            let limit = state.config.max_upload_size;
            refuse_announced_oversize(headers, limit)?;
            let (metadata, blobs) = (Arc::clone(&state.metadata), Arc::clone(&state.blobs));
            let sha256 = file.sha256.clone();
            let (digests, created) = forward_body(payload, |body| {
                store_backup_file(
                    metadata,
                    blobs,
                    project.id,
                    sha256,
                    body,
                    limit,
                    sha1.as_deref(),
                )
            })
            .await?;
            (created, digests.size, Some(digests.sha1))
        }
        BackupPart::Summary => {
            refuse_announced_oversize(headers, MAX_SUMMARY_BYTES)?;
            let summary = backups::parse_summary(&bounded_body(payload).await?, sha1.as_deref())?;
            let size = summary.len() as u64;
            let store = Arc::clone(&state.metadata);
            let sha256 = file.sha256.clone();
            let created =
                blocking(move || Ok(store.record_backup_summary(project.id, &sha256, &summary)?))
                    .await?;
            (created, size, None)
        }
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json_with(
        status,
        &StoredBackup {
            project_id: project.id.0,
            file_name: file.to_string(),
            size,
            file_sha1: sha1,
            file_sha256: file.sha256,
        },
    )
}

/// Reads a summary body, refusing it as soon as it grows past [`MAX_SUMMARY_BYTES`] (it may
/// come chunked, without a length to refuse it by up front).
async fn bounded_body(mut payload: web::Payload) -> Result<BytesMut, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|error| ApiError::bad_request(format!("the request body failed: {error}")))?;
        if (body.len() + chunk.len()) as u64 > MAX_SUMMARY_BYTES {
            return Err(ApiError::bad_request(format!(
                "invalid backup summary: over the limit of {MAX_SUMMARY_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `DELETE .../backups/<sha256>`: removes the project's backup of the file, summary included
/// (maintainers, as package deletes); its blob goes with the next garbage collection unless
/// something else references it. The summary alone cannot be deleted: it describes the file.
pub(super) async fn delete(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let (state, project, file) = authorized(&request, Action::Delete).await?;
    if file.part == BackupPart::Summary {
        return Err(ApiError::bad_request(
            "a backup's summary is deleted with its file: DELETE the file's name, without .json",
        ));
    }
    let store = Arc::clone(&state.metadata);
    let deleted_any = blocking(move || Ok(store.delete_backup(project.id, &file.sha256)?)).await?;
    if deleted_any {
        Ok(deleted())
    } else {
        Err(ApiError::not_found(MISSING))
    }
}
