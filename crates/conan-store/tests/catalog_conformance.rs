//! The conformance suite of [`CatalogStore`]: the package catalog GitLab's Packages API reads
//! (listings with every filter, order and page; what a listing shows of a recipe; files; file
//! deletes; recorded downloads), the same test functions on SQLite and on PostgreSQL (see
//! `support`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is the failure report"
)]

mod fixtures;
mod support;
use support::execute_sql;

use conan_model::RevisionTime;
use conan_store::catalog::{
    COUNT_LIMIT, CatalogOrder, CatalogPackage, CatalogPage, CatalogQuery, CatalogStatus, FileOrder,
    FileQuery, ProjectStats,
};
use conan_store::db::DieselStore;
use conan_store::{
    CatalogStore, DownloadRecorder, FileId, FileOwner, FileStore, ProjectId, RecipeId,
    RecipeRevisionKey, RecipeStore, StoreError,
};
use fixtures::{
    package_key, project, put, recipe_key, reference, rev, upload_package, upload_recipe,
};

/// A query for every committed recipe of `projects`, oldest first, one big page.
fn all(projects: &[ProjectId]) -> CatalogQuery {
    CatalogQuery {
        projects: projects.to_vec(),
        name_words: Vec::new(),
        name: None,
        version: None,
        status: CatalogStatus::Committed,
        order: CatalogOrder::CreatedAt,
        descending: false,
        offset: 0,
        limit: 100,
        count_limit: COUNT_LIMIT,
    }
}

fn listed(store: &DieselStore, query: &CatalogQuery) -> Vec<String> {
    references(&store.catalog_packages(query).unwrap())
}

fn references(page: &CatalogPage) -> Vec<String> {
    page.packages
        .iter()
        .map(|package| package.reference.to_string())
        .collect()
}

/// The catalog entry of `recipe` in `project`, committed or not.
fn package_of(store: &DieselStore, project: ProjectId, recipe: &str) -> CatalogPackage {
    let mut query = all(&[project]);
    for status in [CatalogStatus::Committed, CatalogStatus::Uploading] {
        query.status = status;
        let page = store.catalog_packages(&query).unwrap();
        if let Some(found) = page
            .packages
            .into_iter()
            .find(|package| package.reference.to_string() == recipe)
        {
            return found;
        }
    }
    panic!("{recipe} is not in the catalog")
}

/// Revision 1 of `reference` in `project`, as a download names it.
fn owner(project: ProjectId, reference: &str) -> FileOwner {
    FileOwner::Recipe(recipe_key(project, reference, 1))
}

/// Gives every recipe the same creation time, so only the tie-breaker orders them.
fn same_creation_time(store: &DieselStore) {
    execute_sql(store, "UPDATE recipes SET created_at = 1700000000000000");
}

fn time(micros: i64) -> RevisionTime {
    RevisionTime::from_unix_micros(micros).unwrap()
}

/// A recipe whose only revision has files but no manifest yet.
fn start_upload(store: &DieselStore, key: &RecipeRevisionKey) {
    put(
        store,
        &FileOwner::Recipe(key.clone()),
        "conanfile.py",
        "# uploading",
    );
}

fn file_query(order: FileOrder, descending: bool, offset: u64, limit: u32) -> FileQuery {
    FileQuery {
        order,
        descending,
        offset,
        limit,
    }
}

fn file_names(
    store: &DieselStore,
    project: ProjectId,
    recipe: RecipeId,
    query: &FileQuery,
) -> Vec<String> {
    store
        .catalog_files(project, recipe, query)
        .unwrap()
        .unwrap()
        .files
        .iter()
        .map(|file| file.path.to_string())
        .collect()
}

