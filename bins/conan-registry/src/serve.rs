//! `serve`: opens the stores, bootstraps an empty database, and serves the Conan API.

#![expect(
    clippy::print_stdout,
    reason = "start-up messages are for the operator"
)]

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use conan_api::AppState;
use conan_auth::Authenticator;
use conan_auth::admin::{self, BootstrapOptions, BootstrapReport};
use conan_store::blob::{BlobStore, open_blob_store};
use conan_store::cleanup::CleanupRunner;
use conan_store::db::DieselStore;
use conan_store::transfer::collect_garbage;
use conan_store::{DownloadRecorder, IdentityStore, MetadataStore, StoreError};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::signal::unix::{SignalKind, signal};

use crate::probes::{self, MeteredBlobStore, Probes};
use crate::settings::{Settings, TlsSettings};
use crate::telemetry::{self, CleanupTelemetry, Metrics};

/// The environment variable that gives the first administrator a password instead of a token.
pub(crate) const ADMIN_PASSWORD_VAR: &str = "CONAN_REGISTRY_ADMIN_PASSWORD";

/// Opens the metadata store (running migrations) with a message naming the backend on failure.
pub(crate) fn open_metadata(settings: &Settings) -> anyhow::Result<DieselStore> {
    let database = settings.database();
    DieselStore::open(&database).with_context(|| {
        format!(
            "cannot open the database {}",
            conan_store::db::redact_url_password(&database.url)
        )
    })
}

/// The web interface's state: the same stores and authenticator as the Conan API.
fn web_pages(
    api: &AppState,
    settings: &Settings,
) -> anyhow::Result<web::Data<conan_web::WebState>> {
    let key = settings.remote.key()?;
    Ok(web::Data::new(conan_web::WebState {
        metadata: Arc::clone(&api.metadata),
        blobs: Arc::clone(&api.blobs),
        auth: api.auth.clone(),
        external_url: settings.api.external_url.clone(),
        credentials_key: key.map(Arc::new),
    }))
}

/// Remote projects' upstreams, built on first use, their counters shown by `metrics`; a malformed `remote.credentials_key` stops
/// the start.
fn remote_projects(
    settings: &Settings,
    metadata: &Arc<dyn MetadataStore>,
    blobs: &Arc<dyn BlobStore>,
    metrics: &Metrics,
) -> anyhow::Result<Arc<conan_api::RemoteProjects>> {
    let remotes = Arc::new(conan_api::RemoteProjects::new(
        Arc::clone(metadata),
        Arc::clone(blobs),
        settings.remote.key()?,
        settings.api.max_upload_size,
    ));
    metrics.watch_remotes(Arc::clone(&remotes));
    Ok(remotes)
}

