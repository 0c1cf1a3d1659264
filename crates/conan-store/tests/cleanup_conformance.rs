//! The conformance suite of [`CleanupStore`] and the cleanup runner: policies, each rule, ties
//! in time, the latest revision, revisions uploaded or downloaded after a plan, protection
//! rules, claims and leases, unknown and empty projects; the same test functions on SQLite and
//! on PostgreSQL (see `support`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is the failure report"
)]

mod fixtures;
mod support;
use support::execute_sql;

use std::time::Duration;

use conan_model::{PackageNamePattern, RevisionTime};
use conan_store::cleanup::{
    Cadence, CleanupPolicy, CleanupRun, CleanupTotals, Removal, RemovalTarget, RunClaim,
    RunSettings, RunState, RunTrigger, dry_run, execute, plan,
};
use conan_store::db::DieselStore;
use conan_store::{
    BackupStore, CatalogStore, CleanupStore, FileOwner, FileStore, NewFile, NewProtectionRule,
    PackageStore, PackageType, ProjectId, ProtectionStore, RecipeId, RecipeStore, StoreError,
};
use fixtures::{
    package_key, pkg, project, recipe_key, reference, rev, upload_package, upload_recipe,
};

const DAY: i64 = 86_400 * 1_000_000;

fn now() -> RevisionTime {
    RevisionTime::from_system_time(std::time::SystemTime::now()).unwrap()
}

fn days_ago(days: i64) -> RevisionTime {
    RevisionTime::from_unix_micros(now().unix_micros() - days * DAY).unwrap()
}

/// Uploads `revisions` recipe revisions of `reference`, each with `binaries` binaries of
/// `package_revisions` revisions, and spreads their commit times one day apart, oldest first,
/// ending `age` days ago (so revision n is the n-th oldest).
fn seed(
    store: &DieselStore,
    p: ProjectId,
    text: &str,
    revisions: u32,
    binaries: u32,
    package_revisions: u32,
) {
    for r in 1..=revisions {
        let key = recipe_key(p, text, r);
        upload_recipe(store, &key);
        for b in 1..=binaries {
            for pr in 1..=package_revisions {
                upload_package(store, &package_key(&key, b, pr));
            }
        }
    }
}

/// Sets every commit time of the project's recipe and package revisions from their revision
/// number: revision n committed `100 - n` days ago (so higher numbers are newer).
fn age_by_number(store: &DieselStore) {
    let base = now().unix_micros() - 100 * DAY;
    for table in ["recipe_revisions", "package_revisions"] {
        for n in 1..=20u32 {
            execute_sql(
                store,
                &format!(
                    "UPDATE {table} SET committed_at = {} WHERE revision = '{}' AND committed_at IS NOT NULL",
                    base + i64::from(n) * DAY,
                    rev(n)
                ),
            );
        }
    }
}

fn revisions(store: &DieselStore, p: ProjectId, text: &str) -> Vec<u32> {
    store
        .recipe_revisions(p, &reference(text))
        .unwrap()
        .into_iter()
        .map(|entry| u32::from_str_radix(entry.revision.as_str(), 16).unwrap())
        .collect()
}

fn package_revisions(store: &DieselStore, p: ProjectId, text: &str, r: u32, b: u32) -> Vec<u32> {
    store
        .package_revisions(&recipe_key(p, text, r), &pkg(b))
        .unwrap()
        .into_iter()
        .map(|entry| u32::from_str_radix(entry.revision.as_str(), 16).unwrap())
        .collect()
}

fn set_policy(store: &DieselStore, p: ProjectId, policy: &CleanupPolicy) {
    policy.check().unwrap();
    store.set_cleanup_policy(p, policy, now()).unwrap();
}

/// Claims a run of `p` now and carries it out; returns the run as recorded.
fn run_now(store: &DieselStore, p: ProjectId) -> CleanupRun {
    let run = store
        .claim_cleanup_run(&RunClaim::Now {
            project: p,
            trigger: RunTrigger::Cli,
            now: now(),
            owner: "test-node",
            lease_until: RevisionTime::from_unix_micros(now().unix_micros() + 60_000_000).unwrap(),
        })
        .unwrap()
        .expect("nothing else is running");
    let totals = execute(store, &run, settings(2), &now, &mut |_| {}).unwrap();
    let recorded = store.cleanup_run(p, run.id).unwrap().unwrap();
    assert_eq!(recorded.state, RunState::Finished);
    assert_eq!(
        recorded.totals, totals,
        "what the run counted is what it recorded"
    );
    recorded
}

