//! Blob store conformance: one set of cases, run against every backend.
//!
//! The file system and memory backends always run. The S3 backend runs when
//! `CONAN_REGISTRY_TEST_S3_ENDPOINT` names an S3-protocol server (`scripts/s3-test-server run --
//! cargo test ...` starts one); otherwise its tests pass after printing a "skipped" line, unless
//! `CONAN_REGISTRY_TEST_REQUIRE_S3=1`, which makes them fail so CI cannot skip them silently.
//!
//! Without `CONAN_REGISTRY_TEST_S3_BUCKET`, every test creates a fresh bucket with an unsigned
//! `PUT /<bucket>` (moto and other test servers accept it). With it, every test uses a fresh key
//! prefix inside that bucket and removes what it wrote; `CONAN_REGISTRY_TEST_S3_REGION`,
//! `CONAN_REGISTRY_TEST_S3_ACCESS_KEY_ID` and `CONAN_REGISTRY_TEST_S3_SECRET_ACCESS_KEY` are then
//! used if set.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a panic is the failure report"
)]

use std::io::{Read as _, Write as _};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Once};
use std::time::Duration;

use bytes::Bytes;
use conan_store::blob::{
    BlobError, BlobReader, BlobStore, BlobStoreConfig, Digests, FilesystemConfig, S3Config,
    Sha256Hex, StagedBlob, open_blob_store,
};
use futures::stream::{self, BoxStream, StreamExt as _, TryStreamExt as _};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

const MIB: usize = 1024 * 1024;

/// Large enough to take the multipart path (parts are 8 MiB) with several parts.
const LARGE: usize = 20 * MIB;

// ---------------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------------

/// A store under test and what the test needs to look behind its API.
struct Backend {
    store: Arc<dyn BlobStore>,
    kind: Kind,
}

enum Kind {
    Filesystem {
        root: PathBuf,
        _dir: TempDir,
    },
    Memory,
    S3 {
        endpoint: String,
        bucket: String,
        /// Whether the bucket was created for this test (a test server), so unsigned requests
        /// can inspect it.
        fresh: bool,
    },
}

impl Backend {
    fn filesystem() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // A root that does not exist yet: opening the store creates it.
        let root = dir.path().join("data").join("blobs");
        let store = open_blob_store(&BlobStoreConfig::Filesystem(FilesystemConfig {
            root: root.clone(),
        }))
        .unwrap();
        Self {
            store,
            kind: Kind::Filesystem { root, _dir: dir },
        }
    }

    fn memory() -> Self {
        Self {
            store: open_blob_store(&BlobStoreConfig::Memory).unwrap(),
            kind: Kind::Memory,
        }
    }

    /// The S3 backend, or `None` (after saying so) when no server is configured.
    fn s3() -> Option<Self> {
        let endpoint = s3_endpoint()?;
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        let mut config = S3Config {
            endpoint: Some(endpoint.clone()),
            allow_http: endpoint.starts_with("http://"),
            access_key_id: Some(
                env("CONAN_REGISTRY_TEST_S3_ACCESS_KEY_ID").unwrap_or_else(|| "test".to_owned()),
            ),
            secret_access_key: Some(
                env("CONAN_REGISTRY_TEST_S3_SECRET_ACCESS_KEY")
                    .unwrap_or_else(|| "test".to_owned()),
            ),
            ..S3Config::default()
        };
        if let Some(region) = env("CONAN_REGISTRY_TEST_S3_REGION") {
            config.region = region;
        }
        let fresh = if let Some(bucket) = env("CONAN_REGISTRY_TEST_S3_BUCKET") {
            config.bucket = bucket;
            config.prefix = Some(format!("conan-blob-test/{unique}"));
            false
        } else {
            config.bucket = format!("conan-blob-{unique}");
            create_bucket(&endpoint, &config.bucket);
            true
        };
        let bucket = config.bucket.clone();
        Some(Self {
            store: open_blob_store(&BlobStoreConfig::S3(config)).unwrap(),
            kind: Kind::S3 {
                endpoint,
                bucket,
                fresh,
            },
        })
    }

    /// Temporary files of unfinished uploads that the store's listings cannot see: `#<n>` files
    /// in the file-system staging directory, or incomplete multipart uploads on S3. `None` where
    /// the backend cannot be inspected.
    fn pending_partials(&self) -> Option<usize> {
        match &self.kind {
            Kind::Filesystem { root, .. } => {
                let Ok(entries) = std::fs::read_dir(root.join("staging")) else {
                    return Some(0);
                };
                let partials = entries
                    .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|name| name.contains('#'))
                    .count();
                Some(partials)
            }
            Kind::Memory => None,
            Kind::S3 {
                endpoint,
                bucket,
                fresh,
            } => fresh.then(|| {
                let (status, body) = raw_http(endpoint, "GET", &format!("/{bucket}?uploads"));
                assert_eq!(status, 200, "listing multipart uploads failed: {body}");
                body.matches("<Upload>").count()
            }),
        }
    }

    /// Removes what a test left in a shared bucket.
    async fn cleanup(self) {
        if let Kind::S3 { fresh: false, .. } = self.kind {
            self.store.purge_staging(Duration::ZERO).await.unwrap();
            let blobs: Vec<_> = self.store.list().try_collect().await.unwrap();
            for blob in blobs {
                self.store.delete(&blob.sha256).await.unwrap();
            }
        }
    }
}

