//! Observability: the log subscriber, request ids, one access-log line per request, and the
//! Prometheus metrics the `/metrics` endpoint renders.
//!
//! The access line is written when the response body is finished or dropped, so its duration
//! and byte counts cover the whole transfer of a download, and a client that disconnected
//! mid-download shows up as `complete=false`. Header values are never logged, so neither are
//! credentials; URL paths and methods carry no secrets in the Conan API.

use std::cell::Cell;
use std::io::IsTerminal as _;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage as _, web};
use bytes::Bytes;
use conan_store::StoreError;
use conan_store::catalog::ProjectStats;
use conan_store::cleanup::{CleanupRun, CleanupTotals, RemovedItem, RemovedKind, RunObserver};
use futures::StreamExt as _;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;

use crate::log_writer::{self, LogWriterGuard};
use crate::settings::{LogFormat, LogSettings};

/// The header that carries the request id, taken from the client or a proxy when it is sane.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Installs the global log subscriber: standard error, human or JSON lines, filtered by
/// `RUST_LOG` when set and by `log.level` otherwise. With `log.buffered`, the lines go through
/// a writer thread; the returned guard writes out what is queued when it is dropped, so it must
/// live until the server has stopped.
pub(crate) fn init_logging(settings: &LogSettings) -> anyhow::Result<Option<LogWriterGuard>> {
    let directives = std::env::var("RUST_LOG")
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| settings.level.clone());
    let filter = EnvFilter::try_new(&directives)
        .map_err(|error| anyhow::anyhow!("invalid log filter {directives:?}: {error}"))?;
    let ansi = std::io::stderr().is_terminal();
    if !settings.buffered {
        install(filter, settings.format, ansi, std::io::stderr)?;
        return Ok(None);
    }
    let (writer, guard) = log_writer::batched(std::io::stderr())
        .map_err(|error| anyhow::anyhow!("cannot start the log writer thread: {error}"))?;
    install(filter, settings.format, ansi, writer)?;
    Ok(Some(guard))
}

/// Installs the subscriber writing to `writer`.
fn install<W>(filter: EnvFilter, format: LogFormat, ansi: bool, writer: W) -> anyhow::Result<()>
where
    W: for<'writer> tracing_subscriber::fmt::MakeWriter<'writer> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    let installed = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    installed.map_err(|error| anyhow::anyhow!("cannot install the logger: {error}"))
}

/// The labels of the request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

/// The labels of the latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// The labels of the blob-store error counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OperationLabels {
    operation: &'static str,
}

/// The latency buckets: 0.5 ms to about a minute.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.5, 14))
}

/// Reads the database pool's connections in use and idle when metrics are scraped.
pub(crate) type PoolProbe = Box<dyn Fn() -> (u32, u32) + Send + Sync>;

/// Every metric the registry exports, registered once and shared by all workers.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    uploaded: Counter,
    downloaded: Counter,
    pool_connections: Gauge,
    pool_idle: Gauge,
    blob_errors: Family<OperationLabels, Counter>,
    projects: ProjectGauges,
    cleanup: CleanupCounters,
    pool_probe: PoolProbe,
    remote: RemoteGauges,
    remotes: std::sync::OnceLock<Arc<conan_api::RemoteProjects>>,
}

/// Remote projects' counters (conan-api's [`RemoteCounters`](conan_api::RemoteCounters)) by
/// project id, copied at each scrape; monotonic since this node started.
struct RemoteGauges {
    upstream_requests: Family<ProjectLabels, Gauge>,
    upstream_errors: Family<ProjectLabels, Gauge>,
    cache_hits: Family<ProjectLabels, Gauge>,
    cache_misses: Family<ProjectLabels, Gauge>,
    stale_answers: Family<ProjectLabels, Gauge>,
    fetched_bytes: Family<ProjectLabels, Gauge>,
}

impl RemoteGauges {
    fn register(registry: &mut Registry) -> Self {
        let mut family = |name: &str, help: &str| project_family(registry, name, help);
        Self {
            upstream_requests: family(
                "remote_upstream_requests",
                "Requests a remote project made to its upstream since this node started, by project id",
            ),
            upstream_errors: family(
                "remote_upstream_errors",
                "Upstream requests that failed or answers served stale, by project id",
            ),
            cache_hits: family(
                "remote_cache_hits",
                "Remote project reads answered without the upstream, by project id",
            ),
            cache_misses: family(
                "remote_cache_misses",
                "Remote project reads that asked the upstream, by project id",
            ),
            stale_answers: family(
                "remote_stale_answers",
                "Revision lists served stale because the upstream was unavailable, by project id",
            ),
            fetched_bytes: family(
                "remote_fetched_bytes",
                "Bytes of the files fetched from the upstream and stored, by project id",
            ),
        }
    }