/// zlib/1.3 in `project`: revision 1 with binaries 1 and 2, revision 2 with binary 1 in two
/// package revisions, all committed; uncommitted, a third recipe revision and a binary 3 of
/// revision 2. Returns the keys of revisions 1 and 2 and the owners of the committed files.
fn zlib_with_history(
    store: &DieselStore,
    project: ProjectId,
) -> (RecipeRevisionKey, RecipeRevisionKey, Vec<FileOwner>) {
    let first = recipe_key(project, "zlib/1.3", 1);
    let second = recipe_key(project, "zlib/1.3", 2);
    upload_recipe(store, &first);
    upload_package(store, &package_key(&first, 1, 1));
    upload_package(store, &package_key(&first, 2, 1));
    upload_recipe(store, &second);
    upload_package(store, &package_key(&second, 1, 1));
    upload_package(store, &package_key(&second, 1, 2));
    start_upload(store, &recipe_key(project, "zlib/1.3", 3));
    put(
        store,
        &FileOwner::Package(package_key(&second, 3, 1)),
        "conaninfo.txt",
        "[settings]\n",
    );
    let committed = vec![
        FileOwner::Recipe(first.clone()),
        FileOwner::Package(package_key(&first, 1, 1)),
        FileOwner::Package(package_key(&first, 2, 1)),
        FileOwner::Recipe(second.clone()),
        FileOwner::Package(package_key(&second, 1, 1)),
        FileOwner::Package(package_key(&second, 1, 2)),
    ];
    (first, second, committed)
}

/// Sums what `store.files` lists for each committed owner.
fn bytes_of(store: &DieselStore, owners: &[FileOwner]) -> u64 {
    owners
        .iter()
        .flat_map(|owner| store.files(owner).unwrap().unwrap())
        .map(|file| file.digests.size)
        .sum()
}

fn last_downloaded(store: &DieselStore, project: ProjectId, recipe: &str) -> Option<RevisionTime> {
    package_of(store, project, recipe).last_downloaded_at
}

