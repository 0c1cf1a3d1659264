//! Blob store conformance: one set of cases, run against every backend.
//!
//! The file system and memory backends always run. The S3 backend runs against two servers:
//! moto (`s3::*`) when `CONAN_REGISTRY_TEST_S3_ENDPOINT` is set (`scripts/s3-test-server run --
//! cargo test ...`), and Garage (`garage::*`) when `CONAN_REGISTRY_TEST_GARAGE_ENDPOINT` is set
//! (`scripts/garage-test-server run -- ...`). Without its endpoint a server's tests pass after
//! printing a "skipped" line, unless `CONAN_REGISTRY_TEST_REQUIRE_S3=1` (moto) or
//! `CONAN_REGISTRY_TEST_REQUIRE_GARAGE=1` makes them fail, so CI cannot skip them silently.
//!
//! For a server named `<NAME>` (`S3` or `GARAGE`), `CONAN_REGISTRY_TEST_<NAME>_REGION`,
//! `..._ACCESS_KEY_ID` and `..._SECRET_ACCESS_KEY` are used if set (moto accepts any). Without
//! `CONAN_REGISTRY_TEST_<NAME>_BUCKET`, every test creates a bucket of its own with a signed
//! `CreateBucket`; with it, every test uses a fresh key prefix inside that bucket and removes what
//! it wrote.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a panic is the failure report"
)]

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use conan_store::blob::{
    BlobError, BlobReader, BlobStore, BlobStoreConfig, Digests, FilesystemConfig, S3Config,
    Sha256Hex, StagedBlob, open_blob_store, open_blob_store_with_copy_limit,
};
use futures::stream::{self, BoxStream, StreamExt as _, TryStreamExt as _};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
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
    config: BlobStoreConfig,
    kind: Kind,
}

enum Kind {
    Filesystem {
        root: PathBuf,
        _dir: TempDir,
    },
    Memory,
    S3 {
        server: S3Server,
        bucket: String,
        /// The key prefix of this test inside a shared bucket, or `None` for a bucket of its own.
        prefix: Option<String>,
    },
}

impl Backend {
    fn open(config: BlobStoreConfig, kind: Kind) -> Self {
        Self {
            store: open_blob_store(&config).unwrap(),
            config,
            kind,
        }
    }

    fn filesystem() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // A root that does not exist yet: opening the store creates it.
        let root = dir.path().join("data").join("blobs");
        Self::open(
            BlobStoreConfig::Filesystem(FilesystemConfig { root: root.clone() }),
            Kind::Filesystem { root, _dir: dir },
        )
    }

    fn memory() -> Self {
        Self::open(BlobStoreConfig::Memory, Kind::Memory)
    }

    /// The S3 backend on `server`, with a bucket of the test's own (or a key prefix of its own
    /// in the server's shared bucket).
    fn s3(server: S3Server) -> Self {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let (bucket, prefix) = if let Some(bucket) = &server.shared_bucket {
            (bucket.clone(), Some(format!("conan-blob-test/{unique}")))
        } else {
            let bucket = format!("conan-blob-{unique}");
            server.create_bucket(&bucket);
            (bucket, None)
        };
        let config = server.config(&bucket, prefix.clone());
        Self::open(
            BlobStoreConfig::S3(config),
            Kind::S3 {
                server,
                bucket,
                prefix,
            },
        )
    }

    /// The same backend (same directory or bucket), publishing every blob over `copy_limit`
    /// bytes the way S3 publishes blobs over 5 GiB.
    fn with_copy_limit(&self, copy_limit: u64) -> Arc<dyn BlobStore> {
        open_blob_store_with_copy_limit(&self.config, copy_limit).unwrap()
    }

    /// The backend's objects seen directly through `object_store`, bypassing the blob store, to
    /// tamper with them; `None` for memory, whose map only the store holds.
    fn raw(&self) -> Option<Arc<dyn ObjectStore>> {
        match &self.kind {
            Kind::Filesystem { root, .. } => {
                Some(Arc::new(LocalFileSystem::new_with_prefix(root).unwrap()))
            }
            Kind::Memory => None,
            Kind::S3 {
                server,
                bucket,
                prefix,
            } => {
                let s3 = AmazonS3Builder::new()
                    .with_endpoint(&server.endpoint)
                    .with_allow_http(true)
                    .with_region(&server.region)
                    .with_bucket_name(bucket)
                    .with_access_key_id(&server.access_key_id)
                    .with_secret_access_key(&server.secret_access_key)
                    .with_virtual_hosted_style_request(false)
                    .build()
                    .unwrap();
                Some(match prefix {
                    Some(prefix) => Arc::new(PrefixStore::new(s3, prefix.as_str())),
                    None => Arc::new(s3),
                })
            }
        }
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
                server,
                bucket,
                prefix,
            } => {
                let mut query = vec![("uploads", String::new())];
                if let Some(prefix) = prefix {
                    query.push(("prefix", format!("{prefix}/")));
                }
                let (status, body) = server.request("GET", &format!("/{bucket}"), &query);
                assert_eq!(status, 200, "listing multipart uploads failed: {body}");
                Some(body.matches("<Upload>").count())
            }
        }
    }

    /// Removes what a test left in a shared bucket.
    async fn cleanup(self) {
        if let Kind::S3 {
            prefix: Some(_), ..
        } = self.kind
        {
            self.store.purge_staging(Duration::ZERO).await.unwrap();
            let blobs: Vec<_> = self.store.list().try_collect().await.unwrap();
            for blob in blobs {
                self.store.delete(&blob.sha256).await.unwrap();
            }
        }
    }
}