/// Runs the server until SIGTERM or SIGINT, then lets in-flight requests finish (up to
/// `server.shutdown_timeout_secs`) and returns.
pub(crate) async fn serve(settings: Settings) -> anyhow::Result<()> {
    create_data_dir(&settings)?;
    let tls = settings.server.tls.as_ref().map(load_tls).transpose()?;
    let database = Arc::new(open_metadata(&settings)?);
    let pool = Arc::clone(&database);
    let metrics = Arc::new(Metrics::new(
        settings.database.max_connections,
        Box::new(move || pool.pool_state()),
    ));
    let metadata: Arc<dyn MetadataStore> = database.clone();
    let backend = open_blob_store(&settings.blobs()).context("cannot open the blob store")?;
    let backend_name = format!("{backend:?}");
    let blobs: Arc<dyn BlobStore> = Arc::new(MeteredBlobStore::new(backend, Arc::clone(&metrics)));
    // The same store as `metadata`: the authenticator's reads then join each request's read
    // scope (see `conan_api`'s `access::read`), one snapshot per request.
    let auth = Authenticator::new(metadata.clone(), settings.auth.clone());
    let bootstrap = first_start(&settings, &database, &auth, database.as_ref())?;

    let downloads = Arc::new(DownloadRecorder::new());
    let state = web::Data::new(AppState {
        metadata: Arc::clone(&metadata),
        blobs: Arc::clone(&blobs),
        auth,
        config: settings.api.clone(),
        downloads: Arc::clone(&downloads),
        remotes: remote_projects(&settings, &metadata, &blobs, &metrics)?,
    });
    let rest = web::Data::new(conan_packages_api::RestState {
        metadata: Arc::clone(&metadata),
        auth: state.auth.clone(),
        external_url: settings.api.external_url.clone(),
        cleanup: CleanupRunner::new(
            Arc::clone(&metadata),
            settings.cleanup_run_settings(),
            Arc::new(CleanupTelemetry(Arc::clone(&metrics))),
        ),
    });
    let pages = web_pages(&state, &settings)?;
    let probes = web::Data::new(Probes {
        database: Arc::clone(&database),
        blobs: Arc::clone(&blobs),
    });
    let metrics_data = web::Data::from(Arc::clone(&metrics));
    let cleanup = rest.cleanup.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(telemetry::observe))
            .app_data(state.clone())
            .app_data(rest.clone())
            .app_data(pages.clone())
            .app_data(probes.clone())
            .app_data(metrics_data.clone())
            .configure(probes::configure)
            // actix tries the services in this order, and each dynamic path costs a regex
            // match: the Conan routes, which take almost every request a registry gets, come
            // first (two scopes, `.../packages/conan` and `/api/v4/packages/conan`, that no other
            // route falls under), so they no longer pay the web pages' and the Packages API's
            // patterns first. Their default service answers unknown paths, wherever it is set.
            .configure(conan_api::configure)
            .configure(conan_packages_api::configure)
            // The web pages: `/` and `/-/web/...`, paths no API route uses.
            .configure(conan_web::configure)
    })
    .shutdown_timeout(settings.server.shutdown_timeout_secs)
    // Without it a streamed body waits for the client's delayed ACK of the headers (Nagle):
    // about 40 ms on every file download.
    .tcp_nodelay(true)
    .disable_signals();
    if let Some(workers) = settings.server.workers {
        server = server.workers(workers.max(1));
    }
    let server = match tls {
        Some(config) => server.bind_rustls_0_23(&settings.server.bind, config),
        None => server.bind(&settings.server.bind),
    }
    .with_context(|| format!("cannot listen on {}", settings.server.bind))?;
    let address = server
        .addrs()
        .first()
        .copied()
        .context("the server has no address")?;
    let scheme = if settings.server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let base = settings
        .api
        .external_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{address}"));
    println!("conan-registry listening on {scheme}://{address}");
    if let Some(report) = bootstrap {
        print_bootstrap(&report, &base);
    }
    let _ = std::io::stdout().flush();
    tracing::info!(
        %address,
        database = database.backend(),
        blobs = %backend_name,
        "conan-registry {} serving",
        env!("CARGO_PKG_VERSION")
    );

    spawn_background_work(&settings, &metadata, blobs, &downloads, metrics, cleanup);
    let server = server.run();
    stop_on_signal(server.handle(), settings.server.shutdown_timeout_secs);
    server.await.context("the server stopped with an error")?;
    // What the requests of the last interval noted.
    flush_downloads(metadata, downloads).await;
    tracing::info!("stopped");
    Ok(())
}

/// Creates the signing key and, on an empty database, the first administrator and project.
/// Nodes starting together against one PostgreSQL database take turns here, so only the first
/// does it.
fn first_start(
    settings: &Settings,
    database: &DieselStore,
    auth: &Authenticator,
    identity: &dyn IdentityStore,
) -> anyhow::Result<Option<BootstrapReport>> {
    database
        .exclusive(|| -> anyhow::Result<_> {
            auth.ensure_signing_key()
                .context("cannot create the JWT signing key")?;
            admin::bootstrap(
                identity,
                &BootstrapOptions {
                    admin_username: settings.bootstrap.admin_username.clone(),
                    admin_password: std::env::var(ADMIN_PASSWORD_VAR)
                        .ok()
                        .filter(|password| !password.is_empty()),
                    project_path: settings.bootstrap.project_path.clone(),
                    project_visibility: settings.project_visibility()?,
                },
            )
            .context("cannot bootstrap the first administrator and project")
        })
        .context("cannot bootstrap the first administrator and project")?
}

