//! The conformance suite of [`BackupStore`] and the backup upload protocol: the same tests on
//! SQLite and, when its URL is set, on PostgreSQL, with blobs on the filesystem.

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

use blobs::{Fixture, body, fixtures, published};
use conan_model::RevisionTime;
use conan_store::backups::{BackupError, store_backup_file};
use conan_store::blob::Sha256Hex;
use conan_store::cleanup::{
    BACKUP_REASON, CleanupPolicy, CleanupRun, RemovedKind, RunClaim, RunSettings, RunState,
    RunTrigger, dry_run, execute,
};
use conan_store::transfer::{collect_garbage, verify_blobs};
use conan_store::{ProjectId, Visibility};
use sha2::{Digest, Sha256};

/// A second project of the fixture's store.
fn other_project(f: &Fixture) -> ProjectId {
    f.metadata
        .create_project("group/other", Visibility::Private)
        .unwrap()
        .id
}

fn sha256_of(content: &[u8]) -> Sha256Hex {
    Sha256Hex::parse(&hex(&Sha256::digest(content))).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

async fn store(
    f: &Fixture,
    project: ProjectId,
    name: &Sha256Hex,
    content: &'static [u8],
) -> Result<bool, BackupError> {
    store_backup_file(
        Arc::clone(&f.metadata),
        Arc::clone(&f.blobs),
        project,
        name.clone(),
        body(content),
        1024,
        None,
    )
    .await
    .map(|(digests, created)| {
        assert_eq!(digests.sha256, *name);
        created
    })
}

async fn gc(f: &Fixture) -> u64 {
    collect_garbage(
        Arc::clone(&f.metadata),
        Arc::clone(&f.blobs),
        Duration::ZERO,
        Duration::from_hours(1),
    )
    .await
    .unwrap()
    .deleted
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_and_its_summary_are_stored_in_either_order() {
    for (backend, f) in fixtures() {
        let content: &[u8] = b"the sources of zlib";
        let sha256 = sha256_of(content);
        assert_eq!(f.metadata.backup(f.project, &sha256).unwrap(), None);
        // The client sends the summary first.
        let summary = r#"{"references": {"zlib/1.3": ["https://origin/zlib.tgz"]}}"#;
        assert!(
            f.metadata
                .record_backup_summary(f.project, &sha256, summary)
                .unwrap(),
            "{backend}"
        );
        let only_summary = f.metadata.backup(f.project, &sha256).unwrap().unwrap();
        assert_eq!(only_summary.size, None, "{backend}");
        assert_eq!(only_summary.summary.as_deref(), Some(summary), "{backend}");
        assert!(
            store(&f, f.project, &sha256, b"the sources of zlib")
                .await
                .unwrap()
        );
        let whole = f.metadata.backup(f.project, &sha256).unwrap().unwrap();
        assert_eq!(whole.size, Some(content.len() as u64), "{backend}");
        assert_eq!(whole.summary.as_deref(), Some(summary), "{backend}");
        assert_eq!(whole.created_at, only_summary.created_at, "{backend}");
        // Again: idempotent.
        assert!(
            !store(&f, f.project, &sha256, b"the sources of zlib")
                .await
                .unwrap()
        );
        // The summary is replaced as the client rewrites it.
        let grown = r#"{"references": {"zlib/1.3": [], "zlib/1.3.1": []}}"#;
        assert!(
            !f.metadata
                .record_backup_summary(f.project, &sha256, grown)
                .unwrap()
        );
        let backup = f.metadata.backup(f.project, &sha256).unwrap().unwrap();
        assert_eq!(backup.summary.as_deref(), Some(grown), "{backend}");
        assert_eq!(backup.size, Some(content.len() as u64), "{backend}");
        // Another project does not see it, and storing it there keeps one blob.
        let other = other_project(&f);
        assert_eq!(f.metadata.backup(other, &sha256).unwrap(), None);
        assert!(
            store(&f, other, &sha256, b"the sources of zlib")
                .await
                .unwrap()
        );
        assert_eq!(published(&f).await, 1, "{backend}: deduplicated");
        let listed = f.metadata.backups(f.project, 0, 10).unwrap();
        assert_eq!(listed, vec![backup], "{backend}");
        assert!(f.metadata.backups(f.project, 1, 10).unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_with_another_hash_or_too_large_stores_nothing() {
    for (backend, f) in fixtures() {
        let claimed = sha256_of(b"what the name says");
        let refused = store(&f, f.project, &claimed, b"something else").await;
        assert!(
            matches!(&refused, Err(BackupError::HashMismatch { expected, .. }) if *expected == claimed),
            "{backend}: {refused:?}"
        );
        let huge: &'static [u8] = &[7; 2048];
        let too_large = store(&f, f.project, &sha256_of(huge), huge).await;
        assert!(too_large.is_err(), "{backend}");
        assert_eq!(f.metadata.backup(f.project, &claimed).unwrap(), None);
        assert!(f.metadata.backups(f.project, 0, 10).unwrap().is_empty());
        assert_eq!(published(&f).await, 0, "{backend}: nothing published");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_uploads_of_one_file_store_it_once() {
    for (backend, f) in fixtures() {
        let content: &'static [u8] = b"shared third-party source";
        let sha256 = sha256_of(content);
        let f = Arc::new(f);
        let uploads = (0..8).map(|_| {
            let f = Arc::clone(&f);
            let sha256 = sha256.clone();
            tokio::spawn(async move { store(&f, f.project, &sha256, content).await.unwrap() })
        });
        let created = futures::future::join_all(uploads)
            .await
            .into_iter()
            .filter(|created| *created.as_ref().unwrap())
            .count();
        assert_eq!(created, 1, "{backend}: one upload created it");
        assert_eq!(published(&f).await, 1, "{backend}");
        assert_eq!(f.metadata.backups(f.project, 0, 10).unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_collector_keeps_what_a_backup_references() {
    for (backend, f) in fixtures() {
        let content: &'static [u8] = b"kept by its backup";
        let sha256 = sha256_of(content);
        store(&f, f.project, &sha256, content).await.unwrap();
        assert_eq!(gc(&f).await, 0, "{backend}");
        assert_eq!(published(&f).await, 1, "{backend}");
        let problems = verify_blobs(Arc::clone(&f.metadata), Arc::clone(&f.blobs), |_| {})
            .await
            .unwrap();
        assert!(problems.is_empty(), "{backend}: {problems:?}");
        // Deleted from the project: the blob goes with the next collection.
        assert!(f.metadata.delete_backup(f.project, &sha256).unwrap());
        assert!(!f.metadata.delete_backup(f.project, &sha256).unwrap());
        assert_eq!(f.metadata.backup(f.project, &sha256).unwrap(), None);
        assert_eq!(gc(&f).await, 1, "{backend}");
        assert_eq!(published(&f).await, 0, "{backend}");
        // Stored again after its collection: published again.
        store(&f, f.project, &sha256, content).await.unwrap();
        assert_eq!(published(&f).await, 1, "{backend}");
        assert_eq!(gc(&f).await, 0, "{backend}");
    }
}

/// `micros` after the real time now.
fn later(micros: i64) -> RevisionTime {
    let now = RevisionTime::from_system_time(std::time::SystemTime::now()).unwrap();
    RevisionTime::from_unix_micros(now.unix_micros() + micros).unwrap()
}

const DAY: i64 = 86_400 * 1_000_000;

/// Claims a run of the fixture's project at `now` for the owner `node`.
fn claim(f: &Fixture, now: RevisionTime) -> CleanupRun {
    f.metadata
        .claim_cleanup_run(&RunClaim::Now {
            project: f.project,
            trigger: RunTrigger::Cli,
            now,
            owner: "node",
            lease_until: later(41 * DAY),
        })
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_expires_the_backups_unused_for_its_days() {
    for (backend, f) in fixtures() {
        let (used, unused, shared) = (
            b"used within the days".as_slice(),
            b"nobody fetched this".as_slice(),
            b"also kept by another project".as_slice(),
        );
        let (used_sha, unused_sha, shared_sha) =
            (sha256_of(used), sha256_of(unused), sha256_of(shared));
        let summary_only = sha256_of(b"the client sent only the summary");
        let other = other_project(&f);
        for (project, sha, content) in [
            (f.project, &used_sha, used),
            (f.project, &unused_sha, unused),
            (f.project, &shared_sha, shared),
            (other, &shared_sha, shared),
        ] {
            store(&f, project, sha, content).await.unwrap();
        }
        f.metadata
            .record_backup_summary(f.project, &summary_only, "{}")
            .unwrap();
        let stats = f.metadata.project_stats(f.project).unwrap();
        assert_eq!(
            (stats.source_backups, stats.source_backup_bytes),
            (3, (used.len() + unused.len() + shared.len()) as u64),
            "{backend}"
        );
        assert_eq!(stats.stored_bytes, stats.source_backup_bytes, "{backend}");

        // 40 days on, with a 30-day policy: one backup was downloaded 10 days before.
        let now = later(40 * DAY);
        f.metadata
            .record_backup_use(f.project, &used_sha, later(30 * DAY))
            .unwrap();
        let policy = CleanupPolicy {
            source_backups_unused_days: Some(30),
            ..CleanupPolicy::default()
        };
        let report = dry_run(f.metadata.as_ref(), f.project, &policy, now, 2, 10).unwrap();
        let mut expected = vec![
            unused_sha.to_string(),
            shared_sha.to_string(),
            summary_only.to_string(),
        ];
        expected.sort();
        let listed: Vec<&str> = report
            .items
            .iter()
            .map(|item| item.reference.as_str())
            .collect();
        assert_eq!(listed, expected, "{backend}");
        assert!(
            report
                .items
                .iter()
                .all(|item| item.kind == RemovedKind::SourceBackup && item.reason == BACKUP_REASON)
        );
        assert_eq!(report.totals.source_backups, 3, "{backend}");
        assert_eq!(report.totals.files, 2, "{backend}");
        assert_eq!(report.totals.recipes_examined, 0, "{backend}");
        // Only the unused file is freed: the other project keeps the shared one.
        assert_eq!(report.totals.stored_bytes, unused.len() as u64, "{backend}");

        // The run removes what the dry run listed, and records it.
        f.metadata
            .set_cleanup_policy(f.project, &policy, now)
            .unwrap();
        let run = claim(&f, now);
        let settings = RunSettings {
            batch: 2,
            lease: Duration::from_mins(1),
            work_percent: 100,
        };
        let totals = execute(
            f.metadata.as_ref(),
            &run,
            settings,
            &|| later(0),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(totals.source_backups, 3, "{backend}");
        assert_eq!(totals.stored_bytes, unused.len() as u64, "{backend}");
        let recorded = f.metadata.cleanup_run(f.project, run.id).unwrap().unwrap();
        assert_eq!(recorded.state, RunState::Finished, "{backend}");
        assert_eq!(recorded.totals.source_backups, 3, "{backend}");
        let removals = f.metadata.cleanup_removals(run.id, 0, 10).unwrap();
        assert_eq!(removals.len(), 3, "{backend}");
        assert!(f.metadata.backup(f.project, &used_sha).unwrap().is_some());
        for gone in [&unused_sha, &shared_sha, &summary_only] {
            assert_eq!(
                f.metadata.backup(f.project, gone).unwrap(),
                None,
                "{backend}"
            );
        }
        assert!(f.metadata.backup(other, &shared_sha).unwrap().is_some());
        // The collector takes the one blob nothing keeps.
        assert_eq!(gc(&f).await, 1, "{backend}");
        assert_eq!(published(&f).await, 2, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removal_checks_again_that_the_backup_is_unused() {
    for (backend, f) in fixtures() {
        let content: &'static [u8] = b"fetched while the run was planning";
        let sha256 = sha256_of(content);
        store(&f, f.project, &sha256, content).await.unwrap();
        let now = later(40 * DAY);
        let run = claim(&f, now);
        let cutoff = later(10 * DAY);
        assert_eq!(
            f.metadata
                .cleanup_backups(f.project, cutoff, None, 10)
                .unwrap()
                .len(),
            1,
            "{backend}"
        );
        // Downloaded after the plan: kept. (An older use never moves the record back.)
        let used_at = later(20 * DAY);
        f.metadata
            .record_backup_use(f.project, &sha256, used_at)
            .unwrap();
        f.metadata
            .record_backup_use(f.project, &sha256, later(DAY))
            .unwrap();
        let backup = f.metadata.backup(f.project, &sha256).unwrap().unwrap();
        assert_eq!(backup.last_used_at, used_at, "{backend}");
        assert_eq!(
            f.metadata
                .cleanup_remove_backup(run.id, "node", f.project, &sha256, cutoff, now)
                .unwrap(),
            None,
            "{backend}"
        );
        // Nor by a claim that does not hold the run.
        assert_eq!(
            f.metadata
                .cleanup_remove_backup(run.id, "another", f.project, &sha256, later(30 * DAY), now)
                .unwrap(),
            None,
            "{backend}"
        );
        assert!(
            f.metadata.backup(f.project, &sha256).unwrap().is_some(),
            "{backend}"
        );
        // The holder removes it once it is unused by the cutoff.
        let removed = f
            .metadata
            .cleanup_remove_backup(run.id, "node", f.project, &sha256, later(30 * DAY), now)
            .unwrap()
            .unwrap();
        assert_eq!(
            (removed.files, removed.logical_bytes),
            (1, content.len() as u64)
        );
        assert_eq!(removed.stored_bytes, content.len() as u64, "{backend}");
        assert_eq!(
            f.metadata.backup(f.project, &sha256).unwrap(),
            None,
            "{backend}"
        );
    }
}
