//! `serve`: opens the stores, bootstraps an empty database, and serves the Conan API.

#![expect(
    clippy::print_stdout,
    reason = "start-up messages are for the operator"
)]

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use conan_api::AppState;
use conan_auth::Authenticator;
use conan_auth::admin::{self, BootstrapOptions, BootstrapReport};
use conan_store::blob::open_blob_store;
use conan_store::db::DieselStore;
use conan_store::transfer::collect_garbage;
use conan_store::{IdentityStore, MetadataStore};

use crate::settings::Settings;

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

/// Runs the server until it is stopped.
pub(crate) async fn serve(settings: Settings) -> anyhow::Result<()> {
    std::fs::create_dir_all(settings.data_dir()).with_context(|| {
        format!(
            "cannot create the data directory {}",
            settings.data_dir().display()
        )
    })?;
    let database = open_metadata(&settings)?;
    let metadata: Arc<dyn MetadataStore> = Arc::new(database);
    let blobs = open_blob_store(&settings.blobs()).context("cannot open the blob store")?;
    let identity: Arc<dyn IdentityStore> = metadata.clone();
    let auth = Authenticator::new(Arc::clone(&identity), settings.auth.clone());
    auth.ensure_signing_key()
        .context("cannot create the JWT signing key")?;
    let bootstrap = admin::bootstrap(
        identity.as_ref(),
        &BootstrapOptions {
            admin_username: settings.bootstrap.admin_username.clone(),
            admin_password: std::env::var(ADMIN_PASSWORD_VAR)
                .ok()
                .filter(|password| !password.is_empty()),
            project_path: settings.bootstrap.project_path.clone(),
            project_visibility: settings.project_visibility()?,
        },
    )
    .context("cannot bootstrap the first administrator and project")?;

    let state = web::Data::new(AppState {
        metadata: Arc::clone(&metadata),
        blobs: Arc::clone(&blobs),
        auth,
        config: settings.api.clone(),
    });
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(conan_api::configure)
    })
    .bind(&settings.server.bind)
    .with_context(|| format!("cannot listen on {}", settings.server.bind))?;
    if let Some(workers) = settings.server.workers {
        server = server.workers(workers.max(1));
    }
    let address = server
        .addrs()
        .first()
        .copied()
        .context("the server has no address")?;
    let base = settings
        .api
        .external_url
        .clone()
        .unwrap_or_else(|| format!("http://{address}"));
    println!("conan-registry listening on http://{address}");
    if let Some(report) = bootstrap {
        print_bootstrap(&report, &base);
    }
    let _ = std::io::stdout().flush();

    if settings.gc.interval_secs > 0 {
        let gc = settings.gc.clone();
        actix_web::rt::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(gc.interval_secs));
            ticker.tick().await;
            loop {
                ticker.tick().await;
                // A failed run is retried at the next tick; it never stops the server.
                let _ = collect_garbage(
                    Arc::clone(&metadata),
                    Arc::clone(&blobs),
                    Duration::from_secs(gc.grace_secs),
                    Duration::from_secs(gc.staging_age_secs),
                )
                .await;
            }
        });
    }
    server
        .run()
        .await
        .context("the server stopped with an error")
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
