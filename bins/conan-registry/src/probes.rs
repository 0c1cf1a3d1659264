//! The operator's endpoints beside the Conan API: `/-/health`, `/-/ready` and `/metrics`, and
//! the blob-store wrapper that counts backend errors for the metrics.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use bytes::Bytes;
use conan_store::blob::{BlobError, BlobInfo, BlobReader, BlobStore, Sha256Hex, StagedBlob};
use conan_store::db::DieselStore;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use serde_json::json;

use crate::telemetry::Metrics;

/// How long the readiness probe waits for the blob store.
const BLOB_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// What the readiness probe checks.
#[derive(Clone, Debug)]
pub(crate) struct Probes {
    /// The metadata database.
    pub(crate) database: Arc<DieselStore>,
    /// The blob store.
    pub(crate) blobs: Arc<dyn BlobStore>,
}

/// Registers the operator's endpoints; the caller registers [`Probes`] and [`Metrics`] as app data.
pub(crate) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/-/health", web::get().to(health))
        .route("/-/ready", web::get().to(ready))
        .route("/metrics", web::get().to(metrics));
}

/// `GET /-/health`: the process is alive and serving.
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /-/ready`: 200 when the database and the blob store both answer, else 503 naming the
/// part that does not (the cause is logged), so a load balancer stops sending requests to this
/// node.
async fn ready(probes: web::Data<Probes>) -> HttpResponse {
    let database = Arc::clone(&probes.database);
    let database = match web::block(move || database.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(format!("{error:#}")),
        Err(error) => Err(format!("the check did not finish: {error}")),
    };
    let blobs = match tokio::time::timeout(BLOB_CHECK_TIMEOUT, probes.blobs.check()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(crate::one_line(&error)),
        Err(_) => Err(format!(
            "no answer within {} seconds",
            BLOB_CHECK_TIMEOUT.as_secs()
        )),
    };
    // The cause goes to the log only: the probe is unauthenticated, and error texts name hosts.
    let describe = |name: &str, part: &Result<(), String>| match part {
        Ok(()) => "ok",
        Err(message) => {
            tracing::warn!(part = name, error = %message, "not ready");
            "unavailable"
        }
    };
    let body = json!({
        "status": if database.is_ok() && blobs.is_ok() { "ready" } else { "unavailable" },
        "database": describe("database", &database),
        "blobs": describe("blobs", &blobs),
    });
    if database.is_ok() && blobs.is_ok() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// `GET /metrics`: every metric in the Prometheus text format.
async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    match metrics.render() {
        Ok(text) => HttpResponse::Ok()
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            ))
            .body(text),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

/// A blob store that counts the failures that are the backend's fault (not a client's: a body
/// cut short, a file too large, a missing blob or an unsatisfiable range).
#[derive(Debug)]
pub(crate) struct MeteredBlobStore {
    inner: Arc<dyn BlobStore>,
    metrics: Arc<Metrics>,
}

impl MeteredBlobStore {
    /// Wraps `inner`.
    pub(crate) fn new(inner: Arc<dyn BlobStore>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    /// Counts `result` under `operation` when it is a backend failure, and passes it on.
    fn count<T>(
        &self,
        operation: &'static str,
        result: Result<T, BlobError>,
    ) -> Result<T, BlobError> {
        if let Err(error) = &result
            && is_backend_failure(error)
        {
            self.metrics.blob_error(operation);
        }
        result
    }
}

/// Whether an error is the backend's fault rather than the client's.
fn is_backend_failure(error: &BlobError) -> bool {
    !matches!(
        error,
        BlobError::TooLarge { .. }
            | BlobError::Body { .. }
            | BlobError::NotFound { .. }
            | BlobError::RangeNotSatisfiable { .. }
    )
}

#[async_trait::async_trait]
impl BlobStore for MeteredBlobStore {
    async fn stage(
        &self,
        body: BoxStream<'static, Result<Bytes, std::io::Error>>,
        max_size: u64,
    ) -> Result<StagedBlob, BlobError> {
        self.count("stage", self.inner.stage(body, max_size).await)
    }

    async fn publish(&self, staged: &StagedBlob) -> Result<(), BlobError> {
        self.count("publish", self.inner.publish(staged).await)
    }

    async fn discard(&self, staged: StagedBlob) -> Result<(), BlobError> {
        self.count("discard", self.inner.discard(staged).await)
    }

    async fn contains(&self, sha256: &Sha256Hex) -> Result<bool, BlobError> {
        self.count("contains", self.inner.contains(sha256).await)
    }

    fn local_path(&self, sha256: &Sha256Hex) -> Option<String> {
        self.inner.local_path(sha256)
    }

    async fn open(
        &self,
        sha256: &Sha256Hex,
        range: Option<Range<u64>>,
    ) -> Result<BlobReader, BlobError> {
        self.count("open", self.inner.open(sha256, range).await)
    }

    async fn delete(&self, sha256: &Sha256Hex) -> Result<(), BlobError> {
        self.count("delete", self.inner.delete(sha256).await)
    }

    fn list(&self) -> BoxStream<'static, Result<BlobInfo, BlobError>> {
        let metrics = Arc::clone(&self.metrics);
        self.inner
            .list()
            .inspect(move |item| {
                if let Err(error) = item
                    && is_backend_failure(error)
                {
                    metrics.blob_error("list");
                }
            })
            .boxed()
    }

    async fn purge_staging(&self, age: Duration) -> Result<usize, BlobError> {
        self.count("purge_staging", self.inner.purge_staging(age).await)
    }

    async fn download_url(
        &self,
        sha256: &Sha256Hex,
        expires_in: Duration,
    ) -> Result<Option<String>, BlobError> {
        self.count(
            "download_url",
            self.inner.download_url(sha256, expires_in).await,
        )
    }

    async fn check(&self) -> Result<(), BlobError> {
        self.count("check", self.inner.check().await)
    }
}
