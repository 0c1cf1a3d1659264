//! Listings show one page of rows at most, page through the rest, and refuse pages and
//! parameters that make no sense with a 400 page that says why.

use actix_web::http::StatusCode;

use crate::fixtures::{package_key, recipe_key, upload_package, upload_recipe};
use crate::registry_tests;
use crate::support::get;

/// How many rows a page lists.
const PER_PAGE: usize = 25;

/// The links to recipe pages of the public project in a page.
const RECIPE_LINK: &str = "href=\"/-/web/projects/demo/packages/-/recipes/";

registry_tests! {
    async fn the_project_page_lists_one_page_and_links_the_next(registry: &Registry) {
        // 30 packages, named so that name order and creation order differ.
        for n in 0..30 {
            upload_recipe(registry.store(), &recipe_key(registry.public.id, &format!("pkg{:02}/1.{n}", 29 - n), 1));
        }
        let app = registry.app().await;
        let first = get(&app, "/-/web/projects/demo/packages").await;
        first.ok();
        assert_eq!(first.count(RECIPE_LINK), PER_PAGE);
        assert!(first.body.contains(">pkg00<") && !first.body.contains(">pkg29<"));
        assert!(first.body.contains("rel=\"next\""));
        assert!(first.body.contains("30 in all"));
        let second = get(&app, "/-/web/projects/demo/packages?sort=name&direction=asc&page=2").await;
        second.ok();
        assert_eq!(second.count(RECIPE_LINK), 5);
        assert!(second.body.contains(">pkg29<"));
        assert!(!second.body.contains("rel=\"next\"") && second.body.contains("rel=\"prev\""));
        // Sorted by creation, newest first: the last one uploaded (pkg00) leads.
        let newest = get(&app, "/-/web/projects/demo/packages?sort=created&direction=desc").await;
        let body = newest.ok();
        assert!(body.find(">pkg00<").unwrap() < body.find(">pkg01<").unwrap());
        let oldest = get(&app, "/-/web/projects/demo/packages?sort=created").await;
        assert!(oldest.ok().contains(">pkg29<") && !oldest.body.contains(">pkg00<"));
        // Past the last page.
        get(&app, "/-/web/projects/demo/packages?page=3").await.expect(StatusCode::NOT_FOUND);
    }

    async fn bad_parameters_are_a_400_page_that_says_why(registry: &Registry) {
        upload_recipe(registry.store(), &recipe_key(registry.public.id, "zlib/1.3", 1));
        let app = registry.app().await;
        for (uri, says) in [
            ("/-/web/projects/demo/packages?page=0", "page parameter"),
            ("/-/web/projects/demo/packages?page=abc", "page parameter"),
            ("/-/web/projects/demo/packages?page=1001", "page parameter"),
            ("/-/web/projects/demo/packages?page=-1", "page parameter"),
            ("/-/web/projects/demo/packages?page=99999999999999999999", "page parameter"),
            ("/-/web/projects/demo/packages?sort=size", "sort parameter"),
            ("/-/web/projects/demo/packages?direction=up", "direction parameter"),
            ("/-/web/projects/demo/packages?page=%FF", "not UTF-8"),
            ("/?page=x", "page parameter"),
            ("/-/web/projects/demo/packages/-/backups?page=0", "page parameter"),
            ("/-/web/projects/demo/packages/-/backups?page=1001", "page parameter"),
            ("/-/web/projects/demo/packages/-/backups?page=%FF", "not UTF-8"),
            ("/-/web/search?q=******", "Too many wildcards"),
            ("/-/web/search?q=zlib&page=41", "narrower pattern"),
            ("/-/web/projects/demo/packages/-/recipes/zlib/1.3/_/stable", "Invalid recipe reference"),
            ("/-/web/projects/demo/packages/-/recipes/zlib/1.3/_/_/revisions/not-a-revision", "Invalid recipe revision"),
            ("/-/web/projects/demo/packages/-/recipes/zlib/1.3/_/_/revisions/0/packages/xyz/revisions/0", "Invalid package id"),
        ] {
            let reply = get(&app, uri).await;
            let body = reply.expect(StatusCode::BAD_REQUEST);
            assert!(body.contains("<h1>Bad request</h1>"), "{uri}: {body}");
            assert!(body.contains(says), "{uri} should say {says:?}: {body}");
            assert_eq!(reply.header("content-type"), Some("text/html; charset=utf-8"));
        }
        let long = format!("/-/web/search?q={}", "a".repeat(201));
        assert!(get(&app, &long).await.expect(StatusCode::BAD_REQUEST).contains("200 characters"));
    }

    async fn search_pages_through_matches_with_the_conan_matcher(registry: &Registry) {
        for n in 0..27 {
            upload_recipe(registry.store(), &recipe_key(registry.public.id, &format!("lib{n:02}/1.0"), 1));
        }
        upload_recipe(registry.store(), &recipe_key(registry.public.id, "zlib/1.3@team/stable", 1));
        upload_recipe(registry.store(), &recipe_key(registry.private.id, "lib99/1.0", 1));
        let app = registry.app().await;
        let first = get(&app, "/-/web/search?q=LIB*").await;
        first.ok();
        assert_eq!(first.count(RECIPE_LINK), PER_PAGE);
        assert!(first.body.contains("rel=\"next\"") && first.body.contains("value=\"LIB*\""));
        let second = get(&app, "/-/web/search?q=LIB*&page=2").await;
        second.ok();
        assert_eq!(second.count(RECIPE_LINK), 2);
        assert!(!second.body.contains("lib99"));
        get(&app, "/-/web/search?q=LIB*&page=3").await.expect(StatusCode::NOT_FOUND);
        // Token prefixes, as the API: `zlib` finds zlib/1.3@team/stable, `zlib/1` does not.
        assert!(get(&app, "/-/web/search?q=zlib").await.ok().contains("zlib/1.3@team/stable"));
        assert!(get(&app, "/-/web/search?q=zlib/1").await.ok().contains("No package matches."));
        assert!(get(&app, "/-/web/search?q=*@team/*").await.ok().contains("zlib/1.3@team/stable"));
        // No pattern lists everything readable.
        assert_eq!(get(&app, "/-/web/search").await.count(RECIPE_LINK), PER_PAGE);
    }

    async fn the_home_page_pages_through_projects(registry: &Registry) {
        for n in 0..30 {
            conan_auth::admin::create_project(registry.store(), &format!("group/p{n:02}"), conan_store::Visibility::Public).unwrap();
        }
        let app = registry.app().await;
        let first = get(&app, "/").await;
        assert_eq!(first.count("href=\"/-/web/projects/"), PER_PAGE);
        let second = get(&app, "/?page=2").await;
        // 30 + demo/packages = 31 public projects.
        assert_eq!(second.count("href=\"/-/web/projects/"), 6);
        get(&app, "/?page=3").await.expect(StatusCode::NOT_FOUND);
    }

    async fn revisions_and_binaries_are_paged(registry: &Registry) {
        for revision in 1..=27 {
            let key = recipe_key(registry.public.id, "zlib/1.3", revision);
            upload_recipe(registry.store(), &key);
            if revision == 27 {
                for package in 1..=26 {
                    upload_package(registry.store(), &package_key(&key, package, 1));
                }
            }
        }
        let app = registry.app().await;
        let recipe = get(&app, "/-/web/projects/demo/packages/-/recipes/zlib/1.3/_/_").await;
        recipe.ok();
        let revision_link = "href=\"/-/web/projects/demo/packages/-/recipes/zlib/1.3/_/_/revisions/";
        assert_eq!(recipe.count(revision_link), PER_PAGE);
        let second = get(&app, "/-/web/projects/demo/packages/-/recipes/zlib/1.3/_/_?page=2").await;
        assert_eq!(second.count(revision_link), 2);
        let binaries = format!("/-/web/projects/demo/packages/-/recipes/zlib/1.3/_/_/revisions/{:032x}", 27);
        let page = get(&app, &binaries).await;
        page.ok();
        assert_eq!(page.count("/packages/0000"), PER_PAGE);
        let next = get(&app, &format!("{binaries}?page=2")).await;
        assert_eq!(next.count("/packages/0000"), 1);
    }
}