fn settings(batch: usize) -> RunSettings {
    RunSettings {
        batch,
        lease: Duration::from_mins(1),
        work_percent: 100,
    }
}

fn keep(recipes: Option<u32>, packages: Option<u32>) -> CleanupPolicy {
    CleanupPolicy {
        keep_n_recipe_revisions: recipes,
        keep_n_package_revisions: packages,
        ..CleanupPolicy::default()
    }
}

fn lease(seconds: i64) -> RevisionTime {
    RevisionTime::from_unix_micros(now().unix_micros() + seconds * 1_000_000).unwrap()
}

backend_tests! {
    fn a_blob_a_source_backup_keeps_is_not_counted_as_freed(store: &DieselStore) {
        let p = project(store, "p");
        seed(store, p, "zlib/1.3", 2, 0, 0);
        age_by_number(store);
        // The first revision's conanfile.py, which only it has, is also a source backup.
        let owner = FileOwner::Recipe(recipe_key(p, "zlib/1.3", 1));
        let conanfile = store.file(&owner, &"conanfile.py".parse().unwrap()).unwrap().unwrap();
        assert!(store.record_backup_file(p, &conanfile.digests, &mut || Ok(())).unwrap());
        set_policy(store, p, &keep(Some(1), None));
        let stats_before = store.project_stats(p).unwrap();
        let report = dry_run(store, p, &keep(Some(1), None), now(), 1, 100).unwrap();
        let run = run_now(store, p);
        assert_eq!(run.totals.stored_bytes, report.totals.stored_bytes, "the dry run said so too");
        assert_eq!(revisions(store, p, "zlib/1.3"), [2]);
        let stats = store.project_stats(p).unwrap();
        // The project's files no longer use it, but its backup keeps the blob, which the
        // project's stored bytes still count.
        assert_eq!(stats_before.stored_bytes - stats.stored_bytes, run.totals.stored_bytes);
        assert_eq!((stats.source_backups, stats.source_backup_bytes), (1, conanfile.digests.size));
    }

    fn policies_default_save_and_schedule(store: &DieselStore) {
        let p = project(store, "p");
        let stored = store.cleanup_policy(p).unwrap();
        assert_eq!(stored.policy, CleanupPolicy::default());
        assert!(!stored.policy.enabled);
        assert_eq!((stored.next_run_at, stored.updated_at), (None, None));
        // Unknown projects have the default too, and cannot save one.
        assert_eq!(store.cleanup_policy(ProjectId(999)).unwrap().policy, CleanupPolicy::default());
        assert!(matches!(store.set_cleanup_policy(ProjectId(999), &keep(Some(2), None), now()), Err(StoreError::NotFound(_))));

        let before = now();
        let policy = CleanupPolicy {
            enabled: true,
            cadence: Cadence::Week,
            include: vec!["zlib/*".to_owned()],
            exclude: vec!["*@acme/stable".to_owned()],
            ..keep(Some(2), Some(1))
        };
        let stored = store.set_cleanup_policy(p, &policy, before).unwrap();
        assert_eq!(stored.policy, policy);
        assert_eq!(stored.next_run_at, Some(Cadence::Week.after(before)));
        assert_eq!(store.cleanup_policy(p).unwrap(), stored);
        // Saved again later: a changed rule keeps the schedule; a changed cadence moves it.
        let later = lease(3600);
        let edited = store.set_cleanup_policy(p, &CleanupPolicy { keep_n_recipe_revisions: Some(5), ..policy.clone() }, later).unwrap();
        assert_eq!((edited.next_run_at, edited.updated_at), (stored.next_run_at, Some(later)));
        let daily = store.set_cleanup_policy(p, &CleanupPolicy { cadence: Cadence::Day, ..policy.clone() }, later).unwrap();
        assert_eq!(daily.next_run_at, Some(Cadence::Day.after(later)));
        // Disabled, or enabled with no rule: never scheduled.
        for policy in [CleanupPolicy { enabled: false, ..keep(Some(2), None) }, CleanupPolicy { enabled: true, ..CleanupPolicy::default() }] {
            assert_eq!(store.set_cleanup_policy(p, &policy, now()).unwrap().next_run_at, None);
        }
    }

    fn keep_n_recipe_revisions_keeps_the_newest_and_the_dry_run_matches_the_run(store: &DieselStore) {
        let p = project(store, "p");
        seed(store, p, "zlib/1.3", 5, 2, 1);
        seed(store, p, "bzip2/1.0", 1, 1, 1);
        age_by_number(store);
        set_policy(store, p, &keep(Some(2), None));
        let stats_before = store.project_stats(p).unwrap();

        let report = dry_run(store, p, &store.cleanup_policy(p).unwrap().policy, now(), 1, 100).unwrap();
        assert_eq!(report.items.iter().map(|item| item.reference.clone()).collect::<Vec<_>>(), [
            format!("zlib/1.3#{}", rev(3)),
            format!("zlib/1.3#{}", rev(2)),
            format!("zlib/1.3#{}", rev(1)),
        ]);
        assert_eq!(report.totals.recipes_examined, 2);
        assert_eq!((report.totals.recipe_revisions, report.totals.package_revisions), (3, 6));
        assert_eq!(report.totals.files, 3 * 3 + 6 * 3);
        // conan_export.tgz and the binaries of the same package revision number are shared with
        // kept revisions: what deduplication saves is less than what the files add up to.
        assert!(report.totals.stored_bytes > 0 && report.totals.stored_bytes < report.totals.logical_bytes, "{:?}", report.totals);
        assert!(!report.truncated);
        assert_eq!(store.project_stats(p).unwrap(), stats_before, "a dry run changes nothing");
        let limited = dry_run(store, p, &keep(Some(2), None), now(), 10, 1).unwrap();
        assert_eq!((limited.items.len(), limited.truncated, limited.totals), (1, true, report.totals));

        let run = run_now(store, p);
        assert_eq!(revisions(store, p, "zlib/1.3"), [5, 4]);
        assert_eq!(revisions(store, p, "bzip2/1.0"), [1]);
        assert_eq!(run.trigger, RunTrigger::Cli);
        let mut expected = report.totals;
        expected.stored_bytes = run.totals.stored_bytes;
        assert_eq!(run.totals, expected, "the run removed what the dry run said");
        assert_eq!(run.totals.stored_bytes, report.totals.stored_bytes);
        let stats = store.project_stats(p).unwrap();
        assert_eq!(stats_before.logical_bytes - stats.logical_bytes, run.totals.logical_bytes);
        assert_eq!(stats_before.stored_bytes - stats.stored_bytes, run.totals.stored_bytes);
        let removed = store.cleanup_removals(run.id, 0, 10).unwrap();
        assert_eq!(removed.len(), 3);
        assert_eq!(removed[0].reason, "keep_n_recipe_revisions");
        assert_eq!(store.cleanup_removals(run.id, 2, 10).unwrap(), removed[2..]);
        // A second run finds nothing more.
        assert_eq!(run_now(store, p).totals.recipe_revisions, 0);
        assert_eq!(store.cleanup_runs(p, 10).unwrap().len(), 2);
    }

    fn ties_in_time_keep_what_latest_answers(store: &DieselStore) {
        let p = project(store, "p");
        seed(store, p, "zlib/1.3", 3, 0, 0);
        execute_sql(store, "UPDATE recipe_revisions SET committed_at = 1000000");
        let latest = store.latest_recipe_revision(p, &reference("zlib/1.3")).unwrap().unwrap();
        set_policy(store, p, &keep(Some(1), None));
        run_now(store, p);
        let left = store.recipe_revisions(p, &reference("zlib/1.3")).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].revision, latest.revision, "the latest is never removed");
    }

    fn keep_n_package_revisions_in_kept_recipe_revisions(store: &DieselStore) {
        let p = project(store, "p");
        seed(store, p, "zlib/1.3", 2, 2, 4);
        age_by_number(store);
        set_policy(store, p, &keep(None, Some(2)));
        let run = run_now(store, p);
        for r in [1, 2] {
            for b in [1, 2] {
                assert_eq!(package_revisions(store, p, "zlib/1.3", r, b), [4, 3]);
            }
        }
        assert_eq!((run.totals.recipe_revisions, run.totals.package_revisions), (0, 8));
        // Together: old recipe revisions go whole, kept ones keep their newest binaries.
        set_policy(store, p, &keep(Some(1), Some(1)));
        run_now(store, p);
        assert_eq!(revisions(store, p, "zlib/1.3"), [2]);
        assert_eq!(package_revisions(store, p, "zlib/1.3", 2, 1), [4]);
    }

    fn unused_days_spares_what_was_downloaded_and_the_latest_of_a_used_recipe(store: &DieselStore) {
        let p = project(store, "p");
        seed(store, p, "zlib/1.3", 3, 1, 2);
        seed(store, p, "old/1.0", 2, 1, 1);
        age_by_number(store); // every revision 80 to 99 days old
        // zlib revision 1 was downloaded yesterday (a binary of it); old/1.0 never.
        store.record_downloads(&[(FileOwner::Package(package_key(&recipe_key(p, "zlib/1.3", 1), 1, 1)), days_ago(1))]).unwrap();
        set_policy(store, p, &CleanupPolicy { unused_days: Some(30), ..CleanupPolicy::default() });
        let run = run_now(store, p);
        // zlib: revision 2 unused (removed); 1 used (kept, and its binary, one of whose
        // revisions was used, keeps its newest and the used one); 3 is the latest of a used
        // recipe (kept), and its binary is wholly unused (removed).
        assert_eq!(revisions(store, p, "zlib/1.3"), [3, 1]);
        assert_eq!(package_revisions(store, p, "zlib/1.3", 1, 1), [2, 1]);
        assert!(package_revisions(store, p, "zlib/1.3", 3, 1).is_empty());
        // old/1.0: wholly unused, gone entirely.
        assert!(revisions(store, p, "old/1.0").is_empty());
        assert!(run.totals.recipe_revisions == 3, "{:?}", run.totals);
        let reasons: Vec<String> = store.cleanup_removals(run.id, 0, 100).unwrap().into_iter().map(|item| item.reason).collect();
        assert!(reasons.iter().all(|reason| reason == "unused_days"), "{reasons:?}");
    }

    fn a_copied_revision_keeps_its_time_and_counts_as_used_from_its_arrival(store: &DieselStore) {
        // A remote project's fetch commits a revision at the upstream's (old) commit time.
        let p = project(store, "p");
        let copy = |owner: &FileOwner, files: &[(&str, &str)], time: RevisionTime| {
            for (file, content) in files {
                let (file_path, sums) = (fixtures::path(file), fixtures::digests(content));
                let conaninfo = (*file == "conaninfo.txt").then_some(*content);
                let last = *file == "conanmanifest.txt";
                let new = NewFile { path: &file_path, digests: &sums, conaninfo, upload: None, same_files_as: None, revision_time: last.then_some(time) };
                store.record_file(owner, new, &mut || Ok(())).unwrap();
            }
        };
        upload_recipe(store, &recipe_key(p, "zlib/1.3", 2)); // committed now, here
        let old = recipe_key(p, "zlib/1.3", 1);
        let (recipe_time, package_time) = (days_ago(90), days_ago(89));
        copy(&FileOwner::Recipe(old.clone()), &[("conanfile.py", "r"), ("conanmanifest.txt", "1\n")], recipe_time);
        let binary = package_key(&old, 1, 1);
        copy(&FileOwner::Package(binary.clone()), &[("conaninfo.txt", "[settings]\n"), ("conanmanifest.txt", "2\n")], package_time);

        // Listed at the given times, so the revision committed here stays the latest.
        let listed: Vec<_> = store.recipe_revisions(p, &old.recipe).unwrap().into_iter().map(|entry| (entry.revision, entry.time)).collect();
        assert_eq!(listed[1], (old.revision.clone(), recipe_time));
        assert_eq!(store.latest_recipe_revision(p, &old.recipe).unwrap().unwrap().revision, rev(2));
        assert_eq!(store.package_revision(&binary).unwrap().unwrap().time, package_time);

        // Downloaded on arrival: a policy of 30 unused days keeps the 90-day-old copy.
        let histories = store.cleanup_histories(p, None, 10).unwrap();
        let copied = &histories[0].revisions[1];
        assert_eq!(copied.revision, old.revision);
        assert_eq!(copied.committed_at, recipe_time);
        assert!(copied.last_downloaded_at.unwrap() > days_ago(1));
        assert!(copied.binaries[0].revisions[0].last_downloaded_at.unwrap() > days_ago(1));
        set_policy(store, p, &CleanupPolicy { unused_days: Some(30), ..CleanupPolicy::default() });
        run_now(store, p);
        assert_eq!(revisions(store, p, "zlib/1.3"), [2, 1]);
        assert_eq!(package_revisions(store, p, "zlib/1.3", 1, 1), [1]);
    }

    fn the_filter_and_protection_rules_leave_recipes_alone(store: &DieselStore) {
        let p = project(store, "p");
        for text in ["zlib/1.3", "zlib/1.3@acme/stable", "boost/1.80", "openssl/3.0"] {
            seed(store, p, text, 3, 0, 0);
        }
        store
            .create_protection_rule(p, &NewProtectionRule {
                package_name_pattern: "open*".parse::<PackageNamePattern>().unwrap(),
                package_type: PackageType::Conan,
                minimum_access_level_for_push: Some(conan_store::AccessLevel::Maintainer),
                minimum_access_level_for_delete: None,
            })
            .unwrap();
        set_policy(store, p, &CleanupPolicy {
            include: vec!["zlib/*".to_owned(), "open*".to_owned()],
            exclude: vec!["*@acme/*".to_owned()],
            ..keep(Some(1), None)
        });
        let run = run_now(store, p);
        assert_eq!(revisions(store, p, "zlib/1.3").len(), 1);
        assert_eq!(revisions(store, p, "zlib/1.3@acme/stable").len(), 3, "excluded");
        assert_eq!(revisions(store, p, "boost/1.80").len(), 3, "not included");
        assert_eq!(revisions(store, p, "openssl/3.0").len(), 3, "protected");
        assert_eq!((run.totals.recipes_examined, run.totals.skipped_protected), (4, 1));
    }

    fn a_plan_made_before_an_upload_or_download_does_not_remove_what_changed(store: &DieselStore) {
        let p = project(store, "p");
        seed(store, p, "zlib/1.3", 3, 1, 1);
        age_by_number(store);
        let run = store.claim_cleanup_run(&RunClaim::Now { project: p, trigger: RunTrigger::Api, now: now(), owner: "a", lease_until: lease(60) }).unwrap().unwrap();
        let histories = store.cleanup_histories(p, None, 10).unwrap();
        assert_eq!(histories.len(), 1);
        let removals = plan(&keep(Some(1), None), &histories[0], now());
        assert_eq!(removals.len(), 2);

        // The planned latest-but-one is the latest once the newer revision is deleted: kept.
        assert!(store.delete_recipe_revision(&recipe_key(p, "zlib/1.3", 3)).unwrap());
        assert_eq!(store.cleanup_remove(run.id, "a", &removals[0], now()).unwrap(), None);
        assert_eq!(revisions(store, p, "zlib/1.3"), [2, 1]);
        // A revision deleted and uploaded again (a new commit time) is not the planned one.
        assert!(store.delete_recipe_revision(&recipe_key(p, "zlib/1.3", 1)).unwrap());
        upload_recipe(store, &recipe_key(p, "zlib/1.3", 1));
        assert_eq!(store.cleanup_remove(run.id, "a", &removals[1], now()).unwrap(), None);
        assert_eq!(revisions(store, p, "zlib/1.3"), [1, 2], "the re-upload is newest now");

        // An unused removal is dropped when a download was recorded since the plan.
        let histories = store.cleanup_histories(p, None, 10).unwrap();
        let unused = CleanupPolicy { unused_days: Some(30), ..CleanupPolicy::default() };
        let removals = plan(&unused, &histories[0], now());
        let old = removals.iter().find(|removal| matches!(&removal.target, RemovalTarget::RecipeRevision(key) if key.revision == rev(2))).unwrap();
        store.record_downloads(&[(FileOwner::Recipe(recipe_key(p, "zlib/1.3", 2)), now())]).unwrap();
        assert_eq!(store.cleanup_remove(run.id, "a", old, now()).unwrap(), None);
        assert_eq!(revisions(store, p, "zlib/1.3"), [1, 2]);

        // Only the holder of a running run removes.
        let planned = Removal { may_be_latest: true, unused_before: None, ..old.clone() };
        assert_eq!(store.cleanup_remove(run.id, "someone else", &planned, now()).unwrap(), None);
        assert!(store.cleanup_remove(run.id, "a", &planned, now()).unwrap().is_some());
        assert_eq!(revisions(store, p, "zlib/1.3"), [1]);
        assert!(store.finish_cleanup_run(run.id, "a", None, now()).unwrap());
        assert_eq!(store.cleanup_remove(run.id, "a", &planned, now()).unwrap(), None, "finished");
    }

    fn one_run_per_project_and_an_expired_lease_is_resumed(store: &DieselStore) {
        let p = project(store, "p");
        let q = project(store, "q");
        seed(store, p, "aa/1.0", 3, 0, 0);
        seed(store, p, "bb/1.0", 3, 0, 0);
        seed(store, p, "cc/1.0", 3, 0, 0);
        set_policy(store, p, &keep(Some(1), None));
        let claim = |owner: &'static str, until: RevisionTime| RunClaim::Now { project: p, trigger: RunTrigger::Api, now: now(), owner, lease_until: until };
        let first = store.claim_cleanup_run(&claim("a", lease(60))).unwrap().unwrap();
        assert_eq!(first.state, RunState::Running);
        assert_eq!(store.claim_cleanup_run(&claim("b", lease(60))).unwrap(), None, "one at a time");
        assert!(store.claim_cleanup_run(&RunClaim::Now { project: q, trigger: RunTrigger::Api, now: now(), owner: "b", lease_until: lease(60) }).unwrap().is_some(), "other projects are free");
        assert!(matches!(store.claim_cleanup_run(&RunClaim::Now { project: ProjectId(999), trigger: RunTrigger::Api, now: now(), owner: "b", lease_until: lease(60) }), Err(StoreError::NotFound(_))));

        // Node "a" finishes one recipe, then dies: its lease runs out.
        let histories = store.cleanup_histories(p, None, 1).unwrap();
        for removal in plan(&first.policy, &histories[0], now()) {
            store.cleanup_remove(first.id, "a", &removal, now()).unwrap().unwrap();
        }
        assert!(store.renew_cleanup_run(first.id, "a", Some(histories[0].id), 1, 0, lease(-1)).unwrap());
        let taken = store.claim_cleanup_run(&RunClaim::Due { now: now(), owner: "c", lease_until: lease(60) }).unwrap().unwrap();
        assert_eq!((taken.id, taken.resume_after, taken.owner.as_str()), (first.id, Some(histories[0].id), "c"));
        assert!(!store.renew_cleanup_run(first.id, "a", None, 0, 0, lease(60)).unwrap(), "a lost it");
        let totals = execute(store, &taken, settings(1), &now, &mut |_| {}).unwrap();
        assert_eq!(totals.recipes_examined, 3);
        assert_eq!(totals.recipe_revisions, 6);
        for text in ["aa/1.0", "bb/1.0", "cc/1.0"] {
            assert_eq!(revisions(store, p, text), [3]);
        }
        let recorded = store.cleanup_run(p, first.id).unwrap().unwrap();
        assert_eq!((recorded.state, recorded.totals), (RunState::Finished, totals));
        assert_eq!(store.cleanup_run(q, first.id).unwrap(), None, "runs are per project");
    }

    fn a_long_batch_keeps_its_lease_and_a_run_taken_over_stops(store: &DieselStore) {
        let p = project(store, "p");
        for text in ["aa/1.0", "bb/1.0", "cc/1.0", "dd/1.0"] {
            seed(store, p, text, 3, 0, 0);
        }
        set_policy(store, p, &keep(Some(1), None));
        // A clock that moves 15 s at every reading: one batch of 8 removals outlasts a 60 s lease
        // many times over, so only renewals within the batch keep the run its own.
        let fake = std::cell::Cell::new(now().unix_micros());
        let clock = || {
            fake.set(fake.get() + 15_000_000);
            RevisionTime::from_unix_micros(fake.get()).unwrap()
        };
        let start = clock();
        let until = RevisionTime::from_unix_micros(start.unix_micros() + 60_000_000).unwrap();
        let run = store.claim_cleanup_run(&RunClaim::Now { project: p, trigger: RunTrigger::Api, now: start, owner: "a", lease_until: until }).unwrap().unwrap();
        let mut removed = 0;
        let totals = execute(store, &run, settings(100), &clock, &mut |_| {
            removed += 1;
            let at = RevisionTime::from_unix_micros(fake.get()).unwrap();
            let claim = RunClaim::Due { now: at, owner: "b", lease_until: at };
            assert_eq!(store.claim_cleanup_run(&claim).unwrap(), None, "the live run was taken after {removed} removals");
        }).unwrap();
        assert_eq!((removed, totals.recipe_revisions), (8, 8));

        // A run whose lease ran out and was claimed again stops at once and removes nothing.
        seed(store, p, "ee/1.0", 3, 0, 0);
        let stale = store.claim_cleanup_run(&RunClaim::Now { project: p, trigger: RunTrigger::Api, now: now(), owner: "a", lease_until: lease(-1) }).unwrap().unwrap();
        let taken = store.claim_cleanup_run(&RunClaim::Due { now: now(), owner: "b", lease_until: lease(60) }).unwrap().unwrap();
        assert_eq!((taken.id, taken.owner.as_str()), (stale.id, "b"));
        let outcome = execute(store, &stale, settings(100), &now, &mut |_| panic!("removed under a lost lease"));
        assert!(matches!(outcome, Err(StoreError::Conflict(_))), "{outcome:?}");
        assert_eq!(revisions(store, p, "ee/1.0"), [3, 2, 1]);
        assert!(execute(store, &taken, settings(100), &now, &mut |_| {}).is_ok());
        assert_eq!(revisions(store, p, "ee/1.0"), [3]);
    }

    fn due_policies_are_claimed_once_per_cadence(store: &DieselStore) {
        let p = project(store, "p");
        seed(store, p, "zlib/1.3", 3, 0, 0);
        let mut policy = keep(Some(1), None);
        policy.enabled = true;
        set_policy(store, p, &policy);
        assert_eq!(store.claim_cleanup_run(&RunClaim::Due { now: now(), owner: "n1", lease_until: lease(60) }).unwrap(), None, "not due yet");
        let later = Cadence::Day.after(now());
        let due = RunClaim::Due { now: later, owner: "n1", lease_until: Cadence::Day.after(lease(60)) };
        let run = store.claim_cleanup_run(&due).unwrap().unwrap();
        assert_eq!((run.trigger, run.project), (RunTrigger::Schedule, p));
        assert_eq!(store.cleanup_policy(p).unwrap().next_run_at, Some(Cadence::Day.after(later)));
        let again = RunClaim::Due { now: later, owner: "n2", lease_until: Cadence::Day.after(lease(60)) };
        assert_eq!(store.claim_cleanup_run(&again).unwrap(), None, "claimed once");
        execute(store, &run, settings(10), &now, &mut |_| {}).unwrap();
        assert_eq!(revisions(store, p, "zlib/1.3"), [3]);
    }

    fn empty_projects_and_failed_runs(store: &DieselStore) {
        let p = project(store, "p");
        set_policy(store, p, &keep(Some(1), Some(1)));
        let report = dry_run(store, p, &keep(Some(1), Some(1)), now(), 10, 10).unwrap();
        assert_eq!(report.totals, CleanupTotals::default());
        assert!(report.items.is_empty());
        assert_eq!(run_now(store, p).totals, CleanupTotals::default());
        // A recipe with no committed revision is examined and left alone.
        fixtures::put(store, &FileOwner::Recipe(recipe_key(p, "pending/1.0", 1)), "conanfile.py", "x");
        assert_eq!(run_now(store, p).totals.recipes_examined, 1);
        assert_eq!(store.cleanup_histories(p, Some(RecipeId(i64::MAX - 1)), 10).unwrap(), []);
        let run = store.claim_cleanup_run(&RunClaim::Now { project: p, trigger: RunTrigger::Api, now: now(), owner: "x", lease_until: lease(60) }).unwrap().unwrap();
        assert!(store.finish_cleanup_run(run.id, "x", Some("the blob store is away"), now()).unwrap());
        let failed = store.cleanup_run(p, run.id).unwrap().unwrap();
        assert_eq!((failed.state, failed.error.as_deref()), (RunState::Failed, Some("the blob store is away")));
        assert_eq!(store.cleanup_runs(p, 1).unwrap()[0].id, run.id, "newest first");
    }
}