/// The S3 endpoint to test against, or `None` when the S3 tests are to be skipped.
fn s3_endpoint() -> Option<String> {
    static SKIP_NOTICE: Once = Once::new();
    if let Ok(endpoint) = std::env::var("CONAN_REGISTRY_TEST_S3_ENDPOINT")
        && !endpoint.is_empty()
    {
        return Some(endpoint);
    }
    assert!(
        std::env::var("CONAN_REGISTRY_TEST_REQUIRE_S3").as_deref() != Ok("1"),
        "CONAN_REGISTRY_TEST_REQUIRE_S3=1 but CONAN_REGISTRY_TEST_S3_ENDPOINT is not set: run \
         the tests through `scripts/s3-test-server run -- <command>`"
    );
    SKIP_NOTICE.call_once(|| {
        // Written to the real stderr, not through `eprintln!`, so the test harness does not
        // swallow it for a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "blob_conformance: S3 cases skipped: set CONAN_REGISTRY_TEST_S3_ENDPOINT (or run \
             `scripts/s3-test-server run -- cargo test -p conan-store --test blob_conformance`)"
        );
    });
    None
}

/// Creates a bucket on a test server with an unsigned path-style `PUT /<bucket>`.
fn create_bucket(endpoint: &str, bucket: &str) {
    let (status, body) = raw_http(endpoint, "PUT", &format!("/{bucket}"));
    assert_eq!(status, 200, "creating bucket {bucket} failed: {body}");
}

/// One unsigned HTTP/1.1 request without a body; returns the status and the raw response body.
fn raw_http(endpoint: &str, method: &str, path: &str) -> (u16, String) {
    let authority = endpoint
        .strip_prefix("http://")
        .unwrap_or_else(|| {
            panic!(
                "the S3 endpoint {endpoint} is not plain http, so this test cannot create a \
                 bucket on it: set CONAN_REGISTRY_TEST_S3_BUCKET to an existing bucket"
            )
        })
        .trim_end_matches('/');
    let mut connection = std::net::TcpStream::connect(authority).unwrap();
    connection
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        connection,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    connection.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Declares every case once per backend: `filesystem::case`, `memory::case`, `s3::case`.
macro_rules! conformance {
    ($($case:ident),+ $(,)?) => {
        mod filesystem {
            $(
                #[tokio::test]
                async fn $case() {
                    let backend = super::Backend::filesystem();
                    super::$case(&backend).await;
                }
            )+
        }

        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    let backend = super::Backend::memory();
                    super::$case(&backend).await;
                }
            )+
        }

        mod s3 {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(backend) = super::Backend::s3() else {
                        return;
                    };
                    super::$case(&backend).await;
                    backend.cleanup().await;
                }
            )+
        }
    };
}

