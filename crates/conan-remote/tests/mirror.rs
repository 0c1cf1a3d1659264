//! The mirror against an upstream on loopback that counts what it is asked: a revision is
//! fetched once however many ask at once, stored byte for byte and committed; a body that does
//! not match its announced checksum commits nothing. On SQLite, and on PostgreSQL when its URL
//! is set.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

#[path = "../../conan-store/tests/support/mod.rs"]
mod db;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conan_remote::{Mirror, MirrorError};
use conan_store::blob::{BlobStore, BlobStoreConfig, open_blob_store};
use conan_store::{
    FileOwner, IdentityStore, MetadataStore, PackageRevisionKey, RecipeRevisionKey, Visibility,
};
use conan_upstream::{Upstream, UpstreamConfig};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const RREV: &str = "0123456789abcdef0123456789abcdef";
const PKG: &str = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
const PREV: &str = "fedcba9876543210fedcba9876543210";

/// The upstream's files by URL path: (body, announced sha1).
fn catalog() -> HashMap<String, (Vec<u8>, String)> {
    let sha1 = |body: &[u8]| format!("{:x}", Sha1::digest(body));
    let mut files = HashMap::new();
    let mut add = |path: String, body: &[u8], announced: Option<&str>| {
        files.insert(
            path,
            (
                body.to_vec(),
                announced.map_or_else(|| sha1(body), str::to_owned),
            ),
        );
    };
    let zlib = format!("/v2/conans/zlib/1.3/_/_/revisions/{RREV}");
    add(
        format!("{zlib}/files/conanfile.py"),
        b"from conan import ConanFile\n",
        None,
    );
    add(
        format!("{zlib}/files/conanmanifest.txt"),
        b"1700000000\nconanfile.py: 5d41402abc4b2a76b9719d911017c592\n",
        None,
    );
    let package = format!("{zlib}/packages/{PKG}/revisions/{PREV}");
    add(
        format!("{package}/files/conaninfo.txt"),
        b"[settings]\nos=Linux\n",
        None,
    );
    add(
        format!("{package}/files/conan_package.tgz"),
        &vec![7u8; 300_000],
        None,
    );
    add(
        format!("{package}/files/conanmanifest.txt"),
        b"1700000000\nconaninfo.txt: 5d41402abc4b2a76b9719d911017c592\n",
        None,
    );
    let bad = format!("/v2/conans/bad/1.0/_/_/revisions/{RREV}");
    add(
        format!("{bad}/files/conanfile.py"),
        b"the bytes",
        Some("0000000000000000000000000000000000000000"),
    );
    add(
        format!("{bad}/files/conanmanifest.txt"),
        b"1700000000\n",
        None,
    );
    files
}

/// Serves the catalog (file lists derived from it); counts the requests per path.
async fn upstream() -> (String, Arc<Mutex<HashMap<String, usize>>>) {
    let files = Arc::new(catalog());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let counts = Arc::new(Mutex::new(HashMap::new()));
    let counted = Arc::clone(&counts);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let files = Arc::clone(&files);
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                *counted.lock().unwrap().entry(path.clone()).or_insert(0) += 1;
                // Slow enough that concurrent asks overlap.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let (status, body, sha1) = if let Some((body, sha1)) = files.get(&path) {
                    ("200 OK", body.clone(), Some(sha1.clone()))
                } else if let Some(prefix) = path.strip_suffix("/files") {
                    let names: Vec<String> = files
                        .keys()
                        .filter_map(|key| key.strip_prefix(&format!("{prefix}/files/")))
                        .filter(|name| !name.contains('/'))
                        .map(|name| format!("\"{name}\": {{}}"))
                        .collect();
                    if names.is_empty() {
                        ("404 Not Found", Vec::new(), None)
                    } else {
                        (
                            "200 OK",
                            format!("{{\"files\": {{{}}}}}", names.join(", ")).into_bytes(),
                            None,
                        )
                    }
                } else {
                    ("404 Not Found", Vec::new(), None)
                };
                let checksum = sha1
                    .map(|sha1| format!("x-checksum-sha1: {sha1}\r\n"))
                    .unwrap_or_default();
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\n{checksum}connection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.write_all(&body).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (url, counts)
}

