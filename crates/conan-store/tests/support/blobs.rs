//! A metadata store and a filesystem blob store side by side, for the tests of the protocols
//! that span both (`transfer.rs`, `backups.rs`, which include it as `mod blobs`; it is not part
//! of `support`, which other crates' tests include too).

#![allow(
    clippy::unwrap_used,
    dead_code,
    unreachable_pub,
    reason = "test set-up: a panic is the failure report; each test uses a part"
)]

use std::sync::Arc;

use bytes::Bytes;
use conan_store::blob::{BlobStore, BlobStoreConfig, FilesystemConfig, Sha256Hex, open_blob_store};
use conan_store::{MetadataStore, ProjectId, Visibility};
use futures::StreamExt;
use futures::stream::{self, BoxStream};

use crate::support::TestDb;

pub struct Fixture {
    // Dropped last: the database outlives the stores that use it.
    pub metadata: Arc<dyn MetadataStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub blob_root: tempfile::TempDir,
    pub project: ProjectId,
    pub _db: TestDb,
}

pub fn fixtures() -> Vec<(&'static str, Fixture)> {
    let mut all = vec![("sqlite", fixture(TestDb::sqlite()))];
    if let Some(db) = TestDb::postgres() {
        all.push(("postgres", fixture(db)));
    }
    all
}

pub fn fixture(db: TestDb) -> Fixture {
    let blob_root = tempfile::tempdir().unwrap();
    let blobs = open_blob_store(&BlobStoreConfig::Filesystem(FilesystemConfig {
        root: blob_root.path().join("blobs"),
    }))
    .unwrap();
    let metadata: Arc<dyn MetadataStore> = Arc::new(db.store.clone());
    let project = metadata
        .create_project("group/project", Visibility::Public)
        .unwrap()
        .id;
    Fixture {
        metadata,
        blobs,
        blob_root,
        project,
        _db: db,
    }
}

pub fn body(content: &[u8]) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
    let chunks: Vec<Result<Bytes, std::io::Error>> = content
        .chunks(7)
        .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
        .collect();
    stream::iter(chunks).boxed()
}

pub async fn published(f: &Fixture) -> usize {
    f.blobs.list().collect::<Vec<_>>().await.len()
}

pub async fn read_blob(f: &Fixture, sha256: &str) -> Vec<u8> {
    let mut reader = f
        .blobs
        .open(&Sha256Hex::parse(sha256).unwrap(), None)
        .await
        .unwrap();
    let mut bytes = Vec::new();
    while let Some(chunk) = reader.body.next().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    bytes
}
