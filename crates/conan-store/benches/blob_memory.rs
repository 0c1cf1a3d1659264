//! Memory benchmark: peak resident memory while a 2 GiB body streams into the filesystem blob
//! store (stage + publish) and back out (open + read), against the process's peak before.
//!
//! Run: `cargo bench -p conan-store --bench blob_memory` (docs/BENCHMARKS.md records the figures;
//! `BENCH_BLOB_MIB` changes the size). Not a test: it measures and prints. Without `--bench` on
//! its command line (as when `cargo test --all-targets` or nextest list it) it exits at once.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    reason = "a benchmark binary: panics are failures, printing is its output"
)]

use std::time::Instant;

use bytes::Bytes;
use conan_store::blob::{BlobStoreConfig, FilesystemConfig, open_blob_store};
use futures::StreamExt;
use futures::stream;

const CHUNK: usize = 64 * 1024;

/// The process's peak resident set size so far, in KiB (Linux `VmHWM`).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let mib: u64 = std::env::var("BENCH_BLOB_MIB")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2048);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir =
            tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".to_owned()))
                .unwrap();
        let store = open_blob_store(&BlobStoreConfig::Filesystem(FilesystemConfig {
            root: dir.path().join("blobs"),
        }))
        .unwrap();
        // One shared chunk, cloned by reference count: the body itself costs no memory.
        let pattern: Vec<u8> = (0..CHUNK).map(|i| (i % 251) as u8).collect();
        let chunk = Bytes::from(pattern);
        let chunks = (mib * 1024 * 1024).div_ceil(CHUNK as u64);
        let before = peak_rss_kib();

        let started = Instant::now();
        let body =
            stream::iter((0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone()))).boxed();
        let staged = store.stage(body, u64::MAX).await.unwrap();
        store.publish(&staged).await.unwrap();
        let upload = started.elapsed();
        let after_upload = peak_rss_kib();

        let started = Instant::now();
        let mut reader = store.open(staged.sha256(), None).await.unwrap();
        let mut read = 0u64;
        while let Some(bytes) = reader.body.next().await {
            read += bytes.unwrap().len() as u64;
        }
        let download = started.elapsed();
        let after_download = peak_rss_kib();
        assert_eq!(read, staged.digests().size);
        store.discard(staged).await.unwrap();

        let size_mib = read as f64 / (1024.0 * 1024.0);
        println!("blob memory benchmark: {size_mib:.0} MiB through the filesystem blob store");
        println!(
            "peak RSS before:           {:>8.1} MiB",
            before as f64 / 1024.0
        );
        println!(
            "peak RSS after upload:     {:>8.1} MiB  (+{:.1} MiB; stage+publish {:.1} MiB/s)",
            after_upload as f64 / 1024.0,
            (after_upload - before) as f64 / 1024.0,
            size_mib / upload.as_secs_f64()
        );
        println!(
            "peak RSS after download:   {:>8.1} MiB  (+{:.1} MiB; read {:.1} MiB/s)",
            after_download as f64 / 1024.0,
            (after_download - before) as f64 / 1024.0,
            size_mib / download.as_secs_f64()
        );
    });
}