/// An S3-protocol server to test against, named by `CONAN_REGISTRY_TEST_<NAME>_*` variables.
struct S3Server {
    endpoint: String,
    region: String,
    access_key_id: String,
    secret_access_key: String,
    /// An existing bucket to work in under per-test prefixes, instead of a bucket per test.
    shared_bucket: Option<String>,
}

impl S3Server {
    /// moto, from `CONAN_REGISTRY_TEST_S3_*` (`scripts/s3-test-server`).
    fn moto() -> Option<Self> {
        Self::from_env("S3", "s3-test-server")
    }

    /// Garage, from `CONAN_REGISTRY_TEST_GARAGE_*` (`scripts/garage-test-server`).
    fn garage() -> Option<Self> {
        Self::from_env("GARAGE", "garage-test-server")
    }

    /// The server that `CONAN_REGISTRY_TEST_<name>_ENDPOINT` names, or `None` (after saying so
    /// once) when it is unset, which fails instead when `CONAN_REGISTRY_TEST_REQUIRE_<name>=1`.
    fn from_env(name: &str, script: &str) -> Option<Self> {
        static SKIP_NOTICE: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let env = |variable: &str| {
            std::env::var(format!("CONAN_REGISTRY_TEST_{name}_{variable}"))
                .ok()
                .filter(|value| !value.is_empty())
        };
        let Some(endpoint) = env("ENDPOINT") else {
            assert!(
                std::env::var(format!("CONAN_REGISTRY_TEST_REQUIRE_{name}")).as_deref() != Ok("1"),
                "CONAN_REGISTRY_TEST_REQUIRE_{name}=1 but CONAN_REGISTRY_TEST_{name}_ENDPOINT is \
                 not set: run the tests through `scripts/{script} run -- <command>`"
            );
            let mut noticed = SKIP_NOTICE.lock().unwrap();
            if !noticed.iter().any(|seen| seen == name) {
                noticed.push(name.to_owned());
                // Written to the real stderr, not through `eprintln!`, so the test harness does
                // not swallow it for a passing test.
                let _ = writeln!(
                    std::io::stderr(),
                    "blob_conformance: {name} cases skipped: set \
                     CONAN_REGISTRY_TEST_{name}_ENDPOINT (or run `scripts/{script} run -- cargo \
                     test -p conan-store --test blob_conformance`)"
                );
            }
            return None;
        };
        Some(Self {
            endpoint,
            // moto accepts any region and keys.
            region: env("REGION").unwrap_or_else(|| "us-east-1".to_owned()),
            access_key_id: env("ACCESS_KEY_ID").unwrap_or_else(|| "test".to_owned()),
            secret_access_key: env("SECRET_ACCESS_KEY").unwrap_or_else(|| "test".to_owned()),
            shared_bucket: env("BUCKET"),
        })
    }

