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
mod upstream;

use std::sync::Arc;

use conan_remote::{Mirror, MirrorError, Tapped};
use conan_store::blob::{BlobStore, BlobStoreConfig, open_blob_store};
use conan_store::{
    FileOwner, IdentityStore, MetadataStore, PackageRevisionKey, RecipeRevisionKey, Visibility,
};
use conan_upstream::{Upstream, UpstreamConfig};
use futures::StreamExt;
use sha1::{Digest, Sha1};
use upstream::{PACKAGE_TIME, PKG, PREV, RECIPE_TIME, RREV, TestUpstream, catalog};

struct Setup {
    mirror: Arc<Mirror>,
    store: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    upstream: TestUpstream,
    recipe: RecipeRevisionKey,
    _db: db::TestDb,
}

async fn setup(db: db::TestDb) -> Setup {
    let upstream = upstream::start().await;
    let url = upstream.url.clone();
    let project = db
        .store
        .create_project("mirror/center", Visibility::Public)
        .unwrap()
        .id;
    let store: Arc<dyn MetadataStore> = Arc::new(db.store.clone());
    let blobs = open_blob_store(&BlobStoreConfig::Memory).unwrap();
    let client = Arc::new(Upstream::new(UpstreamConfig::new(url.parse().unwrap())).unwrap());
    let mirror = Arc::new(Mirror::new(
        client,
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
        upstream,
        recipe,
        _db: db,
    }
}

impl Setup {
    /// The upstream's package revision of zlib.
    fn package(&self) -> FileOwner {
        FileOwner::Package(PackageRevisionKey {
            recipe: self.recipe.clone(),
            package_id: PKG.parse().unwrap(),
            revision: PREV.parse().unwrap(),
        })
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
        let package = s.package();
        let asks = (0..16).map(|_| {
            let mirror = Arc::clone(&s.mirror);
            let package = package.clone();
            tokio::spawn(async move { mirror.ensure(&package).await })
        });
        let outcomes = futures::future::join_all(asks).await;
        assert!(outcomes.into_iter().all(|outcome| outcome.unwrap().is_ok()));
        let counts = s.upstream.counts.lock().unwrap().clone();
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
        // Committed at the upstream's times, not the registry's clock.
        let recipe = s.store.recipe_revision(&s.recipe).unwrap().unwrap();
        assert_eq!(recipe.time, RECIPE_TIME.parse().unwrap());
        let FileOwner::Package(key) = &package else {
            unreachable!()
        };
        let binary = s.store.package_revision(key).unwrap().unwrap();
        assert_eq!(binary.time, PACKAGE_TIME.parse().unwrap());
        // Asked again: nothing fetched.
        assert_eq!(s.mirror.ensure(&package).await, Ok(false));
        assert_eq!(*s.upstream.counts.lock().unwrap(), counts);
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
        assert_eq!(s.upstream.counts.lock().unwrap()[&path], 2);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_the_upstream_has_not_got_is_asked_once_per_ttl() {
    let s = setup(db::TestDb::sqlite()).await;
    let client =
        Arc::new(Upstream::new(UpstreamConfig::new(s.upstream.url.parse().unwrap())).unwrap());
    let mirror = Arc::new(
        Mirror::new(client, Arc::clone(&s.store), Arc::clone(&s.blobs), 1 << 20)
            .with_not_found_ttl(std::time::Duration::from_millis(300)),
    );
    let missing = FileOwner::Recipe(RecipeRevisionKey {
        recipe: "missing/1.0".parse().unwrap(),
        ..s.recipe.clone()
    });
    let path = format!("/v2/conans/missing/1.0/_/_/revisions/{RREV}/files");
    for _ in 0..3 {
        assert!(matches!(
            mirror.ensure(&missing).await,
            Err(MirrorError::NotFound(_))
        ));
    }
    assert_eq!(s.upstream.count(&path), 1, "kept for the time to live");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(mirror.ensure(&missing).await.is_err());
    assert_eq!(s.upstream.count(&path), 2, "asked again once it expired");
    // A failure that is not "not found" is never kept.
    let bad = FileOwner::Recipe(RecipeRevisionKey {
        recipe: "bad/1.0".parse().unwrap(),
        ..s.recipe.clone()
    });
    let bad_path = format!("/v2/conans/bad/1.0/_/_/revisions/{RREV}/files/conanfile.py");
    assert!(mirror.ensure(&bad).await.is_err());
    assert!(mirror.ensure(&bad).await.is_err());
    assert_eq!(s.upstream.count(&bad_path), 2);
}

/// Reads a tapped file whole: its bytes, or the error its stream ended with.
async fn read_tapped(tapped: Tapped) -> Result<Vec<u8>, std::io::Error> {
    match tapped {
        Tapped::Bytes(bytes) => Ok(bytes.to_vec()),
        Tapped::Stored(digests) => panic!("expected bytes, got a stored file {digests:?}"),
        Tapped::Live { mut body, .. } => {
            let mut all = Vec::new();
            while let Some(chunk) = body.next().await {
                all.extend_from_slice(&chunk?);
            }
            Ok(all)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_get_the_list_and_files_while_the_revision_is_fetched() {
    for database in databases() {
        let s = setup(database).await;
        let package = s.package();
        let base = format!(
            "/v2/conans/zlib/1.3/_/_/revisions/{RREV}/packages/{PKG}/revisions/{PREV}/files"
        );
        let mut listed = s
            .mirror
            .listing(&package)
            .await
            .unwrap()
            .expect("not held yet");
        listed.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        let names: Vec<&str> = listed.iter().map(conan_model::FilePath::as_str).collect();
        assert_eq!(
            names,
            ["conan_package.tgz", "conaninfo.txt", "conanmanifest.txt"]
        );
        // 16 readers of each file at once, in the order Conan asks: every one gets the
        // upstream's bytes (as they arrive, from memory, or from the stored blob), and the
        // upstream sends each file once.
        let catalog = catalog();
        let reads = listed.iter().flat_map(|path| {
            (0..16).map(|_| {
                let (mirror, package, path, blobs) = (
                    Arc::clone(&s.mirror),
                    package.clone(),
                    path.clone(),
                    Arc::clone(&s.blobs),
                );
                tokio::spawn(async move {
                    match mirror.tap(&package, &path).await.unwrap() {
                        Some(Tapped::Stored(digests)) => {
                            let mut reader = blobs.open(&digests.sha256, None).await.unwrap();
                            let mut all = Vec::new();
                            while let Some(chunk) = reader.body.next().await {
                                all.extend_from_slice(&chunk.unwrap());
                            }
                            (path, Some(all))
                        }
                        Some(tapped) => (path, Some(read_tapped(tapped).await.unwrap())),
                        // Committed meanwhile: the store has it.
                        None => (path, None),
                    }
                })
            })
        });
        for read in futures::future::join_all(reads.collect::<Vec<_>>()).await {
            let (path, bytes) = read.unwrap();
            if let Some(bytes) = bytes {
                assert_eq!(bytes, catalog[&format!("{base}/{path}")].0, "{path}");
            }
        }
        // The revision is committed once the manifest, held in memory, is stored last.
        let started = std::time::Instant::now();
        while s.store.files(&package).unwrap().is_none() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "never committed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let counts = s.upstream.counts.lock().unwrap().clone();
        assert!(counts.values().all(|&count| count == 1), "{counts:?}");
        assert_eq!(
            s.mirror
                .tap(&package, &listed[0])
                .await
                .unwrap()
                .map(|_| ()),
            None
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_of_a_refused_body_gets_an_error_never_a_whole_file() {
    let s = setup(db::TestDb::sqlite()).await;
    let bad = FileOwner::Recipe(RecipeRevisionKey {
        recipe: "bad/1.0".parse().unwrap(),
        ..s.recipe.clone()
    });
    let path = "conanfile.py".parse().unwrap();
    match s.mirror.tap(&bad, &path).await {
        // Joined while it streamed: the stream fails, short of the whole body (its last chunk
        // is held back until the store accepts it), so no reader takes it for a whole file.
        Ok(Some(Tapped::Live { mut body, .. })) => {
            let mut received = 0;
            let mut failed = false;
            while let Some(chunk) = body.next().await {
                match chunk {
                    Ok(bytes) => received += bytes.len(),
                    Err(_) => failed = true,
                }
            }
            assert!(failed && received < b"the bytes".len(), "{received} bytes");
        }
        // Or the fetch had already failed.
        Err(MirrorError::Refused { .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(s.store.files(&bad).unwrap(), None);
    // A file the upstream's list does not name is not found.
    let absent = "nothing.txt".parse().unwrap();
    assert!(matches!(
        s.mirror.tap(&bad, &absent).await,
        Err(MirrorError::NotFound(_) | MirrorError::Refused { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_the_one_its_manifest_lists_commits_nothing() {
    let s = setup(db::TestDb::sqlite()).await;
    let tampered = FileOwner::Recipe(RecipeRevisionKey {
        recipe: "tampered/1.0".parse().unwrap(),
        ..s.recipe.clone()
    });
    let error = s.mirror.ensure(&tampered).await.unwrap_err();
    assert!(
        matches!(&error, MirrorError::Refused { path, message } if path == "conanfile.py" && message.contains("conanmanifest.txt")),
        "{error}"
    );
    assert_eq!(s.store.files(&tampered).unwrap(), None);
}
