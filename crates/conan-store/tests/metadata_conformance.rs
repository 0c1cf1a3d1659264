//! The metadata conformance suite: every guarantee of the storage traits, as the same test
//! functions run on SQLite and on PostgreSQL (see `support`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is the failure report"
)]

mod fixtures;
mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::thread;

use conan_model::{CaseSensitivity, PackageId, Revision, SearchPattern};
use conan_store::blob::Digests;
use conan_store::db::{DatabaseConfig, DieselStore};
use conan_store::{
    FileOutcome, FileOwner, FileStore, IdentityStore, MaintenanceStore, NewFile, NewToken, NewUser,
    PackageRevisionKey, PackageStore, ProjectId, ProjectKey, RecipeRevisionKey, RecipeStore, Role,
    SearchScope, SearchStore, SigningKeyId, StoreError, TokenHolder, TokenKind, TokenOwner,
    UploadId, Visibility, read_scope, read_scope_now,
};
use fixtures::{
    digests, package_key, path, pkg, project, put, recipe_key, reference, rev, try_put,
    upload_package, upload_recipe,
};

fn revisions_of(store: &DieselStore, project: ProjectId, recipe: &str) -> Vec<Revision> {
    store
        .recipe_revisions(project, &reference(recipe))
        .unwrap()
        .into_iter()
        .map(|entry| entry.revision)
        .collect()
}

fn search(store: &DieselStore, scope: &SearchScope, pattern: &str) -> Vec<String> {
    let pattern = SearchPattern::new(pattern, CaseSensitivity::Insensitive).unwrap();
    store
        .search_recipes(scope, &pattern, 500)
        .unwrap()
        .into_iter()
        .map(|found| found.reference.to_string())
        .collect()
}