    /// The store's settings for `bucket` on this server.
    fn config(&self, bucket: &str, prefix: Option<String>) -> S3Config {
        S3Config {
            endpoint: Some(self.endpoint.clone()),
            allow_http: self.endpoint.starts_with("http://"),
            bucket: bucket.to_owned(),
            region: self.region.clone(),
            access_key_id: Some(self.access_key_id.clone()),
            secret_access_key: Some(self.secret_access_key.clone()),
            prefix,
            ..S3Config::default()
        }
    }

    /// Creates a bucket with a signed, path-style `PUT /<bucket>` (`CreateBucket`).
    fn create_bucket(&self, bucket: &str) {
        let (status, body) = self.request("PUT", &format!("/{bucket}"), &[]);
        assert_eq!(status, 200, "creating bucket {bucket} failed: {body}");
    }

    /// One request without a body, signed with AWS Signature Version 4 (what `object_store`
    /// does not offer: bucket creation and multipart upload listings); returns the status and
    /// the response body.
    fn request(&self, method: &str, path: &str, query: &[(&str, String)]) -> (u16, String) {
        let authority = self
            .endpoint
            .strip_prefix("http://")
            .unwrap_or_else(|| {
                panic!(
                    "the S3 endpoint {} is not plain http, so this test cannot inspect it: set \
                     its BUCKET variable to an existing bucket",
                    self.endpoint
                )
            })
            .trim_end_matches('/');
        let mut query: Vec<String> = query
            .iter()
            .map(|(key, value)| format!("{}={}", uri_encode(key), uri_encode(value)))
            .collect();
        query.sort();
        let query = query.join("&");
        let (timestamp, date) = amz_now();
        let payload = hex(&Sha256::digest(b""));
        let signed_headers = "host;x-amz-content-sha256;x-amz-date";
        let canonical = format!(
            "{method}\n{path}\n{query}\nhost:{authority}\nx-amz-content-sha256:{payload}\n\
             x-amz-date:{timestamp}\n\n{signed_headers}\n{payload}"
        );
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{timestamp}\n{scope}\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let mut key = hmac_sha256(format!("AWS4{}", self.secret_access_key).as_bytes(), &date);
        for part in [self.region.as_str(), "s3", "aws4_request"] {
            key = hmac_sha256(&key, part);
        }
        let signature = hex(&hmac_sha256(&key, &to_sign));
        let target = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        let mut connection = std::net::TcpStream::connect(authority).unwrap();
        connection
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            connection,
            "{method} {target} HTTP/1.1\r\nHost: {authority}\r\nx-amz-date: {timestamp}\r\n\
             x-amz-content-sha256: {payload}\r\nAuthorization: AWS4-HMAC-SHA256 \
             Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
            self.access_key_id
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
}

/// HMAC-SHA256 (RFC 2104), the one primitive Signature Version 4 needs beyond sha256.
fn hmac_sha256(key: &[u8], message: &str) -> Vec<u8> {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message.as_bytes())
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// Percent-encoding as Signature Version 4 wants it: everything but unreserved characters.
fn uri_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

/// The current time as `x-amz-date` (`20240102T030405Z`) and as the scope's date (`20240102`).
fn amz_now() -> (String, String) {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let days = i64::try_from(seconds / 86_400).unwrap();
    let time = seconds % 86_400;
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let date = format!("{year:04}{month:02}{day:02}");
    let timestamp = format!(
        "{date}T{:02}{:02}{:02}Z",
        time / 3600,
        time % 3600 / 60,
        time % 60
    );
    (timestamp, date)
}

/// Declares every case once per backend: `filesystem::case`, `memory::case`, `s3::case` (moto)
/// and `garage::case`.
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