backend_tests! {
    fn name_words_match_case_insensitively_with_wildcards_taken_literally(store: &DieselStore) {
        let p = project(store, "group/p");
        for recipe in ["zlib/1.3", "Zlib-NG/2.0", "my_lib/1.0", "myxlib/1.0", "openssl/3.0"] {
            upload_recipe(store, &recipe_key(p, recipe, 1));
        }
        let words = |words: &[&str]| {
            let mut query = all(&[p]);
            query.name_words = words.iter().map(|word| (*word).to_owned()).collect();
            let mut found = listed(store, &query);
            found.sort();
            found
        };
        assert_eq!(words(&[]).len(), 5, "no words match every name");
        assert_eq!(words(&["ZLIB"]), ["Zlib-NG/2.0", "zlib/1.3"]);
        assert_eq!(words(&["lib", "ng"]), ["Zlib-NG/2.0"], "every word must occur");
        assert_eq!(words(&["y_l"]), ["my_lib/1.0"], "`_` is no single-character wildcard");
        assert_eq!(words(&["z%b"]), Vec::<String>::new(), "`%` is no wildcard");
        assert_eq!(words(&["%"]), Vec::<String>::new());
        assert_eq!(words(&["\\"]), Vec::<String>::new(), "a backslash is literal too");
        assert_eq!(words(&["1.3"]), Vec::<String>::new(), "only the name is searched");
        let mut query = all(&[p]);
        query.name_words = vec!["lib".to_owned()];
        assert_eq!(store.catalog_packages(&query).unwrap().total, Some(4));
    }

    fn exact_name_and_version_filters(store: &DieselStore) {
        let p = project(store, "p");
        for recipe in ["zlib/1.3", "zlib/1.2", "zlib-ng/1.3", "zlib/1.3@acme/stable", "Zlib/1.3"] {
            upload_recipe(store, &recipe_key(p, recipe, 1));
        }
        let mut query = all(&[p]);
        query.name = Some("zlib".to_owned());
        assert_eq!(listed(store, &query), ["zlib/1.3", "zlib/1.2", "zlib/1.3@acme/stable"], "exact and case-sensitive");
        query.version = Some("1.3".to_owned());
        assert_eq!(listed(store, &query), ["zlib/1.3", "zlib/1.3@acme/stable"]);
        query.name = None;
        assert_eq!(listed(store, &query), ["zlib/1.3", "zlib-ng/1.3", "zlib/1.3@acme/stable", "Zlib/1.3"]);
        query.version = Some("1.".to_owned());
        assert!(listed(store, &query).is_empty(), "the version is exact");
    }

    fn status_splits_committed_from_uploading_recipes(store: &DieselStore) {
        let p = project(store, "p");
        upload_recipe(store, &recipe_key(p, "done/1.0", 1));
        start_upload(store, &recipe_key(p, "pending/1.0", 1));
        // A second revision still uploading does not make a committed recipe "uploading".
        upload_recipe(store, &recipe_key(p, "both/1.0", 1));
        start_upload(store, &recipe_key(p, "both/1.0", 2));

        let mut query = all(&[p]);
        assert_eq!(listed(store, &query), ["done/1.0", "both/1.0"]);
        assert_eq!(store.catalog_packages(&query).unwrap().total, Some(2));
        query.status = CatalogStatus::Uploading;
        let page = store.catalog_packages(&query).unwrap();
        assert_eq!(references(&page), ["pending/1.0"]);
        assert_eq!(page.total, Some(1));
        let pending = &page.packages[0];
        assert_eq!(pending.latest_revision, None);
        assert_eq!((pending.revision_count, pending.binary_count, pending.size), (0, 0, 0));

        // Its manifest moves it to the committed listing.
        upload_recipe(store, &recipe_key(p, "pending/1.0", 1));
        assert!(listed(store, &query).is_empty());
        query.status = CatalogStatus::Committed;
        assert_eq!(listed(store, &query).len(), 3);
    }

    fn every_order_both_ways_breaks_ties_by_id(store: &DieselStore) {
        let p = project(store, "p");
        // Ids ascend in this order; names, versions and times disagree with it.
        let recipes = ["zlib/9.0", "abc/10.0", "Zlib/1.0", "zlib/10.0", "abc/10.0@acme/stable"];
        for recipe in recipes {
            upload_recipe(store, &recipe_key(p, recipe, 1));
        }
        let by = |order: CatalogOrder, descending: bool| {
            let mut query = all(&[p]);
            query.order = order;
            query.descending = descending;
            listed(store, &query)
        };
        let reversed = |items: &[&str]| items.iter().rev().map(|item| (*item).to_owned()).collect::<Vec<_>>();

        // Creation order, while the times still differ.
        assert_eq!(by(CatalogOrder::CreatedAt, false), recipes);
        assert_eq!(by(CatalogOrder::CreatedAt, true), reversed(&recipes));
        assert_eq!(by(CatalogOrder::Id, false), recipes);
        assert_eq!(by(CatalogOrder::Id, true), reversed(&recipes));

        // Bytewise names (upper case first), equal names by id in the same direction.
        let names = ["Zlib/1.0", "abc/10.0", "abc/10.0@acme/stable", "zlib/9.0", "zlib/10.0"];
        assert_eq!(by(CatalogOrder::Name, false), names);
        assert_eq!(by(CatalogOrder::Name, true), reversed(&names));
        // Versions as strings: "10.0" before "9.0".
        let versions = ["Zlib/1.0", "abc/10.0", "zlib/10.0", "abc/10.0@acme/stable", "zlib/9.0"];
        assert_eq!(by(CatalogOrder::Version, false), versions);
        assert_eq!(by(CatalogOrder::Version, true), reversed(&versions));

        // With equal creation times only the id orders.
        same_creation_time(store);
        assert_eq!(by(CatalogOrder::CreatedAt, false), recipes);
        assert_eq!(by(CatalogOrder::CreatedAt, true), reversed(&recipes));
    }

    fn project_path_order_spans_projects(store: &DieselStore) {
        let b = project(store, "group/b");
        let a = project(store, "group/a");
        upload_recipe(store, &recipe_key(b, "one/1.0", 1));
        upload_recipe(store, &recipe_key(a, "two/1.0", 1));
        upload_recipe(store, &recipe_key(b, "three/1.0", 1));
        upload_recipe(store, &recipe_key(a, "four/1.0", 1));
        let by = |descending: bool| {
            let mut query = all(&[a, b]);
            query.order = CatalogOrder::ProjectPath;
            query.descending = descending;
            let page = store.catalog_packages(&query).unwrap();
            page.packages.iter().map(|package| format!("{} {}", package.project_path, package.reference)).collect::<Vec<_>>()
        };
        let expected = ["group/a two/1.0", "group/a four/1.0", "group/b one/1.0", "group/b three/1.0"];
        assert_eq!(by(false), expected);
        assert_eq!(by(true), expected.iter().rev().copied().collect::<Vec<_>>());
        same_creation_time(store);
        assert_eq!(by(false), expected, "the id breaks a tie of path and time");
        assert_eq!(by(true), expected.iter().rev().copied().collect::<Vec<_>>());
    }

    fn offsets_and_limits_page_through_the_total(store: &DieselStore) {
        let p = project(store, "p");
        let recipes: Vec<String> = (1..=5).map(|n| format!("pkg{n}/1.0")).collect();
        for recipe in &recipes {
            upload_recipe(store, &recipe_key(p, recipe, 1));
        }
        let page = |offset: u64, limit: u32| {
            let mut query = all(&[p]);
            query.offset = offset;
            query.limit = limit;
            let page = store.catalog_packages(&query).unwrap();
            assert_eq!(page.total, Some(5), "offset {offset} limit {limit}");
            references(&page)
        };
        assert_eq!(page(0, 2), recipes[0..2]);
        assert_eq!(page(2, 2), recipes[2..4]);
        assert_eq!(page(4, 2), recipes[4..5], "the last page is short");
        assert!(page(5, 2).is_empty(), "just past the end");
        assert!(page(600, 2).is_empty());
        assert!(page(u64::MAX, 100).is_empty(), "an offset beyond i64");
        assert!(page(0, 0).is_empty(), "limit 0 counts without listing");
        assert_eq!(page(0, u32::MAX), recipes);
    }

    fn counting_stops_at_the_count_limit(store: &DieselStore) {
        let p = project(store, "p");
        let recipes: Vec<String> = (1..=5).map(|n| format!("pkg{n}/1.0")).collect();
        for recipe in &recipes {
            upload_recipe(store, &recipe_key(p, recipe, 1));
        }
        let page = |offset: u64, limit: u32, count_limit: u64| {
            let mut query = all(&[p]);
            query.offset = offset;
            query.limit = limit;
            query.count_limit = count_limit;
            let page = store.catalog_packages(&query).unwrap();
            (page.total, page.has_next, references(&page))
        };
        assert_eq!(page(0, 2, 3), (None, true, recipes[0..2].to_vec()), "more than the limit match");
        assert_eq!(
            page(2, 2, 3),
            (None, true, recipes[2..4].to_vec()),
            "a page ending one past the limit still sees the next"
        );
        assert_eq!(page(4, 2, 3), (Some(5), false, recipes[4..5].to_vec()), "the last page knows");
        assert_eq!(page(6, 2, 3), (None, false, Vec::new()), "past the end, still uncounted");
        assert_eq!(page(0, 4, 4), (None, true, recipes[0..4].to_vec()));
        assert_eq!(page(0, 2, 5), (Some(5), true, recipes[0..2].to_vec()), "exactly the limit is counted");
        assert_eq!(page(4, 1, 5), (Some(5), false, recipes[4..5].to_vec()));
        assert_eq!(page(0, 0, 3), (None, true, Vec::new()), "limit 0 still says what follows");
    }

    fn projects_select_what_is_listed(store: &DieselStore) {
        let a = project(store, "a");
        let b = project(store, "b");
        let c = project(store, "c");
        upload_recipe(store, &recipe_key(a, "zlib/1.0", 1));
        upload_recipe(store, &recipe_key(b, "zlib/1.0", 1));
        upload_recipe(store, &recipe_key(c, "zlib/1.0", 1));
        upload_recipe(store, &recipe_key(b, "bzip2/1.0", 1));

        let none = store.catalog_packages(&all(&[])).unwrap();
        assert_eq!((none.total, none.packages.len()), (Some(0), 0), "no project lists nothing");
        let page = store.catalog_packages(&all(&[a, b])).unwrap();
        assert_eq!(page.total, Some(3));
        let projects: Vec<ProjectId> = page.packages.iter().map(|package| package.project).collect();
        assert_eq!(projects, [a, b, b]);
        assert_eq!(page.packages[0].project_path, "a");
        assert_eq!(store.catalog_packages(&all(&[c])).unwrap().total, Some(1));
        assert_eq!(store.catalog_packages(&all(&[ProjectId(i64::MAX)])).unwrap().total, Some(0));
    }

    fn a_listing_describes_revisions_binaries_and_committed_size(store: &DieselStore) {
        let p = project(store, "group/p");
        let (_, second, committed) = zlib_with_history(store, p);

        let package = package_of(store, p, "zlib/1.3");
        assert_eq!(package.project, p);
        assert_eq!(package.project_path, "group/p");
        assert_eq!(package.latest_revision, store.latest_recipe_revision(p, &reference("zlib/1.3")).unwrap());
        assert_eq!(package.latest_revision.as_ref().unwrap().revision, rev(2));
        assert_eq!(package.revision_count, 2);
        assert_eq!(package.binary_count, 1, "binaries of the newest revision only, committed only");
        assert_eq!(package.size, bytes_of(store, &committed));
        assert!(package.created_at <= package.latest_revision.as_ref().unwrap().time);
        assert_eq!(package.last_downloaded_at, None);
        assert_eq!(store.catalog_package(p, package.id).unwrap(), Some(package.clone()));

        // Deleting the newest revision moves everything to the older one.
        assert!(store.delete_recipe_revision(&second).unwrap());
        let package = store.catalog_package(p, package.id).unwrap().unwrap();
        assert_eq!(package.latest_revision.unwrap().revision, rev(1));
        assert_eq!((package.revision_count, package.binary_count), (1, 2));
        assert_eq!(package.size, bytes_of(store, &committed[..3]));
    }

    fn project_stats_count_committed_content_and_distinct_blobs(store: &DieselStore) {
        let p = project(store, "group/p");
        let other = project(store, "group/other");
        let empty = project(store, "group/empty");
        let (_, second, committed) = zlib_with_history(store, p);
        let bzip2 = recipe_key(p, "bzip2/1.0", 1);
        upload_recipe(store, &bzip2);
        // Uncommitted too: a recipe whose first upload is in progress.
        start_upload(store, &recipe_key(p, "pending/1.0", 1));
        // Another project holding the same content counts in its own stats only.
        upload_recipe(store, &recipe_key(other, "zlib/1.3", 1));

        let mut committed = committed;
        committed.push(FileOwner::Recipe(bzip2.clone()));
        // The oracle: the files the store lists for each committed owner, and their distinct
        // blobs (`conan_export.tgz` is the same bytes in every recipe revision, and a package
        // revision's files repeat in every binary with the same revision).
        let distinct = |owners: &[FileOwner]| -> u64 {
            let mut blobs = std::collections::BTreeMap::new();
            for file in owners.iter().flat_map(|owner| store.files(owner).unwrap().unwrap()) {
                blobs.insert(file.digests.sha256.to_string(), file.digests.size);
            }
            blobs.values().sum()
        };
        let stats = store.project_stats(p).unwrap();
        assert_eq!(
            stats,
            ProjectStats {
                references: 2,
                recipe_revisions: 3,
                binaries: 3,
                package_revisions: 4,
                files: 21,
                logical_bytes: bytes_of(store, &committed),
                stored_bytes: distinct(&committed),
                ..ProjectStats::default()
            }
        );
        assert!(stats.stored_bytes < stats.logical_bytes, "{stats:?}");
        let other_stats = store.project_stats(other).unwrap();
        assert_eq!((other_stats.references, other_stats.files), (1, 3));
        assert_eq!(store.project_stats(empty).unwrap(), ProjectStats::default());
        assert_eq!(store.project_stats(ProjectId(i64::MAX)).unwrap(), ProjectStats::default());

        // A removed revision leaves the stats with what it took.
        assert!(store.delete_recipe_revision(&second).unwrap());
        let kept = [committed[0].clone(), committed[1].clone(), committed[2].clone(), committed[6].clone()];
        assert_eq!(
            store.project_stats(p).unwrap(),
            ProjectStats {
                references: 2,
                recipe_revisions: 2,
                binaries: 2,
                package_revisions: 2,
                files: 12,
                logical_bytes: bytes_of(store, &kept),
                stored_bytes: distinct(&kept),
                ..ProjectStats::default()
            }
        );
    }

    fn catalog_package_is_scoped_to_its_project(store: &DieselStore) {
        let a = project(store, "a");
        let b = project(store, "b");
        upload_recipe(store, &recipe_key(a, "zlib/1.0", 1));
        start_upload(store, &recipe_key(a, "pending/1.0", 1));
        let zlib = package_of(store, a, "zlib/1.0");
        let pending = package_of(store, a, "pending/1.0");
        assert_eq!(store.catalog_package(b, zlib.id).unwrap(), None);
        assert_eq!(store.catalog_package(a, RecipeId(i64::MAX)).unwrap(), None);
        assert_eq!(store.catalog_package(a, RecipeId(-1)).unwrap(), None);
        let found = store.catalog_package(a, pending.id).unwrap().unwrap();
        assert_eq!(found.latest_revision, None, "an uploading recipe is found too");
    }

    fn files_page_and_order_and_hide_uncommitted_revisions(store: &DieselStore) {
        let p = project(store, "p");
        let other = project(store, "other");
        let key = recipe_key(p, "zlib/1.3", 1);
        upload_recipe(store, &key);
        upload_package(store, &package_key(&key, 1, 1));
        // Neither an uncommitted package revision's files nor an uncommitted recipe revision's.
        put(store, &FileOwner::Package(package_key(&key, 2, 1)), "conaninfo.txt", "[settings]\n");
        start_upload(store, &recipe_key(p, "zlib/1.3", 2));
        let recipe = package_of(store, p, "zlib/1.3").id;

        let by_id = store.catalog_files(p, recipe, &file_query(FileOrder::Id, false, 0, 100)).unwrap().unwrap();
        assert_eq!(by_id.total, 6);
        let names: Vec<String> = by_id.files.iter().map(|file| file.path.to_string()).collect();
        assert_eq!(names, ["conanfile.py", "conan_export.tgz", "conanmanifest.txt", "conaninfo.txt", "conan_package.tgz", "conanmanifest.txt"]);
        assert!(by_id.files.windows(2).all(|pair| pair[0].id < pair[1].id));
        for file in &by_id.files {
            assert_eq!(file.recipe, recipe);
            assert_eq!(file.recipe_revision, rev(1));
            assert_eq!(store.catalog_file(p, recipe, file.id).unwrap().as_ref(), Some(file));
        }
        assert_eq!(by_id.files[0].package, None);
        assert_eq!(by_id.files[3].package, Some((fixtures::pkg(1), rev(1))));
        let recipe_files = store.files(&FileOwner::Recipe(key.clone())).unwrap().unwrap();
        let manifest = recipe_files.iter().find(|file| file.path.as_str() == "conanmanifest.txt").unwrap();
        assert_eq!(by_id.files[2].digests, manifest.digests);

        let reversed: Vec<String> = names.iter().rev().cloned().collect();
        assert_eq!(file_names(store, p, recipe, &file_query(FileOrder::Id, true, 0, 100)), reversed);
        let by_name = ["conan_export.tgz", "conan_package.tgz", "conanfile.py", "conaninfo.txt", "conanmanifest.txt", "conanmanifest.txt"];
        assert_eq!(file_names(store, p, recipe, &file_query(FileOrder::Name, false, 0, 100)), by_name);
        let names_desc = store.catalog_files(p, recipe, &file_query(FileOrder::Name, true, 0, 100)).unwrap().unwrap();
        assert_eq!(names_desc.files[0].id, by_id.files[5].id, "equal names: the larger id first when descending");
        assert_eq!(names_desc.files[1].id, by_id.files[2].id);
        assert_eq!(file_names(store, p, recipe, &file_query(FileOrder::CreatedAt, false, 0, 100)), names);

        // Equal times: the id decides, in the same direction.
        execute_sql(store, "UPDATE files SET created_at = 1700000000000000");
        assert_eq!(file_names(store, p, recipe, &file_query(FileOrder::CreatedAt, false, 0, 100)), names);
        assert_eq!(file_names(store, p, recipe, &file_query(FileOrder::CreatedAt, true, 0, 100)), reversed);

        // Pages.
        assert_eq!(file_names(store, p, recipe, &file_query(FileOrder::Id, false, 4, 4)), names[4..]);
        let past = store.catalog_files(p, recipe, &file_query(FileOrder::Id, false, 6, 4)).unwrap().unwrap();
        assert_eq!((past.total, past.files.len()), (6, 0));
        let counted = store.catalog_files(p, recipe, &file_query(FileOrder::Id, false, 0, 0)).unwrap().unwrap();
        assert_eq!((counted.total, counted.files.len()), (6, 0));
        assert!(file_names(store, p, recipe, &file_query(FileOrder::Name, false, u64::MAX, 100)).is_empty());

        // Another project, an unknown recipe: no listing at all.
        assert_eq!(store.catalog_files(other, recipe, &file_query(FileOrder::Id, false, 0, 100)).unwrap(), None);
        assert_eq!(store.catalog_files(p, RecipeId(i64::MAX), &file_query(FileOrder::Id, false, 0, 100)).unwrap(), None);
        // A recipe still uploading exists and has no files.
        start_upload(store, &recipe_key(p, "pending/1.0", 1));
        let pending = package_of(store, p, "pending/1.0").id;
        let empty = store.catalog_files(p, pending, &file_query(FileOrder::Id, false, 0, 100)).unwrap().unwrap();
        assert_eq!((empty.total, empty.files.len()), (0, 0));
    }

    fn one_file_is_found_only_under_its_recipe_and_project(store: &DieselStore) {
        let p = project(store, "p");
        let other = project(store, "other");
        let key = recipe_key(p, "zlib/1.3", 1);
        upload_recipe(store, &key);
        upload_recipe(store, &recipe_key(p, "bzip2/1.0", 1));
        let uncommitted = FileOwner::Package(package_key(&key, 2, 1));
        put(store, &uncommitted, "conaninfo.txt", "[settings]\n");
        let zlib = package_of(store, p, "zlib/1.3").id;
        let bzip2 = package_of(store, p, "bzip2/1.0").id;
        let file = store.catalog_files(p, zlib, &file_query(FileOrder::Id, false, 0, 1)).unwrap().unwrap().files.remove(0);

        assert_eq!(store.catalog_file(p, zlib, file.id).unwrap(), Some(file.clone()));
        assert_eq!(store.catalog_file(p, bzip2, file.id).unwrap(), None, "another recipe's file");
        assert_eq!(store.catalog_file(other, zlib, file.id).unwrap(), None, "another project");
        assert_eq!(store.catalog_file(p, zlib, FileId(i64::MAX)).unwrap(), None);
        // The uncommitted package file was stored last, so it has the next id after bzip2's
        // files; it exists, but not in the catalog.
        let bzip2_files = store.catalog_files(p, bzip2, &file_query(FileOrder::Id, true, 0, 1)).unwrap().unwrap();
        let uncommitted_id = FileId(bzip2_files.files[0].id.0 + 1);
        assert_eq!(store.catalog_file(p, zlib, uncommitted_id).unwrap(), None);
        assert_eq!(store.catalog_files(p, zlib, &file_query(FileOrder::Id, false, 0, 100)).unwrap().unwrap().total, 3);
        assert!(!store.delete_catalog_file(p, zlib, uncommitted_id).unwrap(), "not deletable here either");
        put(store, &uncommitted, "conan_package.tgz", "binary");
        put(store, &uncommitted, "conanmanifest.txt", "1\n");
        let committed = store.catalog_file(p, zlib, uncommitted_id).unwrap().expect("listed once committed");
        assert_eq!(committed.package, Some((fixtures::pkg(2), rev(1))));
    }

    fn deleting_a_file_removes_it_but_never_a_manifest(store: &DieselStore) {
        let p = project(store, "p");
        let other = project(store, "other");
        let key = recipe_key(p, "zlib/1.3", 1);
        upload_recipe(store, &key);
        upload_package(store, &package_key(&key, 1, 1));
        let recipe = package_of(store, p, "zlib/1.3").id;
        let files = store.catalog_files(p, recipe, &file_query(FileOrder::Id, false, 0, 100)).unwrap().unwrap().files;
        let find = |name: &str, package: bool| files.iter().find(|file| file.path.as_str() == name && file.package.is_some() == package).unwrap().id;
        let export = find("conan_export.tgz", false);
        let binary = find("conan_package.tgz", true);
        let manifest = find("conanmanifest.txt", false);
        let package_manifest = find("conanmanifest.txt", true);

        assert!(!store.delete_catalog_file(other, recipe, export).unwrap(), "another project");
        assert!(!store.delete_catalog_file(p, RecipeId(i64::MAX), export).unwrap(), "another recipe");
        assert_eq!(store.catalog_files(p, recipe, &file_query(FileOrder::Id, false, 0, 100)).unwrap().unwrap().total, 6);

        assert!(store.delete_catalog_file(p, recipe, export).unwrap());
        assert_eq!(store.catalog_file(p, recipe, export).unwrap(), None);
        let left = store.files(&FileOwner::Recipe(key.clone())).unwrap().unwrap();
        assert!(left.iter().all(|file| file.path.as_str() != "conan_export.tgz"));
        assert!(!store.delete_catalog_file(p, recipe, export).unwrap(), "already gone");
        assert!(store.delete_catalog_file(p, recipe, binary).unwrap(), "a package file");
        assert_eq!(store.files(&FileOwner::Package(package_key(&key, 1, 1))).unwrap().unwrap().len(), 2);

        let before = store.catalog_files(p, recipe, &file_query(FileOrder::Id, false, 0, 100)).unwrap().unwrap();
        for manifest in [manifest, package_manifest] {
            let error = store.delete_catalog_file(p, recipe, manifest).unwrap_err();
            assert!(matches!(error, StoreError::Invalid(_)), "{error:?}");
        }
        assert_eq!(store.catalog_files(p, recipe, &file_query(FileOrder::Id, false, 0, 100)).unwrap().unwrap(), before, "nothing removed");
        assert_eq!(store.recipe_revision(&key).unwrap().map(|entry| entry.revision), Some(rev(1)));
    }

    fn recorded_downloads_only_move_forward(store: &DieselStore) {
        let p = project(store, "p");
        let other = project(store, "other");
        upload_recipe(store, &recipe_key(p, "zlib/1.3", 1));
        upload_recipe(store, &recipe_key(p, "bzip2/1.0", 1));
        store.record_downloads(&[]).unwrap();
        assert_eq!(last_downloaded(store, p, "zlib/1.3"), None);

        store.record_downloads(&[(owner(p, "zlib/1.3"), time(2_000))]).unwrap();
        assert_eq!(last_downloaded(store, p, "zlib/1.3"), Some(time(2_000)));
        store.record_downloads(&[(owner(p, "zlib/1.3"), time(1_000))]).unwrap();
        assert_eq!(last_downloaded(store, p, "zlib/1.3"), Some(time(2_000)), "never backwards");
        store.record_downloads(&[(owner(p, "zlib/1.3"), time(2_000))]).unwrap();
        assert_eq!(last_downloaded(store, p, "zlib/1.3"), Some(time(2_000)));

        // Unknown recipes (and the same recipe in another project) are skipped; the rest of the
        // batch is written.
        store
            .record_downloads(&[
                (owner(p, "gone/1.0"), time(9_000)),
                (owner(other, "zlib/1.3"), time(9_000)),
                (owner(p, "zlib/1.3"), time(3_000)),
                (owner(p, "bzip2/1.0"), time(4_000)),
            ])
            .unwrap();
        assert_eq!(last_downloaded(store, p, "zlib/1.3"), Some(time(3_000)));
        assert_eq!(last_downloaded(store, p, "bzip2/1.0"), Some(time(4_000)));
        assert!(store.catalog_packages(&all(&[other])).unwrap().packages.is_empty(), "nothing created");
    }

    fn the_download_recorder_writes_what_was_noted(store: &DieselStore) {
        let p = project(store, "p");
        upload_recipe(store, &recipe_key(p, "zlib/1.3", 1));
        let recorder = DownloadRecorder::new();
        assert_eq!(recorder.flush(store).unwrap(), 0, "nothing noted");
        let before = RevisionTime::from_system_time(std::time::SystemTime::now()).unwrap();
        recorder.note(&owner(p, "zlib/1.3"));
        recorder.note(&owner(p, "zlib/1.3"));
        recorder.note(&owner(p, "gone/1.0"));
        assert_eq!(recorder.pending(), 2, "one note per revision");
        assert_eq!(last_downloaded(store, p, "zlib/1.3"), None, "a note never writes");
        assert_eq!(recorder.flush(store).unwrap(), 2);
        assert_eq!(recorder.pending(), 0);
        let written = last_downloaded(store, p, "zlib/1.3").unwrap();
        assert!(written >= before);
    }
}