backend_tests! {
    fn a_revision_is_invisible_until_its_manifest_is_stored(store: &DieselStore) {
        let project = project(store, "group/project");
        let key = recipe_key(project, "zlib/1.3", 1);
        let owner = FileOwner::Recipe(key.clone());
        put(store, &owner, "conanfile.py", "recipe");
        put(store, &owner, "conan_sources.tgz", "sources");
        assert_eq!(store.latest_recipe_revision(project, &key.recipe).unwrap(), None);
        assert!(store.recipe_revisions(project, &key.recipe).unwrap().is_empty());
        assert_eq!(store.recipe_revision(&key).unwrap(), None);
        assert_eq!(store.files(&owner).unwrap(), None);
        assert_eq!(store.file(&owner, &path("conanfile.py")).unwrap(), None);
        assert!(search(store, &SearchScope::All, "zlib").is_empty());

        let stored = put(store, &owner, "conanmanifest.txt", "1\n");
        let committed = stored.committed.expect("the manifest commits the revision");
        assert_eq!(committed.revision, key.revision);
        assert_eq!(store.latest_recipe_revision(project, &key.recipe).unwrap(), Some(committed.clone()));
        let files: Vec<String> = store.files(&owner).unwrap().unwrap().into_iter().map(|f| f.path.to_string()).collect();
        assert_eq!(files, ["conan_sources.tgz", "conanfile.py", "conanmanifest.txt"]);
        assert_eq!(search(store, &SearchScope::All, "zlib"), ["zlib/1.3"]);

        // Metadata may arrive after the manifest and is visible at once.
        let late = put(store, &owner, "metadata/logs/build.log", "log");
        assert_eq!(late.outcome, FileOutcome::Created);
        assert_eq!(late.committed, None);
        let record = store.file(&owner, &path("metadata/logs/build.log")).unwrap().unwrap();
        assert_eq!(record.digests, digests("log"));
        // The commit time never changes afterwards.
        assert_eq!(store.latest_recipe_revision(project, &key.recipe).unwrap(), Some(committed));
    }

    fn revisions_list_newest_first_and_latest_follows_deletes(store: &DieselStore) {
        let project = project(store, "p");
        for n in 1..=3 {
            upload_recipe(store, &recipe_key(project, "zlib/1.3", n));
        }
        assert_eq!(revisions_of(store, project, "zlib/1.3"), [rev(3), rev(2), rev(1)]);
        let entries = store.recipe_revisions(project, &reference("zlib/1.3")).unwrap();
        assert!(entries.windows(2).all(|pair| pair[0].time > pair[1].time), "strictly ordered times");

        assert!(store.delete_recipe_revision(&recipe_key(project, "zlib/1.3", 3)).unwrap());
        let latest = store.latest_recipe_revision(project, &reference("zlib/1.3")).unwrap().unwrap();
        assert_eq!(latest.revision, rev(2));
        assert!(!store.delete_recipe_revision(&recipe_key(project, "zlib/1.3", 3)).unwrap(), "already gone");

        assert!(store.delete_recipe_revision(&recipe_key(project, "zlib/1.3", 2)).unwrap());
        assert!(store.delete_recipe_revision(&recipe_key(project, "zlib/1.3", 1)).unwrap());
        assert_eq!(store.latest_recipe_revision(project, &reference("zlib/1.3")).unwrap(), None);
        assert!(search(store, &SearchScope::All, "*").is_empty(), "an empty recipe is never shown");

        upload_recipe(store, &recipe_key(project, "zlib/1.3", 4));
        assert_eq!(revisions_of(store, project, "zlib/1.3"), [rev(4)]);
    }

    fn reuploading_keeps_time_and_position_and_never_duplicates(store: &DieselStore) {
        let project = project(store, "p");
        let first = recipe_key(project, "zlib/1.3", 1);
        upload_recipe(store, &first);
        upload_recipe(store, &recipe_key(project, "zlib/1.3", 2));
        let before = store.recipe_revisions(project, &first.recipe).unwrap();

        // The oldest revision again: the reference server duplicates it here.
        let owner = FileOwner::Recipe(first.clone());
        let again = put(store, &owner, "conanmanifest.txt", &format!("1\nconanfile.py: {}\n", first.revision));
        assert_eq!(again.outcome, FileOutcome::Unchanged);
        assert_eq!(again.committed, None);
        upload_recipe(store, &first);

        assert_eq!(store.recipe_revisions(project, &first.recipe).unwrap(), before);
        assert_eq!(revisions_of(store, project, "zlib/1.3"), [rev(2), rev(1)]);
    }

    fn immutable_files_conflict_and_metadata_files_may_change(store: &DieselStore) {
        let project = project(store, "p");
        let key = recipe_key(project, "zlib/1.3", 1);
        let owner = FileOwner::Recipe(key.clone());

        // Before the commit a file may still be replaced (an interrupted upload retried).
        put(store, &owner, "conanfile.py", "first try");
        assert_eq!(put(store, &owner, "conanfile.py", "second try").outcome, FileOutcome::Replaced);
        put(store, &owner, "metadata/sbom.json", "{}");
        put(store, &owner, "conanmanifest.txt", "1\n");

        assert_eq!(put(store, &owner, "conanfile.py", "second try").outcome, FileOutcome::Unchanged);
        assert_eq!(put(store, &owner, "conanfile.py", "tampered").outcome, FileOutcome::Refused);
        // A manifest with other bytes is refused unless the caller vouches that it lists the
        // same files as the committed one (and names that one).
        assert_eq!(put(store, &owner, "conanmanifest.txt", "2\n").outcome, FileOutcome::Refused);
        let committed = digests("1\n").sha256;
        let same = |vouched: &str| {
            let (file, sums) = (path("conanmanifest.txt"), digests("2\n"));
            let new = NewFile { path: &file, digests: &sums, conaninfo: None, upload: None, same_files_as: Some(vouched), revision_time: None };
            store.record_file(&owner, new, &mut || Ok(())).unwrap()
        };
        assert_eq!(same(digests("other").sha256.as_str()).outcome, FileOutcome::Refused);
        let kept = same(committed.as_str());
        assert_eq!((kept.outcome, kept.committed), (FileOutcome::Kept, None));
        // Another builder's archive of the same files: the first bytes are kept.
        put(store, &owner, "conan_sources.tgz", "first build");
        assert_eq!(put(store, &owner, "conan_sources.tgz", "second build").outcome, FileOutcome::Kept);
        // Nothing changed, and the refused and unused blobs are garbage.
        let record = store.file(&owner, &path("conanfile.py")).unwrap().unwrap();
        assert_eq!(record.digests, digests("second try"));
        let record = store.file(&owner, &path("conanmanifest.txt")).unwrap().unwrap();
        assert_eq!(record.digests, digests("1\n"));
        let record = store.file(&owner, &path("conan_sources.tgz")).unwrap().unwrap();
        assert_eq!(record.digests, digests("first build"));
        // A refused file changes nothing, not even the blob index; a kept one's blob is garbage.
        assert!(!store.blob_indexed(&digests("tampered").sha256).unwrap());
        assert_eq!(store.mark_orphaned_blobs().unwrap(), 3, "first try, 2 (kept), second build");

        assert_eq!(put(store, &owner, "metadata/sbom.json", "{\"v\":2}").outcome, FileOutcome::Replaced);
        let metadata = store.file(&owner, &path("metadata/sbom.json")).unwrap().unwrap();
        assert_eq!(metadata.digests, digests("{\"v\":2}"));
        assert!(metadata.updated_at >= metadata.created_at);
    }

    fn revision_zero_uploads_replace_its_whole_content_at_their_manifest(store: &DieselStore) {
        let project = project(store, "p");
        let key = RecipeRevisionKey { project, recipe: reference("zlib/1.3"), revision: Revision::zero() };
        let owner = FileOwner::Recipe(key.clone());
        let (first, second, stray) = (UploadId::generate(), UploadId::generate(), UploadId::generate());
        let put_in = |upload: &UploadId, file: &str, content: &str| {
            let (file, sums) = (path(file), digests(content));
            let new = NewFile { path: &file, digests: &sums, conaninfo: None, upload: Some(upload), same_files_as: None, revision_time: None };
            store.record_file(&owner, new, &mut || Ok(())).unwrap()
        };
        let listing = || -> Vec<(String, String)> {
            store.files(&owner).unwrap().unwrap_or_default().into_iter()
                .map(|f| (f.path.to_string(), f.digests.sha256.to_string())).collect()
        };
        put_in(&first, "conan_sources.tgz", "sources 1");
        put_in(&first, "conanfile.py", "recipe 1");
        assert!(listing().is_empty(), "invisible before its manifest");
        let one = put_in(&first, "conanmanifest.txt", "manifest 1").committed.expect("commits");
        assert_eq!(one.revision, Revision::zero());
        put(store, &owner, "metadata/logs/build.log", "log");
        let old = listing();
        assert_eq!(old.len(), 4);

        // A second upload without sources, and a stray one that never finishes.
        put_in(&stray, "conan_export.tgz", "stray");
        put_in(&second, "conanfile.py", "recipe 2");
        assert_eq!(listing(), old, "the old set whole until the new manifest");
        let two = put_in(&second, "conanmanifest.txt", "manifest 2").committed.expect("commits again");
        assert!(two.time > one.time, "re-committed later");
        assert_eq!(store.latest_recipe_revision(project, &key.recipe).unwrap(), Some(two));
        assert_eq!(store.recipe_revisions(project, &key.recipe).unwrap().len(), 1);
        let sha = |content: &str| digests(content).sha256.to_string();
        assert_eq!(
            listing(),
            [
                ("conanfile.py".to_owned(), sha("recipe 2")),
                ("conanmanifest.txt".to_owned(), sha("manifest 2")),
                ("metadata/logs/build.log".to_owned(), sha("log")),
            ],
            "exactly the new upload, and the metadata that changes on its own"
        );

        // Binaries of revision `0` follow the same rule, with their conaninfo.txt.
        let package = FileOwner::Package(PackageRevisionKey { recipe: key.clone(), package_id: pkg(1), revision: Revision::zero() });
        for (n, upload) in [(1, UploadId::generate()), (2, UploadId::generate())] {
            let put_package = |file: &str, content: &str| {
                let (file_path, sums) = (path(file), digests(content));
                let conaninfo = (file == "conaninfo.txt").then_some(content);
                let new = NewFile { path: &file_path, digests: &sums, conaninfo, upload: Some(&upload), same_files_as: None, revision_time: None };
                store.record_file(&package, new, &mut || Ok(())).unwrap()
            };
            put_package("conan_package.tgz", &format!("binary {n}"));
            put_package("conaninfo.txt", &format!("[settings]\nbuild={n}\n"));
            assert!(put_package("conanmanifest.txt", &format!("package manifest {n}")).committed.is_some());
            let files = store.files(&package).unwrap().unwrap();
            assert_eq!(files.len(), 3);
            assert!(files.iter().any(|f| f.digests == digests(&format!("binary {n}"))));
            let entries = store.packages(&key).unwrap();
            assert_eq!(entries.len(), 1);
            assert_eq!(entries[0].conaninfo.as_deref(), Some(format!("[settings]\nbuild={n}\n").as_str()));
        }
        assert_eq!(store.package_revisions(&key, &pkg(1)).unwrap().len(), 1);

        // Conan 1's remove_files: only revision `0`, only the named files.
        let removed = store.remove_revision_zero_files(project, &key.recipe, &[path("conanfile.py"), path("conan_sources.tgz")]).unwrap();
        assert_eq!(removed, 1);
        assert_eq!(listing().len(), 2);
        let real = recipe_key(project, "zlib/1.3", 5);
        upload_recipe(store, &real);
        let before = store.files(&FileOwner::Recipe(real.clone())).unwrap();
        assert_eq!(store.remove_revision_zero_files(project, &key.recipe, &[path("conanfile.py")]).unwrap(), 0);
        assert_eq!(store.files(&FileOwner::Recipe(real)).unwrap(), before, "real revisions never change");
        // Deleting the recipe takes the stray upload's staging with it: its blob is garbage.
        assert!(store.delete_recipe(project, &key.recipe).unwrap());
        store.mark_orphaned_blobs().unwrap();
        assert!(store.orphaned_blobs(conan_model::RevisionTime::MAX, 100).unwrap().contains(&digests("stray").sha256));
    }

    fn abandoned_revision_zero_uploads_are_purged_after_the_staging_age(store: &DieselStore) {
        let project = project(store, "p");
        let recipe = |name: &str| RecipeRevisionKey { project, recipe: reference(name), revision: Revision::zero() };
        let stage = |key: &RecipeRevisionKey, file: &str, content: &str, upload: &UploadId| {
            let (file, sums) = (path(file), digests(content));
            let new = NewFile { path: &file, digests: &sums, conaninfo: None, upload: Some(upload), same_files_as: None, revision_time: None };
            store.record_file(&FileOwner::Recipe(key.clone()), new, &mut || Ok(())).unwrap()
        };
        // `old` is abandoned before its manifest; `done` commits; `late` begins after the cutoff.
        let (old, done, late) = (recipe("old/1.0"), recipe("done/1.0"), recipe("late/1.0"));
        stage(&old, "conanfile.py", "abandoned", &UploadId::generate());
        let upload = UploadId::generate();
        stage(&done, "conanfile.py", "done", &upload);
        stage(&done, "conanmanifest.txt", "done manifest", &upload);
        // A staged package of `done` that never finishes either.
        let package = FileOwner::Package(PackageRevisionKey { recipe: done.clone(), package_id: pkg(1), revision: Revision::zero() });
        let (file, sums) = (path("conan_package.tgz"), digests("abandoned binary"));
        let new = NewFile { path: &file, digests: &sums, conaninfo: None, upload: Some(&UploadId::generate()), same_files_as: None, revision_time: None };
        store.record_file(&package, new, &mut || Ok(())).unwrap();
        thread::sleep(std::time::Duration::from_millis(5));
        let cutoff = conan_model::RevisionTime::from_system_time(std::time::SystemTime::now()).unwrap();
        thread::sleep(std::time::Duration::from_millis(5));
        let in_progress = UploadId::generate();
        stage(&late, "conanfile.py", "in progress", &in_progress);

        assert_eq!(store.purge_abandoned_uploads(cutoff).unwrap(), 2, "the old recipe upload and the old package upload");
        assert_eq!(store.purge_abandoned_uploads(cutoff).unwrap(), 0, "once");
        store.mark_orphaned_blobs().unwrap();
        let garbage = store.orphaned_blobs(conan_model::RevisionTime::MAX, 100).unwrap();
        for content in ["abandoned", "abandoned binary"] {
            assert!(garbage.contains(&digests(content).sha256), "{content}");
        }
        for content in ["done", "done manifest", "in progress"] {
            assert!(!garbage.contains(&digests(content).sha256), "{content}");
        }
        assert_eq!(store.files(&FileOwner::Recipe(done.clone())).unwrap().unwrap().len(), 2);
        assert!(search(store, &SearchScope::All, "*").iter().all(|found| found != "old/1.0"));
        // The upload in progress still commits whole.
        let committed = stage(&late, "conanmanifest.txt", "late manifest", &in_progress);
        assert!(committed.committed.is_some());
        assert_eq!(store.files(&FileOwner::Recipe(late)).unwrap().unwrap().len(), 2);
    }

    fn packages_need_a_committed_recipe_revision(store: &DieselStore) {
        let project = project(store, "p");
        let recipe = recipe_key(project, "zlib/1.3", 1);
        let package = FileOwner::Package(package_key(&recipe, 1, 1));
        let error = try_put(store, &package, "conaninfo.txt", "[settings]\n").unwrap_err();
        assert!(error.is_not_found(), "{error}");
        put(store, &FileOwner::Recipe(recipe.clone()), "conanfile.py", "recipe");
        let error = try_put(store, &package, "conaninfo.txt", "[settings]\n").unwrap_err();
        assert!(error.is_not_found(), "uncommitted recipe revision: {error}");
        put(store, &FileOwner::Recipe(recipe.clone()), "conanmanifest.txt", "1\n");
        put(store, &package, "conaninfo.txt", "[settings]\n");
    }

    fn packages_list_their_latest_revision_and_conaninfo(store: &DieselStore) {
        let project = project(store, "p");
        let recipe = recipe_key(project, "zlib/1.3", 1);
        upload_recipe(store, &recipe);
        upload_package(store, &package_key(&recipe, 1, 1));
        upload_package(store, &package_key(&recipe, 1, 2));
        upload_package(store, &package_key(&recipe, 2, 7));
        // An uncommitted package is invisible.
        put(store, &FileOwner::Package(package_key(&recipe, 3, 1)), "conaninfo.txt", "[settings]\n");

        let packages = store.packages(&recipe).unwrap();
        let summary: Vec<(PackageId, Revision)> =
            packages.iter().map(|p| (p.package_id.clone(), p.latest.revision.clone())).collect();
        assert_eq!(summary, [(pkg(1), rev(2)), (pkg(2), rev(7))]);
        assert_eq!(packages[0].conaninfo.as_deref(), Some(format!("[settings]\nos=Linux\n# {}\n", rev(2)).as_str()));

        let revisions: Vec<Revision> = store.package_revisions(&recipe, &pkg(1)).unwrap().into_iter().map(|e| e.revision).collect();
        assert_eq!(revisions, [rev(2), rev(1)]);
        assert_eq!(store.latest_package_revision(&recipe, &pkg(1)).unwrap().unwrap().revision, rev(2));
        assert_eq!(store.latest_package_revision(&recipe, &pkg(3)).unwrap(), None);
        assert!(store.package_revision(&package_key(&recipe, 1, 1)).unwrap().is_some());
        assert!(store.package_revision(&package_key(&recipe, 3, 1)).unwrap().is_none());
        let files: Vec<String> = store
            .files(&FileOwner::Package(package_key(&recipe, 1, 2)))
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|f| f.path.to_string())
            .collect();
        assert_eq!(files, ["conan_package.tgz", "conaninfo.txt", "conanmanifest.txt"]);
        // Every committed package revision's size, in one query: each equals its file listing's
        // total; the uncommitted one is not there.
        let mut sizes = store.package_revision_sizes(&recipe).unwrap();
        sizes.sort();
        let expected: Vec<(PackageId, Revision, u64)> = [(1, 1), (1, 2), (2, 7)]
            .into_iter()
            .map(|(package, revision)| {
                let listed = store.files(&FileOwner::Package(package_key(&recipe, package, revision))).unwrap().unwrap();
                (pkg(package), rev(revision), listed.iter().map(|file| file.digests.size).sum())
            })
            .collect();
        assert_eq!(sizes, expected);
        assert!(expected.iter().all(|(_, _, size)| *size > 0));
        // Another recipe revision has no packages.
        upload_recipe(store, &recipe_key(project, "zlib/1.3", 2));
        assert!(store.packages(&recipe_key(project, "zlib/1.3", 2)).unwrap().is_empty());
        assert!(store.package_revision_sizes(&recipe_key(project, "zlib/1.3", 2)).unwrap().is_empty());
        assert!(store.package_revision_sizes(&recipe_key(project, "zlib/9.9", 1)).unwrap().is_empty());
    }

    fn package_deletes_cascade(store: &DieselStore) {
        let project = project(store, "p");
        let recipe = recipe_key(project, "zlib/1.3", 1);
        upload_recipe(store, &recipe);
        upload_package(store, &package_key(&recipe, 1, 1));
        upload_package(store, &package_key(&recipe, 1, 2));
        upload_package(store, &package_key(&recipe, 2, 1));
        upload_package(store, &package_key(&recipe, 3, 1));

        assert!(store.delete_package_revision(&package_key(&recipe, 1, 2)).unwrap());
        assert_eq!(store.latest_package_revision(&recipe, &pkg(1)).unwrap().unwrap().revision, rev(1));
        assert_eq!(store.files(&FileOwner::Package(package_key(&recipe, 1, 2))).unwrap(), None);
        assert!(store.delete_package_revision(&package_key(&recipe, 1, 1)).unwrap());
        assert!(store.packages(&recipe).unwrap().iter().all(|p| p.package_id != pkg(1)), "last revision takes the package");
        assert!(!store.delete_package_revision(&package_key(&recipe, 1, 1)).unwrap());

        assert!(store.delete_package(&recipe, &pkg(2)).unwrap());
        assert!(!store.delete_package(&recipe, &pkg(2)).unwrap());
        assert_eq!(store.packages(&recipe).unwrap().len(), 1);
        assert!(store.delete_packages(&recipe).unwrap());
        assert!(store.packages(&recipe).unwrap().is_empty());
        assert!(!store.delete_packages(&recipe).unwrap());
        // The recipe itself is untouched.
        assert!(store.recipe_revision(&recipe).unwrap().is_some());
    }

    fn recipe_deletes_cascade_to_packages_and_files(store: &DieselStore) {
        let project = project(store, "p");
        let first = recipe_key(project, "zlib/1.3", 1);
        let second = recipe_key(project, "zlib/1.3", 2);
        upload_recipe(store, &first);
        upload_recipe(store, &second);
        upload_package(store, &package_key(&first, 1, 1));
        upload_package(store, &package_key(&second, 1, 1));

        assert!(store.delete_recipe_revision(&first).unwrap());
        assert_eq!(store.files(&FileOwner::Recipe(first.clone())).unwrap(), None);
        assert_eq!(store.files(&FileOwner::Package(package_key(&first, 1, 1))).unwrap(), None);
        assert!(store.packages(&first).unwrap().is_empty());
        assert_eq!(store.packages(&second).unwrap().len(), 1);

        assert!(store.delete_recipe(project, &first.recipe).unwrap());
        assert!(!store.delete_recipe(project, &first.recipe).unwrap());
        assert_eq!(store.latest_recipe_revision(project, &first.recipe).unwrap(), None);
        assert!(store.packages(&second).unwrap().is_empty());
        // Every file row went with its revision: all blobs are now unreferenced.
        assert_eq!(store.mark_orphaned_blobs().unwrap(), store.indexed_blobs(None, 1000).unwrap().len() as u64);
    }

    fn the_same_recipe_in_two_projects_is_two_recipes(store: &DieselStore) {
        let one = project(store, "one");
        let two = project(store, "two");
        upload_recipe(store, &recipe_key(one, "zlib/1.3", 1));
        upload_recipe(store, &recipe_key(two, "zlib/1.3", 2));
        assert_eq!(revisions_of(store, one, "zlib/1.3"), [rev(1)]);
        assert_eq!(revisions_of(store, two, "zlib/1.3"), [rev(2)]);
        assert!(store.delete_recipe(one, &reference("zlib/1.3")).unwrap());
        assert_eq!(revisions_of(store, two, "zlib/1.3"), [rev(2)]);
    }

    fn user_and_channel_are_part_of_the_identity(store: &DieselStore) {
        let project = project(store, "p");
        for (n, text) in ["zlib/1.3", "zlib/1.3@user", "zlib/1.3@user/channel", "Zlib/1.3"].iter().enumerate() {
            upload_recipe(store, &recipe_key(project, text, u32::try_from(n).unwrap() + 1));
        }
        assert_eq!(revisions_of(store, project, "zlib/1.3"), [rev(1)]);
        assert_eq!(revisions_of(store, project, "zlib/1.3@user"), [rev(2)]);
        assert_eq!(revisions_of(store, project, "zlib/1.3@user/channel"), [rev(3)]);
        assert_eq!(revisions_of(store, project, "Zlib/1.3"), [rev(4)]);
    }

    fn search_uses_the_model_semantics_scope_and_limit(store: &DieselStore) {
        let one = project(store, "one");
        let two = project(store, "two");
        for (n, text) in ["zlib/1.3", "zlib/1.2.13@user/channel", "zlibx/1.0", "Boost/1.80", "boost/1.81@conan"].iter().enumerate() {
            upload_recipe(store, &recipe_key(one, text, u32::try_from(n).unwrap() + 1));
        }
        upload_recipe(store, &recipe_key(two, "zlib/2.0", 9));
        // A recipe with only an uncommitted revision is not a search result.
        put(store, &FileOwner::Recipe(recipe_key(one, "zlib/9.9", 1)), "conanfile.py", "x");

        let only_one = SearchScope::Projects(vec![one]);
        assert_eq!(search(store, &only_one, "zlib"), ["zlib/1.2.13@user/channel", "zlib/1.3"]);
        assert_eq!(search(store, &SearchScope::All, "zlib"), ["zlib/1.2.13@user/channel", "zlib/1.3", "zlib/2.0"]);
        assert_eq!(search(store, &only_one, "zlib/1.3"), ["zlib/1.3"]);
        assert_eq!(search(store, &only_one, "*/*@*"), ["boost/1.81@conan", "zlib/1.2.13@user/channel"]);
        assert_eq!(search(store, &only_one, "BOOST"), ["Boost/1.80", "boost/1.81@conan"]);
        assert_eq!(search(store, &only_one, "zlib/1"), Vec::<String>::new());
        assert_eq!(search(store, &only_one, ""), search(store, &only_one, "*"));
        assert_eq!(search(store, &only_one, "*").len(), 5);
        assert!(search(store, &SearchScope::Projects(vec![]), "*").is_empty());

        let sensitive = SearchPattern::new("boost*", CaseSensitivity::Sensitive).unwrap();
        let found: Vec<String> = store.search_recipes(&only_one, &sensitive, 500).unwrap().into_iter().map(|m| m.reference.to_string()).collect();
        assert_eq!(found, ["boost/1.81@conan"]);

        let everything = SearchPattern::new("*", CaseSensitivity::Insensitive).unwrap();
        let capped = store.search_recipes(&SearchScope::All, &everything, 2).unwrap();
        assert_eq!(capped.len(), 2);
        let matched = store.search_recipes(&SearchScope::All, &SearchPattern::new("zlib/2*", CaseSensitivity::Insensitive).unwrap(), 500).unwrap();
        assert_eq!(matched[0].project, two);
    }

    fn search_pages_through_many_recipes(store: &DieselStore) {
        let project = project(store, "p");
        // More than one search page (1000 rows), most of which the pattern rejects.
        let owner_of = |n: u32| FileOwner::Recipe(recipe_key(project, &format!("pkg{n:04}/1.0"), 1));
        for n in 0..1_050 {
            put(store, &owner_of(n), "conanmanifest.txt", "1\n");
        }
        let found = search(store, &SearchScope::All, "pkg1*5");
        assert_eq!(found, ["pkg1005/1.0", "pkg1015/1.0", "pkg1025/1.0", "pkg1035/1.0", "pkg1045/1.0"]);
        let capped = store
            .search_recipes(&SearchScope::All, &SearchPattern::new("pkg*", CaseSensitivity::Insensitive).unwrap(), 500)
            .unwrap();
        assert_eq!(capped.len(), 500);
        assert_eq!(capped[499].reference.to_string(), "pkg0499/1.0");
    }

    fn blobs_are_indexed_and_collected(store: &DieselStore) {
        let project = project(store, "p");
        let key = recipe_key(project, "zlib/1.3", 1);
        let owner = FileOwner::Recipe(key.clone());

        // A failing blob check rolls the whole record back: no file, no revision, no index row.
        let unpublished = digests("unpublished");
        let failed = store
            .record_file(
                &owner,
                NewFile { path: &path("conanmanifest.txt"), digests: &unpublished, conaninfo: None, upload: None, same_files_as: None, revision_time: None },
                &mut || Err(StoreError::Invalid("object store down".to_owned())),
            )
            .unwrap_err();
        assert!(matches!(failed, StoreError::Invalid(_)), "{failed}");
        assert!(!store.blob_indexed(&unpublished.sha256).unwrap());
        assert_eq!(store.recipe_revision(&key).unwrap(), None);

        upload_recipe(store, &key);
        let manifest = digests(&format!("1\nconanfile.py: {}\n", key.revision));
        assert_eq!(store.blob_by_sha1(&manifest.sha1).unwrap(), Some(manifest.clone()));
        assert_eq!(store.blob_by_sha1(&"0".repeat(40)).unwrap(), None);

        // A blob whose only file went away is unreferenced.
        let stray = digests("stray");
        let scratch = recipe_key(project, "scratch/1.0", 9);
        put(store, &FileOwner::Recipe(scratch.clone()), "conanfile.py", "stray");
        store.delete_recipe_revision(&scratch).unwrap();
        assert_eq!(store.mark_orphaned_blobs().unwrap(), 1);
        let now = conan_model::RevisionTime::from_system_time(std::time::SystemTime::now()).unwrap();
        let far_past = conan_model::RevisionTime::from_unix_micros(0).unwrap();
        assert_eq!(store.orphaned_blobs(now, 10).unwrap(), std::slice::from_ref(&stray.sha256));
        assert!(store.orphaned_blobs(far_past, 10).unwrap().is_empty(), "grace period respected");

        // Recording a file with it again clears the mark: that upload wins over the collector.
        put(store, &FileOwner::Recipe(scratch.clone()), "conanfile.py", "stray");
        store.delete_recipe_revision(&scratch).unwrap();
        let mut deleted_objects = Vec::new();
        assert!(!store.delete_orphaned_blob(&stray.sha256, now, &mut || { deleted_objects.push(1); Ok(()) }).unwrap());
        assert!(deleted_objects.is_empty());

        store.mark_orphaned_blobs().unwrap();
        let later = conan_model::RevisionTime::from_system_time(std::time::SystemTime::now()).unwrap();
        assert!(store.delete_orphaned_blob(&stray.sha256, later, &mut || { deleted_objects.push(1); Ok(()) }).unwrap());
        assert_eq!(deleted_objects.len(), 1);
        assert!(!store.blob_indexed(&stray.sha256).unwrap());

        // A failing object deletion keeps the row.
        put(store, &FileOwner::Recipe(scratch.clone()), "conanfile.py", "stray");
        store.delete_recipe_revision(&scratch).unwrap();
        store.mark_orphaned_blobs().unwrap();
        let later = conan_model::RevisionTime::from_system_time(std::time::SystemTime::now()).unwrap();
        let failed = store.delete_orphaned_blob(&stray.sha256, later, &mut || Err(StoreError::Invalid("disk gone".to_owned())));
        assert!(failed.is_err());
        assert!(store.blob_indexed(&stray.sha256).unwrap());

        // Referenced blobs are never collected.
        let referenced = store.indexed_blobs(None, 100).unwrap();
        for blob in referenced.iter().filter(|b| b.sha256 != stray.sha256) {
            assert!(!store.delete_orphaned_blob(&blob.sha256, later, &mut || Ok(())).unwrap());
        }
        // Paging through the index.
        let first_page = store.indexed_blobs(None, 2).unwrap();
        let next_page = store.indexed_blobs(Some(&first_page[1].sha256), 100).unwrap();
        assert_eq!(first_page.len() + next_page.len(), referenced.len());
    }

    fn identical_content_is_one_blob(store: &DieselStore) {
        let project = project(store, "p");
        let one = FileOwner::Recipe(recipe_key(project, "zlib/1.3", 1));
        let two = FileOwner::Recipe(recipe_key(project, "bzip2/1.0", 2));
        put(store, &one, "conan_export.tgz", "same bytes");
        put(store, &two, "conan_export.tgz", "same bytes");
        let blobs = store.indexed_blobs(None, 100).unwrap();
        assert_eq!(blobs.iter().filter(|b| b.sha256 == digests("same bytes").sha256).count(), 1);
    }

    fn an_md5_recorded_later_reaches_the_blob_and_its_files(store: &DieselStore) {
        let project = project(store, "p");
        let one = FileOwner::Recipe(recipe_key(project, "zlib/1.3", 1));
        let two = FileOwner::Recipe(recipe_key(project, "bzip2/1.0", 2));
        // As an upload records it: no md5.
        let record = |owner: &FileOwner, file: &str, content: &str| {
            let digests = Digests { md5: None, ..digests(content) };
            let file_path = path(file);
            let file = NewFile { path: &file_path, digests: &digests, conaninfo: None, upload: None, same_files_as: None, revision_time: None };
            store.record_file(owner, file, &mut || Ok(())).unwrap();
        };
        for owner in [&one, &two] {
            record(owner, "conan_export.tgz", "shared");
            record(owner, "conanfile.py", "# own file");
            record(owner, "conanmanifest.txt", "1\n");
        }
        let shared = digests("shared");
        let md5_of = |owner: &FileOwner, file: &str| {
            let files = store.files(owner).unwrap().unwrap();
            files.into_iter().find(|f| f.path.as_str() == file).unwrap().digests.md5
        };
        assert_eq!(md5_of(&one, "conan_export.tgz"), None);
        assert_eq!(store.blob_md5(&shared.sha256).unwrap(), None);
        assert_eq!(store.blob_by_sha1(&shared.sha1).unwrap().unwrap().md5, None);

        // Recorded once, for the blob and every file with that content; nothing else changes.
        store.record_md5(&shared.sha256, shared.md5.as_deref().unwrap()).unwrap();
        assert_eq!(store.blob_md5(&shared.sha256).unwrap(), shared.md5);
        assert_eq!(md5_of(&one, "conan_export.tgz"), shared.md5);
        assert_eq!(md5_of(&two, "conan_export.tgz"), shared.md5);
        assert_eq!(md5_of(&one, "conanfile.py"), None);
        assert_eq!(store.blob_by_sha1(&shared.sha1).unwrap().unwrap().md5, shared.md5);
        assert_eq!(store.indexed_blobs(None, 100).unwrap().iter().filter(|b| b.md5.is_some()).count(), 1);

        // An md5 once recorded is kept: a second, different value changes nothing.
        store.record_md5(&shared.sha256, &"0".repeat(32)).unwrap();
        assert_eq!(store.blob_md5(&shared.sha256).unwrap(), shared.md5);
        assert_eq!(md5_of(&two, "conan_export.tgz"), shared.md5);
        // An unknown blob has none, and recording one for it changes nothing.
        let unknown = digests("never stored");
        store.record_md5(&unknown.sha256, unknown.md5.as_deref().unwrap()).unwrap();
        assert_eq!(store.blob_md5(&unknown.sha256).unwrap(), None);
        // An md5 recorded with the file (as before uploads stopped computing it) reads back.
        put(store, &FileOwner::Recipe(recipe_key(project, "eager/1.0", 3)), "conanfile.py", "# eager");
        assert_eq!(store.blob_md5(&digests("# eager").sha256).unwrap(), digests("# eager").md5);
    }

    fn concurrent_uploads_of_one_revision_leave_one_revision(store: &DieselStore) {
        let project = project(store, "p");
        let key = recipe_key(project, "zlib/1.3", 1);
        let workers = 8;
        let barrier = Arc::new(Barrier::new(workers));
        thread::scope(|scope| {
            for _ in 0..workers {
                let barrier = Arc::clone(&barrier);
                let key = key.clone();
                scope.spawn(move || {
                    barrier.wait();
                    upload_recipe(store, &key);
                    upload_package(store, &package_key(&key, 1, 1));
                });
            }
        });
        assert_eq!(revisions_of(store, project, "zlib/1.3"), [rev(1)]);
        assert_eq!(store.package_revisions(&key, &pkg(1)).unwrap().len(), 1);
        assert_eq!(store.files(&FileOwner::Recipe(key)).unwrap().unwrap().len(), 3);
    }

    fn concurrent_uploads_of_different_revisions_lose_none(store: &DieselStore) {
        let project = project(store, "p");
        let workers: u32 = 8;
        let per_worker: u32 = 3;
        let barrier = Arc::new(Barrier::new(workers as usize));
        thread::scope(|scope| {
            for worker in 0..workers {
                let barrier = Arc::clone(&barrier);
                scope.spawn(move || {
                    barrier.wait();
                    for n in 0..per_worker {
                        upload_recipe(store, &recipe_key(project, "zlib/1.3", 1 + worker * per_worker + n));
                    }
                });
            }
        });
        let entries = store.recipe_revisions(project, &reference("zlib/1.3")).unwrap();
        let distinct: BTreeSet<&Revision> = entries.iter().map(|e| &e.revision).collect();
        assert_eq!(entries.len(), (workers * per_worker) as usize);
        assert_eq!(distinct.len(), entries.len());
        assert!(entries.windows(2).all(|pair| pair[0].time > pair[1].time), "commit times strictly ordered");
    }

    fn deletes_racing_uploads_and_downloads_leave_consistent_state(store: &DieselStore) {
        let project = project(store, "p");
        let key = recipe_key(project, "zlib/1.3", 1);
        upload_recipe(store, &key);
        let rounds = 20;
        thread::scope(|scope| {
            scope.spawn(|| {
                for _ in 0..rounds {
                    upload_recipe(store, &key);
                    // The delete may land between the recipe and its package: then the package
                    // upload is refused as "not found", never half applied.
                    let package = FileOwner::Package(package_key(&key, 1, 1));
                    for (file, content) in [("conaninfo.txt", "[settings]\n"), ("conanmanifest.txt", "1\n")] {
                        if let Err(error) = try_put(store, &package, file, content) {
                            assert!(error.is_not_found(), "{error}");
                            break;
                        }
                    }
                }
            });
            scope.spawn(|| {
                for _ in 0..rounds {
                    store.delete_recipe_revision(&key).unwrap();
                }
            });
            scope.spawn(|| {
                for _ in 0..rounds * 2 {
                    // A reader sees either a whole committed revision or nothing.
                    if let Some(files) = store.files(&FileOwner::Recipe(key.clone())).unwrap() {
                        assert!(files.iter().any(|f| f.path.as_str() == "conanmanifest.txt"));
                    }
                    let _ = store.packages(&key).unwrap();
                }
            });
        });
        // Whatever order things ran in, what is visible is whole, and no row dangles: every
        // blob is either referenced or collectable, and the recipe still answers.
        if let Some(files) = store.files(&FileOwner::Recipe(key.clone())).unwrap() {
            assert_eq!(files.len(), 3);
        }
        upload_recipe(store, &key);
        assert_eq!(revisions_of(store, project, "zlib/1.3"), [rev(1)]);
    }

    fn projects_users_memberships(store: &DieselStore) {
        let project = store.create_project("group/sub/project", Visibility::Private).unwrap();
        assert_eq!(project.path, "group/sub/project");
        assert!(matches!(store.create_project("group/sub/project", Visibility::Public), Err(StoreError::Conflict(_))));
        assert_eq!(store.project_by_path("group/sub/project").unwrap().unwrap().id, project.id);
        assert_eq!(store.project(project.id).unwrap().unwrap().visibility, Visibility::Private);
        assert!(store.set_project_visibility(project.id, Visibility::Internal).unwrap());
        assert_eq!(store.project(project.id).unwrap().unwrap().visibility, Visibility::Internal);
        store.create_project("other", Visibility::Public).unwrap();
        let open: Vec<String> = store.projects_with_visibility(&[Visibility::Public, Visibility::Internal]).unwrap().into_iter().map(|p| p.path).collect();
        assert_eq!(open, ["group/sub/project", "other"]);
        assert_eq!(store.projects().unwrap().len(), 2);

        assert_eq!(store.user_count().unwrap(), 0);
        let alice = store.create_user(&NewUser { username: "alice".to_owned(), password_hash: Some("hash".to_owned()), is_admin: true }).unwrap();
        assert!(matches!(store.create_user(&NewUser { username: "alice".to_owned(), password_hash: None, is_admin: false }), Err(StoreError::Conflict(_))));
        let bob = store.create_user(&NewUser { username: "bob".to_owned(), password_hash: None, is_admin: false }).unwrap();
        assert_eq!(store.user_count().unwrap(), 2);
        assert!(alice.is_admin && alice.is_active);
        assert!(store.set_user_active(bob.id, false).unwrap());
        assert!(!store.user(bob.id).unwrap().unwrap().is_active);
        assert!(store.set_user_admin(bob.id, true).unwrap());
        assert!(store.user(bob.id).unwrap().unwrap().is_admin);
        assert!(store.set_user_admin(bob.id, false).unwrap());
        assert!(!store.user(bob.id).unwrap().unwrap().is_admin);
        assert!(!store.set_user_admin(conan_store::UserId(999_999), true).unwrap());
        assert!(store.set_password_hash(bob.id, Some("new")).unwrap());
        assert_eq!(store.user_by_name("bob").unwrap().unwrap().password_hash.as_deref(), Some("new"));

        store.set_membership(project.id, bob.id, Role::Reporter).unwrap();
        store.set_membership(project.id, bob.id, Role::Maintainer).unwrap();
        assert_eq!(store.membership(project.id, bob.id).unwrap(), Some(Role::Maintainer));
        assert_eq!(store.user_memberships(bob.id).unwrap(), [(project.id, Role::Maintainer)]);
        assert_eq!(store.project_members(project.id).unwrap().len(), 1);
        assert!(store.remove_membership(project.id, bob.id).unwrap());
        assert_eq!(store.membership(project.id, bob.id).unwrap(), None);
    }

    fn a_project_and_a_role_in_one_query(store: &DieselStore) {
        let project = store.create_project("team/libs", Visibility::Private).unwrap();
        let other = store.create_project("team/other", Visibility::Public).unwrap();
        let user = |name: &str| store.create_user(&NewUser { username: name.to_owned(), password_hash: None, is_admin: false }).unwrap().id;
        let (dave, erin) = (user("dave"), user("erin"));
        store.set_membership(project.id, dave, Role::Developer).unwrap();
        store.set_membership(other.id, erin, Role::Maintainer).unwrap();

        for key in [ProjectKey::Id(project.id), ProjectKey::Path("team/libs")] {
            assert_eq!(store.project_and_role(key, Some(dave)).unwrap(), Some((project.clone(), Some(Role::Developer))));
            // Another project's membership, and nobody, give the project without a role.
            assert_eq!(store.project_and_role(key, Some(erin)).unwrap(), Some((project.clone(), None)));
            assert_eq!(store.project_and_role(key, None).unwrap(), Some((project.clone(), None)));
        }
        assert_eq!(store.project_and_role(ProjectKey::Path("team/other"), Some(erin)).unwrap(), Some((other.clone(), Some(Role::Maintainer))));
        assert_eq!(store.project_and_role(ProjectKey::Path("team/other"), Some(dave)).unwrap(), Some((other, None)));
        assert_eq!(store.project_and_role(ProjectKey::Path("team"), Some(dave)).unwrap(), None);
        assert_eq!(store.project_and_role(ProjectKey::Id(ProjectId(999_999)), Some(dave)).unwrap(), None);
        assert!(store.remove_membership(project.id, dave).unwrap());
        assert_eq!(store.project_and_role(ProjectKey::Id(project.id), Some(dave)).unwrap(), Some((project, None)));
    }

    fn every_identity_change_and_nothing_else_moves_the_identity_epoch(store: &DieselStore) {
        let last = std::cell::Cell::new(store.identity_epoch().unwrap());
        let moved = |what: &str, expected: bool| {
            let now = store.identity_epoch().unwrap();
            assert!(now >= last.get(), "the epoch went back after {what}");
            assert_eq!(now > last.get(), expected, "{what}: whether the epoch moved");
            last.set(now);
        };
        let project = store.create_project("epoch/p", Visibility::Private).unwrap();
        moved("creating a project", true);
        store.set_project_visibility(project.id, Visibility::Public).unwrap();
        moved("changing a visibility", true);
        let user = store.create_user(&NewUser { username: "epoch".to_owned(), password_hash: None, is_admin: false }).unwrap();
        moved("creating a user", true);
        store.set_password_hash(user.id, Some("hash")).unwrap();
        moved("setting a password", true);
        store.set_user_active(user.id, false).unwrap();
        moved("disabling a user", true);
        store.set_user_admin(user.id, true).unwrap();
        moved("making a user an administrator", true);
        store.set_membership(project.id, user.id, Role::Reporter).unwrap();
        moved("adding a member", true);
        store.set_membership(project.id, user.id, Role::Maintainer).unwrap();
        moved("changing a role", true);
        assert!(store.remove_membership(project.id, user.id).unwrap());
        moved("removing a member", true);
        let token = |owner: TokenOwner, hash: &str| store.create_token(&NewToken { owner, name: "t".to_owned(), token_hash: hash.to_owned(), scopes: vec!["api".to_owned()], expires_at: None }).unwrap().id;
        let personal = token(TokenOwner::User(user.id), "epoch-1");
        moved("creating a personal token", true);
        let at = conan_model::RevisionTime::from_unix_micros(1_000_000).unwrap();
        store.touch_personal_token(personal, at).unwrap();
        moved("recording a token's use", false);
        assert!(store.revoke_token(TokenKind::Personal, personal, at).unwrap());
        moved("revoking a personal token", true);
        let deploy = token(TokenOwner::Project { project: project.id, username: "epoch-deploy".to_owned() }, "epoch-2");
        moved("creating a deploy token", true);
        assert!(store.revoke_token(TokenKind::Deploy, deploy, at).unwrap());
        moved("revoking a deploy token", true);
        let key = store.add_signing_key("secret").unwrap();
        moved("adding a signing key", true);
        assert!(store.remove_signing_key(key.id).unwrap());
        moved("removing a signing key", true);

        // Packages are not identities.
        let recipe = recipe_key(project.id, "zlib/1.3", 1);
        upload_recipe(store, &recipe);
        upload_package(store, &package_key(&recipe, 1, 1));
        assert!(store.delete_recipe_revision(&recipe).unwrap());
        moved("uploading and deleting packages", false);

        // In a read scope the epoch is the snapshot's, like every other read there.
        let (inside, after_write) = read_scope(store, || {
            let inside = store.identity_epoch().unwrap();
            store.create_user(&NewUser { username: "during".to_owned(), password_hash: None, is_admin: false }).unwrap();
            (inside, store.identity_epoch().unwrap())
        })
        .unwrap();
        assert_eq!((inside, after_write), (last.get(), last.get()));
        moved("creating a user during a read scope", true);
    }

    fn concurrent_identity_changes_each_move_the_epoch(store: &DieselStore) {
        const THREADS: usize = 6;
        const ROUNDS: usize = 10;
        let project = store.create_project("epoch/race", Visibility::Private).unwrap();
        let start = store.identity_epoch().unwrap();
        let barrier = Arc::new(Barrier::new(THREADS));
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                let (store, barrier) = (store.clone(), Arc::clone(&barrier));
                thread::spawn(move || {
                    let user = store.create_user(&NewUser { username: format!("racer{thread}"), password_hash: None, is_admin: false }).unwrap();
                    barrier.wait();
                    // Each round writes three identity tables in three transactions.
                    for _ in 0..ROUNDS {
                        store.set_membership(project.id, user.id, Role::Developer).unwrap();
                        store.set_user_active(user.id, false).unwrap();
                        assert!(store.remove_membership(project.id, user.id).unwrap());
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        let changes = i64::try_from(THREADS * (1 + 3 * ROUNDS)).unwrap();
        assert!(store.identity_epoch().unwrap() - start >= changes, "an increment was lost");
    }

    fn tokens_and_signing_keys(store: &DieselStore) {
        let project = store.create_project("p", Visibility::Private).unwrap();
        let user = store.create_user(&NewUser { username: "carol".to_owned(), password_hash: None, is_admin: false }).unwrap();
        let personal = store.create_token(&NewToken {
            owner: TokenOwner::User(user.id),
            name: "ci".to_owned(),
            token_hash: "hash-1".to_owned(),
            scopes: vec!["api".to_owned(), "read_package_registry".to_owned()],
            expires_at: None,
        }).unwrap();
        assert_eq!(personal.scopes, ["api", "read_package_registry"]);
        assert_eq!(store.token_by_hash(TokenKind::Personal, "hash-1").unwrap().unwrap().id, personal.id);
        assert_eq!(store.token_by_hash(TokenKind::Personal, "nope").unwrap(), None);
        let at = conan_model::RevisionTime::from_unix_micros(1_000_000).unwrap();
        store.touch_personal_token(personal.id, at).unwrap();
        assert_eq!(store.token(TokenKind::Personal, personal.id).unwrap().unwrap().last_used_at, Some(at));
        assert!(store.revoke_token(TokenKind::Personal, personal.id, at).unwrap());
        assert!(!store.revoke_token(TokenKind::Personal, personal.id, at).unwrap(), "revoking twice");
        assert_eq!(store.tokens(TokenHolder::User(user.id)).unwrap()[0].revoked_at, Some(at));

        let deploy = store.create_token(&NewToken {
            owner: TokenOwner::Project { project: project.id, username: "gitlab+deploy-token-1".to_owned() },
            name: "deploy".to_owned(),
            token_hash: "hash-2".to_owned(),
            scopes: vec!["write_package_registry".to_owned()],
            expires_at: Some(at),
        }).unwrap();
        assert_eq!(deploy.expires_at, Some(at));
        assert_eq!(store.token_by_hash(TokenKind::Deploy, "hash-2").unwrap().unwrap().owner, TokenOwner::Project { project: project.id, username: "gitlab+deploy-token-1".to_owned() });
        let duplicate = store.create_token(&NewToken {
            owner: TokenOwner::Project { project: project.id, username: "gitlab+deploy-token-1".to_owned() },
            name: "again".to_owned(),
            token_hash: "hash-3".to_owned(),
            scopes: vec![],
            expires_at: None,
        });
        assert!(matches!(duplicate, Err(StoreError::Conflict(_))));
        assert_eq!(store.tokens(TokenHolder::Project(project.id)).unwrap().len(), 1);
        assert!(store.revoke_token(TokenKind::Deploy, deploy.id, at).unwrap());
        assert!(store.token(TokenKind::Deploy, deploy.id).unwrap().unwrap().revoked_at.is_some());

        let first = store.add_signing_key("secret-1").unwrap();
        let second = store.add_signing_key("secret-2").unwrap();
        assert!(!format!("{first:?}").contains("secret-1"), "keys are redacted in Debug");
        let keys: Vec<SigningKeyId> = store.signing_keys().unwrap().into_iter().map(|k| k.id).collect();
        assert_eq!(keys, [second.id, first.id]);
        assert!(store.remove_signing_key(first.id).unwrap());
        assert_eq!(store.signing_keys().unwrap().len(), 1);
    }

    fn the_database_answers_health_checks(store: &DieselStore) {
        store.check().unwrap();
    }

    fn reads_in_a_scope_share_one_snapshot_and_one_connection(store: &DieselStore) {
        project(store, "before");
        let seen = read_scope(store, || {
            assert!(store.project_by_path("before").unwrap().is_some());
            assert_eq!(store.pool_state().0, 1, "the scope holds one connection");
            // A write commits on a connection of its own, which the snapshot does not see.
            project(store, "during");
            assert_eq!(store.project_by_path("during").unwrap(), None);
            // Nested scopes and further reads share the one connection and snapshot.
            let nested = read_scope(store, || store.project_by_path("during").unwrap()).unwrap();
            assert_eq!(nested, None);
            assert_eq!(store.pool_state().0, 1);
            store.projects().unwrap().len()
        })
        .unwrap();
        assert_eq!(seen, 1);
        assert_eq!(store.pool_state().0, 0, "the connection went back");
        assert!(store.project_by_path("during").unwrap().is_some());

        // A panic inside closes the scope: later reads see the present again.
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            read_scope(store, || {
                store.projects().unwrap();
                panic!("inside the scope");
            })
        }));
        assert!(unwound.is_err());
        project(store, "after");
        assert!(store.project_by_path("after").unwrap().is_some());
        assert_eq!(store.pool_state().0, 0);
    }

    fn a_scope_opens_on_the_calling_thread_only_when_nothing_waits(store: &DieselStore) {
        let id = project(store, "inline");
        let found = read_scope_now(store, || {
            assert_eq!(store.pool_state().0, 1, "the scope holds one connection");
            store.project_by_path("inline").unwrap().map(|found| found.id)
        });
        if store.backend() == "postgres" {
            // Its reads wait for round trips to the server: the work comes back unrun.
            assert!(found.is_err(), "a PostgreSQL scope never opens inline");
            return;
        }
        assert_eq!(found.ok().unwrap().unwrap(), Some(id));
        assert_eq!(store.pool_state().0, 0, "the connection went back");

        // With every pooled connection taken, the work comes back unrun.
        let max = DatabaseConfig::default().max_connections as usize;
        let barrier = Arc::new(Barrier::new(max + 1));
        let holders: Vec<_> = (0..max)
            .map(|_| {
                let (store, barrier) = (store.clone(), Arc::clone(&barrier));
                thread::spawn(move || {
                    read_scope(&store, || {
                        barrier.wait();
                        barrier.wait();
                    })
                    .unwrap();
                })
            })
            .collect();
        barrier.wait();
        assert!(read_scope_now(store, || ()).is_err(), "no idle connection: not opened");
        barrier.wait();
        for holder in holders {
            holder.join().unwrap();
        }
        assert!(read_scope_now(store, || ()).is_ok());

        // A personal token's use recorded from inside (an async worker must not wait for the
        // write lock) is handed to the runtime's blocking pool, and lands.
        let user = store.create_user(&NewUser { username: "inline".to_owned(), password_hash: None, is_admin: false }).unwrap();
        let token = store.create_token(&NewToken { owner: TokenOwner::User(user.id), name: "ci".to_owned(), token_hash: "inline-hash".to_owned(), scopes: vec!["api".to_owned()], expires_at: None }).unwrap();
        let at = conan_model::RevisionTime::from_unix_micros(2_000_000).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            read_scope_now(store, || store.touch_personal_token(token.id, at))
                .ok()
                .unwrap()
                .unwrap()
                .unwrap();
        });
        // Dropping the runtime waits for its blocking tasks.
        drop(runtime);
        assert_eq!(store.token(TokenKind::Personal, token.id).unwrap().unwrap().last_used_at, Some(at));

        // Any other write from inside is a bug, caught in debug builds, and the scope still
        // closes.
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            read_scope_now(store, || project(store, "written-inline"))
        }));
        assert_eq!(unwound.is_err(), cfg!(debug_assertions));
        assert_eq!(store.pool_state().0, 0);
    }
}