struct Setup {
    mirror: Arc<Mirror>,
    store: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    recipe: RecipeRevisionKey,
    _db: db::TestDb,
}

async fn setup(db: db::TestDb) -> Setup {
    let (url, counts) = upstream().await;
    let project = db
        .store
        .create_project("mirror/center", Visibility::Public)
        .unwrap()
        .id;
    let store: Arc<dyn MetadataStore> = Arc::new(db.store.clone());
    let blobs = open_blob_store(&BlobStoreConfig::Memory).unwrap();
    let upstream = Arc::new(Upstream::new(UpstreamConfig::new(url.parse().unwrap())).unwrap());
    let mirror = Arc::new(Mirror::new(
        upstream,
        Arc::clone(&store),
        Arc::clone(&blobs),
        1 << 20,
    ));
    let recipe = RecipeRevisionKey {
        project,
        recipe: "zlib/1.3".parse().unwrap(),
        revision: RREV.parse().unwrap(),
    };
    Setup {
        mirror,
        store,
        blobs,
        counts,
        recipe,
        _db: db,
    }
}

fn databases() -> Vec<db::TestDb> {
    std::iter::once(db::TestDb::sqlite())
        .chain(db::TestDb::postgres())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_asks_fetch_each_file_once_and_commit_it() {
    for database in databases() {
        let s = setup(database).await;
        let package = FileOwner::Package(PackageRevisionKey {
            recipe: s.recipe.clone(),
            package_id: PKG.parse().unwrap(),
            revision: PREV.parse().unwrap(),
        });
        let asks = (0..16).map(|_| {
            let mirror = Arc::clone(&s.mirror);
            let package = package.clone();
            tokio::spawn(async move { mirror.ensure(&package).await })
        });
        let outcomes = futures::future::join_all(asks).await;
        assert!(outcomes.into_iter().all(|outcome| outcome.unwrap().is_ok()));
        let counts = s.counts.lock().unwrap().clone();
        assert!(!counts.is_empty());
        assert!(counts.values().all(|&count| count == 1), "{counts:?}");
        // Stored byte for byte, and committed.
        let catalog = catalog();
        for owner in [FileOwner::Recipe(s.recipe.clone()), package.clone()] {
            let files = s.store.files(&owner).unwrap().expect("committed");
            for file in files {
                let zlib = format!("/v2/conans/zlib/1.3/_/_/revisions/{RREV}");
                let url = match owner {
                    FileOwner::Recipe(_) => format!("{zlib}/files/{}", file.path),
                    FileOwner::Package(_) => {
                        format!("{zlib}/packages/{PKG}/revisions/{PREV}/files/{}", file.path)
                    }
                };
                let expected = &catalog[&url].0;
                assert_eq!(file.digests.size, expected.len() as u64);
                assert_eq!(file.digests.sha1, format!("{:x}", Sha1::digest(expected)));
                assert!(s.blobs.contains(&file.digests.sha256).await.unwrap());
            }
        }
        // Asked again: nothing fetched.
        assert_eq!(s.mirror.ensure(&package).await, Ok(false));
        assert_eq!(*s.counts.lock().unwrap(), counts);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_match_its_checksum_commits_nothing() {
    for database in databases() {
        let s = setup(database).await;
        let bad = FileOwner::Recipe(RecipeRevisionKey {
            recipe: "bad/1.0".parse().unwrap(),
            ..s.recipe.clone()
        });
        let error = s.mirror.ensure(&bad).await.unwrap_err();
        assert!(
            matches!(&error, MirrorError::Refused { path, .. } if path == "conanfile.py"),
            "{error}"
        );
        assert_eq!(s.store.files(&bad).unwrap(), None);
        // The next ask tries again (nothing was cached from the failure).
        assert!(s.mirror.ensure(&bad).await.is_err());
        let path = format!("/v2/conans/bad/1.0/_/_/revisions/{RREV}/files/conanfile.py");
        assert_eq!(s.counts.lock().unwrap()[&path], 2);
        // What the upstream has not got.
        let missing = FileOwner::Recipe(RecipeRevisionKey {
            recipe: "missing/1.0".parse().unwrap(),
            ..s.recipe.clone()
        });
        assert!(matches!(
            s.mirror.ensure(&missing).await,
            Err(MirrorError::NotFound(_))
        ));
    }
}