conformance!(
    stage_and_publish_round_trip,
    empty_body_round_trips,
    identical_content_is_stored_once,
    publish_is_idempotent_and_restores_a_deleted_blob,
    discard_removes_the_staging_object,
    too_large_small_body_leaves_nothing,
    too_large_multipart_body_leaves_nothing,
    failing_body_leaves_nothing,
    failing_multipart_body_leaves_nothing,
    cancelled_multipart_stage_leaves_nothing,
    range_reads,
    contains_and_delete_are_idempotent,
    purge_staging_removes_only_old_staging_objects,
    large_body_round_trips_through_multipart,
    check_succeeds,
);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Deterministic, non-repeating-looking content (xorshift), so misplaced parts are detected.
fn content(len: usize, seed: u64) -> Vec<u8> {
    // Distinct seeds give distinct, nonzero states.
    let mut state = seed.wrapping_mul(2).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// A body that yields `data` in chunks of `chunk` bytes.
fn body(data: &[u8], chunk: usize) -> BoxStream<'static, std::io::Result<Bytes>> {
    let chunks: Vec<_> = data.chunks(chunk).map(Bytes::copy_from_slice).collect();
    stream::iter(chunks.into_iter().map(Ok)).boxed()
}

/// A body that yields `data` in chunks and then fails like a dropped connection.
fn failing_body(data: &[u8], chunk: usize) -> BoxStream<'static, std::io::Result<Bytes>> {
    let failure = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "client went away");
    body(data, chunk)
        .chain(stream::once(async move { Err(failure) }))
        .boxed()
}

/// Digests computed without the store's code: what staging computes, so no md5.
fn expected_digests(data: &[u8]) -> Digests {
    Digests {
        size: data.len() as u64,
        md5: None,
        sha1: format!("{:x}", Sha1::digest(data)),
        sha256: format!("{:x}", Sha256::digest(data)),
    }
}

fn sha256_of(data: &[u8]) -> Sha256Hex {
    Sha256Hex::parse(&format!("{:x}", Sha256::digest(data))).unwrap()
}

async fn stage(backend: &Backend, data: &[u8]) -> StagedBlob {
    backend
        .store
        .stage(body(data, 64 * 1024), u64::MAX)
        .await
        .unwrap()
}

async fn read(reader: BlobReader) -> Vec<u8> {
    let chunks: Vec<Bytes> = reader.body.try_collect().await.unwrap();
    chunks.concat()
}

async fn read_blob(backend: &Backend, sha256: &Sha256Hex) -> Vec<u8> {
    read(backend.store.open(sha256, None).await.unwrap()).await
}

async fn listed(backend: &Backend) -> Vec<Sha256Hex> {
    let mut listed: Vec<_> = backend
        .store
        .list()
        .map_ok(|blob| blob.sha256)
        .try_collect()
        .await
        .unwrap();
    listed.sort();
    listed
}

