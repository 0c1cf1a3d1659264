//! The protocols across both stores (`conan_store::transfer`): storing uploads, checksum-deploy
//! links, garbage collection racing uploads, and verification. Each test runs on SQLite and,
//! when configured, PostgreSQL, with blobs on the filesystem.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is the failure report"
)]

#[path = "support/blobs.rs"]
mod blobs;
mod support;

use std::sync::Arc;
use std::time::Duration;

use blobs::{Fixture, body, fixtures, published, read_blob};
use bytes::Bytes;
use conan_model::{FilePath, PackageId, RecipeReference, Revision};
use conan_store::blob::{BlobError, Digests, Sha256Hex, md5_hex};
use conan_store::transfer::{
    BlobProblem, Destination, TransferError, collect_garbage, fill_md5, link_by_sha1, store_file,
    verify_blobs,
};
use conan_store::{FileOutcome, FileOwner, PackageRevisionKey, ProjectId, RecipeRevisionKey};
use futures::StreamExt;
use futures::stream::{self, BoxStream};

fn recipe(project: ProjectId, revision: u32) -> RecipeRevisionKey {
    RecipeRevisionKey {
        project,
        recipe: "zlib/1.3".parse::<RecipeReference>().unwrap(),
        revision: format!("{revision:032x}").parse::<Revision>().unwrap(),
    }
}

fn package(recipe: &RecipeRevisionKey) -> PackageRevisionKey {
    PackageRevisionKey {
        recipe: recipe.clone(),
        package_id: "a".repeat(40).parse::<PackageId>().unwrap(),
        revision: "b".repeat(32).parse::<Revision>().unwrap(),
    }
}

/// Where a test file goes: `path` of `owner`, in no Conan 1 upload.
fn to(owner: &FileOwner, path: FilePath) -> Destination {
    Destination {
        owner: owner.clone(),
        path,
        upload: None,
        revision_time: None,
    }
}

