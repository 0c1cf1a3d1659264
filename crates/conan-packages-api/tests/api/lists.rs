//! `GET /projects/:id/packages` and `GET /groups/:id/packages`: the package object, every
//! filter and order, and GitLab's offset pagination headers.

use actix_web::http::StatusCode;
use conan_store::{CatalogStore, FileOwner, RecipeRevisionKey};

use crate::fixtures::{reference, rev};
use crate::registry_tests;
use crate::support::{EXTERNAL_URL, get, packages_of};

/// Whether `text` is a time as GitLab writes it: UTC with milliseconds.
fn is_gitlab_time(text: &str) -> bool {
    text.len() == "2025-05-02T09:14:03.512Z".len()
        && text.ends_with('Z')
        && text.as_bytes()[19] == b'.'
        && text.parse::<conan_model::RevisionTime>().is_ok()
}

registry_tests! {
    async fn a_project_lists_its_committed_packages_by_id_or_path(registry: &Registry) {
        let public = &registry.public;
        let zlib = registry.upload(public, "zlib/1.3", 2, 2);
        let openssl = registry.upload(public, "openssl/3.0@acme/stable", 1, 0);
        registry.start_upload(public, "pending/1.0");
        registry.upload(&registry.private, "secret/1.0", 1, 0);
        let downloaded = crate::support::now();
        registry.store().record_downloads(&[(FileOwner::Recipe(RecipeRevisionKey { project: public.id, recipe: reference("openssl/3.0@acme/stable"), revision: rev(1) }), downloaded)]).unwrap();
        let app = registry.app().await;

        let reply = get(&app, &packages_of(public), None).await;
        assert_eq!(reply.ids(), [zlib.0, openssl.0], "committed packages, oldest first");
        let body = reply.json();
        let first = &body[0];
        assert_eq!(first["name"], "zlib/1.3@_/_");
        assert_eq!(first["conan_package_name"], "zlib");
        assert_eq!(first["version"], "1.3");
        assert_eq!(first["package_type"], "conan");
        assert_eq!(first["status"], "default");
        assert_eq!(first["_links"], serde_json::json!({"web_path": format!("/demo/packages/-/packages/{zlib}")}), "no delete link for anonymous callers");
        assert!(is_gitlab_time(first["created_at"].as_str().unwrap()), "{first}");
        assert_eq!(first["last_downloaded_at"], serde_json::Value::Null);
        assert_eq!(first["tags"], serde_json::json!([]));
        assert_eq!(first["conan_reference"], "zlib/1.3");
        assert_eq!(first["conan_recipe_revision"], rev(2).to_string());
        assert!(is_gitlab_time(first["conan_recipe_revision_time"].as_str().unwrap()));
        assert_eq!(first["conan_recipe_revisions_count"], 2);
        assert_eq!(first["conan_binaries_count"], 2);
        let size = registry.store().catalog_package(public.id, zlib).unwrap().unwrap().size;
        assert_eq!(first["size"], size);
        assert!(first.get("project_id").is_none() && first.get("project_path").is_none(), "group listings only");
        assert!(first.get("versions").is_none(), "single GET only");
        let second = &body[1];
        assert_eq!(second["name"], "openssl/3.0@acme/stable");
        assert_eq!(second["conan_reference"], "openssl/3.0@acme/stable");
        assert_eq!(second["conan_binaries_count"], 0);
        let last = second["last_downloaded_at"].as_str().unwrap();
        assert!(is_gitlab_time(last));
        assert!(downloaded.to_string().starts_with(&last[..23]), "{last} is {downloaded}");

        // A maintainer may delete: the absolute delete link appears.
        let token = Some(registry.tokens.maintainer.as_str());
        let reply = get(&app, &packages_of(public), token).await;
        assert_eq!(
            reply.json()[0]["_links"]["delete_api_path"],
            format!("{EXTERNAL_URL}/api/v4/projects/{}/packages/{zlib}", public.id)
        );
        // The URL-encoded path names the same project (upper- or lower-case escape).
        for path in ["demo%2Fpackages", "demo%2fpackages"] {
            let by_path = get(&app, &format!("/api/v4/projects/{path}/packages"), token).await;
            assert_eq!(by_path.expect(StatusCode::OK), reply.json(), "{path}");
        }
        let missing = get(&app, "/api/v4/projects/demo%2Fnope/packages", token).await;
        assert_eq!(missing.message(StatusCode::NOT_FOUND), "404 Project Not Found");
        let missing = get(&app, "/api/v4/projects/999999/packages", token).await;
        assert_eq!(missing.message(StatusCode::NOT_FOUND), "404 Project Not Found");
    }

    async fn filters_select_by_name_words_version_type_and_status(registry: &Registry) {
        let public = &registry.public;
        for recipe in ["zlib/1.3", "zlib/1.2", "Zlib-NG/2.0", "my_lib/1.0", "myxlib/1.0", "openssl/3.0@acme/stable"] {
            registry.upload(public, recipe, 1, 0);
        }
        registry.start_upload(public, "pending/1.0");
        let app = registry.app().await;
        let list = async |query: &str| {
            let reply = get(&app, &format!("{}?{query}", packages_of(public)), None).await;
            let found = reply.field("conan_reference");
            assert_eq!(reply.header("x-total").unwrap(), found.len().to_string(), "{query}");
            found
        };
        assert_eq!(list("package_name=zlib").await, ["zlib/1.3", "zlib/1.2", "Zlib-NG/2.0"], "a case-insensitive substring");
        assert_eq!(list("package_name=ZLIB+ng").await, ["Zlib-NG/2.0"], "every word must match");
        assert_eq!(list("package_name=%22zlib%22").await, ["zlib/1.3", "zlib/1.2", "Zlib-NG/2.0"], "a quoted word");
        assert!(list("package_name=%22lib+ng%22").await.is_empty(), "a quoted phrase is one word");
        assert_eq!(list("package_name=y_l").await, ["my_lib/1.0"], "`_` is literal");
        assert!(list("package_name=%25").await.is_empty(), "`%` is literal");
        assert!(list("package_name=acme").await.is_empty(), "only the recipe name is searched");
        assert_eq!(list("package_name=").await.len(), 6, "an empty name matches everything");
        assert_eq!(list("package_version=1.0").await, ["my_lib/1.0", "myxlib/1.0"]);
        assert!(list("package_version=1").await.is_empty(), "the version is exact");
        assert_eq!(list("package_name=lib&package_version=1.2").await, ["zlib/1.2"]);
        assert_eq!(list("package_type=conan").await.len(), 6);
        for other in ["maven", "npm", "generic", "terraform_module", "ml_model"] {
            let reply = get(&app, &format!("{}?package_type={other}", packages_of(public)), None).await;
            assert_eq!(reply.ids(), Vec::<i64>::new(), "{other}");
            assert_eq!(reply.header("x-total"), Some("0"));
        }
        assert_eq!(list("status=default").await.len(), 6);
        assert_eq!(list("status=processing").await, ["pending/1.0"]);
        let reply = get(&app, &format!("{}?status=processing", packages_of(public)), None).await;
        let pending = &reply.json()[0];
        assert_eq!(pending["status"], "processing");
        assert_eq!(pending["_links"], serde_json::json!({}), "no web path while processing");
        assert_eq!(pending["conan_recipe_revision"], serde_json::Value::Null);
        for status in ["hidden", "error", "pending_destruction", "deprecated"] {
            assert!(list(&format!("status={status}")).await.is_empty(), "{status}");
        }
        assert_eq!(list("include_versionless=true").await.len(), 6);
        assert_eq!(list("include_versionless=True").await.len(), 6, "as python-gitlab sends it");
    }

    async fn every_order_both_ways(registry: &Registry) {
        let public = &registry.public;
        let recipes = ["zlib/9.0", "abc/10.0", "Zlib/1.0", "zlib/10.0"];
        for recipe in recipes {
            registry.upload(public, recipe, 1, 0);
        }
        let app = registry.app().await;
        let order = async |query: &str| {
            get(&app, &format!("{}?{query}", packages_of(public)), None).await.field("conan_reference")
        };
        let reversed = |items: &[&str]| items.iter().rev().map(|item| (*item).to_owned()).collect::<Vec<_>>();
        assert_eq!(order("").await, recipes);
        assert_eq!(order("order_by=created_at&sort=asc").await, recipes);
        assert_eq!(order("order_by=created_at&sort=desc").await, reversed(&recipes));
        assert_eq!(order("sort=desc").await, reversed(&recipes));
        assert_eq!(order("order_by=type").await, recipes, "one type: by id");
        assert_eq!(order("order_by=type&sort=desc").await, reversed(&recipes));
        let names = ["Zlib/1.0", "abc/10.0", "zlib/9.0", "zlib/10.0"];
        assert_eq!(order("order_by=name").await, names);
        assert_eq!(order("order_by=name&sort=desc").await, reversed(&names));
        let versions = ["Zlib/1.0", "abc/10.0", "zlib/10.0", "zlib/9.0"];
        assert_eq!(order("order_by=version").await, versions, "versions sort as strings");
        assert_eq!(order("order_by=version&sort=desc").await, reversed(&versions));
        let reply = get(&app, &format!("{}?order_by=project_path", packages_of(public)), None).await;
        assert_eq!(reply.param_error(), "order_by does not have a valid value", "a group order only");
    }

    async fn pages_carry_gitlab_headers_and_absolute_links(registry: &Registry) {
        let public = &registry.public;
        let app = registry.app().await;
        let base = format!("{EXTERNAL_URL}{}", packages_of(public));

        // An empty project: one empty page.
        let reply = get(&app, &packages_of(public), None).await;
        assert_eq!(reply.ids(), Vec::<i64>::new());
        for (name, value) in [("x-page", "1"), ("x-per-page", "20"), ("x-total", "0"), ("x-total-pages", "1"), ("x-next-page", ""), ("x-prev-page", "")] {
            assert_eq!(reply.header(name), Some(value), "{name}");
        }
        assert_eq!(
            reply.header("link").unwrap(),
            format!("<{base}?page=1&per_page=20>; rel=\"first\", <{base}?page=1&per_page=20>; rel=\"last\"")
        );

        let ids: Vec<i64> = (1..=5).map(|n| registry.upload(public, &format!("pkg{n}/1.0"), 1, 0).0).collect();
        let page = async |query: &str| get(&app, &format!("{}?{query}", packages_of(public)), None).await;
        let first = page("per_page=2&package_name=pkg&order_by=name").await;
        assert_eq!(first.ids(), ids[..2]);
        assert_eq!((first.header("x-total"), first.header("x-total-pages")), (Some("5"), Some("3")));
        assert_eq!((first.header("x-next-page"), first.header("x-prev-page")), (Some("2"), Some("")));
        let params = |page: u32| format!("{base}?order_by=name&package_name=pkg&page={page}&per_page=2");
        assert_eq!(
            first.header("link").unwrap(),
            format!("<{}>; rel=\"next\", <{}>; rel=\"first\", <{}>; rel=\"last\"", params(2), params(1), params(3)),
            "absolute, with the other parameters"
        );
        let middle = page("per_page=2&package_name=pkg&order_by=name&page=2").await;
        assert_eq!(middle.ids(), ids[2..4]);
        assert_eq!(
            middle.header("link").unwrap(),
            format!("<{}>; rel=\"prev\", <{}>; rel=\"next\", <{}>; rel=\"first\", <{}>; rel=\"last\"", params(1), params(3), params(1), params(3))
        );
        let last = page("per_page=2&package_name=pkg&order_by=name&page=3").await;
        assert_eq!(last.ids(), ids[4..]);
        assert_eq!((last.header("x-next-page"), last.header("x-prev-page")), (Some(""), Some("2")));
        assert!(!last.header("link").unwrap().contains("rel=\"next\""));

        // Past the end: an empty page with the same headers.
        let past = page("per_page=2&page=9").await;
        assert_eq!(past.ids(), Vec::<i64>::new());
        assert_eq!((past.header("x-page"), past.header("x-total"), past.header("x-total-pages")), (Some("9"), Some("5"), Some("3")));
        assert_eq!((past.header("x-next-page"), past.header("x-prev-page")), (Some(""), Some("8")));
        let far = page("page=9223372036854775807").await;
        assert_eq!(far.ids(), Vec::<i64>::new());
        assert_eq!(far.header("x-page"), Some("9223372036854775807"));

        // per_page is capped at 100 and clamped to at least 1; page below 1 is the first.
        for (query, per_page) in [("per_page=101", "100"), ("per_page=5000", "100"), ("per_page=0", "1"), ("per_page=-3", "1"), ("per_page=", "20")] {
            let reply = page(query).await;
            assert_eq!(reply.header("x-per-page"), Some(per_page), "{query}");
            assert_eq!(reply.ids().len(), 5.min(per_page.parse().unwrap()), "{query}");
        }
        for query in ["page=0", "page=-7"] {
            let reply = page(query).await;
            assert_eq!(reply.header("x-page"), Some("1"), "{query}");
            assert_eq!(reply.ids(), ids);
        }
    }

    async fn a_group_lists_the_readable_projects_under_its_path(registry: &Registry) {
        let public = registry.upload(&registry.public, "zlib/1.3", 1, 0);
        let private = registry.upload(&registry.private, "secret/1.0", 1, 0);
        let nested = registry.upload(&registry.nested, "bzip2/1.0", 1, 0);
        let app = registry.app().await;
        let group = async |query: &str, token: Option<&str>| get(&app, &format!("/api/v4/groups/{query}"), token).await;
        let maintainer = Some(registry.tokens.maintainer.as_str());

        let anonymous = group("demo/packages", None).await;
        assert_eq!(anonymous.ids(), [public.0, nested.0], "public projects, subgroups included");
        let body = anonymous.json();
        assert_eq!(body[0]["project_id"], registry.public.id.0);
        assert_eq!(body[0]["project_path"], "demo/packages");
        assert_eq!(body[1]["project_path"], "demo/sub/nested");
        assert!(body[0]["_links"].get("delete_api_path").is_none());
        assert_eq!(group("demo/packages?exclude_subgroups=true", None).await.ids(), [public.0]);
        assert_eq!(group("demo/packages?exclude_subgroups=True", None).await.ids(), [public.0]);
        assert_eq!(group("demo/packages?exclude_subgroups=false", None).await.ids(), [public.0, nested.0]);
        assert_eq!(group("demo%2Fsub/packages", None).await.ids(), [nested.0], "a URL-encoded subgroup");
        assert_eq!(group("demo/packages", Some(registry.tokens.outsider.as_str())).await.ids(), [public.0, nested.0]);

        let member = group("demo/packages", maintainer).await;
        assert_eq!(member.ids(), [public.0, private.0, nested.0]);
        let body = member.json();
        assert_eq!(body[1]["_links"]["delete_api_path"], format!("{EXTERNAL_URL}/api/v4/projects/{}/packages/{private}", registry.private.id));
        let developer = group("demo/packages", Some(registry.tokens.developer.as_str())).await.json();
        assert!(developer[1]["_links"].get("delete_api_path").is_none());

        let by_project = group("demo/packages?order_by=project_path&sort=desc", maintainer).await;
        assert_eq!(by_project.field("project_path"), ["demo/sub/nested", "demo/private", "demo/packages"]);
        assert_eq!(group("demo/packages?per_page=1&page=3", maintainer).await.ids(), [nested.0]);

        for missing in ["nope/packages", "demo%2Fpackages/packages", "de/packages", "%2F/packages"] {
            let reply = group(missing, None).await;
            assert_eq!(reply.message(StatusCode::NOT_FOUND), "404 Group Not Found", "{missing}");
        }
        // A group whose only project is private does not exist for anonymous callers.
        conan_auth::admin::create_project(&registry.db.store, "hidden/only", conan_store::Visibility::Private).unwrap();
        assert_eq!(group("hidden/packages", None).await.message(StatusCode::NOT_FOUND), "404 Group Not Found");
        // An empty but visible group is an empty list.
        let empty = group("demo/packages?package_type=npm", None).await;
        assert_eq!((empty.ids(), empty.header("x-total")), (Vec::new(), Some("0")));
    }
}