/// Asserts that nothing of a refused upload remains: no staging object, no temporary file or
/// incomplete multipart upload, and no blob.
async fn assert_nothing_left(backend: &Backend) {
    assert_eq!(
        backend.pending_partials().unwrap_or(0),
        0,
        "partial upload left"
    );
    assert_eq!(
        backend.store.purge_staging(Duration::ZERO).await.unwrap(),
        0,
        "staging object left"
    );
    assert!(listed(backend).await.is_empty(), "blob left");
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

async fn stage_and_publish_round_trip(backend: &Backend) {
    let data = b"conanfile.py contents\n".repeat(100);
    let staged = backend
        .store
        .stage(body(&data, 7), data.len() as u64)
        .await
        .unwrap();
    assert_eq!(staged.digests(), &expected_digests(&data));
    assert_eq!(staged.sha256(), &sha256_of(&data));
    assert!(!backend.store.contains(staged.sha256()).await.unwrap());

    backend.store.publish(&staged).await.unwrap();
    assert!(backend.store.contains(staged.sha256()).await.unwrap());
    let reader = backend.store.open(staged.sha256(), None).await.unwrap();
    assert_eq!(reader.size, data.len() as u64);
    assert_eq!(reader.range, 0..data.len() as u64);
    assert_eq!(reader.content_length(), data.len() as u64);
    assert_eq!(read(reader).await, data);

    let blobs: Vec<_> = backend.store.list().try_collect().await.unwrap();
    assert_eq!(blobs.len(), 1);
    assert_eq!(&blobs[0].sha256, staged.sha256());
    assert_eq!(blobs[0].size, data.len() as u64);

    backend.store.discard(staged).await.unwrap();
    assert_eq!(
        backend.store.purge_staging(Duration::ZERO).await.unwrap(),
        0
    );
    assert_eq!(read_blob(backend, &sha256_of(&data)).await, data);
}

async fn empty_body_round_trips(backend: &Backend) {
    let staged = backend.store.stage(body(b"", 1), 0).await.unwrap();
    assert_eq!(staged.digests(), &expected_digests(b""));
    backend.store.publish(&staged).await.unwrap();
    let reader = backend.store.open(staged.sha256(), None).await.unwrap();
    assert_eq!((reader.size, reader.range.clone()), (0, 0..0));
    assert!(read(reader).await.is_empty());
    backend.store.discard(staged).await.unwrap();
}

async fn identical_content_is_stored_once(backend: &Backend) {
    let data = content(3000, 1);
    let first = stage(backend, &data).await;
    let second = stage(backend, &data).await;
    assert_eq!(first.digests(), second.digests());
    backend.store.publish(&first).await.unwrap();
    backend.store.publish(&second).await.unwrap();
    assert_eq!(listed(backend).await, vec![sha256_of(&data)]);

    backend.store.discard(first).await.unwrap();
    backend.store.discard(second).await.unwrap();
    assert_eq!(
        backend.store.purge_staging(Duration::ZERO).await.unwrap(),
        0
    );
    assert_eq!(read_blob(backend, &sha256_of(&data)).await, data);

    let other = content(3000, 2);
    let third = stage(backend, &other).await;
    backend.store.publish(&third).await.unwrap();
    let mut expected = vec![sha256_of(&data), sha256_of(&other)];
    expected.sort();
    assert_eq!(listed(backend).await, expected);
    backend.store.discard(third).await.unwrap();
}

async fn publish_is_idempotent_and_restores_a_deleted_blob(backend: &Backend) {
    let data = content(5000, 3);
    let staged = stage(backend, &data).await;
    backend.store.publish(&staged).await.unwrap();
    backend.store.publish(&staged).await.unwrap();
    assert_eq!(listed(backend).await.len(), 1);

    // A garbage collector removed the blob before the caller's metadata committed: the kept
    // staging object publishes it again.
    backend.store.delete(staged.sha256()).await.unwrap();
    assert!(!backend.store.contains(staged.sha256()).await.unwrap());
    backend.store.publish(&staged).await.unwrap();
    assert_eq!(read_blob(backend, staged.sha256()).await, data);
    backend.store.discard(staged).await.unwrap();
}

async fn discard_removes_the_staging_object(backend: &Backend) {
    let data = content(100, 4);
    let staged = stage(backend, &data).await;
    let sha256 = staged.sha256().clone();
    backend.store.discard(staged).await.unwrap();
    assert_eq!(
        backend.store.purge_staging(Duration::ZERO).await.unwrap(),
        0
    );
    assert!(!backend.store.contains(&sha256).await.unwrap());

    // Publishing after the staging object is gone says so; discarding again is harmless.
    let staged = stage(backend, &data).await;
    assert_eq!(
        backend.store.purge_staging(Duration::ZERO).await.unwrap(),
        1
    );
    let error = backend.store.publish(&staged).await.unwrap_err();
    assert!(matches!(error, BlobError::StagingGone { .. }), "{error:?}");
    backend.store.discard(staged).await.unwrap();
    assert!(listed(backend).await.is_empty());
}

async fn too_large_small_body_leaves_nothing(backend: &Backend) {
    let data = content(11, 5);
    let error = backend.store.stage(body(&data, 4), 10).await.unwrap_err();
    assert!(
        matches!(error, BlobError::TooLarge { limit: 10 }),
        "{error:?}"
    );
    assert_nothing_left(backend).await;

    // Exactly at the limit is accepted.
    let staged = backend.store.stage(body(&data, 4), 11).await.unwrap();
    assert_eq!(staged.digests().size, 11);
    backend.store.discard(staged).await.unwrap();
}

async fn too_large_multipart_body_leaves_nothing(backend: &Backend) {
    let data = content(LARGE, 6);
    let limit = 12 * MIB as u64;
    let error = backend
        .store
        .stage(body(&data, MIB), limit)
        .await
        .unwrap_err();
    assert!(
        matches!(error, BlobError::TooLarge { limit: l } if l == limit),
        "{error:?}"
    );
    assert_nothing_left(backend).await;
}

async fn failing_body_leaves_nothing(backend: &Backend) {
    let error = backend
        .store
        .stage(failing_body(b"half a file", 3), u64::MAX)
        .await
        .unwrap_err();
    let BlobError::Body { source } = &error else {
        panic!("not a body error: {error:?}");
    };
    assert_eq!(source.kind(), std::io::ErrorKind::ConnectionReset);
    assert_nothing_left(backend).await;
}

async fn failing_multipart_body_leaves_nothing(backend: &Backend) {
    let data = content(10 * MIB, 7);
    let error = backend
        .store
        .stage(failing_body(&data, MIB), u64::MAX)
        .await
        .unwrap_err();
    assert!(matches!(error, BlobError::Body { .. }), "{error:?}");
    assert_nothing_left(backend).await;
}

async fn cancelled_multipart_stage_leaves_nothing(backend: &Backend) {
    // The body sends 10 MiB (so a multipart upload has started) and then stalls, as a client
    // that stops sending would; the request handler is then dropped.
    let (reached_tx, reached_rx) = tokio::sync::oneshot::channel::<()>();
    let mut reached_tx = Some(reached_tx);
    let stalled = body(&content(10 * MIB, 8), MIB)
        .chain(stream::poll_fn(move |_| {
            if let Some(tx) = reached_tx.take() {
                tx.send(()).unwrap();
            }
            std::task::Poll::Pending
        }))
        .boxed();
    let staging = backend.store.stage(stalled, u64::MAX);
    tokio::select! {
        result = staging => panic!("a stalled body finished staging: {result:?}"),
        _ = reached_rx => {}
    }

    // The abort runs in the background after the drop; wait for it, but not forever.
    let mut pending = backend.pending_partials();
    for _ in 0..200 {
        if pending.unwrap_or(0) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        pending = backend.pending_partials();
    }
    assert_eq!(
        pending.unwrap_or(0),
        0,
        "the dropped upload was not aborted"
    );
    assert_nothing_left(backend).await;
}

async fn range_reads(backend: &Backend) {
    let data: Vec<u8> = (0..100u8).collect();
    let staged = stage(backend, &data).await;
    backend.store.publish(&staged).await.unwrap();
    let sha256 = staged.sha256().clone();
    backend.store.discard(staged).await.unwrap();

    let served: [(Range<u64>, Range<u64>); 6] = [
        (0..10, 0..10),
        (40..60, 40..60),
        (90..100, 90..100),
        (99..100, 99..100),
        (0..100, 0..100),
        // An end past the blob is clamped, as HTTP's `bytes=90-` or `bytes=90-500`.
        (90..u64::MAX, 90..100),
    ];
    for (requested, expected) in served {
        let reader = backend
            .store
            .open(&sha256, Some(requested.clone()))
            .await
            .unwrap();
        assert_eq!(reader.size, 100, "{requested:?}");
        assert_eq!(reader.range, expected, "{requested:?}");
        assert_eq!(
            reader.content_length(),
            expected.end - expected.start,
            "{requested:?}"
        );
        let start = usize::try_from(expected.start).unwrap();
        let end = usize::try_from(expected.end).unwrap();
        assert_eq!(read(reader).await, &data[start..end], "{requested:?}");
    }

    for requested in [100..101, 150..200, 5..5] {
        let error = backend
            .store
            .open(&sha256, Some(requested.clone()))
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                BlobError::RangeNotSatisfiable { start, end, size: 100 }
                    if start == requested.start && end == requested.end
            ),
            "{requested:?}: {error:?}"
        );
    }

    let missing = sha256_of(b"never stored");
    for range in [None, Some(0..10)] {
        let error = backend.store.open(&missing, range).await.unwrap_err();
        assert!(error.is_not_found(), "{error:?}");
    }
}