async fn put(
    f: &Fixture,
    owner: &FileOwner,
    path: &str,
    content: &[u8],
) -> Result<conan_store::transfer::StoredFile, TransferError> {
    store_file(
        Arc::clone(&f.metadata),
        Arc::clone(&f.blobs),
        to(owner, path.parse().unwrap()),
        body(content),
        1024 * 1024,
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_is_stored_whole_and_commits_on_its_manifest() {
    for (backend, f) in fixtures() {
        let key = recipe(f.project, 1);
        let owner = FileOwner::Recipe(key.clone());
        let stored = put(&f, &owner, "conanfile.py", b"from conan import ConanFile")
            .await
            .unwrap();
        assert_eq!(
            stored.digests,
            Digests::of(b"from conan import ConanFile"),
            "{backend}"
        );
        assert_eq!(stored.recorded.outcome, FileOutcome::Created);
        assert_eq!(
            f.metadata.files(&owner).unwrap(),
            None,
            "{backend}: not committed yet"
        );
        let manifest = put(&f, &owner, "conanmanifest.txt", b"1\n").await.unwrap();
        assert!(manifest.recorded.committed.is_some(), "{backend}");
        let files = f.metadata.files(&owner).unwrap().unwrap();
        assert_eq!(files.len(), 2, "{backend}");
        assert_eq!(
            read_blob(&f, stored.digests.sha256.as_str()).await,
            b"from conan import ConanFile"
        );
        // The staging copies are gone once the metadata committed.
        assert_eq!(
            f.blobs.purge_staging(Duration::ZERO).await.unwrap(),
            0,
            "{backend}"
        );

        // A package's conaninfo.txt is kept as text for package search.
        let package = FileOwner::Package(package(&key));
        put(&f, &package, "conaninfo.txt", b"[settings]\nos=Linux\n")
            .await
            .unwrap();
        put(&f, &package, "conanmanifest.txt", b"2\n")
            .await
            .unwrap();
        let packages = f.metadata.packages(&key).unwrap();
        assert_eq!(
            packages[0].conaninfo.as_deref(),
            Some("[settings]\nos=Linux\n"),
            "{backend}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_uploads_leave_nothing_behind() {
    for (backend, f) in fixtures() {
        let owner = FileOwner::Recipe(recipe(f.project, 1));
        let path: FilePath = "conanfile.py".parse().unwrap();

        let mismatch = store_file(
            Arc::clone(&f.metadata),
            Arc::clone(&f.blobs),
            to(&owner, path.clone()),
            body(b"content"),
            1024,
            Some(&"0".repeat(40)),
        )
        .await;
        assert!(
            matches!(mismatch, Err(TransferError::ChecksumMismatch { .. })),
            "{backend}: {mismatch:?}"
        );

        let too_large = store_file(
            Arc::clone(&f.metadata),
            Arc::clone(&f.blobs),
            to(&owner, path.clone()),
            body(&[7; 100]),
            50,
            None,
        )
        .await;
        assert!(
            matches!(
                too_large,
                Err(TransferError::Blob(
                    conan_store::blob::BlobError::TooLarge { .. }
                ))
            ),
            "{backend}"
        );

        let broken: BoxStream<'static, Result<Bytes, std::io::Error>> = stream::iter(vec![
            Ok(Bytes::from_static(b"half a file")),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "client went away",
            )),
        ])
        .boxed();
        let disconnected = store_file(
            Arc::clone(&f.metadata),
            Arc::clone(&f.blobs),
            to(&owner, path.clone()),
            broken,
            1024,
            None,
        )
        .await;
        assert!(disconnected.is_err(), "{backend}");

        assert_eq!(published(&f).await, 0, "{backend}: no blob published");
        assert!(
            f.metadata.indexed_blobs(None, 10).unwrap().is_empty(),
            "{backend}: no blob indexed"
        );
        assert_eq!(
            f.blobs.purge_staging(Duration::ZERO).await.unwrap(),
            0,
            "{backend}: no staging left"
        );
        let sha1 = Digests::of(b"content").sha1;
        let matching = store_file(
            Arc::clone(&f.metadata),
            Arc::clone(&f.blobs),
            to(&owner, path),
            body(b"content"),
            1024,
            Some(&sha1.to_uppercase()),
        )
        .await;
        assert!(
            matching.is_ok(),
            "{backend}: the announced sha1 is compared case-insensitively"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn checksum_deploy_links_known_content_with_the_same_effects() {
    for (backend, f) in fixtures() {
        let first = FileOwner::Recipe(recipe(f.project, 1));
        put(&f, &first, "conanmanifest.txt", b"1\nsame\n")
            .await
            .unwrap();
        let second = FileOwner::Recipe(recipe(f.project, 2));
        let sha1 = Digests::of(b"1\nsame\n").sha1;
        let linked = link_by_sha1(
            Arc::clone(&f.metadata),
            Arc::clone(&f.blobs),
            to(&second, "conanmanifest.txt".parse().unwrap()),
            &sha1,
        )
        .await
        .unwrap();
        let linked = linked.expect("a known sha1 links");
        assert!(
            linked.recorded.committed.is_some(),
            "{backend}: a linked manifest commits"
        );
        assert_eq!(f.metadata.files(&second).unwrap().unwrap().len(), 1);
        let unknown = link_by_sha1(
            Arc::clone(&f.metadata),
            Arc::clone(&f.blobs),
            to(&second, "conanfile.py".parse().unwrap()),
            &"1".repeat(40),
        )
        .await
        .unwrap();
        assert!(unknown.is_none(), "{backend}");
        assert_eq!(published(&f).await, 1, "{backend}: stored once");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_collection_removes_only_unreferenced_blobs() {
    for (backend, f) in fixtures() {
        let one = recipe(f.project, 1);
        let two = recipe(f.project, 2);
        for key in [&one, &two] {
            let owner = FileOwner::Recipe(key.clone());
            put(&f, &owner, "conan_export.tgz", b"shared")
                .await
                .unwrap();
            put(&f, &owner, "conanfile.py", key.revision.as_str().as_bytes())
                .await
                .unwrap();
            put(&f, &owner, "conanmanifest.txt", b"1\n").await.unwrap();
        }
        assert_eq!(published(&f).await, 4, "{backend}");
        assert!(f.metadata.delete_recipe_revision(&one).unwrap());
        let report = collect_garbage(
            Arc::clone(&f.metadata),
            Arc::clone(&f.blobs),
            Duration::ZERO,
            Duration::from_hours(1),
        )
        .await
        .unwrap();
        assert_eq!(
            report.deleted, 1,
            "{backend}: only revision one's own conanfile.py: {report:?}"
        );
        assert_eq!(published(&f).await, 3, "{backend}");
        // What is left still downloads.
        for file in f
            .metadata
            .files(&FileOwner::Recipe(two.clone()))
            .unwrap()
            .unwrap()
        {
            assert_eq!(
                read_blob(&f, file.digests.sha256.as_str()).await.len() as u64,
                file.digests.size
            );
        }
        assert!(
            verify_blobs(Arc::clone(&f.metadata), Arc::clone(&f.blobs), |_| {})
                .await
                .unwrap()
                .is_empty()
        );
        // A second run finds nothing.
        let again = collect_garbage(
            Arc::clone(&f.metadata),
            Arc::clone(&f.blobs),
            Duration::ZERO,
            Duration::from_hours(1),
        )
        .await
        .unwrap();
        assert_eq!(again.deleted, 0, "{backend}");
        // Blobs unreferenced for less than the grace period stay.
        f.metadata.delete_recipe(f.project, &two.recipe).unwrap();
        let graced = collect_garbage(
            Arc::clone(&f.metadata),
            Arc::clone(&f.blobs),
            Duration::from_hours(1),
            Duration::from_hours(1),
        )
        .await
        .unwrap();
        assert_eq!(graced.deleted, 0, "{backend}");
        assert_eq!(published(&f).await, 3, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_collection_racing_uploads_never_loses_a_committed_file() {
    for (backend, f) in fixtures() {
        let f = Arc::new(f);
        let uploader = {
            let f = Arc::clone(&f);
            tokio::spawn(async move {
                for n in 0..30 {
                    let key = recipe(f.project, n);
                    let owner = FileOwner::Recipe(key.clone());
                    // The same bytes every time: each upload re-links a blob the previous delete
                    // orphaned, the case where a collector could pull it away.
                    put(&f, &owner, "conan_export.tgz", b"always the same")
                        .await
                        .unwrap();
                    put(&f, &owner, "conanmanifest.txt", b"1\n").await.unwrap();
                    if n % 2 == 0 {
                        f.metadata.delete_recipe_revision(&key).unwrap();
                    }
                }
            })
        };
        let collector = {
            let f = Arc::clone(&f);
            tokio::spawn(async move {
                for _ in 0..30 {
                    collect_garbage(
                        Arc::clone(&f.metadata),
                        Arc::clone(&f.blobs),
                        Duration::ZERO,
                        Duration::from_hours(1),
                    )
                    .await
                    .unwrap();
                }
            })
        };
        uploader.await.unwrap();
        collector.await.unwrap();
        // Every committed file's bytes are there and intact, and no index row lost its object.
        for n in (1..30).step_by(2) {
            let files = f
                .metadata
                .files(&FileOwner::Recipe(recipe(f.project, n)))
                .unwrap()
                .unwrap();
            for file in files {
                assert_eq!(
                    read_blob(&f, file.digests.sha256.as_str()).await.len() as u64,
                    file.digests.size,
                    "{backend}"
                );
            }
        }
        let problems = verify_blobs(Arc::clone(&f.metadata), Arc::clone(&f.blobs), |_| {})
            .await
            .unwrap();
        assert!(problems.is_empty(), "{backend}: {problems:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn verification_reports_missing_and_corrupt_blobs() {
    for (backend, f) in fixtures() {
        let owner = FileOwner::Recipe(recipe(f.project, 1));
        let good = put(&f, &owner, "conanfile.py", b"good")
            .await
            .unwrap()
            .digests;
        let rotten = put(&f, &owner, "conan_export.tgz", b"will rot")
            .await
            .unwrap()
            .digests;
        let lost = put(&f, &owner, "conan_sources.tgz", b"will vanish")
            .await
            .unwrap()
            .digests;
        let mut seen = 0;
        assert!(
            verify_blobs(Arc::clone(&f.metadata), Arc::clone(&f.blobs), |n| seen = n)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(seen, 3, "{backend}: progress reported per blob");

        // Damage the stored bytes behind the store's back.
        let path = f
            .blob_root
            .path()
            .join("blobs/sha256")
            .join(&rotten.sha256.as_str()[..2])
            .join(&rotten.sha256.as_str()[2..4])
            .join(rotten.sha256.as_str());
        std::fs::write(&path, b"bit rot!").unwrap();
        f.blobs
            .delete(&Sha256Hex::parse(lost.sha256.as_str()).unwrap())
            .await
            .unwrap();

        let mut problems = verify_blobs(Arc::clone(&f.metadata), Arc::clone(&f.blobs), |_| {})
            .await
            .unwrap();
        problems.sort_by_key(|problem| match problem {
            BlobProblem::Missing { sha256 } | BlobProblem::Corrupt { sha256, .. } => sha256.clone(),
        });
        assert_eq!(problems.len(), 2, "{backend}: {problems:?}");
        assert!(problems.contains(&BlobProblem::Missing {
            sha256: lost.sha256.clone().to_string()
        }));
        assert!(problems.iter().any(|p| matches!(p, BlobProblem::Corrupt { sha256, actual } if *sha256 == rotten.sha256 && actual.size == 8)));
        assert!(!problems.iter().any(|p| matches!(p, BlobProblem::Missing { sha256 } | BlobProblem::Corrupt { sha256, .. } if *sha256 == good.sha256)));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn md5_is_computed_once_when_first_needed() {
    // Larger than one inline chunk (hashed on the bulk pool), and shared by two files.
    let big: Vec<u8> = (0..200_000_u32).map(|i| (i % 251) as u8).collect();
    for (backend, f) in fixtures() {
        let owner = FileOwner::Recipe(recipe(f.project, 1));
        for (path, content) in [
            ("conanfile.py", &b"small"[..]),
            ("conan_export.tgz", &big),
            ("conan_sources.tgz", &big),
            ("conanmanifest.txt", b"1\n"),
        ] {
            let stored = put(&f, &owner, path, content).await.unwrap();
            assert_eq!(
                stored.digests.md5, None,
                "{backend}: uploads compute no md5"
            );
        }
        let mut files = f.metadata.files(&owner).unwrap().unwrap();
        assert!(
            files.iter().all(|file| file.digests.md5.is_none()),
            "{backend}"
        );

        fill_md5(Arc::clone(&f.metadata), Arc::clone(&f.blobs), &mut files)
            .await
            .unwrap();
        let expected = |path: &str| match path {
            "conanfile.py" => md5_hex(b"small"),
            "conanmanifest.txt" => md5_hex(b"1\n"),
            _ => md5_hex(&big),
        };
        for file in &files {
            assert_eq!(
                file.digests.md5,
                Some(expected(file.path.as_str())),
                "{backend}"
            );
        }
        // Recorded: the next reader gets them from the store, and filling again reads nothing
        // (the blobs could be gone by now).
        let mut again = f.metadata.files(&owner).unwrap().unwrap();
        assert_eq!(again, files, "{backend}");
        for file in &files {
            f.blobs
                .delete(&Sha256Hex::parse(file.digests.sha256.as_str()).unwrap())
                .await
                .unwrap();
        }
        fill_md5(Arc::clone(&f.metadata), Arc::clone(&f.blobs), &mut again)
            .await
            .unwrap();

        // A file without an md5 whose blob is gone: the blob store's error, nothing recorded.
        let lost = FileOwner::Recipe(recipe(f.project, 2));
        put(&f, &lost, "conanfile.py", b"lost").await.unwrap();
        put(&f, &lost, "conanmanifest.txt", b"2\n").await.unwrap();
        let mut files = f.metadata.files(&lost).unwrap().unwrap();
        let sha256 = Sha256Hex::parse(files[0].digests.sha256.as_str()).unwrap();
        f.blobs.delete(&sha256).await.unwrap();
        let error = fill_md5(Arc::clone(&f.metadata), Arc::clone(&f.blobs), &mut files)
            .await
            .unwrap_err();
        assert!(
            matches!(error, TransferError::Blob(BlobError::NotFound { .. })),
            "{backend}: {error:?}"
        );
        assert_eq!(f.metadata.blob_md5(&sha256).unwrap(), None, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn recipe_store_sees_uploads_through_the_protocol() {
    for (backend, f) in fixtures() {
        let key = recipe(f.project, 1);
        let owner = FileOwner::Recipe(key.clone());
        put(&f, &owner, "conanmanifest.txt", b"1\n").await.unwrap();
        let latest = f
            .metadata
            .latest_recipe_revision(f.project, &key.recipe)
            .unwrap()
            .unwrap();
        assert_eq!(latest.revision, key.revision, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn another_builders_manifest_is_kept_and_another_file_list_conflicts() {
    for (backend, f) in fixtures() {
        let owner = FileOwner::Recipe(recipe(f.project, 1));
        let first = "1734426000\nconanfile.py: 0123456789abcdef0123456789abcdef\n";
        put(&f, &owner, "conanfile.py", b"recipe").await.unwrap();
        put(&f, &owner, "conanmanifest.txt", first.as_bytes())
            .await
            .unwrap();
        let later = first.replace("1734426000", "1734429999");
        let kept = put(&f, &owner, "conanmanifest.txt", later.as_bytes())
            .await
            .unwrap();
        assert_eq!(kept.recorded.outcome, FileOutcome::Kept, "{backend}");
        let other = format!("{later}conandata.yml: 0123456789abcdef0123456789abcdef\n");
        let conflict = put(&f, &owner, "conanmanifest.txt", other.as_bytes()).await;
        assert!(
            matches!(&conflict, Err(TransferError::Store(conan_store::StoreError::Conflict(m))) if m.contains("lists other files")),
            "{backend}: {conflict:?}"
        );
        let tampered = put(&f, &owner, "conanfile.py", b"tampered").await;
        assert!(
            matches!(&tampered, Err(TransferError::Store(conan_store::StoreError::Conflict(m))) if m.contains("immutable")),
            "{backend}: {tampered:?}"
        );
        let record = f
            .metadata
            .file(&owner, &"conanmanifest.txt".parse().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(
            record.digests.sha1,
            Digests::of(first.as_bytes()).sha1,
            "{backend}"
        );
        // No staging object is left by any of them.
        assert_eq!(
            f.blobs.purge_staging(Duration::ZERO).await.unwrap(),
            0,
            "{backend}"
        );
    }
}