    fn copy(&self, remotes: &conan_api::RemoteProjects) {
        let read = |counter: &std::sync::atomic::AtomicU64| {
            i64::try_from(counter.load(std::sync::atomic::Ordering::Relaxed)).unwrap_or(i64::MAX)
        };
        for (project, counters) in remotes.counters() {
            let labels = ProjectLabels {
                project: project.to_string(),
            };
            let pairs = [
                (&self.upstream_requests, &counters.upstream_requests),
                (&self.upstream_errors, &counters.upstream_errors),
                (&self.cache_hits, &counters.cache_hits),
                (&self.cache_misses, &counters.cache_misses),
                (&self.stale_answers, &counters.stale_answers),
                (&self.fetched_bytes, &*counters.fetched_bytes),
            ];
            for (family, counter) in pairs {
                family.get_or_create(&labels).set(read(counter));
            }
        }
    }
}

/// The label of the cleanup runs counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// What cleanup runs did on this node (no project label: runs are in the API and the log).
struct CleanupCounters {
    runs: Family<ResultLabels, Counter>,
    recipe_revisions: Counter,
    package_revisions: Counter,
    source_backups: Counter,
    bytes: Counter,
    stored_bytes: Counter,
}

impl CleanupCounters {
    fn register(registry: &mut Registry) -> Self {
        let runs = Family::<ResultLabels, Counter>::default();
        registry.register(
            "cleanup_runs",
            "Cleanup runs that ended on this node, by result (finished or failed)",
            runs.clone(),
        );
        let mut counter = |name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        Self {
            runs,
            recipe_revisions: counter(
                "cleanup_removed_recipe_revisions",
                "Recipe revisions cleanup runs removed on this node",
            ),
            package_revisions: counter(
                "cleanup_removed_package_revisions",
                "Package revisions cleanup runs removed on this node (with their recipe revisions or alone)",
            ),
            source_backups: counter(
                "cleanup_removed_source_backups",
                "Source backups cleanup runs removed on this node",
            ),
            bytes: counter(
                "cleanup_removed_bytes",
                "Bytes of the files cleanup runs removed on this node, each file counted",
            ),
            stored_bytes: counter(
                "cleanup_reclaimable_bytes",
                "Bytes of blobs cleanup runs left unreferenced on this node (garbage collection reclaims them)",
            ),
        }
    }
}

/// Logs and counts what cleanup runs do on this node.
pub(crate) struct CleanupTelemetry(pub(crate) Arc<Metrics>);

impl RunObserver for CleanupTelemetry {
    fn removed(&self, run: &CleanupRun, item: &RemovedItem) {
        let counters = &self.0.cleanup;
        match item.kind {
            RemovedKind::RecipeRevision => counters.recipe_revisions.inc(),
            RemovedKind::SourceBackup => counters.source_backups.inc(),
            RemovedKind::PackageRevision => 0,
        };
        counters.package_revisions.inc_by(item.package_revisions);
        counters.bytes.inc_by(item.logical_bytes);
        counters.stored_bytes.inc_by(item.stored_bytes);
        tracing::info!(
            run = run.id.0,
            project = run.project.0,
            reference = %item.reference,
            reason = %item.reason,
            package_revisions = item.package_revisions,
            bytes = item.logical_bytes,
            stored_bytes = item.stored_bytes,
            "cleanup removed"
        );
    }

    fn ended(&self, run: &CleanupRun, outcome: &Result<CleanupTotals, StoreError>) {
        let result = if outcome.is_ok() {
            "finished"
        } else {
            "failed"
        };
        self.0
            .cleanup
            .runs
            .get_or_create(&ResultLabels { result })
            .inc();
        match outcome {
            Ok(totals) => tracing::info!(
                run = run.id.0,
                project = run.project.0,
                trigger = run.trigger.as_str(),
                recipes_examined = totals.recipes_examined,
                skipped_protected = totals.skipped_protected,
                recipe_revisions = totals.recipe_revisions,
                package_revisions = totals.package_revisions,
                source_backups = totals.source_backups,
                files = totals.files,
                bytes = totals.logical_bytes,
                stored_bytes = totals.stored_bytes,
                "cleanup run finished"
            ),
            Err(error) => tracing::warn!(
                run = run.id.0,
                project = run.project.0,
                trigger = run.trigger.as_str(),
                %error,
                "cleanup run failed"
            ),
        }
    }
}

/// The label of the per-project gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectLabels {
    project: String,
}