async fn contains_and_delete_are_idempotent(backend: &Backend) {
    let data = content(1000, 9);
    let sha256 = sha256_of(&data);
    assert!(!backend.store.contains(&sha256).await.unwrap());
    backend.store.delete(&sha256).await.unwrap();

    let staged = stage(backend, &data).await;
    backend.store.publish(&staged).await.unwrap();
    backend.store.discard(staged).await.unwrap();
    assert!(backend.store.contains(&sha256).await.unwrap());
    backend.store.delete(&sha256).await.unwrap();
    backend.store.delete(&sha256).await.unwrap();
    assert!(!backend.store.contains(&sha256).await.unwrap());
    let error = backend.store.open(&sha256, None).await.unwrap_err();
    assert!(
        matches!(&error, BlobError::NotFound { sha256: missing } if missing == &sha256),
        "{error:?}"
    );
    assert!(listed(backend).await.is_empty());
}

async fn purge_staging_removes_only_old_staging_objects(backend: &Backend) {
    let published = stage(backend, &content(200, 10)).await;
    backend.store.publish(&published).await.unwrap();
    let sha256 = published.sha256().clone();
    backend.store.discard(published).await.unwrap();

    let first = stage(backend, &content(200, 11)).await;
    let _second = stage(backend, &content(200, 12)).await;
    // Nothing is an hour old yet.
    assert_eq!(
        backend
            .store
            .purge_staging(Duration::from_hours(1))
            .await
            .unwrap(),
        0
    );
    // An age beyond the epoch covers nothing rather than failing.
    assert_eq!(backend.store.purge_staging(Duration::MAX).await.unwrap(), 0);
    assert_eq!(
        backend.store.purge_staging(Duration::ZERO).await.unwrap(),
        2
    );
    assert_eq!(
        backend.store.purge_staging(Duration::ZERO).await.unwrap(),
        0
    );

    // Published blobs are not staging objects.
    assert!(backend.store.contains(&sha256).await.unwrap());
    // A purged upload can no longer be published, and discarding it is harmless.
    assert!(matches!(
        backend.store.publish(&first).await,
        Err(BlobError::StagingGone { .. })
    ));
    backend.store.discard(first).await.unwrap();
}