/// Stops the server gracefully on SIGTERM or SIGINT: no new connections, requests in flight
/// finish for up to `timeout_secs`.
fn stop_on_signal(handle: actix_web::dev::ServerHandle, timeout_secs: u64) {
    actix_web::rt::spawn(async move {
        let signal = shutdown_signal().await;
        tracing::info!(
            signal,
            timeout_secs,
            "stopping: no new connections; waiting for requests in flight"
        );
        handle.stop(true).await;
    });
}

/// Waits for SIGTERM or SIGINT and names it.
async fn shutdown_signal() -> &'static str {
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGTERM; stop with SIGINT");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}

/// Creates the data directory (the embedded database's and the filesystem blobs' default home).
fn create_data_dir(settings: &Settings) -> anyhow::Result<()> {
    std::fs::create_dir_all(settings.data_dir()).with_context(|| {
        format!(
            "cannot create the data directory {}",
            settings.data_dir().display()
        )
    })
}

/// Starts what each node does on its own schedule: cleanup runs, garbage collection, writing
/// the downloads it noted, recounting project statistics.
fn spawn_background_work(
    settings: &Settings,
    metadata: &Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    downloads: &Arc<DownloadRecorder>,
    metrics: Arc<Metrics>,
    cleanup: CleanupRunner,
) {
    spawn_cleanup_scheduler(settings, cleanup);
    if settings.gc.interval_secs > 0 {
        spawn_collector(settings, Arc::clone(metadata), blobs);
    }
    spawn_download_flusher(settings, Arc::clone(metadata), Arc::clone(downloads));
    if settings.catalog.stats_interval_secs > 0 {
        spawn_stats_refresher(settings, Arc::clone(metadata), metrics);
    }
}

/// Runs the garbage collector every `gc.interval_secs` on this node; several nodes may each
/// run one.
fn spawn_collector(
    settings: &Settings,
    metadata: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
) {
    let gc = settings.gc.clone();
    actix_web::rt::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(gc.interval_secs));
        ticker.tick().await;
        loop {
            ticker.tick().await;
            // A failed run is retried at the next tick; it never stops the server.
            match collect_garbage(
                Arc::clone(&metadata),
                Arc::clone(&blobs),
                Duration::from_secs(gc.grace_secs),
                Duration::from_secs(gc.staging_age_secs),
            )
            .await
            {
                Ok(report) => tracing::info!(
                    marked = report.marked,
                    deleted = report.deleted,
                    deleted_bytes = report.deleted_bytes,
                    staging_purged = report.staging_purged,
                    abandoned_uploads = report.abandoned_uploads,
                    "garbage collection finished"
                ),
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "garbage collection failed");
                }
            }
        }
    });
}

/// Every `cleanup.poll_interval_secs` (first soon after the start, to resume a run a stopped
/// node left), claims due cleanup runs one at a time and carries each out on a blocking thread.
/// Every node polls; the database's claim lets exactly one node run a project's policy.
fn spawn_cleanup_scheduler(settings: &Settings, runner: CleanupRunner) {
    if settings.cleanup.poll_interval_secs == 0 {
        return;
    }
    let interval = Duration::from_secs(settings.cleanup.poll_interval_secs);
    actix_web::rt::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let runner = runner.clone();
            // Runs every due run, then waits for the next tick.
            let ran = tokio::task::spawn_blocking(move || -> Result<u64, StoreError> {
                let mut ran = 0;
                while let Some(run) = runner.claim_due()? {
                    tracing::info!(
                        run = run.id.0,
                        project = run.project.0,
                        trigger = run.trigger.as_str(),
                        "cleanup run started"
                    );
                    // The observer logs and counts the outcome; a failed run is recorded.
                    match runner.start(run) {
                        Ok(handle) => {
                            let _ = handle.join();
                        }
                        Err(error) => {
                            tracing::warn!(%error, "a cleanup run's thread did not start");
                            break;
                        }
                    }
                    ran += 1;
                }
                Ok(ran)
            })
            .await;
            match ran {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "claiming a cleanup run failed"),
                Err(error) => tracing::warn!(%error, "the cleanup scheduler panicked"),
            }
        }
    });
}