/// A gauge family labelled by project, registered as `name`.
fn project_family(registry: &mut Registry, name: &str, help: &str) -> Family<ProjectLabels, Gauge> {
    let family = Family::<ProjectLabels, Gauge>::default();
    registry.register(name, help, family.clone());
    family
}

/// What each project stores ([`ProjectStats`]), one gauge family per measure.
struct ProjectGauges {
    references: Family<ProjectLabels, Gauge>,
    recipe_revisions: Family<ProjectLabels, Gauge>,
    binaries: Family<ProjectLabels, Gauge>,
    package_revisions: Family<ProjectLabels, Gauge>,
    files: Family<ProjectLabels, Gauge>,
    bytes: Family<ProjectLabels, Gauge>,
    stored_bytes: Family<ProjectLabels, Gauge>,
}

impl ProjectGauges {
    fn register(registry: &mut Registry) -> Self {
        let mut family = |name: &str, help: &str| project_family(registry, name, help);
        Self {
            references: family(
                "project_references",
                "Recipe references with a committed revision, by project",
            ),
            recipe_revisions: family(
                "project_recipe_revisions",
                "Committed recipe revisions, by project",
            ),
            binaries: family(
                "project_binaries",
                "Package ids with a committed package revision, by project",
            ),
            package_revisions: family(
                "project_package_revisions",
                "Committed package revisions, by project",
            ),
            files: family("project_files", "Files of committed revisions, by project"),
            bytes: family(
                "project_bytes",
                "Bytes of the files of committed revisions, each file counted, by project",
            ),
            stored_bytes: family(
                "project_stored_bytes",
                "Bytes of the distinct blobs those files are stored in (after deduplication), by project",
            ),
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Registers every metric; `pool_max` is the configured pool size.
    pub(crate) fn new(pool_max: u32, pool_probe: PoolProbe) -> Self {
        let mut registry = Registry::with_prefix("conan_registry");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route pattern and status",
            requests.clone(),
        );
        let latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from request to the end of the response body, by method and route pattern",
            latency.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "Requests whose response is not finished yet",
            in_flight.clone(),
        );
        let uploaded = Counter::default();
        registry.register(
            "uploaded_bytes",
            "Bytes of request bodies received (file uploads)",
            uploaded.clone(),
        );
        let downloaded = Counter::default();
        registry.register(
            "downloaded_bytes",
            "Bytes of response bodies sent (file downloads and API answers)",
            downloaded.clone(),
        );
        let pool_connections = Gauge::default();
        registry.register(
            "db_pool_connections",
            "Database connections in use",
            pool_connections.clone(),
        );
        let pool_idle = Gauge::default();
        registry.register(
            "db_pool_idle_connections",
            "Database connections open and idle",
            pool_idle.clone(),
        );
        let max = Gauge::<i64>::default();
        max.set(i64::from(pool_max));
        registry.register(
            "db_pool_max_connections",
            "The most connections the database pool opens",
            max,
        );
        let blob_errors = Family::<OperationLabels, Counter>::default();
        registry.register(
            "blob_store_errors",
            "Blob store operations that failed on the backend's side, by operation",
            blob_errors.clone(),
        );
        let projects = ProjectGauges::register(&mut registry);
        let cleanup = CleanupCounters::register(&mut registry);
        let remote = RemoteGauges::register(&mut registry);
        Self {
            registry,
            requests,
            latency,
            in_flight,
            uploaded,
            downloaded,
            pool_connections,
            pool_idle,
            blob_errors,
            projects,
            cleanup,
            pool_probe,
            remote,
            remotes: std::sync::OnceLock::new(),
        }
    }

    /// Sets the per-project gauges of `project` to `stats`.
    pub(crate) fn set_project_stats(&self, project: &str, stats: &ProjectStats) {
        let labels = ProjectLabels {
            project: project.to_owned(),
        };
        let gauges = &self.projects;
        for (family, value) in [
            (&gauges.references, stats.references),
            (&gauges.recipe_revisions, stats.recipe_revisions),
            (&gauges.binaries, stats.binaries),
            (&gauges.package_revisions, stats.package_revisions),
            (&gauges.files, stats.files),
            (&gauges.bytes, stats.logical_bytes),
            (&gauges.stored_bytes, stats.stored_bytes),
        ] {
            family
                .get_or_create(&labels)
                .set(i64::try_from(value).unwrap_or(i64::MAX));
        }
    }

    /// Counts one failed blob-store operation.
    pub(crate) fn blob_error(&self, operation: &'static str) {
        self.blob_errors
            .get_or_create(&OperationLabels { operation })
            .inc();
    }