async fn large_body_round_trips_through_multipart(backend: &Backend) {
    let data = content(LARGE, 13);
    // Mixed chunk sizes, one larger than a part, so parts are cut across chunk boundaries.
    let chunks: Vec<Bytes> = [
        (0, 3 * MIB + 17),
        (3 * MIB + 17, 13 * MIB),
        (13 * MIB, LARGE),
    ]
    .into_iter()
    .flat_map(|(start, end)| {
        let chunk = if end - start > 9 * MIB {
            end - start
        } else {
            65_536
        };
        data[start..end]
            .chunks(chunk)
            .map(Bytes::copy_from_slice)
            .collect::<Vec<_>>()
    })
    .collect();
    let staged = backend
        .store
        .stage(
            stream::iter(chunks.into_iter().map(Ok)).boxed(),
            LARGE as u64,
        )
        .await
        .unwrap();
    assert_eq!(staged.digests(), &expected_digests(&data));
    backend.store.publish(&staged).await.unwrap();

    let reader = backend.store.open(staged.sha256(), None).await.unwrap();
    assert_eq!(reader.size, LARGE as u64);
    let mut hasher = Sha256::new();
    let mut read_len = 0;
    let mut stream = reader.body;
    while let Some(chunk) = stream.try_next().await.unwrap() {
        read_len += chunk.len();
        hasher.update(&chunk);
    }
    assert_eq!(read_len, LARGE);
    assert_eq!(format!("{:x}", hasher.finalize()), staged.digests().sha256);

    // A range across the first part boundary.
    let boundary = 8 * MIB as u64;
    let reader = backend
        .store
        .open(staged.sha256(), Some(boundary - 10..boundary + 10))
        .await
        .unwrap();
    assert_eq!(read(reader).await, &data[8 * MIB - 10..8 * MIB + 10]);
    backend.store.discard(staged).await.unwrap();
}