/// Writes the downloads noted since the last flush, logging a failure (the notes stay for the
/// next flush).
async fn flush_downloads(metadata: Arc<dyn MetadataStore>, downloads: Arc<DownloadRecorder>) {
    let flushed = tokio::task::spawn_blocking(move || downloads.flush(metadata.as_ref())).await;
    match flushed {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => tracing::warn!(%error, "recording last downloads failed"),
        Err(error) => tracing::warn!(%error, "recording last downloads panicked"),
    }
}

/// Flushes the download recorder every `catalog.download_flush_secs`.
fn spawn_download_flusher(
    settings: &Settings,
    metadata: Arc<dyn MetadataStore>,
    downloads: Arc<DownloadRecorder>,
) {
    let interval = Duration::from_secs(settings.catalog.download_flush_secs.max(1));
    actix_web::rt::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            flush_downloads(Arc::clone(&metadata), Arc::clone(&downloads)).await;
        }
    });
}

/// Recounts what every project stores for `/metrics` every `catalog.stats_interval_secs`,
/// starting at once: one read snapshot per project, on a blocking thread, so a large registry
/// costs the database a few grouped queries per project per interval, never a request's time.
fn spawn_stats_refresher(
    settings: &Settings,
    metadata: Arc<dyn MetadataStore>,
    metrics: Arc<Metrics>,
) {
    let interval = Duration::from_secs(settings.catalog.stats_interval_secs);
    actix_web::rt::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let metadata = Arc::clone(&metadata);
            let metrics = Arc::clone(&metrics);
            let counted = tokio::task::spawn_blocking(move || -> Result<usize, StoreError> {
                let projects = metadata.projects()?;
                for project in &projects {
                    metrics.set_project_stats(&project.path, &metadata.project_stats(project.id)?);
                }
                Ok(projects.len())
            })
            .await;
            match counted {
                Ok(Ok(projects)) => tracing::debug!(projects, "project statistics recounted"),
                Ok(Err(error)) => tracing::warn!(%error, "recounting project statistics failed"),
                Err(error) => tracing::warn!(%error, "recounting project statistics panicked"),
            }
        }
    });
}

/// Reads the TLS certificate chain and key for HTTPS serving.
fn load_tls(tls: &TlsSettings) -> anyhow::Result<rustls::ServerConfig> {
    let certificates = CertificateDer::pem_file_iter(&tls.cert_file)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|error| {
            anyhow::anyhow!(
                "cannot read the TLS certificate {}: {error}",
                tls.cert_file.display()
            )
        })?;
    anyhow::ensure!(
        !certificates.is_empty(),
        "the TLS certificate file {} holds no certificate",
        tls.cert_file.display()
    );
    let key = PrivateKeyDer::from_pem_file(&tls.key_file).map_err(|error| {
        anyhow::anyhow!(
            "cannot read the TLS private key {}: {error}",
            tls.key_file.display()
        )
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("cannot set up TLS")?
    .with_no_client_auth()
    .with_single_cert(certificates, key)
    .context("the TLS certificate and key do not form a usable pair")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Tells a newcomer exactly how to start.
fn print_bootstrap(report: &BootstrapReport, base: &str) {
    let remote = format!(
        "{}/api/v4/projects/{}/packages/conan",
        base.trim_end_matches('/'),
        report.project.id
    );
    println!();
    println!(
        "First start: created administrator `{}` and project `{}` ({}).",
        report.admin.username, report.project.path, report.project.visibility
    );
    if let Some(token) = &report.token {
        println!("The administrator's access token (shown only now, keep it safe):");
        println!("    {}", token.secret);
        println!("Use it with Conan:");
        println!("    conan remote add conan-registry {remote}");
        println!(
            "    conan remote login conan-registry {} -p {}",
            report.admin.username, token.secret
        );
    } else {
        println!("The administrator's password is the one from {ADMIN_PASSWORD_VAR}. Use Conan:");
        println!("    conan remote add conan-registry {remote}");
        println!(
            "    conan remote login conan-registry {} -p \"${ADMIN_PASSWORD_VAR}\"",
            report.admin.username
        );
    }
    println!();
}