        conformance!(@s3 s3, moto; $($case),+);
        conformance!(@s3 garage, garage; $($case),+);
    };
    (@s3 $module:ident, $server:ident; $($case:ident),+) => {
        mod $module {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(server) = super::S3Server::$server() else {
                        return;
                    };
                    let backend = super::Backend::s3(server);
                    super::$case(&backend).await;
                    backend.cleanup().await;
                }
            )+

            #[tokio::test]
            async fn check_fails_for_a_missing_bucket() {
                if let Some(server) = super::S3Server::$server() {
                    super::check_fails_for_a_missing_bucket(server).await;
                }
            }
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
    large_blob_is_published_by_a_verified_reupload,
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
        sha256: format!("{:x}", Sha256::digest(data)).parse().unwrap(),
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

    // The abort runs in the background after the drop, and this runtime has one thread that has
    // not yielded since: the started upload is still there, which proves the check below can
    // see one.
    assert_ne!(
        backend.pending_partials(),
        Some(0),
        "the started upload is not visible"
    );
    // Now wait for the abort, but not forever.
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

async fn large_blob_is_published_by_a_verified_reupload(backend: &Backend) {
    // Every blob over 1 MiB takes the path S3 takes over 5 GiB: 20 MiB, three parts. (On
    // memory this is a new, empty store; elsewhere the same directory or bucket.)
    let store = backend.with_copy_limit(MIB as u64);
    let data = content(LARGE, 14);
    let staged = store.stage(body(&data, MIB), u64::MAX).await.unwrap();
    store.publish(&staged).await.unwrap();
    assert_eq!(
        read(store.open(staged.sha256(), None).await.unwrap()).await,
        data
    );
    // Idempotent, and the kept staging object restores a blob a collector deleted.
    store.publish(&staged).await.unwrap();
    store.delete(staged.sha256()).await.unwrap();
    store.publish(&staged).await.unwrap();
    assert_eq!(
        read(store.open(staged.sha256(), None).await.unwrap()).await,
        data
    );
    assert_eq!(backend.pending_partials().unwrap_or(0), 0, "upload left");
    store.discard(staged).await.unwrap();

    // A staging object changed behind the store's back (same size, one bit flipped) is never
    // published, and the upload that read it is aborted.
    let Some(raw) = backend.raw() else {
        return;
    };
    // The store opened normally sees the re-uploaded blob like any other.
    assert_eq!(listed(backend).await, vec![sha256_of(&data)]);
    assert_eq!(read_blob(backend, &sha256_of(&data)).await, data);
    let other = content(LARGE, 15);
    let staged = store.stage(body(&other, MIB), u64::MAX).await.unwrap();
    let staging: Vec<ObjectPath> = raw
        .list(Some(&ObjectPath::from("staging")))
        .map_ok(|meta| meta.location)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(staging.len(), 1, "{staging:?}");
    let mut tampered = other.clone();
    tampered[LARGE / 2] ^= 1;
    raw.put(&staging[0], PutPayload::from(tampered))
        .await
        .unwrap();
    let error = store.publish(&staged).await.unwrap_err();
    assert!(
        matches!(error, BlobError::StagingChanged { .. }),
        "{error:?}"
    );
    assert!(!backend.store.contains(staged.sha256()).await.unwrap());
    assert_eq!(
        backend.pending_partials().unwrap_or(0),
        0,
        "the refused publish left its upload"
    );
    store.discard(staged).await.unwrap();
    assert_eq!(listed(backend).await, vec![sha256_of(&data)]);
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
    let hex = staged.digests().sha256.to_string();
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

/// A bucket that does not exist fails the readiness check (a bucket per test only: credentials
/// for a shared bucket may not allow probing others).
async fn check_fails_for_a_missing_bucket(server: S3Server) {
    if server.shared_bucket.is_some() {
        return;
    }
    let bucket = format!("conan-missing-{}", uuid::Uuid::new_v4().simple());
    let store = open_blob_store(&BlobStoreConfig::S3(server.config(&bucket, None))).unwrap();
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
