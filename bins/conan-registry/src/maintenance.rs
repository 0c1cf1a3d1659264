//! `gc` and `verify`: the blob store's maintenance, run by an operator (or cron) beside
//! running servers, which is safe: see `conan_store::transfer`.

#![expect(
    clippy::print_stdout,
    reason = "the summary and the problems found are the commands' output"
)]

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use conan_store::MetadataStore;
use conan_store::blob::{BlobStore, open_blob_store};
use conan_store::transfer::{BlobProblem, collect_garbage, verify_blobs};
use indicatif::{ProgressBar, ProgressStyle};

use crate::settings::Settings;

/// The options of `gc`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct GcOptions {
    /// Only blobs unreferenced for at least this many seconds are deleted (default `gc.grace_secs`).
    #[arg(long, value_name = "SECONDS")]
    pub(crate) grace_secs: Option<u64>,
    /// Staging data of uploads older than this many seconds is removed (default
    /// `gc.staging_age_secs`). 0 removes every upload in progress: only with all servers stopped.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) staging_age_secs: Option<u64>,
}

/// Opens both stores for a maintenance command.
fn open_stores(
    settings: &Settings,
) -> anyhow::Result<(Arc<dyn MetadataStore>, Arc<dyn BlobStore>)> {
    let metadata: Arc<dyn MetadataStore> = Arc::new(crate::serve::open_metadata(settings)?);
    let blobs = open_blob_store(&settings.blobs()).context("cannot open the blob store")?;
    Ok((metadata, blobs))
}

/// A spinner on standard error that shows `message`; hidden when standard error is not a
/// terminal.
fn spinner(message: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_message(message.to_owned());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {pos} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A runtime for the async store APIs.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `gc`: removes the blobs no file references (after the grace period) and stale staging data.
pub(crate) fn gc(settings: &Settings, options: &GcOptions) -> anyhow::Result<()> {
    let (metadata, blobs) = open_stores(settings)?;
    let grace = options.grace_secs.unwrap_or(settings.gc.grace_secs);
    let staging_age = options
        .staging_age_secs
        .unwrap_or(settings.gc.staging_age_secs);
    let bar = spinner("collecting garbage");
    let report = runtime()?
        .block_on(collect_garbage(
            metadata,
            blobs,
            Duration::from_secs(grace),
            Duration::from_secs(staging_age),
        ))
        .context("garbage collection failed")?;
    bar.finish_and_clear();
    println!(
        "gc: {} blob(s) newly unreferenced, {} deleted ({} bytes), {} stale upload(s) removed, \
         {} abandoned Conan 1 upload(s) removed",
        report.marked,
        report.deleted,
        report.deleted_bytes,
        report.staging_purged,
        report.abandoned_uploads
    );
    Ok(())
}

/// `verify`: re-hashes every indexed blob; `Ok(false)` when any is missing or corrupt.
pub(crate) fn verify(settings: &Settings) -> anyhow::Result<bool> {
    let (metadata, blobs) = open_stores(settings)?;
    let bar = spinner("verifying blobs");
    let progress = bar.clone();
    let problems = runtime()?
        .block_on(verify_blobs(metadata, blobs, move |checked| {
            progress.set_position(checked);
        }))
        .context("verification failed")?;
    let checked = bar.position();
    bar.finish_and_clear();
    for problem in &problems {
        match problem {
            BlobProblem::Missing { sha256 } => println!("missing  {sha256}"),
            BlobProblem::Corrupt { sha256, actual } => println!(
                "corrupt  {sha256}  (now {} bytes, sha256 {})",
                actual.size, actual.sha256
            ),
        }
    }
    println!(
        "verify: {checked} blob(s) checked, {} problem(s)",
        problems.len()
    );
    Ok(problems.is_empty())
}