    /// Shows `remotes`' counters from now on.
    pub(crate) fn watch_remotes(&self, remotes: Arc<conan_api::RemoteProjects>) {
        let _ = self.remotes.set(remotes);
    }

    /// Renders every metric in the Prometheus (`OpenMetrics`) text format.
    pub(crate) fn render(&self) -> Result<String, std::fmt::Error> {
        if let Some(remotes) = self.remotes.get() {
            self.remote.copy(remotes);
        }
        let (in_use, idle) = (self.pool_probe)();
        self.pool_connections.set(i64::from(in_use));
        self.pool_idle.set(i64::from(idle));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// A request id from the client or a proxy is kept when it is short and plain; anything else is
/// replaced, so the log can never be injected into through it.
fn request_id(request: &ServiceRequest) -> String {
    request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            !value.is_empty()
                && value.len() <= 64
                && value
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(&byte))
        })
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned)
}

/// The middleware: assigns the request id, counts request bytes, and wraps the response body so
/// the access line and the metrics are recorded when the body is done.
pub(crate) async fn observe(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<Observed>, actix_web::Error> {
    let start = Instant::now();
    let metrics = request
        .app_data::<web::Data<Metrics>>()
        .map(|metrics| Arc::clone(metrics));
    let id = request_id(&request);
    let received = Rc::new(Cell::new(0_u64));
    {
        let counter = metrics.as_ref().map(|metrics| metrics.uploaded.clone());
        let received = Rc::clone(&received);
        let payload = request.take_payload().inspect(move |chunk| {
            if let Ok(bytes) = chunk {
                received.set(received.get() + bytes.len() as u64);
                if let Some(counter) = &counter {
                    counter.inc_by(bytes.len() as u64);
                }
            }
        });
        request.set_payload(Payload::Stream {
            payload: Box::pin(payload),
        });
    }
    let method = request.method().to_string();
    let path = request.path().to_owned();
    let peer = request
        .peer_addr()
        .map_or_else(|| "-".to_owned(), |address| address.ip().to_string());
    if let Some(metrics) = &metrics {
        metrics.in_flight.inc();
    }
    let span = tracing::info_span!("request", id = %id);
    let response = {
        let _entered = span.enter();
        next.call(request).await
    };
    let mut response = match response {
        Ok(response) => response,
        Err(error) => {
            if let Some(metrics) = &metrics {
                metrics.in_flight.dec();
            }
            return Err(error);
        }
    };
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let finish = Finish {
        metrics,
        id,
        method,
        route,
        path,
        peer,
        status: response.status().as_u16(),
        start,
        received,
    };
    Ok(response.map_body(move |_, body| Observed {
        body: body.boxed(),
        sent: 0,
        done: false,
        finish: Some(finish),
    }))
}

/// What the access line and the metrics need once the body is done.
struct Finish {
    metrics: Option<Arc<Metrics>>,
    id: String,
    method: String,
    route: String,
    path: String,
    peer: String,
    status: u16,
    start: Instant,
    received: Rc<Cell<u64>>,
}

/// A response body that records the request when it finishes or is dropped.
pub(crate) struct Observed {
    body: BoxBody,
    sent: u64,
    done: bool,
    finish: Option<Finish>,
}

impl MessageBody for Observed {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(chunk))) => self.sent += chunk.len() as u64,
            Poll::Ready(None) => self.done = true,
            Poll::Ready(Some(Err(_))) | Poll::Pending => {}
        }
        polled
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        let Some(finish) = self.finish.take() else {
            return;
        };
        let complete = match self.body.size() {
            BodySize::Sized(size) => self.done || self.sent >= size,
            BodySize::None => true,
            BodySize::Stream => self.done,
        };
        let elapsed = finish.start.elapsed();
        if let Some(metrics) = &finish.metrics {
            metrics.in_flight.dec();
            metrics.downloaded.inc_by(self.sent);
            metrics
                .requests
                .get_or_create(&RequestLabels {
                    method: finish.method.clone(),
                    route: finish.route.clone(),
                    status: finish.status,
                })
                .inc();
            metrics
                .latency
                .get_or_create(&RouteLabels {
                    method: finish.method.clone(),
                    route: finish.route.clone(),
                })
                .observe(elapsed.as_secs_f64());
        }
        tracing::info!(
            target: "conan_registry::access",
            request_id = %finish.id,
            method = %finish.method,
            path = %finish.path,
            route = %finish.route,
            status = finish.status,
            bytes_in = finish.received.get(),
            bytes_out = self.sent,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            peer = %finish.peer,
            complete,
            "request"
        );
    }
}