async fn check_succeeds(backend: &Backend) {
    backend.store.check().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Backend-specific behaviour
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn filesystem_layout_and_root_creation() {
    let backend = Backend::filesystem();
    let Kind::Filesystem { root, .. } = &backend.kind else {
        unreachable!();
    };
    assert!(root.is_dir(), "the root was not created");
    let data = b"hello";
    let staged = stage(&backend, data).await;
    backend.store.publish(&staged).await.unwrap();
    let hex = staged.digests().sha256.clone();
    let file = root
        .join("sha256")
        .join(&hex[0..2])
        .join(&hex[2..4])
        .join(&hex);
    assert_eq!(std::fs::read(&file).unwrap(), data);
    backend.store.discard(staged).await.unwrap();
    assert_eq!(std::fs::read_dir(root.join("staging")).unwrap().count(), 0);
    // The published blob does not depend on the discarded staging file.
    assert_eq!(std::fs::read(&file).unwrap(), data);
}

#[tokio::test]
async fn filesystem_purge_removes_partial_files_of_crashed_uploads() {
    let backend = Backend::filesystem();
    let Kind::Filesystem { root, .. } = &backend.kind else {
        unreachable!();
    };
    // What a process killed during a multipart upload leaves: a temporary file that
    // object_store's listings hide.
    std::fs::create_dir_all(root.join("staging")).unwrap();
    std::fs::write(
        root.join("staging")
            .join(format!("{}#1", uuid::Uuid::new_v4())),
        b"partial",
    )
    .unwrap();
    assert_eq!(backend.pending_partials(), Some(1));
    assert_eq!(
        backend
            .store
            .purge_staging(Duration::from_hours(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        backend.store.purge_staging(Duration::ZERO).await.unwrap(),
        1
    );
    assert_eq!(backend.pending_partials(), Some(0));
}

#[tokio::test]
async fn filesystem_check_fails_when_the_root_is_gone() {
    let backend = Backend::filesystem();
    let Kind::Filesystem { root, .. } = &backend.kind else {
        unreachable!();
    };
    std::fs::remove_dir_all(root).unwrap();
    assert!(backend.store.check().await.is_err());
}

#[tokio::test]
async fn s3_check_fails_for_a_missing_bucket() {
    let Some(endpoint) = s3_endpoint() else {
        return;
    };
    if std::env::var("CONAN_REGISTRY_TEST_S3_BUCKET").is_ok_and(|bucket| !bucket.is_empty()) {
        // Credentials for a real server may not allow probing other buckets.
        return;
    }
    let store = open_blob_store(&BlobStoreConfig::S3(S3Config {
        allow_http: endpoint.starts_with("http://"),
        endpoint: Some(endpoint),
        bucket: format!("conan-missing-{}", uuid::Uuid::new_v4().simple()),
        access_key_id: Some("test".to_owned()),
        secret_access_key: Some("test".to_owned()),
        ..S3Config::default()
    }))
    .unwrap();
    let error = store.check().await.unwrap_err();
    assert!(matches!(error, BlobError::Backend { .. }), "{error:?}");
}

#[test]
fn s3_configuration_errors_name_the_setting() {
    let config = |edit: fn(&mut S3Config)| {
        let mut config = S3Config {
            bucket: "conan".to_owned(),
            endpoint: Some("https://s3.example.invalid".to_owned()),
            ..S3Config::default()
        };
        edit(&mut config);
        open_blob_store(&BlobStoreConfig::S3(config))
    };
    let message = |edit| config(edit).unwrap_err().to_string();

    assert!(config(|_| {}).is_ok());
    assert!(message(|c| c.bucket.clear()).contains("bucket"));
    assert!(message(|c| c.access_key_id = Some("id".to_owned())).contains("secret_access_key"));
    assert!(
        message(|c| c.endpoint = Some("http://127.0.0.1:9000".to_owned())).contains("allow_http")
    );
    assert!(message(|c| c.prefix = Some("a/../b".to_owned())).contains("prefix"));
    assert!(config(|c| c.prefix = Some("conan/prod".to_owned())).is_ok());
}
